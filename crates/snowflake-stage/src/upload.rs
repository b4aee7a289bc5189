//! Sending an [`UploadRequest`]: one attempt, the outcome classified so
//! that the caller's retry policy can act (retry, refresh the credentials
//! by re-issuing the PUT, or give up).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::info::LocationType;
use crate::request::UploadRequest;

/// An HTTP client for stage uploads.
#[derive(Debug, Clone)]
pub struct Uploader {
    client: reqwest::Client,
    connect: Option<url::Url>,
}

impl Uploader {
    /// A client whose requests time out after `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Client`] when the TLS backend cannot start.
    pub fn new(timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(Error::Client)?;
        Ok(Self {
            client,
            connect: None,
        })
    }

    /// Sends every request to `base` (scheme, host and port) instead of
    /// the store, keeping the store's `Host` header and path: for tests
    /// against a local S3 (moto) that checks the signature.
    #[must_use]
    pub fn with_connect_override(mut self, base: url::Url) -> Self {
        self.connect = Some(base);
        self
    }

    /// Uploads `body` as `request` says; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] when the store does not answer,
    /// [`Error::Refused`] for any status but 2xx (see
    /// [`Error::is_retryable`] and [`Error::is_expired`]).
    pub async fn put(&self, request: &UploadRequest, file: &str, body: Vec<u8>) -> Result<()> {
        let store = store_name(request.location);
        let mut url = request.url.clone();
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        };
        if let Some(base) = &self.connect {
            // Setting the parts of a URL with a host cannot fail.
            let _ = url.set_scheme(base.scheme());
            let _ = url.set_host(base.host_str());
            let _ = url.set_port(base.port());
        }
        let mut builder = self
            .client
            .put(url)
            .header(reqwest::header::HOST, host)
            .body(body);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        // Without the URL: a presigned or SAS URL is a credential.
        let transport = |source: reqwest::Error| Error::Transport {
            file: file.to_owned(),
            store,
            source: source.without_url(),
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let code = xml_element(&text, "Code");
        let expired = match request.location {
            LocationType::S3 => status == 400 && code.as_deref() == Some("ExpiredToken"),
            LocationType::Azure => {
                status == 403
                    && (text.contains("Signature not valid in the specified time frame")
                        || text.contains("Server failed to authenticate the request"))
            }
            LocationType::Gcs => {
                (status == 401 && !request.presigned) || (status == 400 && request.presigned)
            }
            LocationType::LocalFs => false,
        };
        Err(Error::Refused {
            file: file.to_owned(),
            store,
            status,
            // Only the code: S3 error bodies echo the string to sign.
            code,
            expired,
        })
    }
}

fn store_name(location: LocationType) -> &'static str {
    match location {
        LocationType::S3 => "S3",
        LocationType::Azure => "Azure",
        LocationType::Gcs => "GCS",
        LocationType::LocalFs => "LOCAL_FS",
    }
}

/// The text of the first `<name>…</name>` in an XML error body.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text.get(start..)?.find('<')? + start;
    text.get(start..end)
        .filter(|code| code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_error_code_and_nothing_else() {
        let body = "<?xml version=\"1.0\"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><StringToSign>secret stuff</StringToSign></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("ExpiredToken"));
        assert_eq!(xml_element("<Code>a b</Code>", "Code"), None);
        assert_eq!(xml_element("no xml", "Code"), None);
    }
}

#[cfg(test)]
mod stub_tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::{FileMeta, PutResponse, upload_request};

    /// A one-request HTTP server answering `status` with `body`.
    fn stub(status: &'static str, body: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buffer = [0_u8; 65536];
                let _ = stream.read(&mut buffer);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        port
    }

    fn attempt(stage: &serde_json::Value, port: u16) -> Error {
        let put =
            PutResponse::from_json(&serde_json::json!({ "stageInfo": stage })).expect("answer");
        let meta = FileMeta {
            digest: "ZA==",
            encrypted: None,
        };
        let request = upload_request(&put.stage_info, "f.json.gz", meta, chrono::Utc::now())
            .expect("request");
        let base = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        let uploader = Uploader::new(Duration::from_secs(10))
            .expect("client")
            .with_connect_override(base);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(uploader.put(&request, "f.json.gz", b"x".to_vec()))
            .expect_err("refused")
    }

    #[test]
    fn a_store_that_does_not_answer_is_retryable_and_the_error_shows_no_signature() {
        // A port nothing listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a port")
            .port();
        let azure = serde_json::json!({"locationType": "AZURE", "location": "c/p", "storageAccount": "a",
            "creds": {"AZURE_SAS_TOKEN": "?sv=1&sig=S3CR3TSIG"}});
        let error = attempt(&azure, port);
        assert!(error.is_retryable(), "{error}");
        let mut chain = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause} / {cause:?}"));
            source = cause.source();
        }
        chain.push_str(&format!(" / {error:?}"));
        assert!(!chain.contains("S3CR3TSIG"), "{chain}");
    }

    #[test]
    fn expired_credentials_ask_for_a_new_put_and_5xx_for_a_retry() {
        let s3 = serde_json::json!({"locationType": "S3", "location": "b/p", "region": "us-west-2",
            "creds": {"AWS_KEY_ID": "a", "AWS_SECRET_KEY": "s", "AWS_TOKEN": "t"}});
        let expired = attempt(
            &s3,
            stub(
                "400 Bad Request",
                "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>",
            ),
        );
        assert!(expired.is_expired() && !expired.is_retryable(), "{expired}");
        let other_400 = attempt(
            &s3,
            stub(
                "400 Bad Request",
                "<Error><Code>InvalidToken</Code></Error>",
            ),
        );
        assert!(
            !other_400.is_expired() && !other_400.is_retryable(),
            "{other_400}"
        );
        let busy = attempt(
            &s3,
            stub("503 Slow Down", "<Error><Code>SlowDown</Code></Error>"),
        );
        assert!(busy.is_retryable() && !busy.is_expired(), "{busy}");
        let azure = serde_json::json!({"locationType": "AZURE", "location": "c/p", "storageAccount": "a",
            "creds": {"AZURE_SAS_TOKEN": "?sig=x"}});
        let azure_expired = attempt(
            &azure,
            stub(
                "403 Forbidden",
                "<Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.</Message></Error>",
            ),
        );
        assert!(azure_expired.is_expired(), "{azure_expired}");
        let gcs = serde_json::json!({"locationType": "GCS", "location": "b/p", "creds": {},
            "presignedUrl": "https://storage.googleapis.com/b/p/f.json.gz?X-Goog-Signature=x"});
        let presigned_expired = attempt(
            &gcs,
            stub(
                "400 Bad Request",
                "<Error><Code>ExpiredToken</Code></Error>",
            ),
        );
        assert!(presigned_expired.is_expired(), "{presigned_expired}");
    }
}
