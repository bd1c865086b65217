#!/usr/bin/env bash
# The slow-peer benchmark (issue 8): 4 KiB random writes at QD32 with fio's nbd
# engine on a 3-replica volume, first with every replica healthy, then with one
# secondary frozen (SIGSTOP) for $FREEZE seconds out of every $PERIOD while fio
# runs, a hung node rather than a dead one. Prints IOPS and the p50/p99/p99.9/max
# write latency of both runs, and the worst per-second IOPS dip. A measurement,
# not a test: no thresholds.
#
# Environment: SYNCBLOCK (binary, default <repo>/build/syncblock), BENCH_RUNTIME
# (seconds per run, default 30), FREEZE (5), PERIOD (10), BENCH_KEEP=1 keeps the
# temp dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runtime="${BENCH_RUNTIME:-30}"
freeze="${FREEZE:-5}"
period="${PERIOD:-10}"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"
volume_size=1G
for tool in fio nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
[[ -x "$syncblock_src" ]] || { echo "bench: $syncblock_src is not executable" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-slowpeer.XXXXXX")"
nbdkit_pid=""
cluster_up=0
frozen_pid=""
freezer_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$freezer_pid" ]] && kill "$freezer_pid" 2>/dev/null
  [[ -n "$frozen_pid" ]] && kill -CONT "$frozen_pid" 2>/dev/null
  if [[ "$cluster_up" == 1 ]]; then
    "$work/bin/syncblock" local down --dir "$work/cluster" --purge >/dev/null 2>&1 || true
  fi
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
# shellcheck source=tests/bench/lib.sh
source "$here/lib.sh"
bench_setup

start_cluster
make_volume bench 3 bench_uri
uri="$bench_uri"
ctl() { "$sb" ctl --cluster "$work/cluster" "$@"; }
secondary="$(ctl -o json volume show bench | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([r["node"] for r in d["replicas"] if r["node"] != d["primary"]][0])')"
frozen_pid="$(python3 -c '
import json, sys
print([s["pid"] for s in json.load(open(sys.argv[1]))["storage"] if s["id"] == sys.argv[2]][0])' \
  "$work/cluster/cluster.json" "$secondary")"

fio_run() {
  fio --output-format=json --output="$work/$1.json" --name="$1" --ioengine=nbd --uri="$uri" \
    --size=512m --rw=randwrite --bs=4k --iodepth=32 --time_based --runtime="$runtime" \
    --lat_percentiles=1 --write_iops_log="$work/$1" --log_avg_msec=1000 >"$work/$1.log" 2>&1
}

echo "bench: fill" >&2
fio --name=fill --ioengine=nbd --uri="$uri" --size=512m --rw=write --bs=1m --iodepth=8 \
  >/dev/null 2>&1
echo "bench: healthy (${runtime}s)" >&2
fio_run healthy
ctl resync-status bench >/dev/null 2>&1 || true
echo "bench: $secondary frozen ${freeze}s of every ${period}s (${runtime}s)" >&2
(
  while true; do
    sleep "$((period - freeze))"
    kill -STOP "$frozen_pid"
    sleep "$freeze"
    kill -CONT "$frozen_pid"
  done
) &
freezer_pid=$!
fio_run frozen
kill "$freezer_pid" 2>/dev/null || true
wait "$freezer_pid" 2>/dev/null || true
freezer_pid=""
kill -CONT "$frozen_pid"
echo "bench: waiting for $secondary to resync" >&2
wait_in_sync bench || true
ctl volume show bench

python3 - "$work" <<'PY'
import json, sys, glob
work = sys.argv[1]
print()
print(f"{'run':<9}{'IOPS':>9}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'max ms':>9}{'min IOPS/s':>12}")
for run in ("healthy", "frozen"):
    job = json.load(open(f"{work}/{run}.json"))["jobs"][0]["write"]
    pct = job["clat_ns"]["percentile"]
    ms = lambda k: pct.get(k, 0) / 1e6
    per_sec = []
    for path in glob.glob(f"{work}/{run}_iops*.log"):
        per_sec += [int(l.split(",")[1]) for l in open(path) if l.strip()]
    low = min(per_sec[1:-1]) if len(per_sec) > 2 else 0
    print(f"{run:<9}{job['iops']:>9.0f}{ms('50.000000'):>9.2f}{ms('99.000000'):>9.2f}"
          f"{ms('99.900000'):>10.2f}{job['clat_ns']['max'] / 1e6:>9.1f}{low:>12}")
PY
