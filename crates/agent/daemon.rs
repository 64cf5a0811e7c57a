//! The long-running agent (sidecar, systemd service): keep the token alive and files fresh.
//!
//! One loop, one timer per kind of work, nothing polled:
//!
//! - **Token.** A renewable token is renewed at about two thirds of its TTL (with jitter).
//!   When a renewal no longer extends it much (its max TTL is near) or the token is not
//!   renewable, the agent logs in again at two thirds of what is left, so the sink never holds
//!   an expired token. A 403 on renewal means the token is gone: log in at once. A new token is
//!   written to every sink; secrets already read stay cached (KV data does not depend on the
//!   token), so a new token causes no re-read storm.
//! - **Refresh.** Every `static_secret_render_interval` (with ±5 % jitter, so a fleet does not
//!   hit the server in step) every secret is read again and changed files are rewritten.
//! - **Retry.** Templates that failed are retried alone with backoff; the others are untouched.
//! - **Signals.** SIGTERM/SIGINT end the loop; the pid file is removed by its guard.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};
use vaultward_auth::Token;
use vaultward_core::Backoff;

use crate::run::{Agent, Failure, render_and_write, write_sinks};
use crate::signals::Shutdown;
use crate::source::VaultSource;

/// A time far enough away to mean "never".
fn never() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

/// `duration` scaled by a random factor in `[low, high)`.
fn jittered(duration: Duration, low: f64, high: f64) -> Duration {
    duration.mul_f64(rand::rng().random_range(low..high))
}

enum TokenStep {
    Renew,
    Relogin,
}

/// When to act on a token next, and how.
fn schedule(
    token_lease: Duration,
    renewable: bool,
    original_lease: Duration,
) -> (Instant, TokenStep) {
    if token_lease.is_zero() {
        return (never(), TokenStep::Renew);
    }
    let at = Instant::now() + jittered(token_lease, 0.62, 0.70);
    // A renewal that returned less than half the original TTL has hit the max TTL: the next
    // step is a fresh login, well before the token expires.
    if renewable && token_lease * 2 >= original_lease {
        (at, TokenStep::Renew)
    } else {
        (at, TokenStep::Relogin)
    }
}

/// Runs until a shutdown signal; the first token is already in the sinks.
pub async fn run(
    mut agent: Agent,
    mut token: Token,
    source: Arc<VaultSource>,
    shutdown: Shutdown,
) -> Result<(), Failure> {
    let all: Vec<usize> = (0..agent.engine.len()).collect();
    let interval = agent.config.template_config.static_secret_render_interval;
    let mut render_backoff = Backoff::try_new(agent.backoff.min(), agent.backoff.max())
        .map_err(|error| Failure::Config(error.to_string()))?;

    let mut failed = report(render_and_write(&agent, &source, &all).await);
    let mut retry_at = if failed.is_empty() {
        never()
    } else {
        Instant::now() + render_backoff.next_delay()
    };
    let mut refresh_at = Instant::now() + jittered(interval, 0.95, 1.05);
    let (mut token_at, mut step) =
        schedule(token.lease_duration, token.renewable, token.lease_duration);
    info!("Initial render done; keeping the token and templates fresh.");

    loop {
        tokio::select! {
            signal = shutdown.wait() => {
                info!(signal, "Shutting down.");
                return Ok(());
            }
            () = sleep_until(token_at) => {
                let renewed = match step {
                    TokenStep::Renew => match agent.client.renew_self(&token.secret, None).await {
                        Ok((lease, renewable)) => {
                            debug!(ttl = lease, "Renewed the token.");
                            let lease = Duration::from_secs(lease);
                            (token_at, step) = schedule(lease, renewable, token.lease_duration);
                            true
                        }
                        Err(error) if error.is_permission_denied() => {
                            warn!(%error, "The token was refused on renewal (revoked or expired); logging in again.");
                            false
                        }
                        Err(error) => {
                            let delay = agent.backoff.next_delay();
                            warn!(%error, retry_in = ?delay, "Token renewal failed; retrying.");
                            token_at = Instant::now() + delay;
                            true
                        }
                    },
                    TokenStep::Relogin => false,
                };
                if !renewed {
                    token = relogin(&mut agent, &source).await?;
                    (token_at, step) = schedule(token.lease_duration, token.renewable, token.lease_duration);
                }
            }
            () = sleep_until(refresh_at) => {
                debug!("Re-reading every secret (static_secret_render_interval).");
                agent.engine.clear_cache();
                failed = report(render_and_write(&agent, &source, &all).await);
                if failed.iter().any(|message| message.contains("permission denied")) {
                    warn!("A read was refused with this token; logging in again.");
                    token = relogin(&mut agent, &source).await?;
                    (token_at, step) = schedule(token.lease_duration, token.renewable, token.lease_duration);
                }
                retry_at = if failed.is_empty() { never() } else { Instant::now() + render_backoff.next_delay() };
                refresh_at = Instant::now() + jittered(interval, 0.95, 1.05);
            }
            () = sleep_until(retry_at) => {
                agent.engine.forget_failures();
                let indices: Vec<usize> = failed.iter().filter_map(|m| m.split_once('\u{0}').and_then(|(i, _)| i.parse().ok())).collect();
                failed = report(render_and_write(&agent, &source, &indices).await);
                retry_at = if failed.is_empty() {
                    render_backoff.reset();
                    never()
                } else {
                    Instant::now() + render_backoff.next_delay()
                };
            }
        }
    }
}

/// Logs render failures; returns them as "index\0message" for the retry timer.
fn report(failures: Vec<(usize, vaultward_template::RenderFailure)>) -> Vec<String> {
    failures
        .into_iter()
        .map(|(index, failure)| {
            warn!(error = %failure, "Template could not be rendered; it will be retried.");
            format!("{index}\u{0}{failure}")
        })
        .collect()
}

async fn relogin(agent: &mut Agent, source: &VaultSource) -> Result<Token, Failure> {
    let exit_on_err = agent.config.auto_auth.method.exit_on_err;
    let token = vaultward_auth::login_with_backoff(
        &mut agent.method,
        &agent.client,
        &mut agent.backoff,
        exit_on_err,
    )
    .await
    .map_err(|error| {
        Failure::Runtime(format!(
            "{error} (exit_on_err is set, so vaultward exits instead of retrying)"
        ))
    })?;
    if let Err(Failure::Runtime(message) | Failure::Config(message)) =
        write_sinks(&agent.sinks, &token)
    {
        warn!(error = %message, "A sink could not be written; it will be written with the next token.");
    }
    source.set_token(token.secret.clone());
    Ok(token)
}
