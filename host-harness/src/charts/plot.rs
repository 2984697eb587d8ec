//! A plot over periods: periods on the x axis as categories (period `i` centred on `i`), a
//! value axis from 0, light horizontal grid lines, ticks where [`super::scale`] puts them.

use plotters::chart::{ChartBuilder, ChartContext};
use plotters::coord::cartesian::Cartesian2d;
use plotters::prelude::{Rectangle, SVGBackend};
use plotters::style::{Color, RGBColor};

use super::coords::Ticked;
use super::document::{clean, Area};
use super::error::ChartError;
use super::scale::{compact, labelled_periods, period_label, period_range, ValueScale};
use super::theme;

pub(crate) type Coords = Cartesian2d<Ticked, Ticked>;
pub(crate) type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Coords>;

/// How one plot's axes look.
pub(crate) struct Axes<'p> {
    pub periods: &'p [String],
    pub scale: ValueScale,
    /// The y axis' description (the unit), drawn rotated at its left; "" for none.
    pub y_desc: &'p str,
    /// Whether this plot labels its x axis (stacked panels label only the bottom one).
    pub x_labels: bool,
}

/// Build the plot in `area` and draw its axes and grid.
pub(crate) fn build<'a, 'b>(
    area: &'a Area<'b>,
    axes: &Axes<'_>,
) -> Result<Plot<'a, 'b>, ChartError> {
    let n = axes.periods.len();
    let (width, _) = area.dim_in_pixel();
    let plot_width = width.saturating_sub(theme::Y_LABEL_AREA + 8 + theme::PLOT_MARGIN_RIGHT);
    let x_keys: Vec<f64> = labelled_periods(n, plot_width)
        .into_iter()
        .map(|i| i as f64)
        .collect();
    let mut chart = ChartBuilder::on(area)
        .margin_top(10)
        .margin_left(8)
        .margin_bottom(if axes.x_labels { 0 } else { 10 })
        .margin_right(theme::PLOT_MARGIN_RIGHT)
        .x_label_area_size(if axes.x_labels {
            theme::X_LABEL_AREA
        } else {
            0
        })
        .y_label_area_size(theme::Y_LABEL_AREA)
        .build_cartesian_2d(
            Ticked {
                range: period_range(n),
                ticks: x_keys,
            },
            Ticked {
                range: 0.0..axes.scale.top,
                ticks: axes.scale.ticks(),
            },
        )?;
    let periods: Vec<String> = axes.periods.iter().map(|p| clean(p)).collect();
    let x_fmt = |x: &f64| period_label(&periods, *x);
    let y_fmt = |y: &f64| compact(*y);
    let y_desc = clean(axes.y_desc);
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .bold_line_style(theme::GRID.stroke_width(1))
        .light_line_style(theme::BACKGROUND.mix(0.0))
        .axis_style(theme::AXIS.stroke_width(1))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(theme::text(theme::TICK_PX, theme::MUTED_TEXT))
        .axis_desc_style(theme::text(theme::AXIS_DESC_PX, theme::MUTED_TEXT));
    if !y_desc.is_empty() {
        mesh.y_desc(y_desc.as_str());
    }
    mesh.draw()?;
    Ok(chart)
}

/// Half the width of a bar, in periods.
pub(crate) const BAR_HALF: f64 = 0.38;

/// A bar for period `i` from `bottom` to `top`.
pub(crate) fn bar(i: usize, bottom: f64, top: f64, color: RGBColor) -> Rectangle<(f64, f64)> {
    let x = i as f64;
    Rectangle::new(
        [(x - BAR_HALF, top), (x + BAR_HALF, bottom)],
        color.filled(),
    )
}
