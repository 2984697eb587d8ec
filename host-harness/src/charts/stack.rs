//! Several charts in one SVG file (`report --chart FILE.svg`): each chart's root becomes a
//! nested `<svg>` placed below the one before, in a document as wide as the widest.

use super::document::escape;
use super::error::ChartError;

/// The gap between two stacked charts.
const GAP: u32 = 16;

/// One SVG document holding `charts` (each as rendered by this module) top to bottom.
/// A chart whose root is not this module's (no `width`/`height`) is an error.
pub fn stack(title: &str, charts: &[String]) -> Result<String, ChartError> {
    let err = |m: String| ChartError::Stack(m);
    let mut width = 0;
    let mut y = 0;
    let mut body = String::new();
    for (i, chart) in charts.iter().enumerate() {
        let root_end = chart
            .find('>')
            .ok_or_else(|| err(format!("chart {i} has no root")))?;
        let root = &chart[..root_end];
        if !root.starts_with("<svg ") {
            return Err(err(format!("chart {i} does not start with <svg")));
        }
        let w = attr_u32(root, "width").ok_or_else(|| err(format!("chart {i} has no width")))?;
        let h = attr_u32(root, "height").ok_or_else(|| err(format!("chart {i} has no height")))?;
        if i > 0 {
            y += GAP;
        }
        body.push_str(&format!("<svg x=\"0\" y=\"{y}\""));
        body.push_str(&chart["<svg".len()..]);
        if !body.ends_with('\n') {
            body.push('\n');
        }
        width = width.max(w);
        y += h;
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{y}\" viewBox=\"0 0 {width} {y}\" class=\"charts\" role=\"group\" aria-label=\"{t}\">\n<title>{t}</title>\n<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{y}\" fill=\"#FFFFFF\"/>\n{body}</svg>\n",
        t = escape(title),
    ))
}

/// The value of `name="…"` in a start tag, as a number.
fn attr_u32(tag: &str, name: &str) -> Option<u32> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    tag[start..end].parse().ok()
}
