//! The published JSON Schema of event input, `schema/events.schema.json`, checked against the
//! code that really reads input, `Submission::from_json`.
//!
//! Clients validate their JSON Lines against the schema before they call `orgledger append`,
//! so the schema must say what the ledger reads: the same event types, the same fields, the
//! same required fields and enum values, and it must refuse what the ledger refuses wherever
//! JSON Schema can say so. The field sets are read from the Rust structs themselves (through
//! serde's "unknown field, expected ..." message and by removing fields one at a time), not
//! from a list kept here, so a field added to the catalogue without the schema fails a test.
//!
//! The valid corpus is `tests/fixtures/schema-valid.jsonl`; the refused corpus is the table in
//! [`refused_corpus`], where each case says whether the schema can express it and, if not, why.

use std::collections::BTreeSet;

use jsonschema::Validator;
use orgledger::event::record::LEDGER_FIELDS;
use orgledger::event::{
    DisciplineForm, EndReason, InstrumentKind, LocalityKind, MeetingKind, OrgKind, ProfileField, QualityLevel,
    ResolutionTopic, Sex, StandardDimension, Submission, VerificationOutcome, EVENT_TYPES,
};
use serde::Serialize;
use serde_json::{json, Map, Value};

const SCHEMA_TEXT: &str = include_str!("../schema/events.schema.json");
const VALID_CORPUS: &str = include_str!("fixtures/schema-valid.jsonl");

/// The envelope fields a client sends with every event, beside the event's own fields.
const ENVELOPE_FIELDS: &[&str] = &["type", "effective", "decision"];

fn schema() -> Value {
    serde_json::from_str(SCHEMA_TEXT).expect("schema/events.schema.json is JSON")
}

/// A draft 2020-12 validator of the schema. Draft 2020-12 makes `format` an annotation by
/// default, so `assert_formats` chooses between a validator as most clients build it and one
/// that also asserts `format: date`.
fn validator(assert_formats: bool) -> Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(assert_formats)
        .build(&schema())
        .expect("the schema compiles")
}

/// The schema's complaints about `instance`, empty when it is valid.
fn schema_errors(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn event_definition<'a>(schema: &'a Value, type_name: &str) -> &'a Map<String, Value> {
    schema["$defs"][type_name]
        .as_object()
        .unwrap_or_else(|| panic!("the schema has no definition for {type_name}"))
}

fn schema_properties(schema: &Value, type_name: &str) -> BTreeSet<String> {
    event_definition(schema, type_name)["properties"]
        .as_object()
        .expect("an event definition lists its properties")
        .keys()
        .cloned()
        .collect()
}

fn schema_required(schema: &Value, type_name: &str) -> BTreeSet<String> {
    event_definition(schema, type_name)["required"]
        .as_array()
        .expect("an event definition lists its required properties")
        .iter()
        .map(|v| v.as_str().expect("required names are strings").to_owned())
        .collect()
}

/// The field names of the Rust struct of `type_name`, as serde knows them: an unknown field
/// makes serde list every field the struct has ("unknown field `x`, expected one of `a`, `b`",
/// or "expected `a`" for a struct with one field).
fn rust_fields(type_name: &str) -> BTreeSet<String> {
    let probe = json!({"type": type_name, "effective": "2000-01-01", "zz_not_a_field": 0});
    let message = Submission::from_json(&probe.to_string())
        .expect_err("an unknown field is refused")
        .to_string();
    let (_, expected) = message
        .split_once("unknown field `zz_not_a_field`, expected ")
        .unwrap_or_else(|| panic!("{type_name}: unexpected message for an unknown field: {message}"));
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The values of a snake_case string enumeration, as serde writes them (which is what
/// `from_json` reads), rather than through `as_str`, which is declared apart from serde.
fn serde_names<T: Serialize>(all: &[T]) -> Vec<String> {
    all.iter()
        .map(|v| {
            serde_json::to_value(v)
                .expect("enums serialize")
                .as_str()
                .expect("as a string")
                .to_owned()
        })
        .collect()
}

/// Each enumeration of the schema's `$defs`, with the values of the Rust enum behind it.
fn rust_enums() -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("locality_kind", serde_names(LocalityKind::ALL)),
        ("org_kind", serde_names(OrgKind::ALL)),
        ("verification_outcome", serde_names(VerificationOutcome::ALL)),
        ("sex", serde_names(Sex::ALL)),
        ("discipline_form", serde_names(DisciplineForm::ALL)),
        ("end_reason", serde_names(EndReason::ALL)),
        ("profile_field", serde_names(ProfileField::ALL)),
        ("instrument_kind", serde_names(InstrumentKind::ALL)),
        ("standard_dimension", serde_names(StandardDimension::ALL)),
        ("meeting_kind", serde_names(MeetingKind::ALL)),
        ("resolution_topic", serde_names(ResolutionTopic::ALL)),
        ("quality_level", serde_names(QualityLevel::ALL)),
    ]
}

/// The valid corpus, one parsed object per line, with the line itself.
fn valid_corpus() -> Vec<(String, Map<String, Value>)> {
    VALID_CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let Value::Object(map) = serde_json::from_str(l).expect("the valid corpus is JSON") else {
                panic!("a corpus line is an object: {l}")
            };
            (l.to_owned(), map)
        })
        .collect()
}

/// The corpus example of `type_name` that carries every property the schema allows.
fn full_example(type_name: &str) -> Map<String, Value> {
    let properties = schema_properties(&schema(), type_name);
    valid_corpus()
        .into_iter()
        .map(|(_, map)| map)
        .find(|map| map["type"] == type_name && map.keys().cloned().collect::<BTreeSet<_>>() == properties)
        .unwrap_or_else(|| panic!("the valid corpus has no example of {type_name} with every field"))
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let schema = schema();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("the schema does not validate against the 2020-12 meta-schema: {e}");
    }
}

#[test]
fn the_schema_has_one_definition_per_catalogue_event_type() {
    let schema = schema();
    let catalogue: Vec<String> = EVENT_TYPES.iter().map(|t| t.to_string()).collect();

    let branches: Vec<String> = schema["oneOf"]
        .as_array()
        .expect("the schema combines its event definitions with oneOf")
        .iter()
        .map(|b| {
            let target = b["$ref"].as_str().expect("each branch is a $ref");
            target
                .strip_prefix("#/$defs/")
                .expect("to a local definition")
                .to_owned()
        })
        .collect();
    assert_eq!(branches, catalogue, "the oneOf branches are the catalogue, in order");

    let listed: Vec<String> = serde_json::from_value(schema["properties"]["type"]["enum"].clone())
        .expect("the top level lists the event types");
    assert_eq!(listed, catalogue, "the top-level `type` enum is the catalogue");

    for type_name in EVENT_TYPES {
        let definition = event_definition(&schema, type_name);
        assert_eq!(
            definition["properties"]["type"],
            json!({"const": type_name}),
            "{type_name}: discriminated by `type`"
        );
        assert_eq!(
            definition["additionalProperties"],
            json!(false),
            "{type_name}: closed to other fields"
        );
        let description = definition["description"].as_str().unwrap_or_default();
        assert!(
            description.len() > 20,
            "{type_name}: a definition says what the event means"
        );
    }

    // Nothing else in `$defs` looks like an event: every object definition other than the
    // decision is one of the catalogue's types.
    let object_defs: BTreeSet<String> = schema["$defs"]
        .as_object()
        .expect("the schema has $defs")
        .iter()
        .filter(|(_, d)| d["type"] == "object")
        .map(|(name, _)| name.clone())
        .collect();
    let mut expected: BTreeSet<String> = catalogue.into_iter().collect();
    expected.insert("decision".into());
    assert_eq!(object_defs, expected);
}

#[test]
fn each_definition_has_exactly_the_fields_of_its_rust_struct() {
    let schema = schema();
    for type_name in EVENT_TYPES {
        let mut fields = rust_fields(type_name);
        assert!(!fields.is_empty(), "{type_name}: serde names the struct's fields");
        fields.extend(ENVELOPE_FIELDS.iter().map(|f| f.to_string()));
        assert_eq!(
            schema_properties(&schema, type_name),
            fields,
            "{type_name}: schema properties"
        );
    }
}

/// A field is required in Rust when removing it from a complete example makes `from_json`
/// say it is missing; Option fields, `#[serde(default)]` fields and `decision` are not.
#[test]
fn each_definition_requires_exactly_what_the_rust_struct_requires() {
    let schema = schema();
    for type_name in EVENT_TYPES {
        let full = full_example(type_name);
        let mut required_by_rust = BTreeSet::new();
        for field in full.keys() {
            let mut without = full.clone();
            without.remove(field);
            match Submission::from_json(&Value::Object(without).to_string()) {
                Ok(_) => {}
                Err(e) => {
                    let message = e.to_string();
                    assert!(
                        message.contains(&format!("missing field `{field}`")),
                        "{type_name} without {field}: {message}"
                    );
                    required_by_rust.insert(field.clone());
                }
            }
        }
        assert_eq!(
            schema_required(&schema, type_name),
            required_by_rust,
            "{type_name}: required fields"
        );
    }
}

#[test]
fn schema_enums_are_the_rust_enums_and_every_value_is_read() {
    let schema = schema();
    let enums = rust_enums();
    let enum_defs: BTreeSet<&str> = schema["$defs"]
        .as_object()
        .expect("$defs")
        .iter()
        .filter(|(_, d)| d.get("enum").is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        enum_defs,
        enums.iter().map(|(name, _)| *name).collect::<BTreeSet<&str>>(),
        "each schema enum has a Rust enum"
    );
    for (name, values) in &enums {
        let listed: Vec<String> = serde_json::from_value(schema["$defs"][name]["enum"].clone()).expect("enum values");
        assert_eq!(&listed, values, "$defs/{name}");
    }

    // Every value of every enum field, put into a complete example, is accepted by both: this
    // catches a field that points at the wrong enumeration.
    let strict = validator(true);
    for type_name in EVENT_TYPES {
        let full = full_example(type_name);
        for (field, property) in event_definition(&schema, type_name)["properties"]
            .as_object()
            .expect("properties")
        {
            let (target, in_array) = match (property.get("$ref"), property.get("items")) {
                (Some(r), _) => (r.as_str().expect("a $ref"), false),
                (None, Some(items)) => match items.get("$ref") {
                    Some(r) => (r.as_str().expect("a $ref"), true),
                    None => continue,
                },
                _ => continue,
            };
            let Some((_, values)) = enums.iter().find(|(name, _)| target == format!("#/$defs/{name}")) else {
                continue;
            };
            for value in values {
                let mut example = full.clone();
                example[field] = if in_array { json!([value]) } else { json!(value) };
                let example = Value::Object(example);
                assert_eq!(
                    schema_errors(&strict, &example),
                    Vec::<String>::new(),
                    "{type_name}.{field} = {value}"
                );
                if let Err(e) = Submission::from_json(&example.to_string()) {
                    panic!("{type_name}.{field} = {value} is refused by from_json: {e}");
                }
            }
        }
    }
}

#[test]
fn the_valid_corpus_is_accepted_by_the_schema_and_by_from_json() {
    let schema = schema();
    let lenient = validator(false);
    let strict = validator(true);
    let corpus = valid_corpus();
    for (line, map) in &corpus {
        let instance = Value::Object(map.clone());
        assert_eq!(
            schema_errors(&lenient, &instance),
            Vec::<String>::new(),
            "schema on {line}"
        );
        assert_eq!(
            schema_errors(&strict, &instance),
            Vec::<String>::new(),
            "schema with formats on {line}"
        );
        let submission = Submission::from_json(line).unwrap_or_else(|e| panic!("from_json refused {line}: {e}"));
        // What the ledger writes back for a submission is itself valid input.
        let written = Value::Object(submission.to_value());
        assert_eq!(
            schema_errors(&strict, &written),
            Vec::<String>::new(),
            "schema on the ledger's form of {line}"
        );
    }

    // Coverage: each type appears with every field present and with only the required ones.
    for type_name in EVENT_TYPES {
        let all = schema_properties(&schema, type_name);
        let required = schema_required(&schema, type_name);
        let shapes: Vec<BTreeSet<String>> = corpus
            .iter()
            .filter(|(_, map)| map["type"] == *type_name)
            .map(|(_, map)| map.keys().cloned().collect())
            .collect();
        assert!(
            shapes.contains(&all),
            "{type_name}: the corpus has an example with every field"
        );
        assert!(
            shapes.contains(&required),
            "{type_name}: the corpus has an example with only the required fields"
        );
    }
}

/// How much of a refused case the schema can express.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SchemaVerdict {
    /// The schema refuses it, whether or not the validator asserts formats.
    Refuses,
    /// Only a validator that asserts `format: date` refuses it: the pattern checks the shape
    /// and the ranges of year, month and day, but not which days a month has.
    RefusesWhenFormatsAsserted,
    /// JSON Schema cannot express the rule; only `from_json` is asserted, and the case's
    /// comment says why.
    Inexpressible,
}

/// One input the ledger must refuse.
struct Refused {
    /// What is wrong with it, for failure messages.
    case: &'static str,
    /// The line as a client would send it.
    line: String,
    /// A part of `from_json`'s error message that names the problem.
    names: String,
    /// Whether the schema refuses it too, and under which validator.
    schema: SchemaVerdict,
}

fn refused(case: &'static str, line: Value, names: &str, schema: SchemaVerdict) -> Refused {
    Refused {
        case,
        line: line.to_string(),
        names: names.to_owned(),
        schema,
    }
}

/// A well-formed hamlet registration, for cases that break one thing in it.
fn hamlet() -> Value {
    json!({"type": "LocalityRegistered", "effective": "2005-01-01", "locality": "xom-pac-ngoa",
           "name": "Pác Ngòa", "kind": "hamlet", "parent": "xa-ngoc-khe", "border": true})
}

/// A well-formed admission, for cases that break one thing in it.
fn admission() -> Value {
    json!({"type": "MemberAdmitted", "effective": "2008-06-01", "member": "dv-000123",
           "name": "Nông Thị Hoa", "sex": "female", "birth_date": "1985-04-12",
           "home_locality": "xom-pac-ngoa", "org": "cb-pac-ngoa", "introducers": ["dv-000001"]})
}

/// A well-formed cell meeting, for cases that break one thing in it.
fn meeting() -> Value {
    json!({"type": "CellMeetingHeld", "effective": "2012-05-05", "cell": "cb-pac-ngoa",
           "kind": "regular", "attendance": 9, "topics": ["Hiến đất làm đường"]})
}

/// `base` with `field` set to `value`, or removed when `value` is `None`.
fn with(mut base: Value, field: &str, value: Option<Value>) -> Value {
    let map = base.as_object_mut().expect("an object");
    match value {
        Some(v) => map.insert(field.to_owned(), v),
        None => map.remove(field),
    };
    base
}

fn refused_corpus() -> Vec<Refused> {
    use SchemaVerdict::*;
    let decision = json!({"number": "125-QĐ/HU", "date": "2009-03-02", "issuer": "huyen-uy-trung-khanh"});
    let mut cases = vec![
        // The event type.
        refused(
            "unknown type",
            with(hamlet(), "type", Some(json!("LocalityDiscovered"))),
            "unknown event type \"LocalityDiscovered\"",
            Refuses,
        ),
        refused(
            "type in the wrong case",
            with(hamlet(), "type", Some(json!("localityRegistered"))),
            "unknown event type",
            Refuses,
        ),
        refused(
            "missing type",
            with(hamlet(), "type", None),
            "missing field `type`",
            Refuses,
        ),
        refused(
            "type not a string",
            with(hamlet(), "type", Some(json!(1))),
            "`type` must be a string",
            Refuses,
        ),
        refused(
            "not an object",
            json!(["LocalityRegistered"]),
            "must be a JSON object",
            Refuses,
        ),
        // Unknown fields, in the event and in its decision.
        refused(
            "unknown field",
            with(hamlet(), "population", Some(json!(312))),
            "unknown field `population`",
            Refuses,
        ),
        refused(
            "a field of another event type",
            with(hamlet(), "org", Some(json!("cb-pac-ngoa"))),
            "unknown field `org`",
            Refuses,
        ),
        refused(
            "unknown decision field",
            with(
                hamlet(),
                "decision",
                Some(with(decision.clone(), "signed_by", Some(json!("Bí thư")))),
            ),
            "unknown field `signed_by`",
            Refuses,
        ),
        // Missing required fields.
        refused(
            "missing effective",
            with(hamlet(), "effective", None),
            "missing field `effective`",
            Refuses,
        ),
        refused(
            "missing border",
            with(hamlet(), "border", None),
            "missing field `border`",
            Refuses,
        ),
        refused(
            "missing birth_date",
            with(admission(), "birth_date", None),
            "missing field `birth_date`",
            Refuses,
        ),
        refused(
            "missing gaps",
            json!({"type": "CadreAssessed", "effective": "2012-01-15", "person": "cb-0001", "programme": "03-da-tu", "meets_standard": true}),
            "missing field `gaps`",
            Refuses,
        ),
        refused(
            "missing localities",
            json!({"type": "OrganizationFounded", "effective": "2008-12-15", "org": "cb-pac-ngoa", "name": "Chi bộ", "kind": "cell", "parent": "du-ngoc-khe"}),
            "missing field `localities`",
            Refuses,
        ),
        refused(
            "missing decision issuer",
            with(hamlet(), "decision", Some(with(decision.clone(), "issuer", None))),
            "missing field `issuer`",
            Refuses,
        ),
        // Wrong JSON types.
        refused(
            "boolean as a string",
            with(hamlet(), "border", Some(json!("yes"))),
            "invalid type: string \"yes\", expected a boolean",
            Refuses,
        ),
        refused(
            "required field null",
            with(hamlet(), "name", Some(Value::Null)),
            "invalid type: null",
            Refuses,
        ),
        refused(
            "id as a number",
            with(hamlet(), "locality", Some(json!(42))),
            "invalid type: integer `42`",
            Refuses,
        ),
        refused(
            "list as a string",
            with(admission(), "introducers", Some(json!("dv-000001"))),
            "invalid type: string",
            Refuses,
        ),
        refused(
            "default list as null",
            with(meeting(), "topics", Some(Value::Null)),
            "invalid type: null",
            Refuses,
        ),
        refused(
            "decision as a string",
            with(hamlet(), "decision", Some(json!("125-QĐ/HU"))),
            "decision: invalid type: string",
            Refuses,
        ),
        refused(
            "year as a string",
            json!({"type": "QualityRated", "effective": "2012-12-31", "subject": "cb-pac-ngoa", "year": "2012", "level": "weak"}),
            "invalid type: string \"2012\"",
            Refuses,
        ),
        refused(
            "negative count",
            with(meeting(), "attendance", Some(json!(-1))),
            "invalid value: integer `-1`, expected u32",
            Refuses,
        ),
        refused(
            "count beyond u32",
            with(meeting(), "attendance", Some(json!(4_294_967_296u64))),
            "invalid value: integer `4294967296`, expected u32",
            Refuses,
        ),
        // JSON Schema sees numbers, not how they are written: 12.0 is the integer 12 to it, but
        // the ledger's format carries no floats and refuses a number written with a fraction.
        refused(
            "integer written with a fraction",
            with(meeting(), "attendance", Some(json!(12.0))),
            "invalid type: floating point",
            Inexpressible,
        ),
        // Enumerations.
        refused(
            "unknown locality kind",
            with(hamlet(), "kind", Some(json!("village"))),
            "unknown variant `village`",
            Refuses,
        ),
        refused(
            "enum value not in snake_case",
            with(hamlet(), "kind", Some(json!("ResidentialGroup"))),
            "unknown variant `ResidentialGroup`",
            Refuses,
        ),
        refused(
            "unknown gap",
            json!({"type": "CadreAssessed", "effective": "2012-01-15", "person": "cb-0001", "programme": "03-da-tu", "meets_standard": false, "gaps": ["education", "literacy"]}),
            "unknown variant `literacy`",
            Refuses,
        ),
        // Dates: the shape and ranges are in the pattern, the calendar only in `format: date`.
        refused(
            "day the month does not have",
            with(hamlet(), "effective", Some(json!("2008-02-30"))),
            "invalid date \"2008-02-30\"",
            RefusesWhenFormatsAsserted,
        ),
        refused(
            "29 February of a common year",
            with(admission(), "birth_date", Some(json!("1985-02-29"))),
            "invalid date \"1985-02-29\"",
            RefusesWhenFormatsAsserted,
        ),
        refused(
            "31 April in a decision",
            with(
                hamlet(),
                "decision",
                Some(with(decision.clone(), "date", Some(json!("2009-04-31")))),
            ),
            "invalid date \"2009-04-31\"",
            RefusesWhenFormatsAsserted,
        ),
        refused(
            "month 13",
            with(hamlet(), "effective", Some(json!("2008-13-01"))),
            "invalid date",
            Refuses,
        ),
        refused(
            "day 00",
            with(hamlet(), "effective", Some(json!("2008-12-00"))),
            "invalid date",
            Refuses,
        ),
        refused(
            "date without leading zeros",
            with(hamlet(), "effective", Some(json!("2008-1-01"))),
            "invalid date \"2008-1-01\"",
            Refuses,
        ),
        refused(
            "two-digit year",
            with(hamlet(), "effective", Some(json!("08-12-31"))),
            "invalid date",
            Refuses,
        ),
        refused(
            "date with a time",
            with(hamlet(), "effective", Some(json!("2008-12-31T00:00:00Z"))),
            "invalid date",
            Refuses,
        ),
        refused(
            "day-first date",
            with(admission(), "birth_date", Some(json!("12-04-1985"))),
            "invalid date",
            Refuses,
        ),
        refused(
            "date before 1900",
            with(admission(), "birth_date", Some(json!("1899-12-31"))),
            "outside the years 1900 to 2100",
            Refuses,
        ),
        refused(
            "date after 2100",
            with(hamlet(), "effective", Some(json!("2101-01-01"))),
            "outside the years 1900 to 2100",
            Refuses,
        ),
        // Ids.
        refused(
            "id with capitals",
            with(hamlet(), "locality", Some(json!("Xom-Pac-Ngoa"))),
            "invalid id \"Xom-Pac-Ngoa\"",
            Refuses,
        ),
        refused(
            "id with diacritics",
            with(hamlet(), "locality", Some(json!("xóm-pác-ngòa"))),
            "invalid id",
            Refuses,
        ),
        refused(
            "id with a space",
            with(hamlet(), "parent", Some(json!("xa ngoc khe"))),
            "invalid id",
            Refuses,
        ),
        refused(
            "id starting with a hyphen",
            with(hamlet(), "locality", Some(json!("-xom"))),
            "invalid id",
            Refuses,
        ),
        refused(
            "id ending with a hyphen",
            with(hamlet(), "locality", Some(json!("xom-"))),
            "invalid id",
            Refuses,
        ),
        refused(
            "empty id",
            with(hamlet(), "locality", Some(json!(""))),
            "invalid id",
            Refuses,
        ),
        refused(
            "id of 65 characters",
            with(hamlet(), "locality", Some(json!("x".repeat(65)))),
            "invalid id",
            Refuses,
        ),
        refused(
            "bad id in a list",
            with(admission(), "introducers", Some(json!(["dv-000001", "DV 2"]))),
            "invalid id \"DV 2\"",
            Refuses,
        ),
        refused(
            "bad id as decision issuer",
            with(
                hamlet(),
                "decision",
                Some(with(decision.clone(), "issuer", Some(json!("Huyện ủy")))),
            ),
            "invalid id",
            Refuses,
        ),
        // Text.
        refused(
            "empty name",
            with(hamlet(), "name", Some(json!(""))),
            "empty text",
            Refuses,
        ),
        refused(
            "name of spaces only",
            with(hamlet(), "name", Some(json!("   "))),
            "empty text",
            Refuses,
        ),
        refused(
            "name with a newline",
            with(hamlet(), "name", Some(json!("Pác\nNgòa"))),
            "control character",
            Refuses,
        ),
        refused(
            "name with a tab",
            with(hamlet(), "name", Some(json!("Pác\tNgòa"))),
            "control character",
            Refuses,
        ),
        refused(
            "name with DEL",
            with(hamlet(), "name", Some(json!("Pác\u{7f}Ngòa"))),
            "control character",
            Refuses,
        ),
        refused(
            "name with a C1 control",
            with(hamlet(), "name", Some(json!("Pác\u{85}Ngòa"))),
            "control character",
            Refuses,
        ),
        refused(
            "topic with a control character",
            with(meeting(), "topics", Some(json!(["Hiến đất\u{1}"]))),
            "control character",
            Refuses,
        ),
        refused(
            "name of 501 characters",
            with(hamlet(), "name", Some(json!("a".repeat(501)))),
            "longer than 500 characters",
            Refuses,
        ),
        // The ledger counts characters after NFC normalization; a schema counts them as sent.
        // U+0958 (Devanagari qa) is excluded from composition, so NFC writes it as two code
        // points and 500 of them become 1000.
        refused(
            "name that NFC makes longer than 500",
            with(hamlet(), "name", Some(json!("\u{958}".repeat(500)))),
            "longer than 500 characters",
            Inexpressible,
        ),
        // Text that is not JSON at all: a schema applies only to a parsed document.
        Refused {
            case: "malformed JSON",
            line: r#"{"type":"MemberOfficialized","effective":"2009-06-01","member":"dv-000123""#.into(),
            names: "malformed JSON".into(),
            schema: Inexpressible,
        },
        // A key given twice: JSON Schema sees the parsed object, in which one of the two values
        // has already won, so it cannot refuse the duplicate.
        Refused {
            case: "duplicate key",
            line: r#"{"type":"MemberOfficialized","effective":"2009-06-01","member":"dv-000123","member":"dv-000124"}"#
                .into(),
            names: "duplicate key `member`".into(),
            schema: Inexpressible,
        },
    ];
    // Envelope fields the ledger sets itself, each refused by name.
    for field in LEDGER_FIELDS {
        cases.push(refused(
            "ledger-set field",
            with(hamlet(), field, Some(json!(1))),
            &format!("field `{field}` is set by the ledger"),
            Refuses,
        ));
    }
    cases
}

#[test]
fn the_refused_corpus_is_refused_by_from_json_and_wherever_possible_by_the_schema() {
    let lenient = validator(false);
    let strict = validator(true);
    let cases = refused_corpus();
    assert!(
        cases
            .iter()
            .any(|c| c.case == "ledger-set field" && c.line.contains("\"seq\"")),
        "seq is among the cases"
    );
    for case in &cases {
        let Refused {
            case: what,
            line,
            names,
            schema,
        } = case;
        match Submission::from_json(line) {
            Ok(s) => panic!("{what}: from_json accepted {line} as {s:?}"),
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains(names.as_str()),
                    "{what}: from_json says {message:?}, which does not name {names:?}"
                );
            }
        }
        if *schema == SchemaVerdict::Inexpressible {
            continue;
        }
        let instance: Value = serde_json::from_str(line).expect("a case the schema can judge is JSON");
        assert!(
            !schema_errors(&strict, &instance).is_empty(),
            "{what}: the format-asserting schema accepted {line}"
        );
        let lenient_errors = schema_errors(&lenient, &instance);
        match schema {
            SchemaVerdict::Refuses => assert!(!lenient_errors.is_empty(), "{what}: the schema accepted {line}"),
            // If the annotation-only validator refused this too, the case belongs under
            // `Refuses`: keep the table honest about what the pattern catches.
            SchemaVerdict::RefusesWhenFormatsAsserted => {
                assert_eq!(
                    lenient_errors,
                    Vec::<String>::new(),
                    "{what}: the pattern alone refuses {line}"
                )
            }
            SchemaVerdict::Inexpressible => unreachable!("skipped above"),
        }
    }
}

/// Every field of every event type, given a value of the wrong JSON type, is refused by both.
#[test]
fn a_wrong_json_type_in_any_field_is_refused() {
    let lenient = validator(false);
    for type_name in EVENT_TYPES {
        let full = full_example(type_name);
        for (field, value) in &full {
            if field == "type" {
                continue; // Covered by the "type not a string" case of the refused corpus.
            }
            let wrong = match value {
                Value::String(_) => json!(12345),
                Value::Bool(_) => json!("true"),
                Value::Number(_) => json!("12"),
                Value::Array(_) => json!("dv-000001"),
                // A string rather than an array: both are refused (`from_json` insists on
                // an object), and a string is the likelier client mistake.
                Value::Object(_) => json!("125-QĐ/HU"),
                Value::Null => panic!("{type_name}.{field}: the corpus does not use null"),
            };
            let mut example = full.clone();
            example.insert(field.clone(), wrong.clone());
            let example = Value::Object(example);
            let message = Submission::from_json(&example.to_string())
                .expect_err(&format!("{type_name}.{field} = {wrong} is refused by from_json"))
                .to_string();
            assert!(
                message.contains("invalid type"),
                "{type_name}.{field} = {wrong}: {message}"
            );
            assert!(
                !schema_errors(&lenient, &example).is_empty(),
                "{type_name}.{field} = {wrong}: the schema accepted it"
            );
        }
    }
}
