//! Property test: any JSON number, however long or large, passes through the
//! reader and writer byte for byte, and through `serde_json::Value` with every
//! digit kept.

use singer_protocol::{Message, Reader, Writer};

/// Deterministic xorshift generator (no RNG crate needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn digits(&mut self, max: u64, leading_nonzero: bool) -> String {
        let len = 1 + self.below(max);
        (0..len)
            .map(|i| {
                let d = if i == 0 && leading_nonzero {
                    1 + self.below(9)
                } else {
                    self.below(10)
                };
                char::from(b'0' + u8::try_from(d).expect("digit"))
            })
            .collect()
    }
}

/// A random JSON number: sign, integer part, optional fraction, optional exponent.
fn number(rng: &mut Rng) -> String {
    let mut n = String::new();
    if rng.below(2) == 0 {
        n.push('-');
    }
    if rng.below(5) == 0 {
        n.push('0');
    } else {
        n.push_str(&rng.digits(45, true));
    }
    if rng.below(2) == 0 {
        n.push('.');
        n.push_str(&rng.digits(40, false));
    }
    if rng.below(3) == 0 {
        n.push(['e', 'E'][usize::try_from(rng.below(2)).expect("small")]);
        match rng.below(3) {
            0 => n.push('+'),
            1 => n.push('-'),
            _ => {}
        }
        n.push_str(&rng.digits(4, false));
    }
    n
}

#[test]
fn numbers_round_trip_exactly() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut input = String::new();
    let mut numbers = Vec::new();
    for i in 0..5_000 {
        let n = number(&mut rng);
        input.push_str(&format!(
            "{{\"type\":\"RECORD\",\"stream\":\"n\",\"record\":{{\"i\":{i},\"n\":{n},\"list\":[{n},{{\"deep\":{n}}}]}}}}\n"
        ));
        numbers.push(n);
    }
    let mut writer = Writer::new(Vec::new());
    for (message, n) in Reader::new(input.as_bytes()).zip(&numbers) {
        let message = message.expect("valid");
        let Message::Record(record) = &message.message else {
            panic!("not a record")
        };
        // Through Value: every digit is kept (exponent letters are normalised
        // to `e`, and an exponent gets an explicit sign, which is the same number).
        let map = record.to_map().expect("object");
        let through_value = map["n"].to_string();
        assert_eq!(
            normalise_exponent(&through_value),
            normalise_exponent(n),
            "{n}"
        );
        writer.write(&message.message).expect("write");
    }
    assert_eq!(
        String::from_utf8(writer.into_inner()).expect("UTF-8"),
        input
    );
}

fn normalise_exponent(n: &str) -> String {
    let n = n.replace('E', "e");
    match n.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with(['+', '-']) => format!("{mantissa}e+{exp}"),
        _ => n,
    }
}
