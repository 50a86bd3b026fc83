//! What the benchmarks share: reading numbers from the command line, the machine's facts,
//! PASS/MISS, the benchmark PRNG, the hamlets appended as load, the cached synthetic
//! ledgers under target/ that benches/projection.rs, benches/proofs.rs and benches/scale.rs
//! read (any of them may generate one for the others), a process's memory, and the raw scan
//! and the full rebuild of a log's projection. Each benchmark uses part of it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use orgledger::event::{Date, Event, Id, LocalityKind, LocalityRegistered, Submission, Text};
use orgledger::projection::Projection;
use orgledger::store::Store;

/// Stops the benchmark with a message (exit 2, as a command that could not run).
pub fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

/// A number from the command line; `_` may group digits (`1_000_000`).
pub fn number<T: std::str::FromStr>(text: &str) -> T {
    text.replace('_', "")
        .parse()
        .unwrap_or_else(|_| fail(&format!("not a number: {text:?}")))
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// The cores available and the CPU's model name.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

/// The benchmarks' own PRNG (splitmix64), so that runs ask the same questions.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (((z ^ (z >> 31)) as u128 * n as u128) >> 64) as u64
    }
}

pub fn id(text: &str) -> Id {
    Id::parse(text).expect("benchmark ids are valid")
}

/// A hamlet of `commune`, effective 2005-01-01, with an id no other submitter or phase
/// uses: the load the append benchmarks submit.
pub fn hamlet(commune: &Id, tag: &str, submitter: usize, n: u64) -> Submission {
    Submission::new(
        Date::from_ymd(2005, 1, 1).expect("a real date"),
        Event::LocalityRegistered(LocalityRegistered {
            locality: id(&format!("{tag}-{submitter}-{n}")),
            name: Text::parse(&format!("Xóm Nà Đoỏng {submitter}-{n}")).expect("benchmark names are valid"),
            kind: LocalityKind::Hamlet,
            parent: Some(commune.clone()),
            border: false,
        }),
    )
}

/// The `orgledger` binary a benchmark runs: the one cargo built for it, or the one named by
/// `ORGLEDGER_BENCH_BINARY`, to measure another build (an earlier commit's, say) with the
/// same benchmark, alternated with this one. Copying another binary over cargo's does not
/// do: `cargo bench` puts its own back before the benchmark starts.
pub fn binary() -> &'static str {
    static BINARY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        std::env::var("ORGLEDGER_BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_orgledger").to_owned())
    });
    &BINARY
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The ledger of `events` events under target/, generated when missing by running the
/// current benchmark with `--generate-into DIR N` in a child process (each benchmark
/// handles that argument); a ledger whose generation did not finish is thrown away and made
/// again. Prints which it was, and the generation's time.
pub fn ensure_ledger(events: u64) -> PathBuf {
    let dir = target_dir().join(format!("bench-ledger-{events}"));
    let done = target_dir().join(format!("bench-ledger-{events}.done"));
    if done.exists() && dir.exists() {
        println!("ledger       {} (reused)", dir.display());
        return dir;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    }
    let started = Instant::now();
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
    let out = Command::new(exe)
        .arg("--generate-into")
        .arg(&dir)
        .arg(events.to_string())
        .output()
        .unwrap_or_else(|e| fail(&format!("the generator did not start: {e}")));
    if !out.status.success() {
        fail(&format!(
            "the generator failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let elapsed = started.elapsed();
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    std::fs::write(&done, &printed).unwrap_or_else(|e| fail(&format!("{}: {e}", done.display())));
    println!(
        "generate     {events} events in {:.1} s ({:.0} events/s through Ledger::append): {printed}",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    dir
}

/// A process's resident set and its peak, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss: u64,
    pub peak: u64,
}

/// The resident set (`VmRSS`) and its peak (`VmHWM`) of a process, from
/// `/proc/PROCESS/status`: `process` is `"self"` or a pid. Zero when it cannot be read.
pub fn memory(process: &str) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Memory {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
    }
}

/// Reads every stored record without parsing it, touching each value; returns how many
/// records and bytes (stored values: the hash and the canonical bytes) it saw.
pub fn raw_scan(store: &Store) -> (u64, u64, Duration) {
    let started = Instant::now();
    let (mut records, mut bytes, mut touched) = (0u64, 0u64, 0u64);
    for item in store.raw_records(1) {
        let record = item.expect("the log reads");
        let canonical = record.canonical();
        records += 1;
        bytes += 32 + canonical.len() as u64;
        touched = touched.wrapping_add(*canonical.last().unwrap_or(&0) as u64);
    }
    std::hint::black_box(touched);
    (records, bytes, started.elapsed())
}

/// Folds the log into a new projection, up to `until` (inclusive), as a ledger rebuilds
/// its projection: the records read on every core, folded in order, the commitment
/// settled at the end.
pub fn replay(store: &Store, until: u64) -> Projection {
    let mut projection = Projection::new();
    store
        .for_each_record(1, until, |record| {
            projection.fold_unsettled(&record);
            Ok(())
        })
        .expect("the log reads");
    projection.settle();
    projection
}

pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}
