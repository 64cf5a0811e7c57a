//! Reading config files from disk: the only IO around the config crate.
//!
//! A `-config` path may be a file or a directory; a directory contributes its `*.hcl` and
//! `*.json` files in name order (hidden files and editor leftovers skipped), as in Vault Agent.

use std::path::{Path, PathBuf};

use vaultward_config::Source;

/// Config files larger than this are refused rather than parsed.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Reads every config file named by `paths`; returns every problem found.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, Vec<String>> {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => match config_files_in(path) {
                Ok(files) if files.is_empty() => problems.push(format!(
                    "{}: the directory holds no .hcl or .json file",
                    path.display()
                )),
                Ok(files) => {
                    for file in files {
                        read_one(&file, &mut sources, &mut problems);
                    }
                }
                Err(error) => problems.push(format!(
                    "{}: cannot list the directory: {error}",
                    path.display()
                )),
            },
            Ok(_) => read_one(path, &mut sources, &mut problems),
            Err(error) => problems.push(format!(
                "{}: cannot read the config file: {error}",
                path.display()
            )),
        }
    }
    if problems.is_empty() {
        Ok(sources)
    } else {
        Err(problems)
    }
}

fn config_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            !name.starts_with('.')
                && !name.ends_with('~')
                && (name.ends_with(".hcl") || name.ends_with(".json"))
                && path.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read_one(path: &Path, sources: &mut Vec<Source>, problems: &mut Vec<String>) {
    let name = path.display().to_string();
    match std::fs::metadata(path) {
        Ok(metadata) if !metadata.is_file() => {
            problems.push(format!(
                "{name}: not a regular file (a device, FIFO or socket cannot be a config file)"
            ));
            return;
        }
        Ok(metadata) if metadata.len() > MAX_CONFIG_BYTES => {
            problems.push(format!(
                "{name}: the file is {} bytes; a config file may be at most 4 MiB",
                metadata.len()
            ));
            return;
        }
        _ => {}
    }
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => sources.push(Source::new(name, text)),
            Err(_) => problems.push(format!("{name}: not a text file (it is not valid UTF-8)")),
        },
        Err(error) => problems.push(format!("{name}: cannot read the config file: {error}")),
    }
}
