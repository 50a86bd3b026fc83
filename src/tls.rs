//! TLS, in Rust (rustls on ring, no OpenSSL): the server's certificate and key (PEM files,
//! read again when they change, so a renewal needs no restart), the listener that speaks TLS
//! over a TCP listener for axum, the rule that keeps tokens off the network in the clear, the
//! HTTPS client every part of the project uses (the system's roots, or a CA file), and the
//! self-signed certificate of a first set-up (`orgledger tls self-signed`).
//!
//! Architecture invariant: this is the only module that knows rustls. The server asks it for a
//! listener, the commands for a client, and neither sees a certificate.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// What went wrong with a certificate, a key or a CA file. Every variant names the file; the
/// command line exits 2 with it, before anything binds.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read, is not PEM, or holds nothing of the kind asked for.
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    /// The key is not the key of the certificate.
    #[error("{key}: this key does not match the certificate in {cert} ({why})")]
    Mismatch { cert: PathBuf, key: PathBuf, why: String },
    /// `tls self-signed` would overwrite a file.
    #[error("{0}: already exists; `orgledger tls self-signed` overwrites nothing (remove it, or give another --out)")]
    Exists(PathBuf),
    /// An HTTP client could not be built (reqwest refused its TLS set-up).
    #[error("the HTTPS client: {0}")]
    Client(String),
}

fn file_error(path: &Path, why: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        why: why.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| file_error(path, e.to_string()))
}

/// The certificates of a PEM file, in order; a file with none (or that is not PEM) is refused.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not a PEM file of certificates: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            path,
            "holds no PEM certificate (a `-----BEGIN CERTIFICATE-----` block)",
        ));
    }
    Ok(certs)
}

/// The provider every TLS configuration here uses: ring, as reqwest's. rustls 0.23.48 marks
/// it deprecated because ring has no post-quantum key exchange (X25519MLKEM768); aws-lc-rs
/// has, at the cost of a C and cmake build and a second crypto library beside reqwest's ring.
/// TLS 1.3 with X25519 protects the tokens today; the switch is one line here.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a certificate chain and its key, and checks that the key is the certificate's.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certificates(cert)?;
    let key_bytes = read(key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => file_error(
            key,
            "holds no PEM private key (a `-----BEGIN PRIVATE KEY-----`, `EC PRIVATE KEY` or `RSA PRIVATE KEY` block)",
        ),
        e => file_error(key, format!("not a PEM private key: {e}")),
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| file_error(key, format!("a private key rustls cannot use: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        why: e.to_string(),
    })?;
    Ok(Arc::new(certified))
}

/// What a file looked like when it was last read: a change of any of these reloads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

/// How often the server looks at its certificate and key files for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// How long a client has to finish its TLS handshake; then the connection is dropped, so a
/// client that connects and says nothing holds no task for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's certificate: the files it came from and the pair it serves now, which
/// [`ServerTls::reload_if_changed`] replaces when the files change and still make a pair.
#[derive(Debug)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    /// The pair served to each new handshake.
    current: Arc<RwLock<Arc<CertifiedKey>>>,
    /// The files as they were last read (a pair that failed to load too, so a bad renewal is
    /// logged once, not at every look).
    seen: Mutex<(Option<Stamp>, Option<Stamp>)>,
    /// rustls's configuration, whose resolver reads `current`.
    config: Arc<rustls::ServerConfig>,
}

/// Hands each handshake the pair the server serves now.
#[derive(Debug)]
struct CurrentCertificate(Arc<RwLock<Arc<CertifiedKey>>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

impl ServerTls {
    /// Loads the certificate chain and key (PEM) the server will serve; an unreadable, non-PEM
    /// or mismatched pair is refused here, naming the file, before anything binds.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerTls>, TlsError> {
        let seen = (stamp(cert), stamp(key));
        let current = Arc::new(RwLock::new(load_certified_key(cert, key)?));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Client(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(CurrentCertificate(current.clone())));
        // The server speaks HTTP/1.1 (WebSocket upgrades included), not HTTP/2.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(ServerTls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current,
            seen: Mutex::new(seen),
            config: Arc::new(config),
        }))
    }

    /// Reads the files again if either changed since last read: `Ok(true)` when the new pair
    /// is now served, `Err` when it does not load (the previous pair is still served).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = (stamp(&self.cert), stamp(&self.key));
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return Ok(false);
            }
            *seen = now;
        }
        let pair = load_certified_key(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = pair;
        Ok(true)
    }

    /// Looks at the files every [`RELOAD_EVERY`] until `stopping` turns true, and serves a
    /// renewed pair from the next handshake on. A renewal caught half-written (a new
    /// certificate beside the old key) is logged and tried again when the files change again.
    pub async fn watch(self: Arc<Self>, mut stopping: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RELOAD_EVERY) => {},
                _ = stopping.wait_for(|s| *s) => return,
            }
            match self.reload_if_changed() {
                Ok(true) => tracing::info!("serving the renewed TLS certificate of {}", self.cert.display()),
                Ok(false) => {}
                Err(e) => tracing::warn!("the TLS certificate was not reloaded, the previous one is still served: {e}"),
            }
        }
    }
}

/// A TCP listener whose connections speak TLS, for `axum::serve`. Handshakes run in tasks of
/// their own, so a slow or silent client delays only itself; a connection whose handshake
/// fails or times out is dropped (logged at debug) and never reaches the router.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    /// The accept loop, stopped when the server drops the listener.
    accepting: tokio::task::AbortHandle,
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: &ServerTls) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(tls.config.clone());
        let (tx, accepted) = mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // As axum does: out of file descriptors and the like pass.
                        tracing::debug!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // TLS writes a record at a time; Nagle's algorithm would hold back the last
                // one of an answer for the peer's delayed acknowledgement.
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        })
        .abort_handle();
        Ok(TlsListener {
            accepted,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(c) => c,
            // The accept loop holds a sender until the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Whether every address `listen` names is a loopback address (127.0.0.0/8, ::1), where
/// nothing the server says crosses a network. A name that does not resolve is not.
pub fn is_loopback(listen: &str) -> bool {
    match listen.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// How a server that carries tokens may listen on `listen`: with a certificate (`cert`,
/// `key`), always; in plain HTTP, on a loopback address, or elsewhere only when `insecure`
/// (`--insecure-http`) says so. The refusal says how to give a certificate.
pub fn listening(listen: &str, cert_and_key: Option<(&Path, &Path)>, insecure: bool) -> Result<Listening, String> {
    if let Some((cert, key)) = cert_and_key {
        return ServerTls::load(cert, key)
            .map(Listening::Tls)
            .map_err(|e| e.to_string());
    }
    if is_loopback(listen) {
        return Ok(Listening::Loopback);
    }
    if insecure {
        return Ok(Listening::InsecureHttp);
    }
    Err(format!(
        "--listen {listen} is not a loopback address, and plain HTTP would carry every bearer token \
         across the network in the clear: give a certificate with --tls-cert FILE --tls-key FILE \
         (PEM; for a first set-up, `orgledger tls self-signed --host NAME --out DIR` writes one), \
         or serve plain HTTP anyway with --insecure-http"
    ))
}

/// How a server listens, from [`listening`].
#[derive(Debug, Clone, Default)]
pub enum Listening {
    /// Plain HTTP on a loopback address: nothing crosses a network.
    #[default]
    Loopback,
    /// HTTPS and WSS with this certificate, reloaded when its files change; HSTS on every
    /// answer.
    Tls(Arc<ServerTls>),
    /// Plain HTTP off loopback, as `--insecure-http` asked: warned at start and in `/healthz`.
    InsecureHttp,
}

impl Listening {
    /// The URL scheme clients use: `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Listening::Tls(_) => "https",
            _ => "http",
        }
    }
}

/// The warning `--insecure-http` gives at start and in `/healthz`.
pub const INSECURE_WARNING: &str = "warning: serving plain HTTP on an address that is not loopback \
     (--insecure-http): bearer tokens cross the network in the clear; serve with --tls-cert and --tls-key";

/// The HTTP client of every part of the project that calls another (a follower its leader, a
/// ledger its witnesses): HTTPS through rustls, checking the server's certificate against the
/// system's roots, or with `ca` against the certificates of that PEM file only (a private or
/// self-signed CA, as `orgledger tls self-signed` writes). A certificate it cannot verify is
/// refused. Plain `http://` URLs still work (loopback set-ups, tests).
pub fn client(ca: Option<&Path>) -> Result<reqwest::Client, TlsError> {
    let mut builder = reqwest::Client::builder().use_rustls_tls();
    if let Some(ca) = ca {
        builder = builder.tls_built_in_root_certs(false);
        for cert in certificates(ca)? {
            let cert = reqwest::Certificate::from_der(&cert)
                .map_err(|e| file_error(ca, format!("not a usable CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| match ca {
        Some(ca) => file_error(ca, format!("not a usable CA certificate: {e}")),
        None => TlsError::Client(e.to_string()),
    })
}

/// An error with its causes, `a: b: c`: reqwest's own message says only "error sending
/// request", and the cause (a certificate that does not verify) is in its sources.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A rustls client configuration trusting only the certificates of the PEM file `ca`: for
/// clients that are not reqwest (a WebSocket client, the benchmark's load generator).
pub fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca)? {
        roots
            .add(cert)
            .map_err(|e| file_error(ca, format!("not a usable CA certificate: {e}")))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The files `orgledger tls self-signed` writes into its directory.
pub const CA_FILE: &str = "ca.pem";
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

/// How long a self-signed certificate is valid, in days from today.
pub const SELF_SIGNED_DAYS: i64 = 365;

/// A certificate for a first set-up, in PEM: a CA made for it (`ca`, what clients trust), the
/// server's certificate signed by it for `hosts` (`cert`) and the server's key (`key`). The
/// CA's own key is dropped once it has signed, so it can vouch for nothing else.
pub struct SelfSigned {
    pub ca: String,
    pub cert: String,
    pub key: String,
    /// The certificate's last valid day, `YYYY-MM-DD`.
    pub not_after: String,
}

fn serial() -> Result<rcgen::SerialNumber, rcgen::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| rcgen::Error::RingUnspecified)?;
    bytes[0] &= 0x7f; // positive, as RFC 5280 asks
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

/// Makes a [`SelfSigned`] set for `hosts` (DNS names or IP addresses), valid from yesterday
/// (clocks differ) for [`SELF_SIGNED_DAYS`].
pub fn self_signed(hosts: &[String]) -> Result<SelfSigned, String> {
    use chrono::Datelike;
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let ymd = |d: chrono::NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(1);
    let until = today + chrono::Duration::days(SELF_SIGNED_DAYS);
    let e = |e: rcgen::Error| e.to_string();

    let ca_key = KeyPair::generate().map_err(e)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("orgledger self-signed CA for {}", hosts.join(", ")),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = ymd(from);
    ca.not_after = ymd(until);
    ca.serial_number = Some(serial().map_err(e)?);
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;

    let key = KeyPair::generate().map_err(e)?;
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(|err| format!("--host: {err}"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, hosts.first().cloned().unwrap_or_default());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = ymd(from);
    params.not_after = ymd(until);
    params.serial_number = Some(serial().map_err(e)?);
    let cert = params.signed_by(&key, &ca_cert, &ca_key).map_err(e)?;
    Ok(SelfSigned {
        ca: ca_cert.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
        not_after: until.to_string(),
    })
}

/// Writes `set` into `dir` (created if missing) as [`CA_FILE`], [`CERT_FILE`] and
/// [`KEY_FILE`], the key with mode 0600 from its creation; overwrites nothing. Returns the
/// three paths.
pub fn write_self_signed(dir: &Path, set: &SelfSigned) -> Result<[PathBuf; 3], TlsError> {
    let paths = [dir.join(CA_FILE), dir.join(CERT_FILE), dir.join(KEY_FILE)];
    for path in &paths {
        if path.exists() {
            return Err(TlsError::Exists(path.clone()));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e.to_string()))?;
    for (path, text, private) in [
        (&paths[0], &set.ca, false),
        (&paths[1], &set.cert, false),
        (&paths[2], &set.key, true),
    ] {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o644 });
        let _ = private;
        let mut file = options.open(path).map_err(|e| file_error(path, e.to_string()))?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| file_error(path, e.to_string()))?;
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain HTTP is kept to addresses where nothing crosses a network: every address a
    /// `--listen` names must be loopback, and the wildcard addresses are not.
    #[test]
    fn only_loopback_addresses_may_serve_plain_http() {
        for loopback in ["127.0.0.1:0", "127.0.0.2:8080", "[::1]:0", "localhost:0"] {
            assert!(is_loopback(loopback), "{loopback} is loopback");
        }
        for network in [
            "0.0.0.0:0",
            "[::]:0",
            "192.0.2.1:80",
            "not an address",
            "host.invalid:80",
        ] {
            assert!(!is_loopback(network), "{network} is not loopback");
        }
    }

    /// A self-signed set loads as a pair, and its CA makes a client configuration; a key of
    /// another set does not match the certificate.
    #[test]
    fn a_self_signed_set_is_a_pair_and_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let [ca, cert, key] =
            write_self_signed(&dir.path().join("a"), &self_signed(&["127.0.0.1".into()]).unwrap()).unwrap();
        let [_, _, other] =
            write_self_signed(&dir.path().join("b"), &self_signed(&["127.0.0.1".into()]).unwrap()).unwrap();
        assert!(load_certified_key(&cert, &key).is_ok());
        assert!(client_config(&ca).is_ok());
        match load_certified_key(&cert, &other) {
            Err(TlsError::Mismatch { key, .. }) => assert_eq!(key, other),
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }
}
