//! Workspace automation (matklad's xtask pattern): `cargo xtask <command>`.
//!
//! - `test`      formatting check, clippy with warnings denied, every test and doc test
//! - `bench`     the criterion benchmarks (`cargo bench -p asyncz`); `bench punctuality`
//!   asyncz beside tokio-cron-scheduler (`cargo bench -p asyncz-bench --bench peers`)
//! - `quickstart` runs the quickstart example
//! - `test-backends` runs the store suites against real servers (see `backends.rs`)
//! - `chaos` runs the cluster chaos test (`asyncz-chaos` in asyncz-examples)
//!
//! It only shells out to cargo (and docker), so it has no dependencies.

mod backends;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

pub(crate) fn cargo(args: &[&str]) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    match Command::new(cargo).args(args).current_dir(root()).status() {
        Ok(status) => status.success(),
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            false
        }
    }
}

const HELP: &str = "usage: cargo xtask <test|test-backends|chaos|bench|quickstart|help>

  test           cargo fmt --check, clippy -D warnings, all tests and doc tests
  test-backends  the store suites against real servers [--backend NAME]... [--list]
  chaos          the cluster chaos test: --backend NAME [--backend ...] [--nodes N] [--seconds S] [--seed X]
  bench          criterion benchmarks of the scheduler (cargo bench -p asyncz);
                 bench punctuality [--tasks 100,1000,10000] [--seconds 20] [--only NAME]:
                   asyncz beside tokio-cron-scheduler, N tasks firing every second;
                 bench cluster --backend NAME [--tasks N] [--nodes 1,2,3]: cluster fires per second
  quickstart     run the quickstart example";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str).unwrap_or("help");
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let ok = match command {
        "test" => {
            cargo(&["fmt", "--all", "--", "--check"])
                && cargo(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
                && cargo(&["test", "--workspace"])
        }
        "bench" if rest.first() == Some(&"punctuality") => {
            // asyncz beside tokio-cron-scheduler, N tasks firing every second.
            let mut a = vec!["bench", "-p", "asyncz-bench", "--bench", "peers", "--"];
            if rest.len() > 1 {
                a.extend(rest.iter().skip(1).copied());
            } else {
                a.extend(["--tasks", "100,1000,10000", "--seconds", "20"]);
            }
            cargo(&a)
        }
        "bench" if rest.first() == Some(&"cluster") => {
            // Fires per second with 1, 2, 3 node processes (release build).
            let mut a = vec![
                "run",
                "--release",
                "-p",
                "asyncz-examples",
                "--bin",
                "asyncz-cluster-bench",
                "--",
            ];
            a.extend(rest.iter().skip(1).copied());
            cargo(&["build", "--release", "-p", "asyncz-examples", "--bins"]) && cargo(&a)
        }
        "bench" => {
            let mut a = vec!["bench", "-p", "asyncz"];
            a.extend(rest.iter().copied());
            cargo(&a)
        }
        "quickstart" => cargo(&["run", "-p", "asyncz-examples", "--example", "quickstart"]),
        "test-backends" => backends::run(&rest),
        "chaos" => {
            // The driver and the node binary it starts, built together.
            let mut a = vec![
                "run",
                "-p",
                "asyncz-examples",
                "--bin",
                "asyncz-chaos",
                "--",
            ];
            a.extend(rest.iter().copied());
            cargo(&["build", "-p", "asyncz-examples", "--bins"]) && cargo(&a)
        }
        "help" | "-h" | "--help" => {
            println!("{HELP}");
            true
        }
        other => {
            eprintln!("unknown command '{other}'\n\n{HELP}");
            false
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
