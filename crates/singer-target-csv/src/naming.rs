//! File names: the naming template, safe stream names, part numbers, and
//! recognising a stream's files from earlier runs.

use std::fmt::Write as _;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Stream,
    Timestamp,
    Datestamp,
    RunId,
    Part,
}

/// A parsed `file_naming_scheme`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    tokens: Vec<Token>,
    /// Whether `{part}` is written; if not, parts after the first get
    /// `-NNNN` before the extension.
    explicit_part: bool,
}

/// What is the same for every file of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunStamp {
    /// `20240501T120000`.
    pub(crate) timestamp: String,
    /// `2024-05-01`.
    pub(crate) datestamp: String,
    /// 16 hex digits.
    pub(crate) run_id: String,
}

impl RunStamp {
    pub(crate) fn now() -> Self {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let mixed = u64::from_ne_bytes(nanos.to_ne_bytes()) ^ (u64::from(std::process::id()) << 40);
        Self {
            timestamp: now.format("%Y%m%dT%H%M%S").to_string(),
            datestamp: now.format("%Y-%m-%d").to_string(),
            run_id: format!("{mixed:016x}"),
        }
    }
}

impl Template {
    /// Parses a template; unknown `{names}` are an error.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let (literal, after) = rest.split_at(open);
            if !literal.is_empty() {
                tokens.push(Token::Literal(literal.to_owned()));
            }
            let Some(close) = after.find('}') else {
                return Err(format!("unclosed '{{' in file_naming_scheme {text:?}"));
            };
            let name = after.get(1..close).unwrap_or_default();
            tokens.push(match name {
                "stream" | "stream_name" => Token::Stream,
                "timestamp" => Token::Timestamp,
                "datestamp" => Token::Datestamp,
                "run_id" => Token::RunId,
                "part" => Token::Part,
                other => {
                    return Err(format!(
                        "unknown placeholder {{{other}}} in file_naming_scheme (known: stream, stream_name, timestamp, datestamp, run_id, part)"
                    ));
                }
            });
            rest = after.get(close + 1..).unwrap_or_default();
        }
        if !rest.is_empty() {
            tokens.push(Token::Literal(rest.to_owned()));
        }
        if !tokens.contains(&Token::Stream) {
            return Err(format!(
                "file_naming_scheme {text:?} must contain {{stream}}"
            ));
        }
        let explicit_part = tokens.contains(&Token::Part);
        Ok(Self {
            tokens,
            explicit_part,
        })
    }

    /// Whether every run renders the same names (no time or run id).
    pub(crate) fn is_run_independent(&self) -> bool {
        !self
            .tokens
            .iter()
            .any(|t| matches!(t, Token::Timestamp | Token::Datestamp | Token::RunId))
    }

    /// The relative path of part `part` (1-based) of `stream` (a safe name).
    pub(crate) fn render(&self, stream: &str, stamp: &RunStamp, part: u32, suffix: &str) -> String {
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                Token::Literal(text) => out.push_str(text),
                Token::Stream => out.push_str(stream),
                Token::Timestamp => out.push_str(&stamp.timestamp),
                Token::Datestamp => out.push_str(&stamp.datestamp),
                Token::RunId => out.push_str(&stamp.run_id),
                Token::Part => {
                    let _ = write!(out, "{part:04}");
                }
            }
        }
        if !self.explicit_part && part > 1 {
            let name_start = out.rfind('/').map_or(0, |i| i + 1);
            let at = out
                .get(name_start..)
                .and_then(|name| name.find('.'))
                .map_or(out.len(), |dot| name_start + dot);
            out.insert_str(at, &format!("-{part:04}"));
        }
        out.push_str(suffix);
        out
    }

    /// Whether `name` (a path relative to the destination, `/`-separated)
    /// is a file this template makes for `stream` in any run.
    pub(crate) fn matches(&self, stream: &str, name: &str, suffix: &str) -> bool {
        let Some(name) = name.strip_suffix(suffix) else {
            return false;
        };
        if self.explicit_part {
            return match_tokens(&self.tokens, stream, name);
        }
        // The implicit part: `-NNNN` before the first dot of the file name.
        if match_tokens(&self.tokens, stream, name) {
            return true;
        }
        let name_start = name.rfind('/').map_or(0, |i| i + 1);
        let file = name.get(name_start..).unwrap_or_default();
        let dot = file.find('.').map_or(name.len(), |d| name_start + d);
        let (head, tail) = name.split_at(dot);
        let Some(dash) = head.rfind('-') else {
            return false;
        };
        let digits = head.get(dash + 1..).unwrap_or_default();
        digits.len() >= 4
            && digits.bytes().all(|b| b.is_ascii_digit())
            && match_tokens(
                &self.tokens,
                stream,
                &format!("{}{tail}", head.get(..dash).unwrap_or_default()),
            )
    }
}

/// Matches `name` against the tokens, with strict shapes for the run
/// values so that one stream's files are never taken for another's.
fn match_tokens(tokens: &[Token], stream: &str, name: &str) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return name.is_empty();
    };
    let shaped = |len: usize, ok: &dyn Fn(usize, u8) -> bool| {
        name.len() >= len
            && name.bytes().take(len).enumerate().all(|(i, b)| ok(i, b))
            && match_tokens(rest, stream, name.get(len..).unwrap_or_default())
    };
    match first {
        Token::Literal(text) => name
            .strip_prefix(text.as_str())
            .is_some_and(|r| match_tokens(rest, stream, r)),
        Token::Stream => name
            .strip_prefix(stream)
            .is_some_and(|r| match_tokens(rest, stream, r)),
        Token::Timestamp => shaped(15, &|i, b| {
            if i == 8 {
                b == b'T'
            } else {
                b.is_ascii_digit()
            }
        }),
        Token::Datestamp => shaped(10, &|i, b| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        }),
        Token::RunId => shaped(16, &|_, b| b.is_ascii_hexdigit()),
        Token::Part => shaped(4, &|_, b| b.is_ascii_digit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> RunStamp {
        RunStamp {
            timestamp: "20240501T120000".to_owned(),
            datestamp: "2024-05-01".to_owned(),
            run_id: "00000000deadbeef".to_owned(),
        }
    }

    #[test]
    fn renders_parts_and_recognises_its_own_files() {
        let t = Template::parse("{stream}-{timestamp}.csv").expect("valid");
        assert_eq!(
            t.render("users", &stamp(), 1, ""),
            "users-20240501T120000.csv"
        );
        assert_eq!(
            t.render("users", &stamp(), 2, ".gz"),
            "users-20240501T120000-0002.csv.gz"
        );
        assert!(t.matches("users", "users-20240101T000000.csv", ""));
        assert!(t.matches("users", "users-20240101T000000-0003.csv.gz", ".gz"));
        assert!(!t.matches("users", "users-archive-20240101T000000.csv", ""));
        assert!(!t.matches("users", "users-20240101T000000.csv.partial", ""));
        // Another stream whose name starts with this one's.
        assert!(!t.matches("a", "a-b-20240101T000000.csv", ""));
        let explicit =
            Template::parse("out/{stream_name}/{datestamp}-{run_id}-{part}.tsv").expect("valid");
        assert_eq!(
            explicit.render("s", &stamp(), 2, ""),
            "out/s/2024-05-01-00000000deadbeef-0002.tsv"
        );
        assert!(explicit.matches("s", "out/s/2023-01-31-0123456789abcdef-0001.tsv", ""));
        assert!(!explicit.is_run_independent());
        assert!(
            Template::parse("{stream}.csv")
                .expect("valid")
                .is_run_independent()
        );
        assert_eq!(
            Template::parse("{table}.csv").expect_err("unknown"),
            "unknown placeholder {table} in file_naming_scheme (known: stream, stream_name, timestamp, datestamp, run_id, part)"
        );
        assert!(Template::parse("x.csv").is_err());
        assert!(Template::parse("{stream.csv").is_err());
    }
}
