//! Typed values: a one-byte tag in front of the payload.
//!
//! ```text
//! typed value = marker: u8 = 0xF5 | tag: u8 | payload
//! tags (frozen, never renumber):
//!   0 Bytes   payload = the bytes
//!   1 String  payload = UTF-8
//!   2 I64     payload = i64 LE (8 bytes)
//!   3 F64     payload = f64 bits LE (8 bytes)
//!   4 Bool    payload = 0 or 1 (1 byte)
//!   5 Serde   payload = JSON (with the `serde` feature)
//! ```
//!
//! Reading a key as a type it was not written as is an error, never a conversion; a value
//! written with plain `put` (no marker) is an error for `get_value`.

use bytes::Bytes;

use crate::error::{Error, Result};

/// Marks a value written by `put_value`.
pub const TYPED_MARKER: u8 = 0xF5;

/// Frozen type tags.
pub mod tag {
    /// Raw bytes.
    pub const BYTES: u8 = 0;
    /// UTF-8 text.
    pub const STRING: u8 = 1;
    /// Signed 64-bit integer.
    pub const I64: u8 = 2;
    /// 64-bit float.
    pub const F64: u8 = 3;
    /// Boolean.
    pub const BOOL: u8 = 4;
    /// A serde value as JSON.
    pub const SERDE: u8 = 5;
}

/// A typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Raw bytes.
    Bytes(Bytes),
    /// UTF-8 text.
    String(String),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl Value {
    /// The type's name, for errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bytes(_) => "Bytes",
            Value::String(_) => "String",
            Value::I64(_) => "I64",
            Value::F64(_) => "F64",
            Value::Bool(_) => "Bool",
        }
    }

    /// Encodes the value with its marker and tag.
    pub fn encode(&self) -> Vec<u8> {
        let (t, payload): (u8, Vec<u8>) = match self {
            Value::Bytes(b) => (tag::BYTES, b.to_vec()),
            Value::String(s) => (tag::STRING, s.as_bytes().to_vec()),
            Value::I64(i) => (tag::I64, i.to_le_bytes().to_vec()),
            Value::F64(f) => (tag::F64, f.to_bits().to_le_bytes().to_vec()),
            Value::Bool(b) => (tag::BOOL, vec![u8::from(*b)]),
        };
        let mut out = Vec::with_capacity(payload.len() + 2);
        out.push(TYPED_MARKER);
        out.push(t);
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes a value written by [`Value::encode`].
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when the bytes are not a typed value (no marker, unknown tag, bad
    /// length or UTF-8).
    pub fn decode(raw: &Bytes) -> Result<Value> {
        let bad = |why: &str| Err(Error::invalid(format!("not a typed value: {why}")));
        if raw.len() < 2 || raw[0] != TYPED_MARKER {
            return bad("missing marker (written with put, not put_value?)");
        }
        let p = raw.slice(2..);
        let eight = |p: &Bytes| -> Option<[u8; 8]> { p[..].try_into().ok() };
        match raw[1] {
            tag::BYTES => Ok(Value::Bytes(p)),
            tag::STRING => match String::from_utf8(p.to_vec()) {
                Ok(s) => Ok(Value::String(s)),
                Err(_) => bad("String is not UTF-8"),
            },
            tag::I64 => eight(&p).map_or_else(
                || bad("I64 needs 8 bytes"),
                |b| Ok(Value::I64(i64::from_le_bytes(b))),
            ),
            tag::F64 => eight(&p).map_or_else(
                || bad("F64 needs 8 bytes"),
                |b| Ok(Value::F64(f64::from_bits(u64::from_le_bytes(b)))),
            ),
            tag::BOOL => match &p[..] {
                [0] => Ok(Value::Bool(false)),
                [1] => Ok(Value::Bool(true)),
                _ => bad("Bool needs one byte, 0 or 1"),
            },
            tag::SERDE => bad("a serde value: read it with get_serde"),
            t => bad(&format!("unknown tag {t}")),
        }
    }
}

fn mismatch(want: &str, got: &Value) -> Error {
    Error::invalid(format!(
        "type mismatch: asked for {want}, stored as {}",
        got.type_name()
    ))
}

macro_rules! try_from_value {
    ($t:ty, $variant:ident, $name:literal) => {
        impl TryFrom<Value> for $t {
            type Error = Error;
            fn try_from(v: Value) -> Result<$t> {
                match v {
                    Value::$variant(x) => Ok(x.into()),
                    other => Err(mismatch($name, &other)),
                }
            }
        }
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::$variant(x.into())
            }
        }
    };
}

try_from_value!(i64, I64, "I64");
try_from_value!(f64, F64, "F64");
try_from_value!(bool, Bool, "Bool");
try_from_value!(String, String, "String");
try_from_value!(Bytes, Bytes, "Bytes");

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

#[cfg(feature = "serde")]
pub(crate) fn encode_serde<T: serde::Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    let mut out = vec![TYPED_MARKER, tag::SERDE];
    serde_json::to_writer(&mut out, v).map_err(|e| Error::invalid(format!("serializing: {e}")))?;
    Ok(out)
}

#[cfg(feature = "serde")]
pub(crate) fn decode_serde<T: serde::de::DeserializeOwned>(raw: &Bytes) -> Result<T> {
    if raw.len() < 2 || raw[0] != TYPED_MARKER || raw[1] != tag::SERDE {
        return Err(match Value::decode(raw) {
            Ok(v) => mismatch("a serde value", &v),
            Err(e) => e,
        });
    }
    serde_json::from_slice(&raw[2..]).map_err(|e| Error::invalid(format!("deserializing: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_frozen_encoding() {
        for v in [
            Value::Bytes(Bytes::from_static(b"\x00\xff")),
            Value::String("héllo".into()),
            Value::I64(-42),
            Value::F64(1.5),
            Value::Bool(true),
        ] {
            assert_eq!(Value::decode(&Bytes::from(v.encode())).unwrap(), v);
        }
        assert_eq!(Value::I64(1).encode(), [0xF5, 2, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Value::Bool(false).encode(), [0xF5, 4, 0]);
    }

    #[test]
    fn bad_bytes_and_mismatches_are_errors() {
        for raw in [
            &b""[..],
            b"plain",
            &[0xF5, 9],
            &[0xF5, 2, 1],
            &[0xF5, 4, 2],
            &[0xF5, 1, 0xff],
        ] {
            assert!(
                Value::decode(&Bytes::copy_from_slice(raw)).is_err(),
                "{raw:?}"
            );
        }
        assert!(i64::try_from(Value::F64(1.0))
            .unwrap_err()
            .is_invalid_argument());
        assert_eq!(i64::try_from(Value::I64(7)).unwrap(), 7);
    }
}
