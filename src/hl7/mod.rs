//! The hospital feed: HL7 v2 ADT messages from the hospital's patient administration system
//! (through the trust's integration engine) over MLLP, so wards never retype a patient the
//! hospital's record already holds.
//!
//! - [`mllp`]: the framing and the listener (`homeward serve --hl7-addr HOST:PORT`).
//! - [`message`]: reading a message (structure by `hl7-parser`; which field means what here).
//! - [`feed`]: applying one message in one transaction with the case change, its history
//!   row and the message log row; the rules (once per control id, in order per patient,
//!   refused messages kept); replaying a day's log.
//! - [`ack`]: the answer (AA, AE with the reason, AR).
//! - [`admin`]: the administrators' page: the feed's health, refused messages and their
//!   replay, the location mapping table.
//!
//! Case changes go through `patients::commands` only; nothing here writes a case itself.

pub mod ack;
pub mod admin;
pub mod feed;
pub mod message;
pub mod mllp;
