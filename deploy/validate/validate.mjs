#!/usr/bin/env node
// Offline validation of the deployment files. Exit status 0 when valid, 1 when
// anything is wrong (each problem on its own line), 2 on usage errors.
//   node validate.mjs k8s [--profile base|cpu|gpu] [--schema-only|--policy-only] FILE...
//       FILE: rendered manifests (kustomize build output), "-" for stdin
//   node validate.mjs compose FILE
//   node validate.mjs dockerfile [--expect cuda|cpu] [--root DIR] FILE
//   node validate.mjs seeds DIR          (deploy/k8s/base: seed files and the kustomization)
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { resolve, join } from "node:path";
import { readYamlDocuments } from "./lib/yaml-docs.mjs";
import { validateObject } from "./lib/k8s-schema.mjs";
import { checkPolicy } from "./lib/policy.mjs";
import { validateCompose } from "./lib/compose.mjs";
import { lintDockerfile, dockerfilesInStep } from "./lib/dockerfile.mjs";

function usage(msg) {
  if (msg) console.error(`validate: ${msg}`);
  console.error("usage: validate.mjs k8s [--profile base|cpu|gpu] [--schema-only|--policy-only] FILE... | compose FILE | dockerfile [--expect cuda|cpu] [--root DIR] FILE | dockerfiles-in-step CPU_DOCKERFILE CUDA_DOCKERFILE");
  process.exit(2);
}

function parse(args) {
  const opts = { _: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--profile" || a === "--expect" || a === "--root") opts[a.slice(2)] = args[++i];
    else if (a === "--schema-only" || a === "--policy-only") opts[a.slice(2)] = true;
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else opts._.push(a);
  }
  return opts;
}

function report(label, problems, summary) {
  for (const p of problems) console.log(`${label}: ${p}`);
  console.log(`${label}: ${summary}, ${problems.length} problem${problems.length === 1 ? "" : "s"}`);
  return problems.length ? 1 : 0;
}

async function k8s(opts) {
  if (!opts._.length) usage("k8s: no file");
  const profile = opts.profile || "base";
  if (!["base", "cpu", "gpu"].includes(profile)) usage(`unknown profile ${profile}`);
  let status = 0;
  for (const file of opts._) {
    const text = readFileSync(file === "-" ? 0 : file, "utf8");
    const { docs, errors } = readYamlDocuments(file, text);
    const problems = [...errors];
    if (!docs.length) problems.push("no objects");
    if (!opts["policy-only"]) {
      for (const obj of docs) {
        const name = `${obj && obj.kind}/${obj && obj.metadata && obj.metadata.name}`;
        for (const e of await validateObject(obj)) problems.push(`${name}: ${e}`);
      }
    }
    if (!opts["schema-only"]) problems.push(...checkPolicy(docs, profile).map((p) => `policy: ${p}`));
    status |= report(file, problems, `${docs.length} objects (profile ${profile})`);
  }
  return status;
}

// The seed files of deploy/k8s/base, exactly these names, and what each holds.
const SEEDS = {
  "01-traefik-rbac.yaml": ["ServiceAccount/traefik", "ClusterRole/*", "ClusterRoleBinding/*"],
  "02-traefik-deployment.yaml": ["Deployment/traefik"],
  "03-traefik-service.yaml": ["Service/traefik"],
  "04-task-master-deployment.yaml": ["Deployment/task-master"],
  "05-task-master-service.yaml": ["Service/task-master"],
  "06-image-server-deployment.yaml": ["Deployment/image-server"],
  "07-image-server-service.yaml": ["Service/image-server"],
  "08-ingress-path-routing.yaml": ["Ingress/*"],
};

function seeds(dir) {
  const problems = [];
  const kustomization = join(dir, "kustomization.yaml");
  if (!existsSync(kustomization)) return [`${kustomization} is missing`];
  const { docs, errors } = readYamlDocuments(kustomization);
  problems.push(...errors);
  const listed = (docs[0] && docs[0].resources) || [];
  for (const [file, kinds] of Object.entries(SEEDS)) {
    const path = join(dir, file);
    if (!existsSync(path)) {
      problems.push(`seed file ${file} is missing`);
      continue;
    }
    if (!listed.includes(file)) problems.push(`seed file ${file} is not in kustomization.yaml resources`);
    const objs = readYamlDocuments(path).docs.map((o) => `${o.kind}/${o.metadata && o.metadata.name}`);
    for (const want of kinds) {
      const [kind, name] = want.split("/");
      if (!objs.some((o) => o.split("/")[0] === kind && (name === "*" || o.split("/")[1] === name))) problems.push(`${file} must hold ${want} (holds ${objs.join(", ")})`);
    }
  }
  const yamls = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
  for (const f of yamls) if (!listed.includes(f)) problems.push(`${f} is not listed in kustomization.yaml resources`);
  for (const r of listed) if (!existsSync(join(dir, r))) problems.push(`kustomization.yaml lists missing ${r}`);
  return problems;
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const opts = parse(rest);
  switch (command) {
    case "k8s":
      return k8s(opts);
    case "compose": {
      if (opts._.length !== 1) usage("compose: one file");
      const problems = validateCompose(opts._[0], process.env);
      return report(opts._[0], problems, "compose file");
    }
    case "dockerfile": {
      if (opts._.length !== 1) usage("dockerfile: one file");
      const expect = {
        cuda: { builder: "nvidia/cuda:13.0.0-devel-ubuntu24.04", runtime: "nvidia/cuda:13.0.0-runtime-ubuntu24.04", cuda: "ON" },
        cpu: { builder: "debian:12-slim", runtime: "debian:12-slim", cuda: "OFF" },
      }[opts.expect || ""] || {};
      if (opts.expect && !Object.keys(expect).length) usage(`unknown --expect ${opts.expect}`);
      const root = resolve(opts.root || ".");
      const problems = lintDockerfile(opts._[0], { root, expect });
      return report(opts._[0], problems, "Dockerfile");
    }
    case "dockerfiles-in-step": {
      if (opts._.length !== 2) usage("dockerfiles-in-step: CPU_DOCKERFILE CUDA_DOCKERFILE");
      return report(`${opts._[0]} and ${opts._[1]}`, dockerfilesInStep(opts._[0], opts._[1]), "Dockerfiles in step");
    }
    case "seeds": {
      if (opts._.length !== 1) usage("seeds: one directory");
      return report(opts._[0], seeds(opts._[0]), `${Object.keys(SEEDS).length} seed files`);
    }
    default:
      usage(command ? `unknown command ${command}` : "no command");
  }
}

main().then((code) => process.exit(code || 0), (e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
