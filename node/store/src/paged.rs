//! A redb storage backend in memory that holds only the pages written.
//!
//! redb's own `InMemoryBackend` is one `Vec` as long as the file, grown by
//! doubling: a store holding a few kilobytes costs a few hundred once redb
//! has reserved room. The simulator runs tens of thousands of stores, so this
//! one keeps 4 KiB pages in a map, allocated on first non-zero write; unwritten
//! pages read as zeros, like a sparse file.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;

use redb::StorageBackend;

const PAGE: usize = 4096;

#[derive(Default)]
struct Pages {
    len: u64,
    pages: BTreeMap<u64, Box<[u8; PAGE]>>,
}

#[derive(Default)]
pub struct PagedMemory(Mutex<Pages>);

impl std::fmt::Debug for PagedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.lock();
        f.debug_struct("PagedMemory")
            .field("len", &p.len)
            .field("pages", &p.pages.len())
            .finish()
    }
}

impl PagedMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pages> {
        // A writer that panicked leaves whole pages behind: still readable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "read or write past the end")
}

/// The pieces of `[offset, offset + len)` by page: (page, offset in page,
/// offset in the buffer, length).
fn pieces(offset: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize, usize)> {
    let mut done = 0;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = offset + done as u64;
        let page = at / PAGE as u64;
        let within = (at % PAGE as u64) as usize;
        let n = (PAGE - within).min(len - done);
        let piece = (page, within, done, n);
        done += n;
        Some(piece)
    })
}

impl StorageBackend for PagedMemory {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock().len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let p = self.lock();
        if offset + out.len() as u64 > p.len {
            return Err(out_of_range());
        }
        for (page, within, at, n) in pieces(offset, out.len()) {
            let dst = &mut out[at..at + n];
            match p.pages.get(&page) {
                Some(bytes) => dst.copy_from_slice(&bytes[within..within + n]),
                None => dst.fill(0),
            }
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut p = self.lock();
        if len < p.len {
            let keep = len.div_ceil(PAGE as u64);
            p.pages.split_off(&keep);
            // What lies past the end in the last page must read as zeros if
            // the file grows again.
            let within = (len % PAGE as u64) as usize;
            if within != 0
                && let Some(last) = p.pages.get_mut(&(len / PAGE as u64))
            {
                last[within..].fill(0);
            }
        }
        p.len = len;
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut p = self.lock();
        if offset + data.len() as u64 > p.len {
            return Err(out_of_range());
        }
        for (page, within, at, n) in pieces(offset, data.len()) {
            let src = &data[at..at + n];
            match p.pages.get_mut(&page) {
                Some(bytes) => bytes[within..within + n].copy_from_slice(src),
                None if src.iter().all(|b| *b == 0) => {}
                None => {
                    let mut bytes = Box::new([0u8; PAGE]);
                    bytes[within..within + n].copy_from_slice(src);
                    p.pages.insert(page, bytes);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_back_what_was_written_across_pages_and_zeros_elsewhere() {
        let m = PagedMemory::default();
        m.set_len(3 * PAGE as u64).unwrap();
        let data: Vec<u8> = (0..PAGE + 100).map(|i| (i % 251) as u8 + 1).collect();
        m.write(PAGE as u64 - 50, &data).unwrap();
        let mut out = vec![0xAA; 3 * PAGE];
        m.read(0, &mut out).unwrap();
        assert!(out[..PAGE - 50].iter().all(|b| *b == 0));
        assert_eq!(&out[PAGE - 50..2 * PAGE + 50], &data[..]);
        assert!(out[2 * PAGE + 50..].iter().all(|b| *b == 0));
        assert!(m.read(3 * PAGE as u64 - 1, &mut [0; 2]).is_err());
        assert!(m.write(3 * PAGE as u64, &[1]).is_err());
    }

    #[test]
    fn shrinking_forgets_the_tail() {
        let m = PagedMemory::default();
        m.set_len(2 * PAGE as u64).unwrap();
        m.write(0, &vec![7; 2 * PAGE]).unwrap();
        m.set_len(10).unwrap();
        m.set_len(2 * PAGE as u64).unwrap();
        let mut out = vec![0xAA; 2 * PAGE];
        m.read(0, &mut out).unwrap();
        assert!(out[..10].iter().all(|b| *b == 7));
        assert!(out[10..].iter().all(|b| *b == 0));
    }
}
