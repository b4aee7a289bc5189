#!/usr/bin/env bash
# LOG_BASED bench (issue #16): on a throwaway PostgreSQL with
# wal_level = logical, tap-postgres FULL_TABLE on the 1,000,000-row bench
# table beside LOG_BASED replays of one transaction updating every row
# (and one updating 10,000: peak RSS flat) and of a pgbench workload;
# prints records per second, the tap's CPU and peak RSS, medians of 3
# (see benches/benches/log_based.rs). About 3 minutes at full size.
#
#   benches/log-based.sh
#   ROWS=200000 RUNS=5 SECONDS=5 benches/log-based.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/setup
cargo build --release -q -p tap-postgres
export LOG_BASED_BENCH_TAP=$root/target/release/tap-postgres
cargo bench -q -p benches --features log-based --bench log_based
