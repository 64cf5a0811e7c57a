//! The Vault-backed [`SecretSource`]: how the template engine's reads reach the server.
//!
//! `secret "path"` is one `GET /v1/<path>` returning the whole response. `kv "path"` first asks
//! `sys/internal/ui/mounts/<path>` which mount holds the path and its KV version (remembered
//! for the life of the process, per mount), then reads `<mount>/data/<rest>` for KV v2 or
//! `<path>` for KV v1, and returns the key/value map either way.

use std::sync::Mutex;

use serde_json::Value;
use tracing::debug;
use vaultward_core::SecretString;
use vaultward_template::{FetchError, Request, SecretSource};
use vaultward_vault::{MountInfo, VaultClient, VaultError};

/// Reads secrets with one token.
pub struct VaultSource {
    client: VaultClient,
    token: Mutex<SecretString>,
    mounts: Mutex<Vec<MountInfo>>,
}

impl VaultSource {
    /// A source reading with `token`.
    pub fn new(client: VaultClient, token: SecretString) -> Self {
        Self {
            client,
            token: Mutex::new(token),
            mounts: Mutex::new(Vec::new()),
        }
    }

    /// Reads with `token` from now on (after a new login).
    pub fn set_token(&self, token: SecretString) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }

    fn token(&self) -> SecretString {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn mount_for(&self, path: &str) -> Result<MountInfo, VaultError> {
        let known = {
            let mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
            mounts
                .iter()
                .find(|mount| format!("{path}/").starts_with(&mount.path))
                .cloned()
        };
        if let Some(mount) = known {
            return Ok(mount);
        }
        let mount = self.client.mount_info(&self.token(), path).await?;
        debug!(mount = %mount.path, kind = %mount.kind, kv_version = ?mount.kv_version, "Looked up the mount of {path}.");
        self.mounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(mount.clone());
        Ok(mount)
    }

    async fn kv(&self, path: &str) -> Result<Value, FetchError> {
        let mount = self
            .mount_for(path)
            .await
            .map_err(|error| fetch_error(&format!("kv `{path}`"), &error))?;
        let rest = path
            .strip_prefix(mount.path.trim_end_matches('/'))
            .unwrap_or(path)
            .trim_start_matches('/');
        let (read_path, nested) = match mount.kv_version {
            Some(2) => (format!("{}data/{rest}", mount.path), true),
            Some(_) => (path.to_owned(), false),
            None => {
                return Err(FetchError {
                    message: format!(
                        "kv `{path}`: the mount `{}` is of type `{}`, not a KV secrets engine; read it with `secret` instead",
                        mount.path, mount.kind
                    ),
                    retryable: false,
                });
            }
        };
        let response = self
            .client
            .read(&self.token(), &read_path)
            .await
            .map_err(|error| fetch_error(&format!("kv `{path}`"), &error))?;
        let data = if nested {
            &response["data"]["data"]
        } else {
            &response["data"]
        };
        match data {
            Value::Object(_) => Ok(data.clone()),
            _ => Err(FetchError {
                message: format!(
                    "kv `{path}`: no secret exists at `{read_path}` (it was deleted or destroyed)"
                ),
                retryable: true,
            }),
        }
    }
}

fn fetch_error(what: &str, error: &VaultError) -> FetchError {
    let message = match error.status() {
        Some(404) => format!("{what}: no secret exists at this path ({error})"),
        Some(403) => format!("{what}: permission denied; check the token's policies ({error})"),
        _ => format!("{what}: {error}"),
    };
    FetchError {
        message,
        retryable: error.is_retryable(),
    }
}

impl SecretSource for VaultSource {
    async fn fetch(&self, request: &Request) -> Result<Value, FetchError> {
        match request {
            Request::Secret(path) => self
                .client
                .read(&self.token(), path)
                .await
                .map_err(|error| fetch_error(&format!("secret `{path}`"), &error)),
            Request::Kv(path) => self.kv(path).await,
        }
    }
}
