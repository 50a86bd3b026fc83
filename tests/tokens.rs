//! The tokens file must be private to its owner. It is written 0600; one that its group or
//! others may read or write (a copy, an editor, a `chmod` by hand) is refused by every
//! reader, with an error naming the file and the fix: the token commands, the server at
//! start, and a running server's authentication (which then refuses every token).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::running::orgledger_in;
use orgledger::tokens::{self, Role, TokenError, Tokens, TOKENS_FILE};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A ledger of the example events, with one clerk token; returns the token.
fn ledger_with_a_token(data: &Path) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trung-khanh-2005.jsonl");
    let appended = orgledger_in(data, &["append", example.to_str().unwrap()]);
    assert!(appended.status.success(), "{}", text(&appended.stderr));
    tokens::add(data, "van-phong", Role::Clerk).expect("add a token")
}

/// What every refusal must say: the file, and how to fix it.
fn assert_names_file_and_fix(message: &str, file: &Path) {
    assert!(
        message.contains(&file.display().to_string()),
        "names the file: {message}"
    );
    assert!(message.contains("chmod 600"), "gives the fix: {message}");
}

#[test]
fn the_tokens_file_is_written_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    ledger_with_a_token(&data);
    let mode = std::fs::metadata(data.join(TOKENS_FILE)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "tokens.json is written {mode:o}");
}

#[test]
fn a_tokens_file_others_may_read_or_write_is_refused_by_the_token_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    ledger_with_a_token(&data);
    let file = data.join(TOKENS_FILE);
    for mode in [0o666, 0o644, 0o640, 0o602] {
        chmod(&file, mode);
        for args in [
            &["token", "list"][..],
            &["token", "add", "--name", "kiem-tra", "--role", "reader"][..],
            &["token", "revoke", "van-phong"][..],
        ] {
            let out = orgledger_in(&data, args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} at {mode:o}: {stderr}");
            assert!(out.stdout.is_empty(), "{args:?} printed {:?}", text(&out.stdout));
            assert_names_file_and_fix(&stderr, &file);
        }
    }
    // Nothing was changed by the refusals, and the fix the message gives works.
    chmod(&file, 0o600);
    let listed = orgledger_in(&data, &["token", "list"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let stdout = text(&listed.stdout);
    assert!(stdout.contains("van-phong") && !stdout.contains("kiem-tra"), "{stdout}");
}

#[test]
fn the_server_does_not_start_with_a_tokens_file_others_may_read_or_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    ledger_with_a_token(&data);
    let file = data.join(TOKENS_FILE);
    chmod(&file, 0o664);
    let out = orgledger_in(&data, &["serve", "--listen", "127.0.0.1:0"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!text(&out.stdout).contains("listening"), "{}", text(&out.stdout));
    assert_names_file_and_fix(&stderr, &file);
}

#[test]
fn a_running_server_refuses_every_token_once_the_file_is_opened_to_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let token = ledger_with_a_token(&data);
    let file = data.join(TOKENS_FILE);
    let tokens = Tokens::open(&data).expect("a private tokens file opens");
    assert!(tokens.authenticate(&token).is_some(), "the token works at first");
    chmod(&file, 0o666);
    assert_eq!(
        tokens.authenticate(&token),
        None,
        "refused while the file is open to others"
    );
    match Tokens::open(&data) {
        Err(e @ TokenError::NotPrivate { .. }) => assert_names_file_and_fix(&e.to_string(), &file),
        Err(other) => panic!("refused for the wrong reason: {other}"),
        Ok(_) => panic!("a tokens file of mode 0666 opened"),
    }
    chmod(&file, 0o600);
    assert!(tokens.authenticate(&token).is_some(), "works again once private");
}
