//! The projection commitment recomputed from outside (issue 12): `tools/projection_commitment.py`,
//! written from FORMAT.md section 16 alone and sharing no code with orgledger, must arrive at
//! the value orgledger puts in its checkpoints. And section 16's own vectors and worked
//! example must be what both compute.
//!
//! The ledgers: the empty one, the three records of section 16.5 (imported with the CLI and
//! checkpointed), a ledger holding every event type (the fixture `tests/commitment.rs` also
//! folds) after each of its records, a synthetic ledger and the demo. orgledger's value comes
//! from the binary's checkpoint where a store is at hand, and from the library's fold where
//! every size is compared. The Python runs in the environment `tests/common` provisions.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use orgledger::event::{Hash, Id, Record, Submission, Timestamp};
use orgledger::projection::commitment::{commitment_from_scratch, COMMITMENT_CONTEXT, ENTITY_CONTEXT, LIST_CONTEXT};
use orgledger::projection::Projection;
use serde_json::Value;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const EVERY_EVENT_TYPE: &str = include_str!("fixtures/every-event-type.jsonl");
const EDGE_CASES: &str = include_str!("fixtures/commitment-edges.jsonl");
/// The synthetic ledger's size and seed: big enough to hold every kind of view many times.
const SYNTHETIC_EVENTS: u64 = 20_000;
const SYNTHETIC_SEED: u64 = 7;

/// Section 16 of FORMAT.md, from its heading to the next section's (or the end).
fn section_16() -> String {
    let doc = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("FORMAT.md")).expect("FORMAT.md");
    let start = doc.find("\n## 16. ").expect("FORMAT.md has a section 16");
    let end = doc[start + 1..].find("\n## ").map_or(doc.len(), |i| start + 1 + i);
    doc[start..end].to_owned()
}

/// The lines of the fenced block of section 16 whose opening fence is exactly `fence`.
fn block(section: &str, fence: &str) -> Vec<String> {
    let mut lines = section.lines().skip_while(|l| *l != fence);
    assert!(lines.next().is_some(), "FORMAT.md section 16 has no block {fence}");
    lines.take_while(|l| !l.starts_with("```")).map(str::to_owned).collect()
}

/// The bytes a ```` ```bytes ```` block of section 16 gives: on each line, the hex pairs
/// before the comment (which is set off by at least two spaces).
fn documented_bytes(section: &str, name: &str) -> String {
    block(section, &format!("```bytes name={name}"))
        .iter()
        .map(|line| {
            let hex = line.split("  ").next().unwrap_or("");
            for pair in hex.split_whitespace() {
                assert!(
                    pair.len() == 2 && pair.chars().all(|c| c.is_ascii_hexdigit()),
                    "FORMAT.md bytes block {name}: {pair:?} in {line:?} is not a byte in hex"
                );
            }
            hex.split_whitespace().collect::<String>()
        })
        .collect()
}

/// Fails unless every line of `expected` is a line of section 16, in this order.
fn assert_documented(expected: &[String]) {
    let section = section_16();
    let mut rest = section.lines();
    for line in expected {
        assert!(
            rest.any(|l| l == line),
            "FORMAT.md section 16 lacks (in order) the line\n{line}\nThe computed vectors are:\n{}",
            expected.join("\n")
        );
    }
}

fn python() -> &'static Path {
    common::python_with_blake3()
}

/// What `tools/projection_commitment.py` prints for `export` with `args`: one JSON object a
/// line, and what it wrote to stderr.
fn recompute(export: &Path, args: &[&str]) -> (Vec<Value>, String) {
    let script = Path::new(MANIFEST_DIR).join("tools/projection_commitment.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(export)
        .args(args)
        .output()
        .expect("run tools/projection_commitment.py");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "tools/projection_commitment.py {args:?} failed:\n{stderr}"
    );
    let lines = String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    (lines, stderr)
}

/// The commitment the script computes at the end of `export`.
fn recompute_head(export: &Path) -> String {
    let (lines, _) = recompute(export, &[]);
    lines[0]["commitment"].as_str().expect("a commitment").to_owned()
}

fn orgledger(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args(args)
        .output()
        .expect("run orgledger");
    assert!(
        out.status.success(),
        "orgledger {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The commitment a fresh checkpoint of the store at `data` carries (`projection v1 <hex>`).
fn checkpoint_commitment(data: &Path) -> String {
    let note = orgledger(&["checkpoint", "--data", path(data)]);
    note.lines()
        .find_map(|l| l.strip_prefix("projection v1 "))
        .unwrap_or_else(|| panic!("the checkpoint has no projection line:\n{note}"))
        .to_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The store at `data` exported to `data`'s sibling file `name`.
fn export(data: &Path, name: &str) -> PathBuf {
    let file = data.parent().expect("a parent").join(name);
    orgledger(&["export", "--data", path(data), "--out", path(&file)]);
    file
}

#[test]
fn the_empty_ledger_commits_to_the_documented_zeros() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").expect("write");
    let outside = recompute_head(&empty);
    let inside = Projection::new().commitment().to_hex();
    assert_eq!(outside, inside, "the empty state");
    assert_eq!(
        inside,
        Hash(blake3::derive_key(COMMITMENT_CONTEXT, &[0u8; 176])).to_hex(),
        "FORMAT.md 16.4: the empty state hashes 176 zero bytes"
    );
    assert_documented(&[format!("empty {inside}")]);
}

#[test]
fn the_three_documented_records_commit_alike_in_orgledger_and_outside() {
    let section = section_16();
    let lines = block(&section, "```jsonl name=commitment-three-events");
    assert_eq!(lines.len(), 3, "section 16.5 gives three records");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("three.jsonl");
    std::fs::write(&file, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write");

    // orgledger: the binary imports them (verifying the chain) and signs a checkpoint.
    let data = dir.path().join("data");
    orgledger(&["import", path(&file), "--data", path(&data)]);
    let signed = checkpoint_commitment(&data);

    // Outside, after each record; and the library's fold after each.
    let (outside, _) = recompute(&file, &["--each"]);
    let mut p = Projection::new();
    let mut expected = vec![format!("empty {}", p.commitment().to_hex())];
    assert_eq!(outside[0]["commitment"], p.commitment().to_hex());
    for (k, line) in lines.iter().enumerate() {
        p.fold(&Record::from_export_line(line).expect("a documented record"));
        let inside = p.commitment().to_hex();
        assert_eq!(outside[k + 1]["commitment"], inside, "after record {}", k + 1);
        expected.push(format!("three-events {} {inside}", k + 1));
    }
    assert_eq!(signed, p.commitment().to_hex(), "the checkpoint's projection line");
    assert_documented(&expected);
}

/// The worked example of section 16.5: each ```` ```bytes ```` block is the bytes the script
/// hashes, each hash the prose names is the one it gets, and the contexts are the code's.
#[test]
fn the_worked_example_is_what_is_hashed() {
    let section = section_16();
    let contexts = block(&section, "```text");
    for (name, value) in [
        ("PROJECTION_ENTITY_CONTEXT", ENTITY_CONTEXT),
        ("PROJECTION_LIST_CONTEXT", LIST_CONTEXT),
        ("PROJECTION_COMMITMENT_CONTEXT", COMMITMENT_CONTEXT),
    ] {
        let line = format!("{name} = \"{value}\"");
        assert!(contexts.contains(&line), "FORMAT.md 16 should give {line}");
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("three.jsonl");
    let lines = block(&section, "```jsonl name=commitment-three-events");
    std::fs::write(&file, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write");
    let (_, explained) = recompute(&file, &["--explain"]);
    // `entity 1 cao-bang: <bytes> -> <hash>`, `list 0 item 1: <bytes> -> blake3 <h> -> chain
    // <c>`, `commitment: <bytes> -> <hash>`.
    let explained_line = |prefix: &str| -> Vec<String> {
        let line = explained
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("--explain printed no {prefix:?}:\n{explained}"));
        line.split(" -> ")
            .map(|part| part.split_whitespace().last().unwrap_or("").to_owned())
            .collect()
    };
    for (block_name, prefix) in [
        ("entity-cao-bang", "entity 1 cao-bang: "),
        ("entity-tinh-uy-cao-bang", "entity 2 tinh-uy-cao-bang: "),
        ("item-verification", "list 0 item 1: "),
        ("commitment-three-events", "commitment: "),
    ] {
        let parts = explained_line(prefix);
        assert_eq!(
            documented_bytes(&section, block_name),
            parts[0],
            "FORMAT.md bytes block {block_name}"
        );
        for hash in &parts[1..] {
            assert!(
                section.contains(&format!("`{hash}`")),
                "FORMAT.md 16.5 should name the hash {hash} of {block_name}"
            );
        }
    }
}

/// Seals the events of a fixture into a chain, one second apart, without the rules (the
/// fixtures cite no decisions, and the edge cases break rules on purpose).
fn sealed(fixture: &str) -> Vec<Record> {
    let actor = Id::parse("tester").expect("an id");
    let mut prev = Hash::ZERO;
    fixture
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let sub = Submission::from_json(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let at =
                Timestamp::parse(&format!("2015-01-01T00:{:02}:{:02}.000000Z", i / 60, i % 60)).expect("a timestamp");
            let r = Record::seal(i as u64 + 1, prev, at, actor.clone(), sub);
            prev = r.hash();
            r
        })
        .collect()
}

/// Fails unless the script and orgledger's fold (kept up to date, and recomputed from the
/// views) give the same commitment after every record of `fixture`.
fn check_after_each_record(fixture: &str) {
    let records = sealed(fixture);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("ledger.jsonl");
    let text: String = records.iter().map(|r| r.export_line() + "\n").collect();
    std::fs::write(&file, text).expect("write");
    let (outside, _) = recompute(&file, &["--each"]);
    assert_eq!(outside.len(), records.len() + 1);
    let mut p = Projection::new();
    assert_eq!(outside[0]["commitment"], p.commitment().to_hex(), "the empty state");
    for (r, line) in records.iter().zip(&outside[1..]) {
        p.fold(r);
        assert_eq!(p.commitment(), commitment_from_scratch(&p), "after seq {}", r.seq());
        assert_eq!(
            line["commitment"],
            p.commitment().to_hex(),
            "after seq {} ({}): the script and orgledger differ",
            r.seq(),
            r.event().type_name()
        );
    }
}

/// Every event type, after every record: the fold of section 16.1 entry by entry.
#[test]
fn every_event_type_commits_alike_after_each_record() {
    check_after_each_record(EVERY_EVENT_TYPE);
}

/// The clauses of section 16.1 that orgledger's rules keep out of its own ledgers, and those
/// no other ledger here reaches: views named but missing (nothing happens, or an empty cadre
/// view is created), a view created twice, corrections of sex and birth date (and values
/// that read as neither), supersession of assessments, training twice in one dimension, a
/// replaced outcome, plans left open by a membership's end, a negative year.
#[test]
fn the_edge_cases_of_the_fold_commit_alike_after_each_record() {
    check_after_each_record(EDGE_CASES);
}

#[test]
fn a_synthetic_ledger_commits_alike() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    orgledger::generate::write_ledger(&data, SYNTHETIC_EVENTS, SYNTHETIC_SEED).expect("the generator writes");
    common::wait_until_released(&data);
    let file = export(&data, "synthetic.jsonl");
    assert_eq!(recompute_head(&file), checkpoint_commitment(&data));
}

#[test]
fn the_demo_head_commits_as_documented() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("demo");
    let made: Value = serde_json::from_str(&orgledger(&["demo", "--data", path(&data)])).expect("JSON");
    let events = made["events"].as_u64().expect("events");
    let file = export(&data, "demo.jsonl");
    let signed = checkpoint_commitment(&data);
    assert_eq!(recompute_head(&file), signed, "the demo at its head");
    assert_documented(&[format!("demo {events} {signed}")]);
}
