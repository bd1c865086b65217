#!/usr/bin/env bash
# Tests of the chart's TLS machinery that go beyond reading the rendered
# objects (check_manifests.py reads them for every tls.mode), runnable alone:
# `tests/chart/tls_chart_test.sh`.
#
# - The issuer script the pods run (files/tls-issue.sh), run here for real
#   with openssl and the env of the rendered containers, signing with the CA
#   the chart generated: the certificates carry the identities the daemons
#   expect (CN, OU, SANs, EKU), verify against ca.crt, and a storage node's
#   and a node plugin's certificates complete a mutual TLS handshake in which
#   the client checks the fixed server name `syncblock`; a certificate from
#   another CA, or a wrong name, is refused.
# - Under a cert-manager style chain (root -> role signing CA), the chain is
#   published with the leaf and verifies against the root.
# - Renewal: the tls-renew loop issues again when the signing CA changes,
#   publishing by one `..data` symlink swap (as a mounted Secret does), and
#   stops at once on SIGTERM.
# - The generated CA is kept on upgrade: with `lookup` answered from values
#   (a copy of the chart), the existing Secret's data is rendered back as is;
#   without a cluster (`helm template`) each rendering makes a new CA.
# - Changed-block tracking's Deployment (left out of check_manifests.py) gets
#   its own identity in generate and certManager modes.
#
# Needs helm, python3 with PyYAML and openssl; skips with a message without
# them, unless SYNCBLOCK_REQUIRE_HELM is set. Last line: "N passed, N failed".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHART="$ROOT/charts/syncblock"
HELM=${HELM:-helm}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in "$HELM" python3 openssl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: needs $tool"
    [ -z "${SYNCBLOCK_REQUIRE_HELM:-}" ]
    exit $?
  fi
done
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: needs python3-yaml"; [ -z "${SYNCBLOCK_REQUIRE_HELM:-}" ]; exit $?; }

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
expect() {  # expect NAME COMMAND...: passes when the command succeeds
  local name=$1; shift
  if "$@" >"$WORK/cmd.log" 2>&1; then pass "$name"; else
    fail "$name"; sed 's/^/    /' "$WORK/cmd.log" | tail -10; fi
}
refuse() {  # refuse NAME COMMAND...: passes when the command fails
  local name=$1; shift
  if "$@" >"$WORK/cmd.log" 2>&1; then fail "$name (it succeeded)"; else pass "$name"; fi
}

# --- render generate mode; pull out the CA and each issuer container's env.
"$HELM" template t "$CHART" -n syncblock >"$WORK/gen.yaml" 2>"$WORK/err" \
  || { fail "render generate mode: $(cat "$WORK/err")"; echo "$passed passed, $failed failed"; exit 1; }

# Writes $WORK/ca/{tls.crt,tls.key,ca.crt} and $WORK/env-<workload>.sh (the
# tls-issue container's env, fieldRefs answered for node "node-a", pod IP
# 10.0.0.7).
python3 - "$WORK/gen.yaml" "$WORK" <<'PY' || fail "extract the CA and issuer env"
import base64, os, shlex, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
work = sys.argv[2]
os.makedirs(f"{work}/ca", exist_ok=True)
for d in docs:
    if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-tls-ca"):
        for k, v in d["data"].items():
            open(f"{work}/ca/{k}", "wb").write(base64.b64decode(v))
fields = {"spec.nodeName": "node-a", "status.podIP": "10.0.0.7"}
for d in docs:
    if d["kind"] not in ("Deployment", "DaemonSet"):
        continue
    for c in d["spec"]["template"]["spec"].get("initContainers", []):
        if c["name"] != "tls-issue":
            continue
        lines = []
        for e in c["env"]:
            v = e["value"] if "value" in e else fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
            lines.append(f"export {e['name']}={shlex.quote(v)}")
        comp = d["metadata"]["labels"]["app.kubernetes.io/component"]
        open(f"{work}/env-{comp}.sh", "w").write("\n".join(lines) + "\n")
PY

ISSUE="$CHART/files/tls-issue.sh"
# issue ROLE SIGNER OUT: runs the script as the pod would, with the rendered env.
issue() {
  mkdir -p "$3"
  (
    # shellcheck disable=SC1090
    . "$WORK/env-$1.sh"
    SIGNER_DIR=$2 OUT_DIR=$3 sh "$ISSUE" once
  ) 2> >(tee -a "$WORK/issue.log" >&2)
}
subject_of() { openssl x509 -noout -subject -nameopt RFC2253 -in "$1" | sed 's/^subject=//'; }
ext_of() { openssl x509 -noout -ext "$2" -in "$1" 2>/dev/null | tail -n +2 | tr -d ' \n'; }

for role in storage node controller; do
  expect "generate: $role pod issues its certificate from the chart's CA" \
    issue "$role" "$WORK/ca" "$WORK/out-$role"
done

check_identity() {  # check_identity ROLE WANT_SUBJECT WANT_EKU WANT_SAN
  local crt="$WORK/out-$1/tls.crt"
  [ "$(subject_of "$crt")" = "$2" ] || { echo "subject $(subject_of "$crt"), want $2"; return 1; }
  [ "$(ext_of "$crt" extendedKeyUsage)" = "$3" ] || { echo "EKU $(ext_of "$crt" extendedKeyUsage)"; return 1; }
  [ "$(ext_of "$crt" subjectAltName)" = "$4" ] || { echo "SAN $(ext_of "$crt" subjectAltName), want $4"; return 1; }
  openssl verify -CAfile "$WORK/out-$1/ca.crt" "$crt"
}
SVC=t-syncblock-storage
expect "storage certificate: CN=node name, OU=storage, O=syncblock, server+client, SAN syncblock + Service names + pod IP" \
  check_identity storage "CN=node-a,OU=storage,O=syncblock" "TLSWebServerAuthentication,TLSWebClientAuthentication" \
  "DNS:syncblock,DNS:$SVC,DNS:$SVC.syncblock,DNS:$SVC.syncblock.svc,DNS:$SVC.syncblock.svc.cluster.local,IPAddress:10.0.0.7"
expect "node plugin certificate: CN=node name, OU=node, client only, no SAN" \
  check_identity node "CN=node-a,OU=node,O=syncblock" "TLSWebClientAuthentication" ""
expect "controller certificate: CN=controller, OU=controller, client only" \
  check_identity controller "CN=controller,OU=controller,O=syncblock" "TLSWebClientAuthentication" ""
# shellcheck disable=SC2016
expect "valid from an hour ago (a peer a little behind accepts it), for certValidityDays" bash -c '
  nb=$(date -u -d "$(openssl x509 -noout -startdate -in "$1" | cut -d= -f2)" +%s)
  na=$(date -u -d "$(openssl x509 -noout -enddate -in "$1" | cut -d= -f2)" +%s)
  now=$(date -u +%s)
  [ $((now - nb)) -ge 3500 ] && [ $((now - nb)) -le 3700 ] \
  && { [ $(((na - now) / 86400)) -eq 29 ] || [ $(((na - now) / 86400)) -eq 30 ]; }' _ \
  "$WORK/out-storage/tls.crt"
refuse "a node plugin certificate cannot serve (no serverAuth)" \
  openssl verify -purpose sslserver -CAfile "$WORK/ca/ca.crt" "$WORK/out-node/tls.crt"
# shellcheck disable=SC2016
expect "key 0400, certificate and trust bundle published through ..data" bash -c '
  [ "$(stat -L -c %a "$1/tls.key")" = 400 ] && [ "$(readlink "$1/tls.key")" = ..data/tls.key ] \
  && [ "$(readlink "$1/ca.crt")" = ..data/ca.crt ] && cmp -s "$1/ca.crt" "$2/ca.crt"' _ \
  "$WORK/out-storage" "$WORK/ca"
expect "the issuer logs what it issued" grep -q "issued CN=node-a OU=storage" "$WORK/issue.log"
refuse "the issuer logs no key material" grep -q "PRIVATE KEY" "$WORK/issue.log"

long=$(printf 'n%.0s' $(seq 65))
# shellcheck disable=SC2016
expect "an identity longer than a CN may be (64) is refused, saying why" bash -c '
  mkdir -p "$3" && ! SIGNER_DIR=$2 OUT_DIR=$3 TLS_CN=$4 TLS_OU=node TLS_DAYS=1 sh "$1" once 2>"$3.err" \
  && grep -q "at most 64" "$3.err" && [ ! -e "$3/tls.crt" ]' _ "$ISSUE" "$WORK/ca" "$WORK/out-long" "$long"

# --- mutual TLS handshake: storage node serving, node plugin as client.
serve() {  # serve OUTDIR: an openssl server demanding a client certificate; prints its port
  rm -f "$WORK/server.log"
  openssl s_server -accept 127.0.0.1:0 -naccept 1 -cert "$1/tls.crt" -key "$1/tls.key" \
    -CAfile "$1/ca.crt" -Verify 2 -verify_return_error -www >"$WORK/server.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do
    grep -q '^ACCEPT' "$WORK/server.log" 2>/dev/null && break
    sleep 0.1
  done
  sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$WORK/server.log"
}
connect() {  # connect PORT CLIENTDIR SERVERNAME
  openssl s_client -connect "127.0.0.1:$1" -cert "$2/tls.crt" -key "$2/tls.key" \
    -CAfile "$2/ca.crt" -verify_hostname "$3" -verify_return_error -brief </dev/null
}
port=$(serve "$WORK/out-storage")
expect "mTLS: node plugin -> storage node, server name syncblock checked" \
  connect "$port" "$WORK/out-node" syncblock
port=$(serve "$WORK/out-storage")
expect "mTLS: controller -> storage node by its Service name" \
  connect "$port" "$WORK/out-controller" "$SVC.syncblock.svc.cluster.local"
port=$(serve "$WORK/out-storage")
refuse "mTLS: a server name the certificate lacks is refused" \
  connect "$port" "$WORK/out-node" storage.example.com
# A client with a certificate from another CA.
mkdir -p "$WORK/other"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=other CA" \
  -keyout "$WORK/other/tls.key" -out "$WORK/other/tls.crt" -days 2 2>/dev/null
expect "a node certificate from another CA (for the next test)" \
  issue node "$WORK/other" "$WORK/out-foreign"
port=$(serve "$WORK/out-storage")
refuse "mTLS: a client certificate from another CA is refused" \
  openssl s_client -connect "127.0.0.1:$port" -cert "$WORK/out-foreign/tls.crt" \
  -key "$WORK/out-foreign/tls.key" -CAfile "$WORK/ca/ca.crt" -verify_return_error -brief \
  -ign_eof </dev/null

# --- cert-manager style chain: root -> node signing CA (OU=node).
mkdir -p "$WORK/cm-root" "$WORK/cm-node"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=root" \
  -keyout "$WORK/cm-root/k" -out "$WORK/cm-root/c" -days 10 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/OU=node/CN=node signing CA" \
  -keyout "$WORK/cm-node/tls.key" -out "$WORK/cm-node/req" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n' \
  >"$WORK/cm-node/ext"
openssl x509 -req -in "$WORK/cm-node/req" -CA "$WORK/cm-root/c" -CAkey "$WORK/cm-root/k" \
  -set_serial 7 -days 9 -extfile "$WORK/cm-node/ext" -out "$WORK/cm-node/tls.crt" 2>/dev/null
cp "$WORK/cm-root/c" "$WORK/cm-node/ca.crt"
rm -f "$WORK/cm-node/req" "$WORK/cm-node/ext"
expect "certManager chain: node pod issues from its role's signing CA" \
  issue node "$WORK/cm-node" "$WORK/out-cm"
# shellcheck disable=SC2016
expect "certManager chain: tls.crt = leaf + signing CA, verifies against the root alone" bash -c '
  [ "$(grep -c "BEGIN CERTIFICATE" "$1/tls.crt")" = 2 ] && cmp -s "$1/ca.crt" "$2" \
  && openssl verify -CAfile "$1/ca.crt" -untrusted "$1/tls.crt" "$1/tls.crt"' _ \
  "$WORK/out-cm" "$WORK/cm-root/c"

# --- renewal: the loop issues again when the signing CA changes.
renew_env() {
  # shellcheck disable=SC1090,SC1091
  . "$WORK/env-storage.sh"
  export SIGNER_DIR=$WORK/signer OUT_DIR=$WORK/out-renew TLS_CHECK_SECONDS=1
}
mkdir -p "$WORK/signer" "$WORK/out-renew"
cp "$WORK/ca/"* "$WORK/signer/"
(renew_env && sh "$ISSUE" once) >/dev/null 2>&1
first=$(readlink "$WORK/out-renew/..data")
refuse "renewal not due for a fresh certificate" bash -c "$(declare -f renew_env); renew_env; sh '$ISSUE' check"
(renew_env && exec sh "$ISSUE" renew) 2>"$WORK/renew.log" &
renew_pid=$!
PIDS+=("$renew_pid")
# Replace the signing CA, as a Secret update would: a new directory swapped in.
mkdir -p "$WORK/signer2"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=replacement CA" \
  -keyout "$WORK/signer2/tls.key" -out "$WORK/signer2/tls.crt" -days 30 2>/dev/null
cp "$WORK/signer2/tls.crt" "$WORK/signer2/ca.crt"
cp "$WORK/signer2/"* "$WORK/signer/"
for _ in $(seq 50); do
  [ "$(readlink "$WORK/out-renew/..data")" != "$first" ] && break
  sleep 0.2
done
# shellcheck disable=SC2016
expect "renewal: a changed signing CA gives a new certificate, swapped in whole" bash -c '
  [ "$(readlink "$1/..data")" != "$2" ] && [ ! -e "$1/$2" ] \
  && openssl verify -CAfile "$3/ca.crt" "$1/tls.crt" \
  && openssl x509 -noout -modulus -in "$1/tls.crt" >/dev/null \
  && [ "$(openssl pkey -in "$1/tls.key" -pubout | sha256sum)" = \
       "$(openssl x509 -in "$1/tls.crt" -pubkey -noout | sha256sum)" ]' _ \
  "$WORK/out-renew" "$first" "$WORK/signer2"
expect "renewal logs why" grep -q "renewing: signing CA changed" "$WORK/renew.log"
kill -TERM "$renew_pid"
stopped=no
for _ in $(seq 20); do
  kill -0 "$renew_pid" 2>/dev/null || { stopped=yes; break; }
  sleep 0.1
done
if [ "$stopped" = yes ]; then pass "renewal loop stops at once on SIGTERM"
else fail "renewal loop stops at once on SIGTERM"; fi
refuse "renewal log holds no key material" grep -q "PRIVATE KEY" "$WORK/renew.log"

# --- the generated CA is kept across upgrades (lookup), new under helm template.
rm -rf "$WORK/lk" && cp -r "$CHART" "$WORK/lk" && rm "$WORK/lk/values.schema.json"
tpl="$WORK/lk/templates/secret-tls-ca.yaml"
# shellcheck disable=SC2016  # template text, not shell
if grep -q 'lookup "v1" "Secret" .Release.Namespace $name' "$tpl"; then
  # shellcheck disable=SC2016
  sed -i 's/lookup "v1" "Secret" .Release.Namespace \$name/.Values.fakeExisting/' "$tpl"
  python3 - "$WORK/ca" "$WORK/existing.yaml" <<'PY'
import base64, sys, yaml
d = sys.argv[1]
data = {k: base64.b64encode(open(f"{d}/{k}", "rb").read()).decode()
        for k in ("ca.crt", "tls.crt", "tls.key")}
yaml.safe_dump({"fakeExisting": {"data": data}}, open(sys.argv[2], "w"))
PY
  "$HELM" template t "$WORK/lk" -n syncblock -f "$WORK/existing.yaml" \
    --show-only templates/secret-tls-ca.yaml >"$WORK/kept.yaml" 2>"$WORK/err"
  # shellcheck disable=SC2016
  expect "upgrade: the CA Secret found in the cluster is rendered back unchanged" python3 -c '
import sys, yaml
got = yaml.safe_load(open(sys.argv[1]))["data"]
want = yaml.safe_load(open(sys.argv[2]))["fakeExisting"]["data"]
sys.exit(0 if got == want else "CA changed on upgrade")' "$WORK/kept.yaml" "$WORK/existing.yaml"
else
  fail "lookup of the CA Secret not found in secret-tls-ca.yaml (update the test)"
fi
"$HELM" template t "$CHART" -n syncblock --show-only templates/secret-tls-ca.yaml >"$WORK/a.yaml"
"$HELM" template t "$CHART" -n syncblock --show-only templates/secret-tls-ca.yaml >"$WORK/b.yaml"
refuse "helm template (no cluster to look up): each rendering makes a new CA, as the README says" \
  cmp -s "$WORK/a.yaml" "$WORK/b.yaml"

# --- an upgrade that switches running storage nodes between plaintext and TLS
# is refused unless confirmed. lookup answered from values, in a chart copy.
rm -rf "$WORK/sw" && cp -r "$CHART" "$WORK/sw" && rm "$WORK/sw/values.schema.json"
tpl="$WORK/sw/templates/_tls.tpl"
# shellcheck disable=SC2016  # template text, not shell
if grep -q 'lookup "apps/v1" "DaemonSet" .Release.Namespace (include "syncblock.storageName" .)' "$tpl"; then
  # shellcheck disable=SC2016
  sed -i 's/lookup "apps\/v1" "DaemonSet" .Release.Namespace (include "syncblock.storageName" .)/.Values.fakeRunning/' "$tpl"
  running() {  # running ARGS...: a values file with the storage DaemonSet running these args
    python3 -c '
import sys, yaml
c = {"name": "syncblock", "args": ["storage"] + sys.argv[1:]}
yaml.safe_dump({"fakeRunning": {"spec": {"template": {"spec": {"containers": [c]}}}}}, sys.stdout)' "$@"
  }
  running --insecure >"$WORK/plain.yaml"
  running --tls-ca a --tls-cert b --tls-key c >"$WORK/tls.yaml"
  up() { "$HELM" template t "$WORK/sw" -n syncblock --is-upgrade "$@"; }
  if up -f "$WORK/plain.yaml" >/dev/null 2>"$WORK/err"; then
    fail "upgrade plaintext -> TLS refused without tls.switchConfirmed (it rendered)"
  elif grep -q "from plaintext to TLS" "$WORK/err" && grep -q "tls.switchConfirmed" "$WORK/err"; then
    pass "upgrade plaintext -> TLS refused without tls.switchConfirmed, saying why"
  else
    fail "upgrade plaintext -> TLS refused for another reason: $(cat "$WORK/err")"
  fi
  expect "upgrade plaintext -> TLS with tls.switchConfirmed=true renders" \
    up -f "$WORK/plain.yaml" --set tls.switchConfirmed=true
  refuse "upgrade TLS -> plaintext refused without tls.switchConfirmed" \
    up -f "$WORK/tls.yaml" --set tls.enabled=false --set tls.insecure=true
  expect "upgrade TLS -> TLS renders" up -f "$WORK/tls.yaml"
  expect "upgrade plaintext -> plaintext renders" \
    up -f "$WORK/plain.yaml" --set tls.enabled=false --set tls.insecure=true
  expect "first install over nothing renders" "$HELM" template t "$WORK/sw" -n syncblock
else
  fail "lookup of the storage DaemonSet not found in _tls.tpl (update the test)"
fi

# --- changed-block tracking's Deployment.
SM=(--set snapshotMetadata.enabled=true --set snapshotMetadata.tls.secretName=sm-tls
    --set snapshotMetadata.tls.caCert=eA==)
"$HELM" template t "$CHART" -n syncblock "${SM[@]}" >"$WORK/sm-gen.yaml"
"$HELM" template t "$CHART" -n syncblock "${SM[@]}" --set tls.mode=certManager >"$WORK/sm-cm.yaml"
python3 - "$WORK/sm-gen.yaml" "$WORK/sm-cm.yaml" <<'PY' >"$WORK/sm.out" 2>&1
import sys, yaml
def dep(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    return [d for d in docs if d["kind"] == "Deployment"
            and d["metadata"]["name"].endswith("-snapshot-metadata")][0]["spec"]["template"]["spec"]
def check(name, ok, why=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {why}"))
for label, path in (("generate", sys.argv[1]), ("certManager", sys.argv[2])):
    pod = dep(path)
    cs = {c["name"]: c for c in pod["containers"]}
    args = cs["syncblock"]["args"]
    check(f"snapshot-metadata {label}: TLS flags", "--tls-cert" in args and "--tls-key" in args
          and args[args.index("--tls-ca") + 1] == "/etc/syncblock/tls/ca.crt", str(args))
    vols = {v["name"]: v for v in pod["volumes"]}
    check(f"snapshot-metadata {label}: the sidecar keeps its own tls volume",
          vols["tls"]["secret"]["secretName"] == "sm-tls")
    if label == "generate":
        env = {e["name"]: e.get("value") for e in pod["initContainers"][0]["env"]}
        check("snapshot-metadata generate: issues CN=snapshot-metadata OU=controller",
              (env.get("TLS_CN"), env.get("TLS_OU")) == ("snapshot-metadata", "controller"), str(env))
    else:
        check("snapshot-metadata certManager: mounts its Certificate's Secret",
              vols["tls-certs"]["secret"]["secretName"] == "t-syncblock-tls-snapshot-metadata")
PY
cat "$WORK/sm.out"
passed=$((passed + $(grep -c '^PASS' "$WORK/sm.out")))
failed=$((failed + $(grep -c '^FAIL' "$WORK/sm.out")))
grep -q '^PASS\|^FAIL' "$WORK/sm.out" || fail "snapshot-metadata checks crashed"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
