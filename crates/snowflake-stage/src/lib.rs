//! Putting files on a Snowflake stage the way the official connectors do
//! (Python `snowflake-connector-python`, Go `gosnowflake`), for bulk loads
//! with `COPY INTO`.
//!
//! A `PUT 'file://…' @stage` statement does not carry the file: Snowflake
//! answers with where to put it ([`PutResponse`]: the store, S3, Azure or
//! GCS, the bucket and prefix, temporary credentials or a presigned URL)
//! and, for stages encrypted on the client, a master key
//! ([`EncryptionMaterial`]). The client then
//! 1. computes the file's [`digest`] (`sfc-digest`),
//! 2. [`encrypt`]s it when asked (AES-CBC under a random file key, the key
//!    wrapped with AES-ECB under the master key),
//! 3. builds the store's request ([`upload_request`]: S3 signed with
//!    [`SigV4`], GCS by presigned URL or bearer token, Azure by SAS), and
//! 4. sends it ([`Uploader::put`]), one attempt whose error says whether to
//!    retry ([`Error::is_retryable`]) or to re-issue the PUT for fresh
//!    credentials first ([`Error::is_expired`]).
//!
//! The crate knows nothing of Singer, batches or SQL sessions: the caller
//! issues the PUT statement and owns retries. Signing and encryption are
//! pure functions with known-answer tests (vectors from botocore and
//! Python's `cryptography`). Credentials and keys never reach `Debug` or
//! an error message.
//!
//! ```
//! use snowflake_stage::{FileMeta, PutResponse, digest, upload_request};
//!
//! let answer = serde_json::json!({"stageInfo": {
//!     "locationType": "S3", "location": "sfc-bucket/stages/run-1/", "region": "us-west-2",
//!     "creds": {"AWS_KEY_ID": "AKID", "AWS_SECRET_KEY": "secret", "AWS_TOKEN": "token"}}});
//! let put = PutResponse::from_json(&answer)?;
//! let file = b"{\"c0\":1}\n";
//! let sum = digest(file);
//! let meta = FileMeta { digest: &sum, encrypted: None };
//! let request = upload_request(&put.stage_info, "batch-1.json.gz", meta, chrono::Utc::now())?;
//! assert_eq!(request.url.as_str(), "https://sfc-bucket.s3.us-west-2.amazonaws.com/stages/run-1/batch-1.json.gz");
//! assert!(request.headers.iter().any(|(name, _)| name == "authorization"));
//! # Ok::<(), snowflake_stage::Error>(())
//! ```

#![warn(missing_docs)]

mod encrypt;
mod error;
mod info;
mod request;
mod session;
mod sigv4;
mod upload;

pub use encrypt::{Encrypted, digest, encrypt, encrypt_with};
pub use error::{Error, Result};
pub use info::{Credentials, EncryptionMaterial, LocationType, PutResponse, StageInfo};
pub use request::{FileMeta, UploadRequest, upload_request};
pub use session::{Login, RestSession, SessionConfig};
pub use sigv4::{SigV4, UNSIGNED_PAYLOAD, encode_path};
pub use upload::Uploader;
