//! Uploads to an S3 stage on moto (a local S3 from PyPI that checks SigV4
//! signatures and session tokens once its first setup calls are done),
//! read back and decrypted with snowflake-connector-python's own
//! `SnowflakeEncryptionUtil.decrypt_stream`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use snowflake_stage::{FileMeta, PutResponse, Uploader, digest, encrypt, upload_request};

const BUCKET: &str = "sfc-demo-stage";
const REGION: &str = "us-west-2";

/// The project's fakesnow venv, which holds moto and the Snowflake
/// connector (`scripts/setup` makes it).
fn python() -> PathBuf {
    let venv = singer_testkit::venv_dir();
    let python = venv.join("bin").join("python");
    let ok = Command::new(&python)
        .args(["-c", "import moto, boto3, snowflake.connector"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the S3 upload tests need moto and snowflake-connector-python in {}: run scripts/setup",
        venv.display()
    );
    python
}

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto on a free port, letting its first 4 requests through without
/// authentication (the setup calls) and checking every one after.
fn start_moto(python: &PathBuf) -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(python)
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
        .expect("moto starts");
    let moto = Moto { child, port };
    // A TCP connect, not an HTTP request: that would use up a free call.
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

fn run_python(python: &PathBuf, script: &str, args: &[&str]) -> String {
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The 4 setup calls: a role, its policy, temporary credentials for it
/// (Snowflake's shape: key id, secret, session token), the bucket.
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

/// Fetches the object with the temporary credentials and decrypts it with
/// the connector's routine; prints the plaintext's hex and the metadata.
const VERIFY: &str = r#"
import boto3, io, json, sys
from snowflake.connector.encryption_util import SnowflakeEncryptionUtil
from snowflake.connector.storage_client import SnowflakeFileEncryptionMaterial
from snowflake.connector.constants import EncryptionMetadata
url, creds, key, qsmk = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-west-2",
    aws_access_key_id=creds["AWS_KEY_ID"], aws_secret_access_key=creds["AWS_SECRET_KEY"],
    aws_session_token=creds["AWS_TOKEN"])
obj = s3.get_object(Bucket="sfc-demo-stage", Key=key)
md = obj["Metadata"]
body = obj["Body"].read()
meta = EncryptionMetadata(key=md["x-amz-key"], iv=md["x-amz-iv"], matdesc=md["x-amz-matdesc"])
material = SnowflakeFileEncryptionMaterial(query_stage_master_key=qsmk, query_id="01b2-query", smk_id=3112)
out = io.BytesIO()
SnowflakeEncryptionUtil.decrypt_stream(meta, material, io.BytesIO(body), out)
plain = out.getvalue()
print(json.dumps({"plain": plain.hex(), "digest": md["sfc-digest"], "matdesc": md["x-amz-matdesc"]}))
"#;

fn stage_answer(creds: &serde_json::Value, qsmk: &str) -> PutResponse {
    PutResponse::from_json(&json!({
        "command": "UPLOAD",
        "stageInfo": {"locationType": "S3", "location": format!("{BUCKET}/stages/run-1"),
            "region": REGION, "isClientSideEncrypted": true, "creds": creds},
        "encryptionMaterial": {"queryStageMasterKey": qsmk, "queryId": "01b2-query", "smkId": 3112},
    }))
    .expect("an S3 PUT answer")
}

fn uploader(moto: &Moto) -> Uploader {
    let base = url::Url::parse(&format!("http://127.0.0.1:{}", moto.port)).expect("url");
    Uploader::new(Duration::from_secs(30))
        .expect("client")
        .with_connect_override(base)
}

#[test]
fn encrypted_uploads_decrypt_with_the_connector_and_bad_signatures_are_refused() {
    let python = python();
    let moto = start_moto(&python);
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let creds: serde_json::Value =
        serde_json::from_str(&run_python(&python, SETUP, &[&endpoint])).expect("credentials");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let file: Vec<u8> = (0..50_000)
        .flat_map(|i| format!("{{\"c0\":{i},\"c1\":\"é\"}}\n").into_bytes())
        .collect();
    for (bits, qsmk) in [
        (128, "ztke8tIdVt1zmlQIZm0BMA=="),
        (256, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
    ] {
        let answer = stage_answer(&creds, qsmk);
        let material = answer.encryption_material.as_ref().expect("material");
        let encrypted = encrypt(&file, material).expect("encrypts");
        let sum = digest(&file);
        // The loader names files from [A-Za-z0-9._-] only: moto signs a key
        // with `+` or a space differently from botocore (which agrees with
        // this crate: see the SigV4 known-answer test).
        let name = format!("batch-{bits}.json.gz");
        let meta = FileMeta {
            digest: &sum,
            encrypted: Some(&encrypted),
        };
        let request =
            upload_request(&answer.stage_info, &name, meta, chrono::Utc::now()).expect("request");
        runtime
            .block_on(uploader(&moto).put(&request, &name, encrypted.data.clone()))
            .expect("moto accepts the signed upload");
        let key = format!("stages/run-1/{name}");
        let seen: serde_json::Value = serde_json::from_str(&run_python(
            &python,
            VERIFY,
            &[&endpoint, &creds.to_string(), &key, qsmk],
        ))
        .expect("verifier output");
        assert_eq!(seen["digest"], sum.as_str(), "{bits}");
        assert_eq!(
            seen["matdesc"],
            format!(r#"{{"queryId":"01b2-query","smkId":"3112","keySize":"{bits}"}}"#)
        );
        let plain: Vec<u8> = (0..seen["plain"].as_str().expect("hex").len() / 2)
            .map(|i| {
                u8::from_str_radix(&seen["plain"].as_str().expect("hex")[2 * i..2 * i + 2], 16)
                    .expect("hex")
            })
            .collect();
        assert!(
            plain == file,
            "{bits}-bit: the connector decrypted other bytes"
        );
    }

    // A wrong secret: the signature does not match; not retryable, not an
    // expiry.
    let mut wrong = creds.clone();
    wrong["AWS_SECRET_KEY"] = json!("not-the-secret");
    let answer = stage_answer(&wrong, "ztke8tIdVt1zmlQIZm0BMA==");
    let sum = digest(b"x");
    let meta = FileMeta {
        digest: &sum,
        encrypted: None,
    };
    let request =
        upload_request(&answer.stage_info, "f", meta, chrono::Utc::now()).expect("request");
    let error = runtime
        .block_on(uploader(&moto).put(&request, "f", b"x".to_vec()))
        .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "the S3 stage refused f: HTTP 403 SignatureDoesNotMatch"
    );
    assert!(!error.is_retryable() && !error.is_expired());
    assert!(!error.to_string().contains("not-the-secret"));

    // A bogus session token.
    let mut bogus = creds.clone();
    bogus["AWS_TOKEN"] = json!("bogus");
    let answer = stage_answer(&bogus, "ztke8tIdVt1zmlQIZm0BMA==");
    let request =
        upload_request(&answer.stage_info, "f", meta, chrono::Utc::now()).expect("request");
    let error = runtime
        .block_on(uploader(&moto).put(&request, "f", b"x".to_vec()))
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .starts_with("the S3 stage refused f: HTTP 4"),
        "{error}"
    );
    assert!(!error.is_expired());
}
