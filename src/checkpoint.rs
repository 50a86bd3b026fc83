//! Signed checkpoints and the Ed25519 keys that sign them, in the C2SP `signed-note` and
//! `tlog-checkpoint` text forms.
//!
//! A checkpoint says "the ledger ORIGIN held SIZE events, and the Merkle root of their hashes
//! was ROOT", signed by the ledger's key. An auditor who keeps one can later check that the
//! ledger still contains exactly that history, so a cut tail, a rewritten past or a fork is
//! caught. The texts follow the C2SP specifications byte for byte, so that any implementation
//! of them (Go's `golang.org/x/mod/sumdb/note` is the reference) reads our checkpoints and
//! keys, and an auditor needs nothing of ours:
//!
//! ```text
//! orgledger.example/test                        origin: the ledger's name
//! 7                                             tree size, decimal
//! ERERERERERERERERERERERERERERERERERERERERERE=  root hash, standard base64 of 32 bytes
//! projection blake3:0000…0000                   optional extension lines
//!                                               a blank line
//! — orgledger.example/test 61yHxW9D…            "— " key name base64(key ID || signature)
//! ```
//!
//! Two layers: [`sign_note`] and [`open_note`] are the generic signed note, [`Checkpoint`]
//! gives its text a meaning. Keys are written as Go's `note` package writes them:
//! `NAME+KEYID+BASE64` for a verifier key and `PRIVATE+KEY+NAME+KEYID+BASE64` for a signer key.
//!
//! orgledger is stricter than the signed-note specification in one point: a note's text has
//! no empty line (a checkpoint never has one), so a stray blank line is an error, never a
//! silent change of where the text ends. And as tlog-checkpoint requires, a checkpoint's
//! origin is its key's name: one whose first line names another ledger is refused.
//!
//! Everything here is pure except [`load_or_create_key`] and [`load_key`], the key file.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer};
use sha2::{Digest, Sha256};

use crate::event::Hash;

/// The signed-note signature type of Ed25519: it prefixes the public key and the seed in key
/// texts and is hashed into the key ID.
const ALG_ED25519: u8 = 0x01;
/// The signature type of an Ed25519 cosigner (C2SP tlog-cosignature `cosignature/v1`): a
/// witness's key. The same key bytes under another type have another key ID, so a witness's
/// key can never pass for a ledger's, nor the other way round.
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// What a key signs: a ledger's checkpoints (signed-note type 0x01), or cosignatures of
/// other ledgers' checkpoints (tlog-cosignature type 0x04, a witness's key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Note,
    Cosigner,
}

impl KeyType {
    fn byte(self) -> u8 {
        match self {
            KeyType::Note => ALG_ED25519,
            KeyType::Cosigner => ALG_COSIGNATURE_V1,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            KeyType::Note => "a ledger's key (type 0x01, signs checkpoints)",
            KeyType::Cosigner => "a witness's key (type 0x04, cosigns checkpoints)",
        }
    }

    fn from_byte(byte: u8) -> Option<KeyType> {
        match byte {
            ALG_ED25519 => Some(KeyType::Note),
            ALG_COSIGNATURE_V1 => Some(KeyType::Cosigner),
            _ => None,
        }
    }
}
/// What starts every signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// What starts a signer key text, as Go's `note.NewSigner` reads it.
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
/// The most signature lines a note may have, as in Go's `note.Open`: opening a note stays
/// cheap whatever it holds (the specification asks verifiers to accept at least 16).
const MAX_SIGNATURES: usize = 100;

/// Everything that can go wrong with a key, a note or a checkpoint. Each message says what is
/// wrong and where (a line number of the note, a key, a file).
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "invalid key name {0:?}: a key name is not empty and has no whitespace, no '+' \
         and no control character"
    )]
    InvalidKeyName(String),
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(String),
    /// Never holds the key text itself: it is a secret.
    #[error("malformed signer key: {0}")]
    MalformedSignerKey(String),
    #[error("no random bytes from the operating system for a new key: {0}")]
    Random(String),
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    #[error("no signature by key {key} (the note is signed by {})", list(.signers))]
    NoSignature { key: String, signers: Vec<String> },
    #[error("the signature does not verify under key {key}")]
    BadSignature { key: String },
    #[error("line {line}: {reason}")]
    MalformedCheckpoint { line: usize, reason: String },
    #[error(
        "the checkpoint's origin {origin:?} is not the name of the key {key:?}: a checkpoint is \
         of the ledger its key names, so this one is another ledger's (or the key is)"
    )]
    OriginMismatch { origin: String, key: String },
    #[error("key {key} is {}, not {}", .kind.describe(), .want.describe())]
    WrongKeyType { key: String, kind: KeyType, want: KeyType },
    #[error("key file {}: {source}", .path.display())]
    KeyFile { path: PathBuf, source: std::io::Error },
    #[error("key file {}: {source}", .path.display())]
    KeyFileContent {
        path: PathBuf,
        source: Box<CheckpointError>,
    },
    #[error("key file {} holds the key named {found:?}, not {expected:?}", .path.display())]
    KeyFileName {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

fn list(signers: &[String]) -> String {
    if signers.is_empty() {
        "no key".to_string()
    } else {
        signers.join(", ")
    }
}

/// The key ID of the signed-note specification: the first 4 bytes, big-endian, of
/// SHA-256(key name || 0x0A || type || 32-byte public key), the type 0x01 for a ledger's key
/// and 0x04 for a witness's.
fn key_id(name: &str, kind: KeyType, public: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', kind.byte()]);
    hasher.update(public);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Key names are non-empty, without whitespace or '+' (the specification's rule: '+'
/// separates the parts of a key text, a space the parts of a signature line), and without
/// control characters (which no note may hold).
fn check_key_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(CheckpointError::InvalidKeyName(name.to_string()));
    }
    Ok(())
}

/// Decodes standard base64 with padding, and only its one canonical spelling: a text that
/// decodes but is not what encoding gives back (stray bits in the last character) is refused,
/// so one value has one text and a changed character never goes unnoticed.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = BASE64.decode(text).ok()?;
    (BASE64.encode(&bytes) == text).then_some(bytes)
}

/// Key IDs are written as 8 lowercase hexadecimal digits, the only form `to_text` writes.
fn parse_key_id(text: &str) -> Option<u32> {
    let ok = text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| u32::from_str_radix(text, 16).ok()).flatten()
}

/// A key text may come from a one-line file: one final newline is not part of it.
fn strip_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

/// Splits `NAME+KEYID+BASE64` (the tail of both key texts) and checks the name and the
/// 33-byte payload (the type, 0x01 or 0x04, then 32 key bytes). The base64 may itself hold
/// '+', so only the first two '+' separate.
fn split_key_text(text: &str) -> Result<(&str, u32, KeyType, [u8; 32]), String> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected NAME+KEYID+BASE64".to_string());
    };
    check_key_name(name).map_err(|e| e.to_string())?;
    let id = parse_key_id(id).ok_or("the key ID is not 8 lowercase hexadecimal digits")?;
    let raw = decode_base64(key).ok_or("the key is not standard base64 with padding")?;
    let kind = (raw.len() == 33).then(|| KeyType::from_byte(raw[0])).flatten().ok_or(
        "the key is not the byte 0x01 (Ed25519) followed by 32 bytes, nor 0x04 (a witness's \
             Ed25519 cosigner key) followed by 32 bytes",
    )?;
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&raw[1..]);
    Ok((name, id, kind, bytes))
}

/// The public half of a ledger's key: what an auditor is given to check checkpoints.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    kind: KeyType,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// Parses `NAME+KEYID+BASE64(TYPE || public key)`, TYPE 0x01 for a ledger's key and 0x04
    /// for a witness's, checking that the key ID is the one of that name, type and key. One
    /// final newline is allowed (the key read from a file).
    pub fn parse(text: &str) -> Result<VerifierKey, CheckpointError> {
        let bad = CheckpointError::MalformedVerifierKey;
        let (name, id, kind, public) = split_key_text(strip_newline(text)).map_err(bad)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public)
            .map_err(|_| bad("the key is not an Ed25519 public key".to_string()))?;
        // A small-order point would accept forged signatures under non-strict rules; no
        // honestly generated key is one.
        if key.is_weak() {
            return Err(bad("the key is a weak (small-order) Ed25519 point".to_string()));
        }
        let want = key_id(name, kind, &public);
        if id != want {
            return Err(bad(format!(
                "key ID {id:08x} is not the ID of this name and key, which is {want:08x}"
            )));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id,
            kind,
            key,
        })
    }

    /// `NAME+KEYID+BASE64(TYPE || public key)`, as Go's `note.NewVerifier` reads it (type
    /// 0x01; a witness's 0x04 key as tlog-cosignature writes it).
    pub fn to_text(&self) -> String {
        let mut payload = vec![self.kind.byte()];
        payload.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, BASE64.encode(payload))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    pub fn kind(&self) -> KeyType {
        self.kind
    }

    /// `NAME+KEYID`: how messages name the key.
    pub fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({})", self.to_text())
    }
}

/// A ledger's signing key: a key name and an Ed25519 secret. Its `Debug` shows the name and
/// key ID only, so a key never ends up in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    name: String,
    id: u32,
    kind: KeyType,
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A new ledger key with a secret from the operating system's random generator.
    pub fn generate(name: &str) -> Result<SigningKey, CheckpointError> {
        SigningKey::generate_of(name, KeyType::Note)
    }

    /// A new key of either type with a secret from the operating system's random generator.
    pub fn generate_of(name: &str, kind: KeyType) -> Result<SigningKey, CheckpointError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| CheckpointError::Random(e.to_string()))?;
        SigningKey::from_seed_of(name, kind, seed)
    }

    /// The ledger key whose Ed25519 secret is `seed` (RFC 8032's 32-byte private key). For
    /// tests and test vectors; a real key comes from [`SigningKey::generate`].
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SigningKey, CheckpointError> {
        SigningKey::from_seed_of(name, KeyType::Note, seed)
    }

    /// [`SigningKey::from_seed`] for either type of key.
    pub fn from_seed_of(name: &str, kind: KeyType, seed: [u8; 32]) -> Result<SigningKey, CheckpointError> {
        check_key_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let id = key_id(name, kind, key.verifying_key().as_bytes());
        Ok(SigningKey {
            name: name.to_string(),
            id,
            kind,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+NAME+KEYID+BASE64(0x01 || seed)`, checking that the key ID is the
    /// one of the name and the public key derived from the seed. One final newline is
    /// allowed. Errors never quote the text: it is a secret.
    pub fn from_text(text: &str) -> Result<SigningKey, CheckpointError> {
        let bad = CheckpointError::MalformedSignerKey;
        let rest = strip_newline(text)
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or_else(|| bad(format!("it does not start with {PRIVATE_PREFIX:?}")))?;
        let (name, id, kind, seed) = split_key_text(rest).map_err(bad)?;
        let key = SigningKey::from_seed_of(name, kind, seed)?;
        if key.id != id {
            return Err(bad(format!(
                "key ID {id:08x} is not the ID of this name and key, which is {:08x}",
                key.id
            )));
        }
        Ok(key)
    }

    /// `PRIVATE+KEY+NAME+KEYID+BASE64(TYPE || seed)`, as Go's `note.GenerateKey` writes it
    /// (type 0x01; a witness's key has 0x04).
    pub fn to_text(&self) -> String {
        let mut payload = vec![self.kind.byte()];
        payload.extend_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_PREFIX}{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64.encode(payload)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    pub fn kind(&self) -> KeyType {
        self.kind
    }

    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            kind: self.kind,
            key: self.key.verifying_key(),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}+{:08x})", self.name, self.id)
    }
}

/// The number of the line that starts at byte `at` of `text` (1-based).
fn line_at(text: &str, at: usize) -> usize {
    text[..at].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The rules of a note's text: not empty, ending in a newline, no empty line, no control
/// character other than the newline. Line numbers count from the note's first line.
fn check_note_text(text: &str) -> Result<(), CheckpointError> {
    let bad = |reason: String| Err(CheckpointError::MalformedNote(reason));
    if text.is_empty() {
        return bad("the text is empty".to_string());
    }
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        return bad(format!(
            "line {}: control character U+{:04X}",
            line_at(text, at),
            c as u32
        ));
    }
    if !text.ends_with('\n') {
        return bad("the text does not end with a newline".to_string());
    }
    if let Some(n) = text.split_terminator('\n').position(str::is_empty) {
        return bad(format!(
            "line {} is empty: only one blank line, before the signatures, is allowed",
            n + 1
        ));
    }
    Ok(())
}

/// Signs `text` as a signed note: the text, a blank line, and the signature line
/// `— NAME BASE64(key ID || Ed25519 signature of the text)`.
pub fn sign_note(text: &str, key: &SigningKey) -> Result<String, CheckpointError> {
    key_of_type(&key.name, key.id, key.kind, KeyType::Note)?;
    check_note_text(text)?;
    let signature = key.key.sign(text.as_bytes());
    let mut blob = key.id.to_be_bytes().to_vec();
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!("{text}\n{SIG_PREFIX}{} {}\n", key.name, BASE64.encode(blob)))
}

/// Refuses a key of the wrong type for the job: a witness's key signing or checking a ledger's
/// note, or a ledger's key taken for a witness's.
fn key_of_type(name: &str, id: u32, kind: KeyType, want: KeyType) -> Result<(), CheckpointError> {
    if kind != want {
        return Err(CheckpointError::WrongKeyType {
            key: format!("{name}+{id:08x}"),
            kind,
            want,
        });
    }
    Ok(())
}

/// One signature line of a note: its line number, key name, key ID and the bytes after the
/// key ID.
struct SignatureLine<'a> {
    number: usize,
    name: &'a str,
    id: u32,
    rest: Vec<u8>,
}

/// Splits a signed note into its text (ending in its newline) and its signature lines,
/// checking the form of both: the text ends at the last blank line, as in the
/// specification (a blank line before it is then an empty line of the text, refused).
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), CheckpointError> {
    let bad = |reason: String| Err(CheckpointError::MalformedNote(reason));
    if let Some((at, c)) = note.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        return bad(format!(
            "line {}: control character U+{:04X}",
            line_at(note, at),
            c as u32
        ));
    }
    if !note.ends_with('\n') {
        return bad("the note does not end with a newline".to_string());
    }
    let Some(split) = note.rfind("\n\n") else {
        return bad("no blank line separates the text from the signatures".to_string());
    };
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    if signatures.is_empty() {
        return bad("no signature line follows the last blank line".to_string());
    }
    check_note_text(text)?;

    let first_line = line_at(note, split + 2);
    let mut lines = Vec::new();
    for (n, line) in signatures.split_terminator('\n').enumerate() {
        let number = first_line + n;
        if n == MAX_SIGNATURES {
            return bad(format!("line {number}: more than {MAX_SIGNATURES} signature lines"));
        }
        let Some(rest) = line.strip_prefix(SIG_PREFIX) else {
            return bad(format!(
                "line {number}: a signature line starts with an em dash (U+2014) and a space"
            ));
        };
        let Some((name, blob)) = rest.split_once(' ') else {
            return bad(format!("line {number}: a signature line is \"— NAME BASE64\""));
        };
        if check_key_name(name).is_err() {
            return bad(format!("line {number}: invalid key name {name:?}"));
        }
        let Some(raw) = decode_base64(blob) else {
            return bad(format!(
                "line {number}: the signature is not standard base64 with padding"
            ));
        };
        if raw.len() < 5 {
            return bad(format!(
                "line {number}: the signature is shorter than a key ID and one byte"
            ));
        }
        lines.push(SignatureLine {
            number,
            name,
            id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            rest: raw[4..].to_vec(),
        });
    }
    Ok((text, lines))
}

/// Opens a signed note: checks its form, verifies the signature of `key` and returns the
/// note's text (ending in its newline). As the specification says, signatures by other keys
/// (another name or another key ID) are ignored, every signature by `key` must verify, and at
/// least one must be there.
pub fn open_note<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str, CheckpointError> {
    key_of_type(&key.name, key.id, key.kind, KeyType::Note)?;
    let (text, lines) = split_note(note)?;
    let mut found = false;
    let mut others = Vec::new();
    for line in lines {
        if line.name != key.name || line.id != key.id {
            others.push(format!("{}+{:08x}", line.name, line.id));
            continue;
        }
        let verified =
            Signature::from_slice(&line.rest).is_ok_and(|sig| key.key.verify_strict(text.as_bytes(), &sig).is_ok());
        if !verified {
            return Err(CheckpointError::BadSignature { key: key.label() });
        }
        found = true;
    }
    if !found {
        return Err(CheckpointError::NoSignature {
            key: key.label(),
            signers: others,
        });
    }
    Ok(text)
}

/// The message a `cosignature/v1` signs: its header line, the time line, then the note's
/// whole text (C2SP tlog-cosignature, "Ed25519 signed message").
fn cosigned_message(text: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

/// The latest time a cosignature may carry (tlog-cosignature: at most 2^63 - 1).
const MAX_COSIGNATURE_TIME: u64 = i64::MAX as u64;

/// Cosigns the note text `text` (a checkpoint's body, ending in its newline) as a witness:
/// the signature line `— NAME BASE64(key ID || time as 8 big-endian bytes || Ed25519
/// signature of the cosigned message)`, ending in a newline.
pub fn cosign(text: &str, key: &SigningKey, time: u64) -> Result<String, CheckpointError> {
    key_of_type(&key.name, key.id, key.kind, KeyType::Cosigner)?;
    check_note_text(text)?;
    if time > MAX_COSIGNATURE_TIME {
        return Err(CheckpointError::MalformedNote(format!(
            "cosignature time {time} is past 2^63 - 1"
        )));
    }
    let signature = key.key.sign(cosigned_message(text, time).as_bytes());
    let mut blob = key.id.to_be_bytes().to_vec();
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!("{SIG_PREFIX}{} {}\n", key.name, BASE64.encode(blob)))
}

/// What a note says of one witness: its cosignature verifies (with its time), one by its key
/// does not verify, or it has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cosigned {
    Valid { time: u64 },
    Invalid { line: usize },
    Missing,
}

/// The verdict of each of `witnesses` (cosigner keys, type 0x04) on the note's text, in the
/// order given: lines by other keys are ignored, as the specification asks. A witness with
/// several lines is valid when one verifies and none fails.
pub fn cosignatures(note: &str, witnesses: &[VerifierKey]) -> Result<Vec<Cosigned>, CheckpointError> {
    for w in witnesses {
        key_of_type(&w.name, w.id, w.kind, KeyType::Cosigner)?;
    }
    let (text, lines) = split_note(note)?;
    let verdicts = witnesses
        .iter()
        .map(|w| {
            let mut verdict = Cosigned::Missing;
            for line in lines.iter().filter(|l| l.name == w.name && l.id == w.id) {
                let ok = line.rest.len() == 8 + 64 && {
                    let time = u64::from_be_bytes(line.rest[..8].try_into().expect("8 bytes"));
                    let verified = time <= MAX_COSIGNATURE_TIME
                        && Signature::from_slice(&line.rest[8..]).is_ok_and(|sig| {
                            w.key
                                .verify_strict(cosigned_message(text, time).as_bytes(), &sig)
                                .is_ok()
                        });
                    if verified && !matches!(verdict, Cosigned::Invalid { .. }) {
                        verdict = Cosigned::Valid { time };
                    }
                    verified
                };
                if !ok {
                    verdict = Cosigned::Invalid { line: line.number };
                }
            }
            verdict
        })
        .collect();
    Ok(verdicts)
}

/// A tree head of the ledger: its name, its size (the number of events) and the Merkle root
/// of their hashes, with optional extension lines (such as the projection commitment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, extension lines, each ending in a newline.
    /// A valid note only if [`Checkpoint::check`] passes, which [`Checkpoint::sign`] makes sure
    /// of.
    pub fn body(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, BASE64.encode(self.root.0));
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Checks what the types do not: the origin is a valid name (non-empty, no whitespace,
    /// no '+', as the specification recommends) and each extension line is non-empty without
    /// control characters. What `sign` accepts, `open` accepts back.
    pub fn check(&self) -> Result<(), CheckpointError> {
        check_origin(&self.origin)?;
        for (i, line) in self.extensions.iter().enumerate() {
            check_extension(line, 4 + i)?;
        }
        Ok(())
    }

    /// The signed note of this checkpoint. Its origin must be the key's name, as
    /// [`Checkpoint::open`] requires.
    pub fn sign(&self, key: &SigningKey) -> Result<String, CheckpointError> {
        self.check()?;
        same_origin(&self.origin, key.name())?;
        sign_note(&self.body(), key)
    }

    /// Opens a signed checkpoint: the note must be well formed and signed by `key` (see
    /// [`open_note`]), then its text must be a checkpoint whose origin is the key's name. The
    /// signature is checked first, so an unsigned text is never parsed further.
    ///
    /// The origin check is the C2SP tlog-checkpoint rule: a key signs the checkpoints of the
    /// one log it is named for. Without it, a checkpoint another ledger made with the same
    /// key (or a key shared by mistake) would pass as one of this ledger.
    pub fn open(note: &str, key: &VerifierKey) -> Result<Checkpoint, CheckpointError> {
        let checkpoint = Checkpoint::parse_text(open_note(note, key)?)?;
        same_origin(&checkpoint.origin, key.name())?;
        Ok(checkpoint)
    }

    /// Parses a verified note text, which has no empty line and ends in a newline.
    fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |line: usize, reason: String| CheckpointError::MalformedCheckpoint { line, reason };
        let mut lines = text.split_terminator('\n');
        let origin = lines.next().unwrap_or_default();
        check_origin(origin)?;
        let size = lines
            .next()
            .ok_or_else(|| bad(2, "the tree size is missing".to_string()))?;
        let size = parse_size(size).ok_or_else(|| {
            bad(
                2,
                format!("tree size {size:?} is not a decimal number without leading zeros"),
            )
        })?;
        let root = lines
            .next()
            .ok_or_else(|| bad(3, "the root hash is missing".to_string()))?;
        let root = decode_base64(root)
            .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
            .ok_or_else(|| {
                bad(
                    3,
                    format!("root hash {root:?} is not the standard base64 (with padding) of 32 bytes"),
                )
            })?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        for (i, line) in extensions.iter().enumerate() {
            check_extension(line, 4 + i)?;
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root: Hash(root),
            extensions,
        })
    }
}

/// A checkpoint's origin must be its key's name.
fn same_origin(origin: &str, key: &str) -> Result<(), CheckpointError> {
    if origin != key {
        return Err(CheckpointError::OriginMismatch {
            origin: origin.to_string(),
            key: key.to_string(),
        });
    }
    Ok(())
}

fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(CheckpointError::MalformedCheckpoint {
            line: 1,
            reason: format!(
                "origin {origin:?} is not a name: not empty, no whitespace, no '+' \
                 and no control character"
            ),
        });
    }
    Ok(())
}

fn check_extension(line: &str, number: usize) -> Result<(), CheckpointError> {
    if line.is_empty() || line.chars().any(char::is_control) {
        return Err(CheckpointError::MalformedCheckpoint {
            line: number,
            reason: format!("extension line {line:?} is empty or holds a control character"),
        });
    }
    Ok(())
}

/// ASCII digits, no sign, no leading zero (`0` alone is the empty tree), at most 2^64 - 1.
/// A tree size in decimal without leading zeros (`0` alone for zero), as checkpoints and
/// witness requests write it.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let canonical = text == "0" || !text.starts_with('0');
    if digits && canonical {
        text.parse().ok()
    } else {
        None
    }
}

/// Reads the signing key of the file at `path` (its `PRIVATE+KEY+…` text).
pub fn load_key(path: &Path) -> Result<SigningKey, CheckpointError> {
    let read = || {
        fs::read_to_string(path).map_err(|source| CheckpointError::KeyFile {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut text = read()?;
    // A file that another process has just created holds its key a moment later (one small
    // write follows the creation): wait for it rather than fail a concurrent first start.
    for _ in 0..100 {
        if !text.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        text = read()?;
    }
    let parsed = if text.is_empty() {
        Err(CheckpointError::MalformedSignerKey("the file is empty".to_string()))
    } else {
        SigningKey::from_text(&text)
    };
    parsed.map_err(|e| CheckpointError::KeyFileContent {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Reads the signing key at `path`, or creates one named `name` there if the file does not
/// exist: on first use the ledger makes its own key. A key found with another name is
/// refused rather than used under the wrong name.
pub fn load_or_create_key(path: &Path, name: &str) -> Result<SigningKey, CheckpointError> {
    check_key_name(name)?;
    let key = match load_key(path) {
        Err(CheckpointError::KeyFile { ref source, .. }) if source.kind() == ErrorKind::NotFound => {
            match create_key_file(path, name, KeyType::Note)? {
                Some(key) => key,
                None => load_key(path)?,
            }
        }
        other => other?,
    };
    if key.name() != name {
        return Err(CheckpointError::KeyFileName {
            path: path.to_path_buf(),
            found: key.name().to_string(),
            expected: name.to_string(),
        });
    }
    Ok(key)
}

/// Creates a new key of type `kind` named `name` at `path`, refusing (with the file's
/// "already exists" error) to replace one that is there.
pub fn create_new_key(path: &Path, name: &str, kind: KeyType) -> Result<SigningKey, CheckpointError> {
    check_key_name(name)?;
    create_key_file(path, name, kind)?.ok_or_else(|| CheckpointError::KeyFile {
        path: path.to_path_buf(),
        source: std::io::Error::new(ErrorKind::AlreadyExists, "a key file is already there"),
    })
}

/// Creates the key file with `create_new`, so that two processes starting at once never both
/// create one (None for the one that finds the other's), and mode 0600 on unix; then syncs it
/// and its directory, since losing the key would orphan every checkpoint it signed.
fn create_key_file(path: &Path, name: &str, kind: KeyType) -> Result<Option<SigningKey>, CheckpointError> {
    let file_error = |source| CheckpointError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let key = SigningKey::generate_of(name, kind)?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(file_error(e)),
    };
    let written = file
        .write_all(format!("{}\n", key.to_text()).as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // An empty or partial key file would stop every later start.
        let _ = fs::remove_file(path);
        return Err(file_error(e));
    }
    sync_parent(path).map_err(file_error)?;
    Ok(Some(key))
}

/// Makes a new file's directory entry durable (on unix; elsewhere the file's sync is all).
fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}
