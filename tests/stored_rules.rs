//! The rules state saved when a ledger closes: the next open starts from it and replays only
//! what follows, and gives the same answers as a replay of the whole log. A saved state that
//! is damaged, from another ledger, or older than the log is ignored or caught up, never
//! trusted blindly.

mod common;

use std::path::Path;

use orgledger::event::{Id, Submission};
use orgledger::ledger::{AppendError, Ledger, LedgerOptions};

fn sub(line: &str) -> Submission {
    Submission::from_json(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn locality(id: &str, kind: &str, parent: Option<&str>) -> Submission {
    let parent = parent.map(|p| format!(r#","parent":"{p}""#)).unwrap_or_default();
    sub(&format!(
        r#"{{"type":"LocalityRegistered","effective":"2005-01-01","locality":"{id}","name":"Nà {id}","kind":"{kind}","border":true{parent}}}"#
    ))
}

fn actor() -> Id {
    Id::parse("clerk").unwrap()
}

fn open(dir: &Path) -> Ledger {
    for _ in 0..500 {
        match Ledger::open(dir, LedgerOptions::default()) {
            Err(orgledger::store::StoreError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => return other.expect("the ledger opens"),
        }
    }
    panic!("the ledger stayed in use")
}

fn state_file(dir: &Path) -> std::path::PathBuf {
    dir.join("caches").join("rules-state.snapshot")
}

/// The world every case starts from: a province, a district, a commune and a hamlet.
fn world(dir: &Path) {
    let ledger = open(dir);
    ledger
        .append(
            actor(),
            vec![
                locality("cao-bang", "province", None),
                locality("trung-khanh", "district", Some("cao-bang")),
                locality("xa-ngoc-khe", "commune", Some("trung-khanh")),
                locality("xom-pac-ngoa", "hamlet", Some("xa-ngoc-khe")),
            ],
            None,
        )
        .expect("the world appends");
    ledger.close();
}

/// After any reopen the rules must still know the whole history: a reused id is refused,
/// and a hamlet under the old commune is accepted.
fn assert_rules_know_the_history(dir: &Path) {
    let ledger = open(dir);
    let reused = ledger.append(
        actor(),
        vec![locality("xom-pac-ngoa", "hamlet", Some("xa-ngoc-khe"))],
        None,
    );
    match reused {
        Err(AppendError::Rule { violation, .. }) => assert_eq!(violation.rule, "id_in_use"),
        other => panic!("a reused id after reopen: {other:?}"),
    }
    let n = ledger.head().seq;
    ledger
        .append(
            actor(),
            vec![locality(&format!("xom-moi-{n}"), "hamlet", Some("xa-ngoc-khe"))],
            None,
        )
        .expect("a new hamlet under the old commune");
    ledger.close();
}

#[test]
fn a_closed_ledger_saves_its_rules_state_and_reopens_from_it() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path());
    assert!(state_file(dir.path()).exists(), "close saved the rules state");
    assert_rules_know_the_history(dir.path());
    assert_rules_know_the_history(dir.path());
}

#[test]
fn a_damaged_or_foreign_saved_state_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path());
    let mut bytes = std::fs::read(state_file(dir.path())).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(state_file(dir.path()), &bytes).unwrap();
    assert_rules_know_the_history(dir.path());

    // A state saved by another ledger, of another history, at the same seq.
    let other = tempfile::tempdir().unwrap();
    let ledger = open(other.path());
    ledger
        .append(
            actor(),
            (0..4)
                .map(|i| locality(&format!("tinh-{i}"), "province", None))
                .collect(),
            None,
        )
        .unwrap();
    ledger.close();
    std::fs::copy(state_file(other.path()), state_file(dir.path())).unwrap();
    assert_rules_know_the_history(dir.path());

    std::fs::write(state_file(dir.path()), b"not a snapshot").unwrap();
    assert_rules_know_the_history(dir.path());
}

#[test]
fn a_saved_state_older_than_the_log_is_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path());
    // Keep the state saved at seq 4, as if the writer of what follows had been killed
    // before it could save its own.
    let old = std::fs::read(state_file(dir.path())).unwrap();
    let ledger = open(dir.path());
    ledger
        .append(
            actor(),
            vec![locality("xom-khuoi-luong", "hamlet", Some("xa-ngoc-khe"))],
            None,
        )
        .unwrap();
    ledger.close();
    std::fs::write(state_file(dir.path()), old).unwrap();
    let ledger = open(dir.path());
    match ledger.append(
        actor(),
        vec![locality("xom-khuoi-luong", "hamlet", Some("xa-ngoc-khe"))],
        None,
    ) {
        Err(AppendError::Rule { violation, .. }) => assert_eq!(violation.rule, "id_in_use", "the replayed tail counts"),
        other => panic!("an id appended after the saved state: {other:?}"),
    }
    ledger.close();
    assert_rules_know_the_history(dir.path());
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A log cut back behind the chain's back (sled recovering from a damaged file drops what
/// follows the damage, and the shorter chain still verifies on its own) is caught by the
/// caches written from the longer log, by `verify` and by `Ledger::open`.
#[test]
fn a_log_cut_behind_the_caches_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    world(&data);
    common_wait(&data);
    let early = dir.path().join("early");
    copy_tree(&data, &early);
    let ledger = open(&data);
    ledger
        .append(
            actor(),
            vec![locality("xom-na-thia", "hamlet", Some("xa-ngoc-khe"))],
            None,
        )
        .unwrap();
    ledger.close();
    common_wait(&data);
    // Put the sled files of the earlier, shorter log back, keeping the caches of the longer.
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "caches" {
            let path = entry.path();
            if path.is_dir() {
                std::fs::remove_dir_all(path).unwrap();
            } else {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
    for entry in std::fs::read_dir(&early).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "caches" {
            let target = data.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args(["--data", data.to_str().unwrap(), "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["ok"], false);
    assert_eq!(verdict["seq"], 5, "the first missing record: {verdict}");
    assert!(
        verdict["error"].as_str().unwrap().contains("records are missing"),
        "{verdict}"
    );
    match Ledger::open(&data, LedgerOptions::default()) {
        Err(orgledger::store::StoreError::Corrupt { seq, .. }) => assert_eq!(seq, 5),
        other => panic!("a cut log opened: {:?}", other.map(|_| ())),
    }
    common::wait_until_released(&data);
    // A report would answer from the shorter log without a word: it must refuse as well,
    // naming the first missing record, and print nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args([
            "--data",
            data.to_str().unwrap(),
            "report",
            "coverage",
            "--date",
            "2006-12-31",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "report on a cut log: {stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("corrupt at record 5:"), "{stderr}");
}

/// Waits until sled has let go of a store just closed, so its files can be copied whole.
fn common_wait(data: &Path) {
    drop(open(data));
}
