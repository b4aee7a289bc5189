//! Arrays: `array_send`'s binary format, rendered as nested JSON arrays
//! (one per dimension, `null` elements kept, lower bounds dropped).

use super::identify::MAX_ARRAY_DIMENSIONS;
use super::{Codec, EncodeError, EncodeStats};

impl Codec {
    /// `array_send`: i32 dimensions, i32 has-nulls flag, u32 element OID,
    /// per dimension i32 length and i32 lower bound, then every element in
    /// row-major order as i32 length (-1 for NULL) and bytes.
    pub(super) fn encode_array(
        &self,
        raw: &[u8],
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        let mut reader = Reader { raw, at: 0 };
        let bad = |_| self.malformed(raw, "truncated array");
        let ndim = reader.i32().map_err(bad)?;
        let _has_nulls = reader.i32().map_err(bad)?;
        let _element_oid = reader.i32().map_err(bad)?;
        let ndim = usize::try_from(ndim)
            .ok()
            .filter(|n| *n <= MAX_ARRAY_DIMENSIONS)
            .ok_or_else(|| self.malformed(raw, "array dimension count out of range"))?;
        let mut dims = [0usize; MAX_ARRAY_DIMENSIONS];
        for dim in dims.iter_mut().take(ndim) {
            let len = reader.i32().map_err(bad)?;
            let _lower_bound = reader.i32().map_err(bad)?;
            *dim =
                usize::try_from(len).map_err(|_| self.malformed(raw, "negative array length"))?;
        }
        let dims = dims.get(..ndim).unwrap_or_default();
        if dims.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            self.encode_dimension(dims, &mut reader, out, stats)?;
        }
        if reader.at != raw.len() {
            return Err(self.malformed(raw, "trailing bytes after array"));
        }
        Ok(())
    }

    pub(super) fn encode_dimension(
        &self,
        dims: &[usize],
        reader: &mut Reader<'_>,
        out: &mut Vec<u8>,
        stats: &mut EncodeStats,
    ) -> Result<(), EncodeError> {
        let Some((&len, inner)) = dims.split_first() else {
            return Ok(());
        };
        out.push(b'[');
        for i in 0..len {
            if i > 0 {
                out.push(b',');
            }
            if inner.is_empty() {
                let raw = reader.raw;
                match reader
                    .field()
                    .map_err(|_| self.malformed(raw, "truncated array element"))?
                {
                    None => out.extend_from_slice(b"null"),
                    Some(element) => self.encode_scalar(element, out, stats)?,
                }
            } else {
                self.encode_dimension(inner, reader, out, stats)?;
            }
        }
        out.push(b']');
        Ok(())
    }
}

/// A cursor over a binary value with length-prefixed fields.
pub(super) struct Reader<'a> {
    pub(super) raw: &'a [u8],
    pub(super) at: usize,
}

/// The value ended early.
pub(super) struct Truncated;

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.at.checked_add(n).ok_or(Truncated)?;
        let bytes = self.raw.get(self.at..end).ok_or(Truncated)?;
        self.at = end;
        Ok(bytes)
    }

    pub(super) fn i32(&mut self) -> Result<i32, Truncated> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes(bytes.try_into().map_err(|_| Truncated)?))
    }

    /// A length-prefixed field; `None` for length -1 (NULL).
    pub(super) fn field(&mut self) -> Result<Option<&'a [u8]>, Truncated> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| Truncated)?;
        self.take(len).map(Some)
    }
}
