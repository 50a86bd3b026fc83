//! The query root: the head, the log as a Relay connection, the objects of the projection,
//! and every report of the projection with the fields of its JSON.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Object, Result, ID};

use super::objects::{id_arg, id_page, page_size, Cadre, EventNode, Locality, Member, Node, Organization};
use std::sync::Arc;

use super::{bad_input, cached_report, codes, env, error, read, require, resolve_at, SignedCheckpoint};
use crate::chain::Head;
use crate::event::*;
use crate::history::{self, History, HistoryError};
use crate::projection::reports::{self, *};
use crate::projection::series::{self, CoveragePoint, Interval, StandardizationPoint, TemporaryActivityPoint};
use crate::proofs::{ConsistencyProof, InclusionProof};
use crate::store::Store;
use crate::tokens::Permission;

/// The root of every query.
pub struct Query;

/// A position of the log: the head, or the end of an append.
pub struct HeadObject(pub Head);

#[Object(name = "Head")]
impl HeadObject {
    /// The `seq` of the last event (0 for an empty ledger).
    async fn seq(&self) -> u64 {
        self.0.seq
    }
    /// Its hash, in hex (64 zeros for an empty ledger).
    async fn hash(&self) -> String {
        self.0.hash.to_hex()
    }
    /// When the last event was recorded; null for an empty ledger.
    async fn recorded_at(&self, ctx: &Context<'_>) -> Result<Option<Timestamp>> {
        if self.0.seq == 0 {
            return Ok(None);
        }
        Ok(record(env(ctx).ledger.store(), self.0.seq)?.map(|r| r.recorded_at()))
    }
}

/// Which events `events` lists; every condition given must hold.
#[derive(Debug, Default, InputObject)]
pub struct EventFilter {
    /// Only events of these types (`MemberAdmitted`, ...).
    pub types: Option<Vec<String>>,
    /// Only events that named this id: a locality, organization, member or cadre (an
    /// organization is also named by its members' changes), as `history` lists them.
    pub entity: Option<String>,
    /// Only events effective on or after this date.
    pub effective_from: Option<Date>,
    /// Only events effective on or before this date.
    pub effective_to: Option<Date>,
    /// Only events at or after this `seq`.
    pub seq_from: Option<u64>,
    /// Only events at or before this `seq`.
    pub seq_to: Option<u64>,
}

/// The inclusion proof of event `seq` in the tree of `size` events (default the head).
pub(crate) fn inclusion_proof_of(ctx: &Context<'_>, seq: u64, size: Option<u64>) -> Result<InclusionProof> {
    let ledger = &env(ctx).ledger;
    let head = ledger.head().seq;
    let Some(r) = record(ledger.store(), seq)?.filter(|_| seq <= head) else {
        return Err(bad_input(format!("seq {seq} is not in the ledger (1 to {head})")));
    };
    crate::proofs::inclusion(ledger.store(), r.hash(), seq, size, head).map_err(|f| bad_input(f.to_string()))
}

pub(crate) fn record(store: &Store, seq: u64) -> Result<Option<Record>> {
    store.record(seq).map_err(|e| {
        tracing::error!("reading record {seq}: {e}");
        error(codes::INTERNAL, format!("reading record {seq}: {e}"))
    })
}

/// Checks event type names against the catalogue.
pub(crate) fn check_types(types: &Option<Vec<String>>) -> Result<()> {
    for t in types.iter().flatten() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(bad_input(format!(
                "unknown event type {t:?}; known types: {}",
                EVENT_TYPES.join(", ")
            )));
        }
    }
    Ok(())
}

/// The default page size of a connection when neither `first` nor `last` is given.
pub(crate) const DEFAULT_PAGE: usize = 100;

/// The complexity of a page: what one item selects, times the items asked for.
pub(crate) fn page_cost(size: Option<i32>, child_complexity: usize) -> usize {
    let items = size.map_or(DEFAULT_PAGE, |n| n.clamp(1, super::MAX_PAGE as i32) as usize);
    items.saturating_mul(child_complexity)
}

impl EventFilter {
    fn matches(&self, r: &Record) -> bool {
        self.types.as_ref().is_none_or(|t| t.iter().any(|t| t == r.type_name()))
            && self.effective_from.is_none_or(|d| r.effective() >= d)
            && self.effective_to.is_none_or(|d| r.effective() <= d)
    }
}

/// Which `seq`s a listing looks at: every one (within bounds), or those of an entity's
/// history index.
enum Candidates {
    All,
    Listed(Vec<u64>),
}

impl Candidates {
    /// The candidate `seq`s within `lo..=hi`, ascending or descending.
    fn within(&self, (lo, hi): (u64, u64), forward: bool) -> Box<dyn Iterator<Item = u64> + '_> {
        if lo > hi {
            return Box::new(std::iter::empty());
        }
        match (self, forward) {
            (Candidates::All, true) => Box::new(lo..=hi),
            (Candidates::All, false) => Box::new((lo..=hi).rev()),
            (Candidates::Listed(seqs), forward) => {
                let start = seqs.partition_point(|s| *s < lo);
                let end = seqs.partition_point(|s| *s <= hi);
                let slice = &seqs[start..end];
                if forward {
                    Box::new(slice.iter().copied())
                } else {
                    Box::new(slice.iter().rev().copied())
                }
            }
        }
    }
}

/// Finds the events of one page: the candidate `seq`s within `range` are read from the log
/// and filtered; `n` are taken from the front (`forward`) or the back, and one more is
/// looked for to tell whether more match beyond the page's far end.
fn event_page(
    store: &Store,
    filter: &EventFilter,
    candidates: &Candidates,
    range: (u64, u64),
    n: usize,
    forward: bool,
) -> Result<(Vec<Record>, bool)> {
    let mut found = Vec::new();
    for seq in candidates.within(range, forward) {
        let Some(r) = record(store, seq)? else { continue };
        if filter.matches(&r) {
            if found.len() == n {
                if !forward {
                    found.reverse();
                }
                return Ok((found, true));
            }
            found.push(r);
        }
    }
    if !forward {
        found.reverse();
    }
    Ok((found, false))
}

/// Whether any event of `candidates` within `range` matches: for the near side of a page
/// (before `after`, or after `before`). It stops at the first match.
fn any_match(store: &Store, filter: &EventFilter, candidates: &Candidates, range: (u64, u64)) -> Result<bool> {
    // A page of none that finds "more" found a match.
    Ok(event_page(store, filter, candidates, range, 0, true)?.1)
}

fn parse_cursor(what: &str, cursor: Option<&str>) -> Result<Option<u64>> {
    cursor
        .map(|c| {
            c.parse::<u64>()
                .map_err(|_| bad_input(format!("{what}: {c:?} is not a cursor of this connection")))
        })
        .transpose()
}

fn report<T>(r: std::result::Result<T, ReportError>) -> Result<T> {
    r.map_err(super::report_error)
}

#[Object]
impl Query {
    /// The durable head of the log.
    async fn head(&self, ctx: &Context<'_>) -> HeadObject {
        HeadObject(env(ctx).ledger.head())
    }

    /// The log, a page at a time, oldest first: `first`/`after` pages forward, `last`/`before`
    /// backward; a page holds at most 1000 events (100 when neither `first` nor `last` is
    /// given). Cursors are opaque strings.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "page_cost(first.or(last), child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<EventFilter>,
    ) -> Result<Connection<String, EventNode>> {
        let filter = filter.unwrap_or_default();
        check_types(&filter.types)?;
        let (first, last) = (page_size(first)?, page_size(last)?);
        if first.is_some() && last.is_some() {
            return Err(bad_input("give `first` or `last`, not both"));
        }
        let after = parse_cursor("after", after.as_deref())?;
        let before = parse_cursor("before", before.as_deref())?;
        let ledger = &env(ctx).ledger;
        let head = ledger.head().seq;
        // The bounds of the whole filtered list, then of the window between the cursors.
        let outer = (
            filter.seq_from.unwrap_or(1).max(1),
            filter.seq_to.unwrap_or(head).min(head),
        );
        let window = (
            outer.0.max(after.map_or(0, |a| a.saturating_add(1))),
            outer.1.min(before.map_or(u64::MAX, |b| b.saturating_sub(1))),
        );
        let candidates = match &filter.entity {
            Some(entity) => {
                let id = id_arg("filter.entity", entity)?;
                Candidates::Listed(
                    read(ctx, |p| {
                        p.touched.get(&id).map(|seqs| seqs.to_vec()).unwrap_or_default()
                    })
                    .await,
                )
            }
            None => Candidates::All,
        };
        let store = ledger.store();
        let forward = last.is_none();
        let n = first.or(last).unwrap_or(DEFAULT_PAGE);
        let (events, more) = event_page(store, &filter, &candidates, window, n, forward)?;
        // The near side of the window: whether anything matches before `after` (going
        // forward) or after `before` (going backward).
        let (has_previous, has_next) = if forward {
            let before_window = (outer.0, window.0.saturating_sub(1).min(outer.1));
            let prev = after.is_some() && any_match(store, &filter, &candidates, before_window)?;
            (prev, more)
        } else {
            let after_window = (window.1.saturating_add(1).max(outer.0), outer.1);
            let next = before.is_some() && any_match(store, &filter, &candidates, after_window)?;
            (more, next)
        };
        let mut connection = Connection::new(has_previous, has_next);
        connection.edges.extend(
            events
                .into_iter()
                .map(|r| Edge::new(r.seq().to_string(), EventNode(Box::new(r)))),
        );
        Ok(connection)
    }

    /// One event, by `seq`; null past the head.
    async fn event(&self, ctx: &Context<'_>, seq: u64) -> Result<Option<EventNode>> {
        Ok(record(env(ctx).ledger.store(), seq)?.map(|r| EventNode(Box::new(r))))
    }

    /// Any object by its global id (`Event:42`, `Locality:xom-pac-ngoa`, ...), as of today
    /// and the head; null when there is none.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let Some((kind, key)) = id.split_once(':') else {
            return Err(bad_input(format!("{:?} is not a global id (Kind:key)", id.as_str())));
        };
        if kind == "Event" {
            let seq = key
                .parse::<u64>()
                .map_err(|_| bad_input(format!("{:?} is not an event id", id.as_str())))?;
            return Ok(record(env(ctx).ledger.store(), seq)?.map(|r| Node::Event(EventNode(Box::new(r)))));
        }
        let key = id_arg("id", key)?;
        read(ctx, |p| {
            let at = resolve_at(p, None, None)?;
            let id = key.clone();
            Ok(match kind {
                "Locality" => p
                    .localities
                    .contains_key(&key)
                    .then_some(Node::Locality(Locality { id, at })),
                "Organization" => p
                    .orgs
                    .contains_key(&key)
                    .then_some(Node::Organization(Organization { id, at })),
                "Member" => p.members.contains_key(&key).then_some(Node::Member(Member { id, at })),
                "Cadre" => p.cadres.contains_key(&key).then_some(Node::Cadre(Cadre { id, at })),
                _ => return Err(bad_input(format!("unknown kind {kind:?} in the global id"))),
            })
        })
        .await
    }

    /// A locality by its id, as of `date` and `seq`; null when the ledger did not know it by
    /// `seq`.
    async fn locality(
        &self,
        ctx: &Context<'_>,
        id: String,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Option<Locality>> {
        let id = id_arg("id", &id)?;
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            Ok(p.localities
                .get(&id)
                .filter(|l| l.registered.1 <= at.seq)
                .map(|_| Locality { id: id.clone(), at }))
        })
        .await
    }

    /// Localities registered by `seq`, in id order, optionally of one kind.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn localities(
        &self,
        ctx: &Context<'_>,
        kind: Option<LocalityKind>,
        date: Option<Date>,
        seq: Option<u64>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Locality>> {
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            let items = p
                .localities
                .iter()
                .filter(|(_, l)| l.registered.1 <= at.seq && kind.is_none_or(|k| l.kind == k))
                .map(|(id, _)| (id.clone(), ()));
            id_page(items, first, after, |id, ()| Locality { id, at })
        })
        .await
    }

    /// An organization by its id, as of `date` and `seq`.
    async fn organization(
        &self,
        ctx: &Context<'_>,
        id: String,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Option<Organization>> {
        let id = id_arg("id", &id)?;
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            Ok(p.orgs
                .get(&id)
                .filter(|o| o.founded.1 <= at.seq)
                .map(|_| Organization { id: id.clone(), at }))
        })
        .await
    }

    /// Organizations founded by `seq`, in id order, optionally of one kind.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        kind: Option<OrgKind>,
        date: Option<Date>,
        seq: Option<u64>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Organization>> {
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            let items = p
                .orgs
                .iter()
                .filter(|(_, o)| o.founded.1 <= at.seq && kind.is_none_or(|k| o.kind == k))
                .map(|(id, _)| (id.clone(), ()));
            id_page(items, first, after, |id, ()| Organization { id, at })
        })
        .await
    }

    /// A member by id, as of `date` and `seq`.
    async fn member(
        &self,
        ctx: &Context<'_>,
        id: String,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Option<Member>> {
        let id = id_arg("id", &id)?;
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            Ok(p.members
                .get(&id)
                .filter(|m| m.admitted.1 <= at.seq)
                .map(|_| Member { id: id.clone(), at }))
        })
        .await
    }

    /// Members admitted by `seq`, in id order; `active: true` keeps those who are members
    /// on `date`.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        active: Option<bool>,
        date: Option<Date>,
        seq: Option<u64>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Member>> {
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            let items = p
                .members
                .iter()
                .filter(|(_, m)| m.admitted.1 <= at.seq && active.is_none_or(|a| m.active.holds(at) == a))
                .map(|(id, _)| (id.clone(), ()));
            id_page(items, first, after, |id, ()| Member { id, at })
        })
        .await
    }

    /// A cadre (a person with posts, plans or assessments) by id.
    async fn cadre(
        &self,
        ctx: &Context<'_>,
        id: String,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Option<Cadre>> {
        let id = id_arg("id", &id)?;
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            Ok(p.cadres.contains_key(&id).then(|| Cadre { id: id.clone(), at }))
        })
        .await
    }

    /// Cadres, in id order.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn cadres(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        seq: Option<u64>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Cadre>> {
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            let items = p.cadres.keys().map(|id| (id.clone(), ()));
            id_page(items, first, after, |id, ()| Cadre { id, at })
        })
        .await
    }

    /// Hamlets and residential groups with a resident member and with a cell, per commune
    /// and in all (`orgledger report coverage`).
    async fn coverage(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Arc<Coverage>> {
        cached_report(ctx, "coverage".into(), date, seq, |p, at| Ok(reports::coverage(p, at))).await
    }

    /// Members on temporary activity per host cell, and their home organizations.
    async fn temporary_activity(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Arc<TemporaryActivity>> {
        cached_report(ctx, "temporary-activity".into(), date, seq, |p, at| {
            Ok(reports::temporary_activity(p, at))
        })
        .await
    }

    /// `coverage`'s counts on each date from `from` to `to`, a point every `every`, as the
    /// ledger stood at `seq` (default the head); in all, or in one commune. Computed in one
    /// pass; at most 1,000 points. Months keep `from`'s day (the month's end when `from` is
    /// one); `every` null or absent is a month.
    async fn coverage_over_time(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        #[graphql(default_with = "Some(Interval::Month)")] every: Option<Interval>,
        seq: Option<u64>,
        commune: Option<ID>,
    ) -> Result<Arc<Vec<CoveragePoint>>> {
        let commune = commune.map(|c| id_arg("commune", &c)).transpose()?;
        let every = every.unwrap_or(Interval::Month);
        let name = format!(
            "coverage-over-time|{to}|{every:?}|{}",
            commune.as_ref().map(|c| c.to_string()).unwrap_or_default()
        );
        cached_report(ctx, name, Some(from), seq, |p, at| {
            let dates = report(series::steps(from, to, every))?;
            report(series::coverage_over_time(p, &dates, at.seq, commune.as_ref()))
        })
        .await
    }

    /// `temporaryActivity`'s counts (members on temporary activity, those from border
    /// posts, host cells) on each date from `from` to `to`, a point every `every` (null: a
    /// month), as the ledger stood at `seq` (default the head). Computed in one pass; at most
    /// 1,000 points.
    async fn temporary_activity_over_time(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        #[graphql(default_with = "Some(Interval::Month)")] every: Option<Interval>,
        seq: Option<u64>,
    ) -> Result<Arc<Vec<TemporaryActivityPoint>>> {
        let every = every.unwrap_or(Interval::Month);
        let name = format!("temporary-activity-over-time|{to}|{every:?}");
        cached_report(ctx, name, Some(from), seq, |p, at| {
            let dates = report(series::steps(from, to, every))?;
            Ok(series::temporary_activity_over_time(p, &dates, at.seq))
        })
        .await
    }

    /// `standardization`'s counts (cadres assessed, below standard, standardized, retired
    /// under policy) under `programme` on each date from `from` to `to`, a point every `every`
    /// (null: a month), as the ledger stood at `seq` (default the head). Computed in one pass;
    /// at most 1,000 points.
    async fn standardization_over_time(
        &self,
        ctx: &Context<'_>,
        programme: String,
        from: Date,
        to: Date,
        #[graphql(default_with = "Some(Interval::Month)")] every: Option<Interval>,
        seq: Option<u64>,
    ) -> Result<Arc<Vec<StandardizationPoint>>> {
        let programme = id_arg("programme", &programme)?;
        let every = every.unwrap_or(Interval::Month);
        let name = format!("standardization-over-time|{programme}|{to}|{every:?}");
        cached_report(ctx, name, Some(from), seq, |p, at| {
            let dates = report(series::steps(from, to, every))?;
            report(series::standardization_over_time(p, &programme, &dates, at.seq))
        })
        .await
    }

    /// Admissions per calendar year, by commune and sex.
    async fn admissions(
        &self,
        ctx: &Context<'_>,
        from_year: Option<i32>,
        to_year: Option<i32>,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Arc<Admissions>> {
        let name = format!("admissions|{from_year:?}|{to_year:?}");
        cached_report(ctx, name, date, seq, |p, at| {
            report(reports::admissions(p, at, from_year, to_year))
        })
        .await
    }

    /// Cadres below standard, standardized and retired under policy under a programme.
    async fn standardization(
        &self,
        ctx: &Context<'_>,
        programme: String,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Arc<Standardization>> {
        let programme = id_arg("programme", &programme)?;
        cached_report(ctx, format!("standardization|{programme}"), date, seq, |p, at| {
            report(reports::standardization(p, &programme, at))
        })
        .await
    }

    /// Cell meetings, and those of weak cells with the committee member in charge present.
    async fn meetings(
        &self,
        ctx: &Context<'_>,
        year: Option<i32>,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Arc<Meetings>> {
        cached_report(ctx, format!("meetings|{year:?}"), date, seq, |p, at| {
            report(reports::meetings(p, at, year))
        })
        .await
    }

    /// Cell resolutions by topic, per cell and in all.
    async fn resolutions(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Arc<Resolutions>> {
        cached_report(ctx, "resolutions".into(), date, seq, |p, at| {
            Ok(reports::resolutions(p, at))
        })
        .await
    }

    /// The cadre plan of a term, with the shares of women and of young cadres.
    async fn planning(
        &self,
        ctx: &Context<'_>,
        term: String,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Arc<Planning>> {
        let term = id_arg("term", &term)?;
        cached_report(ctx, format!("planning|{term}"), date, seq, |p, at| {
            report(reports::planning(p, &term, at))
        })
        .await
    }

    /// The members of an organization, with their status.
    async fn roster(
        &self,
        ctx: &Context<'_>,
        org: String,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Arc<Roster>> {
        let org = id_arg("org", &org)?;
        cached_report(ctx, format!("roster|{org}"), date, seq, |p, at| {
            report(reports::roster(p, &org, at))
        })
        .await
    }

    /// A signed checkpoint of the durable head: tree size, Merkle root and projection
    /// commitment (auditor, admin). On a follower (`orgledger follow --listen`): the
    /// leader's latest checkpoint that the follower verified against its own tree.
    async fn checkpoint(&self, ctx: &Context<'_>) -> Result<Arc<SignedCheckpoint>> {
        require(ctx, Permission::Audit)?;
        env(ctx).checkpoint().await
    }

    /// The latest checkpoint cosigned by a quorum of the server's witnesses (`serve
    /// --witness`), made after an append group at most once per checkpoint interval; null
    /// when the server has no witnesses or no quorum has cosigned yet (auditor, admin).
    async fn cosigned_checkpoint(&self, ctx: &Context<'_>) -> Result<Option<Arc<SignedCheckpoint>>> {
        require(ctx, Permission::Audit)?;
        let env = env(ctx);
        Ok(env.published.borrow().clone().filter(|c| !c.cosigners.is_empty()))
    }

    /// The proof that event `seq` is in the tree of `size` events (default: the head), from
    /// stored hashes (auditor, admin).
    async fn inclusion_proof(&self, ctx: &Context<'_>, seq: u64, size: Option<u64>) -> Result<InclusionProof> {
        require(ctx, Permission::Audit)?;
        inclusion_proof_of(ctx, seq, size)
    }

    /// The proof that the tree of `from` events is a prefix of the tree of `to` events
    /// (default: the head) (auditor, admin).
    async fn consistency_proof(&self, ctx: &Context<'_>, from: u64, to: Option<u64>) -> Result<ConsistencyProof> {
        require(ctx, Permission::Audit)?;
        let ledger = &env(ctx).ledger;
        crate::proofs::consistency(ledger.store(), from, to, ledger.head().seq).map_err(|f| bad_input(f.to_string()))
    }

    /// Every event that named a locality, organization, member or cadre.
    async fn history(
        &self,
        ctx: &Context<'_>,
        entity: String,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<History> {
        let entity = id_arg("entity", &entity)?;
        let store = env(ctx).ledger.store();
        read(ctx, |p| {
            let at = resolve_at(p, date, seq)?;
            history::of(p, store, &entity, at).map_err(|e| match e {
                HistoryError::Unknown(e) => super::report_error(e),
                // The log failed to give back a record the projection lists: the server's
                // failure, not the request's (as `record` says of every other read).
                HistoryError::Store(_) | HistoryError::Missing(_) => {
                    tracing::error!("history of {entity}: {e}");
                    error(codes::INTERNAL, e.to_string())
                }
            })
        })
        .await
    }
}
