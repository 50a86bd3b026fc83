//! The ledger's caches, files beside sled's in the data directory: projection snapshots, and opening a projection from the latest usable
//! snapshot plus the records after it.
//!
//! Snapshots are caches (FORMAT.md does not cover them): a snapshot that does not match the
//! log is ignored and a new one written; deleting them all only costs a full replay. They
//! are plain files in `caches/` inside the data directory: projection snapshots named by the
//! `seq` they stand for, and a mark of the head the ledger last closed at.

use std::path::{Path, PathBuf};

use crate::chain::{ChainError, Head};
use crate::projection::{snapshot, Parts, Projection};
use crate::store::{Store, StoreError, Verified};

/// A new snapshot is due once this many events, or an eighth of the ledger if that is more,
/// have been folded since the last one. The growing interval keeps the bytes written for
/// snapshots proportional to the log, however long it grows.
pub const SNAPSHOT_EVERY: u64 = 10_000;
/// How many snapshots the store keeps. The projection is bitemporal, so the latest snapshot
/// answers questions about any earlier `seq`; the one before it is kept in case the latest
/// turns out unusable.
pub const KEEP_SNAPSHOTS: usize = 2;
/// The directory, inside the data directory, that holds snapshot files: caches, which can
/// be deleted at any time.
pub const SNAPSHOT_DIR: &str = "caches";
/// The file that marks the head a ledger last closed at.
const CLOSED_HEAD_FILE: &str = "closed.head";
/// The file of the whole rules state that versions before the stored one wrote at close.
const OLD_RULES_STATE_FILE: &str = "rules-state.snapshot";

/// How a projection was opened, for the benchmark and for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opened {
    /// The `seq` of the snapshot it started from (0: none).
    pub from_snapshot: u64,
    /// Snapshots found unusable and ignored.
    pub ignored: u64,
    /// Records folded after the snapshot.
    pub replayed: u64,
}

/// Whether a snapshot is due at `head` when the last one stands at `last`: the pace of the
/// live projector, which keeps the bytes written for snapshots proportional to the log.
pub fn snapshot_due(last: u64, head: u64) -> bool {
    head > last && head - last >= SNAPSHOT_EVERY.max(head / 8)
}

/// Whether a projection that has folded the records from `last` to `head` and is about to
/// be dropped or handed on (a cold open that folded them, a ledger closing) keeps them in a
/// snapshot: once [`SNAPSHOT_EVERY`] or more were folded, whatever the ledger's size. One
/// snapshot written then spares every later open folding them again, which at 10,000,000
/// events was up to a million records and most of a cold answer (BENCHMARKS.md).
pub fn snapshot_worth_keeping(last: u64, head: u64) -> bool {
    head > last && head - last >= SNAPSHOT_EVERY
}

impl Store {
    /// The directory of projection snapshots: files beside sled's, not in it, so that
    /// writing a snapshot of many megabytes never adds to the flush an append waits for.
    fn snapshot_dir(&self) -> PathBuf {
        self.path().join(SNAPSHOT_DIR)
    }

    fn snapshot_file(&self, seq: u64) -> PathBuf {
        snapshot_file_in(&self.snapshot_dir(), seq)
    }

    /// The `seq` of every stored snapshot, oldest first.
    pub fn snapshot_seqs(&self) -> Result<Vec<u64>, StoreError> {
        snapshot_seqs_in(&self.snapshot_dir()).map_err(StoreError::io)
    }

    /// Stores a snapshot of `projection` and drops the oldest beyond [`KEEP_SNAPSHOTS`].
    /// Not synced: a snapshot lost or cut short in a crash fails its hash and is only a
    /// cache miss.
    pub fn put_snapshot(&self, projection: &Projection) -> Result<(), StoreError> {
        self.put_snapshot_bytes(projection.head().seq, &snapshot::encode(projection))?;
        let seqs = self.snapshot_seqs()?;
        for old in seqs.iter().take(seqs.len().saturating_sub(KEEP_SNAPSHOTS)) {
            std::fs::remove_file(self.snapshot_file(*old)).map_err(StoreError::io)?;
        }
        self.remove_partial_snapshots();
        Ok(())
    }

    /// Removes the partial snapshot files a process killed while writing one left behind
    /// (each as large as a snapshot). Only one process writes snapshots at a time (sled
    /// locks the store), and this one has just finished its own. Best effort: a file that
    /// cannot be removed costs only its disk space.
    fn remove_partial_snapshots(&self) {
        let Ok(entries) = std::fs::read_dir(self.snapshot_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("projection-") && name.ends_with(".partial") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Stores raw snapshot bytes under `seq` (written to a temporary file, then renamed, so a
    /// reader never sees half a file). [`Store::put_snapshot`] uses it; tests use it to plant
    /// damaged snapshots.
    pub fn put_snapshot_bytes(&self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_cache_file(&self.snapshot_file(seq), bytes)
    }

    /// Writes a file of `caches/` whole: to a temporary file, then renamed over the old one.
    fn write_cache_file(&self, file: &std::path::Path, bytes: &[u8]) -> Result<(), StoreError> {
        std::fs::create_dir_all(self.snapshot_dir()).map_err(StoreError::io)?;
        let partial = file.with_extension("partial");
        std::fs::write(&partial, bytes).map_err(StoreError::io)?;
        std::fs::rename(&partial, file).map_err(StoreError::io)?;
        Ok(())
    }

    /// The head each cache file says it was written at: the mark of the last close, the
    /// rules state older versions saved, and every projection snapshot whose header reads.
    /// For the check that the log still reaches them. Only each file's header is read: a
    /// projection snapshot is hundreds of MiB at 10,000,000 events.
    pub(crate) fn cache_heads(&self) -> Result<Vec<(&'static str, Head)>, StoreError> {
        let dir = self.snapshot_dir();
        let mut heads = Vec::new();
        heads.extend(
            header_of_file(&dir.join(CLOSED_HEAD_FILE), snapshot::CLOSED_HEAD).map(|h| ("head of the last close", h)),
        );
        heads.extend(
            header_of_file(&dir.join(OLD_RULES_STATE_FILE), snapshot::RULES_STATE).map(|h| ("saved rules state", h)),
        );
        for seq in self.snapshot_seqs()? {
            heads.extend(
                header_of_file(&self.snapshot_file(seq), snapshot::PROJECTION).map(|h| ("projection snapshot", h)),
            );
        }
        Ok(heads)
    }

    /// Removes every snapshot.
    pub fn delete_snapshots(&self) -> Result<(), StoreError> {
        match std::fs::remove_dir_all(self.snapshot_dir()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(e)),
            _ => Ok(()),
        }
    }

    /// The latest snapshot that matches the log, decoded; unusable ones are skipped and
    /// counted.
    pub fn latest_snapshot(&self) -> Result<(Option<Projection>, u64), StoreError> {
        self.latest_snapshot_reading(Parts::all(), None)
    }

    /// [`Store::latest_snapshot`], decoding only `parts` when the snapshot stands for the
    /// head (nothing is left to fold on it); one that stands for an earlier record is
    /// decoded whole, for the records after it to fold in.
    /// `early`, when given, is the newest snapshot file decoded before the store was open
    /// ([`decode_early`]): it is the answer when it is the file and the decode this would
    /// have chosen, and it stands in the log.
    fn latest_snapshot_reading(
        &self,
        parts: Parts,
        early: Option<EarlySnapshot>,
    ) -> Result<(Option<Projection>, u64), StoreError> {
        let head = self.head()?.seq;
        let seqs = self.snapshot_seqs()?;
        if let Some(early) = early {
            let wanted = if early.seq == head { parts } else { Parts::all() };
            let chosen = seqs.last() == Some(&early.seq) && early.seq <= head && early.parts == wanted;
            if chosen && matches!(self.raw(early.seq)?, Some((hash, _)) if hash == early.hash) {
                return Ok((Some(early.projection), 0));
            }
        }
        let mut ignored = 0;
        for seq in seqs.into_iter().rev() {
            let parts = if seq == head { parts } else { Parts::all() };
            // A whole decode reads every page: they are read in at once, not a fault each.
            // A question that reads a few sections faults in only theirs (`coverage` reads
            // 38 of 530 MB at 10,000,000 events).
            let whole = parts == Parts::all();
            let usable = match (map_file(&self.snapshot_file(seq), whole), self.raw(seq)?) {
                (Some(bytes), Some((hash, _))) if seq <= head => snapshot::decode_parts(&bytes, hash, parts).ok(),
                _ => None,
            };
            match usable {
                Some(p) => return Ok((Some(p), ignored)),
                None => ignored += 1,
            }
        }
        Ok((None, ignored))
    }

    /// Marks the head the ledger closed at (a file of `caches/`, written whole): one of the
    /// heads `check_cache_heads` holds the log to.
    pub fn put_closed_head(&self, head: Head) -> Result<(), StoreError> {
        let bytes = snapshot::encode_as(snapshot::CLOSED_HEAD, head, &());
        self.write_cache_file(&self.snapshot_dir().join(CLOSED_HEAD_FILE), &bytes)
    }

    /// Removes the whole rules state that versions before the stored one saved in
    /// `caches/` at close: the store's own is used now.
    pub(crate) fn remove_saved_rules_state(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(self.snapshot_dir().join(OLD_RULES_STATE_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(e)),
            _ => Ok(()),
        }
    }

    /// Opens the projection at the head: the latest usable snapshot, then every record
    /// after it. Writes a new snapshot when it folded [`SNAPSHOT_EVERY`] records or more.
    pub fn open_projection(&self) -> Result<(Projection, Opened), StoreError> {
        self.open_projection_reading(Parts::all())
    }

    /// Opens the projection at the head for a question that reads only `parts`
    /// ([`crate::commands::report::ReportKind::reads`]): from a snapshot that stands for the head,
    /// only those parts are decoded, and the projection refuses to be folded on or written
    /// ([`Projection::missing`]); otherwise as [`Store::open_projection`].
    pub fn open_projection_reading(&self, parts: Parts) -> Result<(Projection, Opened), StoreError> {
        self.open_projection_reading_after(parts, None)
    }

    /// [`Store::open_projection_reading`], given what [`decode_early`] made of the newest
    /// snapshot file while the store was being opened: used only where it is what the
    /// store's own choice would decode.
    pub fn open_projection_reading_after(
        &self,
        parts: Parts,
        early: Option<EarlySnapshot>,
    ) -> Result<(Projection, Opened), StoreError> {
        let (snap, ignored) = self.latest_snapshot_reading(parts, early)?;
        let mut projection = snap.unwrap_or_default();
        let from_snapshot = projection.head().seq;
        let replayed = super::replay::fold_tail(self, &mut projection, self.head()?.seq)?;
        if snapshot_worth_keeping(from_snapshot, projection.head().seq) {
            self.put_snapshot(&projection)?;
        }
        Ok((
            projection,
            Opened {
                from_snapshot,
                ignored,
                replayed,
            },
        ))
    }
}

/// The newest snapshot file of a data directory, decoded before its store is open
/// ([`decode_early`]).
pub struct EarlySnapshot {
    /// The `seq` its file is named by.
    seq: u64,
    /// The hash its header gives for the record at `seq`: the store must have it there.
    hash: crate::event::Hash,
    /// The parts decoded.
    parts: Parts,
    projection: Projection,
}

/// A decode of the newest snapshot started before the store is opened, on a thread of its
/// own: sled's open reads a table of the store's pages on one core (about 0.2 s at
/// 10,000,000 events), and a cold question's decode of a few sections leaves the other core
/// idle meanwhile, so `orgledger report` does both at once. (A whole decode keeps both
/// cores busy already: a server's start gained nothing from it, and does not use it.)
/// Nothing is trusted from it until the store is open: [`Store::open_projection_reading_after`]
/// uses it only when it is the file, and the parts, that it would have decoded, and the
/// record at its `seq` has the hash it stands for; otherwise it is dropped and the store
/// decodes as it would have.
pub struct EarlyDecode(Option<std::thread::JoinHandle<Option<EarlySnapshot>>>);

impl EarlyDecode {
    /// What the decode made of the newest snapshot (`None`: no snapshot, one that does not
    /// decode, or no thread to decode it on).
    pub fn take(self) -> Option<EarlySnapshot> {
        self.0.and_then(|thread| thread.join().ok().flatten())
    }
}

/// Starts decoding `parts` of the newest snapshot in `data`'s `caches/` (see
/// [`EarlyDecode`]).
pub fn decode_early(data: &Path, parts: Parts) -> EarlyDecode {
    let dir = data.join(SNAPSHOT_DIR);
    let decode = move || {
        let seq = *snapshot_seqs_in(&dir).ok()?.last()?;
        let bytes = map_file(&snapshot_file_in(&dir, seq), parts == Parts::all())?;
        let hash = snapshot::header_of(snapshot::PROJECTION, &bytes).ok()?.hash;
        let projection = snapshot::decode_parts(&bytes, hash, parts).ok()?;
        Some(EarlySnapshot {
            seq,
            hash,
            parts,
            projection,
        })
    };
    EarlyDecode(
        std::thread::Builder::new()
            .name("orgledger-early-snapshot".into())
            .spawn(decode)
            .ok(),
    )
}

fn snapshot_file_in(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("projection-{seq:020}.snapshot"))
}

/// The `seq` of every snapshot file in `dir`, oldest first (none when `dir` is missing).
fn snapshot_seqs_in(dir: &Path) -> std::io::Result<Vec<u64>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let seq = name
            .to_str()
            .and_then(|n| n.strip_prefix("projection-"))
            .and_then(|n| n.strip_suffix(".snapshot"))
            .and_then(|n| n.parse::<u64>().ok());
        out.extend(seq);
    }
    out.sort_unstable();
    Ok(out)
}

/// `orgledger verify`'s whole check of a store: every hash, link and tree node
/// ([`Store::verify`]), then that the log still reaches every head the caches were written
/// at. `Ok(Err(_))` is a broken chain; `Err(_)` a failure to read.
pub fn verify(store: &Store) -> Result<Result<Verified, ChainError>, StoreError> {
    let verified = match store.verify()? {
        Ok(verified) => verified,
        broken => return Ok(broken),
    };
    Ok(check_cache_heads(store, verified.head).map(|()| verified))
}

/// The caches were written from this log at some head: a log that no longer reaches that
/// head lost records behind the chain's back (sled, for one, recovers from a damaged file by
/// dropping what follows the damage, and the shorter chain verifies on its own). A cache
/// whose record differs is only ignored, as a stale cache; a rewritten history is for signed
/// checkpoints to catch. Deleted caches make this check silent. It reads only the caches'
/// headers, so opening runs it too.
pub(crate) fn check_cache_heads(store: &Store, end: Head) -> Result<(), ChainError> {
    let heads = store.cache_heads().map_err(|e| ChainError {
        seq: end.seq + 1,
        error: format!("the caches cannot be read: {e}"),
    })?;
    for (what, cached) in heads {
        if cached.seq > end.seq {
            return Err(ChainError {
                seq: end.seq + 1,
                error: format!(
                    "the log ends at {} but the {what} in caches/ was written from it at record {}: records are missing",
                    end.seq, cached.seq
                ),
            });
        }
    }
    Ok(())
}

/// The head in the header of the cache file at `path`, of the kind `marker`, reading only
/// the header; `None` when the file is missing, short or of another kind.
fn header_of_file(path: &std::path::Path, marker: &[u8]) -> Option<Head> {
    use std::io::Read;
    let mut header = Vec::with_capacity(marker.len() + snapshot::HEADER_AFTER_MARKER);
    std::fs::File::open(path)
        .ok()?
        .take((marker.len() + snapshot::HEADER_AFTER_MARKER) as u64)
        .read_to_end(&mut header)
        .ok()?;
    snapshot::header_of(marker, &header).ok()
}

/// A snapshot file's bytes, mapped rather than read: a snapshot of 10,000,000 events is
/// about 500 MiB, and reading it copied every byte out of the page cache into a buffer of that
/// size (a quarter of a cold report there). With `populate`, every page is read in as it is
/// mapped. `None` when it cannot be opened or mapped (an empty file cannot be): the
/// snapshot is then unusable, as one that does not read.
fn map_file(path: &Path, populate: bool) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: the map is read-only and lives only while the snapshot is decoded. A snapshot
    // file is never written in place: it is written whole under another name and renamed
    // into place, and removed (which leaves a mapped file readable). Only a process outside
    // the ledger truncating the file during the decode could pull pages from under it.
    let mut options = memmap2::MmapOptions::new();
    if populate {
        options.populate();
    }
    unsafe { options.map(&file) }.ok()
}
