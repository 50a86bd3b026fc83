//! The objects of the graph: events, and the localities, organizations, members and cadres
//! of the projection. Every object is a Relay `Node` with a global `id`
//! (`Event:42`, `Locality:xom-pac-ngoa`, `Organization:cb-pac-ngoa`, `Member:dv-000123`,
//! `Cadre:dv-000123`); the ledger's own id is `slug`.
//!
//! An entity object is asked at a point ([`At`]: a date and a `seq`), inherited from where it
//! was reached; each field that depends on time takes `date` and `seq` arguments that
//! override that point for the field.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Interface, Json, Object, Result, SimpleObject, ID};

use super::{bad_input, read, resolve_at, MAX_PAGE};
use crate::event::*;
use crate::projection::{At, MemberStatus, Projection};

/// A Relay node: anything with a global id, fetched again with `node(id)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The global id, for `node(id)`."))]
pub enum Node {
    Event(EventNode),
    Locality(Locality),
    Organization(Organization),
    Member(Member),
    Cadre(Cadre),
}

/// One record of the log.
pub struct EventNode(pub Box<Record>);

#[Object(name = "Event")]
impl EventNode {
    /// The global id: `Event:<seq>`.
    async fn id(&self) -> ID {
        ID(format!("Event:{}", self.0.seq()))
    }
    /// Its position in the log, from 1.
    async fn seq(&self) -> u64 {
        self.0.seq()
    }
    /// Its hash, in hex (FORMAT.md).
    async fn hash(&self) -> String {
        self.0.hash().to_hex()
    }
    /// The hash of the record before it (64 zeros for the first).
    async fn prev(&self) -> String {
        self.0.prev().to_hex()
    }
    /// The event's type (`MemberAdmitted`, ...).
    #[graphql(name = "type")]
    async fn type_name(&self) -> &'static str {
        self.0.type_name()
    }
    /// Valid time: when the change took effect.
    async fn effective(&self) -> Date {
        self.0.effective()
    }
    /// Transaction time: when the ledger recorded it.
    async fn recorded_at(&self) -> Timestamp {
        self.0.recorded_at()
    }
    /// Who appended it: the name of the token used.
    async fn actor(&self) -> String {
        self.0.actor().to_string()
    }
    /// The proof that this event is in the tree of `size` events (default: the head), from
    /// stored hashes (auditor, admin).
    async fn proof(&self, ctx: &Context<'_>, size: Option<u64>) -> Result<crate::proofs::InclusionProof> {
        super::require(ctx, crate::tokens::Permission::Audit)?;
        super::query::inclusion_proof_of(ctx, self.0.seq(), size)
    }
    /// The event's fields as the log holds them (snake_case names, as in FORMAT.md), with
    /// `decision` when there is one; without `type` and `effective`.
    async fn payload(&self) -> Json<serde_json::Value> {
        let mut fields = self.0.submission().to_value();
        fields.remove("type");
        fields.remove("effective");
        Json(serde_json::Value::Object(fields))
    }
}

/// The point a field is asked at: the object's own, with `date` and `seq` overriding it.
fn field_at(p: &Projection, base: At, date: Option<Date>, seq: Option<u64>) -> Result<At> {
    resolve_at(p, Some(date.unwrap_or(base.date)), Some(seq.unwrap_or(base.seq)))
}

/// A field that depends on time: `f` on the projection at the object's point, with the
/// field's own `date` and `seq` overriding it.
async fn at_field<T>(
    ctx: &Context<'_>,
    base: At,
    date: Option<Date>,
    seq: Option<u64>,
    f: impl FnOnce(&Projection, At) -> T,
) -> Result<T> {
    read(ctx, |p| Ok(f(p, field_at(p, base, date, seq)?))).await
}

pub(crate) fn id_arg(what: &str, s: &str) -> Result<Id> {
    Id::parse(s).map_err(|e| bad_input(format!("{what}: {e}")))
}

/// A page of objects keyed by id, in id order, after the cursor `after` (an id).
pub(crate) fn id_page<T, N: async_graphql::OutputType>(
    items: impl Iterator<Item = (Id, T)>,
    first: Option<i32>,
    after: Option<String>,
    node: impl Fn(Id, T) -> N,
) -> Result<Connection<String, N>> {
    let first = page_size(first)?.unwrap_or(super::query::DEFAULT_PAGE);
    let mut items = items.skip_while(|(id, _)| after.as_deref().is_some_and(|a| id.as_str() <= a));
    let mut page: Vec<(Id, T)> = items.by_ref().take(first).collect();
    let has_next = items.next().is_some();
    let mut connection = Connection::new(after.is_some(), has_next);
    connection
        .edges
        .extend(page.drain(..).map(|(id, t)| Edge::new(id.to_string(), node(id, t))));
    Ok(connection)
}

/// Checks a page size argument against [`MAX_PAGE`].
pub(crate) fn page_size(n: Option<i32>) -> Result<Option<usize>> {
    match n {
        None => Ok(None),
        Some(n) if (0..=MAX_PAGE as i32).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(bad_input(format!(
            "a page holds 0 to {MAX_PAGE} items; {n} were asked for"
        ))),
    }
}

/// A place: province, district, commune, hamlet or residential group.
pub struct Locality {
    pub id: Id,
    pub at: At,
}

#[Object]
impl Locality {
    async fn id(&self) -> ID {
        ID(format!("Locality:{}", self.id))
    }
    /// The ledger's id of the locality.
    async fn slug(&self) -> &str {
        self.id.as_str()
    }
    async fn kind(&self, ctx: &Context<'_>) -> Option<LocalityKind> {
        read(ctx, |p| p.localities.get(&self.id).map(|l| l.kind)).await
    }
    /// The date it was registered (valid time).
    async fn registered(&self, ctx: &Context<'_>) -> Option<Date> {
        read(ctx, |p| p.localities.get(&self.id).map(|l| l.registered.0)).await
    }
    async fn name(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<String>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.localities
                .get(&self.id)
                .and_then(|l| l.name.at(at))
                .map(|n| n.to_string())
        })
        .await
    }
    /// Whether it exists: registered and not retired.
    async fn active(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<bool> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.localities.get(&self.id).is_some_and(|l| l.alive.holds(at))
        })
        .await
    }
    /// Whether it lies on the border.
    async fn border(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<bool>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.localities.get(&self.id).and_then(|l| l.border.at(at)).copied()
        })
        .await
    }
    async fn parent(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<Locality>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.localities
                .get(&self.id)
                .and_then(|l| l.parent.at(at).cloned().flatten())
                .map(|id| Locality { id, at })
        })
        .await
    }
    /// The localities directly under it, in id order.
    async fn children(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Vec<Locality>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.localities
                .iter()
                .filter(|(_, l)| l.alive.holds(at) && l.parent.at(at).is_some_and(|x| x.as_ref() == Some(&self.id)))
                .map(|(id, _)| Locality { id: id.clone(), at })
                .collect()
        })
        .await
    }
    /// The active organizations whose area includes it (for a hamlet: its cell).
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Vec<Organization>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.orgs
                .iter()
                .filter(|(_, o)| o.alive.holds(at) && o.localities.contains(&self.id))
                .map(|(id, _)| Organization { id: id.clone(), at })
                .collect()
        })
        .await
    }
    /// The active members whose home locality it is.
    async fn residents(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Vec<Member>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .iter()
                .filter(|(_, m)| m.active.holds(at) && m.home_locality.at(at) == Some(&self.id))
                .map(|(id, _)| Member { id: id.clone(), at })
                .collect()
        })
        .await
    }
}

/// A party organization: committee, grassroots committee, cell or border-post committee.
pub struct Organization {
    pub id: Id,
    pub at: At,
}

/// An annual quality rating.
#[derive(SimpleObject)]
#[graphql(name = "Rating")]
pub struct RatingObject {
    pub year: i32,
    pub level: QualityLevel,
    /// The rating's effective date.
    pub date: Date,
}

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        ID(format!("Organization:{}", self.id))
    }
    /// The ledger's id of the organization.
    async fn slug(&self) -> &str {
        self.id.as_str()
    }
    async fn kind(&self, ctx: &Context<'_>) -> Option<OrgKind> {
        read(ctx, |p| p.orgs.get(&self.id).map(|o| o.kind)).await
    }
    /// The date it was founded (valid time).
    async fn founded(&self, ctx: &Context<'_>) -> Option<Date> {
        read(ctx, |p| p.orgs.get(&self.id).map(|o| o.founded.0)).await
    }
    async fn name(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<String>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.orgs.get(&self.id).and_then(|o| o.name.at(at)).map(|n| n.to_string())
        })
        .await
    }
    /// Whether it exists: founded and not dissolved.
    async fn active(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<bool> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.orgs.get(&self.id).is_some_and(|o| o.alive.holds(at))
        })
        .await
    }
    async fn parent(&self, ctx: &Context<'_>) -> Option<Organization> {
        read(ctx, |p| {
            p.orgs
                .get(&self.id)
                .and_then(|o| o.parent.clone())
                .map(|id| Organization { id, at: self.at })
        })
        .await
    }
    /// The active organizations directly under it, in id order.
    async fn children(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Vec<Organization>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.orgs
                .iter()
                .filter(|(_, o)| o.alive.holds(at) && o.parent.as_ref() == Some(&self.id))
                .map(|(id, _)| Organization { id: id.clone(), at })
                .collect()
        })
        .await
    }
    /// The localities of its area.
    async fn localities(&self, ctx: &Context<'_>) -> Vec<Locality> {
        read(ctx, |p| {
            p.orgs
                .get(&self.id)
                .map(|o| {
                    o.localities
                        .iter()
                        .map(|id| Locality {
                            id: id.clone(),
                            at: self.at,
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .await
    }
    /// Its members (the roster: members on temporary activity here are not among them), in
    /// id order, a page at a time.
    #[graphql(complexity = "super::query::page_cost(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        seq: Option<u64>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Member>> {
        read(ctx, |p| {
            let at = field_at(p, self.at, date, seq)?;
            let items = p
                .members
                .iter()
                .filter(|(_, m)| m.active.holds(at) && m.org.at(at) == Some(&self.id))
                .map(|(id, _)| (id.clone(), ()));
            id_page(items, first, after, |id, ()| Member { id, at })
        })
        .await
    }
    /// Members of other organizations on temporary activity here.
    async fn temporary_members(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Vec<Member>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .iter()
                .filter(|(_, m)| m.active.holds(at) && m.temporary_host(at) == Some(&self.id))
                .map(|(id, _)| Member { id: id.clone(), at })
                .collect()
        })
        .await
    }
    /// The committee members in charge of this cell.
    async fn supervisors(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Vec<Member>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.orgs
                .get(&self.id)
                .map(|o| {
                    o.supervisors
                        .iter()
                        .filter(|s| s.visible(at))
                        .map(|s| Member {
                            id: s.value.clone(),
                            at,
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .await
    }
    /// Its annual quality ratings recorded by `seq`.
    async fn ratings(&self, ctx: &Context<'_>, seq: Option<u64>) -> Result<Vec<RatingObject>> {
        read(ctx, |p| {
            let at = field_at(p, self.at, None, seq)?;
            Ok(p.orgs
                .get(&self.id)
                .map(|o| {
                    o.ratings
                        .iter()
                        .filter(|r| r.seq <= at.seq)
                        .map(|r| RatingObject {
                            year: r.year,
                            level: r.level,
                            date: r.date,
                        })
                        .collect()
                })
                .unwrap_or_default())
        })
        .await
    }
}

/// A party member.
pub struct Member {
    pub id: Id,
    pub at: At,
}

/// How a membership ended.
#[derive(SimpleObject)]
pub struct MembershipEnd {
    pub date: Date,
    pub reason: EndReason,
}

#[Object]
impl Member {
    async fn id(&self) -> ID {
        ID(format!("Member:{}", self.id))
    }
    /// The ledger's id of the member.
    async fn slug(&self) -> &str {
        self.id.as_str()
    }
    /// The date of admission (valid time).
    async fn admitted(&self, ctx: &Context<'_>) -> Option<Date> {
        read(ctx, |p| p.members.get(&self.id).map(|m| m.admitted.0)).await
    }
    /// The cell that admitted the member.
    async fn admitted_to(&self, ctx: &Context<'_>) -> Option<Organization> {
        read(ctx, |p| {
            p.members.get(&self.id).map(|m| Organization {
                id: m.admitted_to.clone(),
                at: self.at,
            })
        })
        .await
    }
    async fn name(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<String>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .get(&self.id)
                .and_then(|m| m.name.at(at))
                .map(|n| n.to_string())
        })
        .await
    }
    async fn sex(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<Sex>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members.get(&self.id).and_then(|m| m.sex.at(at)).copied()
        })
        .await
    }
    async fn birth_date(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<Date>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members.get(&self.id).and_then(|m| m.birth_date.at(at)).copied()
        })
        .await
    }
    /// Whether the person is a member (admitted, and the membership not ended).
    async fn active(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<bool> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members.get(&self.id).is_some_and(|m| m.active.holds(at))
        })
        .await
    }
    /// Probationary or official; null when not a member at that point.
    async fn status(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<MemberStatus>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .get(&self.id)
                .filter(|m| m.active.holds(at))
                .and_then(|m| m.status.at(at))
                .copied()
        })
        .await
    }
    async fn home_locality(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<Locality>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .get(&self.id)
                .and_then(|m| m.home_locality.at(at))
                .map(|id| Locality { id: id.clone(), at })
        })
        .await
    }
    /// The organization the member belongs to (the home cell).
    async fn organization(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Option<Organization>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .get(&self.id)
                .filter(|m| m.active.holds(at))
                .and_then(|m| m.org.at(at))
                .map(|id| Organization { id: id.clone(), at })
        })
        .await
    }
    /// The cell the member attends on temporary activity, if any.
    async fn temporary_host(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Option<Organization>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .get(&self.id)
                .filter(|m| m.active.holds(at))
                .and_then(|m| m.temporary_host(at))
                .map(|id| Organization { id: id.clone(), at })
        })
        .await
    }
    /// Whether the member is exempted from activity.
    async fn exempted(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<bool> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members.get(&self.id).is_some_and(|m| m.exempted.holds(at))
        })
        .await
    }
    /// How the membership ended, when it had by that point.
    async fn ended(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<MembershipEnd>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .get(&self.id)
                .and_then(|m| m.ended)
                .filter(|(d, _, s)| *s <= at.seq && *d <= at.date)
                .map(|(date, reason, _)| MembershipEnd { date, reason })
        })
        .await
    }
}

/// A person holding or planned for a leadership post.
pub struct Cadre {
    pub id: Id,
    pub at: At,
}

/// A post held.
#[derive(SimpleObject)]
pub struct PositionHeld {
    pub position: String,
    pub organization: String,
    pub term: Option<String>,
    pub from: Date,
}

/// A place in the plan of a term.
#[derive(SimpleObject)]
pub struct PlanEntry {
    pub term: String,
    pub position: String,
    pub organization: String,
    pub from: Date,
}

/// An assessment against the cadre standard under a programme.
#[derive(SimpleObject)]
#[graphql(name = "Assessment")]
pub struct AssessmentObject {
    pub programme: String,
    pub date: Date,
    /// The gaps recorded at the assessment.
    pub gaps: Vec<StandardDimension>,
    /// The gaps still open at the point asked.
    pub gaps_open: Vec<StandardDimension>,
    /// When the cadre was standardized under the programme, by that point.
    pub standardized: Option<Date>,
    /// When the cadre retired under the programme's policy, by that point.
    pub retired_under_policy: Option<Date>,
}

#[Object]
impl Cadre {
    async fn id(&self) -> ID {
        ID(format!("Cadre:{}", self.id))
    }
    /// The ledger's id of the person.
    async fn slug(&self) -> &str {
        self.id.as_str()
    }
    /// The person's name, when the person is a member.
    async fn name(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Option<String>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.members
                .get(&self.id)
                .and_then(|m| m.name.at(at))
                .map(|n| n.to_string())
        })
        .await
    }
    /// The person as a member, when the person is one.
    async fn member(&self, ctx: &Context<'_>) -> Option<Member> {
        read(ctx, |p| {
            p.members.contains_key(&self.id).then(|| Member {
                id: self.id.clone(),
                at: self.at,
            })
        })
        .await
    }
    /// The posts held at that point.
    async fn positions(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Vec<PositionHeld>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.cadres
                .get(&self.id)
                .map(|c| {
                    c.positions
                        .iter()
                        .filter(|s| s.visible(at))
                        .map(|s| PositionHeld {
                            position: s.value.1.to_string(),
                            organization: s.value.0.to_string(),
                            term: s.value.2.as_ref().map(|t| t.to_string()),
                            from: s.from,
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .await
    }
    /// The plans the cadre is in at that point.
    async fn plans(&self, ctx: &Context<'_>, date: Option<Date>, seq: Option<u64>) -> Result<Vec<PlanEntry>> {
        at_field(ctx, self.at, date, seq, |p, at| {
            p.cadres
                .get(&self.id)
                .map(|c| {
                    c.plans
                        .iter()
                        .filter(|s| s.visible(at))
                        .map(|s| PlanEntry {
                            term: s.value.term.to_string(),
                            position: s.value.position.to_string(),
                            organization: s.value.org.to_string(),
                            from: s.from,
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .await
    }
    /// The assessments recorded by that point, each with what became of its gaps.
    async fn assessments(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        seq: Option<u64>,
    ) -> Result<Vec<AssessmentObject>> {
        use crate::projection::Outcome;
        at_field(ctx, self.at, date, seq, |p, at| {
            p.cadres
                .get(&self.id)
                .map(|c| {
                    c.assessments
                        .iter()
                        .filter(|a| a.seq <= at.seq && a.date <= at.date && a.superseded.is_none_or(|s| s > at.seq))
                        .map(|a| {
                            let closed = |g: &StandardDimension| {
                                a.closed
                                    .iter()
                                    .any(|(d, date, s)| d == g && *s <= at.seq && *date <= at.date)
                            };
                            let outcome = a.outcome.filter(|(_, d, s)| *s <= at.seq && *d <= at.date);
                            AssessmentObject {
                                programme: a.programme.to_string(),
                                date: a.date,
                                gaps: a.gaps.clone(),
                                gaps_open: a.gaps.iter().filter(|g| !closed(g)).copied().collect(),
                                standardized: outcome
                                    .filter(|(o, _, _)| *o == Outcome::Standardized)
                                    .map(|(_, d, _)| d),
                                retired_under_policy: outcome
                                    .filter(|(o, _, _)| *o == Outcome::RetiredUnderPolicy)
                                    .map(|(_, d, _)| d),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .await
    }
}
