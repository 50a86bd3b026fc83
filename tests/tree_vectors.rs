//! The test vectors of FORMAT.md sections 15 and 17 (the Merkle tree, proofs, a signed
//! checkpoint, a cosignature and a witness request) are what the code computes: each value printed in the document is
//! recomputed here and looked for, line by line, in the section.

use orgledger::checkpoint::{self, Checkpoint, KeyType, SigningKey};
use orgledger::event::Hash;
use orgledger::merkle::{self, MemoryTree};

/// The event hashes of the vectors: event `i` has the hash blake3(ASCII decimal `i`).
fn event_hashes(n: u64) -> Vec<Hash> {
    (1..=n)
        .map(|i| Hash(*blake3::hash(i.to_string().as_bytes()).as_bytes()))
        .collect()
}

/// The lines section 15 must hold, in order.
fn expected_lines() -> Vec<String> {
    let hashes = event_hashes(8);
    let mut lines = vec![format!("empty {}", merkle::empty_root().to_hex())];
    for size in 1..=8usize {
        let tree = MemoryTree::from_event_hashes(&hashes[..size]);
        lines.push(format!("root {size} {}", tree.root().to_hex()));
    }
    let tree7 = MemoryTree::from_event_hashes(&hashes[..7]);
    lines.push("inclusion seq 3 size 7".into());
    for h in merkle::inclusion_proof(&tree7, 2, 7).unwrap() {
        lines.push(format!("  {}", h.to_hex()));
    }
    lines.push("consistency from 3 to 7".into());
    for h in merkle::consistency_proof(&tree7, 3, 7).unwrap() {
        lines.push(format!("  {}", h.to_hex()));
    }
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    let key = SigningKey::from_seed("orgledger.example/test", seed).unwrap();
    lines.push(key.to_text());
    lines.push(key.verifier().to_text());
    let checkpoint = Checkpoint {
        origin: "orgledger.example/test".into(),
        size: 7,
        root: tree7.root(),
        extensions: vec![format!("projection v1 {}", "0".repeat(64))],
    };
    let note = checkpoint.sign(&key).unwrap();
    lines.extend(note.lines().map(str::to_owned));
    // Section 16: a witness's key, its cosignature of that checkpoint, and the request that
    // asks a witness holding the tree of 3 to cosign it.
    let seed: [u8; 32] = std::array::from_fn(|i| 32 + i as u8);
    let witness = SigningKey::from_seed_of("witness.example/w1", KeyType::Cosigner, seed).unwrap();
    lines.push(witness.to_text());
    lines.push(witness.verifier().to_text());
    lines.push(
        checkpoint::cosign(&checkpoint.body(), &witness, 1_700_000_000)
            .unwrap()
            .trim_end()
            .to_owned(),
    );
    let proof = merkle::consistency_proof(&tree7, 3, 7).unwrap();
    lines.extend(
        orgledger::witness::request_body(3, &proof, &note)
            .lines()
            .map(str::to_owned),
    );
    lines
}

#[test]
fn section_15_holds_the_computed_vectors() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/FORMAT.md")).unwrap();
    let start = doc.find("## 15.").expect("FORMAT.md has a section 15");
    let section = &doc[start..];
    let mut rest = section;
    for line in expected_lines() {
        match rest.find(&line) {
            Some(i) => rest = &rest[i + line.len()..],
            None => panic!(
                "FORMAT.md section 15 lacks (in order) the line\n{line}\nThe computed vectors are:\n{}",
                expected_lines().join("\n")
            ),
        }
    }
}
