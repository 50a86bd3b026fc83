//! Idempotency keys: a client's key, scoped to its actor, stored in the same atomic batch
//! as the events it appended, with a fingerprint of the request and the `seq` and hash of
//! each event, so the same request sent again is answered the same and appends nothing.

use super::{AppendError, Appended, MAX_IDEMPOTENCY_KEY};
use crate::event::{Hash, Id, Submission};
use crate::store::StoreError;

/// An append's idempotency: the key the client chose (scoped to the actor), and a
/// fingerprint of the request, so that the same key sent with a different request is refused
/// instead of answered with another request's result.
pub(super) struct Idempotency {
    pub(super) key: Vec<u8>,
    pub(super) client_key: String,
    pub(super) fingerprint: Hash,
}

impl Idempotency {
    pub(super) fn new(
        actor: &Id,
        key: &str,
        submissions: &[Submission],
        expect_seq: Option<u64>,
    ) -> Result<Self, AppendError> {
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(AppendError::BadKey);
        }
        let mut scoped = Vec::with_capacity(actor.as_str().len() + 1 + key.len());
        scoped.extend_from_slice(actor.as_str().as_bytes());
        scoped.push(0);
        scoped.extend_from_slice(key.as_bytes());
        let mut h = blake3::Hasher::new_derive_key("orgledger 2026-11-27 idempotent request v1");
        h.update(&expect_seq.map_or(u64::MAX, |s| s).to_be_bytes());
        for sub in submissions {
            let value = serde_json::Value::Object(sub.to_value());
            h.update(&crate::event::canonical::to_canonical(&value).expect("submissions hold no floats"));
            h.update(b"\n");
        }
        Ok(Idempotency {
            key: scoped,
            client_key: key.to_owned(),
            fingerprint: Hash(*h.finalize().as_bytes()),
        })
    }

    /// The stored outcome: the fingerprint, then the `seq` and hash of each event.
    pub(super) fn encode(&self, appended: &[Appended]) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + appended.len() * 40);
        v.extend_from_slice(&self.fingerprint.0);
        for a in appended {
            v.extend_from_slice(&a.seq.to_be_bytes());
            v.extend_from_slice(&a.hash.0);
        }
        v
    }

    /// The outcome stored under this key, if it was for this same request.
    pub(super) fn decode(&self, stored: &[u8]) -> Result<Vec<Appended>, AppendError> {
        if stored.len() < 32 || !(stored.len() - 32).is_multiple_of(40) {
            return Err(AppendError::Store(StoreError::Corrupt {
                seq: 0,
                reason: "a malformed idempotency entry".into(),
            }));
        }
        if stored[..32] != self.fingerprint.0 {
            return Err(AppendError::KeyReused(self.client_key.clone()));
        }
        Ok(stored[32..]
            .chunks(40)
            .map(|c| Appended {
                seq: u64::from_be_bytes(c[..8].try_into().expect("8 bytes")),
                hash: Hash(c[8..].try_into().expect("32 bytes")),
            })
            .collect())
    }
}
