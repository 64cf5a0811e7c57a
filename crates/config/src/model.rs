//! The validated configuration types the rest of vaultward consumes.
//!
//! Every value here has been checked: durations are [`Duration`]s, modes are octal `u32`s,
//! exactly one of a template's `contents`/`source` is set, and so on. Components never see the
//! raw syntax tree.

use std::path::PathBuf;
use std::time::Duration;

/// The whole agent configuration, after merging every file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Exit after the first token is written to every sink and every template rendered once.
    pub exit_after_auth: bool,
    /// Where to write the process id, removed at exit.
    pub pid_file: Option<PathBuf>,
    /// `log_level` from the file; the command line and the environment win over it.
    pub log_level: Option<String>,
    /// `log_format` from the file (`standard` or `json`).
    pub log_format: Option<String>,
    /// The `vault {}` block.
    pub vault: Vault,
    /// The `auto_auth {}` block.
    pub auto_auth: AutoAuth,
    /// Every `template {}` block, in file order.
    pub templates: Vec<Template>,
    /// The `template_config {}` block.
    pub template_config: TemplateConfig,
}

/// The `vault {}` block. Every field is optional here; the environment and defaults are
/// applied by the agent, which logs where the address came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vault {
    /// `address`, e.g. `https://vault.example:8200`.
    pub address: Option<String>,
    /// `ca_cert`: a PEM file of CA certificates to trust instead of the system roots.
    pub ca_cert: Option<PathBuf>,
    /// `ca_path`: a directory of PEM files of CA certificates to trust (with `ca_cert`, if
    /// both are set, both are trusted).
    pub ca_path: Option<PathBuf>,
    /// `client_cert`: a PEM certificate presented to the server (mutual TLS); set together
    /// with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// `client_key`: the PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// `tls_server_name`: the name sent as SNI and verified in the server's certificate,
    /// instead of the address's host.
    pub tls_server_name: Option<String>,
    /// `tls_skip_verify`.
    pub tls_skip_verify: Option<bool>,
    /// `namespace`, sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// `retry { num_retries }`: how often a failed read is retried (`-1`: never; unset or 0:
    /// the default, 12).
    pub num_retries: Option<i64>,
}

impl Vault {
    /// The effective number of retries of a failed read.
    pub fn retries(&self) -> u32 {
        match self.num_retries {
            None | Some(0) => DEFAULT_NUM_RETRIES,
            Some(n) if n < 0 => 0,
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        }
    }
}

/// The `auto_auth {}` block.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoAuth {
    /// The one `method {}`.
    pub method: Method,
    /// Every `sink {}`, in file order.
    pub sinks: Vec<FileSink>,
}

/// `auto_auth { method {} }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    /// The method and its `config {}`.
    pub kind: MethodKind,
    /// `mount_path`, without a trailing slash (default `auth/<type>`).
    pub mount_path: String,
    /// `min_backoff` (default 1s).
    pub min_backoff: Duration,
    /// `max_backoff` (default 5m).
    pub max_backoff: Duration,
    /// `exit_on_err`: exit non-zero on the first authentication error.
    pub exit_on_err: bool,
    /// `namespace`: the namespace the method is mounted in. Logins are sent to it; templates
    /// and renewals use it too unless `vault.namespace`, the environment or the flag name one.
    pub namespace: Option<String>,
    /// `wrap_ttl`: log in with a response-wrapped result; the one sink gets the wrap-info
    /// (for a consumer that unwraps it) and the agent keeps no token of its own.
    pub wrap_ttl: Option<Duration>,
}

/// The supported auth methods.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodKind {
    /// `type = "approle"`.
    AppRole(AppRole),
    /// `type = "token_file"`.
    TokenFile(TokenFile),
    /// `type = "jwt"`.
    Jwt(Jwt),
    /// `type = "kubernetes"`.
    Kubernetes(Kubernetes),
    /// `type = "cert"`.
    Cert(Cert),
}

impl MethodKind {
    /// The method's type, as written in the config (`"approle"`, `"jwt"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            MethodKind::AppRole(_) => "approle",
            MethodKind::TokenFile(_) => "token_file",
            MethodKind::Jwt(_) => "jwt",
            MethodKind::Kubernetes(_) => "kubernetes",
            MethodKind::Cert(_) => "cert",
        }
    }
}

/// `method "token_file" { config { … } }`: a token made elsewhere, read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenFile {
    /// `token_file_path`: read (trimmed) on every login; never removed, as in Vault Agent.
    pub token_file_path: PathBuf,
}

/// `method "jwt" { config { … } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    /// `path`: the file holding the JWT.
    pub path: PathBuf,
    /// `role`: the role to log in with.
    pub role: String,
    /// `remove_jwt_after_reading` (default true); vaultward removes the file only after a
    /// successful login with it.
    pub remove_jwt_after_reading: bool,
    /// `remove_jwt_follows_symlinks` (default false): when `path` is a symbolic link, remove
    /// the file it points to instead of the link.
    pub remove_jwt_follows_symlinks: bool,
}

/// The service-account token Kubernetes mounts into every pod.
pub const DEFAULT_KUBERNETES_TOKEN_PATH: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// `method "kubernetes" { config { … } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Kubernetes {
    /// `role`: the role to log in with.
    pub role: String,
    /// `token_path` (default [`DEFAULT_KUBERNETES_TOKEN_PATH`]): read on every login, as
    /// Kubernetes rotates projected tokens.
    pub token_path: PathBuf,
}

/// `method "cert" { config { … } }`: TLS client certificate login.
#[derive(Debug, Clone, PartialEq)]
pub struct Cert {
    /// `name`: the certificate role to log in against; unset lets the server pick the one
    /// matching the certificate.
    pub name: Option<String>,
    /// `ca_cert`: CA certificates trusted for the server during the login, instead of
    /// `vault.ca_cert`.
    pub ca_cert: Option<PathBuf>,
    /// `client_cert`: the certificate presented at login; unset: `vault.client_cert`.
    pub client_cert: Option<PathBuf>,
    /// `client_key`: its private key; unset: `vault.client_key`.
    pub client_key: Option<PathBuf>,
    /// `reload` (default false): read the certificate and key again on every login.
    pub reload: bool,
}

/// `method "approle" { config { … } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRole {
    /// `role_id_file_path`.
    pub role_id_file_path: PathBuf,
    /// `secret_id_file_path`; unset for roles with `bind_secret_id = false`.
    pub secret_id_file_path: Option<PathBuf>,
    /// `remove_secret_id_file_after_reading` (default true); vaultward removes the file only
    /// after a successful login.
    pub remove_secret_id_file_after_reading: bool,
    /// `secret_id_response_wrapping_path`: the secret_id file holds a response-wrapping token
    /// that must have been created at this path (e.g. `auth/approle/role/app/secret-id`); it is
    /// unwrapped to get the secret_id.
    pub secret_id_response_wrapping_path: Option<String>,
}

/// `sink "file" { config { path, mode } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSink {
    /// `config.path`.
    pub path: PathBuf,
    /// `config.mode` (default 0640).
    pub mode: u32,
    /// `config.uid`/`config.gid` (OpenBao) or `config.owner`/`config.group` (Vault): who owns
    /// the token file. Unset: the agent's own user and group.
    pub owner: Owner,
    /// `wrap_ttl`: write a response-wrapping token for the token (`sys/wrapping/wrap`) instead
    /// of the token itself.
    pub wrap_ttl: Option<Duration>,
    /// `dh_type = "curve25519"` and its keys: write the token encrypted for a client.
    pub encryption: Option<SinkEncryption>,
}

/// A sink's encryption for a client holding a curve25519 key pair, as Vault Agent's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkEncryption {
    /// `dh_path`: a JSON file `{"curve25519_public_key": "<base64>"}` written by the client.
    pub dh_path: PathBuf,
    /// `derive_key`: the AES key is HKDF-SHA256 of the shared secret and both public keys
    /// instead of the shared secret itself.
    pub derive_key: bool,
    /// `aad` or `aad_env_var`: the additional authenticated data of the AES-GCM encryption.
    pub aad: Aad,
}

/// Where a sink's AES-GCM additional data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aad {
    /// None.
    None,
    /// `aad`: this text.
    Literal(String),
    /// `aad_env_var`: the value of this environment variable, read when the agent starts.
    EnvVar(String),
}

/// Who owns a written file; each part unset means "the agent's own".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    /// The owning user.
    pub user: Option<Principal>,
    /// The owning group.
    pub group: Option<Principal>,
}

/// A user or a group, by number or by name (resolved by the agent from the system's
/// user and group databases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A numeric id.
    Id(u32),
    /// A name, e.g. `nobody`.
    Name(String),
}

/// Where a template's text comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateSource {
    /// `contents = "…"`.
    Contents(String),
    /// `source = "/path/to/file.tmpl"`.
    File(PathBuf),
}

/// A `template {}` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// `contents` or `source`.
    pub source: TemplateSource,
    /// `destination`.
    pub destination: PathBuf,
    /// `perms`; unset, an existing destination keeps its mode and a new one gets
    /// [`DEFAULT_TEMPLATE_PERMS`], as consul-template does (`vaultward_template::destination_mode`).
    pub perms: Option<u32>,
    /// `create_dest_dirs` (default true).
    pub create_dest_dirs: bool,
    /// `error_on_missing_key` (default false).
    pub error_on_missing_key: bool,
    /// `engine`: the template syntax; `None` inherits `template_config.engine`.
    pub engine: Option<TemplateEngine>,
    /// `command` or `exec`: run after the destination changed.
    pub command: Option<TemplateCommand>,
    /// `user`/`group` (names or ids) or `uid`/`gid`: who owns the destination.
    pub owner: Owner,
    /// Where the block was written, `file:line:col`, for messages.
    pub origin: String,
}

/// A command run after a template's destination changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TemplateCommand {
    /// What to run.
    pub line: CommandLine,
    /// How long it may run before it is killed (default 30s).
    pub timeout: Duration,
}

/// How a command is given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CommandLine {
    /// A string, run with `sh -c`.
    Shell(String),
    /// A list, run directly (no shell).
    Argv(Vec<String>),
}

/// Which template language a template is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateEngine {
    /// `"go"`: consul-template's Go `text/template` syntax, as Vault Agent uses.
    Go,
    /// `"handlebars"`: vaultward's Handlebars syntax.
    Handlebars,
    /// `"auto"` (the default): decided per template from its source's file name and its text.
    Auto,
}

/// The `template_config {}` block.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateConfig {
    /// `exit_on_retry_failure`: exit non-zero when a template exhausts its retries.
    pub exit_on_retry_failure: bool,
    /// `static_secret_render_interval` (default 5m): how often static secrets are re-read.
    pub static_secret_render_interval: Duration,
    /// `engine` (default `auto`): the template syntax of templates that do not set their own.
    pub engine: TemplateEngine,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        Self {
            exit_on_retry_failure: false,
            static_secret_render_interval: DEFAULT_STATIC_SECRET_RENDER_INTERVAL,
            engine: TemplateEngine::Auto,
        }
    }
}

/// Default `min_backoff`.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Default `max_backoff`.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Default sink `mode`.
pub const DEFAULT_SINK_MODE: u32 = 0o640;
/// The mode of a new destination whose template sets no `perms`.
pub const DEFAULT_TEMPLATE_PERMS: u32 = 0o644;
/// Default `command_timeout` / `exec.timeout`.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `vault.retry.num_retries`.
pub const DEFAULT_NUM_RETRIES: u32 = 12;
/// Default `static_secret_render_interval`.
pub const DEFAULT_STATIC_SECRET_RENDER_INTERVAL: Duration = Duration::from_secs(300);
/// The longest duration a config may set (10 years, `"87600h"`): longer ones would overflow
/// the clock when added to the current time.
pub const MAX_DURATION: Duration = Duration::from_secs(87_600 * 3600);
