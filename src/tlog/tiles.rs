//! A tree kept as C2SP `tlog-tiles`: the tiles a tree of a given size has, their paths, the tiles
//! an append writes, entry bundles, and the subtree hashes, roots and proofs computed from tiles
//! wherever they come from (the store, or a log read over HTTP).
//!
//! Tile `l`/`n` holds the hashes at height `8·l` of the tree with indices `256·n … 256·n + 255`;
//! a partial tile holds the first `w` of them (C2SP `tlog-tiles`).

use std::collections::HashMap;

use super::{decimal, node_hash, Hash, ProofError};

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels between two tile levels.
pub const TILE_HEIGHT: u32 = 8;
/// Bytes of a full tile.
pub const FULL_TILE_BYTES: usize = 256 * 32;

/// Where a tile or an entry bundle is, as in its path: `tile/<L>/<N>[.p/<W>]` or
/// `tile/entries/<N>[.p/<W>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TilePath {
    /// `None` for an entry bundle.
    pub level: Option<u8>,
    pub index: u64,
    /// The width of a partial tile; `None` for a full one.
    pub partial: Option<u8>,
}

impl TilePath {
    /// The width the path asks for (256 for a full tile).
    pub fn width(&self) -> u64 {
        self.partial.map_or(TILE_WIDTH, u64::from)
    }

    /// Parses what follows `tile/` in a path, strictly as C2SP `tlog-tiles` writes it.
    pub fn parse(path: &str) -> Result<Self, ProofError> {
        let bad = ProofError("not a tile path: tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]");
        let (level, rest) = path.split_once('/').ok_or(bad.clone())?;
        let level = if level == "entries" {
            None
        } else {
            let l = decimal(level).ok_or(bad.clone())?;
            Some(
                u8::try_from(l)
                    .ok()
                    .filter(|l| *l <= 63)
                    .ok_or(bad.clone())?,
            )
        };
        let (n, partial) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w = decimal(w).ok_or(bad.clone())?;
                let w = u8::try_from(w)
                    .ok()
                    .filter(|w| *w >= 1)
                    .ok_or(bad.clone())?;
                (n, Some(w))
            }
            None => (rest, None),
        };
        let parts: Vec<&str> = n.split('/').collect();
        let mut index: u64 = 0;
        for (i, p) in parts.iter().enumerate() {
            let digits = if i + 1 < parts.len() {
                p.strip_prefix('x').ok_or(bad.clone())?
            } else {
                p
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            let d: u64 = digits.parse().map_err(|_| bad.clone())?;
            index = index
                .checked_mul(1000)
                .and_then(|x| x.checked_add(d))
                .ok_or(bad.clone())?;
        }
        // One encoding per index: no leading `x000/`.
        if parts.len() > 1 && parts[0] == "x000" {
            return Err(bad);
        }
        Ok(Self {
            level,
            index,
            partial,
        })
    }

    /// The path after `tile/`.
    pub fn to_path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let mut s = match self.level {
            Some(l) => format!("{l}/"),
            None => "entries/".to_owned(),
        };
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                s.push_str(&format!("x{g:03}/"));
            } else {
                s.push_str(&format!("{g:03}"));
            }
        }
        if let Some(w) = self.partial {
            s.push_str(&format!(".p/{w}"));
        }
        s
    }

    /// Whether a tree of `size` leaves has this tile (or bundle) at this width: a full tile
    /// once it is complete, a partial one of exactly the width it has at `size` or had at a
    /// smaller size.
    pub fn exists_at(&self, size: u64) -> bool {
        let l = u32::from(self.level.unwrap_or(0));
        let hashes = hashes_at_level(size, l);
        let start = self.index.saturating_mul(TILE_WIDTH);
        match self.partial {
            None => hashes >= start.saturating_add(TILE_WIDTH),
            Some(w) => hashes >= start.saturating_add(u64::from(w)) && hashes < start + TILE_WIDTH,
        }
    }
}

/// How many hashes a tree of `size` leaves has at tile level `l` (complete subtrees of
/// `256^l` leaves).
pub fn hashes_at_level(size: u64, l: u32) -> u64 {
    if l >= 8 {
        return 0;
    }
    size >> (TILE_HEIGHT * l)
}

/// An entry bundle: each entry as a big-endian `u16` length and its bytes.
pub fn bundle(entries: &[Vec<u8>]) -> Result<Vec<u8>, ProofError> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for e in entries {
        let n = u16::try_from(e.len()).map_err(|_| ProofError("an entry over 65,535 bytes"))?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// The entries of a bundle.
pub fn unbundle(mut b: &[u8]) -> Result<Vec<Vec<u8>>, ProofError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 2 {
            return Err(ProofError("a bundle cut inside a length"));
        }
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        if b.len() < 2 + n {
            return Err(ProofError("a bundle cut inside an entry"));
        }
        out.push(b[2..2 + n].to_vec());
        b = &b[2 + n..];
    }
    Ok(out)
}

/// The hash of a full tile: the root of the subtree of height 8 over its 256 hashes.
pub fn full_tile_hash(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    level[0]
}

/// The tiles an append of `leaves` (their hashes) to a tree of `size` leaves writes, each whole
/// (the previous hashes of a partial tile first). `read` gives the hashes a tile has at `size`.
pub fn append<E>(
    size: u64,
    leaves: &[Hash],
    mut read: impl FnMut(u8, u64, u64) -> Result<Vec<Hash>, E>,
) -> Result<Vec<(u8, u64, Vec<Hash>)>, E> {
    let mut out = Vec::new();
    let mut level: u8 = 0;
    let mut new: Vec<Hash> = leaves.to_vec();
    while !new.is_empty() {
        let start = hashes_at_level(size, u32::from(level));
        let mut completed = Vec::new();
        let mut at = start;
        let mut rest = &new[..];
        while !rest.is_empty() {
            let tile = at / TILE_WIDTH;
            let offset = at % TILE_WIDTH;
            let mut row = if offset > 0 {
                read(level, tile, offset)?
            } else {
                Vec::new()
            };
            let take =
                usize::try_from((TILE_WIDTH - offset).min(rest.len() as u64)).unwrap_or(rest.len());
            row.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            at += take as u64;
            if row.len() as u64 == TILE_WIDTH {
                completed.push(full_tile_hash(&row));
            }
            out.push((level, tile, row));
        }
        new = completed;
        level += 1;
    }
    Ok(out)
}

/// Reads a tree of a given size from its tiles, caching each tile it reads.
pub struct TreeReader<E, R: FnMut(u8, u64, u64) -> Result<Vec<Hash>, E>> {
    size: u64,
    read: R,
    cache: HashMap<(u8, u64), Vec<Hash>>,
}

impl<E: From<ProofError>, R: FnMut(u8, u64, u64) -> Result<Vec<Hash>, E>> TreeReader<E, R> {
    /// `read(level, tile, width)` gives the first `width` hashes of a tile, as of `size`.
    pub fn new(size: u64, read: R) -> Self {
        Self {
            size,
            read,
            cache: HashMap::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hash at height `8·l`, index `i`.
    fn stored(&mut self, l: u8, i: u64) -> Result<Hash, E> {
        let tile = i / TILE_WIDTH;
        if !self.cache.contains_key(&(l, tile)) {
            let have = hashes_at_level(self.size, u32::from(l));
            let width = (have - tile * TILE_WIDTH).min(TILE_WIDTH);
            let hashes = (self.read)(l, tile, width)?;
            if hashes.len() as u64 != width {
                return Err(ProofError("a tile of the wrong width").into());
            }
            self.cache.insert((l, tile), hashes);
        }
        Ok(self.cache[&(l, tile)][usize::try_from(i % TILE_WIDTH).unwrap_or(0)])
    }

    /// The hash of the complete subtree of height `h` at index `j`.
    fn subtree(&mut self, h: u32, j: u64) -> Result<Hash, E> {
        if h % TILE_HEIGHT == 0 {
            let l = u8::try_from(h / TILE_HEIGHT).map_err(|_| ProofError("too high"))?;
            return self.stored(l, j);
        }
        let left = self.subtree(h - 1, 2 * j)?;
        let right = self.subtree(h - 1, 2 * j + 1)?;
        Ok(node_hash(&left, &right))
    }

    /// MTH(D[lo:hi]), 0 ≤ lo < hi ≤ size.
    pub fn range(&mut self, lo: u64, hi: u64) -> Result<Hash, E> {
        if lo >= hi || hi > self.size {
            return Err(ProofError("a range outside the tree").into());
        }
        let n = hi - lo;
        if n.is_power_of_two() && lo % n == 0 {
            return self.subtree(n.trailing_zeros(), lo >> n.trailing_zeros());
        }
        let k = largest_power_below(n);
        let left = self.range(lo, lo + k)?;
        let right = self.range(lo + k, hi)?;
        Ok(node_hash(&left, &right))
    }

    /// The root of the tree (of no leaves: `SHA-256("")`).
    pub fn root(&mut self) -> Result<Hash, E> {
        if self.size == 0 {
            return Ok(super::tree_hash(&[]));
        }
        self.range(0, self.size)
    }

    /// The leaf hash at `index`.
    pub fn leaf(&mut self, index: u64) -> Result<Hash, E> {
        self.range(index, index + 1)
    }

    /// The inclusion proof of leaf `index` (RFC 6962 §2.1.1 PATH).
    pub fn inclusion(&mut self, index: u64) -> Result<Vec<Hash>, E> {
        if index >= self.size {
            return Err(ProofError("the index is not inside the tree").into());
        }
        let mut out = Vec::new();
        self.path(index, 0, self.size, &mut out)?;
        Ok(out)
    }

    fn path(&mut self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<(), E> {
        if hi - lo == 1 {
            return Ok(());
        }
        let k = largest_power_below(hi - lo);
        if m - lo < k {
            self.path(m, lo, lo + k, out)?;
            out.push(self.range(lo + k, hi)?);
        } else {
            self.path(m, lo + k, hi, out)?;
            out.push(self.range(lo, lo + k)?);
        }
        Ok(())
    }

    /// The consistency proof from the tree of `old` leaves to this one (RFC 6962 §2.1.2 PROOF);
    /// empty for `old` 0 or the same size.
    pub fn consistency(&mut self, old: u64) -> Result<Vec<Hash>, E> {
        if old > self.size {
            return Err(ProofError("the first tree is larger than the second").into());
        }
        let mut out = Vec::new();
        if old > 0 && old < self.size {
            self.subproof(old, 0, self.size, true, &mut out)?;
        }
        Ok(out)
    }

    fn subproof(
        &mut self,
        m: u64,
        lo: u64,
        hi: u64,
        whole: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), E> {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.range(lo, hi)?);
            }
            return Ok(());
        }
        let k = largest_power_below(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out)?;
            out.push(self.range(lo + k, hi)?);
        } else {
            self.subproof(m - k, lo + k, hi, false, out)?;
            out.push(self.range(lo, lo + k)?);
        }
        Ok(())
    }
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn largest_power_below(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Splits the bytes of a tile into its hashes.
pub fn hashes_of(bytes: &[u8]) -> Result<Vec<Hash>, ProofError> {
    if bytes.len() % 32 != 0 || bytes.len() > FULL_TILE_BYTES {
        return Err(ProofError("a tile that is not whole hashes"));
    }
    Ok(bytes
        .chunks(32)
        .map(|c| c.try_into().unwrap_or([0; 32]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::{leaf_hash, tree_hash, verify_consistency, verify_inclusion};
    use super::*;

    #[test]
    fn paths_are_written_and_read_as_the_spec_shows() {
        let p = TilePath {
            level: Some(0),
            index: 1_234_067,
            partial: None,
        };
        assert_eq!(p.to_path(), "0/x001/x234/067");
        assert_eq!(TilePath::parse("0/x001/x234/067"), Ok(p));
        let e = TilePath::parse("entries/x001/x234/067.p/12").unwrap();
        assert_eq!((e.level, e.index, e.partial), (None, 1_234_067, Some(12)));
        assert_eq!(e.to_path(), "entries/x001/x234/067.p/12");
        assert_eq!(TilePath::parse("2/000").unwrap().index, 0);
        for bad in [
            "0/1",
            "0/0001",
            "00/000",
            "64/000",
            "0/x000/001",
            "0/001/002",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/01",
            "0/000.p/",
            "0/x001",
            "entries",
            "0/-01",
            "a/000",
            "0/x1000/000",
            "0/00a",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn which_tiles_a_tree_has() {
        // The spec's example: 70,000 leaves.
        let t = |l, n, w| TilePath {
            level: Some(l),
            index: n,
            partial: w,
        };
        assert!(t(0, 272, None).exists_at(70_000));
        assert!(!t(0, 273, None).exists_at(70_000));
        assert!(t(0, 273, Some(112)).exists_at(70_000));
        assert!(t(0, 273, Some(100)).exists_at(70_000));
        assert!(!t(0, 273, Some(113)).exists_at(70_000));
        assert!(t(1, 0, None).exists_at(70_000));
        assert!(t(1, 1, Some(17)).exists_at(70_000));
        assert!(t(2, 0, Some(1)).exists_at(70_000));
        assert!(!t(2, 0, Some(2)).exists_at(70_000));
        assert!(!t(3, 0, Some(1)).exists_at(70_000));
    }

    /// Appends in uneven batches, then checks roots, proofs and leaves against the plain tree.
    #[test]
    fn tiles_give_the_roots_and_proofs_of_the_tree() {
        let leaves: Vec<Vec<u8>> = (0..70_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let mut tiles: HashMap<(u8, u64), Vec<Hash>> = HashMap::new();
        let mut size = 0u64;
        for batch in [1usize, 254, 1, 1, 300, 65_000, 4_443] {
            let new = &hashes[size as usize..size as usize + batch];
            let written = append::<ProofError>(size, new, |l, n, w| {
                Ok(tiles[&(l, n)][..w as usize].to_vec())
            })
            .unwrap();
            for (l, n, row) in written {
                tiles.insert((l, n), row);
            }
            size += batch as u64;
        }
        assert_eq!(size, 70_000);
        assert_eq!(tiles[&(1, 1)].len(), 17);
        assert_eq!(tiles[&(2, 0)].len(), 1);
        for n in [1u64, 2, 3, 255, 256, 257, 1000, 65_536, 65_537, 70_000] {
            let refs: Vec<&[u8]> = leaves[..n as usize].iter().map(Vec::as_slice).collect();
            let want = tree_hash(&refs);
            let mut r = TreeReader::new(n, |l, t, w| {
                Ok::<_, ProofError>(tiles[&(l, t)][..w as usize].to_vec())
            });
            assert_eq!(r.root().unwrap(), want, "n = {n}");
            for i in [0, n / 2, n - 1] {
                let p: Vec<Vec<u8>> = r.inclusion(i).unwrap().iter().map(|h| h.to_vec()).collect();
                verify_inclusion(i, n, &hashes[i as usize], &p, &want).unwrap();
                assert_eq!(r.leaf(i).unwrap(), hashes[i as usize]);
            }
            for old in [1u64, n / 3, n - 1] {
                if old == 0 || old >= n {
                    continue;
                }
                let refs: Vec<&[u8]> = leaves[..old as usize].iter().map(Vec::as_slice).collect();
                let old_root = tree_hash(&refs);
                let p: Vec<Vec<u8>> = r
                    .consistency(old)
                    .unwrap()
                    .iter()
                    .map(|h| h.to_vec())
                    .collect();
                verify_consistency(old, n, &old_root, &want, &p).unwrap();
            }
        }
    }

    /// SPEC §14's bound, on a tree of a million leaves: an inclusion proof reads at most five
    /// tiles (the leaf's at levels 0 and 1, and the right edge's partial tiles at levels 0–2).
    #[test]
    fn a_proof_in_a_million_leaves_reads_at_most_five_tiles() {
        let n = 1_000_000u64;
        let hashes: Vec<Hash> = (0..n)
            .map(|i| {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&i.to_be_bytes());
                h
            })
            .collect();
        let mut tiles: HashMap<(u8, u64), Vec<Hash>> = HashMap::new();
        for (l, t, row) in append::<ProofError>(0, &hashes, |_, _, _| unreachable!()).unwrap() {
            tiles.insert((l, t), row);
        }
        let mut most = 0;
        for i in [
            0, 1, 255, 256, 65_535, 65_536, 500_000, 999_679, 999_680, 999_999,
        ] {
            // The root comes with the checkpoint; the proof is what the tiles are read for.
            let root = TreeReader::new(n, |l, t, w| {
                Ok::<_, ProofError>(tiles[&(l, t)][..w as usize].to_vec())
            })
            .root()
            .unwrap();
            let mut read = std::collections::HashSet::new();
            let mut r = TreeReader::new(n, |l, t, w| {
                read.insert((l, t, w));
                Ok::<_, ProofError>(tiles[&(l, t)][..w as usize].to_vec())
            });
            let p: Vec<Vec<u8>> = r.inclusion(i).unwrap().iter().map(|h| h.to_vec()).collect();
            drop(r);
            super::super::verify_inclusion(i, n, &hashes[i as usize], &p, &root).unwrap();
            most = most.max(read.len());
            assert!(read.len() <= 5, "leaf {i}: {} tiles: {read:?}", read.len());
        }
        assert_eq!(most, 5);
    }

    #[test]
    fn bundles_round_trip_and_refuse_cut_ones() {
        let e = vec![b"a".to_vec(), Vec::new(), vec![7; 300]];
        let b = bundle(&e).unwrap();
        assert_eq!(&b[..3], &[0, 1, b'a']);
        assert_eq!(unbundle(&b).unwrap(), e);
        assert!(unbundle(&b[..b.len() - 1]).is_err());
        assert!(unbundle(&[0]).is_err());
        assert!(bundle(&[vec![0; 70_000]]).is_err());
    }
}
