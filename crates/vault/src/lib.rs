//! The one vaultward crate that speaks HTTP: a small client for the Vault / OpenBao API.
//!
//! [`VaultClient`] holds one `reqwest` client (one connection pool, kept alive) for the whole
//! process. Every request carries `X-Vault-Request: true`, the namespace header when one is
//! configured, and the token as a *sensitive* header value, so it never shows in `Debug` output.
//!
//! Errors say which request failed and why, including the server's own messages
//! (`GET /v1/secret/data/app returned 403: permission denied`) and the full cause chain of
//! transport failures (`connection refused`, certificate problems), which `reqwest` alone
//! hides behind "error sending request".
//!
//! **Architecture invariant:** only this crate depends on an HTTP client; it knows nothing of
//! config files, sinks or templates, and it never logs a token or a secret value.

use std::error::Error as _;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use vaultward_core::secret::{SecretJson, Zeroizing};
use vaultward_core::{ExposeSecret, SecretString};

/// The largest response body accepted.
const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// How to reach the server.
#[derive(Clone)]
pub struct ClientSettings {
    /// Base URL, e.g. `https://vault.example:8200` (no trailing `/v1`).
    pub address: String,
    /// PEM bundle of CA certificates to trust instead of the system roots (`ca_cert` and
    /// every file of `ca_path`, together).
    pub ca_cert_pem: Option<Vec<u8>>,
    /// The client certificate and its private key, PEM, one after the other (mutual TLS, and
    /// the `cert` auth method). Wiped when the last copy is dropped.
    pub client_identity_pem: Option<Arc<Zeroizing<Vec<u8>>>>,
    /// The name sent as SNI and verified in the server's certificate instead of the
    /// address's host (`tls_server_name`).
    pub tls_server_name: Option<String>,
    /// Accept any server certificate.
    pub tls_skip_verify: bool,
    /// Sent as `X-Vault-Namespace` on every request.
    pub namespace: Option<String>,
    /// Timeout of one whole request.
    pub timeout: Duration,
    /// `User-Agent`.
    pub user_agent: String,
    /// The auth method's `wrap_ttl`: logins ask for a response-wrapped token
    /// (`X-Vault-Wrap-TTL`), and the login's result is the wrap-info.
    pub login_wrap_ttl: Option<Duration>,
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("address", &self.address)
            .field("ca_cert", &self.ca_cert_pem.as_ref().map(|_| "<pem>"))
            .field(
                "client_identity",
                &self.client_identity_pem.as_ref().map(|_| "[REDACTED]"),
            )
            .field("tls_server_name", &self.tls_server_name)
            .field("tls_skip_verify", &self.tls_skip_verify)
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The client could not be built (bad CA file, bad address).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// The server could not be reached or did not answer in time.
    #[error("{method} {url}: {cause}")]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// Full URL (never contains a secret).
        url: String,
        /// The whole cause chain, flattened.
        cause: String,
        /// True when the request timed out.
        timeout: bool,
    },
    /// The server answered with an error status.
    #[error("{method} {url} returned {status}: {}", describe_errors(.errors, *.status))]
    Status {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The server's `errors` array.
        errors: Vec<String>,
    },
    /// The server answered 2xx with a body we could not use.
    #[error("{method} {url}: unexpected response: {reason}")]
    Decode {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
}

fn describe_errors(errors: &[String], status: u16) -> String {
    if errors.is_empty() {
        match status {
            404 => "not found (no secret at this path, or no such mount)".to_owned(),
            503 => "the server is sealed or unavailable".to_owned(),
            _ => "no error message".to_owned(),
        }
    } else {
        // Servers wrap messages as "1 error occurred:\n\t* permission denied\n\n": keep log
        // lines on one line.
        errors
            .iter()
            .map(|error| error.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl VaultError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            VaultError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for failures that may pass if the request is tried again later: transport errors,
    /// timeouts, 5xx, 429 and 412 (a standby's eventual consistency).
    pub fn is_retryable(&self) -> bool {
        match self {
            VaultError::Transport { .. } => true,
            VaultError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 412,
            VaultError::Setup(_) | VaultError::Decode { .. } => false,
        }
    }

    /// True when the token was refused (403 with "permission denied" or "invalid token").
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, VaultError::Status { status: 403, .. })
    }
}

/// The `auth` part of a login response.
pub struct AuthInfo {
    /// The new token.
    pub client_token: SecretString,
    /// Its accessor (not a secret: it cannot be used to authenticate).
    pub accessor: String,
    /// Seconds until it expires unless renewed; 0 for tokens that never expire.
    pub lease_duration: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Its policies.
    pub policies: Vec<String>,
    /// True for a response-wrapped login (method `wrap_ttl`): `client_token` holds the
    /// wrap-info JSON for the sink, not a token the agent can use.
    pub wrapped: bool,
}

impl fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthInfo")
            .field("client_token", &"[REDACTED]")
            .field("accessor", &self.accessor)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("policies", &self.policies)
            .finish()
    }
}

/// What `sys/internal/ui/mounts/<path>` says about the mount holding a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount's path, with a trailing `/`, e.g. `secret/`.
    pub path: String,
    /// The mount's type, e.g. `kv`.
    pub kind: String,
    /// For `kv` mounts, the KV version (1 or 2).
    pub kv_version: Option<u8>,
}

/// A client for one server; cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct VaultClient {
    http: reqwest::Client,
    /// The API's base URL as configured, for messages.
    base: String,
    /// The base URL requests go to: `base`, or with `tls_server_name` as its host (which a
    /// resolver maps back to the configured host's addresses), so that the TLS layer sends
    /// and verifies that name.
    target: String,
    /// See [`ClientSettings::login_wrap_ttl`].
    login_wrap_ttl: Option<Duration>,
}

/// Resolves the `tls_server_name` to the addresses of the configured host, so that a
/// connection to `https://<tls_server_name>:<port>` reaches the configured server while TLS
/// uses that name for SNI and certificate verification.
struct ServerNameResolver {
    /// The host of the configured address (a name or an IP literal).
    host: String,
}

impl reqwest::dns::Resolve for ServerNameResolver {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = self.host.clone();
        Box::pin(async move {
            let literal = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = literal.parse::<std::net::IpAddr>() {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(SocketAddr::new(ip, 0)));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

impl fmt::Debug for VaultClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultClient")
            .field("base", &self.base)
            .finish()
    }
}

impl VaultClient {
    /// Builds a client; reads nothing from the environment.
    pub fn new(settings: &ClientSettings) -> Result<Self, VaultError> {
        // Installing the process-wide crypto provider twice is harmless; the first one wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = HeaderMap::new();
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        if let Some(namespace) = &settings.namespace {
            let value = HeaderValue::from_str(namespace).map_err(|_| {
                VaultError::Setup(format!(
                    "the namespace `{namespace}` is not a valid header value"
                ))
            })?;
            headers.insert("X-Vault-Namespace", value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(settings.user_agent.clone())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            // No idle-connection reaper: its timer would wake an idle agent every 90 s. The
            // server closes idle connections itself, and the pool notices a closed socket.
            .pool_idle_timeout(None)
            .tcp_nodelay(true)
            .no_proxy();
        if !settings.address.starts_with("https://") {
            // Plain HTTP needs no trust store: loading the system's CA certificates would cost
            // milliseconds on every start (and fail on a host that has none).
            builder = builder.tls_certs_only(std::iter::empty());
        } else if let Some(pem) = &settings.ca_cert_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|error| {
                VaultError::Setup(format!("the CA certificate file is not valid PEM: {error}"))
            })?;
            if certificates.is_empty() {
                return Err(VaultError::Setup(
                    "the CA certificate file holds no certificate".to_owned(),
                ));
            }
            builder = builder.tls_certs_only(certificates);
        }
        if settings.tls_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(pem) = &settings.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem).map_err(|error| {
                VaultError::Setup(format!(
                    "the client certificate and key are not a usable PEM pair: {}",
                    flatten(&error)
                ))
            })?;
            builder = builder.identity(identity);
        }
        let base = format!("{}/v1/", settings.address.trim_end_matches('/'));
        let mut target = base.clone();
        if let Some(server_name) = &settings.tls_server_name
            && settings.address.starts_with("https://")
        {
            let mut url = reqwest::Url::parse(&base).map_err(|error| {
                VaultError::Setup(format!(
                    "the address `{}` is not a URL: {error}",
                    settings.address
                ))
            })?;
            let host = url.host_str().unwrap_or_default().to_owned();
            url.set_host(Some(server_name)).map_err(|error| {
                VaultError::Setup(format!(
                    "`{server_name}` cannot be used as the TLS server name: {error}"
                ))
            })?;
            builder = builder.dns_resolver(Arc::new(ServerNameResolver { host }));
            target = url.to_string();
        }
        let http = builder
            .build()
            .map_err(|error| VaultError::Setup(flatten(&error)))?;
        Ok(Self {
            http,
            base,
            target,
            login_wrap_ttl: settings.login_wrap_ttl,
        })
    }

    /// The full URL of an API path (`auth/approle/login` → `https://…/v1/auth/approle/login`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    /// `POST <mount_path>/login` with `body` (the method's credentials), in `namespace` when
    /// one is given (instead of the client's own).
    pub async fn login(
        &self,
        mount_path: &str,
        body: SecretJson,
        namespace: Option<&str>,
    ) -> Result<AuthInfo, VaultError> {
        let path = format!("{}/login", mount_path.trim_matches('/'));
        let response = self
            .send_full(
                "POST",
                &path,
                None,
                Some(body),
                namespace,
                self.login_wrap_ttl,
            )
            .await?;
        parse_auth("POST", &self.url(&path), &response)
    }

    /// `GET auth/token/lookup-self` with a token read from a file (the `token_file` method),
    /// in `namespace` when one is given: the token's own description, as a login's.
    pub async fn token_login(
        &self,
        token: &SecretString,
        namespace: Option<&str>,
    ) -> Result<AuthInfo, VaultError> {
        let path = "auth/token/lookup-self";
        let response = self
            .send_in("GET", path, Some(token), None, namespace)
            .await?;
        let data = &response["data"];
        Ok(AuthInfo {
            client_token: token.clone(),
            accessor: data["accessor"].as_str().unwrap_or_default().to_owned(),
            lease_duration: data["ttl"].as_u64().unwrap_or(0),
            renewable: data["renewable"].as_bool().unwrap_or(false),
            policies: data["policies"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            wrapped: false,
        })
    }

    /// `POST <mount_path>/login` with a role_id and (optionally) a secret_id.
    pub async fn approle_login(
        &self,
        mount_path: &str,
        role_id: &SecretString,
        secret_id: Option<&SecretString>,
        namespace: Option<&str>,
    ) -> Result<AuthInfo, VaultError> {
        let mut body = serde_json::Map::new();
        body.insert(
            "role_id".to_owned(),
            Value::String(role_id.expose_secret().to_owned()),
        );
        if let Some(secret_id) = secret_id {
            body.insert(
                "secret_id".to_owned(),
                Value::String(secret_id.expose_secret().to_owned()),
            );
        }
        self.login(mount_path, SecretJson::new(Value::Object(body)), namespace)
            .await
    }

    /// `GET <path>`: the whole response body (`data`, `lease_id`, `lease_duration`, …).
    pub async fn read(&self, token: &SecretString, path: &str) -> Result<SecretJson, VaultError> {
        self.send("GET", path, Some(token), None).await
    }

    /// `PUT <path>` with a JSON body: the whole response (`Null` for an empty one).
    pub async fn write(
        &self,
        token: &SecretString,
        path: &str,
        body: SecretJson,
    ) -> Result<SecretJson, VaultError> {
        self.send("PUT", path, Some(token), Some(body)).await
    }

    /// `GET sys/internal/ui/mounts/<path>`: which mount holds `path`, and its KV version.
    pub async fn mount_info(
        &self,
        token: &SecretString,
        path: &str,
    ) -> Result<MountInfo, VaultError> {
        let api_path = format!("sys/internal/ui/mounts/{}", path.trim_matches('/'));
        let response = self.send("GET", &api_path, Some(token), None).await?;
        let data = &response["data"];
        let decode_error = |reason: &str| VaultError::Decode {
            method: "GET",
            url: self.url(&api_path),
            reason: reason.to_owned(),
        };
        let mount_path = data["path"]
            .as_str()
            .ok_or_else(|| decode_error("no `data.path` in the mount description"))?;
        let kind = data["type"].as_str().unwrap_or_default().to_owned();
        let kv_version = match kind.as_str() {
            "kv" | "generic" => Some(match &data["options"]["version"] {
                Value::String(version) if version == "2" => 2,
                _ => 1,
            }),
            _ => None,
        };
        Ok(MountInfo {
            path: mount_path.to_owned(),
            kind,
            kv_version,
        })
    }

    /// `POST auth/token/renew-self`: the renewed token's lease.
    pub async fn renew_self(
        &self,
        token: &SecretString,
        increment: Option<u64>,
    ) -> Result<(u64, bool), VaultError> {
        let body = SecretJson::new(serde_json::json!({ "increment": increment.unwrap_or(0) }));
        let path = "auth/token/renew-self";
        let response = self.send("POST", path, Some(token), Some(body)).await?;
        let auth = &response["auth"];
        Ok((
            auth["lease_duration"].as_u64().unwrap_or(0),
            auth["renewable"].as_bool().unwrap_or(false),
        ))
    }

    /// `PUT sys/leases/renew`: the renewed lease (`lease_id`, `lease_duration`, `renewable`).
    pub async fn renew_lease(
        &self,
        token: &SecretString,
        lease_id: &str,
    ) -> Result<SecretJson, VaultError> {
        let body = SecretJson::new(serde_json::json!({ "lease_id": lease_id, "increment": 0 }));
        self.send("PUT", "sys/leases/renew", Some(token), Some(body))
            .await
    }

    /// `GET auth/token/lookup-self`: the token's remaining `ttl`, `renewable` and `type`.
    pub async fn lookup_self(&self, token: &SecretString) -> Result<SecretJson, VaultError> {
        self.send("GET", "auth/token/lookup-self", Some(token), None)
            .await
    }

    /// `GET sys/wrapping/lookup` with the wrapping token itself: its `creation_path`, without
    /// consuming it.
    pub async fn wrapping_creation_path(
        &self,
        wrapping_token: &SecretString,
        namespace: Option<&str>,
    ) -> Result<String, VaultError> {
        let path = "sys/wrapping/lookup";
        let response = self
            .send_in("GET", path, Some(wrapping_token), None, namespace)
            .await?;
        response["data"]["creation_path"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| VaultError::Decode {
                method: "GET",
                url: self.url(path),
                reason: "the response has no `data.creation_path`".to_owned(),
            })
    }

    /// `PUT sys/wrapping/unwrap` with the wrapping token itself (single use): the wrapped
    /// response.
    pub async fn unwrap(
        &self,
        wrapping_token: &SecretString,
        namespace: Option<&str>,
    ) -> Result<SecretJson, VaultError> {
        self.send_in(
            "PUT",
            "sys/wrapping/unwrap",
            Some(wrapping_token),
            None,
            namespace,
        )
        .await
    }

    /// `PUT sys/wrapping/wrap` of `{"token": token}` with `X-Vault-Wrap-TTL`: the wrap-info
    /// JSON a Vault Agent sink with `wrap_ttl` writes (Go's field order, compact, a final
    /// newline).
    pub async fn wrap_token(
        &self,
        token: &SecretString,
        ttl: Duration,
    ) -> Result<SecretString, VaultError> {
        let path = "sys/wrapping/wrap";
        let body = SecretJson::new(serde_json::json!({ "token": token.expose_secret() }));
        let response = self
            .send_full("PUT", path, Some(token), Some(body), None, Some(ttl))
            .await?;
        let info = &response["wrap_info"];
        let Some(wrapping_token) = info["token"].as_str() else {
            return Err(VaultError::Decode {
                method: "PUT",
                url: self.url(path),
                reason: "the response has no `wrap_info.token`".to_owned(),
            });
        };
        Ok(wrap_info_json(info, wrapping_token))
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        token: Option<&SecretString>,
        body: Option<SecretJson>,
    ) -> Result<SecretJson, VaultError> {
        self.send_full(method, path, token, body, None, None).await
    }

    /// [`send`](Self::send) in `namespace`, when one is given, instead of the client's own.
    async fn send_in(
        &self,
        method: &'static str,
        path: &str,
        token: Option<&SecretString>,
        body: Option<SecretJson>,
        namespace: Option<&str>,
    ) -> Result<SecretJson, VaultError> {
        self.send_full(method, path, token, body, namespace, None)
            .await
    }

    /// [`send`](Self::send) with a namespace and a response-wrapping TTL
    /// (`X-Vault-Wrap-TTL`), each when given.
    async fn send_full(
        &self,
        method: &'static str,
        path: &str,
        token: Option<&SecretString>,
        body: Option<SecretJson>,
        namespace: Option<&str>,
        wrap_ttl: Option<Duration>,
    ) -> Result<SecretJson, VaultError> {
        let url = self.url(path);
        let target = format!("{}{}", self.target, path.trim_start_matches('/'));
        let mut request = match method {
            "GET" => self.http.get(&target),
            "PUT" => self.http.put(&target),
            _ => self.http.post(&target),
        };
        if let Some(namespace) = namespace {
            // A request's own header replaces the client's default one.
            let value = HeaderValue::from_str(namespace).map_err(|_| {
                VaultError::Setup(format!(
                    "the namespace `{namespace}` is not a valid header value"
                ))
            })?;
            request = request.header("X-Vault-Namespace", value);
        }
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                VaultError::Setup(
                    "the token holds characters that cannot be sent in a header".to_owned(),
                )
            })?;
            value.set_sensitive(true);
            request = request.header("X-Vault-Token", value);
        }
        if let Some(ttl) = wrap_ttl {
            request = request.header("X-Vault-Wrap-TTL", format!("{}s", ttl.as_secs().max(1)));
        }
        if let Some(body) = body {
            // The serialized body (a login's secret_id) is handed to the HTTP stack, whose
            // copy is out of reach; ours is wiped.
            let bytes = Zeroizing::new(serde_json::to_vec(&*body).map_err(|error| {
                VaultError::Setup(format!("cannot encode the request body: {error}"))
            })?);
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.to_vec());
        }
        let transport = |error: reqwest::Error| {
            if error.is_builder() {
                // The request could not even be built (a malformed address): retrying is futile.
                VaultError::Setup(format!("{method} {url}: {}", flatten(&error)))
            } else {
                VaultError::Transport {
                    method,
                    url: url.clone(),
                    timeout: error.is_timeout(),
                    cause: flatten(&error),
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        // A response larger than any secret could be is refused rather than buffered: a broken
        // or hostile server must not exhaust the agent's memory.
        let mut response = response;
        // The body holds secrets: it is wiped when dropped, and never left behind in a
        // reallocation (see `append_wiping`).
        let mut bytes = Zeroizing::new(Vec::new());
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(VaultError::Decode {
                    method,
                    url,
                    reason: format!(
                        "the response is larger than {} MiB",
                        MAX_RESPONSE_BYTES >> 20
                    ),
                });
            }
            append_wiping(&mut bytes, &chunk);
        }
        if !(200..300).contains(&status) {
            let errors = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|body| body.get("errors").and_then(Value::as_array).cloned())
                .map(|errors| {
                    errors
                        .iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            return Err(VaultError::Status {
                method,
                url,
                status,
                errors,
            });
        }
        if bytes.is_empty() {
            return Ok(SecretJson::new(Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(SecretJson::new)
            .map_err(|error| VaultError::Decode {
                method,
                url,
                reason: format!("the body is not JSON ({error})"),
            })
    }
}

/// Appends `chunk` to `buffer`; when the buffer must grow, its content moves to a larger one
/// and the old allocation is wiped first (a plain `extend` would free it with the bytes in it).
fn append_wiping(buffer: &mut Zeroizing<Vec<u8>>, chunk: &[u8]) {
    if buffer.capacity() - buffer.len() < chunk.len() {
        let wanted = (buffer.len() + chunk.len()).max(buffer.capacity() * 2);
        let mut larger = Vec::with_capacity(wanted);
        larger.extend_from_slice(buffer);
        // Dropping the old `Zeroizing` wipes it.
        *buffer = Zeroizing::new(larger);
    }
    buffer.extend_from_slice(chunk);
}

/// A wrap-info as Vault Agent writes it to a sink: Go's `SecretWrapInfo` field order, compact,
/// a final newline (its JSON encoder adds one).
fn wrap_info_json(info: &Value, wrapping_token: &str) -> SecretString {
    let text = |key: &str| Value::String(info[key].as_str().unwrap_or_default().to_owned());
    let fields = [
        ("token", Value::String(wrapping_token.to_owned())),
        ("accessor", text("accessor")),
        ("ttl", Value::from(info["ttl"].as_i64().unwrap_or(0))),
        ("creation_time", text("creation_time")),
        ("creation_path", text("creation_path")),
        ("wrapped_accessor", text("wrapped_accessor")),
    ];
    let mut json = Zeroizing::new(String::from("{"));
    for (index, (key, value)) in fields.iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        json.push_str(&format!("\"{key}\":{value}"));
    }
    json.push_str("}\n");
    SecretString::from(json.to_string())
}

fn parse_auth(method: &'static str, url: &str, response: &Value) -> Result<AuthInfo, VaultError> {
    // A login with `X-Vault-Wrap-TTL` (method `wrap_ttl`) answers with a wrapping token: its
    // wrap-info is what the sink gets, and there is nothing to renew.
    if let Some(wrapping_token) = response["wrap_info"]["token"].as_str()
        && response["auth"].is_null()
    {
        return Ok(AuthInfo {
            client_token: wrap_info_json(&response["wrap_info"], wrapping_token),
            accessor: response["wrap_info"]["accessor"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            lease_duration: 0,
            renewable: false,
            policies: Vec::new(),
            wrapped: true,
        });
    }
    let auth = &response["auth"];
    let Some(token) = auth["client_token"].as_str().filter(|t| !t.is_empty()) else {
        return Err(VaultError::Decode {
            method,
            url: url.to_owned(),
            reason: "the login response has no `auth.client_token`".to_owned(),
        });
    };
    Ok(AuthInfo {
        client_token: SecretString::from(token.to_owned()),
        accessor: auth["accessor"].as_str().unwrap_or_default().to_owned(),
        lease_duration: auth["lease_duration"].as_u64().unwrap_or(0),
        renewable: auth["renewable"].as_bool().unwrap_or(false),
        policies: auth["policies"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        wrapped: false,
    })
}

/// `reqwest::Error` displays only "error sending request"; the useful part (connection
/// refused, certificate unknown, timed out) is in its sources.
fn flatten(error: &reqwest::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    // Drop the generic first part when a more specific cause exists.
    if parts.len() > 1 && parts[0].starts_with("error sending request") {
        parts.remove(0);
    }
    let message = parts.join(": ").replace(
        &format!(
            " for url ({})",
            error.url().map(|u| u.as_str()).unwrap_or_default()
        ),
        "",
    );
    match tls_hint(&message) {
        Some(hint) => format!("{message} ({hint})"),
        None => message,
    }
}

/// What to do about the TLS failures users meet most.
fn tls_hint(message: &str) -> Option<&'static str> {
    if message.contains("InvalidContentType") {
        Some("the server does not speak TLS on this port: is the address meant to be http://?")
    } else if message.contains("UnknownIssuer") {
        Some(
            "the server's certificate is not signed by a trusted CA: set `vault.ca_cert` or VAULT_CACERT to its CA",
        )
    } else if message.contains("CaUsedAsEndEntity") {
        Some(
            "the server presents a CA certificate as its own certificate; issue it a leaf certificate signed by that CA",
        )
    } else if message.contains("NotValidForName") {
        Some("the server's certificate does not name the host in the address")
    } else if message.contains("Expired") {
        Some("the server's certificate has expired")
    } else {
        None
    }
}
