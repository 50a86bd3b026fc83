//! The projection commitment: one blake3 hash of the canonical projection state at a `seq`,
//! which a checkpoint carries in an extension line and `verify` recomputes by replay, so
//! that a wrong report is as detectable as a wrong event.
//!
//! What it covers: every entity view (localities, organizations, members, cadres,
//! instruments) and the four append-only lists (verifications, admissions, meetings,
//! resolutions). Not the history index (`touched`), which is derived from the log's ids
//! alone and answers no report by itself.
//!
//! How it is computed, in three layers, all blake3 `derive_key` with their own contexts:
//!
//! - an **entity hash** per view: [`ENTITY_CONTEXT`] over the section byte (locality 1,
//!   organization 2, member 3, cadre 4, instrument 5), the id's length (u16 big-endian), the
//!   id's bytes, then the postcard bytes of the view;
//! - a **list chain** per list: `h = derive_key(LIST_CONTEXT, h_prev || blake3(postcard(item)))`
//!   over the items in order, starting from 32 zero bytes, kept with its length;
//! - the **commitment**: [`COMMITMENT_CONTEXT`] over the head `seq` (8 bytes, big-endian),
//!   the number of entities (u64 big-endian), their entity hashes (32 bytes each) in
//!   (section byte, id bytes) order, then each list as length (u64 big-endian) and chain
//!   hash (32), in the order verifications, admissions, meetings, resolutions.
//!
//! The entity hash binds the section and id, so that the commitment is a pass over fixed
//! 32-byte hashes kept side by side: reading each id's bytes there (a pointer to chase per
//! entity) made it four times slower.
//!
//! Cost: the fold keeps the entity hashes and list chains up to date as it goes
//! (`Commitment::refresh`): it names each view it changes, by section and id, where it
//! changes it, and only those are rehashed (about one small view per event; rehashing every
//! entity the event names, such as the cell of each meeting, made the fold three times
//! slower). [`Commitment::from_scratch`] recomputes everything from the views alone: the
//! tests hold the two equal at every size, which is what shows the fold names every view it
//! changes.
//!
//! Pure: no IO. The entity hashes cover postcard bytes of the views, so changing a view's
//! shape or its serde form changes every commitment: that is a format change. FORMAT.md
//! section 16 gives every byte (the fold, the views' fields in order, their encoding), and
//! `tools/projection_commitment.py` recomputes it from there alone
//! (`tests/commitment_outside.rs`): a change here that the document does not follow fails.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Projection;
use crate::event::{Hash, Id};

/// The `derive_key` context of an entity hash.
pub const ENTITY_CONTEXT: &str = "orgledger 2026-11-27 projection entity v1";
/// The `derive_key` context of one step of a list chain.
pub const LIST_CONTEXT: &str = "orgledger 2026-11-27 projection list v1";
/// The `derive_key` context of the commitment.
pub const COMMITMENT_CONTEXT: &str = "orgledger 2026-11-27 projection commitment v1";

/// The kinds of entity view, with the byte each is committed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Section {
    Locality = 1,
    Organization = 2,
    Member = 3,
    Cadre = 4,
    Instrument = 5,
}

impl Section {
    /// Every section, in byte order.
    pub const ALL: [Section; 5] = [
        Section::Locality,
        Section::Organization,
        Section::Member,
        Section::Cadre,
        Section::Instrument,
    ];

    pub fn byte(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Section::Locality => "locality",
            Section::Organization => "organization",
            Section::Member => "member",
            Section::Cadre => "cadre",
            Section::Instrument => "instrument",
        }
    }
}

/// The names of the four lists, in commitment order.
pub const LISTS: [&str; 4] = ["verifications", "admissions", "meetings", "resolutions"];

/// A running hash over a list's items, and how many it covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListChain {
    pub len: u64,
    pub hash: Hash,
}

impl ListChain {
    /// Extends the chain over the items it does not cover yet. A list never shrinks or
    /// changes an item it holds; if it ever did, the chain is rebuilt rather than left wrong.
    fn extend<T: Serialize>(&mut self, items: &[T]) {
        self.extend_with(items.len(), |from| items[from..].iter());
    }

    /// [`ListChain::extend`] over a list of `len` items, `from(n)` giving those after the
    /// first `n`.
    fn extend_with<T: Serialize, I: Iterator<Item = T>>(&mut self, len: usize, from: impl FnOnce(usize) -> I) {
        if (len as u64) < self.len {
            *self = ListChain::default();
        }
        for item in from(self.len as usize) {
            let mut item_hash = blake3::Hasher::new();
            update_postcard(&mut item_hash, &item);
            let item_hash = item_hash.finalize();
            let mut h = list_hasher();
            h.update(&self.hash.0);
            h.update(item_hash.as_bytes());
            self.hash = Hash(*h.finalize().as_bytes());
            self.len += 1;
        }
    }
}

/// The commitment's running state: the hash of every entity view and the chain of every
/// list, as of the projection's head. Kept inside the [`Projection`] and serialized with it
/// in snapshots, so that a projection restored from a snapshot goes on without a rehash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    entities: BTreeMap<(Section, Id), Hash>,
    lists: [ListChain; 4],
}

/// A hasher in `derive_key` mode for `context`, from a template: deriving the context's key
/// costs a compression, more than hashing a small view.
fn keyed(template: &'static std::sync::OnceLock<blake3::Hasher>, context: &str) -> blake3::Hasher {
    template.get_or_init(|| blake3::Hasher::new_derive_key(context)).clone()
}

fn entity_hasher() -> blake3::Hasher {
    static TEMPLATE: std::sync::OnceLock<blake3::Hasher> = std::sync::OnceLock::new();
    keyed(&TEMPLATE, ENTITY_CONTEXT)
}

fn list_hasher() -> blake3::Hasher {
    static TEMPLATE: std::sync::OnceLock<blake3::Hasher> = std::sync::OnceLock::new();
    keyed(&TEMPLATE, LIST_CONTEXT)
}

thread_local! {
    /// The postcard bytes of the value being hashed: one buffer reused, not one allocation
    /// per view.
    static BYTES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Feeds the postcard bytes of `value` to `h`.
fn update_postcard<T: Serialize>(h: &mut blake3::Hasher, value: &T) {
    BYTES.with_borrow_mut(|buf| {
        buf.clear();
        let bytes = postcard::to_extend(value, std::mem::take(buf)).expect("projection views always encode");
        h.update(&bytes);
        *buf = bytes;
    })
}

/// The entity hash of the view of `id` in `section`.
pub fn entity_hash<T: Serialize>(section: Section, id: &Id, view: &T) -> Hash {
    let mut h = entity_hasher();
    let id = id.as_str().as_bytes();
    h.update(&[section.byte()]);
    // Ids are at most 64 bytes (event::MAX_ID_LEN), so the length fits.
    h.update(&(id.len() as u16).to_be_bytes());
    h.update(id);
    update_postcard(&mut h, view);
    Hash(*h.finalize().as_bytes())
}

/// The entity hash of `id` in `section` as the projection now holds it, if it has a view
/// there.
fn view_hash(p: &Projection, section: Section, id: &Id) -> Option<Hash> {
    match section {
        Section::Locality => p.localities.get(id).map(|v| entity_hash(section, id, v)),
        Section::Organization => p.orgs.get(id).map(|v| entity_hash(section, id, v)),
        Section::Member => p.members.get(id).map(|v| entity_hash(section, id, v)),
        Section::Cadre => p.cadres.get(id).map(|v| entity_hash(section, id, v)),
        Section::Instrument => p.instruments.get(id).map(|v| entity_hash(section, id, v)),
    }
}

impl Commitment {
    /// Brings the state up to date with `p` after a fold that changed (or created) the
    /// views `changed` and may have appended to any list.
    pub(super) fn refresh(&mut self, p: &Projection, changed: &[(Section, Id)]) {
        for (i, (section, id)) in changed.iter().enumerate() {
            // An event names a view once or twice: a repeat costs a scan of a few entries,
            // not a second hash.
            if changed[..i].contains(&changed[i]) {
                continue;
            }
            self.put(*section, id, view_hash(p, *section, id));
        }
        self.extend_lists(p);
    }

    /// As [`Commitment::refresh`], for the views changed by many events, each named once:
    /// more than a chunk of them are hashed on every core, and all are entered in key order.
    pub(super) fn refresh_many(&mut self, p: &Projection, mut changed: Vec<(Section, Id)>) {
        changed.sort_unstable();
        if changed.len() <= crate::parallel::CHUNK {
            for (section, id) in &changed {
                self.put(*section, id, view_hash(p, *section, id));
            }
        } else {
            let hashed = crate::parallel::map_in_order(
                changed.into_iter(),
                |(section, id)| {
                    let hash = view_hash(p, section, &id);
                    (section, id, hash)
                },
                |(section, id, hash)| {
                    self.put(section, &id, hash);
                    Ok::<(), std::convert::Infallible>(())
                },
            );
            let Ok(()) = hashed;
        }
        self.extend_lists(p);
    }

    /// Enters the hash of the view of `id` in `section`, or takes it out when there is no
    /// such view (views are never removed today; this keeps the state right if one is).
    fn put(&mut self, section: Section, id: &Id, hash: Option<Hash>) {
        match hash {
            Some(hash) => {
                self.entities.insert((section, id.clone()), hash);
            }
            None => {
                self.entities.remove(&(section, id.clone()));
            }
        }
    }

    fn extend_lists(&mut self, p: &Projection) {
        self.lists[0].extend(&p.verifications);
        self.lists[1].extend(&p.admissions);
        self.lists[2].extend_with(p.meeting_count(), |from| p.meetings_from(from));
        self.lists[3].extend(&p.resolutions);
    }

    /// The state recomputed from the views of `p` alone, ignoring what the fold kept.
    pub fn from_scratch(p: &Projection) -> Commitment {
        let mut c = Commitment::default();
        let mut add = |section: Section, id: &Id, hash: Hash| {
            c.entities.insert((section, id.clone()), hash);
        };
        for (id, v) in &p.localities {
            add(Section::Locality, id, entity_hash(Section::Locality, id, v));
        }
        for (id, v) in &p.orgs {
            add(Section::Organization, id, entity_hash(Section::Organization, id, v));
        }
        for (id, v) in &p.members {
            add(Section::Member, id, entity_hash(Section::Member, id, v));
        }
        for (id, v) in &p.cadres {
            add(Section::Cadre, id, entity_hash(Section::Cadre, id, v));
        }
        for (id, v) in &p.instruments {
            add(Section::Instrument, id, entity_hash(Section::Instrument, id, v));
        }
        c.extend_lists(p);
        c
    }

    /// The commitment at `head_seq` (see the module comment for the bytes).
    pub fn root(&self, head_seq: u64) -> Hash {
        // blake3 hashes large updates many chunks at a time (SIMD), and 32 bytes at a time
        // one block at a time: so the hashes are gathered in a buffer first.
        const BUFFER: usize = 64 * 1024;
        let mut h = blake3::Hasher::new_derive_key(COMMITMENT_CONTEXT);
        let mut buf: Vec<u8> = Vec::with_capacity(BUFFER + 256);
        buf.extend_from_slice(&head_seq.to_be_bytes());
        buf.extend_from_slice(&(self.entities.len() as u64).to_be_bytes());
        for hash in self.entities.values() {
            buf.extend_from_slice(&hash.0);
            if buf.len() >= BUFFER {
                h.update(&buf);
                buf.clear();
            }
        }
        for list in &self.lists {
            buf.extend_from_slice(&list.len.to_be_bytes());
            buf.extend_from_slice(&list.hash.0);
        }
        h.update(&buf);
        Hash(*h.finalize().as_bytes())
    }

    /// How many entity views are committed to.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }

    /// The chain of each list, in commitment order (see [`LISTS`]).
    pub fn lists(&self) -> &[ListChain; 4] {
        &self.lists
    }

    /// The first entry where `self` and `other` differ, named for a message ("member
    /// dv-000123", "list meetings"), or `None` when they are equal.
    pub fn first_difference(&self, other: &Commitment) -> Option<String> {
        let mut a = self.entities.iter();
        let mut b = other.entities.iter();
        loop {
            match (a.next(), b.next()) {
                (None, None) => break,
                (Some(((s, id), x)), Some(((t, jd), y))) => {
                    if (s, id) != (t, jd) {
                        let first = (s, id).min((t, jd));
                        return Some(format!("{} {} is in one state only", first.0.name(), first.1));
                    }
                    if x != y {
                        return Some(format!("{} {} has another hash", s.name(), id));
                    }
                }
                (Some(((s, id), _)), None) | (None, Some(((s, id), _))) => {
                    return Some(format!("{} {} is in one state only", s.name(), id));
                }
            }
        }
        (0..4)
            .find(|&i| self.lists[i] != other.lists[i])
            .map(|i| format!("list {} differs", LISTS[i]))
    }
}

/// The commitment of `p` recomputed from its views alone, without the state its fold kept:
/// for tests, and for `verify` to check the incremental value against.
pub fn commitment_from_scratch(p: &Projection) -> Hash {
    Commitment::from_scratch(p).root(p.head().seq)
}
