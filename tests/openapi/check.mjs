// Checks the OpenAPI document of fractal-server and the answers the server
// gave in the integration suites against it.
//
//   node check.mjs document.json                 # the document is valid OpenAPI 3.1
//   node check.mjs document.json RESPONSES_DIR   # and every recorded answer matches it
//
// RESPONSES_DIR holds *.jsonl files written by the test client
// (tests/server/server_test_env.cpp, FRACTAL_RESPONSE_LOG): one answer per
// line, {"test","method","target","status","content_type","body","body_bytes"}.
// An answer matches when its path and method are an operation of the
// document (or it is the 404/405 of a path or method the document does not
// have), its status is listed for that operation, its media type is one the
// response declares, and its JSON body validates against the response's
// schema (JSON Schema 2020-12, ajv). Exit 1 with the mismatches, else 0.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [documentPath, responsesDir] = process.argv.slice(2);
if (!documentPath) {
  console.error("usage: node check.mjs document.json [responses-dir]");
  process.exit(2);
}
const doc = JSON.parse(readFileSync(documentPath, "utf8"));

// 1. The document itself, against the OpenAPI 3.1 schema.
const validator = new Validator();
const result = await validator.validate(doc);
if (!result.valid) {
  console.error(`openapi: ${documentPath} is not a valid OpenAPI ${validator.version} document:`);
  console.error(JSON.stringify(result.errors, null, 2));
  process.exit(1);
}
const operations = [];
for (const [path, item] of Object.entries(doc.paths)) {
  for (const method of ["get", "put", "post", "delete", "patch", "head", "options"]) {
    if (item[method]) operations.push(`${method.toUpperCase()} ${path}`);
  }
}
console.log(`openapi: valid OpenAPI ${validator.version} (${operations.length} operations, ${Object.keys(doc.paths).length} paths)`);
if (!responsesDir) process.exit(0);

// 2. The recorded answers.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
// The component schemas as one schema with $defs, so "#/components/schemas/X" refs resolve.
const rewrite = (v) => {
  if (Array.isArray(v)) return v.map(rewrite);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = k === "$ref" && typeof x === "string" ? x.replace("#/components/schemas/", "components.json#/$defs/") : rewrite(x);
    }
    return out;
  }
  return v;
};
ajv.addSchema({ $id: "components.json", $defs: rewrite(doc.components?.schemas ?? {}) });
const compiled = new Map();
const schemaFor = (key, schema) => {
  if (!compiled.has(key)) compiled.set(key, ajv.compile(rewrite(schema)));
  return compiled.get(key);
};
const resolve = (obj) => {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, "").split("/");
    obj = parts.reduce((o, p) => o?.[p.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
  }
  return obj;
};
const templates = Object.keys(doc.paths).map((path) => {
  const params = (path.match(/\{[^}]+\}/g) || []).length;
  const source = path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+");
  return { path, params, re: new RegExp(`^${source}$`) };
});
const findPath = (p) =>
  templates.filter((t) => t.re.test(p)).sort((a, b) => a.params - b.params)[0]?.path;

const files = readdirSync(responsesDir).filter((f) => f.endsWith(".jsonl"));
const failures = [];
const seen = new Set();
let count = 0;
for (const file of files) {
  const lines = readFileSync(join(responsesDir, file), "utf8").split("\n").filter(Boolean);
  for (const line of lines) {
    const r = JSON.parse(line);
    count++;
    const where = `${r.test}: ${r.method} ${r.target} -> ${r.status}`;
    const fail = (why) => failures.push(`${where}: ${why}`);
    const pathOnly = r.target.split("?")[0];
    let path = findPath(pathOnly);
    const method = r.method.toLowerCase();
    // GET of a path no API route takes: the web client's fallback, documented at "/".
    if ((!path || !doc.paths[path][method]) && method === "get" && doc.paths["/"]?.get && r.status !== 405) path = "/";
    const op = path && doc.paths[path][method];
    const mediaType = (r.content_type || "").split(";")[0].trim().toLowerCase();
    const errorSchema = schemaFor("Error", { $ref: "#/components/schemas/Error" });
    // Answered before any route (info.description): a body over the limit, a head over
    // 32 KiB, and the 404 of a path this server does not serve (--routes without that group).
    if ([413, 431].includes(r.status) || (r.status === 404 && !op?.responses?.["404"])) {
      if (mediaType !== "application/json" || !errorSchema(r.body)) fail(`not the JSON error: ${JSON.stringify(r.body)}`);
      continue;
    }
    if (!op) {
      // Not an operation: the dispatcher's 404 (unknown path) / 405 (known path, other method),
      // or the transport guard's answers, always the JSON error.
      if (![400, 404, 405, 413, 431, 501, 505].includes(r.status)) fail(`no operation ${method.toUpperCase()} ${pathOnly} in the document`);
      else if (mediaType !== "application/json" || !errorSchema(r.body)) fail(`not the JSON error: ${JSON.stringify(r.body)}`);
      continue;
    }
    seen.add(`${method.toUpperCase()} ${path}`);
    const response = resolve(op.responses[String(r.status)]);
    if (!response) {
      fail(`status ${r.status} is not documented for ${method.toUpperCase()} ${path} (documented: ${Object.keys(op.responses).join(", ")})`);
      continue;
    }
    if (r.status === 304 || r.status === 204) {
      if (r.body_bytes > 0) fail(`a ${r.status} has a body of ${r.body_bytes} bytes`);
      continue;
    }
    if (!response.content) {
      if (r.body_bytes > 0) fail(`the documented response has no content, got ${r.body_bytes} bytes of ${mediaType}`);
      continue;
    }
    const media = response.content[mediaType];
    if (!media) {
      fail(`media type "${mediaType}" is not one of ${Object.keys(response.content).join(", ")}`);
      continue;
    }
    if (mediaType !== "application/json") continue;
    if (r.body === null || r.body === undefined) {
      fail("declared application/json, but the body is not JSON");
      continue;
    }
    const validate = schemaFor(`${method} ${path} ${r.status}`, media.schema ?? {});
    if (!validate(r.body)) {
      fail(`body does not match the schema: ${ajv.errorsText(validate.errors)}; body: ${JSON.stringify(r.body).slice(0, 400)}`);
    }
  }
}
const missed = operations.filter((o) => !seen.has(o));
console.log(`openapi: ${count} recorded answers from ${files.length} test processes checked; ${seen.size}/${operations.length} operations exercised`);
if (missed.length) console.log(`openapi: not exercised in these recordings: ${missed.join(", ")}`);
if (failures.length) {
  console.error(`openapi: ${failures.length} answers do not match the document:`);
  for (const f of failures.slice(0, 200)) console.error(`  ${f}`);
  process.exit(1);
}
if (count === 0) {
  console.error("openapi: no recorded answers (did the server suites run with FRACTAL_RESPONSE_LOG?)");
  process.exit(1);
}
