//! Rows of raw JSON cells → CSV bytes.
//!
//! Quoting follows the csv crate's own rule (`csv_core`'s `Necessary`
//! style: a field is quoted when it holds the delimiter, the quote
//! character, CR or LF; quotes inside are doubled), plus two cases the
//! csv crate's `Writer` cannot express per field: an empty string is
//! written `""` and a string equal to the NULL token is quoted, so that
//! NULL (the token, unquoted) and `''` stay distinct.

use singer_target::Row;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The CSV dialect and the NULL token.
#[derive(Debug)]
pub(crate) struct Encoder {
    delimiter: u8,
    quote: u8,
    terminator: &'static [u8],
    null: Vec<u8>,
    /// The bytes that make a field need quotes (csv_core's `Necessary`
    /// rule: delimiter, quote, CR, LF), each repeated over a word.
    special: [u64; 4],
}

/// What one pass over a cell's text found.
#[derive(Debug, Default, Clone, Copy)]
struct Found {
    /// A byte that needs the field quoted.
    special: bool,
    /// A backslash: a JSON string with escapes.
    backslash: bool,
}

impl Encoder {
    pub(crate) fn new(delimiter: u8, quote: u8, terminator: &'static [u8], null: &str) -> Self {
        Self {
            delimiter,
            quote,
            terminator,
            null: null.as_bytes().to_vec(),
            special: [delimiter, quote, b'\r', b'\n'].map(|b| ONES * u64::from(b)),
        }
    }

    /// The header line.
    pub(crate) fn header(&self, columns: &[String], out: &mut Vec<u8>) {
        for (i, name) in columns.iter().enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            self.text(name.as_bytes(), out);
        }
        out.extend_from_slice(self.terminator);
    }

    /// One row. `Err(column index)` for a string cell that is not valid
    /// JSON text (cannot happen for cells the driver produced).
    pub(crate) fn row(
        &self,
        row: &Row<'_>,
        columns: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), (usize, serde_json::Error)> {
        for index in 0..columns {
            if index > 0 {
                out.push(self.delimiter);
            }
            match row.get_bytes(index) {
                None | Some(b"null") => out.extend_from_slice(&self.null),
                Some([b'"', inner @ .., b'"']) => {
                    let found = self.find(inner);
                    if found.backslash {
                        let text = row.get(index).unwrap_or_default();
                        let value =
                            singer_protocol::json_string_content(text).map_err(|e| (index, e))?;
                        self.text(value.as_bytes(), out);
                    } else {
                        self.write(inner, found, out);
                    }
                }
                // Numbers as received (every digit), true/false, and objects
                // or arrays as their JSON text.
                Some(text) => self.write(text, self.find(text), out),
            }
        }
        out.extend_from_slice(self.terminator);
        Ok(())
    }

    fn text(&self, text: &[u8], out: &mut Vec<u8>) {
        self.write(text, self.find(text), out);
    }

    /// Writes `text`, quoted when it needs to be or when it would read as
    /// NULL or as nothing.
    #[inline]
    fn write(&self, text: &[u8], found: Found, out: &mut Vec<u8>) {
        let force = text.is_empty() || text == self.null.as_slice();
        if !force && !found.special {
            out.extend_from_slice(text);
            return;
        }
        out.push(self.quote);
        for chunk in text.split_inclusive(|b| *b == self.quote) {
            out.extend_from_slice(chunk);
            if chunk.last() == Some(&self.quote) {
                out.push(self.quote);
            }
        }
        out.push(self.quote);
    }

    /// One pass over `text`, a word at a time.
    #[inline]
    fn find(&self, text: &[u8]) -> Found {
        let mut special = 0;
        let mut backslash = 0;
        let mut words = text.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            special |= self
                .special
                .iter()
                .fold(0, |any, s| any | zero_bytes(word ^ s));
            backslash |= zero_bytes(word ^ (ONES * u64::from(b'\\')));
        }
        let mut found = Found {
            special: special != 0,
            backslash: backslash != 0,
        };
        for &byte in words.remainder() {
            found.special |=
                byte == self.delimiter || byte == self.quote || byte == b'\r' || byte == b'\n';
            found.backslash |= byte == b'\\';
        }
        found
    }
}

/// The high bit of each byte of `word` that may be zero; nonzero exactly
/// when some byte is zero.
#[inline]
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

#[cfg(test)]
mod tests {
    use super::*;
    use singer_target::Batch;

    fn encode(cells: &[Option<&str>], null: &str) -> String {
        let mut batch = Batch::new(cells.len());
        batch.push_row(cells.iter().copied());
        let encoder = Encoder::new(b',', b'"', b"\n", null);
        let mut out = Vec::new();
        for row in batch.rows() {
            encoder.row(&row, cells.len(), &mut out).expect("encodes");
        }
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn values_are_written_exactly() {
        assert_eq!(
            encode(
                &[
                    Some("12345678901234567890.123456789012345678"),
                    Some("1e400"),
                    Some(r#""a,b""#),
                    Some(r#""say \"hi\"\nnow""#),
                    Some(r#""""#),
                    None,
                    Some("null"),
                    Some(r#"{"a":[1,2.50]}"#),
                    Some("true"),
                    Some(r#""ünï 🚀""#),
                ],
                ""
            ),
            "12345678901234567890.123456789012345678,1e400,\"a,b\",\"say \"\"hi\"\"\nnow\",\"\",,,\"{\"\"a\"\":[1,2.50]}\",true,ünï 🚀\n"
        );
        assert_eq!(
            encode(&[None, Some(r#""\\N""#), Some(r#""""#)], "\\N"),
            "\\N,\"\\N\",\"\"\n"
        );
        let mut out = Vec::new();
        Encoder::new(b';', b'\'', b"\r\n", "")
            .header(&["a;b".to_owned(), "it's".to_owned()], &mut out);
        assert_eq!(out, b"'a;b';'it''s'\r\n");
    }

    /// Quoting decisions equal csv_core's `Necessary` style for every
    /// dialect byte, at every position of a word and past it.
    #[test]
    fn quotes_exactly_where_csv_core_does() {
        for (delimiter, quote) in [(b',', b'"'), (b';', b'\''), (b'\t', b'"'), (b'|', b'`')] {
            let encoder = Encoder::new(delimiter, quote, b"\n", "");
            let quoter = csv_core::WriterBuilder::new()
                .delimiter(delimiter)
                .quote(quote)
                .quote_style(csv_core::QuoteStyle::Necessary)
                .build();
            for len in 1..20 {
                for at in 0..len {
                    for byte in [
                        delimiter, quote, b'\r', b'\n', b'\\', b'a', 0x80, 0xff, 0, b' ',
                    ] {
                        let mut text = vec![b'x'; len];
                        text[at] = byte;
                        let found = encoder.find(&text);
                        assert_eq!(
                            found.special,
                            quoter.should_quote(&text),
                            "{text:?} ({delimiter}, {quote})"
                        );
                        assert_eq!(found.backslash, byte == b'\\', "{text:?}");
                    }
                }
            }
        }
    }
}
