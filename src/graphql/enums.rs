//! The domain's enumerations as GraphQL enums: the catalogue's (`LocalityKind`, `Sex`, ...),
//! a series' `Interval` and a member's `MemberStatus`. The domain declares them with serde only; this module gives
//! each its GraphQL type, so that `event` and `projection` know nothing of GraphQL.
//!
//! For each, a private mirror enum with the same variants derives async-graphql's `Enum`
//! (its name, its SCREAMING_CASE values, and its description from the doc comment here),
//! and the domain enum's own `InputType` and `OutputType` hand over to the mirror. Resolvers
//! and input objects keep taking and returning the domain enums themselves, and the
//! conversions both ways are exhaustive matches: a variant added to the domain and not here
//! does not compile.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, InputType, InputValueError, InputValueResult, OutputType, Positioned, ServerResult, Value,
};

use crate::event::{
    DisciplineForm, EndReason, InstrumentKind, LocalityKind, MeetingKind, OrgKind, ProfileField, QualityLevel,
    ResolutionTopic, Sex, StandardDimension, VerificationOutcome,
};
use crate::projection::series::Interval;
use crate::projection::MemberStatus;

/// Declares the GraphQL enum of each domain enum listed, with its description (the doc
/// comments) and its variants in the domain's order, which is the order of the schema's
/// values. The enums under `catalogue` are written in snake_case in the log, which their
/// description says.
macro_rules! graphql_enums {
    (
        catalogue {
            $($(#[doc = $cdoc:literal])* $cname:ident { $($cvariant:ident),+ $(,)? })+
        }
        $($(#[doc = $doc:literal])* $name:ident { $($variant:ident),+ $(,)? })*
    ) => {
        graphql_enums!(@each
            $(
                $(#[doc = $cdoc])*
                ///
                /// In JSON its values are snake_case; in GraphQL, SCREAMING_CASE.
                $cname { $($cvariant),+ }
            )+
            $($(#[doc = $doc])* $name { $($variant),+ })*
        );
    };
    (@each $($(#[doc = $doc:literal])* $name:ident { $($variant:ident),+ })+) => {
        /// The mirrors async-graphql derives the types from, named as the domain's enums.
        mod mirror {
            $(
                $(#[doc = $doc])*
                #[derive(Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
                pub enum $name { $($variant),+ }
            )+
        }

        $(
            impl From<$name> for mirror::$name {
                fn from(value: $name) -> Self {
                    match value {
                        $($name::$variant => mirror::$name::$variant,)+
                    }
                }
            }

            impl From<mirror::$name> for $name {
                fn from(value: mirror::$name) -> Self {
                    match value {
                        $(mirror::$name::$variant => $name::$variant,)+
                    }
                }
            }

            impl InputType for $name {
                type RawValueType = Self;

                fn type_name() -> Cow<'static, str> {
                    <mirror::$name as InputType>::type_name()
                }

                fn create_type_info(registry: &mut Registry) -> String {
                    <mirror::$name as InputType>::create_type_info(registry)
                }

                // The mirror has the same name, so its refusals read the same.
                fn parse(value: Option<Value>) -> InputValueResult<Self> {
                    <mirror::$name as InputType>::parse(value)
                        .map(Self::from)
                        .map_err(InputValueError::propagate)
                }

                fn to_value(&self) -> Value {
                    mirror::$name::from(*self).to_value()
                }

                fn as_raw_value(&self) -> Option<&Self> {
                    Some(self)
                }
            }

            impl OutputType for $name {
                fn type_name() -> Cow<'static, str> {
                    <mirror::$name as OutputType>::type_name()
                }

                fn create_type_info(registry: &mut Registry) -> String {
                    <mirror::$name as OutputType>::create_type_info(registry)
                }

                async fn resolve(&self, _: &ContextSelectionSet<'_>, _: &Positioned<Field>) -> ServerResult<Value> {
                    Ok(self.to_value())
                }
            }
        )+
    };
}

graphql_enums! {
    catalogue {
        /// Levels of place, from the province down to the hamlet and residential group.
        LocalityKind { Province, District, Commune, Hamlet, ResidentialGroup }

        /// Levels of party organization.
        OrgKind {
            ProvincialCommittee, DistrictCommittee, GrassrootsCommittee, Cell, BorderPostCommittee,
        }

        /// The conclusion of a background verification (xác minh lý lịch).
        VerificationOutcome { Cleared, Refused }

        Sex { Female, Male }

        /// Disciplinary forms of the Charter, from lightest to heaviest.
        DisciplineForm { Reprimand, Warning, Dismissal, Expulsion }

        /// Why a membership ended.
        EndReason { Expelled, Removed, Resigned, Died }

        /// The member profile fields a correction (phiếu bổ sung) may set.
        ProfileField { Name, Sex, BirthDate, HomeLocality }

        /// Kinds of instrument (văn bản) that events cite.
        InstrumentKind { Directive, Guidance, Resolution, Project, Regulation, Decision, Conclusion }

        /// The dimensions of the cadre standard; a gap is one of them not met.
        StandardDimension { Education, Professional, PoliticalTheory, StateManagement }

        MeetingKind { Regular, Thematic }

        /// What a cell resolution is about; the article names roads, land donation and public works.
        ResolutionTopic { RuralRoads, LandDonation, PublicWorks, Economy, Security, PartyBuilding, Other }

        /// The annual quality rating; an organization rated `weak` is a "weak cell" in reports.
        QualityLevel { Excellent, Good, Fair, Weak }
    }

    /// The step between two points of a series.
    Interval { Day, Week, Month, Quarter, Year }

    MemberStatus { Probationary, Official }
}
