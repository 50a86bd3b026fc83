//! The live parts of the server, driven through the real thing on a loopback port:
//! subscriptions over WebSocket (`graphql-transport-ws`, spoken by hand with a small client
//! below), the switch from catch-up to live under concurrent appends, access rules on the
//! WebSocket, graceful shutdown (in process and through the `orgledger serve` binary), and
//! the schema file against `orgledger schema` and the served schema.
//!
//! Every wait is bounded (`PATIENCE`), so a server that stops answering fails a test instead
//! of hanging it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::*;
use futures_util::{SinkExt, StreamExt};
use orgledger::event::{Id, Submission};
use orgledger::ledger::Ledger;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// The longest any single wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// How long a subscriber listens for a message that must not come (a repeat, an event the
/// filter should have dropped). Long enough for the server to have sent it had it meant to.
const QUIET: Duration = Duration::from_millis(400);

/// The number of events in examples/trung-khanh-2005.jsonl.
const FIXTURE_EVENTS: u64 = 12;

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`].
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
}

// ---------------------------------------------------------------------------------------
// A graphql-transport-ws client, spoken by hand so the test sees every message exchanged.
// ---------------------------------------------------------------------------------------

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// What the server sent next on a WebSocket.
#[derive(Debug)]
enum Heard {
    /// A protocol message: `connection_ack`, `next`, `error`, `complete`, `pong`.
    Message(Value),
    /// A close frame, with its code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame, or failed (the error's text).
    Ended(String),
}

/// One WebSocket connection speaking `graphql-transport-ws`.
struct TransportWs {
    socket: Socket,
}

impl TransportWs {
    /// Upgrades to a WebSocket asking for `graphql-transport-ws`, and checks that the server
    /// chose that protocol.
    async fn connect(url: &str) -> TransportWs {
        let request = TransportWs::upgrade_request(url, None);
        let (socket, response) = within("the WebSocket upgrade", connect_async(request))
            .await
            .expect("the server upgrades to a WebSocket");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap()),
            Some("graphql-transport-ws"),
            "the server must choose the protocol the client asked for"
        );
        TransportWs { socket }
    }

    fn upgrade_request(
        url: &str,
        authorization: Option<&str>,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        let mut request = url.into_client_request().expect("a WebSocket URL");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        if let Some(value) = authorization {
            request
                .headers_mut()
                .insert("Authorization", HeaderValue::from_str(value).unwrap());
        }
        request
    }

    /// Connects and sends `connection_init` with the token, if any, in the payload; the
    /// answer must be `connection_ack`.
    async fn open(url: &str, token: Option<&str>) -> TransportWs {
        let mut ws = TransportWs::connect(url).await;
        ws.init(token).await;
        match ws.hear().await {
            Heard::Message(m) if m["type"] == "connection_ack" => ws,
            other => panic!("connection_init with token {token:?}: expected connection_ack, heard {other:?}"),
        }
    }

    /// Sends `connection_init`: `{"Authorization": "Bearer <token>"}` with a token, an empty
    /// payload without.
    async fn init(&mut self, token: Option<&str>) {
        let payload = match token {
            Some(t) => json!({"Authorization": format!("Bearer {t}")}),
            None => json!({}),
        };
        self.send(json!({"type": "connection_init", "payload": payload})).await;
    }

    async fn send(&mut self, message: Value) {
        within(
            "sending on the WebSocket",
            self.socket.send(Message::text(message.to_string())),
        )
        .await
        .expect("the WebSocket takes the message");
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": {"query": query, "variables": variables},
        }))
        .await;
    }

    /// The next thing the server sends, within [`PATIENCE`].
    async fn hear(&mut self) -> Heard {
        match self.hear_within(PATIENCE).await {
            Some(heard) => heard,
            None => panic!("the server sent nothing within {PATIENCE:?}"),
        }
    }

    /// The next thing the server sends, or `None` when it stays silent for `wait`. Protocol
    /// pings are answered with a pong and WebSocket ping and pong frames are skipped, as a
    /// client must; neither counts as something heard.
    async fn hear_within(&mut self, wait: Duration) -> Option<Heard> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return None,
                Ok(frame) => frame,
            };
            match frame {
                None => return Some(Heard::Ended("the stream ended".into())),
                Some(Err(e)) => return Some(Heard::Ended(e.to_string())),
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("the server sent text that is not JSON ({e}): {text}"));
                    if message["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Some(Heard::Message(message));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(match frame {
                        Some(f) => Heard::Closed(u16::from(f.code), f.reason.to_string()),
                        None => Heard::Closed(1005, String::new()),
                    })
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("the server sent a frame graphql-transport-ws does not use: {other:?}"),
            }
        }
    }

    /// The payload of the next `next` message, which must be for subscription `id`.
    async fn next_payload(&mut self, id: &str) -> Value {
        match self.hear().await {
            Heard::Message(m) if m["type"] == "next" && m["id"] == id => m["payload"].clone(),
            other => panic!("subscription {id}: expected a `next` message, heard {other:?}"),
        }
    }

    /// The next event of an `events` subscription: its `data.events`, with no errors.
    async fn next_event(&mut self, id: &str) -> Value {
        let payload = self.next_payload(id).await;
        assert!(
            payload.get("errors").is_none(),
            "subscription {id}: errors in {payload}"
        );
        payload["data"]["events"].clone()
    }

    /// Asserts that the server sends nothing for a while.
    async fn assert_silent(&mut self, why: &str) {
        if let Some(heard) = self.hear_within(QUIET).await {
            panic!("{why}, yet the server sent {heard:?}");
        }
    }

    /// The errors of a refused operation. The protocol has two ways to say it: an `error`
    /// message whose payload is the list of errors, or a `next` whose payload carries
    /// `errors` (which `complete` then follows); either is taken, and the operation must
    /// not stay open afterwards.
    async fn refusal(&mut self, id: &str) -> Vec<Value> {
        let errors = match self.hear().await {
            Heard::Message(m) if m["type"] == "error" && m["id"] == id => {
                eprintln!("operation {id}: the server sent {m}");
                m["payload"].as_array().expect("an error payload is a list").clone()
            }
            Heard::Message(m) if m["type"] == "next" && m["id"] == id => {
                eprintln!("operation {id}: the server sent {m}");
                let errors = m["payload"]["errors"]
                    .as_array()
                    .cloned()
                    .unwrap_or_else(|| panic!("operation {id}: expected a refusal, heard data: {m}"));
                match self.hear().await {
                    Heard::Message(c) if c["type"] == "complete" && c["id"] == id => {}
                    other => panic!("operation {id}: expected `complete` after the errors, heard {other:?}"),
                }
                errors
            }
            other => panic!("operation {id}: expected an error, heard {other:?}"),
        };
        assert!(!errors.is_empty(), "operation {id}: an empty list of errors");
        errors
    }
}

/// The code of an error object.
fn error_code(error: &Value) -> &str {
    error["extensions"]["code"].as_str().unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// Appends: new hamlets under the commune of the fixture.
// ---------------------------------------------------------------------------------------

const APPEND: &str = "mutation ($events: [EventInput!]!) {
    append(events: $events) { events { seq hash } head { seq hash } }
}";

/// A `LocalityRegistered` of a new hamlet under xa-dam-thuy, as an `EventInput`.
fn hamlet_input(locality: &str) -> Value {
    json!({"localityRegistered": {
        "effective": "2026-01-01",
        "locality": locality,
        "name": format!("Xóm {locality}"),
        "kind": "HAMLET",
        "parent": "xa-dam-thuy",
        "border": false,
    }})
}

/// The same event as the ledger takes it directly.
fn hamlet_submission(locality: &str) -> Submission {
    let line = json!({
        "type": "LocalityRegistered",
        "effective": "2026-01-01",
        "locality": locality,
        "name": format!("Xóm {locality}"),
        "kind": "hamlet",
        "parent": "xa-dam-thuy",
        "border": false,
    });
    Submission::from_json(&line.to_string()).expect("a valid LocalityRegistered")
}

/// Appends one hamlet through GraphQL with the clerk token; answers its seq and hash.
async fn append_hamlet(server: &TestServer, locality: &str) -> (u64, String) {
    let data = within(
        "an append over HTTP",
        server.data(&server.clerk, APPEND, json!({"events": [hamlet_input(locality)]})),
    )
    .await;
    let event = &data["append"]["events"][0];
    (
        event["seq"].as_u64().unwrap(),
        event["hash"].as_str().unwrap().to_owned(),
    )
}

/// The types of the fixture's events, in order.
fn fixture_types() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trung-khanh-2005.jsonl"))
        .expect("the example file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. Catch-up, then live.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_the_start_deliver_the_log_then_each_new_event() {
    let server = TestServer::start().await;
    let mut ws = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    ws.subscribe("1", "subscription { events(fromSeq: 1) { seq type } }", json!({}))
        .await;

    let types = fixture_types();
    assert_eq!(types.len() as u64, FIXTURE_EVENTS);
    for (i, expected_type) in types.iter().enumerate() {
        let event = ws.next_event("1").await;
        assert_eq!(
            event,
            json!({"seq": i + 1, "type": expected_type}),
            "catch-up event {}",
            i + 1
        );
    }
    ws.assert_silent("the log holds 12 events and nothing was appended")
        .await;

    for n in 1..=3u64 {
        let (seq, _) = append_hamlet(&server, &format!("xom-live-{n}")).await;
        assert_eq!(seq, FIXTURE_EVENTS + n);
        let event = ws.next_event("1").await;
        assert_eq!(
            event,
            json!({"seq": seq, "type": "LocalityRegistered"}),
            "live event {n}"
        );
    }
    ws.assert_silent("three events were appended and three delivered").await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 2. The switch from catch-up to live under concurrent appends.
// ---------------------------------------------------------------------------------------

const APPENDERS: usize = 4;
const APPENDS_EACH: usize = 25;
/// Each appender waits, before its last appends, until every subscriber has subscribed, so
/// every subscription sees live events whatever the speed of the machine.
const APPENDS_BEFORE_GATE: usize = 20;
const FINAL_HEAD: u64 = FIXTURE_EVENTS + (APPENDERS * APPENDS_EACH) as u64;

/// When a subscriber starts (once the head has reached this seq) and where it starts from,
/// as a function of the head it saw.
struct SubscriberPlan {
    start_at_head: u64,
    from_seq: fn(u64) -> u64,
}

static SUBSCRIBERS: [SubscriberPlan; 4] = [
    SubscriberPlan {
        start_at_head: 25,
        from_seq: |_| 1,
    },
    SubscriberPlan {
        start_at_head: 50,
        from_seq: |_| FIXTURE_EVENTS + 1,
    },
    SubscriberPlan {
        start_at_head: 75,
        from_seq: |head| head - 10,
    },
    // The last one starts once every appender waits at the gate, from the head itself.
    SubscriberPlan {
        start_at_head: FIXTURE_EVENTS + (APPENDERS * APPENDS_BEFORE_GATE) as u64,
        from_seq: |head| head,
    },
];

/// One appender: one event per append, straight to the writer, with a pause between
/// appends so that subscribers open while they run.
async fn run_appender(ledger: Arc<Ledger>, appender: usize, mut subscribed: tokio::sync::watch::Receiver<usize>) {
    let actor = Id::parse(&format!("appender-{appender}")).unwrap();
    for i in 0..APPENDS_EACH {
        if i == APPENDS_BEFORE_GATE {
            within(
                "the subscribers to subscribe",
                subscribed.wait_for(|n| *n == SUBSCRIBERS.len()),
            )
            .await
            .expect("the gate stays open");
        }
        ledger
            .append_async(
                actor.clone(),
                vec![hamlet_submission(&format!("xom-a{appender}-{i}"))],
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("appender {appender}, append {i}: {e}"));
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

/// One subscriber: waits for its moment, subscribes, and collects every event up to the
/// final head, then checks that nothing follows. Answers where it started, the head when it
/// subscribed, and the seqs it received.
async fn run_subscriber(
    url: String,
    token: String,
    ledger: Arc<Ledger>,
    plan: &'static SubscriberPlan,
    number: usize,
    subscribed: Arc<tokio::sync::watch::Sender<usize>>,
) -> (u64, u64, Vec<u64>) {
    let mut head = ledger.watch_head();
    within(
        "the head to reach a subscriber's start",
        head.wait_for(|h| h.seq >= plan.start_at_head),
    )
    .await
    .expect("the ledger stays open");
    let mut ws = TransportWs::open(&url, Some(&token)).await;
    let from_seq = (plan.from_seq)(ledger.head().seq);
    ws.subscribe(
        "live",
        "subscription ($from: Int) { events(fromSeq: $from) { seq hash prev } }",
        json!({"from": from_seq}),
    )
    .await;
    let head_when_subscribed = ledger.head().seq;
    subscribed.send_modify(|n| *n += 1);

    let mut seqs = Vec::new();
    let mut last_hash: Option<String> = None;
    while seqs.last() != Some(&FINAL_HEAD) {
        let event = ws.next_event("live").await;
        let seq = event["seq"].as_u64().expect("a seq");
        // Fail at the first repeat or step back, with what came before it; gaps show once
        // the stream is complete.
        if let Some(&previous) = seqs.last() {
            assert!(
                seq > previous,
                "subscriber {number} (fromSeq {from_seq}): seq {seq} came after {previous}; received so far: {seqs:?}"
            );
        }
        assert!(
            seq <= FINAL_HEAD,
            "subscriber {number}: seq {seq} is past the last append"
        );
        // Each event links to the one before it: what arrives is the log itself.
        if let (Some(hash), true) = (&last_hash, seqs.last() == Some(&(seq - 1))) {
            assert_eq!(
                event["prev"].as_str(),
                Some(hash.as_str()),
                "subscriber {number}: seq {seq}"
            );
        }
        last_hash = event["hash"].as_str().map(str::to_owned);
        seqs.push(seq);
    }
    ws.assert_silent(&format!("subscriber {number} has every event up to the final head"))
        .await;
    (from_seq, head_when_subscribed, seqs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_opened_during_concurrent_appends_miss_and_repeat_nothing() {
    let server = TestServer::start().await;
    let (subscribed_tx, subscribed_rx) = tokio::sync::watch::channel(0usize);
    let subscribed_tx = Arc::new(subscribed_tx);

    let subscribers: Vec<_> = SUBSCRIBERS
        .iter()
        .enumerate()
        .map(|(number, plan)| {
            tokio::spawn(run_subscriber(
                server.ws_url(),
                server.reader.clone(),
                server.ledger.clone(),
                plan,
                number,
                subscribed_tx.clone(),
            ))
        })
        .collect();
    let appenders: Vec<_> = (0..APPENDERS)
        .map(|a| tokio::spawn(run_appender(server.ledger.clone(), a, subscribed_rx.clone())))
        .collect();

    for appender in appenders {
        within("an appender to finish", appender)
            .await
            .expect("the appender succeeds");
    }
    assert_eq!(server.ledger.head().seq, FINAL_HEAD);
    for (number, subscriber) in subscribers.into_iter().enumerate() {
        let (from_seq, head_when_subscribed, seqs) = within("a subscriber to finish", subscriber)
            .await
            .expect("the subscriber succeeds");
        assert!(
            from_seq <= head_when_subscribed,
            "subscriber {number}: fromSeq {from_seq} must lie in the written range (head {head_when_subscribed})"
        );
        assert!(
            head_when_subscribed < FINAL_HEAD,
            "subscriber {number} subscribed after the last append: the switch to live was not exercised"
        );
        let expected: Vec<u64> = (from_seq..=FINAL_HEAD).collect();
        if seqs != expected {
            let missing: Vec<_> = expected.iter().filter(|s| !seqs.contains(s)).collect();
            let mut seen = BTreeSet::new();
            let repeated: Vec<_> = seqs.iter().filter(|s| !seen.insert(**s)).collect();
            panic!(
                "subscriber {number} (fromSeq {from_seq}, subscribed at head {head_when_subscribed}): \
                 missing {missing:?}, repeated {repeated:?}, received in this order: {seqs:?}"
            );
        }
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 3. The `types` filter.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_types_filter_keeps_only_the_listed_types() {
    let server = TestServer::start().await;
    let query = "subscription ($types: [String!]) { events(fromSeq: 1, types: $types) { seq type } }";

    let mut organizations = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    organizations
        .subscribe(
            "orgs",
            query,
            json!({"types": ["OrganizationFounded", "MemberAdmitted"]}),
        )
        .await;
    let mut localities = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    localities
        .subscribe("places", query, json!({"types": ["LocalityRegistered"]}))
        .await;

    // The fixture: localities at 1-5, organizations at 6-9, the admission at 11.
    for (seq, ty) in [
        (6, "OrganizationFounded"),
        (7, "OrganizationFounded"),
        (8, "OrganizationFounded"),
        (9, "OrganizationFounded"),
        (11, "MemberAdmitted"),
    ] {
        assert_eq!(organizations.next_event("orgs").await, json!({"seq": seq, "type": ty}));
    }
    for seq in 1..=5 {
        assert_eq!(
            localities.next_event("places").await,
            json!({"seq": seq, "type": "LocalityRegistered"})
        );
    }

    let (seq, _) = append_hamlet(&server, "xom-filtered").await;
    assert_eq!(
        localities.next_event("places").await,
        json!({"seq": seq, "type": "LocalityRegistered"})
    );
    organizations
        .assert_silent("a LocalityRegistered was appended to a subscription of other types")
        .await;
    localities.assert_silent("one hamlet was appended and delivered").await;

    let mut unknown = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    unknown.subscribe("bad", query, json!({"types": ["NoSuchEvent"]})).await;
    let errors = unknown.refusal("bad").await;
    assert_eq!(error_code(&errors[0]), "BAD_USER_INPUT", "{errors:?}");
    assert!(
        errors[0]["message"].as_str().unwrap_or("").contains("NoSuchEvent"),
        "the message should name the unknown type: {errors:?}"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 4. The head subscription.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_subscription_sends_the_head_then_each_new_one() {
    let server = TestServer::start().await;
    let mut ws = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    ws.subscribe("head", "subscription { head { seq hash } }", json!({}))
        .await;

    let now = server.ledger.head();
    let first = ws.next_payload("head").await;
    assert_eq!(
        first,
        json!({"data": {"head": {"seq": FIXTURE_EVENTS, "hash": now.hash.to_hex()}}})
    );

    let (seq, hash) = append_hamlet(&server, "xom-new-head").await;
    let second = ws.next_payload("head").await;
    assert_eq!(second, json!({"data": {"head": {"seq": seq, "hash": hash}}}));
    assert_eq!(seq, FIXTURE_EVENTS + 1);
    ws.assert_silent("the head moved once").await;
    server.stop().await;
}

/// A server with witnesses publishes checkpoints cosigned by a quorum of them: at `GET
/// /checkpoint`, in `cosignedCheckpoint`, and on the `checkpoints` subscription, one for each
/// new head. A witness that takes each request and never answers delays nothing: appends
/// return while it holds a request, and checkpoints go on with the quorum of the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_published_cosigned_and_a_witness_that_never_answers_blocks_nothing() {
    use orgledger::checkpoint::{self, Checkpoint, Cosigned, KeyType, SigningKey, VerifierKey};
    use orgledger::server::Checkpointing;
    use orgledger::witness::{self, Endpoint, Witness};

    // The honest witness's listener first (its URL goes into the server's configuration),
    // served once the server's key is known.
    let witness_dir = tempfile::tempdir().unwrap();
    let witness_key = witness::init(witness_dir.path(), "witness.test/honest").unwrap();
    let honest = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let honest_url = format!("http://{}", honest.local_addr().unwrap());
    // A witness that reads each request and never answers; it tells when one came.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let (came_tx, mut came) = tokio::sync::mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
            let _ = came_tx.send(());
        }
    });
    let silent_key = SigningKey::from_seed_of("witness.test/silent", KeyType::Cosigner, [4; 32]).unwrap();
    let server = TestServer::start_with(Setup {
        checkpoints: Checkpointing {
            interval: Duration::from_millis(20),
            witnesses: vec![
                Endpoint {
                    url: honest_url,
                    key: witness_key.verifier(),
                },
                Endpoint {
                    url: silent_url,
                    key: silent_key.verifier(),
                },
            ],
            quorum: 1,
            witness_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..Setup::default()
    })
    .await;
    let ledger_key = VerifierKey::parse(&server.checkpoint_verifier).unwrap();
    let witness = Arc::new(Witness::open(witness_dir.path(), vec![ledger_key.clone()]).unwrap());
    tokio::spawn(async move { axum::serve(honest, witness::router(witness)).await });

    let mut ws = TransportWs::open(&server.ws_url(), Some(&server.auditor)).await;
    ws.subscribe("cp", "subscription { checkpoints { size text cosigners } }", json!({}))
        .await;
    let first = ws.next_payload("cp").await;
    let first = &first["data"]["checkpoints"];
    assert_eq!(first["size"], FIXTURE_EVENTS, "{first}");
    assert_eq!(first["cosigners"].as_array().unwrap().len(), 1, "{first}");
    let text = first["text"].as_str().unwrap();
    Checkpoint::open(text, &ledger_key).unwrap();
    assert_eq!(
        checkpoint::cosignatures(text, &[witness_key.verifier(), silent_key.verifier()]).unwrap(),
        vec![
            Cosigned::Valid {
                time: checkpoint_time(text, &witness_key.verifier())
            },
            Cosigned::Missing
        ]
    );

    // The silent witness holds a request: appends still return, and the next checkpoint
    // comes, cosigned by the honest one.
    within("the silent witness is asked", came.recv()).await;
    let (seq, _) = within(
        "an append while a witness holds a request",
        append_hamlet(&server, "xom-witnessed"),
    )
    .await;
    let next = ws.next_payload("cp").await;
    assert_eq!(next["data"]["checkpoints"]["size"], seq, "{next}");
    let served = server
        .http
        .get(format!("{}/checkpoint", server.base))
        .bearer_auth(&server.auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    let served = served.text().await.unwrap();
    assert_eq!(served, next["data"]["checkpoints"]["text"].as_str().unwrap());
    let data = server
        .data(&server.auditor, "{ cosignedCheckpoint { size cosigners } }", json!({}))
        .await;
    assert_eq!(data["cosignedCheckpoint"]["size"], seq);
    assert_eq!(
        data["cosignedCheckpoint"]["cosigners"][0].as_str().unwrap(),
        format!("witness.test/honest+{:08x}", witness_key.key_id())
    );
    server.stop().await;
}

/// The time of `witness`'s cosignature on `note`.
fn checkpoint_time(note: &str, witness: &orgledger::checkpoint::VerifierKey) -> u64 {
    match orgledger::checkpoint::cosignatures(note, std::slice::from_ref(witness)).unwrap()[0] {
        orgledger::checkpoint::Cosigned::Valid { time } => time,
        ref other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// 5. Access over WebSocket.
// ---------------------------------------------------------------------------------------

/// Sends `connection_init` (with `token`) and at once a subscription, without waiting for
/// the ack, and asserts that the server refuses the connection: it closes it, and nothing
/// else (no ack, no event) comes first. Answers the close code and reason.
async fn assert_refused(url: &str, token: Option<&str>) -> (u16, String) {
    let mut ws = TransportWs::connect(url).await;
    ws.init(token).await;
    ws.subscribe("sneak", "subscription { events(fromSeq: 1) { seq } }", json!({}))
        .await;
    match ws.hear().await {
        Heard::Closed(code, reason) => {
            eprintln!("connection_init with token {token:?}: the server closed with {code} {reason:?}");
            if let Some(after) = ws.hear_within(QUIET).await {
                match after {
                    Heard::Ended(_) => {}
                    other => panic!("after closing, the server still sent {other:?}"),
                }
            }
            (code, reason)
        }
        other => panic!("connection_init with token {token:?}: expected the server to close, heard {other:?}"),
    }
}

/// The close code that refuses a connection's token: 4403 (Forbidden), as
/// graphql-transport-ws says (async-graphql 7.2 alone would send 1002, a protocol error).
const FORBIDDEN: u16 = 4403;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_without_a_token_is_refused() {
    let server = TestServer::start().await;
    let (code, reason) = assert_refused(&server.ws_url(), None).await;
    assert_eq!(code, FORBIDDEN, "{reason:?}");
    assert!(
        reason.contains("needs a token"),
        "the reason should say a token is needed: {reason:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_with_an_unknown_or_revoked_token_is_refused() {
    let server = TestServer::start().await;
    let (code, reason) = assert_refused(&server.ws_url(), Some("olt_not-a-token-of-this-server")).await;
    assert_eq!(code, FORBIDDEN, "{reason:?}");
    assert!(reason.contains("unknown or revoked"), "{reason:?}");

    // A token revoked while the server runs is refused on the next connection.
    TransportWs::open(&server.ws_url(), Some(&server.auditor)).await;
    orgledger::tokens::revoke(server.data.path(), "auditor-1").expect("revoke");
    let (code, reason) = assert_refused(&server.ws_url(), Some(&server.auditor)).await;
    assert_eq!(code, FORBIDDEN, "{reason:?}");
    assert!(reason.contains("unknown or revoked"), "{reason:?}");

    // A bad token on the upgrade request itself is refused before the upgrade, with 401.
    let request = TransportWs::upgrade_request(&server.ws_url(), Some("Bearer olt_not-a-token"));
    match within("the WebSocket upgrade", connect_async(request)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        Err(other) => panic!("expected an HTTP 401 refusal, got {other}"),
        Ok(_) => panic!("the upgrade with an unknown token was accepted"),
    }
    server.stop().await;
}

/// graphql-transport-ws: a socket whose `connection_init` does not come within the timeout
/// is closed with 4408. The timeout is set short here; the test waits (at most PATIENCE)
/// for the close, and never asserts how soon it came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_without_connection_init_is_closed_with_4408() {
    let server = TestServer::start_with(Setup {
        limits: orgledger::server::ServerLimits {
            init_timeout: Duration::from_millis(100),
            ..Default::default()
        },
        ..Setup::default()
    })
    .await;
    let mut silent = TransportWs::connect(&server.ws_url()).await;
    match silent.hear().await {
        Heard::Closed(code, reason) => {
            assert_eq!((code, reason.as_str()), (4408, "Connection initialisation timeout"))
        }
        other => panic!("expected the server to close the socket, heard {other:?}"),
    }
    // A socket that did send it in time stays open past the timeout and goes on serving.
    let mut open = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    open.assert_silent("an initialised socket is left open").await;
    open.subscribe("head", "subscription { head { seq } }", json!({})).await;
    assert_eq!(
        open.next_payload("head").await,
        json!({"data": {"head": {"seq": FIXTURE_EVENTS}}})
    );
    // The default the README states.
    assert_eq!(
        orgledger::server::ServerLimits::default().init_timeout,
        Duration::from_secs(10)
    );
    server.stop().await;
}

/// The fragment bomb (each of 30 fragments spreads the next twice) is measured before
/// anything walks it over a WebSocket as over HTTP: refused at once, and the socket goes on
/// serving. A hang fails the test after PATIENCE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_bomb_over_the_websocket_is_refused_at_once() {
    let server = TestServer::start().await;
    let mut ws = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    let mut bomb = "{ ...Q0 }".to_owned();
    for i in 0..30 {
        bomb.push_str(&format!(" fragment Q{i} on Query {{ ...Q{} ...Q{} }}", i + 1, i + 1));
    }
    bomb.push_str(" fragment Q30 on Query { head { seq } }");
    ws.subscribe("bomb", &bomb, json!({})).await;
    let errors = ws.refusal("bomb").await;
    assert_eq!(error_code(&errors[0]), "BAD_USER_INPUT", "{errors:?}");
    let message = errors[0]["message"].as_str().unwrap_or("");
    assert!(message.starts_with("the query expands too much"), "{errors:?}");
    ws.subscribe("head", "subscription { head { seq } }", json!({})).await;
    assert_eq!(
        ws.next_payload("head").await,
        json!({"data": {"head": {"seq": FIXTURE_EVENTS}}})
    );
    within("the server stops", server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_may_subscribe_but_not_append_over_the_websocket() {
    let server = TestServer::start().await;
    let mut ws = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    ws.subscribe("head", "subscription { head { seq } }", json!({})).await;
    assert_eq!(
        ws.next_payload("head").await,
        json!({"data": {"head": {"seq": FIXTURE_EVENTS}}})
    );

    ws.subscribe("write", APPEND, json!({"events": [hamlet_input("xom-by-reader")]}))
        .await;
    let errors = ws.refusal("write").await;
    assert_eq!(error_code(&errors[0]), "FORBIDDEN", "{errors:?}");
    assert_eq!(
        server.ledger.head().seq,
        FIXTURE_EVENTS,
        "a refused append appends nothing"
    );

    // The same mutation with a clerk token goes through over the WebSocket.
    let mut clerk = TransportWs::open(&server.ws_url(), Some(&server.clerk)).await;
    clerk
        .subscribe("write", APPEND, json!({"events": [hamlet_input("xom-by-clerk")]}))
        .await;
    let answer = clerk.next_payload("write").await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(answer["data"]["append"]["head"]["seq"], json!(FIXTURE_EVENTS + 1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_while_its_websocket_is_open_stops_working_there() {
    let server = TestServer::start().await;
    let mut clerk = TransportWs::open(&server.ws_url(), Some(&server.clerk)).await;
    clerk
        .subscribe("events", "subscription { events { seq } }", json!({}))
        .await;
    clerk.assert_silent("nothing is appended yet").await;
    // A query on the socket reads while the token holds.
    clerk.subscribe("read", "{ head { seq } }", json!({})).await;
    assert_eq!(
        clerk.next_payload("read").await,
        json!({"data": {"head": {"seq": FIXTURE_EVENTS}}})
    );
    match clerk.hear().await {
        Heard::Message(m) if m["type"] == "complete" && m["id"] == "read" => {}
        other => panic!("expected the query to complete, heard {other:?}"),
    }

    orgledger::tokens::revoke(server.data.path(), "clerk-1").expect("revoke");

    // A new operation on the open socket is refused, and appends nothing.
    clerk
        .subscribe("write", APPEND, json!({"events": [hamlet_input("xom-after-revoke")]}))
        .await;
    let errors = clerk.refusal("write").await;
    assert_eq!(error_code(&errors[0]), "UNAUTHENTICATED", "{errors:?}");
    assert_eq!(server.ledger.head().seq, FIXTURE_EVENTS);
    // So is a new query: it reads nothing once the token is revoked.
    clerk.subscribe("read-again", "{ head { seq } }", json!({})).await;
    let errors = clerk.refusal("read-again").await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(error_code(&errors[0]), "UNAUTHENTICATED", "{errors:?}");
    assert_eq!(
        errors[0]["message"],
        json!("the token of this connection has been revoked")
    );

    // The running subscription ends with the same error at its next event instead of
    // delivering it.
    server
        .data(
            &server.admin,
            APPEND,
            json!({"events": [hamlet_input("xom-appended-by-admin")]}),
        )
        .await;
    let errors = clerk.refusal("events").await;
    assert_eq!(error_code(&errors[0]), "UNAUTHENTICATED", "{errors:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_read_opens_subscriptions_without_a_token_but_not_appends() {
    let server = TestServer::start_with(Setup {
        public_read: true,
        ..Setup::default()
    })
    .await;
    let mut ws = TransportWs::open(&server.ws_url(), None).await;
    ws.subscribe("1", "subscription { events(fromSeq: 1) { seq } }", json!({}))
        .await;
    for seq in 1..=FIXTURE_EVENTS {
        assert_eq!(ws.next_event("1").await, json!({"seq": seq}));
    }

    ws.subscribe("write", APPEND, json!({"events": [hamlet_input("xom-anonymous")]}))
        .await;
    let errors = ws.refusal("write").await;
    assert_eq!(error_code(&errors[0]), "UNAUTHENTICATED", "{errors:?}");
    assert_eq!(server.ledger.head().seq, FIXTURE_EVENTS);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 6. Graceful shutdown.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_ends_open_subscriptions() {
    let server = TestServer::start().await;
    let mut ws = TransportWs::open(&server.ws_url(), Some(&server.reader)).await;
    ws.subscribe("1", "subscription { events(fromSeq: 1) { seq } }", json!({}))
        .await;
    for seq in 1..=FIXTURE_EVENTS {
        assert_eq!(ws.next_event("1").await, json!({"seq": seq}));
    }

    within("the server to stop", server.stop()).await;

    // The subscription ends: a `complete`, a close frame, or the connection itself ending.
    let mut heard = Vec::new();
    loop {
        let Some(next) = ws.hear_within(PATIENCE).await else {
            panic!("the subscription was still open {PATIENCE:?} after the server stopped (heard {heard:?})")
        };
        match next {
            Heard::Message(m) if m["type"] == "complete" && m["id"] == "1" => heard.push(m.to_string()),
            Heard::Message(m) => panic!("after the stop, the server sent {m} (before: {heard:?})"),
            Heard::Closed(code, reason) => {
                heard.push(format!("close {code} {reason:?}"));
                break;
            }
            Heard::Ended(why) => {
                heard.push(format!("ended: {why}"));
                break;
            }
        }
    }
    eprintln!("the subscription ended with: {heard:?}");
}

/// A child process killed when the test ends, so a failing test leaves no server behind.
struct ServeProcess(Child);

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn orgledger(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("the orgledger binary runs")
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_binary_stops_on_sigterm_with_its_appends_durable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trung-khanh-2005.jsonl");
    let appended = orgledger(&data, &["append", example.to_str().unwrap()]);
    assert!(
        appended.status.success(),
        "append: {}",
        String::from_utf8_lossy(&appended.stderr)
    );
    let token_out = orgledger(&data, &["token", "add", "--name", "clerk-x", "--role", "clerk"]);
    assert!(
        token_out.status.success(),
        "token add: {}",
        String::from_utf8_lossy(&token_out.stderr)
    );
    let token = stdout_of(&token_out).trim().to_owned();
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "token add printed {token:?}"
    );

    let log_path = dir.path().join("serve.stderr");
    let mut server = ServeProcess(
        Command::new(env!("CARGO_BIN_EXE_orgledger"))
            .arg("--data")
            .arg(&data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).expect("a log file"))
            .spawn()
            .expect("serve starts"),
    );
    let server_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Read stdout on a thread: the line may be slow to come, and every wait is bounded.
    let stdout = server.0.stdout.take().expect("piped stdout");
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let graphql_url = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match line_rx.recv_timeout(wait) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix("listening on ") {
                    break url.trim().to_owned();
                }
            }
            Err(e) => panic!("serve printed no `listening on` line ({e}); its log:\n{}", server_log()),
        }
    };
    assert!(
        graphql_url.starts_with("http://127.0.0.1:") && graphql_url.ends_with("/graphql"),
        "{graphql_url}"
    );

    // While the server holds the store, a CLI command on it fails at once and says why.
    let started = Instant::now();
    let export = orgledger(&data, &["export"]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&export.stderr);
    assert_eq!(export.status.code(), Some(2), "export while serving: {stderr}");
    assert!(
        stderr.contains("in use"),
        "export while serving should say the store is in use: {stderr}"
    );
    assert!(
        stderr.contains("`orgledger serve`") && stderr.contains(&graphql_url),
        "the refusal should name the server that holds the store, and where it serves: {stderr}"
    );
    assert!(took < Duration::from_secs(5), "export took {took:?} to give up");

    // A subscription stays open across the SIGTERM: the server must end it, not wait on it.
    let ws_url = format!("{}/ws", graphql_url.replace("http://", "ws://"));
    let mut live = TransportWs::open(&ws_url, Some(&token)).await;
    live.subscribe("1", "subscription { events { seq type } }", json!({}))
        .await;

    let http = reqwest::Client::new();
    let response = within(
        "an append to the serve binary",
        http.post(&graphql_url)
            .bearer_auth(&token)
            .json(&json!({"query": APPEND, "variables": {"events": [hamlet_input("xom-before-sigterm")]}}))
            .send(),
    )
    .await
    .expect("the server answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("a JSON answer");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["append"]["head"]["seq"], json!(FIXTURE_EVENTS + 1));

    assert_eq!(
        live.next_event("1").await,
        json!({"seq": FIXTURE_EVENTS + 1, "type": "LocalityRegistered"})
    );

    let pid = server.0.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("waiting for serve") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit within 30 s of SIGTERM; its log:\n{}",
            server_log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        status.code(),
        Some(0),
        "serve's exit after SIGTERM; its log:\n{}",
        server_log()
    );
    match live.hear_within(PATIENCE).await {
        Some(Heard::Closed(..) | Heard::Ended(_)) => {}
        Some(Heard::Message(m)) if m["type"] == "complete" => {}
        other => panic!("the subscription should end with the server, heard {other:?}"),
    }
    assert!(
        !data.join(orgledger::commands::serve::HOLDER_FILE).exists(),
        "a stopped server leaves no holder file"
    );
    // The ledger closes (and flushes) only when nothing holds it any more.
    let log = server_log();
    assert!(
        !log.contains("still referenced"),
        "serve did not close its ledger:\n{log}"
    );

    let verify = orgledger(&data, &["verify"]);
    assert!(
        verify.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let verdict: Value = serde_json::from_str(stdout_of(&verify).trim()).expect("verify prints JSON");
    assert_eq!(verdict["ok"], json!(true));
    assert_eq!(verdict["events"], json!(FIXTURE_EVENTS + 1));

    let export = orgledger(&data, &["export"]);
    assert!(
        export.status.success(),
        "export: {}",
        String::from_utf8_lossy(&export.stderr)
    );
    let last: Value = serde_json::from_str(stdout_of(&export).lines().last().expect("a line")).unwrap();
    assert_eq!(last["seq"], json!(FIXTURE_EVENTS + 1));
    assert_eq!(last["type"], json!("LocalityRegistered"));
    assert_eq!(last["locality"], json!("xom-before-sigterm"));
    assert_eq!(last["actor"], json!("clerk-x"), "the actor is the token's name");
}

// ---------------------------------------------------------------------------------------
// 7. The schema file.
// ---------------------------------------------------------------------------------------

const REGENERATE: &str = "regenerate with `cargo run -- schema > schema/ledger.graphql`";

fn schema_file() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/ledger.graphql"))
        .expect("schema/ledger.graphql")
}

#[test]
fn the_schema_command_prints_the_schema_file() {
    let file = schema_file();
    let output = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .arg("schema")
        .output()
        .expect("orgledger schema runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.stdout == file.as_bytes(),
        "`orgledger schema` differs from schema/ledger.graphql: {REGENERATE}"
    );
    assert!(
        orgledger::graphql::sdl() == file,
        "orgledger::graphql::sdl() differs from schema/ledger.graphql: {REGENERATE}"
    );
}

/// Each named type of an SDL text, from its lines that open a definition.
fn sdl_type_names(sdl: &str) -> BTreeSet<String> {
    sdl.lines()
        .filter_map(|line| {
            ["type ", "input ", "enum ", "scalar ", "interface ", "union "]
                .iter()
                .find_map(|keyword| line.strip_prefix(keyword))
        })
        .map(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Each type of an SDL text with its kind and its member names (fields, input fields, enum
/// values or union members), as introspection reports them.
fn sdl_shapes(sdl: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let document = async_graphql::parser::parse_schema(sdl).expect("the schema file parses");
    let mut shapes = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(t) = definition else {
            continue;
        };
        let t = t.node;
        let (kind, members): (&str, BTreeSet<String>) = match &t.kind {
            TypeKind::Scalar => ("SCALAR", BTreeSet::new()),
            TypeKind::Object(o) => (
                "OBJECT",
                o.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
            ),
            TypeKind::Interface(i) => (
                "INTERFACE",
                i.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
            ),
            TypeKind::Union(u) => ("UNION", u.members.iter().map(|m| m.node.to_string()).collect()),
            TypeKind::Enum(e) => ("ENUM", e.values.iter().map(|v| v.node.value.node.to_string()).collect()),
            TypeKind::InputObject(i) => (
                "INPUT_OBJECT",
                i.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
            ),
        };
        shapes.insert(t.name.node.to_string(), (kind.to_owned(), members));
    }
    shapes
}

/// The scalars every GraphQL schema has; the SDL does not declare them.
const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_schema_is_the_schema_file() {
    let server = TestServer::start().await;
    let data = server
        .data(
            &server.reader,
            "{ __schema { types { name kind
                fields(includeDeprecated: true) { name }
                inputFields { name }
                enumValues(includeDeprecated: true) { name }
                possibleTypes { name } } } }",
            json!({}),
        )
        .await;
    let names = |list: &Value| -> BTreeSet<String> {
        list.as_array()
            .map(|items| items.iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let mut served = BTreeMap::new();
    for t in data["__schema"]["types"].as_array().expect("types") {
        let name = t["name"].as_str().unwrap().to_owned();
        if name.starts_with("__") || BUILT_IN_SCALARS.contains(&name.as_str()) {
            continue;
        }
        let kind = t["kind"].as_str().unwrap().to_owned();
        let members = match kind.as_str() {
            "OBJECT" | "INTERFACE" => names(&t["fields"]),
            "INPUT_OBJECT" => names(&t["inputFields"]),
            "ENUM" => names(&t["enumValues"]),
            "UNION" => names(&t["possibleTypes"]),
            _ => BTreeSet::new(),
        };
        served.insert(name, (kind, members));
    }

    let file = schema_file();
    let declared = sdl_type_names(&file);
    let served_names: BTreeSet<String> = served.keys().cloned().collect();
    let only_in_file: Vec<_> = declared.difference(&served_names).collect();
    let only_served: Vec<_> = served_names.difference(&declared).collect();
    assert!(
        only_in_file.is_empty() && only_served.is_empty(),
        "the served schema and schema/ledger.graphql differ: types only in the file {only_in_file:?}, \
         only served {only_served:?}; {REGENERATE}"
    );

    let shapes = sdl_shapes(&file);
    assert_eq!(
        shapes.keys().collect::<BTreeSet<_>>(),
        declared.iter().collect::<BTreeSet<_>>(),
        "the parsed schema file and its definition lines name different types"
    );
    for (name, shape) in &shapes {
        assert_eq!(
            Some(shape),
            served.get(name),
            "type {name}: the schema file says {shape:?}, the server serves {:?}; {REGENERATE}",
            served.get(name)
        );
    }
    server.stop().await;
}

/// graphql-transport-ws carries queries as well as subscriptions, and the server sends the
/// ones that are not light the heavy lane's way. What they answer does not change: a query
/// that is not light (a page of events: `first`) answers what HTTP answers, a mutation padded
/// past a light request's length appends once, and a subscription as long (read in the lane,
/// then handed back) streams as any other. That they keep off the async workers is measured
/// by `cargo bench --bench hostile`, not here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_operations_over_the_websocket_answer_as_over_http() {
    let server = TestServer::start().await;
    let page = "{ events(first: 3) { edges { node { seq type } } } }";
    let over_http = server.data(&server.reader, page, json!({})).await;
    assert_eq!(over_http["events"]["edges"].as_array().map(Vec::len), Some(3));
    let mut ws = TransportWs::open(&server.ws_url(), Some(&server.clerk)).await;
    ws.subscribe("page", page, json!({})).await;
    assert_eq!(ws.next_payload("page").await, json!({ "data": over_http }));
    match ws.hear().await {
        Heard::Message(m) if m["type"] == "complete" && m["id"] == "page" => {}
        other => panic!("expected the page to complete, heard {other:?}"),
    }

    let long = format!("subscription {{ events {{ seq }} }} # {}", "padding ".repeat(512));
    ws.subscribe("long", &long, json!({})).await;
    ws.assert_silent("nothing is appended yet").await;
    // A mutation padded past a light request's length: heavy, and appends once.
    let append = format!("{APPEND} # {}", "padding ".repeat(512));
    ws.subscribe(
        "write",
        &append,
        json!({"events": [hamlet_input("xom-over-the-socket")]}),
    )
    .await;
    let mut heard_write = false;
    let mut heard_event = false;
    while !(heard_write && heard_event) {
        match ws.hear().await {
            Heard::Message(m) if m["type"] == "next" && m["id"] == "write" => {
                assert!(m["payload"].get("errors").is_none(), "{m}");
                assert_eq!(m["payload"]["data"]["append"]["head"]["seq"], json!(FIXTURE_EVENTS + 1));
                heard_write = true;
            }
            Heard::Message(m) if m["type"] == "complete" && m["id"] == "write" => {}
            Heard::Message(m) if m["type"] == "next" && m["id"] == "long" => {
                assert_eq!(m["payload"], json!({"data": {"events": {"seq": FIXTURE_EVENTS + 1}}}));
                heard_event = true;
            }
            other => panic!("expected the append's answer and its event, heard {other:?}"),
        }
    }
    assert_eq!(server.ledger.head().seq, FIXTURE_EVENTS + 1);
    server.stop().await;
}
