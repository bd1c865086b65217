#!/usr/bin/env bash
# QoS benchmark: a volume's IOPS and bandwidth limits (maxIops, maxBandwidth)
# set on a live 1-replica volume with `syncblock ctl volume qos` (the same
# attributes ControllerModifyVolume sets), measured with fio's nbd engine
# against the primary's export. Prints, per case, the limit, what fio
# achieved and their ratio. A measurement, not a test: no thresholds.
#
#   tests/bench/qos_bench.sh                         # about a minute
#   QOS_RUNTIME=20 QOS_IOPS="200 1000" QOS_BW="8Mi 32Mi" tests/bench/qos_bench.sh
#
# Each case runs after the limit is set and an idle second (burst 0, so an
# idle volume gets no head start beyond one request); fio's ramp time is
# left out of the figure.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
runtime="${QOS_RUNTIME:-15}"
ramp="${QOS_RAMP:-2}"
iops_limits="${QOS_IOPS:-500 2000}"
bw_limits="${QOS_BW:-16Mi}"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"
volume_size=1G

for tool in fio nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
[[ -x "$syncblock_src" ]] || { echo "bench: $syncblock_src is not executable (set SYNCBLOCK)" >&2; exit 2; }
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench: this fio has no nbd engine" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-qos.XXXXXX")"
nbdkit_pid=""
cluster_up=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
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
make_volume qos 1 uri_qos
: "$nbdkit_pid"  # lib.sh's cleanup contract

ctl() { "$sb" ctl --cluster "$work/cluster" "$@"; }

# fio_case NAME RW BS IODEPTH -> prints "iops bytes_per_second"
fio_case() {
  local name=$1 rw=$2 bs=$3 depth=$4
  fio --name="$name" --ioengine=nbd --uri="$uri_qos" --rw="$rw" --bs="$bs" --iodepth="$depth" \
    --size=256m --time_based --runtime="$runtime" --ramp_time="$ramp" \
    --output-format=json --output="$work/$name.json" >/dev/null
  python3 - "$work/$name.json" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
iops = job["read"]["iops"] + job["write"]["iops"]
bw = (job["read"]["bw_bytes"] + job["write"]["bw_bytes"])
print(f"{iops:.1f} {bw:.0f}")
PY
}

printf '%-34s %14s %14s %7s\n' CASE LIMIT ACHIEVED RATIO
report() {  # report CASE LIMIT ACHIEVED UNIT
  python3 -c '
import sys
case, limit, got, unit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
div = 1 << 20 if unit == "MiB/s" else 1
print(f"{case:<34} {limit/div:10.1f} {unit:<3} {got/div:10.1f} {unit:<3} {got/limit:7.3f}")
' "$@"
}

# Unlimited first, for scale.
read -r base_iops base_bw < <(fio_case unlimited randread 4k 32)
printf '%-34s %14s %10.1f IOPS\n' "randread 4k QD32, no limit" "-" "$base_iops"

for limit in $iops_limits; do
  ctl volume qos qos --max-iops "$limit" --max-bandwidth 0 --burst 0 >/dev/null
  sleep 1
  read -r got _ < <(fio_case "iops-$limit-r" randread 4k 32)
  report "randread 4k QD32, maxIops" "$limit" "$got" IOPS
  read -r got _ < <(fio_case "iops-$limit-rw" randrw 4k 32)
  report "randrw 4k QD32, maxIops" "$limit" "$got" IOPS
done
for limit in $bw_limits; do
  ctl volume qos qos --max-iops 0 --max-bandwidth "$limit" --burst 0 >/dev/null
  bytes=$(python3 -c '
import sys
v = sys.argv[1]; f = 1
for s, m in (("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("k", 1000), ("M", 10**6), ("G", 10**9)):
    if v.endswith(s):
        v, f = v[: -len(s)], m
        break
print(int(v) * f)' "$limit")
  sleep 1
  read -r _ got < <(fio_case "bw-$limit-w" write 128k 8)
  report "write 128k QD8, maxBandwidth" "$bytes" "$got" MiB/s
  read -r _ got < <(fio_case "bw-$limit-r" read 1m 4)
  report "read 1M QD4, maxBandwidth" "$bytes" "$got" MiB/s
done
echo
echo "volume show after the last case:"
ctl volume show qos | grep -E '^(QoS|State):'
