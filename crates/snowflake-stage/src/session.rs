//! A small REST session of our own for the `PUT` statement.
//!
//! snowflake-connector-rs (which the loader uses for every other
//! statement) has no PUT: it keeps its session token private and drops the
//! answer's `stageInfo`. This session logs in the way the official
//! connectors do (`POST /session/v1/login-request`, password or key-pair
//! JWT) and sends statements with `Accept: application/json`, which the
//! server needs for file transfers (gosnowflake issue #227 shows
//! `application/snowflake` refused for PUT), returning the answer's `data`.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::info::PutResponse;

/// How the session proves who it is. `Debug` shows no secret.
#[derive(Clone)]
pub enum Login {
    /// User and password.
    Password(String),
    /// Key-pair authentication: a PKCS#8 PEM private key (encrypted when a
    /// passphrase is given).
    KeyPair {
        /// The PEM.
        pem: String,
        /// Its passphrase.
        passphrase: Option<String>,
    },
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Password(_) => "Password(<redacted>)",
            Self::KeyPair { .. } => "KeyPair(<redacted>)",
        })
    }
}

/// Where and as whom to log in.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `https://<account>.snowflakecomputing.com` or another endpoint.
    pub base_url: url::Url,
    /// The account identifier.
    pub account: String,
    /// The user.
    pub user: String,
    /// The credentials.
    pub login: Login,
    /// The session's database.
    pub database: Option<String>,
    /// The session's schema.
    pub schema: Option<String>,
    /// The session's warehouse.
    pub warehouse: Option<String>,
    /// The session's role.
    pub role: Option<String>,
    /// Session parameters sent at login (`QUERY_TAG`, `TIMEZONE`, …).
    pub session_parameters: Map<String, Value>,
    /// The timeout of each request.
    pub timeout: Duration,
}

impl SessionConfig {
    /// The default endpoint of `account`.
    ///
    /// # Errors
    ///
    /// [`Error::Session`] when the account makes no valid host name.
    pub fn account_url(account: &str) -> Result<url::Url> {
        url::Url::parse(&format!("https://{account}.snowflakecomputing.com")).map_err(|e| {
            Error::Session {
                action: "building the account URL",
                code: None,
                message: e.to_string(),
                retryable: false,
            }
        })
    }
}

/// A logged-in session. `Debug` shows no token.
pub struct RestSession {
    client: reqwest::Client,
    base: url::Url,
    token: String,
    sequence: u64,
}

impl fmt::Debug for RestSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestSession")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl RestSession {
    /// Logs in.
    ///
    /// # Errors
    ///
    /// [`Error::Session`] when the login is refused or the server does not
    /// answer (retryable then), [`Error::Client`] when no HTTP client can
    /// be built.
    pub async fn login(config: &SessionConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(Error::Client)?;
        let mut url = endpoint(&config.base_url, "session/v1/login-request")?;
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in [
                ("databaseName", &config.database),
                ("schemaName", &config.schema),
                ("warehouse", &config.warehouse),
                ("roleName", &config.role),
            ] {
                if let Some(value) = value {
                    query.append_pair(name, value);
                }
            }
            query.append_pair("request_id", &request_id()?);
        }
        let mut data = Map::new();
        data.insert("ACCOUNT_NAME".into(), json!(config.account));
        data.insert("LOGIN_NAME".into(), json!(config.user));
        data.insert("CLIENT_APP_ID".into(), json!("singer-rs"));
        data.insert(
            "CLIENT_APP_VERSION".into(),
            json!(env!("CARGO_PKG_VERSION")),
        );
        match &config.login {
            Login::Password(password) => {
                data.insert("PASSWORD".into(), json!(password));
            }
            Login::KeyPair { pem, passphrase } => {
                let now = chrono::Utc::now().timestamp();
                let token = key_pair_jwt(
                    &config.account,
                    &config.user,
                    pem,
                    passphrase.as_deref(),
                    now,
                )?;
                data.insert("AUTHENTICATOR".into(), json!("SNOWFLAKE_JWT"));
                data.insert("TOKEN".into(), json!(token));
            }
        }
        // At least one parameter: some servers refuse an empty set.
        let mut parameters = config.session_parameters.clone();
        parameters.entry("TIMEZONE").or_insert_with(|| json!("UTC"));
        data.insert("SESSION_PARAMETERS".into(), Value::Object(parameters));
        let answer = send(
            client.post(url).json(&json!({ "data": data })),
            "logging in",
        )
        .await?;
        let token = answer
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Session {
                action: "logging in",
                code: None,
                message: "the login answer has no token".to_owned(),
                retryable: false,
            })?
            .to_owned();
        Ok(Self {
            client,
            base: config.base_url.clone(),
            token,
            sequence: 0,
        })
    }

    /// Runs one statement and returns the answer's `data`.
    ///
    /// # Errors
    ///
    /// [`Error::Session`] with Snowflake's code and message when the
    /// statement fails; retryable for transport failures, 5xx and 429.
    pub async fn execute(&mut self, sql: &str) -> Result<Value> {
        self.sequence += 1;
        let mut url = endpoint(&self.base, "queries/v1/query-request")?;
        url.query_pairs_mut()
            .append_pair("requestId", &request_id()?);
        let body = json!({
            "sqlText": sql,
            "asyncExec": false,
            "sequenceId": self.sequence,
            "querySubmissionTime": chrono::Utc::now().timestamp_millis(),
        });
        let request = self
            .client
            .post(url)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Snowflake Token=\"{}\"", self.token),
            )
            .json(&body);
        send(request, "running a statement").await
    }

    /// Runs a `PUT 'file://…' @stage` statement and reads where to upload.
    ///
    /// # Errors
    ///
    /// As [`RestSession::execute`], and [`Error::PutResponse`] when the
    /// answer is not a usable PUT answer.
    pub async fn put(&mut self, sql: &str) -> Result<PutResponse> {
        let data = self.execute(sql).await?;
        PutResponse::from_json(&data)
    }
}

fn endpoint(base: &url::Url, path: &str) -> Result<url::Url> {
    base.join(path).map_err(|e| Error::Session {
        action: "building a request URL",
        code: None,
        message: e.to_string(),
        retryable: false,
    })
}

/// A random UUID (version 4) for `requestId`.
fn request_id() -> Result<String> {
    let mut bytes = [0_u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or_default(),
        hex.get(8..12).unwrap_or_default(),
        hex.get(12..16).unwrap_or_default(),
        hex.get(16..20).unwrap_or_default(),
        hex.get(20..32).unwrap_or_default()
    ))
}

/// Sends a request with `Accept: application/json`; the answer's `data`
/// when `success` is true.
async fn send(request: reqwest::RequestBuilder, action: &'static str) -> Result<Value> {
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| Error::Session {
            action,
            code: None,
            message: format!("the request failed: {}", e.without_url()),
            retryable: true,
        })?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status == 200 && answer.get("success").and_then(Value::as_bool) == Some(true) {
        return Ok(answer.get("data").cloned().unwrap_or(Value::Null));
    }
    let code = answer
        .get("code")
        .and_then(|c| {
            c.as_str()
                .map(str::to_owned)
                .or_else(|| c.as_i64().map(|n| n.to_string()))
        })
        .or_else(|| (status != 200).then(|| format!("HTTP {status}")));
    Err(Error::Session {
        action,
        code,
        message: answer
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_owned(),
        // 390112: the session expired (log in again).
        retryable: matches!(status, 408 | 429 | 500..=599)
            || answer.get("code").and_then(Value::as_str) == Some("390112"),
    })
}

/// The DER `DigestInfo` prefix of a SHA-256 digest (RFC 8017, 9.2).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The key-pair login's JWT (Snowflake docs, "Key-pair authentication"):
/// RS256 over `{"iss": "<ACCOUNT>.<USER>.SHA256:<public key fingerprint>",
/// "sub": "<ACCOUNT>.<USER>", "iat", "exp"}`, the account without any
/// `.region` suffix, both upper case, valid one hour.
fn key_pair_jwt(
    account: &str,
    user: &str,
    pem: &str,
    passphrase: Option<&str>,
    now: i64,
) -> Result<String> {
    let refused = |message: String| Error::Session {
        action: "signing the key-pair login",
        code: None,
        message,
        retryable: false,
    };
    let key = match passphrase {
        Some(passphrase) => RsaPrivateKey::from_pkcs8_encrypted_pem(pem, passphrase),
        None => RsaPrivateKey::from_pkcs8_pem(pem),
    }
    .map_err(|e| refused(format!("the private key cannot be read: {e}")))?;
    let public = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| refused(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let fingerprint = b64.encode(Sha256::digest(public.as_bytes()));
    let account = account
        .split('.')
        .next()
        .unwrap_or(account)
        .to_ascii_uppercase();
    let user = user.to_ascii_uppercase();
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = url.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = url.encode(
        json!({
            "iss": format!("{account}.{user}.SHA256:{fingerprint}"),
            "sub": format!("{account}.{user}"),
            "iat": now,
            "exp": now + 3600,
        })
        .to_string(),
    );
    let input = format!("{header}.{claims}");
    let signature = key
        .sign(
            Pkcs1v15Sign {
                hash_len: Some(32),
                prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
            },
            &Sha256::digest(input.as_bytes()),
        )
        .map_err(|e| refused(e.to_string()))?;
    Ok(format!("{input}.{}", url.encode(signature)))
}

#[cfg(test)]
mod tests {
    use rsa::{Pkcs1v15Sign, RsaPublicKey};

    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/snowflake")
            .join(name);
        std::fs::read_to_string(path).expect("fixture key")
    }

    #[test]
    fn the_jwt_names_the_key_and_verifies_with_it() {
        let pem = fixture("test_key.p8");
        let key = RsaPrivateKey::from_pkcs8_pem(&pem).expect("a key");
        let jwt = key_pair_jwt("myorg-acct.eu-west-1", "Loader", &pem, None, 1_700_000_000)
            .expect("signed");
        let encrypted = key_pair_jwt(
            "myorg-acct",
            "loader",
            &fixture("test_key_encrypted.p8"),
            Some("test-passphrase"),
            1_700_000_000,
        )
        .expect("the encrypted key signs too");
        assert_eq!(encrypted.split('.').nth(1), jwt.split('.').nth(1));
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims: Value =
            serde_json::from_slice(&url.decode(parts[1]).expect("b64")).expect("JSON");
        assert_eq!(claims["sub"], "MYORG-ACCT.LOADER");
        assert_eq!(claims["exp"], 1_700_003_600);
        let public = RsaPublicKey::from(&key);
        let fingerprint = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(
            public.to_public_key_der().expect("DER").as_bytes(),
        ));
        assert_eq!(
            claims["iss"],
            format!("MYORG-ACCT.LOADER.SHA256:{fingerprint}")
        );
        let signature = url.decode(parts[2]).expect("b64");
        let digest = Sha256::digest(format!("{}.{}", parts[0], parts[1]).as_bytes());
        public
            .verify(
                Pkcs1v15Sign {
                    hash_len: Some(32),
                    prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
                },
                &digest,
                &signature,
            )
            .expect("the signature verifies with the public key");
        let refused = key_pair_jwt("a", "u", "not a pem", None, 0).expect_err("bad key");
        assert!(refused.to_string().contains("cannot be read"), "{refused}");
        assert!(!format!("{:?}", Login::Password("hunter2".into())).contains("hunter2"));
    }

    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = request_id().expect("random");
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(id, request_id().expect("random"));
    }
}
