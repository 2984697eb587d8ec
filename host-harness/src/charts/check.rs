//! What a chart must not hold to be inlined in a page under a strict Content-Security-Policy
//! (`default-src 'none'; style-src 'nonce-…'; script-src 'nonce-…'`), and to stand alone as
//! a file that loads nothing.
//!
//! - no script: no `<script>`, no `on…=` event attribute, no `javascript:`;
//! - no style the policy would drop: no `style="…"` attribute and no `<style>` element
//!   (they need `'unsafe-inline'` or a nonce; presentation attributes such as `fill=`,
//!   `stroke=`, `font-size=` are not CSS declarations under CSP and always apply);
//! - nothing fetched: no `href`/`xlink:href`, no `url(…)`, no `<image>`, `<use>`,
//!   `<foreignObject>`, `<iframe>`, `<object>` or `<embed>`, no `@import`.
//!
//! The charts are made to pass it (plotters' SVG backend writes presentation attributes
//! only, and the module adds none of the above); the tests hold every chart to it.

/// Every way `svg` breaks the rules above, empty when none.
pub fn csp_findings(svg: &str) -> Vec<String> {
    let lower = svg.to_ascii_lowercase();
    let mut found = Vec::new();
    for needle in [
        "<script",
        "<style",
        "<foreignobject",
        "<image",
        "<use",
        "<iframe",
        "<object",
        "<embed",
        "<a ",
        "javascript:",
        "url(",
        "@import",
        "<!doctype",
        "<!entity",
        "<?xml-stylesheet",
    ] {
        if lower.contains(needle) {
            found.push(format!("contains {needle:?}"));
        }
    }
    // Attribute names: the word before each `="`.
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(at) = lower[from..].find("=\"") {
        let eq = from + at;
        let start = lower[..eq]
            .rfind(|c: char| c.is_ascii_whitespace() || c == '<')
            .map_or(0, |i| i + 1);
        let name = &lower[start..eq];
        if name.starts_with("on") || name == "style" || name.ends_with("href") || name == "src" {
            found.push(format!("attribute {name:?}"));
        }
        from = eq + 2;
        // Skip the value (plotters and this module escape quotes in values).
        if let Some(end) = lower[from..].find('"') {
            from += end + 1;
        }
        if from >= bytes.len() {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::csp_findings;

    #[test]
    fn flags_what_a_strict_policy_would_block() {
        assert!(
            csp_findings(r##"<svg><rect fill="#FFF"/><text font-size="12">a=b</text></svg>"##)
                .is_empty()
        );
        for bad in [
            r#"<svg><script>x</script></svg>"#,
            r#"<svg onload="x()"></svg>"#,
            r#"<svg><rect  ONCLICK="x()"/></svg>"#,
            r#"<svg><rect style="fill:red"/></svg>"#,
            r#"<svg><style>rect{}</style></svg>"#,
            r#"<svg><image href="https://example.com/a.png"/></svg>"#,
            r#"<svg><a xlink:href="javascript:x()"/></svg>"#,
            r#"<svg><rect fill="url(#g)"/></svg>"#,
        ] {
            assert!(!csp_findings(bad).is_empty(), "{bad}");
        }
    }
}
