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

pub(crate) use text_column;

pub mod caller;
pub mod delay;
pub mod discharge;
pub mod history;
pub mod ids;
pub mod market;
pub mod nhs_number;
pub mod status;
pub mod time;
pub mod values;

pub use caller::{Caller, Forbidden};
pub use discharge::{CancelReason, NhsNumberStatus};
pub use history::CaseAction;
pub use ids::PatientId;
pub use market::{OfferStatus, ReferralStatus};
pub use nhs_number::NhsNumber;
pub use status::{CaseEvent, CaseStatus, Pathway, TransitionError};
pub use values::{Postcode, Role, Sex, postcode_district};
