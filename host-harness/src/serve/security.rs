//! The guard every request passes, and the checks behind it:
//!
//! - bound to loopback, the page answers only requests whose `Host` is a loopback name with
//!   its port (a DNS-rebinding page under a foreign name cannot read it);
//! - beyond loopback an admin password is required (HTTP Basic, any user name), compared in
//!   constant time;
//! - a form post must come from this page: `Sec-Fetch-Site: same-origin` and/or an `Origin`
//!   of this server, and at least one of the two (see [`same_origin`]); the handlers then
//!   check the form's CSRF token ([`Security::csrf_ok`]);
//! - every response carries a strict set of security headers (the page adds its own
//!   Content-Security-Policy with a per-response nonce, see [`super::render`]).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Shared;

/// What the guard and the handlers check requests against.
pub(crate) struct Security {
    /// The form token of this process (OS randomness, see [`crate::random`]).
    csrf: String,
    /// SHA-256 of the admin password, when one is required.
    password: Option<[u8; 32]>,
    /// `Host` values accepted when bound to loopback; `None` beyond loopback.
    allowed_hosts: Option<Vec<String>>,
}

impl Security {
    /// `loopback_port`: the port when bound to a loopback address. Fails when the OS has no
    /// random source (there is no weaker fallback for the CSRF token).
    pub fn new(password: Option<String>, loopback_port: Option<u16>) -> anyhow::Result<Security> {
        Ok(Security {
            csrf: crate::random::hex(32)?,
            password: password.map(|p| sha256(p.as_bytes())),
            allowed_hosts: loopback_port.map(loopback_hosts),
        })
    }

    /// The token every form carries.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether the posted form carries this process's token.
    pub fn csrf_ok(&self, form: &[(String, String)]) -> bool {
        form.iter()
            .find(|(k, _)| k == "csrf")
            .is_some_and(|(_, v)| eq(v.as_bytes(), self.csrf.as_bytes()))
    }
}

/// The refusal a handler sends for a form without this process's token.
pub(crate) fn bad_csrf() -> Response {
    plain(
        StatusCode::FORBIDDEN,
        "Refused: the form's token is missing or stale. Reload the settings page and try again.",
    )
}

fn loopback_hosts(port: u16) -> Vec<String> {
    let mut hosts = Vec::new();
    for h in ["127.0.0.1", "localhost", "[::1]"] {
        hosts.push(format!("{h}:{port}"));
        if port == 80 {
            hosts.push(h.to_string());
        }
    }
    hosts
}

/// Host check (loopback), admin password, same-origin posts, security headers.
pub(crate) async fn guard(
    State(app): State<Shared>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let sec = &app.security;
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if let Some(allowed) = &sec.allowed_hosts {
        if !allowed.iter().any(|a| a == &host) {
            return with_headers(plain(
                StatusCode::MISDIRECTED_REQUEST,
                "This server answers only on its loopback address.",
            ));
        }
    }
    if let Some(password) = &sec.password {
        if !basic_auth_ok(headers, password) {
            let mut r = plain(StatusCode::UNAUTHORIZED, "The admin password is required.");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Basic realm=\"host-harness settings\", charset=\"UTF-8\"",
                ),
            );
            return with_headers(r);
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        if let Err(why) = same_origin(headers, &host) {
            tracing::warn!("refused a post: {why}");
            return with_headers(plain(
                StatusCode::FORBIDDEN,
                "Refused: this form can only be posted from the settings page itself.",
            ));
        }
    }
    with_headers(next.run(req).await)
}

/// The headers of every response (the page replaces the default CSP with its own).
fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A form post must come from a page of this origin.
///
/// - `Sec-Fetch-Site`, when sent, must be `same-origin`;
/// - `Origin`, when sent, must be this server's (`http://HOST`, or `https://HOST` behind a
///   TLS proxy);
/// - and one of the two must be there. Every browser sends `Origin` on a form post (and the
///   current ones `Sec-Fetch-Site` on every request), so a post that carries neither did not
///   come from our page in a browser: it is refused even with a valid CSRF token, which
///   keeps the token from being the only line of defence.
pub(crate) fn same_origin(headers: &HeaderMap, host: &str) -> Result<(), String> {
    let site = headers.get("sec-fetch-site");
    let origin = headers.get(header::ORIGIN);
    if site.is_none() && origin.is_none() {
        return Err("neither Origin nor Sec-Fetch-Site was sent".into());
    }
    if let Some(site) = site {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" {
            return Err(format!("Sec-Fetch-Site: {site}"));
        }
    }
    if let Some(origin) = origin {
        let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if host.is_empty()
            || (origin != format!("http://{host}") && origin != format!("https://{host}"))
        {
            return Err(format!("Origin {origin:?} is not this server ({host})"));
        }
    }
    Ok(())
}

/// HTTP Basic with any user name and the admin password (whose SHA-256 is `expected`).
/// Both sides are hashed first, so the comparison takes the same time whatever the length
/// of what was sent.
pub(crate) fn basic_auth_ok(headers: &HeaderMap, expected: &[u8; 32]) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, b64)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return false;
    };
    // user:password; the password may itself contain ':'.
    let given = match decoded.iter().position(|b| *b == b':') {
        Some(i) => &decoded[i + 1..],
        None => return false,
    };
    bool::from(sha256(given).ct_eq(expected))
}

/// Constant-time equality (for equal lengths; a length difference is not a secret here).
fn eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A short plain-text response.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn basic_auth_uses_any_user_and_the_password() {
        let expected = sha256(b"correct horse");
        // "admin:correct horse"
        let h = headers(&[("authorization", "Basic YWRtaW46Y29ycmVjdCBob3JzZQ==")]);
        assert!(basic_auth_ok(&h, &expected));
        assert!(!basic_auth_ok(&h, &sha256(b"correct horsf")));
        // "x:correct horse" with a lower-case scheme
        let h = headers(&[("authorization", "basic eDpjb3JyZWN0IGhvcnNl")]);
        assert!(basic_auth_ok(&h, &expected));
        // no colon, bad base64, another scheme, nothing
        for bad in [
            "Basic Y29ycmVjdCBob3JzZQ==",
            "Basic !!!",
            "Bearer YWRtaW46Y29ycmVjdCBob3JzZQ==",
        ] {
            let mut h = HeaderMap::new();
            h.insert("authorization", HeaderValue::from_static(bad));
            assert!(!basic_auth_ok(&h, &expected), "{bad}");
        }
        assert!(!basic_auth_ok(&HeaderMap::new(), &expected));
    }

    #[test]
    fn posts_need_a_same_origin_signal() {
        let host = "127.0.0.1:8080";
        // Neither header: not from a browser showing our page.
        assert!(same_origin(&HeaderMap::new(), host).is_err());
        assert!(same_origin(&headers(&[("origin", "http://127.0.0.1:8080")]), host).is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")]), host).is_ok());
        assert!(same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin")
            ]),
            host
        )
        .is_ok());
        for bad in [
            headers(&[("origin", "http://evil.example")]),
            headers(&[("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:8081")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[("sec-fetch-site", "none")]),
            headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "cross-site"),
            ]),
            headers(&[
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "same-origin"),
            ]),
        ] {
            assert!(same_origin(&bad, host).is_err(), "{bad:?}");
        }
        // An empty Host matches no Origin.
        assert!(same_origin(&headers(&[("origin", "http://")]), "").is_err());
    }

    #[test]
    fn csrf_tokens_are_random_and_checked() {
        let a = Security::new(None, Some(8080)).unwrap();
        let b = Security::new(None, Some(8080)).unwrap();
        assert_eq!(a.csrf().len(), 64);
        assert_ne!(a.csrf(), b.csrf());
        let form = |t: &str| vec![("csrf".to_string(), t.to_string())];
        assert!(a.csrf_ok(&form(a.csrf())));
        assert!(!a.csrf_ok(&form(b.csrf())));
        assert!(!a.csrf_ok(&form("")));
        assert!(!a.csrf_ok(&[]));
        assert_eq!(
            a.allowed_hosts.as_deref().unwrap(),
            ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"]
        );
        assert!(Security::new(None, None).unwrap().allowed_hosts.is_none());
    }
}
