//! The table file format: blocks with trailers, handles, the footer.
//!
//! ```text
//! table   = data_block* filter_block? properties_block index_block footer
//! block   = payload | compression: u8 | crc: u32 LE
//!           crc = CRC32C(payload ++ compression)
//!           payload = raw block                              (compression 0)
//!                   | uncompressed_len: varint | compressed  (compression 1, 2, 3)
//! handle  = offset: u64 LE | size: u64 LE     (size of the payload, trailer excluded)
//! footer  = filter handle | properties handle | index handle        (48 bytes)
//!           | format_version: u32 LE (= 1) | footer_crc: u32 LE | magic: u64 LE   (64 bytes)
//!           footer_crc = CRC32C(the 52 bytes before it); a filter handle of size 0 = none
//! ```
//!
//! Compression tags are frozen, never renumber: 0 none, 1 Snappy (raw format), 2 LZ4 (block
//! format), 3 Zstd. The checksum is verified before decompressing, and the decompressed
//! length must equal the declared one (RELIABILITY rule 1). A block is stored uncompressed
//! when compression saves less than 1/8.
//!
//! Data and index blocks are `block.rs` blocks keyed by internal keys; an index entry's key
//! is the last key of its data block and its value a handle (varint offset, varint size).

use std::path::Path;

use bytes::Bytes;

use crate::coding::{get_varint64, put_varint64, Reader};
use crate::crc;
use crate::error::{Error, Result};
use crate::fs::RandomAccessFile;
use crate::options::Compression;
use crate::testing::crc_differs;

/// Bytes after each block's payload: compression tag and CRC.
pub const BLOCK_TRAILER_BYTES: usize = 5;
/// Size of the footer.
pub const FOOTER_BYTES: usize = 64;
/// Table magic ("STRATKV1" read as little-endian bytes).
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"STRATKV1");
/// Version of the table format.
pub const TABLE_FORMAT_VERSION: u32 = 1;
/// Largest uncompressed block we accept from disk (a block holds at most one value past
/// the block size, and values are at most 1 GiB).
const BLOCK_DECOMPRESSED_MAX_BYTES: u64 = (1 << 30) + (1 << 20);

/// Frozen compression tags.
pub mod compression_tag {
    /// Stored as is.
    pub const NONE: u8 = 0;
    /// Snappy raw format.
    pub const SNAPPY: u8 = 1;
    /// LZ4 block format.
    pub const LZ4: u8 = 2;
    /// Zstandard.
    pub const ZSTD: u8 = 3;
}

/// Where a block sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    /// Offset of the payload.
    pub offset: u64,
    /// Size of the payload (trailer excluded).
    pub size: u64,
}

impl BlockHandle {
    /// Varint encoding, as stored in index entries.
    pub fn encode_varint(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.offset);
        put_varint64(out, self.size);
    }

    /// Decodes a varint handle; `None` when malformed.
    pub fn decode_varint(src: &[u8]) -> Option<BlockHandle> {
        let (offset, n) = get_varint64(src)?;
        let (size, m) = get_varint64(&src[n..])?;
        if n + m != src.len() {
            return None;
        }
        Some(BlockHandle { offset, size })
    }
}

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The filter block (size 0: none).
    pub filter: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
    /// The index block.
    pub index: BlockHandle,
}

impl Footer {
    /// Encodes the 64-byte footer.
    pub fn encode(&self) -> [u8; FOOTER_BYTES] {
        let mut f = [0u8; FOOTER_BYTES];
        let hs = [self.filter, self.properties, self.index];
        for (i, h) in hs.iter().enumerate() {
            f[i * 16..i * 16 + 8].copy_from_slice(&h.offset.to_le_bytes());
            f[i * 16 + 8..i * 16 + 16].copy_from_slice(&h.size.to_le_bytes());
        }
        f[48..52].copy_from_slice(&TABLE_FORMAT_VERSION.to_le_bytes());
        let crc = crc::crc32c(&f[..52]);
        f[52..56].copy_from_slice(&crc.to_le_bytes());
        f[56..64].copy_from_slice(&TABLE_MAGIC.to_le_bytes());
        f
    }

    /// Decodes and checks a footer read from the end of a file of `file_len` bytes.
    ///
    /// # Errors
    ///
    /// `Corruption` (naming `path` and the footer's offset) for a bad magic, version,
    /// checksum, or a handle outside the file.
    pub fn decode(path: &Path, data: &[u8], file_len: u64) -> Result<Footer> {
        let at = file_len.saturating_sub(FOOTER_BYTES as u64);
        let bad = |why: &str| Error::corruption(path, at, why);
        if data.len() != FOOTER_BYTES {
            return Err(bad("table shorter than a footer"));
        }
        let mut r = Reader::new(data);
        let mut hs = [BlockHandle::default(); 3];
        for h in &mut hs {
            h.offset = r.u64().ok_or_else(|| bad("short footer"))?;
            h.size = r.u64().ok_or_else(|| bad("short footer"))?;
        }
        let version = r.u32().ok_or_else(|| bad("short footer"))?;
        let crc = r.u32().ok_or_else(|| bad("short footer"))?;
        let magic = r.u64().ok_or_else(|| bad("short footer"))?;
        if magic != TABLE_MAGIC {
            return Err(bad("bad table magic (not a table, or a damaged footer)"));
        }
        if crc_differs(crc, crc::crc32c(&data[..52])) {
            return Err(bad("footer checksum mismatch"));
        }
        if version != TABLE_FORMAT_VERSION {
            return Err(bad(&format!("unsupported table format version {version}")));
        }
        let body = at;
        for h in &hs {
            let end = h
                .offset
                .checked_add(h.size)
                .and_then(|e| e.checked_add(BLOCK_TRAILER_BYTES as u64));
            if h.size > 0 && end.is_none_or(|e| e > body) {
                return Err(bad("block handle outside the file"));
            }
        }
        Ok(Footer {
            filter: hs[0],
            properties: hs[1],
            index: hs[2],
        })
    }
}

/// Compresses a raw block per `c`, returning the payload and its tag. Falls back to no
/// compression when it saves less than 1/8.
pub fn compress_block(raw: &[u8], c: Compression) -> (Vec<u8>, u8) {
    let mut out = Vec::new();
    let tag = compress_into(raw, c, &mut out);
    (out, tag)
}

/// The tag a payload compressed with `c` carries (one stored as is carries
/// [`compression_tag::NONE`] whatever `c` is).
pub fn compression_tag_of(c: Compression) -> u8 {
    match c {
        Compression::None => compression_tag::NONE,
        Compression::Snappy => compression_tag::SNAPPY,
        Compression::Lz4 => compression_tag::LZ4,
        Compression::Zstd { .. } => compression_tag::ZSTD,
    }
}

/// Appends to `out` the payload [`compress_block`] would return for `raw` and returns its
/// tag: no buffer of its own, so a value-log record or a table block is framed where it is
/// compressed (for a 64 KiB value, zeroing a buffer of its own and copying the result out
/// of it twice more moved ~128 KiB per put).
pub fn compress_into(raw: &[u8], c: Compression, out: &mut Vec<u8>) -> u8 {
    let start = out.len();
    let tag = match c {
        Compression::None => compression_tag::NONE,
        Compression::Snappy => {
            put_varint64(out, raw.len() as u64);
            match snap::raw::Encoder::new().compress_vec(raw) {
                Ok(v) => {
                    out.extend_from_slice(&v);
                    compression_tag::SNAPPY
                }
                Err(_) => compression_tag::NONE,
            }
        }
        Compression::Lz4 => {
            put_varint64(out, raw.len() as u64);
            if lz4_compress_into(raw, out) {
                compression_tag::LZ4
            } else {
                compression_tag::NONE
            }
        }
        Compression::Zstd { level } => {
            put_varint64(out, raw.len() as u64);
            match zstd::bulk::compress(raw, level) {
                Ok(v) => {
                    out.extend_from_slice(&v);
                    compression_tag::ZSTD
                }
                Err(_) => compression_tag::NONE,
            }
        }
    };
    if tag == compression_tag::NONE || out.len() - start >= raw.len() - raw.len() / 8 {
        out.truncate(start);
        out.extend_from_slice(raw);
        return compression_tag::NONE;
    }
    tag
}

/// LZ4-compresses `raw` onto the end of `out`, into spare capacity the encoder fills
/// unzeroed (as [`lz4_decompress`] does). False, with `out`'s length unchanged, when the
/// encoder fails (input too large).
fn lz4_compress_into(raw: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(src_len) = i32::try_from(raw.len()) else {
        return false;
    };
    // SAFETY: a pure function of its argument.
    let bound = unsafe { lz4::liblz4::LZ4_compressBound(src_len) };
    let Ok(cap) = usize::try_from(bound) else {
        return false;
    };
    if cap == 0 {
        return false;
    }
    out.reserve(cap);
    let len = out.len();
    // SAFETY: LZ4_compress_default reads `src_len` bytes from `raw`, which holds them, and
    // writes at most `bound` bytes (`LZ4_compressBound`, for which `reserve` made room) to
    // the spare capacity after `out`'s length; it never reads the destination.
    let n = unsafe {
        lz4::liblz4::LZ4_compress_default(
            raw.as_ptr().cast(),
            out.as_mut_ptr().add(len).cast(),
            src_len,
            bound,
        )
    };
    let Ok(n) = usize::try_from(n) else {
        return false;
    };
    if n == 0 || n > cap {
        return false;
    }
    // SAFETY: the encoder wrote (initialized) the `n` bytes after `len`, within the
    // capacity reserved.
    unsafe { out.set_len(len + n) };
    true
}

/// Appends the trailer for `payload` with compression `tag`.
pub fn block_trailer(payload: &[u8], tag: u8) -> [u8; BLOCK_TRAILER_BYTES] {
    let crc = crc::crc32c_append(crc::crc32c(payload), &[tag]);
    let mut t = [0u8; BLOCK_TRAILER_BYTES];
    t[0] = tag;
    t[1..].copy_from_slice(&crc.to_le_bytes());
    t
}

/// Past this capacity a thread's block read buffer is given back after the read: filter
/// and index blocks are read once per table open and can be megabytes, data blocks a few
/// KiB.
const READ_BUFFER_KEEP_MAX: usize = 256 << 10;

thread_local! {
    /// The buffer each thread reads blocks into before decoding them, reused across reads:
    /// a miss in the block cache then allocates only the decoded block it keeps.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads a block, checks its CRC (when `verify`), and decompresses it.
///
/// # Errors
///
/// `Corruption` naming the file and the block's offset; `Io` for read failures.
pub fn read_block(
    file: &dyn RandomAccessFile,
    path: &Path,
    h: BlockHandle,
    verify: bool,
) -> Result<Bytes> {
    let len = usize::try_from(h.size)
        .ok()
        .and_then(|s| s.checked_add(BLOCK_TRAILER_BYTES))
        .ok_or_else(|| Error::corruption(path, h.offset, "block size overflows"))?;
    let read_error = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::corruption(path, h.offset, "block runs past the end of the file")
        } else {
            Error::io("reading", path, e)
        }
    };
    if file.reads_in_place() {
        let stored = file.read_at(h.offset, len).map_err(read_error)?;
        return decode_block(&stored, path, h, verify, |n| stored.slice(..n));
    }
    READ_BUFFER.with_borrow_mut(|buf| {
        let r = file
            .read_into(h.offset, len, buf)
            .map_err(read_error)
            .and_then(|()| {
                decode_block(buf, path, h, verify, |n| Bytes::copy_from_slice(&buf[..n]))
            });
        if buf.capacity() > READ_BUFFER_KEEP_MAX {
            *buf = Vec::new();
        }
        r
    })
}

/// Checks the trailer of `stored` (a block's payload and trailer, `h.size + 5` bytes) and
/// decodes the payload; `raw(n)` gives an uncompressed payload's `n` bytes as `Bytes`.
fn decode_block(
    stored: &[u8],
    path: &Path,
    h: BlockHandle,
    verify: bool,
    raw: impl FnOnce(usize) -> Bytes,
) -> Result<Bytes> {
    let n = stored.len() - BLOCK_TRAILER_BYTES;
    let tag = stored[n];
    if verify {
        let crc_bytes = [stored[n + 1], stored[n + 2], stored[n + 3], stored[n + 4]];
        let crc = crc::crc32c_append(crc::crc32c(&stored[..n]), &[tag]);
        if crc_differs(u32::from_le_bytes(crc_bytes), crc) {
            return Err(Error::corruption(path, h.offset, "block checksum mismatch"));
        }
    }
    if tag == compression_tag::NONE {
        return Ok(raw(n));
    }
    expand(&stored[..n], tag).map_err(|why| Error::corruption(path, h.offset, why))
}

/// Undoes [`compress_block`]: `payload` compressed with `tag`.
///
/// # Errors
///
/// A description of why the payload does not decompress.
pub fn decompress(payload: Bytes, tag: u8) -> std::result::Result<Bytes, String> {
    if tag == compression_tag::NONE {
        return Ok(payload);
    }
    expand(&payload, tag)
}

/// Decompresses a payload whose tag is not [`compression_tag::NONE`].
fn expand(payload: &[u8], tag: u8) -> std::result::Result<Bytes, String> {
    let (declared, n) = get_varint64(payload).ok_or("bad declared block length")?;
    if declared > BLOCK_DECOMPRESSED_MAX_BYTES {
        return Err(format!("declared block length {declared} too large"));
    }
    let declared = declared as usize;
    let body = &payload[n..];
    let out = match tag {
        compression_tag::SNAPPY => {
            let len = snap::raw::decompress_len(body).map_err(|e| e.to_string())?;
            if len != declared {
                return Err("snappy length differs from the declared length".into());
            }
            snap::raw::Decoder::new()
                .decompress_vec(body)
                .map_err(|e| format!("snappy: {e}"))?
        }
        compression_tag::LZ4 => lz4_decompress(body, declared)?,
        compression_tag::ZSTD => {
            zstd::bulk::decompress(body, declared).map_err(|e| format!("zstd: {e}"))?
        }
        t => return Err(format!("unknown compression tag {t}")),
    };
    if out.len() != declared {
        return Err(format!(
            "decompressed {} bytes, block declared {declared}",
            out.len()
        ));
    }
    Ok(Bytes::from(out))
}

/// LZ4-decompresses `body` into a buffer of `declared` bytes' capacity that the decoder
/// fills, unzeroed: zeroing it first cost 5% of a scan over 64 KiB values (the value log's
/// records use this path too). The length check against `declared` is the caller's.
fn lz4_decompress(body: &[u8], declared: usize) -> std::result::Result<Vec<u8>, String> {
    let (Ok(src_len), Ok(cap)) = (i32::try_from(body.len()), i32::try_from(declared)) else {
        return Err("lz4: block too large".into());
    };
    let mut out = Vec::<u8>::with_capacity(declared);
    // SAFETY: LZ4_decompress_safe reads `src_len` bytes from `body`, which holds them, and
    // writes at most `cap` bytes to `out`'s buffer, whose capacity is `declared` == `cap`;
    // it never reads the destination, and on malformed input it stops and returns a
    // negative number instead of writing past the capacity (the "safe" decoder).
    let n = unsafe {
        lz4::liblz4::LZ4_decompress_safe(
            body.as_ptr().cast(),
            out.as_mut_ptr().cast(),
            src_len,
            cap,
        )
    };
    let n = usize::try_from(n).map_err(|_| "lz4: malformed compressed block".to_string())?;
    // SAFETY: the decoder wrote (initialized) the first `n` bytes, and `n <= cap`.
    unsafe { out.set_len(n) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_roundtrip_and_checks() {
        let f = Footer {
            filter: BlockHandle {
                offset: 10,
                size: 20,
            },
            properties: BlockHandle {
                offset: 35,
                size: 5,
            },
            index: BlockHandle {
                offset: 45,
                size: 7,
            },
        };
        let enc = f.encode();
        let p = Path::new("x.sst");
        assert_eq!(Footer::decode(p, &enc, 200).unwrap(), f);
        for i in 0..FOOTER_BYTES {
            let mut bad = enc;
            bad[i] ^= 0x04;
            assert!(
                Footer::decode(p, &bad, 200).unwrap_err().is_corruption(),
                "byte {i}"
            );
        }
        assert!(Footer::decode(p, &enc, 50).is_err(), "handle past the end");
    }

    const EVERY_CODEC: [Compression; 4] = [
        Compression::None,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd { level: 3 },
    ];

    #[test]
    fn every_compression_roundtrips() {
        let raw: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        for c in EVERY_CODEC {
            let (payload, tag) = compress_block(&raw, c);
            if c != Compression::None {
                assert_ne!(tag, compression_tag::NONE, "{c:?} compresses");
            }
            assert_eq!(
                &decompress(Bytes::from(payload), tag).unwrap()[..],
                &raw[..]
            );
        }
        let (payload, tag) = compress_block(&raw, Compression::Lz4);
        let mut lie = Vec::new();
        put_varint64(&mut lie, raw.len() as u64 + 1);
        let n = get_varint64(&payload).unwrap().1;
        lie.extend_from_slice(&payload[n..]);
        assert!(
            decompress(Bytes::from(lie), tag).is_err(),
            "length mismatch"
        );
    }

    /// Blocks of every codec and of sizes on both sides of the kept read buffer's cap read
    /// back whole in an interleaved order through `pread` (one reused buffer), a map and an
    /// in-memory file; a flipped payload byte is a checksum mismatch on each.
    #[test]
    fn blocks_read_back_through_every_read_path() {
        use crate::fs::{FileSystem, MemFs, OsFs};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut file = Vec::new();
        let mut blocks = Vec::new();
        // Block 0 is stored raw (codec none): past the cap as read, not only as decoded.
        for (i, len) in [READ_BUFFER_KEEP_MAX + 5000, 100, 4096, 3000, 1]
            .into_iter()
            .enumerate()
        {
            let raw: Vec<u8> = (0..len).map(|j| ((j * 7 + i) % 13) as u8).collect();
            let (payload, tag) = compress_block(&raw, EVERY_CODEC[i % EVERY_CODEC.len()]);
            let h = BlockHandle {
                offset: file.len() as u64,
                size: payload.len() as u64,
            };
            file.extend_from_slice(&payload);
            file.extend_from_slice(&block_trailer(&payload, tag));
            blocks.push((h, raw));
        }
        assert!(blocks[0].0.size as usize > READ_BUFFER_KEEP_MAX);
        let order = [1, 0, 4, 0, 2, 3, 1];
        let check = |fs: &dyn FileSystem, mmap: bool| {
            let f = fs.open(&path, mmap).unwrap();
            for &i in &order {
                let (h, raw) = &blocks[i];
                let got = read_block(&*f, &path, *h, true).unwrap();
                assert_eq!(&got[..], &raw[..], "block {i}, mmap {mmap}");
            }
        };
        let os = OsFs::new();
        let mem = MemFs::new();
        mem.create_dir_all(dir.path()).unwrap();
        for fs in [&os as &dyn FileSystem, &mem] {
            let mut w = fs.create(&path).unwrap();
            w.append(&file).unwrap();
            w.sync().unwrap();
        }
        check(&os, false);
        check(&os, true);
        check(&mem, false);
        let (h, _) = blocks[1];
        file[h.offset as usize + 2] ^= 1;
        for fs in [&os as &dyn FileSystem, &mem] {
            let mut w = fs.create(&path).unwrap();
            w.append(&file).unwrap();
            w.sync().unwrap();
            for mmap in [false, true] {
                let f = fs.open(&path, mmap).unwrap();
                let e = read_block(&*f, &path, h, true).unwrap_err();
                assert!(e.to_string().contains("checksum"), "{e}");
            }
        }
    }

    /// Compression appends after what the buffer holds, leaves it alone, and falls back to
    /// the raw bytes (tag none) when compressing does not pay.
    #[test]
    fn compress_into_appends_and_falls_back_in_place() {
        let compressible: Vec<u8> = (0..70_000u32).map(|i| (i % 61) as u8).collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..5_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for c in EVERY_CODEC {
            for raw in [&compressible[..], &noise[..], &[][..]] {
                let mut out = b"prefix".to_vec();
                let tag = compress_into(raw, c, &mut out);
                assert_eq!(&out[..6], b"prefix", "{c:?}");
                if raw.len() == compressible.len() && c != Compression::None {
                    assert_ne!(tag, compression_tag::NONE, "{c:?} compresses");
                    assert!(out.len() - 6 < raw.len() / 2, "{c:?}");
                } else {
                    assert_eq!(tag, compression_tag::NONE, "{c:?}, {} bytes", raw.len());
                    assert_eq!(&out[6..], raw, "{c:?}");
                }
                let payload = Bytes::copy_from_slice(&out[6..]);
                assert_eq!(&decompress(payload, tag).unwrap()[..], raw, "{c:?}");
            }
        }
    }

    /// LZ4 fills an unzeroed buffer: whole payloads of several sizes round-trip, and cut or
    /// damaged ones (seeded) fail or decode to exactly the declared length, never more.
    #[test]
    fn lz4_damaged_payloads_fail_or_stay_within_the_declared_length() {
        for size in [1usize, 100, 4096, 65_543] {
            let raw: Vec<u8> = (0..size).map(|i| (i % 13 + i / 1000) as u8).collect();
            let (payload, tag) = compress_block(&raw, Compression::Lz4);
            if tag == compression_tag::NONE {
                continue;
            }
            let whole = decompress(Bytes::from(payload.clone()), tag).unwrap();
            assert_eq!(&whole[..], &raw[..], "size {size}");
            for cut in (1..payload.len()).step_by(37) {
                let r = decompress(Bytes::copy_from_slice(&payload[..cut]), tag);
                assert!(
                    r.is_err(),
                    "size {size}: {cut} bytes of {} decoded",
                    payload.len()
                );
            }
            for seed in 1..=200u64 {
                let mut rnd = crate::testing::seeded_rng(seed);
                let mut bad = payload.clone();
                for _ in 0..1 + rnd(4) {
                    let at = 1 + rnd(bad.len() as u64 - 1) as usize;
                    bad[at] ^= 1 << rnd(8);
                }
                if let Ok(out) = decompress(Bytes::from(bad), tag) {
                    assert_eq!(out.len(), raw.len(), "size {size}, seed {seed}");
                }
            }
        }
    }
}
