//! Pure domain types and rules: no I/O, no database, no HTTP.
//!
//! Everything here is tested with plain unit tests (and one database test, `stored_names`,
//! which holds the stored names to the columns' CHECK constraints). Handlers and queries
//! parse user input into these types, so a value that exists is valid ("parse, don't
//! validate"). The closed value sets (statuses, roles, sex, history actions) also say how
//! they are stored: each is a `text` column holding its `as_str` name, and reading any other
//! value from the database is an error, never a default.

/// Stores a closed value set in a `text` column under its `as_str()` name and reads it back
/// with its `FromStr`, so the names live in one place (the type's `as_str`). A value the
/// type does not know is a decoding error (a 500 and a log line), never a silent default.
/// The CHECK constraints of the columns list the same names; `stored_names` below holds
/// them to it.
macro_rules! text_column {
    ($type:ty, $what:literal) => {
        impl sqlx::Type<sqlx::Postgres> for $type {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $type {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $type {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                text.parse::<$type>()
                    .map_err(|_| format!("unknown {} {text:?} in the database", $what).into())
            }
        }
    };
}

pub mod caller;
pub mod history;
pub mod ids;
pub mod market;
pub mod nhs_number;
pub mod status;
pub mod time;
pub mod values;

pub use caller::{Caller, Forbidden};
pub use history::CaseAction;
pub use ids::PatientId;
pub use market::{OfferStatus, ReferralStatus};
pub use nhs_number::NhsNumber;
pub use status::{CaseEvent, CaseStatus, Pathway, TransitionError};
pub use values::{Postcode, Role, Sex, postcode_district};

/// The one test here that needs a database: every closed value set stored in a `text`
/// column has exactly the names the column's CHECK constraint allows (migrations/).
#[cfg(test)]
mod stored_names {
    use super::{CaseStatus, ReferralStatus, Role, Sex};
    use sqlx::PgPool;

    /// The quoted names in a column's CHECK constraint, sorted.
    async fn allowed(pool: &PgPool, table: &str, column: &str) -> Vec<String> {
        let defs: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
             WHERE c.contype = 'c' AND c.conrelid = $1::regclass AND a.attname = $2 \
             AND cardinality(c.conkey) = 1",
        )
        .bind(table)
        .bind(column)
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(defs.len(), 1, "one CHECK on {table}.{column}: {defs:?}");
        let mut names: Vec<String> = defs[0]
            .split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    fn sorted(names: impl IntoIterator<Item = &'static str>) -> Vec<String> {
        let mut v: Vec<String> = names.into_iter().map(str::to_string).collect();
        v.sort();
        v
    }

    #[sqlx::test]
    async fn enums_and_check_constraints_name_the_same_values(pool: PgPool) {
        assert_eq!(
            allowed(&pool, "patients", "status").await,
            sorted(super::status::ALL_STATUSES.map(CaseStatus::as_str))
        );
        assert_eq!(
            allowed(&pool, "patients", "sex").await,
            sorted(Sex::ALL.map(Sex::as_str))
        );
        assert_eq!(
            allowed(&pool, "users", "role").await,
            sorted(Role::ALL.map(Role::as_str))
        );
        assert_eq!(
            allowed(&pool, "referrals", "status").await,
            sorted(ReferralStatus::ALL.map(ReferralStatus::as_str))
        );
    }

    #[sqlx::test]
    async fn an_unknown_stored_name_is_an_error_not_a_default(pool: PgPool) {
        let read: Result<CaseStatus, _> = sqlx::query_scalar("SELECT 'waiting'::text")
            .fetch_one(&pool)
            .await;
        assert!(read.is_err());
        let read: CaseStatus = sqlx::query_scalar("SELECT 'care_arranged'::text")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(read, CaseStatus::CareArranged);
        let written: String = sqlx::query_scalar("SELECT $1::text")
            .bind(Role::Provider)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(written, "provider");
    }
}
