//! Projection snapshots in the store, and opening a projection from the latest usable
//! snapshot plus the records after it.
//!
//! Snapshots are caches (FORMAT.md does not cover them): a snapshot that does not match the
//! log is ignored and a new one written; deleting them all only costs a full replay.

use super::{Store, StoreError};
use crate::projection::{snapshot, Projection};

/// A new snapshot is due once this many events, or an eighth of the ledger if that is more,
/// have been folded since the last one. The growing interval keeps the bytes written for
/// snapshots proportional to the log, however long it grows.
pub const SNAPSHOT_EVERY: u64 = 10_000;
/// How many snapshots the store keeps. The projection is bitemporal, so the latest snapshot
/// answers questions about any earlier `seq`; the one before it is kept in case the latest
/// turns out unusable.
pub const KEEP_SNAPSHOTS: usize = 2;
const SNAPSHOT_TREE: &str = "snapshots";

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

/// Whether a snapshot is due at `head` when the last one stands at `last`.
pub fn snapshot_due(last: u64, head: u64) -> bool {
    head > last && head - last >= SNAPSHOT_EVERY.max(head / 8)
}

impl Store {
    fn snapshots(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(SNAPSHOT_TREE).map_err(StoreError::io)
    }

    /// The `seq` of every stored snapshot, oldest first.
    pub fn snapshot_seqs(&self) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for item in self.snapshots()?.iter().keys() {
            let k = item.map_err(StoreError::io)?;
            if let Ok(b) = <[u8; 8]>::try_from(k.as_ref()) {
                out.push(u64::from_be_bytes(b));
            }
        }
        Ok(out)
    }

    /// Stores a snapshot of `projection` and drops the oldest beyond [`KEEP_SNAPSHOTS`].
    /// Not flushed: a snapshot lost in a crash is only a cache miss.
    pub fn put_snapshot(&self, projection: &Projection) -> Result<(), StoreError> {
        let seq = projection.head().seq;
        let tree = self.snapshots()?;
        tree.insert(seq.to_be_bytes(), snapshot::encode(projection))
            .map_err(StoreError::io)?;
        let seqs = self.snapshot_seqs()?;
        for old in seqs.iter().take(seqs.len().saturating_sub(KEEP_SNAPSHOTS)) {
            tree.remove(old.to_be_bytes()).map_err(StoreError::io)?;
        }
        Ok(())
    }

    /// Test and benchmark support: stores raw snapshot bytes under `seq`.
    #[doc(hidden)]
    pub fn put_snapshot_bytes(&self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.snapshots()?
            .insert(seq.to_be_bytes(), bytes)
            .map_err(StoreError::io)?;
        Ok(())
    }

    /// Removes every snapshot.
    pub fn delete_snapshots(&self) -> Result<(), StoreError> {
        self.snapshots()?.clear().map_err(StoreError::io)
    }

    /// The latest snapshot that matches the log, decoded; unusable ones are skipped and
    /// counted.
    pub fn latest_snapshot(&self) -> Result<(Option<Projection>, u64), StoreError> {
        let tree = self.snapshots()?;
        let head = self.head()?.seq;
        let mut ignored = 0;
        for item in tree.iter().rev() {
            let (k, v) = item.map_err(StoreError::io)?;
            let Ok(seq) = <[u8; 8]>::try_from(k.as_ref()).map(u64::from_be_bytes) else {
                ignored += 1;
                continue;
            };
            let usable = match self.raw(seq)? {
                Some((hash, _)) if seq <= head => snapshot::decode(&v, hash).ok(),
                _ => None,
            };
            match usable {
                Some(p) => return Ok((Some(p), ignored)),
                None => ignored += 1,
            }
        }
        Ok((None, ignored))
    }

    /// Opens the projection at the head: the latest usable snapshot, then every record
    /// after it. Writes a new snapshot when one is due.
    pub fn open_projection(&self) -> Result<(Projection, Opened), StoreError> {
        let (snap, ignored) = self.latest_snapshot()?;
        let mut projection = snap.unwrap_or_default();
        let from_snapshot = projection.head().seq;
        let mut replayed = 0;
        for record in self.records(from_snapshot + 1) {
            projection.fold(&record?);
            replayed += 1;
        }
        if snapshot_due(from_snapshot, projection.head().seq) {
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
