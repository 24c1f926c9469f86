//! The RFC 9162 (RFC 6962) Merkle tree over the global log: leaf and interior hashing, the root
//! of a tree of n leaves, inclusion and consistency proofs and their verification. Pure: where
//! the hashes come from is a `Source` (the tiles in the database, or a list in memory).
//!
//! Proofs are built from the definitions of RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1 (SUBPROOF) and
//! verified with the algorithms of §2.1.3.2 and §2.1.4.2, which need nothing but the proof.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, an interior node, or a root.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || input)`.
pub fn leaf_hash(input: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(input);
    h.finalize().into()
}

/// `SHA-256(0x00 || parts...)`: the leaf hash of an input given in pieces, without copying them.
pub fn leaf_hash_of_parts(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: the SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2): where RFC 9162 splits a tree of n leaves.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves` (leaf hashes), computed in memory.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The roots of the perfect subtrees a tree of `size` leaves is made of, left to right (largest
/// first), folded into its root: `H(c0, H(c1, ... H(cn-1, cn)))`.
pub fn fold_right(perfect: &[Hash]) -> Hash {
    let Some((last, rest)) = perfect.split_last() else {
        return empty_root();
    };
    rest.iter()
        .rev()
        .fold(*last, |right, left| node_hash(left, &right))
}

/// Where the hashes of perfect subtrees come from.
pub trait Source {
    type Error;
    /// The root of the perfect subtree of height `height` (2^height leaves) whose leaves are
    /// `index * 2^height .. (index + 1) * 2^height`; every one of them is in the tree.
    fn perfect(&mut self, height: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Leaf hashes in memory, each subtree hashed when asked for.
impl Source for &[Hash] {
    type Error = std::convert::Infallible;
    fn perfect(&mut self, height: u32, index: u64) -> Result<Hash, Self::Error> {
        let width = 1usize << height;
        let start = index as usize * width;
        Ok(root_of(&self[start..start + width]))
    }
}

/// The Merkle tree hash of the `size` leaves from `offset`, where `offset` is a multiple of the
/// power of two just at or above `size` (as every range RFC 9162's recursion visits is).
pub fn range_hash<S: Source>(src: &mut S, offset: u64, size: u64) -> Result<Hash, S::Error> {
    if size.is_power_of_two() {
        let height = size.trailing_zeros();
        return src.perfect(height, offset >> height);
    }
    let k = split(size);
    let left = range_hash(src, offset, k)?;
    let right = range_hash(src, offset + k, size - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of `size` leaves.
pub fn root<S: Source>(src: &mut S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size)
}

/// Why a proof cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    #[error("{0}")]
    Arguments(String),
    #[error("cannot read the tree: {0:?}")]
    Source(E),
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1), from
/// the leaf upward.
pub fn inclusion_proof<S: Source>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::Arguments(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof).map_err(ProofError::Source)?;
    Ok(proof)
}

/// PATH(m, D[offset:offset+n]), appended to `out` in RFC 9162's order (deepest first).
fn path<S: Source>(
    src: &mut S,
    m: u64,
    offset: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, offset, k, out)?;
        out.push(range_hash(src, offset + k, n - k)?);
    } else {
        path(src, m - k, offset + k, n - k, out)?;
        out.push(range_hash(src, offset, k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `from` and `to` leaves (RFC 9162 §2.1.4.1):
/// empty when they are the same size; `from` must be at least 1.
pub fn consistency_proof<S: Source>(
    src: &mut S,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if from == 0 {
        return Err(ProofError::Arguments(
            "a consistency proof from the empty tree proves nothing; from must be at least 1"
                .into(),
        ));
    }
    if from > to {
        return Err(ProofError::Arguments(format!(
            "from ({from}) is larger than to ({to})"
        )));
    }
    let mut proof = Vec::new();
    if from < to {
        subproof(src, from, 0, to, true, &mut proof).map_err(ProofError::Source)?;
    }
    Ok(proof)
}

/// SUBPROOF(m, D[offset:offset+n], b), appended to `out`.
fn subproof<S: Source>(
    src: &mut S,
    m: u64,
    offset: u64,
    n: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if m == n {
        if !whole {
            out.push(range_hash(src, offset, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, offset, k, whole, out)?;
        out.push(range_hash(src, offset + k, n - k)?);
    } else {
        subproof(src, m - k, offset + k, n - k, false, out)?;
        out.push(range_hash(src, offset, k)?);
    }
    Ok(())
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Arguments(String),
    #[error("the proof has {0} hashes, which is not what a proof for these sizes has")]
    Length(usize),
    #[error("the proof leads to a different root: it does not prove this")]
    Mismatch,
}

fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The root an inclusion proof leads to from `leaf` at `index` in a tree of `size` leaves
/// (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::Arguments(format!(
            "index {index} is not below the tree size {size}"
        )));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(VerifyError::Length(proof.len()));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(VerifyError::Length(proof.len()));
    }
    Ok(r)
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &[u8],
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if same(&computed, root) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Checks that the tree of `to` leaves with root `root_to` extends the tree of `from` leaves
/// with root `root_from` (RFC 9162 §2.1.4.2). `from` must be at least 1, as a proof from the
/// empty tree proves nothing; equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    from: u64,
    to: u64,
    proof: &[Hash],
    root_from: &[u8],
    root_to: &[u8],
) -> Result<(), VerifyError> {
    if from > to {
        return Err(VerifyError::Arguments(format!(
            "the first size ({from}) is larger than the second ({to})"
        )));
    }
    if from == 0 {
        return Err(VerifyError::Arguments(
            "a consistency proof from the empty tree proves nothing".into(),
        ));
    }
    if from == to {
        if !proof.is_empty() {
            return Err(VerifyError::Length(proof.len()));
        }
        return if same(root_from, root_to) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        };
    }
    let Ok(first_hash) = Hash::try_from(root_from) else {
        return Err(VerifyError::Mismatch);
    };
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(first_hash);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(VerifyError::Length(proof.len()));
    };
    if proof.is_empty() {
        return Err(VerifyError::Length(0));
    }
    let (mut f, mut s) = (from - 1, to - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(VerifyError::Length(proof.len()));
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
        return Err(VerifyError::Length(proof.len()));
    }
    if same(&fr, root_from) && same(&sr, root_to) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use proptest::prelude::*;

    fn hx(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// RFC 6962's reference leaves and the roots of the trees of 0 to 8 of them, as published
    /// in transparency-dev/merkle (testonly/constants.go, Apache-2.0), taken from
    /// certificate-transparency's RFC 6962 test data.
    fn reference_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect()
    }

    const REFERENCE_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn hashing_matches_the_rfc_6962_reference_values() {
        // transparency-dev/merkle rfc6962/rfc6962_test.go.
        assert_eq!(
            empty_root(),
            hx("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            leaf_hash(b""),
            hx("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            leaf_hash(b"L123456"),
            hx("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        );
        // HashChildren("N123", "N456"): the node hash is defined on any bytes; ours on 32.
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(b"N123");
        h.update(b"N456");
        let expected: Hash = h.finalize().into();
        assert_eq!(
            expected,
            hx("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
        );
        assert_eq!(
            leaf_hash_of_parts(&[b"L1", b"23", b"456"]),
            leaf_hash(b"L123456")
        );
    }

    #[test]
    fn roots_of_the_reference_trees() {
        let leaves: Vec<Hash> = reference_leaves().iter().map(|l| leaf_hash(l)).collect();
        for (n, expected) in REFERENCE_ROOTS.iter().enumerate() {
            assert_eq!(root_of(&leaves[..n]), hx(expected), "tree of {n} leaves");
            assert_eq!(
                root(&mut &leaves[..n], n as u64).unwrap(),
                hx(expected),
                "tree of {n} leaves through a source"
            );
        }
    }

    /// The proofs of transparency-dev/merkle cmd/proofgen/main.go (their leaf indexes count
    /// from 1; ours from 0).
    #[test]
    fn proofs_of_the_reference_trees() {
        let leaves: Vec<Hash> = reference_leaves().iter().map(|l| leaf_hash(l)).collect();
        let inclusion: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                3,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                2,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (leaf, size, expected) in inclusion {
            let expected: Vec<Hash> = expected.iter().map(|h| hx(h)).collect();
            let proof = inclusion_proof(&mut &leaves[..], leaf - 1, size).unwrap();
            assert_eq!(proof, expected, "inclusion of leaf {leaf} in {size}");
            verify_inclusion(
                leaf - 1,
                size,
                &leaves[leaf as usize - 1],
                &proof,
                &hx(REFERENCE_ROOTS[size as usize]),
            )
            .unwrap();
        }
        let consistency: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
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
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (from, to, expected) in consistency {
            let expected: Vec<Hash> = expected.iter().map(|h| hx(h)).collect();
            let proof = consistency_proof(&mut &leaves[..], from, to).unwrap();
            assert_eq!(proof, expected, "consistency {from} -> {to}");
            verify_consistency(
                from,
                to,
                &proof,
                &hx(REFERENCE_ROOTS[from as usize]),
                &hx(REFERENCE_ROOTS[to as usize]),
            )
            .unwrap();
        }
    }

    fn b64_list(value: &serde_json::Value) -> Option<Vec<Hash>> {
        match value {
            serde_json::Value::Null => Some(Vec::new()),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| {
                    B64.decode(v.as_str()?)
                        .ok()
                        .and_then(|b| Hash::try_from(b).ok())
                })
                .collect(),
            _ => None,
        }
    }

    fn b64(value: &serde_json::Value) -> Vec<u8> {
        B64.decode(value.as_str().unwrap()).unwrap()
    }

    fn vector_files(kind: &str) -> Vec<(String, serde_json::Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/transparency-dev-merkle")
            .join(kind);
        let mut found = Vec::new();
        let mut dirs = vec![dir];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    found.push((
                        path.display().to_string(),
                        serde_json::from_str(&text).unwrap(),
                    ));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Every inclusion probe of transparency-dev/merkle's testdata/inclusion (Apache-2.0):
    /// the happy paths verify, every altered one fails. A proof with a hash that is not 32
    /// bytes cannot even be read, which only the failing probes have.
    #[test]
    fn inclusion_probes_of_transparency_dev() {
        let probes = vector_files("inclusion");
        assert!(probes.len() >= 80, "{} probes", probes.len());
        for (name, p) in probes {
            let want_err = p["wantErr"].as_bool().unwrap();
            let leaf = Hash::try_from(b64(&p["leafHash"]));
            let outcome = match (b64_list(&p["proof"]), leaf) {
                (Some(proof), Ok(leaf)) => verify_inclusion(
                    p["leafIdx"].as_u64().unwrap(),
                    p["treeSize"].as_u64().unwrap(),
                    &leaf,
                    &proof,
                    &b64(&p["root"]),
                )
                .is_ok(),
                _ => false,
            };
            assert_eq!(outcome, !want_err, "{name}");
        }
    }

    /// Every consistency probe of transparency-dev/merkle's testdata/consistency (Apache-2.0).
    #[test]
    fn consistency_probes_of_transparency_dev() {
        let probes = vector_files("consistency");
        assert!(probes.len() >= 90, "{} probes", probes.len());
        for (name, p) in probes {
            let want_err = p["wantErr"].as_bool().unwrap();
            let outcome = match b64_list(&p["proof"]) {
                Some(proof) => verify_consistency(
                    p["size1"].as_u64().unwrap(),
                    p["size2"].as_u64().unwrap(),
                    &proof,
                    &b64(&p["root1"]),
                    &b64(&p["root2"]),
                )
                .is_ok(),
                None => false,
            };
            assert_eq!(outcome, !want_err, "{name}");
        }
    }

    fn leaves(n: usize, salt: u8) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&[&(i as u64).to_be_bytes()[..], &[salt]].concat()))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Every leaf's proof verifies against the root of every tree that holds it, and fails
        /// for a changed leaf, a changed proof hash, another index or another root.
        #[test]
        fn every_inclusion_proof_verifies(size in 1usize..300, pick in any::<u64>(), flip in any::<u16>()) {
            let all = leaves(size, 0);
            let index = pick % size as u64;
            let root = root_of(&all);
            let proof = inclusion_proof(&mut &all[..], index, size as u64).unwrap();
            prop_assert!(verify_inclusion(index, size as u64, &all[index as usize], &proof, &root).is_ok());
            let mut changed = all[index as usize];
            changed[usize::from(flip % 32)] ^= 1 << (flip % 8);
            prop_assert!(verify_inclusion(index, size as u64, &changed, &proof, &root).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let i = usize::from(flip) % bad.len();
                bad[i][usize::from(flip % 32)] ^= 1;
                prop_assert!(verify_inclusion(index, size as u64, &all[index as usize], &bad, &root).is_err());
            }
            if size > 1 {
                let other = (index + 1) % size as u64;
                prop_assert!(verify_inclusion(other, size as u64, &all[index as usize], &proof, &root).is_err());
            }
            let forked = {
                let mut f = all.clone();
                let at = usize::from(flip) % size;
                f[at][0] ^= 0x80;
                root_of(&f)
            };
            prop_assert!(verify_inclusion(index, size as u64, &all[index as usize], &proof, &forked).is_err());
        }

        /// Every consistency proof between two sizes verifies, and fails against a forked
        /// tree: one whose first `from` leaves differ anywhere.
        #[test]
        fn every_consistency_proof_verifies(to in 1usize..300, pick in any::<u64>(), flip in any::<u16>()) {
            let all = leaves(to, 0);
            let from = 1 + pick % to as u64;
            let proof = consistency_proof(&mut &all[..], from, to as u64).unwrap();
            let old = root_of(&all[..from as usize]);
            let new = root_of(&all);
            prop_assert!(verify_consistency(from, to as u64, &proof, &old, &new).is_ok());
            // A fork: the same later tree, but the older one had another leaf somewhere.
            let mut other = all[..from as usize].to_vec();
            let at = usize::from(flip) % other.len();
            other[at][usize::from(flip % 32)] ^= 1;
            prop_assert!(verify_consistency(from, to as u64, &proof, &root_of(&other), &new).is_err());
            // The newer tree rewrote an old leaf.
            let mut rewritten = all.clone();
            rewritten[at][0] ^= 1;
            prop_assert!(verify_consistency(from, to as u64, &proof, &old, &root_of(&rewritten)).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let i = usize::from(flip) % bad.len();
                bad[i][0] ^= 1;
                prop_assert!(verify_consistency(from, to as u64, &bad, &old, &new).is_err());
                prop_assert!(verify_consistency(from, to as u64, &proof[1..], &old, &new).is_err());
            }
        }

        #[test]
        fn range_hashes_agree_with_the_tree_in_memory(size in 1usize..600) {
            let all = leaves(size, 3);
            prop_assert_eq!(root(&mut &all[..], size as u64).unwrap(), root_of(&all));
        }
    }
}
