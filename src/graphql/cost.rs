//! A cheap look at a parsed query before async-graphql validates it.
//!
//! async-graphql's own checks (the recursion depth, the directives per field, the depth and
//! complexity visitors) walk every fragment spread into its fragment, again at each spread.
//! A fragment that spreads the next one twice, thirty times over, is a 2^30 walk: one short
//! query would hold a worker for minutes, even after its client has gone, and hold up a
//! graceful stop behind it. So every document is measured here first, in time linear in its
//! size: each fragment is measured once and its size and height remembered, so a spread
//! costs a lookup. A document that would expand past the limits, that nests too deep, that
//! spreads a fragment inside itself or that piles directives on one node is refused here;
//! what passes is small enough that async-graphql's walks over it stay cheap.
//!
//! Parsing itself costs about a microsecond per token, which the body limit alone would let
//! reach a million: [`count_tokens`] counts them first, in one pass over the text, so a
//! document of too many is refused before it is parsed.

use std::collections::HashMap;

use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::Positioned;

/// What the measure allows.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The most selections (fields, fragment spreads and inline fragments) the document's
    /// operations and fragments may hold once every spread is replaced by its fragment,
    /// summed over them all.
    pub expanded: u64,
    /// The most levels of nesting (a field with a selection, a spread, an inline fragment
    /// each adds one), as async-graphql's recursion check counts them.
    pub height: usize,
    /// The most directives on one field, spread, fragment, operation or variable.
    pub directives: usize,
}

/// What a fragment measured: its selections once expanded, and how many levels it nests.
#[derive(Clone, Copy)]
enum Fragment {
    /// Being measured: a spread of it now is a cycle.
    Open,
    Done {
        expanded: u64,
        height: usize,
    },
}

struct Measure<'a> {
    doc: &'a ExecutableDocument,
    bounds: Bounds,
    fragments: HashMap<&'a str, Fragment>,
}

/// Measures `doc`: `Ok` with the expanded size when it is within `bounds`, else the reason
/// to refuse it, for the client.
pub fn measure(doc: &ExecutableDocument, bounds: Bounds) -> Result<u64, String> {
    let mut m = Measure {
        doc,
        bounds,
        fragments: HashMap::new(),
    };
    let mut total: u64 = 0;
    for (name, op) in doc.operations.iter() {
        let what = name.map_or_else(|| "the operation".to_owned(), |n| format!("the operation `{n}`"));
        m.directives(&op.node.directives, &what)?;
        for var in &op.node.variable_definitions {
            m.directives(&var.node.directives, &format!("the variable `${}`", var.node.name.node))?;
        }
        let (expanded, _) = m.set(&op.node.selection_set, 0)?;
        total = m.add(total, expanded)?;
    }
    // Fragments no operation spreads are validated too (and refused as unused), so they
    // count the same.
    for (name, fragment) in &doc.fragments {
        let (expanded, _) = m.fragment(name.as_str(), &fragment.node.selection_set, 0)?;
        m.directives(&fragment.node.directives, &format!("the fragment `{name}`"))?;
        total = m.add(total, expanded)?;
    }
    Ok(total)
}

impl<'a> Measure<'a> {
    fn add(&self, total: u64, more: u64) -> Result<u64, String> {
        let total = total.saturating_add(more);
        if total > self.bounds.expanded {
            return Err(self.too_large());
        }
        Ok(total)
    }

    fn too_large(&self) -> String {
        format!(
            "the query expands too much: with each fragment spread replaced by its fragment it \
             holds more than {} selections; spread fewer fragments or ask less at once",
            self.bounds.expanded
        )
    }

    fn too_deep(&self) -> String {
        format!(
            "the query nests more than {} levels (each field with a selection, fragment spread \
             and inline fragment is a level)",
            self.bounds.height
        )
    }

    fn directives(&self, directives: &[Positioned<Directive>], what: &str) -> Result<(), String> {
        if directives.len() > self.bounds.directives {
            return Err(format!(
                "{what} has {} directives; at most {} are allowed on one field, spread, fragment, \
                 operation or variable",
                directives.len(),
                self.bounds.directives
            ));
        }
        Ok(())
    }

    /// The expanded size and height of a fragment's selection, measured once. `level` is how
    /// deep the walk is now: a walk deeper than the height allowed stops there, so a long
    /// chain of fragments never runs the stack out.
    fn fragment(
        &mut self,
        name: &'a str,
        set: &'a Positioned<SelectionSet>,
        level: usize,
    ) -> Result<(u64, usize), String> {
        match self.fragments.get(name) {
            Some(Fragment::Done { expanded, height }) => return Ok((*expanded, *height)),
            Some(Fragment::Open) => {
                return Err(format!(
                    "the fragment `{name}` spreads itself (directly or through other fragments)"
                ))
            }
            None => {}
        }
        self.fragments.insert(name, Fragment::Open);
        let (expanded, height) = self.set(set, level)?;
        self.fragments.insert(name, Fragment::Done { expanded, height });
        Ok((expanded, height))
    }

    /// The expanded size of a selection set and how many levels it nests below itself.
    fn set(&mut self, set: &'a Positioned<SelectionSet>, level: usize) -> Result<(u64, usize), String> {
        if level > self.bounds.height {
            return Err(self.too_deep());
        }
        let mut expanded: u64 = 0;
        let mut height = 0;
        for item in &set.node.items {
            let (size, below) = match &item.node {
                Selection::Field(field) => {
                    let f = &field.node;
                    self.directives(&f.directives, &format!("the field `{}`", f.name.node))?;
                    if f.selection_set.node.items.is_empty() {
                        (1, 0)
                    } else {
                        let (size, h) = self.set(&f.selection_set, level + 1)?;
                        (size.saturating_add(1), h + 1)
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    self.directives(&spread.node.directives, &format!("the spread of `{name}`"))?;
                    match self.doc.fragments.get(name) {
                        // An unknown fragment is validation's to refuse.
                        None => (1, 0),
                        Some(fragment) => {
                            let (size, h) = self.fragment(name, &fragment.node.selection_set, level + 1)?;
                            (size.saturating_add(1), h + 1)
                        }
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.directives(&inline.node.directives, "an inline fragment")?;
                    let (size, h) = self.set(&inline.node.selection_set, level + 1)?;
                    (size.saturating_add(1), h + 1)
                }
            };
            if level + below > self.bounds.height {
                return Err(self.too_deep());
            }
            expanded = expanded.saturating_add(size);
            if expanded > self.bounds.expanded {
                return Err(self.too_large());
            }
            height = height.max(below);
        }
        Ok((expanded, height))
    }
}

/// Refuses a query text of more than `max` tokens, counted in one pass without parsing:
/// names and numbers, strings (one each, block strings too), punctuators (`...` is one),
/// anything else one per character. Whitespace, commas and comments are not tokens, as in
/// GraphQL. The count is a bound, not a lexer: what it takes for one token the parser may
/// refuse, which is the parser's to say.
pub fn count_tokens(query: &str, max: usize) -> Result<usize, String> {
    let bytes = query.as_bytes();
    let mut at = 0;
    let mut tokens = 0;
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while at < bytes.len() {
        let b = bytes[at];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => at += 1,
            // The byte order mark, which GraphQL ignores too (three bytes in UTF-8).
            0xEF if bytes[at..].starts_with("\u{feff}".as_bytes()) => at += 3,
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' && bytes[at] != b'\r' {
                    at += 1;
                }
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                tokens += 1;
                at += 3;
                while at < bytes.len() && !bytes[at..].starts_with(b"\"\"\"") {
                    at += if bytes[at..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                at += 3;
            }
            b'"' => {
                tokens += 1;
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' && bytes[at] != b'\n' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'.' => {
                tokens += 1;
                while at < bytes.len() && bytes[at] == b'.' {
                    at += 1;
                }
            }
            _ if word(b) || b == b'-' => {
                tokens += 1;
                at += 1;
                while at < bytes.len() && (word(bytes[at]) || matches!(bytes[at], b'.' | b'+' | b'-')) {
                    at += 1;
                }
            }
            _ => {
                tokens += 1;
                at += 1;
            }
        }
        if tokens > max {
            return Err(format!(
                "the query has more than {max} tokens (names, values and punctuation); send a \
                 shorter one, and large values (such as the events of an append) in variables"
            ));
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        expanded: 1000,
        height: 32,
        directives: 8,
    };

    fn measured(query: &str) -> Result<u64, String> {
        measure(&async_graphql::parser::parse_query(query).expect("it parses"), BOUNDS)
    }

    /// `{ ...Q0 }` where each fragment spreads the next twice: 2^depth leaves.
    fn bomb(depth: usize) -> String {
        let mut q = "{ ...Q0 }".to_owned();
        for i in 0..depth {
            q.push_str(&format!(" fragment Q{i} on Query {{ ...Q{} ...Q{} }}", i + 1, i + 1));
        }
        q.push_str(&format!(" fragment Q{depth} on Query {{ head {{ seq }} }}"));
        q
    }

    #[test]
    fn tokens_are_counted_without_parsing() {
        let count = |q: &str| count_tokens(q, 1000);
        assert_eq!(count("{ head { seq } }"), Ok(6));
        assert_eq!(count("{ ...F } # a comment { { {\n"), Ok(4));
        assert_eq!(count("query($s: Int = -12.5e3) { event(seq: $s) { seq } }"), Ok(21));
        assert_eq!(count(r#"{ a(x: "a \" { } string", y: """block \""" { """) }"#), Ok(11));
        assert_eq!(count(" ,,, \t\r\n\u{feff}"), Ok(0));
        assert_eq!(count("{ é }"), Ok(4), "each byte of a stray character counts");
        assert_eq!(
            count_tokens(&"a ".repeat(11), 10),
            Err(
                "the query has more than 10 tokens (names, values and punctuation); send a \
                 shorter one, and large values (such as the events of an append) in variables"
                    .to_owned()
            )
        );
        assert_eq!(count_tokens(&"a ".repeat(10), 10), Ok(10));
    }

    #[test]
    fn plain_queries_count_their_selections() {
        assert_eq!(measured("{ head { seq hash } }"), Ok(3));
        assert_eq!(measured("{ ...F } fragment F on Query { head { seq } }"), Ok(3 + 2));
        assert_eq!(measured("{ ... on Query { head { seq } } }"), Ok(3));
    }

    #[test]
    fn a_fragment_bomb_is_measured_at_once_and_refused() {
        // Depth 5 expands to 32 leaves: measured exactly.
        let small = measured(&bomb(5)).expect("within the bounds");
        assert!(small > 64, "{small}");
        // Depth 30 would be 2^30 expansions (depth 20, 2^20); refused from the size alone.
        for depth in [20, 30] {
            let refused = measured(&bomb(depth)).unwrap_err();
            assert!(refused.starts_with("the query expands too much"), "{refused}");
        }
        // Far deeper, it nests past the height before its size is known.
        let refused = measured(&bomb(200)).unwrap_err();
        assert!(refused.starts_with("the query nests more than 32 levels"), "{refused}");
    }

    #[test]
    fn cycles_long_chains_and_directive_floods_are_refused() {
        // The operation is measured first, so the walk enters at `A`.
        assert_eq!(
            measured("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
            Err("the fragment `A` spreads itself (directly or through other fragments)".to_owned())
        );
        let chain: String = (0..5000)
            .map(|i| format!(" fragment C{i} on Query {{ ...C{} }}", i + 1))
            .collect::<String>()
            + " fragment C5000 on Query { head { seq } }";
        let refused = measured(&format!("{{ ...C0 }}{chain}")).unwrap_err();
        assert!(refused.starts_with("the query nests more than 32 levels"), "{refused}");
        let flood = format!("{{ head {} {{ seq }} }}", "@include(if: true) ".repeat(3000));
        assert_eq!(
            measured(&flood),
            Err(
                "the field `head` has 3000 directives; at most 8 are allowed on one field, spread, \
                 fragment, operation or variable"
                    .to_owned()
            )
        );
    }
}
