//! # asyncz-cli
//!
//! The `asyncz` operator CLI. Commands:
//!
//! - `preview`: prints the next fire times of a trigger given on the command line (see
//!   [`preview`]).
//!
//! The command logic lives in this library (so it is tested without spawning processes);
//! `main.rs` only maps results to output and exit codes (2 for bad input).
//!
//! ```
//! let out = asyncz_cli::run(&[
//!     "preview".into(), "--interval".into(), "90s".into(),
//!     "--start-at".into(), "2026-01-01T00:00:00Z".into(),
//!     "--from".into(), "2026-01-01T00:00:00Z".into(), "--count".into(), "2".into(),
//! ]).unwrap();
//! assert_eq!(out, "2026-01-01 00:00:00 +00:00 (Thu)\n2026-01-01 00:01:30 +00:00 (Thu)\n");
//! ```
#![deny(missing_docs)]

pub mod preview;

use std::fmt;

/// A command-line failure, reported on one line with exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Bad arguments or values.
    Usage(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

impl From<asyncz_core::Error> for CliError {
    fn from(e: asyncz_core::Error) -> Self {
        CliError::Usage(e.to_string())
    }
}

/// The top-level usage text.
pub const USAGE: &str = "usage: asyncz <command> [options]

commands:
  preview   print the next fire times of a schedule

run `asyncz preview --help` for its options
";

/// Runs the command line (without the program name) and returns what to print.
pub fn run(args: &[String]) -> Result<String, CliError> {
    match args.first().map(String::as_str) {
        Some("preview") => preview::run(&args[1..]),
        Some("-h" | "--help" | "help") | None => Ok(USAGE.to_owned()),
        Some(other) => Err(CliError::Usage(format!(
            "unknown command '{other}' (expected: preview)"
        ))),
    }
}
