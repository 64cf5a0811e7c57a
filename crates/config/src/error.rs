//! Configuration errors: what is wrong, where (`file:line:col` and the field path) and what to
//! do about it.

use std::fmt;

use crate::syntax::visible;

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as the user named it.
    pub file: String,
    /// 1-based line, or 0 when the problem concerns the whole config.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The problem, naming the field path and the offending value.
    pub message: String,
    /// What to do about it, when there is more to say than the message.
    pub hint: Option<String>,
}

/// Shows every character: a message that quotes a key or value holding a control or
/// zero-width character writes it as `<U+0001>`.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = visible(&self.message);
        if self.line == 0 {
            write!(f, "{}: {message}", self.file)?;
        } else {
            write!(f, "{}:{}:{}: {message}", self.file, self.line, self.column)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", visible(hint))?;
        }
        Ok(())
    }
}

/// Every problem found in a config, in file order. A config is rejected as a whole: nothing
/// runs until all of them are fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(crate) use vaultward_core::text::suggest;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = [
            "role_id_file_path",
            "secret_id_file_path",
            "remove_secret_id_file_after_reading",
        ];
        assert_eq!(
            suggest("secret_id_path", &keys),
            Some("secret_id_file_path")
        );
        assert_eq!(
            suggest("role_id_filepath", &keys),
            Some("role_id_file_path")
        );
        assert_eq!(
            suggest("exit_after_authx", &["exit_after_auth", "pid_file"]),
            Some("exit_after_auth")
        );
        assert_eq!(suggest("zzz", &keys), None);
    }
}
