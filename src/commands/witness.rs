//! `orgledger witness init | serve | evidence`: a witness of other ledgers' checkpoints
//! (C2SP tlog-witness), and the ledger's side, asking witnesses to cosign.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::CommandError;
use crate::checkpoint::VerifierKey;
use crate::witness::{self, Endpoint, Witness, WitnessError};

impl From<WitnessError> for CommandError {
    fn from(e: WitnessError) -> Self {
        CommandError::Failed(e.to_string())
    }
}

/// `orgledger witness init --origin NAME`: a new key (mode 0600) in the witness's directory;
/// prints its verifier key, `NAME+KEYID+BASE64(0x04 || key)`, for the ledgers' operators.
pub fn init(dir: &Path, origin: &str, out: &mut impl Write) -> Result<(), CommandError> {
    let key = witness::init(dir, origin)?;
    writeln!(out, "{}", key.verifier().to_text())?;
    Ok(())
}

/// `orgledger witness serve --listen ADDR --log VKEY_FILE ...`: serves `POST
/// /add-checkpoint` until SIGTERM or Ctrl-C; prints `listening on http://ADDR` once bound.
pub fn serve(dir: &Path, listen: &str, logs: &[PathBuf], out: &mut impl Write) -> Result<(), CommandError> {
    crate::server::init_logging();
    let mut keys = Vec::new();
    for path in logs {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CommandError::Failed(format!("--log {}: {e}", path.display())))?;
        keys.push(
            VerifierKey::parse(&text).map_err(|e| CommandError::Failed(format!("--log {}: {e}", path.display())))?,
        );
    }
    let witness = Arc::new(Witness::open(dir, keys)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failed(format!("starting the runtime: {e}")))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|e| CommandError::Failed(format!("--listen {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CommandError::Failed(format!("--listen {listen}: {e}")))?;
    tracing::info!(key = %witness.key().verifier().to_text(), "witness");
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    let app = witness::router(witness);
    let result = runtime.block_on(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(super::serve::shutdown_signal())
            .await
    });
    tracing::info!("stopped");
    result.map_err(|e| CommandError::Failed(format!("serving: {e}")))
}

/// `orgledger witness evidence`: every request that showed a fork or a failed proof, one JSON
/// object a line, oldest first.
pub fn evidence(dir: &Path, out: &mut impl Write) -> Result<(), CommandError> {
    for entry in witness::evidence(dir)? {
        writeln!(out, "{}", serde_json::to_string(&entry).expect("serializes"))?;
    }
    Ok(())
}

/// The `--witness URL=VKEY_FILE` arguments, and the quorum (default: all of them), checked.
pub fn endpoints(args: &[String], quorum: Option<usize>) -> Result<(Vec<Endpoint>, usize), CommandError> {
    let endpoints = args
        .iter()
        .map(|a| Endpoint::parse(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CommandError::Failed)?;
    let k = quorum.unwrap_or(endpoints.len());
    if k == 0 || k > endpoints.len() {
        return Err(CommandError::Failed(format!(
            "--quorum {k}: between 1 and the number of --witness given ({})",
            endpoints.len()
        )));
    }
    Ok((endpoints, k))
}
