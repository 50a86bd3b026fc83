//! A witness of other ledgers' checkpoints (C2SP `tlog-witness` and `tlog-cosignature`).
//!
//! A witness keeps, for each ledger it is told of (by its verifier key, whose name is the
//! ledger's origin), the latest checkpoint it cosigned. It cosigns a new checkpoint only if the
//! ledger's key signed it and a consistency proof shows it extends the one it holds, so two
//! histories past a common prefix can never both carry its cosignature: a ledger that shows
//! one history to one inspection team and another to the next is caught by the first witness
//! both reach. What such a request showed is kept as evidence.
//!
//! [`Witness::add_checkpoint`] is the whole protocol, without HTTP: the request body in, a
//! status and a body out. The check and the update of the latest checkpoint are one step
//! under one lock, made durable (a state file written aside, synced and renamed into place)
//! before the answer; [`router`] serves it as `POST /add-checkpoint`. A witness keeps its
//! state in plain files, not in sled (which only `store` touches): a few lines per ledger.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Checkpoint, CheckpointError, KeyType, SigningKey, VerifierKey};
use crate::event::Hash;
use crate::merkle;

/// The witness's own key, in its data directory.
pub const KEY_FILE: &str = "witness.key";
/// The witness's state: the latest checkpoint it cosigned of each ledger, one JSON object
/// keyed by origin, in its data directory.
pub const STATE_FILE: &str = "witness-state.json";
/// Held locked while a witness serves: two witness processes on one directory would race.
const LOCK_FILE: &str = "witness.lock";
/// The evidence a witness kept, one JSON file each, in its data directory.
pub const EVIDENCE_DIR: &str = "evidence";
/// The most consistency proof lines a request may carry (tlog-witness: at most 63).
const MAX_PROOF_LINES: usize = 63;
/// The largest request body taken: a checkpoint with its signatures and 63 proof lines fit
/// many times over.
pub const MAX_BODY: usize = 64 * 1024;
/// The media type of a 409's body, the witness's latest size for the origin.
pub const SIZE_MEDIA_TYPE: &str = "text/x.tlog.size";

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("{0}")]
    Key(#[from] CheckpointError),
    #[error("the witness state {path}: {reason}")]
    State { path: String, reason: String },
    #[error("{0}")]
    Config(String),
}

/// The latest checkpoint a witness cosigned for one origin (size 0, root and checkpoint empty:
/// none yet).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Latest {
    pub size: u64,
    /// The root, standard base64 as in the checkpoint.
    pub root: String,
    /// The checkpoint as the ledger signed it (the note, with its signatures).
    pub checkpoint: String,
}

/// A request that showed two histories of one ledger, or a proof that does not hold: both
/// checkpoints are signed by the ledger's key, so the pair is evidence against it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Evidence {
    /// When the witness received it (POSIX seconds).
    pub received: u64,
    pub origin: String,
    /// The status the request was answered with (409 or 422).
    pub status: u16,
    pub reason: String,
    /// What the witness held for the origin then.
    pub latest: Latest,
    /// The request body, as received.
    pub request: String,
}

/// The answer to an `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    pub fn text(status: u16, body: impl Into<String>) -> Answer {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// Why a witness that holds a ledger's records of its own (a follower) does not cosign a
/// checkpoint that passed the protocol's checks: see [`Witness::add_checkpoint_checked`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnRecords {
    /// It has not verified as many records as the checkpoint counts: 503, ask again later.
    Behind(String),
    /// Its records at the checkpoint's size have another root: 422, kept as evidence.
    Disagree(String),
    /// Its own records could not be read: 500.
    Failed(String),
}

/// A witness: its key, the ledgers it knows, and its state.
pub struct Witness {
    key: SigningKey,
    logs: BTreeMap<String, Vec<VerifierKey>>,
    dir: std::path::PathBuf,
    /// The latest checkpoint of each origin, as the state file holds it. Its lock is held
    /// from the check of a request's old size to the durable update: two requests never
    /// interleave there (tlog-witness's rollback race).
    latest: std::sync::Mutex<BTreeMap<String, Latest>>,
    /// How many pieces of evidence the directory held, and this process kept: file names.
    kept: std::sync::atomic::AtomicU64,
    /// The directory's lock, held while the witness lives.
    _lock: std::fs::File,
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// Creates a witness's key, named `origin`, in `dir`, refusing to replace one; returns it.
pub fn init(dir: &Path, origin: &str) -> Result<SigningKey, WitnessError> {
    std::fs::create_dir_all(dir).map_err(|e| WitnessError::Config(format!("{}: {e}", dir.display())))?;
    Ok(checkpoint::create_new_key(
        &dir.join(KEY_FILE),
        origin,
        KeyType::Cosigner,
    )?)
}

/// The POSIX time now, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `bytes` to `path` durably and atomically: aside, synced, renamed, the folder synced.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let partial = path.with_extension("partial");
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

fn read_state(dir: &Path) -> Result<BTreeMap<String, Latest>, WitnessError> {
    let path = dir.join(STATE_FILE);
    let bad = |reason: String| WitnessError::State {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| bad(format!("damaged: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Every piece of evidence a witness in `dir` has kept, oldest first. A witness is there if
/// its key is, or its lock (a follower's witness keeps its key elsewhere).
pub fn evidence(dir: &Path) -> Result<Vec<Evidence>, WitnessError> {
    if !dir.join(KEY_FILE).exists() && !dir.join(LOCK_FILE).exists() {
        return Err(WitnessError::Config(format!(
            "{}: no witness here (`orgledger witness init` makes one; `orgledger follow \
             --witness-key` keeps one beside its copy)",
            dir.display()
        )));
    }
    let io = |path: &Path, e: std::io::Error| WitnessError::Config(format!("{}: {e}", path.display()));
    let folder = dir.join(EVIDENCE_DIR);
    let mut names = match std::fs::read_dir(&folder) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io(&folder, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&folder, e)),
    };
    names.retain(|p| p.extension().is_some_and(|x| x == "json"));
    names.sort();
    names
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
            serde_json::from_slice(&bytes)
                .map_err(|e| WitnessError::Config(format!("{}: a damaged evidence file: {e}", path.display())))
        })
        .collect()
}

impl Witness {
    /// Opens the witness in `dir` (made by [`init`]), knowing the ledgers of `logs`.
    pub fn open(dir: &Path, logs: Vec<VerifierKey>) -> Result<Witness, WitnessError> {
        Witness::open_with_key(dir, &dir.join(KEY_FILE), logs)
    }

    /// Opens a witness whose state is kept in `dir` and whose key is the file `path` (a
    /// follower cosigns with a witness key kept apart from its store).
    pub fn open_with_key(dir: &Path, path: &Path, logs: Vec<VerifierKey>) -> Result<Witness, WitnessError> {
        if !path.exists() {
            return Err(WitnessError::Config(format!(
                "{}: no witness key (`orgledger witness init --origin NAME` makes one)",
                path.display()
            )));
        }
        let key = checkpoint::load_key(path)?;
        if key.kind() != KeyType::Cosigner {
            return Err(WitnessError::Config(format!(
                "{}: the key is a ledger's (type 0x01), not a witness's",
                path.display()
            )));
        }
        let mut by_origin: BTreeMap<String, Vec<VerifierKey>> = BTreeMap::new();
        for log in logs {
            if log.kind() != KeyType::Note {
                return Err(WitnessError::Config(format!(
                    "log key {}: a witness's key (type 0x04), not a ledger's",
                    log.to_text()
                )));
            }
            by_origin.entry(log.name().to_string()).or_default().push(log);
        }
        if by_origin.is_empty() {
            return Err(WitnessError::Config(
                "no ledger to witness: give at least one --log".into(),
            ));
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| WitnessError::Config(format!("{}: {e}", lock_path.display())))?;
        // A lock held for a moment by a child forked (but not yet exec'd) from a process
        // that had the file open is let go at once: try for a second before refusing.
        let locked = (0..20).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            lock.try_lock().is_ok()
        });
        if !locked {
            return Err(WitnessError::Config(format!(
                "{}: another witness process serves from this directory",
                dir.display()
            )));
        }
        let latest = read_state(dir)?;
        let kept = std::fs::read_dir(dir.join(EVIDENCE_DIR)).map_or(0, |d| d.count() as u64);
        Ok(Witness {
            key,
            logs: by_origin,
            dir: dir.to_path_buf(),
            latest: std::sync::Mutex::new(latest),
            kept: std::sync::atomic::AtomicU64::new(kept),
            _lock: lock,
            clock: Box::new(unix_now),
        })
    }

    /// The time source of cosignatures and evidence (tests fix it).
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Witness {
        self.clock = Box::new(clock);
        self
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The latest checkpoint cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Option<Latest> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
            .cloned()
    }

    /// `POST /add-checkpoint`: the request body in, the answer out (C2SP tlog-witness).
    pub fn add_checkpoint(&self, body: &str) -> Answer {
        self.add_checkpoint_checked(body, |_| Ok(()))
    }

    /// The checkpoint a request body carries, opened with a key of the ledger it names:
    /// `None` when the body or the signature does not pass (then [`Witness::add_checkpoint`]
    /// answers why).
    pub fn peek(&self, body: &str) -> Option<Checkpoint> {
        let (_, _, note) = parse_request(body).ok()?;
        let origin = note.split('\n').next().unwrap_or_default();
        self.logs
            .get(origin)?
            .iter()
            .find_map(|key| Checkpoint::open(note, key).ok())
    }

    /// [`Witness::add_checkpoint`], with one more check before the checkpoint is cosigned:
    /// `own` compares it with records the witness holds itself. It runs after every check of
    /// the protocol, in the same step as the update, so what it approves is what is held.
    pub fn add_checkpoint_checked(
        &self,
        body: &str,
        own: impl FnOnce(&Checkpoint) -> Result<(), OwnRecords>,
    ) -> Answer {
        let (old, proof, note) = match parse_request(body) {
            Ok(parts) => parts,
            Err(reason) => return Answer::text(400, reason),
        };
        let origin = note.split('\n').next().unwrap_or_default();
        let Some(keys) = self.logs.get(origin) else {
            return Answer::text(
                404,
                format!("unknown origin {origin:?}: this witness does not follow it"),
            );
        };
        let mut refusal = None;
        let checkpoint = keys.iter().find_map(|key| match Checkpoint::open(note, key) {
            Ok(c) => Some(c),
            Err(e) => {
                refusal.get_or_insert(e);
                None
            }
        });
        let Some(checkpoint) = checkpoint else {
            return match refusal {
                Some(e @ (CheckpointError::MalformedNote(_) | CheckpointError::MalformedCheckpoint { .. })) => {
                    Answer::text(400, format!("the checkpoint: {e}"))
                }
                Some(e) => Answer::text(403, format!("no signature of a known key verifies: {e}")),
                None => Answer::text(403, "no signature of a known key verifies"),
            };
        };
        if old > checkpoint.size {
            return Answer::text(
                400,
                format!(
                    "old size {old} is larger than the checkpoint's size {}",
                    checkpoint.size
                ),
            );
        }
        if old == 0 && !proof.is_empty() {
            return Answer::text(400, "a request from old size 0 carries no consistency proof");
        }
        if old == checkpoint.size && !proof.is_empty() {
            return Answer::text(400, "a request whose old size is the checkpoint's carries no proof");
        }

        let mut state = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let latest = state.get(origin).cloned();
        let held = latest.as_ref().map_or(0, |l| l.size);
        if old != held {
            return Answer {
                status: 409,
                content_type: SIZE_MEDIA_TYPE,
                body: format!("{held}\n"),
            };
        }
        if let Some(latest) = &latest {
            let root = decode_root(&latest.root);
            if old == checkpoint.size && root != Some(checkpoint.root) {
                let reason = format!(
                    "a checkpoint of size {old} with root {} where the witness holds root {}: two \
                     histories of one ledger",
                    BASE64.encode(checkpoint.root.0),
                    latest.root
                );
                return self.refuse_with_evidence(409, reason, origin, latest, body);
            }
            if old > 0 && old < checkpoint.size {
                let proved = match root {
                    Some(root) => merkle::verify_consistency(old, checkpoint.size, &root, &checkpoint.root, &proof)
                        .map_err(|e| e.to_string()),
                    None => Err("the witness's stored root is damaged".to_string()),
                };
                if let Err(e) = proved {
                    let reason = format!(
                        "the consistency proof from size {old} to {} does not hold ({e}): the \
                         checkpoint does not extend the one the witness holds",
                        checkpoint.size
                    );
                    return self.refuse_with_evidence(422, reason, origin, latest, body);
                }
            }
        }
        match own(&checkpoint) {
            Ok(()) => {}
            Err(OwnRecords::Behind(reason)) => return Answer::text(503, reason),
            Err(OwnRecords::Failed(reason)) => return Answer::text(500, reason),
            Err(OwnRecords::Disagree(reason)) => {
                let held = latest.unwrap_or_default();
                return self.refuse_with_evidence(422, reason, origin, &held, body);
            }
        }
        let text = checkpoint.body();
        let record = Latest {
            size: checkpoint.size,
            root: BASE64.encode(checkpoint.root.0),
            checkpoint: note.to_string(),
        };
        let mut next = state.clone();
        next.insert(origin.to_string(), record);
        let bytes = serde_json::to_vec_pretty(&next).expect("serializes");
        if let Err(e) = write_durably(&self.dir.join(STATE_FILE), &bytes) {
            return Answer::text(500, format!("the witness state: {e}"));
        }
        *state = next;
        drop(state);
        match checkpoint::cosign(&text, &self.key, (self.clock)()) {
            Ok(line) => Answer::text(200, line),
            Err(e) => Answer::text(500, format!("cosigning: {e}")),
        }
    }

    fn refuse_with_evidence(&self, status: u16, reason: String, origin: &str, latest: &Latest, body: &str) -> Answer {
        let entry = Evidence {
            received: (self.clock)(),
            origin: origin.to_string(),
            status,
            reason: reason.clone(),
            latest: latest.clone(),
            request: body.to_string(),
        };
        let kept = self.keep(&entry);
        if let Err(e) = kept {
            tracing::error!(error = %e, "the evidence of a fork could not be kept");
        } else {
            tracing::warn!(origin, status, reason = %reason, "refused a checkpoint; evidence kept");
        }
        Answer::text(status, reason)
    }
}

impl Witness {
    /// Writes one piece of evidence durably, as `RECEIVED-N.json` (sorted by time, then by
    /// the number of pieces kept before it).
    fn keep(&self, entry: &Evidence) -> Result<(), String> {
        let n = self.kept.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let folder = self.dir.join(EVIDENCE_DIR);
        std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
        let path = folder.join(format!("{:020}-{n:08}.json", entry.received));
        write_durably(&path, &serde_json::to_vec_pretty(entry).expect("serializes")).map_err(|e| e.to_string())
    }
}

/// A hash in standard base64 with padding, in its one canonical spelling.
fn decode_root(text: &str) -> Option<Hash> {
    Some(Hash(<[u8; 32]>::try_from(checkpoint::decode_base64(text)?).ok()?))
}

/// Splits a request body: `old N`, up to 63 proof lines of base64 hashes, an empty line, the
/// checkpoint (a signed note).
pub fn parse_request(body: &str) -> Result<(u64, Vec<Hash>, &str), String> {
    let Some((first, mut rest)) = body.split_once('\n') else {
        return Err("the body is not lines ending in newlines".into());
    };
    let size = first
        .strip_prefix("old ")
        .ok_or_else(|| format!("the first line is {first:?}, not \"old SIZE\""))?;
    let old = checkpoint::parse_size(size)
        .ok_or_else(|| format!("old size {size:?} is not a decimal number without leading zeros"))?;
    let mut proof = Vec::new();
    loop {
        let Some((line, after)) = rest.split_once('\n') else {
            return Err("no empty line ends the consistency proof".into());
        };
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(format!("more than {MAX_PROOF_LINES} consistency proof lines"));
        }
        let hash = decode_root(line)
            .ok_or_else(|| format!("proof line {} is not the standard base64 of 32 bytes", proof.len() + 1))?;
        proof.push(hash);
    }
    Ok((old, proof, rest))
}

/// The request body of `add-checkpoint`.
pub fn request_body(old: u64, proof: &[Hash], note: &str) -> String {
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&BASE64.encode(hash.0));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

/// The witness's HTTP routes: `POST /add-checkpoint`.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(witness)
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: axum::body::Bytes) -> Response {
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "the body is not UTF-8\n").into_response();
    };
    // The check and the durable update block on the state file's sync: off the async workers.
    tokio::task::spawn_blocking(move || witness.add_checkpoint(&body))
        .await
        .unwrap_or_else(|_| Answer::text(500, "the witness failed"))
        .into_response()
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}

/// A witness a ledger asks for cosignatures: where it listens, and its key (type 0x04).
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The URL prefix: `add-checkpoint` is posted to `{url}/add-checkpoint`.
    pub url: String,
    pub key: VerifierKey,
}

impl Endpoint {
    /// Parses `URL=VKEY_FILE`, reading the key from the file.
    pub fn parse(arg: &str) -> Result<Endpoint, String> {
        let (url, file) = arg
            .rsplit_once('=')
            .ok_or_else(|| format!("--witness {arg:?}: expected URL=VKEY_FILE"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("--witness {arg:?}: the URL {url:?} is not http:// or https://"));
        }
        let text = std::fs::read_to_string(file).map_err(|e| format!("--witness {arg:?}: {file}: {e}"))?;
        let key = VerifierKey::parse(&text).map_err(|e| format!("--witness {arg:?}: {file}: {e}"))?;
        if key.kind() != KeyType::Cosigner {
            return Err(format!(
                "--witness {arg:?}: {file} holds a ledger's key (type 0x01), not a witness's (0x04)"
            ));
        }
        Ok(Endpoint {
            url: url.trim_end_matches('/').to_string(),
            key,
        })
    }

    /// `NAME+KEYID` of the witness, for messages.
    pub fn label(&self) -> String {
        self.key.label()
    }
}

/// How long a ledger waits for one witness's answer before going on without it.
pub const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks one witness to cosign `note`, a signed checkpoint of `size` events, starting from
/// the old size `known` (what the ledger last heard the witness held; 0 if nothing). A 409
/// tells the witness's size: the request is made once more from there. `proof(m)` gives the
/// consistency proof from `m` events to `size`. Returns the witness's verified cosignature
/// lines and the size it now holds (`size`), or why it did not cosign.
pub async fn ask(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    note: &str,
    size: u64,
    known: u64,
    timeout: std::time::Duration,
    proof: impl Fn(u64) -> Result<Vec<Hash>, String>,
) -> Result<String, String> {
    let url = format!("{}/add-checkpoint", endpoint.url);
    let mut old = known.min(size);
    for _ in 0..2 {
        let hashes = if old == 0 || old == size {
            Vec::new()
        } else {
            proof(old)?
        };
        let response = client
            .post(&url)
            .timeout(timeout)
            .body(request_body(old, &hashes, note))
            .send()
            .await
            .map_err(|e| format!("{url}: {}", crate::tls::causes(&e)))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
        match status {
            200 => return verified_lines(endpoint, note, &text),
            409 => {
                let held = text.trim_end_matches('\n').parse::<u64>().ok();
                match held {
                    Some(held) if held <= size && held != old => old = held,
                    Some(held) if held > size => {
                        return Err(format!(
                            "{url}: the witness holds a checkpoint of {held} events, past this one's {size}"
                        ))
                    }
                    _ => return Err(format!("{url}: 409 {}", text.trim_end())),
                }
            }
            _ => return Err(format!("{url}: {status} {}", text.trim_end())),
        }
    }
    Err(format!("{url}: the witness's size kept changing"))
}

/// The lines of a witness's answer that are its valid cosignatures of `note`.
fn verified_lines(endpoint: &Endpoint, note: &str, answer: &str) -> Result<String, String> {
    let lines: String = answer
        .split_inclusive('\n')
        .filter(|l| l.starts_with(&format!("\u{2014} {} ", endpoint.key.name())))
        .collect();
    let combined = format!("{note}{lines}");
    match checkpoint::cosignatures(&combined, std::slice::from_ref(&endpoint.key)) {
        Ok(v) if matches!(v[0], checkpoint::Cosigned::Valid { .. }) => Ok(lines),
        Ok(_) => Err(format!(
            "{}: the answer holds no valid cosignature by {}",
            endpoint.url,
            endpoint.label()
        )),
        Err(e) => Err(format!("{}: the answer: {e}", endpoint.url)),
    }
}

/// Asks every witness at once and returns the note with the cosignatures of those that
/// gave one, and the failure of each that did not. `known[i]` is the size the ledger last
/// heard witness `i` held; it is updated for those that cosigned.
pub async fn collect(
    client: &reqwest::Client,
    endpoints: &[Endpoint],
    known: &mut [u64],
    note: &str,
    size: u64,
    timeout: std::time::Duration,
    proof: impl Fn(u64) -> Result<Vec<Hash>, String> + Clone,
) -> (String, usize, Vec<String>) {
    let asks = endpoints
        .iter()
        .zip(known.iter())
        .map(|(e, &k)| ask(client, e, note, size, k, timeout, proof.clone()));
    let answers = futures_util::future::join_all(asks).await;
    let mut cosigned = note.to_string();
    let mut count = 0;
    let mut failures = Vec::new();
    for ((answer, endpoint), known) in answers.into_iter().zip(endpoints).zip(known.iter_mut()) {
        match answer {
            Ok(lines) => {
                cosigned.push_str(&lines);
                count += 1;
                *known = size;
            }
            Err(e) => failures.push(format!("witness {}: {e}", endpoint.label())),
        }
    }
    (cosigned, count, failures)
}
