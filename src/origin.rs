//! Endpoints the connector calls (`origin` in WIT): the host's allow-list is made of these,
//! and a secret is attached only to requests bound for its own origins.

/// An endpoint: scheme, DNS name and port, compared on all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub scheme: &'static str,
    pub host: &'static str,
    pub port: u16,
}

/// The OpenAI Platform API: the Admin API's usage and directory endpoints.
pub const OPENAI_API: Origin = Origin {
    scheme: "https",
    host: "api.openai.com",
    port: 443,
};

/// The ChatGPT API: the workspace's Codex Analytics API.
pub const CHATGPT_API: Origin = Origin {
    scheme: "https",
    host: "api.chatgpt.com",
    port: 443,
};

impl Origin {
    /// The port the scheme implies when a URL names none.
    fn default_port(&self) -> Option<u16> {
        match self.scheme {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        }
    }

    /// The request authority: the host alone on the scheme's default port, else `host:port`.
    pub fn authority(&self) -> String {
        if self.default_port() == Some(self.port) {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_omits_only_the_default_port() {
        assert_eq!(OPENAI_API.authority(), "api.openai.com");
        assert_eq!(OPENAI_API.to_string(), "https://api.openai.com");
        assert_eq!(CHATGPT_API.to_string(), "https://api.chatgpt.com");
        let other = Origin {
            port: 8443,
            ..OPENAI_API
        };
        assert_eq!(other.authority(), "api.openai.com:8443");
        let plain = Origin {
            scheme: "http",
            host: "example.test",
            port: 443,
        };
        assert_eq!(plain.authority(), "example.test:443");
    }
}
