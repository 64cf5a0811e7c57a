//! Where the server is and how to talk to it: flags, environment, config file, defaults.
//!
//! Precedence is Vault Agent's: command-line flag, then environment (`BAO_*` before `VAULT_*`,
//! as OpenBao does), then the `vault {}` block, then the default `https://127.0.0.1:8200`.
//! The address actually used and where it came from are logged at start, because an exported
//! `VAULT_ADDR` silently overriding the file is a classic surprise.

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
    let ca_cert_pem = match ca_cert {
        Some((path, source)) => {
            let pem = std::fs::read(&path).map_err(|error| {
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
            Some(pem)
        }
        None => None,
    };
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
        .or_else(|| vault.namespace.clone());
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
            tls_skip_verify,
            namespace,
            timeout,
            user_agent: format!("vaultward/{}", env!("CARGO_PKG_VERSION")),
        },
        address_source,
        overridden_address,
    })
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
        let resolved = resolve(&vault, &args(), &lookup).unwrap();
        assert_eq!(resolved.client.address, "http://bao-env:8200");
        assert_eq!(resolved.address_source, "the BAO_ADDR environment variable");

        let no_env = |_: &str| None;
        assert_eq!(
            resolve(&vault, &args(), &no_env).unwrap().address_source,
            "`vault.address` in the config"
        );
        let resolved = resolve(&Vault::default(), &args(), &no_env).unwrap();
        assert_eq!(resolved.client.address, DEFAULT_ADDRESS);

        let mut with_flag = args();
        with_flag.address = Some("http://flag:1".into());
        assert_eq!(
            resolve(&vault, &with_flag, &lookup).unwrap().client.address,
            "http://flag:1"
        );
    }

    #[test]
    fn plain_http_detection() {
        assert!(!is_plain_http_to_remote("http://127.0.0.1:8200"));
        assert!(!is_plain_http_to_remote("http://localhost:8200/"));
        assert!(is_plain_http_to_remote("http://vault.example:8200"));
        assert!(!is_plain_http_to_remote("https://vault.example:8200"));
    }
}
