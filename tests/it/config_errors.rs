//! Bad configs get clear errors, word for word: what, where (file:line:col and the field path)
//! and what to do. No server is involved: `validate` does no network access.

use crate::support::{text, vaultward};

/// Runs `vaultward validate` on `config` (written to a temp file named `config.hcl` or
/// `config.json`) and returns (exit code, stderr with the temp path replaced by `CONFIG`).
fn validate(name: &str, config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, config).unwrap();
    let output = vaultward()
        .arg("validate")
        .arg(format!("-config={}", path.display()))
        .output()
        .unwrap();
    let stderr =
        String::from_utf8_lossy(&output.stderr).replace(&path.display().to_string(), "CONFIG");
    (output.status.code().unwrap_or(-1), stderr)
}

const VALID_AUTH: &str = r#"
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_path = "/etc/vault/secretid"
    }
  }
  sink "file" {
    config { path = "/tmp/token" }
  }
}
"#;

#[test]
fn valid_config_passes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.hcl");
    std::fs::write(&path, VALID_AUTH).unwrap();
    let output = vaultward()
        .arg("validate")
        .arg(format!("-config={}", path.display()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "The configuration is valid: 1 auth method, 1 sink, 0 templates.\n"
    );
}

#[test]
fn unknown_top_level_key_names_the_key_its_place_and_the_nearest_key() {
    let (code, stderr) = validate(
        "config.hcl",
        &format!("{VALID_AUTH}exit_after_authx = true\n"),
    );
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:13:1: unknown key `exit_after_authx` at the top level; did you mean `exit_after_auth`?\n\
         1 problem found in the config\n"
    );
}

#[test]
fn misspelled_nested_key() {
    let config = VALID_AUTH.replace("secret_id_file_path", "secret_id_path");
    let (code, stderr) = validate("config.hcl", &config);
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:6:7: unknown key `secret_id_path` in `auto_auth.method.config`; did you mean `secret_id_file_path`?\n\
         1 problem found in the config\n"
    );
}

#[test]
fn decimal_mode_is_refused_with_the_octal_spelling() {
    let config = VALID_AUTH.replace(
        "config { path = \"/tmp/token\" }",
        "config {\n      path = \"/tmp/token\"\n      mode = 640\n    }",
    );
    let (code, stderr) = validate("config.hcl", &config);
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:12:14: `auto_auth.sink[0].config.mode` is the decimal number 640, which Vault Agent reads as mode 0o1200; write the mode in octal with a leading zero: `0640`\n\
         1 problem found in the config\n"
    );
}

#[test]
fn octal_mode_with_leading_zero_is_accepted() {
    let config = VALID_AUTH.replace(
        "config { path = \"/tmp/token\" }",
        "config {\n      path = \"/tmp/token\"\n      mode = 0640\n    }",
    );
    let (code, stderr) = validate("config.hcl", &config);
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn syntax_errors_have_line_and_column() {
    let (code, stderr) = validate("config.hcl", &format!("{VALID_AUTH}exit_after_auth true\n"));
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:13:17: syntax error: missing `=` between `exit_after_auth` and its value: write `exit_after_auth = true`\n\
         1 problem found in the config\n"
    );
    let (_, stderr) = validate(
        "config.hcl",
        "vault {\n  address = http://127.0.0.1:8200\n}\n",
    );
    assert_eq!(
        stderr,
        "error: CONFIG:2:13: syntax error: expected a value, found the bare word `http://127.0.0.1:8200`; quote strings: \"http://127.0.0.1:8200\"\n\
         1 problem found in the config\n"
    );
    let (_, stderr) = validate(
        "config.hcl",
        "auto_auth {\n  method \"approle\" {\n    config {\n      role_id_file_path = \"/r\"\n  }\n}\n",
    );
    assert_eq!(
        stderr,
        "error: CONFIG:1:11: syntax error: this `{` is never closed: expected a matching `}` before the end of the file\n\
         1 problem found in the config\n"
    );
}

#[test]
fn type_error_names_the_field_path() {
    let (code, stderr) = validate(
        "config.hcl",
        &format!("{VALID_AUTH}exit_after_auth = \"yes\"\n"),
    );
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:13:19: `exit_after_auth` must be true or false, found \"yes\"\n1 problem found in the config\n"
    );
}

#[test]
fn every_problem_of_a_file_is_reported_in_one_run() {
    let config = format!(
        "{}\nexit_after_authx = true\ntemplate {{\n  destination = \"/tmp/out\"\n  perms = 644\n}}\ncache {{}}\n",
        VALID_AUTH.replace("role_id_file_path", "role_id_filepath")
    );
    let (code, stderr) = validate("config.hcl", &config);
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:5:7: unknown key `role_id_filepath` in `auto_auth.method.config`; did you mean `role_id_file_path`?\n\
         error: CONFIG:14:1: unknown key `exit_after_authx` at the top level; did you mean `exit_after_auth`?\n\
         error: CONFIG:17:11: `template[0].perms` is the decimal number 644, which Vault Agent reads as mode 0o1204; write the mode in octal with a leading zero: `0644`\n\
         error: CONFIG:15:1: `template[0]` needs `contents` or `source`\n  hint: set `contents = \"…\"` for an inline template or `source = \"/path/file.tmpl\"`\n\
         error: CONFIG:19:1: `cache` is a Vault Agent setting that vaultward does not support yet\n  hint: vaultward has no listener, so applications that send their Vault requests to the agent's address (its API proxy or cache) must send them to the server itself, with the token from a sink; remove the block once nothing uses it\n\
         5 problems found in the config\n"
    );
}

#[test]
fn quoted_hcl1_style_with_a_typo_points_at_it() {
    let config = r#"
"auto_auth" = {
  "method" = {
    "config" = {
      role_id_file_path = "/etc/vault/approle/roleid"
      secret_id_file_path = "/etc/vault/approle/secretid"
    }
    "type" = "aproll"
  }
  "sink" = {
    "config" = { "path" = "/home/vault/.token" }
    "type" = "file"
  }
}
"exit_after_auth" = true
"#;
    let (code, stderr) = validate("config.hcl", config);
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:8:14: unknown auth method `aproll`; supported: \"approle\", \"token_file\", \"jwt\", \"kubernetes\", \"cert\"\n  hint: did you mean \"approle\"?\n1 problem found in the config\n"
    );
}

#[test]
fn missing_auto_auth_and_empty_file() {
    let (code, stderr) = validate("config.hcl", "");
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG: no `auto_auth` block: vaultward needs one to log in\n  hint: add `auto_auth { method \"approle\" { config { … } } sink \"file\" { config { path = \"…\" } } }`\n1 problem found in the config\n"
    );
}

#[test]
fn json_errors_have_locations_too() {
    let config = r#"
{
  "auto_auth": {
    "method": { "type": "approle", "config": { "role_id_file_path": "/r" } },
    "sink": { "type": "file", "config": { "path": "/t", "mode": 416 } }
  },
  "exit_after_auth": "true",
  "templates": []
}
"#;
    let (code, stderr) = validate("config.json", config);
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:5:65: `auto_auth.sink[0].config.mode` is the number 416; JSON has no octal numbers, so write the mode as a string: \"0640\" (the decimal number 416 in octal, as Vault Agent reads it), or \"0416\" if the digits were meant as octal\n\
         error: CONFIG:8:3: unknown key `templates` at the top level; did you mean `template`?\n\
         2 problems found in the config\n"
    );
}

#[test]
fn agent_refuses_a_bad_config_before_any_network_access() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.hcl");
    std::fs::write(&path, format!("{VALID_AUTH}bogus = 1\n")).unwrap();
    // Port 9 (discard) on loopback: nothing listens, and nothing must be tried.
    let output = vaultward()
        .arg("agent")
        .arg(format!("-config={}", path.display()))
        .env("VAULT_ADDR", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown key `bogus` at the top level")
    );
}

#[test]
fn usage_errors_exit_64_and_version_prints() {
    let output = vaultward().args(["agent"]).output().unwrap();
    assert_eq!(output.status.code(), Some(64), "{}", text(&output));
    let output = vaultward().args(["version"]).output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("vaultward "));
}

#[test]
fn two_templates_with_one_destination_are_refused() {
    let config = format!(
        "{VALID_AUTH}template {{\n  contents = \"a\"\n  destination = \"/x\"\n}}\ntemplate {{\n  contents = \"b\"\n  destination = \"/x\"\n}}\n"
    );
    let (code, stderr) = validate("config.hcl", &config);
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:17:1: two templates write `/x`: this one and the one at CONFIG:13:1; each destination may have only one template\n1 problem found in the config\n"
    );
}

#[test]
fn vault_spellings_of_flags_and_levels() {
    for version in [&["-version"][..], &["--version"], &["version"]] {
        let output = vaultward().args(version).output().unwrap();
        assert!(output.status.success(), "{version:?}: {}", text(&output));
    }
    let output = vaultward()
        .args(["agent", "-config=x.hcl", "-bogus"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unexpected argument '-bogus' found"),
        "named as typed: {}",
        text(&output)
    );
    let output = vaultward()
        .args([
            "agent",
            "-config=x.hcl",
            "-log-file=/var/log/vault-agent.log",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with(
            "error: `-log-file` is a Vault Agent flag that vaultward does not support"
        ),
        "{}",
        text(&output)
    );
    let (code, stderr) = validate(
        "config.hcl",
        &format!("{VALID_AUTH}log_level = \"WARNING\"\n"),
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_crash() {
    let n = 10_000;
    let (code, stderr) = validate(
        "config.hcl",
        &format!("{}{}", "\"a\" = {".repeat(n), "}".repeat(n)),
    );
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:1:455: syntax error: nested too deeply: blocks, objects and lists may nest at most 64 levels deep\n\
         1 problem found in the config\n"
    );
    let (code, stderr) = validate(
        "config.hcl",
        &format!("{}{}", "a {\n".repeat(5_000), "}\n".repeat(5_000)),
    );
    assert_eq!(code, 78);
    assert!(
        stderr.starts_with("error: CONFIG:65:3: syntax error: nested too deeply"),
        "{stderr}"
    );
}

const VALID_JSON: &str = r#"{
  "auto_auth": {
    "method": { "type": "approle", "config": { "role_id_file_path": "/r" } },
    "sink": { "type": "file", "config": { "path": "\/tmp\/token" } }
  },
  "template": [{
    "contents": "\ud83d\ude00 {{kv \"secret/app\" \"x\"}}",
    "destination": "/tmp/out",
    "command": "curl -s -w '%{http_code}' http://x"
  }]
}
"#;

#[test]
fn valid_json_is_read_as_json_not_as_an_hcl_expression() {
    let (code, stderr) = validate("config.json", VALID_JSON);
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn what_is_not_json_is_refused_at_its_place() {
    for (config, expected) in [
        (
            VALID_JSON.replace("\"/tmp/out\",", "\"/tmp/out\", // where\n"),
            "8:32: syntax error: JSON has no comments: remove this `//` comment",
        ),
        (
            VALID_JSON.replace("http://x\"", "http://x\","),
            "9:52: syntax error: trailing comma: JSON allows no `,` before `}`",
        ),
        (
            VALID_JSON.replace(
                "\"destination\": \"/tmp/out\",",
                "\"destination\" = \"/tmp/out\",",
            ),
            "8:19: syntax error: expected `:` after the key `destination`, found `=`; JSON writes \"destination\": value",
        ),
        (
            VALID_JSON.replace("\"/tmp/out\",", "\"/tmp/out\""),
            "9:5: syntax error: expected `,` or `}` after the value of `destination`, found `\"`",
        ),
        (
            VALID_JSON.trim_end().trim_end_matches('}').to_owned(),
            "1:1: syntax error: this `{` is never closed: expected a matching `}` before the end of the file",
        ),
        (
            "[]\n".to_owned(),
            "1:1: syntax error: a JSON config must be an object `{ … }`, found a list",
        ),
    ] {
        let (code, stderr) = validate("config.json", &config);
        assert_eq!(code, 78);
        assert_eq!(
            stderr,
            format!("error: CONFIG:{expected}\n1 problem found in the config\n")
        );
    }
}

#[test]
fn a_key_set_twice_in_vault_retry_is_refused() {
    let (code, stderr) = validate(
        "config.hcl",
        &format!(
            "{VALID_AUTH}vault {{\n  retry {{\n    num_retries = 1\n    num_retries = 5\n  }}\n}}\n"
        ),
    );
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:16:5: `vault.retry.num_retries` is set more than once (first at CONFIG:15:5)\n\
         1 problem found in the config\n"
    );
}

#[test]
fn zero_command_timeouts_are_refused() {
    let (code, stderr) = validate(
        "config.hcl",
        &format!(
            "{VALID_AUTH}template {{\n  contents = \"a\"\n  destination = \"/a\"\n  command = \"true\"\n  command_timeout = \"0s\"\n}}\n\
             template {{\n  contents = \"b\"\n  destination = \"/b\"\n  exec {{\n    command = [\"true\"]\n    timeout = 0\n  }}\n}}\n"
        ),
    );
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:17:21: `template[0].command_timeout` must be greater than zero\n\
         error: CONFIG:24:15: `template[1].exec.timeout` must be greater than zero\n\
         2 problems found in the config\n"
    );
}

#[test]
fn durations_longer_than_ten_years_are_refused() {
    let config = VALID_AUTH.replace(
        "method \"approle\" {",
        "method \"approle\" {\n    min_backoff = \"18446744073709551615\"\n    max_backoff = \"87601h\"",
    );
    let (code, stderr) = validate(
        "config.hcl",
        &format!(
            "{config}template_config {{\n  static_secret_render_interval = 18446744073709551615\n}}\n"
        ),
    );
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:4:19: `auto_auth.method.min_backoff` must be at most 10 years (\"87600h\"), found \"18446744073709551615\"\n\
         error: CONFIG:5:19: `auto_auth.method.max_backoff` must be at most 10 years (\"87600h\"), found \"87601h\"\n\
         error: CONFIG:16:35: `template_config.static_secret_render_interval` must be at most 10 years (\"87600h\"), found 18446744073709551615\n\
         3 problems found in the config\n"
    );
}

#[test]
fn signed_modes_and_modes_above_0777_are_refused() {
    let config = format!(
        "{VALID_AUTH}template {{\n  contents = \"a\"\n  destination = \"/a\"\n  perms = 07777\n}}\n\
         template {{\n  contents = \"b\"\n  destination = \"/b\"\n  perms = \"+644\"\n}}\n\
         template {{\n  contents = \"c\"\n  destination = \"/c\"\n  perms = \"4755\"\n}}\n"
    );
    let (code, stderr) = validate("config.hcl", &config);
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:16:11: `template[0].perms` is mode 07777, which sets the setuid, setgid or sticky bit; a file of secrets never needs them: use a mode of at most 0777, such as 0640\n\
         error: CONFIG:21:11: `template[1].perms` must be an octal file mode such as 0640, without a sign, found `+644`\n\
         error: CONFIG:26:11: `template[2].perms` is mode 04755, which sets the setuid, setgid or sticky bit; a file of secrets never needs them: use a mode of at most 0777, such as 0640\n\
         3 problems found in the config\n"
    );
    let (code, stderr) = validate(
        "config.json",
        r#"{
  "auto_auth": {
    "method": { "type": "approle", "config": { "role_id_file_path": "/r" } },
    "sink": { "type": "file", "config": { "path": "/t", "mode": 4095 } }
  }
}"#,
    );
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:4:65: `auto_auth.sink[0].config.mode` is the number 4095; JSON has no octal numbers, so write the mode as a string: for example \"0640\"\n\
         1 problem found in the config\n"
    );
}

#[test]
fn a_template_that_overwrites_a_sink_token_is_refused() {
    let config = format!(
        "{VALID_AUTH}template {{\n  contents = \"a\"\n  destination = \"/tmp/token\"\n}}\n"
    );
    let (code, stderr) = validate("config.hcl", &config);
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:13:1: this template writes `/tmp/token`, the token file of the sink at CONFIG:9:3; a template must not overwrite a sink's token\n\
         1 problem found in the config\n"
    );
}

#[test]
fn invalid_server_urls_are_refused() {
    let config = [
        "http://[::1",
        "http://",
        "https://127.0.0.1:99999",
        "http:// bad host",
    ]
    .iter()
    .map(|address| format!("vault {{\n  address = \"{address}\"\n}}\n"))
    .collect::<Vec<_>>();
    let mut stderr = String::new();
    for vault in config {
        let (code, errors) = validate("config.hcl", &format!("{VALID_AUTH}{vault}"));
        assert_eq!(code, 78);
        stderr.push_str(&errors);
    }
    let hint = "  hint: write the full URL, e.g. \"https://vault.example.com:8200\"\n1 problem found in the config\n";
    assert_eq!(
        stderr,
        format!(
            "error: CONFIG:14:13: `vault.address` has an IPv6 address without its closing `]`, found \"http://[::1\"\n{hint}\
             error: CONFIG:14:13: `vault.address` has no host after `http://`, found \"http://\"\n{hint}\
             error: CONFIG:14:13: `vault.address` has port 99999, which is not from 1 to 65535, found \"https://127.0.0.1:99999\"\n{hint}\
             error: CONFIG:14:13: `vault.address` contains a space, found \"http:// bad host\"\n{hint}"
        )
    );
    let (code, stderr) = validate(
        "config.hcl",
        &format!("{VALID_AUTH}vault {{\n  address = \"https://[::1]:8200/\"\n}}\n"),
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn a_labelled_template_gets_one_clear_error() {
    let template = "template \"x\" {\n  contents = \"a\"\n  destination = \"/a\"\n}\n";
    let (code, stderr) = validate("config.hcl", &format!("{VALID_AUTH}{template}"));
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:13:10: `template` blocks take no label; remove `\"x\"`\n\
         1 problem found in the config\n"
    );
    // The same in HCL1's quoted style (read by the fallback parser) and in JSON.
    let (_, stderr) = validate(
        "config.hcl",
        &format!("{VALID_AUTH}\"exit_after_auth\" = true\ntemplate \"x\" {{ contents = \"a\" }}\n"),
    );
    assert_eq!(
        stderr,
        "error: CONFIG:14:10: `template` blocks take no label; remove `\"x\"`\n\
         1 problem found in the config\n"
    );
    let (_, stderr) = validate(
        "config.json",
        &VALID_JSON
            .replace("\"template\": [{", "\"template\": {\"x\": {")
            .replace("}]", "}}"),
    );
    assert_eq!(
        stderr,
        "error: CONFIG:6:16: `template` blocks take no label; remove `\"x\"`\n\
         1 problem found in the config\n"
    );
    // A block inside a template is an unknown key, not a label.
    let (_, stderr) = validate(
        "config.hcl",
        &format!(
            "{VALID_AUTH}template {{\n  contents = \"a\"\n  destination = \"/a\"\n  execc {{ command = \"x\" }}\n}}\n"
        ),
    );
    assert_eq!(
        stderr,
        "error: CONFIG:16:3: unknown key `execc` in `template[0]`; did you mean `exec`?\n\
         1 problem found in the config\n"
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let (code, stderr) = validate("config.hcl", &format!("\u{feff}{VALID_AUTH}"));
    assert_eq!((code, stderr.as_str()), (0, ""));
    let (code, stderr) = validate("config.json", &format!("\u{feff}{VALID_JSON}"));
    assert_eq!((code, stderr.as_str()), (0, ""));
    // Columns on the first line are counted after it.
    let (code, stderr) = validate("config.hcl", &format!("\u{feff}bogus = 1\n{VALID_AUTH}"));
    assert_eq!(code, 78);
    assert!(
        stderr.starts_with("error: CONFIG:1:1: unknown key `bogus` at the top level;"),
        "{stderr}"
    );
}

#[test]
fn control_characters_are_shown_not_hidden() {
    let (code, stderr) = validate(
        "config.hcl",
        &format!("{VALID_AUTH}pid_file = \"/run/a\0b\"\n"),
    );
    assert_eq!(code, 78);
    assert_eq!(
        stderr,
        "error: CONFIG:13:19: syntax error: unexpected character U+0000 (a NUL byte)\n\
         1 problem found in the config\n"
    );
    let (_, stderr) = validate(
        "config.hcl",
        &format!("{VALID_AUTH}exit_after_auth = true\u{1}\n"),
    );
    assert_eq!(
        stderr,
        "error: CONFIG:13:23: syntax error: expected a key, found character U+0001\n\
         1 problem found in the config\n"
    );
    let (_, stderr) = validate(
        "config.json",
        &VALID_JSON.replace("\"command\"", "\"command\\u0007\""),
    );
    assert_eq!(
        stderr,
        "error: CONFIG:9:5: unknown key `command<U+0007>` in `template[0]`; did you mean `command`?\n\
         1 problem found in the config\n"
    );
}
