//! The command line, spelled the way Vault's is.
//!
//! Vault's CLI takes single-dash long flags (`vault agent -config=/etc/vault/config.hcl
//! -log-level=debug`), which clap does not parse. [`normalize_args`] rewrites every `-word`
//! and `-word=value` to `--word…` (except a value that follows a flag), so existing pod specs
//! and unit files keep working, `--config PATH` works too, and an unknown `-bogus` is reported
//! as `--bogus` rather than as the short flag `-b`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Long flags that take a value; a value given as the next argument is left alone.
const VALUE_FLAGS: &[&str] = &[
    "config",
    "log-level",
    "log-format",
    "address",
    "ca-cert",
    "namespace",
];

/// Boolean flags, which Vault's CLI also accepts as `-flag=true` / `-flag=false`.
const BOOL_FLAGS: &[&str] = &["exit-after-auth", "tls-skip-verify"];

/// Rewrites Vault-style `-flag[=value]` arguments to `--flag[=value]`.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut value_expected = false;
    args.into_iter()
        .enumerate()
        .map(|(index, arg)| {
            let Some(text) = arg.to_str() else { return arg };
            if index == 0 || std::mem::take(&mut value_expected) {
                return arg;
            }
            let Some(flag) = text.strip_prefix("--").or_else(|| text.strip_prefix('-')) else {
                return arg;
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, _)) => (name, true),
                None => (flag, false),
            };
            value_expected = !value && VALUE_FLAGS.contains(&name);
            // Go's flag package takes `-exit-after-auth=true` for a boolean; clap takes only
            // `--exit-after-auth`. `=false` is the same as leaving the flag out.
            if BOOL_FLAGS.contains(&name) && value {
                return match flag.split_once('=').map(|(_, v)| v.to_ascii_lowercase()) {
                    Some(v) if matches!(v.as_str(), "false" | "0" | "f") => OsString::new(),
                    _ => OsString::from(format!("--{name}")),
                };
            }
            // `-h` stays a short flag; `-word` becomes `--word`.
            if text.starts_with("--")
                || name.len() < 2
                || !name.starts_with(|c: char| c.is_ascii_alphabetic())
            {
                arg
            } else {
                OsString::from(format!("-{text}"))
            }
        })
        .filter(|arg| !arg.is_empty())
        .collect()
}

/// Flags of `vault agent` / `bao agent` that vaultward does not take, with what to do instead.
const VAULT_ONLY_FLAGS: &[(&str, &str)] = &[
    (
        "log-file",
        "vaultward logs to stderr only, for journald or the container runtime to keep; remove it",
    ),
    (
        "log-rotate-bytes",
        "vaultward logs to stderr only and rotates nothing; remove it",
    ),
    (
        "log-rotate-duration",
        "vaultward logs to stderr only and rotates nothing; remove it",
    ),
    (
        "log-rotate-max-files",
        "vaultward logs to stderr only and rotates nothing; remove it",
    ),
    (
        "ca-path",
        "set `vault { ca_path = \"…\" }` in the config or VAULT_CAPATH instead",
    ),
    (
        "client-cert",
        "set `vault { client_cert = \"…\" }` in the config or VAULT_CLIENT_CERT instead",
    ),
    (
        "client-key",
        "set `vault { client_key = \"…\" }` in the config or VAULT_CLIENT_KEY instead",
    ),
    (
        "tls-server-name",
        "set `vault { tls_server_name = \"…\" }` in the config or VAULT_TLS_SERVER_NAME instead",
    ),
    (
        "agent-address",
        "vaultward has no listener and talks to the server itself; remove it",
    ),
];

/// The message for a `vault agent` flag vaultward does not take, if one was typed.
pub fn vault_only_flag(typed: &[OsString]) -> Option<String> {
    typed.iter().skip(1).filter_map(|arg| arg.to_str()).find_map(|arg| {
        let name = arg.trim_start_matches('-');
        let name = name.split_once('=').map_or(name, |(name, _)| name);
        VAULT_ONLY_FLAGS
            .iter()
            .find(|(flag, _)| *flag == name && arg.starts_with('-'))
            .map(|(_, advice)| {
                let shown = arg.split_once('=').map_or(arg, |(flag, _)| flag);
                format!("error: `{shown}` is a Vault Agent flag that vaultward does not support: {advice}\n")
            })
    })
}

/// Rewrites clap's message so flags appear as they were typed: [`normalize_args`] turns
/// `-bogus` into `--bogus`, which the user never wrote.
pub fn as_typed(message: &str, typed: &[OsString]) -> String {
    let mut text = message.to_owned();
    for arg in typed.iter().skip(1).filter_map(|arg| arg.to_str()) {
        if arg.starts_with("--") || !arg.starts_with('-') || arg.len() < 3 {
            continue;
        }
        let name = arg.split_once('=').map_or(arg, |(name, _)| name);
        for shown in [arg, name] {
            text = text.replace(&format!("'-{shown}'"), &format!("'{shown}'"));
        }
    }
    text
}

/// vaultward: auto-auth (AppRole, token file, JWT, Kubernetes, TLS certificate), token sinks
/// and secret templates for Vault and OpenBao.
#[derive(Debug, Parser)]
#[command(name = "vaultward", disable_version_flag = true)]
pub struct Cli {
    /// Print the version (as `vaultward version`).
    #[arg(long = "version")]
    pub version: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: log in, write sinks, render templates.
    Agent(AgentArgs),
    /// Check config files without any network access; exit 0 when valid.
    Validate(ValidateArgs),
    /// Print the version.
    Version,
}

/// `vaultward agent …`.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// A config file, or a directory whose *.hcl and *.json files are loaded in name order.
    /// May be repeated.
    #[arg(long = "config", value_name = "PATH", required = true)]
    pub config: Vec<PathBuf>,
    /// Log level (also VAULT_LOG_LEVEL / BAO_LOG_LEVEL, or `log_level` in the config).
    #[arg(long = "log-level", value_enum, ignore_case = true)]
    pub log_level: Option<LogLevel>,
    /// Log format (also VAULT_LOG_FORMAT / BAO_LOG_FORMAT, or `log_format` in the config).
    #[arg(long = "log-format", value_enum, ignore_case = true)]
    pub log_format: Option<LogFormat>,
    /// Exit after the first token is written and every template rendered once.
    #[arg(long = "exit-after-auth")]
    pub exit_after_auth: bool,
    /// Server address; overrides VAULT_ADDR / BAO_ADDR and `vault.address`.
    #[arg(long = "address", value_name = "URL")]
    pub address: Option<String>,
    /// CA certificate file; overrides VAULT_CACERT / BAO_CACERT and `vault.ca_cert`.
    #[arg(long = "ca-cert", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the server's certificate (logged as a warning).
    #[arg(long = "tls-skip-verify")]
    pub tls_skip_verify: bool,
    /// Namespace; overrides VAULT_NAMESPACE / BAO_NAMESPACE and `vault.namespace`.
    #[arg(long = "namespace")]
    pub namespace: Option<String>,
}

/// `vaultward validate …`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A config file or directory, as for `agent`. May be repeated.
    #[arg(long = "config", value_name = "PATH", required = true)]
    pub config: Vec<PathBuf>,
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including each HTTP request.
    Trace,
    /// Details of each step.
    Debug,
    /// Logins, writes and renders (the default).
    #[value(alias = "notice")]
    Info,
    /// Problems that vaultward works around.
    #[value(alias = "warning")]
    Warn,
    /// Problems that need an operator.
    #[value(alias = "err")]
    Error,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Standard,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_flags_as_typed() {
        let typed: Vec<OsString> = ["vaultward", "agent", "-bogus=1", "--other", "-x"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            as_typed(
                "error: unexpected argument '--bogus' found; '--other' and '-x'",
                &typed
            ),
            "error: unexpected argument '-bogus' found; '--other' and '-x'"
        );
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(normalize_args(args.iter().map(OsString::from))).unwrap()
    }

    #[test]
    fn vault_style_single_dash_flags() {
        let cli = parse(&[
            "vaultward",
            "agent",
            "-config=/etc/vault/config.hcl",
            "-log-level=debug",
            "-exit-after-auth",
        ]);
        let Some(Command::Agent(args)) = cli.command else {
            panic!("not agent")
        };
        assert_eq!(args.config, [PathBuf::from("/etc/vault/config.hcl")]);
        assert_eq!(args.log_level, Some(LogLevel::Debug));
        assert!(args.exit_after_auth);
    }

    #[test]
    fn double_dash_and_separate_values() {
        let cli = parse(&[
            "vaultward",
            "agent",
            "--config",
            "a.hcl",
            "-config",
            "b.hcl",
            "-log-format",
            "json",
        ]);
        let Some(Command::Agent(args)) = cli.command else {
            panic!("not agent")
        };
        assert_eq!(
            args.config,
            [PathBuf::from("a.hcl"), PathBuf::from("b.hcl")]
        );
        assert_eq!(args.log_format, Some(LogFormat::Json));
    }

    #[test]
    fn vault_agent_flags_vaultward_does_not_take_are_named_with_what_to_do() {
        let typed = [
            "vaultward",
            "agent",
            "-config=x",
            "-log-file=/var/log/agent.log",
        ]
        .map(OsString::from);
        let message = vault_only_flag(&typed).unwrap();
        assert!(
            message.starts_with("error: `-log-file` is a Vault Agent flag that vaultward does not support: vaultward logs to stderr"),
            "{message}"
        );
        assert!(vault_only_flag(&["vaultward", "agent", "-bogus"].map(OsString::from)).is_none());
    }

    #[test]
    fn unknown_single_dash_flags_stay_words_and_levels_ignore_case() {
        let args = normalize_args(["vaultward", "agent", "-bogus", "-h"].map(OsString::from));
        assert_eq!(args[2], OsString::from("--bogus"));
        assert_eq!(args[3], OsString::from("-h"));
        let cli = parse(&["vaultward", "agent", "-config=x", "-log-level=WARNING"]);
        let Some(Command::Agent(args)) = cli.command else {
            panic!("not agent")
        };
        assert_eq!(args.log_level, Some(LogLevel::Warn));
        assert!(parse(&["vaultward", "-version"]).version);
    }

    #[test]
    fn boolean_flags_with_values() {
        let Some(Command::Agent(args)) =
            parse(&["vaultward", "agent", "-config=x", "-exit-after-auth=true"]).command
        else {
            panic!("not agent")
        };
        assert!(args.exit_after_auth);
        let Some(Command::Agent(args)) =
            parse(&["vaultward", "agent", "-config=x", "-tls-skip-verify=false"]).command
        else {
            panic!("not agent")
        };
        assert!(!args.tls_skip_verify);
    }

    #[test]
    fn values_that_look_like_flags_are_left_alone() {
        let args = normalize_args(
            ["vaultward", "agent", "-config", "-weird-name.hcl"].map(OsString::from),
        );
        assert_eq!(args[3], OsString::from("-weird-name.hcl"));
    }
}
