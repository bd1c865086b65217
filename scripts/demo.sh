#!/usr/bin/env bash
# The syncblock demo: builds syncblock, starts a local cluster of three storage
# nodes, and shows a replicated volume surviving the loss of a replica:
#
#   write 256 MiB of random data over NBD, read it back, check its sha256;
#   kill -9 a secondary, keep writing, restart it, watch the incremental
#   resync, verify that the replicas are byte-identical, read everything back.
#
# Exits non-zero at the first failure. Everything it starts is stopped and its
# temporary directory removed on exit, whatever happens.
#
#   scripts/demo.sh                 # BUILD_DIR=build by default
#   SKIP_BUILD=1 scripts/demo.sh    # use an existing $BUILD_DIR/syncblock
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build}
STEP=0

step() {
  STEP=$((STEP + 1))
  printf '\n\033[1m=== %d. %s\033[0m\n' "$STEP" "$*"
}

die() {
  echo "demo: FAILED: $*" >&2
  exit 1
}

step "installing dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step "building (scripts/build.sh into $BUILD_DIR)"
  BUILD_DIR=$BUILD_DIR scripts/build.sh
fi
SB=$ROOT/$BUILD_DIR/syncblock
[ -x "$SB" ] || die "no binary at $SB"
for tool in nbdcopy qemu-io sha256sum python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/syncblock-demo-XXXXXX")
CLUSTER=$WORK/cluster
cleanup() {
  rc=$?
  trap - EXIT INT TERM
  if [ -f "$CLUSTER/cluster.json" ]; then
    if [ $rc -ne 0 ]; then
      echo "--- last lines of the storage logs ---" >&2
      tail -n 15 "$CLUSTER"/logs/*.log >&2 2>/dev/null || true
    fi
    "$SB" local down --dir "$CLUSTER" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  if [ $rc -eq 0 ]; then
    printf '\n\033[1mdemo: PASSED\033[0m\n'
  else
    echo "demo: FAILED (exit $rc)" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { "$SB" ctl --cluster "$CLUSTER" "$@"; }

# The replica states of the volume, one "node state" pair a line.
replica_states() {
  ctl volume show demo -o json |
    python3 -c 'import json,sys; [print(r["node"], r["state"]) for r in json.load(sys.stdin)["replicas"]]'
}

step "starting a local cluster: 3 storage nodes, 3 zones ($CLUSTER)"
# A modest resync rate, so that the resync below is slow enough to watch.
"$SB" local up --dir "$CLUSTER" --nodes 3 --resync-rate 16MiB
ctl node list

step "creating volume demo: 1 GiB, 3 replicas"
ctl volume create demo --size 1G --replicas 3
URI=$(ctl export demo)
echo "NBD export: $URI"

step "writing 256 MiB of random data with nbdcopy"
head -c 256M /dev/urandom >"$WORK/data.bin"
nbdcopy --flush "$WORK/data.bin" "$URI"
WANT=$(sha256sum <"$WORK/data.bin" | cut -d' ' -f1)
echo "sha256 written: $WANT"

step "reading it back and comparing"
nbdcopy "$URI" "$WORK/read.img"
GOT=$(head -c 256M "$WORK/read.img" | sha256sum | cut -d' ' -f1)
echo "sha256 read:    $GOT"
[ "$GOT" = "$WANT" ] || die "read back differs from what was written"
rm -f "$WORK/read.img"

PRIMARY=$(ctl volume show demo -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"])')
SECONDARY=$(replica_states | awk -v p="$PRIMARY" '$1 != p {print $1; exit}')
[ -n "$SECONDARY" ] || die "no secondary replica found"

step "killing secondary $SECONDARY (kill -9)"
"$SB" local kill --dir "$CLUSTER" "$SECONDARY"

step "writing more while $SECONDARY is down (qemu-io patterns)"
# One overwrite inside the random data, two regions after it.
qemu_out=$(qemu-io -f raw \
  -c "write -P 0xc3 128M 8M" \
  -c "write -P 0xa1 256M 64M" \
  -c "write -P 0xb2 512M 32M" \
  -c "flush" "$URI")
echo "$qemu_out"
python3 - "$WORK/data.bin" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:  # the same overwrite in the local copy
    f.seek(128 << 20)
    f.write(b"\xc3" * (8 << 20))
PY
WANT=$(sha256sum <"$WORK/data.bin" | cut -d' ' -f1)
ctl volume show demo
# The primary marks the replica offline when it next fails to reach it.
for _ in $(seq 60); do
  state=$(replica_states | awk -v n="$SECONDARY" '$1 == n {print $2}')
  [ "$state" != in_sync ] && break
  sleep 0.5
done
[ "$state" != in_sync ] || die "$SECONDARY still reported in sync after being killed"
echo "$SECONDARY is $state"

step "restarting $SECONDARY"
"$SB" local start --dir "$CLUSTER" "$SECONDARY"

step "watching the resync of $SECONDARY until every replica is in sync"
ctl resync-status demo --watch --interval-ms 500 --timeout 600

step "verifying the replicas (per-region checksums)"
ctl verify demo

step "reading everything back"
nbdcopy "$URI" "$WORK/read.img"
GOT=$(head -c 256M "$WORK/read.img" | sha256sum | cut -d' ' -f1)
echo "first 256 MiB sha256: $GOT (expected $WANT)"
[ "$GOT" = "$WANT" ] || die "the first 256 MiB differ from what was written"
check=$(qemu-io -f raw -r -c "read -P 0xa1 256M 64M" -c "read -P 0xb2 512M 32M" \
  -c "read -P 0 320M 192M" "$URI")
echo "$check"
if grep -q "Pattern verification failed" <<<"$check"; then
  die "a qemu-io pattern did not read back"
fi

step "stopping the cluster"
"$SB" local down --dir "$CLUSTER"
