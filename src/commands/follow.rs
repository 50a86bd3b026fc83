//! `orgledger follow`: a verified copy of another ledger in the data directory, and with
//! `--listen` the same GraphQL schema served read-only from it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::CommandError;
use crate::checkpoint::{KeyType, VerifierKey};
use crate::follower::{self, FollowConfig, FollowError, Progress, VerifiedCheckpoint};
use crate::graphql::SignedCheckpoint;
use crate::ledger::{Ledger, LedgerOptions};
use crate::server::{self, Following, ServerConfig, ServerLimits};
use crate::tokens::Tokens;
use crate::witness::Witness;

/// How `follow` runs.
pub struct FollowOptions {
    /// The leader's URL (`http://host:port`, a trailing `/graphql` or `/` is dropped).
    pub leader: String,
    /// The leader's auditor token.
    pub token: String,
    /// The file holding the leader's verifier key.
    pub key: PathBuf,
    /// Where to serve the read-only GraphQL, if anywhere.
    pub listen: Option<String>,
    /// Serve queries and subscriptions without a token.
    pub public_read: bool,
    /// Between two looks at the leader once caught up.
    pub poll: Duration,
    /// Records per atomic group of the follower's store.
    pub batch: usize,
    /// A witness key file (`orgledger witness init`): with `listen`, cosign the leader's
    /// checkpoints that match the records verified here (`POST /add-checkpoint`).
    pub witness_key: Option<PathBuf>,
    /// The CA certificates (PEM) the leader's HTTPS is checked against, in place of the
    /// system's roots.
    pub ca: Option<PathBuf>,
    /// `--tls-cert FILE --tls-key FILE`: serve the read-only GraphQL over HTTPS and WSS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `--insecure-http`: serve plain HTTP off loopback anyway.
    pub insecure_http: bool,
    /// `--rules-cache-mib`, in bytes: see [`LedgerOptions::rules_cache_bytes`].
    pub rules_cache_bytes: usize,
    /// `--store-cache-mib`, in bytes: see [`crate::store::set_cache_bytes`].
    pub store_cache_bytes: u64,
}

impl From<FollowError> for CommandError {
    fn from(e: FollowError) -> Self {
        match e {
            FollowError::Record { .. } | FollowError::Checkpoint { .. } => CommandError::Rejected(e.to_string()),
            FollowError::Leader(_) | FollowError::Local(_) => CommandError::Failed(e.to_string()),
        }
    }
}

/// The leader's base URL from what the user typed: `http://host:port/graphql` and
/// `http://host:port/` both mean `http://host:port`.
fn base_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    url.strip_suffix("/graphql").unwrap_or(url).to_string()
}

/// `orgledger follow`: copies the leader's log into `data`, verifying every record and
/// every checkpoint, and keeps following until SIGTERM or Ctrl-C (exit 0) or the first
/// disagreement (exit 1, naming the record's `seq` or the checkpoint). Prints one JSON line
/// per checkpoint verified, `{"checkpoint":N,"root":"<hex>"}`, after `listening on
/// http://ADDR/graphql` with `--listen` (`https://` with `--tls-cert`; off loopback, plain
/// HTTP only with `--insecure-http`, as `serve`).
pub fn follow(data: &Path, options: FollowOptions, out: &mut impl Write) -> Result<(), CommandError> {
    server::init_logging();
    crate::store::set_cache_bytes(options.store_cache_bytes);
    let key_text = std::fs::read_to_string(&options.key)
        .map_err(|e| CommandError::Failed(format!("--key {}: {e}", options.key.display())))?;
    let key = VerifierKey::parse(&key_text)
        .map_err(|e| CommandError::Failed(format!("--key {}: {e}", options.key.display())))?;
    if key.kind() != KeyType::Note {
        return Err(CommandError::Failed(format!(
            "--key {}: a witness's key (type 0x04), not a ledger's (0x01)",
            options.key.display()
        )));
    }
    let leader = base_url(&options.leader);
    // A bad CA file, certificate or key, and a server off loopback without TLS, are refused
    // before anything binds: the read-only server carries its own tokens.
    crate::tls::client(options.ca.as_deref()).map_err(|e| CommandError::Failed(format!("--ca {e}")))?;
    let listening = match &options.listen {
        Some(addr) => crate::tls::listening(
            addr,
            options.tls.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
            options.insecure_http,
        )
        .map_err(CommandError::Failed)?,
        None => crate::tls::Listening::Loopback,
    };
    if let crate::tls::Listening::InsecureHttp = listening {
        tracing::warn!("{}", crate::tls::INSECURE_WARNING);
    }
    let scheme = listening.scheme();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failed(format!("starting the runtime: {e}")))?;
    let listener = match &options.listen {
        Some(addr) => Some(
            runtime
                .block_on(tokio::net::TcpListener::bind(addr))
                .map_err(|e| CommandError::Failed(format!("--listen {addr}: {e}")))?,
        ),
        None => None,
    };
    // Without a server nothing reads the projection: the copy costs only the rules and tree.
    let ledger_options = match listener {
        Some(_) => LedgerOptions::default(),
        None => LedgerOptions::default().without_projection(),
    }
    .with_rules_cache_bytes(options.rules_cache_bytes);
    let ledger = Arc::new(Ledger::open(data, ledger_options)?);
    let nudge = Arc::new(tokio::sync::Notify::new());
    // The witness's state (its latest cosigned checkpoint, its evidence) lives beside the
    // copy; its key is the file given.
    let cosigning = match &options.witness_key {
        Some(path) => {
            let witness = Witness::open_with_key(data, path, vec![key.clone()])
                .map_err(|e| CommandError::Failed(format!("--witness-key {}: {e}", path.display())))?;
            tracing::info!(key = %witness.key().verifier().to_text(), "cosigning the leader's checkpoints as a witness");
            Some(follower::cosigning_router(
                Arc::new(witness),
                ledger.clone(),
                nudge.clone(),
            ))
        }
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The leader's checkpoints as this follower verifies them, for its server to serve; the
    // last one verified before a restart first.
    let last = follower::load_state(data)?
        .and_then(|v| relayed(&v, &key))
        .map(Arc::new);
    let verified = tokio::sync::watch::Sender::new(last);
    let server = match listener {
        Some(listener) => {
            let addr = listener
                .local_addr()
                .map_err(|e| CommandError::Failed(format!("--listen: {e}")))?;
            let config = ServerConfig {
                ledger: ledger.clone(),
                tokens: Arc::new(Tokens::open(data)?),
                public_read: options.public_read,
                limits: ServerLimits::default(),
                // A follower signs nothing: the leader's checkpoints are the ones to trust.
                checkpoint_key: None,
                checkpoints: Default::default(),
                follows: Some(Following {
                    leader: leader.clone(),
                    verified: verified.clone(),
                }),
                cosigning,
                listening,
            };
            let mut stopped = stop_rx.clone();
            let task = runtime.spawn(server::run(listener, config, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
            writeln!(out, "listening on {scheme}://{addr}/graphql")?;
            out.flush()?;
            Some(task)
        }
        None => None,
    };
    let config = FollowConfig {
        leader,
        token: options.token,
        key: key.clone(),
        poll: options.poll,
        batch: options.batch.max(1),
        nudge,
        ca: options.ca,
    };
    let printed = std::sync::Mutex::new(Ok::<(), std::io::Error>(()));
    let result = runtime.block_on(async {
        let signal = tokio::spawn(async move {
            super::serve::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        // A bar while the follower is behind the leader's checkpoint (at a terminal).
        let mut catching_up: Option<(crate::progress::Meter, u64)> = None;
        let bar = crate::progress::mode() == crate::progress::Mode::Bar;
        let followed = follower::follow(ledger.clone(), data, config, stop_rx, |p| match p {
            Progress::Behind { head, size } => {
                if catching_up.is_none() {
                    let meter = crate::progress::Meter::events("catching up with the leader", Some(size - head));
                    catching_up = Some((meter, head));
                }
            }
            Progress::Copied { from, to } => {
                if let Some((meter, start)) = &catching_up {
                    meter.set(to.saturating_sub(*start));
                }
                if bar {
                    tracing::debug!("copied records {from} to {to}");
                } else {
                    tracing::info!("copied records {from} to {to}");
                }
            }
            Progress::Verified(cp) => {
                catching_up = None;
                tracing::info!("verified the leader's checkpoint of size {}", cp.size);
                if let Some(signed) = relayed(&cp, &key) {
                    verified.send_replace(Some(Arc::new(signed)));
                }
                let line = json!({"checkpoint": cp.size, "root": cp.root}).to_string();
                let mut printed = printed.lock().unwrap_or_else(|e| e.into_inner());
                if printed.is_ok() {
                    *printed = writeln!(out, "{line}").and_then(|_| out.flush());
                }
            }
        })
        .await;
        signal.abort();
        followed
    });
    // The server stops with the follower, whichever way it ended.
    if let Some(task) = server {
        runtime.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        });
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    match Arc::try_unwrap(ledger) {
        Ok(ledger) => ledger.close(),
        Err(_) => tracing::warn!("the ledger is still referenced; it closes when the process ends"),
    }
    result?;
    printed.into_inner().unwrap_or_else(|e| e.into_inner())?;
    Ok(())
}

/// A verified checkpoint of the leader as the follower's server serves it. Its cosigners
/// are left empty: the follower checks the leader's signature, not its witnesses' (their
/// lines stay in the text, for a verifier with their keys).
fn relayed(verified: &VerifiedCheckpoint, key: &VerifierKey) -> Option<SignedCheckpoint> {
    let checkpoint = crate::checkpoint::Checkpoint::open(&verified.text, key).ok()?;
    Some(SignedCheckpoint {
        text: verified.text.clone(),
        origin: verified.origin.clone(),
        size: verified.size,
        root: verified.root.clone(),
        projection: crate::proofs::committed_projection(&checkpoint)
            .map(|h| h.to_hex())
            .unwrap_or_default(),
        cosigners: Vec::new(),
    })
}
