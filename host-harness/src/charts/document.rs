//! One chart's SVG document: plotters' SVG backend drawing into a string, then finished
//! here.
//!
//! plotters writes one element per shape, with presentation attributes only, and has no
//! notion of groups. To mark each series for a browser test, a chart calls
//! [`Groups::open`] and [`Groups::close`] around the series' shapes: each draws a
//! placeholder `<text>` whose content is a private-use character and an index, in drawing
//! order; [`render`] then swaps each placeholder for the `<g …>` or `</g>` it stands for.
//! Every text a chart draws from its input goes through [`clean`] first, which drops that
//! private-use character, so no input can forge a placeholder.
//!
//! [`render`] also gives the root `<svg>` its identity (`class="chart"`, `data-chart`,
//! `data-periods`, `role="img"`, `aria-label`) and a `<title>`.

use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, IntoDrawingArea, SVGBackend};

use super::error::ChartError;
use super::theme;

/// The drawing area of a chart being rendered.
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Marks placeholders (a private-use character, never in cleaned text).
const MARK: char = '\u{E000}';

/// The `<g>` elements of one chart, in the order their placeholders were drawn.
#[derive(Default)]
pub(crate) struct Groups {
    opening: Vec<String>,
}

impl Groups {
    /// Open `<g class="{class}" attrs…>` (with a `<title>`, the browser's tooltip, when
    /// `tooltip` is given): everything drawn until [`Groups::close`] goes in it.
    pub fn open(
        &mut self,
        area: &Area<'_>,
        class: &str,
        attrs: &[(&str, &str)],
        tooltip: Option<&str>,
    ) -> Result<(), ChartError> {
        let mut tag = format!("<g class=\"{}\"", escape(class));
        for (name, value) in attrs {
            tag.push_str(&format!(" {name}=\"{}\"", escape(value)));
        }
        tag.push('>');
        if let Some(tooltip) = tooltip {
            tag.push_str(&format!("\n<title>{}</title>", escape(tooltip)));
        }
        let index = self.opening.len();
        self.opening.push(tag);
        placeholder(area, &format!("{MARK}{index}{MARK}"))
    }

    /// Close the innermost open group.
    pub fn close(&mut self, area: &Area<'_>) -> Result<(), ChartError> {
        placeholder(area, &format!("{MARK}/{MARK}"))
    }
}

fn placeholder(area: &Area<'_>, mark: &str) -> Result<(), ChartError> {
    // Opaque: the backend skips fully transparent text.
    area.draw_text(mark, &theme::text(1.0, theme::TEXT), (0, 0))?;
    Ok(())
}

/// What a chart is, for its root element.
pub(crate) struct Meta<'a> {
    /// `data-chart`: `use-over-time`, `cohorts`, `use-beside-delivery`.
    pub kind: &'static str,
    /// The `<title>` and `aria-label` (cleaned by the caller).
    pub title: &'a str,
    pub periods: &'a [String],
    pub size: (u32, u32),
    /// Extra attributes on the root (`data-empty`).
    pub extra: &'a [(&'a str, &'a str)],
}

/// Render one chart: a white canvas of `meta.size`, `draw` on it, then finish the SVG.
pub(crate) fn render(
    meta: &Meta<'_>,
    draw: impl FnOnce(&Area<'_>, &mut Groups) -> Result<(), ChartError>,
) -> Result<String, ChartError> {
    let mut raw = String::new();
    let mut groups = Groups::default();
    {
        let root = SVGBackend::with_string(&mut raw, meta.size).into_drawing_area();
        root.fill(&theme::BACKGROUND)?;
        draw(&root, &mut groups)?;
        root.present()?;
    }
    finish(&raw, &groups, meta)
}

fn finish(raw: &str, groups: &Groups, meta: &Meta<'_>) -> Result<String, ChartError> {
    // The root plotters wrote: `<svg width=… height=… viewBox=… xmlns=…>\n`.
    let body_start = raw
        .find(">\n")
        .filter(|_| raw.starts_with("<svg "))
        .ok_or_else(|| ChartError::Draw("the SVG backend wrote no <svg> root".into()))?
        + 2;
    let (w, h) = meta.size;
    let mut out = String::with_capacity(raw.len() + 1024);
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" class=\"chart\" data-chart=\"{}\" data-periods=\"{}\" role=\"img\" aria-label=\"{}\"",
        meta.kind,
        escape(&meta.periods.join(",")),
        escape(meta.title),
    ));
    for (name, value) in meta.extra {
        out.push_str(&format!(" {name}=\"{}\"", escape(value)));
    }
    out.push_str(">\n");
    out.push_str(&format!("<title>{}</title>\n", escape(meta.title)));

    // The body, each placeholder `<text …>\n{MARK}…{MARK}\n</text>\n` swapped for its tag.
    let mut rest = &raw[body_start..];
    while let Some(at) = rest.find(MARK) {
        let open = rest[..at]
            .rfind("<text")
            .ok_or_else(|| ChartError::Draw("group placeholder outside a <text>".into()))?;
        let after = at + MARK.len_utf8();
        let end_mark = rest[after..]
            .find(MARK)
            .map(|i| after + i)
            .ok_or_else(|| ChartError::Draw("unterminated group placeholder".into()))?;
        let key = &rest[after..end_mark];
        let close = rest[end_mark..]
            .find("</text>\n")
            .map(|i| end_mark + i + "</text>\n".len())
            .ok_or_else(|| ChartError::Draw("group placeholder outside a <text>".into()))?;
        out.push_str(&rest[..open]);
        if key == "/" {
            out.push_str("</g>\n");
        } else {
            let tag = key
                .parse::<usize>()
                .ok()
                .and_then(|i| groups.opening.get(i))
                .ok_or_else(|| ChartError::Draw(format!("unknown group placeholder {key:?}")))?;
            out.push_str(tag);
            out.push('\n');
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    Ok(round_font_sizes(&out))
}

/// `font-size="13.000000000000002"` (plotters divides the style's size by 1.24) written
/// as `font-size="13"`.
fn round_font_sizes(svg: &str) -> String {
    const KEY: &str = " font-size=\"";
    let mut out = String::with_capacity(svg.len());
    let mut rest = svg;
    while let Some(at) = rest.find(KEY) {
        let start = at + KEY.len();
        let Some(len) = rest[start..].find('"') else {
            break;
        };
        out.push_str(&rest[..start]);
        let value = &rest[start..start + len];
        match value.parse::<f64>() {
            Ok(px) => out.push_str(&format!("{}", (px * 100.0).round() / 100.0)),
            Err(_) => out.push_str(value),
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// Text from the input, made safe to draw: no control characters and no placeholder mark.
/// (plotters escapes `<`, `>`, `&` and quotes itself.)
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| *c != MARK && !c.is_control())
        .collect()
}

/// Escape for an XML attribute value or text.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            MARK => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out = out.trim_end().to_string();
    out.push('…');
    out
}

/// `text` cut to at most `max` characters by dropping its middle, so both its start and its
/// end (where series names often differ) stay readable.
pub(crate) fn truncate_middle(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_string();
    }
    let head = (max.saturating_sub(1)) * 2 / 5;
    let tail = max.saturating_sub(1) - head;
    let start: String = chars[..head].iter().collect();
    let end: String = chars[chars.len() - tail..].iter().collect();
    format!("{}…{}", start.trim_end(), end.trim_start())
}
