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
///
/// Its end is held as a date and a `seq` that is never 0 (the first record is 1), rather
/// than an `Option` of the pair, which took 16 bytes: a span is 32 bytes, not 40, and a
/// projection holds millions of them. It is serialized as the five fields it had, `until`
/// an `Option<(Date, u64)>`: the same bytes in snapshots and in the projection commitment.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "StoredSpan<T>")]
pub struct Span<T> {
    pub value: T,
    /// The first date it holds.
    pub from: Date,
    /// The event that recorded it.
    pub opened: u64,
    /// The first date it no longer holds, once `ended` (`from` until then).
    until_date: Date,
    /// The event that recorded its end ([`Span::until`]).
    ended: Option<NonZeroU64>,
    /// The correction that replaced this version, from that `seq` on. Never 0, so `None`
    /// takes no room of its own. Serialized as an `Option<u64>` is.
    pub superseded: Option<NonZeroU64>,
}

impl<T> Span<T> {
    /// A version holding from `from` on, recorded by the event `opened`.
    pub fn new(value: T, from: Date, opened: u64) -> Span<T> {
        Span {
            value,
            from,
            opened,
            until_date: from,
            ended: None,
            superseded: None,
        }
    }

    /// The first date it no longer holds, and the event that recorded that.
    pub fn until(&self) -> Option<(Date, u64)> {
        self.ended.map(|s| (self.until_date, s.get()))
    }

    /// It stops holding on `date`, as the event `seq` recorded.
    ///
    /// # Panics
    /// If `seq` is 0, which no record has.
    pub fn close(&mut self, date: Date, seq: u64) {
        self.until_date = date;
        self.ended = Some(NonZeroU64::new(seq).expect("a record's seq is 1 or more"));
    }

    pub fn visible(&self, at: At) -> bool {
        self.opened <= at.seq
            && self.superseded.is_none_or(|s| s.get() > at.seq)
            && self.from <= at.date
            && self.ended.is_none_or(|s| s.get() > at.seq || at.date < self.until_date)
    }

    /// Whether it was recorded by `seq` and, by then, neither ended nor superseded: the
    /// version in force at the end of valid time, as the ledger stood at `seq`.
    pub fn open_at(&self, seq: u64) -> bool {
        self.opened <= seq && self.superseded.is_none_or(|s| s.get() > seq) && self.ended.is_none_or(|s| s.get() > seq)
    }
}

/// A span as it is serialized (the fields it had when its end was an `Option` of a pair).
#[derive(Deserialize)]
#[serde(rename = "Span")]
struct StoredSpan<T> {
    value: T,
    from: Date,
    opened: u64,
    until: Option<(Date, u64)>,
    superseded: Option<NonZeroU64>,
}

/// The same fields, borrowed, to serialize a span.
#[derive(Serialize)]
#[serde(rename = "Span")]
struct SpanFields<'s, T> {
    value: &'s T,
    from: Date,
    opened: u64,
    until: Option<(Date, u64)>,
    superseded: Option<NonZeroU64>,
}

impl<T: Serialize> Serialize for Span<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SpanFields {
            value: &self.value,
            from: self.from,
            opened: self.opened,
            until: self.until(),
            superseded: self.superseded,
        }
        .serialize(s)
    }
}

impl<T> TryFrom<StoredSpan<T>> for Span<T> {
    type Error = &'static str;
    fn try_from(stored: StoredSpan<T>) -> Result<Span<T>, &'static str> {
        let mut span = Span::new(stored.value, stored.from, stored.opened);
        span.superseded = stored.superseded;
        if let Some((date, seq)) = stored.until {
            if seq == 0 {
                return Err("a span's end recorded at seq 0, which no record has");
            }
            span.close(date, seq);
        }
        Ok(span)
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
        self.spans.push(Span::new(value, from, seq));
    }

    /// The version in force stops holding on `date`.
    pub fn end(&mut self, date: Date, seq: u64) {
        if let Some(last) = self.current_mut() {
            last.close(date, seq);
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
            until_date: old.until_date,
            ended: old.ended,
            ..Span::new(value, old.from, seq)
        };
        self.spans.push(corrected);
    }

    fn current_mut(&mut self) -> Option<&mut Span<T>> {
        self.spans
            .iter_mut()
            .rev()
            .find(|s| s.superseded.is_none() && s.ended.is_none())
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

    /// A span writes the bytes of its five fields with `until` as an `Option` of a pair,
    /// ended or not, superseded or not, and reads back from them; an end recorded at seq 0
    /// does not read.
    #[test]
    fn a_span_writes_and_reads_the_bytes_of_its_fields() {
        let mut t = Timeline::starting("a".to_string(), d("2001-02-03"), 7);
        t.set("b".to_string(), d("2004-05-06"), 300);
        t.correct("c".to_string(), 70_000);
        let old = |s: &Span<String>| {
            (
                s.value.clone(),
                s.from,
                s.opened,
                s.until(),
                s.superseded.map(|n| n.get()),
            )
        };
        for span in t.spans() {
            let bytes = postcard::to_stdvec(span).unwrap();
            assert_eq!(bytes, postcard::to_stdvec(&old(span)).unwrap());
            let read: Span<String> = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(old(&read), old(span));
        }
        assert_eq!(t.spans()[0].until(), Some((d("2004-05-06"), 300)));
        assert_eq!(t.spans()[2].until(), None);
        assert_eq!(t.spans()[1].superseded.map(|n| n.get()), Some(70_000));
        let zero =
            postcard::to_stdvec(&("a", d("2001-02-03"), 7u64, Some((d("2002-01-01"), 0u64)), None::<u64>)).unwrap();
        assert!(postcard::from_bytes::<Span<String>>(&zero).is_err());
        assert_eq!(std::mem::size_of::<Span<()>>(), 32);
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
