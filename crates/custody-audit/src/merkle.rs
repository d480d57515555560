//! RFC 6962 Merkle tree hashing, an incremental in-memory tree and the
//! inclusion and consistency proofs of RFC 9162 §2.1.3 and §2.1.4.
//!
//! Main items: [`leaf_hash`], [`node_hash`], [`MerkleTree`],
//! [`verify_inclusion`] and [`verify_consistency`].

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the RFC 6962 hash of one leaf.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the RFC 6962 hash of an interior node.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
#[must_use]
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Errors asking a [`MerkleTree`] for a root or a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The requested tree size exceeds the number of leaves.
    #[error("tree size {requested} exceeds the {available} leaves in the log")]
    SizeOutOfRange {
        /// Size asked for.
        requested: u64,
        /// Leaves present.
        available: u64,
    },
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange {
        /// Index asked for.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger to a smaller tree.
    #[error("cannot prove consistency from size {old} to smaller size {new}")]
    Shrinking {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// An internal hash was missing (an invariant of the tree broke).
    #[error("internal tree node missing")]
    MissingNode,
}

/// Errors verifying an inclusion or consistency proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index is not inside the tree")]
    IndexOutOfRange,
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has the wrong length")]
    WrongLength,
    /// The recomputed root differs from the expected root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// The old size is larger than the new size.
    #[error("old tree is larger than new tree")]
    Shrinking,
}

/// An append-only Merkle tree that keeps every complete subtree hash, so roots
/// and proofs of any size cost `O(log n)` hashes and appends cost amortised `O(1)`.
///
/// Memory: about 64 bytes per leaf.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    // INVARIANT: levels[l][i] is the hash of the perfect subtree of 2^l leaves
    // starting at leaf i * 2^l; levels[l].len() == leaves >> l.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// True when the tree has no leaves.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf hash at `index`, if present.
    #[must_use]
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels.first()?.get(index).copied()
    }

    /// Appends one leaf hash (the output of [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0usize;
        let mut hash = leaf;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(hash);
            let len = row.len();
            if len % 2 == 1 {
                return;
            }
            let (Some(left), Some(right)) = (row.get(len - 2), row.get(len - 1)) else {
                return;
            };
            hash = node_hash(left, right);
            level += 1;
        }
    }

    /// The root of the whole tree.
    #[must_use]
    pub fn root(&self) -> Hash {
        // INVARIANT: len() is always a valid size.
        self.root_at(self.len()).unwrap_or_else(|_| empty_root())
    }

    /// The root of the tree formed by the first `size` leaves.
    ///
    /// # Errors
    /// [`TreeError::SizeOutOfRange`] when `size` exceeds the leaves present.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(empty_root());
        }
        self.range_hash(0, size)
    }

    /// The RFC 6962 audit path of leaf `index` in the tree of the first `size` leaves.
    ///
    /// # Errors
    /// When the size or the index is out of range.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(size)?;
        if index >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out)?;
        Ok(out)
    }

    /// The RFC 6962 consistency proof between the trees of `old` and `new` leaves.
    ///
    /// # Errors
    /// When `new` exceeds the leaves present or `old > new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(new)?;
        if old > new {
            return Err(TreeError::Shrinking { old, new });
        }
        let mut out = Vec::new();
        if old == 0 || old == new {
            return Ok(out);
        }
        self.subproof(old, 0, new, true, &mut out)?;
        Ok(out)
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError> {
        if size > self.len() {
            return Err(TreeError::SizeOutOfRange {
                requested: size,
                available: self.len(),
            });
        }
        Ok(())
    }

    fn perfect(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        let level = usize::try_from(level).map_err(|_| TreeError::MissingNode)?;
        let index = usize::try_from(index).map_err(|_| TreeError::MissingNode)?;
        self.levels
            .get(level)
            .and_then(|row| row.get(index))
            .copied()
            .ok_or(TreeError::MissingNode)
    }

    /// MTH(D[start..end]) for a non-empty range.
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash, TreeError> {
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            return self.perfect(n.trailing_zeros(), start / n);
        }
        if n <= 1 {
            return self.perfect(0, start);
        }
        let k = split_point(n);
        let left = self.range_hash(start, start + k)?;
        let right = self.range_hash(start + k, end)?;
        Ok(node_hash(&left, &right))
    }

    fn path(&self, index: u64, start: u64, end: u64, out: &mut Vec<Hash>) -> Result<(), TreeError> {
        let n = end - start;
        if n <= 1 {
            return Ok(());
        }
        let k = split_point(n);
        if index < start + k {
            self.path(index, start, start + k, out)?;
            out.push(self.range_hash(start + k, end)?);
        } else {
            self.path(index, start + k, end, out)?;
            out.push(self.range_hash(start, start + k)?);
        }
        Ok(())
    }

    fn subproof(
        &self,
        m: u64,
        start: u64,
        end: u64,
        complete: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), TreeError> {
        let n = end - start;
        if m == n {
            if !complete {
                out.push(self.range_hash(start, end)?);
            }
            return Ok(());
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, start + k, complete, out)?;
            out.push(self.range_hash(start + k, end)?);
        } else {
            self.subproof(m - k, start + k, end, false, out)?;
            out.push(self.range_hash(start, start + k)?);
        }
        Ok(())
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    let p = 1u64 << (63 - n.leading_zeros());
    if p == n { p >> 1 } else { p }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError`] when the proof does not show `leaf` at `index` in the tree of `size` with `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange);
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of `size2`
/// leaves with `root2` extends the tree of `size1` leaves with `root1`.
///
/// # Errors
/// [`ProofError`] when it does not.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::Shrinking);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if size1 == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let mut iter = path.iter();
    let Some(first) = iter.next() else {
        return Err(ProofError::WrongLength);
    };
    let mut f_n = size1 - 1;
    let mut s_n = size2 - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = *first;
    let mut s_r = *first;
    for c in iter {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &f_r != root1 || &s_r != root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The eight leaf inputs of the Certificate Transparency / transparency-dev
    /// reference tests.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    /// Their reference roots for sizes 1..=8.
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    fn reference_tree(n: usize) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for leaf in LEAVES.iter().take(n) {
            tree.push(leaf_hash(&hex::decode(leaf).unwrap()));
        }
        tree
    }

    /// The RFC 6962 definition, recursively, as an independent oracle.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn empty_tree_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(MerkleTree::new().root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn roots_match_reference_vectors() {
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(
                hex::encode(reference_tree(n + 1).root()),
                *want,
                "size {}",
                n + 1
            );
            assert_eq!(
                hex::encode(reference_tree(8).root_at(n as u64 + 1).unwrap()),
                *want
            );
        }
    }

    #[test]
    fn inclusion_proofs_match_reference_vectors() {
        let tree = reference_tree(8);
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (0, 1, &[]),
        ];
        for (index, size, want) in cases {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(tree.inclusion_proof(index, size).unwrap(), want);
            let leaf = tree.leaf(index).unwrap();
            let root = tree.root_at(size).unwrap();
            verify_inclusion(index, size, &leaf, &want, &root).unwrap();
        }
        // The reference proof for leaf 5 must not verify for leaf 4.
        let proof = tree.inclusion_proof(5, 8).unwrap();
        assert!(verify_inclusion(4, 8, &tree.leaf(5).unwrap(), &proof, &tree.root()).is_err());
    }

    #[test]
    fn consistency_proofs_match_reference_vectors() {
        let tree = reference_tree(8);
        let cases: [(u64, u64, &[&str]); 2] = [
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in cases {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(tree.consistency_proof(old, new).unwrap(), want);
            verify_consistency(
                old,
                new,
                &h(ROOTS[old as usize - 1]),
                &h(ROOTS[new as usize - 1]),
                &want,
            )
            .unwrap();
        }
        let proof = tree.consistency_proof(6, 8).unwrap();
        assert_eq!(
            verify_consistency(6, 8, &h(ROOTS[4]), &h(ROOTS[7]), &proof),
            Err(ProofError::RootMismatch)
        );
    }

    proptest! {
        #[test]
        fn tree_agrees_with_definition_and_proofs_verify(
            n in 1usize..80, a in 0usize..80, b in 0usize..80
        ) {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&(i as u64).to_le_bytes())).collect();
            let mut tree = MerkleTree::new();
            for leaf in &leaves {
                tree.push(*leaf);
            }
            let size = (a % n) as u64 + 1;
            let index = (b as u64) % size;
            prop_assert_eq!(tree.root_at(size).unwrap(), mth(&leaves[..size as usize]));
            let root = tree.root_at(size).unwrap();
            let proof = tree.inclusion_proof(index, size).unwrap();
            prop_assert!(verify_inclusion(index, size, &leaves[index as usize], &proof, &root).is_ok());
            let other = leaf_hash(b"other");
            prop_assert!(verify_inclusion(index, size, &other, &proof, &root).is_err());
            let old = (b as u64) % (size + 1);
            let cproof = tree.consistency_proof(old, size).unwrap();
            let old_root = tree.root_at(old).unwrap();
            prop_assert!(verify_consistency(old, size, &old_root, &root, &cproof).is_ok());
            if old > 0 && old < size {
                prop_assert!(verify_consistency(old, size, &other, &root, &cproof).is_err());
            }
        }
    }
}
