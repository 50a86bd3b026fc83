//! `orgledger report NAME`: the reports of the projection, as of a date and a `seq`, as JSON
//! (default) or as a table for a person to read.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::CommandError;
use crate::event::{Date, Id, Timestamp};
use crate::history::{self, HistoryError};
use crate::projection::reports::{self, ReportError};
use crate::projection::{At, Parts, Projection};
use crate::store::{Store, StoreError};

/// Which report, with its own filters.
#[derive(Debug, Clone)]
pub enum ReportKind {
    Coverage,
    TemporaryActivity,
    Admissions {
        from_year: Option<i32>,
        to_year: Option<i32>,
    },
    Standardization {
        programme: String,
    },
    Meetings {
        year: Option<i32>,
    },
    Resolutions,
    Planning {
        term: String,
    },
    Roster {
        org: String,
    },
    History {
        entity: String,
    },
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
    /// For spreadsheets: see [`csv()`].
    Csv,
}

/// The point a report is asked at, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct AsOf {
    /// Valid time, `YYYY-MM-DD`; today (UTC) when absent.
    pub date: Option<String>,
    /// Transaction time; the head when absent.
    pub seq: Option<u64>,
}

impl From<ReportError> for CommandError {
    fn from(e: ReportError) -> Self {
        CommandError::Rejected(e.to_string())
    }
}

impl From<HistoryError> for CommandError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::Unknown(e) => e.into(),
            HistoryError::Store(e) => e.into(),
            HistoryError::Missing(_) => CommandError::Rejected(e.to_string()),
        }
    }
}

/// Resolves `--date` and `--seq` against the projection's head.
pub fn resolve(as_of: &AsOf, projection: &Projection) -> Result<At, ReportError> {
    let head = projection.head().seq;
    let seq = as_of.seq.unwrap_or(head);
    if seq > head {
        return Err(ReportError::PastHead { seq, head });
    }
    let date = match &as_of.date {
        Some(d) => Date::parse(d).map_err(|e| ReportError::Invalid(format!("--date: {e}")))?,
        None => Timestamp::now().date(),
    };
    Ok(At { date, seq })
}

fn id_arg(flag: &str, value: &str) -> Result<Id, ReportError> {
    Id::parse(value).map_err(|e| ReportError::Invalid(format!("{flag}: {e}")))
}

/// Computes a report from a projection, as JSON. The store is needed only for `history`,
/// whose events are read back from the log.
pub fn compute(
    kind: &ReportKind,
    as_of: &AsOf,
    projection: &Projection,
    store: Option<&Store>,
) -> Result<Value, CommandError> {
    let at = resolve(as_of, projection)?;
    fn to_json(v: impl Serialize) -> Value {
        serde_json::to_value(v).expect("reports serialize")
    }
    Ok(match kind {
        ReportKind::Coverage => to_json(reports::coverage(projection, at)),
        ReportKind::TemporaryActivity => to_json(reports::temporary_activity(projection, at)),
        ReportKind::Admissions { from_year, to_year } => {
            to_json(reports::admissions(projection, at, *from_year, *to_year)?)
        }
        ReportKind::Standardization { programme } => to_json(reports::standardization(
            projection,
            &id_arg("--programme", programme)?,
            at,
        )?),
        ReportKind::Meetings { year } => to_json(reports::meetings(projection, at, *year)?),
        ReportKind::Resolutions => to_json(reports::resolutions(projection, at)),
        ReportKind::Planning { term } => to_json(reports::planning(projection, &id_arg("--term", term)?, at)?),
        ReportKind::Roster { org } => to_json(reports::roster(projection, &id_arg("--org", org)?, at)?),
        ReportKind::History { entity } => {
            let store = store.ok_or_else(|| CommandError::Failed("history needs the store".into()))?;
            to_json(history::of(projection, store, &id_arg("--entity", entity)?, at)?)
        }
    })
}

/// `orgledger report`.
pub fn report(
    data: &Path,
    kind: &ReportKind,
    as_of: &AsOf,
    format: Format,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    // Opening checks what is new since the verified point (`Store::open`), and the report
    // then checks that the log still reaches every head its caches were written at: a log
    // cut back behind the snapshot it answers from is refused, not answered from a history
    // the log no longer holds. The whole chain is `orgledger verify`'s.
    // Only the parts of the projection the report reads are decoded from a snapshot at the
    // head: `coverage` reads 38 MB of a 530 MB snapshot at 10,000,000 events. The newest
    // snapshot's decode starts while the store opens, and is used only if it is the one the
    // open store would decode.
    let early = crate::ledger::caches::decode_early(data, kind.reads());
    let store = Store::open(data, false)?;
    crate::ledger::caches::check_cache_heads(&store, store.head()?).map_err(|e| StoreError::Corrupt {
        seq: e.seq,
        reason: e.error,
    })?;
    let (projection, _) = store.open_projection_reading_after(kind.reads(), early.take())?;
    let value = compute(kind, as_of, &projection, Some(&store))?;
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&value).expect("json"))?,
        Format::Table => out.write_all(table(&value).as_bytes())?,
        Format::Csv => out.write_all(&csv(kind.name(), &value)?)?,
    }
    // The projection is millions of small allocations at scale, and freeing them was a
    // quarter of a cold report's time at 1,000,000 events: it is dropped on a thread of its
    // own, which the CLI's process does not wait for as it exits.
    std::thread::spawn(move || drop(projection));
    Ok(())
}

impl ReportKind {
    /// The parts of the projection the report reads.
    pub fn reads(&self) -> Parts {
        match self {
            ReportKind::Coverage => reports::COVERAGE_READS,
            ReportKind::TemporaryActivity => reports::TEMPORARY_ACTIVITY_READS,
            ReportKind::Admissions { .. } => reports::ADMISSIONS_READS,
            ReportKind::Standardization { .. } => reports::STANDARDIZATION_READS,
            ReportKind::Meetings { .. } => reports::MEETINGS_READS,
            ReportKind::Resolutions => reports::RESOLUTIONS_READS,
            ReportKind::Planning { .. } => reports::PLANNING_READS,
            ReportKind::Roster { .. } => reports::ROSTER_READS,
            ReportKind::History { .. } => reports::HISTORY_READS,
        }
    }

    /// The report's name on the command line (`temporary-activity`).
    pub fn name(&self) -> &'static str {
        match self {
            ReportKind::Coverage => "coverage",
            ReportKind::TemporaryActivity => "temporary-activity",
            ReportKind::Admissions { .. } => "admissions",
            ReportKind::Standardization { .. } => "standardization",
            ReportKind::Meetings { .. } => "meetings",
            ReportKind::Resolutions => "resolutions",
            ReportKind::Planning { .. } => "planning",
            ReportKind::Roster { .. } => "roster",
            ReportKind::History { .. } => "history",
        }
    }
}

/// A report as CSV for a spreadsheet (RFC 4180 quoting, lines ending in `\n`, UTF-8 without
/// a byte order mark): one table per
/// list, each with a header row, one empty line between tables. Every row starts with its
/// table's name in the column `table`: first the report's own fields (one row, named for
/// the report), then each list of objects (`communes`), and each list inside their rows
/// (`hosts.members`) with the identifying column of the row it belongs to (`host`) first. A
/// map's entries are columns of their own (`by_topic.economy`), a list of values is one
/// cell joined with `; `, null is an empty cell. A list with no items gives no table.
pub fn csv(name: &str, value: &Value) -> Result<Vec<u8>, CommandError> {
    let mut tables = Vec::new();
    csv_tables(name, true, &[], &[(Vec::new(), value)], &mut tables);
    let mut out = Vec::new();
    for (i, (columns, rows)) in tables.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        let mut writer = ::csv::WriterBuilder::new().flexible(true).from_writer(&mut out);
        let failed = |e: ::csv::Error| CommandError::Failed(format!("writing CSV: {e}"));
        writer
            .write_record(std::iter::once("table").chain(columns.iter().map(String::as_str)))
            .map_err(failed)?;
        for row in rows {
            writer.write_record(row).map_err(failed)?;
        }
        writer.flush()?;
    }
    Ok(out)
}

/// One CSV table: its columns (after `table`), and its rows (with the table's name first).
type CsvTable = (Vec<String>, Vec<Vec<String>>);

/// The table `name` of `rows` (objects, each with the values of `parent_columns` it
/// carries from the rows it is inside), then the tables of the lists in its rows. `top` is
/// the report's own row: its lists are tables of their own, carrying nothing.
fn csv_tables(
    name: &str,
    top: bool,
    parent_columns: &[String],
    rows: &[(Vec<String>, &Value)],
    tables: &mut Vec<CsvTable>,
) {
    let mut columns: Vec<String> = Vec::new();
    let mut lists: Vec<String> = Vec::new();
    for (_, row) in rows {
        for (k, v) in row.as_object().into_iter().flatten() {
            let add = |columns: &mut Vec<String>, c: String| {
                if !columns.contains(&c) {
                    columns.push(c);
                }
            };
            match v {
                Value::Array(items) if items.iter().all(Value::is_object) => {
                    if !items.is_empty() && !lists.contains(k) {
                        lists.push(k.clone());
                    }
                }
                Value::Object(map) => map.keys().for_each(|sub| add(&mut columns, format!("{k}.{sub}"))),
                _ => add(&mut columns, k.clone()),
            }
        }
    }
    columns.sort_by(|a, b| column_rank(a).cmp(&column_rank(b)).then(a.cmp(b)));
    let cell_of = |row: &Value, c: &str| -> String {
        let v = match (row.get(c), c.split_once('.')) {
            (Some(v), _) => Some(v),
            (None, Some((k, sub))) => row.get(k).and_then(|m| m.get(sub)),
            (None, None) => None,
        };
        v.map(csv_cell).unwrap_or_default()
    };
    let body = rows
        .iter()
        .map(|(carried, row)| {
            std::iter::once(name.to_string())
                .chain(carried.iter().cloned())
                .chain(columns.iter().map(|c| cell_of(row, c)))
                .collect()
        })
        .collect();
    let header = parent_columns.iter().chain(&columns).cloned().collect();
    tables.push((header, body));
    // What identifies a row, carried into the lists inside it: the first column of the
    // identifying kind (`year`, `commune`, `host`, `id`, ...), else the first.
    let key = columns
        .iter()
        .find(|c| column_rank(c).0 < 100)
        .or(columns.first())
        .cloned();
    for list in lists {
        let items: Vec<(Vec<String>, &Value)> = rows
            .iter()
            .flat_map(|(carried, row)| {
                let mut carried = carried.clone();
                if let (false, Some(k)) = (top, &key) {
                    carried.push(cell_of(row, k));
                }
                row.get(list.as_str())
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(move |item| (carried.clone(), item))
            })
            .collect();
        let (child, child_parents) = match (top, &key) {
            (true, _) | (false, None) => (list.clone(), parent_columns.to_vec()),
            (false, Some(k)) => {
                let mut cols = parent_columns.to_vec();
                // The parent's column is named for it where the items have one of that name.
                let clash = items.iter().any(|(_, item)| item.get(k.as_str()).is_some());
                cols.push(if clash { format!("{name}.{k}") } else { k.clone() });
                (format!("{name}.{list}"), cols)
            }
        };
        csv_tables(&child, false, &child_parents, &items, tables);
    }
}

/// A value as one CSV cell.
fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(csv_cell).collect::<Vec<_>>().join("; "),
        Value::Object(_) => v.to_string(),
        other => other.to_string(),
    }
}

/// The widest line a table prints: it fits a terminal of 100 columns.
pub const TABLE_WIDTH: usize = 100;

/// Renders a report for a person: scalars as `key: value` (with the length of each list,
/// `without member: 8`), maps on one line, and lists of objects as aligned tables below.
/// A row's list that the report also gives in full below shows as its length. No line is
/// wider than [`TABLE_WIDTH`]: column titles stack their words when the table would be
/// wider, and then the widest text column is cut, with `…`.
pub fn table(value: &Value) -> String {
    let mut out = String::new();
    let Value::Object(map) = value else {
        return format!("{value}\n");
    };
    let is_table =
        |v: &Value| matches!(v, Value::Array(items) if !items.is_empty() && items.iter().all(|i| i.is_object()));
    for (k, v) in map {
        let label = k.replace('_', " ");
        match v {
            Value::Array(items) if items.iter().all(|i| i.is_object()) => {
                out.push_str(&format!("{label}: {}\n", items.len()))
            }
            other => out.push_str(&format!("{label}: {}\n", cell(other))),
        }
    }
    // The lists printed in full below: a row's own copy of one is shown as a count.
    let listed: Vec<&str> = map
        .iter()
        .filter(|(_, v)| is_table(v))
        .map(|(k, _)| k.as_str())
        .collect();
    for (k, v) in map {
        let Value::Array(items) = v else { continue };
        if !is_table(v) {
            continue;
        }
        out.push_str(&format!("\n{} ({}):\n", k.replace('_', " "), items.len()));
        let mut columns: Vec<&String> = items[0].as_object().expect("object").keys().collect();
        columns.sort_by_key(|c| column_rank(c));
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|i| {
                columns
                    .iter()
                    .map(|c| match i.get(c.as_str()) {
                        Some(Value::Array(list)) if listed.contains(&c.as_str()) => list.len().to_string(),
                        Some(v) => cell(v),
                        None => cell(&Value::Null),
                    })
                    .collect()
            })
            .collect();
        // Names and lists may be cut to fit the width; ids, dates, hashes and fields never.
        let cuttable: Vec<bool> = columns
            .iter()
            .map(|c| c.ends_with("name") || items.iter().any(|i| i.get(c.as_str()).is_some_and(Value::is_array)))
            .collect();
        out.push_str(&aligned(&columns, &cuttable, rows));
    }
    out
}

/// Lays out rows under their column titles, two spaces in, one space between columns, in
/// at most [`TABLE_WIDTH`] characters where stacking the titles and cutting the `cuttable`
/// columns can make them fit.
fn aligned(columns: &[&String], cuttable: &[bool], mut rows: Vec<Vec<String>>) -> String {
    let chars = |s: &str| s.chars().count();
    let width_of = |titles: &[Vec<&str>], rows: &[Vec<String>], i: usize| {
        rows.iter()
            .map(|r| chars(&r[i]))
            .chain(titles[i].iter().map(|t| chars(t)))
            .max()
            .unwrap_or(0)
    };
    let line_width = |widths: &[usize]| 1 + widths.iter().map(|w| w + 1).sum::<usize>();
    // Column titles on one line; stacked a word a line when that is too wide.
    let mut titles: Vec<Vec<&str>> = columns.iter().map(|c| vec![c.as_str()]).collect();
    let mut widths: Vec<usize> = (0..columns.len()).map(|i| width_of(&titles, &rows, i)).collect();
    if line_width(&widths) > TABLE_WIDTH {
        let stacked: Vec<Vec<&str>> = columns.iter().map(|c| c.split('_').collect()).collect();
        let stacked_widths: Vec<usize> = (0..columns.len()).map(|i| width_of(&stacked, &rows, i)).collect();
        // A table that cannot fit whatever is done (a history's fields) is left whole.
        let narrowest: Vec<usize> = stacked_widths
            .iter()
            .zip(cuttable)
            .map(|(w, cut)| if *cut { (*w).min(8) } else { *w })
            .collect();
        if line_width(&narrowest) <= TABLE_WIDTH {
            titles = stacked;
            widths = stacked_widths;
        }
    }
    // Still too wide: cut the widest name or list, again and again, down to 8 characters.
    while line_width(&widths) > TABLE_WIDTH && titles.iter().any(|t| t.len() > 1) {
        let Some((widest, &w)) = widths
            .iter()
            .enumerate()
            .filter(|(i, w)| cuttable[*i] && **w > 8)
            .max_by_key(|(_, w)| **w)
        else {
            break;
        };
        let cut = w.saturating_sub(line_width(&widths) - TABLE_WIDTH).max(8);
        for row in &mut rows {
            if chars(&row[widest]) > cut {
                let kept: String = row[widest].chars().take(cut - 1).collect();
                row[widest] = kept + "…";
            }
        }
        widths[widest] = width_of(&titles, &rows, widest);
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(chars(c));
            s.push_str(&format!(" {c}{}", " ".repeat(pad)));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = String::new();
    let title_lines = titles.iter().map(Vec::len).max().unwrap_or(1);
    for n in 0..title_lines {
        // Stacked titles sit at the bottom, next to the rows.
        out.push_str(&line(
            titles
                .iter()
                .map(|t| t.get((n + t.len()).wrapping_sub(title_lines)).copied().unwrap_or(""))
                .collect(),
        ));
    }
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Where a column goes in a table: what identifies a row first, then the counts and
/// values in name order, and the long ones (hashes, field lists) last.
fn column_rank(column: &str) -> (u8, &str) {
    const FIRST: &[&str] = &[
        "seq",
        "year",
        "date",
        "effective",
        "type",
        "commune",
        "cell",
        "host",
        "org",
        "member",
        "person",
        "id",
        "name",
    ];
    const LAST: &[&str] = &["fields", "recorded_at", "actor", "hash"];
    if let Some(i) = FIRST.iter().position(|c| *c == column) {
        (i as u8, "")
    } else if let Some(i) = LAST.iter().position(|c| *c == column) {
        (200 + i as u8, "")
    } else {
        (100, column)
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| i.is_object()) => {
            let names: Vec<String> = items
                .iter()
                .map(|i| {
                    let name = i
                        .get("name")
                        .or_else(|| i.get("id"))
                        .map(cell)
                        .unwrap_or_else(|| i.to_string());
                    // A row's own list of named counts (admissions per commune) shows each
                    // name with its count.
                    let counts: Vec<&Value> = i
                        .as_object()
                        .map(|o| o.values().filter(|v| v.is_u64()).collect())
                        .unwrap_or_default();
                    match counts.as_slice() {
                        [n] => format!("{name} {n}"),
                        _ => name,
                    }
                })
                .collect();
            if names.is_empty() {
                "-".into()
            } else {
                names.join(", ")
            }
        }
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}
