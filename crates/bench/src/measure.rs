//! Measuring one child process: wall time, CPU time, peak RSS and context switches.
//!
//! The benchmark's own process has many children (the dev server, `bao` CLI calls), so
//! `getrusage(RUSAGE_CHILDREN)` there would mix them up. Each measured process is therefore
//! started through a small helper, this binary run as `__measure`: the helper's only child is
//! the measured process, so after `wait` its `RUSAGE_CHILDREN` is exactly that process's
//! resource usage (user and system CPU in microseconds, `ru_maxrss` in KiB, context
//! switches), as `/usr/bin/time -v` would report it but with microsecond CPU times. Wall time is
//! taken by the helper from just before `spawn` to just after `wait`.
//!
//! Protocol on the helper's stdout: `pid <pid>` once the child runs, then `result <json>`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

/// The first argument that makes this binary the measuring helper.
pub const HELPER_ARG: &str = "__measure";

/// Processes that must not outlive the benchmark: the dev server and every measured process
/// still running. The release profile aborts on a panic, so no `Drop` runs then; the panic hook
/// ([`stop_everything`]) kills these instead of leaving a dev server or a sidecar behind.
static LEFT_RUNNING: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Registers `pid` to be killed if the benchmark panics.
pub fn kill_on_panic(pid: i32) {
    if let Ok(mut pids) = LEFT_RUNNING.lock() {
        pids.push(pid);
    }
}

fn finished(pid: i32) {
    if let Ok(mut pids) = LEFT_RUNNING.lock() {
        pids.retain(|running| *running != pid);
    }
}

/// Directories to remove if the benchmark panics (its work directory, the dev server's).
static LEFT_BEHIND: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Registers `directory` to be removed if the benchmark panics.
pub fn remove_on_panic(directory: &Path) {
    if let Ok(mut directories) = LEFT_BEHIND.lock() {
        directories.push(directory.to_path_buf());
    }
}

/// Kills every process registered with [`kill_on_panic`] and removes every directory
/// registered with [`remove_on_panic`] (called from the panic hook).
pub fn stop_everything() {
    // `try_lock`: a panic while a list is locked must not deadlock the hook.
    if let Ok(pids) = LEFT_RUNNING.try_lock() {
        for pid in pids.iter() {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
    if let Ok(directories) = LEFT_BEHIND.try_lock() {
        for directory in directories.iter() {
            let _ = std::fs::remove_dir_all(directory);
        }
    }
}

/// What one run of a child cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// From spawn to exit.
    pub wall: Duration,
    /// User CPU time.
    pub user: Duration,
    /// System CPU time.
    pub sys: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// Voluntary context switches (the process waited: I/O, timers, locks).
    pub voluntary: u64,
    /// Involuntary context switches (preempted).
    pub involuntary: u64,
    /// Exit code, if it exited normally.
    pub code: Option<i32>,
    /// True when the helper killed it at the time limit.
    pub timed_out: bool,
}

impl Usage {
    /// User plus system CPU time.
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

static TIMED_OUT: AtomicBool = AtomicBool::new(false);

/// The helper: `__measure <log file> <limit ms, 0 = none> <program> [args…]`.
pub fn helper_main(args: &[OsString]) -> std::process::ExitCode {
    let [log, limit_ms, program, rest @ ..] = args else {
        eprintln!("usage: {HELPER_ARG} LOG LIMIT_MS PROGRAM [ARGS…]");
        return std::process::ExitCode::from(64);
    };
    let limit_ms: u64 = limit_ms.to_string_lossy().parse().unwrap_or(0);
    let log = std::fs::File::create(log).expect("create the log file");
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn the measured program");
    let pid = child.id();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "pid {pid}");
        let _ = out.flush();
    }
    if limit_ms > 0 {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(limit_ms));
            TIMED_OUT.store(true, Ordering::SeqCst);
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        });
    }
    let status = child.wait().expect("wait for the measured program");
    let wall = started.elapsed();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let micros = |tv: nix::sys::time::TimeVal| tv.tv_sec() as u64 * 1_000_000 + tv.tv_usec() as u64;
    let result = json!({
        "wall_ns": wall.as_nanos() as u64,
        "user_us": micros(usage.user_time()),
        "sys_us": micros(usage.system_time()),
        "max_rss_kib": usage.max_rss(),
        "voluntary": usage.voluntary_context_switches(),
        "involuntary": usage.involuntary_context_switches(),
        "code": status.code(),
        "timed_out": TIMED_OUT.load(Ordering::SeqCst),
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "result {result}");
    let _ = out.flush();
    std::process::ExitCode::SUCCESS
}

/// A measured process, running under the helper.
pub struct Running {
    helper: Child,
    lines: BufReader<ChildStdout>,
    /// The measured process's pid (not the helper's).
    pub pid: i32,
}

/// Starts `command` (program and arguments) under the helper, with the given environment
/// only, its output going to `log`, killed after `limit` (if any).
pub fn start(
    command: &[OsString],
    env: &[(String, OsString)],
    log: &Path,
    limit: Option<Duration>,
) -> Running {
    // `/proc/self/exe` rather than the path: the benchmark's binary may have been rebuilt (and
    // its path given to a new file) while it runs.
    let helper_binary = Path::new("/proc/self/exe");
    let limit_ms = limit.map_or(0, |limit| limit.as_millis() as u64);
    let mut helper = Command::new(helper_binary);
    helper
        .arg(HELPER_ARG)
        .arg(log)
        .arg(limit_ms.to_string())
        .args(command)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        helper.env(name, value);
    }
    let mut helper = helper.spawn().expect("spawn the measuring helper");
    let mut lines = BufReader::new(helper.stdout.take().expect("helper stdout"));
    let mut line = String::new();
    lines
        .read_line(&mut line)
        .expect("read the helper's pid line");
    let pid = line
        .trim()
        .strip_prefix("pid ")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("the measuring helper said `{line}` instead of a pid"));
    kill_on_panic(pid);
    Running { helper, lines, pid }
}

impl Running {
    /// Sends SIGTERM to the measured process.
    pub fn terminate(&self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
    }

    /// Waits for the measured process to end; returns what it cost.
    pub fn finish(mut self) -> Usage {
        let mut line = String::new();
        self.lines
            .read_line(&mut line)
            .expect("read the helper's result");
        let _ = self.helper.wait();
        finished(self.pid);
        let json: serde_json::Value = line
            .trim()
            .strip_prefix("result ")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| panic!("the measuring helper said `{line}` instead of a result"));
        let number = |key: &str| json[key].as_u64().unwrap_or(0);
        Usage {
            wall: Duration::from_nanos(number("wall_ns")),
            user: Duration::from_micros(number("user_us")),
            sys: Duration::from_micros(number("sys_us")),
            max_rss_kib: number("max_rss_kib"),
            voluntary: number("voluntary"),
            involuntary: number("involuntary"),
            code: json["code"].as_i64().map(|code| code as i32),
            timed_out: json["timed_out"].as_bool().unwrap_or(false),
        }
    }
}

/// Runs `command` to completion under the helper.
pub fn run(command: &[OsString], env: &[(String, OsString)], log: &Path, limit: Duration) -> Usage {
    start(command, env, log, Some(limit)).finish()
}
