//! The value types every event is built from: ids, text, dates, timestamps and hashes.
//!
//! Each type checks itself when it is deserialized, so a malformed value never reaches the
//! rules: a bad id, a non-date or an empty name is refused with a message naming the value.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use smol_str::SmolStr;
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
/// Held inline when it is 23 bytes or shorter (nearly every id), and shared (`Arc<str>`)
/// when longer ([`SmolStr`]): ids are cloned into every map of the state and the projection,
/// and a clone is a copy of 24 bytes or a reference count, never an allocation. Inline, an
/// id is compared and hashed without following a pointer: a lookup in the projection's tree
/// of a million members compared ids held elsewhere in memory at every step down, a cache
/// miss each (BENCHMARKS.md, "Ids held inline").
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(SmolStr);

impl Id {
    /// The longest id held inline, without an allocation of its own.
    pub const INLINE: usize = SmolStr::INLINE_CAP;

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
        Ok(Id(SmolStr::new(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An id is looked up by its text where only the text is at hand (a snapshot's bytes): its
/// `Hash`, `Eq` and `Ord` are its text's.
impl std::borrow::Borrow<str> for Id {
    fn borrow(&self) -> &str {
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
        // Read as a borrowed str where the format lends one (a snapshot holds millions of
        // ids): no String is made only to be copied into the Arc.
        struct IdText;
        impl de::Visitor<'_> for IdText {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an id")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
                Id::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(IdText)
    }
}

/// Free Unicode text (names, titles, reasons), normalized to NFC on the way in so the same
/// name typed two ways is the same bytes. Not empty, not only spaces, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(String);

impl Text {
    pub fn parse(s: &str) -> Result<Text, String> {
        Text::from_string(s.to_owned())
    }

    /// [`Text::parse`] of a string already owned: a text already in NFC (nearly every one
    /// read back from the log) is kept as it is, not copied a character at a time.
    pub fn from_string(s: String) -> Result<Text, String> {
        let nfc = match unicode_normalization::is_nfc_quick(s.chars()) {
            unicode_normalization::IsNormalized::Yes => s,
            _ => s.nfc().collect(),
        };
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
        Text::from_string(s).map_err(de::Error::custom)
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
        let (year, month, day) = (self.0.year(), self.0.month(), self.0.day());
        if !(0..=9999).contains(&year) {
            return write!(f, "{year:04}-{month:02}-{day:02}");
        }
        // Digits into a buffer, as for `Timestamp`: every record sealed writes a date or two.
        let digit = |n: u32| b'0' + n as u8;
        let year = year as u32;
        let text = [
            digit(year / 1000),
            digit(year / 100 % 10),
            digit(year / 10 % 10),
            digit(year % 10),
            b'-',
            digit(month / 10),
            digit(month % 10),
            b'-',
            digit(day / 10),
            digit(day % 10),
        ];
        f.write_str(std::str::from_utf8(&text).expect("digits are ASCII"))
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

    /// Reads exactly the text [`Timestamp`]'s `Display` writes: `YYYY-MM-DDTHH:MM:SS.ffffffZ`,
    /// every field zero-padded to its width, a real date and time of day. Read by hand, field
    /// by field (every record read holds one): a text of this shape that chrono accepts is
    /// one `Display` writes back the same, so no round trip is needed.
    pub fn parse(s: &str) -> Result<Timestamp, String> {
        let err = || format!("invalid timestamp {s:?}: expected YYYY-MM-DDTHH:MM:SS.ffffffZ");
        const SHAPE: &[u8; 27] = b"0000-00-00T00:00:00.000000Z";
        let bytes = s.as_bytes();
        let shaped = bytes.len() == SHAPE.len()
            && bytes
                .iter()
                .zip(SHAPE)
                .all(|(b, want)| if *want == b'0' { b.is_ascii_digit() } else { b == want });
        if !shaped {
            return Err(err());
        }
        let number = |from: usize, to: usize| bytes[from..to].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        // chrono reads second 60 as a leap second; the ledger never writes one, so a record
        // that holds one was not written by a ledger (`and_hms_micro_opt` refuses it).
        let t = chrono::NaiveDate::from_ymd_opt(number(0, 4) as i32, number(5, 7), number(8, 10))
            .and_then(|d| d.and_hms_micro_opt(number(11, 13), number(14, 16), number(17, 19), number(20, 26)))
            .ok_or_else(err)?;
        Ok(Timestamp(t.and_utc()))
    }
}

impl fmt::Display for Timestamp {
    // By hand, as for `Date`; the same text as chrono's RFC 3339 with microseconds and `Z`
    // (a unit test holds the two equal). Digits into a buffer, not `write!` of each field:
    // every record sealed or exported writes one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, t) = (self.0.date_naive(), self.0.time());
        let year = d.year();
        if !(0..=9999).contains(&year) {
            return write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                year,
                d.month(),
                d.day(),
                t.hour(),
                t.minute(),
                t.second(),
                self.0.timestamp_subsec_micros()
            );
        }
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, d.month());
        put(8, 2, d.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, self.0.timestamp_subsec_micros());
        f.write_str(std::str::from_utf8(&text).expect("ASCII digits"))
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
        let err = || format!("invalid hash {s:?}: expected 64 lowercase hex digits");
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return Err(err());
        }
        // One pass that checks and decodes, without a branch per digit (every record read
        // holds two hashes): a digit's value from a table where anything but `0-9a-f` has its
        // high bits set, and those bits gathered and checked once at the end.
        const NIBBLES: [u8; 256] = {
            let mut table = [0xf0u8; 256];
            let mut d = 0;
            while d < 10 {
                table[b'0' as usize + d] = d as u8;
                d += 1;
            }
            let mut d = 0;
            while d < 6 {
                table[b'a' as usize + d] = 10 + d as u8;
                d += 1;
            }
            table
        };
        let mut out = [0u8; 32];
        let mut invalid = 0u8;
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (high, low) = (NIBBLES[pair[0] as usize], NIBBLES[pair[1] as usize]);
            invalid |= high | low;
            *byte = (high << 4) | (low & 0x0f);
        }
        if invalid & 0xf0 != 0 {
            return Err(err());
        }
        Ok(Hash(out))
    }

    pub fn to_hex(&self) -> String {
        String::from_utf8(self.hex_digits().to_vec()).expect("hex digits are ASCII")
    }

    /// The 64 lowercase hex digits, as ASCII bytes.
    pub fn hex_digits(&self) -> [u8; 64] {
        // Into a buffer at once: `hex::encode` pushes one char at a time, and every record
        // sealed writes two hashes.
        let mut digits = [0u8; 64];
        hex::encode_to_slice(self.0, &mut digits).expect("64 digits for 32 bytes");
        digits
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex_digits()).expect("hex digits are ASCII"))
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

    /// Every byte in every position: only `0-9a-f` are digits, and they decode as hex does.
    #[test]
    fn hashes_parse_only_lowercase_hex() {
        let good = "0123456789abcdef".repeat(4);
        let hash = Hash::parse(&good).unwrap();
        assert_eq!(hash.0.to_vec(), hex::decode(&good).unwrap());
        assert_eq!(hash.to_hex(), good);
        for position in [0, 1, 31, 62, 63] {
            for byte in 0..=255u8 {
                let mut digits = good.clone().into_bytes();
                digits[position] = byte;
                let Ok(text) = String::from_utf8(digits) else { continue };
                let digit = byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
                assert_eq!(Hash::parse(&text).is_ok(), digit, "{byte:#x} at {position}");
                if digit {
                    assert_eq!(Hash::parse(&text).unwrap().0.to_vec(), hex::decode(&text).unwrap());
                }
            }
        }
        assert!(Hash::parse(&good[..63]).is_err());
        assert!(Hash::parse(&format!("{good}0")).is_err());
        assert!(Hash::parse(&good.replacen('a', "é", 1)[..64]).is_err());
    }

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

    /// The date's text, written digit by digit, is chrono's `%Y-%m-%d` on every day from
    /// 1900 to 2200, and a hash's digits are `hex::encode`'s.
    #[test]
    fn dates_and_hashes_write_the_text_of_their_libraries() {
        let mut d = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        while d.year() <= 2200 {
            assert_eq!(Date(d).to_string(), d.format("%Y-%m-%d").to_string());
            d = d.succ_opt().unwrap();
        }
        let h = Hash(std::array::from_fn(|i| (i * 37 + 5) as u8));
        assert_eq!(h.to_hex(), hex::encode(h.0));
        assert_eq!(h.to_string(), hex::encode(h.0));
    }

    #[test]
    fn timestamps_round_trip() {
        let t = Timestamp::parse("2026-11-27T03:26:19.123456Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-27T03:26:19.123456Z");
        assert!(Timestamp::parse("2026-11-27T03:26:19Z").is_err());
        for micros in [0, 1, 999_999, 1_764_213_979_123_456, 4_102_444_799_999_999] {
            let t = Timestamp::from_micros(micros).unwrap();
            assert_eq!(t.to_string(), t.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
            assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        }
        for not_a_time in [
            "2026-13-01T00:00:00.000000Z",
            "2026-02-30T00:00:00.000000Z",
            "2026-11-27T24:00:00.000000Z",
            "2026-11-27T03:60:19.123456Z",
            "2026-11-27t03:26:19.123456Z",
            "2026-11-27T03:26:19.123456z",
            "2026-11-27T03:26:19,123456Z",
            "+026-11-27T03:26:19.123456Z",
            "2026-11-27T03:26:1a.123456Z",
        ] {
            assert!(Timestamp::parse(not_a_time).is_err(), "{not_a_time}");
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
