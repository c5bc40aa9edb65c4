// The package loads through require and import, and a process exits by itself once its
// servient is closed (no handles left open).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

import * as esm from "lmos";

const here = path.dirname(fileURLToPath(import.meta.url));

// Runs a fixture; a process that does not exit by itself is killed after 30 s and fails.
function run(fixture) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(here, "fixtures", fixture)], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ error, stdout, stderr });
    });
  });
}

test("require and import give the same API", () => {
  const cjs = createRequire(import.meta.url)("lmos");
  for (const name of Object.keys(cjs)) {
    if (name === "default") continue;
    assert.equal(esm[name], cjs[name], name);
  }
  assert.equal(esm.default, cjs);
  assert.equal(cjs.default, cjs);
  assert.match(cjs.version, /^\d+\.\d+\.\d+/);
});

test("a CommonJS process exits by itself after close(), with an abandoned observation", async () => {
  const { error, stdout, stderr } = await run("serve_and_close.cjs");
  assert.equal(error, null, `did not exit cleanly: ${error?.message}\n${stderr}`);
  const result = JSON.parse(stdout.trim());
  assert.equal(result.answer, "pong");
  assert.equal(result.first, 2);
  assert.deepEqual(result.end, { done: true });
});

test("an ES module process exits by itself after close()", async () => {
  const { error, stdout, stderr } = await run("import_and_close.mjs");
  assert.equal(error, null, `did not exit cleanly: ${error?.message}\n${stderr}`);
  assert.deepEqual(JSON.parse(stdout.trim()), { answer: "pong", sameObject: true, errors: "function" });
});
