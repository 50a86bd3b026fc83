//! The follower benchmark of issue 12: how fast `orgledger follow` copies a leader's log
//! and how far behind it stays, through the binaries a person runs, on loopback. From one
//! run, printed together:
//!
//! - **catch-up**: a synthetic ledger (`orgledger generate --events N`, cached under
//!   `target/bench-ledger-N` as benches/scale.rs caches it) served by `orgledger serve`, and
//!   followed into an empty directory by `orgledger follow`, timed from the follower's
//!   spawn to its `{"checkpoint":N,…}` line; its store must then verify to the leader's head
//!   and root. Beside it, on the same ledger: the leader's own `orgledger verify` (the
//!   issue's yardstick, target: catch-up ≥ 0.5× its rate), `GET /export` of the whole log
//!   alone, `orgledger verify --file` and `orgledger import` of that export; and the
//!   follower's three steps each alone, in this process, on the export's records in groups
//!   of its size (reading the lines, the rules, the tree nodes and sled write with a flush
//!   per group), to show where a catch-up's time goes;
//! - **lag**: a copy of the same ledger served as a leader that takes appends at full speed
//!   (the GraphQL `append` mutation, one new hamlet per request, from several keep-alive
//!   connections, as benches/server.rs appends), while the follower of the catch-up,
//!   restarted with `--listen` and its default poll, serves `{ head { seq } }`. A poller asks
//!   the follower's head every few milliseconds; each appended `seq`'s lag is the time from
//!   the leader's answer to the first poll that saw the follower's head at or past it.
//!   p50, p99 and max (target: p99 < 1 s).
//!
//! Every child is killed when the benchmark ends, whichever way it ends.
//! `cargo bench --bench follower -- --help` lists the knobs.

mod allocator;
mod common;
mod graphql_client;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde_json::{json, Value};

use common::{ensure_ledger, machine, median, number, target_dir};
use graphql_client::{graphql_body, Connection};
use orgledger::event::Record;
use orgledger::merkle::Frontier;
use orgledger::rules::State;
use orgledger::store::Store;

/// The longest any one wait may take: only a hang reaches it, and it ends the run.
const PATIENCE: Duration = Duration::from_secs(600);
/// The targets of the issue.
const RATIO_TARGET: f64 = 0.5;
const LAG_TARGET: Duration = Duration::from_secs(1);
/// The valid time of the appended hamlets: within every synthetic ledger's years.
const EFFECTIVE: &str = "2024-12-31";

const USAGE: &str = "\
cargo bench --bench follower [-- --events N --runs R --lag-secs S --connections C --poll-ms P]
  --events N       the ledger's size (default 200000), generated once into target/bench-ledger-N
  --runs R         catch-ups from empty, and runs of verify, of GET /export, of verify --file and
                   of import; medians are printed (default 1; verify always 3)
  --lag-secs S     how long the leader takes appends for the lag (default 30)
  --connections C  concurrent GraphQL connections appending (default 16)
  --poll-ms P      how often the follower's head is asked, in ms (default 5)

The binary run is the one cargo built, or the one ORGLEDGER_BENCH_BINARY names (another
build, to compare alternated runs of the same benchmark).";

struct Settings {
    events: u64,
    runs: usize,
    lag: Duration,
    connections: usize,
    poll: Duration,
}

/// The children alive now, killed by [`abort`] and by the panic hook before the benchmark
/// ends: `std::process::exit` runs no destructor.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn kill_children() {
    let pids = std::mem::take(&mut *CHILDREN.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        // SAFETY: kill(2) on a child of ours that has not been reaped (reaped ones leave
        // the list first).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
}

/// Stops the benchmark with a message, killing its children first.
fn abort(message: &str) -> ! {
    kill_children();
    common::fail(message)
}

fn main() {
    let mut settings = Settings {
        events: 200_000,
        runs: 1,
        lag: Duration::from_secs(30),
        connections: 16,
        poll: Duration::from_millis(5),
    };
    let mut args = std::env::args().skip(1);
    let value = |flag: &str, args: &mut dyn Iterator<Item = String>| {
        args.next().unwrap_or_else(|| abort(&format!("{flag} needs a value")))
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
                let error = Command::new(common::binary())
                    .args(["--data", &dir, "generate", "--events", &events])
                    .exec();
                abort(&format!("{}: {error}", common::binary()));
            }
            "--events" => settings.events = number(&value("--events", &mut args)),
            "--runs" => settings.runs = number(&value("--runs", &mut args)),
            "--lag-secs" => settings.lag = Duration::from_secs_f64(number(&value("--lag-secs", &mut args))),
            "--connections" => settings.connections = number(&value("--connections", &mut args)),
            "--poll-ms" => settings.poll = Duration::from_millis(number(&value("--poll-ms", &mut args))),
            other => abort(&format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if settings.events == 0 || settings.runs == 0 || settings.connections == 0 {
        abort("--events, --runs and --connections need at least 1");
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_children();
        default_hook(info);
    }));
    run(&settings);
}

fn run(s: &Settings) {
    let started = Instant::now();
    println!(
        "orgledger follower benchmark (cargo bench --bench follower): {} events; {} run(s); machine: {}",
        s.events,
        s.runs,
        machine()
    );
    println!("binary       {}", common::binary());
    let ledger = ensure_ledger(s.events);
    let work = target_dir().join("bench-follower");
    remove_dir(&work);
    std::fs::create_dir_all(&work).unwrap_or_else(|e| abort(&format!("{}: {e}", work.display())));
    let key = work.join("leader.pub");
    std::fs::write(&key, output_of(&ledger, &["key", "public"]))
        .unwrap_or_else(|e| abort(&format!("{}: {e}", key.display())));
    let auditor = token(&ledger, "follower-bench", "auditor");

    let catch_up = catch_up(s, &ledger, &work, &key, &auditor);
    let lag = lag(s, &ledger, &work, &key, &auditor, &catch_up.follower);
    summary(s, &catch_up, &lag);
    remove_dir(&work);
    println!("\ntotal run time {:.0} s", started.elapsed().as_secs_f64());
}

/// The figures of the catch-up part.
struct CatchUp {
    verify: Duration,
    export: Duration,
    export_bytes: u64,
    verify_file: Duration,
    import: Duration,
    follow: Duration,
    parts: Parts,
    /// The follower's data directory after its last catch-up, followed on by the lag part.
    follower: PathBuf,
}

fn catch_up(s: &Settings, ledger: &Path, work: &Path, key: &Path, auditor: &str) -> CatchUp {
    let events = s.events;
    println!("\n== catch-up of {events} events from empty");

    // The leader's own verify, before it serves (sled locks the store).
    let mut verdict = None;
    let verifies: Vec<Duration> = (0..3)
        .map(|_| {
            let ran = orgledger(ledger, &["verify"]);
            if ran.code != 0 {
                abort(&format!("verify: exit {}: {}", ran.code, ran.stderr));
            }
            verdict = Some(chain_verdict(&ran.stdout));
            ran.wall
        })
        .collect();
    let verdict = verdict.expect("verify ran");
    if verdict.0 != events {
        abort(&format!("the ledger holds {} events, not {events}", verdict.0));
    }
    let verify = median(verifies.clone());
    println!(
        "verify       the leader's store: median {} (runs {}): {:.0} events/s; root {}",
        ms(verify),
        list(&verifies),
        rate(events, verify),
        verdict.2
    );

    let leader = Served::leader(ledger);
    leader.wait_verified();
    let export_file = work.join("export.jsonl");
    let exports: Vec<(Duration, u64)> = (0..s.runs)
        .map(|_| get_export(&leader, auditor, &export_file))
        .collect();
    let export_bytes = exports[0].1;
    let export = median(exports.iter().map(|e| e.0).collect());
    println!(
        "export       GET /export of the whole log ({} MiB), alone: median {} (runs {}): {:.0} events/s",
        export_bytes >> 20,
        ms(export),
        list(&exports.iter().map(|e| e.0).collect::<Vec<_>>()),
        rate(events, export)
    );

    let mut follows = Vec::new();
    let mut follower = work.join("follower");
    for run in 0..s.runs {
        follower = work.join(format!("follower-{run}"));
        let started = Instant::now();
        let child = Served::spawn(
            "follow",
            Command::new(common::binary())
                .args(["follow", &leader.url, "--token", auditor, "--key"])
                .arg(key)
                .arg("--data")
                .arg(&follower),
        );
        child.stdout_until(&format!("the checkpoint line of size {events}"), |line| {
            checkpoint_line(line)
                .filter(|(size, _)| *size == events)
                .map(|(_, root)| {
                    if root != verdict.2 {
                        abort(&format!(
                            "the follower verified root {root}, the leader's is {}",
                            verdict.2
                        ));
                    }
                })
        });
        follows.push(started.elapsed());
        child.stop();
    }
    let follow = median(follows.clone());
    leader.stop();
    println!(
        "follow       from empty to the checkpoint of {events}: median {} (runs {}): {:.0} events/s",
        secs(follow),
        list(&follows),
        rate(events, follow)
    );
    let copied = orgledger(&follower, &["verify"]);
    if copied.code != 0 || chain_verdict(&copied.stdout) != verdict {
        abort(&format!(
            "the follower's store does not verify to the leader's head: {}{}",
            copied.stdout, copied.stderr
        ));
    }
    println!("             the follower's own verify: the leader's events, head and root");

    let file = export_file.to_str().unwrap_or_else(|| abort("a non-UTF-8 path"));
    let verify_files: Vec<Duration> = (0..s.runs)
        .map(|_| {
            let ran = run_binary(&["verify", "--file", file]);
            if ran.code != 0 || chain_verdict(&ran.stdout) != verdict {
                abort(&format!(
                    "verify --file: exit {}: {}{}",
                    ran.code, ran.stdout, ran.stderr
                ));
            }
            ran.wall
        })
        .collect();
    let verify_file = median(verify_files.clone());
    println!(
        "verify-file  verify --file of the export: median {} (runs {}): {:.0} events/s",
        secs(verify_file),
        list(&verify_files),
        rate(events, verify_file)
    );
    let imports: Vec<Duration> = (0..s.runs)
        .map(|run| {
            let into = work.join(format!("import-{run}"));
            let ran = orgledger(&into, &["import", file]);
            if ran.code != 0 {
                abort(&format!("import: exit {}: {}{}", ran.code, ran.stdout, ran.stderr));
            }
            remove_dir(&into);
            ran.wall
        })
        .collect();
    let import = median(imports.clone());
    println!(
        "import       import of the export into an empty store: median {} (runs {}): {:.0} events/s",
        secs(import),
        list(&imports),
        rate(events, import)
    );
    let parts = parts(&export_file, work);
    std::io::stdout().flush().ok();
    CatchUp {
        verify,
        export,
        export_bytes,
        verify_file,
        import,
        follow,
        parts,
        follower,
    }
}

/// Where a copy's work goes: the follower's three steps, each alone, in this process, one
/// after the other on the export's records in groups of the follower's size.
struct Parts {
    /// `Record::from_export_line` of each line: the follower's reading of the export.
    parse: Duration,
    /// `State::submit` of each record: the writer's rules.
    rules: Duration,
    /// The Merkle nodes, `Store::insert_group_with` and `Store::flush` of each group into
    /// an empty store: the writer's write.
    write: Duration,
}

/// The follower's default group (`follow --batch`).
const GROUP: usize = 4096;

fn parts(export_file: &Path, work: &Path) -> Parts {
    let text = std::fs::read(export_file).unwrap_or_else(|e| abort(&format!("{}: {e}", export_file.display())));
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let dir = work.join("parts");
    let store = Store::open(&dir, true).unwrap_or_else(|e| abort(&format!("{}: {e}", dir.display())));
    let mut state = State::new();
    let mut frontier = Frontier::new();
    let mut parts = Parts {
        parse: Duration::ZERO,
        rules: Duration::ZERO,
        write: Duration::ZERO,
    };
    let mut nodes = Vec::new();
    for group in lines.chunks(GROUP) {
        let started = Instant::now();
        let records: Vec<Record> = group
            .iter()
            .map(|line| {
                let line = std::str::from_utf8(line).unwrap_or_else(|_| abort("a line that is not UTF-8"));
                Record::from_export_line(line).unwrap_or_else(|e| abort(&format!("an export line: {e}")))
            })
            .collect();
        parts.parse += started.elapsed();
        let started = Instant::now();
        for r in &records {
            if let Err(v) = state.submit(r.submission(), r.recorded_at().date()) {
                abort(&format!("record {} breaks {v}", r.seq()));
            }
        }
        parts.rules += started.elapsed();
        let started = Instant::now();
        nodes.clear();
        for r in &records {
            frontier.push_into(&r.hash(), &mut nodes);
        }
        store
            .insert_group_with(&records, Some(&nodes), &[])
            .and_then(|_| store.flush())
            .unwrap_or_else(|e| abort(&format!("writing a group: {e}")));
        parts.write += started.elapsed();
    }
    drop(store);
    remove_dir(&dir);
    let events = lines.len() as u64;
    println!(
        "parts        alone, in this process, in groups of {GROUP}: reading the lines {} ({:.0}/s), the rules {} ({:.0}/s), tree nodes and sled write with a flush per group {} ({:.0}/s)",
        secs(parts.parse),
        rate(events, parts.parse),
        secs(parts.rules),
        rate(events, parts.rules),
        secs(parts.write),
        rate(events, parts.write)
    );
    parts
}

/// The figures of the lag part.
struct Lag {
    appended: u64,
    took: Duration,
    /// Each appended event's lag, sorted.
    lags: Vec<Duration>,
    /// Appends whose event the follower held before the leader's answer arrived.
    early: usize,
    polls: u64,
}

fn lag(s: &Settings, ledger: &Path, work: &Path, key: &Path, auditor: &str, follower: &Path) -> Lag {
    println!(
        "\n== lag behind a leader taking appends for {} s ({} GraphQL connections)",
        s.lag.as_secs_f64(),
        s.connections
    );
    // A copy of the ledger takes the appends, so the cached one never grows; the follower
    // of the catch-up holds the same history, and follows on.
    let copy = work.join("lag-leader");
    let status = Command::new("cp").arg("-r").arg(ledger).arg(&copy).status();
    if !matches!(status, Ok(s) if s.success()) {
        abort(&format!("cp -r {} {}: {status:?}", ledger.display(), copy.display()));
    }
    let clerk = token(&copy, "follower-bench-clerk", "clerk");
    let reader = token(follower, "follower-bench-reader", "reader");
    let leader = Served::leader(&copy);
    leader.wait_verified();
    let child = Served::spawn(
        "follow --listen",
        Command::new(common::binary())
            .args(["follow", &leader.url, "--token", auditor, "--key"])
            .arg(key)
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(follower),
    );
    let follower_addr = child.stdout_until("the listening line", listening);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| abort(&format!("a runtime: {e}")));
    let commune = runtime.block_on(async {
        let mut c = Connection::open(leader.addr, &clerk)
            .await
            .unwrap_or_else(|e| abort(&e));
        let (_, body) = c
            .post(graphql_body(
                "{ localities(kind: COMMUNE, first: 1) { edges { node { slug } } } }",
            ))
            .await
            .unwrap_or_else(|e| abort(&e));
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        v["data"]["localities"]["edges"][0]["node"]["slug"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| abort(&format!("no commune in {}", String::from_utf8_lossy(&body))))
    });
    // The follower starts at the leader's head before the appends do.
    let start_seq = s.events;
    let (heads_tx, heads_rx) = mpsc::channel::<(Instant, u64)>();
    let stop_polling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (stop, poll) = (stop_polling.clone(), s.poll);
        std::thread::spawn(move || poll_heads(follower_addr, &reader, poll, heads_tx, stop))
    };
    wait_for_head(&heads_rx, start_seq, &mut Vec::new());

    let appended: Vec<(u64, Instant)> =
        runtime.block_on(append_for(leader.addr, &clerk, &commune, s.connections, s.lag));
    let took_from = appended.iter().map(|a| a.1).min().unwrap_or_else(Instant::now);
    let took = appended.iter().map(|a| a.1).max().unwrap_or(took_from) - took_from;
    let last = appended.iter().map(|a| a.0).max().unwrap_or(start_seq);
    let mut heads = Vec::new();
    wait_for_head(&heads_rx, last, &mut heads);
    stop_polling.store(true, std::sync::atomic::Ordering::Relaxed);
    let polls = poller.join().unwrap_or(0);
    while let Ok(h) = heads_rx.try_recv() {
        heads.push(h);
    }
    child.stop();
    leader.stop();
    drop(runtime);

    // Each appended seq's lag: from its answer to the first head seen at or past it.
    let mut early = 0;
    let mut lags: Vec<Duration> = appended
        .iter()
        .map(|&(seq, answered)| {
            let at = heads.partition_point(|h| h.1 < seq);
            let seen = heads
                .get(at)
                .map_or_else(|| abort(&format!("seq {seq} never seen")), |h| h.0);
            if seen < answered {
                early += 1;
            }
            seen.saturating_duration_since(answered)
        })
        .collect();
    lags.sort_unstable();
    let lag = Lag {
        appended: appended.len() as u64,
        took,
        lags,
        early,
        polls,
    };
    println!(
        "appends      {} events appended in {} ({:.0}/s), seq {} to {last}; the follower's head asked {} times (every {} ms)",
        lag.appended,
        secs(lag.took),
        rate(lag.appended, lag.took),
        start_seq + 1,
        lag.polls,
        s.poll.as_millis()
    );
    println!(
        "lag          p50 {}  p99 {}  max {} ({} of {} seen on the follower before the leader's answer arrived)",
        ms(quantile(&lag.lags, 0.5)),
        ms(quantile(&lag.lags, 0.99)),
        ms(quantile(&lag.lags, 1.0)),
        lag.early,
        lag.appended
    );
    lag
}

fn summary(s: &Settings, c: &CatchUp, lag: &Lag) {
    let events = s.events;
    let follow = rate(events, c.follow);
    let verify = rate(events, c.verify);
    let ratio = follow / verify;
    println!("\nsummary ({events} events, loopback, one run)");
    println!("| what | {events} events | events/s | follower ÷ it |");
    println!("|---|---|---|---|");
    println!(
        "| `orgledger follow`, from empty | {} | {follow:.0} | 1 |",
        secs(c.follow)
    );
    let row = |what: &str, d: Duration| {
        println!(
            "| {what} | {} | {:.0} | {:.2}× |",
            secs(d),
            rate(events, d),
            follow / rate(events, d)
        );
    };
    row("`orgledger verify` (the leader's store)", c.verify);
    row("`orgledger verify --file` (the export)", c.verify_file);
    row("`orgledger import` (the export)", c.import);
    row(
        &format!("`GET /export` of the whole log ({} MiB), alone", c.export_bytes >> 20),
        c.export,
    );
    row("its parts alone: reading the export's lines", c.parts.parse);
    row("its parts alone: the rules", c.parts.rules);
    row(
        "its parts alone: tree nodes and sled write, a flush per group",
        c.parts.write,
    );
    println!();
    println!(
        "catch-up ÷ verify: {ratio:.2}× (target ≥ {RATIO_TARGET}×): {}",
        met(ratio >= RATIO_TARGET)
    );
    let p99 = quantile(&lag.lags, 0.99);
    println!(
        "lag behind {:.0} appends/s: p50 {}, p99 {}, max {} (target p99 < {} s): {}",
        rate(lag.appended, lag.took),
        ms(quantile(&lag.lags, 0.5)),
        ms(p99),
        ms(quantile(&lag.lags, 1.0)),
        LAG_TARGET.as_secs(),
        met(p99 < LAG_TARGET)
    );
}

/// Appends one new hamlet per request from `connections` keep-alive connections, back to
/// back, for `length`; returns each appended event's `seq` and when its answer arrived.
async fn append_for(
    addr: SocketAddr,
    token: &str,
    commune: &str,
    connections: usize,
    length: Duration,
) -> Vec<(u64, Instant)> {
    let end = Instant::now() + length;
    let tasks: Vec<_> = (0..connections)
        .map(|task| {
            let (token, commune) = (token.to_owned(), commune.to_owned());
            tokio::spawn(async move {
                let mut connection = Connection::open(addr, &token).await.unwrap_or_else(|e| abort(&e));
                let mut answered = Vec::new();
                let mut n = 0u64;
                while Instant::now() < end {
                    let (status, body) = connection
                        .post(hamlet(&commune, task, n))
                        .await
                        .unwrap_or_else(|e| abort(&format!("an append: {e}")));
                    let at = Instant::now();
                    n += 1;
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let seq = v["data"]["append"]["events"][0]["seq"].as_u64().unwrap_or_else(|| {
                        abort(&format!(
                            "an append answered {status}: {}",
                            String::from_utf8_lossy(&body)
                        ))
                    });
                    answered.push((seq, at));
                }
                answered
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_else(|e| abort(&format!("an appender: {e}"))));
    }
    all
}

/// The GraphQL body appending a new hamlet of `commune`, named for its connection and number.
fn hamlet(commune: &str, task: usize, n: u64) -> Bytes {
    let query = "mutation($events: [EventInput!]!) { append(events: $events) { events { seq } } }";
    let event = json!({ "localityRegistered": {
        "effective": EFFECTIVE,
        "locality": format!("xom-follower-bench-{task}-{n}"),
        "name": format!("Xóm Theo Dõi {task}-{n}"),
        "kind": "HAMLET",
        "parent": commune,
        "border": false,
    }});
    Bytes::from(json!({ "query": query, "variables": { "events": [event] } }).to_string())
}

/// Asks the follower's `{ head { seq } }` every `poll` until `stop`, on a thread and runtime
/// of its own so that the appenders do not delay it; sends each head that moved, with when
/// its answer arrived. Returns how many times it asked.
fn poll_heads(
    addr: SocketAddr,
    token: &str,
    poll: Duration,
    heads: mpsc::Sender<(Instant, u64)>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| abort(&format!("a runtime: {e}")));
    runtime.block_on(async move {
        let mut connection = Connection::open(addr, token).await.unwrap_or_else(|e| abort(&e));
        let body = graphql_body("{ head { seq } }");
        let (mut last, mut asked) = (None, 0u64);
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            tick.tick().await;
            let (_, answer) = connection
                .post(body.clone())
                .await
                .unwrap_or_else(|e| abort(&format!("the follower's head: {e}")));
            let at = Instant::now();
            asked += 1;
            let v: Value = serde_json::from_slice(&answer).unwrap_or_default();
            let seq = v["data"]["head"]["seq"]
                .as_u64()
                .unwrap_or_else(|| abort(&format!("the follower's head: {}", String::from_utf8_lossy(&answer))));
            if last != Some(seq) {
                last = Some(seq);
                if heads.send((at, seq)).is_err() {
                    break;
                }
            }
        }
        asked
    })
}

/// Waits until the follower's head reaches `seq`, keeping the heads seen on the way.
fn wait_for_head(heads: &mpsc::Receiver<(Instant, u64)>, seq: u64, seen: &mut Vec<(Instant, u64)>) {
    let deadline = Instant::now() + PATIENCE;
    if seen.last().is_some_and(|h| h.1 >= seq) {
        return;
    }
    loop {
        match heads.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(h) => {
                seen.push(h);
                if h.1 >= seq {
                    return;
                }
            }
            Err(_) => abort(&format!("the follower's head did not reach {seq}")),
        }
    }
}

/// `GET /export` of the whole log into `file`: the time and the bytes.
fn get_export(leader: &Served, token: &str, file: &Path) -> (Duration, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| abort(&format!("a runtime: {e}")));
    runtime.block_on(async {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(file).unwrap_or_else(|e| abort(&format!("{}: {e}", file.display()))),
        );
        let started = Instant::now();
        let mut response = reqwest::Client::new()
            .get(format!("http://{}/export", leader.addr))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| abort(&format!("GET /export: {e}")));
        if !response.status().is_success() {
            abort(&format!("GET /export: {}", response.status()));
        }
        let mut bytes = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .unwrap_or_else(|e| abort(&format!("GET /export: {e}")))
        {
            bytes += chunk.len() as u64;
            out.write_all(&chunk)
                .unwrap_or_else(|e| abort(&format!("{}: {e}", file.display())));
        }
        let took = started.elapsed();
        out.flush()
            .unwrap_or_else(|e| abort(&format!("{}: {e}", file.display())));
        (took, bytes)
    })
}

/// A child process of the benchmark with its output lines on channels; killed when
/// dropped, and by [`abort`].
struct Served {
    name: &'static str,
    child: Child,
    stdout: mpsc::Receiver<String>,
    /// Everything it wrote to stderr so far, for the error messages.
    stderr: Arc<Mutex<String>>,
    verified: mpsc::Receiver<()>,
    /// A leader's address and GraphQL URL.
    addr: SocketAddr,
    url: String,
}

impl Served {
    fn spawn(name: &'static str, command: &mut Command) -> Served {
        // SAFETY: prctl(2) is async-signal-safe; a child whose parent dies gets SIGKILL, so
        // that even a benchmark killed by a signal leaves no follower or server behind.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| abort(&format!("{} {name}: {e}", common::binary())));
        CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(child.id());
        let (out_tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (verified_tx, verified) = mpsc::channel();
        let (err, log) = (child.stderr.take().expect("piped"), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("verified the chain of") {
                    let _ = verified_tx.send(());
                }
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        Served {
            name,
            child,
            stdout,
            stderr,
            verified,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            url: String::new(),
        }
    }

    /// `orgledger serve` on `data`, once it listens.
    fn leader(data: &Path) -> Served {
        let mut served = Served::spawn(
            "serve",
            Command::new(common::binary())
                .arg("--data")
                .arg(data)
                .args(["serve", "--listen", "127.0.0.1:0"]),
        );
        served.addr = served.stdout_until("the listening line", listening);
        served.url = format!("http://{}/graphql", served.addr);
        served
    }

    /// Waits for the server's background verify of the whole chain to end, so that it
    /// takes no core from what is measured.
    fn wait_verified(&self) {
        if self.verified.recv_timeout(PATIENCE).is_err() {
            abort(&format!("{} did not verify its chain:\n{}", self.name, self.said()));
        }
    }

    fn said(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The first stdout line `found` accepts.
    fn stdout_until<T>(&self, what: &str, mut found: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self
                .stdout
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    if let Some(t) = found(&line) {
                        return t;
                    }
                }
                Err(_) => abort(&format!("{}: no {what}; it said:\n{}", self.name, self.said())),
            }
        }
    }

    /// Stops it with SIGTERM, as a person would; it must exit 0 within the patience.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child, not reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => abort(&format!("{} did not stop on SIGTERM:\n{}", self.name, self.said())),
            }
        };
        CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&pid| pid != self.child.id());
        if !status.success() {
            abort(&format!(
                "{} exited with {status} on SIGTERM:\n{}",
                self.name,
                self.said()
            ));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address of a `listening on http://ADDR/graphql` line.
fn listening(line: &str) -> Option<SocketAddr> {
    line.split("listening on http://")
        .nth(1)?
        .trim()
        .trim_end_matches("/graphql")
        .parse()
        .ok()
}

/// The size and root of a `{"checkpoint":N,"root":…}` line.
fn checkpoint_line(line: &str) -> Option<(u64, String)> {
    let v: Value = serde_json::from_str(line).ok()?;
    Some((v["checkpoint"].as_u64()?, v["root"].as_str()?.to_owned()))
}

/// `(events, head, root)` of a `verify` verdict.
fn chain_verdict(stdout: &str) -> (u64, String, String) {
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| abort(&format!("not a verdict: {stdout}")));
    if v["ok"] != true {
        abort(&format!("the verdict is not ok: {v}"));
    }
    (
        v["events"].as_u64().unwrap_or(0),
        v["head"].as_str().unwrap_or("").to_owned(),
        v["root"].as_str().unwrap_or("").to_owned(),
    )
}

/// A token of `role` for the ledger in `dir`, made anew (a token's secret is shown only
/// when it is added).
fn token(dir: &Path, name: &str, role: &str) -> String {
    orgledger(dir, &["token", "revoke", name]);
    output_of(dir, &["token", "add", "--name", name, "--role", role])
        .trim()
        .to_owned()
}

/// The standard output of a command that must succeed.
fn output_of(dir: &Path, args: &[&str]) -> String {
    let ran = orgledger(dir, args);
    if ran.code != 0 {
        abort(&format!(
            "orgledger {}: exit {}: {}",
            args.join(" "),
            ran.code,
            ran.stderr
        ));
    }
    ran.stdout
}

/// One finished child process.
struct Ran {
    wall: Duration,
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the release binary on the ledger in `dir`, timed from spawn to exit.
fn orgledger(dir: &Path, args: &[&str]) -> Ran {
    let mut all = vec!["--data", dir.to_str().unwrap_or_else(|| abort("a non-UTF-8 path"))];
    all.extend_from_slice(args);
    run_binary(&all)
}

fn run_binary(args: &[&str]) -> Ran {
    let started = Instant::now();
    let mut child = Command::new(common::binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| abort(&format!("{}: {e}", common::binary())));
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(child.id());
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = child.wait().unwrap_or_else(|e| abort(&format!("wait: {e}")));
    let wall = started.elapsed();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&pid| pid != child.id());
    Ran {
        wall,
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn remove_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => abort(&format!("{}: {e}", dir.display())),
        _ => {}
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn met(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "MISSED"
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn list(times: &[Duration]) -> String {
    times.iter().map(|d| secs(*d)).collect::<Vec<_>>().join(", ")
}
