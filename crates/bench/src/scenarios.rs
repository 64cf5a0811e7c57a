//! The scenarios: init (`exit_after_auth`) shapes, the idle sidecar, and secret rotation.
//!
//! Every scenario runs the clients in turn (vaultward, `bao agent`, floor, vaultward, …)
//! against the same dev server, after one unrecorded warm-up run each, and checks every file
//! each run wrote.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::Rng;
use vaultward_bench::http::Connection;
use vaultward_bench::workload::{Shape, destination, kv_path, render};
use vaultward_test_support::{DevServer, ROOT_TOKEN};

use crate::audit::{AuditTail, Requests};
use crate::clients::{Client, Mode, Paths, Setup, prepare};
use crate::measure::{self, Usage};
use crate::procfs::{self, Snapshot};
use crate::report::Summary;

/// The KV prefix of the init and sidecar secrets.
const PREFIX: &str = "bench";
/// The KV prefix of the rotated secret.
const ROTATION_PREFIX: &str = "rotation";
/// How long one init run may take before it is killed.
const INIT_LIMIT: Duration = Duration::from_secs(300);

/// The server, the credentials and the clients, shared by all scenarios.
pub struct Bench {
    /// Binaries, address, credential files.
    pub paths: Paths,
    /// The dev server (with a file audit device); stopped when the benchmark ends.
    _server: DevServer,
    audit: AuditTail,
    admin: Connection,
    root: PathBuf,
    nonce: String,
    /// The clients compared, in the order they take turns.
    pub clients: Vec<Client>,
    /// How many secrets under [`PREFIX`] exist.
    secrets_written: usize,
}

fn random_hex() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

impl Bench {
    /// Starts an audited dev server, creates the AppRole, writes the credential files.
    pub fn start(
        vaultward: PathBuf,
        vaultward_env: Vec<(String, OsString)>,
        floor: PathBuf,
        clients: Vec<Client>,
        root: &Path,
    ) -> Self {
        let bao = vaultward_test_support::bao_bin();
        // Before the dev server maps `bao`'s pages (see `procfs::evict_from_page_cache`).
        let binaries: Vec<&Path> = [vaultward.as_path(), bao.as_path(), floor.as_path()]
            .into_iter()
            .filter(|path| path.is_file())
            .collect();
        match procfs::evict_from_page_cache(&binaries) {
            Ok(mib) => eprintln!(
                "dropped the measured binaries ({mib:.0} MiB) from the page cache, so each is read back from the disk alike"
            ),
            Err(error) => eprintln!(
                "warning: could not drop the measured binaries from the page cache ({error}); peak RSS may count pages from how they were written"
            ),
        }
        let server = DevServer::start_audited();
        measure::kill_on_panic(server.pid() as i32);
        measure::remove_on_panic(server.dir.path());
        let (role_id, secret_id) = server.approle("bench", &[]);
        let credentials = root.join("approle");
        std::fs::create_dir_all(&credentials).expect("create the credentials directory");
        let role_id_file = credentials.join("role-id");
        let secret_id_file = credentials.join("secret-id");
        std::fs::write(&role_id_file, format!("{role_id}\n")).expect("write role-id");
        std::fs::write(&secret_id_file, format!("{secret_id}\n")).expect("write secret-id");
        let host_port = format!("127.0.0.1:{}", server.port);
        let admin = Connection::open(&host_port).expect("connect to the dev server");
        let audit = AuditTail::new(server.dir.path().join("audit.log"));
        Bench {
            paths: Paths {
                vaultward,
                bao,
                floor,
                host_port,
                role_id_file,
                secret_id_file,
                vaultward_env,
                vaultward_syntax: vaultward_bench::workload::Syntax::Go,
                distinct_texts: false,
            },
            _server: server,
            audit,
            admin,
            root: root.to_path_buf(),
            nonce: random_hex(),
            clients,
            secrets_written: 0,
        }
    }

    fn put_secret(&mut self, prefix: &str, j: usize, password: &str) {
        let body = serde_json::json!({ "data": { "user": format!("u{j}"), "password": password } });
        let path = format!(
            "/v1/{}/data/{}",
            vaultward_bench::workload::MOUNT,
            kv_path(prefix, j)
        );
        let response = self
            .admin
            .request(
                "POST",
                &path,
                Some(ROOT_TOKEN),
                Some(body.to_string().as_bytes()),
            )
            .expect("write a secret");
        assert_eq!(
            response.status,
            200,
            "writing {path}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }

    fn password(&self, j: usize) -> String {
        format!("p{j}-{}", self.nonce)
    }

    /// Makes sure secrets `0..count` exist under [`PREFIX`].
    fn ensure_secrets(&mut self, count: usize) {
        for j in self.secrets_written..count {
            let password = self.password(j);
            self.put_secret(PREFIX, j, &password);
        }
        self.secrets_written = self.secrets_written.max(count);
        self.audit.take();
    }

    fn prepare_all(&self, label: &str, prefix: &str, shape: Shape, mode: Mode) -> Vec<Setup> {
        let dir = self.root.join(label);
        self.clients
            .iter()
            .map(|client| prepare(*client, &self.paths, &dir, prefix, shape, mode))
            .collect()
    }
}

/// Checks the sink and every destination file; `password(j)` is what secret `j` holds.
fn check_files(
    setup: &Setup,
    shape: Shape,
    password: &dyn Fn(usize) -> String,
) -> Result<(), String> {
    let token =
        std::fs::read_to_string(&setup.sink).map_err(|error| format!("the token sink: {error}"))?;
    if token.trim().is_empty() {
        return Err("the token sink is empty".to_owned());
    }
    for index in 0..shape.templates {
        let path = destination(&setup.out, index);
        let j = shape.secret_of(index);
        let expected = render(&format!("u{j}"), &password(j));
        let found = std::fs::read_to_string(&path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        if found != expected {
            return Err(format!(
                "{} holds {found:?}, expected {expected:?}",
                path.display()
            ));
        }
    }
    Ok(())
}

fn log_tail(setup: &Setup) -> String {
    let text = std::fs::read_to_string(&setup.log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// One init run's figures.
#[derive(Debug, Clone)]
pub struct InitSample {
    /// Wall, CPU, RSS, context switches.
    pub usage: Usage,
    /// What the server saw.
    pub requests: Requests,
}

/// An init scenario's samples, per client.
pub struct InitResult {
    /// Templates and secrets.
    pub shape: Shape,
    /// Samples per client, in run order.
    pub samples: BTreeMap<Client, Vec<InitSample>>,
}

impl InitResult {
    /// Summary of `metric` over `client`'s samples.
    pub fn summary(&self, client: Client, metric: impl Fn(&InitSample) -> f64) -> Option<Summary> {
        let samples = self.samples.get(&client)?;
        (!samples.is_empty()).then(|| Summary::of(samples.iter().map(metric)))
    }
}

fn init_run(bench: &mut Bench, setup: &Setup, shape: Shape) -> InitSample {
    setup.reset();
    bench.audit.take();
    let usage = measure::run(&setup.command, &setup.env, &setup.log, INIT_LIMIT);
    let failed = if usage.timed_out {
        Some(format!("did not finish within {INIT_LIMIT:?}"))
    } else if usage.code != Some(0) {
        Some(format!("exited with {:?}", usage.code))
    } else {
        let password = |j| bench.password(j);
        check_files(setup, shape, &password).err()
    };
    if let Some(problem) = failed {
        panic!(
            "{} {} templates: {problem}\nits log ends with:\n{}",
            setup.client.name(),
            shape.templates,
            log_tail(setup)
        );
    }
    InitSample {
        usage,
        requests: Requests::of(&bench.audit.take()),
    }
}

/// Runs the init shape `shape` `runs` times per client, alternating clients.
pub fn init(bench: &mut Bench, label: &str, shape: Shape, runs: usize) -> InitResult {
    bench.ensure_secrets(shape.secrets);
    let setups = bench.prepare_all(label, PREFIX, shape, Mode::Init);
    for setup in &setups {
        init_run(bench, setup, shape);
    }
    let mut samples: BTreeMap<Client, Vec<InitSample>> = BTreeMap::new();
    for run in 1..=runs {
        for setup in &setups {
            let sample = init_run(bench, setup, shape);
            samples.entry(setup.client).or_default().push(sample);
        }
        eprint!("\r  {label}: run {run}/{runs}");
    }
    eprintln!();
    InitResult { shape, samples }
}

/// One sidecar run's figures.
#[derive(Debug, Clone)]
pub struct SidecarSample {
    /// How long after start every file was in place.
    pub ready_after: Duration,
    /// How long the idle window lasted.
    pub window: Duration,
    /// At the start of the idle window.
    pub before: Snapshot,
    /// At its end.
    pub after: Snapshot,
    /// Requests at the server during the window.
    pub requests: Requests,
    /// The whole process's usage (peak RSS, total CPU), after it was stopped.
    pub usage: Usage,
}

impl SidecarSample {
    /// Per minute of the window.
    pub fn per_minute(&self, count: f64) -> f64 {
        count * 60.0 / self.window.as_secs_f64()
    }

    /// Context switches (voluntary and involuntary, every thread) during the window.
    pub fn switches(&self) -> f64 {
        (self.after.voluntary + self.after.involuntary)
            .saturating_sub(self.before.voluntary + self.before.involuntary) as f64
    }

    /// CPU time used during the window.
    pub fn window_cpu(&self) -> Duration {
        self.after.cpu.saturating_sub(self.before.cpu)
    }
}

/// A sidecar scenario's samples, per client.
pub struct SidecarResult {
    /// Samples per client.
    pub samples: BTreeMap<Client, Vec<SidecarSample>>,
}

impl SidecarResult {
    /// Summary of `metric` over `client`'s samples.
    pub fn summary(
        &self,
        client: Client,
        metric: impl Fn(&SidecarSample) -> f64,
    ) -> Option<Summary> {
        let samples = self.samples.get(&client)?;
        (!samples.is_empty()).then(|| Summary::of(samples.iter().map(metric)))
    }
}

/// Polls `check` every `step` until it holds or `limit` passes.
fn wait_until(
    limit: Duration,
    step: Duration,
    mut check: impl FnMut() -> bool,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(step);
    }
    None
}

fn sidecar_run(bench: &mut Bench, setup: &Setup, shape: Shape, idle: Duration) -> SidecarSample {
    setup.reset();
    let running = measure::start(
        &setup.command,
        &setup.env,
        &setup.log,
        Some(idle + Duration::from_secs(120)),
    );
    let password = |j| bench.password(j);
    let ready_after = wait_until(Duration::from_secs(60), Duration::from_millis(5), || {
        check_files(setup, shape, &password).is_ok()
    });
    let Some(ready_after) = ready_after else {
        running.terminate();
        running.finish();
        panic!(
            "{} sidecar never rendered every file\nits log ends with:\n{}",
            setup.client.name(),
            log_tail(setup)
        );
    };
    // Let start-up work (bao agent's first token renewal, late file events) settle.
    std::thread::sleep(Duration::from_secs(2));
    bench.audit.take();
    let before = procfs::snapshot(running.pid).unwrap_or_default();
    let started = Instant::now();
    std::thread::sleep(idle);
    let after = procfs::snapshot(running.pid).unwrap_or_default();
    let window = started.elapsed();
    let requests = Requests::of(&bench.audit.take());
    running.terminate();
    let usage = running.finish();
    SidecarSample {
        ready_after,
        window,
        before,
        after,
        requests,
        usage,
    }
}

/// Runs each client as a sidecar for `idle` after its first render, `rounds` times in turn.
pub fn sidecar(
    bench: &mut Bench,
    label: &str,
    shape: Shape,
    interval: Duration,
    idle: Duration,
    rounds: usize,
) -> SidecarResult {
    bench.ensure_secrets(shape.secrets);
    let setups = bench.prepare_all(label, PREFIX, shape, Mode::Sidecar { interval });
    let mut samples: BTreeMap<Client, Vec<SidecarSample>> = BTreeMap::new();
    for round in 1..=rounds {
        for setup in &setups {
            eprint!(
                "\r  {label}: round {round}/{rounds}, {} idle for {idle:?}   ",
                setup.client.name()
            );
            let sample = sidecar_run(bench, setup, shape, idle);
            samples.entry(setup.client).or_default().push(sample);
        }
    }
    eprintln!();
    SidecarResult { samples }
}

/// Rotation latencies per client, in milliseconds.
pub struct RotationResult {
    /// Latencies per client.
    pub latencies: BTreeMap<Client, Vec<f64>>,
}

/// Time from a KV write to the new content in the destination file, sidecar shape.
pub fn rotation(
    bench: &mut Bench,
    interval: Duration,
    rotations: usize,
    rounds: usize,
) -> RotationResult {
    let shape = Shape {
        templates: 1,
        secrets: 1,
    };
    let setups = bench.prepare_all(
        "rotation",
        ROTATION_PREFIX,
        shape,
        Mode::Sidecar { interval },
    );
    let mut latencies: BTreeMap<Client, Vec<f64>> = BTreeMap::new();
    let per_round = rotations.div_ceil(rounds.max(1));
    let mut counter = 0;
    for round in 1..=rounds {
        for setup in &setups {
            counter += 1;
            let mut value = format!("start-{counter}-{}", bench.nonce);
            bench.put_secret(ROTATION_PREFIX, 0, &value);
            setup.reset();
            let running = measure::start(
                &setup.command,
                &setup.env,
                &setup.log,
                Some(Duration::from_secs(600)),
            );
            let file = destination(&setup.out, 0);
            let holds = |value: &str| {
                std::fs::read_to_string(&file)
                    .is_ok_and(|text| text.contains(&format!("password={value}\n")))
            };
            if wait_until(Duration::from_secs(60), Duration::from_millis(5), || {
                holds(&value)
            })
            .is_none()
            {
                running.terminate();
                running.finish();
                panic!(
                    "{} never rendered the rotation secret\nits log ends with:\n{}",
                    setup.client.name(),
                    log_tail(setup)
                );
            }
            for rotation in 1..=per_round {
                eprint!(
                    "\r  rotation: round {round}/{rounds}, {} rotation {rotation}/{per_round}   ",
                    setup.client.name()
                );
                // A random phase against the client's refresh schedule.
                let pause = rand::rng().random_range(0..interval.as_millis().max(1) as u64);
                std::thread::sleep(Duration::from_millis(pause));
                counter += 1;
                value = format!("rotated-{counter}-{}", bench.nonce);
                bench.put_secret(ROTATION_PREFIX, 0, &value);
                let written = Instant::now();
                let seen = wait_until(interval * 20, Duration::from_millis(1), || holds(&value));
                let Some(_) = seen else {
                    running.terminate();
                    running.finish();
                    panic!(
                        "{} did not render a rotated secret within {:?}\nits log ends with:\n{}",
                        setup.client.name(),
                        interval * 20,
                        log_tail(setup)
                    );
                };
                latencies
                    .entry(setup.client)
                    .or_default()
                    .push(written.elapsed().as_secs_f64() * 1000.0);
            }
            running.terminate();
            running.finish();
        }
    }
    eprintln!();
    bench.audit.take();
    RotationResult { latencies }
}
