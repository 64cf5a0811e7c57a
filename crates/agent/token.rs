//! The token task of the long-running agent: keeps one valid token in every sink.
//!
//! It runs apart from rendering, so a slow or failing secret read never delays a renewal: the
//! token in the sinks stays valid whatever the templates do.
//!
//! - A renewable token is renewed at about two thirds of its TTL (jittered). When a renewal
//!   returns less than the token's normal TTL, its max TTL is near: the task logs in again
//!   while a third of a normal TTL is left. Non-renewable (batch) tokens are replaced the same
//!   way. A 403 on renewal means the token is gone: log in at once; other renewal errors are
//!   retried with backoff, and a login happens before the token would expire.
//! - Anyone may ask for a fresh login through [`Control::Relogin`] (a read refused because the
//!   token is gone); a request made before the token was last replaced is dropped. New
//!   credentials on disk (a secret_id, a token file, a JWT) or new auth settings get one login
//!   attempt ([`Control::NewCredentials`]): while the current token is valid, a refused attempt
//!   keeps it and its renewals, so a bad write to a credential file neither stops a working
//!   agent nor locks the role out with retries.
//! - A renewal that gets no answer is given up before the token would expire, for a login.
//! - A sink that cannot be written is written again with backoff until it holds the token.
//! - Every new token is written to every sink and published on a `watch` channel; the render
//!   loop subscribes to it. A token_file "login" that returns the current token (the file was
//!   not updated before the max TTL) publishes nothing and reads the file again later.

use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};
use vaultward_auth::{MethodLogin, Token, login_with_backoff};
use vaultward_core::Backoff;
use vaultward_sink::FileSink;
use vaultward_vault::VaultClient;

use crate::run::{Failure, write_sinks};

/// What the rest of the agent can ask of the token task.
pub enum Control {
    /// Log in again now, for the reason given (logged), unless the token was replaced since
    /// the request was made (at the instant given).
    Relogin(&'static str, Instant),
    /// Credentials on disk changed: log in with them once; keep the current token if refused.
    NewCredentials,
    /// Use these sinks from now on (after a reload); the current token is written to them.
    SetSinks(Vec<FileSink>),
    /// Use this auth method and client from now on (after a reload changed them), and log in.
    SetMethod(Box<MethodLogin>, VaultClient, Backoff),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Renew,
    Relogin,
}

/// `now + duration`, or far in the future when that would overflow.
pub fn later(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(10 * 365 * 24 * 3600))
}

fn jittered(duration: Duration, low: f64, high: f64) -> Duration {
    duration.mul_f64(rand::rng().random_range(low..high))
}

/// The token task's state.
pub struct TokenTask {
    method: MethodLogin,
    client: VaultClient,
    backoff: Backoff,
    sinks: Vec<FileSink>,
    exit_on_err: bool,
    token: Token,
    /// The TTL a fresh token gets; a renewal returning less means its max TTL is near.
    normal_ttl: Duration,
    at: Instant,
    step: Step,
    expires: Instant,
    /// When the current token was obtained.
    replaced_at: Instant,
    /// A sink write that failed: when to try again, and the backoff between tries.
    sink_retry: Option<(Instant, Backoff)>,
    published: watch::Sender<Token>,
}

/// The backoff between tries of a sink write that failed (a full disk, a read-only mount).
fn sink_backoff() -> Option<Backoff> {
    Backoff::try_new(Duration::from_secs(1), Duration::from_secs(60)).ok()
}

impl TokenTask {
    /// A task starting from `token` (already in the sinks).
    pub fn new(
        method: MethodLogin,
        client: VaultClient,
        backoff: Backoff,
        sinks: Vec<FileSink>,
        exit_on_err: bool,
        token: Token,
    ) -> (Self, watch::Receiver<Token>) {
        let (published, tokens) = watch::channel(token.clone());
        let now = Instant::now();
        let mut task = Self {
            method,
            client,
            backoff,
            sinks,
            exit_on_err,
            normal_ttl: token.lease_duration,
            token,
            at: now,
            step: Step::Renew,
            expires: now,
            replaced_at: now,
            sink_retry: None,
            published,
        };
        task.schedule(task.token.lease_duration, task.token.renewable);
        (task, tokens)
    }

    /// Runs until a fatal error (a login failure with `exit_on_err`); never returns otherwise.
    pub async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) -> Result<(), Failure> {
        self.describe().await;
        loop {
            let sink_at = self.sink_retry.as_ref().map(|(at, _)| *at);
            tokio::select! {
                () = sleep_until(self.at) => self.on_timer().await?,
                () = sleep_until(sink_at.unwrap_or(self.at)), if sink_at.is_some() => {
                    self.write_sinks().await;
                }
                Some(message) = control.recv() => match message {
                    Control::Relogin(reason, requested_at) => {
                        if requested_at < self.replaced_at {
                            debug!(reason, "The token was replaced since this login was asked for; nothing to do.");
                        } else {
                            info!(reason, "Logging in again.");
                            self.relogin().await?;
                        }
                    }
                    Control::NewCredentials => self.try_new_credentials().await?,
                    Control::SetSinks(sinks) => {
                        self.sinks = sinks;
                        self.sink_retry = None;
                        self.write_sinks().await;
                    }
                    Control::SetMethod(method, client, backoff) => {
                        self.method = *method;
                        self.client = client;
                        self.backoff = backoff;
                        info!("The auth settings changed; logging in with them.");
                        self.try_new_credentials().await?;
                    }
                },
            }
        }
    }

    /// Logs what the server says about the token (type, TTL, renewable).
    async fn describe(&self) {
        if self.token.wrapped {
            info!(accessor = %self.token.logged_accessor(), "Logged in with a wrapped result (method wrap_ttl): the sink holds the wrapping token; nothing to renew until new credentials arrive.");
            return;
        }
        match self.client.lookup_self(&self.token.secret).await {
            Ok(response) => {
                let data = &response["data"];
                debug!(
                    accessor = %self.token.logged_accessor(),
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

    /// Plans the next step from a fresh lease.
    fn schedule(&mut self, lease: Duration, renewable: bool) {
        if lease.is_zero() {
            // A token that never expires (root-like): nothing to do.
            self.at = later(Duration::MAX);
            self.expires = self.at;
            return;
        }
        self.expires = later(lease);
        if renewable && lease >= self.normal_ttl.mul_f64(0.9) {
            self.step = Step::Renew;
            self.at = later(jittered(lease, 0.62, 0.70));
        } else {
            // Not renewable, or renewals no longer extend it (max TTL near): log in again
            // while a third of a normal TTL is left.
            self.step = Step::Relogin;
            let margin = self.normal_ttl / 3;
            self.at = later(
                lease
                    .saturating_sub(margin)
                    .min(jittered(lease, 0.62, 0.70)),
            );
        }
        debug!(step = ?self.step, next_in = ?self.at.saturating_duration_since(Instant::now()), "Scheduled the next token step.");
    }

    async fn on_timer(&mut self) -> Result<(), Failure> {
        if self.step == Step::Relogin {
            info!("The token is near its end (max TTL, or not renewable); logging in again.");
            return self.relogin().await;
        }
        // A renewal still unanswered when the token is about to expire is given up for a
        // login, which must happen before then.
        let give_up_at = self
            .expires
            .checked_sub(self.normal_ttl / 10)
            .unwrap_or(self.expires);
        let renewal =
            tokio::time::timeout_at(give_up_at, self.client.renew_self(&self.token.secret, None))
                .await;
        let Ok(renewal) = renewal else {
            warn!(
                "Token renewal got no answer and the token is about to expire; logging in again."
            );
            return self.relogin().await;
        };
        match renewal {
            Ok((lease, renewable)) => {
                debug!(ttl = lease, "Renewed the token.");
                self.backoff.reset();
                self.schedule(Duration::from_secs(lease), renewable);
                Ok(())
            }
            Err(renew_error) if renew_error.is_permission_denied() => {
                warn!(error = %renew_error, "The token was refused on renewal (revoked or expired); logging in again.");
                self.relogin().await
            }
            Err(renew_error) => {
                let delay = self.backoff.next_delay();
                if later(delay + self.normal_ttl / 10) >= self.expires {
                    warn!(error = %renew_error, "Token renewal failed and the token is about to expire; logging in again.");
                    return self.relogin().await;
                }
                warn!(error = %renew_error, retry_in = ?delay, "Token renewal failed; retrying.");
                self.at = later(delay);
                Ok(())
            }
        }
    }

    /// One login with new credentials; while the current token is valid, a refusal keeps it
    /// (and its renewal schedule) instead of retrying, which could lock the role out.
    async fn try_new_credentials(&mut self) -> Result<(), Failure> {
        let left = self.expires.saturating_duration_since(Instant::now());
        if self.token.wrapped || left <= self.normal_ttl / 10 {
            return self.relogin().await;
        }
        match self.method.login(&self.client).await {
            Ok(token) => {
                self.backoff.reset();
                self.adopt(token).await;
                Ok(())
            }
            Err(login_error) => {
                warn!(
                    error = %login_error,
                    advice = login_error.advice().unwrap_or_default(),
                    token_valid_for = ?left,
                    "The new credentials could not be used to log in; keeping the current token, which is still valid and is renewed as before. vaultward tries again when the files change, and when the token needs replacing."
                );
                Ok(())
            }
        }
    }

    /// Logs in (with backoff), writes the sinks, publishes the token.
    async fn relogin(&mut self) -> Result<(), Failure> {
        let token = login_with_backoff(
            &mut self.method,
            &self.client,
            &mut self.backoff,
            self.exit_on_err,
        )
        .await
        .map_err(|login_error| {
            Failure::Runtime(vaultward_auth::describe_final_failure(
                &login_error,
                self.exit_on_err,
            ))
        })?;
        self.adopt(token).await;
        Ok(())
    }

    /// Writes every sink; a failure is tried again with backoff until the sinks hold the token.
    async fn write_sinks(&mut self) {
        match write_sinks(&self.client, &self.sinks, &self.token).await {
            Ok(()) => {
                if self.sink_retry.take().is_some() {
                    info!("The sinks are written now.");
                }
            }
            Err(Failure::Runtime(message) | Failure::Config(message)) => {
                let retry = self
                    .sink_retry
                    .take()
                    .map(|(_, backoff)| backoff)
                    .or_else(sink_backoff);
                if let Some(mut backoff) = retry {
                    let delay = backoff.next_delay();
                    warn!(error = %message, retry_in = ?delay, "A sink could not be written; trying again.");
                    self.sink_retry = Some((later(delay), backoff));
                }
            }
            Err(Failure::Stopped(_)) => {}
        }
    }

    /// Makes `token` the current one: sinks, schedule, subscribers.
    async fn adopt(&mut self, token: Token) {
        if !token.accessor.is_empty() && token.accessor == self.token.accessor {
            // Only token_file gives back the token it had: the file still holds it, and it
            // can no longer be renewed. Nothing new to publish; read the file again now and
            // then until a new token is there (once it expired, each read fails and is
            // retried with backoff).
            let lease = token.lease_duration;
            warn!(
                accessor = %token.logged_accessor(),
                ttl = ?lease,
                "The token file still holds the current token, which can no longer be renewed; write a new token to the file before it expires."
            );
            self.token = token;
            self.expires = later(lease);
            self.step = Step::Relogin;
            self.at = later((lease / 3).max(Duration::from_secs(1)));
            return;
        }
        self.normal_ttl = token.lease_duration;
        self.token = token;
        self.replaced_at = Instant::now();
        self.sink_retry = None;
        self.write_sinks().await;
        self.describe().await;
        self.schedule(self.token.lease_duration, self.token.renewable);
        self.published.send_replace(self.token.clone());
    }
}
