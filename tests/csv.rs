//! `orgledger report NAME --format csv`: every report of the demo, read back with a CSV
//! reader, holds what its JSON holds: the report's own fields in its first table, one table
//! per list with a row per item (and the lists inside rows, each row carrying the id of the
//! row it is in); every row names its table; cells with commas, quotes and line breaks
//! survive; and a bad report is refused with nothing printed.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

use common::running::orgledger_in as orgledger;

/// The tables of a CSV report, by name: their header (after `table`) and rows.
fn tables(csv: &[u8]) -> BTreeMap<String, (Vec<String>, Vec<Vec<String>>)> {
    let text = std::str::from_utf8(csv).expect("UTF-8");
    let mut found = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(block.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .expect("a header row")
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header[0], "table", "{block}");
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.expect("a CSV row").iter().map(str::to_owned).collect())
            .collect();
        assert!(!rows.is_empty(), "a table without rows: {block}");
        let name = rows[0][0].clone();
        for row in &rows {
            assert_eq!(row[0], name, "every row names its table");
            assert_eq!(row.len(), header.len(), "{name}: every row has the header's width");
        }
        let body = rows.into_iter().map(|r| r[1..].to_vec()).collect();
        assert!(
            found.insert(name.clone(), (header[1..].to_vec(), body)).is_none(),
            "{name} twice"
        );
    }
    found
}

/// A JSON value as the CSV writes it.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

/// Checks that the table's rows are `items`, field by field (maps as `key.sub`).
fn same_rows(name: &str, table: &(Vec<String>, Vec<Vec<String>>), items: &[&Value], skip: usize) {
    let (header, rows) = table;
    assert_eq!(rows.len(), items.len(), "{name}: a row per item");
    for (row, item) in rows.iter().zip(items) {
        for (column, got) in header.iter().zip(row).skip(skip) {
            let expected = match (item.get(column), column.split_once('.')) {
                (Some(v), _) => cell(v),
                (None, Some((k, sub))) => item.get(k).and_then(|m| m.get(sub)).map(cell).unwrap_or_default(),
                (None, None) => panic!("{name}: column {column} is not a field of {item}"),
            };
            assert_eq!(got, &expected, "{name}.{column}");
        }
    }
}

#[test]
fn every_report_as_csv_holds_what_its_json_holds() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = &dir.path().join("demo");
    assert!(orgledger(data, &["demo"]).status.success());
    let reports: &[&[&str]] = &[
        &["coverage", "--date", "2012-12-31"],
        &["temporary-activity", "--date", "2006-12-31"],
        &["admissions", "--from-year", "2005", "--to-year", "2015"],
        &["standardization", "--programme", "03-da-tu", "--date", "2013-06-30"],
        &["meetings", "--year", "2013"],
        &["resolutions", "--date", "2015-12-31"],
        &["planning", "--term", "2015-2020", "--date", "2015-12-31"],
        &["roster", "--org", "cb-pac-luong", "--date", "2006-12-31"],
        &["history", "--entity", "dv-001692", "--date", "2016-12-31"],
    ];
    for args in reports {
        let mut json_args = vec!["report"];
        json_args.extend_from_slice(args);
        let json = orgledger(data, &json_args);
        assert!(json.status.success(), "{args:?}");
        let json: Value = serde_json::from_slice(&json.stdout).expect("JSON");
        let mut csv_args = json_args.clone();
        csv_args.extend(["--format", "csv"]);
        let csv = orgledger(data, &csv_args);
        assert!(
            csv.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&csv.stderr)
        );
        let found = tables(&csv.stdout);
        let name = args[0];
        let head = found
            .get(name)
            .unwrap_or_else(|| panic!("{name}: no table of its own: {found:?}"));
        same_rows(name, head, &[&json], 0);
        let object = json.as_object().expect("an object");
        for (key, value) in object {
            let Some(items) = value.as_array().filter(|a| a.iter().all(Value::is_object)) else {
                continue;
            };
            if items.is_empty() {
                assert!(!found.contains_key(key), "{name}: an empty list has no table");
                continue;
            }
            let table = found.get(key).unwrap_or_else(|| panic!("{name}: no table {key}"));
            same_rows(&format!("{name} {key}"), table, &items.iter().collect::<Vec<_>>(), 0);
            // The lists inside its rows: one table each, the row's id first.
            for (inner, inner_table) in found.iter().filter(|(t, _)| t.starts_with(&format!("{key}."))) {
                let field = &inner[key.len() + 1..];
                let nested: Vec<&Value> = items
                    .iter()
                    .flat_map(|i| i.get(field).and_then(Value::as_array).into_iter().flatten())
                    .collect();
                same_rows(inner, inner_table, &nested, 1);
            }
        }
    }
}

#[test]
fn the_temporary_activity_csv_carries_each_hosts_id_into_its_members() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = &dir.path().join("demo");
    assert!(orgledger(data, &["demo"]).status.success());
    let csv = orgledger(
        data,
        &[
            "report",
            "temporary-activity",
            "--date",
            "2006-12-31",
            "--format",
            "csv",
        ],
    );
    let found = tables(&csv.stdout);
    let (header, rows) = &found["hosts.members"];
    assert_eq!(header[0], "host");
    assert_eq!(rows.len(), 20, "the 20 members hosted at the end of 2006");
    let hosts: Vec<&String> = found["hosts"].1.iter().map(|r| &r[0]).collect();
    assert!(rows.iter().all(|r| hosts.contains(&&r[0])));
    // A bad report prints nothing and says why.
    let refused = orgledger(data, &["report", "roster", "--org", "cb-khong-co", "--format", "csv"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cb-khong-co"));
}

#[test]
fn cells_with_commas_quotes_and_line_breaks_survive() {
    let value = serde_json::json!({
        "seq": 3,
        "rows": [{"id": "a", "name": "Nà Thìa, \"xóm\"\nmới", "tags": ["x", "y"], "until": null}]
    });
    let csv = orgledger::commands::report::csv("test", &value).expect("CSV");
    let text = String::from_utf8(csv.clone()).expect("UTF-8");
    assert!(text.contains("\"Nà Thìa, \"\"xóm\"\"\nmới\""), "{text}");
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(&csv[..]);
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("a row").iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(records[0], ["table", "seq"]);
    assert_eq!(records[1], ["test", "3"]);
    assert_eq!(records[2], ["table", "id", "name", "tags", "until"]);
    assert_eq!(records[3], ["rows", "a", "Nà Thìa, \"xóm\"\nmới", "x; y", ""]);
}
