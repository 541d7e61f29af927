//! The in-memory index of a file store's directory: each task file's next run time, ordered,
//! so that `get_due_tasks` and `get_next_run_time` read only the files they need instead of
//! every file in the directory.
//!
//! The index is a cache of the directory, trusted only while nothing else changed it:
//! - every write by any asyncz process bumps a generation counter kept in the lock file (under
//!   the exclusive lock), so another process's writes are seen at the next read;
//! - the directory's modification time (and inode on Unix) catches files created, removed or
//!   renamed by other programs; while that time is recent (within [`RACY_WINDOW`] of when it was
//!   read, so a change in the same timestamp tick could hide behind it) the listing of names
//!   (and inodes on Unix) is compared instead;
//! - a file edited in place by another program keeps both; due files are read afresh anyway, and
//!   the whole index is rebuilt every [`FULL_RESCAN_INTERVAL`].

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use asyncz_core::chrono::{DateTime, Utc};

/// A directory stamp younger than this is not trusted on its own: file systems keep times in
/// ticks (Linux: the coarse clock, a few milliseconds), so a change made in the same tick as
/// the stamp leaves it equal.
pub(crate) const RACY_WINDOW: Duration = Duration::from_secs(1);

/// The index is rebuilt from every file at least this often, so a file edited in place by
/// another program (which changes neither the directory nor the generation) is seen in time.
pub(crate) const FULL_RESCAN_INTERVAL: Duration = Duration::from_secs(30);

/// What identifies the directory's state without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirStamp {
    modified: Option<SystemTime>,
    file_id: u64,
    /// The stamp was read within [`RACY_WINDOW`] of `modified`.
    racy: bool,
}

impl DirStamp {
    /// The stamp of `dir` now.
    pub(crate) fn read(dir: &Path) -> io::Result<DirStamp> {
        let meta = fs::metadata(dir)?;
        let modified = meta.modified().ok();
        let racy = modified.is_none_or(|m| {
            SystemTime::now()
                .duration_since(m)
                .map_or(true, |age| age < RACY_WINDOW)
        });
        Ok(DirStamp {
            modified,
            file_id: file_id(&meta),
            racy,
        })
    }

    /// Whether the stamp is too recent to be trusted on its own.
    pub(crate) fn is_racy(&self) -> bool {
        self.racy
    }

    /// The same stamp, not to be trusted on its own.
    pub(crate) fn into_racy(self) -> DirStamp {
        DirStamp { racy: true, ..self }
    }

    /// Whether `now` shows the same directory as `self` (the racy flag aside).
    fn same(&self, now: &DirStamp) -> bool {
        self.modified.is_some() && self.modified == now.modified && self.file_id == now.file_id
    }
}

/// The inode of a file on Unix (a rename over a file changes it); 0 elsewhere.
#[cfg(unix)]
pub(crate) fn file_id(meta: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

/// The inode of a file on Unix (a rename over a file changes it); 0 elsewhere.
#[cfg(not(unix))]
pub(crate) fn file_id(_meta: &fs::Metadata) -> u64 {
    0
}

/// The inode of a directory entry, without a `stat` on Unix; 0 elsewhere.
#[cfg(unix)]
pub(crate) fn entry_id(entry: &fs::DirEntry) -> u64 {
    use std::os::unix::fs::DirEntryExt;
    entry.ino()
}

/// The inode of a directory entry, without a `stat` on Unix; 0 elsewhere.
#[cfg(not(unix))]
pub(crate) fn entry_id(_entry: &fs::DirEntry) -> u64 {
    0
}

/// One task file as the index knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The record's next run time (`None`: paused, or undecodable).
    pub(crate) next_run_time: Option<DateTime<Utc>>,
    /// The file's inode (Unix), to notice a file replaced behind the store's back.
    pub(crate) file_id: u64,
}

/// The index of one directory, valid for one generation and directory stamp.
#[derive(Debug)]
pub(crate) struct Index {
    generation: u64,
    stamp: DirStamp,
    built: Instant,
    entries: HashMap<String, Entry>,
    by_time: BTreeSet<(DateTime<Utc>, String)>,
}

impl Index {
    /// An empty index for a directory at `generation` with `stamp`, to be filled by
    /// [`Index::set`].
    pub(crate) fn new(generation: u64, stamp: DirStamp) -> Index {
        Index {
            generation,
            stamp,
            built: Instant::now(),
            entries: HashMap::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// Whether the index still describes the directory at `generation` / `stamp` without
    /// listing it: the same generation and directory stamp, neither racy, and not due for a
    /// full rescan.
    pub(crate) fn fresh(&self, generation: u64, stamp: &DirStamp) -> bool {
        self.current(generation, stamp) && !self.stamp.racy && !stamp.racy
    }

    /// Same generation and stamp, within the rescan interval (the stamps may be racy).
    pub(crate) fn current(&self, generation: u64, stamp: &DirStamp) -> bool {
        self.generation == generation
            && self.stamp.same(stamp)
            && self.built.elapsed() < FULL_RESCAN_INTERVAL
    }

    /// Whether a listing of the directory (`(id, inode)` pairs) names exactly the indexed files.
    pub(crate) fn matches_listing(&self, listing: &[(String, u64)]) -> bool {
        listing.len() == self.entries.len()
            && listing
                .iter()
                .all(|(id, fid)| self.entries.get(id).is_some_and(|e| e.file_id == *fid))
    }

    /// Marks the index as describing the directory at `generation` / `stamp` (after a write of
    /// this process, or a listing that matched).
    pub(crate) fn revalidate(&mut self, generation: u64, stamp: DirStamp) {
        self.generation = generation;
        self.stamp = stamp;
    }

    /// Records `id`'s file (replacing what was known of it).
    pub(crate) fn set(&mut self, id: &str, entry: Entry) {
        if let Some(old) = self.entries.insert(id.to_owned(), entry) {
            if let Some(t) = old.next_run_time {
                self.by_time.remove(&(t, id.to_owned()));
            }
        }
        if let Some(t) = entry.next_run_time {
            self.by_time.insert((t, id.to_owned()));
        }
    }

    /// Forgets `id`'s file.
    pub(crate) fn remove(&mut self, id: &str) {
        if let Some(old) = self.entries.remove(id) {
            if let Some(t) = old.next_run_time {
                self.by_time.remove(&(t, id.to_owned()));
            }
        }
    }

    /// Forgets every file.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.by_time.clear();
    }

    /// What the index knows of `id`'s file.
    pub(crate) fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// The ids whose next run time is at or before `now`, earliest first.
    pub(crate) fn due(&self, now: DateTime<Utc>) -> Vec<String> {
        self.by_time
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// The earliest next run time of a decodable record.
    pub(crate) fn next_run_time(&self) -> Option<DateTime<Utc>> {
        self.by_time.first().map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncz_core::chrono::TimeZone;

    fn stamp() -> DirStamp {
        DirStamp {
            modified: Some(SystemTime::UNIX_EPOCH),
            file_id: 1,
            racy: false,
        }
    }

    #[test]
    fn entries_move_in_time_order_and_leave_it_when_removed() {
        let t = |s| Utc.timestamp_opt(s, 0).single().unwrap_or_default();
        let mut index = Index::new(0, stamp());
        let at = |s| Entry {
            next_run_time: Some(t(s)),
            file_id: 0,
        };
        index.set("a", at(30));
        index.set("b", at(10));
        index.set("c", at(20));
        index.set("a", at(5));
        index.set(
            "p",
            Entry {
                next_run_time: None,
                file_id: 0,
            },
        );
        assert_eq!(index.due(t(20)), ["a", "b", "c"]);
        index.remove("a");
        assert_eq!(index.due(t(20)), ["b", "c"]);
        assert_eq!(index.next_run_time(), Some(t(10)));
        assert!(index.matches_listing(&[("b".into(), 0), ("c".into(), 0), ("p".into(), 0)]));
        assert!(!index.matches_listing(&[("b".into(), 0), ("c".into(), 0), ("q".into(), 0)]));
    }

    #[test]
    fn a_racy_stamp_is_current_but_not_fresh() {
        let index = Index::new(3, stamp());
        assert!(index.fresh(3, &stamp()));
        assert!(!index.fresh(4, &stamp()));
        let racy = DirStamp {
            racy: true,
            ..stamp()
        };
        assert!(!index.fresh(3, &racy));
        assert!(index.current(3, &racy));
    }
}
