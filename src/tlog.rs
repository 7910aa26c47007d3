//! Merkle trees of transparency logs, as RFC 6962 / RFC 9162 define them (SPEC §14): the tree hash
//! of a list of leaves, and the checks of an inclusion proof and of a consistency proof against
//! tree heads. The vectors of `fixtures/conformance/rfc9162-merkle/` are reproduced exactly.
//!
//! **Invariant:** a proof is accepted only if every hash in it is 32 bytes and it recomputes the
//! given roots exactly; nothing here trusts a size or an index it has not checked.

use sha2::{Digest, Sha256};

pub mod leaves;
pub mod note;
pub mod tiles;
pub mod witness;

/// A node or leaf hash.
pub type Hash = [u8; 32];

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProofError(pub &'static str);

/// `SHA-256(0x00 ‖ leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle tree hash of `leaves` (MTH, RFC 9162 §2.1.1); of none, `SHA-256("")`.
pub fn tree_hash(leaves: &[&[u8]]) -> Hash {
    fn mth(hashes: &[Hash]) -> Hash {
        match hashes.len() {
            1 => hashes[0],
            n => {
                // The largest power of two smaller than n.
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&mth(&hashes[..k]), &mth(&hashes[k..]))
            }
        }
    }
    if leaves.is_empty() {
        return Sha256::digest([]).into();
    }
    let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
    mth(&hashes)
}

/// The right edge of a tree: the roots of the complete subtrees its leaves fall into, largest
/// first. Enough to append leaves and compute the new root without any earlier leaf (a
/// monitor keeps one between runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    pub size: u64,
    pub peaks: Vec<Hash>,
}

impl CompactRange {
    /// Appends a leaf by its hash.
    pub fn append(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut n = self.size;
        // Each trailing 1 bit of the old size is a peak of the same size as what is carried.
        while n & 1 == 1 {
            let left = self.peaks.pop().unwrap_or_default();
            h = node_hash(&left, &h);
            n >>= 1;
        }
        self.peaks.push(h);
        self.size += 1;
    }

    /// The tree's root (of no leaves: `SHA-256("")`).
    pub fn root(&self) -> Hash {
        let mut it = self.peaks.iter().rev();
        match it.next() {
            None => tree_hash(&[]),
            Some(last) => it.fold(*last, |acc, p| node_hash(p, &acc)),
        }
    }

    /// Whether the peaks are as many as the size's 1 bits (a range read back from a file).
    pub fn is_well_formed(&self) -> bool {
        self.peaks.len() == self.size.count_ones() as usize
    }
}

/// A size or an index as C2SP writes it: ASCII decimal, no leading zeroes (but `0`).
pub(crate) fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Proof lines: one base64 hash each, at most `max` of them.
pub(crate) fn hash_lines<'a>(
    lines: impl Iterator<Item = &'a str>,
    max: usize,
) -> Result<Vec<Hash>, ProofError> {
    use base64::Engine as _;
    let hashes = lines
        .map(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l)
                .ok()
                .and_then(|h| Hash::try_from(h).ok())
                .ok_or(ProofError("a proof line that is not 32 bytes of base64"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if hashes.len() > max {
        return Err(ProofError("more proof lines than any tree's path"));
    }
    Ok(hashes)
}

fn hash32(b: &[u8]) -> Result<Hash, ProofError> {
    b.try_into()
        .map_err(|_| ProofError("a hash that is not 32 bytes"))
}

/// Checks that `leaf` (its hash) is at `index` of the tree of `size` leaves whose hash is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), ProofError> {
    let root = hash32(root)?;
    let mut r = hash32(leaf)?;
    if index >= size {
        return Err(ProofError("the index is not inside the tree"));
    }
    let (mut f, mut s) = (index, size - 1);
    for p in proof {
        let p = hash32(p)?;
        if s == 0 {
            return Err(ProofError("the proof is longer than the path"));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(&p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, &p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError("the proof is shorter than the path"));
    }
    if r != root {
        return Err(ProofError("the proof does not lead to the root"));
    }
    Ok(())
}

/// Checks that the tree of `size1` leaves with hash `root1` is a prefix of the tree of `size2`
/// leaves with hash `root2` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[Vec<u8>],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError("the first tree is larger than the second"));
    }
    if size1 == 0 {
        // Only the empty tree is consistent with the empty tree; nothing is proved from it.
        let empty = tree_hash(&[]);
        return if size2 == 0 && proof.is_empty() && root1 == empty && root2 == empty {
            Ok(())
        } else {
            Err(ProofError("no proof is made from the empty tree"))
        };
    }
    // Trees of one size are consistent when they are the same tree: nothing to recompute (the
    // reference verifier compares the roots as they are).
    if size1 == size2 {
        return if proof.is_empty() && root1 == root2 {
            Ok(())
        } else {
            Err(ProofError(
                "trees of one size must be the same, with an empty proof",
            ))
        };
    }
    let (root1, root2) = (hash32(root1)?, hash32(root2)?);
    let proof = proof
        .iter()
        .map(|p| hash32(p))
        .collect::<Result<Vec<Hash>, _>>()?;
    if size1 == 0 {
        return Err(ProofError("no proof is made from the empty tree"));
    }
    if proof.is_empty() {
        return Err(ProofError(
            "an empty proof between trees of different sizes",
        ));
    }
    let mut path = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(root1);
    }
    path.extend(proof);
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError("the proof is longer than the path"));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError("the proof is shorter than the path"));
    }
    if fr != root1 || sr != root2 {
        return Err(ProofError("the proof does not lead to both roots"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn dir(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/conformance/rfc9162-merkle")
            .join(name)
    }

    /// Every case file under `kind/`, at any depth.
    fn cases(kind: &str) -> Vec<(String, serde_json::Value)> {
        fn walk(d: &std::path::Path, out: &mut Vec<(String, serde_json::Value)>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "json") {
                    let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                    out.push((p.display().to_string(), v));
                }
            }
        }
        let mut out = Vec::new();
        walk(&dir(kind), &mut out);
        out
    }

    fn b64(v: &serde_json::Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap()
    }

    fn proof(v: &serde_json::Value) -> Vec<Vec<u8>> {
        v.as_array()
            .map_or_else(Vec::new, |a| a.iter().map(b64).collect())
    }

    #[test]
    fn the_tree_hashes_of_the_vectors() {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir("roots.json")).unwrap()).unwrap();
        let leaves: Vec<Vec<u8>> = v["leafInputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| hex::decode(l.as_str().unwrap()).unwrap())
            .collect();
        for (n, root) in v["roots"].as_array().unwrap().iter().enumerate() {
            let refs: Vec<&[u8]> = leaves[..n].iter().map(Vec::as_slice).collect();
            assert_eq!(
                hex::encode(tree_hash(&refs)),
                root.as_str().unwrap(),
                "n = {n}"
            );
        }
    }

    #[test]
    fn a_compact_range_gives_the_roots_of_the_vectors() {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir("roots.json")).unwrap()).unwrap();
        let mut r = CompactRange::default();
        for (n, root) in v["roots"].as_array().unwrap().iter().enumerate() {
            assert_eq!(hex::encode(r.root()), root.as_str().unwrap(), "n = {n}");
            assert!(r.is_well_formed());
            if let Some(l) = v["leafInputs"].as_array().unwrap().get(n) {
                r.append(leaf_hash(&hex::decode(l.as_str().unwrap()).unwrap()));
            }
        }
    }

    #[test]
    fn every_inclusion_and_consistency_vector() {
        let inclusion = cases("inclusion");
        let consistency = cases("consistency");
        assert!(inclusion.len() + consistency.len() >= 190);
        for (path, c) in inclusion {
            let got = verify_inclusion(
                c["leafIdx"].as_u64().unwrap(),
                c["treeSize"].as_u64().unwrap(),
                &b64(&c["leafHash"]),
                &proof(&c["proof"]),
                &b64(&c["root"]),
            );
            assert_eq!(got.is_err(), c["wantErr"] == true, "{path}: {got:?}");
        }
        for (path, c) in consistency {
            let got = verify_consistency(
                c["size1"].as_u64().unwrap(),
                c["size2"].as_u64().unwrap(),
                &b64(&c["root1"]),
                &b64(&c["root2"]),
                &proof(&c["proof"]),
            );
            assert_eq!(got.is_err(), c["wantErr"] == true, "{path}: {got:?}");
        }
    }
}
