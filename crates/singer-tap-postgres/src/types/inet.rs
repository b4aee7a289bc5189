//! The binary `inet`/`cidr` format, rendered exactly as PostgreSQL's
//! `network_out` does (the `::text` cast would add `/32` to every host
//! address).
//!
//! `inet_send` writes the family (2 = IPv4, 3 = IPv6), the mask length, an
//! is-cidr flag, the address length (4 or 16) and the address bytes.

use super::text::write_int;

const FAMILY_INET: u8 = 2;
const FAMILY_INET6: u8 = 3;

/// Appends the text of an `inet`/`cidr` value (without quotes).
///
/// # Errors
///
/// A description of the problem when `raw` is not a well-formed value.
pub(crate) fn write_inet(raw: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let Some((&[family, bits, is_cidr, len], address)) = raw.split_first_chunk::<4>() else {
        return Err("inet shorter than its 4-byte header");
    };
    let max_bits = match (family, address.len()) {
        (FAMILY_INET, 4) => 32,
        (FAMILY_INET6, 16) => 128,
        _ => return Err("inet with an unknown family or address length"),
    };
    if usize::from(len) != address.len() || bits > max_bits {
        return Err("inet with an inconsistent length or mask");
    }
    if family == FAMILY_INET {
        write_ipv4(address, out);
    } else {
        write_ipv6(address, out);
    }
    if bits != max_bits || is_cidr != 0 {
        out.push(b'/');
        write_int(out, bits);
    }
    Ok(())
}

fn write_ipv4(address: &[u8], out: &mut Vec<u8>) {
    for (i, octet) in address.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        write_int(out, *octet);
    }
}

/// PostgreSQL's `inet_net_ntop_ipv6` (from BIND): the longest run of at
/// least two zero words (the first of equal runs) becomes `::`, and
/// IPv4-compatible and IPv4-mapped addresses end in dotted quads.
fn write_ipv6(address: &[u8], out: &mut Vec<u8>) {
    let mut words = [0u16; 8];
    for (word, pair) in words.iter_mut().zip(address.chunks_exact(2)) {
        if let [high, low] = pair {
            *word = u16::from_be_bytes([*high, *low]);
        }
    }
    // The longest run of zero words.
    let (mut best_base, mut best_len) = (None::<usize>, 0usize);
    let (mut cur_base, mut cur_len) = (None::<usize>, 0usize);
    for (i, word) in words.iter().enumerate() {
        if *word == 0 {
            match cur_base {
                None => {
                    cur_base = Some(i);
                    cur_len = 1;
                }
                Some(_) => cur_len += 1,
            }
        } else if let Some(base) = cur_base.take()
            && (best_base.is_none() || cur_len > best_len)
        {
            best_base = Some(base);
            best_len = cur_len;
        }
    }
    if let Some(base) = cur_base
        && (best_base.is_none() || cur_len > best_len)
    {
        best_base = Some(base);
        best_len = cur_len;
    }
    if best_len < 2 {
        best_base = None;
    }
    let word = |i: usize| words.get(i).copied().unwrap_or(0);
    for i in 0..8 {
        if let Some(base) = best_base
            && i >= base
            && i < base + best_len
        {
            if i == base {
                out.push(b':');
            }
            continue;
        }
        if i != 0 {
            out.push(b':');
        }
        let embedded_ipv4 = i == 6
            && best_base == Some(0)
            && (best_len == 6
                || (best_len == 7 && word(7) != 1)
                || (best_len == 5 && word(5) == 0xFFFF));
        if embedded_ipv4 {
            write_ipv4(address.get(12..16).unwrap_or_default(), out);
            return;
        }
        write_hex_word(out, word(i));
    }
    if best_base.is_some_and(|base| base + best_len == 8) {
        out.push(b':');
    }
}

fn write_hex_word(out: &mut Vec<u8>, word: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nibble = (word >> shift) & 0xF;
        if nibble != 0 || started || shift == 0 {
            started = true;
            out.push(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &[u8]) -> String {
        let mut out = Vec::new();
        write_inet(raw, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_like_network_out() {
        assert_eq!(text(&[2, 32, 0, 4, 10, 0, 0, 1]), "10.0.0.1");
        assert_eq!(text(&[2, 24, 0, 4, 192, 168, 0, 1]), "192.168.0.1/24");
        assert_eq!(text(&[2, 32, 1, 4, 10, 0, 0, 1]), "10.0.0.1/32");
        let mut v6 = vec![3, 128, 0, 16];
        v6.extend_from_slice(&[0; 15]);
        v6.push(1);
        assert_eq!(text(&v6), "::1");
        let mut mapped = vec![3, 128, 0, 16];
        mapped.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4]);
        assert_eq!(text(&mapped), "::ffff:1.2.3.4");
        let mut net = vec![3, 32, 1, 16, 0x20, 0x01, 0x0d, 0xb8];
        net.extend_from_slice(&[0; 12]);
        assert_eq!(text(&net), "2001:db8::/32");
        assert!(write_inet(&[2, 33, 0, 4, 1, 2, 3, 4], &mut Vec::new()).is_err());
        assert!(write_inet(&[2, 32, 0, 4, 1, 2, 3], &mut Vec::new()).is_err());
    }
}
