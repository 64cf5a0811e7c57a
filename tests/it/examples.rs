//! Every config file shipped under `examples/` and `config/` is valid (those of
//! `examples/vault-agent/` are run against a server instead, in `go_templates`).

use std::path::{Path, PathBuf};

use crate::support::{text, vaultward};

fn config_files(dir: &Path, found: &mut Vec<PathBuf>) {
    // The Vault Agent configs name files under /etc/vault; they are run, not only validated,
    // by `go_templates::vault_agent_example_configs_render_what_bao_agent_renders`.
    if dir.ends_with("vault-agent") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            config_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "hcl" || e == "json") {
            found.push(path);
        }
    }
}

#[test]
fn every_shipped_config_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    config_files(&root.join("examples"), &mut files);
    config_files(&root.join("config"), &mut files);
    assert!(
        files.len() >= 3,
        "expected example configs, found {files:?}"
    );
    for file in files {
        let output = vaultward()
            .arg("validate")
            .arg(format!("-config={}", file.display()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{} does not validate:\n{}",
            file.display(),
            text(&output)
        );
    }
}
