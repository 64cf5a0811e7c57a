//! Redacting holders for secrets.
//!
//! Tokens, secret_ids and rendered secret values are kept in [`SecretString`] (from the
//! `secrecy` crate): its `Debug` prints `[REDACTED]`, it has no `Display`, it is wiped from memory
//! on drop, and reading it needs an explicit, greppable [`ExposeSecret::expose_secret`] call.
//! Expose a secret only at the HTTP boundary and when writing a file.
//!
//! Secret *documents* (a read's JSON, a login response) are held in [`SecretJson`], which wipes
//! every string in the document when it is dropped; buffers that held secret bytes are wiped
//! with [`Zeroizing`]. Copies made inside third-party code (the HTTP stack's buffers, the
//! template engine's temporary values) are outside this reach.

use std::fmt;
use std::ops::Deref;

pub use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
pub use zeroize::{Zeroize, Zeroizing};

/// A JSON document holding secrets: its strings (keys and values) are overwritten with zeros
/// when it is dropped, and its `Debug` shows no content.
#[derive(Clone, PartialEq, Default)]
pub struct SecretJson(Value);

impl SecretJson {
    /// Takes ownership of `value`.
    pub fn new(value: Value) -> SecretJson {
        SecretJson(value)
    }
}

impl Deref for SecretJson {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

impl From<Value> for SecretJson {
    fn from(value: Value) -> SecretJson {
        SecretJson(value)
    }
}

impl fmt::Debug for SecretJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretJson([REDACTED])")
    }
}

impl Drop for SecretJson {
    fn drop(&mut self) {
        wipe_json(&mut self.0);
    }
}

/// Overwrites every string of `value` (object keys included) with zeros and empties it.
pub fn wipe_json(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe_json),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (mut key, mut item) in entries {
                key.zeroize();
                wipe_json(&mut item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

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

    #[test]
    fn secret_json_hides_and_wipes_its_strings() {
        let mut value = serde_json::json!({"data": {"password": "hunter2", "list": ["a-secret"]}});
        assert!(!format!("{:?}", SecretJson::new(value.clone())).contains("hunter2"));
        assert_eq!(
            SecretJson::new(value.clone())["data"]["password"],
            "hunter2"
        );
        wipe_json(&mut value);
        assert_eq!(value, serde_json::json!({}));
        let mut list = serde_json::json!(["s3cret", {"k": "v"}]);
        wipe_json(&mut list);
        assert_eq!(list, serde_json::json!(["", {}]));
    }
}
