//! Auto-auth: logging in and keeping credentials for the next login.
//!
//! [`AppRoleLogin`] reads the role_id and secret_id files on every attempt (trimming the
//! newline Kubernetes Secrets often end with), keeps the last good values in memory for later
//! re-logins, and removes the secret_id file only **after** a login succeeded with it when
//! `remove_secret_id_file_after_reading` is set. (Vault Agent removes it before logging in, so a
//! failed login loses the secret_id.)
//!
//! [`login_with_backoff`] retries failed logins on a capped, jittered exponential schedule;
//! every failure is logged, and refused credentials are logged as errors, because a server
//! locks a role after repeated failures. With `exit_on_err` the first failure is returned.
//!
//! **Architecture invariant:** this crate writes no files but the removal of a consumed
//! secret_id file; publishing tokens to sinks is the caller's job.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{debug, error, info, warn};
use vaultward_config::{AppRole, Method, MethodKind};
use vaultward_core::{Backoff, SecretString};
use vaultward_vault::{VaultClient, VaultError};

/// A token obtained by logging in.
#[derive(Clone)]
pub struct Token {
    /// The token itself.
    pub secret: SecretString,
    /// Its accessor, safe to log.
    pub accessor: String,
    /// Its time to live when issued; zero for tokens that never expire.
    pub lease_duration: Duration,
    /// Whether it can be renewed.
    pub renewable: bool,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"[REDACTED]")
            .field("accessor", &self.accessor)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .finish()
    }
}

/// Why a login attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credential file could not be read.
    #[error("cannot read the {what} file `{}`: {source}", path.display())]
    ReadCredential {
        /// "role_id" or "secret_id".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: io::Error,
    },
    /// A credential file was empty and no earlier value is known.
    #[error("the {what} file `{}` is empty", path.display())]
    EmptyCredential {
        /// "role_id" or "secret_id".
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The server refused the login or could not be reached.
    #[error("AppRole login at `{mount_path}` failed: {source}")]
    Login {
        /// The method's mount path.
        mount_path: String,
        /// The API error.
        #[source]
        source: VaultError,
    },
}

impl AuthError {
    /// True when the server said the credentials are wrong (or the role is locked).
    pub fn is_refused(&self) -> bool {
        matches!(self, AuthError::Login { source, .. } if matches!(source.status(), Some(400 | 403)))
    }

    /// True when retrying cannot help: the client itself could not be set up (a malformed
    /// address, for instance).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            AuthError::Login {
                source: VaultError::Setup(_),
                ..
            }
        )
    }

    /// True when the login got 403, which for AppRole means the role is locked out after
    /// repeated failures (wrong credentials get 400).
    pub fn is_locked_out(&self) -> bool {
        matches!(self, AuthError::Login { source, .. } if source.status() == Some(403))
    }
}

/// AppRole login from role_id and secret_id files.
pub struct AppRoleLogin {
    config: AppRole,
    mount_path: String,
    role_id: Option<SecretString>,
    secret_id: Option<SecretString>,
}

impl AppRoleLogin {
    /// Builds the method from its validated config.
    pub fn new(method: &Method) -> Self {
        let MethodKind::AppRole(config) = &method.kind;
        Self {
            config: config.clone(),
            mount_path: method.mount_path.clone(),
            role_id: None,
            secret_id: None,
        }
    }

    /// The mount path logins go to.
    pub fn mount_path(&self) -> &str {
        &self.mount_path
    }

    /// One login attempt.
    pub async fn login(&mut self, client: &VaultClient) -> Result<Token, AuthError> {
        let role_id = read_credential(
            "role_id",
            &self.config.role_id_file_path,
            self.role_id.as_ref(),
        )?;
        let (secret_id, secret_id_from_file) = match &self.config.secret_id_file_path {
            None => (None, false),
            Some(path) => {
                let fresh = read_optional(path).map_err(|source| AuthError::ReadCredential {
                    what: "secret_id",
                    path: path.clone(),
                    source,
                })?;
                match (fresh, &self.secret_id) {
                    (Some(value), _) => (Some(value), true),
                    (None, Some(cached)) => (Some(cached.clone()), false),
                    (None, None) => {
                        return Err(match std::fs::metadata(path) {
                            Ok(_) => AuthError::EmptyCredential {
                                what: "secret_id",
                                path: path.clone(),
                            },
                            Err(source) => AuthError::ReadCredential {
                                what: "secret_id",
                                path: path.clone(),
                                source,
                            },
                        });
                    }
                }
            }
        };
        let auth = client
            .approle_login(&self.mount_path, &role_id, secret_id.as_ref())
            .await
            .map_err(|source| AuthError::Login {
                mount_path: self.mount_path.clone(),
                source,
            })?;
        self.role_id = Some(role_id);
        if let Some(secret_id) = secret_id {
            self.secret_id = Some(secret_id);
        }
        if secret_id_from_file
            && self.config.remove_secret_id_file_after_reading
            && let Some(path) = &self.config.secret_id_file_path
        {
            match std::fs::remove_file(path) {
                Ok(()) => {
                    debug!(path = %path.display(), "Removed the secret_id file after a successful login.")
                }
                Err(error) => {
                    warn!(path = %path.display(), %error, "Could not remove the secret_id file after login.")
                }
            }
        }
        Ok(Token {
            secret: auth.client_token,
            accessor: auth.accessor,
            lease_duration: Duration::from_secs(auth.lease_duration),
            renewable: auth.renewable,
        })
    }
}

/// Reads a credential file, falling back to the cached value when the file is gone or empty.
fn read_credential(
    what: &'static str,
    path: &Path,
    cached: Option<&SecretString>,
) -> Result<SecretString, AuthError> {
    match read_optional(path) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => cached
            .cloned()
            .ok_or_else(|| match std::fs::metadata(path) {
                Ok(_) => AuthError::EmptyCredential {
                    what,
                    path: path.to_path_buf(),
                },
                Err(source) => AuthError::ReadCredential {
                    what,
                    path: path.to_path_buf(),
                    source,
                },
            }),
        Err(source) => match cached {
            Some(value) if source.kind() == io::ErrorKind::NotFound => Ok(value.clone()),
            _ => Err(AuthError::ReadCredential {
                what,
                path: path.to_path_buf(),
                source,
            }),
        },
    }
}

/// The trimmed content of a file; `None` when it is missing or blank.
fn read_optional(path: &Path) -> io::Result<Option<SecretString>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let trimmed = text.trim();
            Ok((!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned())))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Why a failed login ended the agent, for its exit message.
pub fn describe_final_failure(failure: &AuthError, exit_on_err: bool) -> String {
    if exit_on_err && !failure.is_fatal() {
        format!("{failure} (exit_on_err is set, so vaultward exits instead of retrying)")
    } else {
        failure.to_string()
    }
}

/// Logs in, retrying with `backoff` until it works; with `exit_on_err`, returns the first error.
pub async fn login_with_backoff(
    method: &mut AppRoleLogin,
    client: &VaultClient,
    backoff: &mut Backoff,
    exit_on_err: bool,
) -> Result<Token, AuthError> {
    loop {
        match method.login(client).await {
            Ok(token) => {
                backoff.reset();
                info!(
                    accessor = %token.accessor,
                    ttl = ?token.lease_duration,
                    renewable = token.renewable,
                    "Authenticated with AppRole at {}.",
                    method.mount_path()
                );
                return Ok(token);
            }
            Err(failure) if exit_on_err || failure.is_fatal() => return Err(failure),
            Err(failure) => {
                let delay = backoff.next_delay();
                if failure.is_locked_out() {
                    error!(
                        error = %failure,
                        retry_in = ?delay,
                        "The server answered 403 to the login: either the AppRole mount does not exist on this \
                         server (check `mount_path`), or the role is locked after repeated failures (user lockout, \
                         15 minutes by default), which refuses even correct credentials until it is unlocked with \
                         `sys/locked-users/<mount accessor>/unlock/<role_id>`. Retrying with backoff."
                    );
                } else if failure.is_refused() {
                    error!(
                        error = %failure,
                        retry_in = ?delay,
                        "The server refused the AppRole credentials; check the role_id and secret_id files. \
                         Retrying with backoff (a server locks a role after repeated failures)."
                    );
                } else {
                    warn!(error = %failure, retry_in = ?delay, "Login failed; retrying.");
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let token = Token {
            secret: SecretString::from("s.TopSecretToken".to_owned()),
            accessor: "acc".to_owned(),
            lease_duration: Duration::from_secs(60),
            renewable: true,
        };
        let printed = format!("{token:?} {token:#?}");
        assert!(!printed.contains("TopSecret"), "{printed}");
        assert!(printed.contains("acc"));
    }
}
