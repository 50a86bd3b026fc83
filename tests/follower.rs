//! `orgledger follow` against a real `orgledger serve` on loopback, both as child processes:
//! a follower catches up from empty to the leader's head (the same head hash and tree root
//! as the leader's own `verify`, the same export byte for byte); killed with SIGKILL while
//! it catches up, it resumes from its own head; a leader that rewrites an old record (a
//! small HTTP server here serving a tampered export beside the real checkpoint) stops it,
//! naming that `seq`, and a rewrite with a good chain stops it at the checkpoint; with
//! `--listen` it answers queries, follows new appends live, and refuses mutations with
//! `READ_ONLY_FOLLOWER`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::running::{orgledger_in as orgledger, stdout_of, Running};

use serde_json::{json, Value};

/// `orgledger verify` on a store: `(events, head, root)`.
fn verdict(data: &Path) -> (u64, String, String) {
    let v: Value = serde_json::from_str(&stdout_of(&orgledger(data, &["verify"]), "verify")).expect("JSON verdict");
    assert_eq!(v["ok"], true, "{v}");
    (
        v["events"].as_u64().expect("events"),
        v["head"].as_str().expect("head").to_owned(),
        v["root"].as_str().expect("root").to_owned(),
    )
}

/// A leader: `orgledger serve` on a ledger, with an auditor token and its verifier key
/// file, and the verdict of its own `verify` taken before it served.
struct Leader {
    /// The serving process, killed when the leader is dropped.
    _server: Running,
    url: String,
    auditor: String,
    key: PathBuf,
    verdict: (u64, String, String),
    data: PathBuf,
}

impl Leader {
    /// Serves the ledger `fill` writes into `dir/leader`.
    fn start(dir: &Path, fill: impl FnOnce(&Path)) -> Leader {
        Leader::start_with(dir, fill, &[])
    }

    /// [`Leader::start`], with more arguments to `serve`.
    fn start_with(dir: &Path, fill: impl FnOnce(&Path), serve: &[String]) -> Leader {
        let data = dir.join("leader");
        fill(&data);
        let verdict = verdict(&data);
        let auditor = stdout_of(
            &orgledger(&data, &["token", "add", "--name", "inspector", "--role", "auditor"]),
            "token add",
        )
        .trim()
        .to_owned();
        let key = dir.join("leader.pub");
        std::fs::write(&key, stdout_of(&orgledger(&data, &["key", "public"]), "key public")).expect("key file");
        let server = Running::spawn(
            Command::new(env!("CARGO_BIN_EXE_orgledger"))
                .args(["serve", "--listen", "127.0.0.1:0", "--data"])
                .arg(&data)
                .args(serve),
        );
        let url = server.stdout_until("listening line", |l| {
            l.strip_prefix("listening on ").map(|u| u.trim().to_owned())
        });
        Leader {
            _server: server,
            url,
            auditor,
            key,
            verdict,
            data,
        }
    }

    fn base(&self) -> String {
        self.url.trim_end_matches("/graphql").to_owned()
    }

    /// A token of another role, added while the leader serves (it rereads its tokens file).
    fn token(&self, name: &str, role: &str) -> String {
        stdout_of(
            &orgledger(&self.data, &["token", "add", "--name", name, "--role", role]),
            "token add",
        )
        .trim()
        .to_owned()
    }
}

fn generated(events: u64) -> impl FnOnce(&Path) {
    move |data| {
        stdout_of(
            &orgledger(data, &["generate", "--events", &events.to_string()]),
            "generate",
        );
    }
}

fn office(data: &Path) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trung-khanh-2005.jsonl");
    stdout_of(
        &orgledger(data, &["append", example.to_str().expect("a UTF-8 path")]),
        "append",
    );
}

/// `orgledger follow URL --token T --key K --data DIR` plus `extra`.
fn follow(url: &str, token: &str, key: &Path, data: &Path, extra: &[&str]) -> Running {
    Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_orgledger"))
            .args(["follow", url, "--token", token, "--key"])
            .arg(key)
            .arg("--data")
            .arg(data)
            .args(extra),
    )
}

/// The size of a `{"checkpoint":N,"root":…}` line.
fn checkpoint_line(line: &str) -> Option<(u64, String)> {
    let v: Value = serde_json::from_str(line).ok()?;
    Some((v["checkpoint"].as_u64()?, v["root"].as_str()?.to_owned()))
}

/// Waits for the follower to verify the checkpoint of `size` and returns its root.
fn verified(follower: &Running, size: u64) -> String {
    follower.stdout_until(&format!("checkpoint of size {size}"), |l| {
        checkpoint_line(l).filter(|(s, _)| *s == size).map(|(_, root)| root)
    })
}

/// The `from` and `to` of a `copied records FROM to TO` log line.
fn copied(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find("copied records ")? + "copied records ".len()..];
    let (from, to) = rest.trim().split_once(" to ")?;
    Some((from.parse().ok()?, to.parse().ok()?))
}

/// A runtime whose workers serve the lying leader while the test waits on a child.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn get_text(url: &str, token: &str) -> String {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("the leader answers");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.text().await.expect("a body")
}

async fn graphql(url: &str, token: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a JSON answer")
}

#[test]
fn a_follower_catches_up_from_empty_to_the_leaders_head() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let leader = Leader::start(dir.path(), generated(2_000));
    let data = dir.path().join("follower");
    let follower = follow(&leader.url, &leader.auditor, &leader.key, &data, &[]);
    let root = verified(&follower, 2_000);
    follower.kill();
    let (events, head, leader_root) = leader.verdict.clone();
    assert_eq!(root, leader_root);
    assert_eq!(verdict(&data), (events, head, leader_root));
    // A replica, not a re-append: every record keeps the leader's seq, time, actor and hash.
    let theirs = runtime().block_on(get_text(&format!("{}/export", leader.base()), &leader.auditor));
    let ours = stdout_of(&orgledger(&data, &["export"]), "export");
    assert!(ours == theirs, "the follower's export differs from the leader's");
}

#[test]
fn a_follower_killed_mid_catch_up_resumes_from_its_own_head() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let leader = Leader::start(dir.path(), generated(5_000));
    let data = dir.path().join("follower");
    // Small groups, so the copy is surely under way after the first one.
    let follower = follow(&leader.url, &leader.auditor, &leader.key, &data, &["--batch", "50"]);
    let (_, first) = follower.stderr_until("a copied group", copied);
    follower.kill();
    let (killed_at, _, _) = verdict(&data);
    assert!(
        (first..5_000).contains(&killed_at),
        "killed after copying {killed_at} events: not mid catch-up"
    );
    let follower = follow(&leader.url, &leader.auditor, &leader.key, &data, &[]);
    let (from, _) = follower.stderr_until("a copied group", copied);
    assert_eq!(from, killed_at + 1, "the restarted follower pulled again what it held");
    verified(&follower, 5_000);
    follower.kill();
    assert_eq!(verdict(&data), leader.verdict);
}

/// A leader that lies: serves `export` (its lines, `from` on) and the real `checkpoint`, on
/// a loopback port, answering each request and closing the connection. Returns its URL.
async fn lying_leader(export: Vec<String>, checkpoint: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (export, checkpoint) = (export.clone(), checkpoint.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = if path == "/checkpoint" {
                    checkpoint
                } else if let Some(from) = path.strip_prefix("/export?from=") {
                    let from: usize = from.parse().expect("a seq");
                    export.iter().skip(from - 1).map(|l| format!("{l}\n")).collect()
                } else {
                    String::new()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

#[test]
fn a_leader_that_rewrites_an_old_record_stops_the_follower_at_that_seq() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let leader = Leader::start(dir.path(), office);
    let rt = runtime();
    let export = rt.block_on(get_text(&format!("{}/export", leader.base()), &leader.auditor));
    let checkpoint = rt.block_on(get_text(&format!("{}/checkpoint", leader.base()), &leader.auditor));
    let mut lines: Vec<String> = export.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 12);

    // Record 5 rewritten in place, its stated hash kept: the hash check names it.
    let mut tampered = lines.clone();
    assert!(tampered[4].contains("\"actor\":\"cli\""), "{}", tampered[4]);
    tampered[4] = tampered[4].replace("\"actor\":\"cli\"", "\"actor\":\"clx\"");
    let url = rt.block_on(lying_leader(tampered, checkpoint.clone()));
    let data = dir.path().join("follower-1");
    let (code, stderr) = follow(&url, "any", &leader.key, &data, &[]).exit();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("record 5 from the leader does not verify"), "{stderr}");
    assert_eq!(verdict(&data).0, 0, "nothing of the bad group was kept");

    // Records 5 to 12 resealed with record 5 a microsecond later: the chain holds, the rules
    // hold, and only the signed root can tell; the follower names the checkpoint.
    use orgledger::event::{Record, Timestamp};
    let mut prev = Record::from_export_line(&lines[3]).expect("a record").hash();
    for (i, line) in lines.iter_mut().enumerate().skip(4) {
        let r = Record::from_export_line(line).expect("a record");
        let at = match i {
            4 => Timestamp::from_micros(r.recorded_at().micros() + 1).expect("in range"),
            _ => r.recorded_at(),
        };
        let resealed = Record::seal(r.seq(), prev, at, r.actor().clone(), r.submission().clone());
        prev = resealed.hash();
        *line = resealed.export_line();
    }
    let url = rt.block_on(lying_leader(lines, checkpoint));
    let data = dir.path().join("follower-2");
    let (code, stderr) = follow(&url, "any", &leader.key, &data, &[]).exit();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the leader's checkpoint of size 12 does not verify: its root"),
        "{stderr}"
    );
}

#[test]
fn a_listening_follower_checks_the_projection_line_of_the_leaders_checkpoint() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let leader = Leader::start(dir.path(), office);
    let rt = runtime();
    let export = rt.block_on(get_text(&format!("{}/export", leader.base()), &leader.auditor));
    let text = rt.block_on(get_text(&format!("{}/checkpoint", leader.base()), &leader.auditor));
    // The same records and root, signed by the leader's key with another projection line.
    use orgledger::checkpoint::{load_key, Checkpoint, VerifierKey};
    let key = load_key(&leader.data.join("checkpoint.key")).expect("the leader's key");
    let vkey = VerifierKey::parse(&std::fs::read_to_string(&leader.key).expect("the key file")).expect("a key");
    let mut checkpoint = Checkpoint::open(&text, &vkey).expect("the leader's checkpoint");
    checkpoint.extensions = vec![format!("projection v1 {}", "ab".repeat(32))];
    let forged = checkpoint.sign(&key).expect("signed");
    let lines: Vec<String> = export.lines().map(str::to_owned).collect();

    // Without its projection (no --listen) the follower checks the root alone.
    let url = rt.block_on(lying_leader(lines.clone(), forged.clone()));
    let plain = follow(&url, "any", &leader.key, &dir.path().join("plain"), &[]);
    verified(&plain, 12);
    plain.kill();
    // Listening, it folds its own projection and finds the line false.
    let url = rt.block_on(lying_leader(lines, forged));
    let (code, stderr) = follow(
        &url,
        "any",
        &leader.key,
        &dir.path().join("listening"),
        &["--listen", "127.0.0.1:0"],
    )
    .exit();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the leader's checkpoint of size 12 does not verify: its projection commitment abab"),
        "{stderr}"
    );
}

#[test]
fn a_listening_follower_answers_queries_follows_appends_and_refuses_mutations() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let leader = Leader::start(dir.path(), office);
    let data = dir.path().join("follower");
    std::fs::create_dir(&data).expect("the follower's directory");
    let reader = stdout_of(
        &orgledger(&data, &["token", "add", "--name", "reader", "--role", "reader"]),
        "token add",
    )
    .trim()
    .to_owned();
    let follower = follow(
        &leader.url,
        &leader.auditor,
        &leader.key,
        &data,
        &["--listen", "127.0.0.1:0"],
    );
    let url = follower.stdout_until("listening line", |l| {
        l.strip_prefix("listening on ").map(|u| u.trim().to_owned())
    });
    verified(&follower, 12);
    let rt = runtime();

    // An append on the leader reaches the follower.
    let clerk = leader.token("office", "clerk");
    let appended = rt.block_on(graphql(
        &leader.url,
        &clerk,
        "mutation ($e: [EventInput!]!) { append(events: $e) { head { seq hash } } }",
        json!({"e": [{"localityRegistered": {"effective": "2005-01-01", "locality": "xom-na-thia",
            "name": "Nà Thìa", "kind": "HAMLET", "parent": "xa-dam-thuy", "border": false}}]}),
    ));
    let leader_head = appended["data"]["append"]["head"].clone();
    assert_eq!(leader_head["seq"], 13, "{appended}");
    verified(&follower, 13);
    let head = rt.block_on(graphql(&url, &reader, "{ head { seq hash } }", json!({})));
    assert_eq!(head["data"]["head"], leader_head, "{head}");

    // It serves the leader's checkpoint it verified, so a follower can follow it in turn,
    // checking the leader's signature.
    let auditor = stdout_of(
        &orgledger(&data, &["token", "add", "--name", "inspector", "--role", "auditor"]),
        "token add",
    )
    .trim()
    .to_owned();
    let leader_cp = rt.block_on(get_text(&format!("{}/checkpoint", leader.base()), &leader.auditor));
    let base = url.trim_end_matches("/graphql");
    assert_eq!(
        rt.block_on(get_text(&format!("{base}/checkpoint"), &auditor)),
        leader_cp
    );
    let cp = rt.block_on(graphql(&url, &auditor, "{ checkpoint { size text } }", json!({})));
    assert_eq!(cp["data"]["checkpoint"]["size"], 13, "{cp}");
    assert_eq!(cp["data"]["checkpoint"]["text"], leader_cp.as_str(), "{cp}");
    let second = follow(&url, &auditor, &leader.key, &dir.path().join("second"), &[]);
    let root = verified(&second, 13);
    second.kill();
    let (events, head, second_root) = verdict(&dir.path().join("second"));
    assert_eq!(
        (events, head.as_str(), second_root),
        (13, leader_head["hash"].as_str().expect("a hash"), root)
    );

    // A mutation is refused, naming the leader.
    let refused = rt.block_on(graphql(
        &url,
        &reader,
        "mutation ($e: [EventInput!]!) { append(events: $e) { head { seq } } }",
        json!({"e": [{"localityRegistered": {"effective": "2005-01-01", "locality": "xom-khuoi-ky",
            "name": "Khuổi Ky", "kind": "HAMLET", "parent": "xa-dam-thuy", "border": true}}]}),
    ));
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["code"], "READ_ONLY_FOLLOWER", "{refused}");
    let leader_base = leader.base();
    assert!(
        error["message"].as_str().unwrap_or("").contains(&leader_base),
        "{refused}"
    );
    assert_eq!(refused["data"]["append"], Value::Null, "{refused}");
    follower.kill();
}

/// A witness key made by `orgledger witness init` in `dir/name`: the key file, and the file
/// holding its verifier key.
fn witness_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let wdir = dir.join(name);
    let text = stdout_of(
        &orgledger(
            &wdir,
            &["witness", "init", "--origin", &format!("follower.example/{name}")],
        ),
        "witness init",
    );
    let vkey = dir.join(format!("{name}.vkey"));
    std::fs::write(&vkey, text).expect("the verifier key file");
    (wdir.join("witness.key"), vkey)
}

/// A loopback port free a moment ago, for a process that must be named before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn a_follower_with_a_witness_key_cosigns_the_leaders_checkpoints_as_its_quorum() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (key, vkey) = witness_key(dir.path(), "f1");
    let port = free_port();
    let witness = format!("http://127.0.0.1:{port}={}", vkey.display());
    let leader = Leader::start_with(
        dir.path(),
        office,
        &["--witness".into(), witness, "--quorum".into(), "1".into()],
    );
    let data = dir.path().join("follower");
    let follower = follow(
        &leader.url,
        &leader.auditor,
        &leader.key,
        &data,
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--witness-key",
            key.to_str().expect("a UTF-8 path"),
        ],
    );
    // The leader serves only cosigned checkpoints, and its only witness is the follower: the
    // follower copies the records before any checkpoint exists, cosigns, then verifies.
    assert_eq!(verified(&follower, 12), leader.verdict.2);
    let rt = runtime();
    let checkpoint = rt.block_on(get_text(&format!("{}/checkpoint", leader.base()), &leader.auditor));
    assert!(checkpoint.contains("\n— follower.example/f1 "), "{checkpoint}");

    // An inspection team checks the export against it, demanding the follower's cosignature.
    let export = rt.block_on(get_text(&format!("{}/export", leader.base()), &leader.auditor));
    let (export_file, cp_file) = (dir.path().join("export.jsonl"), dir.path().join("cp"));
    std::fs::write(&export_file, export).expect("the export file");
    std::fs::write(&cp_file, &checkpoint).expect("the checkpoint file");
    let checked = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args(["verify", "--file"])
        .arg(&export_file)
        .arg("--checkpoint")
        .arg(&cp_file)
        .arg("--key")
        .arg(&leader.key)
        .arg("--witness-key")
        .arg(&vkey)
        .args(["--quorum", "1"])
        .output()
        .expect("verify runs");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));

    // An append on the leader is copied, cosigned and verified in turn.
    let clerk = leader.token("office", "clerk");
    let appended = rt.block_on(graphql(
        &leader.url,
        &clerk,
        "mutation ($e: [EventInput!]!) { append(events: $e) { head { seq } } }",
        json!({"e": [{"localityRegistered": {"effective": "2005-01-01", "locality": "xom-na-thia",
            "name": "Nà Thìa", "kind": "HAMLET", "parent": "xa-dam-thuy", "border": false}}]}),
    ));
    assert_eq!(appended["data"]["append"]["head"]["seq"], 13, "{appended}");
    verified(&follower, 13);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("witness-state.json")).expect("the witness state"))
            .expect("JSON");
    let origin = stdout_of(&orgledger(&leader.data, &["key", "public"]), "key public");
    let origin = origin.split('+').next().expect("a key name");
    assert_eq!(state[origin]["size"], 13, "{state}");
    follower.kill();
}

#[test]
fn a_follower_with_a_witness_key_refuses_a_checkpoint_of_records_it_did_not_verify() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (key, vkey) = witness_key(dir.path(), "f1");
    let leader = Leader::start(dir.path(), office);
    let data = dir.path().join("follower");
    let follower = follow(
        &leader.url,
        &leader.auditor,
        &leader.key,
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--witness-key",
            key.to_str().expect("a UTF-8 path"),
        ],
    );
    let url = follower.stdout_until("listening line", |l| {
        l.strip_prefix("listening on ")
            .map(|u| u.trim().trim_end_matches("/graphql").to_owned())
    });
    verified(&follower, 12);

    // Another history signed with the leader's key: a ledger of its own, given the key.
    let fork = |name: &str, events: u64| -> Output {
        let fork = dir.path().join(name);
        generated(events)(&fork);
        std::fs::copy(leader.data.join("checkpoint.key"), fork.join("checkpoint.key")).expect("the leader's key");
        orgledger(
            &fork,
            &["checkpoint", "--witness", &format!("{url}={}", vkey.display())],
        )
    };
    // Five records where the follower verified twelve others: refused, with the evidence kept.
    let refused = fork("fork-5", 5);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let verdict: Value = serde_json::from_slice(&refused.stdout).expect("a JSON verdict");
    assert_eq!(verdict["check"], "quorum", "{verdict}");
    let error = verdict["error"].as_str().unwrap_or("");
    assert!(error.contains("422"), "{verdict}");
    assert!(
        error.contains("the root of the 5 records this follower copied from the ledger and verified"),
        "{verdict}"
    );
    let evidence = stdout_of(&orgledger(&data, &["witness", "evidence"]), "witness evidence");
    let kept: Value = serde_json::from_str(evidence.lines().next().expect("evidence kept")).expect("JSON");
    assert_eq!(kept["status"], 422, "{kept}");
    assert!(kept["request"].as_str().unwrap_or("").contains("\n5\n"), "{kept}");
    assert_eq!(kept["latest"]["size"], 0, "{kept}");

    // Twenty records, more than the leader served: not cosigned, and nothing is held.
    let behind = fork("fork-20", 20);
    assert_eq!(behind.status.code(), Some(1));
    let verdict: Value = serde_json::from_slice(&behind.stdout).expect("a JSON verdict");
    assert!(
        verdict["error"]
            .as_str()
            .unwrap_or("")
            .contains("fewer than the checkpoint's 20"),
        "{verdict}"
    );
    assert!(!data.join("witness-state.json").exists(), "nothing was cosigned");
    follower.kill();
}
