//! No token is ever logged, at any level. At `RUST_LOG=trace` tungstenite logs every
//! WebSocket message it receives, so a `connection_init` carrying a bearer token went to the
//! log as it came. The server's log subscriber caps the crates that print payloads; this
//! test runs a real server under that subscriber at trace level, writing to a buffer, opens a
//! WebSocket with a token in `connection_init` (and sends one in an HTTP header), and looks
//! for the token in what was logged.
//!
//! It is a file of its own because it installs the process's global subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// The longest any single wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// Where the subscriber writes: one buffer shared by every writer it makes.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {PATIENCE:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_logged_at_trace_level() {
    let log = Buffer::default();
    let writer = log.clone();
    tracing_subscriber::util::SubscriberInitExt::try_init(orgledger::server::log_subscriber(
        tracing_subscriber::EnvFilter::new("trace"),
        move || writer.clone(),
        false,
    ))
    .expect("the only subscriber of this test binary");

    let server = TestServer::start().await;
    let token = server.clerk.clone();

    // A WebSocket whose `connection_init` carries the token, then a subscription on it.
    let mut request = server.ws_url().into_client_request().expect("a WebSocket URL");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = within("the WebSocket upgrade", tokio_tungstenite::connect_async(request))
        .await
        .expect("the server upgrades");
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    within("sending connection_init", socket.send(Message::text(init.to_string())))
        .await
        .expect("sent");
    let subscribe =
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { events(fromSeq: 1) { seq } }"}});
    within("sending subscribe", socket.send(Message::text(subscribe.to_string())))
        .await
        .expect("sent");
    let mut acked = false;
    let mut heard_event = false;
    while !(acked && heard_event) {
        let message = within("an answer on the WebSocket", socket.next())
            .await
            .expect("the socket stays open")
            .expect("a message");
        let Message::Text(text) = message else { continue };
        let value: Value = serde_json::from_str(&text).expect("JSON");
        match value["type"].as_str() {
            Some("connection_ack") => acked = true,
            Some("next") => heard_event = true,
            other => panic!("unexpected {other:?}: {value}"),
        }
    }
    within("closing the WebSocket", socket.close(None))
        .await
        .expect("closed");

    // And a request with the token in its Authorization header.
    server.data(&token, "{ head { seq } }", json!({})).await;
    server.stop().await;

    let text = log.text();
    // The subscriber did log, at debug and below: the request's own line names its caller.
    assert!(text.contains("clerk-1"), "the log holds the request line:\n{text}");
    let secret = token.strip_prefix("olt_").expect("a token");
    for (what, needle) in [
        ("as text", secret.to_owned()),
        ("hex-encoded", hex::encode(secret.as_bytes())),
        (
            "as a byte list",
            format!("{:?}", &secret.as_bytes()[..8])
                .trim_matches(['[', ']'])
                .to_owned(),
        ),
    ] {
        assert!(
            !text.contains(&needle),
            "the token appears in the log {what}:\n{}",
            text.lines()
                .filter(|l| l.contains(&needle))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
