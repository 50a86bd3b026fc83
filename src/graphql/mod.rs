//! The GraphQL schema: queries over the projection and the log, the typed `append`
//! mutation, and live subscriptions. No HTTP here: [`crate::server`] carries requests in and
//! answers out, and decides who the caller is.
//!
//! Every error carries `extensions.code`, one of [`codes`]. Reads never block a thread: a
//! resolver waits (asynchronously) for the projection to reach the durable head, then reads
//! it under a short lock, without an `.await` in between.

pub(crate) mod cost;
mod enums;
pub mod errors;
pub mod inputs;
mod mutation;
mod objects;
pub mod order;
mod query;
mod reports;
mod scalars;
mod subscription;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Context, ErrorExtensions, Response, Schema, ServerError, ServerResult, Variables};
use tokio::sync::watch;

use crate::checkpoint::SigningKey;
use crate::event::{Date, Timestamp};
use crate::ledger::{AppendError, Ledger};
use crate::projection::reports::ReportError;
use crate::projection::{At, Projection};
use crate::tokens::{Caller, Permission, Tokens};

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;

/// The schema the server serves.
pub type LedgerSchema = Schema<Query, Mutation, Subscription>;

/// The most items one page of a connection may hold; asking for more is an error.
pub const MAX_PAGE: usize = 1000;

/// The `extensions.code` of every error.
pub mod codes {
    /// The request is wrong: it does not parse or validate, an argument is out of range, an
    /// event is malformed. Fix the request; retrying it unchanged fails the same way.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// An event broke a rule of the domain; `extensions.rule` names it.
    pub const RULE_VIOLATION: &str = "RULE_VIOLATION";
    /// `expectedSeq` was not the head: re-read and retry.
    pub const CONFLICT: &str = "CONFLICT";
    /// No token, or a token that is unknown or revoked.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The token's role does not allow this.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// The server failed; the request may be retried later.
    pub const INTERNAL: &str = "INTERNAL";
    /// A storage failure left an append's outcome unknown; the ledger appends nothing more
    /// until it is reopened (the server restarted). Retry with the same `idempotencyKey`.
    pub const OUTCOME_UNKNOWN: &str = "OUTCOME_UNKNOWN";
    /// This server is a read-only follower (`orgledger follow --listen`): it copies another
    /// ledger and takes no appends. The message names the leader, where appends go; send
    /// the mutation there.
    pub const READ_ONLY_FOLLOWER: &str = "READ_ONLY_FOLLOWER";
}

/// An error with its code.
pub fn error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    error(codes::BAD_USER_INPUT, message)
}

/// A report's refusal (an unknown id, a `seq` past the head, a bad argument).
pub(crate) fn report_error(e: ReportError) -> async_graphql::Error {
    bad_input(e.to_string())
}

/// The GraphQL error of a refused append, with what a client needs to act on it.
pub fn append_error(e: &AppendError) -> async_graphql::Error {
    let message = e.to_string();
    match e {
        AppendError::Rule { index, violation } => {
            let (index, rule) = (*index, violation.rule);
            error(codes::RULE_VIOLATION, message).extend_with(|_, x| {
                x.set("rule", rule);
                x.set("index", index as u64);
            })
        }
        AppendError::Conflict { expected, head } => {
            let (expected, head) = (*expected, *head);
            error(codes::CONFLICT, message).extend_with(|_, x| {
                x.set("expectedSeq", expected);
                x.set("head", head);
            })
        }
        AppendError::Empty | AppendError::KeyReused(_) | AppendError::BadKey => bad_input(message),
        AppendError::OutcomeUnknown(_) => {
            tracing::error!("append failed: {message}");
            error(codes::OUTCOME_UNKNOWN, message)
        }
        AppendError::Store(_) | AppendError::Closed | AppendError::Diverged(_) => {
            tracing::error!("append failed: {message}");
            error(codes::INTERNAL, message)
        }
    }
}

/// What every resolver can reach.
pub struct Env {
    pub ledger: Arc<Ledger>,
    /// Set when the server stops: live subscriptions end.
    pub stopping: watch::Receiver<bool>,
    /// Reports already computed, by report, arguments and point.
    pub reports: ReportCache,
    /// The ledger's signing key, for checkpoints; none, and `checkpoint` says so.
    pub signer: Option<SigningKey>,
    /// The latest checkpoint made, reused until the head moves.
    latest: std::sync::Mutex<Option<Arc<SignedCheckpoint>>>,
    /// The latest checkpoint the server published (cosigned by a quorum of its witnesses
    /// when it has some): `GET /checkpoint` with witnesses, `cosignedCheckpoint`, and the
    /// `checkpoints` subscription.
    pub published: watch::Sender<Option<Arc<SignedCheckpoint>>>,
    /// The leader's URL when this server is a read-only follower: every mutation is then
    /// refused with `READ_ONLY_FOLLOWER`, naming it, and `checkpoint` is the leader's latest
    /// verified one.
    follows: Option<String>,
}

/// A checkpoint and its signed text.
#[derive(Debug, Clone, async_graphql::SimpleObject)]
pub struct SignedCheckpoint {
    /// The signed note (C2SP tlog-checkpoint), as `GET /checkpoint` serves it.
    pub text: String,
    /// The checkpoint's origin line: the ledger's name (its key's name).
    pub origin: String,
    /// The number of events it covers.
    pub size: u64,
    /// The Merkle root of their hashes, in hex (the note writes it in base64).
    pub root: String,
    /// The projection commitment at that size, in hex.
    pub projection: String,
    /// The witnesses whose cosignatures `text` carries after the ledger's signature
    /// (`NAME+KEYID`); empty for a checkpoint the ledger alone signed.
    pub cosigners: Vec<String>,
}

impl Env {
    pub fn new(ledger: Arc<Ledger>, stopping: watch::Receiver<bool>, signer: Option<SigningKey>) -> Env {
        Env {
            ledger,
            stopping,
            reports: ReportCache::default(),
            signer,
            latest: std::sync::Mutex::new(None),
            published: watch::channel(None).0,
            follows: None,
        }
    }

    /// Makes this a read-only follower's schema: mutations are refused, naming `leader`, and
    /// the checkpoints served are the leader's, as the follower sends them on `verified`.
    pub fn follow(&mut self, leader: &str, verified: watch::Sender<Option<Arc<SignedCheckpoint>>>) {
        self.follows = Some(leader.to_owned());
        self.published = verified;
    }

    /// The leader's URL, on a follower.
    pub fn leader(&self) -> Option<&str> {
        self.follows.as_deref()
    }

    /// Refuses a mutation on a follower, with the leader's URL: the writer is there.
    pub fn require_writer(&self) -> async_graphql::Result<()> {
        match &self.follows {
            None => Ok(()),
            Some(leader) => Err(error(
                codes::READ_ONLY_FOLLOWER,
                format!("this server is a read-only follower of {leader}; send mutations to the leader"),
            )
            .extend_with(|_, x| x.set("leader", leader.as_str()))),
        }
    }

    /// The signed checkpoint of the durable head: the one made last if the head has not
    /// moved since, else a new one.
    pub async fn checkpoint(&self) -> async_graphql::Result<Arc<SignedCheckpoint>> {
        if self.follows.is_some() {
            return self.published.borrow().clone().ok_or_else(|| {
                error(
                    codes::INTERNAL,
                    "this follower has verified no checkpoint of its leader yet",
                )
            });
        }
        let Some(key) = &self.signer else {
            return Err(error(codes::INTERNAL, "this server has no signing key for checkpoints"));
        };
        self.ledger.projection_caught_up().await;
        self.ledger
            .projector_alive()
            .map_err(|e| error(codes::INTERNAL, e.to_string()))?;
        let head = self.ledger.head().seq;
        if let Some(latest) = self.latest.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if latest.size == head {
                return Ok(latest.clone());
            }
        }
        let made = {
            let projection = self.ledger.projection_now();
            let cp = crate::proofs::checkpoint_of(&projection, self.ledger.store(), key.name())
                .map_err(|f| error(codes::INTERNAL, f.to_string()))?;
            let text = crate::proofs::sign(&cp, key).map_err(|f| error(codes::INTERNAL, f.to_string()))?;
            Arc::new(SignedCheckpoint {
                text,
                origin: cp.origin.clone(),
                size: cp.size,
                root: cp.root.to_hex(),
                projection: crate::proofs::committed_projection(&cp)
                    .map(|h| h.to_hex())
                    .unwrap_or_default(),
                cosigners: Vec::new(),
            })
        };
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        if latest.as_ref().is_none_or(|l| l.size < made.size) {
            *latest = Some(made.clone());
        }
        Ok(made)
    }
}

/// How many computed reports the cache keeps.
const REPORT_CACHE_ENTRIES: usize = 256;

/// Reports computed at a point (`date`, `seq`), kept for the next client that asks the same.
/// A report at a `seq` at or below the head never changes (the projection is bitemporal:
/// what is recorded later carries a later `seq`), so an entry is never stale; the oldest
/// entries are dropped past `REPORT_CACHE_ENTRIES`.
#[derive(Default)]
pub struct ReportCache {
    entries: std::sync::Mutex<CachedReports>,
}

/// The reports by key, and the keys in the order they were put.
type CachedReports = (
    std::collections::HashMap<String, Arc<dyn std::any::Any + Send + Sync>>,
    std::collections::VecDeque<String>,
);

impl ReportCache {
    fn get<T: Send + Sync + 'static>(&self, key: &str) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.0.get(key).cloned().and_then(|v| v.downcast::<T>().ok())
    }

    fn put<T: Send + Sync + 'static>(&self, key: String, value: Arc<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *entries;
        if map.insert(key.clone(), value).is_none() {
            order.push_back(key);
        }
        while order.len() > REPORT_CACHE_ENTRIES {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }
}

/// A report at the point `date`/`seq` resolve to, from the cache or computed (and kept).
/// `name` names the report and its own arguments.
pub(crate) async fn cached_report<T: Send + Sync + 'static>(
    ctx: &Context<'_>,
    name: String,
    date: Option<Date>,
    seq: Option<u64>,
    compute: impl FnOnce(&Projection, At) -> async_graphql::Result<T>,
) -> async_graphql::Result<Arc<T>> {
    let env = env(ctx);
    // A report may take a while to compute: a query asking for many gives its time limit
    // (and other requests) a turn between one and the next. Before the projection is
    // read, which is never held across an `.await`.
    tokio::task::yield_now().await;
    env.ledger.projection_caught_up().await;
    env.ledger
        .projector_alive()
        .map_err(|e| error(codes::INTERNAL, e.to_string()))?;
    let p = env.ledger.projection_now();
    let at = resolve_at(&p, date, seq)?;
    let key = format!("{name}|{}|{}", at.date, at.seq);
    if let Some(hit) = env.reports.get::<T>(&key) {
        return Ok(hit);
    }
    let value = Arc::new(compute(&p, at)?);
    env.reports.put(key, value.clone());
    Ok(value)
}

/// Who made the request; `None` when nobody authenticated (reads opened by `--public-read`).
#[derive(Debug, Clone)]
pub struct Access(pub Option<Caller>);

/// What the `RequestFacts` extension learns of a request, for the HTTP layer: whether it
/// reached execution (errors before it, in parse, validation or limits, are the request's
/// fault: 400), and whether it is only queries (so its answer may be cached). Put a fresh one
/// in each request's data.
#[derive(Clone, Default)]
pub struct Executed(Arc<[AtomicBool; 3]>);

impl Executed {
    /// Whether the request reached execution.
    pub fn get(&self) -> bool {
        self.0[0].load(Ordering::Acquire)
    }

    /// Whether every operation of the request's document is a query.
    pub fn only_queries(&self) -> bool {
        self.0[1].load(Ordering::Acquire)
    }

    /// Whether the request's document holds a subscription (which HTTP does not serve).
    pub fn has_subscription(&self) -> bool {
        self.0[2].load(Ordering::Acquire)
    }
}

/// How many parsed query documents are kept.
const PARSED_QUERIES: usize = 512;
/// Query texts longer than this are parsed every time rather than kept.
const MAX_KEPT_QUERY: usize = 16 * 1024;

/// Marks what [`Executed`] reports, and keeps parsed documents by query text: clients send
/// the same few query texts again and again (with variables), and parsing a report's query
/// costs several times executing `{ head { seq } }`. It also parses and measures each new
/// document itself ([`cost`]) instead of letting async-graphql's own checks walk it, and
/// stops an execution that runs past the time limit.
struct RequestFacts {
    parsed: Arc<std::sync::Mutex<ParsedQueries>>,
    bounds: cost::Bounds,
    tokens: usize,
    timeout: std::time::Duration,
}

/// Parsed documents by query text, and the texts in the order they were kept.
type ParsedQueries = (
    std::collections::HashMap<String, ExecutableDocument>,
    std::collections::VecDeque<String>,
);

struct RequestFactsExtension {
    parsed: Arc<std::sync::Mutex<ParsedQueries>>,
    bounds: cost::Bounds,
    tokens: usize,
    timeout: std::time::Duration,
}

impl ExtensionFactory for RequestFacts {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestFactsExtension {
            parsed: self.parsed.clone(),
            bounds: self.bounds,
            tokens: self.tokens,
            timeout: self.timeout,
        })
    }
}

/// A refusal before execution, with its code.
fn refusal(message: impl Into<String>) -> ServerError {
    let mut e = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", codes::BAD_USER_INPUT);
    e.extensions = Some(ext);
    e
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestFactsExtension {
    /// On a WebSocket, every operation checks again the token the connection was opened with,
    /// before anything else: a token revoked since then is refused at the next query as at
    /// the next subscription or append, not only where a resolver happens to check it.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        if let Some(session) = ctx.data_opt::<Session>() {
            if let Err(e) = session.check() {
                let mut refused = ServerError::new(e.message, None);
                refused.extensions = e.extensions;
                return Err(refused);
            }
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        _variables: &Variables,
        _next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let kept = self
            .parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(query)
            .cloned();
        let doc = match kept {
            Some(doc) => doc,
            None => {
                // Not `next`: after parsing, async-graphql checks the recursion depth and
                // the directives by walking every spread into its fragment, which a
                // fragment bomb makes exponential. The measure replaces both checks, in
                // linear time, before anything else walks the document.
                cost::count_tokens(query, self.tokens).map_err(refusal)?;
                let doc = async_graphql::parser::parse_query(query).map_err(ServerError::from)?;
                cost::measure(&doc, self.bounds).map_err(refusal)?;
                if query.len() <= MAX_KEPT_QUERY {
                    let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
                    let (map, order) = &mut *parsed;
                    if map.insert(query.to_owned(), doc.clone()).is_none() {
                        order.push_back(query.to_owned());
                    }
                    while order.len() > PARSED_QUERIES {
                        if let Some(old) = order.pop_front() {
                            map.remove(&old);
                        }
                    }
                }
                doc
            }
        };
        if let Some(facts) = ctx.data_opt::<Executed>() {
            let only_queries = doc.operations.iter().all(|(_, op)| op.node.ty == OperationType::Query);
            let subscription = doc
                .operations
                .iter()
                .any(|(_, op)| op.node.ty == OperationType::Subscription);
            facts.0[1].store(only_queries, Ordering::Release);
            facts.0[2].store(subscription, Ordering::Release);
        }
        Ok(doc)
    }

    /// `__schema { description }` is the description of the schema, which this one does
    /// not have: null. async-graphql answers the description of the `__Schema` type instead
    /// ("A GraphQL Schema defines the capabilities..."), which is not what was asked.
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<async_graphql::Value>> {
        if info.parent_type == "__Schema" && info.name == "description" {
            return Ok(None);
        }
        next.run(ctx, info).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(facts) = ctx.data_opt::<Executed>() {
            facts.0[0].store(true, Ordering::Release);
        }
        // A dead projector's projection stopped where it died: no answer comes from it.
        if let Some(env) = ctx.data_opt::<Arc<Env>>() {
            if let Err(died) = env.ledger.projector_alive() {
                tracing::error!("refusing a request: {died}");
                let mut e = ServerError::new(died.to_string(), None);
                let mut ext = async_graphql::ErrorExtensionValues::default();
                ext.set("code", codes::INTERNAL);
                e.extensions = Some(ext);
                return Response::from_errors(vec![e]);
            }
        }
        // The resolvers yield between reports (see `cached_report`), so the time limit
        // takes effect even when a query asks for many of them.
        match tokio::time::timeout(self.timeout, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => {
                let mut e = ServerError::new(
                    format!(
                        "the request ran for more than {} s and was stopped: ask for less at once \
                         (an append it made may still be recorded: retry it with the same \
                         idempotencyKey)",
                        self.timeout.as_secs_f64()
                    ),
                    None,
                );
                let mut ext = async_graphql::ErrorExtensionValues::default();
                ext.set("code", codes::INTERNAL);
                e.extensions = Some(ext);
                Response::from_errors(vec![e])
            }
        }
    }
}

/// Builds the schema over a ledger, with the limits the server enforces.
pub fn schema(env: Arc<Env>, limits: &Limits) -> LedgerSchema {
    builder()
        .data(env)
        .extension(RequestFacts {
            parsed: Default::default(),
            bounds: cost::Bounds {
                expanded: limits.expanded as u64,
                height: recursion(limits),
                directives: limits.directives,
            },
            tokens: limits.tokens,
            timeout: limits.timeout,
        })
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_recursive_depth(recursion(limits))
        .limit_directives(limits.directives)
        .finish()
}

/// How many levels of fields, spreads and inline fragments a document may nest (the depth
/// counts fields only).
fn recursion(limits: &Limits) -> usize {
    limits.depth.max(32)
}

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription)
}

/// The schema in SDL, as `orgledger schema` prints it and `schema/ledger.graphql` holds it.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// The limits on one GraphQL request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How deeply selections may nest.
    pub depth: usize,
    /// The most a query may cost: each field 1, and a connection what one item selects
    /// times the page size asked (100 by default). A page of 1,000 events with a dozen
    /// fields fits; a query fanning out over several such pages does not.
    pub complexity: usize,
    /// The most directives on one field (or spread, fragment, operation, variable).
    pub directives: usize,
    /// The most selections a document may hold once each fragment spread is replaced by its
    /// fragment, over all its operations and fragments: checked in time linear in the
    /// document before anything else walks it.
    pub expanded: usize,
    /// The most tokens a query text may hold, counted before it is parsed.
    pub tokens: usize,
    /// The longest a request may execute; past it, it is stopped with an `INTERNAL` error.
    pub timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // The standard introspection query (graphql-js's `getIntrospectionQuery`, sent by
            // GraphiQL and code generators) nests 15 deep through its `ofType` chain.
            depth: 15,
            complexity: 20_000,
            directives: 8,
            // Every field costs at least 1, so a query within the complexity limit holds
            // at most 20,000 fields; this leaves room for spreads and fragments.
            expanded: 100_000,
            // The standard introspection query holds about 700; an append of 1,000 events
            // written inline, some 50,000 (in variables, none).
            tokens: 100_000,
            timeout: std::time::Duration::from_secs(30),
        }
    }
}

pub(crate) fn env<'a>(ctx: &Context<'a>) -> &'a Env {
    ctx.data_unchecked::<Arc<Env>>()
}

/// On a connection that outlives one request (a WebSocket), the token it was opened with:
/// checked again at each operation and before each event a subscription sends, so that a
/// revoked token stops working at once there too.
#[derive(Clone)]
pub struct Session {
    pub tokens: Arc<Tokens>,
    pub token: String,
}

impl Session {
    /// An error when the token has been revoked since the connection was opened.
    pub(crate) fn check(&self) -> async_graphql::Result<()> {
        match self.tokens.authenticate(&self.token) {
            Some(_) => Ok(()),
            None => Err(error(
                codes::UNAUTHENTICATED,
                "the token of this connection has been revoked",
            )),
        }
    }
}

/// Checks that the caller may do what `permission` covers.
pub(crate) fn require(ctx: &Context<'_>, permission: Permission) -> async_graphql::Result<Option<Caller>> {
    if let Some(session) = ctx.data_opt::<Session>() {
        session.check()?;
    }
    let caller = ctx.data_opt::<Access>().and_then(|a| a.0.clone());
    match (&caller, permission) {
        (None, Permission::Read) => Ok(None),
        (None, _) => Err(error(
            codes::UNAUTHENTICATED,
            "this needs a token: send `Authorization: Bearer <token>`",
        )),
        (Some(c), p) if c.role.allows(p) => Ok(caller),
        (Some(c), p) => Err(error(
            codes::FORBIDDEN,
            format!(
                "the token {:?} has the role {}, which may not {}",
                c.name.as_str(),
                c.role.as_str(),
                match p {
                    Permission::Read => "read",
                    Permission::Append => "append (it needs clerk or admin)",
                    Permission::Audit => "audit (it needs auditor or admin)",
                }
            ),
        )),
    }
}

/// Runs `f` on the live projection once it has folded the durable head. A dead projector
/// is refused before execution (see `RequestFactsExtension::execute`).
pub(crate) async fn read<T>(ctx: &Context<'_>, f: impl FnOnce(&Projection) -> T) -> T {
    let ledger = &env(ctx).ledger;
    ledger.projection_caught_up().await;
    let p = ledger.projection_now();
    f(&p)
}

/// The point a question is asked at: `date` (valid time, default today in UTC) and `seq`
/// (transaction time, default the head), as the reports take them.
pub(crate) fn resolve_at(p: &Projection, date: Option<Date>, seq: Option<u64>) -> async_graphql::Result<At> {
    let head = p.head().seq;
    let seq = seq.unwrap_or(head);
    if seq > head {
        return Err(report_error(ReportError::PastHead { seq, head }));
    }
    Ok(At {
        date: date.unwrap_or_else(|| Timestamp::now().date()),
        seq,
    })
}
