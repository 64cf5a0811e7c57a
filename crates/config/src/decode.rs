//! Reads the located tree of one file into a [`Partial`] config, collecting every problem.
//!
//! Each block has a decode function that walks its entries with a `match` on the key; the
//! fall-through arm reports an unknown key with the nearest valid one, or says that a key is a
//! Vault Agent setting vaultward does not support (rather than ignoring it, which is how Vault
//! Agent loses users' hours). Decoding never stops at the first problem.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::address::check_address;
use crate::error::{ConfigError, suggest};
use crate::model::{
    Aad, AppRole, AutoAuth, Cert, CommandLine, DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_KUBERNETES_TOKEN_PATH, DEFAULT_MAX_BACKOFF, DEFAULT_MIN_BACKOFF, DEFAULT_SINK_MODE,
    FileSink, Jwt, Kubernetes, MAX_DURATION, Method, MethodKind, Owner, Principal, SinkEncryption,
    Template, TemplateCommand, TemplateConfig, TemplateEngine, TemplateSource, TokenFile, Vault,
};
use crate::syntax::{Entry, LineIndex, Node, Value};

/// What to do about a Vault Agent setting vaultward refuses, and what removing it costs.
fn unsupported_hint(key: &str) -> String {
    let what = match key {
        "cache" | "listener" | "api_proxy" | "agent_api" => {
            "vaultward has no listener, so applications that send their Vault requests to the \
             agent's address (its API proxy or cache) must send them to the server itself, with \
             the token from a sink; remove the block once nothing uses it"
        }
        "wait" => {
            "vaultward renders as soon as a secret changes (and writes a file only when its \
             content changed); remove it"
        }
        "backup" => {
            "vaultward keeps no backup of the previous file, which it replaces atomically; remove it"
        }
        "left_delimiter" | "right_delimiter" => {
            "write the template with the `{{` and `}}` delimiters and remove it"
        }
        _ => "remove it; vaultward refuses settings it would otherwise silently ignore",
    };
    what.to_owned()
}

/// File modes people mean when a JSON number is ambiguous (`416` is 0640 in decimal).
const USUAL_MODES: &[&str] = &[
    "0400", "0440", "0444", "0600", "0640", "0644", "0660", "0664", "0700", "0750", "0755",
];

/// What one file contributes; files are merged afterwards.
#[derive(Debug, Default)]
pub(crate) struct Partial {
    pub exit_after_auth: Option<bool>,
    pub pid_file: Option<PathBuf>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub vault: Option<Vault>,
    pub auto_auth: Option<AutoAuth>,
    /// Where each sink of `auto_auth` was written (`file:line:col`), in the order of its sinks.
    pub sink_origins: Vec<String>,
    pub templates: Vec<Template>,
    pub template_config: Option<TemplateConfig>,
}

const TOP_KEYS: &[&str] = &[
    "auto_auth",
    "exit_after_auth",
    "pid_file",
    "template",
    "template_config",
    "vault",
    "log_level",
    "log_format",
];
const TOP_UNSUPPORTED: &[&str] = &[
    "cache",
    "listener",
    "api_proxy",
    "telemetry",
    "env_template",
    "exec",
    "disable_idle_connections",
    "disable_keep_alives",
    "log_file",
    "log_rotate_duration",
    "log_rotate_bytes",
    "log_rotate_max_files",
    "agent_api",
];
const VAULT_KEYS: &[&str] = &[
    "address",
    "ca_cert",
    "ca_path",
    "client_cert",
    "client_key",
    "tls_server_name",
    "tls_skip_verify",
    "namespace",
    "retry",
];
const VAULT_UNSUPPORTED: &[&str] = &[];
const RETRY_KEYS: &[&str] = &["num_retries"];
const EXEC_KEYS: &[&str] = &["command", "timeout"];
const EXEC_UNSUPPORTED: &[&str] = &[
    "env",
    "kill_signal",
    "kill_timeout",
    "reload_signal",
    "splay",
    "enabled",
];
const AUTO_AUTH_KEYS: &[&str] = &["method", "sink"];
const AUTO_AUTH_UNSUPPORTED: &[&str] = &["enable_reauth_on_new_credentials"];
const METHOD_KEYS: &[&str] = &[
    "type",
    "mount_path",
    "min_backoff",
    "max_backoff",
    "exit_on_err",
    "namespace",
    "wrap_ttl",
    "config",
];
const METHOD_UNSUPPORTED: &[&str] = &[];
/// The auth methods vaultward supports, for messages.
const METHOD_TYPES: &[&str] = &["approle", "token_file", "jwt", "kubernetes", "cert"];
const APPROLE_KEYS: &[&str] = &[
    "role_id_file_path",
    "secret_id_file_path",
    "remove_secret_id_file_after_reading",
    "secret_id_response_wrapping_path",
];
const APPROLE_UNSUPPORTED: &[&str] = &[];
const TOKEN_FILE_KEYS: &[&str] = &["token_file_path"];
const JWT_KEYS: &[&str] = &[
    "path",
    "role",
    "remove_jwt_after_reading",
    "remove_jwt_follows_symlinks",
];
const JWT_UNSUPPORTED: &[&str] = &["jwt_read_period"];
const KUBERNETES_KEYS: &[&str] = &["role", "token_path"];
const CERT_KEYS: &[&str] = &["name", "ca_cert", "client_cert", "client_key", "reload"];
const SINK_KEYS: &[&str] = &[
    "type",
    "config",
    "wrap_ttl",
    "dh_type",
    "dh_path",
    "derive_key",
    "aad",
    "aad_env_var",
];
const SINK_UNSUPPORTED: &[&str] = &[];
const DH_TYPES: &[&str] = &["curve25519"];
const FILE_SINK_KEYS: &[&str] = &["path", "mode", "uid", "gid", "owner", "group"];
const FILE_SINK_UNSUPPORTED: &[&str] = &[];
const TEMPLATE_KEYS: &[&str] = &[
    "contents",
    "source",
    "destination",
    "perms",
    "create_dest_dirs",
    "error_on_missing_key",
    "engine",
    "command",
    "command_timeout",
    "exec",
    "user",
    "group",
    "uid",
    "gid",
];
const TEMPLATE_UNSUPPORTED: &[&str] = &[
    "backup",
    "wait",
    "left_delimiter",
    "right_delimiter",
    "sandbox_path",
    "function_denylist",
    "function_blacklist",
    "error_fatal",
];
const TEMPLATE_CONFIG_KEYS: &[&str] = &[
    "exit_on_retry_failure",
    "static_secret_render_interval",
    "engine",
];
const TEMPLATE_ENGINES: &[&str] = &["auto", "go", "handlebars"];
const TEMPLATE_CONFIG_UNSUPPORTED: &[&str] =
    &["max_connections_per_host", "lease_renewal_threshold"];
const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];
const LOG_FORMATS: &[&str] = &["standard", "json"];

/// The keys of one block seen so far, with the offset of each; a map, so that a block with
/// very many keys is still read in linear time.
type Seen = HashMap<String, usize>;

/// Decodes one file's tree, appending problems to `errors`.
pub(crate) struct Decoder<'s> {
    file: &'s str,
    text: &'s str,
    index: LineIndex,
    /// True for a JSON file, which has no octal numbers.
    json: bool,
    /// Problems found so far, in file order.
    pub errors: Vec<ConfigError>,
}

impl<'s> Decoder<'s> {
    pub(crate) fn new(file: &'s str, text: &'s str, json: bool) -> Self {
        Self {
            file,
            text,
            json,
            index: LineIndex::new(text),
            errors: Vec::new(),
        }
    }

    /// `file:line:col` of a byte offset.
    pub(crate) fn origin(&self, offset: usize) -> String {
        let (line, column) = self.index.line_col(self.text, offset);
        format!("{}:{line}:{column}", self.file)
    }

    pub(crate) fn error_at(&mut self, offset: usize, message: String, hint: Option<String>) {
        let (line, column) = self.index.line_col(self.text, offset);
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            message,
            hint,
        });
    }

    // === values ===

    fn entries<'n>(&mut self, node: &'n Node, path: &str) -> &'n [Entry] {
        match &node.value {
            Value::Object(entries) => entries,
            other => {
                let found = other.kind();
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be a block, found {found}"),
                    None,
                );
                &[]
            }
        }
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::String(value) => Some(value.clone()),
            other => {
                let found = other.kind();
                let hint = matches!(other, Value::Expression(_))
                    .then(|| "quote the value: `\"…\"`".to_owned());
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be a string, found {found}"),
                    hint,
                );
                None
            }
        }
    }

    fn non_empty_string(&mut self, node: &Node, path: &str) -> Option<String> {
        let value = self.string(node, path)?;
        if value.trim().is_empty() {
            self.error_at(node.span.start, format!("`{path}` must not be empty"), None);
            return None;
        }
        Some(value)
    }

    /// A path to a file. Relative paths are allowed (they resolve against the working directory,
    /// as in Vault Agent); what is refused is what neither agent would ever read as meant: a `~`
    /// or a `$VARIABLE` that nobody expands, spaces around the path, and a file path that can
    /// only name a directory.
    fn path(&mut self, node: &Node, path: &str) -> Option<PathBuf> {
        let value = self.path_text(node, path)?;
        let last = value.rsplit('/').next().unwrap_or_default();
        if value.ends_with('/') || last == "." || last == ".." {
            self.error_at(
                node.span.start,
                format!("`{path}` names a directory (`{value}`), but it must name a file"),
                Some("end the path with the file's name".to_owned()),
            );
            return None;
        }
        Some(PathBuf::from(value))
    }

    /// A path to a directory (`vault.ca_path`): the checks of [`Self::path`] but the last.
    fn directory(&mut self, node: &Node, path: &str) -> Option<PathBuf> {
        self.path_text(node, path).map(PathBuf::from)
    }

    fn path_text(&mut self, node: &Node, path: &str) -> Option<String> {
        let value = self.non_empty_string(node, path)?;
        let problem = if let Some(at) = value.find('\0') {
            Some((
                format!("`{path}` holds a NUL character (at byte {at}), which no file name can"),
                "remove the `\\u0000` from the path".to_owned(),
            ))
        } else if value.trim() != value {
            Some((
                format!("`{path}` has spaces around the path: `\"{value}\"`"),
                "remove the spaces; they would be part of the file's name".to_owned(),
            ))
        } else if value.starts_with('~') {
            Some((
                format!("`{path}` starts with `~` (`{value}`), which is not expanded to a home directory"),
                "write the full path, such as `/home/vault/…`; Vault Agent does not expand `~` either".to_owned(),
            ))
        } else if let Some(variable) = environment_variable(&value) {
            let whole = if variable == value {
                String::new()
            } else {
                format!(" (`{value}`)")
            };
            Some((
                format!(
                    "`{path}` contains `{variable}`{whole}: environment variables are not expanded in config files"
                ),
                "write the path itself; Vault Agent does not expand variables in paths either"
                    .to_owned(),
            ))
        } else {
            None
        };
        match problem {
            Some((message, hint)) => {
                self.error_at(node.span.start, message, Some(hint));
                None
            }
            None => Some(value),
        }
    }

    fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(value) => Some(*value),
            // Vault reads booleans with Go's strconv.ParseBool, so "true" works there too.
            Value::String(text) => match text.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
                _ => {
                    self.error_at(
                        node.span.start,
                        format!("`{path}` must be true or false, found \"{text}\""),
                        None,
                    );
                    None
                }
            },
            other => {
                let found = other.kind();
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be true or false, found {found}"),
                    None,
                );
                None
            }
        }
    }

    /// A duration of at most [`MAX_DURATION`]: a Go-style string or a number of seconds.
    fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let parsed = match &node.value {
            Value::Number(raw) => raw.parse::<u64>().ok().map(Duration::from_secs),
            Value::String(text) => parse_any_duration(text),
            _ => None,
        };
        let shown = match &node.value {
            Value::Number(raw) => raw.clone(),
            Value::String(text) => format!("\"{text}\""),
            other => other.kind().to_owned(),
        };
        match parsed {
            None => {
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be a duration, found {shown}"),
                    Some("write a duration such as \"500ms\", \"30s\", \"5m\" or \"1h30m\", or a whole number of seconds".to_owned()),
                );
                None
            }
            Some(duration) if duration > MAX_DURATION => {
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be at most 10 years (\"87600h\"), found {shown}"),
                    None,
                );
                None
            }
            parsed => parsed,
        }
    }

    /// A [`duration`](Self::duration) that must also be greater than zero.
    fn positive_duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let duration = self.duration(node, path)?;
        if duration.is_zero() {
            self.error_at(
                node.span.start,
                format!("`{path}` must be greater than zero"),
                None,
            );
            return None;
        }
        Some(duration)
    }

    /// A file mode: an HCL integer written in octal with a leading zero (`0640`), or a string
    /// read as octal (`"0640"`). A decimal integer such as `640` is rejected: Vault Agent would
    /// read it as the decimal number, mode 0o1200, which is never what was meant. So are a
    /// sign (`"+644"`) and modes above 0777: the setuid, setgid and sticky bits are never
    /// meant for a file of secrets.
    fn mode(&mut self, node: &Node, path: &str) -> Option<u32> {
        if let (true, Value::Number(digits)) = (self.json, &node.value) {
            // `640` most likely means 0640; `416` may be 0o640 written in decimal. Offer both.
            let trimmed = digits.trim_start_matches('0');
            // Only modes that would be accepted are offered (at most 0777).
            let as_octal_digits = (!trimmed.is_empty()
                && trimmed.len() <= 3
                && trimmed.chars().all(|c| ('0'..='7').contains(&c)))
            .then(|| format!("\"0{trimmed}\""));
            let as_decimal = digits
                .parse::<u32>()
                .ok()
                .filter(|v| *v <= 0o777)
                .map(|v| format!("\"{v:04o}\""));
            let advice = match (as_octal_digits, as_decimal) {
                // 416 is how Vault Agent's JSON users write 0640: name that reading first
                // when it is a usual mode and the octal reading is not.
                (Some(octal), Some(decimal))
                    if octal != decimal
                        && USUAL_MODES.contains(&decimal.trim_matches('"'))
                        && !USUAL_MODES.contains(&octal.trim_matches('"')) =>
                {
                    format!(
                        "{decimal} (the decimal number {digits} in octal, as Vault Agent reads it), or {octal} if the digits were meant as octal"
                    )
                }
                (Some(octal), Some(decimal)) if octal != decimal => {
                    format!("{octal}, or {decimal} if {digits} was meant as a decimal number")
                }
                (Some(octal), _) => octal,
                (None, Some(decimal)) => {
                    format!("{decimal} (the decimal number {digits} in octal)")
                }
                (None, None) => "for example \"0640\"".to_owned(),
            };
            self.error_at(
                node.span.start,
                format!("`{path}` is the number {digits}; JSON has no octal numbers, so write the mode as a string: {advice}"),
                None,
            );
            return None;
        }
        let (digits, quoted) = match &node.value {
            Value::Number(raw) => (raw.as_str(), false),
            Value::String(text) => (text.as_str(), true),
            other => {
                let found = other.kind();
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be an octal file mode such as 0640, found {found}"),
                    None,
                );
                return None;
            }
        };
        if digits
            .strip_prefix("0o")
            .unwrap_or(digits)
            .starts_with(['+', '-'])
        {
            self.error_at(
                node.span.start,
                format!(
                    "`{path}` must be an octal file mode such as 0640, without a sign, found `{digits}`"
                ),
                None,
            );
            return None;
        }
        let octal = match u32::from_str_radix(digits.trim_start_matches("0o"), 8) {
            Ok(value) if value <= 0o7777 && !digits.is_empty() => value,
            _ => {
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be an octal file mode such as 0640, found `{digits}`"),
                    None,
                );
                return None;
            }
        };
        if !quoted && octal != 0 && !digits.starts_with('0') {
            let decimal: u64 = digits.parse().unwrap_or_default();
            self.error_at(
                node.span.start,
                format!(
                    "`{path}` is the decimal number {digits}, which Vault Agent reads as mode {decimal:#o}; write the mode in octal with a leading zero: `0{digits}`"
                ),
                None,
            );
            return None;
        }
        if octal > 0o777 {
            self.error_at(
                node.span.start,
                format!(
                    "`{path}` is mode 0{octal:o}, which sets the setuid, setgid or sticky bit; a file of secrets never needs them: use a mode of at most 0777, such as 0640"
                ),
                None,
            );
            return None;
        }
        Some(octal)
    }

    /// One part of a file's owner: a number (an id) or a string (a name, or digits for an id).
    /// `first`/`second` are the two keys that set the same part; giving both is an error.
    fn owner_part(
        &mut self,
        slot: &mut Option<Principal>,
        entry: &Entry,
        field: &str,
        parent: &str,
        first: &str,
        second: &str,
    ) {
        if slot.is_some() {
            self.error_at(
                entry.key_span.start,
                format!(
                    "`{parent}` sets both `{first}` and `{second}`, which mean the same; set one"
                ),
                None,
            );
            return;
        }
        *slot = match &entry.value.value {
            Value::Number(raw) => match raw.parse::<u32>() {
                Ok(id) => Some(Principal::Id(id)),
                Err(_) => {
                    self.error_at(
                        entry.value.span.start,
                        format!(
                            "`{field}` must be a user or group id (a whole number), found {raw}"
                        ),
                        None,
                    );
                    None
                }
            },
            Value::String(text) if !text.trim().is_empty() => {
                Some(match text.trim().parse::<u32>() {
                    Ok(id) => Principal::Id(id),
                    Err(_) => Principal::Name(text.trim().to_owned()),
                })
            }
            other => {
                let found = if matches!(other, Value::String(_)) {
                    "an empty string"
                } else {
                    other.kind()
                };
                self.error_at(
                    entry.value.span.start,
                    format!("`{field}` must be a name or an id, found {found}"),
                    None,
                );
                None
            }
        };
    }

    /// An integer no smaller than `min`.
    fn integer(&mut self, node: &Node, path: &str, min: i64) -> Option<i64> {
        match &node.value {
            Value::Number(raw) => match raw.parse::<i64>() {
                Ok(value) if value >= min => Some(value),
                _ => {
                    self.error_at(
                        node.span.start,
                        format!("`{path}` must be a whole number of at least {min}, found {raw}"),
                        None,
                    );
                    None
                }
            },
            other => {
                let found = other.kind();
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be a whole number, found {found}"),
                    None,
                );
                None
            }
        }
    }

    /// A command: a string run with `sh -c`, or a list run directly.
    fn command_line(&mut self, node: &Node, path: &str) -> Option<CommandLine> {
        match &node.value {
            Value::String(text) if !text.trim().is_empty() => {
                Some(CommandLine::Shell(text.clone()))
            }
            Value::List(items) if !items.is_empty() => {
                let mut argv = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    argv.push(self.non_empty_string(item, &format!("{path}[{index}]"))?);
                }
                Some(CommandLine::Argv(argv))
            }
            other => {
                let found = if matches!(other, Value::String(_) | Value::List(_)) {
                    "an empty value"
                } else {
                    other.kind()
                };
                self.error_at(
                    node.span.start,
                    format!("`{path}` must be a command string or a list of arguments, found {found}"),
                    Some("write `command = \"systemctl reload nginx\"` or `command = [\"nginx\", \"-s\", \"reload\"]`".to_owned()),
                );
                None
            }
        }
    }

    fn one_of(&mut self, node: &Node, path: &str, allowed: &[&str]) -> Option<String> {
        let value = self.string(node, path)?;
        // Vault reads levels case-insensitively and knows a few other spellings.
        let normalized = match value.to_ascii_lowercase().as_str() {
            "warning" => "warn".to_owned(),
            "err" => "error".to_owned(),
            "notice" => "info".to_owned(),
            other => other.to_owned(),
        };
        if allowed.contains(&normalized.as_str()) {
            return Some(normalized);
        }
        let list = allowed
            .iter()
            .map(|v| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(", ");
        self.error_at(
            node.span.start,
            format!("`{path}` must be one of {list}, found \"{value}\""),
            None,
        );
        None
    }

    // === keys ===

    fn unknown(&mut self, entry: &Entry, parent: &str, known: &[&str], unsupported: &[&str]) {
        let key = entry.key.as_str();
        let full = join(parent, key);
        if unsupported.contains(&key) {
            self.error_at(
                entry.key_span.start,
                format!("`{full}` is a Vault Agent setting that vaultward does not support yet"),
                Some(unsupported_hint(key)),
            );
            return;
        }
        let place = if parent.is_empty() {
            "at the top level".to_owned()
        } else {
            format!("in `{parent}`")
        };
        let message = match suggest(key, known) {
            Some(nearest) => format!("unknown key `{key}` {place}; did you mean `{nearest}`?"),
            None => format!(
                "unknown key `{key}` {place}; valid keys are {}",
                quoted_list(known)
            ),
        };
        self.error_at(entry.key_span.start, message, None);
    }

    /// Reports a key given twice where only one is allowed; returns true the first time.
    /// `seen` maps each key of the block to the offset where it was first set.
    fn first(&mut self, seen: &mut Seen, entry: &Entry, parent: &str) -> bool {
        if let Some(offset) = seen.get(entry.key.as_str()) {
            let earlier = self.origin(*offset);
            self.error_at(
                entry.key_span.start,
                format!(
                    "`{}` is set more than once (first at {earlier})",
                    join(parent, &entry.key)
                ),
                None,
            );
            return false;
        }
        seen.insert(entry.key.clone(), entry.key_span.start);
        true
    }

    // === blocks ===

    pub(crate) fn top(&mut self, root: &Node) -> Partial {
        let mut partial = Partial::default();
        let mut seen = Seen::new();
        for entry in self.entries(root, "") {
            if entry.key != "template" && !self.first(&mut seen, entry, "") {
                continue;
            }
            let value = &entry.value;
            match entry.key.as_str() {
                "exit_after_auth" => partial.exit_after_auth = self.bool(value, "exit_after_auth"),
                "pid_file" => partial.pid_file = self.path(value, "pid_file"),
                "log_level" => partial.log_level = self.one_of(value, "log_level", LOG_LEVELS),
                "log_format" => partial.log_format = self.one_of(value, "log_format", LOG_FORMATS),
                "vault" => {
                    partial.vault = self
                        .single_block(value, "vault")
                        .map(|node| self.vault(node))
                }
                "auto_auth" => {
                    let decoded = self
                        .single_block(value, "auto_auth")
                        .and_then(|node| self.auto_auth(node));
                    (partial.auto_auth, partial.sink_origins) = match decoded {
                        Some((auto_auth, origins)) => (Some(auto_auth), origins),
                        None => (None, Vec::new()),
                    };
                }
                "template_config" => {
                    partial.template_config = self
                        .single_block(value, "template_config")
                        .map(|node| self.template_config(node))
                }
                "template" => {
                    for node in list_items(value) {
                        let index = partial.templates.len();
                        if let Some(label) = self.template_label(node) {
                            self.error_at(
                                label.key_span.start,
                                format!(
                                    "`template` blocks take no label; remove `\"{}\"`",
                                    label.key
                                ),
                                None,
                            );
                            partial.templates.push(placeholder_template());
                        } else if let Some(template) =
                            self.template(node, &format!("template[{index}]"))
                        {
                            partial.templates.push(template);
                        } else {
                            // Keep indexes stable in messages even when a template is invalid.
                            partial.templates.push(placeholder_template());
                        }
                    }
                }
                _ => self.unknown(entry, "", TOP_KEYS, TOP_UNSUPPORTED),
            }
        }
        partial
            .templates
            .retain(|template| !template.origin.is_empty());
        partial
    }

    /// The label of `template "x" { … }`, which Vault Agent does not take either. In the tree
    /// it is a template whose only key is not a template key and holds a block; in HCL it is
    /// also written as a quoted string right before a `{` (`template { x { … } }` is an unknown
    /// block instead). In JSON, `"template": { "x": { … } }` is the same label.
    fn template_label<'n>(&self, node: &'n Node) -> Option<&'n Entry> {
        let Value::Object(entries) = &node.value else {
            return None;
        };
        let [entry] = entries.as_slice() else {
            return None;
        };
        let key = entry.key.as_str();
        let holds_blocks = match &entry.value.value {
            Value::Object(_) => true,
            Value::List(items) => items.iter().all(|i| matches!(i.value, Value::Object(_))),
            _ => false,
        };
        if TEMPLATE_KEYS.contains(&key) || TEMPLATE_UNSUPPORTED.contains(&key) || !holds_blocks {
            return None;
        }
        if self.json {
            return Some(entry);
        }
        let written = self.text.get(entry.key_span.clone())?;
        let after = self.text.get(entry.key_span.end..)?;
        (written.starts_with('"') && after.trim_start().starts_with('{')).then_some(entry)
    }

    /// A block that may appear once: `x {}`, `x = {}` or a one-element list from JSON.
    fn single_block<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n Node> {
        match &node.value {
            Value::List(items) if items.len() == 1 => Some(&items[0]),
            Value::List(items) => {
                self.error_at(
                    node.span.start,
                    format!(
                        "`{path}` may appear only once, found {} of them",
                        items.len()
                    ),
                    None,
                );
                None
            }
            _ => Some(node),
        }
    }

    fn vault(&mut self, node: &Node) -> Vault {
        let mut vault = Vault::default();
        let mut seen = Seen::new();
        for entry in self.entries(node, "vault") {
            if !self.first(&mut seen, entry, "vault") {
                continue;
            }
            let path = join("vault", &entry.key);
            match entry.key.as_str() {
                "address" => {
                    vault.address = self.non_empty_string(&entry.value, &path);
                    if let Some(address) = &vault.address
                        && let Err(problem) = check_address(address)
                    {
                        self.error_at(
                            entry.value.span.start,
                            format!("`vault.address` {problem}, found \"{address}\""),
                            Some(
                                "write the full URL, e.g. \"https://vault.example.com:8200\""
                                    .to_owned(),
                            ),
                        );
                    }
                }
                "ca_cert" => vault.ca_cert = self.path(&entry.value, &path),
                "ca_path" => vault.ca_path = self.directory(&entry.value, &path),
                "client_cert" => vault.client_cert = self.path(&entry.value, &path),
                "client_key" => vault.client_key = self.path(&entry.value, &path),
                "tls_server_name" => vault.tls_server_name = self.server_name(&entry.value, &path),
                "tls_skip_verify" => vault.tls_skip_verify = self.bool(&entry.value, &path),
                "namespace" => vault.namespace = self.non_empty_string(&entry.value, &path),
                "retry" => {
                    if let Some(block) = self.single_block(&entry.value, "vault.retry") {
                        let mut seen_retry = Seen::new();
                        for retry in self.entries(block, "vault.retry") {
                            if !self.first(&mut seen_retry, retry, "vault.retry") {
                                continue;
                            }
                            match retry.key.as_str() {
                                "num_retries" => {
                                    vault.num_retries =
                                        self.integer(&retry.value, "vault.retry.num_retries", -1)
                                }
                                _ => self.unknown(retry, "vault.retry", RETRY_KEYS, &[]),
                            }
                        }
                    }
                }
                _ => self.unknown(entry, "vault", VAULT_KEYS, VAULT_UNSUPPORTED),
            }
        }
        self.key_pair(
            node,
            "vault",
            vault.client_cert.is_some(),
            vault.client_key.is_some(),
            &seen,
        );
        vault
    }

    /// `client_cert` and `client_key` go together: one without the other is an error.
    fn key_pair(&mut self, node: &Node, parent: &str, cert: bool, key: bool, seen: &Seen) {
        let (set, missing) = match (cert, key) {
            (true, false) if !seen.contains_key("client_key") => ("client_cert", "client_key"),
            (false, true) if !seen.contains_key("client_cert") => ("client_key", "client_cert"),
            _ => return,
        };
        let offset = seen.get(set).copied().unwrap_or(node.span.start);
        self.error_at(
            offset,
            format!("`{parent}.{set}` is set but `{parent}.{missing}` is missing"),
            Some("set both: the certificate and its private key, each a PEM file".to_owned()),
        );
    }

    /// A TLS server name: a DNS name (letters, digits, `-` and `.`), as the server's
    /// certificate names it.
    fn server_name(&mut self, node: &Node, path: &str) -> Option<String> {
        let name = self.non_empty_string(node, path)?;
        let valid = name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if !valid || name.len() > 253 {
            self.error_at(
                node.span.start,
                format!("`{path}` must be a DNS name such as \"vault.example.com\", found \"{name}\""),
                Some("write the host name the server's certificate is issued for, without a scheme or port".to_owned()),
            );
            return None;
        }
        Some(name)
    }

    /// The `auto_auth` block, and where each of its sinks was written.
    fn auto_auth(&mut self, node: &Node) -> Option<(AutoAuth, Vec<String>)> {
        let mut method = None;
        let mut method_count = 0;
        let mut sinks = Vec::new();
        let mut sink_origins = Vec::new();
        let mut sink_count = 0;
        let mut failed = false;
        for entry in self.entries(node, "auto_auth") {
            match entry.key.as_str() {
                "method" => {
                    for (label, body) in self.labelled(&entry.value, METHOD_KEYS) {
                        method_count += 1;
                        if method_count > 1 {
                            self.error_at(
                                entry.key_span.start,
                                "`auto_auth` takes exactly one `method` block, found another one here".to_owned(),
                                None,
                            );
                            failed = true;
                            continue;
                        }
                        method = self.method(label, body);
                        failed |= method.is_none();
                    }
                }
                "sink" => {
                    for (label, body) in self.labelled(&entry.value, SINK_KEYS) {
                        let path = format!("auto_auth.sink[{sink_count}]");
                        sink_count += 1;
                        match self.sink(label, body, &path) {
                            Some(sink) => {
                                sinks.push(sink);
                                sink_origins.push(self.origin(body.span.start));
                            }
                            None => failed = true,
                        }
                    }
                }
                _ => self.unknown(entry, "auto_auth", AUTO_AUTH_KEYS, AUTO_AUTH_UNSUPPORTED),
            }
        }
        if method_count == 0 {
            self.error_at(
                node.span.start,
                "`auto_auth` has no `method` block".to_owned(),
                Some("add `method \"approle\" { config { role_id_file_path = \"…\" secret_id_file_path = \"…\" } }`".to_owned()),
            );
            return None;
        }
        if failed {
            return None;
        }
        method.map(|method| (AutoAuth { method, sinks }, sink_origins))
    }

    /// Splits `method "approle" { … }` (label form) from `method { type = "approle" … }`.
    /// Returns each block body with its label, if it had one.
    fn labelled<'n>(
        &mut self,
        node: &'n Node,
        fields: &[&str],
    ) -> Vec<(Option<(String, usize)>, &'n Node)> {
        let mut out = Vec::new();
        for item in list_items(node) {
            let Value::Object(entries) = &item.value else {
                out.push((None, item));
                continue;
            };
            let is_label_form = !entries.is_empty()
                && entries.iter().all(|entry| {
                    !fields.contains(&entry.key.as_str())
                        && match &entry.value.value {
                            Value::Object(_) => true,
                            Value::List(items) => {
                                items.iter().all(|i| matches!(i.value, Value::Object(_)))
                            }
                            _ => false,
                        }
                });
            if is_label_form {
                for entry in entries {
                    for body in list_items(&entry.value) {
                        out.push((Some((entry.key.clone(), entry.key_span.start)), body));
                    }
                }
            } else {
                out.push((None, item));
            }
        }
        out
    }

    fn method(&mut self, label: Option<(String, usize)>, node: &Node) -> Option<Method> {
        let path = "auto_auth.method";
        let mut kind_name = label.clone();
        let mut mount_path = None;
        let mut min_backoff = None;
        let mut max_backoff = None;
        let mut exit_on_err = false;
        let mut namespace = None;
        let mut wrap_ttl = None;
        let mut config = None;
        let mut seen = Seen::new();
        for entry in self.entries(node, path) {
            if !self.first(&mut seen, entry, path) {
                continue;
            }
            let field = join(path, &entry.key);
            match entry.key.as_str() {
                "wrap_ttl" => wrap_ttl = self.positive_duration(&entry.value, &field),
                // `type` wins over the label, as in Vault.
                "type" => {
                    kind_name = self
                        .non_empty_string(&entry.value, &field)
                        .map(|name| (name, entry.value.span.start))
                }
                "mount_path" => {
                    mount_path = self
                        .non_empty_string(&entry.value, &field)
                        .map(|p| p.trim_matches('/').to_owned())
                }
                "min_backoff" => {
                    min_backoff = self
                        .duration(&entry.value, &field)
                        .map(|d| (d, entry.value.span.start))
                }
                "max_backoff" => {
                    max_backoff = self
                        .duration(&entry.value, &field)
                        .map(|d| (d, entry.value.span.start))
                }
                "exit_on_err" => exit_on_err = self.bool(&entry.value, &field).unwrap_or(false),
                "namespace" => {
                    namespace = self
                        .non_empty_string(&entry.value, &field)
                        .map(|ns| ns.trim().trim_matches('/').to_owned())
                }
                "config" => config = Some(&entry.value),
                _ => self.unknown(entry, path, METHOD_KEYS, METHOD_UNSUPPORTED),
            }
        }
        let Some((kind_name, kind_offset)) = kind_name else {
            self.error_at(
                node.span.start,
                "`auto_auth.method` has no type".to_owned(),
                Some("write `method \"approle\" { … }` or set `type = \"approle\"`".to_owned()),
            );
            return None;
        };
        let config_hint = match kind_name.as_str() {
            "approle" => {
                Some("add `config { role_id_file_path = \"…\" secret_id_file_path = \"…\" }`")
            }
            "token_file" => Some("add `config { token_file_path = \"…\" }`"),
            "jwt" => Some("add `config { path = \"/path/to/jwt\" role = \"…\" }`"),
            "kubernetes" => Some("add `config { role = \"…\" }`"),
            _ => None,
        };
        if let (Some(hint), None) = (config_hint, config) {
            self.error_at(
                node.span.start,
                "`auto_auth.method.config` is missing".to_owned(),
                Some(hint.to_owned()),
            );
            return None;
        }
        let kind = match (kind_name.as_str(), config) {
            ("approle", Some(config)) => MethodKind::AppRole(self.approle(config)?),
            ("token_file", Some(config)) => MethodKind::TokenFile(self.token_file(config)?),
            ("jwt", Some(config)) => MethodKind::Jwt(self.jwt(config)?),
            ("kubernetes", Some(config)) => MethodKind::Kubernetes(self.kubernetes(config)?),
            // Every key of the cert method is optional, so is its `config` block.
            ("cert", config) => MethodKind::Cert(self.cert(config)?),
            ("kerberos" | "aws" | "azure" | "gcp" | "alicloud" | "cf" | "ldap" | "oci", _) => {
                self.error_at(
                    kind_offset,
                    format!(
                        "auth method `{kind_name}` is not supported by vaultward yet; supported: {}",
                        quoted_values(METHOD_TYPES)
                    ),
                    None,
                );
                return None;
            }
            (other, _) => {
                let hint = suggest(other, METHOD_TYPES).map(|s| format!("did you mean \"{s}\"?"));
                self.error_at(
                    kind_offset,
                    format!(
                        "unknown auth method `{other}`; supported: {}",
                        quoted_values(METHOD_TYPES)
                    ),
                    hint,
                );
                return None;
            }
        };
        if let (MethodKind::TokenFile(_), Some(offset)) = (&kind, seen.get("wrap_ttl"))
            && wrap_ttl.is_some()
        {
            self.error_at(
                *offset,
                "`auto_auth.method.wrap_ttl` needs a login to wrap; the token_file method does not log in".to_owned(),
                Some("remove `wrap_ttl`, or wrap the token in a sink with the sink's `wrap_ttl`".to_owned()),
            );
            return None;
        }
        // A token file needs no login, so no mount: Vault Agent always asks `auth/token`.
        if let (MethodKind::TokenFile(_), Some(offset)) = (&kind, seen.get("mount_path")) {
            self.error_at(
                *offset,
                "`auto_auth.method.mount_path` has no effect with the token_file method, which checks the token at `auth/token`".to_owned(),
                Some("remove `mount_path`".to_owned()),
            );
            return None;
        }
        let default_mount = match &kind {
            MethodKind::TokenFile(_) => "auth/token".to_owned(),
            _ => format!("auth/{kind_name}"),
        };
        let min = min_backoff.map_or(DEFAULT_MIN_BACKOFF, |(d, _)| d);
        let max = max_backoff.map_or(DEFAULT_MAX_BACKOFF, |(d, _)| d);
        if min.is_zero() {
            let offset = min_backoff.map_or(node.span.start, |(_, o)| o);
            self.error_at(
                offset,
                "`auto_auth.method.min_backoff` must be greater than zero".to_owned(),
                None,
            );
            return None;
        }
        if min > max {
            let offset = max_backoff
                .or(min_backoff)
                .map_or(node.span.start, |(_, o)| o);
            self.error_at(
                offset,
                format!("`auto_auth.method.min_backoff` ({min:?}) is larger than `auto_auth.method.max_backoff` ({max:?})"),
                None,
            );
            return None;
        }
        Some(Method {
            kind,
            mount_path: mount_path.unwrap_or(default_mount),
            min_backoff: min,
            max_backoff: max,
            exit_on_err,
            namespace,
            wrap_ttl,
        })
    }

    /// Walks a method's `config` block, calling `each` for every key given once; returns the
    /// keys seen.
    fn method_config(
        &mut self,
        node: &Node,
        mut each: impl FnMut(&mut Self, &Entry, &str),
    ) -> Seen {
        let path = "auto_auth.method.config";
        let mut seen = Seen::new();
        for entry in self.entries(node, path) {
            if !self.first(&mut seen, entry, path) {
                continue;
            }
            let field = join(path, &entry.key);
            each(self, entry, &field);
        }
        seen
    }

    /// Reports an unknown key of a method's `config`; when it is a key of another method, the
    /// hint says which (a config copied from another method's example).
    fn method_unknown(&mut self, entry: &Entry, known: &[&str], unsupported: &[&str]) {
        let errors_before = self.errors.len();
        self.unknown(entry, "auto_auth.method.config", known, unsupported);
        let key = entry.key.as_str();
        let owner = [
            ("approle", APPROLE_KEYS),
            ("token_file", TOKEN_FILE_KEYS),
            ("jwt", JWT_KEYS),
            ("kubernetes", KUBERNETES_KEYS),
            ("cert", CERT_KEYS),
        ]
        .into_iter()
        .find(|(_, keys)| keys.contains(&key));
        if let (Some((method, _)), Some(error)) = (owner, self.errors.get_mut(errors_before))
            && !known.contains(&key)
            && error.hint.is_none()
        {
            error.hint = Some(format!(
                "`{key}` is a setting of the \"{method}\" method; check the method's type"
            ));
        }
    }

    /// Reports a required key of a method's `config` that was not given at all.
    fn require_key(&mut self, node: &Node, seen: &Seen, key: &str, hint: &str) {
        if !seen.contains_key(key) {
            self.error_at(
                node.span.start,
                format!("`auto_auth.method.config.{key}` is missing"),
                Some(hint.to_owned()),
            );
        }
    }

    fn token_file(&mut self, node: &Node) -> Option<TokenFile> {
        let mut token_file_path = None;
        let seen = self.method_config(node, |decoder, entry, field| match entry.key.as_str() {
            "token_file_path" => token_file_path = decoder.path(&entry.value, field),
            _ => decoder.method_unknown(entry, TOKEN_FILE_KEYS, &[]),
        });
        self.require_key(
            node,
            &seen,
            "token_file_path",
            "set it to the file that holds the token",
        );
        Some(TokenFile {
            token_file_path: token_file_path?,
        })
    }

    fn jwt(&mut self, node: &Node) -> Option<Jwt> {
        let mut path = None;
        let mut role = None;
        let mut remove = Some(true);
        let mut follow = Some(false);
        let seen = self.method_config(node, |decoder, entry, field| match entry.key.as_str() {
            "path" => path = decoder.path(&entry.value, field),
            "role" => role = decoder.non_empty_string(&entry.value, field),
            "remove_jwt_after_reading" => remove = decoder.bool(&entry.value, field),
            "remove_jwt_follows_symlinks" => follow = decoder.bool(&entry.value, field),
            _ => decoder.method_unknown(entry, JWT_KEYS, JWT_UNSUPPORTED),
        });
        self.require_key(node, &seen, "path", "set it to the file that holds the JWT");
        self.require_key(
            node,
            &seen,
            "role",
            "set it to the role of the JWT auth mount to log in with",
        );
        Some(Jwt {
            path: path?,
            role: role?,
            remove_jwt_after_reading: remove?,
            remove_jwt_follows_symlinks: follow?,
        })
    }

    fn kubernetes(&mut self, node: &Node) -> Option<Kubernetes> {
        let mut role = None;
        let mut token_path = Some(PathBuf::from(DEFAULT_KUBERNETES_TOKEN_PATH));
        let seen = self.method_config(node, |decoder, entry, field| match entry.key.as_str() {
            "role" => role = decoder.non_empty_string(&entry.value, field),
            "token_path" => token_path = decoder.path(&entry.value, field),
            _ => decoder.method_unknown(entry, KUBERNETES_KEYS, &[]),
        });
        self.require_key(
            node,
            &seen,
            "role",
            "set it to the role of the Kubernetes auth mount to log in with",
        );
        Some(Kubernetes {
            role: role?,
            token_path: token_path?,
        })
    }

    fn cert(&mut self, node: Option<&Node>) -> Option<Cert> {
        let mut cert = Cert {
            name: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            reload: false,
        };
        let Some(node) = node else {
            return Some(cert);
        };
        let errors_before = self.errors.len();
        let seen = self.method_config(node, |decoder, entry, field| {
            let value = &entry.value;
            match entry.key.as_str() {
                "name" => cert.name = decoder.non_empty_string(value, field),
                "ca_cert" => cert.ca_cert = decoder.path(value, field),
                "client_cert" => cert.client_cert = decoder.path(value, field),
                "client_key" => cert.client_key = decoder.path(value, field),
                "reload" => cert.reload = decoder.bool(value, field).unwrap_or(false),
                _ => decoder.method_unknown(entry, CERT_KEYS, &[]),
            }
        });
        self.key_pair(
            node,
            "auto_auth.method.config",
            cert.client_cert.is_some(),
            cert.client_key.is_some(),
            &seen,
        );
        (self.errors.len() == errors_before).then_some(cert)
    }

    fn approle(&mut self, node: &Node) -> Option<AppRole> {
        let path = "auto_auth.method.config";
        let mut role_id = None;
        let mut secret_id = None;
        let mut remove = true;
        let mut wrapping_path = None;
        let mut seen = Seen::new();
        let mut ok = true;
        for entry in self.entries(node, path) {
            if !self.first(&mut seen, entry, path) {
                continue;
            }
            let field = join(path, &entry.key);
            match entry.key.as_str() {
                "role_id_file_path" => {
                    role_id = self.path(&entry.value, &field);
                    ok &= role_id.is_some();
                }
                "secret_id_file_path" => {
                    // An empty value means "no secret_id", as in Vault.
                    let empty =
                        matches!(&entry.value.value, Value::String(p) if p.trim().is_empty());
                    if !empty {
                        secret_id = self.path(&entry.value, &field);
                    }
                }
                "remove_secret_id_file_after_reading" => {
                    remove = self.bool(&entry.value, &field).unwrap_or(true)
                }
                "secret_id_response_wrapping_path" => match self.string(&entry.value, &field) {
                    Some(text) if !text.trim().trim_matches('/').is_empty() => {
                        wrapping_path = Some(text.trim().trim_matches('/').to_owned())
                    }
                    Some(_) => {
                        self.error_at(
                                entry.value.span.start,
                                format!("`{field}` is empty"),
                                Some("set it to the path the wrapping token was created at, e.g. \"auth/approle/role/app/secret-id\", or remove it".to_owned()),
                            );
                        ok = false;
                    }
                    None => ok = false,
                },
                _ => {
                    self.method_unknown(entry, APPROLE_KEYS, APPROLE_UNSUPPORTED);
                    ok = false;
                }
            }
        }
        if role_id.is_none() && ok {
            self.error_at(
                node.span.start,
                "`auto_auth.method.config.role_id_file_path` is missing".to_owned(),
                Some("set it to the file that holds the AppRole role_id".to_owned()),
            );
        }
        if wrapping_path.is_some() && secret_id.is_none() && ok {
            self.error_at(
                node.span.start,
                "`auto_auth.method.config.secret_id_response_wrapping_path` needs `secret_id_file_path`, the file holding the wrapping token".to_owned(),
                None,
            );
        }
        Some(AppRole {
            role_id_file_path: role_id?,
            secret_id_file_path: secret_id,
            remove_secret_id_file_after_reading: remove,
            secret_id_response_wrapping_path: wrapping_path,
        })
    }

    fn sink(
        &mut self,
        label: Option<(String, usize)>,
        node: &Node,
        path: &str,
    ) -> Option<FileSink> {
        let mut kind = label;
        let mut config = None;
        let mut wrap_ttl = None;
        let mut dh_type = None;
        let mut dh_path = None;
        let mut derive_key = None;
        let mut aad = None;
        let mut aad_env_var = None;
        let mut seen = Seen::new();
        for entry in self.entries(node, path) {
            if !self.first(&mut seen, entry, path) {
                continue;
            }
            let field = join(path, &entry.key);
            let at = entry.key_span.start;
            match entry.key.as_str() {
                "type" => {
                    kind = self
                        .string(&entry.value, &join(path, "type"))
                        .map(|k| (k, entry.value.span.start))
                }
                "config" => config = Some(&entry.value),
                "wrap_ttl" => wrap_ttl = self.positive_duration(&entry.value, &field),
                "dh_type" => dh_type = self.one_of(&entry.value, &field, DH_TYPES).map(|t| (t, at)),
                "dh_path" => dh_path = self.path(&entry.value, &field).map(|p| (p, at)),
                "derive_key" => derive_key = self.bool(&entry.value, &field).map(|b| (b, at)),
                "aad" => aad = self.string(&entry.value, &field).map(|a| (a, at)),
                "aad_env_var" => aad_env_var = self.string(&entry.value, &field).map(|a| (a, at)),
                _ => self.unknown(entry, path, SINK_KEYS, SINK_UNSUPPORTED),
            }
        }
        // An unreadable `dh_type` was reported already; its companions are not errors on top.
        let encryption = if dh_type.is_none() && seen.contains_key("dh_type") {
            None
        } else {
            self.sink_encryption(path, node, dh_type, dh_path, derive_key, aad, aad_env_var)
        };
        match kind {
            Some((kind, _)) if kind == "file" => {}
            Some((kind, offset)) => {
                self.error_at(
                    offset,
                    format!("unknown sink type `{kind}` in `{path}`; supported: \"file\""),
                    None,
                );
                return None;
            }
            None => {
                self.error_at(
                    node.span.start,
                    format!("`{path}` has no type"),
                    Some("write `sink \"file\" { config { path = \"…\" } }`".to_owned()),
                );
                return None;
            }
        }
        let Some(config) = config else {
            self.error_at(
                node.span.start,
                format!("`{path}.config` is missing"),
                Some("add `config { path = \"/path/to/token\" }`".to_owned()),
            );
            return None;
        };
        let config_path = format!("{path}.config");
        let mut file = None;
        let mut mode = Some(DEFAULT_SINK_MODE);
        let mut owner = Owner::default();
        let mut seen = Seen::new();
        for entry in self.entries(config, &config_path) {
            if !self.first(&mut seen, entry, &config_path) {
                continue;
            }
            let field = join(&config_path, &entry.key);
            match entry.key.as_str() {
                "path" => file = self.path(&entry.value, &field),
                "mode" => mode = self.mode(&entry.value, &field),
                "uid" | "owner" => {
                    self.owner_part(&mut owner.user, entry, &field, &config_path, "uid", "owner")
                }
                "gid" | "group" => self.owner_part(
                    &mut owner.group,
                    entry,
                    &field,
                    &config_path,
                    "gid",
                    "group",
                ),
                _ => self.unknown(entry, &config_path, FILE_SINK_KEYS, FILE_SINK_UNSUPPORTED),
            }
        }
        if file.is_none() && !seen.contains_key("path") {
            self.error_at(
                config.span.start,
                format!("`{config_path}.path` is missing"),
                Some("set it to the file the token is written to".to_owned()),
            );
        }
        Some(FileSink {
            path: file?,
            mode: mode?,
            owner,
            wrap_ttl,
            encryption: encryption?,
        })
    }

    /// A sink's `dh_type`, `dh_path`, `derive_key`, `aad` and `aad_env_var`, checked together
    /// (`Some(None)`: no encryption; `None`: an error was reported).
    #[allow(clippy::too_many_arguments)]
    fn sink_encryption(
        &mut self,
        path: &str,
        node: &Node,
        dh_type: Option<(String, usize)>,
        dh_path: Option<(PathBuf, usize)>,
        derive_key: Option<(bool, usize)>,
        aad: Option<(String, usize)>,
        aad_env_var: Option<(String, usize)>,
    ) -> Option<Option<SinkEncryption>> {
        let errors_before = self.errors.len();
        if dh_type.is_none() {
            for (key, at) in [
                ("dh_path", dh_path.as_ref().map(|(_, at)| *at)),
                ("derive_key", derive_key.as_ref().map(|(_, at)| *at)),
                ("aad", aad.as_ref().map(|(_, at)| *at)),
                ("aad_env_var", aad_env_var.as_ref().map(|(_, at)| *at)),
            ] {
                if let Some(at) = at {
                    self.error_at(
                        at,
                        format!("`{path}.{key}` needs `dh_type = \"curve25519\"`"),
                        Some("set `dh_type` and `dh_path` to encrypt the token for a client, or remove it".to_owned()),
                    );
                }
            }
            return (self.errors.len() == errors_before).then_some(None);
        }
        if let (Some((_, at)), Some(_)) = (&aad, &aad_env_var) {
            self.error_at(
                *at,
                format!("`{path}` sets both `aad` and `aad_env_var`; set one"),
                None,
            );
        }
        let Some((dh_path, _)) = dh_path else {
            self.error_at(
                node.span.start,
                format!("`{path}.dh_path` is missing"),
                Some(
                    "set it to the JSON file holding the client's `curve25519_public_key`"
                        .to_owned(),
                ),
            );
            return None;
        };
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Some(SinkEncryption {
            dh_path,
            derive_key: derive_key.is_some_and(|(b, _)| b),
            aad: match (aad, aad_env_var) {
                (Some((text, _)), _) => Aad::Literal(text),
                (None, Some((name, _))) => Aad::EnvVar(name),
                (None, None) => Aad::None,
            },
        }))
    }

    fn template(&mut self, node: &Node, path: &str) -> Option<Template> {
        let mut contents = None;
        let mut source = None;
        let mut destination = None;
        let mut perms = None;
        let mut create_dest_dirs = true;
        let mut error_on_missing_key = false;
        let mut engine = None;
        let mut command: Option<(CommandLine, usize)> = None;
        let mut owner = Owner::default();
        let mut command_timeout = None;
        let mut exec_command = None;
        let mut exec_timeout = None;
        let mut exec_at = None;
        let mut seen = Seen::new();
        let errors_before = self.errors.len();
        for entry in self.entries(node, path) {
            if !self.first(&mut seen, entry, path) {
                continue;
            }
            let field = join(path, &entry.key);
            match entry.key.as_str() {
                "contents" => {
                    contents = self
                        .string(&entry.value, &field)
                        .map(|c| (c, entry.key_span.start));
                    // Vault Agent refuses an empty template too ("must specify exactly one of
                    // 'source' or 'contents'"), when it starts rendering.
                    if contents.as_ref().is_some_and(|(c, _)| c.is_empty()) {
                        self.error_at(
                            entry.value.span.start,
                            format!("`{field}` is empty"),
                            Some("write the template text here, or read it from a file with `source`".to_owned()),
                        );
                    }
                }
                "source" => {
                    source = self
                        .path(&entry.value, &field)
                        .map(|s| (s, entry.key_span.start))
                }
                "destination" => destination = self.path(&entry.value, &field),
                "perms" => perms = self.mode(&entry.value, &field),
                "create_dest_dirs" => {
                    create_dest_dirs = self.bool(&entry.value, &field).unwrap_or(true)
                }
                "error_on_missing_key" => {
                    error_on_missing_key = self.bool(&entry.value, &field).unwrap_or(false)
                }
                "engine" => engine = self.template_engine(&entry.value, &field),
                "user" | "uid" => {
                    self.owner_part(&mut owner.user, entry, &field, path, "user", "uid")
                }
                "group" | "gid" => {
                    self.owner_part(&mut owner.group, entry, &field, path, "group", "gid")
                }
                "command" => {
                    command = self
                        .command_line(&entry.value, &field)
                        .map(|c| (c, entry.key_span.start))
                }
                "command_timeout" => command_timeout = self.positive_duration(&entry.value, &field),
                "exec" => {
                    if let Some(block) = self.single_block(&entry.value, &field) {
                        let mut seen_exec = Seen::new();
                        for exec_entry in self.entries(block, &field) {
                            if !self.first(&mut seen_exec, exec_entry, &field) {
                                continue;
                            }
                            let exec_field = join(&field, &exec_entry.key);
                            match exec_entry.key.as_str() {
                                "command" => {
                                    exec_command = self.command_line(&exec_entry.value, &exec_field)
                                }
                                "timeout" => {
                                    exec_timeout =
                                        self.positive_duration(&exec_entry.value, &exec_field)
                                }
                                _ => self.unknown(exec_entry, &field, EXEC_KEYS, EXEC_UNSUPPORTED),
                            }
                        }
                        if exec_command.is_none() && !seen_exec.contains_key("command") {
                            self.error_at(
                                block.span.start,
                                format!("`{field}.command` is missing"),
                                None,
                            );
                        }
                        exec_at = Some(entry.key_span.start);
                    }
                }
                _ => self.unknown(entry, path, TEMPLATE_KEYS, TEMPLATE_UNSUPPORTED),
            }
        }
        if let (Some((_, command_at)), Some(_)) = (&command, exec_at) {
            self.error_at(
                *command_at,
                format!("`{path}` sets both `command` and `exec`; use `exec` only"),
                None,
            );
        }
        let template_source = match (contents, source) {
            (Some((contents, _)), None) => Some(TemplateSource::Contents(contents)),
            (None, Some((source, _))) => Some(TemplateSource::File(source)),
            (Some(_), Some((_, offset))) => {
                self.error_at(
                    offset,
                    format!("`{path}` sets both `contents` and `source`; set exactly one"),
                    None,
                );
                None
            }
            (None, None) => {
                if !(seen.contains_key("contents") || seen.contains_key("source")) {
                    self.error_at(
                        node.span.start,
                        format!("`{path}` needs `contents` or `source`"),
                        Some("set `contents = \"…\"` for an inline template or `source = \"/path/file.tmpl\"`".to_owned()),
                    );
                }
                None
            }
        };
        if destination.is_none() && !seen.contains_key("destination") {
            self.error_at(
                node.span.start,
                format!("`{path}.destination` is missing"),
                Some("set it to the file the template renders into".to_owned()),
            );
        }
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Template {
            source: template_source?,
            destination: destination?,
            perms,
            create_dest_dirs,
            error_on_missing_key,
            engine,
            owner,
            command: match (command, exec_command) {
                (Some((line, _)), None) => Some(TemplateCommand {
                    line,
                    timeout: command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
                }),
                (None, Some(line)) => Some(TemplateCommand {
                    line,
                    timeout: exec_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
                }),
                _ => None,
            },
            origin: self.origin(node.span.start),
        })
    }

    fn template_config(&mut self, node: &Node) -> TemplateConfig {
        let path = "template_config";
        let mut config = TemplateConfig::default();
        let mut seen = Seen::new();
        for entry in self.entries(node, path) {
            if !self.first(&mut seen, entry, path) {
                continue;
            }
            let field = join(path, &entry.key);
            match entry.key.as_str() {
                "exit_on_retry_failure" => {
                    config.exit_on_retry_failure = self.bool(&entry.value, &field).unwrap_or(false)
                }
                "static_secret_render_interval" => {
                    if let Some(interval) = self.duration(&entry.value, &field) {
                        if interval.is_zero() {
                            self.error_at(
                                entry.value.span.start,
                                format!("`{field}` must be greater than zero"),
                                None,
                            );
                        } else {
                            config.static_secret_render_interval = interval;
                        }
                    }
                }
                "engine" => {
                    if let Some(engine) = self.template_engine(&entry.value, &field) {
                        config.engine = engine;
                    }
                }
                _ => self.unknown(
                    entry,
                    path,
                    TEMPLATE_CONFIG_KEYS,
                    TEMPLATE_CONFIG_UNSUPPORTED,
                ),
            }
        }
        config
    }

    /// `engine = "go" | "handlebars" | "auto"`.
    fn template_engine(&mut self, value: &Node, field: &str) -> Option<TemplateEngine> {
        match self.one_of(value, field, TEMPLATE_ENGINES)?.as_str() {
            "go" => Some(TemplateEngine::Go),
            "handlebars" => Some(TemplateEngine::Handlebars),
            _ => Some(TemplateEngine::Auto),
        }
    }
}

fn placeholder_template() -> Template {
    Template {
        source: TemplateSource::Contents(String::new()),
        destination: PathBuf::new(),
        perms: None,
        create_dest_dirs: false,
        error_on_missing_key: false,
        engine: None,
        command: None,
        owner: Owner::default(),
        origin: String::new(),
    }
}

/// The items of a repeatable block: a list's items, or the node itself.
fn list_items(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::List(items) => items.iter().collect(),
        _ => vec![node],
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `"a", "b", "c"`: values as they are written in a config.
fn quoted_values(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted_list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a Go-style duration (`"1h30m"`, `"500ms"`, `"2.5s"`) or a bare number of seconds.
/// A duration longer than [`MAX_DURATION`] is refused (`None`) like a malformed one: added to
/// an `Instant`, it would overflow the clock.
pub fn parse_duration(text: &str) -> Option<Duration> {
    parse_any_duration(text).filter(|duration| *duration <= MAX_DURATION)
}

/// [`parse_duration`] without the upper limit, so that the decoder can say which is wrong.
fn parse_any_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(Duration::try_from_secs_f64(number * seconds_per_unit).ok()?)?;
    }
    Some(total)
}

/// The first `$NAME` or `${NAME}` in a path, as a shell would expand it.
fn environment_variable(text: &str) -> Option<&str> {
    let start = text.find('$')?;
    let rest = &text[start + 1..];
    let end = if let Some(inner) = rest.strip_prefix('{') {
        let close = inner.find('}')?;
        (close > 0).then_some(close + 2)?
    } else {
        let length = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let first = rest.chars().next()?;
        (length > 0 && (first.is_ascii_alphabetic() || first == '_')).then_some(length)?
    };
    Some(&text[start..start + 1 + end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_in_paths() {
        assert_eq!(environment_variable("$HOME/x"), Some("$HOME"));
        assert_eq!(
            environment_variable("/a/${VAULT_DIR}/x"),
            Some("${VAULT_DIR}")
        );
        assert_eq!(environment_variable("/a/$_x1.txt"), Some("$_x1"));
        for literal in [
            "/a/b",
            "/a/$",
            "/a/$1",
            "/a/${}",
            "/a/${open",
            "/price$/x",
            "/a$-b",
        ] {
            assert_eq!(environment_variable(literal), None, "{literal}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("5 minutes"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn durations_longer_than_ten_years_are_refused() {
        assert_eq!(parse_duration("87600h"), Some(MAX_DURATION));
        assert_eq!(parse_duration("315360000"), Some(MAX_DURATION));
        assert_eq!(parse_duration("87600h1s"), None);
        assert_eq!(parse_duration("18446744073709551615"), None);
        // Parts that each fit in a Duration but not their sum: no overflow panic.
        assert_eq!(
            parse_any_duration("10000000000000000000s10000000000000000000s"),
            None
        );
        assert_eq!(
            parse_any_duration("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn many_keys_are_checked_in_linear_time() {
        // 100,000 distinct unknown keys in one block: each is looked up among the keys seen
        // before it. With a list that took minutes here; with a map it takes a few seconds
        // even in a debug build.
        let n = 100_000;
        let leaf = |value| Node { value, span: 0..1 };
        let entries = (0..n)
            .map(|i| Entry {
                key: format!("k{i}"),
                key_span: 0..1,
                value: leaf(Value::Number("1".into())),
            })
            .collect();
        let root = leaf(Value::Object(vec![Entry {
            key: "vault".into(),
            key_span: 0..1,
            value: leaf(Value::Object(entries)),
        }]));
        let started = std::time::Instant::now();
        let mut decoder = Decoder::new("f", "x", false);
        decoder.top(&root);
        assert_eq!(decoder.errors.len(), n);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            started.elapsed()
        );
    }
}
