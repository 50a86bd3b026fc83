//! `orgledger proof`, `verify-proof`, `checkpoint`, `key public`, and `verify` against a
//! checkpoint: what an auditor runs, on the store or offline on files.
//!
//! A failed check prints one JSON object on stdout, `{"ok":false,"check":…,"error":…}` (with
//! `seq` where a record is named), and exits 1.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::CommandError;
use crate::checkpoint::{self, SigningKey, VerifierKey};
use crate::ledger::{Ledger, LedgerOptions};
use crate::proofs::{self, AnyProof, AuditFailure, CheckpointReplay};
use crate::store::Store;

/// The ledger's signing key, in the data directory unless `--key` says otherwise.
pub const KEY_FILE: &str = "checkpoint.key";

/// Prints a failure as JSON and turns it into exit code 1.
fn fail(failure: AuditFailure, out: &mut impl Write) -> CommandError {
    let mut value = serde_json::to_value(&failure).expect("failures serialize");
    value["ok"] = json!(false);
    let _ = writeln!(out, "{value}");
    CommandError::Rejected(failure.to_string())
}

fn read_text(path: &Path, what: &str) -> Result<String, CommandError> {
    std::fs::read_to_string(path).map_err(|e| CommandError::Failed(format!("{what} {}: {e}", path.display())))
}

/// The name a new key (and so the checkpoints' origin) gets when none is given:
/// `orgledger.local/<data directory name>`, kept to the characters a key name allows.
fn default_origin(data: &Path) -> String {
    let dir = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
    let name: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ledger".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("orgledger.local/{name}")
}

/// The signing key at `--key` (or `DATA/checkpoint.key`), created on first use with the name
/// `--origin` (or the default origin); an existing key keeps its own name, and an `--origin`
/// that differs from it is refused.
pub fn signing_key(data: &Path, key: Option<&Path>, origin: Option<&str>) -> Result<SigningKey, CommandError> {
    let path: PathBuf = key.map(Path::to_path_buf).unwrap_or_else(|| data.join(KEY_FILE));
    let key = if path.exists() {
        checkpoint::load_key(&path).map_err(|e| CommandError::Failed(e.to_string()))?
    } else {
        if key.is_none() {
            // The default key lives beside a ledger: none is made for a directory without one.
            super::require_ledger(data)?;
        }
        let name = origin.map(str::to_owned).unwrap_or_else(|| default_origin(data));
        checkpoint::load_or_create_key(&path, &name).map_err(|e| CommandError::Failed(e.to_string()))?
    };
    if let Some(o) = origin.filter(|o| *o != key.name()) {
        return Err(CommandError::Failed(format!(
            "--origin {o}: the key {} is named {}; a ledger's checkpoints carry its key's name",
            path.display(),
            key.name()
        )));
    }
    Ok(key)
}

/// The store, for proofs: its tree must reach its head (a writer fills it in on open).
fn proof_store(data: &Path) -> Result<(Store, u64), CommandError> {
    let store = Store::open(data, false)?;
    let head = store.head()?.seq;
    let held = store.tree_size()?;
    if held < head {
        return Err(CommandError::Failed(format!(
            "the store's Merkle tree holds {held} of its {head} events; open it once with a writer \
             (`orgledger checkpoint` does) to fill it in"
        )));
    }
    Ok((store, head))
}

/// `orgledger proof inclusion --seq N [--size M]`.
pub fn proof_inclusion(data: &Path, seq: u64, size: Option<u64>, out: &mut impl Write) -> Result<(), CommandError> {
    let (store, head) = proof_store(data)?;
    let hash = match store.raw(seq)? {
        Some((hash, _)) if seq <= head => hash,
        _ => {
            return Err(fail(
                AuditFailure::new("arguments", format!("seq {seq} is not in the ledger (1 to {head})")),
                out,
            ))
        }
    };
    print_proof(proofs::inclusion(&store, hash, seq, size, head), out)
}

/// Prints a proof as one line of JSON, or its failure.
fn print_proof(proof: Result<impl serde::Serialize, AuditFailure>, out: &mut impl Write) -> Result<(), CommandError> {
    match proof {
        Ok(p) => Ok(writeln!(
            out,
            "{}",
            serde_json::to_string(&p).expect("proofs serialize")
        )?),
        Err(f) => Err(fail(f, out)),
    }
}

/// `orgledger proof consistency --from M [--to N]`.
pub fn proof_consistency(data: &Path, from: u64, to: Option<u64>, out: &mut impl Write) -> Result<(), CommandError> {
    let (store, head) = proof_store(data)?;
    print_proof(proofs::consistency(&store, from, to, head), out)
}

/// The witnesses a checkpoint must be cosigned by: `--witness-key FILE ...` and
/// `--quorum K` (default: all of them).
#[derive(Clone, Debug, Default)]
pub struct Quorum {
    pub keys: Vec<PathBuf>,
    pub k: Option<usize>,
}

/// A checkpoint file opened with a verifier key file, and cosigned by a quorum of witnesses.
fn open_checkpoint_files(
    cp: &Path,
    key: &Path,
    quorum: &Quorum,
) -> Result<Result<checkpoint::Checkpoint, AuditFailure>, CommandError> {
    let text = read_text(cp, "checkpoint")?;
    let key_text = read_text(key, "verifier key")?;
    let key = match VerifierKey::parse(&key_text) {
        Ok(k) => k,
        Err(e) => return Ok(Err(AuditFailure::new("key", format!("{}: {e}", key.display())))),
    };
    let opened = proofs::open_checkpoint(&text, &key);
    if opened.is_err() || quorum.keys.is_empty() {
        return Ok(opened);
    }
    let mut witnesses = Vec::new();
    for path in &quorum.keys {
        match VerifierKey::parse(&read_text(path, "witness key")?) {
            Ok(k) if k.kind() == checkpoint::KeyType::Cosigner => witnesses.push(k),
            Ok(_) => {
                return Ok(Err(AuditFailure::new(
                    "key",
                    format!("{}: a ledger's key (type 0x01), not a witness's (0x04)", path.display()),
                )))
            }
            Err(e) => return Ok(Err(AuditFailure::new("key", format!("{}: {e}", path.display())))),
        }
    }
    Ok(opened.and_then(|c| check_quorum(&text, &witnesses, quorum.k.unwrap_or(witnesses.len())).map(|()| c)))
}

/// At least `k` of `witnesses` cosigned the checkpoint `note`.
fn check_quorum(note: &str, witnesses: &[VerifierKey], k: usize) -> Result<(), AuditFailure> {
    let verdicts = checkpoint::cosignatures(note, witnesses).map_err(|e| AuditFailure::new("quorum", e.to_string()))?;
    let valid = verdicts
        .iter()
        .filter(|v| matches!(v, checkpoint::Cosigned::Valid { .. }))
        .count();
    if valid >= k {
        return Ok(());
    }
    let missing: Vec<String> = witnesses
        .iter()
        .zip(&verdicts)
        .filter_map(|(w, v)| {
            let label = w.label();
            match v {
                checkpoint::Cosigned::Valid { .. } => None,
                checkpoint::Cosigned::Missing => Some(format!("{label}: no cosignature")),
                checkpoint::Cosigned::Invalid { line } => {
                    Some(format!("{label}: the cosignature on line {line} does not verify"))
                }
            }
        })
        .collect();
    Err(AuditFailure::new(
        "quorum",
        format!(
            "{valid} valid cosignature(s) of the {} witnesses given, {k} needed ({})",
            witnesses.len(),
            missing.join("; ")
        ),
    ))
}

/// `orgledger verify-proof FILE [--checkpoint CP --key VKEY]`.
pub fn verify_proof(
    file: &Path,
    against: Option<(&Path, &Path)>,
    quorum: &Quorum,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    let text = read_text(file, "proof")?;
    let checkpoint = match against {
        Some((cp, key)) => match open_checkpoint_files(cp, key, quorum)? {
            Ok(c) => Some(c),
            Err(f) => return Err(fail(f, out)),
        },
        None => None,
    };
    let verdict = AnyProof::parse(&text).and_then(|p| p.verify(checkpoint.as_ref()));
    match verdict {
        Ok(what) => Ok(writeln!(out, "{}", json!({"ok": true, "proved": what}))?),
        Err(f) => Err(fail(f, out)),
    }
}

/// `orgledger checkpoint [--key FILE] [--origin NAME] [--witness URL=VKEY_FILE ... --quorum
/// K]`: a fresh signed checkpoint of the head, with the projection commitment; with witnesses,
/// cosigned by at least K of them (the cosignature lines follow the ledger's signature).
pub fn checkpoint(
    data: &Path,
    key: Option<&Path>,
    origin: Option<&str>,
    witnesses: &[String],
    quorum: Option<usize>,
    ca: Option<&Path>,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    let client = crate::tls::client(ca).map_err(|e| CommandError::Failed(format!("--ca {e}")))?;
    let endpoints = if witnesses.is_empty() {
        None
    } else {
        Some(super::witness::endpoints(witnesses, quorum)?)
    };
    let ledger = Ledger::open(
        data,
        LedgerOptions {
            create: false,
            ..Default::default()
        },
    )?;
    let key = signing_key(data, key, origin)?;
    let projection = ledger.projection();
    ledger.projector_alive()?;
    let cp = proofs::checkpoint_of(&projection, ledger.store(), key.name()).map_err(|f| fail(f, out))?;
    let text = proofs::sign(&cp, &key).map_err(|f| fail(f, out))?;
    let Some((endpoints, k)) = endpoints else {
        write!(out, "{text}")?;
        return Ok(());
    };
    let store = ledger.store();
    let size = cp.size;
    let proof = |m: u64| crate::merkle::consistency_proof(store, m, size).map_err(|e| e.to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failed(format!("starting the runtime: {e}")))?;
    let mut known = vec![0; endpoints.len()];
    let (cosigned, count, failures) = runtime.block_on(crate::witness::collect(
        &client,
        &endpoints,
        &mut known,
        &text,
        size,
        crate::witness::ASK_TIMEOUT,
        proof,
    ));
    if count < k {
        return Err(fail(
            AuditFailure::new(
                "quorum",
                format!(
                    "{count} of {} witnesses cosigned, {k} needed: {}",
                    endpoints.len(),
                    failures.join("; ")
                ),
            ),
            out,
        ));
    }
    write!(out, "{cosigned}")?;
    Ok(())
}

/// `orgledger key public [--key FILE]`: the verifier key, `name+id+base64`.
pub fn key_public(
    data: &Path,
    key: Option<&Path>,
    origin: Option<&str>,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    let key = signing_key(data, key, origin)?;
    writeln!(out, "{}", key.verifier().to_text())?;
    Ok(())
}

/// A broken chain, as a failed check.
fn chain_failure(e: crate::chain::ChainError) -> AuditFailure {
    AuditFailure {
        check: "chain",
        error: e.error,
        seq: Some(e.seq),
    }
}

/// Prints the verdict of a replay against a checkpoint, after a good chain of `events`
/// ending at `head` whose tree has `root`.
fn print_against(
    verdict: Result<proofs::CheckpointVerdict, AuditFailure>,
    (events, head, root): (u64, crate::event::Hash, crate::event::Hash),
    out: &mut impl Write,
) -> Result<(), CommandError> {
    match verdict {
        Ok(v) => Ok(writeln!(
            out,
            "{}",
            json!({"ok": true, "events": events, "head": head.to_hex(), "root": root.to_hex(), "checkpoint": v})
        )?),
        Err(f) => Err(fail(f, out)),
    }
}

/// `orgledger verify --checkpoint CP --key VKEY` on the store: the chain, then the log
/// against the checkpoint (it still holds the history the checkpoint signed, and its
/// projection there is the one committed to).
pub fn verify_store_against(
    data: &Path,
    cp: &Path,
    key: &Path,
    quorum: &Quorum,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    let checkpoint = open_checkpoint_files(cp, key, quorum)?.map_err(|f| fail(f, out))?;
    let store = Store::open_unchecked(data, false)?;
    let verified = crate::ledger::caches::verify(&store)?.map_err(|e| fail(chain_failure(e), out))?;
    let mut replay = CheckpointReplay::new(&checkpoint);
    // Read on every core, folded in order (and settled once, at the end).
    store.for_each_record(1, checkpoint.size, |record| {
        replay.push(&record);
        Ok(())
    })?;
    let end = (verified.events, verified.head.hash, verified.root);
    print_against(replay.finish(verified.events), end, out)
}

/// `orgledger verify --file EXPORT --checkpoint CP --key VKEY`: the same from an export
/// file alone.
pub fn verify_file_against(
    file: &Path,
    cp: &Path,
    key: &Path,
    quorum: &Quorum,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    let checkpoint = open_checkpoint_files(cp, key, quorum)?.map_err(|f| fail(f, out))?;
    let input = std::fs::File::open(file).map_err(|e| CommandError::Failed(format!("{}: {e}", file.display())))?;
    let mut replay = CheckpointReplay::new(&checkpoint);
    let verdict = super::verify_export(std::io::BufReader::new(input), |record| {
        replay.push(&record);
        Ok(())
    })?;
    let (head, root) = verdict.map_err(|e| fail(chain_failure(e), out))?;
    print_against(replay.finish(head.seq), (head.seq, head.hash, root), out)
}
