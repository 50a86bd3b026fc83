//! The custom scalars: `Date` (valid time) and `Timestamp` (transaction time), both written
//! as in the log.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::event::{Date, Timestamp};

/// A calendar date, `YYYY-MM-DD`, from 1900-01-01 to 2100-12-31: the valid time of events
/// (`effective`) and the `date` reports are asked at.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Date::parse(s).map_err(InputValueError::custom),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    // Checked while the request is validated, so a bad literal is a 400 before anything runs.
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if Date::parse(s).is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// An instant in UTC with microseconds, `YYYY-MM-DDTHH:MM:SS.ffffffZ`: when the ledger
/// recorded an event (transaction time).
#[Scalar(name = "Timestamp")]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Timestamp::parse(s).map_err(InputValueError::custom),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if Timestamp::parse(s).is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}
