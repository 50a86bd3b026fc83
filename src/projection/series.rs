//! Reports over time: one point per step from one date to another, as the ledger stood at
//! one `seq`, computed in one pass over the projection rather than a report per step.
//!
//! Each point is exactly what the report of the same name answers at `At { date, seq }`
//! (tests/series.rs checks it point by point). The pass turns each bitemporal value, as of
//! `seq`, into the ranges of steps over which each of its versions is the one in force (the
//! later version wins where two overlap, as [`Timeline::at`] picks it), and sets the steps
//! of each locality or host in small bitsets; the counts per step come last.

use std::collections::HashMap;
use std::ops::Range;

use chrono::Datelike;
use serde::Serialize;

use super::reports::ReportError;
use super::timeline::{At, Timeline};
use super::{Outcome, Projection};
use crate::event::*;

/// The most points one series may have: a query cannot make the server count a century
/// day by day.
pub const MAX_POINTS: usize = 1000;

/// The step between two points of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// The dates of a series: `from`, then every `every` after it while not past `to`. Months,
/// quarters and years keep `from`'s day of the month (clamped to a shorter month's end), or
/// the month's end when `from` is the end of its month: 2005-01-31 steps to 2005-02-28, then
/// 2005-03-31.
pub fn steps(from: Date, to: Date, every: Interval) -> Result<Vec<Date>, ReportError> {
    if to < from {
        return Err(ReportError::Invalid(format!(
            "the series ends ({to}) before it starts ({from})"
        )));
    }
    let month_end = from.plus_days(1).naive().day() == 1;
    let months = |k: u32| -> Date {
        let d = from.plus_months(k);
        if !month_end {
            return d;
        }
        // The last day of d's month: the first of the next, less a day.
        let (y, m) = (d.year(), d.naive().month());
        let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        Date::from_ymd(y, m, 1).map_or(d, |first| first.plus_days(-1))
    };
    let mut dates = Vec::new();
    for k in 0u32.. {
        let d = match every {
            Interval::Day => from.plus_days(k as i64),
            Interval::Week => from.plus_days(7 * k as i64),
            Interval::Month => months(k),
            Interval::Quarter => months(3 * k),
            Interval::Year => months(12 * k),
        };
        if d > to {
            break;
        }
        if dates.len() == MAX_POINTS {
            return Err(ReportError::Invalid(format!(
                "the series from {from} to {to} by {every:?} has more than {MAX_POINTS} points: take a \
                 longer interval or a shorter span"
            )));
        }
        dates.push(d);
    }
    Ok(dates)
}

/// One point of the coverage series: `coverage`'s counts on `date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoveragePoint {
    pub date: Date,
    pub localities: u64,
    pub with_member: u64,
    pub with_cell: u64,
    pub temporary_only: u64,
}

/// One point of the temporary-activity series: `temporaryActivity`'s counts on `date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemporaryActivityPoint {
    pub date: Date,
    pub members: u64,
    pub from_border_posts: u64,
    pub hosts: u64,
}

/// The steps of a series that something holds on: a bitset.
#[derive(Clone, Default)]
struct Steps(Vec<u64>);

impl Steps {
    fn set(&mut self, i: usize) {
        let word = i / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (i % 64);
    }

    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Sets the steps of `range` where `mask` holds.
    fn set_masked(&mut self, range: Range<usize>, mask: &Steps) {
        for i in range.filter(|&i| mask.get(i)) {
            self.set(i);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(w, bits)| (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| w * 64 + b))
    }
}

/// The ranges of `dates` (indices) over which each version of `t` is the one in force as of
/// `seq`, with its value: what [`Timeline::at`] gives at each of those dates.
fn ranges<'a, V: Clone>(t: &'a Timeline<V>, seq: u64, dates: &[Date]) -> Vec<(Range<usize>, &'a V)> {
    let mut taken: Vec<Range<usize>> = Vec::new();
    let mut out = Vec::new();
    // The latest version visible wins, as `at` looks from the end.
    for span in t.spans().iter().rev() {
        if span.opened > seq || span.superseded.is_some_and(|s| s.get() <= seq) {
            continue;
        }
        let lo = dates.partition_point(|d| *d < span.from);
        let hi = match span.until() {
            Some((until, recorded)) if recorded <= seq => dates.partition_point(|d| *d < until),
            _ => dates.len(),
        };
        if lo >= hi {
            continue;
        }
        let mut pieces: Vec<Range<usize>> = std::iter::once(lo..hi).collect();
        for t in &taken {
            pieces = pieces
                .into_iter()
                .flat_map(|p| [p.start..p.end.min(t.start), p.start.max(t.end)..p.end])
                .filter(|p| p.start < p.end)
                .collect();
        }
        out.extend(pieces.into_iter().map(|p| (p, &span.value)));
        taken.push(lo..hi);
    }
    out
}

/// The steps on which a timeline holds as of `seq`.
fn holding<V: Clone>(t: &Timeline<V>, seq: u64, dates: &[Date]) -> Steps {
    let mut steps = Steps::default();
    for (r, _) in ranges(t, seq, dates) {
        r.for_each(|i| steps.set(i));
    }
    steps
}

/// The ranges over which a member is on temporary activity with a host, and the host: the
/// activity in force, up to the date it was to run until.
fn hosted<'a>(temporary: &'a Timeline<(Id, Option<Date>)>, seq: u64, dates: &[Date]) -> Vec<(Range<usize>, &'a Id)> {
    ranges(temporary, seq, dates)
        .into_iter()
        .map(|(r, (host, until))| {
            let end = until.map_or(r.end, |u| r.end.min(dates.partition_point(|d| *d <= u)));
            (r.start..end.max(r.start), host)
        })
        .collect()
}

/// `coverage` on each of `dates` as of `seq`, in all or in one commune.
pub fn coverage_over_time(
    p: &Projection,
    dates: &[Date],
    seq: u64,
    commune: Option<&Id>,
) -> Result<Vec<CoveragePoint>, ReportError> {
    if let Some(c) = commune {
        let known = p
            .localities
            .get(c)
            .is_some_and(|l| l.kind == LocalityKind::Commune && l.registered.1 <= seq);
        if !known {
            return Err(ReportError::Unknown {
                kind: "commune",
                id: c.to_string(),
                seq,
            });
        }
    }
    let mut resident: HashMap<&Id, Steps> = HashMap::new();
    let mut hosts: HashMap<&Id, Steps> = HashMap::new();
    for m in p.members.values() {
        let active = holding(&m.active, seq, dates);
        if active.is_empty() {
            continue;
        }
        for (r, home) in ranges(&m.home_locality, seq, dates) {
            resident.entry(home).or_default().set_masked(r, &active);
        }
        for (r, host) in hosted(&m.temporary, seq, dates) {
            hosts.entry(host).or_default().set_masked(r, &active);
        }
    }
    let mut celled: HashMap<&Id, Steps> = HashMap::new();
    let mut temporary: HashMap<&Id, Steps> = HashMap::new();
    for (id, o) in p.orgs.iter().filter(|(_, o)| o.kind == OrgKind::Cell) {
        let alive = holding(&o.alive, seq, dates);
        let host = hosts.get(id);
        for l in &o.localities {
            let cells = celled.entry(l).or_default();
            alive.ones().for_each(|i| cells.set(i));
            if let Some(host) = host {
                let t = temporary.entry(l).or_default();
                alive.ones().filter(|&i| host.get(i)).for_each(|i| t.set(i));
            }
        }
    }
    let mut points: Vec<CoveragePoint> = dates
        .iter()
        .map(|&date| CoveragePoint {
            date,
            localities: 0,
            with_member: 0,
            with_cell: 0,
            temporary_only: 0,
        })
        .collect();
    let none = Steps::default();
    for (id, l) in &p.localities {
        if !matches!(l.kind, LocalityKind::Hamlet | LocalityKind::ResidentialGroup) {
            continue;
        }
        let (member, cell, temp) = (
            resident.get(id).unwrap_or(&none),
            celled.get(id).unwrap_or(&none),
            temporary.get(id).unwrap_or(&none),
        );
        for i in holding(&l.alive, seq, dates).ones() {
            if let Some(c) = commune {
                if super::reports::commune_of(p, id, At { date: dates[i], seq }).as_ref() != Some(c) {
                    continue;
                }
            }
            let point = &mut points[i];
            point.localities += 1;
            if member.get(i) {
                point.with_member += 1;
            } else if temp.get(i) {
                point.temporary_only += 1;
            }
            if cell.get(i) {
                point.with_cell += 1;
            }
        }
    }
    Ok(points)
}

/// `temporaryActivity`'s counts on each of `dates` as of `seq`.
pub fn temporary_activity_over_time(p: &Projection, dates: &[Date], seq: u64) -> Vec<TemporaryActivityPoint> {
    let mut points: Vec<TemporaryActivityPoint> = dates
        .iter()
        .map(|&date| TemporaryActivityPoint {
            date,
            members: 0,
            from_border_posts: 0,
            hosts: 0,
        })
        .collect();
    let mut hosts: HashMap<&Id, Steps> = HashMap::new();
    for m in p.members.values() {
        let on = hosted(&m.temporary, seq, dates);
        if on.is_empty() {
            continue;
        }
        let active = holding(&m.active, seq, dates);
        for (r, host) in on {
            let steps = hosts.entry(host).or_default();
            for i in r.filter(|&i| active.get(i)) {
                steps.set(i);
                points[i].members += 1;
                let at = At { date: dates[i], seq };
                if m.org.at(at).is_some_and(|h| super::reports::is_border_post_org(p, h)) {
                    points[i].from_border_posts += 1;
                }
            }
        }
    }
    for steps in hosts.values() {
        steps.ones().for_each(|i| points[i].hosts += 1);
    }
    points
}

/// One point of the standardization series: `standardization`'s counts on `date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandardizationPoint {
    pub date: Date,
    /// Cadres assessed under the programme by `date`.
    pub assessed: u64,
    /// Cadres below standard on `date`: assessed with gaps, neither standardized nor retired.
    pub below_standard: u64,
    pub standardized: u64,
    pub retired_under_policy: u64,
}

/// `standardization`'s counts under `programme` on each of `dates` as of `seq`, in one pass
/// over the cadres: each cadre's assessments under the programme are looked at once, and at
/// each step the one in force is the one the report would take (the latest recorded by
/// `seq` and effective by the step's date).
pub fn standardization_over_time(
    p: &Projection,
    programme: &Id,
    dates: &[Date],
    seq: u64,
) -> Result<Vec<StandardizationPoint>, ReportError> {
    if p.instruments.get(programme).is_none_or(|i| i.issued.1 > seq) {
        return Err(ReportError::Unknown {
            kind: "programme",
            id: programme.to_string(),
            seq,
        });
    }
    let mut points: Vec<StandardizationPoint> = dates
        .iter()
        .map(|&date| StandardizationPoint {
            date,
            assessed: 0,
            below_standard: 0,
            standardized: 0,
            retired_under_policy: 0,
        })
        .collect();
    for (person, cadre) in &p.cadres {
        let visible: Vec<_> = cadre
            .assessments
            .iter()
            .filter(|a| &a.programme == programme && a.seq <= seq)
            .collect();
        let Some(first) = visible.iter().map(|a| a.date).min() else {
            continue;
        };
        // A cadre whose membership has ended is no longer counted below standard.
        let active = p
            .members
            .get(person)
            .map(|m| holding(&m.active, seq, dates))
            .unwrap_or_default();
        for i in dates.partition_point(|d| *d < first)..dates.len() {
            let date = dates[i];
            let Some(a) = visible.iter().rev().find(|a| a.date <= date) else {
                continue;
            };
            let point = &mut points[i];
            point.assessed += 1;
            match a.outcome.filter(|(_, d, s)| *s <= seq && *d <= date) {
                Some((Outcome::Standardized, _, _)) => point.standardized += 1,
                Some((Outcome::RetiredUnderPolicy, _, _)) => point.retired_under_policy += 1,
                None if !a.gaps.is_empty() && active.get(i) => point.below_standard += 1,
                None => {}
            }
        }
    }
    Ok(points)
}
