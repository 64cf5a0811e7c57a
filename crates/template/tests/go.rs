//! Go (consul-template) templates, tested offline against an in-memory [`SecretSource`]: the
//! syntax Vault Agent templates use, the `secret` data model, the function library, and the
//! checks on malformed templates. Byte-for-byte comparison with `bao agent` on a real server
//! is in the integration tests.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use vaultward_template::{
    Engine, FetchError, Fetched, Request, SecretSource, Syntax, TemplateSpec, detect_syntax,
};

#[derive(Default)]
struct MapSource {
    secrets: HashMap<Request, Value>,
    reads: Mutex<Vec<Request>>,
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
            lease: Default::default(),
        })
    }
}

fn read(path: &str) -> Request {
    Request::VaultRead(path.to_owned())
}

fn source() -> Arc<MapSource> {
    let mut secrets = HashMap::new();
    secrets.insert(
        read("secret/data/app"),
        json!({
            "request_id": "r-1", "lease_id": "", "lease_duration": 0, "renewable": false,
            "data": { "data": { "password": "p<&>w", "user": "app", "db-host": "db.local", "port": 5432, "list": ["a", "b"] },
                      "metadata": { "version": 3 } },
        }),
    );
    secrets.insert(
        read("kv1/app"),
        json!({ "lease_duration": 2764800, "renewable": false, "data": { "token": "t0k", "pem": "line1\nline2\n" } }),
    );
    secrets.insert(
        read("secret/data/pointer"),
        json!({ "data": { "data": { "target": "app" } } }),
    );
    Arc::new(MapSource {
        secrets,
        reads: Mutex::default(),
    })
}

fn go(text: &str) -> TemplateSpec {
    TemplateSpec {
        name: "t".to_owned(),
        text: text.to_owned(),
        error_on_missing_key: false,
        syntax: Syntax::Go,
        detected: false,
        destination: None,
    }
}

async fn render_one(spec: TemplateSpec) -> Result<String, String> {
    let engine = Engine::new(vec![spec]).map_err(|errors| errors[0].to_string())?;
    let source = source();
    let mut results = engine.render(&[0], &source).await;
    results
        .pop()
        .unwrap()
        .1
        .map_err(|failure| failure.to_string())
}

async fn render(text: &str) -> Result<String, String> {
    render_one(go(text)).await
}

#[tokio::test]
async fn the_vault_agent_idiom_renders() {
    assert_eq!(
        render(
            "{{- with secret \"secret/data/app\" }}Password: {{ .Data.data.password }}{{- end }}\n"
        )
        .await,
        Ok("Password: p<&>w\n".to_owned())
    );
    assert_eq!(
        render("{{ with secret \"kv1/app\" }}{{ .Data.token }} {{ .LeaseDuration }} {{ .Renewable }}{{ end }}").await,
        Ok("t0k 2764800 false".to_owned())
    );
    assert_eq!(
        render("{{ (secret \"secret/data/app\").Data.data.user }}").await,
        Ok("app".to_owned())
    );
}

#[tokio::test]
async fn control_flow_index_printf_and_range() {
    let text = "{{ with secret \"secret/data/app\" }}\
{{ index .Data.data \"db-host\" }}|{{ printf \"%s:%v\" .Data.data.user .Data.data.port }}|\
{{ range $k, $v := .Data.data }}{{ $k }},{{ end }}|\
{{ if eq .Data.data.user \"app\" }}yes{{ else }}no{{ end }}|\
{{ range .Data.data.list }}[{{ . }}]{{ end }}|{{ .Data.metadata.version }}{{ end }}";
    assert_eq!(
        render(text).await,
        Ok("db.local|app:5432|db-host,list,password,port,user,|yes|[a][b]|3".to_owned())
    );
}

#[tokio::test]
async fn functions_behave_as_consul_templates() {
    let cases: &[(&str, &str)] = &[
        (
            "{{ with secret \"secret/data/app\" }}{{ .Data.data | toJSON }}{{ end }}",
            r#"{"db-host":"db.local","list":["a","b"],"password":"p\u003c\u0026\u003ew","port":5432,"user":"app"}"#,
        ),
        (
            "{{ with secret \"secret/data/app\" }}{{ .Data.data | toUnescapedJSON }}{{ end }}",
            r#"{"db-host":"db.local","list":["a","b"],"password":"p<&>w","port":5432,"user":"app"}"#,
        ),
        (
            "{{ with secret \"kv1/app\" }}{{ .Data | toJSONPretty }}{{ end }}",
            "{\n  \"pem\": \"line1\\nline2\\n\",\n  \"token\": \"t0k\"\n}",
        ),
        (
            "{{ \"hello\" | base64Encode }} {{ \"aGVsbG8=\" | base64Decode }}",
            "aGVsbG8= hello",
        ),
        (
            "{{ \"  x  \" | trimSpace }}|{{ \"a,b,c\" | split \",\" | join \";\" }}",
            "x|a;b;c",
        ),
        (
            "{{ \"a-b-c\" | replaceAll \"-\" \"+\" }} {{ \"abc\" | contains \"b\" }} {{ \"ABC\" | toLower }}",
            "a+b+c true abc",
        ),
        (
            "{{ with secret \"kv1/app\" }}{{ .Data.pem | indent 4 }}{{ end }}",
            "    line1\n    line2\n",
        ),
        ("{{ split \",\" \"\" | len }}", "0"),
        (
            "{{ env \"VAULTWARD_GO_TEST_UNSET\" }}|{{ envOrDefault \"VAULTWARD_GO_TEST_UNSET\" \"dflt\" }}",
            "|dflt",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(render(text).await.as_deref(), Ok(*expected), "{text}");
    }
}

#[tokio::test]
async fn computed_paths_and_missing_keys() {
    assert_eq!(
        render("{{ with secret \"secret/data/pointer\" }}{{ with secret (printf \"secret/data/%s\" .Data.data.target) }}{{ .Data.data.user }}{{ end }}{{ end }}").await,
        Ok("app".to_owned())
    );
    // Go's default for a missing key, as Vault Agent writes it.
    assert_eq!(
        render("{{ with secret \"secret/data/app\" }}{{ .Data.data.nokey }}{{ end }}").await,
        Ok("<no value>".to_owned())
    );
    let strict = TemplateSpec {
        error_on_missing_key: true,
        ..go("first\n{{ with secret \"secret/data/app\" }}{{ .Data.data.nokey }}{{ end }}")
    };
    let error = render_one(strict).await.unwrap_err();
    assert!(
        error.contains("nokey") && error.contains("line 2"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_secret_names_its_path() {
    let error = render("x\n{{ with secret \"secret/data/nope\" }}{{ .Data }}{{ end }}")
        .await
        .unwrap_err();
    assert!(error.contains("secret/data/nope"), "{error}");
}

#[tokio::test]
async fn every_secret_of_a_template_is_read_in_one_round() {
    let source = source();
    let engine = Engine::new(vec![go(
        "{{ (secret \"secret/data/app\").Data.data.user }}{{ (secret \"kv1/app\").Data.token }}",
    )])
    .unwrap();
    let results = engine.render(&[0], &source).await;
    assert_eq!(results[0].1.as_deref().ok(), Some("appt0k"));
    assert_eq!(source.reads.lock().unwrap().len(), 2);
}

#[test]
fn malformed_templates_are_refused_with_their_line() {
    let cases: &[(&str, &str)] = &[
        (
            "a\n{{ if true }}b",
            "line 2, column 1: `{{ if }}` is never closed",
        ),
        (
            "a{{ end }}b",
            "`{{ end }}` closes a block that was never opened",
        ),
        ("x\n\n{{ nofunc 1 }}", "line 3: unknown function `nofunc`"),
        ("{{ secrte \"a\" }}", "did you mean `secret`?"),
        (
            "{{ secrets \"a/\" }}\n{{ toJson . }}{{ toJson . }}\n{{ nofunc }}",
            "line 1: `secrets` is a consul-template function that vaultward does not support yet; line 2: unknown function `toJson`, did you mean `toJSON`?; line 3: unknown function `nofunc`",
        ),
        (
            "{{ secrets \"secret/metadata/\" }}",
            "`secrets` is a consul-template function that vaultward does not support yet",
        ),
        ("{{ .X | }}", "syntax error at line 1"),
    ];
    for (text, expected) in cases {
        let error = match Engine::new(vec![go(text)]) {
            Ok(_) => panic!("accepted: {text}"),
            Err(errors) => errors[0].to_string(),
        };
        assert!(
            error.starts_with("t: ") && error.contains(expected),
            "{text}: {error}"
        );
    }
}

#[test]
fn syntax_is_detected_from_the_file_name_then_the_text() {
    let hbs = "{{#with (secret \"a\")}}{{data}}{{/with}}";
    let gotext = "{{ with secret \"a\" }}{{ .Data }}{{ end }}";
    assert_eq!(detect_syntax(hbs, None), Syntax::Handlebars);
    assert_eq!(detect_syntax(gotext, None), Syntax::Go);
    assert_eq!(
        detect_syntax("{{kv \"secret/app\" \"password\"}}", None),
        Syntax::Handlebars
    );
    assert_eq!(detect_syntax("plain text", None), Syntax::Go);
    // Go comments are not Handlebars closing tags.
    for commented in [
        "{{/* the database */}}{{ with secret \"a\" }}{{ .Data }}{{ end }}",
        "{{- /* trimmed */ -}}{{ .X }}",
        "{{/*\nmulti-line\n*/}}x",
        "{{/* {{#with}} */}}{{ .X }}",
        // Handlebars-looking text inside a Go string is text.
        "{{/* a comment */}}{{ \"{{#raw}}\" }}{{ with secret \"kv/app\" }}{{ .Data.data.kv }}{{ end }}",
        "{{ printf \"%s\" `{{/x}}` }}{{ 'x' }}{{ \"\\\"{{#a}}\" }}",
    ] {
        assert_eq!(detect_syntax(commented, None), Syntax::Go, "{commented}");
    }
    assert_eq!(
        detect_syntax(hbs, Some(Path::new("/t/app.ctmpl"))),
        Syntax::Go
    );
    assert_eq!(
        detect_syntax(gotext, Some(Path::new("/t/app.hbs"))),
        Syntax::Handlebars
    );
}

#[tokio::test]
async fn write_to_file_writes_only_what_a_complete_render_produced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sub/pw");
    let log = dir.path().join("log");
    let text = format!(
        "{{{{ with secret \"secret/data/app\" }}}}{{{{ .Data.data.password | writeToFile \"{}\" \"\" \"\" \"0600\" }}}}{{{{ .Data.data.user | writeToFile \"{}\" \"\" \"\" \"0640\" \"append,newline\" }}}}done{{{{ end }}}}",
        copy.display(),
        log.display()
    );
    assert_eq!(render(&text).await, Ok("done".to_owned()));
    // The first round missed the read and rendered placeholders: nothing of it was written.
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "p<&>w");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "app\n");
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let error = render("{{ \"x\" | writeToFile \"/tmp/x\" \"\" \"\" \"rw\" }}")
        .await
        .unwrap_err();
    assert!(error.contains("not an octal number"), "{error}");
}

#[tokio::test]
async fn defined_templates_and_blocks_render_as_in_go() {
    assert_eq!(
        render("{{ define \"user\" }}u={{ . }}{{ end }}{{ template \"user\" \"app\" }}|{{ block \"b\" 2 }}b={{ . }}{{ end }}")
            .await
            .unwrap(),
        "u=app|b=2"
    );
    // An empty definition does not replace a non-empty one; two non-empty ones are an error.
    assert_eq!(
        render("{{ define \"x\" }}full{{ end }}{{ define \"x\" }}{{ end }}{{ template \"x\" }}")
            .await
            .unwrap(),
        "full"
    );
    let error = render("{{ define \"x\" }}a{{ end }}\n{{ define \"x\" }}b{{ end }}")
        .await
        .unwrap_err();
    assert!(
        error.contains("line 2: the template `x` is defined twice"),
        "{error}"
    );
}

#[tokio::test]
async fn templates_with_the_same_text_share_one_compiled_template_per_missing_key_mode() {
    // Four templates, one text: three lenient, one with error_on_missing_key. They share a
    // compiled template only within one mode, so the strict one still fails on a missing key
    // while the lenient ones print Go's `<no value>`; each keeps its own dependencies.
    let text =
        "{{ with secret \"secret/data/app\" }}{{ .Data.data.user }}/{{ .Data.data.nope }}{{ end }}";
    let strict = TemplateSpec {
        error_on_missing_key: true,
        name: "strict".to_owned(),
        ..go(text)
    };
    let other = go("{{ with secret \"kv1/app\" }}{{ .Data.token }}{{ end }}");
    let engine = Engine::new(vec![go(text), strict, go(text), other, go(text)]).unwrap();
    let source = source();
    let mut results = engine.render(&[0, 1, 2, 3, 4], &source).await;
    results.sort_by_key(|(index, _)| *index);
    let outputs: Vec<Result<String, String>> = results
        .into_iter()
        .map(|(_, result)| result.map_err(|failure| failure.to_string()))
        .collect();
    assert_eq!(outputs[0], Ok("app/<no value>".to_owned()));
    assert!(
        outputs[1]
            .as_ref()
            .is_err_and(|message| message.contains("nope")),
        "{:?}",
        outputs[1]
    );
    assert_eq!(outputs[2], outputs[0]);
    assert_eq!(outputs[3], Ok("t0k".to_owned()));
    assert_eq!(outputs[4], outputs[0]);
    // One read per distinct path, whatever the number of templates sharing a text.
    let mut reads = source.reads.lock().unwrap().clone();
    reads.sort();
    assert_eq!(reads, vec![read("kv1/app"), read("secret/data/app")]);
    // Dependencies stay per template: invalidating one path names exactly its users.
    assert_eq!(
        engine.invalidate(&[read("secret/data/app")]),
        vec![0, 1, 2, 4]
    );
    assert_eq!(engine.invalidate(&[read("kv1/app")]), vec![3]);
}

#[tokio::test]
async fn each_template_keeps_its_own_defines() {
    // Two templates define the same name differently, a third calls a name it does not
    // define: templates never see each other's trees.
    let a = go("{{ define \"x\" }}A{{ end }}{{ template \"x\" }}");
    let b = go("{{ define \"x\" }}B{{ end }}{{ template \"x\" }}");
    let c = go("{{ template \"x\" }}");
    let engine = Engine::new(vec![a.clone(), b, a, c]).unwrap();
    let source = source();
    let mut results = engine.render(&[0, 1, 2, 3], &source).await;
    results.sort_by_key(|(index, _)| *index);
    assert_eq!(results[0].1, Ok("A".to_owned()));
    assert_eq!(results[1].1, Ok("B".to_owned()));
    assert_eq!(results[2].1, Ok("A".to_owned()));
    assert!(results[3].1.is_err(), "{:?}", results[3].1);
}

#[tokio::test]
async fn no_template_can_call_another_templates_text() {
    // The shared set keeps plain templates' trees under names starting with NUL; a Go string
    // can spell NUL, so a template calling such a name must not find another template there
    // (bao agent: `template "\x000" not defined`).
    let secret =
        go("SECRET {{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}");
    let callers = [
        "[{{ template \"\\x000\" }}]",
        "[{{ template \"\\u00000\" }}]",
        "[{{ template \"\\x001\" }}]",
        "[{{ template \"\\x00vaultward\" }}]",
    ];
    let mut specs = vec![secret.clone()];
    specs.extend(callers.iter().map(|text| go(text)));
    specs.push(secret);
    let engine = Engine::new(specs).unwrap();
    let source = source();
    let indices: Vec<usize> = (0..callers.len() + 2).collect();
    let mut results = engine.render(&indices, &source).await;
    results.sort_by_key(|(index, _)| *index);
    assert_eq!(results[0].1, Ok("SECRET p<&>w".to_owned()));
    for (index, result) in &results[1..=callers.len()] {
        let text = format!("{result:?}");
        assert!(result.is_err(), "template {index}: {text}");
        assert!(!text.contains("p<&>w"), "template {index}: {text}");
    }
}
