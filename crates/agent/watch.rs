//! Watching the files the agent reads: the auth method's credentials (role_id, secret_id, a
//! token file, a JWT) and template sources.
//!
//! Each file is watched through its **parent directory**: Kubernetes updates mounted Secrets
//! and ConfigMaps by swapping a `..data` symlink, and editors replace files by renaming, both of
//! which a watch on the file itself misses after the first change. Any event only schedules a
//! check (debounced); the check re-reads every watched path (following symlinks) and compares
//! its content with what was seen last, so event names never matter. A slow periodic check is
//! the fallback where inotify does not work (NFS, some overlay filesystems).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// What a watched file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A file of the auth method's credentials (role_id, secret_id, token, JWT).
    Credential,
    /// A template `source` file.
    TemplateSource,
}

/// The watched files, their last seen contents, and the OS watcher.
pub struct FileWatch {
    files: HashMap<PathBuf, (FileKind, Option<u64>)>,
    _watcher: Option<notify::RecommendedWatcher>,
    /// True when every directory is watched by the OS; the periodic check can then be rare.
    pub complete: bool,
    /// Receives a unit for every relevant filesystem event.
    pub events: mpsc::UnboundedReceiver<()>,
}

fn digest(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}

impl FileWatch {
    /// Watches `files` (through their parent directories).
    pub fn new(files: Vec<(PathBuf, FileKind)>) -> Self {
        let (sender, events) = mpsc::unbounded_channel();
        // Only events about a watched name (or Kubernetes' `..data` link, whose swap changes
        // every file behind it) matter; other files in the same directory are ignored.
        let mut names: HashSet<OsString> = files
            .iter()
            .filter_map(|(path, _)| path.file_name().map(OsString::from))
            .collect();
        names.insert(OsString::from("..data"));
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && !matches!(event.kind, EventKind::Access(_))
                && event
                    .paths
                    .iter()
                    .any(|path| path.file_name().is_some_and(|name| names.contains(name)))
            {
                let _ = sender.send(());
            }
        });
        let mut watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                warn!(%error, "Cannot watch files; changes are noticed by the periodic check only.");
                None
            }
        };
        let mut directories: Vec<PathBuf> = files
            .iter()
            .filter_map(|(path, _)| {
                path.parent().map(|p| {
                    if p.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        p.to_path_buf()
                    }
                })
            })
            .collect();
        directories.sort();
        directories.dedup();
        let mut complete = watcher.is_some();
        if let Some(watcher) = watcher.as_mut() {
            for directory in &directories {
                if let Err(error) = watcher.watch(directory, RecursiveMode::NonRecursive) {
                    complete = false;
                    warn!(directory = %directory.display(), %error, "Cannot watch the directory; its files are checked periodically.");
                }
            }
        }
        let files = files
            .into_iter()
            .map(|(path, role)| (path.clone(), (role, digest(&path))))
            .collect();
        Self {
            files,
            _watcher: watcher,
            complete,
            events,
        }
    }

    /// Re-reads every watched file; returns the roles whose file has new, non-empty content.
    pub fn changed(&mut self) -> Vec<FileKind> {
        let mut changed = Vec::new();
        for (path, (role, last)) in &mut self.files {
            let now = digest(path);
            if now != *last {
                debug!(path = %path.display(), ?role, "A watched file changed.");
                if now.is_some() && !changed.contains(role) {
                    changed.push(*role);
                }
                *last = now;
            }
        }
        changed
    }
}
