//! How the connector reaches a provider: a `Transport` performs one GET to an origin, with
//! a secret setting attached by the host (wasi:http in the component, fakes in tests).

use crate::model::ConnectorError;
use crate::origin::Origin;
use crate::settings::missing_secret_message;

/// One GET request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Where it goes; one of the origins `configure` returned.
    pub origin: &'a Origin,
    /// Path and query, starting with `/`.
    pub path_and_query: &'a str,
    /// The secret setting the host attaches (in the header its `secret-use` names).
    pub secret: &'a str,
    /// Further headers (names in lower case), e.g. `openai-organization`.
    pub headers: &'a [(&'a str, &'a str)],
}

/// One HTTP response, reduced to what the connector needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
    /// `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// `openai-organization` header: the organization the key belongs to.
    pub organization: Option<String>,
    /// `x-request-id` header, quoted in errors so support can find the call.
    pub request_id: Option<String>,
}

/// Performs GET requests and tells the time.
pub trait Transport {
    /// GET `request`. Transport failures (connect, timeout, reset) come back as `transient`
    /// errors, a missing secret as `unauthorized`, a request the host refuses as `internal`.
    /// Any HTTP status is a response: the caller classifies it.
    fn get(&mut self, request: &Request<'_>) -> Result<HttpResponse, ConnectorError>;
    /// Current time, Unix seconds.
    fn now(&self) -> i64;
}

/// Why the host could not attach a secret to a request (`secrets.attach-error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachFailure {
    /// The key names no secret setting of this connector (a bug on either side).
    UnknownSecret,
    /// The admin has saved no value for it.
    NotSet,
    /// The request refused the header.
    Refused,
}

impl AttachFailure {
    /// The typed error for a request to `origin` that needed secret setting `secret`.
    pub fn into_error(self, secret: &str, origin: &Origin) -> ConnectorError {
        match self {
            AttachFailure::NotSet => ConnectorError::Unauthorized(missing_secret_message(secret)),
            AttachFailure::UnknownSecret => ConnectorError::Internal(format!(
                "the host does not know the secret setting {secret} this connector declares"
            )),
            AttachFailure::Refused => ConnectorError::Internal(format!(
                "the host refused to attach the secret setting {secret} to the request to {origin}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::OPENAI_API;
    use crate::settings::{ADMIN_KEY_HELP, API_TOKEN};

    #[test]
    fn attach_failures_are_typed() {
        match AttachFailure::NotSet.into_error(API_TOKEN, &OPENAI_API) {
            ConnectorError::Unauthorized(m) => {
                assert!(m.starts_with("No API token is saved"), "{m}");
                assert!(m.contains(ADMIN_KEY_HELP), "{m}");
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(
            AttachFailure::Refused.into_error(API_TOKEN, &OPENAI_API),
            ConnectorError::Internal(
                "the host refused to attach the secret setting api_token to the request to https://api.openai.com".into()
            )
        );
        assert!(matches!(
            AttachFailure::UnknownSecret.into_error(API_TOKEN, &OPENAI_API),
            ConnectorError::Internal(m) if m.contains("does not know the secret setting api_token")
        ));
    }
}
