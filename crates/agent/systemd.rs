//! systemd readiness notifications (`Type=notify`), without libsystemd.
//!
//! When `NOTIFY_SOCKET` is set, [`notify`] sends one datagram to it: `READY=1` after the first
//! complete render, `RELOADING=1` (with `MONOTONIC_USEC`) and `READY=1` around a reload,
//! `STOPPING=1` at shutdown. Without `NOTIFY_SOCKET` it does nothing. A socket name starting
//! with `@` is in the abstract namespace, as systemd uses.

use std::os::unix::net::UnixDatagram;

use tracing::{debug, warn};

/// Sends `state` to systemd, if it is listening.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Some(socket) = socket.to_str() else {
        return;
    };
    let message = if state.starts_with("RELOADING=1") {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let micros = u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000
            + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000;
        format!("{state}\nMONOTONIC_USEC={micros}")
    } else {
        state.to_owned()
    };
    let result = UnixDatagram::unbound().and_then(|datagram| {
        if let Some(name) = socket.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            datagram.send_to_addr(message.as_bytes(), &address)
        } else {
            datagram.send_to(message.as_bytes(), socket)
        }
    });
    match result {
        Ok(_) => debug!(state, "Notified systemd."),
        Err(error) => warn!(%error, state, "Could not notify systemd."),
    }
}
