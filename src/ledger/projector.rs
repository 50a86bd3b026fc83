//! The projector thread: folds durable records into the live projection and writes
//! projection snapshots, off the path that answers submitters.

use std::sync::{Arc, RwLock};

use super::caches::{snapshot_due, snapshot_worth_keeping};
use super::{Deaths, EndOnDrop, Progress};
use crate::event::Record;
use crate::projection::Projection;
use crate::store::Store;

pub(super) struct Projector {
    pub(super) deaths: Arc<Deaths>,
    pub(super) store: Arc<Store>,
    pub(super) projection: Arc<RwLock<Projection>>,
    pub(super) projected: Arc<Progress>,
    /// The `seq` of the last projection snapshot written.
    pub(super) last_snapshot: u64,
}

impl Projector {
    pub(super) fn run(mut self, rx: std::sync::mpsc::Receiver<Vec<Record>>) {
        let _ended = EndOnDrop(self.projected.clone(), self.deaths.clone());
        // The open folded the records after the latest snapshot: keep them, off the open's
        // path, so that the next open does not fold them again.
        self.snapshot_if(snapshot_worth_keeping);
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
                    projection.fold_unsettled(r);
                }
                projection.settle();
                projection.head().seq
            };
            self.projected.advance(head);
            self.snapshot_if(snapshot_due);
        }
        // The ledger is closing, every durable record folded: what was folded since the last
        // snapshot is kept for the next open.
        self.snapshot_if(snapshot_worth_keeping);
    }

    /// Writes a snapshot of the projection when `due` says so of the last one and the
    /// projection's head.
    fn snapshot_if(&mut self, due: fn(u64, u64) -> bool) {
        // Readers share the lock while the snapshot is encoded; only folding waits.
        let projection = self.projection.read().unwrap_or_else(|e| e.into_inner());
        let head = projection.head().seq;
        // A failed snapshot write only costs a longer replay next time.
        if due(self.last_snapshot, head) && self.store.put_snapshot(&projection).is_ok() {
            self.last_snapshot = head;
        }
    }
}
