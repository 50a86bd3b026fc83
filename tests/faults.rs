//! The append path under injected failures (through `LedgerOptions::faults`): a failed
//! insert or flush is never acknowledged around and leaves every later append refused until
//! the ledger is reopened; nothing not yet durable is readable; each acknowledged group
//! comes after exactly one sync; and a thread that dies is reported, not served around.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use orgledger::event::{Id, Submission};
use orgledger::ledger::{AppendError, Appended, Ledger, LedgerOptions};
use orgledger::store::{FaultPoint, Faults, StoreError};

mod common;

use common::{fixture_events as fixture, hamlet};

fn actor() -> Id {
    Id::parse("clerk").unwrap()
}

/// What a scripted fault does when its point is reached for the chosen time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Fail,
    Panic,
    /// Wait until the test releases it, then fail.
    HoldThenFail,
}

/// A script of faults: counts each point once armed, and acts at the chosen count.
#[derive(Default)]
struct Script {
    armed: AtomicBool,
    plan: Mutex<HashMap<(FaultPoint, u64), Action>>,
    state: Mutex<(HashMap<FaultPoint, u64>, Vec<FaultPoint>, bool)>,
    changed: Condvar,
}

impl Script {
    fn new(plan: &[(FaultPoint, u64, Action)]) -> Arc<Script> {
        let script = Script::default();
        *script.plan.lock().unwrap() = plan.iter().map(|&(p, n, a)| ((p, n), a)).collect();
        Arc::new(script)
    }

    /// Starts counting: what opening the ledger did is not part of the script.
    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn count(&self, point: FaultPoint) -> u64 {
        self.state.lock().unwrap().0.get(&point).copied().unwrap_or(0)
    }

    fn trace(&self) -> Vec<FaultPoint> {
        self.state.lock().unwrap().1.clone()
    }

    /// Waits until `point` has been reached `n` times. Bounded so that a failure is a test
    /// failure, not a hang; it fails only if the point is never reached.
    fn wait_for(&self, point: FaultPoint, n: u64) {
        let mut state = self.state.lock().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while state.0.get(&point).copied().unwrap_or(0) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{point:?} was never reached {n} times"
            );
            state = self.changed.wait_timeout(state, Duration::from_millis(50)).unwrap().0;
        }
    }

    fn release(&self) {
        self.state.lock().unwrap().2 = true;
        self.changed.notify_all();
    }
}

impl Faults for Script {
    fn at(&self, point: FaultPoint) -> std::io::Result<()> {
        if !self.armed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let n = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let n = state.0.entry(point).or_insert(0);
            *n += 1;
            let n = *n;
            state.1.push(point);
            self.changed.notify_all();
            n
        };
        // The plan's lock is let go before an injected panic: a panic while holding it would
        // poison it, and the next thread to consult the plan would die of that instead.
        let action = self
            .plan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(point, n))
            .copied();
        match action {
            None => Ok(()),
            Some(Action::Fail) => Err(std::io::Error::other(format!("injected failure at {point:?} #{n}"))),
            Some(Action::Panic) => panic!("injected panic at {point:?} #{n}"),
            Some(Action::HoldThenFail) => {
                let mut state = self.state.lock().unwrap();
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                while !state.2 && std::time::Instant::now() < deadline {
                    state = self.changed.wait_timeout(state, Duration::from_millis(50)).unwrap().0;
                }
                Err(std::io::Error::other(format!("injected failure at {point:?} #{n}")))
            }
        }
    }
}

fn open_with(dir: &std::path::Path, script: &Arc<Script>) -> Ledger {
    let ledger = Ledger::open(
        dir,
        LedgerOptions::default().with_faults(script.clone() as Arc<dyn Faults>),
    )
    .expect("the ledger opens");
    script.arm();
    ledger
}

fn is_unknown(answer: &Result<Vec<Appended>, AppendError>) -> bool {
    matches!(answer, Err(AppendError::OutcomeUnknown(_)))
}

/// A request of three hamlets under its own key, so that a half-visible request would show.
fn request(n: usize) -> Vec<Submission> {
    (0..3).map(|i| hamlet(&format!("xom-{n}-{i}"))).collect()
}

/// After reopening: every request is in the log exactly once and whole, at the position
/// acknowledged for it if it was, once each unknown one is retried with its key.
async fn check_settled(dir: &std::path::Path, answers: &[(usize, Result<Vec<Appended>, AppendError>)]) {
    let ledger = Ledger::open(dir, LedgerOptions::default()).expect("the ledger reopens");
    for (n, answer) in answers {
        let again = ledger
            .append_idempotent(actor(), request(*n), None, Some(&format!("k-{n}")))
            .await
            .expect("a retry with the same key after reopening succeeds");
        if let Ok(acknowledged) = answer {
            assert_eq!(
                &again, acknowledged,
                "request {n} was acknowledged, so it stayed where it was"
            );
        }
    }
    // Each request's three events, once each and adjacent.
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    for record in ledger.store().records(1) {
        let record = record.unwrap();
        let value = serde_json::Value::Object(record.submission().to_value());
        if let Some(slug) = value["locality"].as_str().filter(|s| s.starts_with("xom-")) {
            seen.entry(slug.rsplit_once('-').unwrap().0.to_owned())
                .or_default()
                .push(record.seq());
        }
    }
    for (n, _) in answers {
        let seqs = &seen[&format!("xom-{n}")];
        assert_eq!(seqs.len(), 3, "request {n} is in the log once, whole: {seqs:?}");
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "request {n} is one batch: {seqs:?}"
        );
    }
    ledger.close();
}

/// A flush that fails while a later group is already inserted: the failing group's
/// submitter and the later one are told the outcome is unknown (before the fix the later
/// one was acknowledged, its flush making the failed group durable too), every later append
/// is refused until reopening, nothing of them is readable meanwhile, and after reopening
/// a retry under the same key settles each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_is_never_acknowledged_around() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        ledger.append_async(actor(), fixture(), None).await.unwrap();
    }
    let script = Script::new(&[(FaultPoint::Flush, 3, Action::HoldThenFail)]);
    let ledger = Arc::new(open_with(dir.path(), &script));
    let mut answers = Vec::new();
    for n in 0..2 {
        let answer = ledger
            .append_idempotent(actor(), request(n), None, Some(&format!("k-{n}")))
            .await;
        assert!(answer.is_ok());
        answers.push((n, answer));
    }
    let durable = ledger.head().seq;
    // Request 2's flush is held; request 3 is inserted meanwhile.
    let submit = |n: usize| {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            ledger
                .append_idempotent(actor(), request(n), None, Some(&format!("k-{n}")))
                .await
        })
    };
    let second = submit(2);
    script.wait_for(FaultPoint::Flush, 3);
    let third = submit(3);
    script.wait_for(FaultPoint::Insert, 4);
    // Inserted, not durable: not readable.
    assert_eq!(ledger.head().seq, durable);
    assert!(ledger.store().record(durable + 1).unwrap().is_none());
    assert_eq!(ledger.store().records(1).count() as u64, durable);
    script.release();
    let (second, third) = (second.await.unwrap(), third.await.unwrap());
    assert!(is_unknown(&second), "the failed flush's group: {second:?}");
    assert!(is_unknown(&third), "the group after it: {third:?}");
    answers.push((2, second));
    answers.push((3, third));
    // Refused from now on, and still nothing past the durable head is readable.
    let later = ledger.append_idempotent(actor(), request(4), None, Some("k-4")).await;
    assert!(is_unknown(&later), "{later:?}");
    answers.push((4, later));
    assert_eq!(ledger.head().seq, durable);
    assert!(ledger.store().record(durable + 1).unwrap().is_none());
    assert_eq!(
        script.count(FaultPoint::Flush),
        3,
        "nothing was flushed after the failure"
    );
    drop(ledger);
    check_settled(dir.path(), &answers).await;
}

/// An insert that fails: unknown for its submitter, refused after, settled on reopening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_insert_stops_the_ledger_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        ledger.append_async(actor(), fixture(), None).await.unwrap();
    }
    let script = Script::new(&[(FaultPoint::Insert, 2, Action::Fail)]);
    let ledger = open_with(dir.path(), &script);
    let mut answers = Vec::new();
    for n in 0..4 {
        let answer = ledger
            .append_idempotent(actor(), request(n), None, Some(&format!("k-{n}")))
            .await;
        match n {
            0 => assert!(answer.is_ok(), "{answer:?}"),
            _ => assert!(is_unknown(&answer), "request {n}: {answer:?}"),
        }
        answers.push((n, answer));
    }
    assert_eq!(
        script.count(FaultPoint::Insert),
        2,
        "nothing is inserted after the failure"
    );
    ledger.close();
    check_settled(dir.path(), &answers).await;
}

/// A sync that fails is a failed flush: unknown, then refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_is_an_unknown_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new(&[(FaultPoint::Sync, 2, Action::Fail)]);
    let ledger = open_with(dir.path(), &script);
    ledger.append_async(actor(), fixture(), None).await.unwrap();
    let head = ledger.head().seq;
    let failed = ledger.append_idempotent(actor(), request(0), None, Some("k-0")).await;
    assert!(is_unknown(&failed), "{failed:?}");
    assert_eq!(ledger.head().seq, head);
    assert!(ledger.store().record(head + 1).unwrap().is_none());
    let refused = ledger.append_idempotent(actor(), request(1), None, Some("k-1")).await;
    assert!(is_unknown(&refused), "{refused:?}");
    drop(ledger);
    check_settled(dir.path(), &[(0, failed), (1, refused)]).await;
}

/// Every acknowledged group comes after exactly one sync of the store's files, which comes
/// after sled's flush.
#[test]
fn each_acknowledged_group_comes_after_exactly_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new(&[]);
    let ledger = open_with(dir.path(), &script);
    let syncs = ledger.store().syncs();
    let groups = ledger.groups_committed();
    ledger.append(actor(), fixture(), None).unwrap();
    for n in 0..5 {
        ledger.append(actor(), request(n), None).unwrap();
        // Appended one at a time, each append is a group of its own.
        assert_eq!(ledger.store().syncs() - syncs, n as u64 + 2);
        assert_eq!(ledger.groups_committed() - groups, n as u64 + 2);
    }
    let trace = script.trace();
    use FaultPoint::*;
    let path: Vec<FaultPoint> = trace.into_iter().filter(|p| *p != Fold).collect();
    assert_eq!(
        path,
        [Insert, Flush, Sync].repeat(6),
        "insert, flush, then one sync, per group"
    );
}

/// Everything logged in this test binary, to check that a thread's death is logged.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    })
    .clone()
}

/// Waits until the logs hold `text`; fails only if it is never logged.
fn wait_for_log(text: &str) {
    let logs = logs();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&logs.lock().unwrap()).contains(text) {
        assert!(std::time::Instant::now() < deadline, "never logged: {text}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn assert_died(answer: &Result<Vec<Appended>, AppendError>, thread: &str) {
    match answer {
        Err(AppendError::Store(StoreError::ThreadDied { thread: t, message })) => {
            assert_eq!(*t, thread);
            assert!(message.contains("injected panic"), "{message}");
        }
        other => panic!("expected the {thread} thread's death, got {other:?}"),
    }
}

/// A writer that panics: the submitter and every later one are told the writer died (not
/// "closed"), and the death is logged with the panic's message.
#[test]
fn a_dead_writer_is_reported_and_logged() {
    let _ = logs();
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new(&[(FaultPoint::Insert, 2, Action::Panic)]);
    let ledger = open_with(dir.path(), &script);
    ledger.append(actor(), fixture(), None).unwrap();
    assert_died(&ledger.append(actor(), request(0), None), "writer");
    assert_died(&ledger.append(actor(), request(1), None), "writer");
    wait_for_log("the ledger's writer thread died: injected panic at Insert #2");
}

/// A flusher that panics: its submitters and every later one are told it died.
#[test]
fn a_dead_flusher_is_reported_and_logged() {
    let _ = logs();
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new(&[(FaultPoint::Flush, 2, Action::Panic)]);
    let ledger = open_with(dir.path(), &script);
    ledger.append(actor(), fixture(), None).unwrap();
    let head = ledger.head().seq;
    assert_died(&ledger.append(actor(), request(0), None), "flusher");
    assert_died(&ledger.append(actor(), request(1), None), "flusher");
    assert_eq!(ledger.head().seq, head);
    assert!(ledger.store().record(head + 1).unwrap().is_none());
    wait_for_log("the ledger's flusher thread died: injected panic at Flush #2");
}

/// A projector that panics: reads of the projection are refused instead of served stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_projector_refuses_reads() {
    let _ = logs();
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new(&[(FaultPoint::Fold, 1, Action::Panic)]);
    let ledger = open_with(dir.path(), &script);
    ledger.append_async(actor(), fixture(), None).await.unwrap();
    ledger.projection_caught_up().await;
    match ledger.projector_alive() {
        Err(StoreError::ThreadDied { thread, message }) => {
            assert_eq!(thread, "projector");
            assert!(message.contains("injected panic at Fold #1"), "{message}");
        }
        other => panic!("expected the projector's death, got {other:?}"),
    }
    wait_for_log("the ledger's projector thread died: injected panic at Fold #1");
}

/// `Ledger::append` is a blocking call that works inside a current-thread runtime too...
#[tokio::test(flavor = "current_thread")]
async fn the_blocking_append_works_inside_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    let appended = ledger.append(actor(), fixture(), None).expect("appended");
    assert_eq!(appended.len(), 12);
    assert_eq!(ledger.head().seq, 12);
}

/// ...and inside a multi-threaded one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_append_works_inside_a_multi_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    let appended = ledger.append(actor(), fixture(), None).expect("appended");
    assert_eq!(appended.len(), 12);
}

/// Through GraphQL: while a group is inserted but its flush held, `event(seq)` and
/// `node(id: "Event:N")` answer null for it, as for any event past the durable head; after
/// the flush fails they still do, until the ledger is reopened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_never_reads_past_the_durable_head() {
    use orgledger::graphql::{schema, Env, Limits};
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new(&[(FaultPoint::Flush, 2, Action::HoldThenFail)]);
    let ledger = Arc::new(open_with(dir.path(), &script));
    ledger.append_async(actor(), fixture(), None).await.unwrap();
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    let schema = schema(Arc::new(Env::new(ledger.clone(), stopping, None)), &Limits::default());
    let ask = |seq: u64| {
        let schema = schema.clone();
        async move {
            let query = format!(r#"{{ event(seq: {seq}) {{ seq }} node(id: "Event:{seq}") {{ id }} }}"#);
            let response = schema.execute(query.as_str()).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            response.data.into_json().unwrap()
        }
    };
    let seen = ask(12).await;
    assert_eq!(seen["event"]["seq"], 12, "{seen}");
    let pending = {
        let ledger = ledger.clone();
        tokio::spawn(async move { ledger.append_idempotent(actor(), request(0), None, Some("k-0")).await })
    };
    script.wait_for(FaultPoint::Flush, 2);
    for seq in 13..=15 {
        let unseen = ask(seq).await;
        assert!(unseen["event"].is_null() && unseen["node"].is_null(), "{seq}: {unseen}");
    }
    script.release();
    assert!(is_unknown(&pending.await.unwrap()));
    let unseen = ask(13).await;
    assert!(unseen["event"].is_null() && unseen["node"].is_null(), "{unseen}");
}
