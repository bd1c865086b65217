#!/usr/bin/env bash
# Encryption at rest benchmark: what AES-256-XTS in the primary
# (replication/doc/encryption.md) costs in IOPS. One local cluster, two
# volumes of the same replica count, one plain and one encrypted
# (`ctl volume create --encrypted --key-file`); fio's nbd engine runs 4k random
# writes then 4k random reads against each primary's export, alternating the
# volumes, and the script prints IOPS, p99 latency and the ratio
# encrypted/plain per workload. A measurement, not a test: no thresholds.
#
#   tests/bench/encryption_bench.sh                   # about two minutes
#   ENC_RUNTIME=30 ENC_REPLICAS=1 ENC_DEPTH=32 tests/bench/encryption_bench.sh
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
runtime="${ENC_RUNTIME:-15}"
ramp="${ENC_RAMP:-2}"
replicas="${ENC_REPLICAS:-3}"
depth="${ENC_DEPTH:-16}"
rounds="${ENC_ROUNDS:-2}"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"
volume_size=1G

for tool in fio nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
[[ -x "$syncblock_src" ]] || { echo "bench: $syncblock_src is not executable (set SYNCBLOCK)" >&2; exit 2; }
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench: this fio has no nbd engine" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-enc.XXXXXX")"
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

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores; $replicas replicas, iodepth $depth, ${runtime}s x $rounds rounds"
start_cluster
: "$nbdkit_pid"  # lib.sh's cleanup contract
ctl() { "$sb" ctl --cluster "$work/cluster" "$@"; }

head -c 32 /dev/urandom | base64 >"$work/volume.key"
make_volume plain "$replicas" uri_plain
ctl volume create enc --size "$volume_size" --replicas "$replicas" --encrypted \
  --key-file "$work/volume.key" >/dev/null
for ((i = 0; i < 300; i++)); do
  ctl -o json volume show enc | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if all(r["state"] == "in_sync" for r in d["replicas"]) and not d["locked"] else 1)' &&
    break
  sleep 0.2
done
uri_enc="$(ctl export enc)"
wait_nbd "$uri_enc"

# fio_case NAME URI RW -> prints "iops p99_us"
fio_case() {
  local name=$1 uri=$2 rw=$3
  fio --name="$name" --ioengine=nbd --uri="$uri" --rw="$rw" --bs=4k --iodepth="$depth" \
    --size=256m --time_based --runtime="$runtime" --ramp_time="$ramp" --randrepeat=0 \
    --output-format=json --output="$work/$name.json" >/dev/null
  python3 - "$work/$name.json" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
side = job["write"] if job["write"]["iops"] > 0 else job["read"]
p99 = side["clat_ns"]["percentile"].get("99.000000", 0) / 1000
print(f"{side['iops']:.1f} {p99:.0f}")
PY
}

# Writes first, so that the reads find data (not holes) on both volumes.
declare -A sum
for rw in randwrite randread; do
  for ((r = 1; r <= rounds; r++)); do
    for vol in plain enc; do
      uri_var="uri_$vol"
      read -r iops p99 < <(fio_case "$vol-$rw-$r" "${!uri_var}" "$rw")
      echo "  round $r $rw $vol: $iops IOPS, p99 ${p99} us" >&2
      sum["$vol-$rw"]="$(python3 -c "print(${sum["$vol-$rw"]:-0} + $iops)")"
      sum["$vol-$rw-p99"]="$(python3 -c "print(max(${sum["$vol-$rw-p99"]:-0}, $p99))")"
    done
  done
done

printf '%-12s %14s %14s %12s %12s %10s\n' WORKLOAD PLAIN_IOPS ENC_IOPS PLAIN_P99us ENC_P99us ENC/PLAIN
for rw in randwrite randread; do
  python3 -c '
import sys
rw, p, e, pp, ep, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
print(f"{rw:<12} {p/n:14.1f} {e/n:14.1f} {float(pp):12.0f} {float(ep):12.0f} {e/p:10.3f}")
' "$rw" "${sum["plain-$rw"]}" "${sum["enc-$rw"]}" "${sum["plain-$rw-p99"]}" "${sum["enc-$rw-p99"]}" "$rounds"
done
