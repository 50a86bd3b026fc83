//! Golden snapshots of the demo ledger: its head and event count, and the reports at the
//! dates that tell the article's story (seed facts F1 to F8), compared with the files in
//! `snapshots/`. `ORGLEDGER_UPDATE_SNAPSHOTS=1 cargo test --test snapshots` rewrites them;
//! review the diff like code.
//!
//! Beside the golden comparison, each seed fact is asserted outright, so a snapshot
//! rewritten by mistake cannot hide a story that no longer holds.
//!
//! The demo's last batch is an audit of the admission records (corrections): the goldens
//! show one corrected member's history and their cell's roster asked just before that batch
//! and at the head, and the tests assert that the corrections move no figure of the facts.

use std::path::{Path, PathBuf};

use orgledger::commands::report::{compute, AsOf, ReportKind};
use orgledger::event::{Event, Id, ProfileField};
use orgledger::projection::{snapshot, At, Parts, Projection};
use orgledger::store::Store;
use serde_json::{json, Value};

/// The date the histories are asked at: after the demo's last event (the audit of
/// 2016-01-04), and named, so that no golden depends on the day the test runs.
const HISTORY_DATE: &str = "2016-12-31";

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots")
}

/// Compares `actual` with `snapshots/NAME.json`, or rewrites the file when asked to.
/// Returns a description of the mismatch, if any.
fn check(name: &str, actual: &Value) -> Option<String> {
    let path = snapshot_dir().join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).expect("json") + "\n";
    if std::env::var_os("ORGLEDGER_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &text).expect("write snapshot");
        return None;
    }
    let expected: Value = match std::fs::read_to_string(&path) {
        Ok(s) => serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        Err(e) => {
            return Some(format!(
                "{}: {e} (run with ORGLEDGER_UPDATE_SNAPSHOTS=1 to create it)",
                path.display()
            ))
        }
    };
    if &expected == actual {
        return None;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.actual.json"));
    std::fs::write(&out, &text).expect("write actual");
    Some(format!(
        "{name}: the report differs from {} (actual written to {}; diff them, and if the change is right rerun with ORGLEDGER_UPDATE_SNAPSHOTS=1)",
        path.display(),
        out.display()
    ))
}

struct Demo {
    _dir: tempfile::TempDir,
    store: Store,
    projection: Projection,
    /// A snapshot of `projection`.
    snapshot: Vec<u8>,
    events: u64,
    head: String,
}

fn demo() -> Demo {
    let dir = tempfile::tempdir().expect("tempdir");
    let (events, head) = orgledger::demo::write_demo(dir.path()).expect("the demo appends");
    let store = Store::open(dir.path(), false).expect("open the demo store");
    let (projection, _) = store.open_projection().expect("open the projection");
    Demo {
        _dir: dir,
        store,
        snapshot: snapshot::encode(&projection),
        projection,
        events,
        head: head.to_hex(),
    }
}

fn report(demo: &Demo, kind: ReportKind, date: Option<&str>, seq: Option<u64>) -> Value {
    let as_of = AsOf {
        date: date.map(str::to_owned),
        seq,
    };
    let whole = compute(&kind, &as_of, &demo.projection, Some(&demo.store)).expect("the report is given");
    // A command reads only the parts of a snapshot its report reads: the same answer.
    let part = snapshot::decode_parts(&demo.snapshot, demo.projection.head().hash, kind.reads())
        .expect("the snapshot decodes in part");
    assert_eq!(part.missing(), Parts::all() - kind.reads());
    let answer = compute(&kind, &as_of, &part, Some(&demo.store)).expect("the report is given");
    assert_eq!(answer, whole, "{} from the parts it reads", kind.name());
    whole
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is a count in {v}"))
}

fn len(v: &Value, key: &str) -> usize {
    v[key].as_array().unwrap_or_else(|| panic!("{key} is a list")).len()
}

/// A report without the `seq` it was asked at, to compare answers given at two `seq`s.
fn answer(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().expect("a report is an object").remove("seq");
    v
}

/// The events of a history report.
fn events(history: &Value) -> &Vec<Value> {
    history["events"].as_array().expect("a history lists events")
}

/// The name a roster gives `member`.
fn roster_name<'a>(roster: &'a Value, member: &str) -> &'a str {
    roster["members"]
        .as_array()
        .expect("a roster lists members")
        .iter()
        .find(|m| m["member"] == member)
        .and_then(|m| m["name"].as_str())
        .unwrap_or_else(|| panic!("{member} is on the roster {roster}"))
}

#[test]
fn demo_reports_match_the_golden_snapshots_and_show_the_seed_facts() {
    let d = demo();
    let mut mismatches = Vec::new();
    let mut golden = |name: &str, v: &Value| mismatches.extend(check(name, v));

    golden("demo-head", &json!({"events": d.events, "head": d.head}));
    // `serve --demo` recognizes the demo by this constant before it prints a demo token.
    assert_eq!(
        (d.events, d.head.as_str()),
        orgledger::demo::DEMO_HEAD,
        "demo::DEMO_HEAD is the demo's head"
    );

    // F1 and F2: coverage before and after December 2008 and September 2013.
    let coverage = |date: &str| report(&d, ReportKind::Coverage, Some(date), None);
    let c2005 = coverage("2005-01-01");
    let c2007 = coverage("2007-12-31");
    let c2008 = coverage("2008-12-31");
    let c2012 = coverage("2012-12-31");
    let c2013 = coverage("2013-09-30");
    assert!(
        len(&c2005, "without_member") > 0 && len(&c2007, "without_member") > 0,
        "white spots before 2008"
    );
    assert_eq!(
        len(&c2008, "without_member"),
        0,
        "F1: every hamlet has a member on 2008-12-31"
    );
    assert_eq!(count(&c2008, "with_member"), count(&c2008, "localities"));
    assert!(len(&c2012, "without_cell") > 0, "hamlets without a cell before 2013");
    assert_eq!(
        len(&c2013, "without_cell"),
        0,
        "F2: every hamlet has a cell on 2013-09-30"
    );
    golden("coverage-2005-01-01", &c2005);
    golden("coverage-2007-12-31", &c2007);
    golden("coverage-2008-12-31", &c2008);
    golden("coverage-2012-12-31", &c2012);
    golden("coverage-2013-09-30", &c2013);
    // Transaction time: what the ledger said about September 2013 when only half of the
    // log was written.
    let half = d.events / 2;
    let c2013_half = report(&d, ReportKind::Coverage, Some("2013-09-30"), Some(half));
    assert_eq!(count(&c2013_half, "seq"), half);
    golden("coverage-2013-09-30-at-half-the-log", &c2013_half);

    // F3: members of border posts on temporary activity in hamlet cells, over time.
    let t2006 = report(&d, ReportKind::TemporaryActivity, Some("2006-12-31"), None);
    assert!(
        count(&t2006, "from_border_posts") > 0,
        "F3: border-post members on temporary activity"
    );
    assert!(t2006["years"].as_array().is_some_and(|y| !y.is_empty()));
    golden("temporary-activity-2006-12-31", &t2006);
    golden(
        "temporary-activity-2013-09-30",
        &report(&d, ReportKind::TemporaryActivity, Some("2013-09-30"), None),
    );

    // F4: 150 to 165 admissions every year of the story.
    let admissions = report(
        &d,
        ReportKind::Admissions {
            from_year: None,
            to_year: None,
        },
        None,
        None,
    );
    let years = admissions["years"].as_array().expect("years");
    for year in 2005..=2015 {
        let y = years
            .iter()
            .find(|y| y["year"] == year)
            .unwrap_or_else(|| panic!("F4: {year} is reported"));
        let n = count(y, "admitted");
        assert!((150..=165).contains(&n), "F4: {n} admissions in {year}");
    }
    golden("admissions", &admissions);

    // F5: 76 cadres below standard at the start of 03-DA/TU, none at its end.
    let programme = || ReportKind::Standardization {
        programme: "03-da-tu".into(),
    };
    let s_start = report(&d, programme(), Some("2012-01-01"), None);
    let s_end = report(&d, programme(), Some("2015-12-31"), None);
    assert_eq!(
        count(&s_start, "below_standard"),
        76,
        "F5: 76 below standard at the start"
    );
    assert_eq!(count(&s_end, "below_standard"), 0, "F5: none below standard at the end");
    assert_eq!(
        count(&s_end, "standardized") + count(&s_end, "retired_under_policy"),
        76
    );
    golden("standardization-2012-01-01", &s_start);
    golden("standardization-2015-12-31", &s_end);

    // F6: weak cells' meetings attended by the committee member in charge.
    let m2013 = report(&d, ReportKind::Meetings { year: Some(2013) }, Some("2015-12-31"), None);
    assert!(count(&m2013, "of_weak_cells") > 0, "F6: weak cells met");
    assert_eq!(
        count(&m2013, "weak_with_supervisor"),
        count(&m2013, "of_weak_cells"),
        "F6: supervisors attended"
    );
    golden("meetings-2013", &m2013);

    // F7: resolutions on rural roads, land donation and public works.
    let r = report(&d, ReportKind::Resolutions, Some("2015-12-31"), None);
    for topic in ["rural_roads", "land_donation", "public_works"] {
        assert!(
            r["by_topic"][topic].as_u64().unwrap_or(0) > 0,
            "F7: resolutions on {topic}"
        );
    }
    golden("resolutions-2015-12-31", &r);

    // F8: women and young cadres in the plan of a term.
    let p = report(
        &d,
        ReportKind::Planning {
            term: "2015-2020".into(),
        },
        Some("2015-12-31"),
        None,
    );
    assert!(
        count(&p, "planned") > 0 && count(&p, "women") > 0 && count(&p, "young") > 0,
        "F8: {p}"
    );
    golden("planning-2015-2020-2015-12-31", &p);

    // The roster of a hamlet cell that hosted border-post members, and one member's history.
    let host = t2006["hosts"][0]["host"].as_str().expect("a host cell").to_owned();
    golden(
        "roster-host-cell-2006-12-31",
        &report(&d, ReportKind::Roster { org: host }, Some("2006-12-31"), None),
    );
    golden(
        "history-dv-000027",
        &report(
            &d,
            ReportKind::History {
                entity: "dv-000027".into(),
            },
            Some(HISTORY_DATE),
            None,
        ),
    );

    // Transaction time: the audit of the admission records, the demo's last batch. Asked at
    // the `seq` just before it, the ledger says what the clerks typed; at the head, what the
    // audit found. The member shown is the first whose name was typed without diacritics.
    let audit = orgledger::demo::demo_batches().pop().expect("the demo has batches");
    assert!(
        audit.iter().all(|s| matches!(s.event, Event::ProfileCorrected(_))),
        "the last batch is the audit"
    );
    let before = d.events - audit.len() as u64;
    let (member, corrected_name) = audit
        .iter()
        .find_map(|s| match &s.event {
            Event::ProfileCorrected(e) if e.field == ProfileField::Name => {
                Some((e.subject.to_string(), e.value.as_str().to_owned()))
            }
            _ => None,
        })
        .expect("the audit corrects a name");
    let history = |seq: Option<u64>| {
        report(
            &d,
            ReportKind::History { entity: member.clone() },
            Some(HISTORY_DATE),
            seq,
        )
    };
    let (history_before, history_head) = (history(Some(before)), history(None));
    let admission = events(&history_before)
        .iter()
        .find(|e| e["type"] == "MemberAdmitted")
        .expect("the history starts with the admission");
    let typed_name = admission["fields"]["name"].as_str().expect("a name").to_owned();
    assert!(
        typed_name.is_ascii() && !corrected_name.is_ascii(),
        "{typed_name} corrected to {corrected_name}"
    );
    assert!(events(&history_before)
        .iter()
        .all(|e| e["type"] != "ProfileCorrected" && count(e, "seq") <= before));
    let (last, earlier) = events(&history_head).split_last().expect("events");
    assert_eq!(
        earlier,
        events(&history_before).as_slice(),
        "the correction only adds to the history"
    );
    assert_eq!(
        (last["type"].as_str(), count(last, "seq") > before),
        (Some("ProfileCorrected"), true)
    );
    assert_eq!(last["fields"]["value"], corrected_name.as_str());
    assert_eq!(last["fields"]["field"], "name");
    golden("history-corrected-member-before-the-audit", &history_before);
    golden("history-corrected-member", &history_head);

    // Their cell's roster at the end of the story: the typed name before the audit, the
    // corrected one after, for the same valid time.
    let end_of_story = At {
        date: orgledger::event::Date::parse("2015-12-31").unwrap(),
        seq: d.events,
    };
    let cell = d.projection.members[&Id::parse(&member).unwrap()]
        .org
        .at(end_of_story)
        .expect("a member at the end")
        .to_string();
    let roster = |seq: Option<u64>| report(&d, ReportKind::Roster { org: cell.clone() }, Some("2015-12-31"), seq);
    let (roster_before, roster_head) = (roster(Some(before)), roster(None));
    assert_eq!(roster_name(&roster_before, &member), typed_name);
    assert_eq!(roster_name(&roster_head, &member), corrected_name);
    golden(
        "roster-corrected-member-cell-2015-12-31-before-the-audit",
        &roster_before,
    );
    golden("roster-corrected-member-cell-2015-12-31", &roster_head);

    // The audit moves no figure of the facts: the mistyped home hamlet stands in no coverage
    // of the golden dates, and the corrected birth date is of no planned cadre.
    for (date, at_head) in [
        ("2005-01-01", &c2005),
        ("2007-12-31", &c2007),
        ("2008-12-31", &c2008),
        ("2012-12-31", &c2012),
        ("2013-09-30", &c2013),
    ] {
        let at_before = report(&d, ReportKind::Coverage, Some(date), Some(before));
        assert_eq!(
            answer(&at_before),
            answer(at_head),
            "the audit changed the coverage on {date}"
        );
    }
    let p_before = report(
        &d,
        ReportKind::Planning {
            term: "2015-2020".into(),
        },
        Some("2015-12-31"),
        Some(before),
    );
    assert_eq!(
        (&p_before["women_share"], &p_before["young_share"], &p_before["planned"]),
        (&p["women_share"], &p["young_share"], &p["planned"]),
        "the audit moved the shares of the plan"
    );

    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
