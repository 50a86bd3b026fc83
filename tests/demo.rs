//! The Trùng Khánh demo ledger (`orgledger demo`, `orgledger::demo`): every event passes the
//! rules through the real append path, two runs give the same head, a non-empty data
//! directory is refused and left as it was, and the events tell the article's facts (F1 to
//! F8 of `docs/story.md`).
//!
//! The facts are checked with small folds written here over the submissions, independent of
//! the projections, so that a bug in one does not hide a bug in the other. So are the
//! story's renamings, its revoked exemption and revised plan, and the final batch of
//! corrections that shows the transaction-time axis.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use orgledger::demo::{
    demo_batches, write_demo, DemoError, ADMISSIONS_PER_YEAR_MAX, ADMISSIONS_PER_YEAR_MIN, BELOW_STANDARD_AT_START,
    DEMO_ACTOR, DEMO_CLOCK_START, STANDARDIZATION_PROGRAMME, STORY_FIRST_YEAR, STORY_LAST_YEAR,
};
use orgledger::event::*;
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::rules::State;
use orgledger::store::Store;

/// The demo's events, generated once for all the tests of this file.
fn story() -> &'static [Submission] {
    static STORY: OnceLock<Vec<Submission>> = OnceLock::new();
    STORY.get_or_init(|| demo_batches().into_iter().flatten().collect())
}

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

/// The day the demo is recorded, the clock's first day: the day of its corrections.
fn recording_day() -> Date {
    date(&DEMO_CLOCK_START[..10])
}

/// The final batch of the demo: the audit's corrections.
fn corrections() -> &'static [Submission] {
    let events = story();
    let first = events
        .iter()
        .position(|s| s.effective > date("2015-12-31"))
        .expect("a batch after the story");
    &events[first..]
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orgledger"))
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_demo_event_passes_the_rules_in_date_order_one_batch_a_month() {
    let batches = demo_batches();
    let mut months = Vec::new();
    for batch in &batches {
        assert!(!batch.is_empty());
        let month = |s: &Submission| s.effective.to_string()[..7].to_owned();
        assert!(
            batch.iter().all(|s| month(s) == month(&batch[0])),
            "a batch holds one month"
        );
        months.push(month(&batch[0]));
    }
    assert!(months.windows(2).all(|w| w[0] < w[1]), "batches follow the calendar");
    let events = story();
    assert!(
        events.windows(2).all(|w| w[0].effective <= w[1].effective),
        "events in effective-date order"
    );
    assert!((20_000..=40_000).contains(&events.len()), "{} events", events.len());
    // The story ends with 2015; only the corrections come after, on the day of recording.
    let story_end = date("2015-12-31");
    assert!(corrections().iter().all(|s| s.effective == recording_day()));
    assert_eq!(
        batches.last().unwrap().as_slice(),
        corrections(),
        "the corrections are the last batch"
    );
    assert!(events[..events.len() - corrections().len()]
        .iter()
        .all(|s| s.effective <= story_end));

    // The ledger records the demo on the clock's first day, so that is the rules' "today".
    let today = recording_day();
    let mut state = State::new();
    for (i, sub) in events.iter().enumerate() {
        if let Err(v) = state.submit(sub, today) {
            panic!(
                "event {i} ({}, {}) is refused: {v}\n{:?}",
                sub.event.type_name(),
                sub.effective,
                sub
            );
        }
    }
}

#[test]
fn demo_is_the_same_every_time() {
    assert_eq!(demo_batches(), demo_batches());
}

#[test]
fn demo_writes_through_the_ledger_and_the_cli_writes_the_same_head() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let (events, head) = write_demo(&first).unwrap();
    assert_eq!(events, story().len() as u64);

    // The store verifies, and every record is the demo's, back-filled after the story.
    let store = Store::open(&first, false).unwrap();
    let verified = store.verify().unwrap().unwrap();
    assert_eq!((verified.events, verified.head.hash), (events, head));
    let record = store.record(1).unwrap().unwrap();
    assert_eq!(record.actor().as_str(), DEMO_ACTOR);
    assert_eq!(record.recorded_at().to_string(), DEMO_CLOCK_START);
    let last = store.record(events).unwrap().unwrap();
    assert_eq!(last.actor().as_str(), DEMO_ACTOR);
    assert_eq!(last.submission(), story().last().unwrap());
    drop(store);

    // A second run, by the command line into a directory that does not exist yet, gives the
    // same ledger.
    let second = tmp.path().join("second");
    let output = bin().arg("--data").arg(&second).arg("demo").output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, serde_json::json!({"events": events, "head": head.to_hex()}));
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 1);
}

#[test]
fn demo_refuses_a_non_empty_data_directory_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();

    // A directory holding a ledger.
    let ledger_dir = tmp.path().join("ledger");
    let ledger = Ledger::open(&ledger_dir, LedgerOptions::default()).unwrap();
    let line = r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"cao-bang","name":"Cao Bằng","kind":"province","border":true}"#;
    ledger
        .append(
            Id::parse("cli").unwrap(),
            vec![Submission::from_json(line).unwrap()],
            None,
        )
        .unwrap();
    let head = ledger.head();
    ledger.close();
    let before = entries(&ledger_dir);

    let output = bin().arg("--data").arg(&ledger_dir).arg("demo").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("holds a ledger"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(entries(&ledger_dir), before);
    let store = Store::open(&ledger_dir, false).unwrap();
    assert_eq!(store.head().unwrap(), head);
    assert_eq!(store.verify().unwrap().unwrap().events, 1);
    drop(store);

    // A directory holding anything else.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "keep me").unwrap();
    let output = bin().arg("--data").arg(&other).arg("demo").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(entries(&other), BTreeSet::from(["notes.txt".to_owned()]));
    assert_eq!(std::fs::read_to_string(other.join("notes.txt")).unwrap(), "keep me");
    assert!(matches!(write_demo(&other), Err(DemoError::NotEmpty(_))));

    // A directory holding only what is kept beside a ledger (tokens made first) holds no
    // ledger: the demo is written into it, and the tokens stay.
    let prepared = tmp.path().join("prepared");
    std::fs::create_dir(&prepared).unwrap();
    orgledger::tokens::add(&prepared, "inspector", orgledger::tokens::Role::Reader).unwrap();
    let output = bin().arg("--data").arg(&prepared).arg("demo").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        orgledger::tokens::list(&prepared).unwrap().len(),
        1,
        "the token is kept"
    );
}

/// F4: 150 to 165 admissions in every year of the story, each after a cleared verification;
/// some verifications are refused, and kin across the border is common.
#[test]
fn admissions_are_150_to_165_every_year_each_after_a_cleared_verification() {
    let mut cleared = BTreeSet::new();
    let mut admitted: BTreeMap<i32, u32> = BTreeMap::new();
    let mut refused: BTreeMap<i32, u32> = BTreeMap::new();
    let mut kin_abroad: BTreeMap<i32, u32> = BTreeMap::new();
    for sub in story() {
        match &sub.event {
            Event::BackgroundVerified(e) => {
                if e.outcome == VerificationOutcome::Cleared {
                    cleared.insert(e.person.clone());
                } else {
                    *refused.entry(sub.effective.year()).or_default() += 1;
                }
                if e.kin_abroad {
                    *kin_abroad.entry(sub.effective.year()).or_default() += 1;
                }
            }
            Event::MemberAdmitted(e) => {
                assert!(
                    cleared.contains(&e.member),
                    "{} admitted before a cleared verification",
                    e.member
                );
                *admitted.entry(sub.effective.year()).or_default() += 1;
            }
            _ => {}
        }
    }
    for year in STORY_FIRST_YEAR..=STORY_LAST_YEAR {
        let n = admitted.get(&year).copied().unwrap_or(0);
        assert!(
            (ADMISSIONS_PER_YEAR_MIN..=ADMISSIONS_PER_YEAR_MAX).contains(&n),
            "{year}: {n} admissions"
        );
        assert!(
            refused.get(&year).copied().unwrap_or(0) > 0,
            "{year}: no refused verification"
        );
        assert!(
            kin_abroad.get(&year).copied().unwrap_or(0) >= 10,
            "{year}: {kin_abroad:?}"
        );
    }
}

/// F5: exactly 76 cadres below standard on the start of 03-ĐA/TU, every one of them
/// standardized (all gaps closed by training) or retired under policy by its end.
#[test]
fn seventy_six_cadres_below_standard_at_the_start_of_03_da_tu_and_none_at_its_end() {
    let programme = Id::parse(STANDARDIZATION_PROGRAMME).unwrap();
    let (starts, ends) = story()
        .iter()
        .find_map(|s| match &s.event {
            Event::InstrumentIssued(e) if e.instrument == programme => Some((e.starts.unwrap(), e.ends.unwrap())),
            _ => None,
        })
        .expect("03-ĐA/TU is issued");
    assert_eq!((starts, ends), (date("2012-01-01"), date("2015-12-31")));

    let mut below: BTreeMap<Id, (Date, BTreeSet<StandardDimension>)> = BTreeMap::new();
    let mut meeting = 0;
    let mut trained: BTreeMap<Id, BTreeSet<StandardDimension>> = BTreeMap::new();
    let mut standardized = BTreeSet::new();
    let mut retired = BTreeSet::new();
    for sub in story() {
        match &sub.event {
            Event::CadreAssessed(e) if e.programme == programme && !e.meets_standard => {
                below.insert(e.person.clone(), (sub.effective, e.gaps.iter().copied().collect()));
            }
            Event::CadreAssessed(e) if e.programme == programme => meeting += 1,
            Event::TrainingCompleted(e) if e.programme.as_ref() == Some(&programme) => {
                trained.entry(e.person.clone()).or_default().insert(e.dimension);
            }
            Event::CadreStandardized(e) if e.programme == programme => {
                assert!(sub.effective <= ends);
                let gaps = &below[&e.person].1;
                assert_eq!(
                    trained.get(&e.person),
                    Some(gaps),
                    "{} standardized with gaps open",
                    e.person
                );
                standardized.insert(e.person.clone());
            }
            Event::CadreRetiredUnderPolicy(e) if e.programme == programme => {
                assert!(sub.effective <= ends);
                retired.insert(e.person.clone());
            }
            _ => {}
        }
    }
    assert_eq!(below.len(), BELOW_STANDARD_AT_START);
    assert!(
        below.values().all(|(on, _)| *on == starts),
        "all assessed on the programme's start"
    );
    assert!(meeting > 0, "some cadres meet the standard");
    let settled: BTreeSet<Id> = standardized.union(&retired).cloned().collect();
    assert_eq!(settled, below.keys().cloned().collect::<BTreeSet<_>>());
    assert!(
        !retired.is_empty() && standardized.len() > retired.len(),
        "{} retired",
        retired.len()
    );
}

/// Hamlets and residential groups, with and without a resident member and a covering cell,
/// folded straight from the submissions.
struct Coverage {
    places: usize,
    without_member: BTreeSet<Id>,
    without_cell: BTreeSet<Id>,
}

/// The home locality a correction puts in place of the last one recorded before it, keyed by
/// the index of the event that recorded that one: a correction is transaction time, so it
/// replaces that home over all its dates, whenever the correction takes effect.
fn corrected_homes() -> BTreeMap<usize, Id> {
    let mut last_home: BTreeMap<Id, usize> = BTreeMap::new();
    let mut corrected = BTreeMap::new();
    for (i, sub) in story().iter().enumerate() {
        match &sub.event {
            Event::MemberAdmitted(e) => {
                last_home.insert(e.member.clone(), i);
            }
            Event::MemberTransferred(e) if e.home_locality.is_some() => {
                last_home.insert(e.member.clone(), i);
            }
            Event::ProfileCorrected(e) if e.field == ProfileField::HomeLocality => {
                corrected.insert(last_home[&e.subject], Id::parse(e.value.as_str()).unwrap());
            }
            _ => {}
        }
    }
    corrected
}

fn coverage_on(day: Date) -> Coverage {
    let mut places = BTreeSet::new();
    let mut homes: BTreeMap<Id, Id> = BTreeMap::new();
    let mut cells: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
    let corrected = corrected_homes();
    for (i, sub) in story().iter().enumerate().filter(|(_, s)| s.effective <= day) {
        match &sub.event {
            Event::LocalityRegistered(e) if matches!(e.kind, LocalityKind::Hamlet | LocalityKind::ResidentialGroup) => {
                places.insert(e.locality.clone());
            }
            Event::LocalityRetired(e) => {
                places.remove(&e.locality);
            }
            Event::MemberAdmitted(e) => {
                let home = corrected.get(&i).unwrap_or(&e.home_locality);
                homes.insert(e.member.clone(), home.clone());
            }
            Event::MemberTransferred(e) => {
                if let Some(home) = &e.home_locality {
                    homes.insert(e.member.clone(), corrected.get(&i).unwrap_or(home).clone());
                }
            }
            Event::MembershipEnded(e) => {
                homes.remove(&e.member);
            }
            Event::OrganizationFounded(e) if e.kind == OrgKind::Cell => {
                cells.insert(e.org.clone(), e.localities.clone());
            }
            Event::OrganizationDissolved(e) => {
                cells.remove(&e.org);
            }
            _ => {}
        }
    }
    let with_member: BTreeSet<&Id> = homes.values().collect();
    let with_cell: BTreeSet<&Id> = cells.values().flatten().collect();
    Coverage {
        places: places.len(),
        without_member: places.iter().filter(|p| !with_member.contains(p)).cloned().collect(),
        without_cell: places.iter().filter(|p| !with_cell.contains(p)).cloned().collect(),
    }
}

/// F1 and F2: white spots early on; every hamlet and residential group with a resident
/// member by December 2008 (not a year before), and with a cell by September 2013 (not at
/// the end of 2012).
#[test]
fn every_hamlet_has_a_member_by_december_2008_and_a_cell_by_september_2013() {
    let start = coverage_on(date("2005-01-01"));
    assert!(
        (200..400).contains(&start.places),
        "{} hamlets and residential groups",
        start.places
    );
    assert!(
        start.without_member.len() * 10 >= start.places,
        "a good share are white spots in 2005"
    );
    assert!(
        start.without_cell.len() > start.without_member.len(),
        "more lack a cell than a member"
    );

    let end_2007 = coverage_on(date("2007-12-31"));
    assert!(!end_2007.without_member.is_empty());
    let end_2008 = coverage_on(date("2008-12-31"));
    assert!(end_2008.without_member.is_empty(), "{:?}", end_2008.without_member);
    let end_2012 = coverage_on(date("2012-12-31"));
    assert!(!end_2012.without_cell.is_empty());
    assert!(end_2012.without_member.is_empty());
    let sept_2013 = coverage_on(date("2013-09-30"));
    assert!(sept_2013.without_cell.is_empty(), "{:?}", sept_2013.without_cell);
    let end = coverage_on(date("2015-12-31"));
    assert!(end.without_member.is_empty() && end.without_cell.is_empty());
}

/// F3: members on temporary activity come from border posts and go to cells of border
/// hamlets, among them cells founded where there was no member.
#[test]
fn border_post_members_on_temporary_activity_help_border_hamlet_cells() {
    let mut org_kind: BTreeMap<Id, (OrgKind, Option<Id>, Vec<Id>)> = BTreeMap::new();
    let mut border: BTreeMap<Id, bool> = BTreeMap::new();
    let mut home_org: BTreeMap<Id, Id> = BTreeMap::new();
    let white_spots = coverage_on(date("2005-01-01")).without_member;
    let mut hosts = BTreeSet::new();
    let mut white_spot_hosts = 0;
    for sub in story() {
        match &sub.event {
            Event::LocalityRegistered(e) => {
                border.insert(e.locality.clone(), e.border);
            }
            Event::OrganizationFounded(e) => {
                org_kind.insert(e.org.clone(), (e.kind, e.parent.clone(), e.localities.clone()));
            }
            Event::MemberAdmitted(e) => {
                home_org.insert(e.member.clone(), e.org.clone());
            }
            Event::MemberTransferred(e) => {
                home_org.insert(e.member.clone(), e.to_org.clone());
            }
            Event::TemporaryActivityStarted(e) => {
                let (_, parent, _) = &org_kind[&home_org[&e.member]];
                assert_eq!(org_kind[parent.as_ref().unwrap()].0, OrgKind::BorderPostCommittee);
                let (kind, _, localities) = &org_kind[&e.host_org];
                assert_eq!(*kind, OrgKind::Cell);
                assert!(
                    localities.iter().any(|l| border[l]),
                    "{} hosts but covers no border hamlet",
                    e.host_org
                );
                if localities.iter().any(|l| white_spots.contains(l)) {
                    white_spot_hosts += 1;
                }
                hosts.insert(e.host_org.clone());
            }
            _ => {}
        }
    }
    assert!(hosts.len() >= 10, "{} host cells", hosts.len());
    assert!(
        white_spot_hosts >= 10,
        "{white_spot_hosts} temporary activities in former white spots"
    );
}

/// F6: a cell rated weak for a year meets that year with its committee member in charge.
#[test]
fn weak_cells_meet_with_their_supervisor() {
    let weak: BTreeSet<(Id, i32)> = story()
        .iter()
        .filter_map(|s| match &s.event {
            Event::QualityRated(e) if e.level == QualityLevel::Weak => Some((e.subject.clone(), e.year)),
            _ => None,
        })
        .collect();
    assert!(
        weak.len() >= STORY_LAST_YEAR as usize - STORY_FIRST_YEAR as usize,
        "{} weak ratings",
        weak.len()
    );
    let mut meetings = 0;
    for sub in story() {
        if let Event::CellMeetingHeld(e) = &sub.event {
            if weak.contains(&(e.cell.clone(), sub.effective.year())) {
                assert_eq!(
                    e.supervisor_present,
                    Some(true),
                    "{} on {} without its supervisor",
                    e.cell,
                    sub.effective
                );
                meetings += 1;
            }
        }
    }
    assert!(meetings >= weak.len() * 10, "{meetings} meetings of weak cells");
}

/// Monthly meetings, and F7: resolutions on rural roads, land donation and public works.
#[test]
fn cells_meet_monthly_and_resolve_on_roads_land_and_public_works() {
    let mut regular: BTreeMap<(Id, String), u32> = BTreeMap::new();
    let mut topics: BTreeMap<ResolutionTopic, u32> = BTreeMap::new();
    for sub in story() {
        match &sub.event {
            Event::CellMeetingHeld(e) if e.kind == MeetingKind::Regular => {
                *regular
                    .entry((e.cell.clone(), sub.effective.to_string()[..7].to_owned()))
                    .or_default() += 1;
            }
            Event::ResolutionAdopted(e) => *topics.entry(e.topic).or_default() += 1,
            _ => {}
        }
    }
    assert!(
        regular.values().all(|n| *n == 1),
        "one regular meeting a month per cell"
    );
    let cells: BTreeSet<&Id> = regular.keys().map(|(c, _)| c).collect();
    assert!(regular.len() >= cells.len() * 24);
    for topic in [
        ResolutionTopic::RuralRoads,
        ResolutionTopic::LandDonation,
        ResolutionTopic::PublicWorks,
    ] {
        assert!(topics.get(&topic).copied().unwrap_or(0) >= 100, "{topic:?}: {topics:?}");
    }
}

/// F8: the 2015-2020 cadre plan, as revised, has a good share of women and of cadres under
/// 35 (ages from the corrected birth dates).
#[test]
fn cadre_plan_has_women_and_young_cadres() {
    let mut people: BTreeMap<Id, (Sex, Date)> = BTreeMap::new();
    let mut planned = Vec::new();
    let mut unplanned = 0;
    for sub in story() {
        match &sub.event {
            Event::MemberAdmitted(e) => {
                people.insert(e.member.clone(), (e.sex, e.birth_date));
            }
            Event::ProfileCorrected(e) if e.field == ProfileField::BirthDate => {
                people.get_mut(&e.subject).unwrap().1 = Date::parse(e.value.as_str()).unwrap();
            }
            Event::CadrePlanned(e) if e.term.as_str() == "2015-2020" => planned.push((e.person.clone(), sub.effective)),
            Event::CadreUnplanned(e) if e.term.as_str() == "2015-2020" => {
                let before = planned.len();
                planned.retain(|(p, _)| p != &e.person);
                assert_eq!(planned.len() + 1, before, "{} was planned once", e.person);
                unplanned += 1;
            }
            _ => {}
        }
    }
    assert_eq!(unplanned, 1, "the plan's revision drops one cadre");
    assert!(planned.len() >= 60, "{} planned", planned.len());
    let women = planned.iter().filter(|(p, _)| people[p].0 == Sex::Female).count();
    let young = planned
        .iter()
        .filter(|(p, on)| on.years_since(people[p].1) < 35)
        .count();
    assert!(women * 4 >= planned.len(), "{women} women of {}", planned.len());
    assert!(young * 4 >= planned.len(), "{young} young of {}", planned.len());
}

/// In 2010 a hamlet is renamed and its cell with it, the same day; the ids stay.
#[test]
fn a_hamlet_and_its_cell_are_renamed_in_2010() {
    let mut cells_of: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
    let mut hamlets = BTreeMap::new();
    let mut renamed_hamlets = Vec::new();
    let mut renamed_cells = Vec::new();
    for sub in story() {
        match &sub.event {
            Event::LocalityRegistered(e) => {
                hamlets.insert(e.locality.clone(), (e.kind, e.name.clone()));
            }
            Event::OrganizationFounded(e) if e.kind == OrgKind::Cell => {
                for l in &e.localities {
                    cells_of.entry(l.clone()).or_default().push(e.org.clone());
                }
            }
            Event::LocalityChanged(e) => {
                assert!(e.parent.is_none() && e.border.is_none(), "only a name changes");
                renamed_hamlets.push((sub.effective, e.locality.clone(), e.name.clone().expect("a new name")));
            }
            Event::OrganizationRenamed(e) => renamed_cells.push((sub.effective, e.org.clone(), e.name.clone())),
            _ => {}
        }
    }
    assert_eq!(renamed_hamlets.len(), 1, "{renamed_hamlets:?}");
    assert_eq!(renamed_cells.len(), 1, "{renamed_cells:?}");
    let (on, hamlet, name) = &renamed_hamlets[0];
    let (cell_on, cell, cell_name) = &renamed_cells[0];
    assert_eq!(on.year(), 2010);
    assert_eq!(cell_on, on);
    let (kind, old_name) = &hamlets[hamlet];
    assert_eq!(*kind, LocalityKind::Hamlet);
    assert_ne!(old_name, name);
    assert!(
        hamlets.values().all(|(_, n)| n != name),
        "the new name {name} is no other hamlet's"
    );
    assert_eq!(cells_of[hamlet], vec![cell.clone()]);
    assert_eq!(cell_name.as_str(), format!("Chi bộ xóm {}", name.as_str()));
}

/// An exempted member returns to activity, and the plan of 2015-2020 is revised: each names
/// someone in the state the event undoes.
#[test]
fn an_exemption_is_revoked_and_a_planned_cadre_is_unplanned() {
    let mut exempted = BTreeSet::new();
    let mut planned: BTreeSet<(Id, Id)> = BTreeSet::new();
    let (mut revoked, mut unplanned) = (Vec::new(), Vec::new());
    for sub in story() {
        match &sub.event {
            Event::MemberExempted(e) => {
                exempted.insert(e.member.clone());
            }
            Event::ExemptionRevoked(e) => {
                assert!(exempted.remove(&e.member), "{} was not exempted", e.member);
                revoked.push(e.member.clone());
            }
            Event::CadrePlanned(e) => {
                planned.insert((e.person.clone(), e.term.clone()));
            }
            Event::CadreUnplanned(e) => {
                assert!(
                    planned.remove(&(e.person.clone(), e.term.clone())),
                    "{} was not planned",
                    e.person
                );
                assert!(sub.effective > date("2013-06-20") && sub.effective < date("2015-06-15"));
                unplanned.push(e.person.clone());
            }
            _ => {}
        }
    }
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(unplanned.len(), 1, "{unplanned:?}");
    // Returned to activity, the member is not exempted again.
    let later = story()
        .iter()
        .skip_while(|s| !matches!(&s.event, Event::ExemptionRevoked(_)));
    assert!(!later
        .clone()
        .any(|s| matches!(&s.event, Event::MemberExempted(e) if e.member == revoked[0])));
}

/// The audit on the day of recording corrects the admission records: names typed without
/// diacritics, one birth date with day and month swapped of a member never planned as a
/// cadre, and one home hamlet, typed as another of the same commune, of a member admitted
/// from 2014 who never moved house. Each corrects what the admission said.
#[test]
fn the_last_batch_corrects_names_a_birth_date_and_a_home_hamlet_typed_wrong_at_admission() {
    let mut admissions: BTreeMap<Id, (Date, MemberAdmitted)> = BTreeMap::new();
    let mut parent: BTreeMap<Id, Id> = BTreeMap::new();
    let mut ever_planned = BTreeSet::new();
    let mut moved = BTreeSet::new();
    for sub in story() {
        match &sub.event {
            Event::LocalityRegistered(e) => {
                parent.extend(e.parent.clone().map(|p| (e.locality.clone(), p)));
            }
            Event::MemberAdmitted(e) => {
                admissions.insert(e.member.clone(), (sub.effective, e.clone()));
            }
            Event::CadrePlanned(e) => {
                ever_planned.insert(e.person.clone());
            }
            Event::MemberTransferred(e) if e.home_locality.is_some() => {
                moved.insert(e.member.clone());
            }
            _ => {}
        }
    }
    let unaccented = orgledger::demo::without_diacritics;
    let (mut names, mut births, mut homes) = (0, 0, 0);
    for sub in corrections() {
        let Event::ProfileCorrected(e) = &sub.event else {
            panic!("the last batch holds only corrections: {sub:?}")
        };
        let (admitted_on, admission) = &admissions[&e.subject];
        let value = e.value.as_str();
        match e.field {
            ProfileField::Name => {
                assert_ne!(admission.name.as_str(), value);
                assert_eq!(admission.name.as_str(), unaccented(value), "typed without diacritics");
                names += 1;
            }
            ProfileField::BirthDate => {
                let (typed, truth) = (admission.birth_date.to_string(), value.to_owned());
                assert_ne!(typed, truth);
                assert_eq!(
                    (&typed[..4], &typed[5..7], &typed[8..]),
                    (&truth[..4], &truth[8..], &truth[5..7]),
                    "day and month swapped"
                );
                assert!(!ever_planned.contains(&e.subject), "{} is in a cadre plan", e.subject);
                births += 1;
            }
            ProfileField::HomeLocality => {
                let truth = Id::parse(value).unwrap();
                assert_ne!(admission.home_locality, truth);
                assert_eq!(parent[&admission.home_locality], parent[&truth], "the same commune");
                assert!(admitted_on.year() >= 2014 && !moved.contains(&e.subject));
                homes += 1;
            }
            ProfileField::Sex => panic!("no sex is corrected"),
        }
    }
    assert!((2..=6).contains(&names), "{names} names corrected");
    assert_eq!((births, homes), (1, 1));
}
