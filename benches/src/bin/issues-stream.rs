//! Writes [`benches::issues_stream`] to stdout: `issues-stream N > issues.jsonl`
//! (the input of `benches/target-csv-vs-python.sh`); `issues-stream N sdk`
//! writes it with the SCHEMA pipelinewise and the Meltano SDK taps emit
//! ([`benches::Shape::Sdk`]).

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let records = std::env::args()
        .nth(1)
        .and_then(|n| n.replace('_', "").parse::<usize>().ok())
        .unwrap_or(1_000_000);
    let shape = match std::env::args().nth(2).as_deref() {
        Some("sdk") => benches::Shape::Sdk,
        _ => benches::Shape::TapPostgres,
    };
    #[expect(
        clippy::disallowed_methods,
        reason = "a generator whose output is stdout"
    )]
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // Generate in slices so memory stays small for any N.
    const SLICE: usize = 100_000;
    let mut done = 0;
    while done < records {
        let n = SLICE.min(records - done);
        let mut text = benches::issues_stream_shaped(n, shape);
        if done > 0 {
            // Drop the SCHEMA line after the first slice.
            let first_newline = text.iter().position(|b| *b == b'\n').map_or(0, |p| p + 1);
            text.drain(..first_newline);
        }
        // Prefix later slices' ids with the slice offset (ids need not be
        // unique for a CSV target; they stay valid JSON integers).
        let mut text = String::from_utf8_lossy(&text).into_owned();
        if done > 0 {
            text = text.replace(
                "\"record\":{\"id\":",
                &format!("\"record\":{{\"id\":{done}"),
            );
        }
        if out.write_all(text.as_bytes()).is_err() {
            return ExitCode::FAILURE;
        }
        done += n;
    }
    ExitCode::SUCCESS
}
