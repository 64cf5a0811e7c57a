//! The long-running agent (sidecar, systemd service): keep the token alive and files fresh.
//!
//! One loop waits on a closed set of events; nothing is polled, so an idle agent sleeps until
//! the next scheduled event:
//!
//! - **Token timer.** A renewable token is renewed at about two thirds of its TTL (jittered).
//!   When a renewal returns less than the token's normal TTL, its max TTL is near: the agent
//!   logs in again when a third of a normal TTL is left, so the sink never holds an expired
//!   token. Non-renewable (batch) tokens are replaced the same way. A 403 on renewal means the
//!   token is gone: log in at once; other renewal errors are retried with backoff.
//! - **Secret timer.** Each cached read has its own due time (see `vaultward-template`):
//!   renewable leases are renewed at about two thirds, other leases re-read at about 90 %,
//!   static secrets re-read within `static_secret_render_interval`. Only the templates that use
//!   a refreshed read are rendered again, and a file is written (and its command run) only when
//!   its content changed.
//! - **Retry timer.** A failing template is retried alone, with its own backoff; the others
//!   are untouched. A read refused with 403 makes the agent check its token
//!   (`lookup-self`); if the token is gone it logs in at once.
//! - **New token.** Written to every sink. Static secrets stay cached (a KV value does not
//!   depend on the token), so a new token causes no re-read storm; reads holding a lease (which
//!   belonged to the old token) are read again.
//! - **Files.** role_id/secret_id and template sources are watched (see [`crate::watch`]); a new
//!   secret_id or role_id leads to a fresh login, an edited template source to a reload.
//! - **Signals.** SIGHUP reloads the whole config (an invalid one is rejected and the old one
//!   keeps running); SIGTERM/SIGINT stop after in-flight commands, a second signal at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};
use vaultward_auth::Token;
use vaultward_config::{Config, MethodKind, TemplateSource};
use vaultward_sink::FileSink;
use vaultward_template::DueAction;

use crate::commands::Runner;
use crate::run::{Agent, Failure, Rendered, render_and_write, write_sinks};
use crate::settings::Resolved;
use crate::signals::{SignalEvent, Signals};
use crate::source::VaultSource;
use crate::watch::{FileKind, FileWatch};

/// How often watched files are re-read even without an event.
const FILE_CHECK_FALLBACK: Duration = Duration::from_secs(60);
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
    Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600)
}

/// `duration` scaled by a random factor in `[low, high)`.
fn jittered(duration: Duration, low: f64, high: f64) -> Duration {
    duration.mul_f64(rand::rng().random_range(low..high))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TokenStep {
    Renew,
    Relogin,
}

struct Daemon {
    agent: Agent,
    source: Arc<VaultSource>,
    token: Token,
    /// The TTL a fresh token gets; a renewal returning less means its max TTL is near.
    normal_ttl: Duration,
    token_at: Instant,
    token_step: TokenStep,
    /// When the current token expires, as far as we know.
    token_expires: Instant,
    /// Failing templates: when to retry each, and its own backoff.
    retries: HashMap<usize, (Instant, vaultward_core::Backoff)>,
    files: FileWatch,
    files_check_at: Instant,
    commands: Runner,
    /// Watched while logging in and rendering, so a stop signal is never kept waiting.
    signals: Arc<Signals>,
}

/// The files to watch for a config.
fn watched_files(config: &Config) -> Vec<(PathBuf, FileKind)> {
    let MethodKind::AppRole(approle) = &config.auto_auth.method.kind;
    let mut files = vec![(approle.role_id_file_path.clone(), FileKind::RoleId)];
    if let Some(path) = &approle.secret_id_file_path {
        files.push((path.clone(), FileKind::SecretId));
    }
    for template in &config.templates {
        if let TemplateSource::File(path) = &template.source {
            files.push((path.clone(), FileKind::TemplateSource));
        }
    }
    files
}

/// Runs until a stop signal; the first token is already in the sinks.
pub async fn run(
    agent: Agent,
    token: Token,
    source: Arc<VaultSource>,
    signals: Arc<Signals>,
    reload: Reload,
) -> Result<(), Failure> {
    let (commands, command_task) = Runner::start();
    let files = FileWatch::new(watched_files(&agent.config));
    let now = Instant::now();
    let mut daemon = Daemon {
        normal_ttl: token.lease_duration,
        token_at: now,
        token_step: TokenStep::Renew,
        token_expires: now + token.lease_duration,
        agent,
        source,
        token,
        retries: HashMap::new(),
        files,
        files_check_at: now + FILE_CHECK_FALLBACK,
        commands,
        signals: Arc::clone(&signals),
    };
    daemon.describe_token().await;
    daemon.schedule_token(daemon.token.lease_duration, daemon.token.renewable);

    let outcome = match daemon.first_render_then_loop(&reload).await {
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
        info!("Initial render done; keeping the token and templates fresh.");
        let signals = Arc::clone(&self.signals);
        self.event_loop(&signals, reload).await
    }

    async fn event_loop(&mut self, signals: &Signals, reload: &Reload) -> Result<(), Failure> {
        loop {
            let secret_at = self.agent.engine.next_due().unwrap_or_else(never);
            let retry_at = self
                .retries
                .values()
                .map(|(at, _)| *at)
                .min()
                .unwrap_or_else(never);
            tokio::select! {
                event = signals.next() => match event {
                    SignalEvent::Stop(signal) => {
                        info!(signal, "Shutting down.");
                        return Ok(());
                    }
                    SignalEvent::Reload => self.reload(reload).await?,
                },
                () = sleep_until(self.token_at) => self.on_token_timer().await?,
                () = sleep_until(secret_at) => self.on_secrets_due().await?,
                () = sleep_until(retry_at) => self.on_retry().await?,
                Some(()) = self.files.events.recv() => {
                    self.files_check_at = self.files_check_at.min(Instant::now() + FILE_DEBOUNCE);
                }
                () = sleep_until(self.files_check_at) => self.on_files_check(reload).await?,
            }
        }
    }

    /// Logs what the server says about the token (type, TTL, renewable).
    async fn describe_token(&self) {
        match self.agent.client.lookup_self(&self.token.secret).await {
            Ok(response) => {
                let data = &response["data"];
                debug!(
                    accessor = %self.token.accessor,
                    kind = data["type"].as_str().unwrap_or_default(),
                    ttl = data["ttl"].as_u64().unwrap_or(0),
                    renewable = data["renewable"].as_bool().unwrap_or(false),
                    expire_time = data["expire_time"].as_str().unwrap_or_default(),
                    "Looked up the token."
                );
            }
            Err(lookup_error) => debug!(error = %lookup_error, "Could not look the token up."),
        }
    }

    /// Plans the next token step from a fresh lease.
    fn schedule_token(&mut self, lease: Duration, renewable: bool) {
        let now = Instant::now();
        if lease.is_zero() {
            // A token that never expires (e.g. root-like): nothing to do.
            self.token_at = never();
            self.token_expires = never();
            return;
        }
        self.token_expires = now + lease;
        let margin = self.normal_ttl / 3;
        if renewable && lease >= self.normal_ttl.mul_f64(0.9) {
            self.token_step = TokenStep::Renew;
            self.token_at = now + jittered(lease, 0.62, 0.70);
        } else {
            // Not renewable, or renewals no longer extend it (max TTL near): log in again
            // while a third of a normal TTL is left.
            self.token_step = TokenStep::Relogin;
            let wait = lease
                .saturating_sub(margin)
                .min(jittered(lease, 0.62, 0.70));
            self.token_at = now + wait;
        }
        debug!(step = ?self.token_step, next_in = ?self.token_at.saturating_duration_since(now), "Scheduled the next token step.");
    }

    async fn on_token_timer(&mut self) -> Result<(), Failure> {
        if self.token_step == TokenStep::Relogin {
            info!("The token is near its end (max TTL, or not renewable); logging in again.");
            return self.relogin().await;
        }
        match self.agent.client.renew_self(&self.token.secret, None).await {
            Ok((lease, renewable)) => {
                debug!(ttl = lease, "Renewed the token.");
                self.agent.backoff.reset();
                self.schedule_token(Duration::from_secs(lease), renewable);
                Ok(())
            }
            Err(renew_error) if renew_error.is_permission_denied() => {
                warn!(error = %renew_error, "The token was refused on renewal (revoked or expired); logging in again.");
                self.relogin().await
            }
            Err(renew_error) => {
                let delay = self.agent.backoff.next_delay();
                let now = Instant::now();
                if now + delay + self.normal_ttl / 10 >= self.token_expires {
                    warn!(error = %renew_error, "Token renewal failed and the token is about to expire; logging in again.");
                    return self.relogin().await;
                }
                warn!(error = %renew_error, retry_in = ?delay, "Token renewal failed; retrying.");
                self.token_at = now + delay;
                Ok(())
            }
        }
    }

    /// Logs in again (with backoff), writes the sinks, re-reads leased secrets.
    async fn relogin(&mut self) -> Result<(), Failure> {
        let exit_on_err = self.agent.config.auto_auth.method.exit_on_err;
        let signals = Arc::clone(&self.signals);
        let login = vaultward_auth::login_with_backoff(
            &mut self.agent.method,
            &self.agent.client,
            &mut self.agent.backoff,
            exit_on_err,
        );
        let token = tokio::select! {
            result = login => result,
            signal = signals.stop() => return Err(Failure::Stopped(signal)),
        }
        .map_err(|login_error| {
            Failure::Runtime(format!(
                "{login_error} (exit_on_err is set, so vaultward exits instead of retrying)"
            ))
        })?;
        if let Err(Failure::Runtime(message) | Failure::Config(message)) =
            write_sinks(&self.agent.sinks, &token)
        {
            warn!(error = %message, "A sink could not be written; it will be written with the next token.");
        }
        self.source.set_token(token.secret.clone());
        self.normal_ttl = token.lease_duration;
        self.token = token;
        self.describe_token().await;
        self.schedule_token(self.token.lease_duration, self.token.renewable);
        // Leases belonged to the old token; static secrets stay cached. Templates that failed
        // (perhaps with the old token) are retried at once.
        let mut indices = self.agent.engine.invalidate_leased();
        self.agent.engine.forget_failures();
        indices.extend(self.retries.keys().copied());
        indices.sort_unstable();
        indices.dedup();
        if !indices.is_empty() {
            self.render(&indices).await?;
        }
        Ok(())
    }

    async fn on_secrets_due(&mut self) -> Result<(), Failure> {
        let due = self.agent.engine.due(Instant::now());
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
            .filter(|(_, (at, _))| *at <= now)
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
            let details: Vec<String> = failures
                .iter()
                .map(|(_, failure)| failure.to_string())
                .collect();
            return Err(Failure::Runtime(format!(
                "{} template(s) could not be rendered and exit_on_retry_failure is set:\n{}",
                failures.len(),
                details.join("\n")
            )));
        }
        let denied = self
            .agent
            .engine
            .failed_reads()
            .iter()
            .any(|(_, fetch_error)| fetch_error.denied);
        for (index, failure) in &failures {
            let base = &self.agent.backoff;
            let entry = self.retries.entry(*index).or_insert_with(|| {
                let mut backoff = base.clone();
                backoff.reset();
                (Instant::now(), backoff)
            });
            let delay = entry.1.next_delay();
            entry.0 = Instant::now() + delay;
            warn!(error = %failure, retry_in = ?delay, "Template could not be rendered; it will be retried.");
        }
        if denied && self.token_is_gone().await {
            warn!(
                "A read was refused because the token is no longer valid (revoked?); logging in again now."
            );
            Box::pin(self.relogin()).await?;
        }
        Ok(())
    }

    /// True when the server refuses the current token itself.
    async fn token_is_gone(&self) -> bool {
        matches!(self.agent.client.lookup_self(&self.token.secret).await, Err(lookup_error) if lookup_error.is_permission_denied())
    }

    async fn on_files_check(&mut self, reload: &Reload) -> Result<(), Failure> {
        self.files_check_at = Instant::now() + FILE_CHECK_FALLBACK;
        let changed = self.files.changed();
        if changed.contains(&FileKind::TemplateSource) {
            info!("A template source file changed; reloading.");
            self.reload(reload).await?;
        }
        if changed.contains(&FileKind::SecretId) || changed.contains(&FileKind::RoleId) {
            info!("New AppRole credentials appeared; logging in with them.");
            self.relogin().await?;
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
        let auth_changed = new_agent.config.auto_auth.method != self.agent.config.auto_auth.method;
        let old = std::mem::replace(&mut self.agent, new_agent);
        // Keep what was read, so unchanged templates need no read and write nothing.
        self.agent.engine.adopt_cache(old.engine.take_cache());
        if !auth_changed {
            self.agent.method = old.method;
        }
        self.agent.sinks = self
            .agent
            .config
            .auto_auth
            .sinks
            .iter()
            .map(FileSink::new)
            .collect();
        if let Err(Failure::Runtime(message) | Failure::Config(message)) =
            write_sinks(&self.agent.sinks, &self.token)
        {
            warn!(error = %message, "A sink could not be written after the reload.");
        }
        self.files = FileWatch::new(watched_files(&self.agent.config));
        self.retries.clear();
        let source = VaultSource::new(
            self.agent.client.clone(),
            self.token.secret.clone(),
            self.agent.config.vault.retries(),
        );
        self.source = Arc::new(source);
        let all: Vec<usize> = (0..self.agent.engine.len()).collect();
        self.render(&all).await?;
        info!(
            templates = all.len(),
            sinks = self.agent.sinks.len(),
            "Reloaded the configuration."
        );
        crate::systemd::notify("READY=1");
        Ok(())
    }
}
