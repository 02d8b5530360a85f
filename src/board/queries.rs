//! The board round's reads that are not case lists: open cases by ward, the 24-hour
//! standard's compliance, and the hub's capacity panel. Each takes the [`Caller`] and counts
//! only what [`CaseScope`] lets it see (a ward user its own trust, whatever trust it asks
//! for; the hub any one trust or all; anyone else nothing). The case lists on
//! the board come from [`crate::cases::queries::list`], scoped the same way.

use crate::domain::{Caller, Role};
use crate::error::AppError;
use crate::scope::CaseScope;
use chrono::{DateTime, Duration, Utc};
use sqlx::{FromRow, PgExecutor, QueryBuilder};

/// Open cases on one ward, by status and pathway.
#[derive(Debug, Clone, Default, FromRow)]
pub struct WardRow {
    pub trust_code: String,
    pub ward_code: String,
    pub ward_name: String,
    pub planning: i64,
    pub awaiting_triage: i64,
    pub awaiting_care: i64,
    pub care_arranged: i64,
    pub ready_to_go: i64,
    pub p0: i64,
    pub p1: i64,
    pub p2: i64,
    pub p3: i64,
    pub over_24h: i64,
}

impl WardRow {
    /// The wards' counts added up (the trust and ward names left empty).
    pub fn total(wards: &[WardRow]) -> WardRow {
        let mut totals = WardRow::default();
        for w in wards {
            totals.planning += w.planning;
            totals.awaiting_triage += w.awaiting_triage;
            totals.awaiting_care += w.awaiting_care;
            totals.care_arranged += w.care_arranged;
            totals.ready_to_go += w.ready_to_go;
            totals.p0 += w.p0;
            totals.p1 += w.p1;
            totals.p2 += w.p2;
            totals.p3 += w.p3;
            totals.over_24h += w.over_24h;
        }
        totals
    }
}

/// The 24-hour standard for a span of days: pathway 1-3 discharges, and how many left
/// within 24 hours of their discharge ready time.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Compliance {
    pub discharged: i64,
    pub within_24h: i64,
}

impl Compliance {
    pub fn percent(&self) -> String {
        if self.discharged == 0 {
            "no discharges".into()
        } else {
            format!(
                "{}%",
                (self.within_24h * 100 + self.discharged / 2) / self.discharged
            )
        }
    }
}

/// Open places and offers of one capacity type, for the hub's capacity panel.
#[derive(Debug, Clone, FromRow)]
pub struct CapacityLine {
    pub label: String,
    pub pathway: i16,
    pub open_places: i64,
    pub offers: i64,
    pub stale: i64,
    pub reserved_today: i64,
}

/// The trust a caller's board covers, as the page shows it: a ward user's own trust,
/// whatever it asked for; for the hub the trust it asked for (upper-cased), or `""` for all.
pub fn trust_shown(caller: &Caller, requested: &str) -> String {
    if caller.is(Role::Hub) {
        requested.trim().to_uppercase()
    } else {
        caller.org_code.clone()
    }
}

/// The trust a hub user chose to narrow the board to (a filter, not scoping: scoping is
/// [`CaseScope`], which keeps a ward user to its own trust whatever it asks for).
fn hub_trust(caller: &Caller, requested: Option<&str>) -> Option<String> {
    requested
        .filter(|_| caller.is(Role::Hub))
        .map(|t| t.trim().to_uppercase())
        .filter(|t| !t.is_empty())
}

/// Open cases by ward, status and pathway, with how many have waited 24 hours or more
/// since their discharge ready time (at or before `day_ago`): from the case counters
/// ([`crate::cases::counts`]), so the table costs the same however many cases are open.
pub async fn ward_rows(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    trust: Option<&str>,
    day_ago: DateTime<Utc>,
) -> Result<Vec<WardRow>, AppError> {
    let line_hour = crate::cases::list::hour_of(day_ago);
    let mut q = QueryBuilder::new(
        "SELECT c.trust_code, c.ward_code, w.name AS ward_name, \
         COALESCE(sum(c.n) FILTER (WHERE c.status = 'planning'), 0)::bigint AS planning, \
         COALESCE(sum(c.n) FILTER (WHERE c.status = 'awaiting_triage'), 0)::bigint AS awaiting_triage, \
         COALESCE(sum(c.n) FILTER (WHERE c.status = 'awaiting_care'), 0)::bigint AS awaiting_care, \
         COALESCE(sum(c.n) FILTER (WHERE c.status = 'care_arranged'), 0)::bigint AS care_arranged, \
         COALESCE(sum(c.n) FILTER (WHERE c.status = 'ready_to_go'), 0)::bigint AS ready_to_go, \
         COALESCE(sum(c.n) FILTER (WHERE c.pathway = 0), 0)::bigint AS p0, \
         COALESCE(sum(c.n) FILTER (WHERE c.pathway = 1), 0)::bigint AS p1, \
         COALESCE(sum(c.n) FILTER (WHERE c.pathway = 2), 0)::bigint AS p2, \
         COALESCE(sum(c.n) FILTER (WHERE c.pathway = 3), 0)::bigint AS p3, \
         (CASE WHEN (SELECT before FROM case_counts_folded) <= ",
    );
    // waiting 24 hours or more: the hours wholly before the line, plus the cases of the
    // hour it falls in (row by row when that hour has been folded away)
    q.push_bind(line_hour)
        .push(" THEN COALESCE(sum(c.n) FILTER (WHERE c.ready_hour + interval '1 hour' <= ")
        .push_bind(day_ago)
        .push(
            "), 0) + (SELECT count(*) FROM patients p WHERE p.ward_code = c.ward_code \
               AND p.status NOT IN ('discharged','cancelled') AND p.discharge_ready_at >= ",
        )
        .push_bind(line_hour)
        .push(" AND p.discharge_ready_at <= ")
        .push_bind(day_ago)
        .push(
            ") ELSE (SELECT count(*) FROM patients p WHERE p.ward_code = c.ward_code \
               AND p.status NOT IN ('discharged','cancelled') AND p.discharge_ready_at <= ",
        )
        .push_bind(day_ago)
        .push(
            ") END)::bigint AS over_24h \
             FROM case_counts c JOIN wards w ON w.code = c.ward_code \
             WHERE c.status NOT IN ('discharged','cancelled') AND ",
        );
    if !CaseScope::of(caller).push_counts_sql(&mut q, "c") {
        return Ok(vec![]);
    }
    if let Some(t) = hub_trust(caller, trust) {
        q.push(" AND c.trust_code = ").push_bind(t);
    }
    q.push(
        " GROUP BY c.trust_code, c.ward_code, w.name HAVING sum(c.n) <> 0 \
         ORDER BY c.trust_code, c.ward_code",
    );
    Ok(q.build_query_as::<WardRow>().fetch_all(db).await?)
}

/// The 24-hour standard from `from` to `now`: pathway 1-3 patients discharged, and how many
/// of them within 24 hours of their discharge ready time.
pub async fn compliance(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    trust: Option<&str>,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Compliance, AppError> {
    let mut q = QueryBuilder::new(
        "SELECT count(*) AS discharged, \
         count(*) FILTER (WHERE p.discharged_at - p.discharge_ready_at <= interval '24 hours') AS within_24h \
         FROM patients p WHERE p.status = 'discharged' AND p.pathway BETWEEN 1 AND 3 \
         AND p.discharge_ready_at IS NOT NULL AND p.discharged_at >= ",
    );
    q.push_bind(from)
        .push(" AND p.discharged_at <= ")
        .push_bind(now)
        .push(" AND ");
    CaseScope::of(caller).push_sql(&mut q, "p");
    if let Some(t) = hub_trust(caller, trust) {
        q.push(" AND p.trust_code = ").push_bind(t);
    }
    Ok(q.build_query_as::<Compliance>().fetch_one(db).await?)
}

/// The hub's capacity panel: for each capacity type, open places and offers now, offers
/// not confirmed within `stale_after`, and places reserved since `today_start`. Hub only:
/// anyone else gets no lines.
pub async fn capacity(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    now: DateTime<Utc>,
    stale_after: Duration,
    today_start: DateTime<Utc>,
) -> Result<Vec<CapacityLine>, AppError> {
    if !caller.is(Role::Hub) {
        return Ok(vec![]);
    }
    Ok(sqlx::query_as::<_, CapacityLine>(
        "SELECT ct.label, ct.pathway, \
         COALESCE(sum(o.places_left) FILTER (WHERE o.withdrawn_at IS NULL AND o.available_until > $1), 0)::bigint AS open_places, \
         count(o.id) FILTER (WHERE o.withdrawn_at IS NULL AND o.available_until > $1 AND o.places_left > 0) AS offers, \
         count(o.id) FILTER (WHERE o.withdrawn_at IS NULL AND o.available_until > $1 AND o.places_left > 0 AND o.last_confirmed_at <= $2) AS stale, \
         (SELECT count(*) FROM referrals r JOIN capacity_offers ro ON ro.id = r.offer_id \
          WHERE ro.service_type = ct.code AND r.status = 'accepted' AND r.decided_at >= $3 \
          AND r.hub_code = $4) AS reserved_today \
         FROM capacity_types ct LEFT JOIN capacity_offers o ON o.service_type = ct.code \
            AND o.org_code IN (SELECT hp.provider_code FROM hub_providers hp WHERE hp.hub_code = $4) \
         GROUP BY ct.code, ct.label, ct.pathway, ct.sort_order ORDER BY ct.sort_order",
    )
    .bind(now)
    .bind(now - stale_after)
    .bind(today_start)
    .bind(&caller.hub_code)
    .fetch_all(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, org: &str) -> Caller {
        Caller {
            user_id: 1,
            username: "u".into(),
            display_name: "U".into(),
            role,
            org_code: org.into(),
            org_name: org.into(),
            hub_code: "HUB".into(),
            hubs: "HUB".into(),
            notices: None,
            tasks_due: None,
        }
    }

    #[test]
    fn only_the_hub_narrows_the_board_to_a_trust() {
        let ward = caller(Role::Ward, "RHW");
        assert_eq!(hub_trust(&ward, Some("RXX")), None);
        let hub = caller(Role::Hub, "HUB");
        assert_eq!(hub_trust(&hub, Some("rxx")), Some("RXX".into()));
        assert_eq!(hub_trust(&hub, Some("")), None);
        assert_eq!(hub_trust(&hub, None), None);
    }

    #[test]
    fn compliance_rounds_to_whole_percent() {
        assert_eq!(
            Compliance {
                discharged: 3,
                within_24h: 2
            }
            .percent(),
            "67%"
        );
        assert_eq!(
            Compliance {
                discharged: 0,
                within_24h: 0
            }
            .percent(),
            "no discharges"
        );
    }

    #[test]
    fn ward_totals_add_up() {
        let a = WardRow {
            planning: 1,
            p3: 2,
            over_24h: 1,
            ..WardRow::default()
        };
        let b = WardRow {
            planning: 2,
            awaiting_care: 4,
            over_24h: 3,
            ..WardRow::default()
        };
        let t = WardRow::total(&[a, b]);
        assert_eq!(
            (t.planning, t.awaiting_care, t.p3, t.over_24h),
            (3, 4, 2, 4)
        );
    }
}
