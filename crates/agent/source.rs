//! The Vault-backed [`SecretSource`]: how the template engine's reads reach the server.
//!
//! `secret "path"` is one `GET /v1/<path>` returning the whole response. `kv "path"` first asks
//! `sys/internal/ui/mounts/<path>` which mount holds the path and its KV version (remembered
//! for the life of the process, per mount), then reads `<mount>/data/<rest>` for KV v2 or
//! `<path>` for KV v1, and returns the key/value map either way.
//!
//! Transient failures (transport errors, 5xx, 429) are retried `vault.retry.num_retries` times
//! with backoff (250 ms doubling to 4 s); answers about the data (404, 403) are returned at
//! once. The token can be swapped after a new login without losing the mount cache.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tracing::{debug, warn};
use vaultward_core::SecretString;
use vaultward_core::secret::SecretJson;
use vaultward_template::{FetchError, Fetched, Lease, Request, SecretSource};
use vaultward_vault::{MountInfo, VaultClient, VaultError};

/// The first delay between retries of a failed read; doubled each time up to
/// [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);
/// The cap of the delay between retries of a failed read.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(4);

/// Reads secrets with the current token.
pub struct VaultSource {
    client: VaultClient,
    token: Mutex<SecretString>,
    mounts: Mutex<Vec<MountInfo>>,
    /// How many times a transient failure is retried.
    num_retries: u32,
}

impl VaultSource {
    /// A source reading with `token`.
    pub fn new(client: VaultClient, token: SecretString, num_retries: u32) -> Self {
        Self {
            client,
            token: Mutex::new(token),
            mounts: Mutex::new(Vec::new()),
            num_retries,
        }
    }

    /// Reads with `token` from now on (after a new login).
    pub fn set_token(&self, token: SecretString) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }

    /// The token reads are made with.
    pub fn token(&self) -> SecretString {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads `path`, retrying transient failures with backoff.
    async fn read(&self, path: &str) -> Result<SecretJson, VaultError> {
        let mut delay = FIRST_RETRY_DELAY;
        let mut attempt = 0;
        loop {
            let result = self.client.read(&self.token(), path).await;
            match &result {
                Ok(_) => debug!(path, "Read a secret."),
                Err(error) => debug!(path, %error, "A secret read failed."),
            }
            match result {
                Err(error) if error.is_retryable() && attempt < self.num_retries => {
                    attempt += 1;
                    warn!(%error, attempt, retry_in = ?delay, "Read failed; retrying.");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
                result => return result,
            }
        }
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
        debug!(mount = %mount.path, kind = %mount.kind, kv_version = mount.kv_version.unwrap_or(0), "Looked up the mount of {path}.");
        self.mounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(mount.clone());
        Ok(mount)
    }

    async fn kv(&self, path: &str) -> Result<Fetched, FetchError> {
        let what = format!("kv `{path}`");
        let mount = self
            .mount_for(path)
            .await
            .map_err(|error| fetch_error(&what, &error))?;
        let rest = path
            .strip_prefix(mount.path.trim_end_matches('/'))
            .unwrap_or(path)
            .trim_start_matches('/');
        let (read_path, nested) = match mount.kv_version {
            Some(2) if rest.starts_with("data/") => {
                let without = format!("{}{}", mount.path, rest.trim_start_matches("data/"));
                return Err(FetchError {
                    message: format!(
                        "{what}: `kv` takes the path without `data/` (it adds it for KV v2 mounts): write `{without}`"
                    ),
                    transient: false,
                    denied: false,
                });
            }
            Some(2) => (format!("{}data/{rest}", mount.path), true),
            Some(_) => (path.to_owned(), false),
            None => {
                return Err(FetchError {
                    message: format!(
                        "{what}: the mount `{}` is of type `{}`, not a KV secrets engine; read it with `secret` instead",
                        mount.path, mount.kind
                    ),
                    transient: false,
                    denied: false,
                });
            }
        };
        let response = self
            .read(&read_path)
            .await
            .map_err(|error| fetch_error(&what, &error))?;
        let data = if nested {
            &response["data"]["data"]
        } else {
            &response["data"]
        };
        match data {
            Value::Object(_) => Ok(Fetched {
                value: SecretJson::new(data.clone()),
                lease: lease_of(&response),
            }),
            _ => Err(FetchError {
                message: format!(
                    "{what}: no secret exists at `{read_path}` (it was deleted or destroyed)"
                ),
                transient: false,
                denied: false,
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
        transient: error.is_retryable(),
        denied: error.is_permission_denied(),
    }
}

/// The lease of a read response (`lease_id`, `lease_duration`, `renewable`).
fn lease_of(response: &Value) -> Lease {
    Lease {
        id: response["lease_id"].as_str().unwrap_or_default().to_owned(),
        duration: Duration::from_secs(response["lease_duration"].as_u64().unwrap_or(0)),
        renewable: response["renewable"].as_bool().unwrap_or(false),
    }
}

impl SecretSource for VaultSource {
    async fn fetch(&self, request: &Request) -> Result<Fetched, FetchError> {
        match request {
            Request::Secret(path) => {
                let response = self.read(path).await.map_err(|error| {
                    let mut failure = fetch_error(&format!("secret `{path}`"), &error);
                    if error.status() == Some(404) && !path.contains("/data/") {
                        failure.message.push_str(
                            "; on a KV v2 mount the path needs `data/` after the mount (`secret/data/app`), or use `kv`, which finds it",
                        );
                    }
                    failure
                })?;
                Ok(Fetched {
                    lease: lease_of(&response),
                    value: response,
                })
            }
            Request::Kv(path) => self.kv(path).await,
        }
    }

    async fn renew(&self, lease: &Lease) -> Result<Lease, FetchError> {
        let response = self
            .client
            .renew_lease(&self.token(), &lease.id)
            .await
            .map_err(|error| fetch_error(&format!("lease `{}`", lease.id), &error))?;
        Ok(lease_of(&response))
    }
}
