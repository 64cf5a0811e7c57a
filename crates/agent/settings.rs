//! Where the server is and how to talk to it: flags, environment, config file, defaults.
//!
//! Precedence is Vault Agent's: command-line flag, then environment (`BAO_*` before `VAULT_*`,
//! as OpenBao does), then the `vault {}` block, then the default `https://127.0.0.1:8200`.
//! The address actually used and where it came from are logged at start, because an exported
//! `VAULT_ADDR` silently overriding the file is a classic surprise.
//!
//! The namespace of templates and renewals follows the same order, with the auth method's
//! `namespace` last, as in Vault Agent: the flag, then the environment, then `vault.namespace`,
//! then `auto_auth.method.namespace`. (Logins themselves go to the method's namespace when it
//! is set.) TLS files are read here, so an unreadable one is a config error before anything
//! runs: `ca_cert` and every file of `ca_path` together form the trusted CAs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vaultward_config::Vault;
use vaultward_vault::ClientSettings;

use crate::cli::AgentArgs;

/// The default server address, as in Vault.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";
/// The default request timeout, as in Vault (`VAULT_CLIENT_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Client settings plus notes on where they came from, for the start-up log.
#[derive(Debug)]
pub struct Resolved {
    /// What the HTTP client is built from.
    pub client: ClientSettings,
    /// Where the address came from, e.g. "the VAULT_ADDR environment variable".
    pub address_source: String,
    /// The config file's `vault.address` when a flag or the environment overrode it.
    pub overridden_address: Option<String>,
}

/// Reads one setting from the environment: `BAO_<name>`, then `VAULT_<name>`.
pub fn env_setting(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<(String, String)> {
    ["BAO_", "VAULT_"].iter().find_map(|prefix| {
        let variable = format!("{prefix}{name}");
        env(&variable)
            .filter(|value| !value.is_empty())
            .map(|value| (value, variable))
    })
}

/// Resolves the client settings; errors are config errors (bad values, unreadable CA file).
pub fn resolve(
    vault: &Vault,
    method_namespace: Option<&str>,
    args: &AgentArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, String> {
    let (address, address_source) = if let Some(address) = &args.address {
        (address.clone(), "the -address flag".to_owned())
    } else if let Some((address, variable)) = env_setting(env, "ADDR") {
        (address, format!("the {variable} environment variable"))
    } else if let Some(address) = &vault.address {
        (address.clone(), "`vault.address` in the config".to_owned())
    } else {
        (DEFAULT_ADDRESS.to_owned(), "the default".to_owned())
    };
    let overridden_address = vault
        .address
        .clone()
        .filter(|file_address| *file_address != address);
    if let Err(problem) = vaultward_config::check_address(&address) {
        return Err(format!(
            "the server address `{address}` (from {address_source}) {problem}"
        ));
    }
    let ca_cert = args
        .ca_cert
        .clone()
        .map(|path| (path, "the -ca-cert flag".to_owned()))
        .or_else(|| {
            env_setting(env, "CACERT").map(|(path, variable)| {
                (path.into(), format!("the {variable} environment variable"))
            })
        })
        .or_else(|| {
            vault
                .ca_cert
                .clone()
                .map(|path| (path, "`vault.ca_cert`".to_owned()))
        });
    let mut ca_cert_pem = match ca_cert {
        Some((path, source)) => Some(read_ca_file(&path, &source)?),
        None => None,
    };
    let ca_path = env_setting(env, "CAPATH")
        .map(|(path, variable)| {
            (
                PathBuf::from(path),
                format!("the {variable} environment variable"),
            )
        })
        .or_else(|| {
            vault
                .ca_path
                .clone()
                .map(|path| (path, "`vault.ca_path`".to_owned()))
        });
    if let Some((directory, source)) = ca_path {
        let bundle = ca_cert_pem.get_or_insert_with(Vec::new);
        bundle.extend(read_ca_directory(&directory, &source)?);
    }
    let client_cert = env_setting(env, "CLIENT_CERT")
        .map(|(path, _)| PathBuf::from(path))
        .or_else(|| vault.client_cert.clone());
    let client_key = env_setting(env, "CLIENT_KEY")
        .map(|(path, _)| PathBuf::from(path))
        .or_else(|| vault.client_key.clone());
    let client_identity_pem = match (client_cert, client_key) {
        (Some(cert), Some(key)) => Some(Arc::new(vaultward_auth::read_key_pair(&cert, &key)?)),
        (None, None) => None,
        (Some(_), None) => {
            return Err("a client certificate is set (`vault.client_cert` or BAO_CLIENT_CERT) without its key: set `vault.client_key` or BAO_CLIENT_KEY too".to_owned());
        }
        (None, Some(_)) => {
            return Err("a client key is set (`vault.client_key` or BAO_CLIENT_KEY) without its certificate: set `vault.client_cert` or BAO_CLIENT_CERT too".to_owned());
        }
    };
    let tls_server_name = env_setting(env, "TLS_SERVER_NAME")
        .map(|(name, _)| name)
        .or_else(|| vault.tls_server_name.clone());
    let tls_skip_verify = if args.tls_skip_verify {
        true
    } else if let Some((value, variable)) = env_setting(env, "SKIP_VERIFY") {
        parse_bool(&value).ok_or_else(|| format!("{variable}={value:?} is not true or false"))?
    } else {
        vault.tls_skip_verify.unwrap_or(false)
    };
    let namespace = args
        .namespace
        .clone()
        .or_else(|| env_setting(env, "NAMESPACE").map(|(value, _)| value))
        .or_else(|| vault.namespace.clone())
        .or_else(|| method_namespace.map(str::to_owned));
    let timeout = match env_setting(env, "CLIENT_TIMEOUT") {
        Some((value, variable)) => vaultward_config::decode::parse_duration(&value)
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| format!("{variable}={value:?} is not a duration such as \"30s\""))?,
        None => DEFAULT_TIMEOUT,
    };
    Ok(Resolved {
        client: ClientSettings {
            address,
            ca_cert_pem,
            client_identity_pem,
            tls_server_name,
            tls_skip_verify,
            namespace,
            timeout,
            user_agent: format!("vaultward/{}", env!("CARGO_PKG_VERSION")),
            login_wrap_ttl: None,
        },
        address_source,
        overridden_address,
    })
}

/// A CA certificate file, which must hold at least one PEM certificate.
fn read_ca_file(path: &Path, source: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|error| {
        format!(
            "cannot read the CA certificate `{}` (from {source}): {error}",
            path.display()
        )
    })?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "the CA certificate file `{}` (from {source}) holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            path.display()
        ));
    }
    Ok(pem)
}

/// Every PEM certificate in the regular files of `directory` (as Vault's `ca_path`: files
/// that hold no certificate are skipped), in name order; at least one is required.
fn read_ca_directory(directory: &Path, source: &str) -> Result<Vec<u8>, String> {
    let entries = std::fs::read_dir(directory).map_err(|error| {
        format!(
            "cannot read the CA directory `{}` (from {source}): {error}",
            directory.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let mut bundle = Vec::new();
    for file in files {
        let Ok(pem) = std::fs::read(&file) else {
            continue;
        };
        if String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            bundle.extend_from_slice(&pem);
            bundle.push(b'\n');
        }
    }
    if bundle.is_empty() {
        return Err(format!(
            "the CA directory `{}` (from {source}) holds no PEM certificate file",
            directory.display()
        ));
    }
    Ok(bundle)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// True for `http://` addresses whose host is not a loopback address.
pub fn is_plain_http_to_remote(address: &str) -> bool {
    let Some(rest) = address.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    !(host == "localhost" || host.starts_with("127.") || host == "[::1]")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    fn args() -> AgentArgs {
        AgentArgs {
            config: vec![PathBuf::from("x.hcl")],
            log_level: None,
            log_format: None,
            exit_after_auth: false,
            address: None,
            ca_cert: None,
            tls_skip_verify: false,
            namespace: None,
        }
    }

    #[test]
    fn precedence_flag_env_file_default() {
        let vault = Vault {
            address: Some("http://file:8200".into()),
            ..Vault::default()
        };
        let env: HashMap<&str, &str> = HashMap::from([
            ("VAULT_ADDR", "http://vault-env:8200"),
            ("BAO_ADDR", "http://bao-env:8200"),
        ]);
        let lookup = |name: &str| env.get(name).map(|v| v.to_string());
        let resolved = resolve(&vault, None, &args(), &lookup).unwrap();
        assert_eq!(resolved.client.address, "http://bao-env:8200");
        assert_eq!(resolved.address_source, "the BAO_ADDR environment variable");

        let no_env = |_: &str| None;
        assert_eq!(
            resolve(&vault, None, &args(), &no_env)
                .unwrap()
                .address_source,
            "`vault.address` in the config"
        );
        let resolved = resolve(&Vault::default(), None, &args(), &no_env).unwrap();
        assert_eq!(resolved.client.address, DEFAULT_ADDRESS);

        let mut with_flag = args();
        with_flag.address = Some("http://flag:1".into());
        assert_eq!(
            resolve(&vault, None, &with_flag, &lookup)
                .unwrap()
                .client
                .address,
            "http://flag:1"
        );
    }

    #[test]
    fn namespace_precedence_flag_env_vault_block_then_method() {
        let no_env = |_: &str| None;
        let namespace =
            |vault: &Vault, method: Option<&str>, env: &dyn Fn(&str) -> Option<String>| {
                resolve(vault, method, &args(), env)
                    .unwrap()
                    .client
                    .namespace
            };
        assert_eq!(
            namespace(&Vault::default(), Some("team1"), &no_env).as_deref(),
            Some("team1")
        );
        let vault = Vault {
            namespace: Some("from-vault".into()),
            ..Vault::default()
        };
        assert_eq!(
            namespace(&vault, Some("team1"), &no_env).as_deref(),
            Some("from-vault")
        );
        let env = |name: &str| (name == "VAULT_NAMESPACE").then(|| "from-env".to_owned());
        assert_eq!(
            namespace(&vault, Some("team1"), &env).as_deref(),
            Some("from-env")
        );
        let mut with_flag = args();
        with_flag.namespace = Some("from-flag".into());
        assert_eq!(
            resolve(&vault, Some("team1"), &with_flag, &env)
                .unwrap()
                .client
                .namespace
                .as_deref(),
            Some("from-flag")
        );
        assert_eq!(namespace(&Vault::default(), None, &no_env), None);
    }

    #[test]
    fn plain_http_detection() {
        assert!(!is_plain_http_to_remote("http://127.0.0.1:8200"));
        assert!(!is_plain_http_to_remote("http://localhost:8200/"));
        assert!(is_plain_http_to_remote("http://vault.example:8200"));
        assert!(!is_plain_http_to_remote("https://vault.example:8200"));
    }
}
