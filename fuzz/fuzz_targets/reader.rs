//! The Singer reader on arbitrary bytes: it must never panic, every error
//! must name a line, and every message it accepts must survive a write and
//! a re-read unchanged.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use singer_protocol::{Reader, Writer};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the read buffer size, so line splits across
    // buffer refills are exercised too; the limit is small so overlong lines
    // are reachable.
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let capacity = usize::from(first % 64) + 1;
    let reader = Reader::new(BufReader::with_capacity(capacity, input)).with_max_line_bytes(4096);
    let mut lines = 0u64;
    for item in reader {
        match item {
            Ok(message) => {
                assert!(message.line > lines, "line numbers increase");
                lines = message.line;
                let mut writer = Writer::new(Vec::new());
                writer.write(&message.message).expect("writing to a Vec");
                let written = writer.into_inner();
                let mut again = Reader::new(written.as_slice());
                let reread = again
                    .read_message()
                    .expect("what the writer wrote reads back")
                    .expect("one message");
                assert_eq!(reread.message, message.message, "round trip");
            }
            Err(error) => {
                assert!(error.line().is_some_and(|l| l > lines), "error without a later line: {error}");
            }
        }
    }
});
