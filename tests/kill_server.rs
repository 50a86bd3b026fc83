//! The server killed with SIGKILL while clients append over GraphQL, again and again: every
//! append the server acknowledged is in the log after the restart, once; every append whose
//! answer was lost is settled by retrying it with its idempotency key (it was appended once
//! or not at all, never twice); and a retry of an acknowledged append answers the first
//! result, across restarts. The chain verifies at the end.
//!
//! The kills come after a number of acknowledgements, not after a time, so the test asks the
//! same of a fast machine and a slow one. `ORGLEDGER_STRESS=1` runs 20 rounds instead of 3.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::running::orgledger_in;
use serde_json::{json, Value};

const APPEND: &str = "mutation ($events: [EventInput!]!, $key: String) {
    append(events: $events, idempotencyKey: $key) { events { seq hash } }
}";

/// Clients appending at once.
const CLIENTS: usize = 4;
/// Acknowledgements (from all clients) a round waits for before it kills the server.
const ACKS_PER_ROUND: usize = 12;
/// The longest any one wait may take before the test fails: only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(120);

fn rounds() -> usize {
    if std::env::var_os("ORGLEDGER_STRESS").is_some() {
        20
    } else {
        3
    }
}

/// A running `orgledger serve`, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path, log: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orgledger"))
            .env_remove("ORGLEDGER_DATA")
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("a log file"))
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx.recv_timeout(PATIENCE).unwrap_or_else(|e| {
            panic!(
                "serve did not say where it listens ({e}); its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
        Server { child, url }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What became of one append, by its idempotency key.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// Acknowledged: the seq and hash the server answered.
    Acknowledged(u64, String),
    /// Sent, and the answer was lost (the server died): to be settled by a retry.
    Unknown,
}

/// The hamlet a key registers: one key, one locality, so a second append of the same event
/// would be visible in the log (and is refused by the rules if it is not idempotent).
fn hamlet(key: &str) -> Value {
    json!({"localityRegistered": {
        "effective": "2020-01-01",
        "locality": format!("xom-{key}"),
        "name": format!("Xóm {key}"),
        "kind": "HAMLET",
        "parent": "xa-dam-thuy",
        "border": false,
    }})
}

/// Sends one append; `None` when no answer came (the connection broke).
async fn send(http: &reqwest::Client, url: &str, token: &str, key: &str) -> Option<(u64, String)> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({"query": APPEND, "variables": {"events": [hamlet(key)], "key": key}}))
        .send()
        .await
        .ok()?;
    let status = response.status();
    let body: Value = response.json().await.ok()?;
    assert!(
        status.is_success() && body.get("errors").is_none(),
        "an append over a live connection must succeed: {status} {body}"
    );
    let event = &body["data"]["append"]["events"][0];
    Some((event["seq"].as_u64()?, event["hash"].as_str()?.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill_and_lost_answers_settle_by_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = dir.path().join("ledger");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trung-khanh-2005.jsonl");
    let appended = orgledger_in(&data, &["append", example.to_str().expect("UTF-8")]);
    assert!(
        appended.status.success(),
        "{}",
        String::from_utf8_lossy(&appended.stderr)
    );
    let token = orgledger_in(&data, &["token", "add", "--name", "office", "--role", "clerk"]);
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8(token.stdout).expect("UTF-8").trim().to_owned();
    let http = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("an HTTP client");

    let outcomes: Arc<Mutex<BTreeMap<String, Outcome>>> = Arc::default();
    let mut next = [0usize; CLIENTS];
    // Appends whose answer a kill lost, settled by their retry after the restart.
    let mut lost_answers = 0;
    for round in 0..rounds() {
        let server = Server::start(&data, &dir.path().join(format!("serve-{round}.log")));

        // First, settle what the last kill left open, and ask again for a few acknowledged
        // appends: each must answer its first result.
        let open: Vec<(String, Outcome)> = {
            let outcomes = outcomes.lock().expect("lock");
            let unknown = outcomes.iter().filter(|(_, o)| **o == Outcome::Unknown);
            let acknowledged = outcomes
                .iter()
                .filter(|(_, o)| matches!(o, Outcome::Acknowledged(..)))
                .take(3);
            unknown
                .chain(acknowledged)
                .map(|(k, o)| (k.clone(), o.clone()))
                .collect()
        };
        for (key, before) in open {
            let answer = tokio::time::timeout(PATIENCE, send(&http, &server.url, &token, &key))
                .await
                .expect("a retry answers")
                .expect("the restarted server answers a retry");
            let answered = Outcome::Acknowledged(answer.0, answer.1);
            if before == Outcome::Unknown {
                lost_answers += 1;
            }
            if let Outcome::Acknowledged(..) = before {
                assert_eq!(
                    answered, before,
                    "a retried key answers its first result, across a restart"
                );
            }
            outcomes.lock().expect("lock").insert(key, answered);
        }

        // Then clients append until the round has its acknowledgements, and the server is
        // killed while they are still sending.
        let acked = Arc::new(tokio::sync::Semaphore::new(0));
        let mut clients = Vec::new();
        for (client, counter) in next.iter_mut().enumerate() {
            let (http, url, token) = (http.clone(), server.url.clone(), token.clone());
            let (outcomes, acked) = (outcomes.clone(), acked.clone());
            let start = *counter;
            *counter += 1000; // each round's keys of a client are apart from the last round's
            clients.push(tokio::spawn(async move {
                for n in start.. {
                    let key = format!("r{round}-c{client}-{n}");
                    outcomes.lock().expect("lock").insert(key.clone(), Outcome::Unknown);
                    match send(&http, &url, &token, &key).await {
                        Some((seq, hash)) => {
                            outcomes
                                .lock()
                                .expect("lock")
                                .insert(key, Outcome::Acknowledged(seq, hash));
                            acked.add_permits(1);
                        }
                        // The server is gone: this key stays unknown until the next round.
                        None => return,
                    }
                }
            }));
        }
        let wait = acked.acquire_many(ACKS_PER_ROUND as u32);
        tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("the clients get acknowledgements")
            .expect("the semaphore stays open")
            .forget();
        server.kill();
        for client in clients {
            tokio::time::timeout(PATIENCE, client)
                .await
                .expect("a client stops when the server dies")
                .expect("a client does not panic");
        }
    }

    // Settle the last round's open keys on a server that then stops cleanly.
    let server = Server::start(&data, &dir.path().join("serve-last.log"));
    let open: Vec<String> = outcomes
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, o)| **o == Outcome::Unknown)
        .map(|(k, _)| k.clone())
        .collect();
    let mut settled_by_retry = 0;
    for key in open {
        settled_by_retry += 1;
        let (seq, hash) = send(&http, &server.url, &token, &key)
            .await
            .expect("the server answers a retry");
        outcomes
            .lock()
            .expect("lock")
            .insert(key, Outcome::Acknowledged(seq, hash));
    }
    server.kill();

    // The log holds every key's hamlet exactly once, at the seq and hash it was answered.
    let verify = orgledger_in(&data, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let export = orgledger_in(&data, &["export"]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let records: Vec<Value> = String::from_utf8(export.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    let outcomes = outcomes.lock().expect("lock");
    assert!(
        outcomes.len() >= rounds() * ACKS_PER_ROUND,
        "{} appends",
        outcomes.len()
    );
    for (key, outcome) in outcomes.iter() {
        let Outcome::Acknowledged(seq, hash) = outcome else {
            panic!("{key} was never settled");
        };
        let record = &records[(*seq - 1) as usize];
        assert_eq!(
            record["hash"],
            json!(hash),
            "{key}: the acknowledged record is in the log"
        );
        assert_eq!(record["locality"], json!(format!("xom-{key}")), "{key}");
        let copies = records
            .iter()
            .filter(|r| r["locality"] == json!(format!("xom-{key}")))
            .count();
        assert_eq!(copies, 1, "{key} is in the log once");
    }
    println!(
        "{} rounds: {} appends, {} answers lost to SIGKILL and settled by retrying their key",
        rounds(),
        outcomes.len(),
        lost_answers + settled_by_retry
    );
    assert_eq!(
        records.len(),
        12 + outcomes.len(),
        "nothing but the example and the keys' hamlets is in the log"
    );
}
