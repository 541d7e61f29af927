//! The Redis store's cluster half ([`ClusterStore`]): claims with leases and fences, atomic
//! fire commits, the run ledger and the node registry, each step one Lua script (so atomic),
//! judged on the server's clock (`TIME`, called inside the scripts).
//!
//! Keys, all under [`RedisStore::cluster_key_prefix`] (`P`):
//! - `P claims` (hash): task id → `<fence>:<claimed until, µs>:<node>`; `update_task`,
//!   `delete_task` and `remove_all_tasks` drop the claim in the same script as their write;
//! - `P fence` (counter): every claim takes the next value, so a task's fence grows at every
//!   claim, across deletes and re-adds;
//! - `P runs` (hash): run id → run record (JSON, see `wire`); `P run_keys` (hash):
//!   `<scheduled µs>|<task id>` → run id, the ledger's unique key;
//! - `P history` and `P history:<task id>` (sorted sets by scheduled run time), with
//!   `P history_tasks` (set) listing the tasks that have one;
//! - `P requested` (sorted set by creation time): the run requests;
//! - `P active:<task id>` and `P node_runs:<node>` (sets): `submitted` and `running` runs,
//!   per task (for `max_active`) and per node (for settling a dead node's runs);
//! - `P nodes` (hash): node id → node record (JSON).
//!
//! Scores are doubles, exact for microsecond epochs up to 2^53 (about the year 2255); the
//! scripts name the keys they build from the prefix, so in a Redis Cluster every key must
//! hash to one slot: give `tasks_key` and `run_times_key` the same hash tag (`{asyncz}.tasks`,
//! `{asyncz}.run_times`).

mod wire;

use std::sync::LazyLock;
use std::time::Duration;

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::{
    ClaimRequest, ClaimedTask, ClusterStore, CommitResult, Fence, FireCommit, FireUpdate,
    HistoryQuery, NodeInfo, NodeState, RunFinish, RunRecord, RunRef, RunState, SettleReason,
};
use asyncz_core::{async_trait, Error, Result};
use redis::{FromRedisValue, Script, ScriptInvocation};

use crate::store::{score, RedisStore, Started};
use wire::{micros, node_state, WireNode, WireRun};

/// The names of the cluster keys of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterKeys {
    prefix: String,
    claims: String,
}

impl ClusterKeys {
    /// The cluster keys of the store whose tasks hash is `tasks_key`: a trailing `tasks`
    /// (after a separator, or alone) becomes `cluster.`, else `.cluster.` is appended.
    pub(crate) fn for_tasks_key(tasks_key: &str) -> Self {
        let base = match tasks_key.strip_suffix("tasks") {
            Some(base) if base.is_empty() || base.ends_with(|c: char| !c.is_alphanumeric()) => {
                base.to_owned()
            }
            _ => format!("{tasks_key}."),
        };
        let prefix = format!("{base}cluster.");
        ClusterKeys {
            claims: format!("{prefix}claims"),
            prefix,
        }
    }

    /// The prefix of every cluster key.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash of claims.
    pub(crate) fn claims(&self) -> &str {
        &self.claims
    }
}

/// The cluster scripts, each with the shared helpers (`scripts/lib.lua`) in front.
struct Scripts {
    claim: Script,
    renew: Script,
    release: Script,
    commit: Script,
    insert_run: Script,
    claim_requests: Script,
    start_run: Script,
    finish_run: Script,
    settle: Script,
    history: Script,
    prune: Script,
    heartbeat: Script,
    mark_dead: Script,
    forget_dead: Script,
    leave: Script,
}

macro_rules! script {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("scripts/lib.lua"),
            include_str!(concat!("scripts/", $file))
        ))
    };
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    claim: script!("claim.lua"),
    renew: script!("renew.lua"),
    release: script!("release.lua"),
    commit: script!("commit.lua"),
    insert_run: script!("insert_run.lua"),
    claim_requests: script!("claim_requests.lua"),
    start_run: script!("start_run.lua"),
    finish_run: script!("finish_run.lua"),
    settle: script!("settle.lua"),
    history: script!("history.lua"),
    prune: script!("prune.lua"),
    heartbeat: script!("heartbeat.lua"),
    mark_dead: script!("mark_dead.lua"),
    forget_dead: script!("forget_dead.lua"),
    leave: script!("leave.lua"),
});

/// Most records one script call takes or reads (a larger limit is served in part: claims
/// and requests "at most" the limit; history up to this many), so its numbers stay exact
/// integers on the server.
const MAX_BATCH: usize = 1_000_000;

/// Task ids per prune script call: bounds how long one call holds the server.
const PRUNE_BATCH: usize = 50;

/// Longest lease or timeout passed to a script (about 31 years), so the server's arithmetic
/// stays exact.
const MAX_SPAN_MICROS: u64 = 1_000_000_000_000_000;

fn span_micros(d: Duration) -> String {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(MAX_SPAN_MICROS)
        .to_string()
}

impl RedisStore {
    /// A script call with the cluster prefix as `ARGV[1]` (and the task keys when `tasks`).
    fn invocation<'a>(&self, script: &'a Script, tasks: bool) -> ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        if tasks {
            inv.key(&self.config.tasks_key)
                .key(&self.config.run_times_key);
        }
        inv.arg(self.cluster_keys.prefix());
        inv
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        s: &Started,
        what: &str,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T> {
        let mut conn = self.conn(s).await?;
        inv.invoke_async(&mut conn)
            .await
            .map_err(|e| self.err(s, what, e))
    }

    fn backend_error(&self, s: &Started, message: impl Into<String>) -> Error {
        Error::backend(format!("store '{}' (redis)", s.alias()), message.into())
    }

    /// The run records in `raws`; one that cannot be decoded is logged and left out (it stays
    /// stored: bad data is never deleted).
    fn runs_from(&self, s: &Started, raws: Vec<Vec<u8>>) -> Vec<RunRecord> {
        raws.into_iter()
            .filter_map(|raw| match WireRun::decode(&raw) {
                Ok(run) => Some(run),
                Err(error) => {
                    tracing::warn!(
                        target: "asyncz.stores.redis",
                        store = ?s.alias(),
                        record = ?String::from_utf8_lossy(&raw),
                        error = ?error,
                        "skipping a run record that cannot be decoded"
                    );
                    None
                }
            })
            .collect()
    }

    /// Gives back claims by (task id, fence).
    async fn release_fences(
        &self,
        s: &Started,
        node: &str,
        claims: &[(&str, Fence)],
    ) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let mut inv = self.invocation(&SCRIPTS.release, false);
        inv.arg(node);
        for (id, fence) in claims {
            inv.arg(*id).arg(fence.to_string());
        }
        self.invoke::<i64>(s, "cannot release claims", &inv).await?;
        Ok(())
    }

    /// One claim script call for up to `limit` tasks, adding the ones it could decode to
    /// `claimed`; returns how many the script claimed and how many were given back.
    async fn claim_round(
        &self,
        s: &Started,
        request: &ClaimRequest<'_>,
        limit: usize,
        claimed: &mut Vec<ClaimedTask>,
    ) -> Result<(usize, usize)> {
        let mut inv = self.invocation(&SCRIPTS.claim, true);
        inv.arg(request.node)
            .arg(request.now.timestamp_micros().to_string())
            .arg(span_micros(request.lease))
            .arg(limit.to_string());
        for (id, _) in self.started.undecodable().list() {
            inv.arg(id);
        }
        let raw: Vec<Vec<u8>> = self.invoke(s, "cannot claim due tasks", &inv).await?;
        let mut give_back: Vec<(String, Fence)> = Vec::new();
        for entry in raw.chunks(3) {
            let [id, fence, bytes] = entry else {
                return Err(self.backend_error(s, "the claim script returned a partial entry"));
            };
            let id = String::from_utf8_lossy(id).into_owned();
            let fence: Fence = number(fence).ok_or_else(|| {
                self.backend_error(
                    s,
                    format!(
                        "the claim of task '{id}' has the fence {:?}, not a number",
                        String::from_utf8_lossy(fence)
                    ),
                )
            })?;
            match s.records.read(&id, bytes) {
                // Beyond 2^53 µs a score is rounded: the range may hold tasks due just after
                // `now`, which are given back like the undecodable ones.
                Ok(task) if task.next_run_time().is_some_and(|n| n <= request.now) => {
                    claimed.push(ClaimedTask::new(task, fence));
                }
                _ => give_back.push((id, fence)),
            }
        }
        let back: Vec<(&str, Fence)> = give_back.iter().map(|(id, f)| (id.as_str(), *f)).collect();
        // The tasks claimed are this node's whatever becomes of the others: a claim that
        // cannot be given back expires with its lease.
        if let Err(error) = self.release_fences(s, request.node, &back).await {
            tracing::warn!(
                target: "asyncz.stores.redis",
                store = ?s.alias(),
                tasks = ?give_back.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                error = %error,
                "cannot give back claims of tasks not to run; they expire with their lease"
            );
        }
        Ok((raw.len() / 3, back.len()))
    }

    /// The script arguments of one fire, or why it cannot be committed.
    fn fire_args(&self, s: &Started, fire: &FireCommit) -> Result<Vec<Vec<u8>>> {
        let (op, bytes, next) = match &fire.update {
            FireUpdate::Reschedule(task) => {
                if task.id() != fire.task_id {
                    return Err(Error::invalid(
                        "fire",
                        format!(
                            "the fire of task '{}' reschedules task '{}'",
                            fire.task_id,
                            task.id()
                        ),
                    ));
                }
                ("r", s.records.encode(task)?, score(task.next_run_time()))
            }
            FireUpdate::Remove => ("d", Vec::new(), String::new()),
        };
        if let Some(run) = fire.runs.iter().find(|r| r.task_id != fire.task_id) {
            return Err(Error::invalid(
                "fire",
                format!(
                    "the fire of task '{}' holds run '{}' of task '{}'",
                    fire.task_id, run.run_id, run.task_id
                ),
            ));
        }
        let limit_error = fire
            .max_active
            .map(|max_instances| {
                Error::MaximumInstances {
                    task_id: fire.task_id.clone(),
                    max_instances,
                }
                .to_string()
            })
            .unwrap_or_default();
        let mut args: Vec<Vec<u8>> = vec![
            fire.task_id.clone().into_bytes(),
            fire.fence.to_string().into_bytes(),
            op.as_bytes().to_vec(),
            bytes,
            next.into_bytes(),
            fire.max_active
                .map(|m| m.to_string())
                .unwrap_or_default()
                .into_bytes(),
            limit_error.into_bytes(),
            fire.runs.len().to_string().into_bytes(),
        ];
        args.extend(fire.runs.iter().map(|r| WireRun::encode(r).into_bytes()));
        Ok(args)
    }
}

/// Parses a decimal reply element.
fn number<T: std::str::FromStr>(raw: &[u8]) -> Option<T> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

#[async_trait]
impl ClusterStore for RedisStore {
    async fn store_time(&self) -> Result<DateTime<Utc>> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        let (secs, micros): (i64, i64) = redis::cmd("TIME")
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(&s, "cannot read the server time", e))?;
        secs.checked_mul(1_000_000)
            .and_then(|t| t.checked_add(micros))
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or_else(|| {
                self.backend_error(
                    &s,
                    format!("the server time {secs} s {micros} µs is not a valid time"),
                )
            })
    }

    async fn claim_due_tasks(&self, request: ClaimRequest<'_>) -> Result<Vec<ClaimedTask>> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let s = self.started()?;
        let mut claimed = Vec::new();
        // A record this handle could not decode is given back and, now known, skipped by the
        // next call; the rounds fill the limit with the tasks after it.
        let limit = request.limit.min(MAX_BATCH);
        for _ in 0..4 {
            let want = limit - claimed.len();
            let (got, given_back) = self.claim_round(&s, &request, want, &mut claimed).await?;
            if given_back == 0 || got < want || claimed.len() == limit {
                break;
            }
        }
        Ok(claimed)
    }

    async fn renew_claims(
        &self,
        node: &str,
        claims: &[ClaimedTask],
        lease: Duration,
    ) -> Result<Vec<String>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.renew, false);
        inv.arg(node).arg(span_micros(lease));
        for claim in claims {
            inv.arg(claim.task.id()).arg(claim.fence.to_string());
        }
        self.invoke(&s, "cannot renew claims", &inv).await
    }

    async fn release_claims(&self, node: &str, claims: &[ClaimedTask]) -> Result<()> {
        let s = self.started()?;
        let claims: Vec<(&str, Fence)> = claims.iter().map(|c| (c.task.id(), c.fence)).collect();
        self.release_fences(&s, node, &claims).await
    }

    async fn commit_fires(&self, node: &str, fires: &[FireCommit]) -> Result<Vec<CommitResult>> {
        if fires.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.commit, true);
        inv.arg(node);
        // A fire that cannot be sent (a task that cannot be encoded) writes nothing, like a
        // stale one; the others still commit.
        let mut sent = Vec::with_capacity(fires.len());
        let mut args = Vec::new();
        for fire in fires {
            match self.fire_args(&s, fire) {
                Ok(fire_args) => {
                    args.extend(fire_args);
                    sent.push(true);
                }
                Err(error) => {
                    tracing::error!(
                        target: "asyncz.stores.redis",
                        store = ?s.alias(),
                        task_id = ?fire.task_id,
                        error = %error,
                        "cannot commit a fire: nothing written"
                    );
                    sent.push(false);
                }
            }
        }
        let count = sent.iter().filter(|sent| **sent).count();
        let mut replies = Vec::new().into_iter();
        if count > 0 {
            inv.arg(count.to_string());
            for arg in args {
                inv.arg(arg);
            }
            let raw: Vec<Vec<u8>> = self.invoke(&s, "cannot commit fires", &inv).await?;
            replies = raw.into_iter();
        }
        let mut results = Vec::with_capacity(fires.len());
        for (fire, sent) in fires.iter().zip(sent) {
            if !sent {
                results.push(CommitResult::Stale);
                continue;
            }
            let truncated =
                || self.backend_error(&s, "the commit script returned fewer results than fires");
            let head = replies.next().ok_or_else(truncated)?;
            let n: i64 = number(&head).ok_or_else(|| {
                self.backend_error(
                    &s,
                    format!(
                        "the commit of task '{}' returned {:?}, not a count",
                        fire.task_id,
                        String::from_utf8_lossy(&head)
                    ),
                )
            })?;
            if n < 0 {
                results.push(CommitResult::Stale);
                continue;
            }
            let mut stored = Vec::new();
            for _ in 0..n {
                stored.push(replies.next().ok_or_else(truncated)?);
            }
            self.started.undecodable().clear(&fire.task_id);
            results.push(CommitResult::Committed(self.runs_from(&s, stored)));
        }
        Ok(results)
    }

    async fn insert_run(&self, run: &RunRecord) -> Result<()> {
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.insert_run, false);
        inv.arg(WireRun::encode(run));
        let inserted: i64 = self.invoke(&s, "cannot insert a run", &inv).await?;
        match inserted {
            1 => Ok(()),
            0 => Err(Error::ConflictRun {
                task_id: run.task_id.clone(),
                scheduled_run_time: run.scheduled_run_time,
            }),
            _ => Err(Error::invalid(
                "run_id",
                format!(
                    "a run with the id '{}' is already in the ledger",
                    run.run_id
                ),
            )),
        }
    }

    async fn claim_run_requests(&self, node: &str, limit: usize) -> Result<Vec<RunRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.claim_requests, false);
        inv.arg(node).arg(limit.min(MAX_BATCH).to_string());
        let raw: Vec<Vec<u8>> = self.invoke(&s, "cannot claim run requests", &inv).await?;
        Ok(self.runs_from(&s, raw))
    }

    async fn start_run(&self, run: &RunRef, started_at: DateTime<Utc>) -> Result<bool> {
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.start_run, false);
        inv.arg(&run.run_id)
            .arg(&run.node)
            .arg(run.attempt.to_string())
            .arg(micros(started_at));
        let written: i64 = self
            .invoke(&s, &format!("cannot start run '{}'", run.run_id), &inv)
            .await?;
        Ok(written == 1)
    }

    async fn finish_run(&self, run: &RunRef, finish: &RunFinish) -> Result<bool> {
        if !finish.state.is_final() {
            return Err(Error::invalid(
                "run state",
                format!(
                    "finishing run '{}' needs a final state, got {}",
                    run.run_id, finish.state
                ),
            ));
        }
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.finish_run, false);
        inv.arg(&run.run_id)
            .arg(&run.node)
            .arg(run.attempt.to_string())
            .arg(finish.state.as_str())
            .arg(micros(finish.finished_at))
            .arg(if finish.error.is_some() { "1" } else { "0" })
            .arg(finish.error.as_deref().unwrap_or_default());
        let written: i64 = self
            .invoke(&s, &format!("cannot finish run '{}'", run.run_id), &inv)
            .await?;
        Ok(written == 1)
    }

    async fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        let raw: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(format!("{}runs", self.cluster_keys.prefix()))
            .arg(run_id)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(&s, "cannot read a run", e))?;
        raw.map(|raw| {
            WireRun::decode(&raw).map_err(|why| {
                self.backend_error(
                    &s,
                    format!("run record '{run_id}' cannot be decoded: {why}"),
                )
            })
        })
        .transpose()
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Vec<RunRecord>> {
        let limit = query.effective_limit();
        if limit == 0 {
            return Ok(Vec::new());
        }
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.history, false);
        inv.arg(if query.task_id.is_some() { "1" } else { "0" })
            .arg(query.task_id.as_deref().unwrap_or_default())
            .arg(
                query
                    .before
                    .map(|b| format!("({}", b.timestamp_micros()))
                    .unwrap_or_else(|| "+inf".to_owned()),
            )
            .arg(limit.min(MAX_BATCH).to_string());
        for state in &query.states {
            inv.arg(state.as_str());
        }
        let raw: Vec<Vec<u8>> = self.invoke(&s, "cannot read the run history", &inv).await?;
        let mut runs = self.runs_from(&s, raw);
        runs.retain(|r| query.matches(r));
        runs.truncate(limit);
        Ok(runs)
    }

    async fn prune_runs(&self, older_than: DateTime<Utc>, keep_per_task: usize) -> Result<u64> {
        let s = self.started()?;
        let tasks: Vec<String> = {
            let mut conn = self.conn(&s).await?;
            redis::cmd("SMEMBERS")
                .arg(format!("{}history_tasks", self.cluster_keys.prefix()))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(&s, "cannot list the tasks with runs", e))?
        };
        let mut deleted = 0u64;
        for batch in tasks.chunks(PRUNE_BATCH) {
            let mut inv = self.invocation(&SCRIPTS.prune, false);
            inv.arg(micros(older_than)).arg(keep_per_task.to_string());
            for task in batch {
                inv.arg(task);
            }
            let n: i64 = self.invoke(&s, "cannot prune runs", &inv).await?;
            deleted += u64::try_from(n).unwrap_or(0);
        }
        Ok(deleted)
    }

    async fn heartbeat(&self, node: &NodeInfo) -> Result<Option<NodeState>> {
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.heartbeat, false);
        inv.arg(&node.node_id).arg(WireNode::encode(node));
        let (previous, _now): (String, String) = self
            .invoke(
                &s,
                &format!("cannot heartbeat node '{}'", node.node_id),
                &inv,
            )
            .await?;
        if previous.is_empty() {
            return Ok(None);
        }
        node_state(&previous)
            .map(Some)
            .map_err(|why| self.backend_error(&s, format!("node record '{}': {why}", node.node_id)))
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        let s = self.started()?;
        let mut conn = self.conn(&s).await?;
        let all: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
            .arg(format!("{}nodes", self.cluster_keys.prefix()))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(&s, "cannot list nodes", e))?;
        let mut nodes: Vec<NodeInfo> = all
            .into_iter()
            .filter_map(|(id, raw)| match WireNode::decode(&raw) {
                Ok(node) => Some(node),
                Err(error) => {
                    tracing::warn!(
                        target: "asyncz.stores.redis",
                        store = ?s.alias(),
                        node_id = ?id,
                        error = ?error,
                        "skipping a node record that cannot be decoded"
                    );
                    None
                }
            })
            .collect();
        nodes.sort_by(|a, b| {
            (a.state != NodeState::Alive, &a.node_id)
                .cmp(&(b.state != NodeState::Alive, &b.node_id))
        });
        Ok(nodes)
    }

    async fn mark_dead_nodes(&self, timeout: Duration) -> Result<Vec<NodeInfo>> {
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.mark_dead, false);
        inv.arg(span_micros(timeout));
        let raw: Vec<Vec<u8>> = self.invoke(&s, "cannot mark dead nodes", &inv).await?;
        raw.into_iter()
            .map(|raw| {
                WireNode::decode(&raw).map_err(|why| {
                    self.backend_error(&s, format!("a node marked dead cannot be decoded: {why}"))
                })
            })
            .collect()
    }

    async fn settle_runs_of(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
        reason: SettleReason,
    ) -> Result<Vec<RunRecord>> {
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.settle, false);
        let reason_name = match reason {
            SettleReason::NodeDead => "dead",
            SettleReason::NodeLeaving => "leaving",
            SettleReason::NodeRestarted => "restarted",
        };
        inv.arg(node_id)
            .arg(micros(now))
            .arg(reason_name)
            .arg(reason.abandoned_error(node_id, RunState::Submitted))
            .arg(reason.abandoned_error(node_id, RunState::Running));
        let raw: Vec<Vec<u8>> = self
            .invoke(
                &s,
                &format!("cannot settle the runs of node '{node_id}'"),
                &inv,
            )
            .await?;
        let mut runs = self.runs_from(&s, raw);
        runs.sort_by(|a, b| {
            (a.scheduled_run_time, &a.task_id, &a.run_id).cmp(&(
                b.scheduled_run_time,
                &b.task_id,
                &b.run_id,
            ))
        });
        Ok(runs)
    }

    async fn leave(&self, node_id: &str) -> Result<()> {
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.leave, false);
        inv.arg(node_id);
        self.invoke::<i64>(&s, &format!("cannot remove node '{node_id}'"), &inv)
            .await?;
        Ok(())
    }

    async fn forget_dead_nodes(&self, dead_for: Duration) -> Result<u64> {
        let s = self.started()?;
        let mut inv = self.invocation(&SCRIPTS.forget_dead, false);
        inv.arg(span_micros(dead_for));
        let deleted: i64 = self.invoke(&s, "cannot forget dead nodes", &inv).await?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::ClusterKeys;

    #[test]
    fn cluster_keys_follow_the_tasks_key() {
        for (tasks_key, prefix) in [
            ("asyncz.tasks", "asyncz.cluster."),
            ("{app}:tasks", "{app}:cluster."),
            ("tasks", "cluster."),
            ("mytasks", "mytasks.cluster."),
            ("jobs", "jobs.cluster."),
        ] {
            let keys = ClusterKeys::for_tasks_key(tasks_key);
            assert_eq!(keys.prefix(), prefix, "{tasks_key}");
            assert_eq!(keys.claims(), format!("{prefix}claims"));
        }
    }
}
