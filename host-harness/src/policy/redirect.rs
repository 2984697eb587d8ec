//! The host's own redirect of a declared origin to a test server, for tests and demos:
//! `--redirect api.openai.com=http://127.0.0.1:8787`. It applies after the allow-list and
//! the secret checks, which judge the origin the component asked for. Plain http is
//! accepted only for a loopback target, so a secret never crosses a network unencrypted.

use std::net::IpAddr;

use anyhow::{bail, Context};

use crate::origin::normalize_host;

/// Where requests for one host name really go.
#[derive(Clone, Debug, PartialEq)]
pub struct Redirect {
    /// The normalized host name the component asks for, e.g. `api.openai.com`.
    pub host: String,
    pub target: Target,
}

/// A redirect target: scheme and authority, no path.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
}

impl Target {
    /// Parse `http://127.0.0.1:8787` or `https://host:port`.
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let uri: http::Uri = url
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("{url:?} is not a URL"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .context("the redirect target needs a scheme (http:// or https://)")?;
        let authority = uri
            .authority()
            .cloned()
            .context("the redirect target needs a host")?;
        if authority.as_str().contains('@') {
            bail!("the redirect target may not carry user information ('@')");
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            bail!("the redirect target takes only scheme://host:port, without a path");
        }
        if scheme == http::uri::Scheme::HTTP {
            if !is_loopback_name(authority.host()) {
                bail!("a redirect may use plain http only to a loopback address (127.0.0.1, ::1, localhost)");
            }
        } else if scheme != http::uri::Scheme::HTTPS {
            bail!("the redirect target must be http:// or https://");
        }
        Ok(Target { scheme, authority })
    }

    /// Whether the target is on this machine's loopback interface.
    pub fn is_loopback(&self) -> bool {
        is_loopback_name(self.authority.host())
    }

    /// `scheme://authority`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

impl Redirect {
    /// Parse `HOST=URL`.
    pub fn parse(spec: &str) -> anyhow::Result<Redirect> {
        let (host, url) = spec
            .split_once('=')
            .context("a redirect is HOST=URL, e.g. api.openai.com=http://127.0.0.1:8787")?;
        let host = normalize_host(host.trim()).map_err(|e| anyhow::anyhow!("redirect: {e}"))?;
        Ok(Redirect {
            host,
            target: Target::parse(url.trim())?,
        })
    }

    /// A redirect of `host` to `url`.
    pub fn to(host: &str, url: &str) -> anyhow::Result<Redirect> {
        Redirect::parse(&format!("{host}={url}"))
    }
}

fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let r = Redirect::parse("API.openai.com.=http://127.0.0.1:8787/").unwrap();
        assert_eq!(r.host, "api.openai.com");
        assert_eq!(r.target.url(), "http://127.0.0.1:8787");
        assert!(Redirect::parse("api.openai.com=http://[::1]:9").is_ok());
        assert!(Redirect::parse("api.openai.com=http://localhost:9").is_ok());
        assert!(Redirect::parse("api.openai.com=http://10.0.0.1:80").is_err());
        assert!(Redirect::parse("api.openai.com=http://example.com").is_err());
        assert!(Redirect::parse("api.openai.com=https://example.com:8443").is_ok());
        assert!(Redirect::parse("api.openai.com=ftp://127.0.0.1").is_err());
        assert!(Redirect::parse("api.openai.com=http://127.0.0.1/v1").is_err());
        assert!(Redirect::parse("api.openai.com=http://u@127.0.0.1").is_err());
        assert!(Redirect::parse("api.openai.com").is_err());
    }
}
