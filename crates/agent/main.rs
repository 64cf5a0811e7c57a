//! The `vaultward` binary: command line, logging, exit codes; the agent itself is in [`run`].
//!
//! Exit codes (documented in the README):
//! - `0`: success (`exit_after_auth` finished, `validate` found no problem, or a signal
//!   stopped a running agent);
//! - `1`: a runtime failure (server unreachable with `exit_on_err`, a template that could not
//!   be rendered with `exit_after_auth`, an unwritable file);
//! - `64`: a command-line usage error;
//! - `78`: a config error (every problem is printed).

mod cli;
mod commands;
mod daemon;
mod load;
mod logging;
mod run;
mod settings;
mod signals;
mod source;
mod systemd;
mod token;
mod watch;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use cli::{AgentArgs, Cli, Command, LogFormat, LogLevel, ValidateArgs};
use run::Failure;
use vaultward_config::Config;

/// A runtime failure.
const EXIT_RUNTIME: u8 = 1;
/// A command-line usage error (sysexits `EX_USAGE`).
const EXIT_USAGE: u8 = 64;
/// A config error (sysexits `EX_CONFIG`).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let typed: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = cli::normalize_args(typed.iter().cloned());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => {
            // Messages name flags as they were typed (`-bogus`), not as clap saw them.
            let text = match cli::vault_only_flag(&typed) {
                Some(text) if error.kind() == clap::error::ErrorKind::UnknownArgument => text,
                _ => cli::as_typed(&error.render().to_string(), &typed),
            };
            let _ = write!(std::io::stderr(), "{text}");
            return ExitCode::from(EXIT_USAGE);
        }
        Err(error) => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
    };
    match cli.command {
        _ if cli.version => print_version(),
        Some(Command::Version) => print_version(),
        Some(Command::Validate(args)) => validate(&args),
        Some(Command::Agent(args)) => agent(&args),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "usage: vaultward agent -config=PATH | vaultward validate -config=PATH | vaultward version\n(see `vaultward --help`)"
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn print_version() -> ExitCode {
    let _ = writeln!(std::io::stdout(), "vaultward {}", env!("CARGO_PKG_VERSION"));
    ExitCode::SUCCESS
}

/// Prints problems to stderr, one per line, and the count.
fn print_problems(what: &str, problems: &[String]) {
    let mut stderr = std::io::stderr().lock();
    for problem in problems {
        let _ = writeln!(stderr, "error: {problem}");
    }
    let plural = if problems.len() == 1 { "" } else { "s" };
    let _ = writeln!(stderr, "{} problem{plural} found in {what}", problems.len());
}

fn load_config(paths: &[std::path::PathBuf]) -> Result<Config, Vec<String>> {
    let sources = load::read_sources(paths)?;
    vaultward_config::parse(&sources)
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let config = match load_config(&args.config) {
        Ok(config) => config,
        Err(problems) => {
            print_problems("the config", &problems);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Templates are compiled too; `source` files that are not readable here are reported.
    if let Err(problems) = run::compile_templates(&config.templates, config.template_config.engine)
    {
        print_problems(
            "the templates",
            &problems.lines().map(str::to_owned).collect::<Vec<_>>(),
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let _ = writeln!(
        std::io::stdout(),
        "The configuration is valid: 1 auth method, {}, {}.",
        count(config.auto_auth.sinks.len(), "sink", "sinks"),
        count(config.templates.len(), "template", "templates")
    );
    ExitCode::SUCCESS
}

/// The log level: `-log-level`, then `BAO_LOG_LEVEL`/`VAULT_LOG_LEVEL`, then `log_level`.
fn log_level(args: &AgentArgs, config: &Config) -> LogLevel {
    let env = |name: &str| std::env::var(name).ok();
    args.log_level
        .or_else(|| {
            settings::env_setting(&env, "LOG_LEVEL")
                .and_then(|(value, _)| logging::parse_level(&value))
        })
        .or_else(|| config.log_level.as_deref().and_then(logging::parse_level))
        .unwrap_or(LogLevel::Info)
}

fn agent(args: &AgentArgs) -> ExitCode {
    // The process holds tokens and secrets: no core dumps, and no ptrace or /proc/<pid>/mem
    // access by other processes of the same user.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let config = match load_config(&args.config) {
        Ok(config) => config,
        Err(problems) => {
            print_problems("the config", &problems);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let level = log_level(args, &config);
    let format = args
        .log_format
        .or_else(|| {
            settings::env_setting(&env, "LOG_FORMAT")
                .and_then(|(value, _)| logging::parse_format(&value))
        })
        .or_else(|| config.log_format.as_deref().and_then(logging::parse_format))
        .unwrap_or(LogFormat::Standard);
    let set_level = logging::init(level, format);
    // An unknown value in the environment does not stop the agent (the file or the default
    // applies), but it is said, since `-log-level=verbose` would be an error.
    for (name, known, flag_set) in [
        (
            "LOG_LEVEL",
            "trace, debug, info, warn or error",
            args.log_level.is_some(),
        ),
        ("LOG_FORMAT", "standard or json", args.log_format.is_some()),
    ] {
        if let Some((value, variable)) = settings::env_setting(&env, name)
            && !flag_set
        {
            let understood = if name == "LOG_LEVEL" {
                logging::parse_level(&value).is_some()
            } else {
                logging::parse_format(&value).is_some()
            };
            if !understood {
                tracing::warn!(
                    variable,
                    value,
                    "Ignoring {variable}: it is not one of {known}."
                );
            }
        }
    }

    let resolved = match settings::resolve(
        &config.vault,
        config.auto_auth.method.namespace.as_deref(),
        args,
        &env,
    ) {
        Ok(mut resolved) => {
            resolved.client.login_wrap_ttl = config.auto_auth.method.wrap_ttl;
            resolved
        }
        Err(problem) => {
            print_problems("the settings", &[problem]);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let exit_after_auth = args.exit_after_auth || config.exit_after_auth;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            print_problems(
                "the start-up",
                &[format!("cannot start the async runtime: {error}")],
            );
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let reload = daemon::Reload {
        load: Box::new({
            let paths = args.config.clone();
            let args = args.clone();
            move || {
                let config = load_config(&paths)?;
                let env = |name: &str| std::env::var(name).ok();
                let mut resolved = settings::resolve(
                    &config.vault,
                    config.auto_auth.method.namespace.as_deref(),
                    &args,
                    &env,
                )
                .map_err(|problem| vec![problem])?;
                resolved.client.login_wrap_ttl = config.auto_auth.method.wrap_ttl;
                Ok((config, resolved))
            }
        }),
        set_log_level: Box::new({
            let args = args.clone();
            move |config| set_level(log_level(&args, config))
        }),
    };
    let outcome = runtime.block_on(run::agent(config, resolved, exit_after_auth, reload));
    if exit_after_auth && outcome.is_ok() {
        // The job is done: every write was awaited, and the agent's state (tokens, secrets)
        // was dropped when it returned. The blocking pool's idle thread is not waited for,
        // which saves about a third of a millisecond on the init path. Otherwise the runtime
        // is dropped normally, so a write still in flight on that pool is finished first.
        runtime.shutdown_background();
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Stopped(_)) => ExitCode::SUCCESS,
        Err(Failure::Config(message)) => {
            print_problems(
                "the config",
                &message.lines().map(str::to_owned).collect::<Vec<_>>(),
            );
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Runtime(message)) => {
            // JSON logs get the failure as a log object too; plain logs would only repeat it.
            if format == LogFormat::Json {
                tracing::error!("{message}");
            }
            let _ = writeln!(std::io::stderr(), "error: {message}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
