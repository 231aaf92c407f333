// Validates Prometheus Operator objects (PodMonitor, PrometheusRule) with the models of
// @kubernetes-models/prometheus-operator, which compile the operator's CRD schemas: types,
// required fields, enums and patterns (durations, for example). Called by check.py:
//
//   node validate-crds.mjs NODE_MODULES BATCH.json
//
// BATCH.json: [{ "where": "file[index]", "doc": { …object… } }]. Prints "ok WHERE" or
// "error WHERE: MESSAGE" per object; exit 1 when any object is invalid.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, batch] = process.argv.slice(2);
const models = join(modules, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1");
let failed = false;
for (const { where, doc } of JSON.parse(readFileSync(batch, "utf8"))) {
  const label = `${where} ${doc.kind}/${doc.metadata?.name}`;
  let Model;
  try {
    Model = (await import(pathToFileURL(join(models, `${doc.kind}.js`)).href))[doc.kind];
  } catch (e) {
    console.log(`error ${label}: no model for monitoring.coreos.com/v1 ${doc.kind} (${e.message})`);
    failed = true;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`ok ${label}`);
  } catch (e) {
    console.log(`error ${label}: ${String(e.message).replace(/\s+/g, " ")}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
