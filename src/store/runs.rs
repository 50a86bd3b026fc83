//! How records sit in sled's values: one value holds one record, or a run of consecutive
//! records (FORMAT.md section 8). A run costs sled one key, one node entry and one write
//! instead of one per record, which is most of what writing a record cost.
//!
//! - **One record**: its 32-byte hash, then its canonical bytes. Canonical bytes are a JSON
//!   object, so such a value always ends with `}`; every store written before runs existed
//!   holds only these.
//! - **A run of `n` ≥ 2 records**, stored under the key of the first: for each record its
//!   32-byte hash then its canonical bytes; then each record's canonical length as 4 bytes
//!   big-endian, in the same order; then `n` as 2 bytes big-endian; then the byte
//!   [`RUN_TAG`]. The last byte tells the two apart.

use sled::IVec;

use crate::event::Hash;

use super::StoreError;

/// The last byte of a run's value (a single record's value ends with `}`).
pub const RUN_TAG: u8 = 0x01;
/// The most records one run holds.
pub const RUN_RECORDS: usize = 8;
/// The most bytes (hashes and canonical bytes) a run of two or more records holds. sled
/// keeps up to 17 values in a leaf, writes a leaf over 128 KiB as a file of its own, and
/// writes a whole leaf again each time it consolidates one: larger runs write faster but
/// leave sled's log more to reclaim (on 100,000 generated events, runs of 16 records and
/// 6 KiB made sled's file 17 % larger than one record per value; these bounds, 9 %).
pub const RUN_BYTES: usize = 3 * 1024;
/// The bytes after a run's records, less 4 per record: `n` and the tag.
const RUN_TAIL: usize = 3;

/// Appends the stored value of consecutive records, given as (hash, canonical bytes), to
/// `out`: a single record's form for one, a run's for more.
pub fn encode<'a>(records: impl ExactSizeIterator<Item = (Hash, &'a [u8])> + Clone, out: &mut Vec<u8>) {
    let n = records.len();
    debug_assert!((1..=RUN_RECORDS).contains(&n));
    for (hash, canonical) in records.clone() {
        out.extend_from_slice(&hash.0);
        out.extend_from_slice(canonical);
    }
    if n == 1 {
        return;
    }
    for (_, canonical) in records {
        out.extend_from_slice(&(canonical.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.push(RUN_TAG);
}

/// Splits `records` (hash, canonical length) into the runs one group writes: consecutive,
/// at most [`RUN_RECORDS`] records and [`RUN_BYTES`] bytes each, a record too large for the
/// bound alone in its own. Returns the length of each run, in order.
pub fn runs(lengths: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut runs = Vec::new();
    let (mut n, mut bytes) = (0, 0);
    for len in lengths {
        let size = 32 + len;
        if n > 0 && (n == RUN_RECORDS || bytes + size > RUN_BYTES) {
            runs.push(n);
            (n, bytes) = (0, 0);
        }
        n += 1;
        bytes += size;
    }
    if n > 0 {
        runs.push(n);
    }
    runs
}

/// One stored value read: the records it holds, from `first` on.
#[derive(Clone)]
pub struct Stored {
    value: IVec,
    first: u64,
    /// How many records it holds.
    n: usize,
    /// Where the lengths of a run begin (the value's length for a single record).
    lengths_at: usize,
}

impl Stored {
    /// Reads the value stored under `first`'s key; a value that is neither form is damage
    /// at `first`.
    pub fn decode(first: u64, value: IVec) -> Result<Stored, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            seq: first,
            reason: reason.to_owned(),
        };
        let len = value.len();
        if value.last() != Some(&RUN_TAG) {
            if len < 32 {
                return Err(corrupt("stored value shorter than a hash"));
            }
            return Ok(Stored {
                value,
                first,
                n: 1,
                lengths_at: len,
            });
        }
        let bad_run = || corrupt("the stored run of records is malformed (its lengths do not add up)");
        if len < RUN_TAIL {
            return Err(bad_run());
        }
        let n = u16::from_be_bytes([value[len - 3], value[len - 2]]) as usize;
        let lengths_at = (len - RUN_TAIL).checked_sub(4 * n).ok_or_else(bad_run)?;
        if n < 2 {
            return Err(bad_run());
        }
        let mut total = 0usize;
        for i in 0..n {
            total += 32 + read_len(&value, lengths_at + 4 * i);
        }
        if total != lengths_at {
            return Err(bad_run());
        }
        Ok(Stored {
            value,
            first,
            n,
            lengths_at,
        })
    }

    /// The `seq` of the first record it holds.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The `seq` of the last record it holds.
    pub fn last(&self) -> u64 {
        self.first + self.n as u64 - 1
    }

    /// Record `seq`, if this value holds it.
    pub fn get(&self, seq: u64) -> Option<StoredRecord> {
        if seq < self.first || seq > self.last() {
            return None;
        }
        self.records().nth((seq - self.first) as usize)
    }

    /// Every record it holds, in order.
    pub fn records(&self) -> Records {
        Records {
            stored: self.clone(),
            index: 0,
            at: 0,
        }
    }
}

fn read_len(value: &[u8], at: usize) -> usize {
    u32::from_be_bytes(value[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// The records of one stored value, in order.
pub struct Records {
    stored: Stored,
    index: usize,
    /// Where the next record's hash begins.
    at: usize,
}

impl Iterator for Records {
    type Item = StoredRecord;

    fn next(&mut self) -> Option<StoredRecord> {
        let s = &self.stored;
        if self.index == s.n {
            return None;
        }
        let len = if s.n == 1 {
            s.value.len() - 32
        } else {
            read_len(&s.value, s.lengths_at + 4 * self.index)
        };
        let record = StoredRecord {
            seq: s.first + self.index as u64,
            hash: Hash(s.value[self.at..self.at + 32].try_into().expect("32 bytes")),
            value: s.value.clone(),
            start: self.at + 32,
            end: self.at + 32 + len,
        };
        self.index += 1;
        self.at = record.end;
        Some(record)
    }
}

/// One record as stored: its `seq` (where it is stored), its stored hash and its canonical
/// bytes, not parsed.
#[derive(Clone)]
pub struct StoredRecord {
    pub seq: u64,
    pub hash: Hash,
    value: IVec,
    start: usize,
    end: usize,
}

impl StoredRecord {
    /// The canonical bytes the hash covers, as stored.
    pub fn canonical(&self) -> &[u8] {
        &self.value[self.start..self.end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(records: &[(Hash, Vec<u8>)]) -> Stored {
        let mut value = Vec::new();
        encode(records.iter().map(|(h, c)| (*h, c.as_slice())), &mut value);
        Stored::decode(7, IVec::from(value)).expect("decodes")
    }

    #[test]
    fn a_single_record_and_a_run_read_back_as_written() {
        let records: Vec<(Hash, Vec<u8>)> = (0..5u8)
            .map(|i| {
                (
                    Hash([i; 32]),
                    format!("{{\"n\":{}}}", "x".repeat(i as usize)).into_bytes(),
                )
            })
            .collect();
        for n in 1..=5 {
            let s = stored(&records[..n]);
            assert_eq!((s.first(), s.last()), (7, 6 + n as u64));
            let back: Vec<(u64, Hash, Vec<u8>)> =
                s.records().map(|r| (r.seq, r.hash, r.canonical().to_vec())).collect();
            let want: Vec<(u64, Hash, Vec<u8>)> = records[..n]
                .iter()
                .enumerate()
                .map(|(i, (h, c))| (7 + i as u64, *h, c.clone()))
                .collect();
            assert_eq!(back, want);
            assert_eq!(s.get(6 + n as u64).map(|r| r.seq), Some(6 + n as u64));
            assert!(s.get(7 + n as u64).is_none() && s.get(6).is_none());
        }
    }

    #[test]
    fn a_damaged_value_is_named_at_its_key() {
        let records: Vec<(Hash, Vec<u8>)> = (0..3u8).map(|i| (Hash([i; 32]), b"{}".to_vec())).collect();
        let mut value = Vec::new();
        encode(records.iter().map(|(h, c)| (*h, c.as_slice())), &mut value);
        let mut more = value.clone();
        let count = more.len() - 2;
        more[count] = 5;
        // A value cut short no longer ends with the tag: it reads as one record, whose hash
        // then fails where it is checked.
        let cut = Stored::decode(9, IVec::from(&value[..value.len() - 4])).expect("one record");
        assert_eq!(cut.last(), 9);
        for damaged in [
            more,
            [&value[..10], &value[11..]].concat(),
            vec![RUN_TAG],
            b"short".to_vec(),
        ] {
            match Stored::decode(9, IVec::from(damaged)) {
                Err(StoreError::Corrupt { seq: 9, .. }) => {}
                other => panic!("not refused at 9: {:?}", other.map(|s| s.last())),
            }
        }
    }

    #[test]
    fn runs_are_bounded_in_records_and_bytes() {
        assert_eq!(runs([100; 20].into_iter()), vec![8, 8, 4]);
        assert_eq!(runs([1400, 1400, 10, 9000, 1].into_iter()), vec![3, 1, 1]);
        assert_eq!(runs([1550, 1550, 1].into_iter()), vec![1, 2]);
        assert_eq!(runs(std::iter::empty()), Vec::<usize>::new());
    }
}
