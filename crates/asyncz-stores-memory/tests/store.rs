//! The memory store against the `Store` contract's `# Behavior` bullets.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use asyncz_core::chrono::{DateTime, Duration, TimeZone, Utc};
use asyncz_core::{Callable, Error, Store, Task};
use asyncz_stores_memory::MemoryStore;
use asyncz_triggers::IntervalTrigger;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn task(id: &str, next: Option<DateTime<Utc>>) -> Task {
    let trigger = Arc::new(IntervalTrigger::new().minutes(1).start_at(t0()));
    Task::new(id, Callable::registered("f"), trigger).with_next_run_time(next)
}

fn ids(tasks: &[Task]) -> Vec<&str> {
    tasks.iter().map(Task::id).collect()
}

#[tokio::test]
async fn added_tasks_can_be_looked_up_and_a_missing_id_is_none() {
    let store = MemoryStore::new();
    store.add_task(&task("a", Some(t0()))).await.unwrap();
    assert_eq!(store.lookup_task("a").await.unwrap().unwrap().id(), "a");
    assert!(store.lookup_task("b").await.unwrap().is_none());
}

#[tokio::test]
async fn a_duplicate_id_conflicts_and_keeps_the_stored_task() {
    let store = MemoryStore::new();
    store.add_task(&task("a", Some(t0()))).await.unwrap();
    let err = store
        .add_task(&task("a", None).with_name("other"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConflictId { ref task_id } if task_id == "a"));
    assert_eq!(
        store
            .lookup_task("a")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(t0())
    );
}

#[tokio::test]
async fn updating_or_deleting_a_missing_id_is_a_lookup_error() {
    let store = MemoryStore::new();
    assert!(matches!(
        store.update_task(&task("x", None)).await,
        Err(Error::TaskLookup { .. })
    ));
    assert!(matches!(
        store.delete_task("x").await,
        Err(Error::TaskLookup { .. })
    ));
}

#[tokio::test]
async fn due_tasks_come_in_next_run_time_order_to_the_microsecond() {
    let store = MemoryStore::new();
    let at = |us| Some(t0() + Duration::microseconds(us));
    store.add_task(&task("c", at(402))).await.unwrap();
    store.add_task(&task("a", at(400))).await.unwrap();
    store.add_task(&task("b", at(401))).await.unwrap();
    store.add_task(&task("later", at(10_000))).await.unwrap();
    store.add_task(&task("paused", None)).await.unwrap();
    let due = store
        .get_due_tasks(t0() + Duration::microseconds(402))
        .await
        .unwrap();
    assert_eq!(ids(&due), ["a", "b", "c"]);
    assert_eq!(store.get_next_run_time().await.unwrap(), at(400));
}

#[tokio::test]
async fn paused_tasks_are_never_due_and_listed_last() {
    let store = MemoryStore::new();
    store.add_task(&task("paused", None)).await.unwrap();
    store
        .add_task(&task("late", Some(t0() + Duration::hours(1))))
        .await
        .unwrap();
    store.add_task(&task("early", Some(t0()))).await.unwrap();
    assert_eq!(
        ids(&store.get_all_tasks().await.unwrap()),
        ["early", "late", "paused"]
    );
    assert_eq!(
        ids(&store
            .get_due_tasks(t0() + Duration::days(365))
            .await
            .unwrap()),
        ["early", "late"]
    );
}

#[tokio::test]
async fn get_next_run_time_ignores_paused_tasks() {
    let store = MemoryStore::new();
    store.add_task(&task("paused", None)).await.unwrap();
    assert_eq!(store.get_next_run_time().await.unwrap(), None);
    store.add_task(&task("s", Some(t0()))).await.unwrap();
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(t0()));
}

#[tokio::test]
async fn updates_move_a_task_in_the_order_and_deletes_remove_it() {
    let store = MemoryStore::new();
    store.add_task(&task("a", Some(t0()))).await.unwrap();
    store
        .add_task(&task("b", Some(t0() + Duration::seconds(1))))
        .await
        .unwrap();
    store
        .update_task(&task("a", Some(t0() + Duration::seconds(2))))
        .await
        .unwrap();
    assert_eq!(ids(&store.get_all_tasks().await.unwrap()), ["b", "a"]);
    store.update_task(&task("b", None)).await.unwrap();
    assert_eq!(ids(&store.get_all_tasks().await.unwrap()), ["a", "b"]);
    store.delete_task("a").await.unwrap();
    assert_eq!(ids(&store.get_all_tasks().await.unwrap()), ["b"]);
    store.remove_all_tasks().await.unwrap();
    assert!(store.is_empty());
}

#[tokio::test]
async fn ten_thousand_tasks_keep_their_order() {
    let store = MemoryStore::new();
    for i in (0..10_000).rev() {
        store
            .add_task(&task(
                &format!("t{i:05}"),
                Some(t0() + Duration::milliseconds(i)),
            ))
            .await
            .unwrap();
    }
    let all = store.get_all_tasks().await.unwrap();
    assert_eq!(all.len(), 10_000);
    assert!(all
        .windows(2)
        .all(|w| w[0].next_run_time() < w[1].next_run_time()));
    let due = store
        .get_due_tasks(t0() + Duration::milliseconds(99))
        .await
        .unwrap();
    assert_eq!(due.len(), 100);
}

#[test]
fn the_memory_store_takes_no_options() {
    let mut registry = asyncz_core::PluginRegistry::new();
    asyncz_stores_memory::register(&mut registry);
    assert!(registry
        .create_store("memory", &asyncz_core::Map::new())
        .is_ok());
    let mut bad = asyncz_core::Map::new();
    bad.insert("directory".into(), "/tmp".into());
    let err = registry
        .create_store("memory", &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("stores.memory.directory"), "{err}");
}
