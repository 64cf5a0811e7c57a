//! The soak: the long-running agent for minutes, with token TTLs of seconds and secrets that
//! rotate every few seconds, checking that it stays healthy.
//!
//! Set-up: its own audited dev server on 127.0.0.1; an AppRole role `soak` with
//! `token_ttl=4s token_max_ttl=12s` (so the agent renews the token every 2.5–2.8 s and logs in
//! again about every 11 s); vaultward with 10 templates over 5 KV v2 secrets
//! (`{{kv "secret/soak/s1" "value"}}`), `static_secret_render_interval = "2s"`, one file sink,
//! `-log-level=debug`, and AppRole's default `remove_secret_id_file_after_reading` (the file
//! is gone after the first login, so every later login uses the secret_id kept in memory).
//!
//! The driver is one thread, talking to the server over two keep-alive loopback connections:
//!
//! - every 3 s it writes a new value to the next secret (round robin) and polls, every 5 ms,
//!   the two destination files that use it until both hold it: that is the landing latency. A
//!   rotation not yet in its files when the same secret is written again (15 s later), or at
//!   the end after a grace period of 10 s without writes, is lost;
//! - every 500 ms it reads the sink and checks its token with `GET auth/token/lookup-self`
//!   (a failure is a refused token, an empty or unreadable sink), and checks that every
//!   destination file holds a value that was written, never older than one seen there before;
//! - every 10 s it samples the agent's `VmRSS`, threads and open file descriptors from `/proc`.
//!
//! At the end the agent gets SIGTERM. The report gives each check with its figures; logins and
//! renewals are counted both at the server (audit device) and in the agent's debug log; the
//! warnings and errors of the agent's log are quoted, and so are its log lines around each
//! failure.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use vaultward_bench::http::Connection;
use vaultward_bench::workload::{MOUNT, destination, kv_path};
use vaultward_test_support::{DevServer, ROOT_TOKEN};

use crate::audit::AuditTail;
use crate::measure::{self, Usage};
use crate::procfs;
use crate::report::Summary;

/// The KV prefix of the soak's secrets (`secret/soak/s1` … `secret/soak/s5`).
const PREFIX: &str = "soak";
/// How many secrets rotate.
const SECRETS: usize = 5;
/// How many templates read them (template `i` reads secret `1 + i % SECRETS`).
const TEMPLATES: usize = 10;
/// The AppRole token TTL.
const TOKEN_TTL: &str = "4s";
/// The AppRole token max TTL.
const TOKEN_MAX_TTL: &str = "12s";
/// `template_config.static_secret_render_interval`.
const RENDER_INTERVAL: Duration = Duration::from_secs(2);
/// How often a secret is rotated (the next one, round robin).
const ROTATE_EVERY: Duration = Duration::from_secs(3);
/// How often the sink's token and every destination file are checked.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// How often `/proc` is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// How often the files of a rotation not yet landed are read.
const POLL_EVERY: Duration = Duration::from_millis(5);
/// How long the last rotations may take to land after the last write.
const GRACE: Duration = Duration::from_secs(10);
/// Samples before this are left out of the "after warm-up" trend.
const WARM_UP: Duration = Duration::from_secs(60);
/// A landing slower than this is counted as late (twice the render interval).
const LATE: Duration = Duration::from_secs(4);
/// RSS counts as growing when the trend after warm-up exceeds this (KiB per minute)…
const RSS_TREND_LIMIT_KIB_PER_MIN: f64 = 64.0;
/// …or the last sample exceeds the highest sample of the first minute by this much (KiB).
const RSS_GROWTH_LIMIT_KIB: u64 = 1024;
/// Open descriptors count as leaking when the last sample exceeds the first by more than this
/// (the HTTP connection pool may hold a connection more or less).
const FD_SLACK: usize = 2;

/// What the soak needs from the command line.
pub struct Options {
    /// How long rotations go on.
    pub duration: Duration,
    /// The vaultward binary.
    pub vaultward: PathBuf,
    /// Extra environment for vaultward.
    pub vaultward_env: Vec<(String, OsString)>,
}

/// The soak's report (Markdown) and whether every check passed.
pub struct Outcome {
    /// The report.
    pub report: String,
    /// True when every check passed.
    pub passed: bool,
}

/// One `/proc` sample of the agent.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: usize,
    threads: u64,
    cpu: Duration,
}

/// One secret rotation and what became of it.
struct Rotation {
    secret: usize,
    seq: u64,
    written: Instant,
    written_wall: SystemTime,
    first_file: Option<Duration>,
    landed: Option<Duration>,
    lost: Option<&'static str>,
}

impl Rotation {
    fn pending(&self) -> bool {
        self.landed.is_none() && self.lost.is_none()
    }
}

/// Something that went wrong, with when.
struct Event {
    at: SystemTime,
    what: String,
}

/// The token checks' tally.
#[derive(Default)]
struct TokenChecks {
    done: u64,
    failed: u64,
    min_ttl: Option<u64>,
    accessors: BTreeSet<String>,
}

/// Requests counted from the audit device.
#[derive(Default)]
struct AuditCounts {
    logins: usize,
    renewals: usize,
    secret_reads: usize,
    secret_writes: usize,
    mount_lookups: usize,
    lookups: usize,
    other: BTreeMap<String, usize>,
    errors: BTreeMap<String, usize>,
}

impl AuditCounts {
    fn add(&mut self, entries: &[serde_json::Value]) {
        for entry in entries {
            let operation = entry["request"]["operation"].as_str().unwrap_or_default();
            let path = entry["request"]["path"].as_str().unwrap_or_default();
            if entry["type"] == "response" {
                if let Some(error) = entry["error"].as_str().filter(|e| !e.is_empty()) {
                    *self
                        .errors
                        .entry(format!("{operation} {path}: {error}"))
                        .or_default() += 1;
                }
                continue;
            }
            if entry["type"] != "request" {
                continue;
            }
            match (operation, path) {
                ("update", "auth/approle/login") => self.logins += 1,
                ("update", "auth/token/renew-self") => self.renewals += 1,
                ("read", "auth/token/lookup-self") => self.lookups += 1,
                ("read", path) if path.starts_with("secret/data/") => self.secret_reads += 1,
                ("create" | "update", path) if path.starts_with("secret/data/") => {
                    self.secret_writes += 1;
                }
                (_, path) if path.starts_with("sys/internal/ui/mounts/") => {
                    self.mount_lookups += 1;
                }
                (operation, path) => {
                    *self.other.entry(format!("{operation} {path}")).or_default() += 1
                }
            }
        }
    }
}

/// What the agent's own log says.
#[derive(Default)]
struct LogCounts {
    lines: usize,
    logins: usize,
    renewals: usize,
    max_ttl_relogins: usize,
    requested_relogins: usize,
    renders: usize,
    reads: usize,
    warnings: Vec<String>,
    errors: usize,
}

impl LogCounts {
    fn of(text: &str) -> Self {
        let mut counts = LogCounts::default();
        for line in text.lines() {
            counts.lines += 1;
            let level = line.split_whitespace().nth(1).unwrap_or_default();
            if line.contains("Authenticated with AppRole") {
                counts.logins += 1;
            }
            if line.contains("Renewed the token.") {
                counts.renewals += 1;
            }
            if line.contains("The token is near its end") {
                counts.max_ttl_relogins += 1;
            }
            if line.contains("Logging in again.") {
                counts.requested_relogins += 1;
            }
            if line.contains("Rendered the template.") {
                counts.renders += 1;
            }
            if line.contains("Read a secret.") {
                counts.reads += 1;
            }
            if level == "ERROR" {
                counts.errors += 1;
            }
            if level == "WARN" || level == "ERROR" {
                counts.warnings.push(line.to_owned());
            }
        }
        counts
    }
}

fn random_hex() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// `2026-05-10T18:35:34.123Z`: the same form (to the millisecond) as the agent's log lines,
/// so the two sort together.
fn utc(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// Year, month, day of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The secret template `index` reads (1-based).
fn secret_of(index: usize) -> usize {
    1 + index % SECRETS
}

/// The templates that read `secret`.
fn templates_of(secret: usize) -> impl Iterator<Item = usize> {
    (0..TEMPLATES).filter(move |index| secret_of(*index) == secret)
}

/// The value rotation `seq` writes to `secret` (`seq` 0: the first value).
fn value(secret: usize, seq: u64, nonce: &str) -> String {
    format!("s{secret}-v{seq}-{nonce}")
}

/// What template `index` renders when its secret holds `value`.
fn rendered(index: usize, value: &str) -> String {
    format!("template={index}\nvalue={value}\n")
}

/// The vaultward template of `index`.
fn template_text(index: usize) -> String {
    format!(
        "template={index}\nvalue={{{{kv \"{MOUNT}/{}\" \"value\"}}}}\n",
        kv_path(PREFIX, secret_of(index))
    )
}

/// What a destination file holds: `Ok((secret, seq))`, or what is wrong with it.
fn parse_file(index: usize, text: &str, nonce: &str) -> Result<(usize, u64), String> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("value="))
        .ok_or_else(|| format!("no value line in {text:?}"))?;
    let parsed = value.split('-').collect::<Vec<_>>();
    let found = match parsed[..] {
        [secret, seq, file_nonce] if file_nonce == nonce => secret
            .strip_prefix('s')
            .and_then(|s| s.parse::<usize>().ok())
            .zip(seq.strip_prefix('v').and_then(|s| s.parse::<u64>().ok())),
        _ => None,
    };
    match found {
        Some((secret, seq)) if secret == secret_of(index) && text == rendered(index, value) => {
            Ok((secret, seq))
        }
        _ => Err(format!("unexpected content {text:?}")),
    }
}

/// A string literal HCL reads back as `text`.
fn hcl_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn agent_config(
    host_port: &str,
    role_id: &Path,
    secret_id: &Path,
    sink: &Path,
    out: &Path,
) -> String {
    let path = |p: &Path| hcl_string(&p.display().to_string());
    let mut config = String::new();
    let _ = writeln!(
        config,
        "vault {{\n  address = {}\n}}\n",
        hcl_string(&format!("http://{host_port}"))
    );
    let _ = writeln!(
        config,
        "auto_auth {{\n  method \"approle\" {{\n    config = {{\n      role_id_file_path = {}\n      secret_id_file_path = {}\n    }}\n  }}\n  sink \"file\" {{\n    config = {{\n      path = {}\n    }}\n  }}\n}}\n",
        path(role_id),
        path(secret_id),
        path(sink)
    );
    let _ = writeln!(
        config,
        "template_config {{\n  static_secret_render_interval = {}\n}}\n",
        hcl_string(&format!("{}s", RENDER_INTERVAL.as_secs()))
    );
    for index in 0..TEMPLATES {
        let _ = writeln!(
            config,
            "template {{\n  destination = {}\n  contents = {}\n}}\n",
            path(&destination(out, index)),
            hcl_string(&template_text(index))
        );
    }
    config
}

/// Writes `value` to secret `j`; the error text if the server did not take it.
fn put_secret(admin: &mut Connection, secret: usize, value: &str) -> Result<(), String> {
    let body = serde_json::json!({ "data": { "value": value } });
    let path = format!("/v1/{MOUNT}/data/{}", kv_path(PREFIX, secret));
    match admin.request(
        "POST",
        &path,
        Some(ROOT_TOKEN),
        Some(body.to_string().as_bytes()),
    ) {
        Ok(response) if response.status == 200 => Ok(()),
        Ok(response) => Err(format!(
            "writing {path}: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        )),
        Err(error) => Err(format!("writing {path}: {error}")),
    }
}

/// How many descriptors the process has open, by kind (`socket`, `pipe`, `anon_inode:[eventpoll]`,
/// `/dev/null`, `file`).
fn fd_kinds(pid: i32) -> Option<BTreeMap<String, usize>> {
    let mut kinds = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let target = std::fs::read_link(entry.path())
            .map(|target| target.display().to_string())
            .unwrap_or_else(|_| "?".to_owned());
        let kind = if target.starts_with("socket:") {
            "socket".to_owned()
        } else if target.starts_with("pipe:") {
            "pipe".to_owned()
        } else if target.starts_with("anon_inode:") || target.starts_with("/dev/") {
            target
        } else {
            "file".to_owned()
        };
        *kinds.entry(kind).or_default() += 1;
    }
    Some(kinds)
}

fn describe_kinds(kinds: &BTreeMap<String, usize>) -> String {
    kinds
        .iter()
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Least-squares slope of `(seconds, KiB)` points, in KiB per minute.
fn slope_per_minute(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx * 60.0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

/// The agent's log lines from `before` to `after` around `at` (by their timestamps).
fn log_lines_around(log: &str, at: SystemTime, before: Duration, after: Duration) -> Vec<&str> {
    let from = utc(at.checked_sub(before).unwrap_or(at));
    let to = utc(at + after);
    let key = |s: &str| s.get(..23).unwrap_or(s).to_owned();
    let (from, to) = (key(&from), key(&to));
    log.lines()
        .filter(|line| {
            let stamp = key(line);
            stamp >= from && stamp <= to
        })
        .collect()
}

/// Everything the driver loop tracks.
struct Driver {
    started: Instant,
    started_wall: SystemTime,
    pid: i32,
    nonce: String,
    out: PathBuf,
    sink: PathBuf,
    admin: Connection,
    checker: Connection,
    audit: AuditTail,
    audit_counts: AuditCounts,
    seq: u64,
    rotations: Vec<Rotation>,
    write_errors: Vec<Event>,
    samples: Vec<Sample>,
    first_fds: Option<BTreeMap<String, usize>>,
    last_fds: Option<BTreeMap<String, usize>>,
    checks: TokenChecks,
    token_failures: Vec<Event>,
    /// The newest rotation seen in each destination file.
    newest: Vec<u64>,
    file_problems: Vec<Event>,
    agent_gone: Option<Event>,
}

impl Driver {
    fn wall(&self, at: Instant) -> SystemTime {
        self.started_wall + at.saturating_duration_since(self.started)
    }

    fn event(&self, what: String) -> Event {
        Event {
            at: self.wall(Instant::now()),
            what,
        }
    }

    /// Writes the next secret; a rotation of it still pending is lost.
    fn rotate(&mut self) {
        self.seq += 1;
        let secret = 1 + (self.seq as usize - 1) % SECRETS;
        for rotation in self
            .rotations
            .iter_mut()
            .filter(|r| r.secret == secret && r.pending())
        {
            rotation.lost = Some("not in its files when the secret was written again");
        }
        let new_value = value(secret, self.seq, &self.nonce);
        match put_secret(&mut self.admin, secret, &new_value) {
            Ok(()) => {
                let written = Instant::now();
                self.rotations.push(Rotation {
                    secret,
                    seq: self.seq,
                    written,
                    written_wall: self.wall(written),
                    first_file: None,
                    landed: None,
                    lost: None,
                });
            }
            Err(error) => {
                let event = self.event(error);
                self.write_errors.push(event);
            }
        }
    }

    /// The rotation `seq` a destination file holds now, if its content is valid.
    fn file_seq(&self, index: usize) -> Option<u64> {
        let text = std::fs::read_to_string(destination(&self.out, index)).ok()?;
        parse_file(index, &text, &self.nonce)
            .ok()
            .map(|(_, seq)| seq)
    }

    /// Reads the files of every pending rotation.
    fn poll(&mut self) {
        let now = Instant::now();
        let mut updates = Vec::new();
        for (position, rotation) in self.rotations.iter().enumerate() {
            if !rotation.pending() {
                continue;
            }
            let mut holding = 0;
            let mut total = 0;
            for index in templates_of(rotation.secret) {
                total += 1;
                if self.file_seq(index).is_some_and(|seq| seq >= rotation.seq) {
                    holding += 1;
                }
            }
            if holding > 0 {
                updates.push((position, holding == total));
            }
        }
        for (position, all) in updates {
            let rotation = &mut self.rotations[position];
            let elapsed = now.saturating_duration_since(rotation.written);
            rotation.first_file.get_or_insert(elapsed);
            if all {
                rotation.landed = Some(elapsed);
            }
        }
    }

    /// Checks the sink's token at the server, and every destination file.
    fn check(&mut self) {
        self.checks.done += 1;
        let failure = match std::fs::read_to_string(&self.sink) {
            Err(error) => Some(format!("the sink could not be read: {error}")),
            Ok(token) if token.trim().is_empty() => Some("the sink is empty".to_owned()),
            Ok(token) => match self.checker.request(
                "GET",
                "/v1/auth/token/lookup-self",
                Some(token.trim()),
                None,
            ) {
                Ok(response) if response.status == 200 => {
                    let data = &response.json()["data"];
                    if let Some(ttl) = data["ttl"].as_u64() {
                        self.checks.min_ttl = Some(self.checks.min_ttl.map_or(ttl, |m| m.min(ttl)));
                    }
                    if let Some(accessor) = data["accessor"].as_str() {
                        self.checks.accessors.insert(accessor.to_owned());
                    }
                    None
                }
                Ok(response) => Some(format!(
                    "lookup-self of the sink's token answered {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body).trim()
                )),
                Err(error) => Some(format!("lookup-self could not be sent: {error}")),
            },
        };
        if let Some(what) = failure {
            self.checks.failed += 1;
            let event = self.event(what);
            self.token_failures.push(event);
        }
        for index in 0..TEMPLATES {
            let path = destination(&self.out, index);
            let problem = match std::fs::read_to_string(&path) {
                Err(error) => Some(format!("t{index:04}.txt could not be read: {error}")),
                Ok(text) => match parse_file(index, &text, &self.nonce) {
                    Err(problem) => Some(format!("t{index:04}.txt: {problem}")),
                    Ok((_, seq)) if seq < self.newest[index] => Some(format!(
                        "t{index:04}.txt went back from rotation {} to rotation {seq}",
                        self.newest[index]
                    )),
                    Ok((_, seq)) => {
                        self.newest[index] = seq;
                        None
                    }
                },
            };
            if let Some(what) = problem {
                let event = self.event(what);
                self.file_problems.push(event);
            }
        }
    }

    /// Samples `/proc`; false when the agent is gone.
    fn sample(&mut self) -> bool {
        let at = self.started.elapsed();
        let (Some(snapshot), Some(kinds)) = (procfs::snapshot(self.pid), fd_kinds(self.pid)) else {
            let event = self.event("the agent's process is gone".to_owned());
            self.agent_gone = Some(event);
            return false;
        };
        self.samples.push(Sample {
            at,
            rss_kib: snapshot.rss_kib,
            fds: kinds.values().sum(),
            threads: snapshot.threads,
            cpu: snapshot.cpu,
        });
        if self.first_fds.is_none() {
            self.first_fds = Some(kinds.clone());
        }
        self.last_fds = Some(kinds);
        self.audit_counts.add(&self.audit.take_entries());
        true
    }
}

/// Sets up the server and the agent, runs the soak for `options.duration`, and reports.
pub fn run(options: &Options, root: &Path) -> Outcome {
    eprintln!("soak: starting a bao dev server with a file audit device…");
    let server = DevServer::start_audited();
    let (role_id, secret_id) = server.approle(
        "soak",
        &[
            &format!("token_ttl={TOKEN_TTL}"),
            &format!("token_max_ttl={TOKEN_MAX_TTL}"),
        ],
    );
    let dir = root.join("soak");
    let credentials = dir.join("approle");
    let out = dir.join("out");
    let home = dir.join("home");
    for directory in [&credentials, &out, &home] {
        std::fs::create_dir_all(directory).expect("create the soak's directories");
    }
    let role_id_file = credentials.join("role-id");
    let secret_id_file = credentials.join("secret-id");
    std::fs::write(&role_id_file, format!("{role_id}\n")).expect("write role-id");
    std::fs::write(&secret_id_file, format!("{secret_id}\n")).expect("write secret-id");
    let sink = dir.join("token");
    let log = dir.join("agent.log");
    let config = dir.join("agent.hcl");
    let host_port = format!("127.0.0.1:{}", server.port);
    std::fs::write(
        &config,
        agent_config(&host_port, &role_id_file, &secret_id_file, &sink, &out),
    )
    .expect("write the agent config");

    let nonce = random_hex();
    let mut admin = Connection::open(&host_port).expect("connect to the dev server");
    for secret in 1..=SECRETS {
        put_secret(&mut admin, secret, &value(secret, 0, &nonce)).expect("write a soak secret");
    }
    let audit = AuditTail::new(server.dir.path().join("audit.log"));

    let command: Vec<OsString> = vec![
        options.vaultward.clone().into(),
        "agent".into(),
        format!("-config={}", config.display()).into(),
        "-log-level=debug".into(),
    ];
    let mut env = vec![
        (
            "PATH".to_owned(),
            OsString::from("/usr/local/bin:/usr/bin:/bin"),
        ),
        ("HOME".to_owned(), home.into_os_string()),
    ];
    env.extend(options.vaultward_env.iter().cloned());
    let load_before = procfs::load_average();
    let running = measure::start(
        &command,
        &env,
        &log,
        Some(options.duration + GRACE + Duration::from_secs(300)),
    );
    let launched = Instant::now();
    let ready = loop {
        let all = std::fs::read_to_string(&sink).is_ok_and(|t| !t.trim().is_empty())
            && (0..TEMPLATES).all(|index| {
                std::fs::read_to_string(destination(&out, index)).is_ok_and(|text| {
                    parse_file(index, &text, &nonce).is_ok_and(|(_, seq)| seq == 0)
                })
            });
        if all {
            break Some(launched.elapsed());
        }
        if launched.elapsed() > Duration::from_secs(60) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let Some(ready_after) = ready else {
        running.terminate();
        running.finish();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        panic!(
            "soak: vaultward did not write the sink and every file within 60 s\nits log ends with:\n{}",
            lines[lines.len().saturating_sub(40)..].join("\n")
        );
    };

    let mut driver = Driver {
        started: Instant::now(),
        started_wall: SystemTime::now(),
        pid: running.pid,
        nonce: nonce.clone(),
        out: out.clone(),
        sink: sink.clone(),
        admin,
        checker: Connection::open(&host_port).expect("connect to the dev server"),
        audit,
        audit_counts: AuditCounts::default(),
        seq: 0,
        rotations: Vec::new(),
        write_errors: Vec::new(),
        samples: Vec::new(),
        first_fds: None,
        last_fds: None,
        checks: TokenChecks::default(),
        token_failures: Vec::new(),
        newest: vec![0; TEMPLATES],
        file_problems: Vec::new(),
        agent_gone: None,
    };
    let end = driver.started + options.duration;
    let mut next_rotation = driver.started + ROTATE_EVERY;
    let mut next_check = driver.started;
    let mut next_sample = driver.started;
    let mut last_progress = Instant::now();
    let step = |next: &mut Instant, every: Duration| {
        let now = Instant::now();
        while *next <= now {
            *next += every;
        }
    };
    loop {
        let now = Instant::now();
        let rotating = now < end;
        let pending = driver.rotations.iter().any(Rotation::pending);
        if !rotating && (!pending || now >= end + GRACE) {
            break;
        }
        if now >= next_sample {
            if !driver.sample() {
                break;
            }
            step(&mut next_sample, SAMPLE_EVERY);
        }
        if now >= next_check {
            driver.check();
            step(&mut next_check, CHECK_EVERY);
        }
        if rotating && now >= next_rotation {
            driver.rotate();
            step(&mut next_rotation, ROTATE_EVERY);
        }
        if pending {
            driver.poll();
        }
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            let landed = driver
                .rotations
                .iter()
                .filter(|r| r.landed.is_some())
                .count();
            eprint!(
                "\r  soak: {:>4.0} s of {} s, {} rotations written, {landed} landed, {} token checks ({} failed), RSS {:.1} MiB, {} fds   ",
                driver.started.elapsed().as_secs_f64(),
                options.duration.as_secs(),
                driver.rotations.len(),
                driver.checks.done,
                driver.checks.failed,
                driver.samples.last().map_or(0.0, |s| mib(s.rss_kib)),
                driver.samples.last().map_or(0, |s| s.fds),
            );
        }
        let mut wake = next_check.min(next_sample);
        if rotating {
            wake = wake.min(next_rotation).min(end);
        }
        if driver.rotations.iter().any(Rotation::pending) {
            wake = wake.min(Instant::now() + POLL_EVERY);
        }
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    eprintln!();
    for rotation in driver.rotations.iter_mut().filter(|r| r.pending()) {
        rotation.lost = Some("not in its files by the end of the grace period");
    }
    if driver.agent_gone.is_none() {
        driver.check();
        driver.sample();
    }
    let soaked = driver.started.elapsed();

    running.terminate();
    let terminated = Instant::now();
    let usage = running.finish();
    let exit_after = terminated.elapsed();
    driver.audit_counts.add(&driver.audit.take_entries());
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    write_timeline(&dir, &driver);

    let facts = Facts {
        duration: options.duration,
        soaked,
        ready_after,
        usage,
        exit_after,
        load_before,
        load_after: procfs::load_average(),
        version: version_of(&options.vaultward),
    };
    report(&driver, &facts, &log_text)
}

/// What the report needs beyond the driver.
struct Facts {
    duration: Duration,
    soaked: Duration,
    ready_after: Duration,
    usage: Usage,
    exit_after: Duration,
    load_before: String,
    load_after: String,
    version: String,
}

fn version_of(binary: &Path) -> String {
    std::process::Command::new(binary)
        .arg("version")
        .env_clear()
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// `samples.csv` and `rotations.csv` in the soak's directory (kept with `--keep`).
fn write_timeline(dir: &Path, driver: &Driver) {
    let mut samples = String::from("seconds,rss_kib,fds,threads,cpu_ms\n");
    for sample in &driver.samples {
        let _ = writeln!(
            samples,
            "{:.1},{},{},{},{}",
            sample.at.as_secs_f64(),
            sample.rss_kib,
            sample.fds,
            sample.threads,
            sample.cpu.as_millis()
        );
    }
    let mut rotations = String::from("seq,secret,written_utc,first_file_ms,landed_ms,lost\n");
    for rotation in &driver.rotations {
        let ms = |d: Option<Duration>| {
            d.map_or(String::new(), |d| {
                format!("{:.1}", d.as_secs_f64() * 1000.0)
            })
        };
        let _ = writeln!(
            rotations,
            "{},{},{},{},{},{}",
            rotation.seq,
            rotation.secret,
            utc(rotation.written_wall),
            ms(rotation.first_file),
            ms(rotation.landed),
            rotation.lost.unwrap_or_default()
        );
    }
    let _ = std::fs::write(dir.join("samples.csv"), samples);
    let _ = std::fs::write(dir.join("rotations.csv"), rotations);
}

fn report(driver: &Driver, facts: &Facts, log_text: &str) -> Outcome {
    let mut text = String::new();
    let samples = &driver.samples;
    let first = samples.first().copied();
    let last = samples.last().copied();
    let max_rss = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let max_fds = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let max_threads = samples.iter().map(|s| s.threads).max().unwrap_or(0);
    let points = |from: Duration| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter(|s| s.at >= from)
            .map(|s| (s.at.as_secs_f64(), s.rss_kib as f64))
            .collect()
    };
    let trend_all = slope_per_minute(&points(Duration::ZERO));
    // A soak shorter than a few samples after the warm-up is judged on all its samples.
    let after_warm_up = points(WARM_UP);
    let trend_after = if after_warm_up.len() >= 3 {
        slope_per_minute(&after_warm_up)
    } else {
        None
    };
    let first_minute_max = samples
        .iter()
        .filter(|s| s.at < WARM_UP)
        .map(|s| s.rss_kib)
        .max()
        .unwrap_or(0)
        .max(first.map_or(0, |s| s.rss_kib));
    // The trend is judged after the warm-up only; a run too short for one, on growth alone.
    let rss_ok = trend_after.is_none_or(|t| t <= RSS_TREND_LIMIT_KIB_PER_MIN)
        && last.is_some_and(|l| l.rss_kib <= first_minute_max + RSS_GROWTH_LIMIT_KIB);
    let fds_ok = matches!((first, last), (Some(f), Some(l)) if l.fds <= f.fds + FD_SLACK);

    let written = driver.rotations.len();
    let landed: Vec<f64> = driver
        .rotations
        .iter()
        .filter_map(|r| r.landed)
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    let lost: Vec<&Rotation> = driver
        .rotations
        .iter()
        .filter(|r| r.lost.is_some())
        .collect();
    let late = landed
        .iter()
        .filter(|ms| **ms > LATE.as_secs_f64() * 1000.0)
        .count();
    let latency = Summary::of(landed.iter().copied());
    let first_file = Summary::of(
        driver
            .rotations
            .iter()
            .filter_map(|r| r.first_file)
            .map(|d| d.as_secs_f64() * 1000.0),
    );
    let rotations_ok = lost.is_empty()
        && driver.write_errors.is_empty()
        && driver.file_problems.is_empty()
        && written > 0;
    let tokens_ok = driver.checks.failed == 0 && driver.checks.done > 0;
    let exit_ok = facts.usage.code == Some(0) && !facts.usage.timed_out;
    let alive_ok = driver.agent_gone.is_none();
    let passed = rss_ok && fds_ok && rotations_ok && tokens_ok && exit_ok && alive_ok;

    let log = LogCounts::of(log_text);
    let audit = &driver.audit_counts;
    let minutes = facts.soaked.as_secs_f64() / 60.0;

    let _ = writeln!(
        text,
        "## soak: {} s, token_ttl {TOKEN_TTL} / token_max_ttl {TOKEN_MAX_TTL}, {TEMPLATES} templates over {SECRETS} KV v2 secrets, render interval {RENDER_INTERVAL:?}, a rotation every {ROTATE_EVERY:?}\n",
        facts.duration.as_secs()
    );
    let _ = writeln!(
        text,
        "- vaultward: {}; machine: {}; load average {} at the start, {} at the end",
        facts.version,
        procfs::machine(),
        facts.load_before,
        facts.load_after
    );
    let _ = writeln!(
        text,
        "- every file and the sink in place {:.0} ms after start; soak ran {:.1} s (rotations stop at {} s, then up to {GRACE:?} for the last to land); started {}\n",
        facts.ready_after.as_secs_f64() * 1000.0,
        facts.soaked.as_secs_f64(),
        facts.duration.as_secs(),
        utc(driver.started_wall)
    );
    let _ = writeln!(text, "| check | result | figures |\n|---|---|---|");
    let _ = writeln!(
        text,
        "| memory stays flat | {} | VmRSS first {:.2} MiB, last {:.2}, max {:.2} ({} samples, every {SAMPLE_EVERY:?}); trend {:+.1} KiB/min overall, {} after the first minute; peak RSS (ru_maxrss) {:.2} MiB |",
        verdict(rss_ok),
        mib(first.map_or(0, |s| s.rss_kib)),
        mib(last.map_or(0, |s| s.rss_kib)),
        mib(max_rss),
        samples.len(),
        trend_all.unwrap_or(f64::NAN),
        trend_after.map_or("–".to_owned(), |t| format!("{t:+.1} KiB/min")),
        mib(facts.usage.max_rss_kib),
    );
    let _ = writeln!(
        text,
        "| no descriptor leak | {} | open fds first {}, last {}, max {}; threads max {max_threads} |",
        verdict(fds_ok),
        first.map_or(0, |s| s.fds),
        last.map_or(0, |s| s.fds),
        max_fds,
    );
    let _ = writeln!(
        text,
        "| every rotation lands | {} | {written} written, {} landed, {} lost; write → both files: median {:.0} ms, p90 {:.0}, max {:.0} (first file: median {:.0}, max {:.0}); {late} slower than {LATE:?}; {} file problems, {} write errors |",
        verdict(rotations_ok),
        landed.len(),
        lost.len(),
        latency.median,
        latency.p90,
        latency.max,
        first_file.median,
        first_file.max,
        driver.file_problems.len(),
        driver.write_errors.len(),
    );
    let _ = writeln!(
        text,
        "| the sink always holds a valid token | {} | {} checks (every {CHECK_EVERY:?}), {} failed; least TTL left at a check {} s; {} distinct tokens seen in the sink |",
        verdict(tokens_ok),
        driver.checks.done,
        driver.checks.failed,
        driver
            .checks
            .min_ttl
            .map_or("–".to_owned(), |t| t.to_string()),
        driver.checks.accessors.len(),
    );
    let _ = writeln!(
        text,
        "| exits 0 on SIGTERM | {} | exit code {}{}, {:.0} ms after the signal |",
        verdict(exit_ok && alive_ok),
        facts
            .usage
            .code
            .map_or("none (killed by a signal)".to_owned(), |c| c.to_string()),
        if facts.usage.timed_out {
            ", killed at the time limit"
        } else {
            ""
        },
        facts.exit_after.as_secs_f64() * 1000.0,
    );
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "- logins: {} at the server (audit), {} in the agent's log ({} for max TTL, {} asked for); renewals: {} at the server, {} in the log; that is {:.1} logins and {:.1} renewals per minute",
        audit.logins,
        log.logins,
        log.max_ttl_relogins,
        log.requested_relogins,
        audit.renewals,
        log.renewals,
        audit.logins as f64 / minutes,
        audit.renewals as f64 / minutes,
    );
    let _ = writeln!(
        text,
        "- secret reads: {} at the server ({:.0}/min for {SECRETS} secrets), {} in the log; mount look-ups {}; renders written {} (initial {TEMPLATES} + 2 per landed rotation = {}); lookup-self {} (the driver's checks and the agent's own); the driver's writes {}",
        audit.secret_reads,
        audit.secret_reads as f64 / minutes,
        log.reads,
        audit.mount_lookups,
        log.renders,
        TEMPLATES + 2 * landed.len(),
        audit.lookups,
        audit.secret_writes,
    );
    if !audit.other.is_empty() {
        let _ = writeln!(
            text,
            "- other requests: {}",
            audit
                .other
                .iter()
                .map(|(kind, count)| format!("{count} × {kind}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        text,
        "- CPU: {:.2} s user + {:.2} s sys over the whole run ({:.0} ms per minute); context switches {} voluntary, {} involuntary",
        facts.usage.user.as_secs_f64(),
        facts.usage.sys.as_secs_f64(),
        facts.usage.cpu().as_secs_f64() * 1000.0
            / (facts.usage.wall.as_secs_f64() / 60.0).max(f64::EPSILON),
        facts.usage.voluntary,
        facts.usage.involuntary,
    );
    if let (Some(first_fds), Some(last_fds)) = (&driver.first_fds, &driver.last_fds) {
        let _ = writeln!(
            text,
            "- descriptors at the first sample: {}; at the last: {}",
            describe_kinds(first_fds),
            describe_kinds(last_fds)
        );
    }
    let count = samples.len();
    let per_minute: Vec<String> = samples
        .iter()
        .enumerate()
        .filter(|(position, s)| {
            s.at.as_secs() % 60 < SAMPLE_EVERY.as_secs() || position + 1 == count
        })
        .map(|(_, s)| s)
        .map(|s| {
            format!(
                "{:.0} s {:.2} MiB/{} fds",
                s.at.as_secs_f64(),
                mib(s.rss_kib),
                s.fds
            )
        })
        .collect();
    let _ = writeln!(text, "- RSS and fds each minute: {}", per_minute.join(", "));
    let server_errors: Vec<String> = audit
        .errors
        .iter()
        .map(|(error, count)| format!("{count} × {error}"))
        .collect();
    let _ = writeln!(
        text,
        "- error responses at the server: {}",
        if server_errors.is_empty() {
            "none".to_owned()
        } else {
            server_errors.join("; ")
        }
    );
    let _ = writeln!(
        text,
        "- the agent's log: {} lines, {} warnings and errors ({} errors)",
        log.lines,
        log.warnings.len(),
        log.errors
    );
    for line in log.warnings.iter().take(20) {
        let _ = writeln!(text, "    {line}");
    }
    if log.warnings.len() > 20 {
        let _ = writeln!(text, "    … and {} more", log.warnings.len() - 20);
    }

    let mut failures: Vec<(&str, &Event)> = Vec::new();
    failures.extend(driver.token_failures.iter().map(|e| ("token check", e)));
    failures.extend(driver.file_problems.iter().map(|e| ("file", e)));
    failures.extend(driver.write_errors.iter().map(|e| ("secret write", e)));
    failures.extend(driver.agent_gone.iter().map(|e| ("agent", e)));
    failures.sort_by_key(|(_, e)| e.at);
    let lost_events: Vec<Event> = lost
        .iter()
        .map(|r| Event {
            at: r.written_wall,
            what: format!(
                "rotation {} of secret s{} ({}): {}",
                r.seq,
                r.secret,
                value(r.secret, r.seq, &driver.nonce),
                r.lost.unwrap_or_default()
            ),
        })
        .collect();
    if !failures.is_empty() || !lost_events.is_empty() {
        let _ = writeln!(text, "\n### Failures\n");
        for event in &lost_events {
            let _ = writeln!(
                text,
                "- {} lost rotation, written {}",
                event.what,
                utc(event.at)
            );
        }
        for (kind, event) in failures.iter().take(30) {
            let _ = writeln!(text, "- {} {kind}: {}", utc(event.at), event.what);
        }
        if failures.len() > 30 {
            let _ = writeln!(text, "- … and {} more", failures.len() - 30);
        }
        let around = lost_events
            .iter()
            .map(|e| (e.at, Duration::from_secs(1), Duration::from_secs(16)))
            .chain(
                failures
                    .iter()
                    .map(|(_, e)| (e.at, Duration::from_secs(4), Duration::from_secs(1))),
            );
        for (at, before, after) in around.take(5) {
            let _ = writeln!(text, "\nThe agent's log around {}:\n\n```text", utc(at));
            let lines = log_lines_around(log_text, at, before, after);
            let skip = lines.len().saturating_sub(60);
            if skip > 0 {
                let _ = writeln!(text, "… {skip} earlier lines");
            }
            for line in &lines[skip..] {
                let _ = writeln!(text, "{line}");
            }
            let _ = writeln!(text, "```");
        }
    }
    let _ = writeln!(
        text,
        "\nSoak {}.",
        if passed {
            "PASSED: every check held"
        } else {
            "FAILED"
        }
    );
    Outcome {
        report: text,
        passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_matches_known_dates() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_250 + 3_723_000);
        assert_eq!(utc(leap), "2000-02-29T01:02:03.250Z");
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }

    #[test]
    fn files_parse_back() {
        let nonce = "abc";
        let text = rendered(7, &value(3, 12, nonce));
        assert_eq!(parse_file(7, &text, nonce), Ok((3, 12)));
        assert!(parse_file(6, &text, nonce).is_err());
        assert!(parse_file(7, &text, "other").is_err());
        assert!(parse_file(7, "template=7\nvalue=\n", nonce).is_err());
        assert_eq!(
            template_text(7),
            "template=7\nvalue={{kv \"secret/soak/s3\" \"value\"}}\n"
        );
        assert_eq!(templates_of(3).collect::<Vec<_>>(), vec![2, 7]);
    }

    #[test]
    fn slope_is_per_minute() {
        let points = [(0.0, 100.0), (60.0, 110.0), (120.0, 120.0)];
        let slope = slope_per_minute(&points).unwrap();
        assert!((slope - 10.0).abs() < 1e-9);
        assert!(slope_per_minute(&points[..1]).is_none());
    }

    #[test]
    fn log_lines_are_picked_by_time() {
        let log = "2000-02-29T01:02:01.000000Z DEBUG a\n2000-02-29T01:02:03.100000Z  INFO b\n2000-02-29T01:02:09.000000Z  WARN c\n";
        let at = UNIX_EPOCH + Duration::from_millis(951_782_400_000 + 3_723_000);
        let lines = log_lines_around(log, at, Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(lines, vec!["2000-02-29T01:02:03.100000Z  INFO b"]);
        let counts = LogCounts::of(log);
        assert_eq!(counts.warnings.len(), 1);
    }
}
