//! The chart for no data: the chart's title and frame, and "No data yet" in the middle.

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::document::{self, Area, Meta};
use super::error::ChartError;
use super::{heading, theme};

/// The message an empty chart (or panel) shows.
pub const NO_DATA: &str = "No data yet";

/// A whole chart with no data: `data-empty="true"` on its root, the message centred.
pub(crate) fn chart(kind: &'static str, title: &str, height: u32) -> Result<String, ChartError> {
    let meta = Meta {
        kind,
        title,
        periods: &[],
        size: (theme::WIDTH, height),
        extra: &[("data-empty", "true")],
    };
    document::render(&meta, |root, _| {
        heading::chart_title(root, title, "")?;
        let (_, body) = root.split_vertically(theme::TITLE_BAND);
        message(&body)
    })
}

/// "No data yet" centred in `area`, in a light frame.
pub(crate) fn message(area: &Area<'_>) -> Result<(), ChartError> {
    use plotters::prelude::Rectangle;
    use plotters::style::Color;
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    area.draw(&Rectangle::new(
        [(16, 8), (w - 16, h - 12)],
        theme::GRID.stroke_width(1),
    ))?;
    area.draw_text(
        NO_DATA,
        &theme::text(theme::NO_DATA_PX, theme::MUTED_TEXT)
            .pos(Pos::new(HPos::Center, VPos::Center)),
        (w / 2, h / 2),
    )?;
    Ok(())
}
