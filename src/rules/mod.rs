//! Validation of each event against the state of the organization on its effective date,
//! and the fold that keeps that state current.
//!
//! Architecture invariant: this module is pure, and checking is apart from applying (as
//! in cqrs-es, `handle` and `apply`). [`State::check`] reads the state and answers either
//! the [`Change`] an event makes or the [`RuleViolation`] it breaks; it cannot change the
//! state, so a refused event leaves it as it was by construction. [`State::apply`] writes a
//! change and cannot fail. [`State::submit`] is the two in a row. Nothing here does IO.
//!
//! Valid time. Events may be back-filled long after they took effect, but for any one entity
//! effective dates never go backwards: every entity remembers the latest effective date of
//! any event that named it, and an event whose subject was named later is refused
//! (`effective_date_backwards`). So the subject's current state is its state on the event's
//! date, and a referenced entity is checked as of that date (it existed by then, it had not
//! ended). An entity that has ended (retired, dissolved, membership ended) cannot be named
//! by a new event at all, so no later fact can hang from it.

pub mod charter;

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::*;
use charter::*;

/// The hasher of the rules' maps: foldhash, seeded once per process from the operating
/// system's randomness. Each checked event looks up and clones a handful of entries by id,
/// and std's SipHash was a tenth of the check's time (BENCHMARKS.md); a per-process seed
/// keeps ids chosen to collide from being chosen in advance. The reports use it too.
pub(crate) type Hasher = foldhash::fast::RandomState;
/// A map hashed with [`Hasher`]: the rules' own, the projection's history index and the
/// reports' working maps.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, Hasher>;
/// A set of ids hashed with [`Hasher`].
pub(crate) type HashSet<T> = std::collections::HashSet<T, Hasher>;

/// A broken rule: the event is refused and nothing is appended. Surfaces as GraphQL
/// `RULE_VIOLATION` with `rule` in its extensions, and as CLI exit code 1. Retrying the same
/// event against the same state gives the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule}: {message}")]
pub struct RuleViolation {
    /// The rule's stable name (snake_case), for programs.
    pub rule: &'static str,
    /// What was wrong, for people.
    pub message: String,
}

fn violation(rule: &'static str, message: impl Into<String>) -> RuleViolation {
    RuleViolation {
        rule,
        message: message.into(),
    }
}

/// What an id names. Ids are unique across all kinds, so a history or a rating subject is
/// never ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityKind {
    Locality,
    Organization,
    Person,
    Instrument,
    Resolution,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Locality {
    pub name: Text,
    pub kind: LocalityKind,
    pub parent: Option<Id>,
    pub border: bool,
    pub registered: Date,
    pub retired: Option<Date>,
    pub active_children: u32,
    pub last_named: Date,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    pub name: Text,
    pub kind: OrgKind,
    pub parent: Option<Id>,
    pub localities: Vec<Id>,
    pub founded: Date,
    pub dissolved: Option<Date>,
    /// Active members whose official membership is here.
    pub members: u32,
    /// Members on temporary activity here, with the date it runs until.
    pub hosted: Vec<(Id, Option<Date>)>,
    pub active_children: u32,
    /// Committee members in charge of this cell.
    pub supervisors: Vec<Id>,
    pub rated_years: Vec<i32>,
    pub last_named: Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberStatus {
    Probationary,
    Official,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub name: Text,
    pub sex: Sex,
    pub birth_date: Date,
    pub home_locality: Id,
    pub org: Id,
    pub admitted: Date,
    pub status: MemberStatus,
    pub officialized: Option<Date>,
    pub ended: Option<(Date, EndReason)>,
    /// The host cell of a temporary activity, and the date it runs until.
    pub temporary: Option<(Id, Option<Date>)>,
    pub exempted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StandardOutcome {
    Standardized,
    RetiredUnderPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assessment {
    pub programme: Id,
    pub gaps: Vec<StandardDimension>,
    pub closed: Vec<StandardDimension>,
    pub outcome: Option<StandardOutcome>,
}

/// A person: a candidate once verified, a member once admitted, a cadre once assessed,
/// planned or assigned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    pub verification: Option<(VerificationOutcome, Date)>,
    pub membership: Option<Membership>,
    pub positions: Vec<(Id, Id)>,
    pub plans: Vec<Id>,
    pub assessments: Vec<Assessment>,
    pub supervising: Vec<Id>,
    pub rated_years: Vec<i32>,
    pub last_named: Date,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instrument {
    pub kind: InstrumentKind,
    pub issued: Date,
    pub starts: Option<Date>,
    pub ends: Option<Date>,
    pub last_named: Date,
}

/// The current state of the organization, as the rules need it. The writer takes back a
/// refused batch with a journal ([`State::apply_journaled`]), not a clone: values are
/// shared (`Arc`), so the journal holds a pointer to what each change overwrote, and the
/// maps are plain hash maps (they were persistent ones, whose O(1) clones made every insert
/// after a clone copy the nodes on its path).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    kinds: HashMap<Id, EntityKind>,
    localities: HashMap<Id, Arc<Locality>>,
    orgs: HashMap<Id, Arc<Organization>>,
    people: HashMap<Id, Arc<Person>>,
    instruments: HashMap<Id, Arc<Instrument>>,
}

/// Events whose decision the Charter requires to be cited.
fn decision_required(event: &Event) -> bool {
    matches!(
        event,
        Event::OrganizationFounded(_)
            | Event::OrganizationDissolved(_)
            | Event::MemberAdmitted(_)
            | Event::MemberOfficialized(_)
            | Event::MemberDisciplined(_)
    ) || matches!(event, Event::MembershipEnded(e) if matches!(e.reason, EndReason::Expelled | EndReason::Removed))
}

impl State {
    pub fn new() -> State {
        State::default()
    }

    pub fn kind_of(&self, id: &Id) -> Option<EntityKind> {
        self.kinds.get(id).copied()
    }
    pub fn locality(&self, id: &Id) -> Option<&Locality> {
        self.localities.get(id).map(|a| a.as_ref())
    }
    pub fn organization(&self, id: &Id) -> Option<&Organization> {
        self.orgs.get(id).map(|a| a.as_ref())
    }
    pub fn person(&self, id: &Id) -> Option<&Person> {
        self.people.get(id).map(|a| a.as_ref())
    }
    pub fn instrument(&self, id: &Id) -> Option<&Instrument> {
        self.instruments.get(id).map(|a| a.as_ref())
    }

    /// Checks `sub` against the state on its effective date (`today` is the UTC date it is
    /// being recorded on): the change it makes, or the rule it breaks. The state is only
    /// read; the change holds the new value of every entry the event touches.
    pub fn check(&self, sub: &Submission, today: Date) -> Result<Change, RuleViolation> {
        let mut draft = Draft::new(self);
        draft.check(sub, today)?;
        Ok(draft.into_change())
    }

    /// Writes a change made by [`State::check`] on this state. It cannot fail: every value
    /// was computed and checked before, and is only put in its place.
    pub fn apply(&mut self, change: Change) {
        self.put(change, None);
    }

    /// [`State::apply`], noting in `journal` what each entry held before (nothing, for an
    /// entity the change creates), so that [`State::undo`] can put it back. A writer that
    /// may have to take back a batch of events keeps a journal instead of a clone of the
    /// state: a clone shares every node of the maps, and each insert after it copies the
    /// nodes on its path, which for a batch of thousands of events is most of the maps.
    pub fn apply_journaled(&mut self, change: Change, journal: &mut Vec<Prior>) {
        self.put(change, Some(journal));
    }

    /// Puts a change's entries in place, noting what each overwrote in `journal` if given.
    fn put(&mut self, change: Change, mut journal: Option<&mut Vec<Prior>>) {
        fn put<V>(
            map: &mut HashMap<Id, V>,
            entries: impl IntoIterator<Item = (Id, V)>,
            prior: fn(Id, Option<V>) -> Prior,
            journal: &mut Option<&mut Vec<Prior>>,
        ) {
            for (id, value) in entries {
                match journal {
                    Some(journal) => {
                        let before = map.insert(id.clone(), value);
                        journal.push(prior(id, before));
                    }
                    None => {
                        map.insert(id, value);
                    }
                }
            }
        }
        fn shared<T>((id, value): (Id, T)) -> (Id, Arc<T>) {
            (id, Arc::new(value))
        }
        let journal = &mut journal;
        put(&mut self.kinds, change.kinds, Prior::Kind, journal);
        put(
            &mut self.localities,
            change.localities.into_iter().map(shared),
            Prior::Locality,
            journal,
        );
        put(
            &mut self.orgs,
            change.orgs.into_iter().map(shared),
            Prior::Organization,
            journal,
        );
        put(
            &mut self.people,
            change.people.into_iter().map(shared),
            Prior::Person,
            journal,
        );
        put(
            &mut self.instruments,
            change.instruments.into_iter().map(shared),
            Prior::Instrument,
            journal,
        );
    }

    /// Takes back the changes noted in `journal` after its first `keep` entries, the latest
    /// first, and leaves it `keep` long: the state is as it was when the journal was that
    /// long.
    pub fn undo(&mut self, journal: &mut Vec<Prior>, keep: usize) {
        fn put<V>(map: &mut HashMap<Id, V>, id: Id, before: Option<V>) {
            match before {
                Some(v) => {
                    map.insert(id, v);
                }
                None => {
                    map.remove(&id);
                }
            }
        }
        for prior in journal.drain(keep.min(journal.len())..).rev() {
            match prior {
                Prior::Kind(id, before) => put(&mut self.kinds, id, before),
                Prior::Locality(id, before) => put(&mut self.localities, id, before),
                Prior::Organization(id, before) => put(&mut self.orgs, id, before),
                Prior::Person(id, before) => put(&mut self.people, id, before),
                Prior::Instrument(id, before) => put(&mut self.instruments, id, before),
            }
        }
    }

    /// Checks `sub` and applies its change: on a broken rule the state is as it was.
    pub fn submit(&mut self, sub: &Submission, today: Date) -> Result<(), RuleViolation> {
        let change = self.check(sub, today)?;
        self.apply(change);
        Ok(())
    }

    /// [`State::check`] on a state that holds only part of the whole (the ledger keeps the
    /// rules state in its store, and this in memory as a cache). Each entity the check asks
    /// for and this state lacks is fetched (`fetch` gives its stored entry, as
    /// [`State::encode_entry`] wrote it, or `None` when it exists nowhere) and loaded, and the
    /// check runs again, until it asks only for entities that exist nowhere. Its answer is
    /// then the one the whole state would give, since a check is pure and reads nothing but
    /// the entities it names. Returns the verdict and the bytes of the entries loaded.
    pub fn check_paging<B: AsRef<[u8]>, E>(
        &mut self,
        sub: &Submission,
        today: Date,
        mut fetch: impl FnMut(&Id) -> Result<Option<B>, E>,
    ) -> Result<(Result<Change, RuleViolation>, usize), PagingError<E>> {
        let mut absent: HashSet<Id> = HashSet::default();
        let mut loaded_bytes = 0;
        loop {
            let mut draft = Draft::new(self);
            let verdict = draft.check(sub, today);
            let misses = std::mem::take(draft.misses.get_mut());
            let verdict = verdict.map(|()| draft.into_change());
            let mut loaded = false;
            for id in misses {
                if absent.contains(&id) || self.kinds.contains_key(&id) {
                    continue;
                }
                match fetch(&id).map_err(PagingError::Fetch)? {
                    Some(bytes) => {
                        loaded_bytes += bytes.as_ref().len();
                        self.load(id, bytes.as_ref())?;
                        loaded = true;
                    }
                    None => {
                        absent.insert(id);
                    }
                }
            }
            if !loaded {
                return Ok((verdict, loaded_bytes));
            }
        }
    }

    /// The entry of `id` in its stored form ([`State::load`] reads it back), if the state
    /// holds it.
    pub fn encode_entry(&self, id: &Id) -> Option<Vec<u8>> {
        let kind = self.kind_of(id)?;
        let entry = match kind {
            EntityKind::Locality => self.locality(id).map(EntryRef::Locality),
            EntityKind::Organization => self.organization(id).map(EntryRef::Organization),
            EntityKind::Person => self.person(id).map(EntryRef::Person),
            EntityKind::Instrument => self.instrument(id).map(EntryRef::Instrument),
            EntityKind::Resolution => None,
        };
        let entry = entry.unwrap_or(EntryRef::Kind(kind));
        // Encoding into a vector fails only on types postcard cannot express: none here.
        postcard::to_stdvec(&entry).ok()
    }

    /// Every entity the state holds, in its stored form.
    pub fn entries(&self) -> impl Iterator<Item = (&Id, Vec<u8>)> + '_ {
        self.kinds.keys().filter_map(|id| Some((id, self.encode_entry(id)?)))
    }

    /// Puts the entry of `id`, as [`State::encode_entry`] wrote it, into the state.
    pub fn load<E>(&mut self, id: Id, bytes: &[u8]) -> Result<(), PagingError<E>> {
        let entry: OwnedEntry = match postcard::from_bytes(bytes) {
            Ok(entry) => entry,
            Err(e) => {
                return Err(PagingError::Damaged {
                    id,
                    reason: e.to_string(),
                })
            }
        };
        let kind = match entry {
            StoredEntry::Locality(l) => {
                self.localities.insert(id.clone(), Arc::new(l));
                EntityKind::Locality
            }
            StoredEntry::Organization(o) => {
                self.orgs.insert(id.clone(), Arc::new(o));
                EntityKind::Organization
            }
            StoredEntry::Person(p) => {
                self.people.insert(id.clone(), Arc::new(p));
                EntityKind::Person
            }
            StoredEntry::Instrument(i) => {
                self.instruments.insert(id.clone(), Arc::new(i));
                EntityKind::Instrument
            }
            StoredEntry::Kind(kind) => kind,
        };
        self.kinds.insert(id, kind);
        Ok(())
    }
}

/// What an entry of the state held before [`State::apply_journaled`] changed it: `None`
/// when the change created it.
#[derive(Debug)]
pub enum Prior {
    Kind(Id, Option<EntityKind>),
    Locality(Id, Option<Arc<Locality>>),
    Organization(Id, Option<Arc<Organization>>),
    Person(Id, Option<Arc<Person>>),
    Instrument(Id, Option<Arc<Instrument>>),
}

/// Why [`State::check_paging`] could not check: the fetch failed, or a stored entry does not
/// decode.
#[derive(Debug)]
pub enum PagingError<E> {
    Fetch(E),
    Damaged { id: Id, reason: String },
}

impl<E: std::fmt::Display> std::fmt::Display for PagingError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PagingError::Fetch(e) => e.fmt(f),
            PagingError::Damaged { id, reason } => {
                write!(f, "the stored rules entry of {id} does not decode: {reason}")
            }
        }
    }
}

/// One entity of the rules state as the ledger stores it (postcard): its kind, with its
/// fields for the kinds that have any.
#[derive(Serialize, Deserialize)]
enum StoredEntry<L, O, P, I> {
    Locality(L),
    Organization(O),
    Person(P),
    Instrument(I),
    Kind(EntityKind),
}
type EntryRef<'a> = StoredEntry<&'a Locality, &'a Organization, &'a Person, &'a Instrument>;
type OwnedEntry = StoredEntry<Locality, Organization, Person, Instrument>;

/// What one event changes: the new value of every entry it touches (an entity it creates,
/// or one whose fields move), made by [`State::check`] and written by [`State::apply`].
/// A change is meant for the state it was checked against: applied to another, it would
/// put back values that state has since moved on from.
#[derive(Debug, Clone, Default)]
pub struct Change {
    kinds: HashMap<Id, EntityKind>,
    localities: HashMap<Id, Locality>,
    orgs: HashMap<Id, Organization>,
    people: HashMap<Id, Person>,
    instruments: HashMap<Id, Instrument>,
}

impl Change {
    /// The ids of every entity the event changes.
    pub fn ids(&self) -> impl Iterator<Item = &Id> + '_ {
        self.kinds
            .keys()
            .chain(self.localities.keys())
            .chain(self.orgs.keys())
            .chain(self.people.keys())
            .chain(self.instruments.keys())
    }

    /// Whether the event changes nothing (a cell meeting, say, on a day already seen).
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
            && self.localities.is_empty()
            && self.orgs.is_empty()
            && self.people.is_empty()
            && self.instruments.is_empty()
    }
}

/// The state as an event under check sees it: the state it is checked against, overlaid
/// with what the event has changed so far. Every read goes through the overlay, so a rule
/// checked after a change sees it (as the fold always did); the state itself is never
/// written.
struct Draft<'a> {
    base: &'a State,
    /// Ids the state was asked for and did not hold: for [`State::check_reading`], whose
    /// caller may hold only part of the state and load these before checking again.
    misses: RefCell<Vec<Id>>,
    kinds: HashMap<Id, EntityKind>,
    localities: HashMap<Id, Locality>,
    orgs: HashMap<Id, Organization>,
    people: HashMap<Id, Person>,
    instruments: HashMap<Id, Instrument>,
}

/// The draft's entry for `id`, copied from the state (`base`) on its first change; the
/// `missing` error when the state has no such entity either.
fn drafted<'d, T: Clone>(
    pending: &'d mut HashMap<Id, T>,
    id: &Id,
    base: Option<&T>,
    missing: impl FnOnce() -> RuleViolation,
) -> Result<&'d mut T, RuleViolation> {
    match pending.entry(id.clone()) {
        Entry::Occupied(e) => Ok(e.into_mut()),
        Entry::Vacant(e) => Ok(e.insert(base.ok_or_else(missing)?.clone())),
    }
}

impl<'a> Draft<'a> {
    fn new(base: &'a State) -> Draft<'a> {
        Draft {
            base,
            misses: RefCell::new(Vec::new()),
            kinds: HashMap::default(),
            localities: HashMap::default(),
            orgs: HashMap::default(),
            people: HashMap::default(),
            instruments: HashMap::default(),
        }
    }

    fn into_change(self) -> Change {
        Change {
            kinds: self.kinds,
            localities: self.localities,
            orgs: self.orgs,
            people: self.people,
            instruments: self.instruments,
        }
    }

    /// `found`, a read of the state for `id`; a miss is noted.
    fn noted<T>(&self, id: &Id, found: Option<T>) -> Option<T> {
        if found.is_none() {
            self.misses.borrow_mut().push(id.clone());
        }
        found
    }
    fn base_person(&self, id: &Id) -> Option<&'a Person> {
        self.noted(id, self.base.person(id))
    }

    fn kind_of(&self, id: &Id) -> Option<EntityKind> {
        self.kinds
            .get(id)
            .copied()
            .or_else(|| self.noted(id, self.base.kind_of(id)))
    }
    fn locality(&self, id: &Id) -> Option<&Locality> {
        self.localities
            .get(id)
            .or_else(|| self.noted(id, self.base.locality(id)))
    }
    fn organization(&self, id: &Id) -> Option<&Organization> {
        self.orgs.get(id).or_else(|| self.noted(id, self.base.organization(id)))
    }
    fn person(&self, id: &Id) -> Option<&Person> {
        self.people.get(id).or_else(|| self.base_person(id))
    }
    fn instrument(&self, id: &Id) -> Option<&Instrument> {
        self.instruments
            .get(id)
            .or_else(|| self.noted(id, self.base.instrument(id)))
    }

    /// Checks `sub` against the state on its effective date, writing what it changes into
    /// the draft. `today` is the UTC date it is being recorded on.
    fn check(&mut self, sub: &Submission, today: Date) -> Result<(), RuleViolation> {
        let d = sub.effective;
        if d > today.plus_days(FUTURE_SLACK_DAYS) {
            return Err(violation(
                "effective_in_future",
                format!("effective date {d} is after the day it is recorded ({today})"),
            ));
        }
        match &sub.decision {
            None if decision_required(&sub.event) => {
                return Err(violation(
                    "decision_required",
                    format!(
                        "{} must cite the decision it rests on (`decision`)",
                        sub.event.type_name()
                    ),
                ))
            }
            Some(dec) if dec.date > d => {
                return Err(violation(
                    "decision_after_effective",
                    format!(
                        "decision {} is dated {} after the effective date {d}",
                        dec.number, dec.date
                    ),
                ))
            }
            _ => {}
        }
        let (subjects, refs) = self.named(&sub.event);
        for id in &subjects {
            self.check_order(id, d)?;
        }
        for id in subjects.iter().chain(refs.iter()) {
            self.check_not_ended(id)?;
        }
        self.check_and_fold(&sub.event, d)?;
        for id in subjects.iter().chain(refs.iter()) {
            self.touch(id, d)?;
        }
        Ok(())
    }

    /// The entities an event changes (its subjects) and the ones it only refers to.
    fn named(&self, event: &Event) -> (Vec<Id>, Vec<Id>) {
        use Event::*;
        let one = |id: &Id| vec![id.clone()];
        let opt = |id: &Option<Id>| id.iter().cloned().collect::<Vec<_>>();
        let home_org = |member: &Id| -> Vec<Id> {
            let Some(m) = self.person(member).and_then(|p| p.membership.as_ref()) else {
                return vec![];
            };
            let mut v = vec![m.org.clone()];
            v.extend(m.temporary.iter().map(|(h, _)| h.clone()));
            v
        };
        match event {
            LocalityRegistered(e) => (one(&e.locality), opt(&e.parent)),
            LocalityChanged(e) => (one(&e.locality), opt(&e.parent)),
            LocalityRetired(e) => (one(&e.locality), opt(&e.merged_into)),
            OrganizationFounded(e) => {
                let mut refs = opt(&e.parent);
                refs.extend(e.localities.iter().cloned());
                (one(&e.org), refs)
            }
            OrganizationRenamed(e) => (one(&e.org), vec![]),
            OrganizationDissolved(e) => (one(&e.org), opt(&e.merged_into)),
            BackgroundVerified(e) => (one(&e.person), vec![]),
            MemberAdmitted(e) => {
                let mut refs = vec![e.org.clone(), e.home_locality.clone()];
                refs.extend(e.introducers.iter().flatten().cloned());
                (one(&e.member), refs)
            }
            MemberOfficialized(e) => (one(&e.member), vec![]),
            MemberTransferred(e) => {
                let mut refs = home_org(&e.member);
                refs.push(e.to_org.clone());
                refs.extend(e.home_locality.iter().cloned());
                (one(&e.member), refs)
            }
            TemporaryActivityStarted(e) => (one(&e.member), vec![e.host_org.clone()]),
            TemporaryActivityEnded(e) => (one(&e.member), vec![e.host_org.clone()]),
            MemberExempted(e) => (one(&e.member), vec![]),
            ExemptionRevoked(e) => (one(&e.member), vec![]),
            MemberDisciplined(e) => (one(&e.member), vec![]),
            MembershipEnded(e) => (one(&e.member), home_org(&e.member)),
            ProfileCorrected(e) => {
                let refs = match e.field {
                    ProfileField::HomeLocality => Id::parse(e.value.as_str()).into_iter().collect(),
                    _ => vec![],
                };
                (one(&e.subject), refs)
            }
            InstrumentIssued(e) => (one(&e.instrument), vec![]),
            PositionAssigned(e) => (one(&e.person), vec![e.org.clone()]),
            PositionEnded(e) => (one(&e.person), vec![e.org.clone()]),
            CadrePlanned(e) => (one(&e.person), vec![e.org.clone()]),
            CadreUnplanned(e) => (one(&e.person), vec![]),
            CadreAssessed(e) => (one(&e.person), vec![e.programme.clone()]),
            TrainingCompleted(e) => (one(&e.person), opt(&e.programme)),
            CadreStandardized(e) => (one(&e.person), vec![e.programme.clone()]),
            CadreRetiredUnderPolicy(e) => (one(&e.person), vec![e.programme.clone()]),
            SupervisorAssigned(e) => (vec![e.member.clone(), e.cell.clone()], vec![]),
            SupervisorReleased(e) => (vec![e.member.clone(), e.cell.clone()], vec![]),
            CellMeetingHeld(e) => (one(&e.cell), vec![]),
            ResolutionAdopted(e) => (one(&e.cell), vec![]),
            QualityRated(e) => (one(&e.subject), vec![]),
        }
    }

    fn last_named(&self, id: &Id) -> Option<Date> {
        match self.kind_of(id)? {
            EntityKind::Locality => self.locality(id).map(|x| x.last_named),
            EntityKind::Organization => self.organization(id).map(|x| x.last_named),
            EntityKind::Person => self.person(id).map(|x| x.last_named),
            EntityKind::Instrument => self.instrument(id).map(|x| x.last_named),
            EntityKind::Resolution => None,
        }
    }

    fn check_order(&self, id: &Id, d: Date) -> Result<(), RuleViolation> {
        match self.last_named(id) {
            Some(last) if last > d => Err(violation(
                "effective_date_backwards",
                format!("{id} was already named by an event effective {last}; an event effective {d} would go back in time (record a correction instead)"),
            )),
            _ => Ok(()),
        }
    }

    fn check_not_ended(&self, id: &Id) -> Result<(), RuleViolation> {
        let ended = match self.kind_of(id) {
            Some(EntityKind::Locality) => self.locality(id).and_then(|l| l.retired),
            Some(EntityKind::Organization) => self.organization(id).and_then(|o| o.dissolved),
            Some(EntityKind::Person) => self
                .person(id)
                .and_then(|p| p.membership.as_ref())
                .and_then(|m| m.ended.map(|(d, _)| d)),
            _ => None,
        };
        match ended {
            Some(when) => Err(violation(
                "entity_ended",
                format!("{id} ended on {when} and can no longer be named"),
            )),
            None => Ok(()),
        }
    }

    /// Records that `id` was named by an event effective `d`. Only an entity whose latest
    /// date moves is copied into the draft.
    fn touch(&mut self, id: &Id, d: Date) -> Result<(), RuleViolation> {
        if self.last_named(id).is_none_or(|last| last >= d) {
            return Ok(());
        }
        match self.kind_of(id) {
            Some(EntityKind::Locality) => self.locality_mut(id)?.last_named = d,
            Some(EntityKind::Organization) => self.org_mut(id)?.last_named = d,
            Some(EntityKind::Person) => self.person_mut(id)?.last_named = d,
            Some(EntityKind::Instrument) => self.instrument_mut(id)?.last_named = d,
            Some(EntityKind::Resolution) | None => {}
        }
        Ok(())
    }

    fn check_id_unused(&self, id: &Id) -> Result<(), RuleViolation> {
        match self.kind_of(id) {
            Some(kind) => Err(violation("id_in_use", format!("id {id} is already used by a {kind:?}"))),
            None => Ok(()),
        }
    }

    fn active_locality(&self, id: &Id, d: Date, role: &str) -> Result<&Locality, RuleViolation> {
        let l = self
            .locality(id)
            .ok_or_else(|| violation("locality_unknown", format!("{role} {id} is not a registered locality")))?;
        if l.registered > d {
            return Err(violation(
                "locality_not_yet_registered",
                format!("{role} {id} is registered only from {}", l.registered),
            ));
        }
        Ok(l)
    }

    fn active_org(&self, id: &Id, d: Date, role: &str) -> Result<&Organization, RuleViolation> {
        let o = self.organization(id).ok_or_else(|| {
            violation(
                "organization_unknown",
                format!("{role} {id} is not a founded organization"),
            )
        })?;
        if o.founded > d {
            return Err(violation(
                "organization_not_yet_founded",
                format!("{role} {id} is founded only on {}", o.founded),
            ));
        }
        Ok(o)
    }

    fn active_cell(&self, id: &Id, d: Date, role: &str) -> Result<&Organization, RuleViolation> {
        let o = self.active_org(id, d, role)?;
        if o.kind != OrgKind::Cell {
            return Err(violation(
                "not_a_cell",
                format!("{role} {id} is a {}, not a cell", o.kind.as_str()),
            ));
        }
        Ok(o)
    }

    fn active_member(&self, id: &Id, d: Date, role: &str) -> Result<&Membership, RuleViolation> {
        let m = self
            .person(id)
            .and_then(|p| p.membership.as_ref())
            .ok_or_else(|| violation("member_unknown", format!("{role} {id} is not a party member")))?;
        if m.admitted > d {
            return Err(violation(
                "member_not_yet_admitted",
                format!("{role} {id} is admitted only on {}", m.admitted),
            ));
        }
        Ok(m)
    }

    // The entities an event changes are copied into the draft on their first change. Each
    // was found by a check before it is changed, so the errors below are never seen; they
    // are values all the same (with the rule a missing entity would break), so that no
    // path of the rules can panic the writer.

    fn person_mut(&mut self, id: &Id) -> Result<&mut Person, RuleViolation> {
        let base = self.base_person(id);
        drafted(&mut self.people, id, base, || {
            violation("member_unknown", format!("{id} is not a party member"))
        })
    }

    fn member_mut(&mut self, id: &Id) -> Result<&mut Membership, RuleViolation> {
        self.person_mut(id)?
            .membership
            .as_mut()
            .ok_or_else(|| violation("member_unknown", format!("{id} is not a party member")))
    }

    fn org_mut(&mut self, id: &Id) -> Result<&mut Organization, RuleViolation> {
        let base = self.noted(id, self.base.organization(id));
        drafted(&mut self.orgs, id, base, || {
            violation("organization_unknown", format!("{id} is not a founded organization"))
        })
    }

    fn locality_mut(&mut self, id: &Id) -> Result<&mut Locality, RuleViolation> {
        let base = self.noted(id, self.base.locality(id));
        drafted(&mut self.localities, id, base, || {
            violation("locality_unknown", format!("{id} is not a registered locality"))
        })
    }

    fn instrument_mut(&mut self, id: &Id) -> Result<&mut Instrument, RuleViolation> {
        let base = self.noted(id, self.base.instrument(id));
        drafted(&mut self.instruments, id, base, || {
            violation("instrument_unknown", format!("{id} is not an issued instrument"))
        })
    }

    /// The assessment of `person` under `programme`, to change.
    fn assessment_mut(&mut self, person: &Id, programme: &Id) -> Result<&mut Assessment, RuleViolation> {
        self.person_mut(person)?
            .assessments
            .iter_mut()
            .find(|a| &a.programme == programme)
            .ok_or_else(|| violation("not_assessed", format!("{person} has no assessment under {programme}")))
    }

    fn check_locality_parent(&self, kind: LocalityKind, parent: Option<&Id>, d: Date) -> Result<(), RuleViolation> {
        use LocalityKind::*;
        let expected = match kind {
            Province => None,
            District => Some(Province),
            Commune => Some(District),
            Hamlet | ResidentialGroup => Some(Commune),
        };
        match (expected, parent) {
            (None, None) => Ok(()),
            (None, Some(p)) => Err(violation(
                "parent_kind",
                format!("a province has no parent locality (got {p})"),
            )),
            (Some(want), None) => Err(violation(
                "parent_required",
                format!("a {} needs a parent {}", kind.as_str(), want.as_str()),
            )),
            (Some(want), Some(p)) => {
                let parent = self.active_locality(p, d, "parent")?;
                if parent.kind != want {
                    return Err(violation(
                        "parent_kind",
                        format!(
                            "the parent of a {} must be a {}, and {p} is a {}",
                            kind.as_str(),
                            want.as_str(),
                            parent.kind.as_str()
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    fn check_org_parent(&self, kind: OrgKind, parent: Option<&Id>, d: Date) -> Result<(), RuleViolation> {
        use OrgKind::*;
        let allowed: &[OrgKind] = match kind {
            ProvincialCommittee => &[],
            DistrictCommittee => &[ProvincialCommittee],
            GrassrootsCommittee => &[DistrictCommittee],
            BorderPostCommittee => &[ProvincialCommittee, DistrictCommittee],
            Cell => &[GrassrootsCommittee, BorderPostCommittee],
        };
        let names = || allowed.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" or ");
        match parent {
            None if allowed.is_empty() => Ok(()),
            None => Err(violation(
                "parent_required",
                format!("a {} needs a parent {}", kind.as_str(), names()),
            )),
            Some(p) if allowed.is_empty() => Err(violation(
                "parent_kind",
                format!("a {} has no parent organization (got {p})", kind.as_str()),
            )),
            Some(p) => {
                let parent = self.active_org(p, d, "parent")?;
                if !allowed.contains(&parent.kind) {
                    return Err(violation(
                        "parent_kind",
                        format!(
                            "the parent of a {} must be a {}, and {p} is a {}",
                            kind.as_str(),
                            names(),
                            parent.kind.as_str()
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    fn assessment(&self, person: &Id, programme: &Id) -> Result<&Assessment, RuleViolation> {
        self.person(person)
            .and_then(|p| p.assessments.iter().find(|a| &a.programme == programme))
            .ok_or_else(|| violation("not_assessed", format!("{person} has no assessment under {programme}")))
    }

    fn check_below_standard_open(&self, person: &Id, programme: &Id) -> Result<&Assessment, RuleViolation> {
        let a = self.assessment(person, programme)?;
        if a.gaps.is_empty() {
            return Err(violation(
                "meets_standard",
                format!("{person} met the standard of {programme} when assessed"),
            ));
        }
        if let Some(outcome) = a.outcome {
            return Err(violation(
                "standard_already_settled",
                format!("{person} is already {outcome:?} under {programme}"),
            ));
        }
        Ok(a)
    }

    fn active_programme(&self, id: &Id, d: Date) -> Result<&Instrument, RuleViolation> {
        let i = self.instrument(id).ok_or_else(|| {
            violation(
                "instrument_unknown",
                format!("programme {id} is not an issued instrument"),
            )
        })?;
        if i.issued > d {
            return Err(violation(
                "instrument_not_yet_issued",
                format!("programme {id} is issued only on {}", i.issued),
            ));
        }
        Ok(i)
    }

    /// Checks the event's own rules and folds it. Called after the ordering rules pass.
    fn check_and_fold(&mut self, event: &Event, d: Date) -> Result<(), RuleViolation> {
        use Event::*;
        match event {
            LocalityRegistered(e) => {
                self.check_id_unused(&e.locality)?;
                self.check_locality_parent(e.kind, e.parent.as_ref(), d)?;
                if let Some(p) = &e.parent {
                    self.locality_mut(p)?.active_children += 1;
                }
                self.kinds.insert(e.locality.clone(), EntityKind::Locality);
                self.localities.insert(
                    e.locality.clone(),
                    Locality {
                        name: e.name.clone(),
                        kind: e.kind,
                        parent: e.parent.clone(),
                        border: e.border,
                        registered: d,
                        retired: None,
                        active_children: 0,
                        last_named: d,
                    },
                );
            }
            LocalityChanged(e) => {
                let l = self.active_locality(&e.locality, d, "locality")?;
                let kind = l.kind;
                let old_parent = l.parent.clone();
                if e.name.is_none() && e.parent.is_none() && e.border.is_none() {
                    return Err(violation(
                        "nothing_changed",
                        format!("the change of {} must set name, parent or border", e.locality),
                    ));
                }
                if let Some(p) = &e.parent {
                    if p == &e.locality {
                        return Err(violation(
                            "parent_kind",
                            format!("{} cannot be its own parent", e.locality),
                        ));
                    }
                    self.check_locality_parent(kind, Some(p), d)?;
                }
                if let (Some(new), Some(old)) = (&e.parent, &old_parent) {
                    if new != old {
                        self.locality_mut(old)?.active_children -= 1;
                        self.locality_mut(new)?.active_children += 1;
                    }
                }
                let l = self.locality_mut(&e.locality)?;
                if let Some(n) = &e.name {
                    l.name = n.clone();
                }
                if let Some(p) = &e.parent {
                    l.parent = Some(p.clone());
                }
                if let Some(b) = e.border {
                    l.border = b;
                }
            }
            LocalityRetired(e) => {
                let l = self.active_locality(&e.locality, d, "locality")?;
                if l.active_children > 0 {
                    return Err(violation(
                        "locality_has_children",
                        format!(
                            "{} still has {} active localities under it",
                            e.locality, l.active_children
                        ),
                    ));
                }
                let (kind, parent) = (l.kind, l.parent.clone());
                if let Some(m) = &e.merged_into {
                    if m == &e.locality {
                        return Err(violation(
                            "merge_target",
                            format!("{} cannot be merged into itself", e.locality),
                        ));
                    }
                    let target = self.active_locality(m, d, "merged_into")?;
                    if target.kind != kind {
                        return Err(violation(
                            "merge_target",
                            format!("{m} is a {}, not a {}", target.kind.as_str(), kind.as_str()),
                        ));
                    }
                }
                if let Some(p) = parent {
                    self.locality_mut(&p)?.active_children -= 1;
                }
                self.locality_mut(&e.locality)?.retired = Some(d);
            }
            OrganizationFounded(e) => {
                self.check_id_unused(&e.org)?;
                self.check_org_parent(e.kind, e.parent.as_ref(), d)?;
                for (i, l) in e.localities.iter().enumerate() {
                    self.active_locality(l, d, "locality")?;
                    if e.localities[..i].contains(l) {
                        return Err(violation("duplicate_locality", format!("locality {l} is listed twice")));
                    }
                }
                if let Some(p) = &e.parent {
                    self.org_mut(p)?.active_children += 1;
                }
                self.kinds.insert(e.org.clone(), EntityKind::Organization);
                self.orgs.insert(
                    e.org.clone(),
                    Organization {
                        name: e.name.clone(),
                        kind: e.kind,
                        parent: e.parent.clone(),
                        localities: e.localities.clone(),
                        founded: d,
                        dissolved: None,
                        members: 0,
                        hosted: Vec::new(),
                        active_children: 0,
                        supervisors: Vec::new(),
                        rated_years: Vec::new(),
                        last_named: d,
                    },
                );
            }
            OrganizationRenamed(e) => {
                self.active_org(&e.org, d, "org")?;
                self.org_mut(&e.org)?.name = e.name.clone();
            }
            OrganizationDissolved(e) => {
                let o = self.active_org(&e.org, d, "org")?;
                let hosted = o
                    .hosted
                    .iter()
                    .filter(|(_, until)| until.is_none_or(|u| u >= d))
                    .count();
                if o.members > 0 || hosted > 0 {
                    return Err(violation(
                        "organization_has_members",
                        format!(
                            "{} still has {} members and {hosted} on temporary activity",
                            e.org, o.members
                        ),
                    ));
                }
                if o.active_children > 0 {
                    return Err(violation(
                        "organization_has_children",
                        format!(
                            "{} still has {} active organizations under it",
                            e.org, o.active_children
                        ),
                    ));
                }
                let (kind, parent) = (o.kind, o.parent.clone());
                if let Some(m) = &e.merged_into {
                    if m == &e.org {
                        return Err(violation(
                            "merge_target",
                            format!("{} cannot be merged into itself", e.org),
                        ));
                    }
                    let target = self.active_org(m, d, "merged_into")?;
                    if target.kind != kind {
                        return Err(violation(
                            "merge_target",
                            format!("{m} is a {}, not a {}", target.kind.as_str(), kind.as_str()),
                        ));
                    }
                }
                if let Some(p) = parent {
                    self.org_mut(&p)?.active_children -= 1;
                }
                // Whoever is still listed here had a temporary activity that ran out (a running
                // one refuses the dissolution above). Forget it on both sides: a member whose
                // host is a dissolved cell would otherwise be refused every later event that
                // names their host (`entity_ended`), even their death.
                let lapsed = std::mem::take(&mut self.org_mut(&e.org)?.hosted);
                for (member, _) in lapsed {
                    let m = self.member_mut(&member)?;
                    if m.temporary.as_ref().is_some_and(|(host, _)| host == &e.org) {
                        m.temporary = None;
                    }
                }
                self.org_mut(&e.org)?.dissolved = Some(d);
            }
            BackgroundVerified(e) => {
                match self.kind_of(&e.person) {
                    None | Some(EntityKind::Person) => {}
                    Some(kind) => {
                        return Err(violation(
                            "id_in_use",
                            format!("id {} is already used by a {kind:?}", e.person),
                        ))
                    }
                }
                if self.person(&e.person).is_some_and(|p| p.membership.is_some()) {
                    return Err(violation(
                        "already_member",
                        format!("{} is already a party member", e.person),
                    ));
                }
                self.kinds.insert(e.person.clone(), EntityKind::Person);
                // A person may be verified again (a second verification replaces the first).
                let base = self.base_person(&e.person);
                let p = self
                    .people
                    .entry(e.person.clone())
                    .or_insert_with(|| base.cloned().unwrap_or_else(|| Person::new(d)));
                p.verification = Some((e.outcome, d));
            }
            MemberAdmitted(e) => {
                let person = self.person(&e.member);
                if person.is_some_and(|p| p.membership.is_some()) {
                    return Err(violation(
                        "already_member",
                        format!("{} is already a party member", e.member),
                    ));
                }
                if self.kind_of(&e.member).is_some_and(|k| k != EntityKind::Person) {
                    self.check_id_unused(&e.member)?;
                }
                match person.and_then(|p| p.verification) {
                    Some((VerificationOutcome::Cleared, _)) => {}
                    Some((VerificationOutcome::Refused, when)) => {
                        return Err(violation(
                            "background_not_cleared",
                            format!(
                                "the background verification of {} concluded {when} with outcome refused",
                                e.member
                            ),
                        ))
                    }
                    None => {
                        return Err(violation(
                            "background_not_cleared",
                            format!("{} has no BackgroundVerified with outcome cleared", e.member),
                        ))
                    }
                }
                let age = d.years_since(e.birth_date);
                if !(MIN_ADMISSION_AGE..=MAX_ADMISSION_AGE).contains(&age) {
                    return Err(violation(
                        "admission_age",
                        format!("{} is {age} on {d}; members are admitted from {MIN_ADMISSION_AGE} to {MAX_ADMISSION_AGE} years of age", e.member),
                    ));
                }
                self.active_cell(&e.org, d, "org")?;
                self.active_locality(&e.home_locality, d, "home_locality")?;
                for (i, intro) in e.introducers.iter().flatten().enumerate() {
                    if intro == &e.member {
                        return Err(violation(
                            "introducer",
                            format!("{} cannot introduce themself", e.member),
                        ));
                    }
                    let m = self.active_member(intro, d, "introducer")?;
                    if m.officialized.is_none_or(|o| o > d) {
                        return Err(violation(
                            "introducer",
                            format!("introducer {intro} is not an official member on {d}"),
                        ));
                    }
                    if e.introducers.iter().flatten().take(i).any(|x| x == intro) {
                        return Err(violation("introducer", format!("introducer {intro} is listed twice")));
                    }
                }
                self.org_mut(&e.org)?.members += 1;
                self.person_mut(&e.member)?.membership = Some(Membership {
                    name: e.name.clone(),
                    sex: e.sex,
                    birth_date: e.birth_date,
                    home_locality: e.home_locality.clone(),
                    org: e.org.clone(),
                    admitted: d,
                    status: MemberStatus::Probationary,
                    officialized: None,
                    ended: None,
                    temporary: None,
                    exempted: false,
                });
            }
            MemberOfficialized(e) => {
                let m = self.active_member(&e.member, d, "member")?;
                if m.status != MemberStatus::Probationary {
                    return Err(violation(
                        "not_probationary",
                        format!("{} is already an official member", e.member),
                    ));
                }
                let due = m.admitted.plus_months(PROBATION_MONTHS);
                if d < due {
                    return Err(violation(
                        "probation_12_months",
                        format!(
                            "{} was admitted on {}; officialization is possible from {due}",
                            e.member, m.admitted
                        ),
                    ));
                }
                let m = self.member_mut(&e.member)?;
                m.status = MemberStatus::Official;
                m.officialized = Some(d);
            }
            MemberTransferred(e) => {
                let m = self.active_member(&e.member, d, "member")?;
                let from = m.org.clone();
                if from == e.to_org {
                    return Err(violation(
                        "transfer_same_org",
                        format!("{} is already a member of {}", e.member, e.to_org),
                    ));
                }
                if m.temporary
                    .as_ref()
                    .is_some_and(|(h, until)| h == &e.to_org && until.is_none_or(|u| u >= d))
                {
                    return Err(violation(
                        "transfer_to_host",
                        format!(
                            "{} is on temporary activity at {}; end it before transferring there",
                            e.member, e.to_org
                        ),
                    ));
                }
                self.active_cell(&e.to_org, d, "to_org")?;
                if let Some(l) = &e.home_locality {
                    self.active_locality(l, d, "home_locality")?;
                }
                self.org_mut(&from)?.members -= 1;
                self.org_mut(&e.to_org)?.members += 1;
                let m = self.member_mut(&e.member)?;
                m.org = e.to_org.clone();
                if let Some(l) = &e.home_locality {
                    m.home_locality = l.clone();
                }
            }
            TemporaryActivityStarted(e) => {
                let m = self.active_member(&e.member, d, "member")?;
                if let Some((host, until)) = &m.temporary {
                    if until.is_none_or(|u| u >= d) {
                        return Err(violation(
                            "temporary_activity_open",
                            format!("{} is already on temporary activity at {host}", e.member),
                        ));
                    }
                }
                if m.org == e.host_org {
                    return Err(violation(
                        "host_is_home",
                        format!("{} is the home organization of {}", e.host_org, e.member),
                    ));
                }
                let previous = m.temporary.as_ref().map(|(h, _)| h.clone());
                self.active_cell(&e.host_org, d, "host_org")?;
                if let Some(u) = e.until {
                    if u <= d {
                        return Err(violation(
                            "until_before_start",
                            format!("until {u} is not after the start {d}"),
                        ));
                    }
                }
                if let Some(prev) = previous {
                    let member = e.member.clone();
                    self.org_mut(&prev)?.hosted.retain(|(m, _)| m != &member);
                }
                self.org_mut(&e.host_org)?.hosted.push((e.member.clone(), e.until));
                self.member_mut(&e.member)?.temporary = Some((e.host_org.clone(), e.until));
            }
            TemporaryActivityEnded(e) => {
                let m = self.active_member(&e.member, d, "member")?;
                if m.temporary.as_ref().is_none_or(|(h, _)| h != &e.host_org) {
                    return Err(violation(
                        "no_temporary_activity",
                        format!("{} is not on temporary activity at {}", e.member, e.host_org),
                    ));
                }
                let member = e.member.clone();
                self.org_mut(&e.host_org)?.hosted.retain(|(m, _)| m != &member);
                self.member_mut(&e.member)?.temporary = None;
            }
            MemberExempted(e) => {
                let m = self.active_member(&e.member, d, "member")?;
                if m.exempted {
                    return Err(violation(
                        "already_exempted",
                        format!("{} is already exempted", e.member),
                    ));
                }
                self.member_mut(&e.member)?.exempted = true;
            }
            ExemptionRevoked(e) => {
                let m = self.active_member(&e.member, d, "member")?;
                if !m.exempted {
                    return Err(violation("not_exempted", format!("{} is not exempted", e.member)));
                }
                self.member_mut(&e.member)?.exempted = false;
            }
            MemberDisciplined(e) => {
                let m = self.active_member(&e.member, d, "member")?;
                if m.status == MemberStatus::Probationary
                    && !matches!(e.form, DisciplineForm::Reprimand | DisciplineForm::Warning)
                {
                    return Err(violation(
                        "probationary_discipline",
                        format!(
                            "{} is probationary and can only be reprimanded or warned, not given {}",
                            e.member,
                            e.form.as_str()
                        ),
                    ));
                }
            }
            MembershipEnded(e) => {
                let m = self.active_member(&e.member, d, "member")?;
                let (org, temporary) = (m.org.clone(), m.temporary.clone());
                self.org_mut(&org)?.members -= 1;
                if let Some((host, _)) = temporary {
                    let member = e.member.clone();
                    self.org_mut(&host)?.hosted.retain(|(m, _)| m != &member);
                }
                let supervising = std::mem::take(&mut self.person_mut(&e.member)?.supervising);
                for cell in supervising {
                    let member = e.member.clone();
                    self.org_mut(&cell)?.supervisors.retain(|m| m != &member);
                }
                self.person_mut(&e.member)?.positions.clear();
                let m = self.member_mut(&e.member)?;
                m.ended = Some((d, e.reason));
                m.temporary = None;
            }
            ProfileCorrected(e) => {
                self.active_member(&e.subject, d, "subject")?;
                let value = e.value.as_str();
                let bad = |what: String| {
                    violation(
                        "correction_value",
                        format!("{} cannot be {value:?}: {what}", e.field.as_str()),
                    )
                };
                match e.field {
                    ProfileField::Name => {
                        self.member_mut(&e.subject)?.name = e.value.clone();
                    }
                    ProfileField::Sex => {
                        let sex = match value {
                            "female" => Sex::Female,
                            "male" => Sex::Male,
                            _ => return Err(bad("expected female or male".into())),
                        };
                        self.member_mut(&e.subject)?.sex = sex;
                    }
                    ProfileField::BirthDate => {
                        let date = Date::parse(value).map_err(bad)?;
                        self.member_mut(&e.subject)?.birth_date = date;
                    }
                    ProfileField::HomeLocality => {
                        let id = Id::parse(value).map_err(bad)?;
                        self.active_locality(&id, d, "home_locality")?;
                        self.member_mut(&e.subject)?.home_locality = id;
                    }
                }
            }
            InstrumentIssued(e) => {
                self.check_id_unused(&e.instrument)?;
                if let (Some(s), Some(end)) = (e.starts, e.ends) {
                    if end < s {
                        return Err(violation(
                            "instrument_period",
                            format!("ends {end} is before starts {s}"),
                        ));
                    }
                }
                self.kinds.insert(e.instrument.clone(), EntityKind::Instrument);
                self.instruments.insert(
                    e.instrument.clone(),
                    Instrument {
                        kind: e.kind,
                        issued: d,
                        starts: e.starts,
                        ends: e.ends,
                        last_named: d,
                    },
                );
            }
            PositionAssigned(e) => {
                self.active_member(&e.person, d, "person")?;
                self.active_org(&e.org, d, "org")?;
                let key = (e.org.clone(), e.position.clone());
                if self.person(&e.person).is_some_and(|p| p.positions.contains(&key)) {
                    return Err(violation(
                        "position_held",
                        format!("{} already holds {} in {}", e.person, e.position, e.org),
                    ));
                }
                self.person_mut(&e.person)?.positions.push(key);
            }
            PositionEnded(e) => {
                self.active_member(&e.person, d, "person")?;
                let key = (e.org.clone(), e.position.clone());
                if !self.person(&e.person).is_some_and(|p| p.positions.contains(&key)) {
                    return Err(violation(
                        "position_not_held",
                        format!("{} does not hold {} in {}", e.person, e.position, e.org),
                    ));
                }
                self.person_mut(&e.person)?.positions.retain(|k| k != &key);
            }
            CadrePlanned(e) => {
                self.active_member(&e.person, d, "person")?;
                self.active_org(&e.org, d, "org")?;
                if self.person(&e.person).is_some_and(|p| p.plans.contains(&e.term)) {
                    return Err(violation(
                        "already_planned",
                        format!("{} is already planned for term {}", e.person, e.term),
                    ));
                }
                self.person_mut(&e.person)?.plans.push(e.term.clone());
            }
            CadreUnplanned(e) => {
                if !self.person(&e.person).is_some_and(|p| p.plans.contains(&e.term)) {
                    return Err(violation(
                        "not_planned",
                        format!("{} is not planned for term {}", e.person, e.term),
                    ));
                }
                self.person_mut(&e.person)?.plans.retain(|t| t != &e.term);
            }
            CadreAssessed(e) => {
                self.active_member(&e.person, d, "person")?;
                self.active_programme(&e.programme, d)?;
                if e.meets_standard != e.gaps.is_empty() {
                    return Err(violation(
                        "gaps_match_standard",
                        format!(
                            "the assessment of {}: meets_standard must be true exactly when gaps is empty",
                            e.person
                        ),
                    ));
                }
                let mut gaps = e.gaps.clone();
                gaps.sort();
                gaps.dedup();
                if gaps.len() != e.gaps.len() {
                    return Err(violation(
                        "duplicate_gap",
                        format!("a gap of {} is listed twice", e.person),
                    ));
                }
                if let Ok(a) = self.assessment(&e.person, &e.programme) {
                    if a.outcome.is_some() {
                        return Err(violation(
                            "standard_already_settled",
                            format!("{} is already settled under {}", e.person, e.programme),
                        ));
                    }
                }
                let p = self.person_mut(&e.person)?;
                p.assessments.retain(|a| a.programme != e.programme);
                p.assessments.push(Assessment {
                    programme: e.programme.clone(),
                    gaps,
                    closed: Vec::new(),
                    outcome: None,
                });
            }
            TrainingCompleted(e) => {
                self.active_member(&e.person, d, "person")?;
                if let Some(prog) = &e.programme {
                    self.active_programme(prog, d)?;
                    let a = self.check_below_standard_open(&e.person, prog)?;
                    if !a.gaps.contains(&e.dimension) {
                        return Err(violation(
                            "no_such_gap",
                            format!("{} has no {} gap under {prog}", e.person, e.dimension.as_str()),
                        ));
                    }
                    let a = self.assessment_mut(&e.person, prog)?;
                    if !a.closed.contains(&e.dimension) {
                        a.closed.push(e.dimension);
                    }
                }
            }
            CadreStandardized(e) => {
                self.active_member(&e.person, d, "person")?;
                self.active_programme(&e.programme, d)?;
                let a = self.check_below_standard_open(&e.person, &e.programme)?;
                let open: Vec<&str> = a
                    .gaps
                    .iter()
                    .filter(|g| !a.closed.contains(g))
                    .map(|g| g.as_str())
                    .collect();
                if !open.is_empty() {
                    return Err(violation(
                        "gaps_open",
                        format!(
                            "{} still has open gaps under {}: {}",
                            e.person,
                            e.programme,
                            open.join(", ")
                        ),
                    ));
                }
                self.set_outcome(&e.person, &e.programme, StandardOutcome::Standardized)?;
            }
            CadreRetiredUnderPolicy(e) => {
                self.active_member(&e.person, d, "person")?;
                self.active_programme(&e.programme, d)?;
                self.check_below_standard_open(&e.person, &e.programme)?;
                self.set_outcome(&e.person, &e.programme, StandardOutcome::RetiredUnderPolicy)?;
            }
            SupervisorAssigned(e) => {
                self.active_member(&e.member, d, "member")?;
                let cell = self.active_cell(&e.cell, d, "cell")?;
                if cell.supervisors.contains(&e.member) {
                    return Err(violation(
                        "supervisor_assigned",
                        format!("{} already supervises {}", e.member, e.cell),
                    ));
                }
                self.org_mut(&e.cell)?.supervisors.push(e.member.clone());
                self.person_mut(&e.member)?.supervising.push(e.cell.clone());
            }
            SupervisorReleased(e) => {
                let cell = self.active_cell(&e.cell, d, "cell")?;
                if !cell.supervisors.contains(&e.member) {
                    return Err(violation(
                        "not_supervisor",
                        format!("{} does not supervise {}", e.member, e.cell),
                    ));
                }
                let member = e.member.clone();
                self.org_mut(&e.cell)?.supervisors.retain(|m| m != &member);
                let cell_id = e.cell.clone();
                self.person_mut(&e.member)?.supervising.retain(|c| c != &cell_id);
            }
            CellMeetingHeld(e) => {
                let cell = self.active_cell(&e.cell, d, "cell")?;
                let hosted = cell
                    .hosted
                    .iter()
                    .filter(|(_, until)| until.is_none_or(|u| u >= d))
                    .count() as u32;
                let present_possible = cell.members + hosted;
                if e.attendance > present_possible {
                    return Err(violation(
                        "attendance_exceeds_members",
                        format!(
                            "attendance {} is more than the {present_possible} members of {}",
                            e.attendance, e.cell
                        ),
                    ));
                }
                if e.supervisor_present == Some(true) && cell.supervisors.is_empty() {
                    return Err(violation(
                        "no_supervisor",
                        format!("{} has no committee member in charge to be present", e.cell),
                    ));
                }
            }
            ResolutionAdopted(e) => {
                self.active_cell(&e.cell, d, "cell")?;
                self.check_id_unused(&e.resolution)?;
                self.kinds.insert(e.resolution.clone(), EntityKind::Resolution);
            }
            QualityRated(e) => {
                if e.year > d.year() || e.year < MIN_YEAR {
                    return Err(violation(
                        "rating_year",
                        format!("a rating for {} cannot be given on {d}", e.year),
                    ));
                }
                match self.kind_of(&e.subject) {
                    Some(EntityKind::Organization) => {
                        let o = self.active_org(&e.subject, d, "subject")?;
                        if o.rated_years.contains(&e.year) {
                            return Err(violation(
                                "already_rated",
                                format!("{} is already rated for {}", e.subject, e.year),
                            ));
                        }
                        self.org_mut(&e.subject)?.rated_years.push(e.year);
                    }
                    Some(EntityKind::Person) => {
                        self.active_member(&e.subject, d, "subject")?;
                        if self.person(&e.subject).is_some_and(|p| p.rated_years.contains(&e.year)) {
                            return Err(violation(
                                "already_rated",
                                format!("{} is already rated for {}", e.subject, e.year),
                            ));
                        }
                        self.person_mut(&e.subject)?.rated_years.push(e.year);
                    }
                    _ => {
                        return Err(violation(
                            "subject_unknown",
                            format!("{} is neither an organization nor a member", e.subject),
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    fn set_outcome(&mut self, person: &Id, programme: &Id, outcome: StandardOutcome) -> Result<(), RuleViolation> {
        self.assessment_mut(person, programme)?.outcome = Some(outcome);
        Ok(())
    }
}

impl Person {
    fn new(d: Date) -> Person {
        Person {
            verification: None,
            membership: None,
            positions: Vec::new(),
            plans: Vec::new(),
            assessments: Vec::new(),
            supervising: Vec::new(),
            rated_years: Vec::new(),
            last_named: d,
        }
    }
}

use crate::event::types::MIN_YEAR;
