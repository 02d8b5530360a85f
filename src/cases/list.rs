//! Case lists (the hub worklist, a ward's list, the board's lists, the partner API), one
//! page at a time, at a cost that depends on the page and not on the database:
//!
//! - **Keyset pages.** A page starts after (or before) the case a [`Cursor`] names, in an
//!   order an index holds (`migrations/20261201000001_*`), so PostgreSQL reads the page's
//!   rows and no others. There is no OFFSET.
//! - **Counts from counters.** The number of cases matching the filter, and how many of
//!   them have waited 24 hours or more, come from `case_counts`, which a trigger keeps in
//!   the same transaction as every change to a case, so they are exact; only the cases
//!   that became ready in the last 24 hours are counted one by one (they are few). Filters
//!   the counters cannot answer (a provider's referred cases, `updated_since`) count the
//!   matching rows instead.
//! - **The access log in the same statement.** When the caller is shown identifiable
//!   details, the statement that reads the page also writes one access-log row naming
//!   every patient on it; a page is never shown without its audit row.
//!
//! Everything is one SQL statement, always scoped to the caller by [`CaseScope`].

use super::CaseRow;
use crate::domain::{Caller, CaseStatus, Pathway, PatientId};
use crate::error::AppError;
use crate::scope::CaseScope;
use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor, Postgres, QueryBuilder, Row};

const OPEN: &str = "NOT IN ('discharged','cancelled')";

/// Filters for case lists. All optional; combined with AND.
#[derive(Debug, Default, Clone)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    /// Only open (non-terminal) cases; ignored when `status` is given.
    pub open_only: bool,
    /// Leave out cases in `planning` (patients who still meet the criteria to reside);
    /// ignored when `status` is given. The hub's worklist: inpatients the hospital feed
    /// admits stay on their ward's list until the ward flags them.
    pub waiting_only: bool,
    pub pathway: Option<Pathway>,
    pub ward_code: Option<String>,
    pub trust_code: Option<String>,
    pub delay_reason: Option<String>,
    /// Open cases with no delay reason recorded.
    pub no_delay_reason: bool,
    /// The 24-hour standard: awaiting care (pathway 1-3, nothing arranged) and ready for
    /// discharge at or before this time.
    pub escalated_before: Option<DateTime<Utc>>,
    /// Cases changed at or after this time (partners syncing).
    pub updated_since: Option<DateTime<Utc>>,
    /// Whose cases: one coordinator's ("My cases") or nobody's.
    pub assignment: Option<Assignment>,
    /// Patients found by name, NHS number, hospital number or bed ([`push_search`]).
    pub search: Option<String>,
}

/// Whose cases a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Cases this user (an id) coordinates.
    CoordinatedBy(i64),
    /// Cases with no coordinator.
    Unassigned,
}

/// The order of a list. Each has indexes that hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListOrder {
    /// Longest wait first: by discharge ready time, never-ready cases last, newest first
    /// among equals (the worklist, ward lists, the board).
    #[default]
    Wait,
    /// Most recently changed first, ties by id (the partner API, CONTRACT.md "Lists").
    Updated,
    /// By ward code, then longest wait first.
    Ward,
    /// By where the status comes in the journey (triage first), then longest wait first.
    Status,
    /// By pathway (none chosen first), then longest wait first.
    Pathway,
    /// By the coordinator's username (unassigned first), then longest wait first.
    Coordinator,
}

impl ListOrder {
    pub const ALL: [ListOrder; 6] = [
        ListOrder::Wait,
        ListOrder::Updated,
        ListOrder::Ward,
        ListOrder::Status,
        ListOrder::Pathway,
        ListOrder::Coordinator,
    ];

    /// The name in a URL (`sort=`).
    pub fn as_str(self) -> &'static str {
        match self {
            ListOrder::Wait => "wait",
            ListOrder::Updated => "updated",
            ListOrder::Ward => "ward",
            ListOrder::Status => "status",
            ListOrder::Pathway => "pathway",
            ListOrder::Coordinator => "coordinator",
        }
    }

    pub fn parse(text: &str) -> Option<ListOrder> {
        ListOrder::ALL
            .into_iter()
            .find(|o| o.as_str() == text.trim())
    }

    fn tag(self) -> char {
        match self {
            ListOrder::Wait => 'w',
            ListOrder::Updated => 'u',
            ListOrder::Ward => 'd',
            ListOrder::Status => 's',
            ListOrder::Pathway => 'p',
            ListOrder::Coordinator => 'c',
        }
    }

    /// The column this order groups by before the wait, as an SQL expression over `p`
    /// (patients, or a page of them with the same column names) that an index holds, and
    /// whether it is a number.
    fn group(self) -> Option<(&'static str, bool)> {
        match self {
            ListOrder::Wait | ListOrder::Updated => None,
            ListOrder::Ward => Some(("p.ward_code", false)),
            ListOrder::Status => Some(("case_status_rank(p.status)", true)),
            ListOrder::Pathway => Some(("case_pathway_key(p.pathway)", true)),
            ListOrder::Coordinator => Some(("case_coordinator_key(p.coordinator_username)", false)),
        }
    }
}

/// A grouping column's value in a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupKey {
    Number(i64),
    Text(String),
}

/// A position in a list: the sort key and id of a case. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    order: ListOrder,
    /// The grouping column's value (the orders other than `Wait` and `Updated`).
    group: Option<GroupKey>,
    /// The discharge ready time (`None` for a never-ready case), or the last change
    /// (`Updated`).
    key: Option<DateTime<Utc>>,
    id: PatientId,
}

impl Cursor {
    /// The cursor of a listed case; `group` is its grouping column's value as text.
    fn of(order: ListOrder, case: &CaseRow, group: Option<&str>) -> Cursor {
        Cursor {
            order,
            group: match order.group() {
                None => None,
                Some((_, true)) => group.and_then(|g| g.parse().ok()).map(GroupKey::Number),
                Some((_, false)) => group.map(|g| GroupKey::Text(g.to_string())),
            },
            key: match order {
                ListOrder::Updated => Some(case.updated_at),
                _ => case.discharge_ready_at,
            },
            id: case.id,
        }
    }

    /// The cursor as clients carry it (in a URL or a `next` field).
    pub fn encode(&self) -> String {
        let key = self
            .key
            .map(|k| k.timestamp_micros().to_string())
            .unwrap_or_else(|| "-".into());
        let group = match &self.group {
            None => String::new(),
            Some(GroupKey::Number(n)) => format!(".{n}"),
            Some(GroupKey::Text(t)) => format!(".{t}"),
        };
        crate::web::paging::hex(&format!("{}{key}.{}{group}", self.order.tag(), self.id))
    }

    /// Reads a cursor made by [`Cursor::encode`] for a list in `order`.
    pub fn decode(text: &str, order: ListOrder) -> Option<Cursor> {
        if text.len() > 400 {
            return None;
        }
        let plain = crate::web::paging::unhex(text)?;
        let mut chars = plain.chars();
        if chars.next()? != order.tag() {
            return None;
        }
        let rest = chars.as_str();
        let (key, rest) = rest.split_once('.')?;
        let (id, group) = match order.group() {
            None => (rest, None),
            Some((_, number)) => {
                let (id, g) = rest.split_once('.')?;
                let g = if number {
                    GroupKey::Number(g.parse().ok()?)
                } else if crate::web::paging::storable_text(g) {
                    GroupKey::Text(g.to_string())
                } else {
                    return None;
                };
                (id, Some(g))
            }
        };
        let key = match key {
            "-" if order != ListOrder::Updated => None,
            k => Some(crate::web::paging::storable_instant(k.parse().ok()?)?),
        };
        if order == ListOrder::Updated && key.is_none() {
            return None;
        }
        Some(Cursor {
            order,
            group,
            key,
            id: PatientId(id.parse().ok()?),
        })
    }
}

/// Which page of a list to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub order: ListOrder,
    /// Cases after this one (the next page), or
    pub after: Option<Cursor>,
    /// cases before this one (the previous page); `after` wins if both are given.
    pub before: Option<Cursor>,
    /// At most this many cases (1 to 1,000).
    pub limit: i64,
    /// Mark each case with the latest referral decision this user has not seen yet
    /// ([`ListedCase::news`]).
    pub news_for: Option<NewsFor>,
}

/// Whose news a list marks: decisions after the user last opened the case, and after `since`
/// (older news is not news).
#[derive(Debug, Clone, Copy)]
pub struct NewsFor {
    pub user_id: i64,
    pub since: DateTime<Utc>,
}

/// A referral decided since the reader last opened the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct News {
    /// `accepted` or `declined` (or `withdrawn`).
    pub status: String,
    /// The provider's name.
    pub provider: String,
    pub at: DateTime<Utc>,
}

impl News {
    /// "Accepted by Meadowbank".
    pub fn text(&self) -> String {
        let verb = match self.status.as_str() {
            "accepted" => "Accepted",
            "declined" => "Declined",
            other => return format!("Referral {other} ({})", self.provider),
        };
        format!("{verb} by {}", self.provider)
    }
}

/// A case in a list.
#[derive(Debug, Clone)]
pub struct ListedCase {
    pub case: CaseRow,
    /// Whether the caller may see who the patient is (a provider only once it accepted).
    pub identifiable: bool,
    /// The value of the list's grouping column (its cursor needs it).
    sort_group: Option<String>,
    /// The latest referral decision the reader has not seen ([`PageRequest::news_for`]).
    pub news: Option<News>,
}

/// A page of a list, with counts over the whole filtered list.
#[derive(Debug, Clone, Default)]
pub struct CaseList {
    pub cases: Vec<ListedCase>,
    /// Cases matching the filter.
    pub total: i64,
    /// Of those, open cases ready for discharge 24 hours or more ago.
    pub over_24h: i64,
    /// The next page, if there is one.
    pub next: Option<Cursor>,
    /// The previous page, if this is not the first.
    pub prev: Option<Cursor>,
}

/// The sort key of the `Wait` order (an expression the indexes hold).
///
/// The sort keys are functions the migrations define with CASE rather than COALESCE, which
/// PostgreSQL cannot see is "leakproof": behind the hubs' wall a condition on a COALESCE
/// does not narrow an index, so a later page would read through every case before it.
const WAIT_KEY: &str = "case_wait(p.discharge_ready_at)";

/// Pushes ` AND <filter>` for each filter in use, over patients `p`. The escalation
/// filter's time bound is left out when `ready_bound` is false (the counts apply it
/// themselves).
fn push_filters(q: &mut QueryBuilder<'_, Postgres>, f: &CaseFilter, ready_bound: bool) {
    if let Some(status) = f.status {
        q.push(" AND p.status = ").push_bind(status);
    } else if f.open_only {
        q.push(" AND p.status ").push(OPEN);
    }
    if f.waiting_only && f.status.is_none() {
        q.push(" AND p.status <> 'planning'");
    }
    if let Some(p) = f.pathway {
        q.push(" AND p.pathway = ").push_bind(p.number());
    }
    if let Some(w) = &f.ward_code {
        q.push(" AND p.ward_code = ").push_bind(w.clone());
    }
    if let Some(t) = &f.trust_code {
        q.push(" AND p.trust_code = ").push_bind(t.clone());
    }
    if let Some(r) = &f.delay_reason {
        q.push(" AND p.delay_reason = ").push_bind(r.clone());
    }
    if f.no_delay_reason {
        q.push(" AND p.delay_reason IS NULL AND p.discharge_ready_at IS NOT NULL");
    }
    if let Some(before) = f.escalated_before {
        q.push(" AND p.status = 'awaiting_care' AND p.discharge_ready_at IS NOT NULL");
        if ready_bound {
            q.push(" AND p.discharge_ready_at <= ").push_bind(before);
        }
    }
    if let Some(since) = f.updated_since {
        q.push(" AND p.updated_at >= ").push_bind(since);
    }
    match f.assignment {
        Some(Assignment::CoordinatedBy(user)) => {
            q.push(" AND p.coordinator_id = ").push_bind(user);
        }
        Some(Assignment::Unassigned) => {
            q.push(" AND p.coordinator_id IS NULL");
        }
        None => {}
    }
    if let Some(text) = &f.search {
        push_search(q, text);
    }
}

/// The words of a search, for `LIKE` (its wildcards taken literally). Commas separate
/// words as spaces do ("Lovelace, Ada").
fn search_words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        // a word of punctuation alone folds to nothing, and would match every name
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(8)
        .map(|w| {
            w.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        })
        .collect()
}

/// Pushes ` AND <the patient is found by text>`: every word of it in the patient's name,
/// folded as the directory's search is (case, accents, apostrophes, hyphens: `search_fold`,
/// a trigram index), or the NHS number with spaces ignored, or the hospital number, or the
/// bed.
///
/// Behind the hubs' wall PostgreSQL cannot use the indexes for these tests (LIKE, lower() and
/// upper() are not "leakproof"), so `homeward_search()` (a migration) finds the matching cases
/// of the connection's hubs first, with the indexes; the same tests then run again here on the
/// rows found.
fn push_search(q: &mut QueryBuilder<'_, Postgres>, text: &str) {
    let words = search_words(text);
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let nhs =
        (digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.clone());
    q.push(" AND p.id IN (SELECT homeward_search(")
        .push_bind(words.clone())
        .push(", ")
        .push_bind(nhs)
        .push(", ")
        .push_bind(text.trim().to_string())
        .push("))");
    q.push(" AND (");
    if words.is_empty() {
        q.push("false");
    } else {
        q.push("(");
        for (i, w) in words.into_iter().enumerate() {
            if i > 0 {
                q.push(" AND ");
            }
            q.push("p.search_name LIKE '%' || search_fold(")
                .push_bind(w)
                .push(") || '%'");
        }
        q.push(")");
    }
    if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
        q.push(" OR p.nhs_number = ").push_bind(digits);
    }
    q.push(" OR (p.bed <> '' AND lower(p.bed) = lower(")
        .push_bind(text.trim().to_string())
        .push(")) OR upper(p.local_id) = upper(")
        .push_bind(text.trim().to_string())
        .push(")");
    q.push(")");
}

/// The same filters over the counters `c` (without the escalation's time bound); `false`
/// when a filter in use cannot be said in the counters' terms.
fn push_counter_filters(q: &mut QueryBuilder<'_, Postgres>, f: &CaseFilter) -> bool {
    if f.updated_since.is_some() || f.search.is_some() {
        return false;
    }
    match f.assignment {
        Some(Assignment::CoordinatedBy(user)) => {
            q.push(" AND c.coordinator_id = ").push_bind(user);
        }
        Some(Assignment::Unassigned) => {
            q.push(" AND c.coordinator_id = -1");
        }
        None => {}
    }
    if let Some(status) = f.status {
        q.push(" AND c.status = ").push_bind(status);
    } else if f.open_only {
        q.push(" AND c.status ").push(OPEN);
    }
    if f.waiting_only && f.status.is_none() {
        q.push(" AND c.status <> 'planning'");
    }
    if let Some(p) = f.pathway {
        q.push(" AND c.pathway = ").push_bind(p.number());
    }
    if let Some(w) = &f.ward_code {
        q.push(" AND c.ward_code = ").push_bind(w.clone());
    }
    if let Some(t) = &f.trust_code {
        q.push(" AND c.trust_code = ").push_bind(t.clone());
    }
    if let Some(r) = &f.delay_reason {
        q.push(" AND c.delay_reason = ").push_bind(r.clone());
    }
    if f.no_delay_reason {
        q.push(" AND c.delay_reason = '' AND c.ready_hour IS NOT NULL");
    }
    if f.escalated_before.is_some() {
        q.push(" AND c.status = 'awaiting_care' AND c.ready_hour IS NOT NULL");
    }
    true
}

/// The start of the hour (UTC) an instant falls in: the counters' unit of readiness.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::DurationRound;
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// `FROM patients p WHERE <scope> <filters>`, for the counts counted row by row.
fn push_matching(
    q: &mut QueryBuilder<'_, Postgres>,
    scope: &CaseScope,
    f: &CaseFilter,
    ready_bound: bool,
) {
    q.push(" FROM patients p WHERE ");
    scope.push_sql(q, "p");
    push_filters(q, f, ready_bound);
    push_search_guard(q, scope, f);
}

/// A search finds only patients the caller may know by name: a provider searching for a
/// name must not learn that a case referred to it (shown without identifiers) matches.
fn push_search_guard(q: &mut QueryBuilder<'_, Postgres>, scope: &CaseScope, f: &CaseFilter) {
    if f.search.is_some() {
        q.push(" AND ");
        scope.push_identifiable_sql(q, "p");
    }
}

/// The counters that answer `f` for `scope`: the hub's counters by status and hour
/// (`case_counts_hub`, a few hundred rows however many cases are open) when nothing but the
/// status narrows a hub's list, else the counters by ward, pathway, reason and coordinator too.
fn counter_table(scope: &CaseScope, f: &CaseFilter) -> &'static str {
    let by_hub = matches!(scope, CaseScope::Hub(_))
        && f.assignment.is_none()
        && f.pathway.is_none()
        && f.ward_code.is_none()
        && f.trust_code.is_none()
        && f.delay_reason.is_none()
        && !f.no_delay_reason;
    if by_hub {
        "case_counts_hub"
    } else {
        "case_counts"
    }
}

/// Pushes `<total> AS total, <over 24 hours> AS over_24h`.
///
/// From the counters: the total is a sum; "ready at or before a line" is the sum over the
/// hours wholly before the line plus a count of the cases in the hour the line falls in.
/// Each of those falls back to counting rows when the counters cannot answer (a filter they
/// do not hold, or a line before the hours they have folded together).
fn push_counts(
    q: &mut QueryBuilder<'_, Postgres>,
    scope: &CaseScope,
    f: &CaseFilter,
    day_ago: DateTime<Utc>,
) {
    // can the counters answer? (try on a scratch builder: the predicate pushes binds)
    let mut probe = QueryBuilder::<Postgres>::new("");
    let countable = scope.push_counts_sql(&mut probe, "c") && push_counter_filters(&mut probe, f);
    let table = counter_table(scope, f);
    // over 24 hours: ready at or before the day line (and the escalation's, if tighter)
    let over_line = f.escalated_before.map_or(day_ago, |b| b.min(day_ago));
    let rows_over = |q: &mut QueryBuilder<'_, Postgres>, line: DateTime<Utc>| {
        q.push("(SELECT count(*)");
        push_matching(q, scope, f, true);
        q.push(" AND p.status ")
            .push(OPEN)
            .push(" AND p.discharge_ready_at <= ")
            .push_bind(line)
            .push(")");
    };
    if !countable {
        q.push("(SELECT count(*)");
        push_matching(q, scope, f, true);
        q.push(") AS total, ");
        rows_over(q, over_line);
        q.push(" AS over_24h");
        return;
    }
    // the counters' sum, over the hours wholly at or before `line` if one is given
    let counters = |q: &mut QueryBuilder<'_, Postgres>, line: Option<DateTime<Utc>>, open: bool| {
        q.push("(SELECT COALESCE(sum(c.n), 0) FROM ")
            .push(table)
            .push(" c WHERE ");
        scope.push_counts_sql(q, "c");
        push_counter_filters(q, f);
        if open {
            q.push(" AND c.status ").push(OPEN);
        }
        if let Some(line) = line {
            q.push(" AND c.ready_hour + interval '1 hour' <= ")
                .push_bind(line);
        }
        q.push(")");
    };
    // the cases of the filter (without the escalation's bound) ready in the hour the line
    // falls in, at or before it
    let line_hour = |q: &mut QueryBuilder<'_, Postgres>, line: DateTime<Utc>, open: bool| {
        q.push("(SELECT count(*)");
        push_matching(q, scope, f, false);
        if open {
            q.push(" AND p.status ").push(OPEN);
        }
        q.push(" AND p.discharge_ready_at >= ")
            .push_bind(hour_of(line))
            .push(" AND p.discharge_ready_at <= ")
            .push_bind(line)
            .push(")");
    };
    // from the counters while the line is not before the folded hours, else row by row
    let guarded = |q: &mut QueryBuilder<'_, Postgres>,
                   line: DateTime<Utc>,
                   open: bool,
                   rows: &dyn Fn(&mut QueryBuilder<'_, Postgres>)| {
        q.push("CASE WHEN (SELECT before FROM case_counts_folded) <= ")
            .push_bind(hour_of(line))
            .push(" THEN ");
        counters(q, Some(line), open);
        q.push(" + ");
        line_hour(q, line, open);
        q.push(" ELSE ");
        rows(q);
        q.push(" END");
    };
    let Some(line) = f.escalated_before else {
        // the usual case: one pass over the counters gives both the total and the open
        // cases ready in the hours wholly before the day line
        q.push("sums.total, (CASE WHEN (SELECT before FROM case_counts_folded) <= ")
            .push_bind(hour_of(over_line))
            .push(" THEN sums.over_hours + ");
        line_hour(q, over_line, true);
        q.push(" ELSE ");
        rows_over(q, over_line);
        q.push(
            " END)::bigint AS over_24h FROM (SELECT COALESCE(sum(c.n), 0)::bigint AS total, \
             COALESCE(sum(c.n) FILTER (WHERE c.status ",
        )
        .push(OPEN)
        .push(" AND c.ready_hour + interval '1 hour' <= ")
        .push_bind(over_line)
        .push("), 0) AS over_hours FROM ")
        .push(table)
        .push(" c WHERE ");
        scope.push_counts_sql(q, "c");
        push_counter_filters(q, f);
        q.push(") sums");
        return;
    };
    q.push("(");
    guarded(q, line, false, &|q| {
        q.push("(SELECT count(*)");
        push_matching(q, scope, f, true);
        q.push(")");
    });
    q.push(")::bigint AS total, (");
    guarded(q, over_line, true, &|q| rows_over(q, over_line));
    q.push(")::bigint AS over_24h");
}

/// Pushes `(wait key, -id)` beyond the cursor's, written so an index range applies.
fn push_after_wait(q: &mut QueryBuilder<'_, Postgres>, c: &Cursor, backwards: bool) {
    let (cmp, strict, id_cmp) = if backwards {
        ("<=", "<", ">")
    } else {
        (">=", ">", "<")
    };
    q.push(format!("{WAIT_KEY} {cmp} case_wait("))
        .push_bind(c.key)
        .push(format!(
            "::timestamptz) AND ({WAIT_KEY} {strict} case_wait("
        ))
        .push_bind(c.key)
        .push(format!("::timestamptz) OR p.id {id_cmp} "))
        .push_bind(c.id)
        .push(")");
}

fn push_group_value(q: &mut QueryBuilder<'_, Postgres>, g: &GroupKey) {
    match g {
        GroupKey::Number(n) => q.push_bind(*n),
        GroupKey::Text(t) => q.push_bind(t.clone()),
    };
}

/// Pushes the keyset condition and returns the ORDER BY for reading in the wanted
/// direction (`backwards` reads the previous page, newest-last, to be reversed). The ORDER
/// BY names only columns of `patients`, which a page of the list also has.
fn push_keyset(
    q: &mut QueryBuilder<'_, Postgres>,
    order: ListOrder,
    from: Option<&Cursor>,
    backwards: bool,
) -> String {
    if let Some((group, _)) = order.group() {
        if let Some(c) = from
            && let Some(g) = &c.group
        {
            // (group, wait, -id) beyond the cursor's: the group's range first, for the index
            let (cmp, strict) = if backwards { ("<=", "<") } else { (">=", ">") };
            q.push(format!(" AND {group} {cmp} "));
            push_group_value(q, g);
            q.push(format!(" AND ({group} {strict} "));
            push_group_value(q, g);
            q.push(format!(" OR ({group} = "));
            push_group_value(q, g);
            q.push(" AND ");
            push_after_wait(q, c, backwards);
            q.push("))");
        }
        return if backwards {
            format!(" ORDER BY {group} DESC, {WAIT_KEY} DESC, p.id ASC")
        } else {
            format!(" ORDER BY {group} ASC, {WAIT_KEY} ASC, p.id DESC")
        };
    }
    match order {
        ListOrder::Updated => {
            if let Some(c) = from {
                let cmp = if backwards { ">" } else { "<" };
                q.push(format!(" AND (p.updated_at, p.id) {cmp} ("))
                    .push_bind(c.key)
                    .push(", ")
                    .push_bind(c.id)
                    .push(")");
            }
            if backwards {
                " ORDER BY p.updated_at ASC, p.id ASC".into()
            } else {
                " ORDER BY p.updated_at DESC, p.id DESC".into()
            }
        }
        _ => {
            if let Some(c) = from {
                q.push(" AND ");
                push_after_wait(q, c, backwards);
            }
            if backwards {
                format!(" ORDER BY {WAIT_KEY} DESC, p.id ASC")
            } else {
                format!(" ORDER BY {WAIT_KEY} ASC, p.id DESC")
            }
        }
    }
}

/// What the access log says was seen, when a list shows identifiable details.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub what: &'a str,
}

/// A page of the cases the caller may see, in one statement: the page's rows, the counts
/// over the whole filtered list, and (when `seen` is given) the access-log row naming the
/// patients whose identifiers the page shows.
pub async fn list(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    filter: &CaseFilter,
    page: PageRequest,
    now: DateTime<Utc>,
    seen: Option<Seen<'_>>,
) -> Result<CaseList, AppError> {
    let scope = CaseScope::of(caller);
    let limit = page.limit.clamp(1, 1000);
    let (from, backwards) = match (&page.after, &page.before) {
        (Some(a), _) => (Some(a), false),
        (None, Some(b)) => (Some(b), true),
        (None, None) => (None, false),
    };

    let mut q = QueryBuilder::<Postgres>::new("WITH page AS (SELECT p.*, ");
    scope.push_identifiable_sql(&mut q, "p");
    q.push(" AS identifiable FROM patients p WHERE ");
    scope.push_sql(&mut q, "p");
    push_filters(&mut q, filter, true);
    push_search_guard(&mut q, &scope, filter);
    if matches!(page.order, ListOrder::Status) && filter.waiting_only && filter.status.is_none() {
        // planning comes first in the status order and is on no waiting list: the index
        // range starts after it rather than reading past every case in planning
        q.push(" AND case_status_rank(p.status) >= 1");
    }
    let order_by = push_keyset(&mut q, page.order, from, backwards);
    q.push(&order_by)
        .push(" LIMIT ")
        // a literal, not a parameter: a plan PostgreSQL keeps for the statement then knows
        // the page is small and reads it from an index (`limit` is our own number)
        .push((limit + 1).to_string())
        .push("), counts AS (SELECT ");
    push_counts(&mut q, &scope, filter, now - Duration::hours(24));
    q.push(")");
    if let Some(seen) = seen {
        // the rows shown (not the one read to know there is a next page) whose
        // identifiers the caller sees
        q.push(
            ", logged AS (INSERT INTO access_log (at, user_id, username, role, org_code, patient_ids, what) \
             SELECT ",
        )
        .push_bind(now)
        .push(", ")
        .push_bind(caller.user_id)
        .push(", ")
        .push_bind(caller.username.clone())
        .push(", ")
        .push_bind(caller.role)
        .push(", ")
        .push_bind(caller.org_code.clone())
        .push(", s.ids, ")
        .push_bind(seen.what.to_string())
        .push(
            " FROM (SELECT array_agg(shown.id) AS ids FROM \
             (SELECT p.id, p.identifiable FROM page p",
        )
        .push(&order_by)
        .push(" LIMIT ")
        .push(limit.to_string())
        .push(") shown WHERE shown.identifiable) s WHERE s.ids IS NOT NULL)");
    }
    if let Some(news) = page.news_for {
        // the latest decision on each case shown after the reader last opened it: the latest
        // decision since `news.since` on the page's cases (one index scan over the page's ids),
        // kept if it is newer than the reader's last look at the case (of two decisions at the
        // same moment, an acceptance is the news)
        q.push(
            ", news AS MATERIALIZED (SELECT n.patient_id, n.status, org.name AS provider, n.decided_at AS at \
             FROM (SELECT DISTINCT ON (r.patient_id) r.patient_id, r.status, r.org_code, r.decided_at \
             FROM referrals r WHERE r.patient_id = ANY (ARRAY(SELECT page.id FROM page)) AND r.decided_at > ",
        )
        .push_bind(news.since)
        .push(
            " ORDER BY r.patient_id, r.decided_at DESC, r.status = 'accepted' DESC, r.id DESC) n \
             JOIN organisations org ON org.code = n.org_code \
             WHERE n.decided_at > COALESCE((SELECT cr.seen_at FROM case_reads cr \
             WHERE cr.user_id = ",
        )
        .push_bind(news.user_id)
        .push(" AND cr.patient_id = n.patient_id), '-infinity'))");
    }
    let group = page.order.group().map_or("NULL", |(g, _)| g);
    q.push(" SELECT counts.total, counts.over_24h, p.identifiable, (")
        .push(group)
        .push(")::text AS sort_group, ");
    if page.news_for.is_some() {
        q.push("news.status AS news_status, news.provider AS news_provider, news.at AS news_at, ");
    } else {
        q.push("NULL::text AS news_status, NULL::text AS news_provider, NULL::timestamptz AS news_at, ");
    }
    // the page's rows carry every column of `patients`: no second read of the cases
    q.push(super::queries::CASE_COLUMNS)
        .push(" FROM page p")
        .push(super::queries::CASE_JOINS);
    if page.news_for.is_some() {
        q.push(" LEFT JOIN news ON news.patient_id = p.id");
    }
    q.push(" RIGHT JOIN counts ON true").push(&order_by);
    let rows: Vec<PgRow> = q.build().fetch_all(db).await?;

    let mut list = CaseList::default();
    for row in &rows {
        list.total = row.try_get("total")?;
        list.over_24h = row.try_get("over_24h")?;
        if row.try_get::<Option<PatientId>, _>("id")?.is_some() {
            list.cases.push(ListedCase {
                case: CaseRow::from_row(row)?,
                identifiable: row.try_get("identifiable")?,
                sort_group: row.try_get("sort_group")?,
                news: match (
                    row.try_get::<Option<String>, _>("news_status")?,
                    row.try_get::<Option<String>, _>("news_provider")?,
                    row.try_get::<Option<DateTime<Utc>>, _>("news_at")?,
                ) {
                    (Some(status), Some(provider), Some(at)) => Some(News {
                        status,
                        provider,
                        at,
                    }),
                    _ => None,
                },
            });
        }
    }
    let more = list.cases.len() as i64 > limit;
    list.cases.truncate(limit as usize);
    if backwards {
        list.cases.reverse();
    }
    let cursor = |c: &ListedCase| Cursor::of(page.order, &c.case, c.sort_group.as_deref());
    let first = list.cases.first().map(cursor);
    let last = list.cases.last().map(cursor);
    // forwards: a next page if we read more than we show, a previous one if we started
    // after a cursor; backwards the other way round
    (list.next, list.prev) = if backwards {
        (last, if more { first } else { None })
    } else {
        (if more { last } else { None }, from.and(first))
    };
    Ok(list)
}
