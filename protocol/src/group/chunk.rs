//! Automerge storage chunks from a peer, measured before automerge opens them.
//!
//! automerge trusts its input's sizes: a compressed chunk is inflated with no
//! limit, a document's DEFLATE columns likewise, and a run-length-encoded
//! column of a few bytes can claim 2^63 rows, which automerge then walks one
//! by one. One reassembled group message (64 MiB) could so demand tens of
//! gigabytes or hours of CPU (THREAT_MODEL.md, "Attacks tried" 1). Every
//! chunk a peer sends passes through here first:
//!
//! - compressed chunks (type 2) are refused: automerge's sync protocol sends
//!   changes uncompressed (`Change::raw_bytes`), so only an attacker sends
//!   them;
//! - every column of a change may hold at most [`MAX_CHANGE_ROWS`] rows;
//! - a document's DEFLATE columns are inflated here through a bounded reader,
//!   at most [`MAX_INFLATED`] bytes for the whole document, and each of its
//!   columns may hold at most [`MAX_DOCUMENT_ROWS`] rows.
//!
//! Rows are counted run by run, so the cost is linear in the bytes received.
//! A chunk is laid out as
//!
//! ```text
//! magic (4) | checksum (4) | type (1) | uLEB length | data
//! change data:   deps, actor, seq, start op, time, message, other actors,
//!                column metadata (count, then spec and length each), columns
//! document data: actors, heads, change column metadata, op column metadata,
//!                change columns, op columns, head indices
//! ```

use std::io::Read;

/// A chunk that breaks the format or a bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChunkError(pub String);

/// Rows in any one column of a change. A post is one op; an admin change a
/// few per member it touches.
pub const MAX_CHANGE_ROWS: u64 = 1 << 16;
/// Rows in any one column of a whole document: its changes, or its ops.
pub const MAX_DOCUMENT_ROWS: u64 = 1 << 21;
/// Bytes all of a document's DEFLATE columns may inflate to together.
pub const MAX_INFLATED: usize = 128 * 1024 * 1024;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DEFLATE_BIT: u64 = 0b1000;

/// The chunk types a peer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkType {
    Document,
    Change,
}

fn bad(why: &str) -> ChunkError {
    ChunkError(why.to_owned())
}

/// Splits bytes into storage chunks, refusing compressed and unknown types.
pub fn split(buf: &[u8]) -> Result<Vec<(ChunkType, &[u8])>, ChunkError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < buf.len() {
        let rest = &buf[i..];
        if rest.len() < 10 || rest[..4] != MAGIC {
            return Err(bad("not an automerge chunk"));
        }
        let ty = match rest[8] {
            0 => ChunkType::Document,
            1 => ChunkType::Change,
            2 => return Err(bad("compressed chunks are not accepted from peers")),
            _ => return Err(bad("unknown chunk type")),
        };
        let mut c = Cursor(&rest[9..]);
        let len = c.len()?;
        let end = rest.len() - c.0.len() + len;
        out.push((ty, &rest[..end]));
        i += end;
    }
    Ok(out)
}

/// The data of a chunk that [`split`] returned.
fn data(chunk: &[u8]) -> Result<&[u8], ChunkError> {
    let mut c = Cursor(chunk.get(9..).ok_or_else(|| bad("truncated chunk"))?);
    let len = c.len()?;
    c.take(len)
}

/// Checks that a change chunk stays within [`MAX_CHANGE_ROWS`] per column.
pub fn check_change(chunk: &[u8]) -> Result<(), ChunkError> {
    let mut c = Cursor(data(chunk)?);
    let deps = c.count(32)?;
    c.take(deps * 32)?;
    c.bytes()?; // actor
    c.uleb()?; // seq
    c.uleb()?; // start op
    c.uleb()?; // time (signed; its length is what matters)
    c.bytes()?; // message
    for _ in 0..c.count(1)? {
        c.bytes()?; // other actors
    }
    let columns = c.columns()?;
    for (spec, len) in columns {
        if spec & DEFLATE_BIT != 0 {
            return Err(bad("compressed change columns"));
        }
        rows(spec, c.take(len)?, MAX_CHANGE_ROWS)?;
    }
    Ok(())
}

/// Checks a document chunk: its DEFLATE columns inflate to at most
/// [`MAX_INFLATED`] bytes together, and no column holds more than
/// [`MAX_DOCUMENT_ROWS`] rows.
pub fn check_document(chunk: &[u8]) -> Result<(), ChunkError> {
    let mut c = Cursor(data(chunk)?);
    for _ in 0..c.count(1)? {
        c.bytes()?; // actors
    }
    let heads = c.count(32)?;
    c.take(heads * 32)?;
    let change_columns = c.columns()?;
    let op_columns = c.columns()?;
    let mut budget = MAX_INFLATED;
    for (spec, len) in change_columns.into_iter().chain(op_columns) {
        let raw = c.take(len)?;
        if spec & DEFLATE_BIT == 0 {
            rows(spec, raw, MAX_DOCUMENT_ROWS)?;
            continue;
        }
        let mut inflated = Vec::new();
        let limit = u64::try_from(budget).unwrap_or(u64::MAX) + 1;
        flate2::bufread::DeflateDecoder::new(raw)
            .take(limit)
            .read_to_end(&mut inflated)
            .map_err(|_| bad("a column that does not inflate"))?;
        budget = budget
            .checked_sub(inflated.len())
            .ok_or_else(|| bad("a document that inflates past the limit"))?;
        rows(spec, &inflated, MAX_DOCUMENT_ROWS)?;
    }
    Ok(())
}

/// Counts the rows of one column, run by run, refusing more than `max`. A
/// group column's values (how many rows of its grouped columns each row
/// owns) are summed under the same bound.
fn rows(spec: u64, col: &[u8], max: u64) -> Result<(), ChunkError> {
    let too_many = || bad("a column with too many rows");
    let mut c = Cursor(col);
    let mut total: u64 = 0;
    let mut grouped: u64 = 0;
    let add = |n: u64, t: &mut u64| -> Result<(), ChunkError> {
        *t = t
            .checked_add(n)
            .filter(|t| *t <= max)
            .ok_or_else(too_many)?;
        Ok(())
    };
    match spec & 0b111 {
        7 => return Ok(()), // raw values: their lengths are in the metadata column
        4 => {
            // Boolean: alternating run lengths.
            while !c.0.is_empty() {
                let n = c.uleb()?;
                add(n, &mut total)?;
            }
        }
        ty => {
            // Run-length encoded: a signed count, then one value (a run), or
            // -count values (literals); 0 is a run of nulls with its length.
            while !c.0.is_empty() {
                let count = c.sleb()?;
                match count {
                    0 => {
                        let n = c.uleb()?;
                        add(n, &mut total)?;
                    }
                    n if n > 0 => {
                        let n = n.unsigned_abs();
                        add(n, &mut total)?;
                        let v = c.value(ty)?;
                        if ty == 0 {
                            add(v.checked_mul(n).ok_or_else(too_many)?, &mut grouped)?;
                        }
                    }
                    n => {
                        let n = n.unsigned_abs();
                        add(n, &mut total)?;
                        for _ in 0..n {
                            let v = c.value(ty)?;
                            if ty == 0 {
                                add(v, &mut grouped)?;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn uleb(&mut self) -> Result<u64, ChunkError> {
        let mut v: u64 = 0;
        for (i, b) in self.0.iter().enumerate().take(10) {
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(bad("LEB128 overflow"));
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err(bad("truncated LEB128"))
    }

    fn sleb(&mut self) -> Result<i64, ChunkError> {
        let mut v: i64 = 0;
        let mut shift = 0;
        for (i, b) in self.0.iter().enumerate().take(10) {
            v |= i64::from(b & 0x7f).wrapping_shl(shift);
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err(bad("truncated LEB128"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ChunkError> {
        if n > self.0.len() {
            return Err(bad("truncated chunk"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// A length that must fit in what is left.
    fn len(&mut self) -> Result<usize, ChunkError> {
        let n = self.uleb()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.0.len())
            .ok_or_else(|| bad("a length past the end"))
    }

    /// A count of items of at least `each` bytes that must fit in what is left.
    fn count(&mut self, each: usize) -> Result<usize, ChunkError> {
        let n = self.uleb()?;
        usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(each) <= self.0.len())
            .ok_or_else(|| bad("a count past the end"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ChunkError> {
        let n = self.len()?;
        self.take(n)
    }

    /// Column metadata: a count, then (spec, length) pairs.
    fn columns(&mut self) -> Result<Vec<(u64, usize)>, ChunkError> {
        let n = self.count(2)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let spec = self.uleb()?;
            let len = usize::try_from(self.uleb()?).map_err(|_| bad("column length"))?;
            out.push((spec, len));
        }
        Ok(out)
    }

    /// One value of an RLE column of type `ty`; its number, or 0 for a string.
    fn value(&mut self, ty: u64) -> Result<u64, ChunkError> {
        match ty {
            3 => self.sleb().map(|_| 0),
            5 => self.bytes().map(|_| 0),
            _ => self.uleb(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    fn header(ty: u8, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[0; 4]);
        out.push(ty);
        uleb(&mut out, data.len() as u64);
        out.extend_from_slice(data);
        out
    }

    fn uleb(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn doc() -> AutoCommit {
        let mut d = AutoCommit::new();
        for i in 0..300 {
            d.put(ROOT, format!("k{i}"), "x".repeat(40)).unwrap();
            d.commit();
        }
        d
    }

    #[test]
    fn what_automerge_itself_sends_passes() {
        let mut d = doc();
        let saved = d.save();
        let chunks = split(&saved).unwrap();
        assert_eq!(chunks.len(), 1);
        check_document(chunks[0].1).unwrap();
        for c in d.get_changes(&[]) {
            let raw = c.raw_bytes().to_vec();
            let chunks = split(&raw).unwrap();
            assert_eq!(chunks[0].0, ChunkType::Change);
            check_change(chunks[0].1).unwrap();
        }
    }

    #[test]
    fn compressed_chunks_are_refused() {
        let mut d = AutoCommit::new();
        for i in 0..200 {
            d.put(ROOT, format!("k{i}"), format!("value {i}")).unwrap();
        }
        d.commit();
        let mut c = d.get_changes(&[]).pop().unwrap();
        let compressed = c.bytes().to_vec();
        assert_eq!(compressed[8], 2, "automerge compresses a large change");
        assert!(split(&compressed).is_err());
        assert!(split(c.raw_bytes()).is_ok(), "the same change uncompressed");
    }

    #[test]
    fn a_run_claiming_billions_of_rows_is_refused() {
        // A change with no deps, a 1-byte actor, seq 1, start op 1, time 0,
        // no message, no other actors, and one integer column: one run of
        // 2^40 copies of 7.
        let mut col = Vec::new();
        uleb(&mut col, (1u64 << 40) << 1); // positive sLEB of 2^40
        col.push(7);
        let mut data = vec![0, 1, 0xaa, 1, 1, 0, 0, 0, 1];
        uleb(&mut data, (1 << 4) | 2);
        uleb(&mut data, col.len() as u64);
        data.extend_from_slice(&col);
        let chunk = header(1, &data);
        let chunks = split(&chunk).unwrap();
        let err = check_change(chunks[0].1).unwrap_err();
        assert!(err.to_string().contains("too many rows"), "{err}");
    }

    #[test]
    fn a_document_column_that_inflates_past_the_limit_is_refused() {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_INFLATED >> 20) + 1 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "a small input");
        let mut data = vec![0, 0]; // no actors, no heads
        data.push(1); // one change column: raw values, deflated
        uleb(&mut data, (1 << 4) | DEFLATE_BIT | 7);
        uleb(&mut data, bomb.len() as u64);
        data.push(0); // no op columns
        data.extend_from_slice(&bomb);
        let chunk = header(0, &data);
        let err = check_document(split(&chunk).unwrap()[0].1).unwrap_err();
        assert!(err.to_string().contains("inflates past"), "{err}");
    }

    #[test]
    fn counts_past_the_end_are_refused_before_anything_is_allocated() {
        let mut data = Vec::new();
        uleb(&mut data, u64::MAX >> 1); // deps
        let chunk = header(1, &data);
        assert!(check_change(split(&chunk).unwrap()[0].1).is_err());
    }
}
