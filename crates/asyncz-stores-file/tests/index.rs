//! The file store's index stays consistent with the directory: changes made through another
//! store instance (another process) and files changed behind the store's back are seen.
#![allow(clippy::unwrap_used)]

use asyncz_core::chrono::Duration;
use asyncz_core::{Store, Task};
use asyncz_stores_file::{FileStore, FileStoreConfig};
use asyncz_testkit::{sample_task, store_context, t0};

async fn started(dir: &std::path::Path) -> FileStore {
    let store = FileStore::new(FileStoreConfig::new(dir));
    store.start(store_context()).await.unwrap();
    store
}

fn ids(tasks: &[Task]) -> Vec<&str> {
    tasks.iter().map(Task::id).collect()
}

#[tokio::test]
async fn writes_through_another_instance_are_seen_by_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (started(dir.path()).await, started(dir.path()).await);
    let due = t0() + Duration::seconds(10);
    a.add_task(&sample_task("early", Some(t0()))).await.unwrap();
    a.add_task(&sample_task("late", Some(t0() + Duration::hours(1))))
        .await
        .unwrap();
    // b builds its index now.
    assert_eq!(ids(&b.get_due_tasks(due).await.unwrap()), ["early"]);
    assert_eq!(b.get_next_run_time().await.unwrap(), Some(t0()));

    // a adds, moves and removes tasks; b sees each change at its next read.
    a.add_task(&sample_task("new", Some(t0() + Duration::seconds(5))))
        .await
        .unwrap();
    assert_eq!(ids(&b.get_due_tasks(due).await.unwrap()), ["early", "new"]);
    a.update_task(&sample_task("late", Some(t0() - Duration::seconds(1))))
        .await
        .unwrap();
    assert_eq!(
        b.get_next_run_time().await.unwrap(),
        Some(t0() - Duration::seconds(1))
    );
    assert_eq!(
        ids(&b.get_due_tasks(due).await.unwrap()),
        ["late", "early", "new"]
    );
    a.delete_task("early").await.unwrap();
    assert_eq!(ids(&b.get_due_tasks(due).await.unwrap()), ["late", "new"]);
    a.update_task(&sample_task("late", None)).await.unwrap();
    assert_eq!(ids(&b.get_due_tasks(due).await.unwrap()), ["new"]);
    a.remove_all_tasks().await.unwrap();
    assert!(b.get_due_tasks(due).await.unwrap().is_empty());
    assert_eq!(b.get_next_run_time().await.unwrap(), None);

    // And the other way round: b's own writes keep its index current, and a sees them.
    b.add_task(&sample_task("from-b", Some(t0())))
        .await
        .unwrap();
    assert_eq!(ids(&b.get_due_tasks(due).await.unwrap()), ["from-b"]);
    assert_eq!(ids(&a.get_due_tasks(due).await.unwrap()), ["from-b"]);
}

#[tokio::test]
async fn a_due_file_removed_behind_the_stores_back_is_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let store = started(dir.path()).await;
    store
        .add_task(&sample_task("gone", Some(t0())))
        .await
        .unwrap();
    store
        .add_task(&sample_task("kept", Some(t0())))
        .await
        .unwrap();
    assert_eq!(store.get_due_tasks(t0()).await.unwrap().len(), 2);
    std::fs::remove_file(store.task_path("gone")).unwrap();
    assert_eq!(ids(&store.get_due_tasks(t0()).await.unwrap()), ["kept"]);
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(t0()));
    store.delete_task("kept").await.unwrap();
    assert_eq!(store.get_next_run_time().await.unwrap(), None);
}

#[tokio::test]
async fn a_file_edited_behind_the_stores_back_is_read_as_it_is_now() {
    let dir = tempfile::tempdir().unwrap();
    let store = started(dir.path()).await;
    // A second directory makes records to copy in by hand (what another program would write).
    let other_dir = tempfile::tempdir().unwrap();
    let other = started(other_dir.path()).await;
    let later = t0() + Duration::hours(2);
    other
        .add_task(&sample_task("edited", Some(later)))
        .await
        .unwrap();
    other
        .add_task(&sample_task("was-later", Some(t0())))
        .await
        .unwrap();
    other
        .add_task(&sample_task("copied-in", Some(t0())))
        .await
        .unwrap();

    store
        .add_task(&sample_task("edited", Some(t0())))
        .await
        .unwrap();
    store
        .add_task(&sample_task("was-later", Some(later)))
        .await
        .unwrap();
    assert_eq!(ids(&store.get_due_tasks(t0()).await.unwrap()), ["edited"]);

    // In place (same inode): the due file is read afresh and is no longer due.
    std::fs::write(
        store.task_path("edited"),
        std::fs::read(other.task_path("edited")).unwrap(),
    )
    .unwrap();
    assert!(store.get_due_tasks(t0()).await.unwrap().is_empty());
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(later));

    // Replaced by a rename (how editors save) and a new file copied in: the directory changed.
    let temp = dir.path().join(".edit.tmp");
    std::fs::copy(other.task_path("was-later"), &temp).unwrap();
    std::fs::rename(&temp, store.task_path("was-later")).unwrap();
    std::fs::copy(other.task_path("copied-in"), store.task_path("copied-in")).unwrap();
    assert_eq!(
        ids(&store.get_due_tasks(t0()).await.unwrap()),
        ["copied-in", "was-later"]
    );

    // Corrupted: skipped and reported, never deleted.
    std::fs::write(store.task_path("copied-in"), b"\x00garbage").unwrap();
    assert_eq!(
        ids(&store.get_due_tasks(t0()).await.unwrap()),
        ["was-later"]
    );
    assert_eq!(store.undecodable_records().len(), 1);
    assert!(store.task_path("copied-in").exists());
}

#[tokio::test]
async fn a_directory_written_by_an_older_version_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let writer = started(dir.path()).await;
    writer
        .add_task(&sample_task("t", Some(t0())))
        .await
        .unwrap();
    // An empty lock file (what versions without generations leave) reads as generation 0.
    std::fs::write(dir.path().join(".asyncz.lock"), b"").unwrap();
    let reader = started(dir.path()).await;
    assert_eq!(ids(&reader.get_due_tasks(t0()).await.unwrap()), ["t"]);
}
