//! The fewest provider requests a full sync of the mock's organization can make, derived
//! from the API's page limits and the organization itself, counted with plain GETs
//! ([`super::plain_http`]) and nothing of the connector's.
//!
//! - usage: daily buckets, at most 31 per page: ⌈days / 31⌉ pages,
//! - users: at most 100 per page (an empty list still takes one request),
//! - projects (archived included): likewise,
//! - api_keys: the project list again (the connector cannot know the projects otherwise
//!   within the stream), then each project's keys, at least one request per project.

use anyhow::{bail, Context};
use serde_json::{json, Value};

use host_harness::secret::Secret;

use super::fixture::Mock;
use super::plain_http;

/// The API's page limits.
pub const USAGE_PAGE_DAYS: u64 = 31;
pub const DIRECTORY_PAGE: u64 = 100;

pub struct Minimum {
    pub usage: u64,
    pub users: u64,
    pub projects: u64,
    pub api_keys: u64,
    /// What was counted: users, projects, keys.
    pub organization: Value,
}

impl Minimum {
    pub fn total(&self) -> u64 {
        self.usage + self.users + self.projects + self.api_keys
    }

    pub fn by_stream(&self) -> Value {
        json!({ "usage": self.usage, "users": self.users, "projects": self.projects, "api_keys": self.api_keys })
    }
}

/// Pages a list of `n` items takes at `per_page`.
fn pages(n: u64, per_page: u64) -> u64 {
    n.div_ceil(per_page).max(1)
}

/// Every item of a directory list, following `after`.
async fn list_all(
    mock: &Mock,
    key: &Secret,
    endpoint: &str,
    extra: &str,
) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("{endpoint}?limit={DIRECTORY_PAGE}{extra}");
        if let Some(a) = &after {
            path.push_str("&after=");
            path.push_str(a);
        }
        let (status, body) = plain_http::get(mock.server.addr(), &path, key).await?;
        if status != 200 {
            bail!("{endpoint}: the mock answered {status}");
        }
        let v: Value =
            serde_json::from_slice(&body).with_context(|| format!("{endpoint}: not JSON"))?;
        let data = v["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|d| d["id"].as_str())
            .map(str::to_string);
        out.extend(data);
        if !v["has_more"].as_bool().unwrap_or(false) || after.is_none() {
            return Ok(out);
        }
    }
}

pub async fn count(mock: &Mock, days: u32) -> anyhow::Result<Minimum> {
    let key = &mock.key;
    let users = list_all(mock, key, "/v1/organization/users", "").await?;
    let projects = list_all(
        mock,
        key,
        "/v1/organization/projects",
        "&include_archived=true",
    )
    .await?;
    let project_pages = pages(projects.len() as u64, DIRECTORY_PAGE);
    let (mut key_pages, mut keys) = (0, 0);
    for p in &projects {
        let id = p["id"].as_str().context("a project without an id")?;
        let list = list_all(
            mock,
            key,
            &format!("/v1/organization/projects/{id}/api_keys"),
            "",
        )
        .await?;
        keys += list.len();
        key_pages += pages(list.len() as u64, DIRECTORY_PAGE);
    }
    Ok(Minimum {
        usage: (days as u64).div_ceil(USAGE_PAGE_DAYS),
        users: pages(users.len() as u64, DIRECTORY_PAGE),
        projects: project_pages,
        api_keys: project_pages + key_pages,
        organization: json!({ "users": users.len(), "projects": projects.len(), "api_keys": keys }),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_empty_list_takes_one_page() {
        assert_eq!(super::pages(0, 100), 1);
        assert_eq!(super::pages(100, 100), 1);
        assert_eq!(super::pages(101, 100), 2);
        assert_eq!(super::pages(1_000, 100), 10);
    }
}
