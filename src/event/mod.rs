//! The event catalogue and its envelope: types, canonical encoding and record hashing.
//!
//! Architecture invariant: this module is pure. It does no IO and knows nothing of sled,
//! HTTP or the rules; it only says what an event looks like and what bytes its hash covers.

pub mod canonical;
pub mod canonical_de;
pub mod canonical_ser;
pub mod catalogue;
pub mod record;
pub mod types;

pub use catalogue::*;
pub use record::{
    event_hash, write_export_line, Decision, InputError, Record, RecordError, Submission, EVENT_HASH_CONTEXT,
    FORMAT_VERSION,
};
pub use types::{Date, Hash, Id, Text, Timestamp};
