//! The read side's answers as GraphQL objects: the reports of the projection, the points
//! of their series, an entity's history, and the proofs of the log. The domain computes
//! each as a plain serializable type (its JSON is the CLI's output) and knows nothing of
//! GraphQL; here each type gets its GraphQL object, with the fields of its JSON in the same
//! order, camelCased, each resolved from the domain's own field.
//!
//! The objects are `#[Object]` impls on the domain types themselves, written in this module:
//! a resolver borrows its field, so a cached report is served without a copy. The doc
//! comments here are the schema's descriptions (`schema/ledger.graphql`).

use async_graphql::{Json, Object};
use serde_json::Value;

use crate::event::{Date, Timestamp};
use crate::history::{History, HistoryEvent};
use crate::projection::reports::{
    Admissions, BelowStandard, CellResolutions, CommuneAdmissions, CommuneCoverage, Coverage, CoverageCounts,
    GapCounts, Meetings, Named, PlannedCadre, Planning, Resolutions, Roster, RosterMember, Standardization,
    TemporaryActivity, TemporaryHost, TemporaryMember, TemporaryYear, TopicCounts, WeakCellMeetings, YearAdmissions,
};
use crate::projection::series::{CoveragePoint, StandardizationPoint, TemporaryActivityPoint};
use crate::proofs::{ConsistencyProof, InclusionProof};

/// Declares the GraphQL object of each domain type listed: one resolver per field, in the
/// order given (the schema's order), returning the field by reference. A field's
/// attributes are the resolver's: its doc comment is the field's description, and
/// `#[graphql(flatten)]` or `#[graphql(name = "type")]` act as on any resolver. Resolvers
/// written out in braces after the fields follow them, for a field the domain holds in a
/// form GraphQL does not take as it is.
macro_rules! objects {
    ($(
        $(#[doc = $doc:literal])*
        $ty:ident {
            $($(#[$($attr:tt)*])* $field:ident: $field_ty:ty),* $(,)?
        }
        $({ $($resolver:tt)* })?
    )+) => {
        $(
            $(#[doc = $doc])*
            #[Object]
            impl $ty {
                $(
                    $(#[$($attr)*])*
                    // A resolver is named for its field: `from_border_posts` converts nothing.
                    #[allow(clippy::wrong_self_convention)]
                    async fn $field(&self) -> &$field_ty {
                        &self.$field
                    }
                )*
                $($($resolver)*)?
            }
        )+
    };
}

// The reports (`projection/reports.rs`).
objects! {
    /// A locality named in a report.
    Named {
        id: String,
        name: String,
    }

    CoverageCounts {
        localities: u64,
        with_member: u64,
        with_cell: u64,
        without_member: Vec<Named>,
        without_cell: Vec<Named>,
        temporary_only: u64,
    }

    CommuneCoverage {
        commune: String,
        name: String,
        #[graphql(flatten)]
        counts: CoverageCounts,
    }

    Coverage {
        date: Date,
        seq: u64,
        #[graphql(flatten)]
        counts: CoverageCounts,
        communes: Vec<CommuneCoverage>,
    }

    TemporaryMember {
        member: String,
        name: String,
        home_org: String,
        home_org_name: String,
        from_border_post: bool,
        until: Option<Date>,
    }

    TemporaryHost {
        host: String,
        name: String,
        localities: Vec<Named>,
        members: Vec<TemporaryMember>,
    }

    TemporaryYear {
        year: i32,
        members: u64,
        from_border_posts: u64,
        hosts: u64,
    }

    TemporaryActivity {
        date: Date,
        seq: u64,
        members: u64,
        from_border_posts: u64,
        hosts: Vec<TemporaryHost>,
        /// The same counts at the end of each year up to `date` (the last row is counted on
        /// `date` itself when it falls inside the year): the story over time.
        years: Vec<TemporaryYear>,
    }

    CommuneAdmissions {
        commune: String,
        name: String,
        admitted: u64,
    }

    YearAdmissions {
        year: i32,
        admitted: u64,
        female: u64,
        male: u64,
        /// Background verifications concluded that year, refused ones, and those noting kin
        /// across the border.
        verified: u64,
        refused: u64,
        kin_abroad: u64,
        communes: Vec<CommuneAdmissions>,
    }

    Admissions {
        seq: u64,
        years: Vec<YearAdmissions>,
    }

    BelowStandard {
        person: String,
        name: String,
        gaps_open: Vec<&'static str>,
    }

    /// Open gaps per dimension of the standard, every dimension present (0 when none).
    GapCounts {
        education: u64,
        political_theory: u64,
        professional: u64,
        state_management: u64,
    }

    Standardization {
        programme: String,
        title: String,
        date: Date,
        seq: u64,
        starts: Option<Date>,
        ends: Option<Date>,
        /// Cadres assessed under the programme by `date`.
        assessed: u64,
        /// Cadres below standard on the programme's start date (its issue date if it has none);
        /// `null` when `date` is before the start, which is then still to come.
        below_standard_at_start: Option<u64>,
        /// Cadres below standard on `date`: assessed with gaps, neither standardized nor retired.
        below_standard: u64,
        standardized: u64,
        retired_under_policy: u64,
        /// Open gaps on `date`, per dimension.
        gaps_open: GapCounts,
        cadres_below_standard: Vec<BelowStandard>,
    }

    WeakCellMeetings {
        cell: String,
        name: String,
        meetings: u64,
        supervisor_present: u64,
        /// The committee members in charge of the cell at its meetings.
        supervisors: Vec<Named>,
    }

    Meetings {
        date: Date,
        seq: u64,
        year: Option<i32>,
        meetings: u64,
        regular: u64,
        thematic: u64,
        /// Meetings of cells whose latest rating on the meeting's date was `weak`.
        of_weak_cells: u64,
        /// ... of which the committee member in charge attended.
        weak_with_supervisor: u64,
        weak_cells: Vec<WeakCellMeetings>,
    }

    /// Resolutions per topic, every topic present (0 when none). Its fields are the topics'
    /// names, in the order of a sorted map, so the JSON reads as one.
    TopicCounts {
        economy: u64,
        land_donation: u64,
        other: u64,
        party_building: u64,
        public_works: u64,
        rural_roads: u64,
        security: u64,
    }

    CellResolutions {
        cell: String,
        name: String,
        total: u64,
        by_topic: TopicCounts,
    }

    Resolutions {
        date: Date,
        seq: u64,
        total: u64,
        /// District-wide counts per topic.
        by_topic: TopicCounts,
        cells: Vec<CellResolutions>,
    }

    PlannedCadre {
        person: String,
        name: String,
        sex: &'static str,
        age: i32,
        position: String,
        org: String,
    }

    Planning {
        term: String,
        date: Date,
        seq: u64,
        planned: u64,
        women: u64,
        young: u64,
        /// Shares in percent, rounded to one decimal (0 when nobody is planned).
        women_share: f64,
        young_share: f64,
        young_age_limit: i32,
        cadres: Vec<PlannedCadre>,
    }

    RosterMember {
        member: String,
        name: String,
        sex: &'static str,
        status: &'static str,
        home_locality: String,
        admitted: Date,
        exempted: bool,
    }

    Roster {
        org: String,
        name: String,
        kind: &'static str,
        date: Date,
        seq: u64,
        active: bool,
        members: Vec<RosterMember>,
        /// Members of other organizations on temporary activity here: not counted as members.
        temporary: Vec<TemporaryMember>,
    }
}

// The points of the series over time (`projection/series.rs`).
objects! {
    /// One point of the coverage series: `coverage`'s counts on `date`.
    CoveragePoint {
        date: Date,
        localities: u64,
        with_member: u64,
        with_cell: u64,
        temporary_only: u64,
    }

    /// One point of the temporary-activity series: `temporaryActivity`'s counts on `date`.
    TemporaryActivityPoint {
        date: Date,
        members: u64,
        from_border_posts: u64,
        hosts: u64,
    }

    /// One point of the standardization series: `standardization`'s counts on `date`.
    StandardizationPoint {
        date: Date,
        /// Cadres assessed under the programme by `date`.
        assessed: u64,
        /// Cadres below standard on `date`: assessed with gaps, neither standardized nor retired.
        below_standard: u64,
        standardized: u64,
        retired_under_policy: u64,
    }
}

// An entity's history (`history.rs`).
objects! {
    /// Every event that named an entity, as of `at`.
    History {
        entity: String,
        kind: &'static str,
        date: Date,
        seq: u64,
        events: Vec<HistoryEvent>,
    }

    /// One event in the history of an entity.
    HistoryEvent {
        seq: u64,
        effective: Date,
        #[graphql(name = "type")]
        type_name: &'static str,
        recorded_at: Timestamp,
        actor: String,
        hash: String,
    }
    {
        /// The event's fields as the log holds them, without `type` and `effective`.
        async fn fields(&self) -> Json<&Value> {
            Json(&self.fields)
        }
    }
}

// The proofs (`proofs.rs`): their JSON's `type` is GraphQL's `type` too.
objects! {
    /// An inclusion proof: event `seq` (leaf `seq - 1`) is in the tree of `size` events whose
    /// root is `root`.
    InclusionProof {
        /// `inclusion`.
        #[graphql(name = "type")]
        kind: String,
        seq: u64,
        size: u64,
        /// The event's hash (hex); the leaf is derived from it.
        event_hash: String,
        root: String,
        /// The RFC 9162 audit path, from the leaf up, in hex.
        proof: Vec<String>,
    }

    /// A consistency proof: the tree of `from` events (root `from_root`) is a prefix of the tree
    /// of `to` events (root `to_root`).
    ConsistencyProof {
        /// `consistency`.
        #[graphql(name = "type")]
        kind: String,
        from: u64,
        to: u64,
        from_root: String,
        to_root: String,
        /// The RFC 9162 consistency proof, in hex.
        proof: Vec<String>,
    }
}
