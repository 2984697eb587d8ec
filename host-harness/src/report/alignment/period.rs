//! The periods of the report: UTC weeks starting on Monday, or UTC calendar months, each
//! named by its first day (`YYYY-MM-DD`).

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// How the report is cut in time (`--period week|month`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlignPeriod {
    /// UTC weeks, Monday to Sunday.
    Week,
    /// UTC calendar months.
    Month,
}

impl AlignPeriod {
    /// The first day of the period a UTC day falls in: its Monday, or the first of its month.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            AlignPeriod::Week => {
                day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
            }
            AlignPeriod::Month => day.with_day(1).expect("every month has a first day"),
        }
    }

    /// The first day of the period after the one starting on `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            AlignPeriod::Week => start + Duration::days(7),
            AlignPeriod::Month => {
                let (y, m) = if start.month() == 12 {
                    (start.year() + 1, 1)
                } else {
                    (start.year(), start.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).expect("the first of a month is a date")
            }
        }
    }

    /// Every period from the one holding `first` to the one holding `last`, inclusive, by
    /// their first days, oldest first (empty when `last` is before `first`).
    pub fn range(self, first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let end = self.start_of(last);
        let mut p = self.start_of(first);
        while p <= end {
            out.push(p);
            p = self.next(p);
        }
        out
    }

    /// `week` or `month`.
    pub fn name(self) -> &'static str {
        match self {
            AlignPeriod::Week => "week",
            AlignPeriod::Month => "month",
        }
    }
}

/// A day as the report writes it: `YYYY-MM-DD`.
pub fn label(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}
