//! Time in Homeward: instants are stored in UTC; days are counted as calendar dates in
//! Europe/London, so a delay that crosses a BST/GMT change still counts whole days. Dates
//! and times as the API and the pages send them are parsed here too.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use std::sync::{Arc, Mutex};

/// The calendar date in England of an instant.
pub fn london_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&London).date_naive()
}

/// Delay days (DOMAIN.md): the discharge (or today's) date minus the discharge ready date,
/// both as Europe/London calendar dates. Discharged on the ready date = 0.
pub fn delay_days(discharge_ready_at: DateTime<Utc>, until: DateTime<Utc>) -> i64 {
    (london_date(until) - london_date(discharge_ready_at))
        .num_days()
        .max(0)
}

/// A wall-clock time in England as an instant. In the autumn hour that happens twice the
/// earlier is taken; a time skipped in spring is moved forward an hour, as clocks do.
pub fn london_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    match London.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
        LocalResult::None => london_to_utc(local + Duration::hours(1)),
    }
}

/// Formats an instant for people, in England's time.
pub fn display_london(at: DateTime<Utc>) -> String {
    at.with_timezone(&London)
        .format("%-d %b %Y %H:%M")
        .to_string()
}

/// The last day an offer or a period ending at `end` covers, in England: an end at
/// midnight (as a date given alone means, "the end of that day") covers the day before;
/// any other end covers its own day (the new-offer page ends offers at 23:59).
pub fn last_day(end: DateTime<Utc>) -> NaiveDate {
    let local = end.with_timezone(&London);
    if local.time() == NaiveTime::MIN {
        local.date_naive() - Duration::days(1)
    } else {
        local.date_naive()
    }
}

/// Formats the end of an offer for people: an end at midnight is the end of the day
/// before ("10 Dec 2026 23:59" rather than "11 Dec 2026 00:00").
pub fn display_london_end(end: DateTime<Utc>) -> String {
    if end.with_timezone(&London).time() == NaiveTime::MIN {
        format!("{} 23:59", last_day(end).format("%-d %b %Y"))
    } else {
        display_london(end)
    }
}

/// Age in whole years on a date.
pub fn age_on(dob: NaiveDate, today: NaiveDate) -> i32 {
    use chrono::Datelike;
    let mut age = today.year() - dob.year();
    if (today.month(), today.day()) < (dob.month(), dob.day()) {
        age -= 1;
    }
    age.max(0)
}

/// A date typed as `YYYY-MM-DD`.
pub fn parse_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok()
}

/// An ISO 8601 instant from the API (`2026-11-22T09:30:00Z` or with an offset).
pub fn parse_instant(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A ready time from the API: an ISO 8601 instant, or a date `YYYY-MM-DD` (the discharge
/// ready date of the national data set), meaning 00:00 in England that day.
pub fn parse_instant_or_date(v: &str) -> Option<DateTime<Utc>> {
    parse_instant(v).or_else(|| parse_date(v).map(start_of_day))
}

/// 00:00 in England on a date, as an instant.
pub fn start_of_day(d: NaiveDate) -> DateTime<Utc> {
    london_to_utc(d.and_time(NaiveTime::MIN))
}

/// A date and an optional time typed into a page, read as England's wall clock.
pub fn parse_local(date: &str, time: &str) -> Option<DateTime<Utc>> {
    let d = parse_date(date)?;
    let t = if time.trim().is_empty() {
        NaiveTime::from_hms_opt(0, 0, 0)?
    } else {
        NaiveTime::parse_from_str(time.trim(), "%H:%M").ok()?
    };
    Some(london_to_utc(d.and_time(t)))
}

/// Where "now" comes from. The server uses the system clock; tests set a fixed one so
/// delay days and the 24-hour clock are checked on known dates.
#[derive(Clone, Default)]
pub struct Clock {
    fixed: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    pub fn system() -> Self {
        Clock { fixed: None }
    }

    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock {
            fixed: Some(Arc::new(Mutex::new(at))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.fixed {
            Some(m) => *m.lock().unwrap_or_else(|e| e.into_inner()),
            None => Utc::now(),
        }
    }

    /// Moves a fixed clock; does nothing to the system clock.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(m) = &self.fixed {
            *m.lock().unwrap_or_else(|e| e.into_inner()) = at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn same_day_is_zero_delay() {
        assert_eq!(
            delay_days(utc("2026-06-10T08:00:00Z"), utc("2026-06-10T20:00:00Z")),
            0
        );
    }

    #[test]
    fn late_evening_bst_belongs_to_the_next_utc_day_but_same_london_day() {
        // 23:30 BST on 10 June is 22:30 UTC; 00:30 BST on 11 June is 23:30 UTC on 10 June.
        let ready = utc("2026-06-10T22:30:00Z");
        let discharged = utc("2026-06-10T23:30:00Z");
        assert_eq!(london_date(ready).to_string(), "2026-06-10");
        assert_eq!(london_date(discharged).to_string(), "2026-06-11");
        assert_eq!(delay_days(ready, discharged), 1);
    }

    #[test]
    fn across_the_spring_change_days_are_calendar_days() {
        // Clocks go forward at 01:00 UTC on Sunday 29 March 2026.
        let ready = utc("2026-03-28T12:00:00Z"); // 12:00 GMT Saturday
        let discharged = utc("2026-03-29T11:30:00Z"); // 12:30 BST Sunday: 23.5 hours later
        assert_eq!(delay_days(ready, discharged), 1);
        // 23:30 BST Sunday is 22:30 UTC, still Sunday in London
        assert_eq!(delay_days(ready, utc("2026-03-29T22:30:00Z")), 1);
        assert_eq!(delay_days(ready, utc("2026-03-29T23:30:00Z")), 2);
    }

    #[test]
    fn across_the_autumn_change_days_are_calendar_days() {
        // Clocks go back at 01:00 UTC on Sunday 25 October 2026.
        let ready = utc("2026-10-24T23:30:00Z"); // 00:30 BST Sunday 25 October
        assert_eq!(london_date(ready).to_string(), "2026-10-25");
        // 23:59 GMT the same Sunday: 24.5 hours later, still 0 days
        assert_eq!(delay_days(ready, utc("2026-10-25T23:59:00Z")), 0);
        assert_eq!(delay_days(ready, utc("2026-10-26T00:00:00Z")), 1);
    }

    #[test]
    fn a_discharge_recorded_before_the_ready_time_is_not_a_negative_delay() {
        assert_eq!(
            delay_days(utc("2026-06-10T08:00:00Z"), utc("2026-06-09T08:00:00Z")),
            0
        );
    }

    #[test]
    fn london_wall_clock_conversion_handles_both_changes() {
        let t = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        // 01:30 does not exist on 29 March: treated as 02:30 BST = 01:30 UTC
        assert_eq!(london_to_utc(t), utc("2026-03-29T01:30:00Z"));
        let t = NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        // 01:30 happens twice on 25 October: the first (BST) is 00:30 UTC
        assert_eq!(london_to_utc(t), utc("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn a_fixed_clock_can_be_moved() {
        let c = Clock::fixed(utc("2026-01-01T00:00:00Z"));
        c.set(utc("2026-02-01T00:00:00Z"));
        assert_eq!(c.now(), utc("2026-02-01T00:00:00Z"));
    }

    #[test]
    fn ages_count_whole_years() {
        let dob = NaiveDate::from_ymd_opt(1941, 11, 23).unwrap();
        assert_eq!(
            age_on(dob, NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()),
            84
        );
        assert_eq!(
            age_on(dob, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()),
            85
        );
    }

    #[test]
    fn a_ready_date_is_the_start_of_that_day_in_england() {
        // BST in June: 00:00 is 23:00 UTC the day before
        assert_eq!(
            parse_instant_or_date("2026-06-10"),
            Some(utc("2026-06-09T23:00:00Z"))
        );
        assert_eq!(
            parse_instant_or_date("2026-11-20"),
            Some(utc("2026-11-20T00:00:00Z"))
        );
        assert_eq!(
            parse_instant_or_date("2026-11-20T14:00:00Z"),
            Some(utc("2026-11-20T14:00:00Z"))
        );
        assert_eq!(parse_instant_or_date("2026-02-30"), None);
        assert_eq!(parse_instant_or_date("20 Nov"), None);
    }

    #[test]
    fn local_times_from_forms_are_london_wall_clock() {
        // 10:00 in June is 09:00 UTC
        assert_eq!(
            parse_local("2026-06-01", "10:00"),
            Some(utc("2026-06-01T09:00:00Z"))
        );
        assert_eq!(
            parse_local("2026-12-01", "10:00"),
            Some(utc("2026-12-01T10:00:00Z"))
        );
        assert_eq!(parse_local("2026-02-30", "10:00"), None);
        assert_eq!(parse_local("2026-06-01", "25:00"), None);
    }

    #[test]
    fn an_end_at_midnight_is_the_end_of_the_day_before() {
        // GMT and BST
        let winter = start_of_day(NaiveDate::from_ymd_opt(2026, 12, 11).unwrap());
        assert_eq!(
            last_day(winter),
            NaiveDate::from_ymd_opt(2026, 12, 10).unwrap()
        );
        assert_eq!(display_london_end(winter), "10 Dec 2026 23:59");
        let summer = start_of_day(NaiveDate::from_ymd_opt(2027, 7, 2).unwrap());
        assert_eq!(
            last_day(summer),
            NaiveDate::from_ymd_opt(2027, 7, 1).unwrap()
        );
        let evening = london_to_utc(
            NaiveDate::from_ymd_opt(2026, 12, 10)
                .unwrap()
                .and_hms_opt(23, 59, 0)
                .unwrap(),
        );
        assert_eq!(
            last_day(evening),
            NaiveDate::from_ymd_opt(2026, 12, 10).unwrap()
        );
        assert_eq!(display_london_end(evening), "10 Dec 2026 23:59");
    }
}
