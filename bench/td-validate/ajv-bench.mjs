// The ajv side of the TD validation benchmark.
//
// Usage: node ajv-bench.mjs SCHEMA CORPUS WARMUP ITERATIONS
//
// Compiles SCHEMA once with ajv + ajv-formats, turns every TD of CORPUS (a JSON array) into its own
// UTF-8 byte buffer, then times full passes over the buffers: decode + JSON.parse + validate.
// Prints one JSON object per configuration on stdout (consumed by ./run).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const Ajv = require("ajv");
const addFormats = require("ajv-formats");

const [schemaPath, corpusPath, warmupArg, iterationsArg] = process.argv.slice(2);
if (!schemaPath || !corpusPath) {
  console.error("usage: node ajv-bench.mjs SCHEMA CORPUS WARMUP ITERATIONS");
  process.exit(2);
}
const warmup = Number.parseInt(warmupArg ?? "3", 10);
const iterations = Number.parseInt(iterationsArg ?? "10", 10);

const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
const docs = JSON.parse(readFileSync(corpusPath, "utf8")).map((td) => Buffer.from(JSON.stringify(td), "utf8"));
const totalBytes = docs.reduce((sum, b) => sum + b.length, 0);
const decoder = new TextDecoder("utf-8", { fatal: true });

function measure(label, allErrors) {
  // strict: false because the W3C schema uses annotation keywords ajv's strict mode rejects
  // (e.g. "examples" inside definitions is fine, but the top-level "version" is not a keyword).
  const ajv = new Ajv.default({ strict: false, allErrors });
  addFormats.default(ajv);
  const validate = ajv.compile(schema);

  const pass = () => {
    let valid = 0;
    for (const bytes of docs) {
      const value = JSON.parse(decoder.decode(bytes));
      if (validate(value)) valid += 1;
    }
    return valid;
  };

  let valid = pass();
  if (valid !== docs.length) {
    // Show the first rejected document's errors so a broken corpus is obvious.
    for (const bytes of docs) {
      if (!validate(JSON.parse(decoder.decode(bytes)))) {
        console.error(JSON.stringify(validate.errors, null, 2));
        break;
      }
    }
  }
  for (let i = 1; i < warmup; i += 1) valid = pass();
  const rates = [];
  for (let i = 0; i < iterations; i += 1) {
    const start = process.hrtime.bigint();
    valid = pass();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(docs.length / seconds);
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)];
  console.log(JSON.stringify({
    name: label, docs: docs.length, valid, bytes: totalBytes, iterations,
    median_tds_per_s: median, min_tds_per_s: rates[0], max_tds_per_s: rates[rates.length - 1],
  }));
}

measure("ajv allErrors (JSON.parse + schema)", true);
measure("ajv first-error (JSON.parse + schema)", false);
