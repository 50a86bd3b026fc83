//! The `seq`s of the events that named one id, in order: an entry of the history index
//! ([`super::Projection::touched`]).
//!
//! An id is named by events far apart (a member) or by thousands close together (a commune
//! every member event of its cells names), and the index held every `seq` as a `u64`: at
//! 10,000,000 events some 13 million of them, 8 bytes each. A list is held instead as the
//! differences between consecutive `seq`s, each an unsigned LEB128 number (7 bits a byte,
//! the high bit set on every byte but a number's last): one or two bytes for a busy id, three
//! or four for a quiet one. It is written to snapshots and read from them as the list of
//! `u64`s it was, so their bytes are the same.

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ascending list of `seq`s, each once (see the module's documentation).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Seqs {
    /// The last `seq` pushed (0 while empty; a `seq` is never 0).
    last: u64,
    /// The difference of each `seq` from the one before it (the first's from 0), LEB128.
    deltas: Vec<u8>,
}

impl Seqs {
    pub fn new() -> Seqs {
        Seqs::default()
    }

    /// Adds `seq` at the end, unless it is already the last; a `seq` lower than the last is
    /// refused (a list is built in the log's order).
    pub fn push(&mut self, seq: u64) -> Result<(), NotAscending> {
        if seq == self.last && !self.deltas.is_empty() {
            return Ok(());
        }
        if seq <= self.last {
            return Err(NotAscending { seq, last: self.last });
        }
        let mut delta = seq - self.last;
        while delta >= 0x80 {
            self.deltas.push((delta as u8) | 0x80);
            delta >>= 7;
        }
        self.deltas.push(delta as u8);
        self.last = seq;
        Ok(())
    }

    /// The last `seq`, if any.
    pub fn last(&self) -> Option<u64> {
        (!self.deltas.is_empty()).then_some(self.last)
    }

    /// How many `seq`s the list holds: one for each byte that ends a number.
    pub fn len(&self) -> usize {
        self.deltas.iter().filter(|b| **b < 0x80).count()
    }

    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// The `seq`s, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let mut bytes = self.deltas.iter();
        let mut at = 0u64;
        std::iter::from_fn(move || {
            let mut delta = 0u64;
            let mut shift = 0;
            loop {
                let b = *bytes.next()?;
                delta |= u64::from(b & 0x7f) << shift;
                if b < 0x80 {
                    at += delta;
                    return Some(at);
                }
                shift += 7;
            }
        })
    }

    pub fn to_vec(&self) -> Vec<u64> {
        self.iter().collect()
    }
}

/// A `seq` pushed after a higher or equal one (a list of `seq`s in a snapshot out of order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAscending {
    pub seq: u64,
    pub last: u64,
}

impl std::fmt::Display for NotAscending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seq {} after seq {}: a list of seqs ascends", self.seq, self.last)
    }
}

impl std::fmt::Debug for Seqs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl FromIterator<u64> for Seqs {
    /// # Panics
    /// When the `seq`s do not ascend.
    fn from_iter<I: IntoIterator<Item = u64>>(seqs: I) -> Seqs {
        let mut out = Seqs::new();
        for seq in seqs {
            out.push(seq).expect("ascending seqs");
        }
        out
    }
}

/// As the list of `u64`s it holds: the bytes of a `Vec<u64>`.
impl Serialize for Seqs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for n in self.iter() {
            seq.serialize_element(&n)?;
        }
        seq.end()
    }
}

/// From a list of `u64`s, which must ascend.
impl<'de> Deserialize<'de> for Seqs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seqs, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Seqs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an ascending list of seqs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Seqs, A::Error> {
                let mut out = Seqs::new();
                // At least a byte a seq (the length the input states is trusted no further
                // than 64 KiB).
                out.deltas.reserve(items.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(seq) = items.next_element::<u64>()? {
                    // Each once, as they were written: a repeat is refused here too.
                    if out.last().is_some_and(|last| seq <= last) {
                        return Err(de::Error::custom(NotAscending { seq, last: out.last }));
                    }
                    out.push(seq).map_err(de::Error::custom)?;
                }
                out.deltas.shrink_to_fit();
                Ok(out)
            }
        }
        d.deserialize_seq(List)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any ascending list: the same `seq`s back, the same length and last, and the
        /// bytes of the `Vec<u64>` it holds, which read back to it.
        #[test]
        fn a_list_holds_its_seqs_and_writes_the_bytes_of_a_vec(mut seqs in proptest::collection::vec(1u64..=u64::MAX, 0..200)) {
            seqs.sort_unstable();
            seqs.dedup();
            let list: Seqs = seqs.iter().copied().collect();
            prop_assert_eq!(list.to_vec(), seqs.clone());
            prop_assert_eq!(list.len(), seqs.len());
            prop_assert_eq!(list.last(), seqs.last().copied());
            let bytes = postcard::to_stdvec(&list).unwrap();
            prop_assert_eq!(&bytes, &postcard::to_stdvec(&seqs).unwrap());
            prop_assert_eq!(postcard::from_bytes::<Seqs>(&bytes).unwrap(), list);
        }
    }

    #[test]
    fn a_seq_pushed_again_is_kept_once_and_a_lower_one_is_refused() {
        let mut list = Seqs::new();
        assert_eq!(list.last(), None);
        list.push(5).unwrap();
        list.push(5).unwrap();
        list.push(300).unwrap();
        assert_eq!(list.to_vec(), vec![5, 300]);
        assert_eq!(list.push(299), Err(NotAscending { seq: 299, last: 300 }));
        assert_eq!(list.to_vec(), vec![5, 300]);
        assert!(Seqs::new().push(0).is_err(), "no seq is 0");
    }

    #[test]
    fn a_list_out_of_order_in_a_snapshot_does_not_read() {
        let bytes = postcard::to_stdvec(&vec![3u64, 9, 7]).unwrap();
        let error = postcard::from_bytes::<Seqs>(&bytes).unwrap_err();
        assert!(matches!(error, postcard::Error::SerdeDeCustom), "{error:?}");
        let bytes = postcard::to_stdvec(&vec![3u64, 3]).unwrap();
        assert!(postcard::from_bytes::<Seqs>(&bytes).is_err(), "a repeat is refused");
        let bytes = postcard::to_stdvec(&vec![0u64]).unwrap();
        assert!(postcard::from_bytes::<Seqs>(&bytes).is_err(), "no seq is 0");
    }
}
