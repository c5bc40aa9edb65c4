// The WebSocket (lmosprotocol) binding from JavaScript: serving and consuming over real sockets
// on 127.0.0.1 in both dialects, and the Rust `lmos` CLI calling the Node agent with
// `--protocol ws`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";

import { agent, consume, ConsumedThing, Servient, LmosError, ActionFailed, InvalidInput } from "lmos";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, "target");
const lmosCli = path.join(targetDir, "debug", "lmos");
const requireRust = process.env.LMOS_REQUIRE_RUST === "1";
const DIALECTS = ["spec", "kotlin-wot"];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Waits until `condition()` holds; bounded so a broken implementation fails instead of hanging.
async function eventually(condition, what) {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return;
    await sleep(25);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const internalErrors = [];
const writes = [];
let servient;
let exposed;

function lampTd() {
  return agent("WsLamp")
    .property("brightness", { type: "integer", minimum: 0, maximum: 100 }, { observable: true })
    .property("status", { type: "string" }, { readOnly: true })
    .property("colour", { type: "string" })
    .action("echo", { input: { type: "string" }, output: { type: "string" } })
    .action("fail", {})
    .action("refuse", { input: { type: "string" } })
    .action("count", { input: { type: "integer" }, output: { type: "integer" } })
    .event("blink", { data: { type: "integer" } });
}

// The TD with every HTTP form removed, so that a call can only go over WebSocket. A TD without
// `id` is named by the URL it came from in WebSocket messages; a TD object has no URL, so it is
// given as the `id`.
function websocketOnly(td, tdUrl) {
  const copy = structuredClone(td);
  copy.id ??= tdUrl;
  const ws = (forms) => (forms ?? []).filter((form) => form.href.startsWith("ws"));
  copy.forms = ws(copy.forms);
  for (const kind of ["properties", "actions", "events"]) {
    for (const affordance of Object.values(copy[kind] ?? {})) affordance.forms = ws(affordance.forms);
  }
  return copy;
}

const wsLamp = (dialect) => ConsumedThing.fromTd(websocketOnly(exposed.td, exposed.tdUrl), { protocols: ["ws"], dialect });

before(async () => {
  servient = new Servient({ httpPort: 0, wsPort: 0, onInternalError: (e) => internalErrors.push(e) });
  exposed = servient.expose(lampTd());
  exposed.setProperty("brightness", 10).setProperty("colour", "red");
  exposed.onPropertyRead("status", async () => "on");
  exposed.onPropertyWrite("colour", async (value) => {
    writes.push(value);
  });
  exposed.onAction("echo", async (input) => `echo: ${input}`);
  exposed.onAction("fail", async () => {
    throw new Error("internal detail that must not leak");
  });
  exposed.onAction("refuse", async (input) => {
    throw new InvalidInput(`cannot take ${input}`);
  });
  exposed.onAction("count", async function* (n) {
    for (let i = 1; i <= n; i++) yield i;
    return n * 10;
  });
  await servient.start();
});

after(async () => {
  await servient?.close();
});

test("wsPort binds its own port and the WebSocket forms point at it", () => {
  const { http, ws } = servient.addresses;
  assert.ok(http && ws);
  assert.notEqual(ws.port, http.port);
  assert.notEqual(ws.port, 0);
  const hrefs = exposed.td.properties.brightness.forms.map((form) => form.href);
  assert.ok(hrefs.some((href) => href.startsWith(`ws://${ws.host}:${ws.port}/`)), hrefs.join(" "));
});

test("without wsPort WebSocket shares the HTTP port; websocket: false turns it off", async () => {
  const shared = new Servient({ httpPort: 0 });
  const off = new Servient({ httpPort: 0, websocket: false });
  try {
    const sharedThing = shared.expose(lampTd());
    sharedThing.setProperty("brightness", 5);
    await shared.start();
    assert.deepEqual(shared.addresses.ws, shared.addresses.http);
    const lamp = ConsumedThing.fromTd(websocketOnly(sharedThing.td, sharedThing.tdUrl), { protocols: ["ws"] });
    assert.equal(await lamp.readProperty("brightness"), 5);

    const offThing = off.expose(lampTd());
    await off.start();
    assert.equal(off.addresses.ws, null);
    assert.ok(off.addresses.http);
    const td = offThing.td;
    const hrefs = [...(td.forms ?? [])];
    for (const kind of ["properties", "actions", "events"]) {
      for (const affordance of Object.values(td[kind] ?? {})) hrefs.push(...affordance.forms);
    }
    assert.ok(hrefs.length > 0);
    assert.ok(!hrefs.some((form) => form.href.startsWith("ws")));
    // A preference for WebSocket is only a preference: the HTTP forms still serve.
    offThing.setProperty("brightness", 6);
    const lamp2 = await consume(offThing.tdUrl, { protocols: ["ws"] });
    assert.equal(await lamp2.readProperty("brightness"), 6);
  } finally {
    await shared.close();
    await off.close();
  }
});

for (const dialect of DIALECTS) {
  test(`properties and actions over WebSocket (${dialect})`, async () => {
    const lamp = wsLamp(dialect);
    assert.equal(await lamp.readProperty("status"), "on");
    await lamp.writeProperty("colour", `blue ${dialect}`);
    assert.ok(writes.includes(`blue ${dialect}`));
    assert.equal(await lamp.invokeAction("echo", dialect), `echo: ${dialect}`);
    const updates = [];
    for await (const update of await lamp.invokeActionStream("count", 3)) updates.push(update);
    assert.deepEqual(updates, [
      { type: "progress", value: 1 },
      { type: "progress", value: 2 },
      { type: "progress", value: 3 },
      { type: "output", value: 30 },
    ]);
    assert.equal(await lamp.invokeAction("count", 2), 20);
  });

  test(`observeProperty and subscribeEvent over WebSocket (${dialect})`, async () => {
    const lamp = wsLamp(dialect);
    const values = await lamp.observeProperty("brightness");
    exposed.setProperty("brightness", 41);
    exposed.setProperty("brightness", 42);
    const seen = [];
    for await (const value of values) {
      seen.push(value);
      if (value === 42) break;
    }
    assert.deepEqual(seen, [41, 42]);

    const events = await lamp.subscribeEvent("blink");
    exposed.emitEvent("blink", 7);
    assert.deepEqual(await events.next(), { done: false, value: 7 });
    await events.close();
  });

  test(`a handler that throws gives a clean error over WebSocket (${dialect})`, async () => {
    const lamp = wsLamp(dialect);
    // Over WebSocket a failure arrives as an error message carrying a problem document.
    await assert.rejects(lamp.invokeAction("fail"), (error) => {
      assert.ok(error instanceof ActionFailed, String(error));
      assert.ok(error instanceof LmosError);
      assert.equal(error.problem.title, "internal error");
      assert.ok(!error.message.includes("internal detail"));
      assert.ok(!JSON.stringify(error.problem).includes("internal detail"));
      return true;
    });
    await eventually(
      () => internalErrors.some((e) => e.affordance === "actions/fail" && e.message.includes("internal detail")),
      "the internal error hook",
    );
    await assert.rejects(lamp.invokeAction("refuse", "x"), (error) => {
      assert.ok(error instanceof ActionFailed, String(error));
      assert.equal(error.problem.title, "invalid input");
      assert.equal(error.problem.detail, "cannot take x");
      return true;
    });
    // The connection and the server keep serving.
    assert.equal(await lamp.invokeAction("echo", "after"), "echo: after");
  });
}

test("an unknown dialect is a clear error", async () => {
  assert.throws(() => ConsumedThing.fromTd(exposed.td, { dialect: "klingon" }), /unknown dialect "klingon" \(spec or kotlin-wot\)/);
  await assert.rejects(consume("http://127.0.0.1:9/td", { dialect: "" }), /unknown dialect/);
});

// ----- the Rust CLI calling the Node weather agent over WebSocket --------------------------------

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
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

function runCli(args) {
  return new Promise((resolve) => {
    execFile(lmosCli, [...args, "--output", "json"], { timeout: 30_000 }, (error, stdout, stderr) => {
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

for (const dialect of DIALECTS) {
  test(`the Rust lmos CLI calls the Node agent over WebSocket (${dialect})`, async (t) => {
    if (!existsSync(lmosCli)) {
      if (requireRust) assert.fail(`no ${lmosCli} (cargo build -p lmos-cli)`);
      t.skip(`no ${lmosCli} (cargo build -p lmos-cli)`);
      return;
    }
    const example = path.join(here, "..", "examples", "weather_agent.mjs");
    const weather = await startAgent(process.execPath, [example, "--http-port", "0", "--ws-port", "0", "--forecast-step-ms", "20"]);
    try {
      const url = weather.url;
      const ws = ["--protocol", "ws", "--dialect", dialect];
      const read = await runCli(["read", url, "modelConfiguration", ...ws]);
      assert.equal(read.status, 0, read.stderr);
      assert.equal(jsonLines(read.stdout)[0].modelName, "gpt-4o");

      const config = { modelName: "ws-model", temperature: 0.1, maxTokens: 10 };
      const write = await runCli(["write", url, "modelConfiguration", JSON.stringify(config), ...ws]);
      assert.equal(write.status, 0, write.stderr);
      assert.deepEqual(jsonLines((await runCli(["read", url, "modelConfiguration", ...ws])).stdout)[0], config);

      const forecast = await runCli(["call", url, "forecast", JSON.stringify({ city: "Bonn", days: 2 }), ...ws]);
      assert.equal(forecast.status, 0, forecast.stderr);
      const lines = jsonLines(forecast.stdout);
      assert.deepEqual(
        lines.filter((l) => "progress" in l).map((l) => l.progress),
        [1, 2].map((day) => ({ day, of: 2 })),
      );
      assert.equal(lines.at(-1).output.length, 2);

      const refused = await runCli(["call", url, "chat", JSON.stringify({ messages: [] }), ...ws]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /invalid input/);
    } finally {
      await stopAgent(weather.child);
    }
  });
}
