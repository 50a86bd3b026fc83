//! The speed benchmark of issue 2 ("Speed"): durable appends per second through the single
//! writer with 1, 8 and 64 concurrent submitters, against the raw ceiling of sled for the same
//! record bytes (in batches of the size the writer formed, and with one flush per event); then
//! full-chain verify against a raw sled scan plus blake3 of the same bytes. Everything is
//! measured in one run, on one machine, so the ratios compare like with like.
//!
//! Submitters are measured twice, each time on a fresh ledger: as OS threads calling the
//! blocking `Ledger::append`, and as tokio tasks calling `Ledger::append_async` (how a server
//! submits). Run it with `cargo bench --bench ledger`; `cargo bench --bench ledger -- --help`
//! lists the knobs.

mod allocator;
mod common;

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{fail, hamlet, id, number};
use orgledger::event::{Date, Event, Id, LocalityKind, LocalityRegistered, Submission, Text};
use orgledger::ledger::MAX_GROUP_EVENTS;
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::store::{Store, StoreError};

/// How submitters reach the writer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Submitters {
    /// OS threads calling the blocking `append`.
    Threads,
    /// Tokio tasks calling `append_async`, on a runtime with one worker per core.
    Tasks,
}

impl Submitters {
    fn describe(self) -> &'static str {
        match self {
            Submitters::Threads => "OS threads, Ledger::append",
            Submitters::Tasks => "tokio tasks, Ledger::append_async",
        }
    }
}

/// What the run measures and for how long.
struct Settings {
    /// How long each timed append or raw-write phase runs.
    phase: Duration,
    /// How many events the ledger holds when verify is timed.
    verify_events: u64,
    /// The submitter counts of the append phases; the last one is the one the ratios use.
    counts: Vec<usize>,
    /// Which kinds of submitters to measure, each on its own fresh ledger.
    kinds: Vec<Submitters>,
    /// How many times verify and the raw scan are each timed, alternately; the ratio is the
    /// median of the rounds' ratios, so one disturbed timing on a shared machine does not
    /// decide it.
    verify_rounds: usize,
    /// Whether the ledgers sync sled's data file after each flush (as every ledger does);
    /// `--no-sync` turns it off to measure what the sync costs.
    sync: bool,
}

const USAGE: &str = "\
cargo bench --bench ledger [-- OPTIONS]
  --secs S            seconds per timed append / raw-write phase (default 4)
  --verify-events N   events in the ledger when verify is timed (default 200000)
  --submitters A,B,C  concurrent submitter counts (default 1,8,64; ratios use the last)
  --only threads|tasks  measure one kind of submitter (default: both, each on a fresh ledger)
  --rounds R          verify and raw-scan timings, alternated; the ratio is the median of the
                      rounds' ratios (default 5)
  --no-sync           durable appends without the fdatasync after sled's flush that every
                      ledger does (what the sync costs; compare with a run without it)";

fn settings() -> Settings {
    let mut s = Settings {
        phase: Duration::from_secs(4),
        verify_events: 200_000,
        counts: vec![1, 8, 64],
        kinds: vec![Submitters::Threads, Submitters::Tasks],
        verify_rounds: 5,
        sync: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| fail(&format!("{name} needs a value")));
        match arg.as_str() {
            // cargo passes `--bench` to every benchmark binary.
            "--bench" => {}
            "--secs" => s.phase = Duration::from_secs_f64(number(&value("--secs"))),
            "--verify-events" => s.verify_events = number::<u64>(&value("--verify-events")).max(1),
            "--rounds" => s.verify_rounds = number::<usize>(&value("--rounds")).max(1),
            "--submitters" => {
                s.counts = value("--submitters").split(',').map(number).collect();
                if s.counts.contains(&0) {
                    fail("--submitters needs positive counts");
                }
            }
            "--only" => {
                s.kinds = match value("--only").as_str() {
                    "threads" => vec![Submitters::Threads],
                    "tasks" => vec![Submitters::Tasks],
                    other => fail(&format!("--only takes threads or tasks, not {other:?}")),
                }
            }
            "--no-sync" => s.sync = false,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    s
}

fn date(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("a real date")
}

fn locality(locality: &str, name: &str, kind: LocalityKind, parent: Option<&Id>, effective: Date) -> Submission {
    Submission::new(
        effective,
        Event::LocalityRegistered(LocalityRegistered {
            locality: id(locality),
            name: Text::parse(name).expect("benchmark names are valid"),
            kind,
            parent: parent.cloned(),
            border: false,
        }),
    )
}

/// Opens a fresh ledger in `dir` and registers the province, district and commune the
/// hamlets hang under; returns the ledger and the commune.
fn fresh_ledger(dir: &Path, actor: &Id, sync: bool) -> (Arc<Ledger>, Id) {
    let options = match sync {
        true => LedgerOptions::default(),
        false => LedgerOptions::default().without_sync(),
    };
    let ledger = Ledger::open(dir, options).expect("a fresh ledger");
    let (province, district, commune) = (id("tinh-cao-bang"), id("huyen-trung-khanh"), id("xa-ngoc-khe"));
    let prefix = vec![
        locality(
            province.as_str(),
            "Cao Bằng",
            LocalityKind::Province,
            None,
            date(2000, 1, 1),
        ),
        locality(
            district.as_str(),
            "Trùng Khánh",
            LocalityKind::District,
            Some(&province),
            date(2000, 1, 1),
        ),
        locality(
            commune.as_str(),
            "Ngọc Khê",
            LocalityKind::Commune,
            Some(&district),
            date(2000, 1, 1),
        ),
    ];
    ledger.append(actor.clone(), prefix, None).expect("the prefix is valid");
    (Arc::new(ledger), commune)
}

/// What one timed append phase did.
struct AppendPhase {
    submitters: usize,
    events: u64,
    groups: u64,
    elapsed: Duration,
    /// The first and last `seq` written in the phase, so the raw phases can reuse its bytes.
    seqs: (u64, u64),
}

impl AppendPhase {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn group_size(&self) -> f64 {
        self.events as f64 / self.groups.max(1) as f64
    }
}

/// Where the submitters of one phase append, and what they append.
struct Target<'a> {
    ledger: &'a Arc<Ledger>,
    actor: &'a Id,
    commune: &'a Id,
    /// Makes the hamlet ids of this phase unlike those of every other phase.
    tag: &'a str,
}

/// Runs `submitters` concurrent submitters for `duration`, each appending one hamlet per
/// request and waiting for its acknowledgement before sending the next. The events and groups
/// are read from the ledger's head and group counter, so they count only what became durable.
fn append_phase(target: &Target, kind: Submitters, submitters: usize, duration: Duration) -> AppendPhase {
    let (head0, groups0) = (target.ledger.head(), target.ledger.groups_committed());
    let start = match kind {
        Submitters::Threads => submit_from_threads(target, submitters, duration),
        Submitters::Tasks => submit_from_tasks(target, submitters, duration),
    };
    let elapsed = start.elapsed();
    let (head1, groups1) = (target.ledger.head(), target.ledger.groups_committed());
    AppendPhase {
        submitters,
        events: head1.seq - head0.seq,
        groups: groups1 - groups0,
        elapsed,
        seqs: (head0.seq + 1, head1.seq),
    }
}

/// OS threads calling the blocking `append`. Returns when the phase started.
fn submit_from_threads(target: &Target, submitters: usize, duration: Duration) -> Instant {
    // Every thread starts together, after all of them exist, so thread creation is not timed.
    let barrier = Barrier::new(submitters + 1);
    std::thread::scope(|scope| {
        for s in 0..submitters {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                let deadline = Instant::now() + duration;
                let mut n = 0;
                while Instant::now() < deadline {
                    let event = hamlet(target.commune, target.tag, s, n);
                    target
                        .ledger
                        .append(target.actor.clone(), vec![event], None)
                        .expect("a valid hamlet is appended");
                    n += 1;
                }
            });
        }
        barrier.wait();
        Instant::now()
    })
}

/// Tokio tasks calling `append_async`, on a runtime with one worker per core. Returns when
/// the phase started.
fn submit_from_tasks(target: &Target, submitters: usize, duration: Duration) -> Instant {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let start = Instant::now();
        let deadline = start + duration;
        let handles: Vec<_> = (0..submitters)
            .map(|s| {
                let (ledger, actor) = (target.ledger.clone(), target.actor.clone());
                let (commune, tag) = (target.commune.clone(), target.tag.to_owned());
                tokio::spawn(async move {
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let event = hamlet(&commune, &tag, s, n);
                        ledger
                            .append_async(actor.clone(), vec![event], None)
                            .await
                            .expect("a valid hamlet is appended");
                        n += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("a submitter task finished");
        }
        start
    })
}

/// The stored values (hash + canonical bytes) of records `first..=last`: the exact bytes the
/// writer wrote, for the raw phases to write again.
fn stored_values(store: &Store, (first, last): (u64, u64)) -> Vec<Vec<u8>> {
    (first..=last)
        .map(|seq| store.raw_value(seq).expect("readable").expect("written in the phase"))
        .collect()
}

/// What a raw sled phase did.
struct RawPhase {
    batch: usize,
    events: u64,
    elapsed: Duration,
}

impl RawPhase {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn per_batch_ms(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e3 / (self.events as f64 / self.batch as f64)
    }
}

/// Writes `values` into a scratch tree in batches of `batch` with one flush after each batch,
/// cycling over the values under fresh keys until `duration` has passed.
fn raw_phase(store: &Store, tree: &str, values: &[Vec<u8>], batch: usize, duration: Duration) -> RawPhase {
    let batch = batch.max(1);
    let mut key = 0u64;
    let mut items: Vec<(u64, Vec<u8>)> = Vec::with_capacity(batch);
    let start = Instant::now();
    'timed: loop {
        for chunk in values.chunks(batch) {
            items.clear();
            items.extend(chunk.iter().map(|v| {
                key += 1;
                (key, v.clone())
            }));
            store
                .write_raw_batch(tree, &items, true)
                .expect("the scratch tree takes the batch");
            if start.elapsed() >= duration {
                break 'timed;
            }
        }
    }
    let elapsed = start.elapsed();
    store.drop_raw(tree).expect("the scratch tree drops");
    RawPhase {
        batch,
        events: key,
        elapsed,
    }
}

/// The figures of one kind of submitter, kept for the ratios.
struct AppendResult {
    kind: Submitters,
    top: AppendPhase,
    batched: RawPhase,
    /// The one-flush-per-event rate, measured on this kind's ledger with its bytes.
    single: RawPhase,
}

/// Measures one kind of submitter on a fresh ledger: the append phases, then the raw ceiling
/// for the bytes of the last (largest) phase.
fn measure_appends(root: &Path, kind: Submitters, settings: &Settings, actor: &Id) -> AppendResult {
    let dir = root.join(match kind {
        Submitters::Threads => "threads",
        Submitters::Tasks => "tasks",
    });
    let (ledger, commune) = fresh_ledger(&dir, actor, settings.sync);
    println!(
        "durable appends, {} (one event per request, each submitter waits for its ack){}",
        kind.describe(),
        if settings.sync {
            ""
        } else {
            " -- WITHOUT the fdatasync after each flush"
        }
    );
    // A short untimed run so sled has its files and caches warm before the first figure.
    let warm = Target {
        ledger: &ledger,
        actor,
        commune: &commune,
        tag: "w",
    };
    append_phase(&warm, kind, 8, Duration::from_millis(300));
    let mut top = None;
    for (i, &n) in settings.counts.iter().enumerate() {
        let tag = format!("p{i}");
        let target = Target {
            ledger: &ledger,
            actor,
            commune: &commune,
            tag: &tag,
        };
        let p = append_phase(&target, kind, n, settings.phase);
        println!(
            "  {:>3} submitters: {:>7.0} events/s  ({} events in {:.2}s, {} groups, avg group {:.1} events, {:.3} ms per group)",
            p.submitters,
            p.rate(),
            p.events,
            p.elapsed.as_secs_f64(),
            p.groups,
            p.group_size(),
            p.elapsed.as_secs_f64() * 1e3 / p.groups.max(1) as f64
        );
        top = Some(p);
    }
    let top = top.expect("at least one submitter count");
    let store = ledger.store();
    let values = stored_values(store, top.seqs);
    let mean_len = values.iter().map(Vec::len).sum::<usize>() as f64 / values.len().max(1) as f64;
    let batch = top.group_size().round().max(1.0) as usize;
    println!(
        "  raw sled, the same {} stored values (mean {:.0} bytes incl. the hash) of the {}-submitter phase:",
        values.len(),
        mean_len,
        top.submitters
    );
    let batched = raw_phase(store, "bench-raw-batched", &values, batch, settings.phase);
    println!(
        "    batches of {:>3}, one flush each: {:>7.0} events/s  ({} events, {:.3} ms per batch)",
        batched.batch,
        batched.rate(),
        batched.events,
        batched.per_batch_ms()
    );
    let single = raw_phase(store, "bench-raw-single", &values, 1, settings.phase / 2);
    println!(
        "    one flush per event:           {:>7.0} events/s  ({} events, {:.3} ms per flush)",
        single.rate(),
        single.events,
        single.per_batch_ms()
    );
    println!();
    drop(ledger);
    AppendResult {
        kind,
        top,
        batched,
        single,
    }
}

/// Fills the ledger with hamlets through the writer, in requests of the writer's largest
/// group, until it holds `target` events.
fn fill_ledger(ledger: &Ledger, actor: &Id, commune: &Id, target: u64) {
    let mut n = 0;
    while ledger.head().seq < target {
        let missing = (target - ledger.head().seq).min(MAX_GROUP_EVENTS as u64);
        let batch = (0..missing)
            .map(|_| {
                n += 1;
                hamlet(commune, "v", 0, n)
            })
            .collect();
        ledger
            .append(actor.clone(), batch, None)
            .expect("valid hamlets are appended");
    }
}

/// Copies every stored value of the log into a scratch tree, so the raw scan reads the very
/// bytes verify reads.
fn copy_log_to_scratch(store: &Store, tree: &str) -> u64 {
    let mut items = Vec::with_capacity(MAX_GROUP_EVENTS);
    let mut n = 0;
    for item in store.raw_records(1) {
        let record = item.expect("the log reads");
        items.push((record.seq, [&record.hash.0[..], record.canonical()].concat()));
        n += 1;
        if items.len() == MAX_GROUP_EVENTS {
            store
                .write_raw_batch(tree, &items, false)
                .expect("the scratch tree takes the batch");
            items.clear();
        }
    }
    store
        .write_raw_batch(tree, &items, true)
        .expect("the scratch tree takes the batch");
    n
}

/// Opens a closed store, waiting out the moment sled takes to release its lock.
fn open_store(dir: &Path) -> Store {
    for _ in 0..500 {
        match Store::open(dir, false) {
            Err(StoreError::InUse(_)) => std::thread::sleep(Duration::from_millis(10)),
            other => return other.expect("the store opens"),
        }
    }
    panic!("{} stayed in use", dir.display())
}

/// Times `Store::verify` against a raw scan (sled iteration plus blake3) of the log tree
/// itself, alternately; returns the median of the rounds' ratios. A scan of the same values
/// copied into a freshly written tree is printed beside it: sled lays out a tree written in
/// one go more densely than the log, which was written group by group, so that scan is
/// faster than any reader of the log could be, and is shown only for comparison.
fn measure_verify(root: &Path, settings: &Settings, actor: &Id) -> f64 {
    let (ledger, commune) = fresh_ledger(&root.join("verify"), actor, true);
    let fill = Instant::now();
    fill_ledger(&ledger, actor, &commune, settings.verify_events);
    let events = ledger.head().seq;
    println!(
        "full-chain verify of {events} events (ledger filled through the writer in {:.1}s, requests of up to {MAX_GROUP_EVENTS} events)",
        fill.elapsed().as_secs_f64()
    );
    // Close the ledger first: its projector folds and snapshots in the background after a
    // fill, and would share the two cores with the timed scans. Verify is timed on the
    // store alone, as `orgledger verify` runs it.
    Arc::try_unwrap(ledger)
        .ok()
        .expect("the benchmark holds the only handle")
        .close();
    let store = &open_store(&root.join("verify"));
    let copied = copy_log_to_scratch(store, "bench-raw-scan");
    assert_eq!(copied, events, "the scratch tree holds every record");
    let mut ratios = Vec::new();
    for round in 1..=settings.verify_rounds {
        let t = Instant::now();
        let verified = store.verify().expect("the store reads").expect("the chain verifies");
        let verify_rate = verified.events as f64 / t.elapsed().as_secs_f64();
        assert_eq!(verified.events, events, "verify walked the whole chain");
        let t = Instant::now();
        let scanned = store.scan_log_raw().expect("the log reads");
        let scan_rate = scanned as f64 / t.elapsed().as_secs_f64();
        assert_eq!(scanned, events, "the raw scan read every record");
        let t = Instant::now();
        let copied_scan = store.scan_raw("bench-raw-scan").expect("the scratch tree reads");
        let copy_rate = copied_scan as f64 / t.elapsed().as_secs_f64();
        assert_eq!(copied_scan, events, "the scratch scan read every value");
        let ratio = verify_rate / scan_rate;
        println!(
            "  round {round}: Store::verify {verify_rate:>8.0} events/s | raw scan + blake3 of the log {scan_rate:>8.0} events/s | ratio {ratio:.2} | (the same values copied to a fresh tree: {copy_rate:>8.0} events/s, ratio {:.2})",
            verify_rate / copy_rate
        );
        ratios.push(ratio);
    }
    store.drop_raw("bench-raw-scan").expect("the scratch tree drops");
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!("  median ratio of the {} rounds: {median:.2}", ratios.len());
    println!();
    median
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn main() {
    let settings = settings();
    if settings.counts.is_empty() {
        fail("--submitters needs at least one count");
    }
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let actor = id("bench");
    let run = Instant::now();
    println!("orgledger ledger benchmark (cargo bench --bench ledger)");
    println!(
        "scratch stores under {} | {}s per timed phase | verify ledger of {} events",
        scratch.path().display(),
        settings.phase.as_secs_f64(),
        settings.verify_events
    );
    println!();

    let results: Vec<AppendResult> = settings
        .kinds
        .iter()
        .map(|&kind| measure_appends(scratch.path(), kind, &settings, &actor))
        .collect();
    let vs_scan = measure_verify(scratch.path(), &settings, &actor);

    println!("ratios (targets from issue 2)");
    for r in &results {
        let vs_batched = r.top.rate() / r.batched.rate();
        let vs_single = r.top.rate() / r.single.rate();
        println!(
            "  {:<34} {}-submitter appends / raw batched ceiling: {vs_batched:>5.2}  (target >= 0.7)  {}",
            r.kind.describe(),
            r.top.submitters,
            verdict(vs_batched >= 0.7)
        );
        println!(
            "  {:<34} {}-submitter appends / one flush per event: {vs_single:>5.2}  (target >= 10)   {}",
            r.kind.describe(),
            r.top.submitters,
            verdict(vs_single >= 10.0)
        );
    }
    println!(
        "  {:<34} verify / raw scan + blake3 (median):       {vs_scan:>5.2}  (target >= 0.8)  {}",
        "",
        verdict(vs_scan >= 0.8)
    );
    println!();
    println!("total run time {:.0}s", run.elapsed().as_secs_f64());
}
