// Reads every document of a multi-document YAML file, strictly: duplicate
// keys, tabs, and any parse error are errors (not warnings).
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

export function readYamlDocuments(file, text = readFileSync(file, "utf8")) {
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true, strict: true });
  const out = [];
  const errors = [];
  for (const doc of docs) {
    for (const e of doc.errors) errors.push(`${file}: ${e.message}`);
    for (const w of doc.warnings) errors.push(`${file}: ${w.message}`);
    const value = doc.toJS({ maxAliasCount: 1000 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return { docs: out, errors };
}
