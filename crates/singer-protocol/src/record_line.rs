//! One pass over a `RECORD` line, borrowing everything from it.
//!
//! A target reads millions of `RECORD` lines. [`Message::parse`] decodes
//! the envelope and keeps the record as raw text, which is then parsed a
//! second time into columns, and allocates the stream name and the record
//! per line. [`RecordLine::scan`] reads the line once, checks that it is
//! well-formed JSON, and returns the envelope's fields and the byte ranges
//! of the record's top-level properties, allocating nothing (the caller
//! owns and reuses the list of ranges).
//!
//! It is a fast path, never a second definition of the protocol: it
//! answers `None` for anything it does not read the same way
//! [`Message::parse`] does (another message type, an escape in the stream
//! name or a property name, a `\uD800`-`\uDFFF` escape, a repeated
//! envelope field, deep nesting, malformed JSON), and the caller then
//! parses the line with [`Message::parse`], which accepts it or explains
//! what is wrong. When it answers `Some`, [`Message::parse`] gives the same
//! record (a test checks this on generated and mutated lines).
//!
//! [`Message::parse`]: crate::Message::parse

use std::ops::Range;

/// Nesting deeper than this goes to [`crate::Message::parse`], whose JSON
/// parser has a recursion limit of its own (128).
const MAX_DEPTH: u32 = 64;

/// A `RECORD` line read by [`RecordLine::scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLine<'a> {
    line: &'a str,
    /// The stream name.
    pub stream: &'a str,
    /// The record, a JSON object, as raw text.
    pub record: &'a str,
    /// The table version.
    pub version: Option<u64>,
    /// The extraction time as written (it has no escapes).
    pub time_extracted: Option<&'a str>,
}

/// Where one top-level property of a record is in its line: the name
/// without quotes (it has no escapes) and the value's raw JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertySpan {
    name: Range<usize>,
    value: Range<usize>,
}

impl<'a> RecordLine<'a> {
    /// Reads `line` (one message, trimmed) if it is a `RECORD` in the forms
    /// this fast path covers; `properties` is cleared and then holds the
    /// record's top-level properties in order.
    ///
    /// ```
    /// use singer_protocol::RecordLine;
    ///
    /// let line = r#"{"type":"RECORD","stream":"s","record":{"id":1,"n":"x"},"version":7}"#;
    /// let mut spans = Vec::new();
    /// let record = RecordLine::scan(line, &mut spans).expect("a plain RECORD line");
    /// assert_eq!((record.stream, record.version), ("s", Some(7)));
    /// let properties: Vec<_> = record.properties(&spans).collect();
    /// assert_eq!(properties, [("id", "1"), ("n", "\"x\"")]);
    /// assert!(RecordLine::scan(r#"{"type":"STATE","value":{}}"#, &mut spans).is_none());
    /// ```
    #[must_use]
    pub fn scan(line: &'a str, properties: &mut Vec<PropertySpan>) -> Option<Self> {
        properties.clear();
        let mut scan = Scan {
            bytes: line.as_bytes(),
            at: 0,
        };
        let mut seen = 0_u16;
        let mut stream = None;
        let mut record = None;
        let mut version = None;
        let mut time_extracted = None;
        let mut is_record = false;
        scan.byte(b'{')?;
        scan.space();
        if scan.peek()? == b'}' {
            return None;
        }
        loop {
            scan.space();
            let key = scan.plain_string()?;
            let field = envelope_field(line.as_bytes().get(key)?);
            if let Some(field) = field {
                let bit = 1 << field;
                if seen & bit != 0 {
                    return None;
                }
                seen |= bit;
            }
            scan.space();
            scan.byte(b':')?;
            scan.space();
            match field {
                Some(TYPE) => {
                    let kind = scan.plain_string()?;
                    is_record = line.get(kind)?.eq_ignore_ascii_case(crate::message::RECORD);
                    if !is_record {
                        return None;
                    }
                }
                Some(STREAM) => stream = Some(scan.plain_string()?),
                Some(RECORD) => {
                    let start = scan.at;
                    scan.record_object(properties)?;
                    record = Some(start..scan.at);
                }
                Some(VERSION) => {
                    let start = scan.at;
                    scan.value(1)?;
                    version = Some(line.get(start..scan.at)?.parse::<u64>().ok()?);
                }
                Some(TIME_EXTRACTED) => {
                    if scan.peek()? == b'n' {
                        scan.literal(b"null")?;
                    } else {
                        time_extracted = Some(scan.plain_string()?);
                    }
                }
                _ => scan.value(1)?,
            }
            scan.space();
            match scan.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
        scan.space();
        if scan.at != line.len() || !is_record {
            return None;
        }
        Some(Self {
            line,
            stream: line.get(stream?)?,
            record: line.get(record?)?,
            version,
            time_extracted: match time_extracted {
                Some(range) => Some(line.get(range)?),
                None => None,
            },
        })
    }

    /// The record's top-level properties from [`RecordLine::scan`]'s list:
    /// `(name, raw JSON value)`.
    pub fn properties<'s>(
        &self,
        spans: &'s [PropertySpan],
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 's
    where
        'a: 's,
    {
        let line = self.line;
        spans.iter().map(move |span| {
            (
                line.get(span.name.clone()).unwrap_or_default(),
                line.get(span.value.clone()).unwrap_or_default(),
            )
        })
    }
}

const TYPE: u8 = 0;
const STREAM: u8 = 1;
const RECORD: u8 = 2;
const VERSION: u8 = 3;
const TIME_EXTRACTED: u8 = 4;

/// Whether `text`, one JSON array, has only elements (as raw JSON text) for
/// which `each` is true; `false` for text that is not a well-formed array
/// (or nests deeper than this fast path reads).
///
/// ```
/// assert!(singer_protocol::all_array_elements(r#"["a", "b"]"#, |e| e.starts_with('"')));
/// assert!(!singer_protocol::all_array_elements(r#"["a", 1]"#, |e| e.starts_with('"')));
/// assert!(!singer_protocol::all_array_elements(r#"["a",]"#, |_| true));
/// ```
pub fn all_array_elements(text: &str, mut each: impl FnMut(&str) -> bool) -> bool {
    let mut scan = Scan {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut elements = || -> Option<bool> {
        scan.byte(b'[')?;
        scan.space();
        if scan.peek()? == b']' {
            scan.at += 1;
        } else {
            loop {
                scan.space();
                let start = scan.at;
                scan.value(2)?;
                if !each(text.get(start..scan.at)?) {
                    return Some(false);
                }
                scan.space();
                match scan.next()? {
                    b',' => {}
                    b']' => break,
                    _ => return None,
                }
            }
        }
        scan.space();
        Some(scan.at == text.len())
    };
    elements().unwrap_or(false)
}

/// Whether `text` is one JSON object each of whose members `each` accepts
/// (called with the name, which must have no escapes, and the value's
/// raw text, in order; the first `false` ends the walk); `false` for text
/// that is not a well-formed object, has a name with escapes, or nests
/// deeper than this fast path reads.
///
/// ```
/// let mut names = Vec::new();
/// assert!(singer_protocol::all_object_members(r#"{"a": 1, "b": [2]}"#, |name, value| {
///     names.push((name.to_owned(), value.to_owned()));
///     true
/// }));
/// assert_eq!(names, [("a".into(), "1".into()), ("b".into(), "[2]".into())]);
/// assert!(!singer_protocol::all_object_members(r#"{"a": 1,}"#, |_, _| true));
/// assert!(!singer_protocol::all_object_members(r#"{"\u0061": 1}"#, |_, _| true));
/// ```
pub fn all_object_members<'t>(
    text: &'t str,
    mut each: impl FnMut(&'t str, &'t str) -> bool,
) -> bool {
    let mut scan = Scan {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut accepted = true;
    let read = scan
        .object(2, true, |name, value| {
            if accepted {
                accepted = match (text.get(name), text.get(value)) {
                    (Some(name), Some(value)) => each(name, value),
                    _ => false,
                };
            }
        })
        .is_some();
    scan.space();
    read && accepted && scan.at == text.len()
}

/// The envelope fields [`crate::Message::parse`] knows (each may appear
/// once), numbered.
fn envelope_field(name: &[u8]) -> Option<u8> {
    Some(match name {
        b"type" => TYPE,
        b"stream" => STREAM,
        b"record" => RECORD,
        b"version" => VERSION,
        b"time_extracted" => TIME_EXTRACTED,
        b"schema" => 5,
        b"key_properties" => 6,
        b"bookmark_properties" => 7,
        b"value" => 8,
        b"encoding" => 9,
        b"manifest" => 10,
        _ => return None,
    })
}

/// A cursor over a line; every method answers `None` on anything the fast
/// path leaves to the full parser.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

impl Scan<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    #[inline]
    fn byte(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    #[inline]
    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn literal(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.at.checked_add(literal.len())?;
        (self.bytes.get(self.at..end)? == literal).then(|| self.at = end)
    }

    /// Skips string content up to the next `"`, `\` or control character.
    #[inline]
    fn skip_plain(&mut self) {
        while let Some(chunk) = self
            .bytes
            .get(self.at..self.at + 8)
            .and_then(|c| <[u8; 8]>::try_from(c).ok())
        {
            let word = u64::from_le_bytes(chunk);
            let quote = word ^ (ONES * u64::from(b'"'));
            let backslash = word ^ (ONES * u64::from(b'\\'));
            // A byte is flagged when it is zero (for `quote` and
            // `backslash`) or below 0x20 (for `word`); the lowest flag is
            // always exact.
            let flags = (quote.wrapping_sub(ONES) & !quote
                | backslash.wrapping_sub(ONES) & !backslash
                | word.wrapping_sub(ONES * 0x20) & !word)
                & HIGHS;
            if flags != 0 {
                self.at += (flags.trailing_zeros() / 8) as usize;
                return;
            }
            self.at += 8;
        }
        while let Some(byte) = self.peek() {
            if byte == b'"' || byte == b'\\' || byte < 0x20 {
                return;
            }
            self.at += 1;
        }
    }

    /// A string without escapes: the range of its content.
    #[inline]
    fn plain_string(&mut self) -> Option<Range<usize>> {
        self.byte(b'"')?;
        let start = self.at;
        self.skip_plain();
        let end = self.at;
        self.byte(b'"')?;
        Some(start..end)
    }

    /// Any string, escapes checked: what the full parser accepts, except
    /// `\uD800`-`\uDFFF` (left to it: it decides on surrogate pairs).
    #[inline]
    fn string(&mut self) -> Option<()> {
        self.byte(b'"')?;
        loop {
            self.skip_plain();
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let end = self.at.checked_add(4)?;
                        let hex = self.bytes.get(self.at..end)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit)
                            || matches!(hex.first(), Some(b'd' | b'D'))
                                && matches!(
                                    hex.get(1),
                                    Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
                                )
                        {
                            return None;
                        }
                        self.at = end;
                    }
                    _ => return None,
                },
                // A control character.
                _ => return None,
            }
        }
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    #[inline]
    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.at += 1;
                }
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    /// Any JSON value at nesting `depth` (the envelope is 1). Scalars are
    /// read in line (most values are); objects and arrays by
    /// [`Scan::container`].
    #[inline]
    fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' | b'[' => self.container(depth),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// An object or an array at nesting `depth`.
    #[inline(never)]
    fn container(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(nested(depth)?, false, |_, _| {}),
            _ => {
                let depth = nested(depth)?;
                self.at += 1;
                self.space();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.space();
                    self.value(depth)?;
                    self.space();
                    match self.next()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
        }
    }

    /// The record object, noting each property's name and value ranges.
    fn record_object(&mut self, properties: &mut Vec<PropertySpan>) -> Option<()> {
        self.object(2, true, |name, value| {
            properties.push(PropertySpan { name, value });
        })
    }

    /// An object whose values are at nesting `depth`, calling `member`
    /// with each name's range (without quotes, only for `plain_names`,
    /// which must have no escapes) and value's range.
    fn object(
        &mut self,
        depth: u32,
        plain_names: bool,
        mut member: impl FnMut(Range<usize>, Range<usize>),
    ) -> Option<()> {
        self.byte(b'{')?;
        self.space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.space();
            let name = if plain_names {
                self.plain_string()?
            } else {
                let start = self.at;
                self.string()?;
                start..self.at
            };
            self.space();
            self.byte(b':')?;
            self.space();
            let start = self.at;
            self.value(depth)?;
            member(name, start..self.at);
            self.space();
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }
}

fn nested(depth: u32) -> Option<u32> {
    (depth < MAX_DEPTH).then_some(depth + 1)
}

#[cfg(test)]
#[path = "record_line_tests.rs"]
mod tests;
