//! `orgledger tls self-signed`: a certificate for a first HTTPS set-up.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::CommandError;

impl From<crate::tls::TlsError> for CommandError {
    fn from(e: crate::tls::TlsError) -> Self {
        CommandError::Failed(e.to_string())
    }
}

/// `orgledger tls self-signed --host NAME ... --out DIR`: writes `DIR/ca.pem` (the CA clients
/// trust, `--ca`), `DIR/cert.pem` (the server's certificate for the hosts, `--tls-cert`) and
/// `DIR/key.pem` (its key, mode 0600, `--tls-key`), overwriting nothing; prints
/// `{"ca":…,"cert":…,"key":…,"hosts":[…],"not_after":"YYYY-MM-DD"}`.
pub fn self_signed(hosts: &[String], dir: &Path, out: &mut impl Write) -> Result<(), CommandError> {
    if hosts.iter().any(|h| h.trim().is_empty()) {
        return Err(CommandError::Failed(
            "--host: a DNS name or an IP address, not empty".into(),
        ));
    }
    let set = crate::tls::self_signed(hosts).map_err(CommandError::Failed)?;
    let [ca, cert, key] = crate::tls::write_self_signed(dir, &set)?;
    let line = json!({
        "ca": ca.display().to_string(),
        "cert": cert.display().to_string(),
        "key": key.display().to_string(),
        "hosts": hosts,
        "not_after": set.not_after,
    });
    writeln!(out, "{line}")?;
    Ok(())
}
