//! A throw-away PostgreSQL server for the tests: Debian's package (`postgresql`), its own
//! data directory under the temporary directory, a free loopback port, and its socket in
//! that directory. One server per test binary (started on first use), one database per test
//! ([`database`]).
//!
//! Stopping it: a `static` is never dropped, so nothing in this process can be relied on
//! to run at exit (and a test binary killed by a signal runs nothing at all). Instead, the
//! server comes with a **watcher**: a small `sh` process whose standard input is a pipe
//! from this process. The pipe's write end lives in the `static` and is closed by the
//! kernel when this process ends, however it ends; the watcher's `cat` then sees the end of
//! its input, stops the server (`pg_ctl stop -m immediate`) and removes the directory. So a
//! test run leaves no postgres process behind, even when it is killed.
//!
//! PostgreSQL refuses to run as root: as root, every server command runs as the `postgres`
//! user (`runuser`), which owns the directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    /// The watcher, whose stdin (held here) keeps the server alive.
    _watcher: Mutex<Child>,
}

/// The directory of the PostgreSQL programs (the newest installed version).
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql, as .ci/run does")
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

fn run(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `'…'` for sh.
fn sh_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The server of this test binary, started on first use.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn start() -> Server {
    let bin = bin_dir();
    let dir = tempfile::Builder::new()
        .prefix("hh-pg-")
        .tempdir()
        .unwrap()
        .keep();
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:").arg(&dir);
                c
            },
            "chown the server's directory to postgres",
        );
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
    run(initdb, "initdb");
    // The watcher first: from here on, however this process ends, the server is stopped.
    let pg_ctl = bin.join("pg_ctl");
    let stop = if is_root() {
        format!(
            "runuser -u postgres -- {} -D {} stop -m immediate",
            sh_word(&pg_ctl.to_string_lossy()),
            sh_word(&data.to_string_lossy())
        )
    } else {
        format!(
            "{} -D {} stop -m immediate",
            sh_word(&pg_ctl.to_string_lossy()),
            sh_word(&data.to_string_lossy())
        )
    };
    let script = format!(
        "cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf {}",
        sh_word(&dir.to_string_lossy())
    );
    let watcher = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server's watcher");
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port();
        let mut c = as_postgres(&pg_ctl);
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
        let out = c.stdin(Stdio::null()).output().expect("run pg_ctl");
        if out.status.success() {
            return Server {
                port,
                dir,
                _watcher: Mutex::new(watcher),
            };
        }
        last = format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }
    panic!("the test PostgreSQL server did not start: {last}");
}

/// A new, empty database on the test server, as a `postgres://` URL.
pub async fn database() -> String {
    let s = server();
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        host_harness::random::hex(3).unwrap()
    );
    let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", s.port);
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    drop(client);
    let _ = task.await;
    format!("postgres://postgres@127.0.0.1:{}/{name}", s.port)
}
