//! The one public error type of asyncz. Backends keep their own private error enums and map
//! them into [`Error::Backend`], so a user matches on one type whatever store they run.

use std::fmt;

/// A boxed error from a backend (a database driver, the file system, ...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used across asyncz.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when talking to a scheduler, a store or an executor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation needs a started scheduler.
    #[error("the scheduler is not running")]
    SchedulerNotRunning,
    /// The operation needs a stopped scheduler.
    #[error("the scheduler is already running")]
    SchedulerAlreadyRunning,
    /// The task already runs `max_instances` times concurrently.
    #[error("task '{task_id}' reached its maximum number of concurrently running instances ({max_instances})")]
    MaximumInstances {
        /// The task that was skipped.
        task_id: String,
        /// Its configured limit.
        max_instances: u32,
    },
    /// No task with this id exists (in the given store, if one was named).
    #[error("no task with the id '{task_id}' was found")]
    TaskLookup {
        /// The id that was looked up.
        task_id: String,
    },
    /// A task with this id already exists in the store.
    #[error("a task with the id '{task_id}' already exists")]
    ConflictId {
        /// The conflicting id.
        task_id: String,
    },
    /// An argument or a configuration value is invalid. `field` names what was wrong.
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        /// The field, option or parameter that was rejected.
        field: String,
        /// Why it was rejected, naming the offending value.
        message: String,
    },
    /// A store, executor or trigger alias is unknown or already taken.
    #[error("{kind} '{alias}': {message}")]
    Alias {
        /// `store`, `executor`, `trigger`.
        kind: &'static str,
        /// The alias in question.
        alias: String,
        /// What is wrong with it.
        message: String,
    },
    /// A task definition was submitted a second time.
    #[error(
        "task '{task_id}' was already submitted; a task definition can be submitted only once"
    )]
    AlreadySubmitted {
        /// The id of the definition.
        task_id: String,
    },
    /// The run ledger already has a run of this task at this scheduled run time.
    #[error("task '{task_id}' already has a run scheduled at {scheduled_run_time}")]
    ConflictRun {
        /// The task.
        task_id: String,
        /// The scheduled run time already recorded.
        scheduled_run_time: chrono::DateTime<chrono::Utc>,
    },
    /// A stored task could not be decoded (corrupt record, unknown format, wrong key).
    #[error("store '{store}': cannot decode task '{task_id}': {message}")]
    Decode {
        /// The store alias.
        store: String,
        /// The id of the record.
        task_id: String,
        /// What failed.
        message: String,
    },
    /// A blocking call was made from inside an async runtime, where it would deadlock.
    #[error("{0}")]
    Runtime(String),
    /// A store or executor backend failed.
    #[error("{backend}: {source}")]
    Backend {
        /// Which backend (`store 'default' (sql)`, `executor 'pool'`, ...).
        backend: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// Shorthand for [`Error::TaskLookup`].
    pub fn task_lookup(task_id: impl Into<String>) -> Self {
        Error::TaskLookup {
            task_id: task_id.into(),
        }
    }

    /// Shorthand for [`Error::ConflictId`].
    pub fn conflict(task_id: impl Into<String>) -> Self {
        Error::ConflictId {
            task_id: task_id.into(),
        }
    }

    /// Shorthand for [`Error::Backend`].
    pub fn backend(backend: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            backend: backend.into(),
            source: source.into(),
        }
    }
}
