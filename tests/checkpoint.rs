//! Signed checkpoints and keys (src/checkpoint.rs): round trips, the exact texts of a fixed
//! test vector, the reference example of Go's signed-note package, and every way a note can
//! be damaged or signed by the wrong key.

use orgledger::checkpoint::{
    load_key, load_or_create_key, open_note, sign_note, Checkpoint, CheckpointError, SigningKey, VerifierKey,
};
use orgledger::event::Hash;

/// The published example of golang.org/x/mod/sumdb/note (its package documentation and
/// tests): a signer key, its verifier key, a text and the exact note Go signs. Matching it
/// byte for byte checks the key ID, both key texts and the signature line against the
/// reference implementation.
const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_SIG: &str =
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
/// The same note cosigned by a second key, from the same documentation.
const GO_ENOCH_SIG: &str =
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

/// orgledger's own vector: the key of FORMAT.md, named `orgledger.example/test` and made
/// from the seed 0, 1, ..., 31, and the checkpoint of [`vector_checkpoint`] signed with it
/// (its origin is the key's name, as every checkpoint's must be). Ed25519 is
/// deterministic, so the note is always these bytes; Python's `cryptography` gave the same.
const VECTOR_SKEY: &str = "PRIVATE+KEY+orgledger.example/test+eb5c87c5+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
const VECTOR_VKEY: &str = "orgledger.example/test+eb5c87c5+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const VECTOR_NOTE: &str = "orgledger.example/test\n\
7\n\
ERERERERERERERERERERERERERERERERERERERERERE=\n\
projection blake3:0000000000000000000000000000000000000000000000000000000000000000\n\
\n\
— orgledger.example/test 61yHxW9DNZZQ0cHp1fHVwSjLOGdM1iQsxVKsMhzU+mSkVKrWeK/40BoNjfH/ZrY+lB0S06u5Ew2SSeNKRK1A0oc+2gE=\n";

fn vector_key() -> SigningKey {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    SigningKey::from_seed("orgledger.example/test", seed).unwrap()
}

fn vector_checkpoint() -> Checkpoint {
    Checkpoint {
        origin: "orgledger.example/test".to_string(),
        size: 7,
        root: Hash([0x11; 32]),
        extensions: vec![format!("projection blake3:{}", "0".repeat(64))],
    }
}

fn key(name: &str, fill: u8) -> SigningKey {
    SigningKey::from_seed(name, [fill; 32]).unwrap()
}

#[test]
fn go_reference_example() {
    let signer = SigningKey::from_text(GO_SKEY).unwrap();
    assert_eq!(signer.to_text(), GO_SKEY);
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.verifier().to_text(), GO_VKEY);

    let verifier = VerifierKey::parse(GO_VKEY).unwrap();
    assert_eq!(verifier.name(), "PeterNeumann");
    assert_eq!(verifier.key_id(), 0xc74f20a3);
    assert_eq!(verifier.to_text(), GO_VKEY);
    assert_eq!(verifier, signer.verifier());

    let note = sign_note(GO_TEXT, &signer).unwrap();
    assert_eq!(note, format!("{GO_TEXT}\n{GO_SIG}"));
    assert_eq!(open_note(&note, &verifier).unwrap(), GO_TEXT);

    // A signature by a key we do not know is ignored, before or after ours.
    for cosigned in [
        format!("{GO_TEXT}\n{GO_SIG}{GO_ENOCH_SIG}"),
        format!("{GO_TEXT}\n{GO_ENOCH_SIG}{GO_SIG}"),
    ] {
        assert_eq!(open_note(&cosigned, &verifier).unwrap(), GO_TEXT);
    }
    let only_enoch = format!("{GO_TEXT}\n{GO_ENOCH_SIG}");
    let err = open_note(&only_enoch, &verifier).unwrap_err();
    assert!(matches!(err, CheckpointError::NoSignature { .. }), "{err}");
    assert!(err.to_string().contains("EnochRoot+"), "{err}");
}

#[test]
fn fixed_test_vector() {
    let key = vector_key();
    let note = vector_checkpoint().sign(&key).unwrap();
    assert_eq!(key.to_text(), VECTOR_SKEY);
    assert_eq!(key.verifier().to_text(), VECTOR_VKEY);
    assert_eq!(note, VECTOR_NOTE);
    let verifier = VerifierKey::parse(VECTOR_VKEY).unwrap();
    assert_eq!(Checkpoint::open(VECTOR_NOTE, &verifier).unwrap(), vector_checkpoint());
}

#[test]
fn round_trips() {
    let key = SigningKey::generate("trung-khanh").unwrap();
    assert_eq!(SigningKey::from_text(&key.to_text()).unwrap(), key);
    // A key read from a file may end in one newline.
    assert_eq!(SigningKey::from_text(&format!("{}\n", key.to_text())).unwrap(), key);
    let verifier = key.verifier();
    assert_eq!(VerifierKey::parse(&verifier.to_text()).unwrap(), verifier);
    assert!(verifier
        .to_text()
        .starts_with(&format!("trung-khanh+{:08x}+", key.key_id())));
    // Debug never shows the secret.
    assert_eq!(
        format!("{key:?}"),
        format!("SigningKey(trung-khanh+{:08x})", key.key_id())
    );

    for checkpoint in [
        Checkpoint {
            origin: "trung-khanh".to_string(),
            size: 0,
            root: Hash::ZERO,
            extensions: vec![],
        },
        Checkpoint {
            origin: "trung-khanh".to_string(),
            size: u64::MAX,
            root: Hash([0xfe; 32]),
            extensions: vec![
                "third".to_string(),
                "first".to_string(),
                "Trùng Khánh — second, with spaces".to_string(),
            ],
        },
    ] {
        let note = checkpoint.sign(&key).unwrap();
        assert!(note.starts_with(&checkpoint.body()));
        assert_eq!(Checkpoint::open(&note, &verifier).unwrap(), checkpoint);
    }
}

#[test]
fn body_is_the_checkpoint_text() {
    assert_eq!(
        vector_checkpoint().body(),
        format!(
            "orgledger.example/test\n7\nERERERERERERERERERERERERERERERERERERERERERE=\n\
             projection blake3:{}\n",
            "0".repeat(64)
        )
    );
}

#[test]
fn every_changed_body_byte_is_refused() {
    let key = vector_key();
    let verifier = key.verifier();
    let note = vector_checkpoint().sign(&key).unwrap();
    let body_len = vector_checkpoint().body().len();
    for at in 0..body_len {
        let mut bytes = note.clone().into_bytes();
        let was = bytes[at];
        bytes[at] = if was == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        let err = Checkpoint::open(&changed, &verifier).unwrap_err();
        if was == b'\n' && at == body_len - 1 {
            // The blank line is gone.
            assert!(matches!(err, CheckpointError::MalformedNote(_)), "{at}: {err}");
        } else {
            assert!(matches!(err, CheckpointError::BadSignature { .. }), "{at}: {err}");
            assert_eq!(
                err.to_string(),
                format!(
                    "the signature does not verify under key orgledger.example/test+{:08x}",
                    key.key_id()
                )
            );
        }
    }
}

#[test]
fn every_changed_signature_character_is_refused() {
    let key = vector_key();
    let verifier = key.verifier();
    let note = vector_checkpoint().sign(&key).unwrap();
    let start = note.rfind(' ').unwrap() + 1;
    let end = note.len() - 1;
    let mut bad_signature = 0;
    for at in start..end {
        let mut bytes = note.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        match Checkpoint::open(&changed, &verifier).unwrap_err() {
            CheckpointError::BadSignature { .. } => bad_signature += 1,
            // The first characters carry the key ID: another ID is another key.
            CheckpointError::NoSignature { .. } if at < start + 6 => {}
            // The last characters hold the padding and the unused bits.
            CheckpointError::MalformedNote(m) if at >= end - 2 => {
                assert!(m.contains("base64"), "{m}")
            }
            err => panic!("character {at}: unexpected error {err}"),
        }
    }
    assert!(bad_signature > 80, "{bad_signature}");
}

#[test]
fn other_keys_are_refused() {
    let key = key("trung-khanh", 1);
    let note = Checkpoint {
        origin: "trung-khanh".to_string(),
        size: 3,
        root: Hash([9; 32]),
        extensions: vec![],
    }
    .sign(&key)
    .unwrap();

    // Same name, another key: another key ID, so the note has no signature by it.
    let other = self::key("trung-khanh", 2).verifier();
    assert_ne!(other.key_id(), key.key_id());
    let err = Checkpoint::open(&note, &other).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no signature by key trung-khanh+{:08x} (the note is signed by trung-khanh+{:08x})",
            other.key_id(),
            key.key_id()
        )
    );

    // The signature line relabelled with another name, same key ID: not our key's line.
    let forged = note.replace("— trung-khanh ", "— trung-khanh-2 ");
    let err = Checkpoint::open(&forged, &key.verifier()).unwrap_err();
    assert!(matches!(err, CheckpointError::NoSignature { .. }), "{err}");

    // A key with another secret forged to carry our name and key ID: the signature is
    // checked, and fails.
    let impostor = self::key("trung-khanh", 3);
    let impostor_note = sign_note(&Checkpoint::open(&note, &key.verifier()).unwrap().body(), &impostor).unwrap();
    let blob_start = impostor_note.rfind(' ').unwrap() + 1;
    let mut raw = base64_decode(&impostor_note[blob_start..impostor_note.len() - 1]);
    raw[..4].copy_from_slice(&key.key_id().to_be_bytes());
    let relabelled = format!("{}{}\n", &impostor_note[..blob_start], base64_encode(&raw));
    let err = Checkpoint::open(&relabelled, &key.verifier()).unwrap_err();
    assert!(matches!(err, CheckpointError::BadSignature { .. }), "{err}");

    // A good signature and a bad one by the same key: the note is refused.
    let bad_line = &relabelled[relabelled[..relabelled.len() - 1].rfind('\n').unwrap() + 1..];
    let both = format!("{note}{bad_line}");
    let err = Checkpoint::open(&both, &key.verifier()).unwrap_err();
    assert!(matches!(err, CheckpointError::BadSignature { .. }), "{err}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn damaged_notes_are_refused() {
    let key = vector_key();
    let verifier = key.verifier();
    let note = vector_checkpoint().sign(&key).unwrap();
    let body = vector_checkpoint().body();
    let sig_line = &note[body.len() + 1..];
    let malformed = |text: &str| match Checkpoint::open(text, &verifier) {
        Err(CheckpointError::MalformedNote(m)) => m,
        other => panic!("{text:?}: expected a malformed note, got {other:?}"),
    };

    // Every truncation is refused.
    for len in 0..note.len() {
        if note.is_char_boundary(len) {
            assert!(Checkpoint::open(&note[..len], &verifier).is_err(), "{len}");
        }
    }
    assert_eq!(
        malformed(&note[..note.len() - 1]),
        "the note does not end with a newline"
    );
    assert_eq!(malformed(&body), "no blank line separates the text from the signatures");
    assert_eq!(
        malformed(&format!("{body}\n")),
        "no signature line follows the last blank line"
    );
    assert_eq!(
        malformed(&format!("{note}\n")),
        "no signature line follows the last blank line"
    );
    // An extra blank line before the signatures, or inside the text.
    assert_eq!(
        malformed(&format!("{body}\n\n{sig_line}")),
        "line 5 is empty: only one blank line, before the signatures, is allowed"
    );
    assert_eq!(
        malformed(&note.replacen("\n7\n", "\n\n7\n", 1)),
        "line 2 is empty: only one blank line, before the signatures, is allowed"
    );
    // A signature line must start with the em dash and a space.
    assert_eq!(
        malformed(&note.replace("— ", "-- ")),
        "line 6: a signature line starts with an em dash (U+2014) and a space"
    );
    assert_eq!(
        malformed(&note.replace("— ", "—")),
        "line 6: a signature line starts with an em dash (U+2014) and a space"
    );
    assert_eq!(
        malformed(&format!("{note}— orgledger.example/test\n")),
        "line 7: a signature line is \"— NAME BASE64\""
    );
    assert_eq!(
        malformed(&format!("{note}— other+x AAAAAAA=\n")),
        "line 7: invalid key name \"other+x\""
    );
    assert_eq!(
        malformed(&format!("{note}— other AAAA*AAA\n")),
        "line 7: the signature is not standard base64 with padding"
    );
    assert_eq!(
        malformed(&format!("{note}— other AAAAAA==\n")),
        "line 7: the signature is shorter than a key ID and one byte"
    );
    assert_eq!(
        malformed(&note.replace("\nprojection", "\npro\u{7}jection")),
        "line 4: control character U+0007"
    );
    assert_eq!(
        malformed(&note.replace('\n', "\r\n")),
        "line 1: control character U+000D"
    );
    // A hundred other signatures are fine; the 101st line is too many.
    let other = "— other AAAAAAA=\n";
    assert!(Checkpoint::open(&format!("{note}{}", other.repeat(99)), &verifier).is_ok());
    assert_eq!(
        malformed(&format!("{note}{}", other.repeat(100))),
        "line 106: more than 100 signature lines"
    );
}

#[test]
fn malformed_checkpoint_texts_are_refused() {
    let key = vector_key();
    let verifier = key.verifier();
    let root = "ERERERERERERERERERERERERERERERERERERERERERE=";
    let open = |text: &str| {
        let note = sign_note(text, &key).unwrap();
        Checkpoint::open(&note, &verifier).unwrap_err().to_string()
    };
    for size in ["01", "00", "-1", "+7", "7 ", " 7", "0x7", "七", "18446744073709551616"] {
        assert_eq!(
            open(&format!("orgledger.example/test\n{size}\n{root}\n")),
            format!("line 2: tree size {size:?} is not a decimal number without leading zeros")
        );
    }
    for bad_root in [
        "ERERERERERERERERERERERERERERERERERERERERERE",      // no padding
        "ERERERERERERERERERERERERERERERERERERERERERF=",     // stray bits
        "EREREREREREREREREREREREREREREREREREREREREQ==",     // 31 bytes
        "ERERERERERERERERERERERERERERERERERERERERERERERE=", // 35 bytes
        "ERERERERERERERERERERERERERERERERERERERERER-=",     // URL alphabet
        &"11".repeat(32),                                   // hex
    ] {
        assert_eq!(
            open(&format!("orgledger.example/test\n7\n{bad_root}\n")),
            format!("line 3: root hash {bad_root:?} is not the standard base64 (with padding) of 32 bytes")
        );
    }
    assert_eq!(open("orgledger.example/test\n7\n"), "line 3: the root hash is missing");
    assert_eq!(open("orgledger.example/test\n"), "line 2: the tree size is missing");
    for origin in ["orgledger example", "a+b", "\u{a0}x"] {
        assert_eq!(
            open(&format!("{origin}\n7\n{root}\n")),
            format!(
                "line 1: origin {origin:?} is not a name: not empty, no whitespace, no '+' \
                 and no control character"
            )
        );
    }
    // The largest size is fine.
    let note = sign_note(&format!("orgledger.example/test\n18446744073709551615\n{root}\n"), &key).unwrap();
    assert_eq!(Checkpoint::open(&note, &verifier).unwrap().size, u64::MAX);
}

#[test]
fn invalid_checkpoints_and_notes_are_not_signed() {
    let key = vector_key();
    let mut checkpoint = vector_checkpoint();
    checkpoint.extensions.push(String::new());
    assert_eq!(
        checkpoint.sign(&key).unwrap_err().to_string(),
        "line 5: extension line \"\" is empty or holds a control character"
    );
    checkpoint.extensions = vec!["two\nlines".to_string()];
    assert!(checkpoint.sign(&key).is_err());
    checkpoint.extensions = vec![];
    checkpoint.origin = "with space".to_string();
    assert!(checkpoint.sign(&key).is_err());
    checkpoint.origin = String::new();
    assert!(checkpoint.sign(&key).is_err());

    assert_eq!(
        sign_note("no newline", &key).unwrap_err().to_string(),
        "malformed signed note: the text does not end with a newline"
    );
    assert!(sign_note("", &key).is_err());
    assert!(sign_note("a\n\nb\n", &key).is_err());
    assert!(sign_note("tab\there\n", &key).is_err());
}

#[test]
fn malformed_keys_are_refused() {
    for name in ["", "a b", "a+b", "a\nb", "tab\t", "nbsp\u{a0}"] {
        assert!(
            matches!(
                SigningKey::from_seed(name, [1; 32]),
                Err(CheckpointError::InvalidKeyName(_))
            ),
            "{name:?}"
        );
    }
    let verifier = GO_VKEY;
    let cases = [
        ("PeterNeumann", "expected NAME+KEYID+BASE64"),
        (
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "the key ID is not 8 lowercase hexadecimal digits",
        ),
        (
            "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "the key ID is not 8 lowercase hexadecimal digits",
        ),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "key ID c74f20a4 is not the ID of this name and key, which is c74f20a3",
        ),
        (
            "PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "key ID c74f20a3 is not the ID of this name and key",
        ),
        (
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
            "the key is not standard base64 with padding",
        ),
        (
            // The unknown-algorithm case of Go's tests (0x65 instead of 0x01).
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "the key is not the byte 0x01 (Ed25519) followed by 32 bytes",
        ),
        (
            // The wrong-length case of Go's tests (its last character has stray bits, too).
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEQ==",
            "the key is not the byte 0x01 (Ed25519) followed by 32 bytes",
        ),
        (
            // The identity point: a weak key.
            "weak+00000000+AQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "weak",
        ),
    ];
    assert!(VerifierKey::parse(verifier).is_ok());
    for (text, want) in cases {
        let err = VerifierKey::parse(text).unwrap_err().to_string();
        assert!(err.starts_with("malformed verifier key: "), "{text}: {err}");
        assert!(err.contains(want), "{text}: {err}");
    }

    // Signer keys: errors never quote the secret.
    let secret = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    for (text, want) in [
        (
            format!("PeterNeumann+c74f20a3+{secret}"),
            "it does not start with \"PRIVATE+KEY+\"",
        ),
        (
            format!("PRIVATE+KEY+PeterNeumann+c74f20a4+{secret}"),
            "key ID c74f20a4 is not the ID of this name and key, which is c74f20a3",
        ),
        (
            format!("PRIVATE+KEY+PeterNeumann+c74f20a3+{}", &secret[1..]),
            "the key is not standard base64 with padding",
        ),
        (
            "PRIVATE+KEY+PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAA==".to_string(),
            "the key is not the byte 0x01 (Ed25519) followed by 32 bytes",
        ),
    ] {
        let err = SigningKey::from_text(&text).unwrap_err().to_string();
        assert!(err.starts_with("malformed signer key: "), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(!err.contains(&secret[4..20]), "{err}");
    }
}

#[test]
fn key_file_is_created_once_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.key");
    let created = load_or_create_key(&path, "trung-khanh").unwrap();
    assert_eq!(created.name(), "trung-khanh");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}\n", created.to_text())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // Read back, not made anew.
    assert_eq!(load_or_create_key(&path, "trung-khanh").unwrap(), created);
    assert_eq!(load_key(&path).unwrap(), created);

    let err = load_or_create_key(&path, "other").unwrap_err().to_string();
    assert!(
        err.ends_with("holds the key named \"trung-khanh\", not \"other\""),
        "{err}"
    );

    std::fs::write(&path, "garbage\n").unwrap();
    let err = load_or_create_key(&path, "trung-khanh").unwrap_err().to_string();
    assert!(err.starts_with("key file "), "{err}");
    assert!(err.contains("malformed signer key"), "{err}");

    let missing_dir = dir.path().join("no-such-dir").join("key");
    assert!(matches!(
        load_or_create_key(&missing_dir, "trung-khanh"),
        Err(CheckpointError::KeyFile { .. })
    ));
    assert!(matches!(
        load_or_create_key(&dir.path().join("other.key"), "bad name"),
        Err(CheckpointError::InvalidKeyName(_))
    ));
}

#[test]
fn concurrent_first_use_makes_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.key");
    let keys: Vec<SigningKey> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| load_or_create_key(&path, "trung-khanh")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    assert_eq!(keys.len(), 8);
    let on_disk = load_key(&path).unwrap();
    assert!(keys.iter().all(|k| *k == on_disk));
}

/// C2SP tlog-checkpoint: a key signs the checkpoints of the log it is named for. A note
/// correctly signed by the ledger's key whose first line names another ledger is not a
/// checkpoint of this ledger, and is refused however good its signature; nor is one signed.
#[test]
fn a_checkpoint_whose_origin_is_not_the_key_name_is_refused() {
    let key = vector_key();
    let verifier = key.verifier();
    let mut other_ledger = vector_checkpoint();
    other_ledger.origin = "orgledger.example/other".to_string();
    // The generic signed note signs any text; the checkpoint layer refuses to.
    let note = sign_note(&other_ledger.body(), &key).unwrap();
    assert_eq!(open_note(&note, &verifier).unwrap(), other_ledger.body());
    let expected = "the checkpoint's origin \"orgledger.example/other\" is not the name of the key \
                    \"orgledger.example/test\": a checkpoint is of the ledger its key names, so this \
                    one is another ledger's (or the key is)";
    let err = Checkpoint::open(&note, &verifier).unwrap_err();
    assert!(matches!(err, CheckpointError::OriginMismatch { .. }), "{err}");
    assert_eq!(err.to_string(), expected);
    let err = other_ledger.sign(&key).unwrap_err();
    assert_eq!(err.to_string(), expected);
    // What `verify --checkpoint` and `verify-proof --checkpoint` open a checkpoint with.
    let failure = orgledger::proofs::open_checkpoint(&note, &verifier).unwrap_err();
    assert_eq!((failure.check, failure.error.as_str()), ("signature", expected));
    // An origin that differs only in case, or by a prefix, is another name too.
    for origin in [
        "Orgledger.example/test",
        "orgledger.example/tes",
        "orgledger.example/test2",
    ] {
        let mut near = vector_checkpoint();
        near.origin = origin.to_string();
        let note = sign_note(&near.body(), &key).unwrap();
        assert!(
            matches!(
                Checkpoint::open(&note, &verifier),
                Err(CheckpointError::OriginMismatch { .. })
            ),
            "{origin}"
        );
    }
}
