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
use tracing::{debug, info, warn};
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
    /// Held while a mount is looked up, so templates rendered together that need the same
    /// mount ask the server once.
    looking_up: tokio::sync::Mutex<()>,
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
            looking_up: tokio::sync::Mutex::new(()),
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
        let known = || {
            let mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
            mounts
                .iter()
                .find(|mount| format!("{path}/").starts_with(&mount.path))
                .cloned()
        };
        if let Some(mount) = known() {
            return Ok(mount);
        }
        let _one_at_a_time = self.looking_up.lock().await;
        if let Some(mount) = known() {
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

    /// Where consul-template reads `path`: on a KV v2 mount, `data/` goes after the mount
    /// unless the path has `data/` or `metadata/` there; when the mount cannot be looked up,
    /// the path as written (consul-template assumes "not KV v2" too).
    async fn go_path(&self, path: &str) -> (String, bool) {
        match self.mount_for(path).await {
            Ok(mount) if mount.kv_version == Some(2) => {
                let mount_path = mount.path.trim_end_matches('/');
                let rest = path
                    .strip_prefix(mount_path)
                    .unwrap_or(path)
                    .trim_start_matches('/');
                if rest.is_empty() {
                    (format!("{mount_path}/data"), true)
                } else if rest.starts_with("data/") || rest.starts_with("metadata/") {
                    (path.to_owned(), true)
                } else {
                    (format!("{mount_path}/data/{rest}"), true)
                }
            }
            Ok(_) => (path.to_owned(), false),
            Err(error) => {
                debug!(path, %error, "Could not look up the mount; reading the path as written.");
                (path.to_owned(), false)
            }
        }
    }

    /// Go `secret "path"`: consul-template's read.
    async fn go_read(&self, path: &str) -> Result<Fetched, FetchError> {
        let what = format!("secret `{path}`");
        let (bare, query) = match path.split_once('?') {
            Some((bare, query)) => (bare, Some(query)),
            None => (path, None),
        };
        let with_query = |read_path: &str| match query {
            Some(query) => format!("{read_path}?{query}"),
            None => read_path.to_owned(),
        };
        // A path with `data/` (or `metadata/`) after its first segment is read as written
        // whatever its mount, unless that mount is itself deeper (`kv/data/` on KV v2, where
        // consul-template would read `kv/data/data/…`); reading on such a mount without
        // `data/` is refused. So the path is read as written first, and the mount is looked
        // up only when the server refuses it: no look-up on the usual path.
        let as_written = if matches!(bare.split('/').nth(1), Some("data" | "metadata")) {
            match self.read(&with_query(bare)).await {
                Err(error) if !error.is_retryable() => None,
                answer => Some(answer),
            }
        } else {
            None
        };
        let (read_path, response) = match as_written {
            Some(answer) => (bare.to_owned(), answer),
            None => {
                let (read_path, _) = self.go_path(bare).await;
                let response = self.read(&with_query(&read_path)).await;
                (read_path, response)
            }
        };
        let response = response.map_err(|error| fetch_error(&what, &error))?;
        let deleted = response["data"]["metadata"]["deletion_time"]
            .as_str()
            .is_some_and(|time| !time.is_empty());
        if deleted || !response["data"].is_object() {
            return Err(FetchError {
                message: format!("{what}: no secret exists at `{read_path}`"),
                transient: false,
                denied: false,
            });
        }
        Ok(Fetched {
            lease: lease_of(&response),
            value: response,
        })
    }

    /// Go `pkiCert`: the certificate in `destination` while it is good, else a new one.
    async fn pki_cert(
        &self,
        path: &str,
        data: &[(String, String)],
        destination: &std::path::Path,
    ) -> Result<Fetched, FetchError> {
        use vaultward_template::pki;
        let what = format!("pkiCert `{path}`");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
            });
        let jitter = i64::from(rand::random::<u8>() % 6) - 3;
        let kept = std::fs::read_to_string(destination)
            .ok()
            .and_then(|text| pki::classify(&text).ok())
            .and_then(|(pems, validity)| {
                let good = pki::good_for(validity?, now, jitter)?;
                Some((pems, good))
            });
        let (pems, good) = match kept {
            Some(kept) => {
                debug!(path, destination = %destination.display(), "The certificate in the destination is still good; not issuing one.");
                kept
            }
            None => {
                let body: serde_json::Map<String, Value> = data
                    .iter()
                    .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                    .collect();
                let response = self
                    .client
                    .write(&self.token(), path, SecretJson::new(Value::Object(body)))
                    .await
                    .map_err(|error| fetch_error(&what, &error))?;
                let mut joined = vaultward_core::secret::Zeroizing::new(String::new());
                if let Some(fields) = response["data"].as_object() {
                    for value in fields.values() {
                        if let Some(text) = value.as_str() {
                            joined.push_str(text);
                            joined.push('\n');
                        }
                    }
                }
                let (pems, validity) = pki::classify(&joined).map_err(|reason| FetchError {
                    message: format!("{what}: the issued data is not usable: {reason}"),
                    transient: false,
                    denied: false,
                })?;
                let good = validity
                    .and_then(|v| pki::good_for(v, now, jitter))
                    .unwrap_or(0);
                info!(path, "Issued a certificate.");
                (pems, good)
            }
        };
        Ok(Fetched {
            value: SecretJson::new(serde_json::json!({
                "Cert": pems.cert,
                "Key": pems.key,
                "CA": pems.ca,
            })),
            // No lease id: due again when the certificate is near its end (the check reads the
            // destination file; the server is only asked when a new certificate is needed).
            lease: Lease {
                id: String::new(),
                duration: Duration::from_secs(good.max(1)),
                renewable: false,
            },
        })
    }

    /// Go `secret "path" "k=v" …`: consul-template's write (on KV v2, the pairs under `data`).
    async fn go_write(
        &self,
        path: &str,
        pairs: &[(String, String)],
    ) -> Result<Fetched, FetchError> {
        let what = format!("secret `{path}` (a write)");
        let (write_path, kv2) = self.go_path(path).await;
        let data: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect();
        let body = if kv2 {
            serde_json::json!({ "data": data })
        } else {
            Value::Object(data)
        };
        let response = self
            .client
            .write(&self.token(), &write_path, SecretJson::new(body))
            .await
            .map_err(|error| fetch_error(&what, &error))?;
        Ok(Fetched {
            lease: lease_of(&response),
            value: response,
        })
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
            Request::VaultRead(path) => self.go_read(path).await,
            Request::VaultWrite(path, pairs) => self.go_write(path, pairs).await,
            Request::Pki {
                path,
                data,
                destination,
            } => self.pki_cert(path, data, destination).await,
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
