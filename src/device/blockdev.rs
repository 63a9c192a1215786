//! Read-only access to a whole disk, as a [`BlockSource`] for the readers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

use kpartx_table::BlockSource;

/// Raw block-device ioctls.
mod sys {
    nix::ioctl_read!(blkgetsize64, 0x12, 114, u64);
    nix::ioctl_read_bad!(blksszget, libc::BLKSSZGET, libc::c_int);
}
use sys::{blkgetsize64, blksszget};

/// Alignment used for direct I/O buffers (covers every logical sector size up to 4096).
const ALIGN: usize = 4096;
/// Reads of at most this many bytes are cached (readers re-read the first sectors often).
const CACHE_MAX_READ: usize = 4096;
/// Upper bound on cached entries.
const CACHE_MAX_ENTRIES: usize = 256;

/// Results of small reads, keyed by (offset, length).
type ReadCache = HashMap<(u64, usize), Option<Vec<u8>>>;

/// A disk opened read-only, bypassing the page cache when the kernel allows it.
///
/// Direct I/O matters after repartitioning an image through its file: the loop device's page
/// cache may still hold the old table.
pub struct BlockDevice {
    file: File,
    sector_size: u32,
    size: u64,
    direct: bool,
    cache: RefCell<ReadCache>,
}

impl BlockDevice {
    /// Opens `path` for reading only. Regular files are accepted too (512-byte sectors).
    pub fn open(path: &Path) -> io::Result<BlockDevice> {
        let (file, direct) = match open_ro(path, libc::O_DIRECT) {
            Ok(file) => (file, true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (open_ro(path, 0)?, false),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let (sector_size, size) = if meta.file_type().is_block_device() {
            (logical_sector_size(&file), device_size(&file)?)
        } else {
            (512, meta.len())
        };
        Ok(BlockDevice {
            file,
            sector_size,
            size,
            direct,
            cache: RefCell::new(HashMap::new()),
        })
    }

    /// Opens the image file `path` for reading only, as a disk with `sector_size`-byte logical
    /// sectors: what a loop device bound to it with that block size would show (its size is
    /// the file's, rounded down to 512 bytes as a loop device's is). Reads go through the page
    /// cache: for a file it is the current contents (a loop device writes through it too).
    pub fn open_image(path: &Path, sector_size: u32) -> io::Result<BlockDevice> {
        let file = open_ro(path, 0)?;
        let size = file.metadata()?.len() / 512 * 512;
        Ok(BlockDevice {
            file,
            sector_size,
            size,
            direct: false,
            cache: RefCell::new(HashMap::new()),
        })
    }

    fn read_uncached(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let end = offset.checked_add(len as u64)?;
        if end > self.size {
            return None;
        }
        if !self.direct {
            let mut buf = vec![0; len];
            self.file.read_exact_at(&mut buf, offset).ok()?;
            return Some(buf);
        }
        let unit = u64::from(self.sector_size.max(512));
        let first = offset / unit * unit;
        let last = end.div_ceil(unit) * unit;
        let span = usize::try_from(last - first).ok()?;
        let mut raw = vec![0u8; span + ALIGN];
        let pad = raw.as_ptr().align_offset(ALIGN);
        let window = raw.get_mut(pad..pad + span)?;
        let got = read_full(&self.file, window, first).ok()?;
        let skip = usize::try_from(offset - first).ok()?;
        if got < skip + len {
            return None;
        }
        Some(window[skip..skip + len].to_vec())
    }
}

impl BlockSource for BlockDevice {
    fn sector_size(&self) -> u32 {
        self.sector_size
    }

    fn size_bytes(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        if len > CACHE_MAX_READ {
            return self.read_uncached(offset, len);
        }
        if let Some(hit) = self.cache.borrow().get(&(offset, len)) {
            return hit.clone();
        }
        let data = self.read_uncached(offset, len);
        let mut cache = self.cache.borrow_mut();
        if cache.len() < CACHE_MAX_ENTRIES {
            cache.insert((offset, len), data.clone());
        }
        data
    }
}

fn open_ro(path: &Path, extra: libc::c_int) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(extra | libc::O_CLOEXEC)
        .open(path)
}

/// Reads until `buf` is full or end of file; returns the byte count.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The logical sector size of a block device (BLKSSZGET), 512 when the ioctl fails.
pub fn logical_sector_size(file: &File) -> u32 {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int into `size`, which lives for the whole call.
    match unsafe { blksszget(file.as_raw_fd(), &mut size) } {
        Ok(_) if (512..=65536).contains(&size) => size as u32,
        _ => 512,
    }
}

/// The size of a block device in bytes (BLKGETSIZE64).
pub fn device_size(file: &File) -> io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 into `size`, which lives for the whole call.
    unsafe { blkgetsize64(file.as_raw_fd(), &mut size) }.map_err(io::Error::from)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_regular_files_with_bounds() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..2048u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&data).unwrap();
        let dev = BlockDevice::open(file.path()).unwrap();
        assert_eq!(dev.size_bytes(), 2048);
        assert_eq!(dev.sector_size(), 512);
        assert_eq!(dev.block(1).unwrap(), data[512..1024].to_vec());
        assert_eq!(dev.read_at(10, 5).unwrap(), data[10..15].to_vec());
        assert_eq!(dev.read_at(10, 5).unwrap(), data[10..15].to_vec());
        assert!(dev.block(4).is_none());
        assert!(dev.read_at(2040, 16).is_none());
        assert!(dev.read_at(u64::MAX, 16).is_none());
    }

    #[test]
    fn images_get_the_sector_size_asked_for_and_a_loop_size() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&data).unwrap();
        let dev = BlockDevice::open_image(file.path(), 4096).unwrap();
        assert_eq!(dev.sector_size(), 4096);
        assert_eq!(dev.size_bytes(), 8704);
        assert_eq!(dev.read_at(4096, 4096).unwrap(), data[4096..8192].to_vec());
        assert!(dev.read_at(8700, 8).is_none());
    }
}
