//! Cluster mode of the SQL store: the asyncz-testkit cluster suite against SQLite, and against
//! PostgreSQL and MySQL/MariaDB when `ASYNCZ_TEST_POSTGRES_URL` / `ASYNCZ_TEST_MYSQL_URL` are
//! set (`cargo xtask test-backends` and CI set them); and the upgrade of a table made by the
//! single-process store, in place.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use asyncz_core::chrono::{Duration as Span, Utc};
use asyncz_core::cluster::{
    ClaimRequest, CommitResult, FireCommit, FireUpdate, HistoryQuery, NodeInfo, RunFinish, RunKind,
    RunRecord, RunState,
};
use asyncz_core::{async_trait, Result, SchemaVersion, Store};
use asyncz_stores_sql::{SqlStore, SqlStoreConfig};
use asyncz_testkit::{sample_task, store_context, t0, Capabilities, StoreHarness};

/// SQL stores, each data set in a table of its own (on SQLite, a file of its own).
struct Sql {
    name: &'static str,
    url: Box<dyn Fn(usize) -> String + Send + Sync>,
    prefix: String,
}

impl Sql {
    fn new(name: &'static str, url: impl Fn(usize) -> String + Send + Sync + 'static) -> Self {
        Sql {
            name,
            url: Box::new(url),
            prefix: format!("asyncz_c{}", std::process::id()),
        }
    }
}

#[async_trait]
impl StoreHarness for Sql {
    type Store = SqlStore;
    fn name(&self) -> String {
        self.name.to_owned()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            persistent: true,
            corruptible: true,
            max_id_len: None,
        }
    }
    async fn open(&self, n: usize) -> Result<SqlStore> {
        SqlStore::new(SqlStoreConfig::new((self.url)(n)).tablename(format!("{}_{n}", self.prefix)))
    }
    async fn corrupt_record(&self, store: &SqlStore, task_id: &str) -> Result<()> {
        store.write_raw_state(task_id, b"\x00not a task").await
    }
    async fn record_exists(&self, store: &SqlStore, task_id: &str) -> Result<bool> {
        store.record_exists(task_id).await
    }
    async fn clean_up(&self, store: &SqlStore) -> Result<()> {
        store.drop_table().await
    }
}

async fn run(harness: Sql) {
    let began = std::time::Instant::now();
    let report = asyncz_testkit::run_cluster_suite(&harness).await;
    println!("{report}({:?})", began.elapsed());
    report.assert_passed();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
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

/// A table made by the single-process store (three columns, no schema version) with a task
/// in it: a store of this version reads the task, upgrades the table in place, and claims and
/// commits it.
async fn an_old_table_is_upgraded_in_place(url: &str, blob: &str, id_type: &str) {
    let prefix = format!("asyncz_u{}", std::process::id());
    let source =
        SqlStore::new(SqlStoreConfig::new(url).tablename(format!("{prefix}_src"))).unwrap();
    source.start(store_context()).await.unwrap();
    source
        .add_task(&sample_task("old", Some(t0())))
        .await
        .unwrap();
    let old = format!("{prefix}_old");
    source
        .execute_raw(&format!("DROP TABLE IF EXISTS {old}"))
        .await
        .unwrap();
    source
        .execute_raw(&format!(
            "CREATE TABLE {old} (id {id_type} NOT NULL PRIMARY KEY, next_run_time BIGINT NULL, state {blob} NOT NULL)"
        ))
        .await
        .unwrap();
    source
        .execute_raw(&format!(
            "INSERT INTO {old} (id, next_run_time, state) SELECT id, next_run_time, state FROM {prefix}_src"
        ))
        .await
        .unwrap();
    source.drop_table().await.unwrap();

    let store = SqlStore::new(SqlStoreConfig::new(url).tablename(old)).unwrap();
    store.start(store_context()).await.unwrap();
    let task = store
        .lookup_task("old")
        .await
        .unwrap()
        .expect("the old record is readable");
    assert_eq!(task.next_run_time(), Some(t0()));
    let cluster = store.cluster().expect("the SQL store offers cluster mode");
    let claims = cluster
        .claim_due_tasks(ClaimRequest::new("n", t0(), Duration::from_secs(30), 10))
        .await
        .unwrap();
    assert_eq!(claims.len(), 1, "{claims:?}");
    assert!(claims[0].fence > 0, "old rows get a fence: {claims:?}");
    let run = RunRecord::new(
        "old",
        t0(),
        RunKind::Scheduled,
        RunState::Submitted,
        Utc::now(),
    )
    .with_owner("n", claims[0].fence);
    let next = t0() + Span::minutes(1);
    let fire = FireCommit::new(
        "old",
        claims[0].fence,
        FireUpdate::Reschedule(Box::new(
            claims[0].task.clone().with_next_run_time(Some(next)),
        )),
    )
    .with_runs(vec![run.clone()]);
    let results = cluster.commit_fires("n", &[fire]).await.unwrap();
    assert_eq!(results, [CommitResult::Committed(vec![run])]);
    assert_eq!(
        store
            .lookup_task("old")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(next)
    );
    assert_eq!(
        cluster.history(&HistoryQuery::new()).await.unwrap().len(),
        1
    );
    store.shutdown().await.unwrap();
    // A second start finds the schema current and changes nothing.
    let again = SqlStore::new(SqlStoreConfig::new(url).tablename(format!("{prefix}_old"))).unwrap();
    again.start(store_context()).await.unwrap();
    assert!(again.lookup_task("old").await.unwrap().is_some());
    assert_eq!(
        again.schema_version().await.unwrap(),
        Some(SchemaVersion::new(3, 3))
    );
    // A version-2 schema (before nodes published their functions) gains the column; a node
    // registered before keeps its row and reads back with no functions.
    let nodes_table = format!("{prefix}_old_nodes");
    let cluster = again.cluster().unwrap();
    cluster
        .heartbeat(&NodeInfo::new("before", "h", 1, Utc::now()))
        .await
        .unwrap();
    for sql in [
        format!("ALTER TABLE {nodes_table} DROP COLUMN functions"),
        format!("UPDATE {prefix}_old_meta SET value = 2 WHERE name = 'schema_version'"),
        format!("DELETE FROM {prefix}_old_meta WHERE name = 'compatible_version'"),
    ] {
        again.execute_raw(&sql).await.unwrap();
    }
    assert_eq!(
        again.schema_version().await.unwrap(),
        Some(SchemaVersion::new(2, 3))
    );
    let v3 = SqlStore::new(SqlStoreConfig::new(url).tablename(format!("{prefix}_old"))).unwrap();
    v3.start(store_context()).await.unwrap();
    assert_eq!(
        v3.schema_version().await.unwrap(),
        Some(SchemaVersion::new(3, 3))
    );
    let v3_cluster = v3.cluster().unwrap();
    let nodes = v3_cluster.list_nodes().await.unwrap();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert!(nodes[0].functions.is_empty(), "{nodes:?}");
    v3_cluster
        .heartbeat(
            &NodeInfo::new("after", "h", 2, Utc::now())
                .with_functions(["jobs:b".to_owned(), "jobs:a".to_owned()]),
        )
        .await
        .unwrap();
    let after = v3_cluster.list_nodes().await.unwrap();
    let after = after.iter().find(|n| n.node_id == "after").unwrap();
    assert_eq!(after.functions, ["jobs:a", "jobs:b"]);
    v3.shutdown().await.unwrap();
    // A newer schema that says this version can use it is used as it is.
    for sql in [
        format!("UPDATE {prefix}_old_meta SET value = 4 WHERE name = 'schema_version'"),
        format!("UPDATE {prefix}_old_meta SET value = 3 WHERE name = 'compatible_version'"),
    ] {
        again.execute_raw(&sql).await.unwrap();
    }
    let compatible =
        SqlStore::new(SqlStoreConfig::new(url).tablename(format!("{prefix}_old"))).unwrap();
    compatible.start(store_context()).await.unwrap();
    assert_eq!(
        compatible.schema_version().await.unwrap(),
        Some(SchemaVersion::new(4, 3))
    );
    compatible.shutdown().await.unwrap();
    // A schema from a newer asyncz that this one cannot use is refused, naming the versions.
    again
        .execute_raw(&format!(
            "UPDATE {prefix}_old_meta SET value = 99 WHERE name IN ('schema_version', 'compatible_version')"
        ))
        .await
        .unwrap();
    let newer = SqlStore::new(SqlStoreConfig::new(url).tablename(format!("{prefix}_old"))).unwrap();
    let err = newer.start(store_context()).await.unwrap_err().to_string();
    assert!(
        err.contains("newer asyncz") && err.contains("version 99"),
        "{err}"
    );
    again.drop_table().await.unwrap();
    again.shutdown().await.unwrap();
    source.shutdown().await.unwrap();
}

#[tokio::test]
async fn sqlite_passes_the_cluster_suite() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    run(Sql::new("sqlite", move |n| {
        format!("sqlite://{}/cluster-{n}.db", dir.path().display())
    }))
    .await;
}

#[tokio::test]
async fn sqlite_upgrades_an_old_table_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.db", dir.path().display());
    an_old_table_is_upgraded_in_place(&url, "BLOB", "VARCHAR(255)").await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_passes_the_cluster_suite() {
    let Some(url) = env("ASYNCZ_TEST_POSTGRES_URL") else {
        return;
    };
    run(Sql::new("postgres", move |_| url.clone())).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_upgrades_an_old_table_in_place() {
    let Some(url) = env("ASYNCZ_TEST_POSTGRES_URL") else {
        return;
    };
    an_old_table_is_upgraded_in_place(&url, "BYTEA", "VARCHAR(255)").await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_passes_the_cluster_suite() {
    let Some(url) = env("ASYNCZ_TEST_MYSQL_URL") else {
        return;
    };
    run(Sql::new("mysql", move |_| url.clone())).await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_upgrades_an_old_table_in_place() {
    let Some(url) = env("ASYNCZ_TEST_MYSQL_URL") else {
        return;
    };
    // The old way: a text id column, which start also converts to VARBINARY.
    an_old_table_is_upgraded_in_place(&url, "LONGBLOB", "VARCHAR(255)").await;
}

/// SQLite has no server clock: the store's clock is the scheduler's, from the `StoreContext`,
/// and leases are judged on it.
#[tokio::test]
async fn sqlite_judges_leases_on_the_schedulers_clock() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/clock.db", dir.path().display());
    let clock = Arc::new(asyncz_core::ManualClock::new(t0()));
    let ctx = || store_context().with_clock(clock.clone());
    let (a, b) = (
        SqlStore::new(SqlStoreConfig::new(&url)).unwrap(),
        SqlStore::new(SqlStoreConfig::new(&url)).unwrap(),
    );
    a.start(ctx()).await.unwrap();
    b.start(ctx()).await.unwrap();
    let (ca, cb) = (a.cluster().unwrap(), b.cluster().unwrap());
    assert_eq!(ca.store_time().await.unwrap(), t0());
    a.add_task(&sample_task("t", Some(t0()))).await.unwrap();
    let lease = Duration::from_secs(10);
    let mine = ca
        .claim_due_tasks(ClaimRequest::new("a", t0(), lease, 10))
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    clock.advance(Span::seconds(9));
    let early = cb
        .claim_due_tasks(ClaimRequest::new("b", t0(), lease, 10))
        .await
        .unwrap();
    assert!(early.is_empty(), "claimed 9 s into a 10 s lease: {early:?}");
    clock.advance(Span::seconds(1));
    let late = cb
        .claim_due_tasks(ClaimRequest::new("b", t0(), lease, 10))
        .await
        .unwrap();
    assert_eq!(
        late.len(),
        1,
        "the lease ran out at 10 s on the scheduler's clock"
    );
    assert!(late[0].fence > mine[0].fence);
    a.drop_table().await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A 63-character table name (the longest allowed): the ledger and node tables get names of
/// their own, not ones PostgreSQL would truncate to the task table's.
async fn a_longest_table_name_keeps_the_cluster_tables_apart(url: &str) {
    let name = format!("asyncz_l{}_{}", std::process::id(), "x".repeat(63))[..63].to_owned();
    let store = SqlStore::new(SqlStoreConfig::new(url).tablename(name)).unwrap();
    store.start(store_context()).await.unwrap();
    store.add_task(&sample_task("t", Some(t0()))).await.unwrap();
    let cluster = store.cluster().unwrap();
    let claims = cluster
        .claim_due_tasks(ClaimRequest::new("n", t0(), Duration::from_secs(30), 10))
        .await
        .unwrap();
    let run = RunRecord::new(
        "t",
        t0(),
        RunKind::Scheduled,
        RunState::Submitted,
        Utc::now(),
    )
    .with_owner("n", claims[0].fence);
    let fire = FireCommit::new("t", claims[0].fence, FireUpdate::Remove).with_runs(vec![run]);
    let results = cluster.commit_fires("n", &[fire]).await.unwrap();
    assert!(matches!(&results[..], [CommitResult::Committed(runs)] if runs.len() == 1));
    assert_eq!(
        cluster.history(&HistoryQuery::new()).await.unwrap().len(),
        1
    );
    store.drop_table().await.unwrap();
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn sqlite_keeps_the_cluster_tables_of_a_longest_table_name_apart() {
    let dir = tempfile::tempdir().unwrap();
    a_longest_table_name_keeps_the_cluster_tables_apart(&format!(
        "sqlite://{}/long.db",
        dir.path().display()
    ))
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_keeps_the_cluster_tables_of_a_longest_table_name_apart() {
    let Some(url) = env("ASYNCZ_TEST_POSTGRES_URL") else {
        return;
    };
    a_longest_table_name_keeps_the_cluster_tables_apart(&url).await;
}

/// The set-based writes of a busy round: one commit of several fires (a stale one, a run
/// whose time is recorded already, a task at its `max_instances`), then batched starts and
/// finishes, each answered per run as the single-run methods would.
async fn a_round_is_written_in_batches(url: &str) {
    let name = format!("asyncz_b{}", std::process::id());
    let store = SqlStore::new(SqlStoreConfig::new(url).tablename(name)).unwrap();
    store.start(store_context()).await.unwrap();
    for id in ["a", "b", "c", "d"] {
        store.add_task(&sample_task(id, Some(t0()))).await.unwrap();
    }
    let cluster = store.cluster().unwrap();
    // "c" already has a record at t0, and "d" an active one (max_instances 1).
    let earlier = RunRecord::new("c", t0(), RunKind::Manual, RunState::Succeeded, Utc::now());
    cluster.insert_run(&earlier).await.unwrap();
    let active = RunRecord::new(
        "d",
        t0() - Span::seconds(5),
        RunKind::Scheduled,
        RunState::Submitted,
        Utc::now(),
    )
    .with_owner("other", 1);
    cluster.insert_run(&active).await.unwrap();
    let claims = cluster
        .claim_due_tasks(ClaimRequest::new("n", t0(), Duration::from_secs(30), 10))
        .await
        .unwrap();
    assert_eq!(claims.len(), 4);
    let fire = |id: &str, times: &[i64], stale: bool| {
        let claim = claims.iter().find(|c| c.task.id() == id).unwrap();
        let fence = claim.fence + u64::from(stale);
        let runs = times
            .iter()
            .map(|s| {
                RunRecord::new(
                    id,
                    t0() + Span::seconds(*s),
                    RunKind::Scheduled,
                    RunState::Submitted,
                    Utc::now(),
                )
                .with_owner("n", fence)
            })
            .collect();
        let mut task = claim.task.clone();
        task.set_next_run_time(Some(t0() + Span::seconds(60)));
        FireCommit::new(id, fence, FireUpdate::Reschedule(Box::new(task)))
            .with_runs(runs)
            .with_max_active(Some(1))
    };
    let fires = [
        fire("a", &[0, 1], false),
        fire("b", &[0], true),
        fire("c", &[0, 1], false),
        fire("d", &[0], false),
    ];
    let results = cluster.commit_fires("n", &fires).await.unwrap();
    let stored = |i: usize| match &results[i] {
        CommitResult::Committed(runs) => runs.clone(),
        CommitResult::Stale => panic!("fire {i} is stale: {results:?}"),
    };
    assert_eq!(stored(0).len(), 2, "both runs of a");
    assert_eq!(results[1], CommitResult::Stale, "b's fence moved");
    assert_eq!(
        stored(2)
            .iter()
            .map(|r| r.scheduled_run_time)
            .collect::<Vec<_>>(),
        [t0() + Span::seconds(1)],
        "c's run at a recorded time is left out"
    );
    assert_eq!(
        stored(3)[0].state,
        RunState::Skipped,
        "d is at max_instances"
    );
    assert_eq!(
        store
            .lookup_task("a")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(t0() + Span::seconds(60))
    );
    assert_eq!(
        store
            .lookup_task("b")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(t0()),
        "a stale fire writes nothing"
    );
    let (a0, a1, c1) = (
        stored(0)[0].as_ref().unwrap(),
        stored(0)[1].as_ref().unwrap(),
        stored(2)[0].as_ref().unwrap(),
    );
    // Another node's run, named as if it were this node's.
    let mut foreign = active.as_ref().unwrap();
    foreign.node = "n".to_owned();
    let mut missing = a0.clone();
    missing.run_id = "no-such-run".to_owned();
    let mut old_attempt = c1.clone();
    old_attempt.attempt = 2;
    let started = cluster
        .start_runs(
            &[
                a0.clone(),
                a1.clone(),
                foreign.clone(),
                missing,
                old_attempt,
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(started, [true, true, false, false, false]);
    let again = cluster
        .start_runs(&[a0.clone(), c1.clone()], Utc::now())
        .await
        .unwrap();
    assert_eq!(again, [true, true], "a start is idempotent for its owner");
    let at = Utc::now();
    let finished = cluster
        .finish_runs(&[
            (a0.clone(), RunFinish::new(RunState::Succeeded, at)),
            (
                a1.clone(),
                RunFinish::new(RunState::Failed, at).with_error(Some("boom".to_owned())),
            ),
            (a0.clone(), RunFinish::new(RunState::Failed, at)),
            (foreign, RunFinish::new(RunState::Succeeded, at)),
        ])
        .await
        .unwrap();
    assert_eq!(finished, [true, true, false, false]);
    let a = cluster
        .history(&HistoryQuery::new().task("a"))
        .await
        .unwrap();
    let states: Vec<(RunState, Option<String>, bool)> = a
        .iter()
        .rev()
        .map(|r| (r.state, r.error.clone(), r.started_at.is_some()))
        .collect();
    assert_eq!(
        states,
        [
            (RunState::Succeeded, None, true),
            (RunState::Failed, Some("boom".to_owned()), true)
        ]
    );
    let d = cluster.get_run(&active.run_id).await.unwrap().unwrap();
    assert_eq!(
        d.state,
        RunState::Submitted,
        "another node's run is left alone"
    );
    store.drop_table().await.unwrap();
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn sqlite_writes_a_round_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    a_round_is_written_in_batches(&format!("sqlite://{}/batch.db", dir.path().display())).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_writes_a_round_in_batches() {
    let Some(url) = env("ASYNCZ_TEST_POSTGRES_URL") else {
        return;
    };
    a_round_is_written_in_batches(&url).await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_writes_a_round_in_batches() {
    let Some(url) = env("ASYNCZ_TEST_MYSQL_URL") else {
        return;
    };
    a_round_is_written_in_batches(&url).await;
}
