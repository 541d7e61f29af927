//! The store cases. Each returns `Err(why)` instead of panicking, so one report lists every
//! failure of a backend at once.

use std::sync::Arc;
use std::time::Duration;

use asyncz_core::chrono::{DateTime, Duration as Span, Utc};
use asyncz_core::{Callable, Error, Map, ScheduleChange, Store, Task, TriggerContext, Value};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;

use crate::harness::{plugins, sample_task, t0, Capabilities, Fixture, StoreHarness};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type CaseFn<H> = for<'a> fn(&'a Fixture<'a, H>) -> BoxFuture<'a, Result<(), String>>;

/// One case of the suite, for stores of harness `H`.
pub struct StoreCase<H: StoreHarness> {
    /// The case name, after the behaviour it checks.
    pub name: &'static str,
    /// Capabilities the case needs.
    pub needs: Capabilities,
    /// Runs the case against a started, empty store.
    pub run: CaseFn<H>,
}

impl<H: StoreHarness> std::fmt::Debug for StoreCase<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCase")
            .field("name", &self.name)
            .finish()
    }
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn err(e: Error) -> String {
    e.to_string()
}

fn ids(tasks: &[Task]) -> Vec<String> {
    tasks.iter().map(|t| t.id().to_owned()).collect()
}

fn at_us(us: i64) -> Option<DateTime<Utc>> {
    Some(t0() + Span::microseconds(us))
}

const ANY: Capabilities = Capabilities {
    persistent: false,
    corruptible: false,
    max_id_len: None,
};

/// Cases that reopen the store's data.
const PERSISTENT: Capabilities = Capabilities {
    persistent: true,
    corruptible: false,
    max_id_len: None,
};

/// Cases that corrupt a stored record.
const CORRUPTIBLE: Capabilities = Capabilities {
    persistent: true,
    corruptible: true,
    max_id_len: None,
};

/// A case: `h` is the [`Fixture`], `store` its started store (`&Arc<H::Store>`).
macro_rules! case {
    ($name:ident, $needs:expr, |$harness:ident, $store:ident| $body:block) => {
        StoreCase {
            name: stringify!($name),
            needs: $needs,
            run: |fixture| {
                Box::pin(async move {
                    let $harness = fixture;
                    let $store = fixture.store();
                    let _ = (&$harness, &$store);
                    $body
                })
            },
        }
    };
}

/// What a case returns to be listed as skipped (the store lacks what it checks) rather than
/// passed.
pub(crate) const SKIPPED: &str = "\u{0}skipped";

/// Every case, in order: the trait's contract, then the faults every store must be held to.
pub fn store_cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    let mut cases = contract_cases();
    cases.extend(precision::cases());
    cases.extend(ids::cases());
    cases.extend(undecodable::cases());
    cases.extend(connect::cases());
    cases.extend(clock::cases());
    cases
}

/// The `# Behavior` bullets of the `Store` methods.
fn contract_cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    vec![
        case!(added_task_can_be_looked_up, ANY, |h, store| {
            store
                .add_task(&sample_task("a", at_us(0)))
                .await
                .map_err(err)?;
            let found = store.lookup_task("a").await.map_err(err)?;
            ensure!(
                found.as_ref().map(Task::id) == Some("a"),
                "lookup_task(\"a\") = {found:?}"
            );
            ensure!(
                found.as_ref().and_then(Task::next_run_time) == at_us(0),
                "next_run_time changed: {found:?}"
            );
            let missing = store.lookup_task("nope").await.map_err(err)?;
            ensure!(
                missing.is_none(),
                "a missing id must be None, got {missing:?}"
            );
            Ok(())
        }),
        case!(
            duplicate_id_is_conflict_and_keeps_the_stored_task,
            ANY,
            |h, store| {
                store
                    .add_task(&sample_task("a", at_us(0)))
                    .await
                    .map_err(err)?;
                let second = store
                    .add_task(&sample_task("a", None).with_name("other"))
                    .await;
                ensure!(
                    matches!(second, Err(Error::ConflictId { .. })),
                    "expected ConflictId, got {second:?}"
                );
                let kept = store.lookup_task("a").await.map_err(err)?;
                ensure!(
                    kept.as_ref().and_then(Task::next_run_time) == at_us(0),
                    "the stored task changed: {kept:?}"
                );
                Ok(())
            }
        ),
        case!(update_of_a_missing_id_is_task_lookup, ANY, |h, store| {
            let r = store.update_task(&sample_task("ghost", at_us(0))).await;
            ensure!(
                matches!(r, Err(Error::TaskLookup { .. })),
                "expected TaskLookup, got {r:?}"
            );
            ensure!(
                store.lookup_task("ghost").await.map_err(err)?.is_none(),
                "update created the task"
            );
            Ok(())
        }),
        case!(delete_of_a_missing_id_is_task_lookup, ANY, |h, store| {
            let r = store.delete_task("ghost").await;
            ensure!(
                matches!(r, Err(Error::TaskLookup { .. })),
                "expected TaskLookup, got {r:?}"
            );
            Ok(())
        }),
        case!(
            due_tasks_come_in_next_run_time_order_to_the_microsecond,
            ANY,
            |h, store| {
                for (id, us) in [("c", 402), ("a", 400), ("later", 10_000), ("b", 401)] {
                    store
                        .add_task(&sample_task(id, at_us(us)))
                        .await
                        .map_err(err)?;
                }
                store
                    .add_task(&sample_task("paused", None))
                    .await
                    .map_err(err)?;
                let due = store
                    .get_due_tasks(t0() + Span::microseconds(402))
                    .await
                    .map_err(err)?;
                ensure!(ids(&due) == ["a", "b", "c"], "due tasks: {:?}", ids(&due));
                let none = store
                    .get_due_tasks(t0() + Span::microseconds(399))
                    .await
                    .map_err(err)?;
                ensure!(
                    none.is_empty(),
                    "nothing is due before 400 µs: {:?}",
                    ids(&none)
                );
                Ok(())
            }
        ),
        case!(
            paused_tasks_are_never_due_and_listed_last,
            ANY,
            |h, store| {
                store
                    .add_task(&sample_task("paused", None))
                    .await
                    .map_err(err)?;
                store
                    .add_task(&sample_task("late", at_us(3_600_000_000)))
                    .await
                    .map_err(err)?;
                store
                    .add_task(&sample_task("early", at_us(0)))
                    .await
                    .map_err(err)?;
                let all = store.get_all_tasks().await.map_err(err)?;
                ensure!(
                    ids(&all) == ["early", "late", "paused"],
                    "get_all_tasks: {:?}",
                    ids(&all)
                );
                let due = store
                    .get_due_tasks(t0() + Span::days(3650))
                    .await
                    .map_err(err)?;
                ensure!(ids(&due) == ["early", "late"], "due: {:?}", ids(&due));
                Ok(())
            }
        ),
        case!(next_run_time_ignores_paused_tasks, ANY, |h, store| {
            ensure!(
                store.get_next_run_time().await.map_err(err)?.is_none(),
                "empty store has a next run time"
            );
            store
                .add_task(&sample_task("paused", None))
                .await
                .map_err(err)?;
            ensure!(
                store.get_next_run_time().await.map_err(err)?.is_none(),
                "a paused task counted"
            );
            store
                .add_task(&sample_task("s", at_us(7)))
                .await
                .map_err(err)?;
            let next = store.get_next_run_time().await.map_err(err)?;
            ensure!(next == at_us(7), "next run time {next:?}");
            Ok(())
        }),
        case!(updates_reorder_and_deletes_remove, ANY, |h, store| {
            store
                .add_task(&sample_task("a", at_us(0)))
                .await
                .map_err(err)?;
            store
                .add_task(&sample_task("b", at_us(1_000_000)))
                .await
                .map_err(err)?;
            store
                .update_task(&sample_task("a", at_us(2_000_000)))
                .await
                .map_err(err)?;
            let all = store.get_all_tasks().await.map_err(err)?;
            ensure!(
                ids(&all) == ["b", "a"],
                "after moving a later: {:?}",
                ids(&all)
            );
            store
                .update_task(&sample_task("b", None))
                .await
                .map_err(err)?;
            let all = store.get_all_tasks().await.map_err(err)?;
            ensure!(ids(&all) == ["a", "b"], "after pausing b: {:?}", ids(&all));
            store.delete_task("a").await.map_err(err)?;
            ensure!(
                store.lookup_task("a").await.map_err(err)?.is_none(),
                "a is still there"
            );
            Ok(())
        }),
        case!(
            store_schedules_writes_each_change_in_order,
            ANY,
            |h, store| {
                for i in 0..3 {
                    store
                        .add_task(&sample_task(&format!("t{i}"), at_us(i)))
                        .await
                        .map_err(err)?;
                }
                let changes = [
                    ScheduleChange::Update(sample_task("t0", at_us(5_000_000))),
                    ScheduleChange::Delete("t1".into()),
                    ScheduleChange::Update(sample_task("ghost", at_us(1))),
                    ScheduleChange::Delete("ghost".into()),
                    ScheduleChange::Update(sample_task("t2", None)),
                ];
                let results = store.store_schedules(&changes).await.map_err(err)?;
                ensure!(
                    results.len() == changes.len(),
                    "{} results for {} changes: {results:?}",
                    results.len(),
                    changes.len()
                );
                for i in [0, 1, 4] {
                    ensure!(
                        results[i].is_ok(),
                        "change {i} ({:?}) failed: {:?}",
                        changes[i].task_id(),
                        results[i]
                    );
                }
                for i in [2, 3] {
                    ensure!(
                        matches!(results[i], Err(Error::TaskLookup { .. })),
                        "change {i} of a missing id: {:?}",
                        results[i]
                    );
                }
                let all = store.get_all_tasks().await.map_err(err)?;
                ensure!(
                    ids(&all) == ["t0", "t2"],
                    "after the batch: {:?}",
                    ids(&all)
                );
                let next = store.get_next_run_time().await.map_err(err)?;
                ensure!(next == at_us(5_000_000), "next run time {next:?}");
                let due = store.get_due_tasks(t0()).await.map_err(err)?;
                ensure!(due.is_empty(), "due after the batch: {:?}", ids(&due));
                let results = store.store_schedules(&[]).await.map_err(err)?;
                ensure!(results.is_empty(), "an empty batch answered {results:?}");
                Ok(())
            }
        ),
        case!(
            store_schedules_writes_a_thousand_changes,
            ANY,
            |h, store| {
                for i in 0..1000 {
                    store
                        .add_task(&sample_task(&format!("t{i:04}"), at_us(i)))
                        .await
                        .map_err(err)?;
                }
                let changes: Vec<ScheduleChange> = (0..1000)
                    .map(|i| {
                        let id = format!("t{i:04}");
                        if i % 2 == 0 {
                            ScheduleChange::Delete(id)
                        } else {
                            ScheduleChange::Update(sample_task(&id, at_us(10_000_000 - i)))
                        }
                    })
                    .collect();
                let results = store.store_schedules(&changes).await.map_err(err)?;
                let failed = results.iter().filter(|r| r.is_err()).count();
                ensure!(
                    results.len() == 1000 && failed == 0,
                    "{} results, {failed} failed",
                    results.len()
                );
                let all = store.get_all_tasks().await.map_err(err)?;
                ensure!(all.len() == 500, "{} tasks left", all.len());
                ensure!(
                    all.first().map(|t| t.id()) == Some("t0999"),
                    "first after the batch: {:?}",
                    all.first().map(|t| t.id())
                );
                Ok(())
            }
        ),
        case!(remove_all_tasks_empties_the_store, ANY, |h, store| {
            for i in 0..5 {
                store
                    .add_task(&sample_task(&format!("t{i}"), at_us(i)))
                    .await
                    .map_err(err)?;
            }
            store.remove_all_tasks().await.map_err(err)?;
            let all = store.get_all_tasks().await.map_err(err)?;
            ensure!(all.is_empty(), "left: {:?}", ids(&all));
            Ok(())
        }),
        case!(every_trigger_kind_round_trips, ANY, |h, store| {
            let ctx = TriggerContext::new(asyncz_core::chrono_tz::Tz::UTC, t0());
            let specs = [
                ("date", json!({"run_at": "2026-05-01T08:00:00+02:00"})),
                (
                    "interval",
                    json!({"hours": 2, "minutes": 30, "start_at": "2026-01-01T00:00:00Z", "end_at": "2027-01-01T00:00:00Z", "timezone": "Europe/Berlin", "jitter": 5}),
                ),
                (
                    "cron",
                    json!({"day": "last fri", "hour": "9-17/2", "minute": "*/15", "timezone": "America/New_York", "end_at": "2030-01-01T00:00:00Z"}),
                ),
                (
                    "and",
                    json!({"triggers": [{"alias": "cron", "args": {"hour": "*/2"}}, {"alias": "interval", "args": {"hours": 3, "start_at": "2026-01-01T00:00:00Z"}}]}),
                ),
                (
                    "or",
                    json!({"triggers": [{"alias": "cron", "args": {"minute": 5}}, {"alias": "date", "args": {"run_at": "2026-02-01T00:00:00Z"}}]}),
                ),
                ("shutdown", json!({})),
            ];
            for (i, (alias, args)) in specs.into_iter().enumerate() {
                let Value::Object(args) = args else {
                    return Err("bad test args".into());
                };
                let trigger = plugins()
                    .create_trigger(alias, &args, &ctx)
                    .map_err(|e| format!("building {alias}: {e}"))?;
                let id = format!("trigger-{i}");
                let task = Task::new(
                    &id,
                    Callable::registered("testkit.noop"),
                    Arc::clone(&trigger),
                )
                .with_next_run_time(at_us(i as i64));
                store.add_task(&task).await.map_err(err)?;
                let back = store
                    .lookup_task(&id)
                    .await
                    .map_err(err)?
                    .ok_or(format!("{alias} task vanished"))?;
                ensure!(
                    back.trigger().alias() == alias,
                    "{alias}: came back as {}",
                    back.trigger().alias()
                );
                ensure!(
                    back.trigger().to_string() == trigger.to_string(),
                    "{alias}: '{}' != '{}'",
                    back.trigger(),
                    trigger
                );
                ensure!(
                    back.trigger().state() == trigger.state(),
                    "{alias}: state {:?} != {:?}",
                    back.trigger().state(),
                    trigger.state()
                );
            }
            Ok(())
        }),
        case!(every_task_field_round_trips, ANY, |h, store| {
            let long_id: String = "x".repeat(h.capabilities().max_id_len.unwrap_or(255));
            let mut kwargs = Map::new();
            kwargs.insert(
                "ünïcødé ключ".into(),
                json!({"nested": [1, 2.5, null, true, {"deep": "値"}]}),
            );
            kwargs.insert("big".into(), json!(i64::MAX));
            let args = vec![json!("text"), json!([1, [2, [3]]]), json!(-7), json!(null)];
            let trigger = Arc::new(
                asyncz_triggers::IntervalTrigger::new_at(t0())
                    .seconds(90)
                    .start_at(t0()),
            );
            let task = Task::new(&long_id, Callable::registered("testkit.other"), trigger)
                .with_name("Résumé de la tâche 📅")
                .with_args(args.clone(), kwargs.clone())
                .with_next_run_time(at_us(123_456_789));
            store.add_task(&task).await.map_err(err)?;
            let back = store
                .lookup_task(&long_id)
                .await
                .map_err(err)?
                .ok_or("the task vanished")?;
            ensure!(back.id() == long_id, "id changed");
            ensure!(
                back.name() == "Résumé de la tâche 📅",
                "name: {}",
                back.name()
            );
            ensure!(
                back.callable().reference() == Some("testkit.other"),
                "function: {:?}",
                back.callable().reference()
            );
            ensure!(back.args() == args.as_slice(), "args: {:?}", back.args());
            ensure!(back.kwargs() == &kwargs, "kwargs: {:?}", back.kwargs());
            ensure!(
                back.executor() == task.executor(),
                "executor: {}",
                back.executor()
            );
            ensure!(
                back.mistrigger_grace_time() == Some(Duration::from_secs(1)),
                "grace: {:?}",
                back.mistrigger_grace_time()
            );
            ensure!(
                back.coalesce() && back.max_instances() == 1,
                "coalesce/max_instances changed"
            );
            ensure!(
                back.next_run_time() == at_us(123_456_789),
                "next_run_time: {:?}",
                back.next_run_time()
            );
            ensure!(
                back.trigger().to_string() == task.trigger().to_string(),
                "trigger: {}",
                back.trigger()
            );
            Ok(())
        }),
        case!(ten_thousand_tasks_keep_their_order, ANY, |h, store| {
            for i in (0..10_000i64).rev() {
                store
                    .add_task(&sample_task(
                        &format!("t{i:05}"),
                        at_us(i * 1_000 + (i % 7)),
                    ))
                    .await
                    .map_err(err)?;
            }
            let all = store.get_all_tasks().await.map_err(err)?;
            ensure!(all.len() == 10_000, "{} tasks listed", all.len());
            ensure!(
                all.windows(2)
                    .all(|w| w[0].next_run_time() < w[1].next_run_time()),
                "not in next_run_time order"
            );
            let due = store
                .get_due_tasks(t0() + Span::microseconds(99_999))
                .await
                .map_err(err)?;
            ensure!(due.len() == 100, "{} due", due.len());
            ensure!(
                due.first().map(Task::id) == Some("t00000"),
                "first due: {:?}",
                due.first().map(Task::id)
            );
            Ok(())
        }),
        case!(tasks_survive_reopening_the_store, PERSISTENT, |h, store| {
            store
                .add_task(&sample_task("kept", at_us(5)))
                .await
                .map_err(err)?;
            let again = h
                .reopen(crate::harness::store_context())
                .await
                .map_err(err)?;
            let found = again.lookup_task("kept").await.map_err(err)?;
            ensure!(
                found.and_then(|t| t.next_run_time()) == at_us(5),
                "the task did not survive"
            );
            Ok(())
        }),
        case!(
            an_undecodable_record_is_skipped_reported_and_kept,
            CORRUPTIBLE,
            |h, store| {
                store
                    .add_task(&sample_task("good", at_us(1)))
                    .await
                    .map_err(err)?;
                store
                    .add_task(&sample_task("bad", at_us(0)))
                    .await
                    .map_err(err)?;
                h.corrupt_record("bad").await.map_err(err)?;
                let all = store.get_all_tasks().await.map_err(err)?;
                ensure!(ids(&all) == ["good"], "get_all_tasks: {:?}", ids(&all));
                let due = store
                    .get_due_tasks(t0() + Span::seconds(1))
                    .await
                    .map_err(err)?;
                ensure!(ids(&due) == ["good"], "get_due_tasks: {:?}", ids(&due));
                let reported = store.undecodable_records();
                ensure!(
                    reported.iter().any(|(id, _)| id == "bad"),
                    "not reported: {reported:?}"
                );
                ensure!(
                    h.record_exists("bad").await.map_err(err)?,
                    "the undecodable record was deleted"
                );
                Ok(())
            }
        ),
    ]
}

/// The `ClusterStore` cases: claims and commits, then the run ledger and the node registry.
pub(crate) fn cluster_cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    let mut cases = cluster::cases();
    cases.extend(cluster_ledger::cases());
    cases
}

mod clock;
mod cluster;
mod cluster_ledger;
mod connect;
mod ids;
mod precision;
mod scheduler;
mod undecodable;
