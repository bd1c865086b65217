#!/usr/bin/env bash
# What TLS costs on the NBD data path: libnbd (the client library of nbdcopy,
# nbdinfo and fio's nbd engine, which we did not write), driven by
# initiator_bench_tool's libnbd mode (one handle, QD requests in flight with
# nbd_aio_*), against the storage node's NbdServer over one file-backed
# export (nbd_tls_bench_server), once in plaintext (nbd://) and once with
# NBD_OPT_STARTTLS and client certificates (nbds://...?tls-certificates=),
# for 4 KiB random read and write at QD32 and 1 MiB sequential read and write
# at QD8. Prints IOPS, MiB/s and p99 latency for each, and the TLS/plain
# ratios. The export is a page-cached file, so the figures isolate the NBD
# server and TLS: on a replicated volume the same TLS cost is a smaller share.
#
# fio's own nbd engine cannot be used with TLS: it does not call
# nbd_set_uri_allow_local_file, so libnbd refuses the URI's
# tls-certificates=DIR ("local file access (tls-certificates) is not
# allowed").
#
# A measurement, not a test (no thresholds). Environment:
#   BENCH_RUNTIME  seconds per job (default 10)
#   BENCH_ROUNDS   rounds, the median IOPS round is reported (default 1)
#   BENCH_SIZE     export size, the area the jobs cover (default 512m)
#   BUILD_DIR      where nbd_tls_bench_server was built (default <repo>/build)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
server_bin="$build/tests/nbd_tls_bench_server"
tool_bin="$build/tests/initiator_bench_tool"
runtime="${BENCH_RUNTIME:-10}"
rounds="${BENCH_ROUNDS:-1}"
size="${BENCH_SIZE:-512m}"

for tool in python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
for b in "$server_bin" "$tool_bin"; do
  [[ -x "$b" ]] || { echo "bench: build $(basename "$b") first" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-tlsbench.XXXXXX")"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

bytes=$(python3 -c "
import re,sys; m=re.fullmatch(r'(\d+)([kmg]?)','$size'.lower()); n=int(m.group(1))
print(n*{'':1,'k':1<<10,'m':1<<20,'g':1<<30}[m.group(2)])")
certdir="$("$server_bin" --pki "$work/pki")"

start() {  # $1: plain|tls
  rm -f "$work/port"
  local tls=()
  [[ "$1" == tls ]] && tls=(--pki "$work/pki")
  "$server_bin" --file "$work/export.img" --size "$bytes" --port-file "$work/port" "${tls[@]}" \
    2>"$work/server-$1.log" &
  pid=$!
  for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.05; done
  port="$(cat "$work/port")"
  if [[ "$1" == tls ]]; then
    uri="nbds://127.0.0.1:$port/bench?tls-certificates=$certdir"
  else
    uri="nbd://127.0.0.1:$port/bench"
  fi
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# name pattern bs iodepth
workloads=(
  "randread-4k-qd32 randread 4096 32"
  "randwrite-4k-qd32 randwrite 4096 32"
  "seqread-1m-qd8 seqread 1048576 8"
  "seqwrite-1m-qd8 seqwrite 1048576 8"
)

run_job() {  # mode name pattern bs qd round
  "$tool_bin" --client libnbd --uri "$uri" --pattern "$3" --bs "$4" --qd "$5" \
    --seconds "$runtime" >"$work/$1-$2-$6.txt"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)   cores: $(nproc)"
echo "kernel TLS (KTLS): $( [[ -e /proc/net/tls_stat || -d /sys/module/tls ]] && echo available || echo 'not available (no /proc/net/tls_stat, no /sys/module/tls)')" \
  "$(zcat /proc/config.gz 2>/dev/null | grep -E '^(# )?CONFIG_TLS[ =]' || true)"
for mode in plain tls; do
  start "$mode"
  # Write the area once so reads read data.
  "$tool_bin" --client libnbd --uri "$uri" --pattern seqwrite --bs 1048576 --qd 8 \
    --seconds 3 >/dev/null
  for w in "${workloads[@]}"; do
    read -r name rw bs qd <<<"$w"
    for r in $(seq "$rounds"); do run_job "$mode" "$name" "$rw" "$bs" "$qd" "$r"; done
  done
  stop
done

python3 - "$work" "$rounds" <<'EOF'
import sys
work, rounds = sys.argv[1], int(sys.argv[2])
names = ["randread-4k-qd32", "randwrite-4k-qd32", "seqread-1m-qd8", "seqwrite-1m-qd8"]
def result(mode, name):
    runs = []
    for r in range(1, rounds + 1):
        line = open(f"{work}/{mode}-{name}-{r}.txt").read().split()
        kv = dict(f.split("=", 1) for f in line)
        runs.append((float(kv["iops"]), float(kv["MiBps"]), float(kv["p99us"])))
    runs.sort()
    return runs[len(runs) // 2]
print(f"{'workload':<20}{'plain IOPS':>12}{'TLS IOPS':>12}{'ratio':>8}"
      f"{'plain MiB/s':>13}{'TLS MiB/s':>11}{'plain p99us':>13}{'TLS p99us':>11}{'p99 ratio':>11}")
for n in names:
    p, t = result("plain", n), result("tls", n)
    print(f"{n:<20}{p[0]:>12.0f}{t[0]:>12.0f}{t[0]/p[0]:>8.2f}{p[1]:>13.1f}{t[1]:>11.1f}"
          f"{p[2]:>13.0f}{t[2]:>11.0f}{(t[2]/p[2] if p[2] else 0):>11.2f}")
EOF
