//! The read-side speed benchmark of issue 3 ("Speed"), on a synthetic province-scale ledger
//! (`orgledger::generate`, one million events by default). From one run, printed together:
//!
//! - the full rebuild of the projection from the log (`Projection::new` + `fold` over
//!   `Store::records(1)`) in events/s, against a raw scan of the same records in the same
//!   run (`Store::raw_records(1)`, touching each value);
//! - the memory the live projection takes (RSS and peak RSS of this process, from
//!   `/proc/self/status`, before and after the rebuild), per event;
//! - a question (the coverage report and the roster of a cell) as of a random old `seq`:
//!   (a) from the live projection, which is bitemporal and answers without a replay;
//!   (b) from a projection opened as a command does, from the latest snapshot plus the
//!   records after it (`Store::open_projection`); (c) from a full replay up to that `seq`.
//!
//! Run it with `cargo bench --bench projection -- [EVENTS]`. The ledger is generated once,
//! by a child process (so this process's memory figures are the projection's alone), into
//! `target/bench-ledger-EVENTS`, and reused by later runs.

mod allocator;
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{ensure_ledger, fail, machine, median, memory, number, raw_scan, replay, verdict, Rng};
use orgledger::event::{Id, OrgKind};
use orgledger::generate;
use orgledger::projection::{reports, At, Projection};
use orgledger::store::Store;

const DEFAULT_EVENTS: u64 = 1_000_000;
/// The generator's seed: fixed, so every run measures the same ledger.
const SEED: u64 = 1;
/// How many random old `seq`s each way of answering is asked at; a replay costs seconds.
const LIVE_QUESTIONS: usize = 20;
const SNAPSHOT_QUESTIONS: usize = 5;
const REPLAY_QUESTIONS: usize = 3;

/// The targets of the issue.
const REBUILD_RATIO_TARGET: f64 = 0.3;
const QUESTION_TARGET: Duration = Duration::from_millis(50);
const BYTES_PER_EVENT_TARGET: f64 = 1024.0;

const USAGE: &str = "\
cargo bench --bench projection [-- EVENTS]
  EVENTS              events in the synthetic ledger (default 1000000); it is generated once
                      into target/bench-ledger-EVENTS and reused
  --fingerprint DIR   rebuild the projection of the ledger in DIR and print the blake3 of its
                      snapshot bytes, to check that a change to the fold changes no answer";

fn main() {
    let mut events = DEFAULT_EVENTS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo passes `--bench` to every benchmark binary.
            "--bench" => {}
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            // The child that writes the ledger: `--generate-into DIR EVENTS`.
            "--generate-into" => {
                let dir = PathBuf::from(args.next().unwrap_or_else(|| fail("--generate-into needs DIR EVENTS")));
                let n = number(&args.next().unwrap_or_else(|| fail("--generate-into needs DIR EVENTS")));
                let head = generate::write_ledger(&dir, n, SEED).unwrap_or_else(|e| fail(&e.to_string()));
                println!("{{\"events\":{},\"head\":\"{}\"}}", head.seq, head.hash);
                return;
            }
            // A check for speedups of the fold: the same ledger must give the same projection.
            "--fingerprint" => {
                let dir = PathBuf::from(args.next().unwrap_or_else(|| fail("--fingerprint needs DIR")));
                let store = Store::open(&dir, false).unwrap_or_else(|e| fail(&e.to_string()));
                let head = store.head().expect("the head reads").seq;
                let bytes = orgledger::projection::snapshot::encode(&replay(&store, head));
                println!(
                    "{{\"events\":{head},\"projection_bytes\":{},\"blake3\":\"{}\"}}",
                    bytes.len(),
                    blake3::hash(&bytes)
                );
                return;
            }
            other => events = number(other),
        }
    }
    if events == 0 {
        fail("EVENTS must be at least 1");
    }
    run(events);
}

/// Resets the peak resident set to the current one (Linux `clear_refs`), so the peak
/// after the rebuild is the rebuild's own. False if the kernel refused.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One question as of `at`: the coverage report and the roster of `cell`.
fn ask(projection: &Projection, at: At, cell: &Id) -> usize {
    let coverage = reports::coverage(projection, at);
    let roster = reports::roster(projection, cell, at)
        .map(|r| r.members.len())
        .unwrap_or(0);
    std::hint::black_box(coverage.counts.localities as usize + roster)
}

/// A random old point of the log: a `seq`, the effective date of its record (the day the
/// ledger had reached then), and a cell founded by then.
struct Question {
    at: At,
    cell: Id,
}

fn questions(store: &Store, projection: &Projection, count: usize) -> Vec<Question> {
    let head = projection.head().seq;
    let mut rng = Rng(0x5eed);
    let cells: Vec<(&Id, u64)> = projection
        .orgs
        .iter()
        .filter(|(_, o)| o.kind == OrgKind::Cell)
        .map(|(id, o)| (id, o.founded.1))
        .collect();
    (0..count)
        .map(|_| {
            let seq = 1 + rng.below(head.saturating_sub(1).max(1));
            let record = store.record(seq).expect("the log reads").expect("the record exists");
            let founded: Vec<&Id> = cells.iter().filter(|(_, s)| *s <= seq).map(|(id, _)| *id).collect();
            let cell = if founded.is_empty() {
                cells[0].0
            } else {
                founded[rng.below(founded.len() as u64) as usize]
            };
            Question {
                at: At {
                    date: record.effective(),
                    seq,
                },
                cell: cell.clone(),
            }
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn run(events: u64) {
    println!(
        "orgledger projection benchmark: {events} events, seed {SEED}; machine: {}",
        machine()
    );
    let dir = ensure_ledger(events);
    let store = Store::open(&dir, false).unwrap_or_else(|e| fail(&e.to_string()));
    let head = store.head().expect("the head reads").seq;

    // The first raw scan also brings the log into sled's cache, so that the rebuild and the
    // second raw scan both read from memory and the memory growth is the projection's.
    let (records, bytes, raw_first) = raw_scan(&store);
    assert_eq!(records, head, "the log holds every record up to the head");
    let before = memory("self");
    let peak_reset = reset_peak();
    let started = Instant::now();
    let projection = replay(&store, head);
    let rebuild = started.elapsed();
    let after = memory("self");
    let (_, _, raw_second) = raw_scan(&store);
    let raw = raw_first.min(raw_second);
    // Where the rebuild's time goes: reading the records alone (hash check and decoding),
    // without folding them.
    let started = Instant::now();
    for record in store.records(1) {
        std::hint::black_box(record.expect("the log reads"));
    }
    let decode = started.elapsed();

    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    let ratio = rate(rebuild) / rate(raw);
    println!(
        "raw scan     {records} records ({:.0} MiB) in {:.2} s / {:.2} s: best {:.0} records/s",
        bytes as f64 / 1048576.0,
        raw_first.as_secs_f64(),
        raw_second.as_secs_f64(),
        rate(raw)
    );
    println!(
        "rebuild      {records} events in {:.2} s: {:.0} events/s = {ratio:.2}x the raw scan    target >= {REBUILD_RATIO_TARGET}x  {}",
        rebuild.as_secs_f64(),
        rate(rebuild),
        verdict(ratio >= REBUILD_RATIO_TARGET)
    );
    println!(
        "             of which reading the records (Store::records alone): {:.2} s, {:.0} records/s; folding: {:.2} s",
        decode.as_secs_f64(),
        rate(decode),
        rebuild.saturating_sub(decode).as_secs_f64()
    );
    let retained = after.rss.saturating_sub(before.rss);
    let peak = if peak_reset {
        after.peak.saturating_sub(before.rss)
    } else {
        after.peak.saturating_sub(before.peak).max(retained)
    };
    let per_event = peak as f64 / records as f64;
    println!(
        "memory       live projection: {:.0} MiB resident ({:.0} B/event), peak {:.0} MiB while built ({per_event:.0} B/event{})    target < {BYTES_PER_EVENT_TARGET:.0} B/event  {}",
        retained as f64 / 1048576.0,
        retained as f64 / records as f64,
        peak as f64 / 1048576.0,
        if peak_reset { "" } else { "; peak not resettable, from VmHWM growth" },
        verdict(per_event < BYTES_PER_EVENT_TARGET)
    );

    let asked = questions(&store, &projection, LIVE_QUESTIONS);
    println!(
        "question     coverage report + roster of a cell, as of a random old seq (date: that record's effective date)"
    );
    let live: Vec<Duration> = asked
        .iter()
        .map(|q| {
            let started = Instant::now();
            ask(&projection, q.at, &q.cell);
            started.elapsed()
        })
        .collect();
    let live_median = median(live.clone());
    println!(
        "  (a) live projection, no replay:          median {} over {} seqs (min {}, max {})    target < {}  {}",
        ms(live_median),
        live.len(),
        ms(*live.iter().min().expect("times")),
        ms(*live.iter().max().expect("times")),
        ms(QUESTION_TARGET),
        verdict(live_median < QUESTION_TARGET)
    );
    drop(projection);

    let mut opened_from = (0, 0);
    let snapshot: Vec<Duration> = asked
        .iter()
        .take(SNAPSHOT_QUESTIONS)
        .map(|q| {
            let started = Instant::now();
            let (projection, opened) = store.open_projection().expect("the projection opens");
            ask(&projection, q.at, &q.cell);
            let elapsed = started.elapsed();
            opened_from = (opened.from_snapshot, opened.replayed);
            elapsed
        })
        .collect();
    let snapshot_median = median(snapshot.clone());
    println!(
        "  (b) latest snapshot (seq {}) + {} records: median {} over {} seqs    target < {}  {}",
        opened_from.0,
        opened_from.1,
        ms(snapshot_median),
        snapshot.len(),
        ms(QUESTION_TARGET),
        verdict(snapshot_median < QUESTION_TARGET)
    );
    // Where (b)'s time goes: decoding the snapshot, then folding the records after it.
    let started = Instant::now();
    let (latest, _) = store.latest_snapshot().expect("the snapshots read");
    let decoded = started.elapsed();
    let from = latest.as_ref().map_or(0, |p| p.head().seq);
    let snapshot_bytes = orgledger::projection::snapshot::encode(latest.as_ref().unwrap_or(&Projection::new())).len();
    drop(latest);
    println!(
        "             of which decoding the snapshot ({:.0} MiB): {}; the tail of {} records: the rest",
        snapshot_bytes as f64 / 1048576.0,
        ms(decoded),
        head - from
    );

    let replayed: Vec<(u64, Duration)> = asked
        .iter()
        .take(REPLAY_QUESTIONS)
        .map(|q| {
            let started = Instant::now();
            let projection = replay(&store, q.at.seq);
            ask(&projection, q.at, &q.cell);
            (q.at.seq, started.elapsed())
        })
        .collect();
    let seqs: Vec<String> = replayed.iter().map(|(s, d)| format!("seq {s}: {}", ms(*d))).collect();
    println!(
        "  (c) full replay up to the seq:           median {} over {} seqs ({})",
        ms(median(replayed.iter().map(|(_, d)| *d).collect())),
        replayed.len(),
        seqs.join(", ")
    );
    std::io::stdout().flush().ok();
}
