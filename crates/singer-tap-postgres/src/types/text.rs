//! Writing JSON text: strings, padded integers, embedded JSON documents.

/// Appends `s` as a JSON string literal. Escapes `"`, `\` and the control
/// characters below U+0020 (with the short forms where JSON has them); every
/// other character, in every Unicode plane, is copied as UTF-8.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_escaped(out, s.as_bytes());
}

/// [`write_str`] for text that should be UTF-8 (PostgreSQL's text in the
/// database encoding): checked in the same pass as the escaping, with a
/// full check only when a byte is not ASCII. On an error nothing is
/// appended.
pub(crate) fn write_utf8(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), std::str::Utf8Error> {
    let mark = out.len();
    if write_escaped(out, bytes)
        && let Err(error) = std::str::from_utf8(bytes)
    {
        out.truncate(mark);
        return Err(error);
    }
    Ok(())
}

/// Appends `bytes` as a JSON string literal (escaping as [`write_str`]
/// says); `true` when some byte is not ASCII.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut high = 0_u64;
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut rest = bytes;
    let mut offset = 0;
    // Skip 8 bytes at a time while none of them needs escaping.
    while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
        let word = u64::from_ne_bytes(*chunk);
        high |= word;
        if !needs_escape(word) {
            offset += 8;
            rest = tail;
            continue;
        }
        for (i, &b) in chunk.iter().enumerate() {
            if let Some(escape) = escape_of(b) {
                let at = offset + i;
                out.extend_from_slice(bytes.get(start..at).unwrap_or_default());
                push_escape(out, b, escape);
                start = at + 1;
            }
        }
        offset += 8;
        rest = tail;
    }
    for (i, &b) in rest.iter().enumerate() {
        high |= u64::from(b) << 56;
        if let Some(escape) = escape_of(b) {
            let at = offset + i;
            out.extend_from_slice(bytes.get(start..at).unwrap_or_default());
            push_escape(out, b, escape);
            start = at + 1;
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
    high & HIGHS != 0
}

/// Whether any byte of `word` is `"`, `\` or below 0x20 (SWAR: a zero byte
/// test on `word ^ pattern`, and a borrow test for `< 0x20`).
#[inline]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * 0x22);
    let backslash = word ^ (ONES * 0x5C);
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    // A byte below 0x20 borrows when 0x20 is subtracted and had its high bit clear.
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    (has_zero(quote) | has_zero(backslash) | control) != 0
}

#[inline]
const fn escape_of(b: u8) -> Option<u8> {
    match b {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        b'\t' => Some(b't'),
        0x08 => Some(b'b'),
        0x0C => Some(b'f'),
        0..=0x1F => Some(b'u'),
        _ => None,
    }
}

fn push_escape(out: &mut Vec<u8>, b: u8, escape: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'\\');
    out.push(escape);
    if escape == b'u' {
        out.extend_from_slice(b"00");
        out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
        out.push(HEX.get(usize::from(b & 0xF)).copied().unwrap_or(b'0'));
    }
}

/// The two-digit decimal forms of 0 to 99, one after the other.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Writes the two digits of `value` (below 100) at `at` in `buf`.
#[inline]
pub(crate) fn put_pair(buf: &mut [u8], at: usize, value: u64) {
    let i = usize::try_from(value).unwrap_or(0) * 2;
    if let (Some(to), Some(digits)) = (buf.get_mut(at..at + 2), PAIRS.get(i..i + 2)) {
        to.copy_from_slice(digits);
    }
}

/// Appends the two digits of `value` (below 100).
#[inline]
fn push_pair(out: &mut Vec<u8>, value: u64) {
    let i = usize::try_from(value).unwrap_or(0) * 2;
    out.extend_from_slice(PAIRS.get(i..i + 2).unwrap_or(b"00"));
}

/// Appends `value` in decimal, left-padded with zeros to `width` digits.
/// The widths of dates and times (2, 4 and 6 digits) take a table, not a
/// division per digit: a timestamp renders seven such fields.
#[inline]
pub(crate) fn write_padded(out: &mut Vec<u8>, value: u64, width: usize) {
    match width {
        2 if value < 100 => return push_pair(out, value),
        4 if value < 10_000 => {
            push_pair(out, value / 100);
            return push_pair(out, value % 100);
        }
        6 if value < 1_000_000 => {
            push_pair(out, value / 10_000);
            push_pair(out, value / 100 % 100);
            return push_pair(out, value % 100);
        }
        _ => {}
    }
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(value).as_bytes();
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

/// Appends an integer in decimal.
pub(crate) fn write_int<I: itoa::Integer>(out: &mut Vec<u8>, value: I) {
    let mut buffer = itoa::Buffer::new();
    out.extend_from_slice(buffer.format(value).as_bytes());
}

/// Appends a JSON document as it is, except that line breaks (which are
/// insignificant whitespace outside JSON strings, and cannot occur raw
/// inside them) become spaces, so the record stays on one line.
pub(crate) fn write_json_document(out: &mut Vec<u8>, json: &str) {
    let start = out.len();
    out.extend_from_slice(json.as_bytes());
    if let Some(tail) = out.get_mut(start..) {
        for b in tail {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
    }
}

#[cfg(test)]
mod padded_tests {
    use super::write_padded;

    #[test]
    fn padded_numbers_match_the_general_form() {
        for width in [1, 2, 3, 4, 6, 8] {
            for value in (0..1_200_000_u64).step_by(37).chain([
                0,
                9,
                99,
                100,
                9_999,
                10_000,
                999_999,
                1_000_000,
                u64::MAX,
            ]) {
                let mut out = Vec::new();
                write_padded(&mut out, value, width);
                assert_eq!(String::from_utf8(out).unwrap(), format!("{value:0width$}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let cases = [
            "",
            "plain",
            "a\"b\\c",
            "tab\there\nnew\rline\u{8}\u{c}",
            "\u{1}\u{1f}\u{7f}",
            "0123456789abcdef\"0123456789\\abcdef\u{0}",
            "héllo wörld ✓ 𝄞 😀 \u{10FFFF} \u{2028}",
            "exactly8",
            "exactly8\"",
        ];
        for case in cases {
            let ours = json(case);
            assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), case);
            assert_eq!(ours, serde_json::to_string(case).unwrap(), "{case:?}");
        }
        for b in 0u8..=0x7F {
            let s = String::from(char::from(b)).repeat(9);
            assert_eq!(json(&s), serde_json::to_string(&s).unwrap(), "byte {b}");
        }
    }

    /// Bytes checked while escaped: what `str::from_utf8` accepts is
    /// written as `write_str` writes it; anything else is refused, with
    /// nothing written, wherever the bad byte is.
    #[test]
    fn utf8_is_checked_in_the_escaping_pass() {
        let good = [
            "",
            "ascii only, long enough",
            "héllo ✓ 😀",
            "a\"\\\n",
            "12345678é",
        ];
        for case in good {
            let mut out = b"x".to_vec();
            write_utf8(&mut out, case.as_bytes()).unwrap();
            assert_eq!(out[1..], *json(case).as_bytes(), "{case:?}");
        }
        for at in 0..20 {
            for bad in [
                &[0xff][..],
                &[0xc3],
                &[0xe2, 0x9c],
                &[0xed, 0xa0, 0x80],
                &[0x80],
            ] {
                let mut bytes = vec![b'a'; at];
                bytes.extend_from_slice(bad);
                bytes.extend_from_slice(b"tail");
                let mut out = b"x".to_vec();
                assert!(write_utf8(&mut out, &bytes).is_err(), "{bytes:?}");
                assert_eq!(out, b"x");
            }
        }
    }

    #[test]
    fn padded_integers() {
        let mut out = Vec::new();
        write_padded(&mut out, 7, 4);
        write_padded(&mut out, 12345, 4);
        write_padded(&mut out, 0, 2);
        assert_eq!(out, b"00071234500");
    }
}
