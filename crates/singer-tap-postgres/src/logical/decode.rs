//! The pgoutput (protocol version 1) decoder: one message from the bytes
//! `pg_logical_slot_peek_binary_changes` returns per row. I/O-free, no
//! panics on any input: a malformed message is a [`DecodeError`] naming
//! the message and what was wrong.
//!
//! Layouts (PostgreSQL's "Logical Replication Message Formats"): integers
//! big-endian, strings NUL-terminated, tuples as `Int16` column count then
//! per column `n` (NULL), `u` (unchanged TOASTed value, not sent), `t`
//! (`Int32` length + text) or `b` (`Int32` length + binary).

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// One pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// `B`: a transaction starts.
    Begin {
        /// The LSN of its commit record.
        final_lsn: u64,
        /// Commit time, microseconds since the Unix epoch.
        commit_time: i64,
        /// Transaction id.
        xid: u32,
    },
    /// `C`: the transaction committed.
    Commit {
        /// The LSN of the commit record.
        commit_lsn: u64,
        /// The LSN just past it.
        end_lsn: u64,
    },
    /// `R`: a relation's shape (sent before its first change in a decoding
    /// session, and again after it changes).
    Relation(Relation),
    /// `I`: a new row.
    Insert {
        /// The relation.
        relation: u32,
        /// The row.
        new: Tuple<'a>,
    },
    /// `U`: a changed row, with the old key (`K`) or the old row (`O`,
    /// REPLICA IDENTITY FULL) when sent.
    Update {
        /// The relation.
        relation: u32,
        /// The old key or row.
        old: Option<Tuple<'a>>,
        /// The new row.
        new: Tuple<'a>,
    },
    /// `D`: a deleted row: its key (`K`) or whole old row (`O`).
    Delete {
        /// The relation.
        relation: u32,
        /// The old key or row.
        old: Tuple<'a>,
    },
    /// `T`: relations truncated.
    Truncate {
        /// The relations.
        relations: Vec<u32>,
    },
    /// `O`, `Y`, `M`: origins, types and logical messages, not needed.
    Other(u8),
}

/// A relation, as an `R` message describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relation {
    /// Its OID.
    pub(crate) id: u32,
    /// Schema.
    pub(crate) namespace: String,
    /// Name.
    pub(crate) name: String,
    /// `d` default, `n` nothing, `f` full, `i` index.
    pub(crate) replica_identity: u8,
    /// Columns in table order.
    pub(crate) columns: Vec<RelationColumn>,
}

/// One column of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelationColumn {
    /// Whether it is part of the replica identity key.
    pub(crate) key: bool,
    /// Name.
    pub(crate) name: String,
    /// Type OID.
    pub(crate) type_oid: u32,
    /// Type modifier.
    pub(crate) typmod: i32,
}

/// A row's values, in relation column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tuple<'a> {
    /// `K` (key only) or `O` (old row) for old tuples, `N` for new ones.
    pub(crate) kind: u8,
    /// The values.
    pub(crate) values: Vec<Value<'a>>,
}

/// One value of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// NULL (or, in a `K` tuple, a column that is not part of the key).
    Null,
    /// An unchanged TOASTed value: not sent.
    Unchanged,
    /// The type's text output (types without a binary send function).
    Text(&'a [u8]),
    /// The type's binary send format.
    Binary(&'a [u8]),
}

/// A pgoutput message that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pgoutput message {tag:?} at byte {offset}: {reason}")]
pub struct DecodeError {
    /// The message tag (as a character).
    pub tag: char,
    /// Where in the message.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

/// Reads a message's fields in order.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
    tag: u8,
}

impl<'a> Cursor<'a> {
    fn error(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            tag: char::from(self.tag),
            offset: self.at,
            reason,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or_else(|| self.error("length overflows"))?;
        let bytes = self
            .data
            .get(self.at..end)
            .ok_or_else(|| self.error("message ends early"))?;
        self.at = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0_u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let rest = self.data.get(self.at..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.error("string without its terminating NUL"))?;
        let bytes = self.take(len)?;
        self.at += 1;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("name is not UTF-8"))
    }

    fn tuple(&mut self, kind: u8) -> Result<Tuple<'a>, DecodeError> {
        let count =
            usize::try_from(self.i16()?).map_err(|_| self.error("negative column count"))?;
        // Each column takes at least one byte: a bound before allocating.
        if count > self.data.len().saturating_sub(self.at) {
            return Err(self.error("column count larger than the message"));
        }
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let value = match self.u8()? {
                b'n' => Value::Null,
                b'u' => Value::Unchanged,
                kind @ (b't' | b'b') => {
                    let len = usize::try_from(self.i32()?)
                        .map_err(|_| self.error("negative value length"))?;
                    let bytes = self.take(len)?;
                    if kind == b't' {
                        Value::Text(bytes)
                    } else {
                        Value::Binary(bytes)
                    }
                }
                _ => return Err(self.error("unknown tuple value kind")),
            };
            values.push(value);
        }
        Ok(Tuple { kind, values })
    }

    fn tuple_tagged(&mut self, allowed: &[u8]) -> Result<Tuple<'a>, DecodeError> {
        let kind = self.u8()?;
        if !allowed.contains(&kind) {
            return Err(self.error("unexpected tuple kind"));
        }
        self.tuple(kind)
    }
}

/// Decodes one pgoutput message.
///
/// # Errors
///
/// [`DecodeError`] for an empty, truncated or malformed message.
pub(crate) fn decode(data: &[u8]) -> Result<Message<'_>, DecodeError> {
    let tag = data.first().copied().ok_or(DecodeError {
        tag: '?',
        offset: 0,
        reason: "empty message",
    })?;
    let mut c = Cursor { data, at: 1, tag };
    let message = match tag {
        b'B' => Message::Begin {
            final_lsn: c.u64()?,
            commit_time: c.i64()?.saturating_add(PG_EPOCH_MICROS),
            xid: c.u32()?,
        },
        b'C' => {
            let _flags = c.u8()?;
            let commit_lsn = c.u64()?;
            let end_lsn = c.u64()?;
            let _time = c.i64()?;
            Message::Commit {
                commit_lsn,
                end_lsn,
            }
        }
        b'R' => {
            let id = c.u32()?;
            let namespace = c.string()?;
            let name = c.string()?;
            let replica_identity = c.u8()?;
            let count = usize::try_from(c.i16()?).map_err(|_| c.error("negative column count"))?;
            if count > data.len() {
                return Err(c.error("column count larger than the message"));
            }
            let mut columns = Vec::with_capacity(count);
            for _ in 0..count {
                let flags = c.u8()?;
                let name = c.string()?;
                let type_oid = c.u32()?;
                let typmod = c.i32()?;
                columns.push(RelationColumn {
                    key: flags & 1 == 1,
                    name,
                    type_oid,
                    typmod,
                });
            }
            Message::Relation(Relation {
                id,
                namespace,
                name,
                replica_identity,
                columns,
            })
        }
        b'I' => {
            let relation = c.u32()?;
            let new = c.tuple_tagged(b"N")?;
            Message::Insert { relation, new }
        }
        b'U' => {
            let relation = c.u32()?;
            let first = c.u8()?;
            let (old, new) = match first {
                b'K' | b'O' => {
                    let old = c.tuple(first)?;
                    (Some(old), c.tuple_tagged(b"N")?)
                }
                b'N' => (None, c.tuple(b'N')?),
                _ => return Err(c.error("unexpected tuple kind")),
            };
            Message::Update { relation, old, new }
        }
        b'D' => {
            let relation = c.u32()?;
            let old = c.tuple_tagged(b"KO")?;
            Message::Delete { relation, old }
        }
        b'T' => {
            let count = usize::try_from(c.i32()?).map_err(|_| c.error("negative count"))?;
            let _options = c.u8()?;
            if count > data.len() {
                return Err(c.error("relation count larger than the message"));
            }
            let relations = (0..count).map(|_| c.u32()).collect::<Result<_, _>>()?;
            Message::Truncate { relations }
        }
        b'O' | b'Y' | b'M' => Message::Other(tag),
        _ => return Err(c.error("unknown message")),
    };
    Ok(message)
}

/// An LSN as PostgreSQL writes it: `16/B374D848`.
pub(crate) fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// Parses `16/B374D848`.
pub(crate) fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    (high <= 0xFFFF_FFFF && low <= 0xFFFF_FFFF).then_some((high << 32) | low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation_message() -> Vec<u8> {
        let mut m = vec![b'R'];
        m.extend_from_slice(&16_385_u32.to_be_bytes());
        m.extend_from_slice(b"public\0t\0");
        m.push(b'd');
        m.extend_from_slice(&2_i16.to_be_bytes());
        m.push(1);
        m.extend_from_slice(b"id\0");
        m.extend_from_slice(&20_u32.to_be_bytes());
        m.extend_from_slice(&(-1_i32).to_be_bytes());
        m.push(0);
        m.extend_from_slice(b"body\0");
        m.extend_from_slice(&25_u32.to_be_bytes());
        m.extend_from_slice(&(-1_i32).to_be_bytes());
        m
    }

    #[test]
    fn relations_and_changes_decode() {
        let relation = relation_message();
        let Ok(Message::Relation(r)) = decode(&relation) else {
            panic!("relation");
        };
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("public", "t"));
        assert!(r.columns[0].key && !r.columns[1].key);
        assert_eq!(r.columns[1].type_oid, 25);

        let mut update = vec![b'U'];
        update.extend_from_slice(&16_385_u32.to_be_bytes());
        update.push(b'K');
        update.extend_from_slice(&2_i16.to_be_bytes());
        update.extend_from_slice(&[b'b', 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7, b'n']);
        update.push(b'N');
        update.extend_from_slice(&2_i16.to_be_bytes());
        update.extend_from_slice(&[b'b', 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 8, b'u']);
        let Ok(Message::Update { relation, old, new }) = decode(&update) else {
            panic!("update");
        };
        assert_eq!(relation, 16_385);
        let old = old.expect("old key");
        assert_eq!(old.kind, b'K');
        assert_eq!(old.values[1], Value::Null);
        assert_eq!(new.values[1], Value::Unchanged);
        assert_eq!(new.values[0], Value::Binary(&[0, 0, 0, 0, 0, 0, 0, 8]));

        let mut begin = vec![b'B'];
        begin.extend_from_slice(&0x16_B374_D848_u64.to_be_bytes());
        begin.extend_from_slice(&0_i64.to_be_bytes());
        begin.extend_from_slice(&7_u32.to_be_bytes());
        assert_eq!(
            decode(&begin),
            Ok(Message::Begin {
                final_lsn: 0x16_B374_D848,
                commit_time: PG_EPOCH_MICROS,
                xid: 7
            })
        );
    }

    #[test]
    fn malformed_messages_are_errors_never_panics() {
        let relation = relation_message();
        for end in 0..relation.len() {
            assert!(decode(&relation[..end]).is_err(), "cut at {end}");
        }
        assert!(decode(b"I\0\0\0\x01N\x7f\xff").is_err());
        assert!(decode(b"I\0\0\0\x01N\0\x01b\xff\xff\xff\xff").is_err());
        assert!(decode(b"T\x7f\xff\xff\xff\0").is_err());
        assert!(decode(b"Z").is_err());
        assert!(decode(b"").is_err());
        // Every byte string up to three bytes, and mutations of a real one.
        for a in 0..=255_u8 {
            let _ = decode(&[a]);
            let _ = decode(&[a, 0, 0]);
        }
        let mut mutated = relation.clone();
        for i in 0..mutated.len() {
            let keep = mutated[i];
            mutated[i] = 0xFF;
            let _ = decode(&mutated);
            mutated[i] = keep;
        }
    }

    #[test]
    fn lsns_print_and_parse_as_postgresql_writes_them() {
        assert_eq!(lsn_text(0x16_B374_D848), "16/B374D848");
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("x/1"), None);
        assert_eq!(parse_lsn("1FFFFFFFF/0"), None);
    }
}
