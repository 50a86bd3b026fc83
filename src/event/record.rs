//! The envelope: what a client submits ([`Submission`]) and what the ledger stores
//! ([`Record`]), with the canonical bytes and hash computed once, when the record is sealed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::canonical::{parse_strict, to_canonical, write_string};
use super::canonical_de;
use super::canonical_ser::{self, Members};
use super::catalogue::{Event, EVENT_TYPES};
use super::types::{Date, Hash, Id, Text, Timestamp};

/// The format version written into every record (`"format":1`) and so into every hash.
pub const FORMAT_VERSION: u64 = 1;

/// The blake3 `derive_key` context for event hashes. Distinct contexts for events, tree
/// nodes and checkpoints keep one kind of hash from ever standing for another.
pub const EVENT_HASH_CONTEXT: &str = "orgledger 2026-11-27 event record v1";

/// The most items a list field of an event may hold (localities of a cell, introducers,
/// topics, gaps): far above any real event, low enough that no input can exhaust memory.
pub const MAX_LIST_ITEMS: usize = 1000;

/// Envelope fields set by the ledger; a client that sends one is refused.
pub const LEDGER_FIELDS: &[&str] = &["seq", "prev", "hash", "recorded_at", "actor", "format"];

/// The decision an event rests on (quyết định): its number, date and issuing body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub number: Text,
    pub date: Date,
    pub issuer: Id,
}

/// Why a submitted line or a stored record could not be read. Surfaces as CLI exit code 1
/// and GraphQL `BAD_USER_INPUT`; retrying the same input gives the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("an event must be a JSON object")]
    NotAnObject,
    #[error("missing field `type`")]
    MissingType,
    #[error("unknown event type {0:?}; known types: {known}", known = EVENT_TYPES.join(", "))]
    UnknownType(String),
    #[error("field `{0}` is set by the ledger, not by the client")]
    LedgerField(String),
    #[error("{type_name}: {message}")]
    Field { type_name: String, message: String },
}

/// An event as a client submits it: the change and its valid time.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// The date the change took effect (valid time); may be long before it is recorded.
    pub effective: Date,
    /// The decision behind the change, where there is one.
    pub decision: Option<Decision>,
    pub event: Event,
}

impl Submission {
    pub fn new(effective: Date, event: Event) -> Submission {
        Submission {
            effective,
            decision: None,
            event,
        }
    }

    pub fn with_decision(mut self, decision: Decision) -> Submission {
        self.decision = Some(decision);
        self
    }

    /// Parses one JSON Lines line of client input.
    pub fn from_json(line: &str) -> Result<Submission, InputError> {
        let value = parse_strict(line).map_err(|e| InputError::Json(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(InputError::NotAnObject);
        };
        Submission::from_object(map)
    }

    /// Builds a submission from a JSON object as a line of input holds it (`type`,
    /// `effective`, `decision?` and the event's fields): how GraphQL input reaches the same
    /// checks as the command line's.
    pub fn from_object(map: Map<String, Value>) -> Result<Submission, InputError> {
        if let Some(field) = LEDGER_FIELDS.iter().find(|f| map.contains_key(**f)) {
            return Err(InputError::LedgerField((*field).to_owned()));
        }
        Submission::from_map(map)
    }

    /// Builds a submission from an object holding `type`, `effective`, `decision?` and the
    /// event's fields (and nothing else).
    fn from_map(mut map: Map<String, Value>) -> Result<Submission, InputError> {
        let type_name = match map.remove("type") {
            Some(Value::String(t)) => t,
            Some(_) => {
                return Err(InputError::Field {
                    type_name: "event".into(),
                    message: "`type` must be a string".into(),
                })
            }
            None => return Err(InputError::MissingType),
        };
        if !EVENT_TYPES.contains(&type_name.as_str()) {
            return Err(InputError::UnknownType(type_name));
        }
        let field_err = |message: String| InputError::Field {
            type_name: type_name.clone(),
            message,
        };
        let effective = match map.remove("effective") {
            Some(v) => Date::deserialize(v).map_err(|e| field_err(format!("effective: {e}")))?,
            None => return Err(field_err("missing field `effective`".into())),
        };
        let long_list = map
            .iter()
            .filter_map(|(k, v)| v.as_array().map(|a| (k, a.len())))
            .find(|(_, n)| *n > MAX_LIST_ITEMS);
        if let Some((key, items)) = long_list {
            return Err(field_err(format!(
                "{key}: {items} items; a list holds at most {MAX_LIST_ITEMS}"
            )));
        }
        if let Some((key, _)) = map.iter().find(|(_, v)| v.is_null()) {
            return Err(field_err(format!(
                "{key}: invalid type: null (leave an optional field out instead)"
            )));
        }
        let decision = match map.remove("decision") {
            None => None,
            Some(v @ Value::Object(_)) => Some(
                serde_path_to_error::deserialize::<_, Decision>(v).map_err(|e| field_err(format!("decision.{e}")))?,
            ),
            Some(other) => {
                let found = match other {
                    Value::Array(_) => "array",
                    Value::String(_) => "string",
                    Value::Number(_) => "number",
                    _ => "boolean",
                };
                return Err(field_err(format!(
                    "decision: invalid type: {found}, expected an object {{number, date, issuer}}"
                )));
            }
        };
        let mut tagged = Map::new();
        tagged.insert(type_name.clone(), Value::Object(map));
        let event = serde_path_to_error::deserialize::<_, Event>(Value::Object(tagged)).map_err(|e| {
            // The path starts with the variant name; drop it so the message names the field.
            let path = e.path().to_string();
            let field = path
                .split_once('.')
                .map(|(_, rest)| rest.to_owned())
                .unwrap_or_default();
            let inner = e.into_inner().to_string();
            if field.is_empty() || field == "?" {
                field_err(inner)
            } else {
                field_err(format!("{field}: {inner}"))
            }
        })?;
        Ok(Submission {
            effective,
            decision,
            event,
        })
    }

    /// The submission as a JSON object: `type`, `effective`, `decision` and the fields.
    pub fn to_value(&self) -> Map<String, Value> {
        let tagged = serde_json::to_value(&self.event).expect("events always serialize");
        let Value::Object(tagged) = tagged else {
            unreachable!("events serialize as objects")
        };
        let (type_name, fields) = tagged.into_iter().next().expect("one variant");
        let Value::Object(mut map) = fields else {
            unreachable!("event payloads are structs")
        };
        map.insert("type".into(), Value::String(type_name));
        map.insert("effective".into(), Value::String(self.effective.to_string()));
        if let Some(d) = &self.decision {
            map.insert("decision".into(), serde_json::to_value(d).expect("decisions serialize"));
        }
        map
    }
}

/// Why a stored or exported record is not a valid record. The chain verifier reports it
/// with the record's `seq`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("malformed record: {0}")]
    Malformed(String),
    #[error("hash mismatch: the record says {stated}, its bytes hash to {computed}")]
    HashMismatch { stated: Hash, computed: Hash },
    #[error("record is not in canonical form")]
    NotCanonical,
    #[error("unsupported format version {0}")]
    Version(u64),
}

/// An event as the ledger stores it: sealed with its position, time, actor and hash.
/// Fields are private so the hash always matches the content it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    seq: u64,
    prev: Hash,
    recorded_at: Timestamp,
    actor: Id,
    submission: Submission,
    /// The canonical bytes the hash covers, kept so the store writes what was hashed.
    canonical: Vec<u8>,
    hash: Hash,
}

/// The hash of a record's canonical bytes.
pub fn event_hash(canonical: &[u8]) -> Hash {
    // The context's key is derived once (a compression of its own on every call otherwise,
    // one in seven of a typical record's); each hash starts from a copy of that state.
    static TEMPLATE: std::sync::OnceLock<blake3::Hasher> = std::sync::OnceLock::new();
    let mut h = TEMPLATE
        .get_or_init(|| blake3::Hasher::new_derive_key(EVENT_HASH_CONTEXT))
        .clone();
    h.update(canonical);
    Hash(*h.finalize().as_bytes())
}

impl Record {
    /// Seals a submission at position `seq` after the record whose hash is `prev`.
    pub fn seal(seq: u64, prev: Hash, recorded_at: Timestamp, actor: Id, submission: Submission) -> Record {
        let canonical = canonical_bytes(seq, prev, recorded_at, &actor, &submission);
        let hash = event_hash(&canonical);
        Record {
            seq,
            prev,
            recorded_at,
            actor,
            submission,
            canonical,
            hash,
        }
    }

    /// Reads a record from its canonical bytes and the hash stored beside them, checking that
    /// the bytes hash to it and are the canonical form of a valid record.
    pub fn from_stored(hash: Hash, canonical: &[u8]) -> Result<Record, RecordError> {
        let computed = event_hash(canonical);
        if computed != hash {
            return Err(RecordError::HashMismatch { stated: hash, computed });
        }
        // The bytes hash to the hash stored beside them, and the ledger wrote them in
        // canonical form when it sealed the record, so they are kept as they are rather than
        // sealed again (a third of the cost of a read). Bytes from outside the store are
        // checked for canonical form where they come in: `from_export_line` (verify --file,
        // import) and `Submission::from_json` (append).
        if let Some(read) = canonical_de::read(canonical) {
            return Ok(Record::from_read(read, canonical.to_vec(), hash));
        }
        // Not a valid record's bytes: the reading through `Value` says what is wrong.
        // Canonical bytes hold no duplicate key, so the plain parser serves (the strict one
        // keeps a set of keys per object, which costs on every read).
        let map: Map<String, Value> =
            serde_json::from_slice(canonical).map_err(|e| RecordError::Malformed(e.to_string()))?;
        Record::from_map(map, hash, Some(canonical))
    }

    /// Reads one line of an export file: the canonical record with its `hash` beside the
    /// other fields. Checks the hash against the line's own content and that the line is in
    /// canonical form.
    pub fn from_export_line(line: &str) -> Result<Record, RecordError> {
        if let Some(record) = Record::from_canonical_export_line(line) {
            return Ok(record);
        }
        // The line is not the export line of a valid record: the full reading below says
        // why, as it always did.
        let value = parse_strict(line).map_err(|e| RecordError::Malformed(e.to_string()))?;
        let Value::Object(mut map) = value else {
            return Err(RecordError::Malformed("a record must be a JSON object".into()));
        };
        let stated = match map.remove("hash") {
            Some(Value::String(s)) => Hash::parse(&s).map_err(RecordError::Malformed)?,
            _ => return Err(RecordError::Malformed("missing field `hash`".into())),
        };
        let canonical = to_canonical(&Value::Object(map.clone())).map_err(|e| RecordError::Malformed(e.to_string()))?;
        let computed = event_hash(&canonical);
        if computed != stated {
            return Err(RecordError::HashMismatch { stated, computed });
        }
        let record = Record::from_map(map, stated, None)?;
        if record.export_line() != line {
            return Err(RecordError::NotCanonical);
        }
        Ok(record)
    }

    /// The record of an export line, read the short way FORMAT.md section 6 allows: the line
    /// less its `hash` member is the record's canonical bytes. Those bytes are read once
    /// (the typed reading of `canonical_de`) and the record sealed from them; it is accepted only if the seal
    /// hashes to the stated hash and writes exactly those bytes, and the member stood where
    /// its key sorts. That is every check [`Record::from_export_line`] makes (a repeated
    /// key, a field out of order, a stray escape or space, a text not in NFC each make the
    /// sealed bytes differ), at the cost of one parse and one encoding instead of three.
    /// `None` for any line it does not accept, which the full reading then explains.
    fn from_canonical_export_line(line: &str) -> Option<Record> {
        static HASH_MEMBER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(HASH_MEMBER_HEAD));
        let at = HASH_MEMBER.find(line.as_bytes())?;
        let end = at + HASH_MEMBER_HEAD.len() + 64;
        // `get` is `None` unless both ends fall between characters.
        let digits = line.get(at + HASH_MEMBER_HEAD.len()..end)?;
        if line.as_bytes().get(end) != Some(&b'"') {
            return None;
        }
        let stated = Hash::parse(digits).ok()?;
        let mut canonical = String::with_capacity(line.len() - (end + 1 - at));
        canonical.push_str(&line[..at]);
        canonical.push_str(&line[end + 1..]);
        let read = canonical_de::read_str(&canonical)?;
        let canonical = canonical.into_bytes();
        let record = Record::seal(read.seq, read.prev, read.recorded_at, read.actor, read.submission);
        (record.hash == stated && record.canonical == canonical && hash_member_at(&canonical) == Some(at))
            .then_some(record)
    }

    /// A record of bytes already checked against its hash.
    fn from_read(read: canonical_de::Read, canonical: Vec<u8>, hash: Hash) -> Record {
        Record {
            seq: read.seq,
            prev: read.prev,
            recorded_at: read.recorded_at,
            actor: read.actor,
            submission: read.submission,
            canonical,
            hash,
        }
    }

    /// Builds a record from its parsed fields. With `stored` bytes (already hash-checked)
    /// the record keeps them; without, it is sealed again and must hash to `hash`, which
    /// proves the fields were in canonical form.
    fn from_map(mut map: Map<String, Value>, hash: Hash, stored: Option<&[u8]>) -> Result<Record, RecordError> {
        let malformed = |m: &str| RecordError::Malformed(m.to_owned());
        let format = map
            .remove("format")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| malformed("missing or bad `format`"))?;
        if format != FORMAT_VERSION {
            return Err(RecordError::Version(format));
        }
        let seq = map
            .remove("seq")
            .and_then(|v| v.as_u64())
            .filter(|s| *s >= 1)
            .ok_or_else(|| malformed("missing or bad `seq`"))?;
        let prev = match map.remove("prev") {
            Some(Value::String(s)) => Hash::parse(&s).map_err(RecordError::Malformed)?,
            _ => return Err(malformed("missing or bad `prev`")),
        };
        let recorded_at = match map.remove("recorded_at") {
            Some(Value::String(s)) => Timestamp::parse(&s).map_err(RecordError::Malformed)?,
            _ => return Err(malformed("missing or bad `recorded_at`")),
        };
        let actor = match map.remove("actor") {
            Some(Value::String(s)) => Id::parse(&s).map_err(RecordError::Malformed)?,
            _ => return Err(malformed("missing or bad `actor`")),
        };
        let submission = Submission::from_map(map).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if let Some(canonical) = stored {
            return Ok(Record {
                seq,
                prev,
                recorded_at,
                actor,
                submission,
                canonical: canonical.to_vec(),
                hash,
            });
        }
        let record = Record::seal(seq, prev, recorded_at, actor, submission);
        if record.hash != hash {
            // The bytes hashed correctly but are not what this record writes: a field was
            // not in normal form (not NFC, a null, an extra default), so the record is
            // refused rather than silently rewritten.
            return Err(RecordError::NotCanonical);
        }
        Ok(record)
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn prev(&self) -> Hash {
        self.prev
    }
    pub fn hash(&self) -> Hash {
        self.hash
    }
    pub fn recorded_at(&self) -> Timestamp {
        self.recorded_at
    }
    pub fn actor(&self) -> &Id {
        &self.actor
    }
    pub fn submission(&self) -> &Submission {
        &self.submission
    }
    pub fn event(&self) -> &Event {
        &self.submission.event
    }
    pub fn effective(&self) -> Date {
        self.submission.effective
    }
    pub fn type_name(&self) -> &'static str {
        self.submission.event.type_name()
    }
    /// The bytes the hash covers.
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }

    /// The record as one export line: its canonical form with `hash` added (no newline).
    pub fn export_line(&self) -> String {
        let mut line = Vec::with_capacity(self.canonical.len() + HASH_MEMBER_HEAD.len() + 65);
        if write_export_line(&self.canonical, &self.hash, &mut line).is_some() {
            if let Ok(line) = String::from_utf8(line) {
                return line;
            }
        }
        // Stored bytes that hash right but are not in canonical form (only something other
        // than this ledger writes them): the record's canonical form with the stored hash,
        // which `verify --file` then refuses at this record, as it always was.
        let mut map = envelope_value(self.seq, self.prev, self.recorded_at, &self.actor, &self.submission);
        map.insert("hash".into(), Value::String(self.hash.to_hex()));
        String::from_utf8(to_canonical(&Value::Object(map)).expect("events carry no floats")).expect("UTF-8")
    }
}

/// The member an export line adds to a record's canonical bytes, less its hex digits:
/// `,"hash":"` … `"` (FORMAT.md section 6).
const HASH_MEMBER_HEAD: &[u8] = b",\"hash\":\"";

/// Where an export line's `hash` member goes in a record's canonical bytes: the offset of
/// the `,` before the first top-level key that sorts after `hash`, or of the closing `}`.
/// `None` when the bytes are not a canonical object (or already hold a `hash` key).
/// A scan of the top level only: nested values are skipped, not read.
fn hash_member_at(canonical: &[u8]) -> Option<usize> {
    let mut at = 1;
    if canonical.first() != Some(&b'{') {
        return None;
    }
    loop {
        // `at` is at a key's opening quote.
        let key_end = string_end(canonical, at)?;
        match canonical[at + 1..key_end - 1].cmp(b"hash") {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return None,
            // Before the `,` that precedes this key; the first key ("actor") always sorts
            // before `hash`, so a key after it is never the first.
            std::cmp::Ordering::Greater => return (at > 1).then_some(at - 1),
        }
        if canonical.get(key_end) != Some(&b':') {
            return None;
        }
        let value_end = value_end(canonical, key_end + 1)?;
        match canonical.get(value_end) {
            Some(b',') => at = value_end + 1,
            Some(b'}') if value_end + 1 == canonical.len() => return Some(value_end),
            _ => return None,
        }
    }
}

/// The offset just past the JSON string that opens at `at`.
fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[i] == b'\\' {
            i += 2;
        } else {
            return Some(i + 1);
        }
    }
}

/// The offset just past the JSON value that starts at `at` (no whitespace, as in canonical
/// bytes).
fn value_end(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => string_end(bytes, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => Some(at + bytes[at..].iter().position(|b| matches!(b, b',' | b'}' | b']'))?),
    }
}

/// Writes the export line of a record from its canonical bytes and hash, without reading
/// the record: the bytes with `,"hash":"<hex>"` inserted where the key sorts (FORMAT.md
/// section 6), and no newline. `None` when the bytes are not a canonical record's.
pub fn write_export_line(canonical: &[u8], hash: &Hash, out: &mut Vec<u8>) -> Option<()> {
    let at = hash_member_at(canonical)?;
    out.extend_from_slice(&canonical[..at]);
    out.extend_from_slice(HASH_MEMBER_HEAD);
    let mut hex = [0u8; 64];
    hex::encode_to_slice(hash.0, &mut hex).expect("64 digits for 32 bytes");
    out.extend_from_slice(&hex);
    out.push(b'"');
    out.extend_from_slice(&canonical[at..]);
    Some(())
}

/// A record's canonical bytes, written straight from its typed fields: the envelope's members
/// merged with the event's fields into one object, keys in byte order (FORMAT.md section 2).
/// The same bytes as the `serde_json::Value` form ([`envelope_value`]) written by
/// [`to_canonical`], without building that tree.
fn canonical_bytes(seq: u64, prev: Hash, recorded_at: Timestamp, actor: &Id, submission: &Submission) -> Vec<u8> {
    fn display(out: &mut Vec<u8>, value: &impl std::fmt::Display) {
        canonical_ser::write_display_string(out, value).expect("dates and times always format");
    }
    // The envelope's members, one buffer for all (about 200 bytes with a decision).
    let mut members = Members::with_capacity(8, 256);
    members.push("actor", |out| write_string(out, actor.as_str()));
    if let Some(decision) = &submission.decision {
        members.push("decision", |out| {
            canonical_ser::write(out, decision).expect("decisions hold text and dates only")
        });
    }
    members.push("effective", |out| display(out, &submission.effective));
    members.push("format", |out| {
        out.extend_from_slice(itoa::Buffer::new().format(FORMAT_VERSION).as_bytes())
    });
    members.push("prev", |out| {
        out.push(b'"');
        out.extend_from_slice(&prev.hex_digits());
        out.push(b'"');
    });
    members.push("recorded_at", |out| display(out, &recorded_at));
    members.push("seq", |out| {
        out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes())
    });
    members.push("type", |out| write_string(out, submission.event.type_name()));
    // Most records take 250 to 450 bytes.
    let mut out = Vec::with_capacity(512);
    canonical_ser::write_variant_fields(&mut out, &submission.event, members).expect("events carry no floats or maps");
    out
}

/// A record as a `serde_json::Value` object: the reference form of its canonical bytes
/// (`to_canonical` of it), against which the tests hold [`canonical_bytes`].
fn envelope_value(
    seq: u64,
    prev: Hash,
    recorded_at: Timestamp,
    actor: &Id,
    submission: &Submission,
) -> Map<String, Value> {
    let mut map = submission.to_value();
    map.insert("format".into(), Value::from(FORMAT_VERSION));
    map.insert("seq".into(), Value::from(seq));
    map.insert("prev".into(), Value::String(prev.to_hex()));
    map.insert("recorded_at".into(), Value::String(recorded_at.to_string()));
    map.insert("actor".into(), Value::String(actor.to_string()));
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record the demo and the generator write, sealed both ways, has the same bytes:
    /// written from its typed fields and written from its `Value` form; and those bytes read
    /// the short way give back the record.
    #[test]
    fn canonical_bytes_match_the_value_form() {
        let fixture = include_str!("../../tests/fixtures/every-event-type.jsonl")
            .lines()
            .chain([
                // Escapes, a line separator, text beyond the BMP, an optional field left out.
                r#"{"type":"LocalityRegistered","effective":"2001-02-03","locality":"lung-\u0063","name":"Lũng \"Cà\" \\ \u2028 \ud834\udd1e","kind":"hamlet","border":true}"#,
                r#"{"type":"LocalityChanged","effective":"2001-02-03","locality":"a","border":false,"decision":{"number":"<1>","date":"2001-01-01","issuer":"z"}}"#,
            ])
            .map(|line| Submission::from_json(line).unwrap());
        let demo = fixture.chain(crate::demo::demo_batches().into_iter().flatten());
        let generated = crate::generate::synthetic_batches(20_000, 7).flatten();
        let mut prev = Hash([0; 32]);
        let mut seen = std::collections::BTreeSet::new();
        let actor = Id::parse("office").unwrap();
        let at = Timestamp::parse("2026-12-06T10:00:00.000000Z").unwrap();
        for (i, submission) in demo.chain(generated).enumerate() {
            let seq = i as u64 + 1;
            let reference = to_canonical(&Value::Object(envelope_value(seq, prev, at, &actor, &submission))).unwrap();
            let written = canonical_bytes(seq, prev, at, &actor, &submission);
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(reference.clone()).unwrap(),
                "seq {seq}"
            );
            let read = canonical_de::read(&reference).expect("a valid record reads the short way");
            assert_eq!(
                (read.seq, read.prev, read.recorded_at, &read.actor, &read.submission),
                (seq, prev, at, &actor, &submission)
            );
            seen.insert(submission.event.type_name());
            prev = event_hash(&reference);
        }
        assert_eq!(seen.len(), EVENT_TYPES.len(), "types covered: {seen:?}");
    }

    /// The short reading of stored bytes takes nothing the long one (through `Value`)
    /// refuses, and where it takes bytes it reads the same record; where it gives up, the
    /// long reading answers.
    #[test]
    fn the_short_reading_takes_nothing_the_long_one_refuses() {
        let submission = Submission::from_json(
            r#"{"type":"OrganizationFounded","effective":"2010-01-03","org":"chi-bo-a","name":"Chi bộ A","kind":"cell","localities":["xa-a"],"decision":{"number":"1","date":"2010-01-01","issuer":"huyen"}}"#,
        )
        .unwrap();
        let at = Timestamp::parse("2026-12-06T10:00:00.000000Z").unwrap();
        let record = Record::seal(5, Hash([7; 32]), at, Id::parse("office").unwrap(), submission);
        let bytes = String::from_utf8(record.canonical().to_vec()).unwrap();
        let long_list = format!("[{}]", vec!["\"a\""; MAX_LIST_ITEMS + 1].join(","));
        let full_list = format!("[{}]", vec!["\"a\""; MAX_LIST_ITEMS].join(","));
        let refused = [
            ("\"format\":1", "\"format\":2"),
            ("\"seq\":5", "\"seq\":0"),
            ("\"seq\":5", "\"seq\":5.0"),
            ("\"seq\":5", "\"seq\":\"5\""),
            ("\"kind\":", "\"extra\":1,\"kind\":"),
            ("\"kind\":", "\"parent\":null,\"kind\":"),
            (
                "{\"date\":\"2010-01-01\",\"issuer\":\"huyen\",\"number\":\"1\"}",
                "null",
            ),
            ("\"issuer\":\"huyen\"", "\"issuer\":\"huyen\",\"seal\":1"),
            ("\"localities\":[\"xa-a\"]", &format!("\"localities\":{long_list}")),
            ("\"type\":\"OrganizationFounded\"", "\"type\":\"OrganizationFound\""),
            ("\"effective\":\"2010-01-03\",", ""),
            ("\"actor\":\"office\",", ""),
            ("\"prev\":\"07", "\"prev\":\"7"),
            ("\"recorded_at\":\"2026-12", "\"recorded_at\":\"2026-13"),
            // A `type` inside a value, before the record's own.
            (
                "\"issuer\":\"huyen\"",
                "\"issuer\":\"huyen\",\"type\":\"LocalityRegistered\"",
            ),
        ];
        let taken = [
            ("\"actor\":\"office\"", "\"actor\":\"offic\\u0065\""),
            ("\"localities\":[\"xa-a\"]", &format!("\"localities\":{full_list}")),
            ("\"seq\":5", "\"seq\":5,\"seq\":6"),
            ("{\"actor\"", "{\"type\":\"OrganizationFounded\",\"actor\""),
            // The bytes of a `type` member inside a text, escaped.
            (
                "\"name\":\"Chi bộ A\"",
                "\"name\":\"Chi bộ A \\\"type\\\":\\\"LocalityRegistered\\\"\"",
            ),
        ];
        let long = |bytes: &[u8]| -> Result<Record, RecordError> {
            let map: Map<String, Value> =
                serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
            Record::from_map(map, event_hash(bytes), Some(bytes))
        };
        for (cases, long_takes) in [(&refused[..], false), (&taken[..], true)] {
            for (from, to) in cases {
                assert!(bytes.contains(from), "{from}");
                let changed = bytes.replacen(from, to, 1);
                let by_long = long(changed.as_bytes());
                assert_eq!(by_long.is_ok(), long_takes, "{to}: {by_long:?}");
                if let Some(read) = canonical_de::read(changed.as_bytes()) {
                    let by_short =
                        Record::from_read(read, changed.clone().into_bytes(), event_hash(changed.as_bytes()));
                    assert_eq!(Ok(by_short), by_long, "{to}");
                }
                assert_eq!(
                    Record::from_stored(event_hash(changed.as_bytes()), changed.as_bytes()),
                    by_long,
                    "{to}"
                );
            }
        }
        // The short reading takes the record as it is, and with a `type` escaped in a text.
        let escaped = bytes.replacen(taken[4].0, taken[4].1, 1);
        for bytes in [&bytes, &escaped] {
            assert!(canonical_de::read(bytes.as_bytes()).is_some(), "{bytes}");
        }
    }

    /// Stored bytes that hash right but are not canonical (a space after a comma) are read,
    /// and their export line is the record's canonical form with the stored hash, not a panic.
    #[test]
    fn a_stored_record_out_of_canonical_form_still_exports() {
        let submission = Submission::from_json(
            r#"{"type":"LocalityRegistered","effective":"2001-02-03","locality":"lung-ca","name":"Lũng Cà","kind":"hamlet","border":true}"#,
        )
        .unwrap();
        let at = Timestamp::parse("2026-12-06T10:00:00.000000Z").unwrap();
        let record = Record::seal(1, Hash::ZERO, at, Id::parse("office").unwrap(), submission);
        let spaced = String::from_utf8(record.canonical().to_vec())
            .unwrap()
            .replacen(",", ", ", 1);
        let hash = event_hash(spaced.as_bytes());
        let stored = Record::from_stored(hash, spaced.as_bytes()).expect("the bytes hash right and hold a record");
        assert_eq!(stored.canonical(), spaced.as_bytes());
        let line = stored.export_line();
        let mut canonical = record.export_line();
        canonical = canonical.replace(&record.hash().to_hex(), &hash.to_hex());
        assert_eq!(line, canonical);
        assert_eq!(
            Record::from_export_line(&line),
            Err(RecordError::HashMismatch {
                stated: hash,
                computed: record.hash()
            })
        );
    }
}
