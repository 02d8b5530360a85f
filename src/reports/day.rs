//! What "a day" means in every report: a calendar day in Europe/London, from its first
//! instant to its cut-off, both included. The cut-off is the last instant before the next
//! midnight, or now for today ("today so far"). Something happened on the day when its time
//! is in `[start, cutoff]`; "at the cut-off" means after everything recorded up to and
//! including the cut-off.
//!
//! Instants are microseconds (PostgreSQL's `timestamptz`), so "the last instant before
//! midnight" is midnight less one microsecond.

use crate::domain::time::start_of_day;
use chrono::{DateTime, Duration, NaiveDate, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    /// 00:00 in England.
    pub start: DateTime<Utc>,
    /// The last instant of the day, or now if the day is not over.
    pub cutoff: DateTime<Utc>,
}

impl Day {
    pub fn new(date: NaiveDate, now: DateTime<Utc>) -> Self {
        let next = start_of_day(date + Duration::days(1));
        Day {
            date,
            start: start_of_day(date),
            cutoff: (next - Duration::microseconds(1)).min(now),
        }
    }

    /// Whether `t` is on this day (so far).
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t <= self.cutoff
    }

    /// The days from `from` to `to`, both included.
    pub fn range(from: NaiveDate, to: NaiveDate, now: DateTime<Utc>) -> Vec<Day> {
        let mut out = vec![];
        let mut d = from;
        while d <= to {
            out.push(Day::new(d, now));
            d += Duration::days(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_past_day_runs_from_midnight_to_just_before_the_next() {
        let d = Day::new(
            NaiveDate::from_ymd_opt(2026, 6, 10).unwrap(),
            utc("2026-11-22T10:00:00Z"),
        );
        // BST: midnight is 23:00 UTC the day before
        assert_eq!(d.start, utc("2026-06-09T23:00:00Z"));
        assert_eq!(d.cutoff, utc("2026-06-10T22:59:59.999999Z"));
        assert!(d.contains(d.start) && d.contains(d.cutoff));
        assert!(!d.contains(utc("2026-06-10T23:00:00Z")));
    }

    #[test]
    fn today_runs_until_now_and_the_autumn_day_has_25_hours() {
        let now = utc("2026-11-22T10:00:00Z");
        let d = Day::new(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(), now);
        assert_eq!(d.cutoff, now);
        assert!(d.contains(now));
        let autumn = Day::new(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(), now);
        assert_eq!(
            autumn.cutoff - autumn.start,
            Duration::hours(25) - Duration::microseconds(1)
        );
    }
}
