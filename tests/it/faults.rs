//! Faults and hostile surroundings found by trying to break the agent: each was a defect once.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{Case, run_with_limit, text, vaultward, wait_until};

const BASE: &str = r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    min_backoff = "200ms"
    max_backoff = "400ms"
    config {
      role_id_file_path   = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#;

#[test]
fn a_fifo_destination_is_refused_before_the_login_instead_of_hanging() {
    let case = Case::new();
    let fifo = case.path("out");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let config = case.config(
        "config.hcl",
        &format!("{BASE}template {{\n  contents = \"x\"\n  destination = \"{{dir}}/out\"\n}}\n"),
    );
    let (output, elapsed) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert!(
        text(&output).contains("is not a regular file (a device, FIFO or socket)"),
        "{}",
        text(&output)
    );
    assert!(case.path("secretid").exists());
}

#[test]
fn exit_after_auth_stopped_by_a_signal_before_it_is_done_exits_non_zero() {
    let case = Case::new();
    std::fs::write(
        case.path("secretid"),
        "00000000-0000-0000-0000-000000000000",
    )
    .unwrap();
    let config = case.config("config.hcl", BASE);
    let mut agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(10), || {
        agent.log().contains("refused the AppRole credentials")
    })
    .expect("a failing login");
    agent.signal("TERM");
    assert_eq!(
        agent.wait(Duration::from_secs(10)),
        Some(1),
        "{}",
        agent.log()
    );
    assert!(
        agent.log().contains(
            "error: stopped by SIGTERM before the first login completed; the job is not complete"
        ),
        "{}",
        agent.log()
    );
}

#[test]
fn a_broken_stderr_does_not_crash_the_agent() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &BASE.replace("min_backoff", "exit_on_err = true\n    min_backoff"),
    );
    std::fs::write(
        case.path("secretid"),
        "00000000-0000-0000-0000-000000000000",
    )
    .unwrap();
    let mut child = vaultward()
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .arg("-log-level=trace")
        .env("BAO_ADDR", &case.server.addr)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // The log collector goes away.
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "a login failure, not a crash on the broken pipe"
    );
}

#[test]
fn a_command_timeout_kills_the_whole_command() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &format!(
            "{BASE}template {{\n  contents = \"x\"\n  destination = \"{{dir}}/out.txt\"\n  command = \"sleep 2; touch {{dir}}/too-late\"\n  command_timeout = \"500ms\"\n}}\n"
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("The command timed out and was killed."),
        "{}",
        text(&output)
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !case.path("too-late").exists(),
        "the shell's children were killed too"
    );
}

#[test]
fn temporary_files_left_by_a_killed_run_are_removed() {
    let case = Case::new();
    std::fs::write(case.path(".token.a1B2c3.tmp"), "s.leftover-token").unwrap();
    let config = case.config("config.hcl", BASE);
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(!case.path(".token.a1B2c3.tmp").exists());
}

#[test]
fn a_sink_path_that_is_a_directory_fails_before_the_login() {
    let case = Case::new();
    std::fs::create_dir(case.path("token")).unwrap();
    let config = case.config("config.hcl", BASE);
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains(&format!(
            "cannot write `{}`: check the sink path: it is a directory",
            case.path("token").display()
        )),
        "{}",
        text(&output)
    );
    assert!(case.path("secretid").exists(), "the secret_id was not used");
}

#[test]
fn a_device_as_config_file_is_refused() {
    let mut command = vaultward();
    command.args(["validate", "-config=/dev/zero"]);
    let (output, elapsed) = run_with_limit(&mut command, Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(78), "{}", text(&output));
    assert!(elapsed < Duration::from_secs(5));
    assert!(
        text(&output).contains("/dev/zero: not a regular file"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_server_that_comes_up_late_is_waited_for_and_the_job_completes() {
    let port = vaultward_test_support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.hcl");
    std::fs::write(
        &config,
        BASE.replace("{dir}", &dir.path().display().to_string())
            + &format!("template {{\n  contents = \"{{{{kv \\\"secret/app/config\\\" \\\"password\\\"}}}}\"\n  destination = \"{}/out.txt\"\n}}\n", dir.path().display()),
    )
    .unwrap();
    let mut agent = vaultward()
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .env("BAO_ADDR", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Nothing listens yet and the credential files are not there: the agent keeps retrying.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        agent.try_wait().unwrap().is_none(),
        "still waiting for the server"
    );
    let server = vaultward_test_support::DevServer::start_on_port(port);
    let (role_id, secret_id) = server.approle("late", &[]);
    server.kv_put("app/config", &["password=late-but-fine"]);
    std::fs::write(dir.path().join("roleid"), role_id).unwrap();
    std::fs::write(dir.path().join("secretid"), secret_id).unwrap();
    let finished = wait_until(Duration::from_secs(30), || {
        agent.try_wait().unwrap().is_some()
    });
    let _ = agent.kill();
    finished.expect("the agent finished once the server was up");
    assert_eq!(agent.wait().unwrap().code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "late-but-fine"
    );
}

#[test]
fn a_sealed_server_is_waited_for_at_start_and_mid_run() {
    let case = Case::new();
    case.server.seal();
    let config = case.config(
        "config.hcl",
        &(BASE.replace("exit_after_auth = true\n", "")
            + "template_config { static_secret_render_interval = \"1s\" }\ntemplate {\n  contents = \"{{kv \\\"secret/app/config\\\" \\\"password\\\"}}\"\n  destination = \"{dir}/out.txt\"\n}\n"),
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(10), || agent.log().contains("503"))
        .expect("the agent sees the sealed server");
    case.server.unseal();
    wait_until(Duration::from_secs(20), || case.path("out.txt").exists())
        .expect("it logs in once unsealed");
    // Sealed mid-run: the last good file stays; after unsealing, changes land again.
    case.server.seal();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(case.read("out.txt"), "hunter2");
    case.server.unseal();
    case.server.kv_put("app/config", &["password=after-unseal"]);
    wait_until(Duration::from_secs(20), || {
        case.read("out.txt") == "after-unseal"
    })
    .expect("recovers without a restart");
}

#[test]
fn a_kill_9_during_a_render_never_leaves_a_partial_file() {
    let case = Case::new();
    let big = "x".repeat(100_000);
    case.server
        .kv_put("app/config", &[&format!("password={big}")]);
    let mut templates = String::new();
    for index in 0..60 {
        templates.push_str(&format!(
            "template {{\n  contents = \"{{{{kv \\\"secret/app/config\\\" \\\"password\\\"}}}}\"\n  destination = \"{{dir}}/out/{index}.txt\"\n}}\n"
        ));
    }
    let config = case.config("config.hcl", &(BASE.replace("secret_id_file_path = \"{dir}/secretid\"", "secret_id_file_path = \"{dir}/secretid\"\n      remove_secret_id_file_after_reading = false") + &templates));
    for round in 0..5u64 {
        let _ = std::fs::remove_dir_all(case.path("out"));
        let mut agent = case.spawn_agent(&config, &[], &[]);
        std::thread::sleep(Duration::from_millis(60 + round * 40));
        let _ = agent.child.kill(); // SIGKILL
        let _ = agent.child.wait();
        for entry in std::fs::read_dir(case.path("out"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".txt") && !name.starts_with('.') {
                assert_eq!(
                    std::fs::read(entry.path()).unwrap().len(),
                    big.len(),
                    "{name} is partial"
                );
            }
        }
    }
}

#[test]
fn fifty_agents_at_once_all_succeed() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &BASE
            .replace("secret_id_file_path = \"{dir}/secretid\"", "secret_id_file_path = \"{dir}/secretid\"\n      remove_secret_id_file_after_reading = false")
            .replace("path = \"{dir}/token\"", "path = \"{dir}/token-AGENT\""),
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let mut agents = Vec::new();
    for index in 0..50 {
        let own = case.path(&format!("config-{index}.hcl"));
        std::fs::write(&own, text.replace("AGENT", &index.to_string())).unwrap();
        agents.push(
            vaultward()
                .arg("agent")
                .arg(format!("-config={}", own.display()))
                .env("BAO_ADDR", &case.server.addr)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    for (index, mut agent) in agents.into_iter().enumerate() {
        let status = agent.wait().unwrap();
        assert!(status.success(), "agent {index}: {status:?}");
        assert!(
            case.server
                .token_is_valid(&case.read(&format!("token-{index}")))
        );
    }
}

#[test]
fn an_exhausted_secret_id_is_reported_and_a_new_secret_id_file_is_picked_up() {
    refused_secret_id_at_re_login(&["secret_id_num_uses=1", "token_ttl=3s", "token_max_ttl=3s"]);
}

#[test]
fn an_expired_secret_id_is_reported_and_a_new_secret_id_file_is_picked_up() {
    // The secret_id lives 2 s; the re-login comes at about 4 s, near the token's max TTL.
    refused_secret_id_at_re_login(&["secret_id_ttl=2s", "token_ttl=6s", "token_max_ttl=6s"]);
}

/// The first login works; the re-login near the token's max TTL is refused because the
/// secret_id kept in memory is used up or expired; a new secret_id file is used at once.
fn refused_secret_id_at_re_login(role_settings: &[&str]) {
    let case = Case::new();
    let (role_id, secret_id) = case.server.approle("once", role_settings);
    std::fs::write(case.path("once.roleid"), role_id).unwrap();
    std::fs::write(case.path("once.secretid"), secret_id).unwrap();
    let config = case.config(
        "config.hcl",
        r#"
auto_auth {
  method "approle" {
    min_backoff = "300ms"
    max_backoff = "1s"
    config {
      role_id_file_path   = "{dir}/once.roleid"
      secret_id_file_path = "{dir}/once.secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
"#,
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("token").exists()).expect("first token");
    let first = case.read("token");
    // At the re-login (max TTL 3 s) the used-up secret_id is refused.
    wait_until(Duration::from_secs(15), || {
        agent.log().contains("invalid role or secret ID")
    })
    .expect("a clear refusal");
    // The secret_id file was consumed at the first login, so the one refused now is the copy
    // kept in memory: the message says what happened and what to do.
    assert!(
        agent.log().contains(&format!(
            "with the role_id from `{dir}/once.roleid` failed",
            dir = case.dir.path().display()
        )) && agent.log().contains(&format!(
            "the secret_id read earlier from `{dir}/once.secretid` and kept in memory was refused: it has most likely expired (`secret_id_ttl`) or been used up (`secret_id_num_uses`); write a new secret_id to `{dir}/once.secretid` and vaultward logs in with it at once",
            dir = case.dir.path().display()
        )),
        "{}",
        agent.log()
    );
    // A new secret_id arrives: the agent logs in with it.
    std::fs::write(
        case.path("once.secretid"),
        case.server.new_secret_id("once"),
    )
    .unwrap();
    wait_until(Duration::from_secs(15), || {
        let token = case.read("token");
        token != first && case.server.token_is_valid(&token)
    })
    .expect("a login with the new secret_id");
}

/// A fake server that only injects faults a real server cannot produce: it accepts
/// connections and then either never answers or cuts its reply in the middle.
fn fault_server(cut_reply: bool) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            if cut_reply {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"auth\": {\"client_tok");
                drop(stream);
            } else {
                held.push(stream); // Never answered, never closed.
            }
        }
    });
    port
}

#[test]
fn a_server_that_never_answers_times_out_instead_of_hanging() {
    let port = fault_server(false);
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &BASE.replace("min_backoff", "exit_on_err = true\n    min_backoff"),
    );
    let mut command = vaultward();
    command
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .env("BAO_ADDR", format!("http://127.0.0.1:{port}"))
        .env("BAO_CLIENT_TIMEOUT", "1s");
    let (output, elapsed) = run_with_limit(&mut command, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert!(text(&output).contains("timed out"), "{}", text(&output));
}

#[test]
fn a_reply_cut_in_the_middle_is_an_error_and_is_retried() {
    let port = fault_server(true);
    let case = Case::new();
    let config = case.config("config.hcl", BASE);
    let mut command = vaultward();
    command
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .env("BAO_ADDR", format!("http://127.0.0.1:{port}"));
    let (output, _) = run_with_limit(&mut command, Duration::from_secs(3));
    let logs = text(&output);
    assert!(
        logs.matches("Login failed; retrying.").count() >= 2,
        "retried with backoff: {logs}"
    );
    assert!(case.path("secretid").exists());
}

#[test]
fn a_missing_template_source_is_a_clear_error_before_any_login() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &format!("{BASE}template {{\n  source = \"{{dir}}/missing.tmpl\"\n  destination = \"{{dir}}/out.txt\"\n}}\n"),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(78), "{}", text(&output));
    assert!(
        text(&output).contains(&format!(
            "cannot read the template source `{}`: No such file or directory",
            case.path("missing.tmpl").display()
        )),
        "{}",
        text(&output)
    );
    assert!(case.path("secretid").exists());
}

#[test]
fn a_server_restarted_with_all_state_lost_is_survived_once_the_role_is_back() {
    let case = Case::new();
    let (role_id, secret_id) = case
        .server
        .approle("reborn", &["token_ttl=3s", "token_max_ttl=3s"]);
    std::fs::write(case.path("r.roleid"), role_id).unwrap();
    std::fs::write(case.path("r.secretid"), secret_id).unwrap();
    let config = case.config(
        "config.hcl",
        r#"
auto_auth {
  method "approle" {
    min_backoff = "300ms"
    max_backoff = "1s"
    config {
      role_id_file_path   = "{dir}/r.roleid"
      secret_id_file_path = "{dir}/r.secretid"
    }
  }
  sink "file" { config { path = "{dir}/token" } }
}
template_config { static_secret_render_interval = "1s" }
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/out.txt"
}
"#,
    );
    let mut case = case;
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("out.txt").exists()).expect("first render");
    // The dev server dies and comes back empty on the same port.
    case.server.restart_fresh();
    // The fresh server has no AppRole mount at all: logins fail loudly (403), with backoff.
    wait_until(Duration::from_secs(20), || {
        agent
            .log()
            .contains("either the AppRole mount does not exist on this server")
    })
    .unwrap_or_else(|| panic!("the lost role is reported:\n{}", agent.log()));
    assert_eq!(case.read("out.txt"), "hunter2", "the last good file stays");
    // The role and the secret are recreated; new credentials are written.
    let (role_id, secret_id) = case.server.approle("reborn", &[]);
    case.server.kv_put("app/config", &["password=reborn"]);
    std::fs::write(case.path("r.roleid"), role_id).unwrap();
    std::fs::write(case.path("r.secretid"), secret_id).unwrap();
    wait_until(Duration::from_secs(30), || case.read("out.txt") == "reborn")
        .expect("recovers once the role is back");
    assert!(case.server.token_is_valid(&case.read("token")));
    // No login storm after the recovery: the failed reads meanwhile asked for one login.
    std::thread::sleep(Duration::from_secs(2));
    let logins_after = agent.log().matches("Authenticated with AppRole").count();
    assert!(logins_after <= 4, "{logins_after} logins:\n{}", agent.log());
}

#[test]
fn a_server_restarted_with_persistent_storage_keeps_the_token_and_the_files() {
    let case = Case::with_server(vaultward_test_support::DevServer::start_persistent());
    let config = case.config(
        "config.hcl",
        &(BASE.replace("exit_after_auth = true\n", "")
            + "template_config { static_secret_render_interval = \"1s\" }\ntemplate {\n  contents = \"{{kv \\\"secret/app/config\\\" \\\"password\\\"}}\"\n  destination = \"{dir}/out.txt\"\n}\n"),
    );
    let mut case = case;
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("out.txt").exists()).expect("first render");
    let token = case.read("token");
    case.server.restart_persistent();
    // The token survived the restart: it is kept, the files stay, and changes land again.
    case.server
        .kv_put("app/config", &["password=after-restart"]);
    wait_until(Duration::from_secs(20), || {
        case.read("out.txt") == "after-restart"
    })
    .expect("changes land after the restart");
    assert_eq!(case.read("token"), token, "the still-valid token is kept");
    assert!(case.server.token_is_valid(&token));
    assert_eq!(
        agent.log().matches("Authenticated with AppRole").count(),
        1,
        "{}",
        agent.log()
    );
}

/// A small tmpfs (`size` is its mount options after `size=`), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: std::path::PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs needs root");
        SmallDisk(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_keeps_the_previous_file_leaves_no_temporary_file_and_spares_the_others() {
    let case = Case::new();
    let disk = SmallDisk::mount(case.path("full"), "64k");
    let config = case.config(
        "config.hcl",
        &(BASE.replace("exit_after_auth = true\n", "")
            + "template_config { static_secret_render_interval = \"1s\" }\n\
               template {\n  contents = \"{{kv \\\"secret/app/config\\\" \\\"password\\\"}}\"\n  destination = \"{dir}/full/out.txt\"\n}\n\
               template {\n  contents = \"{{kv \\\"secret/app/config\\\" \\\"password\\\"}}\"\n  destination = \"{dir}/elsewhere.txt\"\n}\n"),
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("full/out.txt").exists()
    })
    .expect("first render");
    // Fill the small disk, then make the secret larger than what is left.
    let _ = std::fs::write(case.path("full/filler"), vec![0u8; 60 * 1024]);
    let big = "y".repeat(20_000);
    case.server
        .kv_put("app/config", &[&format!("password={big}")]);
    wait_until(Duration::from_secs(10), || {
        case.read("elsewhere.txt") == big
    })
    .expect("the other template is unaffected");
    wait_until(Duration::from_secs(10), || {
        agent.log().contains("No space left on device")
    })
    .expect("the error is reported");
    assert!(
        agent.log().contains(&format!(
            "cannot write `{}`",
            case.path("full/out.txt").display()
        )),
        "the error names the file: {}",
        agent.log()
    );
    assert_eq!(
        case.read("full/out.txt"),
        "hunter2",
        "the previous content is intact"
    );
    let leftovers: Vec<_> = std::fs::read_dir(case.path("full"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
    drop(agent);
    drop(disk);
}

/// A role `name` with `role_args`, its credential files, and a long-running config for it.
fn long_running_role(case: &Case, name: &str, role_args: &[&str]) -> std::path::PathBuf {
    let (role_id, secret_id) = case.server.approle(name, role_args);
    std::fs::write(case.path(&format!("{name}.roleid")), role_id).unwrap();
    std::fs::write(case.path(&format!("{name}.secretid")), secret_id).unwrap();
    case.config(
        "config.hcl",
        &BASE
            .replace("exit_after_auth = true\n", "")
            .replace("{dir}/roleid", &format!("{{dir}}/{name}.roleid"))
            .replace("{dir}/secretid", &format!("{{dir}}/{name}.secretid")),
    )
}

#[test]
fn a_bad_secret_id_written_mid_run_keeps_the_working_token_renewed_without_a_lockout() {
    let case = Case::new();
    let config = long_running_role(&case, "rotating", &["token_ttl=6s", "token_max_ttl=1h"]);
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("token").exists()).expect("first login");
    let first = case.read("token");
    // Whatever rotates the secret_id writes something wrong.
    std::fs::write(case.path("rotating.secretid"), "not-a-secret-id").unwrap();
    wait_until(Duration::from_secs(10), || {
        agent.log().contains("keeping the current token")
    })
    .unwrap_or_else(|| panic!("the refused credentials are reported: {}", agent.log()));
    // Past the token's 6 s TTL: it was renewed, and is still the one in the sink.
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(case.read("token"), first, "{}", agent.log());
    assert!(
        case.server.token_is_valid(&first),
        "the working token is still renewed: {}",
        agent.log()
    );
    assert_eq!(
        agent.log().matches("could not be used to log in").count(),
        1,
        "one attempt with the bad secret_id, no retries that would lock the role out: {}",
        agent.log()
    );
    // A good secret_id is used at once.
    let (_, fresh) = case.server.approle("rotating", &[]);
    std::fs::write(case.path("rotating.secretid"), fresh).unwrap();
    wait_until(Duration::from_secs(10), || {
        let token = case.read("token");
        token != first && case.server.token_is_valid(&token)
    })
    .unwrap_or_else(|| panic!("the new secret_id logs in: {}", agent.log()));
}

#[test]
fn a_sink_that_could_not_be_written_is_written_once_the_disk_has_room() {
    let case = Case::new();
    let disk = SmallDisk::mount(case.path("small"), "64k");
    let config = case.config(
        "config.hcl",
        &(BASE
            .replace("exit_after_auth = true\n", "")
            .replace("{dir}/token", "{dir}/small/token")
            + "template_config { static_secret_render_interval = \"1s\" }\n\
               template {\n  contents = \"{{kv \\\"secret/app/config\\\" \\\"password\\\"}}\"\n  destination = \"{dir}/out.txt\"\n}\n"),
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("out.txt").exists()).expect("first render");
    let first = case.read("small/token");
    let _ = std::fs::write(case.path("small/filler"), vec![0u8; 64 * 1024]);
    // The next read is refused, the agent logs in again, and the new token does not fit.
    case.server.bao(&["token", "revoke", &first]);
    wait_until(Duration::from_secs(15), || {
        agent
            .log()
            .contains("A sink could not be written; trying again.")
    })
    .unwrap_or_else(|| panic!("the failed sink write is reported: {}", agent.log()));
    std::fs::remove_file(case.path("small/filler")).unwrap();
    wait_until(Duration::from_secs(15), || {
        let token = case.read("small/token");
        token != first && case.server.token_is_valid(&token)
    })
    .unwrap_or_else(|| {
        panic!(
            "the sink holds the new token once there is room: {}",
            agent.log()
        )
    });
    drop(agent);
    drop(disk);
}

/// A loopback proxy to the real server that, once `hold` is set, stops forwarding on any
/// connection that sends a request containing `marker` (a token renewal, a wrapping request):
/// the request is accepted and never answered, a fault a real server cannot be asked for.
fn holding_proxy(
    upstream: String,
    hold: std::sync::Arc<std::sync::atomic::AtomicBool>,
    marker: &'static [u8],
) -> u16 {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut client_reader, mut server_writer) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut server_reader, mut client_writer) = (server, client);
            let hold = hold.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 16384];
                while let Ok(n) = client_reader.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    let chunk = &buffer[..n];
                    if hold.load(Ordering::SeqCst)
                        && chunk.windows(marker.len()).any(|w| w == marker)
                    {
                        // Held: keep the connection open, forward nothing more.
                        std::thread::sleep(Duration::from_secs(600));
                        break;
                    }
                    if server_writer.write_all(chunk).is_err() {
                        break;
                    }
                }
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server_reader, &mut client_writer);
            });
        }
    });
    port
}

#[test]
fn a_renewal_that_is_never_answered_is_given_up_for_a_login_before_the_token_expires() {
    let case = Case::new();
    let config = long_running_role(&case, "held", &["token_ttl=6s", "token_max_ttl=1h"]);
    let hold = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let upstream = case.server.addr.trim_start_matches("http://").to_owned();
    let port = holding_proxy(upstream, hold.clone(), b"renew-self");
    let agent = case.spawn_agent(
        &config,
        &[],
        &[("BAO_ADDR", &format!("http://127.0.0.1:{port}"))],
    );
    wait_until(Duration::from_secs(20), || case.path("token").exists()).expect("first login");
    let first = case.read("token");
    hold.store(true, std::sync::atomic::Ordering::SeqCst);
    // The renewal at about 4 s hangs (the client timeout is 60 s); the agent gives it up at
    // 5.4 s and logs in, so the sink never holds an expired token.
    wait_until(Duration::from_secs(10), || {
        let token = case.read("token");
        token != first && case.server.token_is_valid(&token)
    })
    .unwrap_or_else(|| panic!("a new token before the old one expires: {}", agent.log()));
    assert!(
        agent.log().contains("Token renewal got no answer"),
        "{}",
        agent.log()
    );
}

#[test]
fn a_bad_secret_id_file_at_max_ttl_falls_back_to_the_secret_id_that_worked() {
    let case = Case::new();
    let config = long_running_role(&case, "fallback", &["token_ttl=4s", "token_max_ttl=6s"]);
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || case.path("token").exists()).expect("first login");
    let first = case.read("token");
    std::fs::write(case.path("fallback.secretid"), "not-a-secret-id").unwrap();
    // At the max TTL a new token is needed; the file's secret_id is refused, the one that
    // logged in before is not.
    wait_until(Duration::from_secs(20), || {
        let token = case.read("token");
        token != first && case.server.token_is_valid(&token)
    })
    .unwrap_or_else(|| panic!("a new token past the max TTL: {}", agent.log()));
    assert!(
        agent
            .log()
            .contains("logged in with the secret_id that worked before"),
        "{}",
        agent.log()
    );
}

/// A template writing into `{dir}/{subdir}`, after [`BASE`].
fn config_writing_into(case: &Case, subdir: &str) -> std::path::PathBuf {
    case.config(
        "config.hcl",
        &format!(
            "{BASE}template {{\n  contents = \"{{{{kv \\\"secret/app/config\\\" \\\"password\\\"}}}}\"\n  destination = \"{{dir}}/{subdir}/out.txt\"\n}}\n"
        ),
    )
}

/// Runs `vaultward agent -config=CONFIG` as nobody (65534), with the case's directory, its
/// credential files and the config readable to it (root ignores file modes).
fn agent_as_nobody(
    case: &Case,
    config: &std::path::Path,
    wrapper: &[&str],
) -> std::process::Output {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(case.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for file in ["roleid", "secretid"] {
        std::fs::set_permissions(case.path(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut command = std::process::Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(wrapper)
        .args([env!("CARGO_BIN_EXE_vaultward"), "agent"])
        .arg(format!("-config={}", config.display()))
        .env("BAO_ADDR", &case.server.addr);
    run_with_limit(&mut command, Duration::from_secs(30)).0
}

/// Asserts that the agent failed at start-up with `expected`, before any login.
fn assert_refused_before_login(case: &Case, output: &std::process::Output, expected: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", text(output));
    assert!(text(output).contains(expected), "{}", text(output));
    assert!(
        !text(output).contains("Authenticated"),
        "no login: {}",
        text(output)
    );
    assert!(
        case.path("secretid").exists(),
        "the secret_id file is still there"
    );
    assert!(!case.path("token").exists());
}

#[test]
fn a_destination_directory_on_a_full_disk_is_refused_before_the_login() {
    let case = Case::new();
    let disk = SmallDisk::mount(case.path("full"), "64k");
    let _ = std::fs::write(case.path("full/filler"), vec![0u8; 64 * 1024]);
    let config = config_writing_into(&case, "full");
    let (output, elapsed) = case.agent(&config, &[]);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "the directory `{}` is not writable: No space left on device (os error 28)",
            case.path("full").display()
        ),
    );
    drop(disk);
}

#[test]
fn a_destination_directory_on_a_read_only_mount_is_refused_before_the_login() {
    let case = Case::new();
    let disk = SmallDisk::mount(case.path("ro"), "64k");
    let status = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(case.path("ro"))
        .status()
        .unwrap();
    assert!(status.success(), "remounting read-only needs root");
    let config = config_writing_into(&case, "ro");
    let (output, _) = case.agent(&config, &[]);
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "the directory `{}` is not writable: Read-only file system (os error 30)",
            case.path("ro").display()
        ),
    );
    drop(disk);
}

/// Root ignores file modes, so the agent runs as nobody (65534) against a directory it may
/// read but not write.
#[test]
fn a_destination_directory_without_write_permission_is_refused_before_the_login() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::new();
    std::fs::create_dir(case.path("locked")).unwrap();
    std::fs::set_permissions(case.path("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = config_writing_into(&case, "locked");
    let output = agent_as_nobody(&case, &config, &[]);
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "the directory `{}` is not writable: Permission denied (os error 13)",
            case.path("locked").display()
        ),
    );
}

/// A destination below a directory nobody may search.
#[test]
fn a_destination_directory_that_cannot_be_reached_is_named_as_such() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::new();
    std::fs::create_dir_all(case.path("closed/inner")).unwrap();
    std::fs::set_permissions(case.path("closed"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = config_writing_into(&case, "closed/inner");
    let output = agent_as_nobody(&case, &config, &[]);
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "cannot reach the directory `{}`: Permission denied (os error 13) (is every directory above it searchable?)",
            case.path("closed/inner").display()
        ),
    );
}

/// A path that goes through a file or a dangling symbolic link names that part, for sinks and
/// destinations alike, whether the part is the directory itself or one above it.
#[test]
fn a_file_or_a_dangling_link_in_the_way_is_named() {
    let case = Case::new();
    std::fs::write(case.path("a-file"), "").unwrap();
    std::os::unix::fs::symlink(case.path("nowhere"), case.path("dangling")).unwrap();
    let base = BASE.replace("{dir}/token", "{dir}/a-file/sub/token");
    let config = case.config(
        "config.hcl",
        &format!(
            "{base}template {{\n  contents = \"x\"\n  destination = \"{{dir}}/dangling/sub/out.txt\"\n}}\n"
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    let file = case.path("a-file");
    let link = case.path("dangling");
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "cannot write `{}`: check that its directory is writable: `{}` is a file, not a directory",
            case.path("a-file/sub/token").display(),
            file.display()
        ),
    );
    assert!(
        text(&output).contains(&format!(
            "cannot create the directory `{}`: `{}` is a symbolic link to `{}`, which does not exist; fix the destination's path or what is in its way",
            case.path("dangling/sub").display(),
            link.display(),
            case.path("nowhere").display()
        )),
        "{}",
        text(&output)
    );
}

/// Every unwritable place is reported at once, and a broken template is a config error
/// (exit 78) whatever else is wrong.
#[test]
fn unwritable_sinks_and_destinations_are_reported_together_after_config_errors() {
    let case = Case::new();
    std::fs::write(case.path("a-file"), "").unwrap();
    let base = BASE.replace("{dir}/token", "{dir}/missing/token");
    let config = case.config(
        "config.hcl",
        &format!(
            "{base}template {{\n  contents = \"x\"\n  destination = \"{{dir}}/a-file/out.txt\"\n}}\n"
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "cannot write `{}`: check that its directory is writable: the directory does not exist",
            case.path("missing/token").display()
        ),
    );
    assert!(
        text(&output).contains(&format!(
            "cannot reach the directory `{file}`: `{file}` is a file, not a directory; fix the destination's path or what is in its way",
            file = case.path("a-file").display()
        )),
        "{}",
        text(&output)
    );
    let broken = case.config(
        "broken.hcl",
        &format!("{base}template {{\n  contents = \"{{{{ if }}}}\"\n  destination = \"{{dir}}/out.txt\"\n}}\n"),
    );
    let (output, _) = case.agent(&broken, &[]);
    assert_eq!(output.status.code(), Some(78), "{}", text(&output));
}

#[test]
fn a_sink_directory_on_a_full_disk_is_refused_before_the_login() {
    let case = Case::new();
    let disk = SmallDisk::mount(case.path("full"), "64k");
    let _ = std::fs::write(case.path("full/filler"), vec![0u8; 64 * 1024]);
    let config = case.config(
        "config.hcl",
        &BASE.replace("{dir}/token", "{dir}/full/token"),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains(&format!(
            "cannot write `{}`: check that its directory is writable: No space left on device (os error 28)",
            case.path("full/token").display()
        )),
        "{}",
        text(&output)
    );
    assert!(
        !text(&output).contains("Authenticated"),
        "{}",
        text(&output)
    );
    assert!(case.path("secretid").exists());
    drop(disk);
}

#[test]
fn a_destination_directory_without_a_free_inode_is_refused_before_the_login() {
    let case = Case::new();
    let disk = SmallDisk::mount(case.path("full"), "64k,nr_inodes=2");
    std::fs::write(case.path("full/last-inode"), "").unwrap();
    let config = config_writing_into(&case, "full");
    let (output, _) = case.agent(&config, &[]);
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "the directory `{}` is not writable: No space left on device (os error 28)",
            case.path("full").display()
        ),
    );
    drop(disk);
}

/// A loop-mounted ext4 filesystem of 16 MiB with 20 % of its blocks reserved for root,
/// unmounted when dropped.
struct ReservedDisk(std::path::PathBuf);

impl ReservedDisk {
    fn mount(case: &Case, name: &str) -> ReservedDisk {
        let image = case.path(&format!("{name}.img"));
        let mount_point = case.path(name);
        std::fs::create_dir_all(&mount_point).unwrap();
        let run = |program: &str, args: &[&std::ffi::OsStr]| {
            let status = std::process::Command::new(program)
                .args(args)
                .status()
                .unwrap_or_else(|error| panic!("{program}: {error}"));
            assert!(status.success(), "{program} {args:?} failed");
        };
        run(
            "truncate",
            &["-s".as_ref(), "16M".as_ref(), image.as_os_str()],
        );
        run(
            "mkfs.ext4",
            &[
                "-q".as_ref(),
                "-F".as_ref(),
                "-m".as_ref(),
                "20".as_ref(),
                image.as_os_str(),
            ],
        );
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                image.as_os_str(),
                mount_point.as_os_str(),
            ],
        );
        ReservedDisk(mount_point)
    }
}

impl Drop for ReservedDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Root inside a user namespace (rootless containers, Kubernetes user namespaces) may not use
/// the blocks ext4 reserves for root: a disk with only those left is full for it, and must be
/// refused before the login, as for any other user.
#[test]
fn a_disk_with_only_root_reserved_blocks_left_is_full_for_root_in_a_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::new();
    let world = std::fs::Permissions::from_mode(0o777);
    // Reachable for nobody, who fills the disk.
    std::fs::set_permissions(case.dir.path(), world.clone()).unwrap();
    let disk = ReservedDisk::mount(&case, "reserved");
    std::fs::set_permissions(case.path("reserved"), world).unwrap();
    // Fill it as nobody until no block is available to it: what is left is the reserved
    // blocks. (ext4 reserves room for metadata while data waits for writeback and gives back
    // what it did not need once written, so the filling is repeated after each sync.)
    let available = || {
        let output = std::process::Command::new("stat")
            .args(["-f", "-c", "%a"])
            .arg(case.path("reserved"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    for round in 0.. {
        assert!(
            round < 20,
            "the disk does not fill up: {} blocks",
            available()
        );
        let _ = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "dd"])
            .arg("if=/dev/zero")
            .arg(format!(
                "of={}",
                case.path(&format!("reserved/filler{round}")).display()
            ))
            .arg("bs=4k")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let _ = std::process::Command::new("sync").status();
        if available() == "0" {
            break;
        }
    }
    let config = config_writing_into(&case, "reserved");
    let output = agent_as_nobody(&case, &config, &["unshare", "--user", "--map-root-user"]);
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "the directory `{}` is not writable: No space left on device (os error 28)",
            case.path("reserved").display()
        ),
    );
    drop(disk);
}

/// Removes the append-only attribute when dropped, so the case's directory can be removed.
struct AppendOnly(std::path::PathBuf);

impl AppendOnly {
    fn set(path: std::path::PathBuf) -> AppendOnly {
        let status = std::process::Command::new("chattr")
            .arg("+a")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "chattr +a needs root and ext4");
        AppendOnly(path)
    }
}

impl Drop for AppendOnly {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-a")
            .arg(&self.0)
            .status();
    }
}

/// Files can be created in an append-only directory but never renamed over or removed: every
/// write would leave its temporary file, holding the secret, behind.
#[test]
fn an_append_only_destination_directory_is_refused_before_the_login() {
    let case = Case::new();
    std::fs::create_dir(case.path("append-only")).unwrap();
    let _attribute = AppendOnly::set(case.path("append-only"));
    let config = config_writing_into(&case, "append-only");
    let (output, _) = case.agent(&config, &[]);
    assert_refused_before_login(
        &case,
        &output,
        &format!(
            "the directory `{}` is not writable: it is append-only (chattr +a): files in it cannot be replaced or removed",
            case.path("append-only").display()
        ),
    );
    assert_eq!(
        std::fs::read_dir(case.path("append-only")).unwrap().count(),
        0,
        "nothing was created in it"
    );
}

/// A directory made append-only while the agent runs: the new file cannot be renamed in place
/// and its temporary file cannot be removed, so it is emptied instead of keeping the secret.
#[test]
fn a_temporary_file_that_cannot_be_renamed_or_removed_is_emptied() {
    let case = Case::new();
    std::fs::create_dir(case.path("later")).unwrap();
    let config = case.config(
        "config.hcl",
        &(BASE.replace("exit_after_auth = true\n", "")
            + "template_config { static_secret_render_interval = \"1s\" }\n\
               template {\n  contents = \"{{kv \\\"secret/app/config\\\" \\\"password\\\"}}\"\n  destination = \"{dir}/later/out.txt\"\n}\n"),
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    wait_until(Duration::from_secs(20), || {
        case.path("later/out.txt").exists()
    })
    .expect("first render");
    let attribute = AppendOnly::set(case.path("later"));
    case.server
        .kv_put("app/config", &["password=rotated-secret-value"]);
    wait_until(Duration::from_secs(15), || {
        agent
            .log()
            .contains("rename the temporary file over the destination: Operation not permitted")
    })
    .unwrap_or_else(|| panic!("the failed rename is reported: {}", agent.log()));
    drop(agent);
    let leftovers: Vec<(String, u64)> = std::fs::read_dir(case.path("later"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.metadata().unwrap().len(),
            )
        })
        .collect();
    assert!(!leftovers.is_empty(), "the removal failed, as expected");
    assert!(
        leftovers.iter().all(|(_, length)| *length == 0),
        "the temporary files left behind hold nothing: {leftovers:?}"
    );
    assert_eq!(
        case.read("later/out.txt"),
        "hunter2",
        "the old file is intact"
    );
    drop(attribute);
}

#[test]
fn exit_after_auth_stopped_while_a_sink_token_is_being_wrapped_exits_at_once() {
    let case = Case::new();
    let hold = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let upstream = case.server.addr.trim_start_matches("http://").to_owned();
    let port = holding_proxy(upstream, hold, b"sys/wrapping/wrap");
    let config = case.config(
        "config.hcl",
        &BASE.replace(
            "sink \"file\" { config { path = \"{dir}/token\" } }",
            "sink \"file\" {\n    wrap_ttl = \"5m\"\n    config { path = \"{dir}/token\" }\n  }",
        ),
    );
    let mut agent = case.spawn_agent(
        &config,
        &[],
        &[("BAO_ADDR", &format!("http://127.0.0.1:{port}"))],
    );
    wait_until(Duration::from_secs(10), || {
        agent.log().contains("Authenticated")
    })
    .unwrap_or_else(|| panic!("the login: {}", agent.log()));
    // The wrapping request now waits for an answer that never comes (the client gives up after
    // 60 s); a stop signal ends the job at once.
    std::thread::sleep(Duration::from_millis(300));
    agent.signal("TERM");
    assert_eq!(
        agent.wait(Duration::from_secs(10)),
        Some(1),
        "{}",
        agent.log()
    );
    assert!(
        agent.log().contains(
            "error: stopped by SIGTERM while the token was wrapped for a sink; the job is not complete"
        ),
        "{}",
        agent.log()
    );
    assert!(!case.path("token").exists());
}
