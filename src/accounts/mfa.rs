//! The second factor: an authenticator app's time-based codes (TOTP, RFC 6238: HMAC-SHA1,
//! 6 digits, 30-second steps, one step of clock drift either way) and ten one-time recovery
//! codes for when the phone is lost.
//!
//! A code is accepted only for a step later than the last one accepted, and the step is
//! advanced by one conditional UPDATE, so a code (or an older one) never works twice, even
//! when two requests race with it. Recovery codes are stored as SHA-256 and marked used by
//! the statement that accepts them. The QR code that carries the `otpauth://` URI to the app
//! is drawn here as SVG: nothing leaves the server. Codes are checked against the
//! application's clock, so tests can fix the time.
//!
//! Which roles must enrol is configuration ([`crate::config::Config::mfa_roles`]).

use crate::error::AppError;
use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};

/// The name authenticator apps show for the account.
pub const ISSUER: &str = "Homeward";
/// Seconds per code.
pub const STEP: i64 = 30;
/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;

/// A new shared secret: 160 random bits (RFC 4226's recommended length).
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill(&mut secret[..]);
    secret
}

fn totp(secret: &[u8], username: &str) -> Result<TOTP, AppError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP as u64,
        secret.to_vec(),
        Some(ISSUER.to_string()),
        username.to_string(),
    )
    .map_err(|e| AppError::Internal(anyhow::anyhow!("TOTP: {e:?}")))
}

/// What the enrolment page shows: the QR code and, for typing in, the same secret in base32.
pub struct Enrolment {
    pub qr_svg: String,
    pub secret_base32: String,
}

pub fn enrolment(secret: &[u8], username: &str) -> Result<Enrolment, AppError> {
    let totp = totp(secret, username)?;
    let secret_base32 = totp
        .get_secret_base32()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Enrolment {
        qr_svg: qr_svg(&totp.get_url())?,
        secret_base32,
    })
}

/// `text` as a QR code in SVG (dark modules as one path, a four-module quiet zone).
pub fn qr_svg(text: &str) -> Result<String, AppError> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("QR code: {e:?}")))?;
    let border = 4;
    let size = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="240" height="240" role="img" aria-label="QR code for your authenticator app" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

/// The 30-second step a time falls in.
pub fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP)
}

/// The step (now, or one either side) whose code `code` is, if any.
pub fn matching_step(secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "check").ok()?;
    let current = step_of(now);
    [current, current - 1, current + 1]
        .into_iter()
        .filter(|s| *s >= 0)
        .find(|s| {
            let expected = totp.generate((*s * STEP) as u64);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The code an authenticator app shows at `at` (for tests, and for nothing else).
pub fn code_at(secret: &[u8], at: DateTime<Utc>) -> Result<String, AppError> {
    Ok(totp(secret, "check")?.generate((step_of(at) * STEP) as u64))
}

/// Whether a user has an authenticator app enrolled.
pub async fn enrolled(db: impl sqlx::PgExecutor<'_>, user_id: i64) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1) AS "enrolled!""#,
        user_id
    )
    .fetch_one(db)
    .await?)
}

/// When a user enrolled, if they have.
pub async fn enrolled_at(
    db: impl sqlx::PgExecutor<'_>,
    user_id: i64,
) -> Result<Option<DateTime<Utc>>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT enrolled_at AS "enrolled_at: DateTime<Utc>" FROM user_totp WHERE user_id = $1"#,
        user_id
    )
    .fetch_optional(db)
    .await?)
}

/// Enrols `secret` for a user, given a code from the app for it (so the app is known to
/// work, and that code is spent), and returns new recovery codes to show once. `None` when
/// the code does not match; a user already enrolled gets a conflict.
pub async fn enrol(
    pool: &sqlx::PgPool,
    user_id: i64,
    secret: &[u8],
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, AppError> {
    let Some(step) = matching_step(secret, code, now) else {
        return Ok(None);
    };
    let mut tx = pool.begin().await?;
    let added = sqlx::query!(
        "INSERT INTO user_totp (user_id, secret, enrolled_at, last_used_step) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO NOTHING",
        user_id,
        secret,
        now as _,
        step,
    )
    .execute(&mut *tx)
    .await?;
    if added.rows_affected() == 0 {
        return Err(AppError::conflict(
            "already_enrolled",
            "Two-factor authentication is already set up for this account",
        ));
    }
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery_hash(c)).collect();
    sqlx::query!(
        "DELETE FROM user_recovery_codes WHERE user_id = $1",
        user_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO user_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])",
        user_id,
        &hashes as &[Vec<u8>],
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(codes))
}

/// Checks a second factor: a code from the app (for a step after the last one accepted) or
/// an unused recovery code. Whatever it accepts is spent in the same statement.
pub async fn verify(
    pool: &sqlx::PgPool,
    user_id: i64,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let Some(secret) =
            sqlx::query_scalar!("SELECT secret FROM user_totp WHERE user_id = $1", user_id)
                .fetch_optional(pool)
                .await?
        else {
            return Ok(false);
        };
        let Some(step) = matching_step(&secret, &digits, now) else {
            return Ok(false);
        };
        let advanced = sqlx::query!(
            "UPDATE user_totp SET last_used_step = $2 WHERE user_id = $1 AND last_used_step < $2",
            user_id,
            step
        )
        .execute(pool)
        .await?;
        return Ok(advanced.rows_affected() == 1);
    }
    let used = sqlx::query!(
        "UPDATE user_recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL \
         AND EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1)",
        user_id,
        recovery_hash(code),
        now as _
    )
    .execute(pool)
    .await?;
    Ok(used.rows_affected() == 1)
}

/// Removes a user's authenticator and recovery codes and ends their sessions (an
/// administrator's action, for a lost phone). They enrol again at their next sign-in.
pub async fn reset(pool: &sqlx::PgPool, user_id: i64) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("DELETE FROM user_totp WHERE user_id = $1", user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "DELETE FROM user_recovery_codes WHERE user_id = $1",
        user_id
    )
    .execute(&mut *tx)
    .await?;
    super::sessions::end_all(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Recovery codes: ten characters from an alphabet without look-alikes, shown as two groups
/// of five ("k7m2p-xq9rt"), about 50 bits each.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

fn new_recovery_code() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..10)
        .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A recovery code as typed (any case, spaces or hyphens) reduced to its characters.
fn recovery_hash(code: &str) -> Vec<u8> {
    let plain: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(plain.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// RFC 6238 appendix B, SHA-1 (8-digit codes there; ours are their last 6 digits).
    #[test]
    fn codes_follow_rfc_6238() {
        let secret = b"12345678901234567890";
        for (at, code) in [
            ("1970-01-01T00:00:59Z", "287082"),
            ("2005-03-18T01:58:29Z", "081804"),
            ("2009-02-13T23:31:30Z", "005924"),
            ("2033-05-18T03:33:20Z", "279037"),
        ] {
            assert_eq!(code_at(secret, t(at)).unwrap(), code, "{at}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let secret = new_secret();
        let now = t("2026-11-22T10:00:15Z");
        let code = code_at(&secret, now).unwrap();
        assert_eq!(matching_step(&secret, &code, now), Some(step_of(now)));
        let later = now + chrono::Duration::seconds(30);
        assert_eq!(matching_step(&secret, &code, later), Some(step_of(now)));
        let much_later = now + chrono::Duration::seconds(90);
        assert_eq!(matching_step(&secret, &code, much_later), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn recovery_codes_are_read_however_they_are_typed() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&code.to_uppercase().replace('-', " "))
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_drawing() {
        let svg = qr_svg("otpauth://totp/Homeward:hub?secret=ABC&issuer=Homeward").unwrap();
        assert!(svg.starts_with("<svg "));
        assert!(svg.contains("<path d=\"M"));
    }
}
