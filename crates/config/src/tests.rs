//! The three spellings of one config decode to the same [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use crate::{Config, MethodKind, Source, TemplateSource, parse};

fn parse_one(name: &str, text: &str) -> Config {
    parse(&[Source::new(name, text)]).unwrap_or_else(|errors| panic!("{errors}"))
}

const QUOTED: &str = r#"
"auto_auth" = {
  "method" = {
    "config" = {
      role_id_file_path = "/etc/vault/approle/roleid"
      secret_id_file_path = "/etc/vault/approle/secretid"
    }
    "type" = "approle"
  }
  "sink" = {
    "config" = { "path" = "/home/vault/.token" }
    "type" = "file"
  }
}
"exit_after_auth" = true
"pid_file" = "/home/vault/.pid"
"template" = {
  "contents" = "{{#with (secret \"secret/data/app/config\")}}Password: {{data.data.password}}{{/with}}"
  "destination" = "/data/index.html"
}
"#;

const BLOCKS: &str = r#"
exit_after_auth = true
pid_file = "/home/vault/.pid"
auto_auth {
  method "approle" {
    config {
      role_id_file_path = "/etc/vault/approle/roleid"
      secret_id_file_path = "/etc/vault/approle/secretid"
    }
  }
  sink "file" {
    config = { path = "/home/vault/.token" }
  }
}
template {
  contents = "{{#with (secret \"secret/data/app/config\")}}Password: {{data.data.password}}{{/with}}"
  destination = "/data/index.html"
}
"#;

const JSON: &str = r#"{
  "exit_after_auth": true,
  "pid_file": "/home/vault/.pid",
  "auto_auth": {
    "method": { "approle": { "config": { "role_id_file_path": "/etc/vault/approle/roleid", "secret_id_file_path": "/etc/vault/approle/secretid" } } },
    "sink": [ { "type": "file", "config": { "path": "/home/vault/.token" } } ]
  },
  "template": [ { "contents": "{{#with (secret \"secret/data/app/config\")}}Password: {{data.data.password}}{{/with}}", "destination": "/data/index.html" } ]
}"#;

fn without_origins(mut config: Config) -> Config {
    for template in &mut config.templates {
        template.origin.clear();
    }
    config
}

#[test]
fn three_spellings_one_config() {
    let quoted = without_origins(parse_one("a.hcl", QUOTED));
    let blocks = without_origins(parse_one("b.hcl", BLOCKS));
    let json = without_origins(parse_one("c.json", JSON));
    assert_eq!(quoted, blocks);
    assert_eq!(quoted, json);

    assert!(quoted.exit_after_auth);
    assert_eq!(quoted.pid_file, Some(PathBuf::from("/home/vault/.pid")));
    let method = &quoted.auto_auth.method;
    assert_eq!(method.mount_path, "auth/approle");
    assert_eq!(
        (method.min_backoff, method.max_backoff),
        (Duration::from_secs(1), Duration::from_secs(300))
    );
    let MethodKind::AppRole(approle) = &method.kind else {
        panic!("not approle: {method:?}")
    };
    assert!(approle.remove_secret_id_file_after_reading);
    assert_eq!(quoted.auto_auth.sinks[0].mode, 0o640);
    let template = &quoted.templates[0];
    assert_eq!(template.perms, None);
    assert!(template.create_dest_dirs && !template.error_on_missing_key);
    assert!(
        matches!(&template.source, TemplateSource::Contents(text) if text.starts_with("{{#with (secret \"secret/data"))
    );
}

#[test]
fn repeated_blocks_and_keys_make_lists() {
    let config = parse_one(
        "x.hcl",
        r#"
"auto_auth" = {
  "method" = { "type" = "approle", "config" = { role_id_file_path = "/r" } }
  "sink" = { "type" = "file", "config" = { "path" = "/a", mode = 0600 } }
  "sink" = { "type" = "file", "config" = { "path" = "/b" } }
}
"template" = { "contents" = "one ${not_evaluated}", "destination" = "/1" }
"template" = { "source" = "/t.tmpl", "destination" = "/2", "perms" = "0600" }
"#,
    );
    assert_eq!(config.auto_auth.sinks.len(), 2);
    assert_eq!(config.auto_auth.sinks[0].mode, 0o600);
    assert_eq!(config.templates.len(), 2);
    assert!(
        matches!(&config.templates[0].source, TemplateSource::Contents(t) if t == "one ${not_evaluated}")
    );
    assert_eq!(config.templates[1].perms, Some(0o600));
    let MethodKind::AppRole(approle) = &config.auto_auth.method.kind else {
        panic!("not approle")
    };
    assert_eq!(approle.secret_id_file_path, None);
}

#[test]
fn later_files_replace_blocks_and_add_templates() {
    let first = Source::new("1.hcl", BLOCKS);
    let second = Source::new(
        "2.hcl",
        "vault { address = \"https://vault:8200\" }\ntemplate {\n  contents = \"x\"\n  destination = \"/x\"\n}\n",
    );
    let config = parse(&[first, second]).unwrap();
    assert_eq!(config.templates.len(), 2);
    assert_eq!(config.vault.address.as_deref(), Some("https://vault:8200"));
    assert!(config.exit_after_auth);
}

#[test]
fn heredoc_contents_keep_their_text() {
    let config = parse_one(
        "h.hcl",
        "auto_auth {\n  method \"approle\" {\n    config { role_id_file_path = \"/r\" }\n  }\n  sink \"file\" {\n    config { path = \"/t\" }\n  }\n}\ntemplate {\n  destination = \"/d\"\n  contents = <<-EOT\n    user: {{kv \"secret/app\" \"user\"}}\n    pass: ${literal}\n    EOT\n}\n",
    );
    assert!(
        matches!(&config.templates[0].source, TemplateSource::Contents(t) if t == "user: {{kv \"secret/app\" \"user\"}}\npass: ${literal}\n")
    );
}

#[test]
fn a_template_may_not_overwrite_a_sink_of_another_file() {
    let second = Source::new(
        "2.json",
        "{\n  \"template\": [{ \"contents\": \"x\", \"destination\": \"/home/vault/.token\" }]\n}\n",
    );
    let errors = parse(&[Source::new("1.hcl", BLOCKS), second]).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "2.json:2:16: this template writes `/home/vault/.token`, the token file of the sink at 1.hcl:11:3; a template must not overwrite a sink's token"
    );
}

#[test]
fn auth_methods_decode_with_vault_agents_defaults() {
    let with_method = |method: &str| {
        parse_one(
            "config.hcl",
            &format!(
                "auto_auth {{\n{method}\nsink \"file\" {{ config {{ path = \"/t\" }} }}\n}}\n"
            ),
        )
        .auto_auth
        .method
    };
    let method = with_method(r#"method "token_file" { config { token_file_path = "/tok" } }"#);
    assert_eq!(method.mount_path, "auth/token");
    assert!(
        matches!(method.kind, MethodKind::TokenFile(ref t) if t.token_file_path == std::path::Path::new("/tok"))
    );

    let method = with_method(
        r#"method "jwt" {
  namespace = "/team1/"
  config {
    path = "/jwt"
    role = "web"
  }
}"#,
    );
    assert_eq!(method.mount_path, "auth/jwt");
    assert_eq!(method.namespace.as_deref(), Some("team1"));
    let MethodKind::Jwt(jwt) = method.kind else {
        panic!("not jwt")
    };
    assert!(jwt.remove_jwt_after_reading);
    assert!(!jwt.remove_jwt_follows_symlinks);

    let method = with_method(r#"method "kubernetes" { config { role = "web" } }"#);
    assert_eq!(method.mount_path, "auth/kubernetes");
    let MethodKind::Kubernetes(kubernetes) = method.kind else {
        panic!("not kubernetes")
    };
    assert_eq!(
        kubernetes.token_path,
        PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/token")
    );

    // The cert method needs no config block: the certificate may come from `vault {}`.
    let method = with_method(r#"method "cert" {}"#);
    assert_eq!(method.mount_path, "auth/cert");
    assert!(matches!(method.kind, MethodKind::Cert(ref c) if c.name.is_none() && !c.reload));
}
