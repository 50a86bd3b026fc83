//! orgledger: an event-sourced, hash-chained ledger of a party organization.
//!
//! Module map (README.md has the longer code map):
//! - [`event`]: the catalogue, the envelope and the canonical bytes (pure);
//! - [`chain`]: hashing and chain verification (pure);
//! - [`rules`]: validation of each event against the state, and the fold (pure);
//! - [`store`]: sled, the single writer with group commit, reads;
//! - [`commands`]: what each CLI command does, for `main.rs` to call.

pub mod chain;
pub mod commands;
pub mod demo;
pub mod event;
pub mod generate;
pub mod projection;
pub mod rules;
pub mod store;
