//! DOS/MBR reader, with extended and logical partitions.
//!
//! Reproduces the reference kpartx reader: the four primaries always take numbers 1–4 (empty ones
//! as size-0 slices), every extended primary is mapped as a tiny one-sector map and its EBR chain
//! is followed, appending logical partitions from number 5 on. A table with any GPT-protective
//! (0xEE) entry is not DOS.
//!
//! Start and count fields are in logical sectors and are scaled to 512-byte units. Block numbers
//! are 64-bit (the reference's 32-bit wrap above 2 TiB is not reproduced).

use super::source::bytes::{byte, le32};
use super::{BlockSource, Diagnostics, MAX_SLICES, ProbeContext, Slice};

/// Offset of the partition entries in an MBR or EBR.
const TABLE_OFFSET: usize = 0x1BE;
/// Size of one partition entry.
const ENTRY_LEN: usize = 16;
/// Partition type of a GPT-protective entry.
const PROTECTIVE_TYPE: u8 = 0xEE;
/// The chain stops after this many consecutive EBRs that produced no slice.
const MAX_BARREN_EBRS: u32 = 100;

/// One 16-byte partition entry (CHS fields ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    kind: u8,
    start: u32,
    count: u32,
}

impl Entry {
    /// Entry `slot` of the table in `block`.
    fn at(block: &[u8], slot: usize) -> Entry {
        let at = TABLE_OFFSET + ENTRY_LEN * slot;
        Entry {
            kind: byte(block, at + 4),
            start: le32(block, at + 8),
            count: le32(block, at + 12),
        }
    }

    fn is_extended(self) -> bool {
        matches!(self.kind, 0x05 | 0x0F | 0x85)
    }

    /// The slice for this entry, `offset` and the fields scaled to 512-byte units.
    fn slice(self, offset: u64, mul: u64, container: Option<usize>) -> Slice {
        let size = mul.saturating_mul(u64::from(self.count));
        Slice {
            start: offset.saturating_add(mul.saturating_mul(u64::from(self.start))),
            size,
            container,
            part_type: (size != 0).then(|| type_text(self.kind)),
            ..Slice::default()
        }
    }
}

/// `0x83`-style text of a partition type byte.
fn type_text(kind: u8) -> String {
    format!("0x{kind:02x}")
}

/// The block carries the 55AA boot signature.
fn signed(block: &[u8]) -> bool {
    byte(block, 510) == 0x55 && byte(block, 511) == 0xAA
}

/// Reads a DOS table; an empty result means "not DOS" (no signature, or GPT-protective).
///
/// A signed table always yields at least the four primary slots, so it stops the probe even when
/// every entry is empty.
pub fn read(src: &dyn BlockSource, _ctx: &ProbeContext, diag: &mut Diagnostics) -> Vec<Slice> {
    let Some(mbr) = src.block(0).filter(|b| signed(b)) else {
        return Vec::new();
    };
    let primaries: Vec<Entry> = (0..4).map(|slot| Entry::at(&mbr, slot)).collect();
    if primaries.iter().any(|e| e.kind == PROTECTIVE_TYPE) {
        return Vec::new();
    }
    let mul = src.sectors_per_block();
    let mut slices: Vec<Slice> = primaries.iter().map(|e| primary_slice(*e, mul)).collect();
    for (index, entry) in primaries.iter().enumerate() {
        if entry.is_extended() {
            let chain = Chain {
                base: mul.saturating_mul(u64::from(entry.start)),
                mul,
                container: index,
            };
            chain.follow(src, &mut slices, diag);
        }
    }
    slices
}

/// A primary entry's slice; an extended partition is mapped as one hardware sector (2 blocks
/// on 512-byte disks), like the kernel's small map of it.
fn primary_slice(entry: Entry, mul: u64) -> Slice {
    let mut slice = entry.slice(0, mul, None);
    if entry.is_extended() {
        slice.size = if mul == 1 { 2 } else { mul };
        slice.part_type = Some(type_text(entry.kind));
    }
    slice
}

/// The EBR chain of one extended primary.
struct Chain {
    /// First 512-byte block of the extended partition; links are relative to it.
    base: u64,
    /// 512-byte blocks per logical sector.
    mul: u64,
    /// 0-based index of the extended primary.
    container: usize,
}

/// What one EBR told the chain walker.
enum Step {
    /// Go on with the EBR at this 512-byte block; `fruitful` if this EBR produced a slice.
    Next { block: u64, fruitful: bool },
    /// The chain ends here.
    Stop,
}

impl Chain {
    /// Appends the chain's logical partitions to `slices`, never beyond [`MAX_SLICES`].
    ///
    /// Terminates on every input: each EBR either appends a slice (at most [`MAX_SLICES`] in
    /// all) or counts towards the limit of consecutive barren EBRs.
    fn follow(&self, src: &dyn BlockSource, slices: &mut Vec<Slice>, diag: &mut Diagnostics) {
        let mut cur = self.base;
        let mut barren = 0;
        loop {
            barren += 1;
            if barren > MAX_BARREN_EBRS {
                return;
            }
            let Some(ebr) = src.block(cur).filter(|b| signed(b)) else {
                return;
            };
            match self.visit(&ebr, cur, slices, diag) {
                Step::Next { block, fruitful } => {
                    if fruitful {
                        barren = 0;
                    }
                    cur = block;
                }
                Step::Stop => return,
            }
        }
    }

    /// Handles the first two entries of the EBR at block `cur`.
    fn visit(&self, ebr: &[u8], cur: u64, slices: &mut Vec<Slice>, diag: &mut Diagnostics) -> Step {
        let mut link = None;
        let mut fruitful = false;
        for entry in [Entry::at(ebr, 0), Entry::at(ebr, 1)] {
            if entry.is_extended() {
                if link.is_none() && entry.start != 0 && entry.count != 0 {
                    let offset = self.mul.saturating_mul(u64::from(entry.start));
                    link = Some(self.base.saturating_add(offset));
                }
                continue;
            }
            if slices.len() >= MAX_SLICES {
                diag.warn("dos_extd_partition: too many slices");
                return Step::Stop;
            }
            slices.push(entry.slice(cur, self.mul, Some(self.container)));
            fruitful = true;
        }
        match link {
            Some(block) => Step::Next { block, fruitful },
            None => Step::Stop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;
    use crate::testkit::{Rng, pos};
    use std::cell::Cell;

    /// A disk image with helpers to write MBR/EBR entries into 512-byte blocks.
    struct Disk {
        data: Vec<u8>,
        ss: u32,
    }

    impl Disk {
        fn new(blocks: usize) -> Disk {
            Disk::with_sector_size(blocks, 512)
        }

        fn with_sector_size(blocks: usize, ss: u32) -> Disk {
            Disk {
                data: vec![0; blocks * 512],
                ss,
            }
        }

        /// Writes entry `slot` of the table in 512-byte block `block`, and signs the block.
        fn entry(
            &mut self,
            block: u64,
            slot: usize,
            kind: u8,
            start: u32,
            count: u32,
        ) -> &mut Self {
            let at = block as usize * 512 + 0x1BE + 16 * slot;
            self.data[at + 4] = kind;
            self.data[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
            self.data[at + 12..at + 16].copy_from_slice(&count.to_le_bytes());
            self.sign(block)
        }

        fn sign(&mut self, block: u64) -> &mut Self {
            let at = block as usize * 512;
            self.data[at + 510] = 0x55;
            self.data[at + 511] = 0xAA;
            self
        }

        fn run(&self) -> (Vec<Slice>, Vec<String>) {
            let src = MemSource::with_sector_size(self.data.clone(), self.ss);
            run_on(&src)
        }
    }

    fn run_on(src: &dyn BlockSource) -> (Vec<Slice>, Vec<String>) {
        let mut diag = Diagnostics::default();
        let slices = read(src, &ProbeContext::default(), &mut diag);
        (slices, diag.lines().to_vec())
    }

    fn containers(slices: &[Slice]) -> Vec<Option<usize>> {
        slices.iter().map(|s| s.container).collect()
    }

    /// Counts the reads that reach the wrapped source.
    struct Counting<'a> {
        inner: &'a MemSource,
        reads: Cell<usize>,
    }

    impl BlockSource for Counting<'_> {
        fn sector_size(&self) -> u32 {
            self.inner.sector_size()
        }
        fn size_bytes(&self) -> u64 {
            self.inner.size_bytes()
        }
        fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
            self.reads.set(self.reads.get() + 1);
            self.inner.read_at(offset, len)
        }
    }

    #[test]
    fn primaries_only_always_give_four_slots() {
        let mut disk = Disk::new(8);
        disk.entry(0, 0, 0x83, 2048, 1000)
            .entry(0, 2, 0x82, 4096, 500);
        let (slices, warnings) = disk.run();
        assert!(warnings.is_empty());
        assert_eq!(pos(&slices), [(2048, 1000), (0, 0), (4096, 500), (0, 0)]);
        assert_eq!(slices[0].part_type.as_deref(), Some("0x83"));
        assert_eq!(slices[1].part_type, None);
        assert_eq!(slices[2].part_type.as_deref(), Some("0x82"));
        assert_eq!(containers(&slices), [None; 4]);
        assert!(slices.iter().all(|s| s.label.is_none() && s.uuid.is_none()));
    }

    #[test]
    fn empty_signed_table_still_returns_four() {
        let mut disk = Disk::new(1);
        disk.sign(0);
        let (slices, _) = disk.run();
        assert_eq!(slices, vec![Slice::default(); 4]);
    }

    #[test]
    fn type_byte_without_count_is_an_empty_slot() {
        let mut disk = Disk::new(1);
        disk.entry(0, 1, 0x07, 2048, 0);
        let (slices, _) = disk.run();
        assert_eq!(slices[1], Slice::new(2048, 0));
    }

    #[test]
    fn no_signature_is_not_dos() {
        let mut disk = Disk::new(1);
        disk.entry(0, 0, 0x83, 2048, 1000);
        disk.data[511] = 0;
        assert!(disk.run().0.is_empty());
        assert!(Disk::new(1).run().0.is_empty());
    }

    #[test]
    fn tiny_devices_are_not_dos() {
        assert!(run_on(&MemSource::new(Vec::new())).0.is_empty());
        assert!(run_on(&MemSource::new(vec![0x55; 511])).0.is_empty());
    }

    #[test]
    fn protective_entry_anywhere_is_not_dos() {
        for slot in 0..4 {
            let mut disk = Disk::new(1);
            disk.entry(0, 0, 0x83, 2048, 1000);
            disk.entry(0, slot, 0xEE, 1, 100);
            let (slices, warnings) = disk.run();
            assert!(slices.is_empty());
            assert!(warnings.is_empty());
        }
    }

    /// Primary 1 Linux, primary 2 extended at 2048 with two logicals and a trailing empty entry.
    fn extended_disk() -> Disk {
        let mut disk = Disk::new(8192);
        disk.entry(0, 0, 0x83, 63, 1000);
        disk.entry(0, 1, 0x05, 2048, 6000);
        // EBR 1 at the start of the extended partition: logical + link to 2048+2000.
        disk.entry(2048, 0, 0x83, 63, 1000);
        disk.entry(2048, 1, 0x05, 2000, 1100);
        // EBR 2: logical, second entry empty (still consumes number 7).
        disk.entry(4048, 0, 0x83, 63, 1000);
        disk
    }

    #[test]
    fn extended_with_logical_chain() {
        let (slices, warnings) = extended_disk().run();
        assert!(warnings.is_empty());
        assert_eq!(
            pos(&slices),
            [
                (63, 1000),
                (2048, 2),
                (0, 0),
                (0, 0),
                (2111, 1000),
                (4111, 1000),
                (4048, 0),
            ]
        );
        assert_eq!(
            containers(&slices),
            [None, None, None, None, Some(1), Some(1), Some(1)]
        );
        assert_eq!(slices[1].part_type.as_deref(), Some("0x05"));
        assert_eq!(slices[4].part_type.as_deref(), Some("0x83"));
        assert_eq!(slices[6].part_type, None);
    }

    #[test]
    fn all_extended_types_are_followed() {
        for kind in [0x05, 0x0F, 0x85] {
            let mut disk = Disk::new(64);
            disk.entry(0, 3, kind, 10, 50);
            disk.entry(10, 0, 0x83, 1, 5);
            disk.entry(10, 1, kind, 20, 20);
            disk.entry(30, 0, 0x83, 1, 5);
            let (slices, _) = disk.run();
            assert_eq!(slices[3].size, 2);
            assert_eq!(slices[3].part_type, Some(format!("0x{kind:02x}")));
            assert_eq!(pos(&slices[4..]), [(11, 5), (31, 5), (30, 0)]);
            assert_eq!(containers(&slices[4..]), [Some(3); 3]);
        }
    }

    #[test]
    fn extended_map_is_two_blocks_even_without_count() {
        let mut disk = Disk::new(16);
        disk.entry(0, 0, 0x0F, 10, 0);
        let (slices, _) = disk.run();
        assert_eq!(slices[0], {
            let mut s = Slice::new(10, 2);
            s.part_type = Some("0x0f".into());
            s
        });
        assert_eq!(slices.len(), 4);
    }

    #[test]
    fn four_k_sectors_scale_by_eight() {
        // 4096-byte sectors: fields are in 4K units, blocks are 512-byte units.
        let mut disk = Disk::with_sector_size(8 * 4096, 4096);
        disk.entry(0, 0, 0x83, 256, 2304);
        disk.entry(0, 1, 0x05, 2560, 2000);
        // EBR at 4K sector 2560 = block 20480.
        disk.entry(20480, 0, 0x83, 256, 512);
        disk.entry(20480, 1, 0x05, 1000, 900);
        // Next EBR at 4K sector 2560 + 1000 = block 28480.
        disk.entry(28480, 0, 0x83, 256, 512);
        let (slices, _) = disk.run();
        assert_eq!(
            pos(&slices),
            [
                (2048, 18432),
                (20480, 8),
                (0, 0),
                (0, 0),
                (20480 + 2048, 4096),
                (28480 + 2048, 4096),
                (28480, 0),
            ]
        );
    }

    #[test]
    fn links_are_relative_to_the_first_extended_partition() {
        let mut disk = Disk::new(512);
        disk.entry(0, 0, 0x05, 100, 400);
        disk.entry(100, 0, 0x83, 1, 9);
        disk.entry(100, 1, 0x05, 50, 50); // -> 150
        disk.entry(150, 0, 0x83, 1, 9);
        disk.entry(150, 1, 0x05, 100, 50); // -> 200, not 250
        disk.entry(200, 0, 0x83, 1, 9);
        disk.entry(250, 0, 0x83, 7, 7); // never read
        let (slices, _) = disk.run();
        assert_eq!(pos(&slices[4..]), [(101, 9), (151, 9), (201, 9), (200, 0)]);
    }

    #[test]
    fn links_with_zero_start_or_count_are_not_followed() {
        for (start, count) in [(0, 50), (50, 0)] {
            let mut disk = Disk::new(512);
            disk.entry(0, 0, 0x05, 100, 400);
            disk.entry(100, 0, 0x83, 1, 9);
            disk.entry(100, 1, 0x05, start, count);
            disk.entry(150, 0, 0x83, 1, 9);
            let (slices, _) = disk.run();
            assert_eq!(pos(&slices[4..]), [(101, 9)]);
        }
    }

    #[test]
    fn only_the_first_link_counts() {
        let mut disk = Disk::new(512);
        disk.entry(0, 0, 0x05, 100, 400);
        disk.entry(100, 0, 0x05, 50, 10);
        disk.entry(100, 1, 0x05, 80, 10);
        disk.entry(150, 0, 0x83, 1, 9);
        disk.entry(180, 0, 0x83, 2, 9);
        let (slices, _) = disk.run();
        assert_eq!(pos(&slices[4..]), [(151, 9), (150, 0)]);
    }

    #[test]
    fn entries_beyond_the_first_two_are_ignored() {
        let mut disk = Disk::new(512);
        disk.entry(0, 0, 0x05, 100, 400);
        disk.entry(100, 0, 0x83, 1, 9);
        disk.entry(100, 2, 0x83, 20, 9);
        disk.entry(100, 3, 0x05, 50, 9);
        disk.entry(150, 0, 0x83, 1, 9);
        let (slices, _) = disk.run();
        assert_eq!(pos(&slices[4..]), [(101, 9), (100, 0)]);
    }

    #[test]
    fn chain_stops_at_unsigned_or_missing_ebr() {
        let mut disk = extended_disk();
        disk.data[4048 * 512 + 510] = 0;
        let (slices, _) = disk.run();
        assert_eq!(pos(&slices[4..]), [(2111, 1000)]);

        let mut disk = extended_disk();
        disk.entry(2048, 1, 0x05, u32::MAX, 1);
        let (slices, warnings) = disk.run();
        assert_eq!(pos(&slices[4..]), [(2111, 1000)]);
        assert!(warnings.is_empty());

        let mut disk = Disk::new(1);
        disk.entry(0, 0, 0x05, u32::MAX, u32::MAX);
        assert_eq!(disk.run().0.len(), 4);
    }

    #[test]
    fn unsigned_first_ebr_gives_only_primaries() {
        let mut disk = Disk::new(64);
        disk.entry(0, 0, 0x05, 10, 20);
        let (slices, _) = disk.run();
        assert_eq!(pos(&slices), [(10, 2), (0, 0), (0, 0), (0, 0)]);
    }

    #[test]
    fn several_extended_primaries_are_all_followed() {
        let mut disk = Disk::new(512);
        disk.entry(0, 0, 0x05, 100, 100);
        disk.entry(0, 2, 0x0F, 300, 100);
        disk.entry(100, 0, 0x83, 1, 9);
        disk.entry(300, 0, 0x82, 1, 9);
        disk.entry(300, 1, 0x05, 50, 50);
        disk.entry(350, 0, 0x83, 1, 9);
        let (slices, _) = disk.run();
        assert_eq!(
            pos(&slices[4..]),
            [(101, 9), (100, 0), (301, 9), (351, 9), (350, 0)]
        );
        assert_eq!(
            containers(&slices[4..]),
            [Some(0), Some(0), Some(2), Some(2), Some(2)]
        );
    }

    #[test]
    fn cyclic_chain_stops_at_the_slice_cap() {
        let mut disk = Disk::new(512);
        disk.entry(0, 1, 0x05, 100, 300);
        disk.entry(100, 0, 0x83, 1, 9);
        disk.entry(100, 1, 0x05, 50, 50); // -> 150
        disk.entry(150, 0, 0x83, 1, 9);
        disk.entry(150, 1, 0x05, 50, 50); // -> 150 again, forever
        let (slices, warnings) = disk.run();
        assert_eq!(slices.len(), MAX_SLICES);
        assert_eq!(warnings, ["dos_extd_partition: too many slices"]);
        assert!(slices[5..].iter().all(|s| s.start == 151));
    }

    #[test]
    fn full_table_warns_again_for_each_further_chain() {
        let mut disk = Disk::new(512);
        disk.entry(0, 0, 0x05, 100, 100);
        disk.entry(0, 1, 0x05, 300, 100);
        disk.entry(100, 0, 0x83, 1, 9);
        disk.entry(100, 1, 0x05, 50, 50);
        disk.entry(150, 0, 0x83, 1, 9);
        disk.entry(150, 1, 0x05, 50, 50);
        disk.entry(300, 0, 0x83, 1, 9);
        let (slices, warnings) = disk.run();
        assert_eq!(slices.len(), MAX_SLICES);
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn barren_chain_stops_after_one_hundred_ebrs() {
        let mut disk = Disk::new(64);
        disk.entry(0, 0, 0x05, 10, 50);
        // An EBR whose two entries are both links to itself: no slice, ever.
        disk.entry(10, 0, 0x05, 0, 0);
        disk.entry(10, 1, 0x05, 20, 10);
        disk.entry(30, 0, 0x0F, 20, 10);
        disk.entry(30, 1, 0x85, 20, 10);
        let src = MemSource::new(disk.data.clone());
        let counting = Counting {
            inner: &src,
            reads: Cell::new(0),
        };
        let (slices, warnings) = run_on(&counting);
        assert_eq!(slices.len(), 4);
        assert!(warnings.is_empty());
        // MBR + 100 barren EBRs.
        assert_eq!(counting.reads.get(), 101);
    }

    #[test]
    fn barren_counter_resets_on_each_slice() {
        let mut disk = Disk::new(64);
        disk.entry(0, 0, 0x05, 10, 50);
        disk.entry(10, 0, 0x05, 20, 10); // barren, -> 30
        disk.entry(30, 0, 0x83, 1, 1);
        disk.entry(30, 1, 0x05, 10, 10); // -> 20
        disk.entry(20, 0, 0x05, 20, 10); // barren, -> 30
        disk.entry(20, 1, 0x05, 0, 10);
        let (slices, warnings) = disk.run();
        assert_eq!(slices.len(), MAX_SLICES);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn extended_at_block_zero_rereads_the_mbr_without_looping() {
        let mut disk = Disk::new(64);
        disk.entry(0, 0, 0x05, 0, 50);
        disk.entry(0, 1, 0x83, 10, 5);
        let (slices, _) = disk.run();
        assert_eq!(pos(&slices), [(0, 2), (10, 5), (0, 0), (0, 0), (10, 5)]);
        assert_eq!(slices[4].container, Some(0));
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = Rng::new(0x0DD5_EED5);
        for round in 0..500 {
            let blocks = 1 + rng.below(64) as usize;
            let ss = if round % 4 == 0 { 4096 } else { 512 };
            let mut disk = Disk::with_sector_size(blocks, ss);
            for b in disk.data.iter_mut() {
                *b = rng.next() as u8;
            }
            // Sign most blocks and plant small extended links so chains get walked.
            for block in 0..blocks as u64 {
                if rng.below(4) != 0 {
                    disk.sign(block);
                }
                if rng.below(2) == 0 {
                    let kind = [0x05, 0x0F, 0x85][rng.below(3) as usize];
                    let start = rng.below(blocks as u64 + 2) as u32;
                    disk.entry(block, rng.below(2) as usize, kind, start, 1);
                }
            }
            let (slices, _) = disk.run();
            assert!(slices.is_empty() || (4..=MAX_SLICES).contains(&slices.len()));
        }
    }
}
