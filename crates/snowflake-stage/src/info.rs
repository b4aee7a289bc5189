//! The answer to a `PUT` statement: where the files go and how.
//!
//! Field names follow the official connectors (Go `execResponseData` /
//! `execResponseStageInfo`, Python `file_transfer_agent.py`
//! `_parse_command`). Unknown fields are ignored; what the upload needs is
//! checked when the answer is read, so a bad answer fails before any byte
//! is sent.

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

/// The `data` of Snowflake's answer to `PUT 'file://…' @stage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PutResponse {
    /// `UPLOAD` for a PUT.
    #[serde(default)]
    pub command: Option<String>,
    /// Where to upload.
    pub stage_info: StageInfo,
    /// The stage's master key when it wants client-side encryption; absent
    /// or null for server-side encrypted stages. One object for PUT (a list
    /// for GET; the first is taken).
    #[serde(default, deserialize_with = "one_or_first")]
    pub encryption_material: Option<EncryptionMaterial>,
    /// The PUT's `PARALLEL` option.
    #[serde(default)]
    pub parallel: Option<u32>,
    /// Files at least this large would need a multipart upload (bytes;
    /// Python's default is 64 MiB).
    #[serde(default)]
    pub threshold: Option<u64>,
}

impl PutResponse {
    /// Reads the `data` object of a PUT answer.
    ///
    /// # Errors
    ///
    /// [`Error::PutResponse`] when it is not a PUT answer this crate can
    /// act on (no `stageInfo`, an unknown location type, a `LOCAL_FS`
    /// stage, a master key that is not 128 or 256 bits of base64).
    pub fn from_json(data: &serde_json::Value) -> Result<Self> {
        let response = Self::deserialize(data).map_err(|e| Error::PutResponse {
            reason: e.to_string(),
        })?;
        if let Some(material) = &response.encryption_material {
            material.master_key()?;
        }
        if response.stage_info.location_type == LocationType::LocalFs {
            return Err(Error::PutResponse {
                reason: "the stage is LOCAL_FS (a Snowflake-internal test deployment)".to_owned(),
            });
        }
        Ok(response)
    }

    /// The most files to upload at once: the PUT's `PARALLEL`, at most
    /// `cap`, at least 1.
    #[must_use]
    pub fn parallel(&self, cap: usize) -> usize {
        self.parallel
            .and_then(|p| usize::try_from(p).ok())
            .unwrap_or(cap)
            .clamp(1, cap.max(1))
    }
}

fn one_or_first<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<EncryptionMaterial>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(EncryptionMaterial),
        Many(Vec<Option<EncryptionMaterial>>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => None,
        Some(OneOrMany::One(material)) => Some(material),
        Some(OneOrMany::Many(list)) => list.into_iter().flatten().next(),
    })
}

/// The cloud store behind a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocationType {
    /// Amazon S3.
    S3,
    /// Azure Blob Storage.
    Azure,
    /// Google Cloud Storage.
    Gcs,
    /// A local directory (Snowflake-internal test deployments only).
    LocalFs,
}

impl<'de> Deserialize<'de> for LocationType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.to_ascii_uppercase().as_str() {
            "S3" => Ok(Self::S3),
            "AZURE" => Ok(Self::Azure),
            "GCS" => Ok(Self::Gcs),
            "LOCAL_FS" => Ok(Self::LocalFs),
            _ => Err(serde::de::Error::custom(format!(
                "unknown stage location type {name:?}"
            ))),
        }
    }
}

/// `stageInfo`: the store, the place in it, and the credentials. `Debug`
/// shows no credential (a presigned URL is one).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StageInfo {
    /// The store.
    pub location_type: LocationType,
    /// `bucket-or-container/key/prefix/`.
    pub location: String,
    /// The cloud region.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: a FIPS or VPC endpoint host; Azure: e.g. `blob.core.windows.net`;
    /// GCS: a custom endpoint.
    #[serde(default, rename = "endPoint")]
    pub end_point: Option<String>,
    /// Azure: the storage account.
    #[serde(default)]
    pub storage_account: Option<String>,
    /// GCS without an access token: the URL to PUT the file to.
    #[serde(default)]
    pub presigned_url: Option<String>,
    /// S3: use the regional endpoint.
    #[serde(default, rename = "useS3RegionalUrl")]
    pub use_s3_regional_url: bool,
    /// Use the regional endpoint.
    #[serde(default)]
    pub use_regional_url: bool,
    /// GCS: virtual-hosted URLs (`bucket.storage.googleapis.com`).
    #[serde(default)]
    pub use_virtual_url: bool,
    /// Temporary credentials.
    #[serde(default)]
    pub creds: Credentials,
}

impl fmt::Debug for StageInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageInfo")
            .field("location_type", &self.location_type)
            .field("location", &self.location)
            .field("region", &self.region)
            .field("end_point", &self.end_point)
            .field("storage_account", &self.storage_account)
            .field(
                "presigned_url",
                &self.presigned_url.as_ref().map(|_| "<redacted>"),
            )
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

impl StageInfo {
    /// The bucket (or container) and the key prefix (empty, or ending in
    /// `/`).
    #[must_use]
    pub fn bucket_and_prefix(&self) -> (&str, String) {
        let (bucket, prefix) = self
            .location
            .split_once('/')
            .unwrap_or((self.location.as_str(), ""));
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        (bucket, prefix)
    }
}

/// `stageInfo.creds`: temporary credentials for the store. Never printed:
/// `Debug` says only which are present.
#[derive(Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Credentials {
    /// S3 access key id.
    #[serde(default, rename = "AWS_KEY_ID")]
    pub aws_key_id: Option<String>,
    /// S3 secret key.
    #[serde(default, rename = "AWS_SECRET_KEY")]
    pub aws_secret_key: Option<String>,
    /// S3 session token.
    #[serde(default, rename = "AWS_TOKEN")]
    pub aws_token: Option<String>,
    /// Azure shared access signature.
    #[serde(default, rename = "AZURE_SAS_TOKEN")]
    pub azure_sas_token: Option<String>,
    /// GCS OAuth access token.
    #[serde(default, rename = "GCS_ACCESS_TOKEN")]
    pub gcs_access_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Credentials")
            .field("aws_key_id", &shown(&self.aws_key_id))
            .field("aws_secret_key", &shown(&self.aws_secret_key))
            .field("aws_token", &shown(&self.aws_token))
            .field("azure_sas_token", &shown(&self.azure_sas_token))
            .field("gcs_access_token", &shown(&self.gcs_access_token))
            .finish()
    }
}

/// `encryptionMaterial`: the query-stage master key that wraps each file's
/// key. `Debug` never prints the key.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EncryptionMaterial {
    /// The master key, base64.
    pub query_stage_master_key: String,
    /// The PUT's query id (goes into each file's `matdesc`).
    pub query_id: String,
    /// The master key's id: a number or a string on the wire.
    #[serde(deserialize_with = "number_or_string")]
    pub smk_id: String,
}

impl EncryptionMaterial {
    /// Material from its parts (tests, other transports).
    #[must_use]
    pub fn new(query_stage_master_key: String, query_id: String, smk_id: String) -> Self {
        Self {
            query_stage_master_key,
            query_id,
            smk_id,
        }
    }

    /// The decoded master key: 16 or 32 bytes.
    ///
    /// # Errors
    ///
    /// [`Error::PutResponse`] for a key that is not base64 or not 128/256
    /// bits.
    pub fn master_key(&self) -> Result<Vec<u8>> {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD
            .decode(self.query_stage_master_key.trim())
            .map_err(|_| Error::PutResponse {
                reason: "queryStageMasterKey is not base64".to_owned(),
            })?;
        if key.len() != 16 && key.len() != 32 {
            return Err(Error::PutResponse {
                reason: format!(
                    "queryStageMasterKey has {} bits (128 or 256 expected)",
                    key.len() * 8
                ),
            });
        }
        Ok(key)
    }
}

impl fmt::Debug for EncryptionMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionMaterial")
            .field("query_stage_master_key", &"<redacted>")
            .field("query_id", &self.query_id)
            .field("smk_id", &self.smk_id)
            .finish()
    }
}

fn number_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "smkId must be a number or a string, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_each_cloud_and_each_wire_variant() {
        let s3 = PutResponse::from_json(&json!({
            "command": "UPLOAD", "parallel": 4, "threshold": 67108864, "autoCompress": false,
            "src_locations": ["/tmp/x.json.gz"],
            "stageInfo": {"locationType": "S3", "location": "sfc-bucket/stages/abc", "region": "us-west-2",
                "isClientSideEncrypted": true, "useS3RegionalUrl": true,
                "creds": {"AWS_KEY_ID": "AKID-VALUE", "AWS_SECRET_KEY": "S3CR3T-VALUE", "AWS_TOKEN": "T0K3N-VALUE", "AWS_ID": "x"}},
            "encryptionMaterial": {"queryStageMasterKey": "ztke8tIdVt1zmlQIZm0BMA==", "queryId": "01b2", "smkId": 3112}
        }))
        .expect("an S3 answer");
        assert_eq!(s3.stage_info.location_type, LocationType::S3);
        assert_eq!(
            s3.stage_info.bucket_and_prefix(),
            ("sfc-bucket", "stages/abc/".to_owned())
        );
        let material = s3.encryption_material.as_ref().expect("material");
        assert_eq!(material.smk_id, "3112");
        assert_eq!(material.master_key().expect("key").len(), 16);
        assert_eq!(s3.parallel(2), 2);
        let debug = format!("{s3:?}");
        for secret in ["S3CR3T-VALUE", "T0K3N-VALUE", "ztke8t", "AKID-VALUE"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }

        let gcs = PutResponse::from_json(&json!({
            "stageInfo": {"locationType": "gcs", "location": "DB.SCH.STAGE/", "creds": {},
                "presignedUrl": "http://127.0.0.1:1/fs_bucket/x"},
            "encryptionMaterial": [{"queryStageMasterKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "queryId": "q", "smkId": "7"}]
        }))
        .expect("a GCS answer");
        assert_eq!(
            gcs.stage_info.bucket_and_prefix(),
            ("DB.SCH.STAGE", String::new())
        );
        assert!(!format!("{gcs:?}").contains("fs_bucket"));
        assert_eq!(
            gcs.encryption_material.expect("first of the list").smk_id,
            "7"
        );

        let azure = PutResponse::from_json(&json!({
            "stageInfo": {"locationType": "AZURE", "location": "container/p", "storageAccount": "acct",
                "endPoint": "blob.core.windows.net", "creds": {"AZURE_SAS_TOKEN": "?sv=1&sig=x"}},
            "encryptionMaterial": null
        }))
        .expect("an Azure answer");
        assert!(azure.encryption_material.is_none());
    }

    #[test]
    fn refuses_what_it_cannot_upload() {
        for (data, reason) in [
            (
                json!({"stageInfo": {"locationType": "FTP", "location": "x"}}),
                "unknown stage location type \"FTP\"",
            ),
            (
                json!({"stageInfo": {"locationType": "LOCAL_FS", "location": "/tmp"}}),
                "LOCAL_FS",
            ),
            (json!({"rowset": []}), "missing field `stageInfo`"),
            (
                json!({"stageInfo": {"locationType": "S3", "location": "b"},
                       "encryptionMaterial": {"queryStageMasterKey": "AAEC", "queryId": "q", "smkId": 1}}),
                "queryStageMasterKey has 24 bits",
            ),
        ] {
            let error = PutResponse::from_json(&data)
                .expect_err("refused")
                .to_string();
            assert!(error.contains(reason), "{error}");
        }
    }
}
