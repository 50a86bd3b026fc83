//! The crash test: a child process appends events one at a time and reports each `seq` the
//! ledger acknowledged; the test kills it with SIGKILL at a random moment, reopens the
//! store, and checks that the chain verifies and that every acknowledged event is there.
//! The next child continues on the same store, so the crashes accumulate.
//!
//! The child is this same test binary, run again with `--exact` on this test and with
//! [`CHILD_DATA`] set, as sled's own crash tests do. 8 crashes in a normal run, 200 under
//! `ORGLEDGER_STRESS=1`; set `ORGLEDGER_CRASH_SEED` to replay the kill points of a failure.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use orgledger::event::{Event, Id, Submission};
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::store::StoreError;

/// Set in the child's environment to the data directory it must append to.
const CHILD_DATA: &str = "ORGLEDGER_CRASH_CHILD_DATA";
/// The name of the one test of this file, which the child runs again.
const TEST_NAME: &str = "a_killed_writer_loses_no_acknowledged_event";
/// What the child writes before each acknowledged `seq`.
const ACK: &str = "acked seq ";
/// The child stops by itself after this long, should nobody kill it.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);
/// The kill comes after up to this many acknowledgements...
const MAX_ACKS_BEFORE_KILL: u64 = 40;
/// ...and then after up to this many microseconds more.
const MAX_KILL_DELAY_MICROS: u64 = 20_000;
/// How long to wait for sled's lock to be free before a test step counts as failed.
const LOCK_PATIENCE: Duration = Duration::from_secs(10);

/// The province, district and commune the hamlets belong to: seqs 1 to 3, appended as one
/// batch by the first child, so a crash leaves all of them or none.
const TERRITORY: [&str; 3] = [
    r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"cao-bang","name":"Cao Bằng","kind":"province","border":true}"#,
    r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"trung-khanh","name":"Trùng Khánh","kind":"district","parent":"cao-bang","border":true}"#,
    r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xa-dam-thuy","name":"Đàm Thủy","kind":"commune","parent":"trung-khanh","border":true}"#,
];

/// The locality the event at `seq` registers: the territory, then hamlet `xom-<seq>`.
fn locality_at(seq: u64) -> String {
    match seq {
        1 => "cao-bang".into(),
        2 => "trung-khanh".into(),
        3 => "xa-dam-thuy".into(),
        n => format!("xom-{n}"),
    }
}

fn hamlet(seq: u64) -> Submission {
    let line = format!(
        r#"{{"type":"LocalityRegistered","effective":"2005-01-01","locality":"{}","name":"Xóm {seq}","kind":"hamlet","parent":"xa-dam-thuy","border":false}}"#,
        locality_at(seq)
    );
    Submission::from_json(&line).expect("a well-formed hamlet")
}

/// Opens the ledger, waiting while the lock of a ledger just closed or just killed is
/// still held (sled lets go a moment after its last handle is dropped).
fn open_ledger(data: &Path) -> Ledger {
    let deadline = Instant::now() + LOCK_PATIENCE;
    loop {
        match Ledger::open(data, LedgerOptions::default()) {
            Err(StoreError::InUse(_)) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            other => return other.expect("the ledger opens after a crash"),
        }
    }
}

/// The child's side: append single events until killed, writing each acknowledged `seq`
/// to stdout and flushing at once, so that every `seq` the parent reads was durable first.
fn append_until_killed(data: &Path) {
    let ledger = open_ledger(data);
    let actor = Id::parse("ban-to-chuc-huyen-uy").expect("actor id");
    let mut out = std::io::stdout().lock();
    let mut report = |seq: u64| writeln!(out, "{ACK}{seq}").and_then(|()| out.flush());
    if ledger.head().seq == 0 {
        let batch = TERRITORY
            .iter()
            .map(|l| Submission::from_json(l).expect("a well-formed locality"))
            .collect();
        for a in ledger
            .append(actor.clone(), batch, None)
            .expect("the territory appends")
        {
            if report(a.seq).is_err() {
                return;
            }
        }
    }
    let deadline = Instant::now() + CHILD_LIFETIME;
    while Instant::now() < deadline {
        let seq = ledger.head().seq + 1;
        let appended = ledger
            .append(actor.clone(), vec![hamlet(seq)], None)
            .expect("a new hamlet appends");
        assert_eq!(appended[0].seq, seq, "the only writer predicts its seq");
        // A failed write means the parent has gone: stop rather than append forever.
        if report(seq).is_err() {
            return;
        }
    }
}

/// A child process that is killed and reaped whenever this guard is dropped, so a failing
/// assertion in the parent never leaves a writer running.
struct RunningChild(Child);

impl Drop for RunningChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl RunningChild {
    fn spawn(data: &Path) -> RunningChild {
        let exe = std::env::current_exe().expect("the test binary's path");
        let child = Command::new(exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_DATA, data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the appending child");
        RunningChild(child)
    }

    /// Kills the child and returns what it wrote to stderr, for failure messages.
    fn kill(&mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        stderr
    }
}

/// The `seq` in one complete line of the child's stdout, if it is an acknowledgement. The
/// test harness writes its own text on the same stream, sometimes on the same line (its
/// `test ... ` comes before the test's first output), so the marker is searched for.
fn acknowledged_seq(line: &str) -> Option<u64> {
    let line = line.strip_suffix('\n')?;
    let (_, seq) = line.rsplit_once(ACK)?;
    Some(seq.parse().expect("an acknowledged seq is a number"))
}

/// Reads acknowledgements until `count` have come, or the child's stdout ends.
fn read_acks(stdout: &mut BufReader<ChildStdout>, count: u64, acked: &mut Vec<u64>) -> bool {
    let mut line = String::new();
    while (acked.len() as u64) < count {
        line.clear();
        if stdout.read_line(&mut line).expect("read the child's stdout") == 0 {
            return false;
        }
        acked.extend(acknowledged_seq(&line));
    }
    true
}

/// splitmix64: a small deterministic generator, so a failing kill schedule can be replayed
/// from its seed.
struct KillSchedule(u64);

impl KillSchedule {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}

/// Prints the iteration and seed if the test panics while it is alive.
struct SeedReport {
    iteration: u64,
    seed: u64,
}

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "crash iteration {} failed; replay with ORGLEDGER_CRASH_SEED={} (seed of this iteration {})",
                self.iteration,
                self.seed.wrapping_sub(self.iteration),
                self.seed
            );
        }
    }
}

/// Runs one child, kills it after `acks` acknowledgements and `delay`, and returns the
/// `seq`s it acknowledged, including those read after the kill.
fn crash_once(data: &Path, acks: u64, delay: Duration) -> Vec<u64> {
    let mut child = RunningChild::spawn(data);
    let mut stdout = BufReader::new(child.0.stdout.take().expect("piped stdout"));
    let mut acked = Vec::new();
    if !read_acks(&mut stdout, acks, &mut acked) {
        let stderr = child.kill();
        panic!(
            "the child stopped after {} acknowledgements, before the kill; its stderr:\n{stderr}",
            acked.len()
        );
    }
    std::thread::sleep(delay);
    child.kill();
    // What the child wrote before it died was acknowledged too; a last line cut short by
    // the kill is not complete and does not count.
    read_acks(&mut stdout, u64::MAX, &mut acked);
    acked
}

/// Reopens the store after a crash and checks it against everything acknowledged so far.
fn check_after_crash(data: &Path, acknowledged: &BTreeSet<u64>) {
    let ledger = open_ledger(data);
    let store = ledger.store();
    match store.verify() {
        Ok(Ok(verified)) => assert_eq!(verified.head, ledger.head()),
        Ok(Err(broken)) => panic!("the chain is broken after a crash: {broken}"),
        Err(e) => panic!("verify could not read the store: {e}"),
    }
    let head = ledger.head().seq;
    let highest = acknowledged.last().copied().unwrap_or(0);
    assert!(head >= highest, "acknowledged up to {highest}, but the head is {head}");
    // Every record, acknowledged or not, is the event the child sent for that seq: a crash
    // may lose an unacknowledged tail, never change or reorder what is there.
    for seq in 1..=head {
        let record = store
            .record(seq)
            .expect("read a record")
            .unwrap_or_else(|| panic!("record {seq} is missing below the head {head}"));
        match record.event() {
            Event::LocalityRegistered(e) => assert_eq!(e.locality.as_str(), locality_at(seq)),
            other => panic!("record {seq} is not what the child appended: {other:?}"),
        }
    }
    // The rules know every record the log holds, though the killed writer's stored rules
    // state stood where it was last written back: the open replayed the records since.
    if head > 3 {
        match ledger.append(Id::parse("kiem-tra").unwrap(), vec![hamlet(head)], None) {
            Err(orgledger::ledger::AppendError::Rule { violation, .. }) => assert_eq!(violation.rule, "id_in_use"),
            other => panic!("the hamlet of record {head} again, after a crash: {other:?}"),
        }
    }
    ledger.close();
    common::wait_until_released(data);
    let stored = orgledger::store::Store::open(data, false).expect("the store opens");
    assert_eq!(
        stored.rules_head().expect("readable"),
        Some(stored.head().expect("readable")),
        "the close wrote the rules state back at the head"
    );
    drop(stored);
    common::wait_until_released(data);
}

#[test]
fn a_killed_writer_loses_no_acknowledged_event() {
    if let Some(data) = std::env::var_os(CHILD_DATA) {
        append_until_killed(Path::new(&data));
        return;
    }
    let stress = std::env::var("ORGLEDGER_STRESS").as_deref() == Ok("1");
    let iterations: u64 = if stress { 200 } else { 8 };
    let base_seed: u64 = match std::env::var("ORGLEDGER_CRASH_SEED") {
        Ok(s) => s.parse().expect("ORGLEDGER_CRASH_SEED is a number"),
        Err(_) => 0x6f72_676c_6564_6765,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let mut acknowledged = BTreeSet::new();
    for iteration in 0..iterations {
        let seed = base_seed.wrapping_add(iteration);
        let _report = SeedReport { iteration, seed };
        let mut schedule = KillSchedule(seed);
        let acks = schedule.below(MAX_ACKS_BEFORE_KILL + 1);
        let delay = Duration::from_micros(schedule.below(MAX_KILL_DELAY_MICROS + 1));
        let acked = crash_once(&data, acks, delay);
        for pair in acked.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "acknowledgements come in order: {acked:?}");
        }
        acknowledged.extend(acked);
        check_after_crash(&data, &acknowledged);
    }
    assert!(
        acknowledged.len() as u64 >= iterations,
        "the children acknowledged too little to test anything: {} events",
        acknowledged.len()
    );
}
