//! AWS Signature Version 4 for one S3 `PutObject` with an unsigned payload
//! (what the Snowflake connectors send: Python
//! `_send_single_request_with_authentication`, `sf_core`'s
//! `disable_payload_signing`).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The payload hash S3 accepts for a body that is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Temporary S3 credentials and the region they sign for. `Debug` never
/// shows the secret or the token.
#[derive(Clone)]
pub struct SigV4<'a> {
    /// Access key id.
    pub key_id: &'a str,
    /// Secret key.
    pub secret: &'a str,
    /// Session token (`x-amz-security-token`).
    pub token: Option<&'a str>,
    /// Region.
    pub region: &'a str,
}

impl std::fmt::Debug for SigV4<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SigV4<'_> {
    /// Signs a request: adds `x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` and `authorization` to `headers` (names
    /// lower case). Every header already there is signed, with `host`;
    /// add unsigned ones (`content-type`) after. `path` is the URI-encoded
    /// key path (`/a/b%20c`).
    pub fn sign(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &mut Vec<(String, String)>,
        now: DateTime<Utc>,
    ) {
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = now.format("%Y%m%d").to_string();
        headers.push(("x-amz-date".to_owned(), amz_date.clone()));
        headers.push((
            "x-amz-content-sha256".to_owned(),
            UNSIGNED_PAYLOAD.to_owned(),
        ));
        if let Some(token) = self.token {
            headers.push(("x-amz-security-token".to_owned(), token.to_owned()));
        }
        let mut signed: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .chain([("host".to_owned(), host.to_owned())])
            .collect();
        signed.sort();
        let names: Vec<&str> = signed.iter().map(|(k, _)| k.as_str()).collect();
        let names = names.join(";");
        let mut canonical = format!("{method}\n{path}\n\n");
        for (name, value) in &signed {
            canonical.push_str(name);
            canonical.push(':');
            canonical.push_str(value);
            canonical.push('\n');
        }
        canonical.push('\n');
        canonical.push_str(&names);
        canonical.push('\n');
        canonical.push_str(UNSIGNED_PAYLOAD);
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let key = [date.as_str(), self.region, "s3", "aws4_request"]
            .iter()
            .fold(format!("AWS4{}", self.secret).into_bytes(), |key, part| {
                hmac(&key, part.as_bytes())
            });
        let signature = hex(&hmac(&key, to_sign.as_bytes()));
        headers.push((
            "authorization".to_owned(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={names}, Signature={signature}",
                self.key_id
            ),
        ));
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    Hmac::<Sha256>::new_from_slice(key)
        .map(|mac| mac.chain_update(data).finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Percent-encodes a key path the way S3 signs it: every byte but
/// `A-Za-z0-9-._~` and `/`.
#[must_use]
pub fn encode_path(key: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(key.len() + 1);
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The vector is botocore 1.44.18's `S3SigV4Auth` for the same request
    /// (client config `s3={"payload_signing_enabled": False}`, so the
    /// canonical request ends in `UNSIGNED-PAYLOAD`) at 2026-12-06T05:30:00Z.
    #[test]
    fn matches_botocore() {
        let signer = SigV4 {
            key_id: "AKIDEXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token: Some("FwoGZXIvYXdzEXAMPLE/token+x="),
            region: "us-west-2",
        };
        let mut headers = vec![
            ("x-amz-meta-sfc-digest".to_owned(), "q1w2e3==".to_owned()),
            ("x-amz-meta-x-amz-key".to_owned(), "a2V5".to_owned()),
            ("x-amz-meta-x-amz-iv".to_owned(), "aXY=".to_owned()),
            (
                "x-amz-meta-x-amz-matdesc".to_owned(),
                r#"{"queryId":"01b2","smkId":"3112","keySize":"128"}"#.to_owned(),
            ),
        ];
        let path = encode_path("/abcd-s1/stages/1234/batch-1+é.json.gz");
        assert_eq!(path, "/abcd-s1/stages/1234/batch-1%2B%C3%A9.json.gz");
        let now = Utc
            .with_ymd_and_hms(2026, 12, 6, 5, 30, 0)
            .single()
            .expect("a time");
        signer.sign(
            "PUT",
            "sfc-demo-stage.s3.us-west-2.amazonaws.com",
            &path,
            &mut headers,
            now,
        );
        let authorization = headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            authorization,
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-west-2/s3/aws4_request, \
                 SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-sfc-digest;\
                 x-amz-meta-x-amz-iv;x-amz-meta-x-amz-key;x-amz-meta-x-amz-matdesc;\
                 x-amz-security-token, \
                 Signature=ed572dc617ac18534702c2570eb981b1db1fd3f681677bd5bad0a794440fa8df"
            )
        );
        assert!(!format!("{signer:?}").contains("EXAMPLEKEY"));
    }
}
