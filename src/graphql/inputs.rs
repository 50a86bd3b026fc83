//! The input side of `append`: `EventInput`, a `@oneOf` input object with one field per
//! event type (`localityRegistered`, `memberAdmitted`, ...), each holding that event's
//! fields in camelCase plus `effective` and an optional `decision`.
//!
//! GraphQL checks the shape (names, types, enumerations); the values then go through the
//! very checks a line of `orgledger append` goes through ([`Submission::from_object`]): an
//! input is turned into the JSON object of a line, with the field names of FORMAT.md.

use async_graphql::{InputObject, OneofObject};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::event::*;

/// The decision an event rests on (quyết định): its number, date and issuing body.
#[derive(Debug, Clone, InputObject, Serialize)]
pub struct DecisionInput {
    /// The decision's number, as written on it (`125-QĐ/HU`).
    pub number: String,
    pub date: Date,
    /// The id of the issuing body.
    pub issuer: String,
}

/// Declares the input object of each event type and `EventInput`, from one list of the
/// events' fields as GraphQL types (ids and text are `String`s, checked by the ledger).
macro_rules! event_inputs {
    ($($event:ident / $input:ident { $($field:ident : $ty:ty),* $(,)? })+) => {
        $(
            #[doc = concat!("The fields of the event `", stringify!($event), "`, with its valid time.")]
            #[derive(Debug, Clone, InputObject, Serialize)]
            pub struct $input {
                /// The date the change took effect (valid time); may be long past.
                pub effective: Date,
                /// The decision the change rests on, where there is one.
                pub decision: Option<DecisionInput>,
                $(pub $field: $ty,)*
            }
        )+

        /// One event to append: exactly one field is set, named after the event's type.
        #[derive(Debug, Clone, OneofObject)]
        pub enum EventInput {
            $($event($input),)+
        }

        impl EventInput {
            /// The event's `type`, as written in the log.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(EventInput::$event(_) => stringify!($event),)+
                }
            }

            fn fields(&self) -> Value {
                match self {
                    $(EventInput::$event(input) => serde_json::to_value(input),)+
                }
                .expect("inputs serialize")
            }
        }
    };
}

event_inputs! {
    LocalityRegistered / LocalityRegisteredInput {
        locality: String, name: String, kind: LocalityKind, parent: Option<String>, border: bool,
    }
    LocalityChanged / LocalityChangedInput {
        locality: String, name: Option<String>, parent: Option<String>, border: Option<bool>,
    }
    LocalityRetired / LocalityRetiredInput { locality: String, merged_into: Option<String> }
    OrganizationFounded / OrganizationFoundedInput {
        org: String, name: String, kind: OrgKind, parent: Option<String>, localities: Vec<String>,
    }
    OrganizationRenamed / OrganizationRenamedInput { org: String, name: String }
    OrganizationDissolved / OrganizationDissolvedInput { org: String, merged_into: Option<String> }
    BackgroundVerified / BackgroundVerifiedInput {
        person: String, outcome: VerificationOutcome, kin_abroad: bool,
    }
    MemberAdmitted / MemberAdmittedInput {
        member: String, name: String, sex: Sex, birth_date: Date, home_locality: String, org: String,
        introducers: Option<Vec<String>>,
    }
    MemberOfficialized / MemberOfficializedInput { member: String }
    MemberTransferred / MemberTransferredInput {
        member: String, to_org: String, home_locality: Option<String>,
    }
    TemporaryActivityStarted / TemporaryActivityStartedInput {
        member: String, host_org: String, until: Option<Date>,
    }
    TemporaryActivityEnded / TemporaryActivityEndedInput { member: String, host_org: String }
    MemberExempted / MemberExemptedInput { member: String, reason: String }
    ExemptionRevoked / ExemptionRevokedInput { member: String }
    MemberDisciplined / MemberDisciplinedInput { member: String, form: DisciplineForm }
    MembershipEnded / MembershipEndedInput { member: String, reason: EndReason }
    ProfileCorrected / ProfileCorrectedInput {
        subject: String, field: ProfileField, value: String, reason: String,
    }
    InstrumentIssued / InstrumentIssuedInput {
        instrument: String, kind: InstrumentKind, title: String, issuer: String,
        starts: Option<Date>, ends: Option<Date>,
    }
    PositionAssigned / PositionAssignedInput {
        person: String, org: String, position: String, term: Option<String>,
    }
    PositionEnded / PositionEndedInput { person: String, org: String, position: String }
    CadrePlanned / CadrePlannedInput { person: String, term: String, position: String, org: String }
    CadreUnplanned / CadreUnplannedInput { person: String, term: String }
    CadreAssessed / CadreAssessedInput {
        person: String, programme: String, meets_standard: bool, gaps: Vec<StandardDimension>,
    }
    TrainingCompleted / TrainingCompletedInput {
        person: String, course: String, dimension: StandardDimension, level: String,
        programme: Option<String>,
    }
    CadreStandardized / CadreStandardizedInput { person: String, programme: String }
    CadreRetiredUnderPolicy / CadreRetiredUnderPolicyInput { person: String, programme: String }
    SupervisorAssigned / SupervisorAssignedInput { member: String, cell: String }
    SupervisorReleased / SupervisorReleasedInput { member: String, cell: String }
    CellMeetingHeld / CellMeetingHeldInput {
        cell: String, kind: MeetingKind, attendance: u32, supervisor_present: Option<bool>,
        topics: Option<Vec<String>>,
    }
    ResolutionAdopted / ResolutionAdoptedInput {
        cell: String, resolution: String, topic: ResolutionTopic, title: String,
    }
    QualityRated / QualityRatedInput { subject: String, year: i32, level: QualityLevel }
}

impl EventInput {
    /// The event as a line of `orgledger append` input would hold it: `type`, `effective`,
    /// `decision` when given, and the event's fields under their log names. Fields left out
    /// (`null`) are absent, as optional fields are in the log.
    pub fn to_object(&self) -> Map<String, Value> {
        let Value::Object(mut map) = self.fields() else {
            unreachable!("an input object serializes to an object")
        };
        map.retain(|_, v| !v.is_null());
        map.insert("type".into(), Value::String(self.type_name().into()));
        map
    }

    /// The submission, checked as a line of input is checked.
    pub fn to_submission(&self) -> Result<Submission, InputError> {
        Submission::from_object(self.to_object())
    }
}
