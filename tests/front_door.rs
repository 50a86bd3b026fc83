//! The command line as a newcomer meets it: every flag and argument has a help line, and
//! `--data` is offered only where a ledger is used; a wrong `--data` is named (`no ledger at
//! DIR`, exit 2) and never created behind the user's back; `serve --demo` prints a demo
//! token only for the demo ledger; the coverage table fits a terminal.

use std::path::Path;
use std::process::{Command, Output};

fn orgledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .env_remove("ORGLEDGER_DATA")
        .args(args)
        .output()
        .expect("the orgledger binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The names listed under `Commands:` in a help text.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The entries of the `Arguments:` and `Options:` sections of a short help text that have
/// no description after them.
fn undescribed(help: &str) -> Vec<String> {
    let mut bare = Vec::new();
    let mut in_section = false;
    for line in help.lines() {
        if line.starts_with("Arguments:") || line.starts_with("Options:") {
            in_section = true;
            continue;
        }
        if !line.starts_with("  ") {
            in_section = false;
            continue;
        }
        // An entry is `  -x, --name <VALUE>  description`: two spaces or more end the name.
        let entry = line.trim_start();
        if in_section && !entry.trim_end().contains("  ") {
            bare.push(entry.trim_end().to_owned());
        }
    }
    bare
}

/// Every command path of the CLI, from the top: `["append"]`, `["report", "coverage"]`, ...
fn command_paths() -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut queue: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("-h");
        let out = orgledger(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let help = text(&out.stdout);
        for sub in subcommands(&help) {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next.clone());
            paths.push(next);
        }
    }
    paths
}

#[test]
fn every_flag_and_argument_has_a_help_line_and_data_is_offered_only_where_a_ledger_is_used() {
    let paths = command_paths();
    assert!(paths.len() >= 20, "the CLI's commands: {paths:?}");
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("-h");
        let help = text(&orgledger(&args).stdout);
        if help.contains("Commands:") {
            continue;
        }
        assert_eq!(
            undescribed(&help),
            Vec::<String>::new(),
            "{path:?} has flags without help:\n{help}"
        );
        assert!(
            !help.contains("ORGLEDGER_DATA="),
            "{path:?}: the help shows the environment's value:\n{help}"
        );
        let uses_no_store = matches!(
            path.join(" ").as_str(),
            "schema" | "verify-proof" | "completions" | "man" | "tls self-signed"
        );
        assert_eq!(
            help.contains("--data"),
            !uses_no_store,
            "{path:?}: --data is offered exactly by the commands that use a ledger:\n{help}"
        );
    }
}

#[test]
fn a_directory_without_a_ledger_is_named_and_never_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-ledger");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let readers: &[&[&str]] = &[
        &["token", "list"],
        &["token", "revoke", "someone"],
        &["key", "public"],
        &["checkpoint"],
        &["log"],
        &["export"],
        &["verify"],
        &["report", "coverage", "--date", "2010-01-01"],
        &["proof", "inclusion", "--seq", "1"],
    ];
    for data in [&missing, &empty] {
        for args in readers {
            let mut full = args.to_vec();
            full.extend(["--data", data.to_str().expect("UTF-8 path")]);
            let out = orgledger(&full);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{full:?}: {stderr}");
            assert!(
                stderr.contains(&format!("no ledger at {}", data.display())),
                "{full:?}: {stderr}"
            );
            assert_eq!(text(&out.stdout), "", "{full:?}");
        }
        assert!(!missing.exists(), "a reading command created {}", missing.display());
        assert_eq!(
            std::fs::read_dir(&empty).expect("read_dir").count(),
            0,
            "a reading command wrote into {}",
            empty.display()
        );
    }

    // `token add` does not make a mistyped directory: it refuses, and says how to go on.
    let add = orgledger(&[
        "token",
        "add",
        "--name",
        "clerk-a",
        "--role",
        "clerk",
        "--data",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(add.status.code(), Some(2), "{}", text(&add.stderr));
    assert!(text(&add.stderr).contains("no ledger at"), "{}", text(&add.stderr));
    assert_eq!(text(&add.stdout), "", "no token is printed");
    assert!(!missing.exists(), "token add created {}", missing.display());
    // In a directory made for a ledger to come, it keeps the token (serve --demo fills it).
    let add = orgledger(&[
        "token",
        "add",
        "--name",
        "clerk-a",
        "--role",
        "clerk",
        "--data",
        empty.to_str().unwrap(),
    ]);
    assert!(add.status.success(), "{}", text(&add.stderr));
    let list = orgledger(&["token", "list", "--data", empty.to_str().unwrap()]);
    assert!(
        text(&list.stdout).starts_with("clerk-a\tclerk\t"),
        "{}",
        text(&list.stdout)
    );

    // `--data` works before the command too, and after it wins.
    let before = orgledger(&[
        "--data",
        missing.to_str().unwrap(),
        "log",
        "--data",
        empty.to_str().unwrap(),
    ]);
    assert!(
        text(&before.stderr).contains(&format!("no ledger at {}", empty.display())),
        "{}",
        text(&before.stderr)
    );
}

#[test]
fn serve_demo_refuses_a_ledger_that_is_not_the_demo_and_prints_no_token_for_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("office");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trung-khanh-2005.jsonl");
    let appended = orgledger(&["append", example.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(appended.status.success(), "{}", text(&appended.stderr));
    let served = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .env_remove("ORGLEDGER_DATA")
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .expect("serve runs");
    let stderr = text(&served.stderr);
    assert_eq!(served.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not the demo"), "{stderr}");
    assert!(!text(&served.stdout).contains("token"), "{}", text(&served.stdout));
    let tokens = orgledger(&["token", "list", "--data", data.to_str().unwrap()]);
    assert!(
        !text(&tokens.stdout).contains("demo-clerk"),
        "no demo token was made: {}",
        text(&tokens.stdout)
    );
}

#[test]
fn the_coverage_table_fits_a_terminal_and_gives_the_counts_before_the_lists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let demo = orgledger(&["demo", "--data", data.to_str().unwrap()]);
    assert!(demo.status.success(), "{}", text(&demo.stderr));
    let out = orgledger(&[
        "report",
        "coverage",
        "--date",
        "2007-12-31",
        "--format",
        "table",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let widest = table.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 100, "the table is {widest} columns wide:\n{table}");
    let counts = table.split("\n\n").next().expect("a head section");
    for line in [
        "without member: 8",
        "with member: 203",
        "localities: 211",
        "date: 2007-12-31",
    ] {
        assert!(
            counts.lines().any(|l| l == line),
            "no {line:?} in the head section:\n{counts}"
        );
    }
    let lists = table
        .find("\nwithout member (8):\n")
        .expect("the list of hamlets without a member follows");
    assert!(table.find("\ncommunes (20):\n").expect("the communes") < lists);
    // The F1 hamlets are listed by name.
    assert!(table[lists..].contains("Lũng Lạn"), "{table}");
}
