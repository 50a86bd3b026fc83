//! The HTTP server: the axum router, authentication, the limits on each request, and the
//! GraphQL-over-HTTP rules. The schema itself is in [`crate::graphql`].
//!
//! - `POST /graphql`: a GraphQL request (or a batch of a few) as `application/json`.
//! - `GET /graphql?query=...`: queries only; a mutation over GET is refused with 405. Without
//!   a `query` parameter, GraphiQL ([`crate::web`]: served by the binary, nothing loaded from
//!   elsewhere).
//! - `GET /graphql/ws`: subscriptions (and queries) over WebSocket, `graphql-transport-ws`.
//! - `GET /healthz`: 200 once the server serves (with a warning when it serves plain HTTP
//!   off loopback, `--insecure-http`).
//! - `GET /export`: the log as JSON Lines, as `orgledger export` writes it (auditor, admin);
//!   `GET /export?from=N`, the records from `seq` N on (how a follower resumes).
//! - `GET /reports/NAME.csv?date=D&seq=N&...`: a report as CSV, as `orgledger report NAME
//!   --format csv` writes it (a reader); the report's own options by their flag names
//!   (`programme`, `term`, `org`, `entity`, `from-year`, `to-year`, `year`).
//! - `GET /`: the dashboard, and `GET /assets/NAME` the files of the pages ([`crate::web`]).
//!
//! Answers are `application/graphql-response+json`, or `application/json` for a client that
//! accepts only that or sends no `Accept` (GraphQL over HTTP reads a missing `Accept` as
//! `application/json`). A GraphQL request that does not parse or validate gets no `data`, and
//! 400 as `application/graphql-response+json` but 200 as `application/json` (the rule of GraphQL
//! over HTTP for each); once a request executes, 200, with any field errors in `errors`. Every
//! error carries `extensions.code`. Answers keep the order of the query's fields (GraphQL
//! 7.2.2): they are written from async-graphql's ordered maps, never through a sorted
//! `serde_json::Value`.
//!
//! Over TLS ([`ServerConfig::listening`]) the same routes are served as HTTPS and WSS, every
//! answer carrying `Strict-Transport-Security`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, Data, Response};
use async_graphql_axum::GraphQLProtocol;
use axum::body::{Body, Bytes};
use axum::extract::{Query as UrlQuery, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::checkpoint::SigningKey;
use crate::graphql::{self, codes, Access, Env, Executed, LedgerSchema, Limits, Session};
use crate::ledger::Ledger;
use crate::tls::{Listening, TlsListener};
use crate::tokens::{Caller, Permission, Tokens};

/// The media type of GraphQL answers (GraphQL over HTTP).
pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json; charset=utf-8";

/// How the server is set up.
pub struct ServerConfig {
    pub ledger: Arc<Ledger>,
    pub tokens: Arc<Tokens>,
    /// Serve queries and subscriptions without a token (never mutations).
    pub public_read: bool,
    pub limits: ServerLimits,
    /// The ledger's signing key, for `GET /checkpoint` and the `checkpoint` query.
    pub checkpoint_key: Option<SigningKey>,
    /// How the server publishes checkpoints, and the witnesses it asks to cosign them.
    pub checkpoints: Checkpointing,
    /// When this server is a read-only follower (`orgledger follow --listen`): mutations are
    /// refused with `READ_ONLY_FOLLOWER`, naming the leader, and the leader's checkpoints the
    /// follower verified are the ones it serves.
    pub follows: Option<Following>,
    /// More routes served beside GraphQL: a follower that is also a witness serves `POST
    /// /add-checkpoint` (`orgledger follow --witness-key`).
    pub cosigning: Option<Router>,
    /// Plain HTTP (on loopback, or off it with `--insecure-http`, which `/healthz` then warns
    /// of) or HTTPS with a certificate the server reloads when its files change.
    pub listening: Listening,
}

/// What a follower's server needs of the follower.
pub struct Following {
    /// The leader's URL.
    pub leader: String,
    /// The latest checkpoint of the leader that the follower verified against its own tree:
    /// `GET /checkpoint`, the `checkpoint` query and the `checkpoints` subscription serve it
    /// (503, an error, nothing until there is one). A follower of this follower can then
    /// check its copy against the leader's signature.
    pub verified: watch::Sender<Option<Arc<graphql::SignedCheckpoint>>>,
}

/// How the server publishes checkpoints (with a signing key): one of the head after an append
/// group, at most once per `interval`, cosigned by at least `quorum` of `witnesses` when there
/// are any. Witnesses are asked off the append path: one that is down or slow delays the next
/// checkpoint, never an append.
#[derive(Debug, Clone)]
pub struct Checkpointing {
    pub interval: std::time::Duration,
    pub witnesses: Vec<crate::witness::Endpoint>,
    pub quorum: usize,
    /// How long one witness's answer is waited for.
    pub witness_timeout: std::time::Duration,
    /// The client that asks the witnesses ([`crate::tls::client`]: the system's roots, or
    /// `serve --ca`).
    pub client: reqwest::Client,
}

impl Default for Checkpointing {
    fn default() -> Self {
        Checkpointing {
            interval: std::time::Duration::from_secs(1),
            witnesses: Vec::new(),
            quorum: 0,
            witness_timeout: crate::witness::ASK_TIMEOUT,
            client: crate::tls::client(None).unwrap_or_default(),
        }
    }
}

/// The limits on each request.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// The largest request body, in bytes (and the largest WebSocket message).
    pub max_body: usize,
    /// The most GraphQL requests in one batch.
    pub max_batch: usize,
    /// Depth, complexity and directives per GraphQL request.
    pub graphql: Limits,
    /// How long a WebSocket may stay open without a `connection_init`: then it is closed with
    /// 4408, as graphql-transport-ws says.
    pub init_timeout: std::time::Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_body: 2 << 20,
            max_batch: 10,
            graphql: Limits::default(),
            init_timeout: std::time::Duration::from_secs(10),
        }
    }
}

struct AppState {
    schema: LedgerSchema,
    env: Arc<Env>,
    answers: AnswerCache,
    tokens: Arc<Tokens>,
    ledger: Arc<Ledger>,
    public_read: bool,
    limits: ServerLimits,
    stopping: watch::Receiver<bool>,
    /// The heavy lane: how many requests that are not light may execute at once.
    heavy: Arc<tokio::sync::Semaphore>,
    /// The server has witnesses: `GET /checkpoint` serves the latest cosigned checkpoint.
    witnessed: bool,
}

/// Serves on `listener` until `shutdown` completes; then stops taking requests, lets the ones
/// in flight finish (and those of the heavy lane whose client went away), ends live
/// subscriptions, and returns. The caller closes the ledger (which flushes) when the last
/// reference to it is dropped.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stopping) = watch::channel(false);
    let publishes = config.checkpoint_key.is_some();
    let mut env = Env::new(config.ledger.clone(), stopping.clone(), config.checkpoint_key);
    if let Some(following) = &config.follows {
        env.follow(&following.leader, following.verified.clone());
    }
    let env = Arc::new(env);
    // With witnesses, or as a follower, the server serves the checkpoints it published.
    let witnessed = !config.checkpoints.witnesses.is_empty() || config.follows.is_some();
    if publishes {
        tokio::spawn(publish_checkpoints(env.clone(), config.checkpoints, stopping.clone()));
    }
    if let Listening::Tls(tls) = &config.listening {
        tokio::spawn(tls.clone().watch(stopping.clone()));
    }
    let schema = graphql::schema(env.clone(), &config.limits.graphql);
    let lane_width = heavy_lane_width();
    let heavy = Arc::new(tokio::sync::Semaphore::new(lane_width));
    let state = Arc::new(AppState {
        schema,
        env,
        answers: AnswerCache::default(),
        tokens: config.tokens,
        ledger: config.ledger,
        public_read: config.public_read,
        limits: config.limits,
        stopping,
        heavy: heavy.clone(),
        witnessed,
    });
    let health = match config.listening {
        Listening::InsecureHttp => format!("ok\n{}\n", crate::tls::INSECURE_WARNING),
        _ => "ok\n".to_owned(),
    };
    let app = match config.cosigning {
        Some(routes) => router(state, health).merge(routes),
        None => router(state, health),
    };
    let addr = listener.local_addr()?;
    let scheme = config.listening.scheme();
    tracing::info!(%addr, "serving GraphQL at {scheme}://{addr}/graphql");
    let stopping = async move {
        shutdown.await;
        tracing::info!("stopping: finishing the requests in flight");
        let _ = stop_tx.send(true);
    };
    let served = match &config.listening {
        Listening::Tls(tls) => {
            let app = app.layer(axum::middleware::map_response(strict_transport));
            // `tap_io` gives the connections the peer address as their `ConnectInfo`.
            let listener = axum::serve::ListenerExt::tap_io(TlsListener::new(listener, tls)?, |_| {});
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stopping)
                .await
        }
        Listening::Loopback | Listening::InsecureHttp => {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stopping)
                .await
        }
    };
    // A request in the heavy lane whose client went away still runs on its thread, outside
    // the connections the graceful shutdown waited for: wait for it too (each holds a place
    // in the lane until it ends, at most the execution limit), so that it never runs on
    // while the runtime under it is dropped.
    let _ = heavy.acquire_many(lane_width as u32).await;
    served
}

/// HSTS on every answer over HTTPS: a browser that saw the server over HTTPS once goes on
/// using HTTPS for a year, and never sends a token to it in plain HTTP.
async fn strict_transport(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// The routes; `health` is what `GET /healthz` answers.
fn router(state: Arc<AppState>, health: String) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(move || std::future::ready(health)))
        .route("/export", get(export))
        .route("/checkpoint", get(latest_checkpoint))
        .route("/reports/{file}", get(report_csv))
        .route("/", get(crate::web::dashboard))
        .route("/assets/{name}", get(crate::web::asset))
        .with_state(state)
}

/// An answer with the GraphQL error shape: `{"errors": [{"message", "extensions": {"code"}}]}`.
fn error_response(status: StatusCode, code: &str, message: &str) -> axum::response::Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    let mut response = (status, [(header::CONTENT_TYPE, GRAPHQL_RESPONSE)], body.to_string()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Who is calling: from `Authorization: Bearer <token>`. No header is an anonymous reader
/// when reads are public, else 401; a header with an unknown or revoked token is always 401.
#[allow(clippy::result_large_err)] // the refusal is the response itself, made once per request
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Access, axum::response::Response> {
    match headers.get(header::AUTHORIZATION) {
        None if state.public_read => Ok(Access(None)),
        None => Err(error_response(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
            "this server needs a token: send `Authorization: Bearer <token>`",
        )),
        Some(value) => {
            let caller = value
                .to_str()
                .ok()
                .and_then(bearer)
                .and_then(|token| state.tokens.authenticate(token));
            match caller {
                Some(c) => Ok(Access(Some(c))),
                None => Err(error_response(
                    StatusCode::UNAUTHORIZED,
                    codes::UNAUTHENTICATED,
                    "the token is unknown or revoked (send `Authorization: Bearer <token>`)",
                )),
            }
        }
    }
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The media type of answers to a client that asks for plain JSON.
const JSON: &str = "application/json; charset=utf-8";

/// Which media type the client gets: `application/graphql-response+json` unless it accepts
/// `application/json` and not the former, or sends no `Accept` at all, which GraphQL over
/// HTTP reads as `application/json`.
fn response_type(headers: &HeaderMap) -> &'static str {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return JSON;
    };
    let accept = accept.to_str().unwrap_or("");
    if accept.contains("application/json") && !accept.contains("application/graphql-response+json") {
        JSON
    } else {
        GRAPHQL_RESPONSE
    }
}

/// Gives every error a code: those raised before execution (parse, validation, limits) and
/// those of argument coercion are the request's fault.
fn with_codes(mut response: Response) -> Response {
    for e in &mut response.errors {
        let has_code = e.extensions.as_ref().is_some_and(|x| x.get("code").is_some());
        if !has_code {
            let ext = e.extensions.get_or_insert_with(Default::default);
            ext.set("code", codes::BAD_USER_INPUT);
        }
    }
    response
}

/// What one request came to.
struct Outcome {
    /// The answer as JSON text, its fields in the order of the query.
    body: String,
    /// It reached execution (else: 400).
    executed: bool,
    /// It is only queries, none failed inside the server: its answer depends on nothing
    /// but the ledger at the head, the date and the caller's role, so it may be kept.
    cacheable: bool,
    /// It asked for a subscription, which HTTP does not serve.
    subscription: bool,
}

async fn execute(state: &AppState, access: &Access, request: async_graphql::Request) -> Outcome {
    let facts = Executed::default();
    // Kept to explain a refusal: the document and variables the errors point into.
    let (query, variables) = (request.query.clone(), request.variables.clone());
    let operation = request.operation_name.clone();
    let request = request.data(access.clone()).data(facts.clone());
    let mut response = with_codes(state.schema.execute(request).await);
    let executed = facts.get() || response.errors.is_empty();
    if executed {
        crate::graphql::order::in_query_order(&query, operation.as_deref(), &mut response.data);
    } else {
        crate::graphql::errors::explain(&query, &variables, &mut response.errors);
    }
    let internal = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from(codes::INTERNAL))
    });
    let body = serde_json::to_string(&Answer {
        errors: &response.errors,
        // A request refused before execution has no `data` at all (GraphQL over HTTP).
        data: executed.then_some(&response.data),
        extensions: &response.extensions,
    })
    .expect("responses serialize");
    Outcome {
        body,
        executed,
        cacheable: executed && facts.only_queries() && !internal,
        subscription: facts.has_subscription(),
    }
}

/// How many answers the server keeps.
const CACHED_ANSWERS: usize = 1024;
/// Answers larger than this are not kept.
const MAX_CACHED_ANSWER: usize = 256 * 1024;

/// Answers to queries, kept by who asked (the role), the durable head, the date (the
/// default of every `date` argument) and the request's exact bytes. The ledger never changes
/// below its head, so the same request at the same head on the same day gets the same
/// answer: a client polling a report costs a lookup. A mutation is never kept, nor an
/// answer holding an INTERNAL error.
#[derive(Default)]
struct AnswerCache {
    entries: std::sync::Mutex<KeptAnswers>,
}

/// Answers by key, and the keys in the order they were kept.
type KeptAnswers = (
    std::collections::HashMap<[u8; 32], (StatusCode, Bytes)>,
    std::collections::VecDeque<[u8; 32]>,
);

impl AnswerCache {
    fn key(access: &Access, head: u64, request: &[u8]) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        let role = access.0.as_ref().map_or("anonymous", |c| c.role.as_str());
        h.update(role.as_bytes());
        h.update(&[0]);
        h.update(&head.to_be_bytes());
        h.update(crate::event::Timestamp::now().date().to_string().as_bytes());
        h.update(request);
        *h.finalize().as_bytes()
    }

    fn get(&self, key: &[u8; 32]) -> Option<(StatusCode, Bytes)> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(key)
            .cloned()
    }

    fn put(&self, key: [u8; 32], status: StatusCode, body: Bytes) {
        if body.len() > MAX_CACHED_ANSWER {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *entries;
        if map.insert(key, (status, body)).is_none() {
            order.push_back(key);
        }
        while order.len() > CACHED_ANSWERS {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }
}

fn graphql_answer(headers: &HeaderMap, status: StatusCode, body: impl Into<Body>) -> axum::response::Response {
    (status, [(header::CONTENT_TYPE, response_type(headers))], body.into()).into_response()
}

/// The body of an answer, written straight from async-graphql's values, whose objects keep
/// the order of the query's fields (a `serde_json::Value` would sort them). `errors` first,
/// as the GraphQL specification recommends, so they are seen.
#[derive(serde::Serialize)]
struct Answer<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

/// The status of a GraphQL answer: 200 once the request executed; before that (it did not
/// parse or validate), 400 in `application/graphql-response+json` and 200 in
/// `application/json`, as GraphQL over HTTP asks of each.
fn status_of(headers: &HeaderMap, executed: bool) -> StatusCode {
    if executed || response_type(headers) == JSON {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

fn log_request(method: &Method, started: Instant, status: StatusCode, caller: &Access) {
    tracing::debug!(
        %method,
        status = status.as_u16(),
        micros = started.elapsed().as_micros() as u64,
        caller = caller.0.as_ref().map(|c: &Caller| c.name.as_str()).unwrap_or("-"),
        "graphql"
    );
}

async fn graphql_post(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> axum::response::Response {
    let started = Instant::now();
    let access = match authenticate(&state, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::BAD_USER_INPUT,
            &format!("a GraphQL POST body must be application/json, not {content_type:?}"),
        );
    }
    let bytes: Bytes = match axum::body::to_bytes(body, state.limits.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::BAD_USER_INPUT,
                &format!("the request body is larger than {} bytes", state.limits.max_body),
            )
        }
    };
    // The head is read before the request runs: the answer is at least that new.
    let key = AnswerCache::key(&access, state.ledger.head().seq, &bytes);
    if let Some((status, body)) = state.answers.get(&key) {
        log_request(&Method::POST, started, status, &access);
        return graphql_answer(&headers, status, body);
    }
    // A light request runs here, on the async workers; any other waits for the heavy lane,
    // whose threads are outside the workers and fewer than the cores (see `in_heavy_lane`).
    if is_light(&bytes) {
        return answer(state, headers, access, bytes, key, started).await;
    }
    let lane = state.heavy.clone();
    in_heavy_lane(&lane, answer(state, headers, access, bytes, key, started)).await
}

/// How many requests execute in the heavy lane at once: one core fewer than the machine
/// has (at least one), so one core always serves the async workers. A hostile client
/// sending the most expensive queries the limits allow (aliased reports, introspection
/// walks, pages of 1,000 events, 2 MiB bodies) then slows the other heavy requests, not
/// `{ head { seq } }`.
fn heavy_lane_width() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// The most selections, once fragments are expanded, of a light request.
const LIGHT_SELECTIONS: u64 = 32;
/// The longest body of a light request.
const LIGHT_BODY: usize = 2048;

/// Whether a request is light enough to run on the async workers: one small request of at
/// most [`LIGHT_SELECTIONS`] selections, without introspection or a page size (`first`,
/// `last`), whose cost is bounded by its size. Telling costs a parse of at most
/// [`LIGHT_BODY`] bytes. Anything else (and anything that does not parse) is heavy: a
/// large or malformed request costs its own time in the lane, refused or not.
fn is_light(bytes: &[u8]) -> bool {
    if bytes.len() > LIGHT_BODY {
        return false;
    }
    let Ok(BatchRequest::Single(request)) = serde_json::from_slice::<BatchRequest>(bytes) else {
        return false;
    };
    is_light_query(request.query.as_str())
}

/// [`is_light`] of a query alone, as a GET request carries it in its URL: at most
/// [`LIGHT_BODY`] bytes, without introspection or a page size, and within
/// [`LIGHT_SELECTIONS`].
fn is_light_query(query: &str) -> bool {
    if query.len() > LIGHT_BODY || query.contains("__") || query.contains("first") || query.contains("last") {
        return false;
    }
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    let bounds = graphql::cost::Bounds {
        expanded: LIGHT_SELECTIONS,
        height: 8,
        directives: 2,
    };
    graphql::cost::measure(&doc, bounds).is_ok()
}

/// Why work given to the heavy lane did not run to its end there.
enum LaneError {
    /// The lane is closed: the server is stopping.
    Stopping,
    /// The work panicked on its thread ([`run_in_lane`] logs it).
    Failed,
}

impl LaneError {
    /// What the client is told.
    fn message(&self) -> &'static str {
        match self {
            LaneError::Stopping => "the server is stopping",
            LaneError::Failed => "the request failed",
        }
    }
}

/// Runs `work` on a thread of tokio's blocking pool, once the heavy lane has room. A
/// GraphQL execution can hold a thread for as long as it computes (async-graphql resolves
/// the fields of a query in one poll when none of them waits); there it holds a lane thread,
/// never an async worker. On a current-thread runtime (some tests) it runs in place.
async fn run_in_lane<T: Send + 'static>(
    lane: &Arc<tokio::sync::Semaphore>,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, LaneError> {
    let runtime = tokio::runtime::Handle::current();
    if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return Ok(work.await);
    }
    let Ok(permit) = lane.clone().acquire_owned().await else {
        return Err(LaneError::Stopping);
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        runtime.block_on(work)
    })
    .await
    .map_err(|e| {
        tracing::error!("a request failed in the heavy lane: {e}");
        LaneError::Failed
    })
}

/// [`run_in_lane`] of an HTTP request: its answer, or the error answer of the lane's refusal.
async fn in_heavy_lane(
    lane: &Arc<tokio::sync::Semaphore>,
    request: impl Future<Output = axum::response::Response> + Send + 'static,
) -> axum::response::Response {
    match run_in_lane(lane, request).await {
        Ok(response) => response,
        Err(e) => {
            let status = match e {
                LaneError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
                LaneError::Failed => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error_response(status, codes::INTERNAL, e.message())
        }
    }
}

/// The executor of GraphQL over WebSocket: the schema's, except that a query or mutation
/// that is not light runs in the heavy lane, as it would over HTTP (graphql-transport-ws
/// carries queries as well as subscriptions). Whether a long document is a subscription is
/// read in the lane too, in the same turn. A subscription runs on the async workers: it
/// waits for events, and would hold a place in the lane for as long as it lives.
#[derive(Clone)]
struct SocketExecutor {
    schema: LedgerSchema,
    heavy: Arc<tokio::sync::Semaphore>,
}

impl async_graphql::Executor for SocketExecutor {
    async fn execute(&self, request: async_graphql::Request) -> Response {
        self.schema.execute(request).await
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> futures_util::stream::BoxStream<'static, Response> {
        use futures_util::StreamExt;
        if is_light_query(&request.query) {
            return async_graphql::Executor::execute_stream(&self.schema, request, session_data);
        }
        let (schema, heavy) = (self.schema.clone(), self.heavy.clone());
        futures_util::stream::once(async move {
            let in_lane = schema.clone();
            let ran = run_in_lane(&heavy, async move {
                let kind = operation_type(&request.query, request.operation_name.as_deref());
                if kind == Some(OperationType::Subscription) {
                    // Handed back: it waits for events on the workers.
                    return Err((request, session_data));
                }
                Ok(async_graphql::Executor::execute_stream(&in_lane, request, session_data)
                    .collect::<Vec<_>>()
                    .await)
            })
            .await;
            match ran {
                Ok(Ok(answers)) => futures_util::stream::iter(answers).boxed(),
                Ok(Err((request, session_data))) => {
                    async_graphql::Executor::execute_stream(&schema, request, session_data)
                }
                Err(e) => futures_util::stream::once(std::future::ready(lane_refusal(&e))).boxed(),
            }
        })
        .flatten()
        .boxed()
    }
}

/// The GraphQL answer, over a WebSocket, of work the heavy lane did not run to its end.
fn lane_refusal(e: &LaneError) -> Response {
    let mut error = async_graphql::ServerError::new(e.message(), None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", codes::INTERNAL);
    Response::from_errors(vec![error])
}

/// Parses, executes and answers a GraphQL POST body not found in the answer cache.
async fn answer(
    state: Arc<AppState>,
    headers: HeaderMap,
    access: Access,
    bytes: Bytes,
    key: [u8; 32],
    started: Instant,
) -> axum::response::Response {
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                codes::BAD_USER_INPUT,
                &format!("the body is not a GraphQL request: {e}"),
            )
        }
    };
    match batch {
        BatchRequest::Single(request) => {
            let outcome = execute(&state, &access, request).await;
            if outcome.subscription {
                return subscription_over_http();
            }
            let status = status_of(&headers, outcome.executed);
            log_request(&Method::POST, started, status, &access);
            let body = Bytes::from(outcome.body);
            if outcome.cacheable {
                state.answers.put(key, status, body.clone());
            }
            graphql_answer(&headers, status, body)
        }
        BatchRequest::Batch(requests) => {
            if requests.is_empty() || requests.len() > state.limits.max_batch {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    codes::BAD_USER_INPUT,
                    &format!(
                        "a batch holds 1 to {} requests; this one holds {}",
                        state.limits.max_batch,
                        requests.len()
                    ),
                );
            }
            let mut responses = Vec::with_capacity(requests.len());
            let mut all_refused = true;
            for request in requests {
                let outcome = execute(&state, &access, request).await;
                if outcome.subscription {
                    return subscription_over_http();
                }
                all_refused &= !outcome.executed;
                responses.push(outcome.body);
            }
            let status = status_of(&headers, !all_refused);
            log_request(&Method::POST, started, status, &access);
            graphql_answer(&headers, status, format!("[{}]", responses.join(",")))
        }
    }
}

fn subscription_over_http() -> axum::response::Response {
    error_response(
        StatusCode::BAD_REQUEST,
        codes::BAD_USER_INPUT,
        "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql/ws",
    )
}

/// The operation a GET request would run, to refuse a mutation before anything executes.
fn operation_type(query: &str, operation_name: Option<&str>) -> Option<OperationType> {
    let doc = async_graphql::parser::parse_query(query).ok()?;
    match (&doc.operations, operation_name) {
        (async_graphql::parser::types::DocumentOperations::Single(op), _) => Some(op.node.ty),
        (async_graphql::parser::types::DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).map(|op| op.node.ty)
        }
        (async_graphql::parser::types::DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    }
}

async fn graphql_get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlQuery(params): UrlQuery<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let started = Instant::now();
    let Some(query) = params.get("query") else {
        return crate::web::graphiql();
    };
    // The method is wrong whoever asks: a mutation over GET is refused before the token
    // is looked at.
    let operation_name = params.get("operationName").map(String::as_str);
    match operation_type(query, operation_name) {
        Some(OperationType::Mutation) => {
            let mut r = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::BAD_USER_INPUT,
                "mutations are not run over GET: send them with POST",
            );
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        Some(OperationType::Subscription) => return subscription_over_http(),
        _ => {}
    }
    let access = match authenticate(&state, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let lane = state.heavy.clone();
    let mut request = async_graphql::Request::new(query.clone());
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.get("variables") {
        match serde_json::from_str::<serde_json::Value>(vars) {
            Ok(v @ serde_json::Value::Object(_)) => {
                request = request.variables(async_graphql::Variables::from_json(v));
            }
            _ => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    codes::BAD_USER_INPUT,
                    "`variables` must be a JSON object",
                )
            }
        }
    }
    // As over POST: a light query runs on the async workers, any other in the heavy lane.
    let light = is_light_query(query);
    let run = async move {
        let outcome = execute(&state, &access, request).await;
        let status = status_of(&headers, outcome.executed);
        log_request(&Method::GET, started, status, &access);
        graphql_answer(&headers, status, outcome.body)
    };
    if light {
        return run.await;
    }
    in_heavy_lane(&lane, run).await
}

/// The token in a `connection_init` payload: `{"Authorization": "Bearer <token>"}` (any
/// case of the key), or `{"token": "<token>"}`.
fn init_token(payload: &serde_json::Value) -> Option<String> {
    let obj = payload.as_object()?;
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("authorization") {
            return v.as_str().and_then(bearer).map(str::to_owned);
        }
        if k == "token" {
            return v.as_str().map(str::to_owned);
        }
    }
    None
}

/// The close code graphql-transport-ws gives a `connection_init` that is refused: no token
/// where one is needed, or one that is unknown or revoked.
const CLOSE_FORBIDDEN: u16 = 4403;
/// The close code graphql-transport-ws gives a connection whose `connection_init` did not
/// come in time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;

/// What the `connection_init` of one WebSocket came to, shared between the callback that
/// checks it and the loop that writes to the socket.
#[derive(Default)]
struct InitState {
    /// A `connection_init` arrived.
    received: std::sync::atomic::AtomicBool,
    /// It was refused for its token: the close that follows is 4403, not async-graphql's 1002.
    forbidden: std::sync::atomic::AtomicBool,
}

async fn graphql_ws(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    // Refuses (400) an upgrade that asks for no protocol async-graphql speaks.
    _protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> axum::response::Response {
    // A token on the upgrade request itself is checked now; otherwise the one in
    // `connection_init` is checked then. Either is checked again at each operation.
    let header_token = match headers.get(header::AUTHORIZATION) {
        Some(value) => match authenticate(&state, &headers) {
            Ok(_) => value.to_str().ok().and_then(bearer).map(str::to_owned),
            Err(r) => return r,
        },
        None => None,
    };
    // The protocol the extractor chose, found the same way (its field is private).
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| p.trim().parse::<async_graphql::http::WebSocketProtocols>().ok())
        })
        .unwrap_or(async_graphql::http::WebSocketProtocols::GraphQLWS);
    let max = state.limits.max_body;
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve_socket(state, socket, protocol, header_token))
}

/// Speaks graphql-transport-ws (or the older subscriptions-transport-ws) on one socket until
/// either side closes it or the server stops. async-graphql's protocol engine does the
/// talking; around it, this loop closes a socket whose `connection_init` does not come
/// within [`ServerLimits::init_timeout`] (4408) and turns a refused token into 4403.
async fn serve_socket(
    state: Arc<AppState>,
    socket: axum::extract::ws::WebSocket,
    protocol: async_graphql::http::WebSocketProtocols,
    header_token: Option<String>,
) {
    use axum::extract::ws::{CloseFrame, Message};
    use futures_util::{SinkExt, StreamExt};
    use std::sync::atomic::Ordering::{Acquire, Release};

    let (mut sink, stream) = socket.split();
    let input = stream.take_while(|m| std::future::ready(m.is_ok())).filter_map(|m| {
        std::future::ready(match m {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => Some(m.into_data()),
            _ => None,
        })
    });
    let init = Arc::new(InitState::default());
    let on_init = {
        let (init, tokens, public_read) = (init.clone(), state.tokens.clone(), state.public_read);
        move |payload: serde_json::Value| async move {
            init.received.store(true, Release);
            let refuse = |message: &str| {
                init.forbidden.store(true, Release);
                Err(async_graphql::Error::new(message))
            };
            let mut data = Data::default();
            match init_token(&payload).or(header_token) {
                Some(token) => match tokens.authenticate(&token) {
                    Some(caller) => {
                        data.insert(Access(Some(caller)));
                        data.insert(Session { tokens, token });
                    }
                    None => return refuse("Forbidden: the token is unknown or revoked"),
                },
                None if public_read => data.insert(Access(None)),
                None => {
                    return refuse(
                        "Forbidden: this server needs a token: send {\"Authorization\": \"Bearer <token>\"} in connection_init",
                    )
                }
            }
            Ok(data)
        }
    };
    let graphql_ws = protocol == async_graphql::http::WebSocketProtocols::GraphQLWS;
    let executor = SocketExecutor {
        schema: state.schema.clone(),
        heavy: state.heavy.clone(),
    };
    let output = async_graphql::http::WebSocket::new(executor, input, protocol)
        .on_connection_init(on_init)
        .map(|message| match message {
            async_graphql::http::WsMessage::Text(text) => Message::Text(text.into()),
            async_graphql::http::WsMessage::Close(code, reason) => {
                // async-graphql closes with 1002 whatever refused the `connection_init`;
                // the protocol says 4403 for a refused token.
                let code = if graphql_ws && code == 1002 && init.forbidden.load(Acquire) {
                    CLOSE_FORBIDDEN
                } else {
                    code
                };
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        });
    futures_util::pin_mut!(output);
    let deadline = tokio::time::sleep(state.limits.init_timeout);
    tokio::pin!(deadline);
    let mut stopping = state.stopping.clone();
    loop {
        tokio::select! {
            message = output.next() => match message {
                Some(m) => {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = &mut deadline, if !init.received.load(Acquire) => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CLOSE_INIT_TIMEOUT,
                        reason: "Connection initialisation timeout".into(),
                    })))
                    .await;
                break;
            }
            // The guard `wait_for` answers is dropped here, not held across the sends.
            _ = async { stopping.wait_for(|s| *s).await.map(|_| ()) } => break,
        }
    }
}

/// Checks that the caller's role allows auditing (`/export`, `/checkpoint`).
#[allow(clippy::result_large_err)] // the refusal is the response itself
fn require_audit(state: &AppState, headers: &HeaderMap, what: &str) -> Result<(), axum::response::Response> {
    match authenticate(state, headers)?.0 {
        Some(c) if c.role.allows(Permission::Audit) => Ok(()),
        Some(c) => Err(error_response(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            &format!(
                "the token {:?} has the role {}; {what} need auditor or admin",
                c.name.as_str(),
                c.role.as_str()
            ),
        )),
        None => Err(error_response(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
            &format!("{what} need a token with the auditor or admin role"),
        )),
    }
}

/// Publishes checkpoints as [`Checkpointing`] says, until the server stops: after the head
/// moves, a checkpoint of it, cosigned by a quorum when there are witnesses; a quorum not
/// reached is tried again after the interval.
async fn publish_checkpoints(env: Arc<Env>, how: Checkpointing, mut stopping: watch::Receiver<bool>) {
    let mut head = env.ledger.watch_head();
    let client = how.client.clone();
    let mut known = vec![0; how.witnesses.len()];
    let mut published_at: Option<u64> = None;
    loop {
        if published_at == Some(head.borrow().seq) {
            tokio::select! {
                changed = head.changed() => if changed.is_err() { return },
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
        head.borrow_and_update();
        match env.checkpoint().await {
            Ok(cp) if how.witnesses.is_empty() => {
                published_at = Some(cp.size);
                env.published.send_replace(Some(cp));
            }
            Ok(cp) => {
                let ledger = env.ledger.clone();
                let size = cp.size;
                let proof =
                    move |m: u64| crate::merkle::consistency_proof(ledger.store(), m, size).map_err(|e| e.to_string());
                let (text, count, failures) = crate::witness::collect(
                    &client,
                    &how.witnesses,
                    &mut known,
                    &cp.text,
                    size,
                    how.witness_timeout,
                    proof,
                )
                .await;
                for failure in &failures {
                    tracing::warn!(size, "checkpoint not cosigned: {failure}");
                }
                if count >= how.quorum {
                    let keys: Vec<_> = how.witnesses.iter().map(|w| w.key.clone()).collect();
                    let verdicts = crate::checkpoint::cosignatures(&text, &keys).unwrap_or_default();
                    let cosigners = how
                        .witnesses
                        .iter()
                        .zip(&verdicts)
                        .filter(|(_, v)| matches!(v, crate::checkpoint::Cosigned::Valid { .. }))
                        .map(|(w, _)| w.label())
                        .collect();
                    published_at = Some(size);
                    env.published.send_replace(Some(Arc::new(graphql::SignedCheckpoint {
                        text,
                        cosigners,
                        ..(*cp).clone()
                    })));
                    tracing::info!(size, count, "published a cosigned checkpoint");
                } else {
                    tracing::warn!(
                        size,
                        count,
                        quorum = how.quorum,
                        "no quorum of witnesses cosigned; trying again"
                    );
                }
            }
            Err(e) => tracing::warn!("no checkpoint made: {}", e.message),
        }
        tokio::select! {
            _ = tokio::time::sleep(how.interval) => {},
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// `GET /checkpoint`: the signed checkpoint of the durable head (C2SP tlog-checkpoint), as
/// `orgledger checkpoint` prints it; with witnesses, the latest checkpoint a quorum of them
/// cosigned (503 until there is one).
async fn latest_checkpoint(State(state): State<Arc<AppState>>, headers: HeaderMap) -> axum::response::Response {
    if let Err(r) = require_audit(&state, &headers, "checkpoints") {
        return r;
    }
    if state.witnessed {
        let published = state.env.published.borrow().clone();
        return match published {
            Some(cp) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                cp.text.clone(),
            )
                .into_response(),
            None => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::INTERNAL,
                if state.env.leader().is_some() {
                    "this follower has verified no checkpoint of its leader yet"
                } else {
                    "no checkpoint has been cosigned by a quorum of this server's witnesses yet"
                },
            ),
        };
    }
    match state.env.checkpoint().await {
        Ok(cp) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            cp.text.clone(),
        )
            .into_response(),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, &e.message),
    }
}

/// Where an export starts: `GET /export?from=N`.
#[derive(serde::Deserialize)]
struct ExportFrom {
    /// The first `seq` served (default 1, the whole log): a follower asks for what follows
    /// its own head.
    from: Option<u64>,
}

/// `GET /export`: every record as JSON Lines, in `seq` order, up to the head as it stood
/// when the request came; for auditors while the server holds the store. With `?from=N`,
/// the records from `seq` N on (none when N is past the head).
async fn export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlQuery(range): UrlQuery<ExportFrom>,
) -> axum::response::Response {
    if let Err(r) = require_audit(&state, &headers, "exports") {
        return r;
    }
    let head = state.ledger.head().seq;
    let from = range.from.unwrap_or(1).max(1);
    let ledger = state.ledger.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(1 << 16);
        // The stored canonical bytes, checked against their hashes and served as they are:
        // parsing each record and encoding it again cost more than everything else.
        for line in ledger
            .store()
            .export_lines(from)
            .take((head + 1).saturating_sub(from) as usize)
        {
            match line {
                Ok(line) => {
                    chunk.extend_from_slice(&line);
                    if chunk.len() >= 1 << 16 && tx.blocking_send(Ok(Bytes::from(std::mem::take(&mut chunk)))).is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!("export: {e}");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(Ok(Bytes::from(chunk)));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Logs to stderr, at the level `RUST_LOG` sets (default `info`), never above
/// [`PAYLOAD_TARGETS_MAX`] for the crates that log what clients send.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(log_subscriber(filter, std::io::stderr, ansi));
}

/// The crates whose most verbose events print what a client sent, byte for byte: tungstenite
/// logs every WebSocket message it receives at trace (`Received message {..}`, and each
/// frame), so at `RUST_LOG=trace` a `connection_init` with its bearer token went to the log.
/// Their events are kept only up to [`PAYLOAD_TARGETS_MAX`].
pub const PAYLOAD_TARGETS: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// The most verbose level kept for [`PAYLOAD_TARGETS`]: their debug events name close
/// frames and handshakes, never a message's content.
pub const PAYLOAD_TARGETS_MAX: tracing::Level = tracing::Level::DEBUG;

/// Whether an event or span may be logged whatever `RUST_LOG` says: not one of the
/// payload-printing events of [`PAYLOAD_TARGETS`]. Applied after the `RUST_LOG` filter, so
/// no directive (`tungstenite=trace`, `tungstenite::protocol=trace`) can turn them back on.
fn carries_no_payload(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    let payload_target = PAYLOAD_TARGETS.iter().any(|t| {
        target
            .strip_prefix(t)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    });
    !(payload_target && *meta.level() > PAYLOAD_TARGETS_MAX)
}

/// The server's log subscriber: `filter` (from `RUST_LOG`), then the cap on
/// [`PAYLOAD_TARGETS`], formatted to `writer`. Installed with `try_init`, it also takes the
/// `log` crate's records (tungstenite logs through `log`), which pass the same filters.
pub fn log_subscriber<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
    ansi: bool,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    // The payload filter passes at most what `filter` passes. Saying so gives the subscriber
    // a most verbose level, which the `log` bridge then checks before it builds a record:
    // without it every `trace!` of sled (several for each record written) was built and
    // dispatched, only to be dropped.
    let most_verbose = filter
        .max_level_hint()
        .unwrap_or(tracing_subscriber::filter::LevelFilter::TRACE);
    tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .with_filter(filter)
            .with_filter(tracing_subscriber::filter::filter_fn(carries_no_payload).with_max_level_hint(most_verbose)),
    )
}

/// `GET /reports/NAME.csv`: a report as CSV for a reader, as `orgledger report NAME --format
/// csv` writes it, on `date` (default today) as the ledger stood at `seq` (default the head),
/// with the report's own options by the names of their flags. An unknown report is 404; an
/// unknown or malformed parameter, or one the report does not take, is 400 and named.
async fn report_csv(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(file): axum::extract::Path<String>,
    UrlQuery(params): UrlQuery<Vec<(String, String)>>,
) -> axum::response::Response {
    use crate::commands::report::{self, AsOf, ReportKind};
    let started = Instant::now();
    let access = match authenticate(&state, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let bad = |message: String| error_response(StatusCode::BAD_REQUEST, codes::BAD_USER_INPUT, &message);
    let Some(name) = file.strip_suffix(".csv") else {
        return error_response(
            StatusCode::NOT_FOUND,
            codes::BAD_USER_INPUT,
            &format!("no report {file:?}: ask for NAME.csv (coverage.csv, admissions.csv, ...)"),
        );
    };
    let mut given = std::collections::BTreeMap::new();
    for (k, v) in params {
        if given.insert(k.clone(), v).is_some() {
            return bad(format!("the parameter `{k}` is given twice"));
        }
    }
    let year = |key: &str| -> Result<Option<i32>, String> {
        given
            .get(key)
            .map(|v| {
                v.parse::<i32>()
                    .map_err(|_| format!("`{key}` must be a year, not {v:?}"))
            })
            .transpose()
    };
    let text = |key: &str| -> Result<String, String> {
        given
            .get(key)
            .cloned()
            .ok_or_else(|| format!("the report {name} needs `{key}`"))
    };
    let (kind, options): (Result<ReportKind, String>, &[&str]) = match name {
        "coverage" => (Ok(ReportKind::Coverage), &[]),
        "temporary-activity" => (Ok(ReportKind::TemporaryActivity), &[]),
        "admissions" => (
            year("from-year").and_then(|from_year| {
                Ok(ReportKind::Admissions {
                    from_year,
                    to_year: year("to-year")?,
                })
            }),
            &["from-year", "to-year"],
        ),
        "standardization" => (
            text("programme").map(|programme| ReportKind::Standardization { programme }),
            &["programme"],
        ),
        "meetings" => (year("year").map(|year| ReportKind::Meetings { year }), &["year"]),
        "resolutions" => (Ok(ReportKind::Resolutions), &[]),
        "planning" => (text("term").map(|term| ReportKind::Planning { term }), &["term"]),
        "roster" => (text("org").map(|org| ReportKind::Roster { org }), &["org"]),
        "history" => (text("entity").map(|entity| ReportKind::History { entity }), &["entity"]),
        _ => {
            return error_response(
                StatusCode::NOT_FOUND,
                codes::BAD_USER_INPUT,
                &format!(
                    "no report {name:?}: the reports are coverage, temporary-activity, admissions, \
                     standardization, meetings, resolutions, planning, roster and history"
                ),
            )
        }
    };
    if let Some(k) = given
        .keys()
        .find(|k| !["date", "seq"].contains(&k.as_str()) && !options.contains(&k.as_str()))
    {
        return bad(format!("the report {name} takes no parameter `{k}`"));
    }
    let kind = match kind {
        Ok(k) => k,
        Err(m) => return bad(m),
    };
    let seq = match given.get("seq").map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => return bad(format!("`seq` must be a whole number, not {:?}", given["seq"])),
    };
    let as_of = AsOf {
        date: given.get("date").cloned(),
        seq,
    };
    // A report walks the whole projection: it runs in the heavy lane, never on the async
    // workers that answer `{ head { seq } }`.
    let lane = state.heavy.clone();
    let name = name.to_owned();
    let compute = async move {
        state.ledger.projection_caught_up().await;
        let projection = state.ledger.projection_now();
        let result = report::compute(&kind, &as_of, &projection, Some(state.ledger.store()))
            .and_then(|value| report::csv(kind.name(), &value));
        let response = csv_response(&name, result);
        log_request(&Method::GET, started, response.status(), &access);
        response
    };
    in_heavy_lane(&lane, compute).await
}

/// The answer of `GET /reports/NAME.csv` once its report is computed.
fn csv_response(name: &str, result: Result<Vec<u8>, crate::commands::CommandError>) -> axum::response::Response {
    match result {
        Ok(csv) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\""))
                        .expect("a report's name is a header value"),
                ),
            ],
            csv,
        )
            .into_response(),
        Err(crate::commands::CommandError::Rejected(m)) => {
            error_response(StatusCode::BAD_REQUEST, codes::BAD_USER_INPUT, &m)
        }
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(query: &str) -> Vec<u8> {
        json!({ "query": query }).to_string().into_bytes()
    }

    /// Which requests may run on the async workers: small, plain queries; anything that can
    /// hold a thread (aliases, introspection, pages, large or malformed bodies, batches)
    /// goes to the heavy lane.
    #[test]
    fn only_small_plain_requests_are_light() {
        for light in [
            "{ head { seq } }",
            "{ head { seq hash recordedAt } }",
            "query Head { head { seq } }",
            r#"{ coverage(date: "2013-12-31") { localities withMember withCell } }"#,
        ] {
            assert!(is_light(&body(light)), "{light} should be light");
            assert!(is_light_query(light), "{light} should be light over GET");
        }
        let aliases = (0..40)
            .map(|k| format!("a{k}: head {{ seq }}"))
            .collect::<Vec<_>>()
            .join(" ");
        let bomb = (0..6)
            .map(|i| format!("fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1))
            .collect::<String>();
        let heavy = [
            body(&format!("{{ {aliases} }}")),
            body(&format!(
                "query {{ ...F0 }} {bomb} fragment F6 on Query {{ head {{ seq }} }}"
            )),
            body("{ __schema { types { name } } }"),
            body("{ events(first: 1000) { edges { node { seq } } } }"),
            body(&format!("{{ head {{ seq }} }} #{}", "x".repeat(LIGHT_BODY))),
            body("{ head { seq "),
            format!("[{}]", String::from_utf8(body("{ head { seq } }")).unwrap()).into_bytes(),
            b"not json".to_vec(),
        ];
        for request in heavy {
            let shown = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
            assert!(!is_light(&request), "{shown} should be heavy");
        }
        // A GET carries the query alone, judged as a POST body's.
        for query in [
            format!("{{ {aliases} }}"),
            "{ __schema { types { name } } }".to_owned(),
            "{ events(first: 1000) { edges { node { seq } } } }".to_owned(),
            format!("{{ head {{ seq }} }} #{}", "x".repeat(LIGHT_BODY)),
            "{ head { seq ".to_owned(),
        ] {
            assert!(
                !is_light_query(&query),
                "{} should be heavy over GET",
                &query[..query.len().min(80)]
            );
        }
    }
}
