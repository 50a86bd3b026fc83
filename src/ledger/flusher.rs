//! The flusher thread: one flush (and one sync) for every group inserted since the last,
//! then the durable head moves and the submitters are answered, in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

use super::{stopped_error, DeathOnDrop, Deaths, Inserted};
use crate::chain::Head;
use crate::event::Record;
use crate::store::Store;

pub(super) struct Flusher {
    pub(super) deaths: Arc<Deaths>,
    pub(super) store: Arc<Store>,
    pub(super) head_tx: watch::Sender<Head>,
    pub(super) groups: Arc<AtomicU64>,
    pub(super) stopped: Arc<OnceLock<String>>,
    pub(super) fold: std::sync::mpsc::Sender<Vec<Record>>,
}

impl Flusher {
    pub(super) fn run(self, rx: std::sync::mpsc::Receiver<Inserted>) {
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
