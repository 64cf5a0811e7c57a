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

mod go;
mod helpers;

pub use go::pki;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use handlebars::{Handlebars, RenderErrorReason};
use rand::Rng;
use serde_json::Value;
use tokio::time::Instant;
use vaultward_core::fs::{WriteError, WriteOutcome, write_if_changed_owned};
use vaultward_core::secret::SecretJson;

/// How many secret reads may be in flight at once.
pub const MAX_CONCURRENT_FETCHES: usize = 16;
/// How many discovery rounds a render may take before paths are deemed to never settle.
pub const MAX_ROUNDS: usize = 10;

/// One read a template needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Request {
    /// Handlebars `secret "path"`: the server's whole response for `GET path`.
    Secret(String),
    /// Handlebars `kv "mount/path"`: the key/value map of a KV secret, v1 or v2.
    Kv(String),
    /// Go `secret "path"`: consul-template's read: on a KV v2 mount `data/` is put after the
    /// mount unless the path has `data/` or `metadata/` there; the whole response.
    VaultRead(String),
    /// Go `secret "path" "k=v" …`: a write (`PUT`) of the pairs (sorted by key); the whole
    /// response. On a KV v2 mount the pairs go under `data`, as consul-template writes them.
    VaultWrite(String, Vec<(String, String)>),
    /// Go `pkiCert "path" "k=v" …`: the certificate in `destination` while it is good, else a
    /// new one issued with a write of the pairs to `path`. The value is
    /// `{"Cert": …, "Key": …, "CA": …}`.
    Pki {
        /// The issue path, e.g. `pki/issue/web`.
        path: String,
        /// The issue request's pairs, sorted by key.
        data: Vec<(String, String)>,
        /// The template's destination: the cache of the certificate.
        destination: std::path::PathBuf,
    },
}

impl Request {
    /// The path as the template wrote it.
    pub fn path(&self) -> &str {
        match self {
            Request::Secret(path)
            | Request::Kv(path)
            | Request::VaultRead(path)
            | Request::VaultWrite(path, _)
            | Request::Pki { path, .. } => path,
        }
    }
}

/// The template language of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// consul-template's Go `text/template` syntax (Vault Agent's).
    Go,
    /// Handlebars.
    Handlebars,
}

/// Which syntax a template is in when its config does not say: a `source` file named
/// `*.hbs` / `*.handlebars` is Handlebars and `*.ctmpl` (consul-template's) is Go;
/// otherwise a text with Handlebars block or comment tags (`{{#`, `{{/`, `{{^`, `{{!`, `{{>`,
/// `{{~`; a Go comment `{{/* … */}}` is not one) or the Handlebars-only helpers `kv` and
/// `concat` is Handlebars, and any other text is Go (a Vault Agent template works unchanged).
pub fn detect_syntax(text: &str, source: Option<&Path>) -> Syntax {
    match handlebars_marker(text, source) {
        Some(_) => Syntax::Handlebars,
        None => Syntax::Go,
    }
}

/// What makes [`detect_syntax`] choose Handlebars (for messages: "the `{{#with` tag"), or
/// `None` when it chooses Go.
pub fn handlebars_marker(text: &str, source: Option<&Path>) -> Option<String> {
    if let Some(extension) = source
        .and_then(Path::extension)
        .and_then(|extension| extension.to_str())
    {
        match extension {
            "hbs" | "handlebars" => return Some(format!("its `.{extension}` file name")),
            "ctmpl" => return None,
            _ => {}
        }
    }
    // The actions as Go's lexer sees them, so text inside a Go string (`{{ "{{#raw}}" }}`) or
    // comment (`{{/* {{#each}} */}}`) is not taken for a tag.
    for action in go::check::scan(text).0 {
        let tag = action.text.trim_start_matches('{');
        if tag.starts_with("/*") {
            continue;
        }
        if tag.starts_with(['#', '/', '^', '!', '>', '~']) {
            let shown: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '}' && *c != '(')
                .take(20)
                .collect();
            return Some(format!("the Handlebars tag `{{{{{shown}`"));
        }
        let word = tag
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()
            .unwrap_or_default();
        if matches!(word, "kv" | "concat") {
            return Some(format!("the Handlebars helper `{word}`"));
        }
    }
    None
}

/// A failed read.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchError {
    /// What went wrong, naming the request (never a secret value).
    pub message: String,
    /// True for transport failures and server errors that were already retried; false for
    /// answers about the data (not found, permission denied).
    pub transient: bool,
    /// True when the server refused the credentials (HTTP 403): the token may be gone.
    pub denied: bool,
}

/// What the server said about how long a secret lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    /// The lease id; empty for secrets without a lease (KV).
    pub id: String,
    /// How long the value is valid; zero for static secrets.
    pub duration: Duration,
    /// Whether the lease can be renewed.
    pub renewable: bool,
}

/// A successful read.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The value templates see (wiped when the cache lets go of it).
    pub value: SecretJson,
    /// Its lifetime.
    pub lease: Lease,
}

/// Where secrets come from: the Vault client in the agent, a map in tests.
pub trait SecretSource: Send + Sync + 'static {
    /// Performs one read.
    fn fetch(&self, request: &Request) -> impl Future<Output = Result<Fetched, FetchError>> + Send;

    /// Renews a lease; returns its new lifetime.
    fn renew(&self, lease: &Lease) -> impl Future<Output = Result<Lease, FetchError>> + Send {
        let lease_id = lease.id.clone();
        async move {
            Err(FetchError {
                message: format!("lease `{lease_id}` cannot be renewed"),
                transient: false,
                denied: false,
            })
        }
    }
}

/// What to do about a cached read that is due.
#[derive(Debug, Clone, PartialEq)]
pub enum DueAction {
    /// Read it again (static secrets, non-renewable leases).
    Refetch,
    /// Renew its lease (renewable leases).
    Renew(Lease),
}

/// A cached read that is due for a refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The read.
    pub request: Request,
    /// What to do.
    pub action: DueAction,
}

/// The reads of one engine, movable to a new engine on reload so nothing is read again.
#[derive(Default)]
pub struct Cache(HashMap<Request, Entry>);

/// One cached read.
pub(crate) struct Entry {
    pub result: Result<Arc<SecretJson>, FetchError>,
    pub lease: Lease,
    /// When to refresh it; `None` for failures (retried by the caller).
    pub due_at: Option<Instant>,
}

/// When a fresh read (or a renewed lease) is due: renewable leases at about two thirds of the
/// lease, other leases at about 90 %, static secrets (KV v2, and KV v1 unless its `ttl` is
/// shorter) within the static interval. Each
/// schedule is jittered so that agents started together spread out.
fn due_at(lease: &Lease, static_interval: Duration, now: Instant) -> Instant {
    let mut rng = rand::rng();
    let delay = if lease.renewable && !lease.id.is_empty() && !lease.duration.is_zero() {
        lease.duration.mul_f64(rng.random_range(0.60..0.70))
    } else if !lease.duration.is_zero() && !lease.id.is_empty() {
        lease.duration.mul_f64(rng.random_range(0.85..0.95))
    } else if !lease.duration.is_zero() {
        // No lease id: a KV v1 secret, whose "lease" is the mount's default TTL (32 days) unless
        // it carries a `ttl` key. It is static data: read it within the static interval, or
        // sooner when its `ttl` says so.
        let by_ttl = lease.duration.mul_f64(rng.random_range(0.85..0.95));
        by_ttl.min(static_interval.mul_f64(rng.random_range(0.85..1.0)))
    } else {
        static_interval.mul_f64(rng.random_range(0.85..1.0))
    };
    // A huge lease (or interval) must not overflow the clock: far away is "never".
    now.checked_add(delay.max(Duration::from_millis(100)))
        .unwrap_or_else(|| now + Duration::from_secs(10 * 365 * 24 * 3600))
}

/// What one template needs to be compiled.
#[derive(Debug, Clone)]
pub struct TemplateSpec {
    /// How messages name the template, e.g. "template for `/data/index.html` (config.hcl:12:1)".
    pub name: String,
    /// The template text.
    pub text: String,
    /// Make a missing key an error instead of an empty string (or `<no value>` in Go).
    pub error_on_missing_key: bool,
    /// Its language.
    pub syntax: Syntax,
    /// True when `syntax` was detected (`engine = "auto"`) rather than set in the config;
    /// messages about the wrong language then say what it was detected from.
    pub detected: bool,
    /// Its destination file (`pkiCert` keeps its certificate there).
    pub destination: Option<std::path::PathBuf>,
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
    /// True when rendering again later may succeed: the server answered about the data (not
    /// found, permission denied) or a key is missing, as opposed to a mistake in the template
    /// or a transient failure the source already retried.
    pub retryable: bool,
}

/// Compiled templates plus the cache of secrets read for them.
pub struct Engine {
    lenient: Handlebars<'static>,
    strict: Handlebars<'static>,
    /// The compiled Go templates (see [`go::Compiled`]), when there are any.
    go: Option<go::Compiled>,
    specs: Vec<TemplateSpec>,
    state: Arc<Mutex<State>>,
}

/// Shared between the engine and its helpers while a render runs.
pub(crate) struct State {
    /// Reads done so far, kept until they are due or invalidated.
    pub cache: HashMap<Request, Entry>,
    /// The reads each template used in its last render, by template index: sorted, without
    /// repeats, and exactly as long as needed (a `BTreeSet` allocates a node with room for 11
    /// reads, about 0.8 KiB a template, for the one or two reads a template usually makes).
    pub deps: Vec<Box<[Request]>>,
    /// How often static secrets are read again.
    pub static_interval: Duration,
    /// Reads the current round needed and the cache did not have.
    pub misses: BTreeSet<Request>,
    /// Reads the template being rendered used, to explain a missing key.
    pub used: Vec<Request>,
    /// Set by a helper when the template being rendered needed a read the cache lacks.
    pub missed: bool,
    /// `writeToFile` calls of the Go template being rendered, done only if its render
    /// completes (a round that missed a read must not write placeholder data).
    pub file_writes: Vec<go::FileWrite>,
}

/// A template's reads as [`State::deps`] keeps them: sorted, without repeats, no spare room.
fn dependencies(used: &[Request]) -> Box<[Request]> {
    let mut deps = used.to_vec();
    deps.sort_unstable();
    deps.dedup();
    deps.into_boxed_slice()
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
        let state = Arc::new(Mutex::new(State {
            cache: HashMap::new(),
            deps: vec![Box::default(); specs.len()],
            static_interval: Duration::from_secs(300),
            misses: BTreeSet::new(),
            used: Vec::new(),
            missed: false,
            file_writes: Vec::new(),
        }));
        let mut lenient = Handlebars::new();
        let mut strict = Handlebars::new();
        strict.set_strict_mode(true);
        for (registry, strict_mode) in [(&mut lenient, false), (&mut strict, true)] {
            registry.register_escape_fn(handlebars::no_escape);
            helpers::register(registry, &state, strict_mode);
        }
        let mut errors = Vec::new();
        let mut go = specs
            .iter()
            .any(|spec| spec.syntax == Syntax::Go)
            .then(|| go::Compiled::new(&state));
        // The first shareable Go template of each text and missing-key mode.
        let mut first: HashMap<(&str, bool), usize> = HashMap::new();
        for (index, spec) in specs.iter().enumerate() {
            if let (Syntax::Go, Some(go)) = (spec.syntax, &mut go) {
                let key = (spec.text.as_str(), spec.error_on_missing_key);
                let same = first.get(&key).copied();
                match go.add(index, spec, &state, same) {
                    Ok(shareable) => {
                        if same.is_none() && shareable {
                            first.insert(key, index);
                        }
                    }
                    Err(message) => errors.push(CompileError {
                        template: spec.name.clone(),
                        message,
                    }),
                }
                continue;
            }
            let registry = if spec.error_on_missing_key {
                &mut strict
            } else {
                &mut lenient
            };
            if looks_like_go_template(&spec.text) {
                let message = match handlebars_marker(&spec.text, None) {
                    Some(marker) if spec.detected => format!(
                        "this template mixes Go template syntax (consul-template, as Vault Agent uses) with Handlebars ({marker} made vaultward read it as Handlebars): write it all in Go, `{{{{ with secret \"secret/data/app\" }}}}{{{{ .Data.data.password }}}}{{{{ end }}}}`, or all in Handlebars, `{{{{#with (secret \"secret/data/app\")}}}}{{{{data.data.password}}}}{{{{/with}}}}`; if it is Go text that only looks like Handlebars, set `engine = \"go\"` in the template block (a vaultward setting, which Vault Agent refuses)"
                    ),
                    _ => GO_TEMPLATE_MESSAGE.to_owned(),
                };
                errors.push(CompileError {
                    template: spec.name.clone(),
                    message,
                });
                continue;
            }
            if let Some(message) = helpers::unknown_helper(&spec.text) {
                errors.push(CompileError {
                    template: spec.name.clone(),
                    message,
                });
                continue;
            }
            if let Err(error) = registry.register_template_string(&index.to_string(), &spec.text) {
                errors.push(CompileError {
                    template: spec.name.clone(),
                    message: describe_compile_error(&error, &spec.text),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            lenient,
            strict,
            go,
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

    /// Sets how often static secrets are read again (`static_secret_render_interval`).
    pub fn set_static_interval(&self, interval: Duration) {
        lock(&self.state).static_interval = interval;
    }

    /// Forgets every read, so the next render reads everything again.
    pub fn clear_cache(&self) {
        lock(&self.state).cache.clear();
    }

    /// Forgets failed reads only, so a retry reads just what failed.
    pub fn forget_failures(&self) {
        lock(&self.state)
            .cache
            .retain(|_, entry| entry.result.is_ok());
    }

    /// Forgets the reads that `indices` used, so rendering them again reads fresh data.
    pub fn forget_reads_of(&self, indices: &[usize]) {
        let mut state = lock(&self.state);
        let requests: Vec<Request> = indices
            .iter()
            .filter_map(|i| state.deps.get(*i))
            .flat_map(|deps| deps.iter())
            .cloned()
            .collect();
        for request in requests {
            state.cache.remove(&request);
        }
    }

    /// Takes the cache out, to hand it to the engine that replaces this one on reload.
    pub fn take_cache(&self) -> Cache {
        Cache(std::mem::take(&mut lock(&self.state).cache))
    }

    /// Adopts the cache of the engine this one replaces.
    pub fn adopt_cache(&self, cache: Cache) {
        lock(&self.state).cache = cache.0;
    }

    /// The earliest time a cached read is due for a refresh.
    pub fn next_due(&self) -> Option<Instant> {
        lock(&self.state)
            .cache
            .values()
            .filter_map(|entry| entry.due_at)
            .min()
    }

    /// The cached reads due at `now`.
    pub fn due(&self, now: Instant) -> Vec<Due> {
        let state = lock(&self.state);
        let mut due: Vec<Due> = state
            .cache
            .iter()
            .filter(|(_, entry)| entry.due_at.is_some_and(|at| at <= now))
            .map(|(request, entry)| Due {
                request: request.clone(),
                action: if entry.lease.renewable && !entry.lease.id.is_empty() {
                    DueAction::Renew(entry.lease.clone())
                } else {
                    DueAction::Refetch
                },
            })
            .collect();
        due.sort_by(|a, b| a.request.cmp(&b.request));
        due
    }

    /// Records a renewed lease; a lease that no longer extends much is read again at 90 %.
    pub fn renewed(&self, request: &Request, lease: Lease) {
        let mut state = lock(&self.state);
        let interval = state.static_interval;
        if let Some(entry) = state.cache.get_mut(request) {
            let shrinking = lease.duration * 2 < entry.lease.duration;
            let schedule = if shrinking {
                Lease {
                    renewable: false,
                    ..lease.clone()
                }
            } else {
                lease.clone()
            };
            entry.due_at = Some(due_at(&schedule, interval, Instant::now()));
            entry.lease = lease;
        }
    }

    /// The reads that failed, with their errors.
    pub fn failed_reads(&self) -> Vec<(Request, FetchError)> {
        let state = lock(&self.state);
        let mut failed: Vec<(Request, FetchError)> = state
            .cache
            .iter()
            .filter_map(|(request, entry)| {
                entry
                    .result
                    .as_ref()
                    .err()
                    .map(|error| (request.clone(), error.clone()))
            })
            .collect();
        failed.sort_by(|a, b| a.0.cmp(&b.0));
        failed
    }

    /// Removes `requests` from the cache; returns the templates that used any of them.
    pub fn invalidate(&self, requests: &[Request]) -> Vec<usize> {
        let mut state = lock(&self.state);
        for request in requests {
            state.cache.remove(request);
        }
        state
            .deps
            .iter()
            .enumerate()
            .filter(|(_, deps)| requests.iter().any(|request| deps.contains(request)))
            .map(|(index, _)| index)
            .collect()
    }

    /// Removes every read that holds a lease (its lease belonged to a token that is gone);
    /// returns the templates that used them.
    pub fn invalidate_leased(&self) -> Vec<usize> {
        let leased: Vec<Request> = lock(&self.state)
            .cache
            .iter()
            .filter(|(_, entry)| !entry.lease.id.is_empty())
            .map(|(request, _)| request.clone())
            .collect();
        if leased.is_empty() {
            Vec::new()
        } else {
            self.invalidate(&leased)
        }
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
            state.file_writes.clear();
        }
        if let Some(result) = self.go.as_ref().and_then(|go| go.render(index)) {
            return self.render_go(index, result);
        }
        let result = registry.render(&index.to_string(), &Value::Object(serde_json::Map::new()));
        let mut state = lock(&self.state);
        if state.missed {
            return (Ok(String::new()), true);
        }
        let used = dependencies(&state.used);
        if let Some(deps) = state.deps.get_mut(index) {
            *deps = used;
        }
        // Handlebars starts every output with an 8 KiB buffer; a render of many templates
        // keeps every output until they are written, so give the spare room back.
        let result = result.map(|mut text| {
            text.shrink_to_fit();
            text
        });
        if let Ok(text) = &result
            && text.contains("[object]")
        {
            return (
                Err(RenderFailure {
                    template: spec.name.clone(),
                    message: "it prints a whole object as `[object]`: print one key (`{{data.data.password}}`), or the object as JSON with `{{toJSON data.data}}`".to_owned(),
                    retryable: false,
                }),
                false,
            );
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

    /// Completes the render of Go template `index` from what executing it gave (the state was
    /// reset by the caller before it ran).
    fn render_go(
        &self,
        index: usize,
        result: Result<String, String>,
    ) -> (Result<String, RenderFailure>, bool) {
        let mut state = lock(&self.state);
        let file_writes = std::mem::take(&mut state.file_writes);
        if state.missed {
            return (Ok(String::new()), true);
        }
        // `writeToFile` takes effect only for a complete render.
        let result = result.and_then(|text| {
            for write in &file_writes {
                write.apply()?;
            }
            Ok(text)
        });
        let used = dependencies(&state.used);
        if let Some(deps) = state.deps.get_mut(index) {
            *deps = used;
        }
        let spec = &self.specs[index];
        let output = result.map_err(|message| {
            let retryable = message.starts_with(helpers::RETRYABLE_MARK);
            let message = message
                .trim_start_matches(helpers::RETRYABLE_MARK)
                .to_owned();
            // gotmpl gives no position for errors while running: name the line of the first
            // mention of the key or path in question.
            let place = message
                .split('`')
                .nth(1)
                .and_then(|subject| {
                    go::line_of(&spec.text, &format!(".{subject}"))
                        .or_else(|| go::line_of(&spec.text, &format!("\"{subject}")))
                })
                .map(|line| format!(" (line {line})"))
                .unwrap_or_default();
            RenderFailure {
                template: spec.name.clone(),
                message: format!("{message}{place}"),
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
            let mut state = lock(&self.state);
            let now = Instant::now();
            let entry = match result {
                Ok(fetched) => Entry {
                    due_at: Some(due_at(&fetched.lease, state.static_interval, now)),
                    result: Ok(Arc::new(fetched.value)),
                    lease: fetched.lease,
                },
                Err(error) => Entry {
                    result: Err(error),
                    lease: Lease::default(),
                    due_at: None,
                },
            };
            state.cache.insert(request, entry);
        }
    }
}

/// Writes a rendered template to its destination: parent directories created (0755) when
/// `create_dest_dirs`, atomic write with `perms`, nothing written when unchanged.
pub fn write_destination(
    destination: &Path,
    contents: &str,
    perms: Option<u32>,
    create_dest_dirs: bool,
    owner: vaultward_core::fs::Ownership,
) -> Result<WriteOutcome, WriteError> {
    create_parent(destination, create_dest_dirs)?;
    write_if_changed_owned(
        destination,
        contents.as_bytes(),
        destination_mode(destination, perms),
        owner,
    )
}

/// The mode a destination is written with: `perms` when set; otherwise the mode of the file
/// already there (consul-template keeps it, so a `chmod 600` of a rendered file lasts), or
/// 0644 for a new file.
pub fn destination_mode(destination: &Path, perms: Option<u32>) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    // Following a symlink, as consul-template's `os.Stat` and the unchanged-file check do.
    perms.unwrap_or_else(|| match std::fs::metadata(destination) {
        Ok(metadata) if metadata.is_file() => metadata.permissions().mode() & 0o7777,
        _ => vaultward_config::DEFAULT_TEMPLATE_PERMS,
    })
}

/// One rendered template to write with [`write_destinations`].
#[derive(Debug)]
pub struct DestinationWrite<'a> {
    /// The destination file.
    pub destination: &'a Path,
    /// The rendered text.
    pub contents: &'a str,
    /// The file mode (see [`destination_mode`] when unset).
    pub perms: Option<u32>,
    /// Whether missing parent directories are created.
    pub create_dest_dirs: bool,
    /// Owner and group.
    pub owner: vaultward_core::fs::Ownership,
}

/// [`write_destination`] for many templates at once, with the same guarantees per file, through
/// [`vaultward_core::fs::write_batch`] (created one by one, fsynced `syncs_in_flight` at a
/// time, renamed in place). The results are in the order of `writes`.
pub fn write_destinations(
    writes: &[DestinationWrite<'_>],
    syncs_in_flight: usize,
) -> Vec<Result<WriteOutcome, WriteError>> {
    let mut results: Vec<Option<Result<WriteOutcome, WriteError>>> = Vec::new();
    let mut items = Vec::new();
    let mut positions = Vec::new();
    for (position, write) in writes.iter().enumerate() {
        match create_parent(write.destination, write.create_dest_dirs) {
            Ok(()) => {
                results.push(None);
                positions.push(position);
                items.push(vaultward_core::fs::BatchItem {
                    path: write.destination,
                    contents: write.contents.as_bytes(),
                    mode: destination_mode(write.destination, write.perms),
                    owner: write.owner,
                });
            }
            Err(error) => results.push(Some(Err(error))),
        }
    }
    let written = vaultward_core::fs::write_batch(&items, syncs_in_flight);
    for (position, outcome) in positions.into_iter().zip(written) {
        if let Some(slot) = results.get_mut(position) {
            *slot = Some(outcome);
        }
    }
    results
        .into_iter()
        .zip(writes)
        .map(|(result, write)| {
            result.unwrap_or_else(|| {
                Err(WriteError {
                    path: write.destination.to_path_buf(),
                    step: "write the file",
                    source: std::io::Error::other("the batch lost track of this file"),
                })
            })
        })
        .collect()
}

/// Creates the missing parent directories of `destination` (0755) when `create`.
fn create_parent(destination: &Path, create: bool) -> Result<(), WriteError> {
    if create
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
    Ok(())
}

/// What to say about a Go (consul-template) template, the syntax Vault Agent uses.
const GO_TEMPLATE_MESSAGE: &str = "this is Go template syntax (consul-template, as Vault Agent uses) in a template set to `engine = \"handlebars\"`: remove that setting (Go syntax is detected) or set `engine = \"go\"`; in Handlebars, `{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}` is written `{{#with (secret \"secret/data/app\")}}{{data.data.password}}{{/with}}`";

/// True when a template that Handlebars refuses uses Go template actions.
fn looks_like_go_template(text: &str) -> bool {
    let compact: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    [
        "{{ .",
        "{{.",
        "{{- ",
        " -}}",
        "{{ end }}",
        "{{end}}",
        "{{ with ",
        "{{ range ",
        "{{ if ",
        "{{with ",
        "{{range ",
    ]
    .iter()
    .any(|marker| compact.contains(marker))
}

fn describe_compile_error(error: &handlebars::TemplateError, text: &str) -> String {
    let opened = text.matches("{{#").count() + text.matches("{{~#").count();
    let closed = text.matches("{{/").count() + text.matches("{{~/").count();
    if opened > closed {
        return format!(
            "syntax error: {} block(s) opened with `{{{{#…}}}}` are never closed with `{{{{/…}}}}`",
            opened - closed
        );
    }
    if closed > opened {
        return format!(
            "syntax error: {} `{{{{/…}}}}` close(s) a block that was never opened",
            closed - opened
        );
    }
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
                Some((path, Some(nearest))) => {
                    format!(
                        "key `{key}` is missing from secret `{path}`{position}; did you mean `{nearest}`?"
                    )
                }
                Some((path, None)) => {
                    format!("key `{key}` is missing from secret `{path}`{position}")
                }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn go(text: &str, strict: bool, destination: &str) -> TemplateSpec {
        TemplateSpec {
            name: destination.to_owned(),
            text: text.to_owned(),
            error_on_missing_key: strict,
            syntax: Syntax::Go,
            detected: false,
            destination: Some(destination.into()),
        }
    }

    #[test]
    fn one_compiled_go_template_per_text_and_mode_except_pki_certificates() {
        let text = "{{ with secret \"secret/data/a\" }}{{ .Data.data.x }}{{ end }}";
        let defines = "{{ define \"x\" }}{{ .y }}{{ end }}{{ template \"x\" }}";
        let pki = "{{ with pkiCert \"pki/issue/web\" \"common_name=a\" }}{{ .Cert }}{{ end }}";
        let engine = Engine::new(vec![
            go(text, false, "/out/0"),
            go(text, false, "/out/1"),
            go(text, true, "/out/2"),
            go(text, true, "/out/3"),
            go(pki, false, "/out/4"),
            go(pki, false, "/out/5"),
            go(defines, false, "/out/6"),
            go(defines, false, "/out/7"),
        ])
        .unwrap();
        let go = engine.go.as_ref().unwrap();
        assert!(go.same(0, 1));
        assert!(go.same(2, 3));
        assert!(!go.same(0, 2));
        // pkiCert keeps its certificate in its own destination: no sharing.
        assert!(!go.same(4, 5));
        // A template with defines has a gotmpl template of its own, shared by the same text.
        assert!(go.same(6, 7));
    }

    #[test]
    fn dependencies_are_sorted_without_repeats_or_spare_room() {
        let read = |path: &str| Request::VaultRead(path.to_owned());
        let deps = dependencies(&[read("b"), read("a"), read("b")]);
        assert_eq!(&*deps, &[read("a"), read("b")]);
    }
}
