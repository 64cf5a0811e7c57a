//! The long-running agent (sidecar, systemd) against a real server with TTLs of seconds:
//! renewal, re-login, refresh without storms, commands, signals, reload, file watching.
//! Time margins are generous: a slow machine must not make these tests flaky.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use vaultward_test_support::DevServer;

use crate::support::{Case, wait_until};

/// A config for a long-running agent: AppRole role `role`, one sink, `templates`.
fn config(
    case: &Case,
    role_files: (&str, &str),
    interval: &str,
    extra: &str,
) -> std::path::PathBuf {
    case.config(
        "config.hcl",
        &format!(
            r#"
pid_file = "{{dir}}/agent.pid"
auto_auth {{
  method "approle" {{
    min_backoff = "200ms"
    max_backoff = "1s"
    config {{
      role_id_file_path   = "{{dir}}/{role}"
      secret_id_file_path = "{{dir}}/{secret}"
    }}
  }}
  sink "file" {{ config {{ path = "{{dir}}/token" }} }}
}}
template_config {{ static_secret_render_interval = "{interval}" }}
template {{
  contents    = "{{{{kv \"secret/app/config\" \"password\"}}}}"
  destination = "{{dir}}/password.txt"
}}
{extra}
"#,
            role = role_files.0,
            secret = role_files.1,
        ),
    )
}

/// [`config`] with a 1 h render interval, `exit_on_retry_failure = true` and `extra` blocks.
fn exit_on_retry_config(case: &Case, role_files: (&str, &str), extra: &str) -> std::path::PathBuf {
    let config = config(
        case,
        role_files,
        "1h",
        &extra.replace("{dir}", &case.dir.path().display().to_string()),
    );
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "static_secret_render_interval = \"1h\"",
        "static_secret_render_interval = \"1h\"\n  exit_on_retry_failure = true",
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// A role with short TTLs and its credential files.
fn short_role(case: &Case, name: &str, args: &[&str]) -> (String, String) {
    let (role_id, secret_id) = case.server.approle(name, args);
    std::fs::write(case.path(&format!("{name}.roleid")), role_id).unwrap();
    std::fs::write(case.path(&format!("{name}.secretid")), secret_id).unwrap();
    (format!("{name}.roleid"), format!("{name}.secretid"))
}

#[test]
fn renews_then_logs_in_again_before_max_ttl_and_the_sink_always_holds_a_valid_token() {
    let case = Case::with_server(DevServer::start_audited());
    let (role, secret) = short_role(&case, "short", &["token_ttl=3s", "token_max_ttl=9s"]);
    let config = config(&case, (&role, &secret), "1h", "");
    let _agent = case.spawn_agent(&config, &["-log-level=debug"], &[]);
    wait_until(Duration::from_secs(20), || case.path("token").exists()).expect("first token");
    let mut tokens = Vec::new();
    let mut invalid = Vec::new();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(16) {
        let token = case.read("token");
        if !case.server.token_is_valid(&token) {
            invalid.push(started.elapsed());
        }
        if tokens.last() != Some(&token) {
            tokens.push(token);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        invalid.is_empty(),
        "the sink held an invalid token at {invalid:?}"
    );
    assert!(
        tokens.len() >= 2,
        "a new login before the 9 s max TTL: {} tokens in 16 s",
        tokens.len()
    );
    let requests = case.server.audited_requests();
    let renewals = requests
        .iter()
        .filter(|(_, path)| path == "auth/token/renew-self")
        .count();
    assert!(renewals >= 2, "renewals happen: {requests:?}");
}

#[test]
fn batch_tokens_are_replaced_before_they_expire() {
    let case = Case::new();
    let (role, secret) = short_role(
        &case,
        "batch",
        &["token_type=batch", "token_ttl=4s", "token_max_ttl=4s"],
    );
    let config = config(&case, (&role, &secret), "1h", "");
    let _agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("token").exists()).expect("first token");
    assert!(case.read("token").starts_with("b."), "a batch token");
    let mut tokens = Vec::new();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let token = case.read("token");
        assert!(
            case.server.token_is_valid(&token),
            "the sink held an expired batch token"
        );
        if tokens.last() != Some(&token) {
            tokens.push(token);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        tokens.len() >= 3,
        "batch tokens are replaced, not renewed: {} tokens",
        tokens.len()
    );
}

#[test]
fn a_revoked_token_is_replaced_at_the_next_read() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "long", &["token_ttl=1h"]);
    let config = config(&case, (&role, &secret), "1s", "");
    let _agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("password.txt").exists()
    })
    .expect("first render");
    let first = case.read("token");
    case.server.bao(&["token", "revoke", &first]);
    // The next read (within ~1 s) is refused; the agent logs in again right away.
    let took = wait_until(Duration::from_secs(8), || {
        let token = case.read("token");
        token != first && case.server.token_is_valid(&token)
    });
    assert!(took.is_some(), "no new token after the revocation");
}

#[test]
fn rotated_secret_lands_within_the_interval_and_unchanged_secrets_cause_no_write() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "app2", &[]);
    let config = config(&case, (&role, &secret), "1s", "");
    let _agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("password.txt").exists()
    })
    .expect("first render");
    let before = std::fs::metadata(case.path("password.txt")).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let after = std::fs::metadata(case.path("password.txt")).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec()),
        "no write without a change"
    );

    case.server
        .kv_put("app/config", &["password=rotated", "user=app"]);
    let took = wait_until(Duration::from_secs(6), || {
        case.read("password.txt") == "rotated"
    });
    assert!(took.is_some(), "the rotated secret did not land");
}

#[test]
fn a_new_token_causes_no_static_re_reads() {
    let case = Case::with_server(DevServer::start_audited());
    let (role, secret) = short_role(&case, "churn", &["token_ttl=2s", "token_max_ttl=4s"]);
    let config = config(&case, (&role, &secret), "1h", "");
    let _agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("password.txt").exists()
    })
    .expect("first render");
    std::thread::sleep(Duration::from_secs(10));
    let requests = case.server.audited_requests();
    let logins = requests
        .iter()
        .filter(|(_, path)| path == "auth/approle/login")
        .count();
    let reads = requests
        .iter()
        .filter(|(op, path)| op == "read" && path == "secret/data/app/config")
        .count();
    assert!(
        logins >= 3,
        "several logins in 10 s with a 4 s max TTL: {requests:?}"
    );
    assert_eq!(
        reads, 1,
        "static secrets are not re-read on a new token: {requests:?}"
    );
}

#[test]
fn a_command_runs_once_per_change() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "cmd", &[]);
    let extra = r#"
template {
  contents    = "user={{kv \"secret/app/config\" \"user\"}} pw={{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/both.txt"
  command     = "echo ran >> {dir}/commands.log"
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}!"
  destination = "{dir}/other.txt"
  exec {
    command = "echo ran >> {dir}/commands.log"
    timeout = "5s"
  }
}
template {
  contents    = "{{kv \"secret/app/config\" \"user\"}}"
  destination = "{dir}/user.txt"
  exec { command = ["touch", "{dir}/touched"] }
}
"#;
    let config = config(
        &case,
        (&role, &secret),
        "1s",
        &extra.replace("{dir}", &case.dir.path().display().to_string()),
    );
    let _agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("commands.log").exists()
    })
    .expect("first command");
    wait_until(Duration::from_secs(5), || case.path("touched").exists())
        .expect("a list runs without a shell");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        case.read("commands.log"),
        "ran\n",
        "the same command of two templates runs once; no change, no run"
    );
    case.server
        .kv_put("app/config", &["password=rotated", "user=app"]);
    wait_until(Duration::from_secs(8), || {
        case.read("commands.log").lines().count() >= 2
    })
    .expect("command after the change");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(case.read("commands.log"), "ran\nran\n");
}

#[test]
fn sighup_applies_a_changed_config_and_rejects_a_broken_one() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "hup", &[]);
    let config_path = config(&case, (&role, &secret), "1s", "");
    let agent = case.spawn_agent(&config_path, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("password.txt").exists()
    })
    .expect("first render");
    let token = case.read("token");
    let before = std::fs::metadata(case.path("password.txt")).unwrap();

    // A new template is added.
    let text = std::fs::read_to_string(&config_path).unwrap();
    let added = format!(
        "{text}\ntemplate {{\n  contents = \"{{{{kv \\\"secret/app/config\\\" \\\"user\\\"}}}}\"\n  destination = \"{}/user.txt\"\n}}\n",
        case.dir.path().display()
    );
    std::fs::write(&config_path, added).unwrap();
    agent.signal("HUP");
    wait_until(Duration::from_secs(10), || case.path("user.txt").exists())
        .expect("the added template renders");
    assert_eq!(case.read("user.txt"), "app");
    assert_eq!(
        case.read("token"),
        token,
        "the token is kept across a reload"
    );
    let after = std::fs::metadata(case.path("password.txt")).unwrap();
    assert_eq!(
        before.ino(),
        after.ino(),
        "an unchanged file is not rewritten by a reload"
    );

    // A broken config is rejected and the running one keeps working.
    std::fs::write(&config_path, "auto_auth {\n  bogus = 1\n").unwrap();
    agent.signal("HUP");
    wait_until(Duration::from_secs(10), || {
        agent
            .log()
            .contains("The new configuration is invalid; keeping the running one.")
    })
    .expect("the broken config is reported");
    case.server
        .kv_put("app/config", &["password=after-broken-reload", "user=app"]);
    wait_until(Duration::from_secs(8), || {
        case.read("password.txt") == "after-broken-reload"
    })
    .expect("the old config keeps running");
}

#[test]
fn sigterm_exits_0_and_removes_the_pid_file() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "term", &[]);
    let config = config(&case, (&role, &secret), "1h", "");
    let mut agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("password.txt").exists()
    })
    .expect("first render");
    assert_eq!(case.read("agent.pid"), agent.child.id().to_string());
    agent.signal("TERM");
    assert_eq!(
        agent.wait(Duration::from_secs(10)),
        Some(0),
        "{}",
        agent.log()
    );
    assert!(!case.path("agent.pid").exists());
}

#[test]
fn a_rotated_secret_id_file_with_the_kubernetes_symlink_swap_leads_to_a_login() {
    use std::os::unix::fs::symlink;
    let case = Case::with_server(DevServer::start_audited());
    let (role_id, secret_id) = case.server.approle("k8s", &[]);
    // kubelet's layout: secretid -> ..data/secretid, ..data -> ..<timestamp>
    let mount = case.path("mount");
    std::fs::create_dir_all(mount.join("..2026_01")).unwrap();
    std::fs::write(mount.join("..2026_01/secretid"), &secret_id).unwrap();
    std::fs::write(mount.join("..2026_01/roleid"), &role_id).unwrap();
    symlink("..2026_01", mount.join("..data")).unwrap();
    symlink("..data/secretid", mount.join("secretid")).unwrap();
    symlink("..data/roleid", mount.join("roleid")).unwrap();
    let config = case.config(
        "config.hcl",
        r#"
auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "{dir}/mount/roleid"
      secret_id_file_path = "{dir}/mount/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#,
    );
    let agent = case.spawn_agent(&config, &["-log-level=debug"], &[]);
    wait_until(Duration::from_secs(20), || case.path("token").exists()).expect("first token");
    let first = case.read("token");

    // The Secret is updated: a new timestamped directory, then an atomic swap of `..data`.
    let rotated = case.server.new_secret_id("k8s");
    std::fs::create_dir_all(mount.join("..2026_02")).unwrap();
    std::fs::write(mount.join("..2026_02/secretid"), &rotated).unwrap();
    std::fs::write(mount.join("..2026_02/roleid"), &role_id).unwrap();
    symlink("..2026_02", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_01")).unwrap();

    wait_until(Duration::from_secs(10), || case.read("token") != first)
        .expect("a login with the new secret_id");
    // The audit device logs raw request bodies: the new secret_id was sent in a login.
    let logged_in_with_rotated = std::fs::read_to_string(case.server.dir.path().join("audit.log"))
        .unwrap()
        .contains(&rotated);
    assert!(
        logged_in_with_rotated,
        "the new secret_id was used: {}",
        agent.log()
    );
}

#[test]
fn systemd_notifications_ready_reloading_stopping() {
    use std::os::unix::net::UnixDatagram;
    let case = Case::new();
    let (role, secret) = short_role(&case, "sd", &[]);
    let config = config(&case, (&role, &secret), "1h", "");
    let socket_path = case.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut agent = case.spawn_agent(
        &config,
        &[],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    let receive = || {
        let mut buffer = [0u8; 256];
        let length = socket.recv(&mut buffer).unwrap();
        String::from_utf8_lossy(&buffer[..length]).into_owned()
    };
    assert_eq!(receive(), "READY=1");
    assert!(
        case.path("password.txt").exists(),
        "READY=1 comes after the first complete render"
    );
    agent.signal("HUP");
    assert!(receive().starts_with("RELOADING=1\nMONOTONIC_USEC="));
    assert_eq!(receive(), "READY=1");
    agent.signal("TERM");
    assert_eq!(receive(), "STOPPING=1");
    assert_eq!(agent.wait(Duration::from_secs(10)), Some(0));
}

#[test]
fn exit_on_retry_failure_exits_non_zero_in_the_long_running_shape_once_the_retries_are_spent() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "fail", &[]);
    let extra = r#"
vault {
  retry { num_retries = 2 }
}
template {
  contents    = "{{kv \"secret/does/not/exist\" \"x\"}}"
  destination = "{dir}/never.txt"
}
"#;
    let config = exit_on_retry_config(&case, (&role, &secret), extra);
    let mut agent = case.spawn_agent(&config, &[], &[]);
    assert_eq!(
        agent.wait(Duration::from_secs(30)),
        Some(1),
        "{}",
        agent.log()
    );
    let log = agent.log();
    assert!(
        log.contains("1 template could not be rendered (retried up to 2 times) and exit_on_retry_failure is set"),
        "{log}"
    );
    assert_eq!(
        log.matches("it will be retried").count(),
        2,
        "retried num_retries times first, as Vault Agent does: {log}"
    );
    assert_eq!(
        case.read("password.txt"),
        "hunter2",
        "the other template was still written"
    );
}

#[test]
fn exit_on_retry_failure_waits_for_a_secret_that_appears_during_the_retries() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "late", &[]);
    let extra = r#"
template {
  contents    = "{{kv \"secret/app/late\" \"x\"}}"
  destination = "{dir}/late.txt"
}
"#;
    let config = exit_on_retry_config(&case, (&role, &secret), extra);
    let mut agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(30), || {
        agent.log().contains("it will be retried")
    })
    .expect("the missing secret is retried, not fatal");
    case.server.kv_put("app/late", &["x=late-value-8126"]);
    wait_until(Duration::from_secs(30), || case.path("late.txt").exists())
        .unwrap_or_else(|| panic!("the secret that appeared is rendered: {}", agent.log()));
    assert_eq!(case.read("late.txt"), "late-value-8126");
    agent.signal("TERM");
    assert_eq!(
        agent.wait(Duration::from_secs(10)),
        Some(0),
        "{}",
        agent.log()
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_stable_fields() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "json", &[]);
    let config = config(&case, (&role, &secret), "1h", "");
    let mut agent = case.spawn_agent(&config, &["-log-format=json"], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("password.txt").exists()
    })
    .expect("first render");
    agent.signal("TERM");
    agent.wait(Duration::from_secs(10));
    let log = agent.log();
    let mut lines = 0;
    for line in log.lines() {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        // Vault Agent's (hclog's) keys.
        for field in ["@timestamp", "@level", "@message", "@module"] {
            assert!(object.get(field).is_some(), "no `{field}` in {line}");
        }
        lines += 1;
    }
    assert!(lines >= 3, "{log}");
    assert!(
        log.contains("\"@message\":\"Rendered the template.\""),
        "{log}"
    );
    assert!(log.contains("\"@level\":\"info\""), "{log}");
}

#[test]
fn a_command_that_outlives_its_timeout_is_killed_and_rendering_goes_on() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "slow", &[]);
    let extra = r#"
template {
  contents    = "{{kv \"secret/app/config\" \"user\"}}"
  destination = "{dir}/user.txt"
  command     = "sleep 30"
  command_timeout = "1s"
}
"#;
    let config = config(
        &case,
        (&role, &secret),
        "1s",
        &extra.replace("{dir}", &case.dir.path().display().to_string()),
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(15), || {
        agent
            .log()
            .contains("The command timed out and was killed.")
    })
    .expect("the command is killed after its timeout");
    case.server
        .kv_put("app/config", &["password=rotated", "user=app"]);
    wait_until(Duration::from_secs(8), || {
        case.read("password.txt") == "rotated"
    })
    .expect("rendering goes on");
}

#[test]
fn a_secret_with_a_ttl_is_read_again_on_its_own_schedule() {
    let case = Case::with_server(DevServer::start_audited());
    case.server.enable_kv1();
    case.server
        .bao(&["write", "kv1/short", "value=one", "ttl=2s"]);
    let (role, secret) = short_role(&case, "ttl", &[]);
    let extra = r#"
template {
  contents    = "{{#with (secret \"kv1/short\")}}{{data.value}}{{/with}}"
  destination = "{dir}/short.txt"
}
"#;
    let config = config(
        &case,
        (&role, &secret),
        "1h",
        &extra.replace("{dir}", &case.dir.path().display().to_string()),
    );
    let _agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("short.txt").exists()).expect("first render");
    case.server
        .bao(&["write", "kv1/short", "value=two", "ttl=2s"]);
    wait_until(Duration::from_secs(8), || case.read("short.txt") == "two")
        .expect("re-read at about 90 % of its 2 s ttl");
    let requests = case.server.audited_requests();
    let short_reads = requests
        .iter()
        .filter(|(op, path)| op == "read" && path == "kv1/short")
        .count();
    let static_reads = requests
        .iter()
        .filter(|(op, path)| op == "read" && path == "secret/data/app/config")
        .count();
    assert!(short_reads >= 2, "{requests:?}");
    assert_eq!(
        static_reads, 1,
        "the static secret keeps its own (1 h) schedule: {requests:?}"
    );
}

#[test]
fn an_edited_template_source_is_rendered_again() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "src", &[]);
    std::fs::create_dir(case.path("templates")).unwrap();
    std::fs::write(
        case.path("templates/app.tmpl"),
        "v1 {{kv \"secret/app/config\" \"user\"}}",
    )
    .unwrap();
    let extra = format!(
        "template {{\n  source = \"{dir}/templates/app.tmpl\"\n  destination = \"{dir}/app.txt\"\n}}\n",
        dir = case.dir.path().display()
    );
    let config = config(&case, (&role, &secret), "1h", &extra);
    let _agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("app.txt").exists()).expect("first render");
    assert_eq!(case.read("app.txt"), "v1 app");
    // An editor-style replace: write a new file and rename it over the old one.
    std::fs::write(
        case.path("templates/.app.tmpl.swp"),
        "v2 {{kv \"secret/app/config\" \"user\"}}",
    )
    .unwrap();
    std::fs::rename(
        case.path("templates/.app.tmpl.swp"),
        case.path("templates/app.tmpl"),
    )
    .unwrap();
    wait_until(Duration::from_secs(8), || case.read("app.txt") == "v2 app")
        .expect("the edited source is rendered");
}

#[test]
fn a_failing_template_retries_alone_and_the_others_stay_fresh() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "iso", &[]);
    let extra = format!(
        "template {{\n  contents = \"{{{{kv \\\"secret/app/config\\\" \\\"password\\\"}}}}!\"\n  destination = \"{dir}/blocked.txt\"\n}}\n",
        dir = case.dir.path().display()
    );
    let config = config(&case, (&role, &secret), "1s", &extra);
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("blocked.txt").exists()
    })
    .expect("both templates render");
    // The destination turns into a directory: writing it fails from now on.
    std::fs::remove_file(case.path("blocked.txt")).unwrap();
    std::fs::create_dir(case.path("blocked.txt")).unwrap();
    case.server
        .kv_put("app/config", &["password=rotated", "user=app"]);
    wait_until(Duration::from_secs(8), || {
        case.read("password.txt") == "rotated"
    })
    .expect("the good template stays fresh");
    wait_until(Duration::from_secs(10), || {
        agent.log().matches("blocked.txt").count() >= 3
    })
    .expect("the failing template is retried");
    assert!(
        agent.log().contains(&format!(
            "cannot write `{}`",
            case.path("blocked.txt").display()
        )),
        "{}",
        agent.log()
    );
}

#[test]
fn a_stop_signal_is_not_kept_waiting_by_a_login_backoff() {
    let case = Case::new();
    let (role, secret) = short_role(&case, "waiting", &["token_ttl=2s", "token_max_ttl=2s"]);
    let config = config(&case, (&role, &secret), "1h", "");
    // Slow backoff, so that a failed re-login sleeps for a long time.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("max_backoff = \"1s\"", "max_backoff = \"60s\"")
        .replace("min_backoff = \"200ms\"", "min_backoff = \"30s\"");
    std::fs::write(&config, text).unwrap();
    let mut agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("password.txt").exists()
    })
    .expect("first render");
    // The role gets a new role_id: the agent's cached credentials stop working.
    case.server.bao(&[
        "write",
        "auth/approle/role/waiting/role-id",
        "role_id=replaced-role-id",
    ]);
    // Wait for the re-login to fail and the agent to sleep in its backoff.
    wait_until(Duration::from_secs(15), || {
        agent.log().contains("Retrying with backoff") || agent.log().contains("Login failed")
    })
    .expect("a failing re-login");
    agent.signal("TERM");
    let started = std::time::Instant::now();
    assert_eq!(
        agent.wait(Duration::from_secs(10)),
        Some(0),
        "{}",
        agent.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        started.elapsed()
    );
}

/// A non-dumpable process's /proc entries belong to root, whatever user it runs as.
#[test]
fn the_agent_process_is_not_dumpable() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::new();
    let (role, secret) = short_role(&case, "dump", &[]);
    let config = config(&case, (&role, &secret), "1h", "");
    std::fs::set_permissions(case.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for file in [&role, &secret, &"config.hcl".to_owned()] {
        std::fs::set_permissions(case.path(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut child = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_vaultward"),
            "agent",
        ])
        .arg(format!("-config={}", config.display()))
        .env("BAO_ADDR", &case.server.addr)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_until(Duration::from_secs(20), || {
        case.path("password.txt").exists()
    });
    let owner = std::fs::metadata(format!("/proc/{}/environ", child.id())).map(|m| m.uid());
    let _ = child.kill();
    let _ = child.wait();
    ready.expect("the agent ran as nobody");
    assert_eq!(
        owner.unwrap(),
        0,
        "/proc/<pid>/environ of a non-dumpable process belongs to root"
    );
}

#[test]
fn a_kv_v1_secret_without_ttl_is_refreshed_at_the_static_interval() {
    let case = Case::new();
    case.server.enable_kv1();
    case.server.bao(&["write", "kv1/api", "key=one"]);
    let (role, secret) = short_role(&case, "v1", &[]);
    let extra = r#"
template {
  contents    = "{{kv \"kv1/api\" \"key\"}}"
  destination = "{dir}/api.txt"
}
"#;
    let config = config(
        &case,
        (&role, &secret),
        "1s",
        &extra.replace("{dir}", &case.dir.path().display().to_string()),
    );
    let _agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("api.txt").exists()).expect("first render");
    case.server.bao(&["write", "kv1/api", "key=two"]);
    wait_until(Duration::from_secs(6), || case.read("api.txt") == "two")
        .expect("KV v1 is refreshed within the interval");
}

/// A read that keeps failing with a server error is retried inside the render loop; the
/// token task renews on its own, so the sink never holds an expired token meanwhile.
#[test]
fn a_failing_read_does_not_stop_token_renewal() {
    let case = Case::new();
    case.server.bao(&["secrets", "enable", "database"]);
    case.server.bao(&[
        "write",
        "database/config/pg",
        "plugin_name=postgresql-database-plugin",
        "connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:1/db",
        "username=x",
        "password=y",
        "verify_connection=false",
        "allowed_roles=r",
    ]);
    case.server.bao(&[
        "write",
        "database/roles/r",
        "db_name=pg",
        "creation_statements=CREATE ROLE x;",
    ]);
    std::fs::write(
        case.path("db-policy.hcl"),
        "path \"database/creds/*\" { capabilities = [\"read\"] }\npath \"secret/*\" { capabilities = [\"read\"] }\npath \"sys/internal/ui/mounts/*\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    case.server.bao(&[
        "policy",
        "write",
        "db-read",
        case.path("db-policy.hcl").to_str().unwrap(),
    ]);
    let (role, secret) = short_role(
        &case,
        "db",
        &["token_ttl=3s", "token_max_ttl=1h", "token_policies=db-read"],
    );
    let extra = r#"
template {
  contents    = "{{#with (secret \"database/creds/r\")}}{{data.username}}{{/with}}"
  destination = "{dir}/db.txt"
}
"#;
    let config = config(
        &case,
        (&role, &secret),
        "1h",
        &extra.replace("{dir}", &case.dir.path().display().to_string()),
    );
    let agent = case.spawn_agent(&config, &["-log-level=debug"], &[]);
    wait_until(Duration::from_secs(20), || case.path("token").exists()).expect("first token");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let token = case.read("token");
        assert!(
            case.server.token_is_valid(&token),
            "the sink held an expired token: {}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        agent.log().contains("Renewed the token."),
        "{}",
        agent.log()
    );
}
