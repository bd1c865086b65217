#!/usr/bin/env python3
"""Checks the manifests `helm template` renders from the syncblock chart.

usage: check_manifests.py SCENARIO MANIFESTS.yaml

SCENARIO is one of the tests/chart/values-*.yaml cases (defaults, all-on,
custom). The expectations below are written out by hand for each scenario,
not derived from the chart's values, so that a template that drifts from
what the driver, the sidecars and the issue ask for fails here.

Prints one "PASS name" or "FAIL name: why" line per check; exits 0 when all
passed, 1 otherwise. Needs PyYAML (Debian: python3-yaml).
"""

import json
import sys

import yaml

DRIVER = "csi.syncblock.dev"
REGISTRY = "registry.k8s.io/sig-storage"

# ---------------------------------------------------------------------------
# Expected RBAC, one entry per sidecar: {(apiGroup, resource): {verbs}}. From
# each sidecar's upstream deploy/kubernetes rbac.yaml at the pinned versions,
# minus optional rules the chart does not need (secrets, group snapshots).
PROVISIONER_RULES = {
    ("", "persistentvolumes"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "persistentvolumeclaims"): {"get", "list", "watch", "update"},
    ("storage.k8s.io", "storageclasses"): {"get", "list", "watch"},
    ("", "events"): {"list", "watch", "create", "update", "patch"},
    ("snapshot.storage.k8s.io", "volumesnapshots"): {"get", "list"},
    ("snapshot.storage.k8s.io", "volumesnapshotcontents"): {"get", "list"},
    ("storage.k8s.io", "csinodes"): {"get", "list", "watch"},
    ("", "nodes"): {"get", "list", "watch"},
    ("storage.k8s.io", "volumeattachments"): {"get", "list", "watch"},
}
PROVISIONER_CAPACITY_RULES = {
    ("storage.k8s.io", "csistoragecapacities"):
        {"get", "list", "watch", "create", "update", "patch", "delete"},
    ("", "pods"): {"get"},
    ("apps", "replicasets"): {"get"},
}
ATTACHER_RULES = {
    ("", "persistentvolumes"): {"get", "list", "watch", "update", "patch"},
    ("", "nodes"): {"get", "list", "watch"},
    ("storage.k8s.io", "csinodes"): {"get", "list", "watch"},
    ("storage.k8s.io", "volumeattachments"): {"get", "list", "watch", "update", "patch"},
    ("storage.k8s.io", "volumeattachments/status"): {"patch"},
}
SNAPSHOTTER_RULES = {
    ("", "events"): {"list", "watch", "create", "update", "patch"},
    ("snapshot.storage.k8s.io", "volumesnapshotclasses"): {"get", "list", "watch"},
    ("snapshot.storage.k8s.io", "volumesnapshotcontents"):
        {"get", "list", "watch", "update", "patch"},
    ("snapshot.storage.k8s.io", "volumesnapshotcontents/status"): {"update", "patch"},
}
RESIZER_RULES = {
    ("", "persistentvolumes"): {"get", "list", "watch", "patch"},
    ("", "persistentvolumeclaims"): {"get", "list", "watch"},
    ("", "persistentvolumeclaims/status"): {"patch"},
    ("", "events"): {"list", "watch", "create", "update", "patch"},
}
# With snapshots.groupSnapshots on: the snapshotter also reads group classes
# and updates group contents.
GROUP_SNAPSHOTTER_RULES = {
    ("groupsnapshot.storage.k8s.io", "volumegroupsnapshotclasses"): {"get", "list", "watch"},
    ("groupsnapshot.storage.k8s.io", "volumegroupsnapshotcontents"):
        {"get", "list", "watch", "update", "patch"},
    ("groupsnapshot.storage.k8s.io", "volumegroupsnapshotcontents/status"): {"update", "patch"},
}
# With volumeModification on: both read VolumeAttributesClasses.
VAC_RESIZER_RULES = {("storage.k8s.io", "volumeattributesclasses"): {"get", "list", "watch"}}
VAC_PROVISIONER_RULES = {("storage.k8s.io", "volumeattributesclasses"): {"get"}}
LEADER_ELECTION_RULES = {
    ("coordination.k8s.io", "leases"): {"get", "watch", "list", "delete", "update", "create"},
}

# ---------------------------------------------------------------------------
# Scenarios.
SCENARIOS = {
    "defaults": {
        "namespace": "syncblock",
        "prefix": "t-syncblock",
        "image": "ghcr.io/syncblock/syncblock:0.3.0",
        "sidecar_registry": REGISTRY,
        "storage_nodes": "dns:t-syncblock-storage.syncblock.svc.cluster.local:7400",
        "snapshots": True, "expansion": True, "capacity": True, "modify": False,
        "group_snapshots": None,
        "snapshot_class": {"name": "syncblock-snapshot", "deletionPolicy": "Delete",
                           "default": False},
        "service_monitor": False, "dashboard": False, "alerts": False, "pdb": True,
        # None: no node count known, so the budget refuses every eviction.
        "pdb_min_available": None,
        "controller_replicas": 2, "controller_health_port": 9808,
        "controller_extra": [], "node_extra": [], "storage_extra": [],
        "witness_replace_after": 60,
        "log_level": "info",
        "kubelet_dir": "/var/lib/kubelet", "attach": "auto",
        "state_dir": "/var/lib/syncblock/csi",
        "node_host_network": True, "node_health_port": 9809,
        "node_zone": ("label", "topology.k8s.io/zone"),
        "storage_zone": ("label", "topology.k8s.io/zone"),
        "storage_host_network": False,
        "storage_selector": {"syncblock.dev/storage": "true"},
        "data_dir": "/var/lib/syncblock/data",
        "ports": {"control": 7400, "replication": 7401, "nbd": 7402, "metrics": 7403},
        "io_timeout": "30000", "resync_rate": "256MiB", "storage_uid": 65532,
        "classes": {
            "syncblock": {
                "parameters": {"csi.storage.k8s.io/fstype": "ext4", "replicas": "3",
                               "syncMode": "sync"},
                "default": False, "reclaim": "Delete", "expand": True},
            "syncblock-block": {
                "parameters": {"replicas": "3", "syncMode": "sync"},
                "default": False, "reclaim": "Delete", "expand": True},
        },
        "pull_secrets": [],
        "common_labels": {},
        # TLS: mode, signing CAs, certificate validity (days); None: --insecure.
        "tls": {"mode": "generate", "own_ca": False, "issuer": None, "days": "30",
                "existing": None},
        "snapshot_metadata": False,
    },
}
SCENARIOS["all-on"] = dict(
    SCENARIOS["defaults"],
    snapshots=True, expansion=True, service_monitor=True, dashboard=True, alerts=True,
    pdb_min_available=4, modify=True,
    group_snapshots={"name": "syncblock-group", "default": True, "deletionPolicy": "Retain"},
    controller_replicas=3, log_level="debug", witness_replace_after=30,
    controller_extra=["--extra-one", "--extra-two=2"], attach="fuse",
    storage_extra=["--extra-three"],
    node_zone=("value", "zone-a"), storage_zone=None, storage_host_network=True,
    classes={
        "syncblock": {
            "parameters": {"csi.storage.k8s.io/fstype": "xfs", "replicas": "3",
                           "syncMode": "sync", "dataLocality": "true", "zoneSpread": "true"},
            "default": True, "reclaim": "Delete", "expand": True},
        "syncblock-block": {
            "parameters": {"replicas": "2", "syncMode": "sync"},
            "default": False, "reclaim": "Delete", "expand": True},
    },
    snapshot_class={"name": "syncblock-snapshot", "deletionPolicy": "Retain", "default": True},
    pull_secrets=["regcred"],
    common_labels={"team": "storage"},
    snapshot_metadata=True,
)
SCENARIOS["tls-certmanager"] = dict(
    SCENARIOS["defaults"], snapshot_metadata=True,
    tls={"mode": "certManager", "own_ca": True, "days": "20", "duration": "1440h",
         "renew_before": "480h", "issuer": ("t-syncblock-tls-ca", "Issuer", "cert-manager.io"),
         "existing": None})
SCENARIOS["tls-issuer"] = dict(
    SCENARIOS["defaults"],
    tls={"mode": "certManager", "own_ca": False, "days": "30", "duration": "2160h",
         "renew_before": "720h", "issuer": ("corp-pki", "ClusterIssuer", "cert-manager.io"),
         "existing": None})
SCENARIOS["tls-existing"] = dict(
    SCENARIOS["defaults"],
    tls={"mode": "existingSecret", "own_ca": False, "issuer": None, "days": "7",
         "existing": "syncblock-signing-ca"})
SCENARIOS["insecure"] = dict(SCENARIOS["defaults"], tls=None)
SCENARIOS["custom"] = dict(
    SCENARIOS["defaults"],
    namespace="storage-system", prefix="sb",
    snapshots=False, expansion=False,
    image="mirror.example.internal/syncblock/syncblock:0.1.0-rc1",
    sidecar_registry="mirror.example.internal/sig-storage",
    storage_nodes="dns:sb-storage.storage-system.svc.k8s.example.internal:17400",
    capacity=False, pdb=False, controller_replicas=1, controller_health_port=19808,
    kubelet_dir="/var/snap/microk8s/common/var/lib/kubelet",
    state_dir="/opt/syncblock/csi", node_host_network=False, node_health_port=19809,
    node_zone=("label", "example.com/zone"),
    storage_selector={"example.com/disks": "nvme"}, data_dir="/mnt/nvme/syncblock",
    ports={"control": 17400, "replication": 17401, "nbd": 17402, "metrics": 17403},
    io_timeout="5000", resync_rate="1GiB", storage_uid=2000,
    classes={
        "vm-disks": {
            "parameters": {"replicas": "5", "syncMode": "async"},
            "default": False, "reclaim": "Retain", "expand": False},
    },
)

# ---------------------------------------------------------------------------


class Checker:
    def __init__(self, scenario, docs):
        self.s = SCENARIOS[scenario]
        self.docs = docs
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, why=""):
        if ok:
            self.passed += 1
            print(f"PASS {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {why}")

    def eq(self, name, got, want):
        self.check(name, got == want, f"got {got!r}, want {want!r}")

    def of_kind(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind, name):
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        return found[0] if len(found) == 1 else None

    def name(self, suffix):
        return f"{self.s['prefix']}-{suffix}"


def component(doc):
    return doc["metadata"].get("labels", {}).get("app.kubernetes.io/component", "-")


def containers(pod_spec):
    return {c["name"]: c for c in pod_spec.get("containers", [])}


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def mounts_of(container):
    return {m["name"]: m for m in container.get("volumeMounts", [])}


def rules_of(role):
    out = {}
    for rule in role.get("rules", []):
        for group in rule.get("apiGroups", []):
            for res in rule.get("resources", []):
                key = (group, res)
                if key in out:
                    # A resource split over two rules is legal but hides
                    # mistakes; the chart keeps one rule per resource.
                    out[key] = None
                else:
                    out[key] = set(rule.get("verbs", []))
    return out


def tls_args(s):
    if not s["tls"]:
        return ["--insecure"]
    return ["--tls-ca", "/etc/syncblock/tls/ca.crt", "--tls-cert", "/etc/syncblock/tls/tls.crt",
            "--tls-key", "/etc/syncblock/tls/tls.key"]


def issues_own(s, role):
    """Whether a role's pods issue their own certificate (tls-issue, tls-renew)."""
    return bool(s["tls"]) and (s["tls"]["mode"] != "certManager" or role in ("storage", "node"))


def renew(s, role):
    return ["tls-renew"] if issues_own(s, role) else []


def zone_args(zone):
    return ["--zone", "$(ZONE)"] if zone else []


def check_zone_env(c, name, env, zone):
    if zone is None:
        c.check(f"{name} has no ZONE env", "ZONE" not in env, f"env {sorted(env)}")
        return
    z = env.get("ZONE")
    if zone[0] == "value":
        c.eq(f"{name} ZONE value", z and z.get("value"), zone[1])
    else:
        path = z and z.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        c.eq(f"{name} ZONE from downward API", path, f"metadata.labels['{zone[1]}']")


def check_inventory(c):
    s = c.s
    expected = {
        ("CSIDriver", "-"): 1,
        ("Deployment", "controller"): 1,
        ("DaemonSet", "node"): 1,
        ("DaemonSet", "storage"): 1,
        ("Service", "storage"): 1,
        ("ServiceAccount", "controller"): 1,
        ("ServiceAccount", "node"): 1,
        ("ServiceAccount", "storage"): 1,
        ("ClusterRole", "controller"): 2 + s["snapshots"] + s["expansion"],
        ("ClusterRoleBinding", "controller"): 2 + s["snapshots"] + s["expansion"],
        ("Role", "controller"): 1 + s["capacity"],
        ("RoleBinding", "controller"): 1 + s["capacity"],
        ("StorageClass", "-"): len(s["classes"]),
    }
    if s["pdb"]:
        expected[("PodDisruptionBudget", "storage")] = 1
    if s["snapshots"]:
        expected[("VolumeSnapshotClass", "-")] = 1
    if s["group_snapshots"]:
        expected[("VolumeGroupSnapshotClass", "-")] = 1
    if s["service_monitor"]:
        expected[("ServiceMonitor", "storage")] = 1
    if s["dashboard"]:
        expected[("ConfigMap", "storage")] = 1
    if s["alerts"]:
        expected[("PrometheusRule", "storage")] = 1
    tls = s["tls"]
    if tls:
        expected[("ConfigMap", "tls")] = 1
        if tls["mode"] == "generate":
            expected[("Secret", "tls")] = 1
        if tls["mode"] == "certManager":
            # Signing CAs of storage and node, the controller's certificate
            # (and changed-block tracking's), the chart's own root and Issuers.
            expected[("Certificate", "tls")] = 3 + s["snapshot_metadata"] + tls["own_ca"]
            if tls["own_ca"]:
                expected[("Issuer", "tls")] = 2
    got = {}
    for d in c.docs:
        key = (d["kind"], component(d))
        got[key] = got.get(key, 0) + 1
    c.eq("object inventory (kind, component) -> count", dict(sorted(got.items())),
         dict(sorted(expected.items())))
    names = [(d["kind"], d["metadata"]["name"]) for d in c.docs]
    c.check("object names unique per kind", len(names) == len(set(names)), str(names))
    long = [n for _, n in names if len(n) > 63]
    c.check("object names at most 63 characters", not long, str(long))
    cluster_scoped = {"CSIDriver", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                      "VolumeSnapshotClass", "VolumeGroupSnapshotClass"}
    wrong_ns = [(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))
                for d in c.docs
                if (d["kind"] in cluster_scoped) == ("namespace" in d["metadata"])
                or (d["kind"] not in cluster_scoped
                    and d["metadata"]["namespace"] != s["namespace"])]
    c.check(f"namespaced objects in {s['namespace']}, cluster-scoped ones in none",
            not wrong_ns, str(wrong_ns))
    unlabelled = [d["metadata"]["name"] for d in c.docs
                  if d["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") != "Helm"
                  or any(d["metadata"]["labels"].get(k) != v
                         for k, v in s["common_labels"].items())]
    c.check("every object carries the chart and common labels", not unlabelled, str(unlabelled))


def check_csidriver(c):
    d = c.one("CSIDriver", DRIVER)
    if not d:
        c.check("CSIDriver csi.syncblock.dev", False, "missing")
        return
    c.eq("CSIDriver spec", d["spec"], {
        "attachRequired": True, "podInfoOnMount": True, "fsGroupPolicy": "File",
        "storageCapacity": c.s["capacity"], "volumeLifecycleModes": ["Persistent"]})


def check_workload_basics(c, wl, label):
    spec = wl["spec"]
    tmpl_labels = spec["template"]["metadata"]["labels"]
    sel = spec["selector"]["matchLabels"]
    c.check(f"{label} selector matches its pod labels",
            all(tmpl_labels.get(k) == v for k, v in sel.items()), f"{sel} vs {tmpl_labels}")
    pod = spec["template"]["spec"]
    volumes = {v["name"] for v in pod.get("volumes", [])}
    dangling = [(cn, m["name"]) for cn, ct in containers(pod).items()
                for m in ct.get("volumeMounts", []) if m["name"] not in volumes]
    dangling += [(ic["name"], m["name"]) for ic in pod.get("initContainers", [])
                 for m in ic.get("volumeMounts", []) if m["name"] not in volumes]
    c.check(f"{label} mounts only volumes it declares", not dangling, str(dangling))
    secrets = [p["name"] for p in pod.get("imagePullSecrets", [])]
    c.eq(f"{label} imagePullSecrets", secrets, c.s["pull_secrets"])
    return pod


def sidecar_image(c, name):
    return f"{c.s['sidecar_registry']}/{name}"


def check_controller(c):
    s = c.s
    d = c.one("Deployment", c.name("controller"))
    if not d:
        c.check("controller Deployment", False, "missing")
        return
    pod = check_workload_basics(c, d, "controller")
    c.eq("controller replicas", d["spec"]["replicas"], s["controller_replicas"])
    c.eq("controller serviceAccountName", pod["serviceAccountName"], c.name("controller"))
    cs = containers(pod)
    want = ["syncblock", "csi-provisioner", "csi-attacher"]
    if s["snapshots"]:
        want.append("csi-snapshotter")
    if s["expansion"]:
        want.append("csi-resizer")
    want.append("liveness-probe")
    c.eq("controller containers", list(cs), want + renew(s, "controller"))
    plugin = cs.get("syncblock", {})
    c.eq("controller syncblock image", plugin.get("image"), s["image"])
    c.eq("controller syncblock args", plugin.get("args"), [
        "csi", "--mode", "controller", "--endpoint", "unix:///csi/csi.sock",
        "--storage-nodes", s["storage_nodes"], "--node-id", "$(NODE_NAME)",
        "--log-level", s["log_level"],
        "--witness-replace-after=%d" % s["witness_replace_after"]] + tls_args(s)
        + s["controller_extra"])
    node_name = env_of(plugin).get("NODE_NAME", {})
    c.eq("controller NODE_NAME from spec.nodeName",
         node_name.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath"), "spec.nodeName")
    sidecar_args = {
        "csi-provisioner": ["--csi-address=/csi/csi.sock", "--v=2", "--leader-election",
                            "--feature-gates=Topology=true"
                            + (",VolumeAttributesClass=true" if s["modify"] else "")]
        + (["--enable-capacity", "--capacity-ownerref-level=2"] if s["capacity"] else [])
        + ["--extra-create-metadata", "--default-fstype=ext4", "--timeout=60s"],
        "csi-attacher": ["--csi-address=/csi/csi.sock", "--v=2", "--leader-election",
                         "--timeout=60s"],
        "csi-snapshotter": ["--csi-address=/csi/csi.sock", "--v=2", "--leader-election",
                            "--extra-create-metadata", "--timeout=60s"]
        + (["--feature-gates=CSIVolumeGroupSnapshot=true"] if s["group_snapshots"] else []),
        "csi-resizer": ["--csi-address=/csi/csi.sock", "--v=2", "--leader-election",
                        "--handle-volume-inuse-error=false", "--timeout=60s"]
        + (["--feature-gates=VolumeAttributesClass=true"] if s["modify"] else []),
        "liveness-probe": ["--csi-address=/csi/csi.sock",
                           f"--health-port={s['controller_health_port']}"],
    }
    images = {"csi-provisioner": "csi-provisioner:v5.2.0", "csi-attacher": "csi-attacher:v4.8.1",
              "csi-snapshotter": "csi-snapshotter:v8.2.1", "csi-resizer": "csi-resizer:v1.13.2",
              "liveness-probe": "livenessprobe:v2.15.0"}
    for name, args in sidecar_args.items():
        if name in cs:
            c.eq(f"controller {name} args", cs[name].get("args"), args)
            c.eq(f"controller {name} image", cs[name].get("image"),
                 sidecar_image(c, images[name]))
    leaderless = [n for n in cs if n not in ("syncblock", "liveness-probe", "tls-renew")
                  and "--leader-election" not in cs[n].get("args", [])]
    c.check("every controller sidecar runs with --leader-election", not leaderless,
            str(leaderless))
    prov_env = env_of(cs.get("csi-provisioner", {}))
    if s["capacity"]:
        c.eq("provisioner capacity env (owner lookup)",
             {k: v["valueFrom"]["fieldRef"]["fieldPath"] for k, v in prov_env.items()},
             {"NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"})
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    c.eq("controller socket dir is an emptyDir", vols.get("socket-dir"),
         {"name": "socket-dir", "emptyDir": {}})
    not_shared = [n for n, ct in cs.items() if n != "tls-renew"
                  and mounts_of(ct).get("socket-dir", {}).get("mountPath") != "/csi"]
    c.check("every controller container mounts the socket dir at /csi", not not_shared,
            str(not_shared))
    probe = plugin.get("livenessProbe", {}).get("httpGet", {})
    ports = {p["name"]: p["containerPort"] for p in plugin.get("ports", [])}
    c.check("controller liveness on /healthz of the livenessprobe port",
            probe.get("path") == "/healthz" and probe.get("port") == "healthz"
            and ports.get("healthz") == s["controller_health_port"], f"{probe} {ports}")


def check_node(c):
    s = c.s
    d = c.one("DaemonSet", c.name("node"))
    if not d:
        c.check("node DaemonSet", False, "missing")
        return
    pod = check_workload_basics(c, d, "node")
    cs = containers(pod)
    c.eq("node containers", list(cs),
         ["syncblock", "node-driver-registrar", "liveness-probe"] + renew(s, "node"))
    plugin = cs.get("syncblock", {})
    c.eq("node syncblock image", plugin.get("image"), s["image"])
    c.eq("node syncblock args", plugin.get("args"), [
        "csi", "--mode", "node", "--endpoint", "unix:///csi/csi.sock",
        "--node-id", "$(NODE_NAME)"] + zone_args(s["node_zone"]) + [
        "--state-dir", s["state_dir"], "--attach", s["attach"],
        "--storage-nodes", s["storage_nodes"],
        "--log-level", s["log_level"]] + tls_args(s) + s["node_extra"])
    env = env_of(plugin)
    check_zone_env(c, "node", env, s["node_zone"])
    sc = plugin.get("securityContext", {})
    c.check("node plugin privileged as root", sc.get("privileged") is True
            and sc.get("runAsUser") == 0, str(sc))
    c.eq("node hostNetwork", pod.get("hostNetwork", False), s["node_host_network"])
    if s["node_host_network"]:
        c.eq("node dnsPolicy on host network", pod.get("dnsPolicy"), "ClusterFirstWithHostNet")
    c.eq("node tolerates every taint", pod.get("tolerations"), [{"operator": "Exists"}])
    c.eq("node automountServiceAccountToken", pod.get("automountServiceAccountToken"), False)
    kubelet = s["kubelet_dir"]
    plugin_dir = f"{kubelet}/plugins/{DRIVER}"
    host = {v["name"]: v["hostPath"]["path"] for v in pod.get("volumes", []) if "hostPath" in v}
    m = mounts_of(plugin)
    want_mounts = {kubelet: kubelet, plugin_dir: "/csi", s["state_dir"]: s["state_dir"],
                   "/dev": "/dev", "/sys": "/sys", "/lib/modules": "/lib/modules"}
    got_mounts = {host[v["name"]]: v["mountPath"] for v in m.values() if v["name"] in host}
    c.eq("node plugin host mounts (host path -> container path)", got_mounts, want_mounts)
    bidir = [v["mountPath"] for v in m.values() if v.get("mountPropagation") == "Bidirectional"]
    c.eq("node: only the kubelet dir is Bidirectional", bidir, [kubelet])
    c.check("node: /lib/modules read-only",
            any(v["mountPath"] == "/lib/modules" and v.get("readOnly") for v in m.values()), "")
    reg = cs.get("node-driver-registrar", {})
    c.eq("node-driver-registrar args", reg.get("args"), [
        "--csi-address=/csi/csi.sock",
        f"--kubelet-registration-path={plugin_dir}/csi.sock", "--v=2"])
    c.eq("node-driver-registrar image", reg.get("image"),
         sidecar_image(c, "csi-node-driver-registrar:v2.13.0"))
    reg_mounts = {host.get(v["name"]): v["mountPath"] for v in mounts_of(reg).values()}
    c.eq("node-driver-registrar mounts", reg_mounts,
         {plugin_dir: "/csi", f"{kubelet}/plugins_registry": "/registration"})
    live = cs.get("liveness-probe", {})
    c.eq("node liveness-probe args", live.get("args"),
         ["--csi-address=/csi/csi.sock", f"--health-port={s['node_health_port']}"])


def check_storage(c):
    s = c.s
    d = c.one("DaemonSet", c.name("storage"))
    if not d:
        c.check("storage DaemonSet", False, "missing")
        return None
    pod = check_workload_basics(c, d, "storage")
    sel = pod.get("nodeSelector", {})
    c.check("storage nodeSelector", all(sel.get(k) == v for k, v in s["storage_selector"].items()),
            str(sel))
    c.eq("storage rolls one node at a time",
         d["spec"].get("updateStrategy", {}).get("rollingUpdate", {}).get("maxUnavailable"), 1)
    cs = containers(pod)
    c.eq("storage containers", list(cs), ["syncblock"] + renew(s, "storage"))
    daemon = cs.get("syncblock", {})
    p = s["ports"]
    c.eq("storage syncblock args", daemon.get("args"), [
        "storage", "--node-id", "$(NODE_NAME)", "--data-dir", s["data_dir"],
        "--listen", f"0.0.0.0:{p['control']}",
        "--replication-listen", f"0.0.0.0:{p['replication']}",
        "--nbd-listen", f"0.0.0.0:{p['nbd']}",
        "--metrics-listen", f"0.0.0.0:{p['metrics']}",
        "--advertise-host", "$(POD_IP)"] + zone_args(s["storage_zone"]) + [
        "--io-timeout-ms", s["io_timeout"], "--resync-rate", s["resync_rate"],
        "--log-level", s["log_level"]] + tls_args(s) + s["storage_extra"])
    env = env_of(daemon)
    c.eq("storage POD_IP from status.podIP",
         env.get("POD_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath"),
         "status.podIP")
    check_zone_env(c, "storage", env, s["storage_zone"])
    ports = {x["name"]: x["containerPort"] for x in daemon.get("ports", [])}
    c.eq("storage container ports", ports, p)
    for probe in ("readinessProbe", "livenessProbe"):
        got = daemon.get(probe, {}).get("httpGet", {})
        c.eq(f"storage {probe} on /healthz of the metrics port", got,
             {"path": "/healthz", "port": "metrics"})
    sc = daemon.get("securityContext", {})
    c.check("storage daemon runs as non-root", sc.get("runAsNonRoot") is True
            and sc.get("runAsUser") == s["storage_uid"] and not sc.get("privileged"), str(sc))
    host = {v["name"]: v["hostPath"] for v in pod.get("volumes", []) if "hostPath" in v}
    c.eq("storage data dir is a hostPath", {k: v["path"] for k, v in host.items()},
         {"data-dir": s["data_dir"]})
    c.eq("storage data dir mounted at --data-dir",
         mounts_of(daemon).get("data-dir", {}).get("mountPath"), s["data_dir"])
    inits = pod.get("initContainers", [])
    cmd = " ".join(inits[0].get("command", [])) if inits else ""
    c.check("storage init container hands the data dir to the daemon's user",
            f"chown {s['storage_uid']}:{s['storage_uid']} /data" in cmd
            and mounts_of(inits[0]).get("data-dir", {}).get("mountPath") == "/data", cmd)
    c.eq("storage hostNetwork", pod.get("hostNetwork", False), s["storage_host_network"])
    c.eq("storage automountServiceAccountToken", pod.get("automountServiceAccountToken"), False)
    return d


def check_service_and_pdb(c, storage):
    s = c.s
    svc = c.one("Service", c.name("storage"))
    if not svc or not storage:
        c.check("storage Service", False, "missing")
        return
    spec = svc["spec"]
    c.check("storage Service is headless, ready addresses only",
            spec.get("clusterIP") == "None" and spec.get("publishNotReadyAddresses") is False,
            str(spec))
    pod_labels = storage["spec"]["template"]["metadata"]["labels"]
    c.check("storage Service selects the storage pods",
            all(pod_labels.get(k) == v for k, v in spec["selector"].items()), str(spec["selector"]))
    c.eq("storage Service ports", {x["name"]: (x["port"], x["targetPort"]) for x in spec["ports"]},
         {k: (v, k) for k, v in s["ports"].items()})
    fqdn = f"dns:{svc['metadata']['name']}.{s['namespace']}.svc."
    c.check("--storage-nodes names this Service and its control port",
            s["storage_nodes"].startswith(fqdn)
            and s["storage_nodes"].endswith(f":{s['ports']['control']}"), s["storage_nodes"])
    others = [d for d in c.of_kind("Deployment") + c.of_kind("DaemonSet")
              if d is not storage]
    selects_other = [o["metadata"]["name"] for o in others
                     if all(o["spec"]["template"]["metadata"]["labels"].get(k) == v
                            for k, v in spec["selector"].items())]
    c.check("storage Service selects no other pods", not selects_other, str(selects_other))
    pdbs = c.of_kind("PodDisruptionBudget")
    if not s["pdb"]:
        c.eq("no PodDisruptionBudget", len(pdbs), 0)
        return
    pdb = c.one("PodDisruptionBudget", c.name("storage"))
    if not pdb:
        c.check("storage PodDisruptionBudget", False, "missing")
        return
    # DaemonSet pods have no scale subresource: maxUnavailable would make the
    # disruption controller refuse every eviction, so a known node count
    # must turn into minAvailable = nodes - 1.
    budget = {k: pdb["spec"][k] for k in ("minAvailable", "maxUnavailable") if k in pdb["spec"]}
    if s["pdb_min_available"] is None:
        c.eq("storage PDB without a node count: maxUnavailable 1", budget, {"maxUnavailable": 1})
    else:
        c.eq("storage PDB from the node count: one eviction at a time", budget,
             {"minAvailable": s["pdb_min_available"]})
    sel = pdb["spec"]["selector"]["matchLabels"]
    c.check("storage PDB selects the storage pods",
            all(pod_labels.get(k) == v for k, v in sel.items()), str(sel))
    covered = [o["metadata"]["name"] for o in others
               if all(o["spec"]["template"]["metadata"]["labels"].get(k) == v
                      for k, v in sel.items())]
    c.check("storage PDB covers no other pods", not covered, str(covered))


def check_rbac(c):
    s = c.s
    want_cluster = {
        c.name("external-provisioner"):
            {**PROVISIONER_RULES, **(VAC_PROVISIONER_RULES if s["modify"] else {})},
        c.name("external-attacher"): ATTACHER_RULES,
    }
    if s["snapshots"]:
        want_cluster[c.name("external-snapshotter")] = {
            **SNAPSHOTTER_RULES, **(GROUP_SNAPSHOTTER_RULES if s["group_snapshots"] else {})}
    if s["expansion"]:
        want_cluster[c.name("external-resizer")] = {
            **RESIZER_RULES, **(VAC_RESIZER_RULES if s["modify"] else {})}
    want_ns = {c.name("leader-election"): LEADER_ELECTION_RULES}
    if s["capacity"]:
        want_ns[c.name("external-provisioner-capacity")] = PROVISIONER_CAPACITY_RULES
    for kind, want in (("ClusterRole", want_cluster), ("Role", want_ns)):
        got = {r["metadata"]["name"]: rules_of(r) for r in c.of_kind(kind)}
        c.eq(f"{kind} names", sorted(got), sorted(want))
        for name, rules in want.items():
            c.eq(f"{kind} {name} rules exactly", got.get(name), rules)
    sa = c.name("controller")
    for kind, role_kind, roles in (("ClusterRoleBinding", "ClusterRole", want_cluster),
                                   ("RoleBinding", "Role", want_ns)):
        bound = {}
        for b in c.of_kind(kind):
            ref = b["roleRef"]
            subjects = [(x["kind"], x["name"], x.get("namespace")) for x in b["subjects"]]
            c.eq(f"{kind} {b['metadata']['name']} subject", subjects,
                 [("ServiceAccount", sa, s["namespace"])])
            c.check(f"{kind} {b['metadata']['name']} roleRef",
                    ref["kind"] == role_kind and ref["apiGroup"] == "rbac.authorization.k8s.io",
                    str(ref))
            bound[ref["name"]] = bound.get(ref["name"], 0) + 1
        c.eq(f"every {role_kind} bound exactly once", bound, {n: 1 for n in roles})
    accounts = {a["metadata"]["name"]: a for a in c.of_kind("ServiceAccount")}
    c.eq("ServiceAccounts", sorted(accounts),
         sorted([c.name("controller"), c.name("node"), c.name("storage")]))
    for n in ("node", "storage"):
        c.eq(f"{n} ServiceAccount mounts no token",
             accounts.get(c.name(n), {}).get("automountServiceAccountToken"), False)
    wildcard = [r["metadata"]["name"] for r in c.of_kind("ClusterRole") + c.of_kind("Role")
                if any("*" in x for rule in r["rules"]
                       for x in rule.get("verbs", []) + rule.get("resources", []))]
    c.check("no wildcard RBAC", not wildcard, str(wildcard))


def check_storage_classes(c):
    s = c.s
    got = {sc["metadata"]["name"]: sc for sc in c.of_kind("StorageClass")}
    c.eq("StorageClass names", sorted(got), sorted(s["classes"]))
    for name, want in s["classes"].items():
        sc = got.get(name)
        if not sc:
            continue
        c.eq(f"StorageClass {name} provisioner", sc["provisioner"], DRIVER)
        c.eq(f"StorageClass {name} parameters", sc.get("parameters"), want["parameters"])
        c.eq(f"StorageClass {name} binding", sc.get("volumeBindingMode"), "WaitForFirstConsumer")
        c.eq(f"StorageClass {name} allowVolumeExpansion", sc.get("allowVolumeExpansion"),
             want["expand"])
        c.eq(f"StorageClass {name} reclaimPolicy", sc.get("reclaimPolicy"), want["reclaim"])
        annotation = sc["metadata"].get("annotations", {}).get(
            "storageclass.kubernetes.io/is-default-class")
        c.eq(f"StorageClass {name} default annotation", annotation,
             "true" if want["default"] else None)
        bad = [k for k, v in sc.get("parameters", {}).items() if not isinstance(v, str)]
        c.check(f"StorageClass {name} parameters are strings", not bad, str(bad))


def check_optional(c):
    s = c.s
    vscs = c.of_kind("VolumeSnapshotClass")
    if s["snapshots"]:
        want = s["snapshot_class"]
        v = vscs[0] if vscs else {}
        c.eq("VolumeSnapshotClass", (v.get("metadata", {}).get("name"), v.get("driver"),
                                     v.get("deletionPolicy")),
             (want["name"], DRIVER, want["deletionPolicy"]))
        c.eq("VolumeSnapshotClass default annotation",
             v.get("metadata", {}).get("annotations", {}).get(
                 "snapshot.storage.kubernetes.io/is-default-class"),
             "true" if want["default"] else None)
    vgscs = c.of_kind("VolumeGroupSnapshotClass")
    want = s["group_snapshots"]
    c.eq("VolumeGroupSnapshotClass count", len(vgscs), 1 if want else 0)
    if want and vgscs:
        v = vgscs[0]
        c.eq("VolumeGroupSnapshotClass", (v.get("apiVersion"), v["metadata"]["name"],
                                          v.get("driver"), v.get("deletionPolicy")),
             ("groupsnapshot.storage.k8s.io/v1beta1", want["name"], DRIVER,
              want["deletionPolicy"]))
        c.eq("VolumeGroupSnapshotClass default annotation",
             v["metadata"].get("annotations", {}).get(
                 "groupsnapshot.storage.kubernetes.io/is-default-class"),
             "true" if want["default"] else None)
    sms = c.of_kind("ServiceMonitor")
    if s["service_monitor"]:
        svc = c.one("Service", c.name("storage"))
        sm = sms[0] if sms else {"spec": {"selector": {"matchLabels": {"x": "y"}}, "endpoints": []}}
        sel = sm["spec"]["selector"]["matchLabels"]
        c.check("ServiceMonitor selects the storage Service",
                svc and all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items()), str(sel))
        svc_ports = {p["name"] for p in svc["spec"]["ports"]} if svc else set()
        eps = [(e.get("port"), e.get("path")) for e in sm["spec"]["endpoints"]]
        c.check("ServiceMonitor scrapes /metrics on the Service's metrics port",
                eps == [("metrics", "/metrics")] and "metrics" in svc_ports, str(eps))
        c.eq("ServiceMonitor extra labels",
             sm.get("metadata", {}).get("labels", {}).get("release"), "prometheus")
    cms = c.of_kind("ConfigMap")
    if s["dashboard"]:
        cm = cms[0] if cms else {"data": {}, "metadata": {}}
        c.eq("dashboard ConfigMap carries the Grafana sidecar label",
             cm["metadata"].get("labels", {}).get("grafana_dashboard"), "1")
        try:
            dash = json.loads(cm["data"].get("syncblock.json", ""))
            exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
            ok = bool(exprs)
        except (ValueError, KeyError, TypeError) as e:
            exprs, ok = [], False
            c.check("dashboard JSON parses", False, str(e))
        if ok:
            c.check("dashboard JSON parses", True)
            joined = " ".join(exprs)
            # That each name exists in a real node's /metrics is checked by
            # tests/integration/dashboard_metrics_test.cc.
            for metric in ("syncblock_nbd_writes_total", "syncblock_nbd_written_bytes_total",
                           "syncblock_nbd_write_latency_seconds_bucket", "syncblock_replica_state",
                           "syncblock_replication_lag_bytes", "syncblock_resync_progress_ratio",
                           "syncblock_volume_replicas_in_sync",
                           "syncblock_async_replica_lag_seconds",
                           "syncblock_remote_sync_rpo_seconds",
                           "syncblock_remote_sync_rpo_bound_seconds",
                           "syncblock_remote_sync_bytes_shipped_total",
                           "syncblock_remote_sync_cycles_total"):
                c.check(f"dashboard charts {metric}", metric in joined, "")
    rules = c.of_kind("PrometheusRule")
    if s["alerts"]:
        rule = rules[0] if rules else {"spec": {}, "metadata": {}}
        names = [r.get("alert") for g in rule["spec"].get("groups", []) for r in g.get("rules", [])]
        c.eq("PrometheusRule alerts", sorted(names), sorted([
            "SyncblockVolumeDegraded", "SyncblockVolumeWithoutPrimary",
            "SyncblockPrimaryWithoutLease", "SyncblockFailover", "SyncblockNodeAlmostFull",
            "SyncblockVolumeRpoAboveBound", "SyncblockRemoteSyncFailed",
            "SyncblockRemoteSyncRpoAboveBound"]))
        exprs = [r.get("expr", "") for g in rule["spec"].get("groups", []) for r in g.get("rules", [])]
        c.check("every alert has an expression", all(exprs) and bool(exprs), str(exprs))
        by_name = {r.get("alert"): r for g in rule["spec"].get("groups", [])
                   for r in g.get("rules", [])}
        for alert, expr in (
                ("SyncblockRemoteSyncFailed", "syncblock_remote_sync_last_cycle_failed == 1"),
                ("SyncblockRemoteSyncRpoAboveBound",
                 "syncblock_remote_sync_rpo_seconds > syncblock_remote_sync_rpo_bound_seconds")):
            c.eq(f"{alert} expression", by_name.get(alert, {}).get("expr"), expr)
    else:
        c.eq("no PrometheusRule unless asked", len(rules), 0)


TLS_DIR = "/etc/syncblock/tls"


def openssl_text(pem):
    """`openssl x509 -text` of a PEM certificate, or "" without openssl."""
    import shutil
    import subprocess
    if not shutil.which("openssl"):
        return ""
    return subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()


def check_tls(c):
    """The TLS wiring of every workload and the objects behind it (tls.*)."""
    s = c.s
    tls = s["tls"]
    workloads = [("controller", c.one("Deployment", c.name("controller")), 65532),
                 ("node", c.one("DaemonSet", c.name("node")), 0),
                 ("storage", c.one("DaemonSet", c.name("storage")), s["storage_uid"])]
    if not tls:
        leftovers = [(d["kind"], d["metadata"]["name"]) for d in c.docs if component(d) == "tls"]
        c.check("insecure: no TLS object", not leftovers, str(leftovers))
        for role, wl, _ in workloads:
            pod = wl["spec"]["template"]["spec"] if wl else {}
            names = [x["name"] for x in pod.get("initContainers", []) + pod.get("containers", [])
                     + pod.get("volumes", [])]
            c.check(f"insecure: {role} has no TLS container or volume",
                    not [n for n in names if n.startswith("tls")], str(names))
        return
    prefix = s["prefix"]
    mode = tls["mode"]
    for role, wl, uid in workloads:
        if not wl:
            continue
        pod = wl["spec"]["template"]["spec"]
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        cs = containers(pod)
        inits = {x["name"]: x for x in pod.get("initContainers", [])}
        everyone = list(cs.values()) + list(inits.values())
        daemon = cs.get("syncblock", {})
        c.eq(f"tls {role}: daemon mounts its TLS files read-only at {TLS_DIR}",
             mounts_of(daemon).get("tls-certs"),
             {"name": "tls-certs", "mountPath": TLS_DIR, "readOnly": True})
        sub = [(x["name"], m["name"]) for x in everyone for m in x.get("volumeMounts", [])
               if m["name"].startswith("tls") and "subPath" in m]
        c.check(f"tls {role}: no subPath mount (files must update in place)", not sub, str(sub))
        if uid:
            c.eq(f"tls {role}: pod fsGroup reads the 0440 Secret files",
                 pod.get("securityContext", {}).get("fsGroup"), uid)
        if not issues_own(s, role):
            c.eq(f"tls {role}: cert-manager Secret mounted whole",
                 vols.get("tls-certs"), {"name": "tls-certs", "secret": {
                     "secretName": f"{prefix}-tls-{role}", "defaultMode": 0o440}})
            c.check(f"tls {role}: no signing CA in the pod", "tls-signer" not in vols
                    and "tls-issue" not in inits, str(list(vols)))
            continue
        c.eq(f"tls {role}: certificate and key in memory",
             vols.get("tls-certs", {}).get("emptyDir", {}).get("medium"), "Memory")
        signer = {"generate": f"{prefix}-tls-ca", "existingSecret": tls["existing"],
                  "certManager": f"{prefix}-tls-{role}-issuer"}[mode]
        c.eq(f"tls {role}: signing CA Secret", vols.get("tls-signer", {}).get("secret"),
             {"secretName": signer, "defaultMode": 0o440})
        c.eq(f"tls {role}: issuer script ConfigMap", vols.get("tls-issuer", {}).get("configMap"),
             {"name": f"{prefix}-tls-issuer", "defaultMode": 0o555})
        holders = sorted(x["name"] for x in everyone if "tls-signer" in mounts_of(x))
        c.eq(f"tls {role}: only the issuer containers see the signing CA", holders,
             ["tls-issue", "tls-renew"])
        for name, step, where in (("tls-issue", "once", inits), ("tls-renew", "renew", cs)):
            x = where.get(name, {})
            c.eq(f"tls {role}: {name} runs tls-issue.sh {step}", x.get("command"),
                 ["/bin/sh", "/etc/syncblock/tls-issuer/tls-issue.sh", step])
            c.eq(f"tls {role}: {name} image", x.get("image"), s["image"])
            env = env_of(x)
            got = {k: (v.get("value") if "value" in v
                       else "field:" + v["valueFrom"]["fieldRef"]["fieldPath"])
                   for k, v in env.items()}
            want = {"SIGNER_DIR": "/etc/syncblock/tls-signer", "OUT_DIR": TLS_DIR,
                    "TLS_OU": role, "TLS_DAYS": tls["days"],
                    "TLS_CN": "controller" if role == "controller" else "field:spec.nodeName"}
            if role == "storage":
                svc = f"{prefix}-storage"
                ns = s["namespace"]
                domain = s["storage_nodes"].split(".svc.")[1].rsplit(":", 1)[0]
                want.update(TLS_SERVER="true", TLS_IP="field:status.podIP", TLS_DNS=",".join(
                    ["syncblock", svc, f"{svc}.{ns}", f"{svc}.{ns}.svc",
                     f"{svc}.{ns}.svc.{domain}"]))
            c.eq(f"tls {role}: {name} identity (CN, OU, SANs, validity)", got, want)
            sc = x.get("securityContext", {})
            c.check(f"tls {role}: {name} runs as the daemon's user, no privilege",
                    sc.get("runAsUser") == uid and sc.get("allowPrivilegeEscalation") is False
                    and sc.get("readOnlyRootFilesystem") is True and not sc.get("privileged"),
                    str(sc))
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in c.docs}
    if mode == "generate":
        import base64
        sec = by_name.get(("Secret", f"{prefix}-tls-ca"), {})
        data = sec.get("data", {})
        c.check("tls generate: CA Secret holds ca.crt, tls.crt, tls.key",
                sec.get("type") == "kubernetes.io/tls"
                and sorted(data) == ["ca.crt", "tls.crt", "tls.key"], str(sorted(data)))
        if data:
            c.eq("tls generate: ca.crt is the CA itself", data["ca.crt"], data["tls.crt"])
            text = openssl_text(base64.b64decode(data["tls.crt"]).decode())
            if text:
                c.check("tls generate: the Secret's certificate is a CA", "CA:TRUE" in text,
                        text[:200])
    if mode == "certManager":
        ref = dict(zip(("name", "kind", "group"), tls["issuer"]))
        certs = {d["metadata"]["name"]: d for d in c.of_kind("Certificate")}
        for role in ("storage", "node"):
            spec = certs.get(f"{prefix}-tls-{role}-issuer", {}).get("spec", {})
            c.eq(f"tls certManager: {role} signing CA", (
                spec.get("secretName"), spec.get("isCA"), spec.get("subject"),
                spec.get("issuerRef"), spec.get("duration"), spec.get("renewBefore"),
                "cert sign" in spec.get("usages", [])), (
                f"{prefix}-tls-{role}-issuer", True, {"organizations": ["syncblock"], "organizationalUnits": [role]}, ref,
                tls["duration"], tls["renew_before"], True))
        spec = certs.get(f"{prefix}-tls-controller", {}).get("spec", {})
        c.eq("tls certManager: controller certificate", (
            spec.get("secretName"), spec.get("isCA"), spec.get("commonName"),
            spec.get("subject"), spec.get("issuerRef"), spec.get("usages")), (
            f"{prefix}-tls-controller", None, "controller", {"organizations": ["syncblock"], "organizationalUnits": ["controller"]},
            ref, ["client auth", "digital signature", "key encipherment"]))
        hours = lambda d: float(d[:-1]) if d.endswith("h") else None
        c.check("tls certManager: a pod's certificate never outlives its signing CA "
                "(certValidityDays <= renewBefore)",
                int(tls["days"]) * 24 <= hours(tls["renew_before"]), tls["renew_before"])
        if tls["own_ca"]:
            root = certs.get(f"{prefix}-tls-root", {}).get("spec", {})
            c.eq("tls certManager: own root CA, its key kept on renewal", (
                root.get("isCA"), root.get("privateKey", {}).get("rotationPolicy"),
                root.get("issuerRef")), (
                True, "Never", {"name": f"{prefix}-tls-selfsigned", "kind": "Issuer",
                                "group": "cert-manager.io"}))
            issuers = {d["metadata"]["name"]: d["spec"] for d in c.of_kind("Issuer")}
            c.eq("tls certManager: self-signed Issuer and CA Issuer on the root", issuers, {
                f"{prefix}-tls-selfsigned": {"selfSigned": {}},
                f"{prefix}-tls-ca": {"ca": {"secretName": f"{prefix}-tls-root"}}})


def main():
    scenario, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    # Changed-block tracking (component snapshot-metadata) has its own checks:
    # tests/chart/snapshot_metadata_chart_test.sh.
    docs = [d for d in docs if component(d) != "snapshot-metadata"]
    c = Checker(scenario, docs)
    check_inventory(c)
    check_csidriver(c)
    check_controller(c)
    check_node(c)
    storage = check_storage(c)
    check_service_and_pdb(c, storage)
    check_rbac(c)
    check_storage_classes(c)
    check_optional(c)
    check_tls(c)
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
