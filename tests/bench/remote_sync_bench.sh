#!/usr/bin/env bash
# The remote-sync benchmark (issue 10, part 2): two local clusters, a 1 GiB
# volume on the first filled with 256 MiB, synced to the second every
# BENCH_INTERVAL seconds while fio writes 4 KiB blocks at random at a steady
# BENCH_IOPS for BENCH_RUNTIME seconds. Samples `ctl volume
# replication-status` every 5 s and prints, per cycle, the bytes shipped
# against the bytes the cycle's changed regions hold and against the bytes
# fio wrote in the interval (the baseline measured in the same run), and the
# achieved RPO (p50/p99/max over the samples) against the interval. A
# measurement, not a test.
#
# Environment: SYNCBLOCK (binary, default <repo>/build/syncblock),
# BENCH_RUNTIME (seconds, default 600), BENCH_INTERVAL (default 30),
# BENCH_IOPS (default 100), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runtime="${BENCH_RUNTIME:-600}"
interval="${BENCH_INTERVAL:-30}"
iops="${BENCH_IOPS:-100}"
syncblock_src="${SYNCBLOCK:-$repo/build/syncblock}"
volume_size=1G
for tool in fio nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done
[[ -x "$syncblock_src" ]] || { echo "bench: $syncblock_src is not executable" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/syncblock-remote.XXXXXX")"
nbdkit_pid=""
cluster_up=0
sampler_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null
  for c in east west; do
    "$work/bin/syncblock" local down --dir "$work/$c" --purge >/dev/null 2>&1 || true
  done
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
# shellcheck source=tests/bench/lib.sh
source "$here/lib.sh"
bench_setup
east() { "$sb" ctl --cluster "$work/east" "$@"; }

# Plaintext: fio's nbd engine cannot present a client certificate (lib.sh).
# East runs its CSI controller: it runs the cycles.
for c in west east; do
  "$sb" local up --dir "$work/$c" --nodes 3 --insecure >"$work/$c-up.log" 2>&1 ||
    { cat "$work/$c-up.log" >&2; exit 1; }
done
west_nodes="$(python3 -c '
import json, sys
print(",".join(s["control"] for s in json.load(open(sys.argv[1]))["storage"]))' "$work/west/cluster.json")"
east remote add west --storage-nodes "$west_nodes" >/dev/null
east volume create db --size "$volume_size" --replicas 2 >/dev/null
uri="$(east export db)"
wait_nbd "$uri"
fio --name=fill --ioengine=nbd --uri="$uri" --size=256m --rw=write --bs=1m --iodepth=8 \
  >/dev/null 2>&1
east volume replicate db --remote west --interval "${interval}s" --keep 3 >/dev/null

(
  while true; do
    east -o json volume replication-status db 2>/dev/null | python3 -c '
import json, sys, time
d = json.load(sys.stdin)
c = d.get("last_cycle") or {}
print(json.dumps({"t": time.time(), "rpo": d.get("rpo_seconds"), "cycle": c}), flush=True)' || true
    sleep 5
  done
) >"$work/samples.txt" &
sampler_pid=$!

echo "bench: ${runtime}s of 4 KiB random writes at ${iops} IOPS, a cycle every ${interval}s" >&2
fio --output-format=json --output="$work/fio.json" --name=w --ioengine=nbd --uri="$uri" \
  --size=1g --rw=randwrite --bs=4k --iodepth=4 --rate_iops="$iops" --time_based \
  --runtime="$runtime" >"$work/fio.log" 2>&1
sleep "$((interval + 10))"  # the last writes shipped too
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

python3 - "$work" "$interval" "$iops" <<'PY'
import json, sys
work, interval, iops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
samples = [json.loads(l) for l in open(f"{work}/samples.txt") if l.strip()]
cycles = {}
for s in samples:
    c = s["cycle"]
    if c.get("succeeded"):
        cycles[c["snapshot"]] = c
rows = sorted(cycles.values(), key=lambda c: c["started_unix_ms"])
print()
print(f"{'cycle':<20}{'full':>5}{'changed MiB':>13}{'shipped MiB':>13}{'zeros MiB':>11}{'secs':>7}")
for c in rows:
    print(f"{c['snapshot']:<20}{'yes' if c['full_copy'] else '':>5}"
          f"{c['changed_bytes'] / 2**20:>13.1f}{c['bytes_shipped'] / 2**20:>13.1f}"
          f"{c['zero_bytes'] / 2**20:>11.1f}"
          f"{(c['finished_unix_ms'] - c['started_unix_ms']) / 1000:>7.1f}")
inc = [c for c in rows if not c["full_copy"]]
if inc:
    changed = sum(c["changed_bytes"] for c in inc)
    shipped = sum(c["bytes_shipped"] + c["zero_bytes"] for c in inc)
    written = iops * 4096 * interval  # what fio wrote in one interval
    print(f"\nincremental cycles: {len(inc)}; shipped / changed bytes = {shipped / max(changed, 1):.3f}; "
          f"shipped per cycle {shipped / len(inc) / 2**20:.1f} MiB vs fio's "
          f"{written / 2**20:.1f} MiB written per interval (ratio {shipped / len(inc) / written:.1f}: "
          f"4 KiB writes ship as whole changed regions) vs a full copy's "
          f"{rows[0]['bytes_shipped'] / 2**20:.1f} MiB")
rpo = sorted(s["rpo"] for s in samples if s["rpo"] is not None)
if rpo:
    def pct(p):
        return rpo[min(len(rpo) - 1, int(p * len(rpo)))]
    print(f"achieved RPO over {len(rpo)} samples: p50 {pct(.5):.1f} s, p99 {pct(.99):.1f} s, "
          f"max {rpo[-1]:.1f} s (interval {interval} s)")
PY
