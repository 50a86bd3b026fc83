//! The rules state's entries packed into buckets (layout 2 of the stored rules state).
//!
//! sled reads a table of all its pages at every open, and a leaf holds at most 16 keys: one
//! key per entity (layout 1) made the rules state most of that table, and of every open's
//! time, at 10,000,000 events (1,227,321 entities; BENCHMARKS.md, "The rules state in
//! buckets"). Here an entity's entry lives in one of 2^[`BUCKET_BITS`] values (buckets),
//! chosen by the first bits of the blake3 hash of its id, so the state costs sled at most
//! that many keys however many entities there are.
//!
//! A bucket's value is postcard's encoding of a sequence of `(id, entry)` pairs, the ids
//! as strings and the entries as bytes, in ascending order of id bytes, each id once.

use std::ops::Range;

use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Serialize, Serializer};

/// How many bits of an id's hash name its bucket: few enough buckets that sled's table of
/// pages stays small, enough that a bucket written again at each write-back is short (a
/// few entries each at 10,000,000 events).
pub(super) const BUCKET_BITS: u32 = 18;

/// The bucket of an id: the first [`BUCKET_BITS`] bits of its blake3 hash, read as a
/// big-endian number.
pub(super) fn bucket_of(id: &str) -> u32 {
    let hash = blake3::hash(id.as_bytes());
    let first: [u8; 4] = hash.as_bytes()[..4].try_into().expect("4 bytes");
    u32::from_be_bytes(first) >> (32 - BUCKET_BITS)
}

/// The pairs of a bucket's value, in order, borrowed from it. Refused, saying why, when the
/// value does not decode, its ids are not in strictly ascending order, or an id belongs to
/// another bucket than `bucket`.
pub(super) fn read(value: &[u8], bucket: u32) -> Result<Vec<(&str, &[u8])>, String> {
    let (pairs, rest): (Vec<(&str, &[u8])>, _) = postcard::take_from_bytes(value).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes follow its pairs", rest.len()));
    }
    for (i, (id, _)) in pairs.iter().enumerate() {
        if i > 0 && pairs[i - 1].0.as_bytes() >= id.as_bytes() {
            return Err(format!("its ids are out of order at {id:?}"));
        }
        if bucket_of(id) != bucket {
            return Err(format!("it holds {id:?}, which belongs to another bucket"));
        }
    }
    Ok(pairs)
}

/// Where the entry of `id` lies in a bucket's value, if the bucket holds it.
pub(super) fn find(value: &[u8], bucket: u32, id: &str) -> Result<Option<Range<usize>>, String> {
    let pairs = read(value, bucket)?;
    Ok(pairs
        .binary_search_by(|(held, _)| held.as_bytes().cmp(id.as_bytes()))
        .ok()
        .map(|at| {
            let entry = pairs[at].1;
            let start = entry.as_ptr() as usize - value.as_ptr() as usize;
            start..start + entry.len()
        }))
}

/// A bucket's value holding the pairs of `old` (a stored value, or none) with `new` put in:
/// an id in both gets its entry from `new`. `new` is in ascending order of id bytes, each
/// id once, every one of this bucket.
pub(super) fn merge(old: Option<&[u8]>, bucket: u32, new: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    let old = match old {
        Some(value) => read(value, bucket)?,
        None => Vec::new(),
    };
    let mut pairs = Vec::with_capacity(old.len() + new.len());
    let (mut a, mut b) = (old.into_iter().peekable(), new.iter().copied().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match x.0.as_bytes().cmp(y.0.as_bytes()) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Equal => {
                    a.next();
                    b.next()
                }
                std::cmp::Ordering::Greater => b.next(),
            },
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(pair) => pairs.push(pair),
            None => break,
        }
    }
    Ok(postcard::to_stdvec(&Pairs(&pairs)).expect("strings and bytes always encode"))
}

/// The pairs as postcard writes a `Vec<(&str, &[u8])>`, the entries through
/// `serialize_bytes` (the same bytes as a sequence of `u8`, written at once).
struct Pairs<'a>(&'a [(&'a str, &'a [u8])]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (id, entry) in self.0 {
            seq.serialize_element(&Pair(id, entry))?;
        }
        seq.end()
    }
}

struct Pair<'a>(&'a str, &'a [u8]);

impl Serialize for Pair<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Bytes<'a>(&'a [u8]);
        impl Serialize for Bytes<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        let mut tuple = s.serialize_tuple(2)?;
        tuple.serialize_element(self.0)?;
        tuple.serialize_element(&Bytes(self.1))?;
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Ids of one bucket, found by trying names in turn.
    fn ids_of_bucket(bucket: u32, n: usize) -> Vec<String> {
        (0u64..)
            .map(|i| format!("xom-{i}"))
            .filter(|id| bucket_of(id) == bucket)
            .take(n)
            .collect()
    }

    #[test]
    fn a_bucket_is_named_by_the_first_18_bits_of_the_ids_hash() {
        let hash = blake3::hash(b"xa-ngoc-khe");
        assert_eq!(
            bucket_of("xa-ngoc-khe"),
            (u32::from(hash.as_bytes()[0]) << 10)
                | (u32::from(hash.as_bytes()[1]) << 2)
                | u32::from(hash.as_bytes()[2] >> 6)
        );
    }

    #[test]
    fn a_value_is_the_bytes_postcard_writes_for_the_pairs() {
        let bucket = bucket_of("xom-1");
        let value = merge(None, bucket, &[("xom-1", &[7, 8])]).unwrap();
        assert_eq!(value, postcard::to_stdvec(&vec![("xom-1", vec![7u8, 8])]).unwrap());
        assert_eq!(value, [1, 5, b'x', b'o', b'm', b'-', b'1', 2, 7, 8]);
    }

    proptest! {
        /// Whatever is merged in, in whatever order of calls, each id is found with the
        /// entry it was last given, and the value reads back in order.
        #[test]
        fn merged_entries_are_found_with_their_last_value(
            writes in proptest::collection::vec(proptest::collection::btree_map(0usize..6, proptest::collection::vec(any::<u8>(), 0..40), 0..6), 1..6)
        ) {
            let bucket = 0x1234;
            static IDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
            let ids = IDS.get_or_init(|| ids_of_bucket(bucket, 6));
            let mut value: Option<Vec<u8>> = None;
            let mut expected = std::collections::BTreeMap::new();
            for write in writes {
                let mut new: Vec<(&str, &[u8])> = write.iter().map(|(i, e)| (ids[*i].as_str(), e.as_slice())).collect();
                new.sort_by(|x, y| x.0.as_bytes().cmp(y.0.as_bytes()));
                value = Some(merge(value.as_deref(), bucket, &new).unwrap());
                for (i, e) in &write {
                    expected.insert(ids[*i].clone(), e.clone());
                }
            }
            let value = value.unwrap();
            for id in ids {
                let found = find(&value, bucket, id).unwrap().map(|r| value[r].to_vec());
                prop_assert_eq!(found.as_ref(), expected.get(id));
            }
            prop_assert_eq!(read(&value, bucket).unwrap().len(), expected.len());
        }
    }

    #[test]
    fn a_value_out_of_order_of_another_bucket_or_not_postcard_does_not_read() {
        let bucket = 0x0042;
        let ids = ids_of_bucket(bucket, 2);
        let (mut low, mut high) = (ids[0].as_str(), ids[1].as_str());
        if low > high {
            std::mem::swap(&mut low, &mut high);
        }
        let swapped = postcard::to_stdvec(&vec![(high, vec![1u8]), (low, vec![2u8])]).unwrap();
        assert!(read(&swapped, bucket).unwrap_err().contains("out of order"));
        let twice = postcard::to_stdvec(&vec![(low, vec![1u8]), (low, vec![2u8])]).unwrap();
        assert!(read(&twice, bucket).unwrap_err().contains("out of order"));
        let other = postcard::to_stdvec(&vec![(low, vec![1u8])]).unwrap();
        assert!(read(&other, bucket + 1).unwrap_err().contains("another bucket"));
        assert!(read(&[0xff, 0xff, 0xff], bucket).is_err());
        let mut trailing = other.clone();
        trailing.push(0);
        assert!(read(&trailing, bucket_of(low)).unwrap_err().contains("follow"));
        assert!(merge(Some(&[0xff, 0xff, 0xff]), bucket, &[]).is_err());
    }
}
