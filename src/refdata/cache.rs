//! Reference data kept in memory: acute trusts, wards, and the active code sets (delay
//! reasons, capacity types, criteria-to-reside codes). They change a few times a year but
//! every page that offers a filter or a form needs them, so each server process reads them
//! once and again only when the database announces a change (triggers send
//! `reference.changed` on the live-event channel) or when the live listener may have missed
//! one (it reconnected, or fell behind). A page never reads these tables itself.

use super::{CapacityType, CtrReason, DelayReason};
use crate::domain::Caller;
use crate::error::AppError;
use crate::live::{Live, Signal};
use crate::scope::CaseScope;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast::error::RecvError;

/// An acute trust (cases belong to one).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrustRow {
    pub code: String,
    pub name: String,
    /// The hub the trust belongs to.
    pub hub_code: String,
}

/// A ward, with its trust.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WardRow {
    pub code: String,
    pub name: String,
    pub org_code: String,
    pub org_name: String,
    /// The hub of the ward's trust.
    pub hub_code: String,
}

/// Everything the cache holds, as read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub trusts: Vec<TrustRow>,
    pub wards: Vec<WardRow>,
    pub delay_reasons: Vec<DelayReason>,
    pub capacity_types: Vec<CapacityType>,
    pub ctr_reasons: Vec<CtrReason>,
}

impl Snapshot {
    /// Wards a caller may file cases on and filter by: a ward user's own trust's, every
    /// ward of its hub for the hub (the rule is [`CaseScope`]'s).
    pub fn wards_for(&self, caller: &Caller) -> Vec<WardRow> {
        let scope = CaseScope::of(caller);
        self.wards
            .iter()
            .filter(|w| scope.covers_trust(&w.org_code, Some(&w.hub_code)))
            .cloned()
            .collect()
    }

    /// The acute trusts of the caller's hub (reports, filters).
    pub fn trusts_of_hub(&self, hub_code: &str) -> Vec<TrustRow> {
        self.trusts
            .iter()
            .filter(|t| t.hub_code == hub_code)
            .cloned()
            .collect()
    }

    /// The hub a trust belongs to.
    pub fn hub_of_trust(&self, trust_code: &str) -> Option<&str> {
        self.trusts
            .iter()
            .find(|t| t.code == trust_code)
            .map(|t| t.hub_code.as_str())
    }

    pub fn delay_reason_label(&self, code: &str) -> Option<&str> {
        self.delay_reasons
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.label.as_str())
    }
}

async fn load(pool: &PgPool) -> Result<Snapshot, AppError> {
    let mut conn = pool.acquire().await?;
    Ok(Snapshot {
        trusts: sqlx::query_as::<_, TrustRow>(
            "SELECT code, name, COALESCE(hub_code, '') AS hub_code FROM organisations \
             WHERE kind = 'acute_trust' ORDER BY code",
        )
        .fetch_all(&mut *conn)
        .await?,
        wards: sqlx::query_as::<_, WardRow>(
            "SELECT w.code, w.name, w.org_code, o.name AS org_name, COALESCE(o.hub_code, '') AS hub_code FROM wards w \
             JOIN organisations o ON o.code = w.org_code ORDER BY w.org_code, w.code",
        )
        .fetch_all(&mut *conn)
        .await?,
        delay_reasons: super::delay_reasons(&mut *conn).await?,
        capacity_types: super::capacity_types(&mut *conn).await?,
        ctr_reasons: super::ctr_reasons(&mut *conn).await?,
    })
}

/// The process's copy. Cloning shares it.
#[derive(Clone, Default)]
pub struct ReferenceCache {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The snapshot, and the generation it was read in.
    current: RwLock<Option<(u64, Arc<Snapshot>)>>,
    /// Bumped by every announced change; a snapshot older than this is reread.
    generation: AtomicU64,
}

impl ReferenceCache {
    /// A cache that rereads whenever `live` hears of a change to reference data, or may
    /// have missed one.
    pub fn following(live: &Live) -> Self {
        let cache = ReferenceCache::default();
        let mut rx = live.subscribe();
        let inner = Arc::downgrade(&cache.inner);
        tokio::spawn(async move {
            loop {
                let stale = match rx.recv().await {
                    Ok(Signal::Change(c)) => c.kind.starts_with("reference."),
                    Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return,
                };
                let Some(inner) = inner.upgrade() else { return };
                if stale {
                    inner.generation.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        cache
    }

    /// Marks the copy out of date (tests, and after this process changes reference data).
    pub fn invalidate(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The current reference data: from memory, or read once when out of date.
    pub async fn get(&self, pool: &PgPool) -> Result<Arc<Snapshot>, AppError> {
        let wanted = self.inner.generation.load(Ordering::SeqCst);
        if let Ok(guard) = self.inner.current.read()
            && let Some((generation, snapshot)) = guard.as_ref()
            && *generation == wanted
        {
            return Ok(snapshot.clone());
        }
        let snapshot = Arc::new(load(pool).await?);
        if let Ok(mut guard) = self.inner.current.write() {
            // a change announced while we were reading leaves the generation ahead of us,
            // so the next call reads again
            *guard = Some((wanted, snapshot.clone()));
        }
        Ok(snapshot)
    }
}
