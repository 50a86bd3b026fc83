//! Proofs and checkpoints of the ledger: inclusion and consistency proofs as JSON, signed
//! checkpoints with the projection commitment, and the offline checks an auditor runs
//! against an earlier checkpoint (FORMAT.md, sections 12 to 15).
//!
//! The pieces are pure where they can be: [`crate::merkle`] hashes and proves,
//! [`crate::checkpoint`] signs and opens notes; this module ties them to the log.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointError, SigningKey, VerifierKey};
use crate::event::{Hash, Record};
use crate::merkle::{self, Frontier, TreeError, TreeNodes};
use crate::projection::Projection;

/// The extension line of a checkpoint that carries the projection commitment:
/// `projection v1 <64 hex>`.
pub const PROJECTION_EXTENSION: &str = "projection v1 ";

/// An inclusion proof: event `seq` (leaf `seq - 1`) is in the tree of `size` events whose
/// root is `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// `inclusion`.
    #[serde(rename = "type")]
    pub kind: String,
    pub seq: u64,
    pub size: u64,
    /// The event's hash (hex); the leaf is derived from it.
    pub event_hash: String,
    pub root: String,
    /// The RFC 9162 audit path, from the leaf up, in hex.
    pub proof: Vec<String>,
}

/// A consistency proof: the tree of `from` events (root `from_root`) is a prefix of the tree
/// of `to` events (root `to_root`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// `consistency`.
    #[serde(rename = "type")]
    pub kind: String,
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    /// The RFC 9162 consistency proof, in hex.
    pub proof: Vec<String>,
}

/// Why a proof, a checkpoint or a verification against one failed. Each names what failed
/// (`check`) and, where there is one, the record (`seq`); a CLI prints it as JSON and exits 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{check}: {error}")]
pub struct AuditFailure {
    /// What failed: `proof`, `arguments`, `signature`, `size`, `root`, `projection`, `chain`.
    pub check: &'static str,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl AuditFailure {
    pub fn new(check: &'static str, error: impl Into<String>) -> AuditFailure {
        AuditFailure {
            check,
            error: error.into(),
            seq: None,
        }
    }
}

fn tree_failure(e: TreeError) -> AuditFailure {
    AuditFailure::new("proof", e.to_string())
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_hex).collect()
}

fn parse_hash(what: &str, s: &str) -> Result<Hash, AuditFailure> {
    Hash::parse(s).map_err(|e| AuditFailure::new("proof", format!("{what}: {e}")))
}

fn parse_hashes(s: &[String]) -> Result<Vec<Hash>, AuditFailure> {
    s.iter()
        .enumerate()
        .map(|(i, h)| parse_hash(&format!("proof[{i}]"), h))
        .collect()
}

/// The inclusion proof of event `seq` in the tree of `size` events, from stored nodes.
/// `head` is the number of events the store holds; `size` defaults to it.
pub fn inclusion(
    nodes: &(impl TreeNodes + ?Sized),
    event_hash: Hash,
    seq: u64,
    size: Option<u64>,
    head: u64,
) -> Result<InclusionProof, AuditFailure> {
    let size = size.unwrap_or(head);
    if size > head {
        return Err(AuditFailure::new(
            "arguments",
            format!("size {size} is past the head of the ledger ({head})"),
        ));
    }
    if seq == 0 || seq > size {
        return Err(AuditFailure::new(
            "arguments",
            format!("seq {seq} is not in a tree of {size} events (seqs 1 to {size})"),
        ));
    }
    let path = merkle::inclusion_proof(nodes, seq - 1, size).map_err(tree_failure)?;
    let root = merkle::root(nodes, size).map_err(tree_failure)?;
    Ok(InclusionProof {
        kind: "inclusion".into(),
        seq,
        size,
        event_hash: event_hash.to_hex(),
        root: root.to_hex(),
        proof: hexes(&path),
    })
}

/// The consistency proof between the trees of `from` and `to` events, from stored nodes;
/// `to` defaults to the head.
pub fn consistency(
    nodes: &(impl TreeNodes + ?Sized),
    from: u64,
    to: Option<u64>,
    head: u64,
) -> Result<ConsistencyProof, AuditFailure> {
    let to = to.unwrap_or(head);
    if to > head {
        return Err(AuditFailure::new(
            "arguments",
            format!("--to {to} is past the head of the ledger ({head})"),
        ));
    }
    if from == 0 || from > to {
        return Err(AuditFailure::new(
            "arguments",
            format!("a consistency proof needs 0 < from <= to; from is {from} and to is {to}"),
        ));
    }
    let proof = merkle::consistency_proof(nodes, from, to).map_err(tree_failure)?;
    Ok(ConsistencyProof {
        kind: "consistency".into(),
        from,
        to,
        from_root: merkle::root(nodes, from).map_err(tree_failure)?.to_hex(),
        to_root: merkle::root(nodes, to).map_err(tree_failure)?.to_hex(),
        proof: hexes(&proof),
    })
}

/// A proof read from a file: either kind, told apart by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnyProof {
    Inclusion(InclusionProof),
    Consistency(ConsistencyProof),
}

impl AnyProof {
    pub fn parse(text: &str) -> Result<AnyProof, AuditFailure> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| AuditFailure::new("proof", format!("not a proof file: {e}")))?;
        match value.get("type").and_then(|t| t.as_str()) {
            Some("inclusion") => serde_json::from_value(value)
                .map(AnyProof::Inclusion)
                .map_err(|e| AuditFailure::new("proof", format!("an inclusion proof: {e}"))),
            Some("consistency") => serde_json::from_value(value)
                .map(AnyProof::Consistency)
                .map_err(|e| AuditFailure::new("proof", format!("a consistency proof: {e}"))),
            _ => Err(AuditFailure::new(
                "proof",
                "not a proof file: `type` must be \"inclusion\" or \"consistency\"",
            )),
        }
    }

    /// Checks the proof against its own roots, or against `checkpoint` (whose size must be
    /// the proof's tree size, or either end of a consistency proof), and says what was
    /// proved.
    pub fn verify(&self, checkpoint: Option<&Checkpoint>) -> Result<String, AuditFailure> {
        match self {
            AnyProof::Inclusion(p) => {
                let (size, root) = match checkpoint {
                    Some(cp) if cp.size != p.size => {
                        return Err(AuditFailure::new(
                            "size",
                            format!(
                                "the proof is for a tree of {} events but the checkpoint signs {}",
                                p.size, cp.size
                            ),
                        ))
                    }
                    Some(cp) => (cp.size, cp.root),
                    None => (p.size, parse_hash("root", &p.root)?),
                };
                if p.seq == 0 {
                    return Err(AuditFailure::new("proof", "seq 0 is no event"));
                }
                let leaf = parse_hash("event_hash", &p.event_hash)?;
                merkle::verify_inclusion(&leaf, p.seq - 1, size, &parse_hashes(&p.proof)?, &root)
                    .map_err(tree_failure)?;
                Ok(format!("event {} is in the tree of {size} events", p.seq))
            }
            AnyProof::Consistency(p) => {
                let mut from_root = parse_hash("from_root", &p.from_root)?;
                let mut to_root = parse_hash("to_root", &p.to_root)?;
                match checkpoint {
                    Some(cp) if cp.size == p.to => to_root = cp.root,
                    Some(cp) if cp.size == p.from => from_root = cp.root,
                    Some(cp) => {
                        return Err(AuditFailure::new(
                            "size",
                            format!(
                                "the proof joins trees of {} and {} events but the checkpoint signs {}",
                                p.from, p.to, cp.size
                            ),
                        ))
                    }
                    None => {}
                }
                merkle::verify_consistency(p.from, p.to, &from_root, &to_root, &parse_hashes(&p.proof)?)
                    .map_err(tree_failure)?;
                Ok(format!(
                    "the tree of {} events is a prefix of the tree of {} events",
                    p.from, p.to
                ))
            }
        }
    }
}

/// The checkpoint of a projection's head: the tree root at that size from stored nodes, and
/// the projection commitment as its extension line.
pub fn checkpoint_of(
    projection: &Projection,
    nodes: &(impl TreeNodes + ?Sized),
    origin: &str,
) -> Result<Checkpoint, AuditFailure> {
    let size = projection.head().seq;
    let root = merkle::root(nodes, size).map_err(tree_failure)?;
    Ok(Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
        extensions: vec![format!("{PROJECTION_EXTENSION}{}", projection.commitment().to_hex())],
    })
}

/// Signs a checkpoint.
pub fn sign(checkpoint: &Checkpoint, key: &SigningKey) -> Result<String, AuditFailure> {
    checkpoint
        .sign(key)
        .map_err(|e| AuditFailure::new("signature", e.to_string()))
}

/// Opens a signed checkpoint with the verifier key.
pub fn open_checkpoint(text: &str, key: &VerifierKey) -> Result<Checkpoint, AuditFailure> {
    Checkpoint::open(text, key).map_err(|e: CheckpointError| AuditFailure::new("signature", e.to_string()))
}

/// The projection commitment a checkpoint carries.
pub fn committed_projection(checkpoint: &Checkpoint) -> Result<Hash, AuditFailure> {
    let line = checkpoint
        .extensions
        .iter()
        .find_map(|l| l.strip_prefix(PROJECTION_EXTENSION))
        .ok_or_else(|| {
            AuditFailure::new(
                "projection",
                format!("the checkpoint has no `{}<hex>` line", PROJECTION_EXTENSION.trim_end()),
            )
        })?;
    Hash::parse(line).map_err(|e| AuditFailure::new("projection", format!("the projection line: {e}")))
}

/// What an auditor's replay of a log found against an earlier checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointVerdict {
    pub origin: String,
    pub size: u64,
    pub root: String,
    pub projection: String,
}

/// Replays records in `seq` order (already chain-checked by the caller) and checks them
/// against a checkpoint: the log reaches its size (else its tail was cut), the tree of its
/// first `size` events has its root (else the past was rewritten, or this is a fork), and
/// the projection folded from them has its commitment (else the projection it committed to
/// was wrong).
pub struct CheckpointReplay<'a> {
    checkpoint: &'a Checkpoint,
    frontier: Frontier,
    projection: Projection,
}

impl<'a> CheckpointReplay<'a> {
    pub fn new(checkpoint: &'a Checkpoint) -> CheckpointReplay<'a> {
        CheckpointReplay {
            checkpoint,
            frontier: Frontier::new(),
            projection: Projection::new(),
        }
    }

    /// Takes the next record; records past the checkpoint's size are not needed.
    pub fn push(&mut self, record: &Record) {
        if self.frontier.size() < self.checkpoint.size {
            self.frontier.push(&record.hash());
            self.projection.fold_unsettled(record);
        }
    }

    /// The verdict once every record has been pushed.
    pub fn finish(self, events: u64) -> Result<CheckpointVerdict, AuditFailure> {
        let cp = self.checkpoint;
        if events < cp.size {
            return Err(AuditFailure {
                check: "size",
                error: format!(
                    "the ledger holds {events} events but the checkpoint signed {}: its tail was cut",
                    cp.size
                ),
                seq: Some(events + 1),
            });
        }
        let root = self.frontier.root();
        if root != cp.root {
            return Err(AuditFailure {
                check: "root",
                error: format!(
                    "the first {} events are not those the checkpoint signed (root {} here, {} signed): \
                     the history was rewritten, or this is another ledger's fork",
                    cp.size,
                    root.to_hex(),
                    cp.root.to_hex()
                ),
                seq: None,
            });
        }
        let committed = committed_projection(cp)?;
        let mut projection = self.projection;
        projection.settle();
        let replayed = projection.commitment();
        if replayed != committed {
            return Err(AuditFailure::new(
                "projection",
                format!(
                    "the projection replayed from the first {} events has commitment {}, \
                     but the checkpoint committed to {}",
                    cp.size,
                    replayed.to_hex(),
                    committed.to_hex()
                ),
            ));
        }
        Ok(CheckpointVerdict {
            origin: cp.origin.clone(),
            size: cp.size,
            root: root.to_hex(),
            projection: replayed.to_hex(),
        })
    }
}
