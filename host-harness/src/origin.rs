//! Origins (scheme, host, port): what a connector declares it calls, what the allow-list
//! holds, and what each outgoing request is checked against.
//!
//! Host names are normalized once, here, for the allow-list and the redirect alike: IDNA to
//! ASCII, lower case, no trailing dot. IP literals in every spelling a URL parser accepts
//! (`127.1`, `0x7f000001`, `2130706433`, `[::ffff:127.0.0.1]`) are refused as hosts of a
//! declared origin: a connector names its provider by DNS name, and the host checks the
//! addresses that name resolves to.

use std::fmt;

use crate::bindings::v0_2::types as wit;

/// A normalized origin.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

/// Why a host name or origin is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("the host name is empty")]
    Empty,
    #[error("the host name {0:?} is not a valid DNS name")]
    Invalid(String),
    #[error("{0:?} is an IP address; origins must be DNS names")]
    IpLiteral(String),
    #[error("the authority carries user information ('@'), which is refused")]
    UserInfo,
    #[error("the scheme {0:?} is refused; only https is allowed")]
    Scheme(String),
    #[error("port 0 is not a port")]
    Port,
}

impl Origin {
    /// An origin a component declared, checked: https only, a DNS name, a real port.
    pub fn declared(o: &wit::Origin) -> Result<Origin, OriginError> {
        let scheme = o.scheme.to_ascii_lowercase();
        if scheme != "https" {
            return Err(OriginError::Scheme(clip(&o.scheme)));
        }
        if o.port == 0 {
            return Err(OriginError::Port);
        }
        Ok(Origin {
            scheme,
            host: normalize_host(&o.host)?,
            port: o.port,
        })
    }

    /// The origin of a request URI as the component sent it (before any redirect).
    pub fn of_uri(uri: &http::Uri) -> Result<Origin, OriginError> {
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let authority = uri.authority().ok_or(OriginError::Empty)?;
        if authority.as_str().contains('@') {
            return Err(OriginError::UserInfo);
        }
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(OriginError::Scheme(clip(&scheme))),
        };
        let host = normalize_host(authority.host())?;
        Ok(Origin {
            scheme,
            host,
            port: authority.port_u16().unwrap_or(default_port),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = matches!(
            (self.scheme.as_str(), self.port),
            ("https", 443) | ("http", 80)
        );
        if default {
            write!(f, "{}://{}", self.scheme, self.host)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// Normalize a host name: IDNA (UTS #46) to ASCII, lower case, one trailing dot removed.
/// Refuses empty names, names that are not valid DNS names, and IP literals.
pub fn normalize_host(raw: &str) -> Result<String, OriginError> {
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    if trimmed.is_empty() {
        return Err(OriginError::Empty);
    }
    if trimmed.contains('@') {
        return Err(OriginError::UserInfo);
    }
    if trimmed.starts_with('[') || trimmed.parse::<std::net::IpAddr>().is_ok() {
        return Err(OriginError::IpLiteral(clip(raw)));
    }
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| OriginError::Invalid(clip(raw)))?
        .to_ascii_lowercase();
    if ascii.is_empty() || ascii.len() > 253 {
        return Err(OriginError::Invalid(clip(raw)));
    }
    // WHATWG URL: a host whose last label is a number (decimal, octal or 0x-hex) is an
    // IPv4 address in one of its many spellings (`127.1`, `2130706433`, `0x7f000001`).
    let last = ascii.rsplit('.').next().unwrap_or("");
    let numeric = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || (last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit())));
    if numeric {
        return Err(OriginError::IpLiteral(clip(raw)));
    }
    Ok(ascii)
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(scheme: &str, host: &str, port: u16) -> wit::Origin {
        wit::Origin {
            scheme: scheme.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn names_are_normalized_once() {
        assert_eq!(normalize_host("API.OpenAI.com.").unwrap(), "api.openai.com");
        assert_eq!(
            normalize_host("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(normalize_host("localhost").unwrap(), "localhost");
    }

    #[test]
    fn ip_literals_in_every_spelling_are_refused() {
        for h in [
            "127.0.0.1",
            "[::1]",
            "::1",
            "169.254.169.254",
            "0x7f000001",
            "2130706433",
            "127.1",
            "[::ffff:127.0.0.1]",
            "10.0.0.1.",
        ] {
            assert!(
                matches!(normalize_host(h), Err(OriginError::IpLiteral(_))),
                "{h}: {:?}",
                normalize_host(h)
            );
        }
        for h in ["", ".", "a b", "ex ample.com", "user@host", "a..b"] {
            assert!(normalize_host(h).is_err(), "{h}");
        }
    }

    #[test]
    fn declared_origins_are_https_dns_names() {
        let ok = Origin::declared(&o("HTTPS", "Api.OpenAI.com.", 443)).unwrap();
        assert_eq!(ok.to_string(), "https://api.openai.com");
        assert_eq!(
            Origin::declared(&o("http", "api.openai.com", 80)),
            Err(OriginError::Scheme("http".into()))
        );
        assert!(Origin::declared(&o("https", "api.openai.com", 0)).is_err());
        assert!(Origin::declared(&o("https", "127.0.0.1", 443)).is_err());
    }

    #[test]
    fn request_origins_carry_their_port() {
        let uri: http::Uri = "https://api.openai.com./v1/x".parse().unwrap();
        assert_eq!(
            Origin::of_uri(&uri).unwrap(),
            Origin {
                scheme: "https".into(),
                host: "api.openai.com".into(),
                port: 443
            }
        );
        let uri: http::Uri = "http://api.openai.com:8080/".parse().unwrap();
        assert_eq!(Origin::of_uri(&uri).unwrap().port, 8080);
        let uri: http::Uri = "https://user@api.openai.com/".parse().unwrap();
        assert_eq!(Origin::of_uri(&uri), Err(OriginError::UserInfo));
    }
}
