//! Table properties: counts and ranges recorded when a table is built.
//!
//! ```text
//! properties = (tag: varint | value: varint)*     tags frozen, never renumber:
//!   1 num_entries  2 num_deletions  3 raw_key_bytes  4 raw_value_bytes  5 data_blocks
//!   6 smallest_seq 7 largest_seq    8 compression tag 9 bloom_bits_per_key
//! ```
//! Unknown tags are skipped, so newer writers can add properties.

use crate::coding::{put_varint64, Reader};

/// What a table holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableProperties {
    /// Entries (puts and deletes).
    pub num_entries: u64,
    /// Delete entries.
    pub num_deletions: u64,
    /// Bytes of internal keys.
    pub raw_key_bytes: u64,
    /// Bytes of values.
    pub raw_value_bytes: u64,
    /// Data blocks.
    pub data_blocks: u64,
    /// Smallest sequence number.
    pub smallest_seq: u64,
    /// Largest sequence number.
    pub largest_seq: u64,
    /// Compression tag used for data blocks (blocks that did not shrink are stored raw).
    pub compression: u64,
    /// Bloom bits per key (0: no filter).
    pub bloom_bits_per_key: u64,
}

impl TableProperties {
    /// Encodes the properties.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, v) in [
            (1, self.num_entries),
            (2, self.num_deletions),
            (3, self.raw_key_bytes),
            (4, self.raw_value_bytes),
            (5, self.data_blocks),
            (6, self.smallest_seq),
            (7, self.largest_seq),
            (8, self.compression),
            (9, self.bloom_bits_per_key),
        ] {
            put_varint64(&mut out, tag);
            put_varint64(&mut out, v);
        }
        out
    }

    /// Decodes properties; `None` when malformed.
    pub fn decode(src: &[u8]) -> Option<TableProperties> {
        let mut p = TableProperties::default();
        let mut r = Reader::new(src);
        while !r.is_empty() {
            let tag = r.varint64()?;
            let v = r.varint64()?;
            match tag {
                1 => p.num_entries = v,
                2 => p.num_deletions = v,
                3 => p.raw_key_bytes = v,
                4 => p.raw_value_bytes = v,
                5 => p.data_blocks = v,
                6 => p.smallest_seq = v,
                7 => p.largest_seq = v,
                8 => p.compression = v,
                9 => p.bloom_bits_per_key = v,
                _ => {}
            }
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let p = TableProperties {
            num_entries: 5,
            largest_seq: 99,
            ..Default::default()
        };
        assert_eq!(TableProperties::decode(&p.encode()), Some(p));
        assert_eq!(TableProperties::decode(&[0x80]), None);
    }
}
