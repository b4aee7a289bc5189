#!/usr/bin/env bash
# target-csv (release, validation on) vs singer-io target-csv 0.3.0 (PyPI) on
# the same 1,000,000-record stream of tap-postgres's bench-table shape
# (`benches::issues_stream`: 15 fields, exact decimals, timestamps, nested
# object, array, escapes, non-ASCII). Prints median wall time over RUNS runs,
# records/s, peak RSS (/usr/bin/time %M) and the speed ratio; our target is
# also run at 10,000 records to show that memory is flat with stream length.
#
# Goal (issue #6): >= 250k records/s, peak RSS <= 100 MB and flat.
#
# The Python target validates with float-based jsonschema and rejects a
# number for `{"type": "string", "format": "x-singer.decimal"}`, so both
# targets read the stream with the `weight` property declared
# `{"type": ["null", "number"]}` (ours keeps every digit either way).
#
#   RECORDS=1000000 PEER_RECORDS=$RECORDS RUNS=3 benches/target-csv-vs-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-1000000}
PEER_RECORDS=${PEER_RECORDS:-$RECORDS}
RUNS=${RUNS:-3}
work=target/peers/bench-target-csv
peer=target/peers/target-csv-py
mkdir -p "$work"

cargo build --release -q -p target-csv -p benches --bin target-csv --bin issues-stream
if [ ! -x "$peer/bin/target-csv" ]; then
  python=""
  for v in 3.7 3.8 3.6; do
    python=$(ls -d "$HOME"/.pyenv/versions/$v.*/bin/python 2>/dev/null | head -1 || true)
    [ -n "$python" ] && break
  done
  [ -n "$python" ] || { echo "need Python 3.6-3.8 under ~/.pyenv/versions for target-csv 0.3.0" >&2; exit 1; }
  "$python" -m venv "$peer"
  "$peer/bin/pip" install -q target-csv==0.3.0
fi

gen() { # records file
  target/release/issues-stream "$1" |
    sed '1s/"weight":{"type":\["null","string"\],"format":"x-singer.decimal","precision":38,"scale":9}/"weight":{"type":["null","number"]}/' > "$2"
}

# run LABEL RECORDS CMD... : prints "seconds rss_kb" medians over RUNS
measure() {
  local input=$1; shift
  local times=() rss=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$work/out" && mkdir -p "$work/out"
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" < "$input" > "$work/state" 2> "$work/stderr" ||
      { tail -5 "$work/stderr" >&2; exit 1; }
    read -r t m < "$work/time"
    times+=("$t"); rss+=("$m")
  done
  local mt mr
  mt=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  mr=$(printf '%s\n' "${rss[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$mt $mr"
}

echo "{\"destination_path\": \"$work/out\"}" > "$work/ours.json"
echo "{\"destination_path\": \"$work/out/\", \"disable_collection\": true}" > "$work/py.json"

gen 10000 "$work/small.jsonl"
gen "$RECORDS" "$work/input.jsonl"
[ "$PEER_RECORDS" = "$RECORDS" ] && peer_input="$work/input.jsonl" || { gen "$PEER_RECORDS" "$work/peer.jsonl"; peer_input="$work/peer.jsonl"; }

read -r small_t small_m < <(measure "$work/small.jsonl" target/release/target-csv --config "$work/ours.json")
read -r ours_t ours_m < <(measure "$work/input.jsonl" target/release/target-csv --config "$work/ours.json")
read -r py_t py_m < <(RUNS=1 measure "$peer_input" "$peer/bin/target-csv" --config "$work/py.json")

awk -v n="$RECORDS" -v pn="$PEER_RECORDS" -v ot="$ours_t" -v om="$ours_m" -v st="$small_t" -v sm="$small_m" \
    -v pt="$py_t" -v pm="$py_m" -v runs="$RUNS" 'BEGIN {
  printf "target-csv vs singer-io target-csv 0.3.0, validation on, medians of %d runs (Python: 1 run)\n", runs
  printf "| target | records | s | records/s | peak RSS MB |\n|---|---:|---:|---:|---:|\n"
  printf "| target-csv (Rust) | 10000 | %.2f | %.0f | %.1f |\n", st, 10000/st, sm/1024
  printf "| target-csv (Rust) | %d | %.2f | %.0f | %.1f |\n", n, ot, n/ot, om/1024
  printf "| target-csv 0.3.0 (Python) | %d | %.2f | %.0f | %.1f |\n", pn, pt, pn/pt, pm/1024
  printf "speed ratio (Rust records/s / Python records/s): %.1f\n", (n/ot)/(pn/pt)
}'
