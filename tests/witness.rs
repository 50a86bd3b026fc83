//! Witnesses (C2SP tlog-witness, tlog-cosignature): the protocol's answers one by one on the
//! library, then a split view end to end through the command line: three witnesses, a ledger
//! and its fork signed by the same key, checkpoints cosigned by a quorum, and verifiers that
//! demand one.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use orgledger::checkpoint::{self, Checkpoint, Cosigned, KeyType, SigningKey, VerifierKey};
use orgledger::event::Hash;
use orgledger::merkle::{self, MemoryTree};
use orgledger::witness::{self, Witness};

const LEDGER: &str = "ledger.example/trung-khanh";

fn ledger_key() -> SigningKey {
    SigningKey::from_seed(LEDGER, [7; 32]).unwrap()
}

/// A tree of `n` leaves whose event hashes are `tag` then the leaf's number: two tags share
/// no leaf, one tag gives trees that are prefixes of each other.
fn tree(n: u64, tag: u8, fork_at: u64) -> MemoryTree {
    let hashes: Vec<Hash> = (0..n)
        .map(|i| {
            let mut h = [0u8; 32];
            h[0] = if i >= fork_at { tag } else { 0 };
            h[1..9].copy_from_slice(&i.to_be_bytes());
            Hash(h)
        })
        .collect();
    MemoryTree::from_event_hashes(&hashes)
}

fn signed(tree: &MemoryTree, key: &SigningKey) -> String {
    Checkpoint {
        origin: key.name().to_string(),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![],
    }
    .sign(key)
    .unwrap()
}

fn new_witness(dir: &Path) -> Witness {
    witness::init(dir, "witness.example/w1").unwrap();
    Witness::open(dir, vec![ledger_key().verifier()])
        .unwrap()
        .with_clock(|| 1_700_000_000)
}

fn body(old: u64, to: &MemoryTree, note: &str) -> String {
    let proof = if old == 0 || old == to.size() {
        vec![]
    } else {
        merkle::consistency_proof(to, old, to.size()).unwrap()
    };
    witness::request_body(old, &proof, note)
}

#[test]
fn a_witness_cosigns_what_extends_what_it_holds_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let w = new_witness(dir.path());
    let wkey = w.key().verifier();
    assert_eq!(wkey.kind(), KeyType::Cosigner);

    // First sight of the ledger: old 0, no proof.
    let t10 = tree(10, 0, u64::MAX);
    let note10 = signed(&t10, &ledger_key());
    let answer = w.add_checkpoint(&body(0, &t10, &note10));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.starts_with("\u{2014} witness.example/w1 "),
        "{}",
        answer.body
    );
    let cosigned = format!("{note10}{}", answer.body);
    assert_eq!(
        checkpoint::cosignatures(&cosigned, std::slice::from_ref(&wkey)).unwrap(),
        vec![Cosigned::Valid { time: 1_700_000_000 }]
    );
    // The cosigned note still opens with the ledger's key (other lines are ignored).
    Checkpoint::open(&cosigned, &ledger_key().verifier()).unwrap();

    // The same checkpoint again is cosigned again; a stale old size gets 409 and the size.
    assert_eq!(w.add_checkpoint(&body(10, &t10, &note10)).status, 200);
    let t25 = tree(25, 0, u64::MAX);
    let note25 = signed(&t25, &ledger_key());
    let stale = w.add_checkpoint(&body(0, &t25, &note25));
    assert_eq!(
        (stale.status, stale.content_type, stale.body.as_str()),
        (409, witness::SIZE_MEDIA_TYPE, "10\n")
    );
    // From the size it holds, with the consistency proof: cosigned.
    let grown = w.add_checkpoint(&body(10, &t25, &note25));
    assert_eq!(grown.status, 200, "{}", grown.body);
    assert_eq!(w.latest(LEDGER).unwrap().size, 25);

    // A fork past seq 20: same size, another root -> 409, evidence kept.
    let fork25 = tree(25, 9, 20);
    let fork_note = signed(&fork25, &ledger_key());
    let same_size = w.add_checkpoint(&body(25, &fork25, &fork_note));
    assert_eq!(same_size.status, 409, "{}", same_size.body);
    assert!(same_size.body.contains("two histories"), "{}", same_size.body);
    // A longer fork with its own (honest for it) proof from 25 -> 422, evidence kept.
    let fork40 = tree(40, 9, 20);
    let fork40_note = signed(&fork40, &ledger_key());
    let longer = w.add_checkpoint(&body(25, &fork40, &fork40_note));
    assert_eq!(longer.status, 422, "{}", longer.body);
    assert_eq!(w.latest(LEDGER).unwrap().size, 25, "a refusal changes nothing");
    // One witness process per directory.
    let second = Witness::open(dir.path(), vec![ledger_key().verifier()]);
    assert!(second.is_err_and(|e| e.to_string().contains("another witness process")));
    drop(w);
    let kept = witness::evidence(dir.path()).unwrap();
    assert_eq!(kept.iter().map(|e| e.status).collect::<Vec<_>>(), vec![409, 422]);
    assert_eq!(kept[0].latest.size, 25);
    assert_eq!(kept[1].request, body(25, &fork40, &fork40_note));

    // What it cosigned survives a restart.
    let w = Witness::open(dir.path(), vec![ledger_key().verifier()]).unwrap();
    assert_eq!(w.latest(LEDGER).unwrap().size, 25);
}

#[test]
fn a_witness_answers_each_bad_request_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let w = new_witness(dir.path());
    let t5 = tree(5, 0, u64::MAX);
    let note = signed(&t5, &ledger_key());

    // Unknown origin: 404.
    let stranger = SigningKey::from_seed("ledger.example/other", [8; 32]).unwrap();
    assert_eq!(w.add_checkpoint(&body(0, &t5, &signed(&t5, &stranger))).status, 404);
    // Signed by another key under the ledger's name: 403.
    let impostor = SigningKey::from_seed(LEDGER, [9; 32]).unwrap();
    assert_eq!(w.add_checkpoint(&body(0, &t5, &signed(&t5, &impostor))).status, 403);
    // A signature that does not verify: 403.
    let tampered = note.replacen("\n5\n", "\n6\n", 1);
    assert_eq!(w.add_checkpoint(&body(0, &t5, &tampered)).status, 403);
    // old > size, a malformed old line, a bad proof line, no empty line, a proof from 0: 400.
    for bad in [
        witness::request_body(6, &[], &note),
        format!("old 05\n\n{note}"),
        format!("old five\n\n{note}"),
        format!("old 0\nnot-base64\n\n{note}"),
        "old 0\n".to_string(),
        witness::request_body(0, &[Hash([1; 32])], &note),
        String::new(),
    ] {
        let answer = w.add_checkpoint(&bad);
        assert_eq!(answer.status, 400, "{bad:?}: {}", answer.body);
    }
    // More than 63 proof lines: 400.
    let long = witness::request_body(3, &vec![Hash([1; 32]); 64], &note);
    assert_eq!(w.add_checkpoint(&long).status, 400);
    // None of these changed anything, and none was evidence.
    assert!(w.latest(LEDGER).is_none());
    assert!(witness::evidence(dir.path()).unwrap().is_empty());

    // A witness's key cannot sign a ledger's checkpoint, nor a ledger's key cosign.
    assert!(Checkpoint {
        origin: w.key().name().into(),
        size: 1,
        root: Hash([0; 32]),
        extensions: vec![]
    }
    .sign(w.key())
    .is_err());
    assert!(checkpoint::cosign(
        &Checkpoint::body(&Checkpoint {
            origin: LEDGER.into(),
            size: 1,
            root: Hash([0; 32]),
            extensions: vec![]
        }),
        &ledger_key(),
        1
    )
    .is_err());
    // Opening needs a witness key file made by init.
    let empty = tempfile::tempdir().unwrap();
    assert!(Witness::open(empty.path(), vec![ledger_key().verifier()]).is_err());
    // init refuses to replace a key.
    assert!(witness::init(dir.path(), "witness.example/again").is_err());
}

#[test]
fn cosignature_key_texts_round_trip_and_name_their_type() {
    let key = SigningKey::from_seed_of("witness.example/w9", KeyType::Cosigner, [3; 32]).unwrap();
    let back = SigningKey::from_text(&key.to_text()).unwrap();
    assert_eq!(back, key);
    let vkey = VerifierKey::parse(&key.verifier().to_text()).unwrap();
    assert_eq!(vkey.kind(), KeyType::Cosigner);
    // The payload starts with 0x04 ("BA" in base64 of 0x04 followed by key bytes).
    let payload = key.verifier().to_text().rsplit('+').next().unwrap().to_string();
    assert!(payload.starts_with("B"), "{payload}");
    // Same seed and name as a ledger key: another key ID.
    let ledger = SigningKey::from_seed("witness.example/w9", [3; 32]).unwrap();
    assert_ne!(ledger.key_id(), key.key_id());
}

// ---- end to end, through the command line ----

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_orgledger")
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// A witness process on a free loopback port; killed on drop.
struct WitnessProcess {
    child: Child,
    url: String,
}

impl WitnessProcess {
    fn start(dir: &Path, logs: &[&Path]) -> WitnessProcess {
        let mut args = vec![
            "witness".to_string(),
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        for log in logs {
            args.push("--log".into());
            args.push(log.to_str().unwrap().into());
        }
        args.push("--data".into());
        args.push(dir.to_str().unwrap().into());
        let mut child = Command::new(bin())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .expect("listening on")
            .to_string();
        WitnessProcess { child, url }
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(slug: &str) -> String {
    format!(
        "{{\"type\":\"LocalityRegistered\",\"effective\":\"2005-01-01\",\"locality\":\"{slug}\",\"name\":\"{slug}\",\"kind\":\"hamlet\",\"parent\":\"xa-00-00\",\"border\":false}}\n"
    )
}

#[test]
fn a_split_view_is_refused_by_the_witnesses_and_by_a_verifier_with_a_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    // A ledger, then a fork of it: a copy of its store (same key) that takes other events.
    ok(&["--data", &s(&d("ledger")), "generate", "--events", "200"]);
    let vkey = write(
        &d("ledger.vkey"),
        &ok(&["--data", &s(&d("ledger")), "key", "public", "--origin", LEDGER]),
    );
    let copy = Command::new("cp")
        .args(["-r", &s(&d("ledger")), &s(&d("fork"))])
        .status()
        .unwrap();
    assert!(copy.success());
    let a = write(&d("a.jsonl"), &event("xom-ban-a"));
    let b = write(&d("b.jsonl"), &event("xom-ban-b"));
    ok(&["--data", &s(&d("ledger")), "append", &s(&a)]);
    ok(&["--data", &s(&d("fork")), "append", &s(&b)]);

    // Three witnesses of the ledger.
    let mut witnesses = Vec::new();
    let mut wkeys = Vec::new();
    for i in 1..=3 {
        let wdir = d(&format!("w{i}"));
        let text = ok(&[
            "--data",
            &s(&wdir),
            "witness",
            "init",
            "--origin",
            &format!("witness.example/w{i}"),
        ]);
        wkeys.push(write(&d(&format!("w{i}.vkey")), &text));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(wdir.join("witness.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        witnesses.push(WitnessProcess::start(&wdir, &[&vkey]));
    }
    let witness_args = |which: &[usize]| -> Vec<String> {
        which
            .iter()
            .flat_map(|&i| {
                [
                    "--witness".to_string(),
                    format!("{}={}", witnesses[i].url, s(&wkeys[i])),
                ]
            })
            .collect()
    };

    // w1 and w2 cosign the ledger's head.
    let mut args = vec!["--data".to_string(), s(&d("ledger")), "checkpoint".into()];
    args.extend(witness_args(&[0, 1]));
    let cp = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let cp_file = write(&d("ledger.cp"), &cp);
    // w3 first sees the fork, and cosigns it (it has seen nothing else).
    let mut args = vec!["--data".to_string(), s(&d("fork")), "checkpoint".into()];
    args.extend(witness_args(&[2]));
    let fork_cp = write(&d("fork.cp"), &ok(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    // Asked to cosign the fork, w1 and w2 refuse it and keep the evidence.
    let mut args = vec!["--data".to_string(), s(&d("fork")), "checkpoint".into()];
    args.extend(witness_args(&[0, 1]));
    args.extend(["--quorum".into(), "1".into()]);
    let refused = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(refused.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(verdict["check"], "quorum", "{verdict}");
    assert!(
        verdict["error"].as_str().unwrap().contains("two histories"),
        "{verdict}"
    );
    for i in 0..2 {
        let evidence = ok(&["--data", &s(&d(&format!("w{}", i + 1))), "witness", "evidence"]);
        let first: serde_json::Value = serde_json::from_str(evidence.lines().next().expect("evidence kept")).unwrap();
        assert_eq!(first["status"], 409);
        assert_eq!(first["origin"], LEDGER);
        assert!(first["request"].as_str().unwrap().contains(LEDGER));
    }
    assert_eq!(ok(&["--data", &s(&d("w3")), "witness", "evidence"]), "");

    // A verifier demanding 2 of the 3: the ledger's checkpoint passes, the fork's does not.
    let quorum = |cp: &PathBuf, data: &PathBuf| -> std::process::Output {
        let mut args = vec![
            "--data".to_string(),
            s(data),
            "verify".into(),
            "--checkpoint".into(),
            s(cp),
            "--key".into(),
            s(&vkey),
        ];
        for k in &wkeys {
            args.extend(["--witness-key".to_string(), s(k)]);
        }
        args.extend(["--quorum".into(), "2".into()]);
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let good = quorum(&cp_file, &d("ledger"));
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
    let bad = quorum(&fork_cp, &d("fork"));
    assert_eq!(bad.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(verdict["check"], "quorum", "{verdict}");
    assert!(
        verdict["error"].as_str().unwrap().contains("1 valid cosignature"),
        "{verdict}"
    );

    // verify-proof demands the same of the checkpoint it checks a proof against.
    let proof = write(
        &d("incl.json"),
        &ok(&["--data", &s(&d("fork")), "proof", "inclusion", "--seq", "201"]),
    );
    let mut args = vec![
        "verify-proof".to_string(),
        s(&proof),
        "--checkpoint".into(),
        s(&fork_cp),
        "--key".into(),
        s(&vkey),
    ];
    for k in &wkeys {
        args.extend(["--witness-key".to_string(), s(k)]);
    }
    args.extend(["--quorum".into(), "2".into()]);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"check\":\"quorum\""));
    // A cosignature altered in one character does not count: w2's line is the last.
    let mut lines: Vec<String> = cp.lines().map(str::to_string).collect();
    let last = lines.pop().unwrap();
    assert!(last.starts_with("\u{2014} witness.example/w2 "), "{last}");
    let at = last.len() - 6;
    let flipped = if &last[at..at + 1] == "A" { "B" } else { "A" };
    lines.push(format!("{}{flipped}{}", &last[..at], &last[at + 1..]));
    let forged = write(&d("forged.cp"), &(lines.join("\n") + "\n"));
    let out = quorum(&forged, &d("ledger"));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not verify"));
    // A quorum larger than the keys given is a usage error; without --quorum, all must cosign.
    let mut args = vec![
        "--data".to_string(),
        s(&d("ledger")),
        "verify".into(),
        "--checkpoint".into(),
        s(&cp_file),
        "--key".into(),
        s(&vkey),
        "--witness-key".into(),
        s(&wkeys[0]),
        "--quorum".into(),
        "2".into(),
    ];
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(2));
    args.truncate(9);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "w1 cosigned: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    args.extend(["--witness-key".to_string(), s(&wkeys[2])]);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1), "w3 did not cosign the ledger's checkpoint");
}

#[test]
fn a_witness_that_is_down_or_lies_is_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    ok(&["--data", &s(&data), "generate", "--events", "50"]);
    let vkey = write(
        &dir.path().join("l.vkey"),
        &ok(&["--data", &s(&data), "key", "public", "--origin", LEDGER]),
    );
    let _ = vkey;
    // A lying witness: answers 200 with a cosignature line by its name that does not verify.
    let liar = SigningKey::from_seed_of("witness.example/liar", KeyType::Cosigner, [5; 32]).unwrap();
    let liar_vkey = write(&dir.path().join("liar.vkey"), &liar.verifier().to_text());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let forged = Arc::new(
        checkpoint::cosign(
            "something.else\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            &liar,
            1,
        )
        .unwrap(),
    );
    let app = axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move || {
            let forged = forged.clone();
            async move { forged.to_string() }
        }),
    );
    runtime.spawn(async move { axum::serve(listener, app).await });
    // A witness that is down: a port nobody listens on.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!("http://{}", down.local_addr().unwrap());
    drop(down);
    let out = run(&[
        "--data",
        &s(&data),
        "checkpoint",
        "--witness",
        &format!("http://{addr}={}", s(&liar_vkey)),
        "--witness",
        &format!("{down_url}={}", s(&liar_vkey)),
        "--quorum",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["check"], "quorum");
    let error = verdict["error"].as_str().unwrap();
    assert!(error.contains("no valid cosignature"), "{error}");
    assert!(error.contains(&down_url), "{error}");
    // A ledger key given as a witness's is refused before anything is asked.
    let out = run(&[
        "--data",
        &s(&data),
        "checkpoint",
        "--witness",
        &format!("http://{addr}={}", s(&dir.path().join("l.vkey"))),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a witness's"));
}
