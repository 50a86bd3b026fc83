//! The scale benchmark of issue 11: whether opening, answering and appending cost the same
//! at 10,000,000 events as at 100,000. Synthetic ledgers of each size (`orgledger generate
//! --events N`, run with the release binary, cached under `target/bench-ledger-N` with a
//! `.done` marker) are measured in one run, through the binary a person runs, each command in
//! a fresh process:
//!
//! - `append` of one event: on a fresh copy of the ledger (`cp -r` and a sync of its files,
//!   not timed) when the ledger is small enough for copies to be cheap, so the cached ledger
//!   never grows; and, at every size, refused by a stale `--expect-seq 0` on the ledger itself (it opens,
//!   then the writer refuses the stale position before it checks the event: nothing is
//!   appended). Wall time, and the child's peak resident set from `wait4`;
//! - `report coverage`, and `report coverage --seq S` at old `seq`s drawn by a seeded PRNG,
//!   so that runs ask the same questions;
//! - `serve --listen 127.0.0.1:0` from start to `listening on`, then the nine reports over
//!   GraphQL, then its resident set (`VmRSS`);
//! - in this process: the rebuild of the projection from the log (`Projection::fold` over
//!   `Store::records`) against a raw scan of the same log (`Store::raw_records`);
//! - the data directory on disk (sled's files and `caches/`) per byte of canonical records.
//!
//! It ends with a table of the ratios largest ÷ smallest size and the targets of the issue.
//! `cargo bench --bench scale -- --help` lists the knobs.

mod allocator;
mod common;
mod graphql_client;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{ensure_ledger, fail, machine, median, memory, number, raw_scan, replay, target_dir, Rng};
use graphql_client::{graphql_body, Connection};
use orgledger::store::Store;

const DEFAULT_SIZES: [u64; 3] = [100_000, 1_000_000, 10_000_000];
const DEFAULT_RUNS: usize = 3;
/// A ledger up to this size on disk gets a real append on a fresh copy; a larger one only
/// the refused append, since copying it would take longer than measuring everything else.
const DEFAULT_COPY_LIMIT_MIB: u64 = 2048;
/// The valid-time date every question is asked at: fixed, so that runs on another day ask
/// the same questions (the synthetic ledgers run from 1990 to 2024).
const DATE: &str = "2024-12-31";
/// The seed of the PRNG that draws the old `seq`s.
const QUESTION_SEED: u64 = 0x5ca1_e011;
/// The event the append benchmark submits: a new province, which names no other entity, so
/// it is valid on every synthetic ledger.
const APPEND_LINE: &str = r#"{"type":"LocalityRegistered","effective":"2024-12-31","locality":"tinh-do-dac","name":"Tỉnh Đo Đạc","kind":"province","border":false}"#;
/// The reader token the benchmark adds to each ledger it serves.
const TOKEN_NAME: &str = "scale-bench";
/// How long the server may take to say it listens, or the background verify to end.
const SERVER_PATIENCE: Duration = Duration::from_secs(900);

/// The targets of the issue.
const RATIO_TARGET: f64 = 1.5;
const SERVER_RSS_TARGET: u64 = 512 << 20;
const REBUILD_TARGET: f64 = 0.3;
const DISK_TARGET: f64 = 2.0;

/// The nine reports, asked of the server as of [`DATE`], each with the fields a client of
/// the README asks for. The ids exist in every synthetic ledger: the first commune's
/// committee, the first member, the 2012 standardization programme and the 2020 term.
const REPORTS: [(&str, &str); 9] = [
    (
        "coverage",
        r#"{ coverage(date: "2024-12-31") { date localities withMember withCell withoutMember { id name } withoutCell { id name } temporaryOnly communes { name localities withCell } } }"#,
    ),
    (
        "temporaryActivity",
        r#"{ temporaryActivity(date: "2024-12-31") { members fromBorderPosts hosts { host name members { member name homeOrgName fromBorderPost until } } years { year members fromBorderPosts hosts } } }"#,
    ),
    (
        "admissions",
        r#"{ admissions(fromYear: 1990, toYear: 2024, date: "2024-12-31") { years { year admitted female male kinAbroad } } }"#,
    ),
    (
        "standardization",
        r#"{ standardization(programme: "da-chuan-hoa-2012", date: "2015-12-31") { belowStandardAtStart belowStandard standardized retiredUnderPolicy gapsOpen { education politicalTheory } } }"#,
    ),
    (
        "meetings",
        r#"{ meetings(year: 2013, date: "2024-12-31") { meetings ofWeakCells weakWithSupervisor weakCells { name meetings supervisorPresent } } }"#,
    ),
    (
        "resolutions",
        r#"{ resolutions(date: "2024-12-31") { total byTopic { ruralRoads landDonation publicWorks } } }"#,
    ),
    (
        "planning",
        r#"{ planning(term: "nk-2020-2025", date: "2024-12-31") { planned women young womenShare youngShare youngAgeLimit } }"#,
    ),
    (
        "roster",
        r#"{ roster(org: "du-00-00", date: "2024-12-31") { name members { member name status } temporary { member name homeOrg } } }"#,
    ),
    (
        "history",
        r#"{ history(entity: "dv-0000001", date: "2024-12-31") { entity kind events { seq type effective } } }"#,
    ),
];

const USAGE: &str = "\
cargo bench --bench scale [-- --sizes N,N,... --runs R --copy-limit-mib M]
  --sizes N,N,...     ledger sizes in events (default 100000,1000000,10000000); each is
                      generated once with the release binary into target/bench-ledger-N
  --runs R            how many times each command is timed; medians are printed (default 3)
  --copy-limit-mib M  a ledger of at most M MiB on disk gets a real append on a fresh copy
                      (cp -r); a larger one only the refused append (default 2048)

The binary run is the one cargo built, or the one ORGLEDGER_BENCH_BINARY names (another
build, to compare alternated runs of the same benchmark).";

/// What the run measures.
struct Settings {
    sizes: Vec<u64>,
    runs: usize,
    copy_limit: u64,
}

fn main() {
    let mut settings = Settings {
        sizes: DEFAULT_SIZES.to_vec(),
        runs: DEFAULT_RUNS,
        copy_limit: DEFAULT_COPY_LIMIT_MIB << 20,
    };
    let mut args = std::env::args().skip(1);
    let value = |flag: &str, args: &mut dyn Iterator<Item = String>| {
        args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo passes `--bench` to every benchmark binary.
            "--bench" => {}
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            // The child that writes a ledger for `common::ensure_ledger`: the release
            // binary's own `generate`, in place of this process.
            "--generate-into" => {
                let dir = value("--generate-into", &mut args);
                let events = value("--generate-into", &mut args);
                let error = std::os::unix::process::CommandExt::exec(
                    Command::new(common::binary()).args(["--data", &dir, "generate", "--events", &events]),
                );
                fail(&format!("{}: {error}", common::binary()));
            }
            "--sizes" => {
                settings.sizes = value("--sizes", &mut args).split(',').map(number).collect();
            }
            "--runs" => settings.runs = number(&value("--runs", &mut args)),
            "--copy-limit-mib" => settings.copy_limit = number::<u64>(&value("--copy-limit-mib", &mut args)) << 20,
            other => fail(&format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if settings.sizes.is_empty() || settings.sizes.contains(&0) || settings.runs == 0 {
        fail("--sizes needs sizes of at least 1 event and --runs at least 1");
    }
    settings.sizes.sort_unstable();
    settings.sizes.dedup();
    run(&settings);
}

fn run(settings: &Settings) {
    let started = Instant::now();
    println!(
        "orgledger scale benchmark (cargo bench --bench scale): sizes {}; {} runs of each command; machine: {}",
        settings.sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        settings.runs,
        machine()
    );
    println!("binary       {}", common::binary());
    println!(
        "questions    `report coverage --date {DATE}`; old seqs from a PRNG seeded {QUESTION_SEED:#x}; medians of {} runs",
        settings.runs
    );
    let measured: Vec<Figures> = settings.sizes.iter().map(|&size| measure(size, settings)).collect();
    summary(&measured);
    println!("\ntotal run time {:.0} s", started.elapsed().as_secs_f64());
}

/// Everything measured at one size.
struct Figures {
    events: u64,
    /// The real append on a fresh copy, when the ledger was small enough to copy.
    append: Option<Timed>,
    /// The append refused by `--expect-seq 0`, on the ledger itself.
    refused: Timed,
    report: Timed,
    old_seq: Timed,
    server_start: Duration,
    /// The server's resident set after the nine reports (median of the runs).
    server_rss: u64,
    rebuild_ratio: f64,
    disk_ratio: f64,
}

/// A command timed over the runs: the median wall time and the largest peak resident set.
struct Timed {
    wall: Duration,
    peak_rss: u64,
}

fn measure(events: u64, settings: &Settings) -> Figures {
    println!("\n== {events} events");
    let dir = ensure_ledger(events);
    let runs = settings.runs;
    let size = disk_usage(&dir);

    // Appends.
    let append = (size.total <= settings.copy_limit).then(|| {
        let copy = target_dir().join(format!("bench-ledger-{events}.append-copy"));
        let mut copying = Vec::new();
        let ran: Vec<Ran> = (0..runs)
            .map(|_| {
                remove_dir(&copy);
                let started = Instant::now();
                let status = Command::new("cp").arg("-r").arg(&dir).arg(&copy).status();
                if !matches!(status, Ok(s) if s.success()) {
                    fail(&format!("cp -r {} {}: {status:?}", dir.display(), copy.display()));
                }
                // The copy's pages are dirty until written back; unsynced, the append's own
                // sync of sled's file would write the whole copy and time the copy, not the
                // append.
                sync_files(&copy);
                copying.push(started.elapsed());
                let ran = orgledger(&copy, &["append"], Some(APPEND_LINE));
                if ran.code != 0 || !says_seq(&ran.stdout, events + 1) {
                    fail(&format!("the append on the copy: exit {}: {}{}", ran.code, ran.stdout, ran.stderr));
                }
                ran
            })
            .collect();
        remove_dir(&copy);
        let timed = timed(&ran);
        println!(
            "append       real, of one event on a fresh copy (cp -r of {} MiB and a sync, {}, not timed): median {} (runs {}), peak RSS {}",
            mib(size.total),
            ms(median(copying)),
            ms(timed.wall),
            walls(&ran),
            mib_text(timed.peak_rss)
        );
        timed
    });
    if append.is_none() {
        println!(
            "append       real: not measured, the ledger ({} MiB) is larger than --copy-limit-mib {}",
            mib(size.total),
            settings.copy_limit >> 20
        );
    }
    let ran: Vec<Ran> = (0..runs)
        .map(|_| {
            let ran = orgledger(&dir, &["append", "--expect-seq", "0"], Some(APPEND_LINE));
            if ran.code != 1 || !ran.stderr.contains("conflict") {
                fail(&format!(
                    "the refused append: exit {}: {}{}",
                    ran.code, ran.stdout, ran.stderr
                ));
            }
            ran
        })
        .collect();
    let refused = timed(&ran);
    println!(
        "append       refused by --expect-seq 0 (opens, refuses the stale position before checking the event), on the ledger: median {} (runs {}), peak RSS {}",
        ms(refused.wall),
        walls(&ran),
        mib_text(refused.peak_rss)
    );

    // Questions in a fresh process.
    let ran: Vec<Ran> = (0..runs)
        .map(|_| {
            let ran = orgledger(&dir, &["report", "coverage", "--date", DATE], None);
            if ran.code != 0 || !says_seq(&ran.stdout, events) {
                fail(&format!("report coverage: exit {}: {}", ran.code, ran.stderr));
            }
            ran
        })
        .collect();
    let report = timed(&ran);
    println!(
        "report       coverage at the head, fresh process: median {} (runs {}), peak RSS {}",
        ms(report.wall),
        walls(&ran),
        mib_text(report.peak_rss)
    );
    let mut rng = Rng(QUESTION_SEED ^ events);
    let seqs: Vec<u64> = (0..runs).map(|_| 1 + rng.below(events)).collect();
    let ran: Vec<Ran> = seqs
        .iter()
        .map(|&seq| {
            let ran = orgledger(
                &dir,
                &["report", "coverage", "--date", DATE, "--seq", &seq.to_string()],
                None,
            );
            if ran.code != 0 || !says_seq(&ran.stdout, seq) {
                fail(&format!(
                    "report coverage --seq {seq}: exit {}: {}",
                    ran.code, ran.stderr
                ));
            }
            ran
        })
        .collect();
    let old_seq = timed(&ran);
    println!(
        "old seq      coverage --seq S, fresh process: median {} (seq {}), peak RSS {}",
        ms(old_seq.wall),
        seqs.iter()
            .zip(&ran)
            .map(|(s, r)| format!("{s}: {}", ms(r.wall)))
            .collect::<Vec<_>>()
            .join(", seq "),
        mib_text(old_seq.peak_rss)
    );

    // The server, on the ledger itself: it appends nothing.
    let token = reader_token(&dir);
    let served: Vec<Served> = (0..runs).map(|_| serve(&dir, &token)).collect();
    let server_start = median(served.iter().map(|s| s.ready).collect());
    let mut rss: Vec<u64> = served.iter().map(|s| s.rss_after_reports).collect();
    rss.sort_unstable();
    let server_rss = rss[rss.len() / 2];
    println!(
        "server       start to `listening on`: median {} (runs {}); RSS after the nine reports: median {} (runs {}), peak {}",
        ms(server_start),
        served.iter().map(|s| ms(s.ready)).collect::<Vec<_>>().join(", "),
        mib_text(server_rss),
        served.iter().map(|s| mib_text(s.rss_after_reports)).collect::<Vec<_>>().join(", "),
        mib_text(served.iter().map(|s| s.peak).max().unwrap_or(0))
    );
    println!(
        "             the nine reports took {} (first run: {}); the background verify of the whole chain ended {} after start",
        served.iter().map(|s| ms(s.reports)).collect::<Vec<_>>().join(", "),
        served[0].each.iter().map(|(name, d)| format!("{name} {}", ms(*d))).collect::<Vec<_>>().join(", "),
        served.iter().map(|s| s.verified.map_or("not seen".into(), secs)).collect::<Vec<_>>().join(", ")
    );

    // Where a cold answer's time goes, in this process: the parts of what `report` does
    // before it answers, and the rules state stored in the log tree, which the writer reads
    // an entity at a time.
    let started = Instant::now();
    let store = Store::open(&dir, false).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    let opened = started.elapsed();
    let snapshots = store.snapshot_seqs().unwrap_or_default();
    let started = Instant::now();
    let (latest, _) = store.latest_snapshot().unwrap_or_else(|e| fail(&e.to_string()));
    let decoded = started.elapsed();
    let mut projection = latest.unwrap_or_default();
    let from = projection.head().seq;
    let started = Instant::now();
    for record in store.records(from + 1) {
        projection.fold_unsettled(&record.unwrap_or_else(|e| fail(&e.to_string())));
    }
    projection.settle();
    let folded = started.elapsed();
    drop(projection);
    let rules_head = store.rules_head().unwrap_or_else(|e| fail(&e.to_string()));
    let (rules_entries, rules_bytes) = store.rules_size().unwrap_or_else(|e| fail(&e.to_string()));
    println!(
        "open         in this process: Store::open {}; the latest snapshot (seq {from}) decoded in {}; the {} records after it folded in {}; the stored rules state ({}): {rules_entries} entries, {:.1} MiB",
        ms(opened),
        ms(decoded),
        events - from,
        ms(folded),
        rules_head.map_or("absent".to_owned(), |head| format!("at seq {}", head.seq)),
        rules_bytes as f64 / 1048576.0
    );

    // Rebuild against a raw scan, in this process, and the record bytes.
    // The first scan also brings the log into sled's cache, so that both the rebuild and the
    // second scan read from memory.
    let (records, stored_bytes, first) = raw_scan(&store);
    if records != events {
        fail(&format!("the ledger holds {records} records, not {events}"));
    }
    let started = Instant::now();
    drop(std::hint::black_box(replay(&store, events)));
    let rebuild = started.elapsed();
    let (_, _, second) = raw_scan(&store);
    let raw = first.min(second);
    drop(store);
    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    let rebuild_ratio = rate(rebuild) / rate(raw);
    println!(
        "rebuild      {records} events folded in {}: {:.0} events/s; raw scan {:.0} records/s (best of {}, {}): {rebuild_ratio:.3}x the raw scan",
        secs(rebuild),
        rate(rebuild),
        rate(raw),
        ms(first),
        ms(second)
    );

    // Disk.
    let size = disk_usage(&dir);
    // Each stored value is the record's 32-byte hash, then its canonical bytes.
    let record_bytes = stored_bytes - 32 * records;
    let disk_ratio = size.total as f64 / record_bytes as f64;
    println!(
        "disk         {} MiB ({} B/event): sled {} MiB, caches/ {} MiB, other files {} KiB; canonical records {} MiB ({} B/event): {disk_ratio:.2}x the record bytes ({:.2}x without caches/)",
        mib(size.total),
        size.total / records,
        mib(size.sled),
        mib(size.caches),
        (size.total - size.sled - size.caches) >> 10,
        mib(record_bytes),
        record_bytes / records,
        (size.total - size.caches) as f64 / record_bytes as f64
    );
    println!(
        "caches       projection snapshots at seq {} (the latest is {} events behind the head)",
        snapshots.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        events - snapshots.last().copied().unwrap_or(0)
    );
    std::io::stdout().flush().ok();
    Figures {
        events,
        append,
        refused,
        report,
        old_seq,
        server_start,
        server_rss,
        rebuild_ratio,
        disk_ratio,
    }
}

/// The final table: each figure at each size, the ratio largest ÷ smallest, and the target.
fn summary(measured: &[Figures]) {
    let (small, large) = (&measured[0], &measured[measured.len() - 1]);
    let sizes: Vec<String> = measured.iter().map(|f| f.events.to_string()).collect();
    println!(
        "\nsummary: the {} figure ÷ the {} figure, in one run",
        large.events, small.events
    );
    println!(
        "| figure | {} | {} ÷ {} | target | |",
        sizes.join(" | "),
        large.events,
        small.events
    );
    println!("|---|{}---|---|---|", "---|".repeat(measured.len()));
    let row = |name: &str, cells: Vec<String>, ratio: Option<f64>| {
        let (ratio, verdict) = match ratio {
            Some(r) if measured.len() > 1 => (format!("{r:.2}"), met(r <= RATIO_TARGET)),
            _ => ("–".to_owned(), "–"),
        };
        println!(
            "| {name} | {} | {ratio} | ≤ {RATIO_TARGET} | {verdict} |",
            cells.join(" | ")
        );
    };
    let ratio = |f: &dyn Fn(&Figures) -> Option<Duration>| Some(f(large)?.as_secs_f64() / f(small)?.as_secs_f64());
    row(
        "CLI append of one event, on a fresh copy",
        measured
            .iter()
            .map(|f| f.append.as_ref().map_or("–".into(), |t| ms(t.wall)))
            .collect(),
        ratio(&|f| f.append.as_ref().map(|t| t.wall)),
    );
    row(
        "CLI append refused by `--expect-seq 0`",
        measured.iter().map(|f| ms(f.refused.wall)).collect(),
        ratio(&|f| Some(f.refused.wall)),
    );
    row(
        "cold `report coverage`",
        measured.iter().map(|f| ms(f.report.wall)).collect(),
        ratio(&|f| Some(f.report.wall)),
    );
    row(
        "cold `report coverage --seq` (old seq)",
        measured.iter().map(|f| ms(f.old_seq.wall)).collect(),
        ratio(&|f| Some(f.old_seq.wall)),
    );
    row(
        "server start to ready",
        measured.iter().map(|f| ms(f.server_start)).collect(),
        ratio(&|f| Some(f.server_start)),
    );
    let cells = |f: &dyn Fn(&Figures) -> String| measured.iter().map(f).collect::<Vec<_>>().join(" | ");
    println!(
        "| peak RSS: append on a copy / refused / cold report / old seq | {} | | | |",
        cells(&|f| format!(
            "{} / {} / {} / {}",
            f.append.as_ref().map_or("–".into(), |t| mib_text(t.peak_rss)),
            mib_text(f.refused.peak_rss),
            mib_text(f.report.peak_rss),
            mib_text(f.old_seq.peak_rss)
        ))
    );
    println!(
        "| server RSS after the nine reports | {} | | < 512 MiB at {} | {} |",
        cells(&|f| mib_text(f.server_rss)),
        large.events,
        met(large.server_rss < SERVER_RSS_TARGET)
    );
    println!(
        "| rebuild ÷ raw scan | {} | | ≥ {REBUILD_TARGET}x | {} |",
        cells(&|f| format!("{:.3}x", f.rebuild_ratio)),
        met(measured.iter().all(|f| f.rebuild_ratio >= REBUILD_TARGET))
    );
    println!(
        "| disk ÷ canonical record bytes (caches/ included) | {} | | ≤ {DISK_TARGET}x | {} |",
        cells(&|f| format!("{:.2}x", f.disk_ratio)),
        met(measured.iter().all(|f| f.disk_ratio <= DISK_TARGET))
    );
}

/// Whether a command's JSON output (compact or pretty) names `seq` as its `"seq"`.
fn says_seq(output: &str, seq: u64) -> bool {
    output.contains(&format!("\"seq\":{seq}")) || output.contains(&format!("\"seq\": {seq}"))
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "missed"
    }
}

/// One finished child process.
struct Ran {
    wall: Duration,
    /// Its peak resident set, from `wait4` (the child's own, not its children's).
    peak_rss: u64,
    code: i32,
    stdout: String,
    stderr: String,
}

fn timed(ran: &[Ran]) -> Timed {
    Timed {
        wall: median(ran.iter().map(|r| r.wall).collect()),
        peak_rss: ran.iter().map(|r| r.peak_rss).max().unwrap_or(0),
    }
}

/// Runs the release binary on the ledger in `dir`, timed from spawn to exit.
// The child is reaped by `wait` (wait4), which clippy does not know for a wait.
#[allow(clippy::zombie_processes)]
fn orgledger(dir: &Path, args: &[&str], stdin: Option<&str>) -> Ran {
    let mut command = Command::new(common::binary());
    command
        .arg("--data")
        .arg(dir)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| fail(&format!("{}: {e}", common::binary())));
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input
            .write_all(format!("{text}\n").as_bytes())
            .unwrap_or_else(|e| fail(&format!("writing to the child: {e}")));
    }
    // Read both pipes while the child runs: a report larger than a pipe's buffer would
    // otherwise block it.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let (code, peak_rss) = wait(&child);
    let wall = started.elapsed();
    Ran {
        wall,
        peak_rss,
        code,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Waits for `child` with `wait4`, which gives its exit code and its own peak resident set
/// (`ru_maxrss`, in KiB on Linux), which std's `Child::wait` does not.
fn wait(child: &Child) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: `rusage` is plain data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: the pid is our own unreaped child, and both pointers are to live locals.
        let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
        if pid == child.id() as libc::pid_t {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            fail(&format!("wait4: {error}"));
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss.max(0) as u64 * 1024)
}

/// A reader token for the ledger in `dir`, made anew (a token's secret is shown only when
/// it is added).
fn reader_token(dir: &Path) -> String {
    orgledger(dir, &["token", "revoke", TOKEN_NAME], None);
    let ran = orgledger(dir, &["token", "add", "--name", TOKEN_NAME, "--role", "reader"], None);
    if ran.code != 0 {
        fail(&format!("token add: {}", ran.stderr));
    }
    ran.stdout.trim().to_owned()
}

/// One start of the server.
struct Served {
    /// From spawn to the line `listening on`.
    ready: Duration,
    /// The nine reports, asked one after the other, in all; and each.
    reports: Duration,
    each: Vec<(&'static str, Duration)>,
    rss_after_reports: u64,
    /// The peak resident set once the background verify ended (or the wait for it did).
    peak: u64,
    /// When the server logged the end of its background verify, after start.
    verified: Option<Duration>,
}

/// What the server's output says, as it says it.
enum Said {
    Listening(SocketAddr),
    Verified,
    Ended,
}

// The child is reaped by `stop` (SIGTERM, then wait4), which clippy does not know for a wait.
#[allow(clippy::zombie_processes)]
fn serve(dir: &Path, token: &str) -> Served {
    let started = Instant::now();
    let mut child = Command::new(common::binary())
        .arg("--data")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("{} serve: {e}", common::binary())));
    let (tx, rx) = mpsc::channel();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let watch = |pipe: Box<dyn Read + Send>,
                 tx: mpsc::Sender<(Said, Instant)>,
                 log: std::sync::Arc<std::sync::Mutex<String>>| {
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.split("listening on http://").nth(1) {
                    let addr = url.trim_end_matches("/graphql").trim().parse();
                    if let Ok(addr) = addr {
                        let _ = tx.send((Said::Listening(addr), Instant::now()));
                    }
                }
                if line.contains("verified the chain of") {
                    let _ = tx.send((Said::Verified, Instant::now()));
                }
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
            let _ = tx.send((Said::Ended, Instant::now()));
        })
    };
    let readers = [
        watch(Box::new(out.expect("piped")), tx.clone(), log.clone()),
        watch(Box::new(err.expect("piped")), tx, log.clone()),
    ];
    let said_by_then = || log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut verified = None;
    let (addr, ready) = loop {
        match rx.recv_timeout(SERVER_PATIENCE) {
            Ok((Said::Listening(addr), at)) => break (addr, at - started),
            Ok((Said::Verified, at)) => verified = Some(at - started),
            Ok((Said::Ended, _)) | Err(_) => {
                stop(&child);
                fail(&format!("the server did not say it listens:\n{}", said_by_then()));
            }
        }
    };
    let (reports, each) = match ask_reports(addr, token) {
        Ok(answers) => answers,
        Err(e) => {
            stop(&child);
            fail(&format!("{e}\n{}", said_by_then()));
        }
    };
    let rss_after_reports = memory(&child.id().to_string()).rss;
    let deadline = Instant::now() + SERVER_PATIENCE;
    while verified.is_none() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((Said::Verified, at)) => verified = Some(at - started),
            Ok((Said::Listening(_), _)) => {}
            Ok((Said::Ended, _)) | Err(_) => break,
        }
    }
    let peak = memory(&child.id().to_string()).peak;
    let code = stop(&child);
    for reader in readers {
        let _ = reader.join();
    }
    if code != 0 {
        fail(&format!(
            "the server exited with {code} on SIGTERM:\n{}",
            said_by_then()
        ));
    }
    Served {
        ready,
        reports,
        each,
        rss_after_reports,
        peak,
        verified,
    }
}

/// Stops the server with SIGTERM, as a person would, and returns its exit code.
fn stop(child: &Child) -> i32 {
    // SAFETY: kill(2) on our own child, which has not been reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    wait(child).0
}

/// The time the nine reports took, in all and each.
type Answered = (Duration, Vec<(&'static str, Duration)>);

/// Asks the nine reports over one connection, one after the other; each answer must have
/// data and no errors.
fn ask_reports(addr: SocketAddr, token: &str) -> Result<Answered, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a runtime for the client: {e}"))?;
    runtime.block_on(async {
        let mut connection = Connection::open(addr, token).await?;
        let started = Instant::now();
        let mut each = Vec::new();
        for (name, query) in REPORTS {
            let asked = Instant::now();
            let (status, body) = connection.post(graphql_body(query)).await?;
            let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if !status.is_success() || answer.get("errors").is_some() || answer["data"][name].is_null() {
                return Err(format!("{name}: {status}: {}", String::from_utf8_lossy(&body)));
            }
            each.push((name, asked.elapsed()));
        }
        Ok((started.elapsed(), each))
    })
}

/// A data directory's bytes on disk (as `du` counts them: allocated blocks), in all and in
/// parts.
struct DiskUsage {
    total: u64,
    /// sled's own files: `db`, `conf`, `blobs/`, `snap.*`.
    sled: u64,
    /// `caches/`: projection snapshots and the closed-head mark.
    caches: u64,
}

fn disk_usage(dir: &Path) -> DiskUsage {
    fn walk(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return 0;
        };
        let own = meta.blocks() * 512;
        if !meta.is_dir() {
            return own;
        }
        let entries = std::fs::read_dir(path).map(|e| e.flatten().map(|e| e.path()).collect::<Vec<PathBuf>>());
        own + entries.unwrap_or_default().iter().map(|p| walk(p)).sum::<u64>()
    }
    let total = walk(dir);
    let caches = walk(&dir.join(orgledger::ledger::caches::SNAPSHOT_DIR));
    let sled = ["db", "conf", "blobs"].iter().map(|f| walk(&dir.join(f))).sum::<u64>()
        + std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("snap."))
                    .map(|e| walk(&e.path()))
                    .sum::<u64>()
            })
            .unwrap_or(0);
    DiskUsage { total, sled, caches }
}

/// Syncs every file under `dir` to the disk.
fn sync_files(dir: &Path) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sync_files(&path);
        } else {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        }
    }
}

fn remove_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => fail(&format!("{}: {e}", dir.display())),
        _ => {}
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn walls(ran: &[Ran]) -> String {
    ran.iter().map(|r| ms(r.wall)).collect::<Vec<_>>().join(", ")
}

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

fn mib_text(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}
