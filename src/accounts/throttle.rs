//! Sign-in throttling, kept in PostgreSQL so every server process on the database counts
//! the same attempts (CONTRACT.md "Sign-in": 5 failures for one username within 15
//! minutes, or 20 from one client address, and the next attempt is refused with 429).
//!
//! [`reserve`] runs before any password is checked: under advisory locks on the account and
//! the client address it counts their failures in the window and, when both are under their
//! limits, writes this attempt as a failure (a [`Ticket`]); otherwise it says how long until
//! the oldest counted failure leaves the window. A sign-in that completes deletes its own
//! tickets ([`completed`]); every other outcome leaves them counted. So racing attempts
//! cannot all pass the check before any is counted, a refused attempt costs no Argon2 work,
//! and a username that does not exist is counted exactly like one that does.

use crate::config::SignInLimits;
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};

/// An attempt counted as failed until the sign-in completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ticket(i64);

/// Seconds until another attempt may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub i64);

/// The client a sign-in comes from, as the throttle counts it: an IPv4 address, an IPv6
/// address's /64 (one subscriber's block), or `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

impl ClientAddress {
    pub fn of(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    return ClientAddress(format!(
                        "{:x}:{:x}:{:x}:{:x}::/64",
                        s[0], s[1], s[2], s[3]
                    ));
                }
            },
            v4 => v4,
        };
        ClientAddress(ip.to_string())
    }
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // behind a reverse proxy: the address it put last in its header
        if let Some(name) = &state.config.client_ip_header {
            let forwarded = parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|a| a.trim().parse::<IpAddr>().ok());
            if let Some(ip) = forwarded {
                return Ok(ClientAddress::of(ip));
            }
        }
        Ok(parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| ClientAddress::of(peer.ip()))
            .unwrap_or_else(|| ClientAddress("unknown".into())))
    }
}

/// The key an account is counted under: the SHA-256 of the username as typed, trimmed and
/// in lower case (usernames are stored in lower case), whether or not it exists.
pub fn account_key(username: &str) -> Vec<u8> {
    Sha256::digest(username.trim().to_lowercase().as_bytes()).to_vec()
}

/// A 32-bit advisory lock key for a throttle key (the first class of lock below is
/// Homeward's sign-in throttle; collisions only make two keys wait for each other).
fn lock_key(kind: u8, key: &[u8]) -> i32 {
    let d = Sha256::new_with_prefix([kind]).chain_update(key).finalize();
    i32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The advisory lock class of the sign-in throttle (pg_advisory_xact_lock(int, int)).
const LOCK_CLASS: i32 = 0x5349_474e; // "SIGN"

/// Counts this attempt as a failure if the account and the client are both under their
/// limits; otherwise says when to come back.
pub async fn reserve(
    pool: &sqlx::PgPool,
    limits: &SignInLimits,
    account: &[u8],
    client: &ClientAddress,
    now: DateTime<Utc>,
) -> Result<Result<Ticket, RetryAfter>, AppError> {
    let since = now - limits.window;
    let mut tx = pool.begin().await?;
    // account first, then client, in every transaction: no two can wait on each other
    // (not query!: the macro has no Rust type for `void`)
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2), pg_advisory_xact_lock($1, $3)")
        .bind(LOCK_CLASS)
        .bind(lock_key(b'a', account))
        .bind(lock_key(b'c', client.0.as_bytes()))
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query!(
        r#"
        WITH recent AS (
            SELECT array_agg(at ORDER BY at) FILTER (WHERE account_key = $1) AS by_account,
                   array_agg(at ORDER BY at) FILTER (WHERE client_key = $2) AS by_client
            FROM sign_in_failures
            WHERE (account_key = $1 OR client_key = $2) AND at > $4
        ), added AS (
            INSERT INTO sign_in_failures (account_key, client_key, at)
            SELECT $1, $2, $3 FROM recent
            WHERE coalesce(cardinality(by_account), 0) < $5::bigint
              AND coalesce(cardinality(by_client), 0) < $6::bigint
            RETURNING id
        ), pruned AS (
            DELETE FROM sign_in_failures WHERE id IN (
                SELECT id FROM sign_in_failures WHERE at <= $4
                ORDER BY at LIMIT 100 FOR UPDATE SKIP LOCKED)
        )
        SELECT (SELECT id FROM added) AS ticket,
               by_account AS "by_account: Vec<DateTime<Utc>>",
               by_client AS "by_client: Vec<DateTime<Utc>>"
        FROM recent
        "#,
        account,
        client.0,
        now as _,
        since as _,
        limits.per_account,
        limits.per_client,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    if let Some(id) = row.ticket {
        return Ok(Ok(Ticket(id)));
    }
    let wait = [
        retry_after(
            &row.by_account.unwrap_or_default(),
            limits.per_account,
            limits,
            now,
        ),
        retry_after(
            &row.by_client.unwrap_or_default(),
            limits.per_client,
            limits,
            now,
        ),
    ]
    .into_iter()
    .max()
    .unwrap_or(1);
    Ok(Err(RetryAfter(wait.max(1))))
}

/// Seconds until fewer than `limit` of `failures` (oldest first, all within the window)
/// remain in the window; 0 when they already are fewer.
pub fn retry_after(
    failures: &[DateTime<Utc>],
    limit: i64,
    limits: &SignInLimits,
    now: DateTime<Utc>,
) -> i64 {
    let n = failures.len() as i64;
    if n < limit {
        return 0;
    }
    // once the (n - limit + 1) oldest have left the window, limit - 1 remain
    let Some(at) = failures.get((n - limit) as usize) else {
        return 0;
    };
    let ms = (*at + limits.window - now).num_milliseconds();
    (ms + 999).div_euclid(1000).max(1)
}

/// A sign-in completed: its attempts no longer count as failures.
pub async fn completed(pool: &sqlx::PgPool, tickets: &[Ticket]) -> Result<(), AppError> {
    let ids: Vec<i64> = tickets.iter().map(|t| t.0).collect();
    sqlx::query!(
        "DELETE FROM sign_in_failures WHERE id = ANY($1)",
        &ids as &[i64]
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retry_after_waits_for_the_oldest_counted_failure_to_leave_the_window() {
        let limits = SignInLimits::default();
        let now = t("2026-11-22T10:10:00Z");
        let five: Vec<_> = (0..5)
            .map(|i| t("2026-11-22T10:00:00Z") + chrono::Duration::minutes(i))
            .collect();
        // the first failure (10:00) leaves the window at 10:15: 5 minutes from now
        assert_eq!(retry_after(&five, 5, &limits, now), 300);
        assert_eq!(retry_after(&five[..4], 5, &limits, now), 0);
        // a limit lowered below the count: wait for enough of them to leave
        assert_eq!(retry_after(&five, 3, &limits, now), 420);
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_block_and_a_mapped_ipv4_as_ipv4() {
        let a = ClientAddress::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientAddress::of("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a.0, "2001:db8:1:2::/64");
        assert_eq!(
            ClientAddress::of("::ffff:203.0.113.9".parse().unwrap()).0,
            "203.0.113.9"
        );
    }
}
