//! The agent: config → auth → token → sinks and templates.
//!
//! [`agent`] reads as a checklist: resolve where the server is, write the pid file, build the
//! one HTTP client, compile every template and check that every sink and destination directory
//! is writable (so a broken start fails before a one-time secret_id is used), log in with backoff, write
//! every sink, render every template. With `exit_after_auth` it then returns; otherwise the
//! [`crate::daemon`] loop keeps the token and the files fresh until a signal arrives.
//!
//! Failures are sorted into [`Failure::Config`] (the user must fix a file or flag; exit 78)
//! and [`Failure::Runtime`] (the server or the environment failed; exit 1).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{debug, error, info, warn};
use vaultward_auth::{MethodLogin, Token, login_with_backoff};
use vaultward_config::{Config, Template, TemplateEngine, TemplateSource};
use vaultward_core::fs::{Ownership, WriteOutcome};
use vaultward_core::secret::{Zeroize, Zeroizing};
use vaultward_core::{Backoff, SecretString};
use vaultward_sink::FileSink;
use vaultward_template::{
    DestinationWrite, Engine, RenderFailure, Syntax, TemplateSpec, detect_syntax,
    write_destination, write_destinations,
};
use vaultward_vault::VaultClient;

use crate::settings::{Resolved, is_plain_http_to_remote};
use crate::source::VaultSource;

/// How many fsyncs of destination files run at the same time in a render of many templates.
const SYNCS_IN_FLIGHT: usize = 8;

/// How many times `exit_after_auth` tries to render a failing template before giving up.
pub const EXIT_AFTER_AUTH_RENDER_ATTEMPTS: u32 = 5;

/// Why the agent stopped with an error.
#[derive(Debug)]
pub enum Failure {
    /// A problem in the config or on the command line (exit 78).
    Config(String),
    /// A problem at run time: server, credentials, files (exit 1).
    Runtime(String),
    /// A stop signal arrived while the agent was busy (a login backoff, slow reads): not a
    /// failure, the agent stops as asked (exit 0).
    Stopped(&'static str),
}

/// Everything the agent runs with, built once at start.
pub struct Agent {
    /// The validated config.
    pub config: Config,
    /// The one HTTP client.
    pub client: VaultClient,
    /// Every sink.
    pub sinks: Vec<FileSink>,
    /// Compiled templates.
    pub engine: Engine,
    /// The auth method, with its cached credentials; taken by the token task of the
    /// long-running agent.
    pub method: Option<MethodLogin>,
    /// The login backoff.
    pub backoff: Backoff,
    /// The numeric owner of each template's destination (names resolved at start).
    pub template_owners: Vec<vaultward_core::fs::Ownership>,
}

/// Runs the agent until it is done (`exit_after_auth`) or told to stop.
pub async fn agent(
    config: Config,
    resolved: Resolved,
    exit_after_auth: bool,
    reload: crate::daemon::Reload,
) -> Result<(), Failure> {
    // First of all, so that an early SIGHUP or SIGTERM does not kill the process with the
    // default action and leave a pid file behind.
    let shutdown = Arc::new(
        crate::signals::Signals::install()
            .map_err(|e| Failure::Runtime(format!("cannot install signal handlers: {e}")))?,
    );
    info!(
        address = %resolved.client.address,
        "Using server {} (from {}).",
        resolved.client.address,
        resolved.address_source
    );
    if let Some(file_address) = &resolved.overridden_address {
        warn!(
            ignored = %file_address,
            "`vault.address` in the config is overridden by {}; the config's address is not used.",
            resolved.address_source
        );
    }
    if resolved.address_source == "the default" {
        warn!(
            "No server address is set, so the default is used; set `vault.address` in the config, BAO_ADDR or VAULT_ADDR, or -address if the server is elsewhere."
        );
    }
    if resolved.client.tls_skip_verify {
        warn!(
            "TLS verification of the server is disabled (tls_skip_verify); anyone on the path can read the token."
        );
    }
    if is_plain_http_to_remote(&resolved.client.address) {
        warn!(address = %resolved.client.address, "The server address is plain http:// to a non-loopback host; tokens and secrets cross the network unencrypted.");
    }
    let _pid_file = match &config.pid_file {
        Some(path) => Some(PidFile::create(path)?),
        None => None,
    };
    let mut agent = prepare(config, &resolved)?;

    let token = tokio::select! {
        token = login(&mut agent) => token?,
        signal = shutdown.stop() => {
            return interrupted(signal, exit_after_auth, "before the first login completed");
        }
    };
    let source = Arc::new(VaultSource::new(
        agent.client.clone(),
        token.secret.clone(),
        agent.config.vault.retries(),
    ));
    if exit_after_auth {
        let payloads = tokio::select! {
            payloads = sink_payloads(&agent.client, &agent.sinks, &token) => payloads,
            signal = shutdown.stop() => {
                return interrupted(signal, true, "while the token was wrapped for a sink");
            }
        };
        let mut render_backoff = Backoff::try_new(agent.backoff.min(), agent.backoff.max())
            .map_err(|error| Failure::Config(error.to_string()))?;
        let render = render_with_retries(
            &agent,
            &source,
            &mut render_backoff,
            EXIT_AFTER_AUTH_RENDER_ATTEMPTS,
        );
        tokio::pin!(render);
        // The sinks' durable writes (an fsync each) overlap the first secret reads, as Vault
        // Agent's sink and template servers also work on a new token at the same time: the
        // render sends its reads, and while the server answers them the sinks are written on
        // this thread (the answers wait in the socket). No thread is started for it.
        let early = tokio::select! {
            biased;
            signal = shutdown.stop() => {
                return interrupted(signal, true, "before every template was rendered");
            }
            rendered = &mut render => Some(rendered),
            () = requests_sent() => None,
        };
        // A failed sink fails the job at once, whatever the templates do.
        write_sink_payloads(&agent.sinks, &payloads)?;
        drop(payloads);
        let written = match early {
            Some(rendered) => rendered?,
            None => tokio::select! {
                rendered = &mut render => rendered?,
                signal = shutdown.stop() => {
                    return interrupted(signal, true, "before every template was rendered");
                }
            },
        };
        // Commands of changed files run before the exit, as Vault Agent runs them.
        tokio::select! {
            () = crate::commands::run_all(commands_of(&agent.config, &written)) => {}
            signal = shutdown.stop() => {
                return interrupted(signal, true, "while the template commands ran");
            }
        }
        info!("Every sink is written and every template rendered; exiting (exit_after_auth).");
        return Ok(());
    }
    tokio::select! {
        written = write_sinks(&agent.client, &agent.sinks, &token) => written?,
        signal = shutdown.stop() => {
            return interrupted(signal, false, "while the token was written to the sinks");
        }
    }
    crate::daemon::run(agent, token, source, shutdown, reload).await
}

/// Returns once the tasks woken so far have run: a request handed to the HTTP client has then
/// been written to its connection.
async fn requests_sent() {
    // Each yield lets the runtime run every task that is ready (the connection's writer).
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

/// A stop signal before the job was done: with `exit_after_auth` that is a failure (exit 1,
/// so `vaultward agent -exit-after-auth && start-app` does not start the app without its
/// secrets); a long-running agent just stops (exit 0).
fn interrupted(signal: &'static str, exit_after_auth: bool, when: &str) -> Result<(), Failure> {
    if exit_after_auth {
        Err(Failure::Runtime(format!(
            "stopped by {signal} {when}; the job is not complete"
        )))
    } else {
        info!(signal, "Shutting down {when}.");
        Ok(())
    }
}

/// Builds the client, sinks, templates and auth method; fails before any network call.
pub fn prepare(config: Config, resolved: &Resolved) -> Result<Agent, Failure> {
    let client =
        VaultClient::new(&resolved.client).map_err(|error| Failure::Config(error.to_string()))?;
    let sinks: Vec<FileSink> = config
        .auto_auth
        .sinks
        .iter()
        .map(FileSink::new)
        .collect::<Result<_, _>>()
        .map_err(Failure::Config)?;
    let template_owners = config
        .templates
        .iter()
        .map(|template| {
            vaultward_sink::resolve_owner(&template.owner)
                .map_err(|problem| format!("{}: {problem}", template_name(template)))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Config)?;
    // Config problems first (exit 78), then every unwritable place at once (exit 1).
    let engine = compile_templates(&config.templates, config.template_config.engine)
        .map_err(Failure::Config)?;
    let mut unwritable: Vec<String> = sinks
        .iter()
        .filter_map(|sink| sink.check_writable().err())
        .map(|error| error.to_string())
        .collect();
    unwritable.extend(destination_problems(&config.templates));
    if !unwritable.is_empty() {
        return Err(Failure::Runtime(unwritable.join("\n")));
    }
    engine.set_static_interval(config.template_config.static_secret_render_interval);
    let method =
        MethodLogin::new(&config.auto_auth.method, &resolved.client).map_err(Failure::Config)?;
    let backoff = Backoff::try_new(
        config.auto_auth.method.min_backoff,
        config.auto_auth.method.max_backoff,
    )
    .map_err(|error| Failure::Config(error.to_string()))?;
    Ok(Agent {
        config,
        client,
        sinks,
        engine,
        method: Some(method),
        backoff,
        template_owners,
    })
}

/// How messages name a template: its destination and where it is defined.
pub fn template_name(template: &Template) -> String {
    format!(
        "template for `{}` ({})",
        template.destination.display(),
        template.origin
    )
}

/// Reads `source` files and compiles every template; returns every problem at once.
pub fn compile_templates(
    templates: &[Template],
    default_engine: TemplateEngine,
) -> Result<Engine, String> {
    let mut problems = Vec::new();
    let mut specs = Vec::with_capacity(templates.len());
    for template in templates {
        let name = template_name(template);
        let text = match &template.source {
            TemplateSource::Contents(text) => text.clone(),
            TemplateSource::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(error) => {
                    problems.push(format!(
                        "{name}: cannot read the template source `{}`: {error}",
                        path.display()
                    ));
                    continue;
                }
            },
        };
        let source_path = match &template.source {
            TemplateSource::File(path) => Some(path.as_path()),
            TemplateSource::Contents(_) => None,
        };
        let engine = template.engine.unwrap_or(default_engine);
        let syntax = match engine {
            TemplateEngine::Go => Syntax::Go,
            TemplateEngine::Handlebars => Syntax::Handlebars,
            TemplateEngine::Auto => detect_syntax(&text, source_path),
        };
        let detected = engine == TemplateEngine::Auto;
        debug!(template = %name, ?syntax, detected, "Template syntax.");
        specs.push(TemplateSpec {
            name,
            text,
            error_on_missing_key: template.error_on_missing_key,
            syntax,
            detected,
            destination: Some(template.destination.clone()),
        });
    }
    // Compile what could be read, so one run reports every problem.
    match Engine::new(specs) {
        Ok(engine) if problems.is_empty() => Ok(engine),
        Ok(_) => Err(problems.join("\n")),
        Err(errors) => {
            problems.extend(errors.iter().map(ToString::to_string));
            Err(problems.join("\n"))
        }
    }
}

/// Checks, before any login, that every template destination can be written: its directory
/// exists (or is created when `create_dest_dirs`) and is writable, and the destination is not
/// a directory. A broken destination found after the login would have consumed a one-time
/// secret_id for nothing. Returns one message per problem found.
fn destination_problems(templates: &[Template]) -> Vec<String> {
    let mut problems = Vec::new();
    // Each directory is checked once, however many templates write into it (a render of a
    // thousand files into one directory must not scan it a thousand times).
    let mut directories: HashMap<PathBuf, Vec<&Template>> = HashMap::new();
    for template in templates {
        let name = template_name(template);
        let destination = &template.destination;
        if let Err(error) = vaultward_core::fs::check_replaceable(destination) {
            problems.push(format!(
                "{name}: cannot use the destination `{}`: {error}",
                destination.display()
            ));
            continue;
        }
        let directory = match destination.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        directories.entry(directory).or_default().push(template);
    }
    let mut ordered: Vec<_> = directories.into_iter().collect();
    ordered.sort_by(|a, b| a.0.cmp(&b.0));
    for (directory, users) in ordered {
        let name = template_name(users[0]);
        // One look at the directory: there and a directory, missing (created below), or in
        // the way of one (a file, a dangling link, an unsearchable parent).
        let exists = match std::fs::metadata(&directory) {
            Ok(metadata) if metadata.is_dir() => true,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
            looked => {
                let error = looked
                    .err()
                    .unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotADirectory));
                problems.push(format!(
                    "{name}: cannot reach the directory `{}`: {}",
                    directory.display(),
                    unreachable_directory(&directory, &error)
                ));
                continue;
            }
        };
        if !exists {
            if !users.iter().all(|template| template.create_dest_dirs) {
                problems.push(format!(
                    "{name}: the directory `{}` does not exist (and create_dest_dirs is false)",
                    directory.display()
                ));
                continue;
            }
            use std::os::unix::fs::DirBuilderExt;
            if let Err(error) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&directory)
            {
                problems.push(format!(
                    "{name}: cannot create the directory `{}`: {}",
                    directory.display(),
                    unreachable_directory(&directory, &error)
                ));
                continue;
            }
        }
        if let Err(error) = vaultward_core::fs::check_directory_writable(&directory) {
            problems.push(format!(
                "{name}: the directory `{}` is not writable: {error}",
                directory.display()
            ));
            continue;
        }
        let names: Vec<&std::ffi::OsStr> = users
            .iter()
            .filter_map(|template| template.destination.file_name())
            .collect();
        vaultward_core::fs::remove_stale_temporary_files(&directory, &names);
    }
    problems
}

/// Why `directory` cannot be looked at or created, and what to do: `error` is what the attempt
/// gave.
fn unreachable_directory(directory: &Path, error: &std::io::Error) -> String {
    if let Some(problem) = vaultward_core::fs::path_problem(directory) {
        return format!("{problem}; fix the destination's path or what is in its way");
    }
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => {
            format!("{error} (is every directory above it searchable?)")
        }
        _ => error.to_string(),
    }
}

async fn login(agent: &mut Agent) -> Result<Token, Failure> {
    let exit_on_err = agent.config.auto_auth.method.exit_on_err;
    let Some(method) = agent.method.as_mut() else {
        return Err(Failure::Runtime(
            "the auth method is already in use by the token task".to_owned(),
        ));
    };
    login_with_backoff(method, &agent.client, &mut agent.backoff, exit_on_err)
        .await
        .map_err(|error| {
            Failure::Runtime(vaultward_auth::describe_final_failure(&error, exit_on_err))
        })
}

/// What each sink receives for `token`: the token itself, or for a sink with `wrap_ttl` the
/// wrap-info JSON of a new response-wrapping token for it (a fresh one for every token, as
/// Vault Agent does). `Err` holds why a sink gets nothing this time.
pub async fn sink_payloads(
    client: &VaultClient,
    sinks: &[FileSink],
    token: &Token,
) -> Vec<Result<SecretString, String>> {
    let mut payloads = Vec::with_capacity(sinks.len());
    for sink in sinks {
        payloads.push(match sink.wrap_ttl() {
            None => Ok(token.secret.clone()),
            Some(ttl) => client
                .wrap_token(&token.secret, ttl)
                .await
                .map_err(|error| {
                    format!(
                        "cannot wrap the token for the sink `{}` (wrap_ttl): {error}",
                        sink.path().display()
                    )
                }),
        });
    }
    payloads
}

/// Writes each sink's payload; a sink that fails is reported, the others are still written.
pub fn write_sink_payloads(
    sinks: &[FileSink],
    payloads: &[Result<SecretString, String>],
) -> Result<(), Failure> {
    let mut failures = Vec::new();
    for (sink, payload) in sinks.iter().zip(payloads) {
        let payload = match payload {
            Ok(payload) => payload,
            Err(problem) => {
                error!(error = %problem, "Could not write the token sink.");
                failures.push(problem.clone());
                continue;
            }
        };
        match sink.write(payload) {
            Ok(WriteOutcome::Written) => {
                info!(path = %sink.path().display(), "Wrote the token to the sink.")
            }
            Ok(WriteOutcome::Unchanged) => {
                debug!(path = %sink.path().display(), "The sink already holds this token.")
            }
            Err(failure) => {
                error!(error = %failure, "Could not write the token sink.");
                failures.push(failure.to_string());
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::Runtime(failures.join("\n")))
    }
}

/// Writes `token` to every sink (wrapped or encrypted as each sink asks).
pub async fn write_sinks(
    client: &VaultClient,
    sinks: &[FileSink],
    token: &Token,
) -> Result<(), Failure> {
    let payloads = sink_payloads(client, sinks, token).await;
    write_sink_payloads(sinks, &payloads)
}

/// Renders `indices` once and writes their destinations; returns the failures.
pub async fn render_and_write(
    agent: &Agent,
    source: &Arc<VaultSource>,
    indices: &[usize],
) -> Rendered {
    let mut rendered = Rendered::default();
    let mut outputs = Vec::new();
    for (index, result) in agent.engine.render(indices, source).await {
        match result {
            Ok(text) => outputs.push((index, text)),
            Err(failure) => rendered.failures.push((index, failure)),
        }
    }
    let mut record =
        |index: usize, outcome: Result<WriteOutcome, vaultward_core::fs::WriteError>| {
            let template = &agent.config.templates[index];
            match outcome {
                Ok(WriteOutcome::Written) => {
                    info!(destination = %template.destination.display(), "Rendered the template.");
                    rendered.written.push(index);
                }
                Ok(WriteOutcome::Unchanged) => {
                    debug!(destination = %template.destination.display(), "The template's output is unchanged; nothing written.");
                    rendered.unchanged.push(index);
                }
                Err(error) => rendered.failures.push((
                    index,
                    RenderFailure {
                        template: template_name(template),
                        message: error.to_string(),
                        retryable: true,
                    },
                )),
            }
        };
    if outputs.len() <= 1 {
        // One file: no thread hand-off on the init path.
        for (index, text) in outputs {
            let text = Zeroizing::new(text);
            let template = &agent.config.templates[index];
            record(
                index,
                write_destination(
                    &template.destination,
                    &text,
                    template.perms,
                    template.create_dest_dirs,
                    agent
                        .template_owners
                        .get(index)
                        .copied()
                        .unwrap_or_default(),
                ),
            );
        }
    } else {
        // Many files: created one by one, fsynced a few at a time (the filesystem groups the
        // journal commits), renamed in place; off the runtime's threads.
        let jobs: Vec<(usize, PathBuf, String, Option<u32>, bool, Ownership)> = outputs
            .into_iter()
            .filter_map(|(index, text)| {
                let template = agent.config.templates.get(index)?;
                let owner = agent
                    .template_owners
                    .get(index)
                    .copied()
                    .unwrap_or_default();
                Some((
                    index,
                    template.destination.clone(),
                    text,
                    template.perms,
                    template.create_dest_dirs,
                    owner,
                ))
            })
            .collect();
        let batch = tokio::task::spawn_blocking(move || {
            let mut jobs = jobs;
            let writes: Vec<DestinationWrite<'_>> = jobs
                .iter()
                .map(
                    |(_, destination, text, perms, create_dest_dirs, owner)| DestinationWrite {
                        destination,
                        contents: text,
                        perms: *perms,
                        create_dest_dirs: *create_dest_dirs,
                        owner: *owner,
                    },
                )
                .collect();
            let outcomes = write_destinations(&writes, SYNCS_IN_FLIGHT);
            drop(writes);
            jobs.iter_mut()
                .map(|(index, _, text, ..)| {
                    text.zeroize();
                    *index
                })
                .zip(outcomes)
                .collect::<Vec<_>>()
        })
        .await;
        match batch {
            Ok(outcomes) => {
                for (index, outcome) in outcomes {
                    record(index, outcome);
                }
            }
            Err(join_error) => warn!(error = %join_error, "The file write task failed."),
        }
    }
    rendered.written.sort_unstable();
    rendered.unchanged.sort_unstable();
    rendered.failures.sort_by_key(|(index, _)| *index);
    rendered
}

/// What one render pass did.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Templates whose destination was written (changed).
    pub written: Vec<usize>,
    /// Templates whose output was already on disk.
    pub unchanged: Vec<usize>,
    /// Templates that could not be rendered or written.
    pub failures: Vec<(usize, RenderFailure)>,
}

/// Renders every template, retrying failures up to `attempts` times with backoff.
async fn render_with_retries(
    agent: &Agent,
    source: &Arc<VaultSource>,
    backoff: &mut Backoff,
    attempts: u32,
) -> Result<Vec<usize>, Failure> {
    let mut pending: Vec<usize> = (0..agent.engine.len()).collect();
    let mut written = Vec::new();
    for attempt in 1..=attempts {
        let rendered = render_and_write(agent, source, &pending).await;
        written.extend(rendered.written);
        let failures = rendered.failures;
        if failures.is_empty() {
            return Ok(written);
        }
        let give_up = attempt == attempts || failures.iter().all(|(_, failure)| !failure.retryable);
        if give_up {
            let tried = if attempt == 1 {
                "once".to_owned()
            } else {
                format!("{attempt} times")
            };
            let details: Vec<String> = failures
                .iter()
                .map(|(_, failure)| failure.to_string())
                .collect();
            return Err(Failure::Runtime(format!(
                "{} template(s) could not be rendered (tried {tried}):\n{}",
                failures.len(),
                details.join("\n")
            )));
        }
        let delay = backoff.next_delay();
        for (_, failure) in &failures {
            warn!(error = %failure, attempt, retry_in = ?delay, "Template could not be rendered; retrying.");
        }
        tokio::time::sleep(delay).await;
        agent.engine.clear_cache();
        pending = failures.into_iter().map(|(index, _)| index).collect();
    }
    Ok(written)
}

/// The commands of the templates at `indices`, with the templates' names.
pub fn commands_of(
    config: &Config,
    indices: &[usize],
) -> Vec<(vaultward_config::TemplateCommand, String)> {
    indices
        .iter()
        .filter_map(|index| {
            let template = config.templates.get(*index)?;
            Some((template.command.clone()?, template_name(template)))
        })
        .collect()
}

/// The pid file: written at start, removed when dropped (at exit, on success or failure).
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    fn create(path: &Path) -> Result<Self, Failure> {
        vaultward_core::fs::write_atomic(path, std::process::id().to_string().as_bytes(), 0o644)
            .map_err(|error| Failure::Runtime(format!("cannot write the pid file: {error}")))?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %self.path.display(), %error, "Could not remove the pid file.");
        }
    }
}
