use super::identify::oid;
use super::*;

/// Formerly the module's example (the module is internal now).
#[test]
fn numeric_renders_exactly_with_its_schema() {
    let numeric = PgType {
        oid: 1700,
        name: "numeric".into(),
        is_enum: false,
        typmod: ((12 << 16) | 2) + 4,
    };
    let codec = Codec::new("numeric(12,2)", &numeric, false, ValuePolicy::default());
    // 1.50 in the binary format: 2 digits, weight 0, positive, dscale 2, [1, 5000].
    let raw = [0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x13, 0x88];
    let mut out = Vec::new();
    codec
        .encode(Some(&raw), &mut out, &mut EncodeStats::new())
        .expect("encodes");
    assert_eq!(out, br#""1.50""#);
    assert_eq!(
        codec.json_schema(true).to_string(),
        r#"{"type":["string","null"],"format":"x-singer.decimal","precision":12,"scale":2}"#
    );
}

fn codec(oid: u32, name: &str, typmod: i32, array: bool, policy: ValuePolicy) -> Codec {
    let ty = PgType {
        oid,
        name: name.to_owned(),
        is_enum: false,
        typmod,
    };
    Codec::new(name, &ty, array, policy)
}

fn render(codec: &Codec, raw: &[u8]) -> Result<String, EncodeError> {
    let mut out = Vec::new();
    codec.encode(Some(raw), &mut out, &mut EncodeStats::new())?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn float_specials_follow_policy() {
    let keep = codec(
        oid::FLOAT8,
        "double precision",
        -1,
        false,
        ValuePolicy::default(),
    );
    let mut stats = EncodeStats::new();
    let mut out = Vec::new();
    keep.encode(Some(&f64::NAN.to_be_bytes()), &mut out, &mut stats)
        .unwrap();
    assert_eq!(out, b"\"NaN\"");
    assert_eq!(stats.count(SpecialValue::NaN), 1);
    let error = codec(
        oid::FLOAT8,
        "double precision",
        -1,
        false,
        ValuePolicy {
            number_special: NumberSpecialPolicy::Error,
            ..ValuePolicy::default()
        },
    );
    let err = render(&error, &f64::NEG_INFINITY.to_be_bytes()).unwrap_err();
    assert!(err.is_policy());
    assert_eq!(
        err.to_string(),
        "double precision value -Infinity (number_negative_infinity) is refused by the value policy"
    );
}

#[test]
fn malformed_values_are_errors_not_panics() {
    let policy = ValuePolicy::default();
    for (oid, name) in [
        (oid::INT4, "integer"),
        (oid::NUMERIC, "numeric"),
        (oid::UUID, "uuid"),
        (oid::BOOL, "boolean"),
        (oid::TIMETZ, "timetz"),
        (oid::JSONB, "jsonb"),
        (oid::INTERVAL, "interval"),
        (0, "hstore"),
    ] {
        for raw in [&[][..], &[1, 2, 3][..], &[0xFF; 40][..]] {
            let codec = codec(oid, name, -1, false, policy);
            let _ = render(&codec, raw);
            let array = Codec {
                array: true,
                ..codec
            };
            assert!(render(&array, raw).is_err(), "{name} array {raw:?}");
        }
    }
    let text = codec(oid::TEXT, "text", -1, false, policy);
    assert!(matches!(
        render(&text, b"\xff"),
        Err(EncodeError::InvalidUtf8 { .. })
    ));
}

#[test]
fn floats_render_shortest() {
    let f8 = codec(
        oid::FLOAT8,
        "double precision",
        -1,
        false,
        ValuePolicy::default(),
    );
    for (value, text) in [
        (0.1f64, "0.1"),
        (1.0, "1.0"),
        (1e20, "1e+20"),
        (-2.5e-7, "-2.5e-7"),
    ] {
        let rendered = render(&f8, &value.to_be_bytes()).unwrap();
        assert_eq!(rendered, text);
        assert_eq!(rendered.parse::<f64>().unwrap(), value);
    }
}
