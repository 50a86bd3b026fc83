//! The hostile-load benchmark of issue 10: how long a legitimate client waits for
//! `{ head { seq } }` while 13 clients send the worst requests we could construct, against
//! the real server on the demo ledger, in this process. From one run it prints p50/p99/max
//! of the legitimate client alone and then under the hostile load, their ratio, the target
//! (p99 under 50 ms), and what each hostile client got through.
//!
//! The hostile clients, one of each kind, each on its own keep-alive connection sending
//! back to back (WebSockets: opening them):
//!
//! 1. a fragment bomb (spreads doubling 40 levels deep), which the server refuses cheaply;
//! 2. alias amplification of the coverage report up to the complexity limit, each alias at
//!    another date so no cache answers it, the dates moving at every request;
//! 3. the same with the heavier reports (temporary activity, admissions, meetings);
//! 4. pages of 1,000 events with their payloads, as many as the complexity limit allows;
//! 5. deep introspection: aliased `__schema` walks down the `ofType` chain to the depth limit;
//! 6. a directive flood: as many fields as the limits allow, each (and its one subfield)
//!    with both directives a field may carry;
//! 7. bodies near the 2 MiB cap: a query padded with a comment, and a 2 MiB variable;
//! 8. WebSockets that never send `connection_init`, 256 held open at a time;
//! 9. kinds 3 and 5 again over GET, the query in the URL (fitted under its length);
//! 10. reports as CSV (`GET /reports/NAME.csv`), admissions and coverage at moving dates;
//! 11. kinds 3 and 5 again as queries over a graphql-transport-ws socket, one at a time.
//!
//! Every amplified query is fitted at start-up: the largest size the server still executes
//! (not refused by a limit) is found by halving, so the load is what the limits let through.
//! The legitimate client runs on a thread and runtime of its own; the hostile clients on
//! another runtime; the server on a third, with one worker per core, as `orgledger serve`.
//!
//! Run it with `cargo bench --bench hostile`. `ORGLEDGER_BENCH_SECS` sets the seconds timed
//! per phase (default 10).

mod allocator;
mod graphql_client;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use graphql_client::{graphql_body, Connection};

use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::server::{ServerConfig, ServerLimits};
use orgledger::store::StoreError;
use orgledger::tokens::{self, Role, Tokens};

/// The p99 the issue asks of the legitimate client under the hostile load.
const P99_TARGET: Duration = Duration::from_millis(50);
/// Untimed seconds before each phase.
const WARM_UP: Duration = Duration::from_secs(1);
/// WebSockets the never-init client holds open at once.
const HELD_SOCKETS: usize = 256;

fn timed_seconds() -> Duration {
    graphql_client::timed_seconds("hostile", Duration::from_secs(10))
}

/// Whether an answer was executed: 200 with `data` and no error from a limit (a query the
/// server refused before executing it is not the load this bench wants).
fn executed(status: StatusCode, body: &[u8]) -> bool {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    status == StatusCode::OK && answer.get("data").is_some_and(|d| !d.is_null()) && answer.get("errors").is_none()
}

/// A day `n` days after 1990-01-01, as `YYYY-MM-DD`.
fn day(n: u64) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).expect("a date");
    (start + chrono::Days::new(n % 40_000)).format("%Y-%m-%d").to_string()
}

/// What a hostile client sends: its `i`th request, and the size it was fitted to.
type Maker = Arc<dyn Fn(u64, usize) -> Bytes + Send + Sync>;

/// What a hostile client sends, its `i`th request, once fitted.
type Client = Arc<dyn Fn(u64) -> Hostile + Send + Sync>;

/// The GraphQL request a hostile socket sends as its `i`th operation, as a POST body.
type Bodies = Arc<dyn Fn(u64) -> Bytes + Send + Sync>;

/// One hostile request: a GraphQL POST body, or the path and query string of a GET.
#[derive(Clone)]
enum Hostile {
    Post(Bytes),
    Get(String),
}

impl Hostile {
    async fn send(self, c: &mut Connection) -> Result<(StatusCode, Bytes), String> {
        match self {
            Hostile::Post(body) => c.post(body).await,
            Hostile::Get(path) => c.get(&path).await,
        }
    }
}

/// The path and query string of the GET of the GraphQL request in `body` (a POST body
/// holding only `query`): the same query in the URL, as GraphQL over HTTP allows.
fn get_target(body: &Bytes) -> String {
    let request: Value = serde_json::from_slice(body).expect("a body the bench made");
    let query = request["query"].as_str().expect("a query");
    let url = reqwest::Url::parse_with_params("http://server/graphql", [("query", query)]).expect("a URL");
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

/// The longest request target the GET kinds are fitted under: hyper, under the server,
/// refuses a longer one.
const MAX_TARGET: usize = 60_000;

/// `n` aliases of `field`, the `k`th filled in by `one(k)`.
fn aliases(n: usize, one: impl Fn(usize) -> String) -> String {
    let mut q = String::from("{");
    for k in 0..n {
        q.push_str(&format!(" a{k}: {}", one(k)));
    }
    q.push_str(" }");
    q
}

/// The hostile kinds that are fitted: a name, the query of size `n` at request `i`, and
/// the size to start halving from.
fn fitted_kinds() -> Vec<(&'static str, Maker, usize)> {
    let coverage: Maker = Arc::new(|i, n| {
        graphql_body(&aliases(n, |k| {
            format!(
                "coverage(date: \"{}\") {{ localities withMember withCell }}",
                day(i * 7919 + k as u64)
            )
        }))
    });
    let reports: Maker = Arc::new(|i, n| {
        graphql_body(&aliases(n, |k| {
            let d = day(i * 7919 + k as u64);
            match k % 3 {
                0 => format!("temporaryActivity(date: \"{d}\") {{ members fromBorderPosts }}"),
                1 => format!("admissions(fromYear: 2005, toYear: 2015, date: \"{d}\") {{ years {{ year admitted }} }}"),
                _ => format!(
                    "meetings(year: {}, date: \"{d}\") {{ meetings ofWeakCells }}",
                    2005 + k % 11
                ),
            }
        }))
    });
    // The same pages each time: the comment makes every request's bytes new, so the
    // server's answer cache never answers it.
    let events: Maker = Arc::new(|i, n| {
        let q = aliases(n, |_| {
            "events(first: 1000) { edges { node { seq type payload } } }".to_owned()
        });
        graphql_body(&format!("{q}\n# request {i}"))
    });
    let introspection: Maker = Arc::new(|i, n| {
        let mut walk = String::from("name");
        for _ in 0..9 {
            walk = format!("name kind ofType {{ {walk} }}");
        }
        let q = aliases(n, |_| {
            format!("__schema {{ types {{ name fields {{ name args {{ name }} type {{ {walk} }} }} }} }}")
        });
        graphql_body(&format!("{q}\n# request {i}"))
    });
    let directives: Maker = Arc::new(|i, n| {
        // `@include` and `@skip` are the directives a field may carry, once each.
        let flood = " @include(if: true) @skip(if: false)";
        let q = aliases(n, |_| format!("head{flood} {{ seq{flood} }}"));
        graphql_body(&format!("{q}\n# request {i}"))
    });
    vec![
        ("coverage aliases", coverage, 16_384),
        ("report aliases", reports, 16_384),
        ("event pages", events, 64),
        ("deep introspection", introspection, 1_024),
        ("directive flood", directives, 8_192),
    ]
}

/// The largest size of a kind the server still executes, halving from `from` (0 if none),
/// and how long one request of that size took, alone.
async fn fit(addr: SocketAddr, token: &str, make: impl Fn(usize) -> Hostile, from: usize) -> (usize, Duration) {
    let mut c = Connection::open(addr, token).await.expect("a connection");
    let mut n = from;
    while n > 0 {
        let request = make(n);
        if matches!(&request, Hostile::Get(path) if path.len() > MAX_TARGET) {
            n /= 2;
            continue;
        }
        let started = Instant::now();
        let (status, body) = request.send(&mut c).await.expect("an answer");
        if executed(status, &body) {
            return (n, started.elapsed());
        }
        n /= 2;
    }
    (0, Duration::ZERO)
}

/// A report as CSV (`GET /reports/NAME.csv`), another at each request: admissions and
/// coverage at moving dates.
fn csv_report(i: u64) -> Hostile {
    let d = day(i * 7919);
    Hostile::Get(if i.is_multiple_of(2) {
        format!("/reports/admissions.csv?from-year=1990&to-year=2030&date={d}")
    } else {
        format!("/reports/coverage.csv?date={d}")
    })
}

/// The fragment bomb: `{ ...F0 }`, `Fi` spreading `Fi+1` twice, 40 levels.
fn fragment_bomb() -> Bytes {
    let mut q = String::from("query { ...F0 }");
    for i in 0..40 {
        q.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
    }
    q.push_str(" fragment F40 on Query { head { seq } }");
    graphql_body(&q)
}

/// A body just under `max_body`: a query padded by a comment, or a huge string variable.
fn near_cap(i: u64, max_body: usize) -> Bytes {
    let room = max_body - 200;
    if i.is_multiple_of(2) {
        graphql_body(&format!("{{ head {{ seq }} }} #{}", "x".repeat(room)))
    } else {
        Bytes::from(
            json!({"query": "query($x: String) { head { seq } }", "variables": {"x": "y".repeat(room)}}).to_string(),
        )
    }
}

/// What one hostile client got through.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    ok: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    busy_micros: AtomicU64,
}

impl Tally {
    /// Counts an HTTP request sent at `started`: answered, refused or failed.
    fn record(&self, started: Instant, outcome: &Result<(StatusCode, Bytes), String>) {
        let counter = match outcome {
            Ok((StatusCode::OK, body)) if memchr::memmem::find(body, b"\"errors\"").is_none() => &self.ok,
            Ok(_) => &self.refused,
            Err(_) => &self.failed,
        };
        self.count(started, counter);
    }

    /// Counts a request sent at `started` under `counter` (one of this tally's).
    fn count(&self, started: Instant, counter: &AtomicU64) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends `make(i)` back to back until `stop`.
async fn hostile_http(addr: SocketAddr, token: String, make: Client, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let mut connection: Option<Connection> = None;
    let mut i = 1;
    while !stop.load(Ordering::Relaxed) {
        if connection.is_none() {
            match Connection::open(addr, &token).await {
                Ok(c) => connection = Some(c),
                Err(_) => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let started = Instant::now();
        let outcome = make(i).send(connection.as_mut().expect("opened")).await;
        if outcome.is_err() {
            connection = None;
        }
        tally.record(started, &outcome);
        i += 1;
    }
}

/// Opens WebSockets that never send `connection_init`, holding `HELD_SOCKETS` at a time.
async fn never_init(addr: SocketAddr, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let url = format!("ws://{addr}/graphql/ws");
    let mut held = std::collections::VecDeque::new();
    while !stop.load(Ordering::Relaxed) {
        let mut request = url.as_str().into_client_request().expect("a WebSocket URL");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let started = Instant::now();
        let outcome = tokio_tungstenite::connect_async(request).await;
        tally.sent.fetch_add(1, Ordering::Relaxed);
        tally
            .busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match outcome {
            Ok((socket, _)) => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
                held.push_back(socket);
                if held.len() > HELD_SOCKETS {
                    held.pop_front();
                }
            }
            Err(_) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Sends the GraphQL request of `make(i)` (a POST body) as a query over one
/// graphql-transport-ws socket, back to back until `stop`: each waits for its `complete`.
async fn hostile_ws(addr: SocketAddr, token: String, make: Bodies, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::Message;
    let mut request = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .expect("a WebSocket URL");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // The answers are large (an aliased introspection walk is about 28 MB): no bound on a
    // message, so that the socket reads what the server sends.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let mut socket = match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
        Ok((socket, _)) => socket,
        Err(e) => {
            eprintln!("a hostile socket could not open: {e}");
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    if socket.send(Message::text(init.to_string())).await.is_err() {
        tally.failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut i = 1;
    let mut sent_at: Option<Instant> = None;
    let mut errors = false;
    loop {
        let frame = match socket.next().await {
            Some(Ok(frame)) => frame,
            ended => {
                eprintln!("a hostile socket ended after {} operations: {ended:?}", i - 1);
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(close) => {
                eprintln!("a hostile socket was closed after {} operations: {close:?}", i - 1);
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            _ => continue,
        };
        let message: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
        match message["type"].as_str() {
            Some("connection_ack") => {}
            Some("next") => errors |= message["payload"].get("errors").is_some(),
            Some("complete") | Some("error") => {
                let started = sent_at.take().expect("an operation was sent");
                let refused = errors || message["type"] == "error";
                tally.count(started, if refused { &tally.refused } else { &tally.ok });
                errors = false;
                i += 1;
            }
            Some("ping") => {
                let _ = socket.send(Message::text(json!({"type": "pong"}).to_string())).await;
                continue;
            }
            _ => {}
        }
        if sent_at.is_none() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let body: Value = serde_json::from_slice(&make(i)).expect("a body the bench made");
            let subscribe = json!({"id": i.to_string(), "type": "subscribe", "payload": body});
            sent_at = Some(Instant::now());
            if socket.send(Message::text(subscribe.to_string())).await.is_err() {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// The legitimate client: `{ head { seq } }` back to back on one connection for the warm-up
/// and `timed`; the timed latencies, sorted, and the failures.
fn legitimate(addr: SocketAddr, token: &str, timed: Duration) -> (Vec<Duration>, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the legitimate client's runtime");
    runtime.block_on(async {
        let mut c = Connection::open(addr, token).await.expect("a connection");
        let body = graphql_body("{ head { seq } }");
        let timed_from = Instant::now() + WARM_UP;
        let end = timed_from + timed;
        let (mut latencies, mut failed) = (Vec::new(), 0);
        while Instant::now() < end {
            let started = Instant::now();
            match c.post(body.clone()).await {
                Ok((status, answer))
                    if status == StatusCode::OK && answer.starts_with(b"{\"data\":{\"head\":{\"seq\":") =>
                {
                    if started >= timed_from {
                        latencies.push(started.elapsed());
                    }
                }
                _ => {
                    failed += 1;
                    c = Connection::open(addr, token).await.expect("a connection");
                }
            }
        }
        latencies.sort_unstable();
        (latencies, failed)
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    if let Some(arg) = std::env::args().skip(1).find(|a| a != "--bench") {
        eprintln!("hostile bench: unknown argument {arg:?}; set ORGLEDGER_BENCH_SECS for the seconds per phase");
        std::process::exit(2);
    }
    let timed = timed_seconds();
    let run = Instant::now();
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let data = scratch.path().join("demo");
    let (demo_events, _) = orgledger::demo::write_demo(&data).expect("the demo ledger is written");
    let ledger = Arc::new(loop {
        match Ledger::open(&data, LedgerOptions::default()) {
            Err(StoreError::InUse(_)) => std::thread::sleep(Duration::from_millis(10)),
            other => break other.expect("the demo ledger opens"),
        }
    });
    let legit_token = tokens::add(&data, "bench-legit", Role::Reader).expect("a token");
    let hostile_token = tokens::add(&data, "bench-hostile", Role::Reader).expect("a token");
    let limits = ServerLimits::default();
    let max_body = limits.max_body;

    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .build()
        .expect("the server runtime");
    let hostile_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(1)
        .thread_name("hostile")
        .build()
        .expect("the hostile runtime");
    let listener = server_runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServerConfig {
        ledger: ledger.clone(),
        tokens: Arc::new(Tokens::open(&data).expect("the tokens open")),
        public_read: false,
        limits,
        checkpoint_key: None,
        checkpoints: Default::default(),
        follows: None,
        cosigning: None,
        listening: Default::default(),
    };
    let server = server_runtime.spawn(orgledger::server::run(listener, config, async move {
        let _ = stopped.await;
    }));

    println!("orgledger hostile-load benchmark (cargo bench --bench hostile)");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cores} cores; load average at start {}", loadavg());
    println!("ledger: the demo, {demo_events} events; server runtime with one worker per core");
    println!(
        "{:.0}s warm-up + {}s timed per phase",
        WARM_UP.as_secs_f64(),
        timed.as_secs_f64()
    );
    println!();

    // Fit each amplified query to the largest size the server still executes.
    // The heaviest two again over GET, their query in the URL, fitted under its length.
    let kinds = fitted_kinds();
    let mut fitted: Vec<(String, Client)> = Vec::new();
    let mut over_sockets: Vec<(String, Bodies)> = Vec::new();
    for (name, make, from) in kinds {
        let over_get = ["report aliases", "deep introspection"].contains(&name);
        let (n, took) = hostile_runtime.block_on(fit(addr, &hostile_token, |n| Hostile::Post(make(0, n)), from));
        println!(
            "fitted {name:<28} {n:>6} aliases, {:>8} bytes, executed alone in {:>8.1} ms",
            make(0, n).len(),
            ms(took)
        );
        if n == 0 {
            continue;
        }
        if over_get {
            let get = |n| Hostile::Get(get_target(&make(0, n)));
            let (g, took) = hostile_runtime.block_on(fit(addr, &hostile_token, get, n));
            let shown = format!("{name} over GET");
            let target = get_target(&make(0, g)).len();
            println!(
                "fitted {shown:<28} {g:>6} aliases, {target:>8} bytes, executed alone in {:>8.1} ms",
                ms(took)
            );
            if g > 0 {
                let make = make.clone();
                fitted.push((shown, Arc::new(move |i| Hostile::Get(get_target(&make(i, g))))));
            }
            // And over a WebSocket, where a query has no URL to fit: the POST's size.
            let make = make.clone();
            over_sockets.push((format!("{name} over WebSocket"), Arc::new(move |i| make(i, n))));
        }
        fitted.push((name.to_owned(), Arc::new(move |i| Hostile::Post(make(i, n)))));
    }
    println!();

    // Phase 1: the legitimate client alone.
    let (alone, alone_failed) = legitimate(addr, &legit_token, timed);

    // Phase 2: the same under the hostile clients.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tallies: Vec<(String, Arc<Tally>)> = Vec::new();
    let mut handles = Vec::new();
    let mut spawn_http = |name: &str, make: Client| {
        let tally = Arc::new(Tally::default());
        tallies.push((name.to_owned(), tally.clone()));
        handles.push(hostile_runtime.spawn(hostile_http(addr, hostile_token.clone(), make, tally, stop.clone())));
    };
    let bomb = fragment_bomb();
    spawn_http("fragment bomb", Arc::new(move |_| Hostile::Post(bomb.clone())));
    for (name, make) in fitted {
        spawn_http(&name, make);
    }
    spawn_http(
        "near 2 MiB bodies",
        Arc::new(move |i| Hostile::Post(near_cap(i, max_body))),
    );
    spawn_http("CSV reports", Arc::new(csv_report));
    for (name, make) in over_sockets {
        let tally = Arc::new(Tally::default());
        tallies.push((name, tally.clone()));
        handles.push(hostile_runtime.spawn(hostile_ws(addr, hostile_token.clone(), make, tally, stop.clone())));
    }
    let ws_tally = Arc::new(Tally::default());
    tallies.push(("never-init WebSockets".to_owned(), ws_tally.clone()));
    handles.push(hostile_runtime.spawn(never_init(addr, ws_tally, stop.clone())));
    let hostile_clients = handles.len();
    let (loaded, loaded_failed) = legitimate(addr, &legit_token, timed);
    stop.store(true, Ordering::Relaxed);
    let load_at_end = loadavg();
    // A hostile request in flight may take a while; the server's stop waits for it too.
    hostile_runtime.shutdown_timeout(Duration::from_secs(1));

    println!("hostile clients ({hostile_clients}) during the loaded phase (warm-up included):");
    println!(
        "{:<30} {:>8} {:>8} {:>8} {:>8} {:>12}",
        "client", "sent", "answered", "refused", "failed", "mean ms"
    );
    for (name, t) in &tallies {
        let sent = t.sent.load(Ordering::Relaxed);
        println!(
            "{:<30} {:>8} {:>8} {:>8} {:>8} {:>12.1}",
            name,
            sent,
            t.ok.load(Ordering::Relaxed),
            t.refused.load(Ordering::Relaxed),
            t.failed.load(Ordering::Relaxed),
            t.busy_micros.load(Ordering::Relaxed) as f64 / 1e3 / sent.max(1) as f64
        );
    }
    println!();
    println!(
        "{:<34} {:>9} {:>7} {:>8} {:>8} {:>8}",
        "legitimate { head { seq } }", "requests", "failed", "p50 ms", "p99 ms", "max ms"
    );
    for (name, l, failed) in [
        ("alone", &alone, alone_failed),
        ("under the hostile load", &loaded, loaded_failed),
    ] {
        println!(
            "{:<34} {:>9} {:>7} {:>8.2} {:>8.2} {:>8.2}",
            name,
            l.len(),
            failed,
            ms(percentile(l, 0.50)),
            ms(percentile(l, 0.99)),
            ms(l.last().copied().unwrap_or_default())
        );
    }
    let p99 = percentile(&loaded, 0.99);
    println!();
    println!(
        "ratio p99 loaded / p99 alone: {:.1}; p50: {:.1}",
        ms(p99) / ms(percentile(&alone, 0.99)).max(1e-9),
        ms(percentile(&loaded, 0.50)) / ms(percentile(&alone, 0.50)).max(1e-9)
    );
    println!(
        "p99 under the hostile load: {:.2} ms (target < {} ms) {}",
        ms(p99),
        P99_TARGET.as_millis(),
        if p99 < P99_TARGET { "MET" } else { "MISSED" }
    );
    println!("load average at the end of the loaded phase {load_at_end}");

    let _ = stop_server.send(());
    let _ = server_runtime.block_on(async { tokio::time::timeout(Duration::from_secs(60), server).await });
    drop(server_runtime);
    println!("total run time {:.0}s", run.elapsed().as_secs_f64());
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.close();
    }
    if alone_failed + loaded_failed > 0 {
        std::process::exit(1);
    }
}
