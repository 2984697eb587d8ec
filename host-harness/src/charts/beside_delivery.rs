//! Use beside delivery: three panels of bars on one time axis, use on top, then commits,
//! then lines changed, each on its own y axis (their scales differ by orders of
//! magnitude), so a period's three bars line up vertically.

use serde::{Deserialize, Serialize};

use super::document::{self, clean, Meta};
use super::error::ChartError;
use super::scale::ValueScale;
use super::series::{check_periods, check_values, data_values, max_of, Series};
use super::{empty, heading, plot, theme};

const KIND: &str = "use-beside-delivery";
const DEFAULT_TITLE: &str = "Use beside delivery";
/// The height of one panel's header and plot (the bottom one also gets the x labels).
const PANEL_HEIGHT: u32 = 160;
const HEIGHT: u32 = theme::TITLE_BAND + 3 * PANEL_HEIGHT + theme::X_LABEL_AREA + 8;

/// Use and delivery per period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UseBesideDelivery {
    /// The chart's title ("" for a generic one).
    #[serde(default)]
    pub title: String,
    /// The periods' labels, oldest first (`YYYY-MM-DD`, the period's first day).
    pub periods: Vec<String>,
    /// The use measure, named as it should read ("Codex-active days", "tokens").
    #[serde(rename = "use")]
    pub usage: Series,
    pub commits: Vec<f64>,
    pub lines_changed: Vec<f64>,
}

/// The `data-series` names of the two delivery measures.
pub const COMMITS: &str = "commits";
pub const LINES_CHANGED: &str = "lines changed";

/// The chart's SVG; no periods gives the "No data yet" chart.
pub fn render(data: &UseBesideDelivery) -> Result<String, ChartError> {
    check_periods(KIND, &data.periods)?;
    let n = data.periods.len();
    check_values(KIND, &data.usage.name, &data.usage.values, n)?;
    check_values(KIND, COMMITS, &data.commits, n)?;
    check_values(KIND, LINES_CHANGED, &data.lines_changed, n)?;
    let title = clean(if data.title.is_empty() {
        DEFAULT_TITLE
    } else {
        &data.title
    });
    if n == 0 {
        return empty::chart(KIND, &title, HEIGHT);
    }
    let usage_name = if data.usage.name.is_empty() {
        "use"
    } else {
        data.usage.name.as_str()
    };
    let panels: [(&str, &str, &[f64], plotters::style::RGBColor); 3] = [
        (usage_name, "", &data.usage.values, theme::series_color(0)),
        (COMMITS, "Commits", &data.commits, theme::series_color(2)),
        (
            LINES_CHANGED,
            "Lines changed",
            &data.lines_changed,
            theme::series_color(1),
        ),
    ];
    let meta = Meta {
        kind: KIND,
        title: &title,
        periods: &data.periods,
        size: (theme::WIDTH, HEIGHT),
        extra: &[],
    };
    document::render(&meta, |root, groups| {
        heading::chart_title(root, &title, "")?;
        let (_, body) = root.split_vertically(theme::TITLE_BAND);
        let mut rest = body;
        for (k, (series, header_text, values, color)) in panels.iter().enumerate() {
            let last = k + 1 == panels.len();
            let h = PANEL_HEIGHT + if last { theme::X_LABEL_AREA } else { 0 };
            let (area, below) = rest.split_vertically(h);
            rest = below;
            let (header, plot_area) = area.split_vertically(theme::PANEL_HEADER);
            let header_text = if header_text.is_empty() {
                series
            } else {
                header_text
            };
            heading::panel_title(&header, 16, &capitalize(header_text))?;
            let whole = values.iter().all(|v| v.fract() == 0.0);
            let mut chart = plot::build(
                &plot_area,
                &plot::Axes {
                    periods: &data.periods,
                    scale: ValueScale::for_max(max_of(values), 3, whole),
                    y_desc: "",
                    x_labels: last,
                },
            )?;
            groups.open(
                root,
                "series",
                &[
                    ("data-series", &clean(series)),
                    ("data-values", &data_values(values)),
                    ("data-color", &theme::hex(*color)),
                ],
                Some(&clean(series)),
            )?;
            chart.draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(i, v)| plot::bar(i, 0.0, *v, *color)),
            )?;
            groups.close(root)?;
        }
        Ok(())
    })
}

/// "codex-active days" → "Codex-active days" (the header starts a line).
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
