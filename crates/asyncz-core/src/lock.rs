//! File locks for several scheduler processes sharing a store (spec: `lock_path`,
//! `FileLockProtected`). A lock is an exclusive fs4 (flock) lock on a file whose path is a
//! template with the placeholders `{store}` (the store alias), `{ppid}` (the parent process id)
//! and `{pgrp}` (the process group id), so the workers of one service (one process group, or
//! one parent) share a lock while unrelated services do not.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::{Error, Result};

/// The parent process id.
pub fn parent_pid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get().unsigned_abs())
    }
    #[cfg(not(unix))]
    {
        std::process::id()
    }
}

/// The process group id (the process id where there are no process groups).
pub fn process_group() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getpgrp()
            .as_raw_nonzero()
            .get()
            .unsigned_abs()
    }
    #[cfg(not(unix))]
    {
        std::process::id()
    }
}

/// Fills the `{store}`, `{ppid}` and `{pgrp}` placeholders of a lock path template.
pub fn resolve_lock_path(template: &str, store: Option<&str>) -> PathBuf {
    let mut path = template
        .replace("{ppid}", &parent_pid().to_string())
        .replace("{pgrp}", &process_group().to_string());
    if let Some(store) = store {
        path = path.replace("{store}", store);
    }
    PathBuf::from(path)
}

/// A lock file (spec: `FileLockProtected`): `protected(false)` tries once, `protected(true)`
/// waits. The lock is released when the guard is dropped.
#[derive(Debug, Clone)]
pub struct FileLockProtected {
    path: PathBuf,
}

/// Holds a [`FileLockProtected`] lock until dropped.
#[derive(Debug)]
pub struct FileLockGuard {
    file: File,
    path: PathBuf,
}

impl FileLockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLockGuard {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

impl FileLockProtected {
    /// A lock on the file `template` names (placeholders filled, `{store}` left as is).
    pub fn new(template: &str) -> Self {
        FileLockProtected {
            path: resolve_lock_path(template, None),
        }
    }

    /// A lock for one store of a scheduler with this `lock_path` template.
    pub fn for_store(template: &str, store: &str) -> Self {
        FileLockProtected {
            path: resolve_lock_path(template, Some(store)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the lock: with `blocking`, waits for it; without, `Ok(None)` when another holder
    /// has it.
    pub fn protected(&self, blocking: bool) -> Result<Option<FileLockGuard>> {
        let fail = |what: &str, e: std::io::Error| {
            Error::backend("lock_path", format!("{what} {}: {e}", self.path.display()))
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("cannot create the directory of", e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| fail("cannot open", e))?;
        if blocking {
            FileExt::lock_exclusive(&file).map_err(|e| fail("cannot lock", e))?;
        } else {
            match FileExt::try_lock_exclusive(&file) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(fail("cannot lock", e)),
            }
        }
        Ok(Some(FileLockGuard {
            file,
            path: self.path.clone(),
        }))
    }

    /// Removes the lock file if no one holds it (taking the lock while removing it).
    pub fn remove_if_free(&self) {
        if let Ok(Some(guard)) = self.protected(false) {
            let _ = std::fs::remove_file(&self.path);
            drop(guard);
        }
    }
}
