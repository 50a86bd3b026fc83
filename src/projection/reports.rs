//! The reports of DOMAIN.md ("Reports the seed needs"), computed from the projection at an
//! [`At`]. Each report is a serializable boundary type: its JSON is the CLI's output, and
//! `graphql/reports.rs` serves the same fields, in the same order, as GraphQL objects (the
//! reports know nothing of GraphQL).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{At, MemberView, Outcome, Parts, Projection};
use crate::event::types::{MAX_YEAR, MIN_YEAR};
use crate::event::*;
use crate::rules::{HashMap, HashSet};

/// Cadres younger than this on the report date count as young in planning: the usual
/// threshold for grassroots cadre planning (HD 15-HD/BTCTW, 2012, on cadre planning).
pub const YOUNG_CADRE_AGE_LIMIT: i32 = 35;

/// Why a report cannot be given. Surfaces as CLI exit code 1 and GraphQL `BAD_USER_INPUT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("unknown {kind} {id:?} (as of seq {seq})")]
    Unknown { kind: &'static str, id: String, seq: u64 },
    #[error("seq {seq} is past the head of the ledger ({head})")]
    PastHead { seq: u64, head: u64 },
    #[error("{0}")]
    Invalid(String),
}

/// An id the projection does not know as of `seq`.
fn unknown(kind: &'static str, id: &Id, seq: u64) -> ReportError {
    ReportError::Unknown {
        kind,
        id: id.to_string(),
        seq,
    }
}

/// Panics if `p` was read without a part of `parts`: a report given a projection read for
/// another question would answer from empty maps.
fn reads(p: &Projection, parts: Parts) {
    let mut missing = p.missing();
    if !missing.contains(Parts::MEMBERS) {
        // The members' views hold their residences.
        missing -= Parts::RESIDENCE;
    }
    assert!(
        !missing.intersects(parts),
        "a report reads {parts:?}, and this projection was read without {:?}",
        missing & parts
    );
}

/// A locality named in a report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Named {
    pub id: String,
    pub name: String,
}

fn name_of_locality(p: &Projection, id: &Id, at: At) -> String {
    p.localities
        .get(id)
        .and_then(|l| l.name.at(at))
        .map(|n| n.to_string())
        .unwrap_or_default()
}

fn name_of_org(p: &Projection, id: &Id, at: At) -> String {
    p.orgs
        .get(id)
        .and_then(|o| o.name.at(at))
        .map(|n| n.to_string())
        .unwrap_or_default()
}

fn member_name(m: &MemberView, at: At) -> String {
    m.name.at(at).map(|n| n.to_string()).unwrap_or_default()
}

/// The commune a locality belongs to at `at` (itself if it is a commune).
pub(crate) fn commune_of(p: &Projection, id: &Id, at: At) -> Option<Id> {
    walk_to_commune(p, id, |l| l.parent.at(at)?.as_ref())
}

/// Walks up from `id` to its commune (itself if it is a commune), at most five steps, each
/// locality's parent the one `parent` gives. `None` where a locality is unknown or `parent`
/// gives none.
fn walk_to_commune<'p>(
    p: &'p Projection,
    id: &Id,
    mut parent: impl FnMut(&'p super::LocalityView) -> Option<&'p Id>,
) -> Option<Id> {
    let mut cur = id.clone();
    for _ in 0..5 {
        let l = p.localities.get(&cur)?;
        if l.kind == LocalityKind::Commune {
            return Some(cur);
        }
        cur = parent(l)?.clone();
    }
    None
}

/// [`commune_of`] for many questions at once: a report that asks it for every admission
/// (a million at 10,000,000 events) walks each home's way up once. Where the latest version
/// of each parent on the way is still open (neither ended nor corrected), it is the
/// version a question sees wherever it is visible: from the latest of their dates, as of the
/// latest of their `seq`s, the commune is the one those versions lead to. Elsewhere, and at
/// earlier points, the commune is worked out at the point asked, as [`commune_of`] does.
struct Communes<'p> {
    p: &'p Projection,
    /// Keyed by the id itself, not a reference: an id is compared where the table holds it
    /// (an id held inline), not in the member view that first named it.
    latest: HashMap<Id, Option<LatestCommune>>,
}

/// The commune a locality's latest, open parents lead to, and from where they all hold.
struct LatestCommune {
    commune: Option<Id>,
    from: Option<Date>,
    opened: u64,
}

impl<'p> Communes<'p> {
    fn new(p: &'p Projection) -> Communes<'p> {
        Communes {
            p,
            latest: HashMap::default(),
        }
    }

    fn of(&mut self, id: &Id, at: At) -> Option<Id> {
        let answer = |latest: &Option<LatestCommune>| match latest {
            Some(l) if l.opened <= at.seq && l.from.is_none_or(|from| from <= at.date) => l.commune.clone(),
            _ => commune_of(self.p, id, at),
        };
        if let Some(latest) = self.latest.get(id) {
            return answer(latest);
        }
        let latest = latest_commune(self.p, id);
        let commune = answer(&latest);
        self.latest.insert(id.clone(), latest);
        commune
    }
}

/// The commune `id`'s latest parents lead to, if each of them is open; `None` if one was
/// ended or corrected.
fn latest_commune(p: &Projection, id: &Id) -> Option<LatestCommune> {
    let (mut from, mut opened, mut open) = (None, 0, true);
    let commune = walk_to_commune(p, id, |l| {
        // A timeline's versions are kept in the order they were recorded, and a question
        // sees the last one visible to it.
        let span = l
            .parent
            .spans()
            .last()
            .filter(|s| s.until().is_none() && s.superseded.is_none());
        open = span.is_some();
        let span = span?;
        from = from.max(Some(span.from));
        opened = opened.max(span.opened);
        span.value.as_ref()
    });
    open.then_some(LatestCommune { commune, from, opened })
}

// ---------------------------------------------------------------------------------------
// coverage

#[derive(Debug, Clone, Serialize)]
pub struct CoverageCounts {
    pub localities: u64,
    pub with_member: u64,
    pub with_cell: u64,
    pub without_member: Vec<Named>,
    pub without_cell: Vec<Named>,
    pub temporary_only: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommuneCoverage {
    pub commune: String,
    pub name: String,
    #[serde(flatten)]
    pub counts: CoverageCounts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub date: Date,
    pub seq: u64,
    #[serde(flatten)]
    pub counts: CoverageCounts,
    pub communes: Vec<CommuneCoverage>,
}

impl CoverageCounts {
    fn empty() -> CoverageCounts {
        CoverageCounts {
            localities: 0,
            with_member: 0,
            with_cell: 0,
            without_member: vec![],
            without_cell: vec![],
            temporary_only: 0,
        }
    }

    fn add(&mut self, named: &Named, member: bool, cell: bool, temporary: bool) {
        self.localities += 1;
        if member {
            self.with_member += 1;
        } else {
            self.without_member.push(named.clone());
            if temporary {
                self.temporary_only += 1;
            }
        }
        if cell {
            self.with_cell += 1;
        } else {
            self.without_cell.push(named.clone());
        }
    }
}

/// The parts of the projection [`coverage`] reads.
pub const COVERAGE_READS: Parts = Parts::LOCALITIES.union(Parts::ORGS).union(Parts::RESIDENCE);

/// Coverage of hamlets and residential groups by resident members and by cells.
pub fn coverage(p: &Projection, at: At) -> Coverage {
    reads(p, COVERAGE_READS);
    // Sets asked only whether they hold an id: hashed, not ordered (a member's home is
    // looked up for every active member, millions at 10,000,000 events).
    let mut resident: HashSet<&Id> = HashSet::default();
    let mut hosts: HashSet<&Id> = HashSet::default();
    for m in p.residences() {
        if !m.active.holds(at) {
            continue;
        }
        if let Some(home) = m.home_locality.at(at) {
            resident.insert(home);
        }
        if let Some(host) = m.temporary_host(at) {
            hosts.insert(host);
        }
    }
    let mut celled: HashSet<&Id> = HashSet::default();
    let mut temporary: HashSet<&Id> = HashSet::default();
    for (id, o) in &p.orgs {
        if o.kind == OrgKind::Cell && o.alive.holds(at) {
            celled.extend(o.localities.iter());
            if hosts.contains(id) {
                temporary.extend(o.localities.iter());
            }
        }
    }
    let mut total = CoverageCounts::empty();
    let mut communes: BTreeMap<Id, CoverageCounts> = BTreeMap::new();
    for (id, l) in &p.localities {
        if !matches!(l.kind, LocalityKind::Hamlet | LocalityKind::ResidentialGroup) || !l.alive.holds(at) {
            continue;
        }
        let named = Named {
            id: id.to_string(),
            name: name_of_locality(p, id, at),
        };
        let (member, cell, temp) = (resident.contains(id), celled.contains(id), temporary.contains(id));
        total.add(&named, member, cell, temp);
        if let Some(c) = commune_of(p, id, at) {
            communes
                .entry(c)
                .or_insert_with(CoverageCounts::empty)
                .add(&named, member, cell, temp);
        }
    }
    let communes = communes
        .into_iter()
        .map(|(c, counts)| CommuneCoverage {
            name: name_of_locality(p, &c, at),
            commune: c.to_string(),
            counts,
        })
        .collect();
    Coverage {
        date: at.date,
        seq: at.seq,
        counts: total,
        communes,
    }
}

// ---------------------------------------------------------------------------------------
// temporary activity

#[derive(Debug, Clone, Serialize)]
pub struct TemporaryMember {
    pub member: String,
    pub name: String,
    pub home_org: String,
    pub home_org_name: String,
    pub from_border_post: bool,
    pub until: Option<Date>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemporaryHost {
    pub host: String,
    pub name: String,
    pub localities: Vec<Named>,
    pub members: Vec<TemporaryMember>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemporaryYear {
    pub year: i32,
    pub members: u64,
    pub from_border_posts: u64,
    pub hosts: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemporaryActivity {
    pub date: Date,
    pub seq: u64,
    pub members: u64,
    pub from_border_posts: u64,
    pub hosts: Vec<TemporaryHost>,
    /// The same counts at the end of each year up to `date` (the last row is counted on
    /// `date` itself when it falls inside the year): the story over time.
    pub years: Vec<TemporaryYear>,
}

pub(crate) fn is_border_post_org(p: &Projection, id: &Id) -> bool {
    let Some(o) = p.orgs.get(id) else { return false };
    o.kind == OrgKind::BorderPostCommittee
        || o.parent
            .as_ref()
            .and_then(|pid| p.orgs.get(pid))
            .is_some_and(|parent| parent.kind == OrgKind::BorderPostCommittee)
}

/// A member on temporary activity at `at`, with the home organization they come from.
fn temporary_member(p: &Projection, id: &Id, m: &MemberView, at: At) -> TemporaryMember {
    let home = m.org.at(at);
    TemporaryMember {
        member: id.to_string(),
        name: member_name(m, at),
        home_org: home.map(|h| h.to_string()).unwrap_or_default(),
        home_org_name: home.map(|h| name_of_org(p, h, at)).unwrap_or_default(),
        from_border_post: home.is_some_and(|h| is_border_post_org(p, h)),
        until: m.temporary.at(at).and_then(|(_, u)| *u),
    }
}

/// The parts of the projection [`temporary_activity`] reads.
pub const TEMPORARY_ACTIVITY_READS: Parts = Parts::LOCALITIES.union(Parts::ORGS).union(Parts::MEMBERS);

/// Members on temporary activity per host cell, with their home organizations.
pub fn temporary_activity(p: &Projection, at: At) -> TemporaryActivity {
    reads(p, TEMPORARY_ACTIVITY_READS);
    let mut hosts: BTreeMap<&Id, Vec<TemporaryMember>> = BTreeMap::new();
    for (id, m) in &p.members {
        if !m.active.holds(at) {
            continue;
        }
        let Some(host) = m.temporary_host(at) else {
            continue;
        };
        hosts.entry(host).or_default().push(temporary_member(p, id, m, at));
    }
    let members = hosts.values().map(|v| v.len() as u64).sum();
    let from_border_posts = hosts.values().flatten().filter(|m| m.from_border_post).count() as u64;
    let hosts = hosts
        .into_iter()
        .map(|(h, members)| TemporaryHost {
            host: h.to_string(),
            name: name_of_org(p, h, at),
            localities: p
                .orgs
                .get(h)
                .map(|o| {
                    o.localities
                        .iter()
                        .map(|l| Named {
                            id: l.to_string(),
                            name: name_of_locality(p, l, at),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            members,
        })
        .collect::<Vec<_>>();
    // Only members with an activity recorded by `at.seq` can count in any year (versions
    // are kept in `seq` order, so the first is the earliest recorded): the years below walk
    // them alone, not every member once a year. An activity recorded later must not add
    // years.
    let travellers: Vec<&MemberView> = p
        .members
        .values()
        .map(|m| &**m)
        .filter(|m| m.temporary.spans().first().is_some_and(|s| s.opened <= at.seq))
        .collect();
    let first_year = travellers
        .iter()
        .filter_map(|m| m.temporary.spans().first())
        .map(|s| s.from.year())
        .min();
    let mut years = Vec::new();
    if let Some(first) = first_year {
        for year in first..=at.date.year() {
            let end = Date::from_ymd(year, 12, 31).expect("a real date");
            let end = if end > at.date { at.date } else { end };
            let y_at = At { date: end, seq: at.seq };
            let mut y = TemporaryYear {
                year,
                members: 0,
                from_border_posts: 0,
                hosts: 0,
            };
            let mut hs = HashSet::default();
            for m in &travellers {
                if let Some(host) = m.temporary_host(y_at).filter(|_| m.active.holds(y_at)) {
                    y.members += 1;
                    hs.insert(host);
                    if m.org.at(y_at).is_some_and(|h| is_border_post_org(p, h)) {
                        y.from_border_posts += 1;
                    }
                }
            }
            y.hosts = hs.len() as u64;
            years.push(y);
        }
    }
    TemporaryActivity {
        date: at.date,
        seq: at.seq,
        members,
        from_border_posts,
        hosts,
        years,
    }
}

// ---------------------------------------------------------------------------------------
// admissions

#[derive(Debug, Clone, Serialize)]
pub struct CommuneAdmissions {
    pub commune: String,
    pub name: String,
    pub admitted: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct YearAdmissions {
    pub year: i32,
    pub admitted: u64,
    pub female: u64,
    pub male: u64,
    /// Background verifications concluded that year, refused ones, and those noting kin
    /// across the border.
    pub verified: u64,
    pub refused: u64,
    pub kin_abroad: u64,
    pub communes: Vec<CommuneAdmissions>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Admissions {
    pub seq: u64,
    pub years: Vec<YearAdmissions>,
}

/// The parts of the projection [`admissions`] reads.
pub const ADMISSIONS_READS: Parts = Parts::ADMISSIONS
    .union(Parts::VERIFICATIONS)
    .union(Parts::MEMBERS)
    .union(Parts::LOCALITIES);

/// Admissions per calendar year (of their effective date), by commune of the new member's
/// home locality and by sex, with the year's background verifications.
pub fn admissions(p: &Projection, at: At, from: Option<i32>, to: Option<i32>) -> Result<Admissions, ReportError> {
    reads(p, ADMISSIONS_READS);
    let seq = at.seq;
    for (flag, year) in [("--from-year", from), ("--to-year", to)] {
        if let Some(y) = year.filter(|y| !(MIN_YEAR..=MAX_YEAR).contains(y)) {
            return Err(ReportError::Invalid(format!(
                "{flag}: {y} is outside the years {MIN_YEAR} to {MAX_YEAR}"
            )));
        }
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ReportError::Invalid(format!("--from-year {f} is after --to-year {t}")));
        }
    }
    // Admissions effective by `at.date`, as the ledger stood at `at.seq`.
    let counted = |a: &&super::Admission| a.seq <= seq && a.date <= at.date;
    let known = p.admissions.iter().filter(counted).map(|a| a.date.year());
    let (Some(first), Some(last)) = (known.clone().min(), known.max()) else {
        return Ok(Admissions { seq, years: vec![] });
    };
    let (first, last) = (from.unwrap_or(first), to.unwrap_or(last).min(at.date.year()));
    // The admissions and verifications counted, by year, in one pass each (in log order
    // within a year), not one pass over the whole list for every year asked.
    let mut admitted_in: BTreeMap<i32, Vec<&super::Admission>> = BTreeMap::new();
    for a in p.admissions.iter().filter(counted) {
        admitted_in.entry(a.date.year()).or_default().push(a);
    }
    let mut verified_in: BTreeMap<i32, Vec<&super::Verification>> = BTreeMap::new();
    for v in p.verifications.iter().filter(|v| v.seq <= seq && v.date <= at.date) {
        verified_in.entry(v.date.year()).or_default().push(v);
    }
    let mut communes_of = Communes::new(p);
    let mut years = Vec::new();
    for year in first..=last {
        let end = At {
            date: Date::from_ymd(year, 12, 31).expect("a real date"),
            seq,
        };
        let mut y = YearAdmissions {
            year,
            admitted: 0,
            female: 0,
            male: 0,
            verified: 0,
            refused: 0,
            kin_abroad: 0,
            communes: vec![],
        };
        let mut communes: BTreeMap<Id, u64> = BTreeMap::new();
        for a in admitted_in.get(&year).into_iter().flatten() {
            y.admitted += 1;
            // Sex and home as the ledger stood at `seq` for the day of admission: a later
            // correction of either counts, as everywhere else.
            let on_admission = At { date: a.date, seq };
            let member = p.members.get(&a.member);
            let sex = member.and_then(|m| m.sex.at(on_admission)).copied().unwrap_or(a.sex);
            match sex {
                Sex::Female => y.female += 1,
                Sex::Male => y.male += 1,
            }
            let home = member
                .and_then(|m| m.home_locality.at(on_admission))
                .unwrap_or(&a.home_locality);
            if let Some(c) = communes_of.of(home, on_admission) {
                *communes.entry(c).or_default() += 1;
            }
        }
        for v in verified_in.get(&year).into_iter().flatten() {
            y.verified += 1;
            y.refused += (v.outcome == VerificationOutcome::Refused) as u64;
            y.kin_abroad += v.kin_abroad as u64;
        }
        y.communes = communes
            .into_iter()
            .map(|(c, n)| CommuneAdmissions {
                name: name_of_locality(p, &c, end),
                commune: c.to_string(),
                admitted: n,
            })
            .collect();
        years.push(y);
    }
    Ok(Admissions { seq, years })
}

// ---------------------------------------------------------------------------------------
// standardization

#[derive(Debug, Clone, Serialize)]
pub struct BelowStandard {
    pub person: String,
    pub name: String,
    pub gaps_open: Vec<&'static str>,
}

/// Open gaps per dimension of the standard, every dimension present (0 when none).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GapCounts {
    pub education: u64,
    pub political_theory: u64,
    pub professional: u64,
    pub state_management: u64,
}

impl GapCounts {
    fn add(&mut self, gap: StandardDimension) {
        use StandardDimension::*;
        *match gap {
            Education => &mut self.education,
            PoliticalTheory => &mut self.political_theory,
            Professional => &mut self.professional,
            StateManagement => &mut self.state_management,
        } += 1;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Standardization {
    pub programme: String,
    pub title: String,
    pub date: Date,
    pub seq: u64,
    pub starts: Option<Date>,
    pub ends: Option<Date>,
    /// Cadres assessed under the programme by `date`.
    pub assessed: u64,
    /// Cadres below standard on the programme's start date (its issue date if it has none);
    /// `null` when `date` is before the start, which is then still to come.
    pub below_standard_at_start: Option<u64>,
    /// Cadres below standard on `date`: assessed with gaps, neither standardized nor retired.
    pub below_standard: u64,
    pub standardized: u64,
    pub retired_under_policy: u64,
    /// Open gaps on `date`, per dimension.
    pub gaps_open: GapCounts,
    pub cadres_below_standard: Vec<BelowStandard>,
}

struct StandardCounts {
    assessed: u64,
    below: Vec<(Id, Vec<StandardDimension>)>,
    standardized: u64,
    retired: u64,
}

fn standard_counts(p: &Projection, programme: &Id, at: At) -> StandardCounts {
    let mut c = StandardCounts {
        assessed: 0,
        below: vec![],
        standardized: 0,
        retired: 0,
    };
    for (person, cadre) in &p.cadres {
        // The latest assessment recorded by `at.seq` and in force on `at.date`. A later
        // reassessment replaces an earlier one only from its own effective date: it is a new
        // fact, not a correction, so the earlier one still answers for the dates before it.
        let visible = cadre
            .assessments
            .iter()
            .rev()
            .find(|a| &a.programme == programme && a.seq <= at.seq && a.date <= at.date);
        let Some(a) = visible else { continue };
        c.assessed += 1;
        match a.outcome.filter(|(_, d, s)| *s <= at.seq && *d <= at.date) {
            Some((Outcome::Standardized, _, _)) => c.standardized += 1,
            Some((Outcome::RetiredUnderPolicy, _, _)) => c.retired += 1,
            // A cadre whose membership has ended by `at` (died, left) is no longer a cadre to
            // bring up to standard: not counted below it.
            None if !a.gaps.is_empty() && p.members.get(person).is_some_and(|m| m.active.holds(at)) => {
                let open = a
                    .gaps
                    .iter()
                    .filter(|g| {
                        !a.closed
                            .iter()
                            .any(|(cg, d, s)| cg == *g && *s <= at.seq && *d <= at.date)
                    })
                    .copied()
                    .collect();
                c.below.push((person.clone(), open));
            }
            None => {}
        }
    }
    c
}

/// The parts of the projection [`standardization`] reads.
pub const STANDARDIZATION_READS: Parts = Parts::INSTRUMENTS.union(Parts::CADRES).union(Parts::MEMBERS);

/// Cadres below standard under a programme, standardized and retired under policy, on a date.
pub fn standardization(p: &Projection, programme: &Id, at: At) -> Result<Standardization, ReportError> {
    reads(p, STANDARDIZATION_READS);
    let inst = p
        .instruments
        .get(programme)
        .filter(|i| i.issued.1 <= at.seq)
        .ok_or_else(|| unknown("programme", programme, at.seq))?;
    let start = inst.starts.unwrap_or(inst.issued.0);
    let at_start = standard_counts(
        p,
        programme,
        At {
            date: start,
            seq: at.seq,
        },
    );
    let now = standard_counts(p, programme, at);
    let mut gaps_open = GapCounts::default();
    for (_, open) in &now.below {
        for g in open {
            gaps_open.add(*g);
        }
    }
    let cadres_below_standard = now
        .below
        .iter()
        .map(|(id, open)| BelowStandard {
            person: id.to_string(),
            name: p.members.get(id).map(|m| member_name(m, at)).unwrap_or_default(),
            gaps_open: open.iter().map(|g| g.as_str()).collect(),
        })
        .collect();
    Ok(Standardization {
        programme: programme.to_string(),
        title: inst.title.to_string(),
        date: at.date,
        seq: at.seq,
        starts: inst.starts,
        ends: inst.ends,
        assessed: now.assessed,
        below_standard_at_start: (start <= at.date).then_some(at_start.below.len() as u64),
        below_standard: now.below.len() as u64,
        standardized: now.standardized,
        retired_under_policy: now.retired,
        gaps_open,
        cadres_below_standard,
    })
}

// ---------------------------------------------------------------------------------------
// meetings

#[derive(Debug, Clone, Serialize)]
pub struct WeakCellMeetings {
    pub cell: String,
    pub name: String,
    pub meetings: u64,
    pub supervisor_present: u64,
    /// The committee members in charge of the cell at its meetings.
    pub supervisors: Vec<Named>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Meetings {
    pub date: Date,
    pub seq: u64,
    pub year: Option<i32>,
    pub meetings: u64,
    pub regular: u64,
    pub thematic: u64,
    /// Meetings of cells whose latest rating on the meeting's date was `weak`.
    pub of_weak_cells: u64,
    /// ... of which the committee member in charge attended.
    pub weak_with_supervisor: u64,
    pub weak_cells: Vec<WeakCellMeetings>,
}

/// The parts of the projection [`meetings`] reads.
pub const MEETINGS_READS: Parts = Parts::MEETINGS.union(Parts::ORGS).union(Parts::MEMBERS);

/// Cell meetings up to `date` (or within `year`), and those of weak cells with the
/// supervising committee member present.
pub fn meetings(p: &Projection, at: At, year: Option<i32>) -> Result<Meetings, ReportError> {
    reads(p, MEETINGS_READS);
    if let Some(y) = year.filter(|y| !(MIN_YEAR..=MAX_YEAR).contains(y)) {
        return Err(ReportError::Invalid(format!(
            "--year: {y} is outside the years {MIN_YEAR} to {MAX_YEAR}"
        )));
    }
    let mut r = Meetings {
        date: at.date,
        seq: at.seq,
        year,
        meetings: 0,
        regular: 0,
        thematic: 0,
        of_weak_cells: 0,
        weak_with_supervisor: 0,
        weak_cells: vec![],
    };
    // Each cell met: its view, its ratings recorded by `at.seq` in (date, seq) order, and its
    // line of the weak cells once it has one; found once per cell rather than looked up
    // down the trees once per meeting (6,100,000 meetings at 10,000,000 events).
    struct Cell<'p> {
        view: &'p super::OrgView,
        /// Each rating's date and level, side by side: the search for a meeting's rating
        /// read each through a pointer, a cache miss a step (nine tenths of the report at
        /// 10,000,000 events).
        ratings: Vec<(Date, QualityLevel)>,
        weak: Option<WeakCellMeetings>,
    }
    // By the place of the cell's id among the cells that met: no id hashed and compared per
    // meeting.
    let mut cells: Vec<Option<Option<Cell>>> = Vec::new();
    cells.resize_with(p.meeting_cells.ids.len(), || None);
    // The supervisors' views, likewise.
    let mut supervisors: HashMap<&Id, Option<&MemberView>> = HashMap::default();
    for (m, place) in p
        .meetings()
        .zip(p.meetings.iter().map(|m| m.cell as usize))
        .filter(|(m, _)| m.seq <= at.seq && m.date <= at.date && year.is_none_or(|y| m.date.year() == y))
    {
        r.meetings += 1;
        match m.kind {
            MeetingKind::Regular => r.regular += 1,
            MeetingKind::Thematic => r.thematic += 1,
        }
        let found = cells[place].get_or_insert_with(|| {
            p.orgs.get(m.cell).map(|view| {
                let mut ratings: Vec<&super::Rating> = view.ratings.iter().filter(|x| x.seq <= at.seq).collect();
                ratings.sort_unstable_by_key(|x| (x.date, x.seq));
                Cell {
                    view,
                    ratings: ratings.into_iter().map(|x| (x.date, x.level)).collect(),
                    weak: None,
                }
            })
        });
        let Some(cell) = found else { continue };
        // The rating in force at the meeting: the latest dated on or before it.
        let rating = cell
            .ratings
            .partition_point(|(date, _)| *date <= m.date)
            .checked_sub(1)
            .map(|i| cell.ratings[i].1);
        if rating != Some(QualityLevel::Weak) {
            continue;
        }
        r.of_weak_cells += 1;
        let m_at = At {
            date: m.date,
            seq: at.seq,
        };
        let entry = cell.weak.get_or_insert_with(|| WeakCellMeetings {
            cell: m.cell.to_string(),
            name: name_of_org(p, m.cell, m_at),
            meetings: 0,
            supervisor_present: 0,
            supervisors: vec![],
        });
        entry.meetings += 1;
        if m.supervisor_present {
            r.weak_with_supervisor += 1;
            entry.supervisor_present += 1;
        }
        for sup in cell.view.supervisors.iter().filter(|s| s.visible(m_at)) {
            // Each (id, name) once: compared before anything is allocated for it.
            let name = supervisors
                .entry(&sup.value)
                .or_insert_with(|| p.members.get(&sup.value).map(|m| &**m))
                .and_then(|mv| mv.name.at(m_at))
                .map_or("", |n| n.as_str());
            if !entry
                .supervisors
                .iter()
                .any(|n| n.id == sup.value.as_str() && n.name == name)
            {
                entry.supervisors.push(Named {
                    id: sup.value.to_string(),
                    name: name.to_string(),
                });
            }
        }
    }
    // In the order of the cells' ids.
    let mut weak: Vec<(&Id, WeakCellMeetings)> = cells
        .into_iter()
        .zip(&p.meeting_cells.ids)
        .filter_map(|(cell, id)| Some((id, cell??.weak?)))
        .collect();
    weak.sort_unstable_by(|a, b| a.0.cmp(b.0));
    r.weak_cells = weak.into_iter().map(|(_, w)| w).collect();
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// resolutions

/// Resolutions per topic, every topic present (0 when none). Its fields are the topics'
/// names, in the order of a sorted map, so the JSON reads as one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TopicCounts {
    pub economy: u64,
    pub land_donation: u64,
    pub other: u64,
    pub party_building: u64,
    pub public_works: u64,
    pub rural_roads: u64,
    pub security: u64,
}

impl TopicCounts {
    fn add(&mut self, topic: ResolutionTopic) {
        use ResolutionTopic::*;
        *match topic {
            Economy => &mut self.economy,
            LandDonation => &mut self.land_donation,
            Other => &mut self.other,
            PartyBuilding => &mut self.party_building,
            PublicWorks => &mut self.public_works,
            RuralRoads => &mut self.rural_roads,
            Security => &mut self.security,
        } += 1;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CellResolutions {
    pub cell: String,
    pub name: String,
    pub total: u64,
    pub by_topic: TopicCounts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resolutions {
    pub date: Date,
    pub seq: u64,
    pub total: u64,
    /// District-wide counts per topic.
    pub by_topic: TopicCounts,
    pub cells: Vec<CellResolutions>,
}

/// The parts of the projection [`resolutions`] reads.
pub const RESOLUTIONS_READS: Parts = Parts::RESOLUTIONS.union(Parts::ORGS);

/// Cell resolutions by topic, per cell and for the whole ledger, adopted by `date`.
pub fn resolutions(p: &Projection, at: At) -> Resolutions {
    reads(p, RESOLUTIONS_READS);
    let mut r = Resolutions {
        date: at.date,
        seq: at.seq,
        total: 0,
        by_topic: TopicCounts::default(),
        cells: vec![],
    };
    let mut cells: BTreeMap<&Id, CellResolutions> = BTreeMap::new();
    for x in p.resolutions.iter().filter(|x| x.seq <= at.seq && x.date <= at.date) {
        r.total += 1;
        r.by_topic.add(x.topic);
        let c = cells.entry(&x.cell).or_insert_with(|| CellResolutions {
            cell: x.cell.to_string(),
            name: name_of_org(p, &x.cell, at),
            total: 0,
            by_topic: TopicCounts::default(),
        });
        c.total += 1;
        c.by_topic.add(x.topic);
    }
    r.cells = cells.into_values().collect();
    r
}

// ---------------------------------------------------------------------------------------
// planning

#[derive(Debug, Clone, Serialize)]
pub struct PlannedCadre {
    pub person: String,
    pub name: String,
    pub sex: &'static str,
    pub age: i32,
    pub position: String,
    pub org: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Planning {
    pub term: String,
    pub date: Date,
    pub seq: u64,
    pub planned: u64,
    pub women: u64,
    pub young: u64,
    /// Shares in percent, rounded to one decimal (0 when nobody is planned).
    pub women_share: f64,
    pub young_share: f64,
    pub young_age_limit: i32,
    pub cadres: Vec<PlannedCadre>,
}

/// A share in percent, rounded to one decimal (the rounding is done on integers, so the
/// number printed is exactly the tenths computed).
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    let tenths = (part * 1000 + whole / 2) / whole;
    tenths as f64 / 10.0
}

/// The parts of the projection [`planning`] reads.
pub const PLANNING_READS: Parts = Parts::CADRES.union(Parts::MEMBERS);

/// The cadre plan of a term on `date`, with the shares of women and of young cadres.
pub fn planning(p: &Projection, term: &Id, at: At) -> Result<Planning, ReportError> {
    reads(p, PLANNING_READS);
    // A term is known once some plan named it; an unknown one is an error, not an empty plan.
    let known = p
        .cadres
        .values()
        .flat_map(|c| c.plans.iter())
        .any(|s| &s.value.term == term && s.opened <= at.seq);
    if !known {
        return Err(unknown("term", term, at.seq));
    }
    let mut cadres = Vec::new();
    for (person, c) in &p.cadres {
        for plan in c.plans.iter().filter(|s| &s.value.term == term && s.visible(at)) {
            // A cadre whose membership has ended by `at` is no longer in anyone's plan.
            let Some(m) = p.members.get(person).filter(|m| m.active.holds(at)) else {
                continue;
            };
            let sex = m.sex.at(at).copied().unwrap_or(Sex::Male);
            let age = m.birth_date.at(at).map(|b| at.date.years_since(*b)).unwrap_or(0);
            cadres.push(PlannedCadre {
                person: person.to_string(),
                name: member_name(m, at),
                sex: sex.as_str(),
                age,
                position: plan.value.position.to_string(),
                org: plan.value.org.to_string(),
            });
        }
    }
    let planned = cadres.len() as u64;
    let women = cadres.iter().filter(|c| c.sex == "female").count() as u64;
    let young = cadres.iter().filter(|c| c.age < YOUNG_CADRE_AGE_LIMIT).count() as u64;
    Ok(Planning {
        term: term.to_string(),
        date: at.date,
        seq: at.seq,
        planned,
        women,
        young,
        women_share: percent(women, planned),
        young_share: percent(young, planned),
        young_age_limit: YOUNG_CADRE_AGE_LIMIT,
        cadres,
    })
}

// ---------------------------------------------------------------------------------------
// roster

#[derive(Debug, Clone, Serialize)]
pub struct RosterMember {
    pub member: String,
    pub name: String,
    pub sex: &'static str,
    pub status: &'static str,
    pub home_locality: String,
    pub admitted: Date,
    pub exempted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Roster {
    pub org: String,
    pub name: String,
    pub kind: &'static str,
    pub date: Date,
    pub seq: u64,
    pub active: bool,
    pub members: Vec<RosterMember>,
    /// Members of other organizations on temporary activity here: not counted as members.
    pub temporary: Vec<TemporaryMember>,
}

/// The parts of the projection [`roster`] reads.
pub const ROSTER_READS: Parts = Parts::ORGS.union(Parts::MEMBERS);

/// The members of an organization on `date`, with their status.
pub fn roster(p: &Projection, org: &Id, at: At) -> Result<Roster, ReportError> {
    reads(p, ROSTER_READS);
    let o = p
        .orgs
        .get(org)
        .filter(|o| o.founded.1 <= at.seq)
        .ok_or_else(|| unknown("organization", org, at.seq))?;
    let mut members = Vec::new();
    let mut temporary = Vec::new();
    for (id, m) in &p.members {
        if !m.active.holds(at) {
            continue;
        }
        if m.org.at(at) == Some(org) {
            members.push(RosterMember {
                member: id.to_string(),
                name: member_name(m, at),
                sex: m.sex.at(at).map(|s| s.as_str()).unwrap_or(""),
                status: m.status.at(at).map(|s| s.as_str()).unwrap_or(""),
                home_locality: m.home_locality.at(at).map(|h| h.to_string()).unwrap_or_default(),
                admitted: m.admitted.0,
                exempted: m.exempted.holds(at),
            });
        } else if m.temporary_host(at) == Some(org) {
            temporary.push(temporary_member(p, id, m, at));
        }
    }
    Ok(Roster {
        org: org.to_string(),
        name: name_of_org(p, org, at),
        kind: o.kind.as_str(),
        date: at.date,
        seq: at.seq,
        active: o.alive.holds(at),
        members,
        temporary,
    })
}

// ---------------------------------------------------------------------------------------
// history

/// What an id names in the projection.
pub fn entity_kind(p: &Projection, id: &Id) -> Option<&'static str> {
    entity_kind_at(p, id, u64::MAX)
}

/// What an id named as the ledger stood at `seq`. Only a person changes kind: verified at
/// one `seq`, a member from the `seq` of the admission on. (The other kinds are fixed when
/// the id is first recorded, and the rules let no event name an id before that.)
pub fn entity_kind_at(p: &Projection, id: &Id, seq: u64) -> Option<&'static str> {
    if p.localities.contains_key(id) {
        Some("locality")
    } else if p.orgs.contains_key(id) {
        Some("organization")
    } else if p.members.get(id).is_some_and(|m| m.admitted.1 <= seq) {
        Some("member")
    } else if p.cadres.contains_key(id) || p.verifications.iter().any(|v| &v.person == id) {
        Some("person")
    } else if p.instruments.contains_key(id) {
        Some("instrument")
    } else if p.resolutions.iter().any(|r| &r.resolution == id) {
        Some("resolution")
    } else {
        None
    }
}

/// The parts of the projection [`history`] reads.
pub const HISTORY_READS: Parts = Parts::TOUCHED.union(Parts::ENTITIES);

/// The `seq` of every event that named `id`, up to `seq`.
pub fn history(p: &Projection, id: &Id, seq: u64) -> Result<(&'static str, Vec<u64>), ReportError> {
    reads(p, HISTORY_READS);
    let seqs: Vec<u64> = p
        .touched
        .get(id)
        .map(|v| v.iter().take_while(|s| *s <= seq).collect())
        .unwrap_or_default();
    let kind = entity_kind_at(p, id, seq).filter(|_| !seqs.is_empty());
    match kind {
        Some(k) => Ok((k, seqs)),
        None => Err(unknown("entity", id, seq)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A territory whose hamlets keep their commune, change it, are registered late and
    /// changed later still, or come to belong nowhere: the admissions report's [`Communes`]
    /// gives what [`commune_of`] gives at every point asked, whatever it answered before.
    #[test]
    fn communes_worked_out_once_answer_as_each_point_asks() {
        let events = [
            (
                "2005-01-01",
                r#""type":"LocalityRegistered","locality":"tinh","name":"Tỉnh","kind":"province","border":true"#,
            ),
            (
                "2005-01-01",
                r#""type":"LocalityRegistered","locality":"huyen","name":"Huyện","kind":"district","parent":"tinh","border":true"#,
            ),
            (
                "2005-01-01",
                r#""type":"LocalityRegistered","locality":"xa-a","name":"Xã A","kind":"commune","parent":"huyen","border":true"#,
            ),
            (
                "2005-01-01",
                r#""type":"LocalityRegistered","locality":"xa-b","name":"Xã B","kind":"commune","parent":"huyen","border":false"#,
            ),
            (
                "2005-01-01",
                r#""type":"LocalityRegistered","locality":"xom-1","name":"Xóm 1","kind":"hamlet","parent":"xa-a","border":false"#,
            ),
            (
                "2005-01-01",
                r#""type":"LocalityRegistered","locality":"xom-2","name":"Xóm 2","kind":"hamlet","parent":"xa-a","border":false"#,
            ),
            (
                "2009-03-01",
                r#""type":"LocalityRegistered","locality":"xom-3","name":"Xóm 3","kind":"hamlet","parent":"xa-b","border":false"#,
            ),
            (
                "2011-01-01",
                r#""type":"LocalityChanged","locality":"xom-2","parent":"xa-b""#,
            ),
            // Recorded after xom-3's registration, effective before it: a hamlet of a
            // district's direct rule, then of a commune.
            (
                "2004-06-01",
                r#""type":"LocalityRegistered","locality":"xom-4","name":"Xóm 4","kind":"hamlet","parent":"huyen","border":false"#,
            ),
            (
                "2012-01-01",
                r#""type":"LocalityChanged","locality":"xom-4","parent":"xa-a""#,
            ),
            (
                "2006-01-01",
                r#""type":"LocalityRegistered","locality":"xom-5","name":"Xóm 5","kind":"hamlet","border":false"#,
            ),
        ];
        let mut p = Projection::new();
        let mut prev = Hash::ZERO;
        let office = Id::parse("office").unwrap();
        let recorded = Timestamp::parse("2026-12-07T10:00:00.000000Z").unwrap();
        for (i, (effective, fields)) in events.iter().enumerate() {
            let json = format!(r#"{{"effective":"{effective}",{fields}}}"#);
            let submission = Submission::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
            let record = Record::seal(i as u64 + 1, prev, recorded, office.clone(), submission);
            prev = record.hash();
            p.fold(&record);
        }
        // No event ends a parent's latest version yet; one ended by hand stands for a
        // locality that, from some date on, belongs nowhere.
        let head = events.len() as u64 + 1;
        let xom_1 = Id::parse("xom-1").unwrap();
        p.localities
            .get_mut(&xom_1)
            .unwrap()
            .parent
            .end(Date::parse("2015-01-01").unwrap(), head);
        let ids: Vec<Id> = [
            "tinh", "huyen", "xa-a", "xa-b", "xom-1", "xom-2", "xom-3", "xom-4", "xom-5", "xom-9",
        ]
        .into_iter()
        .map(|s| Id::parse(s).unwrap())
        .collect();
        let dates = [
            "2004-01-01",
            "2004-06-01",
            "2005-01-01",
            "2009-02-28",
            "2009-03-01",
            "2010-12-31",
            "2011-01-01",
            "2012-01-01",
            "2015-01-01",
            "2020-01-01",
        ];
        // Asked from the latest point back and from the earliest on, so that each fixed
        // commune is met first where it holds and where it does not.
        for order in [false, true] {
            let mut communes = Communes::new(&p);
            let mut points: Vec<At> = (0..=head)
                .flat_map(|seq| {
                    dates.iter().map(move |d| At {
                        date: Date::parse(d).unwrap(),
                        seq,
                    })
                })
                .collect();
            if order {
                points.reverse();
            }
            let mut differed = BTreeSet::new();
            for at in points {
                for id in &ids {
                    let expected = commune_of(&p, id, at);
                    assert_eq!(communes.of(id, at), expected, "{id} at {at:?}");
                    if expected
                        != commune_of(
                            &p,
                            id,
                            At {
                                date: at.date,
                                seq: head,
                            },
                        )
                    {
                        differed.insert(id.to_string());
                    }
                }
            }
            // The answers did change with the point asked, for hamlets that moved and for
            // ones recorded late.
            for moved in ["xom-1", "xom-2", "xom-3", "xom-4"] {
                assert!(differed.contains(moved), "{moved} not among {differed:?}");
            }
        }
    }
}
