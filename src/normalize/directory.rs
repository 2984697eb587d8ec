//! Directory pages (users, projects, project API keys) → one record per item, keyed by its
//! id. Every item needs a string `id`; its other fields are optional, Unix timestamps are
//! rendered as RFC 3339.

use serde::{Deserialize, Serialize};

use super::envelope::{parse_body, ListEnvelope, Text};
use super::{record, PayloadWriter, API_KEYS, PROJECTS, SCHEMA_VERSION, USERS};
use crate::model::{ConnectorError, NormalizedRecord, RawPage};
use crate::settings::Settings;
use crate::time::rfc3339;

type OptText<'a> = Option<Text<'a>>;

fn text<'r>(v: &'r OptText) -> Option<&'r str> {
    v.as_ref().map(|t| t.as_str())
}

/// An optional Unix timestamp as RFC 3339; item `i`'s `field` out of range is an error.
fn time(
    stream: &str,
    i: usize,
    field: &str,
    v: Option<i64>,
) -> Result<Option<String>, ConnectorError> {
    v.map(|t| {
        rfc3339(t).ok_or_else(|| {
            ConnectorError::provider_changed(
                stream,
                format!("data[{i}].{field}"),
                "timestamp out of range",
            )
        })
    })
    .transpose()
}

// ---------------------------------------------------------------------------------------
// users

/// `organization.user`.
#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(default, borrow)]
    name: OptText<'a>,
    #[serde(default, borrow)]
    email: OptText<'a>,
    #[serde(default, borrow)]
    role: OptText<'a>,
    #[serde(default)]
    added_at: Option<i64>,
}

#[derive(Serialize)]
struct UserPayload<'r> {
    user_id: &'r str,
    email: Option<&'r str>,
    name: Option<&'r str>,
    role: Option<&'r str>,
    added_at: Option<String>,
    schema_version: u32,
}

pub fn users(raw: &RawPage) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let page: ListEnvelope<User> = parse_body(USERS, &raw.body)?;
    let mut w = PayloadWriter::new();
    page.data
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let payload = w.write(&UserPayload {
                user_id: &u.id,
                email: text(&u.email),
                name: text(&u.name),
                role: text(&u.role),
                added_at: time(USERS, i, "added_at", u.added_at)?,
                schema_version: SCHEMA_VERSION,
            })?;
            Ok(record(USERS, &u.id, payload))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// projects

/// `organization.project`.
#[derive(Deserialize)]
struct Project<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(default, borrow)]
    name: OptText<'a>,
    #[serde(default, borrow)]
    status: OptText<'a>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    archived_at: Option<i64>,
}

#[derive(Serialize)]
struct ProjectPayload<'r> {
    project_id: &'r str,
    name: Option<&'r str>,
    status: Option<&'r str>,
    created_at: Option<String>,
    archived_at: Option<String>,
    is_codex_project: bool,
    schema_version: u32,
}

pub fn projects(
    raw: &RawPage,
    settings: &Settings,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let page: ListEnvelope<Project> = parse_body(PROJECTS, &raw.body)?;
    let mut w = PayloadWriter::new();
    page.data
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let payload = w.write(&ProjectPayload {
                project_id: &p.id,
                name: text(&p.name),
                status: text(&p.status),
                created_at: time(PROJECTS, i, "created_at", p.created_at)?,
                archived_at: time(PROJECTS, i, "archived_at", p.archived_at)?,
                is_codex_project: declared(&settings.codex_project_ids, &p.id),
                schema_version: SCHEMA_VERSION,
            })?;
            Ok(record(PROJECTS, &p.id, payload))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// api_keys

/// `organization.project.api_key`; its project is the page's scope.
#[derive(Deserialize)]
struct ApiKey<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(default, borrow)]
    name: OptText<'a>,
    #[serde(default, borrow)]
    redacted_value: OptText<'a>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    last_used_at: Option<i64>,
    #[serde(default, borrow)]
    owner: Option<Owner<'a>>,
}

/// `{"type":…,"user":{…},"service_account":{…}}`, every part optional.
#[derive(Deserialize)]
struct Owner<'a> {
    #[serde(default, borrow, rename = "type")]
    kind: OptText<'a>,
    #[serde(default, borrow)]
    user: Option<OwnerUser<'a>>,
    #[serde(default, borrow)]
    service_account: Option<ServiceAccount<'a>>,
}

#[derive(Deserialize)]
struct OwnerUser<'a> {
    #[serde(default, borrow)]
    id: OptText<'a>,
    #[serde(default, borrow)]
    email: OptText<'a>,
    #[serde(default, borrow)]
    name: OptText<'a>,
    #[serde(default, borrow)]
    role: OptText<'a>,
}

#[derive(Deserialize)]
struct ServiceAccount<'a> {
    #[serde(default, borrow)]
    id: OptText<'a>,
    #[serde(default, borrow)]
    name: OptText<'a>,
}

#[derive(Serialize)]
struct ApiKeyPayload<'r> {
    api_key_id: &'r str,
    project_id: Option<&'r str>,
    name: Option<&'r str>,
    redacted_value: Option<&'r str>,
    created_at: Option<String>,
    last_used_at: Option<String>,
    owner_type: Option<&'r str>,
    owner_user_id: Option<&'r str>,
    owner_email: Option<&'r str>,
    owner_name: Option<&'r str>,
    owner_role: Option<&'r str>,
    service_account_id: Option<&'r str>,
    service_account_name: Option<&'r str>,
    is_codex_key: bool,
    schema_version: u32,
}

pub fn api_keys(
    raw: &RawPage,
    settings: &Settings,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let page: ListEnvelope<ApiKey> = parse_body(API_KEYS, &raw.body)?;
    let mut w = PayloadWriter::new();
    page.data
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let owner = k.owner.as_ref();
            let user = owner.and_then(|o| o.user.as_ref());
            let svc = owner.and_then(|o| o.service_account.as_ref());
            let payload = w.write(&ApiKeyPayload {
                api_key_id: &k.id,
                project_id: raw.scope.as_deref(),
                name: text(&k.name),
                redacted_value: text(&k.redacted_value),
                created_at: time(API_KEYS, i, "created_at", k.created_at)?,
                last_used_at: time(API_KEYS, i, "last_used_at", k.last_used_at)?,
                owner_type: owner.and_then(|o| text(&o.kind)),
                owner_user_id: user.and_then(|u| text(&u.id)),
                owner_email: user.and_then(|u| text(&u.email)),
                owner_name: user.and_then(|u| text(&u.name)),
                owner_role: user.and_then(|u| text(&u.role)),
                service_account_id: svc.and_then(|s| text(&s.id)),
                service_account_name: svc.and_then(|s| text(&s.name)),
                is_codex_key: declared(&settings.codex_api_key_ids, &k.id),
                schema_version: SCHEMA_VERSION,
            })?;
            Ok(record(API_KEYS, &k.id, payload))
        })
        .collect()
}

/// Whether `id` is in the admin's sorted list of Codex ids.
fn declared(ids: &[String], id: &str) -> bool {
    ids.binary_search_by(|x| x.as_str().cmp(id)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;
    use serde_json::Value;

    fn settings() -> Settings {
        Settings::for_normalize("*codex*", &["proj_codex"], &["key_cli"])
    }

    fn raw(stream: &str, body: &str) -> RawPage {
        RawPage {
            stream: stream.into(),
            scope: Some("proj_1".into()),
            fetched_at: 1_700_050_000,
            body: body.into(),
        }
    }

    #[test]
    fn users() {
        let body = r#"{"object":"list","data":[{"object":"organization.user","id":"user_1","name":"Ada \"L\"","email":"ada@example.com","role":"owner","added_at":1700000000,"extra":true},
            {"id":"user_2","name":null}],"first_id":"user_1","last_id":"user_2","has_more":false}"#;
        let r = normalize(&raw(USERS, body), &settings()).unwrap();
        assert_eq!(r[0].key, [Some("user_1".to_string())]);
        assert_eq!(
            r[0].payload,
            r#"{"user_id":"user_1","email":"ada@example.com","name":"Ada \"L\"","role":"owner","added_at":"2023-11-14T22:13:20Z","schema_version":1}"#
        );
        assert_eq!(
            r[1].payload,
            r#"{"user_id":"user_2","email":null,"name":null,"role":null,"added_at":null,"schema_version":1}"#
        );
    }

    #[test]
    fn projects() {
        let body = r#"{"data":[{"id":"proj_codex","object":"organization.project","name":"Codex CLI","created_at":1711471533,"archived_at":null,"status":"active"},
            {"id":"proj_old","status":"archived","archived_at":1711471534}],"has_more":false}"#;
        let r = normalize(&raw(PROJECTS, body), &settings()).unwrap();
        assert_eq!(
            r[0].payload,
            r#"{"project_id":"proj_codex","name":"Codex CLI","status":"active","created_at":"2024-03-26T16:45:33Z","archived_at":null,"is_codex_project":true,"schema_version":1}"#
        );
        let p: Value = serde_json::from_str(&r[1].payload).unwrap();
        assert_eq!(p["is_codex_project"], false);
        assert_eq!(p["archived_at"], "2024-03-26T16:45:34Z");
        assert_eq!(r[1].key, [Some("proj_old".to_string())]);
    }

    #[test]
    fn api_keys_and_their_owners() {
        let body = r#"{"object":"list","data":[
            {"id":"key_cli","name":"ci","redacted_value":"sk-...abcd","created_at":1700000000,"last_used_at":null,
             "owner":{"type":"service_account","service_account":{"id":"svc_1","name":"bot","role":"member"}}},
            {"id":"key_u","owner":{"type":"user","user":{"object":"organization.user","id":"user_1","name":"Ada","email":"ada@example.com","role":"owner","added_at":1}}},
            {"id":"key_none","owner":null}],"has_more":false}"#;
        let r = normalize(&raw(API_KEYS, body), &settings()).unwrap();
        assert_eq!(
            r[0].payload,
            r#"{"api_key_id":"key_cli","project_id":"proj_1","name":"ci","redacted_value":"sk-...abcd","created_at":"2023-11-14T22:13:20Z","last_used_at":null,"owner_type":"service_account","owner_user_id":null,"owner_email":null,"owner_name":null,"owner_role":null,"service_account_id":"svc_1","service_account_name":"bot","is_codex_key":true,"schema_version":1}"#
        );
        let u: Value = serde_json::from_str(&r[1].payload).unwrap();
        assert_eq!(
            (
                &u["owner_type"],
                &u["owner_user_id"],
                &u["owner_email"],
                &u["owner_name"],
                &u["owner_role"]
            ),
            (
                &"user".into(),
                &"user_1".into(),
                &"ada@example.com".into(),
                &"Ada".into(),
                &"owner".into()
            )
        );
        assert_eq!(u["is_codex_key"], false);
        let n: Value = serde_json::from_str(&r[2].payload).unwrap();
        assert_eq!(n["owner_type"], Value::Null);
        // without a scope the project is null
        let mut unscoped = raw(API_KEYS, body);
        unscoped.scope = None;
        let r = normalize(&unscoped, &settings()).unwrap();
        let p: Value = serde_json::from_str(&r[0].payload).unwrap();
        assert_eq!(p["project_id"], Value::Null);
    }

    #[test]
    fn bad_items_name_the_field() {
        for (stream, body, at) in [
            (
                USERS,
                r#"{"data":[{"id":"u"},{"name":"no id"}]}"#,
                "data[1].id",
            ),
            (USERS, r#"{"data":[{"id":null}]}"#, "data[0].id"),
            (
                USERS,
                r#"{"data":[{"id":"u","added_at":"yesterday"}]}"#,
                "data[0].added_at",
            ),
            (
                USERS,
                r#"{"data":[{"id":"u","added_at":9223372036854775807}]}"#,
                "data[0].added_at",
            ),
            (
                PROJECTS,
                r#"{"data":[{"id":"p","archived_at":-9223372036854775808}]}"#,
                "data[0].archived_at",
            ),
            (
                API_KEYS,
                r#"{"data":[{"id":"k","owner":"me"}]}"#,
                "data[0].owner",
            ),
            (
                API_KEYS,
                r#"{"data":[{"id":"k","owner":{"user":{"email":3}}}]}"#,
                "data[0].owner.user.email",
            ),
            (API_KEYS, r#"{"items":[]}"#, "data"),
            (API_KEYS, "[]", "$"),
        ] {
            match normalize(&raw(stream, body), &settings()).unwrap_err() {
                ConnectorError::ProviderChanged {
                    stream: s, field, ..
                } => {
                    assert_eq!((s.as_str(), field.as_str()), (stream, at), "{body}")
                }
                e => panic!("{body}: {e:?}"),
            }
        }
    }

    #[test]
    fn an_empty_list_has_no_records() {
        for s in [USERS, PROJECTS, API_KEYS] {
            assert!(normalize(
                &raw(s, r#"{"object":"list","data":[],"has_more":false}"#),
                &settings()
            )
            .unwrap()
            .is_empty());
        }
    }
}
