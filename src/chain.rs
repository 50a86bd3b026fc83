//! Hashing and verification of the chain (pure): each record's bytes hash to its stated
//! hash, sit at the `seq` they say, and name the previous record's hash as `prev`.
//!
//! Architecture invariant: no IO. The store and the export reader feed records in; this
//! module only says whether they chain and, if not, the first `seq` that does not.

use std::sync::LazyLock;

use memchr::memmem;

use crate::event::{event_hash, Hash, Record, RecordError};

/// Where and why a chain breaks. `seq` is the first bad record; surfaces as CLI exit 1 with
/// `{"ok":false,"seq":K,"error":"..."}`. Not retryable: the data itself is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {seq}: {error}")]
pub struct ChainError {
    pub seq: u64,
    pub error: String,
}

/// The position of the chain after the last record checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The `seq` of the last record (0 for an empty ledger).
    pub seq: u64,
    /// The hash of the last record (all zeros for an empty ledger).
    pub hash: Hash,
}

impl Head {
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: Hash::ZERO,
    };

    /// When the chain ends at `self` but the store records its head at `recorded`, the
    /// first bad record: the one after the shorter of the two ends (a record past the
    /// recorded head is as bad as a missing one), or the last record when both end at the
    /// same seq with different hashes.
    pub fn first_bad_against(self, recorded: Head) -> u64 {
        if self.seq == recorded.seq {
            self.seq.max(1)
        } else {
            self.seq.min(recorded.seq) + 1
        }
    }
}

/// Checks records one after another, in `seq` order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    head: Head,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { head: Head::EMPTY }
    }
}

impl ChainVerifier {
    pub fn new() -> ChainVerifier {
        ChainVerifier::default()
    }

    /// Starts after a known good head, to check only what follows it.
    pub fn after(head: Head) -> ChainVerifier {
        ChainVerifier { head }
    }

    pub fn head(&self) -> Head {
        self.head
    }

    fn next(&self) -> u64 {
        self.head.seq + 1
    }

    /// Checks a stored record: found under key `key_seq`, with `stated` stored beside its
    /// canonical bytes. Reads `seq` and `prev` straight from the canonical bytes (see
    /// FORMAT.md: in canonical form `"prev":"` and `"seq":` occur once, as keys), so the
    /// check costs one hash and two searches.
    pub fn check_stored(&mut self, key_seq: u64, stated: Hash, canonical: &[u8]) -> Result<(), ChainError> {
        let expected = self.next();
        if key_seq != expected {
            return Err(ChainError {
                seq: expected,
                error: format!("record {expected} is missing (the next stored record is {key_seq})"),
            });
        }
        let computed = event_hash(canonical);
        if computed != stated {
            return Err(ChainError {
                seq: expected,
                error: RecordError::HashMismatch { stated, computed }.to_string(),
            });
        }
        // Keys are sorted, so `"seq":` follows `"prev":"` and its 64 digits: the second
        // search starts there, not at the top of the record.
        let prev_at = PREV_KEY.find(canonical);
        let seq = match prev_at {
            Some(at) => canonical.get(at + 72..).and_then(embedded_seq),
            None => embedded_seq(canonical),
        };
        if seq != Some(expected) {
            return Err(ChainError {
                seq: expected,
                error: format!(
                    "the record stored at {expected} says seq {}",
                    seq.map_or("nothing".into(), |s| s.to_string())
                ),
            });
        }
        // The common case, a good link, compares the hex digits in place: decoding them costs
        // more than the hash. Only a mismatch decodes `prev`, to say what it holds.
        let mut head_hex = [0u8; 64];
        hex::encode_to_slice(self.head.hash.0, &mut head_hex).expect("64 bytes hold a hash in hex");
        if prev_at.and_then(|at| canonical.get(at + 8..at + 72)) == Some(&head_hex[..]) {
            self.head = Head {
                seq: expected,
                hash: stated,
            };
            return Ok(());
        }
        self.link(expected, embedded_prev(canonical), stated)
    }

    /// Checks a record read and hash-checked by [`Record::from_export_line`] or
    /// [`Record::from_stored`].
    pub fn check_record(&mut self, record: &Record) -> Result<(), ChainError> {
        let expected = self.next();
        if record.seq() != expected {
            return Err(ChainError {
                seq: expected,
                error: format!("expected record {expected}, found seq {}", record.seq()),
            });
        }
        self.link(expected, Some(record.prev()), record.hash())
    }

    fn link(&mut self, seq: u64, prev: Option<Hash>, hash: Hash) -> Result<(), ChainError> {
        if prev != Some(self.head.hash) {
            let what = if seq == 1 {
                "all zeros".to_string()
            } else {
                format!("the hash of record {}", seq - 1)
            };
            return Err(ChainError {
                seq,
                error: format!(
                    "prev is {}, not {what} ({})",
                    prev.map_or("unreadable".into(), |p| p.to_hex()),
                    self.head.hash
                ),
            });
        }
        self.head = Head { seq, hash };
        Ok(())
    }
}

/// The searchers for the two keys, built once: building one per record costs as much as the
/// search.
static SEQ_KEY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"seq\":"));
static PREV_KEY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"prev\":\""));

/// The `seq` written in canonical record bytes.
pub fn embedded_seq(canonical: &[u8]) -> Option<u64> {
    let at = SEQ_KEY.find(canonical)? + 6;
    let digits = canonical[at..].iter().take_while(|b| b.is_ascii_digit());
    let mut seq: u64 = 0;
    let mut any = false;
    for d in digits {
        seq = seq.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        any = true;
    }
    any.then_some(seq)
}

/// The `prev` written in canonical record bytes.
pub fn embedded_prev(canonical: &[u8]) -> Option<Hash> {
    let hex = embedded_prev_hex(canonical)?;
    Hash::parse(std::str::from_utf8(hex).ok()?).ok()
}

/// The 64 bytes after `"prev":"` in canonical record bytes, undecoded.
fn embedded_prev_hex(canonical: &[u8]) -> Option<&[u8]> {
    let at = PREV_KEY.find(canonical)? + 8;
    canonical.get(at..at + 64)
}
