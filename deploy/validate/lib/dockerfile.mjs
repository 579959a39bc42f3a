// Dockerfile lint (dockerfile-utils: the validator behind VS Code's Docker
// language server: syntax, instructions, flags, duplicate stages, ...) plus
// project policy: pinned bases, multi-stage, non-root 10001, HEALTHCHECK,
// OCI labels, no -dev package in the runtime stage, lean apt use, build
// context files not excluded by .dockerignore.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { validate, ValidationSeverity } = require("dockerfile-utils");

// Instructions with their continuation lines joined; comments dropped.
export function instructions(text) {
  const out = [];
  let current = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (current === null && (/^\s*#/.test(line) || /^\s*$/.test(line))) continue;
    if (current !== null && /^\s*#/.test(line)) continue;
    const piece = line.replace(/\\\s*$/, "");
    const continued = /\\\s*$/.test(line);
    if (current === null) current = { line: i + 1, text: piece.trim() };
    else current.text += " " + piece.trim();
    if (!continued) {
      const m = /^(\S+)\s*(.*)$/s.exec(current.text);
      out.push({ line: current.line, keyword: m[1].toUpperCase(), args: m[2] });
      current = null;
    }
  }
  if (current) out.push({ line: current.line, keyword: current.text.split(/\s/)[0].toUpperCase(), args: current.text });
  return out;
}

function globToRegExp(pattern) {
  let p = pattern.replace(/^\/+/, "").replace(/\/+$/, "");
  let re = "";
  for (let i = 0; i < p.length; i++) {
    const ch = p[i];
    if (ch === "*" && p[i + 1] === "*") {
      re += ".*";
      i++;
      if (p[i + 1] === "/") i++;
    } else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}(/.*)?$`);
}

export function dockerignored(root, path) {
  const file = join(root, ".dockerignore");
  if (!existsSync(file)) return false;
  let ignored = false;
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (globToRegExp(negate ? line.slice(1) : line).test(path)) ignored = !negate;
  }
  return ignored;
}

export function lintDockerfile(file, { root = dirname(file), expect = {} } = {}) {
  const errors = [];
  const text = readFileSync(file, "utf8");
  const severity = ValidationSeverity.ERROR;
  const diagnostics = validate(text, {
    deprecatedMaintainer: severity,
    directiveCasing: severity,
    emptyContinuationLine: severity,
    instructionCasing: severity,
    instructionCmdMultiple: severity,
    instructionEntrypointMultiple: severity,
    instructionHealthcheckMultiple: severity,
    instructionJSONInSingleQuotes: severity,
    instructionWorkdirRelative: severity,
  });
  for (const d of diagnostics) errors.push(`line ${d.range.start.line + 1}: ${d.message}`);

  const ins = instructions(text);
  const stages = [];
  for (const i of ins) {
    if (i.keyword === "FROM") stages.push({ from: i, body: [] });
    else if (stages.length) stages[stages.length - 1].body.push(i);
  }
  if (stages.length < 2) errors.push("must be multi-stage (a build stage and a runtime stage)");
  for (const s of stages) {
    const image = s.from.args.split(/\s+/).filter((a) => !a.startsWith("--"))[0] || "";
    const isStage = stages.some((t) => new RegExp(`\\bAS\\s+${image}$`, "i").test(t.from.args));
    if (!isStage && (!/:[^/]+$|@sha256:/.test(image) || /:latest$/.test(image))) errors.push(`line ${s.from.line}: base image ${image} must be pinned (tag or digest, not latest)`);
  }
  if (!stages.length) return errors;
  const final = stages[stages.length - 1];
  const finalImage = final.from.args.split(/\s+/)[0];
  const has = (kw) => final.body.filter((i) => i.keyword === kw);
  const users = has("USER");
  const lastUser = users.length ? users[users.length - 1].args.trim() : "";
  if (!/^10001(:10001)?$/.test(lastUser)) errors.push(`runtime stage: USER must be 10001 (is ${lastUser || "unset: root"})`);
  if (!has("HEALTHCHECK").length) errors.push("runtime stage: HEALTHCHECK is missing");
  if (!has("CMD").length && !has("ENTRYPOINT").length) errors.push("runtime stage: CMD or ENTRYPOINT is missing");
  const labels = has("LABEL").map((i) => i.args).join(" ");
  for (const key of ["title", "description", "version", "revision", "source", "licenses"]) {
    if (!labels.includes(`org.opencontainers.image.${key}=`)) errors.push(`runtime stage: LABEL org.opencontainers.image.${key} is missing`);
  }
  for (const run of has("RUN")) {
    if (/apt-get install[^&;|]*\s[a-z0-9.+-]+-dev(\s|$)/.test(run.args)) errors.push(`line ${run.line}: runtime stage installs a -dev package`);
  }
  for (const s of stages) {
    for (const run of s.body.filter((i) => i.keyword === "RUN")) {
      if (/apt-get install/.test(run.args)) {
        if (!/--no-install-recommends/.test(run.args)) errors.push(`line ${run.line}: apt-get install without --no-install-recommends`);
        if (!/rm -rf \/var\/lib\/apt\/lists/.test(run.args)) errors.push(`line ${run.line}: apt lists are not removed in the same RUN`);
        if (!/apt-get update/.test(run.args)) errors.push(`line ${run.line}: apt-get install without apt-get update in the same RUN`);
      }
    }
  }
  // Files of the build context that the Dockerfile names must exist and not be ignored.
  for (const i of ins) {
    const paths = [];
    if (i.keyword === "COPY" || i.keyword === "ADD") {
      if (/--from=/.test(i.args)) continue;
      const parts = i.args.split(/\s+/).filter((a) => !a.startsWith("--"));
      paths.push(...parts.slice(0, -1).filter((p) => p !== "."));
    }
    if (i.keyword === "RUN") for (const m of i.args.matchAll(/\b(deploy\/[A-Za-z0-9_./-]+)/g)) paths.push(m[1]);
    for (const p of paths) {
      if (!existsSync(join(root, p))) errors.push(`line ${i.line}: ${p} does not exist in the build context`);
      else if (dockerignored(root, p)) errors.push(`line ${i.line}: ${p} is excluded by .dockerignore`);
    }
  }
  if (expect.builder && !stages[0].from.args.startsWith(expect.builder)) errors.push(`build stage must be FROM ${expect.builder}`);
  if (expect.runtime && finalImage !== expect.runtime) errors.push(`runtime stage must be FROM ${expect.runtime} (is ${finalImage})`);
  if (expect.cuda && !text.includes(`-DFRACTAL_CUDA=${expect.cuda}`)) errors.push(`must configure with -DFRACTAL_CUDA=${expect.cuda}`);
  return errors;
}

// Dockerfile and Dockerfile.cuda must stay in step: the same stages in the same
// order, the same apt packages in each stage, the same COPY instructions, and
// the same project scripts run (deploy/...), so that what is built and smoke-tested
// from the CPU Dockerfile (deploy/images/build) stands for the CUDA image too.
// Only the bases, the CUDA settings (ARG/ENV, -DFRACTAL_CUDA, architectures),
// LABEL texts and ENV values may differ.
function stagesOf(file) {
  const stages = [];
  for (const i of instructions(readFileSync(file, "utf8"))) {
    if (i.keyword === "FROM") {
      const m = /\bAS\s+(\S+)\s*$/i.exec(i.args);
      stages.push({ name: m ? m[1].toLowerCase() : "(unnamed)", line: i.line, body: [] });
    } else if (stages.length) stages[stages.length - 1].body.push(i);
  }
  return stages;
}

// The build stage's RUNs differ (CUDA flags): there the project scripts it runs
// must match; every later stage's RUNs must be the same text.
function stageFacts(stage, isBuild) {
  const packages = new Set();
  const copies = [];
  const scripts = [];
  for (const i of stage.body) {
    if (i.keyword === "RUN") {
      for (const m of i.args.matchAll(/apt-get install((?:\s+[^&;|]+?)?)(?=\s*(?:&&|;|\||$))/g)) {
        for (const word of m[1].trim().split(/\s+/)) if (word && !word.startsWith("-")) packages.add(word);
      }
      if (!isBuild) scripts.push(i.args.replace(/\s+/g, " ").trim());
      else for (const m of i.args.matchAll(/\b(deploy\/[A-Za-z0-9_./-]+[^&;|]*)/g)) scripts.push(m[1].trim());
    }
    if (i.keyword === "COPY") copies.push(i.args.replace(/\s+/g, " ").trim());
  }
  return { packages: [...packages].sort(), copies, scripts };
}

export function dockerfilesInStep(cpuFile, cudaFile) {
  const errors = [];
  const a = stagesOf(cpuFile);
  const b = stagesOf(cudaFile);
  const names = (s) => s.map((x) => x.name).join(", ");
  if (names(a) !== names(b)) {
    errors.push(`stages differ: ${cpuFile}: ${names(a)}; ${cudaFile}: ${names(b)}`);
    return errors;
  }
  for (let k = 0; k < a.length; k++) {
    const fa = stageFacts(a[k], k === 0);
    const fb = stageFacts(b[k], k === 0);
    const only = (x, y) => x.filter((p) => !y.includes(p));
    const onlyA = only(fa.packages, fb.packages);
    const onlyB = only(fb.packages, fa.packages);
    if (onlyA.length || onlyB.length) {
      errors.push(`stage ${a[k].name}: apt packages differ (only in the CPU Dockerfile: ${onlyA.join(" ") || "-"}; only in Dockerfile.cuda: ${onlyB.join(" ") || "-"})`);
    }
    if (fa.copies.join("\n") !== fb.copies.join("\n")) {
      errors.push(`stage ${a[k].name}: COPY instructions differ (CPU: ${fa.copies.join(" | ")}; CUDA: ${fb.copies.join(" | ")})`);
    }
    if (fa.scripts.join("\n") !== fb.scripts.join("\n")) {
      errors.push(`stage ${a[k].name}: the commands run differ (CPU: ${fa.scripts.join(" | ")}; CUDA: ${fb.scripts.join(" | ")})`);
    }
  }
  return errors;
}
