//! Configuration errors: what is wrong, where (`file:line:col` and the field path) and what to
//! do about it.

use std::fmt;

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

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
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

/// The valid key closest to `unknown`, if one is close enough to be a likely typo.
pub(crate) fn suggest<'k>(unknown: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let unknown_lower = unknown.to_ascii_lowercase();
    candidates
        .iter()
        .map(|candidate| (levenshtein(&unknown_lower, candidate), *candidate))
        .filter(|(distance, candidate)| {
            *distance <= (candidate.len().max(unknown.len()) / 3).max(2)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
        .or_else(|| {
            // `secret_id_path` for `secret_id_file_path`: one key contains the other's words.
            candidates.iter().copied().find(|candidate| {
                let words: Vec<&str> = unknown_lower.split('_').filter(|w| !w.is_empty()).collect();
                words.len() > 1
                    && words
                        .iter()
                        .all(|word| candidate.split('_').any(|part| part == *word))
            })
        })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}

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
