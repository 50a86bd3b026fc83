//! The README's examples actually work: every line of a ```sh block that starts with
//! `orgledger` (or pipes into it) is run, in order, in a fresh directory holding the demo
//! ledger and a copy of `examples/` and `tools/`, and must exit 0. Lines starting with
//! `cargo` are the set-up commands, which the test suite itself stands for.

mod common;

use std::path::Path;
use std::process::Command;

/// The example command lines of the README, in order, with comments removed.
fn example_lines(readme: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = trimmed == "```sh";
            continue;
        }
        if !in_sh || trimmed.starts_with("cargo ") || trimmed.is_empty() {
            continue;
        }
        // A comment starts at "  # " (two spaces); a `#` inside JSON or a URL is not one.
        let command = match trimmed.find("  # ") {
            Some(i) => trimmed[..i].trim_end(),
            None => trimmed,
        };
        lines.push(command.to_owned());
    }
    lines
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[test]
fn every_readme_example_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let lines = example_lines(&readme);
    assert!(
        lines.len() >= 15,
        "the README shows its examples in ```sh blocks: {lines:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&root.join("examples"), &dir.path().join("examples"));
    copy_dir(&root.join("tools"), &dir.path().join("tools"));
    let bin = Path::new(env!("CARGO_BIN_EXE_orgledger"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The README's `python3 tools/verify_export.py` needs the blake3 package: the venv's
    // python3 comes first on PATH.
    let python = common::python_with_blake3();
    let path = format!("{}:{path}", python.parent().expect("venv bin").display());

    let demo = Command::new(bin)
        .arg("demo")
        .current_dir(dir.path())
        .output()
        .expect("run demo");
    assert!(
        demo.status.success(),
        "orgledger demo: {}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let mut ran = 0;
    for line in &lines {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("ORGLEDGER_DATA")
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "README example failed: {line}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.stdout.is_empty() || line.contains("export --out") || line.contains("import"),
            "{line} printed nothing"
        );
        ran += 1;
    }
    assert_eq!(ran, lines.len());
}
