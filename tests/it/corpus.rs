//! The bad-input corpus: every file in `tests/corpus/` is a wrong config that `vaultward
//! validate` must refuse with exit 78 and exactly the message in its `.expected` twin (the file
//! path replaced by `CONFIG`), never with a panic or a hang.
//!
//! To record new expectations after a deliberate change of a message, run the test with
//! `VAULTWARD_BLESS=1` and review the diff of `tests/corpus/*.expected`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{run_with_limit, text, vaultward};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e != "expected"))
        .collect();
    files.sort();
    files
}

fn validate(path: &Path) -> (Option<i32>, String) {
    let mut command = vaultward();
    command
        .arg("validate")
        .arg(format!("-config={}", path.display()));
    let (output, elapsed) = run_with_limit(&mut command, Duration::from_secs(20));
    assert!(
        elapsed < Duration::from_secs(15),
        "{} took {elapsed:?}",
        path.display()
    );
    let stderr =
        String::from_utf8_lossy(&output.stderr).replace(&path.display().to_string(), "CONFIG");
    assert!(
        !text(&output).contains("panicked"),
        "{}: {}",
        path.display(),
        text(&output)
    );
    (output.status.code(), stderr)
}

#[test]
fn every_bad_config_is_refused_with_its_exact_message() {
    let files = corpus();
    assert!(files.len() >= 100, "the corpus holds {} files", files.len());
    let bless = std::env::var_os("VAULTWARD_BLESS").is_some();
    let mut mismatches = Vec::new();
    for file in &files {
        let (code, stderr) = validate(file);
        let expected_path = file.with_extension(format!(
            "{}.expected",
            file.extension().unwrap().to_string_lossy()
        ));
        if bless {
            std::fs::write(&expected_path, &stderr).unwrap();
            continue;
        }
        if code != Some(78) {
            mismatches.push(format!(
                "{}: exit {code:?}, not 78:\n{stderr}",
                file.display()
            ));
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if stderr != expected {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{stderr}",
                file.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} corpus files differ:\n{}",
        mismatches.len(),
        files.len(),
        mismatches.join("\n")
    );
}

#[test]
fn a_huge_file_and_a_directory_without_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.hcl");
    std::fs::write(&huge, "# filler\n".repeat(600_000)).unwrap();
    let (code, stderr) = validate(&huge);
    assert_eq!(code, Some(78));
    assert_eq!(
        stderr,
        "error: CONFIG: the file is 5400000 bytes; a config file may be at most 4 MiB\n1 problem found in the config\n"
    );
    let empty = dir.path().join("conf.d");
    std::fs::create_dir(&empty).unwrap();
    let (code, stderr) = validate(&empty);
    assert_eq!(code, Some(78));
    assert_eq!(
        stderr,
        "error: CONFIG: the directory holds no .hcl or .json file\n1 problem found in the config\n"
    );
}
