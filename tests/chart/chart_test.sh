#!/usr/bin/env bash
# Tests of the Helm chart (charts/syncblock) and the Dockerfile, runnable
# alone from any directory: `tests/chart/chart_test.sh`.
#
# Chart: `helm lint` and `helm template` with every tests/chart/values-*.yaml
# (values-typo.yaml must be rejected by values.schema.json), then our own
# checks of the rendered objects (check_manifests.py: kinds, container args,
# RBAC rules, PDB, StorageClass parameters), the examples, and mutations of the
# chart that the checks must catch. Without a cluster: manifests are checked
# by reading them, since `kubectl apply --dry-run` needs an API server.
#
# Kubernetes API: every rendered object (and every example) is validated
# against the upstream OpenAPI schemas, offline, by the npm packages
# kubernetes-models and @kubernetes-models/prometheus-operator (schema/),
# installed with npm into a cache outside the tree. Kinds of other projects'
# CRDs (VolumeSnapshotClass, KubeVirt, CDI) have no schema there and are
# left to check_manifests.py, which the output says.
#
# Upgrades: the previous chart version (the newest commit of the chart whose
# Chart.yaml version differs, from git) and this one render objects whose
# immutable fields are equal (immutable_fields.py), so `helm upgrade` cannot
# fail on them.
#
# README: its values table is what values_doc.py generates from the `# --`
# comments of values.yaml, and every value has one.
#
# Dockerfile: no Docker engine is assumed. check_dockerfile.sh parses stages,
# COPY --from references and the runtime package list, and compares the list
# with what a built binary links (when one is found). hadolint runs if present.
#
# Needs helm (scripts/install-helm.sh installs it). Without helm the chart
# part is skipped with a message and the script still succeeds, unless
# SYNCBLOCK_REQUIRE_HELM is set (CI sets it; then a missing npm package,
# git history or node is a failure too, not a skip). The detailed checks need python3 with PyYAML
# (Debian: python3-yaml); without it only grep-level checks run.
#
# The last line is "N passed, N failed"; the exit status is 0 iff N failed is 0.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHART="$ROOT/charts/syncblock"
HERE="$ROOT/tests/chart"
HELM=${HELM:-helm}
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# Runs a check command; its stdout/stderr go to the log shown on failure.
check() {
  local name=$1; shift
  if "$@" >"$WORK/check.log" 2>&1; then pass "$name"; else
    fail "$name"; sed 's/^/    /' "$WORK/check.log" | tail -20; fi
}
# Counts the PASS/FAIL lines another checker printed.
tally() {
  local out=$1
  cat "$out"
  passed=$((passed + $(grep -c '^PASS' "$out")))
  failed=$((failed + $(grep -c '^FAIL' "$out")))
}

have_yaml=0
if "$PYTHON" -c 'import yaml' >/dev/null 2>&1; then
  have_yaml=1
fi

# name -> namespace the scenario is rendered into. The tls-* and insecure
# scenarios are the defaults with another tls.mode (or TLS off).
declare -A NAMESPACE=([defaults]=syncblock [all-on]=syncblock [custom]=storage-system
  [tls-certmanager]=syncblock [tls-issuer]=syncblock [tls-existing]=syncblock
  [insecure]=syncblock)
SCENARIOS=(defaults all-on custom tls-certmanager tls-issuer tls-existing insecure)

render() {  # render SCENARIO CHART_DIR OUT
  "$HELM" template t "$2" --namespace "${NAMESPACE[$1]}" \
    -f "$HERE/values-$1.yaml" >"$3"
}

expect_rejected() {  # expect_rejected NAME PATTERN helm-args...
  local name=$1 pattern=$2; shift 2
  if "$HELM" template t "$CHART" "$@" >"$WORK/rej.out" 2>"$WORK/rej.err"; then
    fail "$name: rendered, but the schema should have rejected it"
  elif grep -q -- "$pattern" "$WORK/rej.err"; then
    pass "$name"
  else
    fail "$name: failed without naming '$pattern':"; sed 's/^/    /' "$WORK/rej.err"
  fi
}

chart_metadata_checks() {
  check "Chart.yaml is apiVersion v2" grep -qx 'apiVersion: v2' "$CHART/Chart.yaml"
  check "Chart.yaml kubeVersion >=1.26.0-0" grep -qx 'kubeVersion: ">=1.26.0-0"' "$CHART/Chart.yaml"
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash
  check "Chart.yaml has version and appVersion" bash -c \
    'grep -qE "^version: [0-9]+\.[0-9]+\.[0-9]+" "$1" && grep -qE "^appVersion: \"?[0-9]" "$1"' \
    _ "$CHART/Chart.yaml"
  check "renders for Kubernetes 1.26" "$HELM" template t "$CHART" --kube-version 1.26.0
  if "$HELM" template t "$CHART" --kube-version 1.25.0 >/dev/null 2>&1; then
    fail "refuses Kubernetes 1.25 (kubeVersion constraint)"
  else
    pass "refuses Kubernetes 1.25 (kubeVersion constraint)"
  fi
  check "NOTES.txt renders (install --dry-run=client)" \
    "$HELM" install t "$CHART" --namespace syncblock --dry-run=client
  mkdir -p "$WORK/pkg"
  if "$HELM" package "$CHART" -d "$WORK/pkg" >/dev/null 2>&1 \
      && tar tzf "$WORK/pkg"/syncblock-*.tgz >"$WORK/pkg/list" \
      && grep -qx 'syncblock/examples/kubevirt-vm.yaml' "$WORK/pkg/list" \
      && grep -qx 'syncblock/dashboards/syncblock.json' "$WORK/pkg/list"; then
    pass "helm package ships the examples and the dashboard"
  else
    fail "helm package ships the examples and the dashboard"
  fi
}

lint_and_render() {
  check "helm lint (defaults)" "$HELM" lint --strict "$CHART"
  local s
  for s in "${SCENARIOS[@]}"; do
    check "helm lint values-$s.yaml" "$HELM" lint --strict "$CHART" \
      --namespace "${NAMESPACE[$s]}" -f "$HERE/values-$s.yaml"
    check "helm template values-$s.yaml" render "$s" "$CHART" "$WORK/$s.yaml"
  done
}

schema_rejections() {
  expect_rejected "values-typo.yaml rejected by the schema" "podDisruptonBudget" \
    -f "$HERE/values-typo.yaml"
  if "$HELM" lint "$CHART" -f "$HERE/values-typo.yaml" >/dev/null 2>&1; then
    fail "helm lint fails on values-typo.yaml"
  else
    pass "helm lint fails on values-typo.yaml"
  fi
  # A misspelt or wrongly typed key at every level must fail the same way.
  expect_rejected "schema rejects a top-level typo" "snapshot" --set snapshot.enabled=true
  expect_rejected "schema rejects a nested typo" "replica" --set controller.replica=3
  expect_rejected "schema rejects a typo under storage.ports" "nbdd" --set storage.ports.nbdd=1
  expect_rejected "schema rejects a typo in a sidecar" "tags" \
    --set sidecars.attacher.image.tags=v1
  expect_rejected "schema rejects replicas given as a number" "replicas" \
    --set storageClasses.block.replicas=3
  expect_rejected "schema rejects a root storage daemon" "runAsUser" --set storage.runAsUser=0
  expect_rejected "schema rejects an unknown syncMode" "syncMode" \
    --set storageClasses.filesystem.syncMode=eventual
  expect_rejected "schema rejects a typo under tls" "mod" --set tls.mod=certManager
  expect_rejected "schema rejects an unknown tls.mode" "mode" --set tls.mode=selfSigned
  expect_rejected "schema rejects a typo in tls.certManager.issuerRef" "nam" \
    --set tls.certManager.issuerRef.nam=corp-pki
  expect_rejected "schema rejects tls.enabled given as a string" "enabled" \
    --set-string tls.enabled=false
  expect_rejected "schema rejects a zero certificate validity" "certValidityDays" \
    --set tls.certValidityDays=0
  expect_rejected "TLS off without tls.insecure is refused" "tls.insecure=true" \
    --set tls.enabled=false
  expect_rejected "tls.insecure with TLS on is refused" "contradicts" --set tls.insecure=true
  expect_rejected "existingSecret without a Secret name is refused" "tls.existingSecret.name" \
    --set tls.mode=existingSecret
  expect_rejected "pod certificates outliving cert-manager's signing CA are refused" \
    "outlive" --set tls.mode=certManager --set tls.certValidityDays=31
  if [ "$have_yaml" -eq 1 ]; then
    check "values.schema.json: additionalProperties false on every object" \
      "$PYTHON" - "$CHART/values.schema.json" <<'EOF'
import json, sys
schema = json.load(open(sys.argv[1]))
loose = []
def walk(node, path):
    if isinstance(node, dict):
        if "properties" in node and node.get("additionalProperties") is not False:
            loose.append(path or "/")
        for k, v in node.items():
            walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{path}/{i}")
walk(schema, "")
if loose:
    sys.exit("objects accepting unknown keys: " + ", ".join(loose))
EOF
  fi
}

one_object_per_template() {
  # One object per template file, the file named after its kind. Each is
  # rendered with values-all-on.yaml, or, for the objects of another tls.mode,
  # with the first scenario that renders it.
  local f kinds base bad="" s rendered
  for f in "$CHART"/templates/*.yaml; do
    base=$(basename "$f" .yaml)
    rendered=""
    for s in all-on "${SCENARIOS[@]}"; do
      if "$HELM" template t "$CHART" -f "$HERE/values-$s.yaml" \
          --show-only "templates/$base.yaml" >"$WORK/one.yaml" 2>/dev/null; then
        rendered=$s; break
      fi
    done
    [ -n "$rendered" ] || { bad="$bad $base(renders nothing with any values-*.yaml)"; continue; }
    kinds=$(grep -E '^kind: ' "$WORK/one.yaml" | sed 's/kind: //')
    if [ "$(printf '%s\n' "$kinds" | grep -c .)" -ne 1 ]; then
      bad="$bad $base(objects: ${kinds//$'\n'/ })"
    elif [ "${base%%-*}" != "${kinds,,}" ]; then
      bad="$bad $base(kind $kinds)"
    fi
  done
  if [ -z "$bad" ]; then pass "one object per template, file named kind-component"
  else fail "one object per template, file named kind-component:$bad"; fi
}

manifest_checks() {
  local s
  for s in "${SCENARIOS[@]}"; do
    [ -s "$WORK/$s.yaml" ] || continue
    echo "--- checks of values-$s.yaml"
    "$PYTHON" "$HERE/check_manifests.py" "$s" "$WORK/$s.yaml" >"$WORK/$s.out" 2>&1
    if grep -q '^Traceback' "$WORK/$s.out" || ! grep -q '^PASS\|^FAIL' "$WORK/$s.out"; then
      echo "FAIL check_manifests.py $s crashed:" >>"$WORK/$s.out"
    fi
    tally "$WORK/$s.out"
  done
}

grep_checks() {  # The subset that needs no YAML parser.
  local d="$WORK/defaults.yaml"
  check "grep: CSIDriver csi.syncblock.dev" grep -q 'name: csi.syncblock.dev' "$d"
  check "grep: attachRequired true" grep -q 'attachRequired: true' "$d"
  check "grep: leader election on sidecars" test "$(grep -c -- '- --leader-election$' "$d")" -eq 2
  check "grep: provisioner topology and capacity" \
    grep -q -- '--feature-gates=Topology=true' "$d"
  check "grep: PDB maxUnavailable 1" grep -q 'maxUnavailable: 1' "$d"
  check "grep: headless storage Service" grep -q 'clusterIP: None' "$d"
  check "grep: storage nodes from DNS" \
    grep -q 'dns:t-syncblock-storage.syncblock.svc.cluster.local:7400' "$d"
  check "grep: Bidirectional kubelet mount" grep -q 'mountPropagation: Bidirectional' "$d"
  check "grep: WaitForFirstConsumer" test "$(grep -c 'WaitForFirstConsumer' "$d")" -eq 2
}

example_checks() {
  check "examples parse and match the chart's classes" "$PYTHON" - "$CHART" <<'EOF'
import glob, os, sys, yaml
chart = sys.argv[1]
values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
classes = {values["storageClasses"]["filesystem"]["name"], values["storageClasses"]["block"]["name"]}
block = values["storageClasses"]["block"]["name"]
snap_class = values["snapshots"]["volumeSnapshotClass"]["name"]
errors, kinds = [], []
for path in sorted(glob.glob(os.path.join(chart, "examples", "*.yaml"))):
    text = open(path).read()
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        kinds.append(doc["kind"])
        spec = doc.get("spec", {})
        if doc["kind"] == "PersistentVolumeClaim" and spec.get("storageClassName") not in classes:
            errors.append(f"{path}: unknown class {spec.get('storageClassName')}")
        if doc["kind"] == "VolumeSnapshot":
            if spec.get("volumeSnapshotClassName") != snap_class:
                errors.append(f"{path}: snapshot class {spec.get('volumeSnapshotClassName')}")
            if "NEEDS THE SNAPSHOT FEATURE" not in text:
                errors.append(f"{path}: not marked as needing snapshots")
        if doc["kind"] == "VirtualMachine":
            for dv in spec.get("dataVolumeTemplates", []):
                st = dv["spec"]["storage"]
                if (st.get("storageClassName"), st.get("accessModes"), st.get("volumeMode")) != (block, ["ReadWriteMany"], "Block"):
                    errors.append(f"{path}: VM disk is not RWX Block on {block}")
        if doc["kind"] == "StorageProfile":
            sets = spec.get("claimPropertySets", [])
            if doc["metadata"]["name"] != block or {"accessModes": ["ReadWriteMany"], "volumeMode": "Block"} not in sets:
                errors.append(f"{path}: StorageProfile is not RWX Block for {block}")
        if doc["kind"] == "VolumeAttributesClass":
            params = doc.get("parameters", {})
            if doc.get("driverName") != "csi.syncblock.dev":
                errors.append(f"{path}: VolumeAttributesClass for driver {doc.get('driverName')}")
            unknown = set(params) - {"replicas", "maxIops", "maxBandwidth", "burst", "syncMode"}
            if unknown:
                errors.append(f"{path}: parameters ControllerModifyVolume refuses: {sorted(unknown)}")
            if "volumeModification.enabled=true" not in text:
                errors.append(f"{path}: not marked as needing volumeModification")
        if doc["kind"] == "PersistentVolumeClaim" and spec.get("volumeMode") == "Block":
            if spec.get("accessModes") != ["ReadWriteMany"] or spec.get("storageClassName") != block:
                errors.append(f"{path}: block PVC is not RWX on {block}")
want = {"PersistentVolumeClaim", "Pod", "VolumeSnapshot", "VirtualMachine",
        "VirtualMachineInstanceMigration", "StorageProfile", "VolumeAttributesClass"}
missing = want - set(kinds)
if missing:
    errors.append(f"no example of {sorted(missing)}")
if sum(1 for k in kinds if k == "VolumeAttributesClass") < 2:
    errors.append("expected gold and silver VolumeAttributesClasses")
if sum(1 for k in kinds if k == "PersistentVolumeClaim") < 4:
    errors.append("expected PVCs: filesystem, block RWX, restore, clone")
if errors:
    sys.exit("\n".join(errors))
EOF
}

mutation_checks() {
  # Each mutation breaks something the issue asks for; the checks must fail.
  HELM="$HELM" "$PYTHON" - "$CHART" "$HERE" "$WORK" >"$WORK/mut.out" 2>&1 <<'EOF'
import os, shutil, subprocess, sys
chart, here, work = sys.argv[1:4]
MUTATIONS = [
    ("attacher without leader election", "templates/deployment-controller.yaml",
     "            - --leader-election\n            - --timeout=60s",
     "            - --timeout=60s"),
    ("an extra verb for the attacher", "templates/clusterrole-attacher.yaml",
     'verbs: ["get", "list", "watch", "update", "patch"]',
     'verbs: ["get", "list", "watch", "update", "patch", "delete"]'),
    ("PDB allowing two evictions", "values.yaml",
     "    maxUnavailable: 1", "    maxUnavailable: 2"),
    ("not-ready storage nodes in DNS", "templates/service-storage.yaml",
     "publishNotReadyAddresses: false", "publishNotReadyAddresses: true"),
    ("storage class with 2 replicas", "values.yaml",
     '    replicas: "3"', '    replicas: "2"'),
    ("kubelet dir without propagation", "templates/daemonset-node.yaml",
     "mountPropagation: Bidirectional", "mountPropagation: HostToContainer"),
    ("an extra verb for the snapshotter", "templates/clusterrole-snapshotter.yaml",
     'verbs: ["get", "list", "watch", "update", "patch"]',
     'verbs: ["create", "get", "list", "watch", "update", "patch"]'),
    ("resizer without leader election", "templates/deployment-controller.yaml",
     "            - --leader-election\n            - --handle-volume-inuse-error=false",
     "            - --handle-volume-inuse-error=false"),
    ("snapshots off by default", "values.yaml",
     "VolumeSnapshotClass.\n  enabled: true", "VolumeSnapshotClass.\n  enabled: false"),
    ("expansion off by default", "values.yaml",
     "its RBAC.\n  enabled: true", "its RBAC.\n  enabled: false"),
    ("filesystem class without expansion", "values.yaml",
     "    allowVolumeExpansion: true", "    allowVolumeExpansion: false"),
    ("storage daemon as root", "templates/daemonset-storage.yaml",
     "runAsUser: {{ .Values.storage.runAsUser }}\n            runAsGroup",
     "runAsUser: 0\n            runAsGroup"),
    ("TLS off by default", "values.yaml",
     "  # tls.insecure=true.\n  enabled: true\n  # -- Confirms plaintext: with tls.enabled=false every daemon runs with\n"
     "  # --insecure (and logs a warning at every start). Refused while tls.enabled\n"
     "  # is true.\n  insecure: false",
     "  # tls.insecure=true.\n  enabled: false\n  # -- Confirms plaintext: with tls.enabled=false every daemon runs with\n"
     "  # --insecure (and logs a warning at every start). Refused while tls.enabled\n"
     "  # is true.\n  insecure: true"),
    ("TLS files mounted with subPath", "templates/_tls.tpl",
     "  mountPath: {{ include \"syncblock.tls.dir\" . }}\n  readOnly: true",
     "  mountPath: {{ include \"syncblock.tls.dir\" . }}/tls.crt\n  subPath: tls.crt\n  readOnly: true"),
    ("the daemon sees the signing CA", "templates/_tls.tpl",
     "{{- define \"syncblock.tls.mount\" -}}\n{{- if .Values.tls.enabled }}\n",
     "{{- define \"syncblock.tls.mount\" -}}\n{{- if .Values.tls.enabled }}\n"
     "- name: tls-signer\n  mountPath: /etc/syncblock/tls-signer\n"),
    ("storage certificate without the fixed server name", "templates/_tls.tpl",
     "{{- list (include \"syncblock.tls.serverName\" .) $svc", "{{- list $svc"),
    ("node plugin certificate named after the pod", "templates/_tls.tpl",
     "          fieldPath: spec.nodeName", "          fieldPath: metadata.name"),
    ("certificate and key on the node's disk", "templates/_tls.tpl",
     "    medium: Memory\n", ""),
    ("a node plugin's TLS key flag dropped", "templates/daemonset-node.yaml",
     "{{- include \"syncblock.tls.args\" . | trim | nindent 12 }}", ""),
]
for name, rel, old, new in MUTATIONS:
    copy = os.path.join(work, "mut")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(chart, copy)
    path = os.path.join(copy, rel)
    text = open(path).read()
    if old not in text:
        print(f"FAIL mutation '{name}': text not found in {rel} (update the test)")
        continue
    open(path, "w").write(text.replace(old, new, 1))
    out = os.path.join(work, "mut.yaml")
    with open(out, "w") as f:
        rendered = subprocess.run([os.environ["HELM"], "template", "t", copy, "--namespace",
                                   "syncblock", "-f", os.path.join(here, "values-defaults.yaml")],
                                  stdout=f, stderr=subprocess.DEVNULL).returncode == 0
    caught = not rendered or subprocess.run(
        [sys.executable, os.path.join(here, "check_manifests.py"), "defaults", out],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0
    print(f"PASS mutation '{name}' is caught" if caught else f"FAIL mutation '{name}' went unnoticed")
EOF
  tally "$WORK/mut.out"
}

pdb_node_count_checks() {
  # `helm template` has no cluster, so lookup returns nothing. In a copy of
  # the chart, lookup's answer comes from values instead: 3 of the 5 nodes
  # carry the storage label, so the budget must be minAvailable 2.
  rm -rf "$WORK/pdb" && cp -r "$CHART" "$WORK/pdb" && rm "$WORK/pdb/values.schema.json"
  local tpl="$WORK/pdb/templates/poddisruptionbudget-storage.yaml"
  if ! grep -q 'lookup "v1" "Node" "" ""' "$tpl"; then
    fail "PDB node count: lookup of Nodes not found in the template (update the test)"
    return
  fi
  sed -i 's/lookup "v1" "Node" "" ""/dict "items" .Values.fakeNodes/' "$tpl"
  cat >"$WORK/pdb/nodes.yaml" <<'NODES'
fakeNodes:
  - metadata: {name: a, labels: {syncblock.dev/storage: "true", kubernetes.io/os: linux}}
  - metadata: {name: b, labels: {syncblock.dev/storage: "true"}}
  - metadata: {name: c, labels: {syncblock.dev/storage: "true"}}
  - metadata: {name: d, labels: {syncblock.dev/storage: "false"}}
  - metadata: {name: e}
NODES
  if "$HELM" template t "$WORK/pdb" -f "$WORK/pdb/nodes.yaml" \
      --show-only templates/poddisruptionbudget-storage.yaml >"$WORK/pdb.yaml" 2>&1 \
      && grep -qx '  minAvailable: 2' "$WORK/pdb.yaml" && ! grep -q maxUnavailable "$WORK/pdb.yaml"; then
    pass "PDB counts the labelled storage nodes: minAvailable 2 of 3"
  else
    fail "PDB counts the labelled storage nodes: minAvailable 2 of 3"; sed 's/^/    /' "$WORK/pdb.yaml"
  fi
  if "$HELM" template t "$WORK/pdb" -f "$WORK/pdb/nodes.yaml" \
      --set storage.podDisruptionBudget.storageNodes=7 \
      --show-only templates/poddisruptionbudget-storage.yaml >"$WORK/pdb.yaml" 2>&1 \
      && grep -qx '  minAvailable: 6' "$WORK/pdb.yaml"; then
    pass "PDB: an explicit storageNodes wins over the count"
  else
    fail "PDB: an explicit storageNodes wins over the count"; sed 's/^/    /' "$WORK/pdb.yaml"
  fi
}


# Installs the schema packages into a cache (no lock file: it would name the
# registry); prints the directory, or nothing when they cannot be had.
schema_modules() {
  local cache=${SYNCBLOCK_SCHEMA_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/syncblock/chart-schema}
  mkdir -p "$cache" || return 1
  if ! cmp -s "$HERE/schema/package.json" "$cache/package.json" \
      || [ ! -d "$cache/node_modules/kubernetes-models" ]; then
    cp "$HERE/schema/package.json" "$cache/package.json"
    (cd "$cache" && npm install --no-package-lock --no-audit --no-fund --silent) \
      >"$WORK/npm.log" 2>&1 || { sed 's/^/    /' "$WORK/npm.log" | tail -5 >&2; return 1; }
  fi
  cp "$HERE/schema/validate.mjs" "$cache/validate.mjs"
  echo "$cache"
}

to_json() {  # to_json YAML-FILES... > JSON (one array of every document)
  "$PYTHON" -c '
import json, sys, yaml
docs = []
for path in sys.argv[1:]:
    with open(path) as f:
        docs += [d for d in yaml.safe_load_all(f) if d]
print(json.dumps(docs))' "$@"
}

schema_checks() {
  local modules s
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    skip_or_fail "Kubernetes schema validation: node and npm are needed (Debian: nodejs npm)"
    return
  fi
  if ! modules=$(schema_modules); then
    skip_or_fail "Kubernetes schema validation: npm could not install tests/chart/schema/package.json"
    return
  fi
  for s in "${SCENARIOS[@]}"; do
    [ -s "$WORK/$s.yaml" ] || continue
    to_json "$WORK/$s.yaml" >"$WORK/$s.json"
    node "$modules/validate.mjs" "values-$s.yaml" "$WORK/$s.json" >"$WORK/schema-$s.out" 2>&1
    grep -q '^PASS\|^FAIL' "$WORK/schema-$s.out" || echo "FAIL validate.mjs crashed" >>"$WORK/schema-$s.out"
    tally "$WORK/schema-$s.out"
  done
  to_json "$CHART"/examples/*.yaml >"$WORK/examples.json"
  node "$modules/validate.mjs" examples "$WORK/examples.json" >"$WORK/schema-ex.out" 2>&1
  grep -q '^PASS\|^FAIL' "$WORK/schema-ex.out" || echo "FAIL validate.mjs crashed" >>"$WORK/schema-ex.out"
  tally "$WORK/schema-ex.out"
}

# The previous chart version from git: the newest commit whose Chart.yaml
# names another version. Prints the commit, or nothing.
previous_chart_commit() {
  local current c v
  current=$(sed -n 's/^version: *//p' "$CHART/Chart.yaml")
  git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 || return 1
  for c in $(git -C "$ROOT" log --format=%H -- charts/syncblock/Chart.yaml); do
    v=$(git -C "$ROOT" show "$c:charts/syncblock/Chart.yaml" 2>/dev/null | sed -n 's/^version: *//p')
    if [ -n "$v" ] && [ "$v" != "$current" ]; then
      echo "$c $v"
      return 0
    fi
  done
  return 1
}

upgrade_checks() {
  local prev commit version s
  if ! prev=$(previous_chart_commit); then
    skip_or_fail "chart upgrade: no earlier chart version in the git history"
    return
  fi
  read -r commit version <<<"$prev"
  rm -rf "$WORK/prev" && mkdir -p "$WORK/prev"
  git -C "$ROOT" archive "$commit" charts/syncblock | tar -x -C "$WORK/prev"
  echo "--- upgrade from chart $version (commit ${commit:0:12})"
  for s in defaults all-on; do
    # The previous chart with the same values file, else its defaults (a
    # values file may name keys the old schema did not have).
    if ! render "$s" "$WORK/prev/charts/syncblock" "$WORK/prev-$s.yaml" 2>/dev/null; then
      # Keys added since that version are dropped, so the same choices are
      # compared (an upgrade with the same values file is what users do).
      echo "NOTE chart $version does not take all of values-$s.yaml; the keys it knows are used"
      "$PYTHON" -c '
import json, os, sys, yaml
def keep(values, schema):
    # Where the old schema closes an object, keys it does not list are new:
    # dropped, also nested (a key added under an old section). Free-form maps
    # (StorageClass parameters) are kept whole.
    if not isinstance(values, dict) or not isinstance(schema, dict):
        return values
    props = schema.get("properties")
    if props is None or schema.get("additionalProperties", True) is not False:
        return values
    return {k: keep(v, props[k]) for k, v in values.items() if k in props}
known = yaml.safe_load(open(sys.argv[1])) or {}
schema_path = os.path.join(os.path.dirname(sys.argv[1]), "values.schema.json")
schema = json.load(open(schema_path)) if os.path.exists(schema_path) else {}
values = yaml.safe_load(open(sys.argv[2])) or {}
values = {k: v for k, v in values.items() if k in known}
yaml.safe_dump(keep(values, schema), sys.stdout)' \
        "$WORK/prev/charts/syncblock/values.yaml" "$HERE/values-$s.yaml" >"$WORK/prev-values-$s.yaml"
      "$HELM" template t "$WORK/prev/charts/syncblock" --namespace "${NAMESPACE[$s]}" \
        -f "$WORK/prev-values-$s.yaml" >"$WORK/prev-$s.yaml" ||
        { fail "chart $version renders the values it knows of values-$s.yaml"; continue; }
    fi
    "$PYTHON" "$HERE/immutable_fields.py" "$WORK/prev-$s.yaml" "$WORK/$s.yaml" \
      | sed "s/^\(PASS\|FAIL\) upgrade/\1 upgrade $version -> this (values-$s.yaml)/" >"$WORK/upg.out"
    tally "$WORK/upg.out"
  done
}

values_doc_checks() {
  "$PYTHON" "$HERE/values_doc.py" "$CHART" >"$WORK/doc.out" 2>&1
  grep -q '^PASS\|^FAIL' "$WORK/doc.out" || echo "FAIL values_doc.py crashed" >>"$WORK/doc.out"
  tally "$WORK/doc.out"
}

skip_or_fail() {
  if [ -n "${SYNCBLOCK_REQUIRE_HELM:-}" ]; then fail "$1"; else echo "SKIP $1"; fi
}

if command -v "$HELM" >/dev/null 2>&1; then
  echo "--- chart ($("$HELM" version --short 2>/dev/null))"
  chart_metadata_checks
  lint_and_render
  schema_rejections
  one_object_per_template
  pdb_node_count_checks
  if [ "$have_yaml" -eq 1 ]; then
    manifest_checks
    example_checks
    mutation_checks
    echo "--- Kubernetes OpenAPI schemas"
    schema_checks
    upgrade_checks
    values_doc_checks
  else
    echo "NOTE: python3 PyYAML not found (Debian: python3-yaml); running grep checks only"
    grep_checks
  fi
elif [ -n "${SYNCBLOCK_REQUIRE_HELM:-}" ]; then
  fail "helm not found and SYNCBLOCK_REQUIRE_HELM is set (scripts/install-helm.sh installs it)"
else
  echo "SKIP chart tests: helm not found. Install it with scripts/install-helm.sh;"
  echo "     set SYNCBLOCK_REQUIRE_HELM=1 to make a missing helm a failure."
fi

echo "--- Dockerfile"
"$HERE/check_dockerfile.sh" "$ROOT" >"$WORK/docker.out" 2>&1
if ! grep -q '^PASS\|^FAIL' "$WORK/docker.out"; then
  echo "FAIL check_dockerfile.sh crashed" >>"$WORK/docker.out"
fi
tally "$WORK/docker.out"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
