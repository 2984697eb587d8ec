//! Component glue (wasm32 only): the `connector` export, the instance state (the settings
//! `configure` accepted) and logging. Conversions are in `convert`, the wasi:http transport
//! in `http`, the generated bindings in `bindings`.

mod bindings;
mod convert;
mod http;

use std::cell::RefCell;

use bindings::analytics::connector::host_log::{self, Level};
use bindings::analytics::connector::types as wit;
use bindings::exports::analytics::connector::connector::Guest;

use crate::model::ConnectorError;
use crate::settings::{self, Settings};

thread_local! {
    /// What `configure` accepted; a component instance has one thread.
    static SETTINGS: RefCell<Option<Settings>> = const { RefCell::new(None) };
}

fn configured() -> Result<Settings, wit::ConnectorError> {
    SETTINGS.with(|s| s.borrow().clone()).ok_or_else(|| {
        convert::error(ConnectorError::Internal(
            "call configure before this function".into(),
        ))
    })
}

pub(crate) struct Component;

impl Guest for Component {
    fn describe() -> wit::ConnectorInfo {
        convert::connector_info(crate::describe::describe())
    }

    fn configure(input: Vec<wit::Setting>) -> Result<wit::Configured, wit::ConnectorError> {
        let (accepted, configured) =
            settings::configure(&convert::settings(input)).map_err(convert::error)?;
        SETTINGS.with(|s| *s.borrow_mut() = Some(accepted));
        Ok(wit::Configured {
            notes: configured.notes,
            origins: convert::origins(&configured.origins),
        })
    }

    fn validate_credentials() -> Result<wit::CredentialReport, wit::ConnectorError> {
        let s = configured()?;
        crate::streams::validate(&mut http::WasiTransport, &s)
            .map(convert::credential_report)
            .map_err(convert::error)
    }

    fn pull_page(
        stream: String,
        checkpoint: Option<String>,
        cursor: Option<String>,
    ) -> Result<wit::Page, wit::ConnectorError> {
        let s = configured()?;
        let p = crate::streams::pull_page(
            &mut http::WasiTransport,
            &s,
            &stream,
            checkpoint.as_deref(),
            cursor.as_deref(),
        )
        .map_err(convert::error)?;
        host_log::log(
            Level::Debug,
            &format!(
                "{stream}: page of {} bytes, more: {}",
                p.raw.body.len(),
                p.next_cursor.is_some()
            ),
        );
        Ok(convert::page(p))
    }

    fn normalize(raw: wit::RawPage) -> Result<Vec<wit::NormalizedRecord>, wit::ConnectorError> {
        let s = configured()?;
        crate::normalize::normalize(&convert::raw_page(raw), &s)
            .map(|records| records.into_iter().map(convert::record).collect())
            .map_err(convert::error)
    }
}
