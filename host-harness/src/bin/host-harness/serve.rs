//! `serve`: the settings page and the scheduler; with `--demo`, the OpenAI mock beside it.

use std::path::PathBuf;

use host_harness::runner::HostError;
use host_harness::secret::Secret;
use openai_mock::{MockConfig, MockServer};

use crate::args::ServeArgs;
use crate::mock::{bind_error, write_private};

pub async fn run(args: ServeArgs) -> Result<(), HostError> {
    let admin_password = match &args.admin_password_env {
        Some(var) => Some(crate::setup::secret_from_env("--admin-password-env", var)?),
        None => None,
    };
    let (mut db, store_options) = crate::setup::location(&args.store);
    let mut component = args.component.clone();
    let mut mock = None;
    if args.demo {
        // The mock's default admin key is fixed by its seed, so a demo store saved earlier
        // keeps working when the demo restarts on another port.
        let config = MockConfig::default();
        let project_key = config.admin_key.replacen("sk-admin-", "sk-proj-", 1);
        let config = MockConfig {
            project_key: Some(project_key.clone()),
            ..config
        };
        let admin_key = config.admin_key.clone();
        let server = MockServer::start(config).await?;
        if db == host_harness::store::Location::Sqlite(PathBuf::from("codex-connector.db")) {
            db = host_harness::store::Location::Sqlite(PathBuf::from("codex-connector-demo.db"));
        }
        let keys = match &db {
            host_harness::store::Location::Sqlite(p) => p.with_extension("keys.txt"),
            host_harness::store::Location::Postgres(_) => {
                PathBuf::from("codex-connector-demo.keys.txt")
            }
        };
        write_private(
            &keys,
            &format!(
                "# Keys the demo mock accepts; paste one into API Token on the settings page.\nadmin:   {admin_key}\nproject: {project_key}   (a project key: refused, with what to do)\n"
            ),
        )?;
        println!(
            "Demo: OpenAI API mock on {} ({})",
            server.base_url(),
            server.dataset_summary()
        );
        println!(
            "Demo keys ({} and {}) are in {}",
            Secret::from_input(&admin_key).redacted(),
            Secret::from_input(&project_key).redacted(),
            keys.display()
        );
        component
            .redirects
            .push(format!("api.openai.com={}", server.base_url()));
        mock = Some(server);
    }
    let harness = crate::setup::harness(&component).await?;
    let opts = host_harness::serve::ServeOptions {
        db,
        store: store_options,
        listen: args.listen,
        schedule: host_harness::scheduler::ScheduleConfig {
            every: args.every,
            ..Default::default()
        },
        workers: args.workers,
        admin_password: admin_password.map(|p| p.expose().to_string()),
    };
    let served = host_harness::serve::run(harness, opts).await.map_err(|e| {
        if crate::mock::addr_in_use(&e) {
            bind_error(e, args.listen, "--listen")
        } else {
            HostError::new("usage", format!("{e:#}"))
        }
    });
    if let Some(m) = mock {
        m.shutdown().await;
    }
    served
}
