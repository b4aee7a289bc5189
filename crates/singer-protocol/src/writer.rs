//! A writer of Singer messages.

use std::io::{self, Write};

use serde_json::Value;

use crate::message::{Message, RecordMessage};

/// Writes Singer messages, one compact JSON object per line, to any
/// [`Write`]. It is the one thing in a binary that writes stdout.
///
/// Output is buffered by the caller's writer (wrap stdout in a
/// [`io::BufWriter`]); the writer flushes after every `STATE` message (and
/// after every [`Writer::write_state_value`]) so that a checkpoint is
/// visible downstream as soon as it is emitted, and on [`Writer::flush`].
///
/// ```
/// use singer_protocol::{Message, RecordMessage, Writer};
///
/// let mut writer = Writer::new(Vec::new());
/// let record = RecordMessage::from_json("users", r#"{"id":1,"balance":0.10}"#.to_owned())?;
/// writer.write(&Message::Record(record))?;
/// assert_eq!(
///     String::from_utf8(writer.into_inner()).expect("UTF-8"),
///     "{\"type\":\"RECORD\",\"stream\":\"users\",\"record\":{\"id\":1,\"balance\":0.10}}\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Writer<W: Write> {
    inner: W,
}

impl<W: Write> Writer<W> {
    /// A writer over `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    /// Writes one message and a newline; flushes after `STATE`.
    ///
    /// # Errors
    ///
    /// The I/O error of the underlying writer (`BrokenPipe` when the reader
    /// of a pipe went away).
    pub fn write(&mut self, message: &Message) -> io::Result<()> {
        serde_json::to_writer(&mut self.inner, message)?;
        self.inner.write_all(b"\n")?;
        if matches!(message, Message::State(_)) {
            self.inner.flush()?;
        }
        Ok(())
    }

    /// Writes a record message (the hot path of a tap).
    ///
    /// # Errors
    ///
    /// The I/O error of the underlying writer.
    pub fn write_record(&mut self, record: &RecordMessage) -> io::Result<()> {
        serde_json::to_writer(&mut self.inner, &RecordRef(record))?;
        self.inner.write_all(b"\n")
    }

    /// Writes a record message whose record the caller rendered itself (a
    /// tap rendering rows straight from the database). `record_json` must be
    /// one valid JSON object; it is written as is, without re-parsing, and
    /// `time_extracted` must be an RFC 3339 timestamp without characters that
    /// need escaping.
    ///
    /// # Errors
    ///
    /// The I/O error of the underlying writer.
    pub fn write_record_raw(
        &mut self,
        stream: &str,
        record_json: &[u8],
        version: Option<u64>,
        time_extracted: Option<&str>,
    ) -> io::Result<()> {
        write_record_head(&mut self.inner, stream)?;
        self.inner.write_all(record_json)?;
        write_record_tail(&mut self.inner, version, time_extracted)
    }

    /// Writes complete message lines that another [`Writer`] rendered (each
    /// ending in a newline), as they are: how one writer that owns stdout
    /// passes on what several producers (a parallel tap's workers) rendered
    /// into their own buffers.
    ///
    /// # Errors
    ///
    /// The I/O error of the underlying writer.
    pub fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        debug_assert!(lines.is_empty() || lines.ends_with(b"\n"));
        self.inner.write_all(lines)
    }

    /// Writes a bare state value and a newline, then flushes: what a target
    /// emits on stdout (not a wrapped `STATE` message).
    ///
    /// # Errors
    ///
    /// The I/O error of the underlying writer.
    pub fn write_state_value(&mut self, value: &Value) -> io::Result<()> {
        self.write_json(value)
    }

    /// Writes any JSON document on one line and flushes: a catalog from
    /// `--discover`, `--about --format json`.
    ///
    /// # Errors
    ///
    /// The I/O error of the underlying writer.
    pub fn write_json<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.inner, value)?;
        self.inner.write_all(b"\n")?;
        self.inner.flush()
    }

    /// Writes text as is and flushes: `--help`, `--version`, `--about` in
    /// text or markdown. Never use it for messages.
    ///
    /// # Errors
    ///
    /// The I/O error of the underlying writer.
    pub fn write_text(&mut self, text: &str) -> io::Result<()> {
        self.inner.write_all(text.as_bytes())?;
        self.inner.flush()
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    ///
    /// The I/O error of the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer, mutably (a producer taking the lines rendered
    /// into its buffer).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Unwraps the writer (without flushing).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Serialises a borrowed record as a `RECORD` message.
struct RecordRef<'a>(&'a RecordMessage);

impl serde::Serialize for RecordRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let record = self.0;
        let mut s = serializer.serialize_struct("RecordMessage", 5)?;
        s.serialize_field("type", crate::message::RECORD)?;
        s.serialize_field("stream", &record.stream)?;
        s.serialize_field("record", &record.record)?;
        if let Some(version) = record.version {
            s.serialize_field("version", &version)?;
        }
        if let Some(time_extracted) = &record.time_extracted {
            s.serialize_field("time_extracted", time_extracted)?;
        }
        s.end()
    }
}

/// What comes before the record in a `RECORD` line: `{"type":"RECORD",
/// "stream":<stream>,"record":`.
fn write_record_head(out: &mut impl Write, stream: &str) -> io::Result<()> {
    out.write_all(b"{\"type\":\"RECORD\",\"stream\":")?;
    serde_json::to_writer(&mut *out, stream)?;
    out.write_all(b",\"record\":")
}

/// What comes after the record in a `RECORD` line: the version, the
/// extraction time, `}` and the newline.
fn write_record_tail(
    out: &mut impl Write,
    version: Option<u64>,
    time_extracted: Option<&str>,
) -> io::Result<()> {
    if let Some(version) = version {
        out.write_all(b",\"version\":")?;
        out.write_all(itoa::Buffer::new().format(version).as_bytes())?;
    }
    if let Some(time_extracted) = time_extracted {
        out.write_all(b",\"time_extracted\":\"")?;
        out.write_all(time_extracted.as_bytes())?;
        out.write_all(b"\"")?;
    }
    out.write_all(b"}\n")
}

/// The parts of a stream's `RECORD` lines around the record, rendered once
/// for a run of records with the same stream, version and extraction time:
/// a tap that renders rows itself puts [`RecordFrame::head`], the record
/// and [`RecordFrame::tail`] in one buffer and writes the whole line with
/// [`Writer::write_lines`], the same bytes as [`Writer::write_record_raw`]
/// without re-rendering the envelope per row.
///
/// ```
/// use singer_protocol::RecordFrame;
///
/// let frame = RecordFrame::new("users", Some(7), None);
/// let mut line = frame.head().to_vec();
/// line.extend_from_slice(br#"{"id":1}"#);
/// line.extend_from_slice(frame.tail());
/// assert_eq!(line, b"{\"type\":\"RECORD\",\"stream\":\"users\",\"record\":{\"id\":1},\"version\":7}\n");
/// ```
#[derive(Debug, Clone)]
pub struct RecordFrame {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl RecordFrame {
    /// The frame of `stream`'s records with `version` and `time_extracted`
    /// (an RFC 3339 timestamp without characters that need escaping).
    #[must_use]
    pub fn new(stream: &str, version: Option<u64>, time_extracted: Option<&str>) -> Self {
        let mut head = Vec::new();
        let mut tail = Vec::new();
        // Writing to a `Vec` does not fail.
        let _ = write_record_head(&mut head, stream);
        let _ = write_record_tail(&mut tail, version, time_extracted);
        Self { head, tail }
    }

    /// Everything before the record.
    #[must_use]
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Everything after the record, the newline included.
    #[must_use]
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;
    use crate::message::StateMessage;

    /// Counts flushes so the test can tell when the writer flushed.
    struct Counting {
        bytes: Vec<u8>,
        flushes: Rc<Cell<usize>>,
    }

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushes.set(self.flushes.get() + 1);
            Ok(())
        }
    }

    #[test]
    fn a_framed_line_is_what_write_record_raw_writes() {
        let record = br#"{"id":1,"name":"x"}"#;
        for (stream, version, time) in [
            (
                "users",
                Some(1_700_000_000_000),
                Some("2024-01-01T00:00:00.000001+00:00"),
            ),
            ("public-\"odd\"\\name", None, None),
            ("s", Some(0), None),
            ("s", None, Some("2024-01-01T00:00:00Z")),
        ] {
            let mut writer = Writer::new(Vec::new());
            writer
                .write_record_raw(stream, record, version, time)
                .expect("written");
            let frame = RecordFrame::new(stream, version, time);
            let mut line = frame.head().to_vec();
            line.extend_from_slice(record);
            line.extend_from_slice(frame.tail());
            assert_eq!(line, writer.into_inner(), "{stream}");
        }
    }

    #[test]
    fn flushes_on_state_only() {
        let flushes = Rc::new(Cell::new(0));
        let mut writer = Writer::new(Counting {
            bytes: Vec::new(),
            flushes: Rc::clone(&flushes),
        });
        let record = RecordMessage::from_json("s", "{\"a\":1}".into()).expect("object");
        writer
            .write(&Message::Record(record.clone()))
            .expect("write");
        writer.write_record(&record).expect("write");
        assert_eq!(flushes.get(), 0);
        writer
            .write(&Message::State(StateMessage {
                value: serde_json::json!({"bookmarks": {}}),
            }))
            .expect("write");
        assert_eq!(flushes.get(), 1);
        writer
            .write_state_value(&serde_json::json!({"a": 1}))
            .expect("write");
        assert_eq!(flushes.get(), 2);
        assert_eq!(
            String::from_utf8(writer.into_inner().bytes).expect("UTF-8"),
            concat!(
                "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"a\":1}}\n",
                "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"a\":1}}\n",
                "{\"type\":\"STATE\",\"value\":{\"bookmarks\":{}}}\n",
                "{\"a\":1}\n",
            )
        );
    }

    #[test]
    fn write_record_raw_matches_write() {
        let record = RecordMessage::from_json("s\"q", "{\"n\":1e400}".into())
            .expect("object")
            .with_version(7)
            .with_time_extracted("2024-01-01T00:00:00+00:00");
        let mut a = Writer::new(Vec::new());
        a.write(&Message::Record(record.clone())).expect("write");
        let mut b = Writer::new(Vec::new());
        b.write_record_raw(
            "s\"q",
            b"{\"n\":1e400}",
            Some(7),
            Some("2024-01-01T00:00:00+00:00"),
        )
        .expect("write");
        assert_eq!(a.into_inner(), b.into_inner());
        let mut c = Writer::new(Vec::new());
        c.write_record_raw("s", b"{}", None, None).expect("write");
        assert_eq!(
            c.into_inner(),
            b"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{}}\n"
        );
    }

    #[test]
    fn write_record_matches_write() {
        let record = RecordMessage::from_json("s\"q", "{\"n\":1e400}".into())
            .expect("object")
            .with_version(7)
            .with_time_extracted("2024-01-01T00:00:00+00:00");
        let mut a = Writer::new(Vec::new());
        a.write(&Message::Record(record.clone())).expect("write");
        let mut b = Writer::new(Vec::new());
        b.write_record(&record).expect("write");
        assert_eq!(a.into_inner(), b.into_inner());
    }
}
