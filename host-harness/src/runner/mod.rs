//! Runs a connector the way the platform does: load and describe it, check and save its
//! settings, validate its credentials, and sync its streams ([`sync`]). Nothing here knows
//! which connector it runs: forms, capabilities, origins and advice come from the
//! connector's own description and errors.

mod check;
pub mod error;
mod normalizers;
mod pipeline;
pub mod progress;
mod pull;
pub mod retry;
pub mod settings;
mod sync;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

pub use error::{body_over_cap, class_name, connector_error, HostError};

/// A connection's stored settings (non-secret) and secrets, as one consistent snapshot.
pub type Stored = (Vec<wit::Setting>, BTreeMap<String, Secret>);
pub use progress::{Progress, ProgressTx};
pub use retry::RetryPolicy;
pub use sync::SyncOptions;

use crate::bindings::v0_2::types as wit;
use crate::origin::Origin;
use crate::policy::secrets::{SecretRule, SessionSecrets};
use crate::policy::Policy;
use crate::redact::Redactor;
use crate::sandbox::{CallError, Sandbox, Session, SessionSpec};
use crate::secret::Secret;
use crate::store::{Connection, NewConnection, Store, DEFAULT_CONNECTION};

/// How the harness is set up: which component, what policy and limits.
#[derive(Clone, Debug)]
pub struct HarnessConfig {
    pub component: PathBuf,
    pub policy: Policy,
    pub retry: RetryPolicy,
    /// Pages one stream may return in one run before the run is stopped.
    pub max_pages_per_stream: u64,
}

impl HarnessConfig {
    pub fn new(component: PathBuf) -> Self {
        HarnessConfig {
            component,
            policy: Policy::default(),
            retry: RetryPolicy::default(),
            max_pages_per_stream: 10_000,
        }
    }
}

/// The loaded connector plus the host's policy: what a platform keeps per connector.
pub struct Harness {
    sandbox: Sandbox,
    info: wit::ConnectorInfo,
    declared: Vec<Origin>,
    rules: Vec<SecretRule>,
    policy: Arc<Policy>,
    config: HarnessConfig,
}

/// Settings a connector accepted (not yet stored, nor checked live).
#[derive(Debug, Clone)]
pub struct Checked {
    /// The non-secret settings, typed.
    pub settings: Vec<wit::Setting>,
    pub secrets: BTreeMap<String, Secret>,
    /// The connector's notes (redacted).
    pub notes: Vec<String>,
    /// The origins this configuration calls.
    pub origins: Vec<Origin>,
}

/// Outcome of a successful save.
#[derive(Debug, Serialize)]
pub struct Saved {
    pub notes: Vec<String>,
    /// Each secret's redacted form, by key.
    pub secrets: BTreeMap<String, String>,
    pub origins: Vec<String>,
}

impl Harness {
    /// Load the component, describe it, and check what it declares: its origins and, for
    /// each secret field, where the secret may go.
    pub async fn load(config: HarnessConfig) -> anyhow::Result<Harness> {
        let sandbox = Sandbox::load_default(&config.component)?;
        let policy = Arc::new(config.policy.clone());
        // describe() is static: ask a throw-away instance that may call nowhere.
        let mut probe = sandbox
            .session(SessionSpec {
                policy: policy.clone(),
                secrets: SessionSecrets::none(),
                redactor: Redactor::default(),
                context: "describe".into(),
            })
            .await?;
        let info = probe
            .describe()
            .await
            .map_err(|e| anyhow::anyhow!("describe failed: {e}"))?;
        let declared = settings::declared_origins(&info).map_err(anyhow::Error::msg)?;
        let rules = settings::secret_rules(&info, &declared).map_err(anyhow::Error::msg)?;
        Ok(Harness {
            sandbox,
            info,
            declared,
            rules,
            policy,
            config,
        })
    }

    pub fn info(&self) -> &wit::ConnectorInfo {
        &self.info
    }

    /// The connector id: the key of everything it stores.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub fn config(&self) -> &HarnessConfig {
        &self.config
    }

    pub fn declared_origins(&self) -> &[Origin] {
        &self.declared
    }

    /// The secret fields' keys.
    pub fn secret_keys(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.key.clone()).collect()
    }

    /// A redactor for `secrets`.
    pub fn redactor(secrets: &BTreeMap<String, Secret>) -> Redactor {
        Redactor::new(secrets.values())
    }

    /// A fresh instance holding `secrets`, not yet configured.
    pub async fn session(
        &self,
        secrets: &BTreeMap<String, Secret>,
        context: &str,
    ) -> Result<Session, HostError> {
        let redactor = Self::redactor(secrets);
        let session_secrets = SessionSecrets::new(self.rules.clone(), secrets)
            .map_err(|e| HostError::new("internal", e.to_string()))?;
        self.sandbox
            .session(SessionSpec {
                policy: self.policy.clone(),
                secrets: session_secrets,
                redactor: redactor.clone(),
                context: context.to_string(),
            })
            .await
            .map_err(|e| HostError::new("sandbox", redactor.redact(&format!("{e:#}"))))
    }

    /// Configure `session` with `settings` (non-secret) and the shapes of `secrets`, and
    /// set its allow-list from the origins the connector returned. `host_problems` (the
    /// host's own findings about the secret values) are reported with the connector's.
    async fn configure_session(
        &self,
        session: &mut Session,
        settings: &[wit::Setting],
        secrets: &BTreeMap<String, Secret>,
        redactor: &Redactor,
        host_problems: Vec<wit::FieldError>,
    ) -> Result<(Vec<String>, Vec<Origin>), HostError> {
        let mut all = settings.to_vec();
        all.extend(settings::shapes(&self.info, secrets)?);
        let answer = session.configure(&all).await;
        let answer = answer.map(|a| settings::with_host_problems(a, host_problems));
        let configured = match answer {
            Err(e) => return Err(call_error(&e, redactor)),
            Ok(Err(e)) => {
                let (class, message) = connector_error(&e);
                return Err(HostError::new(&class, redactor.redact(&message)));
            }
            Ok(Ok(c)) => c,
        };
        let origins = settings::configured_origins(&configured.origins, &self.declared)
            .map_err(|m| HostError::new("sandbox", redactor.redact(&m)))?;
        session.allow(origins.clone());
        let notes = configured
            .notes
            .iter()
            .map(|n| redactor.redact(n))
            .collect();
        Ok((notes, origins))
    }

    /// Check settings with the connector (locally, no network): all problems at once.
    pub async fn check(
        &self,
        values: &[(String, String)],
        secrets: BTreeMap<String, Secret>,
    ) -> Result<Checked, HostError> {
        let settings = settings::typed(&self.info, values)?;
        let problems = settings::secret_problems(&self.info, &self.rules, &secrets);
        let redactor = Self::redactor(&secrets);
        let mut session = self.session(&secrets, "configure").await?;
        let (notes, origins) = self
            .configure_session(&mut session, &settings, &secrets, &redactor, problems)
            .await?;
        Ok(Checked {
            settings,
            secrets,
            notes,
            origins,
        })
    }

    /// The connection `id`, checked against this connector: the default connection is
    /// created (with this component) the first time it is needed; another id must have been
    /// added. A connection whose data came from another connector is refused.
    pub async fn connection(&self, store: &Store, id: &str) -> Result<Connection, HostError> {
        crate::store::check_connection_id(id).map_err(|m| HostError::new("usage", m))?;
        let found = match store.connection(id).await? {
            Some(c) => c,
            None if id == DEFAULT_CONNECTION => {
                store
                    .ensure_connection(&NewConnection {
                        id: id.to_string(),
                        name: self.info.name.clone(),
                        component: self.config.component.display().to_string(),
                        connector: Some(self.id().to_string()),
                    })
                    .await?
            }
            None => {
                return Err(
                    HostError::new("usage", format!("there is no connection {id}")).with_hint(
                        format!(
                            "Add it first: host-harness connections add {id} [--component PATH]"
                        ),
                    ),
                )
            }
        };
        match &found.connector {
            Some(c) if c != self.id() => Err(HostError::new(
                "usage",
                format!(
                    "the connection {id} holds the data of the {c} connector; the component loaded is the {} connector",
                    self.id()
                ),
            )
            .with_hint("Pass the connection's own component (or none: its component is used), or use another connection.")),
            Some(_) => Ok(found),
            None => {
                store.set_connector(id, self.id()).await?;
                Ok(Connection {
                    connector: Some(self.id().to_string()),
                    ..found
                })
            }
        }
    }

    /// Save checked settings for `connection`.
    pub async fn save(
        &self,
        store: &Store,
        connection: &str,
        checked: &Checked,
    ) -> Result<Saved, HostError> {
        self.connection(store, connection).await?;
        store
            .save_configuration(connection, &checked.settings, &checked.secrets)
            .await
            .map_err(store_error)?;
        Ok(Saved {
            notes: checked.notes.clone(),
            secrets: checked
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), v.redacted()))
                .collect(),
            origins: checked.origins.iter().map(|o| o.to_string()).collect(),
        })
    }

    /// Check and save, without a live check (for offline set-up).
    pub async fn configure(
        &self,
        store: &Store,
        connection: &str,
        values: &[(String, String)],
        secrets: BTreeMap<String, Secret>,
    ) -> Result<Saved, HostError> {
        self.connection(store, connection).await?;
        let checked = self.check(values, secrets).await?;
        self.save(store, connection, &checked).await
    }

    /// Check, validate live, and save only when every configured capability is granted.
    /// On a denied capability nothing is saved, and the report says why.
    pub async fn configure_validated(
        &self,
        store: &Store,
        connection: &str,
        values: &[(String, String)],
        secrets: BTreeMap<String, Secret>,
    ) -> Result<(Option<Saved>, wit::CredentialReport), HostError> {
        self.connection(store, connection).await?;
        let checked = self.check(values, secrets).await?;
        let report = self.validate_checked(&checked).await?;
        if !report.ok {
            return Ok((None, report));
        }
        Ok((Some(self.save(store, connection, &checked).await?), report))
    }

    /// Live check of settings that are not saved.
    pub async fn validate_checked(
        &self,
        checked: &Checked,
    ) -> Result<wit::CredentialReport, HostError> {
        let redactor = Self::redactor(&checked.secrets);
        let mut session = self.session(&checked.secrets, "validate").await?;
        self.configure_session(
            &mut session,
            &checked.settings,
            &checked.secrets,
            &redactor,
            Vec::new(),
        )
        .await?;
        self.validate_session(&mut session, &redactor).await
    }

    async fn validate_session(
        &self,
        session: &mut Session,
        redactor: &Redactor,
    ) -> Result<wit::CredentialReport, HostError> {
        let result = session.validate_credentials().await;
        // A check that could not reach the provider says nothing about the credentials.
        if let Some(u) = session.take_unreachable() {
            let via = u
                .via
                .map(|v| format!(" (redirected to {v})"))
                .unwrap_or_default();
            return Err(HostError::new(
                "network",
                redactor.redact(&format!("could not reach {}{via}: {}", u.origin, u.what)),
            ));
        }
        match (result, session.take_oversize()) {
            (Err(e), _) => Err(call_error(&e, redactor)),
            (Ok(Err(_)), Some(cap)) => Err(body_over_cap(cap)),
            (Ok(Err(e)), None) => {
                let (class, message) = connector_error(&e);
                Err(HostError::new(&class, redactor.redact(&message)))
            }
            (Ok(Ok(report)), _) => Ok(redact_report(report, redactor)),
        }
    }

    /// The stored settings and secrets of `connection` (one consistent snapshot), or
    /// `not-configured`.
    pub async fn stored(&self, store: &Store, connection: &str) -> Result<Stored, HostError> {
        store
            .configuration(connection)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                HostError::new(
                    "not-configured",
                    format!("nothing is saved for the {} connector yet", self.info.name),
                )
            })
    }

    /// A fresh instance configured with stored settings (see [`Harness::stored`]; read
    /// before awaiting, so the future does not hold the store).
    pub async fn configured_session(
        &self,
        (settings, secrets): Stored,
        context: &str,
    ) -> Result<(Session, Redactor), HostError> {
        let redactor = Self::redactor(&secrets);
        let mut session = self.session(&secrets, context).await?;
        self.configure_session(&mut session, &settings, &secrets, &redactor, Vec::new())
            .await?;
        Ok((session, redactor))
    }

    /// Live check of the stored settings of `connection`.
    pub async fn validate(
        &self,
        store: &Store,
        connection: &str,
    ) -> Result<wit::CredentialReport, HostError> {
        self.connection(store, connection).await?;
        let stored = self.stored(store, connection).await?;
        let (mut session, redactor) = self.configured_session(stored, "validate").await?;
        self.validate_session(&mut session, &redactor).await
    }

    /// The label of a capability, from the connector's description.
    pub fn capability_label(&self, name: &str) -> String {
        self.info
            .capabilities
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.label.clone())
            .unwrap_or_else(|| name.to_string())
    }
}

/// Every string of a credential report, redacted.
fn redact_report(mut r: wit::CredentialReport, redactor: &Redactor) -> wit::CredentialReport {
    for c in &mut r.capabilities {
        c.message = redactor.redact(&c.message);
        c.name = redactor.redact(&c.name);
    }
    r.organization = r.organization.map(|o| redactor.redact(&o));
    r.notes = r.notes.iter().map(|n| redactor.redact(n)).collect();
    r
}

/// A store failure as the host reports it: a wrong or missing secret key is a usage error
/// that says how to pass the right one; a run whose lease was taken over was interrupted.
pub fn store_error(e: anyhow::Error) -> HostError {
    HostError::from(e)
}

pub(crate) fn call_error(e: &CallError, redactor: &Redactor) -> HostError {
    HostError::new("sandbox", redactor.redact(&e.to_string()))
}

pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}
