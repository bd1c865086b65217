#!/usr/bin/env bash
# Where a syncblock volume's time goes: runs one fio workload against a volume
# whose primary storage node is profiled, then prints the profile.
#
#   PROFILER=perf       (default) `perf record -e cpu-clock --call-graph dwarf` on the primary's
#                       process: user and kernel time, so syscalls and locks show
#   PROFILER=callgrind  the primary runs under valgrind's callgrind: user-space
#                       instructions only, exact, about 50x slower
#
# Not a test; for finding hot spots after run.sh shows a gap. Everything lives in
# one temp dir removed on exit, and the cluster is taken down.
#
# Environment: SYNCBLOCK (binary), REPLICAS (1 or 3, default 3), PROFILE_RUNTIME
# (seconds of load, default 10), PROFILE_RW (fio rw, default randwrite),
# PROFILE_BS (default 4k), PROFILE_QD (default 32), PROFILE_OUT (a directory to
# copy the raw profile and report into), PROFILE_KEEP=1 (keep the temp dir).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
profiler="${PROFILER:-perf}"
replicas="${REPLICAS:-3}"
runtime="${PROFILE_RUNTIME:-10}"
rw="${PROFILE_RW:-randwrite}"
bs="${PROFILE_BS:-4k}"
qd="${PROFILE_QD:-32}"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"

case "$profiler" in
  perf) command -v perf >/dev/null || { echo "profile: perf not found" >&2; exit 2; } ;;
  callgrind) command -v valgrind >/dev/null || { echo "profile: valgrind not found" >&2; exit 2; } ;;
  *) echo "profile: PROFILER must be perf or callgrind" >&2; exit 2 ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-profile.XXXXXX")"
cluster="$work/cluster"
grind_pid=""
cluster_up=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$grind_pid" ]]; then
    kill "$grind_pid" 2>/dev/null || true
    wait "$grind_pid" 2>/dev/null || true
  fi
  if [[ "$cluster_up" == 1 ]]; then
    "$work/bin/syncblock" local down --dir "$cluster" --purge >/dev/null 2>&1 || true
  fi
  if [[ "${PROFILE_KEEP:-0}" == 1 ]]; then echo "profile: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
# shellcheck source=tests/bench/lib.sh
source "$here/lib.sh"
bench_setup
ctl() { "$sb" ctl --cluster "$cluster" "$@"; }

json_field() {  # json_field EXPR: evaluates EXPR on the JSON document `d` read from stdin
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

wait_volume_healthy() {
  local i
  for ((i = 0; i < 600; i++)); do
    if ctl -o json volume show bench |
      json_field "all(r['state']=='in_sync' for r in d['replicas']) and len(d['replicas'])==$replicas" |
      grep -q True; then
      return 0
    fi
    sleep 0.2
  done
  echo "profile: volume never became healthy" >&2
  ctl volume show bench >&2 || true
  return 1
}

cluster_up=1
# --insecure: fio's nbd engine cannot present the client certificate a TLS
# export requires (tests/bench/README.md).
"$sb" local up --dir "$cluster" --nodes "$replicas" --no-csi --insecure >"$work/up.log" 2>&1 ||
  { cat "$work/up.log" >&2; exit 1; }

if [[ "$profiler" == callgrind ]]; then
  # node-1 comes back under valgrind with the same command line, ports and data.
  mapfile -t args < <(json_field "'\n'.join(d['storage'][0]['args'])" <"$cluster/cluster.json")
  "$sb" local kill --dir "$cluster" node-1 >/dev/null
  # Collection starts off and is switched on for the measured job only, so the
  # start-up and the fill do not mix into the profile.
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out" \
    "${args[@]}" >>"$work/node-1-valgrind.log" 2>&1 &
  grind_pid=$!
  for ((i = 0; i < 600; i++)); do
    reachable="$(ctl -o json node list 2>/dev/null |
      json_field "sum(1 for n in d['nodes'] if n['reachable'])" 2>/dev/null || echo 0)"
    [[ "$reachable" == "$replicas" ]] && break
    sleep 0.5
  done
fi

ctl volume create bench --size 1G --replicas "$replicas" >/dev/null
wait_volume_healthy
primary="$(ctl -o json volume show bench | json_field "d['primary']")"
if [[ "$profiler" == callgrind && "$primary" != node-1 ]]; then
  ctl promote bench node-1 >/dev/null
  wait_volume_healthy
  primary=node-1
fi
uri="$(ctl export bench)"
index="${primary#node-}"
pid="$(json_field "d['storage'][$((index - 1))]['pid']" <"$cluster/cluster.json")"
[[ "$profiler" == callgrind ]] && pid="$grind_pid"

echo "profile: $profiler on $primary (pid $pid), $replicas replica(s), fio $rw bs=$bs qd=$qd for ${runtime}s" >&2
fio_cmd=(fio --name=profile --ioengine=nbd --uri="$uri" --size=512m --rw="$rw" --bs="$bs"
  --iodepth="$qd" --time_based --runtime="$runtime" --output-format=json
  --output="$work/fio.json")

# Filled first, as in run.sh: writes into holes would profile ext4's allocator.
fio --name=fill --ioengine=nbd --uri="$uri" --size=512m --rw=write --bs=1m --iodepth=8 \
  --output="$work/fill.log" >/dev/null

if [[ "$profiler" == perf ]]; then
  "${fio_cmd[@]}" &
  fio_pid=$!
  # DWARF unwinding: the binary has no frame pointers, so -g alone loses user stacks.
  perf record -q -e cpu-clock --call-graph dwarf,8192 -p "$pid" -o "$work/perf.data" -- sleep "$runtime" 2>"$work/perf.log"
  wait "$fio_pid"
  perf report -i "$work/perf.data" --stdio --no-children --sort sym --percent-limit 0.7 \
    -g none 2>/dev/null | grep -v -e '^$' -e '^#' >"$work/report-symbols.txt"
  perf script -i "$work/perf.data" 2>/dev/null | python3 "$here/perf_breakdown.py" 25 \
    >"$work/report-breakdown.txt"
else
  callgrind_control -i on "$grind_pid" >/dev/null 2>&1
  "${fio_cmd[@]}"
  kill -TERM "$grind_pid"
  wait "$grind_pid" || true
  grind_pid=""
  # Whole files first: `| head` would SIGPIPE the annotator under pipefail.
  callgrind_annotate --inclusive=no "$work/callgrind.out" >"$work/self.txt" 2>/dev/null
  callgrind_annotate --inclusive=yes "$work/callgrind.out" >"$work/inclusive.txt" 2>/dev/null
  awk '/^Ir/ { on = 1 } on && n++ < 40' "$work/self.txt" | cut -c1-220 >"$work/report-self.txt"
  awk '/^Ir/ { on = 1 } on && n++ < 50' "$work/inclusive.txt" | cut -c1-220 \
    >"$work/report-inclusive.txt"
fi

if [[ -n "${PROFILE_OUT:-}" ]]; then
  mkdir -p "$PROFILE_OUT"
  cp "$work"/report*.txt "$work/fio.json" "$PROFILE_OUT"/
  cp "$work"/perf.data "$work"/callgrind.out "$PROFILE_OUT"/ 2>/dev/null || true
fi
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = j["write"] if j["write"]["total_ios"] else j["read"]
print("fio: %.0f IOPS, mean latency %.0f us" % (side["iops"], side["lat_ns"]["mean"] / 1000))
' "$work/fio.json"
for f in "$work"/report*.txt; do echo "== $(basename "$f")"; cat "$f"; done
