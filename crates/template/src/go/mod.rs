//! Go templates: consul-template's syntax, as Vault Agent and OpenBao Agent render them.
//!
//! The parser and executor are gotmpl's (a Rust port of Go's `text/template`); this module adds
//! the checks gotmpl leaves out (see [`check`]), consul-template's function library, and the
//! data model consul-template gives templates: `secret` returns `.Data`, `.LeaseID`,
//! `.LeaseDuration`, `.Renewable`, `.RequestID`, `.Warnings`, `.Auth`, `.WrapInfo`.
//!
//! A Go template renders in the same rounds as a Handlebars one (see the crate docs): a
//! `secret` call whose read is not in the cache yet records a miss and returns an empty
//! secret, so the rest of the template runs and its other reads are found in the same round;
//! the output of a round with a miss is thrown away.

pub(crate) mod check;
mod compact;
pub(crate) mod encode;
pub mod pki;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use gotmpl::{MissingKey, Template, TemplateError, Value};
use serde_json::Value as Json;

use crate::helpers::RETRYABLE_MARK;
use crate::{Request, State, lock};

/// The functions vaultward defines, beyond Go's builtins.
pub(crate) const FUNCTIONS: &[&str] = &[
    "secret",
    "env",
    "mustEnv",
    "envOrDefault",
    "file",
    "toJSON",
    "toJSONPretty",
    "toUnescapedJSON",
    "toUnescapedJSONPretty",
    "toYAML",
    "base64Encode",
    "base64Decode",
    "base64URLEncode",
    "base64URLDecode",
    "trimSpace",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "split",
    "join",
    "contains",
    "in",
    "replaceAll",
    "indent",
    "toLower",
    "toUpper",
    "parseJSON",
    "parseBool",
    "parseInt",
    "writeToFile",
    "pkiCert",
];

/// Go's `text/template` builtins (gotmpl has them all).
const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
    "urlquery", "call", "eq", "ne", "lt", "le", "gt", "ge",
];

/// consul-template functions vaultward does not have yet: named as such when used.
const NOT_YET: &[&str] = &[
    "secrets",
    "executeTemplate",
    "scratch",
    "sockaddr",
    "plugin",
    "timestamp",
    "loop",
    "toTOML",
    "toTitle",
    "parseYAML",
    "parseFloat",
    "parseUint",
    "regexReplaceAll",
    "regexMatch",
    "splitToMap",
    "containsAll",
    "containsAny",
    "containsNone",
    "containsNotAll",
    "explodeMap",
    "mergeMap",
    "mergeMapWithOverride",
    "sha256Hex",
    "md5sum",
    "hmacSHA256Hex",
    "add",
    "subtract",
    "multiply",
    "divide",
    "modulo",
    "minimum",
    "maximum",
];

/// Go's `strings.ToUpper`: each character by its own simple mapping, so `ß` stays `ß` (Rust's
/// full mapping would make it `SS`).
fn go_to_upper(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(single), None) => single,
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToLower`: each character by its own simple mapping, so a final `Σ` is `σ`
/// (Rust's `str::to_lowercase` would make it `ς`) and `İ` is `i`.
fn go_to_lower(text: &str) -> String {
    text.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// Compiles a Go template: block balance, parse, known functions.
fn compile(
    spec: &crate::TemplateSpec,
    state: &Arc<Mutex<State>>,
    bases: &Bases,
) -> Result<Parsed, String> {
    let (text, strict) = (&spec.text, spec.error_on_missing_key);
    check::blocks(text).map_err(|message| format!("syntax error at {message}"))?;
    let (mut tree, defines) = gotmpl::parse::Parser::new(text, "{{", "}}")
        .and_then(|parser| parser.parse())
        .map_err(|error| describe_parse_error(&error))?;
    // Every function problem of the template at once, so one run of `validate` lists them all.
    let mut problems: Vec<String> = Vec::new();
    let called = check::functions(&tree, &defines);
    for (function, line) in &called {
        let (function, line) = (function.as_str(), *line);
        if FUNCTIONS.contains(&function) || BUILTINS.contains(&function) {
            continue;
        }
        let problem = if NOT_YET.contains(&function)
            || function.starts_with("sprig_")
            || function.starts_with("spew_")
        {
            format!(
                "line {line}: `{function}` is a consul-template function that vaultward does not support yet"
            )
        } else {
            unknown_function(function, line)
        };
        if !problems.contains(&problem) {
            problems.push(problem);
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    if let Some((field, line)) = check::secret_fields(&tree, &defines).into_iter().next() {
        let hint = vaultward_core::text::suggest(&field, check::SECRET_FIELDS)
            .map(|nearest| format!("did you mean `.{nearest}`? "))
            .unwrap_or_default();
        return Err(format!(
            "line {line}: a secret has no field `.{field}`; {hint}a secret has {}, and a KV version 2 secret's values are under `.Data.data`",
            check::SECRET_FIELDS
                .iter()
                .map(|field| format!("`.{field}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let uses_pki = called.iter().any(|(function, _)| function == "pkiCert");
    // A template that calls a template (`{{ template "…" }}`; the keyword must be in its
    // text) stays out of the shared set too: a name spelled with escapes (`"\x000"`) could
    // reach another template's tree there.
    if !uses_pki && defines.is_empty() && !text.contains("template") {
        // The usual template: its tree joins the shared set (see `Compiled`).
        compact::list(&mut tree);
        return Ok(Parsed::Tree(tree));
    }
    let mut template = if uses_pki {
        // pkiCert keeps its certificate in this template's destination.
        base(strict, functions(state, spec.destination.as_deref()))
    } else {
        bases.get(strict).clone()
    };
    // The tree parsed once for the checks is the one executed, its vectors shrunk to their
    // length (a node is about 170 bytes, and each list starts with room for 4).
    let mut named: BTreeMap<String, gotmpl::parse::ListNode> = BTreeMap::new();
    for mut define in defines {
        compact::list(&mut define.body);
        let name = define.name.to_string();
        match named.get(&name) {
            Some(existing) if !existing.is_empty_tree() && !define.body.is_empty_tree() => {
                return Err(format!(
                    "line {}: the template `{name}` is defined twice",
                    define.pos.line
                ));
            }
            // As Go: an empty definition does not replace a non-empty one.
            Some(existing) if define.body.is_empty_tree() && !existing.is_empty_tree() => {}
            _ => {
                named.insert(name, define.body);
            }
        }
    }
    for (name, body) in named {
        template = template.add_parse_tree(&name, body);
    }
    compact::list(&mut tree);
    Ok(Parsed::Own {
        template: template.add_parse_tree(MAIN, tree),
        shareable: !uses_pki,
    })
}

/// The name a template's own text is kept under in its own gotmpl template (no template name
/// can be typed like it).
const MAIN: &str = "\u{0}vaultward";

/// What [`compile`] makes of a template.
enum Parsed {
    /// A template with neither `define`s nor `pkiCert`: just its tree.
    Tree(gotmpl::parse::ListNode),
    /// A template with its own `define`s (names are per template), a `template` call, or
    /// calling `pkiCert`: a gotmpl template of its own, its text under [`MAIN`].
    Own {
        template: Template,
        /// False for a `pkiCert` template, bound to its destination (its certificate is kept
        /// there), which another template of the same text must not share.
        shareable: bool,
    },
}

/// Where a compiled template is: cheap to clone, so templates with the same text and
/// missing-key mode share one.
#[derive(Clone)]
enum Entry {
    /// In [`Compiled::shared`] (lenient or strict), under the name [`shared_name`] of `slot`.
    Shared { strict: bool, slot: usize },
    /// A gotmpl template of its own.
    Own(Arc<Template>),
}

/// The name of a tree in the shared set (a NUL first, so no template can call it by name).
fn shared_name(slot: usize) -> String {
    format!("\u{0}{slot}")
}

/// Every Go template of an engine, compiled.
///
/// gotmpl keeps a template's trees in a map of named trees with its options beside them (about
/// 0.6 KiB a template before the tree itself). Most templates define nothing, call no other
/// template and no `pkiCert`, so their trees are kept together in one gotmpl template per
/// missing-key mode, each under a name of its own that no template can call; only a template
/// with `define`s, a `template` call or `pkiCert` gets its own gotmpl template. Templates with the same text and mode share one compiled template, as
/// consul-template's runner keeps one template per distinct content.
pub(crate) struct Compiled {
    bases: Bases,
    /// The shared trees: lenient, then strict (`error_on_missing_key`).
    shared: [Template; 2],
    /// How many trees the shared set holds.
    slots: usize,
    /// By template index; `None` for a Handlebars template.
    entries: Vec<Option<Entry>>,
}

impl Compiled {
    pub(crate) fn new(state: &Arc<Mutex<State>>) -> Self {
        let bases = Bases::new(state);
        let shared = [bases.lenient.clone(), bases.strict.clone()];
        Compiled {
            bases,
            shared,
            slots: 0,
            entries: Vec::new(),
        }
    }

    /// Compiles template `index`, or shares the template compiled for the same text and
    /// missing-key mode at `same`. Returns whether later templates of the same text and mode
    /// may share this one (not a `pkiCert` template).
    pub(crate) fn add(
        &mut self,
        index: usize,
        spec: &crate::TemplateSpec,
        state: &Arc<Mutex<State>>,
        same: Option<usize>,
    ) -> Result<bool, String> {
        let mut shareable = true;
        let entry = match same.and_then(|same| self.entries.get(same).cloned().flatten()) {
            Some(entry) => entry,
            None => match compile(spec, state, &self.bases)? {
                Parsed::Tree(tree) => {
                    let strict = spec.error_on_missing_key;
                    let slot = self.slots;
                    self.slots += 1;
                    let set = &mut self.shared[usize::from(strict)];
                    *set = std::mem::replace(set, Template::new(""))
                        .add_parse_tree(&shared_name(slot), tree);
                    Entry::Shared { strict, slot }
                }
                Parsed::Own {
                    template,
                    shareable: own,
                } => {
                    shareable = own;
                    Entry::Own(Arc::new(template))
                }
            },
        };
        if self.entries.len() <= index {
            self.entries.resize(index + 1, None);
        }
        self.entries[index] = Some(entry);
        Ok(shareable)
    }

    /// True when templates `a` and `b` share one compiled template.
    #[cfg(test)]
    pub(crate) fn same(&self, a: usize, b: usize) -> bool {
        match (self.entries.get(a), self.entries.get(b)) {
            (
                Some(Some(Entry::Shared { strict, slot })),
                Some(Some(Entry::Shared {
                    strict: other_strict,
                    slot: other_slot,
                })),
            ) => strict == other_strict && slot == other_slot,
            (Some(Some(Entry::Own(a))), Some(Some(Entry::Own(b)))) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Renders template `index`; `Err` holds the message (with [`RETRYABLE_MARK`] first when
    /// rendering later may succeed). `None` when it is not a Go template.
    pub(crate) fn render(&self, index: usize) -> Option<Result<String, String>> {
        let data = Value::Map(Arc::new(BTreeMap::new()));
        let result = match self.entries.get(index)?.as_ref()? {
            Entry::Shared { strict, slot } => self.shared[usize::from(*strict)]
                .execute_template_to_string(&shared_name(*slot), &data),
            Entry::Own(template) => template.execute_template_to_string(MAIN, &data),
        };
        Some(result.map_err(|error| match error {
            TemplateError::MissingKey { key } => {
                format!("{RETRYABLE_MARK}map has no entry for key `{key}`")
            }
            TemplateError::Exec(message) => message,
            other => other.to_string(),
        }))
    }
}

/// An unnamed template: gotmpl keeps a second copy of a named template's tree (as Go's
/// `treeSet[name]`), which vaultward never uses, since its templates are not called by name;
/// the template's own name is in vaultward's messages instead.
fn base(strict: bool, functions: gotmpl::FuncMap) -> Template {
    Template::new("")
        .missing_key(if strict {
            MissingKey::Error
        } else {
            MissingKey::Invalid
        })
        .funcs(functions)
}

/// Empty templates holding the function map, one per missing-key mode, cloned for each
/// template: the clones share the map, where building it for every template cost about
/// 10 KiB each (10 MiB for 1000 templates).
struct Bases {
    lenient: Template,
    strict: Template,
}

impl Bases {
    fn new(state: &Arc<Mutex<State>>) -> Self {
        Bases {
            lenient: base(false, functions(state, None)),
            strict: base(true, functions(state, None)),
        }
    }

    fn get(&self, strict: bool) -> &Template {
        if strict { &self.strict } else { &self.lenient }
    }
}

/// "unknown function", with the nearest known name.
fn unknown_function(function: &str, line: usize) -> String {
    let known: Vec<&str> = FUNCTIONS.iter().chain(BUILTINS).copied().collect();
    // `toJson` for `toJSON`: a different case is the likeliest slip.
    let hint = known
        .iter()
        .find(|name| name.eq_ignore_ascii_case(function))
        .copied()
        .or_else(|| vaultward_core::text::suggest(function, &known))
        .map(|nearest| format!(", did you mean `{nearest}`?"))
        .unwrap_or_default();
    format!("line {line}: unknown function `{function}`{hint}")
}

/// `line L, column C: message` from gotmpl's `template: NAME:L:C: message`.
fn describe_parse_error(error: &TemplateError) -> String {
    match error {
        TemplateError::Parse {
            line, col, message, ..
        }
        | TemplateError::Lex {
            line, col, message, ..
        } => format!("syntax error at line {line}, column {col}: {message}"),
        other => format!("syntax error: {other}"),
    }
}

fn fail(message: impl Into<String>) -> TemplateError {
    TemplateError::Exec(message.into())
}

fn string_arg<'a>(args: &'a [Value], index: usize, function: &str) -> gotmpl::Result<&'a str> {
    args.get(index).and_then(Value::as_str).ok_or_else(|| {
        fail(format!(
            "`{function}` needs a string as argument {}",
            index + 1
        ))
    })
}

fn string(text: impl AsRef<str>) -> Value {
    Value::String(Arc::from(text.as_ref()))
}

/// What a template function gets: its arguments.
type Function = Arc<dyn Fn(&[Value]) -> gotmpl::Result<Value> + Send + Sync>;

/// consul-template's functions, the Vault ones reading through the engine's cache.
fn functions(state: &Arc<Mutex<State>>, destination: Option<&std::path::Path>) -> gotmpl::FuncMap {
    let mut map: BTreeMap<String, Function> = BTreeMap::new();
    let pki_state = Arc::clone(state);
    let pki_destination = destination.map(std::path::Path::to_path_buf);
    map.insert(
        "pkiCert".into(),
        Arc::new(move |args: &[Value]| pki_cert(&pki_state, pki_destination.as_deref(), args)),
    );
    let secret_state = Arc::clone(state);
    map.insert(
        "secret".into(),
        Arc::new(move |args: &[Value]| secret(&secret_state, args)),
    );
    map.insert(
        "env".into(),
        Arc::new(|args: &[Value]| {
            Ok(string(
                env_var(string_arg(args, 0, "env")?).unwrap_or_default(),
            ))
        }),
    );
    map.insert(
        "mustEnv".into(),
        Arc::new(|args: &[Value]| {
            let name = string_arg(args, 0, "mustEnv")?;
            match env_var(name) {
                Some(value) if !value.is_empty() => Ok(string(value)),
                _ => Err(fail(format!(
                    "required environment variable {name} is empty"
                ))),
            }
        }),
    );
    map.insert(
        "envOrDefault".into(),
        Arc::new(|args: &[Value]| {
            let name = string_arg(args, 0, "envOrDefault")?;
            let default = string_arg(args, 1, "envOrDefault")?;
            Ok(string(env_var(name).unwrap_or_else(|| default.to_owned())))
        }),
    );
    map.insert(
        "file".into(),
        Arc::new(|args: &[Value]| {
            let path = string_arg(args, 0, "file")?;
            if path.is_empty() {
                return Ok(string(""));
            }
            std::fs::read_to_string(path)
                .map(string)
                .map_err(|error| fail(format!("{RETRYABLE_MARK}file `{path}`: {error}")))
        }),
    );
    for (name, escape, indent) in [
        ("toJSON", true, false),
        ("toJSONPretty", true, true),
        ("toUnescapedJSON", false, false),
        ("toUnescapedJSONPretty", false, true),
    ] {
        map.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let value = args.first().unwrap_or(&Value::Nil);
                encode::json(value, escape, indent)
                    .map(string)
                    .map_err(|error| fail(format!("{name}: {error}")))
            }),
        );
    }
    map.insert(
        "toYAML".into(),
        Arc::new(|args: &[Value]| {
            yaml::yaml(args.first().unwrap_or(&Value::Nil))
                .map(string)
                .map_err(|error| fail(format!("toYAML: {error}")))
        }),
    );
    let engines: [(&str, &base64::engine::GeneralPurpose); 2] = [
        ("base64", &base64::engine::general_purpose::STANDARD),
        ("base64URL", &base64::engine::general_purpose::URL_SAFE),
    ];
    for (prefix, engine) in engines {
        let encode_name = format!("{prefix}Encode");
        let decode_name = format!("{prefix}Decode");
        let encode_label = encode_name.clone();
        map.insert(
            encode_name,
            Arc::new(move |args: &[Value]| {
                Ok(string(engine.encode(string_arg(args, 0, &encode_label)?)))
            }),
        );
        let decode_label = decode_name.clone();
        map.insert(
            decode_name,
            Arc::new(move |args: &[Value]| {
                // Go's decoder skips line ends, as in wrapped PEM-style base64.
                let text: String = string_arg(args, 0, &decode_label)?
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n'))
                    .collect();
                let decoded = engine
                    .decode(text)
                    .map_err(|error| fail(format!("{decode_label}: {error}")))?;
                Ok(string(String::from_utf8_lossy(&decoded)))
            }),
        );
    }
    map.insert(
        "trimSpace".into(),
        Arc::new(|args: &[Value]| Ok(string(string_arg(args, 0, "trimSpace")?.trim()))),
    );
    map.insert(
        "trim".into(),
        Arc::new(|args: &[Value]| {
            let cutset = string_arg(args, 0, "trim")?;
            let text = string_arg(args, 1, "trim")?;
            Ok(string(text.trim_matches(|c| cutset.contains(c))))
        }),
    );
    map.insert(
        "trimPrefix".into(),
        Arc::new(|args: &[Value]| {
            let prefix = string_arg(args, 0, "trimPrefix")?;
            let text = string_arg(args, 1, "trimPrefix")?;
            Ok(string(text.strip_prefix(prefix).unwrap_or(text)))
        }),
    );
    map.insert(
        "trimSuffix".into(),
        Arc::new(|args: &[Value]| {
            let suffix = string_arg(args, 0, "trimSuffix")?;
            let text = string_arg(args, 1, "trimSuffix")?;
            Ok(string(text.strip_suffix(suffix).unwrap_or(text)))
        }),
    );
    map.insert(
        "split".into(),
        Arc::new(|args: &[Value]| {
            let separator = string_arg(args, 0, "split")?;
            let text = string_arg(args, 1, "split")?.trim();
            if text.is_empty() {
                return Ok(Value::List(Arc::from(Vec::new())));
            }
            let parts: Vec<Value> = if separator.is_empty() {
                text.chars().map(|c| string(c.to_string())).collect()
            } else {
                text.split(separator).map(string).collect()
            };
            Ok(Value::List(Arc::from(parts)))
        }),
    );
    map.insert(
        "join".into(),
        Arc::new(|args: &[Value]| {
            let separator = string_arg(args, 0, "join")?;
            let Some(Value::List(items)) = args.get(1) else {
                return Err(fail("`join` needs a list of strings as argument 2"));
            };
            let parts: Vec<String> = items.iter().map(|item| item.to_string()).collect();
            Ok(string(parts.join(separator)))
        }),
    );
    map.insert(
        "in".into(),
        Arc::new(|args: &[Value]| {
            Ok(Value::Bool(contains_value(
                args.first().unwrap_or(&Value::Nil),
                args.get(1).unwrap_or(&Value::Nil),
            )))
        }),
    );
    map.insert(
        "contains".into(),
        Arc::new(|args: &[Value]| {
            Ok(Value::Bool(contains_value(
                args.get(1).unwrap_or(&Value::Nil),
                args.first().unwrap_or(&Value::Nil),
            )))
        }),
    );
    map.insert(
        "replaceAll".into(),
        Arc::new(|args: &[Value]| {
            let from = string_arg(args, 0, "replaceAll")?;
            let to = string_arg(args, 1, "replaceAll")?;
            let text = string_arg(args, 2, "replaceAll")?;
            Ok(string(go_replace_all(text, from, to)))
        }),
    );
    map.insert(
        "indent".into(),
        Arc::new(|args: &[Value]| {
            let spaces = args
                .first()
                .and_then(Value::as_int)
                .ok_or_else(|| fail("`indent` needs a number of spaces as argument 1"))?;
            if spaces < 0 {
                return Err(fail("indent value must be a positive integer"));
            }
            let text = string_arg(args, 1, "indent")?;
            let prefix = " ".repeat(usize::try_from(spaces).unwrap_or(0));
            let mut output = String::with_capacity(text.len());
            let mut at_line_start = true;
            for c in text.chars() {
                if at_line_start && c != '\n' {
                    output.push_str(&prefix);
                }
                output.push(c);
                at_line_start = c == '\n';
            }
            Ok(string(output))
        }),
    );
    map.insert(
        "toLower".into(),
        Arc::new(|args: &[Value]| Ok(string(go_to_lower(string_arg(args, 0, "toLower")?)))),
    );
    map.insert(
        "toUpper".into(),
        Arc::new(|args: &[Value]| Ok(string(go_to_upper(string_arg(args, 0, "toUpper")?)))),
    );
    map.insert(
        "parseJSON".into(),
        Arc::new(|args: &[Value]| {
            let text = string_arg(args, 0, "parseJSON")?;
            if text.is_empty() {
                return Ok(Value::Map(Arc::new(BTreeMap::new())));
            }
            let json: Json =
                serde_json::from_str(text).map_err(|error| fail(format!("parseJSON: {error}")))?;
            Ok(from_json(&json))
        }),
    );
    map.insert(
        "parseBool".into(),
        Arc::new(|args: &[Value]| {
            let text = string_arg(args, 0, "parseBool")?;
            match text {
                "" => Ok(Value::Bool(false)),
                "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Value::Bool(true)),
                "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Value::Bool(false)),
                other => Err(fail(format!("parseBool: invalid syntax: {other:?}"))),
            }
        }),
    );
    let write_state = Arc::clone(state);
    map.insert(
        "writeToFile".into(),
        Arc::new(move |args: &[Value]| {
            let write = FileWrite::from_args(args)?;
            lock(&write_state).file_writes.push(write);
            Ok(string(""))
        }),
    );
    map.insert(
        "parseInt".into(),
        Arc::new(|args: &[Value]| {
            let text = string_arg(args, 0, "parseInt")?;
            if text.is_empty() {
                return Ok(Value::Int(0));
            }
            text.parse::<i64>()
                .map(Value::Int)
                .map_err(|error| fail(format!("parseInt: {error}")))
        }),
    );
    map
}

/// A `writeToFile path user group perms [flags] content` call, done after the render.
#[derive(Debug, Clone)]
pub(crate) struct FileWrite {
    path: std::path::PathBuf,
    user: String,
    group: String,
    mode: u32,
    append: bool,
    content: String,
}

impl FileWrite {
    fn from_args(args: &[Value]) -> gotmpl::Result<FileWrite> {
        if !(5..=6).contains(&args.len()) {
            return Err(fail(format!(
                "writeToFile takes a path, a user, a group, a mode, optional flags and the content; found {} arguments",
                args.len()
            )));
        }
        let path = string_arg(args, 0, "writeToFile")?;
        let user = string_arg(args, 1, "writeToFile")?;
        let group = string_arg(args, 2, "writeToFile")?;
        let mode_text = string_arg(args, 3, "writeToFile")?;
        let mode = u32::from_str_radix(mode_text, 8).map_err(|_| {
            fail(format!(
                "writeToFile: the mode `{mode_text}` is not an octal number such as \"0644\""
            ))
        })?;
        let flags = if args.len() == 6 {
            string_arg(args, 4, "writeToFile")?
        } else {
            ""
        };
        let mut content = string_arg(args, args.len() - 1, "writeToFile")?.to_owned();
        if flags.contains("newline") {
            content.push('\n');
        }
        Ok(FileWrite {
            path: std::path::PathBuf::from(path),
            user: user.to_owned(),
            group: group.to_owned(),
            mode: mode & 0o7777,
            append: flags.contains("append"),
            content,
        })
    }

    /// Writes the file: atomically (and not at all when unchanged), or appended to.
    pub(crate) fn apply(&self) -> Result<(), String> {
        let what = format!("writeToFile `{}`", self.path.display());
        let id = |name: &str, lookup: fn(&str) -> Option<u32>, kind: &str| {
            if name.is_empty() {
                return Ok(None);
            }
            lookup(name)
                .or_else(|| name.parse().ok())
                .map(Some)
                .ok_or_else(|| format!("{what}: unknown {kind} `{name}`"))
        };
        let owner = vaultward_core::fs::Ownership {
            uid: id(&self.user, vaultward_core::users::user_id, "user")?,
            gid: id(&self.group, vaultward_core::users::group_id, "group")?,
        };
        if self.append {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(self.mode)
                .open(&self.path)
                .map_err(|error| format!("{what}: {error}"))?;
            file.write_all(self.content.as_bytes())
                .map_err(|error| format!("{what}: {error}"))?;
            return Ok(());
        }
        if let Some(parent) = self.path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            std::fs::create_dir_all(parent).map_err(|error| format!("{what}: {error}"))?;
        }
        vaultward_core::fs::write_if_changed_owned(
            &self.path,
            self.content.as_bytes(),
            self.mode,
            owner,
        )
        .map(|_| ())
        .map_err(|error| error.to_string())
    }
}

/// `strings.Replace(s, from, to, -1)`: an empty `from` inserts `to` around every character.
fn go_replace_all(text: &str, from: &str, to: &str) -> String {
    if !from.is_empty() {
        return text.replace(from, to);
    }
    let mut output = String::from(to);
    for c in text.chars() {
        output.push(c);
        output.push_str(to);
    }
    output
}

/// consul-template's `in`: a list holding the value (same type), or a string holding it.
fn contains_value(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::List(items) => items.iter().any(|item| match (item, needle) {
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            _ => false,
        }),
        Value::String(text) => needle.as_str().is_some_and(|part| text.contains(part)),
        _ => false,
    }
}

/// `env`: the variable, falling back between `VAULT_` and `BAO_` names as OpenBao's does.
fn env_var(name: &str) -> Option<String> {
    if let Ok(value) = std::env::var(name) {
        return Some(value);
    }
    let other = if let Some(rest) = name.strip_prefix("VAULT_") {
        format!("BAO_{rest}")
    } else if let Some(rest) = name.strip_prefix("BAO_") {
        format!("VAULT_{rest}")
    } else {
        return None;
    };
    std::env::var(other).ok()
}

/// The `k=v` arguments of `secret` and `pkiCert`, sorted, the last of a key winning.
fn pairs(args: &[Value], function: &str) -> gotmpl::Result<Vec<(String, String)>> {
    let mut data: Vec<(String, String)> = Vec::new();
    for arg in args {
        let text = arg.as_str().ok_or_else(|| {
            fail(format!(
                "`{function}` takes strings: a path and `key=value` pairs"
            ))
        })?;
        if text.is_empty() {
            continue;
        }
        let Some((key, value)) = text.split_once('=') else {
            return Err(fail(format!("not k=v pair {text:?}")));
        };
        let key = key.trim().to_owned();
        data.retain(|(existing, _)| *existing != key);
        data.push((key, value.trim().to_owned()));
    }
    data.sort();
    Ok(data)
}

/// `pkiCert "path" "k=v" …`: the certificate kept in the template's destination, issued again
/// near its expiry. Returns `.Cert`, `.Key`, `.CA` (also as `.Data.Cert`, …).
fn pki_cert(
    state: &Arc<Mutex<State>>,
    destination: Option<&std::path::Path>,
    args: &[Value],
) -> gotmpl::Result<Value> {
    let Some(path) = args.first().and_then(Value::as_str) else {
        return Ok(Value::Nil);
    };
    let Some(destination) = destination else {
        return Err(fail(
            "`pkiCert` needs the template's destination, where it keeps the certificate",
        ));
    };
    let request = Request::Pki {
        path: path.trim().trim_matches('/').to_owned(),
        data: pairs(args.get(1..).unwrap_or_default(), "pkiCert")?,
        destination: destination.to_path_buf(),
    };
    let mut state = lock(state);
    let cached = state.cache.get(&request).map(|entry| entry.result.clone());
    let Some(result) = cached else {
        state.missed = true;
        state.misses.insert(request);
        return Ok(Value::Nil);
    };
    state.used.push(request);
    drop(state);
    match result {
        Ok(pems) => {
            let mut fields = BTreeMap::new();
            for key in ["Cert", "Key", "CA"] {
                fields.insert(
                    Arc::from(key),
                    string(pems[key].as_str().unwrap_or_default()),
                );
            }
            let data = Value::Map(Arc::new(fields.clone()));
            fields.insert(Arc::from("Data"), data);
            Ok(Value::Map(Arc::new(fields)))
        }
        Err(error) => {
            let mark = if error.transient { "" } else { RETRYABLE_MARK };
            Err(fail(format!("{mark}{}", error.message)))
        }
    }
}

/// `secret "path"` (a read) or `secret "path" "k=v" …` (a write), through the cache.
fn secret(state: &Arc<Mutex<State>>, args: &[Value]) -> gotmpl::Result<Value> {
    let Some(path) = args.first().and_then(Value::as_str) else {
        return Ok(Value::Nil);
    };
    // consul-template trims spaces and slashes: `"/secret/data/app/"` reads `secret/data/app`.
    let path = path.trim().trim_matches('/');
    if path.is_empty() {
        return Err(fail("`secret` needs a path, such as \"secret/data/app\""));
    }
    let data = pairs(args.get(1..).unwrap_or_default(), "secret")?;
    let request = if data.is_empty() {
        Request::VaultRead(path.to_owned())
    } else {
        Request::VaultWrite(path.to_owned(), data)
    };
    let mut state = lock(state);
    let cached = state.cache.get(&request).map(|entry| entry.result.clone());
    let Some(result) = cached else {
        state.missed = true;
        state.misses.insert(request);
        return Ok(empty_secret());
    };
    state.used.push(request);
    drop(state);
    match result {
        Ok(response) => Ok(secret_value(&response)),
        Err(error) => {
            let mark = if error.transient { "" } else { RETRYABLE_MARK };
            Err(fail(format!("{mark}{}", error.message)))
        }
    }
}

/// What `secret` returns while its read is pending: an empty secret whose `.Data.data` and
/// `.Data.metadata` exist, so the rest of the template runs and shows its other reads.
fn empty_secret() -> Value {
    let mut data = BTreeMap::new();
    data.insert(Arc::from("data"), Value::Map(Arc::new(BTreeMap::new())));
    data.insert(Arc::from("metadata"), Value::Map(Arc::new(BTreeMap::new())));
    let mut secret = BTreeMap::new();
    secret.insert(Arc::from("Data"), Value::Map(Arc::new(data)));
    Value::Map(Arc::new(secret))
}

/// A response as consul-template's `Secret`.
fn secret_value(response: &Json) -> Value {
    let text = |key: &str| string(response[key].as_str().unwrap_or_default());
    let mut secret = BTreeMap::new();
    secret.insert(Arc::from("RequestID"), text("request_id"));
    secret.insert(Arc::from("LeaseID"), text("lease_id"));
    secret.insert(
        Arc::from("LeaseDuration"),
        Value::Int(response["lease_duration"].as_i64().unwrap_or(0)),
    );
    secret.insert(
        Arc::from("Renewable"),
        Value::Bool(response["renewable"].as_bool().unwrap_or(false)),
    );
    secret.insert(
        Arc::from("Data"),
        match &response["data"] {
            Json::Object(_) => from_json(&response["data"]),
            _ => Value::Map(Arc::new(BTreeMap::new())),
        },
    );
    secret.insert(
        Arc::from("Warnings"),
        match &response["warnings"] {
            Json::Array(items) if !items.is_empty() => from_json(&response["warnings"]),
            // Go's nil `[]string`: prints `[]`, has length 0.
            _ => Value::List(Arc::from(Vec::new())),
        },
    );
    let auth = &response["auth"];
    secret.insert(
        Arc::from("Auth"),
        if auth.is_object() {
            let mut fields = BTreeMap::new();
            fields.insert(
                Arc::from("ClientToken"),
                string(auth["client_token"].as_str().unwrap_or_default()),
            );
            fields.insert(
                Arc::from("Accessor"),
                string(auth["accessor"].as_str().unwrap_or_default()),
            );
            fields.insert(Arc::from("Policies"), from_json(&auth["policies"]));
            fields.insert(Arc::from("Metadata"), from_json(&auth["metadata"]));
            fields.insert(
                Arc::from("LeaseDuration"),
                Value::Int(auth["lease_duration"].as_i64().unwrap_or(0)),
            );
            fields.insert(
                Arc::from("Renewable"),
                Value::Bool(auth["renewable"].as_bool().unwrap_or(false)),
            );
            Value::Map(Arc::new(fields))
        } else {
            Value::Nil
        },
    );
    let wrap = &response["wrap_info"];
    secret.insert(
        Arc::from("WrapInfo"),
        if wrap.is_object() {
            let mut fields = BTreeMap::new();
            fields.insert(
                Arc::from("Token"),
                string(wrap["token"].as_str().unwrap_or_default()),
            );
            fields.insert(
                Arc::from("TTL"),
                Value::Int(wrap["ttl"].as_i64().unwrap_or(0)),
            );
            fields.insert(
                Arc::from("CreationTime"),
                string(wrap["creation_time"].as_str().unwrap_or_default()),
            );
            fields.insert(
                Arc::from("WrappedAccessor"),
                string(wrap["wrapped_accessor"].as_str().unwrap_or_default()),
            );
            Value::Map(Arc::new(fields))
        } else {
            Value::Nil
        },
    );
    Value::Map(Arc::new(secret))
}

/// JSON as template data. Numbers keep their integer or float form.
pub(crate) fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::Uint(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => string(s),
        Json::Array(items) => Value::List(items.iter().map(from_json).collect::<Vec<_>>().into()),
        Json::Object(map) => Value::Map(Arc::new(
            map.iter()
                .map(|(key, value)| (Arc::from(key.as_str()), from_json(value)))
                .collect(),
        )),
    }
}

/// The line of the first place `needle` appears in `text`, for messages about a running
/// template (gotmpl reports no position for execution errors).
pub(crate) fn line_of(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.find(needle)
        .map(|offset| text[..offset].matches('\n').count() + 1)
}
