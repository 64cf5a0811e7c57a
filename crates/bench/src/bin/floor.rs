//! The floor: the least a client can do for the benchmark's job, as a separate process.
//!
//! One keep-alive connection; read role_id and secret_id, `POST auth/approle/login`, write the
//! token file (temporary file + rename), `GET` each distinct secret once, in order, and write
//! every destination file (temporary file, fsync, rename: the durable write both agents do).
//! No config parsing, no template engine, no async runtime, no TLS.
//!
//! With `--interval-ms` it keeps running as a sidecar would: every interval it reads every
//! secret again and rewrites the files whose content changed, until it is killed.
//!
//! Usage: `vaultward-bench-floor --addr 127.0.0.1:PORT --role-id-file F --secret-id-file F
//! --sink F --dest-dir D --prefix P --templates T --secrets S [--interval-ms I]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "a benchmark tool: any failure aborts the run, which the benchmark reports"
)]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vaultward_bench::http::Connection;
use vaultward_bench::workload::{Shape, destination, read_path, render};

struct Args {
    addr: String,
    role_id_file: PathBuf,
    secret_id_file: PathBuf,
    sink: PathBuf,
    dest_dir: PathBuf,
    prefix: String,
    shape: Shape,
    interval: Option<Duration>,
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let value = |name: &str, next: Option<String>| -> String {
        next.unwrap_or_else(|| panic!("{name} needs a value"))
    };
    let (mut addr, mut role, mut secret, mut sink, mut dest, mut prefix) =
        (None, None, None, None, None, None);
    let (mut templates, mut secrets, mut interval) = (1, 1, None);
    while let Some(flag) = args.next() {
        let next = args.next();
        match flag.as_str() {
            "--addr" => addr = Some(value(&flag, next)),
            "--role-id-file" => role = Some(value(&flag, next)),
            "--secret-id-file" => secret = Some(value(&flag, next)),
            "--sink" => sink = Some(value(&flag, next)),
            "--dest-dir" => dest = Some(value(&flag, next)),
            "--prefix" => prefix = Some(value(&flag, next)),
            "--templates" => templates = value(&flag, next).parse().expect("--templates"),
            "--secrets" => secrets = value(&flag, next).parse().expect("--secrets"),
            "--interval-ms" => {
                interval = Some(Duration::from_millis(
                    value(&flag, next).parse().expect("--interval-ms"),
                ));
            }
            other => panic!("unknown argument `{other}`"),
        }
    }
    Args {
        addr: addr.expect("--addr"),
        role_id_file: role.expect("--role-id-file").into(),
        secret_id_file: secret.expect("--secret-id-file").into(),
        sink: sink.expect("--sink").into(),
        dest_dir: dest.expect("--dest-dir").into(),
        prefix: prefix.expect("--prefix"),
        shape: Shape { templates, secrets },
        interval,
    }
}

/// Writes `contents` to a temporary file next to `path`, optionally fsyncs it, renames it.
fn write_file(path: &Path, contents: &[u8], mode: u32, fsync: bool) {
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .unwrap();
    file.write_all(contents).unwrap();
    if fsync {
        file.sync_all().unwrap();
    }
    drop(file);
    std::fs::rename(&temporary, path).unwrap();
}

/// Reads every secret once; returns (user, password) for each.
fn read_all(connection: &mut Connection, token: &str, args: &Args) -> Vec<(String, String)> {
    (0..args.shape.secrets)
        .map(|j| {
            let path = format!("/v1/{}", read_path(&args.prefix, j));
            let response = connection.request("GET", &path, Some(token), None).unwrap();
            assert_eq!(response.status, 200, "GET {path}");
            let body = response.json();
            let data = &body["data"]["data"];
            (
                data["user"].as_str().unwrap_or_default().to_owned(),
                data["password"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn main() {
    let args = parse_args();
    let role_id = std::fs::read_to_string(&args.role_id_file).unwrap();
    let secret_id = std::fs::read_to_string(&args.secret_id_file).unwrap();
    let mut connection = Connection::open(&args.addr).unwrap();
    let body = serde_json::json!({ "role_id": role_id.trim(), "secret_id": secret_id.trim() });
    let login = connection
        .request(
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(body.to_string().as_bytes()),
        )
        .unwrap();
    assert_eq!(login.status, 200, "login");
    let token = login.json()["auth"]["client_token"]
        .as_str()
        .expect("client_token")
        .to_owned();
    write_file(&args.sink, token.as_bytes(), 0o640, false);
    std::fs::create_dir_all(&args.dest_dir).unwrap();
    let mut written: Vec<Option<String>> = vec![None; args.shape.templates];
    loop {
        let values = read_all(&mut connection, &token, &args);
        for (index, last) in written.iter_mut().enumerate() {
            let (user, password) = &values[args.shape.secret_of(index)];
            let text = render(user, password);
            if last.as_deref() != Some(text.as_str()) {
                write_file(
                    &destination(&args.dest_dir, index),
                    text.as_bytes(),
                    0o644,
                    true,
                );
                *last = Some(text);
            }
        }
        match args.interval {
            Some(interval) => std::thread::sleep(interval),
            None => return,
        }
    }
}
