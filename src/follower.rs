//! A follower: a copy of another ledger (its leader) kept in a store of its own and checked
//! as it arrives. It pulls the leader's log from where its own store stopped
//! (`GET /export?from=N`), writes each record through [`Ledger::copy_records`], which checks
//! it as an import does (hash, `seq`, `prev`, every rule) and keeps the leader's `seq`,
//! `recorded_at`, actor and hash, and stores the Merkle tree's nodes with it. Each signed
//! checkpoint the leader serves (`GET /checkpoint`) is opened with the leader's verifier key
//! and compared with the follower's own tree at that size (the same root) and with the last
//! checkpoint it verified (a consistency proof between them, from its own tree). The first
//! disagreement stops it, naming the record's `seq` or the checkpoint's size.
//!
//! Why the export and not the `events` subscription: the export is the log's own bytes, one
//! canonical envelope a line, with the hashes the chain is checked by; the subscription
//! serves GraphQL objects, from which the canonical bytes would have to be rebuilt. A
//! range of the export is one plain HTTP request that resumes anywhere.
//!
//! The last checkpoint verified is kept in [`STATE_FILE`] beside the store, written whole
//! (a temporary file, synced, renamed) after the records it covers are durable: a follower
//! killed at any point resumes from its store's head and that checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use crate::checkpoint::{Checkpoint, VerifierKey};
use crate::event::{Hash, Record};
use crate::ledger::{AppendError, Ledger, PendingCopy};
use crate::merkle;

/// The file, in the follower's data directory, holding the last checkpoint it verified.
pub const STATE_FILE: &str = "follower.json";

/// The longest export line a follower reads, as `append` reads input lines: a longer one is
/// not a record.
const MAX_LINE_BYTES: usize = crate::commands::MAX_LINE_BYTES;

/// Why a follower stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// A record the leader served does not verify (hash, `seq`, `prev`, a rule, or the line
    /// does not parse). CLI exit 1. Not retryable: the leader's log is not the one this
    /// follower verified up to there.
    #[error("record {seq} from the leader does not verify: {error}")]
    Record { seq: u64, error: String },
    /// A checkpoint the leader served does not verify: its signature or origin, its root
    /// against the follower's own tree at its size, or its consistency with the last one
    /// verified. `size` is the checkpoint's size (0 when it could not be read). CLI exit 1.
    #[error("the leader's checkpoint of size {size} does not verify: {error}")]
    Checkpoint { size: u64, error: String },
    /// The leader refused the follower (a bad token, a wrong URL) or its answer is not
    /// what a leader serves. CLI exit 2: fix the command line.
    #[error("{0}")]
    Leader(String),
    /// The follower's own store or state file failed. CLI exit 2.
    #[error("{0}")]
    Local(String),
}

/// Where the follower follows from, and how.
#[derive(Clone, Debug)]
pub struct FollowConfig {
    /// The leader's base URL (`http://host:port`), without a trailing slash.
    pub leader: String,
    /// A bearer token of the leader with the auditor (or admin) role.
    pub token: String,
    /// The leader's verifier key: checkpoints must be signed by it and named for it.
    pub key: VerifierKey,
    /// How long to wait between two looks at the leader once caught up.
    pub poll: Duration,
    /// How many records go into one atomic group of the follower's store.
    pub batch: usize,
    /// Wakes the follower before its poll is due: a witness request names records it has not
    /// copied yet.
    pub nudge: Arc<Notify>,
    /// The CA certificates (PEM) the leader's HTTPS is checked against, in place of the
    /// system's roots (`follow --ca`).
    pub ca: Option<std::path::PathBuf>,
}

/// The last checkpoint a follower verified, as kept in [`STATE_FILE`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The leader's name, the checkpoint's origin.
    pub origin: String,
    pub size: u64,
    /// The Merkle root at `size`, in hex.
    pub root: String,
    /// The signed note as the leader served it.
    pub text: String,
}

/// What the follower reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The follower's store ends at `head`, behind the leader's checkpoint of `size`: it
    /// pulls the records between.
    Behind { head: u64, size: u64 },
    /// Records `from..=to` were copied and are durable.
    Copied { from: u64, to: u64 },
    /// A checkpoint of the leader was verified against the follower's own tree.
    Verified(VerifiedCheckpoint),
}

/// Reads the last verified checkpoint from `data`, if any.
pub fn load_state(data: &Path) -> Result<Option<VerifiedCheckpoint>, FollowError> {
    let path = data.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| FollowError::Local(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FollowError::Local(format!("{}: {e}", path.display()))),
    }
}

/// Writes the last verified checkpoint whole: a temporary file, synced, then renamed over
/// the old one, and the directory synced, so a kill leaves the old state or the new.
fn save_state(data: &Path, state: &VerifiedCheckpoint) -> Result<(), FollowError> {
    let path = data.join(STATE_FILE);
    let partial: PathBuf = data.join(format!("{STATE_FILE}.partial"));
    let local = |e: std::io::Error| FollowError::Local(format!("{}: {e}", path.display()));
    let text = serde_json::to_string(state).expect("the state serializes") + "\n";
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&partial).map_err(local)?;
        file.write_all(text.as_bytes()).map_err(local)?;
        file.sync_all().map_err(local)?;
    }
    std::fs::rename(&partial, &path).map_err(local)?;
    std::fs::File::open(data).and_then(|d| d.sync_all()).map_err(local)
}

/// Checks, when a follower starts, that its data directory follows the ledger `key` names
/// and that its store still holds the checkpoint it verified last (the same root at that
/// size).
pub fn check_resume(ledger: &Ledger, key: &VerifierKey, state: &Option<VerifiedCheckpoint>) -> Result<(), FollowError> {
    let Some(state) = state else { return Ok(()) };
    if state.origin != key.name() {
        return Err(FollowError::Leader(format!(
            "this data directory follows {:?}, not {:?} (the key's name); give another --data",
            state.origin,
            key.name()
        )));
    }
    let root = merkle::root(ledger.store(), state.size)
        .map_err(|e| FollowError::Local(format!("the follower's tree at {}: {e}", state.size)))?;
    if root.to_hex() != state.root {
        return Err(FollowError::Local(format!(
            "the follower's store no longer holds the checkpoint of size {} it verified (root {} there, {} verified)",
            state.size, root, state.root
        )));
    }
    Ok(())
}

/// A failure to reach the leader that is worth retrying (the network, a restart), or one
/// that is not (the leader refused us).
enum Fetch {
    Retry(String),
    Fatal(FollowError),
}

impl From<FollowError> for Fetch {
    fn from(e: FollowError) -> Self {
        Fetch::Fatal(e)
    }
}

/// The follower's side of the leader's HTTP endpoints.
struct Leader {
    client: reqwest::Client,
    config: FollowConfig,
}

impl Leader {
    async fn get(&self, path: &str) -> Result<reqwest::Response, Fetch> {
        self.get_unless_unavailable(path)
            .await?
            .ok_or_else(|| Fetch::Retry(format!("{}{path}: 503 Service Unavailable", self.config.leader)))
    }

    /// `get`, with a 503 answered as `None`: what the leader has not made yet.
    async fn get_unless_unavailable(&self, path: &str) -> Result<Option<reqwest::Response>, Fetch> {
        let url = format!("{}{path}", self.config.leader);
        let response = self
            .client
            .get(&url)
            .bearer_auth(&self.config.token)
            .send()
            .await
            .map_err(|e| Fetch::Retry(format!("{url}: {}", crate::tls::causes(&e))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Some(response));
        }
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Ok(None);
        }
        let body = response.text().await.unwrap_or_default();
        let body = body.trim();
        if status.is_server_error() {
            return Err(Fetch::Retry(format!("{url}: {status}: {body}")));
        }
        Err(Fetch::Fatal(FollowError::Leader(format!(
            "{url}: the leader answered {status}: {body}"
        ))))
    }

    /// The leader's latest checkpoint, opened with its key; `None` while it has none to serve
    /// (a leader with witnesses serves only a cosigned one, 503 until then).
    async fn checkpoint(&self) -> Result<Option<(Checkpoint, String)>, Fetch> {
        let Some(response) = self.get_unless_unavailable("/checkpoint").await? else {
            return Ok(None);
        };
        let text = response
            .text()
            .await
            .map_err(|e| Fetch::Retry(format!("reading the checkpoint: {e}")))?;
        let checkpoint = Checkpoint::open(&text, &self.config.key).map_err(|e| FollowError::Checkpoint {
            size: 0,
            error: format!("{e} (the checkpoint served at {}/checkpoint)", self.config.leader),
        })?;
        Ok(Some((checkpoint, text)))
    }

    /// Copies the leader's records from `ledger`'s head on, as far as the export served
    /// goes, in groups of [`FollowConfig::batch`]; groups are written and flushed while the
    /// next is read. Returns the new head's `seq`.
    async fn pull(&self, ledger: &Ledger, progress: &mut impl FnMut(Progress)) -> Result<u64, Fetch> {
        let from = ledger.head().seq + 1;
        let mut response = self.get(&format!("/export?from={from}")).await?;
        let mut copies = Copies::default();
        let read = self
            .read_export(&mut response, from, ledger, &mut copies, progress)
            .await;
        // What was handed to the writer is settled whatever the reading came to: what was
        // copied stays copied, and a refusal comes before a later reading error.
        copies.settle_all(ledger, progress).await?;
        read?;
        Ok(ledger.head().seq)
    }

    /// Reads the export's lines into groups and queues each to the writer.
    async fn read_export(
        &self,
        response: &mut reqwest::Response,
        from: u64,
        ledger: &Ledger,
        copies: &mut Copies,
        progress: &mut impl FnMut(Progress),
    ) -> Result<(), Fetch> {
        let mut pending: Vec<u8> = Vec::new();
        let mut batch: Vec<Record> = Vec::with_capacity(self.config.batch);
        let mut next = from;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    copies.queue(ledger, &mut batch, progress).await?;
                    return Err(Fetch::Retry(format!("reading the export: {e}")));
                }
            };
            pending.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(end) = memchr::memchr(b'\n', &pending[start..]) {
                let line = &pending[start..start + end];
                start += end + 1;
                batch.push(parse_line(line, next)?);
                next += 1;
                if batch.len() >= self.config.batch {
                    copies.queue(ledger, &mut batch, progress).await?;
                }
            }
            pending.drain(..start);
            if pending.len() > MAX_LINE_BYTES {
                copies.queue(ledger, &mut batch, progress).await?;
                return Err(FollowError::Record {
                    seq: next,
                    error: format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                }
                .into());
            }
        }
        copies.queue(ledger, &mut batch, progress).await?;
        if !pending.is_empty() {
            // An export ends each line with a newline: a last line without one was cut.
            return Err(Fetch::Retry(format!("the export was cut inside record {next}")));
        }
        Ok(())
    }
}

/// How many groups may be handed to the writer and not yet answered. Two: while one is
/// flushed (a sync of the disk, where no core works) the writer checks and inserts the
/// next, and the reader reads the one after; with one, the reader waited out every flush.
const GROUPS_IN_FLIGHT: usize = 2;

/// The groups handed to the writer and not yet answered, oldest first: at most
/// [`GROUPS_IN_FLIGHT`], so that reading overlaps writing and flushing, and no more is read
/// ahead than that.
#[derive(Default)]
struct Copies {
    in_flight: std::collections::VecDeque<(u64, u64, PendingCopy)>,
}

impl Copies {
    /// Queues `batch` (emptied) as one atomic, durable group, then settles the oldest
    /// groups until no more than [`GROUPS_IN_FLIGHT`] are unanswered.
    async fn queue(
        &mut self,
        ledger: &Ledger,
        batch: &mut Vec<Record>,
        progress: &mut impl FnMut(Progress),
    ) -> Result<(), Fetch> {
        if batch.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(batch);
        let (from, to) = (records[0].seq(), records[records.len() - 1].seq());
        let pending = ledger
            .queue_copy(records)
            .await
            .map_err(|e| FollowError::Local(format!("writing records {from} to {to}: {e}")))?;
        self.in_flight.push_back((from, to, pending));
        while self.in_flight.len() > GROUPS_IN_FLIGHT {
            let oldest = self.in_flight.pop_front().expect("more than two");
            settle(ledger, oldest, progress).await?;
        }
        Ok(())
    }

    /// Settles every unanswered group, oldest first; the first refusal ends it (the groups
    /// after a refused one do not follow the head, and are refused too).
    async fn settle_all(&mut self, ledger: &Ledger, progress: &mut impl FnMut(Progress)) -> Result<(), Fetch> {
        while let Some(oldest) = self.in_flight.pop_front() {
            settle(ledger, oldest, progress).await?;
        }
        Ok(())
    }
}

/// Waits for one queued group: durable, or the record that refused it.
async fn settle(
    ledger: &Ledger,
    (from, to, pending): (u64, u64, PendingCopy),
    progress: &mut impl FnMut(Progress),
) -> Result<(), Fetch> {
    match ledger.copied(pending).await {
        Ok(_) => {
            progress(Progress::Copied { from, to });
            Ok(())
        }
        Err(AppendError::Diverged(e)) => Err(FollowError::Record {
            seq: e.seq,
            error: e.error,
        }
        .into()),
        Err(e) => Err(FollowError::Local(format!("writing records {from} to {to}: {e}")).into()),
    }
}

/// One export line as a record, hash checked; `seq` is the record it should be.
fn parse_line(line: &[u8], seq: u64) -> Result<Record, FollowError> {
    let bad = |error: String| FollowError::Record { seq, error };
    let text = std::str::from_utf8(line).map_err(|_| bad("the line is not valid UTF-8".into()))?;
    Record::from_export_line(text).map_err(|e| bad(e.to_string()))
}

/// Checks the leader's `checkpoint` against the follower's own tree, which holds at least
/// its size: the same root there, and a consistency proof from the last checkpoint verified
/// (taken from the follower's own tree) that joins the two roots. A checkpoint smaller than
/// the last one verified means the leader's log went back.
pub fn check_checkpoint(
    ledger: &Ledger,
    checkpoint: &Checkpoint,
    last: Option<&VerifiedCheckpoint>,
) -> Result<(), FollowError> {
    let size = checkpoint.size;
    let fail = |error: String| FollowError::Checkpoint { size, error };
    if let Some(last) = last {
        if size < last.size {
            return Err(fail(format!(
                "it is smaller than the checkpoint of size {} verified before: the leader's log went back",
                last.size
            )));
        }
    }
    let store = ledger.store();
    let own =
        merkle::root(store, size).map_err(|e| FollowError::Local(format!("the follower's tree at {size}: {e}")))?;
    if own != checkpoint.root {
        return Err(fail(format!(
            "its root {} is not the root {} of the {size} events verified here: the leader signed another history",
            checkpoint.root, own
        )));
    }
    if let Some(last) = last {
        let old_root =
            Hash::parse(&last.root).map_err(|e| FollowError::Local(format!("{STATE_FILE}: the root: {e}")))?;
        let proof = merkle::consistency_proof(store, last.size, size)
            .map_err(|e| FollowError::Local(format!("the follower's tree from {} to {size}: {e}", last.size)))?;
        merkle::verify_consistency(last.size, size, &old_root, &checkpoint.root, &proof).map_err(|e| {
            fail(format!(
                "it is not consistent with the checkpoint of size {} verified before: {e}",
                last.size
            ))
        })?;
    }
    Ok(())
}

/// Checks the checkpoint's projection line against the follower's own projection, folded
/// from the records it copied, when it keeps one (`--listen`) and its head is the
/// checkpoint's size (the commitment is of the projection at the head; a checkpoint older
/// than the head is checked by its root alone, and the next one at the head by both).
async fn check_projection(ledger: &Ledger, checkpoint: &Checkpoint) -> Result<(), FollowError> {
    let size = checkpoint.size;
    if !ledger.projects() || ledger.head().seq != size {
        return Ok(());
    }
    ledger.projection_caught_up().await;
    ledger
        .projector_alive()
        .map_err(|e| FollowError::Local(format!("the follower's projection: {e}")))?;
    let committed = crate::proofs::committed_projection(checkpoint)
        .map_err(|e| FollowError::Checkpoint { size, error: e.error })?;
    let own = ledger.projection_now().commitment();
    if own != committed {
        return Err(FollowError::Checkpoint {
            size,
            error: format!(
                "its projection commitment {committed} is not {own}, the commitment of the projection folded \
                 here from the same {size} records: the leader signed a projection other than its records make"
            ),
        });
    }
    Ok(())
}

/// Follows the leader until `stop` turns true or a disagreement: at each look, takes its
/// checkpoint, pulls its log at least up to the checkpoint's size, and verifies the
/// checkpoint against what it copied. Network failures are retried (logged); a record or a
/// checkpoint that does not verify ends it with the error.
pub async fn follow(
    ledger: Arc<Ledger>,
    data: &Path,
    config: FollowConfig,
    mut stop: watch::Receiver<bool>,
    mut progress: impl FnMut(Progress),
) -> Result<(), FollowError> {
    let mut last = load_state(data)?;
    check_resume(&ledger, &config.key, &last)?;
    let leader = Leader {
        client: crate::tls::client(config.ca.as_deref()).map_err(|e| FollowError::Leader(format!("--ca {e}")))?,
        config,
    };
    let poll = leader.config.poll;
    let nudge = leader.config.nudge.clone();
    loop {
        // A stop ends a look midway: a group handed to the writer is still written whole
        // (or not at all), and the next start resumes from the store's head.
        let looked = tokio::select! {
            looked = look(&leader, &ledger, data, &mut last, &mut progress) => looked,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let wait = match looked {
            Ok(()) => poll,
            Err(Fetch::Fatal(e)) => return Err(e),
            Err(Fetch::Retry(why)) => {
                tracing::warn!("the leader could not be followed just now, trying again: {why}");
                poll.max(Duration::from_secs(1))
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = nudge.notified() => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

/// One look at the leader: its checkpoint, the records up to it and whatever else the
/// export serves (each record checked as it is copied), then the checkpoint checked and
/// kept. Without a new checkpoint the records are still copied: a leader whose checkpoints
/// wait for witnesses (this follower among them) signs them after its records are served.
async fn look(
    leader: &Leader,
    ledger: &Ledger,
    data: &Path,
    last: &mut Option<VerifiedCheckpoint>,
    progress: &mut impl FnMut(Progress),
) -> Result<(), Fetch> {
    let signed = leader.checkpoint().await?;
    let unchanged = |(c, _): &(Checkpoint, String)| {
        last.as_ref()
            .is_some_and(|l| c.size == l.size && c.root.to_hex() == l.root)
    };
    let Some((checkpoint, text)) = signed.filter(|s| !unchanged(s)) else {
        leader.pull(ledger, progress).await?;
        return Ok(());
    };
    if ledger.head().seq < checkpoint.size {
        progress(Progress::Behind {
            head: ledger.head().seq,
            size: checkpoint.size,
        });
    }
    while ledger.head().seq < checkpoint.size {
        let before = ledger.head().seq;
        let after = leader.pull(ledger, progress).await?;
        if after == before {
            return Err(FollowError::Checkpoint {
                size: checkpoint.size,
                error: format!("the leader's export ends at record {after}, before the checkpoint's size"),
            }
            .into());
        }
    }
    check_checkpoint(ledger, &checkpoint, last.as_ref())?;
    check_projection(ledger, &checkpoint).await?;
    let verified = VerifiedCheckpoint {
        origin: checkpoint.origin.clone(),
        size: checkpoint.size,
        root: checkpoint.root.to_hex(),
        text,
    };
    save_state(data, &verified)?;
    progress(Progress::Verified(verified.clone()));
    *last = Some(verified);
    Ok(())
}

/// How long a witness request for records the follower has not copied yet waits for them
/// (a ledger waits 10 s for a witness's answer).
const COSIGN_WAIT: Duration = Duration::from_secs(5);

/// A follower that is also a witness (`orgledger follow --witness-key`): the witness
/// protocol, and the checkpoint's root compared with the follower's own tree of the records
/// it verified one by one. It cosigns only what it has checked itself.
struct Cosigner {
    witness: Arc<crate::witness::Witness>,
    ledger: Arc<Ledger>,
    nudge: Arc<Notify>,
}

/// The follower's `POST /add-checkpoint`, served beside its GraphQL.
pub fn cosigning_router(
    witness: Arc<crate::witness::Witness>,
    ledger: Arc<Ledger>,
    nudge: Arc<Notify>,
) -> axum::Router {
    use axum::extract::DefaultBodyLimit;
    axum::Router::new()
        .route("/add-checkpoint", axum::routing::post(add_checkpoint))
        .layer(DefaultBodyLimit::max(crate::witness::MAX_BODY))
        .with_state(Arc::new(Cosigner { witness, ledger, nudge }))
}

async fn add_checkpoint(
    axum::extract::State(cosigner): axum::extract::State<Arc<Cosigner>>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use crate::witness::Answer;
    use axum::response::IntoResponse;
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        return Answer::text(400, "the body is not UTF-8").into_response();
    };
    // A checkpoint past the follower's head: look at the leader now, and wait a little for
    // the records to be copied and checked.
    if let Some(checkpoint) = cosigner.witness.peek(&body) {
        let deadline = tokio::time::Instant::now() + COSIGN_WAIT;
        if cosigner.ledger.head().seq < checkpoint.size {
            cosigner.nudge.notify_one();
        }
        while cosigner.ledger.head().seq < checkpoint.size && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let Cosigner { witness, ledger, .. } = &*cosigner;
    let (witness, ledger) = (witness.clone(), ledger.clone());
    tokio::task::spawn_blocking(move || witness.add_checkpoint_checked(&body, |c| own_records(&ledger, c)))
        .await
        .unwrap_or_else(|_| Answer::text(500, "the witness failed"))
        .into_response()
}

/// Whether the follower's own records agree with `checkpoint`: it holds at least as many,
/// and its tree over them has the checkpoint's root at its size.
fn own_records(ledger: &Ledger, checkpoint: &Checkpoint) -> Result<(), crate::witness::OwnRecords> {
    use crate::witness::OwnRecords;
    let size = checkpoint.size;
    let head = ledger.head().seq;
    if size > head {
        return Err(OwnRecords::Behind(format!(
            "this follower has verified {head} records of {}, fewer than the checkpoint's {size}: ask again \
             once it has copied them",
            checkpoint.origin
        )));
    }
    let own = merkle::root(ledger.store(), size)
        .map_err(|e| OwnRecords::Failed(format!("the follower's tree at {size}: {e}")))?;
    if own != checkpoint.root {
        return Err(OwnRecords::Disagree(format!(
            "the checkpoint's root {} at size {size} is not {}, the root of the {size} records this follower \
             copied from the ledger and verified: the ledger signed a history other than the one it serves",
            BASE64.encode(checkpoint.root.0),
            BASE64.encode(own.0)
        )));
    }
    Ok(())
}
