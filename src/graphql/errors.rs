//! Request errors as good as the command line's. async-graphql reports a bad `Date` as
//! `Invalid value for argument "date", expected type "Date"`, without the reason, and
//! without naming the variable the value came from; and a syntax error as the parser's
//! multi-line drawing. These rewrite such messages, after the fact, from the request itself:
//! the argument is found in the document by the position the error gives, the value is
//! followed through the error's path (into a variable when it comes from one), and the
//! domain's own parser says what is wrong with it.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Pos, ServerError, Variables};
use async_graphql_value::{ConstValue, Value};

use crate::event::{Date, Timestamp};

/// Rewrites the errors of a request that was refused before it ran (parse and validation
/// errors) so that each says what was wrong in one line, naming the variable at fault.
pub fn explain(query: &str, variables: &Variables, errors: &mut [ServerError]) {
    let mut document: Option<Option<ExecutableDocument>> = None;
    for error in errors {
        if let Some(line) = one_line_syntax_error(&error.message) {
            error.message = line;
            continue;
        }
        let Some((path, expected)) = invalid_argument(&error.message) else {
            continue;
        };
        let (path, expected) = (path.to_owned(), expected.to_owned());
        let Some(pos) = error.locations.first().copied() else {
            continue;
        };
        let doc = document.get_or_insert_with(|| async_graphql::parser::parse_query(query).ok());
        let Some(doc) = doc.as_ref() else { continue };
        let mut segments = path.split('.');
        let Some(argument) = segments.next() else { continue };
        let Some(value) = find_argument(doc, pos, argument) else {
            continue;
        };
        let rest: Vec<&str> = segments.collect();
        let Some(found) = follow(value, &rest, variables) else {
            continue;
        };
        // The domain's parser says why for the scalars it owns; for the others, what
        // async-graphql expected is kept.
        let reason = match expected.as_str() {
            "expected type \"Date\"" => why_invalid("Date", &found.value),
            "expected type \"Timestamp\"" => why_invalid("Timestamp", &found.value),
            _ => None,
        };
        if reason.is_none() && found.variable.is_none() {
            continue;
        }
        let reason = reason.unwrap_or(expected);
        error.message = match &found.variable {
            None => format!("Invalid value for argument \"{path}\": {reason}"),
            Some((name, inner)) if inner.is_empty() => {
                format!("Invalid value for variable ${name} (argument \"{path}\"): {reason}")
            }
            Some((name, inner)) => format!(
                "Invalid value for variable ${name} at {} (argument \"{path}\"): {reason}",
                inner.join(".")
            ),
        };
        if let Some((name, _)) = &found.variable {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("variable", name.as_str());
        }
    }
}

/// The parser's error (` --> 1:44`, a drawing, `= expected selection`) as one line:
/// `syntax error at 1:44: expected selection`.
fn one_line_syntax_error(message: &str) -> Option<String> {
    let rest = message.strip_prefix(" --> ")?;
    let (at, drawing) = rest.split_once('\n')?;
    let what = drawing
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .unwrap_or("the document does not parse");
    Some(format!("syntax error at {}: {}", at.trim(), what.trim()))
}

/// `Invalid value for argument "PATH", WHAT WAS EXPECTED`: the argument's path and the rest.
fn invalid_argument(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("Invalid value for argument \"")?;
    rest.split_once("\", ")
}

/// The value of argument `name` whose name stands at `pos`, on a field or a directive
/// anywhere in the document.
fn find_argument<'a>(doc: &'a ExecutableDocument, pos: Pos, name: &str) -> Option<&'a Value> {
    fn in_directives<'a>(
        directives: &'a [async_graphql::Positioned<async_graphql::parser::types::Directive>],
        pos: Pos,
        name: &str,
    ) -> Option<&'a Value> {
        directives.iter().find_map(|d| {
            d.node
                .arguments
                .iter()
                .find(|(n, _)| n.pos == pos && n.node == name)
                .map(|(_, v)| &v.node)
        })
    }
    fn in_set<'a>(set: &'a SelectionSet, pos: Pos, name: &str) -> Option<&'a Value> {
        set.items.iter().find_map(|item| match &item.node {
            Selection::Field(field) => field
                .node
                .arguments
                .iter()
                .find(|(n, _)| n.pos == pos && n.node == name)
                .map(|(_, v)| &v.node)
                .or_else(|| in_directives(&field.node.directives, pos, name))
                .or_else(|| in_set(&field.node.selection_set.node, pos, name)),
            Selection::FragmentSpread(spread) => in_directives(&spread.node.directives, pos, name),
            Selection::InlineFragment(inline) => in_directives(&inline.node.directives, pos, name)
                .or_else(|| in_set(&inline.node.selection_set.node, pos, name)),
        })
    }
    doc.operations
        .iter()
        .find_map(|(_, op)| {
            in_directives(&op.node.directives, pos, name).or_else(|| in_set(&op.node.selection_set.node, pos, name))
        })
        .or_else(|| {
            doc.fragments.values().find_map(|f| {
                in_directives(&f.node.directives, pos, name).or_else(|| in_set(&f.node.selection_set.node, pos, name))
            })
        })
}

/// A value found at the end of an error's path, and the variable it came from with the
/// path inside that variable.
struct Found<'a> {
    value: ConstValue,
    variable: Option<(String, Vec<&'a str>)>,
}

/// Follows `path` (object keys and list indexes) from an argument's value, into the
/// request's variables where the document names one.
fn follow<'a>(value: &Value, path: &[&'a str], variables: &Variables) -> Option<Found<'a>> {
    let mut current = value;
    for (i, segment) in path.iter().enumerate() {
        if let Value::Variable(name) = current {
            return follow_variable(name, &path[i..], variables);
        }
        current = match current {
            Value::Object(map) => map.get(*segment)?,
            Value::List(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match current {
        Value::Variable(name) => follow_variable(name, &[], variables),
        other => Some(Found {
            value: other.clone().into_const()?,
            variable: None,
        }),
    }
}

fn follow_variable<'a>(name: &Name, path: &[&'a str], variables: &Variables) -> Option<Found<'a>> {
    let mut current = variables.get(name)?;
    for segment in path {
        current = match current {
            ConstValue::Object(map) => map.get(*segment)?,
            ConstValue::List(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(Found {
        value: current.clone(),
        variable: Some((name.to_string(), path.to_vec())),
    })
}

/// Why `value` is not a `type_name`, in the words of the domain's parser.
fn why_invalid(type_name: &str, value: &ConstValue) -> Option<String> {
    let ConstValue::String(s) = value else {
        let form = if type_name == "Date" {
            "YYYY-MM-DD"
        } else {
            "YYYY-MM-DDTHH:MM:SS.ffffffZ"
        };
        return Some(format!("{value} is not a {type_name}: expected a string {form}"));
    };
    match type_name {
        "Date" => Date::parse(s).err(),
        _ => Timestamp::parse(s).err(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_is_one_line_with_its_position() {
        let drawing = " --> 1:44\n  |\n1 | { coverage { withCell } \n  |                                            ^---\n  |\n  = expected selection";
        assert_eq!(
            one_line_syntax_error(drawing).as_deref(),
            Some("syntax error at 1:44: expected selection")
        );
        assert_eq!(one_line_syntax_error("Unknown field \"x\""), None);
    }
}
