//! The Redis store implementation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::ClusterStore;
use asyncz_core::record::StartedCell;
use asyncz_core::retry::{connect_within, Attempt};
use asyncz_core::{async_trait, Error, Result, ScheduleChange, Store, StoreContext, Task};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use crate::cluster::ClusterKeys;
use crate::config::{redact, RedisStoreConfig};

// KEYS[3] of each is the cluster's claims hash: a write drops any claim on the task, so a
// node that claimed it before this change cannot commit over it (its fence no longer holds).

/// Adds a task only if its id is free: HSETNX, then ZADD when it is scheduled.
const ADD: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
redis.call('HDEL', KEYS[3], ARGV[1])
return 1";

/// Replaces a task only if it exists; its run time is set or, when paused, removed.
const UPDATE: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
redis.call('HDEL', KEYS[3], ARGV[1])
return 1";

/// Deletes a task from both keys.
const DELETE: &str = r"
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return n";

/// Writes a batch of schedule changes, four arguments each: `u` or `d`, the id, the record
/// and the score (empty for a delete). Answers 1 per change written, 0 per missing id.
const SCHEDULES: &str = r"
local out = {}
for i = 1, #ARGV, 4 do
  local id = ARGV[i + 1]
  if ARGV[i] == 'd' then
    out[#out + 1] = redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  elseif redis.call('HEXISTS', KEYS[1], id) == 0 then
    out[#out + 1] = 0
  else
    redis.call('HSET', KEYS[1], id, ARGV[i + 2])
    if ARGV[i + 3] == '' then redis.call('ZREM', KEYS[2], id) else redis.call('ZADD', KEYS[2], ARGV[i + 3], id) end
    redis.call('HDEL', KEYS[3], id)
    out[#out + 1] = 1
  end
end
return out";

/// The live connection; dropped after a connection failure and made again on next use, so
/// the store recovers whatever state the old connection was left in.
type Conn = Mutex<Option<ConnectionManager>>;

pub(crate) type Started = asyncz_core::record::Started<Conn>;

/// Keeps tasks in Redis (spec: `RedisStore`).
#[derive(Debug, Clone)]
pub struct RedisStore {
    pub(crate) config: RedisStoreConfig,
    client: redis::Client,
    pub(crate) started: Arc<StartedCell<Conn>>,
    pub(crate) cluster_keys: ClusterKeys,
}

pub(crate) fn score(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.timestamp_micros().to_string())
        .unwrap_or_default()
}

/// `prefix` with the glob characters of SCAN MATCH escaped.
fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Scores below this (2^53 microseconds, about the year 2255) are exact in a double.
const EXACT_SCORE: f64 = 9_007_199_254_740_992.0;

impl RedisStore {
    /// A store for `config` (connects on start). Fails on a malformed URL.
    pub fn new(config: RedisStoreConfig) -> Result<Self> {
        let mut info = redis::IntoConnectionInfo::into_connection_info(config.url.as_str())
            .map_err(|e| {
                Error::invalid(
                    "stores.redis.url",
                    format!("'{}': {e}", redact(&config.url)),
                )
            })?;
        if let Some(db) = config.database {
            info.redis.db = db;
        }
        let client = redis::Client::open(info).map_err(|e| {
            Error::invalid(
                "stores.redis.url",
                format!("'{}': {e}", redact(&config.url)),
            )
        })?;
        let cluster_keys = ClusterKeys::for_tasks_key(&config.tasks_key);
        Ok(RedisStore {
            config,
            client,
            started: Arc::new(StartedCell::new(crate::ALIAS)),
            cluster_keys,
        })
    }

    /// The keys this store uses: (tasks hash, run times sorted set).
    pub fn keys(&self) -> (&str, &str) {
        (&self.config.tasks_key, &self.config.run_times_key)
    }

    /// The prefix of every key of the cluster half ([`asyncz_core::cluster::ClusterStore`]):
    /// claims, fences, the run ledger and the node registry. It is `tasks_key` with a trailing
    /// `tasks` replaced by `cluster.` (`asyncz.tasks` → `asyncz.cluster.`), else `tasks_key`
    /// followed by `.cluster.`.
    pub fn cluster_key_prefix(&self) -> &str {
        self.cluster_keys.prefix()
    }

    pub(crate) fn started(&self) -> Result<Arc<Started>> {
        self.started.get()
    }

    pub(crate) fn err(&self, s: &Started, what: &str, e: redis::RedisError) -> Error {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
        {
            s.backend.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        Error::backend(
            format!("store '{}' (redis)", s.alias()),
            format!("{what}: {e}"),
        )
    }

    /// The connection, made anew if the last one failed.
    pub(crate) async fn conn(&self, s: &Started) -> Result<ConnectionManager> {
        let cached = s.backend.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(conn) = cached {
            return Ok(conn);
        }
        let conn = self.connect(s.alias()).await?;
        *s.backend.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    /// A new connection, within `connect_timeout`: attempts that fail are logged and retried
    /// with a short backoff until the timeout has passed ([`connect_within`]), then this fails
    /// naming the URL and the timeout. (The redis crate's own retries are off: its backoff
    /// grows to minutes.)
    async fn connect(&self, alias: &str) -> Result<ConnectionManager> {
        let timeout = self.config.connect_timeout;
        let url = redact(&self.config.url);
        let attempt = |remaining: Duration| {
            // A connection whose own reconnects (after it drops) are one attempt each,
            // bounded the same way; a failed one is replaced through this function.
            let options = ConnectionManagerConfig::new()
                .set_number_of_retries(0)
                .set_connection_timeout(remaining);
            let client = self.client.clone();
            async move {
                match ConnectionManager::new_with_config(client, options).await {
                    Ok(conn) => Attempt::Connected(conn),
                    Err(e) => Attempt::Retry(e.to_string()),
                }
            }
        };
        let log = |attempt: u32, error: &str| {
            tracing::warn!(
                target: "asyncz.stores.redis",
                store = ?alias,
                url = ?url,
                attempt,
                error = ?error,
                "cannot connect to Redis"
            );
        };
        connect_within(timeout, attempt, log)
            .await
            .map_err(|failed| {
                Error::backend(
                    format!("store '{alias}' (redis, {url})"),
                    format!(
                        "cannot connect within connect_timeout = {timeout:?} ({} attempt{}): {}",
                        failed.attempts,
                        if failed.attempts == 1 { "" } else { "s" },
                        failed.error
                    ),
                )
            })
    }

    /// Overwrites the raw record of `task_id` (tests of undecodable records; feature
    /// `testing`).
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub async fn write_raw_record(&self, task_id: &str, bytes: &[u8]) -> Result<()> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        conn.hset::<_, _, _, ()>(&self.config.tasks_key, task_id, bytes)
            .await
            .map_err(|e| self.err(&s, "cannot write", e))
    }

    /// Whether a raw record exists for `task_id`, decodable or not.
    pub async fn record_exists(&self, task_id: &str) -> Result<bool> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        conn.hexists(&self.config.tasks_key, task_id)
            .await
            .map_err(|e| self.err(&s, "cannot read", e))
    }

    /// Deletes every key of this store: the tasks hash, the run times and every key under
    /// [`RedisStore::cluster_key_prefix`] (tests and tooling).
    pub async fn delete_keys(&self) -> Result<()> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        let mut keys = vec![
            self.config.tasks_key.clone(),
            self.config.run_times_key.clone(),
        ];
        let pattern = format!("{}*", glob_escape(self.cluster_keys.prefix()));
        let mut cursor: u64 = 0;
        loop {
            let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(&s, "cannot list the cluster keys", e))?;
            keys.extend(found);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for chunk in keys.chunks(500) {
            conn.del::<_, ()>(chunk)
                .await
                .map_err(|e| self.err(&s, "cannot delete", e))?;
        }
        Ok(())
    }

    async fn records(&self, s: &Started, ids: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn(s).await?;
        let values: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(&self.config.tasks_key)
            .arg(ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(s, "cannot read tasks", e))?;
        Ok(ids
            .iter()
            .zip(values)
            .filter_map(|(id, v)| v.map(|v| (id.clone(), v)))
            .collect())
    }
}

#[async_trait]
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        crate::ALIAS
    }

    fn is_persistent(&self) -> bool {
        true
    }

    async fn start(&self, ctx: StoreContext) -> Result<()> {
        let records = self
            .started
            .records(ctx, self.config.encryption_key.as_deref())?;
        let conn = self.connect(records.alias()).await?;
        self.started.set(records, Mutex::new(Some(conn)));
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        self.started.take();
        Ok(())
    }

    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        let bytes: Option<Vec<u8>> = conn
            .hget(&self.config.tasks_key, task_id)
            .await
            .map_err(|e| self.err(&s, "cannot read", e))?;
        bytes
            .map(|bytes| s.records.read(task_id, &bytes))
            .transpose()
    }

    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        let ids: Vec<String> = conn
            .zrangebyscore(&self.config.run_times_key, "-inf", now.timestamp_micros())
            .await
            .map_err(|e| self.err(&s, "cannot read due tasks", e))?;
        let records = self.records(&s, &ids).await?;
        let mut tasks = s.records.read_all(records);
        // Beyond 2^53 µs a score is rounded, so the range may hold tasks due just after `now`.
        tasks.retain(|t| t.next_run_time().is_some_and(|n| n <= now));
        Ok(tasks)
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let s = self.started()?;
        // Each round that does not return finds at least one more undecodable record (or a
        // record deleted meanwhile), so this ends; the bound is for a set changing under us.
        for _ in 0..8 {
            let mut conn = self.conn(&s).await?;
            // Undecodable records never run, so their times must not wake the engine: of the
            // first `len + 1` members, at least one is not among them.
            let skip = self.started.undecodable().len();
            let first: Vec<(String, f64)> = conn
                .zrange_withscores(&self.config.run_times_key, 0, skip as isize)
                .await
                .map_err(|e| self.err(&s, "cannot read the next run time", e))?;
            let Some((_, score)) = first
                .into_iter()
                .find(|(id, _)| !self.started.undecodable().contains(id))
            else {
                return Ok(None);
            };
            if score.abs() < EXACT_SCORE {
                #[allow(clippy::cast_possible_truncation)]
                return Ok(DateTime::<Utc>::from_timestamp_micros(score as i64));
            }
            // A rounded score: the exact time is in the records; every task sharing the score
            // may be the earliest.
            let ties: Vec<String> = conn
                .zrangebyscore(&self.config.run_times_key, score, score)
                .await
                .map_err(|e| self.err(&s, "cannot read the next run time", e))?;
            let ties: Vec<String> = ties
                .into_iter()
                .filter(|id| !self.started.undecodable().contains(id))
                .collect();
            let records = self.records(&s, &ties).await?;
            let earliest = s
                .records
                .read_all(records)
                .iter()
                .filter_map(Task::next_run_time)
                .min();
            if earliest.is_some() {
                return Ok(earliest);
            }
        }
        Err(Error::backend(
            format!("store '{}' (redis)", s.alias()),
            "cannot read the next run time: the run times kept changing",
        ))
    }

    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        let all: Vec<(String, Vec<u8>)> = conn
            .hgetall(&self.config.tasks_key)
            .await
            .map_err(|e| self.err(&s, "cannot read tasks", e))?;
        let mut tasks = s.records.read_all(all);
        asyncz_core::sort_tasks(&mut tasks);
        Ok(tasks)
    }

    async fn add_task(&self, task: &Task) -> Result<()> {
        let s = self.started()?;
        let bytes = s.records.encode(task)?;
        let mut conn = self.conn(&s).await?;
        let added: i64 = Script::new(ADD)
            .key(&self.config.tasks_key)
            .key(&self.config.run_times_key)
            .key(self.cluster_keys.claims())
            .arg(task.id())
            .arg(bytes)
            .arg(score(task.next_run_time()))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.err(&s, "cannot add", e))?;
        if added == 0 {
            return Err(Error::conflict(task.id()));
        }
        Ok(())
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        let s = self.started()?;
        let bytes = s.records.encode(task)?;
        let mut conn = self.conn(&s).await?;
        let updated: i64 = Script::new(UPDATE)
            .key(&self.config.tasks_key)
            .key(&self.config.run_times_key)
            .key(self.cluster_keys.claims())
            .arg(task.id())
            .arg(bytes)
            .arg(score(task.next_run_time()))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.err(&s, "cannot update", e))?;
        if updated == 0 {
            return Err(Error::task_lookup(task.id()));
        }
        self.started.undecodable().clear(task.id());
        Ok(())
    }

    async fn delete_task(&self, task_id: &str) -> Result<()> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        let deleted: i64 = Script::new(DELETE)
            .key(&self.config.tasks_key)
            .key(&self.config.run_times_key)
            .key(self.cluster_keys.claims())
            .arg(task_id)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.err(&s, "cannot delete", e))?;
        if deleted == 0 {
            return Err(Error::task_lookup(task_id));
        }
        self.started.undecodable().clear(task_id);
        Ok(())
    }

    fn batches_schedules(&self) -> bool {
        true
    }

    /// Every change in one script: one round trip, applied atomically.
    async fn store_schedules(&self, changes: &[ScheduleChange]) -> Result<Vec<Result<()>>> {
        let s = self.started()?;
        let script = Script::new(SCHEDULES);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.config.tasks_key)
            .key(&self.config.run_times_key)
            .key(self.cluster_keys.claims());
        // A task that cannot be encoded fails alone and is not sent.
        let mut results: Vec<Option<Result<()>>> = Vec::with_capacity(changes.len());
        let mut sent = 0usize;
        for change in changes {
            match change {
                ScheduleChange::Update(task) => match s.records.encode(task) {
                    Ok(bytes) => {
                        invocation
                            .arg("u")
                            .arg(task.id())
                            .arg(bytes)
                            .arg(score(task.next_run_time()));
                        sent += 1;
                        results.push(None);
                    }
                    Err(e) => results.push(Some(Err(e))),
                },
                ScheduleChange::Delete(id) => {
                    invocation.arg("d").arg(id.as_str()).arg("").arg("");
                    sent += 1;
                    results.push(None);
                }
                other => results.push(Some(Err(Error::invalid(
                    "schedule change",
                    format!(
                        "task {:?}: a kind of change this store does not know",
                        other.task_id()
                    ),
                )))),
            }
        }
        let written: Vec<i64> = if sent == 0 {
            Vec::new()
        } else {
            let mut conn = self.conn(&s).await?;
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.err(&s, "cannot store the new schedules", e))?
        };
        if written.len() != sent {
            return Err(Error::backend(
                format!("store '{}' (redis)", s.alias()),
                format!("{} answers to {sent} schedule changes", written.len()),
            ));
        }
        let mut written = written.into_iter();
        Ok(changes
            .iter()
            .zip(results)
            .map(|(change, result)| {
                if let Some(result) = result {
                    return result;
                }
                if written.next() == Some(1) {
                    self.started.undecodable().clear(change.task_id());
                    Ok(())
                } else {
                    Err(Error::task_lookup(change.task_id()))
                }
            })
            .collect())
    }

    async fn remove_all_tasks(&self) -> Result<()> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        redis::pipe()
            .atomic()
            .del(&self.config.tasks_key)
            .del(&self.config.run_times_key)
            .del(self.cluster_keys.claims())
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.err(&s, "cannot delete", e))?;
        self.started.undecodable().clear_all();
        Ok(())
    }

    fn undecodable_records(&self) -> Vec<(String, String)> {
        self.started.undecodable().list()
    }

    fn cluster(&self) -> Option<&dyn ClusterStore> {
        Some(self)
    }
}
