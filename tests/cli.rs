//! The command-line contract of `orgledger` (issue 2, section 6), checked through the real
//! binary: other tools drive the ledger through these commands, their exit codes and their
//! JSON lines, so the tests run the built executable against stores in temp directories and
//! read nothing but its exit code, stdout and stderr.
//!
//! Each boundary has one `check_*` function and each case is a line of data, so a new kind of
//! bad input is one more row. The world every test starts from is
//! `tests/fixtures/cli-world.jsonl`: the Cao Bằng / Trùng Khánh / Ngọc Khê / Pác Ngòa
//! localities, the committees down to the Pác Ngòa cell, and one member admitted there.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// The ten events of the starting world, one JSON line each.
const WORLD: &str = include_str!("fixtures/cli-world.jsonl");
/// How many events `WORLD` holds.
const WORLD_EVENTS: u64 = 10;
/// A valid hamlet under the world's commune; a bad line placed after it shows both that the
/// line number counts from the top and that a good line before a bad one is not appended.
const HAMLET_XOM_MOI: &str = r#"{"type":"LocalityRegistered","effective":"2010-01-01","locality":"xom-moi","name":"Xóm Mới","kind":"hamlet","parent":"xa-ngoc-khe","border":false}"#;
/// The `prev` of the first record.
const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// "At once" for a refused command: far above a debug build's start-up, far below any wait
/// on a lock.
const AT_ONCE: Duration = Duration::from_secs(10);

/// What one run of the binary left behind.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The verdict of `orgledger verify` on a good chain.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    events: u64,
    head: String,
}

/// How `append` receives its input.
#[derive(Clone, Copy, Debug)]
enum Feed {
    /// `append FILE`.
    File,
    /// `append` with no FILE: stdin.
    Stdin,
    /// `append -`: stdin, named explicitly.
    Dash,
}

/// Runs the binary in `cwd` with `args`, no inherited `ORGLEDGER_*` settings plus `envs`, and
/// `input` on stdin (an empty stdin when `None`).
fn run_orgledger(cwd: &Path, envs: &[(&str, &Path)], args: &[&str], input: Option<&[u8]>) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orgledger"));
    command
        .current_dir(cwd)
        .env_remove("ORGLEDGER_DATA")
        .env_remove("ORGLEDGER_ACTOR")
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("the orgledger binary starts");
    // The input is written from its own thread: a refused batch stops reading at its bad line,
    // so the write may fail with a broken pipe, which is the binary's right.
    let feeder = input.map(|bytes| {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        })
    });
    let output = child.wait_with_output().expect("the orgledger binary runs to its end");
    if let Some(feeder) = feeder {
        feeder.join().expect("the stdin feeder does not panic");
    }
    Outcome {
        code: output
            .status
            .code()
            .expect("orgledger exits by itself, not by a signal"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `orgledger --data DATA ARGS...` from the directory that holds `data`.
fn on_store(data: &Path, args: &[&str], input: Option<&[u8]>) -> Outcome {
    let mut full = vec!["--data", data.to_str().expect("temp paths are UTF-8")];
    full.extend_from_slice(args);
    // The nearest existing ancestor, so that a store path whose parents are missing still
    // runs, and a binary that ignored --data would write into the scratch directory.
    let cwd = data
        .ancestors()
        .skip(1)
        .find(|p| p.is_dir())
        .expect("a store lives in a scratch directory");
    run_orgledger(cwd, &[], &full, input)
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Appends `lines` to the store through `feed`, returning what the binary did.
fn append(data: &Path, lines: &[u8], feed: Feed, extra: &[&str]) -> Outcome {
    match feed {
        Feed::File => {
            let file = data.with_extension(format!("input-{}.jsonl", unique()));
            std::fs::write(&file, lines).expect("the input file is written");
            let mut args = vec!["append"];
            args.extend_from_slice(extra);
            args.push(path_arg(&file));
            on_store(data, &args, None)
        }
        Feed::Stdin => {
            let mut args = vec!["append"];
            args.extend_from_slice(extra);
            on_store(data, &args, Some(lines))
        }
        Feed::Dash => {
            let mut args = vec!["append"];
            args.extend_from_slice(extra);
            args.push("-");
            on_store(data, &args, Some(lines))
        }
    }
}

/// A number that differs on every call, for input file names within one test.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The append boundary on success: exit 0, nothing on stderr, and exactly one
/// `{"seq":N,"hash":"<64 hex>"}` line per event with seqs consecutive from `first_seq`.
/// Returns the hashes in order.
fn check_appended(outcome: &Outcome, first_seq: u64, events: usize) -> Vec<String> {
    assert_eq!(outcome.code, 0, "append must succeed: {outcome:?}");
    assert_eq!(outcome.stderr, "", "a successful append writes nothing on stderr");
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), events, "one stdout line per event: {:?}", outcome.stdout);
    let mut hashes = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"));
        let object = value.as_object().unwrap_or_else(|| panic!("{line:?} is not an object"));
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["hash", "seq"], "{line:?}");
        assert_eq!(object["seq"].as_u64(), Some(first_seq + i as u64), "{line:?}");
        let hash = object["hash"]
            .as_str()
            .unwrap_or_else(|| panic!("the hash of {line:?} is not a string"));
        assert_hex_hash(hash);
        hashes.push(hash.to_owned());
    }
    hashes
}

fn assert_hex_hash(hash: &str) {
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{hash:?} is not 64 lowercase hex digits"
    );
}

/// The verify boundary on a good chain: exit 0 and exactly
/// `{"ok":true,"events":N,"head":H,"root":R}`.
fn parse_verdict(outcome: &Outcome) -> Verdict {
    assert_eq!(outcome.code, 0, "verify must succeed: {outcome:?}");
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "verify prints one JSON object: {:?}", outcome.stdout);
    let value: Value = serde_json::from_str(lines[0]).expect("the verdict is JSON");
    let object = value.as_object().expect("the verdict is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["events", "head", "ok", "root"], "{value}");
    assert_hex_hash(object["root"].as_str().expect("root is a string"));
    assert_eq!(object["ok"], Value::Bool(true), "{value}");
    let head = object["head"].as_str().expect("head is a string").to_owned();
    assert_hex_hash(&head);
    Verdict {
        events: object["events"].as_u64().expect("events is an integer"),
        head,
    }
}

fn verify(data: &Path) -> Verdict {
    parse_verdict(&on_store(data, &["verify"], None))
}

/// A scratch directory and a store path inside it that does not exist yet.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("ledger");
    (dir, data)
}

/// A store holding the world; returns the hashes the append printed.
fn world_store(data: &Path) -> Vec<String> {
    check_appended(
        &append(data, WORLD.as_bytes(), Feed::File, &[]),
        1,
        WORLD_EVENTS as usize,
    )
}

/// `count` valid hamlets under the world's commune, one JSON line each.
fn hamlets(count: usize) -> String {
    (1..=count)
        .map(|i| {
            format!(
                r#"{{"type":"LocalityRegistered","effective":"2011-01-01","locality":"xom-{i:04}","name":"Xóm số {i}","kind":"hamlet","parent":"xa-ngoc-khe","border":false}}"#
            ) + "\n"
        })
        .collect()
}

#[test]
fn append_reads_a_file_stdin_and_dash_and_numbers_from_the_head() {
    let (_dir, data) = scratch();
    let world: Vec<&str> = WORLD.lines().collect();
    // The world goes in three batches, one per way of feeding input, so each way must continue
    // the chain where the previous one left it.
    let batches: [(Feed, &[&str], u64); 3] = [
        (Feed::File, &world[0..4], 1),
        (Feed::Stdin, &world[4..8], 5),
        (Feed::Dash, &world[8..10], 9),
    ];
    let mut hashes = Vec::new();
    for (feed, lines, first_seq) in batches {
        let input = lines.join("\n") + "\n";
        let outcome = append(&data, input.as_bytes(), feed, &[]);
        hashes.extend(check_appended(&outcome, first_seq, lines.len()));
        assert_eq!(
            verify(&data),
            Verdict {
                events: first_seq - 1 + lines.len() as u64,
                head: hashes.last().unwrap().clone()
            },
            "{feed:?}"
        );
    }
    // Blank lines are skipped, CRLF line ends and a missing final newline are accepted.
    let loose = format!("\r\n{HAMLET_XOM_MOI}\r\n\n  \n{}", hamlets(1).trim_end());
    let more = check_appended(&append(&data, loose.as_bytes(), Feed::Stdin, &[]), 11, 2);
    assert_eq!(
        verify(&data),
        Verdict {
            events: 12,
            head: more[1].clone()
        }
    );
    let distinct: std::collections::HashSet<&String> = hashes.iter().chain(&more).collect();
    assert_eq!(distinct.len(), 12, "every record has its own hash");
}

#[test]
fn expect_seq_accepts_the_head_and_refuses_a_stale_position() {
    let (_dir, data) = scratch();
    // On a store that does not exist yet the head is 0.
    check_appended(
        &append(&data, WORLD.as_bytes(), Feed::File, &["--expect-seq", "0"]),
        1,
        10,
    );
    let cases: &[(&str, Option<u64>)] = &[
        // (expected position, the seq the event gets or None when refused as a conflict)
        ("10", Some(11)),
        ("10", None),
        ("9", None),
        ("12", None),
        ("0", None),
        ("11", Some(12)),
    ];
    let lines = hamlets(cases.len());
    for ((expect, outcome_seq), line) in cases.iter().zip(lines.lines()) {
        let before = verify(&data);
        let outcome = append(
            &data,
            format!("{line}\n").as_bytes(),
            Feed::Stdin,
            &["--expect-seq", expect],
        );
        match outcome_seq {
            Some(seq) => {
                let hashes = check_appended(&outcome, *seq, 1);
                assert_eq!(
                    verify(&data),
                    Verdict {
                        events: *seq,
                        head: hashes[0].clone()
                    }
                );
            }
            None => {
                assert_eq!(
                    outcome.code, 1,
                    "--expect-seq {expect} at head {}: {outcome:?}",
                    before.events
                );
                assert_eq!(outcome.stdout, "");
                assert!(outcome.stderr.contains("conflict"), "{:?}", outcome.stderr);
                assert!(
                    outcome.stderr.contains(&format!("expected the head at {expect}")),
                    "{:?}",
                    outcome.stderr
                );
                assert_no_panic(&outcome);
                assert_eq!(verify(&data), before, "a conflict appends nothing");
            }
        }
    }
}

fn assert_no_panic(outcome: &Outcome) {
    assert!(
        !outcome.stderr.contains("panicked"),
        "the binary panicked: {:?}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("RUST_BACKTRACE"),
        "the binary panicked: {:?}",
        outcome.stderr
    );
}

/// The append boundary on bad input: exit 1, nothing on stdout, a stderr line
/// `error: line N: ...` holding `expect` (or just holding `expect` when the input has no bad
/// line, as with empty input), and the store exactly as it was.
fn check_refused(data: &Path, feed: Feed, case: &str, input: &[u8], line: Option<usize>, expect: &str) {
    let before = verify(data);
    let outcome = append(data, input, feed, &[]);
    assert_eq!(outcome.code, 1, "{case}: {outcome:?}");
    assert_eq!(outcome.stdout, "", "{case}: a refused batch prints no seq");
    assert_no_panic(&outcome);
    let first = outcome
        .stderr
        .lines()
        .next()
        .unwrap_or_else(|| panic!("{case}: stderr is empty"));
    if let Some(n) = line {
        let prefix = format!("error: line {n}: ");
        assert!(
            first.starts_with(&prefix),
            "{case}: {first:?} should start with {prefix:?}"
        );
    }
    assert!(first.contains(expect), "{case}: {first:?} should say {expect:?}");
    assert_eq!(verify(data), before, "{case}: a refused batch appends nothing");
}

/// A batch of the good hamlet `xom-moi` followed by `bad`: the error is on line 2.
fn after_good(bad: impl AsRef<[u8]>) -> Vec<u8> {
    [HAMLET_XOM_MOI.as_bytes(), b"\n", bad.as_ref(), b"\n"].concat()
}

#[test]
fn every_kind_of_bad_input_is_refused_whole_with_its_line_and_reason() {
    let (_dir, data) = scratch();
    world_store(&data);
    let hamlet = |extra: &str| {
        format!(
            r#"{{"type":"LocalityRegistered","effective":"2010-02-01","locality":"xom-khuoi-khon","name":"Khuổi Khon","kind":"hamlet","parent":"xa-ngoc-khe","border":true{extra}}}"#
        )
    };
    let hamlet_with_id = |id: &str| {
        format!(
            r#"{{"type":"LocalityRegistered","effective":"2010-02-01","locality":"{id}","name":"Khuổi Khon","kind":"hamlet","parent":"xa-ngoc-khe","border":true}}"#
        )
    };
    let meeting = |attendance: &str| {
        format!(
            r#"{{"type":"CellMeetingHeld","effective":"2010-03-05","cell":"cb-pac-ngoa","kind":"regular","attendance":{attendance}}}"#
        )
    };
    let admission = |member: &str, birth: &str, decision: bool| {
        let decision = if decision {
            r#","decision":{"number":"130-QĐ/HU","date":"2010-04-01","issuer":"huyen-uy-trung-khanh"}"#
        } else {
            ""
        };
        format!(
            r#"{{"type":"MemberAdmitted","effective":"2010-04-01","member":"{member}","name":"Lý Văn Tâm","sex":"male","birth_date":"{birth}","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa"{decision}}}"#
        )
    };
    let cleared = |person: &str| {
        format!(
            r#"{{"type":"BackgroundVerified","effective":"2010-03-01","person":"{person}","outcome":"cleared","kin_abroad":false}}"#
        )
    };
    let many = hamlets(200);

    // (case, input, the line the error names, what the error says)
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, Option<usize>, &str)> = vec![
        // Malformed JSON.
        ("unclosed object", after_good(r#"{"type":"LocalityRegistered","#), Some(2), "malformed JSON"),
        ("not JSON at all", after_good("hamlet Khuổi Khon"), Some(2), "malformed JSON"),
        ("trailing garbage", after_good(hamlet("") + " x"), Some(2), "malformed JSON"),
        ("two objects on a line", after_good(hamlet("") + &hamlet("")), Some(2), "malformed JSON"),
        // Lines that are JSON but not objects.
        ("array", after_good("[1,2,3]"), Some(2), "must be a JSON object"),
        ("string", after_good(r#""LocalityRegistered""#), Some(2), "must be a JSON object"),
        ("number", after_good("42"), Some(2), "must be a JSON object"),
        ("null", after_good("null"), Some(2), "must be a JSON object"),
        // Wrong field types.
        ("string for a boolean", after_good(hamlet("").replace(r#""border":true"#, r#""border":"yes""#)), Some(2), "invalid type"),
        ("number for an id", after_good(hamlet_with_id("1").replace(r#""locality":"1""#, r#""locality":1"#)), Some(2), "invalid type"),
        ("string for an integer", after_good(meeting(r#""12""#)), Some(2), "invalid type"),
        ("negative integer", after_good(meeting("-3")), Some(2), "invalid value"),
        ("string for a list", after_good(r#"{"type":"OrganizationFounded","effective":"2010-05-01","org":"cb-moi","name":"Chi bộ Xóm Mới","kind":"cell","parent":"dang-bo-xa-ngoc-khe","localities":"xom-moi"}"#), Some(2), "invalid type"),
        ("number for the type", after_good(r#"{"type":7,"effective":"2010-01-01"}"#), Some(2), "`type` must be a string"),
        ("number for a date", after_good(hamlet("").replace(r#""effective":"2010-02-01""#, r#""effective":20100201"#)), Some(2), "effective: invalid type"),
        ("unknown kind", after_good(hamlet("").replace(r#""kind":"hamlet""#, r#""kind":"village""#)), Some(2), "unknown variant `village`"),
        // Unknown event types.
        ("unknown event type", after_good(r#"{"type":"HamletFounded","effective":"2010-01-01"}"#), Some(2), r#"unknown event type "HamletFounded""#),
        ("type in the wrong case", after_good(hamlet("").replace("LocalityRegistered", "localityRegistered")), Some(2), r#"unknown event type "localityRegistered""#),
        // Unknown and missing fields.
        ("unknown field", after_good(hamlet(r#","population":120"#)), Some(2), "unknown field `population`"),
        ("unknown decision field", after_good(admission("dv-000124", "1990-01-01", true).replace(r#""issuer""#, r#""signed_by":"x","issuer""#)), Some(2), "unknown field `signed_by`"),
        ("missing field", after_good(hamlet("").replace(r#","border":true"#, "")), Some(2), "missing field `border`"),
        ("missing effective", after_good(hamlet("").replace(r#""effective":"2010-02-01","#, "")), Some(2), "missing field `effective`"),
        ("missing type", after_good(hamlet("").replace(r#""type":"LocalityRegistered","#, "")), Some(2), "missing field `type`"),
        // Bad dates.
        ("30 February", after_good(hamlet("").replace("2010-02-01", "2008-02-30")), Some(2), r#"invalid date "2008-02-30""#),
        ("date without zero padding", after_good(hamlet("").replace("2010-02-01", "2008-2-1")), Some(2), r#"invalid date "2008-2-1""#),
        ("date with a time", after_good(hamlet("").replace("2010-02-01", "2010-02-01T00:00:00Z")), Some(2), "invalid date"),
        ("month 13 birth date", after_good(admission("dv-000124", "1985-13-01", true)), Some(2), r#"invalid date "1985-13-01""#),
        // Bad ids.
        ("uppercase id", after_good(hamlet_with_id("Xom-Khuoi-Khon")), Some(2), r#"invalid id "Xom-Khuoi-Khon""#),
        ("id with spaces", after_good(hamlet_with_id("xom khuoi khon")), Some(2), r#"invalid id "xom khuoi khon""#),
        ("id with diacritics", after_good(hamlet_with_id("xóm-khuổi-khon")), Some(2), "invalid id"),
        ("id too long", after_good(hamlet_with_id(&"x".repeat(65))), Some(2), "invalid id"),
        ("empty id", after_good(hamlet_with_id("")), Some(2), "invalid id"),
        ("blank name", after_good(hamlet("").replace("Khuổi Khon", " ")), Some(2), "empty text"),
        // Fields only the ledger sets.
        ("client sets seq", after_good(hamlet(r#","seq":11"#)), Some(2), "field `seq` is set by the ledger"),
        ("client sets hash", after_good(hamlet(&format!(r#","hash":"{ZERO_HASH}""#))), Some(2), "field `hash` is set by the ledger"),
        ("client sets actor", after_good(hamlet(r#","actor":"admin""#)), Some(2), "field `actor` is set by the ledger"),
        ("client sets recorded_at", after_good(hamlet(r#","recorded_at":"2010-02-01T00:00:00.000000Z""#)), Some(2), "field `recorded_at` is set by the ledger"),
        ("client sets prev", after_good(hamlet(&format!(r#","prev":"{ZERO_HASH}""#))), Some(2), "field `prev` is set by the ledger"),
        ("client sets format", after_good(hamlet(r#","format":1"#)), Some(2), "field `format` is set by the ledger"),
        // A key given twice would let two readers see two events in the same bytes.
        ("duplicate key", after_good(hamlet(r#","locality":"xom-khac""#)), Some(2), "duplicate key `locality`"),
        ("duplicate nested key", after_good(admission("dv-000124", "1990-01-01", true).replace(r#""issuer""#, r#""date":"2010-04-01","issuer""#)), Some(2), "duplicate key `date`"),
        // Bytes that are not UTF-8.
        ("invalid UTF-8", after_good(b"{\"type\":\"LocalityRegistered\",\"name\":\"X\xf3m\"}"), Some(2), "not valid UTF-8"),
        ("truncated UTF-8 sequence", after_good(&hamlet("").as_bytes()[..hamlet("").find('ổ').unwrap() + 1]), Some(2), "not valid UTF-8"),
        // Floats where integers are expected: the format carries no floats.
        ("float attendance", after_good(meeting("12.0")), Some(2), "floating point"),
        ("exponent attendance", after_good(meeting("1e2")), Some(2), "floating point"),
        ("float year", after_good(r#"{"type":"QualityRated","effective":"2010-12-20","subject":"cb-pac-ngoa","year":2010.5,"level":"good"}"#), Some(2), "floating point"),
        // Nothing to append.
        ("empty input", Vec::new(), None, "no events in the input"),
        ("only blank lines", b"\n   \n\r\n".to_vec(), None, "no events in the input"),
        // Blank lines are skipped but still counted.
        ("bad line after a blank one", format!("{HAMLET_XOM_MOI}\n\n[]\n").into_bytes(), Some(3), "must be a JSON object"),
        // The classic atomicity case: many good lines, the last one bad.
        ("200 good lines then malformed JSON", format!("{many}{{\"type\":").into_bytes(), Some(201), "malformed JSON"),
        ("200 good lines then an unknown field", format!("{many}{}\n", hamlet(r#","elevation":600"#)).into_bytes(), Some(201), "unknown field `elevation`"),
        // A batch whose last line breaks a rule: each line is checked against the batch so far.
        ("200 good lines then a reused id", format!("{many}{}\n", hamlets(1).trim_end()).into_bytes(), Some(201), "rule id_in_use"),
        ("admission without its decision", format!("{}\n{}\n", cleared("dv-000124"), admission("dv-000124", "1990-01-01", false)).into_bytes(), Some(2), "rule decision_required"),
        ("admission at 61", format!("{}\n{}\n", cleared("dv-000124"), admission("dv-000124", "1949-01-01", true)).into_bytes(), Some(2), "rule admission_age"),
        ("admission without background check", after_good(admission("dv-000124", "1990-01-01", true)), Some(2), "rule background_not_cleared"),
        ("locality id already used", after_good(hamlet_with_id("cao-bang")), Some(2), "rule id_in_use"),
        ("cell under the province committee", after_good(r#"{"type":"OrganizationFounded","effective":"2010-05-01","org":"cb-khuoi-khon","name":"Chi bộ Khuổi Khon","kind":"cell","parent":"tinh-uy-cao-bang","localities":["xom-moi"],"decision":{"number":"08-QĐ/ĐU","date":"2010-05-01","issuer":"dang-bo-xa-ngoc-khe"}}"#), Some(2), "rule parent_kind"),
        ("admission dated before the member's background check", format!("{}\n{}\n", cleared("dv-000124"), admission("dv-000124", "1990-01-01", true).replace("2010-04-01", "2010-02-01")).into_bytes(), Some(2), "rule effective_date_backwards"),
    ];
    for (case, input, line, expect) in &cases {
        check_refused(&data, Feed::Stdin, case, input, *line, expect);
    }
    // The same refusals hold whatever way the input arrives.
    for feed in [Feed::File, Feed::Dash] {
        for (case, input, line, expect) in cases
            .iter()
            .filter(|c| c.0.starts_with("200 good lines") || c.0 == "empty input")
        {
            check_refused(&data, feed, &format!("{case} ({feed:?})"), input, *line, expect);
        }
    }
    // And the lines before the bad ones were good: alone, they are appended.
    let hashes = check_appended(&append(&data, many.as_bytes(), Feed::Stdin, &[]), WORLD_EVENTS + 1, 200);
    assert_eq!(verify(&data).head, hashes[199]);
}

#[test]
fn verify_reports_the_head_of_good_new_and_missing_stores() {
    let (dir, data) = scratch();
    let hashes = world_store(&data);
    assert_eq!(
        verify(&data),
        Verdict {
            events: WORLD_EVENTS,
            head: hashes.last().unwrap().clone()
        }
    );

    // A new store, created by importing an empty export, holds nothing and has the zero head.
    let empty_export = dir.path().join("empty.jsonl");
    std::fs::write(&empty_export, "").unwrap();
    let new_store = dir.path().join("new-ledger");
    let imported = on_store(&new_store, &["import", path_arg(&empty_export)], None);
    assert_eq!(imported.code, 0, "{imported:?}");
    assert_eq!(
        verify(&new_store),
        Verdict {
            events: 0,
            head: ZERO_HASH.into()
        }
    );

    // Where there is no ledger, verify cannot run: exit 2 with a message, not a verdict.
    let empty_dir = dir.path().join("empty-dir");
    std::fs::create_dir(&empty_dir).unwrap();
    for missing in [
        dir.path().join("no-such-dir"),
        empty_dir.clone(),
        dir.path().join("no-such-dir").join("deeper"),
    ] {
        check_no_ledger(&missing, &["verify"]);
        assert!(
            !missing.join("conf").exists(),
            "verify must not create a store at {}",
            missing.display()
        );
    }
}

/// A command on a directory that holds no ledger: exit 2, a message naming the directory,
/// and nothing on stdout.
fn check_no_ledger(data: &Path, args: &[&str]) {
    let outcome = on_store(data, args, None);
    assert_eq!(outcome.code, 2, "{args:?} on {}: {outcome:?}", data.display());
    assert_eq!(outcome.stdout, "", "{args:?}");
    assert_no_panic(&outcome);
    assert!(
        outcome.stderr.contains("no ledger at") && outcome.stderr.contains(path_arg(data)),
        "{args:?}: {:?}",
        outcome.stderr
    );
}

#[test]
fn export_writes_the_canonical_chain_that_verify_and_import_accept() {
    let (dir, data) = scratch();
    let hashes = world_store(&data);
    let head = hashes.last().unwrap().clone();

    let to_stdout = on_store(&data, &["export"], None);
    assert_eq!(to_stdout.code, 0, "{to_stdout:?}");
    assert_eq!(to_stdout.stderr, "");
    check_export(&to_stdout.stdout, &hashes);

    let out = dir.path().join("exports").join("trung-khanh.jsonl");
    std::fs::create_dir(out.parent().unwrap()).unwrap();
    let to_file = on_store(&data, &["export", "--out", path_arg(&out)], None);
    assert_eq!(
        (to_file.code, to_file.stdout.as_str(), to_file.stderr.as_str()),
        (0, "", ""),
        "{to_file:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        to_stdout.stdout,
        "--out writes what stdout gets"
    );
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        ["trung-khanh.jsonl"],
        "export --out leaves no partial file behind"
    );

    let file_verdict = parse_verdict(&run_orgledger(
        dir.path(),
        &[],
        &["verify", "--file", path_arg(&out)],
        None,
    ));
    assert_eq!(
        file_verdict,
        Verdict {
            events: WORLD_EVENTS,
            head: head.clone()
        },
        "verify --file needs no store"
    );

    // Import into a directory that does not exist yet rebuilds the same chain, byte for byte.
    let copy = dir.path().join("copy");
    let imported = on_store(&copy, &["import", path_arg(&out)], None);
    assert_eq!(imported.code, 0, "{imported:?}");
    assert_eq!(
        parse_verdict(&imported),
        Verdict {
            events: WORLD_EVENTS,
            head: head.clone()
        }
    );
    assert_eq!(
        verify(&copy),
        Verdict {
            events: WORLD_EVENTS,
            head: head.clone()
        }
    );
    let re_export = on_store(&copy, &["export"], None);
    assert_eq!(
        re_export.stdout, to_stdout.stdout,
        "the imported store exports the same bytes"
    );

    // The imported store is a live ledger: it appends after the imported head.
    let next = check_appended(
        &append(&copy, format!("{HAMLET_XOM_MOI}\n").as_bytes(), Feed::Stdin, &[]),
        11,
        1,
    );
    assert_eq!(verify(&copy).head, next[0]);

    // Import never merges into a store that already holds events.
    for target in [&data, &copy] {
        let before = verify(target);
        let refused = on_store(target, &["import", path_arg(&out)], None);
        assert_eq!(refused.code, 2, "{refused:?}");
        assert_eq!(refused.stdout, "");
        assert!(refused.stderr.contains("not empty"), "{:?}", refused.stderr);
        assert_no_panic(&refused);
        assert_eq!(verify(target), before, "a refused import changes nothing");
    }
}

/// The export boundary: one canonical line per record, in seq order, each with its envelope
/// and the event's own fields as they were submitted, chained by `prev`.
fn check_export(export: &str, hashes: &[String]) {
    let lines: Vec<&str> = export.lines().collect();
    assert!(export.ends_with('\n'), "every export line ends with a newline");
    assert_eq!(lines.len(), hashes.len(), "one line per record");
    let mut prev = ZERO_HASH.to_owned();
    let mut last_recorded = String::new();
    for (i, (line, submitted)) in lines.iter().zip(WORLD.lines()).enumerate() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        // serde_json writes objects with sorted keys and no spaces, the canonical form.
        assert_eq!(
            &serde_json::to_string(&value).unwrap(),
            line,
            "line {} is not canonical",
            i + 1
        );
        let record = value.as_object().expect("a record is an object");
        for key in ["seq", "prev", "hash", "recorded_at", "actor", "type", "effective"] {
            assert!(record.contains_key(key), "line {} lacks {key}: {line}", i + 1);
        }
        assert_eq!(record["seq"].as_u64(), Some(i as u64 + 1), "seq order");
        assert_eq!(
            record["prev"].as_str(),
            Some(prev.as_str()),
            "record {} chains to the one before",
            i + 1
        );
        assert_eq!(
            record["hash"].as_str(),
            Some(hashes[i].as_str()),
            "the hash append printed"
        );
        assert_eq!(record["actor"].as_str(), Some("cli"), "the default actor");
        // Transaction time never goes backwards along the chain.
        let recorded = record["recorded_at"]
            .as_str()
            .expect("recorded_at is a string")
            .to_owned();
        assert!(
            recorded.len() == 27 && recorded.ends_with('Z') && recorded >= last_recorded,
            "{recorded:?} after {last_recorded:?}"
        );
        let submitted: Map<String, Value> = serde_json::from_str(submitted).unwrap();
        for (key, value) in &submitted {
            assert_eq!(
                record.get(key),
                Some(value),
                "record {} keeps the submitted {key}",
                i + 1
            );
        }
        prev = hashes[i].clone();
        last_recorded = recorded;
    }
}

/// The ways a file can break in transit or by hand, each with the first record `verify
/// --file` must name.
fn broken_exports(export: &str) -> Vec<(&'static str, Vec<u8>, u64)> {
    let lines: Vec<&str> = export.lines().collect();
    let join = |lines: &[&str]| lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes();
    let one_byte = {
        let mut bytes = export.as_bytes().to_vec();
        let at = export.find(r#""kind":"commune""#).unwrap() + r#""kind":"commun"#.len();
        bytes[at] = b'f';
        bytes
    };
    let removed: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| *l)
        .collect();
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    let truncated = export.as_bytes()[..export.len() - 40].to_vec();
    let mut forged = lines.clone();
    let forged_line = lines[4].replace(r#""actor":"cli""#, r#""actor":"someone-else""#);
    forged[4] = &forged_line;
    vec![
        ("one byte changed in record 3", one_byte, 3),
        ("record 2 removed", join(&removed), 2),
        ("records 3 and 4 swapped", join(&swapped), 3),
        ("last line truncated", truncated, WORLD_EVENTS),
        ("actor of record 5 rewritten", join(&forged), 5),
        ("first line only half there", export.as_bytes()[..20].to_vec(), 1),
    ]
}

#[test]
fn a_broken_export_is_refused_by_verify_and_by_import() {
    let (dir, data) = scratch();
    world_store(&data);
    let export = on_store(&data, &["export"], None).stdout;
    for (case, bytes, first_bad) in broken_exports(&export) {
        check_broken_export(dir.path(), case, &bytes, first_bad);
    }
}

/// The import boundary on a broken file: `verify --file` names the first bad record; import
/// exits 1 and leaves no ledger behind.
fn check_broken_export(scratch: &Path, case: &str, bytes: &[u8], first_bad: u64) {
    let slug = case.replace(' ', "-");
    let file = scratch.join(format!("{slug}.jsonl"));
    std::fs::write(&file, bytes).unwrap();

    let verdict = run_orgledger(scratch, &[], &["verify", "--file", path_arg(&file)], None);
    assert_eq!(verdict.code, 1, "{case}: {verdict:?}");
    let value: Value =
        serde_json::from_str(verdict.stdout.trim_end()).unwrap_or_else(|e| panic!("{case}: {e}: {verdict:?}"));
    assert_eq!(value["ok"], Value::Bool(false), "{case}");
    assert_eq!(value["seq"].as_u64(), Some(first_bad), "{case}: {value}");
    assert!(
        value["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{case}: {value}"
    );
    assert!(
        verdict.stderr.contains(&format!("record {first_bad}")),
        "{case}: {:?}",
        verdict.stderr
    );

    let store = scratch.join(format!("{slug}-store"));
    let imported = on_store(&store, &["import", path_arg(&file)], None);
    assert_eq!(imported.code, 1, "{case}: {imported:?}");
    assert_eq!(imported.stdout, "", "{case}");
    assert_no_panic(&imported);
    assert!(
        imported.stderr.contains("refused") && imported.stderr.contains(&format!("record {first_bad}")),
        "{case}: {:?}",
        imported.stderr
    );
    check_no_ledger(&store, &["verify"]);
}

#[test]
fn log_lists_the_requested_range_of_seqs() {
    let (_dir, data) = scratch();
    world_store(&data);
    // (arguments, the seqs listed)
    let cases: &[(&[&str], &[u64])] = &[
        (&[], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        (&["--from", "4"], &[4, 5, 6, 7, 8, 9, 10]),
        (&["--limit", "3"], &[1, 2, 3]),
        (&["--from", "5", "--limit", "2"], &[5, 6]),
        (&["--from", "9", "--limit", "5"], &[9, 10]),
        (&["--from", "10"], &[10]),
        (&["--from", "11"], &[]),
        (&["--limit", "0"], &[]),
        (&["--from", "0", "--limit", "2"], &[1, 2]),
    ];
    for (args, seqs) in cases {
        check_log(&data, args, seqs);
    }
    check_no_ledger(&data.with_file_name("no-ledger-here"), &["log"]);
}

/// The log boundary: exit 0 and one line per listed event, starting with its seq and naming
/// its type and effective date.
fn check_log(data: &Path, args: &[&str], seqs: &[u64]) {
    let mut full = vec!["log"];
    full.extend_from_slice(args);
    let outcome = on_store(data, &full, None);
    assert_eq!(outcome.code, 0, "{args:?}: {outcome:?}");
    let world: Vec<Value> = WORLD.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let listed: Vec<u64> = outcome
        .stdout
        .lines()
        .map(|line| {
            let seq: u64 = line
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{line:?} does not start with a seq"));
            let event = &world[seq as usize - 1];
            for key in ["type", "effective"] {
                assert!(
                    line.contains(event[key].as_str().unwrap()),
                    "{args:?}: {line:?} lacks its {key}"
                );
            }
            seq
        })
        .collect();
    assert_eq!(listed, seqs, "{args:?}");
}

/// A CLI process that holds the store open until it is killed: an `export` whose stdout is a
/// pipe nobody reads after its first line, so it blocks on a full pipe with the store open.
/// Killed when dropped, so a failing test leaves no process behind.
struct StoreHolder {
    child: Child,
    /// The read end of the holder's stdout, kept open so it blocks instead of failing.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl StoreHolder {
    fn hold(data: &Path) -> StoreHolder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orgledger"))
            .env_remove("ORGLEDGER_DATA")
            .args(["--data", path_arg(data), "export"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the holder starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        // Export opens the store before it writes its first record, and keeps it open until
        // the last one is written: once a line arrives, the store is held.
        let mut first = String::new();
        stdout.read_line(&mut first).expect("the holder writes");
        assert!(first.starts_with('{'), "the holder exported nothing: {first:?}");
        StoreHolder { child, _stdout: stdout }
    }

    /// Whether the holder is still running (so still holding the store).
    fn running(&mut self) -> bool {
        self.child.try_wait().expect("the holder can be polled").is_none()
    }
}

impl Drop for StoreHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The store-in-use boundary: exit 2 at once, a message saying the store is in use, no panic.
fn check_in_use(data: &Path, args: &[&str], input: Option<&[u8]>) {
    let started = Instant::now();
    let outcome = on_store(data, args, input);
    let took = started.elapsed();
    assert_eq!(outcome.code, 2, "{args:?}: {outcome:?}");
    assert_eq!(outcome.stdout, "", "{args:?}");
    assert_no_panic(&outcome);
    assert!(outcome.stderr.contains("in use"), "{args:?}: {:?}", outcome.stderr);
    assert!(
        took < AT_ONCE,
        "{args:?} waited {took:?} for the store instead of failing at once"
    );
}

#[test]
fn a_store_held_by_another_process_is_refused_at_once() {
    let (dir, data) = scratch();
    world_store(&data);
    let world_export = dir.path().join("world.jsonl");
    std::fs::write(&world_export, on_store(&data, &["export"], None).stdout).unwrap();
    // Enough records that the export outgrows any pipe buffer and blocks while holding the
    // store (about 300 KB against Linux's 64 KB).
    check_appended(&append(&data, hamlets(1000).as_bytes(), Feed::File, &[]), 11, 1000);
    let head = verify(&data);

    let mut holder = StoreHolder::hold(&data);
    let good_line = format!("{HAMLET_XOM_MOI}\n");
    let cases: &[(&[&str], Option<&[u8]>)] = &[
        (&["verify"], None),
        (&["export"], None),
        (&["log", "--limit", "1"], None),
        (&["append"], Some(good_line.as_bytes())),
        (&["append", "--expect-seq", "1010"], Some(good_line.as_bytes())),
        (&["import", path_arg(&world_export)], None),
    ];
    for (args, input) in cases {
        check_in_use(&data, args, *input);
    }
    assert!(holder.running(), "the holder kept the store for the whole check");
    drop(holder);

    // Once the holder is gone the store is whole and usable again.
    assert_eq!(verify(&data), head);
    check_appended(&append(&data, good_line.as_bytes(), Feed::Stdin, &[]), 1011, 1);
}

#[test]
fn the_data_directory_comes_from_the_flag_the_environment_or_the_default() {
    let (dir, data) = scratch();
    let cwd = dir.path();
    let world_file = dir.path().join("world.jsonl");
    std::fs::write(&world_file, WORLD).unwrap();

    // ORGLEDGER_DATA alone names the store.
    let env = [("ORGLEDGER_DATA", data.as_path())];
    let appended = run_orgledger(cwd, &env, &["append", path_arg(&world_file)], None);
    let hashes = check_appended(&appended, 1, WORLD_EVENTS as usize);
    let expected = Verdict {
        events: WORLD_EVENTS,
        head: hashes.last().unwrap().clone(),
    };
    assert_eq!(verify(&data), expected, "the store is where ORGLEDGER_DATA says");
    assert_eq!(parse_verdict(&run_orgledger(cwd, &env, &["verify"], None)), expected);

    // --data wins over the environment.
    let elsewhere = dir.path().join("elsewhere");
    let env_elsewhere = [("ORGLEDGER_DATA", elsewhere.as_path())];
    assert_eq!(
        parse_verdict(&run_orgledger(
            cwd,
            &env_elsewhere,
            &["--data", path_arg(&data), "verify"],
            None
        )),
        expected
    );
    assert!(!elsewhere.exists());

    // With neither, the store is ./orgledger-data.
    let default_store = cwd.join("orgledger-data");
    let appended = run_orgledger(cwd, &[], &["append", path_arg(&world_file)], None);
    let hashes = check_appended(&appended, 1, WORLD_EVENTS as usize);
    assert_eq!(verify(&default_store).head, *hashes.last().unwrap());
}

/// Limits and leftovers: a refused first batch leaves no store where there was none, and
/// over-long lines and lists are refused before they are parsed.
#[test]
fn refused_input_leaves_nothing_and_oversized_input_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let fresh = root.path().join("fresh");
    let bin = env!("CARGO_BIN_EXE_orgledger");
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(bin)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let data = fresh.to_str().unwrap();
    let province = r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"cao-bang","name":"Cao Bằng","kind":"province","border":true}"#;

    let (code, err) = run(&["--data", data, "append", "--expect-seq", "3"], province);
    assert_eq!(code, Some(1), "{err}");
    assert!(!fresh.exists(), "a refused first batch left {} behind", fresh.display());

    let long = format!("{}\n", "x".repeat((1 << 20) + 1));
    let (code, err) = run(&["--data", data, "append"], &long);
    assert_eq!(code, Some(1));
    assert!(err.contains("line 1") && err.contains("bytes long"), "{err}");

    let topics: Vec<String> = (0..1001).map(|i| format!("\"t{i}\"")).collect();
    let meeting = format!(
        r#"{{"type":"CellMeetingHeld","effective":"2005-01-01","cell":"cb-x","kind":"regular","attendance":1,"topics":[{}]}}"#,
        topics.join(",")
    );
    let (code, err) = run(&["--data", data, "append"], &meeting);
    assert_eq!(code, Some(1));
    assert!(err.contains("topics: 1001 items"), "{err}");

    let dir = root.path().to_str().unwrap();
    let (code, err) = run(&["--data", data, "append", dir], "");
    assert_eq!(code, Some(2));
    assert!(err.contains("is a directory"), "{err}");
    let (code, err) = run(&["verify", "--file", dir], "");
    assert_eq!(code, Some(2));
    assert!(err.contains("is a directory"), "{err}");
    assert!(!fresh.exists());

    // An existing directory is never removed, even when the first batch is refused.
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("notes.txt"), "kept").unwrap();
    let (code, _) = run(&["--data", data, "append", "--expect-seq", "3"], province);
    assert_eq!(code, Some(1));
    assert_eq!(std::fs::read_to_string(fresh.join("notes.txt")).unwrap(), "kept");
}
