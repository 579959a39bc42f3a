// Schema validation of Kubernetes objects, offline.
//
// Types come from the kubernetes-models packages (OpenAPI schemas of the
// Kubernetes API and of the KEDA, Traefik and Prometheus Operator CRDs,
// compiled to validation functions). Those schemas, like the API's, do not
// forbid unknown fields, while the API server (kubectl apply, field
// validation "Strict") rejects them. So each object is wrapped in proxies
// that record which properties the validator looked at: a property of an
// object whose schema lists properties, that the validator never looked at,
// is not in the schema: an unknown field (a typo such as `imagePullPolicyy`).
// Objects whose schema lists no properties (free-form maps such as labels
// are iterated, so they count as looked at) are left alone.

const SOURCES = [
  "kubernetes-models",
  "@kubernetes-models/keda",
  "@kubernetes-models/traefik",
  "@kubernetes-models/prometheus-operator",
];

const modelCache = new Map();

async function importIfPresent(specifier) {
  try {
    return await import(specifier);
  } catch (e) {
    if (e && (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED")) return null;
    throw e;
  }
}

// The model class for apiVersion + kind, or null when no package knows it.
export async function findModel(apiVersion, kind) {
  const key = `${apiVersion}|${kind}`;
  if (modelCache.has(key)) return modelCache.get(key);
  let found = null;
  if (typeof apiVersion === "string" && typeof kind === "string" && /^[a-z0-9.\-/]+$/.test(apiVersion)) {
    for (const source of SOURCES) {
      // The model's own module (fast), else the group/version index.
      let mod = /^[A-Za-z0-9]+$/.test(kind) ? await importIfPresent(`${source}/${apiVersion}/${kind}`) : null;
      if (!mod || !mod[kind]) mod = await importIfPresent(`${source}/${apiVersion}`);
      const Model = mod && mod[kind];
      if (Model && Model.apiVersion === apiVersion && Model.kind === kind) {
        found = { Model, source };
        break;
      }
    }
  }
  modelCache.set(key, found);
  return found;
}

function track(value, path, nodes) {
  if (Array.isArray(value)) return value.map((v, i) => track(v, `${path}/${i}`, nodes));
  if (value === null || typeof value !== "object") return value;
  const accessed = new Set();
  const target = {};
  for (const [k, v] of Object.entries(value)) target[k] = track(v, `${path}/${escape(k)}`, nodes);
  nodes.push({ path, keys: Object.keys(value), accessed });
  const note = (p) => {
    if (typeof p === "string") accessed.add(p);
  };
  return new Proxy(target, {
    get(t, p, r) {
      note(p);
      return Reflect.get(t, p, r);
    },
    has(t, p) {
      note(p);
      return Reflect.has(t, p);
    },
    getOwnPropertyDescriptor(t, p) {
      note(p);
      return Reflect.getOwnPropertyDescriptor(t, p);
    },
    ownKeys(t) {
      const keys = Reflect.ownKeys(t);
      keys.forEach(note);
      return keys;
    },
  });
}

function escape(key) {
  return String(key).replace(/~/g, "~0").replace(/\//g, "~1");
}

// Errors (strings) for one object; empty when it is valid.
export async function validateObject(obj) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return ["not a Kubernetes object (a YAML mapping)"];
  const { apiVersion, kind } = obj;
  if (!apiVersion || !kind) return ["apiVersion and kind are required"];
  const found = await findModel(apiVersion, kind);
  if (!found) return [`unknown apiVersion/kind ${apiVersion} ${kind}: no schema (typo, or a CRD this validator does not know)`];
  const errors = [];
  const nodes = [];
  const proxied = track(obj, "", nodes);
  try {
    found.Model.prototype.validate.call(proxied);
  } catch (e) {
    const detail = e && Array.isArray(e.errors) && e.errors.length
      ? e.errors.map((x) => `${x.instancePath || "/"} ${x.message}${x.params && x.params.allowedValues ? ` (${x.params.allowedValues.join(", ")})` : ""}`)
      : [String(e && e.message ? e.message : e)];
    for (const d of detail) errors.push(`schema: ${d}`);
  }
  for (const node of nodes) {
    if (node.accessed.size === 0) continue; // free-form object, or never reached
    for (const key of node.keys) {
      if (!node.accessed.has(key)) errors.push(`unknown field ${node.path}/${escape(key)}`);
    }
  }
  return errors;
}
