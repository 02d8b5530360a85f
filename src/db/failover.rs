//! Failover (`serve --database-hosts HOST:PORT,HOST:PORT`): when the primary stops and a
//! standby is promoted, Homeward finds the new primary by itself and serves writes again.
//!
//! A watcher asks the pool's server twice a second whether it takes writes
//! (`pg_is_in_recovery()`); when it does not answer, or answers that it is a standby, the
//! watcher asks each of the listed servers in turn and points the pool at the first that
//! is a primary (`Pool::set_connect_options`). Connections opened before the switch are
//! closed when next taken from the pool ([`opened_before_switch`], checked by the pool's
//! `before_acquire` hook), so none keeps writing to a server that is no longer the primary.
//! Requests in flight when the primary stops fail (503); none is retried by Homeward, so a
//! write is never applied twice.

use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgPool};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the pool was last pointed at another server.
static SWITCHED_AT: Mutex<Option<Instant>> = Mutex::new(None);

/// How often the watcher checks the primary.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Whether a pooled connection was opened before the last switch to another server.
pub fn opened_before_switch(meta: &PoolConnectionMetadata) -> bool {
    let switched = *SWITCHED_AT.lock().unwrap_or_else(|e| e.into_inner());
    switched.is_some_and(|at| at.elapsed() < meta.age)
}

/// `HOST:PORT,HOST:PORT` as (host, port) pairs.
pub fn parse_hosts(list: &str) -> Result<Vec<(String, u16)>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let (host, port) = h.rsplit_once(':').unwrap_or((h, "5432"));
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("{h}: the port is not a number"))?;
            if host.is_empty() {
                return Err(format!("{h}: no host"));
            }
            Ok((host.to_string(), port))
        })
        .collect()
}

/// Whether the server at `options` answers and takes writes.
async fn is_primary(options: &PgConnectOptions) -> bool {
    let connect = tokio::time::timeout(Duration::from_secs(2), options.connect());
    let Ok(Ok(mut conn)) = connect.await else {
        return false;
    };
    let primary = sqlx::query_scalar::<_, bool>("SELECT NOT pg_is_in_recovery()")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(false);
    conn.close().await.ok();
    primary
}

/// Watches the pool's server and moves the pool (and the `others` made from its options) to
/// whichever of `hosts` is the primary when it stops being one. Runs until the pool is closed.
pub fn watch(pool: PgPool, others: Vec<PgPool>, hosts: Vec<(String, u16)>) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(CHECK_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            ticker.tick().await;
            let current = pool.connect_options();
            if is_primary(&current).await {
                continue;
            }
            for (host, port) in &hosts {
                let candidate = (*current).clone().host(host).port(*port);
                if is_primary(&candidate).await {
                    if (current.get_host(), current.get_port()) != (host.as_str(), *port) {
                        tracing::warn!(
                            from = %format!("{}:{}", current.get_host(), current.get_port()),
                            to = %format!("{host}:{port}"),
                            "the database primary has moved: connecting to the new primary"
                        );
                        *SWITCHED_AT.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(Instant::now());
                        for other in &others {
                            other.set_connect_options(candidate.clone());
                        }
                        pool.set_connect_options(candidate);
                    }
                    break;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_with_the_default_port() {
        assert_eq!(
            parse_hosts("db1:5432, db2:6543,db3").unwrap(),
            vec![
                ("db1".to_string(), 5432),
                ("db2".to_string(), 6543),
                ("db3".to_string(), 5432)
            ]
        );
        assert!(parse_hosts("db1:x").is_err());
    }
}
