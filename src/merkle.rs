//! The Merkle tree over the event hashes: tree hashing, the right edge kept by the append
//! path, roots, inclusion and consistency proofs, and their verification (pure, no IO).
//!
//! The tree has the shape of RFC 9162 §2.1 (Certificate Transparency 2.0): leaf `i` is the
//! hash of the event with `seq` = `i + 1`, and a tree of `n > 1` leaves splits at the largest
//! power of two below `n`. RFC 9162 separates leaves from inner nodes with a prefix byte;
//! here each kind of tree hash has its own blake3 `derive_key` context instead, as every
//! hash of the ledger does, so a leaf, a node and an event hash can never stand for one
//! another.
//!
//! Proofs are built from stored hashes, never by rehashing the log. The store keeps every
//! *perfect* subtree: the node at level `l` and index `i` is the root of leaves
//! `[i * 2^l, (i + 1) * 2^l)`, level 0 being the leaf hashes, about `2n` nodes in all. Any
//! subtree the RFC's recursion asks for is a perfect one or the fold of at most 64 perfect
//! ones, so [`root`], [`inclusion_proof`] and [`consistency_proof`] each look up O(log n)
//! nodes. The store is behind [`TreeNodes`]; [`MemoryTree`] is the in-memory one.

use crate::event::Hash;

/// The blake3 `derive_key` context for leaf hashes, over the event hash's 32 bytes.
pub const TREE_LEAF_CONTEXT: &str = "orgledger 2026-11-27 tree leaf v1";
/// The blake3 `derive_key` context for inner node hashes, over left (32) || right (32).
pub const TREE_NODE_CONTEXT: &str = "orgledger 2026-11-27 tree node v1";
/// The blake3 `derive_key` context for the root of the empty tree, over no bytes.
pub const TREE_EMPTY_CONTEXT: &str = "orgledger 2026-11-27 tree empty v1";

/// Why a root or a proof could not be built, or why a proof was refused. Every message
/// names the numbers involved, so an auditor can tell a wrong size from a forged hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("the tree of size 0 has no leaves to prove")]
    EmptyTree,
    #[error("leaf index {index} is not in a tree of size {size} (indexes run from 0 to size - 1)")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("no consistency proof from size {m} to size {n}: the sizes must satisfy 0 < m <= n")]
    BadSizes { m: u64, n: u64 },
    #[error("tree node at level {level}, index {index} is not stored: the store holds {held} leaves")]
    MissingNode { level: u32, index: u64, held: u64 },
    #[error("tree store: {0}")]
    Store(String),
    /// A record whose event hash a node below the stored levels is computed from cannot be
    /// read (missing, or damaged).
    #[error("tree store: record {seq} {error}")]
    Record { seq: u64, error: String },
    #[error(
        "inclusion proof of leaf {index} in a tree of size {size} has {len} hashes; \
         it must have {expected}"
    )]
    InclusionLength {
        index: u64,
        size: u64,
        len: usize,
        expected: usize,
    },
    #[error(
        "inclusion proof of leaf {index} leads to root {computed}, not to the root {expected} \
         of the tree of size {size}"
    )]
    InclusionRoot {
        index: u64,
        size: u64,
        computed: Hash,
        expected: Hash,
    },
    #[error("consistency proof from size {m} to size {n} has {len} hashes; it must have {expected}")]
    ConsistencyLength {
        m: u64,
        n: u64,
        len: usize,
        expected: usize,
    },
    #[error(
        "consistency proof from size {m} to size {n} leads to root {computed} for size {size}, \
         not to the root {expected} given for it"
    )]
    ConsistencyRoot {
        m: u64,
        n: u64,
        size: u64,
        computed: Hash,
        expected: Hash,
    },
}

static LEAF_HASHER: std::sync::OnceLock<blake3::Hasher> = std::sync::OnceLock::new();
static NODE_HASHER: std::sync::OnceLock<blake3::Hasher> = std::sync::OnceLock::new();

/// A hasher in `derive_key` mode for `context`: the key derived from the context once, then
/// cloned, since the tree hashes 32 or 64 bytes at a time and deriving the key each time
/// would double the work.
fn keyed(cell: &std::sync::OnceLock<blake3::Hasher>, context: &str) -> blake3::Hasher {
    cell.get_or_init(|| blake3::Hasher::new_derive_key(context)).clone()
}

/// The hash of leaf `i`: `derive_key(TREE_LEAF_CONTEXT, event_hash)`. It plays the part of
/// RFC 9162's `HASH(0x00 || d(i))` (§2.1.1).
pub fn leaf_hash(event_hash: &Hash) -> Hash {
    let mut h = keyed(&LEAF_HASHER, TREE_LEAF_CONTEXT);
    h.update(&event_hash.0);
    Hash(*h.finalize().as_bytes())
}

/// The hash of an inner node: `derive_key(TREE_NODE_CONTEXT, left || right)`. It plays the
/// part of RFC 9162's `HASH(0x01 || left || right)` (§2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = keyed(&NODE_HASHER, TREE_NODE_CONTEXT);
    h.update(&left.0);
    h.update(&right.0);
    Hash(*h.finalize().as_bytes())
}

/// The root of the tree of size 0: `derive_key(TREE_EMPTY_CONTEXT, "")`, in the part of
/// RFC 9162's `HASH()` (§2.1.1).
pub fn empty_root() -> Hash {
    Hash(*blake3::Hasher::new_derive_key(TREE_EMPTY_CONTEXT).finalize().as_bytes())
}

/// Where the RFC 9162 recursion splits a tree of `n > 1` leaves: the largest power of two
/// smaller than `n` (§2.1.1).
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// The stored perfect subtrees: `node(level, index)` is the root of leaves
/// `[index * 2^level, (index + 1) * 2^level)`. A store that does not hold the node answers
/// with an error ([`TreeError::MissingNode`] or [`TreeError::Store`]), which every function
/// of this module hands back unchanged.
pub trait TreeNodes {
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError>;
}

/// Every perfect subtree of a tree held in memory, one `Vec` per level: for tests, and for
/// verifying an export file, which has no store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Builds the tree of the given event hashes, in `seq` order.
    pub fn from_event_hashes<'a>(hashes: impl IntoIterator<Item = &'a Hash>) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for h in hashes {
            tree.push(h);
        }
        tree
    }

    /// Appends the leaf of one event, and every perfect subtree it completes: a node is
    /// complete when its level holds an even number of hashes, its left sibling included.
    pub fn push(&mut self, event_hash: &Hash) {
        let mut hash = leaf_hash(event_hash);
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            let row = &self.levels[level];
            if row.len() % 2 == 1 {
                return;
            }
            hash = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The root of the whole tree, from its perfect subtrees.
    pub fn root(&self) -> Hash {
        root(self, self.size()).expect("a memory tree holds every perfect node of its size")
    }
}

impl TreeNodes for MemoryTree {
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(TreeError::MissingNode {
                level,
                index,
                held: self.size(),
            })
    }
}

/// The right edge of the tree: the roots of the perfect subtrees that the binary
/// decomposition of the size splits it into, largest (leftmost) first; at most 64. It is
/// all the append path needs to compute the root and the new perfect nodes of each append
/// without reading the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One hash per set bit of `size`, from the highest bit to the lowest.
    edge: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its stored perfect nodes, one
    /// lookup per set bit of `size`: what the store does when it opens.
    pub fn from_nodes<N: TreeNodes + ?Sized>(size: u64, nodes: &N) -> Result<Frontier, TreeError> {
        let mut edge = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev().filter(|l| size >> l & 1 == 1) {
            edge.push(nodes.node(level, start >> level)?);
            start += 1 << level;
        }
        Ok(Frontier { size, edge })
    }

    /// Appends the leaf of the event `seq` = `size() + 1` and returns every perfect node it
    /// completes as `(level, index, hash)`, the leaf itself first, so that the append path
    /// stores them in the same batch as the record.
    pub fn push(&mut self, event_hash: &Hash) -> Vec<(u32, u64, Hash)> {
        let mut completed = Vec::with_capacity(2);
        self.push_into(event_hash, &mut completed);
        completed
    }

    /// [`Frontier::push`], appending the completed nodes to `completed` instead of a new
    /// vector: what a loop over a whole log (verify, the tree's backfill) uses.
    pub fn push_into(&mut self, event_hash: &Hash, completed: &mut Vec<(u32, u64, Hash)>) {
        let mut hash = leaf_hash(event_hash);
        let mut level = 0u32;
        let mut index = self.size;
        completed.push((level, index, hash));
        // Each trailing one bit of the old size is a perfect subtree of the same level just
        // left of the new node: the two merge, as binary addition carries.
        while self.size >> level & 1 == 1 {
            let left = self.edge.pop().expect("one edge hash per set bit of the size");
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed.push((level, index, hash));
        }
        self.edge.push(hash);
        self.size += 1;
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root, MTH(D\[n\]) of RFC 9162 §2.1.1: the edge folded from the right, since the
    /// RFC's recursion splits off the largest perfect subtree on the left at every step.
    pub fn root(&self) -> Hash {
        let mut hashes = self.edge.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// MTH(D[start, start + len)) for `len >= 1`, from the perfect subtrees its size decomposes
/// into. Every range the RFC 9162 recursion reaches starts at a multiple of the power of two
/// at or above its length, so each piece, largest first, is one stored perfect node.
fn range_root<N: TreeNodes + ?Sized>(nodes: &N, start: u64, len: u64) -> Result<Hash, TreeError> {
    debug_assert!(len >= 1);
    let mut acc: Option<Hash> = None;
    let mut bits = len;
    // From the smallest (rightmost) piece to the largest, so each fold is one node hash.
    while bits != 0 {
        let level = bits.trailing_zeros();
        bits &= bits - 1;
        let offset = start + (len & !(u64::MAX >> (63 - level)));
        let piece = nodes.node(level, offset >> level)?;
        acc = Some(match acc {
            None => piece,
            Some(right) => node_hash(&piece, &right),
        });
    }
    Ok(acc.expect("len >= 1"))
}

/// Fails with the store's own error when it does not hold leaf `size - 1`: a size past the
/// store's head must be refused even where the proof itself would not touch the last leaf.
fn check_held<N: TreeNodes + ?Sized>(nodes: &N, size: u64) -> Result<(), TreeError> {
    nodes.node(0, size - 1).map(|_| ())
}

/// The root of the tree of `size` leaves, MTH(D\[size\]) of RFC 9162 §2.1.1, from at most 64
/// stored perfect nodes; the empty root for size 0.
pub fn root<N: TreeNodes + ?Sized>(nodes: &N, size: u64) -> Result<Hash, TreeError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_root(nodes, 0, size)
}

/// The inclusion proof of leaf `index` (0-based: the event `seq` = `index + 1`) in the tree
/// of `size` leaves: PATH(m, D\[n\]) of RFC 9162 §2.1.3.1, the sibling nearest the leaf
/// first. At most ⌈log2 size⌉ hashes, from O(log size) lookups: every sibling is a perfect
/// node except at most one, which is the fold of at most 64.
pub fn inclusion_proof<N: TreeNodes + ?Sized>(nodes: &N, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
    if size == 0 {
        return Err(TreeError::EmptyTree);
    }
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    check_held(nodes, size)?;
    let mut proof = Vec::with_capacity(inclusion_proof_len(index, size));
    path(nodes, index, 0, size, &mut proof)?;
    Ok(proof)
}

/// PATH(m, D[start, start + len)), appending to `out` (RFC 9162 §2.1.3.1).
fn path<N: TreeNodes + ?Sized>(nodes: &N, m: u64, start: u64, len: u64, out: &mut Vec<Hash>) -> Result<(), TreeError> {
    if len == 1 {
        return Ok(());
    }
    let k = split(len);
    if m < k {
        path(nodes, m, start, k, out)?;
        out.push(range_root(nodes, start + k, len - k)?);
    } else {
        path(nodes, m - k, start + k, len - k, out)?;
        out.push(range_root(nodes, start, k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `m` leaves to the tree of `n` leaves:
/// PROOF(m, D\[n\]) of RFC 9162 §2.1.4.1, for 0 < m <= n (empty when m == n). At most
/// ⌈log2 n⌉ + 1 hashes, from O(log n) lookups.
pub fn consistency_proof<N: TreeNodes + ?Sized>(nodes: &N, m: u64, n: u64) -> Result<Vec<Hash>, TreeError> {
    if m == 0 || m > n {
        return Err(TreeError::BadSizes { m, n });
    }
    check_held(nodes, n)?;
    let mut proof = Vec::with_capacity(consistency_proof_len(m, n));
    subproof(nodes, m, 0, n, true, &mut proof)?;
    Ok(proof)
}

/// SUBPROOF(m, D[start, start + len), known), appending to `out` (RFC 9162 §2.1.4.1). `known`
/// is the RFC's `b`: the subtree is the whole old tree, whose root the verifier already has.
fn subproof<N: TreeNodes + ?Sized>(
    nodes: &N,
    m: u64,
    start: u64,
    len: u64,
    known: bool,
    out: &mut Vec<Hash>,
) -> Result<(), TreeError> {
    if m == len {
        if !known {
            out.push(range_root(nodes, start, len)?);
        }
        return Ok(());
    }
    let k = split(len);
    if m <= k {
        subproof(nodes, m, start, k, known, out)?;
        out.push(range_root(nodes, start + k, len - k)?);
    } else {
        subproof(nodes, m - k, start + k, len - k, false, out)?;
        out.push(range_root(nodes, start, k)?);
    }
    Ok(())
}

/// The number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves
/// (`index < size`): the depth of the RFC 9162 §2.1.3.1 recursion.
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (mut m, mut n, mut len) = (index, size, 0);
    while n > 1 {
        let k = split(n);
        (m, n) = if m < k { (m, k) } else { (m - k, n - k) };
        len += 1;
    }
    len
}

/// The number of hashes in the consistency proof from size `m` to size `n` (0 < m <= n):
/// the depth of the RFC 9162 §2.1.4.1 recursion, plus one when it ends in a subtree the
/// verifier does not already know.
pub fn consistency_proof_len(m: u64, n: u64) -> usize {
    let (mut m, mut n, mut known, mut len) = (m, n, true, 0);
    if m == n {
        return 0;
    }
    while m != n {
        let k = split(n);
        if m <= k {
            n = k;
        } else {
            (m, n, known) = (m - k, n - k, false);
        }
        len += 1;
    }
    len + usize::from(!known)
}

/// Checks that the event whose hash is `event_hash` is leaf `index` of the tree of `size`
/// leaves whose root is `root`: the algorithm of RFC 9162 §2.1.3.2, step for step, the leaf
/// hash taken inside. It accepts exactly the proofs [`inclusion_proof`] builds.
pub fn verify_inclusion(
    event_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TreeError> {
    // Step 1.
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    let wrong_length = || TreeError::InclusionLength {
        index,
        size,
        len: proof.len(),
        expected: inclusion_proof_len(index, size),
    };
    // Steps 2 and 3.
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = leaf_hash(event_hash);
    // Step 4.
    for p in proof {
        if snode == 0 {
            return Err(wrong_length());
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            // A left child on the right edge has no right sibling at this level: climb.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    if snode != 0 {
        return Err(wrong_length());
    }
    if r != *root {
        return Err(TreeError::InclusionRoot {
            index,
            size,
            computed: r,
            expected: *root,
        });
    }
    Ok(())
}

/// Checks that the tree of `n` leaves with root `root_n` extends the tree of `m` leaves with
/// root `root_m`: the algorithm of RFC 9162 §2.1.4.2, step for step, for 0 < m < n. The RFC
/// leaves m == n out; here its proof is empty and holds exactly when the two roots are
/// equal, so a verifier can check a checkpoint against one of the same size.
pub fn verify_consistency(m: u64, n: u64, root_m: &Hash, root_n: &Hash, proof: &[Hash]) -> Result<(), TreeError> {
    if m == 0 || m > n {
        return Err(TreeError::BadSizes { m, n });
    }
    let wrong_length = || TreeError::ConsistencyLength {
        m,
        n,
        len: proof.len(),
        expected: consistency_proof_len(m, n),
    };
    let wrong_root = |size: u64, computed: Hash, expected: &Hash| TreeError::ConsistencyRoot {
        m,
        n,
        size,
        computed,
        expected: *expected,
    };
    if m == n {
        if !proof.is_empty() {
            return Err(wrong_length());
        }
        if root_m != root_n {
            return Err(wrong_root(n, *root_m, root_n));
        }
        return Ok(());
    }
    // Step 1.
    if proof.is_empty() {
        return Err(wrong_length());
    }
    // Step 2: when the old tree is a perfect subtree of the new one, the proof leaves out its
    // root, which the verifier already has.
    let path: Vec<&Hash> = if m.is_power_of_two() {
        std::iter::once(root_m).chain(proof).collect()
    } else {
        proof.iter().collect()
    };
    // Steps 3 and 4.
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (*path[0], *path[0]);
    // Step 6.
    for c in &path[1..] {
        if snode == 0 {
            return Err(wrong_length());
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            // As in `verify_inclusion`: a node on the right edge climbs to its parent.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 7.
    if snode != 0 {
        return Err(wrong_length());
    }
    if fr != *root_m {
        return Err(wrong_root(m, fr, root_m));
    }
    if sr != *root_n {
        return Err(wrong_root(n, sr, root_n));
    }
    Ok(())
}
