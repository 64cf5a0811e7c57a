//! Auto-auth: logging in with the configured method and keeping credentials for the next login.
//!
//! [`MethodLogin`] is the one configured auth method, with what it remembers between logins:
//!
//! - **approle** reads the role_id and secret_id files on every attempt (trimming the newline
//!   Kubernetes Secrets often end with), keeps the last good values in memory for later
//!   re-logins, and removes the secret_id file only **after** a login succeeded with it when
//!   `remove_secret_id_file_after_reading` is set. (Vault Agent removes it before logging in,
//!   so a failed login loses the secret_id.)
//! - **token_file** reads a token made elsewhere from a file on every attempt (trimmed; the
//!   last good one is kept) and checks it with `auth/token/lookup-self`, which also tells its
//!   TTL and whether it is renewable; there is no login call, and the file is never removed
//!   (as in Vault Agent, which has no option for it).
//! - **jwt** reads the JWT file on every attempt (the last good JWT is kept for later logins)
//!   and logs in with `{"role", "jwt"}`; with `remove_jwt_after_reading` (the default) the
//!   file is removed after a successful login with it (the link's target instead of the link
//!   with `remove_jwt_follows_symlinks`).
//! - **kubernetes** reads the service-account token on every attempt, since Kubernetes rotates
//!   projected tokens, and logs in with `{"role", "jwt"}`; nothing is kept or removed.
//! - **cert** logs in with `{"name"}` (or `{}`) over a connection that presents a client
//!   certificate: the method's own `client_cert`/`client_key`/`ca_cert`, or the `vault {}`
//!   block's. Its client is built at the first login, and again at every login with `reload`.
//!
//! Every login goes to `<mount_path>/login` in the method's `namespace` when one is set.
//!
//! [`login_with_backoff`] retries failed logins on a capped, jittered exponential schedule;
//! every failure is logged with what to check, and refused credentials are logged as errors,
//! because a server locks a role after repeated failures. With `exit_on_err` the first failure
//! is returned.
//!
//! **Architecture invariant:** this crate writes no files but the removal of a consumed
//! secret_id or JWT file; publishing tokens to sinks is the caller's job.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tracing::{debug, error, info, warn};
use vaultward_config::{AppRole, Cert, Jwt, Kubernetes, Method, MethodKind};
use vaultward_core::secret::{SecretJson, Zeroizing};
use vaultward_core::{Backoff, ExposeSecret, SecretString};
use vaultward_vault::{AuthInfo, ClientSettings, VaultClient, VaultError};

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
    /// True when `secret` is a wrapped login's wrap-info (method `wrap_ttl`), for the sink
    /// only: it cannot be renewed, looked up or used to read.
    pub wrapped: bool,
}

impl Token {
    /// The accessor for log lines: batch tokens have none, which is said rather than logged
    /// as an empty field.
    pub fn logged_accessor(&self) -> &str {
        if self.accessor.is_empty() {
            "none (batch token)"
        } else {
            &self.accessor
        }
    }
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

impl From<AuthInfo> for Token {
    fn from(auth: AuthInfo) -> Self {
        Token {
            secret: auth.client_token,
            accessor: auth.accessor,
            lease_duration: Duration::from_secs(auth.lease_duration),
            renewable: auth.renewable,
            wrapped: auth.wrapped,
        }
    }
}

/// Why a login attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credential file could not be read.
    #[error("cannot read the {what} file `{}`: {source}", path.display())]
    ReadCredential {
        /// What the file holds ("role_id", "JWT", …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: io::Error,
    },
    /// A credential file that logins consume is missing and no earlier value is known: most
    /// likely an earlier run's login removed it.
    #[error("the {what} file `{}` does not exist; a successful login removes it (`{key} = true`, the default), so each new start needs a new {what} written there (or set `{key} = false` to keep the file)", path.display())]
    Consumed {
        /// What the file holds ("secret_id", "JWT").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The config key that removes it.
        key: &'static str,
    },
    /// A credential file was empty and no earlier value is known.
    #[error("the {what} file `{}` is empty", path.display())]
    EmptyCredential {
        /// What the file holds ("role_id", "JWT", …).
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The secret_id file's wrapping token could not be checked or unwrapped.
    #[error("the wrapping token in the secret_id file `{}`: {message}", path.display())]
    Wrapping {
        /// The secret_id file.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// The client for a certificate login could not be set up.
    #[error("cert login at `{mount_path}`: {message}")]
    ClientCertificate {
        /// The method's mount path.
        mount_path: String,
        /// What is wrong.
        message: String,
    },
    /// The server refused the login or could not be reached.
    #[error("{method} login at `{mount_path}`{} failed: {source}", role.as_ref().map(|r| format!(" with {r}")).unwrap_or_default())]
    Login {
        /// The method, as users know it ("AppRole", "JWT", …).
        method: &'static str,
        /// The method's mount path.
        mount_path: String,
        /// The role (or certificate name) logged in with, as "role `x`", when there is one.
        role: Option<String>,
        /// What to check when the server refuses the login.
        advice: String,
        /// The API error.
        #[source]
        source: Box<VaultError>,
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
            AuthError::Login { source, .. } if matches!(**source, VaultError::Setup(_))
        )
    }

    /// True when an AppRole login got 403, which means the role is locked out after repeated
    /// failures (wrong credentials get 400), or the mount does not exist.
    pub fn is_locked_out(&self) -> bool {
        matches!(self, AuthError::Login { method: "AppRole", source, .. } if source.status() == Some(403))
    }

    /// What the operator should check, when the server refused the login's credentials (a 4xx
    /// answer; none for a sealed or failing server, a 5xx, whose message says it all, nor for a
    /// transport failure or a missing file).
    pub fn advice(&self) -> Option<&str> {
        match self {
            AuthError::Login { advice, source, .. }
                if source
                    .status()
                    .is_some_and(|status| (400..500).contains(&status))
                    && !advice.is_empty() =>
            {
                Some(advice)
            }
            _ => None,
        }
    }
}

/// The configured auth method and what it keeps between logins.
pub struct MethodLogin {
    mount_path: String,
    namespace: Option<String>,
    state: State,
}

/// Each method's settings and remembered credentials.
enum State {
    AppRole {
        config: AppRole,
        role_id: Option<SecretString>,
        secret_id: Option<SecretString>,
        /// The last wrapping token unwrapped (single use): while the file still holds it, the
        /// secret_id it gave is used.
        unwrapped: Option<SecretString>,
    },
    TokenFile {
        path: PathBuf,
        token: Option<SecretString>,
    },
    Jwt {
        config: Jwt,
        jwt: Option<SecretString>,
    },
    Kubernetes {
        config: Kubernetes,
    },
    Cert {
        config: Cert,
        /// The agent's own client settings, which the login client starts from.
        base: Box<ClientSettings>,
        /// The login client, once built (built again at every login with `reload`).
        client: Option<VaultClient>,
    },
}

impl MethodLogin {
    /// Builds the method from its validated config and the agent's client settings (which a
    /// certificate login starts from). Fails when a certificate login has no certificate.
    pub fn new(method: &Method, settings: &ClientSettings) -> Result<Self, String> {
        let state = match &method.kind {
            MethodKind::AppRole(config) => State::AppRole {
                config: config.clone(),
                role_id: None,
                secret_id: None,
                unwrapped: None,
            },
            MethodKind::TokenFile(config) => State::TokenFile {
                path: config.token_file_path.clone(),
                token: None,
            },
            MethodKind::Jwt(config) => State::Jwt {
                config: config.clone(),
                jwt: None,
            },
            MethodKind::Kubernetes(config) => State::Kubernetes {
                config: config.clone(),
            },
            MethodKind::Cert(config) => {
                if config.client_cert.is_none() && settings.client_identity_pem.is_none() {
                    return Err(format!(
                        "the cert auth method at `{}` has no client certificate: set `client_cert` and `client_key` in `auto_auth.method.config`, or in `vault {{}}`",
                        method.mount_path
                    ));
                }
                State::Cert {
                    config: config.clone(),
                    base: Box::new(settings.clone()),
                    client: None,
                }
            }
        };
        Ok(Self {
            mount_path: method.mount_path.clone(),
            namespace: method.namespace.clone(),
            state,
        })
    }

    /// The mount path logins go to.
    pub fn mount_path(&self) -> &str {
        &self.mount_path
    }

    /// The method's name as users know it, for messages ("AppRole", "JWT", …).
    pub fn method_name(&self) -> &'static str {
        match &self.state {
            State::AppRole { .. } => "AppRole",
            State::TokenFile { .. } => "token_file",
            State::Jwt { .. } => "JWT",
            State::Kubernetes { .. } => "Kubernetes",
            State::Cert { .. } => "cert",
        }
    }

    /// The files whose new content means new credentials, worth a login at once: the
    /// role_id and secret_id files, the token file, the JWT file. (A Kubernetes token is
    /// rotated by Kubernetes while the old one stays valid, so it is only read at logins.)
    pub fn credential_files(&self) -> Vec<PathBuf> {
        match &self.state {
            State::AppRole { config, .. } => std::iter::once(config.role_id_file_path.clone())
                .chain(config.secret_id_file_path.clone())
                .collect(),
            State::TokenFile { path, .. } => vec![path.clone()],
            State::Jwt { config, .. } => vec![config.path.clone()],
            State::Kubernetes { .. } | State::Cert { .. } => Vec::new(),
        }
    }

    /// One login attempt; for AppRole, when the server refuses the secret_id now in the file
    /// and an earlier one that logged in is kept, one more attempt with that one (the file may
    /// hold a bad write, and the kept secret_id may still be good). Used by the retries of
    /// [`login_with_backoff`]; a first try of new credentials uses [`Self::login`] alone.
    pub async fn login_or_kept(&mut self, client: &VaultClient) -> Result<Token, AuthError> {
        let refused = match self.login(client).await {
            Err(failure) if failure.is_refused() => failure,
            result => return result,
        };
        let namespace = self.namespace.clone();
        let mount_path = self.mount_path.clone();
        let State::AppRole {
            config,
            role_id: Some(role_id),
            secret_id: Some(kept),
            ..
        } = &self.state
        else {
            return Err(refused);
        };
        let Some(path) = &config.secret_id_file_path else {
            return Err(refused);
        };
        let in_file = match read_optional(path) {
            Ok(Some(value)) => value,
            _ => return Err(refused),
        };
        if in_file.expose_secret() == kept.expose_secret() {
            return Err(refused);
        }
        match client
            .approle_login(&mount_path, role_id, Some(kept), namespace.as_deref())
            .await
        {
            Ok(auth) => {
                warn!(
                    error = %refused,
                    path = %path.display(),
                    "The secret_id in the file was refused; logged in with the secret_id that worked before. Write a valid secret_id to the file."
                );
                Ok(auth.into())
            }
            Err(_) => Err(refused),
        }
    }

    /// One login attempt.
    pub async fn login(&mut self, client: &VaultClient) -> Result<Token, AuthError> {
        let namespace = self.namespace.as_deref();
        let mount_path = self.mount_path.clone();
        let refused = |method: &'static str, role: Option<String>, advice: String| {
            let mount_path = mount_path.clone();
            move |source: VaultError| AuthError::Login {
                method,
                mount_path,
                role,
                advice,
                source: Box::new(source),
            }
        };
        match &mut self.state {
            State::AppRole {
                config,
                role_id: cached_role_id,
                secret_id: cached_secret_id,
                unwrapped,
            } => {
                let role_id = read_credential(
                    "role_id",
                    &config.role_id_file_path,
                    cached_role_id.as_ref(),
                )?;
                let (secret_id, secret_id_from_file) = match &config.secret_id_file_path {
                    None => (None, false),
                    Some(path) => match read_optional(path) {
                        Ok(Some(value)) => (Some(value), true),
                        Ok(None) => (
                            Some(
                                read_credential("secret_id", path, cached_secret_id.as_ref())
                                    .map_err(|error| {
                                        consumed(
                                            error,
                                            config.remove_secret_id_file_after_reading,
                                            "remove_secret_id_file_after_reading",
                                        )
                                    })?,
                            ),
                            false,
                        ),
                        Err(source) => {
                            return Err(AuthError::ReadCredential {
                                what: "secret_id",
                                path: path.clone(),
                                source,
                            });
                        }
                    },
                };
                let secret_id = match (&config.secret_id_response_wrapping_path, secret_id) {
                    (Some(expected), Some(wrapping)) if secret_id_from_file => Some(
                        unwrap_secret_id(
                            client,
                            namespace,
                            expected,
                            wrapping,
                            unwrapped,
                            cached_secret_id.as_ref(),
                            config.secret_id_file_path.as_deref(),
                        )
                        .await?,
                    ),
                    (_, secret_id) => secret_id,
                };
                let advice = approle_advice(config, secret_id.is_some(), secret_id_from_file);
                let role = format!("the role_id from `{}`", config.role_id_file_path.display());
                let auth = client
                    .approle_login(&mount_path, &role_id, secret_id.as_ref(), namespace)
                    .await
                    .map_err(refused("AppRole", Some(role), advice))?;
                *cached_role_id = Some(role_id);
                if let Some(secret_id) = secret_id {
                    *cached_secret_id = Some(secret_id);
                }
                if secret_id_from_file
                    && config.remove_secret_id_file_after_reading
                    && let Some(path) = &config.secret_id_file_path
                {
                    remove_consumed("secret_id", path);
                }
                Ok(auth.into())
            }
            State::TokenFile { path, token } => {
                let fresh = read_credential("token", path, token.as_ref())?;
                let auth = client
                    .token_login(&fresh, namespace)
                    .await
                    .map_err(refused(
                        "token_file",
                        None,
                        format!(
                            "the token in `{}` is not valid on this server (expired, revoked, or from another server or namespace): write a valid token to the file",
                            path.display()
                        ),
                    ))?;
                *token = Some(fresh);
                Ok(auth.into())
            }
            State::Jwt { config, jwt } => {
                let (fresh, from_file) = match read_optional(&config.path) {
                    Ok(Some(value)) => (value, true),
                    Ok(None) => (
                        read_credential("JWT", &config.path, jwt.as_ref()).map_err(|error| {
                            consumed(
                                error,
                                config.remove_jwt_after_reading,
                                "remove_jwt_after_reading",
                            )
                        })?,
                        false,
                    ),
                    Err(source) => {
                        return Err(AuthError::ReadCredential {
                            what: "JWT",
                            path: config.path.clone(),
                            source,
                        });
                    }
                };
                let body = role_and_jwt(&config.role, &fresh);
                let auth = client
                    .login(&mount_path, body, namespace)
                    .await
                    .map_err(refused(
                        "JWT",
                        Some(format!("role `{}`", config.role)),
                        format!(
                            "check that role `{}` exists on the mount, that the mount's keys (`jwt_validation_pubkeys`, `jwks_url` or `oidc_discovery_url`) verify the JWT in `{}`, and that its claims (audience, subject, expiry) match the role's `bound_audiences`, `bound_claims` and `user_claim`",
                            config.role,
                            config.path.display()
                        ),
                    ))?;
                *jwt = Some(fresh);
                if from_file && config.remove_jwt_after_reading {
                    let target = if config.remove_jwt_follows_symlinks {
                        std::fs::canonicalize(&config.path).unwrap_or_else(|_| config.path.clone())
                    } else {
                        config.path.clone()
                    };
                    remove_consumed("JWT", &target);
                }
                Ok(auth.into())
            }
            State::Kubernetes { config } => {
                // Read afresh every time, without falling back on an earlier token: an
                // unreadable file is an error here, even when it does not exist.
                let token = std::fs::read_to_string(&config.token_path)
                    .map(Zeroizing::new)
                    .map_err(|source| AuthError::ReadCredential {
                        what: "Kubernetes service account token",
                        path: config.token_path.clone(),
                        source,
                    })?;
                if token.trim().is_empty() {
                    return Err(AuthError::EmptyCredential {
                        what: "Kubernetes service account token",
                        path: config.token_path.clone(),
                    });
                }
                let token = SecretString::from(token.trim().to_owned());
                let body = role_and_jwt(&config.role, &token);
                let auth = client
                    .login(&mount_path, body, namespace)
                    .await
                    .map_err(refused(
                        "Kubernetes",
                        Some(format!("role `{}`", config.role)),
                        format!(
                            "check that role `{}` exists on the mount and is bound to this pod's service account and namespace, that `{}` holds this pod's service account token, and that the server reaches the Kubernetes API to review it (`kubernetes_host` in the mount's `config`)",
                            config.role,
                            config.token_path.display()
                        ),
                    ))?;
                Ok(auth.into())
            }
            State::Cert {
                config,
                base,
                client: login_client,
            } => {
                let cert_client = match login_client {
                    Some(existing) if !config.reload => existing.clone(),
                    _ => {
                        let built = certificate_client(config, base).map_err(|message| {
                            AuthError::ClientCertificate {
                                mount_path: mount_path.clone(),
                                message,
                            }
                        })?;
                        *login_client = Some(built.clone());
                        built
                    }
                };
                let mut body = Map::new();
                if let Some(name) = &config.name {
                    body.insert("name".to_owned(), Value::String(name.clone()));
                }
                let role = config
                    .name
                    .as_ref()
                    .map(|name| format!("certificate role `{name}`"));
                let advice = match &config.name {
                    Some(name) => format!(
                        "check that `{mount_path}/certs/{name}` exists and that its `certificate` is the CA that signed the client certificate (or the certificate itself), and that the server's listener asks for client certificates"
                    ),
                    None => format!(
                        "check that a role under `{mount_path}/certs/` trusts the CA that signed the client certificate, or set `name`"
                    ),
                };
                let auth = cert_client
                    .login(&mount_path, SecretJson::new(Value::Object(body)), namespace)
                    .await
                    .map_err(refused("cert", role, advice))?;
                Ok(auth.into())
            }
        }
    }
}

/// `{"role": …, "jwt": …}`, the body of a JWT or Kubernetes login.
fn role_and_jwt(role: &str, jwt: &SecretString) -> SecretJson {
    let mut body = Map::new();
    body.insert("role".to_owned(), Value::String(role.to_owned()));
    body.insert(
        "jwt".to_owned(),
        Value::String(jwt.expose_secret().to_owned()),
    );
    SecretJson::new(Value::Object(body))
}

/// The client of a certificate login: the agent's settings, with the method's own CA and key
/// pair when it names them.
fn certificate_client(config: &Cert, base: &ClientSettings) -> Result<VaultClient, String> {
    let mut settings = base.clone();
    if let Some(path) = &config.ca_cert {
        let pem = std::fs::read(path).map_err(|error| {
            format!(
                "cannot read the CA certificate `{}`: {error}",
                path.display()
            )
        })?;
        settings.ca_cert_pem = Some(pem);
    }
    if let (Some(cert), Some(key)) = (&config.client_cert, &config.client_key) {
        settings.client_identity_pem = Some(Arc::new(read_key_pair(cert, key)?));
    }
    VaultClient::new(&settings).map_err(|error| error.to_string())
}

/// A certificate file and its key file as one PEM buffer (wiped when dropped).
pub fn read_key_pair(cert: &Path, key: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut pem = Zeroizing::new(std::fs::read(cert).map_err(|error| {
        format!(
            "cannot read the client certificate `{}`: {error}",
            cert.display()
        )
    })?);
    let key_pem = Zeroizing::new(
        std::fs::read(key)
            .map_err(|error| format!("cannot read the client key `{}`: {error}", key.display()))?,
    );
    let mut joined = Zeroizing::new(Vec::with_capacity(pem.len() + key_pem.len() + 1));
    joined.extend_from_slice(&pem);
    joined.push(b'\n');
    joined.extend_from_slice(&key_pem);
    pem.clear();
    Ok(joined)
}

/// Removes a credential file consumed by a successful login; a failure is only logged.
fn remove_consumed(what: &str, path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            debug!(path = %path.display(), "Removed the {what} file after a successful login.")
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            warn!(path = %path.display(), %error, "Could not remove the {what} file after login.")
        }
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

/// A missing credential file that logins remove (`removes`, by the config key `key`) is
/// reported as probably consumed by an earlier login.
fn consumed(error: AuthError, removes: bool, key: &'static str) -> AuthError {
    match error {
        AuthError::ReadCredential { what, path, source }
            if removes && source.kind() == io::ErrorKind::NotFound =>
        {
            AuthError::Consumed { what, path, key }
        }
        other => other,
    }
}

/// The trimmed content of a file; `None` when it is missing or blank.
fn read_optional(path: &Path) -> io::Result<Option<SecretString>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let trimmed = text.trim();
            Ok((!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned())))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The secret_id a response-wrapping token stands for: its creation path checked against
/// `expected` (a token made elsewhere may have been intercepted and replaced), then unwrapped.
/// A wrapping token is single use: while the file still holds the one unwrapped last time, the
/// secret_id it gave is used again.
#[allow(clippy::too_many_arguments)]
async fn unwrap_secret_id(
    client: &VaultClient,
    namespace: Option<&str>,
    expected: &str,
    wrapping: SecretString,
    unwrapped: &mut Option<SecretString>,
    cached: Option<&SecretString>,
    file: Option<&Path>,
) -> Result<SecretString, AuthError> {
    let path = file.map(Path::to_path_buf).unwrap_or_default();
    if let (Some(last), Some(secret_id)) = (unwrapped.as_ref(), cached)
        && last.expose_secret() == wrapping.expose_secret()
    {
        return Ok(secret_id.clone());
    }
    let failed = |what: &str| {
        let path = path.clone();
        let what = what.to_owned();
        move |error: VaultError| AuthError::Wrapping {
            path,
            message: format!("{what}: {error}; write a new wrapping token to the file"),
        }
    };
    let found = client
        .wrapping_creation_path(&wrapping, namespace)
        .await
        .map_err(failed(
            "cannot look it up (expired, already used, or not a wrapping token)",
        ))?;
    if found.trim_matches('/') != expected {
        warn!(expected, found = %found, "SECURITY: the wrapping token in the secret_id file was not created where it should have been; it is not unwrapped.");
        return Err(AuthError::Wrapping {
            path,
            message: format!(
                "SECURITY: it was created at `{found}`, not at `{expected}` (secret_id_response_wrapping_path); it may have been intercepted and replaced. It was not unwrapped; check where it came from"
            ),
        });
    }
    let response = client
        .unwrap(&wrapping, namespace)
        .await
        .map_err(failed("cannot unwrap it"))?;
    *unwrapped = Some(wrapping);
    response["data"]["secret_id"]
        .as_str()
        .filter(|secret_id| !secret_id.is_empty())
        .map(|secret_id| SecretString::from(secret_id.to_owned()))
        .ok_or_else(|| AuthError::Wrapping {
            path,
            message: "it does not wrap a secret_id (no `data.secret_id` in what it wraps)"
                .to_owned(),
        })
}

/// Why a failed login ended the agent, for its exit message.
pub fn describe_final_failure(failure: &AuthError, exit_on_err: bool) -> String {
    let advice = failure
        .advice()
        .map(|advice| format!("; {advice}"))
        .unwrap_or_default();
    if exit_on_err && !failure.is_fatal() {
        format!("{failure}{advice} (exit_on_err is set, so vaultward exits instead of retrying)")
    } else {
        format!("{failure}{advice}")
    }
}

/// Logs in, retrying with `backoff` until it works; with `exit_on_err`, returns the first error.
pub async fn login_with_backoff(
    method: &mut MethodLogin,
    client: &VaultClient,
    backoff: &mut Backoff,
    exit_on_err: bool,
) -> Result<Token, AuthError> {
    loop {
        match method.login_or_kept(client).await {
            Ok(token) => {
                backoff.reset();
                info!(
                    accessor = %token.logged_accessor(),
                    ttl = ?token.lease_duration,
                    renewable = token.renewable,
                    "Authenticated with {} at {}.",
                    method.method_name(),
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
                    // Only AppRole has the server's user lockout after repeated failures.
                    let lockout = if method.method_name() == "AppRole" {
                        " (a server locks a role after repeated failures)"
                    } else {
                        ""
                    };
                    error!(
                        error = %failure,
                        retry_in = ?delay,
                        "The server refused the {} credentials; {}. Retrying with backoff{lockout}.",
                        method.method_name(),
                        failure.advice().unwrap_or("check them")
                    );
                } else if let Some(advice) = failure.advice() {
                    warn!(error = %failure, advice, retry_in = ?delay, "Login failed; retrying.");
                } else {
                    warn!(error = %failure, retry_in = ?delay, "Login failed; retrying.");
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// What to check when the server refuses an AppRole login, which depends on where the
/// secret_id came from: the file (either may be wrong), memory (the file was consumed, so the
/// secret_id kept since has most likely expired or been used up), or nowhere (a role without
/// `bind_secret_id`).
fn approle_advice(config: &AppRole, with_secret_id: bool, from_file: bool) -> String {
    let role_file = config.role_id_file_path.display();
    match (&config.secret_id_file_path, with_secret_id) {
        (Some(path), true) if from_file => format!(
            "check the role_id in `{role_file}` and the secret_id in `{}`; a secret_id stops working when it expires (`secret_id_ttl`) or is used up (`secret_id_num_uses`)",
            path.display()
        ),
        (Some(path), true) => format!(
            "the secret_id read earlier from `{}` and kept in memory was refused: it has most likely expired (`secret_id_ttl`) or been used up (`secret_id_num_uses`); write a new secret_id to `{}` and vaultward logs in with it at once",
            path.display(),
            path.display()
        ),
        _ => format!(
            "check the role_id in `{role_file}`, and that the role does not need a secret_id (`bind_secret_id`)"
        ),
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
            wrapped: false,
        };
        let printed = format!("{token:?} {token:#?}");
        assert!(!printed.contains("TopSecret"), "{printed}");
        assert!(printed.contains("acc"));
    }

    #[test]
    fn login_errors_name_the_method_mount_and_role() {
        let failure = AuthError::Login {
            method: "JWT",
            mount_path: "auth/jwt".to_owned(),
            role: Some("role `web`".to_owned()),
            advice: "check the role".to_owned(),
            source: Box::new(VaultError::Status {
                method: "POST",
                url: "http://127.0.0.1:1/v1/auth/jwt/login".to_owned(),
                status: 400,
                errors: vec!["error validating token: invalid audience (aud) claim".to_owned()],
            }),
        };
        assert_eq!(
            describe_final_failure(&failure, false),
            "JWT login at `auth/jwt` with role `web` failed: POST http://127.0.0.1:1/v1/auth/jwt/login returned 400: error validating token: invalid audience (aud) claim; check the role"
        );
        assert!(failure.is_refused());
        assert!(!failure.is_locked_out());
    }

    #[test]
    fn a_sealed_server_gets_no_advice_about_the_credentials() {
        let failure = AuthError::Login {
            method: "AppRole",
            mount_path: "auth/approle".to_owned(),
            role: None,
            advice: "write a new secret_id".to_owned(),
            source: Box::new(VaultError::Status {
                method: "POST",
                url: "http://127.0.0.1:1/v1/auth/approle/login".to_owned(),
                status: 503,
                errors: vec!["Vault is sealed".to_owned()],
            }),
        };
        assert_eq!(failure.advice(), None);
        assert!(!describe_final_failure(&failure, false).contains("secret_id"));
    }
}
