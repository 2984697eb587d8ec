//! Titles: the chart's, in the band at its top, and each panel's, above its plot.

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::document::{clean, truncate, Area};
use super::error::ChartError;
use super::theme;

/// The chart's title, left-aligned in the title band; `note` (muted) at the band's right.
pub(crate) fn chart_title(area: &Area<'_>, title: &str, note: &str) -> Result<(), ChartError> {
    let y = theme::TITLE_BAND as i32 / 2;
    area.draw_text(
        &truncate(&clean(title), 70),
        &theme::bold(theme::TITLE_PX, theme::TEXT).pos(Pos::new(HPos::Left, VPos::Center)),
        (16, y),
    )?;
    if !note.is_empty() {
        let (w, _) = area.dim_in_pixel();
        area.draw_text(
            &truncate(&clean(note), 40),
            &theme::text(theme::AXIS_DESC_PX, theme::MUTED_TEXT)
                .pos(Pos::new(HPos::Right, VPos::Center)),
            (w as i32 - 16, y),
        )?;
    }
    Ok(())
}

/// A panel's title, at the left of the panel's header band (`x` from the panel's left).
pub(crate) fn panel_title(area: &Area<'_>, x: i32, title: &str) -> Result<(), ChartError> {
    let y = theme::PANEL_HEADER as i32 / 2 + 2;
    area.draw_text(
        &truncate(&clean(title), 80),
        &theme::bold(theme::PANEL_TITLE_PX, theme::TEXT).pos(Pos::new(HPos::Left, VPos::Center)),
        (x, y),
    )?;
    Ok(())
}
