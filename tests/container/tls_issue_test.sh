#!/usr/bin/env bash
# The chart's certificate issuer (charts/syncblock/files/tls-issue.sh) run in
# the syncblock image the way the chart's tls-issue and tls-renew containers
# run it: uid 65532, read-only root filesystem, no capabilities, no network,
# the signing CA and the script mounted read-only, the output in a writable
# directory. Checks that the image has what the script needs (openssl and
# the shell tools) and that the certificate verifies against the CA.
#
# usage: tests/container/tls_issue_test.sh   (IMAGE, default localhost/syncblock:dev)
# Without podman/docker, the image or openssl on the host it skips, saying
# why, unless CI is set. Last line: "N passed, N failed".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGE=${IMAGE:-localhost/syncblock:dev}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/syncblock-tls-issue.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
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
  RUN_FLAGS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
elif command -v docker >/dev/null 2>&1; then
  ENGINE=(docker)
  RUN_FLAGS=()
else
  skip "tls-issue in the image: neither podman nor docker"
fi
"${ENGINE[@]}" image inspect "$IMAGE" >/dev/null 2>&1 \
  || skip "tls-issue in the image: no image $IMAGE (build it with scripts/image.sh)"
command -v openssl >/dev/null 2>&1 || skip "tls-issue in the image: openssl not installed on the host"

mkdir -p "$WORK/signer" "$WORK/out"
openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=test CA" -days 30 \
  -keyout "$WORK/signer/tls.key" -out "$WORK/signer/tls.crt" 2>/dev/null
cp "$WORK/signer/tls.crt" "$WORK/signer/ca.crt"
chmod 0444 "$WORK/signer/"*
chmod 0777 "$WORK/out"

issue() {  # issue STEP: runs tls-issue.sh STEP in the image as a storage pod would
  "${ENGINE[@]}" run --rm "${RUN_FLAGS[@]}" --network=none --read-only --user 65532:65532 \
    --cap-drop ALL --security-opt no-new-privileges \
    -v "$ROOT/charts/syncblock/files:/etc/syncblock/tls-issuer:ro" \
    -v "$WORK/signer:/etc/syncblock/tls-signer:ro" -v "$WORK/out:/etc/syncblock/tls" \
    -e SIGNER_DIR=/etc/syncblock/tls-signer -e OUT_DIR=/etc/syncblock/tls \
    -e TLS_CN=node-a -e TLS_OU=storage -e TLS_SERVER=true -e TLS_DNS=syncblock \
    -e TLS_IP=10.0.0.9 -e TLS_DAYS=30 \
    --entrypoint /bin/sh "$IMAGE" /etc/syncblock/tls-issuer/tls-issue.sh "$1"
}

if issue once >"$WORK/log" 2>&1; then
  pass "tls-issue.sh once runs in $IMAGE as uid 65532, read-only, no capabilities"
else
  fail "tls-issue.sh once runs in $IMAGE as uid 65532, read-only, no capabilities"
  sed 's/^/    /' "$WORK/log" | tail -10
fi
if openssl verify -CAfile "$WORK/signer/ca.crt" "$WORK/out/tls.crt" >/dev/null 2>&1 \
    && [ "$(openssl x509 -noout -subject -nameopt RFC2253 -in "$WORK/out/tls.crt")" = \
         "subject=CN=node-a,OU=storage,O=syncblock" ]; then
  pass "the certificate issued in the image names node-a/storage and verifies"
else
  fail "the certificate issued in the image names node-a/storage and verifies"
fi
# `check` exits 1 when no renewal is due: the image's openssl reads its own output.
issue check >"$WORK/log" 2>&1
if [ $? -eq 1 ]; then pass "tls-issue.sh check in the image: no renewal due"
else fail "tls-issue.sh check in the image: no renewal due"; sed 's/^/    /' "$WORK/log"; fi
finish
