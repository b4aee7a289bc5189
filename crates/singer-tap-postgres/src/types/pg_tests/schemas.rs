//! The JSON schema of every type in the matrix.

/// The JSON schema of every type in the matrix, for a nullable column.
pub(super) const SCHEMAS: &[(&str, &str)] = &[
    ("smallint", r#"{"type":["integer","null"]}"#),
    ("integer", r#"{"type":["integer","null"]}"#),
    ("bigint", r#"{"type":["integer","null"]}"#),
    ("oid", r#"{"type":["integer","null"]}"#),
    (
        "numeric",
        r#"{"type":["string","null"],"format":"x-singer.decimal"}"#,
    ),
    (
        "numeric(38,9)",
        r#"{"type":["string","null"],"format":"x-singer.decimal","precision":38,"scale":9}"#,
    ),
    (
        "numeric(5,2)",
        r#"{"type":["string","null"],"format":"x-singer.decimal","precision":5,"scale":2}"#,
    ),
    (
        "numeric(10,0)",
        r#"{"type":["string","null"],"format":"x-singer.decimal","precision":10,"scale":0}"#,
    ),
    (
        "numeric(2,-3)",
        r#"{"type":["string","null"],"format":"x-singer.decimal","precision":2,"scale":-3}"#,
    ),
    (
        "money",
        r#"{"type":["string","null"],"format":"x-singer.decimal"}"#,
    ),
    (
        "real",
        r#"{"anyOf":[{"type":["number","null"]},{"type":"string","enum":["NaN","Infinity","-Infinity"]}]}"#,
    ),
    (
        "double precision",
        r#"{"anyOf":[{"type":["number","null"]},{"type":"string","enum":["NaN","Infinity","-Infinity"]}]}"#,
    ),
    ("text", r#"{"type":["string","null"]}"#),
    ("varchar(5)", r#"{"type":["string","null"],"maxLength":5}"#),
    ("character varying", r#"{"type":["string","null"]}"#),
    ("char(5)", r#"{"type":["string","null"],"maxLength":5}"#),
    ("bpchar", r#"{"type":["string","null"]}"#),
    ("name", r#"{"type":["string","null"]}"#),
    ("citext", r#"{"type":["string","null"]}"#),
    ("\"char\"", r#"{"type":["string","null"]}"#),
    ("mood", r#"{"type":["string","null"]}"#),
    ("boolean", r#"{"type":["boolean","null"]}"#),
    ("date", r#"{"type":["string","null"],"format":"date"}"#),
    (
        "timestamp",
        r#"{"type":["string","null"],"format":"date-time"}"#,
    ),
    (
        "timestamp(0)",
        r#"{"type":["string","null"],"format":"date-time"}"#,
    ),
    (
        "timestamptz",
        r#"{"type":["string","null"],"format":"date-time"}"#,
    ),
    (
        "timestamp with time zone",
        r#"{"type":["string","null"],"format":"date-time"}"#,
    ),
    ("time", r#"{"type":["string","null"],"format":"time"}"#),
    ("timetz", r#"{"type":["string","null"],"format":"time"}"#),
    (
        "time with time zone",
        r#"{"type":["string","null"],"format":"time"}"#,
    ),
    ("interval", r#"{"type":["string","null"]}"#),
    (
        "json",
        r#"{"type":["object","array","string","number","boolean","null"]}"#,
    ),
    (
        "jsonb",
        r#"{"type":["object","array","string","number","boolean","null"]}"#,
    ),
    (
        "hstore",
        r#"{"type":["object","null"],"additionalProperties":{"type":["string","null"]}}"#,
    ),
    ("uuid", r#"{"type":["string","null"],"format":"uuid"}"#),
    (
        "bytea",
        r#"{"type":["string","null"],"contentEncoding":"base16"}"#,
    ),
    ("inet", r#"{"type":["string","null"]}"#),
    ("cidr", r#"{"type":["string","null"]}"#),
    ("macaddr", r#"{"type":["string","null"]}"#),
    ("macaddr8", r#"{"type":["string","null"]}"#),
    ("bit(3)", r#"{"type":["string","null"]}"#),
    ("varbit", r#"{"type":["string","null"]}"#),
    ("xml", r#"{"type":["string","null"]}"#),
    ("tsvector", r#"{"type":["string","null"]}"#),
    ("int4range", r#"{"type":["string","null"]}"#),
    ("numrange", r#"{"type":["string","null"]}"#),
    ("daterange", r#"{"type":["string","null"]}"#),
    ("int4multirange", r#"{"type":["string","null"]}"#),
    ("point", r#"{"type":["string","null"]}"#),
    ("line", r#"{"type":["string","null"]}"#),
    ("lseg", r#"{"type":["string","null"]}"#),
    ("box", r#"{"type":["string","null"]}"#),
    ("path", r#"{"type":["string","null"]}"#),
    ("polygon", r#"{"type":["string","null"]}"#),
    ("circle", r#"{"type":["string","null"]}"#),
    ("pair", r#"{"type":["string","null"]}"#),
    ("tsquery", r#"{"type":["string","null"]}"#),
    (
        "integer[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["integer","null"]},{"type":"array"}]}}"#,
    ),
    (
        "bigint[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["integer","null"]},{"type":"array"}]}}"#,
    ),
    (
        "smallint[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["integer","null"]},{"type":"array"}]}}"#,
    ),
    (
        "text[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
    ),
    (
        "varchar(3)[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"maxLength":3},{"type":"array"}]}}"#,
    ),
    (
        "numeric[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"format":"x-singer.decimal"},{"type":"array"}]}}"#,
    ),
    (
        "numeric(10,2)[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"format":"x-singer.decimal","precision":10,"scale":2},{"type":"array"}]}}"#,
    ),
    (
        "double precision[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"anyOf":[{"type":["number","null"]},{"type":"string","enum":["NaN","Infinity","-Infinity"]}]},{"type":"array"}]}}"#,
    ),
    (
        "boolean[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["boolean","null"]},{"type":"array"}]}}"#,
    ),
    (
        "date[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"format":"date"},{"type":"array"}]}}"#,
    ),
    (
        "timestamptz[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"format":"date-time"},{"type":"array"}]}}"#,
    ),
    (
        "interval[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
    ),
    (
        "uuid[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"format":"uuid"},{"type":"array"}]}}"#,
    ),
    (
        "bytea[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"contentEncoding":"base16"},{"type":"array"}]}}"#,
    ),
    (
        "jsonb[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["object","array","string","number","boolean","null"]},{"type":"array"}]}}"#,
    ),
    (
        "json[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["object","array","string","number","boolean","null"]},{"type":"array"}]}}"#,
    ),
    (
        "mood[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
    ),
    (
        "citext[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
    ),
    (
        "money[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"format":"x-singer.decimal"},{"type":"array"}]}}"#,
    ),
    (
        "inet[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
    ),
    (
        "int4range[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
    ),
    (
        "point[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
    ),
    (
        "hstore[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["object","null"],"additionalProperties":{"type":["string","null"]}},{"type":"array"}]}}"#,
    ),
    (
        "amount",
        r#"{"type":["string","null"],"format":"x-singer.decimal","precision":12,"scale":2}"#,
    ),
    (
        "positive_amount",
        r#"{"type":["string","null"],"format":"x-singer.decimal","precision":12,"scale":2}"#,
    ),
    (
        "amount[]",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"],"format":"x-singer.decimal","precision":12,"scale":2},{"type":"array"}]}}"#,
    ),
    (
        "int_list",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["integer","null"]},{"type":"array"}]}}"#,
    ),
    ("positive_int", r#"{"type":["integer","null"]}"#),
    ("code", r#"{"type":["string","null"],"maxLength":10}"#),
    ("address", r#"{"type":["string","null"]}"#),
    (
        "addresses",
        r#"{"type":["array","null"],"items":{"anyOf":[{"type":["string","null"]},{"type":"array"}]}}"#,
    ),
    (
        "happened",
        r#"{"type":["string","null"],"format":"date-time"}"#,
    ),
];
