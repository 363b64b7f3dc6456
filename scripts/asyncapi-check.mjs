// Parse an AsyncAPI document with the AsyncAPI parser and its recommended rules; exit 1 on any
// error or warning. Usage: node scripts/asyncapi-check.mjs [docs/asyncapi.yaml]
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2] ?? "docs/asyncapi.yaml";
const severities = ["error", "warning", "info", "hint"];
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"), {
  source: path,
});
let failed = document === undefined;
for (const d of diagnostics) {
  const where = d.path.join(".") || "(document)";
  console.log(`${severities[d.severity]} ${d.code} at ${where}: ${d.message}`);
  failed ||= d.severity <= 1;
}
console.log(`asyncapi: ${path} ${failed ? "is not valid" : "is valid"} (${diagnostics.length} diagnostics)`);
process.exit(failed ? 1 : 0);
