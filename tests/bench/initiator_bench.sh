#!/usr/bin/env bash
# The initiator benchmark (issue 13 item 9): the initiator's connection pool
# (replication/initiator/nbd_pool.h, what fuse-export runs: one request at a
# time per connection, up to 8 connections) against libnbd's asynchronous
# API pipelining on one connection, on the same export. Until commit 2e2fd81
# the pool's connections were syncblock's hand-written NBD client; run this
# script there (`git checkout 2e2fd81`, build, run) for the figures that
# chose libnbd, and here for the pool on libnbd handles.
#
# Two servers: a 3-replica syncblock volume (`local up`) and
# nbdkit serving a plain file (the baseline: what the initiator costs when the
# server costs little). For each, initiator_bench_tool (built with the tests)
# drives the same workload through each client:
#   4 KiB random write and read at queue depth 1 and 32, 1 MiB sequential
#   write and read at queue depth 8
# and prints the median IOPS of INITIATOR_BENCH_RUNS runs (default 3) and
# libnbd/pool (and pool/base with INITIATOR_BENCH_BASE_TOOL, below). How each client keeps the queue full
# is its own (see initiator_bench_tool.cc): the pool with one thread per request
# over a pool of sockets, libnbd with asynchronous requests pipelined on one
# connection.
#
# With INITIATOR_BENCH_FIO=1 it also measures the whole FUSE path, fuse-export
# + loop device + fio (libaio, O_DIRECT), for the same workloads (needs root
# and /dev/fuse).
#
# A measurement, not a test: no thresholds; the machine's load is printed
# first because it moves the figures.
#
# Environment: SYNCBLOCK (binary, default <repo>/build/syncblock),
# INITIATOR_BENCH_TOOL (default <repo>/build/tests/initiator_bench_tool),
# INITIATOR_BENCH_SECONDS (per run, default 5), INITIATOR_BENCH_RUNS (default 3),
# INITIATOR_BENCH_BASE_TOOL (a tool built at another commit, whose `ours`
# client is measured as "base"), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"
tool="${INITIATOR_BENCH_TOOL:-$repo/build/tests/initiator_bench_tool}"
seconds="${INITIATOR_BENCH_SECONDS:-5}"
volume_size=1G
for t in nbdkit nbdinfo python3; do
  command -v "$t" >/dev/null || { echo "bench: $t not found" >&2; exit 2; }
done
[[ -x "$tool" ]] || { echo "bench: $tool not built (cmake --build build --target initiator_bench_tool)" >&2; exit 2; }
# shellcheck source=tests/bench/lib.sh
source "$here/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-initiator.XXXXXX")"
cluster_up=0
nbdkit_pid=""
fuse_pid=""
loopdev=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$loopdev" ]] && losetup -d "$loopdev" 2>/dev/null
  if [[ -n "$fuse_pid" ]]; then
    kill "$fuse_pid" 2>/dev/null
    wait "$fuse_pid" 2>/dev/null
  fi
  [[ -n "$nbdkit_pid" ]] && kill "$nbdkit_pid" 2>/dev/null
  if [[ "$cluster_up" == 1 ]]; then
    "$work/bin/syncblock" local down --dir "$work/cluster" --purge >/dev/null 2>&1 || true
  fi
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
bench_setup

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
start_nbdkit
start_cluster
make_volume bench 3 uri_syncblock

# name pattern bs qd
workloads=(
  "randwrite-4k-qd1 randwrite 4096 1"
  "randwrite-4k-qd32 randwrite 4096 32"
  "randread-4k-qd1 randread 4096 1"
  "randread-4k-qd32 randread 4096 32"
  "seqwrite-1m-qd8 seqwrite 1048576 8"
  "seqread-1m-qd8 seqread 1048576 8"
)

iops_of() { sed -n 's/.* iops=\([0-9]*\) .*/\1/p' <<<"$1"; }
median() { python3 -c 'import sys, statistics; print(int(statistics.median(map(float, sys.argv[1:]))))' "$@"; }
ratio() { python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print("%.2f" % (a / b) if b else "-")' "$1" "$2"; }

# The median IOPS of $runs runs of client $1 (tool $2) on workload $3..$6;
# the clients take turns run by run, so that a change in the machine's load
# falls on all of them.
declare -A got
measure() {
  local server="$1" uri="$2" name="$3" pattern="$4" bs="$5" qd="$6" r c out
  local -A all=()
  for ((r = 0; r < runs; r++)); do
    for c in "${clients[@]}"; do
      out="$("${tool_of[$c]}" --client "${client_of[$c]}" --uri "$uri" --pattern "$pattern" \
        --bs "$bs" --qd "$qd" --seconds "$seconds")"
      all[$c]+=" $(iops_of "$out")"
    done
  done
  for c in "${clients[@]}"; do
    # shellcheck disable=SC2086
    got[$c]="$(median ${all[$c]})"
  done
}

# Each column: a client of a tool. With INITIATOR_BENCH_BASE_TOOL (the tool
# built at another commit, e.g. 2e2fd81 with the hand-written client), its
# pool is measured too, as "base".
declare -A tool_of=([pool]="$tool" [libnbd]="$tool") client_of=([pool]=pool [libnbd]=libnbd)
clients=(pool libnbd)
if [[ -n "${INITIATOR_BENCH_BASE_TOOL:-}" ]]; then
  tool_of[base]="$INITIATOR_BENCH_BASE_TOOL"
  client_of[base]=ours
  clients=(base pool libnbd)
fi
runs="${INITIATOR_BENCH_RUNS:-3}"

echo "IOPS, median of $runs runs of ${seconds}s each"
header="$(printf "%-9s %-18s" server workload)"
for c in "${clients[@]}"; do header+="$(printf " %10s" "$c")"; done
[[ -n "${tool_of[base]:-}" ]] && header+="$(printf " %11s" pool/base)"
header+="$(printf " %11s" libnbd/pool)"
echo "$header"
for server in nbdkit syncblock; do
  uri_var="uri_$server"
  uri="${!uri_var}"
  for w in "${workloads[@]}"; do
    read -r name pattern bs qd <<<"$w"
    measure "$server" "$uri" "$name" "$pattern" "$bs" "$qd"
    line="$(printf "%-9s %-18s" "$server" "$name")"
    for c in "${clients[@]}"; do line+="$(printf " %10s" "${got[$c]}")"; done
    [[ -n "${tool_of[base]:-}" ]] && line+="$(printf " %11s" "$(ratio "${got[pool]}" "${got[base]}")")"
    line+="$(printf " %11s" "$(ratio "${got[libnbd]}" "${got[pool]}")")"
    echo "$line"
  done
done

if [[ "${INITIATOR_BENCH_FIO:-0}" != 1 ]]; then
  exit 0
fi
[[ $(id -u) == 0 && -e /dev/fuse ]] || { echo "bench: the FUSE path needs root and /dev/fuse" >&2; exit 2; }
command -v fio >/dev/null || { echo "bench: fio not found" >&2; exit 2; }
# The whole FUSE attach path, as the node plugin runs it: the binary under
# test's fuse-export, a loop device with direct IO on its file, fio on that.
echo
echo "whole path: fuse-export + loop + fio (libaio, direct), syncblock volume"
mkdir -p "$work/fuse"
"$sb" fuse-export --uri "$uri_syncblock" --mountpoint "$work/fuse" --pidfile "$work/fuse.pid" \
  >"$work/fuse.log" 2>&1 &
fuse_pid=$!
for ((i = 0; i < 300; i++)); do
  [[ -s "$work/fuse.pid" ]] && break
  sleep 0.1
done
[[ -s "$work/fuse.pid" ]] || { cat "$work/fuse.log" >&2; exit 1; }
loopdev="$(losetup --find --show --direct-io=on "$work/fuse/disk")"
printf "%-18s %10s %10s\n" workload IOPS MiB/s
for w in "${workloads[@]}"; do
  read -r name pattern bs qd <<<"$w"
  rw="$pattern"
  [[ "$pattern" == seqwrite ]] && rw=write
  [[ "$pattern" == seqread ]] && rw=read
  fio --name="$name" --filename="$loopdev" --rw="$rw" --bs="$bs" --iodepth="$qd" \
    --ioengine=libaio --direct=1 --time_based --runtime="$seconds" --size=1G \
    --output-format=json >"$work/fio-$name.json"
  python3 - "$work/fio-$name.json" "$name" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
side = j["write"] if j["write"]["io_bytes"] else j["read"]
print("%-18s %10.0f %10.1f" % (sys.argv[2], side["iops"], side["bw_bytes"] / 2**20))
EOF
done
