//! The mutation root: `append`, the typed and atomic append of a batch of events.

use async_graphql::{Context, ErrorExtensions, Object, Result, SimpleObject};

use super::inputs::EventInput;
use super::query::HeadObject;
use super::{append_error, bad_input, env, require};
use crate::chain::Head;
use crate::event::record::MAX_LIST_ITEMS;
use crate::tokens::Permission;

/// The root of every mutation.
pub struct Mutation;

/// The `seq` and hash given to one appended event.
#[derive(SimpleObject)]
pub struct AppendedEvent {
    pub seq: u64,
    /// Its hash, in hex.
    pub hash: String,
}

/// What an append did: each event's `seq` and hash, in the order sent, and the head right
/// after the batch (its last event).
#[derive(SimpleObject)]
pub struct AppendResult {
    pub events: Vec<AppendedEvent>,
    pub head: HeadObject,
}

/// The most events one `append` may carry.
pub const MAX_BATCH_EVENTS: usize = MAX_LIST_ITEMS;

#[Object]
impl Mutation {
    /// Appends a batch of events atomically (all or none), each validated against the state
    /// of the organization on its effective date; answers once the batch is durable. The
    /// actor recorded on each event is the name of the token used. `expectedSeq`: refuse
    /// (`CONFLICT`) unless the head is at this seq. `idempotencyKey`: the same request sent
    /// again with the same key (by the same token name) returns the first result and appends
    /// nothing; the key with a different request is refused. Needs the clerk or admin role.
    async fn append(
        &self,
        ctx: &Context<'_>,
        events: Vec<EventInput>,
        expected_seq: Option<u64>,
        idempotency_key: Option<String>,
    ) -> Result<AppendResult> {
        env(ctx).require_writer()?;
        let caller = require(ctx, Permission::Append)?.expect("append needs a caller");
        if events.len() > MAX_BATCH_EVENTS {
            return Err(bad_input(format!(
                "{} events in one append; an append holds at most {MAX_BATCH_EVENTS}",
                events.len()
            )));
        }
        let mut submissions = Vec::with_capacity(events.len());
        for (index, input) in events.iter().enumerate() {
            let sub = input.to_submission().map_err(|e| {
                bad_input(format!("event {}: {e}", index + 1)).extend_with(|_, x| x.set("index", index as u64))
            })?;
            submissions.push(sub);
        }
        let ledger = &env(ctx).ledger;
        let appended = ledger
            .append_idempotent(caller.name, submissions, expected_seq, idempotency_key.as_deref())
            .await
            .map_err(|e| append_error(&e))?;
        let last = *appended.last().expect("an append has events");
        Ok(AppendResult {
            events: appended
                .iter()
                .map(|a| AppendedEvent {
                    seq: a.seq,
                    hash: a.hash.to_hex(),
                })
                .collect(),
            head: HeadObject(Head {
                seq: last.seq,
                hash: last.hash,
            }),
        })
    }
}
