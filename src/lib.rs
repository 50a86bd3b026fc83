//! orgledger: an event-sourced, hash-chained ledger of a party organization.
//!
//! Module map (README.md has the longer code map):
//! - [`event`]: the catalogue, the envelope and the canonical bytes (pure);
//! - [`chain`]: hashing and chain verification (pure);
//! - [`merkle`]: the Merkle tree over the event hashes, its roots and proofs (pure);
//! - [`proofs`]: proofs as JSON, checkpoints of the head, checks against an old checkpoint;
//! - [`checkpoint`]: signed checkpoints (C2SP signed-note, tlog-checkpoint) and their keys;
//! - [`rules`]: validation of each event against the state, and the fold (pure);
//! - [`projection`]: the bitemporal read side, its reports and the snapshot codec (pure);
//! - [`history`]: an entity's history, the `seq`s the projection lists read back from the log;
//! - [`store`]: sled and nothing else: the log, its head, the tree's nodes, idempotency keys;
//! - [`ledger`]: the append path (writer, flusher, projector), replay at open, the caches;
//! - [`graphql`]: the GraphQL schema: queries, the typed append, subscriptions (no HTTP);
//! - [`server`]: the axum router, authentication, limits, `run(listener, config, shutdown)`;
//! - [`follower`]: a verified copy of another ledger, pulled from its export and checked
//!   against its signed checkpoints;
//! - [`tokens`]: bearer tokens and their roles, kept hashed beside the store;
//! - [`tls`]: the server's certificate (reloaded on change), its TLS listener, the rule that
//!   keeps plain HTTP on loopback, the HTTPS client, the self-signed set-up;
//! - [`commands`]: what each CLI command does, for `main.rs` to call;
//! - [`demo`] and [`generate`]: the Trùng Khánh demo ledger and the synthetic one, written
//!   through the ordinary append path.

pub mod chain;
pub mod checkpoint;
pub mod commands;
pub mod demo;
pub mod event;
pub mod follower;
pub mod generate;
pub mod graphql;
pub mod history;
pub mod ledger;
pub mod merkle;
pub mod parallel;
pub mod progress;
pub mod projection;
pub mod proofs;
pub mod rules;
pub mod server;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod web;
pub mod witness;
