//! The golden test of FORMAT.md, the public record format: it reads the document and checks
//! that the code produces exactly the bytes and hashes of its test vectors, that its
//! constants and its event catalogue are the code's, and that `tools/verify_export.py`, an
//! independent verifier written from the document alone, gives the same verdicts as
//! `orgledger verify --file` on real exports, good and damaged.
//!
//! `ORGLEDGER_UPDATE_FORMAT=1 cargo test --test format` rewrites the computed lines of the
//! vector blocks instead of failing on them: that is how a new vector, written as its input
//! lines only, gets its bytes and hash. Version 1 vectors themselves must never change.
//!
//! The Python checks provision their own environment under `target/pyenv` (a venv with
//! `tools/requirements.txt` installed), so a plain `cargo test` works on a machine with
//! python3, its venv module and pip reaching PyPI; without them those tests fail and say why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use orgledger::commands::verify_export;
use orgledger::event::canonical::to_canonical;
use orgledger::event::{
    event_hash, write_export_line, DisciplineForm, EndReason, Hash, Id, InputError, InstrumentKind, LocalityKind,
    MeetingKind, OrgKind, ProfileField, QualityLevel, Record, RecordError, ResolutionTopic, Sex, StandardDimension,
    Submission, Timestamp, VerificationOutcome, EVENT_HASH_CONTEXT, EVENT_TYPES, FORMAT_VERSION,
};
use serde_json::{json, Map, Value};

mod common;

use common::python_with_blake3;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn format_md_path() -> PathBuf {
    Path::new(MANIFEST_DIR).join("FORMAT.md")
}

fn read_format_md() -> String {
    std::fs::read_to_string(format_md_path()).expect("FORMAT.md is readable")
}

// ---------------------------------------------------------------------------------------
// Reading FORMAT.md: its fenced blocks and its catalogue tables.
// ---------------------------------------------------------------------------------------

/// A fenced block of FORMAT.md that the test reads: ```` ```vector name=first-event ````,
/// ```` ```export name=... records=3 ````, ```` ```verdict name=... ```` or ```` ```constants ````.
#[derive(Debug, Clone)]
struct Block {
    kind: String,
    attributes: HashMap<String, String>,
    /// The line index of the opening fence; the content is the lines after it up to `close`.
    open: usize,
    /// The line index of the closing fence.
    close: usize,
    lines: Vec<String>,
}

impl Block {
    fn name(&self) -> &str {
        self.attributes.get("name").map(String::as_str).unwrap_or(&self.kind)
    }

    /// The value of a `key: value` line of the block.
    fn field(&self, key: &str) -> &str {
        let prefix = format!("{key}: ");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("FORMAT.md block `{}` has no `{key}:` line", self.name()))
    }
}

const BLOCK_KINDS: &[&str] = &["vector", "export", "verdict", "constants"];

fn blocks(doc: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let mut words = info.split_whitespace();
        let kind = words.next().unwrap_or("").to_owned();
        let close = (i + 1..lines.len())
            .find(|&j| lines[j].starts_with("```"))
            .unwrap_or_else(|| panic!("FORMAT.md: the fenced block opened on line {} is never closed", i + 1));
        if BLOCK_KINDS.contains(&kind.as_str()) {
            let attributes = words
                .map(|w| {
                    let (k, v) = w
                        .split_once('=')
                        .unwrap_or_else(|| panic!("FORMAT.md line {}: bad attribute {w:?}", i + 1));
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            let content = lines[i + 1..close].iter().map(|l| l.to_string()).collect();
            out.push(Block {
                kind,
                attributes,
                open: i,
                close,
                lines: content,
            });
        }
        i = close + 1;
    }
    out
}

/// The catalogue of FORMAT.md section 11, in the shape `tools/verify_export.py --catalogue`
/// prints: each event with its `[field, value type, presence]` and each enumeration with its
/// values, in the document's order.
#[derive(Debug, Clone, PartialEq)]
struct DocCatalogue {
    events: Vec<(String, Vec<DocField>)>,
    enumerations: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
struct DocField {
    name: String,
    value_type: String,
    /// `required`, `optional` (`name?: T`) or `default` (`name: [T] = []`).
    presence: &'static str,
}

impl DocCatalogue {
    fn to_json(&self) -> Value {
        json!({
            "events": self.events.iter().map(|(name, fields)| {
                json!([name, fields.iter().map(|f| json!([f.name, f.value_type, f.presence])).collect::<Vec<_>>()])
            }).collect::<Vec<_>>(),
            "enumerations": self.enumerations.iter().map(|(name, values)| json!([name, values])).collect::<Vec<_>>(),
        })
    }
}

fn doc_catalogue(doc: &str) -> DocCatalogue {
    let begin = doc
        .find("<!-- catalogue-begin -->")
        .expect("FORMAT.md marks its catalogue with <!-- catalogue-begin -->");
    let end = doc
        .find("<!-- catalogue-end -->")
        .expect("FORMAT.md marks the end of its catalogue");
    let mut catalogue = DocCatalogue {
        events: Vec::new(),
        enumerations: Vec::new(),
    };
    let mut table = "";
    for line in doc[begin..end].lines() {
        let Some(row) = line.strip_prefix('|').and_then(|r| r.strip_suffix('|')) else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 2, "FORMAT.md catalogue row {line:?} must have two cells");
        match cells[0] {
            "type" | "enumeration" => {
                table = cells[0];
                continue;
            }
            "---" => continue,
            _ => {}
        }
        let name = cells[0].trim_matches('`').to_owned();
        if table == "type" {
            let fields = cells[1].split(", ").map(|spec| doc_field(&name, spec)).collect();
            catalogue.events.push((name, fields));
        } else {
            let values = cells[1].split(", ").map(|v| v.trim_matches('`').to_owned()).collect();
            catalogue.enumerations.push((name, values));
        }
    }
    catalogue
}

/// Reads one field of a catalogue row: `` `name`: T ``, `` `name`?: T `` or `` `name`: [T] = [] ``.
fn doc_field(event: &str, spec: &str) -> DocField {
    let bad = format!("FORMAT.md catalogue, {event}: cannot read the field {spec:?}");
    let rest = spec.strip_prefix('`').expect(&bad);
    let (name, rest) = rest.split_once('`').expect(&bad);
    let (optional, rest) = match rest.strip_prefix('?') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let value_type = rest.strip_prefix(": ").expect(&bad);
    let (value_type, defaulted) = match value_type.strip_suffix(" = []") {
        Some(t) => (t, true),
        None => (value_type, false),
    };
    let presence = match (optional, defaulted) {
        (false, false) => "required",
        (true, false) => "optional",
        (false, true) => "default",
        (true, true) => panic!("{bad}"),
    };
    DocField {
        name: name.to_owned(),
        value_type: value_type.to_owned(),
        presence,
    }
}

// ---------------------------------------------------------------------------------------
// What the code says each block should hold.
// ---------------------------------------------------------------------------------------

/// The canonical bytes as ASCII: printable ASCII as itself, `\` doubled, other bytes `\xNN`.
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The record a vector block describes, sealed by the real code. `prev` is not read from the
/// block but derived from the chain: zeros for seq 1, else the hash of the nearest earlier
/// vector of the seq before.
fn seal_vector(block: &Block, hash_by_seq: &HashMap<u64, Hash>) -> Record {
    let name = block.name();
    let seq: u64 = block
        .field("seq")
        .parse()
        .unwrap_or_else(|e| panic!("vector `{name}`: seq: {e}"));
    let prev = if seq == 1 {
        Hash::ZERO
    } else {
        *hash_by_seq
            .get(&(seq - 1))
            .unwrap_or_else(|| panic!("vector `{name}` (seq {seq}) has no earlier vector of seq {}", seq - 1))
    };
    let recorded_at = Timestamp::parse(block.field("recorded_at")).unwrap_or_else(|e| panic!("vector `{name}`: {e}"));
    let actor = Id::parse(block.field("actor")).unwrap_or_else(|e| panic!("vector `{name}`: {e}"));
    let submission =
        Submission::from_json(block.field("input")).unwrap_or_else(|e| panic!("vector `{name}`: input: {e}"));
    Record::seal(seq, prev, recorded_at, actor, submission)
}

fn vector_lines(block: &Block, record: &Record) -> Vec<String> {
    let canonical = record.canonical();
    vec![
        format!("input: {}", block.field("input")),
        format!("seq: {}", record.seq()),
        format!("prev: {}", record.prev()),
        format!("recorded_at: {}", record.recorded_at()),
        format!("actor: {}", record.actor()),
        format!(
            "canonical: {}",
            std::str::from_utf8(canonical).expect("canonical bytes are UTF-8")
        ),
        format!("escaped: {}", escaped(canonical)),
        format!("hex: {}", hex::encode(canonical)),
        format!("hash: {}", record.hash()),
        format!("export: {}", record.export_line()),
    ]
}

/// The verdict `orgledger verify --file` gives on these export lines.
fn export_verdict(lines: &[String]) -> String {
    let mut file = String::new();
    for l in lines {
        file.push_str(l);
        file.push('\n');
    }
    let verdict = verify_export(file.as_bytes(), |_| Ok(())).expect("reading from memory cannot fail");
    match verdict {
        Ok((head, root)) => {
            json!({"ok": true, "events": head.seq, "head": head.hash.to_hex(), "root": root.to_hex()}).to_string()
        }
        Err(e) => json!({"ok": false, "seq": e.seq, "error": e.error}).to_string(),
    }
}

/// Every block of the document as the code would write it, in document order, with the
/// records the vectors describe (the first vector of each seq).
fn expected_blocks(doc_blocks: &[Block]) -> (Vec<Vec<String>>, HashMap<u64, Record>) {
    let mut hash_by_seq = HashMap::new();
    let mut record_by_seq: HashMap<u64, Record> = HashMap::new();
    let mut export_by_name: HashMap<String, Vec<String>> = HashMap::new();
    let mut expected = Vec::new();
    for block in doc_blocks {
        let lines = match block.kind.as_str() {
            "vector" => {
                let record = seal_vector(block, &hash_by_seq);
                hash_by_seq.insert(record.seq(), record.hash());
                let lines = vector_lines(block, &record);
                record_by_seq.entry(record.seq()).or_insert(record);
                lines
            }
            "export" => {
                let records: u64 = block
                    .attributes
                    .get("records")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("export block `{}` needs records=N", block.name()));
                let lines: Vec<String> = (1..=records)
                    .map(|seq| {
                        record_by_seq
                            .get(&seq)
                            .unwrap_or_else(|| {
                                panic!("export block `{}`: no vector of seq {seq} before it", block.name())
                            })
                            .export_line()
                    })
                    .collect();
                export_by_name.insert(block.name().to_owned(), lines.clone());
                lines
            }
            "verdict" => {
                let lines = export_by_name
                    .get(block.name())
                    .unwrap_or_else(|| panic!("verdict block `{}` follows no export block of that name", block.name()));
                vec![export_verdict(lines)]
            }
            _ => block.lines.clone(),
        };
        expected.push(lines);
    }
    (expected, record_by_seq)
}

fn update_requested() -> bool {
    std::env::var("ORGLEDGER_UPDATE_FORMAT").is_ok_and(|v| v == "1")
}

// ---------------------------------------------------------------------------------------
// The golden tests.
// ---------------------------------------------------------------------------------------

/// Every vector, export and verdict block of FORMAT.md holds exactly what the code
/// produces: the canonical bytes (as text, escaped and hex), the hash, the export line, the
/// chain of `prev`, and the verdict on the documented export file.
#[test]
fn vectors_match_the_code() {
    let doc = read_format_md();
    let doc_blocks = blocks(&doc);
    let names: Vec<&str> = doc_blocks
        .iter()
        .filter(|b| b.kind == "vector")
        .map(Block::name)
        .collect();
    for wanted in [
        "first-event",
        "chain-2",
        "chain-3",
        "vietnamese-name",
        "vietnamese-decomposed",
    ] {
        assert!(names.contains(&wanted), "FORMAT.md lost the vector `{wanted}`");
    }
    let (expected, _) = expected_blocks(&doc_blocks);

    let mut differences = Vec::new();
    for (block, want) in doc_blocks.iter().zip(&expected) {
        if &block.lines != want {
            let first = (0..block.lines.len().max(want.len()))
                .find(|&i| block.lines.get(i) != want.get(i))
                .expect("the blocks differ somewhere");
            differences.push(format!(
                "block `{}` ({}), line {}:\n  FORMAT.md: {}\n  the code:  {}",
                block.name(),
                block.kind,
                first + 1,
                block.lines.get(first).map_or("(nothing)", String::as_str),
                want.get(first).map_or("(nothing)", String::as_str),
            ));
        }
    }
    if differences.is_empty() {
        return;
    }
    if update_requested() {
        let mut lines: Vec<String> = doc.split('\n').map(str::to_owned).collect();
        for (block, want) in doc_blocks.iter().zip(&expected).rev() {
            lines.splice(block.open + 1..block.close, want.iter().cloned());
        }
        std::fs::write(format_md_path(), lines.join("\n")).expect("FORMAT.md is writable");
        eprintln!(
            "ORGLEDGER_UPDATE_FORMAT=1: rewrote {} block(s) of FORMAT.md; review the diff",
            differences.len()
        );
        return;
    }
    panic!(
        "FORMAT.md's vectors differ from what the code produces:\n{}\n\nIf the format changed on purpose (a new format \
         version, FORMAT.md section 9), rerun with ORGLEDGER_UPDATE_FORMAT=1 and review the diff.",
        differences.join("\n")
    );
}

/// The vectors of the same seq in the document are the same event typed two ways; the
/// document says their bytes and hashes are the same, and the decomposed name became NFC.
#[test]
fn vietnamese_name_typed_two_ways_is_the_same_record() {
    let doc_blocks = blocks(&read_format_md());
    let vector = |name: &str| {
        doc_blocks
            .iter()
            .find(|b| b.kind == "vector" && b.name() == name)
            .cloned()
            .expect("vector")
    };
    let precomposed = vector("vietnamese-name");
    let decomposed = vector("vietnamese-decomposed");
    assert_ne!(precomposed.field("input"), decomposed.field("input"));
    assert!(
        decomposed.field("input").contains("\\u0301"),
        "the decomposed input spells its combining accents"
    );
    for line in ["canonical", "hex", "hash", "export"] {
        assert_eq!(precomposed.field(line), decomposed.field(line), "line `{line}`");
    }
    assert!(precomposed.field("canonical").contains("\"name\":\"Pác Ngòa\""));
    assert!(
        precomposed.field("escaped").contains("P\\xc3\\xa1c Ng\\xc3\\xb2a"),
        "á and ò are precomposed (NFC)"
    );
}

/// The constants FORMAT.md states are the code's, and the context string quoted in the
/// prose of section 5 is the same one.
#[test]
fn constants_match_the_code() {
    let doc = read_format_md();
    let constants = blocks(&doc)
        .into_iter()
        .find(|b| b.kind == "constants")
        .expect("FORMAT.md has a constants block");
    let value = |key: &str| {
        constants
            .lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("the constants block has no {key}"))
            .to_owned()
    };
    assert_eq!(value("FORMAT_VERSION"), FORMAT_VERSION.to_string());
    assert_eq!(value("EVENT_HASH_CONTEXT"), format!("\"{EVENT_HASH_CONTEXT}\""));
    assert_eq!(value("ZERO_HASH"), format!("\"{}\"", Hash::ZERO.to_hex()));
    let prose = format!("`{EVENT_HASH_CONTEXT}` exactly ({} bytes", EVENT_HASH_CONTEXT.len());
    assert!(
        doc.contains(&prose),
        "FORMAT.md section 5 should quote the context as {prose:?}"
    );
    // The hash is blake3's derive_key mode, neither the plain hash nor the keyed mode.
    let bytes = br#"{"a":1}"#;
    let derived = blake3::derive_key(EVENT_HASH_CONTEXT, bytes);
    assert_eq!(event_hash(bytes).0, derived);
    assert_ne!(event_hash(bytes).0, *blake3::hash(bytes).as_bytes());
}

/// Each documented export line reads back through `Record::from_export_line` into the same
/// record, and removing its `hash` member gives the canonical bytes (the shortcut of
/// FORMAT.md section 6).
#[test]
fn export_lines_round_trip() {
    let doc_blocks = blocks(&read_format_md());
    let vectors: Vec<&Block> = doc_blocks.iter().filter(|b| b.kind == "vector").collect();
    assert!(!vectors.is_empty());
    for block in vectors {
        let line = block.field("export");
        let record = Record::from_export_line(line).unwrap_or_else(|e| panic!("vector `{}`: {e}", block.name()));
        assert_eq!(record.export_line(), line);
        assert_eq!(record.hash().to_hex(), block.field("hash"));
        assert_eq!(record.prev().to_hex(), block.field("prev"));
        assert_eq!(record.seq().to_string(), block.field("seq"));
        assert_eq!(hex::encode(record.canonical()), block.field("hex"));
        let member = format!(",\"hash\":\"{}\"", record.hash());
        assert_eq!(member.len(), 74, "FORMAT.md section 6 says the member is 74 bytes");
        assert_eq!(line.replacen(&member, "", 1).as_bytes(), record.canonical());
    }
}

/// A documented record as a JSON object, to damage in the tests below.
fn documented_record(name: &str) -> Map<String, Value> {
    let doc_blocks = blocks(&read_format_md());
    let block = doc_blocks
        .iter()
        .find(|b| b.kind == "vector" && b.name() == name)
        .expect("vector");
    match serde_json::from_str(block.field("export")).expect("export lines are JSON") {
        Value::Object(map) => map,
        _ => unreachable!("export lines are objects"),
    }
}

/// Writes `map` (without its `hash`) as an export line with a correct hash, whatever it holds.
fn line_with_fresh_hash(mut map: Map<String, Value>) -> String {
    map.remove("hash");
    let hash = event_hash(&to_canonical(&Value::Object(map.clone())).expect("no floats"));
    map.insert("hash".into(), Value::String(hash.to_hex()));
    String::from_utf8(to_canonical(&Value::Object(map)).expect("no floats")).expect("UTF-8")
}

/// The refusals FORMAT.md section 7 describes, as the code reports them.
#[test]
fn export_lines_that_are_not_good_records_are_refused() {
    let good = documented_record("vietnamese-name");
    let good_line = line_with_fresh_hash(good.clone());
    assert!(Record::from_export_line(&good_line).is_ok());

    // A changed byte of content: the hash no longer matches.
    let changed = good_line.replacen("Pác", "Pắc", 1);
    assert!(matches!(
        Record::from_export_line(&changed),
        Err(RecordError::HashMismatch { .. })
    ));

    // Well hashed, but not canonical: a decomposed name, a space, a missing defaulted field.
    let mut decomposed = good.clone();
    decomposed.insert("name".into(), Value::String("Pa\u{301}c Ngo\u{300}a".into()));
    assert_eq!(
        Record::from_export_line(&line_with_fresh_hash(decomposed)),
        Err(RecordError::NotCanonical)
    );
    assert_eq!(
        Record::from_export_line(&good_line.replacen(",", ", ", 1)),
        Err(RecordError::NotCanonical)
    );
    let mut no_topics = documented_record("defaulted-field");
    no_topics.remove("topics");
    assert_eq!(
        Record::from_export_line(&line_with_fresh_hash(no_topics)),
        Err(RecordError::NotCanonical)
    );

    // Well hashed and canonical, but not a record of format 1.
    let mut version_two = good.clone();
    version_two.insert("format".into(), json!(2));
    assert_eq!(
        Record::from_export_line(&line_with_fresh_hash(version_two)),
        Err(RecordError::Version(2))
    );
    let mut with_null = good.clone();
    with_null.insert("decision".into(), Value::Null);
    assert!(matches!(
        Record::from_export_line(&line_with_fresh_hash(with_null)),
        Err(RecordError::Malformed(_))
    ));
    let mut unknown_field = good.clone();
    unknown_field.insert("note".into(), json!("x"));
    assert!(matches!(
        Record::from_export_line(&line_with_fresh_hash(unknown_field)),
        Err(RecordError::Malformed(_))
    ));
    let mut upper_hash = good_line.clone();
    let at = upper_hash.find("\"hash\":\"").expect("hash member") + 8;
    upper_hash.replace_range(at..at + 64, &good["hash"].as_str().expect("hex").to_uppercase());
    assert!(matches!(
        Record::from_export_line(&upper_hash),
        Err(RecordError::Malformed(_))
    ));
}

/// The export line written from stored bytes (`write_export_line`, what `GET /export`
/// serves) is the one written from the parsed record, and a line whose `hash` member is not
/// where its key sorts, or is given twice, is refused as before: the short reading of
/// `from_export_line` accepts exactly the lines the full reading accepts.
#[test]
fn export_lines_from_stored_bytes_and_misplaced_hash_members() {
    let doc_blocks = blocks(&read_format_md());
    for block in doc_blocks.iter().filter(|b| b.kind == "vector") {
        let record = Record::from_export_line(block.field("export")).expect("a documented record");
        let mut line = Vec::new();
        write_export_line(record.canonical(), &record.hash(), &mut line).expect("canonical bytes");
        assert_eq!(
            String::from_utf8(line).expect("UTF-8"),
            record.export_line(),
            "vector `{}`",
            block.name()
        );
    }
    let good_line = line_with_fresh_hash(documented_record("vietnamese-name"));
    let record = Record::from_export_line(&good_line).expect("a good line");
    let member = format!(",\"hash\":\"{}\"", record.hash());
    let canonical = std::str::from_utf8(record.canonical()).expect("UTF-8");
    let at_end = format!("{}{member}}}", &canonical[..canonical.len() - 1]);
    assert_eq!(Record::from_export_line(&at_end), Err(RecordError::NotCanonical));
    let at_start = format!("{{{},{}", &member[1..], &canonical[1..]);
    assert_eq!(Record::from_export_line(&at_start), Err(RecordError::NotCanonical));
    let twice = good_line.replacen(&member, &format!("{member}{member}"), 1);
    assert!(matches!(
        Record::from_export_line(&twice),
        Err(RecordError::Malformed(_))
    ));
}

// ---------------------------------------------------------------------------------------
// The catalogue table against the code.
// ---------------------------------------------------------------------------------------

/// The values of an enumeration as the code knows them, by the name FORMAT.md gives it.
fn enumeration_in_code(name: &str) -> Option<Vec<&'static str>> {
    fn all<T: Copy>(values: &[T], as_str: fn(T) -> &'static str) -> Option<Vec<&'static str>> {
        Some(values.iter().map(|v| as_str(*v)).collect())
    }
    match name {
        "LocalityKind" => all(LocalityKind::ALL, LocalityKind::as_str),
        "OrgKind" => all(OrgKind::ALL, OrgKind::as_str),
        "VerificationOutcome" => all(VerificationOutcome::ALL, VerificationOutcome::as_str),
        "Sex" => all(Sex::ALL, Sex::as_str),
        "DisciplineForm" => all(DisciplineForm::ALL, DisciplineForm::as_str),
        "EndReason" => all(EndReason::ALL, EndReason::as_str),
        "ProfileField" => all(ProfileField::ALL, ProfileField::as_str),
        "InstrumentKind" => all(InstrumentKind::ALL, InstrumentKind::as_str),
        "StandardDimension" => all(StandardDimension::ALL, StandardDimension::as_str),
        "MeetingKind" => all(MeetingKind::ALL, MeetingKind::as_str),
        "ResolutionTopic" => all(ResolutionTopic::ALL, ResolutionTopic::as_str),
        "QualityLevel" => all(QualityLevel::ALL, QualityLevel::as_str),
        _ => None,
    }
}

/// A valid value of a documented value type (the extremes for integers, every value of an
/// enumeration list).
fn valid_value(value_type: &str, enums: &HashMap<String, Vec<String>>) -> Value {
    if let Some(inner) = value_type.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return match enums.get(inner) {
            Some(values) => json!(values),
            None => json!([valid_value(inner, enums)]),
        };
    }
    match value_type {
        "id" => json!("xom-pac-ngoa"),
        "text" => json!("Đàm Thủy \"Pác Ngòa\" \\ 😀"),
        "date" => json!("2008-12-31"),
        "bool" => json!(false),
        "u32" => json!(u32::MAX),
        "i32" => json!(i32::MIN),
        other => json!(
            enums
                .get(other)
                .unwrap_or_else(|| panic!("FORMAT.md uses the unknown value type {other}"))[0]
        ),
    }
}

/// Values that are not of a documented value type.
fn invalid_values(value_type: &str, enums: &HashMap<String, Vec<String>>) -> Vec<Value> {
    if let Some(inner) = value_type.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        // A lone element instead of a list, and lists holding one bad element.
        let mut bad = vec![json!(null), valid_value(inner, enums)];
        bad.extend(invalid_values(inner, enums).into_iter().map(|v| json!([v])));
        return bad;
    }
    let mut bad = vec![json!(null)];
    bad.extend(match value_type {
        "id" => vec![
            json!("Xom-Pac"),
            json!(""),
            json!("-a"),
            json!("a".repeat(65)),
            json!(7),
        ],
        "text" => vec![
            json!(""),
            json!(" \u{a0}"),
            json!("a\u{1}b"),
            json!("a\u{85}b"),
            json!("x".repeat(501)),
            json!(7),
        ],
        "date" => vec![
            json!("2008-02-30"),
            json!("1899-12-31"),
            json!("2101-01-01"),
            json!("2008-1-01"),
            json!(20081231),
        ],
        "bool" => vec![json!("true"), json!(1)],
        "u32" => vec![json!(-1), json!(u64::from(u32::MAX) + 1), json!("9"), json!(true)],
        "i32" => vec![
            json!(i64::from(i32::MAX) + 1),
            json!(i64::from(i32::MIN) - 1),
            json!("2012"),
        ],
        _ => vec![json!("no_such_value"), json!(1)],
    });
    bad
}

/// The event catalogue of FORMAT.md section 11 is the code's: the same types in the same
/// order; for each, every listed field is accepted with a value of its type and kept as
/// given, a required field cannot be left out, a value of another type (or `null`) is refused, no
/// other field is accepted, optional fields are left out of the record when absent, and
/// defaulted ones are written as `[]`. The enumerations have exactly the code's values.
#[test]
fn catalogue_table_matches_the_code() {
    let catalogue = doc_catalogue(&read_format_md());
    let documented: Vec<&str> = catalogue.events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        documented, EVENT_TYPES,
        "FORMAT.md's event types (in order) differ from the code's"
    );

    let enums: HashMap<String, Vec<String>> = catalogue.enumerations.iter().cloned().collect();
    for (name, values) in &catalogue.enumerations {
        let in_code = enumeration_in_code(name)
            .unwrap_or_else(|| panic!("FORMAT.md lists the enumeration {name} that the test does not know"));
        assert_eq!(values, &in_code, "enumeration {name}");
    }

    let submission = |type_name: &str, fields: &Map<String, Value>| {
        let mut input = fields.clone();
        input.insert("type".into(), json!(type_name));
        input.insert("effective".into(), json!("2012-03-15"));
        (Submission::from_json(&Value::Object(input.clone()).to_string()), input)
    };
    for (type_name, fields) in &catalogue.events {
        // Every field with a valid value: accepted and kept exactly.
        let full: Map<String, Value> = fields
            .iter()
            .map(|f| (f.name.clone(), valid_value(&f.value_type, &enums)))
            .collect();
        let (parsed, input) = submission(type_name, &full);
        let parsed = parsed.unwrap_or_else(|e| panic!("{type_name} with every documented field: {e}"));
        assert_eq!(
            parsed.to_value(),
            input,
            "{type_name}: the record keeps exactly the documented fields"
        );

        // Only the required fields: accepted; optional ones absent, defaulted ones `[]`.
        let required: Map<String, Value> = full
            .iter()
            .filter(|(k, _)| fields.iter().any(|f| &f.name == *k && f.presence == "required"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (parsed, mut input) = submission(type_name, &required);
        let parsed = parsed.unwrap_or_else(|e| panic!("{type_name} with its required fields only: {e}"));
        for f in fields.iter().filter(|f| f.presence == "default") {
            input.insert(f.name.clone(), json!([]));
        }
        assert_eq!(
            parsed.to_value(),
            input,
            "{type_name}: optional fields absent, defaulted fields written as []"
        );

        for field in fields {
            if field.presence == "required" {
                let mut missing = full.clone();
                missing.remove(&field.name);
                assert!(
                    matches!(submission(type_name, &missing).0, Err(InputError::Field { .. })),
                    "{type_name} without its required field `{}` must be refused",
                    field.name
                );
            }
            for bad in invalid_values(&field.value_type, &enums) {
                let mut wrong = full.clone();
                wrong.insert(field.name.clone(), bad.clone());
                assert!(
                    submission(type_name, &wrong).0.is_err(),
                    "{type_name}.{} = {bad} is not a {} and must be refused",
                    field.name,
                    field.value_type
                );
            }
            if let Some(values) = enums.get(&field.value_type) {
                for value in values {
                    let mut each = full.clone();
                    each.insert(field.name.clone(), json!(value));
                    assert!(
                        submission(type_name, &each).0.is_ok(),
                        "{type_name}.{} = {value}",
                        field.name
                    );
                }
            }
        }
        let mut extra = full.clone();
        extra.insert("remarks".into(), json!("x"));
        assert!(
            submission(type_name, &extra).0.is_err(),
            "{type_name} must refuse a field FORMAT.md does not list"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The independent Python verifier.
// ---------------------------------------------------------------------------------------

/// A verdict and the exit status it came with.
#[derive(Debug)]
struct Verdict {
    json: Value,
    status: i32,
}

fn verdict_of(what: &str, command: &mut Command) -> Verdict {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{what}: the verdict {stdout:?} is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Verdict {
        json,
        status: output.status.code().unwrap_or(-1),
    }
}

fn python_verdict(file: &Path) -> Verdict {
    let script = Path::new(MANIFEST_DIR).join("tools").join("verify_export.py");
    verdict_of(
        "tools/verify_export.py",
        Command::new(python_with_blake3()).arg(script).arg(file),
    )
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orgledger"))
}

fn cli_verdict(file: &Path) -> Verdict {
    verdict_of("orgledger verify --file", cli().arg("verify").arg("--file").arg(file))
}

/// The verdicts agree: the same `ok`, `seq`, `events` and `head`, and the same exit status.
/// The `error` text is for people (FORMAT.md section 7), so it is compared only where the
/// caller asks.
fn assert_same_verdict(case: &str, rust: &Verdict, python: &Verdict, same_error: bool) {
    let without_error = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().expect("a verdict is an object").remove("error");
        v
    };
    assert_eq!(
        without_error(&python.json),
        without_error(&rust.json),
        "{case}: Python {} vs orgledger {}",
        python.json,
        rust.json
    );
    assert_eq!(python.status, rust.status, "{case}: exit status");
    if same_error {
        assert_eq!(python.json["error"], rust.json["error"], "{case}");
    }
}

/// Events appended through the real CLI: Vietnamese names (one typed with combining
/// accents), a decision, a quote inside a title.
const CLI_EVENTS: &str = r#"{"type":"LocalityRegistered","effective":"2005-01-01","locality":"cao-bang","name":"Cao Bằng","kind":"province","border":true}
{"type":"LocalityRegistered","effective":"2005-01-01","locality":"trung-khanh","name":"Trùng Khánh","kind":"district","parent":"cao-bang","border":true}
{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xa-dam-thuy","name":"\u0110a\u0300m Thu\u0309y","kind":"commune","parent":"trung-khanh","border":true}
{"type":"LocalityRegistered","effective":"2005-01-01","locality":"xom-pac-ngoa","name":"Pác Ngòa","kind":"hamlet","parent":"xa-dam-thuy","border":true}
{"type":"OrganizationFounded","effective":"2005-01-01","org":"tinh-uy-cao-bang","name":"Đảng bộ tỉnh Cao Bằng","kind":"provincial_committee","localities":["cao-bang"],"decision":{"number":"01-QĐ/TW","date":"2005-01-01","issuer":"trung-uong"}}
{"type":"InstrumentIssued","effective":"2007-03-30","instrument":"10-ct-tw","kind":"directive","title":"Chỉ thị 10-CT/TW về \"nâng cao chất lượng sinh hoạt chi bộ\"","issuer":"Ban Bí thư","starts":"2007-03-30"}
"#;

/// One byte of an export changed, in the line of `record`, at the first `find` plus
/// `offset`; the change must be found at that record.
struct Damage {
    what: &'static str,
    record: usize,
    find: &'static [u8],
    offset: usize,
    /// The new byte, from the old one.
    change: fn(u8) -> u8,
    /// Whether both verifiers name the damage with the same words (a hash mismatch, a line
    /// that is not UTF-8); other errors quote different parsers.
    same_error: bool,
}

const DAMAGES: &[Damage] = &[
    Damage {
        what: "a letter of a Vietnamese name",
        record: 3,
        find: "Đàm".as_bytes(),
        offset: 4,
        change: |_| b'n',
        same_error: true,
    },
    Damage {
        what: "a hex digit of a hash, made not hex",
        record: 2,
        find: b"\"hash\":\"",
        offset: 20,
        change: |_| b'g',
        same_error: false,
    },
    Damage {
        what: "a hex digit of a hash, still hex",
        record: 5,
        find: b"\"hash\":\"",
        offset: 8,
        change: |b| if b == b'0' { b'1' } else { b'0' },
        same_error: true,
    },
    Damage {
        what: "the seq",
        record: 4,
        find: b"\"seq\":",
        offset: 6,
        change: |_| b'5',
        same_error: true,
    },
    Damage {
        what: "a byte inside a UTF-8 letter",
        record: 1,
        find: "ằ".as_bytes(),
        offset: 1,
        change: |_| 0xff,
        same_error: true,
    },
    Damage {
        what: "the closing brace",
        record: 6,
        find: b"}\n",
        offset: 0,
        change: |_| b']',
        same_error: false,
    },
    Damage {
        what: "the line feed between records",
        record: 2,
        find: b"\n",
        offset: 0,
        change: |_| b' ',
        same_error: false,
    },
    Damage {
        what: "a letter of an enumeration value",
        record: 6,
        find: b"directive",
        offset: 8,
        change: |_| b'f',
        same_error: true,
    },
];

/// The index of the byte a damage changes.
fn damage_at(export: &[u8], damage: &Damage) -> usize {
    let line_start: usize = export
        .split(|&b| b == b'\n')
        .take(damage.record - 1)
        .map(|l| l.len() + 1)
        .sum();
    let within = export[line_start..]
        .windows(damage.find.len())
        .position(|w| w == damage.find)
        .unwrap_or_else(|| panic!("{}: nothing to damage in record {}", damage.what, damage.record));
    line_start + within + damage.offset
}

/// `tools/verify_export.py` and `orgledger verify --file` agree on an export made by the real
/// CLI, and on copies of it with one byte changed, each naming the damaged record.
#[test]
fn python_verifier_agrees_with_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, CLI_EVENTS).expect("write events");
    let appended = cli()
        .arg("--data")
        .arg(&data)
        .arg("append")
        .arg(&events)
        .output()
        .expect("run orgledger append");
    assert!(
        appended.status.success(),
        "append: {}",
        String::from_utf8_lossy(&appended.stderr)
    );
    let acks: Vec<Value> = String::from_utf8_lossy(&appended.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("ack"))
        .collect();
    assert_eq!(acks.len(), 6);

    let export = dir.path().join("export.jsonl");
    let exported = cli()
        .arg("--data")
        .arg(&data)
        .arg("export")
        .arg("--out")
        .arg(&export)
        .output()
        .expect("run orgledger export");
    assert!(
        exported.status.success(),
        "export: {}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let bytes = std::fs::read(&export).expect("read export");
    assert!(
        String::from_utf8_lossy(&bytes).contains("\"name\":\"Đàm Thủy\""),
        "the decomposed name was stored in NFC"
    );

    let rust = cli_verdict(&export);
    let python = python_verdict(&export);
    let root = rust.json["root"]
        .as_str()
        .expect("the verdict gives the tree's root")
        .to_owned();
    assert_eq!(root.len(), 64, "{}", rust.json);
    assert_eq!(
        rust.json,
        json!({"ok": true, "events": 6, "head": acks[5]["hash"], "root": root})
    );
    assert_eq!(rust.status, 0);
    assert_same_verdict("the good export", &rust, &python, false);

    for damage in DAMAGES {
        let mut damaged = bytes.clone();
        let at = damage_at(&bytes, damage);
        damaged[at] = (damage.change)(bytes[at]);
        assert_ne!(damaged[at], bytes[at], "{}: the byte must change", damage.what);
        let file = dir.path().join("damaged.jsonl");
        std::fs::write(&file, &damaged).expect("write damaged export");
        let rust = cli_verdict(&file);
        let python = python_verdict(&file);
        assert_eq!(rust.json["ok"], json!(false), "{}: {}", damage.what, rust.json);
        assert_eq!(rust.json["seq"], json!(damage.record), "{}: {}", damage.what, rust.json);
        assert_eq!(rust.status, 1, "{}", damage.what);
        assert_same_verdict(damage.what, &rust, &python, damage.same_error);
    }
}

/// The verifier accepts the export file FORMAT.md documents, with the documented verdict,
/// and knows exactly the catalogue the document lists.
#[test]
fn python_verifier_follows_the_document() {
    let doc = read_format_md();
    let doc_blocks = blocks(&doc);
    let export = doc_blocks
        .iter()
        .find(|b| b.kind == "export")
        .expect("FORMAT.md has an export block");
    let verdict = doc_blocks
        .iter()
        .find(|b| b.kind == "verdict" && b.name() == export.name())
        .expect("and its verdict");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("documented.jsonl");
    std::fs::write(&file, export.lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write export");
    let python = python_verdict(&file);
    let documented: Value = serde_json::from_str(&verdict.lines.join("\n")).expect("the verdict block is JSON");
    assert_eq!(python.json, documented);
    assert_eq!(python.status, 0);

    let script = Path::new(MANIFEST_DIR).join("tools").join("verify_export.py");
    let output = Command::new(python_with_blake3())
        .arg(script)
        .arg("--catalogue")
        .output()
        .expect("run --catalogue");
    assert!(output.status.success());
    let known: Value = serde_json::from_slice(&output.stdout).expect("the catalogue is JSON");
    assert_eq!(
        known,
        doc_catalogue(&doc).to_json(),
        "tools/verify_export.py's catalogue differs from FORMAT.md section 11"
    );
}

/// FORMAT.md section 4 says Python's `json.dumps(value, sort_keys=True, separators=(",",
/// ":"), ensure_ascii=False)` writes the canonical bytes; this checks it on the characters
/// where JSON encoders usually differ.
#[test]
fn python_json_dumps_writes_canonical_bytes() {
    let ascii: String = (0u8..=0x7f).map(char::from).collect();
    let c1: String = (0x80u32..=0x9f).filter_map(char::from_u32).collect();
    let value = json!({
        "ascii": ascii,
        "c1": c1,
        "separators": "\u{2028}\u{2029}\u{feff}\u{fffd}",
        "astral": "😀 𝔸",
        "vietnamese": ["Đàm Thủy", "Pác Ngòa", "Trùng Khánh"],
        "numbers": [0, -1, i64::MIN, u64::MAX, 2012],
        "literals": [true, false, null, [], {}],
        "keys": {"é": 1, "z": 2, "a": 3, "Z": 4, "~": 5, "😀": 6, "\u{ffff}": 7, "ab": 8, "a b": 9, "": 10},
    });
    let program = "import json, sys\n\
        value = json.loads(sys.stdin.buffer.read().decode('utf-8'))\n\
        sys.stdout.buffer.write(json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8'))";
    let mut child = Command::new(python_with_blake3())
        .args(["-c", program])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(value.to_string().as_bytes()).expect("write to python");
    }
    let output = child.wait_with_output().expect("python output");
    assert!(output.status.success());
    let canonical = to_canonical(&value).expect("no floats");
    assert_eq!(
        escaped(&output.stdout),
        escaped(&canonical),
        "Python's json.dumps and the canonical encoder differ"
    );
}

/// Verdicts of `tools/verify_export.py` on many export files, through one Python process
/// that imports the script and calls its `verify` on each (so thousands of cases take a
/// second). The `error` texts are dropped: they are for people.
fn python_verdicts(cases: &[Vec<u8>]) -> Vec<Value> {
    let program = "import json, sys\n\
        sys.path.insert(0, sys.argv[1])\n\
        import verify_export\n\
        for line in sys.stdin:\n\
        \x20   verdict = verify_export.verify(bytes.fromhex(line.strip()))\n\
        \x20   verdict.pop('error', None)\n\
        \x20   print(json.dumps(verdict))";
    let mut child = Command::new(python_with_blake3())
        .args(["-c", program])
        .arg(Path::new(MANIFEST_DIR).join("tools"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    let input: String = cases.iter().map(|c| hex::encode(c) + "\n").collect();
    let mut stdin = child.stdin.take().expect("stdin");
    // Written from another thread, so that neither side waits on a full pipe.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(input.as_bytes()).expect("write to python");
    });
    let output = child.wait_with_output().expect("python output");
    writer.join().expect("writer thread");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let verdicts: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("verdict"))
        .collect();
    assert_eq!(verdicts.len(), cases.len());
    verdicts
}

/// The verdict of orgledger's own export reader, without its `error` text.
fn rust_verdict(file: &[u8]) -> Value {
    match verify_export(file, |_| Ok(())).expect("reading from memory cannot fail") {
        Ok((head, root)) => json!({"ok": true, "events": head.seq, "head": head.hash.to_hex(), "root": root.to_hex()}),
        Err(e) => json!({"ok": false, "seq": e.seq}),
    }
}

/// Runs both verifiers on every case and lists the cases where they disagree.
fn assert_verifiers_agree(what: &str, cases: &[Vec<u8>]) {
    let python = python_verdicts(cases);
    let disagreements: Vec<String> = cases
        .iter()
        .zip(&python)
        .filter(|(case, python)| rust_verdict(case) != **python)
        .map(|(case, python)| {
            format!(
                "{}\n  python: {python}\n  orgledger: {}",
                String::from_utf8_lossy(case),
                rust_verdict(case)
            )
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{what}: {} of {} cases disagree, the first ones:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements[..disagreements.len().min(5)].join("\n")
    );
}

/// Every single-byte change of the documented export file, a few ways each: the independent
/// verifier and orgledger's find the same first bad record (or both accept the file, when a
/// change happens to leave it valid).
#[test]
fn python_verifier_agrees_on_every_single_byte_change() {
    let doc_blocks = blocks(&read_format_md());
    let export = doc_blocks
        .iter()
        .find(|b| b.kind == "export")
        .expect("FORMAT.md has an export block");
    let good: Vec<u8> = export
        .lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let mut cases = Vec::new();
    for at in 0..good.len() {
        for change in [good[at] ^ 0x01, good[at] ^ 0x20, b'"', b'\n', b' ', b'0', 0xc3, 0xff] {
            if change != good[at] {
                let mut damaged = good.clone();
                damaged[at] = change;
                cases.push(damaged);
            }
        }
    }
    assert!(cases.len() > 5000);
    assert_verifiers_agree("single-byte changes", &cases);
}

/// Records changed and then hashed again, so that the hash holds and only the checks of
/// FORMAT.md section 7 steps 4 and 5 can find them: every field removed, set to `null` or to
/// values of the wrong form, unknown fields, text not in NFC, other versions; and lines with
/// the right hash but written in another form (spaces, escapes, fractions, repeated keys).
/// Each case is a one-record file; both verifiers must give the same verdict.
#[test]
fn python_verifier_agrees_on_rehashed_records() {
    let doc = read_format_md();
    let catalogue = doc_catalogue(&doc);
    let enums: HashMap<String, Vec<String>> = catalogue.enumerations.iter().cloned().collect();
    let field_types: HashMap<(String, String), String> = catalogue
        .events
        .iter()
        .flat_map(|(event, fields)| {
            fields
                .iter()
                .map(move |f| ((event.clone(), f.name.clone()), f.value_type.clone()))
        })
        .collect();
    let envelope_values: Vec<(&str, Vec<Value>)> = vec![
        (
            "format",
            vec![json!(0), json!(2), json!("1"), json!(true), json!(-1), json!(u64::MAX)],
        ),
        ("seq", vec![json!(0), json!(2), json!(-1), json!("1"), json!(u64::MAX)]),
        (
            "prev",
            vec![json!("00"), json!("0".repeat(63) + "1"), json!("0".repeat(63) + "A")],
        ),
        (
            "recorded_at",
            vec![
                json!("2026-11-27T08:00:00Z"),
                json!("2026-11-27t08:00:00.000000Z"),
                json!("2026-02-29T08:00:00.000000Z"),
                json!("2026-11-27T24:00:00.000000Z"),
                json!("2026-11-27T08:00:00.000000+00:00"),
                json!("2016-12-31T23:59:60.000000Z"),
                json!("2026-11-27T08:07:60.500000Z"),
                json!("0000-02-29T00:00:00.000000Z"),
                json!("2100-02-29T00:00:00.000000Z"),
            ],
        ),
        (
            "actor",
            vec![
                json!("Cli"),
                json!(""),
                json!("a--b"),
                json!("-a"),
                json!("x".repeat(64)),
                json!("x".repeat(65)),
            ],
        ),
        (
            "type",
            vec![json!("LocalityRegistred"), json!(1), json!("OrganizationFounded")],
        ),
        (
            "effective",
            vec![
                json!("2005-02-29"),
                json!("2004-02-29"),
                json!("1900-01-01"),
                json!("2100-12-31"),
                json!("05-01-01"),
            ],
        ),
        (
            "decision",
            vec![
                json!({"number": "1-QĐ/HU", "date": "2005-01-01", "issuer": "huyen-uy"}),
                json!({"number": "1-QĐ/HU", "date": "2005-01-01"}),
                json!({"number": "1-QĐ/HU", "date": "2005-01-01", "issuer": "huyen-uy", "signed": true}),
                json!({"number": "", "date": "2005-01-01", "issuer": "huyen-uy"}),
                json!({"number": "1-QĐ/HU", "date": "2005-13-01", "issuer": "huyen-uy"}),
                json!({"number": "1-QD\u{309}", "date": "2005-01-01", "issuer": "huyen-uy"}),
                json!({"number": null, "date": "2005-01-01", "issuer": "huyen-uy"}),
                json!(["1-QĐ/HU"]),
                json!("1-QĐ/HU"),
            ],
        ),
    ];
    let texts = [
        json!("Pa\u{301}c Ngo\u{300}a"),
        json!("x".repeat(500)),
        json!("x".repeat(501)),
        json!("\u{1ea0}".repeat(500)),
        json!("A\u{323}".repeat(250)),
        json!("a\u{2028}b \u{1F600}"),
        json!("\u{3000}"),
        json!("\u{200b}"),
        json!("a\u{7f}"),
        json!("a\u{9f}"),
        json!("a\u{a0}"),
    ];

    let mut cases: Vec<Vec<u8>> = Vec::new();
    let mut push_map = |map: &Map<String, Value>| {
        let line = line_with_fresh_hash(map.clone());
        cases.push(format!("{line}\n").into_bytes());
    };
    let mut rewrites: Vec<String> = Vec::new();
    for block in blocks(&doc).iter().filter(|b| b.kind == "vector") {
        let mut record: Map<String, Value> = serde_json::from_str(block.field("export")).expect("export line");
        record.insert("seq".into(), json!(1));
        record.insert("prev".into(), json!(Hash::ZERO.to_hex()));
        push_map(&record);
        let type_name = record["type"].as_str().expect("type").to_owned();
        for key in record.keys().filter(|k| *k != "hash").cloned().collect::<Vec<_>>() {
            let mut changed = record.clone();
            changed.remove(&key);
            push_map(&changed);
            let values = match field_types.get(&(type_name.clone(), key.clone())) {
                Some(value_type) => {
                    let mut values = invalid_values(value_type, &enums);
                    values.push(valid_value(value_type, &enums));
                    if value_type.contains("text") {
                        values.extend(texts.iter().cloned());
                    }
                    values
                }
                None => envelope_values
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            };
            for value in values.into_iter().chain([Value::Null]) {
                changed.insert(key.clone(), value);
                push_map(&changed);
            }
        }
        for (key, values) in &envelope_values {
            if !record.contains_key(*key) {
                for value in values {
                    let mut changed = record.clone();
                    changed.insert(key.to_string(), value.clone());
                    push_map(&changed);
                }
            }
        }
        let mut extra = record.clone();
        extra.insert("remarks".into(), json!("x"));
        push_map(&extra);

        // The right hash, other bytes: the content is unchanged, so the stated hash holds.
        let line = line_with_fresh_hash(record.clone());
        rewrites.extend([
            line.replacen(',', ", ", 1),
            line.replacen(':', " : ", 1),
            format!(" {line}"),
            format!("{line}\r"),
            format!("\u{feff}{line}"),
            line.replacen("\"format\":1", "\"format\":1.0", 1),
            line.replacen("\"format\":1", "\"format\":1e0", 1),
            line.replacen("\"format\":1", "\"format\":01", 1),
            line.replacen("\"actor\"", "\"\\u0061ctor\"", 1),
            line.replacen('/', "\\/", 1),
            line.replacen('á', "\\u00e1", 1),
            line.replacen('{', "{\"seq\":1,", 1),
            line.replacen('}', ",\"seq\":1}", 1),
            line.replacen('}', ",\"seq\":2}", 1),
        ]);
    }
    cases.extend(rewrites.into_iter().map(|l| format!("{l}\n").into_bytes()));
    assert!(cases.len() > 500);
    assert_verifiers_agree("re-hashed records", &cases);
}

/// An export of `n` synthetic records, one line each (newline-terminated), with the head
/// and root a reader must reach.
fn synthetic_export(n: u64) -> (Vec<Vec<u8>>, Hash, Hash) {
    let actor = Id::parse("office").expect("an id");
    let at = Timestamp::parse("2026-01-15T10:00:00.000000Z").expect("a time");
    let mut prev = Hash([0; 32]);
    let mut tree = orgledger::merkle::Frontier::new();
    let mut lines = Vec::new();
    for (i, submission) in orgledger::generate::synthetic_batches(n, 11).flatten().enumerate() {
        let record = Record::seal(i as u64 + 1, prev, at, actor.clone(), submission);
        prev = record.hash();
        let _nodes = tree.push(&prev);
        lines.push(format!("{}\n", record.export_line()).into_bytes());
    }
    assert_eq!(lines.len() as u64, n);
    (lines, prev, tree.root())
}

/// The verdict on these bytes, as `verify --file` prints it; `each` refuses the record of
/// `refuse_at`, if any.
fn verdict_on(bytes: impl std::io::BufRead + Send, refuse_at: Option<u64>) -> Result<Value, String> {
    let verdict = verify_export(bytes, |record| match refuse_at {
        Some(seq) if record.seq() == seq => Err(orgledger::chain::ChainError {
            seq,
            error: "refused by the caller".into(),
        }),
        _ => Ok(()),
    })
    .map_err(|e| e.to_string())?;
    Ok(match verdict {
        Ok((head, root)) => json!({"ok": true, "events": head.seq, "head": head.hash.to_hex(), "root": root.to_hex()}),
        Err(e) => json!({"ok": false, "seq": e.seq, "error": e.error}),
    })
}

/// A reader of `bytes` that fails once it has served `fail_after` of them.
struct FailingReader {
    bytes: Vec<u8>,
    at: usize,
    fail_after: usize,
}

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.fail_after {
            return Err(std::io::Error::other("the disk went away"));
        }
        let n = buf.len().min(self.fail_after - self.at).min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Export files long enough to be read in several chunks on several threads get the verdict
/// a line-by-line reading gives: the head and root of the whole file, blank lines at the
/// chunks' edges skipped, the first bad record named (not a later one read first by
/// another thread), a failure to read answered after the lines before it, and a refusal by
/// the caller ending the reading.
#[test]
fn a_long_export_is_read_in_order_on_every_core() {
    let (lines, head, root) = synthetic_export(3_000);
    let whole = lines.concat();
    let good = json!({"ok": true, "events": 3000, "head": head.to_hex(), "root": root.to_hex()});
    assert_eq!(verdict_on(whole.as_slice(), None).unwrap(), good, "the whole file");

    // Blank lines where the chunks of 1,024 lines begin and end, and at the end.
    let mut blank = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if [1023, 1024, 2047].contains(&i) {
            blank.extend_from_slice(b"\n");
        }
        blank.extend_from_slice(line);
    }
    blank.extend_from_slice(b"\n\n");
    assert_eq!(verdict_on(blank.as_slice(), None).unwrap(), good, "blank lines");

    // One damaged record, then two: the first is named.
    let damage = |lines: &mut Vec<Vec<u8>>, seq: usize, byte: u8| {
        let line = &mut lines[seq - 1];
        let at = line.len() / 2;
        line[at] = byte;
    };
    let mut damaged = lines.clone();
    damage(&mut damaged, 2_500, b'~');
    let verdict = verdict_on(damaged.concat().as_slice(), None).unwrap();
    assert_eq!(
        (verdict["ok"].clone(), verdict["seq"].clone()),
        (json!(false), json!(2500)),
        "{verdict}"
    );
    damage(&mut damaged, 1_100, 0xff);
    let verdict = verdict_on(damaged.concat().as_slice(), None).unwrap();
    assert_eq!(
        verdict,
        json!({"ok": false, "seq": 1100, "error": "the line is not valid UTF-8"}),
        "the first of two"
    );

    // A reader that fails after 2,000 whole lines (inside a chunk), or after 2,048 (where
    // one begins): the failure, once the lines before it are read; a bad record before it
    // is named instead.
    let failing = |bytes: Vec<u8>, whole_lines: usize| {
        std::io::BufReader::with_capacity(
            4096,
            FailingReader {
                bytes,
                at: 0,
                fail_after: lines[..whole_lines].iter().map(Vec::len).sum(),
            },
        )
    };
    let mut early = lines.clone();
    damage(&mut early, 1_500, b'~');
    for whole_lines in [2_000, 2_048] {
        let failed = verdict_on(failing(whole.clone(), whole_lines), None).expect_err("the read fails");
        assert!(
            failed.contains("the disk went away"),
            "after {whole_lines} lines: {failed}"
        );
        let verdict = verdict_on(failing(early.concat(), whole_lines), None).unwrap();
        assert_eq!(verdict["seq"], json!(1500), "after {whole_lines} lines: {verdict}");
    }

    // The caller refuses a record: its error is the verdict, and the reading ends.
    let verdict = verdict_on(whole.as_slice(), Some(1_030)).unwrap();
    assert_eq!(
        verdict,
        json!({"ok": false, "seq": 1030, "error": "refused by the caller"})
    );
}
