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
            "error: stopped by SIGTERM before the first login completed; nothing is complete"
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
