#!/usr/bin/env bash
# The syncblock image run for real, with podman (or docker), on this machine:
#
#  - three storage-node containers (host network, each with its data in a
#    directory of the host mounted at /var/lib/syncblock/data, as non-root
#    uid 65532) and the CSI controller container (non-root);
#  - a volume created with `ctl` run from the image, written and read from the
#    host with qemu-io and nbdcopy over NBD;
#  - one storage container killed (SIGKILL) while writes go on, started again,
#    the resync followed with `ctl resync-status --watch`, the replicas
#    compared with `ctl verify`, every byte read back;
#  - the node-plugin container stages and publishes a CSI volume through its
#    FUSE path (`syncblock fuse-export` + a loop device + ext4), a file written
#    in it survives unstaging and staging again.
#
# Privileges: the storage and controller containers take none (non-root,
# default capabilities). The node plugin runs as root with --privileged and
# the host's /dev, as on a real node: mount(2) and losetup need CAP_SYS_ADMIN,
# FUSE needs /dev/fuse, and the loop device losetup creates appears in the
# host's /dev only (a container's /dev is a copy made at start).
#
# usage: tests/container/container_test.sh      (IMAGE, default localhost/syncblock:dev,
#                                                built by scripts/image.sh)
# Without podman/docker, the image, or qemu-io/nbdcopy it skips, saying why,
# unless CI is set, when that is a failure. Last line: "N passed, N failed".
set -uo pipefail

IMAGE=${IMAGE:-localhost/syncblock:dev}
TAG="sbct-$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/syncblock-container.XXXXXX")
STATE_DIR="/var/lib/syncblock/csi-$TAG"  # the node plugin's, unique to this run
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
skip() {
  if [ -n "${CI:-}" ]; then fail "$1 (CI must run this test)"; else echo "SKIP $1"; fi
  finish
}

if command -v podman >/dev/null 2>&1; then
  ENGINE=(podman --runtime runc)
  RUN_FLAGS=(--network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
elif command -v docker >/dev/null 2>&1; then
  ENGINE=(docker)
  RUN_FLAGS=(--network=host)
else
  skip "container test: neither podman nor docker (apt-get install podman runc debootstrap)"
fi
"${ENGINE[@]}" image inspect "$IMAGE" >/dev/null 2>&1 \
  || skip "container test: no image $IMAGE (build it with scripts/image.sh)"
for tool in qemu-io nbdcopy python3; do
  command -v "$tool" >/dev/null 2>&1 || skip "container test: $tool not installed"
done

cleanup() {
  local c
  # Unstage what the node plugin may still hold, then remove our containers.
  "${ENGINE[@]}" exec "$TAG-node" sh -c \
    "umount $STATE_DIR/target 2>/dev/null; umount $STATE_DIR/staging 2>/dev/null" >/dev/null 2>&1
  for c in $("${ENGINE[@]}" ps -a --format '{{.Names}}' | grep "^$TAG-"); do
    "${ENGINE[@]}" rm -f -t 2 "$c" >/dev/null 2>&1
  done
  # Loop devices left on our FUSE files (a failed run), and nothing else.
  losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v d="$STATE_DIR" 'index($2, d) == 1 {print $1}' \
    | xargs -r -n1 losetup -d 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# Base ports with four free consecutive ports each (control, +1 replication,
# +2 NBD, +3 metrics).
read -r -a BASES <<<"$(python3 - <<'PY'
import socket
bases, port = [], 20000 + (__import__("os").getpid() * 7) % 30000
while len(bases) < 3:
    ok = True
    for p in range(port, port + 4):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        bases.append(port)
    port += 10
print(" ".join(map(str, bases)))
PY
)"
NODES="127.0.0.1:${BASES[0]},127.0.0.1:${BASES[1]},127.0.0.1:${BASES[2]}"

# --- the cluster's CA and a certificate per process (CN = identity, OU =
# role), made with the host's openssl as a chart or cert-manager would; the
# containers read them from /tls.
TLS="$WORK/tls"
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=container test CA" -keyout "$TLS/ca.key" -out "$TLS/ca.crt" 2>/dev/null
issue() {  # issue NAME ROLE [CN]
  local name=$1 role=$2 cn=${3:-$1}
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/OU=$role/CN=$cn" \
    -keyout "$TLS/$name.key" -out "$TLS/$name.csr" 2>/dev/null
  openssl x509 -req -in "$TLS/$name.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
    -days 2 -out "$TLS/$name.crt" -extfile <(printf '%s\n' \
      "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth,clientAuth") \
    2>/dev/null
  chmod 0644 "$TLS/$name.key"  # the containers' user reads it (a test CA)
}
for n in 1 2 3; do issue "node-$n" storage; done
issue controller controller
issue host-1 node
issue admin admin
tls() {  # tls NAME: the flags for NAME's certificate inside a container
  echo --tls-ca /tls/ca.crt --tls-cert "/tls/$1.crt" --tls-key "/tls/$1.key"
}

run() { "${ENGINE[@]}" run "${RUN_FLAGS[@]}" -v "$TLS:/tls:ro" "$@"; }
# shellcheck disable=SC2046
ctl() { run --rm -v "$WORK/csi:/csi" "$IMAGE" ctl --storage-nodes "$NODES" $(tls admin) "$@"; }
check() {  # check NAME command...: PASS when it exits 0, else FAIL with its output
  local name=$1; shift
  if "$@" >"$WORK/check.log" 2>&1; then pass "$name"; else
    fail "$name"; sed 's/^/    /' "$WORK/check.log" | tail -15; fi
}
wait_for() {  # wait_for SECONDS command...: until it succeeds
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 1
  done
}
start_storage() {  # start_storage N
  local n=$1
  mkdir -p "$WORK/data-$n" && chown 65532:65532 "$WORK/data-$n"
  run -d --name "$TAG-node-$n" -v "$WORK/data-$n:/var/lib/syncblock/data" "$IMAGE" \
    storage --node-id "node-$n" --data-dir /var/lib/syncblock/data \
    --listen "127.0.0.1:${BASES[$((n - 1))]}" --zone "zone-$n" --resync-rate 0 \
    $(tls "node-$n") >/dev/null
}
reachable_nodes() {
  ctl node list -o json | python3 -c \
    'import json,sys; print(sum(n["reachable"] for n in json.load(sys.stdin)["nodes"]))'
}
three_reachable() { [ "$(reachable_nodes)" = 3 ]; }
logs_on_failure() {
  local c
  [ "$failed" -eq 0 ] && return
  for c in $("${ENGINE[@]}" ps -a --format '{{.Names}}' | grep "^$TAG-"); do
    echo "--- log of $c"; "${ENGINE[@]}" logs --tail 20 "$c" 2>&1 | sed 's/^/    /'
  done
}

echo "--- image $IMAGE: $("${ENGINE[@]}" image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
runs_as() { [ "$(run --rm --entrypoint id "$IMAGE" -u)" = 65532 ]; }
check "the image runs as non-root 65532 by default" runs_as

# --- storage nodes and the CSI controller
for n in 1 2 3; do start_storage "$n"; done
mkdir -p "$WORK/csi" && chmod 0777 "$WORK/csi"
run -d --name "$TAG-controller" -v "$WORK/csi:/csi" "$IMAGE" csi --mode controller \
  --endpoint unix:///csi/controller.sock --storage-nodes "$NODES" --known-nodes host-1 \
  $(tls controller) >/dev/null
check "three storage containers answer (ctl node list from the image)" wait_for 60 three_reachable
check "CSI controller container serves its socket" wait_for 60 test -S "$WORK/csi/controller.sock"

# --- a volume written and read from the host over NBD
check "ctl volume create (from the image)" ctl volume create vol1 --size 64M --replicas 3
URI=$(ctl export vol1 2>"$WORK/export.err")
check "ctl export gives a TLS NBD URI" grep -q '^nbds://127.0.0.1:' <<<"$URI"
# The host's clients present the admin certificate, from the directory
# libnbd and qemu read; qemu has no nbds:// URIs, so it gets the same export
# as tls-creds and a json: filename.
CERTS="$TLS/admin.nbd"
mkdir -p "$CERTS"
ln -sf "$TLS/ca.crt" "$CERTS/ca-cert.pem"
ln -sf "$TLS/admin.crt" "$CERTS/client-cert.pem"
ln -sf "$TLS/admin.key" "$CERTS/client-key.pem"
LIBNBD_URI="$URI?tls-certificates=$CERTS"
HOSTPORT=${URI#nbds://}
EXPORT=${HOSTPORT#*/}
HOSTPORT=${HOSTPORT%%/*}
QEMU_TARGET=(--object "tls-creds-x509,id=tls0,endpoint=client,dir=$CERTS"
  "json:{\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\",\"host\":\"${HOSTPORT%:*}\",\"port\":\"${HOSTPORT##*:}\"},\"export\":\"$EXPORT\",\"tls-creds\":\"tls0\"}}")
check "without the certificate nbdinfo is refused" sh -c '! nbdinfo "$1" 2>/dev/null' _ "$URI"
head -c $((16 << 20)) /dev/urandom >"$WORK/random.bin"
check "nbdcopy writes 16 MiB of random data from the host" nbdcopy "$WORK/random.bin" "$LIBNBD_URI"
check "qemu-io writes 16 MiB from the host" \
  qemu-io -f raw "${QEMU_TARGET[@]}" -c 'write -P 0xab 16M 16M' -c 'read -P 0xab 16M 16M'

# --- a storage container killed while writes go on, and started again
PRIMARY=$(ctl volume show vol1 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"])')
VICTIM=node-3
[ "$PRIMARY" = node-3 ] && VICTIM=node-2
check "kill -9 the storage container of $VICTIM" "${ENGINE[@]}" kill -s KILL "$TAG-$VICTIM"
check "writes go on with $VICTIM down" \
  qemu-io -f raw "${QEMU_TARGET[@]}" -c 'write -P 0xcd 48M 16M' -c 'read -P 0xcd 48M 16M'
victim_offline() { ctl volume show vol1 -o json | grep -q '"state": "offline"'; }
check "ctl volume show says $VICTIM is offline" wait_for 30 victim_offline
check "the storage container of $VICTIM starts again" "${ENGINE[@]}" start "$TAG-$VICTIM"
check "ctl resync-status --watch follows the resync to the end" \
  ctl resync-status vol1 --watch --interval-ms 500 --timeout 180
check "ctl verify: the three replicas are identical" ctl verify vol1
check "qemu-io reads back what it wrote" \
  qemu-io -f raw "${QEMU_TARGET[@]}" -c 'read -P 0xab 16M 16M' -c 'read -P 0xcd 48M 16M'
check "nbdcopy reads back the random data" nbdcopy "$LIBNBD_URI" "$WORK/back.bin"
check "the random data is intact" cmp -n $((16 << 20)) "$WORK/random.bin" "$WORK/back.bin"

# --- the node plugin stages and publishes a volume through its FUSE path
run -d --name "$TAG-node" --privileged --user 0 -v /dev:/dev -v "$WORK/csi:/csi" "$IMAGE" \
  csi --mode node --endpoint unix:///csi/node.sock --storage-nodes "$NODES" \
  --node-id host-1 --state-dir "$STATE_DIR" --attach fuse $(tls host-1) >/dev/null
check "node-plugin container serves its socket" wait_for 60 test -S "$WORK/csi/node.sock"
csi() {  # csi ENDPOINT-NAME ARGS...: ctl csi as root (the node socket is root's)
  local ep=$1; shift
  run --rm --user 0 -v "$WORK/csi:/csi" "$IMAGE" ctl csi "$@" --endpoint "unix:///csi/$ep.sock"
}
check "CSI CreateVolume through the controller container" \
  csi controller create pvc-1 --size 64M --replicas 3 --fs ext4
CONTEXT=$(csi controller publish pvc-1 --node host-1 --fs ext4 | paste -sd, -)
check "CSI ControllerPublishVolume gives a publish context" test -n "$CONTEXT"
in_node() { "${ENGINE[@]}" exec "$TAG-node" "$@"; }
stage_and_mount() {
  in_node mkdir -p "$STATE_DIR/staging" "$STATE_DIR/target" \
    && csi node stage pvc-1 --staging-path "$STATE_DIR/staging" --publish-context "$CONTEXT" --fs ext4 \
    && csi node mount pvc-1 --staging-path "$STATE_DIR/staging" --target "$STATE_DIR/target" \
      --publish-context "$CONTEXT" --fs ext4
}
unmount_and_unstage() {
  csi node umount pvc-1 --target "$STATE_DIR/target" \
    && csi node unstage pvc-1 --staging-path "$STATE_DIR/staging"
}
check "NodeStageVolume + NodePublishVolume in the node-plugin container" stage_and_mount
published_on_loop() {
  in_node cat /proc/mounts | grep -qE "^/dev/loop[0-9]+ $STATE_DIR/target ext4 "
}
check "the volume is ext4 on a loop device over the FUSE export" published_on_loop
check "a file written in the published volume" \
  in_node sh -c "mountpoint -q $STATE_DIR/target && echo 'written through FUSE' > $STATE_DIR/target/hello && sync"
check "NodeUnpublishVolume + NodeUnstageVolume" unmount_and_unstage
check "the file went with the volume (target empty, nothing mounted)" \
  in_node sh -c "! mountpoint -q $STATE_DIR/target && ! test -e $STATE_DIR/target/hello"
no_loop_left() { ! losetup -l -n -O BACK-FILE | grep -q "^$STATE_DIR"; }
check "no loop device is left on the FUSE file" no_loop_left
check "staged and published again" stage_and_mount
file_back() {
  published_on_loop && [ "$(in_node cat "$STATE_DIR/target/hello")" = 'written through FUSE' ]
}
check "the file is there after unstaging and staging again" file_back
check "unpublished and unstaged again" unmount_and_unstage
check "ctl verify pvc-1: replicas identical" ctl verify pvc-1

logs_on_failure
finish
