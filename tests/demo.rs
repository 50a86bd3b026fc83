//! The Trùng Khánh demo ledger (`orgledger demo`, `orgledger::demo`): every event passes the
//! rules through the real append path, two runs give the same head, a non-empty data
//! directory is refused and left as it was, and the events tell the article's facts (F1 to
//! F8 of `shared/seed/README.md`).
//!
//! The facts are checked with small folds written here over the submissions, independent of
//! the projections, so that a bug in one does not hide a bug in the other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use orgledger::demo::{
    demo_batches, write_demo, DemoError, ADMISSIONS_PER_YEAR_MAX, ADMISSIONS_PER_YEAR_MIN, BELOW_STANDARD_AT_START,
    DEMO_ACTOR, DEMO_CLOCK_START, STANDARDIZATION_PROGRAMME, STORY_FIRST_YEAR, STORY_LAST_YEAR,
};
use orgledger::event::*;
use orgledger::rules::State;
use orgledger::store::{Ledger, LedgerOptions, Store};

/// The demo's events, generated once for all the tests of this file.
fn story() -> &'static [Submission] {
    static STORY: OnceLock<Vec<Submission>> = OnceLock::new();
    STORY.get_or_init(|| demo_batches().into_iter().flatten().collect())
}

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
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
    assert!(events.last().unwrap().effective <= date("2015-12-31"));

    // The ledger records the demo on the clock's first day, so that is the rules' "today".
    let today = date(&DEMO_CLOCK_START[..10]);
    let mut state = State::new();
    for (i, sub) in events.iter().enumerate() {
        if let Err(v) = state.apply(sub, today) {
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
    assert!(stderr.contains("is not empty"), "{stderr}");
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

fn coverage_on(day: Date) -> Coverage {
    let mut places = BTreeSet::new();
    let mut homes: BTreeMap<Id, Id> = BTreeMap::new();
    let mut cells: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
    for sub in story().iter().filter(|s| s.effective <= day) {
        match &sub.event {
            Event::LocalityRegistered(e) if matches!(e.kind, LocalityKind::Hamlet | LocalityKind::ResidentialGroup) => {
                places.insert(e.locality.clone());
            }
            Event::LocalityRetired(e) => {
                places.remove(&e.locality);
            }
            Event::MemberAdmitted(e) => {
                homes.insert(e.member.clone(), e.home_locality.clone());
            }
            Event::MemberTransferred(e) => {
                if let Some(home) = &e.home_locality {
                    homes.insert(e.member.clone(), home.clone());
                }
            }
            Event::ProfileCorrected(e) if e.field == ProfileField::HomeLocality => {
                homes.insert(e.subject.clone(), Id::parse(e.value.as_str()).unwrap());
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

/// F8: the 2015-2020 cadre plan has a good share of women and of cadres under 35.
#[test]
fn cadre_plan_has_women_and_young_cadres() {
    let mut people: BTreeMap<Id, (Sex, Date)> = BTreeMap::new();
    let mut planned = Vec::new();
    for sub in story() {
        match &sub.event {
            Event::MemberAdmitted(e) => {
                people.insert(e.member.clone(), (e.sex, e.birth_date));
            }
            Event::CadrePlanned(e) if e.term.as_str() == "2015-2020" => planned.push((e.person.clone(), sub.effective)),
            _ => {}
        }
    }
    assert!(planned.len() >= 60, "{} planned", planned.len());
    let women = planned.iter().filter(|(p, _)| people[p].0 == Sex::Female).count();
    let young = planned
        .iter()
        .filter(|(p, on)| on.years_since(people[p].1) < 35)
        .count();
    assert!(women * 4 >= planned.len(), "{women} women of {}", planned.len());
    assert!(young * 4 >= planned.len(), "{young} young of {}", planned.len());
}
