//! Snapshots: a state folded from the log up to some `seq`, as bytes the store keeps so that
//! opening replays only the records after it. The read-side [`Projection`] uses this codec,
//! and so does the mark of the head a ledger last closed at (with an empty body).
//!
//! A snapshot is a cache. Its header names its kind and format, the `seq` and the hash of
//! the record it stands for, and a blake3 hash of its body; a snapshot whose record hash does
//! not match the log, whose body hash is wrong, or whose kind or format is another is ignored
//! and rebuilt.
//!
//! Layout: the kind's marker (`orgledger-projection-4`, `orgledger-closed-head-1`), seq
//! (8 bytes, big-endian), record hash (32), body hash (32), then the body (postcard).
//!
//! A projection's body is in sections, one per [`Parts`] flag in bit order (localities,
//! organizations, members, cadres, instruments, verifications, admissions, meetings,
//! resolutions, the history index, the commitment's state, the residences), each the
//! postcard bytes of that field; the members, the largest part to decode, are
//! [`MEMBER_SECTIONS`] sections, each a map of a quarter of them in key order, so that a
//! question that reads them and little else decodes them on as many threads. The
//! residences are three of each member's timelines written again apart from the views
//! ([`super::Residence`]), in as many sections, a list each, of the same members in the same
//! order: `coverage` reads them in place of the views. It starts with a table of 18 entries,
//! one per section: its length (8 bytes, big-endian) and the blake3 hash of its bytes (32,
//! `derive_key` with [`SECTION_CONTEXT`]); the sections follow, in the same order. The
//! header's body hash covers the table alone, so that a question reads and checks only the
//! sections it needs ([`decode_parts`]).
//! The sections read are checked and decoded each on a thread of its own.
//! Maps are written in key order (the hashed history index too), so that a snapshot's bytes
//! depend on the projection alone.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;

use super::{Parts, Projection};
use crate::chain::Head;
use crate::event::{Date, Hash, Id, MeetingKind, ResolutionTopic, Sex, Text};

/// The bytes of a header after its marker: seq, record hash, body hash.
pub const HEADER_AFTER_MARKER: usize = 8 + 32 + 32;

/// The marker of projection snapshots.
pub const PROJECTION: &[u8] = b"orgledger-projection-6";
/// The marker of the whole rules state that versions before the stored one saved at close
/// (read only for its head, one of the marks `verify` holds the log to).
pub const RULES_STATE: &[u8] = b"orgledger-rules-state-1";
/// The marker of the head a ledger last closed at (an empty body).
pub const CLOSED_HEAD: &[u8] = b"orgledger-closed-head-1";
const BODY_HASH_CONTEXT: &str = "orgledger 2026-11-27 projection snapshot v1";
/// The `derive_key` context of a projection snapshot's section hash.
pub const SECTION_CONTEXT: &str = "orgledger 2026-12-07 projection snapshot section v1";
/// The sections the members are written in, and their residences.
pub const MEMBER_SECTIONS: usize = 4;
/// The sections of a projection snapshot: one per part, the members' and the residences'
/// [`MEMBER_SECTIONS`] each.
pub const SECTIONS: usize = 10 + 2 * MEMBER_SECTIONS;
/// The bytes of a section's entry in the table: its length and hash.
const ENTRY: usize = 8 + 32;

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
    let mut out = with_header(marker, head, &body, body.len());
    out.extend_from_slice(&body);
    out
}

/// A snapshot's header, whose body hash covers `hashed`, with room for `body` more bytes.
fn with_header(marker: &[u8], head: Head, hashed: &[u8], body: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(marker.len() + HEADER_AFTER_MARKER + body);
    out.extend_from_slice(marker);
    out.extend_from_slice(&head.seq.to_be_bytes());
    out.extend_from_slice(&head.hash.0);
    out.extend_from_slice(&body_hash(hashed));
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
    let (head, hash, body) = checked_header(marker, bytes, record_hash)?;
    if hash != body_hash(body) {
        return Err(SnapshotError::Body);
    }
    let value = postcard::from_bytes(body).map_err(|e| SnapshotError::Decode(e.to_string()))?;
    Ok((value, head))
}

/// A snapshot's header checked against its kind and `record_hash`: the head it stands for,
/// the body hash it states and the body.
fn checked_header<'b>(
    marker: &[u8],
    bytes: &'b [u8],
    record_hash: Hash,
) -> Result<(Head, &'b [u8], &'b [u8]), SnapshotError> {
    let head = header_of(marker, bytes)?;
    if head.hash != record_hash {
        return Err(SnapshotError::Stale {
            seq: head.seq,
            stated: head.hash,
            actual: record_hash,
        });
    }
    let (hash, body) = bytes[marker.len() + 40..].split_at(32);
    Ok((head, hash, body))
}

/// Encodes the projection as a snapshot, in sections.
///
/// # Panics
/// If the projection was read in part ([`Projection::missing`]).
pub fn encode(p: &Projection) -> Vec<u8> {
    p.assert_whole("a snapshot");
    let mut sections = Vec::new();
    let mut ends = [0usize; SECTIONS];
    for (i, (part, piece)) in section_list().enumerate() {
        sections = encode_section(p, part, piece, sections);
        ends[i] = sections.len();
    }
    let mut table = Vec::with_capacity(SECTIONS * ENTRY);
    let mut start = 0;
    for end in ends {
        table.extend_from_slice(&((end - start) as u64).to_be_bytes());
        table.extend_from_slice(&section_hash(&sections[start..end]));
        start = end;
    }
    let mut out = with_header(PROJECTION, p.head(), &table, table.len() + sections.len());
    out.extend_from_slice(&table);
    out.extend_from_slice(&sections);
    out
}

fn section_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(SECTION_CONTEXT);
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// The sections of a snapshot in order: each part, and which of its sections (the members
/// and the residences have [`MEMBER_SECTIONS`], the others one).
fn section_list() -> impl Iterator<Item = (Parts, usize)> {
    Parts::all().iter().flat_map(|part| {
        let pieces = if in_pieces(part) { MEMBER_SECTIONS } else { 1 };
        (0..pieces).map(move |piece| (part, piece))
    })
}

/// Whether a part is written in [`MEMBER_SECTIONS`] sections.
fn in_pieces(part: Parts) -> bool {
    part == Parts::MEMBERS || part == Parts::RESIDENCE
}

/// The members of section `piece` of [`MEMBER_SECTIONS`]: a quarter of them, in key order.
fn member_piece(p: &Projection, piece: usize) -> InKeyOrder<'_, crate::event::Id, Box<super::MemberView>> {
    let n = p.members.len();
    let (start, end) = (n * piece / MEMBER_SECTIONS, n * (piece + 1) / MEMBER_SECTIONS);
    InKeyOrder(p.members.iter().skip(start).take(end - start).collect())
}

/// Appends the postcard bytes of one section of `p` to `out`: a part, or the `piece`th of
/// the members'.
fn encode_section(p: &Projection, part: Parts, piece: usize, out: Vec<u8>) -> Vec<u8> {
    fn put<T: Serialize + ?Sized>(value: &T, out: Vec<u8>) -> Vec<u8> {
        postcard::to_extend(value, out).expect("snapshots always encode")
    }
    match part {
        Parts::LOCALITIES => put(&p.localities, out),
        Parts::ORGS => put(&p.orgs, out),
        Parts::MEMBERS => put(&member_piece(p, piece), out),
        Parts::RESIDENCE => {
            let residences: Vec<_> = member_piece(p, piece)
                .0
                .into_iter()
                .map(|(_, m)| m.residence())
                .collect();
            put(&residences, out)
        }
        Parts::CADRES => put(&p.cadres, out),
        Parts::INSTRUMENTS => put(&p.instruments, out),
        Parts::VERIFICATIONS => put(&p.verifications, out),
        Parts::ADMISSIONS => put(&p.admissions, out),
        Parts::MEETINGS => put(&Meetings(p), out),
        Parts::RESOLUTIONS => put(&p.resolutions, out),
        Parts::TOUCHED => {
            let mut entries: Vec<(&crate::event::Id, &super::seqs::Seqs)> = p.touched.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            put(&InKeyOrder(entries), out)
        }
        Parts::COMMITMENT => {
            p.assert_settled("a snapshot");
            put(&p.commitment, out)
        }
        _ => unreachable!("one part at a time"),
    }
}

/// Map entries written as a map, in the order given.
struct InKeyOrder<'a, K, V>(Vec<(&'a K, &'a V)>);

impl<K: Serialize, V: Serialize> Serialize for InKeyOrder<'_, K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

/// A map read back from its serialized entries: gathered, then built in one pass. For a
/// `BTreeMap`, which writes them in key order, `from_iter` finds them sorted and builds the
/// tree at once rather than inserting one by one down it. The same map as serde's own
/// reading of what a map wrote, in any order (`from_iter` sorts what is not sorted, and the
/// last of equal keys wins either way); a snapshot's maps hold millions of entries at
/// 10,000,000 events.
struct FromEntries<M>(M);

impl<'de, K, V, M> Deserialize<'de> for FromEntries<M>
where
    K: Deserialize<'de>,
    V: Deserialize<'de>,
    M: FromIterator<(K, V)> + IntoIterator<Item = (K, V)>,
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<M>(std::marker::PhantomData<M>);
        impl<'de, K, V, M> serde::de::Visitor<'de> for Entries<M>
        where
            K: Deserialize<'de>,
            V: Deserialize<'de>,
            M: FromIterator<(K, V)> + IntoIterator<Item = (K, V)>,
        {
            type Value = M;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<M, A::Error> {
                // The hint comes from the input: bounded, so that a damaged length cannot ask
                // for more memory than the entries that follow it.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(entries.into_iter().collect())
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData)).map(FromEntries)
    }
}

/// The ids of a list section that name the same few entities over and over (a meeting's
/// cell, an admission's organization and home), each long one read once: every later
/// mention is a clone of the same `Arc`, not an allocation of its own. At 10,000,000 events
/// a snapshot holds millions of meetings of some thousands of cells. An id short enough to
/// be held inline ([`Id::INLINE`]) allocates nothing, and is read where it stands: looking
/// it up cost more than reading it. Ids that are each read once (an admission's member) are
/// not looked up here either: a map of all of them cost more than it saved.
#[derive(Default)]
struct SharedIds<'b>(crate::rules::HashMap<&'b str, Id>);

impl<'b> SharedIds<'b> {
    fn id(&mut self, text: &'b str) -> Result<Id, String> {
        if text.len() <= Id::INLINE {
            return Id::parse(text);
        }
        if let Some(id) = self.0.get(text) {
            return Ok(id.clone());
        }
        let id = Id::parse(text)?;
        self.0.insert(text, id.clone());
        Ok(id)
    }
}

/// The meetings of a projection as a snapshot holds them: a list of
/// [`super::MeetingOf`], each with its cell's id.
struct Meetings<'p>(&'p Projection);

impl Serialize for Meetings<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.meetings())
    }
}

/// A meeting as a snapshot holds it (the fields of [`super::MeetingOf`], in order), its
/// cell's id borrowed from the bytes.
#[derive(Deserialize)]
struct StoredMeeting<'b> {
    cell: &'b str,
    kind: MeetingKind,
    attendance: u32,
    supervisor_present: bool,
    date: Date,
    seq: u64,
}

/// An admission as a snapshot holds it (the fields of [`super::Admission`], in order).
#[derive(Deserialize)]
struct StoredAdmission<'b> {
    member: Id,
    org: &'b str,
    home_locality: &'b str,
    sex: Sex,
    date: Date,
    seq: u64,
}

/// A resolution as a snapshot holds it (the fields of [`super::Resolution`], in order).
#[derive(Deserialize)]
struct StoredResolution<'b> {
    cell: &'b str,
    resolution: Id,
    topic: ResolutionTopic,
    title: Text,
    date: Date,
    seq: u64,
}

/// Reads a list section, each item read as an `S` and made a `T` by `make` with the
/// section's shared ids, one at a time (no list of `S` is gathered first). The list starts
/// with room for its stated length, but for no more than `most` items: a damaged length
/// cannot ask for more memory than the items that follow could fill.
fn read_list<'b, S, T>(
    bytes: &'b [u8],
    most: usize,
    make: impl FnMut(S, &mut SharedIds<'b>) -> Result<T, String>,
) -> Result<Vec<T>, SnapshotError>
where
    S: Deserialize<'b>,
{
    // postcard reports any error of ours as "Serde Deserialization Error": the visitor keeps
    // the message of the item it could not make, to say what was wrong.
    struct List<'m, F, S>(F, &'m mut Option<String>, usize, std::marker::PhantomData<S>);
    impl<'b, S, T, F> serde::de::Visitor<'b> for List<'_, F, S>
    where
        S: Deserialize<'b>,
        F: FnMut(S, &mut SharedIds<'b>) -> Result<T, String>,
    {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'b>>(mut self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.2));
            let mut ids = SharedIds::default();
            while let Some(stored) = seq.next_element::<S>()? {
                match (self.0)(stored, &mut ids) {
                    Ok(item) => items.push(item),
                    Err(e) => {
                        let error = serde::de::Error::custom(&e);
                        *self.1 = Some(e);
                        return Err(error);
                    }
                }
            }
            Ok(items)
        }
    }
    let mut d = postcard::Deserializer::from_bytes(bytes);
    let mut failed = None;
    let items = serde::Deserializer::deserialize_seq(&mut d, List(make, &mut failed, most, std::marker::PhantomData))
        .map_err(|e| SnapshotError::Decode(failed.take().unwrap_or_else(|| e.to_string())))?;
    match d.finalize() {
        Ok([]) => Ok(items),
        Ok(rest) => Err(SnapshotError::Decode(format!("{} bytes after a section", rest.len()))),
        Err(e) => Err(SnapshotError::Decode(e.to_string())),
    }
}

/// The most items a list section other than the residences makes room for before it reads
/// them, as in [`FromEntries`].
const LIST_ROOM: usize = 1 << 16;

/// Reads a residences' section into a list with room for them all from the start (a
/// quarter of the members: grown by doubling, it copied and held up to twice their bytes).
/// A residence's bytes are at least three, the lengths of its three timelines.
fn read_residences(bytes: &[u8]) -> Result<Vec<super::Residence>, SnapshotError> {
    read_list(bytes, bytes.len() / 3, |r, _| Ok(r))
}

/// Reads one section's postcard bytes, all of them, as a `T`.
fn read<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, SnapshotError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(SnapshotError::Decode(format!("{} bytes after a section", rest.len()))),
        Err(e) => Err(SnapshotError::Decode(e.to_string())),
    }
}

fn read_map<'de, K, V, M>(bytes: &'de [u8]) -> Result<M, SnapshotError>
where
    K: Deserialize<'de>,
    V: Deserialize<'de>,
    M: FromIterator<(K, V)> + IntoIterator<Item = (K, V)>,
{
    read::<FromEntries<M>>(bytes).map(|m| m.0)
}

/// Decodes one section into its part of `p`.
fn decode_section(p: &mut Projection, part: Parts, bytes: &[u8]) -> Result<(), SnapshotError> {
    match part {
        Parts::LOCALITIES => p.localities = read_map(bytes)?,
        Parts::ORGS => p.orgs = read_map(bytes)?,
        Parts::MEMBERS => p.members = read_map(bytes)?,
        Parts::CADRES => p.cadres = read_map(bytes)?,
        Parts::INSTRUMENTS => p.instruments = read_map(bytes)?,
        Parts::VERIFICATIONS => p.verifications = read(bytes)?,
        Parts::ADMISSIONS => {
            p.admissions = read_list(bytes, LIST_ROOM, |a: StoredAdmission, ids| {
                Ok(super::Admission {
                    member: a.member,
                    org: ids.id(a.org)?,
                    home_locality: ids.id(a.home_locality)?,
                    sex: a.sex,
                    date: a.date,
                    seq: a.seq,
                })
            })?
        }
        Parts::MEETINGS => {
            // Each cell's id is read (and checked) once, the first time it met.
            let mut cells = super::MeetingCells::default();
            p.meetings = read_list(bytes, LIST_ROOM, |m: StoredMeeting, _| {
                let cell = cells.place_of(m.cell, || Id::parse(m.cell))?;
                Ok(super::Meeting {
                    cell,
                    kind: m.kind,
                    attendance: m.attendance,
                    supervisor_present: m.supervisor_present,
                    date: m.date,
                    seq: m.seq,
                })
            })?;
            p.meeting_cells = cells;
        }
        Parts::RESOLUTIONS => {
            p.resolutions = read_list(bytes, LIST_ROOM, |r: StoredResolution, ids| {
                Ok(super::Resolution {
                    cell: ids.id(r.cell)?,
                    resolution: r.resolution,
                    topic: r.topic,
                    title: r.title,
                    date: r.date,
                    seq: r.seq,
                })
            })?
        }
        Parts::TOUCHED => p.touched = read_map(bytes)?,
        Parts::COMMITMENT => p.commitment = read(bytes)?,
        Parts::RESIDENCE => p.residence = vec![read_residences(bytes)?],
        _ => unreachable!("one part at a time"),
    }
    Ok(())
}

/// One section read: a part whole, in a projection that holds it alone, one of the
/// members' sections, its entries in key order, or one of the residences' sections.
enum Section {
    Part(Box<Projection>),
    Members(Vec<(crate::event::Id, Box<super::MemberView>)>),
    Residences(Vec<super::Residence>),
}

/// Checks one section against its hash and decodes it.
fn read_section(part: Parts, hash: &[u8], bytes: &[u8]) -> Result<Section, SnapshotError> {
    if section_hash(bytes) != hash {
        return Err(SnapshotError::Body);
    }
    match part {
        Parts::MEMBERS => return read_map(bytes).map(Section::Members),
        Parts::RESIDENCE => return read_residences(bytes).map(Section::Residences),
        _ => {}
    }
    let mut piece = Projection::default();
    decode_section(&mut piece, part, bytes)?;
    Ok(Section::Part(Box::new(piece)))
}

/// Work on a thread of its own, done already where a thread could not be started, or to
/// be done by whoever joins it.
enum Job<'s, T> {
    Running(std::thread::ScopedJoinHandle<'s, T>),
    Done(T),
    Later(Box<dyn FnOnce() -> T + Send + 's>),
}

impl<'s, T: Send + 's> Job<'s, T> {
    fn start<'e>(scope: &'s std::thread::Scope<'s, 'e>, work: impl FnOnce() -> T + Send + 's) -> Job<'s, T> {
        // Shared, so that this thread still has the work should the spawn fail.
        let work = std::sync::Arc::new(std::sync::Mutex::new(Some(work)));
        let take = |work: &std::sync::Mutex<Option<_>>| work.lock().unwrap_or_else(|e| e.into_inner()).take();
        let shared = work.clone();
        let spawned = std::thread::Builder::new()
            .name("snapshot section".into())
            .spawn_scoped(scope, move || take(&shared).expect("the work is taken once")());
        match spawned {
            Ok(handle) => Job::Running(handle),
            Err(_) => Job::Done(take(&work).expect("a thread that did not start took nothing")()),
        }
    }

    fn join(self) -> T {
        match self {
            Job::Running(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Job::Done(value) => value,
            Job::Later(work) => work(),
        }
    }
}

/// Moves one part of `from` into `to`.
fn move_part(from: &mut Projection, to: &mut Projection, part: Parts) {
    use std::mem::take;
    match part {
        Parts::LOCALITIES => to.localities = take(&mut from.localities),
        Parts::ORGS => to.orgs = take(&mut from.orgs),
        Parts::MEMBERS => to.members = take(&mut from.members),
        Parts::CADRES => to.cadres = take(&mut from.cadres),
        Parts::INSTRUMENTS => to.instruments = take(&mut from.instruments),
        Parts::VERIFICATIONS => to.verifications = take(&mut from.verifications),
        Parts::ADMISSIONS => to.admissions = take(&mut from.admissions),
        Parts::MEETINGS => {
            to.meetings = take(&mut from.meetings);
            to.meeting_cells = take(&mut from.meeting_cells);
        }
        Parts::RESOLUTIONS => to.resolutions = take(&mut from.resolutions),
        Parts::TOUCHED => to.touched = take(&mut from.touched),
        Parts::COMMITMENT => to.commitment = take(&mut from.commitment),
        Parts::RESIDENCE => to.residence = take(&mut from.residence),
        _ => unreachable!("one part at a time"),
    }
}

/// The `seq` and record hash a projection snapshot says it stands for.
pub fn header(bytes: &[u8]) -> Result<(u64, Hash), SnapshotError> {
    header_of(PROJECTION, bytes).map(|h| (h.seq, h.hash))
}

/// Decodes a whole projection snapshot, checking it against `record_hash`, the log's hash
/// of the record the snapshot says it stands for.
pub fn decode(bytes: &[u8], record_hash: Hash) -> Result<Projection, SnapshotError> {
    decode_parts(bytes, record_hash, Parts::all())
}

/// Decodes the sections of `parts` of a projection snapshot, checking the table and each of
/// them against their hashes, and the snapshot against `record_hash`. The projection it
/// gives has the other parts empty, says so ([`Projection::missing`]) and refuses to be
/// folded on, committed to or written; with every part, it is the projection the snapshot
/// was written from.
pub fn decode_parts(bytes: &[u8], record_hash: Hash, parts: Parts) -> Result<Projection, SnapshotError> {
    let (head, hash, body) = checked_header(PROJECTION, bytes, record_hash)?;
    if body.len() < SECTIONS * ENTRY {
        return Err(SnapshotError::Format);
    }
    let (table, mut sections) = body.split_at(SECTIONS * ENTRY);
    if hash != body_hash(table) {
        return Err(SnapshotError::Body);
    }
    let mut p = Projection::default();
    (p.head_seq, p.head_hash, p.missing) = (head.seq, head.hash, Parts::all() - parts);
    let mut wanted: Vec<(Parts, &[u8], &[u8])> = Vec::new();
    for (entry, (part, _)) in table.chunks_exact(ENTRY).zip(section_list()) {
        let len = u64::from_be_bytes(entry[..8].try_into().expect("8 bytes"));
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= sections.len())
            .ok_or(SnapshotError::Body)?;
        let (section, after) = sections.split_at(len);
        sections = after;
        // The members' views hold their residences: those are read only in their place.
        if parts.contains(part) && !(part == Parts::RESIDENCE && parts.contains(Parts::MEMBERS)) {
            wanted.push((part, &entry[8..], section));
        }
    }
    if !sections.is_empty() {
        return Err(SnapshotError::Body);
    }
    // The sections are independent: each is checked and decoded on a thread of its own (at
    // 10,000,000 events the members, the largest to decode, take a third of the whole). The
    // members' four sections come in key order: one thread joins them and builds them into
    // one map at once (`from_iter` finds them sorted) while the other sections are still
    // being decoded. A question that reads few other sections (coverage reads two) decodes
    // the members' sections each on a thread of its own; one that reads many leaves no core
    // idle anyway, and that one thread decodes them one after the other (on two cores,
    // four more threads made a whole decode slower and larger). A thread that cannot be
    // started leaves its work to the one that would have started it.
    type Members = std::collections::BTreeMap<crate::event::Id, Box<super::MemberView>>;
    let members_at_once = wanted.iter().filter(|(part, _, _)| *part != Parts::MEMBERS).count() <= 2;
    let (pieces, members) = std::thread::scope(|scope| {
        let mut member_sections = Vec::new();
        let mut jobs = Vec::new();
        for &(part, hash, bytes) in &wanted {
            let read = move || read_section(part, hash, bytes);
            match part {
                Parts::MEMBERS if members_at_once => member_sections.push(Job::start(scope, read)),
                Parts::MEMBERS => member_sections.push(Job::Later(Box::new(read))),
                _ => jobs.push(Job::start(scope, read)),
            }
        }
        let members = (!member_sections.is_empty()).then(|| {
            Job::start(scope, move || -> Result<Members, SnapshotError> {
                let mut members = Vec::new();
                for job in member_sections {
                    if let Section::Members(mut some) = job.join()? {
                        members.append(&mut some);
                    }
                }
                Ok(members.into_iter().collect())
            })
        });
        let pieces: Vec<Result<Section, SnapshotError>> = jobs.into_iter().map(Job::join).collect();
        (pieces, members.map(Job::join))
    });
    let others = wanted.iter().filter(|(part, _, _)| *part != Parts::MEMBERS);
    for (piece, &(part, _, _)) in pieces.into_iter().zip(others) {
        match piece? {
            Section::Part(mut piece) => move_part(&mut piece, &mut p, part),
            // In order: the residences' sections are among the others in section order.
            Section::Residences(some) => p.residence.push(some),
            Section::Members(_) => unreachable!("the members are joined apart"),
        }
    }
    if let Some(members) = members {
        p.members = members?;
    }
    if p.missing.is_empty() {
        p.index_supervisions();
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meetings_section(cells: &[&str]) -> Vec<u8> {
        let date = Date::parse("2008-03-01").unwrap();
        // A meeting's fields in order, as a section holds them.
        let meetings: Vec<_> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| (*cell, MeetingKind::Regular, 9u32, true, date, i as u64 + 1))
            .collect();
        postcard::to_stdvec(&meetings).unwrap()
    }

    /// Each cell's id is held once however often it met, and each meeting reads back whole
    /// and writes the bytes it was read from.
    #[test]
    fn a_meetings_section_holds_each_cell_once() {
        let long_a = "chi-bo-xom-pac-ngoa-xa-ngoc-khe";
        let long_b = "chi-bo-xom-ban-gioc-xa-dam-thuy";
        let mut p = Projection::default();
        let cells = [long_a, long_b, long_a, "chi-bo-a", "chi-bo-a"];
        let section = meetings_section(&cells);
        decode_section(&mut p, Parts::MEETINGS, &section).unwrap();
        let read: Vec<&str> = p.meetings().map(|m| m.cell.as_str()).collect();
        assert_eq!(read, cells);
        assert_eq!(p.meetings().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        let ids: Vec<&str> = p.meeting_cells.ids.iter().map(|id| id.as_str()).collect();
        assert_eq!(ids, [long_a, long_b, "chi-bo-a"]);
        assert_eq!(encode_section(&p, Parts::MEETINGS, 0, Vec::new()), section);
    }

    /// A shared id is checked as any id is, the first time it is read; a section with bytes
    /// after its list is refused.
    #[test]
    fn a_list_section_with_a_bad_id_or_bytes_after_it_is_refused() {
        let mut p = Projection::default();
        let bad = decode_section(&mut p, Parts::MEETINGS, &meetings_section(&["chi-bo-a", "Chi Bộ A"]));
        assert!(
            matches!(&bad, Err(SnapshotError::Decode(m)) if m.contains("invalid id \"Chi Bộ A\"")),
            "{bad:?}"
        );
        let mut longer = meetings_section(&["chi-bo-a"]);
        longer.push(0);
        let after = decode_section(&mut p, Parts::MEETINGS, &longer);
        assert!(
            matches!(&after, Err(SnapshotError::Decode(m)) if m == "1 bytes after a section"),
            "{after:?}"
        );
    }
}
