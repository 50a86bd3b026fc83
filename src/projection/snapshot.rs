//! Projection snapshots: the projection's state at some `seq`, as bytes the store keeps so
//! that opening a projection replays only the records after it.
//!
//! A snapshot is a cache. Its header names the format, the `seq` and the hash of the record
//! it stands for, and a blake3 hash of its body; a snapshot whose record hash does not match
//! the log, whose body hash is wrong, or whose format is another is ignored and rebuilt.
//!
//! Layout: `orgledger-projection-2` (22 bytes), seq (8 bytes, big-endian), record hash (32),
//! body hash (32), then the body (postcard encoding of [`Projection`]).

use super::Projection;
use crate::event::Hash;

const MAGIC: &[u8] = b"orgledger-projection-2";
const BODY_HASH_CONTEXT: &str = "orgledger 2026-11-27 projection snapshot v1";

/// Why a snapshot was not used. Never an error to the user: the projection is rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a snapshot of this format")]
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

/// Encodes the projection as a snapshot.
pub fn encode(projection: &Projection) -> Vec<u8> {
    let body = postcard::to_stdvec(projection).expect("projections always encode");
    let head = projection.head();
    let mut out = Vec::with_capacity(MAGIC.len() + 72 + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&head.seq.to_be_bytes());
    out.extend_from_slice(&head.hash.0);
    out.extend_from_slice(&body_hash(&body));
    out.extend_from_slice(&body);
    out
}

/// The `seq` and record hash a snapshot says it stands for, without decoding the body.
pub fn header(bytes: &[u8]) -> Result<(u64, Hash), SnapshotError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(SnapshotError::Format)?;
    if rest.len() < 72 {
        return Err(SnapshotError::Format);
    }
    let seq = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
    let hash = Hash(rest[8..40].try_into().expect("32 bytes"));
    Ok((seq, hash))
}

/// Decodes a snapshot, checking it against `record_hash`, the log's hash of the record the
/// snapshot says it stands for.
pub fn decode(bytes: &[u8], record_hash: Hash) -> Result<Projection, SnapshotError> {
    let (seq, stated) = header(bytes)?;
    if stated != record_hash {
        return Err(SnapshotError::Stale {
            seq,
            stated,
            actual: record_hash,
        });
    }
    let rest = &bytes[MAGIC.len() + 40..];
    let (hash, body) = rest.split_at(32);
    if hash != body_hash(body) {
        return Err(SnapshotError::Body);
    }
    let projection: Projection = postcard::from_bytes(body).map_err(|e| SnapshotError::Decode(e.to_string()))?;
    if projection.head().seq != seq || projection.head().hash != stated {
        return Err(SnapshotError::Format);
    }
    Ok(projection)
}
