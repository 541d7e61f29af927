//! `cargo xtask test-backends`: runs the store conformance suites and the scheduler's
//! persistence tests against every backend, then prints a table (backend, passed, failed) and
//! fails on any failure or unreachable backend — CI never silently skips one.
//!
//! Servers: with a Docker engine and no `ASYNCZ_TEST_*_URL` set, real `postgres`, `mariadb`,
//! `redis` and `mongo` containers start from `xtask/compose.yml` (waiting until healthy);
//! otherwise the `ASYNCZ_TEST_*_URL` variables, or the machine's local servers at their default
//! ports (DESIGN.md section 8), are used.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Backend {
    name: &'static str,
    /// `cargo test` arguments.
    args: &'static [&'static str],
    /// The URL variable the tests read, with the local default and the compose default.
    env: Option<(&'static str, &'static str, &'static str)>,
}

const BACKENDS: &[Backend] = &[
    Backend {
        name: "memory",
        args: &["-p", "asyncz-stores-memory"],
        env: None,
    },
    Backend {
        name: "file",
        args: &["-p", "asyncz-stores-file"],
        env: None,
    },
    Backend {
        name: "sqlite",
        args: &[
            "-p",
            "asyncz-stores-sql",
            "--test",
            "conformance",
            "--test",
            "cluster",
            "--",
            "sqlite",
        ],
        env: None,
    },
    Backend {
        name: "postgres",
        args: &[
            "-p",
            "asyncz-stores-sql",
            "--test",
            "conformance",
            "--test",
            "cluster",
            "--",
            "postgres",
        ],
        env: Some((
            "ASYNCZ_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://postgres@127.0.0.1:55432/test",
        )),
    },
    Backend {
        name: "mysql",
        args: &[
            "-p",
            "asyncz-stores-sql",
            "--test",
            "conformance",
            "--test",
            "cluster",
            "--",
            "mysql",
        ],
        env: Some((
            "ASYNCZ_TEST_MYSQL_URL",
            "mysql://root@127.0.0.1:3306/test",
            "mysql://root@127.0.0.1:53306/test",
        )),
    },
    Backend {
        name: "redis",
        args: &["-p", "asyncz-stores-redis"],
        env: Some((
            "ASYNCZ_TEST_REDIS_URL",
            "redis://127.0.0.1:6379",
            "redis://127.0.0.1:56379",
        )),
    },
    Backend {
        name: "mongo",
        args: &["-p", "asyncz-stores-mongo"],
        env: Some((
            "ASYNCZ_TEST_MONGO_URL",
            "mongodb://127.0.0.1:27017",
            "mongodb://127.0.0.1:57017",
        )),
    },
    Backend {
        name: "scheduler",
        args: &[
            "-p",
            "asyncz",
            "--features",
            "full",
            "--test",
            "scheduler",
            "--",
            "persistence",
        ],
        env: None,
    },
];

fn docker_available() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `host:port` of a URL like `scheme://user:pass@host:port/db`.
fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let authority = rest.split(['/', '?']).next()?;
    Some(authority.to_owned())
}

fn reachable(url: &str) -> bool {
    let Some(addr) = host_port(url) else {
        return false;
    };
    let Ok(mut addrs) = addr.to_socket_addrs() else {
        return false;
    };
    addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

/// Starts the MongoDB-wire-compatible server from PyPI (`secantusdb`, DESIGN.md section 8)
/// when it is installed (`secantusd-py` on the PATH) and waits until it answers.
fn start_local_mongo(url: &str) {
    let Some(addr) = host_port(url) else { return };
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "27017"));
    eprintln!("$ secantusd-py --host {host} --port {port} --storage-path :memory: &");
    let started = Command::new("secantusd-py")
        .args(["--host", host, "--port", port, "--storage-path", ":memory:"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if started.is_err() {
        eprintln!("secantusd-py is not installed (pip install secantusdb==0.7.0b3)");
        return;
    }
    for _ in 0..50 {
        if reachable(url) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sums the store-suite report lines (`sqlite (encrypted): 14 passed, 0 failed, 0 skipped`).
fn suite_cases(output: &str) -> (u64, u64) {
    let (mut passed, mut failed) = (0, 0);
    for line in output.lines() {
        let Some((_, counts)) = line.split_once(": ") else {
            continue;
        };
        let parts: Vec<&str> = counts.split(", ").collect();
        if parts.len() != 3 || !parts[2].ends_with(" skipped") {
            continue;
        }
        let number = |part: &str, word: &str| {
            part.strip_suffix(word)
                .and_then(|n| n.trim().parse::<u64>().ok())
        };
        if let (Some(p), Some(f)) = (number(parts[0], " passed"), number(parts[1], " failed")) {
            passed += p;
            failed += f;
        }
    }
    (passed, failed)
}

/// Sums the `test result:` lines of a cargo test run; notes a skipped suite.
fn tally(output: &str) -> (u64, u64, bool) {
    let (mut passed, mut failed) = (0, 0);
    for line in output.lines().filter(|l| l.starts_with("test result:")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let n = pair[0].trim_end_matches(';').parse::<u64>().unwrap_or(0);
            match pair[1].trim_end_matches(';') {
                "passed" => passed += n,
                "failed" => failed += n,
                _ => {}
            }
        }
    }
    (passed, failed, output.contains("skipping:"))
}

pub(crate) fn run(args: &[&str]) -> bool {
    if args.contains(&"--list") {
        for b in BACKENDS {
            println!("{}", b.name);
        }
        return true;
    }
    let mut wanted: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--backend" => match it.next() {
                Some(name) => wanted.push(name),
                None => {
                    eprintln!("--backend needs a name (see --list)");
                    return false;
                }
            },
            other => {
                eprintln!("unknown option '{other}' (expected --backend NAME or --list)");
                return false;
            }
        }
    }
    for name in &wanted {
        if !BACKENDS.iter().any(|b| b.name == *name) {
            eprintln!("unknown backend '{name}' (see --list)");
            return false;
        }
    }
    let selected: Vec<&Backend> = BACKENDS
        .iter()
        .filter(|b| wanted.is_empty() || wanted.contains(&b.name))
        .collect();

    let any_unset = selected
        .iter()
        .filter_map(|b| b.env)
        .any(|(var, _, _)| std::env::var(var).map_or(true, |v| v.is_empty()));
    let compose = root().join("xtask/compose.yml");
    let use_docker = any_unset && docker_available();
    if use_docker {
        eprintln!("$ docker compose -f {} up -d --wait", compose.display());
        let up = Command::new("docker")
            .args(["compose", "-f"])
            .arg(&compose)
            .args(["up", "-d", "--wait"])
            .status();
        if !up.is_ok_and(|s| s.success()) {
            eprintln!("docker compose could not start the servers");
            return false;
        }
    }

    let mut rows = Vec::new();
    for backend in selected {
        let mut command =
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
        command.current_dir(root()).arg("test").args(backend.args);
        if !backend.args.contains(&"--") {
            command.arg("--");
        }
        command.arg("--nocapture");
        if let Some((var, local, docker)) = backend.env {
            let url = match std::env::var(var) {
                Ok(v) if !v.is_empty() => v,
                _ if use_docker => docker.to_owned(),
                _ => local.to_owned(),
            };
            if !reachable(&url) && backend.name == "mongo" && !use_docker {
                start_local_mongo(&url);
            }
            if !reachable(&url) {
                rows.push((backend.name, 0, 0, 0, "unreachable"));
                continue;
            }
            command.env(var, url);
        }
        eprintln!("== {}", backend.name);
        let output = match command.output() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("cannot run cargo: {e}");
                rows.push((backend.name, 0, 0, 0, "not run"));
                continue;
            }
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let (passed, failed, skipped) = tally(&text);
        let (cases, case_failures) = suite_cases(&text);
        let status = if !output.status.success() || failed > 0 || case_failures > 0 {
            eprintln!("{text}");
            "FAILED"
        } else if skipped {
            "skipped"
        } else if passed == 0 {
            "no tests"
        } else {
            "ok"
        };
        rows.push((backend.name, cases, passed, failed + case_failures, status));
    }

    if use_docker {
        let _ = Command::new("docker")
            .args(["compose", "-f"])
            .arg(&compose)
            .args(["down"])
            .status();
    }

    println!(
        "\n{:<10} {:>12} {:>7} {:>7}  status",
        "backend", "suite cases", "tests", "failed"
    );
    for (name, cases, passed, failed, status) in &rows {
        println!("{name:<10} {cases:>12} {passed:>7} {failed:>7}  {status}");
    }
    let total_cases: u64 = rows.iter().map(|r| r.1).sum();
    let total_failed: u64 = rows.iter().map(|r| r.3).sum();
    println!("{total_cases} passed, {total_failed} failed");
    rows.iter().all(|r| r.4 == "ok")
}

use crate::root;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_host_and_port() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/test").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            host_port("mysql://root:pw@db:3306/x?ssl=false").as_deref(),
            Some("db:3306")
        );
        assert_eq!(
            host_port("redis://127.0.0.1:6379").as_deref(),
            Some("127.0.0.1:6379")
        );
        assert_eq!(host_port("nonsense"), None);
    }

    #[test]
    fn suite_reports_are_counted() {
        let out = "sqlite: 14 passed, 0 failed, 0 skipped\nsqlite (encrypted): 13 passed, 1 failed, 0 skipped\nnoise: a, b";
        assert_eq!(suite_cases(out), (27, 1));
    }

    #[test]
    fn cargo_test_output_is_tallied() {
        let out = "test result: ok. 5 passed; 0 failed; 0 ignored\nskipping: X\ntest result: FAILED. 1 passed; 2 failed;";
        assert_eq!(tally(out), (6, 2, true));
    }
}
