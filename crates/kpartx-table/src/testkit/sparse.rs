//! A sparse disk image kept in memory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::Rng;

/// A disk image of `size` bytes of which only the written 512-byte sectors are stored.
#[derive(Debug, Clone)]
pub struct Sparse {
    /// Size in bytes (need not be a multiple of 512).
    pub size: u64,
    /// Written sectors by number, 512 bytes each.
    pub sectors: BTreeMap<u64, Vec<u8>>,
}

impl Sparse {
    /// An all-zero image of `size` bytes.
    pub fn new(size: u64) -> Sparse {
        Sparse {
            size,
            sectors: BTreeMap::new(),
        }
    }

    /// The image file at `path` (its non-zero sectors).
    pub fn load(path: &Path) -> Sparse {
        let data = fs::read(path).expect("read image");
        let mut img = Sparse::new(data.len() as u64);
        for (n, chunk) in data.chunks(512).enumerate() {
            if chunk.iter().any(|&b| b != 0) {
                let mut s = chunk.to_vec();
                s.resize(512, 0);
                img.sectors.insert(n as u64, s);
            }
        }
        img
    }

    /// Writes `bytes` at `offset`, dropping whatever falls past the end.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let Some(pos) = offset.checked_add(i as u64) else {
                return;
            };
            if pos >= self.size {
                return;
            }
            self.sectors
                .entry(pos / 512)
                .or_insert_with(|| vec![0; 512])[(pos % 512) as usize] = b;
        }
    }

    /// Reads `len` bytes at `offset`; zeroes where nothing was written or past the end.
    pub fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let end = offset.saturating_add(len as u64);
        for (&n, data) in self.sectors.range(offset / 512..end.div_ceil(512)) {
            for (j, &b) in data.iter().enumerate() {
                let pos = n * 512 + j as u64;
                if pos >= offset && pos < end && pos < self.size {
                    out[(pos - offset) as usize] = b;
                }
            }
        }
        out
    }

    /// Writes the image to a (sparse) file at `path`.
    pub fn save(&self, path: &Path) {
        let f = File::create(path).expect("create image");
        f.set_len(self.size).expect("size image");
        for (&n, data) in &self.sectors {
            let len = (self.size - n * 512).min(512) as usize;
            f.write_all_at(&data[..len], n * 512).expect("write image");
        }
    }

    /// The number of the last whole 512-byte sector.
    pub fn last_lba(&self) -> u64 {
        (self.size / 512).saturating_sub(1)
    }

    /// Flips `count` random bits in random written sectors among the first `within` sectors
    /// (or anywhere among them when none is written there); returns what changed.
    pub fn flip(&mut self, rng: &mut Rng, count: u64, within: u64) -> Vec<String> {
        let mut notes = Vec::new();
        let written: Vec<u64> = self
            .sectors
            .keys()
            .copied()
            .filter(|&n| n < within)
            .collect();
        for _ in 0..count {
            let sector = if written.is_empty() {
                rng.below(within.min(self.size / 512).max(1))
            } else {
                rng.pick(&written)
            };
            let pos = sector * 512 + rng.below(512);
            let old = self.read(pos, 1)[0];
            let new = old ^ (1 << rng.below(8));
            self.write(pos, &[new]);
            notes.push(format!("byte {pos}: {old:#04x}->{new:#04x}"));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::Sparse;

    #[test]
    fn reads_back_writes_and_drops_what_is_past_the_end() {
        let mut img = Sparse::new(1000);
        img.write(510, &[1, 2, 3, 4]);
        img.write(998, &[5, 6, 7]);
        assert_eq!(img.read(509, 6), [0, 1, 2, 3, 4, 0]);
        assert_eq!(img.read(997, 5), [0, 5, 6, 0, 0]);
        assert_eq!(img.last_lba(), 0);
    }
}
