#!/usr/bin/env bash
# The syncblock demo: builds syncblock, starts a local cluster of three storage
# nodes and the CSI driver, and shows, through the CSI driver as a Kubernetes
# node would drive it, a volume outliving its primary:
#
#   create a 3-replica volume (CreateVolume), stage and mount it as ext4
#   (ControllerPublish, NodeStage, NodePublish); an application writes files
#   with fsync into it; kill -9 the storage node of the volume's PRIMARY; the
#   other two elect a new primary by themselves (no promote), the attachment
#   follows it and the application goes on after a stall of seconds, without an
#   error; restart the node, watch its incremental resync, verify that the
#   replicas are byte-identical, mount the volume afresh and check every file's
#   sha256.
#
# Exits non-zero at the first failure. Everything it starts is stopped, every
# mount undone and its temporary directory removed on exit, whatever happens.
# Runs as root (it mounts a filesystem and sets up a loop device).
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

[ "$(id -u)" -eq 0 ] || die "run it as root: it mounts a filesystem on a loop device"

step "installing dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step "building (scripts/build.sh into $BUILD_DIR)"
  BUILD_DIR=$BUILD_DIR scripts/build.sh
fi
SB=$ROOT/$BUILD_DIR/syncblock
[ -x "$SB" ] || die "no binary at $SB"
for tool in sha256sum python3 mkfs.ext4 losetup fusermount3 findmnt; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done
[ -e /dev/fuse ] || die "no /dev/fuse: the CSI node plugin attaches volumes with FUSE + a loop device"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/syncblock-demo-XXXXXX")
CLUSTER=$WORK/cluster
KUBELET=$WORK/kubelet # where a kubelet would have its staging and pod paths
APP=$WORK/app         # the application's own records (outside the volume)
mkdir -p "$KUBELET" "$APP"
APP_PID=""
STAGING=""
TARGET=""

ctl() { "$SB" ctl --cluster "$CLUSTER" "$@"; }

# Mount points under $WORK, deepest first.
mounts_under_work() {
  findmnt -rn -o TARGET | awk -v w="$WORK" 'index($0, w) == 1' | sort -r
}

cleanup() {
  rc=$?
  trap - EXIT INT TERM
  if [ -n "$APP_PID" ]; then
    kill "$APP_PID" 2>/dev/null || true
    wait "$APP_PID" 2>/dev/null || true
  fi
  if [ -f "$CLUSTER/cluster.json" ]; then
    if [ $rc -ne 0 ]; then
      echo "--- last lines of the logs ---" >&2
      tail -n 15 "$CLUSTER"/logs/*.log "$CLUSTER"/csi-state/fuse/*.log >&2 2>/dev/null || true
    fi
    # As the kubelet would: unpublish and unstage through the CSI driver.
    if [ -n "$TARGET" ]; then ctl csi umount demo --target "$TARGET" >/dev/null 2>&1 || true; fi
    if [ -n "$STAGING" ]; then
      ctl csi unstage demo --staging-path "$STAGING" >/dev/null 2>&1 || true
    fi
    # Whatever is still there (a failed step): mounts, loop devices, FUSE servers.
    for m in $(mounts_under_work); do umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true; done
    losetup -n -O NAME,BACK-FILE 2>/dev/null | awk -v w="$WORK" 'index($2, w) == 1 {print $1}' |
      while read -r dev; do losetup -d "$dev" 2>/dev/null || true; done
    "$SB" local down --dir "$CLUSTER" >/dev/null 2>&1 || true
  fi
  if [ -z "$(mounts_under_work)" ]; then
    rm -rf "$WORK"
  else
    echo "demo: left $WORK: still mounted there: $(mounts_under_work | tr '\n' ' ')" >&2
  fi
  if [ $rc -eq 0 ]; then
    printf '\n\033[1mdemo: PASSED\033[0m\n'
  else
    echo "demo: FAILED (exit $rc)" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One field of `ctl volume show demo -o json` (a Python expression on d).
volume_field() {
  ctl volume show demo -o json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# How many files the application has written and fsync'd so far.
files_done() { wc -l <"$APP/manifest"; }

step "starting a local cluster: 3 storage nodes in 3 zones, and the CSI driver ($CLUSTER)"
# A modest resync rate, so that the resync below is slow enough to watch.
"$SB" local up --dir "$CLUSTER" --nodes 3 --require-csi --resync-rate 16MiB
ctl node list

step "CreateVolume: volume demo, 1 GiB, 3 replicas, ext4 (ctl csi create)"
ctl csi create demo --size 1G --replicas 3 --fs ext4

STAGING=$KUBELET/plugins/kubernetes.io/csi/syncblock/demo/globalmount
TARGET=$KUBELET/pods/app/volumes/kubernetes.io~csi/demo/mount
step "ControllerPublish + NodeStage + NodePublish: demo mounted at .../pods/app/..."
ctl csi stage demo --fs ext4 --auto-publish --staging-path "$STAGING"
ctl csi mount demo --fs ext4 --staging-path "$STAGING" --target "$TARGET"
findmnt -o TARGET,SOURCE,FSTYPE "$TARGET"
df -h "$TARGET"

step "starting the application: 128 KiB files of random data, each written and fsync'd"
# The application: file-NNNNN one after the other, each open/write/fsync/close.
# It appends "sha256  name" to $APP/manifest and the time each fsync returned to
# $APP/times once it has, and stops at the first error (exit 1), or when
# $APP/stop exists.
cat >"$APP/writer.py" <<'PY'
import hashlib, os, sys, time
target, app = sys.argv[1], sys.argv[2]
with open(f"{app}/manifest", "a", buffering=1) as manifest, \
     open(f"{app}/times", "a", buffering=1) as times:
    i = 0
    while not os.path.exists(f"{app}/stop") and i < 5000:
        name = f"file-{i:05d}"
        data = os.urandom(128 * 1024)
        try:
            fd = os.open(os.path.join(target, name), os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            print(f"application: ERROR on {name}: {e}", file=sys.stderr, flush=True)
            sys.exit(1)
        times.write(f"{time.time():.6f}\n")
        manifest.write(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
        i += 1
PY
: >"$APP/manifest"
: >"$APP/times"
python3 "$APP/writer.py" "$TARGET" "$APP" &
APP_PID=$!
for _ in $(seq 600); do
  [ "$(files_done)" -ge 100 ] && break
  kill -0 "$APP_PID" 2>/dev/null || die "the application stopped"
  sleep 0.1
done
[ "$(files_done)" -ge 100 ] || die "the application wrote only $(files_done) files in a minute"
echo "the application has written and fsync'd $(files_done) files"

PRIMARY=$(volume_field 'd["primary"]')
EPOCH=$(volume_field 'd["epoch"]')
[ -n "$PRIMARY" ] || die "volume demo has no primary"
ctl volume show demo

step "killing the primary, $PRIMARY (kill -9), while the application writes"
"$SB" local kill --dir "$CLUSTER" "$PRIMARY" # returns once the process is gone
KILL_AT=$(date +%s.%N)
BEFORE=$(files_done)

step "the application stalls, then goes on: no error, and nobody runs promote"
# Files written and fsync'd since the kill, twice a second (the elected
# primary takes over once the lease of the dead one has run out).
for _ in $(seq 240); do
  sleep 0.5
  kill -0 "$APP_PID" 2>/dev/null || { wait "$APP_PID" || true; APP_PID=""; die "the application stopped"; }
  now=$(files_done)
  printf '  %4.1f s after the kill: %5d files fsync-ed since\n' \
    "$(awk -v a="$KILL_AT" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')" "$((now - BEFORE))"
  [ "$((now - BEFORE))" -ge 100 ] && break
done
[ "$(($(files_done) - BEFORE))" -ge 100 ] || die "the application did not get going again"
NEW_PRIMARY=$(volume_field 'd["primary"]')
[ "$NEW_PRIMARY" != "$PRIMARY" ] || die "$PRIMARY is still named the primary"
python3 - "$APP/times" "$KILL_AT" <<'PY'
import sys
times = [float(line) for line in open(sys.argv[1]) if line.strip()]
kill = float(sys.argv[2])
after = [t for t in times if t > kill]
before = [t for t in times if t <= kill]
# The longest gap between two consecutive fsyncs, from 5 s before the kill to
# 5 s after the first fsync that completed after it.
window = [t for t in before if t >= kill - 5] + [t for t in after if t <= after[0] + 5]
stall = max(b - a for a, b in zip(window, window[1:]))
print(f"stall seen by the application: {stall:.2f} s, the longest gap between two "
      f"completed fsyncs around the kill (from the kill to the next fsync: {after[0] - kill:.2f} s)")
PY

step "the failover: the surviving replicas elected $NEW_PRIMARY (ctl volume show)"
ctl volume show demo
[ "$(volume_field 'd["epoch"]')" -gt "$EPOCH" ] || die "the epoch did not move on"
[ "$(volume_field 'd["last_failover_from"]')" = "$PRIMARY" ] || die "the failover is not recorded"

step "restarting $PRIMARY: it comes back as a secondary"
"$SB" local start --dir "$CLUSTER" "$PRIMARY"

step "watching the resync of $PRIMARY (only what changed is copied) while the application writes"
ctl resync-status demo --watch --interval-ms 500 --timeout 600
COPIED=$(volume_field "[r for r in d['replicas'] if r['node'] == '$PRIMARY'][0]['resync']['bytes_copied']")
echo "$PRIMARY caught up by copying $((COPIED / 1048576)) MiB of the 1024 MiB volume"

step "stopping the application"
touch "$APP/stop"
wait "$APP_PID" || { APP_PID=""; die "the application failed (see its error above)"; }
APP_PID=""
echo "the application wrote and fsync'd $(files_done) files, without a single error"

step "verifying the replicas (per-region checksums)"
ctl verify demo

step "NodeUnpublish + NodeUnstage, then NodeStage + NodePublish at new paths (nothing cached)"
ctl csi umount demo --target "$TARGET"
ctl csi unstage demo --staging-path "$STAGING"
STAGING=$KUBELET/plugins/kubernetes.io/csi/syncblock/demo/globalmount2
TARGET=$KUBELET/pods/app2/volumes/kubernetes.io~csi/demo/mount
ctl csi stage demo --fs ext4 --auto-publish --staging-path "$STAGING"
ctl csi mount demo --fs ext4 --staging-path "$STAGING" --target "$TARGET"

step "checking every file the application wrote (sha256)"
checked=$(cd "$TARGET" && sha256sum --strict --quiet -c "$APP/manifest" 2>&1) ||
  die "files differ from what the application wrote: $checked"
echo "all $(files_done) files have the sha256 the application recorded"

step "unmounting, deleting the volume, stopping the cluster"
ctl csi umount demo --target "$TARGET"
ctl csi unstage demo --staging-path "$STAGING"
TARGET=""
STAGING=""
ctl csi unpublish demo
ctl csi delete demo
"$SB" local down --dir "$CLUSTER"
