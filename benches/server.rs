//! The load benchmark of issue 4 ("Speed"): the real GraphQL server, started in this process
//! on the demo ledger, under 64 concurrent HTTP/1.1 keep-alive connections from a load
//! generator in the same process. From one run, printed together:
//!
//! - requests/s and p50/p99 latency of `{ head { seq } }`, of the coverage report, and of a
//!   page of 50 members of the cell with the largest roster;
//! - appends/s through the GraphQL `append` mutation (one new hamlet per request), and
//!   appends/s through the writer called directly (`Ledger::append_async`) from 64 tasks in
//!   the same run, against the same ledger;
//! - the ratios of the issue with their targets;
//! - the same GraphQL scenarios over HTTPS (issue 15): the same server and ledger on a second
//!   listener with a self-signed certificate (`orgledger::tls`), each connection a TLS 1.3
//!   session on which the requests follow back to back, beside the rates over HTTP.
//!
//! Every answer is checked (status 200, the expected `data`, no `errors`); a failed answer is
//! counted and shown, never dropped. The first answer of each query is also parsed whole and
//! its shape checked; the later ones are checked on their bytes, so that the load generator,
//! which shares the machine's cores with the server, does not spend them parsing JSON.
//!
//! Run it with `cargo bench --bench server`. `ORGLEDGER_BENCH_SECS` sets the seconds timed per
//! scenario (default 5), after one second of warm-up.

mod allocator;
mod graphql_client;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use graphql_client::{graphql_body, Connection};

use orgledger::event::{Date, Event, Id, LocalityKind, LocalityRegistered, Submission, Text};
use orgledger::graphql::{Access, Env, LedgerSchema};
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::server::{ServerConfig, ServerLimits};
use orgledger::store::StoreError;
use orgledger::tokens::{self, Caller, Role, Tokens};

/// Concurrent connections (and concurrent direct submitters), as the issue asks.
const CONNECTIONS: usize = 64;
/// Untimed seconds before each scenario, so connections, caches and the allocator are warm.
const WARM_UP: Duration = Duration::from_secs(1);
/// The date the coverage report is asked at: the year the last hamlet without a cell got one.
const COVERAGE_DATE: &str = "2013-12-31";
/// The roster page size.
const ROSTER_PAGE: usize = 50;

/// The targets of the issue.
const COVERAGE_RATIO_TARGET: f64 = 0.5;
const P99_TARGET: Duration = Duration::from_millis(20);
const APPEND_RATIO_TARGET: f64 = 0.5;

/// The token name of the GraphQL clerk (the actor of its appends) and the actor of the direct
/// appends.
const CLERK: &str = "bench-clerk";
const DIRECT_ACTOR: &str = "bench-direct";

fn timed_seconds() -> Duration {
    graphql_client::timed_seconds("server", Duration::from_secs(5))
}

/// Sends one query, parses the whole answer and returns its `data`; any error stops the run,
/// since the scenarios depend on these answers.
async fn ask(addr: SocketAddr, token: &str, query: &str) -> Value {
    let mut connection = Connection::open(addr, token).await.expect("a connection to the server");
    let (status, body) = connection.post(graphql_body(query)).await.expect("an answer");
    let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "the answer to {query} is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    assert_eq!(status, StatusCode::OK, "{query} answered {status}: {answer}");
    assert!(answer.get("errors").is_none(), "{query} answered errors: {answer}");
    answer["data"].clone()
}

/// How the answers of one scenario are checked on their bytes: status 200, the answer starts
/// with the expected `data` prefix (async-graphql writes `data` first), and holds no
/// `"errors"` key (none of the names of the demo contains that word).
fn check_answer(status: StatusCode, body: &[u8], prefix: &[u8]) -> Result<(), String> {
    let has_errors = memchr::memmem::find(body, b"\"errors\"").is_some();
    if status != StatusCode::OK || !body.starts_with(prefix) || has_errors {
        let shown = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
        return Err(format!("status {status}: {shown}"));
    }
    Ok(())
}

/// What one scenario measured.
struct Measured {
    name: String,
    /// Successful requests started after the warm-up.
    requests: u64,
    /// Successful requests in all, warm-up included (the appends are checked against the head).
    succeeded_all: u64,
    /// Failed requests, warm-up included; each is a defect of the server (or of the bench).
    failed: u64,
    first_failure: Option<String>,
    /// From the end of the warm-up to the last timed answer.
    elapsed: Duration,
    /// Every timed latency, sorted.
    latencies: Vec<Duration>,
    /// CPU seconds per wall second spent by the server's threads, by the load generator's,
    /// and by the rest (the ledger's writer and projector, sled's own threads).
    cpu: CpuShare,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }
}

/// What one load task brings back.
#[derive(Default)]
struct TaskTally {
    requests: u64,
    succeeded_all: u64,
    failed: u64,
    first_failure: Option<String>,
    latencies: Vec<Duration>,
    last_answer: Option<Instant>,
}

impl TaskTally {
    fn record(&mut self, started: Instant, timed_from: Instant, outcome: Result<(), String>) {
        let done = Instant::now();
        match outcome {
            Ok(()) => {
                self.succeeded_all += 1;
                if started >= timed_from {
                    self.requests += 1;
                    self.latencies.push(done - started);
                    self.last_answer = Some(done);
                }
            }
            Err(e) => {
                self.failed += 1;
                self.first_failure.get_or_insert(e);
            }
        }
    }
}

/// Joins the tallies of the tasks of one scenario.
async fn gather(
    name: &str,
    timed_from: Instant,
    handles: Vec<tokio::task::JoinHandle<TaskTally>>,
    cpu: CpuMarkHandle,
) -> Measured {
    let mut m = Measured {
        name: name.to_owned(),
        requests: 0,
        succeeded_all: 0,
        failed: 0,
        first_failure: None,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        cpu: CpuShare::default(),
    };
    let mut last = timed_from;
    for h in handles {
        let t = h.await.expect("a load task finished");
        m.requests += t.requests;
        m.succeeded_all += t.succeeded_all;
        m.failed += t.failed;
        if m.first_failure.is_none() {
            m.first_failure = t.first_failure;
        }
        m.latencies.extend(t.latencies);
        last = last.max(t.last_answer.unwrap_or(timed_from));
    }
    m.cpu = cpu.share_since().await;
    m.elapsed = last - timed_from;
    m.latencies.sort_unstable();
    m
}

/// What each request of an HTTP scenario sends and expects.
#[derive(Clone)]
enum Load {
    /// The same query every time; the answer starts with `prefix`.
    Query { body: Bytes, prefix: &'static [u8] },
    /// One new hamlet per request through `append`.
    Appends(Arc<HamletMaker>),
}

/// Runs `CONNECTIONS` connections, each sending requests back to back, for the warm-up and
/// then `timed`.
/// Where a scenario's load goes: the server's address, over TLS with a connector.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Target {
    fn plain(addr: SocketAddr) -> Target {
        Target { addr, tls: None }
    }
}

async fn http_scenario(name: &str, target: Target, token: &str, load: Load, timed: Duration) -> Measured {
    let start = Instant::now();
    let timed_from = start + WARM_UP;
    let end = timed_from + timed;
    let cpu = CpuMark::at_warm_up_end(timed_from);
    let handles: Vec<_> = (0..CONNECTIONS)
        .map(|task| {
            let (load, token, target) = (load.clone(), token.to_owned(), target.clone());
            tokio::spawn(async move {
                let mut tally = TaskTally::default();
                let mut connection = None;
                let mut n = 0u64;
                while Instant::now() < end {
                    if connection.is_none() {
                        match Connection::open_with(target.addr, &token, target.tls.as_ref()).await {
                            Ok(c) => connection = Some(c),
                            Err(e) => {
                                tally.record(Instant::now(), timed_from, Err(e));
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                    let c = connection.as_mut().expect("opened above");
                    let (body, prefix) = match &load {
                        Load::Query { body, prefix } => (body.clone(), *prefix),
                        Load::Appends(maker) => (
                            maker.graphql_body(task, n),
                            b"{\"data\":{\"append\":{\"head\":{\"seq\":".as_slice(),
                        ),
                    };
                    n += 1;
                    let started = Instant::now();
                    let outcome = match c.post(body).await {
                        Ok((status, answer)) => check_answer(status, &answer, prefix),
                        Err(e) => {
                            // The connection is unusable; the next request opens another.
                            connection = None;
                            Err(e)
                        }
                    };
                    tally.record(started, timed_from, outcome);
                }
                tally
            })
        })
        .collect();
    gather(name, timed_from, handles, cpu).await
}

/// The same kind of appends as the GraphQL scenario, from `CONNECTIONS` tasks calling the
/// writer directly.
async fn direct_scenario(name: &str, ledger: Arc<Ledger>, maker: Arc<HamletMaker>, timed: Duration) -> Measured {
    let start = Instant::now();
    let timed_from = start + WARM_UP;
    let end = timed_from + timed;
    let cpu = CpuMark::at_warm_up_end(timed_from);
    let actor = Id::parse(DIRECT_ACTOR).expect("a valid actor id");
    let handles: Vec<_> = (0..CONNECTIONS)
        .map(|task| {
            let (ledger, maker, actor) = (ledger.clone(), maker.clone(), actor.clone());
            tokio::spawn(async move {
                let mut tally = TaskTally::default();
                let mut n = 0u64;
                while Instant::now() < end {
                    let submission = maker.submission(task, n);
                    n += 1;
                    let started = Instant::now();
                    let outcome = ledger
                        .append_async(actor.clone(), vec![submission], None)
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("refused: {e}"));
                    tally.record(started, timed_from, outcome);
                }
                tally
            })
        })
        .collect();
    gather(name, timed_from, handles, cpu).await
}

/// Makes new hamlets under one commune of the demo, effective today, each with an id and a
/// name no other request of the run uses: `tag` tells the phases apart, then the task and its
/// request number.
struct HamletMaker {
    commune: Id,
    today: Date,
    tag: &'static str,
}

impl HamletMaker {
    fn slug(&self, task: usize, n: u64) -> String {
        format!("xom-bench-{}-{task}-{n}", self.tag)
    }
    fn name(&self, task: usize, n: u64) -> String {
        format!("Xóm Thử {} {task}-{n}", self.tag)
    }
    fn submission(&self, task: usize, n: u64) -> Submission {
        Submission::new(
            self.today,
            Event::LocalityRegistered(LocalityRegistered {
                locality: Id::parse(&self.slug(task, n)).expect("a valid hamlet id"),
                name: Text::parse(&self.name(task, n)).expect("a valid hamlet name"),
                kind: LocalityKind::Hamlet,
                parent: Some(self.commune.clone()),
                border: false,
            }),
        )
    }
    fn graphql_body(&self, task: usize, n: u64) -> Bytes {
        let query = "mutation($events: [EventInput!]!) { append(events: $events) { head { seq } } }";
        let event = json!({ "localityRegistered": {
            "effective": self.today.naive().format("%Y-%m-%d").to_string(),
            "locality": self.slug(task, n),
            "name": self.name(task, n),
            "kind": "HAMLET",
            "parent": self.commune.as_str(),
            "border": false,
        }});
        Bytes::from(json!({ "query": query, "variables": { "events": [event] } }).to_string())
    }
}

/// CPU time of this process's threads, grouped by who they work for, from
/// `/proc/self/task/*/stat` (Linux; elsewhere the figures are zero).
#[derive(Default, Clone, Copy)]
struct CpuTicks {
    server: u64,
    load: u64,
    other: u64,
    /// Every CPU of the machine, every process (from `/proc/stat`): what is not this
    /// process's is another's, on a shared machine.
    machine: u64,
}

/// The server's runtime threads are named `server`, the load generator's `load`.
fn cpu_ticks() -> CpuTicks {
    let mut ticks = CpuTicks::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return ticks;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces, so split at the last parenthesis;
        // utime and stime are the 14th and 15th fields, the 12th and 13th after it.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let used = fields.get(11).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0)
            + fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        if comm.starts_with("server") {
            ticks.server += used;
        } else if comm.starts_with("load") {
            ticks.load += used;
        } else {
            ticks.other += used;
        }
    }
    // `cpu  user nice system idle iowait irq softirq steal ...`: the busy ones.
    if let Ok(stat) = std::fs::read_to_string("/proc/stat") {
        if let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) {
            let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
            ticks.machine = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| fields.get(i)).sum();
        }
    }
    ticks
}

/// CPU seconds per wall second (1.0 = one core busy).
#[derive(Default, Clone, Copy)]
struct CpuShare {
    server: f64,
    load: f64,
    other: f64,
    /// Other processes of the machine.
    elsewhere: f64,
}

struct CpuMark {
    ticks: CpuTicks,
    at: Instant,
}

impl CpuMark {
    /// Waits out the warm-up in a task of its own and takes the mark then; returns at once.
    fn at_warm_up_end(timed_from: Instant) -> CpuMarkHandle {
        CpuMarkHandle(tokio::spawn(async move {
            tokio::time::sleep_until(timed_from.into()).await;
            CpuMark {
                ticks: cpu_ticks(),
                at: Instant::now(),
            }
        }))
    }
}

struct CpuMarkHandle(tokio::task::JoinHandle<CpuMark>);

impl CpuMarkHandle {
    async fn share_since(self) -> CpuShare {
        let mark = self.0.await.expect("the CPU mark task did not panic");
        let now = cpu_ticks();
        // Linux reports these in clock ticks of 1/100 s on every common configuration.
        let wall = mark.at.elapsed().as_secs_f64().max(1e-9) * 100.0;
        CpuShare {
            server: now.server.saturating_sub(mark.ticks.server) as f64 / wall,
            load: now.load.saturating_sub(mark.ticks.load) as f64 / wall,
            other: now.other.saturating_sub(mark.ticks.other) as f64 / wall,
            elsewhere: (now.machine.saturating_sub(mark.ticks.machine) as f64
                - (now.server + now.load + now.other)
                    .saturating_sub(mark.ticks.server + mark.ticks.load + mark.ticks.other) as f64)
                .max(0.0)
                / wall,
        }
    }
}

/// What one query costs the schema alone, in microseconds per request.
struct InProcess {
    /// Parsing the query text alone (a part of `execute`).
    parse: f64,
    execute: f64,
    serialize: f64,
}

/// Executes `query` with the schema in this process, one request at a time, for about
/// `budget`: the GraphQL part of a request's server time (parse, validate, execute), and the
/// turning of its answer into text as the server does it (a JSON value, then a string),
/// without HTTP, authentication or concurrency.
async fn in_process(schema: &LedgerSchema, caller: &Caller, query: &str, budget: Duration) -> InProcess {
    // One untimed request first, so a report is in this schema's cache as it is in the server's.
    let _ = schema
        .execute(async_graphql::Request::new(query).data(Access(Some(caller.clone()))))
        .await;
    let (mut parse, mut execute, mut serialize, mut n) = (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0u32);
    let start = Instant::now();
    while n < 100 || start.elapsed() < budget {
        let t = Instant::now();
        let document = async_graphql::parser::parse_query(query).expect("the query parses");
        parse += t.elapsed();
        drop(document);
        let request = async_graphql::Request::new(query).data(Access(Some(caller.clone())));
        let t = Instant::now();
        let response = schema.execute(request).await;
        execute += t.elapsed();
        assert!(response.errors.is_empty(), "{query} answered {:?}", response.errors);
        let t = Instant::now();
        let text = serde_json::to_value(&response)
            .expect("responses serialize")
            .to_string();
        serialize += t.elapsed();
        assert!(!text.is_empty());
        n += 1;
    }
    InProcess {
        parse: parse.as_secs_f64() * 1e6 / n as f64,
        execute: execute.as_secs_f64() * 1e6 / n as f64,
        serialize: serialize.as_secs_f64() * 1e6 / n as f64,
    }
}

fn directory_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => directory_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Opens the ledger the demo just wrote, waiting out the moment sled takes to release it.
fn open_ledger(dir: &Path) -> Ledger {
    for _ in 0..500 {
        match Ledger::open(dir, LedgerOptions::default()) {
            Err(StoreError::InUse(_)) => std::thread::sleep(Duration::from_millis(10)),
            other => return other.expect("the demo ledger opens"),
        }
    }
    panic!("{} stayed in use", dir.display())
}

/// The cell with the most members today, asked through the `roster` report of each cell.
async fn largest_cell(addr: SocketAddr, token: &str) -> (String, usize, usize) {
    let data = ask(
        addr,
        token,
        "{ organizations(kind: CELL, first: 1000) { edges { node { slug } } pageInfo { hasNextPage } } }",
    )
    .await;
    assert_eq!(
        data["organizations"]["pageInfo"]["hasNextPage"],
        json!(false),
        "the demo has at most 1000 cells"
    );
    let cells: Vec<String> = data["organizations"]["edges"]
        .as_array()
        .expect("a list of cells")
        .iter()
        .map(|e| e["node"]["slug"].as_str().expect("a slug").to_owned())
        .collect();
    let mut best = (String::new(), 0);
    for cell in &cells {
        let roster = ask(
            addr,
            token,
            &format!("{{ roster(org: \"{cell}\") {{ members {{ member }} }} }}"),
        )
        .await;
        let size = roster["roster"]["members"].as_array().expect("a roster").len();
        if size > best.1 {
            best = (cell.clone(), size);
        }
    }
    (best.0, best.1, cells.len())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn machine_facts() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores (available_parallelism), {cpu}")
}

fn main() {
    // cargo passes `--bench` to every benchmark binary; nothing else is taken.
    if let Some(arg) = std::env::args().skip(1).find(|a| a != "--bench") {
        eprintln!("server bench: unknown argument {arg:?}; set ORGLEDGER_BENCH_SECS for the seconds per scenario");
        std::process::exit(2);
    }
    let timed = timed_seconds();
    let run = Instant::now();
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let data = scratch.path().join("demo");
    let t = Instant::now();
    let (demo_events, _) = orgledger::demo::write_demo(&data).expect("the demo ledger is written");
    let demo_written = t.elapsed();
    let ledger = Arc::new(open_ledger(&data));
    let token = tokens::add(&data, CLERK, Role::Clerk).expect("a clerk token");
    let token_store = Arc::new(Tokens::open(&data).expect("the tokens open"));
    let demo_bytes = directory_bytes(&data);

    // The server runs on a runtime of its own, as `orgledger serve` does; the load generator
    // on another, so the two are told apart in the CPU figures.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .build()
        .expect("the server runtime");
    let load_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("load")
        .build()
        .expect("the load runtime");

    let listener = server_runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let tokens_for_schema = token_store.clone();
    let config = ServerConfig {
        ledger: ledger.clone(),
        tokens: token_store,
        public_read: false,
        limits: ServerLimits::default(),
        checkpoint_key: None,
        checkpoints: Default::default(),
        follows: None,
        cosigning: None,
        listening: Default::default(),
    };
    let server = server_runtime.spawn(orgledger::server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    // The same server over HTTPS, on a second listener: a certificate for 127.0.0.1 signed by
    // a CA made for the run, which the load generator trusts.
    let tls_files = orgledger::tls::write_self_signed(
        &scratch.path().join("tls"),
        &orgledger::tls::self_signed(&["127.0.0.1".to_owned()]).expect("a certificate"),
    )
    .expect("the certificate files");
    let tls_listener = server_runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let tls_addr = tls_listener.local_addr().expect("the bound address");
    let (stop_tls, stopped_tls) = tokio::sync::oneshot::channel::<()>();
    let tls_config = ServerConfig {
        ledger: ledger.clone(),
        tokens: tokens_for_schema.clone(),
        public_read: false,
        limits: ServerLimits::default(),
        checkpoint_key: None,
        checkpoints: Default::default(),
        follows: None,
        cosigning: None,
        listening: orgledger::tls::Listening::Tls(
            orgledger::tls::ServerTls::load(&tls_files[1], &tls_files[2]).expect("the certificate loads"),
        ),
    };
    let tls_server = server_runtime.spawn(orgledger::server::run(tls_listener, tls_config, async move {
        let _ = stopped_tls.await;
    }));

    println!("orgledger server load benchmark (cargo bench --bench server)");
    println!("machine: {}", machine_facts());
    println!(
        "{CONNECTIONS} HTTP/1.1 keep-alive connections (hyper client, one per task, requests back to back) on a runtime of its own; \
         the server on another, both with one worker per core; {:.0}s warm-up + {}s timed per scenario",
        WARM_UP.as_secs_f64(),
        timed.as_secs_f64()
    );

    let results = load_runtime.block_on(async {
        ledger.projection_caught_up().await;
        let head = ask(addr, &token, "{ head { seq } }").await;
        let head_seq = head["head"]["seq"].as_u64().expect("a head seq");
        let t = Instant::now();
        let (cell, roster_size, cells) = largest_cell(addr, &token).await;
        let probe = t.elapsed();
        let commune_data = ask(addr, &token, "{ localities(kind: COMMUNE, first: 1) { edges { node { slug } } } }").await;
        let commune = commune_data["localities"]["edges"][0]["node"]["slug"]
            .as_str()
            .expect("the demo has a commune")
            .to_owned();
        println!(
            "ledger: the demo, {demo_events} events (head seq {head_seq}), {:.1} MiB on disk, written in {:.1}s; {cells} cells",
            demo_bytes as f64 / (1 << 20) as f64,
            demo_written.as_secs_f64()
        );
        println!(
            "roster cell: {cell} ({roster_size} members today, the largest roster of the {cells} cells by `roster(org:)`, asked in {:.1}s)",
            probe.as_secs_f64()
        );
        println!("hamlets appended under: {commune}");
        println!();

        let head_query = "{ head { seq } }".to_owned();
        let coverage_query = format!(
            "{{ coverage(date: \"{COVERAGE_DATE}\") {{ date seq localities withMember withCell temporaryOnly \
             withoutMember {{ id name }} withoutCell {{ id name }} \
             communes {{ commune name localities withMember withCell temporaryOnly }} }} }}"
        );
        let roster_query = format!(
            "{{ organization(id: \"{cell}\") {{ name members(first: {ROSTER_PAGE}) {{ \
             edges {{ node {{ slug name status }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"
        );

        // The first answer of each query, parsed whole: the load then checks bytes only.
        let coverage = ask(addr, &token, &coverage_query).await;
        let communes = coverage["coverage"]["communes"].as_array().map_or(0, Vec::len);
        let localities = coverage["coverage"]["localities"].as_u64().unwrap_or(0);
        assert!(communes > 0 && localities > 0, "the coverage report covers the demo: {coverage}");
        let roster = ask(addr, &token, &roster_query).await;
        let page = roster["organization"]["members"]["edges"].as_array().map_or(0, Vec::len);
        assert_eq!(page, ROSTER_PAGE.min(roster_size), "a full page of the roster: {roster}");
        let coverage_answer = graphql_body(&coverage_query);
        let roster_answer_bytes = serde_json::to_vec(&json!({ "data": roster })).map_or(0, |v| v.len());
        let coverage_answer_bytes = serde_json::to_vec(&json!({ "data": coverage })).map_or(0, |v| v.len());
        println!(
            "answers: coverage {coverage_answer_bytes} bytes ({localities} localities, {communes} communes), roster page {roster_answer_bytes} bytes ({page} members)"
        );
        println!();

        let mut results = Vec::new();
        results.push(
            http_scenario(
                "{ head { seq } }",
                Target::plain(addr),
                &token,
                Load::Query {
                    body: graphql_body(&head_query),
                    prefix: b"{\"data\":{\"head\":{\"seq\":",
                },
                timed,
            )
            .await,
        );
        results.push(
            http_scenario(
                &format!("coverage({COVERAGE_DATE})"),
                Target::plain(addr),
                &token,
                Load::Query {
                    body: coverage_answer,
                    prefix: b"{\"data\":{\"coverage\":{",
                },
                timed,
            )
            .await,
        );
        results.push(
            http_scenario(
                &format!("roster page ({ROSTER_PAGE})"),
                Target::plain(addr),
                &token,
                Load::Query {
                    body: graphql_body(&roster_query),
                    prefix: b"{\"data\":{\"organization\":{",
                },
                timed,
            )
            .await,
        );

        let (_in_process_stop, stopping) = tokio::sync::watch::channel(false);
        let schema = orgledger::graphql::schema(Arc::new(Env::new(ledger.clone(), stopping, None)), &ServerLimits::default().graphql);
        let caller = tokens_for_schema.authenticate(&token).expect("the clerk token authenticates");
        let mut alone = Vec::new();
        for query in [&head_query, &coverage_query, &roster_query] {
            alone.push(in_process(&schema, &caller, query, Duration::from_millis(700)).await);
        }

        let commune = Id::parse(&commune).expect("a commune id");
        let today = chrono::Utc::now().date_naive();
        let today = Date::parse(&today.format("%Y-%m-%d").to_string()).expect("today is a valid date");
        let before_appends = ledger.head().seq;
        let graphql_hamlets = Arc::new(HamletMaker {
            commune: commune.clone(),
            today,
            tag: "g",
        });
        results.push(
            http_scenario(
                "append via GraphQL",
                Target::plain(addr),
                &token,
                Load::Appends(graphql_hamlets.clone()),
                timed,
            )
            .await,
        );
        let direct_hamlets = Arc::new(HamletMaker {
            commune,
            today,
            tag: "d",
        });
        results.push(direct_scenario("append_async direct", ledger.clone(), direct_hamlets, timed).await);
        // The same GraphQL scenarios over HTTPS, after the others, so the figures above are
        // those of every earlier run.
        let https = Target {
            addr: tls_addr,
            tls: Some(tokio_rustls::TlsConnector::from(
                orgledger::tls::client_config(&tls_files[0]).expect("the benchmark's CA"),
            )),
        };
        let mut over_tls = Vec::new();
        for (name, body, prefix) in [
            ("{ head { seq } }", graphql_body(&head_query), b"{\"data\":{\"head\":{\"seq\":".as_slice()),
            (
                "coverage",
                graphql_body(&coverage_query),
                b"{\"data\":{\"coverage\":{".as_slice(),
            ),
            (
                "roster page",
                graphql_body(&roster_query),
                b"{\"data\":{\"organization\":{".as_slice(),
            ),
        ] {
            over_tls.push(http_scenario(name, https.clone(), &token, Load::Query { body, prefix }, timed).await);
        }
        let tls_hamlets = Arc::new(HamletMaker {
            commune: graphql_hamlets.commune.clone(),
            today,
            tag: "s",
        });
        over_tls.push(http_scenario("append via GraphQL", https, &token, Load::Appends(tls_hamlets), timed).await);
        let appended = ledger.head().seq - before_appends;
        let acknowledged = results[3].succeeded_all + results[4].succeeded_all + over_tls[3].succeeded_all;
        (results, over_tls, alone, appended, acknowledged)
    });
    let (results, over_tls, alone, appended, acknowledged) = results;

    let _ = stop.send(());
    let _ = stop_tls.send(());
    server_runtime
        .block_on(server)
        .expect("the server task finished")
        .expect("the server stopped cleanly");
    server_runtime
        .block_on(tls_server)
        .expect("the HTTPS server task finished")
        .expect("the HTTPS server stopped cleanly");
    drop(server_runtime);
    drop(load_runtime);

    println!(
        "{:<22} {:>9} {:>7} {:>9} {:>7} {:>7} {:>7}   CPU cores busy: server / load / writer+sled / other processes",
        "scenario", "requests", "failed", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    for m in &results {
        println!(
            "{:<22} {:>9} {:>7} {:>9.0} {:>7.2} {:>7.2} {:>7.2}   {:.2} / {:.2} / {:.2} / {:.2}",
            m.name,
            m.requests,
            m.failed,
            m.rate(),
            ms(m.percentile(0.50)),
            ms(m.percentile(0.99)),
            ms(m.latencies.last().copied().unwrap_or_default()),
            m.cpu.server,
            m.cpu.load,
            m.cpu.other,
            m.cpu.elsewhere
        );
    }
    println!();
    println!(
        "the same over HTTPS (TLS 1.3, a keep-alive TLS session per connection; the same server on a second listener)"
    );
    println!(
        "{:<22} {:>9} {:>7} {:>9} {:>7} {:>7} {:>7} {:>12}   CPU cores busy: server / load",
        "scenario", "requests", "failed", "req/s", "p50 ms", "p99 ms", "max ms", "of HTTP's"
    );
    for (m, plain) in over_tls
        .iter()
        .zip([&results[0], &results[1], &results[2], &results[3]])
    {
        println!(
            "{:<22} {:>9} {:>7} {:>9.0} {:>7.2} {:>7.2} {:>7.2} {:>11.0}%   {:.2} / {:.2}",
            m.name,
            m.requests,
            m.failed,
            m.rate(),
            ms(m.percentile(0.50)),
            ms(m.percentile(0.99)),
            ms(m.latencies.last().copied().unwrap_or_default()),
            100.0 * m.rate() / plain.rate().max(1e-9),
            m.cpu.server,
            m.cpu.load,
        );
    }
    println!();
    println!("where the server's time goes, in microseconds of CPU per request");
    println!(
        "{:<22} {:>14} {:>16} {:>16} {:>16}",
        "scenario", "server, loaded", "execute, alone", "(of it: parse)", "to JSON, alone"
    );
    for (i, m) in results.iter().enumerate() {
        let loaded = m.cpu.server * 1e6 / m.rate().max(1e-9);
        match alone.get(i) {
            Some(a) => println!(
                "{:<22} {:>14.0} {:>16.1} {:>16.1} {:>16.1}",
                m.name, loaded, a.execute, a.parse, a.serialize
            ),
            None if m.cpu.server > 0.0 => {
                println!("{:<22} {:>14.0} {:>16} {:>16} {:>16}", m.name, loaded, "-", "-", "-")
            }
            None => {}
        }
    }
    println!(
        "(\"server, loaded\": CPU of the server's runtime threads / req/s under the load above; \"alone\": the schema \
         executing the same query in this process one at a time, no HTTP)"
    );
    println!();
    let failures: Vec<&Measured> = results.iter().chain(&over_tls).filter(|m| m.failed > 0).collect();
    for m in &failures {
        println!(
            "FAILED answers in {}: {} (first: {})",
            m.name,
            m.failed,
            m.first_failure.as_deref().unwrap_or("?")
        );
    }
    println!(
        "appends check: the head moved by {appended} events, {acknowledged} appends were acknowledged (warm-up included): {}",
        if appended == acknowledged { "equal" } else { "DIFFERENT" }
    );
    println!(
        "ledger after the run: head seq {}, {:.1} MiB on disk",
        ledger.head().seq,
        directory_bytes(&data) as f64 / (1 << 20) as f64
    );
    println!();

    let (head, coverage, roster, graphql, direct) = (&results[0], &results[1], &results[2], &results[3], &results[4]);
    let coverage_ratio = coverage.rate() / head.rate();
    let append_ratio = graphql.rate() / direct.rate();
    println!("ratios (targets from issue 4)");
    println!(
        "  coverage req/s / head req/s:               {coverage_ratio:>5.2}  (target >= {COVERAGE_RATIO_TARGET})  {}",
        verdict(coverage_ratio >= COVERAGE_RATIO_TARGET)
    );
    for m in [head, coverage, roster] {
        let p99 = m.percentile(0.99);
        println!(
            "  p99 of {:<34} {:>6.2} ms  (target < {} ms)  {}",
            format!("{}:", m.name),
            ms(p99),
            P99_TARGET.as_millis(),
            verdict(p99 < P99_TARGET)
        );
    }
    println!(
        "  GraphQL appends/s / direct appends/s:      {append_ratio:>5.2}  (target >= {APPEND_RATIO_TARGET})  {}",
        verdict(append_ratio >= APPEND_RATIO_TARGET)
    );
    let clean = failures.is_empty() && appended == acknowledged;
    println!(
        "  every answer checked:                      {}",
        if clean { "all good" } else { "FAILURES above" }
    );
    println!();
    println!("total run time {:.0}s", run.elapsed().as_secs_f64());

    match Arc::try_unwrap(ledger) {
        Ok(ledger) => ledger.close(),
        Err(_) => eprintln!("server bench: the ledger is still referenced at the end"),
    }
    if !clean {
        std::process::exit(1);
    }
}
