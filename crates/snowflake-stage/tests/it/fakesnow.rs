//! The REST session and a PUT through the Snowflake double (fakesnow behind
//! the project's wrapper): login, `CREATE STAGE`, `PUT` (answered with a
//! GCS presigned URL), the upload, then `COPY INTO` reads the file back.

use std::time::Duration;

use serde_json::{Map, Value, json};
use snowflake_stage::{
    FileMeta, LocationType, Login, RestSession, SessionConfig, Uploader, digest, upload_request,
};

fn rowset(data: &Value) -> Vec<Vec<Option<String>>> {
    data["rowset"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .map(|cells| {
                            cells
                                .iter()
                                .map(|c| c.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn put_uploads_to_the_presigned_url_and_copy_reads_it() {
    let double =
        singer_testkit::snowflake_double().expect("the Snowflake double (run scripts/setup)");
    let mut parameters = Map::new();
    parameters.insert(
        "FAKESNOW_DB_PATH".into(),
        json!(double.isolated_database("stage-put")),
    );
    let config = SessionConfig {
        base_url: url::Url::parse(&double.url()).expect("url"),
        account: "acct".into(),
        user: "loader".into(),
        login: Login::Password("pw".into()),
        database: Some("DB".into()),
        schema: Some("RAW".into()),
        warehouse: None,
        role: None,
        session_parameters: parameters,
        timeout: Duration::from_secs(30),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut session = RestSession::login(&config).await.expect("login");
        session
            .execute("CREATE STAGE IF NOT EXISTS SINGER_RS_FILES")
            .await
            .expect("stage");
        let put = session
            .put("PUT 'file:///singer-rs/run-1/s-1.json.gz' @SINGER_RS_FILES/run-1/ AUTO_COMPRESS=FALSE SOURCE_COMPRESSION=GZIP OVERWRITE=TRUE")
            .await
            .expect("a PUT answer");
        assert_eq!(put.stage_info.location_type, LocationType::Gcs);
        assert!(put.encryption_material.is_none());
        let mut gz = Vec::new();
        {
            use std::io::Write as _;
            let mut encoder = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
            encoder
                .write_all(b"{\"C0\":1,\"C1\":\"a\"}\n{\"C0\":2,\"C1\":null}\n")
                .expect("gzip");
            encoder.finish().expect("gzip");
        }
        let sum = digest(&gz);
        let request = upload_request(
            &put.stage_info,
            "s-1.json.gz",
            FileMeta { digest: &sum, encrypted: None },
            chrono::Utc::now(),
        )
        .expect("request");
        Uploader::new(Duration::from_secs(30))
            .expect("client")
            .put(&request, "s-1.json.gz", gz)
            .await
            .expect("uploaded");
        session
            .execute("CREATE TEMPORARY TABLE LAND (V VARIANT)")
            .await
            .expect("landing table");
        let copied = session
            .execute("COPY INTO LAND FROM @SINGER_RS_FILES/run-1/ FILES=('s-1.json.gz') FILE_FORMAT=(TYPE=JSON) FORCE=TRUE")
            .await
            .expect("COPY");
        let rows = rowset(&copied);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1].as_deref(), Some("LOADED"));
        assert_eq!(rows[0][3].as_deref(), Some("2"));
        let read = session
            .execute("SELECT V:C0::NUMBER AS A, V:C1::VARCHAR AS B FROM LAND ORDER BY A")
            .await
            .expect("select");
        assert_eq!(
            rowset(&read),
            [vec![Some("1".into()), Some("a".into())], vec![Some("2".into()), None]]
        );
        let removed = session
            .execute("REMOVE @SINGER_RS_FILES/run-1/")
            .await
            .expect("REMOVE");
        assert_eq!(rowset(&removed).len(), 1);
        let error = session.execute("SELEC 1").await.expect_err("bad SQL");
        assert!(!error.is_retryable(), "{error}");
    });
}
