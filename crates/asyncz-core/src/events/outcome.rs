//! The typed outcome of one run: what an executor found out, kept as data (not as the text of
//! a log line) so listeners, the web API and tests can match on it. Every part serializes:
//! an outcome crosses process boundaries (the process pool's workers) and goes out on the wire.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::events::{TASK_ERROR, TASK_EXECUTED, TASK_MISSED};
use crate::Value;

/// How one run of a task ended.
///
/// Serialized with a `kind` tag: `{"kind": "failed", "message": "...", "sources": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunOutcome {
    /// The function returned this value ([`TASK_EXECUTED`]).
    Returned {
        /// The return value.
        value: Value,
    },
    /// The function returned an error ([`TASK_ERROR`]).
    Failed(TaskFailure),
    /// The function panicked ([`TASK_ERROR`]).
    Panicked(PanicReport),
    /// The run did not finish within the executor's time limit ([`TASK_ERROR`]).
    TimedOut {
        /// The limit that was exceeded.
        #[serde(with = "secs")]
        timeout: Duration,
        /// What the executor did about it, for people (e.g. which worker it killed).
        detail: String,
    },
    /// The worker process running the function died ([`TASK_ERROR`]).
    WorkerDied {
        /// The signal that ended it (Unix), if one did.
        signal: Option<i32>,
        /// Its exit status, if it exited.
        exit_code: Option<i32>,
        /// What happened, for people (pid, status, task).
        detail: String,
    },
    /// The run was skipped: it started later than `mistrigger_grace_time` allows
    /// ([`TASK_MISSED`]).
    Missed {
        /// How late the run was when it would have started.
        #[serde(with = "secs")]
        late_by: Duration,
    },
}

impl RunOutcome {
    /// A successful run that returned `value`.
    pub fn returned(value: Value) -> Self {
        RunOutcome::Returned { value }
    }

    /// A run that failed with `error` (its `Display` and its `source()` chain are kept).
    pub fn failed(error: &(dyn StdError + 'static)) -> Self {
        RunOutcome::Failed(TaskFailure::from_error(error))
    }

    /// A run skipped for being `late_by` late (a negative lateness counts as zero).
    pub fn missed(late_by: chrono::Duration) -> Self {
        RunOutcome::Missed {
            late_by: late_by.to_std().unwrap_or_default(),
        }
    }

    /// The event code this outcome is reported with.
    pub fn code(&self) -> u32 {
        match self {
            RunOutcome::Returned { .. } => TASK_EXECUTED,
            RunOutcome::Missed { .. } => TASK_MISSED,
            _ => TASK_ERROR,
        }
    }

    /// The return value, on success.
    pub fn return_value(&self) -> Option<&Value> {
        match self {
            RunOutcome::Returned { value } => Some(value),
            _ => None,
        }
    }

    /// The one-line text of a failure (the spec's `exception`): the error's `Display`, the
    /// panic message with its location, or what the executor says about a timeout or a dead
    /// worker. `None` for a success or a missed run.
    pub fn exception(&self) -> Option<String> {
        match self {
            RunOutcome::Returned { .. } | RunOutcome::Missed { .. } => None,
            RunOutcome::Failed(failure) => Some(failure.message.clone()),
            RunOutcome::Panicked(panic) => Some(panic.to_string()),
            RunOutcome::TimedOut { detail, .. } | RunOutcome::WorkerDied { detail, .. } => {
                Some(detail.clone())
            }
        }
    }

    /// Where a failure came from (the spec's `traceback`): a backtrace when `RUST_BACKTRACE`
    /// asked for one, else the error's source chain (or the panic's location). `None` when
    /// there is nothing beyond [`RunOutcome::exception`] to say.
    pub fn traceback(&self) -> Option<String> {
        match self {
            RunOutcome::Failed(failure) => Some(
                failure
                    .backtrace
                    .clone()
                    .unwrap_or_else(|| failure.chain_text()),
            ),
            RunOutcome::Panicked(panic) => panic
                .backtrace
                .clone()
                .or_else(|| panic.location.as_ref().map(|l| format!("panicked at {l}"))),
            _ => None,
        }
    }
}

/// An error a task function returned: its text, the texts of its `source()` chain (outermost
/// first), and a backtrace when one was captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskFailure {
    /// The error's `Display`.
    pub message: String,
    /// The `Display` of each `source()`, outermost first.
    #[serde(default)]
    pub sources: Vec<String>,
    /// A backtrace from where the error reached asyncz, when `RUST_BACKTRACE` asked for one.
    #[serde(default)]
    pub backtrace: Option<String>,
}

impl TaskFailure {
    /// A failure with this text and no sources.
    pub fn new(message: impl Into<String>) -> Self {
        TaskFailure {
            message: message.into(),
            sources: Vec::new(),
            backtrace: None,
        }
    }

    /// The failure `error` describes: its `Display` and the `Display` of every source.
    pub fn from_error(error: &(dyn StdError + 'static)) -> Self {
        TaskFailure::new(error.to_string()).caused_by_sources_of(error)
    }

    /// Adds the `source()` chain of `error` (not `error` itself) as this failure's sources.
    pub fn caused_by_sources_of(mut self, error: &(dyn StdError + 'static)) -> Self {
        let mut next = error.source();
        while let Some(source) = next {
            self.sources.push(source.to_string());
            next = source.source();
        }
        self
    }

    /// Adds `error` and its `source()` chain as this failure's sources.
    pub fn caused_by(mut self, error: &(dyn StdError + 'static)) -> Self {
        self.sources.push(error.to_string());
        self.caused_by_sources_of(error)
    }

    /// Sets the backtrace text.
    pub fn with_backtrace(mut self, backtrace: Option<String>) -> Self {
        self.backtrace = backtrace;
        self
    }

    /// The message and its causes on lines, as `anyhow` prints an error with `{:?}`: the
    /// message, then `Caused by:` and one numbered line per source.
    pub fn chain_text(&self) -> String {
        let mut text = self.message.clone();
        if !self.sources.is_empty() {
            text.push_str("\n\nCaused by:");
            for (i, source) in self.sources.iter().enumerate() {
                text.push_str(&format!("\n    {i}: {source}"));
            }
        }
        text
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A panic in a task function: its message, where it happened, and a backtrace when
/// `RUST_BACKTRACE` asked for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PanicReport {
    /// The panic payload as text (`"non-string panic payload"` when it is not a string).
    pub message: String,
    /// The `file:line:column` of the `panic!`, when the panic hook saw it.
    pub location: Option<PanicLocation>,
    /// The backtrace at the panic, when `RUST_BACKTRACE` asked for one.
    #[serde(default)]
    pub backtrace: Option<String>,
}

impl PanicReport {
    /// A report with this message and nothing else known.
    pub fn new(message: impl Into<String>) -> Self {
        PanicReport {
            message: message.into(),
            location: None,
            backtrace: None,
        }
    }
}

impl fmt::Display for PanicReport {
    /// `panicked at src/jobs.rs:10:5: message`, as the standard panic hook says it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "panicked at {location}: {}", self.message),
            None => write!(f, "panicked: {}", self.message),
        }
    }
}

/// Where a panic happened in the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanicLocation {
    /// The source file, as the compiler names it.
    pub file: String,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
}

impl fmt::Display for PanicLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

impl From<&std::panic::Location<'_>> for PanicLocation {
    fn from(location: &std::panic::Location<'_>) -> Self {
        PanicLocation {
            file: location.file().to_owned(),
            line: location.line(),
            column: location.column(),
        }
    }
}

/// Durations on the wire as fractional seconds (`1.5`), the unit the spec's config uses.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(|e| {
            serde::de::Error::custom(format!("invalid duration of {secs} seconds: {e}"))
        })
    }
}
