//! Token sinks: where every new token is written for other processes to read.
//!
//! A [`FileSink`] writes the raw token, with no trailing newline, atomically (temp file in the
//! same directory created with the final mode, fsync, rename) with the configured mode
//! (default 0640). A token equal to what the file already holds is not rewritten.
//!
//! [`FileSink::check_writable`] is run before the first login, as Vault Agent does: an
//! unwritable sink directory fails the start before a one-time secret_id is consumed.
//!
//! A sink may instead receive a response-wrapping token for the token (`wrap_ttl`: the agent
//! asks the server for it and hands its wrap-info JSON to [`FileSink::write`]), and may encrypt
//! what it writes for a client (`dh_type`, see [`encrypt`]); wrapping comes first, as in Vault
//! Agent.

pub mod encrypt;

use std::path::{Path, PathBuf};
use std::time::Duration;

use vaultward_config::FileSink as FileSinkConfig;
use vaultward_config::{Owner, Principal};
use vaultward_core::ExposeSecret;
use vaultward_core::SecretString;
use vaultward_core::fs::{Ownership, WriteError, WriteOutcome, write_if_changed_owned};

/// A file that receives every new token.
#[derive(Debug, Clone)]
pub struct FileSink {
    path: PathBuf,
    mode: u32,
    owner: Ownership,
    wrap_ttl: Option<Duration>,
    encryption: Option<encrypt::Encryption>,
}

/// The numeric owner for an [`Owner`] from the config: ids as given, names looked up.
pub fn resolve_owner(owner: &Owner) -> Result<Ownership, String> {
    let user = match &owner.user {
        None => None,
        Some(Principal::Id(id)) => Some(*id),
        Some(Principal::Name(name)) => Some(
            vaultward_core::users::user_id(name)
                .ok_or_else(|| format!("there is no user `{name}` on this system"))?,
        ),
    };
    let group = match &owner.group {
        None => None,
        Some(Principal::Id(id)) => Some(*id),
        Some(Principal::Name(name)) => Some(
            vaultward_core::users::group_id(name)
                .ok_or_else(|| format!("there is no group `{name}` on this system"))?,
        ),
    };
    Ok(Ownership {
        uid: user,
        gid: group,
    })
}

impl FileSink {
    /// Builds the sink from its validated config; fails when an owner name is unknown.
    pub fn new(config: &FileSinkConfig) -> Result<Self, String> {
        let owner = resolve_owner(&config.owner)
            .map_err(|problem| format!("the sink `{}`: {problem}", config.path.display()))?;
        let encryption = match &config.encryption {
            None => None,
            Some(settings) => {
                let aad = match &settings.aad {
                    vaultward_config::Aad::None => Vec::new(),
                    vaultward_config::Aad::Literal(text) => text.clone().into_bytes(),
                    vaultward_config::Aad::EnvVar(name) => std::env::var(name)
                        .map_err(|_| {
                            format!(
                                "the sink `{}`: the environment variable `{name}` (aad_env_var) is not set",
                                config.path.display()
                            )
                        })?
                        .into_bytes(),
                };
                Some(encrypt::Encryption::new(
                    &settings.dh_path,
                    settings.derive_key,
                    aad,
                ))
            }
        };
        Ok(Self {
            path: config.path.clone(),
            mode: config.mode,
            owner,
            wrap_ttl: config.wrap_ttl,
            encryption,
        })
    }

    /// `wrap_ttl`: when set, the agent writes a wrapping token's wrap-info instead of the token.
    pub fn wrap_ttl(&self) -> Option<Duration> {
        self.wrap_ttl
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates and removes a temporary file next to the sink, to fail early when the directory
    /// is missing or unwritable.
    pub fn check_writable(&self) -> Result<(), WriteError> {
        let dir = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if let Some(name) = self.path.file_name() {
            vaultward_core::fs::remove_stale_temporary_files(dir, &[name]);
        }
        vaultward_core::fs::check_replaceable(&self.path).map_err(|source| WriteError {
            path: self.path.clone(),
            step: "check the sink path",
            source,
        })?;
        vaultward_core::fs::check_directory_writable(dir).map_err(|source| WriteError {
            path: self.path.clone(),
            step: "check that its directory is writable",
            source,
        })
    }

    /// Writes `token` (or, for a sink with `wrap_ttl`, the wrap-info JSON) to the file,
    /// encrypted first when the sink has `dh_type`.
    pub fn write(&self, token: &SecretString) -> Result<WriteOutcome, WriteError> {
        let Some(encryption) = &self.encryption else {
            return write_if_changed_owned(
                &self.path,
                token.expose_secret().as_bytes(),
                self.mode,
                self.owner,
            );
        };
        let envelope = encryption
            .seal(token.expose_secret().as_bytes())
            .map_err(|reason| WriteError {
                path: self.path.clone(),
                step: "encrypt the token for the client (dh_type)",
                source: std::io::Error::other(reason),
            })?;
        write_if_changed_owned(&self.path, envelope.as_bytes(), self.mode, self.owner)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn writes_raw_token_with_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let sink = FileSink::new(&FileSinkConfig {
            path: path.clone(),
            mode: 0o600,
            owner: Owner::default(),
            wrap_ttl: None,
            encryption: None,
        })
        .unwrap();
        sink.check_writable().unwrap();
        assert_eq!(
            sink.write(&SecretString::from("s.abc".to_owned())).unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"s.abc");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            sink.write(&SecretString::from("s.abc".to_owned())).unwrap(),
            WriteOutcome::Unchanged
        );
    }

    #[test]
    fn unwritable_directory_is_reported() {
        let sink = FileSink::new(&FileSinkConfig {
            path: PathBuf::from("/nonexistent-dir/token"),
            mode: 0o640,
            owner: Owner::default(),
            wrap_ttl: None,
            encryption: None,
        })
        .unwrap();
        let message = sink.check_writable().unwrap_err().to_string();
        assert!(
            message.starts_with(
                "cannot write `/nonexistent-dir/token`: check that its directory is writable"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_fifo_sink_path_is_refused_before_any_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()
        );
        let sink = FileSink::new(&FileSinkConfig {
            path: path.clone(),
            mode: 0o640,
            owner: Owner::default(),
            wrap_ttl: None,
            encryption: None,
        })
        .unwrap();
        let message = sink.check_writable().unwrap_err().to_string();
        assert!(
            message.ends_with(
                "check the sink path: it is not a regular file (a device, FIFO or socket)"
            ),
            "{message}"
        );
    }
}
