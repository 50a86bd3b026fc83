//! Replay at open: the log folded into the rules state (every rule checked again) from the
//! state saved at the last close, and the Merkle tree's stored nodes brought up to the head.

use crate::chain::{ChainVerifier, Head};
use crate::merkle::Frontier;
use crate::projection::Projection;
use crate::rules::State;
use crate::store::{Store, StoreError};

/// Folds the log into the rules state, checking each record's hash, link and rules: from
/// `saved` (a state and the head it stands for) when given, else from the first record.
/// Records after the projection's own head are folded into `projection` too.
pub fn replay(
    store: &Store,
    saved: Option<(State, Head)>,
    mut projection: Option<&mut Projection>,
) -> Result<(State, Head), StoreError> {
    let (mut state, start) = saved.unwrap_or_else(|| (State::new(), Head::EMPTY));
    let mut chain = ChainVerifier::after(start);
    if let Some(p) = projection.as_deref_mut() {
        // The projection may stand before the saved state: fold the records between first.
        for record in store
            .records(p.head().seq + 1)
            .take(start.seq.saturating_sub(p.head().seq) as usize)
        {
            p.fold(&record?);
        }
    }
    let meter =
        crate::progress::Meter::events("replaying the rules", Some(store.head()?.seq.saturating_sub(start.seq)));
    for record in store.records(start.seq + 1) {
        let record = record?;
        meter.inc(1);
        chain.check_record(&record).map_err(StoreError::from_chain)?;
        state
            .submit(record.submission(), record.recorded_at().date())
            .map_err(|v| StoreError::Corrupt {
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
        return Err(StoreError::Corrupt {
            seq: head.first_bad_against(recorded),
            reason: "the recorded head does not match the log".into(),
        });
    }
    Ok((state, head))
}

/// Brings the stored Merkle tree up to the log's `head` (a log written before the tree was
/// kept, or by the benchmark without it), and returns its frontier for the writer.
pub(super) fn fill_tree(store: &Store, head: u64) -> Result<Frontier, StoreError> {
    let tree_err = |e: crate::merkle::TreeError| StoreError::Corrupt {
        seq: 0,
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
        let (_, hash, _) = item?;
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
