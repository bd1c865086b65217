#!/usr/bin/env bash
# Tests of the chart's changed-block tracking part (snapshotMetadata.*, the
# *-snapshot-metadata templates and snapshotmetadataservice.yaml), runnable
# alone: `tests/chart/snapshot_metadata_chart_test.sh`.
#
# - off by default: the default render holds none of its objects;
# - on, without a TLS Secret or CA, `helm template` fails naming the value;
# - on, with them: the Deployment runs `syncblock csi --mode controller` and
#   the external-snapshot-metadata sidecar on one socket, the sidecar's TLS
#   port is the Service's, and the SnapshotMetadataService object is named
#   after the driver and points at that Service with the CA given;
# - a typo under snapshotMetadata is rejected by values.schema.json.
#
# Needs helm (scripts/install-helm.sh) and python3 with PyYAML; skips with a
# message without them, unless SYNCBLOCK_REQUIRE_HELM is set.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHART="$ROOT/charts/syncblock"
HELM=${HELM:-helm}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if ! command -v "$HELM" >/dev/null 2>&1 || ! python3 -c 'import yaml' 2>/dev/null; then
  echo "SKIP: needs helm and python3-yaml"
  [ -z "${SYNCBLOCK_REQUIRE_HELM:-}" ]
  exit $?
fi

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# Default: nothing of it.
if "$HELM" template t "$CHART" -n syncblock >"$WORK/default.yaml" 2>"$WORK/err"; then
  if grep -q 'snapshot-metadata\|SnapshotMetadataService' "$WORK/default.yaml"; then
    fail "off by default"
  else
    pass "off by default"
  fi
else
  fail "default render: $(cat "$WORK/err")"
fi

# On without TLS material: refused, naming the missing value.
if "$HELM" template t "$CHART" -n syncblock --set snapshotMetadata.enabled=true \
  >/dev/null 2>"$WORK/err"; then
  fail "enabled without a TLS Secret renders"
elif grep -q 'snapshotMetadata.tls' "$WORK/err"; then
  pass "enabled without TLS material names the value"
else
  fail "enabled without TLS material: $(cat "$WORK/err")"
fi

# A typo is rejected by the schema.
if "$HELM" template t "$CHART" -n syncblock --set snapshotMetadata.enable=true \
  >/dev/null 2>"$WORK/err"; then
  fail "schema accepts snapshotMetadata.enable"
else
  pass "schema rejects snapshotMetadata.enable"
fi

CA=$(printf 'test-ca' | base64)
if "$HELM" template t "$CHART" -n backup --set snapshotMetadata.enabled=true \
  --set snapshotMetadata.tls.secretName=sm-tls --set "snapshotMetadata.tls.caCert=$CA" \
  --set snapshotMetadata.port=7443 >"$WORK/on.yaml" 2>"$WORK/err"; then
  pass "enabled render"
else
  fail "enabled render: $(cat "$WORK/err")"
fi

python3 - "$WORK/on.yaml" "$CA" <<'PY' >"$WORK/checks" 2>&1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ca = sys.argv[2]
def find(kind, name_part):
    return [d for d in docs if d["kind"] == kind and name_part in d["metadata"]["name"]]
def check(name, ok):
    print(("PASS " if ok else "FAIL ") + name)

deps = find("Deployment", "snapshot-metadata")
check("one snapshot-metadata Deployment", len(deps) == 1)
if deps:
    spec = deps[0]["spec"]["template"]["spec"]
    c = {x["name"]: x for x in spec["containers"]}
    sb, side = c.get("syncblock"), c.get("csi-snapshot-metadata")
    check("driver and sidecar containers", sb is not None and side is not None)
    if sb and side:
        args = sb["args"]
        check("driver serves --mode controller", args[args.index("--mode") + 1] == "controller")
        check("only the main controller moves witnesses and primaries", "--no-maintenance" in args)
        endpoint = args[args.index("--endpoint") + 1]
        check("sidecar dials the driver's socket",
              endpoint == "unix://" + [a for a in side["args"] if a.startswith("--csi-address=")][0].split("=", 1)[1])
        check("sidecar TLS flags", "--tls-cert=/etc/snapshot-metadata-tls/tls.crt" in side["args"]
              and "--tls-key=/etc/snapshot-metadata-tls/tls.key" in side["args"])
        check("sidecar port", "--port=7443" in side["args"]
              and side["ports"][0]["containerPort"] == 7443)
        vols = {v["name"]: v for v in spec["volumes"]}
        check("TLS Secret mounted", vols["tls"]["secret"]["secretName"] == "sm-tls")
        check("runs as the snapshot-metadata account",
              spec["serviceAccountName"].endswith("-snapshot-metadata"))
svcs = find("Service", "snapshot-metadata")
check("one Service on the port", len(svcs) == 1 and svcs[0]["spec"]["ports"][0]["port"] == 7443)
sms = [d for d in docs if d["kind"] == "SnapshotMetadataService"]
check("SnapshotMetadataService named after the driver",
      len(sms) == 1 and sms[0]["metadata"]["name"] == "csi.syncblock.dev")
if sms and svcs:
    spec = sms[0]["spec"]
    check("address is the Service", spec["address"] == svcs[0]["metadata"]["name"] + ".backup:7443")
    check("caCert as given", spec["caCert"] == ca)
    check("audience defaults to the Service name", spec["audience"] == svcs[0]["metadata"]["name"])
roles = find("ClusterRole", "snapshot-metadata")
check("ClusterRole reviews tokens", len(roles) == 1 and any(
    "tokenreviews" in r["resources"] for r in roles[0]["rules"]))
binds = find("ClusterRoleBinding", "snapshot-metadata")
check("bound to the account", len(binds) == 1 and
      binds[0]["subjects"][0]["name"].endswith("-snapshot-metadata") and
      binds[0]["subjects"][0]["namespace"] == "backup")
PY
cat "$WORK/checks"
passed=$((passed + $(grep -c '^PASS' "$WORK/checks")))
failed=$((failed + $(grep -c '^FAIL' "$WORK/checks")))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
