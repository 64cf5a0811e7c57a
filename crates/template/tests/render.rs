//! Rendering rules, tested offline against an in-memory [`SecretSource`].

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use vaultward_template::{
    DueAction, Engine, FetchError, Fetched, Lease, Request, SecretSource, Syntax, TemplateSpec,
};

/// Secrets in a map; counts every read.
#[derive(Default)]
struct MapSource {
    secrets: HashMap<Request, Value>,
    leases: HashMap<Request, Lease>,
    reads: Mutex<Vec<Request>>,
}

impl MapSource {
    fn with(entries: &[(Request, Value)]) -> Arc<Self> {
        Arc::new(Self {
            secrets: entries.iter().cloned().collect(),
            ..Self::default()
        })
    }

    fn reads(&self) -> Vec<Request> {
        self.reads.lock().unwrap().clone()
    }
}

impl SecretSource for MapSource {
    async fn fetch(&self, request: &Request) -> Result<Fetched, FetchError> {
        self.reads.lock().unwrap().push(request.clone());
        let value = self
            .secrets
            .get(request)
            .cloned()
            .ok_or_else(|| FetchError {
                message: format!("secret `{}`: no secret exists at this path", request.path()),
                transient: false,
                denied: false,
            })?;
        Ok(Fetched {
            value: value.into(),
            lease: self.leases.get(request).cloned().unwrap_or_default(),
        })
    }
}

fn spec(name: &str, text: &str, strict: bool) -> TemplateSpec {
    TemplateSpec {
        name: name.to_owned(),
        text: text.to_owned(),
        error_on_missing_key: strict,
        syntax: Syntax::Handlebars,
        detected: false,
        destination: None,
    }
}

fn secret(path: &str) -> Request {
    Request::Secret(path.to_owned())
}

fn kv(path: &str) -> Request {
    Request::Kv(path.to_owned())
}

fn kv2_response(data: Value) -> Value {
    json!({ "data": { "data": data, "metadata": { "version": 1 } }, "lease_duration": 0, "renewable": false })
}

async fn render(engine: &Engine, source: &Arc<MapSource>) -> Vec<Result<String, String>> {
    let indices: Vec<usize> = (0..engine.len()).collect();
    let mut results = engine.render(&indices, source).await;
    results.sort_by_key(|(index, _)| *index);
    results
        .into_iter()
        .map(|(_, result)| result.map_err(|failure| failure.to_string()))
        .collect()
}

#[tokio::test]
async fn each_distinct_path_is_read_once_whatever_the_number_of_templates() {
    let source = MapSource::with(&[(
        secret("secret/data/app"),
        kv2_response(json!({ "password": "p<&>" })),
    )]);
    let specs = (0..50)
        .map(|i| {
            spec(
                &format!("t{i}"),
                "{{#with (secret \"secret/data/app\")}}{{data.data.password}}{{/with}}",
                false,
            )
        })
        .collect();
    let engine = Engine::new(specs).unwrap();
    let results = render(&engine, &source).await;
    assert!(
        results.iter().all(|r| r.as_deref() == Ok("p<&>")),
        "no HTML escaping: {results:?}"
    );
    assert_eq!(source.reads(), vec![secret("secret/data/app")]);
}

#[tokio::test]
async fn computed_paths_are_discovered_in_rounds() {
    let source = MapSource::with(&[
        (kv("kv/pointer"), json!({ "target": "app" })),
        (
            secret("secret/data/app"),
            kv2_response(json!({ "password": "hunter2" })),
        ),
    ]);
    let engine = Engine::new(vec![spec(
        "chained",
        "{{#with (secret (concat \"secret/data/\" (kv \"kv/pointer\" \"target\")))}}{{data.data.password}}{{/with}}",
        false,
    )])
    .unwrap();
    assert_eq!(
        render(&engine, &source).await,
        vec![Ok("hunter2".to_owned())]
    );
    assert_eq!(
        source.reads(),
        vec![kv("kv/pointer"), secret("secret/data/app")]
    );
}

#[tokio::test]
async fn missing_keys_render_empty_or_fail_naming_template_path_and_key() {
    let source = MapSource::with(&[
        (
            secret("secret/data/app"),
            kv2_response(json!({ "user": "app" })),
        ),
        (kv("secret/app"), json!({ "user": "app" })),
    ]);
    let engine = Engine::new(vec![
        spec(
            "lenient",
            "[{{#with (secret \"secret/data/app\")}}{{data.data.nokey}}{{/with}}]",
            false,
        ),
        spec(
            "strict",
            "[{{#with (secret \"secret/data/app\")}}{{data.data.nokey}}{{/with}}]",
            true,
        ),
        spec("strict-kv", "[{{kv \"secret/app\" \"nokey\"}}]", true),
        spec("lenient-kv", "[{{kv \"secret/app\" \"nokey\"}}]", false),
    ])
    .unwrap();
    let results = render(&engine, &source).await;
    assert_eq!(results[0], Ok("[]".to_owned()));
    assert_eq!(
        results[1],
        Err(
            "strict: key `nokey` is missing from secret `secret/data/app` (line 1, column 38)"
                .to_owned()
        )
    );
    assert_eq!(
        results[2],
        Err(
            "strict-kv: key `nokey` is missing from secret `secret/app` (line 1, column 2)"
                .to_owned()
        )
    );
    assert_eq!(results[3], Ok("[]".to_owned()));
}

#[tokio::test]
async fn a_failed_read_fails_only_the_templates_that_need_it() {
    let source = MapSource::with(&[(kv("secret/app"), json!({ "user": "app" }))]);
    let engine = Engine::new(vec![
        spec("good", "{{kv \"secret/app\" \"user\"}}", false),
        spec("bad", "{{kv \"secret/missing\" \"user\"}}", false),
    ])
    .unwrap();
    let indices = [0, 1];
    let mut results = engine.render(&indices, &source).await;
    results.sort_by_key(|(index, _)| *index);
    assert_eq!(results[0].1.as_deref(), Ok("app"));
    let failure = results[1].1.as_ref().unwrap_err();
    assert_eq!(
        failure.to_string(),
        "bad: secret `secret/missing`: no secret exists at this path (line 1, column 1)"
    );
    assert!(failure.retryable, "a failed read is worth retrying");
}

#[test]
fn compile_errors_name_the_template_and_position_all_at_once() {
    let errors = Engine::new(vec![
        spec("one", "fine {{#with x}}unclosed", false),
        spec("two", "ok", false),
        spec("three", "{{#if x}}{{else}}{{/if}} {{x", false),
    ])
    .err()
    .unwrap();
    let names: Vec<&str> = errors.iter().map(|e| e.template.as_str()).collect();
    assert_eq!(names, ["one", "three"]);
    assert!(
        errors[0]
            .message
            .starts_with("syntax error: 1 block(s) opened"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[1]
            .message
            .starts_with("syntax error at line 1, column"),
        "{}",
        errors[1].message
    );
}

#[tokio::test]
async fn wrong_helper_arguments_are_not_retried() {
    let source = MapSource::with(&[]);
    let engine = Engine::new(vec![spec("t", "{{secret 42}}", false)]).unwrap();
    let results = engine.render(&[0], &source).await;
    let failure = results[0].1.as_ref().unwrap_err();
    assert_eq!(
        failure.message,
        "`secret` needs a path as a string, found a number (line 1, column 1)"
    );
    assert!(!failure.retryable);
}

#[tokio::test(start_paused = true)]
async fn refresh_schedule_static_within_interval_leases_earlier() {
    let mut source = MapSource::default();
    source
        .secrets
        .insert(kv("secret/static"), json!({ "k": "v" }));
    source.secrets.insert(
        secret("database/creds/app"),
        json!({ "data": { "username": "u" } }),
    );
    source
        .secrets
        .insert(secret("kv1/with-ttl"), json!({ "data": { "k": "v" } }));
    let renewable = Lease {
        id: "database/creds/app/abc".into(),
        duration: Duration::from_secs(60),
        renewable: true,
    };
    source
        .leases
        .insert(secret("database/creds/app"), renewable.clone());
    source.leases.insert(
        secret("kv1/with-ttl"),
        Lease {
            id: String::new(),
            duration: Duration::from_secs(80),
            renewable: false,
        },
    );
    let source = Arc::new(source);
    let engine = Engine::new(vec![
        spec("static", "{{kv \"secret/static\" \"k\"}}", false),
        spec(
            "db",
            "{{#with (secret \"database/creds/app\")}}{{data.username}}{{/with}}",
            false,
        ),
        spec(
            "ttl",
            "{{#with (secret \"kv1/with-ttl\")}}{{data.k}}{{/with}}",
            false,
        ),
    ])
    .unwrap();
    engine.set_static_interval(Duration::from_secs(100));
    let start = tokio::time::Instant::now();
    render(&engine, &source).await;

    // Nothing is due at first; the renewable lease comes first, at about two thirds.
    assert!(engine.due(tokio::time::Instant::now()).is_empty());
    let first = engine.next_due().unwrap() - start;
    assert!(
        first >= Duration::from_secs(36) && first <= Duration::from_secs(42),
        "{first:?}"
    );
    tokio::time::advance((start + Duration::from_secs(42)) - tokio::time::Instant::now()).await;
    let due = engine.due(tokio::time::Instant::now());
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].action, DueAction::Renew(renewable));

    // A lease without renewal (KV v1 with a ttl) is read again at about 90 % (68–76 s).
    tokio::time::advance(Duration::from_secs(78 - 42)).await;
    let due: Vec<Request> = engine
        .due(tokio::time::Instant::now())
        .into_iter()
        .map(|d| d.request)
        .collect();
    assert!(due.contains(&secret("kv1/with-ttl")), "{due:?}");
    assert!(!due.contains(&kv("secret/static")), "{due:?}");

    // Static secrets are due within the static interval, never after it.
    tokio::time::advance(Duration::from_secs(100 - 78)).await;
    let due: Vec<Request> = engine
        .due(tokio::time::Instant::now())
        .into_iter()
        .map(|d| d.request)
        .collect();
    assert!(due.contains(&kv("secret/static")), "{due:?}");

    // Invalidating a due read names exactly the templates that used it.
    assert_eq!(engine.invalidate(&[kv("secret/static")]), vec![0]);
    assert_eq!(engine.invalidate_leased(), vec![1]);
}

#[test]
fn go_template_syntax_in_a_handlebars_template_is_recognised_and_translated() {
    let errors = Engine::new(vec![spec(
        "go",
        "{{- with secret \"secret/data/app/config\" }}Password: {{ .Data.data.password }}{{- end }}",
        false,
    )])
    .err()
    .unwrap();
    assert_eq!(
        errors[0].to_string(),
        "go: this is Go template syntax (consul-template, as Vault Agent uses) in a template set to `engine = \"handlebars\"`: remove that setting (Go syntax is detected) or set `engine = \"go\"`; in Handlebars, `{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}` is written `{{#with (secret \"secret/data/app\")}}{{data.data.password}}{{/with}}`"
    );
}

#[test]
fn a_detected_mix_of_go_and_handlebars_names_what_it_was_detected_from() {
    let text = "{{#with (secret \"secret/data/app/config\")}}{{ .Data.data.password }}{{/with}}";
    assert_eq!(
        vaultward_template::detect_syntax(text, None),
        Syntax::Handlebars
    );
    let errors = Engine::new(vec![TemplateSpec {
        detected: true,
        ..spec("mixed", text, false)
    }])
    .err()
    .unwrap();
    assert_eq!(
        errors[0].to_string(),
        "mixed: this template mixes Go template syntax (consul-template, as Vault Agent uses) with Handlebars (the Handlebars tag `{{#with` made vaultward read it as Handlebars): write it all in Go, `{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}`, or all in Handlebars, `{{#with (secret \"secret/data/app\")}}{{data.data.password}}{{/with}}`; if it is Go text that only looks like Handlebars, set `engine = \"go\"` in the template block (a vaultward setting, which Vault Agent refuses)"
    );
    assert_eq!(
        vaultward_template::handlebars_marker("{{kv \"secret/a\" \"b\"}} {{ .X }}", None)
            .as_deref(),
        Some("the Handlebars helper `kv`")
    );
    assert_eq!(
        vaultward_template::handlebars_marker("x", Some(std::path::Path::new("/t/app.hbs")))
            .as_deref(),
        Some("its `.hbs` file name")
    );
}

#[test]
fn go_actions_that_handlebars_would_accept_are_refused_too() {
    for text in [
        "{{ with secret \"secret/data/db\" }}static{{ end }}",
        "{{ with secret \"secret/data/db\" }}{{ end }}",
        "{{- if true }}x{{- end }}",
    ] {
        let errors = Engine::new(vec![spec("go", text, false)])
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"));
        assert!(
            errors[0].message.starts_with("this is Go template syntax"),
            "{}",
            errors[0].message
        );
    }
}

#[test]
fn unknown_helpers_are_compile_errors() {
    let errors = Engine::new(vec![spec(
        "t",
        "{{#with (secret \"x\")}}{{env \"HOME\"}}{{/with}}",
        false,
    )])
    .err()
    .unwrap();
    assert!(
        errors[0]
            .message
            .starts_with("unknown helper `env` (a Go template function"),
        "{}",
        errors[0].message
    );
    assert!(
        Engine::new(vec![spec(
            "ok",
            "{{#each (kv \"a\")}}{{@key}}={{this}} {{/each}}{{lookup (kv \"a\") \"k\"}}",
            false
        )])
        .is_ok()
    );
}

#[tokio::test]
async fn printing_a_whole_object_is_an_error_and_to_json_prints_it() {
    let source = MapSource::with(&[(secret("secret/data/app"), kv2_response(json!({ "a": "1" })))]);
    let engine = Engine::new(vec![
        spec("object", "{{secret \"secret/data/app\"}}", false),
        spec(
            "json",
            "{{#with (secret \"secret/data/app\")}}{{toJSON data.data}}{{/with}}",
            false,
        ),
    ])
    .unwrap();
    let results = render(&engine, &source).await;
    assert!(
        results[0]
            .as_ref()
            .unwrap_err()
            .contains("it prints a whole object as `[object]`"),
        "{results:?}"
    );
    assert_eq!(results[1].as_deref(), Ok("{\"a\":\"1\"}"));
}

#[test]
fn unbalanced_blocks_are_named() {
    let errors = Engine::new(vec![spec("t", "a {{#with x}} b", false)])
        .err()
        .unwrap();
    assert_eq!(
        errors[0].message,
        "syntax error: 1 block(s) opened with `{{#…}}` are never closed with `{{/…}}`"
    );
}

#[tokio::test]
async fn a_misspelled_key_gets_the_nearest_one() {
    let source = MapSource::with(&[
        (
            secret("secret/data/app"),
            kv2_response(json!({ "password": "p" })),
        ),
        (kv("secret/app"), json!({ "password": "p" })),
    ]);
    let engine = Engine::new(vec![
        spec(
            "strict",
            "{{#with (secret \"secret/data/app\")}}{{data.data.pasword}}{{/with}}",
            true,
        ),
        spec("strict-kv", "{{kv \"secret/app\" \"pasword\"}}", true),
    ])
    .unwrap();
    let results = render(&engine, &source).await;
    assert!(
        results[0]
            .as_ref()
            .unwrap_err()
            .ends_with("; did you mean `password`?"),
        "{results:?}"
    );
    assert!(
        results[1]
            .as_ref()
            .unwrap_err()
            .contains("; did you mean `password`?"),
        "{results:?}"
    );
}

#[test]
fn partials_are_refused_at_compile_time() {
    let errors = Engine::new(vec![spec(
        "t",
        "{{#*inline \"a\"}}x{{> a}}{{/inline}}{{> a}}",
        false,
    )])
    .err()
    .unwrap();
    assert!(
        errors[0].message.starts_with("partials"),
        "{}",
        errors[0].message
    );
    let errors = Engine::new(vec![spec(
        "t",
        "{{> (kv \"secret/app\" \"password\")}}",
        false,
    )])
    .err()
    .unwrap();
    assert!(
        errors[0].message.starts_with("partials"),
        "{}",
        errors[0].message
    );
}

#[tokio::test]
async fn errors_never_show_secret_values() {
    let source = MapSource::with(&[(kv("secret/app"), json!({ "password": "S3cr3t-value" }))]);
    let engine = Engine::new(vec![
        spec("a", "{{secret (kv \"secret/app\")}}", false),
        spec(
            "b",
            "{{secret \"x\" (kv \"secret/app\" \"password\")}}",
            false,
        ),
        spec("c", "{{kv \"secret/app\" (kv \"secret/app\")}}", false),
    ])
    .unwrap();
    for result in render(&engine, &source).await {
        let message = result.unwrap_err();
        assert!(!message.contains("S3cr3t"), "{message}");
    }
}
