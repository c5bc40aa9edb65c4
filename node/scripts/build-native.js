#!/usr/bin/env node
// Builds the native addon (lmos.node, next to package.json) from the Rust crate in
// ../bindings/node with the napi-rs CLI (a regular dependency of this package), driving cargo.
//
//   node scripts/build-native.js [--debug]
//
// Runs as the package's `install` script, so `npm install ./node` builds from source. Release
// build by default; `--debug` or LMOS_BUILD_PROFILE=debug builds the debug profile (faster to
// compile; what the repository's tests use). CARGO_TARGET_DIR is honoured as cargo does.
"use strict";

const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const packageDir = path.resolve(__dirname, "..");
const manifest = path.resolve(packageDir, "..", "bindings", "node", "Cargo.toml");
const debug = process.argv.includes("--debug") || process.env.LMOS_BUILD_PROFILE === "debug";

function fail(message) {
  console.error(`lmos: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(manifest)) {
  fail(
    `cannot build the native addon: the Rust crate is not at ${manifest}. ` +
      "Install the package from a checkout of the lmos repository (npm install ./node).",
  );
}

function findCli() {
  const cliPackage = require.resolve("@napi-rs/cli/package.json", { paths: [packageDir] });
  const bin = require(cliPackage).bin;
  return path.resolve(path.dirname(cliPackage), typeof bin === "string" ? bin : bin.napi);
}

// npm does not install the dependencies of a folder that lives outside the installing project
// (`npm install /path/to/lmos/node` links it). Then install this package's own runtime
// dependencies (the napi-rs CLI, pinned by package-lock.json) next to it, from the registry.
function installOwnDependencies() {
  console.error("lmos: installing the napi-rs CLI next to the package (npm ci --omit=dev)");
  const npmCli = process.env.npm_execpath;
  const args = ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"];
  const result = npmCli
    ? spawnSync(process.execPath, [npmCli, ...args], { cwd: packageDir, stdio: "inherit" })
    : spawnSync("npm", args, { cwd: packageDir, stdio: "inherit", shell: process.platform === "win32" });
  if (result.error || result.status !== 0) {
    fail(`installing the package's dependencies failed: ${result.error?.message ?? `exit ${result.status}`}`);
  }
}

let cli;
try {
  cli = findCli();
} catch {
  installOwnDependencies();
  try {
    cli = findCli();
  } catch (error) {
    fail(`cannot find the napi-rs CLI (@napi-rs/cli): ${error.message}`);
  }
}

// The debug build (what the repository's tests use) goes through cargo directly: the napi-rs
// CLI passes an explicit --target, which puts the build under target/<triple>/ and so compiles
// the whole core a second time next to the build `cargo test` and the Python package share.
if (debug) {
  const cargo = process.env.CARGO || "cargo";
  const built = spawnSync(cargo, ["build", "--manifest-path", manifest], { cwd: packageDir, stdio: "inherit" });
  if (built.error) fail(`cannot run cargo: ${built.error.message}`);
  if (built.status !== 0) fail(`building the native addon failed (exit ${built.status})`);
  const metadata = spawnSync(cargo, ["metadata", "--format-version", "1", "--no-deps", "--manifest-path", manifest], {
    cwd: packageDir,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (metadata.status !== 0) fail("cargo metadata failed; cannot find the built addon");
  const targetDir = JSON.parse(metadata.stdout).target_directory;
  const library = path.join(targetDir, "debug", "liblmos_node.so");
  if (!fs.existsSync(library)) fail(`the build made no ${library}`);
  fs.copyFileSync(library, path.join(packageDir, "lmos.node"));
  process.exit(0);
}

const args = [
  cli,
  "build",
  "--manifest-path",
  manifest,
  "--package-json-path",
  path.join(packageDir, "package.json"),
  "--output-dir",
  packageDir,
  "--dts",
  "native.d.ts",
];
if (!debug) args.push("--release");

console.error(`lmos: building the native addon (${debug ? "debug" : "release"}) with cargo`);
const result = spawnSync(process.execPath, args, { cwd: packageDir, stdio: "inherit" });
if (result.error) fail(`cannot run the napi-rs CLI: ${result.error.message}`);
if (result.status !== 0) fail(`building the native addon failed (exit ${result.status})`);
if (!fs.existsSync(path.join(packageDir, "lmos.node"))) fail("the build made no lmos.node");
