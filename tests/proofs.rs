//! Issue 5 end to end: Merkle proofs, signed checkpoints and verification against them,
//! through the real `orgledger` binary and the in-process server.
//!
//! Every proof of a 40-event ledger (every size, every seq, every pair of sizes) is checked
//! in-process against a naive RFC 9162 tree built here, and a sample of them through the CLI
//! (`proof`, `verify-proof`), so that the test stays at a couple of hundred binary runs. The
//! failures an auditor must see (a cut tail, a rewritten event, a fork, a forged or
//! re-signed checkpoint, a damaged stored tree) are each asserted with their exit code and
//! the `check` of the JSON verdict.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::server::*;
use orgledger::checkpoint::{load_key, Checkpoint, VerifierKey};
use orgledger::event::{Hash, Id, Record, Submission};
use orgledger::merkle;
use orgledger::proofs::{self, AnyProof, ConsistencyProof, InclusionProof};
use orgledger::store::Store;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Running the binary.

#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `orgledger --data DATA ARGS...` from the directory holding `data`, without any
/// inherited `ORGLEDGER_*` setting, so that only `--data` can name the store.
fn run(data: &Path, args: &[&str]) -> Outcome {
    let cwd = data
        .ancestors()
        .skip(1)
        .find(|p| p.is_dir())
        .expect("stores live in a scratch directory");
    let output = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .current_dir(cwd)
        .env_remove("ORGLEDGER_DATA")
        .env_remove("ORGLEDGER_ACTOR")
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the orgledger binary runs");
    Outcome {
        code: output.status.code().expect("orgledger exits by itself"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// The one JSON line of a successful command.
fn ok_json(outcome: &Outcome) -> Value {
    assert_eq!(outcome.code, 0, "the command must succeed: {outcome:?}");
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {outcome:?}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{:?} is not JSON: {e}", lines[0]))
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// An audit failure: exit 1, `{"ok":false,"check":CHECK,"error":...}` (with `seq` when a
/// record is named) on stdout, and the error on stderr. Returns the JSON.
fn refused(outcome: &Outcome, check: &str) -> Value {
    assert_eq!(outcome.code, 1, "an audit failure exits 1: {outcome:?}");
    let value = {
        let lines: Vec<&str> = outcome.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one JSON verdict: {outcome:?}");
        serde_json::from_str::<Value>(lines[0]).expect("the verdict is JSON")
    };
    assert_eq!(value["ok"], json!(false), "{value}");
    assert_eq!(value["check"], json!(check), "{value}");
    let error = value["error"].as_str().expect("a message");
    assert!(!error.is_empty(), "{value}");
    let mut expected = vec!["check", "error", "ok"];
    if value.get("seq").is_some() {
        assert!(value["seq"].is_u64(), "{value}");
        expected.push("seq");
    }
    assert_eq!(keys(&value), expected, "{value}");
    assert!(
        outcome.stderr.starts_with("error: "),
        "the error goes to stderr too: {outcome:?}"
    );
    value
}

/// A scratch directory and a store path inside it that does not exist yet.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("ledger");
    (dir, data)
}

fn fixture_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trung-khanh-2005.jsonl"))
        .expect("the example file")
}

const FIXTURE_EVENTS: u64 = 12;

/// `count` valid hamlets under the fixture's commune, ids `xom-TAG-N` from `first`.
fn hamlets(tag: &str, first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| {
            format!(
                r#"{{"type":"LocalityRegistered","effective":"2007-01-01","locality":"xom-{tag}-{i}","name":"Xóm {tag} {i}","kind":"hamlet","parent":"xa-dam-thuy","border":false}}"#
            ) + "\n"
        })
        .collect()
}

/// Appends `lines` through the CLI, as one batch; checks the number of events appended.
fn append(data: &Path, lines: &str) {
    let file = data.with_extension(format!("input-{}.jsonl", lines.len()));
    std::fs::write(&file, lines).expect("the input file");
    let outcome = run(data, &["append", arg(&file)]);
    assert_eq!(outcome.code, 0, "append: {outcome:?}");
    assert_eq!(outcome.stdout.lines().count(), lines.lines().count(), "{outcome:?}");
}

/// The fixture plus `total - 12` hamlets, appended in several batches so that the stored
/// tree is written by several groups (each group stores the nodes it completes).
fn build_ledger(data: &Path, total: usize) {
    append(data, &fixture_text());
    let mut done = FIXTURE_EVENTS as usize;
    let mut i = 0;
    for batch in [1, 7, 3, usize::MAX] {
        let n = batch.min(total - done);
        if n == 0 {
            break;
        }
        append(data, &hamlets("a", i, n));
        i += n;
        done += n;
    }
    assert_eq!(done, total);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("a scratch file");
    path
}

/// `orgledger checkpoint` (exit 0, a signed note) and `orgledger key public`.
fn checkpoint(data: &Path) -> String {
    let outcome = run(data, &["checkpoint"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    outcome.stdout
}

fn verifier(data: &Path) -> String {
    let outcome = run(data, &["key", "public"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    outcome.stdout
}

// ---------------------------------------------------------------------------------------
// A naive RFC 9162 tree, straight from §2.1, to hold the stored-node proofs against.

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            merkle::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn naive_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n == 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut path, sibling) = if m < k {
        (naive_path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (naive_path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    path.push(sibling);
    path
}

fn naive_subproof(m: usize, leaves: &[Hash], known: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if known { Vec::new() } else { vec![mth(leaves)] };
    }
    let k = split(n);
    let (mut proof, other) = if m <= k {
        (naive_subproof(m, &leaves[..k], known), mth(&leaves[k..]))
    } else {
        (naive_subproof(m - k, &leaves[k..], false), mth(&leaves[..k]))
    };
    proof.push(other);
    proof
}

fn ceil_log2(n: u64) -> usize {
    if n <= 1 {
        0
    } else {
        (64 - (n - 1).leading_zeros()) as usize
    }
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_hex).collect()
}

/// The same hash with its first hex digit changed: still well-formed, so only the tree
/// arithmetic can refuse it.
fn flip(hex: &str) -> String {
    let first = if hex.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &hex[1..])
}

/// A tree size for leaf `index` whose audit path has another length than `len`: a size
/// that keeps the path's shape is indistinguishable without a checkpoint binding the size
/// to the root (RFC 9162 §2.1.3.2 checks the path against the root it is given), so the
/// self-rooted refusal is asserted for sizes the shape gives away, and the checkpoint-bound
/// one for any size.
fn shape_changing_size(index: u64, size: u64, len: usize) -> u64 {
    (1..64)
        .flat_map(|d| [size + d, size.saturating_sub(d)])
        .find(|&s| s > index && merkle::inclusion_proof_len(index, s) != len)
        .expect("some size changes the path length")
}

fn shape_changing_to(from: u64, to: u64, len: usize) -> u64 {
    (1..64)
        .flat_map(|d| [to + d, to.saturating_sub(d)])
        .find(|&s| s >= from && s > 0 && merkle::consistency_proof_len(from, s) != len)
        .expect("some size changes the proof length")
}

/// Every way an inclusion proof file can be damaged that must be refused on its own roots:
/// (what, damaged proof).
fn damaged_inclusions(p: &InclusionProof) -> Vec<(String, InclusionProof)> {
    let mut out = Vec::new();
    for i in 0..p.proof.len() {
        let mut d = p.clone();
        d.proof[i] = flip(&d.proof[i]);
        out.push((format!("proof[{i}] changed"), d));
    }
    if !p.proof.is_empty() {
        let mut d = p.clone();
        d.proof.pop();
        out.push(("the last hash cut".into(), d));
        let mut d = p.clone();
        d.proof.remove(0);
        out.push(("the first hash cut".into(), d));
    }
    let mut d = p.clone();
    d.size = shape_changing_size(p.seq - 1, p.size, p.proof.len());
    out.push((format!("size {} for {}", d.size, p.size), d));
    // Another leaf of the same tree: the left/right order of the path differs.
    if p.size > 1 {
        let mut d = p.clone();
        d.seq = if p.seq == 1 { 2 } else { p.seq - 1 };
        out.push((format!("seq {} for {}", d.seq, p.seq), d));
    }
    let mut d = p.clone();
    d.seq = p.size + 1;
    out.push(("a seq past the size".into(), d));
    let mut d = p.clone();
    d.event_hash = flip(&p.event_hash);
    out.push(("another event hash".into(), d));
    let mut d = p.clone();
    d.root = flip(&p.root);
    out.push(("another root".into(), d));
    out
}

fn damaged_consistencies(p: &ConsistencyProof) -> Vec<(String, ConsistencyProof)> {
    let mut out = Vec::new();
    for i in 0..p.proof.len() {
        let mut d = p.clone();
        d.proof[i] = flip(&d.proof[i]);
        out.push((format!("proof[{i}] changed"), d));
    }
    if !p.proof.is_empty() {
        let mut d = p.clone();
        d.proof.pop();
        out.push(("the last hash cut".into(), d));
    }
    let mut d = p.clone();
    d.to = shape_changing_to(p.from, p.to, p.proof.len());
    out.push((format!("to {} for {}", d.to, p.to), d));
    let mut d = p.clone();
    d.from_root = flip(&p.from_root);
    out.push(("another old root".into(), d));
    let mut d = p.clone();
    d.to_root = flip(&p.to_root);
    out.push(("another new root".into(), d));
    out
}

// ---------------------------------------------------------------------------------------
// 1. Proofs.

#[test]
fn every_proof_of_a_40_event_ledger_verifies_and_every_damaged_one_is_refused() {
    const HEAD: u64 = 40;
    let (dir, data) = scratch();
    build_ledger(&data, HEAD as usize);

    // In-process, from the store's nodes: every size, every seq, every pair of sizes,
    // against the naive tree; every damaged variant refused.
    let mut inclusions = std::collections::BTreeMap::new();
    let mut consistencies = std::collections::BTreeMap::new();
    {
        let store = Store::open(&data, false).expect("the store");
        assert_eq!(store.head().unwrap().seq, HEAD);
        assert_eq!(store.tree_size().unwrap(), HEAD, "the append path keeps the tree");
        let hashes: Vec<Hash> = (1..=HEAD).map(|s| store.raw(s).unwrap().expect("a record").0).collect();
        let leaves: Vec<Hash> = hashes.iter().map(merkle::leaf_hash).collect();
        let mut longest_consistency_over_bound = 0;
        for size in 1..=HEAD {
            let tree = &leaves[..size as usize];
            let root = mth(tree);
            assert_eq!(merkle::root(&store, size).unwrap(), root, "root of size {size}");
            for seq in 1..=size {
                let p = proofs::inclusion(&store, hashes[seq as usize - 1], seq, Some(size), HEAD)
                    .unwrap_or_else(|f| panic!("inclusion {seq} in {size}: {f}"));
                assert_eq!(p.kind, "inclusion");
                assert_eq!((p.seq, p.size), (seq, size));
                assert_eq!(p.event_hash, hashes[seq as usize - 1].to_hex());
                assert_eq!(p.root, root.to_hex(), "inclusion {seq} in {size}");
                assert_eq!(
                    p.proof,
                    hexes(&naive_path(seq as usize - 1, tree)),
                    "inclusion {seq} in {size}"
                );
                assert!(
                    p.proof.len() <= ceil_log2(size),
                    "inclusion {seq} in {size}: {}",
                    p.proof.len()
                );
                let proof = AnyProof::Inclusion(p.clone());
                assert_eq!(
                    proof.verify(None),
                    Ok(format!("event {seq} is in the tree of {size} events"))
                );
                for (what, d) in damaged_inclusions(&p) {
                    let verdict = AnyProof::Inclusion(d).verify(None);
                    assert_eq!(
                        verdict.as_ref().map_err(|f| f.check),
                        Err("proof"),
                        "inclusion {seq} in {size}, {what}: {verdict:?}"
                    );
                }
                inclusions.insert((seq, size), p);
            }
            for from in 1..=size {
                let p = proofs::consistency(&store, from, Some(size), HEAD)
                    .unwrap_or_else(|f| panic!("consistency {from} to {size}: {f}"));
                assert_eq!(p.kind, "consistency");
                assert_eq!((p.from, p.to), (from, size));
                assert_eq!(p.from_root, mth(&leaves[..from as usize]).to_hex());
                assert_eq!(p.to_root, root.to_hex());
                assert_eq!(
                    p.proof,
                    hexes(&naive_subproof(from as usize, tree, true)),
                    "consistency {from} to {size}"
                );
                assert!(p.proof.len() <= ceil_log2(size) + 1, "consistency {from} to {size}");
                if p.proof.len() > ceil_log2(size) {
                    longest_consistency_over_bound += 1;
                }
                assert_eq!(
                    AnyProof::Consistency(p.clone()).verify(None),
                    Ok(format!(
                        "the tree of {from} events is a prefix of the tree of {size} events"
                    ))
                );
                for (what, d) in damaged_consistencies(&p) {
                    let verdict = AnyProof::Consistency(d).verify(None);
                    assert_eq!(
                        verdict.as_ref().map_err(|f| f.check),
                        Err("proof"),
                        "consistency {from} to {size}, {what}: {verdict:?}"
                    );
                }
                consistencies.insert((from, size), p);
            }
        }
        // RFC 9162 consistency proofs can be one longer than ⌈log2 n⌉ (3 to 4 takes 3
        // hashes): the +1 of the bound above is needed, not slack.
        assert_eq!(consistencies[&(3, 4)].proof.len(), 3);
        assert!(longest_consistency_over_bound > 0);
        // Past the head, and malformed ranges, are refused as arguments.
        let h = hashes[0];
        for (seq, size) in [(1, Some(HEAD + 1)), (0, None), (5, Some(4))] {
            let f = proofs::inclusion(&store, h, seq, size, HEAD).unwrap_err();
            assert_eq!(f.check, "arguments", "{seq} in {size:?}: {f}");
        }
        for (from, to) in [(0, None), (5, Some(4)), (1, Some(HEAD + 1))] {
            let f = proofs::consistency(&store, from, to, HEAD).unwrap_err();
            assert_eq!(f.check, "arguments", "{from} to {to:?}: {f}");
        }
    }
    common::wait_until_released(&data);

    // Through the binary: the proof JSON is exactly the in-process one, and verify-proof
    // accepts it. Every seq at the head (no --size), and a sample of smaller trees.
    let mut sample: BTreeSet<(u64, u64)> = (1..=HEAD).map(|s| (s, HEAD)).collect();
    for size in [1, 2, 3, 5, 8, 13, 21, 33, 39] {
        sample.extend([(1, size), (size / 2 + 1, size), (size, size)]);
    }
    let proof_file = |name: String, value: &Value| write(dir.path(), &name, &format!("{value}\n"));
    let mut cli_inclusions = std::collections::BTreeMap::new();
    for &(seq, size) in &sample {
        let seq_arg = seq.to_string();
        let size_arg = size.to_string();
        let mut args = vec!["proof", "inclusion", "--seq", &seq_arg];
        if size != HEAD {
            args.extend(["--size", &size_arg]);
        }
        let value = ok_json(&run(&data, &args));
        assert_eq!(
            keys(&value),
            ["event_hash", "proof", "root", "seq", "size", "type"],
            "{value}"
        );
        assert_eq!(
            value,
            serde_json::to_value(&inclusions[&(seq, size)]).unwrap(),
            "{seq} in {size}"
        );
        let file = proof_file(format!("inclusion-{seq}-{size}.json"), &value);
        let verdict = ok_json(&run(&data, &["verify-proof", arg(&file)]));
        assert_eq!(
            verdict,
            json!({"ok": true, "proved": format!("event {seq} is in the tree of {size} events")})
        );
        cli_inclusions.insert((seq, size), file);
    }
    let mut pairs: Vec<(u64, Option<u64>)> = [1, 2, 3, 4, 7, 8, 9, 16, 17, 31, 32, 33, 39, 40]
        .into_iter()
        .map(|from| (from, None))
        .collect();
    pairs.extend([
        (1, Some(1)),
        (3, Some(4)),
        (5, Some(7)),
        (6, Some(8)),
        (9, Some(13)),
        (17, Some(31)),
    ]);
    let mut cli_consistencies = std::collections::BTreeMap::new();
    for (from, to) in pairs {
        let from_arg = from.to_string();
        let to_arg = to.map(|t| t.to_string());
        let mut args = vec!["proof", "consistency", "--from", &from_arg];
        if let Some(t) = &to_arg {
            args.extend(["--to", t]);
        }
        let to = to.unwrap_or(HEAD);
        let value = ok_json(&run(&data, &args));
        assert_eq!(
            keys(&value),
            ["from", "from_root", "proof", "to", "to_root", "type"],
            "{value}"
        );
        assert_eq!(
            value,
            serde_json::to_value(&consistencies[&(from, to)]).unwrap(),
            "{from} to {to}"
        );
        let file = proof_file(format!("consistency-{from}-{to}.json"), &value);
        let verdict = ok_json(&run(&data, &["verify-proof", arg(&file)]));
        assert_eq!(
            verdict,
            json!({"ok": true, "proved": format!("the tree of {from} events is a prefix of the tree of {to} events")})
        );
        cli_consistencies.insert((from, to), file);
    }

    // Damaged proof files, through the binary: exit 1, `"check":"proof"`.
    for key in [(1, HEAD), (27, HEAD), (3, 3), (33, 33)] {
        let p = &inclusions[&key];
        let wanted = ["proof[0] changed", "the last hash cut", "size ", "seq "];
        for (what, d) in damaged_inclusions(p) {
            if !wanted.iter().any(|w| what.starts_with(w)) {
                continue;
            }
            let file = proof_file(
                format!("bad-inclusion-{}-{}.json", key.0, key.1),
                &serde_json::to_value(&d).unwrap(),
            );
            refused(&run(&data, &["verify-proof", arg(&file)]), "proof");
        }
    }
    for key in [(3, 4), (7, HEAD), (17, 31)] {
        let p = &consistencies[&key];
        for (what, d) in damaged_consistencies(p) {
            if !["proof[1] changed", "the last hash cut", "to "]
                .iter()
                .any(|w| what.starts_with(w))
            {
                continue;
            }
            let file = proof_file(
                format!("bad-consistency-{}-{}.json", key.0, key.1),
                &serde_json::to_value(&d).unwrap(),
            );
            refused(&run(&data, &["verify-proof", arg(&file)]), "proof");
        }
    }
    // Not a proof at all.
    let junk = write(dir.path(), "junk.json", "{\"type\":\"receipt\"}\n");
    refused(&run(&data, &["verify-proof", arg(&junk)]), "proof");

    // Against a signed checkpoint of the head: its root replaces the file's, and a proof for
    // another size is refused as `"check":"size"`, whatever its own roots say.
    let cp = write(dir.path(), "head.cp", &checkpoint(&data));
    let vkey = write(dir.path(), "head.vkey", &verifier(&data));
    let against = |file: &Path| {
        run(
            &data,
            &["verify-proof", arg(file), "--checkpoint", arg(&cp), "--key", arg(&vkey)],
        )
    };
    assert_eq!(ok_json(&against(&cli_inclusions[&(27, HEAD)]))["ok"], json!(true));
    assert_eq!(ok_json(&against(&cli_consistencies[&(9, HEAD)]))["ok"], json!(true));
    for file in [&cli_inclusions[&(20, 39)], &cli_consistencies[&(17, 31)]] {
        let v = refused(&against(file), "size");
        assert!(v["error"].as_str().unwrap().contains("40"), "{v}");
    }
    // A proof whose own root was replaced to match its damage: the checkpoint's root
    // still refuses it.
    let mut forged = inclusions[&(27, HEAD)].clone();
    forged.proof[0] = flip(&forged.proof[0]);
    let leaf = Hash::parse(&forged.event_hash).unwrap();
    let forged_path: Vec<Hash> = forged.proof.iter().map(|h| Hash::parse(h).unwrap()).collect();
    forged.root = recompute_inclusion_root(&leaf, 26, HEAD, &forged_path).to_hex();
    let forged_file = proof_file("forged.json".into(), &serde_json::to_value(&forged).unwrap());
    assert_eq!(
        ok_json(&run(&data, &["verify-proof", arg(&forged_file)]))["ok"],
        json!(true)
    );
    refused(&against(&forged_file), "proof");

    // Arguments out of range: exit 1, `"check":"arguments"`.
    for args in [
        &["proof", "inclusion", "--seq", "41"][..],
        &["proof", "inclusion", "--seq", "0"],
        &["proof", "inclusion", "--seq", "5", "--size", "4"],
        &["proof", "inclusion", "--seq", "5", "--size", "41"],
        &["proof", "consistency", "--from", "0"],
        &["proof", "consistency", "--from", "5", "--to", "4"],
        &["proof", "consistency", "--from", "5", "--to", "41"],
    ] {
        refused(&run(&data, args), "arguments");
    }
}

/// The root an inclusion path leads to (RFC 9162 §2.1.3.2 steps 2 to 6), to forge a proof
/// file that is consistent with its own root.
fn recompute_inclusion_root(event_hash: &Hash, index: u64, size: u64, path: &[Hash]) -> Hash {
    let (mut f, mut s) = (index, size - 1);
    let mut r = merkle::leaf_hash(event_hash);
    for p in path {
        if f & 1 == 1 || f == s {
            r = merkle::node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = merkle::node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    r
}

// ---------------------------------------------------------------------------------------
// 2. Checkpoints, and verification against earlier ones.

/// The success verdict of `verify --checkpoint`: exact keys, the checkpoint it verified.
fn verified(outcome: &Outcome, events: u64, cp: &Checkpoint) -> Value {
    let v = ok_json(outcome);
    assert_eq!(keys(&v), ["checkpoint", "events", "head", "ok", "root"], "{v}");
    assert_eq!(v["ok"], json!(true));
    assert_eq!(v["events"], json!(events), "{v}");
    assert_eq!(keys(&v["checkpoint"]), ["origin", "projection", "root", "size"], "{v}");
    assert_eq!(v["checkpoint"]["origin"], json!(cp.origin));
    assert_eq!(v["checkpoint"]["size"], json!(cp.size));
    assert_eq!(v["checkpoint"]["root"], json!(cp.root.to_hex()));
    assert_eq!(
        v["checkpoint"]["projection"],
        json!(proofs::committed_projection(cp).unwrap().to_hex())
    );
    v
}

#[test]
fn checkpoints_catch_a_cut_tail_a_rewritten_event_a_fork_and_forged_notes() {
    let (dir, data) = scratch();
    build_ledger(&data, 20);
    let vkey_text = verifier(&data);
    let vkey = write(dir.path(), "ledger.vkey", &vkey_text);
    let key = VerifierKey::parse(&vkey_text).expect("key public prints a verifier key");
    let cp1_text = checkpoint(&data);
    let cp1 = Checkpoint::open(&cp1_text, &key).expect("the checkpoint opens with key public's key");
    assert_eq!(cp1.size, 20);
    assert_eq!(cp1.origin, key.name(), "the origin is the key's name");
    assert_eq!(cp1.extensions.len(), 1, "{cp1_text}");
    assert!(
        cp1.extensions[0].starts_with(proofs::PROJECTION_EXTENSION),
        "{cp1_text}"
    );
    let cp1_file = write(dir.path(), "cp1", &cp1_text);
    let verify_store =
        |data: &Path, cp: &Path, vk: &Path| run(data, &["verify", "--checkpoint", arg(cp), "--key", arg(vk)]);
    let verify_file = |file: &Path, cp: &Path, vk: &Path| {
        run(
            &data,
            &["verify", "--file", arg(file), "--checkpoint", arg(cp), "--key", arg(vk)],
        )
    };

    // The store and its export verify against the checkpoint of their head; the tree root
    // the checkpoint signs is the one verify recomputes from the records.
    let v = verified(&verify_store(&data, &cp1_file, &vkey), 20, &cp1);
    assert_eq!(v["root"], json!(cp1.root.to_hex()));
    let e1 = dir.path().join("e1.jsonl");
    assert_eq!(run(&data, &["export", "--out", arg(&e1)]).code, 0);
    let v = verified(&verify_file(&e1, &cp1_file, &vkey), 20, &cp1);
    assert_eq!(v["root"], json!(cp1.root.to_hex()));

    // More appends: the new checkpoint is consistent with the old one, the old one still
    // verifies the grown store and its export, and a consistency proof joins the two.
    append(&data, &hamlets("b", 0, 10));
    let cp2_text = checkpoint(&data);
    let cp2 = Checkpoint::open(&cp2_text, &key).unwrap();
    assert_eq!(cp2.size, 30);
    assert_ne!(cp2.root, cp1.root);
    assert_ne!(
        cp2.extensions, cp1.extensions,
        "the projection moved with the new hamlets"
    );
    let cp2_file = write(dir.path(), "cp2", &cp2_text);
    let v = verified(&verify_store(&data, &cp1_file, &vkey), 30, &cp1);
    assert_eq!(v["root"], json!(cp2.root.to_hex()), "`root` is the whole log's");
    verified(&verify_store(&data, &cp2_file, &vkey), 30, &cp2);
    let e2 = dir.path().join("e2.jsonl");
    assert_eq!(run(&data, &["export", "--out", arg(&e2)]).code, 0);
    verified(&verify_file(&e2, &cp1_file, &vkey), 30, &cp1);
    verified(&verify_file(&e2, &cp2_file, &vkey), 30, &cp2);
    let joint = ok_json(&run(&data, &["proof", "consistency", "--from", "20"]));
    assert_eq!(joint["from_root"], json!(cp1.root.to_hex()));
    assert_eq!(joint["to_root"], json!(cp2.root.to_hex()));
    let joint = write(dir.path(), "joint.json", &format!("{joint}\n"));
    for cp in [&cp1_file, &cp2_file] {
        let ok = ok_json(&run(
            &data,
            &[
                "verify-proof",
                arg(&joint),
                "--checkpoint",
                arg(cp),
                "--key",
                arg(&vkey),
            ],
        ));
        assert_eq!(ok["ok"], json!(true));
    }

    let lines: Vec<String> = std::fs::read_to_string(&e2)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 30);
    let file_of = |name: &str, lines: &[String]| write(dir.path(), name, &(lines.join("\n") + "\n"));

    // A cut tail: the first 15 events chain on their own, but the checkpoint signed 20.
    let cut = file_of("cut.jsonl", &lines[..15]);
    let v = refused(&verify_file(&cut, &cp1_file, &vkey), "size");
    assert!(v["error"].as_str().unwrap().contains("tail was cut"), "{v}");
    assert!(v["error"].as_str().unwrap().contains("15"), "{v}");
    assert_eq!(v["seq"], json!(16), "the first missing record");

    // One event rewritten, its hash recomputed: the next record's link breaks.
    let rewrite = |line: &str| {
        let r = Record::from_export_line(line).expect("an export line");
        let mut fields = r.submission().to_value();
        fields.insert("name".into(), json!("Xóm giả"));
        let changed = Submission::from_object(fields).expect("still a valid submission");
        Record::seal(r.seq(), r.prev(), r.recorded_at(), r.actor().clone(), changed).export_line()
    };
    let mut changed = lines.clone();
    changed[14] = rewrite(&lines[14]);
    let changed = file_of("changed.jsonl", &changed);
    let v = refused(&verify_file(&changed, &cp1_file, &vkey), "chain");
    assert_eq!(v["seq"], json!(16), "the record after the rewritten one: {v}");
    // The last event rewritten: the chain holds (nothing follows it), but the tree root
    // signed at 30 does not; the checkpoint at 20 does not cover it and still passes.
    let mut last = lines.clone();
    last[29] = rewrite(&lines[29]);
    let last = file_of("last-changed.jsonl", &last);
    let v = refused(&verify_file(&last, &cp2_file, &vkey), "root");
    assert!(v["error"].as_str().unwrap().contains("rewritten"), "{v}");
    verified(&verify_file(&last, &cp1_file, &vkey), 30, &cp1);

    // A fork: the same first 15 events (imported), then 15 others. Longer than the
    // checkpoint, chained, but not the history it signed.
    let fork = dir.path().join("fork");
    let head15 = file_of("head15.jsonl", &lines[..15]);
    assert_eq!(run(&fork, &["import", arg(&head15)]).code, 0);
    append(&fork, &hamlets("fork", 0, 15));
    for cp in [&cp1_file, &cp2_file] {
        let v = refused(&verify_store(&fork, cp, &vkey), "root");
        assert!(v["error"].as_str().unwrap().contains("fork"), "{v}");
    }
    let fork_export = dir.path().join("fork.jsonl");
    assert_eq!(run(&fork, &["export", "--out", arg(&fork_export)]).code, 0);
    refused(&verify_file(&fork_export, &cp1_file, &vkey), "root");
    // And the fork's own checkpoint is no proof for the original either.
    let fork_cp = write(dir.path(), "fork.cp", &checkpoint(&fork));
    let fork_vkey = write(dir.path(), "fork.vkey", &verifier(&fork));
    refused(&verify_store(&data, &fork_cp, &fork_vkey), "root");

    // A checkpoint with one byte changed: in the root line, in the size line, in the
    // signature.
    let root_line = cp1_text.lines().nth(2).unwrap();
    let other = if root_line.starts_with('A') { "B" } else { "A" };
    let forged_texts = [
        cp1_text.replacen(root_line, &format!("{other}{}", &root_line[1..]), 1),
        cp1_text.replacen("\n20\n", "\n21\n", 1),
        {
            let sig_at = cp1_text.rfind(' ').unwrap() + 20;
            let mut bytes = cp1_text.clone().into_bytes();
            bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        },
    ];
    for (i, text) in forged_texts.iter().enumerate() {
        assert_ne!(text, &cp1_text);
        let file = write(dir.path(), &format!("forged-{i}.cp"), text);
        refused(&verify_store(&data, &file, &vkey), "signature");
        refused(&verify_file(&e2, &file, &vkey), "signature");
    }

    // The right checkpoint, but another key: one with the very same name, and another.
    let other_key = dir.path().join("other.key");
    let other_name = run(
        &data,
        &["key", "public", "--key", arg(&other_key), "--origin", key.name()],
    );
    assert_eq!(other_name.code, 0, "{other_name:?}");
    assert_ne!(other_name.stdout, vkey_text);
    let same_name = write(dir.path(), "same-name.vkey", &other_name.stdout);
    let v = refused(&verify_store(&data, &cp1_file, &same_name), "signature");
    assert!(v["error"].as_str().unwrap().contains(key.name()), "{v}");
    refused(&verify_file(&e2, &cp1_file, &fork_vkey), "signature");
    // Not a key at all.
    let junk = write(dir.path(), "junk.vkey", "not-a-key\n");
    refused(&verify_store(&data, &cp1_file, &junk), "key");

    // The projection line altered and re-signed with the ledger's own key: the signature
    // holds, the tree root holds, the replayed projection does not.
    let signer = load_key(&data.join("checkpoint.key")).expect("the ledger's key file");
    assert_eq!(signer.verifier().to_text() + "\n", vkey_text);
    let mut lying = cp1.clone();
    lying.extensions = vec![format!("{}{}", proofs::PROJECTION_EXTENSION, "ab".repeat(32))];
    let lying = write(dir.path(), "lying.cp", &lying.sign(&signer).unwrap());
    let v = refused(&verify_store(&data, &lying, &vkey), "projection");
    assert!(v["error"].as_str().unwrap().contains(&"ab".repeat(32)), "{v}");
    refused(&verify_file(&e2, &lying, &vkey), "projection");
    // And a checkpoint that commits to no projection at all.
    let mut bare = cp1.clone();
    bare.extensions.clear();
    let bare = write(dir.path(), "bare.cp", &bare.sign(&signer).unwrap());
    refused(&verify_store(&data, &bare, &vkey), "projection");
    // The projection of the grown ledger signed for the old size: also wrong.
    let mut moved = cp1.clone();
    moved.extensions = cp2.extensions.clone();
    let moved = write(dir.path(), "moved.cp", &moved.sign(&signer).unwrap());
    refused(&verify_file(&e2, &moved, &vkey), "projection");
    // The very checkpoint signed by the ledger's own key with another ledger's name as its
    // origin: its signature holds, but a key signs only its own ledger's checkpoints.
    let renamed_text =
        orgledger::checkpoint::sign_note(&cp1.body().replacen(key.name(), "orgledger.example/other", 1), &signer)
            .expect("the note layer signs any text");
    let renamed = write(dir.path(), "renamed.cp", &renamed_text);
    let proof = run(&data, &["proof", "inclusion", "--seq", "3", "--size", "20"]);
    assert_eq!(proof.code, 0, "{proof:?}");
    let proof_file = write(dir.path(), "inclusion-3-20.json", &proof.stdout);
    for outcome in [
        verify_store(&data, &renamed, &vkey),
        verify_file(&e2, &renamed, &vkey),
        run(
            &data,
            &[
                "verify-proof",
                arg(&proof_file),
                "--checkpoint",
                arg(&renamed),
                "--key",
                arg(&vkey),
            ],
        ),
    ] {
        let v = refused(&outcome, "signature");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("origin \"orgledger.example/other\" is not the name of the key"),
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. A damaged stored tree.

/// The stored tree nodes, `(level, index)`, read from sled directly (keys `t` + level +
/// index big-endian in the `log` tree): the store keeps only those of `TILE_HEIGHT` and up,
/// and there is no public API to list or write them.
fn stored_nodes(data: &Path) -> Vec<(u8, u64)> {
    let db = sled::Config::new().path(data).open().expect("sled opens the store");
    let log = db.open_tree("log").unwrap();
    let nodes = log
        .scan_prefix([b't'])
        .keys()
        .map(|k| k.unwrap())
        .filter(|k| k.len() == 10)
        .map(|k| (k[1], u64::from_be_bytes(k[2..].try_into().unwrap())))
        .collect();
    drop(log);
    drop(db);
    common::wait_until_released(data);
    nodes
}

/// Sets stored node `(level, index)` to `value` (or to itself with its first byte changed)
/// behind the store's back, as a disk or an intruder would; returns the value it had.
fn set_node(data: &Path, level: u8, index: u64, value: Option<Vec<u8>>) -> Vec<u8> {
    let db = sled::Config::new().path(data).open().expect("sled opens the store");
    let log = db.open_tree("log").unwrap();
    let mut key = vec![b't', level];
    key.extend_from_slice(&index.to_be_bytes());
    let old = log.get(&key).unwrap().expect("the node is stored").to_vec();
    let new = value.unwrap_or_else(|| {
        let mut v = old.clone();
        v[0] ^= 0x55;
        v
    });
    log.insert(&key, new).unwrap();
    db.flush().unwrap();
    drop(log);
    drop(db);
    common::wait_until_released(data);
    old
}

/// The stored perfect nodes `(level, index)` that a fold over leaves `[start, start + len)`
/// reads: one per set bit of `len`, largest first.
fn pieces(start: u64, len: u64) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    let mut offset = start;
    for level in (0..64u32).rev().filter(|l| len >> l & 1 == 1) {
        out.push((level, offset >> level));
        offset += 1 << level;
    }
    out
}

/// The ranges an RFC 9162 audit path of leaf `m` in `[start, start + len)` is made of.
fn path_ranges(m: u64, start: u64, len: u64, out: &mut Vec<(u64, u64)>) {
    if len == 1 {
        return;
    }
    let k = 1u64 << (63 - (len - 1).leading_zeros());
    if m < k {
        path_ranges(m, start, k, out);
        out.push((start + k, len - k));
    } else {
        path_ranges(m - k, start + k, len - k, out);
        out.push((start, k));
    }
}

/// The first seq whose audit path in the tree of `size` reads node `(level, index)`.
fn user_of_node(level: u32, index: u64, size: u64) -> u64 {
    (0..size)
        .find(|&m| {
            let mut ranges = Vec::new();
            path_ranges(m, 0, size, &mut ranges);
            ranges.iter().any(|&(s, l)| pieces(s, l).contains(&(level, index)))
        })
        .map(|m| m + 1)
        .expect("every perfect node of the tree is on some path")
}

#[test]
fn a_damaged_stored_tree_node_fails_verify_and_its_proofs() {
    const HEAD: u64 = 160;
    let (dir, data) = scratch();
    build_ledger(&data, HEAD as usize);
    let vkey = write(dir.path(), "v.vkey", &verifier(&data));
    let cp = write(dir.path(), "good.cp", &checkpoint(&data));
    assert_eq!(ok_json(&run(&data, &["verify"]))["ok"], json!(true));

    // 160 leaves: the store keeps (6,0), (6,1) and (7,0) (levels 6 and up); the root folds
    // (7,0) with the 32 leaves after it, so (6,0) and (6,1) are read by proofs only.
    let nodes = stored_nodes(&data);
    assert_eq!(nodes, vec![(6, 0), (6, 1), (7, 0)]);
    let mut missed = Vec::new();
    for &(level, index) in &nodes {
        let old = set_node(&data, level, index, None);
        // `verify` must refuse the store (the proofs are made from these nodes), naming
        // the Merkle tree; `verify --checkpoint` too.
        let outcome = run(&data, &["verify"]);
        if outcome.code == 1 {
            let v: Value = serde_json::from_str(outcome.stdout.trim()).expect("a JSON verdict");
            assert_eq!(v["ok"], json!(false), "{v}");
            assert!(
                v["error"].as_str().unwrap().contains("Merkle tree"),
                "node ({level}, {index}): {v}"
            );
            let args = ["verify", "--checkpoint", arg(&cp), "--key", arg(&vkey)];
            let v = refused(&run(&data, &args), "chain");
            assert!(v["error"].as_str().unwrap().contains("Merkle tree"), "{v}");
        } else {
            assert_eq!(outcome.code, 0, "{outcome:?}");
            missed.push((level, index));
        }
        // The proof of a leaf whose path reads the node never verifies against the
        // checkpoint signed before the damage.
        let seq = user_of_node(u32::from(level), index, HEAD);
        let proof = run(&data, &["proof", "inclusion", "--seq", &seq.to_string()]);
        assert_eq!(proof.code, 0, "{proof:?}");
        let file = write(dir.path(), "p.json", &proof.stdout);
        let args = [
            "verify-proof",
            arg(&file),
            "--checkpoint",
            arg(&cp),
            "--key",
            arg(&vkey),
        ];
        refused(&run(&data, &args), "proof");
        set_node(&data, level, index, Some(old));
    }
    assert_eq!(
        ok_json(&run(&data, &["verify"]))["ok"],
        json!(true),
        "every node restored"
    );
    assert!(
        missed.is_empty(),
        "`orgledger verify` passed with these stored tree nodes damaged (level, index): {missed:?}"
    );
}

#[test]
fn the_lower_tree_nodes_of_a_store_of_the_format_before_are_not_read() {
    // A store written before `orgledger-store-4` also holds the nodes of levels 4 and 5.
    // This version computes them from the records, so even damaged ones change nothing:
    // `verify` passes and every proof verifies against a checkpoint signed before.
    const HEAD: u64 = 160;
    let (dir, data) = scratch();
    build_ledger(&data, HEAD as usize);
    let vkey = write(dir.path(), "v.vkey", &verifier(&data));
    let cp = write(dir.path(), "good.cp", &checkpoint(&data));
    {
        let db = sled::Config::new().path(&data).open().expect("sled opens the store");
        let log = db.open_tree("log").unwrap();
        for (level, count) in [(4u8, HEAD / 16), (5, HEAD / 32)] {
            for index in 0..count {
                let mut key = vec![b't', level];
                key.extend_from_slice(&index.to_be_bytes());
                log.insert(key, vec![0x55; 32]).unwrap();
            }
        }
        log.insert("format", &b"orgledger-store-3"[..]).unwrap();
        db.flush().unwrap();
    }
    common::wait_until_released(&data);
    assert_eq!(ok_json(&run(&data, &["verify"]))["ok"], json!(true));
    for seq in [1, 17, 40, 100, HEAD] {
        let proof = run(&data, &["proof", "inclusion", "--seq", &seq.to_string()]);
        assert_eq!(proof.code, 0, "{proof:?}");
        let file = write(dir.path(), "p.json", &proof.stdout);
        let args = [
            "verify-proof",
            arg(&file),
            "--checkpoint",
            arg(&cp),
            "--key",
            arg(&vkey),
        ];
        assert_eq!(ok_json(&run(&data, &args))["ok"], json!(true), "seq {seq}");
    }
}

// ---------------------------------------------------------------------------------------
// 4. The key file.

#[test]
fn the_key_is_made_once_with_mode_0600_and_keeps_its_name() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, data) = scratch();
    append(&data, &fixture_text());
    let key_file = data.join("checkpoint.key");
    assert!(!key_file.exists());

    let first = run(&data, &["key", "public"]);
    assert_eq!(first.code, 0, "{first:?}");
    let mode = std::fs::metadata(&key_file)
        .expect("the key file is made")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    let secret = std::fs::read_to_string(&key_file).unwrap();
    assert!(secret.starts_with("PRIVATE+KEY+"), "the signer key text");
    assert!(!first.stdout.contains("PRIVATE"), "key public prints no secret");

    // `name+8hex+base64`, one line; the default name is the data directory's.
    let text = first.stdout.strip_suffix('\n').expect("one line");
    let mut parts = text.splitn(3, '+');
    let (name, id, b64) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    assert_eq!(name, "orgledger.local/ledger");
    assert!(
        id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{id}"
    );
    assert_eq!(b64.len(), 44, "base64 of 0x01 and 32 key bytes: {b64}");
    assert!(
        b64.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "{b64}"
    );
    assert!(b64.starts_with('A'), "the Ed25519 type byte 0x01 opens the key: {b64}");
    let parsed = VerifierKey::parse(text).expect("a verifier key");
    assert_eq!(parsed.to_text(), text);
    assert_eq!(load_key(&key_file).unwrap().verifier(), parsed);

    // Made once: later commands use it, and the checkpoint is signed by it.
    assert_eq!(run(&data, &["key", "public"]).stdout, first.stdout);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), secret);
    let cp = checkpoint(&data);
    let opened = Checkpoint::open(&cp, &parsed).expect("signed by the key file");
    assert_eq!(
        (opened.origin.as_str(), opened.size),
        ("orgledger.local/ledger", FIXTURE_EVENTS)
    );

    // An --origin that is not the existing key's name is refused (exit 2); its own is fine.
    for args in [
        &["key", "public", "--origin", "other.example"][..],
        &["checkpoint", "--origin", "other.example"],
    ] {
        let outcome = run(&data, args);
        assert_eq!(outcome.code, 2, "{outcome:?}");
        assert_eq!(outcome.stdout, "", "{outcome:?}");
        assert!(outcome.stderr.contains("--origin other.example"), "{outcome:?}");
        assert!(outcome.stderr.contains("orgledger.local/ledger"), "{outcome:?}");
    }
    assert_eq!(
        run(&data, &["key", "public", "--origin", "orgledger.local/ledger"]).stdout,
        first.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        secret,
        "a refusal changes nothing"
    );

    // --key FILE: a new key there, with the name --origin gives, mode 0600 too; the
    // checkpoint carries that name as its origin.
    let own = dir.path().join("own.key");
    let outcome = run(
        &data,
        &["checkpoint", "--key", arg(&own), "--origin", "ledger.example/dam-thuy"],
    );
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(std::fs::metadata(&own).unwrap().permissions().mode() & 0o777, 0o600);
    let own_key = load_key(&own).unwrap();
    assert_eq!(own_key.name(), "ledger.example/dam-thuy");
    let opened = Checkpoint::open(&outcome.stdout, &own_key.verifier()).unwrap();
    assert_eq!(opened.origin, "ledger.example/dam-thuy");
    // A name no key may have is refused before any file is made.
    let bad = dir.path().join("bad.key");
    let outcome = run(&data, &["key", "public", "--key", arg(&bad), "--origin", "two words"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(!bad.exists());
}

// ---------------------------------------------------------------------------------------
// 5. GraphQL and GET /checkpoint.

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not an integer"))
}

fn inclusion_of(v: &Value) -> InclusionProof {
    InclusionProof {
        kind: v["type"].as_str().unwrap().to_owned(),
        seq: u64_of(&v["seq"]),
        size: u64_of(&v["size"]),
        event_hash: v["eventHash"].as_str().unwrap().to_owned(),
        root: v["root"].as_str().unwrap().to_owned(),
        proof: v["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect(),
    }
}

fn consistency_of(v: &Value) -> ConsistencyProof {
    ConsistencyProof {
        kind: v["type"].as_str().unwrap().to_owned(),
        from: u64_of(&v["from"]),
        to: u64_of(&v["to"]),
        from_root: v["fromRoot"].as_str().unwrap().to_owned(),
        to_root: v["toRoot"].as_str().unwrap().to_owned(),
        proof: v["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect(),
    }
}

const CHECKPOINT_QUERY: &str = "{ checkpoint { text size root origin projection } head { seq } }";
const INCLUSION_FIELDS: &str = "type seq size eventHash root proof";

/// The `checkpoint` query, opened with the server's verifier key and checked field by
/// field against the note it carries.
async fn checked_checkpoint(server: &TestServer, token: &str) -> (Checkpoint, String) {
    let key = VerifierKey::parse(&server.checkpoint_verifier).unwrap();
    let data = server.data(token, CHECKPOINT_QUERY, json!({})).await;
    let c = &data["checkpoint"];
    let text = c["text"].as_str().unwrap().to_owned();
    let cp = Checkpoint::open(&text, &key).expect("the served note opens with the server's key");
    assert_eq!(u64_of(&c["size"]), cp.size);
    assert_eq!(cp.size, u64_of(&data["head"]["seq"]), "the checkpoint is of the head");
    assert_eq!(c["root"], json!(cp.root.to_hex()));
    assert_eq!(c["origin"], json!(cp.origin));
    assert_eq!(cp.origin, key.name());
    assert_eq!(
        c["projection"],
        json!(proofs::committed_projection(&cp).unwrap().to_hex())
    );
    (cp, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_serves_checkpoints_and_proofs_to_auditors_only() {
    let server = TestServer::start().await;
    let more: Vec<Submission> = hamlets("g", 0, 9)
        .lines()
        .map(|l| Submission::from_json(l).unwrap())
        .collect();
    server
        .ledger
        .append_async(Id::parse("fixture").unwrap(), more, None)
        .await
        .expect("the hamlets append");
    let head = FIXTURE_EVENTS + 9;

    let (cp, text) = checked_checkpoint(&server, &server.auditor).await;
    assert_eq!(cp.size, head);
    let (admin_cp, _) = checked_checkpoint(&server, &server.admin).await;
    assert_eq!(admin_cp, cp);

    // The root the server signs is the naive tree's over the event hashes it lists.
    let events = server
        .data(
            &server.auditor,
            &format!("{{ events(first: 100) {{ edges {{ node {{ seq hash proof {{ {INCLUSION_FIELDS} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    let edges = events["events"]["edges"].as_array().unwrap();
    assert_eq!(edges.len() as u64, head);
    let hashes: Vec<Hash> = edges
        .iter()
        .map(|e| Hash::parse(e["node"]["hash"].as_str().unwrap()).unwrap())
        .collect();
    let leaves: Vec<Hash> = hashes.iter().map(merkle::leaf_hash).collect();
    assert_eq!(mth(&leaves), cp.root);
    // `Event.proof`: each against the signed root, with the merkle verifier.
    for (i, edge) in edges.iter().enumerate() {
        let p = inclusion_of(&edge["node"]["proof"]);
        assert_eq!((p.seq, p.size), (i as u64 + 1, head));
        assert_eq!(p.event_hash, hashes[i].to_hex());
        let path: Vec<Hash> = p.proof.iter().map(|h| Hash::parse(h).unwrap()).collect();
        merkle::verify_inclusion(&hashes[i], i as u64, cp.size, &path, &cp.root)
            .unwrap_or_else(|e| panic!("Event.proof of {}: {e}", i + 1));
        assert_eq!(path, naive_path(i, &leaves));
    }

    // `inclusionProof(seq, size)` for every seq, at the head and at smaller sizes; and
    // `consistencyProof(from, to)` for every from up to the head.
    for size in [1, 2, 7, 8, 13, head] {
        for seq in 1..=size {
            let data = server
                .data(
                    &server.auditor,
                    &format!("query($seq: Int!, $size: Int) {{ inclusionProof(seq: $seq, size: $size) {{ {INCLUSION_FIELDS} }} }}"),
                    json!({"seq": seq, "size": size}),
                )
                .await;
            let p = inclusion_of(&data["inclusionProof"]);
            assert_eq!((p.kind.as_str(), p.seq, p.size), ("inclusion", seq, size));
            assert_eq!(p.root, mth(&leaves[..size as usize]).to_hex());
            let checkpoint = (size == head).then_some(&cp);
            assert_eq!(
                AnyProof::Inclusion(p).verify(checkpoint),
                Ok(format!("event {seq} is in the tree of {size} events"))
            );
        }
    }
    for from in 1..=head {
        let data = server
            .data(
                &server.auditor,
                "query($from: Int!) { consistencyProof(from: $from) { type from to fromRoot toRoot proof } }",
                json!({"from": from}),
            )
            .await;
        let p = consistency_of(&data["consistencyProof"]);
        assert_eq!((p.kind.as_str(), p.from, p.to), ("consistency", from, head));
        assert_eq!(p.from_root, mth(&leaves[..from as usize]).to_hex());
        assert!(p.proof.len() <= ceil_log2(head) + 1);
        AnyProof::Consistency(p)
            .verify(Some(&cp))
            .unwrap_or_else(|f| panic!("{from} to {head}: {f}"));
    }
    let data = server
        .data(
            &server.auditor,
            "{ consistencyProof(from: 3, to: 4) { type from to fromRoot toRoot proof } }",
            json!({}),
        )
        .await;
    assert_eq!(data["consistencyProof"]["proof"].as_array().unwrap().len(), 3);
    // Past the head: refused, not an empty proof.
    for query in [
        "{ inclusionProof(seq: 99) { root } }",
        "{ inclusionProof(seq: 1, size: 99) { root } }",
        "{ consistencyProof(from: 1, to: 99) { proof } }",
        "{ consistencyProof(from: 0) { proof } }",
    ] {
        let (status, body) = server.gql(Some(&server.auditor), query, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{query}: {body}"
        );
        assert_eq!(code(&body), "BAD_USER_INPUT", "{query}: {body}");
    }

    // A reader is refused every proof and the checkpoint.
    for query in [
        CHECKPOINT_QUERY,
        "{ inclusionProof(seq: 1) { root } }",
        "{ consistencyProof(from: 1) { proof } }",
        "{ events(first: 1) { edges { node { proof { root proof } } } } }",
    ] {
        let (status, body) = server.gql(Some(&server.reader), query, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(code(&body), "FORBIDDEN", "{query}: {body}");
    }

    // GET /checkpoint: the same note, as text, for auditors only.
    let url = format!("{}/checkpoint", server.base);
    let resp = server.http.get(&url).bearer_auth(&server.auditor).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(resp.text().await.unwrap(), text);
    let resp = server.http.get(&url).bearer_auth(&server.reader).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let resp = server.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // The head moves: a new checkpoint, consistent with the old one by the served proof.
    server
        .ledger
        .append_async(
            Id::parse("fixture").unwrap(),
            hamlets("h", 0, 4)
                .lines()
                .map(|l| Submission::from_json(l).unwrap())
                .collect(),
            None,
        )
        .await
        .unwrap();
    let (cp2, text2) = checked_checkpoint(&server, &server.auditor).await;
    assert_eq!(cp2.size, head + 4);
    let resp = server.http.get(&url).bearer_auth(&server.auditor).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), text2, "GET /checkpoint follows the head");
    let data = server
        .data(
            &server.auditor,
            "query($from: Int!, $to: Int!) { consistencyProof(from: $from, to: $to) { type from to fromRoot toRoot proof } }",
            json!({"from": cp.size, "to": cp2.size}),
        )
        .await;
    let p = consistency_of(&data["consistencyProof"]);
    let path: Vec<Hash> = p.proof.iter().map(|h| Hash::parse(h).unwrap()).collect();
    merkle::verify_consistency(cp.size, cp2.size, &cp.root, &cp2.root, &path).expect("the old checkpoint is a prefix");
    server.stop().await;
}
