//! The long-running agent (sidecar, systemd service): keep the token alive and files fresh.
//!
//! Two tasks, each waiting on a closed set of events; nothing is polled, so an idle agent
//! sleeps until the next scheduled event:
//!
//! - The **token task** ([`crate::token`]) renews the token and logs in again, writes every new
//!   token to the sinks and publishes it on a `watch` channel. It runs on its own, so a slow
//!   or failing secret read never delays a renewal.
//! - The **render loop** (here) waits on:
//!   - **a new token**: reads that hold a lease (which belonged to the old token) are read
//!     again; static secrets stay cached (a KV value does not depend on the token), so a new
//!     token causes no re-read storm;
//!   - **the secret timer**: each cached read has its own due time (see `vaultward-template`):
//!     renewable leases are renewed at about two thirds, other leases read again at about
//!     90 %, static secrets within `static_secret_render_interval`; only the templates that use
//!     a refreshed read are rendered again, and a file is written (and its command run) only
//!     when its content changed;
//!   - **the retry timer**: a failing template is retried alone, with its own backoff; a read
//!     refused with 403 makes the agent check its token (`lookup-self`) and ask the token task
//!     for a fresh login if the token is gone;
//!   - **files**: role_id/secret_id and template sources are watched ([`crate::watch`]); new
//!     credentials lead to a fresh login, an edited template source to a reload;
//!   - **signals**: SIGHUP reloads the whole config (an invalid one is rejected and the old one
//!     keeps running); SIGTERM/SIGINT stop, even in the middle of a render, after in-flight
//!     commands unless a second signal arrives.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};
use vaultward_auth::Token;
use vaultward_config::{Config, TemplateSource};
use vaultward_sink::FileSink;
use vaultward_template::DueAction;

use crate::commands::Runner;
use crate::run::{Agent, Failure, Rendered, render_and_write};
use crate::settings::Resolved;
use crate::signals::{SignalEvent, Signals};
use crate::source::VaultSource;
use crate::token::{Control, TokenTask, later};
use crate::watch::{FileKind, FileWatch};

/// How often watched files are re-read even without an event, when some directory could not
/// be watched (NFS, some overlay filesystems)…
const FILE_CHECK_FALLBACK: Duration = Duration::from_secs(60);
/// …and when every directory is watched: a rare safety net, not a polling loop.
const FILE_CHECK_SAFETY_NET: Duration = Duration::from_secs(600);
/// How long to wait after a file event before reading the files (events come in bursts).
const FILE_DEBOUNCE: Duration = Duration::from_millis(250);

/// Reads, parses and resolves the config files named on the command line.
pub type Loader = Box<dyn Fn() -> Result<(Config, Resolved), Vec<String>>>;

/// How to reload: load and validate the config files again, and set the log level.
pub struct Reload {
    /// Reads, parses and resolves the config files named on the command line.
    pub load: Loader,
    /// Applies a new config's `log_level` (flags and environment still win).
    pub set_log_level: Box<dyn Fn(&Config)>,
}

/// A time far enough away to mean "never".
fn never() -> Instant {
    later(Duration::MAX)
}

struct Daemon {
    agent: Agent,
    source: Arc<VaultSource>,
    /// The current token, as published by the token task.
    tokens: watch::Receiver<Token>,
    /// Asks the token task for a login, or gives it new sinks after a reload.
    token_control: mpsc::UnboundedSender<Control>,
    /// Failing templates: when to retry each, and its own backoff.
    retries: HashMap<usize, (Instant, vaultward_core::Backoff, u32)>,
    files: FileWatch,
    files_check_at: Instant,
    commands: Runner,
    /// Watched while rendering, so a stop signal is never kept waiting.
    signals: Arc<Signals>,
    /// A login was asked of the token task and no new token has come since: do not ask again
    /// (a failing template retried every second would otherwise queue a login each time).
    login_pending: bool,
}

/// The files to watch: the auth method's credential files and the template sources.
fn watched_files(config: &Config, credentials: Vec<PathBuf>) -> Vec<(PathBuf, FileKind)> {
    let mut files: Vec<(PathBuf, FileKind)> = credentials
        .into_iter()
        .map(|path| (path, FileKind::Credential))
        .collect();
    for template in &config.templates {
        if let TemplateSource::File(path) = &template.source {
            files.push((path.clone(), FileKind::TemplateSource));
        }
    }
    files
}

/// Runs until a stop signal; the first token is already in the sinks.
pub async fn run(
    mut agent: Agent,
    token: Token,
    source: Arc<VaultSource>,
    signals: Arc<Signals>,
    reload: Reload,
) -> Result<(), Failure> {
    let (commands, command_task) = Runner::start();
    // The token task owns logging in from now on.
    let Some(method) = agent.method.take() else {
        return Err(Failure::Runtime(
            "the auth method is already in use by the token task".to_owned(),
        ));
    };
    let files = FileWatch::new(watched_files(&agent.config, method.credential_files()));
    let daemon_files_complete = files.complete;
    let (token_task, tokens) = TokenTask::new(
        method,
        agent.client.clone(),
        agent.backoff.clone(),
        agent.sinks.clone(),
        agent.config.auto_auth.method.exit_on_err,
        token,
    );
    let (token_control, control) = mpsc::unbounded_channel();
    let mut token_task = tokio::spawn(token_task.run(control));
    let mut daemon = Daemon {
        agent,
        source,
        tokens,
        token_control,
        retries: HashMap::new(),
        files,
        files_check_at: later(if daemon_files_complete {
            FILE_CHECK_SAFETY_NET
        } else {
            FILE_CHECK_FALLBACK
        }),
        commands,
        signals: Arc::clone(&signals),
        login_pending: false,
    };
    let outcome = tokio::select! {
        outcome = daemon.first_render_then_loop(&reload) => outcome,
        joined = &mut token_task => match joined {
            Ok(Err(failure)) => Err(failure),
            Ok(Ok(())) | Err(_) => Err(Failure::Runtime("the token task stopped unexpectedly".to_owned())),
        },
    };
    token_task.abort();
    let outcome = match outcome {
        Err(Failure::Stopped(signal)) => {
            info!(signal, "Shutting down.");
            Ok(())
        }
        other => other,
    };
    crate::systemd::notify("STOPPING=1");
    // Let a command that is running finish (bounded by its timeout), unless a second signal
    // says to stop now.
    drop(daemon);
    tokio::select! {
        _ = command_task => {}
        event = signals.next() => {
            if let SignalEvent::Stop(signal) = event {
                warn!(signal, "Second signal: stopping without waiting for running commands.");
            }
        }
    }
    outcome
}

impl Daemon {
    async fn first_render_then_loop(&mut self, reload: &Reload) -> Result<(), Failure> {
        let all: Vec<usize> = (0..self.agent.engine.len()).collect();
        self.render(&all).await?;
        crate::systemd::notify("READY=1");
        if self.agent.engine.is_empty() {
            info!("Token written; keeping it fresh.");
        } else {
            info!("Initial render done; keeping the token and templates fresh.");
        }
        let signals = Arc::clone(&self.signals);
        self.event_loop(&signals, reload).await
    }

    async fn event_loop(&mut self, signals: &Signals, reload: &Reload) -> Result<(), Failure> {
        loop {
            let secret_at = self.agent.engine.next_due().unwrap_or_else(never);
            let retry_at = self
                .retries
                .values()
                .map(|(at, ..)| *at)
                .min()
                .unwrap_or_else(never);
            tokio::select! {
                event = signals.next() => match event {
                    SignalEvent::Stop(signal) => return Err(Failure::Stopped(signal)),
                    SignalEvent::Reload => self.reload(reload).await?,
                },
                Ok(()) = self.tokens.changed() => self.on_new_token().await?,
                () = sleep_until(secret_at) => self.on_secrets_due().await?,
                () = sleep_until(retry_at) => self.on_retry().await?,
                Some(()) = self.files.events.recv() => {
                    self.files_check_at = self.files_check_at.min(later(FILE_DEBOUNCE));
                }
                () = sleep_until(self.files_check_at) => self.on_files_check(reload).await?,
            }
        }
    }

    /// A new token: read with it, re-read what held a lease, retry what failed.
    async fn on_new_token(&mut self) -> Result<(), Failure> {
        let token = self.tokens.borrow_and_update().clone();
        self.login_pending = false;
        self.source.set_token(token.secret);
        // The login may have consumed the credential files: what is on disk now is the new
        // baseline, so the watcher does not ask for another login with them.
        let _ = self.files.changed();
        let mut indices = self.agent.engine.invalidate_leased();
        self.agent.engine.forget_failures();
        indices.extend(self.retries.keys().copied());
        indices.sort_unstable();
        indices.dedup();
        if indices.is_empty() {
            Ok(())
        } else {
            self.render(&indices).await
        }
    }

    fn ask_for_login(&mut self, reason: &'static str) {
        if std::mem::replace(&mut self.login_pending, true) {
            return;
        }
        if self
            .token_control
            .send(Control::Relogin(reason, tokio::time::Instant::now()))
            .is_err()
        {
            warn!("The token task has stopped; cannot log in again.");
        }
    }

    async fn on_secrets_due(&mut self) -> Result<(), Failure> {
        // Reads due soon are refreshed together with the ones due now: one wake-up instead of
        // a burst of them, since every read has its own jittered schedule.
        let slack = (self
            .agent
            .config
            .template_config
            .static_secret_render_interval
            / 10)
            .min(Duration::from_secs(30));
        let due = self.agent.engine.due(later(slack));
        let mut refetch = Vec::new();
        for item in due {
            match item.action {
                DueAction::Refetch => refetch.push(item.request),
                DueAction::Renew(lease) => {
                    use vaultward_template::SecretSource;
                    match self.source.renew(&lease).await {
                        Ok(renewed) => {
                            debug!(lease = %lease.id, ttl = ?renewed.duration, "Renewed a secret's lease.");
                            self.agent.engine.renewed(&item.request, renewed);
                        }
                        Err(renew_error) => {
                            debug!(error = %renew_error.message, "A lease could not be renewed; reading the secret again.");
                            refetch.push(item.request);
                        }
                    }
                }
            }
        }
        if refetch.is_empty() {
            return Ok(());
        }
        debug!(paths = ?refetch.iter().map(|r| r.path()).collect::<Vec<_>>(), "Reading due secrets again.");
        let mut indices = self.agent.engine.invalidate(&refetch);
        // A template not rendered since (it failed) keeps its own retry schedule.
        indices.retain(|index| !self.retries.contains_key(index));
        self.render(&indices).await
    }

    async fn on_retry(&mut self) -> Result<(), Failure> {
        let now = Instant::now();
        let due: Vec<usize> = self
            .retries
            .iter()
            .filter(|(_, (at, ..))| *at <= now)
            .map(|(index, _)| *index)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        self.agent.engine.forget_failures();
        self.agent.engine.forget_reads_of(&due);
        self.render(&due).await
    }

    /// Renders `indices`, writes what changed, runs commands, schedules retries.
    async fn render(&mut self, indices: &[usize]) -> Result<(), Failure> {
        let signals = Arc::clone(&self.signals);
        // Cancelling is safe: reads happen before any write, and writes do not await.
        let rendered = tokio::select! {
            rendered = render_and_write(&self.agent, &self.source, indices) => rendered,
            signal = signals.stop() => return Err(Failure::Stopped(signal)),
        };
        self.after_render(rendered).await
    }

    async fn after_render(&mut self, rendered: Rendered) -> Result<(), Failure> {
        let Rendered {
            written,
            unchanged,
            failures,
        } = rendered;
        for index in written.iter().chain(&unchanged) {
            self.retries.remove(index);
        }
        let commands = crate::run::commands_of(&self.agent.config, &written);
        if !commands.is_empty() {
            self.commands.submit(commands);
        }
        if failures.is_empty() {
            return Ok(());
        }
        if self.agent.config.template_config.exit_on_retry_failure {
            // As Vault Agent: a failure that may pass (a missing secret, a refused read, a
            // missing key) is retried `vault.retry.num_retries` times first; a mistake in the
            // template is final at once.
            let limit = self.agent.config.vault.retries();
            let exhausted: Vec<String> = failures
                .iter()
                .filter(|(index, failure)| {
                    !failure.retryable
                        || self.retries.get(index).map_or(0, |(.., tried)| *tried) >= limit
                })
                .map(|(_, failure)| failure.to_string())
                .collect();
            if !exhausted.is_empty() {
                return Err(Failure::Runtime(format!(
                    "{} could not be rendered (retried up to {limit} times) and exit_on_retry_failure is set:\n{}",
                    if exhausted.len() == 1 {
                        "1 template".to_owned()
                    } else {
                        format!("{} templates", exhausted.len())
                    },
                    exhausted.join("\n")
                )));
            }
        }
        let denied = self
            .agent
            .engine
            .failed_reads()
            .iter()
            .any(|(_, fetch_error)| fetch_error.denied);
        // A refusal because the token itself is gone is not the templates' fault: say that
        // once, instead of "check the token's policies" for every template.
        let token_gone = denied && !self.login_pending && self.token_is_gone().await;
        for (index, failure) in &failures {
            let base = &self.agent.backoff;
            let entry = self.retries.entry(*index).or_insert_with(|| {
                let mut backoff = base.clone();
                backoff.reset();
                (Instant::now(), backoff, 0)
            });
            let delay = entry.1.next_delay();
            entry.0 = later(delay);
            entry.2 += 1;
            if token_gone {
                debug!(error = %failure, retry_in = ?delay, "Template could not be rendered with the refused token; it will be retried.");
            } else {
                warn!(error = %failure, retry_in = ?delay, "Template could not be rendered; it will be retried.");
            }
        }
        if token_gone {
            warn!(
                "A read was refused because the token is no longer valid (revoked?); logging in again now."
            );
            self.ask_for_login("the token was refused on a read");
        }
        Ok(())
    }

    /// True when the server refuses the current token itself.
    async fn token_is_gone(&self) -> bool {
        let token = self.tokens.borrow().secret.clone();
        matches!(self.agent.client.lookup_self(&token).await, Err(lookup_error) if lookup_error.is_permission_denied())
    }

    async fn on_files_check(&mut self, reload: &Reload) -> Result<(), Failure> {
        self.files_check_at = later(if self.files.complete {
            FILE_CHECK_SAFETY_NET
        } else {
            FILE_CHECK_FALLBACK
        });
        let changed = self.files.changed();
        if changed.contains(&FileKind::TemplateSource) {
            info!("A template source file changed; reloading.");
            self.reload(reload).await?;
        }
        if changed.contains(&FileKind::Credential) {
            info!(
                method = self.agent.config.auto_auth.method.kind.type_name(),
                "New credentials appeared; logging in with them."
            );
            if self.token_control.send(Control::NewCredentials).is_err() {
                warn!("The token task has stopped; cannot log in again.");
            }
        }
        Ok(())
    }

    /// SIGHUP: load the config again and apply it without dropping the token.
    async fn reload(&mut self, reload: &Reload) -> Result<(), Failure> {
        crate::systemd::notify("RELOADING=1");
        info!("Reloading the configuration.");
        let result = match (reload.load)() {
            Err(problems) => Err(problems),
            Ok((config, resolved)) => {
                crate::run::prepare(config, &resolved).map_err(|failure| match failure {
                    Failure::Stopped(_) => Vec::new(),
                    Failure::Config(message) | Failure::Runtime(message) => {
                        message.lines().map(str::to_owned).collect()
                    }
                })
            }
        };
        let new_agent = match result {
            Ok(new_agent) => new_agent,
            Err(problems) => {
                for problem in &problems {
                    error!(problem = %problem, "The new configuration is invalid; keeping the running one.");
                }
                crate::systemd::notify("READY=1");
                return Ok(());
            }
        };
        (reload.set_log_level)(&new_agent.config);
        for (what, changed) in [
            (
                "pid_file",
                new_agent.config.pid_file != self.agent.config.pid_file,
            ),
            (
                "log_format",
                new_agent.config.log_format != self.agent.config.log_format,
            ),
            (
                "exit_after_auth",
                new_agent.config.exit_after_auth != self.agent.config.exit_after_auth,
            ),
        ] {
            if changed {
                warn!(
                    setting = what,
                    "This setting changed but applies only at start; restart the agent to use it."
                );
            }
        }
        let auth_changed = new_agent.config.auto_auth.method != self.agent.config.auto_auth.method
            || new_agent.config.vault != self.agent.config.vault;
        let old = std::mem::replace(&mut self.agent, new_agent);
        // Keep what was read, so unchanged templates need no read and write nothing.
        self.agent.engine.adopt_cache(old.engine.take_cache());
        let sinks: Vec<FileSink> = self.agent.sinks.clone();
        let _ = self.token_control.send(Control::SetSinks(sinks));
        let credentials = self
            .agent
            .method
            .as_ref()
            .map(|method| method.credential_files())
            .unwrap_or_default();
        if auth_changed && let Some(method) = self.agent.method.take() {
            let _ = self.token_control.send(Control::SetMethod(
                Box::new(method),
                self.agent.client.clone(),
                self.agent.backoff.clone(),
            ));
        }
        self.files = FileWatch::new(watched_files(&self.agent.config, credentials));
        self.retries.clear();
        let token = self.tokens.borrow().secret.clone();
        self.source = Arc::new(VaultSource::new(
            self.agent.client.clone(),
            token,
            self.agent.config.vault.retries(),
        ));
        let all: Vec<usize> = (0..self.agent.engine.len()).collect();
        self.render(&all).await?;
        info!(
            templates = all.len(),
            sinks = self.agent.config.auto_auth.sinks.len(),
            "Reloaded the configuration."
        );
        crate::systemd::notify("READY=1");
        Ok(())
    }
}
