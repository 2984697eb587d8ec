//! `host-harness worker` processes started by `bench --scale`: each a child of the bench,
//! its stdout read on a thread (the `Metrics: http://…` line tells where its `/metrics`
//! is), its stderr in a log file shown when something goes wrong, its peak resident set
//! (`VmHWM`) and CPU time read from `/proc` while it lives. A worker still running when
//! its [`Worker`] is dropped (an error path) is SIGKILLed and reaped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use host_harness::secret::Secret;

pub struct Worker {
    pub name: String,
    child: Option<Child>,
    pub pid: u32,
    log: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

/// The value (kB) of `field` in `/proc/PID/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User + system CPU time of a process so far (`/proc/PID/stat`), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // (the command name, in parentheses, may hold spaces: count fields after it)
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks as f64 / 100.0)
}

/// CPU seconds of a process and its children, living (their own time) and reaped (the
/// time the kernel adds to the parent's `cutime`/`cstime`): a PostgreSQL server's
/// postmaster with its backends.
pub fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    let fields = |p: u32| -> Option<Vec<u64>> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        Some(
            rest.split_whitespace()
                .map(|f| f.parse::<u64>().unwrap_or(0))
                .collect(),
        )
    };
    let own = fields(pid)?;
    // (after the name: state 0, ppid 1, …, utime 11, stime 12, cutime 13, cstime 14)
    let mut ticks = own.get(11)? + own.get(12)? + own.get(13)? + own.get(14)?;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(f) = fields(child) {
            if f.get(1) == Some(&(pid as u64)) {
                ticks += f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0);
            }
        }
    }
    Some(ticks as f64 / 100.0)
}

impl Worker {
    /// Start `bin args…` (`RUST_LOG` removed, `env` added), its stderr to `log`.
    pub fn spawn(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: &Path,
    ) -> anyhow::Result<Worker> {
        let err = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut c = Command::new(bin);
        c.args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err);
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().context("no stdout")?;
        let sink = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Ok(Worker {
            name: name.to_string(),
            child: Some(child),
            pid,
            log: log.to_path_buf(),
            lines,
        })
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The end of its stderr, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Peak resident set so far (VmHWM), in bytes, while it runs.
    pub fn peak_rss(&self) -> Option<u64> {
        status_bytes(self.pid, "VmHWM:")
    }

    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.pid)
    }

    /// Whether it has exited (and then its status).
    fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        match &mut self.child {
            Some(c) => Ok(c.try_wait()?),
            None => bail!("{} was already reaped", self.name),
        }
    }

    fn fail(&self, what: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{}: {what}\nits stdout:\n{}\nthe end of its stderr:\n{}",
            self.name,
            self.stdout().join("\n"),
            self.log_tail()
        )
    }

    /// Until it prints its `/metrics` address (it has opened the store and started its
    /// pool); the address.
    pub async fn metrics_addr(&mut self, timeout: Duration) -> anyhow::Result<SocketAddr> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.stdout().iter().find_map(|l| {
                l.strip_prefix("Metrics: http://")?
                    .split('/')
                    .next()?
                    .parse()
                    .ok()
            });
            if let Some(addr) = found {
                return Ok(addr);
            }
            if let Some(st) = self.exited()? {
                return Err(self.fail(&format!("it exited ({st}) before it was ready")));
            }
            if Instant::now() > deadline {
                return Err(self.fail("it did not start in time"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Until its pool has catalogued `connections` connections (its `/metrics` shows the last
    /// success of each: the catalog read every schedule and history), i.e. it is idle and
    /// ready for the next due time.
    pub async fn wait_catalogued(
        &mut self,
        connections: usize,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let addr = self.metrics_addr(timeout).await?;
        let deadline = Instant::now() + timeout;
        let none = Secret::from_input("-");
        let mut seen = 0;
        loop {
            if let Ok((200, body)) = super::plain_http::get(addr, "/metrics", &none).await {
                seen = String::from_utf8_lossy(&body)
                    .lines()
                    .filter(|l| l.starts_with("host_harness_last_success_timestamp"))
                    .count();
                if seen >= connections {
                    return Ok(());
                }
            }
            if let Some(st) = self.exited()? {
                return Err(self.fail(&format!("it exited ({st}) before it was ready")));
            }
            if Instant::now() > deadline {
                return Err(self.fail(&format!(
                    "its pool saw {seen} of {connections} connections in {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait for it to exit by itself (`worker --once`); an error unless it exits 0.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.exited()? {
                self.child = None;
                if !st.success() {
                    return Err(self.fail(&format!("it exited with {st}")));
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.fail(&format!("it did not finish in {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL it, and reap it at once (a zombie would still look alive in /proc to the
    /// survivor's check of a lease owner).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop it the way an operator does (SIGTERM: running imports are marked interrupted),
    /// waiting up to `timeout`, then SIGKILL.
    pub async fn stop(&mut self, timeout: Duration) -> anyhow::Result<()> {
        if self.child.is_none() {
            return Ok(());
        }
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + timeout;
        while self.exited()?.is_none() {
            if Instant::now() > deadline {
                self.kill();
                return Err(self.fail(&format!("it did not stop within {timeout:?} of SIGTERM")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child = None;
        Ok(())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}
