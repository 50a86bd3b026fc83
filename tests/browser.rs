//! The dashboard and GraphiQL in a real browser: Debian's headless Chromium, driven by
//! `tests/browser/browser.mjs` (playwright-core, installed with `npm ci` from the committed
//! lock file under `target/browser-tests`), against `orgledger serve --demo`, opened from the
//! link it prints. The script reads the plotted values back from the page and checks them
//! against the reports, moves the date and `seq` sliders, downloads a CSV, watches the live
//! tail take an appended event, and runs a query and a subscription in GraphiQL with the token
//! of its field; no console error, and no request to any host but the server. Then the same,
//! shorter, over HTTPS and WSS (`serve --tls-cert`). Screenshots go to
//! `target/browser-screenshots/`.
//!
//! Needs Chromium at /usr/bin/chromium (or `$CHROMIUM`): `.ci/run` installs Debian's
//! `chromium` package when it is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::running::Running;

/// The files of `tests/browser` the run needs, copied next to its `node_modules`.
const FILES: [&str; 3] = ["package.json", "package-lock.json", "browser.mjs"];

/// How long one run of the script may take; it gives up by itself after five minutes.
const RUN_PATIENCE: Duration = Duration::from_secs(400);

fn chromium() -> PathBuf {
    let path = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(
        path.exists(),
        "the browser tests need Chromium at {} (Debian: apt-get install chromium; .ci/run installs \
         it when missing), or its path in $CHROMIUM",
        path.display()
    );
    path
}

/// What `serve --demo` printed: the clerk token, the base URL, the dashboard's link.
struct Announced {
    clerk: String,
    base: String,
    dashboard: String,
}

fn serve(data: &Path, extra: &[&str]) -> (Running, Announced) {
    let mut args = vec!["serve", "--demo", "--listen", "127.0.0.1:0", "--data"];
    let data = data.to_str().expect("a UTF-8 path");
    args.push(data);
    args.extend_from_slice(extra);
    let server = Running::orgledger(&args);
    let clerk = server.stdout_until("the clerk token", |l| {
        l.strip_prefix("demo clerk token: ").map(str::to_owned)
    });
    let url = server.url();
    let dashboard = server.stdout_until("the dashboard's link", |l| {
        l.strip_prefix("dashboard: ").map(str::to_owned)
    });
    let base = url
        .strip_suffix("/graphql")
        .expect("the URL ends in /graphql")
        .to_owned();
    assert!(
        dashboard.starts_with(&format!("{base}/#token=olt_")),
        "the dashboard's link is the server's / with a token in the fragment: {dashboard}"
    );
    (server, Announced { clerk, base, dashboard })
}

fn run_script(dir: &Path, announced: &Announced, mode: &str, ca: Option<&Path>) -> String {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("browser-screenshots");
    let mut command = Command::new("node");
    command
        .arg(dir.join("browser.mjs"))
        .current_dir(dir)
        .env("BASE", &announced.base)
        .env("DASHBOARD", &announced.dashboard)
        .env("CLERK", &announced.clerk)
        .env("SHOTS", &shots)
        .env("CHROMIUM", chromium())
        .env("MODE", mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ca) = ca {
        command.env("NODE_EXTRA_CA_CERTS", ca);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (this test needs Node.js 20): {e}"));
    let deadline = Instant::now() + RUN_PATIENCE;
    while child.try_wait().expect("poll node").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("node's output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the browser run ({mode}) failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_dashboard_and_graphiql_work_in_a_real_browser() {
    // Fails at once, naming what is missing, when there is no browser.
    chromium();
    let dir = common::provision_node("browser-tests", "tests/browser", &FILES);
    let data = tempfile::tempdir().expect("a temp dir");

    let (server, announced) = serve(data.path(), &[]);
    let out = run_script(&dir, &announced, "full", None);
    println!("{out}");
    assert!(out.contains("all checks passed"), "{out}");
    for line in [
        "F1: 8 hamlets",
        "F2: 11 hamlets",
        "F5:",
        "GraphiQL runs F1",
        "subscription shows event",
    ] {
        assert!(out.contains(line), "no check {line:?} in:\n{out}");
    }
    assert_eq!(server.stop(), Some(0), "the server stops cleanly");

    // Over HTTPS and WSS: the same pages, the same ledger.
    let certs = data.path().join("certs");
    let made = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args(["tls", "self-signed", "--host", "127.0.0.1", "--out"])
        .arg(&certs)
        .output()
        .expect("tls self-signed runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (cert, key) = (certs.join("cert.pem"), certs.join("key.pem"));
    let (server, announced) = serve(
        data.path(),
        &[
            "--tls-cert",
            cert.to_str().expect("UTF-8"),
            "--tls-key",
            key.to_str().expect("UTF-8"),
        ],
    );
    assert!(announced.base.starts_with("https://"), "{}", announced.base);
    let out = run_script(&dir, &announced, "tls", Some(&certs.join("ca.pem")));
    println!("{out}");
    assert!(out.contains("all checks passed"), "{out}");
    assert_eq!(server.stop(), Some(0), "the server stops cleanly");
}
