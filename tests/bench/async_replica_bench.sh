#!/usr/bin/env bash
# The asynchronous-replica benchmark (issue 10): 4 KiB random writes at QD32
# with fio's nbd engine, first on a volume of two synchronous replicas, then on
# one of two synchronous replicas and one asynchronous (default bounds: 1 s,
# 64 MiB, throttle). Prints IOPS and p50/p99 write latency of both, their
# ratio (what the asynchronous replica costs the writers), and the async
# replica's lag sampled every 100 ms during the second run (p50/p99/max in ms
# and bytes, and whether its bound broke). A measurement, not a test.
#
# Environment: SYNCBLOCK (binary, default <repo>/build/syncblock), BENCH_RUNTIME
# (seconds per run, default 20), LAG_POLICY (throttle), BENCH_IOPS (a steady
# rate instead of as fast as it goes: on a machine whose cores the load
# saturates, the third process's CPU shows as latency; below saturation the
# ratio is the protocol's own cost), BENCH_QD (queue depth, default 32),
# BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runtime="${BENCH_RUNTIME:-20}"
policy="${LAG_POLICY:-throttle}"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"
volume_size=1G
for tool in fio nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
[[ -x "$syncblock_src" ]] || { echo "bench: $syncblock_src is not executable" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-async.XXXXXX")"
nbdkit_pid=""
cluster_up=0
sampler_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null
  if [[ "$cluster_up" == 1 ]]; then
    "$work/bin/syncblock" local down --dir "$work/cluster" --purge >/dev/null 2>&1 || true
  fi
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
# shellcheck source=tests/bench/lib.sh
source "$here/lib.sh"
bench_setup
ctl() { "$sb" ctl --cluster "$work/cluster" "$@"; }

start_cluster
ctl volume create syncvol --size "$volume_size" --replicas 2 --nodes node-1,node-2 \
  --no-witness >/dev/null
ctl volume create asyncvol --size "$volume_size" --replicas 3 --async-replicas 1 \
  --nodes node-1,node-2,node-3 --no-witness --lag-policy "$policy" >/dev/null
wait_in_sync syncvol
wait_in_sync asyncvol

fio_run() {
  local uri
  uri="$(ctl export "$1")"
  wait_nbd "$uri"
  fio --name=fill --ioengine=nbd --uri="$uri" --size=256m --rw=write --bs=1m --iodepth=8 \
    >/dev/null 2>&1
  wait_in_sync "$1"
  fio --output-format=json --output="$work/$1.json" --name="$1" --ioengine=nbd --uri="$uri" \
    --size=256m --rw=randwrite --bs=4k --iodepth="${BENCH_QD:-32}" --time_based --runtime="$runtime" \
    --lat_percentiles=1 ${BENCH_IOPS:+--rate_iops="$BENCH_IOPS"} >"$work/$1.log" 2>&1
}

echo "bench: 2 synchronous replicas (${runtime}s)" >&2
fio_run syncvol
echo "bench: 2 synchronous + 1 asynchronous, lagPolicy $policy (${runtime}s)" >&2
(
  while true; do
    ctl -o json volume show asyncvol 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for r in d["replicas"]:
    if r.get("async") and r.get("lag"):
        l = r["lag"]
        print(l["ms"], l["bytes"], int(l["broken"]), l["throttled_writes"], flush=True)' || true
    sleep 0.1
  done
) >"$work/lag.txt" &
sampler_pid=$!
fio_run asyncvol
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def stats(run):
    job = json.load(open(f"{work}/{run}.json"))["jobs"][0]["write"]
    pct = job["clat_ns"]["percentile"]
    return job["iops"], pct["50.000000"] / 1e6, pct["99.000000"] / 1e6
print()
print(f"{'volume':<34}{'IOPS':>9}{'p50 ms':>9}{'p99 ms':>9}")
rows = {}
for run, label in (("syncvol", "2 sync"), ("asyncvol", "2 sync + 1 async")):
    rows[run] = stats(run)
    iops, p50, p99 = rows[run]
    print(f"{label:<34}{iops:>9.0f}{p50:>9.2f}{p99:>9.2f}")
s, a = rows["syncvol"], rows["asyncvol"]
print(f"{'ratio (async / sync)':<34}{a[0] / s[0]:>9.2f}{a[1] / s[1]:>9.2f}{a[2] / s[2]:>9.2f}")
samples = [tuple(int(x) for x in l.split()) for l in open(f"{work}/lag.txt") if l.strip()]
if not samples:
    print("no lag samples")
    sys.exit(0)
def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]
ms = [s[0] for s in samples]
by = [s[1] for s in samples]
print()
print(f"async replica lag over {len(samples)} samples: "
      f"p50 {pct(ms, .5)} ms / {pct(by, .5) / 1024:.0f} KiB, "
      f"p99 {pct(ms, .99)} ms / {pct(by, .99) / 1024:.0f} KiB, max {max(ms)} ms; "
      f"bound broken in {sum(s[2] for s in samples)} samples; "
      f"writes throttled: {samples[-1][3]}")
PY
