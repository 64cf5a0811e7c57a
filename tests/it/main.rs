//! Integration tests of the `vaultward` binary.
//!
//! Every test that talks to a server starts its own real OpenBao dev server (see
//! `vaultward-test-support`) and runs the built binary as a user would, so tests are
//! parallel-safe and nothing is mocked.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers write fixtures directly and fail loudly"
)]

mod auth_methods; // token_file, jwt, kubernetes, cert, the method's namespace, vault TLS settings.
mod config_errors; // `validate` and `agent` messages for bad configs, word for word; no server.
mod corpus; // More than a hundred wrong configs, each refused with its exact message.
mod examples; // Every config under examples/ and config/ validates.
mod faults; // Faults and hostile surroundings: each test was a defect once.
mod go_templates; // Vault Agent configs with Go templates: the same files as `bao agent`.
mod long_running; // Sidecar and systemd shapes: renewal, refresh, commands, signals, reload, watching.
mod main_job; // The main job end to end against a real server.
mod sinks; // Sinks that wrap or encrypt the token, in the same shape as `bao agent`'s.
mod support; // Helpers: a per-test directory with a server, AppRole files and the binary.
mod tidy; // House rules: module docs on every file.
