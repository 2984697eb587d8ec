//! What can go wrong rendering a chart: data that does not fit it, or the drawing itself.

/// An error rendering a chart.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChartError {
    /// A series has not one value per period.
    #[error("{chart} chart: series {series:?} has {got} values for {expected} periods")]
    Length {
        chart: &'static str,
        series: String,
        expected: usize,
        got: usize,
    },
    /// A value is not a finite number of 0 or more (use and delivery are never negative).
    #[error("{chart} chart: series {series:?} value {index} is {value}; values must be finite and not negative")]
    BadValue {
        chart: &'static str,
        series: String,
        index: usize,
        value: f64,
    },
    /// A period label holds a comma or a control character (labels are listed comma
    /// separated in the SVG's `data-periods`).
    #[error(
        "{chart} chart: period {index} ({period:?}) must hold no comma and no control character"
    )]
    BadPeriod {
        chart: &'static str,
        index: usize,
        period: String,
    },
    /// [`super::stack()`] was given something that is not one of this module's charts.
    #[error("stacking charts: {0}")]
    Stack(String),
    /// plotters failed to draw (not expected with an in-memory SVG).
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for ChartError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> ChartError {
        ChartError::Draw(e.to_string())
    }
}
