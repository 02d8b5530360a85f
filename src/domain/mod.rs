//! Pure domain types and rules: no I/O, no database, no HTTP.
//!
//! Everything here is tested with plain unit tests. Handlers and queries parse user input
//! into these types, so a value that exists is valid ("parse, don't validate").

pub mod caller;
pub mod nhs_number;
pub mod status;
pub mod time;
pub mod values;

pub use caller::{Caller, Forbidden};
pub use nhs_number::NhsNumber;
pub use status::{CaseEvent, CaseStatus, Pathway, TransitionError};
pub use values::{Postcode, Role, Sex, postcode_district};
