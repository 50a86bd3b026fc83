//! The read side: state folded from the log, kept as bitemporal timelines so that any
//! question can be asked as of a date (valid time) and as of a `seq` (transaction time),
//! and the reports of DOMAIN.md computed from it.
//!
//! Architecture invariant: pure. [`Projection::fold`] takes records in `seq` order and does
//! no IO; the store persists snapshots of it as opaque bytes. Everything here can be
//! rebuilt from the log: deleting every snapshot and replaying gives the same answers.
//!
//! The fold trusts the rules: records come from the log, where every event was validated
//! before it was appended, so the fold never refuses one.

pub mod commitment;
pub mod reports;
pub mod seqs;
pub mod series;
pub mod snapshot;
pub mod timeline;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chain::Head;
use crate::event::*;
use crate::rules::HashMap;
use commitment::Section;
pub use timeline::{At, Span, Timeline};

/// The views one event changed, by section and id: for the commitment to rehash.
type Changed = Vec<(Section, Id)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberStatus {
    Probationary,
    Official,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Probationary => "probationary",
            MemberStatus::Official => "official",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalityView {
    pub kind: LocalityKind,
    pub registered: (Date, u64),
    /// Whether it exists: from registration until retirement.
    pub alive: Timeline<()>,
    pub name: Timeline<Text>,
    pub parent: Timeline<Option<Id>>,
    pub border: Timeline<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rating {
    pub year: i32,
    pub level: QualityLevel,
    pub date: Date,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgView {
    pub kind: OrgKind,
    pub parent: Option<Id>,
    pub localities: Vec<Id>,
    pub founded: (Date, u64),
    pub alive: Timeline<()>,
    pub name: Timeline<Text>,
    /// Committee members in charge of this cell, one span per assignment.
    pub supervisors: Vec<Span<Id>>,
    pub ratings: Vec<Rating>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberView {
    pub admitted: (Date, u64),
    pub admitted_to: Id,
    pub active: Timeline<()>,
    pub name: Timeline<Text>,
    pub sex: Timeline<Sex>,
    pub birth_date: Timeline<Date>,
    pub home_locality: Timeline<Id>,
    pub org: Timeline<Id>,
    pub status: Timeline<MemberStatus>,
    /// Temporary activity: the host cell and the date it was to run until.
    pub temporary: Timeline<(Id, Option<Date>)>,
    pub exempted: Timeline<()>,
    pub ended: Option<(Date, EndReason, u64)>,
}

impl MemberView {
    /// The host of a temporary activity running at `at`.
    pub fn temporary_host(&self, at: At) -> Option<&Id> {
        temporary_host(&self.temporary, at)
    }

    /// What `coverage` reads of this member.
    pub fn residence(&self) -> ResidenceOf<'_> {
        ResidenceOf {
            active: &self.active,
            home_locality: &self.home_locality,
            temporary: &self.temporary,
        }
    }
}

/// The host of a temporary activity running at `at`.
fn temporary_host(temporary: &Timeline<(Id, Option<Date>)>, at: At) -> Option<&Id> {
    match temporary.at(at) {
        Some((host, until)) if until.is_none_or(|u| at.date <= u) => Some(host),
        _ => None,
    }
}

/// Three timelines of a member's view, the ones `coverage` reads: when the member was
/// active, where they lived, and their temporary activity. A snapshot holds them a second
/// time apart from the views ([`Parts::RESIDENCE`]): a cold `coverage` decodes them alone,
/// a fifth of the views' bytes, into one list per section where the views take an
/// allocation each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Residence {
    pub active: Timeline<()>,
    pub home_locality: Timeline<Id>,
    pub temporary: Timeline<(Id, Option<Date>)>,
}

impl Residence {
    pub fn borrowed(&self) -> ResidenceOf<'_> {
        ResidenceOf {
            active: &self.active,
            home_locality: &self.home_locality,
            temporary: &self.temporary,
        }
    }
}

/// A member's [`Residence`], borrowed from their view or from the projection's residences.
/// Serialized as a `Residence` is.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ResidenceOf<'a> {
    pub active: &'a Timeline<()>,
    pub home_locality: &'a Timeline<Id>,
    pub temporary: &'a Timeline<(Id, Option<Date>)>,
}

impl<'a> ResidenceOf<'a> {
    /// The host of a temporary activity running at `at`.
    pub fn temporary_host(&self, at: At) -> Option<&'a Id> {
        temporary_host(self.temporary, at)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assessment {
    pub programme: Id,
    pub date: Date,
    pub seq: u64,
    pub gaps: Vec<StandardDimension>,
    /// Gaps closed by training: when and by which event.
    pub closed: Vec<(StandardDimension, Date, u64)>,
    pub outcome: Option<(Outcome, Date, u64)>,
    /// A later assessment under the same programme replaced this one, from that `seq` on.
    pub superseded: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Standardized,
    RetiredUnderPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub term: Id,
    pub position: Id,
    pub org: Id,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CadreView {
    pub positions: Vec<Span<(Id, Id, Option<Id>)>>,
    pub plans: Vec<Span<Plan>>,
    pub assessments: Vec<Assessment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstrumentView {
    pub kind: InstrumentKind,
    pub title: Text,
    pub issuer: Text,
    pub issued: (Date, u64),
    pub starts: Option<Date>,
    pub ends: Option<Date>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Admission {
    pub member: Id,
    pub org: Id,
    pub home_locality: Id,
    pub sex: Sex,
    pub date: Date,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub person: Id,
    pub outcome: VerificationOutcome,
    pub kin_abroad: bool,
    pub date: Date,
    pub seq: u64,
}

/// A cell meeting as the projection holds it: its cell is the place of the cell's id in the
/// projection's list of cells that met, so that a meeting is 24 bytes where one holding the
/// id was 48 (6,100,000 meetings at 10,000,000 events). Read through
/// [`Projection::meetings`], which gives each with its cell's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meeting {
    cell: u32,
    pub kind: MeetingKind,
    pub attendance: u32,
    pub supervisor_present: bool,
    pub date: Date,
    pub seq: u64,
}

/// A meeting with its cell's id: what reports read, and what snapshots and the projection
/// commitment hold (these fields in this order, the bytes of a meeting that held its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MeetingOf<'p> {
    pub cell: &'p Id,
    pub kind: MeetingKind,
    pub attendance: u32,
    pub supervisor_present: bool,
    pub date: Date,
    pub seq: u64,
}

/// The ids of the cells that met, each once, in the order they first met: what a
/// [`Meeting`]'s cell is the place of.
#[derive(Debug, Clone, Default)]
pub struct MeetingCells {
    ids: Vec<Id>,
    places: HashMap<Id, u32>,
}

impl MeetingCells {
    /// The place of `id`, given it if it has none yet.
    fn place(&mut self, id: &Id) -> u32 {
        self.place_of(id.as_str(), || Ok(id.clone()))
            .expect("fewer than 2^32 cells")
    }

    /// The place of the id whose text is `text`, given it if it has none yet: `make` makes
    /// the id (checking the text) only then.
    fn place_of(&mut self, text: &str, make: impl FnOnce() -> Result<Id, String>) -> Result<u32, String> {
        if let Some(place) = self.places.get(text) {
            return Ok(*place);
        }
        let place = u32::try_from(self.ids.len()).map_err(|_| "more than 2^32 cells met".to_string())?;
        let id = make()?;
        self.ids.push(id.clone());
        self.places.insert(id, place);
        Ok(place)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resolution {
    pub cell: Id,
    pub resolution: Id,
    pub topic: ResolutionTopic,
    pub title: Text,
    pub date: Date,
    pub seq: u64,
}

/// The projection: everything the reports need, for every point of valid and transaction
/// time up to `head`. Snapshots of it are written and read by [`snapshot`], part by part.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// The last record folded in.
    head_seq: u64,
    head_hash: Hash,
    pub localities: BTreeMap<Id, LocalityView>,
    pub orgs: BTreeMap<Id, OrgView>,
    /// Boxed: a member's view is some 550 bytes of inline timelines, and a tree of them
    /// moved every view at each step of building it from a snapshot (into a list, then into
    /// the tree's nodes; at 10,000,000 events 470 MB copied twice, faulted in and freed) and
    /// shifted whole views at each insert.
    pub members: BTreeMap<Id, Box<MemberView>>,
    /// Every member's [`Residence`], when read from a snapshot without the members' views
    /// (`coverage`), in the pieces the snapshot holds them in (joined, they were copied
    /// into ever larger lists); empty otherwise: [`Projection::residences`] reads them
    /// from the views.
    residence: Vec<Vec<Residence>>,
    pub cadres: BTreeMap<Id, CadreView>,
    pub instruments: BTreeMap<Id, InstrumentView>,
    pub verifications: Vec<Verification>,
    pub admissions: Vec<Admission>,
    /// Read through [`Projection::meetings`].
    meetings: Vec<Meeting>,
    meeting_cells: MeetingCells,
    pub resolutions: Vec<Resolution>,
    /// For each id, the `seq` of every event that named it, in order: the history index.
    /// Only ever looked up by id, a few times per event folded, so hashed (a lookup in a
    /// `BTreeMap` compared the id's bytes with a key at every step down the tree); written to
    /// snapshots in id order all the same (see [`snapshot`]).
    /// Each list is held as the differences between its `seq`s ([`seqs::Seqs`]).
    pub touched: HashMap<Id, seqs::Seqs>,
    /// The entity hashes and list chains of the projection commitment, kept up to date by
    /// the fold so that a checkpoint does not rehash every view.
    commitment: commitment::Commitment,
    /// For each member ever assigned as a supervisor, the cells they were assigned to, each
    /// once: where a member's end releases supervisions, without a pass over every
    /// organization (in 1,000,000 generated events, 1,800 of them for each of 6,800 ends).
    /// Derived from `orgs`, so not in snapshots: rebuilt when one is decoded
    /// ([`Projection::index_supervisions`]).
    supervised: BTreeMap<Id, Vec<Id>>,
    /// The parts left out when this projection was read from a snapshot for a question that
    /// does not need them ([`snapshot::decode_parts`]): empty here, so never folded on,
    /// committed to or written as a snapshot.
    missing: Parts,
    /// The views changed by [`Projection::fold_unsettled`] since the last
    /// [`Projection::settle`], each once: their entity hashes in `commitment` are stale
    /// until then. Empty whenever anything reads the commitment or writes a snapshot.
    unsettled: crate::rules::HashSet<(Section, Id)>,
}

/// Notes in the index of supervisions that `member` was assigned to `cell` (once per cell).
fn note_supervision(supervised: &mut BTreeMap<Id, Vec<Id>>, member: &Id, cell: &Id) {
    let cells = supervised.entry(member.clone()).or_default();
    if !cells.contains(cell) {
        cells.push(cell.clone());
    }
}

bitflags::bitflags! {
    /// Parts of the projection: each is a section of a snapshot of its own, which a
    /// question that does not read it leaves undecoded (`coverage` reads the localities,
    /// organizations and the members' residences, 38 of a snapshot's 530 MB at 10,000,000
    /// events).
    /// The default is none.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct Parts: u16 {
        const LOCALITIES = 1 << 0;
        const ORGS = 1 << 1;
        const MEMBERS = 1 << 2;
        const CADRES = 1 << 3;
        const INSTRUMENTS = 1 << 4;
        const VERIFICATIONS = 1 << 5;
        const ADMISSIONS = 1 << 6;
        const MEETINGS = 1 << 7;
        const RESOLUTIONS = 1 << 8;
        /// The history index.
        const TOUCHED = 1 << 9;
        /// The state of the projection commitment.
        const COMMITMENT = 1 << 10;
        /// Every member's [`Residence`]: held by the members' views too, so a projection
        /// that has [`Parts::MEMBERS`] has this part as well.
        const RESIDENCE = 1 << 11;
        /// Every entity view: what [`reports::entity_kind_at`] looks an id up in.
        const ENTITIES = Self::LOCALITIES.bits() | Self::ORGS.bits() | Self::MEMBERS.bits()
            | Self::CADRES.bits() | Self::INSTRUMENTS.bits() | Self::VERIFICATIONS.bits()
            | Self::RESOLUTIONS.bits();
    }
}

/// The members, or entities in the history index, from which a projection is freed on a
/// thread of its own: about the size of a log of 1,000,000 events.
const FREED_APART: usize = 100_000;

/// A projection of a long log holds millions of allocations (a view per member, a list of
/// `seq`s per entity in the history index, a hash per view; an id each too, before ids were
/// held inline), and freeing them one by one took half a second at 10,000,000 events: a
/// fifth of what `orgledger checkpoint` took there, spent as it exited. A large projection
/// is freed on a thread of its own, so that a command or a server ends without waiting for
/// it (at exit the system takes the memory back at once).
impl Drop for Projection {
    fn drop(&mut self) {
        if self.touched.len().max(self.members.len()) < FREED_APART {
            return;
        }
        let parts = (
            std::mem::take(&mut self.members),
            std::mem::take(&mut self.touched),
            std::mem::take(&mut self.commitment),
            std::mem::take(&mut self.orgs),
            std::mem::take(&mut self.cadres),
            std::mem::take(&mut self.supervised),
        );
        // Were no thread to start, the closure and the parts with it are freed here.
        let _ = std::thread::Builder::new()
            .name("orgledger-free".into())
            .spawn(move || drop(parts));
    }
}

impl Projection {
    pub fn new() -> Projection {
        Projection::default()
    }

    /// Every cell meeting, in the log's order, each with its cell's id.
    pub fn meetings(&self) -> impl ExactSizeIterator<Item = MeetingOf<'_>> + Clone {
        self.meetings_from(0)
    }

    /// The meetings after the first `from`.
    pub(crate) fn meetings_from(&self, from: usize) -> impl ExactSizeIterator<Item = MeetingOf<'_>> + Clone {
        self.meetings[from.min(self.meetings.len())..]
            .iter()
            .map(|m| MeetingOf {
                cell: &self.meeting_cells.ids[m.cell as usize],
                kind: m.kind,
                attendance: m.attendance,
                supervisor_present: m.supervisor_present,
                date: m.date,
                seq: m.seq,
            })
    }

    /// How many cell meetings there are.
    pub fn meeting_count(&self) -> usize {
        self.meetings.len()
    }

    pub fn head(&self) -> Head {
        Head {
            seq: self.head_seq,
            hash: self.head_hash,
        }
    }

    /// The parts this projection was read without: empty unless it was read from a
    /// snapshot for one question ([`snapshot::decode_parts`]).
    pub fn missing(&self) -> Parts {
        self.missing
    }

    /// Every member's [`Residence`]: from the members' views, or, in a projection read
    /// without them, from the residences read in their place.
    pub fn residences(&self) -> Box<dyn Iterator<Item = ResidenceOf<'_>> + '_> {
        if self.missing.contains(Parts::MEMBERS) {
            Box::new(self.residence.iter().flatten().map(Residence::borrowed))
        } else {
            Box::new(self.members.values().map(|m| m.residence()))
        }
    }

    /// Panics if a part is missing: a projection read in part answers the questions it was
    /// read for, and nothing that needs the whole (folding on, committing, a snapshot).
    fn assert_whole(&self, what: &str) {
        assert!(
            self.missing.is_empty(),
            "{what} needs the whole projection, and this one was read without {:?}",
            self.missing
        );
    }

    /// The projection commitment at the head: a hash of every entity view and list, which
    /// a checkpoint carries (see [`commitment`]).
    pub fn commitment(&self) -> Hash {
        self.assert_whole("the commitment");
        self.assert_settled("the commitment");
        self.commitment.root(self.head_seq)
    }

    /// The state behind [`Projection::commitment`], to compare with
    /// [`commitment::Commitment::from_scratch`] and name what differs.
    pub fn commitment_state(&self) -> &commitment::Commitment {
        self.assert_whole("the commitment");
        self.assert_settled("the commitment");
        &self.commitment
    }

    /// Panics if views were folded by [`Projection::fold_unsettled`] and not settled since:
    /// the commitment's state would be stale.
    pub(crate) fn assert_settled(&self, what: &str) {
        assert!(
            self.unsettled.is_empty(),
            "{what} needs the projection settled, and {} views were folded without their hashes",
            self.unsettled.len()
        );
    }

    /// Rebuilds the index of supervisions from the organizations' views, which a snapshot
    /// holds (the index itself is not in it).
    pub(crate) fn index_supervisions(&mut self) {
        self.supervised.clear();
        for (org, o) in &self.orgs {
            for sup in &o.supervisors {
                note_supervision(&mut self.supervised, &sup.value, org);
            }
        }
    }

    /// Folds the next record of the log. Records must come in `seq` order.
    pub fn fold(&mut self, record: &Record) {
        let changed = self.fold_views(record);
        // The views the event changes, named by the fold where it changes them, are rehashed
        // for the commitment; the lists are extended by what was pushed.
        let mut commitment = std::mem::take(&mut self.commitment);
        commitment.refresh(self, &changed);
        self.commitment = commitment;
    }

    /// Folds the next record as [`Projection::fold`] does, but leaves the commitment's
    /// hashes of the views it changed to [`Projection::settle`], which must run before the
    /// commitment is read or a snapshot written. For many records at a time (a rebuild, the
    /// tail after a snapshot, a group of appends): a view changed by many of them is
    /// hashed once, and many views are hashed on every core. Rehashing views was a third of
    /// a rebuild's fold (BENCHMARKS.md, "The commitment settled once per batch").
    pub fn fold_unsettled(&mut self, record: &Record) {
        let changed = self.fold_views(record);
        self.unsettled.extend(changed);
    }

    /// How many views [`Projection::fold_unsettled`] changed since the last settle.
    pub fn unsettled(&self) -> usize {
        self.unsettled.len()
    }

    /// Brings the commitment up to date with every view [`Projection::fold_unsettled`]
    /// changed since the last settle.
    pub fn settle(&mut self) {
        if self.unsettled.is_empty() {
            return;
        }
        let changed: Vec<(Section, Id)> = std::mem::take(&mut self.unsettled).into_iter().collect();
        let mut commitment = std::mem::take(&mut self.commitment);
        commitment.refresh_many(self, changed);
        self.commitment = commitment;
    }

    /// Folds a record into the views and the history index, and names the views it changed.
    fn fold_views(&mut self, record: &Record) -> Changed {
        self.assert_whole("folding");
        debug_assert_eq!(record.seq(), self.head_seq + 1, "records fold in seq order");
        let (d, s) = (record.effective(), record.seq());
        self.index(record);
        let mut changed = Changed::new();
        self.fold_event(record.event(), d, s, &mut changed);
        self.head_seq = s;
        self.head_hash = record.hash();
        changed
    }

    fn index(&mut self, record: &Record) {
        let s = record.seq();
        let mut ids: Vec<&Id> = named_ids(record.event());
        let corrected_home = match record.event() {
            Event::ProfileCorrected(e) if e.field == ProfileField::HomeLocality => Id::parse(e.value.as_str()).ok(),
            _ => None,
        };
        ids.extend(corrected_home.as_ref());
        // A member's organizations are touched by the member's own changes too.
        if let Some(member) = member_of(record.event()) {
            if let Some(m) = self.members.get(member) {
                let at = At {
                    date: record.effective(),
                    seq: s,
                };
                ids.extend(m.org.at(at));
                ids.extend(m.temporary_host(at));
            }
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            // Most ids are already indexed: look them up by reference, and clone only new ones.
            // Records are folded in the log's order, so `s` is never below an id's last.
            match self.touched.get_mut(id) {
                Some(seqs) => seqs.push(s).expect("records are folded in order"),
                None => {
                    self.touched.insert(id.clone(), std::iter::once(s).collect());
                }
            }
        }
    }

    /// Applies an event to the views, and pushes every view it changes or creates to
    /// `changed`, for the commitment. A view changed without being pushed would leave the
    /// commitment stale: `tests/commitment.rs` recomputes it from scratch after every event
    /// type to catch that.
    fn fold_event(&mut self, event: &Event, d: Date, s: u64, changed: &mut Changed) {
        use Event::*;
        match event {
            LocalityRegistered(e) => {
                changed.push((Section::Locality, e.locality.clone()));
                self.localities.insert(
                    e.locality.clone(),
                    LocalityView {
                        kind: e.kind,
                        registered: (d, s),
                        alive: Timeline::starting((), d, s),
                        name: Timeline::starting(e.name.clone(), d, s),
                        parent: Timeline::starting(e.parent.clone(), d, s),
                        border: Timeline::starting(e.border, d, s),
                    },
                );
            }
            LocalityChanged(e) => {
                changed.push((Section::Locality, e.locality.clone()));
                if let Some(l) = self.localities.get_mut(&e.locality) {
                    if let Some(n) = &e.name {
                        l.name.set(n.clone(), d, s);
                    }
                    if let Some(p) = &e.parent {
                        l.parent.set(Some(p.clone()), d, s);
                    }
                    if let Some(b) = e.border {
                        l.border.set(b, d, s);
                    }
                }
            }
            LocalityRetired(e) => {
                changed.push((Section::Locality, e.locality.clone()));
                if let Some(l) = self.localities.get_mut(&e.locality) {
                    l.alive.end(d, s);
                }
            }
            OrganizationFounded(e) => {
                changed.push((Section::Organization, e.org.clone()));
                self.orgs.insert(
                    e.org.clone(),
                    OrgView {
                        kind: e.kind,
                        parent: e.parent.clone(),
                        localities: e.localities.clone(),
                        founded: (d, s),
                        alive: Timeline::starting((), d, s),
                        name: Timeline::starting(e.name.clone(), d, s),
                        supervisors: Vec::new(),
                        ratings: Vec::new(),
                    },
                );
            }
            OrganizationRenamed(e) => {
                changed.push((Section::Organization, e.org.clone()));
                if let Some(o) = self.orgs.get_mut(&e.org) {
                    o.name.set(e.name.clone(), d, s);
                }
            }
            OrganizationDissolved(e) => {
                changed.push((Section::Organization, e.org.clone()));
                if let Some(o) = self.orgs.get_mut(&e.org) {
                    o.alive.end(d, s);
                }
            }
            BackgroundVerified(e) => self.verifications.push(Verification {
                person: e.person.clone(),
                outcome: e.outcome,
                kin_abroad: e.kin_abroad,
                date: d,
                seq: s,
            }),
            MemberAdmitted(e) => {
                changed.push((Section::Member, e.member.clone()));
                self.members.insert(
                    e.member.clone(),
                    Box::new(MemberView {
                        admitted: (d, s),
                        admitted_to: e.org.clone(),
                        active: Timeline::starting((), d, s),
                        name: Timeline::starting(e.name.clone(), d, s),
                        sex: Timeline::starting(e.sex, d, s),
                        birth_date: Timeline::starting(e.birth_date, d, s),
                        home_locality: Timeline::starting(e.home_locality.clone(), d, s),
                        org: Timeline::starting(e.org.clone(), d, s),
                        status: Timeline::starting(MemberStatus::Probationary, d, s),
                        temporary: Timeline::default(),
                        exempted: Timeline::default(),
                        ended: None,
                    }),
                );
                self.admissions.push(Admission {
                    member: e.member.clone(),
                    org: e.org.clone(),
                    home_locality: e.home_locality.clone(),
                    sex: e.sex,
                    date: d,
                    seq: s,
                });
            }
            MemberOfficialized(e) => self.member(&e.member, changed, |m| m.status.set(MemberStatus::Official, d, s)),
            MemberTransferred(e) => self.member(&e.member, changed, |m| {
                m.org.set(e.to_org.clone(), d, s);
                if let Some(l) = &e.home_locality {
                    m.home_locality.set(l.clone(), d, s);
                }
            }),
            TemporaryActivityStarted(e) => self.member(&e.member, changed, |m| {
                m.temporary.set((e.host_org.clone(), e.until), d, s)
            }),
            TemporaryActivityEnded(e) => self.member(&e.member, changed, |m| m.temporary.end(d, s)),
            MemberExempted(e) => self.member(&e.member, changed, |m| m.exempted.set((), d, s)),
            ExemptionRevoked(e) => self.member(&e.member, changed, |m| m.exempted.end(d, s)),
            MemberDisciplined(_) => {}
            MembershipEnded(e) => {
                self.member(&e.member, changed, |m| {
                    m.active.end(d, s);
                    m.org.end(d, s);
                    m.status.end(d, s);
                    m.temporary.end(d, s);
                    m.exempted.end(d, s);
                    m.ended = Some((d, e.reason, s));
                });
                // The cells the member supervised: the event does not name them.
                for org in self.supervised.get(&e.member).into_iter().flatten() {
                    let Some(o) = self.orgs.get_mut(org) else { continue };
                    let mut released = false;
                    for sup in o
                        .supervisors
                        .iter_mut()
                        .filter(|x| x.value == e.member && x.until().is_none())
                    {
                        sup.close(d, s);
                        released = true;
                    }
                    if released {
                        changed.push((Section::Organization, org.clone()));
                    }
                }
                if let Some(c) = self.cadres.get_mut(&e.member) {
                    changed.push((Section::Cadre, e.member.clone()));
                    for p in c.positions.iter_mut().filter(|p| p.until().is_none()) {
                        p.close(d, s);
                    }
                }
            }
            ProfileCorrected(e) => self.member(&e.subject, changed, |m| match e.field {
                ProfileField::Name => m.name.correct(e.value.clone(), s),
                ProfileField::Sex => {
                    let sex = if e.value.as_str() == "female" {
                        Sex::Female
                    } else {
                        Sex::Male
                    };
                    m.sex.correct(sex, s)
                }
                ProfileField::BirthDate => {
                    if let Ok(date) = Date::parse(e.value.as_str()) {
                        m.birth_date.correct(date, s)
                    }
                }
                ProfileField::HomeLocality => {
                    if let Ok(id) = Id::parse(e.value.as_str()) {
                        m.home_locality.correct(id, s)
                    }
                }
            }),
            InstrumentIssued(e) => {
                changed.push((Section::Instrument, e.instrument.clone()));
                self.instruments.insert(
                    e.instrument.clone(),
                    InstrumentView {
                        kind: e.kind,
                        title: e.title.clone(),
                        issuer: e.issuer.clone(),
                        issued: (d, s),
                        starts: e.starts,
                        ends: e.ends,
                    },
                );
            }
            PositionAssigned(e) => self.cadre(&e.person, changed).positions.push(Span::new(
                (e.org.clone(), e.position.clone(), e.term.clone()),
                d,
                s,
            )),
            PositionEnded(e) => {
                for p in self.cadre(&e.person, changed).positions.iter_mut() {
                    if p.until().is_none() && p.value.0 == e.org && p.value.1 == e.position {
                        p.close(d, s);
                    }
                }
            }
            CadrePlanned(e) => self.cadre(&e.person, changed).plans.push(Span::new(
                Plan {
                    term: e.term.clone(),
                    position: e.position.clone(),
                    org: e.org.clone(),
                },
                d,
                s,
            )),
            CadreUnplanned(e) => {
                for p in self.cadre(&e.person, changed).plans.iter_mut() {
                    if p.until().is_none() && p.value.term == e.term {
                        p.close(d, s);
                    }
                }
            }
            CadreAssessed(e) => {
                let c = self.cadre(&e.person, changed);
                for a in c.assessments.iter_mut() {
                    if a.programme == e.programme && a.superseded.is_none() {
                        a.superseded = Some(s);
                    }
                }
                c.assessments.push(Assessment {
                    programme: e.programme.clone(),
                    date: d,
                    seq: s,
                    gaps: e.gaps.clone(),
                    closed: Vec::new(),
                    outcome: None,
                    superseded: None,
                });
            }
            TrainingCompleted(e) => {
                if let Some(prog) = &e.programme {
                    if let Some(a) = self.assessment_mut(&e.person, changed, prog) {
                        if !a.closed.iter().any(|(g, _, _)| *g == e.dimension) {
                            a.closed.push((e.dimension, d, s));
                        }
                    }
                }
            }
            CadreStandardized(e) => {
                if let Some(a) = self.assessment_mut(&e.person, changed, &e.programme) {
                    a.outcome = Some((Outcome::Standardized, d, s));
                }
            }
            CadreRetiredUnderPolicy(e) => {
                if let Some(a) = self.assessment_mut(&e.person, changed, &e.programme) {
                    a.outcome = Some((Outcome::RetiredUnderPolicy, d, s));
                }
            }
            SupervisorAssigned(e) => {
                changed.push((Section::Organization, e.cell.clone()));
                if let Some(o) = self.orgs.get_mut(&e.cell) {
                    o.supervisors.push(Span::new(e.member.clone(), d, s));
                    note_supervision(&mut self.supervised, &e.member, &e.cell);
                }
            }
            SupervisorReleased(e) => {
                changed.push((Section::Organization, e.cell.clone()));
                if let Some(o) = self.orgs.get_mut(&e.cell) {
                    for sup in o
                        .supervisors
                        .iter_mut()
                        .filter(|x| x.value == e.member && x.until().is_none())
                    {
                        sup.close(d, s);
                    }
                }
            }
            CellMeetingHeld(e) => {
                let cell = self.meeting_cells.place(&e.cell);
                self.meetings.push(Meeting {
                    cell,
                    kind: e.kind,
                    attendance: e.attendance,
                    supervisor_present: e.supervisor_present.unwrap_or(false),
                    date: d,
                    seq: s,
                })
            }
            ResolutionAdopted(e) => self.resolutions.push(Resolution {
                cell: e.cell.clone(),
                resolution: e.resolution.clone(),
                topic: e.topic,
                title: e.title.clone(),
                date: d,
                seq: s,
            }),
            QualityRated(e) => {
                changed.push((Section::Organization, e.subject.clone()));
                if let Some(o) = self.orgs.get_mut(&e.subject) {
                    o.ratings.push(Rating {
                        year: e.year,
                        level: e.level,
                        date: d,
                        seq: s,
                    });
                }
            }
        }
    }

    fn member(&mut self, id: &Id, changed: &mut Changed, f: impl FnOnce(&mut MemberView)) {
        if let Some(m) = self.members.get_mut(id) {
            changed.push((Section::Member, id.clone()));
            f(m);
        }
    }

    fn cadre(&mut self, id: &Id, changed: &mut Changed) -> &mut CadreView {
        changed.push((Section::Cadre, id.clone()));
        self.cadres.entry(id.clone()).or_default()
    }

    fn assessment_mut(&mut self, person: &Id, changed: &mut Changed, programme: &Id) -> Option<&mut Assessment> {
        changed.push((Section::Cadre, person.clone()));
        self.cadres
            .get_mut(person)?
            .assessments
            .iter_mut()
            .rev()
            .find(|a| &a.programme == programme && a.superseded.is_none())
    }
}

/// Every id an event's payload names (for the history index): the localities,
/// organizations, people, instruments and resolutions it is about or refers to. Not the
/// names of posts and terms (`position`, `term`), nor the issuer of its decision. Matched
/// field by field rather than found in a JSON rendering of the event, which cost more than
/// the rest of the fold.
fn named_ids(event: &Event) -> Vec<&Id> {
    use Event::*;
    let mut ids: Vec<&Id> = Vec::with_capacity(4);
    match event {
        LocalityRegistered(e) => ids.extend([Some(&e.locality), e.parent.as_ref()].into_iter().flatten()),
        LocalityChanged(e) => ids.extend([Some(&e.locality), e.parent.as_ref()].into_iter().flatten()),
        LocalityRetired(e) => ids.extend([Some(&e.locality), e.merged_into.as_ref()].into_iter().flatten()),
        OrganizationFounded(e) => {
            ids.extend([Some(&e.org), e.parent.as_ref()].into_iter().flatten());
            ids.extend(e.localities.iter());
        }
        OrganizationRenamed(e) => ids.push(&e.org),
        OrganizationDissolved(e) => ids.extend([Some(&e.org), e.merged_into.as_ref()].into_iter().flatten()),
        BackgroundVerified(e) => ids.push(&e.person),
        MemberAdmitted(e) => {
            ids.extend([&e.member, &e.home_locality, &e.org]);
            ids.extend(e.introducers.iter().flatten());
        }
        MemberOfficialized(e) => ids.push(&e.member),
        MemberTransferred(e) => {
            ids.extend([&e.member, &e.to_org]);
            ids.extend(e.home_locality.as_ref());
        }
        TemporaryActivityStarted(e) => ids.extend([&e.member, &e.host_org]),
        TemporaryActivityEnded(e) => ids.extend([&e.member, &e.host_org]),
        MemberExempted(e) => ids.push(&e.member),
        ExemptionRevoked(e) => ids.push(&e.member),
        MemberDisciplined(e) => ids.push(&e.member),
        MembershipEnded(e) => ids.push(&e.member),
        ProfileCorrected(e) => ids.push(&e.subject),
        InstrumentIssued(e) => ids.push(&e.instrument),
        PositionAssigned(e) => ids.extend([&e.person, &e.org]),
        PositionEnded(e) => ids.extend([&e.person, &e.org]),
        CadrePlanned(e) => ids.extend([&e.person, &e.org]),
        CadreUnplanned(e) => ids.push(&e.person),
        CadreAssessed(e) => ids.extend([&e.person, &e.programme]),
        TrainingCompleted(e) => ids.extend([Some(&e.person), e.programme.as_ref()].into_iter().flatten()),
        CadreStandardized(e) => ids.extend([&e.person, &e.programme]),
        CadreRetiredUnderPolicy(e) => ids.extend([&e.person, &e.programme]),
        SupervisorAssigned(e) => ids.extend([&e.member, &e.cell]),
        SupervisorReleased(e) => ids.extend([&e.member, &e.cell]),
        CellMeetingHeld(e) => ids.push(&e.cell),
        ResolutionAdopted(e) => ids.extend([&e.cell, &e.resolution]),
        QualityRated(e) => ids.push(&e.subject),
    }
    ids
}

/// The member an event is about, when it is a member's own change.
fn member_of(event: &Event) -> Option<&Id> {
    use Event::*;
    match event {
        MemberOfficialized(e) => Some(&e.member),
        MemberTransferred(e) => Some(&e.member),
        TemporaryActivityEnded(e) => Some(&e.member),
        MemberExempted(e) => Some(&e.member),
        ExemptionRevoked(e) => Some(&e.member),
        MemberDisciplined(e) => Some(&e.member),
        MembershipEnded(e) => Some(&e.member),
        ProfileCorrected(e) => Some(&e.subject),
        _ => None,
    }
}
