//! A legend in its own column: one row per entry, a swatch and the entry's name.

use plotters::prelude::{Circle, PathElement, Rectangle};
use plotters::style::{Color, RGBColor};

use super::document::{clean, truncate_middle, Area};
use super::error::ChartError;
use super::theme;

/// How an entry's swatch looks: a line (with a dot) for line series, a box for bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Swatch {
    Line,
    Box,
}

pub(crate) struct Entry {
    pub name: String,
    pub color: RGBColor,
    pub swatch: Swatch,
}

/// The height of one legend row.
pub(crate) const ROW: i32 = 22;
/// The most characters of a name shown in the legend (the full name is in the series'
/// `data-series` and its `<title>`, a tooltip).
pub(crate) const MAX_CHARS: usize = 23;

/// Draw `entries` in `area`, from `top` down; those that do not fit are summed up in a
/// last row ("+3 more").
pub(crate) fn draw(area: &Area<'_>, top: i32, entries: &[Entry]) -> Result<(), ChartError> {
    let (_, height) = area.dim_in_pixel();
    let fit = ((height as i32 - top) / ROW).max(1) as usize;
    let shown = if entries.len() > fit {
        fit - 1
    } else {
        entries.len()
    };
    let x = 12;
    for (i, entry) in entries.iter().take(shown).enumerate() {
        let y = top + i as i32 * ROW + ROW / 2;
        match entry.swatch {
            Swatch::Line => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 24, y)],
                    entry.color.stroke_width(3),
                ))?;
                area.draw(&Circle::new((x + 12, y), 3, entry.color.filled()))?;
            }
            Swatch::Box => {
                area.draw(&Rectangle::new(
                    [(x + 4, y - 7), (x + 20, y + 7)],
                    entry.color.filled(),
                ))?;
            }
        }
        area.draw_text(
            &truncate_middle(&clean(&entry.name), MAX_CHARS),
            &theme::text(theme::LEGEND_PX, theme::TEXT).pos(mid_left()),
            (x + 32, y),
        )?;
    }
    if shown < entries.len() {
        let y = top + shown as i32 * ROW + ROW / 2;
        area.draw_text(
            &format!("+{} more", entries.len() - shown),
            &theme::text(theme::LEGEND_PX, theme::MUTED_TEXT).pos(mid_left()),
            (x + 32, y),
        )?;
    }
    Ok(())
}

fn mid_left() -> plotters::style::text_anchor::Pos {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    Pos::new(HPos::Left, VPos::Center)
}
