//! The type matrix (issue #4 part 5): every PostgreSQL type the tap maps,
//! read from the real PostgreSQL in the binary format (through a binary
//! portal and through `COPY … (FORMAT binary)`), rendered by its codec and
//! compared as exact JSON text; plus the JSON schema of every type.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure must abort the test loudly"
)]

use std::error::Error;
use std::io::Read;

use postgres::Client;
use postgres::types::{FromSql, Type};
use singer_tap_postgres::discovery::{ColumnInfo, DiscoveryFilter, discover};
use singer_tap_postgres::types::{
    EncodeStats, NumberSpecialPolicy, SpecialValue, SpecialValuePolicy, ValuePolicy,
};

/// The raw binary bytes of a value of any type.
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Self(Some(raw.to_vec())))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Self(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// One row of the matrix: a column type, an SQL expression for the value
/// (cast to the type), and the exact JSON text the tap must emit.
struct Case {
    ty: &'static str,
    literal: String,
    expected: String,
}

fn case(ty: &'static str, literal: &str, expected: &str) -> Case {
    Case {
        ty,
        literal: literal.to_owned(),
        expected: expected.to_owned(),
    }
}

/// Types the database needs before the matrix table is created.
const SETUP: &str = r"
CREATE EXTENSION citext;
CREATE EXTENSION hstore;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN amount AS numeric(12,2);
CREATE DOMAIN positive_amount AS amount CHECK (VALUE > 0);
CREATE DOMAIN int_list AS int[];
CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);
CREATE DOMAIN code AS varchar(10);
CREATE DOMAIN address AS inet;
CREATE DOMAIN addresses AS inet[];
CREATE DOMAIN happened AS timestamptz;
SET TimeZone = 'Asia/Kathmandu';
";

#[expect(
    clippy::too_many_lines,
    reason = "the matrix is one table, read top to bottom"
)]
fn cases() -> Vec<Case> {
    let mut cases = vec![
        // Integers.
        case("smallint", "32767", "32767"),
        case("smallint", "-32768", "-32768"),
        case("integer", "2147483647", "2147483647"),
        case("integer", "-2147483648", "-2147483648"),
        case("integer", "0", "0"),
        case("integer", "NULL", "null"),
        case("bigint", "9223372036854775807", "9223372036854775807"),
        case("bigint", "-9223372036854775808", "-9223372036854775808"),
        case("oid", "4294967295", "4294967295"),
        // numeric: every digit, the scale's trailing zeros, as strings.
        case("numeric", "0", r#""0""#),
        case("numeric", "0.0001", r#""0.0001""#),
        case("numeric", "-0.5", r#""-0.5""#),
        case("numeric", "10000", r#""10000""#),
        case("numeric", "1e-20", r#""0.00000000000000000001""#),
        case("numeric", "1.50", r#""1.50""#),
        case("numeric", "0.000", r#""0.000""#),
        case("numeric", "100.000100", r#""100.000100""#),
        case("numeric", "-12345678.87654321", r#""-12345678.87654321""#),
        case(
            "numeric",
            "123456789012345678901234567890.123456789012345678901234567890",
            r#""123456789012345678901234567890.123456789012345678901234567890""#,
        ),
        case("numeric", "'NaN'", r#""NaN""#),
        case("numeric", "'Infinity'", r#""Infinity""#),
        case("numeric", "'-Infinity'", r#""-Infinity""#),
        case("numeric", "NULL", "null"),
        case("numeric(38,9)", "1.5", r#""1.500000000""#),
        case("numeric(38,9)", "-0.000000001", r#""-0.000000001""#),
        case("numeric(5,2)", "-0.01", r#""-0.01""#),
        case("numeric(10,0)", "12345.5", r#""12346""#),
        case("numeric(2,-3)", "12345", r#""12000""#),
        case("money", "1234.56", r#""1234.56""#),
        case("money", "-0.01", r#""-0.01""#),
        // Floats: shortest round trip; NaN and infinities by policy.
        case("real", "1.1", "1.1"),
        case("real", "3.4028235e38", "3.4028235e+38"),
        case("real", "'NaN'", r#""NaN""#),
        case("double precision", "0.1", "0.1"),
        case("double precision", "1", "1.0"),
        case("double precision", "'-0'", "-0.0"),
        case("double precision", "123456789.125", "123456789.125"),
        case("double precision", "1e300", "1e+300"),
        case("double precision", "5e-324", "5e-324"),
        case("double precision", "'Infinity'", r#""Infinity""#),
        case("double precision", "'-Infinity'", r#""-Infinity""#),
        // Text of every kind and plane; '' is not NULL.
        case("text", "'hello'", r#""hello""#),
        case("text", "''", r#""""#),
        case("text", "NULL", "null"),
        case(
            "text",
            r"E'tab\there \x22q\x22 back\\slash \x01 nl\n'",
            r#""tab\there \"q\" back\\slash \u0001 nl\n""#,
        ),
        case(
            "text",
            "'é ✓ 𝄞 😀 𠀀 \u{E0041} \u{F0000} \u{10FFFF}'",
            "\"é ✓ 𝄞 😀 𠀀 \u{E0041} \u{F0000} \u{10FFFF}\"",
        ),
        case("varchar(5)", "'abc'", r#""abc""#),
        case("character varying", "'x'", r#""x""#),
        case("char(5)", "'ab'", r#""ab   ""#),
        case("bpchar", "'x '", r#""x ""#),
        case("name", "'pg_class'", r#""pg_class""#),
        case("citext", "'MiXeD'", r#""MiXeD""#),
        case("\"char\"", "'a'", r#""a""#),
        case("mood", "'happy 😀'", r#""happy 😀""#),
        case("mood", "NULL", "null"),
        // Booleans.
        case("boolean", "true", "true"),
        case("boolean", "false", "false"),
        // Dates: ISO 8601; special values kept as what they are.
        case("date", "'2024-02-29'", r#""2024-02-29""#),
        case("date", "'1999-12-31'", r#""1999-12-31""#),
        case("date", "'0001-01-01'", r#""0001-01-01""#),
        case("date", "'9999-12-31'", r#""9999-12-31""#),
        case("date", "'infinity'", r#""infinity""#),
        case("date", "'-infinity'", r#""-infinity""#),
        case("date", "'0044-03-15 BC'", r#""-0043-03-15""#),
        case("date", "'0001-12-31 BC'", r#""0000-12-31""#),
        case("date", "'4713-01-01 BC'", r#""-4712-01-01""#),
        case("date", "'10000-01-01'", r#""+10000-01-01""#),
        case("date", "'5874897-12-31'", r#""+5874897-12-31""#),
        // Timestamps: microseconds, +00:00.
        case(
            "timestamp",
            "'2024-01-01 12:34:56.123456'",
            r#""2024-01-01T12:34:56.123456+00:00""#,
        ),
        case(
            "timestamp",
            "'2024-01-01'",
            r#""2024-01-01T00:00:00.000000+00:00""#,
        ),
        case(
            "timestamp",
            "'1999-12-31 23:59:59.999999'",
            r#""1999-12-31T23:59:59.999999+00:00""#,
        ),
        case(
            "timestamp",
            "'1900-02-28 00:00:00.000001'",
            r#""1900-02-28T00:00:00.000001+00:00""#,
        ),
        case("timestamp", "'infinity'", r#""infinity""#),
        case("timestamp", "'-infinity'", r#""-infinity""#),
        case(
            "timestamp",
            "'0044-03-15 12:00:00 BC'",
            r#""-0043-03-15T12:00:00.000000+00:00""#,
        ),
        case(
            "timestamp",
            "'294276-12-31 23:59:59.999999'",
            r#""+294276-12-31T23:59:59.999999+00:00""#,
        ),
        case(
            "timestamp(0)",
            "'2024-01-01 10:00:00.6'",
            r#""2024-01-01T10:00:01.000000+00:00""#,
        ),
        case(
            "timestamptz",
            "'2024-01-01 00:00:00.123456+00'",
            r#""2024-01-01T00:00:00.123456+00:00""#,
        ),
        case(
            "timestamp with time zone",
            "'2024-06-30 23:30:00-07:30'",
            r#""2024-07-01T07:00:00.000000+00:00""#,
        ),
        case(
            "timestamptz",
            "'2024-01-01 05:45:00'",
            r#""2024-01-01T00:00:00.000000+00:00""#,
        ),
        case("timestamptz", "'infinity'", r#""infinity""#),
        case("timestamptz", "'-infinity'", r#""-infinity""#),
        case(
            "timestamptz",
            "'12000-01-01 00:00:00+00'",
            r#""+12000-01-01T00:00:00.000000+00:00""#,
        ),
        // Times.
        case("time", "'12:34:56.789'", r#""12:34:56.789000""#),
        case("time", "'00:00:00'", r#""00:00:00.000000""#),
        case("time", "'24:00:00'", r#""24:00:00.000000""#),
        case("timetz", "'12:34:56+05:30'", r#""12:34:56.000000+05:30""#),
        case(
            "time with time zone",
            "'23:59:59.999999-08'",
            r#""23:59:59.999999-08:00""#,
        ),
        case("timetz", "'00:00:00+00'", r#""00:00:00.000000+00:00""#),
        // Intervals: ISO 8601 durations as PostgreSQL's iso_8601 style prints them.
        case(
            "interval",
            "'1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds'",
            r#""P1Y2M3DT4H5M6.5S""#,
        ),
        case(
            "interval",
            "'-1 year -2 months +3 days -4 hours -5 minutes -6 seconds'",
            r#""P-1Y-2M3DT-4H-5M-6S""#,
        ),
        case("interval", "'0'", r#""PT0S""#),
        case("interval", "'-0.5 seconds'", r#""PT-0.5S""#),
        case("interval", "'1 microsecond'", r#""PT0.000001S""#),
        case("interval", "'100 hours'", r#""PT100H""#),
        case("interval", "'1 mon -1 day'", r#""P1M-1D""#),
        // JSON embedded as JSON; json keeps its text, jsonb its normal form.
        case(
            "json",
            r#"'{"b": 1, "a": [1.10, 2e5, null], "b": 2}'"#,
            r#"{"b": 1, "a": [1.10, 2e5, null], "b": 2}"#,
        ),
        case("json", "E'{\\n\"a\":\\r\\n 1}'", r#"{ "a":   1}"#),
        case("json", "'123.4500'", "123.4500"),
        case(
            "jsonb",
            r#"'{"b": 1, "a": [1.10, 2e5], "k": "😀 \"q\""}'"#,
            r#"{"a": [1.10, 200000], "b": 1, "k": "😀 \"q\""}"#,
        ),
        case("jsonb", r#"'"str"'"#, r#""str""#),
        case("jsonb", "'null'", "null"),
        case("jsonb", "NULL", "null"),
        case(
            "hstore",
            r#"'"a"=>"1", "b"=>NULL, "c d"=>"x\"y"'"#,
            r#"{"a":"1","b":null,"c d":"x\"y"}"#,
        ),
        case("hstore", "''", "{}"),
        // Identifiers and bytes.
        case(
            "uuid",
            "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
            r#""a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11""#,
        ),
        case("bytea", r"'\xDEADBEEF00'", r#""deadbeef00""#),
        case("bytea", "''", r#""""#),
        // Read through ::text.
        case("inet", "'192.168.0.1/24'", r#""192.168.0.1/24""#),
        case("inet", "'::1'", r#""::1""#),
        case("inet", "'10.0.0.1/32'", r#""10.0.0.1""#),
        case("inet", "'::ffff:1.2.3.4'", r#""::ffff:1.2.3.4""#),
        case(
            "inet",
            "'2001:db8:0:0:1:0:0:1/64'",
            r#""2001:db8::1:0:0:1/64""#,
        ),
        case("cidr", "'10.0.0.0/8'", r#""10.0.0.0/8""#),
        case("cidr", "'10.1.2.3/32'", r#""10.1.2.3/32""#),
        case("cidr", "'2001:db8::/32'", r#""2001:db8::/32""#),
        case("macaddr", "'08:00:2B:01:02:03'", r#""08:00:2b:01:02:03""#),
        case(
            "macaddr8",
            "'08:00:2b:01:02:03:04:05'",
            r#""08:00:2b:01:02:03:04:05""#,
        ),
        case("bit(3)", "B'101'", r#""101""#),
        case("varbit", "B'1101'", r#""1101""#),
        case("xml", "'<a x=\"1\">t</a>'", r#""<a x=\"1\">t</a>""#),
        case("tsvector", "'a fat cat'", r#""'a' 'cat' 'fat'""#),
        case("int4range", "'[1,10)'", r#""[1,10)""#),
        case("numrange", "'(1.5,2.5]'", r#""(1.5,2.5]""#),
        case(
            "daterange",
            "'[2024-01-01,2024-02-01)'",
            r#""[2024-01-01,2024-02-01)""#,
        ),
        case("int4multirange", "'{[1,3),[5,7)}'", r#""{[1,3),[5,7)}""#),
        case("point", "'(1,2.5)'", r#""(1,2.5)""#),
        case("line", "'{1,2,3}'", r#""{1,2,3}""#),
        case("lseg", "'[(0,0),(1,1)]'", r#""[(0,0),(1,1)]""#),
        case("box", "'(1,1),(0,0)'", r#""(1,1),(0,0)""#),
        case("path", "'[(0,0),(1,1)]'", r#""[(0,0),(1,1)]""#),
        case(
            "polygon",
            "'((0,0),(1,1),(1,0))'",
            r#""((0,0),(1,1),(1,0))""#,
        ),
        case("circle", "'<(0,0),1>'", r#""<(0,0),1>""#),
        case("pair", "'(1,\"x y\")'", r#""(1,\"x y\")""#),
        case("tsquery", "'fat & rat'", r#""'fat' & 'rat'""#),
        // Arrays: nested per dimension, NULL elements kept, bounds dropped.
        case("integer[]", "'{1,2,3}'", "[1,2,3]"),
        case("integer[]", "'{}'", "[]"),
        case("integer[]", "'{{1,2},{3,NULL}}'", "[[1,2],[3,null]]"),
        case("integer[]", "'{NULL}'", "[null]"),
        case("integer[]", "'[0:1]={5,6}'", "[5,6]"),
        case(
            "integer[]",
            "'{{{1},{2}},{{3},{4}}}'",
            "[[[1],[2]],[[3],[4]]]",
        ),
        case("integer[]", "NULL", "null"),
        case(
            "bigint[]",
            "'{-9223372036854775808}'",
            "[-9223372036854775808]",
        ),
        case("smallint[]", "'{1,-1}'", "[1,-1]"),
        case(
            "text[]",
            r#"'{"a","","b c",NULL,"😀","q\"uote"}'"#,
            r#"["a","","b c",null,"😀","q\"uote"]"#,
        ),
        case("varchar(3)[]", "'{ab,abc}'", r#"["ab","abc"]"#),
        case(
            "numeric[]",
            "'{1.50,NaN,-0.001}'",
            r#"["1.50","NaN","-0.001"]"#,
        ),
        case(
            "numeric(10,2)[]",
            "'{{1,2},{3,4}}'",
            r#"[["1.00","2.00"],["3.00","4.00"]]"#,
        ),
        case(
            "double precision[]",
            "'{1.5,NaN,-Infinity}'",
            r#"[1.5,"NaN","-Infinity"]"#,
        ),
        case("boolean[]", "'{t,f,NULL}'", "[true,false,null]"),
        case(
            "date[]",
            "'{2024-01-01,infinity}'",
            r#"["2024-01-01","infinity"]"#,
        ),
        case(
            "timestamptz[]",
            r#"'{"2024-01-01 00:00:00+00",-infinity}'"#,
            r#"["2024-01-01T00:00:00.000000+00:00","-infinity"]"#,
        ),
        case("interval[]", "'{1 day,-1 hour}'", r#"["P1D","PT-1H"]"#),
        case(
            "uuid[]",
            "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'",
            r#"["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]"#,
        ),
        case("bytea[]", r#"'{"\\x0102",NULL}'"#, r#"["0102",null]"#),
        case(
            "jsonb[]",
            r#"'{"{\"a\": 1}","[1, 2]",null}'"#,
            r#"[{"a": 1},[1, 2],null]"#,
        ),
        case("json[]", r#"ARRAY['{"a":1}'::json]"#, r#"[{"a":1}]"#),
        case("mood[]", "'{sad,ok}'", r#"["sad","ok"]"#),
        case("citext[]", "'{A,b}'", r#"["A","b"]"#),
        case("money[]", "'{1.23,-4}'", r#"["1.23","-4.00"]"#),
        case("inet[]", "'{10.0.0.1,::1}'", r#"["10.0.0.1","::1"]"#),
        case(
            "int4range[]",
            r#"'{"[1,2)",empty}'"#,
            r#"["[1,2)","empty"]"#,
        ),
        case("point[]", r#"'{"(1,2)"}'"#, r#"["(1,2)"]"#),
        case("hstore[]", r#"ARRAY['a=>b'::hstore]"#, r#"[{"a":"b"}]"#),
        // Domains behave as their base type.
        case("amount", "5", r#""5.00""#),
        case("positive_amount", "0.5", r#""0.50""#),
        case("amount[]", "'{1.5,NULL}'", r#"["1.50",null]"#),
        case("int_list", "'{1,NULL,3}'", "[1,null,3]"),
        case("positive_int", "7", "7"),
        case("code", "'ABC'", r#""ABC""#),
        case("address", "'1.2.3.4'", r#""1.2.3.4""#),
        case("addresses", "'{1.2.3.4,::1}'", r#"["1.2.3.4","::1"]"#),
        case(
            "happened",
            "'2024-01-01 00:00:00+00'",
            r#""2024-01-01T00:00:00.000000+00:00""#,
        ),
    ];
    // A 1000-digit integer and a number with 1000 digits after the point.
    let nines = "9".repeat(1000);
    cases.push(Case {
        ty: "numeric",
        literal: format!("'{nines}'"),
        expected: format!("\"{nines}\""),
    });
    let fraction = format!("0.{}1", "0".repeat(998));
    cases.push(Case {
        ty: "numeric",
        literal: format!("'-{fraction}'"),
        expected: format!("\"-{fraction}\""),
    });
    cases.push(Case {
        ty: "numeric",
        literal: "1e100".to_owned(),
        expected: format!("\"1{}\"", "0".repeat(100)),
    });
    cases.push(Case {
        ty: "text",
        literal: "repeat('ab\"', 10000)".to_owned(),
        expected: format!("\"{}\"", "ab\\\"".repeat(10000)),
    });
    cases
}

/// The JSON schema of every type in the matrix, for a nullable column.
const SCHEMAS: &[(&str, &str)] = &[
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

/// A database with the matrix table `m` (one column per case, one row) and
/// its discovered columns.
fn matrix(prefix: &str, cases: &[Case], policy: ValuePolicy) -> (Client, Vec<ColumnInfo>) {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database(prefix).expect("create database");
    let mut client = cluster.connect(&db).expect("connect");
    client.batch_execute(SETUP).expect("setup types");
    let columns: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| format!("c{i} {}", c.ty))
        .collect();
    let values: Vec<String> = cases
        .iter()
        .map(|c| format!("({})::{}", c.literal, c.ty))
        .collect();
    client
        .batch_execute(&format!(
            "CREATE TABLE m ({}); INSERT INTO m VALUES ({});",
            columns.join(", "),
            values.join(", ")
        ))
        .expect("create and fill the matrix table");
    let filter = DiscoveryFilter {
        include: vec!["public.m".to_owned()],
        ..DiscoveryFilter::default()
    };
    let mut tables = discover(&mut client, &filter, policy).expect("discover");
    assert_eq!(tables.len(), 1);
    let columns = tables.remove(0).columns;
    assert_eq!(columns.len(), cases.len());
    (client, columns)
}

fn select_list(columns: &[ColumnInfo]) -> String {
    columns
        .iter()
        .map(ColumnInfo::select_expr)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Encodes each value and compares it with the expected JSON text; returns
/// every mismatch so one run shows them all.
fn check(
    cases: &[Case],
    columns: &[ColumnInfo],
    values: &[Option<Vec<u8>>],
    stats: &mut EncodeStats,
) -> Vec<String> {
    let mut failures = Vec::new();
    for ((case, column), raw) in cases.iter().zip(columns).zip(values) {
        let mut out = Vec::new();
        match column.codec.encode(raw.as_deref(), &mut out, stats) {
            Ok(()) => {
                let got = String::from_utf8(out).expect("UTF-8 output");
                if got != case.expected {
                    failures.push(format!(
                        "{} {}: expected {}, got {}",
                        case.ty,
                        shorten(&case.literal),
                        shorten(&case.expected),
                        shorten(&got)
                    ));
                } else if let Err(error) = serde_json::from_str::<serde_json::Value>(&got) {
                    failures.push(format!("{} {}: not JSON: {error}", case.ty, case.literal));
                }
            }
            Err(error) => failures.push(format!("{} {}: {error}", case.ty, case.literal)),
        }
    }
    failures
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_owned()
    }
}

#[test]
fn type_matrix_through_a_binary_portal() {
    let cases = cases();
    let (mut client, columns) = matrix("type_matrix", &cases, ValuePolicy::default());
    let row = client
        .query_one(&format!("SELECT {} FROM m", select_list(&columns)), &[])
        .expect("select the matrix row");
    let values: Vec<Option<Vec<u8>>> = (0..columns.len())
        .map(|i| row.try_get::<_, Raw>(i).expect("raw value").0)
        .collect();
    let mut stats = EncodeStats::new();
    let failures = check(&cases, &columns, &values, &mut stats);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every special value was counted, by kind.
    assert_eq!(stats.count(SpecialValue::NaN), 4);
    assert_eq!(stats.count(SpecialValue::NumberInfinity), 2);
    assert_eq!(stats.count(SpecialValue::NumberNegativeInfinity), 3);
    assert_eq!(stats.count(SpecialValue::TemporalInfinity), 4);
    assert_eq!(stats.count(SpecialValue::TemporalNegativeInfinity), 4);
    assert_eq!(stats.count(SpecialValue::BeforeCommonEra), 4);
    assert_eq!(stats.count(SpecialValue::YearAfter9999), 4);
}

#[test]
fn type_matrix_through_copy_binary() {
    let cases = cases();
    let (mut client, columns) = matrix("type_matrix_copy", &cases, ValuePolicy::default());
    let mut reader = client
        .copy_out(&format!(
            "COPY (SELECT {} FROM m) TO STDOUT (FORMAT binary)",
            select_list(&columns)
        ))
        .expect("copy out");
    let mut data = Vec::new();
    reader.read_to_end(&mut data).expect("read the copy stream");
    let values = parse_copy_binary(&data);
    assert_eq!(values.len(), 1, "one row");
    let failures = check(&cases, &columns, &values[0], &mut EncodeStats::new());
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The tuples of a `COPY … (FORMAT binary)` stream.
fn parse_copy_binary(data: &[u8]) -> Vec<Vec<Option<Vec<u8>>>> {
    const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
    assert!(data.starts_with(SIGNATURE));
    let mut at = SIGNATURE.len() + 4;
    let extension = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    at += 4 + extension;
    let mut rows = Vec::new();
    loop {
        let fields = i16::from_be_bytes(data[at..at + 2].try_into().unwrap());
        at += 2;
        if fields == -1 {
            break;
        }
        let mut row = Vec::new();
        for _ in 0..fields {
            let len = i32::from_be_bytes(data[at..at + 4].try_into().unwrap());
            at += 4;
            if len < 0 {
                row.push(None);
            } else {
                let len = usize::try_from(len).unwrap();
                row.push(Some(data[at..at + len].to_vec()));
                at += len;
            }
        }
        rows.push(row);
    }
    assert_eq!(at, data.len());
    rows
}

#[test]
fn every_type_has_its_schema_and_sql_datatype() {
    let cases = cases();
    let (_client, columns) = matrix("type_schemas", &cases, ValuePolicy::default());
    let mut failures = Vec::new();
    for (case, column) in cases.iter().zip(&columns) {
        let Some((_, expected)) = SCHEMAS.iter().find(|(ty, _)| *ty == case.ty) else {
            failures.push(format!("no expected schema for {}", case.ty));
            continue;
        };
        let got = column.codec.json_schema(column.nullable).to_string();
        if got != *expected {
            failures.push(format!("{}: expected {expected}, got {got}", case.ty));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let sql_datatype = |ty: &str| {
        let index = cases
            .iter()
            .position(|c| c.ty == ty)
            .expect("a case of the type");
        columns[index].codec.sql_datatype().to_owned()
    };
    assert_eq!(sql_datatype("numeric(38,9)"), "numeric(38,9)");
    assert_eq!(sql_datatype("timestamptz"), "timestamp with time zone");
    assert_eq!(sql_datatype("integer[]"), "integer[]");
    assert_eq!(sql_datatype("varchar(5)"), "character varying(5)");
    assert_eq!(sql_datatype("amount"), "amount");
    assert_eq!(sql_datatype("mood[]"), "mood[]");
    // A NOT NULL column's schema has no "null".
    let text = cases.iter().position(|c| c.ty == "text").expect("text");
    let not_null = columns[text].codec.json_schema(false).to_string();
    assert_eq!(not_null, r#"{"type":"string"}"#);
}

#[test]
fn special_value_policies_null_clamp_and_error() {
    let cases = vec![
        case("date", "'infinity'", ""),
        case("date", "'-infinity'", ""),
        case("date", "'0044-03-15 BC'", ""),
        case("date", "'10000-01-01'", ""),
        case("timestamp", "'infinity'", ""),
        case("timestamptz", "'-infinity'", ""),
        case("timestamptz", "'0001-01-01 00:00:00+00 BC'", ""),
        case("timestamp", "'10000-01-01 12:00'", ""),
        case("numeric", "'NaN'", ""),
        case("real", "'-Infinity'", ""),
        case("double precision", "'Infinity'", ""),
        case("date", "'2024-01-01'", ""),
    ];
    let clamped = [
        r#""9999-12-31""#,
        r#""0001-01-01""#,
        r#""0001-01-01""#,
        r#""9999-12-31""#,
        r#""9999-12-31T23:59:59.999999+00:00""#,
        r#""0001-01-01T00:00:00.000000+00:00""#,
        r#""0001-01-01T00:00:00.000000+00:00""#,
        r#""9999-12-31T23:59:59.999999+00:00""#,
        "null",
        "null",
        "null",
        r#""2024-01-01""#,
    ];
    let policy = ValuePolicy {
        temporal_infinity: SpecialValuePolicy::Clamp,
        temporal_out_of_range: SpecialValuePolicy::Clamp,
        number_special: NumberSpecialPolicy::Null,
    };
    let (mut client, columns) = matrix("type_policies", &cases, policy);
    let row = client
        .query_one(&format!("SELECT {} FROM m", select_list(&columns)), &[])
        .expect("select");
    let values: Vec<Option<Vec<u8>>> = (0..columns.len())
        .map(|i| row.try_get::<_, Raw>(i).expect("raw").0)
        .collect();
    let mut stats = EncodeStats::new();
    for ((column, raw), expected) in columns.iter().zip(&values).zip(clamped) {
        let mut out = Vec::new();
        column
            .codec
            .encode(raw.as_deref(), &mut out, &mut stats)
            .expect("encode");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            expected,
            "{}",
            column.codec.sql_datatype()
        );
    }
    assert_eq!(stats.total(), 11);
    // With `null`, the schemas admit null even for NOT NULL columns; floats
    // are plain numbers.
    assert_eq!(
        columns[10].codec.json_schema(false).to_string(),
        r#"{"type":["number","null"]}"#
    );

    // The same values with `null` for temporal values, then `error`.
    let nulls = ValuePolicy {
        temporal_infinity: SpecialValuePolicy::Null,
        temporal_out_of_range: SpecialValuePolicy::Null,
        number_special: NumberSpecialPolicy::Null,
    };
    let errors = ValuePolicy {
        temporal_infinity: SpecialValuePolicy::Error,
        temporal_out_of_range: SpecialValuePolicy::Error,
        number_special: NumberSpecialPolicy::Error,
    };
    let (mut client, null_columns) = matrix("type_policies_null", &cases, nulls);
    let row = client
        .query_one(
            &format!("SELECT {} FROM m", select_list(&null_columns)),
            &[],
        )
        .expect("select");
    for (i, column) in null_columns.iter().enumerate() {
        let raw = row.try_get::<_, Raw>(i).expect("raw").0;
        let mut out = Vec::new();
        column
            .codec
            .encode(raw.as_deref(), &mut out, &mut EncodeStats::new())
            .expect("encode");
        let expected = if i == 11 { r#""2024-01-01""# } else { "null" };
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert!(column.codec.json_schema(false).to_string().contains("null"));
    }
    let (mut client, error_columns) = matrix("type_policies_error", &cases, errors);
    let row = client
        .query_one(
            &format!("SELECT {} FROM m", select_list(&error_columns)),
            &[],
        )
        .expect("select");
    let mut messages = Vec::new();
    for (i, column) in error_columns.iter().enumerate().take(11) {
        let raw = row.try_get::<_, Raw>(i).expect("raw").0;
        let error = column
            .codec
            .encode(raw.as_deref(), &mut Vec::new(), &mut EncodeStats::new())
            .expect_err("the policy refuses it");
        assert!(error.is_policy());
        messages.push(error.to_string());
    }
    assert_eq!(
        messages[2],
        "date value -0043-03-15 (before_common_era) is refused by the value policy"
    );
    assert_eq!(
        messages[7],
        "timestamp without time zone value +10000-01-01T12:00:00.000000+00:00 (year_after_9999) is refused by the value policy"
    );
    assert_eq!(
        messages[8],
        "numeric value NaN (nan) is refused by the value policy"
    );
}

/// Numeric rendering equals PostgreSQL's own `numeric_out` over many
/// generated values (weights, scales, zeros inside, signs).
#[test]
fn numeric_matches_numeric_out() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster
        .create_database("numeric_out")
        .expect("create database");
    let mut client = cluster.connect(&db).expect("connect");
    client
        .batch_execute(
            "CREATE TABLE n (v numeric);
             INSERT INTO n
             SELECT round(((random() - 0.5) * 10 ^ (random() * 60 - 30))::numeric, (random() * 40)::int - 10)
             FROM generate_series(1, 3000);
             INSERT INTO n
             SELECT (g::text || '.' || repeat('0', g % 9) || (g * 7)::text)::numeric * 10 ^ (g % 37 - 18)
             FROM generate_series(1, 2000) g;
             INSERT INTO n VALUES (0), (0.0), (-0.00001), (1e-1000), (9999.9999), (10000.00001), (-1e131071);",
        )
        .expect("fill");
    let filter = DiscoveryFilter {
        include: vec!["public.n".to_owned()],
        ..DiscoveryFilter::default()
    };
    let table = discover(&mut client, &filter, ValuePolicy::default())
        .expect("discover")
        .remove(0);
    let codec = &table.columns[0].codec;
    let mut checked = 0;
    for row in client
        .query("SELECT v, v::text FROM n", &[])
        .expect("select")
    {
        let raw = row.try_get::<_, Raw>(0).expect("raw").0;
        let text: String = row.try_get(1).expect("text");
        let mut out = Vec::new();
        codec
            .encode(raw.as_deref(), &mut out, &mut EncodeStats::new())
            .expect("encode");
        assert_eq!(String::from_utf8(out).unwrap(), format!("\"{text}\""));
        checked += 1;
    }
    assert_eq!(checked, 5007);
}

/// Interval rendering equals PostgreSQL's `intervalstyle = iso_8601` output.
#[test]
fn interval_matches_iso_8601_style() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster
        .create_database("interval_iso")
        .expect("create database");
    let mut client = cluster.connect(&db).expect("connect");
    client
        .batch_execute(
            "SET intervalstyle = iso_8601;
             CREATE TABLE i (v interval);
             INSERT INTO i
             SELECT make_interval(
                 years => (random() * 20 - 10)::int, months => (random() * 30 - 15)::int,
                 days => (random() * 80 - 40)::int, hours => (random() * 100 - 50)::int,
                 mins => (random() * 200 - 100)::int, secs => round((random() * 200 - 100)::numeric, (random() * 6)::int))
             FROM generate_series(1, 2000);
             INSERT INTO i VALUES ('0'), ('1 us'), ('-1 us'), ('-178000000 years'), ('2562047788 hours 54.775807 seconds'),
                                  ('-2562047788 hours -54.775808 seconds'), ('1 mon'), ('-1 day');",
        )
        .expect("fill");
    let filter = DiscoveryFilter {
        include: vec!["public.i".to_owned()],
        ..DiscoveryFilter::default()
    };
    let table = discover(&mut client, &filter, ValuePolicy::default())
        .expect("discover")
        .remove(0);
    let codec = &table.columns[0].codec;
    for row in client
        .query("SELECT v, v::text FROM i", &[])
        .expect("select")
    {
        let raw = row.try_get::<_, Raw>(0).expect("raw").0;
        let text: String = row.try_get(1).expect("text");
        let mut out = Vec::new();
        codec
            .encode(raw.as_deref(), &mut out, &mut EncodeStats::new())
            .expect("encode");
        assert_eq!(String::from_utf8(out).unwrap(), format!("\"{text}\""));
    }
}

/// Timestamps and dates equal PostgreSQL's ISO output over many generated
/// values, BC and far future included (with `keep`).
#[test]
fn timestamps_match_postgres_text() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster
        .create_database("timestamp_text")
        .expect("create database");
    let mut client = cluster.connect(&db).expect("connect");
    client
        .batch_execute(
            "SET TimeZone = 'UTC';
             CREATE TABLE t (ts timestamp, d date);
             INSERT INTO t
             SELECT x, x::date FROM (
                 SELECT '2000-01-01'::timestamp + (random() * 16000 - 6000) * interval '1 year' + random() * interval '1 day' AS x
                 FROM generate_series(1, 3000)
             ) s;",
        )
        .expect("fill");
    let filter = DiscoveryFilter {
        include: vec!["public.t".to_owned()],
        ..DiscoveryFilter::default()
    };
    let table = discover(&mut client, &filter, ValuePolicy::default())
        .expect("discover")
        .remove(0);
    // PostgreSQL's own rendering, in astronomical years with six fractional digits.
    let rows = client
        .query(
            "SELECT ts, d,
                    extract(year FROM ts)::int AS ey,
                    to_char(ts, '-MM-DD\"T\"HH24:MI:SS.US+00:00') AS rest,
                    extract(year FROM d)::int AS dy, to_char(d, '-MM-DD') AS drest
             FROM t",
            &[],
        )
        .expect("select");
    let year = |y: i32| {
        // extract(year) has no year 0: 1 BC is -1.
        let astronomical = if y < 0 { y + 1 } else { y };
        if astronomical < 0 {
            format!("-{:04}", -astronomical)
        } else if astronomical > 9999 {
            format!("+{astronomical}")
        } else {
            format!("{astronomical:04}")
        }
    };
    for row in rows {
        let ts = row.try_get::<_, Raw>(0).expect("raw").0;
        let d = row.try_get::<_, Raw>(1).expect("raw").0;
        let expected_ts = format!("\"{}{}\"", year(row.get(2)), row.get::<_, String>(3));
        let expected_d = format!("\"{}{}\"", year(row.get(4)), row.get::<_, String>(5));
        let mut out = Vec::new();
        table.columns[0]
            .codec
            .encode(ts.as_deref(), &mut out, &mut EncodeStats::new())
            .expect("encode");
        assert_eq!(String::from_utf8(out).unwrap(), expected_ts);
        let mut out = Vec::new();
        table.columns[1]
            .codec
            .encode(d.as_deref(), &mut out, &mut EncodeStats::new())
            .expect("encode");
        assert_eq!(String::from_utf8(out).unwrap(), expected_d);
    }
}

/// `inet`/`cidr` rendering equals PostgreSQL's output function
/// (`network_out`) over generated IPv4 and IPv6 addresses with zero runs.
#[test]
fn inet_matches_network_out() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster
        .create_database("inet_out")
        .expect("create database");
    let mut client = cluster.connect(&db).expect("connect");
    client
        .batch_execute(
            "CREATE TABLE a (v inet, c cidr);
             INSERT INTO a (v)
             SELECT (array_to_string(ARRAY(
                        SELECT to_hex(CASE WHEN random() < 0.6 THEN 0 ELSE (random() * 65535)::int END)
                        FROM generate_series(1, 8) WHERE g > 0), ':')
                     || '/' || (random() * 128)::int)::inet
             FROM generate_series(1, 3000) g;
             INSERT INTO a (v)
             SELECT (array_to_string(ARRAY(
                        SELECT (random() * 255)::int FROM generate_series(1, 4) WHERE g > 0), '.')
                     || '/' || (random() * 32)::int)::inet
             FROM generate_series(1, 1000) g;
             INSERT INTO a (v) VALUES ('::'), ('::1'), ('::2'), ('::1.2.3.4'), ('::ffff:1.2.3.4'),
                                      ('1::'), ('1:0:0:1::'), ('0:0:1::'), ('255.255.255.255');
             UPDATE a SET c = network(v);",
        )
        .expect("fill");
    let filter = DiscoveryFilter {
        include: vec!["public.a".to_owned()],
        ..DiscoveryFilter::default()
    };
    let table = discover(&mut client, &filter, ValuePolicy::default())
        .expect("discover")
        .remove(0);
    for row in client
        .query("SELECT v, c, format('%s', v), format('%s', c) FROM a", &[])
        .expect("select")
    {
        for i in 0..2 {
            let raw = row.try_get::<_, Raw>(i).expect("raw").0;
            let text: String = row.try_get(i + 2).expect("text");
            let mut out = Vec::new();
            table.columns[i]
                .codec
                .encode(raw.as_deref(), &mut out, &mut EncodeStats::new())
                .expect("encode");
            assert_eq!(String::from_utf8(out).unwrap(), format!("\"{text}\""));
        }
    }
}

/// Codecs built from a prepared statement's column types (manifest queries,
/// where no discovery runs) resolve arrays, enums and extension types.
#[test]
fn codecs_from_statement_column_types() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster
        .create_database("stmt_types")
        .expect("create database");
    let mut client = cluster.connect(&db).expect("connect");
    client.batch_execute(SETUP).expect("setup types");
    let statement = client
        .prepare(
            "SELECT 1.50::numeric, ARRAY[[1, NULL], [3, 4]]::int[], 'ok'::mood, 'a=>b'::hstore,
                    '2024-01-01 00:00:00+00'::timestamptz, 'MiXeD'::citext, '{sad}'::mood[]",
        )
        .expect("prepare");
    let codecs: Vec<singer_tap_postgres::types::Codec> = statement
        .columns()
        .iter()
        .map(|c| {
            singer_tap_postgres::types::Codec::from_postgres_type(
                c.type_(),
                -1,
                ValuePolicy::default(),
            )
        })
        .collect();
    let row = client.query_one(&statement, &[]).expect("query");
    let mut rendered = Vec::new();
    for (i, codec) in codecs.iter().enumerate() {
        let raw = row.try_get::<_, Raw>(i).expect("raw").0;
        let mut out = Vec::new();
        codec
            .encode(raw.as_deref(), &mut out, &mut EncodeStats::new())
            .expect("encode");
        rendered.push(String::from_utf8(out).unwrap());
    }
    assert_eq!(
        rendered,
        [
            r#""1.50""#,
            "[[1,null],[3,4]]",
            r#""ok""#,
            r#"{"a":"b"}"#,
            r#""2024-01-01T00:00:00.000000+00:00""#,
            r#""MiXeD""#,
            r#"["sad"]"#
        ]
    );
    assert_eq!(codecs[1].sql_datatype(), "int4[]");
    assert!(codecs[1].is_array());
}
