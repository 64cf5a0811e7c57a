//! The template helpers: `secret`, `kv` and `concat`.
//!
//! Helpers are synchronous, so they never read from the server themselves: they answer from
//! the engine's cache, or record a miss and return null for the engine to fetch before the next
//! round (see the crate docs).

use std::sync::{Arc, Mutex};

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::Value;

use crate::{Request, State, lock};

/// Prefix of a helper error message that means "a read failed for a transient reason".
pub(crate) const RETRYABLE_MARK: &str = "\u{1}retryable:";

pub(crate) fn register(
    registry: &mut Handlebars<'static>,
    state: &Arc<Mutex<State>>,
    strict: bool,
) {
    registry.register_helper(
        "secret",
        Box::new(Lookup {
            state: Arc::clone(state),
            kind: Kind::Secret,
            strict,
        }),
    );
    registry.register_helper(
        "kv",
        Box::new(Lookup {
            state: Arc::clone(state),
            kind: Kind::Kv,
            strict,
        }),
    );
    registry.register_helper("concat", Box::new(Concat));
    registry.register_helper("toJSON", Box::new(ToJson { pretty: false }));
    registry.register_helper("toJSONPretty", Box::new(ToJson { pretty: true }));
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Secret,
    Kv,
}

struct Lookup {
    state: Arc<Mutex<State>>,
    kind: Kind,
    strict: bool,
}

fn other(message: String) -> RenderError {
    RenderErrorReason::Other(message).into()
}

impl HelperDef for Lookup {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let name = helper.name();
        let path = match helper.param(0).map(|p| p.value()) {
            Some(Value::String(path)) if !path.trim().is_empty() => {
                path.trim().trim_matches('/').to_owned()
            }
            // A path computed from a secret not read yet: wait for the next round.
            Some(Value::Null) | None if lock(&self.state).missed => {
                return Ok(ScopedJson::Derived(Value::Null));
            }
            Some(Value::Null) | None => {
                return Err(other(format!(
                    "`{name}` needs a path, e.g. {{{{{name} \"secret/data/app\"}}}}"
                )));
            }
            Some(value) => {
                let found = kind_of(value);
                return Err(other(format!(
                    "`{name}` needs a path as a string, found {found}"
                )));
            }
        };
        let key = match helper.param(1).map(|p| p.value()) {
            None => None,
            Some(Value::String(key)) if self.kind == Kind::Kv => Some(key.clone()),
            // Values may be secrets: messages name their kind, never their content.
            Some(value) => {
                let found = kind_of(value);
                return Err(other(match self.kind {
                    Kind::Kv => format!(
                        "`kv` takes a key as a string as its second argument, found {found}"
                    ),
                    Kind::Secret => format!(
                        "`secret` takes one argument, the path; found another one ({found})"
                    ),
                }));
            }
        };
        let request = match self.kind {
            Kind::Secret => Request::Secret(path),
            Kind::Kv => Request::Kv(path),
        };
        let mut state = lock(&self.state);
        let cached = state.cache.get(&request).map(|entry| entry.result.clone());
        let Some(result) = cached else {
            state.missed = true;
            state.misses.insert(request);
            return Ok(ScopedJson::Derived(Value::Null));
        };
        state.used.push(request.clone());
        drop(state);
        let value = match result {
            Ok(value) => value,
            // An answer about the data (not found, permission denied) may change later (a
            // secret being created, a policy being fixed), so it is worth another attempt; a
            // transient failure was already retried by the source, and a mistake in the
            // template itself will not fix itself.
            Err(error) => {
                let mark = if error.transient { "" } else { RETRYABLE_MARK };
                return Err(other(format!("{mark}{}", error.message)));
            }
        };
        let Some(key) = key else {
            return Ok(ScopedJson::Derived(Value::clone(&value)));
        };
        match value.get(&key) {
            Some(found) => Ok(ScopedJson::Derived(found.clone())),
            None if self.strict => {
                let keys: Vec<&str> = value
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let nearest = vaultward_core::text::suggest(&key, &keys)
                    .map(|nearest| format!("; did you mean `{nearest}`?"))
                    .unwrap_or_default();
                Err(other(format!(
                    "{RETRYABLE_MARK}key `{key}` is missing from secret `{}`{nearest}",
                    request.path()
                )))
            }
            None => Ok(ScopedJson::Derived(Value::Null)),
        }
    }
}

/// Helpers that may be called with arguments: ours and Handlebars' own.
const KNOWN_HELPERS: &[&str] = &[
    "secret",
    "kv",
    "concat",
    "toJSON",
    "toJSONPretty",
    "if",
    "unless",
    "each",
    "with",
    "lookup",
    "log",
    "raw",
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "and",
    "or",
    "not",
    "len",
];

/// The first helper a template calls that does not exist, as a message; checked at compile
/// time so that `validate` catches it, not the first render after a login.
pub(crate) fn unknown_helper(text: &str) -> Option<String> {
    use handlebars::template::{Parameter, Template, TemplateElement};
    fn in_parameter(parameter: &Parameter) -> Option<String> {
        match parameter {
            Parameter::Subexpression(sub) => in_element(&sub.element),
            _ => None,
        }
    }
    fn in_element(element: &TemplateElement) -> Option<String> {
        match element {
            TemplateElement::Expression(helper)
            | TemplateElement::HtmlExpression(helper)
            | TemplateElement::HelperBlock(helper) => {
                let called = helper.block || !helper.params.is_empty() || !helper.hash.is_empty();
                if let Some(name) = helper.name.as_name()
                    && called
                    && !KNOWN_HELPERS.contains(&name)
                {
                    return Some(name.to_owned());
                }
                helper
                    .params
                    .iter()
                    .chain(helper.hash.values())
                    .find_map(in_parameter)
                    .or_else(|| helper.template.as_ref().and_then(in_template))
                    .or_else(|| helper.inverse.as_ref().and_then(in_template))
            }
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                Some(">".to_owned())
            }
            TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                Some("*".to_owned())
            }
            _ => None,
        }
    }
    fn in_template(template: &Template) -> Option<String> {
        template.elements.iter().find_map(in_element)
    }
    let template = Template::compile(text).ok()?;
    let name = in_template(&template)?;
    if name == ">" || name == "*" {
        return Some("partials (`{{> name}}`) and decorators (`{{#*inline}}`) are not supported in vaultward templates".to_owned());
    }
    let hint = match name.as_str() {
        "env" | "file" | "printf" | "index" | "base64Decode" | "base64Encode" | "trimSpace"
        | "toYAML" => " (a Go template function of Vault Agent; Go templates are planned)",
        _ => "",
    };
    Some(format!(
        "unknown helper `{name}`{hint}; the helpers are `secret`, `kv`, `concat`, `toJSON`, `toJSONPretty` and Handlebars' own (`if`, `unless`, `each`, `with`, `lookup`, `eq`, `and`, `or`, `not`, …)"
    ))
}

/// What kind of value a JSON value is, for messages that must not show secret content.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `toJSON value` / `toJSONPretty value`: a value as JSON text.
struct ToJson {
    pretty: bool,
}

impl HelperDef for ToJson {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let value = helper
            .param(0)
            .map(|p| p.value().clone())
            .unwrap_or(Value::Null);
        let text = if self.pretty {
            serde_json::to_string_pretty(&value)
        } else {
            serde_json::to_string(&value)
        };
        text.map(|text| ScopedJson::Derived(Value::String(text)))
            .map_err(|error| other(format!("`toJSON` cannot encode the value: {error}")))
    }
}

/// `concat a b …`: joins its arguments into one string, to compute paths.
struct Concat;

impl HelperDef for Concat {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let mut joined = String::new();
        for param in helper.params() {
            match param.value() {
                Value::String(text) => joined.push_str(text),
                Value::Null => return Ok(ScopedJson::Derived(Value::Null)),
                other => joined.push_str(&other.to_string()),
            }
        }
        Ok(ScopedJson::Derived(Value::String(joined)))
    }
}

/// Which secret a missing variable path (`data.data.nokey`) was looked up in: the secret used
/// by the template in which the path minus its last segment exists but the last key does not.
/// Also returns the existing key nearest to the missing one, when there is a likely typo.
pub(crate) fn secret_missing(state: &State, variable: &str) -> Option<(String, Option<String>)> {
    let segments: Vec<&str> = variable.split('.').collect();
    let (last, parents) = segments.split_last()?;
    state.used.iter().find_map(|request| {
        let value = state.cache.get(request)?.result.as_ref().ok()?;
        let mut node: &Value = value;
        for segment in parents {
            node = node.get(segment)?;
        }
        let object = node.as_object()?;
        if object.contains_key(*last) {
            return None;
        }
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let nearest = vaultward_core::text::suggest(last, &keys).map(str::to_owned);
        Some((request.path().to_owned(), nearest))
    })
}
