//! The scale generator (`orgledger generate`, issue 3 item 6): its events are all valid,
//! in date order and the same for the same seed; the ledger it writes through the ordinary
//! append path has the same head every time; the reports give real answers about it; and
//! it refuses a data directory that is not empty.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use orgledger::event::{Date, Id, OrgKind, Submission};
use orgledger::generate::{synthetic_batches, write_ledger, BATCH_EVENTS};
use orgledger::projection::reports;
use orgledger::projection::At;
use orgledger::rules::State;
use orgledger::store::Store;
use serde_json::Value;

/// Large enough for every kind of event the generator makes, small enough for a debug run.
const EVENTS: u64 = 20_000;
const SEED: u64 = 7;

fn day(text: &str) -> Date {
    Date::parse(text).expect("a valid date")
}

/// Runs the built binary with `args` and returns its exit code, stdout and stderr.
fn orgledger(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .args(args)
        .env_remove("ORGLEDGER_DATA")
        .output()
        .expect("the binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().expect("an exit code"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn generated(events: u64, seed: u64) -> Vec<Submission> {
    let batches: Vec<Vec<Submission>> = synthetic_batches(events, seed).collect();
    assert!(
        batches.iter().all(|b| !b.is_empty() && b.len() <= BATCH_EVENTS),
        "batches of 1 to {BATCH_EVENTS} events"
    );
    batches.into_iter().flatten().collect()
}

#[test]
fn synthetic_events_are_valid_in_date_order_and_the_same_for_the_same_seed() {
    let events = generated(EVENTS, SEED);
    assert_eq!(events.len() as u64, EVENTS);
    assert_eq!(events, generated(EVENTS, SEED), "the same seed gives the same events");
    assert_ne!(events, generated(EVENTS, SEED + 1), "another seed gives other events");

    // Every event passes the rules, as the writer would check it on the generator's day.
    let today = day("2026-01-05");
    let mut state = State::new();
    for (i, sub) in events.iter().enumerate() {
        if let Err(v) = state.submit(sub, today) {
            panic!(
                "event {} ({} effective {}) is refused: {v}",
                i + 1,
                sub.event.type_name(),
                sub.effective
            );
        }
    }
    assert!(
        events.windows(2).all(|w| w[0].effective <= w[1].effective),
        "events come in date order"
    );
    assert_eq!(events[0].effective, day("1990-01-01"));
    assert!(
        events.last().expect("events").effective > day("2005-01-01"),
        "the events span the years"
    );

    // A realistic mix: cell meetings are the most common event, but far from the only one.
    let mut mix: BTreeMap<&str, u64> = BTreeMap::new();
    for sub in &events {
        *mix.entry(sub.event.type_name()).or_default() += 1;
    }
    let share = |name: &str| mix.get(name).copied().unwrap_or(0) as f64 / EVENTS as f64;
    assert!((0.4..0.7).contains(&share("CellMeetingHeld")), "{mix:?}");
    for name in [
        "LocalityRegistered",
        "OrganizationFounded",
        "BackgroundVerified",
        "MemberAdmitted",
        "MemberOfficialized",
        "MemberTransferred",
        "TemporaryActivityStarted",
        "TemporaryActivityEnded",
        "MembershipEnded",
        "QualityRated",
        "ResolutionAdopted",
        "SupervisorAssigned",
        "PositionAssigned",
        "CadrePlanned",
        "CadreAssessed",
        "TrainingCompleted",
        "CadreStandardized",
        "InstrumentIssued",
    ] {
        assert!(mix.contains_key(name), "no {name} in {mix:?}");
    }
    assert!(mix.len() >= 24, "only {} event types in {mix:?}", mix.len());
}

#[test]
fn generate_writes_the_same_ledger_twice_and_the_reports_answer() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (by_cli, by_library) = (dir.path().join("cli"), dir.path().join("library"));
    let events = EVENTS.to_string();
    let seed = SEED.to_string();
    let (code, stdout, stderr) = orgledger(&[
        "--data",
        by_cli.to_str().expect("utf-8"),
        "generate",
        "--events",
        &events,
        "--seed",
        &seed,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let printed: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(printed["events"], EVENTS);
    let head = printed["head"].as_str().expect("a head").to_owned();

    // The library path writes the same ledger: the same events, clock and actor.
    let again = write_ledger(&by_library, EVENTS, SEED).expect("the generator writes");
    assert_eq!(
        (again.seq, again.hash.to_hex()),
        (EVENTS, head.clone()),
        "the same head twice"
    );

    // The whole chain verifies, and ends where generate said.
    let (code, stdout, stderr) = orgledger(&["--data", by_cli.to_str().expect("utf-8"), "verify"]);
    assert_eq!(code, 0, "{stderr}");
    let verdict: Value = serde_json::from_str(stdout.trim()).expect("a verdict");
    assert_eq!(
        (verdict["ok"].as_bool(), verdict["events"].as_u64()),
        (Some(true), Some(EVENTS))
    );
    assert_eq!(verdict["head"].as_str(), Some(head.as_str()));

    check_reports(&by_cli);
}

/// The reports over the generated ledger say something: admissions in many years,
/// localities with and without cells, members on temporary activity, cells with members.
fn check_reports(data: &Path) {
    let store = Store::open(data, false).expect("the store opens");
    let (projection, _) = store.open_projection().expect("the projection opens");
    let seq = projection.head().seq;
    assert_eq!(seq, EVENTS);

    let end = At {
        date: day("2100-12-31"),
        seq,
    };
    let admissions = reports::admissions(&projection, end, None, None).expect("admissions");
    let admitting_years = admissions.years.iter().filter(|y| y.admitted > 0).count();
    assert!(admitting_years >= 10, "admissions in only {admitting_years} years");
    let admitted: u64 = admissions.years.iter().map(|y| y.admitted).sum();
    assert_eq!(admitted, projection.admissions.len() as u64);
    assert_eq!(admissions.years[0].year, 1990);

    // In 1991 some hamlets still wait for a cell of their own; by 2010 fewer do.
    let early = reports::coverage(
        &projection,
        At {
            date: day("1991-06-30"),
            seq,
        },
    );
    let later = reports::coverage(
        &projection,
        At {
            date: day("2010-06-30"),
            seq,
        },
    );
    assert!(early.counts.localities > 20, "{early:?}");
    assert!(!early.communes.is_empty());
    assert!(early.counts.with_member > 0 && early.counts.with_cell > 0, "{early:?}");
    assert!(!early.counts.without_cell.is_empty(), "{early:?}");
    assert!(
        later.counts.without_cell.len() < early.counts.without_cell.len(),
        "{later:?}"
    );

    // Asked as of an early seq, the ledger knew of fewer admissions.
    let as_of_then = reports::admissions(
        &projection,
        At {
            date: day("2100-12-31"),
            seq: seq / 4,
        },
        None,
        None,
    )
    .expect("admissions");
    let admitted_then: u64 = as_of_then.years.iter().map(|y| y.admitted).sum();
    assert!(0 < admitted_then && admitted_then < admitted);

    let at = At {
        date: day("2005-06-30"),
        seq,
    };
    let temporary = reports::temporary_activity(&projection, at);
    assert!(
        temporary.members > 0 && temporary.from_border_posts > 0,
        "{temporary:?}"
    );

    let cells: Vec<&Id> = projection
        .orgs
        .iter()
        .filter(|(_, o)| o.kind == OrgKind::Cell)
        .map(|(id, _)| id)
        .collect();
    let members: usize = cells
        .iter()
        .map(|cell| {
            reports::roster(&projection, cell, at)
                .expect("a known cell")
                .members
                .len()
        })
        .sum();
    assert!(members > 100, "only {members} members in {} cells", cells.len());
}

#[test]
fn generate_refuses_a_data_directory_that_is_not_empty() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a ledger").expect("a file");
    let (code, stdout, stderr) = orgledger(&[
        "--data",
        dir.path().to_str().expect("utf-8"),
        "generate",
        "--events",
        "1000",
    ]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(stdout, "");
    let entries = std::fs::read_dir(dir.path()).expect("the dir").count();
    assert_eq!(entries, 1, "nothing was written beside the file");
    assert_eq!(std::fs::read_to_string(&notes).expect("the file"), "not a ledger");
}

#[test]
fn generate_refuses_zero_events() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("ledger");
    let (code, _, stderr) = orgledger(&["--data", data.to_str().expect("utf-8"), "generate", "--events", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--events"), "{stderr}");
    assert!(!data.exists(), "no store is created");
}
