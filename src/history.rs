//! The history of an entity: every event that named it, as of a date and a `seq`. The
//! projection's index (`touched`) says which `seq`s named the id and what the id is; the
//! events themselves are read back from the log. Needing the store, it lives beside the
//! projection rather than in it (the projection does no IO), as [`crate::proofs`] beside
//! the Merkle tree.
//!
//! `orgledger report history` prints it as JSON, and GraphQL's `history` serves it
//! (`graphql/reports.rs` gives it its GraphQL shape).

use serde::Serialize;
use serde_json::Value;

use crate::event::{Date, Id, Timestamp};
use crate::projection::reports::{self, ReportError};
use crate::projection::{At, Projection};
use crate::store::{Store, StoreError};

/// One event in the history of an entity.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEvent {
    pub seq: u64,
    pub effective: Date,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    #[serde(serialize_with = "as_text")]
    pub recorded_at: Timestamp,
    pub actor: String,
    pub hash: String,
    /// The event's fields as the log holds them, without `type` and `effective`.
    pub fields: Value,
}

fn as_text<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

/// Every event that named an entity, as of `at`.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub entity: String,
    pub kind: &'static str,
    pub date: Date,
    pub seq: u64,
    pub events: Vec<HistoryEvent>,
}

/// Why a history cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The projection knows no such entity as of the `seq` asked: the question is wrong.
    /// CLI exit code 1; GraphQL `BAD_USER_INPUT`.
    #[error(transparent)]
    Unknown(#[from] ReportError),
    /// The log could not be read. CLI exit code as the store error says (1 for a damaged
    /// store, 2 otherwise); GraphQL `INTERNAL`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The projection names a record the log does not hold: the store and its caches
    /// disagree. CLI exit code 1; GraphQL `INTERNAL`.
    #[error("record {0} is missing")]
    Missing(u64),
}

/// The history of `id` as of `at`: the `seq`s the projection lists for it, each read back
/// from the log, without the events that take effect after `at.date`.
pub fn of(projection: &Projection, store: &Store, id: &Id, at: At) -> Result<History, HistoryError> {
    let (entity_kind, seqs) = reports::history(projection, id, at.seq)?;
    let mut events = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let record = store.record(seq)?.ok_or(HistoryError::Missing(seq))?;
        // Valid time bounds the history as it bounds every report: events that took
        // effect after `--date` are not yet part of it.
        if record.effective() > at.date {
            continue;
        }
        let mut fields = record.submission().to_value();
        fields.remove("type");
        fields.remove("effective");
        events.push(HistoryEvent {
            seq: record.seq(),
            effective: record.effective(),
            type_name: record.type_name(),
            recorded_at: record.recorded_at(),
            actor: record.actor().to_string(),
            hash: record.hash().to_hex(),
            fields: Value::Object(fields),
        });
    }
    Ok(History {
        entity: id.to_string(),
        kind: entity_kind,
        date: at.date,
        seq: at.seq,
        events,
    })
}
