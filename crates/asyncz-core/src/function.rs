//! Task functions. Rust cannot pickle a closure, so a task names a function registered on the
//! scheduler (`scheduler.register("reports.daily", f)`): the name and the serde args survive a
//! restart in any store. An anonymous closure is allowed too, but only in a memory store.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::events::TaskFailure;
use crate::{BoxError, Error, Map, Result, Value};

/// What a task function gets for one run: its task, the run time it was scheduled for, and
/// its args/kwargs, which it can read into its own types.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The id of the task being run.
    pub task_id: String,
    /// The run time this call is for (not the time it actually started).
    pub scheduled_run_time: DateTime<Utc>,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Map,
    /// In a cluster, the run's ledger identity (run id, node, attempt, fence): a task can
    /// make its side effects idempotent with the run id. `None` outside a cluster.
    pub run: Option<crate::cluster::RunTicket>,
}

impl CallContext {
    /// The positional arguments deserialized into `T` (a tuple, a struct from a sequence, a
    /// `Vec`, ...).
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        serde_json::from_value(Value::Array(self.args.clone())).map_err(|e| {
            TaskError::new(format!("cannot read args of task '{}': {e}", self.task_id))
        })
    }

    /// Positional argument `index` deserialized into `T`.
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, TaskError> {
        let value = self.args.get(index).cloned().ok_or_else(|| {
            TaskError::new(format!(
                "task '{}' has no positional argument {index} ({} given)",
                self.task_id,
                self.args.len()
            ))
        })?;
        serde_json::from_value(value).map_err(|e| {
            TaskError::new(format!(
                "cannot read argument {index} of task '{}': {e}",
                self.task_id
            ))
        })
    }

    /// The keyword arguments deserialized into `T` (usually a struct).
    pub fn kwargs<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        serde_json::from_value(Value::Object(self.kwargs.clone())).map_err(|e| {
            TaskError::new(format!(
                "cannot read kwargs of task '{}': {e}",
                self.task_id
            ))
        })
    }
}

/// A task function's failure, reported as `TASK_ERROR`: any error, kept with its `source()`
/// chain (and a backtrace when `RUST_BACKTRACE` asks for one).
///
/// Like `anyhow::Error`, it converts from every `std::error::Error + Send + Sync + 'static` and
/// from `String` / `&str`, so `?` works on any error in a function returning
/// `Result<T, TaskError>`. For the same reason it does not implement `std::error::Error`
/// itself; [`TaskError::as_error`] gives the error inside.
pub struct TaskError {
    error: BoxError,
    backtrace: Backtrace,
}

impl TaskError {
    /// An error with this message (no sources).
    pub fn new(message: impl Into<String>) -> Self {
        TaskError::from(message.into())
    }

    /// The error inside, to walk its `source()` chain or downcast it.
    pub fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.error.as_ref()
    }

    /// The error inside.
    pub fn into_inner(self) -> BoxError {
        self.error
    }

    /// What the scheduler reports: the error's text, its source chain and the backtrace.
    pub fn to_failure(&self) -> TaskFailure {
        let backtrace = (self.backtrace.status() == BacktraceStatus::Captured)
            .then(|| self.backtrace.to_string());
        TaskFailure::from_error(self.error.as_ref()).with_backtrace(backtrace)
    }
}

impl<E: Into<BoxError>> From<E> for TaskError {
    fn from(error: E) -> Self {
        TaskError {
            error: error.into(),
            backtrace: Backtrace::capture(),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// The result of one call: the return value (reported in `TASK_EXECUTED`) or an error.
pub type TaskOutput = Result<Value, TaskError>;

/// What a task function may return: `()`, or `Result<T, E>` with a serializable `T` and an
/// error `E` that converts into a [`TaskError`]: any `std::error::Error + Send + Sync +
/// 'static` (its `source()` chain is kept), `Box<dyn Error + Send + Sync>`, `anyhow::Error`,
/// `String`, `&str` or `TaskError` itself.
pub trait IntoTaskOutput {
    /// Converts into the value or error reported by the scheduler's events.
    fn into_task_output(self) -> TaskOutput;
}

impl IntoTaskOutput for () {
    fn into_task_output(self) -> TaskOutput {
        Ok(Value::Null)
    }
}

impl<T: Serialize, E: Into<TaskError>> IntoTaskOutput for Result<T, E> {
    fn into_task_output(self) -> TaskOutput {
        match self {
            Ok(value) => serde_json::to_value(value)
                .map_err(|e| TaskError::from(format!("cannot serialize the return value: {e}"))),
            Err(e) => Err(e.into()),
        }
    }
}

type SyncFn = dyn Fn(CallContext) -> TaskOutput + Send + Sync;
type AsyncFn = dyn Fn(CallContext) -> BoxFuture<'static, TaskOutput> + Send + Sync;

/// A callable task body, synchronous or asynchronous. Executors decide where it runs: the
/// tokio executor runs async bodies on the runtime and sync ones on the blocking pool.
#[derive(Clone)]
pub enum TaskFunction {
    /// A blocking function.
    Sync(Arc<SyncFn>),
    /// A function returning a future.
    Async(Arc<AsyncFn>),
}

impl fmt::Debug for TaskFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFunction::Sync(_) => f.write_str("TaskFunction::Sync"),
            TaskFunction::Async(_) => f.write_str("TaskFunction::Async"),
        }
    }
}

impl TaskFunction {
    /// Wraps a synchronous function.
    pub fn new_sync<F, R>(f: F) -> Self
    where
        F: Fn(CallContext) -> R + Send + Sync + 'static,
        R: IntoTaskOutput,
    {
        TaskFunction::Sync(Arc::new(move |ctx| f(ctx).into_task_output()))
    }

    /// Wraps an async function.
    pub fn new_async<F, Fut, R>(f: F) -> Self
    where
        F: Fn(CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoTaskOutput,
    {
        TaskFunction::Async(Arc::new(move |ctx| {
            let fut = f(ctx);
            Box::pin(async move { fut.await.into_task_output() })
        }))
    }

    /// True for async functions.
    pub fn is_async(&self) -> bool {
        matches!(self, TaskFunction::Async(_))
    }
}

/// A task's callable as it is stored on the task.
#[derive(Clone, Debug)]
pub enum Callable {
    /// A function registered by name on the scheduler; survives restarts.
    Registered(Arc<str>),
    /// An anonymous closure; memory store only.
    Closure {
        /// A readable name (the closure's type name unless given).
        name: Arc<str>,
        /// The body.
        function: TaskFunction,
    },
}

impl Callable {
    /// An anonymous synchronous closure (memory store only).
    pub fn closure<F, R>(f: F) -> Self
    where
        F: Fn(CallContext) -> R + Send + Sync + 'static,
        R: IntoTaskOutput,
    {
        Callable::Closure {
            name: short_type_name::<F>(),
            function: TaskFunction::new_sync(f),
        }
    }

    /// An anonymous async closure (memory store only).
    pub fn closure_async<F, Fut, R>(f: F) -> Self
    where
        F: Fn(CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoTaskOutput,
    {
        Callable::Closure {
            name: short_type_name::<F>(),
            function: TaskFunction::new_async(f),
        }
    }

    /// A registered function by name.
    pub fn registered(name: &str) -> Self {
        Callable::Registered(Arc::from(name))
    }

    /// The registered name (`fn_reference` in the spec), for registered functions.
    pub fn reference(&self) -> Option<&str> {
        match self {
            Callable::Registered(name) => Some(name),
            Callable::Closure { .. } => None,
        }
    }

    /// A readable name: the registered name, or the closure's name.
    pub fn name(&self) -> &str {
        match self {
            Callable::Registered(name) => name,
            Callable::Closure { name, .. } => name,
        }
    }
}

fn short_type_name<F>() -> Arc<str> {
    Arc::from(std::any::type_name::<F>())
}

/// Functions registered by name. Shared by the scheduler, its stores (to rebuild tasks) and its
/// executors (the process executor runs registered functions only).
#[derive(Default)]
pub struct FunctionRegistry {
    functions: RwLock<HashMap<String, TaskFunction>>,
}

impl fmt::Debug for FunctionRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = self.names();
        names.sort();
        f.debug_struct("FunctionRegistry")
            .field("functions", &names)
            .finish()
    }
}

impl FunctionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `function` under `name`, replacing any previous one.
    pub fn insert(&self, name: &str, function: TaskFunction) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::invalid(
                "function name",
                "a registered function needs a non-empty name",
            ));
        }
        self.functions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), function);
        Ok(())
    }

    /// The function registered under `name`.
    pub fn get(&self, name: &str) -> Option<TaskFunction> {
        self.functions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.functions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(name)
    }

    /// Every registered name.
    pub fn names(&self) -> Vec<String> {
        self.functions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Resolves a task's callable into its body.
    pub fn resolve(&self, callable: &Callable) -> Result<TaskFunction> {
        match callable {
            Callable::Closure { function, .. } => Ok(function.clone()),
            Callable::Registered(name) => self.get(name).ok_or_else(|| {
                Error::invalid(
                    "function",
                    format!("no function is registered under the name '{name}' in this process"),
                )
            }),
        }
    }
}
