//! The speed benchmark of issue 5 ("Speed"), in one run: on a 1,000,000-event ledger,
//! inclusion and consistency proof generation from the store and checkpoint creation
//! (`checkpoint_of` on the live projection, then `sign`); then durable append throughput
//! with the Merkle tree kept in the append path against the same path without it, on fresh
//! ledgers, alternated over a few rounds. It ends with a table to paste into BENCHMARKS.md.
//!
//! The 1,000,000-event ledger is the one benches/projection.rs caches under
//! `target/bench-ledger-EVENTS` (same seed, same child-process generation, same `.done`
//! marker), so the two benchmarks share it. A cached ledger written before the tree was kept
//! has its tree filled in by the first `Ledger::open` (as any ledger's is); that open is
//! timed apart and says so. Run it with `cargo bench --bench proofs`; `-- --help` lists the
//! knobs.

mod allocator;
mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ensure_ledger, fail, hamlet, id, machine, number, verdict, Rng};
use orgledger::checkpoint::SigningKey;
use orgledger::event::{Hash, Submission};
use orgledger::generate;
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::merkle::{self, TreeError, TreeNodes};
use orgledger::proofs;
use orgledger::store::{Store, StoreError};

/// The seed of benches/projection.rs, so that both benchmarks use the very same ledger.
const SEED: u64 = 1;
const DEFAULT_EVENTS: u64 = 1_000_000;

/// The targets of the issue.
const PROOF_TARGET: Duration = Duration::from_millis(1);
const CHECKPOINT_TARGET: Duration = Duration::from_millis(10);
const APPEND_RATIO_TARGET: f64 = 0.9;

/// The starting content of every append ledger: a real province, district and commune, so
/// both modes start from the same small state, and the commune the hamlets hang under.
const EXAMPLE: &str = include_str!("../examples/trung-khanh-2005.jsonl");
const COMMUNE: &str = "xa-dam-thuy";

const USAGE: &str = "\
cargo bench --bench proofs [-- OPTIONS]
  --events N        events in the proof ledger (default 1000000); generated once into
                    target/bench-ledger-N (shared with benches/projection.rs) and reused
  --proofs N        inclusion proofs and consistency proofs timed, each (default 3000)
  --checkpoints N   checkpoints made and signed (default 40)
  --secs S          seconds per timed append phase (default 4)
  --rounds R        append rounds, each timing both modes on fresh ledgers (default 5)
  --submitters N    concurrent append_async submitters (default 64)";

struct Settings {
    events: u64,
    proofs: usize,
    checkpoints: usize,
    phase: Duration,
    rounds: usize,
    submitters: usize,
}

fn settings() -> Settings {
    let mut s = Settings {
        events: DEFAULT_EVENTS,
        proofs: 3000,
        checkpoints: 40,
        phase: Duration::from_secs(4),
        rounds: 5,
        submitters: 64,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| fail(&format!("{name} needs a value\n{USAGE}")))
        };
        match arg.as_str() {
            // cargo passes `--bench` to every benchmark binary.
            "--bench" => {}
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            // The child that writes the ledger, as in benches/projection.rs.
            "--generate-into" => {
                let dir = PathBuf::from(value("--generate-into"));
                let n = number(&value("--generate-into"));
                let head = generate::write_ledger(&dir, n, SEED).unwrap_or_else(|e| fail(&e.to_string()));
                println!("{{\"events\":{},\"head\":\"{}\"}}", head.seq, head.hash);
                std::process::exit(0);
            }
            "--events" => s.events = number::<u64>(&value("--events")).max(2),
            "--proofs" => s.proofs = number::<usize>(&value("--proofs")).max(1),
            "--checkpoints" => s.checkpoints = number::<usize>(&value("--checkpoints")).max(1),
            "--secs" => s.phase = Duration::from_secs_f64(number(&value("--secs"))),
            "--rounds" => s.rounds = number::<usize>(&value("--rounds")).max(1),
            "--submitters" => s.submitters = number::<usize>(&value("--submitters")).max(1),
            other => fail(&format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    s
}

/// Runs `open`, waiting out another process (the projection benchmark, say) that holds the
/// store's lock, for up to ten minutes.
fn patiently<T>(dir: &Path, mut open: impl FnMut() -> Result<T, StoreError>) -> T {
    let mut said = false;
    for _ in 0..60_000 {
        match open() {
            Err(StoreError::InUse(_)) => {
                if !said {
                    println!("  ({} is in use by another process; waiting)", dir.display());
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display()))),
        }
    }
    fail(&format!("{} stayed in use", dir.display()))
}

/// The store behind `TreeNodes`, counting lookups, to tell how much of a proof's time is
/// node reads and how many it makes.
struct Counting<'a> {
    store: &'a Store,
    lookups: Cell<u64>,
}

impl TreeNodes for Counting<'_> {
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        self.lookups.set(self.lookups.get() + 1);
        self.store.node(level, index)
    }
}

/// Median, p99 and mean of a set of timings.
struct Summary {
    n: usize,
    median: Duration,
    p99: Duration,
    mean: Duration,
    max: Duration,
}

fn summary(mut times: Vec<Duration>) -> Summary {
    times.sort();
    let n = times.len();
    Summary {
        n,
        median: times[n / 2],
        p99: times[(n * 99).div_ceil(100).max(1) - 1],
        mean: times.iter().sum::<Duration>() / n as u32,
        max: times[n - 1],
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn line(s: &Summary) -> String {
    format!(
        "median {} | p99 {} | mean {} | max {} (n = {})",
        us(s.median),
        us(s.p99),
        us(s.mean),
        us(s.max),
        s.n
    )
}

/// The figures the table is made of.
struct ProofFigures {
    head: u64,
    inclusion: Summary,
    consistency: Summary,
    commitment: Summary,
    checkpoint: Summary,
}

/// Part 1: proofs and checkpoints on the big ledger.
fn measure_proofs(s: &Settings) -> ProofFigures {
    let dir = ensure_ledger(s.events);
    // How much of the tree the store holds before the open: a ledger generated before the
    // append path kept the tree is filled in by `Ledger::open`, which the open time then
    // includes.
    let held = {
        let store = patiently(&dir, || Store::open(&dir, false));
        store.tree_size().expect("the tree size reads")
    };
    let started = Instant::now();
    let ledger = patiently(&dir, || Ledger::open(&dir, LedgerOptions::default()));
    let opened = started.elapsed();
    let store = ledger.store();
    let head = ledger.head().seq;
    println!(
        "open         Ledger::open in {:.1} s (verify, replay, snapshot){}",
        opened.as_secs_f64(),
        if held < head {
            format!("; it filled in the Merkle tree from {held} to {head} leaves")
        } else {
            format!("; the tree was complete ({held} leaves)")
        }
    );
    assert_eq!(
        store.tree_size().expect("the tree size reads"),
        head,
        "the tree reaches the head"
    );

    // Inclusion: what `orgledger proof inclusion --seq N` and GraphQL do, the event's hash
    // read from the store, then the proof and the root at the head size.
    let mut rng = Rng(0x5eed);
    let seqs: Vec<u64> = (0..s.proofs).map(|_| 1 + rng.below(head)).collect();
    let mut made = Vec::with_capacity(seqs.len());
    let times: Vec<Duration> = seqs
        .iter()
        .map(|&seq| {
            let t = Instant::now();
            let (hash, _) = store.raw(seq).expect("the log reads").expect("the record exists");
            let p = proofs::inclusion(store, hash, seq, None, head).expect("the proof is made");
            let elapsed = t.elapsed();
            made.push(p);
            elapsed
        })
        .collect();
    let inclusion = summary(times);
    // Untimed: every proof verifies, and how many node lookups each made.
    let counting = Counting {
        store,
        lookups: Cell::new(0),
    };
    let mut hashes = 0;
    for p in &made {
        let hash = Hash::parse(&p.event_hash).expect("a hex hash");
        proofs::inclusion(&counting, hash, p.seq, None, head).expect("the proof is made again");
        hashes += p.proof.len();
        proofs::AnyProof::Inclusion(p.clone())
            .verify(None)
            .expect("the proof verifies");
    }
    println!(
        "inclusion    {} random seqs at size {head}: {}    target median < 1 ms  {}",
        seqs.len(),
        line(&inclusion),
        verdict(inclusion.median < PROOF_TARGET)
    );
    println!(
        "             {:.1} hashes and {:.1} node lookups per proof (path + root), all verified",
        hashes as f64 / made.len() as f64,
        counting.lookups.get() as f64 / made.len() as f64
    );
    // A single node read, for scale.
    let node_reads: Vec<Duration> = (0..s.proofs)
        .map(|_| {
            let i = rng.below(head);
            let t = Instant::now();
            std::hint::black_box(store.node(0, i).expect("the leaf reads"));
            t.elapsed()
        })
        .collect();
    let node_read = summary(node_reads);
    println!(
        "             one random leaf read (Store as TreeNodes): {}",
        line(&node_read)
    );

    // Consistency: random 0 < from <= to <= head, both roots included, as the CLI answers.
    let pairs: Vec<(u64, u64)> = (0..s.proofs)
        .map(|_| {
            let to = 1 + rng.below(head);
            (1 + rng.below(to), to)
        })
        .collect();
    let mut made = Vec::with_capacity(pairs.len());
    let times: Vec<Duration> = pairs
        .iter()
        .map(|&(from, to)| {
            let t = Instant::now();
            let p = proofs::consistency(store, from, Some(to), head).expect("the proof is made");
            let elapsed = t.elapsed();
            made.push(p);
            elapsed
        })
        .collect();
    let consistency = summary(times);
    counting.lookups.set(0);
    let mut hashes = 0;
    for p in &made {
        proofs::consistency(&counting, p.from, Some(p.to), head).expect("the proof is made again");
        hashes += p.proof.len();
        proofs::AnyProof::Consistency(p.clone())
            .verify(None)
            .expect("the proof verifies");
    }
    println!(
        "consistency  {} random (from, to) pairs: {}    target median < 1 ms  {}",
        pairs.len(),
        line(&consistency),
        verdict(consistency.median < PROOF_TARGET)
    );
    println!(
        "             {:.1} hashes and {:.1} node lookups per proof (proof + both roots), all verified",
        hashes as f64 / made.len() as f64,
        counting.lookups.get() as f64 / made.len() as f64
    );

    // Checkpoints: the root at the projection's head from stored nodes, the commitment line,
    // then the Ed25519 signature, as `orgledger checkpoint` and the server make them.
    let key = SigningKey::generate("bench.orgledger.example").expect("a signing key");
    let projection = ledger.projection();
    assert_eq!(projection.head().seq, head, "the projection has folded the head");
    let commitment = summary(
        (0..s.checkpoints)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(projection.commitment());
                t.elapsed()
            })
            .collect(),
    );
    let root = summary(
        (0..s.checkpoints)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(merkle::root(store, head).expect("the root"));
                t.elapsed()
            })
            .collect(),
    );
    let mut signing = Vec::new();
    let checkpoint = summary(
        (0..s.checkpoints)
            .map(|_| {
                let t = Instant::now();
                let cp = proofs::checkpoint_of(&projection, store, key.name()).expect("the checkpoint");
                let made = t.elapsed();
                let text = proofs::sign(&cp, &key).expect("the checkpoint signs");
                let elapsed = t.elapsed();
                signing.push(elapsed - made);
                std::hint::black_box(text);
                elapsed
            })
            .collect(),
    );
    let signing = summary(signing);
    let cp = proofs::checkpoint_of(&projection, store, key.name()).expect("the checkpoint");
    let text = proofs::sign(&cp, &key).expect("the checkpoint signs");
    proofs::open_checkpoint(&text, &key.verifier()).expect("the checkpoint opens");
    drop(projection);
    println!(
        "checkpoint   checkpoint_of + sign, {} times: {}    target < 10 ms  {}",
        s.checkpoints,
        line(&checkpoint),
        verdict(checkpoint.median < CHECKPOINT_TARGET)
    );
    println!(
        "             of which projection.commitment() alone: {}",
        line(&commitment)
    );
    println!("             of which merkle::root at the head alone: {}", line(&root));
    println!("             of which sign alone: {}", line(&signing));
    println!();
    // Closed before the append rounds, so its threads and cache do not share the cores.
    ledger.close();
    ProofFigures {
        head,
        inclusion,
        consistency,
        commitment,
        checkpoint,
    }
}

/// What one timed append phase did.
struct Phase {
    events: u64,
    groups: u64,
    elapsed: Duration,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// `submitters` tokio tasks, each appending one hamlet per request with `append_async` and
/// waiting for its acknowledgement, for `duration`; events and groups are read from the
/// ledger's head and group counter, so they count only what became durable.
fn append_phase(
    runtime: &tokio::runtime::Runtime,
    ledger: &Arc<Ledger>,
    tag: &str,
    submitters: usize,
    duration: Duration,
) -> Phase {
    let (head0, groups0) = (ledger.head().seq, ledger.groups_committed());
    let actor = id("bench");
    let commune = id(COMMUNE);
    let start = runtime.block_on(async {
        let start = Instant::now();
        let deadline = start + duration;
        let handles: Vec<_> = (0..submitters)
            .map(|s| {
                let (ledger, actor, commune, tag) = (ledger.clone(), actor.clone(), commune.clone(), tag.to_owned());
                tokio::spawn(async move {
                    let mut n = 0;
                    while Instant::now() < deadline {
                        ledger
                            .append_async(actor.clone(), vec![hamlet(&commune, &tag, s, n)], None)
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
    });
    Phase {
        events: ledger.head().seq - head0,
        groups: ledger.groups_committed() - groups0,
        elapsed: start.elapsed(),
    }
}

/// One mode on a fresh ledger: the example's events, an untimed warm-up, the timed phase.
fn measure_mode(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    name: &str,
    maintain_tree: bool,
    s: &Settings,
) -> (Phase, usize) {
    let dir = root.join(name);
    let ledger = Ledger::open(
        &dir,
        match maintain_tree {
            true => LedgerOptions::default(),
            false => LedgerOptions::default().without_tree(),
        },
    )
    .expect("a fresh ledger");
    let example: Vec<Submission> = EXAMPLE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Submission::from_json(l).expect("the example parses"))
        .collect();
    ledger.append(id("bench"), example, None).expect("the example is valid");
    let ledger = Arc::new(ledger);
    // So that sled has its files and caches warm before the figure.
    append_phase(runtime, &ledger, "w", s.submitters, Duration::from_millis(500));
    let phase = append_phase(runtime, &ledger, "p", s.submitters, s.phase);
    // The stored value size of the events, for the raw sled comparison below.
    let head = ledger.head().seq;
    let sample: Vec<usize> = (head.saturating_sub(999).max(1)..=head)
        .filter_map(|seq| ledger.store().raw_value(seq).expect("the log reads"))
        .map(|v| v.len())
        .collect();
    let value_len = sample.iter().sum::<usize>() / sample.len().max(1);
    if maintain_tree {
        assert_eq!(
            ledger.store().tree_size().expect("the tree size reads"),
            ledger.head().seq,
            "the append path kept the tree"
        );
    }
    Arc::try_unwrap(ledger)
        .ok()
        .expect("the benchmark holds the only handle")
        .close();
    // The next round's ledgers start from an empty directory tree again, not a growing disk.
    std::fs::remove_dir_all(&dir).ok();
    (phase, value_len)
}

struct AppendFigures {
    tree: Vec<f64>,
    plain: Vec<f64>,
    ratio: f64,
    /// The mean group size of the runs with the tree, and the mean stored value length.
    group: usize,
    value_len: usize,
}

fn median_f64(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Part 2: the append path with and without the tree, alternated; which mode goes first
/// changes each round, so drift on a shared machine falls on both alike.
fn measure_appends(s: &Settings) -> AppendFigures {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "appends      durable, {} tokio tasks x append_async of one event, fresh ledgers under {} ({} example events, then hamlets of {COMMUNE}), {:.0} s per phase",
        s.submitters,
        scratch.path().display(),
        EXAMPLE.lines().filter(|l| !l.trim().is_empty()).count(),
        s.phase.as_secs_f64()
    );
    let (mut tree, mut plain, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut events, mut groups, mut value_len) = (0, 0, 0);
    for round in 1..=s.rounds {
        let order = if round % 2 == 1 { [true, false] } else { [false, true] };
        let mut figures = [None, None];
        for maintain in order {
            let name = format!("r{round}-{}", if maintain { "tree" } else { "plain" });
            figures[usize::from(!maintain)] = Some(measure_mode(&runtime, scratch.path(), &name, maintain, s));
        }
        let [Some((t, len)), Some((p, _))] = figures else {
            unreachable!("both modes ran")
        };
        (events, groups, value_len) = (events + t.events, groups + t.groups, len);
        let ratio = t.rate() / p.rate();
        println!(
            "  round {round}: with tree {:>6.0} events/s ({} events, avg group {:.1}) | without {:>6.0} events/s ({} events, avg group {:.1}) | ratio {ratio:.3}",
            t.rate(),
            t.events,
            t.events as f64 / t.groups.max(1) as f64,
            p.rate(),
            p.events,
            p.events as f64 / p.groups.max(1) as f64
        );
        tree.push(t.rate());
        plain.push(p.rate());
        ratios.push(ratio);
    }
    let ratio = median_f64(&ratios);
    println!("  median ratio of the {} rounds: {ratio:.3}", ratios.len());
    println!();
    AppendFigures {
        tree,
        plain,
        ratio,
        group: (events / groups.max(1)).max(1) as usize,
        value_len,
    }
}

/// Where the append path's tree time goes: the tree hashing alone (`Frontier::push`), and
/// raw sled, batches of `group` event-sized values with one flush each, with and without
/// the entries the store adds for the tree (the nodes of levels `TILE_HEIGHT` and up, one
/// key region per level apart from the events', and the tree's size once per group),
/// alternated as above.
fn tree_cost(s: &Settings, group: usize, value_len: usize, rate: f64) {
    let mut frontier = merkle::Frontier::new();
    let leaves: Vec<Hash> = (0..1_000_000u64)
        .map(|i| Hash(*blake3::hash(&i.to_le_bytes()).as_bytes()))
        .collect();
    let t = Instant::now();
    let mut nodes = 0;
    for h in &leaves {
        nodes += frontier.push(h).len();
    }
    let hashing = t.elapsed();
    println!(
        "tree cost    Frontier::push: {:.0} ns per event ({:.2} nodes per event), i.e. {:.1}% of a core at the rate above",
        hashing.as_secs_f64() * 1e9 / leaves.len() as f64,
        nodes as f64 / leaves.len() as f64,
        hashing.as_secs_f64() / leaves.len() as f64 * rate * 100.0
    );
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let store = Store::open(scratch.path(), true).expect("a scratch store");
    let phase = s.phase / 2;
    let mut ratios = Vec::new();
    let mut rates = (Vec::new(), Vec::new());
    for round in 1..=s.rounds {
        let order = if round % 2 == 1 { [true, false] } else { [false, true] };
        for with_nodes in order {
            let tree = format!("raw-{round}-{with_nodes}");
            let mut frontier = merkle::Frontier::new();
            let (mut seq, mut items) = (0u64, Vec::with_capacity(group * 3));
            let start = Instant::now();
            while start.elapsed() < phase {
                items.clear();
                for _ in 0..group {
                    seq += 1;
                    let hash = Hash(*blake3::hash(&seq.to_le_bytes()).as_bytes());
                    let mut value = vec![(seq % 251) as u8; value_len];
                    value[..32].copy_from_slice(&hash.0);
                    items.push((seq, value));
                    if with_nodes {
                        // As the store keeps them: the nodes of the stored levels only.
                        for (level, index, node) in frontier.push(&hash) {
                            if level >= orgledger::store::TILE_HEIGHT {
                                items.push((1 << 63 | u64::from(level) << 48 | index, node.0.to_vec()));
                            }
                        }
                    }
                }
                if with_nodes {
                    // The tree's size, written with each group.
                    items.push((u64::MAX, seq.to_be_bytes().to_vec()));
                }
                store
                    .write_raw_batch(&tree, &items, true)
                    .expect("the scratch tree takes the batch");
            }
            let rate = seq as f64 / start.elapsed().as_secs_f64();
            store.drop_raw(&tree).expect("the scratch tree drops");
            if with_nodes {
                rates.0.push(rate);
            } else {
                rates.1.push(rate);
            }
        }
        ratios.push(rates.0[round - 1] / rates.1[round - 1]);
    }
    println!(
        "             raw sled, batches of {group} values of {value_len} B, one flush each, {:.0} s phases: with node entries {:.0} events/s, without {:.0} events/s, ratio {:.3} (median of {} rounds; rounds {})",
        phase.as_secs_f64(),
        median_f64(&rates.0),
        median_f64(&rates.1),
        median_f64(&ratios),
        ratios.len(),
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", ")
    );
    println!();
}

fn main() {
    let s = settings();
    let run = Instant::now();
    println!(
        "orgledger proofs benchmark (cargo bench --bench proofs): {} events, seed {SEED}; machine: {}",
        s.events,
        machine()
    );
    let p = measure_proofs(&s);
    let a = measure_appends(&s);
    tree_cost(&s, a.group, a.value_len, median_f64(&a.tree));

    println!("| Measure (issue 5, `cargo bench --bench proofs`) | Figure | Target | |");
    println!("|---|---|---|---|");
    println!(
        "| Inclusion proof, random seq, size = head ({} events), from the store | median {}, p99 {}, mean {} | median < 1 ms | {} |",
        p.head,
        us(p.inclusion.median),
        us(p.inclusion.p99),
        us(p.inclusion.mean),
        verdict(p.inclusion.median < PROOF_TARGET)
    );
    println!(
        "| Consistency proof, random from ≤ to ≤ head, from the store | median {}, p99 {}, mean {} | median < 1 ms | {} |",
        us(p.consistency.median),
        us(p.consistency.p99),
        us(p.consistency.mean),
        verdict(p.consistency.median < PROOF_TARGET)
    );
    println!(
        "| Checkpoint: `checkpoint_of` (live projection) + `sign` | median {}, p99 {}, mean {} | < 10 ms | {} |",
        ms(p.checkpoint.median),
        ms(p.checkpoint.p99),
        ms(p.checkpoint.mean),
        verdict(p.checkpoint.median < CHECKPOINT_TARGET)
    );
    println!(
        "| of which `projection.commitment()` | median {}, p99 {} | | |",
        ms(p.commitment.median),
        ms(p.commitment.p99)
    );
    println!(
        "| Durable appends, {} × `append_async`, with tree / without (median of {} rounds) | {:.0} / {:.0} events/s, ratio {:.3} | ≥ 0.9× | {} |",
        s.submitters,
        a.tree.len(),
        median_f64(&a.tree),
        median_f64(&a.plain),
        a.ratio,
        verdict(a.ratio >= APPEND_RATIO_TARGET)
    );
    println!();
    println!(
        "Machine: {}. Total run time {:.0} s.",
        machine(),
        run.elapsed().as_secs_f64()
    );
}
