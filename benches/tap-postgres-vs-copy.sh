#!/usr/bin/env bash
# tap-postgres FULL_TABLE vs PostgreSQL's COPY (FORMAT binary) on the same
# 1,000,000-row table, in one run, release build: prints medians, the ratio,
# rows/s and the tap's peak RSS (at 10k and 1M rows). TAP_BENCH_ROWS=N to
# change the size.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
exec cargo bench -p tap-postgres --bench copy_ratio
