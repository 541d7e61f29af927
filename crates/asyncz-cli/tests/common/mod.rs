//! Shared helpers of the store tests: the built binary, and the stores it is pointed at
//! (SQLite in a temporary directory always; PostgreSQL, Redis and MongoDB when their
//! `ASYNCZ_TEST_*_URL` is set), each written as an `asyncz.toml` the CLI reads with
//! `--config` and the test's own library scheduler reads through the same code.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asyncz::cluster::ClusterConfig;
use asyncz::Scheduler;

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Out {
    /// The exit code.
    pub code: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Out {
    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts `code` and a one-line `asyncz: error: ` on stderr, returned without prefix.
    pub fn fails(&self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let line = self
            .stderr
            .strip_prefix("asyncz: error: ")
            .unwrap_or_else(|| panic!("stderr: {:?}", self.stderr));
        assert_eq!(line.matches('\n').count(), 1, "one line: {:?}", self.stderr);
        line.trim_end().to_owned()
    }

    /// stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs the built binary (ASYNCZ_* variables of the environment removed).
pub fn asyncz(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_asyncz"))
        .args(args)
        .env_remove("ASYNCZ_STORE_URL")
        .env_remove("ASYNCZ_CONFIG")
        .env_remove("ASYNCZ_STORE_ENCRYPTION_KEY")
        .env_remove("ASYNCZ_WEB_TOKENS")
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// One store to test against: a config file, and the directory that holds it.
pub struct Backend {
    /// For messages.
    pub name: &'static str,
    /// Holds the config (and the SQLite database).
    pub dir: tempfile::TempDir,
    /// The `asyncz.toml`.
    pub config: PathBuf,
}

static SERIAL: AtomicUsize = AtomicUsize::new(0);

fn unique(test: &str) -> String {
    format!(
        "asyncz_cli_{}_{}_{}",
        test,
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    )
}

fn env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipping: {var} is not set (cargo xtask test-backends sets it)");
            None
        }
    }
}

impl Backend {
    fn with(name: &'static str, store_toml: String) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("asyncz.toml");
        std::fs::write(&config, format!("[asyncz.stores.default]\n{store_toml}")).unwrap();
        Backend { name, dir, config }
    }

    /// SQLite in a temporary directory.
    pub fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tasks.db");
        let config = dir.path().join("asyncz.toml");
        std::fs::write(
            &config,
            format!(
                "[asyncz.stores.default]\nurl = \"sqlite://{}\"\n",
                db.display()
            ),
        )
        .unwrap();
        Backend {
            name: "sqlite",
            dir,
            config,
        }
    }

    /// PostgreSQL, a table of its own.
    pub fn postgres(test: &str) -> Option<Backend> {
        let url = env("ASYNCZ_TEST_POSTGRES_URL")?;
        Some(Backend::with(
            "postgres",
            format!("url = \"{url}\"\ntablename = \"{}\"\n", unique(test)),
        ))
    }

    /// Redis, keys of its own.
    pub fn redis(test: &str) -> Option<Backend> {
        let url = env("ASYNCZ_TEST_REDIS_URL")?;
        let prefix = unique(test);
        Some(Backend::with(
            "redis",
            format!(
                "url = \"{url}\"\ntasks_key = \"{prefix}.tasks\"\nrun_times_key = \"{prefix}.run_times\"\n"
            ),
        ))
    }

    /// MongoDB, a database of its own.
    pub fn mongo(test: &str) -> Option<Backend> {
        let url = env("ASYNCZ_TEST_MONGO_URL")?;
        Some(Backend::with(
            "mongo",
            format!("url = \"{url}\"\ndatabase = \"{}\"\n", unique(test)),
        ))
    }

    /// The config path as an argument.
    pub fn config_arg(&self) -> &str {
        self.config.to_str().unwrap()
    }

    /// Runs the binary with `--config` of this store appended.
    pub fn cli(&self, args: &[&str]) -> Out {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.config_arg()]);
        asyncz(&all)
    }

    /// A library scheduler over the same store, built from the same config the CLI reads.
    pub fn scheduler(&self, cluster: Option<ClusterConfig>) -> Scheduler {
        let map = asyncz_cli::commands::store::read_config(self.config_arg()).unwrap();
        let mut builder = asyncz::builder().config(map);
        if let Some(cluster) = cluster {
            builder = builder.cluster(cluster);
        }
        builder.build().unwrap()
    }
}

/// Cluster settings for a node that answers quickly.
pub fn fast_node(id: &str) -> ClusterConfig {
    ClusterConfig::new()
        .node_id(id)
        .heartbeat_interval(std::time::Duration::from_millis(200))
        .node_timeout(std::time::Duration::from_secs(3))
        .poll_interval(std::time::Duration::from_millis(50))
}

/// Runs the binary off the async runtime (a node in the test process keeps running).
pub async fn cli_async(backend: &Backend, args: &[&str]) -> Out {
    let config = backend.config_arg().to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["--config", &config]);
        asyncz(&all)
    })
    .await
    .unwrap()
}

/// A running `asyncz serve` (killed when dropped).
pub struct Served {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Served {
    /// Starts `asyncz serve` over `backend` on a free port, accepting `token` as the admin
    /// `ops`, and waits for its banner.
    pub fn start(backend: &Backend, token: &str, extra: &[&str]) -> Served {
        let token = format!("ops:admin:{}", asyncz::web::hash_token(token));
        let mut child = Command::new(env!("CARGO_BIN_EXE_asyncz"))
            .args([
                "serve",
                "--config",
                backend.config_arg(),
                "--bind",
                "127.0.0.1:0",
            ])
            .args(["--token", &token])
            .args(extra)
            .env_remove("ASYNCZ_WEB_TOKENS")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("serving on http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("banner: {line:?}"))
            .to_owned();
        Served {
            child,
            stdout,
            addr,
        }
    }

    /// One request with a bearer token (or none); the status and the JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let text = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let value =
            serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_owned()));
        (status, value)
    }

    /// SIGTERM; the exit code and what it printed after the banner.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut rest = String::new();
                self.stdout.read_to_string(&mut rest).unwrap();
                return (status.code(), rest);
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
