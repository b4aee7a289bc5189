//! Staged loading: batches as gzip NDJSON files on a Snowflake stage, put
//! there with `PUT` (our own REST session, [`snowflake_stage`]) and read
//! with `COPY INTO` at the commit.
//!
//! A batch's rows are encoded once (the same `{"c0": ..}` objects the bind
//! path sends, plus `"r"`, the row's sequence number) into files of at most
//! [`FILE_MAX_BYTES`] uncompressed. The encoder hands the rows over in
//! pieces of about [`PIECE_BYTES`] to a compressing thread, which gzips
//! them in memory while the encoder goes on (gzip is a third of the
//! target's CPU; on its own thread it no longer slows the thread reading
//! the input), and hands each whole file to an upload thread, which
//! uploads them `upload_parallelism` at a time while the next files are
//! encoded (at most that many files wait for it, and [`PIECES_WAITING`]
//! pieces for the compressing thread: memory stays bounded, and a slow
//! store slows the encoder). The files stay on the stage until the
//! commit that loads them succeeds, so a commit that fails on a transient
//! error is tried again from the files in a new session; the commit then
//! removes them, and the first batch of a table in the next run removes
//! what an earlier run of that table left (a run that died before its
//! commit). Files are named
//! `singer-rs/<database>/<schema>/<table>-<hash>/<run>/<commit>/<n>-<stream>.json.gz`, never
//! reused (COPY's load history would skip a reused name; every COPY
//! also says `FORCE = TRUE` so a retried commit reloads them into its fresh
//! landing table).

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use serde_json::{Map, Value};
use singer_protocol::RetryPolicy;
use singer_target::{Batch, safe_name};
use snowflake_stage::{
    FileMeta, Login, PutResponse, RestSession, SessionConfig, Uploader, digest, encrypt,
    upload_request,
};
use tracing::{debug, warn};

use crate::config::{Credentials, SnowflakeConfig};
use crate::encode::{EncodeCounts, EncodeOptions, encode_row};
use crate::error::{Error, Result};
use crate::stage::StageRequest;

/// Uncompressed bytes per file, at most (plus one row).
pub(crate) const FILE_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Encoded rows handed to the compressing thread at a time (plus one row).
const PIECE_BYTES: usize = 1024 * 1024;
/// Pieces waiting for the compressing thread: what bounds the encoder's
/// lead over it.
const PIECES_WAITING: usize = 8;
/// The default stage's name (in each target schema).
pub(crate) const DEFAULT_STAGE: &str = "SINGER_RS_FILES";

/// One file of staged rows.
#[derive(Debug, Clone)]
pub(crate) struct StagedFile {
    /// The stage, as written in SQL (`SCHEMA.NAME`).
    pub(crate) stage: String,
    /// The directory in the stage (ends with `/`).
    pub(crate) dir: String,
    /// The file name.
    pub(crate) name: String,
    /// Rows in the file.
    pub(crate) rows: u64,
    /// The stream whose rows it holds.
    pub(crate) stream: String,
}

/// What staging one batch did.
#[derive(Debug, Default)]
pub(crate) struct FileBatch {
    pub(crate) files: Vec<StagedFile>,
    pub(crate) rows: u64,
    pub(crate) nulled: u64,
}

/// Counters for the end-of-run summary.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct FileStats {
    /// Files uploaded.
    pub files: u64,
    /// Compressed bytes uploaded.
    pub bytes: u64,
    /// `PUT` statements sent.
    pub puts: u64,
    /// Seconds spent encoding and compressing.
    pub encode_seconds: f64,
    /// Seconds spent uploading (PUT statements and transfers).
    pub upload_seconds: f64,
}

/// A file encoded, waiting for its upload.
struct Queued {
    file: StagedFile,
    gz: Vec<u8>,
    /// Seconds the compressing thread spent on it.
    compress_seconds: f64,
}

/// What the encoder sends the compressing thread, in order.
enum Piece {
    /// Encoded rows of the current file (whole rows).
    Rows(Vec<u8>),
    /// The current file is complete: it is this one.
    End(StagedFile),
    /// Every file so far goes to the upload thread, which answers here
    /// once they are on the stage.
    Flush(SyncSender<Result<Uploaded>>),
    /// The current file is dropped (its batch failed while encoding).
    Discard,
}

/// Encodes batches into files and hands them to the upload thread.
pub(crate) struct FileStager {
    options: EncodeOptions,
    parallel: usize,
    stage: Option<String>,
    /// This run's id (time, process, random).
    run: String,
    /// The database loaded into (part of every file's path).
    database: String,
    commit: u64,
    counter: u64,
    /// The uploader, until the thread takes it (at the first file).
    uploads: Option<Uploads>,
    worker: Option<Worker>,
    /// Rows being encoded, handed to the compressing thread every
    /// [`PIECE_BYTES`].
    text: String,
    /// Time the current batch's encoder spent waiting for the compressing
    /// thread.
    blocked: Duration,
    created: HashSet<String>,
    cleaned: HashSet<String>,
    /// Encoding counters (the upload thread keeps the upload ones), in
    /// all and per stream.
    encode: FileStats,
    encode_by_stream: BTreeMap<String, f64>,
    /// The upload counters at the last flush.
    uploaded: Uploaded,
}

/// The upload thread's counters: in all and per stream.
#[derive(Debug, Default, Clone)]
struct Uploaded {
    all: FileStats,
    by_stream: BTreeMap<String, FileStats>,
}

/// What the upload thread owns: the REST session for `PUT`, the HTTP
/// client for the stores, the retry policy and its counters.
struct Uploads {
    runtime: tokio::runtime::Runtime,
    session_config: SessionConfig,
    session: Option<RestSession>,
    uploader: Uploader,
    connect_override: Option<url::Url>,
    retry: RetryPolicy,
    parallel: usize,
    stats: Uploaded,
}

/// The threads behind the encoder: the compressing thread (pieces of
/// encoded rows in, gzip files out to the upload thread, in order) and the
/// upload thread (files in, bounded: `upload_parallelism` waiting; flushes
/// answered with the counters or the first failure). Compressing beside
/// the encoder takes gzip, a third of the target's CPU, off the thread that
/// reads the input.
struct Worker {
    pieces: SyncSender<Piece>,
    /// Emptied piece buffers coming back for reuse.
    spare: Receiver<Vec<u8>>,
}

enum Job {
    File(Queued),
    Flush(SyncSender<Result<Uploaded>>),
}

impl std::fmt::Debug for FileStager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStager")
            .field("run", &self.run)
            .field("encode", &self.encode)
            .finish_non_exhaustive()
    }
}

impl FileStager {
    pub(crate) fn new(config: &SnowflakeConfig, run: &str, options: EncodeOptions) -> Result<Self> {
        let login = match config.credentials()? {
            Credentials::Password(password) => Login::Password(password.expose().to_owned()),
            Credentials::KeyPair { pem, passphrase } => Login::KeyPair {
                pem: pem.expose().to_owned(),
                passphrase: passphrase.map(|p| p.expose().to_owned()),
            },
        };
        let base_url = match &config.endpoint {
            Some(endpoint) => url::Url::parse(endpoint).map_err(|e| Error::Config {
                reason: format!("endpoint {endpoint:?} is not a URL: {e}"),
            })?,
            None => SessionConfig::account_url(&config.account).map_err(stage_error)?,
        };
        let mut parameters: Map<String, Value> = config
            .session_parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        parameters
            .entry("TIMEZONE")
            .or_insert_with(|| Value::String("UTC".to_owned()));
        if let Some(tag) = &config.query_tag {
            parameters.insert("QUERY_TAG".to_owned(), Value::String(tag.clone()));
        }
        let timeout = Duration::from_secs(config.query_timeout_seconds.max(1));
        let session_config = SessionConfig {
            base_url,
            account: config.account.clone(),
            user: config.user.clone(),
            login,
            database: Some(config.database.clone()),
            schema: None,
            warehouse: config.warehouse.clone(),
            role: config.role.clone(),
            session_parameters: parameters,
            timeout,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(Error::Runtime)?;
        let parallel = usize::try_from(config.upload_parallelism.get()).unwrap_or(usize::MAX);
        Ok(Self {
            options,
            parallel,
            stage: config.stage.clone(),
            run: run.to_owned(),
            database: config.database.clone(),
            commit: 0,
            counter: 0,
            uploads: Some(Uploads {
                runtime,
                session_config,
                session: None,
                uploader: Uploader::new(timeout).map_err(stage_error)?,
                connect_override: None,
                retry: config.retry_policy(),
                parallel,
                stats: Uploaded::default(),
            }),
            worker: None,
            text: String::new(),
            blocked: Duration::ZERO,
            created: HashSet::new(),
            cleaned: HashSet::new(),
            encode: FileStats::default(),
            encode_by_stream: BTreeMap::new(),
            uploaded: Uploaded::default(),
        })
    }

    /// The stage of a table in `schema` (the configured one, else
    /// `SCHEMA.SINGER_RS_FILES`).
    pub(crate) fn stage_for(&self, schema: &str) -> String {
        self.stage.clone().unwrap_or_else(|| {
            // A name an unquoted identifier resolves to stays unquoted
            // (what a stage reference is most often written as); any other
            // is quoted.
            let plain = schema
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
                && schema.bytes().all(|b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'$'
                });
            let schema = if plain {
                schema.to_owned()
            } else {
                crate::naming::quote(schema)
            };
            format!("{schema}.{DEFAULT_STAGE}")
        })
    }

    /// The directory every run's files of table `schema.table` (in this
    /// database) go under: one safe component per name
    /// ([`singer_target::safe_name`]), so no two tables share it.
    pub(crate) fn table_dir(&self, schema: &str, table: &str) -> String {
        format!(
            "singer-rs/{}/{}/{}/",
            safe_name(&self.database),
            safe_name(schema),
            safe_name(table)
        )
    }

    /// The directory of the current commit's files of a table.
    fn commit_dir(&self, table_dir: &str) -> String {
        format!("{table_dir}{}/{}/", self.run, self.commit)
    }

    /// The files of the next commit go to a new directory.
    pub(crate) fn committed(&mut self) {
        self.commit += 1;
    }

    /// What a table still needs before its first file in this run:
    /// `(create the stage, remove earlier runs' files)`. The stage is
    /// created only when it is the default one.
    pub(crate) fn setup_needed(&self, stage: &str, table_dir: &str) -> (bool, bool) {
        (
            self.stage.is_none() && !self.created.contains(stage),
            !self.cleaned.contains(&format!("{stage}/{table_dir}")),
        )
    }

    /// The stage exists and the table's earlier files were removed (or
    /// tried to be).
    pub(crate) fn set_up(&mut self, stage: &str, table_dir: &str) {
        self.created.insert(stage.to_owned());
        self.cleaned.insert(format!("{stage}/{table_dir}"));
    }

    /// Encodes `batch` into files and hands them to the upload thread.
    pub(crate) fn stage(
        &mut self,
        stage: &str,
        table_dir: &str,
        request: &StageRequest<'_>,
        batch: &Batch,
    ) -> Result<FileBatch> {
        let started = Instant::now();
        let mut out = FileBatch::default();
        // The batch's constant columns (its table version), written into
        // every row.
        let mut constants = String::new();
        for (index, constant) in request.constants.iter().enumerate() {
            if let (Some(constant), Some(None)) =
                (constant, request.plans.get(index).map(|p| p.cell))
            {
                constants.push_str(&format!(
                    "\"c{index}\":{},",
                    Value::String(constant.clone())
                ));
            }
        }
        let mut counts = EncodeCounts::default();
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let mut rows_in_file = 0_u64;
        // Uncompressed bytes of the current file.
        let mut file_bytes = 0_usize;
        self.blocked = Duration::ZERO;
        let mut rows = batch.rows().enumerate().peekable();
        let encoded = (|| -> Result<()> {
            while let Some((index, batch_row)) = rows.next() {
                encode_row(
                    &mut text,
                    request.stream,
                    &batch_row,
                    index + 1,
                    request.plans,
                    self.options,
                    &mut counts,
                )?;
                // `{...}` -> `{...,"cK":"<constant>","r":N}`: the batch's
                // constant columns (its table version) and the row's sequence
                // number.
                text.pop();
                if !text.ends_with('{') {
                    text.push(',');
                }
                text.push_str(&constants);
                let number = request.base + u64::try_from(index).unwrap_or(u64::MAX);
                text.push_str("\"r\":");
                text.push_str(itoa::Buffer::new().format(number));
                text.push_str("}\n");
                rows_in_file += 1;
                let file_done = file_bytes + text.len() >= FILE_MAX_BYTES || rows.peek().is_none();
                if text.len() >= PIECE_BYTES || file_done {
                    file_bytes += text.len();
                    self.send_rows(&mut text)?;
                }
                if file_done {
                    out.files.push(self.end_file(
                        stage,
                        table_dir,
                        request.stream,
                        rows_in_file,
                    )?);
                    rows_in_file = 0;
                    file_bytes = 0;
                }
            }
            Ok(())
        })();
        if let Err(error) = encoded {
            // The file under way stops here: its pieces must not open the
            // next batch's file.
            if let Some(worker) = &self.worker {
                let _ = worker.pieces.send(Piece::Discard);
            }
            self.text = text;
            return Err(error);
        }
        self.text = text;
        out.rows = out.files.iter().map(|f| f.rows).sum();
        out.nulled = counts.nulled;
        // The encoder's own time: waiting for the compressing thread is
        // that thread's time, counted by it.
        let seconds = started.elapsed().saturating_sub(self.blocked).as_secs_f64();
        self.encode.encode_seconds += seconds;
        *self
            .encode_by_stream
            .entry(request.stream.to_owned())
            .or_default() += seconds;
        Ok(out)
    }

    /// Hands the encoded rows in `text` to the compressing thread and
    /// gives `text` an empty buffer back.
    fn send_rows(&mut self, text: &mut String) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let worker = self.worker()?;
        let mut spare = worker.spare.try_recv().unwrap_or_default();
        spare.clear();
        let rows = std::mem::replace(text, String::from_utf8(spare).unwrap_or_default());
        let waiting = Instant::now();
        let sent = worker.pieces.send(Piece::Rows(rows.into_bytes()));
        self.blocked += waiting.elapsed();
        sent.map_err(|_| thread_gone())
    }

    /// Ends the current file (its rows were sent): it is compressed and
    /// uploaded behind the encoder.
    fn end_file(
        &mut self,
        stage: &str,
        table_dir: &str,
        stream: &str,
        rows: u64,
    ) -> Result<StagedFile> {
        self.counter += 1;
        let file = StagedFile {
            stage: stage.to_owned(),
            dir: self.commit_dir(table_dir),
            name: format!("{}-{}.json.gz", self.counter, safe_name(stream)),
            rows,
            stream: stream.to_owned(),
        };
        let waiting = Instant::now();
        let sent = self.worker()?.pieces.send(Piece::End(file.clone()));
        self.blocked += waiting.elapsed();
        sent.map_err(|_| thread_gone())?;
        Ok(file)
    }

    /// The compressing and upload threads, started at the first file.
    fn worker(&mut self) -> Result<&Worker> {
        if self.worker.is_none() {
            let Some(uploads) = self.uploads.take() else {
                return Err(thread_gone());
            };
            let (jobs, receiver) = sync_channel(self.parallel);
            std::thread::Builder::new()
                .name("singer-uploads".to_owned())
                .spawn(move || uploads.serve(&receiver))
                .map_err(Error::Runtime)?;
            let (pieces, incoming) = sync_channel(PIECES_WAITING);
            let (give_back, spare) = sync_channel(PIECES_WAITING);
            std::thread::Builder::new()
                .name("singer-gzip".to_owned())
                .spawn(move || compress(&incoming, &jobs, &give_back))
                .map_err(Error::Runtime)?;
            self.worker = Some(Worker { pieces, spare });
        }
        self.worker.as_ref().ok_or_else(thread_gone)
    }

    /// Waits until every file handed over is on the stage. A failure (the
    /// upload thread already retried it) is final: its file is gone.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let Some(worker) = &self.worker else {
            return Ok(());
        };
        let (reply, answer) = sync_channel(1);
        worker
            .pieces
            .send(Piece::Flush(reply))
            .map_err(|_| thread_gone())?;
        match answer.recv().map_err(|_| thread_gone())? {
            Ok(stats) => {
                self.uploaded = stats;
                Ok(())
            }
            Err(Error::Stage { source, .. }) => Err(Error::Stage {
                retryable: false,
                source,
            }),
            Err(error) => Err(error),
        }
    }

    /// Encoding and upload counters (encoding seconds are the encoder's
    /// and the compressing thread's).
    pub(crate) fn stats(&self) -> FileStats {
        FileStats {
            encode_seconds: self.encode.encode_seconds + self.uploaded.all.encode_seconds,
            ..self.uploaded.all
        }
    }

    /// [`FileStager::stats`] per stream (upload seconds are each file's
    /// own: files of several streams upload at once).
    pub(crate) fn stream_stats(&self) -> BTreeMap<String, FileStats> {
        let mut streams = self.uploaded.by_stream.clone();
        for (stream, seconds) in &self.encode_by_stream {
            // The compressing thread's seconds are already in.
            streams.entry(stream.clone()).or_default().encode_seconds += *seconds;
        }
        streams
    }
}

fn thread_gone() -> Error {
    Error::Encode {
        reason: "the upload thread stopped".to_owned(),
    }
}

/// The compressing thread: gzips each file's pieces as they come (the
/// encoder goes on with the next rows) and hands each whole file to the
/// upload thread, in order; flushes go the same way, behind the files.
/// It stops when the encoder goes or the upload thread has gone (the
/// encoder then finds its next piece refused).
fn compress(pieces: &Receiver<Piece>, jobs: &SyncSender<Job>, give_back: &SyncSender<Vec<u8>>) {
    let new_file = || GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut gz = new_file();
    let mut seconds = 0.0;
    while let Ok(piece) = pieces.recv() {
        match piece {
            Piece::Rows(rows) => {
                let started = Instant::now();
                if gz.write_all(&rows).is_err() {
                    return;
                }
                seconds += started.elapsed().as_secs_f64();
                // A full channel means enough spares wait already.
                let _ = give_back.try_send(rows);
            }
            Piece::End(file) => {
                let started = Instant::now();
                let Ok(bytes) = std::mem::replace(&mut gz, new_file()).finish() else {
                    return;
                };
                let queued = Queued {
                    file,
                    gz: bytes,
                    compress_seconds: seconds + started.elapsed().as_secs_f64(),
                };
                seconds = 0.0;
                if jobs.send(Job::File(queued)).is_err() {
                    return;
                }
            }
            Piece::Flush(reply) => {
                if jobs.send(Job::Flush(reply)).is_err() {
                    return;
                }
            }
            Piece::Discard => {
                gz = new_file();
                seconds = 0.0;
            }
        }
    }
}

impl Uploads {
    /// The upload thread: takes the files waiting (up to
    /// `upload_parallelism`), uploads them at once, and answers flushes.
    fn serve(mut self, jobs: &Receiver<Job>) {
        let mut failure: Option<Error> = None;
        while let Ok(first) = jobs.recv() {
            let mut files = Vec::new();
            let mut flush = None;
            match first {
                Job::File(file) => files.push(file),
                Job::Flush(reply) => flush = Some(reply),
            }
            while flush.is_none() && files.len() < self.parallel {
                match jobs.try_recv() {
                    Ok(Job::File(file)) => files.push(file),
                    Ok(Job::Flush(reply)) => flush = Some(reply),
                    Err(_) => break,
                }
            }
            if !files.is_empty()
                && failure.is_none()
                && let Err(error) = self.upload(files)
            {
                failure = Some(error);
            }
            if let Some(reply) = flush {
                let _ = reply.send(match failure.take() {
                    Some(error) => Err(error),
                    None => Ok(self.stats.clone()),
                });
            }
        }
    }

    /// Uploads every queued file: `PUT` one by one (each answer carries the
    /// place and credentials), the transfers at once; failed transfers are
    /// retried under the retry policy, with a new `PUT` (fresh
    /// credentials) each time.
    fn upload(&mut self, mut queue: Vec<Queued>) -> Result<()> {
        let started = Instant::now();
        let mut attempt = 0_u32;
        while !queue.is_empty() {
            attempt += 1;
            let mut failed = Vec::new();
            let mut last_error = None;
            let mut transfers = tokio::task::JoinSet::new();
            for (index, queued) in queue.iter().enumerate() {
                let asked = Instant::now();
                let put = self.put(&queued.file);
                self.stats
                    .by_stream
                    .entry(queued.file.stream.clone())
                    .or_default()
                    .upload_seconds += asked.elapsed().as_secs_f64();
                let put = match put {
                    Ok(put) => put,
                    Err(error) => {
                        failed.push(index);
                        last_error = Some(error);
                        continue;
                    }
                };
                let sum = digest(&queued.gz);
                let (body, encrypted) = match &put.encryption_material {
                    Some(material) => {
                        let mut encrypted = encrypt(&queued.gz, material).map_err(stage_error)?;
                        (std::mem::take(&mut encrypted.data), Some(encrypted))
                    }
                    None => (queued.gz.clone(), None),
                };
                let meta = FileMeta {
                    digest: &sum,
                    encrypted: encrypted.as_ref(),
                };
                let request =
                    upload_request(&put.stage_info, &queued.file.name, meta, chrono::Utc::now())
                        .map_err(stage_error)?;
                let uploader = match &self.connect_override {
                    Some(base) => self.uploader.clone().with_connect_override(base.clone()),
                    None => self.uploader.clone(),
                };
                let name = queued.file.name.clone();
                let _guard = self.runtime.enter();
                transfers.spawn(async move {
                    let sent = Instant::now();
                    let result = uploader.put(&request, &name, body).await;
                    (index, result, sent.elapsed())
                });
            }
            let results = self.runtime.block_on(transfers.join_all());
            for (index, result, took) in results {
                let Some(queued) = queue.get(index) else {
                    continue;
                };
                let stream = self
                    .stats
                    .by_stream
                    .entry(queued.file.stream.clone())
                    .or_default();
                stream.upload_seconds += took.as_secs_f64();
                match result {
                    Ok(()) => {
                        let bytes = u64::try_from(queued.gz.len()).unwrap_or(u64::MAX);
                        stream.files += 1;
                        stream.bytes += bytes;
                        stream.encode_seconds += queued.compress_seconds;
                        self.stats.all.files += 1;
                        self.stats.all.bytes += bytes;
                        self.stats.all.encode_seconds += queued.compress_seconds;
                    }
                    Err(error) => {
                        failed.push(index);
                        last_error = Some(stage_error(error));
                    }
                }
            }
            let mut keep = vec![false; queue.len()];
            for index in failed {
                if let Some(k) = keep.get_mut(index) {
                    *k = true;
                }
            }
            let mut flags = keep.into_iter();
            queue.retain(|_| flags.next().unwrap_or(false));
            if let Some(error) = last_error {
                let retryable = singer_protocol::Retryable::is_retryable(&error);
                if !retryable || attempt >= self.retry.max_attempts.max(1) {
                    return Err(error);
                }
                let wait = self.retry.wait_before(attempt);
                warn!(files = queue.len(), attempt, wait_ms = wait.as_millis(), error = %error, "Uploading staged files failed; retrying.");
                std::thread::sleep(wait);
            }
        }
        self.stats.all.upload_seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    /// The `PUT` for `file` (logging in first when needed; a failed
    /// statement drops the session so the retry logs in again).
    fn put(&mut self, file: &StagedFile) -> Result<PutResponse> {
        let sql = format!(
            "PUT 'file:///singer-rs/{name}' @{stage}/{dir} AUTO_COMPRESS=FALSE \
             SOURCE_COMPRESSION=GZIP OVERWRITE=TRUE",
            name = file.name,
            stage = file.stage,
            dir = file.dir,
        );
        self.stats.all.puts += 1;
        self.stats
            .by_stream
            .entry(file.stream.clone())
            .or_default()
            .puts += 1;
        let session = match self.session.take() {
            Some(session) => session,
            None => self
                .runtime
                .block_on(RestSession::login(&self.session_config))
                .map_err(stage_error)?,
        };
        let mut session = session;
        let answer = self.runtime.block_on(session.put(&sql));
        match answer {
            Ok(put) => {
                self.session = Some(session);
                debug!(file = %file.name, store = ?put.stage_info.location_type, "PUT answered.");
                Ok(put)
            }
            Err(error) => Err(stage_error(error)),
        }
    }
}

impl FileStager {
    /// Sends all uploads through `base` (tests: a local S3).
    #[cfg(feature = "test-support")]
    pub(crate) fn set_connect_override(&mut self, base: url::Url) {
        if let Some(uploads) = &mut self.uploads {
            uploads.connect_override = Some(base);
        }
    }
}

fn stage_error(error: snowflake_stage::Error) -> Error {
    let retryable = error.is_retryable() || error.is_expired();
    Error::Stage {
        retryable,
        source: error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_whose_plain_names_meet_get_their_own_directory() {
        let stager = |database: &str| {
            let mut config = SnowflakeConfig::new("a", "u", database);
            config.password = Some(singer_protocol::SecretString::new("p"));
            FileStager::new(
                &config,
                "20261206T000000-1-00000000",
                EncodeOptions {
                    special: crate::config::SpecialValues::Error,
                },
            )
            .expect("a stager")
        };
        let one = stager("DB1");
        let a = one.table_dir("RAW", "order items");
        let b = one.table_dir("RAW", "order_items");
        assert!(
            a.starts_with("singer-rs/DB1/RAW/order_items-") && a.ends_with('/'),
            "{a}"
        );
        assert_ne!(a, b);
        assert_ne!(a, stager("DB2").table_dir("RAW", "order items"));
        assert_eq!(
            a,
            stager("DB1").table_dir("RAW", "order items"),
            "stable across runs"
        );
    }
}
