//! Adoption cohorts over time: per period, a bar of the people in it, stacked by cohort
//! (heavy on the baseline, then moderate, light, and none on top), each segment labelled
//! with its count where it has room.

use plotters::prelude::Text;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use super::document::{self, clean, Meta};
use super::error::ChartError;
use super::legend::{self, Entry, Swatch};
use super::scale::ValueScale;
use super::series::{check_periods, check_values, data_values};
use super::{empty, heading, plot, theme};

const KIND: &str = "cohorts";
const DEFAULT_TITLE: &str = "Adoption cohorts";
const HEIGHT: u32 = 400;
/// A segment gets its count written in it from this many pixels high and wide.
const LABEL_MIN_HEIGHT: i32 = 16;
const LABEL_MIN_WIDTH: i32 = 22;

/// People per cohort per period: by how many days in the period each was active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cohorts {
    /// The chart's title ("" for a generic one).
    #[serde(default)]
    pub title: String,
    /// The periods' labels, oldest first (`YYYY-MM-DD`, the period's first day).
    pub periods: Vec<String>,
    pub none: Vec<u32>,
    pub light: Vec<u32>,
    pub moderate: Vec<u32>,
    pub heavy: Vec<u32>,
    /// Where the cohorts split, for the legend ("Light (1–3 days)"); none leaves the
    /// legend at the cohorts' names.
    #[serde(default)]
    pub bands: Option<Bands>,
}

/// Cohort bounds in active days: none is 0, light 1..=`light_max`, moderate
/// `light_max`+1..=`moderate_max`, heavy more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bands {
    pub light_max: u32,
    pub moderate_max: u32,
}

/// The cohorts' names as written to `data-series`, none to heavy.
pub const COHORTS: [&str; 4] = ["none", "light", "moderate", "heavy"];

impl Cohorts {
    /// The counts per cohort, none to heavy.
    fn columns(&self) -> [&Vec<u32>; 4] {
        [&self.none, &self.light, &self.moderate, &self.heavy]
    }
}

/// The legend's text for cohort `c` (0 none … 3 heavy).
fn legend_name(c: usize, bands: Option<Bands>) -> String {
    let name = ["None", "Light", "Moderate", "Heavy"][c];
    let Some(b) = bands else {
        return name.to_string();
    };
    let days = |lo: u32, hi: u32| match (lo, hi) {
        (lo, hi) if lo == hi => format!("{lo} day{}", if lo == 1 { "" } else { "s" }),
        (lo, hi) => format!("{lo}–{hi} days"),
    };
    let range = match c {
        0 => "0 days".to_string(),
        1 => days(1, b.light_max.max(1)),
        2 => days(b.light_max + 1, b.moderate_max.max(b.light_max + 1)),
        _ => format!("{}+ days", b.moderate_max.max(b.light_max + 1) + 1),
    };
    format!("{name} ({range})")
}

/// The chart's SVG; no periods gives the "No data yet" chart.
pub fn render(data: &Cohorts) -> Result<String, ChartError> {
    check_periods(KIND, &data.periods)?;
    let n = data.periods.len();
    let columns: Vec<Vec<f64>> = data
        .columns()
        .iter()
        .map(|c| c.iter().map(|v| f64::from(*v)).collect())
        .collect();
    for (name, values) in COHORTS.iter().zip(&columns) {
        check_values(KIND, name, values, n)?;
    }
    let title = clean(if data.title.is_empty() {
        DEFAULT_TITLE
    } else {
        &data.title
    });
    if n == 0 {
        return empty::chart(KIND, &title, HEIGHT);
    }
    let totals: Vec<f64> = (0..n).map(|i| columns.iter().map(|c| c[i]).sum()).collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
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
        let (left, legend_area) = body.split_horizontally(theme::WIDTH - theme::LEGEND_WIDTH);
        let (header, plot_area) = left.split_vertically(theme::PANEL_HEADER);
        heading::panel_title(
            &header,
            16,
            "People per cohort, by active days in the period",
        )?;
        let mut chart = plot::build(
            &plot_area,
            &plot::Axes {
                periods: &data.periods,
                scale: ValueScale::for_max(max, 5, true),
                y_desc: "people",
                x_labels: true,
            },
        )?;
        // Stacked from the baseline: heavy, moderate, light, none.
        let mut base = vec![0.0; n];
        for c in (0..4).rev() {
            let color = theme::COHORT_COLORS[c];
            let values = &columns[c];
            groups.open(
                root,
                "series",
                &[
                    ("data-series", COHORTS[c]),
                    ("data-values", &data_values(values)),
                    ("data-color", &theme::hex(color)),
                ],
                Some(&legend_name(c, data.bands)),
            )?;
            let mut labels = Vec::new();
            for i in 0..n {
                let (bottom, top) = (base[i], base[i] + values[i]);
                base[i] = top;
                if values[i] == 0.0 {
                    continue;
                }
                chart.draw_series(std::iter::once(plot::bar(i, bottom, top, color)))?;
                let (x0, y0) = chart.backend_coord(&(i as f64 - plot::BAR_HALF, top));
                let (x1, y1) = chart.backend_coord(&(i as f64 + plot::BAR_HALF, bottom));
                let label = format!("{}", values[i]);
                let label_width = LABEL_MIN_WIDTH.max(label.len() as i32 * 7 + 6);
                if y1 - y0 >= LABEL_MIN_HEIGHT && x1 - x0 >= label_width {
                    labels.push(Text::new(
                        label,
                        (i as f64, (bottom + top) / 2.0),
                        theme::text(theme::BAR_LABEL_PX, theme::text_on(color))
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    ));
                }
            }
            chart.draw_series(labels)?;
            groups.close(root)?;
        }
        let entries: Vec<Entry> = (0..4)
            .map(|c| Entry {
                name: legend_name(c, data.bands),
                color: theme::COHORT_COLORS[c],
                swatch: Swatch::Box,
            })
            .collect();
        legend::draw(&legend_area, theme::PANEL_HEADER as i32 + 4, &entries)?;
        Ok(())
    })
}
