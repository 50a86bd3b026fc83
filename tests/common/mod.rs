//! Shared by several test files: a Python with the pinned `blake3` package for the
//! independent tools (tools/verify_export.py, tools/projection_commitment.py), provisioned
//! under `target/pyenv` so that a plain `cargo test` works on a fresh machine that has
//! python3 and reaches PyPI; and a wait for sled to let go of a store's lock.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The Python of `target/pyenv`, with the blake3 of `tools/requirements.txt` installed. Made
/// once per test process (the `OnceLock` serializes this file's threads) and guarded by a
/// lock file, so concurrent test processes do not build it at the same time.
pub fn python_with_blake3() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(provision_python) {
        Ok(python) => python,
        Err(e) => panic!(
            "cannot provision the Python environment that runs the tools/ scripts: {e}\n\
             This test needs python3 with its venv module and pip reaching PyPI."
        ),
    }
}

fn provision_python() -> Result<PathBuf, String> {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .ok_or("CARGO_TARGET_TMPDIR has no parent")?
        .to_path_buf();
    let venv = target.join("pyenv");
    let python = if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    };
    let requirements = Path::new(MANIFEST_DIR).join("tools").join("requirements.txt");
    let pinned = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?
        .lines()
        .find_map(|l| l.trim().strip_prefix("blake3==").map(str::to_owned))
        .ok_or("tools/requirements.txt pins no blake3 version")?;

    std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let lock_path = target.join("pyenv.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;

    let has_pinned_blake3 = || {
        let check = format!("import sys, blake3; sys.exit(blake3.__version__ != {pinned:?})");
        Command::new(&python)
            .args(["-c", &check])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has_pinned_blake3() {
        let python_runs = Command::new(&python)
            .args(["-c", "pass"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !python_runs {
            run_step(
                "python3 -m venv",
                Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv),
            )?;
        }
        run_step(
            "pip install -r tools/requirements.txt",
            Command::new(&python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r"])
                .arg(&requirements),
        )?;
        if !has_pinned_blake3() {
            return Err(format!(
                "blake3=={pinned} is still not importable in {} after pip install",
                venv.display()
            ));
        }
    }
    Ok(python)
}

fn run_step(what: &str, command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: cannot run: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// How long a test waits for sled to release a store it has just closed or killed.
const RELEASE_PATIENCE: Duration = Duration::from_secs(10);

/// Waits until no handle holds sled's lock on the store (the `db` file, locked with
/// `flock`). sled lets go a moment after its last handle is dropped: its background IO
/// threads and deferred frees may still hold the file, and a child being spawned by a test
/// running in parallel briefly shares it. Without this wait, the CLI run right after a
/// close could find the store in use.
pub fn wait_until_released(data: &Path) {
    let deadline = Instant::now() + RELEASE_PATIENCE;
    loop {
        let db = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(data.join("db"))
            .expect("sled's db file");
        match db.try_lock() {
            Ok(()) => return,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("the store at {} stayed locked: {e}", data.display()),
        }
    }
}

/// The real server on a loopback port, for the server and subscription tests.
pub mod running;
pub mod server;

/// The events of `examples/trung-khanh-2005.jsonl`: a province, a district, a commune,
/// hamlets, committees and cells, a border post and its members.
pub fn fixture_events() -> Vec<orgledger::event::Submission> {
    let text = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("examples/trung-khanh-2005.jsonl"))
        .expect("the example file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| orgledger::event::Submission::from_json(l).expect("the example parses"))
        .collect()
}

/// A new hamlet `slug` under xa-dam-thuy, effective 2005-02-01, as an input line.
pub fn hamlet(slug: &str) -> orgledger::event::Submission {
    orgledger::event::Submission::from_json(&format!(
        r#"{{"type":"LocalityRegistered","effective":"2005-02-01","locality":"{slug}","name":"Xóm {slug}","kind":"hamlet","parent":"xa-dam-thuy","border":false}}"#
    ))
    .expect("a valid event")
}

/// `target/NAME`, holding `files` of the directory `sources` (from the crate's root; a
/// `package.json` and its `package-lock.json` among them) and the node modules of that lock
/// file. `npm ci` runs only when they are missing or the lock file changed; a lock file
/// (`target/NAME.lock`) guards the directory so that concurrent test processes do not install
/// at the same time.
pub fn provision_node(name: &str, sources: &str, files: &[&str]) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent: the target directory");
    let dir = target.join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create target/{name}: {e}"));
    let guard_path = target.join(format!("{name}.lock"));
    let guard = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&guard_path)
        .unwrap_or_else(|e| panic!("open target/{name}.lock: {e}"));
    guard.lock().unwrap_or_else(|e| panic!("lock target/{name}.lock: {e}"));

    let sources = Path::new(MANIFEST_DIR).join(sources);
    for file in files {
        std::fs::copy(sources.join(file), dir.join(file))
            .unwrap_or_else(|e| panic!("copy {}/{file} to {}: {e}", sources.display(), dir.display()));
    }
    // `npm ci` empties node_modules before installing, so this record of the lock file it
    // installed from disappears with a failed install.
    let installed_from = dir.join("node_modules").join(".installed-from-package-lock.json");
    let lock = std::fs::read(dir.join("package-lock.json")).expect("read the copied lock file");
    if std::fs::read(&installed_from).ok().as_deref() != Some(lock.as_slice()) {
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run npm (this test needs Node.js 20 and npm): {e}"));
        assert!(
            output.status.success(),
            "npm ci in {} failed ({}):\n{}\n{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(&installed_from, &lock).expect("record the installed lock file");
    }
    dir
}
