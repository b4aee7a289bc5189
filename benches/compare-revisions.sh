#!/usr/bin/env bash
# Before/after in one run: builds the release binaries of REV (a commit,
# tag or branch; default the previous commit) in a worktree with its own
# target directory, and those of this tree, then times both on the same
# data, taking turns (benches/benches/revisions.rs): tap-postgres FULL_TABLE
# and manifest full load of the 1,000,000-row bench table to /dev/null,
# and target-csv on a 1,000,000-record stream. Prints medians of wall and
# CPU time, peak RSS and new/old ratios.
#
#   benches/compare-revisions.sh 1158429
#   COMPARE_ROWS=200000 COMPARE_RUNS=3 benches/compare-revisions.sh HEAD~5
#
# The old build lives in target/rev/<sha>/ (source worktree and its own
# target directory: a worktree must never share this tree's target/, whose
# fingerprints are keyed by paths relative to the workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rev=${1:-HEAD~1}
sha=$(git rev-parse --verify "$rev^{commit}")
short=${sha:0:12}
old=$root/target/rev/$short
scripts/setup

if [[ ! -d $old/src ]]; then
  mkdir -p "$old"
  git worktree add --detach "$old/src" "$sha" >/dev/null
fi
echo "[compare] building $rev ($short) in $old" >&2
(cd "$old/src" && CARGO_TARGET_DIR=$old/target cargo build --release -q \
  -p tap-postgres -p target-csv -p benches --bin tap-postgres --bin target-csv --bin issues-stream)
echo "[compare] building this tree" >&2
cargo build --release -q -p tap-postgres -p target-csv -p benches --bin tap-postgres --bin target-csv --bin issues-stream

COMPARE_OLD_BIN_DIR=$old/target/release COMPARE_NEW_BIN_DIR=$root/target/release \
  cargo bench -q -p benches --features compare-revisions --bench revisions
