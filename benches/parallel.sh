#!/usr/bin/env bash
# Parallel extraction bench (issue #15, item 3): tap-postgres with
# `parallelism` 1, 2 and 4 on the 1,000,000-row `issues` bench table and on
# 200 tables x 5,000 rows, tap -> /dev/null and tap | target-csv, in one run
# on a throwaway PostgreSQL; prints median wall time, CPU of each side and
# of the server, and the speed-up over parallelism 1 (see
# benches/benches/parallel.rs). About 5 minutes at full size.
#
#   benches/parallel.sh
#   ROWS=200000 TABLES=50 RUNS=5 PARALLELISM=1,2 benches/parallel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/setup
cargo build --release -q -p tap-postgres -p target-csv
export PARALLEL_BENCH_TAP=$root/target/release/tap-postgres
export PARALLEL_BENCH_TARGET_CSV=$root/target/release/target-csv
cargo bench -q -p benches --features parallel --bench parallel
