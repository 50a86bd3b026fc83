//! The value types every event is built from: ids, text, dates, timestamps and hashes.
//!
//! Each type checks itself when it is deserialized, so a malformed value never reaches the
//! rules: a bad id, a non-date or an empty name is refused with a message naming the value.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;

/// The longest id, in bytes. Ids are short slugs; longer ones are a client bug.
pub const MAX_ID_LEN: usize = 64;
/// The longest free text (names, titles, reasons), in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// The earliest and latest dates the ledger accepts. Nobody in the records was born before
/// 1900, and a date past 2100 is a typing error.
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 2100;

/// A stable identifier chosen by the client: 1 to 64 characters of `a-z`, `0-9` and `-`,
/// starting and ending with a letter or digit (`xom-pac-ngoa`, `dv-000123`, `03-da-tu`).
///
/// Shared (`Arc<str>`), because ids are cloned into every map of the state and the
/// projection: a clone is a reference count, not an allocation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(std::sync::Arc<str>);

impl Id {
    pub fn parse(s: &str) -> Result<Id, String> {
        let bytes = s.as_bytes();
        let ok_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty()
            || bytes.len() > MAX_ID_LEN
            || !bytes.iter().all(ok_char)
            || !alnum(&bytes[0])
            || !alnum(&bytes[bytes.len() - 1])
        {
            return Err(format!(
                "invalid id {s:?}: an id is 1 to {MAX_ID_LEN} characters of a-z, 0-9 and '-', \
                 starting and ending with a letter or digit"
            ));
        }
        Ok(Id(std::sync::Arc::from(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Id::parse(&s).map_err(de::Error::custom)
    }
}

/// Free Unicode text (names, titles, reasons), normalized to NFC on the way in so the same
/// name typed two ways is the same bytes. Not empty, not only spaces, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(String);

impl Text {
    pub fn parse(s: &str) -> Result<Text, String> {
        let nfc: String = s.nfc().collect();
        if nfc.trim().is_empty() {
            return Err("empty text: a name, title or reason must not be empty".into());
        }
        if nfc.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("text longer than {MAX_TEXT_CHARS} characters"));
        }
        if let Some(c) = nfc.chars().find(|c| c.is_control()) {
            return Err(format!("text {nfc:?} holds the control character {:?}", c));
        }
        Ok(Text(nfc))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let binary = !d.is_human_readable();
        let s = String::deserialize(d)?;
        if binary {
            // Binary forms are projection snapshots, written from texts already checked and
            // guarded by a hash of their body: normalizing every name again would only cost.
            return Ok(Text(s));
        }
        Text::parse(&s).map_err(de::Error::custom)
    }
}

/// A calendar date, written `YYYY-MM-DD` and nothing else, between 1900 and 2100.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(NaiveDate);

impl Date {
    pub fn parse(s: &str) -> Result<Date, String> {
        let shape_ok = s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        // Each message says why, then the form expected, so that a person can fix the date.
        let err = |why: &str| format!("invalid date {s:?}: {why}; expected a real calendar date as YYYY-MM-DD");
        if !shape_ok {
            return Err(err(
                "not of the form YYYY-MM-DD (a four-digit year, two-digit month and day)",
            ));
        }
        let number = |range: std::ops::Range<usize>| s[range].parse::<u32>().unwrap_or(0);
        let (year, month, day) = (number(0..4) as i32, number(5..7), number(8..10));
        if !(1..=12).contains(&month) {
            return Err(err(&format!("there is no month {month:02}")));
        }
        let d = NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
            let first = NaiveDate::from_ymd_opt(year, month, 1).expect("the first of a month 1 to 12 exists");
            let days = first
                .with_day(31)
                .or(first.with_day(30))
                .or(first.with_day(29))
                .or(first.with_day(28));
            let month_name = first.format("%B %Y");
            match days {
                Some(last) => err(&format!("{month_name} has {} days", last.day())),
                None => err("no such day"),
            }
        })?;
        if d.year() < MIN_YEAR || d.year() > MAX_YEAR {
            return Err(format!("date {s:?} is outside the years {MIN_YEAR} to {MAX_YEAR}"));
        }
        Ok(Date(d))
    }

    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Date> {
        NaiveDate::from_ymd_opt(y, m, d).map(Date)
    }

    pub fn naive(self) -> NaiveDate {
        self.0
    }

    pub fn year(self) -> i32 {
        self.0.year()
    }

    /// The same day `months` later (clamped to the month's end), as the Charter counts.
    pub fn plus_months(self, months: u32) -> Date {
        Date(self.0 + chrono::Months::new(months))
    }

    pub fn plus_days(self, days: i64) -> Date {
        Date(self.0 + chrono::Duration::days(days))
    }

    /// Whole years from `birth` to `self`, as an age is counted.
    pub fn years_since(self, birth: Date) -> i32 {
        self.0.years_since(birth.0).map(|y| y as i32).unwrap_or(-1)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Date {
    // Written by hand: chrono's `format` parses its pattern on every call, which showed in
    // the profile of the append path and of snapshot encoding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.0.month(), self.0.day())
    }
}

/// In JSON a date is its `YYYY-MM-DD` text. In binary forms (projection snapshots) it is
/// the day number from the common era, which encodes and decodes without text.
impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i32(self.0.num_days_from_ce())
        }
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Date::parse(&s).map_err(de::Error::custom)
        } else {
            let days = i32::deserialize(d)?;
            NaiveDate::from_num_days_from_ce_opt(days)
                .map(Date)
                .ok_or_else(|| de::Error::custom(format!("day number {days} is not a date")))
        }
    }
}

/// A UTC instant with microsecond precision, written `YYYY-MM-DDTHH:MM:SS.ffffffZ`; the
/// ledger's transaction time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn new(t: DateTime<Utc>) -> Timestamp {
        // Truncate to the microseconds the text form carries, so a parsed timestamp equals
        // the one that was written.
        let micros = t.timestamp_micros();
        Timestamp(DateTime::from_timestamp_micros(micros).expect("in range"))
    }

    pub fn now() -> Timestamp {
        Timestamp::new(Utc::now())
    }

    pub fn from_micros(micros: i64) -> Option<Timestamp> {
        DateTime::from_timestamp_micros(micros).map(Timestamp)
    }

    pub fn micros(self) -> i64 {
        self.0.timestamp_micros()
    }

    pub fn date(self) -> Date {
        Date(self.0.date_naive())
    }

    pub fn parse(s: &str) -> Result<Timestamp, String> {
        let err = || format!("invalid timestamp {s:?}: expected YYYY-MM-DDTHH:MM:SS.ffffffZ");
        // chrono reads second 60 as a leap second; the ledger never writes one, so a record
        // that holds one was not written by a ledger.
        if s.len() != 27 || !s.ends_with('Z') || s.get(17..19) == Some("60") {
            return Err(err());
        }
        let t = DateTime::parse_from_rfc3339(s).map_err(|_| err())?;
        let t = Timestamp(t.with_timezone(&Utc));
        if t.to_string() != s {
            return Err(err());
        }
        Ok(t)
    }
}

impl fmt::Display for Timestamp {
    // By hand, as for `Date`; the same text as chrono's RFC 3339 with microseconds and `Z`
    // (a unit test holds the two equal).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, t) = (self.0.date_naive(), self.0.time());
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            d.year(),
            d.month(),
            d.day(),
            t.hour(),
            t.minute(),
            t.second(),
            self.0.timestamp_subsec_micros()
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A blake3 output: an event hash, or `prev` (all zeros before the first event). Its serde
/// form is the 32 raw bytes, for binary snapshots; JSON always writes it as hex by hand.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    /// Parses 64 lowercase hex digits, the only form the ledger writes.
    pub fn parse(s: &str) -> Result<Hash, String> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!("invalid hash {s:?}: expected 64 lowercase hex digits"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|e| e.to_string())?;
        Ok(Hash(out))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(Id::parse("xom-pac-ngoa").is_ok());
        assert!(Id::parse("dv-000123").is_ok());
        for bad in ["", "-a", "a-", "Xom", "xóm", "a b", "a/b", &"a".repeat(65)] {
            assert!(Id::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_is_nfc() {
        // "Pác" typed with a combining acute accent becomes the precomposed character.
        let decomposed = "Pa\u{301}c Ngo\u{300}a";
        assert_eq!(Text::parse(decomposed).unwrap().as_str(), "Pác Ngòa");
        assert!(Text::parse("  ").is_err());
        assert!(Text::parse("a\nb").is_err());
    }

    #[test]
    fn dates() {
        assert!(Date::parse("2008-12-31").is_ok());
        for bad in [
            "2008-02-30",
            "2008-1-01",
            "08-12-31",
            "2008-12-31T00:00",
            "1899-12-31",
            "abcd-ef-gh",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad:?}");
        }
        let d = Date::parse("2008-02-29").unwrap();
        assert_eq!(d.plus_months(12).to_string(), "2009-02-28");
        assert_eq!(
            Date::parse("2008-02-28")
                .unwrap()
                .years_since(Date::parse("1990-03-01").unwrap()),
            17
        );
    }

    #[test]
    fn timestamps_round_trip() {
        let t = Timestamp::parse("2026-11-27T03:26:19.123456Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-27T03:26:19.123456Z");
        assert!(Timestamp::parse("2026-11-27T03:26:19Z").is_err());
        for micros in [0, 1, 999_999, 1_764_213_979_123_456, 4_102_444_799_999_999] {
            let t = Timestamp::from_micros(micros).unwrap();
            assert_eq!(t.to_string(), t.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        }
        assert_eq!(
            Date::parse("0999-01-02").map(|d| d.to_string()).ok(),
            None,
            "years before 1900 are refused"
        );
        assert_eq!(Date::from_ymd(1900, 1, 2).unwrap().to_string(), "1900-01-02");
        assert!(
            Timestamp::parse("2016-12-31T23:59:60.000000Z").is_err(),
            "no leap seconds"
        );
        assert!(Timestamp::parse("2026-11-27T03:26:19.123456+00:00").is_err());
    }
}
