//! The sled store: the log and its head, written in atomic groups and flushed before any
//! append is acknowledged.
//!
//! Architecture invariant: this is the only module that touches sled. Everything it stores
//! is the canonical bytes of FORMAT.md plus their hash, so a store can always be exported
//! and rebuilt whatever sled's own on-disk format does.
//!
//! Layout, in one tree `log` so that one `apply_batch` writes records and head atomically:
//! - `e` + seq (8 bytes, big-endian) → that record (hash and canonical bytes), or a run of
//!   up to 16 consecutive records from it, compressed when that makes it smaller (`runs`:
//!   one sled entry for many records);
//! - `head` → seq (8 bytes, big-endian) + hash (32 bytes);
//! - `verified` → seq + hash, the same shape: the verified point, the last record up to
//!   which the chain is known good (written with the head by every group, and moved by the
//!   check each open makes of what is new since it);
//! - `format` → `orgledger-store-4` (`orgledger-store-3`, `-2` or `-1` in a store written
//!   by an earlier version, which may hold tree nodes of levels 4 and 5, no compressed
//!   value, or no run either: the first group this version writes marks it, in the same
//!   batch, so an older version, which would look for those nodes, refuses it);
//! - the Merkle tree's nodes and size, idempotency entries and the rules state's entries
//!   (in buckets: `buckets`), under prefixes of their own.
//!
//! What opening checks, in time independent of the log's length (`Store::open`): the head
//! names the last stored record, which hashes to the head's hash and chains to the record
//! before it; the record at the verified point still has the verified hash; and every record
//! after the verified point hashes right, carries its `seq` and links to the one before (a
//! store written by an older version, with no verified point, is checked whole once). Every
//! record read later is checked against its stored hash. What only `verify` checks
//! (`Store::verify`): every record from the first, every link, and the Merkle tree.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::chain::{ChainError, ChainVerifier, Head};
use crate::event::{Hash, Id, Record, RecordError};

mod buckets;
mod runs;
use runs::Stored;
pub use runs::StoredRecord;

/// The points of the store's write path (and the projector's fold) where a test can make
/// the ledger fail, through `LedgerOptions::faults`: a disk error at a chosen insert,
/// flush or sync, or a panic that kills the thread that reaches the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// The writer is about to insert a group's atomic batch into sled.
    Insert,
    /// The flusher is about to call sled's flush.
    Flush,
    /// The flusher is about to sync the store's files after sled's flush returned.
    Sync,
    /// The projector is about to fold durable records into the live projection.
    Fold,
}

/// Injected failures, for tests: called before each [`FaultPoint`] is passed; an error is
/// taken as the disk's at that point. Only `LedgerOptions::faults` sets one, so a ledger
/// opened by the CLI or the server never has one.
pub trait Faults: Send + Sync {
    fn at(&self, point: FaultPoint) -> std::io::Result<()>;
}

const FORMAT_KEY: &[u8] = b"format";
/// The format of a store that may hold compressed values and runs of records, and the tree's
/// nodes from level [`TILE_HEIGHT`] up.
const FORMAT_VALUE: &[u8] = b"orgledger-store-4";
/// The formats of stores written by earlier versions, read as they are and marked
/// [`FORMAT_VALUE`] by the first group this version writes into them (in the same batch):
/// the tree's nodes from level 4 up (those of levels 4 and 5 are no longer read); runs of
/// records, but no compressed value; one record per value.
const FORMAT_TREE_FROM_4: &[u8] = b"orgledger-store-3";
const FORMAT_RUNS: &[u8] = b"orgledger-store-2";
const FORMAT_ONE_PER_VALUE: &[u8] = b"orgledger-store-1";
const HEAD_KEY: &[u8] = b"head";
const VERIFIED_KEY: &[u8] = b"verified";
const EVENT_PREFIX: u8 = b'e';
/// Attempts, 20 ms apart, to take sled's lock before a store is declared in use.
const IN_USE_RETRIES: u32 = 10;

/// Errors of the store. `InUse` and `NotFound` are the caller's to fix (exit code 2);
/// `Corrupt` names the first bad `seq` (exit code 1, GraphQL `INTERNAL`); `Io` is the disk's.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {0} is in use by another process (another orgledger command holds it)")]
    InUse(PathBuf),
    #[error("no ledger at {0} (run `orgledger append` or `orgledger import` to create one)")]
    NotFound(PathBuf),
    #[error("{0} is not an orgledger store of this version")]
    WrongFormat(PathBuf),
    #[error("the store is not empty (head at {0}); import needs an empty store")]
    NotEmpty(u64),
    #[error("{0} is not an empty directory; a new ledger needs an empty or missing one")]
    DirectoryNotEmpty(PathBuf),
    #[error("the store is corrupt at record {seq}: {reason}")]
    Corrupt { seq: u64, reason: String },
    #[error("storage error: {0}")]
    Io(String),
    /// One of the ledger's threads panicked; the ledger refuses what that thread served
    /// until the process restarts. GraphQL `INTERNAL`, CLI exit 2.
    #[error("the ledger's {thread} thread died ({message}); restart the process")]
    ThreadDied { thread: &'static str, message: String },
    /// sled found its own files damaged (its checksums failed) while reading. Exit code 1,
    /// like a broken chain: the data is wrong; restore the store from an export.
    #[error("the store's files are damaged: {0}")]
    Damaged(String),
}

impl StoreError {
    pub(crate) fn io(e: impl std::fmt::Display) -> StoreError {
        StoreError::Io(e.to_string())
    }

    /// A sled error met while reading: damage sled detected in its files, or else IO.
    fn read(e: sled::Error) -> StoreError {
        match e {
            sled::Error::Corruption { .. } => StoreError::Damaged("sled's checksum of its data failed".into()),
            other => StoreError::io(other),
        }
    }

    pub(crate) fn from_chain(e: ChainError) -> StoreError {
        StoreError::Corrupt {
            seq: e.seq,
            reason: e.error,
        }
    }
}

/// A head as stored: seq (8 bytes, big-endian) + hash (32 bytes).
fn encode_head(head: Head) -> [u8; 40] {
    let mut v = [0; 40];
    v[..8].copy_from_slice(&head.seq.to_be_bytes());
    v[8..].copy_from_slice(&head.hash.0);
    v
}

fn decode_head(v: &[u8]) -> Option<Head> {
    (v.len() == 40).then(|| Head {
        seq: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
        hash: Hash(v[8..].try_into().expect("32 bytes")),
    })
}

fn event_key(seq: u64) -> [u8; 9] {
    let mut k = [EVENT_PREFIX; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn key_seq(key: &[u8]) -> Option<u64> {
    (key.len() == 9 && key[0] == EVENT_PREFIX).then(|| u64::from_be_bytes(key[1..].try_into().expect("8 bytes")))
}

fn malformed_key() -> StoreError {
    StoreError::Corrupt {
        seq: 0,
        reason: "a malformed key in the log".into(),
    }
}

/// [`Store::raw_records`]: the values under the record keys in order, each read into its
/// records, those before `from` and after `last` left out.
struct RawRecords {
    keys: Option<sled::Iter>,
    current: Option<runs::Records>,
    from: u64,
    last: u64,
    /// A failure to name before ending.
    failed: Option<StoreError>,
}

impl Iterator for RawRecords {
    type Item = Result<StoredRecord, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.keys = None;
            self.current = None;
            return Some(Err(e));
        }
        loop {
            if let Some(records) = &mut self.current {
                match records.next() {
                    Some(r) if r.seq < self.from => continue,
                    Some(r) if r.seq > self.last => {
                        self.keys = None;
                        self.current = None;
                        return None;
                    }
                    Some(r) => return Some(Ok(r)),
                    None => self.current = None,
                }
            }
            let item = self.keys.as_mut()?.next()?;
            let stored = item.map_err(StoreError::read).and_then(|(k, v)| {
                let first = key_seq(&k).ok_or_else(malformed_key)?;
                Stored::decode(first, v)
            });
            match stored {
                Ok(stored) => self.current = Some(stored.records()),
                Err(e) => {
                    self.keys = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// An open store. Holds sled's directory lock until dropped.
pub struct Store {
    /// Where the store lives, for messages.
    path: PathBuf,
    /// Kept to flush: sled's durability is the Db's flush.
    db: sled::Db,
    /// Records, head and format marker.
    log: sled::Tree,
    /// sled's data file, synced after each flush: sled 0.34's flush ends in
    /// `sync_file_range`, which does not survive a power loss.
    data_file: std::fs::File,
    /// The last `seq` inserted (durable or not), published as [`Store::durable`] by the
    /// flush that follows it.
    inserted: AtomicU64,
    /// The last `seq` reads may return. `u64::MAX` (no limit) for a store opened without a
    /// ledger, whose every record is already on disk; a ledger sets it to its durable head,
    /// so that nothing inserted but not yet durable is ever read.
    durable: AtomicU64,
    /// How many times the store's files were synced after a flush.
    syncs: AtomicU64,
    /// How many times rules-state entries or where the state stands were written.
    rules_writes: AtomicU64,
    /// How many records the open checked after the verified point.
    checked_on_open: AtomicU64,
    /// Whether `format` names this version's format ([`FORMAT_VALUE`]); until it does, the
    /// batch of the first group written also marks it.
    format_marked: std::sync::atomic::AtomicBool,
    /// Sync the data file after each flush (always, but for the benchmark that measures
    /// what the sync costs).
    sync_files: bool,
    /// Injected failures; tests only.
    faults: Option<Arc<dyn Faults>>,
    /// The leaf hashes of the two tiles last read for a node below [`TILE_HEIGHT`], the
    /// later first: each tile's index and its leaves from the first, as many as were
    /// durable. An inclusion proof reads up to six nodes of one tile, a consistency proof of
    /// two; each tile's are folded from one reading of its records.
    tiles: std::sync::Mutex<[Option<Tile>; 2]>,
}

/// A tile's index and the leaf hashes of its records, from its first.
type Tile = (u64, Arc<[Hash]>);

/// What `verify` reports for a good chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub events: u64,
    pub head: Head,
    /// The root of the Merkle tree over the whole log, recomputed from the records.
    pub root: Hash,
}

impl Store {
    /// Whether `dir` holds a ledger (a store, even an empty one): what every reading
    /// command checks first, so that a wrong `--data` is named, not taken for an empty log.
    /// A directory with sled's data file but no `conf` is a damaged store, which
    /// [`Store::probe`] and every open refuse; it is never taken for a missing one.
    pub fn exists_at(dir: &Path) -> bool {
        dir.join("conf").exists() || dir.join(SLED_DATA_FILE).exists()
    }

    /// Whether `dir` holds a usable store: `NotFound` when it holds none, `Damaged` naming
    /// the missing file when sled's data file is there without its `conf` (sled would
    /// quietly write a new `conf`, so one command would see the events and another none).
    pub fn probe(dir: &Path) -> Result<(), StoreError> {
        let conf = dir.join("conf").exists();
        let data = dir.join(SLED_DATA_FILE).exists();
        match (conf, data) {
            (false, false) => Err(StoreError::NotFound(dir.to_path_buf())),
            (false, true) => Err(StoreError::Damaged(format!(
                "{} is missing beside {}; restore the store from an export",
                dir.join("conf").display(),
                dir.join(SLED_DATA_FILE).display()
            ))),
            _ => Ok(()),
        }
    }

    /// Opens the store in `dir`, creating it when `create` is set. Checks the recorded head
    /// against the last record and refuses a store whose tail does not chain.
    /// Then checks what was appended since the verified point, and records the head as the
    /// new verified point: the cost follows what is new, not the length of the log.
    pub fn open(dir: &Path, create: bool) -> Result<Store, StoreError> {
        let store = Store::open_unchecked(dir, create)?;
        store.check_tail()?;
        store.check_since_verified()?;
        Ok(store)
    }

    /// Opens the store in `dir` once more and closes it, after a bulk write (`generate`,
    /// `import`). sled writes the table of its pages (its `snap.*` file) only as it opens, and
    /// an open reads sled's log from the last table on: without this, the first command
    /// after a bulk write reads back everything it wrote (4.0 s, against 0.25 s after, on a
    /// generated store of 10,000,000 events). The bulk write pays it once instead. What was
    /// written is durable before: a failure here (another process took the store first)
    /// costs only the next open that reading, and is a warning, not the write's failure.
    pub fn settle(dir: &Path) {
        if let Err(e) = Store::open_unchecked(dir, false) {
            tracing::warn!(
                "reopening the store to save sled's table of pages failed (the next open reads sled's log): {e}"
            );
        }
    }

    /// Opens without the tail check, for `verify`, which checks everything itself and must
    /// be able to name the bad record even when it is the last one.
    pub fn open_unchecked(dir: &Path, create: bool) -> Result<Store, StoreError> {
        match Store::probe(dir) {
            Err(StoreError::NotFound(_)) if create => {}
            other => other?,
        }
        remove_unfinished_snapshots(dir)?;
        // sled releases its directory lock a few milliseconds after the last handle is
        // dropped (its flusher thread exits on its own), so a store closed just before is
        // retried briefly; a store held by another process still fails within a moment.
        let mut attempts = 0;
        let db = loop {
            match open_sled(dir)? {
                Ok(db) => break db,
                Err(sled::Error::Io(io))
                    if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
                {
                    attempts += 1;
                    if attempts >= IN_USE_RETRIES {
                        return Err(StoreError::InUse(dir.to_path_buf()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                // sled found its own files damaged (a data file cut short under its table of
                // pages, for one): the same report as when it panics on them.
                Err(sled::Error::Corruption { .. }) => return Err(unreadable(dir, "it read corrupted data")),
                Err(other) => return Err(StoreError::io(other)),
            }
        };
        let log = db.open_tree("log").map_err(StoreError::io)?;
        let format_marked = match log.get(FORMAT_KEY).map_err(StoreError::io)? {
            Some(v) if v.as_ref() == FORMAT_VALUE => true,
            Some(v) if [FORMAT_ONE_PER_VALUE, FORMAT_RUNS, FORMAT_TREE_FROM_4].contains(&v.as_ref()) => false,
            Some(_) => return Err(StoreError::WrongFormat(dir.to_path_buf())),
            None => {
                if log.first().map_err(StoreError::io)?.is_some() {
                    return Err(StoreError::WrongFormat(dir.to_path_buf()));
                }
                // Only a command that may create a store marks one; `verify` and the other
                // readers never write.
                if create {
                    log.insert(FORMAT_KEY, FORMAT_VALUE).map_err(StoreError::io)?;
                    db.flush().map_err(StoreError::io)?;
                }
                create
            }
        };
        let data_file = std::fs::File::open(dir.join(SLED_DATA_FILE))
            .map_err(|e| StoreError::io(format!("{}: {e}", dir.join(SLED_DATA_FILE).display())))?;
        if create {
            // A new store's files are only durable once the directory that names them is.
            sync_dir(dir)?;
        }
        Ok(Store {
            path: dir.to_path_buf(),
            db,
            log,
            data_file,
            inserted: AtomicU64::new(0),
            durable: AtomicU64::new(u64::MAX),
            syncs: AtomicU64::new(0),
            rules_writes: AtomicU64::new(0),
            checked_on_open: AtomicU64::new(0),
            format_marked: std::sync::atomic::AtomicBool::new(format_marked),
            sync_files: true,
            faults: None,
            tiles: std::sync::Mutex::new([None, None]),
        })
    }

    /// Sets what a ledger needs of its store before it shares it: injected failures, and
    /// whether to sync after each flush.
    pub(crate) fn configure(&mut self, faults: Option<Arc<dyn Faults>>, sync_files: bool) {
        self.faults = faults;
        self.sync_files = sync_files;
    }

    /// Limits reads to the records up to `seq`, the durable head: from then on only a
    /// successful [`Store::flush`] moves the limit, to what was inserted before it.
    pub(crate) fn limit_reads_to(&self, seq: u64) {
        self.durable.store(seq, Ordering::Release);
        self.inserted.store(seq, Ordering::Release);
        self.forget_tile();
    }

    /// Drops the cached leaves of [`Store::tile_leaves`]: the records they were read from may
    /// no longer be the ones reads return.
    fn forget_tile(&self) {
        *self.tiles.lock().unwrap_or_else(|e| e.into_inner()) = [None, None];
    }

    /// The last `seq` reads may return (`u64::MAX`: no limit; the store has no writer).
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// How many times the store's files were synced after a flush since it opened.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Acquire)
    }

    /// How many times the rules state was written ([`Store::put_rules`]) since the store
    /// opened.
    pub fn rules_writes(&self) -> u64 {
        self.rules_writes.load(Ordering::Acquire)
    }

    /// Passes a fault point: the injected failure, if a test set one.
    fn fault(&self, point: FaultPoint) -> Result<(), StoreError> {
        match &self.faults {
            Some(f) => f.at(point).map_err(|e| StoreError::io(format!("{point:?}: {e}"))),
            None => Ok(()),
        }
    }

    /// Passes the projector's fold point (the only fault point outside the store).
    pub(crate) fn fault_at_fold(&self) -> Result<(), StoreError> {
        self.fault(FaultPoint::Fold)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The head as recorded in the store's metadata.
    pub fn head(&self) -> Result<Head, StoreError> {
        match self.log.get(HEAD_KEY).map_err(StoreError::io)? {
            None => Ok(Head::EMPTY),
            Some(v) if v.len() == 40 => Ok(Head {
                seq: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
                hash: Hash(v[8..].try_into().expect("32 bytes")),
            }),
            Some(_) => Err(StoreError::Corrupt {
                seq: 0,
                reason: "the recorded head is malformed".into(),
            }),
        }
    }

    /// The verified point: the chain from the first record up to it is known good. A store
    /// written before verified points were kept has none, read as the empty log's.
    pub fn verified(&self) -> Result<Head, StoreError> {
        match self.log.get(VERIFIED_KEY).map_err(StoreError::read)? {
            None => Ok(Head::EMPTY),
            Some(v) => decode_head(&v).ok_or_else(|| StoreError::Corrupt {
                seq: 0,
                reason: "the recorded verified point is malformed".into(),
            }),
        }
    }

    /// How many records the open checked after the verified point (0 on a store closed
    /// cleanly by this version: every group it wrote moved the point with the head).
    pub fn checked_on_open(&self) -> u64 {
        self.checked_on_open.load(Ordering::Relaxed)
    }

    /// The check of what is new since the verified point: the record at the point still has
    /// its hash, and every record after it hashes right and links to the one before, up to
    /// the head (which [`Store::check_tail`] has matched with the last record). Then the head
    /// becomes the verified point.
    fn check_since_verified(&self) -> Result<(), StoreError> {
        let head = self.head()?;
        let verified = self.verified()?;
        if verified.seq > head.seq {
            return Err(StoreError::Corrupt {
                seq: head.seq + 1,
                reason: format!(
                    "the log ends at {} but record {} was verified before: records are missing",
                    head.seq, verified.seq
                ),
            });
        }
        if verified.seq > 0 {
            match self.raw(verified.seq)? {
                Some((hash, _)) if hash == verified.hash => {}
                Some(_) => {
                    return Err(StoreError::Corrupt {
                        seq: verified.seq,
                        reason: "its stored hash differs from the one verified before".into(),
                    })
                }
                None => {
                    return Err(StoreError::Corrupt {
                        seq: verified.seq,
                        reason: format!("record {} is missing", verified.seq),
                    })
                }
            }
        }
        if verified == head {
            return Ok(());
        }
        let mut chain = ChainVerifier::after(verified);
        let mut checked = 0;
        for item in self.raw_records(verified.seq + 1) {
            let stored = item?;
            chain
                .check_stored(stored.seq, stored.hash, stored.canonical())
                .map_err(StoreError::from_chain)?;
            checked += 1;
        }
        let end = chain.head();
        if end != head {
            return Err(StoreError::Corrupt {
                seq: end.first_bad_against(head),
                reason: format!("the recorded head is at {} but the chain ends at {}", head.seq, end.seq),
            });
        }
        self.log
            .insert(VERIFIED_KEY, encode_head(head).as_slice())
            .map_err(StoreError::io)?;
        self.flush()?;
        self.checked_on_open.store(checked, Ordering::Relaxed);
        Ok(())
    }

    /// The `seq` of the last stored record, if any: the last of the value under the last key.
    fn last_stored_seq(&self) -> Result<Option<u64>, StoreError> {
        let last = self.log.range(event_key(0)..=event_key(u64::MAX)).next_back();
        match last {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item.map_err(StoreError::read)?;
                match key_seq(&k) {
                    Some(first) => Ok(Some(Stored::decode(first, v)?.last())),
                    None => Ok(None),
                }
            }
        }
    }

    /// The tail check done on every open: the head names the last record, which hashes to
    /// the head's hash and chains to the record before it.
    fn check_tail(&self) -> Result<(), StoreError> {
        let head = self.head()?;
        let last = self.last_stored_seq()?.unwrap_or(0);
        if last != head.seq {
            let seq = head.seq.min(last) + 1;
            return Err(StoreError::Corrupt {
                seq,
                reason: format!(
                    "the recorded head is at {} but the last stored record is {last}",
                    head.seq
                ),
            });
        }
        if head.seq == 0 {
            return Ok(());
        }
        let before = if head.seq > 1 {
            let (hash, _) = self.raw(head.seq - 1)?.ok_or_else(|| StoreError::Corrupt {
                seq: head.seq - 1,
                reason: format!("record {} is missing", head.seq - 1),
            })?;
            Head {
                seq: head.seq - 1,
                hash,
            }
        } else {
            Head::EMPTY
        };
        let (hash, bytes) = self.raw(head.seq)?.expect("the last key exists");
        let mut chain = ChainVerifier::after(before);
        chain
            .check_stored(head.seq, hash, &bytes)
            .map_err(StoreError::from_chain)?;
        if hash != head.hash {
            return Err(StoreError::Corrupt {
                seq: head.seq,
                reason: "the recorded head hash differs from the last record's hash".into(),
            });
        }
        Ok(())
    }

    /// The stored hash and canonical bytes of record `seq`.
    pub fn raw(&self, seq: u64) -> Result<Option<(Hash, Vec<u8>)>, StoreError> {
        if seq > self.durable() {
            return Ok(None);
        }
        Ok(self
            .stored_holding(seq)?
            .and_then(|s| s.get(seq))
            .map(|r| (r.hash, r.canonical().to_vec())))
    }

    /// The stored value that holds record `seq`, durable or not: the one under its own key,
    /// or a run under an earlier key that reaches it.
    fn stored_holding(&self, seq: u64) -> Result<Option<Stored>, StoreError> {
        if let Some(v) = self.log.get(event_key(seq)).map_err(StoreError::read)? {
            return Stored::decode(seq, v).map(Some);
        }
        let Some(item) = self.log.range(event_key(0)..event_key(seq)).next_back() else {
            return Ok(None);
        };
        let (k, v) = item.map_err(StoreError::read)?;
        let first = key_seq(&k).ok_or_else(malformed_key)?;
        let stored = Stored::decode(first, v)?;
        Ok((stored.last() >= seq).then_some(stored))
    }

    /// Record `seq`, read and checked against its hash.
    pub fn record(&self, seq: u64) -> Result<Option<Record>, StoreError> {
        let Some((hash, bytes)) = self.raw(seq)? else {
            return Ok(None);
        };
        Record::from_stored(hash, &bytes).map(Some).map_err(|e| corrupt(seq, e))
    }

    /// Records from `from` on, in `seq` order, each read and checked against its hash.
    /// Each must also be where it is stored and where the one before it leaves off: a record
    /// missing from the middle, or stored under another record's key, is named, never
    /// folded out of order. Opening does not read the whole log, so this is what every
    /// reader of old records relies on.
    pub fn records(&self, from: u64) -> impl Iterator<Item = Result<Record, StoreError>> + '_ {
        self.contiguous_records(from).map(read_stored)
    }

    /// The records `from..=until` as [`Store::records`] reads them (the same checks, the
    /// same errors), handed to `take` in `seq` order; each is read (its hash checked, its
    /// bytes parsed) on any core ([`crate::parallel::map_in_order`]) while `take` works on
    /// the ones before it. The first error ends it.
    pub fn for_each_record(
        &self,
        from: u64,
        until: u64,
        mut take: impl FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let from = from.max(1);
        let count = if until < from { 0 } else { until - from + 1 };
        let items = self
            .contiguous_records(from)
            .take(count.min(usize::MAX as u64) as usize);
        crate::parallel::map_in_order(items, read_stored, |record| take(record?))
    }

    /// The stored records from `from` on, raw, each where the one before it leaves off: a
    /// record missing from the middle is named.
    fn contiguous_records(&self, from: u64) -> impl Iterator<Item = Result<StoredRecord, StoreError>> + '_ {
        let mut expected = from.max(1);
        self.raw_records(from).map(move |item| {
            let stored = item?;
            if stored.seq != expected {
                return Err(StoreError::Corrupt {
                    seq: expected,
                    reason: format!("record {expected} is missing"),
                });
            }
            expected += 1;
            Ok(stored)
        })
    }

    /// Records from `from` on as export lines (FORMAT.md section 6), each ending with its
    /// newline, written straight from the stored bytes: each is checked as [`Store::records`]
    /// checks it (where it is stored, its bytes against its hash, the `seq` written in them)
    /// and gets its `hash` member where the key sorts, without being parsed into a record
    /// and encoded again. The bytes the hash covers are the ones served.
    pub fn export_lines(&self, from: u64) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.contiguous_records(from).map(move |item| {
            let stored = item?;
            let (seq, hash, canonical) = (stored.seq, stored.hash, stored.canonical());
            let computed = crate::event::event_hash(canonical);
            if computed != hash {
                return Err(corrupt(seq, RecordError::HashMismatch { stated: hash, computed }));
            }
            let said = crate::chain::embedded_seq(canonical);
            if said != Some(seq) {
                return Err(StoreError::Corrupt {
                    seq,
                    reason: format!(
                        "the record stored at {seq} says seq {}",
                        said.map_or("nothing readable".into(), |s| s.to_string())
                    ),
                });
            }
            let mut line = Vec::with_capacity(canonical.len() + 75);
            crate::event::write_export_line(canonical, &hash, &mut line)
                .ok_or_else(|| corrupt(seq, RecordError::NotCanonical))?;
            line.push(b'\n');
            Ok(line)
        })
    }

    /// The stored records from `from` on, in key order, without parsing: each with the
    /// `seq` it is stored at (a single record's key, or its place in a run), its stored
    /// hash and its canonical bytes. Ends at the first value that cannot be read, after
    /// naming it. Like every read of records, stops at the durable head while a ledger
    /// writes.
    pub fn raw_records(&self, from: u64) -> impl Iterator<Item = Result<StoredRecord, StoreError>> + '_ {
        let last = self.durable();
        let from = from.max(1);
        let mut reading = RawRecords {
            keys: None,
            current: None,
            from,
            last,
            failed: None,
        };
        if from <= last {
            // The run that holds `from` may start at an earlier key.
            let start = match self.log.range(event_key(0)..=event_key(from)).next_back() {
                None => Ok(from),
                Some(Err(e)) => Err(StoreError::read(e)),
                Some(Ok((k, _))) => key_seq(&k).ok_or_else(malformed_key),
            };
            match start {
                Ok(start) => reading.keys = Some(self.log.range(event_key(start)..=event_key(last))),
                Err(e) => reading.failed = Some(e),
            }
        }
        reading
    }

    /// Recomputes every hash and link of the stored chain and compares the end with the
    /// recorded head. `Ok(Err(_))` is a broken chain; `Err(_)` is a failure to read.
    pub fn verify(&self) -> Result<Result<Verified, ChainError>, StoreError> {
        self.verify_log(self.head()?, false)
    }

    /// [`Store::verify`] of the log up to `head`, which the log must reach with that hash:
    /// what a server checks in the background while its writer appends after `head` (so
    /// what follows `head` is not looked at; the plain verify refuses a record past the
    /// recorded head).
    pub fn verify_through(&self, head: Head) -> Result<Result<Verified, ChainError>, StoreError> {
        self.verify_log(head, true)
    }

    fn verify_log(&self, head: Head, stop_at_head: bool) -> Result<Result<Verified, ChainError>, StoreError> {
        let mut chain = ChainVerifier::new();
        // The tree is recomputed from the records and compared with the stored one (whose
        // nodes the proofs are made from) where the stored one reaches.
        let mut frontier = crate::merkle::Frontier::new();
        let held = self.tree_size()?.min(head.seq);
        let mut recomputed_at_held = (held == 0).then(crate::merkle::empty_root);
        let mut completed = Vec::with_capacity(8);
        let meter = crate::progress::Meter::events("verifying the chain", Some(head.seq));
        for item in self.raw_records(1) {
            if stop_at_head && matches!(&item, Ok(r) if r.seq > head.seq) {
                break;
            }
            meter.inc(1);
            let (seq, hash, stored) = match item {
                Ok(found) => (found.seq, found.hash, found),
                // Damage sled detects in its own files is a broken chain too: name the
                // first record that cannot be read.
                Err(StoreError::Damaged(why)) => {
                    return Ok(Err(ChainError {
                        seq: chain.head().seq + 1,
                        error: format!("the record cannot be read: {why}"),
                    }))
                }
                Err(other) => return Err(other),
            };
            if let Err(e) = chain.check_stored(seq, hash, stored.canonical()) {
                return Ok(Err(e));
            }
            // Every stored node this record completes must be the one recomputed here: the
            // proofs read them all, and the root check below reads only those it folds.
            completed.clear();
            frontier.push_into(&hash, &mut completed);
            for &(level, index, node) in &completed {
                if seq > held || level < TILE_HEIGHT {
                    continue;
                }
                match crate::merkle::TreeNodes::node(self, level, index) {
                    Ok(stored) if stored == node => {}
                    found => {
                        return Ok(Err(ChainError {
                            seq,
                            error: format!(
                                "the stored Merkle tree node at level {level}, index {index} does not match the log{}",
                                found.err().map(|e| format!(": {e}")).unwrap_or_default()
                            ),
                        }))
                    }
                }
            }
            if frontier.size() == held {
                recomputed_at_held = Some(frontier.root());
            }
        }
        let end = chain.head();
        if end != head {
            return Ok(Err(ChainError {
                seq: end.first_bad_against(head),
                error: format!(
                    "the recorded head is at {} ({}) but the chain ends at {}",
                    head.seq, head.hash, end.seq
                ),
            }));
        }
        let stored_root = if held == 0 {
            Ok(crate::merkle::empty_root())
        } else {
            crate::merkle::root(self, held)
        };
        match (recomputed_at_held, stored_root) {
            (Some(recomputed), Ok(stored)) if recomputed == stored => {}
            (None, _) => {
                return Ok(Err(ChainError {
                    seq: end.seq + 1,
                    error: format!("the Merkle tree holds {held} leaves but the log ends at {}", end.seq),
                }))
            }
            (Some(_), stored) => {
                return Ok(Err(ChainError {
                    seq: 0,
                    error: format!(
                        "the stored Merkle tree of {held} leaves does not match the log{}",
                        stored.err().map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                }))
            }
        }
        Ok(Ok(Verified {
            events: end.seq,
            head: end,
            root: frontier.root(),
        }))
    }

    /// Writes `records` (which must follow the current head) and the new head in one atomic
    /// batch, then flushes. Returns only once the flush has returned: durable.
    pub fn write_group(&self, records: &[Record]) -> Result<(), StoreError> {
        self.insert_group(records)?;
        self.flush()
    }

    /// Makes everything inserted so far durable, against power loss too: sled's flush, then
    /// one `fdatasync` of sled's data file (sled 0.34's flush ends in `sync_file_range`,
    /// which writes the pages but not the file's metadata nor the drive's cache). Only then
    /// are the records inserted before the call readable while a ledger writes.
    pub fn flush(&self) -> Result<(), StoreError> {
        let inserted = self.inserted.load(Ordering::Acquire);
        self.fault(FaultPoint::Flush)?;
        self.db.flush().map_err(StoreError::io)?;
        if self.sync_files {
            self.fault(FaultPoint::Sync)?;
            self.data_file
                .sync_data()
                .map_err(|e| StoreError::io(format!("syncing {}: {e}", self.path.join(SLED_DATA_FILE).display())))?;
            self.syncs.fetch_add(1, Ordering::AcqRel);
        }
        if self.durable() != u64::MAX {
            self.durable.fetch_max(inserted, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Inserts `records` (which must follow the current head) and the new head in one atomic
    /// batch, without flushing: not durable until [`Store::flush`] returns.
    pub fn insert_group(&self, records: &[Record]) -> Result<(), StoreError> {
        self.insert_group_with(records, None, &[])
    }

    /// [`Store::insert_group`], with the Merkle tree nodes the records complete and the
    /// idempotency entries of the group's requests in the same atomic batch: a node or a key
    /// is stored exactly when its events are.
    /// `tree` holds the nodes the records complete (`None` when the tree is not kept: the
    /// benchmark's comparison); only those of [`TILE_HEIGHT`] and up are stored.
    pub fn insert_group_with(
        &self,
        records: &[Record],
        tree: Option<&[(u32, u64, Hash)]>,
        keys: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let Some(last) = records.last() else { return Ok(()) };
        self.fault(FaultPoint::Insert)?;
        let mut batch = sled::Batch::default();
        for (key, value) in keys {
            batch.insert(idempotency_key(key), value.as_slice());
        }
        if let Some(nodes) = tree {
            add_tree_nodes(&mut batch, nodes, last.seq());
        }
        let mut value = Vec::new();
        let mut at = 0;
        for n in runs::runs(records.iter().map(|r| r.canonical().len())) {
            let run = &records[at..at + n];
            value.clear();
            runs::encode(run.iter().map(|r| (r.hash(), r.canonical())), &mut value);
            batch.insert(&event_key(run[0].seq()), value.as_slice());
            at += n;
        }
        let marks_format = !self.format_marked.load(Ordering::Acquire);
        if marks_format {
            batch.insert(FORMAT_KEY, FORMAT_VALUE);
        }
        // Every group follows the head, which the open made the verified point, and chains
        // to it by construction (the writer seals each record on the one before; an import
        // checks the whole file first): the verified point moves with the head.
        let head = encode_head(Head {
            seq: last.seq(),
            hash: last.hash(),
        });
        batch.insert(HEAD_KEY, head.as_slice());
        batch.insert(VERIFIED_KEY, head.as_slice());
        self.log.apply_batch(batch).map_err(StoreError::io)?;
        if marks_format {
            self.format_marked.store(true, Ordering::Release);
        }
        self.inserted.fetch_max(last.seq(), Ordering::AcqRel);
        Ok(())
    }

    /// Stores Merkle tree nodes up to `size` leaves (the backfill of a log written before
    /// the tree was kept).
    pub fn insert_tree_nodes(&self, nodes: &[(u32, u64, Hash)], size: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        add_tree_nodes(&mut batch, nodes, size);
        self.log.apply_batch(batch).map_err(StoreError::io)
    }

    /// How many leaves the stored tree covers (the log's head, unless the tree was not kept).
    pub fn tree_size(&self) -> Result<u64, StoreError> {
        match self.log.get(TREE_SIZE_KEY).map_err(StoreError::io)? {
            None => Ok(0),
            Some(v) if v.len() == 8 => Ok(u64::from_be_bytes(v.as_ref().try_into().expect("8 bytes"))),
            Some(_) => Err(StoreError::Corrupt {
                seq: 0,
                reason: "the recorded tree size is malformed".into(),
            }),
        }
    }

    /// The node at `level` < [`TILE_HEIGHT`] over leaves `[index·2^level, (index+1)·2^level)`,
    /// from the event hashes stored with the records of its tile.
    fn node_from_records(&self, level: u32, index: u64) -> Result<Hash, crate::merkle::TreeError> {
        use crate::merkle::{node_hash, TreeError};
        let width = 1usize << level;
        let first = index << level;
        let tile = first >> TILE_HEIGHT;
        let offset = (first - (tile << TILE_HEIGHT)) as usize;
        let leaves = self.tile_leaves(tile, offset + width)?;
        let Some(leaves) = leaves.get(offset..offset + width) else {
            return Err(TreeError::MissingNode {
                level,
                index,
                held: self.tree_size().unwrap_or(0),
            });
        };
        let mut hashes = leaves.to_vec();
        while hashes.len() > 1 {
            hashes = hashes.chunks(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
        }
        Ok(hashes[0])
    }

    /// The leaf hashes of tile `tile` (leaves `[tile·2^TILE_HEIGHT, (tile+1)·2^TILE_HEIGHT)`),
    /// from its first, as many as are durable: the cached ones when they reach `needed`,
    /// else read again from the records. Only a record among the first `needed` that cannot
    /// be read fails it; one after them ends the leaves read there.
    fn tile_leaves(&self, tile: u64, needed: usize) -> Result<Arc<[Hash]>, crate::merkle::TreeError> {
        use crate::merkle::{leaf_hash, TreeError};
        let cached = self.tiles.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (at, leaves) in cached.into_iter().flatten() {
            if at == tile && leaves.len() >= needed {
                return Ok(leaves);
            }
        }
        let first = (tile << TILE_HEIGHT) + 1;
        let mut leaves = Vec::with_capacity(1 << TILE_HEIGHT);
        for (n, item) in self.raw_records(first).take(1 << TILE_HEIGHT).enumerate() {
            let seq = first + n as u64;
            let failed = match item {
                Ok(stored) if stored.seq == seq => {
                    leaves.push(leaf_hash(&stored.hash));
                    continue;
                }
                Ok(_) => TreeError::Record {
                    seq,
                    error: "is missing".into(),
                },
                Err(e) => TreeError::Record {
                    seq: match &e {
                        StoreError::Corrupt { seq, .. } => *seq,
                        _ => seq,
                    },
                    error: format!("cannot be read: {e}"),
                },
            };
            if n < needed {
                return Err(failed);
            }
            break;
        }
        let leaves: Arc<[Hash]> = leaves.into();
        let mut tiles = self.tiles.lock().unwrap_or_else(|e| e.into_inner());
        let other = tiles.iter().flatten().find(|(at, _)| *at != tile).cloned();
        *tiles = [Some((tile, leaves.clone())), other];
        Ok(leaves)
    }

    /// The stored outcome of the append made under an idempotency key, if any.
    pub fn idempotent(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .log
            .get(idempotency_key(key))
            .map_err(StoreError::io)?
            .map(|v| v.to_vec()))
    }

    /// Where the rules state stored beside the log stands: the head of the last record whose
    /// changes it holds. `None` when it was never written, or written in another layout
    /// than this version's (then [`Store::clear_rules`] and a replay rebuild it).
    pub fn rules_head(&self) -> Result<Option<Head>, StoreError> {
        let value = self.log.get(RULES_KEY).map_err(StoreError::io)?;
        Ok(value.and_then(|v| match v.split_first() {
            Some((&RULES_LAYOUT, head)) => decode_head(head),
            _ => None,
        }))
    }

    /// The stored rules-state entry of `id`, if it has one. The inner error says why the
    /// bucket that would hold it does not read (the state is then to be rebuilt).
    pub fn rules_entry(&self, id: &Id) -> Result<Result<Option<sled::IVec>, String>, StoreError> {
        let bucket = buckets::bucket_of(id.as_str());
        let Some(value) = self.log.get(rules_key(bucket)).map_err(StoreError::read)? else {
            return Ok(Ok(None));
        };
        Ok(match buckets::find(&value, bucket, id.as_str()) {
            Ok(found) => Ok(found.map(|at| value.subslice(at.start, at.len()))),
            Err(why) => Err(damaged_bucket(id.as_str(), &why)),
        })
    }

    /// Writes rules-state entries and where the state then stands, in one atomic batch
    /// (not flushed): the writer's write-back, the replay at open, and an import. Each
    /// bucket an entry goes into is read and written again whole; one that does not read is
    /// [`StoreError::Damaged`], and nothing is written.
    pub fn put_rules(&self, entries: &[(Id, Vec<u8>)], head: Head) -> Result<(), StoreError> {
        let mut sorted: Vec<(u32, &str, &[u8])> = entries
            .iter()
            .map(|(id, entry)| (buckets::bucket_of(id.as_str()), id.as_str(), entry.as_slice()))
            .collect();
        // Stable: of an id given twice, the last entry stays last, and is the one kept.
        sorted.sort_by(|x, y| (x.0, x.1.as_bytes()).cmp(&(y.0, y.1.as_bytes())));
        let mut batch = sled::Batch::default();
        for group in sorted.chunk_by(|x, y| x.0 == y.0) {
            let bucket = group[0].0;
            let mut new: Vec<(&str, &[u8])> = Vec::with_capacity(group.len());
            for &(_, id, entry) in group {
                match new.last_mut() {
                    Some(last) if last.0 == id => last.1 = entry,
                    _ => new.push((id, entry)),
                }
            }
            let key = rules_key(bucket);
            let old = self.log.get(key).map_err(StoreError::read)?;
            let value = buckets::merge(old.as_deref(), bucket, &new)
                .map_err(|why| StoreError::Damaged(damaged_bucket(new[0].0, &why)))?;
            batch.insert(&key, value);
        }
        let mut at = Vec::with_capacity(41);
        at.push(RULES_LAYOUT);
        at.extend_from_slice(&encode_head(head));
        batch.insert(RULES_KEY, at);
        self.log.apply_batch(batch).map_err(StoreError::io)?;
        self.rules_writes.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Marks the stored rules state for a rebuild at the next open (an entry of it was found
    /// damaged), durably.
    pub fn mark_rules_for_rebuild(&self) -> Result<(), StoreError> {
        self.log.insert(RULES_KEY, &[RULES_REBUILD]).map_err(StoreError::io)?;
        self.db.flush().map_err(StoreError::io)?;
        Ok(())
    }

    /// Removes the whole stored rules state (not flushed): `rules` first, so that a removal
    /// cut short leaves a state that is rebuilt, then the entries a few thousand keys to a
    /// batch. One batch of them all (1,227,321 keys of layout 1 at 10,000,000 events) held
    /// every node sled copied on the way until its end: 7.7 GB at that size.
    pub fn clear_rules(&self) -> Result<(), StoreError> {
        self.log.remove(RULES_KEY).map_err(StoreError::io)?;
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in self.log.scan_prefix([RULES_PREFIX]).take(4096) {
                batch.remove(item.map_err(StoreError::io)?.0);
                n += 1;
            }
            if n == 0 {
                return Ok(());
            }
            self.log.apply_batch(batch).map_err(StoreError::io)?;
        }
    }

    /// How many rules-state entries are stored, and the bytes of their buckets (keys and
    /// values).
    pub fn rules_size(&self) -> Result<(u64, u64), StoreError> {
        let (mut n, mut bytes) = (0, 0);
        for item in self.log.scan_prefix([RULES_PREFIX]) {
            let (k, v) = item.map_err(StoreError::io)?;
            let bucket = match *k {
                [RULES_PREFIX, a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
                _ => return Err(StoreError::Damaged(format!("a rules-state key of {} bytes", k.len()))),
            };
            n += buckets::read(&v, bucket).map_err(StoreError::Damaged)?.len() as u64;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((n, bytes))
    }

    /// Writes raw key/value pairs into a scratch tree with the same batching and flush as
    /// [`Store::write_group`], for the benchmark's raw ceiling.
    #[cfg(feature = "internals")]
    pub fn write_raw_batch(&self, tree: &str, items: &[(u64, Vec<u8>)], flush: bool) -> Result<(), StoreError> {
        let t = self.db.open_tree(tree).map_err(StoreError::io)?;
        let mut batch = sled::Batch::default();
        for (k, v) in items {
            batch.insert(&event_key(*k), v.as_slice());
        }
        t.apply_batch(batch).map_err(StoreError::io)?;
        if flush {
            self.db.flush().map_err(StoreError::io)?;
        }
        Ok(())
    }

    /// Scans a scratch tree written by [`Store::write_raw_batch`], hashing each value as the
    /// verifier does; returns how many values it read.
    #[cfg(feature = "internals")]
    pub fn scan_raw(&self, tree: &str) -> Result<u64, StoreError> {
        let t = self.db.open_tree(tree).map_err(StoreError::io)?;
        let mut n = 0;
        for item in t.iter() {
            let (_, v) = item.map_err(StoreError::io)?;
            std::hint::black_box(crate::event::event_hash(&v[32.min(v.len())..]));
            n += 1;
        }
        Ok(n)
    }

    /// Scans the log itself as [`Store::scan_raw`] scans a scratch tree: every stored
    /// record, its canonical bytes hashed, nothing else checked. The floor under `verify`
    /// on the very same tree; returns how many records it read.
    #[cfg(feature = "internals")]
    pub fn scan_log_raw(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for item in self.log.range(event_key(1)..=event_key(u64::MAX)) {
            let (k, v) = item.map_err(StoreError::io)?;
            for record in Stored::decode(key_seq(&k).ok_or_else(malformed_key)?, v)?.records() {
                std::hint::black_box(crate::event::event_hash(record.canonical()));
                n += 1;
            }
        }
        Ok(n)
    }

    /// Drops a scratch tree.
    #[cfg(feature = "internals")]
    pub fn drop_raw(&self, tree: &str) -> Result<(), StoreError> {
        self.db.drop_tree(tree).map_err(StoreError::io)?;
        Ok(())
    }

    /// Test support: overwrites or removes record `seq`'s stored value behind the ledger's
    /// back, so tamper tests can damage a store the way a disk or an intruder would. A run
    /// that holds `seq` is split around it first, so only that record changes; `value` is
    /// stored as it is under `seq`'s key (a record's form is its hash, then its bytes).
    #[cfg(feature = "internals")]
    pub fn tamper(&self, seq: u64, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        if let Some(stored) = self.stored_holding(seq)? {
            let records: Vec<StoredRecord> = stored.records().collect();
            batch.remove(&event_key(stored.first()));
            let mut encoded = Vec::new();
            for part in records.split(|r| r.seq == seq).filter(|part| !part.is_empty()) {
                encoded.clear();
                runs::encode(part.iter().map(|r| (r.hash, r.canonical())), &mut encoded);
                batch.insert(&event_key(part[0].seq), encoded.as_slice());
            }
        }
        if let Some(v) = value {
            batch.insert(&event_key(seq), v);
        }
        self.log.apply_batch(batch).map_err(StoreError::io)?;
        self.db.flush().map_err(StoreError::io)?;
        self.forget_tile();
        Ok(())
    }

    /// Test support: sets (or removes) the verified point behind the ledger's back, as a
    /// store written before verified points were kept would have none.
    #[cfg(feature = "internals")]
    pub fn tamper_verified(&self, point: Option<Head>) -> Result<(), StoreError> {
        match point {
            Some(p) => self
                .log
                .insert(VERIFIED_KEY, encode_head(p).as_slice())
                .map_err(StoreError::io)?,
            None => self.log.remove(VERIFIED_KEY).map_err(StoreError::io)?,
        };
        self.db.flush().map_err(StoreError::io)?;
        Ok(())
    }

    /// Test support: sets (or removes) the value of the stored rules state's `rules` key
    /// behind the ledger's back.
    #[cfg(feature = "internals")]
    pub fn tamper_rules_key(&self, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        match value {
            Some(v) => self.log.insert(RULES_KEY, v).map_err(StoreError::io)?,
            None => self.log.remove(RULES_KEY).map_err(StoreError::io)?,
        };
        self.db.flush().map_err(StoreError::io)?;
        Ok(())
    }

    /// Test support: replaces the stored bucket that holds `id`'s rules-state entry with
    /// `value`, behind the ledger's back.
    #[cfg(feature = "internals")]
    pub fn tamper_rules_bucket(&self, id: &Id, value: &[u8]) -> Result<(), StoreError> {
        self.log
            .insert(rules_key(buckets::bucket_of(id.as_str())), value)
            .map_err(StoreError::io)?;
        self.db.flush().map_err(StoreError::io)?;
        Ok(())
    }

    /// Test support: writes `value` under the rules state's prefix followed by `key`, as a
    /// store of another layout holds (layout 1: `s` and an entity's id), behind the
    /// ledger's back.
    #[cfg(feature = "internals")]
    pub fn tamper_rules_raw(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut k = vec![RULES_PREFIX];
        k.extend_from_slice(key);
        self.log.insert(k, value).map_err(StoreError::io)?;
        self.db.flush().map_err(StoreError::io)?;
        Ok(())
    }

    /// Test support: how many values the records are stored in (one per record, or fewer
    /// where runs hold several).
    #[cfg(feature = "internals")]
    pub fn record_values(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for item in self.log.range(event_key(0)..=event_key(u64::MAX)) {
            item.map_err(StoreError::io)?;
            n += 1;
        }
        Ok(n)
    }

    /// Test support: how many values under record keys are compressed (the rest are plain).
    #[cfg(feature = "internals")]
    pub fn compressed_values(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for item in self.log.range(event_key(0)..=event_key(u64::MAX)) {
            let (_, v) = item.map_err(StoreError::io)?;
            n += u64::from(v.last() == Some(&runs::COMPRESSED_TAG));
        }
        Ok(n)
    }

    /// Test support: rewrites every value under a record key in its plain form, as a store
    /// written before values were compressed holds them.
    #[cfg(feature = "internals")]
    pub fn rewrite_plain(&self) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for item in self.log.range(event_key(0)..=event_key(u64::MAX)) {
            let (k, v) = item.map_err(StoreError::io)?;
            let stored = Stored::decode(key_seq(&k).ok_or_else(malformed_key)?, v)?;
            let records: Vec<StoredRecord> = stored.records().collect();
            let mut plain = Vec::new();
            runs::encode_plain(records.iter().map(|r| (r.hash, r.canonical())), &mut plain);
            batch.insert(k, plain);
        }
        self.log.apply_batch(batch).map_err(StoreError::io)?;
        self.db.flush().map_err(StoreError::io)?;
        Ok(())
    }

    /// Test support: the store's `format` marker as stored.
    #[cfg(feature = "internals")]
    pub fn format_marker(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.log.get(FORMAT_KEY).map_err(StoreError::io)?.map(|v| v.to_vec()))
    }

    /// Test support: sets the store's `format` marker behind the ledger's back, as a store
    /// of an earlier version holds another.
    #[cfg(feature = "internals")]
    pub fn tamper_format(&self, value: &[u8]) -> Result<(), StoreError> {
        self.log.insert(FORMAT_KEY, value).map_err(StoreError::io)?;
        self.db.flush().map_err(StoreError::io)?;
        Ok(())
    }

    /// Test support: record `seq`'s stored hash and canonical bytes, one after the other
    /// (the value a single record is stored as), wherever it is stored.
    #[cfg(feature = "internals")]
    pub fn raw_value(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .stored_holding(seq)?
            .and_then(|s| s.get(seq))
            .map(|r| [&r.hash.0[..], r.canonical()].concat()))
    }
}

/// Merkle tree nodes share the log's tree too: `t`, the level, the index (big-endian).
const TREE_PREFIX: u8 = b't';
/// How many leaves the stored tree covers, written with each group.
const TREE_SIZE_KEY: &[u8] = b"tree-size";

/// Perfect subtrees below this level are not stored: a node of level 5 covers 32 leaves,
/// which are read back from the records' own stored hashes when a proof needs them (a proof
/// reads the records of one tile of 64 leaves, a few stored values, once). From level 6 up
/// the tree costs one entry per 32 events. Every key sled holds costs every open (sled
/// reads a table of all its pages): with the nodes of level 4 and up the tree held a third
/// of a generated store's keys, with those of level 6 and up a tenth. Storing every
/// perfect subtree would add about two entries to each event's batch, which costs the
/// append path a quarter of its rate. The stored tiles are those of C2SP tlog-tiles with
/// height 6, in spirit.
pub const TILE_HEIGHT: u32 = 6;

fn add_tree_nodes(batch: &mut sled::Batch, nodes: &[(u32, u64, Hash)], size: u64) {
    for (level, index, hash) in nodes.iter().filter(|(level, _, _)| *level >= TILE_HEIGHT) {
        batch.insert(&tree_key(*level, *index), &hash.0);
    }
    batch.insert(TREE_SIZE_KEY, &size.to_be_bytes());
}

fn tree_key(level: u32, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = TREE_PREFIX;
    k[1] = level as u8;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

/// The stored perfect subtrees of the Merkle tree, for roots and proofs.
impl crate::merkle::TreeNodes for Store {
    fn node(&self, level: u32, index: u64) -> Result<Hash, crate::merkle::TreeError> {
        if level < TILE_HEIGHT {
            return self.node_from_records(level, index);
        }
        match self.log.get(tree_key(level, index)) {
            Ok(Some(v)) if v.len() == 32 => Ok(Hash(v.as_ref().try_into().expect("32 bytes"))),
            Ok(Some(_)) => Err(crate::merkle::TreeError::Store(format!(
                "tree node ({level}, {index}) is malformed"
            ))),
            Ok(None) => Err(crate::merkle::TreeError::MissingNode {
                level,
                index,
                held: self.tree_size().unwrap_or(0),
            }),
            Err(e) => Err(crate::merkle::TreeError::Store(e.to_string())),
        }
    }
}

/// The rules state's entries share the log's tree under their own prefix, in buckets
/// (`buckets`): `s` then the bucket's number, 4 bytes big-endian.
const RULES_PREFIX: u8 = b's';
/// Where the stored rules state stands: [`RULES_LAYOUT`], then a head as `head` is stored.
const RULES_KEY: &[u8] = b"rules";
/// The layout of the stored rules state: 2, the entries in buckets (1 was a key per
/// entity). A store whose rules state has another layout has it rebuilt from the log.
const RULES_LAYOUT: u8 = 2;
/// What the `rules` key holds when the stored rules state is to be rebuilt at the next open.
const RULES_REBUILD: u8 = 0;

/// What is said of the bucket that holds `id`'s entry when it does not read.
fn damaged_bucket(id: &str, why: &str) -> String {
    format!("the stored rules bucket of {id} does not decode: {why}")
}

fn rules_key(bucket: u32) -> [u8; 5] {
    let [a, b, c, d] = bucket.to_be_bytes();
    [RULES_PREFIX, a, b, c, d]
}

/// Idempotency entries share the log's tree (so that they commit in the records' batch)
/// under their own prefix, which no record key has.
const IDEMPOTENCY_PREFIX: u8 = b'i';

fn idempotency_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(IDEMPOTENCY_PREFIX);
    k.extend_from_slice(key);
    k
}

/// The default bound of sled's page cache (`--store-cache-mib` of `serve` and `follow`):
/// 256 MiB. sled's own default is 1 GiB, which a server filled in the minute after its start
/// with pages it had read once (the background `verify` reads the whole log): at
/// 10,000,000 events its resident memory went from 2.2 to 3.1 GiB, against 2.5 GiB with this
/// bound. Records are read again rarely (history, export, proofs of old entries), and the
/// operating system's cache still holds the file.
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

static CACHE_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(DEFAULT_CACHE_BYTES);

/// Bounds sled's page cache, in bytes, for the stores this process opens from now on.
pub fn set_cache_bytes(bytes: u64) {
    CACHE_BYTES.store(bytes, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!("the store's page cache is bounded at {} MiB", bytes >> 20);
}

/// The bound to give sled: the one set, or the least sled takes (it refuses under 256 bytes),
/// so that a bound of 0 means as little as sled will keep.
fn cache_bytes() -> u64 {
    CACHE_BYTES.load(std::sync::atomic::Ordering::Relaxed).max(256)
}

/// sled's data file in the store's directory (beside `conf`, `blobs/` and `snap.*`).
const SLED_DATA_FILE: &str = "db";

/// Opens sled, turning a panic inside it into an error: sled 0.34 panics (in its segment
/// reader) on a truncated or garbled data file instead of returning an error. The outer
/// `Result` is that damage; the inner one is sled's own answer.
fn open_sled(dir: &Path) -> Result<sled::Result<sled::Db>, StoreError> {
    let opened = quiet_panics(|| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            sled::Config::new().path(dir).cache_capacity(cache_bytes()).open()
        }))
    });
    opened.map_err(|panic| unreadable(dir, &panic_message(panic.as_ref())))
}

/// The damage sled reports, or panics on, as it opens the store in `dir`.
fn unreadable(dir: &Path, why: &str) -> StoreError {
    StoreError::Damaged(format!(
        "sled could not read {} ({why}); restore the store from an export",
        dir.join(SLED_DATA_FILE).display(),
    ))
}

thread_local! {
    /// Set while this thread runs code whose panics are caught and reported as errors.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The message of this thread's last panic, for what is dropped while it unwinds.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Wraps the panic hook (once per process): it remembers each panic's message for its
/// thread, so that a ledger thread's death can be reported with it while the thread
/// unwinds, and stays silent on a thread running [`quiet_panics`]. Every other panic goes
/// to the hook installed before, unchanged.
pub(crate) fn install_panic_hook() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            LAST_PANIC.with(|m| *m.borrow_mut() = Some(panic_message(info.payload())));
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

/// The message of the current thread's last panic, as the hook saw it.
pub(crate) fn last_panic() -> Option<String> {
    LAST_PANIC.with(|m| m.borrow().clone())
}

/// Runs `f` with the panic message hook silenced on this thread only: the panic becomes a
/// clear error, so its message and backtrace would only be noise on the user's terminal.
/// Other threads' panics still reach the hook that was installed before.
fn quiet_panics<T>(f: impl FnOnce() -> T) -> T {
    install_panic_hook();
    let was = QUIET.with(|q| q.replace(true));
    let out = f();
    QUIET.with(|q| q.set(was));
    out
}

/// The message a panic was raised with, for logs and errors.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Removes the snapshots sled left unfinished. sled writes a snapshot to
/// `snap.<lsn>.generating`, syncs it and only then renames it; a file still named so was
/// never completed (a full disk stops it, leaving it empty), and sled 0.34 would read it
/// as the latest snapshot and refuse to open ("Read corrupted data at file offset None")
/// from then on. sled rebuilds a snapshot from its log, so removing the file loses
/// nothing. It is removed only while this process holds the lock sled takes on its data
/// file, so no running sled can be writing it; a store in use is left alone (and then
/// refused as in use by the open that follows).
fn remove_unfinished_snapshots(dir: &Path) -> Result<(), StoreError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let leftovers: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap.") && n.ends_with(".generating"))
        })
        .collect();
    if leftovers.is_empty() {
        return Ok(());
    }
    let data = dir.join(SLED_DATA_FILE);
    let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open(&data) else {
        return Ok(());
    };
    if file.try_lock().is_err() {
        return Ok(());
    }
    for leftover in &leftovers {
        std::fs::remove_file(leftover).map_err(|e| StoreError::io(format!("{}: {e}", leftover.display())))?;
    }
    sync_dir(dir)?;
    drop(file);
    Ok(())
}

/// Syncs a directory, so that the names of the files in it survive a power loss.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(format!("syncing {}: {e}", dir.display())))
}

/// A stored record read and checked: its bytes against its hash, and the `seq` they say
/// against where it is stored.
fn read_stored(item: Result<StoredRecord, StoreError>) -> Result<Record, StoreError> {
    let stored = item?;
    let seq = stored.seq;
    let record = Record::from_stored(stored.hash, stored.canonical()).map_err(|e| corrupt(seq, e))?;
    if record.seq() != seq {
        return Err(StoreError::Corrupt {
            seq,
            reason: format!("the record stored at {seq} says seq {}", record.seq()),
        });
    }
    Ok(record)
}

fn corrupt(seq: u64, e: RecordError) -> StoreError {
    StoreError::Corrupt {
        seq,
        reason: e.to_string(),
    }
}
