//! Renderings against PostgreSQL's own output functions over generated
//! values (numeric, interval, timestamps, inet), and codecs from prepared
//! statements.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure must abort the test loudly"
)]

use super::*;

/// Numeric rendering equals PostgreSQL's own `numeric_out` over many
/// generated values (weights, scales, zeros inside, signs).
#[test]
fn numeric_matches_numeric_out() {
    let cluster = singer_testkit::postgres().expect("a throwaway PostgreSQL (see singer-testkit)");
    let db = cluster
        .create_database("numeric_out")
        .expect("create database");
    let mut client =
        crate::pg::Client::connect_str(&cluster.connection_string(&db)).expect("connect");
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
    let mut client =
        crate::pg::Client::connect_str(&cluster.connection_string(&db)).expect("connect");
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
    let mut client =
        crate::pg::Client::connect_str(&cluster.connection_string(&db)).expect("connect");
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
    let mut client =
        crate::pg::Client::connect_str(&cluster.connection_string(&db)).expect("connect");
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
    let mut client =
        crate::pg::Client::connect_str(&cluster.connection_string(&db)).expect("connect");
    client.batch_execute(SETUP).expect("setup types");
    let statement = client
        .prepare(
            "SELECT 1.50::numeric, ARRAY[[1, NULL], [3, 4]]::int[], 'ok'::mood, 'a=>b'::hstore,
                    '2024-01-01 00:00:00+00'::timestamptz, 'MiXeD'::citext, '{sad}'::mood[]",
        )
        .expect("prepare");
    let codecs: Vec<crate::types::Codec> = statement
        .columns()
        .iter()
        .map(|c| crate::types::Codec::from_postgres_type(c.type_(), -1, ValuePolicy::default()))
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
