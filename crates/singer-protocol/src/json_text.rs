//! JSON string literals as raw text: a record keeps its values as the JSON
//! text they arrived in, so targets read a string's content from it and
//! write strings back as JSON. One rule for every target.

use std::borrow::Cow;

/// The content of a JSON string literal (`"a\"b"` → `a"b`), borrowed when
/// it has no escapes.
///
/// ```
/// use singer_protocol::json_string_content;
///
/// assert_eq!(json_string_content(r#""plain""#)?, "plain");
/// assert_eq!(json_string_content(r#""say \"hi\"\n""#)?, "say \"hi\"\n");
/// assert!(json_string_content("12").is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Errors
///
/// When `literal` is not one JSON string.
pub fn json_string_content(literal: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    if let Some(inner) = literal.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
        && !inner.contains('\\')
    {
        return Ok(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(literal).map(Cow::Owned)
}

/// Appends `text` as a JSON string literal, copied as it is when nothing in
/// it needs escaping.
///
/// ```
/// let mut out = String::new();
/// singer_protocol::push_json_string(&mut out, "2024-05-01T12:00:00Z");
/// singer_protocol::push_json_string(&mut out, "a\"b\n");
/// assert_eq!(out, r#""2024-05-01T12:00:00Z""a\"b\n""#);
/// ```
pub fn push_json_string(out: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        // Serializing a str into a String cannot fail.
        out.push_str(&serde_json::Value::String(text.to_owned()).to_string());
    }
}
