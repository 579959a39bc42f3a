// Project policy for the rendered Kubernetes manifests (deploy/k8s). Each rule
// returns messages "Kind/name: what is wrong". Profiles: "base", "cpu", "gpu".

const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);
const OUR_IMAGE = /(^|\/)fractal-render(-worker)?([:@]|$)/;
const OUR_UID = 10001;

export const EXPECTED_ROUTES = {
  "/add": "task-master",
  "/delete": "task-master",
  "/tasks": "task-master",
  "/sign-up": "task-master",
  "/sign-in": "task-master",
  "/sign-out": "task-master",
  "/stats": "task-master",
  "/palettes": "task-master",
  "/tiles": "task-master",
  "/download": "image-server",
  "/": "task-master",
};

const id = (o) => `${o.kind}/${o.metadata && o.metadata.name}`;

function podTemplate(o) {
  if (o.kind === "CronJob") return o.spec && o.spec.jobTemplate && o.spec.jobTemplate.spec && o.spec.jobTemplate.spec.template;
  return o.spec && o.spec.template;
}

function allContainers(pod) {
  return [...(pod.initContainers || []), ...(pod.containers || [])];
}

function labelsMatch(selector, labels) {
  if (!selector) return false;
  const ml = selector.matchLabels || selector;
  const entries = Object.entries(ml || {});
  if (entries.length === 0 && !(selector.matchExpressions || []).length) return false;
  if (!entries.every(([k, v]) => labels && labels[k] === v)) return false;
  for (const e of selector.matchExpressions || []) {
    const has = labels && Object.prototype.hasOwnProperty.call(labels, e.key);
    const v = labels && labels[e.key];
    if (e.operator === "In" && !(has && e.values.includes(v))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(v)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

function effective(container, pod, key) {
  const c = container.securityContext || {};
  const p = pod.securityContext || {};
  return c[key] !== undefined ? c[key] : p[key];
}

function checkContainer(o, pod, c, out, profile) {
  const where = `${id(o)} container ${c.name}`;
  const r = c.resources || {};
  for (const kind of ["requests", "limits"]) {
    for (const res of ["cpu", "memory"]) {
      if (!r[kind] || r[kind][res] === undefined) out.push(`${where}: resources.${kind}.${res} is missing`);
    }
  }
  const sc = c.securityContext;
  if (!sc) {
    out.push(`${where}: securityContext is missing`);
  } else {
    if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: securityContext.allowPrivilegeEscalation must be false`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: securityContext.readOnlyRootFilesystem must be true`);
    const drop = (sc.capabilities && sc.capabilities.drop) || [];
    if (!drop.includes("ALL")) out.push(`${where}: securityContext.capabilities.drop must include ALL`);
    if (sc.capabilities && (sc.capabilities.add || []).length) out.push(`${where}: securityContext.capabilities.add must be empty`);
    if (sc.privileged) out.push(`${where}: must not be privileged`);
  }
  if (effective(c, pod, "runAsNonRoot") !== true) out.push(`${where}: runAsNonRoot must be true (container or pod)`);
  const seccomp = effective(c, pod, "seccompProfile");
  if (!seccomp || seccomp.type !== "RuntimeDefault") out.push(`${where}: seccompProfile.type must be RuntimeDefault (container or pod)`);
  const uid = effective(c, pod, "runAsUser");
  if (uid === 0) out.push(`${where}: runAsUser must not be 0`);
  if (OUR_IMAGE.test(c.image || "") && uid !== OUR_UID) out.push(`${where}: runAsUser must be ${OUR_UID} for the fractal-render images`);

  // A read-only root filesystem needs a writable /tmp: an emptyDir.
  const tmp = (c.volumeMounts || []).find((m) => m.mountPath === "/tmp");
  const vol = tmp && (pod.volumes || []).find((v) => v.name === tmp.name);
  if (!vol || !vol.emptyDir) out.push(`${where}: /tmp must be an emptyDir volume mount (read-only root filesystem)`);
  const claimTemplates = ((o.spec && o.spec.volumeClaimTemplates) || []).map((t) => t.metadata && t.metadata.name);
  for (const m of c.volumeMounts || []) {
    if (!(pod.volumes || []).some((v) => v.name === m.name) && !claimTemplates.includes(m.name)) out.push(`${where}: volumeMount ${m.name} has no volume`);
  }

  const placeholder = /^fractal-render(-worker)?$/.test(c.image || "");
  if (!c.image) out.push(`${where}: no image`);
  else if (profile === "base" && placeholder) { /* set by the overlays */ }
  else if (!/[:@]/.test(c.image.split("/").pop()) || /:latest$/.test(c.image)) out.push(`${where}: image ${c.image} must have a pinned tag or digest (not latest)`);

  const ports = c.ports || [];
  if (ports.length && !pod.initContainers?.includes(c)) {
    if (!c.readinessProbe) out.push(`${where}: serves ports but has no readinessProbe`);
    if (!c.livenessProbe) out.push(`${where}: serves ports but has no livenessProbe`);
  }
  for (const probeName of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    const probe = c[probeName];
    const port = probe && (probe.httpGet || probe.tcpSocket || {}).port;
    if (typeof port === "string" && !ports.some((p) => p.name === port)) out.push(`${where}: ${probeName} names port ${port}, which the container does not declare`);
  }
  if ((c.command || [])[0] === "fractal-server") {
    const live = c.livenessProbe && c.livenessProbe.httpGet;
    const ready = c.readinessProbe && c.readinessProbe.httpGet;
    if (!live || live.path !== "/livez") out.push(`${where}: fractal-server needs livenessProbe httpGet /livez`);
    if (!ready || ready.path !== "/readyz") out.push(`${where}: fractal-server needs readinessProbe httpGet /readyz`);
  }
}

function refsExist(o, pod, byKind, out) {
  for (const c of allContainers(pod)) {
    // $(VAR) in an env value expands only variables defined before it (envFrom,
    // then earlier env entries); anything else stays literally "$(VAR)".
    const defined = new Set();
    for (const ef of c.envFrom || []) {
      const src = ef.configMapRef ? byKind("ConfigMap", ef.configMapRef.name) : ef.secretRef ? byKind("Secret", ef.secretRef.name) : null;
      if (src) for (const k of Object.keys({ ...(src.data || {}), ...(src.stringData || {}) })) defined.add(`${ef.prefix || ""}${k}`);
    }
    for (const e of c.env || []) {
      for (const m of String(e.value || "").matchAll(/(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        if (!defined.has(m[1])) out.push(`${id(o)} container ${c.name}: env ${e.name} uses $(${m[1]}), which is not defined before it`);
      }
      defined.add(e.name);
    }
    for (const ef of c.envFrom || []) {
      if (ef.configMapRef && !byKind("ConfigMap", ef.configMapRef.name) && !ef.configMapRef.optional) out.push(`${id(o)}: envFrom ConfigMap ${ef.configMapRef.name} does not exist`);
      if (ef.secretRef && !byKind("Secret", ef.secretRef.name) && !ef.secretRef.optional) out.push(`${id(o)}: envFrom Secret ${ef.secretRef.name} does not exist`);
    }
    for (const e of c.env || []) {
      const vf = e.valueFrom || {};
      for (const [kind, ref] of [["ConfigMap", vf.configMapKeyRef], ["Secret", vf.secretKeyRef]]) {
        if (!ref || ref.optional) continue;
        const target = byKind(kind, ref.name);
        const data = target && { ...(target.data || {}), ...(target.stringData || {}) };
        if (!target) out.push(`${id(o)}: env ${e.name} refers to missing ${kind} ${ref.name}`);
        else if (!(ref.key in data)) out.push(`${id(o)}: env ${e.name} refers to missing key ${ref.key} of ${kind} ${ref.name}`);
      }
    }
  }
  for (const v of pod.volumes || []) {
    if (v.persistentVolumeClaim && !byKind("PersistentVolumeClaim", v.persistentVolumeClaim.claimName)) {
      const templates = (o.spec.volumeClaimTemplates || []).map((t) => t.metadata.name);
      if (!templates.includes(v.persistentVolumeClaim.claimName)) out.push(`${id(o)}: volume ${v.name} uses missing PVC ${v.persistentVolumeClaim.claimName}`);
    }
    if (v.configMap && !byKind("ConfigMap", v.configMap.name) && !v.configMap.optional) out.push(`${id(o)}: volume ${v.name} uses missing ConfigMap ${v.configMap.name}`);
  }
}

function checkGpuWorker(worker, out) {
  const pod = worker.spec.template.spec;
  const c = (pod.containers || []).find((x) => x.name === "worker") || (pod.containers || [])[0];
  const where = `${id(worker)} (gpu profile)`;
  const gpu = c && c.resources && c.resources.limits && c.resources.limits["nvidia.com/gpu"];
  if (!(Number(gpu) >= 1)) out.push(`${where}: resources.limits["nvidia.com/gpu"] must be at least 1`);
  if (!pod.nodeSelector || pod.nodeSelector["nvidia.com/gpu.present"] !== "true") out.push(`${where}: nodeSelector nvidia.com/gpu.present: "true" is missing`);
  const tol = (pod.tolerations || []).some((t) => t.key === "nvidia.com/gpu" && t.effect === "NoSchedule" && (t.operator === "Exists" || t.operator === "Equal" || t.operator === undefined));
  if (!tol) out.push(`${where}: toleration nvidia.com/gpu NoSchedule is missing`);
  if (c && !/cuda/.test(c.image || "")) out.push(`${where}: worker image ${c && c.image} is not the CUDA image`);
}

function checkCpuWorker(worker, out) {
  const pod = worker.spec.template.spec;
  const where = `${id(worker)} (cpu profile)`;
  for (const c of pod.containers || []) {
    for (const kind of ["requests", "limits"]) {
      if (c.resources && c.resources[kind] && "nvidia.com/gpu" in c.resources[kind]) out.push(`${where}: asks for nvidia.com/gpu`);
    }
    if (/cuda/.test(c.image || "")) out.push(`${where}: uses the CUDA image ${c.image}`);
  }
  if (pod.nodeSelector && "nvidia.com/gpu.present" in pod.nodeSelector) out.push(`${where}: has a GPU nodeSelector`);
}

export function checkPolicy(objects, profile) {
  const out = [];
  const index = new Map();
  for (const o of objects) index.set(`${o.kind}/${o.metadata && o.metadata.name}`, o);
  const byKind = (kind, name) => index.get(`${kind}/${name}`);
  const namespaces = new Set();

  for (const o of objects) {
    if (!o.metadata || !o.metadata.name) {
      out.push(`${o.kind}: metadata.name is missing`);
      continue;
    }
    if (o.metadata.namespace) namespaces.add(o.metadata.namespace);
    const labels = o.metadata.labels || {};
    if (labels["app.kubernetes.io/part-of"] !== "fractal-render") out.push(`${id(o)}: label app.kubernetes.io/part-of: fractal-render is missing`);

    if (WORKLOAD_KINDS.has(o.kind) || o.kind === "CronJob") {
      const tpl = podTemplate(o);
      const pod = tpl && tpl.spec;
      if (!pod) {
        out.push(`${id(o)}: no pod template`);
        continue;
      }
      if (o.spec.selector && !labelsMatch(o.spec.selector, tpl.metadata && tpl.metadata.labels)) out.push(`${id(o)}: selector does not match the pod template labels`);
      const psc = pod.securityContext || {};
      if (psc.runAsNonRoot !== true) out.push(`${id(o)}: pod securityContext.runAsNonRoot must be true`);
      if (!psc.seccompProfile || psc.seccompProfile.type !== "RuntimeDefault") out.push(`${id(o)}: pod securityContext.seccompProfile.type must be RuntimeDefault`);
      if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push(`${id(o)}: must not use host namespaces`);
      for (const c of allContainers(pod)) checkContainer(o, pod, c, out, profile);
      refsExist(o, pod, byKind, out);
    }

    if (o.kind === "Service" && o.spec && o.spec.selector) {
      const pods = objects.filter((w) => WORKLOAD_KINDS.has(w.kind)).map((w) => podTemplate(w));
      const target = pods.find((t) => labelsMatch(o.spec.selector, t && t.metadata && t.metadata.labels));
      if (!target) out.push(`${id(o)}: selector matches no pod template`);
      else {
        const ports = allContainers(target.spec).flatMap((c) => c.ports || []);
        for (const p of o.spec.ports || []) {
          if (typeof p.targetPort === "string" && !ports.some((cp) => cp.name === p.targetPort)) out.push(`${id(o)}: targetPort ${p.targetPort} is not a named port of its pods`);
        }
      }
    }

    if (o.kind === "PodDisruptionBudget") {
      const pods = objects.filter((w) => WORKLOAD_KINDS.has(w.kind)).map((w) => podTemplate(w));
      if (!pods.some((t) => labelsMatch(o.spec.selector, t && t.metadata && t.metadata.labels))) out.push(`${id(o)}: selector matches no pod template`);
    }

    if (o.kind === "PersistentVolumeClaim" && o.metadata.name === "fractal-images") {
      if (!(o.spec.accessModes || []).includes("ReadWriteMany")) out.push(`${id(o)}: the image store must be ReadWriteMany`);
    }

    if (o.kind === "ScaledObject") {
      const ref = o.spec.scaleTargetRef || {};
      const target = byKind(ref.kind || "Deployment", ref.name);
      if (!target) out.push(`${id(o)}: scaleTargetRef ${ref.kind || "Deployment"}/${ref.name} does not exist`);
      const triggers = o.spec.triggers || [];
      const lag = triggers.find((t) => t.type === "redis-streams" && t.metadata && t.metadata.lagCount !== undefined);
      if (!lag) out.push(`${id(o)}: needs a redis-streams trigger with lagCount`);
      // Redis answers lag NULL (KEDA reads 0) once acknowledged entries are
      // deleted out of order; XLEN still counts every unfinished task.
      const length = triggers.find((t) => t.type === "redis-streams" && t.metadata && t.metadata.streamLength !== undefined);
      if (!length) out.push(`${id(o)}: needs a redis-streams trigger with streamLength (the lag can be NULL)`);
      for (const t of triggers) {
        if (t.type !== "redis-streams") {
          out.push(`${id(o)}: trigger type ${t.type} is not redis-streams`);
          continue;
        }
        const m = t.metadata || {};
        if (m.stream !== "fractal:tasks") out.push(`${id(o)}: trigger stream must be fractal:tasks (is ${m.stream})`);
        if (m.streamLength !== undefined) {
          if (m.consumerGroup !== undefined) out.push(`${id(o)}: a streamLength trigger must not name a consumerGroup (KEDA would read the pending entries)`);
        } else if (m.consumerGroup !== "renderers") {
          out.push(`${id(o)}: trigger consumerGroup must be renderers (is ${m.consumerGroup})`);
        }
        if (!m.address && !m.host && !m.addressFromEnv && !m.hostFromEnv) out.push(`${id(o)}: trigger has no Redis address`);
        for (const [k, v] of Object.entries(m)) if (typeof v !== "string") out.push(`${id(o)}: trigger metadata ${k} must be a string`);
      }
      if (!(o.spec.minReplicaCount >= 1)) out.push(`${id(o)}: minReplicaCount must be at least 1 (the reconciler runs in a worker)`);
    }

    if (o.kind === "Ingress") {
      if (o.spec.ingressClassName !== "traefik") out.push(`${id(o)}: ingressClassName must be traefik`);
      const seen = {};
      for (const rule of o.spec.rules || []) {
        for (const p of (rule.http && rule.http.paths) || []) {
          if (p.pathType !== "Prefix") out.push(`${id(o)}: path ${p.path} must be pathType Prefix`);
          const svc = p.backend && p.backend.service;
          seen[p.path] = svc && svc.name;
          const target = svc && byKind("Service", svc.name);
          if (!target) out.push(`${id(o)}: path ${p.path} routes to missing Service ${svc && svc.name}`);
          else if (svc.port && svc.port.name && !(target.spec.ports || []).some((sp) => sp.name === svc.port.name)) out.push(`${id(o)}: path ${p.path}: Service ${svc.name} has no port ${svc.port.name}`);
          else if (svc.port && svc.port.number && !(target.spec.ports || []).some((sp) => sp.port === svc.port.number)) out.push(`${id(o)}: path ${p.path}: Service ${svc.name} has no port ${svc.port.number}`);
        }
      }
      for (const [path, svc] of Object.entries(EXPECTED_ROUTES)) {
        if (seen[path] !== svc) out.push(`${id(o)}: ${path} must route to ${svc} (routes to ${seen[path] || "nothing"})`);
      }
      for (const path of Object.keys(seen)) if (!(path in EXPECTED_ROUTES)) out.push(`${id(o)}: unexpected path ${path}`);
    }

    if (o.kind === "ClusterRole" && /traefik/.test(o.metadata.name)) {
      const has = (group, resource, verb) => (o.rules || []).some((r) => (r.apiGroups || []).includes(group) && (r.resources || []).includes(resource) && (r.verbs || []).includes(verb));
      const needed = [
        ["", "services", "watch"], ["", "endpoints", "watch"], ["", "secrets", "watch"],
        ["discovery.k8s.io", "endpointslices", "watch"],
        ["networking.k8s.io", "ingresses", "watch"], ["networking.k8s.io", "ingressclasses", "watch"],
        ["networking.k8s.io", "ingresses/status", "update"],
      ];
      for (const [g, r, v] of needed) if (!has(g, r, v)) out.push(`${id(o)}: rule ${g || "core"}/${r} ${v} is missing`);
    }
  }

  if (namespaces.size > 1) out.push(`objects span several namespaces: ${[...namespaces].join(", ")}`);

  const redis = byKind("StatefulSet", "redis");
  if (profile !== "base" || redis) {
    const args = redis ? allContainers(redis.spec.template.spec).flatMap((c) => [...(c.command || []), ...(c.args || [])]) : [];
    const i = args.indexOf("--appendonly");
    if (!redis) out.push("StatefulSet/redis is missing");
    else if (i < 0 || args[i + 1] !== "yes") out.push("StatefulSet/redis: --appendonly yes is missing");
  }
  for (const name of ["traefik", "task-master", "image-server", "worker"]) {
    if (!byKind("Deployment", name)) out.push(`Deployment/${name} is missing`);
  }

  const worker = byKind("Deployment", "worker");
  if (worker && profile === "gpu") checkGpuWorker(worker, out);
  if (worker && profile === "cpu") checkCpuWorker(worker, out);
  if (profile === "gpu" || profile === "cpu") {
    for (const o of objects) {
      if (!WORKLOAD_KINDS.has(o.kind)) continue;
      for (const c of allContainers(podTemplate(o).spec)) {
        if (/^fractal-render(-worker)?$/.test(c.image || "")) out.push(`${id(o)} container ${c.name}: image ${c.image} was not set by the overlay`);
      }
    }
  }
  return out;
}
