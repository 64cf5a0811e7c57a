//! OS signals, turned into what the agent should do.
//!
//! - SIGTERM (Kubernetes and systemd stop a process with it) and SIGINT (Ctrl-C) ask for a
//!   graceful stop; a second one, while stopping, means "now".
//! - SIGHUP asks for a reload of the configuration.
//!
//! The handlers are installed once at start, before the first login.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Mutex;

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalEvent {
    /// Stop (SIGTERM or SIGINT); the name is for the log.
    Stop(&'static str),
    /// Reload the configuration (SIGHUP).
    Reload,
}

/// The installed handlers.
pub struct Signals {
    terminate: Mutex<Signal>,
    interrupt: Mutex<Signal>,
    hangup: Mutex<Signal>,
    /// A SIGHUP that arrived while only a stop was being waited for; delivered next.
    reload_pending: AtomicBool,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: Mutex::new(signal(SignalKind::terminate())?),
            interrupt: Mutex::new(signal(SignalKind::interrupt())?),
            hangup: Mutex::new(signal(SignalKind::hangup())?),
            reload_pending: AtomicBool::new(false),
        })
    }

    /// Waits for the next signal.
    pub async fn next(&self) -> SignalEvent {
        if self.reload_pending.swap(false, Ordering::SeqCst) {
            return SignalEvent::Reload;
        }
        self.wait().await
    }

    /// Waits for the next signal from the OS.
    async fn wait(&self) -> SignalEvent {
        let mut terminate = self.terminate.lock().await;
        let mut interrupt = self.interrupt.lock().await;
        let mut hangup = self.hangup.lock().await;
        tokio::select! {
            _ = terminate.recv() => SignalEvent::Stop("SIGTERM"),
            _ = interrupt.recv() => SignalEvent::Stop("SIGINT"),
            _ = hangup.recv() => SignalEvent::Reload,
        }
    }

    /// Waits for SIGTERM or SIGINT; a SIGHUP meanwhile is kept for the next [`Signals::next`].
    pub async fn stop(&self) -> &'static str {
        loop {
            match self.wait().await {
                SignalEvent::Stop(name) => return name,
                SignalEvent::Reload => self.reload_pending.store(true, Ordering::SeqCst),
            }
        }
    }
}
