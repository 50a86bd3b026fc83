//! Catching up at open: the records after the projection's snapshot folded into it, and the
//! Merkle tree's stored nodes brought up to the head. (The rules state catches up in
//! [`super::rules`].)

use crate::merkle::Frontier;
use crate::projection::Projection;
use crate::store::{Store, StoreError};

/// Folds the records after the projection's head, up to `head`, into it, and settles its
/// commitment; returns how many it folded.
pub(super) fn fold_tail(store: &Store, projection: &mut Projection, head: u64) -> Result<u64, StoreError> {
    let from = projection.head().seq;
    let meter = crate::progress::Meter::events("folding the projection", Some(head.saturating_sub(from)));
    let mut count = 0;
    let folded = store.for_each_record(from + 1, head, |record| {
        projection.fold_unsettled(&record);
        count += 1;
        meter.inc(1);
        Ok(())
    });
    projection.settle();
    folded.map(|()| count)
}

/// Brings the stored Merkle tree up to the log's `head` (a log written before the tree was
/// kept, or by the benchmark without it), and returns its frontier for the writer.
pub(super) fn fill_tree(store: &Store, head: u64) -> Result<Frontier, StoreError> {
    // The open reads the stored nodes of the tree's right edge and computes those below
    // the stored levels from the records of the last tile (at most 63): one it cannot read
    // is named.
    let tree_err = |e: crate::merkle::TreeError| StoreError::Corrupt {
        seq: match e {
            crate::merkle::TreeError::Record { seq, .. } => seq,
            _ => 0,
        },
        reason: format!("the Merkle tree: {e}"),
    };
    let held = store.tree_size()?;
    if held > head {
        return Err(StoreError::Corrupt {
            seq: head + 1,
            reason: format!("the Merkle tree holds {held} leaves but the log ends at {head}"),
        });
    }
    let mut frontier = Frontier::from_nodes(held, store).map_err(tree_err)?;
    let mut nodes = Vec::new();
    for item in store.raw_records(held + 1) {
        let hash = item?.hash;
        frontier.push_into(&hash, &mut nodes);
        if nodes.len() >= 1 << 16 {
            store.insert_tree_nodes(&nodes, frontier.size())?;
            nodes.clear();
        }
    }
    if held < head {
        store.insert_tree_nodes(&nodes, frontier.size())?;
        store.flush()?;
    }
    Ok(frontier)
}
