//! Tamper tests: one per kind of damage a disk or an intruder can do to a store or to an
//! export file. Each builds a good ledger through the real writer, damages it behind the
//! ledger's back, and then asks the real CLI: `orgledger verify` must exit 1 and print
//! `{"ok":false,"seq":K,"error":...}` with K the first bad record, and `orgledger append`
//! must refuse to write on a broken store, naming the same record.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orgledger::chain::Head;
use orgledger::event::canonical::to_canonical;
use orgledger::event::{event_hash, Id, Record, Submission, Timestamp};
use orgledger::ledger::{AppendError, Ledger, LedgerOptions};
use orgledger::store::{Store, StoreError};
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

/// How many events the ledger under test holds.
const EVENTS: u64 = 20;

/// The territory of the ledger under test, in the order it is registered: a province, a
/// district, three communes and fifteen hamlets, all valid, appended in a few batches.
fn territory() -> Vec<Vec<&'static str>> {
    vec![
        vec![
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"cao-bang","name":"Cao Bằng","kind":"province","border":true}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"trung-khanh","name":"Trùng Khánh","kind":"district","parent":"cao-bang","border":true}"#,
        ],
        vec![
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xa-dam-thuy","name":"Đàm Thủy","kind":"commune","parent":"trung-khanh","border":true}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xa-ngoc-khe","name":"Ngọc Khê","kind":"commune","parent":"trung-khanh","border":true}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xa-phong-nam","name":"Phong Nậm","kind":"commune","parent":"trung-khanh","border":false}"#,
        ],
        vec![
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-ban-gioc","name":"Bản Giốc","kind":"hamlet","parent":"xa-dam-thuy","border":true}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-pac-ngoa","name":"Pác Ngòa","kind":"hamlet","parent":"xa-dam-thuy","border":true}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-na-ri","name":"Nà Ri","kind":"hamlet","parent":"xa-dam-thuy","border":false}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-khuoi-ky","name":"Khuổi Ky","kind":"hamlet","parent":"xa-dam-thuy","border":false}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-lung-lan","name":"Lũng Lạn","kind":"hamlet","parent":"xa-dam-thuy","border":true}"#,
        ],
        vec![
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-ban-thuon","name":"Bản Thuôn","kind":"hamlet","parent":"xa-ngoc-khe","border":true}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-pac-rang","name":"Pác Rằng","kind":"hamlet","parent":"xa-ngoc-khe","border":true}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-po-peo","name":"Pò Peo","kind":"hamlet","parent":"xa-ngoc-khe","border":false}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-ban-chang","name":"Bản Chang","kind":"hamlet","parent":"xa-ngoc-khe","border":true}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-luong-nam","name":"Lương Nặm","kind":"hamlet","parent":"xa-ngoc-khe","border":false}"#,
        ],
        vec![
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-na-thong","name":"Nà Thông","kind":"hamlet","parent":"xa-phong-nam","border":false}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-ban-viet","name":"Bản Viết","kind":"hamlet","parent":"xa-phong-nam","border":false}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-giang-duc","name":"Giảng Đức","kind":"hamlet","parent":"xa-phong-nam","border":false}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-keo-giang","name":"Keo Giàng","kind":"hamlet","parent":"xa-phong-nam","border":false}"#,
            r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-po-ri","name":"Pò Rì","kind":"hamlet","parent":"xa-phong-nam","border":false}"#,
        ],
    ]
}

/// A valid event to offer a tampered store: the writer must refuse to append it.
const NEW_HAMLET: &str = r#"{"type":"LocalityRegistered","effective":"2006-03-01","locality":"xom-moi","name":"Xóm Mới","kind":"hamlet","parent":"xa-dam-thuy","border":false}"#;

/// A store of [`EVENTS`] good records, built through the real writer and then closed.
struct BuiltStore {
    /// Keeps the directory alive for the test.
    _dir: tempfile::TempDir,
    /// The store's `--data` directory.
    data: PathBuf,
    /// The head after the last append.
    head: Head,
}

fn build_store() -> BuiltStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let ledger = Ledger::open(&data, LedgerOptions::default()).expect("open a new ledger");
    let actor = Id::parse("ban-to-chuc-huyen-uy").expect("actor id");
    for batch in territory() {
        let subs = batch
            .iter()
            .map(|l| Submission::from_json(l).expect("valid event"))
            .collect();
        ledger.append(actor.clone(), subs, None).expect("append a valid batch");
    }
    let head = ledger.head();
    assert_eq!(head.seq, EVENTS, "the territory holds {EVENTS} events");
    ledger.close();
    common::wait_until_released(&data);
    BuiltStore { _dir: dir, data, head }
}

/// Opens the closed store without the tail check, damages it, and closes it again so the
/// CLI can take sled's lock.
fn damage(data: &Path, how: impl FnOnce(&Store)) {
    let deadline = Instant::now() + LOCK_PATIENCE;
    let store = loop {
        match Store::open_unchecked(data, false) {
            Err(StoreError::InUse(_)) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            other => break other.expect("open the store to damage it"),
        }
    };
    how(&store);
    drop(store);
    common::wait_until_released(data);
}

/// How long to wait for sled to let go of a store this process has closed.
const LOCK_PATIENCE: Duration = Duration::from_secs(10);

fn stored_value(store: &Store, seq: u64) -> Vec<u8> {
    store
        .raw_value(seq)
        .expect("read")
        .unwrap_or_else(|| panic!("record {seq} is stored"))
}

/// Changes the first byte after `marker` (an ASCII letter of an id) to another letter, so
/// the damage stays valid UTF-8 and valid JSON and only the hash can tell.
fn change_letter_after(bytes: &mut [u8], marker: &[u8]) {
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker present")
        + marker.len();
    let b = bytes[at];
    assert!(
        b.is_ascii_lowercase(),
        "expected a letter after the marker, found {:?}",
        b as char
    );
    bytes[at] = b'a' + (b - b'a' + 1) % 26;
}

/// What a run of the CLI left behind.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn orgledger(args: &[&str], data: Option<&Path>, stdin: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgledger"));
    if let Some(data) = data {
        cmd.arg("--data").arg(data);
    }
    cmd.args(args).env_remove("ORGLEDGER_DATA");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run orgledger");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for orgledger");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Asserts that a verify run refused the chain at exactly `seq`, and returns its error text.
fn assert_broken_at(run: &Run, seq: u64) -> String {
    assert_eq!(
        run.code,
        Some(1),
        "verify must exit 1 on a broken chain; stdout {:?} stderr {:?}",
        run.stdout,
        run.stderr
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "verify prints one JSON object: {:?}", run.stdout);
    let verdict: Map<String, Value> = serde_json::from_str(lines[0]).expect("the verdict is a JSON object");
    let keys: Vec<&str> = verdict.keys().map(String::as_str).collect();
    assert_eq!(keys, ["error", "ok", "seq"], "verdict {verdict:?}");
    assert_eq!(verdict["ok"], Value::Bool(false), "verdict {verdict:?}");
    assert_eq!(
        verdict["seq"],
        Value::from(seq),
        "the first bad record; verdict {verdict:?}"
    );
    let error = verdict["error"].as_str().expect("error is a string").to_owned();
    assert!(!error.is_empty());
    error
}

fn verify_store(data: &Path) -> Run {
    orgledger(&["verify"], Some(data), "")
}

fn verify_file(file: &Path) -> Run {
    orgledger(&["verify", "--file", file.to_str().expect("utf-8 path")], None, "")
}

/// Where damage is found besides `verify`. Opening checks only what is new since the
/// verified point (the tail, and records appended since), so damage to the last record or
/// past the head is found by every command that opens the ledger; damage further back is
/// found by `verify`, by the server's background verify (which then refuses appends), and
/// by whatever reads the damaged record (a report replaying from the first record).
#[derive(Clone, Copy, PartialEq)]
enum Found {
    /// The tail: every open refuses.
    OnOpen,
    /// Behind the verified point: `verify` and the background verify.
    ByVerify,
}

/// Checks the store verdict, then who else refuses the broken store and names the same
/// record, and that nothing was appended.
fn assert_store_broken_at(data: &Path, seq: u64, error_says: &str, found: Found) {
    let before = verify_store(data);
    let error = assert_broken_at(&before, seq);
    assert!(
        error.contains(error_says),
        "the error should say {error_says:?}: {error:?}"
    );
    let names = format!("corrupt at record {seq}:");

    if found == Found::OnOpen {
        // The library refuses: the tail check on open.
        match Ledger::open(data, LedgerOptions::default()) {
            Err(StoreError::Corrupt { seq: at, reason }) => assert_eq!(at, seq, "Ledger::open names {at}: {reason}"),
            Err(other) => panic!("Ledger::open should find the store corrupt at {seq}, not fail with {other}"),
            Ok(_) => panic!("Ledger::open accepted a store broken at {seq}"),
        }
        common::wait_until_released(data);
        let append = orgledger(&["append"], Some(data), NEW_HAMLET);
        assert_eq!(
            append.code,
            Some(1),
            "append on a broken store must exit 1: {:?}",
            append.stderr
        );
        assert!(append.stdout.is_empty(), "nothing acknowledged: {:?}", append.stdout);
        assert!(
            append.stderr.contains(&names),
            "append must name record {seq}: {:?}",
            append.stderr
        );
    } else {
        // Opening does not read back that far; the background verify a server runs does,
        // and from then on the ledger refuses every append, naming the record.
        let ledger = Ledger::open(data, LedgerOptions::default().without_projection()).expect("the tail is sound");
        let (tx, rx) = std::sync::mpsc::channel();
        ledger
            .verify_in_background(move |verdict| {
                let _ = tx.send(verdict.as_ref().map(|v| v.events).map_err(|e| e.clone()));
            })
            .expect("the verify starts");
        match rx.recv().expect("the verify ends") {
            Err(StoreError::Corrupt { seq: at, reason }) => {
                assert_eq!(at, seq, "the background verify names {at}: {reason}")
            }
            other => panic!("the background verify should find the store corrupt at {seq}: {other:?}"),
        }
        let sub = Submission::from_json(NEW_HAMLET).expect("valid event");
        match ledger.append(Id::parse("cli").expect("id"), vec![sub], None) {
            Err(AppendError::Store(StoreError::Corrupt { seq: at, .. })) => assert_eq!(at, seq),
            other => panic!("an append after a failed background verify must be refused: {other:?}"),
        }
        ledger.close();
        common::wait_until_released(data);
    }

    // A report refuses too. Here its projection is replayed from the first record (a store
    // this small has no snapshot), and every record read is checked against its hash, its
    // key and the one before: it names the same record and prints nothing on stdout, so no
    // figure of a broken ledger is ever taken for an answer.
    let report = orgledger(&["report", "coverage", "--date", "2006-12-31"], Some(data), "");
    assert_eq!(
        report.code,
        Some(1),
        "report on a broken store must exit 1: stdout {:?} stderr {:?}",
        report.stdout,
        report.stderr
    );
    assert!(report.stdout.is_empty(), "no report printed: {:?}", report.stdout);
    assert!(
        report.stderr.contains(&names),
        "report must name record {seq}: {:?}",
        report.stderr
    );

    let after = verify_store(data);
    assert_eq!(after.stdout, before.stdout, "a refused append changes nothing");
}

#[test]
fn an_untouched_store_and_its_export_verify() {
    let built = build_store();
    let run = verify_store(&built.data);
    assert_eq!(run.code, Some(0), "stderr {:?}", run.stderr);
    let head = built.head.hash.to_hex();

    let data = built.data.clone();
    let export = export_lines(built);
    assert_eq!(export.lines.len() as u64, EVENTS);
    // The root of the tree over the exported records' hashes, computed apart from verify.
    let hashes: Vec<orgledger::event::Hash> = export
        .lines
        .iter()
        .map(|l| {
            let record: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            orgledger::event::Hash::parse(record["hash"].as_str().expect("a hash")).expect("hex")
        })
        .collect();
    let root = orgledger::merkle::MemoryTree::from_event_hashes(&hashes)
        .root()
        .to_hex();
    let expected = format!("{{\"events\":{EVENTS},\"head\":\"{head}\",\"ok\":true,\"root\":\"{root}\"}}\n");
    assert_eq!(run.stdout, expected);
    let run = verify_file(&export.write("untouched", &export.lines));
    assert_eq!(run.code, Some(0), "stderr {:?}", run.stderr);
    assert_eq!(run.stdout, expected);

    // The store is still writable: the tamper tests below fail because of the damage, not
    // because the store refuses every append.
    let append = orgledger(&["append"], Some(&data), NEW_HAMLET);
    assert_eq!(append.code, Some(0), "stderr {:?}", append.stderr);
    let ack: Map<String, Value> = serde_json::from_str(append.stdout.trim_end()).expect("one JSON acknowledgement");
    assert_eq!(ack["seq"], Value::from(EVENTS + 1), "{ack:?}");
}

#[test]
fn a_changed_content_byte_is_caught_at_its_record() {
    let built = build_store();
    damage(&built.data, |store| {
        let mut value = stored_value(store, 7);
        // Byte 32 on is the canonical record; the stored hash before it is kept.
        change_letter_after(&mut value[32..], b"\"locality\":\"xom-");
        store.tamper(7, Some(value)).expect("tamper");
    });
    assert_store_broken_at(&built.data, 7, "hash mismatch", Found::ByVerify);
}

#[test]
fn a_changed_content_byte_in_the_last_record_is_caught_on_open() {
    // The last record is what the open path's tail check reads, not the full replay.
    let built = build_store();
    damage(&built.data, |store| {
        let mut value = stored_value(store, EVENTS);
        change_letter_after(&mut value[32..], b"\"locality\":\"xom-");
        store.tamper(EVENTS, Some(value)).expect("tamper");
    });
    assert_store_broken_at(&built.data, EVENTS, "hash mismatch", Found::OnOpen);
}

#[test]
fn a_changed_hash_byte_is_caught_at_its_record() {
    let built = build_store();
    damage(&built.data, |store| {
        let mut value = stored_value(store, 12);
        value[0] ^= 0x01;
        store.tamper(12, Some(value)).expect("tamper");
    });
    assert_store_broken_at(&built.data, 12, "hash mismatch", Found::ByVerify);
}

#[test]
fn two_swapped_records_are_caught_at_the_first() {
    let built = build_store();
    damage(&built.data, |store| {
        let (fifth, ninth) = (stored_value(store, 5), stored_value(store, 9));
        store.tamper(5, Some(ninth)).expect("tamper");
        store.tamper(9, Some(fifth)).expect("tamper");
    });
    // Each swapped record still hashes right; what gives it away is the seq inside it.
    assert_store_broken_at(&built.data, 5, "says seq 9", Found::ByVerify);
}

#[test]
fn a_deleted_middle_record_is_caught_where_it_is_missing() {
    let built = build_store();
    damage(&built.data, |store| store.tamper(10, None).expect("tamper"));
    // Behind the verified point, but in the Merkle tree's last tile (its first 64 leaves),
    // whose records every open reads for the tree's right edge.
    assert_store_broken_at(&built.data, 10, "record 10 is missing", Found::OnOpen);
}

#[test]
fn a_deleted_last_record_leaves_the_head_pointing_past_the_end() {
    let built = build_store();
    damage(&built.data, |store| store.tamper(EVENTS, None).expect("tamper"));
    assert_store_broken_at(&built.data, EVENTS, "recorded head is at 20", Found::OnOpen);
}

#[test]
fn a_forged_record_after_the_head_is_caught() {
    let built = build_store();
    damage(&built.data, |store| {
        // The best forgery there is: a record that hashes right and chains to the real
        // last record. Only the recorded head, which it did not move, gives it away.
        let sub = Submission::from_json(NEW_HAMLET).expect("valid event");
        let actor = Id::parse("ke-gia-mao").expect("id");
        let forged = Record::seal(EVENTS + 1, built.head.hash, Timestamp::now(), actor, sub);
        let mut value = forged.hash().0.to_vec();
        value.extend_from_slice(forged.canonical());
        store.tamper(EVENTS + 1, Some(value)).expect("tamper");
    });
    assert_store_broken_at(&built.data, EVENTS + 1, "recorded head is at 20", Found::OnOpen);
}

/// Opens as `orgledger append` does (no projection, which would replay the small store from
/// its first record and so find any damage): only the checks of the open itself.
fn open_as_append(data: &Path) -> Result<Ledger, StoreError> {
    Ledger::open(data, LedgerOptions::default().without_projection())
}

#[test]
fn a_clean_open_makes_the_head_the_verified_point() {
    let built = build_store();
    let store = Store::open(&built.data, false).expect("open");
    assert_eq!(store.verified().expect("read"), built.head);
    assert_eq!(store.checked_on_open(), 0, "nothing new since the writer's last group");
}

#[test]
fn a_store_without_a_verified_point_is_checked_whole_on_its_first_open() {
    // As a store written before verified points were kept: the first open checks every
    // record, finds the damage, and does not record a verified point past it.
    let built = build_store();
    damage(&built.data, |store| {
        let mut value = stored_value(store, 7);
        change_letter_after(&mut value[32..], b"\"locality\":\"xom-");
        store.tamper(7, Some(value)).expect("tamper");
        store.tamper_verified(None).expect("tamper");
    });
    match open_as_append(&built.data) {
        Err(StoreError::Corrupt { seq, reason }) => assert_eq!(seq, 7, "{reason}"),
        Err(other) => panic!("the open should find record 7 corrupt, not {other}"),
        Ok(_) => panic!("the open accepted a store broken at 7 with no verified point"),
    }
    common::wait_until_released(&built.data);
    let store = Store::open_unchecked(&built.data, false).expect("open");
    assert_eq!(store.verified().expect("read"), Head::EMPTY);
}

#[test]
fn an_undamaged_store_without_a_verified_point_gets_one_on_open() {
    let built = build_store();
    damage(&built.data, |store| store.tamper_verified(None).expect("tamper"));
    let store = Store::open(&built.data, false).expect("a sound store opens");
    assert_eq!(store.checked_on_open(), EVENTS, "every record checked once");
    assert_eq!(store.verified().expect("read"), built.head);
}

#[test]
fn records_after_the_verified_point_are_checked_on_open() {
    let built = build_store();
    damage(&built.data, |store| {
        let ten = Head {
            seq: 10,
            hash: orgledger::event::Hash(stored_value(store, 10)[..32].try_into().expect("32 bytes")),
        };
        store.tamper_verified(Some(ten)).expect("tamper");
        let mut value = stored_value(store, 15);
        change_letter_after(&mut value[32..], b"\"locality\":\"xom-");
        store.tamper(15, Some(value)).expect("tamper");
    });
    match open_as_append(&built.data) {
        Err(StoreError::Corrupt { seq, reason }) => assert_eq!(seq, 15, "{reason}"),
        Err(other) => panic!("the open should find record 15 corrupt, not {other}"),
        Ok(_) => panic!("the open accepted a store broken at 15, after its verified point"),
    }
}

#[test]
fn a_verified_point_the_log_no_longer_holds_is_caught_on_open() {
    // The record at the verified point no longer has the hash that was verified (the log
    // was rewritten from there), or the point lies past the head (records were lost).
    let built = build_store();
    damage(&built.data, |store| {
        let rewritten = Head {
            seq: 10,
            hash: orgledger::event::Hash([7; 32]),
        };
        store.tamper_verified(Some(rewritten)).expect("tamper");
    });
    match open_as_append(&built.data) {
        Err(StoreError::Corrupt { seq, reason }) => {
            assert_eq!(seq, 10, "{reason}");
            assert!(reason.contains("differs from the one verified"), "{reason}");
        }
        Err(other) => panic!("the open should find record 10 corrupt, not {other}"),
        Ok(_) => panic!("the open accepted a log that no longer holds its verified record"),
    }
    common::wait_until_released(&built.data);
    damage(&built.data, |store| {
        let past = Head {
            seq: EVENTS + 5,
            hash: orgledger::event::Hash([7; 32]),
        };
        store.tamper_verified(Some(past)).expect("tamper");
    });
    match open_as_append(&built.data) {
        Err(StoreError::Corrupt { seq, reason }) => {
            assert_eq!(seq, EVENTS + 1, "{reason}");
            assert!(reason.contains("records are missing"), "{reason}");
        }
        Err(other) => panic!("the open should find records missing, not {other}"),
        Ok(_) => panic!("the open accepted a log shorter than its verified point"),
    }
}

/// An export of a built store, as lines, and where to write damaged copies of it.
struct Export {
    /// Owns the temp dir the copies are written to.
    _store: BuiltStore,
    lines: Vec<String>,
    dir: PathBuf,
}

impl Export {
    fn write(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.join(format!("{name}.jsonl"));
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&path, text).expect("write the export copy");
        path
    }
}

fn export_lines(built: BuiltStore) -> Export {
    let dir = built.data.parent().expect("temp dir").to_path_buf();
    let out = dir.join("export.jsonl");
    let run = orgledger(
        &["export", "--out", out.to_str().expect("utf-8 path")],
        Some(&built.data),
        "",
    );
    assert_eq!(run.code, Some(0), "export failed: {:?}", run.stderr);
    let text = std::fs::read_to_string(&out).expect("read the export");
    Export {
        _store: built,
        lines: text.lines().map(str::to_owned).collect(),
        dir,
    }
}

/// Parses an export line into its fields.
fn fields(line: &str) -> Map<String, Value> {
    match serde_json::from_str(line).expect("an export line is JSON") {
        Value::Object(map) => map,
        other => panic!("an export line is an object, not {other}"),
    }
}

/// Writes `map` as a canonical export line whose `hash` is recomputed over its content, as a
/// forger who knows the format would.
fn rehashed_line(mut map: Map<String, Value>) -> String {
    map.remove("hash");
    let hash = event_hash(&to_canonical(&Value::Object(map.clone())).expect("no floats"));
    map.insert("hash".into(), Value::String(hash.to_hex()));
    String::from_utf8(to_canonical(&Value::Object(map)).expect("no floats")).expect("utf-8")
}

/// Verifies a damaged copy of the export and returns the error for record `seq`.
fn export_broken_at(export: &Export, name: &str, lines: &[String], seq: u64) -> String {
    assert_broken_at(&verify_file(&export.write(name, lines)), seq)
}

#[test]
fn a_changed_byte_in_an_export_line_is_caught_at_its_record() {
    let export = export_lines(build_store());
    let mut lines = export.lines.clone();
    let mut bytes = lines[6].clone().into_bytes();
    change_letter_after(&mut bytes, b"\"locality\":\"xom-");
    lines[6] = String::from_utf8(bytes).expect("utf-8");
    let error = export_broken_at(&export, "changed-byte", &lines, 7);
    assert!(error.contains("hash mismatch"), "{error:?}");
}

#[test]
fn two_swapped_export_lines_are_caught_at_the_first() {
    let export = export_lines(build_store());
    let mut lines = export.lines.clone();
    lines.swap(4, 8);
    let error = export_broken_at(&export, "swapped", &lines, 5);
    assert!(error.contains("found seq 9"), "{error:?}");
}

#[test]
fn a_deleted_middle_export_line_is_caught_where_it_is_missing() {
    let export = export_lines(build_store());
    let mut lines = export.lines.clone();
    lines.remove(9);
    let error = export_broken_at(&export, "deleted", &lines, 10);
    assert!(error.contains("found seq 11"), "{error:?}");
}

#[test]
fn an_export_line_with_an_extra_field_is_refused_even_with_its_hash_recomputed() {
    let export = export_lines(build_store());
    let mut lines = export.lines.clone();
    let mut map = fields(&lines[7]);
    map.insert("note".into(), Value::String("thêm vào sau".into()));
    lines[7] = rehashed_line(map);
    let error = export_broken_at(&export, "extra-field", &lines, 8);
    assert!(error.contains("unknown field `note`"), "{error:?}");
}

#[test]
fn an_export_line_with_reordered_keys_is_refused_as_not_canonical() {
    let export = export_lines(build_store());
    let mut lines = export.lines.clone();
    // The same fields and hash, keys written in reverse order: the hash still matches the
    // content, but two writings of one record would let two files differ undetected.
    let map = fields(&lines[5]);
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes()));
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                serde_json::to_string(k).expect("key"),
                serde_json::to_string(v).expect("value")
            )
        })
        .collect();
    let reordered = format!("{{{}}}", body.join(","));
    assert_ne!(reordered, lines[5]);
    lines[5] = reordered;
    let error = export_broken_at(&export, "reordered", &lines, 6);
    assert!(error.contains("not in canonical form"), "{error:?}");
}

#[test]
fn an_export_line_with_non_nfc_text_is_refused_even_with_its_hash_recomputed() {
    let export = export_lines(build_store());
    let mut lines = export.lines.clone();
    let mut map = fields(&lines[10]);
    let name = map["name"].as_str().expect("a name").to_owned();
    let decomposed: String = name.nfd().collect();
    assert_ne!(decomposed, name, "the name {name:?} must have diacritics to decompose");
    map.insert("name".into(), Value::String(decomposed));
    lines[10] = rehashed_line(map);
    let error = export_broken_at(&export, "non-nfc", &lines, 11);
    assert!(error.contains("not in canonical form"), "{error:?}");
}

/// A log long enough to be read in several chunks on several threads
/// (`Store::for_each_record`, what a rebuild of the projection and a replay of the rules
/// read through): the records come back in order, exactly those asked for, and a damaged
/// one far in is named after every record before it was handed over, not before.
#[test]
fn records_read_on_every_core_come_in_order_and_stop_at_the_damage() {
    const LONG: u64 = 3_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let generated = orgledger(&["generate", "--events", &LONG.to_string()], Some(&data), "");
    assert_eq!(generated.code, Some(0), "stderr {:?}", generated.stderr);
    let seqs = |from: u64, until: u64| -> (Vec<u64>, Result<(), StoreError>) {
        let mut seqs = Vec::new();
        let mut read = Ok(());
        damage(&data, |store| {
            read = store.for_each_record(from, until, |record| {
                seqs.push(record.seq());
                Ok(())
            });
        });
        (seqs, read)
    };
    let (all, read) = seqs(1, u64::MAX);
    read.expect("a good log reads");
    assert_eq!(all, (1..=LONG).collect::<Vec<_>>());
    let (some, read) = seqs(1_000, 2_100);
    read.expect("a good log reads");
    assert_eq!(some, (1_000..=2_100).collect::<Vec<_>>());
    let (none, read) = seqs(11, 10);
    read.expect("nothing to read");
    assert!(none.is_empty(), "{none:?}");

    damage(&data, |store| {
        let mut value = stored_value(store, 2_600);
        change_letter_after(&mut value[32..], b"\"actor\":\"");
        store.tamper(2_600, Some(value)).expect("tamper");
    });
    let (before, read) = seqs(1, u64::MAX);
    match read {
        Err(StoreError::Corrupt { seq: 2_600, reason }) => assert!(reason.contains("hash"), "{reason}"),
        other => panic!("record 2600 is damaged, yet the reading gave {other:?}"),
    }
    assert_eq!(before, (1..2_600).collect::<Vec<_>>());
}
