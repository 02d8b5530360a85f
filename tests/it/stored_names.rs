//! Every closed value set stored in a `text` column has exactly the names the column's CHECK
//! constraint allows (migrations/), and an unknown stored name is an error, never a default.
use crate::common::TestDb;
use homeward::domain::{CancelReason, CaseStatus, NhsNumberStatus, ReferralStatus, Role, Sex};
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

#[tokio::test]
async fn enums_and_check_constraints_name_the_same_values() {
    let db = TestDb::bare().await;
    let pool = db.pool.clone();
    assert_eq!(
        allowed(&pool, "patients", "status").await,
        sorted(homeward::domain::status::ALL_STATUSES.map(CaseStatus::as_str))
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
    assert_eq!(
        allowed(&pool, "patients", "cancel_reason_code").await,
        sorted(CancelReason::ALL.map(CancelReason::as_str))
    );
    assert_eq!(
        allowed(&pool, "patients", "nhs_number_status").await,
        sorted(NhsNumberStatus::ALL.map(NhsNumberStatus::as_str))
    );
}

#[tokio::test]
async fn an_unknown_stored_name_is_an_error_not_a_default() {
    let db = TestDb::bare().await;
    let pool = db.pool.clone();
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
