//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vaultward_test_support::DevServer;

/// The binary under test.
pub fn vaultward() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vaultward"));
    for variable in [
        "VAULT_ADDR",
        "BAO_ADDR",
        "VAULT_TOKEN",
        "BAO_TOKEN",
        "VAULT_LOG_LEVEL",
        "BAO_LOG_LEVEL",
    ] {
        command.env_remove(variable);
    }
    command.stdin(Stdio::null());
    command
}

/// Runs a command, killing it after `limit`; returns its output and how long it ran. The
/// output is checked for secrets and tokens: none may ever be printed.
///
/// Its stdout and stderr are read while it runs: a pipe holds 64 KiB, and a program that
/// writes more (`bao agent -log-level=debug` with many templates) would otherwise block on a
/// full pipe until the limit and look hung.
pub fn run_with_limit(command: &mut Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    vaultward_test_support::assert_no_secrets(&text(&output), &format!("{command:?}"));
    (output, started.elapsed())
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Text of an output's stdout and stderr together.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A test's world: a dev server with an AppRole `app` and a KV v2 secret, plus a directory
/// holding the role_id and secret_id files.
pub struct Case {
    pub server: DevServer,
    pub dir: tempfile::TempDir,
    pub secret_id: String,
}

impl Case {
    pub fn new() -> Case {
        Self::with_server(DevServer::start())
    }

    pub fn with_server(server: DevServer) -> Case {
        let (role_id, secret_id) = server.approle("app", &[]);
        server.kv_put("app/config", &["password=hunter2", "user=app"]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("roleid"), format!("{role_id}\n")).unwrap();
        std::fs::write(dir.path().join("secretid"), format!("{secret_id}\n")).unwrap();
        Case {
            server,
            dir,
            secret_id,
        }
    }

    /// A path inside the case's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a config file, replacing `{dir}` with the case's directory.
    pub fn config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(
            &path,
            text.replace("{dir}", &self.dir.path().display().to_string()),
        )
        .unwrap();
        path
    }

    /// `vaultward agent -config=PATH` with `BAO_ADDR` pointing at the server, logging at trace
    /// level unless `extra` sets `-log-level` (the output is checked for secrets).
    pub fn agent(&self, config: &Path, extra: &[&str]) -> (Output, Duration) {
        let mut command = vaultward();
        command
            .arg("agent")
            .arg(format!("-config={}", config.display()))
            .args(extra)
            .env("BAO_ADDR", &self.server.addr)
            .env("BAO_LOG_LEVEL", "trace");
        run_with_limit(&mut command, Duration::from_secs(60))
    }

    /// Reads a file of the case's directory.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    /// Asserts that `token` is a live token of the server.
    pub fn assert_token_valid(&self, token: &str) {
        let output = Command::new(vaultward_test_support::bao_bin())
            .args(["token", "lookup", "-format=json"])
            .env("BAO_ADDR", &self.server.addr)
            .env("BAO_TOKEN", token)
            .env("HOME", self.server.dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "token lookup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

/// A running agent process whose output goes to a file, for long-running tests.
pub struct Running {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Case {
    /// Starts `vaultward agent -config=PATH` in the background, logging at trace level unless
    /// `extra` or `env` set the level; its log is checked for secrets when it is dropped.
    pub fn spawn_agent(&self, config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Running {
        let log = self.path("agent.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut command = vaultward();
        command
            .arg("agent")
            .arg(format!("-config={}", config.display()))
            .args(extra)
            .env("BAO_ADDR", &self.server.addr)
            .env("BAO_LOG_LEVEL", "trace")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (name, value) in env {
            command.env(name, value);
        }
        Running {
            child: command.spawn().unwrap(),
            log,
        }
    }
}

impl Running {
    /// Sends a signal by name (`TERM`, `HUP`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The agent's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit (up to `limit`); returns its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            vaultward_test_support::assert_no_secrets(&self.log(), "a long-running agent");
        }
    }
}

/// Polls `check` every 50 ms until it is true or `limit` passes; returns how long it took.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
