//! The writer's rules state, stored in the log's tree one entry per entity and written in
//! the batch of the records that changed it: it stands at the head after every append, an
//! open loads none of it, and a check through a cache that holds almost none of it (a bound
//! of zero bytes) gives the answers a check of the whole state gives. A stored state that is
//! missing, of another layout, not a point of the log, behind the log or damaged is rebuilt
//! or caught up from the log, never trusted blindly.

mod common;

use std::path::Path;

use orgledger::chain::Head;
use orgledger::event::{Id, Submission};
use orgledger::ledger::{AppendError, Ledger, LedgerOptions};
use orgledger::store::{Store, StoreError};

fn sub(line: &str) -> Submission {
    Submission::from_json(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn locality(id: &str, kind: &str, parent: Option<&str>) -> Submission {
    let parent = parent.map(|p| format!(r#","parent":"{p}""#)).unwrap_or_default();
    sub(&format!(
        r#"{{"type":"LocalityRegistered","effective":"2005-01-01","locality":"{id}","name":"Nà {id}","kind":"{kind}","border":true{parent}}}"#
    ))
}

fn actor() -> Id {
    Id::parse("clerk").unwrap()
}

fn open_with(dir: &Path, options: impl Fn() -> LedgerOptions) -> Ledger {
    for _ in 0..500 {
        match Ledger::open(dir, options()) {
            Err(StoreError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => return other.expect("the ledger opens"),
        }
    }
    panic!("the ledger stayed in use")
}

fn open(dir: &Path) -> Ledger {
    open_with(dir, LedgerOptions::default)
}

/// The store itself, once the ledger that had it has let it go.
fn open_store(dir: &Path) -> Store {
    common::wait_until_released(dir);
    Store::open(dir, false).expect("the store opens")
}

/// Where the stored rules state stands, and how many entities it holds.
fn stored_rules(dir: &Path) -> (Option<Head>, u64) {
    let store = open_store(dir);
    (store.rules_head().unwrap(), store.rules_size().unwrap().0)
}

/// The world every case starts from: a province, a district, a commune and a hamlet.
const WORLD: [&str; 4] = ["cao-bang", "trung-khanh", "xa-ngoc-khe", "xom-pac-ngoa"];

fn world(dir: &Path) -> Head {
    let ledger = open(dir);
    ledger
        .append(
            actor(),
            vec![
                locality("cao-bang", "province", None),
                locality("trung-khanh", "district", Some("cao-bang")),
                locality("xa-ngoc-khe", "commune", Some("trung-khanh")),
                locality("xom-pac-ngoa", "hamlet", Some("xa-ngoc-khe")),
            ],
            None,
        )
        .expect("the world appends");
    let head = ledger.head();
    ledger.close();
    head
}

/// After any reopen the rules must still know the whole history: a reused id is refused,
/// and a hamlet under the old commune is accepted.
fn assert_rules_know_the_history(dir: &Path) {
    let ledger = open(dir);
    let reused = ledger.append(
        actor(),
        vec![locality("xom-pac-ngoa", "hamlet", Some("xa-ngoc-khe"))],
        None,
    );
    match reused {
        Err(AppendError::Rule { violation, .. }) => assert_eq!(violation.rule, "id_in_use"),
        other => panic!("a reused id after reopen: {other:?}"),
    }
    let n = ledger.head().seq;
    ledger
        .append(
            actor(),
            vec![locality(&format!("xom-moi-{n}"), "hamlet", Some("xa-ngoc-khe"))],
            None,
        )
        .expect("a new hamlet under the old commune");
    ledger.close();
}

#[test]
fn the_rules_state_is_stored_with_the_records_it_follows() {
    let dir = tempfile::tempdir().unwrap();
    let head = world(dir.path());
    assert_eq!(
        stored_rules(dir.path()),
        (Some(head), 4),
        "one entry per entity, at the head"
    );
    assert!(
        !dir.path().join("caches").join("rules-state.snapshot").exists(),
        "no whole copy of the state is saved at close"
    );
    assert_rules_know_the_history(dir.path());
    assert_rules_know_the_history(dir.path());
    let (at, entities) = stored_rules(dir.path());
    assert_eq!(at.map(|h| h.seq), Some(6));
    assert_eq!(entities, 6);
}

/// A ledger opened and closed with nothing appended leaves the stored state as it stood,
/// unwritten (each write to sled's log makes the next open write sled's table of pages
/// again); one that appended writes it at the new head as it closes.
#[test]
fn a_ledger_closed_with_nothing_appended_writes_no_rules_state() {
    let dir = tempfile::tempdir().unwrap();
    let head = world(dir.path());
    // The rules-state writes of a ledger that does `work` and closes: before the close, and
    // in all.
    let writes = |work: &dyn Fn(&Ledger)| {
        let ledger = open_with(dir.path(), || {
            LedgerOptions::default().with_rules_write_back_events(1_000)
        });
        let store = ledger.shared_store();
        work(&ledger);
        let before = store.rules_writes();
        ledger.close();
        (before, store.rules_writes())
    };
    assert_eq!(
        writes(&|_| {}),
        (0, 0),
        "opened at the head, closed with nothing appended"
    );
    assert_eq!(stored_rules(dir.path()), (Some(head), 4));

    let hamlet = |ledger: &Ledger| {
        ledger
            .append(actor(), vec![locality("xom-moi", "hamlet", Some("xa-ngoc-khe"))], None)
            .expect("a new hamlet");
    };
    assert_eq!(
        writes(&hamlet),
        (0, 1),
        "not due before the close, written once as it closes"
    );
    let (at, entities) = stored_rules(dir.path());
    assert_eq!((at.map(|h| h.seq), entities), (Some(head.seq + 1), 5));
}

#[test]
fn a_missing_rules_state_is_rebuilt_from_the_log_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let head = world(dir.path());
    let store = open_store(dir.path());
    store.clear_rules().unwrap();
    store.flush().unwrap();
    drop(store);
    assert_eq!(stored_rules(dir.path()), (None, 0));
    drop(open(dir.path()));
    assert_eq!(stored_rules(dir.path()), (Some(head), 4), "rebuilt by the open");
    assert_rules_know_the_history(dir.path());
}

/// A `rules` key of another layout (a later version's, or the mark of a rebuild), or one
/// that names a point the log does not hold, has the state rebuilt from the first record.
#[test]
fn a_rules_state_of_another_layout_or_off_the_log_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let head = world(dir.path());
    // Layout 1 (a key per entity) at the very head, and layout 2 (buckets) off the log.
    let values = [
        vec![9],
        vec![0],
        vec![2, 2, 3],
        rules_at(1, head.seq, head.hash.0),
        rules_at(2, 4, [7; 32]),
        rules_at(2, 99, [7; 32]),
    ];
    for value in values {
        let store = open_store(dir.path());
        // An entity the log does not hold: a rebuild must drop it.
        store
            .put_rules(&[(Id::parse("xom-ma").unwrap(), vec![4, 0])], head)
            .unwrap();
        store.tamper_rules_key(Some(value.clone())).unwrap();
        drop(store);
        drop(open(dir.path()));
        assert_eq!(stored_rules(dir.path()), (Some(head), 4), "rebuilt after {value:?}");
    }
    assert_rules_know_the_history(dir.path());
}

/// A `rules` key's value: a layout byte, then a head as `head` is stored.
fn rules_at(layout: u8, seq: u64, hash: [u8; 32]) -> Vec<u8> {
    let mut value = vec![layout];
    value.extend_from_slice(&seq.to_be_bytes());
    value.extend_from_slice(&hash);
    value
}

/// A store of layout 1 (written by an earlier version: a key `s` + id per entity) has its
/// state rebuilt in buckets at its first open, and every key of the old layout removed,
/// whatever its length (an id of 4 bytes makes a key as long as a bucket's).
#[test]
fn a_rules_state_of_layout_1_is_replaced_by_buckets_at_the_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let head = world(dir.path());
    let store = open_store(dir.path());
    store.clear_rules().unwrap();
    for id in WORLD.iter().copied().chain(["x-ab", "xa-1"]) {
        store.tamper_rules_raw(id.as_bytes(), &[4, 0]).unwrap();
    }
    store
        .tamper_rules_key(Some(rules_at(1, head.seq, head.hash.0)))
        .unwrap();
    assert!(store.rules_size().is_err(), "keys of layout 1 are not buckets");
    drop(store);
    drop(open(dir.path()));
    assert_eq!(
        stored_rules(dir.path()),
        (Some(head), 4),
        "rebuilt in buckets, the old keys gone"
    );
    assert_rules_know_the_history(dir.path());
}

/// Clearing the state removes every bucket, in batches of a few thousand keys: a state
/// of more buckets than one batch takes is gone whole, `rules` first.
#[test]
fn clearing_the_rules_state_removes_every_bucket_however_many() {
    let dir = tempfile::tempdir().unwrap();
    let head = world(dir.path());
    let store = open_store(dir.path());
    let entries: Vec<(Id, Vec<u8>)> = (0..20_000)
        .map(|i| (Id::parse(&format!("xom-{i}")).unwrap(), vec![4, 0]))
        .collect();
    store.put_rules(&entries, head).unwrap();
    let (held, _) = store.rules_size().unwrap();
    assert_eq!(held, 20_004);
    store.clear_rules().unwrap();
    assert_eq!(store.rules_size().unwrap(), (0, 0));
    assert_eq!(store.rules_head().unwrap(), None);
}

#[test]
fn a_rules_state_behind_the_log_is_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let at_world = world(dir.path());
    let store = open_store(dir.path());
    let old: Vec<(Id, Vec<u8>)> = WORLD
        .iter()
        .map(|id| {
            let id = Id::parse(id).unwrap();
            let bytes = store.rules_entry(&id).unwrap().unwrap().expect("stored").to_vec();
            (id, bytes)
        })
        .collect();
    drop(store);
    let ledger = open(dir.path());
    ledger
        .append(
            actor(),
            vec![locality("xom-khuoi-luong", "hamlet", Some("xa-ngoc-khe"))],
            None,
        )
        .unwrap();
    ledger.close();
    // Put the state back as it stood at the world's head, as if the last group had been
    // written without it.
    let store = open_store(dir.path());
    store.clear_rules().unwrap();
    store.put_rules(&old, at_world).unwrap();
    store.flush().unwrap();
    drop(store);
    let ledger = open(dir.path());
    match ledger.append(
        actor(),
        vec![locality("xom-khuoi-luong", "hamlet", Some("xa-ngoc-khe"))],
        None,
    ) {
        Err(AppendError::Rule { violation, .. }) => assert_eq!(violation.rule, "id_in_use", "the replayed tail counts"),
        other => panic!("an id appended after the stored state: {other:?}"),
    }
    ledger.close();
    assert_eq!(stored_rules(dir.path()).1, 5);
    assert_rules_know_the_history(dir.path());
}

/// Opens the ledger whose rules entry of the commune xa-ngoc-khe is damaged: an event
/// that needs it is refused as damage (`said` in its message, with the rebuild), nothing
/// is appended, and an event that needs no damaged entry is appended. The ledger is left
/// open.
fn refuses_only_what_needs_xa_ngoc_khe(dir: &Path, head: Head, said: &str) -> Ledger {
    let ledger = open(dir);
    match ledger.append(
        actor(),
        vec![locality("xom-na-thia", "hamlet", Some("xa-ngoc-khe"))],
        None,
    ) {
        Err(AppendError::Store(StoreError::Damaged(message))) => {
            assert!(message.contains(said), "{message}");
            assert!(message.contains("rebuild"), "{message}");
        }
        other => panic!("an event that needs a damaged entry ({said}): {other:?}"),
    }
    assert_eq!(ledger.head(), head, "nothing appended");
    ledger
        .append(actor(), vec![locality("bac-kan", "province", None)], None)
        .expect("an event that needs no damaged entry");
    ledger
}

/// A stored entry that does not decode refuses the event that needs it, naming it, and
/// nothing else; the state is marked for a rebuild, and the next open rebuilds it.
#[test]
fn a_damaged_entry_refuses_only_what_needs_it_and_is_rebuilt_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let head = world(dir.path());
    let store = open_store(dir.path());
    store
        .put_rules(&[(Id::parse("xa-ngoc-khe").unwrap(), vec![0xff, 0xff, 0xff])], head)
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let ledger = refuses_only_what_needs_xa_ngoc_khe(dir.path(), head, "entry of xa-ngoc-khe");
    ledger
        .append(actor(), vec![locality("cho-don", "district", Some("bac-kan"))], None)
        .expect("one that needs what was changed since");
    ledger.close();
    assert_eq!(stored_rules(dir.path()).0, None, "marked for a rebuild");
    assert_rules_know_the_history(dir.path());
    let (at, entities) = stored_rules(dir.path());
    assert_eq!(
        (at.map(|h| h.seq), entities),
        (Some(7), 7),
        "rebuilt: the world, two more, one hamlet"
    );
}

/// A bucket of entries that does not read (sled's bytes under its key are not a bucket)
/// refuses the event that needs an entity of it, naming that entity, and nothing else; the
/// state is marked for a rebuild and rebuilt by the next open. So does one found as the
/// writer writes back an entry into it: the state is then rebuilt, and nothing is lost.
#[test]
fn a_bucket_that_does_not_read_refuses_only_what_needs_it_and_is_rebuilt() {
    for garbage in [vec![0xff, 0xff, 0xff], vec![1, 3, b'x', b'o', b'm', 1, 0], vec![]] {
        let dir = tempfile::tempdir().unwrap();
        let head = world(dir.path());
        let store = open_store(dir.path());
        store
            .tamper_rules_bucket(&Id::parse("xa-ngoc-khe").unwrap(), &garbage)
            .unwrap();
        drop(store);
        let ledger = refuses_only_what_needs_xa_ngoc_khe(dir.path(), head, "bucket of xa-ngoc-khe");
        ledger.close();
        assert_eq!(
            open_store(dir.path()).rules_head().unwrap(),
            None,
            "marked for a rebuild"
        );
        assert_rules_know_the_history(dir.path());
        assert_eq!(stored_rules(dir.path()), (Some(ledger_head(dir.path())), 6), "rebuilt");
    }

    // Found by the write-back: the bucket is damaged after the writer looked in it.
    let dir = tempfile::tempdir().unwrap();
    world(dir.path());
    let ledger = open(dir.path());
    ledger
        .append(actor(), vec![locality("bac-kan", "province", None)], None)
        .expect("a new province");
    let province = Id::parse("bac-kan").unwrap();
    ledger
        .shared_store()
        .tamper_rules_bucket(&province, &[0xff, 0xff, 0xff])
        .unwrap();
    ledger.close();
    assert_eq!(
        open_store(dir.path()).rules_head().unwrap(),
        None,
        "marked for a rebuild by the write-back"
    );
    assert_rules_know_the_history(dir.path());
    assert_eq!(stored_rules(dir.path()), (Some(ledger_head(dir.path())), 6), "rebuilt");
}

fn ledger_head(dir: &Path) -> Head {
    open_store(dir).head().unwrap()
}

/// With a cache bound of zero bytes, and the state written back after every group, the
/// writer keeps nothing of the state between groups and reads every entity it needs from
/// the store: a synthetic province appended so, in groups of every size, ends at the very
/// head that the default cache reaches. The ledger starts empty, so its cache first holds
/// all there is and looks nothing up; emptied, it must look up again.
#[test]
fn a_ledger_with_no_rules_cache_appends_the_same_history() {
    use orgledger::event::Timestamp;
    use orgledger::ledger::SteppedClock;
    let heads: Vec<Head> = [0usize, orgledger::ledger::DEFAULT_RULES_CACHE_BYTES]
        .into_iter()
        .map(|bound| {
            let dir = tempfile::tempdir().unwrap();
            let options = || {
                let mut options = LedgerOptions::default().with_rules_cache_bytes(bound);
                if bound == 0 {
                    options = options.with_rules_write_back_events(1);
                }
                options.clock = Box::new(SteppedClock::new(
                    Timestamp::parse(orgledger::generate::CLOCK_START).unwrap(),
                    orgledger::generate::CLOCK_STEP_MICROS,
                ));
                options
            };
            let ledger = open_with(dir.path(), options);
            let mut events = orgledger::generate::synthetic_batches(3_000, 11).flatten().peekable();
            let mut size = 0;
            while events.peek().is_some() {
                size = size % 97 + 1;
                let group: Vec<Submission> = events.by_ref().take(size).collect();
                ledger.append(actor(), group, None).expect("a synthetic group appends");
            }
            let head = ledger.head();
            ledger.close();
            assert_eq!(stored_rules(dir.path()).0, Some(head));
            head
        })
        .collect();
    assert_eq!(heads[0], heads[1]);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A log cut back behind the chain's back (sled recovering from a damaged file drops what
/// follows the damage, and the shorter chain still verifies on its own) is caught by the
/// caches written from the longer log, by `verify` and by `Ledger::open`.
#[test]
fn a_log_cut_behind_the_caches_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    world(&data);
    common_wait(&data);
    let early = dir.path().join("early");
    copy_tree(&data, &early);
    let ledger = open(&data);
    ledger
        .append(
            actor(),
            vec![locality("xom-na-thia", "hamlet", Some("xa-ngoc-khe"))],
            None,
        )
        .unwrap();
    ledger.close();
    common_wait(&data);
    // Put the sled files of the earlier, shorter log back, keeping the caches of the longer.
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "caches" {
            let path = entry.path();
            if path.is_dir() {
                std::fs::remove_dir_all(path).unwrap();
            } else {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
    for entry in std::fs::read_dir(&early).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "caches" {
            let target = data.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args(["--data", data.to_str().unwrap(), "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["ok"], false);
    assert_eq!(verdict["seq"], 5, "the first missing record: {verdict}");
    assert!(
        verdict["error"].as_str().unwrap().contains("records are missing"),
        "{verdict}"
    );
    match Ledger::open(&data, LedgerOptions::default()) {
        Err(orgledger::store::StoreError::Corrupt { seq, .. }) => assert_eq!(seq, 5),
        other => panic!("a cut log opened: {:?}", other.map(|_| ())),
    }
    common::wait_until_released(&data);
    // A report would answer from the shorter log without a word: it must refuse as well,
    // naming the first missing record, and print nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args([
            "--data",
            data.to_str().unwrap(),
            "report",
            "coverage",
            "--date",
            "2006-12-31",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "report on a cut log: {stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("corrupt at record 5:"), "{stderr}");
}

/// Waits until sled has let go of a store just closed, so its files can be copied whole.
fn common_wait(data: &Path) {
    drop(open(data));
}

/// `--rules-cache-mib` and `--store-cache-mib` take a whole number of MiB, and name
/// themselves when given anything else.
#[test]
fn a_bad_cache_bound_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["--rules-cache-mib", "--store-cache-mib"] {
        for command in ["serve", "follow"] {
            for bad in ["lots", "-1", "1.5", ""] {
                let mut args = vec![command];
                if command == "follow" {
                    args.extend(["http://127.0.0.1:9/graphql", "--token", "t", "--key", "k"]);
                }
                let flag = format!("{name}={bad}");
                args.push(&flag);
                let out = common::running::orgledger_in(dir.path(), &args);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(2), "{command} {name} {bad:?}: {stderr}");
                assert!(stderr.contains(name), "{stderr}");
            }
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}

/// A server whose store keeps no page in its cache (`--store-cache-mib 0`) reads every record
/// back from the file, and serves the same events as one with the default bound.
#[test]
fn a_server_with_no_store_cache_serves_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/trung-khanh-2005.jsonl");
    let appended = common::running::orgledger_in(dir.path(), &["append", events]);
    common::running::stdout_of(&appended, "append");
    let query = r#"{"query":"{ head { seq hash } events(first: 100) { nodes { seq hash prev type } } }"}"#;
    let answers: Vec<String> = ["0", "256"]
        .into_iter()
        .map(|mib| {
            let server = common::running::Running::spawn(
                std::process::Command::new(env!("CARGO_BIN_EXE_orgledger"))
                    .args(["serve", "--listen", "127.0.0.1:0", "--public-read"])
                    .args(["--store-cache-mib", mib])
                    .arg("--data")
                    .arg(dir.path())
                    .env("RUST_LOG", "info,orgledger::store=debug"),
            );
            server.stderr_line(&format!("the store's page cache is bounded at {mib} MiB"));
            let url = server.url();
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let body = runtime.block_on(async {
                reqwest::Client::new()
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(query)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            });
            assert_eq!(
                server.stop(),
                Some(0),
                "the server with --store-cache-mib {mib} stops cleanly"
            );
            common::wait_until_released(dir.path());
            body
        })
        .collect();
    assert!(!answers[0].contains("errors"), "{}", answers[0]);
    assert!(answers[0].contains(r#""seq":12"#), "{}", answers[0]);
    assert_eq!(answers[0], answers[1]);
}

/// An import stores the rules state its check built: the imported ledger opens with the
/// state at its head, every entity in it, and replays nothing.
#[test]
fn an_import_stores_the_rules_state_with_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("from");
    let head = world(&from);
    common::wait_until_released(&from);
    let export = common::running::orgledger_in(&from, &["export"]);
    let lines = common::running::stdout_of(&export, "export");
    let file = dir.path().join("world.jsonl");
    std::fs::write(&file, lines).unwrap();
    let to = dir.path().join("to");
    let import = common::running::orgledger_in(&to, &["import", file.to_str().unwrap()]);
    common::running::stdout_of(&import, "import");
    assert_eq!(stored_rules(&to), (Some(head), 4));
    assert_rules_know_the_history(&to);
}
