//! The Merkle tree of `src/merkle.rs` against RFC 9162 written out naively: MTH, PATH and
//! PROOF straight from the recursive definitions of §2.1, for every size, index and old size
//! up to 300 and for random sizes up to 5000. Every proof must equal the naive one and
//! verify, and every damaged proof (a hash changed, dropped or added, the wrong size, index
//! or root) must be refused with the error that says so. The test vectors of FORMAT.md are
//! frozen here too.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use orgledger::event::Hash;
use orgledger::merkle::{
    consistency_proof, consistency_proof_len, empty_root, inclusion_proof, inclusion_proof_len, leaf_hash, node_hash,
    root, verify_consistency, verify_inclusion, Frontier, MemoryTree, TreeError, TreeNodes, TREE_EMPTY_CONTEXT,
    TREE_LEAF_CONTEXT, TREE_NODE_CONTEXT,
};
use proptest::prelude::*;

/// The event hash of the synthetic event `seq`: blake3 of its decimal digits, as in the
/// FORMAT.md test vectors.
fn event(seq: u64) -> Hash {
    Hash(*blake3::hash(seq.to_string().as_bytes()).as_bytes())
}

fn events(n: u64) -> Vec<Hash> {
    (1..=n).map(event).collect()
}

/// The same hash with one bit changed.
fn flip(h: &Hash) -> Hash {
    let mut bytes = h.0;
    bytes[7] ^= 0x20;
    Hash(bytes)
}

/// ⌈log2 n⌉ for n >= 1.
fn ceil_log2(n: u64) -> usize {
    (0..64).find(|b| (1u64 << b) >= n).unwrap()
}

/// RFC 9162 §2.1 written out: MTH, PATH and PROOF by their recursive definitions, over the
/// event hashes D. MTH is memoized on its range only so that 45,000 proofs take seconds;
/// each value is still the definition's.
struct Naive {
    d: Vec<Hash>,
    memo: RefCell<HashMap<(usize, usize), Hash>>,
}

impl Naive {
    fn new(d: Vec<Hash>) -> Naive {
        Naive {
            d,
            memo: RefCell::new(HashMap::new()),
        }
    }

    /// The largest power of two smaller than n (n > 1).
    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[s:e]).
    fn mth(&self, s: usize, e: usize) -> Hash {
        if let Some(h) = self.memo.borrow().get(&(s, e)) {
            return *h;
        }
        let h = match e - s {
            0 => empty_root(),
            1 => leaf_hash(&self.d[s]),
            n => {
                let k = Naive::k(n);
                node_hash(&self.mth(s, s + k), &self.mth(s + k, e))
            }
        };
        self.memo.borrow_mut().insert((s, e), h);
        h
    }

    /// PATH(m, D[s:e]), m counted from s.
    fn path(&self, m: usize, s: usize, e: usize) -> Vec<Hash> {
        let n = e - s;
        if n == 1 {
            return vec![];
        }
        let k = Naive::k(n);
        if m < k {
            let mut p = self.path(m, s, s + k);
            p.push(self.mth(s + k, e));
            p
        } else {
            let mut p = self.path(m - k, s + k, e);
            p.push(self.mth(s, s + k));
            p
        }
    }

    /// PROOF(m, D[n]).
    fn proof(&self, m: usize, n: usize) -> Vec<Hash> {
        self.subproof(m, 0, n, true)
    }

    /// SUBPROOF(m, D[s:e], b).
    fn subproof(&self, m: usize, s: usize, e: usize, b: bool) -> Vec<Hash> {
        let n = e - s;
        if m == n {
            return if b { vec![] } else { vec![self.mth(s, e)] };
        }
        let k = Naive::k(n);
        if m <= k {
            let mut p = self.subproof(m, s, s + k, b);
            p.push(self.mth(s + k, e));
            p
        } else {
            let mut p = self.subproof(m - k, s + k, e, false);
            p.push(self.mth(s, s + k));
            p
        }
    }
}

/// A store wrapper that counts lookups, to hold the proofs to O(log n) of them.
struct Counting<'a, N> {
    inner: &'a N,
    lookups: Cell<usize>,
}

impl<N: TreeNodes> TreeNodes for Counting<'_, N> {
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        self.lookups.set(self.lookups.get() + 1);
        self.inner.node(level, index)
    }
}

/// A store that answers for any node of a tree of `size` leaves with a made-up hash: proofs
/// from it do not verify, but it shows how many lookups a proof in a huge tree costs.
struct Synthetic {
    size: u64,
}

impl TreeNodes for Synthetic {
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        if level >= 64 || (index + 1) << level > self.size {
            return Err(TreeError::MissingNode {
                level,
                index,
                held: self.size,
            });
        }
        let mut h = blake3::Hasher::new();
        h.update(&level.to_le_bytes()).update(&index.to_le_bytes());
        Ok(Hash(*h.finalize().as_bytes()))
    }
}

/// A store that fails on every lookup, as sled might.
struct Broken;

impl TreeNodes for Broken {
    fn node(&self, _level: u32, _index: u64) -> Result<Hash, TreeError> {
        Err(TreeError::Store("disk on fire".into()))
    }
}

fn derive(context: &str, bytes: &[u8]) -> Hash {
    Hash(
        *blake3::Hasher::new_derive_key(context)
            .update(bytes)
            .finalize()
            .as_bytes(),
    )
}

#[test]
fn tree_hashes_use_their_own_derive_key_contexts() {
    // The context strings are part of the published format: frozen here, byte for byte.
    assert_eq!(TREE_LEAF_CONTEXT, "orgledger 2026-11-27 tree leaf v1");
    assert_eq!(TREE_NODE_CONTEXT, "orgledger 2026-11-27 tree node v1");
    assert_eq!(TREE_EMPTY_CONTEXT, "orgledger 2026-11-27 tree empty v1");
    let (a, b) = (event(1), event(2));
    assert_eq!(leaf_hash(&a), derive(TREE_LEAF_CONTEXT, &a.0));
    let mut both = a.0.to_vec();
    both.extend_from_slice(&b.0);
    assert_eq!(node_hash(&a, &b), derive(TREE_NODE_CONTEXT, &both));
    assert_eq!(empty_root(), derive(TREE_EMPTY_CONTEXT, b""));
    // The three kinds never coincide with each other or with a plain blake3 hash.
    assert_ne!(leaf_hash(&a), Hash(*blake3::hash(&a.0).as_bytes()));
    assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
}

#[test]
fn the_empty_tree() {
    let tree = MemoryTree::new();
    assert_eq!(tree.size(), 0);
    assert_eq!(tree.root(), empty_root());
    assert_eq!(root(&tree, 0), Ok(empty_root()));
    assert_eq!(Frontier::new().root(), empty_root());
    assert_eq!(Frontier::from_nodes(0, &tree), Ok(Frontier::new()));
    assert_eq!(inclusion_proof(&tree, 0, 0), Err(TreeError::EmptyTree));
    assert_eq!(consistency_proof(&tree, 0, 0), Err(TreeError::BadSizes { m: 0, n: 0 }));
}

#[test]
fn roots_and_frontiers_for_every_size_to_300() {
    let d = events(300);
    let naive = Naive::new(d.clone());
    let full = MemoryTree::from_event_hashes(&d);
    let mut prefix = MemoryTree::new();
    let mut frontier = Frontier::new();
    let mut pushed: HashMap<(u32, u64), Hash> = HashMap::new();
    for n in 1..=300u64 {
        prefix.push(&d[n as usize - 1]);
        let completed = frontier.push(&d[n as usize - 1]);
        // The leaf comes first, then each node it completes, one level up at a time.
        assert_eq!(completed[0], (0, n - 1, leaf_hash(&d[n as usize - 1])));
        assert_eq!(completed.len(), n.trailing_zeros() as usize + 1, "size {n}");
        for (i, &(level, index, hash)) in completed.iter().enumerate() {
            assert_eq!(level, i as u32);
            assert_eq!(full.node(level, index), Ok(hash), "node ({level}, {index})");
            assert!(
                pushed.insert((level, index), hash).is_none(),
                "({level}, {index}) twice"
            );
        }
        let expected = naive.mth(0, n as usize);
        assert_eq!(prefix.size(), n);
        assert_eq!(frontier.size(), n);
        assert_eq!(prefix.root(), expected, "MemoryTree root, size {n}");
        assert_eq!(root(&full, n), Ok(expected), "root() from a larger store, size {n}");
        assert_eq!(root(&prefix, n), Ok(expected), "root() from a store of size {n}");
        assert_eq!(frontier.root(), expected, "Frontier root, size {n}");
        assert_eq!(Frontier::from_nodes(n, &full).as_ref(), Ok(&frontier), "size {n}");
        assert_eq!(Frontier::from_nodes(n, &prefix).as_ref(), Ok(&frontier), "size {n}");
        // A store holding fewer leaves than asked for says so, with its own error.
        assert!(matches!(root(&prefix, n + 1), Err(TreeError::MissingNode { held, .. }) if held == n));
        assert!(matches!(
            Frontier::from_nodes(n + 1, &prefix),
            Err(TreeError::MissingNode { held, .. }) if held == n
        ));
    }
    // Pushing 300 leaves completed every perfect node of the tree exactly once.
    let perfect: u64 = (0..9).map(|l| 300u64 >> l).sum();
    assert_eq!(pushed.len() as u64, perfect);
}

/// Checks one inclusion proof built from `nodes` against the naive one, verifies it, and
/// checks that every damaged form of it is refused.
fn check_inclusion(naive: &Naive, nodes: &MemoryTree, index: u64, size: u64) {
    let proof = inclusion_proof(nodes, index, size).unwrap();
    let at = format!("leaf {index}, size {size}");
    assert_eq!(proof, naive.path(index as usize, 0, size as usize), "{at}");
    assert_eq!(proof.len(), inclusion_proof_len(index, size), "{at}");
    assert!(proof.len() <= ceil_log2(size), "{at}");
    let leaf = naive.d[index as usize];
    let good_root = naive.mth(0, size as usize);
    assert_eq!(verify_inclusion(&leaf, index, size, &proof, &good_root), Ok(()), "{at}");

    let length_error = |len| TreeError::InclusionLength {
        index,
        size,
        len,
        expected: proof.len(),
    };
    for i in 0..proof.len() {
        let mut changed = proof.clone();
        changed[i] = flip(&changed[i]);
        let err = verify_inclusion(&leaf, index, size, &changed, &good_root);
        assert!(
            matches!(err, Err(TreeError::InclusionRoot { index: i, size: s, expected, .. })
                if i == index && s == size && expected == good_root),
            "{at}, hash {i} changed: {err:?}"
        );

        let mut dropped = proof.clone();
        dropped.remove(i);
        let err = verify_inclusion(&leaf, index, size, &dropped, &good_root);
        assert_eq!(err, Err(length_error(proof.len() - 1)), "{at}, hash {i} dropped");
    }
    for i in 0..=proof.len() {
        let mut added = proof.clone();
        added.insert(i, good_root);
        let err = verify_inclusion(&leaf, index, size, &added, &good_root);
        assert_eq!(err, Err(length_error(proof.len() + 1)), "{at}, hash added at {i}");
    }
    // Another event, the wrong root, and a root of another size are refused.
    let other = flip(&leaf);
    assert!(matches!(
        verify_inclusion(&other, index, size, &proof, &good_root),
        Err(TreeError::InclusionRoot { .. })
    ));
    let wrong = flip(&good_root);
    assert_eq!(
        verify_inclusion(&leaf, index, size, &proof, &wrong),
        Err(TreeError::InclusionRoot {
            index,
            size,
            computed: good_root,
            expected: wrong
        })
    );
    // The proof presented for another size, against that size's root.
    for other_size in [size - 1, size + 1, 2 * size] {
        if other_size > index && other_size != size && (other_size as usize) <= naive.d.len() {
            let other_root = naive.mth(0, other_size as usize);
            assert!(
                verify_inclusion(&leaf, index, other_size, &proof, &other_root).is_err(),
                "{at}: accepted as size {other_size}"
            );
        }
    }
    // The proof presented for another index of the same tree.
    for other_index in [index.wrapping_sub(1), index + 1, 0, size - 1, index ^ 1] {
        if other_index < size && other_index != index {
            assert!(
                verify_inclusion(&leaf, other_index, size, &proof, &good_root).is_err(),
                "{at}: accepted as leaf {other_index}"
            );
        }
    }
    assert_eq!(
        verify_inclusion(&leaf, size, size, &proof, &good_root),
        Err(TreeError::IndexOutOfRange { index: size, size })
    );
}

#[test]
fn inclusion_proofs_for_every_size_and_index_to_300() {
    let d = events(300);
    let naive = Naive::new(d.clone());
    let full = MemoryTree::from_event_hashes(&d);
    for size in 1..=300u64 {
        for index in 0..size {
            check_inclusion(&naive, &full, index, size);
        }
        assert_eq!(
            inclusion_proof(&full, size, size),
            Err(TreeError::IndexOutOfRange { index: size, size })
        );
    }
}

#[test]
fn inclusion_proofs_refuse_sizes_past_the_store() {
    let tree = MemoryTree::from_event_hashes(&events(20));
    // Even the last leaf of a size one past the store, whose proof would not need the
    // missing leaf, is refused: the store does not hold a tree of that size.
    for index in 0..21 {
        assert_eq!(
            inclusion_proof(&tree, index, 21),
            Err(TreeError::MissingNode {
                level: 0,
                index: 20,
                held: 20
            })
        );
    }
    assert_eq!(
        inclusion_proof(&Broken, 0, 5),
        Err(TreeError::Store("disk on fire".into()))
    );
    assert_eq!(root(&Broken, 5), Err(TreeError::Store("disk on fire".into())));
    assert_eq!(
        consistency_proof(&Broken, 2, 5),
        Err(TreeError::Store("disk on fire".into()))
    );
    assert_eq!(
        Frontier::from_nodes(5, &Broken),
        Err(TreeError::Store("disk on fire".into()))
    );
}

/// Checks one consistency proof built from `nodes` against the naive one, verifies it, and
/// checks that every damaged form of it is refused.
fn check_consistency(naive: &Naive, nodes: &MemoryTree, m: u64, n: u64) {
    let proof = consistency_proof(nodes, m, n).unwrap();
    let at = format!("from size {m} to size {n}");
    if m == n {
        assert!(proof.is_empty());
    } else {
        assert_eq!(proof, naive.proof(m as usize, n as usize), "{at}");
    }
    assert_eq!(proof.len(), consistency_proof_len(m, n), "{at}");
    // PROOF(m, D[n]) has at most ⌈log2 n⌉ + 1 hashes (3 for m = 3, n = 4).
    assert!(proof.len() <= ceil_log2(n) + 1, "{at}");
    let root_m = naive.mth(0, m as usize);
    let root_n = naive.mth(0, n as usize);
    assert_eq!(verify_consistency(m, n, &root_m, &root_n, &proof), Ok(()), "{at}");

    let length_error = |len| TreeError::ConsistencyLength {
        m,
        n,
        len,
        expected: proof.len(),
    };
    for i in 0..proof.len() {
        let mut changed = proof.clone();
        changed[i] = flip(&changed[i]);
        let err = verify_consistency(m, n, &root_m, &root_n, &changed);
        assert!(
            matches!(err, Err(TreeError::ConsistencyRoot { .. })),
            "{at}, hash {i} changed: {err:?}"
        );

        let mut dropped = proof.clone();
        dropped.remove(i);
        let err = verify_consistency(m, n, &root_m, &root_n, &dropped);
        assert_eq!(err, Err(length_error(proof.len() - 1)), "{at}, hash {i} dropped");
    }
    for i in 0..=proof.len() {
        let mut added = proof.clone();
        added.insert(i, root_m);
        let err = verify_consistency(m, n, &root_m, &root_n, &added);
        assert_eq!(err, Err(length_error(proof.len() + 1)), "{at}, hash added at {i}");
    }
    // Wrong roots: either changed, or swapped for another size's.
    assert!(matches!(
        verify_consistency(m, n, &flip(&root_m), &root_n, &proof),
        Err(TreeError::ConsistencyRoot { .. })
    ));
    assert_eq!(
        verify_consistency(m, n, &root_m, &flip(&root_n), &proof),
        Err(TreeError::ConsistencyRoot {
            m,
            n,
            size: n,
            computed: root_n,
            expected: flip(&root_n)
        })
    );
    if m > 1 {
        let before = naive.mth(0, m as usize - 1);
        assert!(verify_consistency(m, n, &before, &root_n, &proof).is_err(), "{at}");
    }
    // The proof presented for other sizes, against those sizes' roots. Between two equal
    // sizes the empty proof is the right one, so those pairs are not wrong sizes.
    let sizes = naive.d.len() as u64;
    for (om, on) in [(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1), (m + 1, n + 1)] {
        if (om, on) != (m, n) && 0 < om && om < on && on <= sizes {
            let (rm, rn) = (naive.mth(0, om as usize), naive.mth(0, on as usize));
            assert!(
                verify_consistency(om, on, &rm, &rn, &proof).is_err(),
                "{at}: accepted from {om} to {on}"
            );
        }
    }
}

#[test]
fn consistency_proofs_for_every_pair_of_sizes_to_300() {
    let d = events(300);
    let naive = Naive::new(d.clone());
    let full = MemoryTree::from_event_hashes(&d);
    for n in 1..=300u64 {
        for m in 1..=n {
            check_consistency(&naive, &full, m, n);
        }
        assert_eq!(consistency_proof(&full, 0, n), Err(TreeError::BadSizes { m: 0, n }));
        assert_eq!(
            consistency_proof(&full, n + 1, n),
            Err(TreeError::BadSizes { m: n + 1, n })
        );
        let r = naive.mth(0, n as usize);
        assert_eq!(
            verify_consistency(0, n, &r, &r, &[]),
            Err(TreeError::BadSizes { m: 0, n })
        );
        assert_eq!(
            verify_consistency(n + 1, n, &r, &r, &[]),
            Err(TreeError::BadSizes { m: n + 1, n })
        );
    }
}

#[test]
fn consistency_between_equal_sizes() {
    let naive = Naive::new(events(10));
    let tree = MemoryTree::from_event_hashes(&naive.d);
    let (r5, r6) = (naive.mth(0, 5), naive.mth(0, 6));
    assert_eq!(consistency_proof(&tree, 5, 5), Ok(vec![]));
    assert_eq!(verify_consistency(5, 5, &r5, &r5, &[]), Ok(()));
    assert_eq!(
        verify_consistency(5, 5, &r5, &r6, &[]),
        Err(TreeError::ConsistencyRoot {
            m: 5,
            n: 5,
            size: 5,
            computed: r5,
            expected: r6
        })
    );
    assert_eq!(
        verify_consistency(5, 5, &r5, &r5, &[r5]),
        Err(TreeError::ConsistencyLength {
            m: 5,
            n: 5,
            len: 1,
            expected: 0
        })
    );
    // RFC 9162 §2.1.4.2 step 1: for m < n an empty proof is refused at once.
    assert_eq!(
        verify_consistency(5, 6, &r5, &r6, &[]),
        Err(TreeError::ConsistencyLength {
            m: 5,
            n: 6,
            len: 0,
            expected: 3
        })
    );
    // A size past the store is refused even where the proof is empty.
    assert_eq!(
        consistency_proof(&tree, 11, 11),
        Err(TreeError::MissingNode {
            level: 0,
            index: 10,
            held: 10
        })
    );
    assert_eq!(
        consistency_proof(&tree, 3, 11),
        Err(TreeError::MissingNode {
            level: 0,
            index: 10,
            held: 10
        })
    );
}

#[test]
fn proofs_take_logarithmic_lookups() {
    // Store sizes up to 2^40 (more than any ledger): the node count of each proof stays
    // within a small multiple of the tree height, so nothing is rehashed.
    for size in [
        1u64,
        2,
        3,
        7,
        300,
        1_000_000,
        1_048_575,
        1_048_577,
        (1 << 40) - 1,
        1 << 40,
    ] {
        let store = Counting {
            inner: &Synthetic { size },
            lookups: Cell::new(0),
        };
        let height = ceil_log2(size);
        let take = |f: &dyn Fn(&Counting<Synthetic>)| {
            store.lookups.set(0);
            f(&store);
            store.lookups.get()
        };
        assert!(
            take(&|s| {
                root(s, size).unwrap();
            }) <= height + 1,
            "root, size {size}"
        );
        for index in [0, size / 3, size / 2, size - 1] {
            let n = take(&|s| {
                inclusion_proof(s, index, size).unwrap();
            });
            assert!(n <= 2 * height + 2, "inclusion of {index} in {size}: {n} lookups");
        }
        for m in [1, size / 3 + 1, size / 2 + 1, size - 1, size]
            .into_iter()
            .filter(|&m| m > 0)
        {
            let n = take(&|s| {
                consistency_proof(s, m, size).unwrap();
            });
            assert!(n <= 2 * height + 3, "consistency from {m} to {size}: {n} lookups");
        }
        let n = take(&|s| {
            Frontier::from_nodes(size, s).unwrap();
        });
        assert_eq!(n, size.count_ones() as usize);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn larger_trees_agree_with_the_naive_one(
        size in 301u64..=5000,
        index_frac in 0.0f64..1.0,
        m_frac in 0.0f64..1.0,
    ) {
        let d = events(size);
        let naive = Naive::new(d.clone());
        let tree = MemoryTree::from_event_hashes(&d);
        let mut frontier = Frontier::new();
        for h in &d {
            frontier.push(h);
        }
        let expected = naive.mth(0, size as usize);
        prop_assert_eq!(tree.root(), expected);
        prop_assert_eq!(frontier.root(), expected);
        prop_assert_eq!(Frontier::from_nodes(size, &tree), Ok(frontier));
        let index = ((size as f64 * index_frac) as u64).min(size - 1);
        let m = ((size as f64 * m_frac) as u64).clamp(1, size);
        check_inclusion(&naive, &tree, index, size);
        check_inclusion(&naive, &tree, size - 1, size);
        check_consistency(&naive, &tree, m, size);
        check_consistency(&naive, &tree, 1, size);
        check_consistency(&naive, &tree, size - 1, size);
    }
}

/// The FORMAT.md test vectors: the tree over the events whose hashes are blake3 of "1", "2",
/// ... (the ASCII decimal `seq`). The constants were computed once by an independent Python
/// script (blake3 1.0.11, MTH, PATH and PROOF from RFC 9162) and agree with the code.
#[test]
fn roots_for_sizes_1_to_8() {
    let roots = [
        "eaf4aa9335f98c6c0487d58ba4d3d5f2c0d980ec4577b43aaf8599e38bc20a62",
        "afa538067cf3ab375358b27285b794c16e57792bbc4e45918e95e247b9a79133",
        "5275314ddca6114c36874062f44790bfc6db14ead35afab99c39ab08e5c5a59b",
        "d989c0cdaff43555734ada749b58cdaedf7078c54d31391933085ed138b8d6b9",
        "838df3212293b3e98279d46b3c487e7bff3c4d82cbcb64e1b0babb6208c76b0f",
        "ea7ceaf2be628b1b2dfdbb89981691fcc70739745fda79fd5f681209f2804d4e",
        "10bc459e4ba44b04594183c6676fbb38528ed22498ccf2723dd5a41e67d3457a",
        "3cd3b4257af993a3722997a2e286367e213e848b1892fc98812ad6bb07fe3476",
    ];
    let empty = "73592d25e2d58a6d95303b2d9612d693c7de4589a8cdfed5a111d26d28f7d16e";
    assert_eq!(empty_root(), Hash::parse(empty).unwrap());
    let tree = MemoryTree::from_event_hashes(&events(8));
    let mut frontier = Frontier::new();
    for (size, hex) in (1..=8u64).zip(roots) {
        frontier.push(&event(size));
        let expected = Hash::parse(hex).unwrap();
        assert_eq!(root(&tree, size), Ok(expected), "size {size}");
        assert_eq!(frontier.root(), expected, "size {size}");
    }
    let hashes = |hexes: &[&str]| -> Vec<Hash> { hexes.iter().map(|h| Hash::parse(h).unwrap()).collect() };
    let root7 = Hash::parse(roots[6]).unwrap();

    // The inclusion proof of leaf index 2 (the event seq 3) in the tree of size 7.
    let inclusion = hashes(&[
        "49e85248a9cf0db0eb3e8d825be0f84143966bf3a07e4e310d76c47cf3ee50f9",
        "afa538067cf3ab375358b27285b794c16e57792bbc4e45918e95e247b9a79133",
        "00466dcf6fac00b7a20ac6104a7f00d5d7c2fba85d7e3eb13e21fedeba5da6bf",
    ]);
    assert_eq!(inclusion_proof(&tree, 2, 7), Ok(inclusion.clone()));
    assert_eq!(verify_inclusion(&event(3), 2, 7, &inclusion, &root7), Ok(()));

    // The consistency proof from size 3 to size 7.
    let consistency = hashes(&[
        "2ae479700cf498c668b72a7932063a244fd1d009c4de5baee4dc1d132c9bf472",
        "49e85248a9cf0db0eb3e8d825be0f84143966bf3a07e4e310d76c47cf3ee50f9",
        "afa538067cf3ab375358b27285b794c16e57792bbc4e45918e95e247b9a79133",
        "00466dcf6fac00b7a20ac6104a7f00d5d7c2fba85d7e3eb13e21fedeba5da6bf",
    ]);
    let root3 = Hash::parse(roots[2]).unwrap();
    assert_eq!(consistency_proof(&tree, 3, 7), Ok(consistency.clone()));
    assert_eq!(verify_consistency(3, 7, &root3, &root7, &consistency), Ok(()));
}
