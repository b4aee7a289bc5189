//! The target driver (routing, validation fast path and full validator,
//! batching, the STATE rule) on arbitrary Singer input, over a loader that
//! keeps rows in memory: it must never panic, and it may write a STATE only
//! after a commit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use singer_protocol::Writer;
use singer_target::{Batch, Driver, DriverConfig, Loader, Retryable, StreamSchema};

#[derive(Debug, thiserror::Error)]
#[error("never fails")]
struct Never;

impl Retryable for Never {
    fn is_retryable(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct Memory {
    staged: usize,
    committed: usize,
    commits: usize,
}

impl Loader for Memory {
    type Error = Never;
    fn configure_stream(&mut self, schema: &StreamSchema) -> Result<(), Never> {
        assert!(!schema.columns.is_empty());
        Ok(())
    }
    fn write_batch(&mut self, _: &str, batch: &Batch) -> Result<(), Never> {
        for row in batch.rows() {
            assert_eq!(row.cells().count(), batch.columns());
        }
        self.staged += batch.len();
        Ok(())
    }
    fn commit(&mut self) -> Result<(), Never> {
        self.committed += std::mem::take(&mut self.staged);
        self.commits += 1;
        Ok(())
    }
    fn activate_version(&mut self, _: &str, _: u64) -> Result<(), Never> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut config = DriverConfig::default();
    config.max_line_bytes = 1 << 16;
    let mut driver = Driver::new(Memory::default(), config);
    let mut out = Writer::new(Vec::new());
    let result = driver.run(std::io::Cursor::new(data.to_vec()), &mut out);
    let loader = driver.into_loader();
    let written = out.into_inner();
    if let Ok(summary) = result {
        // At the end everything loaded is committed, and each STATE line is
        // one JSON value.
        assert_eq!(u64::try_from(loader.committed).ok(), Some(summary.records));
        assert_eq!(loader.staged, 0);
        for line in written.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<serde_json::Value>(line).expect("a STATE line is JSON");
        }
    }
});
