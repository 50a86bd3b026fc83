//! Answers in the order of the query's fields (GraphQL, 7.2.2 "Serialized Map Ordering").
//! async-graphql 7.2 resolves the fields of an object concurrently and writes each one as it
//! completes, so a field that waits (a report gives other work a turn before it computes)
//! would come after those that did not. [`in_query_order`] puts each object's keys back in
//! the order its selection set asks for them, fragments included.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Value};

/// Reorders `data`, the answer to `operation` (or the document's only operation) of `query`.
/// A document that does not parse, or names no such operation, leaves `data` as it is (it
/// then has no `data` to speak of).
pub fn in_query_order(query: &str, operation: Option<&str>, data: &mut Value) {
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return;
    };
    let op = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return,
        },
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().expect("one operation"),
        _ => return,
    };
    let plan = plan(&doc, &[&op.node.selection_set.node]);
    apply(&doc, &plan, data);
}

/// The keys of an object in the order the selection sets ask for them, each with the
/// selection sets of its fields (a key asked twice, in two fragments, merges them).
type Plan<'d> = Vec<(Name, Vec<&'d SelectionSet>)>;

fn plan<'d>(doc: &'d ExecutableDocument, sets: &[&'d SelectionSet]) -> Plan<'d> {
    let mut keys = Vec::new();
    for set in sets {
        collect(doc, set, &mut keys, 0);
    }
    keys
}

fn collect<'d>(doc: &'d ExecutableDocument, set: &'d SelectionSet, keys: &mut Plan<'d>, depth: usize) {
    // Validation refuses fragment cycles; this only bounds the walk of a document that
    // reached here without it.
    if depth > 64 {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(f) => {
                let key = f.node.response_key().node.clone();
                let sub = &f.node.selection_set.node;
                match keys.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, subs)) => subs.push(sub),
                    None => keys.push((key, vec![sub])),
                }
            }
            Selection::FragmentSpread(s) => {
                if let Some(fragment) = doc.fragments.get(&s.node.fragment_name.node) {
                    collect(doc, &fragment.node.selection_set.node, keys, depth + 1);
                }
            }
            Selection::InlineFragment(i) => collect(doc, &i.node.selection_set.node, keys, depth + 1),
        }
    }
}

fn apply(doc: &ExecutableDocument, plan: &Plan<'_>, value: &mut Value) {
    match value {
        Value::List(items) => items.iter_mut().for_each(|item| apply(doc, plan, item)),
        Value::Object(map) => {
            let mut was = std::mem::take(map);
            for (key, sets) in plan {
                if let Some(mut v) = was.shift_remove(key) {
                    if sets.iter().any(|s| !s.items.is_empty()) {
                        apply(doc, &self::plan(doc, sets), &mut v);
                    }
                    map.insert(key.clone(), v);
                }
            }
            // Nothing should be left; whatever is keeps its place after the rest.
            map.extend(was);
        }
        _ => {}
    }
}
