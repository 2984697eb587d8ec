//! Use over time: one line per series, in panels stacked on one time axis, one panel per
//! unit (say, tokens by path above, credits by surface below). Series in one panel share
//! its y axis, so a panel holds only series of the same unit: no second y axis.

use plotters::prelude::{Circle, LineSeries};
use plotters::style::Color;
use serde::{Deserialize, Serialize};

use super::document::{self, clean, Meta};
use super::error::ChartError;
use super::legend::{self, Entry, Swatch};
use super::scale::ValueScale;
use super::series::{check_periods, check_values, data_values, Series};
use super::{empty, heading, plot, theme};

const KIND: &str = "use-over-time";
const DEFAULT_TITLE: &str = "Use over time";
/// The height of one panel.
const PANEL_HEIGHT: u32 = 270;
/// Periods up to which each value gets a dot (beyond, the line alone reads better).
const DOTS_UP_TO: usize = 40;

/// Use over time, by path and by surface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UseOverTime {
    /// The chart's title ("" for a generic one).
    #[serde(default)]
    pub title: String,
    /// The periods' labels, oldest first (`YYYY-MM-DD`, the period's first day).
    pub periods: Vec<String>,
    /// Panels, top to bottom.
    pub panels: Vec<Panel>,
}

/// One panel: series of one unit on one y axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// Above the panel ("By path", "ChatGPT sign-in, by surface").
    pub title: String,
    /// The y axis' description ("tokens", "credits").
    pub unit: String,
    pub series: Vec<Series>,
}

/// The chart's SVG. No periods, or no series at all, gives the "No data yet" chart; a
/// panel without series shows the message in its place.
pub fn render(data: &UseOverTime) -> Result<String, ChartError> {
    check_periods(KIND, &data.periods)?;
    for panel in &data.panels {
        for s in &panel.series {
            check_values(KIND, &s.name, &s.values, data.periods.len())?;
        }
    }
    let title = clean(if data.title.is_empty() {
        DEFAULT_TITLE
    } else {
        &data.title
    });
    let panels = data.panels.len().max(1) as u32;
    let height = theme::TITLE_BAND + panels * PANEL_HEIGHT + 8;
    if data.periods.is_empty() || data.panels.iter().all(|p| p.series.is_empty()) {
        return empty::chart(KIND, &title, height);
    }
    let meta = Meta {
        kind: KIND,
        title: &title,
        periods: &data.periods,
        size: (theme::WIDTH, height),
        extra: &[],
    };
    document::render(&meta, |root, groups| {
        heading::chart_title(root, &title, "")?;
        let (_, body) = root.split_vertically(theme::TITLE_BAND);
        let (body, _) = body.split_vertically(panels * PANEL_HEIGHT);
        let areas = body.split_evenly((data.panels.len(), 1));
        let mut color_index = 0;
        for (panel, area) in data.panels.iter().zip(&areas) {
            let (left, legend_area) = area.split_horizontally(theme::WIDTH - theme::LEGEND_WIDTH);
            let (header, plot_area) = left.split_vertically(theme::PANEL_HEADER);
            heading::panel_title(&header, 16, &panel.title)?;
            if panel.series.is_empty() {
                empty::message(&plot_area)?;
                continue;
            }
            let max = panel.series.iter().map(Series::max).fold(0.0, f64::max);
            let mut chart = plot::build(
                &plot_area,
                &plot::Axes {
                    periods: &data.periods,
                    scale: ValueScale::for_max(max, 4, false),
                    y_desc: &panel.unit,
                    x_labels: true,
                },
            )?;
            let mut entries = Vec::new();
            for s in &panel.series {
                let color = theme::series_color(color_index);
                color_index += 1;
                let values = data_values(&s.values);
                groups.open(
                    root,
                    "series",
                    &[
                        ("data-panel", &clean(&panel.title)),
                        ("data-unit", &clean(&panel.unit)),
                        ("data-series", &clean(&s.name)),
                        ("data-values", &values),
                        ("data-color", &theme::hex(color)),
                    ],
                    Some(&clean(&s.name)),
                )?;
                let points = s.values.iter().enumerate().map(|(i, v)| (i as f64, *v));
                chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
                if data.periods.len() <= DOTS_UP_TO {
                    let r = if data.periods.len() == 1 { 5 } else { 3 };
                    chart.draw_series(points.map(|p| Circle::new(p, r, color.filled())))?;
                }
                groups.close(root)?;
                entries.push(Entry {
                    name: s.name.clone(),
                    color,
                    swatch: Swatch::Line,
                });
            }
            legend::draw(&legend_area, theme::PANEL_HEADER as i32 + 4, &entries)?;
        }
        Ok(())
    })
}
