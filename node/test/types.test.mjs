// The TypeScript declarations (index.d.ts) cover the API as users write it: `tsc --noEmit
// --strict` compiles test/typecheck.mts (ES module) and test/typecheck-cjs.cts (CommonJS).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

test("tsc --noEmit --strict accepts the typed uses of the whole API", async () => {
  const result = await new Promise((resolve) => {
    execFile(process.execPath, [tsc, "--noEmit", "--strict", "-p", path.join(here, "tsconfig.json")], { timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ error, stdout, stderr }),
    );
  });
  assert.equal(result.error, null, `${result.stdout}${result.stderr}`);
});

test("the TypeScript snippets of README.md compile with --strict", async () => {
  const { readFile, writeFile } = await import("node:fs/promises");
  const readme = await readFile(path.join(here, "..", "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 2, "README.md has no TypeScript snippets");
  const imports = [];
  const bodies = blocks.map((block, i) => {
    const lines = block.split("\n");
    imports.push(...lines.filter((l) => l.startsWith("import ")));
    return `export async function snippet${i}() {\n${lines.filter((l) => !l.startsWith("import ")).join("\n")}\n}`;
  });
  await writeFile(path.join(here, ".readme-snippets.mts"), `${imports.join("\n")}\n${bodies.join("\n")}\n`);
  const result = await new Promise((resolve) => {
    execFile(process.execPath, [tsc, "--noEmit", "--strict", "-p", path.join(here, "tsconfig.readme.json")], { timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ error, stdout, stderr }),
    );
  });
  assert.equal(result.error, null, `${result.stdout}${result.stderr}`);
});
