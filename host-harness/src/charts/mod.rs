//! Charts of use and delivery, rendered server-side to self-contained SVG strings from
//! plain data (no store access): the settings page inlines them, `report --chart FILE.svg`
//! writes them ([`stack()`] puts several in one file).
//!
//! - [`use_over_time`]: use per period, by path and by surface: lines, one panel per unit;
//! - [`cohorts`]: people per adoption cohort (none, light, moderate, heavy) per period:
//!   stacked bars;
//! - [`beside_delivery`]: use beside commits and lines changed per period: three aligned
//!   bar panels.
//!
//! Each chart is 800 units wide with a `viewBox` (it scales with the page), titled, with
//! labelled axes and a legend (or panel headers). No periods gives a chart that says
//! "No data yet" (`data-empty="true"` on its root); one period draws as one bar or dot.
//!
//! # Drawing
//!
//! [plotters](https://docs.rs/plotters) 0.3.7 with only its SVG backend
//! (`default-features = false`, `svg_backend`, `line_series`, `point_series`): no bitmap
//! backend, no font-kit, no `ttf`, no system fonts. Text is written as SVG `<text>` in the
//! generic `sans-serif` family and laid out by whatever displays the SVG; plotters only
//! estimates text widths for its own layout.
//!
//! # For a browser test
//!
//! The root is `<svg class="chart" data-chart="use-over-time|cohorts|use-beside-delivery"
//! data-periods="2025-01-06,2025-01-13,…" role="img" aria-label="…">` with a `<title>`.
//! Each series' shapes are in `<g class="series" data-series="NAME" data-values="1,2.5,3"
//! data-color="#4E79A7">` (plus `data-panel` and `data-unit` in use over time), with the
//! series' name as the group's `<title>`: the values are written in Rust's shortest
//! round-trip form, one per period, so a test can compare them with the report's numbers.
//! Cohorts' `data-series` are `none`, `light`, `moderate`, `heavy`; beside delivery's are
//! the use measure's name, `commits` and `lines changed`.
//!
//! # Content-Security-Policy
//!
//! The page's policy is `default-src 'none'; style-src 'nonce-…'; script-src 'nonce-…';
//! img-src 'self' data:`. A chart holds no script, no event attribute, no `style="…"`
//! attribute and no `<style>` element (both would need the nonce or `'unsafe-inline'`
//! when inlined), and fetches nothing (no `href`, no `url(…)`, no `<image>`, no web font):
//! plotters' SVG backend writes presentation attributes only (`fill=`, `stroke=`,
//! `stroke-width=`, `opacity=`, `font-family=`, `font-size=`, `text-anchor=`), which CSP
//! does not govern, so no post-processing of styles is needed. [`check::csp_findings`]
//! states the rules and every test holds every chart to them. So a chart can be inlined
//! as `<svg>` in the page's HTML (a template must mark it safe: it is markup this module
//! escaped, not user text), or shown as `<img src="data:image/svg+xml;base64,…">`
//! (`img-src data:` allows it). Checked in headless Chromium: the example's `page.html`
//! inlines every chart under that policy (as a `<meta>`) and logs no violation, while a
//! control `<rect fill="green" style="fill:red">` under the same policy draws green.
//!
//! The post-processing is structural only (`document.rs`): the root's attributes, the
//! series groups, and `font-size` values rounded (plotters writes `13.000000000000002`).

pub mod beside_delivery;
pub mod check;
pub mod cohorts;
mod coords;
mod document;
pub mod empty;
pub mod error;
mod heading;
mod legend;
mod plot;
pub mod scale;
pub mod series;
pub mod stack;
pub mod theme;
pub mod use_over_time;

pub use beside_delivery::UseBesideDelivery;
pub use cohorts::{Bands, Cohorts};
pub use error::ChartError;
pub use series::Series;
pub use stack::stack;
pub use use_over_time::{Panel, UseOverTime};

#[cfg(test)]
mod tests;
