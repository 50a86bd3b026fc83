//! The single writer: it owns the current state, validates each submitted batch against it,
//! assigns `seq`, seals and hashes the records, and commits whatever is queued as one group
//! with one flush. Each submitter is answered only after its events are durable.
//!
//! The append contract: an append returns the durably assigned `seq` and hash of each of
//! its events, or an error, and then nothing of it was appended.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use super::{Store, StoreError};
use crate::chain::{ChainVerifier, Head};
use super::views::snapshot_due;
use crate::event::{Hash, Id, Record, Submission, Timestamp};
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
        SteppedClock { next: start.micros(), step: step_micros }
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
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions { create: true, clock: Box::new(SystemClock) }
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
    /// The store failed; the state was rolled back. GraphQL `INTERNAL`; retry may succeed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer has stopped (shutting down). GraphQL `INTERNAL`.
    #[error("the ledger is closed")]
    Closed,
}

struct Request {
    actor: Id,
    submissions: Vec<Submission>,
    expect_seq: Option<u64>,
    reply: oneshot::Sender<Result<Vec<Appended>, AppendError>>,
}

/// An open ledger: the store plus its writer thread.
pub struct Ledger {
    store: Arc<Store>,
    queue: Option<mpsc::Sender<Request>>,
    head: watch::Receiver<Head>,
    writer: Option<JoinHandle<()>>,
    /// How many groups the writer has made durable, so the benchmark can report the
    /// average group size (events per flush).
    groups: Arc<AtomicU64>,
    /// The live projection, folded by the writer after each durable group and before it
    /// answers, so a submitter that reads after its append sees its own events.
    projection: Arc<RwLock<Projection>>,
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`: replays the log into the state, checking
    /// every hash, link and rule on the way, then starts the writer.
    pub fn open(dir: &Path, options: LedgerOptions) -> Result<Ledger, StoreError> {
        let store = Arc::new(Store::open(dir, options.create)?);
        let (snapshot, _) = store.latest_snapshot()?;
        let mut projection = snapshot.unwrap_or_default();
        let last_snapshot = projection.head().seq;
        let (state, head) = replay(&store, Some(&mut projection))?;
        if snapshot_due(last_snapshot, head.seq) {
            store.put_snapshot(&projection)?;
        }
        let last_snapshot = if snapshot_due(last_snapshot, head.seq) { head.seq } else { last_snapshot };
        let projection = Arc::new(RwLock::new(projection));
        let writer_projection = projection.clone();
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (head_tx, head_rx) = watch::channel(head);
        let writer_store = store.clone();
        let groups = Arc::new(AtomicU64::new(0));
        let writer_groups = groups.clone();
        let last_time = match head.seq {
            0 => None,
            seq => store.record(seq)?.map(|r| r.recorded_at()),
        };
        let writer = std::thread::Builder::new()
            .name("orgledger-writer".into())
            .spawn(move || {
                Writer {
                    store: writer_store,
                    state,
                    head,
                    clock: options.clock,
                    last_time,
                    head_tx,
                    groups: writer_groups,
                    projection: writer_projection,
                    last_snapshot,
                }
                    .run(rx)
            })
            .map_err(StoreError::io)?;
        Ok(Ledger { store, queue: Some(tx), head: head_rx, writer: Some(writer), groups, projection })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The head after the last durable group.
    pub fn head(&self) -> Head {
        *self.head.borrow()
    }

    /// The live projection, up to the last durable group.
    pub fn projection(&self) -> RwLockReadGuard<'_, Projection> {
        self.projection.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How many groups (one flush each) the writer has made durable since the ledger opened.
    pub fn groups_committed(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }

    /// A receiver that sees each new head.
    pub fn watch_head(&self) -> watch::Receiver<Head> {
        self.head.clone()
    }

    fn request(
        &self,
        actor: Id,
        submissions: Vec<Submission>,
        expect_seq: Option<u64>,
    ) -> Result<(Request, oneshot::Receiver<Result<Vec<Appended>, AppendError>>), AppendError> {
        if submissions.is_empty() {
            return Err(AppendError::Empty);
        }
        let (reply, rx) = oneshot::channel();
        Ok((Request { actor, submissions, expect_seq, reply }, rx))
    }

    /// Appends a batch atomically and waits until it is durable. Blocking; for threads.
    pub fn append(&self, actor: Id, submissions: Vec<Submission>, expect_seq: Option<u64>) -> Result<Vec<Appended>, AppendError> {
        let (req, rx) = self.request(actor, submissions, expect_seq)?;
        let queue = self.queue.as_ref().ok_or(AppendError::Closed)?;
        queue.blocking_send(req).map_err(|_| AppendError::Closed)?;
        rx.blocking_recv().map_err(|_| AppendError::Closed)?
    }

    /// Appends a batch atomically and waits until it is durable. For async callers.
    pub async fn append_async(
        &self,
        actor: Id,
        submissions: Vec<Submission>,
        expect_seq: Option<u64>,
    ) -> Result<Vec<Appended>, AppendError> {
        let (req, rx) = self.request(actor, submissions, expect_seq)?;
        let queue = self.queue.as_ref().ok_or(AppendError::Closed)?;
        queue.send(req).await.map_err(|_| AppendError::Closed)?;
        rx.await.map_err(|_| AppendError::Closed)?
    }

    /// Stops the writer after it has answered everything queued.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.queue.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Folds the whole log into the state, checking each record's hash, link and rules.
/// Records after the projection's own head are folded into `projection` too.
pub fn replay(store: &Store, mut projection: Option<&mut Projection>) -> Result<(State, Head), StoreError> {
    let mut state = State::new();
    let mut chain = ChainVerifier::new();
    for record in store.records(1) {
        let record = record?;
        chain.check_record(&record).map_err(StoreError::from_chain)?;
        state.apply(record.submission(), record.recorded_at().date()).map_err(|v| StoreError::Corrupt {
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
        return Err(StoreError::Corrupt { seq: head.first_bad_against(recorded), reason: "the recorded head does not match the log".into() });
    }
    Ok((state, head))
}

struct Writer {
    store: Arc<Store>,
    state: State,
    head: Head,
    clock: Box<dyn Clock>,
    /// The last `recorded_at` given, so transaction time never goes backwards even if the
    /// wall clock does.
    last_time: Option<Timestamp>,
    head_tx: watch::Sender<Head>,
    /// Counts durable groups for [`Ledger::groups_committed`].
    groups: Arc<AtomicU64>,
    projection: Arc<RwLock<Projection>>,
    /// The `seq` of the last projection snapshot written.
    last_snapshot: u64,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Request>) {
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
    /// before it, writes the accepted ones with one flush, then answers everyone.
    fn commit(&mut self, group: Vec<Request>) {
        let (base_state, base_head, base_time) = (self.state.clone(), self.head, self.last_time);
        let mut records: Vec<Record> = Vec::new();
        let mut accepted = Vec::new();
        for req in group {
            if let Some(expected) = req.expect_seq {
                if expected != self.head.seq {
                    let _ = req.reply.send(Err(AppendError::Conflict { expected, head: self.head.seq }));
                    continue;
                }
            }
            let (state_mark, head_mark, records_mark) = (self.state.clone(), self.head, records.len());
            let mut refused = None;
            for (index, sub) in req.submissions.into_iter().enumerate() {
                let now = self.now();
                if let Err(violation) = self.state.apply(&sub, now.date()) {
                    refused = Some(AppendError::Rule { index, violation });
                    break;
                }
                let record = Record::seal(self.head.seq + 1, self.head.hash, now, req.actor.clone(), sub);
                self.head = Head { seq: record.seq(), hash: record.hash() };
                records.push(record);
            }
            match refused {
                Some(err) => {
                    self.state = state_mark;
                    self.head = head_mark;
                    records.truncate(records_mark);
                    let _ = req.reply.send(Err(err));
                }
                None => {
                    let appended = records[records_mark..].iter().map(|r| Appended { seq: r.seq(), hash: r.hash() }).collect();
                    accepted.push((req.reply, appended));
                }
            }
        }
        if records.is_empty() {
            return;
        }
        match self.store.write_group(&records) {
            Ok(()) => {
                self.groups.fetch_add(1, Ordering::Relaxed);
                {
                    let mut projection = self.projection.write().unwrap_or_else(|e| e.into_inner());
                    for r in &records {
                        projection.fold(r);
                    }
                    if snapshot_due(self.last_snapshot, self.head.seq) {
                        // A failed snapshot write only costs a longer replay next time.
                        if self.store.put_snapshot(&projection).is_ok() {
                            self.last_snapshot = self.head.seq;
                        }
                    }
                }
                self.head_tx.send_replace(self.head);
                for (reply, appended) in accepted {
                    let _ = reply.send(Ok(appended));
                }
            }
            Err(e) => {
                self.state = base_state;
                self.head = base_head;
                self.last_time = base_time;
                for (reply, _) in accepted {
                    let _ = reply.send(Err(AppendError::Store(e.clone())));
                }
            }
        }
    }
}
