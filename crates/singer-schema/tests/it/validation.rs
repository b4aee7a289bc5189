//! Table-driven validation tests: every keyword of issue #3 with passing and
//! failing records, the anyOf case, recursive `$ref` arrays, exact
//! `multipleOf`, decimal precision and each policy.

use serde_json::{Value, json};
use singer_schema::{Error, Outcome, ValidationConfig, ValidationPolicy, Validator};

/// A schema with one property `v`, and values that must pass / fail.
struct Case {
    name: &'static str,
    property: Value,
    pass: Vec<Value>,
    fail: Vec<Value>,
}

fn case(name: &'static str, property: Value, pass: Vec<Value>, fail: Vec<Value>) -> Case {
    Case {
        name,
        property,
        pass,
        fail,
    }
}

/// Numbers written as text, so they keep their digits (arbitrary_precision).
fn n(text: &str) -> Value {
    serde_json::from_str(text).expect("a JSON number")
}

fn run(cases: &[Case], config: &ValidationConfig) {
    for case in cases {
        let schema = json!({"type": "object", "properties": {"v": case.property}});
        let validator = Validator::new("s", &schema, config)
            .unwrap_or_else(|e| panic!("{}: schema compiles: {e}", case.name));
        for value in &case.pass {
            let record = json!({ "v": value });
            if let Err(e) = validator.validate(&record, 1) {
                panic!("{}: {value} must pass: {e}", case.name);
            }
            assert!(validator.is_valid(&record));
        }
        for value in &case.fail {
            let record = json!({ "v": value });
            let error = validator
                .validate(&record, 7)
                .err()
                .unwrap_or_else(|| panic!("{}: {value} must fail", case.name));
            assert_eq!(error.stream, "s");
            assert_eq!(error.line, 7);
            assert_eq!(
                error.pointer.split('/').nth(1),
                Some("v"),
                "{}: {error}",
                case.name
            );
            assert!(!error.expected.is_empty());
        }
    }
}

#[test]
fn every_keyword_passes_and_fails() {
    let cases = vec![
        case(
            "type list with null",
            json!({"type": ["null", "integer"]}),
            vec![
                json!(null),
                json!(1),
                n("-9223372036854775808"),
                n("123456789012345678901234567890"),
            ],
            vec![json!("1"), json!(1.5), json!(true), json!([])],
        ),
        case(
            "anyOf: number or the empty string (GitLab)",
            json!({"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}]}),
            vec![json!(""), json!(12), n("12.5")],
            vec![json!("abc"), json!(null), json!(" "), json!({})],
        ),
        case(
            "oneOf",
            json!({"oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]}),
            vec![json!(1), json!("ab")],
            vec![json!("abc"), json!(1.5)],
        ),
        case(
            "oneOf with overlapping branches fails on both",
            json!({"oneOf": [{"type": "number"}, {"type": "integer"}]}),
            vec![json!(1.5)],
            vec![json!(1)],
        ),
        case(
            "allOf",
            json!({"allOf": [{"type": "string"}, {"maxLength": 3}, {"pattern": "^a"}]}),
            vec![json!("abc"), json!("a")],
            vec![json!("abcd"), json!("bc"), json!(1)],
        ),
        case(
            "not",
            json!({"not": {"type": "string"}}),
            vec![json!(1), json!(null)],
            vec![json!("x")],
        ),
        case(
            "enum",
            json!({"enum": ["sad", "ok", "happy", null]}),
            vec![json!("ok"), json!(null)],
            vec![json!("angry"), json!(1)],
        ),
        case(
            "const",
            json!({"const": 1.5}),
            vec![n("1.5"), n("1.50")],
            vec![json!(1), json!("1.5")],
        ),
        case(
            "minimum / maximum inclusive",
            json!({"type": "integer", "minimum": -32768, "maximum": 32767}),
            vec![json!(-32768), json!(32767), json!(0)],
            vec![json!(-32769), json!(32768)],
        ),
        case(
            "draft 4 boolean exclusive bounds (pipelinewise numeric(38,38))",
            json!({"type": ["null", "number"], "exclusiveMaximum": true, "maximum": 1,
                   "multipleOf": n("1e-38"), "exclusiveMinimum": true, "minimum": -1}),
            vec![
                n("0.99999999999999999999999999999999999999"),
                n("-0.99999999999999999999999999999999999999"),
                n("-1E-38"),
                n("0"),
                json!(null),
            ],
            vec![
                json!(1),
                json!(-1),
                n("1.0"),
                n("1e-39"),
                n("0.999999999999999999999999999999999999991"),
            ],
        ),
        case(
            "draft 6 numeric exclusive bounds",
            json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": n("1e38")}),
            vec![n("1e-38"), n("99999999999999999999999999999999999999.99")],
            vec![
                json!(0),
                n("1e38"),
                n("100000000000000000000000000000000000000"),
            ],
        ),
        case(
            "exact multipleOf",
            json!({"type": "number", "multipleOf": 0.1}),
            vec![n("0.3"), n("0.7"), n("12345678901234567.8"), json!(3)],
            vec![n("0.35"), n("1e-10")],
        ),
        case(
            "integer multipleOf",
            json!({"type": "integer", "multipleOf": 2}),
            vec![json!(4), json!(0), n("123456789012345678901234567890")],
            vec![json!(3), n("123456789012345678901234567891")],
        ),
        case(
            "maxLength counts characters, not bytes",
            json!({"type": "string", "maxLength": 4}),
            vec![json!("ab  "), json!("ünïc"), json!("")],
            vec![json!("abcde"), json!("🚀🚀🚀🚀🚀")],
        ),
        case(
            "pattern",
            json!({"type": "string", "pattern": "^[0-9a-f-]{36}$"}),
            vec![json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")],
            vec![json!("not-a-uuid")],
        ),
        case(
            "required and additionalProperties on a nested object",
            json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}},
                   "additionalProperties": false}),
            vec![json!({"id": 1})],
            vec![json!({}), json!({"id": 1, "extra": 2}), json!({"id": "1"})],
        ),
        case(
            "format date-time (Singer and PostgreSQL spellings)",
            json!({"type": ["null", "string"], "format": "date-time"}),
            vec![
                json!("2024-01-01T00:00:00.123456+00:00"),
                json!("2024-01-01 00:00:00.123456+00"),
                json!("2024-01-01 00:00:00"),
                json!("0001-01-01T00:00:00+00:00"),
                json!(null),
                // tap-postgres's `keep` spellings of values outside RFC 3339.
                json!("infinity"),
                json!("-infinity"),
                json!("+10000-01-01T00:00:00.000000+00:00"),
                json!("-0043-03-15T00:00:00.000000+00:00"),
            ],
            vec![
                json!("2024-02-30T00:00:00Z"),
                json!("yesterday"),
                json!("Infinity"),
                json!("2024-01-01 00:00:00 BC"),
            ],
        ),
        case(
            "format date",
            json!({"type": "string", "format": "date"}),
            vec![json!("2024-02-29")],
            vec![json!("2023-02-29"), json!("2024-01-01T00:00:00Z")],
        ),
        case(
            "format time (with and without offset)",
            json!({"type": "string", "format": "time"}),
            vec![
                json!("23:59:59.999999"),
                json!("12:00:00+05:30"),
                json!("00:00:00-08"),
            ],
            vec![json!("25:00:00"), json!("noon")],
        ),
        case(
            "x-singer.decimal as string or exact number",
            json!({"type": ["null", "string"], "format": "x-singer.decimal", "precision": 10, "scale": 2}),
            vec![
                json!("99999999.99"),
                n("-99999999.99"),
                json!("0.1"),
                json!("1.500"),
                json!(null),
                n("1e2"),
                // PostgreSQL numeric's special values, as tap-postgres keeps them.
                json!("NaN"),
                json!("Infinity"),
                json!("-Infinity"),
            ],
            vec![
                json!("100000000.00"),
                n("123456789.1"),
                json!("0.001"),
                n("0.001"),
                json!("abc"),
                json!("nan"),
                json!("inf"),
                json!(""),
            ],
        ),
        case(
            "singer.decimal with precision only",
            json!({"type": "string", "format": "singer.decimal", "precision": 5}),
            vec![json!("12345"), json!("1.2345")],
            vec![json!("123456"), json!("1.23456")],
        ),
        case(
            "x-singer.decimal numeric(38,38) overflow",
            json!({"type": "string", "format": "x-singer.decimal", "precision": 38, "scale": 38}),
            vec![
                json!("0.99999999999999999999999999999999999999"),
                n("-1E-38"),
            ],
            vec![
                json!("1"),
                json!("0.999999999999999999999999999999999999999"),
            ],
        ),
    ];
    run(&cases, &ValidationConfig::default());
}

#[test]
fn formats_and_decimals_can_be_switched_off() {
    let config = ValidationConfig::default()
        .with_check_formats(false)
        .with_check_decimals(false);
    let cases = vec![
        case(
            "date-time unchecked",
            json!({"type": "string", "format": "date-time"}),
            vec![json!("yesterday")],
            vec![json!(1)],
        ),
        case(
            "decimal unchecked, but still a string or a number",
            json!({"type": "string", "format": "x-singer.decimal", "precision": 3, "scale": 0}),
            vec![json!("12345"), n("12345")],
            vec![json!(true)],
        ),
        case(
            "other formats are never asserted",
            json!({"type": "string", "format": "email"}),
            vec![json!("not an email")],
            vec![],
        ),
    ];
    run(&cases, &config);
    // And with the defaults, other formats are still annotations.
    run(&cases[2..], &ValidationConfig::default());
}

#[test]
fn recursive_ref_arrays_as_pipelinewise_emits() {
    let schema = json!({
        "type": "object",
        "properties": {
            "ints": {"type": ["null", "array"], "items": {"$ref": "#/definitions/sdc_recursive_integer_array"}},
            "stamps": {"type": ["null", "array"], "items": {"$ref": "#/definitions/sdc_recursive_timestamp_array"}},
        },
        "definitions": {
            "sdc_recursive_integer_array": {"type": ["null", "integer", "array"], "items": {"$ref": "#/definitions/sdc_recursive_integer_array"}},
            "sdc_recursive_timestamp_array": {"type": ["null", "string", "array"], "format": "date-time", "items": {"$ref": "#/definitions/sdc_recursive_timestamp_array"}},
        }
    });
    let v = Validator::new("arrays", &schema, &ValidationConfig::default()).unwrap();
    for ok in [
        json!({"ints": [1, 2, 3]}),
        json!({"ints": [[1, 2], [3, [4, null]]]}),
        json!({"ints": []}),
        json!({"stamps": [["2024-01-01T00:00:00+00:00"], null]}),
    ] {
        v.validate(&ok, 1).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let error = v
        .validate(&json!({"ints": [[1, 2], [3, "x"]]}), 9)
        .unwrap_err();
    assert_eq!(error.pointer, "/ints/1/1");
    assert_eq!(error.line, 9);
    let error = v
        .validate(&json!({"stamps": [["2024-13-01T00:00:00Z"]]}), 9)
        .unwrap_err();
    assert_eq!(error.pointer, "/stamps/0/0");
    assert_eq!(error.keyword, "format");
    assert_eq!(error.expected, "a date-time string");
}

#[test]
fn error_names_stream_line_pointer_and_expectation_without_contents() {
    let schema = json!({"type": "object", "properties": {
        "amount": {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}]},
        "c_num": {"type": ["null", "number"], "multipleOf": 0.01},
    }});
    let v = Validator::new("gitlab-issues", &schema, &ValidationConfig::default()).unwrap();
    let secret = "abc-secret-value";
    let error = v.validate(&json!({"amount": secret}), 42).unwrap_err();
    assert_eq!(error.pointer, "/amount");
    assert_eq!(error.keyword, "anyOf");
    assert_eq!(
        error.expected,
        "any of: (a value of type number) | (a string of at most 0 characters)"
    );
    assert_eq!(error.found, "a string of 16 characters");
    assert_eq!(error.value, "\"abc-secret-value\"");
    let text = error.to_string();
    assert_eq!(
        text,
        "stream \"gitlab-issues\", line 42: record fails its schema at /amount: expected any of: (a value of type number) | (a string of at most 0 characters), found a string of 16 characters"
    );
    assert!(!text.contains(secret));

    let error = v.validate(&json!({"c_num": n("1.005")}), 3).unwrap_err();
    assert_eq!(
        (error.keyword.as_str(), error.expected.as_str()),
        ("multipleOf", "a multiple of 0.01")
    );

    let error = v.validate(&json!([1]), 5).unwrap_err();
    assert_eq!(error.pointer, "");
    assert!(error.to_string().contains("at the root"), "{error}");
}

#[test]
fn huge_values_are_never_dumped() {
    let schema = json!({"type": "object", "properties": {"v": {"type": "integer"}}});
    let v = Validator::new("s", &schema, &ValidationConfig::default()).unwrap();
    let big = "x".repeat(1_000_000);
    let error = v.validate(&json!({ "v": big }), 1).unwrap_err();
    assert!(error.value.chars().count() <= 81, "{}", error.value.len());
    assert!(error.to_string().len() < 300);
    let error = v.validate(&json!({ "v": vec![1; 10_000] }), 1).unwrap_err();
    assert_eq!(error.value, "[… 10000 items]");
}

#[test]
fn null_passes_the_gitlab_union_only_where_the_schema_allows_null() {
    // The issue lists null among the values that pass. In the bare anyOf,
    // neither branch admits null (JSON Schema is explicit), so null fails
    // there, as a validator must. The GitLab schemas put the union under a
    // nullable wrapper (or leave the property out of `required`, so an
    // absent value is fine); both spellings are checked here.
    let bare = json!({"type": "object", "properties": {
        "v": {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}]}}});
    let nullable = json!({"type": "object", "properties": {
        "v": {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 0}, {"type": "null"}]}}});
    let wrapped = json!({"type": "object", "properties": {
        "v": {"type": ["null", "number", "string"], "anyOf": [{"type": ["null", "number"]}, {"type": "string", "maxLength": 0}]}}});
    let config = ValidationConfig::default();
    let bare = Validator::new("s", &bare, &config).unwrap();
    assert!(!bare.is_valid(&json!({"v": null})));
    assert!(bare.is_valid(&json!({})), "an absent property passes");
    for schema in [nullable, wrapped] {
        let v = Validator::new("s", &schema, &config).unwrap();
        for ok in [json!(""), json!(12), n("12.5"), json!(null)] {
            assert!(v.is_valid(&json!({ "v": ok })), "{ok}");
        }
        assert!(!v.is_valid(&json!({"v": "abc"})));
    }
}

#[test]
fn each_policy() {
    let schema = json!({"type": "object", "properties": {"id": {"type": "integer"}}});
    let bad = json!({"id": "x"});
    let good = json!({"id": 1});

    let fail = Validator::new("s", &schema, &ValidationConfig::default()).unwrap();
    assert_eq!(fail.policy(), ValidationPolicy::Fail);
    assert!(matches!(fail.check(&good, 1), Ok(Outcome::Valid)));
    let error = fail.check(&bad, 2).unwrap_err();
    assert_eq!(error.line, 2);
    let error: Error = error.into();
    assert!(error.is_schema_violation());

    let skip = Validator::new(
        "s",
        &schema,
        &ValidationConfig::default().with_policy(ValidationPolicy::Skip),
    )
    .unwrap();
    let outcome = skip.check(&bad, 3).unwrap();
    assert!(matches!(outcome, Outcome::Skip(_)));
    assert!(!outcome.loads());
    assert_eq!(outcome.error().map(|e| e.line), Some(3));
    assert!(skip.check(&good, 4).unwrap().loads());

    let log = Validator::new(
        "s",
        &schema,
        &ValidationConfig::default().with_policy(ValidationPolicy::Log),
    )
    .unwrap();
    let outcome = log.check(&bad, 5).unwrap();
    assert!(matches!(outcome, Outcome::Keep(_)));
    assert!(outcome.loads());
    assert_eq!(outcome.error().map(|e| e.pointer.as_str()), Some("/id"));

    // The config spelling a target reads.
    let config: ValidationConfig =
        serde_json::from_value(json!({"policy": "skip", "check_formats": false})).unwrap();
    assert_eq!(config.policy, ValidationPolicy::Skip);
    assert!(!config.check_formats && config.check_decimals);
    assert!(serde_json::from_value::<ValidationConfig>(json!({"polcy": "skip"})).is_err());
}

#[test]
fn invalid_schemas_are_clear_errors() {
    let config = ValidationConfig::default();
    let cases = [
        (
            json!([1, 2]),
            "",
            "a schema must be an object, found an array",
        ),
        (
            json!("object"),
            "",
            "a schema must be an object, found a string",
        ),
        (
            json!({"$schema": "https://example.com/my-draft", "type": "object"}),
            "/$schema",
            "unknown $schema",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "number", "minimum": "0"}}}),
            "/properties/a/minimum",
            "minimum must be a number, found a string",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "number", "multipleOf": 0}}}),
            "/properties/a/multipleOf",
            "multipleOf must be a positive number",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "format": "x-singer.decimal", "precision": -1}}}),
            "/properties/a/precision",
            "precision must be a non-negative integer",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "strin"}}}),
            "",
            "",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}}),
            "",
            "",
        ),
    ];
    for (schema, pointer, reason) in cases {
        match Validator::new("bad", &schema, &config) {
            Err(Error::InvalidSchema {
                stream,
                pointer: p,
                reason: r,
            }) => {
                assert_eq!(stream, "bad");
                if !reason.is_empty() {
                    assert_eq!(p, pointer, "{schema}");
                    assert!(r.contains(reason), "{schema}: {r}");
                }
            }
            other => panic!("{schema}: expected InvalidSchema, got {other:?}"),
        }
    }
    // A deep schema is a typed error. (serde_json refuses input nested past
    // 128 levels, so a parsed SCHEMA line cannot go much deeper.)
    let mut deep = json!({"type": "integer"});
    for _ in 0..100 {
        deep = json!({"type": "object", "properties": {"a": deep}});
    }
    assert!(matches!(
        Validator::new("deep", &deep, &config),
        Err(Error::SchemaTooDeep { max_depth: 64, .. })
    ));
}

#[test]
fn draft_follows_schema_keyword_else_draft_7() {
    let config = ValidationConfig::default();
    // 2020-12 (meltanolabs-tap-postgres declares it): `prefixItems` works.
    let schema = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"a": {"type": "array", "prefixItems": [{"type": "integer"}]}}});
    let v = Validator::new("s", &schema, &config).unwrap();
    assert!(!v.is_valid(&json!({"a": ["x"]})));
    // Draft 7 (default): `prefixItems` is unknown and ignored, `$defs` and
    // `definitions` both resolve.
    let schema = json!({"type": "object",
        "properties": {"a": {"type": "array", "prefixItems": [{"type": "integer"}]},
                       "b": {"$ref": "#/$defs/b"}, "c": {"$ref": "#/definitions/c"}},
        "$defs": {"b": {"type": "integer"}}, "definitions": {"c": {"type": "string"}}});
    let v = Validator::new("s", &schema, &config).unwrap();
    assert!(v.is_valid(&json!({"a": ["x"], "b": 1, "c": "x"})));
    assert!(!v.is_valid(&json!({"b": "x"})));
    assert!(!v.is_valid(&json!({"c": 1})));
    // Draft 7: siblings of $ref are ignored (the minimum below is inert).
    let schema = json!({"type": "object", "properties": {"b": {"$ref": "#/definitions/b", "minimum": 5}},
        "definitions": {"b": {"type": "integer"}}});
    assert!(
        Validator::new("s", &schema, &config)
            .unwrap()
            .is_valid(&json!({"b": 1}))
    );
    // Draft 4 declared: boolean exclusiveMaximum.
    let schema = json!({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
        "properties": {"a": {"type": "number", "maximum": 1, "exclusiveMaximum": true}}});
    let v = Validator::new("s", &schema, &config).unwrap();
    assert!(v.is_valid(&json!({"a": 0.5})) && !v.is_valid(&json!({"a": 1})));
}

#[test]
fn invalid_schema_error_points_into_the_streams_schema() {
    // The meta-schema rejects `"integr"`; the pointer is where it sits in the
    // stream's schema, not the meta-schema keyword that failed.
    let schema = json!({"type": "object", "properties": {"id": {"type": "integr"}}});
    let error = Validator::new("users", &schema, &ValidationConfig::new())
        .map(|_| ())
        .expect_err("not a valid schema");
    assert!(
        error
            .to_string()
            .starts_with("stream \"users\": invalid schema at /properties/id/type: "),
        "{error}"
    );
}
