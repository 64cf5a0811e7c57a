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
    let mut temp = tempfile::Builder::new()
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
    temp.write_all(contents)
        .map_err(fail("write the temporary file"))?;
    temp.as_file()
        .sync_data()
        .map_err(fail("fsync the temporary file"))?;
    // The directory is not fsynced after the rename: after a crash the rename may be lost and
    // the previous file still there (whole, never partial), which the next render repairs.
    // That halves the fsyncs of a render of many files.
    temp.persist(path)
        .map_err(|error| fail("rename the temporary file over the destination")(error.error))?;
    Ok(())
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
    let mut existing = Vec::with_capacity(contents.len());
    file.read_to_end(&mut existing).is_ok() && existing == contents
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

/// Checks that files can be created in `directory`, by creating, writing 4 KiB to and
/// removing a temporary file there (a full disk is found too); a missing directory is
/// reported as such.
pub fn check_directory_writable(directory: &Path) -> io::Result<()> {
    if !directory.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the directory does not exist",
        ));
    }
    let mut probe = tempfile::Builder::new()
        .prefix(".vaultward-write-check.")
        .tempfile_in(directory)
        // tempfile adds the temporary file's name to the message; the kind says it all.
        .map_err(|error| io::Error::from(error.kind()))?;
    // Filesystems reserve space when data is written, so a full disk fails this write; no
    // fsync is needed to find out (it would cost a disk flush on every start).
    probe.write_all(&[0u8; 4096])
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
}
