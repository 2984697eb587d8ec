//! A throw-away PostgreSQL server for `bench --scale`: Debian's package (`postgresql`), its
//! own data directory in a temporary directory, a free loopback port — the approach of the
//! tests' server (`tests/common/postgres.rs`), but reporting a missing installation as an
//! error the bench turns into "skipped", never a panic.
//!
//! Stopping it: [`PgServer`]'s `Drop` stops the server (`pg_ctl stop -m immediate`) and
//! removes the directory. In case the bench itself is killed (nothing of it runs then), a
//! **watcher** (`sh`, its stdin a pipe from the bench) does the same when the pipe closes,
//! which the kernel does however the bench ends.
//!
//! PostgreSQL refuses to run as root: as root, every server command runs as the `postgres`
//! user (`runuser`), which owns the directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};

pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    pg_ctl: PathBuf,
    watcher: Option<Child>,
}

/// The directory of the PostgreSQL programs (the newest installed version), or why not.
pub fn bin_dir() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; apt-get install -y postgresql, as .ci/run does)"
            .to_string()
    })
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `program args…`, as the `postgres` user when this process is root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) -> anyhow::Result<()> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .with_context(|| what.to_string())?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `'…'` for sh.
fn sh_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl PgServer {
    /// Start a server in a new directory (`bin` from [`bin_dir`]).
    pub fn start(bin: &Path) -> anyhow::Result<PgServer> {
        let dir = tempfile::Builder::new()
            .prefix("host-harness-bench-pg-")
            .tempdir()
            .context("cannot create the server's directory")?
            .keep();
        let mut server = PgServer {
            port: 0,
            dir: dir.clone(),
            pg_ctl: bin.join("pg_ctl"),
            watcher: None,
        };
        if is_root() {
            let mut c = Command::new("chown");
            c.arg("postgres:").arg(&dir);
            run(c, "chown the server's directory to postgres")?;
        }
        let data = dir.join("data");
        let mut initdb = as_postgres(&bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ]);
        run(initdb, "initdb")?;
        // The watcher first: from here on, however the bench ends, the server is stopped.
        let stop = format!(
            "{}{} -D {} stop -m immediate",
            if is_root() {
                "runuser -u postgres -- "
            } else {
                ""
            },
            sh_word(&server.pg_ctl.to_string_lossy()),
            sh_word(&data.to_string_lossy())
        );
        let script = format!(
            "cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf {}",
            sh_word(&dir.to_string_lossy())
        );
        server.watcher = Some(
            Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start the server's watcher")?,
        );
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let mut c = as_postgres(&server.pg_ctl);
            c.arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                    dir.display()
                ))
                .args(["-w", "-t", "60", "start"]);
            let out = c
                .stdin(Stdio::null())
                .output()
                .context("cannot run pg_ctl")?;
            if out.status.success() {
                server.port = port;
                return Ok(server);
            }
            last = format!(
                "{}{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            );
        }
        bail!("the PostgreSQL server did not start: {last}")
    }

    /// CPU seconds of the server so far (the postmaster and its backends).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let pid_file =
            std::fs::read_to_string(self.dir.join("data").join("postmaster.pid")).ok()?;
        let pid: u32 = pid_file.lines().next()?.trim().parse().ok()?;
        super::workers::tree_cpu_seconds(pid)
    }

    /// A new, empty database on the server, as a `postgres://` URL.
    pub async fn database(&self, name: &str) -> anyhow::Result<String> {
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .context("cannot connect to the bench's PostgreSQL server")?;
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .context("cannot create the bench's database")?;
        drop(client);
        let _ = task.await;
        Ok(format!(
            "postgres://postgres@127.0.0.1:{}/{name}",
            self.port
        ))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.port != 0 {
            let mut c = as_postgres(&self.pg_ctl);
            c.arg("-D")
                .arg(self.dir.join("data"))
                .args(["stop", "-m", "immediate"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = c.status();
        }
        if let Some(mut w) = self.watcher.take() {
            // Closing its stdin lets it finish: stop (again, harmlessly) and remove the directory.
            drop(w.stdin.take());
            let _ = w.wait();
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
