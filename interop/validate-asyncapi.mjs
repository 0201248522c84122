// Validates an AsyncAPI document with the AsyncAPI initiative's own parser; prints its diagnostics as JSON lines
// and exits 1 if any is an error.
//
//   node validate-asyncapi.mjs ../docs/asyncapi.json

import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"), { source: path });
for (const d of diagnostics) {
  console.log(JSON.stringify({ severity: DiagnosticSeverity[d.severity], code: d.code, path: d.path.join("."),
    message: d.message }));
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (errors.length || !document) process.exit(1);
console.log(JSON.stringify({ valid: true, version: document.version(), channels: document.channels().length,
  messages: document.allMessages().length, operations: document.operations().length }));
