//! The event catalogue (v1): one struct per event type, named in the past tense, with the
//! JSON field names of the catalogue of FORMAT.md (section 11). The structs only describe
//! shape; whether an event may happen is decided by `rules`.

use serde::{Deserialize, Serialize};

use super::types::{Date, Id, Text};

/// Declares the catalogue once: the `Event` enum, its type names and the list of them.
macro_rules! catalogue {
    ($($name:ident),+ $(,)?) => {
        /// One organizational change, without its envelope.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum Event {
            $($name($name),)+
        }

        /// Every event type name, in catalogue order.
        pub const EVENT_TYPES: &[&str] = &[$(stringify!($name)),+];

        impl Event {
            /// The `type` of the event, as written in the log.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Event::$name(_) => stringify!($name),)+
                }
            }
        }
    };
}

catalogue! {
    LocalityRegistered, LocalityChanged, LocalityRetired,
    OrganizationFounded, OrganizationRenamed, OrganizationDissolved,
    BackgroundVerified, MemberAdmitted, MemberOfficialized, MemberTransferred,
    TemporaryActivityStarted, TemporaryActivityEnded,
    MemberExempted, ExemptionRevoked, MemberDisciplined, MembershipEnded, ProfileCorrected,
    InstrumentIssued, PositionAssigned, PositionEnded, CadrePlanned, CadreUnplanned,
    CadreAssessed, TrainingCompleted, CadreStandardized, CadreRetiredUnderPolicy,
    SupervisorAssigned, SupervisorReleased, CellMeetingHeld, ResolutionAdopted, QualityRated,
}

/// Declares a string enumeration written in snake_case, with the list of its values. (Its
/// GraphQL enum is declared in `graphql/enums.rs`: the catalogue knows only its JSON.)
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        ///
        /// In JSON its values are snake_case.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
    };
}

string_enum! {
    /// Levels of place, from the province down to the hamlet and residential group.
    LocalityKind {
        Province = "province", District = "district", Commune = "commune",
        Hamlet = "hamlet", ResidentialGroup = "residential_group",
    }
}

string_enum! {
    /// Levels of party organization.
    OrgKind {
        ProvincialCommittee = "provincial_committee", DistrictCommittee = "district_committee",
        GrassrootsCommittee = "grassroots_committee", Cell = "cell",
        BorderPostCommittee = "border_post_committee",
    }
}

string_enum! {
    /// The conclusion of a background verification (xác minh lý lịch).
    VerificationOutcome { Cleared = "cleared", Refused = "refused" }
}

string_enum! {
    Sex { Female = "female", Male = "male" }
}

string_enum! {
    /// Disciplinary forms of the Charter, from lightest to heaviest.
    DisciplineForm {
        Reprimand = "reprimand", Warning = "warning", Dismissal = "dismissal",
        Expulsion = "expulsion",
    }
}

string_enum! {
    /// Why a membership ended.
    EndReason { Expelled = "expelled", Removed = "removed", Resigned = "resigned", Died = "died" }
}

string_enum! {
    /// The member profile fields a correction (phiếu bổ sung) may set.
    ProfileField {
        Name = "name", Sex = "sex", BirthDate = "birth_date", HomeLocality = "home_locality",
    }
}

string_enum! {
    /// Kinds of instrument (văn bản) that events cite.
    InstrumentKind {
        Directive = "directive", Guidance = "guidance", Resolution = "resolution",
        Project = "project", Regulation = "regulation", Decision = "decision",
        Conclusion = "conclusion",
    }
}

string_enum! {
    /// The dimensions of the cadre standard; a gap is one of them not met.
    StandardDimension {
        Education = "education", Professional = "professional",
        PoliticalTheory = "political_theory", StateManagement = "state_management",
    }
}

string_enum! {
    MeetingKind { Regular = "regular", Thematic = "thematic" }
}

string_enum! {
    /// What a cell resolution is about; the article names roads, land donation and public works.
    ResolutionTopic {
        RuralRoads = "rural_roads", LandDonation = "land_donation", PublicWorks = "public_works",
        Economy = "economy", Security = "security", PartyBuilding = "party_building",
        Other = "other",
    }
}

string_enum! {
    /// The annual quality rating; an organization rated `weak` is a "weak cell" in reports.
    QualityLevel { Excellent = "excellent", Good = "good", Fair = "fair", Weak = "weak" }
}

/// A locality enters the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalityRegistered {
    pub locality: Id,
    pub name: Text,
    pub kind: LocalityKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    pub border: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalityChanged {
    pub locality: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub border: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalityRetired {
    pub locality: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationFounded {
    pub org: Id,
    pub name: Text,
    pub kind: OrgKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    pub localities: Vec<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationRenamed {
    pub org: Id,
    pub name: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationDissolved {
    pub org: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundVerified {
    pub person: Id,
    pub outcome: VerificationOutcome,
    pub kin_abroad: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberAdmitted {
    pub member: Id,
    pub name: Text,
    pub sex: Sex,
    pub birth_date: Date,
    pub home_locality: Id,
    pub org: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introducers: Option<Vec<Id>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberOfficialized {
    pub member: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberTransferred {
    pub member: Id,
    pub to_org: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_locality: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemporaryActivityStarted {
    pub member: Id,
    pub host_org: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemporaryActivityEnded {
    pub member: Id,
    pub host_org: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberExempted {
    pub member: Id,
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemptionRevoked {
    pub member: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDisciplined {
    pub member: Id,
    pub form: DisciplineForm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipEnded {
    pub member: Id,
    pub reason: EndReason,
}

/// A correction to a member's profile (phiếu bổ sung): a new fact, never an edit. `value` is
/// checked as the field's own type (a date for `birth_date`, a locality id for
/// `home_locality`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileCorrected {
    pub subject: Id,
    pub field: ProfileField,
    pub value: Text,
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentIssued {
    pub instrument: Id,
    pub kind: InstrumentKind,
    pub title: Text,
    pub issuer: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionAssigned {
    pub person: Id,
    pub org: Id,
    pub position: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionEnded {
    pub person: Id,
    pub org: Id,
    pub position: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CadrePlanned {
    pub person: Id,
    pub term: Id,
    pub position: Id,
    pub org: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CadreUnplanned {
    pub person: Id,
    pub term: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CadreAssessed {
    pub person: Id,
    pub programme: Id,
    pub meets_standard: bool,
    pub gaps: Vec<StandardDimension>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingCompleted {
    pub person: Id,
    pub course: Text,
    pub dimension: StandardDimension,
    pub level: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CadreStandardized {
    pub person: Id,
    pub programme: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CadreRetiredUnderPolicy {
    pub person: Id,
    pub programme: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorAssigned {
    pub member: Id,
    pub cell: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorReleased {
    pub member: Id,
    pub cell: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellMeetingHeld {
    pub cell: Id,
    pub kind: MeetingKind,
    pub attendance: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_present: Option<bool>,
    #[serde(default)]
    pub topics: Vec<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionAdopted {
    pub cell: Id,
    pub resolution: Id,
    pub topic: ResolutionTopic,
    pub title: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityRated {
    pub subject: Id,
    pub year: i32,
    pub level: QualityLevel,
}
