//! Progress on long commands: under a pseudo-terminal each long command shows a bar on
//! stderr (what it does, events, rate, time left); without a terminal, or with `--quiet`, it
//! shows none; standard output is byte for byte the same in all three. A server logs its
//! start-up work instead. And the shell completions and manual pages are what their tools
//! accept.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// What a command printed: its stdout, its stderr, and whether it succeeded.
struct Ran {
    stdout: Vec<u8>,
    stderr: String,
    ok: bool,
}

fn orgledger() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orgledger"));
    command
        .env_remove("ORGLEDGER_DATA")
        .env("TERM", "xterm")
        .stdin(Stdio::null());
    command
}

fn ran(output: Output) -> Ran {
    Ran {
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        ok: output.status.success(),
    }
}

/// A pseudo-terminal of 120 columns: the side to give a child as its stderr, and a thread
/// that returns all the terminal received once no process holds that side any more.
fn terminal() -> (OwnedFd, std::thread::JoinHandle<Vec<u8>>) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 30,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors, owned from here on by the OwnedFds.
    let opened = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(opened, 0, "a pseudo-terminal: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let reader = std::thread::spawn(move || {
        let mut terminal = std::fs::File::from(master);
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        // Ends with EIO once no process holds the terminal's other side.
        while let Ok(n) = terminal.read(&mut chunk) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&chunk[..n]);
        }
        seen
    });
    (slave, reader)
}

/// Runs `orgledger ARGS` with its stderr on a pseudo-terminal (stdout piped); returns what
/// the terminal received as its stderr.
fn on_terminal(args: &[&str]) -> Ran {
    let (slave, reader) = terminal();
    let output = {
        let mut command = orgledger();
        command.args(args).stderr(Stdio::from(slave));
        command.output().expect("orgledger runs")
        // The command, and with it this process's copy of the terminal's side, goes here.
    };
    let seen = reader.join().expect("the terminal is read");
    Ran {
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&seen).into_owned(),
        ok: output.status.success(),
    }
}

fn piped(args: &[&str]) -> Ran {
    ran(orgledger().args(args).output().expect("orgledger runs"))
}

fn s(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Runs a command three ways (a terminal; a pipe; a terminal with `--quiet`), each in its
/// own directory when `fresh` says so, and checks the progress shown and the output.
fn three_ways(what: &str, shown: &str, mut args: impl FnMut(&str) -> Vec<String>) {
    let terminal = on_terminal(&args("terminal").iter().map(String::as_str).collect::<Vec<_>>());
    let pipe = piped(&args("pipe").iter().map(String::as_str).collect::<Vec<_>>());
    let mut quiet_args = args("quiet");
    quiet_args.push("--quiet".into());
    let quiet = on_terminal(&quiet_args.iter().map(String::as_str).collect::<Vec<_>>());
    for (how, r) in [("on a terminal", &terminal), ("piped", &pipe), ("quiet", &quiet)] {
        assert!(r.ok, "{what} {how} failed: {}", r.stderr);
    }
    assert!(
        terminal.stderr.contains(shown) && terminal.stderr.contains("events"),
        "{what} on a terminal shows no progress: {:?}",
        terminal.stderr
    );
    assert!(!pipe.stderr.contains(shown), "{what} piped: {:?}", pipe.stderr);
    assert!(!quiet.stderr.contains(shown), "{what} --quiet: {:?}", quiet.stderr);
    assert!(!terminal.stdout.is_empty(), "{what} printed nothing");
    assert_eq!(terminal.stdout, pipe.stdout, "{what}: stdout differs on a terminal");
    assert_eq!(quiet.stdout, pipe.stdout, "{what}: stdout differs with --quiet");
}

#[test]
fn long_commands_show_progress_on_a_terminal_only_and_print_the_same() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let d = |name: &str| dir.path().join(name);
    let data = d("ledger");
    three_ways("generate", "generating", |how| {
        let target = if how == "pipe" {
            data.clone()
        } else {
            d(&format!("generated-{how}"))
        };
        vec![
            "generate".into(),
            "--events".into(),
            "3000".into(),
            "--data".into(),
            s(&target).into(),
        ]
    });
    three_ways("verify", "verifying the chain", |_| {
        vec!["verify".into(), "--data".into(), s(&data).into()]
    });
    three_ways("export", "exporting", |_| {
        vec!["export".into(), "--data".into(), s(&data).into()]
    });
    let export = d("export.jsonl");
    std::fs::write(&export, piped(&["export", "--data", s(&data)]).stdout).expect("the export file");
    three_ways("verify --file", "verifying", |_| {
        vec!["verify".into(), "--file".into(), s(&export).into()]
    });
    three_ways("import", "checking", |how| {
        vec![
            "import".into(),
            s(&export).into(),
            "--data".into(),
            s(&d(&format!("imported-{how}"))).into(),
        ]
    });
    three_ways("demo", "writing the demo", |how| {
        vec!["demo".into(), "--data".into(), s(&d(&format!("demo-{how}"))).into()]
    });
}

#[test]
fn a_follower_shows_its_catch_up_on_a_terminal() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("leader");
    assert!(piped(&["generate", "--events", "3000", "--data", s(&data)]).ok);
    let token = String::from_utf8(
        piped(&[
            "token",
            "add",
            "--name",
            "inspector",
            "--role",
            "auditor",
            "--data",
            s(&data),
        ])
        .stdout,
    )
    .expect("a token");
    let key = dir.path().join("leader.pub");
    std::fs::write(&key, piped(&["key", "public", "--data", s(&data)]).stdout).expect("the key file");
    let mut server = orgledger()
        .args(["serve", "--listen", "127.0.0.1:0", "--data", s(&data)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut lines = BufReader::new(server.stdout.take().expect("piped")).lines();
    let url = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("listening on ").map(str::to_owned))
        .expect("the listening line");
    // The server logs its start-up verify, through tracing, with the count done.
    let log = BufReader::new(server.stderr.take().expect("piped"));
    let verified = log
        .lines()
        .map_while(Result::ok)
        .take(200)
        .find(|l| l.contains("verifying the chain: 3,000 of 3,000 events"));
    assert!(verified.is_some(), "the server logged no progress of its verify");

    // A follower stops by itself only at a disagreement: it is killed once it printed the
    // checkpoint it verified.
    let follower_dir = dir.path().join("follower");
    let (slave, reader) = terminal();
    let mut follower = {
        let mut command = orgledger();
        command
            .args([
                "follow",
                &url,
                "--token",
                token.trim(),
                "--key",
                s(&key),
                "--data",
                s(&follower_dir),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(slave));
        command.spawn().expect("follow starts")
    };
    let line = BufReader::new(follower.stdout.take().expect("piped"))
        .lines()
        .next()
        .and_then(Result::ok)
        .expect("a checkpoint line");
    assert!(line.starts_with("{\"checkpoint\":3000,"), "{line}");
    let _ = follower.kill();
    let _ = follower.wait();
    let _ = server.kill();
    let _ = server.wait();
    let seen = String::from_utf8_lossy(&reader.join().expect("the terminal is read")).into_owned();
    assert!(seen.contains("catching up with the leader"), "{seen:?}");
}

#[test]
fn completions_are_scripts_their_shells_accept() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let r = piped(&["completions", shell]);
        assert!(r.ok, "completions {shell}: {}", r.stderr);
        let script = String::from_utf8(r.stdout).expect("UTF-8");
        // Report names and the formats' values are offered.
        assert!(script.contains("coverage") && script.contains("table"), "{shell}");
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let script = dir.path().join("orgledger.bash");
    std::fs::write(&script, piped(&["completions", "bash"]).stdout).expect("the script");
    let checked = Command::new("bash").arg("-n").arg(&script).output().expect("bash runs");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    // Loaded, it completes a report name.
    let completed = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(orgledger report cov); COMP_CWORD=2; COMP_LINE='orgledger report cov'; \
             COMP_POINT=${{#COMP_LINE}}; _orgledger orgledger cov report; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            s(&script)
        ))
        .output()
        .expect("bash runs");
    assert_eq!(String::from_utf8_lossy(&completed.stdout).trim(), "coverage");
}

#[test]
fn the_manual_pages_are_roff_that_groff_renders() {
    let page = piped(&["man"]);
    assert!(page.ok, "{}", page.stderr);
    let text = String::from_utf8(page.stdout).expect("UTF-8");
    assert!(text.starts_with(".ie"), "{}", &text[..text.len().min(200)]);
    assert!(text.contains(".TH orgledger 1"), "the page's title");
    let dir = tempfile::tempdir().expect("a temp dir");
    let listed = piped(&["man", "--out", s(dir.path())]);
    assert!(listed.ok, "{}", listed.stderr);
    let paths: Vec<String> = String::from_utf8(listed.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_owned)
        .collect();
    // A page for every command, the help's own words in it.
    for name in [
        "orgledger.1",
        "orgledger-verify.1",
        "orgledger-report-coverage.1",
        "orgledger-follow.1",
    ] {
        assert!(paths.iter().any(|p| p.ends_with(name)), "{name} in {paths:?}");
    }
    let verify = std::fs::read_to_string(dir.path().join("orgledger-verify.1")).expect("the verify page");
    assert!(verify.contains("witness"), "the page has the help's text");
    if Command::new("groff")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        for path in &paths {
            let rendered = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(path)
                .output()
                .expect("groff runs");
            assert!(rendered.status.success(), "{path}");
            assert!(
                rendered.stderr.is_empty(),
                "groff warns on {path}: {}",
                String::from_utf8_lossy(&rendered.stderr)
            );
        }
    } else {
        panic!("groff is needed for this test (`.ci/run` installs it)");
    }
}
