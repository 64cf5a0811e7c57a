//! Leaf utilities shared by every vaultward crate.
//!
//! - [`secret`]: the redacting types that hold tokens, secret_ids and rendered secret values.
//! - [`backoff`]: the capped, jittered exponential backoff used for logins and template retries.
//! - [`fs`]: atomic writes of files that hold secrets (temp file in the same directory, final
//!   mode set at creation, fsync, rename), which skip the write when the content is unchanged.
//! - [`text`]: "did you mean" suggestions for misspelled keys.
//!
//! **Architecture invariant:** this crate depends on no other vaultward crate and does no
//! networking.

pub mod backoff;
pub mod fs;
pub mod secret;
pub mod text;
pub mod users;

pub use backoff::{Backoff, InvalidBackoff};
pub use secret::{ExposeSecret, SecretString};
