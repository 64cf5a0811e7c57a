//! Reading a running process's state from `/proc`: memory, CPU and context switches; and
//! putting the measured binaries' pages in the page cache in the same state before a run.

use std::time::Duration;

/// A snapshot of one process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Resident set size now, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// User + system CPU time of all its threads so far (clock ticks, so 10 ms steps).
    pub cpu: Duration,
    /// Voluntary context switches, summed over its threads.
    pub voluntary: u64,
    /// Involuntary context switches, summed over its threads.
    pub involuntary: u64,
    /// How many threads it has.
    pub threads: u64,
}

fn status_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Reads `/proc/<pid>/{status,stat}` and every `/proc/<pid>/task/*/status`.
pub fn snapshot(pid: i32) -> Option<Snapshot> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let mut voluntary = 0;
    let mut involuntary = 0;
    let mut threads = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("status")) {
                voluntary += status_field(&text, "voluntary_ctxt_switches");
                involuntary += status_field(&text, "nonvoluntary_ctxt_switches");
                threads += 1;
            }
        }
    }
    Some(Snapshot {
        rss_kib: status_field(&status, "VmRSS"),
        // The kernel's USER_HZ is 100 on Linux.
        cpu: Duration::from_millis(ticks * 10),
        voluntary,
        involuntary,
        threads,
    })
}

/// The machine: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = status_field(&meminfo, "MemTotal") as f64 / 1024.0 / 1024.0;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {memory_gib:.0} GiB RAM, Linux {}",
        kernel.trim()
    )
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Drops the clean page-cache pages of each file (`fdatasync`, then
/// `posix_fadvise(POSIX_FADV_DONTNEED)`), so that every measured binary is read back from the
/// disk the same way, whatever wrote it last. A binary that was just unpacked or copied sits in
/// the page cache in large folios, and a process maps its file pages a folio at a time: a
/// freshly installed `bao` counted 113 MiB of file pages in its RSS against 70 MiB once read
/// back, which would move the peak RSS comparison by half. Pages a running process maps (the
/// dev server's `bao`) stay where they are, so this must run before anything starts. Returns the
/// MiB of the files that were asked to be dropped, or the first error.
pub fn evict_from_page_cache(paths: &[&std::path::Path]) -> std::io::Result<f64> {
    let mut bytes = 0u64;
    for path in paths {
        let file = std::fs::File::open(path)?;
        file.sync_data()?;
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
        bytes += file.metadata()?.len();
    }
    Ok(bytes as f64 / 1024.0 / 1024.0)
}
