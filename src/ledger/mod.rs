//! The ledger: the store plus the append path that writes it and the live projection read
//! from it. A single writer owns the rules state, validates each submitted batch against
//! it, assigns `seq`, seals and hashes the records, and commits whatever is queued as one
//! group with one flush. Each submitter is answered only after its events are durable.
//!
//! The append contract: an append returns the durably assigned `seq` and hash of each of
//! its events, or an error, and then nothing of it was appended.
//!
//! Architecture invariant: sled is the store's (`crate::store`) alone; this module speaks
//! to it only through [`Store`]. The pieces, one file each: `writer` (validate, seal,
//! insert), `flusher` (flush, sync, acknowledge), `projector` (fold durable records,
//! write snapshots), `replay` (fold the log at open), `idempotency` (keys and their
//! stored answers), [`caches`] (projection snapshots and the saved rules state, files
//! beside sled's).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

pub mod caches;
mod flusher;
mod idempotency;
mod projector;
mod replay;
mod rules;
mod writer;

use crate::chain::Head;
use crate::event::{Hash, Id, Record, Submission, Timestamp};
use crate::projection::Projection;
use crate::rules::RuleViolation;
use crate::store::{install_panic_hook, last_panic, panic_message, Faults, Store, StoreError};
use flusher::Flusher;
use idempotency::Idempotency;
use projector::Projector;
use replay::{fill_tree, fold_tail};
use rules::Rules;
use writer::Writer;

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
    pub(crate) maintain_tree: bool,
    /// Sync sled's data file after each flush (always, but for the benchmark that measures
    /// what the sync costs).
    pub(crate) sync_files: bool,
    /// Injected disk failures and thread deaths, for tests; `None` everywhere else.
    pub(crate) faults: Option<Arc<dyn Faults>>,
    /// Keep the live projection (load its snapshot, fold each durable group). A command
    /// that only appends (`orgledger append`) turns it off, and then must not ask for
    /// [`Ledger::projection`]: its open costs nothing that grows with the projection.
    pub project: bool,
    /// The bound of the writer's cache of the rules state, in bytes of stored entries
    /// (`--rules-cache-mib` of `serve` and `follow`): the state itself is in the store.
    pub rules_cache_bytes: usize,
    /// Events accepted between two write-backs of the rules state: always
    /// `rules::WRITE_BACK_EVENTS`, but for the tests that need the cache emptied soon.
    pub(crate) rules_write_back_events: u64,
}

/// The default bound of the rules-state cache: 64 MiB of stored entries.
pub const DEFAULT_RULES_CACHE_BYTES: usize = 64 << 20;

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            create: true,
            clock: Box::new(SystemClock),
            maintain_tree: true,
            sync_files: true,
            faults: None,
            project: true,
            rules_cache_bytes: DEFAULT_RULES_CACHE_BYTES,
            rules_write_back_events: rules::WRITE_BACK_EVENTS,
        }
    }
}

impl LedgerOptions {
    /// The default options with another source of `recorded_at` (a stepped clock makes the
    /// same hashes on every run).
    pub fn with_clock(clock: Box<dyn Clock>) -> LedgerOptions {
        LedgerOptions {
            clock,
            ..LedgerOptions::default()
        }
    }

    /// Without the live projection (see [`LedgerOptions::project`]).
    pub fn without_projection(mut self) -> LedgerOptions {
        self.project = false;
        self
    }

    /// With the rules-state cache bounded to `bytes` (see [`LedgerOptions::rules_cache_bytes`]).
    pub fn with_rules_cache_bytes(mut self, bytes: usize) -> LedgerOptions {
        self.rules_cache_bytes = bytes;
        self
    }

    /// Open only an existing ledger: `NotFound` where there is none.
    pub fn existing(mut self) -> LedgerOptions {
        self.create = false;
        self
    }
}

/// The switches only the project's own tests and benchmarks turn, behind the `internals`
/// feature (which they enable through a dev-dependency on this crate): a build of the
/// binary has none of them.
#[cfg(feature = "internals")]
impl LedgerOptions {
    /// Injected disk failures and thread deaths, for the fault tests.
    pub fn with_faults(mut self, faults: Arc<dyn Faults>) -> LedgerOptions {
        self.faults = Some(faults);
        self
    }

    /// Skip the Merkle tree's nodes, for the benchmark that measures what they cost.
    pub fn without_tree(mut self) -> LedgerOptions {
        self.maintain_tree = false;
        self
    }

    /// Skip the sync after each flush, for the benchmark that measures what it costs.
    pub fn without_sync(mut self) -> LedgerOptions {
        self.sync_files = false;
        self
    }

    /// Write the rules state back after every `events` accepted events instead of every
    /// 100,000, so that a test sees the cache emptied for its bound (which happens only at
    /// a write-back) within a few groups.
    pub fn with_rules_write_back_events(mut self, events: u64) -> LedgerOptions {
        self.rules_write_back_events = events.max(1);
        self
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
    /// A record copied from another ledger ([`Ledger::copy_records`], a follower's) does not
    /// follow this copy: its hash, `seq` or `prev` is wrong, or its event breaks a rule.
    /// Nothing of the batch was written. CLI exit 1 (`orgledger follow` stops, naming the
    /// `seq`); not retryable: the other ledger's log disagrees with what was verified.
    #[error("{0}")]
    Diverged(crate::chain::ChainError),
}

/// The longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// What an append answers: the `seq` and hash of each event, or why nothing was appended.
type Answer = Result<Vec<Appended>, AppendError>;

/// What the writer takes from its queue: submissions to seal, or records another ledger
/// sealed, to copy as they are.
enum Queued {
    Append(Request),
    Copy(CopyRequest),
}

impl Queued {
    /// How many events it carries, to bound a group.
    fn events(&self) -> usize {
        match self {
            Queued::Append(r) => r.submissions.len(),
            Queued::Copy(c) => c.records.len(),
        }
    }

    fn into_reply(self) -> Reply {
        match self {
            Queued::Append(r) => r.reply,
            Queued::Copy(c) => c.reply,
        }
    }
}

/// A batch of copied records handed to the writer ([`Ledger::queue_copy`]), not yet
/// answered.
pub struct PendingCopy(oneshot::Receiver<Answer>);

/// Records sealed by another ledger (a follower's leader), to be written with their own
/// `seq`, `recorded_at`, actor and hash once the writer has checked that they follow its
/// head and keep every rule.
struct CopyRequest {
    records: Vec<Record>,
    reply: Reply,
}

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
///   projection snapshots, off the path that answers submitters: as it starts, when the
///   open folded 10,000 records or more after the latest one; at its pace while it runs;
///   and as the ledger closes.
pub struct Ledger {
    store: Arc<Store>,
    queue: Option<mpsc::Sender<Queued>>,
    /// The durable head: moved by the flusher before it answers.
    head: watch::Receiver<Head>,
    /// The `seq` the live projection has folded up to.
    projected: Arc<Progress>,
    threads: Vec<JoinHandle<()>>,
    /// The writer's thread, which hands back the head it left when it ends (nothing when it
    /// panicked).
    writer: Option<JoinHandle<Option<Head>>>,
    /// The panics of the ledger's threads, so that what they served is refused.
    deaths: Arc<Deaths>,
    /// Set when storage failed: the writer's state may then hold what is not durable.
    stopped: Arc<OnceLock<String>>,
    /// The head the ledger opened at, marked in `caches/` at close only if it moved.
    opened_at: u64,
    /// How many flushes made groups durable, so the benchmark can report the average number
    /// of events per flush.
    groups: Arc<AtomicU64>,
    projection: Arc<RwLock<Projection>>,
    /// Whether the projection is kept ([`LedgerOptions::project`]).
    project: bool,
    /// Set when a check of the chain failed after the ledger opened (the server's
    /// background verify): every append is refused with it from then on.
    refused: Arc<OnceLock<StoreError>>,
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
    /// Opens (or creates) the ledger in `dir`. The checks take time that follows what is new,
    /// not the log's length: the store's own (the tail, and every record after the verified
    /// point: see [`Store::open`]), then that the log still reaches every head the caches were
    /// written at. The whole chain is `orgledger verify`'s (a server runs it in the
    /// background, [`Ledger::verify_in_background`]). Then it starts from the rules state
    /// saved when the ledger last closed (when it matches the log) and replays what follows
    /// it, checking every rule on the way; opens the projection from its latest snapshot
    /// (unless [`LedgerOptions::project`] is off); then starts the append path. With no
    /// saved state (a new store, or one whose last writer was killed before it saved one)
    /// the whole log is replayed.
    pub fn open(dir: &Path, options: LedgerOptions) -> Result<Ledger, StoreError> {
        install_panic_hook();
        let mut store = Store::open(dir, options.create)?;
        store.configure(options.faults, options.sync_files);
        let store = Arc::new(store);
        caches::check_cache_heads(&store, store.head()?).map_err(StoreError::from_chain)?;
        let (snapshot, _) = match options.project {
            true => store.latest_snapshot()?,
            false => (None, 0),
        };
        let mut projection = snapshot.unwrap_or_default();
        let last_snapshot = projection.head().seq;
        let mut rules = Rules::new(
            store.clone(),
            options.rules_cache_bytes,
            options.rules_write_back_events,
        );
        let head = rules.catch_up()?;
        store.remove_saved_rules_state()?;
        if options.project {
            fold_tail(&store, &mut projection, head.seq)?;
        }
        let frontier = fill_tree(&store, head.seq)?;
        // From here on the writer inserts records before they are durable: reads stop at
        // the durable head, which each successful flush moves.
        store.limit_reads_to(head.seq);
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
            rules,
            head,
            frontier: options.maintain_tree.then_some(frontier),
            clock: options.clock,
            last_time,
            stopped: stopped.clone(),
            flush: flush_tx,
        };
        let (d1, d2, d3) = (deaths.clone(), deaths.clone(), deaths.clone());
        let mut threads = vec![spawn(
            "orgledger-flusher",
            Box::new(move || {
                d2.guard("flusher", || flusher.run(flush_rx));
            }),
        )?];
        if options.project {
            threads.push(spawn(
                "orgledger-projector",
                Box::new(move || {
                    d1.guard("projector", || projector.run(fold_rx));
                }),
            )?);
        } else {
            // No projector: the flusher's hand-offs are dropped, and nobody waits for one.
            drop((projector, fold_rx));
            projected.ended.store(true, Ordering::Release);
        }
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
            opened_at: head.seq,
            groups,
            projection,
            project: options.project,
            refused: Arc::new(OnceLock::new()),
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

    /// The store, shared: for a test to read it after the ledger closed.
    #[cfg(feature = "internals")]
    pub fn shared_store(&self) -> Arc<Store> {
        self.store.clone()
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
        assert!(
            self.project,
            "the ledger was opened without its projection (LedgerOptions::project)"
        );
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

    /// Whether this ledger keeps its live projection (not opened `without_projection`).
    pub fn projects(&self) -> bool {
        self.project
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

    /// Verifies the whole chain up to the head as it stands now (every hash and link, and
    /// the Merkle tree, as `orgledger verify` does) on a thread of its own, while the ledger
    /// serves; when it fails, every append is refused from then on with the broken record's
    /// `seq` (reads go on: what is wrong is named by `orgledger verify`). `done` is called
    /// with the verdict.
    pub fn verify_in_background(
        &self,
        done: impl FnOnce(&Result<crate::store::Verified, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let store = self.store.clone();
        let refused = self.refused.clone();
        let through = self.head();
        std::thread::Builder::new()
            .name("orgledger-verify".into())
            .spawn(move || {
                let verdict = match store.verify_through(through) {
                    Ok(Ok(verified)) => Ok(verified),
                    Ok(Err(broken)) => Err(StoreError::from_chain(broken)),
                    Err(e) => Err(e),
                };
                if let Err(e) = &verdict {
                    let _ = refused.set(e.clone());
                }
                done(&verdict);
            })
            .map(|_| ())
            .map_err(StoreError::io)
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
        if let Some(refused) = self.refused.get() {
            return Err(AppendError::Store(refused.clone()));
        }
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
            queue.blocking_send(Queued::Append(req)).map_err(|_| ())?;
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
        queue.send(Queued::Append(req)).await.map_err(|_| self.closed())?;
        rx.await.map_err(|_| self.closed())?
    }

    /// Writes records that another ledger sealed (a follower copying its leader), keeping
    /// their `seq`, `recorded_at`, actor and hash, and waits until they are durable. The
    /// writer checks each as an import does: its hash (computed when it was read), that it
    /// follows the head (`seq`, `prev`), and every rule against the state on its
    /// `recorded_at` date; the Merkle tree's nodes are stored with them, as for an append.
    /// One atomic group: the first bad record refuses the whole batch
    /// ([`AppendError::Diverged`], naming its `seq`) and nothing of it is written.
    pub async fn copy_records(&self, records: Vec<Record>) -> Answer {
        let pending = self.queue_copy(records).await?;
        self.copied(pending).await
    }

    /// Hands records to the writer as [`Ledger::copy_records`] does, without waiting for
    /// them: the caller reads the next batch while the writer checks and writes this one.
    /// Batches are written in the order they are queued; one that follows a refused batch
    /// is refused too (it no longer follows the head). Wait with [`Ledger::copied`].
    pub async fn queue_copy(&self, records: Vec<Record>) -> Result<PendingCopy, AppendError> {
        if let Some(refused) = self.refused.get() {
            return Err(AppendError::Store(refused.clone()));
        }
        if records.is_empty() {
            return Err(AppendError::Empty);
        }
        let (reply, rx) = oneshot::channel();
        let req = CopyRequest {
            records,
            reply: Reply(Some(reply)),
        };
        let queue = self.queue.as_ref().ok_or_else(|| self.closed())?;
        queue.send(Queued::Copy(req)).await.map_err(|_| self.closed())?;
        Ok(PendingCopy(rx))
    }

    /// Waits until a queued copy is durable, or refused.
    pub async fn copied(&self, pending: PendingCopy) -> Answer {
        pending.0.await.map_err(|_| self.closed())?
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
        // Mark the head the ledger closed at, when it is exactly the durable log's (no
        // storage failure, every inserted group flushed) and it moved: one of the marks by
        // which a log cut back behind the chain's back is caught
        // (`caches::check_cache_heads`). A failure to mark loses only that check.
        if let Some(head) = ended {
            let durable = self.stopped.get().is_none() && self.head() == head;
            if durable && self.opened_at != head.seq {
                let _ = self.store.put_closed_head(head);
            }
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shutdown();
    }
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
