"""Compares the objects two renderings of the chart (the previous chart
version's and this one's) have in common, field by field where Kubernetes
refuses an update, so that `helm upgrade` from the previous version cannot
fail on them.

usage: immutable_fields.py OLD.yaml NEW.yaml
Prints PASS/FAIL lines; exits 1 if a field changed. A self-test first
mutates the new objects and checks that every kind of change is caught.
"""
import copy
import sys

import yaml

# kind -> the paths of fields an update may not change (apps/v1 selectors,
# the CSIDriver spec, a StorageClass's and VolumeSnapshotClass's provisioning
# fields, a Service's cluster IP).
IMMUTABLE = {
    "Deployment": [("spec", "selector")],
    "DaemonSet": [("spec", "selector")],
    "StatefulSet": [("spec", "selector"), ("spec", "serviceName"),
                    ("spec", "volumeClaimTemplates")],
    "CSIDriver": [("spec",)],
    "StorageClass": [("provisioner",), ("parameters",), ("reclaimPolicy",),
                     ("volumeBindingMode",)],
    "VolumeSnapshotClass": [("driver",), ("parameters",)],
    "Service": [("spec", "clusterIP")],
    "Job": [("spec", "selector"), ("spec", "template")],
}
_MISSING = object()


def load(path):
    with open(path) as f:
        return {(d["kind"], d["metadata"]["name"]): d
                for d in yaml.safe_load_all(f) if d}


def get(obj, path):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def changes(old, new):
    """(object, field, old value, new value) for every immutable field changed."""
    out = []
    for key in sorted(set(old) & set(new)):
        for path in IMMUTABLE.get(key[0], []):
            a, b = get(old[key], path), get(new[key], path)
            if a != b:
                out.append((f"{key[0]}/{key[1]}", ".".join(path),
                            None if a is _MISSING else a, None if b is _MISSING else b))
    return out


def self_test(new):
    """Each mutation of an immutable field must be reported."""
    failures = []
    mutations = [
        ("DaemonSet", lambda o: o["spec"]["selector"]["matchLabels"].update(extra="x")),
        ("Deployment", lambda o: o["spec"]["selector"]["matchLabels"].update(extra="x")),
        ("CSIDriver", lambda o: o["spec"].update(attachRequired=not o["spec"]["attachRequired"])),
        ("StorageClass", lambda o: o.setdefault("parameters", {}).update(replicas="5")),
    ]
    for kind, mutate in mutations:
        keys = [k for k in new if k[0] == kind]
        if not keys:
            failures.append(f"no {kind} rendered to mutate")
            continue
        changed = copy.deepcopy(new)
        mutate(changed[keys[0]])
        if not changes(new, changed):
            failures.append(f"a changed {kind} went unnoticed")
    return failures


def main():
    old, new = load(sys.argv[1]), load(sys.argv[2])
    failed = 0
    for problem in self_test(new):
        print(f"FAIL upgrade self-test: {problem}")
        failed += 1
    common = sorted(k for k in set(old) & set(new) if k[0] in IMMUTABLE)
    if not common:
        print("FAIL upgrade: no object with immutable fields in both renderings")
        return 1
    found = changes(old, new)
    for obj, field, a, b in found:
        print(f"FAIL upgrade: {obj} {field} changed: {a!r} -> {b!r} (helm upgrade would fail)")
    failed += len(found)
    if not found:
        print(f"PASS upgrade: immutable fields unchanged in {len(common)} objects ("
              + ", ".join(f"{k}/{n}" for k, n in common) + ")")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
