//! Filling a manifest query's tokens without rewriting the operator's SQL.
//!
//! Only the known tokens are substituted; any other `{...}` (a JSON or
//! array literal, a regex) is left exactly as written, and `%%` (an
//! artefact of Python's `%` formatting upstream) becomes `%`. One pass over
//! the text: substituted values are never scanned again. The query is never
//! lower-cased or split: chunking wraps it in an outer `SELECT`.

/// Every token a manifest may use. The time tokens normally sit in
/// `import_query`, the allow lists in `additional_filtering`; both texts
/// get every known token.
pub const TOKENS: &[&str] = &[
    "BEGIN_TIMESTAMP",
    "END_TIMESTAMP",
    "EXECUTION_DATE",
    "HOURS",
    "DAYS",
    "INTERNAL_PROJECT_IDS",
    "INTERNAL_NAMESPACE_IDS",
    "INTERNAL_PROJECT_PATHS",
    "INTERNAL_NAMESPACE_PATHS",
    "INTERNAL_PATHS",
];

/// Renders `text`: each known `{TOKEN}` becomes `value(TOKEN)`, `%%`
/// becomes `%`, everything else is copied.
///
/// # Errors
///
/// The name of a known token for which `value` has nothing (an allow list
/// whose file is not configured).
pub fn render(text: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, &'static str> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find(['{', '%']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        if let Some(after) = from.strip_prefix("%%") {
            out.push('%');
            rest = after;
            continue;
        }
        if let Some(token) = token_at(from) {
            out.push_str(&value(token).ok_or(token)?);
            rest = from.get(token.len() + 2..).unwrap_or_default();
            continue;
        }
        // A lone `%` or a `{` that does not start a known token.
        let mut chars = from.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    Ok(out)
}

/// The known tokens `text` uses.
#[must_use]
#[cfg(test)]
pub fn tokens_in(text: &str) -> Vec<&'static str> {
    TOKENS
        .iter()
        .copied()
        .filter(|t| text.contains(&format!("{{{t}}}")))
        .collect()
}

fn token_at(text: &str) -> Option<&'static str> {
    let inner = text.strip_prefix('{')?;
    TOKENS
        .iter()
        .copied()
        .find(|t| inner.strip_prefix(t).is_some_and(|r| r.starts_with('}')))
}

/// The query and its filter as one subquery body: the query without a
/// trailing `;`, then the filter on its own line (so a trailing `--`
/// comment in the query cannot swallow it).
#[must_use]
pub fn body(query: &str, filtering: Option<&str>) -> String {
    let query = query.trim_end();
    let query = query.strip_suffix(';').unwrap_or(query).trim_end();
    match filtering.map(str::trim).filter(|f| !f.is_empty()) {
        Some(filter) => format!("{query}\n{filter}"),
        None => query.to_owned(),
    }
}

/// `SELECT <select> FROM (<body>) q [WHERE q.pk BETWEEN $1 AND $2] [ORDER BY q.pk]`.
#[must_use]
pub fn wrap(select: &str, body: &str, quoted_pk: Option<&str>, ranged: bool) -> String {
    let mut sql = format!("SELECT {select} FROM (\n{body}\n) q");
    if let Some(pk) = quoted_pk {
        if ranged {
            sql.push_str(&format!(" WHERE q.{pk} BETWEEN $1::int8 AND $2::int8"));
        }
        sql.push_str(&format!(" ORDER BY q.{pk}"));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(token: &str) -> Option<String> {
        match token {
            "BEGIN_TIMESTAMP" => Some("2024-06-01 00:00:00.000000".to_owned()),
            "HOURS" => Some("96".to_owned()),
            "INTERNAL_PROJECT_IDS" => Some("(1, 2)".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn only_known_tokens_are_substituted() {
        let text = "SELECT Id, '{bug}'::text[] AS l, '{\"a\": 1}'::jsonb FROM T WHERE Name ILIKE '%%GitLab%%' \
                    AND x LIKE 'a%' AND updated_at > '{BEGIN_TIMESTAMP}' - interval '{HOURS} hours' {UNKNOWN} {";
        assert_eq!(
            render(text, values).expect("rendered"),
            "SELECT Id, '{bug}'::text[] AS l, '{\"a\": 1}'::jsonb FROM T WHERE Name ILIKE '%GitLab%' \
             AND x LIKE 'a%' AND updated_at > '2024-06-01 00:00:00.000000' - interval '96 hours' {UNKNOWN} {"
        );
        assert_eq!(
            render("AND id IN {INTERNAL_PROJECT_IDS}", values),
            Ok("AND id IN (1, 2)".to_owned())
        );
        assert_eq!(render("{INTERNAL_PATHS}", values), Err("INTERNAL_PATHS"));
        // Substituted values are not rescanned.
        assert_eq!(
            render("{HOURS}%%", |_| Some("%%{HOURS}".to_owned())),
            Ok("%%{HOURS}%".to_owned())
        );
        assert_eq!(render("ünï{cödé}%", values), Ok("ünï{cödé}%".to_owned()));
    }

    #[test]
    fn wrapping_keeps_the_query_as_written() {
        let body = body(
            "SELECT Id FROM T -- trailing comment\n;  ",
            Some(" AND id IN (1)"),
        );
        assert_eq!(body, "SELECT Id FROM T -- trailing comment\nAND id IN (1)");
        assert_eq!(
            wrap("q.\"id\"", &body, Some("\"id\""), true),
            "SELECT q.\"id\" FROM (\nSELECT Id FROM T -- trailing comment\nAND id IN (1)\n) q \
             WHERE q.\"id\" BETWEEN $1::int8 AND $2::int8 ORDER BY q.\"id\""
        );
        assert_eq!(
            tokens_in("{EXECUTION_DATE} {HOURS} {X}"),
            ["EXECUTION_DATE", "HOURS"]
        );
    }
}
