//! The file store runs the asyncz-testkit store suite, plain and encrypted, plus its own cases.
#![allow(clippy::unwrap_used)]

use asyncz_core::{async_trait, Callable, Error, Result, Store, Task};
use asyncz_stores_file::{FileStore, FileStoreConfig};
use asyncz_testkit::{sample_task, store_context, t0, Capabilities, StoreHarness};

/// File stores, each data set in its own directory.
struct Files {
    root: tempfile::TempDir,
    key: Option<&'static str>,
}

impl Files {
    fn new(key: Option<&'static str>) -> Self {
        Files {
            root: tempfile::tempdir().unwrap(),
            key,
        }
    }
}

#[async_trait]
impl StoreHarness for Files {
    type Store = FileStore;
    fn name(&self) -> String {
        format!(
            "file{}",
            if self.key.is_some() {
                " (encrypted)"
            } else {
                ""
            }
        )
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            persistent: true,
            corruptible: true,
            max_id_len: Some(250),
        }
    }
    async fn open(&self, n: usize) -> Result<FileStore> {
        let mut config = FileStoreConfig::new(self.root.path().join(format!("s{n}")));
        config.encryption_key = self.key.map(str::to_owned);
        Ok(FileStore::new(config))
    }
    async fn corrupt_record(&self, store: &FileStore, task_id: &str) -> Result<()> {
        std::fs::write(store.task_path(task_id), b"\x00not a task").unwrap();
        Ok(())
    }
    async fn record_exists(&self, store: &FileStore, task_id: &str) -> Result<bool> {
        Ok(store.task_path(task_id).exists())
    }
}

#[tokio::test]
async fn the_file_store_passes_the_store_suite() {
    let report = asyncz_testkit::run_store_suite(&Files::new(None)).await;
    println!("{report}");
    report.assert_passed();
    // A directory has no server to be unreachable: only that case is skipped.
    assert_eq!(
        report.skipped,
        ["start_against_an_unreachable_server_fails_within_its_connect_timeout"]
    );
}

#[tokio::test]
async fn the_encrypted_file_store_passes_the_store_suite() {
    let report =
        asyncz_testkit::run_store_suite(&Files::new(Some("correct horse battery staple"))).await;
    println!("{report}");
    report.assert_passed();
}

async fn started(config: FileStoreConfig) -> FileStore {
    let store = FileStore::new(config);
    store.start(store_context()).await.unwrap();
    store
}

#[tokio::test]
async fn encrypted_records_do_not_contain_the_plain_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = started(FileStoreConfig::new(dir.path()).encryption_key("k")).await;
    store
        .add_task(&sample_task("secret-task", Some(t0())).with_name("payroll"))
        .await
        .unwrap();
    let bytes = std::fs::read(store.task_path("secret-task")).unwrap();
    assert!(
        !bytes.windows(7).any(|w| w == b"payroll"),
        "the name is readable on disk"
    );
}

#[tokio::test]
async fn the_wrong_key_is_an_error_naming_the_store_and_task_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let right = started(FileStoreConfig::new(dir.path()).encryption_key("right")).await;
    right
        .add_task(&sample_task("t1", Some(t0())))
        .await
        .unwrap();
    let wrong = started(FileStoreConfig::new(dir.path()).encryption_key("wrong")).await;
    let err = wrong.lookup_task("t1").await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("store 'testkit'") && text.contains("'t1'") && text.contains("decrypt"),
        "{text}"
    );
    assert!(wrong.get_all_tasks().await.unwrap().is_empty());
    assert_eq!(wrong.undecodable_records().len(), 1);
    assert!(right.task_path("t1").exists(), "the record was deleted");
    assert!(
        right.lookup_task("t1").await.unwrap().is_some(),
        "the right key still reads it"
    );
}

#[tokio::test]
async fn ids_that_are_not_file_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = started(FileStoreConfig::new(dir.path())).await;
    let too_long = "y".repeat(251);
    let long_forged = format!("x\n[fake] ok\x1b[2J{}", "y".repeat(250));
    for bad in [
        "a/b",
        "a\\b",
        "nul\0",
        "c:d",
        ".hidden",
        ".hidden\n[fake] all good",
        "a/b\r\x1b[31m",
        "",
        too_long.as_str(),
        long_forged.as_str(),
    ] {
        let err = store
            .add_task(&sample_task(bad, Some(t0())))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid id"), "{bad:?}: {err}");
        // The id is quoted with escapes: no forged second line, no terminal escape codes.
        assert!(
            !err.to_string().contains(['\n', '\r', '\x1b']),
            "{bad:?}: the error echoes control characters: {err:?}"
        );
        assert!(store.lookup_task(bad).await.unwrap().is_none());
    }
    assert!(std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .all(|e| e.file_name() == ".asyncz.lock"));
}

#[tokio::test]
async fn the_directory_is_created_with_mode_0700_and_files_end_in_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/tasks");
    let store = started(FileStoreConfig::new(&path)).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    store.add_task(&sample_task("x", Some(t0()))).await.unwrap();
    assert!(path.join("x.task").exists());
}

#[tokio::test]
async fn leftover_temporary_files_from_a_crash_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = started(FileStoreConfig::new(dir.path())).await;
    store
        .add_task(&sample_task("real", Some(t0())))
        .await
        .unwrap();
    std::fs::write(dir.path().join(".real.999.0.tmp"), b"half a rec").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not a task").unwrap();
    let all = store.get_all_tasks().await.unwrap();
    assert_eq!(all.iter().map(Task::id).collect::<Vec<_>>(), ["real"]);
    assert!(store.undecodable_records().is_empty());
}

#[tokio::test]
async fn cleanup_directory_removes_it_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tmp-store");
    let store = started(FileStoreConfig::new(&path).cleanup_directory(true)).await;
    store.add_task(&sample_task("x", Some(t0()))).await.unwrap();
    store.shutdown().await.unwrap();
    assert!(!path.exists());
}

#[tokio::test]
async fn closures_cannot_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = started(FileStoreConfig::new(dir.path())).await;
    let trigger = sample_task("x", None).trigger().clone();
    let task = Task::new("c", Callable::closure(|_ctx| ()), trigger);
    let err = store.add_task(&task).await.unwrap_err();
    assert!(err.to_string().contains("cannot be persisted"), "{err}");
}

#[test]
fn config_is_read_from_a_map_with_clear_errors() {
    let map = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let c = FileStoreConfig::from_map(&map(serde_json::json!({"directory": "/tmp/x", "mode": "0o750", "suffix": ".job", "cleanup_directory": "true"}))).unwrap();
    assert_eq!(
        (c.mode, c.suffix.as_str(), c.cleanup_directory),
        (0o750, ".job", true)
    );
    for (bad, fragment) in [
        (serde_json::json!({}), "invalid directory:"),
        (
            serde_json::json!({"directory": "/x", "mode": "rwx"}),
            "invalid mode:",
        ),
        (
            serde_json::json!({"directory": "/x", "suffix": "a/b"}),
            "invalid suffix:",
        ),
        (
            serde_json::json!({"directory": "/x", "colour": 1}),
            "invalid colour:",
        ),
    ] {
        let err = FileStoreConfig::from_map(&map(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains(fragment), "{err}");
    }
}
