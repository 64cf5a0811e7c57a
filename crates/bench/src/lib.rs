//! Shared pieces of the vaultward benchmark.
//!
//! - [`http`]: a minimal HTTP/1.1 client over one persistent loopback connection, used by the
//!   floor client and by the benchmark's own set-up (writing secrets, rotating them).
//! - [`workload`]: which secrets exist, which secret each template reads and what it renders
//!   to, and the template (in Go syntax for both agents, or in Handlebars for vaultward), so
//!   the three clients write byte-identical files.
//!
//! This is a benchmark tool, not a library anyone links: failures abort.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "a benchmark tool: a failed set-up or run aborts with a message, and the files it writes hold throw-away secrets"
)]

pub mod http;
pub mod workload;
