//! Live events. Database triggers announce every committed change on the
//! `homeward_events` channel (see the migration); each server process listens with one
//! connection and fans events out to its Server-Sent Events subscribers through a tokio
//! broadcast channel. Several processes behind a load balancer share one database and need
//! no other broker. Each subscriber receives only events about what it may read. When the
//! listener loses its connection, or a slow subscriber falls behind, subscribers are told
//! to `resync` (re-read what they show). When the server shuts down every stream ends with a
//! `reconnect` event, so clients connect again (to another server process behind the load
//! balancer) instead of keeping the process alive. The HTTP endpoint (`GET /api/v1/events`) is in
//! `lib.rs`; this module needs no application state, so the state can own the fan-out.

use crate::domain::{Caller, PatientId, ReferralStatus};
use crate::scope::{CaseFacts, CaseScope, OfferScope, ReferralFacts, ReferralScope};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub const CHANNEL: &str = "homeward_events";

/// What the triggers send. Scoping fields (`trust_code`: the case's trust; `org_code`: the
/// referral's or offer's provider; `providers`: the organisations a case is referred to)
/// decide who may receive it; subscribers get only the public part.
#[derive(Debug, Clone, Deserialize)]
pub struct Change {
    #[serde(rename = "type")]
    pub kind: String,
    pub at: serde_json::Value,
    pub patient_id: Option<PatientId>,
    pub referral_id: Option<i64>,
    pub offer_id: Option<i64>,
    /// A referral's status (referral events only).
    pub status: Option<ReferralStatus>,
    pub trust_code: Option<String>,
    pub org_code: Option<String>,
    /// The case's hub (case, referral, note and task events).
    #[serde(default)]
    pub hub_code: Option<String>,
    /// The hubs an offer's provider serves (offer events).
    #[serde(default)]
    pub hubs: Vec<String>,
    #[serde(default)]
    pub providers: Vec<String>,
}

/// An event as a subscriber sees it (CONTRACT.md: `type`, `at` and the ids it concerns).
#[derive(Debug, Clone, Serialize)]
pub struct PublicEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub at: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<PatientId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ReferralStatus>,
}

impl Change {
    /// Need to know, for events, by the same rules as every read ([`crate::scope`]): a
    /// patient event goes to whoever may see the case, a referral event to whoever may see
    /// the referral, an offer event to the hub and the offer's provider.
    pub fn visible_to(&self, caller: &Caller) -> bool {
        match self.kind.split('.').next().unwrap_or_default() {
            "patient" => CaseScope::of(caller).allows(CaseFacts {
                trust_code: self.trust_code.as_deref(),
                hub_code: self.hub_code.as_deref(),
                referred_to: &self.providers,
            }),
            "referral" => ReferralScope::of(caller).allows(ReferralFacts {
                trust_code: self.trust_code.as_deref(),
                hub_code: self.hub_code.as_deref(),
                provider: self.org_code.as_deref(),
            }),
            "offer" => OfferScope::for_events(caller).allows(self.org_code.as_deref(), &self.hubs),
            "note" | "task" => CaseScope::for_casework(caller).allows(CaseFacts {
                trust_code: self.trust_code.as_deref(),
                hub_code: self.hub_code.as_deref(),
                referred_to: &[],
            }),
            _ => false,
        }
    }

    pub fn public(&self) -> PublicEvent<'_> {
        PublicEvent {
            kind: &self.kind,
            at: &self.at,
            patient_id: self.patient_id,
            referral_id: self.referral_id,
            offer_id: self.offer_id,
            status: self.status,
        }
    }
}

/// What goes down the broadcast channel.
#[derive(Debug, Clone)]
pub enum Signal {
    Change(Arc<Change>),
    /// Events may have been missed: re-read.
    Resync,
}

/// The process's fan-out point.
#[derive(Clone)]
pub struct Live {
    tx: broadcast::Sender<Signal>,
    /// Set once, when the server starts shutting down: every stream ends.
    stopping: Arc<watch::Sender<bool>>,
}

impl Live {
    /// A fan-out with no database listener (tests of the filtering, and tools).
    pub fn detached() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Live {
            tx,
            stopping: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every stream, now and from now on, with a `reconnect` event.
    pub fn shut_down(&self) {
        self.stopping.send_replace(true);
    }

    /// Starts listening to the database in the background.
    pub fn start(pool: sqlx::PgPool) -> Self {
        let live = Live::detached();
        let tx = live.tx.clone();
        tokio::spawn(async move { listen(pool, tx).await });
        live
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.tx.subscribe()
    }

    /// Subscribers connected to this process now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

async fn listen(pool: sqlx::PgPool, tx: broadcast::Sender<Signal>) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "live events: cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "live events: cannot listen; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // anything could have happened while we were not listening
        let _ = tx.send(Signal::Resync);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match serde_json::from_str::<Change>(n.payload()) {
                    Ok(change) => {
                        let _ = tx.send(Signal::Change(Arc::new(change)));
                    }
                    Err(e) => tracing::warn!(error = %e, "live events: unreadable payload"),
                },
                // the connection dropped and was re-made: events may be lost
                Ok(None) => {
                    let _ = tx.send(Signal::Resync);
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "live events: listener failed; reconnecting");
                    let _ = tx.send(Signal::Resync);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

fn change_event(c: &Change) -> Event {
    Event::default()
        .event(c.kind.as_str())
        .json_data(c.public())
        .unwrap_or_else(|_| Event::default().event("resync").data("{}"))
}

fn resync_event() -> Event {
    Event::default()
        .event("resync")
        .data(r#"{"type":"resync"}"#)
}

/// The last event of every stream when the server shuts down: connect again (the
/// `retry` field asks browsers to do so after half a second), then re-read what you show.
fn reconnect_event() -> Event {
    Event::default()
        .event("reconnect")
        .retry(Duration::from_millis(500))
        .data(r#"{"type":"reconnect","reason":"server shutting down"}"#)
}

/// Where a stream is.
enum Step {
    Ready(Event),
    Live,
    Done,
}

/// The caller's event stream: a `ready` event, then every change it may see, until the
/// client leaves or the server shuts down (a final `reconnect` event).
pub fn stream_for(
    live: &Live,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let rx = live.subscribe();
    let stopping = live.stopping.subscribe();
    let ready = Event::default().event("ready").data(r#"{"type":"ready"}"#);
    let stream = futures_util::stream::unfold(
        (rx, stopping, Step::Ready(ready)),
        move |(mut rx, mut stopping, step)| {
            let caller = caller.clone();
            async move {
                match step {
                    Step::Done => return None,
                    Step::Ready(ev) => return Some((Ok(ev), (rx, stopping, Step::Live))),
                    Step::Live => {}
                }
                loop {
                    let signal = tokio::select! {
                        biased;
                        _ = stopping.wait_for(|stop| *stop) => None,
                        signal = rx.recv() => Some(signal),
                    };
                    let Some(signal) = signal else {
                        return Some((Ok(reconnect_event()), (rx, stopping, Step::Done)));
                    };
                    match signal {
                        Ok(Signal::Change(c)) if c.visible_to(&caller) => {
                            return Some((Ok(change_event(&c)), (rx, stopping, Step::Live)));
                        }
                        Ok(Signal::Change(_)) => continue,
                        Ok(Signal::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            return Some((Ok(resync_event()), (rx, stopping, Step::Live)));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn caller(role: Role, org: &str) -> Caller {
        Caller {
            user_id: 1,
            username: "u".into(),
            display_name: "u".into(),
            role,
            org_code: org.into(),
            org_name: org.into(),
            hub_code: "HUB".into(),
            hubs: "HUB".into(),
            notices: None,
            tasks_due: None,
        }
    }

    fn change(kind: &str, trust: Option<&str>, org: Option<&str>, providers: &[&str]) -> Change {
        Change {
            kind: kind.into(),
            at: serde_json::json!("2026-11-22T10:00:00Z"),
            patient_id: Some(PatientId(1)),
            referral_id: None,
            offer_id: None,
            status: None,
            trust_code: trust.map(Into::into),
            org_code: org.map(Into::into),
            hub_code: Some("HUB".into()),
            hubs: vec!["HUB".into()],
            providers: providers.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn each_role_hears_only_what_it_may_read() {
        let patient = change("patient.updated", Some("RHW"), None, &["PRV1"]);
        assert!(patient.visible_to(&caller(Role::Hub, "HUB")));
        assert!(patient.visible_to(&caller(Role::Ward, "RHW")));
        assert!(!patient.visible_to(&caller(Role::Ward, "RXX")));
        assert!(patient.visible_to(&caller(Role::Provider, "PRV1")));
        assert!(!patient.visible_to(&caller(Role::Provider, "PRV2")));
        assert!(!patient.visible_to(&caller(Role::Admin, "HUB")));

        let referral = change("referral.created", Some("RHW"), Some("PRV2"), &[]);
        assert!(referral.visible_to(&caller(Role::Provider, "PRV2")));
        assert!(!referral.visible_to(&caller(Role::Provider, "PRV1")));
        assert!(referral.visible_to(&caller(Role::Ward, "RHW")));

        let offer = change("offer.created", None, Some("PRV1"), &[]);
        assert!(offer.visible_to(&caller(Role::Provider, "PRV1")));
        assert!(!offer.visible_to(&caller(Role::Provider, "PRV2")));
        assert!(!offer.visible_to(&caller(Role::Ward, "RHW")));
        assert!(offer.visible_to(&caller(Role::Hub, "HUB")));

        // another hub hears nothing of this one's cases, referrals or market
        let hub2 = Caller {
            hub_code: "HUB2".into(),
            hubs: "HUB2".into(),
            ..caller(Role::Hub, "HUB2")
        };
        assert!(!patient.visible_to(&hub2));
        assert!(!referral.visible_to(&hub2));
        assert!(!offer.visible_to(&hub2));
        assert!(!change("note.created", Some("RHW"), None, &[]).visible_to(&hub2));
    }

    #[test]
    fn the_public_event_carries_ids_not_scoping() {
        let c = change("patient.updated", Some("RHW"), None, &["PRV1", "PRV2"]);
        let v = serde_json::to_value(c.public()).unwrap();
        assert_eq!(v["type"], "patient.updated");
        assert_eq!(v["patient_id"], 1);
        assert!(v.get("providers").is_none() && v.get("trust_code").is_none());
    }
}
