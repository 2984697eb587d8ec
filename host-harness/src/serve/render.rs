//! The page's templates, embedded in the binary (minijinja; `.html` templates autoescape
//! everything), and the page's response: a Content-Security-Policy that allows only the
//! page's own style and script, by a per-response nonce from the OS random source.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::security::plain;

const TEMPLATES: &[(&str, &str)] = &[
    ("page.html", include_str!("../../templates/page.html")),
    ("list.html", include_str!("../../templates/list.html")),
    ("notice.html", include_str!("../../templates/notice.html")),
    ("top.html", include_str!("../../templates/top.html")),
    (
        "connection.html",
        include_str!("../../templates/connection.html"),
    ),
    ("result.html", include_str!("../../templates/result.html")),
    ("check.html", include_str!("../../templates/check.html")),
    (
        "settings.html",
        include_str!("../../templates/settings.html"),
    ),
    ("history.html", include_str!("../../templates/history.html")),
    ("usage.html", include_str!("../../templates/usage.html")),
    (
        "delivery.html",
        include_str!("../../templates/delivery.html"),
    ),
    ("aligned.html", include_str!("../../templates/aligned.html")),
    ("style.css", include_str!("../../templates/style.css")),
    ("status.js", include_str!("../../templates/status.js")),
];

pub(crate) struct Templates {
    env: minijinja::Environment<'static>,
}

impl Templates {
    pub fn new() -> anyhow::Result<Templates> {
        let mut env = minijinja::Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Templates { env })
    }

    /// Render `name` with `view`.
    pub fn render(&self, name: &str, view: &impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(view)
    }
}

/// A fresh nonce for one response (OS randomness; no fallback).
pub(crate) fn nonce() -> anyhow::Result<String> {
    crate::random::hex(16)
}

/// The page's HTML with its CSP.
pub(crate) fn html(html: String, nonce: &str) -> Response {
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        html,
    )
        .into_response()
}

/// `name` rendered with `view` as a page under `nonce`, or a plain 500 when the template
/// fails (logged; the reason is not shown).
pub(crate) fn page(
    templates: &Templates,
    name: &str,
    view: &impl Serialize,
    nonce: &str,
) -> Response {
    match templates.render(name, view) {
        Ok(text) => html(text, nonce),
        Err(e) => {
            tracing::error!("template error: {e:#}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
        }
    }
}

/// The answer when there are no random bytes for a nonce or a token: fail, never guess.
pub(crate) fn no_randomness(e: &anyhow::Error) -> Response {
    tracing::error!("no randomness for the page: {e:#}");
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The operating system's random source failed; the page cannot be served safely.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page code is the platform's, not a connector's: no provider, product or key
    /// format is named in it (everything of the kind comes from `describe()` and the
    /// connector's messages).
    #[test]
    fn the_page_code_names_no_connector() {
        let sources: &[(&str, &str)] = &[
            ("mod.rs", include_str!("mod.rs")),
            ("security.rs", include_str!("security.rs")),
            ("form.rs", include_str!("form.rs")),
            ("connection.rs", include_str!("connection.rs")),
            ("flash.rs", include_str!("flash.rs")),
            ("views.rs", include_str!("views.rs")),
            ("usage.rs", include_str!("usage.rs")),
            ("render.rs", include_str!("render.rs")),
            ("routes/mod.rs", include_str!("routes/mod.rs")),
            ("routes/page.rs", include_str!("routes/page.rs")),
            ("routes/save.rs", include_str!("routes/save.rs")),
            ("routes/check.rs", include_str!("routes/check.rs")),
            ("routes/sync.rs", include_str!("routes/sync.rs")),
            ("routes/status.rs", include_str!("routes/status.rs")),
            ("routes/list.rs", include_str!("routes/list.rs")),
            ("routes/add.rs", include_str!("routes/add.rs")),
            ("per_connection.rs", include_str!("per_connection.rs")),
            ("target.rs", include_str!("target.rs")),
            ("notice.rs", include_str!("notice.rs")),
            ("list.rs", include_str!("list.rs")),
            ("aligned.rs", include_str!("aligned.rs")),
            ("routes/delivery.rs", include_str!("routes/delivery.rs")),
        ];
        // Spelled in pieces, so that this file passes its own test.
        let words = [
            ["open", "ai"].concat(),
            ["chat", "gpt"].concat(),
            ["sk", "-admin"].concat(),
            ["sk", "-proj"].concat(),
            ["admin api", " key"].concat(),
            ["co", "dex"].concat(),
        ];
        for (name, text) in sources.iter().chain(TEMPLATES) {
            let mut lower = text.to_lowercase();
            if *name == "usage.rs" {
                // The report module's own names, at the page's one swap point.
                let cx = &words[5];
                lower = lower
                    .replace(&format!("report::{cx}_usage"), "")
                    .replace(&format!("{cx}_total"), "");
            }
            if *name == "aligned.rs" {
                // The report's own field names (snake_case, read at the page's one swap point
                // for the report beside delivery): identifiers with `_`, never words of text.
                lower = lower
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| !(w.contains('_') && words.iter().any(|x| w.contains(x.as_str()))))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            for w in &words {
                assert!(!lower.contains(w.as_str()), "{name} names {w:?}");
            }
        }
    }

    #[test]
    fn every_template_parses_and_html_is_escaped() {
        let t = Templates::new().unwrap();
        let out = t
            .render("check.html", &serde_json::json!({
                "check": {
                    "at": "now", "ok": false, "organization": "<b>org</b>", "credentials": ["Key <i>x</i>"],
                    "caps": [{"name": "n", "label": "L<script>", "status": "denied", "status_text": "Denied",
                              "problem": "forbidden", "message": "M\"<img>"}],
                    "notes": []
                }
            }))
            .unwrap();
        assert!(
            !out.contains("<script>") && !out.contains("<img>") && !out.contains("<b>org"),
            "{out}"
        );
        assert!(out.contains("L&lt;script&gt;"), "{out}");
        let n = nonce().unwrap();
        assert_eq!(n.len(), 32);
        assert_ne!(n, nonce().unwrap());
    }
}
