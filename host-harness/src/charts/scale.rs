//! Axes: a "nice" value scale for the y axis, compact tick labels, and which periods the x
//! axis labels.
//!
//! The charts give plotters their tick positions explicitly (`with_key_points`), so a
//! count never gets a tick at 0.5 and a single period still gets its label.

/// A y axis from 0 to `top`, ticked every `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueScale {
    pub top: f64,
    pub step: f64,
}

impl ValueScale {
    /// A scale from 0 that holds `max`, with at most `max_intervals` intervals of a round
    /// step (1, 2, 2.5 or 5 times a power of ten). `integer` keeps the step at 1 or more
    /// (for counts). A `max` of 0 (or less, or not finite) gives the scale 0..1 (or
    /// 0..`max_intervals` for counts) so an all-zero series still sits on a drawn axis.
    pub fn for_max(max: f64, max_intervals: u32, integer: bool) -> ValueScale {
        let intervals = f64::from(max_intervals.max(1));
        let max = if max.is_finite() && max > 0.0 {
            max
        } else if integer {
            intervals
        } else {
            1.0
        };
        let raw = max / intervals;
        let magnitude = 10f64.powf(raw.log10().floor());
        let mut step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw * (1.0 - 1e-9))
            .unwrap_or(10.0 * magnitude);
        if integer {
            // Whole steps only, and no 2.5s once the step is whole.
            step = step.max(1.0).ceil();
            if step > 2.0 && step < 5.0 {
                step = 5.0 * (step / 5.0).ceil();
            }
        }
        let top = step * (max / step * (1.0 - 1e-9)).ceil().max(1.0);
        ValueScale { top, step }
    }

    /// The tick values, 0 to `top` inclusive.
    pub fn ticks(&self) -> Vec<f64> {
        let n = (self.top / self.step).round() as u32;
        (0..=n).map(|i| f64::from(i) * self.step).collect()
    }
}

/// A tick label: short and round (`0`, `250`, `2.5k`, `1.25M`, `3B`, `0.25`).
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "B")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let mut s = format!("{scaled:.2}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    // Thousands below 10k keep their digits, with a separator: 2,500.
    if suffix.is_empty() && a >= 1000.0 && !s.contains('.') {
        let digits: Vec<char> = s.trim_start_matches('-').chars().collect();
        let groups: Vec<String> = digits
            .rchunks(3)
            .rev()
            .map(|g| g.iter().collect())
            .collect();
        let out = groups.join(",");
        s = if v < 0.0 { format!("-{out}") } else { out };
    }
    s + suffix
}

/// The indices of the periods that get an x label, for `n` periods on a plot `width_px`
/// wide: every k-th one from the first, as many as fit.
pub fn labelled_periods(n: usize, width_px: u32) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let fit = (width_px / super::theme::PERIOD_LABEL_PX).max(1) as usize;
    let every = n.div_ceil(fit);
    (0..n).step_by(every.max(1)).collect()
}

/// The x range for `n` periods drawn as categories: period `i` is centred on `i`.
pub fn period_range(n: usize) -> std::ops::Range<f64> {
    -0.5..(n as f64 - 0.5)
}

/// The label for x value `x` (a period index), or "" between periods.
pub fn period_label(periods: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    periods.get(i as usize).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round_and_hold_the_max() {
        let s = ValueScale::for_max(1_234_567.0, 5, false);
        assert_eq!(
            s,
            ValueScale {
                top: 1_250_000.0,
                step: 250_000.0
            }
        );
        let s = ValueScale::for_max(7.0, 5, true);
        assert_eq!(
            s,
            ValueScale {
                top: 8.0,
                step: 2.0
            }
        );
        let s = ValueScale::for_max(3.0, 5, true);
        assert_eq!(s.step, 1.0);
        assert_eq!(s.ticks(), vec![0.0, 1.0, 2.0, 3.0]);
        let s = ValueScale::for_max(0.0, 4, false);
        assert_eq!(s.top, 1.0);
        let s = ValueScale::for_max(0.0, 4, true);
        assert_eq!(s.ticks(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        let s = ValueScale::for_max(13.0, 4, true);
        assert_eq!(
            s,
            ValueScale {
                top: 15.0,
                step: 5.0
            }
        );
        let s = ValueScale::for_max(100.0, 4, false);
        assert_eq!(
            s,
            ValueScale {
                top: 100.0,
                step: 25.0
            }
        );
        for max in [0.3, 1.0, 9.99, 42.0, 999.0, 12_345.0, 6.02e9] {
            for integer in [false, true] {
                let s = ValueScale::for_max(max, 5, integer);
                assert!(s.top >= max, "{max} {s:?}");
                assert!(s.ticks().len() <= 7, "{max} {s:?}");
            }
        }
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(250.0), "250");
        assert_eq!(compact(2500.0), "2,500");
        assert_eq!(compact(25_000.0), "25k");
        assert_eq!(compact(1_250_000.0), "1.25M");
        assert_eq!(compact(3e9), "3B");
        assert_eq!(compact(0.1 * 3.0), "0.3");
    }

    #[test]
    fn period_labels_thin_out_but_keep_the_first() {
        assert_eq!(labelled_periods(0, 500), Vec::<usize>::new());
        assert_eq!(labelled_periods(1, 500), vec![0]);
        assert_eq!(labelled_periods(4, 500), vec![0, 1, 2, 3]);
        let l = labelled_periods(90, 500);
        assert_eq!(l[0], 0);
        assert!(l.len() <= 5);
        let periods = vec!["2025-01-06".to_string(), "2025-01-13".to_string()];
        assert_eq!(period_label(&periods, 1.0), "2025-01-13");
        assert_eq!(period_label(&periods, 0.5), "");
        assert_eq!(period_label(&periods, 2.0), "");
    }
}
