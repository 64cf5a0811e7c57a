//! Atomic writes for files that hold secrets.
//!
//! [`write_if_changed`] is the only way vaultward writes a token sink, a rendered template or
//! its pid file:
//!
//! 1. If the file already holds exactly these bytes with this mode, nothing is written
//!    (no new inode, no mtime change, no command to run).
//! 2. Otherwise a temporary file is created **in the same directory** with the final mode
//!    (never broader), the content is written and fsynced, and the file is renamed over the
//!    destination.
//!
//! A reader therefore sees the old file or the new one, never a partial one, and a failed write
//! leaves the old content and no temporary file behind.

use std::fs::{File, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What [`write_if_changed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The file was created or replaced.
    Written,
    /// The file already had this content and mode; it was left alone.
    Unchanged,
}

/// A failed write, naming the file and the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `{}`: {step}: {source}", path.display())]
pub struct WriteError {
    /// The destination file.
    pub path: PathBuf,
    /// The step that failed, e.g. "create a temporary file in the same directory".
    pub step: &'static str,
    /// The underlying IO error.
    #[source]
    pub source: io::Error,
}

/// Writes `contents` to `path` with `mode` atomically, unless the file already holds exactly
/// `contents` with `mode`.
pub fn write_if_changed(
    path: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<WriteOutcome, WriteError> {
    write_if_changed_owned(path, contents, mode, Ownership::default())
}

/// Numeric owner and group of a written file; `None` keeps the writer's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ownership {
    /// The owning user id.
    pub uid: Option<u32>,
    /// The owning group id.
    pub gid: Option<u32>,
}

/// [`write_if_changed`] that also sets the file's owner and group (before the content is
/// written), and rewrites a file whose owner or group differs.
pub fn write_if_changed_owned(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Ownership,
) -> Result<WriteOutcome, WriteError> {
    if is_unchanged(path, contents, mode, owner) {
        return Ok(WriteOutcome::Unchanged);
    }
    write_atomic_owned(path, contents, mode, owner)?;
    Ok(WriteOutcome::Written)
}

/// Writes `contents` to `path` with `mode` atomically, always.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), WriteError> {
    write_atomic_owned(path, contents, mode, Ownership::default())
}

/// [`write_atomic`] with an owner and group.
pub fn write_atomic_owned(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Ownership,
) -> Result<(), WriteError> {
    let staged = stage(path, contents, mode, owner)?;
    staged.sync()?;
    staged.commit()
}

/// A file written to its temporary name but not yet durable nor in place: the three steps of
/// an atomic write, apart, so that a batch of files can be created one after the other, fsynced
/// together and renamed in place (see [`write_batch`]). Dropped without [`Staged::commit`], the
/// temporary file is emptied and removed, and the destination is untouched.
#[derive(Debug)]
pub struct Staged {
    /// `None` once renamed in place.
    temp: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Not renamed in place: the file is emptied before tempfile removes it, so that its
        // secret is gone even where the removal fails (a directory made append-only).
        if let Some(temp) = &self.temp {
            let _ = temp.as_file().set_len(0);
        }
    }
}

/// Creates the temporary file next to `path`, with `mode` and `owner` set before any content,
/// and writes `contents` to it.
pub fn stage(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Ownership,
) -> Result<Staged, WriteError> {
    check_replaceable(path).map_err(|source| WriteError {
        path: path.to_path_buf(),
        step: "check the destination",
        source,
    })?;
    let fail = |step: &'static str| {
        move |source: io::Error| WriteError {
            path: path.to_path_buf(),
            step,
            source,
        }
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode & 0o7777))
        .tempfile_in(dir)
        .map_err(fail("create a temporary file in the same directory"))?;
    // The process umask may have narrowed the creation mode; set the exact mode before any
    // content is written, so the file is never broader than asked.
    rustix::fs::fchmod(
        temp.as_file(),
        rustix::fs::Mode::from_raw_mode(mode & 0o7777),
    )
    .map_err(|errno| fail("set the file mode")(io::Error::from(errno)))?;
    if owner != Ownership::default() {
        rustix::fs::fchown(
            temp.as_file(),
            owner.uid.map(rustix::fs::Uid::from_raw),
            owner.gid.map(rustix::fs::Gid::from_raw),
        )
        .map_err(|errno| fail("set the file's owner and group")(io::Error::from(errno)))?;
    }
    let staged = Staged {
        temp: Some(temp),
        path: path.to_path_buf(),
    };
    if let Some(temp) = &staged.temp {
        temp.as_file()
            .write_all(contents)
            .map_err(fail("write the temporary file"))?;
    }
    Ok(staged)
}

impl Staged {
    /// The destination this file will replace.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the content durable (fdatasync).
    pub fn sync(&self) -> Result<(), WriteError> {
        let synced = match &self.temp {
            Some(temp) => temp.as_file().sync_data(),
            None => Ok(()),
        };
        synced.map_err(|source| WriteError {
            path: self.path.clone(),
            step: "fsync the temporary file",
            source,
        })
    }

    /// Renames the temporary file over the destination. Call [`Staged::sync`] first.
    pub fn commit(mut self) -> Result<(), WriteError> {
        // The directory is not fsynced after the rename: after a crash the rename may be lost
        // and the previous file still there (whole, never partial), which the next render
        // repairs. That halves the fsyncs of a render of many files.
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        temp.persist(&self.path).map_err(|error| {
            // Emptied before tempfile removes it (see the `Drop` of `Staged`).
            let _ = error.file.as_file().set_len(0);
            WriteError {
                path: self.path.clone(),
                step: "rename the temporary file over the destination",
                source: error.error,
            }
        })?;
        Ok(())
    }
}

/// One file of a [`write_batch`].
#[derive(Debug)]
pub struct BatchItem<'a> {
    /// The destination.
    pub path: &'a Path,
    /// What it should hold.
    pub contents: &'a [u8],
    /// Its mode.
    pub mode: u32,
    /// Its owner and group.
    pub owner: Ownership,
}

/// Files of a batch prepared at once: it bounds the open temporary files.
const BATCH_CHUNK: usize = 128;

/// [`write_if_changed_owned`] for many files, with the same guarantees for each, in three
/// steps per chunk of files: the temporary files are created and written one after the other
/// (concurrent creations in one directory contend in the filesystem's inode allocator), then
/// fsynced with up to `syncs_in_flight` fsyncs at a time (the filesystem groups them into
/// few journal commits), then renamed in place one after the other. Each result is in the
/// order of `items`; a failing file does not stop the others.
pub fn write_batch(
    items: &[BatchItem<'_>],
    syncs_in_flight: usize,
) -> Vec<Result<WriteOutcome, WriteError>> {
    let mut results = Vec::with_capacity(items.len());
    for chunk in items.chunks(BATCH_CHUNK) {
        // Step 1: skip the unchanged files, stage the others.
        let mut outcomes: Vec<Option<Result<WriteOutcome, WriteError>>> = Vec::new();
        let mut staged: Vec<(usize, Staged)> = Vec::new();
        for (position, item) in chunk.iter().enumerate() {
            if is_unchanged(item.path, item.contents, item.mode, item.owner) {
                outcomes.push(Some(Ok(WriteOutcome::Unchanged)));
                continue;
            }
            match stage(item.path, item.contents, item.mode, item.owner) {
                Ok(file) => {
                    outcomes.push(None);
                    staged.push((position, file));
                }
                Err(error) => outcomes.push(Some(Err(error))),
            }
        }
        // Step 2: fsync the staged files, a few at a time.
        let synced = sync_all(&staged, syncs_in_flight.max(1));
        // Step 3: rename the durable ones in place.
        for ((position, file), sync) in staged.into_iter().zip(synced) {
            outcomes[position] = Some(
                sync.and_then(|()| file.commit())
                    .map(|()| WriteOutcome::Written),
            );
        }
        results.extend(outcomes.into_iter().map(|outcome| {
            outcome.unwrap_or_else(|| {
                Err(WriteError {
                    path: PathBuf::new(),
                    step: "write the file",
                    source: io::Error::other("the batch lost track of this file"),
                })
            })
        }));
    }
    results
}

/// Fsyncs every staged file, with up to `in_flight` threads; the results are in order.
fn sync_all(staged: &[(usize, Staged)], in_flight: usize) -> Vec<Result<(), WriteError>> {
    if staged.len() <= 1 || in_flight == 1 {
        return staged.iter().map(|(_, file)| file.sync()).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<(), WriteError>>>> =
        staged.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let work = || {
        loop {
            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some((_, file)) = staged.get(index) else {
                break;
            };
            let result = file.sync();
            if let Some(slot) = slots.get(index)
                && let Ok(mut slot) = slot.lock()
            {
                *slot = Some(result);
            }
        }
    };
    std::thread::scope(|scope| {
        // The calling thread works too, so the batch completes even if no thread can be made.
        for _ in 1..in_flight.min(staged.len()) {
            let _ = std::thread::Builder::new()
                .name("vaultward-fsync".into())
                .spawn_scoped(scope, work);
        }
        work();
    });
    slots
        .into_iter()
        .zip(staged)
        .map(|(slot, (_, file))| {
            slot.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(WriteError {
                    path: file.path.clone(),
                    step: "fsync the temporary file",
                    source: io::Error::other("the fsync thread did not report"),
                })
            })
        })
        .collect()
}

/// True when `path` is a regular file holding exactly `contents` with `mode`.
fn is_unchanged(path: &Path, contents: &[u8], mode: u32, owner: Ownership) -> bool {
    // Never open what is not a regular file: opening a FIFO blocks until a writer comes.
    if !std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file()) {
        return false;
    }
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let Ok(metadata) = file.metadata() else {
        return false;
    };
    if !metadata.is_file()
        || owner.uid.is_some_and(|uid| uid != metadata.uid())
        || owner.gid.is_some_and(|gid| gid != metadata.gid())
        || metadata.mode() & 0o7777 != mode & 0o7777
        || metadata.len() != contents.len() as u64
    {
        return false;
    }
    // The file holds a secret: the copy read for the comparison is wiped.
    let mut existing = zeroize::Zeroizing::new(Vec::with_capacity(contents.len()));
    file.read_to_end(&mut existing).is_ok() && existing.as_slice() == contents
}

/// Checks that `path` can be replaced by a written file: it is absent or a regular file (after
/// following symlinks). A directory, device, FIFO or socket is refused, never replaced (and a
/// FIFO never opened, which would block).
pub fn check_replaceable(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a directory",
        )),
        Ok(metadata) if !metadata.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a device, FIFO or socket)",
        )),
        _ => Ok(()),
    }
}

/// What stands in the way of `path` being a directory, from the root down: the first part of it
/// that exists and is not a directory (following symbolic links), or the first symbolic link
/// whose target does not exist; `None` when every part that exists is a directory. Used to say
/// why a path "is not a directory" (ENOTDIR) or "exists" (EEXIST, from a dangling link) in
/// words that name the part to fix.
pub fn path_problem(path: &Path) -> Option<String> {
    let mut parts: Vec<&Path> = path
        .ancestors()
        .filter(|part| !part.as_os_str().is_empty())
        .collect();
    parts.reverse();
    for part in parts {
        match std::fs::metadata(part) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => {
                return Some(format!("`{}` is a file, not a directory", part.display()));
            }
            Err(_) if part.is_symlink() => {
                let target = std::fs::read_link(part)
                    .map(|target| format!(" `{}`", target.display()))
                    .unwrap_or_default();
                return Some(format!(
                    "`{}` is a symbolic link to{target}, which does not exist",
                    part.display()
                ));
            }
            // Missing (it can be created) or unreadable (said by the caller's own error).
            Err(_) => return None,
        }
    }
    None
}

/// Checks that files can be created, written and replaced in `directory`, the way the agent
/// will write them: an unnamed temporary file (`O_TMPFILE`) is created there and 4 KiB are
/// written to it, so the kernel itself applies every rule that a real write meets (modes and
/// ACLs, a read-only mount, an immutable directory, a full disk, the blocks reserved for root,
/// quotas, user namespaces, security modules). The file has no name, so nothing is added to the
/// directory or left behind, and nothing needs removing; where the filesystem cannot make
/// unnamed files (NFS, some FUSE filesystems), a named file is created, written and removed
/// instead. An append-only directory is refused too: files can be created in it but never
/// renamed over or removed, so every write would leave its temporary file, and its secret,
/// behind. A missing directory, or a path that is not a directory, is reported as such.
pub fn check_directory_writable(directory: &Path) -> io::Result<()> {
    match std::fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => {}
        result => {
            if let Some(problem) = path_problem(directory) {
                return Err(io::Error::new(io::ErrorKind::NotADirectory, problem));
            }
            return Err(match result {
                Ok(_) => io::Error::new(io::ErrorKind::NotADirectory, "it is not a directory"),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    io::Error::new(io::ErrorKind::NotFound, "the directory does not exist")
                }
                Err(error) => error,
            });
        }
    }
    if is_append_only(directory) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "it is append-only (chattr +a): files in it cannot be replaced or removed",
        ));
    }
    match probe_unnamed(directory) {
        Err(error) if unnamed_files_unsupported(&error) => probe_named(directory),
        result => result,
    }
}

/// The probe's content: enough to need a block of its own, so a full disk is found.
const PROBE: [u8; 4096] = [0; 4096];

/// Creates an unnamed file in `directory` and writes [`PROBE`] to it; closing it frees it.
fn probe_unnamed(directory: &Path) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        directory,
        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::RUSR | Mode::WUSR,
    )?;
    // Filesystems reserve space when data is written, so a full disk or an exhausted quota
    // fails this write; no fsync is needed to find out.
    File::from(fd).write_all(&PROBE)
}

/// True when `open(O_TMPFILE)` failed because the kernel or the filesystem cannot make unnamed
/// files (`EOPNOTSUPP`; `EISDIR` or `EINVAL` from kernels older than 3.11), not because the
/// directory refuses files.
fn unnamed_files_unsupported(error: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::OPNOTSUPP, Errno::ISDIR, Errno::INVAL]
        .iter()
        .any(|errno| error.raw_os_error() == Some(errno.raw_os_error()))
}

/// Creates a named temporary file in `directory`, writes [`PROBE`] to it and removes it.
fn probe_named(directory: &Path) -> io::Result<()> {
    // tempfile adds the file's name to its messages; the OS error says it all.
    let bare = |error: io::Error| match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::from(error.kind()),
    };
    let mut probe = tempfile::Builder::new()
        .prefix(".vaultward-write-check.")
        .tempfile_in(directory)
        .map_err(bare)?;
    probe.write_all(&PROBE).map_err(bare)
}

/// True when `directory` has the append-only attribute (`chattr +a`), as far as its filesystem
/// tells.
fn is_append_only(directory: &Path) -> bool {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    rustix::fs::statx(
        rustix::fs::CWD,
        directory,
        AtFlags::empty(),
        StatxFlags::BASIC_STATS,
    )
    .is_ok_and(|status| {
        status.stx_attributes_mask.contains(StatxAttributes::APPEND)
            && status.stx_attributes.contains(StatxAttributes::APPEND)
    })
}

/// Removes temporary files a killed earlier run left in `directory` next to the files named
/// `names` (`.<name>.XXXXXX.tmp`, the names [`write_atomic`] uses); they may hold a token or a
/// secret. The directory is read once.
pub fn remove_stale_temporary_files(directory: &Path, names: &[&std::ffi::OsStr]) {
    let prefixes: Vec<String> = names
        .iter()
        .filter_map(|name| name.to_str())
        .map(|name| format!(".{name}."))
        .collect();
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if !file_name.starts_with('.') || !file_name.ends_with(".tmp") {
            continue;
        }
        // tempfile's random part is 6 characters: `.` + name + `.` + 6 + `.tmp`.
        let stale = prefixes.iter().any(|prefix| {
            file_name.starts_with(prefix.as_str()) && file_name.len() == prefix.len() + 10
        });
        if stale && entry.file_type().is_ok_and(|kind| kind.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_skips_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        assert_eq!(
            write_if_changed(&path, b"abc", 0o640).unwrap(),
            WriteOutcome::Written
        );
        let first = std::fs::metadata(&path).unwrap();
        assert_eq!(first.mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");

        assert_eq!(
            write_if_changed(&path, b"abc", 0o640).unwrap(),
            WriteOutcome::Unchanged
        );
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), first.ino());

        assert_eq!(
            write_if_changed(&path, b"abc", 0o600).unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(
            write_if_changed(&path, b"abcd", 0o600).unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"abcd");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("token")],
            "no temporary file is left behind"
        );
    }

    #[test]
    fn failure_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("token");
        let error = write_if_changed(&path, b"abc", 0o640).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot write `{}`: create a temporary file",
                path.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn batch_writes_in_order_skips_unchanged_and_isolates_failures() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..300).map(|i| dir.path().join(format!("f{i}"))).collect();
        // One unchanged file, one destination that is a directory.
        write_atomic(&paths[7], b"content 7", 0o640).unwrap();
        let before = std::fs::metadata(&paths[7]).unwrap().ino();
        std::fs::create_dir(&paths[200]).unwrap();
        let contents: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("content {i}").into_bytes())
            .collect();
        let items: Vec<BatchItem<'_>> = paths
            .iter()
            .zip(&contents)
            .map(|(path, contents)| BatchItem {
                path,
                contents,
                mode: 0o640,
                owner: Ownership::default(),
            })
            .collect();
        let results = write_batch(&items, 8);
        assert_eq!(results.len(), 300);
        for (i, result) in results.iter().enumerate() {
            match i {
                7 => assert_eq!(*result.as_ref().unwrap(), WriteOutcome::Unchanged),
                200 => {
                    let error = result.as_ref().unwrap_err();
                    assert_eq!(error.path, paths[200]);
                    assert!(error.to_string().contains("it is a directory"), "{error}");
                }
                _ => {
                    assert_eq!(*result.as_ref().unwrap(), WriteOutcome::Written, "file {i}");
                    assert_eq!(std::fs::read(&paths[i]).unwrap(), contents[i]);
                    let mode = std::fs::metadata(&paths[i]).unwrap().mode() & 0o7777;
                    assert_eq!(mode, 0o640, "file {i}");
                }
            }
        }
        assert_eq!(std::fs::metadata(&paths[7]).unwrap().ino(), before);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // A second batch of the same content writes nothing.
        let again = write_batch(&items, 8);
        assert!(
            again
                .iter()
                .enumerate()
                .all(|(i, result)| i == 200 || matches!(result, Ok(WriteOutcome::Unchanged)))
        );
    }
}
