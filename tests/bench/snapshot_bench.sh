#!/usr/bin/env bash
# Snapshot creation time against volume size: a 1 GiB and a 64 GiB sparse
# 3-replica volume, each with the same 64 MiB written, snapshotted several times
# (`syncblock ctl snapshot create`, wall time of the whole command: process
# start, gRPC, the barrier through the write stream, the layer on each replica).
# Prints the median per size and the ratio 64 GiB / 1 GiB, which should stay
# near 1: creation costs metadata, not data. Also the time to make a 1-replica
# clone of each snapshot (the copy on the snapshot's node, which skips holes:
# it should grow with the data written, not the size). Then the write cost right after a
# snapshot: the first overwrite of 16 MiB (each region's old data is preserved
# first) against a second overwrite of the same 16 MiB (nothing to preserve).
#
# A measurement, not a test: no thresholds. Everything lives in a temp dir
# removed on exit (the cluster is taken down even on failure).
#
# Environment:
#   SYNCBLOCK        the syncblock binary (default: <repo>/build/syncblock), copied first
#   SNAP_BENCH_RUNS  snapshots per volume size (default 7)
#   SNAP_BENCH_KEEP=1  keep the temp dir and print its path
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runs="${SNAP_BENCH_RUNS:-7}"
for tool in qemu-io python3; do
  command -v "$tool" >/dev/null || { echo "snapshot_bench: $tool not found" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/snapbench.XXXXXX")"
cp "${SYNCBLOCK:-$repo/build/syncblock}" "$work/syncblock"
sb="$work/syncblock"
cleanup() {
  "$sb" local down --dir "$work/cluster" --purge >/dev/null 2>&1 || true
  if [[ "${SNAP_BENCH_KEEP:-0}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

ctl() { "$sb" ctl --cluster "$work/cluster" "$@"; }
now_ns() { date +%s%N; }
median() { python3 -c 'import sys,statistics; print("%.1f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# --insecure: qemu-io takes the plain nbd:// URI `ctl export` prints; a TLS
# export would need its certificate options (tests/bench/README.md).
"$sb" local up --no-csi --insecure --dir "$work/cluster" --nodes 3 >"$work/up.log" 2>&1 ||
  { cat "$work/up.log" >&2; exit 1; }

# 64 MiB in 1 MiB pieces spread over the first GiB, the same on both sizes.
fill() {
  local uri cmds=""
  uri="$(ctl export "$1")"
  for i in $(seq 0 63); do cmds+=" -c 'write -P $((i % 250 + 1)) $((i * 16))M 1M'"; done
  eval qemu-io -f raw $cmds "'$uri'" >/dev/null
}

declare -A result clone_ms
for size in 1G 64G; do
  vol="bench-$size"
  ctl volume create "$vol" --size "$size" --replicas 3 >/dev/null
  fill "$vol"
  times=()
  for r in $(seq 1 "$runs"); do
    t0=$(now_ns)
    ctl snapshot create "$vol" "s$r" >/dev/null
    t1=$(now_ns)
    times+=("$(( (t1 - t0) / 1000 ))e-3")
  done
  result[$size]="$(median "${times[@]}")"
  printf "%-4s volume: snapshot create median %s ms over %d runs (each: %s ms)\n" "$size" \
    "${result[$size]}" "$runs" "$(python3 -c 'import sys; print(" ".join("%.1f" % float(x) for x in sys.argv[1:]))' "${times[@]}")"
  # The clone needs the volume's size free on the snapshot's node: on one
  # small disk a 64 GiB clone may not fit next to its source.
  t0=$(now_ns)
  if out="$(ctl volume create "clone-$size" --from-snapshot "$vol@s1" --replicas 1 2>&1)"; then
    t1=$(now_ns)
    clone_ms[$size]="$(( (t1 - t0) / 1000000 )) ms"
    ctl volume delete "clone-$size" >/dev/null
  else
    clone_ms[$size]="skipped ($(tail -1 <<<"$out"))"
  fi
  for r in $(seq 1 "$runs"); do ctl snapshot delete "$vol@s$r" >/dev/null; done
  ctl volume delete "$vol" >/dev/null
done
python3 -c 'import sys; print("ratio 64G / 1G: %.2f" % (float(sys.argv[2]) / float(sys.argv[1])))' \
  "${result[1G]}" "${result[64G]}"
echo "1-replica clone of a snapshot (64 MiB written): 1G ${clone_ms[1G]}, 64G ${clone_ms[64G]}"

# The copy-on-write cost: the first overwrite after a snapshot preserves each
# region's old contents; the second finds them preserved.
ctl volume create cow --size 1G --replicas 3 >/dev/null
uri="$(ctl export cow)"
qemu-io -f raw -c 'write -P 1 0 16M' "$uri" >/dev/null
writes=""
for i in $(seq 0 255); do writes+=" -c 'write -P 2 $((i * 64))k 64k'"; done
ctl snapshot create cow c1 >/dev/null
t0=$(now_ns); eval qemu-io -f raw $writes "'$uri'" >/dev/null; t1=$(now_ns)
eval qemu-io -f raw $writes "'$uri'" >/dev/null; t2=$(now_ns)
echo "16 MiB in 64 KiB writes (QD1), 3 replicas: first overwrite after a snapshot $(( (t1 - t0) / 1000000 )) ms, second overwrite $(( (t2 - t1) / 1000000 )) ms"
ctl snapshot delete cow@c1 >/dev/null
ctl volume delete cow >/dev/null
