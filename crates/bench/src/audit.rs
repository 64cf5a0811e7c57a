//! Counting requests at the server from its file audit device.
//!
//! [`AuditTail`] reads only what the audit log gained since the last call, so counting stays
//! cheap however long the benchmark runs. The audit device logs every authenticated request
//! and logins; it does not log unauthenticated endpoints such as `sys/health` (which `bao
//! agent` calls once at start), so those are not counted for anyone.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Follows an audit log file.
pub struct AuditTail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

/// One audited request: operation and path.
pub type Request = (String, String);

impl AuditTail {
    /// Starts following `path` from its current end.
    pub fn new(path: PathBuf) -> Self {
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        Self {
            path,
            offset,
            partial: String::new(),
        }
    }

    /// The requests logged since the last call, in order.
    pub fn take(&mut self) -> Vec<Request> {
        self.take_entries()
            .iter()
            .filter(|entry| entry["type"] == "request")
            .map(|entry| {
                let text = |key: &str| {
                    entry["request"][key]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                };
                (text("operation"), text("path"))
            })
            .collect()
    }

    /// Every entry (requests and responses) logged since the last call, in order.
    pub fn take_entries(&mut self) -> Vec<serde_json::Value> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut text = String::new();
        let Ok(read) = file.read_to_string(&mut text) else {
            return Vec::new();
        };
        self.offset += read as u64;
        let mut all = std::mem::take(&mut self.partial);
        all.push_str(&text);
        let complete = match all.rfind('\n') {
            Some(end) => {
                self.partial = all[end + 1..].to_owned();
                &all[..end]
            }
            None => {
                self.partial = all;
                return Vec::new();
            }
        };
        complete
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .collect()
    }
}

/// What a set of requests was made of.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    /// Every audited request.
    pub total: usize,
    /// Reads of KV v2 data paths (`secret/data/…`).
    pub secret_reads: usize,
    /// Distinct KV v2 data paths read.
    pub distinct_paths: usize,
    /// The most times any one path was read.
    pub max_reads_per_path: usize,
    /// Mount look-ups (`sys/internal/ui/mounts/…`).
    pub mount_lookups: usize,
    /// Requests by kind (`read secret/data`, `update auth/approle/login`, …).
    pub by_kind: BTreeMap<String, usize>,
}

impl Requests {
    /// Summarises `requests`.
    pub fn of(requests: &[Request]) -> Self {
        let mut per_path: BTreeMap<&str, usize> = BTreeMap::new();
        let mut summary = Requests {
            total: requests.len(),
            ..Requests::default()
        };
        for (operation, path) in requests {
            let kind = if path.starts_with("secret/data/") {
                if operation == "read" {
                    summary.secret_reads += 1;
                    *per_path.entry(path).or_default() += 1;
                }
                "secret/data/*".to_owned()
            } else if path.starts_with("sys/internal/ui/mounts/") {
                summary.mount_lookups += 1;
                "sys/internal/ui/mounts/*".to_owned()
            } else {
                path.clone()
            };
            *summary
                .by_kind
                .entry(format!("{operation} {kind}"))
                .or_default() += 1;
        }
        summary.distinct_paths = per_path.len();
        summary.max_reads_per_path = per_path.values().copied().max().unwrap_or(0);
        summary
    }

    /// `3 × read secret/data/*, 1 × update auth/approle/login`.
    pub fn describe(&self) -> String {
        self.by_kind
            .iter()
            .map(|(kind, count)| format!("{count} × {kind}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
