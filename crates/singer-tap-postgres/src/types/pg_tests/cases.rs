//! The rows of the type matrix: every type the tap maps, a literal of it
//! and the exact JSON text the tap must emit.

use super::{Case, case};

/// Types the database needs before the matrix table is created.
pub(super) const SETUP: &str = r"
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
pub(super) fn cases() -> Vec<Case> {
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
