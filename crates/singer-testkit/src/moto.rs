//! moto, a local S3 from PyPI that checks SigV4 signatures and session
//! tokens, as the cloud store behind a Snowflake stage, and a reader that
//! fetches an object back and decrypts it with snowflake-connector-python's
//! own `SnowflakeEncryptionUtil.decrypt_stream` (both in the fakesnow venv
//! `scripts/setup` makes).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The bucket every moto server here has.
pub const MOTO_BUCKET: &str = "sfc-demo-stage";
/// Its region.
pub const MOTO_REGION: &str = "us-west-2";

/// A running moto server (killed on drop) with the bucket and temporary
/// credentials for it.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    python: PathBuf,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// `{"AWS_KEY_ID", "AWS_SECRET_KEY", "AWS_TOKEN"}`: temporary
    /// credentials (STS) in Snowflake's `stageInfo.creds` shape.
    pub creds: serde_json::Value,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 4 setup calls moto lets through without authentication: a role,
/// its policy, temporary credentials for it, the bucket.
const SETUP: &str = r#"
import boto3, json, sys
url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
iam = boto3.client("iam", **kw)
iam.create_role(RoleName="stage", AssumeRolePolicyDocument="{}")
iam.put_role_policy(RoleName="stage", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
creds = boto3.client("sts", **kw).assume_role(
    RoleArn="arn:aws:iam::123456789012:role/stage", RoleSessionName="stage")["Credentials"]
boto3.client("s3", **kw).create_bucket(Bucket="sfc-demo-stage",
    CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
print(json.dumps({"AWS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_KEY": creds["SecretAccessKey"],
    "AWS_TOKEN": creds["SessionToken"]}))
"#;

/// Lists the objects under a prefix, fetches each with the temporary
/// credentials and decrypts it with the connector's routine: a JSON list
/// of `{"key", "plain" (hex), "digest", "matdesc"}`.
const FETCH: &str = r#"
import boto3, io, json, sys
from snowflake.connector.encryption_util import SnowflakeEncryptionUtil
from snowflake.connector.storage_client import SnowflakeFileEncryptionMaterial
from snowflake.connector.constants import EncryptionMetadata
url, creds, prefix, qsmk = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-west-2",
    aws_access_key_id=creds["AWS_KEY_ID"], aws_secret_access_key=creds["AWS_SECRET_KEY"],
    aws_session_token=creds["AWS_TOKEN"])
out = []
# No Prefix parameter: moto checks the signature of a query with an
# encoded `/` differently from botocore; the keys are filtered here.
for item in s3.list_objects_v2(Bucket="sfc-demo-stage").get("Contents", []):
    if not item["Key"].startswith(prefix):
        continue
    obj = s3.get_object(Bucket="sfc-demo-stage", Key=item["Key"])
    md = obj["Metadata"]
    body = obj["Body"].read()
    meta = EncryptionMetadata(key=md["x-amz-key"], iv=md["x-amz-iv"], matdesc=md["x-amz-matdesc"])
    material = SnowflakeFileEncryptionMaterial(
        query_stage_master_key=qsmk, query_id=json.loads(md["x-amz-matdesc"])["queryId"],
        smk_id=int(json.loads(md["x-amz-matdesc"])["smkId"]))
    plain = io.BytesIO()
    SnowflakeEncryptionUtil.decrypt_stream(meta, material, io.BytesIO(body), plain)
    out.append({"key": item["Key"], "plain": plain.getvalue().hex(), "digest": md["sfc-digest"],
        "matdesc": md["x-amz-matdesc"]})
print(json.dumps(out))
"#;

/// One object read back from moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The object key.
    pub key: String,
    /// The decrypted bytes.
    pub plain: Vec<u8>,
    /// Its `sfc-digest` metadata.
    pub digest: String,
    /// Its `x-amz-matdesc` metadata.
    pub matdesc: String,
}

impl Moto {
    /// Starts moto on a free port (authentication enforced after the setup
    /// calls) and makes the bucket and temporary credentials.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] when the venv lacks moto or the server does not
    /// come up, saying how to get it.
    pub fn start() -> Result<Self, Error> {
        let venv = crate::venv_dir();
        let python = venv.join("bin").join("python");
        let setup = |reason: String| Error::Setup {
            reason: format!(
                "{reason} (the S3 stage tests need moto in {}: run scripts/setup)",
                venv.display()
            ),
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| setup(format!("no free port: {e}")))?
            .port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| setup(format!("cannot run {}: {e}", python.display())))?;
        let mut moto = Self {
            child,
            python,
            port,
            creds: serde_json::Value::Null,
        };
        // A TCP connect, not an HTTP request: that would use up a free call.
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(setup("moto did not start in 30 s".to_owned()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let printed = moto.python(SETUP, &[&moto.url()]).map_err(setup)?;
        moto.creds = serde_json::from_str(&printed)
            .map_err(|e| setup(format!("setup printed {printed:?}: {e}")))?;
        Ok(moto)
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A `stageInfo` for the bucket under `prefix`, with the credentials
    /// (`creds` replaced when given).
    #[must_use]
    pub fn stage_info(&self, prefix: &str, creds: Option<&serde_json::Value>) -> serde_json::Value {
        serde_json::json!({
            "locationType": "S3",
            "location": format!("{MOTO_BUCKET}/{prefix}"),
            "region": MOTO_REGION,
            "isClientSideEncrypted": true,
            "creds": creds.unwrap_or(&self.creds),
        })
    }

    /// Every object under `prefix`, decrypted with the connector's routine
    /// under master key `qsmk` (base64).
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] when the reader fails (its stderr says why).
    pub fn fetch_decrypted(&self, prefix: &str, qsmk: &str) -> Result<Vec<Fetched>, Error> {
        let printed = self
            .python(FETCH, &[&self.url(), &self.creds.to_string(), prefix, qsmk])
            .map_err(|reason| Error::Setup { reason })?;
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&printed).map_err(|e| Error::Setup {
                reason: format!("the reader printed {printed:?}: {e}"),
            })?;
        Ok(list
            .iter()
            .map(|item| Fetched {
                key: item["key"].as_str().unwrap_or_default().to_owned(),
                plain: hex(item["plain"].as_str().unwrap_or_default()),
                digest: item["digest"].as_str().unwrap_or_default().to_owned(),
                matdesc: item["matdesc"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    fn python(&self, script: &str, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.python)
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.python.display()))?;
        if !output.status.success() {
            return Err(format!(
                "python failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| text.get(2 * i..2 * i + 2))
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect()
}
