//! vaultward's configuration: the Vault Agent config language, read strictly.
//!
//! # Flow
//!
//! ```text
//! Source (name + text) ──syntax──▶ Node tree ──decode──▶ Partial ──merge──▶ Config
//! ```
//!
//! 1. **Syntax.** A `.json` file (or one that starts with `{`) is read as strict JSON by our
//!    own parser ([`json`]); anything else as HCL2 with hcl-rs ([`hcl2`]). When hcl-rs rejects
//!    the file, it is read again as HCL1 ([`hcl1`]), the dialect Vault itself uses, which
//!    accepts the quoted-key style (`"auto_auth" = { … }`) and repeated keys; when both refuse
//!    it, the HCL1 parser's error is reported. All three produce the same located
//!    [`syntax::Node`] tree.
//! 2. **Decode.** [`decode`] walks the tree block by block. Unknown keys, wrong types, decimal
//!    file modes and missing required keys become [`ConfigError`]s with `file:line:col`; every
//!    problem in every file is collected.
//! 3. **Merge.** Files given together (several `-config` flags, or a directory) are merged as
//!    Vault Agent merges them: a later file's `vault`, `auto_auth`, `template_config` and
//!    `pid_file` replace earlier ones, `template` blocks are concatenated, `exit_after_auth` is
//!    OR-ed. Then whole-config rules are checked (an `auto_auth` block is required, and it needs
//!    a sink or a template).
//!
//! **Architecture invariant:** this crate does no IO and knows nothing of tokio or HTTP. The
//! caller reads the files; tests pass strings.

use std::collections::HashMap;
use std::path::Path;

mod address;
pub mod decode;
pub mod error;
pub mod hcl1;
pub mod hcl2;
pub mod json;
pub mod model;
pub mod syntax;

pub use address::check_address;
pub use error::{ConfigError, ConfigErrors};
pub use model::*;

/// One config file's name (as the user wrote it, for messages) and text.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file's path as given, used in messages.
    pub name: String,
    /// The file's text.
    pub text: String,
}

impl Source {
    /// Bundles a name and a text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// Parses, validates and merges config files, in order.
pub fn parse(sources: &[Source]) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut partials = Vec::new();
    for source in sources {
        // A byte order mark is not part of the text; offsets, lines and columns are counted
        // after it, as an editor shows them.
        let text = source.text.strip_prefix('\u{feff}').unwrap_or(&source.text);
        let json = looks_like_json(&source.name, text);
        let mut decoder = decode::Decoder::new(&source.name, text, json);
        match parse_syntax(text, json) {
            Ok(root) => {
                let partial = decoder.top(&root);
                partials.push((source, partial));
            }
            Err((offset, message)) => {
                decoder.error_at(offset, format!("syntax error: {message}"), None)
            }
        }
        errors.append(&mut decoder.errors);
    }
    let config = merge(sources, partials, &mut errors);
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors(errors)),
    }
}

/// A `.json` file, or any file whose text starts with `{`.
fn looks_like_json(name: &str, text: &str) -> bool {
    name.ends_with(".json") || text.trim_start().starts_with('{')
}

/// Parses one file into the located tree: JSON, or HCL2 and then HCL1; on failure returns
/// the byte offset and message of the error.
fn parse_syntax(text: &str, json: bool) -> Result<syntax::Node, (usize, String)> {
    if json {
        return json::parse(text).map_err(|error| (error.offset, error.message));
    }
    // No string or name can hold a NUL (Vault's HCL parser refuses it too); hcl-rs would
    // take it into a string.
    if let Some(offset) = text.find('\0') {
        return Err((
            offset,
            "unexpected character U+0000 (a NUL byte)".to_owned(),
        ));
    }
    if hcl2::bracket_depth(text) > hcl2::MAX_HCL2_BRACKET_DEPTH {
        return hcl1::parse(text).map_err(|error| (error.offset, error.message));
    }
    match hcl2::parse_body(text) {
        Ok(root) => Ok(root),
        // Vault itself reads HCL1, so when both parsers refuse a file, the HCL1 parser's
        // message (written for Vault configs) is the one shown.
        Err(_) => hcl1::parse(text).map_err(|error| (error.offset, error.message)),
    }
}

fn merge(
    sources: &[Source],
    partials: Vec<(&Source, decode::Partial)>,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    let whole_config_error = |message: String, hint: Option<String>| ConfigError {
        file: sources
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        line: 0,
        column: 0,
        message,
        hint,
    };
    if sources.is_empty() {
        errors.push(whole_config_error(
            "no config file given".to_owned(),
            Some("pass -config=/path/to/config.hcl".to_owned()),
        ));
        return None;
    }
    let mut exit_after_auth = false;
    let mut pid_file = None;
    let mut log_level = None;
    let mut log_format = None;
    let mut vault = None;
    let mut auto_auth = None;
    let mut auto_auth_seen = false;
    let mut templates = Vec::new();
    let mut template_config = None;
    for (_, partial) in partials {
        exit_after_auth |= partial.exit_after_auth.unwrap_or(false);
        pid_file = partial.pid_file.or(pid_file);
        log_level = partial.log_level.or(log_level);
        log_format = partial.log_format.or(log_format);
        vault = partial.vault.or(vault);
        auto_auth_seen |= partial.auto_auth.is_some();
        auto_auth = partial
            .auto_auth
            .map(|auto_auth| (auto_auth, partial.sink_origins))
            .or(auto_auth);
        template_config = partial.template_config.or(template_config);
        templates.extend(partial.templates);
    }
    if !errors.is_empty() {
        return None;
    }
    let Some((auto_auth, sink_origins)) = auto_auth else {
        if !auto_auth_seen {
            errors.push(whole_config_error(
                "no `auto_auth` block: vaultward needs one to log in".to_owned(),
                Some("add `auto_auth { method \"approle\" { config { … } } sink \"file\" { config { path = \"…\" } } }`".to_owned()),
            ));
        }
        return None;
    };
    let mut destinations: HashMap<&Path, &Template> = HashMap::new();
    let mut sinks: HashMap<&Path, &String> = HashMap::new();
    for (sink, origin) in auto_auth.sinks.iter().zip(&sink_origins) {
        if let Some(first) = sinks.get(sink.path.as_path()) {
            errors.push(error_at_origin(
                origin,
                format!(
                    "two sinks write `{}`: this one and the one at {first}; give each sink its own file",
                    sink.path.display()
                ),
            ));
        } else {
            sinks.insert(&sink.path, origin);
        }
    }
    for template in &templates {
        let destination = template.destination.as_path();
        if let Some(first) = destinations.get(destination) {
            errors.push(error_at_origin(
                &template.origin,
                format!(
                    "two templates write `{}`: this one and the one at {}; each destination may have only one template",
                    destination.display(),
                    first.origin
                ),
            ));
        } else {
            destinations.insert(destination, template);
        }
        if let Some(sink) = sinks.get(destination) {
            errors.push(error_at_origin(
                &template.origin,
                format!(
                    "this template writes `{}`, the token file of the sink at {sink}; a template must not overwrite a sink's token",
                    destination.display()
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return None;
    }
    if auto_auth.method.wrap_ttl.is_some() {
        // Vault Agent's rules for a wrapped login: its result goes to exactly one sink, which
        // must not wrap again; and the agent holds no token of its own to render with.
        let problem = if auto_auth.sinks.len() != 1 {
            Some(format!(
                "`auto_auth.method.wrap_ttl` needs exactly one sink (found {}): the wrapped login goes to one consumer",
                auto_auth.sinks.len()
            ))
        } else if auto_auth.sinks.iter().any(|sink| sink.wrap_ttl.is_some()) {
            Some("`auto_auth.method.wrap_ttl` and the sink's `wrap_ttl` cannot both be set: the login is wrapped already".to_owned())
        } else if !templates.is_empty() {
            Some("`auto_auth.method.wrap_ttl` leaves the agent without a token of its own, so templates cannot be rendered; remove the templates or `wrap_ttl` (a sink's `wrap_ttl` wraps the token for a consumer and keeps templates working)".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            errors.push(whole_config_error(problem, None));
            return None;
        }
    }
    if auto_auth.sinks.is_empty() && templates.is_empty() {
        errors.push(whole_config_error(
            "`auto_auth` needs at least one `sink` or one `template`: otherwise the token is not used".to_owned(),
            Some("add `sink \"file\" { config { path = \"/path/to/token\" } }` to `auto_auth`".to_owned()),
        ));
        return None;
    }
    Some(Config {
        exit_after_auth,
        pid_file,
        log_level,
        log_format,
        vault: vault.unwrap_or_default(),
        auto_auth,
        templates,
        template_config: template_config.unwrap_or_default(),
    })
}

/// An error located at an `origin` (`file:line:col`) that the decoder recorded.
fn error_at_origin(origin: &str, message: String) -> ConfigError {
    let (file, (line, column)) = origin
        .rsplit_once(':')
        .and_then(|(head, column)| {
            head.rsplit_once(':').map(|(file, line)| {
                (
                    file,
                    (line.parse().unwrap_or(0), column.parse().unwrap_or(0)),
                )
            })
        })
        .unwrap_or((origin, (0, 0)));
    ConfigError {
        file: file.to_owned(),
        line,
        column,
        message,
        hint: None,
    }
}

#[cfg(test)]
mod tests;
