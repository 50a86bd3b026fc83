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
//!   [`RUN_TAG`].
//! - **Compressed**: the LZ4 block of a value of one of the two forms above (its *plain*
//!   form), then the plain form's length as 4 bytes big-endian, then the number of records
//!   it holds as 2 bytes big-endian, then the byte [`COMPRESSED_TAG`]. Written whenever it
//!   is smaller than the plain form, which is nearly always: records are JSON objects with
//!   the same keys over and over, and a run compresses to about half its bytes.
//!
//! The last byte tells the three apart.

use sled::IVec;

use crate::event::Hash;

use super::StoreError;

/// The last byte of a run's value (a single record's value ends with `}`).
pub const RUN_TAG: u8 = 0x01;
/// The last byte of a compressed value.
pub const COMPRESSED_TAG: u8 = 0x02;
/// The bytes after a compressed value's LZ4 block: the plain length, `n` and the tag.
const COMPRESSED_TAIL: usize = 7;
/// The largest plain form a compressed value may claim: a record is at most a line of
/// 1 MiB (`commands::MAX_LINE_BYTES`), so anything larger is damage, refused before any
/// memory is set aside for it (and a larger value, should one ever be written, is stored
/// plain).
const MAX_PLAIN: usize = 4 << 20;
/// The most records one run holds.
pub const RUN_RECORDS: usize = 16;
/// The most bytes (hashes and canonical bytes) a run of two or more records holds. sled
/// keeps up to 17 values in a leaf, writes a leaf over 128 KiB as a file of its own, and
/// writes a whole leaf again each time it consolidates one: larger runs write faster but
/// leave sled's log more to reclaim. Compressed, a run of these bounds takes about 3 KiB,
/// a leaf of them about 50 KiB. Every key costs every open of the store (sled reads a
/// table of all its pages): runs of at most 8 records and 3 KiB held a third of a
/// generated store's keys, and these bounds halve that (BENCHMARKS.md).
pub const RUN_BYTES: usize = 6 * 1024;
/// The bytes after a run's records, less 4 per record: `n` and the tag.
const RUN_TAIL: usize = 3;

/// Appends the stored value of consecutive records, given as (hash, canonical bytes), to
/// `out`: the compressed form of a single record's or a run's, or the plain form when
/// compressing does not make it smaller.
pub fn encode<'a>(records: impl ExactSizeIterator<Item = (Hash, &'a [u8])> + Clone, out: &mut Vec<u8>) {
    let n = records.len();
    let start = out.len();
    encode_plain(records, out);
    let plain_len = out.len() - start;
    if plain_len > MAX_PLAIN {
        return;
    }
    let mut packed = vec![0u8; lz4_flex::block::get_maximum_output_size(plain_len) + COMPRESSED_TAIL];
    let Ok(size) = lz4_flex::block::compress_into(&out[start..], &mut packed) else {
        return;
    };
    if size + COMPRESSED_TAIL >= plain_len {
        return;
    }
    packed.truncate(size);
    packed.extend_from_slice(&(plain_len as u32).to_be_bytes());
    packed.extend_from_slice(&(n as u16).to_be_bytes());
    packed.push(COMPRESSED_TAG);
    out.truncate(start);
    out.extend_from_slice(&packed);
}

/// Appends the plain form of consecutive records: a single record's for one, a run's for
/// more.
pub fn encode_plain<'a>(records: impl ExactSizeIterator<Item = (Hash, &'a [u8])> + Clone, out: &mut Vec<u8>) {
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
    /// Reads the value stored under `first`'s key; a value that is none of the forms is
    /// damage at `first`.
    pub fn decode(first: u64, value: IVec) -> Result<Stored, StoreError> {
        if value.last() == Some(&COMPRESSED_TAG) {
            return Stored::decompress(first, &value);
        }
        Stored::decode_plain(first, value)
    }

    /// Reads a compressed value: its plain form, which must hold the records the tail says.
    fn decompress(first: u64, value: &[u8]) -> Result<Stored, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            seq: first,
            reason: format!("the stored compressed value is malformed ({reason})"),
        };
        let len = value.len();
        if len < COMPRESSED_TAIL {
            return Err(corrupt("shorter than its tail"));
        }
        let tail = &value[len - COMPRESSED_TAIL..];
        let plain_len = u32::from_be_bytes(tail[..4].try_into().expect("4 bytes")) as usize;
        let n = u16::from_be_bytes([tail[4], tail[5]]) as usize;
        if plain_len > MAX_PLAIN {
            return Err(corrupt("it claims more bytes than a record can hold"));
        }
        let mut plain = vec![0u8; plain_len];
        match lz4_flex::block::decompress_into(&value[..len - COMPRESSED_TAIL], &mut plain) {
            Ok(size) if size == plain_len => {}
            Ok(_) => return Err(corrupt("its block holds fewer bytes than it claims")),
            Err(e) => return Err(corrupt(&e.to_string())),
        }
        if plain.last() == Some(&COMPRESSED_TAG) {
            return Err(corrupt("it holds another compressed value"));
        }
        let stored = Stored::decode_plain(first, IVec::from(plain))?;
        if stored.n != n {
            return Err(corrupt("it holds another number of records than it claims"));
        }
        Ok(stored)
    }

    /// Reads a value of one of the two plain forms.
    fn decode_plain(first: u64, value: IVec) -> Result<Stored, StoreError> {
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

    /// Records like the ledger's: JSON objects with the same keys, which compress.
    fn json_records(n: u8) -> Vec<(Hash, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let json = format!(
                    r#"{{"actor":"ban-to-chuc","effective":"2005-01-0{}","locality":"xom-{i}","type":"LocalityRegistered"}}"#,
                    1 + i % 9
                );
                (Hash([i; 32]), json.into_bytes())
            })
            .collect()
    }

    fn encoded(records: &[(Hash, Vec<u8>)], plain: bool) -> Vec<u8> {
        let mut value = Vec::new();
        let records = records.iter().map(|(h, c)| (*h, c.as_slice()));
        if plain {
            encode_plain(records, &mut value);
        } else {
            encode(records, &mut value);
        }
        value
    }

    #[test]
    fn values_are_compressed_when_smaller_and_read_back_in_every_form() {
        let records = json_records(8);
        for n in 1..=8 {
            let plain = encoded(&records[..n], true);
            let value = encoded(&records[..n], false);
            if n >= 2 {
                assert_eq!(value.last(), Some(&COMPRESSED_TAG), "a run of {n} is compressed");
                assert!(value.len() < plain.len() * 3 / 4, "{} of {}", value.len(), plain.len());
            }
            for v in [plain, value] {
                let s = Stored::decode(3, IVec::from(v)).expect("decodes");
                assert_eq!((s.first(), s.last()), (3, 2 + n as u64));
                let back: Vec<(Hash, Vec<u8>)> = s.records().map(|r| (r.hash, r.canonical().to_vec())).collect();
                assert_eq!(back, records[..n]);
            }
        }
        // What compression would not make smaller is stored plain.
        let random: Vec<(Hash, Vec<u8>)> = vec![(Hash(*blake3::hash(b"a record").as_bytes()), b"{}".to_vec())];
        assert_eq!(encoded(&random, false), encoded(&random, true));
    }

    #[test]
    fn a_damaged_compressed_value_is_named_at_its_key() {
        let records = json_records(6);
        let value = encoded(&records, false);
        assert_eq!(value.last(), Some(&COMPRESSED_TAG));
        let len = value.len();
        let with_tail = |plain_len: u32, n: u16| {
            let mut v = value[..len - COMPRESSED_TAIL].to_vec();
            v.extend_from_slice(&plain_len.to_be_bytes());
            v.extend_from_slice(&n.to_be_bytes());
            v.push(COMPRESSED_TAG);
            v
        };
        let plain_len = u32::from_be_bytes(value[len - 7..len - 3].try_into().unwrap());
        // A compressed value whose plain form is itself compressed.
        let mut nested = Vec::new();
        let inner = value.clone();
        let packed = lz4_flex::block::compress(&inner);
        nested.extend_from_slice(&packed);
        nested.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        nested.extend_from_slice(&6u16.to_be_bytes());
        nested.push(COMPRESSED_TAG);
        for (damaged, says) in [
            (with_tail(plain_len, 5), "number of records"),
            (with_tail(plain_len + 1, 6), "fewer bytes"),
            (with_tail(plain_len - 1, 6), "malformed"),
            (with_tail(u32::MAX, 6), "more bytes than a record"),
            (
                [&value[..len / 2], &value[len - COMPRESSED_TAIL..]].concat(),
                "malformed",
            ),
            (vec![0, 0, COMPRESSED_TAG], "shorter than its tail"),
            (nested, "another compressed value"),
        ] {
            match Stored::decode(9, IVec::from(damaged)) {
                Err(StoreError::Corrupt { seq: 9, reason }) => assert!(reason.contains(says), "{says}: {reason}"),
                other => panic!("not refused at 9 ({says}): {:?}", other.map(|s| s.last())),
            }
        }
    }

    #[test]
    fn runs_are_bounded_in_records_and_bytes() {
        assert_eq!(runs([100; 40].into_iter()), vec![16, 16, 8]);
        assert_eq!(runs([2900, 2900, 10, 19000, 1].into_iter()), vec![3, 1, 1]);
        assert_eq!(runs([3050, 3050, 1].into_iter()), vec![1, 2]);
        assert_eq!(runs(std::iter::empty()), Vec::<usize>::new());
    }
}
