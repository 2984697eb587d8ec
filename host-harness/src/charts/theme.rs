//! The charts' look: sizes, fonts and colours, in one place.
//!
//! Sizes are for a chart shown at about 800 px wide (the SVGs carry a `viewBox`, so a page
//! can scale them). Fonts are the generic `sans-serif` family: the SVG backend writes text
//! as `<text>` elements and the browser lays it out, so nothing here loads or measures a
//! font file.

use plotters::style::{Color, FontStyle, RGBColor, TextStyle};

/// The width of every chart, in SVG user units (pixels at scale 1).
pub const WIDTH: u32 = 800;
/// The band at the top of a chart that holds its title.
pub const TITLE_BAND: u32 = 44;
/// The column at the right of a chart that holds its legend.
pub const LEGEND_WIDTH: u32 = 220;
/// The room left of a plot for the y-axis tick labels and its description.
pub const Y_LABEL_AREA: u32 = 78;
/// The room under a plot for the x-axis (period) labels.
pub const X_LABEL_AREA: u32 = 30;
/// The band above each panel's plot that holds the panel's own title.
pub const PANEL_HEADER: u32 = 24;
/// The plot's margin at its right (so the last x label is not cut).
pub const PLOT_MARGIN_RIGHT: u32 = 28;
/// About how many pixels one `YYYY-MM-DD` label needs on the x axis, gap included.
pub const PERIOD_LABEL_PX: u32 = 92;

/// Font sizes in pixels (as the browser will draw them).
pub const TITLE_PX: f64 = 18.0;
pub const PANEL_TITLE_PX: f64 = 14.0;
pub const AXIS_DESC_PX: f64 = 13.0;
pub const TICK_PX: f64 = 12.0;
pub const LEGEND_PX: f64 = 13.0;
pub const BAR_LABEL_PX: f64 = 11.0;
pub const NO_DATA_PX: f64 = 16.0;

pub const FONT: &str = "sans-serif";

pub const BACKGROUND: RGBColor = RGBColor(0xFF, 0xFF, 0xFF);
pub const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub const MUTED_TEXT: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub const AXIS: RGBColor = RGBColor(0x66, 0x66, 0x66);
pub const GRID: RGBColor = RGBColor(0xE3, 0xE3, 0xE3);

/// Series colours, in order: a colour-blind-friendly qualitative palette (Tableau 10), all
/// readable on white.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4E, 0x79, 0xA7),
    RGBColor(0xF2, 0x8E, 0x2B),
    RGBColor(0x59, 0xA1, 0x4F),
    RGBColor(0xE1, 0x57, 0x59),
    RGBColor(0xB0, 0x7A, 0xA1),
    RGBColor(0x76, 0xB7, 0xB2),
    RGBColor(0x9C, 0x75, 0x5F),
    RGBColor(0xED, 0xC9, 0x48),
    RGBColor(0xFF, 0x9D, 0xA7),
    RGBColor(0x79, 0x70, 0x6E),
];

/// The colour of the `i`-th series (the palette repeats past ten).
pub fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Cohort colours, none to heavy: grey, then a sequential blue (ordered, so lighter means
/// less use).
pub const COHORT_COLORS: [RGBColor; 4] = [
    RGBColor(0xC8, 0xC8, 0xC8),
    RGBColor(0xA6, 0xC8, 0xE6),
    RGBColor(0x4A, 0x90, 0xC8),
    RGBColor(0x1B, 0x4F, 0x8A),
];

/// A text style of `px` pixels. plotters' SVG backend writes `font-size` as the style's
/// size divided by 1.24 (its own convention), so the size given here is multiplied back.
pub fn text(px: f64, color: RGBColor) -> TextStyle<'static> {
    with_color(TextStyle::from((FONT, px * 1.24)), color)
}

/// A bold text style of `px` pixels.
pub fn bold(px: f64, color: RGBColor) -> TextStyle<'static> {
    with_color(TextStyle::from((FONT, px * 1.24, FontStyle::Bold)), color)
}

fn with_color(mut style: TextStyle<'static>, color: RGBColor) -> TextStyle<'static> {
    style.color = color.to_backend_color();
    style
}

/// Black or white, whichever reads better on `fill`.
pub fn text_on(fill: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = fill;
    let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    if luma > 150.0 {
        TEXT
    } else {
        BACKGROUND
    }
}

/// `#RRGGBB`, as the SVG backend spells fills and strokes.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}
