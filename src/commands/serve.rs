//! `orgledger serve`, `orgledger token` and `orgledger schema`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::CommandError;
use crate::ledger::{Ledger, LedgerOptions};
use crate::server::{self, ServerConfig, ServerLimits};
use crate::store::Store;
use crate::tokens::{self, Role, TokenError, Tokens};

/// The token name `serve --demo` gives its clerk token (a new one at each start).
pub const DEMO_CLERK: &str = "demo-clerk";
/// The token name `serve --demo` gives the reader token of the dashboard's link (a new one
/// at each start).
pub const DEMO_READER: &str = "demo-reader";

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

/// The file a running server keeps in its data directory, so that a command refused
/// because the store is in use can say what holds it.
pub const HOLDER_FILE: &str = "server.json";

/// What holds the store at `data`, when a server says so in its holder file and (on Linux,
/// where it can be told) its process still runs: `orgledger serve (pid N) on URL`.
pub fn holder(data: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data.join(HOLDER_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pid = v["pid"].as_u64()?;
    let url = v["url"].as_str()?;
    if cfg!(target_os = "linux") && !Path::new("/proc").join(pid.to_string()).exists() {
        return None;
    }
    Some(format!(
        "`orgledger serve` (pid {pid}) on {url}; stop it, or ask it over HTTP"
    ))
}

/// Writes the holder file once the server listens; it is removed when the server stops.
fn write_holder(data: &Path, url: &str) -> Result<(), CommandError> {
    let text = serde_json::json!({"pid": std::process::id(), "url": url}).to_string();
    std::fs::write(data.join(HOLDER_FILE), text + "\n")
        .map_err(|e| CommandError::Failed(format!("{}: {e}", data.join(HOLDER_FILE).display())))
}

/// Whether `serve --demo` may print a demo token for the ledger in `data`: only when its
/// first events are the demo's, to the last byte (the hash of the demo's last event commits
/// to all of them). Events appended after the demo (over GraphQL, say) do not matter.
fn holds_the_demo(ledger: &Ledger) -> Result<bool, CommandError> {
    let (events, head) = crate::demo::DEMO_HEAD;
    let Some(record) = ledger.store().record(events)? else {
        return Ok(false);
    };
    Ok(record.hash().to_hex() == head)
}

/// How `serve` runs.
pub struct ServeOptions {
    pub listen: String,
    pub demo: bool,
    pub public_read: bool,
    /// `--witness URL=VKEY_FILE` arguments.
    pub witnesses: Vec<String>,
    pub quorum: Option<usize>,
    /// Seconds between two published checkpoints, at least.
    pub checkpoint_interval: f64,
    /// `--tls-cert FILE --tls-key FILE`: serve HTTPS and WSS with this certificate (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `--insecure-http`: serve plain HTTP off loopback anyway (warned at start and in
    /// `/healthz`).
    pub insecure_http: bool,
    /// `--ca FILE`: the CA certificates the witnesses' HTTPS is checked against, in place of
    /// the system's roots.
    pub ca: Option<PathBuf>,
    /// `--rules-cache-mib`, in bytes: see [`LedgerOptions::rules_cache_bytes`].
    pub rules_cache_bytes: usize,
    /// `--store-cache-mib`, in bytes: see [`crate::store::set_cache_bytes`].
    pub store_cache_bytes: u64,
}

/// `orgledger serve`: opens the ledger (first writing the demo into an empty data directory
/// with `--demo`), prints `listening on http://ADDR/graphql` (`https://` with `--tls-cert`;
/// after the demo's clerk token, with `--demo`) and serves until SIGTERM or Ctrl-C; then
/// finishes the requests in flight, closes the ledger (which flushes) and returns. Off
/// loopback it serves plain HTTP only with `--insecure-http` (see [`crate::tls::listening`]).
pub fn serve(data: &Path, options: ServeOptions, out: &mut impl Write) -> Result<(), CommandError> {
    server::init_logging();
    crate::store::set_cache_bytes(options.store_cache_bytes);
    if !(options.checkpoint_interval.is_finite() && options.checkpoint_interval >= 0.0) {
        return Err(CommandError::Failed(format!(
            "--checkpoint-interval {}: a number of seconds, 0 or more",
            options.checkpoint_interval
        )));
    }
    // Bad certificates, keys and CA files, and plain HTTP off loopback, are refused before
    // anything is written or bound.
    let listening = crate::tls::listening(
        &options.listen,
        options.tls.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        options.insecure_http,
    )
    .map_err(CommandError::Failed)?;
    let client = crate::tls::client(options.ca.as_deref()).map_err(|e| CommandError::Failed(format!("--ca {e}")))?;
    let checkpoints = if options.witnesses.is_empty() {
        server::Checkpointing::default()
    } else {
        let (witnesses, quorum) = super::witness::endpoints(&options.witnesses, options.quorum)?;
        server::Checkpointing {
            witnesses,
            quorum,
            ..Default::default()
        }
    };
    let checkpoints = server::Checkpointing {
        interval: std::time::Duration::from_secs_f64(options.checkpoint_interval),
        client,
        ..checkpoints
    };
    if let crate::tls::Listening::InsecureHttp = listening {
        tracing::warn!("{}", crate::tls::INSECURE_WARNING);
    }
    if options.demo && crate::demo::may_write_demo(data) {
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
    if !Store::exists_at(data) {
        tracing::warn!("no ledger in {}: starting a new, empty one", data.display());
    }
    let ledger = Ledger::open(
        data,
        LedgerOptions::default().with_rules_cache_bytes(options.rules_cache_bytes),
    )?;
    if options.demo && !holds_the_demo(&ledger)? {
        let head = ledger.head().seq;
        ledger.close();
        return Err(CommandError::Failed(format!(
            "{} holds a ledger of {head} events that is not the demo: `serve --demo` prints a demo \
             token only for the demo ledger; serve this one without --demo (with a token from \
             `orgledger token add`), or give --demo another --data",
            data.display()
        )));
    }
    // The whole chain is checked while the server serves: opening checked only what was new
    // since the verified point. A broken chain stops appends, not reads.
    let events = ledger.head().seq;
    let started = std::time::Instant::now();
    tracing::info!("verifying the chain of {events} events in the background");
    ledger.verify_in_background(move |verdict| match verdict {
        Ok(v) => tracing::info!(
            "verified the chain of {} events in {:.1} s: root {}",
            v.events,
            started.elapsed().as_secs_f64(),
            v.root
        ),
        Err(e) => tracing::error!("the background verify failed; appends are refused: {e}"),
    })?;
    let ledger = Arc::new(ledger);
    let mut reader = None;
    if options.demo {
        // Tokens are kept hashed: the demo's tokens are made anew at each start.
        let _ = tokens::revoke(data, DEMO_CLERK);
        let token = tokens::add(data, DEMO_CLERK, Role::Clerk)?;
        writeln!(out, "demo clerk token: {token}")?;
        let _ = tokens::revoke(data, DEMO_READER);
        reader = Some(tokens::add(data, DEMO_READER, Role::Reader)?);
    }
    let tokens = Arc::new(Tokens::open(data)?);
    let checkpoint_key = super::audit::signing_key(data, None, None)?;
    let url = format!("{}://{addr}/graphql", listening.scheme());
    write_holder(data, &url)?;
    writeln!(out, "listening on {url}")?;
    if let Some(reader) = reader {
        // The dashboard with a reader token in the fragment, which a browser never sends to
        // the server: the page reads it and keeps it.
        writeln!(out, "dashboard: {}://{addr}/#token={reader}", listening.scheme())?;
    }
    out.flush()?;
    let config = ServerConfig {
        ledger: ledger.clone(),
        tokens,
        public_read: options.public_read,
        limits: ServerLimits::default(),
        checkpoint_key: Some(checkpoint_key),
        checkpoints,
        follows: None,
        cosigning: None,
        listening,
    };
    let result = runtime.block_on(server::run(listener, config, shutdown_signal()));
    // Subscriptions have ended with the server; what is still running holds no ledger.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match Arc::try_unwrap(ledger) {
        Ok(ledger) => ledger.close(),
        Err(_) => tracing::warn!("the ledger is still referenced; it closes when the process ends"),
    }
    let _ = std::fs::remove_file(data.join(HOLDER_FILE));
    tracing::info!("stopped");
    result.map_err(|e| CommandError::Failed(format!("serving: {e}")))
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
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

/// The token commands that read refuse a directory with neither a ledger nor a tokens file:
/// a wrong `--data` says `no ledger at DIR` rather than listing nothing.
fn require_ledger_or_tokens(data: &Path) -> Result<(), CommandError> {
    if data.join(tokens::TOKENS_FILE).exists() {
        Ok(())
    } else {
        super::require_ledger(data)
    }
}

/// `orgledger token add`: prints the new token alone on stdout.
pub fn token_add(data: &Path, name: &str, role: Role, out: &mut impl Write) -> Result<(), CommandError> {
    // Tokens are kept beside a ledger, or in a directory made for one (`serve --demo` fills
    // a directory holding only tokens); a mistyped --data is not created silently.
    if !data.is_dir() {
        return Err(CommandError::Failed(format!(
            "no ledger at {}: the directory does not exist (create the ledger first, with \
             `orgledger serve`, `demo`, `append` or `import`, or make the directory)",
            data.display()
        )));
    }
    let token = tokens::add(data, name, role)?;
    writeln!(out, "{token}")?;
    Ok(())
}

/// `orgledger token list`: one line per token, `NAME ROLE CREATED_AT`.
pub fn token_list(data: &Path, out: &mut impl Write) -> Result<(), CommandError> {
    require_ledger_or_tokens(data)?;
    for t in tokens::list(data)? {
        writeln!(out, "{}\t{}\t{}", t.name, t.role.as_str(), t.created_at)?;
    }
    Ok(())
}

/// `orgledger token revoke NAME`.
pub fn token_revoke(data: &Path, name: &str, out: &mut impl Write) -> Result<(), CommandError> {
    require_ledger_or_tokens(data)?;
    let t = tokens::revoke(data, name)?;
    writeln!(out, "revoked {} ({})", t.name, t.role.as_str())?;
    Ok(())
}

/// `orgledger schema`: the GraphQL schema in SDL, as `schema/ledger.graphql` holds it.
pub fn schema(out: &mut impl Write) -> Result<(), CommandError> {
    write!(out, "{}", crate::graphql::sdl())?;
    Ok(())
}
