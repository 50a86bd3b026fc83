//! Bitemporal values: each version of a fact carries its valid time (`from`, `until`, the
//! `effective` dates of the events that opened and closed it) and its transaction time (the
//! `seq` of those events, and of a correction that superseded it).
//!
//! A question is asked at an [`At`]: a date (valid time) and a `seq` (transaction time). A
//! version is visible at `At { date, seq }` when the ledger had recorded it by `seq`, had
//! not superseded it by `seq`, and on `date` it held: `from <= date`, and either its end was
//! not yet recorded by `seq` or `date < until`. So the live projection answers a question as
//! of any point of the log's own history without replaying anything.

use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::event::Date;

/// The point of a question: valid time and transaction time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub date: Date,
    pub seq: u64,
}

/// One version of a value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Span<T> {
    pub value: T,
    /// The first date it holds.
    pub from: Date,
    /// The event that recorded it.
    pub opened: u64,
    /// The first date it no longer holds, and the event that recorded that.
    pub until: Option<(Date, u64)>,
    /// The correction that replaced this version, from that `seq` on. Never 0 (the first
    /// record is 1), so `None` takes no room of its own: a span is 8 bytes smaller, and a
    /// projection holds millions of them. Serialized as an `Option<u64>` is.
    pub superseded: Option<NonZeroU64>,
}

impl<T> Span<T> {
    pub fn visible(&self, at: At) -> bool {
        self.opened <= at.seq
            && self.superseded.is_none_or(|s| s.get() > at.seq)
            && self.from <= at.date
            && self.until.is_none_or(|(u, s)| s > at.seq || at.date < u)
    }

    /// Whether it was recorded by `seq` and, by then, neither ended nor superseded: the
    /// version in force at the end of valid time, as the ledger stood at `seq`.
    pub fn open_at(&self, seq: u64) -> bool {
        self.opened <= seq && self.superseded.is_none_or(|s| s.get() > seq) && self.until.is_none_or(|(_, s)| s > seq)
    }
}

/// The versions of one value over time. Most values never change: the first version is
/// held inline, so a timeline of one version costs no allocation of its own (a member's view
/// holds nine timelines, and a projection millions of them). Serialized as a sequence, as a
/// `Vec` is: the same bytes in snapshots and in the projection commitment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeline<T> {
    spans: SmallVec<[Span<T>; 1]>,
}

impl<T> Default for Timeline<T> {
    fn default() -> Self {
        Timeline { spans: SmallVec::new() }
    }
}

impl<T: Clone> Timeline<T> {
    pub fn starting(value: T, from: Date, seq: u64) -> Timeline<T> {
        let mut t = Timeline::default();
        t.set(value, from, seq);
        t
    }

    /// The value holds from `from` on: the version in force is closed on that date.
    pub fn set(&mut self, value: T, from: Date, seq: u64) {
        self.end(from, seq);
        self.spans.push(Span {
            value,
            from,
            opened: seq,
            until: None,
            superseded: None,
        });
    }

    /// The version in force stops holding on `date`.
    pub fn end(&mut self, date: Date, seq: u64) {
        if let Some(last) = self.current_mut() {
            last.until = Some((date, seq));
        }
    }

    /// A correction: the latest version was wrong, and `value` is what it should have been
    /// over the same dates. The old version stays visible to questions asked before `seq`.
    ///
    /// # Panics
    /// If `seq` is 0, which no record has.
    pub fn correct(&mut self, value: T, seq: u64) {
        let Some(i) = self.spans.iter().rposition(|s| s.superseded.is_none()) else {
            return;
        };
        self.spans[i].superseded = Some(NonZeroU64::new(seq).expect("a record's seq is 1 or more"));
        let old = &self.spans[i];
        let corrected = Span {
            value,
            from: old.from,
            opened: seq,
            until: old.until,
            superseded: None,
        };
        self.spans.push(corrected);
    }

    fn current_mut(&mut self) -> Option<&mut Span<T>> {
        self.spans
            .iter_mut()
            .rev()
            .find(|s| s.superseded.is_none() && s.until.is_none())
    }

    /// The value at `at`, if any version is visible.
    pub fn at(&self, at: At) -> Option<&T> {
        self.spans.iter().rev().find(|s| s.visible(at)).map(|s| &s.value)
    }

    pub fn holds(&self, at: At) -> bool {
        self.at(at).is_some()
    }

    pub fn spans(&self) -> &[Span<T>] {
        &self.spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn at(date: &str, seq: u64) -> At {
        At { date: d(date), seq }
    }

    #[test]
    fn valid_and_transaction_time() {
        let mut t = Timeline::starting("a", d("2005-01-01"), 1);
        t.set("b", d("2008-06-01"), 5);
        t.end(d("2010-01-01"), 9);
        assert_eq!(t.at(at("2004-12-31", 9)), None);
        assert_eq!(t.at(at("2006-01-01", 9)), Some(&"a"));
        assert_eq!(t.at(at("2009-01-01", 9)), Some(&"b"));
        assert_eq!(t.at(at("2010-01-01", 9)), None);
        // Before seq 9 the end was not recorded; before seq 5 the change was not either.
        assert_eq!(t.at(at("2011-01-01", 8)), Some(&"b"));
        assert_eq!(t.at(at("2009-01-01", 4)), Some(&"a"));
        assert_eq!(t.at(at("2009-01-01", 0)), None);
    }

    #[test]
    fn corrections_keep_the_old_answer_for_older_questions() {
        let mut t = Timeline::starting("Nong Van A", d("2005-01-01"), 1);
        t.correct("Nông Văn A", 7);
        assert_eq!(t.at(at("2006-01-01", 6)), Some(&"Nong Van A"));
        assert_eq!(t.at(at("2006-01-01", 7)), Some(&"Nông Văn A"));
        t.set("Nông Văn B", d("2007-01-01"), 8);
        assert_eq!(t.at(at("2006-06-01", 8)), Some(&"Nông Văn A"));
        assert_eq!(t.at(at("2007-06-01", 8)), Some(&"Nông Văn B"));
    }
}
