//! Names made safe for files and paths.

use std::fmt::Write as _;

/// A name (a stream, a schema, a table) made safe as one file or path
/// component in any store (a file system, S3 keys, a stage path in SQL): ASCII letters,
/// digits, `_` and `-` kept, anything else becomes `_`; when anything
/// changed, 8 hex digits of a hash of the original name are appended so
/// that `a.b` and `a/b` (or `a_b`) never share a file.
///
/// ```
/// assert_eq!(singer_target::safe_name("public-users"), "public-users");
/// assert_ne!(singer_target::safe_name("a.b"), singer_target::safe_name("a_b"));
/// ```
#[must_use]
pub fn safe_name(stream: &str) -> String {
    let mut safe: String = stream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if safe.is_empty() {
        safe.push('_');
    }
    if safe != stream {
        // FNV-1a, 32 bits: stable across runs and platforms.
        let hash = stream.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        let _ = write!(safe, "-{hash:08x}");
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_never_collide() {
        assert_eq!(safe_name("public-users"), "public-users");
        let dotted = safe_name("a.b");
        let slashed = safe_name("a/b");
        assert!(dotted.starts_with("a_b-") && slashed.starts_with("a_b-"));
        assert_ne!(dotted, slashed);
        assert_ne!(dotted, safe_name("a_b"));
        assert!(!safe_name("..").contains('.'));
        assert!(safe_name("").starts_with("_-"));
        assert!(safe_name("ünï").is_ascii());
    }
}
