//! What is new for whom: the count of new notifications a page's header shows. It is its
//! own module because two others need it without needing each other: the page extractor
//! (`accounts`) reads it with the user in one statement, and the notifications page shows
//! what it counts.

use crate::domain::{Caller, Role};
use crate::scope::ReferralScope;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

/// `(<when the caller last opened the notifications page, or -infinity>)`: one sub-select,
/// so a comparison with it narrows an index behind the hubs' wall (a COALESCE around the
/// sub-select would not: PostgreSQL cannot see COALESCE is "leakproof").
fn push_seen(q: &mut QueryBuilder<'_, Postgres>, caller: &Caller) {
    q.push("(SELECT COALESCE(max(seen_at), '-infinity') FROM notification_reads WHERE user_id = ")
        .push_bind(caller.user_id)
        .push(")");
}

/// The header counts at most this many new notifications ("99+" beyond), so reading the
/// count costs the same whether one thing or a hundred thousand is new.
pub const COUNT_CAP: i64 = 100;

/// Pushes the header's count of new notifications for the caller, as one SQL expression
/// (the page extractor reads it in the same statement as the user). What is news depends on
/// the role (module comment); which referrals the caller hears of at all is its
/// [`ReferralScope`]. Each part reads at most [`COUNT_CAP`] rows of an index.
pub fn push_count_sql(
    q: &mut QueryBuilder<'_, Postgres>,
    caller: &Caller,
    now: DateTime<Utc>,
    overdue_after: chrono::Duration,
) {
    let scope = ReferralScope::of(caller);
    let capped = |q: &mut QueryBuilder<'_, Postgres>,
                  condition: &dyn Fn(&mut QueryBuilder<'_, Postgres>)| {
        q.push("(SELECT count(*) FROM (SELECT 1 FROM referrals r WHERE ");
        condition(q);
        q.push(" AND ");
        scope.push_sql(q, "r");
        q.push(" LIMIT ").push_bind(COUNT_CAP).push(") capped)");
    };
    match caller.role {
        Role::Admin => {
            q.push("0::bigint");
        }
        Role::Provider => capped(q, &|q| {
            q.push("r.status = 'pending' AND r.created_at > ");
            push_seen(q, caller);
        }),
        Role::Hub => {
            q.push("LEAST(");
            capped(q, &|q| {
                q.push("r.decided_at > ");
                push_seen(q, caller);
            });
            q.push(" + ");
            capped(q, &|q| {
                q.push("r.status = 'pending' AND r.created_at <= ")
                    .push_bind(now - overdue_after);
            });
            q.push(", ").push_bind(COUNT_CAP).push(")");
        }
        Role::Ward => capped(q, &|q| {
            q.push("r.status = 'accepted' AND r.decided_at > ");
            push_seen(q, caller);
        }),
    }
}

/// The end of today in England (the next midnight there), as an instant.
pub fn end_of_today(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = crate::domain::time::london_date(now) + chrono::Duration::days(1);
    crate::domain::time::london_to_utc(tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// Pushes the count of the caller's open tasks due by the end of today (overdue ones
/// included), at most [`COUNT_CAP`], as one SQL expression read with the user. Hub and ward
/// users have tasks; others count 0.
pub fn push_tasks_due_sql(q: &mut QueryBuilder<'_, Postgres>, caller: &Caller, now: DateTime<Utc>) {
    if !matches!(caller.role, Role::Hub | Role::Ward) {
        q.push("0::bigint");
        return;
    }
    q.push(
        "(SELECT count(*) FROM (SELECT 1 FROM case_tasks t WHERE t.done_at IS NULL \
         AND t.assignee_id = ",
    )
    .push_bind(caller.user_id)
    .push(" AND t.due_at < ")
    .push_bind(end_of_today(now))
    .push(" LIMIT ")
    .push_bind(COUNT_CAP)
    .push(") due)");
}
