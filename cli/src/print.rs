//! Printing keys and values safely: the library's `inspect::dump::show_bytes` (UTF-8 text
//! as is, anything else escaped as `\xNN`), or everything as hex with `--hex`.

use std::fmt::Write;

/// Renders bytes for a terminal.
pub fn show(b: &[u8], hex: bool) -> String {
    if hex {
        return b
            .iter()
            .fold(String::with_capacity(b.len() * 2), |mut s, x| {
                let _ = write!(s, "{x:02x}");
                s
            });
    }
    stratakv::inspect::dump::show_bytes(b)
}

/// Parses hex (an even number of hex digits).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_rendering() {
        assert_eq!(show(b"hello", false), "hello");
        assert_eq!(show(b"a\nb", false), "a\\nb");
        assert_eq!(show(&[0xff, b'a'], false), "\\xffa");
        assert_eq!(show(&[0xff, 0x01], true), "ff01");
        assert_eq!(from_hex("ff01"), Some(vec![0xff, 1]));
        assert_eq!(from_hex("f"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
