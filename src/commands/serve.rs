//! `orgledger serve`, `orgledger token` and `orgledger schema`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::CommandError;
use crate::server::{self, ServerConfig, ServerLimits};
use crate::store::{Ledger, LedgerOptions, StoreError};
use crate::tokens::{self, Role, TokenError, Tokens};

/// The token name `serve --demo` gives its clerk token (a new one at each start).
pub const DEMO_CLERK: &str = "demo-clerk";

impl From<TokenError> for CommandError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::BadName(_) | TokenError::Exists(_) | TokenError::NotFound(_) => {
                CommandError::Rejected(e.to_string())
            }
            _ => CommandError::Failed(e.to_string()),
        }
    }
}

fn is_empty_or_missing(dir: &Path) -> Result<bool, CommandError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(CommandError::Failed(format!("{}: {e}", dir.display()))),
    }
}

/// How `serve` runs.
pub struct ServeOptions {
    pub listen: String,
    pub demo: bool,
    pub public_read: bool,
}

/// `orgledger serve`: opens the ledger (first writing the demo into an empty data directory
/// with `--demo`), prints `listening on http://ADDR/graphql` (after the demo's clerk token,
/// with `--demo`) and serves until SIGTERM or Ctrl-C; then finishes the requests in flight,
/// closes the ledger (which flushes) and returns.
pub fn serve(data: &Path, options: ServeOptions, out: &mut impl Write) -> Result<(), CommandError> {
    server::init_logging();
    if options.demo && is_empty_or_missing(data)? {
        tracing::info!("writing the demo ledger into {}", data.display());
        let mut sink = Vec::new();
        super::demo(data, &mut sink)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failed(format!("starting the runtime: {e}")))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&options.listen))
        .map_err(|e| CommandError::Failed(format!("--listen {}: {e}", options.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CommandError::Failed(format!("--listen {}: {e}", options.listen)))?;
    if !data.join("conf").exists() {
        tracing::warn!("no ledger in {}: starting a new, empty one", data.display());
    }
    let ledger = Arc::new(Ledger::open(data, LedgerOptions::default()).map_err(|e| match e {
        StoreError::InUse(_) => CommandError::Failed(e.to_string()),
        other => other.into(),
    })?);
    if options.demo {
        // Tokens are kept hashed: the demo's clerk token is made anew at each start.
        let _ = tokens::revoke(data, DEMO_CLERK);
        let token = tokens::add(data, DEMO_CLERK, Role::Clerk)?;
        writeln!(out, "demo clerk token: {token}")?;
    }
    let tokens = Arc::new(Tokens::open(data)?);
    let checkpoint_key = super::audit::signing_key(data, None, None)?;
    writeln!(out, "listening on http://{addr}/graphql")?;
    out.flush()?;
    let config = ServerConfig {
        ledger: ledger.clone(),
        tokens,
        public_read: options.public_read,
        limits: ServerLimits::default(),
        checkpoint_key: Some(checkpoint_key),
    };
    let result = runtime.block_on(server::run(listener, config, shutdown_signal()));
    // Subscriptions have ended with the server; what is still running holds no ledger.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match Arc::try_unwrap(ledger) {
        Ok(ledger) => ledger.close(),
        Err(_) => tracing::warn!("the ledger is still referenced; it closes when the process ends"),
    }
    tracing::info!("stopped");
    result.map_err(|e| CommandError::Failed(format!("serving: {e}")))
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `orgledger token add`: prints the new token alone on stdout.
pub fn token_add(data: &Path, name: &str, role: Role, out: &mut impl Write) -> Result<(), CommandError> {
    let token = tokens::add(data, name, role)?;
    writeln!(out, "{token}")?;
    Ok(())
}

/// `orgledger token list`: one line per token, `NAME ROLE CREATED_AT`.
pub fn token_list(data: &Path, out: &mut impl Write) -> Result<(), CommandError> {
    for t in tokens::list(data)? {
        writeln!(out, "{}\t{}\t{}", t.name, t.role.as_str(), t.created_at)?;
    }
    Ok(())
}

/// `orgledger token revoke NAME`.
pub fn token_revoke(data: &Path, name: &str, out: &mut impl Write) -> Result<(), CommandError> {
    let t = tokens::revoke(data, name)?;
    writeln!(out, "revoked {} ({})", t.name, t.role.as_str())?;
    Ok(())
}

/// `orgledger schema`: the GraphQL schema in SDL, as `schema/ledger.graphql` holds it.
pub fn schema(out: &mut impl Write) -> Result<(), CommandError> {
    write!(out, "{}", crate::graphql::sdl())?;
    Ok(())
}
