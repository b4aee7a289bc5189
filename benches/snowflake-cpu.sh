#!/usr/bin/env bash
# target-snowflake's CPU per record against tap-postgres's (issue #13,
# item 6): `tap-postgres | target-snowflake` on the `issues` bench table
# (fixtures/postgres/bench-issues.sql, ROWS rows, default 1,000,000) in a
# throwaway PostgreSQL, into the Snowflake double (fakesnow behind the
# project's wrapper), once per staging path (`stage`: files PUT + COPY,
# the default; `bind`: JSON text bound to INSERTs), RUNS times each
# (default 3), paths taking turns. It prints each side's CPU seconds
# (user + system, from /usr/bin/time), the ratio target / tap and the wall
# time, medians. The double's own time is not counted: it is another
# process (and a correctness double, not a benchmark sink).
#
#   benches/snowflake-cpu.sh
#   ROWS=200000 RUNS=5 benches/snowflake-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rows=${ROWS:-1000000}
runs=${RUNS:-3}

scripts/setup
cargo build --release -q -p tap-postgres -p target-snowflake
venv=${SINGER_FAKESNOW_VENV:-$root/target/fakesnow/venv}

work=$(mktemp -d /tmp/snowflake-cpu.XXXXXX)
chmod 755 "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}
cleanup() {
  as_pg "$pgbin/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
  [[ -n ${wrapper_pid:-} ]] && kill "$wrapper_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
[[ $(id -u) -eq 0 ]] && chown postgres "$work"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/initdb -D $work/pg -A trust -U postgres" >/dev/null
as_pg "$pgbin/pg_ctl -D $work/pg -l $work/pg.log -o '-p $port -k $work -c listen_addresses=127.0.0.1' -w start" >/dev/null
sed "s/:rows/$rows/g" fixtures/postgres/bench-issues.sql \
  | psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres >/dev/null

# The double: stays up while its stdin is open.
mkfifo "$work/wrapper.in"
sleep 1000000 > "$work/wrapper.in" &
keep_open=$!
"$venv/bin/python" crates/singer-testkit/fakesnow/wrapper.py --port 0 \
  < "$work/wrapper.in" > "$work/wrapper.out" 2> "$work/wrapper.err" &
wrapper_pid=$!
for _ in $(seq 100); do grep -q READY "$work/wrapper.out" 2>/dev/null && break; sleep 0.2; done
double_port=$(awk '/READY/ {print $2}' "$work/wrapper.out")
[[ -n $double_port ]] || { echo "the Snowflake double did not start: $(cat "$work/wrapper.err")" >&2; exit 1; }

tap=$root/target/release/tap-postgres
target=$root/target/release/target-snowflake
printf '{"host":"127.0.0.1","port":%s,"user":"postgres","dbname":"postgres"}' "$port" > "$work/tap.json"
"$tap" --config "$work/tap.json" --discover > "$work/discovered.json" 2>/dev/null
python3 - "$work/discovered.json" "$work/catalog.json" <<'EOF'
import json, sys
catalog = json.load(open(sys.argv[1]))
for stream in catalog["streams"]:
    for entry in stream["metadata"]:
        if entry["breadcrumb"] == [] and stream["stream"].endswith("issues"):
            entry["metadata"]["selected"] = True
            entry["metadata"]["replication-method"] = "FULL_TABLE"
json.dump(catalog, open(sys.argv[2], "w"))
EOF

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A tap_cpu target_cpu wall
for run in $(seq "$runs"); do
  for staging in stage bind; do
    cat > "$work/target.json" <<EOF
{"account": "bench", "user": "bench", "password": "not-checked", "database": "BENCH_${staging^^}_$run",
 "default_target_schema": "RAW", "endpoint": "http://127.0.0.1:$double_port", "staging": "$staging",
 "session_parameters": {"FAKESNOW_DB_PATH": ":isolated:bench-$staging-$run"}}
EOF
    started=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$work/tap.time" "$tap" --config "$work/tap.json" --catalog "$work/catalog.json" 2>/dev/null \
      | /usr/bin/time -f '%U %S' -o "$work/target.time" "$target" --config "$work/target.json" > "$work/states.jsonl" 2> "$work/target.log" \
      || { echo "the $staging run failed:" >&2; tail -5 "$work/target.log" >&2; exit 1; }
    ended=$(date +%s.%N)
    grep -q "rows=$rows" "$work/target.log" || { echo "the $staging run did not load $rows rows:" >&2; grep -i "statistics" "$work/target.log" >&2; exit 1; }
    tap_cpu[$staging]+="$(awk '{print $1 + $2}' "$work/tap.time") "
    target_cpu[$staging]+="$(awk '{print $1 + $2}' "$work/target.time") "
    wall[$staging]+="$(echo "$ended - $started" | bc) "
    echo "[snowflake-cpu] run $run, staging $staging: tap $(awk '{print $1 + $2}' "$work/tap.time") s CPU, target $(awk '{print $1 + $2}' "$work/target.time") s CPU" >&2
  done
done

echo
echo "tap-postgres | target-snowflake, $rows rows of the issues bench table, into the double; medians of $runs runs"
echo
echo "| staging | tap CPU s | target CPU s | target / tap | wall s (with the double) |"
echo "|---|---:|---:|---:|---:|"
for staging in stage bind; do
  t=$(tr ' ' '\n' <<< "${tap_cpu[$staging]}" | grep . | median)
  g=$(tr ' ' '\n' <<< "${target_cpu[$staging]}" | grep . | median)
  w=$(tr ' ' '\n' <<< "${wall[$staging]}" | grep . | median)
  printf '| %s | %.2f | %.2f | %.2f | %.1f |\n' "$staging" "$t" "$g" "$(echo "$g / $t" | bc -l)" "$w"
done
echo
echo "goal: target / tap <= 1.5 (issue #13)"
kill "$keep_open" 2>/dev/null || true
