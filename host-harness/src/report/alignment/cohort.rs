//! Adoption cohorts: a person's Codex-active days in a period put them in `none`, `light`,
//! `moderate` or `heavy`. The bounds depend on the period's length and are data
//! ([`CohortThresholds`]), so the page, the README and the cohorts chart's legend
//! ([`Bands`]) state the same numbers the report used:
//!
//! | period | none | light    | moderate  | heavy       |
//! |--------|------|----------|-----------|-------------|
//! | week   | 0    | 1 day    | 2–3 days  | 4 or more   |
//! | month  | 0    | 1–3 days | 4–9 days  | 10 or more  |
//!
//! Four days of a five-day working week, or ten of a month's ~21 working days, is using
//! Codex on most working days; one day a week, or up to three a month, is trying it.

use serde::{Deserialize, Serialize};

use super::period::AlignPeriod;
use crate::charts::Bands;

/// An adoption cohort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cohort {
    None,
    Light,
    Moderate,
    Heavy,
}

impl Cohort {
    /// None to heavy.
    pub const ALL: [Cohort; 4] = [Cohort::None, Cohort::Light, Cohort::Moderate, Cohort::Heavy];

    /// `none`, `light`, `moderate` or `heavy`.
    pub fn name(self) -> &'static str {
        match self {
            Cohort::None => "none",
            Cohort::Light => "light",
            Cohort::Moderate => "moderate",
            Cohort::Heavy => "heavy",
        }
    }

    /// 0 for none … 3 for heavy.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where the cohorts split, in Codex-active days per period: none is 0, light
/// `light_min..=light_max`, moderate `moderate_min..=moderate_max`, heavy `heavy_min` or
/// more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortThresholds {
    pub period: AlignPeriod,
    pub light_min: u32,
    pub light_max: u32,
    pub moderate_min: u32,
    pub moderate_max: u32,
    pub heavy_min: u32,
}

impl CohortThresholds {
    /// The bounds used for `period` (see the module's table).
    pub fn for_period(period: AlignPeriod) -> CohortThresholds {
        let (light_max, moderate_max) = match period {
            AlignPeriod::Week => (1, 3),
            AlignPeriod::Month => (3, 9),
        };
        CohortThresholds {
            period,
            light_min: 1,
            light_max,
            moderate_min: light_max + 1,
            moderate_max,
            heavy_min: moderate_max + 1,
        }
    }

    /// The cohort of someone Codex-active on `days` days of the period.
    pub fn cohort(&self, days: u32) -> Cohort {
        if days == 0 {
            Cohort::None
        } else if days <= self.light_max {
            Cohort::Light
        } else if days <= self.moderate_max {
            Cohort::Moderate
        } else {
            Cohort::Heavy
        }
    }

    /// The same bounds for the cohorts chart's legend.
    pub fn bands(&self) -> Bands {
        Bands {
            light_max: self.light_max,
            moderate_max: self.moderate_max,
        }
    }

    /// The bounds in words, for a page or a README: "Codex-active days per week: none 0,
    /// light 1, moderate 2–3, heavy 4 or more".
    pub fn describe(&self) -> String {
        let range = |lo: u32, hi: u32| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}–{hi}")
            }
        };
        format!(
            "Codex-active days per {}: none 0, light {}, moderate {}, heavy {} or more",
            self.period.name(),
            range(self.light_min, self.light_max),
            range(self.moderate_min, self.moderate_max),
            self.heavy_min
        )
    }
}
