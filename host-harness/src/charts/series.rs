//! A named series of values, one per period, and the checks every chart makes of its input.

use serde::{Deserialize, Serialize};

use super::error::ChartError;

/// A named series: one value per period, in the periods' order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Shown in the legend (or the panel's header) and written to `data-series`.
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Series {
        Series {
            name: name.into(),
            values,
        }
    }

    /// The largest value (0 for none).
    pub fn max(&self) -> f64 {
        max_of(&self.values)
    }
}

/// The largest of `values` (0 for none).
pub(crate) fn max_of(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

/// Periods are labels: no comma (they are listed comma separated), no control character.
pub(crate) fn check_periods(chart: &'static str, periods: &[String]) -> Result<(), ChartError> {
    for (index, p) in periods.iter().enumerate() {
        if p.contains(',') || p.chars().any(char::is_control) {
            return Err(ChartError::BadPeriod {
                chart,
                index,
                period: p.clone(),
            });
        }
    }
    Ok(())
}

/// One value per period, each finite and not negative.
pub(crate) fn check_values(
    chart: &'static str,
    series: &str,
    values: &[f64],
    periods: usize,
) -> Result<(), ChartError> {
    if values.len() != periods {
        return Err(ChartError::Length {
            chart,
            series: series.to_string(),
            expected: periods,
            got: values.len(),
        });
    }
    if let Some((index, &value)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || **v < 0.0)
    {
        return Err(ChartError::BadValue {
            chart,
            series: series.to_string(),
            index,
            value,
        });
    }
    Ok(())
}

/// Values as written to `data-values`: comma separated, each in Rust's shortest form that
/// reads back as the same `f64` (`3`, `0.25`, `1234567`).
pub(crate) fn data_values(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v}"))
        .collect::<Vec<_>>()
        .join(",")
}
