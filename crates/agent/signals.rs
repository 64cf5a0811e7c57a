//! OS signals turned into one shutdown notice.
//!
//! SIGTERM (Kubernetes and systemd stop a process with it) and SIGINT (Ctrl-C) ask for a
//! graceful stop. The handlers are installed once at start; [`Shutdown::wait`] resolves with
//! the signal's name.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Mutex;

/// The installed handlers.
pub struct Shutdown {
    terminate: Mutex<Signal>,
    interrupt: Mutex<Signal>,
}

impl Shutdown {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: Mutex::new(signal(SignalKind::terminate())?),
            interrupt: Mutex::new(signal(SignalKind::interrupt())?),
        })
    }

    /// Waits for SIGTERM or SIGINT.
    pub async fn wait(&self) -> &'static str {
        let mut terminate = self.terminate.lock().await;
        let mut interrupt = self.interrupt.lock().await;
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    }
}
