//! Internal keys: a user key followed by an 8-byte trailer.
//!
//! ```text
//! internal key = user_key ++ trailer
//! trailer      = u64 little-endian: (sequence_number << 8) | kind
//! ```
//!
//! Internal keys order by user key ascending (bytewise), then by trailer descending, so the
//! newest version of a key comes first. The kind tags below are written to disk in WAL
//! batches and tables: **never renumber them**.

use std::cmp::Ordering;

use crate::limits::{SEQNO_MAX, TRAILER_BYTES};

/// What an entry records. Frozen on-disk tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// A tombstone: the key is deleted as of this sequence number.
    Delete = 0,
    /// A value stored inline.
    Put = 1,
    /// A value stored in the value log: the entry's value is a handle
    /// ([`crate::vlog::format::Handle`]) to the record holding it.
    Pointer = 2,
}

impl Kind {
    /// Decodes an on-disk tag.
    pub fn from_tag(tag: u8) -> Option<Kind> {
        match tag {
            0 => Some(Kind::Delete),
            1 => Some(Kind::Put),
            2 => Some(Kind::Pointer),
            _ => None,
        }
    }
}

/// The largest kind tag; a seek key with this kind sorts before every real entry of the
/// same user key and sequence number.
pub const KIND_FOR_SEEK: u8 = Kind::Pointer as u8;

/// Packs a sequence number and a kind into a trailer.
#[inline]
pub fn pack_trailer(seq: u64, kind: u8) -> u64 {
    debug_assert!(seq <= SEQNO_MAX);
    (seq << 8) | u64::from(kind)
}

/// Builds an internal key.
pub fn make_internal_key(user_key: &[u8], seq: u64, kind: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_BYTES);
    set_internal_key(&mut v, user_key, seq, kind);
    v
}

/// Makes `out` the internal key of `user_key` at `seq` with `kind`, reusing its allocation.
pub fn set_internal_key(out: &mut Vec<u8>, user_key: &[u8], seq: u64, kind: u8) {
    out.clear();
    out.extend_from_slice(user_key);
    out.extend_from_slice(&pack_trailer(seq, kind).to_le_bytes());
}

/// Splits an internal key. `None` when it is shorter than a trailer or its kind is unknown.
#[inline]
pub fn parse_internal_key(ikey: &[u8]) -> Option<(&[u8], u64, Kind)> {
    if ikey.len() < TRAILER_BYTES {
        return None;
    }
    let (uk, t) = ikey.split_at(ikey.len() - TRAILER_BYTES);
    let trailer = u64::from_le_bytes(t.try_into().ok()?);
    let kind = Kind::from_tag((trailer & 0xff) as u8)?;
    Some((uk, trailer >> 8, kind))
}

/// The user key of an internal key (callers guarantee the length).
#[inline]
pub fn user_key(ikey: &[u8]) -> &[u8] {
    &ikey[..ikey.len().saturating_sub(TRAILER_BYTES)]
}

/// The trailer of an internal key, 0 when too short.
#[inline]
pub fn trailer(ikey: &[u8]) -> u64 {
    if ikey.len() < TRAILER_BYTES {
        return 0;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&ikey[ikey.len() - TRAILER_BYTES..]);
    u64::from_le_bytes(t)
}

#[inline(always)]
fn load_be(s: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[..8]);
    u64::from_be_bytes(b)
}

/// Bytewise comparison, inlined 8 bytes at a time: short keys (the common case) skip the
/// call into `memcmp`, which dominated memtable inserts in profiles.
#[inline]
pub fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    if n > 64 {
        return a.cmp(b);
    }
    let mut i = 0;
    while i + 8 <= n {
        let (x, y) = (load_be(&a[i..]), load_be(&b[i..]));
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

/// Compares two internal keys: user key ascending, then trailer descending.
#[inline]
pub fn compare_internal(a: &[u8], b: &[u8]) -> Ordering {
    match cmp_bytes(user_key(a), user_key(b)) {
        Ordering::Equal => trailer(b).cmp(&trailer(a)),
        o => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_newest_first() {
        let a1 = make_internal_key(b"a", 1, 1);
        let a2 = make_internal_key(b"a", 2, 1);
        let ab = make_internal_key(b"ab", 0, 0);
        assert_eq!(compare_internal(&a2, &a1), Ordering::Less);
        assert_eq!(compare_internal(&a1, &ab), Ordering::Less);
        let (uk, seq, kind) = parse_internal_key(&a2).unwrap();
        assert_eq!((uk, seq, kind), (&b"a"[..], 2, Kind::Put));
        assert!(parse_internal_key(&[1, 2]).is_none());
        assert!(parse_internal_key(&make_internal_key(b"x", 1, 9)).is_none());
    }

    #[test]
    fn cmp_bytes_matches_slice_ordering() {
        let samples: Vec<Vec<u8>> = vec![
            vec![],
            b"a".to_vec(),
            b"ab".to_vec(),
            b"abcdefgh".to_vec(),
            b"abcdefghi".to_vec(),
            b"abcdefgi".to_vec(),
            vec![0xff; 9],
            vec![0; 16],
            vec![b'x'; 70],
            [vec![b'x'; 69], vec![b'y']].concat(),
        ];
        for a in &samples {
            for b in &samples {
                assert_eq!(cmp_bytes(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }
}
