//! A streaming reader of Singer messages.

use std::io::{BufRead, ErrorKind};

use crate::error::{Error, Result};
use crate::message::Message;

/// The default limit on one input line: 64 MiB. Generous for wide records,
/// small enough that a runaway line is an error, not an out-of-memory kill.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// A message together with the 1-based input line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LineMessage {
    /// The 1-based line number.
    pub line: u64,
    /// The message.
    pub message: Message,
}

/// Reads Singer messages, one per line, from any [`BufRead`].
///
/// Blank lines are skipped, a trailing `\r` is dropped and a UTF-8 byte order
/// mark on the first line is ignored. Memory is bounded by the longest line,
/// which is bounded by [`Reader::with_max_line_bytes`].
///
/// After a bad line the reader can go on with the next one: the error names
/// the line, and the bad line has been consumed in full. An I/O error ends
/// the input.
///
/// ```
/// use singer_protocol::{Message, Reader};
///
/// let input = "{\"type\":\"STATE\",\"value\":{}}\n\n{\"type\":\"record\",\"stream\":\"s\",\"record\":{\"n\":1e400}}\n";
/// let mut reader = Reader::new(input.as_bytes());
/// let first = reader.read_message()?.expect("a message");
/// assert_eq!((first.line, first.message.type_name()), (1, "STATE"));
/// let second = reader.read_message()?.expect("a message");
/// assert_eq!(second.line, 3);
/// let Message::Record(record) = second.message else { unreachable!() };
/// assert_eq!(record.record.get(), r#"{"n":1e400}"#);
/// assert!(reader.read_message()?.is_none());
/// # Ok::<(), singer_protocol::Error>(())
/// ```
#[derive(Debug)]
pub struct Reader<R> {
    lines: LineReader<R>,
}

impl<R: BufRead> Reader<R> {
    /// A reader with the default line limit ([`DEFAULT_MAX_LINE_BYTES`]).
    pub fn new(inner: R) -> Self {
        Self {
            lines: LineReader::new(inner),
        }
    }

    /// Sets the longest line accepted, in bytes (without the terminator).
    #[must_use]
    pub fn with_max_line_bytes(mut self, max_line_bytes: usize) -> Self {
        self.lines = self.lines.with_max_line_bytes(max_line_bytes);
        self
    }

    /// The number of the last line read (0 before the first).
    #[must_use]
    pub fn line(&self) -> u64 {
        self.lines.line()
    }

    /// Reads the next message; `Ok(None)` at the end of the input.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] when the input fails, [`Error::LineTooLong`],
    /// [`Error::InvalidUtf8`] and the errors of [`Message::parse`] for a bad
    /// line.
    pub fn read_message(&mut self) -> Result<Option<LineMessage>> {
        let Some((line, bytes)) = self.lines.read_line()? else {
            return Ok(None);
        };
        let text = line_text(bytes, line)?;
        let message = Message::parse(text, line)?;
        Ok(Some(LineMessage { line, message }))
    }
}

/// The UTF-8 text of a line from [`LineReader::read_line`].
///
/// # Errors
///
/// [`Error::InvalidUtf8`] naming the line and the first bad byte.
pub fn line_text(bytes: &[u8], line: u64) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| Error::InvalidUtf8 {
        line,
        column: e.valid_up_to() + 1,
    })
}

/// The message of line number `line` (its text without the terminator):
/// a first-line byte order mark dropped, ASCII whitespace around it
/// trimmed; `None` for a blank line. The line rules of [`LineReader`] and
/// [`crate::BlockReader`].
pub(crate) fn message_bytes(line: u64, text: &[u8]) -> Option<&[u8]> {
    let text = if line == 1 {
        text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text)
    } else {
        text
    };
    Some(text.trim_ascii()).filter(|trimmed| !trimmed.is_empty())
}

/// Splits any [`BufRead`] into the lines that carry Singer messages: the
/// line rules of [`Reader`] (blank lines skipped, surrounding ASCII
/// whitespace and a first-line byte order mark dropped, a length limit)
/// without parsing, for callers that parse lines themselves.
///
/// ```
/// use singer_protocol::LineReader;
///
/// let mut lines = LineReader::new("\u{feff}{\"a\":1}\r\n\n {}\n".as_bytes());
/// assert_eq!(lines.read_line()?, Some((1, &b"{\"a\":1}"[..])));
/// assert_eq!(lines.read_line()?, Some((3, &b"{}"[..])));
/// assert_eq!(lines.read_line()?, None);
/// # Ok::<(), singer_protocol::Error>(())
/// ```
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    line: u64,
    max_line_bytes: usize,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    /// A line reader with the default limit ([`DEFAULT_MAX_LINE_BYTES`]).
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            line: 0,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            done: false,
        }
    }

    /// Sets the longest line accepted, in bytes (without the terminator).
    #[must_use]
    pub fn with_max_line_bytes(mut self, max_line_bytes: usize) -> Self {
        self.max_line_bytes = max_line_bytes;
        self
    }

    /// The number of the last line read (0 before the first).
    #[must_use]
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next line that is not blank, trimmed, with its 1-based number;
    /// `Ok(None)` at the end of the input. After an error for a too long
    /// line the next call reads the line after it.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] when the input fails (which ends it) and
    /// [`Error::LineTooLong`].
    pub fn read_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let read = self.read_line_into(&mut buf);
        self.buf = buf;
        Ok(match read? {
            Some((line, range)) => self.buf.get(range).map(|text| (line, text)),
            None => None,
        })
    }

    /// [`LineReader::read_line`], appending the line to `out` (which keeps
    /// what it held) and answering where it is there: for a caller that
    /// collects lines in one buffer, with no copy in between.
    ///
    /// # Errors
    ///
    /// As [`LineReader::read_line`]; `out` then holds what it held before.
    pub fn read_line_into(
        &mut self,
        out: &mut Vec<u8>,
    ) -> Result<Option<(u64, std::ops::Range<usize>)>> {
        let base = out.len();
        loop {
            out.truncate(base);
            if !self.next_line(out, base)? {
                out.truncate(base);
                return Ok(None);
            }
            let text = out.get(base..).unwrap_or_default();
            if let Some(trimmed) = message_bytes(self.line, text) {
                let start = trimmed.as_ptr().addr().saturating_sub(out.as_ptr().addr());
                return Ok(Some((self.line, start..start + trimmed.len())));
            }
        }
    }

    /// Appends the next line to `buf` (whose line starts at `base`),
    /// without its terminator; `false` at the end of the input.
    fn next_line(&mut self, buf: &mut Vec<u8>, base: usize) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        self.line += 1;
        let line = self.line;
        let mut too_long = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => {
                    self.done = true;
                    buf.truncate(base);
                    return Err(Error::Read { line, source });
                }
            };
            if available.is_empty() {
                self.done = true;
                if too_long {
                    return Err(self.too_long());
                }
                return Ok(buf.len() > base);
            }
            let (chunk, consumed, found) = match memchr::memchr(b'\n', available) {
                Some(end) => (available.get(..end).unwrap_or_default(), end + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if buf.len() - base + chunk.len() > self.max_line_bytes {
                    too_long = true;
                    buf.truncate(base);
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            self.inner.consume(consumed);
            if found {
                if too_long {
                    return Err(self.too_long());
                }
                return Ok(true);
            }
        }
    }

    fn too_long(&self) -> Error {
        Error::LineTooLong {
            line: self.line,
            limit: self.max_line_bytes,
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<LineMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_message().transpose()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use super::*;

    fn read_all(input: &[u8], limit: usize) -> Vec<Result<u64, String>> {
        Reader::new(BufReader::with_capacity(8, input))
            .with_max_line_bytes(limit)
            .map(|r| r.map(|m| m.line).map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn numbers_lines_and_skips_blank_ones() {
        let input = b"\xEF\xBB\xBF{\"type\":\"STATE\",\"value\":1}\r\n\n   \n{\"type\":\"STATE\",\"value\":2}";
        assert_eq!(read_all(input, 100), [Ok(1), Ok(4)]);
    }

    #[test]
    fn too_long_line_is_an_error_and_reading_resumes_after_it() {
        let long = format!("{{\"type\":\"STATE\",\"value\":\"{}\"}}", "x".repeat(100));
        let input = format!(
            "{{\"type\":\"STATE\",\"value\":1}}\n{long}\n{{\"type\":\"STATE\",\"value\":3}}\n{long}"
        );
        assert_eq!(
            read_all(input.as_bytes(), 64),
            [
                Ok(1),
                Err("line 2: longer than the limit of 64 bytes".into()),
                Ok(3),
                Err("line 4: longer than the limit of 64 bytes".into()),
            ]
        );
    }

    #[test]
    fn invalid_utf8_names_line_and_byte() {
        let input = b"{\"type\":\"STATE\",\"value\":1}\n{\"type\":\"STATE\",\"value\":\"\xff\"}\n";
        assert_eq!(
            read_all(input, 100),
            [Ok(1), Err("line 2, column 26: not valid UTF-8".into())]
        );
    }

    #[test]
    fn read_errors_end_the_input() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let results: Vec<_> = Reader::new(BufReader::new(Failing)).collect();
        assert_eq!(results.len(), 1);
        assert_eq!(
            results[0]
                .as_ref()
                .map(|_| ())
                .map_err(|e| crate::ErrorChain(e).to_string()),
            Err("line 1: reading input failed: disk on fire".into())
        );
    }

    #[test]
    fn lines_collect_in_one_buffer() {
        let input = b"\xEF\xBB\xBF {\"a\":1}\r\n\n  \n{\"b\":2}";
        let mut lines = LineReader::new(BufReader::with_capacity(3, &input[..]));
        let mut out = b"kept".to_vec();
        let first = lines
            .read_line_into(&mut out)
            .expect("reads")
            .expect("a line");
        let second = lines
            .read_line_into(&mut out)
            .expect("reads")
            .expect("a line");
        assert!(lines.read_line_into(&mut out).expect("reads").is_none());
        assert_eq!((first.0, &out[first.1]), (1, &b"{\"a\":1}"[..]));
        assert_eq!((second.0, &out[second.1]), (4, &b"{\"b\":2}"[..]));
        assert!(out.starts_with(b"kept"));
    }

    #[test]
    fn every_split_of_the_input_reads_the_same() {
        let input = "{\"type\":\"STATE\",\"value\":1}\n{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"a\":\"\u{e9}\"}}\n";
        for capacity in 1..input.len() {
            let messages: Vec<_> =
                Reader::new(BufReader::with_capacity(capacity, input.as_bytes()))
                    .map(|m| m.expect("valid").line)
                    .collect();
            assert_eq!(messages, [1, 2], "capacity {capacity}");
        }
    }
}
