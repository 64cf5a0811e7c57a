//! Handlebars templates rendered against secrets, without knowing where secrets come from.
//!
//! # Flow
//!
//! [`Engine::new`] compiles every template once (all compile errors are reported together).
//! [`Engine::render`] then renders a set of templates in *rounds*:
//!
//! 1. Render every pending template. The `secret` and `kv` helpers look their path up in the
//!    engine's cache; a path not there yet is recorded as a *miss* and the helper returns null.
//! 2. If there were misses, fetch them all from the [`SecretSource`] (concurrently, at most
//!    [`MAX_CONCURRENT_FETCHES`] at a time) and render again the templates that missed.
//! 3. Stop when no template misses anything. A template's output is only used from a round in
//!    which it missed nothing, so partial output is never written.
//!
//! Paths computed inside a template (`secret (concat "secret/data/" (kv "kv1/ptr" "name"))`)
//! are discovered by the rounds. The cache is shared by all templates, so each distinct path is
//! read once per render, however many templates use it.
//!
//! **Architecture invariant:** this crate does not depend on the HTTP client. It sees secrets
//! only through [`SecretSource`], so every rendering rule is tested offline.

mod helpers;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use handlebars::{Handlebars, RenderErrorReason};
use serde_json::Value;
use vaultward_core::fs::{WriteError, WriteOutcome, write_if_changed};

/// How many secret reads may be in flight at once.
pub const MAX_CONCURRENT_FETCHES: usize = 16;
/// How many discovery rounds a render may take before paths are deemed to never settle.
pub const MAX_ROUNDS: usize = 10;

/// One read a template needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Request {
    /// `secret "path"`: the server's whole response for `GET path`.
    Secret(String),
    /// `kv "mount/path"`: the key/value map of a KV secret, v1 or v2.
    Kv(String),
}

impl Request {
    /// The path as the template wrote it.
    pub fn path(&self) -> &str {
        match self {
            Request::Secret(path) | Request::Kv(path) => path,
        }
    }
}

/// A failed read.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchError {
    /// What went wrong, naming the request (never a secret value).
    pub message: String,
    /// True when trying again later may succeed.
    pub retryable: bool,
}

/// Where secrets come from: the Vault client in the agent, a map in tests.
pub trait SecretSource: Send + Sync + 'static {
    /// Performs one read.
    fn fetch(&self, request: &Request) -> impl Future<Output = Result<Value, FetchError>> + Send;
}

/// What one template needs to be compiled.
#[derive(Debug, Clone)]
pub struct TemplateSpec {
    /// How messages name the template, e.g. "template for `/data/index.html` (config.hcl:12:1)".
    pub name: String,
    /// The handlebars text.
    pub text: String,
    /// Make a missing key an error instead of an empty string.
    pub error_on_missing_key: bool,
}

/// A template that does not compile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{template}: {message}")]
pub struct CompileError {
    /// The template's name.
    pub template: String,
    /// The problem, with its line and column in the template.
    pub message: String,
}

/// A template that could not be rendered this time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{template}: {message}")]
pub struct RenderFailure {
    /// The template's name.
    pub template: String,
    /// The cause: a failed read, a missing key, a template runtime error.
    pub message: String,
    /// True when rendering again later may succeed: a read failed or a key is missing (data can
    /// change), as opposed to a mistake in the template itself.
    pub retryable: bool,
}

/// Compiled templates plus the cache of secrets read for them.
pub struct Engine {
    lenient: Handlebars<'static>,
    strict: Handlebars<'static>,
    specs: Vec<TemplateSpec>,
    state: Arc<Mutex<State>>,
}

/// Shared between the engine and its helpers while a render runs.
#[derive(Default)]
pub(crate) struct State {
    /// Reads done so far, kept until [`Engine::clear_cache`] or [`Engine::forget_failures`].
    pub cache: HashMap<Request, Result<Arc<Value>, FetchError>>,
    /// Reads the current round needed and the cache did not have.
    pub misses: BTreeSet<Request>,
    /// Reads the template being rendered used, to explain a missing key.
    pub used: Vec<Request>,
    /// Set by a helper when the template being rendered needed a read the cache lacks.
    pub missed: bool,
}

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A helper never panics while holding the lock; if one did, the data is still usable.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Engine {
    /// Compiles every template; returns every compile error at once.
    pub fn new(specs: Vec<TemplateSpec>) -> Result<Self, Vec<CompileError>> {
        let state = Arc::new(Mutex::new(State::default()));
        let mut lenient = Handlebars::new();
        let mut strict = Handlebars::new();
        strict.set_strict_mode(true);
        for (registry, strict_mode) in [(&mut lenient, false), (&mut strict, true)] {
            registry.register_escape_fn(handlebars::no_escape);
            helpers::register(registry, &state, strict_mode);
        }
        let mut errors = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let registry = if spec.error_on_missing_key {
                &mut strict
            } else {
                &mut lenient
            };
            if let Err(error) = registry.register_template_string(&index.to_string(), &spec.text) {
                errors.push(CompileError {
                    template: spec.name.clone(),
                    message: describe_compile_error(&error),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            lenient,
            strict,
            specs,
            state,
        })
    }

    /// The number of templates.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True when there are no templates.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The name of template `index`.
    pub fn name(&self, index: usize) -> &str {
        self.specs.get(index).map_or("", |spec| spec.name.as_str())
    }

    /// Forgets every read, so the next render reads everything again.
    pub fn clear_cache(&self) {
        lock(&self.state).cache.clear();
    }

    /// Forgets failed reads only, so a retry reads just what failed.
    pub fn forget_failures(&self) {
        lock(&self.state).cache.retain(|_, result| result.is_ok());
    }

    /// How many distinct reads the cache holds (successful or not).
    pub fn cached_reads(&self) -> usize {
        lock(&self.state).cache.len()
    }

    /// Renders the templates at `indices`, reading what they need from `source`.
    pub async fn render<S: SecretSource>(
        &self,
        indices: &[usize],
        source: &Arc<S>,
    ) -> Vec<(usize, Result<String, RenderFailure>)> {
        let mut pending: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|i| *i < self.specs.len())
            .collect();
        let mut done = Vec::with_capacity(pending.len());
        for _round in 0..MAX_ROUNDS {
            let mut still_pending = Vec::new();
            for index in pending {
                let (output, missed) = self.render_one(index);
                if missed {
                    still_pending.push(index);
                } else {
                    done.push((index, output));
                }
            }
            if still_pending.is_empty() {
                return done;
            }
            let misses: Vec<Request> = std::mem::take(&mut lock(&self.state).misses)
                .into_iter()
                .collect();
            self.fetch_all(misses, source).await;
            pending = still_pending;
        }
        for index in pending {
            done.push((
                index,
                Err(RenderFailure {
                    template: self.name(index).to_owned(),
                    message: format!("the secret paths it reads were still changing after {MAX_ROUNDS} rounds of reads"),
                    retryable: false,
                }),
            ));
        }
        done
    }

    /// Renders one template; returns its output and whether it missed a read.
    fn render_one(&self, index: usize) -> (Result<String, RenderFailure>, bool) {
        let spec = &self.specs[index];
        let registry = if spec.error_on_missing_key {
            &self.strict
        } else {
            &self.lenient
        };
        {
            let mut state = lock(&self.state);
            state.used.clear();
            state.missed = false;
        }
        let result = registry.render(&index.to_string(), &Value::Object(serde_json::Map::new()));
        let state = lock(&self.state);
        if state.missed {
            return (Ok(String::new()), true);
        }
        let output = result.map_err(|error| {
            let retryable = match error.reason() {
                RenderErrorReason::Other(message) => message.starts_with(helpers::RETRYABLE_MARK),
                RenderErrorReason::MissingVariable(_) => true,
                _ => false,
            };
            RenderFailure {
                template: spec.name.clone(),
                message: describe_render_error(&error, &state),
                retryable,
            }
        });
        (output, false)
    }

    async fn fetch_all<S: SecretSource>(&self, requests: Vec<Request>, source: &Arc<S>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES));
        let mut tasks = tokio::task::JoinSet::new();
        for request in requests {
            let source = Arc::clone(source);
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let result = source.fetch(&request).await;
                (request, result)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let Ok((request, result)) = joined else {
                continue;
            };
            lock(&self.state)
                .cache
                .insert(request, result.map(Arc::new));
        }
    }
}

/// Writes a rendered template to its destination: parent directories created (0755) when
/// `create_dest_dirs`, atomic write with `perms`, nothing written when unchanged.
pub fn write_destination(
    destination: &Path,
    contents: &str,
    perms: u32,
    create_dest_dirs: bool,
) -> Result<WriteOutcome, WriteError> {
    if create_dest_dirs
        && let Some(parent) = destination.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|source| WriteError {
                path: destination.to_path_buf(),
                step: "create its parent directories",
                source,
            })?;
    }
    write_if_changed(destination, contents.as_bytes(), perms)
}

fn describe_compile_error(error: &handlebars::TemplateError) -> String {
    let position = match error.pos() {
        Some((line, column)) => format!("line {line}, column {column}: "),
        None => String::new(),
    };
    let reason = error.reason().to_string();
    // pest's "expected …" lists are long and unhelpful; keep the first part.
    let reason = reason.lines().next().unwrap_or_default().to_owned();
    format!("syntax error at {position}{reason}")
}

fn describe_render_error(error: &handlebars::RenderError, state: &State) -> String {
    let position = match (error.line_no, error.column_no) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
        _ => String::new(),
    };
    match error.reason() {
        RenderErrorReason::MissingVariable(Some(variable)) => {
            let key = variable.rsplit('.').next().unwrap_or(variable);
            match helpers::secret_missing(state, variable) {
                Some(path) => format!("key `{key}` is missing from secret `{path}`{position}"),
                None => format!("key `{variable}` is missing{position}"),
            }
        }
        RenderErrorReason::Other(message) => {
            format!(
                "{}{position}",
                message.trim_start_matches(helpers::RETRYABLE_MARK)
            )
        }
        other => format!("{other}{position}"),
    }
}
