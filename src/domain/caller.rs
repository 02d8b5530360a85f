//! Who is calling, as every rule that depends on it needs to know: the user, their role and
//! their organisation. The `accounts` module builds a [`Caller`] from a session or a token;
//! nothing here reads a database.

use super::Role;

/// The signed-in user, as every scoped query and every permission check needs it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub org_code: String,
    pub org_name: String,
    /// The hub the caller's organisation belongs to (a provider: its home hub). Every hub,
    /// ward and admin rule is kept inside it (src/scope.rs).
    pub hub_code: String,
    /// The hubs whose rows the caller's connections may see (the row-level wall, see
    /// src/tenancy.rs): its own hub, or for a provider every hub it serves, comma-separated.
    pub hubs: String,
    /// Pages only: the header's count of new notifications, read in the same statement as
    /// the user (`None` where nobody asked, as for API callers). Capped, so reading it costs
    /// the same however much is new.
    pub notices: Option<i64>,
    /// The caller's open tasks due by the end of today (England), for the header; read
    /// with the user like `notices`, capped the same way.
    pub tasks_due: Option<i64>,
}

/// The caller's role may not do this (a 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("You do not have permission to do this")]
pub struct Forbidden;

impl Caller {
    /// Refused unless the caller has one of the roles.
    pub fn require(&self, roles: &[Role]) -> Result<(), Forbidden> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Forbidden)
        }
    }

    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }
}
