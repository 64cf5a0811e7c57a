//! Redacting holders for secrets.
//!
//! Tokens, secret_ids and rendered secret values are kept in [`SecretString`] (from the
//! `secrecy` crate): its `Debug` prints `[REDACTED]`, it has no `Display`, it is wiped from memory
//! on drop, and reading it needs an explicit, greppable [`ExposeSecret::expose_secret`] call.
//! Expose a secret only at the HTTP boundary and when writing a file.

pub use secrecy::{ExposeSecret, SecretString};

/// Builds a [`SecretString`] from anything string-like.
pub fn secret(value: impl Into<String>) -> SecretString {
    SecretString::from(value.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        let token = secret("s.very-secret-token");
        let printed = format!("{token:?} {token:#?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        assert_eq!(token.expose_secret(), "s.very-secret-token");
    }
}
