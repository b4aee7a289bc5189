//! The HTTP request that puts one file on a stage, per store (Python
//! `s3_storage_client.py`, `gcs_storage_client.py`,
//! `azure_storage_client.py`; Go `*_storage_client.go`). Pure: no I/O.

use chrono::{DateTime, Utc};

use crate::encrypt::Encrypted;
use crate::error::{Error, Result};
use crate::info::{LocationType, StageInfo};
use crate::sigv4::{SigV4, encode_path};

/// One single-request upload: `PUT url` with `headers` (the host to send
/// is the URL's).
#[derive(Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// Where to send the file.
    pub url: url::Url,
    /// Headers, names lower case (signed ones included).
    pub headers: Vec<(String, String)>,
    /// The store (how to read its refusals).
    pub location: LocationType,
    /// Whether the URL is a GCS presigned one (a 400 means it expired).
    pub presigned: bool,
}

impl std::fmt::Debug for UploadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL of a presigned or SAS upload is a credential.
        f.debug_struct("UploadRequest")
            .field("host", &self.url.host_str())
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// What goes beside the file: its digest and, when the stage encrypts on
/// the client, the encryption metadata.
#[derive(Debug, Clone, Copy)]
pub struct FileMeta<'a> {
    /// [`crate::digest`] of the file before encryption.
    pub digest: &'a str,
    /// The encryption's key, IV and matdesc.
    pub encrypted: Option<&'a Encrypted>,
}

/// Builds the upload of file `name` to the stage.
///
/// # Errors
///
/// [`Error::PutResponse`] when the stage lacks what its store needs
/// (credentials, region, account), or for `LOCAL_FS`.
pub fn upload_request(
    info: &StageInfo,
    name: &str,
    meta: FileMeta<'_>,
    now: DateTime<Utc>,
) -> Result<UploadRequest> {
    let (bucket, prefix) = info.bucket_and_prefix();
    let key = format!("{prefix}{name}");
    let missing = |what: &str| Error::PutResponse {
        reason: format!("the {:?} stage has no {what}", info.location_type),
    };
    let parse = |text: &str| {
        url::Url::parse(text).map_err(|e| Error::PutResponse {
            reason: format!("cannot build the upload URL: {e}"),
        })
    };
    match info.location_type {
        LocationType::S3 => {
            let creds = &info.creds;
            let region = info.region.as_deref().unwrap_or("us-east-1");
            let host = match (&info.end_point, info.region.as_deref()) {
                (Some(end_point), _) if !end_point.is_empty() => {
                    let end_point = end_point
                        .trim_start_matches("https://")
                        .trim_end_matches('/');
                    format!("{bucket}.{end_point}")
                }
                (_, Some(region)) if region.starts_with("cn-") => {
                    format!("{bucket}.s3.{region}.amazonaws.com.cn")
                }
                (_, Some(region)) => format!("{bucket}.s3.{region}.amazonaws.com"),
                (_, None) => format!("{bucket}.s3.amazonaws.com"),
            };
            let path = encode_path(&format!("/{key}"));
            let mut headers = vec![("x-amz-meta-sfc-digest".to_owned(), meta.digest.to_owned())];
            if let Some(encrypted) = meta.encrypted {
                headers.push(("x-amz-meta-x-amz-key".to_owned(), encrypted.key.clone()));
                headers.push(("x-amz-meta-x-amz-iv".to_owned(), encrypted.iv.clone()));
                headers.push((
                    "x-amz-meta-x-amz-matdesc".to_owned(),
                    encrypted.matdesc.clone(),
                ));
            }
            let signer = SigV4 {
                key_id: creds
                    .aws_key_id
                    .as_deref()
                    .ok_or_else(|| missing("AWS_KEY_ID"))?,
                secret: creds
                    .aws_secret_key
                    .as_deref()
                    .ok_or_else(|| missing("AWS_SECRET_KEY"))?,
                token: creds.aws_token.as_deref(),
                region,
            };
            signer.sign("PUT", &host, &path, &mut headers, now);
            headers.push((
                "content-type".to_owned(),
                "application/octet-stream".to_owned(),
            ));
            Ok(UploadRequest {
                url: parse(&format!("https://{host}{path}"))?,
                headers,
                location: LocationType::S3,
                presigned: false,
            })
        }
        LocationType::Gcs => {
            let mut headers = vec![
                // Not `gzip`: GCS would decompress the file on download.
                ("content-encoding".to_owned(), String::new()),
                ("x-goog-meta-sfc-digest".to_owned(), meta.digest.to_owned()),
            ];
            if let Some(encrypted) = meta.encrypted {
                headers.push((
                    "x-goog-meta-encryptiondata".to_owned(),
                    encryption_data(encrypted, "AES_CBC_256"),
                ));
                headers.push(("x-goog-meta-matdesc".to_owned(), encrypted.matdesc.clone()));
            }
            match &info.creds.gcs_access_token {
                Some(token) => {
                    let base = match (&info.end_point, info.region.as_deref()) {
                        (Some(end_point), _) if !end_point.is_empty() => {
                            let end_point = end_point.trim_start_matches("https://");
                            format!("https://{}/{bucket}", end_point.trim_end_matches('/'))
                        }
                        _ if info.use_virtual_url => {
                            format!("https://{bucket}.storage.googleapis.com")
                        }
                        (_, Some(region)) if info.use_regional_url || region == "me-central2" => {
                            format!(
                                "https://storage.{}.rep.googleapis.com/{bucket}",
                                region.to_ascii_lowercase()
                            )
                        }
                        _ => format!("https://storage.googleapis.com/{bucket}"),
                    };
                    headers.push(("authorization".to_owned(), format!("Bearer {token}")));
                    Ok(UploadRequest {
                        url: parse(&format!("{base}{}", encode_path(&format!("/{key}"))))?,
                        headers,
                        location: LocationType::Gcs,
                        presigned: false,
                    })
                }
                None => {
                    let presigned = info
                        .presigned_url
                        .as_deref()
                        .filter(|u| !u.is_empty())
                        .ok_or_else(|| missing("GCS_ACCESS_TOKEN nor presignedUrl"))?;
                    Ok(UploadRequest {
                        url: parse(presigned)?,
                        headers,
                        location: LocationType::Gcs,
                        presigned: true,
                    })
                }
            }
        }
        LocationType::Azure => {
            let account = info
                .storage_account
                .as_deref()
                .ok_or_else(|| missing("storageAccount"))?;
            let sas = info
                .creds
                .azure_sas_token
                .as_deref()
                .ok_or_else(|| missing("AZURE_SAS_TOKEN"))?
                .trim_start_matches('?');
            let end_point = info
                .end_point
                .as_deref()
                .unwrap_or("blob.core.windows.net")
                .trim_start_matches("https://")
                .trim_start_matches("blob.");
            let mut headers = vec![
                ("x-ms-blob-type".to_owned(), "BlockBlob".to_owned()),
                ("content-encoding".to_owned(), "utf-8".to_owned()),
                ("x-ms-meta-sfcdigest".to_owned(), meta.digest.to_owned()),
            ];
            if let Some(encrypted) = meta.encrypted {
                headers.push((
                    "x-ms-meta-encryptiondata".to_owned(),
                    encryption_data(encrypted, "AES_CBC_128"),
                ));
                headers.push(("x-ms-meta-matdesc".to_owned(), encrypted.matdesc.clone()));
            }
            Ok(UploadRequest {
                url: parse(&format!(
                    "https://{account}.blob.{end_point}/{bucket}{}?{sas}",
                    encode_path(&format!("/{prefix}{name}"))
                ))?,
                headers,
                location: LocationType::Azure,
                presigned: false,
            })
        }
        LocationType::LocalFs => Err(missing("remote store (LOCAL_FS)")),
    }
}

/// The `encryptiondata` JSON Azure and GCS objects carry (labels are fixed
/// strings whatever the key size, as every connector writes them).
fn encryption_data(encrypted: &Encrypted, agent_algorithm: &str) -> String {
    serde_json::json!({
        "EncryptionMode": "FullBlob",
        "WrappedContentKey": {
            "KeyId": "symmKey1",
            "EncryptedKey": encrypted.key,
            "Algorithm": "AES_CBC_256",
        },
        "EncryptionAgent": {"Protocol": "1.0", "EncryptionAlgorithm": agent_algorithm},
        "ContentEncryptionIV": encrypted.iv,
        "KeyWrappingMetadata": {"EncryptionLibrary": "Java 5.3.0"},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::PutResponse;

    #[expect(
        clippy::needless_pass_by_value,
        reason = "json! literals at the call sites"
    )]
    fn info(stage: serde_json::Value) -> StageInfo {
        PutResponse::from_json(&json!({ "stageInfo": stage }))
            .expect("a PUT answer")
            .stage_info
    }

    fn header<'a>(request: &'a UploadRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    const ENCRYPTED: fn() -> Encrypted = || Encrypted {
        data: Vec::new(),
        key: "S0VZ".to_owned(),
        iv: "SVY=".to_owned(),
        matdesc: r#"{"queryId":"q","smkId":"1","keySize":"128"}"#.to_owned(),
    };

    #[test]
    fn s3_regional_virtual_hosted_and_signed() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 6, 5, 30, 0)
            .single()
            .expect("time");
        let encrypted = ENCRYPTED();
        let meta = FileMeta {
            digest: "ZGlnZXN0",
            encrypted: Some(&encrypted),
        };
        let stage = json!({"locationType": "S3", "location": "sfc-b/stages/x/", "region": "eu-west-1",
            "creds": {"AWS_KEY_ID": "AKID", "AWS_SECRET_KEY": "s", "AWS_TOKEN": "t"}});
        let request = upload_request(&info(stage), "run 1/f+1.json.gz", meta, now).expect("S3");
        assert_eq!(
            request.url.as_str(),
            "https://sfc-b.s3.eu-west-1.amazonaws.com/stages/x/run%201/f%2B1.json.gz"
        );
        assert_eq!(header(&request, "x-amz-meta-x-amz-key"), Some("S0VZ"));
        assert_eq!(header(&request, "x-amz-security-token"), Some("t"));
        assert_eq!(
            header(&request, "x-amz-content-sha256"),
            Some("UNSIGNED-PAYLOAD")
        );
        let authorization = header(&request, "authorization").expect("signed");
        assert!(authorization.contains("Credential=AKID/20261206/eu-west-1/s3/aws4_request"));
        assert!(
            !authorization.contains("content-type"),
            "content-type is not signed"
        );
        for (stage, host) in [
            (
                json!({"locationType": "S3", "location": "b/p", "region": "us-east-1", "endPoint": "s3-fips.us-east-1.amazonaws.com",
                "creds": {"AWS_KEY_ID": "a", "AWS_SECRET_KEY": "s"}}),
                "b.s3-fips.us-east-1.amazonaws.com",
            ),
            (
                json!({"locationType": "S3", "location": "b/p", "region": "cn-north-1",
                "creds": {"AWS_KEY_ID": "a", "AWS_SECRET_KEY": "s"}}),
                "b.s3.cn-north-1.amazonaws.com.cn",
            ),
        ] {
            let request = upload_request(&info(stage), "f", meta, now).expect("S3");
            assert_eq!(request.url.host_str(), Some(host));
        }
        let no_creds = json!({"locationType": "S3", "location": "b", "region": "r", "creds": {}});
        let error = upload_request(&info(no_creds), "f", meta, now).expect_err("no creds");
        assert!(error.to_string().contains("AWS_KEY_ID"), "{error}");
    }

    #[test]
    fn gcs_presigned_or_token_and_azure_sas() {
        let now = Utc::now();
        let encrypted = ENCRYPTED();
        let meta = FileMeta {
            digest: "ZGlnZXN0",
            encrypted: Some(&encrypted),
        };
        let presigned = upload_request(
            &info(
                json!({"locationType": "GCS", "location": "DB.S.ST/", "creds": {},
                "presignedUrl": "http://127.0.0.1:9/fs_bucket/DB.S.ST/f.json.gz?sig=x"}),
            ),
            "f.json.gz",
            meta,
            now,
        )
        .expect("GCS presigned");
        assert!(presigned.presigned);
        assert_eq!(presigned.url.path(), "/fs_bucket/DB.S.ST/f.json.gz");
        assert_eq!(header(&presigned, "content-encoding"), Some(""));
        let data: serde_json::Value =
            serde_json::from_str(header(&presigned, "x-goog-meta-encryptiondata").expect("set"))
                .expect("JSON");
        assert_eq!(data["WrappedContentKey"]["EncryptedKey"], "S0VZ");
        assert!(!format!("{presigned:?}").contains("sig=x"));

        let token = upload_request(
            &info(json!({"locationType": "GCS", "location": "bkt/pre", "creds": {"GCS_ACCESS_TOKEN": "tok"}})),
            "f",
            meta,
            now,
        )
        .expect("GCS token");
        assert_eq!(
            token.url.as_str(),
            "https://storage.googleapis.com/bkt/pre/f"
        );
        assert_eq!(header(&token, "authorization"), Some("Bearer tok"));

        let azure = upload_request(
            &info(json!({"locationType": "AZURE", "location": "cont/pre/", "storageAccount": "acct",
                "endPoint": "blob.core.windows.net", "creds": {"AZURE_SAS_TOKEN": "?sv=2020&sig=abc"}})),
            "f 1",
            meta,
            now,
        )
        .expect("Azure");
        assert_eq!(
            azure.url.as_str(),
            "https://acct.blob.core.windows.net/cont/pre/f%201?sv=2020&sig=abc"
        );
        assert_eq!(header(&azure, "x-ms-blob-type"), Some("BlockBlob"));
        assert_eq!(header(&azure, "x-ms-meta-sfcdigest"), Some("ZGlnZXN0"));
    }
}
