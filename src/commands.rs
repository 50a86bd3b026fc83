//! What each command of the CLI does. `main.rs` parses the arguments and calls these; they
//! write their results to the given output and return the process exit code's reason.
//!
//! Exit codes: 0 success; 1 the input or the data is wrong (a bad line, a broken rule, a
//! broken chain); 2 the command could not run (store in use or missing, IO, usage).

pub mod audit;
pub mod follow;
pub mod report;
pub mod serve;
pub mod tls;
pub mod witness;

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::json;

use crate::chain::ChainVerifier;
use crate::event::{Id, Record, Submission};
use crate::ledger::{AppendError, Ledger, LedgerOptions};
use crate::rules::State;
use crate::store::{Store, StoreError};

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The input or the data is wrong. Exit code 1.
    #[error("{0}")]
    Rejected(String),
    /// The command could not run. Exit code 2.
    #[error("{0}")]
    Failed(String),
    /// Whoever read the output stopped reading (`orgledger log | head`): not an error of
    /// the command. Exit code 0, nothing printed.
    #[error("the output was closed")]
    OutputClosed,
}

impl CommandError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandError::Rejected(_) => 1,
            CommandError::Failed(_) => 2,
            CommandError::OutputClosed => 0,
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt { .. } | StoreError::Damaged(_) => CommandError::Rejected(e.to_string()),
            // Name what holds the store when it can be told: a server says where it serves.
            StoreError::InUse(ref dir) => match serve::holder(dir) {
                Some(holder) => CommandError::Failed(format!("the store at {} is in use by {holder}", dir.display())),
                None => CommandError::Failed(e.to_string()),
            },
            _ => CommandError::Failed(e.to_string()),
        }
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe => CommandError::OutputClosed,
            _ => CommandError::Failed(e.to_string()),
        }
    }
}

/// Refuses a directory that holds no ledger, with the store's own `no ledger at DIR`, or a
/// damaged one (sled's data file without its `conf`), as every open does: for the commands
/// that read a ledger's side files (tokens, the signing key) without opening the store, so
/// that a wrong `--data` is never taken for an empty ledger.
pub fn require_ledger(data: &Path) -> Result<(), CommandError> {
    Store::probe(data).map_err(CommandError::from)
}

/// The longest input line `append` reads. An event is a few hundred bytes; a line of
/// megabytes is a mistake or an attack, refused before it is parsed.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads JSON Lines input into submissions, naming the line of the first bad one. Lines
/// holding only whitespace are skipped; line numbers count every line.
pub fn read_submissions(input: impl BufRead) -> Result<(Vec<Submission>, Vec<usize>), CommandError> {
    let mut subs = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in input.split(b'\n').enumerate() {
        let n = i + 1;
        let bytes = line?;
        if bytes.len() > MAX_LINE_BYTES {
            return Err(CommandError::Rejected(format!(
                "line {n}: the line is {} bytes long; an event is at most {MAX_LINE_BYTES} bytes",
                bytes.len()
            )));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| CommandError::Rejected(format!("line {n}: the line is not valid UTF-8")))?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            continue;
        }
        let sub = Submission::from_json(text).map_err(|e| CommandError::Rejected(format!("line {n}: {e}")))?;
        subs.push(sub);
        lines.push(n);
    }
    if subs.is_empty() {
        return Err(CommandError::Rejected("no events in the input".into()));
    }
    Ok((subs, lines))
}

/// `orgledger append`: one atomic batch; prints `{"seq":N,"hash":"..."}` per event.
pub fn append(
    data: &Path,
    input: impl BufRead,
    expect_seq: Option<u64>,
    actor: &str,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    let actor = Id::parse(actor).map_err(|e| CommandError::Failed(format!("--actor: {e}")))?;
    let (subs, lines) = read_submissions(input)?;
    // Only a directory this command creates may be removed again.
    let existed = data.exists();
    // An append reads nothing of the projection: opening without it costs nothing that
    // grows with the organization.
    let ledger = Ledger::open(data, LedgerOptions::default().without_projection())?;
    let appended = ledger.append(actor, subs, expect_seq).map_err(|e| match e {
        AppendError::Rule { index, violation } => CommandError::Rejected(format!("line {}: {violation}", lines[index])),
        AppendError::Conflict { .. } => CommandError::Rejected(e.to_string()),
        AppendError::Store(s) => s.into(),
        // The command line has no idempotency key: say how to find out instead.
        AppendError::OutcomeUnknown(cause) => CommandError::Failed(format!(
            "the append may or may not have been recorded after a storage failure ({cause}); \
             check with `orgledger log` before appending again"
        )),
        other => CommandError::Failed(other.to_string()),
    });
    ledger.close();
    let appended = match appended {
        Ok(appended) => appended,
        Err(e) => {
            // A refused first batch leaves no empty store behind where there was none:
            // refused input costs nothing, not even a directory.
            if !existed {
                let _ = std::fs::remove_dir_all(data);
            }
            return Err(e);
        }
    };
    for a in appended {
        writeln!(out, "{}", json!({"seq": a.seq, "hash": a.hash.to_hex()}))?;
    }
    Ok(())
}

/// `orgledger verify` on a store. Prints the JSON verdict; a broken chain is `Rejected`
/// after the verdict is printed.
pub fn verify_store(data: &Path, out: &mut impl Write) -> Result<(), CommandError> {
    let store = Store::open_unchecked(data, false)?;
    let verdict = crate::ledger::caches::verify(&store)?;
    print_verdict(verdict.map(|v| (v.events, v.head.hash, v.root)), out)
}

/// `orgledger verify --file`: the same checks on an export file, without a store.
pub fn verify_file(file: &Path, out: &mut impl Write) -> Result<(), CommandError> {
    if file.is_dir() {
        return Err(CommandError::Failed(format!(
            "{}: is a directory, not an export file",
            file.display()
        )));
    }
    let (input, meter) = metered_file(file, "verifying")?;
    let mut events = 0u64;
    meter.note("0 events");
    let verdict = verify_export(input, |_| {
        events += 1;
        if events.is_multiple_of(1_000) {
            meter.note(format!("{events} events"));
        }
        Ok(())
    })?;
    drop(meter);
    print_verdict(verdict.map(|(head, root)| (head.seq, head.hash, root)), out)
}

/// [`check_export`], recomputing the Merkle tree as the file is read: the head and the root
/// at its size, or the first bad record. `each` sees every good record, as in
/// [`check_export`]: what `verify --file`, `import` and a check against a checkpoint share.
pub fn verify_export(
    input: impl BufRead + Send,
    mut each: impl FnMut(Record) -> Result<(), crate::chain::ChainError>,
) -> Result<Result<(crate::chain::Head, crate::event::Hash), crate::chain::ChainError>, CommandError> {
    let mut tree = crate::merkle::Frontier::new();
    let mut completed = Vec::new();
    let verdict = check_export(input, |record| {
        completed.clear();
        tree.push_into(&record.hash(), &mut completed);
        each(record)
    })?;
    Ok(verdict.map(|head| (head, tree.root())))
}

/// Prints `{"events","head","ok":true,"root"}` for a good chain, or the first bad record.
fn print_verdict(
    verdict: Result<(u64, crate::event::Hash, crate::event::Hash), crate::chain::ChainError>,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    match verdict {
        Ok((events, head, root)) => {
            writeln!(
                out,
                "{}",
                json!({"ok": true, "events": events, "head": head.to_hex(), "root": root.to_hex()})
            )?;
            Ok(())
        }
        Err(e) => {
            writeln!(out, "{}", json!({"ok": false, "seq": e.seq, "error": e.error}))?;
            Err(CommandError::Rejected(format!(
                "the chain is broken at record {}: {}",
                e.seq, e.error
            )))
        }
    }
}

/// Reads an export file, checking each line's hash, form and link, and hands each good
/// record to `each`. `Ok(Err(_))` names the first bad record.
///
/// Reading a line (its parse, the seal that proves canonical form, its hash) is most of the
/// work and needs nothing from the lines around it, so it runs on every core
/// ([`crate::parallel::map_in_order`]); the link of each record to the one before and
/// `each` run here, in file order, so the verdict is the one a line-by-line reading gives.
/// A failure to read the file is answered once the lines before it are checked.
pub fn check_export(
    input: impl BufRead + Send,
    mut each: impl FnMut(Record) -> Result<(), crate::chain::ChainError>,
) -> Result<Result<crate::chain::Head, crate::chain::ChainError>, CommandError> {
    /// Why the reading stopped before the end of the file.
    enum Stop {
        Bad(crate::chain::ChainError),
        Unreadable(std::io::Error),
    }
    let mut chain = ChainVerifier::new();
    let mut lines = input.split(b'\n');
    let mut failed = false;
    // The lines, up to and including the first failure to read.
    let lines = std::iter::from_fn(move || {
        let line = lines.next().filter(|_| !failed)?;
        failed = line.is_err();
        Some(line)
    });
    let read = crate::parallel::map_in_order(lines, ReadLine::of, |line| {
        let seq = chain.head().seq + 1;
        let record = match line {
            ReadLine::Empty => return Ok(()),
            ReadLine::Unreadable(e) => return Err(Stop::Unreadable(e)),
            ReadLine::Bad(error) => return Err(Stop::Bad(crate::chain::ChainError { seq, error })),
            ReadLine::Record(record) => record,
        };
        chain.check_record(&record).map_err(Stop::Bad)?;
        each(*record).map_err(Stop::Bad)
    });
    match read {
        Ok(()) => Ok(Ok(chain.head())),
        Err(Stop::Bad(e)) => Ok(Err(e)),
        Err(Stop::Unreadable(e)) => Err(e.into()),
    }
}

/// One line of an export file, read.
enum ReadLine {
    /// An empty line (the end of the file, or a blank line), skipped.
    Empty,
    /// The file could not be read there.
    Unreadable(std::io::Error),
    /// Why the line is not a record.
    Bad(String),
    Record(Box<Record>),
}

impl ReadLine {
    fn of(line: std::io::Result<Vec<u8>>) -> ReadLine {
        let bytes = match line {
            Ok(bytes) => bytes,
            Err(e) => return ReadLine::Unreadable(e),
        };
        match std::str::from_utf8(&bytes) {
            Err(_) => ReadLine::Bad("the line is not valid UTF-8".into()),
            Ok("") => ReadLine::Empty,
            Ok(text) => match Record::from_export_line(text) {
                Ok(record) => ReadLine::Record(Box::new(record)),
                Err(e) => ReadLine::Bad(e.to_string()),
            },
        }
    }
}

/// `orgledger export`: every record, one canonical line each, in `seq` order.
pub fn export(data: &Path, out: &mut impl Write) -> Result<u64, CommandError> {
    let store = Store::open(data, false)?;
    export_records(&store, out)
}

/// `orgledger export --out FILE`: written to `FILE.partial`, synced, then renamed, so FILE
/// is either absent or whole. The store is opened first: nothing is created if it fails.
pub fn export_file(data: &Path, path: &Path) -> Result<u64, CommandError> {
    let store = Store::open(data, false)?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let file =
        std::fs::File::create(&partial).map_err(|e| CommandError::Failed(format!("{}: {e}", partial.display())))?;
    let mut writer = std::io::BufWriter::new(file);
    let written = export_records(&store, &mut writer).and_then(|n| {
        let file = writer.into_inner().map_err(|e| CommandError::Failed(e.to_string()))?;
        file.sync_all()?;
        std::fs::rename(&partial, path)?;
        Ok(n)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

fn export_records(store: &Store, out: &mut impl Write) -> Result<u64, CommandError> {
    let mut n = 0;
    let meter = crate::progress::Meter::events("exporting", Some(store.head()?.seq));
    for record in store.records(1) {
        let record = record?;
        out.write_all(record.export_line().as_bytes())?;
        out.write_all(b"\n")?;
        n += 1;
        meter.inc(1);
    }
    out.flush()?;
    Ok(n)
}

/// `orgledger import`: checks the whole file (hashes, chain and every rule) and only then
/// writes it, in one atomic group, into an empty store.
pub fn import(data: &Path, file: &Path, out: &mut impl Write) -> Result<(), CommandError> {
    let (input, meter) = metered_file(file, "checking")?;
    let mut state = State::new();
    let mut records = Vec::new();
    meter.note("0 events");
    let verdict = verify_export(input, |record| {
        if records.len() % 1_000 == 999 {
            meter.note(format!("{} events", records.len() + 1));
        }
        state
            .submit(record.submission(), record.recorded_at().date())
            .map_err(|v| crate::chain::ChainError {
                seq: record.seq(),
                error: format!("the event breaks {v}"),
            })?;
        records.push(record);
        Ok(())
    })?;
    drop(meter);
    let (head, root) = verdict.map_err(|e| {
        CommandError::Rejected(format!(
            "{}: refused, nothing imported: record {}: {}",
            file.display(),
            e.seq,
            e.error
        ))
    })?;
    let store = Store::open(data, true)?;
    let current = store.head()?;
    if current.seq != 0 {
        return Err(StoreError::NotEmpty(current.seq).into());
    }
    let meter = crate::progress::Meter::events("writing", None);
    store.write_group(&records)?;
    // The rules state the check built is stored too, so the first open of the imported
    // ledger replays nothing (should this write be lost, that open rebuilds it).
    let entries: Vec<(Id, Vec<u8>)> = state.entries().map(|(id, bytes)| (id.clone(), bytes)).collect();
    store.put_rules(&entries, store.head()?)?;
    store.flush()?;
    drop(store);
    Store::settle(data);
    meter.set(records.len() as u64);
    drop(meter);
    // The verdict of `verify` on what was imported.
    print_verdict(Ok((head.seq, head.hash, root)), out)
}

/// `orgledger log`: events for a person to read, one a line.
pub fn log(data: &Path, from: u64, limit: Option<u64>, out: &mut impl Write) -> Result<(), CommandError> {
    let store = Store::open(data, false)?;
    let limit = limit.unwrap_or(u64::MAX);
    for record in store.records(from.max(1)).take(limit.min(usize::MAX as u64) as usize) {
        let record = record?;
        let mut fields = record.submission().to_value();
        fields.remove("type");
        fields.remove("effective");
        let summary: Vec<String> = fields
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        writeln!(
            out,
            "{:>7}  {}  {:<24}  {}  [{} at {}]",
            record.seq(),
            record.effective(),
            record.type_name(),
            summary.join(" "),
            record.actor(),
            record.recorded_at()
        )?;
    }
    Ok(())
}

/// `orgledger demo`: writes the Trùng Khánh demo ledger into an empty or missing data
/// directory through the ordinary append path, then prints `{"events":N,"head":"<hex>"}`.
/// A non-empty directory is refused (exit 2) before anything is opened.
pub fn demo(data: &Path, out: &mut impl Write) -> Result<(), CommandError> {
    let (events, head) = crate::demo::write_demo(data).map_err(|e| match e {
        crate::demo::DemoError::Refused { .. } => CommandError::Rejected(e.to_string()),
        crate::demo::DemoError::Store(s) => s.into(),
        other => CommandError::Failed(other.to_string()),
    })?;
    writeln!(out, "{}", json!({"events": events, "head": head.to_hex()}))?;
    Ok(())
}

/// `orgledger generate`: writes a synthetic province-scale ledger of exactly `events` events
/// into an empty or missing data directory through the ordinary append path, then prints
/// `{"events":N,"head":"<hex>"}`. A non-empty directory is refused (exit 2).
pub fn generate(data: &Path, events: u64, seed: u64, out: &mut impl Write) -> Result<(), CommandError> {
    use crate::generate::GenerateError;
    if events == 0 {
        return Err(CommandError::Failed(
            "--events: a ledger needs at least one event".into(),
        ));
    }
    let head = crate::generate::write_ledger(data, events, seed).map_err(|e| match e {
        GenerateError::Store(s) => s.into(),
        GenerateError::Refused(_) => CommandError::Rejected(e.to_string()),
        other => CommandError::Failed(other.to_string()),
    })?;
    writeln!(out, "{}", json!({"events": head.seq, "head": head.hash.to_hex()}))?;
    Ok(())
}

/// An export file opened for reading, with a meter of the bytes read (a bar at a terminal).
fn metered_file(
    file: &Path,
    what: &str,
) -> Result<
    (
        std::io::BufReader<Metered<std::fs::File>>,
        std::sync::Arc<crate::progress::Meter>,
    ),
    CommandError,
> {
    let input = std::fs::File::open(file).map_err(|e| CommandError::Failed(format!("{}: {e}", file.display())))?;
    let size = input.metadata().ok().map(|m| m.len());
    let meter = std::sync::Arc::new(crate::progress::Meter::bytes(what, size));
    let reader = Metered {
        inner: input,
        meter: meter.clone(),
    };
    Ok((std::io::BufReader::with_capacity(1 << 16, reader), meter))
}

/// A reader that counts what it reads on a meter.
struct Metered<R> {
    inner: R,
    meter: std::sync::Arc<crate::progress::Meter>,
}

impl<R: std::io::Read> std::io::Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.inc(n as u64);
        Ok(n)
    }
}
