//! The single writer: it owns the current state, validates each submitted batch against it,
//! assigns `seq`, seals and hashes the records, and commits whatever is queued as one group
//! with one flush. Each submitter is answered only after its events are durable.
//!
//! The append contract: an append returns the durably assigned `seq` and hash of each of
//! its events, or an error, and then nothing of it was appended.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::views::snapshot_due;
use super::{install_panic_hook, last_panic, panic_message, Faults, Store, StoreError};
use crate::chain::{ChainVerifier, Head};
use crate::event::{Hash, Id, Record, Submission, Timestamp};
use crate::merkle::Frontier;
use crate::projection::Projection;
use crate::rules::{RuleViolation, State};

/// The most events the writer puts in one group before it flushes. A request is never split.
pub const MAX_GROUP_EVENTS: usize = 8192;
/// How many requests may wait for the writer before submitters wait to enqueue.
const QUEUE_DEPTH: usize = 4096;

/// Where the ledger's transaction time comes from.
pub trait Clock: Send + 'static {
    fn now(&mut self) -> Timestamp;
}

/// The wall clock, in UTC.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&mut self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at a fixed instant and steps by a fixed amount on every reading, so
/// that a ledger written twice (the demo, tests) has the same hashes.
pub struct SteppedClock {
    next: i64,
    step: i64,
}

impl SteppedClock {
    pub fn new(start: Timestamp, step_micros: i64) -> SteppedClock {
        SteppedClock {
            next: start.micros(),
            step: step_micros,
        }
    }
}

impl Clock for SteppedClock {
    fn now(&mut self) -> Timestamp {
        let t = Timestamp::from_micros(self.next).expect("in range");
        self.next += self.step;
        t
    }
}

/// How to open a ledger.
pub struct LedgerOptions {
    /// Create an empty store when the directory has none.
    pub create: bool,
    /// The source of `recorded_at`.
    pub clock: Box<dyn Clock>,
    /// Keep the Merkle tree's nodes with each group (always, but for the benchmark that
    /// measures what keeping them costs; a ledger opened later fills in what was skipped).
    #[doc(hidden)]
    pub maintain_tree: bool,
    /// Sync sled's data file after each flush (always, but for the benchmark that measures
    /// what the sync costs).
    #[doc(hidden)]
    pub sync_files: bool,
    /// Injected disk failures and thread deaths, for tests; `None` everywhere else.
    pub faults: Option<Arc<dyn Faults>>,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            create: true,
            clock: Box::new(SystemClock),
            maintain_tree: true,
            sync_files: true,
            faults: None,
        }
    }
}

/// The position and hash given to one appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: Hash,
}

/// Why an append was refused. In every case nothing of the batch was appended.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// Event `index` (0-based in the batch) broke a rule. GraphQL `RULE_VIOLATION`, CLI exit
    /// 1; do not retry unchanged.
    #[error("event {}: {violation}", index + 1)]
    Rule { index: usize, violation: RuleViolation },
    /// `expect_seq` did not match the head. GraphQL `CONFLICT`; re-read and retry.
    #[error("conflict: expected the head at {expected}, but it is at {head}")]
    Conflict { expected: u64, head: u64 },
    /// An empty batch. GraphQL `BAD_USER_INPUT`.
    #[error("an append needs at least one event")]
    Empty,
    /// The store failed before anything of the append was written (or one of the ledger's
    /// threads died). GraphQL `INTERNAL`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A write or flush failed after the append was handed to the store, or the append
    /// came after such a failure: its events may or may not be durable. The ledger refuses
    /// every append until it is reopened, which settles what is durable; then send the
    /// same request again with the same idempotency key, which appends it once at most.
    /// GraphQL `OUTCOME_UNKNOWN`, CLI exit 2.
    #[error(
        "outcome unknown after a storage failure ({0}); reopen the ledger and retry with the same idempotency key"
    )]
    OutcomeUnknown(String),
    /// The writer has stopped (shutting down). GraphQL `INTERNAL`.
    #[error("the ledger is closed")]
    Closed,
    /// The idempotency key was used before for a different request. GraphQL
    /// `BAD_USER_INPUT`; use a new key for a new request.
    #[error("the idempotency key {0:?} was used before for a different request")]
    KeyReused(String),
    /// The idempotency key is empty or too long. GraphQL `BAD_USER_INPUT`.
    #[error("an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} bytes long")]
    BadKey,
}

/// The longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// An append's idempotency: the key the client chose (scoped to the actor), and a
/// fingerprint of the request, so that the same key sent with a different request is refused
/// instead of answered with another request's result.
struct Idempotency {
    key: Vec<u8>,
    client_key: String,
    fingerprint: Hash,
}

impl Idempotency {
    fn new(actor: &Id, key: &str, submissions: &[Submission], expect_seq: Option<u64>) -> Result<Self, AppendError> {
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(AppendError::BadKey);
        }
        let mut scoped = Vec::with_capacity(actor.as_str().len() + 1 + key.len());
        scoped.extend_from_slice(actor.as_str().as_bytes());
        scoped.push(0);
        scoped.extend_from_slice(key.as_bytes());
        let mut h = blake3::Hasher::new_derive_key("orgledger 2026-11-27 idempotent request v1");
        h.update(&expect_seq.map_or(u64::MAX, |s| s).to_be_bytes());
        for sub in submissions {
            let value = serde_json::Value::Object(sub.to_value());
            h.update(&crate::event::canonical::to_canonical(&value).expect("submissions hold no floats"));
            h.update(b"\n");
        }
        Ok(Idempotency {
            key: scoped,
            client_key: key.to_owned(),
            fingerprint: Hash(*h.finalize().as_bytes()),
        })
    }

    /// The stored outcome: the fingerprint, then the `seq` and hash of each event.
    fn encode(&self, appended: &[Appended]) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + appended.len() * 40);
        v.extend_from_slice(&self.fingerprint.0);
        for a in appended {
            v.extend_from_slice(&a.seq.to_be_bytes());
            v.extend_from_slice(&a.hash.0);
        }
        v
    }

    /// The outcome stored under this key, if it was for this same request.
    fn decode(&self, stored: &[u8]) -> Result<Vec<Appended>, AppendError> {
        if stored.len() < 32 || !(stored.len() - 32).is_multiple_of(40) {
            return Err(AppendError::Store(StoreError::Corrupt {
                seq: 0,
                reason: "a malformed idempotency entry".into(),
            }));
        }
        if stored[..32] != self.fingerprint.0 {
            return Err(AppendError::KeyReused(self.client_key.clone()));
        }
        Ok(stored[32..]
            .chunks(40)
            .map(|c| Appended {
                seq: u64::from_be_bytes(c[..8].try_into().expect("8 bytes")),
                hash: Hash(c[8..].try_into().expect("32 bytes")),
            })
            .collect())
    }
}

/// What an append answers: the `seq` and hash of each event, or why nothing was appended.
type Answer = Result<Vec<Appended>, AppendError>;

struct Request {
    actor: Id,
    submissions: Vec<Submission>,
    expect_seq: Option<u64>,
    idempotency: Option<Idempotency>,
    reply: Reply,
}

/// Where a submitter waits for its answer. Dropped unanswered while its thread unwinds
/// from a panic, it answers that the thread died, with the panic's message: a submitter
/// must never be told only "closed" (or wait) because a thread died holding its request.
struct Reply(Option<oneshot::Sender<Answer>>);

impl Reply {
    fn send(mut self, answer: Answer) {
        if let Some(tx) = self.0.take() {
            // A submitter that stopped waiting needs no answer.
            let _ = tx.send(answer);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            if std::thread::panicking() {
                let thread = std::thread::current();
                let thread = thread.name().unwrap_or("orgledger");
                let died = StoreError::ThreadDied {
                    thread: thread_role(thread),
                    message: last_panic().unwrap_or_else(|| "a panic".into()),
                };
                let _ = tx.send(Err(AppendError::Store(died)));
            }
        }
    }
}

/// The role of one of the ledger's threads, from its name.
fn thread_role(name: &str) -> &'static str {
    match name {
        "orgledger-writer" => "writer",
        "orgledger-flusher" => "flusher",
        "orgledger-projector" => "projector",
        _ => "ledger",
    }
}

/// An open ledger: the store plus the three threads of its append path.
///
/// - The **writer** owns the rules state. It takes whatever requests are queued, validates
///   each against the state left by the ones before it, seals the accepted events and
///   inserts them into sled as one atomic batch, then goes on with the next requests
///   without waiting for the disk.
/// - The **flusher** takes every batch inserted since its last flush, flushes once, and
///   only then answers their submitters: one flush for many groups, and the writer's work
///   on the next group overlaps the flush of the last.
/// - The **projector** folds durable records into the live projection and writes
///   projection snapshots, off the path that answers submitters.
pub struct Ledger {
    store: Arc<Store>,
    queue: Option<mpsc::Sender<Request>>,
    /// The durable head: moved by the flusher before it answers.
    head: watch::Receiver<Head>,
    /// The `seq` the live projection has folded up to.
    projected: Arc<Progress>,
    threads: Vec<JoinHandle<()>>,
    /// The writer's thread, which hands back the rules state when it ends (nothing when it
    /// panicked).
    writer: Option<JoinHandle<Option<(State, Head)>>>,
    /// The panics of the ledger's threads, so that what they served is refused.
    deaths: Arc<Deaths>,
    /// Set when storage failed: the writer's state may then hold what is not durable.
    stopped: Arc<OnceLock<String>>,
    /// The head the saved rules state stood for when the ledger opened.
    saved_at: Option<u64>,
    /// How many flushes made groups durable, so the benchmark can report the average number
    /// of events per flush.
    groups: Arc<AtomicU64>,
    projection: Arc<RwLock<Projection>>,
}

/// What each of the ledger's threads died of, if it panicked.
#[derive(Default)]
struct Deaths {
    writer: OnceLock<String>,
    flusher: OnceLock<String>,
    projector: OnceLock<String>,
}

impl Deaths {
    /// Runs a thread's body, and when it panics logs the panic and records it: a thread
    /// that dies silently would leave appends answered "closed" and reads served stale.
    fn guard<T>(&self, thread: &'static str, body: impl FnOnce() -> T) -> Option<T> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(out) => Some(out),
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                tracing::error!("the ledger's {thread} thread died: {message}");
                // Usually recorded already, while the thread unwound.
                let _ = self.slot(thread).set(message);
                None
            }
        }
    }

    /// Records that `thread` died of the panic it is unwinding from.
    fn record_unwinding(&self, thread: &'static str) {
        let _ = self.slot(thread).set(last_panic().unwrap_or_else(|| "a panic".into()));
    }

    fn slot(&self, thread: &str) -> &OnceLock<String> {
        match thread {
            "writer" => &self.writer,
            "flusher" => &self.flusher,
            _ => &self.projector,
        }
    }

    /// Why appends are refused, if the writer or the flusher died.
    fn append_path(&self) -> Option<StoreError> {
        let died = |thread, slot: &OnceLock<String>| {
            slot.get().map(|message| StoreError::ThreadDied {
                thread,
                message: message.clone(),
            })
        };
        died("writer", &self.writer).or_else(|| died("flusher", &self.flusher))
    }

    /// Why projection reads are refused, if the projector died: its projection stopped
    /// where it died.
    fn projector(&self) -> Option<StoreError> {
        self.projector.get().map(|message| StoreError::ThreadDied {
            thread: "projector",
            message: message.clone(),
        })
    }
}

/// A position that only moves forward, which threads can wait on.
struct Progress {
    seq: Mutex<u64>,
    moved: Condvar,
    /// The same position for async waiters.
    watch: watch::Sender<u64>,
    /// Set when the thread that moves the position has ended, for whatever reason, so
    /// that nobody waits for a position that will never come.
    ended: AtomicBool,
}

/// Records a thread's death when dropped while the thread unwinds from a panic: declared
/// first in the thread's body, it is dropped before the thread's channels are (the
/// function's arguments), so whoever sees a channel closed by the death finds it recorded.
struct DeathOnDrop(Arc<Deaths>, &'static str);

impl Drop for DeathOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.record_unwinding(self.1);
        }
    }
}

/// Marks a [`Progress`] ended when dropped: at the end of the projector's thread, or
/// while it unwinds from a panic, which it first records so that a reader woken by the end
/// is refused rather than served the stale projection.
struct EndOnDrop(Arc<Progress>, Arc<Deaths>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.1.record_unwinding("projector");
        }
        self.0.ended.store(true, Ordering::Release);
        self.0.moved.notify_all();
        // Wake async waiters too: they see `ended` and stop waiting.
        self.0.watch.send_modify(|_| {});
    }
}

impl Progress {
    fn new() -> Progress {
        Progress {
            seq: Mutex::new(0),
            moved: Condvar::new(),
            watch: watch::channel(0).0,
            ended: AtomicBool::new(false),
        }
    }

    fn advance(&self, seq: u64) {
        let mut cur = self.seq.lock().unwrap_or_else(|e| e.into_inner());
        if seq > *cur {
            *cur = seq;
            self.moved.notify_all();
            self.watch.send_replace(seq);
        }
    }

    /// Waits until the position is at least `seq`, or its thread has ended.
    fn wait_for(&self, seq: u64) {
        let mut cur = self.seq.lock().unwrap_or_else(|e| e.into_inner());
        while *cur < seq && !self.ended.load(Ordering::Acquire) {
            cur = self
                .moved
                .wait_timeout(cur, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`: verifies the whole chain (every hash and
    /// link, as `orgledger verify` does); starts from the rules state saved when the ledger
    /// last closed (when it matches the log) and replays what follows it, checking every
    /// rule on the way; opens the projection from its latest snapshot; then starts the
    /// append path. With no saved state (a new store, or one whose last writer was killed
    /// before it saved one) the whole log is replayed.
    pub fn open(dir: &Path, options: LedgerOptions) -> Result<Ledger, StoreError> {
        install_panic_hook();
        let mut store = Store::open(dir, options.create)?;
        store.configure(options.faults, options.sync_files);
        let store = Arc::new(store);
        // Every hash and link, at scan speed, before anything is served: the saved state and
        // the snapshots below skip the replay of what they cover, not its check.
        store.verify()?.map_err(StoreError::from_chain)?;
        let (snapshot, _) = store.latest_snapshot()?;
        let mut projection = snapshot.unwrap_or_default();
        let mut last_snapshot = projection.head().seq;
        let saved = store.rules_state()?;
        let saved_at = saved.as_ref().map(|(_, head)| head.seq);
        let (state, head) = replay(&store, saved, Some(&mut projection))?;
        let frontier = fill_tree(&store, head.seq)?;
        // From here on the writer inserts records before they are durable: reads stop at
        // the durable head, which each successful flush moves.
        store.limit_reads_to(head.seq);
        if snapshot_due(last_snapshot, head.seq) {
            store.put_snapshot(&projection)?;
            last_snapshot = head.seq;
        }
        let last_time = match head.seq {
            0 => None,
            seq => store.record(seq)?.map(|r| r.recorded_at()),
        };
        let projection = Arc::new(RwLock::new(projection));
        let projected = Arc::new(Progress::new());
        projected.advance(head.seq);
        let groups = Arc::new(AtomicU64::new(0));
        let stopped = Arc::new(OnceLock::new());
        let deaths = Arc::new(Deaths::default());
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (head_tx, head_rx) = watch::channel(head);
        let (flush_tx, flush_rx) = std::sync::mpsc::channel::<Inserted>();
        let (fold_tx, fold_rx) = std::sync::mpsc::channel::<Vec<Record>>();

        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(StoreError::io)
        };
        let projector = Projector {
            deaths: deaths.clone(),
            store: store.clone(),
            projection: projection.clone(),
            projected: projected.clone(),
            last_snapshot,
        };
        let flusher = Flusher {
            deaths: deaths.clone(),
            store: store.clone(),
            head_tx,
            groups: groups.clone(),
            stopped: stopped.clone(),
            fold: fold_tx,
        };
        let writer = Writer {
            deaths: deaths.clone(),
            store: store.clone(),
            state,
            head,
            frontier: options.maintain_tree.then_some(frontier),
            clock: options.clock,
            last_time,
            stopped: stopped.clone(),
            flush: flush_tx,
        };
        let (d1, d2, d3) = (deaths.clone(), deaths.clone(), deaths.clone());
        let threads = vec![
            spawn(
                "orgledger-projector",
                Box::new(move || {
                    d1.guard("projector", || projector.run(fold_rx));
                }),
            )?,
            spawn(
                "orgledger-flusher",
                Box::new(move || {
                    d2.guard("flusher", || flusher.run(flush_rx));
                }),
            )?,
        ];
        let writer = std::thread::Builder::new()
            .name("orgledger-writer".into())
            .spawn(move || d3.guard("writer", || writer.run(rx)))
            .map_err(StoreError::io)?;
        Ok(Ledger {
            store,
            queue: Some(tx),
            head: head_rx,
            projected,
            threads,
            writer: Some(writer),
            deaths,
            stopped,
            saved_at,
            groups,
            projection,
        })
    }

    /// Creates a new ledger in `dir`, which must hold no ledger: it is missing, empty, or
    /// holds only the files named in `side_files` (a tokens file made before the ledger,
    /// say). Anything else there, a store included, is refused (`DirectoryNotEmpty`) before
    /// anything is opened, so nothing there changes.
    pub fn create_new(dir: &Path, clock: Box<dyn Clock>, side_files: &[&str]) -> Result<Ledger, StoreError> {
        match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(format!("{}: {e}", dir.display()))),
            Ok(meta) if !meta.is_dir() => return Err(StoreError::DirectoryNotEmpty(dir.to_path_buf())),
            Ok(_) => {
                let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(format!("{}: {e}", dir.display())))?;
                for entry in entries {
                    let entry = entry.map_err(|e| StoreError::io(format!("{}: {e}", dir.display())))?;
                    if !side_files.iter().any(|f| entry.file_name() == *f) {
                        return Err(StoreError::DirectoryNotEmpty(dir.to_path_buf()));
                    }
                }
            }
        }
        Ledger::open(
            dir,
            LedgerOptions {
                create: true,
                clock,
                ..LedgerOptions::default()
            },
        )
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The head after the last durable group.
    pub fn head(&self) -> Head {
        *self.head.borrow()
    }

    /// The live projection, folded at least up to the durable head as it stood when called,
    /// so a submitter that reads after its append returned sees its own events. Callers
    /// that answer others check [`Ledger::projector_alive`] after it: a dead projector's
    /// projection stopped where it died.
    pub fn projection(&self) -> RwLockReadGuard<'_, Projection> {
        self.projected.wait_for(self.head().seq);
        self.projection_now()
    }

    /// Waits, without blocking a thread, until the live projection has folded the durable
    /// head as it stood when called; then [`Ledger::projection_now`] gives read-your-writes.
    /// Then check [`Ledger::projector_alive`]: a dead projector ends the wait too.
    pub async fn projection_caught_up(&self) {
        let target = self.head().seq;
        let mut rx = self.projected.watch.subscribe();
        let projected = self.projected.clone();
        let _ = rx
            .wait_for(|seq| *seq >= target || projected.ended.load(Ordering::Acquire))
            .await;
    }

    /// The live projection as it is now, without waiting for the projector. Callers check
    /// [`Ledger::projector_alive`] (or go through [`Ledger::projection_caught_up`]) first.
    pub fn projection_now(&self) -> RwLockReadGuard<'_, Projection> {
        self.projection.read().unwrap_or_else(|e| e.into_inner())
    }

    /// An error when the projector died: its projection stopped where it died, so nothing
    /// may be answered from it.
    pub fn projector_alive(&self) -> Result<(), StoreError> {
        self.deaths.projector().map_or(Ok(()), Err)
    }

    /// How many flushes have made groups durable since the ledger opened.
    pub fn groups_committed(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }

    /// A receiver that sees each new durable head.
    pub fn watch_head(&self) -> watch::Receiver<Head> {
        self.head.clone()
    }

    fn request(
        &self,
        actor: Id,
        submissions: Vec<Submission>,
        expect_seq: Option<u64>,
        idempotency_key: Option<&str>,
    ) -> Result<(Request, oneshot::Receiver<Answer>), AppendError> {
        if submissions.is_empty() {
            return Err(AppendError::Empty);
        }
        let idempotency = idempotency_key
            .map(|key| Idempotency::new(&actor, key, &submissions, expect_seq))
            .transpose()?;
        let (reply, rx) = oneshot::channel();
        let reply = Reply(Some(reply));
        Ok((
            Request {
                actor,
                submissions,
                expect_seq,
                idempotency,
                reply,
            },
            rx,
        ))
    }

    /// Appends a batch atomically and waits until it is durable. Blocking. Called inside a
    /// tokio runtime it still works, as a blocking call there does: on a multi-threaded
    /// runtime the worker hands its other tasks off first (`block_in_place`); on a
    /// current-thread runtime the runtime waits, which is safe since the writer does not
    /// run on it. Async callers should prefer [`Ledger::append_async`].
    pub fn append(&self, actor: Id, submissions: Vec<Submission>, expect_seq: Option<u64>) -> Answer {
        let (req, rx) = self.request(actor, submissions, expect_seq, None)?;
        let queue = self.queue.as_ref().ok_or_else(|| self.closed())?;
        let call = move || {
            queue.blocking_send(req).map_err(|_| ())?;
            rx.blocking_recv().map_err(|_| ())
        };
        // tokio's blocking calls panic inside a runtime; inside one, a helper thread outside
        // any runtime makes them.
        let outside = |call: Box<dyn FnOnce() -> Result<Answer, ()> + Send + '_>| {
            std::thread::scope(|scope| scope.spawn(call).join().unwrap_or(Err(())))
        };
        let answer = match tokio::runtime::Handle::try_current() {
            Err(_) => call(),
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| outside(Box::new(call)))
            }
            Ok(_) => outside(Box::new(call)),
        };
        answer.map_err(|_| self.closed())?
    }

    /// The error of an append the writer never answered: closed, or one of its threads died.
    fn closed(&self) -> AppendError {
        self.deaths
            .append_path()
            .map_or(AppendError::Closed, AppendError::Store)
    }

    /// Appends a batch atomically and waits until it is durable. For async callers.
    pub async fn append_async(&self, actor: Id, submissions: Vec<Submission>, expect_seq: Option<u64>) -> Answer {
        self.append_idempotent(actor, submissions, expect_seq, None).await
    }

    /// [`Ledger::append_async`] under an idempotency key: the first request with a key is
    /// appended, and the same request sent again with the same key (by the same actor) gets
    /// the first one's answer and appends nothing, even after a restart. The key is stored
    /// in the same atomic batch as the events.
    pub async fn append_idempotent(
        &self,
        actor: Id,
        submissions: Vec<Submission>,
        expect_seq: Option<u64>,
        idempotency_key: Option<&str>,
    ) -> Answer {
        let (req, rx) = self.request(actor, submissions, expect_seq, idempotency_key)?;
        let queue = self.queue.as_ref().ok_or_else(|| self.closed())?;
        queue.send(req).await.map_err(|_| self.closed())?;
        rx.await.map_err(|_| self.closed())?
    }

    /// Stops the append path after it has answered everything queued and folded every
    /// durable record.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Closing the queue ends the writer, whose end closes the flusher's channel, whose
        // end closes the projector's: each drains what it holds first.
        self.queue.take();
        let ended = self.writer.take().and_then(|w| w.join().ok()).flatten();
        for t in self.threads.drain(..).rev() {
            let _ = t.join();
        }
        // Save the rules state for the next open, when it is exactly the durable log's: no
        // storage failure, every inserted group flushed. A failure to save costs only a
        // longer replay next time.
        if let Some((state, head)) = ended {
            let durable = self.stopped.get().is_none() && self.head() == head;
            if durable && self.saved_at != Some(head.seq) {
                let _ = self.store.put_rules_state(&state, head);
            }
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Folds the log into the rules state, checking each record's hash, link and rules: from
/// `saved` (a state and the head it stands for) when given, else from the first record.
/// Records after the projection's own head are folded into `projection` too.
pub fn replay(
    store: &Store,
    saved: Option<(State, Head)>,
    mut projection: Option<&mut Projection>,
) -> Result<(State, Head), StoreError> {
    let (mut state, start) = saved.unwrap_or_else(|| (State::new(), Head::EMPTY));
    let mut chain = ChainVerifier::after(start);
    if let Some(p) = projection.as_deref_mut() {
        // The projection may stand before the saved state: fold the records between first.
        for record in store
            .records(p.head().seq + 1)
            .take(start.seq.saturating_sub(p.head().seq) as usize)
        {
            p.fold(&record?);
        }
    }
    for record in store.records(start.seq + 1) {
        let record = record?;
        chain.check_record(&record).map_err(StoreError::from_chain)?;
        state
            .submit(record.submission(), record.recorded_at().date())
            .map_err(|v| StoreError::Corrupt {
                seq: record.seq(),
                reason: format!("the stored event breaks {v}"),
            })?;
        if let Some(p) = projection.as_deref_mut() {
            if record.seq() > p.head().seq {
                p.fold(&record);
            }
        }
    }
    let head = chain.head();
    let recorded = store.head()?;
    if head != recorded {
        return Err(StoreError::Corrupt {
            seq: head.first_bad_against(recorded),
            reason: "the recorded head does not match the log".into(),
        });
    }
    Ok((state, head))
}

/// Brings the stored Merkle tree up to the log's `head` (a log written before the tree was
/// kept, or by the benchmark without it), and returns its frontier for the writer.
fn fill_tree(store: &Store, head: u64) -> Result<Frontier, StoreError> {
    let tree_err = |e: crate::merkle::TreeError| StoreError::Corrupt {
        seq: 0,
        reason: format!("the Merkle tree: {e}"),
    };
    let held = store.tree_size()?;
    if held > head {
        return Err(StoreError::Corrupt {
            seq: head + 1,
            reason: format!("the Merkle tree holds {held} leaves but the log ends at {head}"),
        });
    }
    let mut frontier = Frontier::from_nodes(held, store).map_err(tree_err)?;
    let mut nodes = Vec::new();
    for item in store.raw_records(held + 1) {
        let (_, hash, _) = item?;
        frontier.push_into(&hash, &mut nodes);
        if nodes.len() >= 1 << 16 {
            store.insert_tree_nodes(&nodes, frontier.size())?;
            nodes.clear();
        }
    }
    if held < head {
        store.insert_tree_nodes(&nodes, frontier.size())?;
        store.flush()?;
    }
    Ok(frontier)
}

/// A group inserted into sled but not yet flushed, with the submitters to answer.
struct Inserted {
    records: Vec<Record>,
    replies: Vec<(Reply, Vec<Appended>)>,
}

/// The error every append gets once a storage failure has stopped the append path: what was
/// inserted around the failure may or may not be on disk (sled may still write it in the
/// background), so nothing more is accepted or acknowledged until the ledger is reopened,
/// which replays and checks the log and so settles what is durable.
fn stopped_error(cause: &str) -> AppendError {
    AppendError::OutcomeUnknown(cause.to_owned())
}

struct Writer {
    deaths: Arc<Deaths>,
    store: Arc<Store>,
    state: State,
    /// The head including groups inserted but not yet flushed: where the next event goes.
    head: Head,
    /// The right edge of the Merkle tree at `head`: the nodes each record completes are
    /// stored in its group's batch. `None` only when the benchmark turns it off.
    frontier: Option<Frontier>,
    clock: Box<dyn Clock>,
    /// The last `recorded_at` given, so transaction time never goes backwards even if the
    /// wall clock does.
    last_time: Option<Timestamp>,
    /// Set by the flusher (or the writer) when storage failed.
    stopped: Arc<OnceLock<String>>,
    flush: std::sync::mpsc::Sender<Inserted>,
}

impl Writer {
    /// Runs until the queue closes, then hands back the rules state and the head it
    /// stands for.
    fn run(mut self, mut rx: mpsc::Receiver<Request>) -> (State, Head) {
        let _death = DeathOnDrop(self.deaths.clone(), "writer");
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            let mut events = group[0].submissions.len();
            while events < MAX_GROUP_EVENTS {
                match rx.try_recv() {
                    Ok(req) => {
                        events += req.submissions.len();
                        group.push(req);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group);
        }
        (self.state, self.head)
    }

    fn now(&mut self) -> Timestamp {
        let t = self.clock.now();
        let t = match self.last_time {
            Some(last) if last > t => last,
            _ => t,
        };
        self.last_time = Some(t);
        t
    }

    /// Validates each request of the group in turn against the state left by the ones
    /// before it, inserts the accepted ones as one atomic batch, and hands them to the
    /// flusher, which answers them once they are durable.
    fn commit(&mut self, group: Vec<Request>) {
        if let Some(died) = self.deaths.append_path() {
            for req in group {
                req.reply.send(Err(AppendError::Store(died.clone())));
            }
            return;
        }
        if let Some(cause) = self.stopped.get() {
            for req in group {
                req.reply.send(Err(stopped_error(cause)));
            }
            return;
        }
        let mut records: Vec<Record> = Vec::new();
        let mut replies = Vec::new();
        // Idempotency entries of this group, written with its records; a key used twice
        // within one group is found here, since the group is not in the store yet.
        let mut keys: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for req in group {
            if let Some(idem) = &req.idempotency {
                let stored = match keys.iter().find(|(k, _)| *k == idem.key) {
                    Some((_, v)) => Ok(Some(v.clone())),
                    None => self.store.idempotent(&idem.key).map_err(AppendError::Store),
                };
                match stored.and_then(|found| found.map(|v| idem.decode(&v)).transpose()) {
                    // Answered after the next flush, like any append: the first request's
                    // events may still be on their way to the disk.
                    Ok(Some(appended)) => {
                        replies.push((req.reply, appended));
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        req.reply.send(Err(e));
                        continue;
                    }
                }
            }
            if let Some(expected) = req.expect_seq {
                if expected != self.head.seq {
                    req.reply.send(Err(AppendError::Conflict {
                        expected,
                        head: self.head.seq,
                    }));
                    continue;
                }
            }
            // `State::submit` leaves the state as it was when it refuses an event, so only a
            // batch of several events needs a copy to roll back to (an O(1) clone).
            let state_mark = (req.submissions.len() > 1).then(|| self.state.clone());
            let (head_mark, records_mark) = (self.head, records.len());
            let mut refused = None;
            for (index, sub) in req.submissions.into_iter().enumerate() {
                let now = self.now();
                if let Err(violation) = self.state.submit(&sub, now.date()) {
                    refused = Some(AppendError::Rule { index, violation });
                    break;
                }
                let record = Record::seal(self.head.seq + 1, self.head.hash, now, req.actor.clone(), sub);
                self.head = Head {
                    seq: record.seq(),
                    hash: record.hash(),
                };
                records.push(record);
            }
            match refused {
                Some(err) => {
                    if let Some(state) = state_mark {
                        self.state = state;
                    }
                    self.head = head_mark;
                    records.truncate(records_mark);
                    req.reply.send(Err(err));
                }
                None => {
                    let appended: Vec<Appended> = records[records_mark..]
                        .iter()
                        .map(|r| Appended {
                            seq: r.seq(),
                            hash: r.hash(),
                        })
                        .collect();
                    if let Some(idem) = &req.idempotency {
                        keys.push((idem.key.clone(), idem.encode(&appended)));
                    }
                    replies.push((req.reply, appended));
                }
            }
        }
        if replies.is_empty() {
            return;
        }
        let mut nodes = Vec::with_capacity(records.len() * 2);
        if let Some(frontier) = &mut self.frontier {
            for r in &records {
                nodes.extend(frontier.push(&r.hash()));
            }
        }
        let tree = self.frontier.is_some().then_some(nodes.as_slice());
        // A failed insert may still reach the disk (sled can have taken part of it into its
        // write buffer), so its outcome is unknown, like a failed flush's.
        if let Err(e) = self.store.insert_group_with(&records, tree, &keys) {
            let cause = e.to_string();
            tracing::error!("inserting a group failed; the ledger stops appending until reopened: {cause}");
            let _ = self.stopped.set(cause);
            let cause = self.stopped.get().expect("just set");
            for (reply, _) in replies {
                reply.send(Err(stopped_error(cause)));
            }
            return;
        }
        if let Err(std::sync::mpsc::SendError(inserted)) = self.flush.send(Inserted { records, replies }) {
            // The flusher is gone (it died): this group was inserted and may reach the disk.
            let cause = "the flusher stopped".to_owned();
            let _ = self.stopped.set(cause);
            let error = self
                .deaths
                .append_path()
                .map_or_else(|| stopped_error("the flusher stopped"), AppendError::Store);
            for (reply, _) in inserted.replies {
                reply.send(Err(error.clone()));
            }
        }
    }
}

struct Flusher {
    deaths: Arc<Deaths>,
    store: Arc<Store>,
    head_tx: watch::Sender<Head>,
    groups: Arc<AtomicU64>,
    stopped: Arc<OnceLock<String>>,
    fold: std::sync::mpsc::Sender<Vec<Record>>,
}

impl Flusher {
    fn run(self, rx: std::sync::mpsc::Receiver<Inserted>) {
        let _death = DeathOnDrop(self.deaths.clone(), "flusher");
        while let Ok(first) = rx.recv() {
            let mut pending = vec![first];
            while let Ok(more) = rx.try_recv() {
                pending.push(more);
            }
            // After a failure nothing is flushed or acknowledged: a later group's flush
            // would make the failed groups durable behind their submitters' backs, and a
            // later Ok after an earlier failure would break the order of acknowledgements.
            if let Some(cause) = self.stopped.get() {
                for p in pending {
                    for (reply, _) in p.replies {
                        reply.send(Err(stopped_error(cause)));
                    }
                }
                continue;
            }
            match self.store.flush() {
                Ok(()) => {
                    self.groups.fetch_add(1, Ordering::Relaxed);
                    // The head moves before anyone is answered, so a submitter that reads the
                    // head after its append sees its own events. (A group may hold only
                    // repeated idempotent requests, and no record.)
                    if let Some(last) = pending.iter().rev().find_map(|p| p.records.last()) {
                        self.head_tx.send_replace(Head {
                            seq: last.seq(),
                            hash: last.hash(),
                        });
                    }
                    let mut durable = Vec::new();
                    for p in pending {
                        for (reply, appended) in p.replies {
                            reply.send(Ok(appended));
                        }
                        durable.extend(p.records);
                    }
                    if !durable.is_empty() {
                        let _ = self.fold.send(durable);
                    }
                }
                Err(e) => {
                    let cause = e.to_string();
                    tracing::error!("a flush failed; the ledger stops appending until reopened: {cause}");
                    let _ = self.stopped.set(cause);
                    let cause = self.stopped.get().expect("just set");
                    for p in pending {
                        for (reply, _) in p.replies {
                            reply.send(Err(stopped_error(cause)));
                        }
                    }
                }
            }
        }
    }
}

struct Projector {
    deaths: Arc<Deaths>,
    store: Arc<Store>,
    projection: Arc<RwLock<Projection>>,
    projected: Arc<Progress>,
    /// The `seq` of the last projection snapshot written.
    last_snapshot: u64,
}

impl Projector {
    fn run(mut self, rx: std::sync::mpsc::Receiver<Vec<Record>>) {
        let _ended = EndOnDrop(self.projected.clone(), self.deaths.clone());
        while let Ok(first) = rx.recv() {
            let mut batches = vec![first];
            while let Ok(more) = rx.try_recv() {
                batches.push(more);
            }
            // A test's injected panic here kills the projector as a bug would.
            if let Err(e) = self.store.fault_at_fold() {
                panic!("folding into the projection: {e}");
            }
            let head = {
                let mut projection = self.projection.write().unwrap_or_else(|e| e.into_inner());
                for r in batches.iter().flatten() {
                    projection.fold(r);
                }
                projection.head().seq
            };
            self.projected.advance(head);
            if snapshot_due(self.last_snapshot, head) {
                // Readers share the lock while the snapshot is encoded; only folding waits.
                let projection = self.projection.read().unwrap_or_else(|e| e.into_inner());
                // A failed snapshot write only costs a longer replay next time.
                if self.store.put_snapshot(&projection).is_ok() {
                    self.last_snapshot = head;
                }
            }
        }
    }
}
