//! The file store implementation. All file I/O runs on tokio's blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::record::StartedCell;
use asyncz_core::{async_trait, Error, Result, Store, StoreContext, Task};
use fs4::fs_std::FileExt;

use crate::FileStoreConfig;

const LOCK_FILE: &str = ".asyncz.lock";

/// A file store needs no handle besides its directory.
type Started = asyncz_core::record::Started<()>;

#[derive(Debug)]
struct Inner {
    config: FileStoreConfig,
    started: StartedCell<()>,
    temp_counter: AtomicU64,
}

/// Keeps each task in its own file (spec: `FileStore`).
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

fn io_error(alias: &str, what: &str, path: &Path, e: io::Error) -> Error {
    Error::backend(
        format!("store '{alias}' (file)"),
        // Quoted with escapes: a task id in a file name may hold any control character.
        format!("{what} {path:?}: {e}"),
    )
}

/// The longest file name most file systems take (NAME_MAX).
const NAME_MAX: usize = 255;

/// Ids become file names: refuse what would escape the directory, hide the file, or not fit.
fn check_id(task_id: &str, suffix: &str) -> Result<()> {
    if task_id.len() + suffix.len() > NAME_MAX {
        return Err(Error::invalid(
            "id",
            format!(
                "{:?}… is {} bytes; with the suffix {suffix:?} a file store id can be at most {} bytes",
                task_id.chars().take(16).collect::<String>(),
                task_id.len(),
                NAME_MAX - suffix.len()
            ),
        ));
    }
    if task_id.is_empty() {
        return Err(Error::invalid(
            "id",
            "a file store task id must not be empty",
        ));
    }
    if task_id.starts_with('.') {
        return Err(Error::invalid(
            "id",
            format!("{task_id:?} starts with '.', which a file store refuses"),
        ));
    }
    if let Some(c) = task_id
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '\0' | ':'))
    {
        return Err(Error::invalid(
            "id",
            format!(
                "{task_id:?} contains {:?}, which a file store refuses in ids",
                c
            ),
        ));
    }
    Ok(())
}

impl FileStore {
    /// A store over `config.directory` (created on start).
    pub fn new(config: FileStoreConfig) -> Self {
        FileStore {
            inner: Arc::new(Inner {
                config,
                started: StartedCell::new(crate::ALIAS),
                temp_counter: AtomicU64::new(0),
            }),
        }
    }

    /// The directory holding the task files.
    pub fn directory(&self) -> &Path {
        &self.inner.config.directory
    }

    /// The longest id this store accepts, in bytes.
    pub fn max_id_len(&self) -> usize {
        NAME_MAX.saturating_sub(self.inner.config.suffix.len())
    }

    fn check_id(&self, task_id: &str) -> Result<()> {
        check_id(task_id, &self.inner.config.suffix)
    }

    /// The path of the file holding `task_id`.
    pub fn task_path(&self, task_id: &str) -> PathBuf {
        self.inner.path(task_id)
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &Started) -> Result<T> + Send + 'static,
    {
        let started = self.inner.started.get()?;
        let alias = started.alias().to_owned();
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner, &started))
            .await
            .map_err(|e| Error::backend(format!("store '{alias}' (file)"), e.to_string()))?
    }
}

impl Inner {
    fn path(&self, task_id: &str) -> PathBuf {
        self.config
            .directory
            .join(format!("{task_id}{}", self.config.suffix))
    }

    fn lock(&self, s: &Started, exclusive: bool) -> Result<File> {
        let path = self.config.directory.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(s.alias(), "cannot open the lock file", &path, e))?;
        let locked = if exclusive {
            FileExt::lock_exclusive(&file)
        } else {
            FileExt::lock_shared(&file)
        };
        locked.map_err(|e| io_error(s.alias(), "cannot lock", &path, e))?;
        Ok(file)
    }

    /// The task in `task_id`'s file, if there is one; an undecodable one is an
    /// [`Error::Decode`] (and noted as undecodable).
    fn read(&self, s: &Started, task_id: &str) -> Result<Option<Task>> {
        let path = self.path(task_id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(s.alias(), "cannot read", &path, e)),
        };
        s.records.read(task_id, &bytes).map(Some)
    }

    /// Every decodable task, scheduled first by next run time, paused last.
    fn read_all(&self, s: &Started) -> Result<Vec<Task>> {
        let _lock = self.lock(s, false)?;
        let dir = &self.config.directory;
        let entries = fs::read_dir(dir).map_err(|e| io_error(s.alias(), "cannot list", dir, e))?;
        let mut tasks = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(s.alias(), "cannot list", dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(id) = name.strip_suffix(self.config.suffix.as_str()) else {
                continue;
            };
            if id.is_empty() || name.starts_with('.') {
                continue;
            }
            match self.read(s, id) {
                Ok(Some(task)) => tasks.push(task),
                // Gone meanwhile, or undecodable (noted by the read): skipped.
                Ok(None) | Err(Error::Decode { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        asyncz_core::sort_tasks(&mut tasks);
        Ok(tasks)
    }

    /// Writes `bytes` to a hidden temporary file in the directory, synced to disk.
    fn write_temp(&self, s: &Started, bytes: &[u8]) -> Result<PathBuf> {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .config
            .directory
            .join(format!(".asyncz-{}-{n}.tmp", std::process::id()));
        let mut file =
            File::create(&temp).map_err(|e| io_error(s.alias(), "cannot create", &temp, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                let _ = fs::remove_file(&temp);
                io_error(s.alias(), "cannot write", &temp, e)
            })?;
        Ok(temp)
    }
}

#[async_trait]
impl Store for FileStore {
    fn kind(&self) -> &'static str {
        crate::ALIAS
    }

    fn is_persistent(&self) -> bool {
        true
    }

    async fn start(&self, ctx: StoreContext) -> Result<()> {
        let records = self
            .inner
            .started
            .records(ctx, self.inner.config.encryption_key.as_deref())?;
        let dir = self.inner.config.directory.clone();
        let mode = self.inner.config.mode;
        let alias = records.alias().to_owned();
        tokio::task::spawn_blocking(move || {
            create_dir(&dir, mode).map_err(|e| io_error(&alias, "cannot create", &dir, e))
        })
        .await
        .map_err(|e| Error::backend("store (file)", e.to_string()))??;
        self.inner.started.set(records, ());
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        if self.inner.config.cleanup_directory {
            let dir = self.inner.config.directory.clone();
            tokio::task::spawn_blocking(move || match fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_error("file", "cannot remove", &dir, e)),
            })
            .await
            .map_err(|e| Error::backend("store (file)", e.to_string()))??;
        }
        Ok(())
    }

    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        if self.check_id(task_id).is_err() {
            return Ok(None);
        }
        let id = task_id.to_owned();
        self.blocking(move |inner, s| {
            let _lock = inner.lock(s, false)?;
            inner.read(s, &id)
        })
        .await
    }

    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        self.blocking(move |inner, s| {
            let mut tasks = inner.read_all(s)?;
            tasks.retain(|t| t.next_run_time().is_some_and(|n| n <= now));
            Ok(tasks)
        })
        .await
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        // `read_all` leaves out undecodable records (and notes them), so one never drives the
        // engine's wakeups; the times are the records' own, exact to the microsecond.
        self.blocking(|inner, s| Ok(inner.read_all(s)?.first().and_then(Task::next_run_time)))
            .await
    }

    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        self.blocking(|inner, s| inner.read_all(s)).await
    }

    async fn add_task(&self, task: &Task) -> Result<()> {
        self.check_id(task.id())?;
        let task = task.clone();
        self.blocking(move |inner, s| {
            let bytes = s.records.encode(&task)?;
            let _lock = inner.lock(s, true)?;
            let path = inner.path(task.id());
            let temp = inner.write_temp(s, &bytes)?;
            // A hard link never replaces an existing file: the add is atomic and no-clobber.
            let linked = fs::hard_link(&temp, &path);
            let _ = fs::remove_file(&temp);
            match linked {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Err(Error::conflict(task.id()))
                }
                Err(e) => Err(io_error(s.alias(), "cannot store", &path, e)),
            }
        })
        .await
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        if self.check_id(task.id()).is_err() {
            return Err(Error::task_lookup(task.id()));
        }
        let task = task.clone();
        self.blocking(move |inner, s| {
            let bytes = s.records.encode(&task)?;
            let _lock = inner.lock(s, true)?;
            let path = inner.path(task.id());
            if !path.exists() {
                return Err(Error::task_lookup(task.id()));
            }
            let temp = inner.write_temp(s, &bytes)?;
            fs::rename(&temp, &path).map_err(|e| {
                let _ = fs::remove_file(&temp);
                io_error(s.alias(), "cannot replace", &path, e)
            })?;
            inner.started.undecodable().clear(task.id());
            Ok(())
        })
        .await
    }

    async fn delete_task(&self, task_id: &str) -> Result<()> {
        if self.check_id(task_id).is_err() {
            return Err(Error::task_lookup(task_id));
        }
        let id = task_id.to_owned();
        self.blocking(move |inner, s| {
            let _lock = inner.lock(s, true)?;
            let path = inner.path(&id);
            match fs::remove_file(&path) {
                Ok(()) => {
                    inner.started.undecodable().clear(&id);
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::task_lookup(&id)),
                Err(e) => Err(io_error(s.alias(), "cannot delete", &path, e)),
            }
        })
        .await
    }

    async fn remove_all_tasks(&self) -> Result<()> {
        self.blocking(|inner, s| {
            let _lock = inner.lock(s, true)?;
            let dir = &inner.config.directory;
            let entries =
                fs::read_dir(dir).map_err(|e| io_error(s.alias(), "cannot list", dir, e))?;
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if !name.starts_with('.') && name.ends_with(inner.config.suffix.as_str()) {
                    let path = entry.path();
                    fs::remove_file(&path)
                        .map_err(|e| io_error(s.alias(), "cannot delete", &path, e))?;
                }
            }
            inner.started.undecodable().clear_all();
            Ok(())
        })
        .await
    }

    fn undecodable_records(&self) -> Vec<(String, String)> {
        self.inner.started.undecodable().list()
    }
}

#[cfg(unix)]
fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(mode).create(dir)
}

#[cfg(not(unix))]
fn create_dir(dir: &Path, _mode: u32) -> io::Result<()> {
    fs::create_dir_all(dir)
}
