//! Where readers get their bytes from.

/// A read-only view of a whole disk.
///
/// Implementations must never write and must answer reads past the end with `None`.
///
/// [`MemSource`] holds a disk in memory. A tool reading a real device or an image file
/// implements the trait over its own handle; for instance with positioned reads of a file
/// (a block device's sector size would come from the `BLKSSZGET` ioctl):
///
/// ```no_run
/// use std::fs::File;
/// use std::os::unix::fs::FileExt;
///
/// use kpartx_table::{BlockSource, Diagnostics, ProbeContext, TypeFilter, probe};
///
/// struct Image {
///     file: File,
///     size: u64,
/// }
///
/// impl BlockSource for Image {
///     fn sector_size(&self) -> u32 {
///         512
///     }
///
///     fn size_bytes(&self) -> u64 {
///         self.size
///     }
///
///     fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
///         if offset.checked_add(len as u64)? > self.size {
///             return None;
///         }
///         let mut buf = vec![0; len];
///         self.file.read_exact_at(&mut buf, offset).ok()?;
///         Some(buf)
///     }
/// }
///
/// let file = File::open("disk.img")?;
/// let size = file.metadata()?.len();
/// let mut diag = Diagnostics::default();
/// let image = Image { file, size };
/// if let Some(table) = probe(&image, &ProbeContext::default(), &TypeFilter::All, &mut diag) {
///     for (i, slice) in table.slices.iter().enumerate().filter(|(_, s)| s.size > 0) {
///         println!("{}: {} {}+{}", i + 1, table.kind, slice.start, slice.size);
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait BlockSource {
    /// Logical sector size in bytes (512 when the device does not say).
    fn sector_size(&self) -> u32;

    /// Size of the device in bytes.
    fn size_bytes(&self) -> u64;

    /// Reads `len` bytes at byte `offset`. `None` when any of it lies past the end of the device
    /// or the read fails.
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>>;

    /// Reads the 512-byte block `n` (counted in 512-byte units, whatever the sector size).
    fn block(&self, n: u64) -> Option<Vec<u8>> {
        self.read_at(n.checked_mul(512)?, 512)
    }

    /// Logical sector size divided by 512 (at least 1).
    fn sectors_per_block(&self) -> u64 {
        u64::from(self.sector_size() / 512).max(1)
    }
}

/// A disk held in memory: for tests, fuzzing and benchmarks.
#[derive(Debug, Clone)]
pub struct MemSource {
    data: Vec<u8>,
    sector_size: u32,
}

impl MemSource {
    /// A disk with 512-byte sectors.
    pub fn new(data: Vec<u8>) -> Self {
        MemSource::with_sector_size(data, 512)
    }

    /// A disk with the given logical sector size.
    pub fn with_sector_size(data: Vec<u8>, sector_size: u32) -> Self {
        MemSource { data, sector_size }
    }
}

impl BlockSource for MemSource {
    fn sector_size(&self) -> u32 {
        self.sector_size
    }

    fn size_bytes(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len)?;
        self.data.get(start..end).map(<[u8]>::to_vec)
    }
}

/// Little- and big-endian field access on a byte buffer; out-of-range reads give 0.
pub mod bytes {
    fn array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
        at.checked_add(N)
            .and_then(|end| buf.get(at..end))
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; N])
    }

    /// Little-endian u16 at `at`.
    pub fn le16(buf: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(array(buf, at))
    }
    /// Little-endian u32 at `at`.
    pub fn le32(buf: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(array(buf, at))
    }
    /// Little-endian u64 at `at`.
    pub fn le64(buf: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(array(buf, at))
    }
    /// Big-endian u16 at `at`.
    pub fn be16(buf: &[u8], at: usize) -> u16 {
        u16::from_be_bytes(array(buf, at))
    }
    /// Big-endian u32 at `at`.
    pub fn be32(buf: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(array(buf, at))
    }
    /// Big-endian u64 at `at`.
    pub fn be64(buf: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(array(buf, at))
    }
    /// The byte at `at`, or 0.
    pub fn byte(buf: &[u8], at: usize) -> u8 {
        buf.get(at).copied().unwrap_or(0)
    }
}
