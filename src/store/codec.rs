//! The byte primitives every encoding on disk is made of: little-endian integers,
//! length-prefixed strings and lists, options; a [`Writer`] and a [`Reader`] that never
//! panics on arbitrary bytes, and [`DecodeError`], what a reader says of bytes it refuses.
//!
//! Primitives: `u8`, `u32` and `u64` little-endian; `bool` is a `u8` 0 or 1; a string or
//! byte string is its length (`u32`) and bytes (strings are UTF-8); a list of ids is its
//! length (`u32`) and `u32`s; `Option<T>` is `u8` 0, or `u8` 1 and `T`. What the bytes mean
//! (record kinds, the codes of enums) is the journal's (`journal/codes.rs`), never this
//! layer's.

use thiserror::Error;

/// Something the write-ahead log can frame: it appends its own encoding to `out`.
pub(crate) trait Encode {
    fn encode(&self, out: &mut Vec<u8>);
}

/// Bytes a reader refuses. Decoding is strict: every variant is damage, never a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub(crate) enum DecodeError {
    /// The bytes end inside a field.
    #[error("truncated")]
    Truncated,
    /// Bytes are left after a complete value.
    #[error("{0} bytes after the end")]
    TrailingBytes(usize),
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A byte that names no value of its type (an enum's code, a boolean, an option tag).
    #[error("no {what} has code {code}")]
    UnknownCode { what: &'static str, code: u8 },
    /// A nested value beyond the bound that keeps decoding's recursion and memory finite.
    #[error("{0} too large")]
    TooLarge(&'static str),
}

/// Appends primitives to a buffer.
pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A length as a `u32`. Every length the engine writes was validated far below 4 GiB
    /// (message limits, the id space), so the cast keeps it whole.
    pub(crate) fn len(&mut self, n: usize) {
        debug_assert!(u32::try_from(n).is_ok(), "a length past u32");
        self.u32(n as u32);
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.0.extend_from_slice(v);
    }
    pub(crate) fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub(crate) fn opt_str(&mut self, v: Option<&str>) {
        match v {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    pub(crate) fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.u32(x);
            }
        }
    }
    pub(crate) fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.u64(x);
            }
        }
    }
    pub(crate) fn opt_pair(&mut self, v: Option<(u32, u32)>) {
        match v {
            None => self.u8(0),
            Some((a, b)) => {
                self.u8(1);
                self.u32(a);
                self.u32(b);
            }
        }
    }
    pub(crate) fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        for x in v {
            self.u32(*x);
        }
    }
}

/// Reads primitives off the front of a byte slice. Every method checks the length first:
/// no input makes it panic, and no length field makes it allocate more than the input
/// could hold.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            code => Err(DecodeError::UnknownCode {
                what: "boolean",
                code,
            }),
        }
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// A length prefix for a list of items of `item_bytes` each, refused if the rest of
    /// the input cannot hold that many (so a forged length allocates nothing).
    pub(crate) fn len(&mut self, item_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n > self.0.len() / item_bytes.max(1) {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8)
    }
    fn option(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            code => Err(DecodeError::UnknownCode {
                what: "option tag",
                code,
            }),
        }
    }
    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        if self.option()? {
            self.string().map(Some)
        } else {
            Ok(None)
        }
    }
    pub(crate) fn opt_u32(&mut self) -> Result<Option<u32>, DecodeError> {
        if self.option()? {
            self.u32().map(Some)
        } else {
            Ok(None)
        }
    }
    pub(crate) fn opt_u64(&mut self) -> Result<Option<u64>, DecodeError> {
        if self.option()? {
            self.u64().map(Some)
        } else {
            Ok(None)
        }
    }
    pub(crate) fn opt_pair(&mut self) -> Result<Option<(u32, u32)>, DecodeError> {
        if self.option()? {
            Ok(Some((self.u32()?, self.u32()?)))
        } else {
            Ok(None)
        }
    }
    pub(crate) fn u32s(&mut self) -> Result<Vec<u32>, DecodeError> {
        let n = self.len(4)?;
        (0..n).map(|_| self.u32()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_length_is_refused_before_anything_is_allocated() {
        let mut bytes = Vec::new();
        Writer(&mut bytes).u32(u32::MAX);
        assert_eq!(Reader(&bytes).u32s(), Err(DecodeError::Truncated));
        assert_eq!(Reader(&bytes).bytes(), Err(DecodeError::Truncated));
    }

    #[test]
    fn booleans_and_option_tags_are_strict() {
        assert_eq!(
            Reader(&[2]).bool(),
            Err(DecodeError::UnknownCode {
                what: "boolean",
                code: 2
            })
        );
        assert!(Reader(&[7]).opt_u32().is_err());
        assert_eq!(Reader(&[1, 0]).finish(), Err(DecodeError::TrailingBytes(2)));
    }
}
