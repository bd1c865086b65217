// Validates Kubernetes objects against the upstream OpenAPI schemas with the
// kubernetes-models package (and @kubernetes-models/prometheus-operator for
// ServiceMonitor / PrometheusRule), offline.
//
// usage: node validate.mjs LABEL OBJECTS.json
//   OBJECTS.json: a JSON array of objects (the documents `helm template` rendered).
// Prints "PASS schema LABEL: Kind/name", "FAIL schema LABEL: Kind/name: why", and
// "NOTE" lines for kinds no installed package has a schema for (CRDs of other
// projects: those are left to chart_test.sh's own checks). Exits 1 if any failed.
import { readFileSync } from "node:fs";

const [label, file] = process.argv.slice(2);
const objects = JSON.parse(readFileSync(file, "utf8"));

// Module paths that may hold a kind of `apiVersion`, most likely first.
function modulesFor(apiVersion) {
  const path = apiVersion.includes("/") ? apiVersion : `v1`;
  return [`kubernetes-models/${path}`, `@kubernetes-models/prometheus-operator/${path}`];
}

async function modelFor(apiVersion, kind) {
  for (const name of modulesFor(apiVersion)) {
    try {
      const mod = await import(name);
      if (typeof mod[kind] === "function") return mod[kind];
    } catch (e) {
      if (e.code !== "ERR_MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
    }
  }
  return null;
}

// The validator must refuse what the API server refuses, or its PASS means
// nothing: a DaemonSet without a selector and with a port that is not a number.
async function selfTest() {
  const DaemonSet = await modelFor("apps/v1", "DaemonSet");
  const bad = new DaemonSet({
    metadata: { name: "bad" },
    spec: { template: { spec: { containers: [{ name: "c", ports: [{ containerPort: "x" }] }] } } },
  });
  try {
    bad.validate();
  } catch {
    return true;
  }
  return false;
}

let failed = 0;
if (!(await selfTest())) {
  console.log("FAIL schema self-test: an invalid DaemonSet was accepted");
  failed++;
}
const unknown = new Set();
for (const obj of objects) {
  const name = `${obj.kind}/${obj.metadata?.name ?? "?"}`;
  const Model = await modelFor(obj.apiVersion ?? "", obj.kind ?? "");
  if (!Model) {
    unknown.add(`${obj.apiVersion} ${obj.kind}`);
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`PASS schema ${label}: ${name} (${obj.apiVersion})`);
  } catch (e) {
    failed++;
    console.log(`FAIL schema ${label}: ${name}: ${String(e.message).replace(/\n/g, "; ")}`);
  }
}
for (const kind of [...unknown].sort()) {
  console.log(`NOTE schema ${label}: no OpenAPI schema installed for ${kind} ` +
              "(a CRD of another project): checked by chart_test.sh's own checks only");
}
process.exit(failed ? 1 : 0);
