//! What every persistent store (file, SQL, Redis, MongoDB, and third-party ones) shares between
//! its backend and the task model, so each store only says how it reads and writes bytes:
//!
//! - [`StartedCell`] holds a store's [`Started`] state: empty until `start`, emptied by
//!   `shutdown`; every store method begins with [`StartedCell::get`].
//! - [`Records`] turns records into tasks and back: the [`RecordCodec`] (encrypted with the
//!   store's `encryption_key`, else `ASYNCZ_STORE_ENCRYPTION_KEY`), the trigger registry, and
//!   the scheduler's clock, so a trigger rebuilt from its state reads the scheduler's `now`,
//!   never the system time (a test's `ManualClock` holds for stored tasks too).
//! - [`UndecodableRecords`] is the bookkeeping behind `Store::undecodable_records`: every read
//!   through [`Records`] keeps it current, so a store only clears it when it rewrites or
//!   deletes a record.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::codec::RecordCodec;
use crate::store::StoreContext;
use crate::task::Task;
use crate::{Error, Result};

/// A persistent store's state while started: its [`Records`] and its backend's handle (a
/// pool, a connection, a collection; `()` for a store that needs none).
pub struct Started<B> {
    /// How this store's records become tasks and back.
    pub records: Records,
    /// The backend's handle.
    pub backend: B,
}

impl<B> Started<B> {
    /// The alias the store was started under (errors and logs name it).
    pub fn alias(&self) -> &str {
        self.records.alias()
    }
}

impl<B> fmt::Debug for Started<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Started")
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

/// Holds a persistent store's [`Started`] state, and the bookkeeping of its undecodable
/// records, which outlives a restart (the records are still there).
pub struct StartedCell<B> {
    kind: &'static str,
    started: Mutex<Option<Arc<Started<B>>>>,
    undecodable: Arc<UndecodableRecords>,
}

impl<B> StartedCell<B> {
    /// An empty cell for a store of kind `kind` (`sql`, `redis`, ...: named when it is used
    /// before `start`).
    pub fn new(kind: &'static str) -> Self {
        StartedCell {
            kind,
            started: Mutex::new(None),
            undecodable: Arc::default(),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<Started<B>>>> {
        self.started.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The [`Records`] for starting this store with `ctx` (see [`Records::new`]). Call it
    /// first in `start`: a bad key fails before the store connects anywhere.
    pub fn records(&self, ctx: StoreContext, encryption_key: Option<&str>) -> Result<Records> {
        Records::new(ctx, encryption_key, Arc::clone(&self.undecodable))
    }

    /// Marks the store started.
    pub fn set(&self, records: Records, backend: B) {
        *self.slot() = Some(Arc::new(Started { records, backend }));
    }

    /// The started state; an error naming the store kind before `start` or after `shutdown`.
    pub fn get(&self) -> Result<Arc<Started<B>>> {
        self.slot().clone().ok_or_else(|| {
            Error::backend(format!("store ({})", self.kind), "the store is not started")
        })
    }

    /// Marks the store stopped, returning what it had (to close it).
    pub fn take(&self) -> Option<Arc<Started<B>>> {
        self.slot().take()
    }

    /// The records this store could not decode.
    pub fn undecodable(&self) -> &UndecodableRecords {
        &self.undecodable
    }
}

impl<B> fmt::Debug for StartedCell<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartedCell")
            .field("kind", &self.kind)
            .field("started", &self.slot().is_some())
            .field("undecodable", &self.undecodable.len())
            .finish()
    }
}

/// Turns one started store's records into tasks and back.
#[derive(Debug)]
pub struct Records {
    codec: RecordCodec,
    ctx: StoreContext,
    undecodable: Arc<UndecodableRecords>,
}

impl Records {
    /// Records for a store started with `ctx`: encrypted with `encryption_key` when the store's
    /// options give one, else with `ASYNCZ_STORE_ENCRYPTION_KEY` when that is set; reads note
    /// what they cannot decode in `undecodable`.
    pub fn new(
        ctx: StoreContext,
        encryption_key: Option<&str>,
        undecodable: Arc<UndecodableRecords>,
    ) -> Result<Self> {
        let codec = match encryption_key {
            Some(key) => RecordCodec::with_key(&ctx.alias, Some(key))?,
            None => RecordCodec::from_env(&ctx.alias)?,
        };
        Ok(Records {
            codec,
            ctx,
            undecodable,
        })
    }

    /// The alias the store was started under.
    pub fn alias(&self) -> &str {
        &self.ctx.alias
    }

    /// The context the store was started with.
    pub fn context(&self) -> &StoreContext {
        &self.ctx
    }

    /// The bytes to store for `task` (a closure task is refused: it cannot be persisted).
    pub fn encode(&self, task: &Task) -> Result<Vec<u8>> {
        self.codec.encode(&task.to_state()?)
    }

    /// The task in the record `task_id`, rebuilt with the scheduler's registry, time zone and
    /// clock. A failure is an [`Error::Decode`] naming the store and the task, and is noted
    /// (logged once) in the store's undecodable records; a success forgets an earlier failure.
    pub fn read(&self, task_id: &str, bytes: &[u8]) -> Result<Task> {
        let decoded = self.codec.decode(task_id, bytes).and_then(|state| {
            Task::from_state(state, &self.ctx).map_err(|e| self.decode_error(task_id, e))
        });
        match &decoded {
            Ok(_) => self.undecodable.clear(task_id),
            Err(e) => self.undecodable.record(self.alias(), task_id, e),
        }
        decoded
    }

    /// The tasks of every record that decodes, in the order given; the others are noted (see
    /// [`Records::read`]) and skipped, so one bad record never hides the rest.
    pub fn read_all<I, K, V>(&self, records: I) -> Vec<Task>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        records
            .into_iter()
            .filter_map(|(id, bytes)| self.read(id.as_ref(), bytes.as_ref()).ok())
            .collect()
    }

    /// Notes that the record `task_id` cannot be decoded for a reason the backend found (a
    /// document without its state field, say) and returns the [`Error::Decode`] for it.
    pub fn reject(&self, task_id: &str, why: impl fmt::Display) -> Error {
        let error = self.decode_error(task_id, why);
        self.undecodable.record(self.alias(), task_id, &error);
        error
    }

    fn decode_error(&self, task_id: &str, why: impl fmt::Display) -> Error {
        Error::Decode {
            store: self.alias().to_owned(),
            task_id: task_id.to_owned(),
            message: why.to_string(),
        }
    }
}

/// The records a store could not decode, by task id, with why (what
/// `Store::undecodable_records` reports).
///
/// Stores read an undecodable record at every engine round that finds it due, so logging each
/// read would flood the log: a record is logged once (again only when its error changes), and
/// while any remain a one-line summary with their count is logged at most once a minute.
#[derive(Debug, Default)]
pub struct UndecodableRecords {
    inner: Mutex<Undecodable>,
}

#[derive(Debug, Default)]
struct Undecodable {
    records: BTreeMap<String, String>,
    last_summary: Option<Instant>,
}

/// How often the summary of still-undecodable records is logged.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

impl UndecodableRecords {
    fn lock(&self) -> MutexGuard<'_, Undecodable> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `task_id` could not be decoded, and logs it the first time.
    pub fn record(&self, store: &str, task_id: &str, error: &Error) {
        let why = error.to_string();
        let mut inner = self.lock();
        let known = inner.records.get(task_id) == Some(&why);
        if !known {
            inner.records.insert(task_id.to_owned(), why);
            drop(inner);
            tracing::error!(target: "asyncz.stores", store = ?store, task = ?task_id, error = %error, "cannot decode a stored task; skipping it (the record is kept)");
            return;
        }
        let now = Instant::now();
        let due = inner
            .last_summary
            .is_none_or(|last| now.duration_since(last) >= SUMMARY_INTERVAL);
        if due {
            inner.last_summary = Some(now);
            let count = inner.records.len();
            drop(inner);
            tracing::warn!(target: "asyncz.stores", store = ?store, count, "stored tasks still cannot be decoded and are skipped (see Store::undecodable_records)");
        }
    }

    /// Forgets `task_id` (it decoded, was rewritten or deleted).
    pub fn clear(&self, task_id: &str) {
        self.lock().records.remove(task_id);
    }

    /// Forgets every record (the store was emptied).
    pub fn clear_all(&self) {
        self.lock().records.clear();
    }

    /// Whether `task_id` is known to be undecodable.
    pub fn contains(&self, task_id: &str) -> bool {
        self.lock().records.contains_key(task_id)
    }

    /// How many records are known to be undecodable.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// True when every record read so far decoded.
    pub fn is_empty(&self) -> bool {
        self.lock().records.is_empty()
    }

    /// Every undecodable record, as `(task id, why)`.
    pub fn list(&self) -> Vec<(String, String)> {
        self.lock()
            .records
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A URL with any credentials replaced by `***` (`postgres://user:***@host/db`), for errors
/// and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => format!("{}***{}", &url[..scheme + 3], &url[at..]),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskState;
    use crate::{FunctionRegistry, PluginRegistry};

    fn records() -> Records {
        let ctx = StoreContext::new(
            "jobs",
            Arc::new(PluginRegistry::new()),
            Arc::new(FunctionRegistry::new()),
        );
        Records::new(ctx, None, Arc::default()).expect("records without a key")
    }

    #[test]
    fn an_undecodable_record_is_noted_once_and_forgotten_when_it_decodes_again() {
        let records = records();
        let err = records
            .read("nightly", b"\x00junk")
            .expect_err("junk is no task");
        assert!(matches!(err, Error::Decode { .. }), "{err}");
        assert!(err.to_string().contains("nightly"), "{err}");
        assert_eq!(records.undecodable.list().len(), 1);
        // The registry has no trigger: the state decodes, the task does not, and says why.
        let state = TaskState {
            version: TaskState::VERSION,
            id: "nightly".into(),
            name: "nightly".into(),
            function: "f".into(),
            args: Vec::new(),
            kwargs: crate::Map::new(),
            trigger_alias: "nope".into(),
            trigger_state: crate::Map::new(),
            executor: "default".into(),
            mistrigger_grace_time_us: None,
            coalesce: true,
            max_instances: 1,
            on_node_death: Default::default(),
            catchup_window_us: None,
            next_run_time_us: None,
        };
        let bytes = records.codec.encode(&state).expect("encode");
        let err = records
            .read("nightly", &bytes)
            .expect_err("unknown trigger");
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(records.undecodable.contains("nightly"));
        assert!(records.read_all([("nightly", &bytes)]).is_empty());
        let rejected = records.reject("other", "no state field");
        assert!(
            rejected.to_string().contains("no state field"),
            "{rejected}"
        );
        assert_eq!(records.undecodable.len(), 2);
    }

    /// A trigger that remembers the `now` its factory was given.
    #[derive(Debug)]
    struct BuiltAt(chrono::DateTime<chrono::Utc>);

    impl fmt::Display for BuiltAt {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "built at {}", self.0)
        }
    }

    impl crate::Trigger for BuiltAt {
        fn alias(&self) -> &'static str {
            "built_at"
        }
        fn type_name(&self) -> &'static str {
            "BuiltAt"
        }
        fn next_fire_time(
            &self,
            _: chrono_tz::Tz,
            _: Option<chrono::DateTime<chrono::Utc>>,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Option<chrono::DateTime<chrono::Utc>> {
            Some(self.0)
        }
        fn state(&self) -> crate::Map {
            crate::Map::new()
        }
    }

    #[test]
    fn a_rebuilt_trigger_reads_the_store_contexts_clock_not_the_system_time() {
        use chrono::TimeZone;
        let mut plugins = PluginRegistry::new();
        plugins.add_trigger(
            "built_at",
            |_args: &crate::Map, ctx: &crate::TriggerContext| {
                Ok(Arc::new(BuiltAt(ctx.now)) as Arc<dyn crate::Trigger>)
            },
        );
        let long_ago = chrono::Utc
            .with_ymd_and_hms(2001, 2, 3, 4, 5, 6)
            .single()
            .expect("a date");
        let ctx = StoreContext::new("jobs", Arc::new(plugins), Arc::new(FunctionRegistry::new()))
            .with_clock(Arc::new(crate::ManualClock::new(long_ago)));
        let records = Records::new(ctx, None, Arc::default()).expect("records");
        let task = Task::new(
            "t",
            crate::Callable::registered("f"),
            Arc::new(BuiltAt(chrono::Utc::now())),
        );
        let back = records
            .read("t", &records.encode(&task).expect("encode"))
            .expect("decode");
        assert_eq!(back.trigger().to_string(), BuiltAt(long_ago).to_string());
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("redis://secret@h"), "redis://***@h");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
