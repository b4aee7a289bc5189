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

use crate::discovery::{ColumnInfo, DiscoveryFilter, discover};
use crate::pg::Client;
use crate::types::{
    EncodeStats, NumberSpecialPolicy, SpecialValue, SpecialValuePolicy, ValuePolicy,
};
use postgres::types::{FromSql, Type};

mod cases;
mod generated;
mod schemas;

use self::cases::{SETUP, cases};
use self::schemas::SCHEMAS;

/// The raw binary bytes of a value of any type.
pub(super) struct Raw(Option<Vec<u8>>);

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
pub(super) struct Case {
    pub(super) ty: &'static str,
    pub(super) literal: String,
    pub(super) expected: String,
}

pub(super) fn case(ty: &'static str, literal: &str, expected: &str) -> Case {
    Case {
        ty,
        literal: literal.to_owned(),
        expected: expected.to_owned(),
    }
}

/// A database with the matrix table `m` (one column per case, one row) and
/// its discovered columns.
pub(super) fn matrix(
    prefix: &str,
    cases: &[Case],
    policy: ValuePolicy,
) -> (Client, Vec<ColumnInfo>) {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster.create_database(prefix).expect("create database");
    let mut client =
        crate::pg::Client::connect_str(&cluster.connection_string(&db)).expect("connect");
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

pub(super) fn select_list(columns: &[ColumnInfo]) -> String {
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
    let data = client
        .copy_out_all(&format!(
            "COPY (SELECT {} FROM m) TO STDOUT (FORMAT binary)",
            select_list(&columns)
        ))
        .expect("copy out");
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
