//! The capabilities `validate-credentials` checks, and what a request needs of the key: one
//! per kind of endpoint the connector reads, on either source.

use crate::model::CapabilityInfo;

/// The source a capability belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The OpenAI Platform organization (Admin API, `api_token`).
    Platform,
    /// The ChatGPT workspace (Codex Analytics API, `analytics_api_key`).
    Chatgpt,
}

/// What a call was for, so that errors can say what the key could not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// `GET /v1/organization/usage/completions`.
    PlatformUsage,
    /// `GET /v1/organization/{users,projects,projects/…/api_keys}`.
    PlatformDirectory,
    /// `GET /v1/analytics/codex/workspaces/{id}/usage`.
    WorkspaceUsage,
    /// `GET /v1/analytics/codex/workspaces/{id}/code_reviews`.
    CodeReviews,
    /// `GET /v1/analytics/codex/workspaces/{id}/code_review_responses`.
    CodeReviewResponses,
}

/// The scope every Codex Analytics endpoint needs.
pub const ANALYTICS_SCOPE: &str = "codex.enterprise.analytics.read";

impl Capability {
    /// In `describe().capabilities` and `validate-credentials` order.
    pub const ALL: [Capability; 5] = [
        Capability::PlatformUsage,
        Capability::PlatformDirectory,
        Capability::WorkspaceUsage,
        Capability::CodeReviews,
        Capability::CodeReviewResponses,
    ];

    pub fn source(self) -> Source {
        match self {
            Capability::PlatformUsage | Capability::PlatformDirectory => Source::Platform,
            _ => Source::Chatgpt,
        }
    }

    /// Stable machine name (`capability-info.name`).
    pub fn name(self) -> &'static str {
        match self {
            Capability::PlatformUsage => "platform-usage",
            Capability::PlatformDirectory => "platform-directory",
            Capability::WorkspaceUsage => "workspace-usage",
            Capability::CodeReviews => "code-reviews",
            Capability::CodeReviewResponses => "code-review-responses",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Capability::PlatformUsage => "Platform usage",
            Capability::PlatformDirectory => "Directory (users, projects, keys)",
            Capability::WorkspaceUsage => "Workspace Codex usage",
            Capability::CodeReviews => "Codex code reviews",
            Capability::CodeReviewResponses => "Responses to code reviews",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Capability::PlatformUsage => "The Admin API key can read the organization's token and request usage per person, API key, project and model (scope api.usage.read).",
            Capability::PlatformDirectory => "The Admin API key can read the organization's users, projects and project API keys (scope api.management.read).",
            Capability::WorkspaceUsage => "The analytics key can read the ChatGPT workspace's Codex usage per person: threads, turns and credits by client and by model (scope codex.enterprise.analytics.read).",
            Capability::CodeReviews => "The analytics key can read the workspace's Codex code reviews per person: pull requests reviewed and comments by priority (scope codex.enterprise.analytics.read).",
            Capability::CodeReviewResponses => "The analytics key can read how people answered Codex review comments: replies and reactions (scope codex.enterprise.analytics.read).",
        }
    }

    /// The scope the endpoints need.
    pub fn scope(self) -> &'static str {
        match self {
            Capability::PlatformUsage => "api.usage.read",
            Capability::PlatformDirectory => "api.management.read",
            _ => ANALYTICS_SCOPE,
        }
    }

    /// What the key could not read, for error messages.
    pub fn what(self) -> &'static str {
        match self {
            Capability::PlatformUsage => "organization usage",
            Capability::PlatformDirectory => "the organization's users, projects and keys",
            Capability::WorkspaceUsage => "the workspace's Codex usage",
            Capability::CodeReviews => "the workspace's Codex code reviews",
            Capability::CodeReviewResponses => {
                "the responses to the workspace's Codex code reviews"
            }
        }
    }

    /// The Codex Analytics endpoint (the last path segment) of a ChatGPT capability.
    pub fn endpoint(self) -> Option<&'static str> {
        match self {
            Capability::WorkspaceUsage => Some("usage"),
            Capability::CodeReviews => Some("code_reviews"),
            Capability::CodeReviewResponses => Some("code_review_responses"),
            _ => None,
        }
    }

    /// What a granted check says.
    pub fn granted_message(self) -> &'static str {
        match self {
            Capability::PlatformUsage => "Can read organization usage.",
            Capability::PlatformDirectory => {
                "Can read the organization's users, projects and API keys."
            }
            Capability::WorkspaceUsage => "Can read the workspace's Codex usage.",
            Capability::CodeReviews => "Can read the workspace's Codex code reviews.",
            Capability::CodeReviewResponses => {
                "Can read the responses to the workspace's Codex code reviews."
            }
        }
    }

    /// What a check says when its source is not filled in.
    pub fn not_configured_message(self) -> &'static str {
        match self.source() {
            Source::Platform => "Not configured: API-key usage (OpenAI Platform) has no API Token, so Codex used with API keys is not imported.",
            Source::Chatgpt => "Not configured: ChatGPT sign-in usage (Codex Analytics) has no workspace id and analytics key, so Codex used through ChatGPT sign-in is not imported.",
        }
    }

    pub fn info(self) -> CapabilityInfo {
        CapabilityInfo {
            name: self.name(),
            label: self.label(),
            description: self.description(),
        }
    }
}
