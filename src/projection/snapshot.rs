//! Snapshots: a state folded from the log up to some `seq`, as bytes the store keeps so that
//! opening replays only the records after it. The read-side [`Projection`] uses this codec,
//! and so does the mark of the head a ledger last closed at (with an empty body).
//!
//! A snapshot is a cache. Its header names its kind and format, the `seq` and the hash of
//! the record it stands for, and a blake3 hash of its body; a snapshot whose record hash does
//! not match the log, whose body hash is wrong, or whose kind or format is another is ignored
//! and rebuilt.
//!
//! Layout: the kind's marker (`orgledger-projection-3`, `orgledger-closed-head-1`), seq
//! (8 bytes, big-endian), record hash (32), body hash (32), then the body (postcard).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Projection;
use crate::chain::Head;
use crate::event::Hash;

/// The bytes of a header after its marker: seq, record hash, body hash.
pub const HEADER_AFTER_MARKER: usize = 8 + 32 + 32;

/// The marker of projection snapshots.
pub const PROJECTION: &[u8] = b"orgledger-projection-3";
/// The marker of the whole rules state that versions before the stored one saved at close
/// (read only for its head, one of the marks `verify` holds the log to).
pub const RULES_STATE: &[u8] = b"orgledger-rules-state-1";
/// The marker of the head a ledger last closed at (an empty body).
pub const CLOSED_HEAD: &[u8] = b"orgledger-closed-head-1";
const BODY_HASH_CONTEXT: &str = "orgledger 2026-11-27 projection snapshot v1";

/// Why a snapshot was not used. Never an error to the user: the state is rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a snapshot of this kind and format")]
    Format,
    #[error("the snapshot's body does not match its hash")]
    Body,
    #[error("the snapshot stands for record {seq} with hash {stated}, but the log's record {seq} has hash {actual}")]
    Stale { seq: u64, stated: Hash, actual: Hash },
    #[error("the snapshot's body does not decode: {0}")]
    Decode(String),
}

fn body_hash(body: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(BODY_HASH_CONTEXT);
    h.update(body);
    *h.finalize().as_bytes()
}

/// Encodes `value`, folded up to `head`, as a snapshot of the kind `marker`.
pub fn encode_as<T: Serialize>(marker: &[u8], head: Head, value: &T) -> Vec<u8> {
    let body = postcard::to_stdvec(value).expect("snapshots always encode");
    let mut out = Vec::with_capacity(marker.len() + 72 + body.len());
    out.extend_from_slice(marker);
    out.extend_from_slice(&head.seq.to_be_bytes());
    out.extend_from_slice(&head.hash.0);
    out.extend_from_slice(&body_hash(&body));
    out.extend_from_slice(&body);
    out
}

/// The `seq` and record hash a snapshot of the kind `marker` says it stands for, without
/// decoding the body.
pub fn header_of(marker: &[u8], bytes: &[u8]) -> Result<Head, SnapshotError> {
    let rest = bytes.strip_prefix(marker).ok_or(SnapshotError::Format)?;
    if rest.len() < HEADER_AFTER_MARKER {
        return Err(SnapshotError::Format);
    }
    let seq = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
    let hash = Hash(rest[8..40].try_into().expect("32 bytes"));
    Ok(Head { seq, hash })
}

/// Decodes a snapshot of the kind `marker`, checking it against `record_hash`, the log's
/// hash of the record the snapshot says it stands for.
pub fn decode_as<T: DeserializeOwned>(
    marker: &[u8],
    bytes: &[u8],
    record_hash: Hash,
) -> Result<(T, Head), SnapshotError> {
    let head = header_of(marker, bytes)?;
    if head.hash != record_hash {
        return Err(SnapshotError::Stale {
            seq: head.seq,
            stated: head.hash,
            actual: record_hash,
        });
    }
    let rest = &bytes[marker.len() + 40..];
    let (hash, body) = rest.split_at(32);
    if hash != body_hash(body) {
        return Err(SnapshotError::Body);
    }
    let value = postcard::from_bytes(body).map_err(|e| SnapshotError::Decode(e.to_string()))?;
    Ok((value, head))
}

/// Encodes the projection as a snapshot.
pub fn encode(projection: &Projection) -> Vec<u8> {
    encode_as(PROJECTION, projection.head(), projection)
}

/// The `seq` and record hash a projection snapshot says it stands for.
pub fn header(bytes: &[u8]) -> Result<(u64, Hash), SnapshotError> {
    header_of(PROJECTION, bytes).map(|h| (h.seq, h.hash))
}

/// Decodes a projection snapshot, checking it against `record_hash`, the log's hash of the
/// record the snapshot says it stands for.
pub fn decode(bytes: &[u8], record_hash: Hash) -> Result<Projection, SnapshotError> {
    let (mut projection, head): (Projection, Head) = decode_as(PROJECTION, bytes, record_hash)?;
    if projection.head() != head {
        return Err(SnapshotError::Format);
    }
    projection.index_supervisions();
    Ok(projection)
}
