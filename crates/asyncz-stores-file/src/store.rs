//! The file store implementation. All file I/O runs on tokio's blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::record::StartedCell;
use asyncz_core::{async_trait, Error, Result, Store, StoreContext, Task};
use fs4::fs_std::FileExt;

use crate::index::{self, DirStamp, Entry, Index};
use crate::FileStoreConfig;

const LOCK_FILE: &str = ".asyncz.lock";

/// A file store needs no handle besides its directory.
type Started = asyncz_core::record::Started<()>;

#[derive(Debug)]
struct Inner {
    config: FileStoreConfig,
    started: StartedCell<()>,
    temp_counter: AtomicU64,
    /// The directory's index (`None`: not built, or known stale).
    index: Mutex<Option<Index>>,
}

/// The directory lock, held shared (reads) or exclusive (writes). The lock file's first eight
/// bytes are the directory's generation: every write bumps it, so every reader (in any process)
/// knows whether its index is still current.
struct Locked {
    file: File,
    path: PathBuf,
}

impl Locked {
    /// The generation written by the last write (0 for a new directory).
    fn generation(&mut self, s: &Started) -> Result<u64> {
        let mut bytes = [0u8; 8];
        let mut filled = 0;
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_error(s.alias(), "cannot read", &self.path, e))?;
        while filled < bytes.len() {
            match self.file.read(&mut bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(s.alias(), "cannot read", &self.path, e)),
            }
        }
        // A lock file from before generations (empty) reads as generation 0.
        Ok(if filled == bytes.len() {
            u64::from_le_bytes(bytes)
        } else {
            0
        })
    }

    /// Writes the generation after `before` (exclusive lock only) and returns it.
    fn bump(&mut self, s: &Started, before: u64) -> Result<u64> {
        let next = before.wrapping_add(1);
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(&next.to_le_bytes()))
            .map_err(|e| io_error(s.alias(), "cannot write", &self.path, e))?;
        Ok(next)
    }
}

/// What a write did to one task file, for the index.
enum Change<'a> {
    Set(&'a Task),
    Removed(&'a str),
    Cleared,
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
                index: Mutex::new(None),
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

    fn lock(&self, s: &Started, exclusive: bool) -> Result<Locked> {
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
        Ok(Locked { file, path })
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

    /// The index, poisoned or not (it holds no invariant a panic could break half-way that a
    /// rebuild would not repair; a panic mid-update drops it below).
    fn index(&self) -> MutexGuard<'_, Option<Index>> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stamp(&self, s: &Started) -> Result<DirStamp> {
        let dir = &self.config.directory;
        DirStamp::read(dir).map_err(|e| io_error(s.alias(), "cannot read", dir, e))
    }

    /// The task files in the directory: `(id, inode)`.
    fn list(&self, s: &Started) -> Result<Vec<(String, u64)>> {
        let dir = &self.config.directory;
        let entries = fs::read_dir(dir).map_err(|e| io_error(s.alias(), "cannot list", dir, e))?;
        let mut ids = Vec::new();
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
            ids.push((id.to_owned(), index::entry_id(&entry)));
        }
        Ok(ids)
    }

    /// Reads every task file (under `lock`), rebuilding the index from them. Returns every
    /// decodable task, scheduled first by next run time, paused last.
    fn rebuild(
        &self,
        s: &Started,
        lock: &mut Locked,
        slot: &mut Option<Index>,
    ) -> Result<Vec<Task>> {
        *slot = None;
        let generation = lock.generation(s)?;
        let stamp = self.stamp(s)?;
        let mut index = Index::new(generation, stamp);
        let mut tasks = Vec::new();
        for (id, file_id) in self.list(s)? {
            let next_run_time = match self.read(s, &id) {
                Ok(Some(task)) => {
                    let next = task.next_run_time();
                    tasks.push(task);
                    next
                }
                // Gone meanwhile (another program removed it): not indexed.
                Ok(None) => continue,
                // Undecodable (noted by the read): indexed without a time, never due.
                Err(Error::Decode { .. }) => None,
                Err(e) => return Err(e),
            };
            index.set(
                &id,
                Entry {
                    next_run_time,
                    file_id,
                },
            );
        }
        asyncz_core::sort_tasks(&mut tasks);
        *slot = Some(index);
        Ok(tasks)
    }

    /// Makes the index current (under `lock`): kept when the generation and the directory are
    /// unchanged (or, while the directory's stamp is racy, when its listing matches), rebuilt
    /// from every file otherwise.
    fn refresh<'a>(
        &self,
        s: &Started,
        lock: &mut Locked,
        slot: &'a mut Option<Index>,
    ) -> Result<&'a mut Index> {
        let generation = lock.generation(s)?;
        let stamp = self.stamp(s)?;
        let keep = match slot.as_ref() {
            Some(index) if index.fresh(generation, &stamp) => true,
            Some(index) if index.current(generation, &stamp) => {
                index.matches_listing(&self.list(s)?)
            }
            _ => false,
        };
        if keep {
            if let Some(index) = slot.as_mut() {
                index.revalidate(generation, stamp);
            }
        } else {
            self.rebuild(s, lock, slot)?;
        }
        slot.as_mut()
            .ok_or_else(|| Error::backend(format!("store '{}' (file)", s.alias()), "no index"))
    }

    /// The due tasks at `now`: the index names them, and their files are read afresh (so a
    /// file edited or removed behind the store's back is seen as it is now).
    fn due(&self, s: &Started, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let mut lock = self.lock(s, false)?;
        let mut slot = self.index();
        let index = self.refresh(s, &mut lock, &mut slot)?;
        let mut tasks = Vec::new();
        for id in index.due(now) {
            let file_id = index.get(&id).map_or(0, |e| e.file_id);
            match self.read(s, &id) {
                Ok(Some(task)) => {
                    index.set(
                        &id,
                        Entry {
                            next_run_time: task.next_run_time(),
                            file_id,
                        },
                    );
                    if task.next_run_time().is_some_and(|n| n <= now) {
                        tasks.push(task);
                    }
                }
                Ok(None) => index.remove(&id),
                Err(Error::Decode { .. }) => index.set(
                    &id,
                    Entry {
                        next_run_time: None,
                        file_id,
                    },
                ),
                Err(e) => return Err(e),
            }
        }
        asyncz_core::sort_tasks(&mut tasks);
        Ok(tasks)
    }

    /// The earliest next run time of a decodable record, from the index.
    fn next_run_time(&self, s: &Started) -> Result<Option<DateTime<Utc>>> {
        let mut lock = self.lock(s, false)?;
        let mut slot = self.index();
        Ok(self.refresh(s, &mut lock, &mut slot)?.next_run_time())
    }

    /// Every decodable task, scheduled first by next run time, paused last (and a fresh index).
    fn read_all(&self, s: &Started) -> Result<Vec<Task>> {
        let mut lock = self.lock(s, false)?;
        let mut slot = self.index();
        self.rebuild(s, &mut lock, &mut slot)
    }

    /// Writes under the exclusive lock: `write` changes the directory, then the generation is
    /// bumped and the index follows the change when it was current before it (else it is
    /// dropped, to be rebuilt at the next read).
    fn write<'c, T>(
        &self,
        s: &Started,
        write: impl FnOnce(&Self) -> Result<(T, Change<'c>)>,
    ) -> Result<T> {
        let mut lock = self.lock(s, true)?;
        let before = lock.generation(s)?;
        let stamp_before = self.stamp(s)?;
        let mut slot = self.index();
        let current = slot
            .as_ref()
            .is_some_and(|index| index.current(before, &stamp_before));
        if !current {
            *slot = None;
        }
        // Held across the write so that no read of this process indexes a half-done change.
        let outcome = write(self);
        let (value, change) = match outcome {
            Ok(done) => done,
            Err(e) => {
                if lock.generation(s).ok() != Some(before)
                    || self.stamp(s).ok() != Some(stamp_before)
                {
                    *slot = None;
                }
                return Err(e);
            }
        };
        let generation = match lock.bump(s, before) {
            Ok(g) => g,
            Err(e) => {
                // Other processes cannot tell this write happened: the record is written, but
                // report the failure (their index could miss it until their next rescan).
                *slot = None;
                return Err(e);
            }
        };
        if let Some(index) = slot.as_mut() {
            match change {
                Change::Set(task) => {
                    let file_id = fs::metadata(self.path(task.id()))
                        .map(|m| index::file_id(&m))
                        .unwrap_or(0);
                    index.set(
                        task.id(),
                        Entry {
                            next_run_time: task.next_run_time(),
                            file_id,
                        },
                    );
                }
                Change::Removed(id) => index.remove(id),
                Change::Cleared => index.clear(),
            }
            // A racy stamp before the write stays racy: another program's change in the same
            // tick would hide behind it, so the next read compares the listing.
            let mut stamp = self.stamp(s)?;
            if stamp_before.is_racy() {
                stamp = stamp.into_racy();
            }
            index.revalidate(generation, stamp);
        }
        Ok(value)
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
        self.blocking(move |inner, s| inner.due(s, now)).await
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        // The index leaves out undecodable records, so one never drives the engine's wakeups;
        // the times are the records' own, exact to the microsecond.
        self.blocking(|inner, s| inner.next_run_time(s)).await
    }

    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        self.blocking(|inner, s| inner.read_all(s)).await
    }

    async fn add_task(&self, task: &Task) -> Result<()> {
        self.check_id(task.id())?;
        let task = task.clone();
        self.blocking(move |inner, s| {
            let bytes = s.records.encode(&task)?;
            inner.write(s, |inner| {
                let path = inner.path(task.id());
                let temp = inner.write_temp(s, &bytes)?;
                // A hard link never replaces an existing file: the add is atomic and no-clobber.
                let linked = fs::hard_link(&temp, &path);
                let _ = fs::remove_file(&temp);
                match linked {
                    Ok(()) => Ok(((), Change::Set(&task))),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        Err(Error::conflict(task.id()))
                    }
                    Err(e) => Err(io_error(s.alias(), "cannot store", &path, e)),
                }
            })
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
            inner.write(s, |inner| {
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
                Ok(((), Change::Set(&task)))
            })
        })
        .await
    }

    async fn delete_task(&self, task_id: &str) -> Result<()> {
        if self.check_id(task_id).is_err() {
            return Err(Error::task_lookup(task_id));
        }
        let id = task_id.to_owned();
        self.blocking(move |inner, s| {
            inner.write(s, |inner| {
                let path = inner.path(&id);
                match fs::remove_file(&path) {
                    Ok(()) => {
                        inner.started.undecodable().clear(&id);
                        Ok(((), Change::Removed(&id)))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::task_lookup(&id)),
                    Err(e) => Err(io_error(s.alias(), "cannot delete", &path, e)),
                }
            })
        })
        .await
    }

    async fn remove_all_tasks(&self) -> Result<()> {
        self.blocking(|inner, s| {
            inner.write(s, |inner| {
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
                Ok(((), Change::Cleared))
            })
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
