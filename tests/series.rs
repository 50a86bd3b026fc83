//! Reports over time (`coverageOverTime`, `temporaryActivityOverTime`): every point is what
//! the report of the same name answers at that date and `seq`, on the demo at several
//! points of its own history (before and after its corrections), in all and per commune; the
//! article's milestones read off the series; the steps of each interval; and the GraphQL
//! fields with their refusals.

mod common;

use orgledger::event::{Date, Id};
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::projection::reports;
use orgledger::projection::series::{self, Interval, MAX_POINTS};
use orgledger::projection::timeline::At;
use orgledger::projection::Projection;
use serde_json::json;

fn d(s: &str) -> Date {
    Date::parse(s).expect("a date")
}

/// The demo ledger, written once per test binary run into a temporary directory.
fn demo() -> &'static Ledger {
    static DEMO: std::sync::OnceLock<(tempfile::TempDir, Ledger)> = std::sync::OnceLock::new();
    &DEMO
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temp dir");
            orgledger::demo::write_demo(dir.path()).expect("the demo");
            let ledger = Ledger::open(dir.path(), LedgerOptions::default()).expect("the demo opens");
            (dir, ledger)
        })
        .1
}

/// Checks a coverage series against the report at each of its points.
fn coverage_matches(p: &Projection, dates: &[Date], seq: u64, commune: Option<&Id>) {
    let points = series::coverage_over_time(p, dates, seq, commune).expect("a series");
    assert_eq!(points.len(), dates.len());
    for point in points {
        let report = reports::coverage(p, At { date: point.date, seq });
        let counts = match commune {
            None => Some(report.counts),
            Some(c) => report
                .communes
                .into_iter()
                .find(|row| row.commune == c.as_str())
                .map(|row| row.counts),
        };
        let expected = counts.map_or((0, 0, 0, 0), |c| {
            (c.localities, c.with_member, c.with_cell, c.temporary_only)
        });
        assert_eq!(
            (
                point.localities,
                point.with_member,
                point.with_cell,
                point.temporary_only
            ),
            expected,
            "coverage on {} as of seq {seq} in {commune:?}",
            point.date
        );
    }
}

#[test]
fn each_point_is_the_coverage_report_on_its_date_at_every_seq() {
    let ledger = demo();
    let p = ledger.projection();
    let head = p.head().seq;
    let monthly = series::steps(d("2004-12-31"), d("2016-12-31"), Interval::Month).expect("steps");
    assert_eq!(monthly.len(), 145);
    // The head, before the last batch's corrections, the middle of the story, its start.
    for seq in [head, head - 3, head / 2, head / 5, 1] {
        coverage_matches(&p, &monthly, seq, None);
    }
    let daily = series::steps(d("2008-11-15"), d("2009-01-15"), Interval::Day).expect("steps");
    coverage_matches(&p, &daily, head, None);
    let communes: Vec<Id> = reports::coverage(
        &p,
        At {
            date: d("2013-12-31"),
            seq: head,
        },
    )
    .communes
    .iter()
    .map(|c| Id::parse(&c.commune).expect("an id"))
    .collect();
    assert!(communes.len() >= 10, "{communes:?}");
    for commune in &communes {
        coverage_matches(&p, &monthly, head, Some(commune));
    }
}

#[test]
fn each_point_is_the_temporary_activity_report_on_its_date() {
    let ledger = demo();
    let p = ledger.projection();
    let head = p.head().seq;
    let monthly = series::steps(d("2004-12-31"), d("2016-12-31"), Interval::Month).expect("steps");
    let mut hosted = 0;
    for seq in [head, head / 2] {
        for point in series::temporary_activity_over_time(&p, &monthly, seq) {
            let report = reports::temporary_activity(&p, At { date: point.date, seq });
            assert_eq!(
                (point.members, point.from_border_posts, point.hosts),
                (report.members, report.from_border_posts, report.hosts.len() as u64),
                "temporary activity on {} as of seq {seq}",
                point.date
            );
            hosted += point.members;
        }
    }
    assert!(hosted > 0, "the demo has members on temporary activity");
}

#[test]
fn the_series_shows_the_articles_milestones() {
    let ledger = demo();
    let p = ledger.projection();
    let dates = [d("2007-12-31"), d("2008-12-31"), d("2012-12-31"), d("2013-09-30")];
    let points = series::coverage_over_time(&p, &dates, p.head().seq, None).expect("a series");
    let without_member: Vec<u64> = points.iter().map(|p| p.localities - p.with_member).collect();
    let without_cell: Vec<u64> = points.iter().map(|p| p.localities - p.with_cell).collect();
    assert!(without_member[0] > 0, "{points:?}");
    assert_eq!(without_member[1], 0, "{points:?}");
    assert!(without_cell[2] > 0, "{points:?}");
    assert_eq!(without_cell[3], 0, "{points:?}");
}

#[test]
fn steps_keep_the_day_or_the_months_end_and_are_bounded() {
    let steps = |from: &str, to: &str, every| -> Vec<String> {
        series::steps(d(from), d(to), every)
            .expect("steps")
            .iter()
            .map(|d| d.to_string())
            .collect()
    };
    assert_eq!(
        steps("2005-01-31", "2005-05-01", Interval::Month),
        ["2005-01-31", "2005-02-28", "2005-03-31", "2005-04-30"]
    );
    assert_eq!(
        steps("2005-01-30", "2005-04-01", Interval::Month),
        ["2005-01-30", "2005-02-28", "2005-03-30"]
    );
    assert_eq!(
        steps("2008-02-29", "2013-01-01", Interval::Year),
        ["2008-02-29", "2009-02-28", "2010-02-28", "2011-02-28", "2012-02-29"]
    );
    assert_eq!(
        steps("2005-12-31", "2006-12-31", Interval::Quarter),
        ["2005-12-31", "2006-03-31", "2006-06-30", "2006-09-30", "2006-12-31"]
    );
    assert_eq!(
        steps("2005-01-01", "2005-01-15", Interval::Week),
        ["2005-01-01", "2005-01-08", "2005-01-15"]
    );
    assert_eq!(steps("2005-01-01", "2005-01-01", Interval::Day), ["2005-01-01"]);
    let too_many = series::steps(d("2000-01-01"), d("2010-01-01"), Interval::Day).unwrap_err();
    assert!(
        too_many.to_string().contains(&format!("more than {MAX_POINTS} points")),
        "{too_many}"
    );
    let backwards = series::steps(d("2010-01-01"), d("2000-01-01"), Interval::Month).unwrap_err();
    assert!(backwards.to_string().contains("before it starts"), "{backwards}");
}

#[tokio::test]
async fn graphql_serves_the_series_and_names_what_is_wrong() {
    let server = common::server::TestServer::start().await;
    let query = "query ($from: Date!, $to: Date!, $every: Interval, $seq: Int, $commune: ID) {
        coverageOverTime(from: $from, to: $to, every: $every, seq: $seq, commune: $commune) {
            date localities withMember withCell temporaryOnly }
        temporaryActivityOverTime(from: $from, to: $to, every: $every, seq: $seq) {
            date members fromBorderPosts hosts } }";
    let vars = json!({"from": "2004-12-31", "to": "2006-12-31", "every": "QUARTER"});
    let data = server.data(&server.reader, query, vars).await;
    let points = data["coverageOverTime"].as_array().expect("points");
    assert_eq!(points.len(), 9, "{data}");
    for point in points {
        let report = server
            .data(
                &server.reader,
                "query ($d: Date!) { coverage(date: $d) { localities withMember withCell temporaryOnly } }",
                json!({"d": point["date"]}),
            )
            .await;
        for field in ["localities", "withMember", "withCell", "temporaryOnly"] {
            assert_eq!(point[field], report["coverage"][field], "{field} on {}", point["date"]);
        }
    }
    assert_eq!(data["temporaryActivityOverTime"].as_array().map(Vec::len), Some(9));
    // The default interval is a month.
    let monthly = server
        .data(
            &server.reader,
            "{ coverageOverTime(from: \"2005-01-01\", to: \"2005-12-31\") { date } }",
            json!({}),
        )
        .await;
    assert_eq!(
        monthly["coverageOverTime"].as_array().map(Vec::len),
        Some(12),
        "{monthly}"
    );

    for (vars, says) in [
        (json!({"from": "2006-01-01", "to": "2005-01-01"}), "before it starts"),
        (
            json!({"from": "1990-01-01", "to": "2020-01-01", "every": "DAY"}),
            "more than 1000 points",
        ),
        (
            json!({"from": "2005-01-01", "to": "2006-01-01", "seq": 1_000_000}),
            "past the head",
        ),
        (
            json!({"from": "2005-01-01", "to": "2006-01-01", "commune": "xa-khong-co"}),
            "unknown commune",
        ),
    ] {
        let (_, body) = server.gql(Some(&server.reader), query, vars.clone()).await;
        let error = &body["errors"][0];
        assert_eq!(common::server::code(&body), "BAD_USER_INPUT", "{vars}: {body}");
        assert!(error["message"].as_str().unwrap_or("").contains(says), "{vars}: {body}");
    }
    server.stop().await;
}

#[test]
fn each_point_is_the_standardization_report_on_its_date() {
    let ledger = demo();
    let p = ledger.projection();
    let head = p.head().seq;
    let programme = Id::parse("03-da-tu").expect("an id");
    let monthly = series::steps(d("2010-12-31"), d("2016-12-31"), Interval::Month).expect("steps");
    let daily = series::steps(d("2012-01-01"), d("2012-03-31"), Interval::Day).expect("steps");
    let mut below = Vec::new();
    for (dates, seq) in [
        (&monthly, head),
        (&monthly, head - 3),
        (&monthly, head * 9 / 10),
        (&daily, head),
    ] {
        let points = series::standardization_over_time(&p, &programme, dates, seq).expect("a series");
        assert_eq!(points.len(), dates.len());
        for point in points {
            let report = reports::standardization(&p, &programme, At { date: point.date, seq }).expect("the report");
            assert_eq!(
                (
                    point.assessed,
                    point.below_standard,
                    point.standardized,
                    point.retired_under_policy
                ),
                (
                    report.assessed,
                    report.below_standard,
                    report.standardized,
                    report.retired_under_policy
                ),
                "standardization on {} as of seq {seq}",
                point.date
            );
            if seq == head && dates.len() == monthly.len() {
                below.push(point.below_standard);
            }
        }
    }
    // F5: 76 below standard at the programme's start, none at its end.
    assert_eq!(below.iter().max(), Some(&76), "{below:?}");
    assert_eq!(below.last(), Some(&0), "{below:?}");

    let unknown =
        series::standardization_over_time(&p, &Id::parse("no-such-programme").expect("an id"), &monthly, head);
    assert!(unknown.is_err_and(|e| e.to_string().contains("no-such-programme")));
}

#[tokio::test]
async fn graphql_serves_the_standardization_series() {
    // The fixture has no programme: the demo has 03-da-tu.
    let server = common::server::TestServer::start_with(common::server::Setup {
        events: orgledger::demo::demo_batches().concat(),
        ..Default::default()
    })
    .await;
    let query = "query ($p: String!, $from: Date!, $to: Date!) {
        standardizationOverTime(programme: $p, from: $from, to: $to, every: YEAR) {
            date assessed belowStandard standardized retiredUnderPolicy } }";
    let data = server
        .data(
            &server.reader,
            query,
            json!({"p": "03-da-tu", "from": "2011-12-31", "to": "2015-12-31"}),
        )
        .await;
    let points = data["standardizationOverTime"].as_array().expect("points");
    assert_eq!(points.len(), 5, "{data}");
    for point in points {
        let report = server
            .data(
                &server.reader,
                "query ($d: Date!) { standardization(programme: \"03-da-tu\", date: $d) {
                    assessed belowStandard standardized retiredUnderPolicy } }",
                json!({"d": point["date"]}),
            )
            .await;
        for field in ["assessed", "belowStandard", "standardized", "retiredUnderPolicy"] {
            assert_eq!(
                point[field], report["standardization"][field],
                "{field} on {}",
                point["date"]
            );
        }
    }
    let (_, body) = server
        .gql(
            Some(&server.reader),
            query,
            json!({"p": "no-such-programme", "from": "2011-12-31", "to": "2015-12-31"}),
        )
        .await;
    assert_eq!(common::server::code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no-such-programme"),
        "{body}"
    );
    server.stop().await;
}
