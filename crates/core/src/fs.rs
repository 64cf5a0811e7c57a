//! Atomic writes for files that hold secrets.
//!
//! [`write_if_changed`] is the only way vaultward writes a token sink, a rendered template or
//! its pid file:
//!
//! 1. If the file already holds exactly these bytes with this mode, nothing is written
//!    (no new inode, no mtime change, no command to run).
//! 2. Otherwise a temporary file is created **in the same directory** with the final mode
//!    (never broader), the content is written and fsynced, and the file is renamed over the
//!    destination; the directory is fsynced so the rename survives a crash.
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
    if is_unchanged(path, contents, mode) {
        return Ok(WriteOutcome::Unchanged);
    }
    write_atomic(path, contents, mode)?;
    Ok(WriteOutcome::Written)
}

/// Writes `contents` to `path` with `mode` atomically, always.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), WriteError> {
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
    temp.write_all(contents)
        .map_err(fail("write the temporary file"))?;
    temp.as_file()
        .sync_all()
        .map_err(fail("fsync the temporary file"))?;
    temp.persist(path)
        .map_err(|error| fail("rename the temporary file over the destination")(error.error))?;
    // Make the rename durable. Some filesystems refuse to fsync a directory; the data is already
    // in place, so that is not an error worth failing the write for.
    if let Ok(directory) = File::open(dir) {
        let _ = directory.sync_all();
    }
    Ok(())
}

/// True when `path` is a regular file holding exactly `contents` with `mode`.
fn is_unchanged(path: &Path, contents: &[u8], mode: u32) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let Ok(metadata) = file.metadata() else {
        return false;
    };
    if !metadata.is_file()
        || metadata.mode() & 0o7777 != mode & 0o7777
        || metadata.len() != contents.len() as u64
    {
        return false;
    }
    let mut existing = Vec::with_capacity(contents.len());
    file.read_to_end(&mut existing).is_ok() && existing == contents
}

/// Checks that files can be created in `directory`, by creating and removing a temporary
/// file there; a missing directory is reported as such.
pub fn check_directory_writable(directory: &Path) -> io::Result<()> {
    if !directory.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the directory does not exist",
        ));
    }
    tempfile::Builder::new()
        .prefix(".vaultward-write-check.")
        .tempfile_in(directory)
        .map(drop)
        // tempfile adds the temporary file's name to the message; the kind says it all.
        .map_err(|error| io::Error::from(error.kind()))
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
