#!/usr/bin/env bash
# Side-by-side benchmark (issue #8, item 6): in one run, on the 1,000,000-row
# `issues` bench table of issue #4 (fixtures/postgres/bench-issues.sql) in a
# throwaway PostgreSQL, times
#   - COPY (FORMAT binary) through psql,
#   - our tap-postgres, catalog mode (FULL_TABLE) and manifest mode
#     (--load-type full),
#   - pipelinewise-tap-postgres 2.1.0 and meltanolabs-tap-postgres 0.10.0
#     (FULL_TABLE, every column),
#   - tap-postgres | target-csv  vs  pipelinewise-tap-postgres | target-csv
#     0.3.0 (singer-io),
#   - Sling 1.4.11 postgres -> CSV file (the binary of PyPI's
#     sling-linux-amd64 wheel, telemetry off),
# and prints a markdown table of median wall time, rows/s, peak RSS (each
# side of a pipe) and the ratio of each contender's time to ours. Every run
# is checked to have moved all rows (RECORD messages, COPY tuples or CSV
# lines counted), so a failing peer cannot post a fast time.
#
# About this benchmark: it answers "how much faster, and how much lighter,
# is the Rust stack than what people run today?" on a realistic table
# (14 columns: exact numerics, double, boolean, text[], jsonb, timestamps,
# ~10% NULLs), on this 2-core machine. The Python contenders run PEER_RUNS
# times (default 1: one round of them takes about 11 minutes), everything
# else RUNS times (default 3); contenders take turns round by round. It is
# run by hand, not in CI: it needs PyPI for the peers (scripts/py-venv
# installs them, pinned, under target/e2e/venv) and takes ~15 minutes at
# full size. pipelinewise's `multipleOf` for numeric columns trips
# target-csv 0.3.0's float-based validation, so that pipe passes the SCHEMA
# message through `sed` to drop it (see benches/benches/side_by_side.rs).
#
#   benches/side-by-side.sh                       # 1,000,000 rows
#   ROWS=100000 RUNS=5 PEER_RUNS=3 benches/side-by-side.sh
#   benches/side-by-side.sh --quick               # COPY, our tap and pipe, Sling (~1 min)
#
# Every mode ends with the pipe's ratios against its limits: pipe / COPY
# wall time, target-csv CPU / tap-postgres CPU inside the pipe, Sling /
# our pipe.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS

if [[ ${1:-} == --quick ]]; then
  export QUICK=1
  peers=(sling)
else
  peers=(pw-tap ml-tap csv-target sling)
fi

scripts/setup
for tool in "${peers[@]}"; do
  scripts/py-venv "$tool"
done
venv=$root/target/e2e/venv
sling=$("$venv/sling/bin/python" -c 'import sling_linux_amd64; print(sling_linux_amd64.SLING_BIN)')

cargo build --release -q -p tap-postgres -p target-csv

export SIDE_BY_SIDE_TAP=$root/target/release/tap-postgres
export SIDE_BY_SIDE_TARGET_CSV=$root/target/release/target-csv
export SIDE_BY_SIDE_PW_TAP=$venv/pw-tap/bin/tap-postgres
# (QUICK: the Python peers are not installed and not run.)
export SIDE_BY_SIDE_ML_TAP=$venv/ml-tap/bin/tap-postgres
export SIDE_BY_SIDE_PY_TARGET_CSV=$venv/csv-target/bin/target-csv
export SIDE_BY_SIDE_SLING=$sling
cargo bench -q -p benches --features side-by-side --bench side_by_side
echo "Total wall time (setup, installs, builds and bench): $((SECONDS - started)) s"
