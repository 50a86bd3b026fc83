//! The witness benchmark of issue 12: how many `add-checkpoint` requests a witness answers
//! per second, each a checkpoint that extends the last by a group of events with its
//! consistency proof, checked, made durable (the state file synced and renamed) and
//! cosigned. Measured twice in one run: on the library (`Witness::add_checkpoint`, the
//! protocol and the durable update alone), and over HTTP on loopback (the axum route, one
//! client sending its requests back to back, as a ledger does). Then the cost of checking a
//! quorum: `cosignatures` on a checkpoint with three cosignatures.
//!
//! `cargo bench --bench witness [-- --requests N --group G]`.

mod allocator;
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fail, machine, number};
use orgledger::checkpoint::{self, Checkpoint, KeyType, SigningKey};
use orgledger::event::Hash;
use orgledger::merkle::{self, MemoryTree};
use orgledger::witness::{self, Witness};

const LEDGER: &str = "bench.example/ledger";

struct Options {
    requests: u64,
    group: u64,
}

fn options() -> Options {
    let mut o = Options {
        requests: 2000,
        group: 64,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--requests" => o.requests = number(&args.next().unwrap_or_default()),
            "--group" => o.group = number(&args.next().unwrap_or_default()),
            "--bench" => {}
            "--help" => {
                println!("cargo bench --bench witness [-- --requests N (2000) --group G (64 events per checkpoint)]");
                std::process::exit(0);
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    o
}

/// The requests of one run: the first from old 0, then each extending the last by `group`
/// events with its consistency proof.
fn requests(key: &SigningKey, n: u64, group: u64) -> Vec<String> {
    let mut tree = MemoryTree::new();
    let mut bodies = Vec::with_capacity(n as usize);
    let mut old = 0;
    for r in 0..n {
        for i in 0..group {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(r * group + i).to_be_bytes());
            tree.push(&Hash(h));
        }
        let size = tree.size();
        let note = Checkpoint {
            origin: LEDGER.into(),
            size,
            root: tree.root(),
            extensions: vec![],
        }
        .sign(key)
        .unwrap();
        let proof = if old == 0 {
            vec![]
        } else {
            merkle::consistency_proof(&tree, old, size).unwrap()
        };
        bodies.push(witness::request_body(old, &proof, &note));
        old = size;
    }
    bodies
}

fn witness_in(dir: &std::path::Path, key: &SigningKey) -> Witness {
    witness::init(dir, "bench.example/witness").unwrap();
    Witness::open(dir, vec![key.verifier()]).unwrap()
}

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn main() {
    let o = options();
    let key = SigningKey::from_seed(LEDGER, [1; 32]).unwrap();
    let bodies = requests(&key, o.requests, o.group);
    println!(
        "witness benchmark: {} requests, {} events each; {}",
        o.requests,
        o.group,
        machine()
    );

    // The library: protocol, state file synced and renamed, cosignature.
    let dir = tempfile::tempdir().unwrap();
    let w = witness_in(dir.path(), &key);
    let started = Instant::now();
    for body in &bodies {
        let answer = w.add_checkpoint(body);
        if answer.status != 200 {
            fail(&format!("the witness refused: {} {}", answer.status, answer.body));
        }
    }
    let library = started.elapsed();
    drop(w);

    // HTTP on loopback: one client, requests back to back.
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(witness_in(dir.path(), &key));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (http, latencies) = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/add-checkpoint", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, witness::router(w)).await });
        let client = reqwest::Client::new();
        let mut latencies = Vec::with_capacity(bodies.len());
        let started = Instant::now();
        for body in bodies {
            let sent = Instant::now();
            let response = client.post(&url).body(body).send().await.unwrap();
            if response.status() != 200 {
                fail(&format!("the witness refused over HTTP: {}", response.status()));
            }
            response.text().await.unwrap();
            latencies.push(sent.elapsed());
        }
        (started.elapsed(), latencies)
    });
    let mut sorted = latencies;
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];

    // Checking a quorum: three cosignatures on one checkpoint.
    let witnesses: Vec<SigningKey> = (0..3u8)
        .map(|i| SigningKey::from_seed_of(&format!("bench.example/w{i}"), KeyType::Cosigner, [10 + i; 32]).unwrap())
        .collect();
    let note = requests(&key, 1, o.group).pop().unwrap();
    let note = note.split_once("\n\n").unwrap().1.to_string();
    let body = note.split_once("\n\n").unwrap().0.to_string() + "\n";
    let mut cosigned = note.clone();
    for w in &witnesses {
        cosigned.push_str(&checkpoint::cosign(&body, w, 1_700_000_000).unwrap());
    }
    let keys: Vec<_> = witnesses.iter().map(SigningKey::verifier).collect();
    let checks = 2000;
    let started = Instant::now();
    for _ in 0..checks {
        let verdicts = checkpoint::cosignatures(&cosigned, &keys).unwrap();
        assert!(verdicts.iter().all(|v| matches!(v, checkpoint::Cosigned::Valid { .. })));
    }
    let quorum = started.elapsed() / checks;

    println!();
    println!("| what | figure |");
    println!("|---|---|");
    println!(
        "| add-checkpoint, library (durable) | {:.0} requests/s ({:.2} ms each) |",
        rate(o.requests, library),
        library.as_secs_f64() * 1e3 / o.requests as f64
    );
    println!(
        "| add-checkpoint, HTTP loopback, one client | {:.0} requests/s |",
        rate(o.requests, http)
    );
    println!(
        "| add-checkpoint over HTTP, latency p50 / p99 | {:.2} ms / {:.2} ms |",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
    println!(
        "| checking 3 cosignatures of one checkpoint | {:.0} µs |",
        quorum.as_secs_f64() * 1e6
    );
}
