#!/usr/bin/env bash
# Crash and resume, the long run (hand runs; CI runs the small one in
# e2e/tests/it/crash.rs): a throwaway PostgreSQL with two tables of 300,000
# rows (one synced FULL_TABLE with ACTIVATE_VERSION, one INCREMENTAL on a
# timestamp with ties, changed between attempts), `tap-postgres |
# target-csv` killed with SIGKILL 40 times at random stages (tap at start,
# tap mid-read, target mid-batch, target right after a commit, both),
# resumed each time from the last state line the target wrote, then the
# destination compared with the source after every clean run and every
# finished FULL_TABLE copy. Prints a report per attempt; exit 0 when
# nothing was lost and the FULL_TABLE version holds no duplicate.
#
#   benches/crash-resume.sh [--rows N] [--kills N] [--seed N]
#                           [--state-interval N] [--batch-rows N]
#                           [--changes N] [--work-dir DIR]
#                           [--target csv|snowflake]
#
# --target snowflake runs `tap-postgres | target-snowflake` (upsert) into
# the Snowflake double instead (slow: use e.g. --rows 20000 --kills 10).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
cargo build --release --quiet -p singer-e2e -p tap-postgres -p target-csv -p target-snowflake \
  --bin crash-resume --bin tap-postgres --bin target-csv --bin target-snowflake
exec target/release/crash-resume "$@"
