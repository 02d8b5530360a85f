//! What a reader has seen of a case: the time each hub or ward user last opened it
//! (`case_reads`), so a referral decided since is news to them: a banner on the case and a
//! marked row on their lists ([`super::list::PageRequest::news_for`]) until they open it.

use super::list::News;
use crate::domain::{Caller, PatientId};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// The referral decisions on a case the caller has not seen (after their last visit and
/// after `since`), newest first; and, when `mark` is set, this visit is remembered, in the
/// same statement. A live refresh of an open page does not mark: what arrives while the
/// page is open stays news until the reader opens the case again.
pub async fn news_on_case(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    id: PatientId,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    mark: bool,
) -> Result<Vec<News>, AppError> {
    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "WITH prev AS (SELECT seen_at FROM case_reads WHERE user_id = $1 AND patient_id = $2), \
         up AS (INSERT INTO case_reads (user_id, patient_id, seen_at) SELECT $1, $2, $3 WHERE $5 \
                ON CONFLICT (user_id, patient_id) DO UPDATE SET seen_at = EXCLUDED.seen_at) \
         SELECT r.status, org.name, r.decided_at FROM referrals r \
         JOIN organisations org ON org.code = r.org_code \
         WHERE r.patient_id = $2 AND r.decided_at IS NOT NULL \
           AND r.decided_at > GREATEST($4, COALESCE((SELECT seen_at FROM prev), '-infinity')) \
         ORDER BY r.decided_at DESC LIMIT 10",
    )
    .bind(caller.user_id)
    .bind(id)
    .bind(now)
    .bind(since)
    .bind(mark)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(status, provider, at)| News {
            status,
            provider,
            at,
        })
        .collect())
}
