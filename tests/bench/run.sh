#!/usr/bin/env bash
# The syncblock benchmark: fio's nbd engine against three targets on this machine,
#   nbdkit   nbdkit's file plugin over a plain file (the baseline: a minimal NBD server),
#   sb-r1    a 1-replica syncblock volume,
#   sb-r3    a 3-replica syncblock volume (all three nodes on this machine),
# with four workloads each (4 KiB randwrite QD1 and QD32, 4 KiB randread QD32 after
# the area is filled, 1 MiB sequential write QD8), then a table of IOPS, MiB/s, mean
# and p99 latency, the IOPS ratio to nbdkit for the same workload, and the CPU time
# the serving processes (nbdkit, or every storage node) spent per IO.
#
# It is a measurement, not a test: there are no thresholds. It exits non-zero only when
# a setup step or an fio job fails. Everything lives in one temp dir removed on exit.
#
# Environment:
#   SYNCBLOCK      the syncblock binary (default: <repo>/build/syncblock); copied into the
#                  temp dir first so a rebuild during the run cannot swap it
#   BENCH_RUNTIME  seconds per measured job (default 15)
#   BENCH_RAMP     seconds of warm-up per job, not measured (default 2)
#   BENCH_SIZE     the area each job works on (fio size syntax, default 512m)
#   BENCH_ROUNDS   repeat every measured job this many times and report the median
#                  IOPS round (default 1); on a busy machine 3 short rounds beat 1 long
#   BENCH_TARGETS  which targets, space-separated (default "nbdkit sb-r1 sb-r3")
#   BENCH_OUT      if set, the table is also written there as JSON
#   BENCH_KEEP=1   keep the temp dir (fio JSON, node logs) and print its path
#   BENCH_UP_ARGS  more flags for `local up` (its clusters run --insecure: fio's nbd
#                  engine cannot present a client certificate; see nbd_tls_bench.sh)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

runtime="${BENCH_RUNTIME:-15}"
ramp="${BENCH_RAMP:-2}"
rounds="${BENCH_ROUNDS:-1}"
area="${BENCH_SIZE:-512m}"
targets="${BENCH_TARGETS:-nbdkit sb-r1 sb-r3}"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"
volume_size=1G  # larger than the area so fio never runs off the end

for tool in fio nbdkit nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
[[ -x "$syncblock_src" ]] || { echo "bench: $syncblock_src is not executable (set SYNCBLOCK)" >&2; exit 2; }
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench: this fio has no nbd engine" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-bench.XXXXXX")"
nbdkit_pid=""
cluster_up=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$nbdkit_pid" ]]; then
    kill "$nbdkit_pid" 2>/dev/null || true
    wait "$nbdkit_pid" 2>/dev/null || true
  fi
  if [[ "$cluster_up" == 1 ]]; then
    "$work/bin/syncblock" local down --dir "$work/cluster" --purge >/dev/null 2>&1 ||
      echo "bench: local down failed; check for leftover processes of $work" >&2
  fi
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "bench: kept $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The copy must keep the name "syncblock": `local down` recognises its processes by it.
mkdir -p "$work/bin" "$work/results"
cp "$syncblock_src" "$work/bin/syncblock"
sb="$work/bin/syncblock"

# free_port, wait_nbd, start_nbdkit, start_cluster and make_volume.
source "$here/lib.sh"

# The CPU time (clock ticks, all threads) used so far by the processes serving
# target $1: nbdkit, or every storage node (secondaries work for the primary).
server_ticks() {
  local pids
  if [[ "$1" == nbdkit ]]; then
    pids="$nbdkit_pid"
  else
    pids="$(python3 -c 'import json,sys; print(" ".join(str(n["pid"]) for n in json.load(open(sys.argv[1]))["storage"]))' "$work/cluster/cluster.json")"
  fi
  local pid total=0 stat
  for pid in $pids; do
    # utime and stime are fields 14 and 15; the command name (field 2) has no spaces here.
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    total=$((total + $(echo "$stat" | awk '{print $14 + $15}')))
  done
  echo "$total"
}

# run_fio TARGET WORKLOAD URI fio-args...: one job, JSON kept in results/ (named
# after $round when set).
run_fio() {
  local target="$1" workload="$2" uri="$3"
  shift 3
  local out="$work/results/$target.$workload${round:+.$round}.json"
  echo "bench: $target $workload${round:+ (round $round)}" >&2
  local ticks0 wall0
  ticks0="$(server_ticks "$target")"
  wall0="$(date +%s.%N)"
  if ! fio --output-format=json --output="$out" --name="$workload" --ioengine=nbd \
    --uri="$uri" --size="$area" --numjobs=1 --lat_percentiles=1 "$@" \
    >"${out%.json}.log" 2>&1; then
    echo "bench: fio failed for $target $workload:" >&2
    cat "${out%.json}.log" >&2 2>/dev/null || true
    grep -E '"error"|fio: ' "$out" >&2 2>/dev/null || true
    return 1
  fi
  # Server CPU seconds and wall seconds of the job, for CPU time per IO.
  echo "$(($(server_ticks "$target") - ticks0)) $(getconf CLK_TCK) $wall0 $(date +%s.%N)" \
    >"${out%.json}.cpu"
}

# Fill first: every target then serves writes and reads from allocated blocks,
# not holes, so the random read measures the store and not a sparse-file shortcut.
fill_target() {
  run_fio "$1" fill "$2" --rw=write --bs=1m --iodepth=8
}

# run_workload TARGET URI WORKLOAD: one measured, fixed-time job.
run_workload() {
  local target="$1" uri="$2" workload="$3"
  local timed=(--time_based --runtime="$runtime" --ramp_time="$ramp")
  case "$workload" in
    randwrite-4k-qd1) run_fio "$target" "$workload" "$uri" --rw=randwrite --bs=4k --iodepth=1 "${timed[@]}" ;;
    randwrite-4k-qd32) run_fio "$target" "$workload" "$uri" --rw=randwrite --bs=4k --iodepth=32 "${timed[@]}" ;;
    randread-4k-qd32) run_fio "$target" "$workload" "$uri" --rw=randread --bs=4k --iodepth=32 "${timed[@]}" ;;
    seqwrite-1m-qd8) run_fio "$target" "$workload" "$uri" --rw=write --bs=1m --iodepth=8 "${timed[@]}" ;;
  esac
}

version="$("$sb" version 2>&1 | head -n1)"
echo "load:      $(cut -d" " -f1-3 /proc/loadavg) (1/5/15 min load average before the run)"
echo "machine:   $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), kernel $(uname -r)"
echo "syncblock: $version ($syncblock_src)"
echo "tools:     $(fio --version), nbdkit $(nbdkit --version | awk '{print $2}')"
echo "jobs:      $rounds x ${runtime}s each (+${ramp}s warm-up) on a $area area of a $volume_size target; data in $work (removed at exit)"
echo

# Every target is up at once and the workloads run workload by workload, each on
# every target in turn: on a shared machine the background load drifts, and this
# way a drift hits all targets of a workload alike instead of one target wholesale.
declare -A uri_of
for target in $targets; do
  case "$target" in
    nbdkit)
      start_nbdkit
      uri_of[$target]="$uri_nbdkit"
      ;;
    sb-r1 | sb-r3)
      [[ "$cluster_up" == 1 ]] || start_cluster
      make_volume "bench-${target#sb-}" "${target#sb-r}" uri_sb
      uri_of[$target]="$uri_sb"
      ;;
    *)
      echo "bench: unknown target $target (nbdkit, sb-r1, sb-r3)" >&2
      exit 2
      ;;
  esac
done
for target in $targets; do fill_target "$target" "${uri_of[$target]}"; done
for workload in randwrite-4k-qd1 randwrite-4k-qd32 randread-4k-qd32 seqwrite-1m-qd8; do
  for ((round = 1; round <= rounds; round++)); do
    for target in $targets; do run_workload "$target" "${uri_of[$target]}" "$workload"; done
  done
done

echo
python3 "$here/summarize.py" --results "$work/results" --targets "$targets" \
  --machine "$(nproc) CPUs, kernel $(uname -r)" --version "$version" \
  --runtime "$runtime" --area "$area" --rounds "$rounds" ${BENCH_OUT:+--json-out "$BENCH_OUT"}
