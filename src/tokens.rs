//! Bearer tokens: who may read, append or audit through the server.
//!
//! Tokens live in `tokens.json` in the data directory, beside the store and not inside it:
//! sled locks the store while the server runs, and an administrator must still be able to
//! add or revoke a token then. Only the blake3 hash of a token is kept; the token itself is
//! printed once, by `orgledger token add`, and never again. The server reads the file again
//! whenever it changes, so a revoked token stops working at its next request.
//!
//! The file is replaced whole (written beside and renamed), under a lock on `tokens.lock`,
//! so two `token` commands never lose each other's changes and a reader never sees half a
//! file.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::event::{Id, Timestamp};

/// The file of tokens, in the data directory.
pub const TOKENS_FILE: &str = "tokens.json";
pub const LOCK_FILE: &str = "tokens.lock";
/// Every token starts with this, so one found in a log or a paste is recognizable.
pub const TOKEN_PREFIX: &str = "olt_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Queries and subscriptions.
    Reader,
    /// A reader that may also append.
    Clerk,
    /// A reader that may also export the log and ask for proofs.
    Auditor,
    /// Everything.
    Admin,
}

/// What a request needs its caller's role to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Append,
    Audit,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Clerk => "clerk",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Read => true,
            Permission::Append => matches!(self, Role::Clerk | Role::Admin),
            Permission::Audit => matches!(self, Role::Auditor | Role::Admin),
        }
    }
}

/// One token as the file keeps it: its name (the actor recorded on what it appends), its
/// role, and the blake3 hash of the token in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    pub hash: String,
    pub created_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFileContents {
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token name: {0}")]
    BadName(String),
    #[error("a token named {0:?} exists already; revoke it first")]
    Exists(String),
    #[error("no token is named {0:?}")]
    NotFound(String),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: not a tokens file: {message}")]
    Malformed { path: PathBuf, message: String },
    /// The file's mode lets its group or others read or write it. Tokens are stored hashed,
    /// but whoever can write the file can add a token of their own (an admin one), and
    /// whoever can read it learns every token's name and role; so the file is refused until
    /// it is made private again, rather than used with a warning nobody reads.
    #[error(
        "{path}: mode {mode:04o} lets its group or others read or write it; refusing to use it: run `chmod 600 {path}`"
    )]
    NotPrivate { path: PathBuf, mode: u32 },
}

impl TokenError {
    fn io(path: &Path, e: impl std::fmt::Display) -> TokenError {
        TokenError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// The hash under which a token is stored.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

fn new_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::io(Path::new("getrandom"), e))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Reads the tokens file (an absent one holds no token), refusing one that is not private
/// to its owner. The mode is read from the open file, so it is the mode of the very bytes
/// read, even if the file is replaced in between.
fn read_file(path: &Path) -> Result<TokenFileContents, TokenError> {
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenFileContents::default()),
        Err(e) => return Err(TokenError::io(path, e)),
    };
    check_private(path, &file)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| TokenError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Refuses a tokens file that its group or others may read or write (any of the bits of
/// 0o077). This project writes it 0600; a looser mode comes from a copy, an editor or a
/// `chmod` by hand, and is refused by every reader: the token commands and the server.
#[cfg(unix)]
fn check_private(path: &Path, file: &fs::File) -> Result<(), TokenError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|e| TokenError::io(path, e))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(TokenError::NotPrivate {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Elsewhere the file's access is the platform's ACLs, which this check does not read.
#[cfg(not(unix))]
fn check_private(_path: &Path, _file: &fs::File) -> Result<(), TokenError> {
    Ok(())
}

/// Runs `change` on the file's contents under the lock, and writes the result back whole.
fn update<T>(
    data: &Path,
    change: impl FnOnce(&mut TokenFileContents) -> Result<T, TokenError>,
) -> Result<T, TokenError> {
    fs::create_dir_all(data).map_err(|e| TokenError::io(data, e))?;
    let lock_path = data.join(LOCK_FILE);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| TokenError::io(&lock_path, e))?;
    lock.lock().map_err(|e| TokenError::io(&lock_path, e))?;
    let path = data.join(TOKENS_FILE);
    let mut contents = read_file(&path)?;
    let out = change(&mut contents)?;
    let tmp = data.join(format!("{TOKENS_FILE}.tmp"));
    let mut bytes = serde_json::to_vec_pretty(&contents).expect("tokens serialize");
    bytes.push(b'\n');
    let mut options = fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(|e| TokenError::io(&tmp, e))?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| TokenError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| TokenError::io(&path, e))?;
    Ok(out)
}

/// Adds a token and returns it: the only time it is ever shown.
pub fn add(data: &Path, name: &str, role: Role) -> Result<String, TokenError> {
    let name = Id::parse(name).map_err(TokenError::BadName)?.to_string();
    update(data, |contents| {
        if contents.tokens.iter().any(|t| t.name == name) {
            return Err(TokenError::Exists(name.clone()));
        }
        let token = new_token()?;
        contents.tokens.push(TokenEntry {
            name: name.clone(),
            role,
            hash: token_hash(&token),
            created_at: Timestamp::now().to_string(),
        });
        Ok(token)
    })
}

/// Removes the token named `name`; it stops working at once, on a running server too.
pub fn revoke(data: &Path, name: &str) -> Result<TokenEntry, TokenError> {
    update(data, |contents| {
        let i = contents
            .tokens
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| TokenError::NotFound(name.to_owned()))?;
        Ok(contents.tokens.remove(i))
    })
}

/// Every token's name, role and creation time (and hash), in the order they were added.
pub fn list(data: &Path) -> Result<Vec<TokenEntry>, TokenError> {
    Ok(read_file(&data.join(TOKENS_FILE))?.tokens)
}

/// Who made a request: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: Id,
    pub role: Role,
}

/// What the file looked like when it was last read: a change of any of these reloads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
    /// A `chmod` changes nothing else here, and a file opened to others must be refused
    /// from the next request on, so the mode is part of the stamp.
    #[cfg(unix)]
    mode: u32,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
        #[cfg(unix)]
        mode: std::os::unix::fs::MetadataExt::mode(&meta),
    })
}

/// The server's view of the tokens file, read again whenever the file changes.
pub struct Tokens {
    path: PathBuf,
    loaded: Mutex<(Option<Stamp>, HashMap<String, Caller>)>,
}

impl Tokens {
    pub fn open(data: &Path) -> Result<Tokens, TokenError> {
        let tokens = Tokens {
            path: data.join(TOKENS_FILE),
            loaded: Mutex::new((None, HashMap::new())),
        };
        tokens.reload()?;
        Ok(tokens)
    }

    fn reload(&self) -> Result<(), TokenError> {
        let now = stamp(&self.path);
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.0.is_some() && loaded.0 == now {
            return Ok(());
        }
        let mut by_hash = HashMap::new();
        for t in read_file(&self.path)?.tokens {
            let name = Id::parse(&t.name).map_err(|message| TokenError::Malformed {
                path: self.path.clone(),
                message,
            })?;
            by_hash.insert(t.hash, Caller { name, role: t.role });
        }
        *loaded = (now, by_hash);
        Ok(())
    }

    /// The caller a token stands for, or `None` for an unknown or revoked token. A tokens
    /// file that cannot be read refuses every token (and the server logs why).
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        if let Err(e) = self.reload() {
            tracing::error!("tokens: {e}; refusing every token until it is fixed");
            let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
            *loaded = (None, HashMap::new());
            return None;
        }
        let hash = token_hash(token);
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.1.get(&hash).cloned()
    }
}
