//! Rows of raw JSON cells → CSV bytes.
//!
//! Quoting follows the csv crate's own rule (`csv_core`'s `Necessary`
//! style: a field is quoted when it holds the delimiter, the quote
//! character, CR or LF; quotes inside are doubled), plus two cases the
//! csv crate's `Writer` cannot express per field: an empty string is
//! written `""` and a string equal to the NULL token is quoted, so that
//! NULL (the token, unquoted) and `''` stay distinct.

use std::borrow::Cow;

use singer_target::Row;

/// The CSV dialect and the NULL token.
#[derive(Debug)]
pub(crate) struct Encoder {
    delimiter: u8,
    quote: u8,
    terminator: &'static [u8],
    null: Vec<u8>,
    quoter: csv_core::Writer,
}

impl Encoder {
    pub(crate) fn new(delimiter: u8, quote: u8, terminator: &'static [u8], null: &str) -> Self {
        let quoter = csv_core::WriterBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .terminator(csv_core::Terminator::CRLF)
            .quote_style(csv_core::QuoteStyle::Necessary)
            .build();
        Self {
            delimiter,
            quote,
            terminator,
            null: null.as_bytes().to_vec(),
            quoter,
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
            match row.get(index) {
                None | Some("null") => out.extend_from_slice(&self.null),
                Some(text) if text.starts_with('"') => {
                    let value = json_string(text).map_err(|e| (index, e))?;
                    self.text(value.as_bytes(), out);
                }
                // Numbers as received (every digit), true/false, and objects
                // or arrays as their JSON text.
                Some(text) => self.text(text.as_bytes(), out),
            }
        }
        out.extend_from_slice(self.terminator);
        Ok(())
    }

    fn text(&self, text: &[u8], out: &mut Vec<u8>) {
        let force = text.is_empty() || text == self.null.as_slice();
        if !force && !self.quoter.should_quote(text) {
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
}

/// The text of a JSON string literal, borrowed when it has no escapes.
fn json_string(text: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
        && !inner.contains('\\')
    {
        return Ok(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).map(Cow::Owned)
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
}
