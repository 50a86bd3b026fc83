//! The projection commitment (issue 5, item 4): the hash of the projection state that a
//! checkpoint carries and `verify` recomputes by replay.
//!
//! The fold keeps the commitment's entity hashes and list chains up to date as it goes, so a
//! checkpoint costs one pass over them. The risk of that design is an event that changes a
//! view the fold does not rehash; the incremental commitment would then drift from what a
//! replay from scratch gives, and an honest ledger would fail `verify`. So the central check
//! here compares the kept state with the state recomputed from the views alone
//! (`Commitment::from_scratch`), along three ledgers: the demo, a synthetic one, and a small
//! hand-made one that holds every event type (the other two lack dissolutions and
//! retirements) and is checked after every record.
//!
//! Then: one changed field changes the commitment from that record on and not before; a
//! snapshot carries the state over exactly; the head `seq` counts; and the documented bytes
//! (entity, list and commitment layers) are recomputed here with blake3 and postcard alone.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use orgledger::event::{Event, Hash, Record, Submission, Timestamp, EVENT_TYPES};
use orgledger::projection::commitment::{
    commitment_from_scratch, Commitment, COMMITMENT_CONTEXT, ENTITY_CONTEXT, LIST_CONTEXT,
};
use orgledger::projection::{snapshot, Projection};
use orgledger::store::Store;

/// The synthetic ledger's size and seed.
const SYNTHETIC_EVENTS: u64 = 20_000;
const SYNTHETIC_SEED: u64 = 11;
/// Besides the sampled sizes, the state is checked right after each of the first this many
/// records of every event type: a missed rehash shows at once, before a later event that
/// names the same entity hides it. Fewer on the demo, whose rarer types come late, where a
/// check rehashes thousands of views (slow in a debug build).
const FIRST_OF_EACH_TYPE: usize = 40;
const FIRST_OF_EACH_TYPE_DEMO: usize = 8;

fn records_in(dir: &Path) -> Vec<Record> {
    let store = Store::open(dir, false).expect("the store opens");
    store.records(1).map(|r| r.expect("a good record")).collect()
}

/// The records of the synthetic ledger, written once for every test that needs them.
fn synthetic() -> &'static [Record] {
    static RECORDS: OnceLock<Vec<Record>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        orgledger::generate::write_ledger(dir.path(), SYNTHETIC_EVENTS, SYNTHETIC_SEED).expect("the generator writes");
        records_in(dir.path())
    })
}

/// Panics, naming the first entity or list that differs, unless the commitment state the
/// fold kept equals the one recomputed from the views.
fn assert_matches_scratch(p: &Projection, ledger: &str) {
    let scratch = Commitment::from_scratch(p);
    if let Some(diff) = p.commitment_state().first_difference(&scratch) {
        panic!(
            "{ledger}, at seq {}: the commitment state kept by the fold differs from the one \
             recomputed from the views: {diff}",
            p.head().seq
        );
    }
    assert_eq!(
        p.commitment(),
        commitment_from_scratch(p),
        "{ledger}, at seq {}",
        p.head().seq
    );
}

/// Folds `records` in order, checking the commitment against a recomputation at every size
/// `sampled` picks and after the first records of each type. Returns the projection, how
/// many times it was checked, and the event types seen.
fn fold_checking(
    records: &[Record],
    ledger: &str,
    first_of_each_type: usize,
    sampled: impl Fn(u64) -> bool,
) -> (Projection, usize, BTreeSet<&'static str>) {
    let mut p = Projection::new();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut checks = 0;
    for r in records {
        p.fold(r);
        let count = seen.entry(r.type_name()).or_default();
        *count += 1;
        if sampled(r.seq()) || *count <= first_of_each_type {
            assert_matches_scratch(&p, ledger);
            checks += 1;
        }
    }
    (p, checks, seen.into_keys().collect())
}

/// The sizes the brief asks for: all of the first 500, every 1000th, and the last 50.
fn usual_sizes(n: u64) -> impl Fn(u64) -> bool {
    move |s| s <= 500 || s % 1000 == 0 || s + 50 > n
}

#[test]
fn the_demo_ledger_commits_as_a_replay_from_scratch_does() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (events, head) = orgledger::demo::write_demo(dir.path()).expect("the demo writes");
    let records = records_in(dir.path());
    assert_eq!(records.len() as u64, events);
    let (p, checks, _) = fold_checking(&records, "demo", FIRST_OF_EACH_TYPE_DEMO, usual_sizes(events));
    assert_eq!(p.head().hash, head);
    assert!(checks >= 550.min(events as usize), "{checks} checks");
}

#[test]
fn a_synthetic_ledger_commits_as_a_replay_from_scratch_does() {
    let records = synthetic();
    let n = records.len() as u64;
    assert_eq!(n, SYNTHETIC_EVENTS);
    let (_, _, seen) = fold_checking(records, "synthetic", FIRST_OF_EACH_TYPE, usual_sizes(n));
    // The events whose effects reach furthest: transfers, endings (which release
    // supervisions and positions), corrections, supervisors, cadre programmes.
    for kind in [
        "MemberTransferred",
        "MembershipEnded",
        "ProfileCorrected",
        "SupervisorReleased",
        "TemporaryActivityEnded",
        "PositionEnded",
        "CadreRetiredUnderPolicy",
        "LocalityChanged",
    ] {
        assert!(seen.contains(kind), "the synthetic ledger has no {kind}: {seen:?}");
    }
}

/// A small ledger with every event type, in the order a district's history could take. Its
/// point is the events whose effects reach past the ids they name: a member who supervises
/// another cell dies (the supervision of `chi-bo-b` ends, though the event names only the
/// member), a cell is dissolved into another, a locality is merged away. Sealed here without
/// the rules (no decisions are cited); `tests/commitment_outside.rs` folds the same lines.
const EVERY_EVENT_TYPE: &str = include_str!("fixtures/every-event-type.jsonl");

fn every_event_type() -> Vec<Record> {
    let submissions: Vec<Submission> = EVERY_EVENT_TYPE
        .lines()
        .map(|line| Submission::from_json(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    seal_all(submissions)
}

/// Seals submissions into a chain, one second apart.
fn seal_all(submissions: Vec<Submission>) -> Vec<Record> {
    assert!(submissions.len() < 60, "one a second within a minute");
    let actor = orgledger::event::Id::parse("tester").expect("an id");
    let mut prev = Hash::ZERO;
    let mut out = Vec::new();
    for (i, sub) in submissions.into_iter().enumerate() {
        let at = Timestamp::parse(&format!("2015-01-01T00:00:{i:02}.000000Z")).expect("a timestamp");
        let r = Record::seal(i as u64 + 1, prev, at, actor.clone(), sub);
        prev = r.hash();
        out.push(r);
    }
    out
}

#[test]
fn every_event_type_keeps_the_commitment_exact_after_every_record() {
    let records = every_event_type();
    let (p, checks, seen) = fold_checking(&records, "every event type", 0, |_| true);
    assert_eq!(checks, records.len());
    let all: BTreeSet<&str> = EVENT_TYPES.iter().copied().collect();
    assert_eq!(seen, all, "the hand-made ledger should hold every event type");
    // The case that needs more than the ids the event names: dv-1's death ended the
    // supervision of chi-bo-b, whose view changed.
    let b = &p.orgs[&orgledger::event::Id::parse("chi-bo-b").unwrap()];
    assert!(b.supervisors.iter().all(|s| s.until().is_some()), "{:?}", b.supervisors);
}

/// Record `k` of `records` (1-based) replaced by `change` of it, and every later record
/// sealed again after it: another ledger that differs in that one event.
fn fork_at(records: &[Record], k: usize, change: impl FnOnce(&mut Submission)) -> Vec<Record> {
    let mut out: Vec<Record> = records[..k - 1].to_vec();
    let mut prev = out.last().map_or(Hash::ZERO, Record::hash);
    let mut change = Some(change);
    for r in &records[k - 1..] {
        let mut sub = r.submission().clone();
        if let Some(change) = change.take() {
            change(&mut sub);
            assert_ne!(&sub, r.submission(), "the change changes something");
        }
        let sealed = Record::seal(r.seq(), prev, r.recorded_at(), r.actor().clone(), sub);
        prev = sealed.hash();
        out.push(sealed);
    }
    out
}

/// The first record of type `kind` in the second half of `records`, 1-based.
fn in_second_half(records: &[Record], kind: &str) -> usize {
    let half = records.len() / 2;
    half + 1
        + records[half..]
            .iter()
            .position(|r| r.type_name() == kind)
            .unwrap_or_else(|| panic!("no {kind} in the second half"))
}

#[test]
fn one_changed_field_changes_the_commitment_from_that_event_on() {
    let records = synthetic();
    let meeting = in_second_half(records, "CellMeetingHeld");
    let admission = in_second_half(records, "MemberAdmitted");
    let transfer = in_second_half(records, "MemberTransferred");
    let forks: Vec<(&str, usize, Vec<Record>)> = vec![
        (
            "a meeting's attendance (a list item)",
            meeting,
            fork_at(records, meeting, |s| match &mut s.event {
                Event::CellMeetingHeld(e) => e.attendance += 1,
                other => panic!("{other:?}"),
            }),
        ),
        (
            "an admitted member's name (an entity field)",
            admission,
            fork_at(records, admission, |s| match &mut s.event {
                Event::MemberAdmitted(e) => e.name = orgledger::event::Text::parse("Someone Else").unwrap(),
                other => panic!("{other:?}"),
            }),
        ),
        (
            "a transfer's effective date (valid time)",
            transfer,
            fork_at(records, transfer, |s| {
                s.effective = orgledger::event::Date::parse("1999-01-01").unwrap();
            }),
        ),
    ];
    for (what, k, fork) in forks {
        let k = k as u64;
        let (mut a, mut b) = (Projection::new(), Projection::new());
        for (x, y) in records.iter().zip(&fork) {
            a.fold(x);
            b.fold(y);
            let s = x.seq();
            // Every size near the change, and a spread of the others (a commitment is a
            // pass over every entity hash, slow in a debug build).
            if (k.saturating_sub(3)..k + 200).contains(&s) || s % 250 == 0 || s as usize == records.len() {
                if s < k {
                    assert_eq!(
                        a.commitment(),
                        b.commitment(),
                        "{what}: at seq {s}, before the change at {k}"
                    );
                } else {
                    assert_ne!(
                        a.commitment(),
                        b.commitment(),
                        "{what}: at seq {s}, after the change at {k}"
                    );
                }
            }
        }
        // The changed ledger is itself committed to exactly.
        assert_matches_scratch(&b, what);
    }
}

/// A member's end releases the supervisions they hold, which the event does not name: a
/// projection restored from a snapshot just before such an end releases them as the live
/// one does (the index of who supervises where is not in the snapshot, but rebuilt).
#[test]
fn a_projection_restored_from_a_snapshot_releases_supervisions_as_the_live_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    orgledger::demo::write_demo(dir.path()).expect("the demo writes");
    let records = records_in(dir.path());
    let mut live = Projection::new();
    for r in &records {
        live.fold(r);
    }
    let in_office = |p: &Projection, member: &str| {
        p.orgs
            .values()
            .filter(|o| {
                o.supervisors
                    .iter()
                    .any(|s| s.value.as_str() == member && s.until().is_none())
            })
            .count()
    };
    let supervisor = live
        .orgs
        .values()
        .flat_map(|o| o.supervisors.iter())
        .find(|s| s.until().is_none())
        .map(|s| s.value.to_string())
        .expect("the demo has a supervisor in office at its head");
    assert!(in_office(&live, &supervisor) > 0);
    // The supervisor's membership ends, through the ledger's rules, on the last date of
    // the demo.
    let last_date = records.iter().map(|r| r.effective()).max().expect("records");
    let ledger = orgledger::ledger::Ledger::open(dir.path(), Default::default()).expect("the demo opens");
    let end = Submission::from_json(&format!(
        r#"{{"type":"MembershipEnded","effective":"{last_date}","member":"{supervisor}","reason":"resigned"}}"#
    ))
    .expect("a valid event");
    let actor = orgledger::event::Id::parse("ban-to-chuc-huyen-uy").expect("an id");
    ledger.append(actor, vec![end], None).expect("the rules accept the end");
    ledger.close();
    common::wait_until_released(dir.path());
    let end = records_in(dir.path()).pop().expect("the end is stored");
    let mut restored = snapshot::decode(&snapshot::encode(&live), live.head().hash).expect("the snapshot decodes");
    live.fold(&end);
    restored.fold(&end);
    assert_eq!(in_office(&live, &supervisor), 0, "the end released every supervision");
    assert_eq!(
        in_office(&restored, &supervisor),
        0,
        "and so it did in the restored copy"
    );
    assert_eq!(restored.commitment(), live.commitment());
    assert_matches_scratch(&restored, "restored, then a supervisor's end");
}

#[test]
fn a_projection_restored_from_a_snapshot_commits_as_the_live_one() {
    let records = synthetic();
    let mut live = Projection::new();
    let mut restored: Option<Projection> = None;
    for r in records {
        live.fold(r);
        if let Some(p) = restored.as_mut() {
            p.fold(r);
        }
        if [1, 4_999, 12_345].contains(&r.seq()) {
            // From here on the restored copy folds alongside the live one.
            let bytes = snapshot::encode(&live);
            let p = snapshot::decode(&bytes, r.hash()).expect("the snapshot decodes");
            assert_eq!(p.commitment(), live.commitment(), "restored at seq {}", r.seq());
            assert_eq!(p.commitment_state(), live.commitment_state());
            restored = Some(p);
        }
    }
    let p = restored.expect("a snapshot was taken");
    assert_eq!(p.commitment(), live.commitment());
    assert_matches_scratch(&p, "restored from a snapshot");
    // The history index is a hashed map, written in id order: a copy restored and folded on
    // writes the live one's bytes, whatever order its entries were inserted in.
    assert!(
        snapshot::encode(&p) == snapshot::encode(&live),
        "a restored projection writes the bytes of the live one"
    );
    // A snapshot of the format before the commitment is not read as this one.
    let mut old = snapshot::encode(&live);
    old[..snapshot::PROJECTION.len()].copy_from_slice(b"orgledger-projection-2");
    assert!(snapshot::decode(&old, live.head().hash).is_err());
}

/// A rebuild, the tail after a snapshot and a group of appends fold many records and hash
/// the views they changed once, at the end: batches of every size, the largest hashed on
/// every core, leave the commitment exactly as folding record by record does.
#[test]
fn views_hashed_once_per_batch_commit_as_views_hashed_after_every_record() {
    let records = synthetic();
    let mut each = Projection::new();
    let mut batched = Projection::new();
    let mut at = 0;
    let mut largest = 0;
    for size in [1, 2, 7, 64, 1000, 4000, usize::MAX] {
        let end = at + size.min(records.len() - at);
        for r in &records[at..end] {
            each.fold(r);
            batched.fold_unsettled(r);
        }
        largest = largest.max(batched.unsettled());
        batched.settle();
        assert_eq!(batched.unsettled(), 0);
        if let Some(diff) = batched.commitment_state().first_difference(each.commitment_state()) {
            panic!("after the batch ending at seq {end}: {diff}");
        }
        assert_eq!(batched.commitment(), each.commitment(), "at seq {end}");
        assert_matches_scratch(&batched, "synthetic, in batches");
        at = end;
    }
    assert_eq!(at, records.len());
    assert!(
        largest > orgledger::parallel::CHUNK,
        "the largest batch changed {largest} views: too few to be hashed on every core"
    );
}

/// Reading the commitment before the views folded without their hashes are settled is a
/// bug, and a loud one: it would be a stale value.
#[test]
#[should_panic(expected = "needs the projection settled")]
fn an_unsettled_projection_refuses_to_give_its_commitment() {
    let mut p = Projection::new();
    p.fold_unsettled(&synthetic()[0]);
    p.commitment();
}

#[test]
fn the_commitment_depends_on_the_head_seq() {
    let records = synthetic();
    let k = records
        .iter()
        .position(|r| r.type_name() == "MemberDisciplined")
        .expect("the synthetic ledger disciplines someone");
    // A discipline changes no view and no list: only the head moves.
    let mut p = Projection::new();
    for r in &records[..k] {
        p.fold(r);
    }
    let (before, state) = (p.commitment(), p.commitment_state().clone());
    p.fold(&records[k]);
    assert_eq!(p.commitment_state(), &state, "a discipline changes no committed view");
    assert_ne!(
        p.commitment(),
        before,
        "the same state at another seq commits differently"
    );
    assert_eq!(state.root(k as u64 + 1), p.commitment());
    assert_ne!(state.root(k as u64), state.root(k as u64 + 1));
}

fn postcard_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("encodes")
}

fn derive(context: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(context);
    for part in parts {
        h.update(part);
    }
    *h.finalize().as_bytes()
}

/// The commitment of `p` computed from the documented layout, with blake3 and postcard
/// only, as an outside verifier would.
fn by_the_book(p: &Projection) -> Hash {
    fn entities<V: serde::Serialize>(
        out: &mut BTreeMap<(u8, String), [u8; 32]>,
        section: u8,
        views: &BTreeMap<orgledger::event::Id, V>,
    ) {
        for (id, view) in views {
            let id = id.as_str();
            let len = (id.len() as u16).to_be_bytes();
            let hash = derive(
                ENTITY_CONTEXT,
                &[&[section], &len, id.as_bytes(), &postcard_bytes(view)],
            );
            out.insert((section, id.to_owned()), hash);
        }
    }
    fn list<T: serde::Serialize>(out: &mut Vec<u8>, items: &[T]) {
        let mut h = [0u8; 32];
        for item in items {
            h = derive(LIST_CONTEXT, &[&h, blake3::hash(&postcard_bytes(item)).as_bytes()]);
        }
        out.extend_from_slice(&(items.len() as u64).to_be_bytes());
        out.extend_from_slice(&h);
    }
    // Entity hashes in (section, id) order.
    let mut hashes: BTreeMap<(u8, String), [u8; 32]> = BTreeMap::new();
    entities(&mut hashes, 1, &p.localities);
    entities(&mut hashes, 2, &p.orgs);
    entities(&mut hashes, 3, &p.members);
    entities(&mut hashes, 4, &p.cadres);
    entities(&mut hashes, 5, &p.instruments);
    let mut bytes = p.head().seq.to_be_bytes().to_vec();
    bytes.extend_from_slice(&(hashes.len() as u64).to_be_bytes());
    for hash in hashes.values() {
        bytes.extend_from_slice(hash);
    }
    list(&mut bytes, &p.verifications);
    list(&mut bytes, &p.admissions);
    list(&mut bytes, &p.meetings().collect::<Vec<_>>());
    list(&mut bytes, &p.resolutions);
    Hash(derive(COMMITMENT_CONTEXT, &[&bytes]))
}

#[test]
fn the_commitment_is_the_documented_bytes() {
    let mut p = Projection::new();
    assert_eq!(p.commitment(), by_the_book(&p), "the empty projection");
    for r in every_event_type() {
        p.fold(&r);
        assert_eq!(p.commitment(), by_the_book(&p), "at seq {}", r.seq());
    }
}
