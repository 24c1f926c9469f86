//! The log's tree cut into C2SP tlog-tiles: 256 hashes per tile, level 0 holding leaf hashes and
//! level L+1 the roots of full tiles of level L. Pure: the right edge of the tree (the partial
//! tile of every level) as the writer keeps it, the full tiles an append completes, and tile
//! paths (`tile/<L>/<N>[.p/<W>]`).

use super::merkle::{self, Hash};

/// Hashes in a full tile.
pub const WIDTH: usize = 256;
/// Tree levels a tile spans.
pub const HEIGHT: u32 = 8;
/// Tile levels (C2SP: 0 to 63).
pub const MAX_LEVEL: u8 = 63;

/// A tile that has just become full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullTile {
    pub level: u8,
    pub index: u64,
    pub hashes: Vec<Hash>,
    /// The root of the tile's 256 hashes: an entry of the tile above.
    pub root: Hash,
}

impl FullTile {
    /// The tile's hashes as served: 8,192 bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.hashes.concat()
    }
}

/// The right edge of the tree: for each level, the entries of its partial tile (0 to 255).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Edge {
    size: u64,
    levels: Vec<Vec<Hash>>,
}

/// How many entries the partial tile of `level` has in a tree of `size` leaves.
pub fn partial_width(size: u64, level: u8) -> usize {
    let shift = u32::from(level) * HEIGHT;
    if shift >= 64 {
        return 0;
    }
    ((size >> shift) % WIDTH as u64) as usize
}

/// The levels that have a tile (full or partial) in a tree of `size` leaves.
pub fn levels(size: u64) -> u8 {
    let mut level = 0u8;
    while u32::from(level) * HEIGHT < 64 && size >> (u32::from(level) * HEIGHT) > 0 {
        level += 1;
    }
    level
}

impl Edge {
    /// The edge of a tree of `size` leaves, from the partial entries of each level (lowest
    /// first); each must have `partial_width(size, level)` entries.
    pub fn from_parts(size: u64, levels: Vec<Vec<Hash>>) -> Result<Self, String> {
        for (level, entries) in levels.iter().enumerate() {
            let want = partial_width(size, level as u8);
            if entries.len() != want {
                return Err(format!(
                    "level {level} of a tree of {size} leaves has {want} partial entries, not {}",
                    entries.len()
                ));
            }
        }
        if levels.len() < usize::from(self::levels(size)) {
            return Err(format!("a tree of {size} leaves needs more levels"));
        }
        Ok(Self { size, levels })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The entries of the partial tile of `level`.
    pub fn partial(&self, level: u8) -> &[Hash] {
        self.levels.get(usize::from(level)).map_or(&[], |v| v)
    }

    /// Appends a leaf; every tile it completes is added to `full`.
    pub fn push(&mut self, leaf: Hash, full: &mut Vec<FullTile>) {
        self.size += 1;
        let mut entry = leaf;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::with_capacity(WIDTH));
            }
            self.levels[level].push(entry);
            if self.levels[level].len() < WIDTH {
                return;
            }
            let hashes = std::mem::replace(&mut self.levels[level], Vec::with_capacity(WIDTH));
            let root = merkle::root_of(&hashes);
            let index = (self.size >> (HEIGHT * (level as u32 + 1))) - 1;
            full.push(FullTile {
                level: level as u8,
                index,
                hashes,
                root,
            });
            entry = root;
            level += 1;
        }
    }

    /// The perfect subtrees the tree is made of, left to right.
    pub fn perfect_subtrees(&self) -> Vec<Hash> {
        let mut out = Vec::new();
        for entries in self.levels.iter().rev() {
            let mut offset = 0;
            for bit in (0..HEIGHT).rev() {
                let width = 1usize << bit;
                if entries.len() & width != 0 {
                    out.push(merkle::root_of(&entries[offset..offset + width]));
                    offset += width;
                }
            }
        }
        out
    }

    /// The root of the tree.
    pub fn root(&self) -> Hash {
        merkle::fold_right(&self.perfect_subtrees())
    }
}

/// A tile as a URL names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    pub level: u8,
    pub index: u64,
    /// The width of a partial tile; None for a full one.
    pub width: Option<u16>,
}

impl TilePath {
    /// Reads `<L>/<N>[.p/<W>]`, `<N>` in 3-digit groups, all but the last prefixed `x`.
    pub fn parse(path: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{path:?} is not a tile path: {why}");
        let (level, rest) = path
            .split_once('/')
            .ok_or_else(|| bad("expected <level>/<index>"))?;
        let level = canonical_number(level)
            .filter(|l| *l <= u64::from(MAX_LEVEL))
            .ok_or_else(|| bad("the level is a number from 0 to 63 without leading zeros"))?
            as u8;
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let w = canonical_number(width)
                    .filter(|w| (1..WIDTH as u64).contains(w))
                    .ok_or_else(|| {
                        bad("a partial width is a number from 1 to 255 without leading zeros")
                    })?;
                (index, Some(w as u16))
            }
            None => (rest, None),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        let mut index: u64 = 0;
        for (i, group) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() {
                group
                    .strip_prefix('x')
                    .ok_or_else(|| bad("every index group but the last starts with x"))?
            } else {
                group
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("the index is in groups of three digits"));
            }
            let value: u64 = digits
                .parse()
                .map_err(|_| bad("the index is in groups of three digits"))?;
            index = index
                .checked_mul(1000)
                .and_then(|i| i.checked_add(value))
                .ok_or_else(|| bad("the index is too large"))?;
        }
        let path_again = Self {
            level,
            index,
            width,
        }
        .to_path();
        if path_again != path {
            return Err(bad("the index has leading zero groups"));
        }
        Ok(Self {
            level,
            index,
            width,
        })
    }

    /// The path as C2SP writes it, e.g. `0/x001/x234/067.p/8`.
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
        let mut out = format!("{}/", self.level);
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                out.push_str(&format!("x{g:03}/"));
            } else {
                out.push_str(&format!("{g:03}"));
            }
        }
        if let Some(w) = self.width {
            out.push_str(&format!(".p/{w}"));
        }
        out
    }

    /// How many leaves the tree must hold for this tile to exist.
    pub fn needs_size(&self) -> Option<u128> {
        let unit = 1u128.checked_shl(u32::from(self.level) * HEIGHT)?;
        let entries =
            u128::from(self.index) * WIDTH as u128 + u128::from(self.width.unwrap_or(WIDTH as u16));
        entries.checked_mul(unit)
    }
}

fn canonical_number(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn tile_paths_as_c2sp_writes_them() {
        // The examples of c2sp.org/tlog-tiles.
        let t = TilePath {
            level: 0,
            index: 1_234_067,
            width: None,
        };
        assert_eq!(t.to_path(), "0/x001/x234/067");
        assert_eq!(TilePath::parse("0/x001/x234/067").unwrap(), t);
        let p = TilePath::parse("1/017.p/3").unwrap();
        assert_eq!(
            p,
            TilePath {
                level: 1,
                index: 17,
                width: Some(3)
            }
        );
        for bad in [
            "0/1",
            "0/0001",
            "01/000",
            "64/000",
            "0/x000/001",
            "0/001/002",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/08",
            "0/x1/000",
            "0/",
            "a/000",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tree_of_70000_leaves_has_the_tiles_c2sp_lists() {
        // c2sp.org/tlog-tiles: 273 full level-0 tiles, a partial one of 112, one full level-1
        // tile, a partial one of 17, and a partial level-2 tile of 1.
        let mut edge = Edge::default();
        let mut full = Vec::new();
        for leaf in leaves(70_000) {
            edge.push(leaf, &mut full);
        }
        assert_eq!(full.iter().filter(|t| t.level == 0).count(), 273);
        assert_eq!(full.iter().filter(|t| t.level == 1).count(), 1);
        assert_eq!(edge.partial(0).len(), 112);
        assert_eq!(edge.partial(1).len(), 17);
        assert_eq!(edge.partial(2).len(), 1);
        assert_eq!(levels(70_000), 3);
        assert_eq!(levels(256), 2);
        assert_eq!(partial_width(256, 1), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// The edge's root is the tree's root at every size, its full tiles hold the tree's
        /// hashes, and an edge rebuilt from its parts is the same edge.
        #[test]
        fn the_edge_follows_the_tree(size in 0usize..1500) {
            let all = leaves(size);
            let mut edge = Edge::default();
            let mut full = Vec::new();
            for (i, leaf) in all.iter().enumerate() {
                edge.push(*leaf, &mut full);
                if i % 97 == 0 {
                    prop_assert_eq!(edge.root(), merkle::root_of(&all[..=i]));
                }
            }
            prop_assert_eq!(edge.root(), merkle::root_of(&all));
            for tile in &full {
                let unit = 1usize << (HEIGHT * u32::from(tile.level));
                let start = tile.index as usize * WIDTH * unit;
                prop_assert_eq!(tile.root, merkle::root_of(&all[start..start + WIDTH * unit]));
            }
            let parts: Vec<Vec<Hash>> = (0..levels(size as u64)).map(|l| edge.partial(l).to_vec()).collect();
            let rebuilt = Edge::from_parts(size as u64, parts).unwrap();
            prop_assert_eq!(rebuilt.root(), edge.root());
        }
    }
}
