//! A real GraphQL client from outside the Rust ecosystem against the real binary:
//! `tests/clients/client.mjs` (graphql-js and graphql-ws, installed with `npm ci` from the
//! committed lock file) introspects the schema, validates and runs every `graphql` example
//! of the README, and follows the log by subscription across three appends; then SIGTERM
//! must stop the server with status 0, and the stopped store must verify with the client's
//! appends in it.
//!
//! Node 20 and npm reaching the registry are needed; the node modules are provisioned under
//! `target/node-clients`, so a plain `cargo test` works on a fresh machine.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The files of `tests/clients` the client needs, copied next to its `node_modules`.
const CLIENT_FILES: [&str; 3] = ["package.json", "package-lock.json", "client.mjs"];

/// How long the server may take to write the demo ledger and start listening (a debug build
/// on a busy machine takes far longer than a release build).
const STARTUP_PATIENCE: Duration = Duration::from_secs(600);

/// How long the client may run; it gives up by itself after 120 s.
const CLIENT_PATIENCE: Duration = Duration::from_secs(180);

/// How long the server may take to stop after SIGTERM.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(30);

/// `target/node-clients`: the client and the node modules of its committed lock file.
fn provision_node_clients() -> PathBuf {
    common::provision_node("node-clients", "tests/clients", &CLIENT_FILES)
}

/// The `orgledger serve` child process; killed if the test ends without stopping it, so that
/// a failed assertion never leaves a server running.
struct ServerProcess {
    child: Child,
    /// Where the server's stderr (its logs) goes, to show when something fails.
    log: PathBuf,
}

impl ServerProcess {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Waits for the child to exit, up to `patience`; `None` if it is still running.
    fn wait_for_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        wait_with_patience(&mut self.child, patience)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `child` until it exits or `patience` runs out.
fn wait_with_patience(child: &mut Child, patience: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + patience;
    loop {
        match child.try_wait().expect("poll the child") {
            Some(status) => return Some(status),
            None if Instant::now() >= deadline => return None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// What `serve --demo` announces on stdout before it serves.
struct Announced {
    url: String,
    token: String,
}

/// Starts `orgledger --data DATA serve --demo --listen 127.0.0.1:0` and reads its stdout
/// until it says where it listens.
fn start_demo_server(data: &Path, log: &Path) -> (ServerProcess, Announced) {
    let child = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .arg("--data")
        .arg(data)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(log).expect("create the server log"))
        .spawn()
        .expect("start orgledger serve");
    let mut server = ServerProcess {
        child,
        log: log.to_path_buf(),
    };

    // A thread reads stdout, so that the wait for the announcement has a deadline even if
    // the server hangs without printing.
    let stdout = server.child.stdout.take().expect("piped stdout");
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + STARTUP_PATIENCE;
    let mut token = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = match lines_rx.recv_timeout(remaining) {
            Ok(line) => line,
            Err(e) => panic!(
                "orgledger serve did not announce `listening on ...` ({e}); its status: {:?}\n\
                 its log:\n{}",
                server.child.try_wait(),
                server.logs()
            ),
        };
        if let Some(t) = line.strip_prefix("demo clerk token: ") {
            token = Some(t.trim().to_owned());
        } else if let Some(url) = line.strip_prefix("listening on ") {
            let token = token.expect("`demo clerk token: ...` is printed before `listening on ...`");
            let url = url.trim().to_owned();
            assert!(
                url.starts_with("http://127.0.0.1:") && url.ends_with("/graphql"),
                "unexpected address {url:?}"
            );
            return (server, Announced { url, token });
        }
    }
}

/// Runs the client against the server and returns its stdout; panics with all its output
/// when it fails.
fn run_client(clients: &Path, announced: &Announced, work: &Path) -> String {
    let out_path = work.join("client.out");
    let err_path = work.join("client.err");
    let readme = Path::new(MANIFEST_DIR).join("README.md");
    let mut child = Command::new("node")
        .arg(clients.join("client.mjs"))
        .arg(&announced.url)
        .arg(&announced.token)
        .arg(&readme)
        .current_dir(clients)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create client.out"))
        .stderr(File::create(&err_path).expect("create client.err"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (this test needs Node 20): {e}"));
    let status = wait_with_patience(&mut child, CLIENT_PATIENCE);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "node client.mjs ended with {status:?}\n--- stdout\n{stdout}--- stderr\n{stderr}"
    );
    stdout
}

#[test]
fn graphql_js_and_graphql_ws_drive_the_demo_server_which_stops_cleanly_on_sigterm() {
    let clients = provision_node_clients();
    let work = tempfile::tempdir().expect("temp dir");
    let data = work.path().join("data");
    // A newcomer may make a token before the first start: a directory holding only the
    // tokens file holds no ledger, and `serve --demo` writes the demo into it.
    std::fs::create_dir(&data).expect("mkdir data");
    let reader = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args(["token", "add", "--name", "inspector", "--role", "reader", "--data"])
        .arg(&data)
        .output()
        .expect("token add runs");
    assert!(
        reader.status.success(),
        "token add: {}",
        String::from_utf8_lossy(&reader.stderr)
    );
    let (mut server, announced) = start_demo_server(&data, &work.path().join("server.log"));

    let summary = run_client(&clients, &announced, work.path());
    println!("{summary}");
    let final_head: u64 = summary
        .lines()
        .find_map(|l| l.strip_prefix("final head: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the client printed no `final head: N` line:\n{summary}"));

    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill -TERM");
    assert!(kill.success(), "kill -TERM failed: {kill}");
    let status = server.wait_for_exit(SHUTDOWN_PATIENCE);
    assert!(
        status.is_some_and(|s| s.success()),
        "after SIGTERM the server ended with {status:?} (None: still running after {SHUTDOWN_PATIENCE:?})\n\
         its log:\n{}",
        server.logs()
    );

    // The client's appends were answered once durable: the stopped store holds them, and
    // its chain verifies.
    let verify = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .arg("--data")
        .arg(&data)
        .arg("verify")
        .output()
        .expect("run orgledger verify");
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap_or_else(|e| {
        panic!(
            "orgledger verify printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        )
    });
    assert!(verify.status.success(), "orgledger verify failed: {report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["events"], final_head, "{report}");
}
