//! A linear f64 axis whose ticks are given, not computed: [`super::scale`] decides them
//! (whole periods on x, round values on y), and plotters draws exactly those.
//!
//! (plotters' own `with_key_points` does the same but leaves f64 axes without a label
//! formatter that its mesh accepts; this type formats by the mesh's formatter closures.)

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// `range`, mapped linearly, with bold ticks at `ticks` and no light ones.
#[derive(Debug, Clone)]
pub(crate) struct Ticked {
    pub range: Range<f64>,
    pub ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range.clone()).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}
