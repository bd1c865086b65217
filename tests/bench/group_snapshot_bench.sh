#!/usr/bin/env bash
# Group snapshots: how long new writes wait on the member volumes while a
# group snapshot is cut (hold on every member's primary, cut each member,
# release). Two 3-replica volumes each get a fio random-write load through
# its NBD export; meanwhile `ctl snapshot group create` runs N times, and the
# hold each reports (the longest any member held writes, on the primary's
# clock) is collected. Prints the median and the maximum, in milliseconds,
# and the wall time of the whole command for comparison.
#
# A measurement, not a test: no thresholds. Everything lives in a temp dir
# removed on exit (the cluster is taken down even on failure).
#
# Environment:
#   SYNCBLOCK         the syncblock binary (default: <repo>/build/syncblock), copied first
#   GROUP_BENCH_RUNS  group snapshots to take (default 10)
#   BENCH_KEEP=1      keep the temp dir and print its path
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runs="${GROUP_BENCH_RUNS:-10}"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"
volume_size=1G

for tool in fio nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
[[ -x "$syncblock_src" ]] || { echo "bench: $syncblock_src is not executable (set SYNCBLOCK)" >&2; exit 2; }
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench: this fio has no nbd engine" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-group.XXXXXX")"
nbdkit_pid=""
cluster_up=0
fio_pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${fio_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${fio_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ "$cluster_up" == 1 ]]; then
    "$work/bin/syncblock" local down --dir "$work/cluster" --purge >/dev/null 2>&1 ||
      echo "bench: local down failed; check for leftover processes of $work" >&2
  fi
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
# shellcheck source=tests/bench/lib.sh
source "$repo/tests/bench/lib.sh"
bench_setup

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
start_cluster
make_volume vol-a 3 uri_a
make_volume vol-b 3 uri_b
: "$nbdkit_pid"  # lib.sh's cleanup contract

ctl() { "$sb" ctl --cluster "$work/cluster" "$@"; }

# A steady write load on each member for the whole run.
for uri in "$uri_a" "$uri_b"; do
  fio --name=load --ioengine=nbd --uri="$uri" --rw=randwrite --bs=4k --iodepth=16 \
    --time_based --runtime=3600 --output="$work/fio-$(basename "$uri").out" >/dev/null 2>&1 &
  fio_pids+=($!)
done
sleep 2

holds=()
walls=()
for ((i = 0; i < runs; i++)); do
  start=$(date +%s%N)
  ctl -o json snapshot group create "bench-$i" --volumes vol-a,vol-b >"$work/group-$i.json"
  end=$(date +%s%N)
  holds+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hold_us"] / 1000)' \
    "$work/group-$i.json")")
  walls+=("$(( (end - start) / 1000000 ))")
  ctl snapshot group delete "grp.2.bench-$i" >/dev/null
done

python3 - "${holds[*]}" "${walls[*]}" <<'PY'
import statistics, sys
holds = [float(x) for x in sys.argv[1].split()]
walls = [float(x) for x in sys.argv[2].split()]
print(f"group snapshots of 2 volumes under fio randwrite 4k qd16, {len(holds)} runs")
print(f"writes held (ms): median {statistics.median(holds):.2f}  max {max(holds):.2f}")
print(f"ctl group create wall time (ms): median {statistics.median(walls):.0f}  max {max(walls):.0f}")
PY
