//! The main job end to end: config → AppRole login → token sink → templates → exit.
//! Each test runs the real binary against its own OpenBao dev server.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use vaultward_test_support::DevServer;

use crate::support::{Case, mode, text};

/// The config of the issue, as users copy it from blog posts (quoted HCL1 keys).
const QUOTED_STYLE: &str = r#"
"auto_auth" = {
  "method" = {
    "config" = {
      role_id_file_path = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
    "type" = "approle"
  }
  "sink" = {
    "config" = { "path" = "{dir}/.token" }
    "type" = "file"
  }
}
"exit_after_auth" = true
"pid_file" = "{dir}/.pid"
"template" = {
  "contents" = "{{#with (secret \"secret/data/app/config\")}}Password: {{data.data.password}}{{/with}}"
  "destination" = "{dir}/data/index.html"
}
"#;

#[test]
fn quoted_hcl1_config_logs_in_writes_the_sink_and_renders() {
    let case = Case::new();
    let config = case.config("config.hcl", QUOTED_STYLE);
    let (output, _) = case.agent(&config, &["-log-level=debug"]);
    assert!(output.status.success(), "{}", text(&output));

    assert_eq!(case.read("data/index.html"), "Password: hunter2");
    let token = case.read(".token");
    assert!(
        !token.ends_with('\n') && token.len() > 10,
        "raw token, no newline"
    );
    case.assert_token_valid(&token);
    assert_eq!(mode(&case.path(".token")), 0o640, "default sink mode");
    assert_eq!(
        mode(&case.path("data/index.html")),
        0o644,
        "default template perms"
    );
    assert!(!case.path(".pid").exists(), "pid file removed at exit");
    assert!(
        !case.path("secretid").exists(),
        "secret_id file removed after a successful login"
    );
    let logs = text(&output);
    assert!(
        logs.contains(&format!(
            "Using server {} (from the BAO_ADDR environment variable).",
            case.server.addr
        )),
        "{logs}"
    );
}

#[test]
fn block_style_with_kv_v1_and_v2_modes_and_perms() {
    let case = Case::new();
    case.server.enable_kv1();
    case.server.bao(&[
        "write",
        "kv1/app/config",
        "password=v1-secret",
        "db-host=db.internal",
    ]);
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config {
      path = "{dir}/token-a"
      mode = 0600
    }
  }
  sink "file" {
    config {
      path = "{dir}/token-b"
    }
  }
}
template {
  contents    = "v2={{#with (secret \"secret/data/app/config\")}}{{data.data.password}}{{/with}} v1={{#with (secret \"kv1/app/config\")}}{{data.password}}{{/with}}"
  destination = "{dir}/out/secret.txt"
  perms       = 0600
}
template {
  contents    = "kv2={{kv \"secret/app/config\" \"password\"}} kv1={{kv \"kv1/app/config\" \"password\"}} host={{#with (kv \"kv1/app/config\")}}{{[db-host]}}{{/with}} <&>"
  destination = "{dir}/out/kv.txt"
}
"#,
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out/secret.txt"), "v2=hunter2 v1=v1-secret");
    assert_eq!(
        case.read("out/kv.txt"),
        "kv2=hunter2 kv1=v1-secret host=db.internal <&>",
        "no HTML escaping"
    );
    assert_eq!(mode(&case.path("token-a")), 0o600);
    assert_eq!(mode(&case.path("token-b")), 0o640);
    assert_eq!(mode(&case.path("out/secret.txt")), 0o600);
    assert_eq!(
        case.read("token-a"),
        case.read("token-b"),
        "every sink gets the token"
    );
    assert!(
        case.path("secretid").exists(),
        "remove_secret_id_file_after_reading = false keeps the file"
    );
}

#[test]
fn an_existing_destination_keeps_its_mode_unless_perms_is_set_as_in_vault_agent() {
    use std::os::unix::fs::PermissionsExt as _;
    let case = Case::new();
    std::fs::create_dir_all(case.path("out")).unwrap();
    for (file, mode) in [("out/kept.txt", 0o600), ("out/set.txt", 0o600)] {
        std::fs::write(case.path(file), "stale").unwrap();
        std::fs::set_permissions(case.path(file), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
}
template {
  contents    = "{{ with secret \"secret/data/app/config\" }}{{ .Data.data.password }}{{ end }}"
  destination = "{dir}/out/kept.txt"
}
template {
  contents    = "{{ with secret \"secret/data/app/config\" }}{{ .Data.data.password }}{{ end }}"
  destination = "{dir}/out/set.txt"
  perms       = "0644"
}
template {
  contents    = "{{ with secret \"secret/data/app/config\" }}{{ .Data.data.password }}{{ end }}"
  destination = "{dir}/out/new.txt"
}
"#,
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    for file in ["out/kept.txt", "out/set.txt", "out/new.txt"] {
        assert_eq!(case.read(file), "hunter2", "{file}");
    }
    assert_eq!(
        mode(&case.path("out/kept.txt")),
        0o600,
        "no perms: the existing file's mode is kept"
    );
    assert_eq!(mode(&case.path("out/set.txt")), 0o644, "perms is applied");
    assert_eq!(mode(&case.path("out/new.txt")), 0o644, "a new file: 0644");
}

#[test]
fn json_config_and_type_attribute_method() {
    let case = Case::new();
    let config = case.config(
        "config.json",
        r#"{
  "exit_after_auth": true,
  "auto_auth": {
    "method": [{ "type": "approle", "mount_path": "auth/approle/", "config": { "role_id_file_path": "{dir}/roleid", "secret_id_file_path": "{dir}/secretid" } }],
    "sink": [{ "type": "file", "config": { "path": "{dir}/token", "mode": "0600" } }]
  },
  "template": [
    { "contents": "{{kv \"secret/app/config\" \"user\"}}", "destination": "{dir}/user.txt" },
    { "contents": "{{kv \"secret/app/config\" \"password\"}}", "destination": "{dir}/password.txt" }
  ]
}"#,
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("user.txt"), "app");
    assert_eq!(case.read("password.txt"), "hunter2");
    assert_eq!(mode(&case.path("token")), 0o600);
}

#[test]
fn computed_path_and_one_read_per_distinct_path() {
    let case = Case::with_server(DevServer::start_audited());
    case.server.enable_kv1();
    case.server
        .bao(&["write", "kv1/pointer", "target=app/config"]);
    let mut templates = String::new();
    for index in 0..5 {
        templates.push_str(&format!(
            "template {{\n  contents = \"{{{{#with (secret (concat \\\"secret/data/\\\" (kv \\\"kv1/pointer\\\" \\\"target\\\")))}}}}{{{{data.data.password}}}}{{{{/with}}}} {{{{kv \\\"secret/app/config\\\" \\\"user\\\"}}}}\"\n  destination = \"{{dir}}/out/{index}.txt\"\n}}\n"
        ));
    }
    let config = case.config(
        "config.hcl",
        &format!(
            r#"
exit_after_auth = true
auto_auth {{
  method "approle" {{
    config {{
      role_id_file_path   = "{{dir}}/roleid"
      secret_id_file_path = "{{dir}}/secretid"
    }}
  }}
  sink "file" {{
    config {{ path = "{{dir}}/token" }}
  }}
}}
{templates}"#
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    for index in 0..5 {
        assert_eq!(case.read(&format!("out/{index}.txt")), "hunter2 app");
    }
    let requests = case.server.audited_requests();
    let count = |path: &str| {
        requests
            .iter()
            .filter(|(op, p)| op == "read" && p == path)
            .count()
    };
    assert_eq!(
        count("secret/data/app/config"),
        2,
        "one read by `secret`, one by `kv`, whatever the number of templates: {requests:?}"
    );
    assert_eq!(count("kv1/pointer"), 1, "{requests:?}");
    assert_eq!(
        requests
            .iter()
            .filter(|(op, p)| op == "update" && p == "auth/approle/login")
            .count(),
        1
    );
}

#[test]
fn templates_rendered_together_look_their_mount_up_once() {
    let case = Case::with_server(DevServer::start_audited());
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
}
template {
  contents    = "{{ with secret \"secret/app/config\" }}{{ .Data.data.password }}{{ end }}"
  destination = "{dir}/a.txt"
}
template {
  contents    = "{{ with secret \"secret/data/app/config\" }}{{ .Data.data.password }}{{ end }}"
  destination = "{dir}/b.txt"
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/c.txt"
}
"#,
    );
    // The set-up's own requests (the CLI looks mounts up too) are not the agent's.
    let before = case.server.audited_requests().len();
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    for file in ["a.txt", "b.txt", "c.txt"] {
        assert_eq!(case.read(file), "hunter2");
    }
    let lookups: Vec<_> = case
        .server
        .audited_requests()
        .into_iter()
        .skip(before)
        .filter(|(_, path)| path.starts_with("sys/internal/ui/mounts/"))
        .collect();
    assert_eq!(lookups.len(), 1, "one mount, one look-up: {lookups:?}");
}

#[test]
fn bad_credentials_with_exit_on_err_exit_1_and_keep_the_secret_id_file() {
    let case = Case::new();
    std::fs::write(
        case.path("secretid"),
        "00000000-0000-0000-0000-000000000000",
    )
    .unwrap();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    exit_on_err = true
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#,
    );
    let (output, elapsed) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: AppRole login at `auth/approle` with the role_id from `{dir}/roleid` failed: POST {}/v1/auth/approle/login returned 400: invalid role or secret ID; check the role_id in `{dir}/roleid` and the secret_id in `{dir}/secretid`; a secret_id stops working when it expires (`secret_id_ttl`) or is used up (`secret_id_num_uses`) (exit_on_err is set, so vaultward exits instead of retrying)",
            case.server.addr,
            dir = case.dir.path().display()
        )),
        "{stderr}"
    );
    assert!(
        case.path("secretid").exists(),
        "a failed login must not consume the secret_id file"
    );
    assert!(!case.path("token").exists());
}

#[test]
fn bad_credentials_without_exit_on_err_are_retried_with_backoff() {
    let case = Case::new();
    std::fs::write(
        case.path("secretid"),
        "00000000-0000-0000-0000-000000000000",
    )
    .unwrap();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    min_backoff = "400ms"
    max_backoff = "800ms"
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#,
    );
    let mut command = crate::support::vaultward();
    command
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .env("BAO_ADDR", &case.server.addr);
    // Stay under the server's lockout threshold (5 failures): about 3 attempts in 1.5 s.
    let (output, _) = crate::support::run_with_limit(&mut command, Duration::from_millis(1500));
    let logs = text(&output);
    let refusals = logs
        .matches("The server refused the AppRole credentials")
        .count();
    // 1.5 s of retries with 400–800 ms delays: a few attempts, never a tight loop.
    assert!((2..=4).contains(&refusals), "{refusals} attempts:\n{logs}");
    assert!(logs.contains("invalid role or secret ID"), "{logs}");

    // The right secret_id arrives: the next attempt logs in.
    std::fs::write(case.path("secretid"), &case.secret_id).unwrap();
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn unreadable_role_id_file_is_reported_with_its_path() {
    let case = Case::new();
    std::fs::create_dir(case.path("roleid-dir")).unwrap();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    exit_on_err = true
    config {
      role_id_file_path   = "{dir}/roleid-dir"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#,
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "error: cannot read the role_id file `{}`: Is a directory (os error 21) (exit_on_err is set, so vaultward exits instead of retrying)",
        case.path("roleid-dir").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

/// Root ignores file modes, so the permission case runs the agent as nobody (65534).
#[test]
fn role_id_file_without_read_permission_as_an_unprivileged_user() {
    use std::os::unix::fs::PermissionsExt;
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("setpriv (util-linux) is needed to run the agent as an unprivileged user");
    }
    let case = Case::new();
    std::fs::set_permissions(case.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(case.path("roleid"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(
        case.path("secretid"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    exit_on_err = true
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#,
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut command = std::process::Command::new("setpriv");
    command
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_vaultward"),
            "agent",
        ])
        .arg(format!("-config={}", config.display()))
        .env("BAO_ADDR", &case.server.addr);
    let (output, _) = crate::support::run_with_limit(&mut command, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let expected = format!(
        "error: cannot read the role_id file `{}`: Permission denied (os error 13)",
        case.path("roleid").display()
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&expected),
        "{}",
        text(&output)
    );
}

#[test]
fn bind_secret_id_false_role_needs_no_secret_id_file() {
    let case = Case::new();
    case.server.bao(&[
        "write",
        "auth/approle/role/open",
        "bind_secret_id=false",
        "secret_id_bound_cidrs=127.0.0.1/32",
        "token_policies=vaultward-read",
    ]);
    let role_id = case
        .server
        .bao(&["read", "-field=role_id", "auth/approle/role/open/role-id"]);
    std::fs::write(case.path("open-roleid"), role_id).unwrap();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config { role_id_file_path = "{dir}/open-roleid" }
  }
  sink "file" { config { path = "{dir}/token" } }
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/out.txt"
}
"#,
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "hunter2");
}

const MISSING_KEY: &str = r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    min_backoff = "100ms"
    max_backoff = "200ms"
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
template {
  contents    = "pw={{#with (secret \"secret/data/app/config\")}}{{data.data.nokey}}{{/with}}."
  destination = "{dir}/out.txt"
  STRICT
}
"#;

#[test]
fn missing_key_renders_empty_by_default() {
    let case = Case::new();
    let config = case.config("config.hcl", &MISSING_KEY.replace("STRICT", ""));
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "pw=.");
}

#[test]
fn missing_key_with_error_on_missing_key_names_template_path_and_key() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &MISSING_KEY.replace("STRICT", "error_on_missing_key = true"),
    );
    let (output, elapsed) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(elapsed < Duration::from_secs(20), "bounded: {elapsed:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "error: 1 template(s) could not be rendered (tried 5 times):\ntemplate for `{dir}/out.txt` ({dir}/config.hcl:15:1): key `nokey` is missing from secret `secret/data/app/config` (line 1, column 47)",
        dir = case.dir.path().display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        !case.path("out.txt").exists(),
        "nothing is written for a template that failed"
    );
}

#[test]
fn template_that_cannot_render_exits_non_zero_in_bounded_time() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
pid_file = "{dir}/agent.pid"
auto_auth {
  method "approle" {
    min_backoff = "100ms"
    max_backoff = "300ms"
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
template {
  contents    = "{{#with (secret \"secret/data/does/not/exist\")}}{{data.data.x}}{{/with}}"
  destination = "{dir}/missing.txt"
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/fine.txt"
}
"#,
    );
    let (output, elapsed) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        elapsed < Duration::from_secs(15),
        "must never hang: {elapsed:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "template for `{dir}/missing.txt` ({dir}/config.hcl:15:1): secret `secret/data/does/not/exist`: no secret exists at this path (GET {addr}/v1/secret/data/does/not/exist returned 404: not found (no secret at this path, or no such mount)) (line 1, column 1)",
        dir = case.dir.path().display(),
        addr = case.server.addr
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(
        case.read("fine.txt"),
        "hunter2",
        "the other template is still written"
    );
    assert!(
        case.path("token").exists(),
        "the sink was written before the templates"
    );
    assert!(
        !case.path("agent.pid").exists(),
        "pid file removed on failure too"
    );
}

#[test]
fn unchanged_destination_is_not_rewritten() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/out.txt"
}
"#,
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    let before = std::fs::metadata(case.path("out.txt")).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    let after = std::fs::metadata(case.path("out.txt")).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec()),
        "same inode and mtime"
    );

    case.server
        .kv_put("app/config", &["password=rotated", "user=app"]);
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "rotated");
}

#[test]
fn secrets_never_reach_the_logs_even_at_trace() {
    let case = Case::new();
    let config = case.config("config.hcl", QUOTED_STYLE);
    let (output, _) = case.agent(&config, &["-log-level=trace"]);
    assert!(output.status.success(), "{}", text(&output));
    let logs = text(&output);
    let token = case.read(".token");
    for secret in [token.as_str(), case.secret_id.as_str(), "hunter2"] {
        assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
    }
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "trace logging was on"
    );
}

#[test]
fn config_directory_is_loaded_in_name_order_and_merged() {
    let case = Case::new();
    std::fs::create_dir(case.path("conf.d")).unwrap();
    case.config(
        "conf.d/10-auth.hcl",
        r#"
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#,
    );
    case.config(
        "conf.d/20-templates.json",
        r#"{ "exit_after_auth": true, "template": { "contents": "{{kv \"secret/app/config\" \"user\"}}", "destination": "{dir}/user.txt" } }"#,
    );
    std::fs::write(case.path("conf.d/notes.txt"), "not a config").unwrap();
    let (output, _) = case.agent(&case.path("conf.d"), &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("user.txt"), "app");
}

#[test]
fn exit_after_auth_runs_the_command_of_a_changed_file_only() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/out.txt"
  command     = "echo ran >> {dir}/commands.log"
}
"#,
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("commands.log"), "ran\n");
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        case.read("commands.log"),
        "ran\n",
        "unchanged file, no command"
    );
}

const TLS_CONFIG: &str = r#"
exit_after_auth = true
VAULT_BLOCK
auto_auth {
  method "approle" {
    exit_on_err = true
    min_backoff = "100ms"
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/out.txt"
}
"#;

#[test]
fn tls_server_with_ca_cert_without_it_and_with_tls_skip_verify() {
    let case = Case::with_server(DevServer::start_tls());
    let ca = case.server.ca_cert().display().to_string();

    let config = case.config(
        "ca.hcl",
        &TLS_CONFIG.replace(
            "VAULT_BLOCK",
            &format!("vault {{\n  ca_cert = \"{ca}\"\n}}"),
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "hunter2");

    let config = case.config("no-ca.hcl", &TLS_CONFIG.replace("VAULT_BLOCK", ""));
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "invalid peer certificate: UnknownIssuer (the server's certificate is not signed by a trusted CA: set `vault.ca_cert` or VAULT_CACERT to its CA)"
        ),
        "{}",
        text(&output)
    );

    let mut command = crate::support::vaultward();
    command
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .env("BAO_ADDR", &case.server.addr)
        .env("VAULT_CACERT", &ca);
    let (output, _) = crate::support::run_with_limit(&mut command, Duration::from_secs(30));
    assert!(
        output.status.success(),
        "VAULT_CACERT works too: {}",
        text(&output)
    );

    let config = case.config(
        "skip.hcl",
        &TLS_CONFIG.replace("VAULT_BLOCK", "vault {\n  tls_skip_verify = true\n}"),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("TLS verification of the server is disabled (tls_skip_verify)"),
        "{}",
        text(&output)
    );

    let config = case.config(
        "bad-ca.hcl",
        &TLS_CONFIG.replace(
            "VAULT_BLOCK",
            &format!("vault {{\n  ca_cert = \"{}\"\n}}", config.display()),
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(78), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("holds no PEM certificate"),
        "{}",
        text(&output)
    );
}

#[test]
fn namespace_from_the_vault_block() {
    let case = Case::new();
    case.server.bao(&["namespace", "create", "team1"]);
    let in_ns = |args: &[&str]| case.server.bao_in("team1", args);
    in_ns(&["auth", "enable", "approle"]);
    in_ns(&["secrets", "enable", "-path=secret", "-version=2", "kv"]);
    std::fs::write(case.path("ns-policy.hcl"), "path \"secret/*\" { capabilities = [\"read\"] }\npath \"sys/internal/ui/mounts/*\" { capabilities = [\"read\"] }\n").unwrap();
    in_ns(&[
        "policy",
        "write",
        "ns-read",
        case.path("ns-policy.hcl").to_str().unwrap(),
    ]);
    in_ns(&["write", "auth/approle/role/app", "token_policies=ns-read"]);
    let role_id = in_ns(&["read", "-field=role_id", "auth/approle/role/app/role-id"]);
    let secret_id = in_ns(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/app/secret-id",
    ]);
    vaultward_test_support::remember_secret(&secret_id);
    vaultward_test_support::remember_secret("in-team1");
    in_ns(&[
        "kv",
        "put",
        "-mount=secret",
        "app/config",
        "password=in-team1",
    ]);
    std::fs::write(case.path("roleid"), role_id).unwrap();
    std::fs::write(case.path("secretid"), secret_id).unwrap();
    let config = case.config(
        "config.hcl",
        &TLS_CONFIG.replace("VAULT_BLOCK", "vault {\n  namespace = \"team1\"\n}"),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "in-team1");
}

#[test]
fn a_kv_v2_path_without_data_gets_a_hint() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &TLS_CONFIG.replace("VAULT_BLOCK", "").replace(
            "{{kv \\\"secret/app/config\\\" \\\"password\\\"}}",
            "{{#with (secret \\\"secret/app/config\\\")}}{{data.data.password}}{{/with}}",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "; on a KV v2 mount the path needs `data/` after the mount (`secret/data/app`), or use `kv`, which finds it"
        ),
        "{}",
        text(&output)
    );
}

#[test]
fn an_unwritable_destination_fails_before_the_login_consumes_the_secret_id() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
template {
  contents    = "x"
  destination = "{dir}/roleid/under-a-file/out.txt"
}
"#,
    );
    let (output, elapsed) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(elapsed < Duration::from_secs(10));
    let expected = format!(
        "error: template for `{dir}/roleid/under-a-file/out.txt` ({dir}/config.hcl:12:1): cannot reach the directory `{dir}/roleid/under-a-file`: `{dir}/roleid` is a file, not a directory; fix the destination's path or what is in its way",
        dir = case.dir.path().display()
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&expected),
        "{}",
        text(&output)
    );
    assert!(
        case.path("secretid").exists(),
        "no login happened, the secret_id is still there"
    );
    assert!(!case.path("token").exists());
}

#[test]
fn a_missing_role_id_file_is_reported_as_missing() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &TLS_CONFIG
            .replace("VAULT_BLOCK", "")
            .replace("{dir}/roleid", "{dir}/nonexistent"),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1));
    let expected = format!(
        "error: cannot read the role_id file `{}`: No such file or directory (os error 2)",
        case.path("nonexistent").display()
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&expected),
        "{}",
        text(&output)
    );
}

#[test]
fn kv_with_data_in_the_path_says_how_to_write_it() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &TLS_CONFIG.replace("VAULT_BLOCK", "").replace(
            "kv \\\"secret/app/config\\\"",
            "kv \\\"secret/data/app/config\\\"",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "kv `secret/data/app/config`: `kv` takes the path without `data/` (it adds it for KV v2 mounts): write `secret/app/config`"
        ),
        "{}",
        text(&output)
    );
}

#[test]
fn sink_and_destination_owners_are_set_by_id_and_by_name() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config {
      path = "{dir}/token"
      uid  = 65534
      gid  = 65534
    }
  }
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/out.txt"
  user        = "nobody"
  group       = "65534"
}
"#,
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    for file in ["token", "out.txt"] {
        let metadata = std::fs::metadata(case.path(file)).unwrap();
        assert_eq!((metadata.uid(), metadata.gid()), (65534, 65534), "{file}");
    }
    assert_eq!(mode(&case.path("token")), 0o640);

    // An unknown user is a config error, found before the login.
    let text_config = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\"nobody\"", "\"no-such-user\"");
    std::fs::write(&config, text_config).unwrap();
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(78), "{}", text(&output));
    assert!(
        text(&output).contains(": there is no user `no-such-user` on this system"),
        "{}",
        text(&output)
    );
}

/// Relative paths resolve against the working directory, as in Vault Agent (and its tutorials,
/// which write `role_id_file_path = "roleID"`), whatever directory the config file is in.
#[test]
fn relative_paths_resolve_against_the_working_directory() {
    let case = Case::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = elsewhere.path().join("agent.hcl");
    std::fs::write(
        &config,
        r#"
exit_after_auth = true
pid_file = "agent.pid"
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "roleid"
      secret_id_file_path = "./secretid"
    }
  }
  sink "file" { config { path = "token" } }
}
template {
  contents    = "{{ with secret \"secret/data/app/config\" }}{{ .Data.data.password }}{{ end }}"
  destination = "out/../rendered/app.txt"
}
"#,
    )
    .unwrap();
    let mut command = crate::support::vaultward();
    command
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .current_dir(case.dir.path())
        .env("BAO_ADDR", &case.server.addr)
        .env("BAO_LOG_LEVEL", "trace");
    let (output, _) = crate::support::run_with_limit(&mut command, Duration::from_secs(60));
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("rendered/app.txt"), "hunter2");
    case.assert_token_valid(&case.read("token"));
    assert!(
        !case.path("secretid").exists(),
        "the secret_id file is consumed"
    );
    assert!(
        !case.path("agent.pid").exists(),
        "the pid file is removed at exit"
    );
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        1,
        "nothing is written next to the config file"
    );
}

/// A second run of an `exit_after_auth` job finds no secret_id file (the first run's login
/// removed it, as configured by default): the error says so and what to do.
#[test]
fn a_secret_id_file_consumed_by_an_earlier_run_is_explained() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    exit_on_err = true
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#,
    );
    let (first, _) = case.agent(&config, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(!case.path("secretid").exists());
    let (second, _) = case.agent(&config, &[]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let expected = format!(
        "the secret_id file `{}` does not exist; a successful login removes it (`remove_secret_id_file_after_reading = true`, the default), so each new start needs a new secret_id written there (or set `remove_secret_id_file_after_reading = false` to keep the file)",
        case.path("secretid").display()
    );
    assert!(text(&second).contains(&expected), "{}", text(&second));
}
