//! Deterministic input generators shared by the throughput benches in
//! `benches/benches/`.
//!
//! Inputs are generated, never checked in: sizes are named constants in each
//! bench, and the same size always yields the same bytes.

#![warn(missing_docs)]

use std::fmt::Write as _;

/// A small deterministic pseudo-random generator (xorshift64*), so that
/// benches need no RNG crate and every run sees identical input.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An element of `items` (which must not be empty).
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let len = u64::try_from(items.len()).unwrap_or(u64::MAX);
        usize::try_from(self.below(len))
            .ok()
            .and_then(|i| items.get(i))
            .copied()
            .unwrap_or_default()
    }
}

const WORDS: &[&str] = &[
    "merge",
    "request",
    "pipeline",
    "runner",
    "issue",
    "label",
    "milestone",
    "épique",
    "deploy",
    "review",
    "tab\there",
    "quote\"d",
    "back\\slash",
    "line\nbreak",
    "ünïcödé",
    "emoji 🚀",
];

/// A Singer RECORD stream of `records` realistic rows of a GitLab-like
/// `issues` table (15 fields: integers, exact decimals, timestamps with
/// microseconds, strings with escapes and non-ASCII, a nested object, an
/// array, booleans and nulls), preceded by its SCHEMA and followed by a
/// STATE, one message per line.
#[must_use]
pub fn issues_stream(records: usize) -> Vec<u8> {
    issues_stream_shaped(records, Shape::TapPostgres)
}

/// Whose SCHEMA the generated stream carries; the records are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// tap-postgres's: `x-singer.decimal` strings, formats, plain objects.
    TapPostgres,
    /// pipelinewise's and the Meltano SDK taps': numerics as numbers with
    /// `multipleOf` and exclusive bounds, `maxLength` on strings, a nested
    /// object with `properties`, string arrays, date-time formats.
    Sdk,
}

/// The SCHEMA line of [`Shape::Sdk`].
const SDK_SCHEMA: &str = concat!(
    r#"{"type":"SCHEMA","stream":"issues","schema":{"type":"object","properties":{"#,
    r#""id":{"type":["integer"],"minimum":-9223372036854775808,"maximum":9223372036854775807},"#,
    r#""project_id":{"type":["null","integer"],"minimum":-2147483648,"maximum":2147483647},"#,
    r#""title":{"type":["null","string"],"maxLength":255},"description":{"type":["null","string"]},"#,
    r#""weight":{"type":["null","number"],"multipleOf":1e-9,"minimum":-1e29,"maximum":1e29,"exclusiveMinimum":true,"exclusiveMaximum":true},"#,
    r#""created_at":{"type":["string"],"format":"date-time"},"updated_at":{"type":["string"],"format":"date-time"},"#,
    r#""closed_at":{"type":["null","string"],"format":"date-time"},"confidential":{"type":["boolean"]},"#,
    r#""state_id":{"type":["integer"],"minimum":-32768,"maximum":32767},"time_estimate":{"type":["null","number"]},"#,
    r#""labels":{"type":["null","array"],"items":{"type":["string"]}},"#,
    r#""author":{"type":["null","object"],"properties":{"id":{"type":["null","integer"]},"username":{"type":["null","string"],"maxLength":255},"bot":{"type":["null","boolean"]},"tz":{"type":["null","string"]}}},"#,
    r#""iid":{"type":["integer"],"minimum":-9223372036854775808,"maximum":9223372036854775807},"due_date":{"type":["null","string"],"format":"date"}}},"#,
    r#""key_properties":["id"],"bookmark_properties":["updated_at"]}"#,
    "\n"
);

/// [`issues_stream`] with the SCHEMA of `shape`.
#[must_use]
pub fn issues_stream_shaped(records: usize, shape: Shape) -> Vec<u8> {
    let mut rng = Rng::new(42);
    let mut out = String::with_capacity(records * 600);
    if shape == Shape::Sdk {
        out.push_str(SDK_SCHEMA);
    } else {
        out.push_str(concat!(
        r#"{"type":"SCHEMA","stream":"issues","schema":{"type":"object","properties":{"#,
        r#""id":{"type":"integer"},"project_id":{"type":["null","integer"]},"title":{"type":["null","string"]},"#,
        r#""description":{"type":["null","string"]},"weight":{"type":["null","string"],"format":"x-singer.decimal","precision":38,"scale":9},"#,
        r#""created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"},"#,
        r#""closed_at":{"type":["null","string"],"format":"date-time"},"confidential":{"type":"boolean"},"#,
        r#""state_id":{"type":"integer"},"time_estimate":{"type":["null","number"]},"labels":{"type":["null","array"],"items":{"type":"string"}},"#,
        r#""author":{"type":["null","object"]},"iid":{"type":"integer"},"due_date":{"type":["null","string"],"format":"date"}}},"#,
        r#""key_properties":["id"],"bookmark_properties":["updated_at"]}"#,
        "\n"
    ));
    }
    for id in 0..records {
        let word = |rng: &mut Rng| rng.pick(WORDS);
        let _ = write!(
            out,
            r#"{{"type":"RECORD","stream":"issues","record":{{"id":{id},"project_id":{},"title":"{} {} {}","#,
            rng.below(1_000_000),
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            rng.below(100_000),
        );
        let _ = write!(
            out,
            r#""description":"{} {} {} {} {} {} {} {}","weight":{}.{:09},"#,
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            rng.below(10_000_000_000),
            rng.below(1_000_000_000),
        );
        let secs = 1_600_000_000 + rng.below(100_000_000);
        let _ = write!(
            out,
            r#""created_at":"{}","updated_at":"{}","closed_at":{},"confidential":{},"state_id":{},"time_estimate":{},"#,
            timestamp(secs, rng.below(1_000_000)),
            timestamp(secs + rng.below(1_000_000), rng.below(1_000_000)),
            if rng.below(3) == 0 {
                "null".to_owned()
            } else {
                format!("\"{}\"", timestamp(secs + 2_000_000, 0))
            },
            rng.below(2) == 0,
            rng.below(4),
            if rng.below(4) == 0 {
                "null".to_owned()
            } else {
                format!("{}.5e3", rng.below(1000))
            },
        );
        let _ = write!(
            out,
            r#""labels":["{}","{}"],"author":{{"id":{},"username":"user{}","bot":false,"tz":null}},"iid":{},"due_date":{}}},"version":1700000000000,"time_extracted":"2024-05-01T12:00:00.000000+00:00"}}"#,
            json_escape(word(&mut rng)),
            json_escape(word(&mut rng)),
            rng.below(100_000),
            rng.below(100_000),
            id / 7 + 1,
            if rng.below(2) == 0 {
                "null".to_owned()
            } else {
                format!("\"2025-{:02}-{:02}\"", 1 + rng.below(12), 1 + rng.below(28))
            },
        );
        out.push('\n');
    }
    out.push_str(r#"{"type":"STATE","value":{"bookmarks":{"public-issues":{"replication_key":"updated_at","replication_key_value":"2024-05-01T12:00:00.000000+00:00"}}}}"#);
    out.push('\n');
    out.into_bytes()
}

fn timestamp(secs: u64, micros: u64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_owned()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_valid_singer_and_deterministic() {
        let a = issues_stream(200);
        assert_eq!(a, issues_stream(200));
        let messages: Vec<_> = singer_protocol::Reader::new(a.as_slice())
            .collect::<Result<_, _>>()
            .expect("valid stream");
        assert_eq!(messages.len(), 202);
        let sdk: Vec<_> =
            singer_protocol::Reader::new(issues_stream_shaped(200, Shape::Sdk).as_slice())
                .collect::<Result<_, _>>()
                .expect("valid stream");
        assert_eq!(sdk.len(), 202);
        assert_eq!(timestamp(0, 5), "1970-01-01T00:00:00.000005+00:00");
        assert_eq!(
            timestamp(1_700_000_000, 0),
            "2023-11-14T22:13:20.000000+00:00"
        );
    }
}
