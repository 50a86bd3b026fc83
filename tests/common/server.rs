//! A real server for the server tests: a ledger in a temp dir, tokens of every role, and
//! `orgledger::server::run` on a loopback port, driven over HTTP and WebSocket.

use std::sync::Arc;

use orgledger::checkpoint::SigningKey;
use orgledger::event::{Id, Submission};
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::server::{run, Checkpointing, ServerConfig, ServerLimits};
use orgledger::tokens::{self, Role, Tokens};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use super::fixture_events;

/// A running server and what a test needs to talk to it.
pub struct TestServer {
    pub base: String,
    pub data: tempfile::TempDir,
    pub ledger: Arc<Ledger>,
    pub reader: String,
    pub clerk: String,
    pub auditor: String,
    pub admin: String,
    /// The verifier key (`name+id+base64`) of the server's checkpoint key, to open what
    /// `GET /checkpoint` and the `checkpoint` query serve.
    pub checkpoint_verifier: String,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// How to start a test server.
pub struct Setup {
    pub public_read: bool,
    pub limits: ServerLimits,
    /// Appended before the server starts, as one batch.
    pub events: Vec<Submission>,
    /// How the server publishes checkpoints, and to which witnesses.
    pub checkpoints: Checkpointing,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            public_read: false,
            limits: ServerLimits::default(),
            events: fixture_events(),
            checkpoints: Checkpointing::default(),
        }
    }
}

impl TestServer {
    /// The fixture ledger behind a server that needs tokens.
    pub async fn start() -> TestServer {
        TestServer::start_with(Setup::default()).await
    }

    pub async fn start_with(setup: Setup) -> TestServer {
        let data = tempfile::tempdir().expect("temp dir");
        let ledger = Arc::new(Ledger::open(data.path(), LedgerOptions::default()).expect("ledger"));
        if !setup.events.is_empty() {
            ledger
                .append_async(Id::parse("fixture").unwrap(), setup.events, None)
                .await
                .expect("the fixture appends");
        }
        let token = |name: &str, role| tokens::add(data.path(), name, role).expect("token");
        let (reader, clerk, auditor, admin) = (
            token("reader-1", Role::Reader),
            token("clerk-1", Role::Clerk),
            token("auditor-1", Role::Auditor),
            token("admin-1", Role::Admin),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let checkpoint_key = SigningKey::generate("orgledger.test/server").expect("a key");
        let checkpoint_verifier = checkpoint_key.verifier().to_text();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = ServerConfig {
            ledger: ledger.clone(),
            tokens: Arc::new(Tokens::open(data.path()).expect("tokens")),
            public_read: setup.public_read,
            limits: setup.limits,
            checkpoint_key: Some(checkpoint_key),
            checkpoints: setup.checkpoints,
            follows: None,
            cosigning: None,
            listening: Default::default(),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, config, async {
            let _ = rx.await;
        }));
        TestServer {
            base,
            data,
            ledger,
            reader,
            clerk,
            auditor,
            admin,
            checkpoint_verifier,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.base)
    }

    pub fn ws_url(&self) -> String {
        format!("{}/graphql/ws", self.base.replace("http://", "ws://"))
    }

    /// POSTs a JSON body to /graphql; answers the status, the content type and the body.
    pub async fn post_raw(&self, token: Option<&str>, body: &Value) -> (u16, String, Value) {
        let mut req = self.http.post(self.graphql_url()).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = resp.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, not {text:?}"));
        (status, content_type, body)
    }

    /// A GraphQL request: answers the status and the body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let (status, _, body) = self
            .post_raw(token, &json!({"query": query, "variables": variables}))
            .await;
        (status, body)
    }

    /// A request that must succeed: its `data`.
    pub async fn data(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.gql(Some(token), query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Stops the server as SIGTERM would and waits for `run` to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server task").expect("the server stops cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The code of the first error of an answer.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}
