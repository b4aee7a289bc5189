//! Singer lines read in blocks, straight from the input into the block.
//!
//! [`LineReader`](crate::LineReader) copies each line out of a
//! `BufRead`'s buffer: two copies of every byte (the kernel's, then the
//! line's). A target reads hundreds of megabytes of lines, so
//! [`BlockReader`] reads into the caller's [`LineBlock`] directly and only
//! notes where each line is; the one line cut by the end of a block is
//! carried to the next. The line rules are those of
//! [`Reader`](crate::Reader): blank lines skipped (but counted), ASCII
//! whitespace around a line and a first-line byte order mark dropped, a
//! length limit.

use std::io::{ErrorKind, Read};
use std::ops::Range;

use crate::error::{Error, Result};
use crate::reader::{DEFAULT_MAX_LINE_BYTES, message_bytes};

/// The default size of a block's text: 256 KiB.
pub const DEFAULT_BLOCK_BYTES: usize = 256 << 10;

/// Whole lines as read, and where each one is. Blocks are meant to be
/// reused (their buffers stay allocated).
#[derive(Debug, Default)]
pub struct LineBlock {
    /// The bytes read (whole lines, then possibly the start of one).
    buf: Vec<u8>,
    /// Line number and the line's trimmed range in `buf`.
    lines: Vec<(u64, Range<usize>)>,
}

impl LineBlock {
    /// The block's lines in order: `(1-based line number, trimmed text)`.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.lines
            .iter()
            .map(|(line, range)| (*line, self.buf.get(range.clone()).unwrap_or_default()))
    }

    /// How many lines the block holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the block holds no line.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Reads lines from any [`Read`] into [`LineBlock`]s.
///
/// A block is handed back once it holds at least one line and either its
/// text reached the block size or a read came back short (the input had
/// nothing more ready, so the caller gets what arrived instead of waiting
/// for more). An error ends the input; it is answered by the call after
/// the one that delivered the lines before it.
///
/// ```
/// use singer_protocol::{BlockReader, LineBlock};
///
/// let input = "\u{feff}{\"a\":1}\r\n\n {}\n{\"b\":2}";
/// let mut reader = BlockReader::new(input.as_bytes());
/// let mut block = LineBlock::default();
/// let mut lines = Vec::new();
/// while reader.fill(&mut block)? {
///     lines.extend(block.lines().map(|(n, text)| (n, text.to_vec())));
/// }
/// lines.extend(block.lines().map(|(n, text)| (n, text.to_vec())));
/// assert_eq!(
///     lines,
///     [(1, b"{\"a\":1}".to_vec()), (3, b"{}".to_vec()), (4, b"{\"b\":2}".to_vec())]
/// );
/// # Ok::<(), singer_protocol::Error>(())
/// ```
#[derive(Debug)]
pub struct BlockReader<R> {
    inner: R,
    /// The start of the line the last block cut.
    carry: Vec<u8>,
    /// Lines ended so far.
    line: u64,
    max_line_bytes: usize,
    block_bytes: usize,
    done: bool,
    /// An error met after lines still to deliver.
    pending: Option<Error>,
}

impl<R: Read> BlockReader<R> {
    /// A reader with the default line limit ([`DEFAULT_MAX_LINE_BYTES`])
    /// and block size ([`DEFAULT_BLOCK_BYTES`]).
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            carry: Vec::new(),
            line: 0,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            block_bytes: DEFAULT_BLOCK_BYTES,
            done: false,
            pending: None,
        }
    }

    /// Sets the longest line accepted, in bytes (without the terminator).
    #[must_use]
    pub fn with_max_line_bytes(mut self, max_line_bytes: usize) -> Self {
        self.max_line_bytes = max_line_bytes;
        self
    }

    /// Sets the block size: the text a block gathers before it is handed
    /// back (a longer line makes its block grow to hold it).
    #[must_use]
    pub fn with_block_bytes(mut self, block_bytes: usize) -> Self {
        self.block_bytes = block_bytes.max(1);
        self
    }

    /// Fills `block` (emptied first) with the next lines. `Ok(true)`: more
    /// may follow; `Ok(false)`: the input ended, and `block` holds its last
    /// lines (perhaps none).
    ///
    /// # Errors
    ///
    /// [`Error::Read`] when the input fails and [`Error::LineTooLong`];
    /// either ends the input, and comes only once the lines before it were
    /// delivered.
    pub fn fill(&mut self, block: &mut LineBlock) -> Result<bool> {
        block.lines.clear();
        if let Some(error) = self.pending.take() {
            self.done = true;
            return Err(error);
        }
        if self.done {
            return Ok(false);
        }
        // Room for a block and one more read; a block that grew for a
        // long line gives the memory back.
        let size = self.block_bytes + self.block_bytes / 4;
        if block.buf.len() > size.saturating_mul(4) {
            block.buf = Vec::new();
        }
        if block.buf.len() < size.max(self.carry.len() * 2) {
            block.buf.resize(size.max(self.carry.len() * 2), 0);
        }
        let carried = self.carry.len();
        if let Some(start) = block.buf.get_mut(..carried) {
            start.copy_from_slice(&self.carry);
        }
        self.carry.clear();
        let mut filled = carried;
        // Where the line being read starts.
        let mut line_start = 0;
        loop {
            if filled == block.buf.len() {
                if !block.lines.is_empty() {
                    break;
                }
                if line_start > 0 {
                    // Only blank lines so far: drop them.
                    block.buf.copy_within(line_start..filled, 0);
                    filled -= line_start;
                    line_start = 0;
                } else {
                    // One line fills the block: make room for the rest.
                    let grown = block.buf.len().saturating_mul(2);
                    block.buf.resize(grown, 0);
                }
            }
            let Some(room) = block.buf.get_mut(filled..) else {
                break;
            };
            let wanted = room.len();
            let read = match self.inner.read(room) {
                Ok(read) => read,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => {
                    let error = Error::Read {
                        line: self.line + 1,
                        source,
                    };
                    return self.stop(block, error);
                }
            };
            if read == 0 {
                self.done = true;
                let last = line_start..filled;
                if !last.is_empty()
                    && let Err(error) = self.end_line(block, last)
                {
                    return self.stop(block, error);
                }
                return Ok(false);
            }
            let mut at = filled;
            filled += read;
            while let Some(found) = block
                .buf
                .get(at..filled)
                .and_then(|fresh| memchr::memchr(b'\n', fresh))
            {
                let end = at + found;
                if let Err(error) = self.end_line(block, line_start..end) {
                    return self.stop(block, error);
                }
                line_start = end + 1;
                at = line_start;
            }
            if filled - line_start > self.max_line_bytes {
                let error = Error::LineTooLong {
                    line: self.line + 1,
                    limit: self.max_line_bytes,
                };
                return self.stop(block, error);
            }
            if !block.lines.is_empty() && (filled >= self.block_bytes || read < wanted) {
                break;
            }
        }
        if let Some(rest) = block.buf.get(line_start..filled) {
            self.carry.extend_from_slice(rest);
        }
        Ok(true)
    }

    /// Notes the line at `range` (without its `\n`) in `block`, unless it
    /// is blank.
    fn end_line(&mut self, block: &mut LineBlock, range: Range<usize>) -> Result<()> {
        self.line += 1;
        if range.len() > self.max_line_bytes {
            return Err(Error::LineTooLong {
                line: self.line,
                limit: self.max_line_bytes,
            });
        }
        let text = block.buf.get(range).unwrap_or_default();
        if let Some(trimmed) = message_bytes(self.line, text) {
            let start = trimmed
                .as_ptr()
                .addr()
                .saturating_sub(block.buf.as_ptr().addr());
            block.lines.push((self.line, start..start + trimmed.len()));
        }
        Ok(())
    }

    /// Ends the input with `error`: now if `block` has no line, else after
    /// its lines are delivered.
    fn stop(&mut self, block: &mut LineBlock, error: Error) -> Result<bool> {
        self.carry.clear();
        if block.lines.is_empty() {
            self.done = true;
            return Err(error);
        }
        self.pending = Some(error);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LineReader;

    /// Hands out its input a few bytes per read, like a pipe.
    struct Trickle<'a> {
        input: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.input.len());
            let (now, rest) = self.input.split_at(n);
            buf[..n].copy_from_slice(now);
            self.input = rest;
            Ok(n)
        }
    }

    fn all_lines<R: Read>(mut reader: BlockReader<R>) -> (Vec<(u64, Vec<u8>)>, Option<String>) {
        let mut block = LineBlock::default();
        let mut lines = Vec::new();
        loop {
            let more = reader.fill(&mut block);
            lines.extend(block.lines().map(|(n, t)| (n, t.to_vec())));
            match more {
                Ok(true) => {}
                Ok(false) => return (lines, None),
                Err(e) => return (lines, Some(e.to_string())),
            }
        }
    }

    fn line_reader_lines(input: &[u8], max: usize) -> (Vec<(u64, Vec<u8>)>, Option<String>) {
        let mut reader = LineReader::new(input).with_max_line_bytes(max);
        let mut lines = Vec::new();
        loop {
            match reader.read_line() {
                Ok(Some((n, text))) => lines.push((n, text.to_vec())),
                Ok(None) => return (lines, None),
                Err(e) => return (lines, Some(e.to_string())),
            }
        }
    }

    /// Whatever the block size and however the input arrives, the blocks
    /// hold the lines [`LineReader`] reads, numbered alike.
    #[test]
    fn blocks_hold_the_lines_the_line_reader_reads() {
        let inputs: [&[u8]; 7] = [
            b"",
            b"\n\n",
            b"\xEF\xBB\xBF{\"a\":1}\r\n\n  {\"b\":[1,2]}  \n\t\n{\"c\":3}",
            b"{\"a\":1}\n{\"b\":2}\n",
            b"x\ny\nz",
            b"\xEF\xBB\xBF\n\xEF\xBB\xBFx\n",
            b"one line that is longer than a tiny block\nand another\n",
        ];
        for input in inputs {
            let expected = line_reader_lines(input, 1 << 20);
            for block_bytes in [1, 3, 7, 64, 1 << 20] {
                for step in [1, 2, 5, 1000] {
                    let reader =
                        BlockReader::new(Trickle { input, step }).with_block_bytes(block_bytes);
                    assert_eq!(
                        all_lines(reader),
                        expected,
                        "{:?}, blocks of {block_bytes}, reads of {step}",
                        String::from_utf8_lossy(input)
                    );
                }
            }
        }
    }

    /// A line over the limit is an error naming it, after the lines before
    /// it, whether it ends or not.
    #[test]
    fn a_line_over_the_limit_ends_the_input_after_the_lines_before_it() {
        for input in [&b"ok\n\n12345678901\nnext\n"[..], b"ok\n\n12345678901"] {
            for step in [1, 4, 1000] {
                let reader = BlockReader::new(Trickle { input, step })
                    .with_max_line_bytes(10)
                    .with_block_bytes(4);
                let (lines, error) = all_lines(reader);
                assert_eq!(lines, [(1, b"ok".to_vec())]);
                let error = error.expect("an error");
                assert!(error.contains("line 3"), "{error}");
            }
        }
        let reader = BlockReader::new(&b"1234567890\n"[..]).with_max_line_bytes(10);
        assert_eq!(all_lines(reader), (vec![(1, b"1234567890".to_vec())], None));
    }

    /// A failing input: the lines read before the failure, then its error.
    #[test]
    fn a_read_error_comes_after_the_lines_read_before_it() {
        struct Failing(bool);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    return Err(std::io::Error::other("disk on fire"));
                }
                buf[..4].copy_from_slice(b"a\nb\n");
                Ok(4)
            }
        }
        let reader = BlockReader::new(Failing(false)).with_block_bytes(1000);
        let (lines, error) = all_lines(reader);
        assert_eq!(lines, [(1, b"a".to_vec()), (2, b"b".to_vec())]);
        assert!(error.is_some_and(|e| e.contains("line 3")));
    }
}
