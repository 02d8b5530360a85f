//! Typed ids, where mixing them up is easy and costly: a case's id travels beside referral
//! and offer ids through the market's commands, so it has a type of its own.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A discharge case's id (`patients.id`): the `{id}` of `/api/v1/patients/{id}`. Over the
/// wire and in the database it is the plain integer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct PatientId(pub i64);

impl fmt::Display for PatientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
