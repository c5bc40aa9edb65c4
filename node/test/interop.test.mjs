// The Node weather agent (examples/weather_agent.mjs) called by other clients: the Rust `lmos`
// CLI, node-wot 0.9.2 (tests/interop/node-wot/client.mjs), and compared with the Rust example.
//
// The Rust binaries come from $CARGO_TARGET_DIR (default ../target): scripts/test-node builds
// `lmos` (cargo build -p lmos-cli) and the Rust weather_agent example before running this.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";

import { consume } from "lmos";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, "target");
const lmosCli = path.join(targetDir, "debug", "lmos");
const rustAgent = path.join(targetDir, "debug", "examples", "weather_agent");
const nodeWotDir = path.join(repo, "tests", "interop", "node-wot");
// scripts/test-node sets LMOS_REQUIRE_RUST=1: a missing Rust binary then fails instead of skipping.
const requireRust = process.env.LMOS_REQUIRE_RUST === "1";

function needs(t, file, hint) {
  if (existsSync(file)) return true;
  if (requireRust) assert.fail(`no ${file} (${hint})`);
  t.skip(`no ${file} (${hint})`);
  return false;
}

// Starts an agent process and resolves to {url, child} once it printed its TD URL.
function startAgent(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`agent exited with ${code} before printing its URL: ${stderr}`)));
    createInterface({ input: child.stdout }).once("line", (url) => resolve({ url: url.trim(), child }));
  });
}

function stopAgent(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode });
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.kill("SIGTERM");
  });
}

function runCli(args) {
  return new Promise((resolve) => {
    execFile(lmosCli, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? error.code : 0, stdout, stderr });
    });
  });
}

const jsonLines = (text) =>
  text
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));

let agent;

before(async () => {
  agent = await startAgent(process.execPath, [path.join(here, "..", "examples", "weather_agent.mjs"), "--http-port", "0", "--forecast-step-ms", "20"]);
});

after(async () => {
  if (agent) await stopAgent(agent.child);
});

test("the Node weather agent serves the same description as the Rust example", async (t) => {
  if (!needs(t, rustAgent, "cargo build -p lmos --example weather_agent")) return;
  const rust = await startAgent(rustAgent, ["--http-port", "0"]);
  try {
    const fetchTd = async (url) => {
      const text = await (await fetch(url)).text();
      return JSON.parse(text.replace(/(http|ws):\/\/127\.0\.0\.1:\d+\//g, "$1://BASE/"));
    };
    assert.deepEqual(await fetchTd(agent.url), await fetchTd(rust.url));
  } finally {
    await stopAgent(rust.child);
  }
});

test("the Rust lmos CLI calls the Node agent", async (t) => {
  if (!needs(t, lmosCli, "cargo build -p lmos-cli")) return;
  const url = agent.url;
  const read = await runCli(["read", url, "modelConfiguration"]);
  assert.equal(read.status, 0, read.stderr);
  assert.equal(jsonLines(read.stdout)[0].modelName, "gpt-4o");

  const config = { modelName: "cli-model", temperature: 0.1, maxTokens: 10 };
  const write = await runCli(["write", url, "modelConfiguration", JSON.stringify(config)]);
  assert.equal(write.status, 0, write.stderr);
  assert.deepEqual(jsonLines((await runCli(["read", url, "modelConfiguration"])).stdout)[0], config);

  const weather = await runCli(["call", url, "getWeather", JSON.stringify({ question: "Rain in Bonn?", interactionMode: "voice" })]);
  assert.equal(weather.status, 0, weather.stderr);
  const [answer] = jsonLines(weather.stdout);
  assert.match(answer.output, /Rain in Bonn\?/);
  assert.match(answer.output, /voice/);

  const forecast = await runCli(["call", url, "forecast", JSON.stringify({ city: "Bonn", days: 3 })]);
  assert.equal(forecast.status, 0, forecast.stderr);
  const lines = jsonLines(forecast.stdout);
  assert.deepEqual(
    lines.filter((l) => "progress" in l).map((l) => l.progress),
    [1, 2, 3].map((day) => ({ day, of: 3 })),
  );
  const output = lines.at(-1).output;
  assert.equal(output.length, 3);
  assert.ok(output.every((entry) => entry.city === "Bonn"));

  const chat = await runCli(["call", url, "chat", JSON.stringify({ messages: [{ role: "user", content: "Sunny in Rome?" }] })]);
  assert.equal(chat.status, 0, chat.stderr);
  const result = jsonLines(chat.stdout)[0].output;
  assert.equal(result.status, "success");
  assert.match(result.messages[0].content, /Sunny in Rome\?/);

  const refused = await runCli(["call", url, "chat", JSON.stringify({ messages: [] })]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /invalid input/);

  const bad = await runCli(["call", url, "rate", JSON.stringify({ rating: 9 })]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /maximum/);
});

test("the Rust lmos CLI subscribes to the Node agent's event", async (t) => {
  if (!needs(t, lmosCli, "cargo build -p lmos-cli")) return;
  const child = spawn(lmosCli, ["subscribe", agent.url, "userFeedbackReceived"], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const first = new Promise((resolve) => createInterface({ input: child.stdout }).once("line", resolve));
    const thing = await consume(agent.url);
    let line;
    // The subscription connects asynchronously; rate until the CLI prints an event.
    for (let i = 0; i < 100 && line === undefined; i++) {
      await thing.invokeAction("rate", { rating: 4, comment: "from node" });
      line = await Promise.race([first, new Promise((r) => setTimeout(() => r(undefined), 100))]);
    }
    assert.ok(line, "the CLI printed no event");
    assert.deepEqual(JSON.parse(line), { rating: 4, comment: "from node" });
  } finally {
    child.kill("SIGTERM");
  }
});

test("node-wot 0.9.2 consumes the Node agent", async (t) => {
  // A fresh agent: the node-wot client expects the initial property value.
  const fresh = await startAgent(process.execPath, [path.join(here, "..", "examples", "weather_agent.mjs"), "--http-port", "0", "--forecast-step-ms", "20"]);
  t.after(() => stopAgent(fresh.child));
  if (!existsSync(path.join(nodeWotDir, "node_modules", "@node-wot", "core"))) {
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: nodeWotDir, stdio: "ignore", timeout: 300_000 });
  }
  const result = await new Promise((resolve) => {
    execFile(process.execPath, ["client.mjs", fresh.url], { cwd: nodeWotDir, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ error, stdout, stderr }),
    );
  });
  assert.equal(result.error, null, `${result.stdout}\n${result.stderr}`);
  const steps = jsonLines(result.stdout);
  assert.ok(steps.every((s) => s.ok), result.stdout);
  const names = steps.map((s) => s.step);
  for (const step of ["consume", "readproperty", "writeproperty", "observeproperty-sse", "observeproperty-longpoll"]) {
    assert.ok(names.includes(step), `node-wot did not report ${step}: ${names}`);
  }
  assert.ok(names.some((n) => n.startsWith("subscribeevent")), names.join(","));
  assert.ok(names.some((n) => n.startsWith("invokeaction")), names.join(","));
  t.diagnostic(`node-wot steps: ${names.join(", ")}`);
});

test("the Node agent stops cleanly on SIGTERM", async () => {
  const own = await startAgent(process.execPath, [path.join(here, "..", "examples", "weather_agent.mjs"), "--http-port", "0"]);
  const { code, signal } = await stopAgent(own.child);
  assert.equal(signal, null);
  assert.equal(code, 0);
});

// The Python package installed by scripts/test's python stage (a virtualenv in the target dir).
const pythonVenv = process.env.LMOS_PYTHON_VENV ?? path.join(targetDir, "python-venv");
const python = path.join(pythonVenv, "bin", "python");
// scripts/test sets LMOS_REQUIRE_PYTHON=1 when its python stage ran first.
const requirePython = process.env.LMOS_REQUIRE_PYTHON === "1";

const pythonClient = `
import asyncio, json, sys
import lmos

async def main(url):
    agent = await lmos.consume(url)
    config = await agent.read_property("modelConfiguration")
    answer = await agent.invoke_action("getWeather", {"question": "Rain in Bonn?", "interactionMode": "text"})
    try:
        await agent.invoke_action("getWeather", {"question": "no mode"})
        refused = None
    except lmos.LmosError as error:
        refused = error.code
    print(json.dumps({"config": config, "answer": answer, "refused": refused}))

asyncio.run(main(sys.argv[1]))
`;

test("a Python client calling the Node agent", async (t) => {
  if (!existsSync(python)) {
    if (requirePython) assert.fail(`no ${python} (scripts/test python builds it)`);
    t.skip(`no ${python} (run scripts/test python first)`);
    return;
  }
  const own = await startAgent(process.execPath, [path.join(here, "..", "examples", "weather_agent.mjs"), "--http-port", "0"]);
  t.after(() => stopAgent(own.child));
  const result = await new Promise((resolve) => {
    execFile(python, ["-c", pythonClient, own.url], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ error, stdout, stderr }),
    );
  });
  assert.equal(result.error, null, result.stderr);
  const out = JSON.parse(result.stdout.trim().split("\n").pop());
  assert.deepEqual(out.config, { modelName: "gpt-4o", temperature: 0.7, maxTokens: 1000 });
  assert.match(out.answer, /Rain in Bonn\?/);
  assert.equal(out.refused, "invalid_input");
});
