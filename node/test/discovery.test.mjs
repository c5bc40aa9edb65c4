// Discovery from Node.js: a Thing Description Directory served from Node (SQLite file) and one
// served by the Rust CLI (`lmos directory serve`), the DirectoryClient (register, read, search,
// watch), ExposedThing.register, and the errors bad inputs get. Real sockets on 127.0.0.1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";

import {
  agent,
  tool,
  Servient,
  DirectoryServer,
  DirectoryClient,
  DirectoryError,
  DirectoryNotFound,
  DiscoveryError,
  LmosError,
} from "lmos";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, "target");
const lmosCli = path.join(targetDir, "debug", "lmos");
const requireRust = process.env.LMOS_REQUIRE_RUST === "1";

function tempDb(t) {
  const dir = mkdtempSync(path.join(tmpdir(), "lmos-node-directory-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "directory.db");
}

const CONTEXT = ["https://www.w3.org/2022/wot/td/v1.1", { lmos: "https://eclipse.dev/lmos/protocol/v1" }];

function td(type, id, title, description, vendor, [action, actionDescription]) {
  return {
    "@context": CONTEXT,
    "@type": type,
    id,
    title,
    description,
    "lmos:metadata": { "lmos:vendor": { "lmos:name": vendor } },
    securityDefinitions: { nosec_sc: { scheme: "nosec" } },
    security: "nosec_sc",
    actions: {
      [action]: {
        description: actionDescription,
        forms: [{ href: `http://127.0.0.1:9/${title.toLowerCase()}/actions/${action}` }],
      },
    },
  };
}

const weather = (id) =>
  td("lmos:Agent", id, "Weather", "Tells the current weather and the forecast for a city", "ACME", [
    "getForecast",
    "The weather forecast for the next days",
  ]);
const geocoder = (id) =>
  td("lmos:Tool", id, "Geocoder", "Turns addresses into coordinates", "Maps Inc", ["geocode", "Coordinates of an address"]);

const ids = (list) => list.map((t) => t.id).sort();

async function startDirectory(t, db) {
  const server = await DirectoryServer.start({ db: `sqlite:${db}`, port: 0 });
  t.after(() => server.close());
  return server;
}

// Starts `lmos directory serve`; resolves to {url, child} once it printed its base URL.
function startRustDirectory(db) {
  return new Promise((resolve, reject) => {
    const child = spawn(lmosCli, ["directory", "serve", "--port", "0", "--db", `sqlite:${db}`], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`lmos directory serve exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).once("line", (url) => resolve({ url: url.trim(), child }));
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

test("a directory served from Node: register, read, search, update, delete", async (t) => {
  const db = tempDb(t);
  const server = await startDirectory(t, db);
  assert.match(server.baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.ok(server.address.port > 0);
  const client = new DirectoryClient(server.baseUrl);

  const own = await client.describe();
  assert.equal(own["@type"], "ThingDirectory");

  assert.equal(await client.register(weather("urn:example:weather")), "urn:example:weather");
  assert.equal(await client.register(geocoder("urn:example:geo"), { ttl: 600 }), "urn:example:geo");
  const anonymous = weather("x");
  delete anonymous.id;
  anonymous.title = "Travel Planner";
  const travelId = await client.register(anonymous);
  assert.match(travelId, /^urn:uuid:/);

  const geo = await client.get("urn:example:geo");
  assert.equal(geo.title, "Geocoder");
  assert.equal(geo.registration.ttl, 600);
  assert.deepEqual(ids(await client.list()), [travelId, "urn:example:geo", "urn:example:weather"].sort());

  assert.deepEqual(ids(await client.findType("tool")), ["urn:example:geo"]);
  assert.deepEqual(ids(await client.search({ type: "lmos:Agent" })), [travelId, "urn:example:weather"].sort());
  assert.deepEqual(ids(await client.findVendor("maps inc")), ["urn:example:geo"]);
  const ranked = await client.findText("an agent that can tell the weather forecast");
  assert.equal(ranked[0].id, "urn:example:weather");
  assert.deepEqual(await client.search({ text: "coordinates", limit: 1 }).then(ids), ["urn:example:geo"]);
  assert.deepEqual((await client.searchJsonPath("$[?@.title == 'Geocoder'].id")), ["urn:example:geo"]);

  const changed = weather("urn:example:weather");
  changed.description = "Rain or shine, for any city";
  await client.update(changed);
  assert.equal((await client.get("urn:example:weather")).description, "Rain or shine, for any city");
  await client.patch("urn:example:weather", { title: "Weather Oracle" });
  assert.equal((await client.get("urn:example:weather")).title, "Weather Oracle");

  await client.delete(travelId);
  await assert.rejects(client.get(travelId), (error) => {
    assert.ok(error instanceof DirectoryNotFound);
    assert.ok(error instanceof DirectoryError);
    assert.equal(error.code, "directory_not_found");
    assert.equal(error.id, travelId);
    return true;
  });
  assert.equal((await client.list()).length, 2);

  // The SQLite file keeps the entries across a restart of the directory.
  await server.close();
  const again = await startDirectory(t, db);
  const reopened = again.client();
  assert.deepEqual(ids(await reopened.list()), ["urn:example:geo", "urn:example:weather"]);
});

test("watch sees created, updated and deleted as a for-await iterator", async (t) => {
  const server = await startDirectory(t, tempDb(t));
  const client = server.client();
  // From the start of this fresh store's history: no event can fall before the subscription.
  const events = client.watch({ diff: true, lastEventId: "0" });
  const seen = [];
  const reading = (async () => {
    for await (const event of events) {
      seen.push(event);
      if (event.kind === "deleted") break;
    }
  })();
  await client.register(weather("urn:example:w1"));
  const changed = weather("urn:example:w1");
  changed.title = "Weather 2";
  await client.update(changed);
  await client.delete("urn:example:w1");
  await reading;
  assert.deepEqual(
    seen.map((e) => [e.kind, e.thingId]),
    [
      ["created", "urn:example:w1"],
      ["updated", "urn:example:w1"],
      ["deleted", "urn:example:w1"],
    ],
  );
  assert.equal(seen[0].data.title, "Weather");
  assert.equal(seen[1].data.title, "Weather 2");
  assert.ok(seen.every((e) => typeof e.id === "string" && e.id.length > 0));

  // Resuming after the first event replays the rest; a kind filter keeps only that kind.
  const replay = client.watch({ lastEventId: seen[0].id });
  const next = await replay.next();
  assert.equal(next.value.kind, "updated");
  await replay.close();
  assert.deepEqual(await replay.next(), { done: true, value: undefined });

  const deletions = client.watch({ kind: "deleted", lastEventId: seen[2].id });
  await client.register(geocoder("urn:example:g1"));
  await client.delete("urn:example:g1");
  const only = await deletions.next();
  assert.deepEqual([only.value.kind, only.value.thingId], ["deleted", "urn:example:g1"]);
  await deletions.return();
});

test("a Node agent registers itself in the Rust CLI's directory and is found by text", async (t) => {
  if (!existsSync(lmosCli)) {
    if (requireRust) assert.fail(`no ${lmosCli} (cargo build -p lmos-cli)`);
    return t.skip(`no ${lmosCli}`);
  }
  const { url, child } = await startRustDirectory(tempDb(t));
  t.after(() => stop(child));
  const client = new DirectoryClient(url);

  const servient = new Servient({ httpPort: 0, host: "127.0.0.1" });
  t.after(() => servient.close());
  const exposed = servient.expose(
    agent("Currency Converter")
      .id("urn:example:fx")
      .description("Converts amounts between currencies at today's exchange rates")
      .vendor("Banco")
      .action("convert", { input: { type: "object" }, output: { type: "number" } }),
  );
  exposed.onAction("convert", async () => 1);
  await assert.rejects(exposed.register(client, 30), (error) => {
    assert.ok(error instanceof DiscoveryError);
    assert.equal(error.code, "discovery_not_registrable");
    return true;
  });
  assert.deepEqual(await client.list(), []);

  await servient.start();
  const registration = await exposed.register(client, 30);
  assert.equal(registration.id, "urn:example:fx");
  assert.equal(registration.active, true);
  assert.equal(registration.directoryUrl, url);

  const found = await client.findText("convert dollars to euros currency");
  assert.equal(found[0].id, "urn:example:fx");
  assert.equal(found[0].registration.ttl, 30);
  // The entry is the TD as served: its forms point at the running servient.
  assert.ok(found[0].actions.convert.forms[0].href.startsWith(servient.baseUrl));
  assert.deepEqual(ids(await client.findVendor("banco")), ["urn:example:fx"]);

  const deleted = client.watch({ kind: "deleted", lastEventId: "0" });
  await servient.close();
  const event = await deleted.next();
  assert.equal(event.value.thingId, "urn:example:fx");
  await deleted.close();
  await assert.rejects(client.get("urn:example:fx"), DirectoryNotFound);
  assert.equal(registration.active, false);
});

test("deregister removes the entry at once; a second call is harmless", async (t) => {
  const server = await startDirectory(t, tempDb(t));
  const servient = new Servient({ httpPort: 0 });
  t.after(() => servient.close());
  const exposed = servient.expose(tool("Dice").id("urn:example:dice").action("roll", { output: { type: "integer" } }));
  await servient.start();
  const registration = await exposed.register(server, 10);
  assert.equal((await server.client().get("urn:example:dice")).title, "Dice");
  await registration.deregister();
  await registration.deregister();
  await assert.rejects(server.client().get("urn:example:dice"), DirectoryNotFound);
});

test("bad inputs get clear errors with codes, and nothing stored is lost", async (t) => {
  const db = tempDb(t);
  const server = await startDirectory(t, db);
  const client = server.client();
  await client.register(weather("urn:example:keep"));

  // Not a Thing Description: refused, nothing stored.
  await assert.rejects(client.register({ "@context": CONTEXT, id: "urn:example:bad", title: 5 }), (error) => {
    assert.ok(error instanceof DirectoryError);
    assert.equal(error.code, "directory_invalid_td");
    return true;
  });
  await assert.rejects(client.get("urn:example:bad"), DirectoryNotFound);
  await assert.rejects(client.update({ title: "no id" }), (error) => error.code === "directory_bad_request");
  await assert.rejects(client.searchJsonPath("$[?"), (error) => {
    assert.ok(error instanceof DirectoryError);
    assert.equal(error.code, "directory_status");
    assert.equal(error.status, 400);
    return true;
  });
  await assert.rejects(client.delete("urn:example:never"), (error) => error.code === "directory_not_found");
  await assert.rejects(client.register(weather("urn:example:ttl"), { ttl: -1 }), TypeError);
  await assert.rejects(client.register("not an object"), TypeError);
  assert.throws(() => client.watch({ kind: "renamed" }), /unknown event kind/);
  assert.deepEqual(ids(await client.list()), ["urn:example:keep"]);

  // Unusable configuration.
  assert.throws(() => new DirectoryClient("ftp://127.0.0.1/"), (error) => {
    assert.ok(error instanceof LmosError);
    assert.equal(error.code, "directory_config");
    return true;
  });
  await assert.rejects(DirectoryServer.start({ port: 0 }), /db option/);
  await assert.rejects(DirectoryServer.start({ db: "sqlite:" }), (error) => error.code === "directory_config");
  await assert.rejects(DirectoryServer.start({ db: `sqlite:${db}`, colour: "blue" }), /unknown directory option colour/);
  await assert.rejects(
    DirectoryServer.start({ db: `sqlite:${db}`, host: "127.0.0.1", port: server.address.port }),
    (error) => error.code === "directory_config" && /cannot listen/.test(error.message),
  );
  // A directory nobody listens on.
  const gone = new DirectoryClient("http://127.0.0.1:9/");
  await assert.rejects(gone.list(), (error) => error.code === "directory_transport");
});

test("a process with a directory, a watch and a registration exits by itself after close()", async () => {
  const result = await new Promise((resolve) => {
    execFile(process.execPath, [path.join(here, "fixtures", "directory_and_close.mjs")], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ error, stdout, stderr }),
    );
  });
  assert.equal(result.error, null, `did not exit cleanly: ${result.error?.message}\n${result.stderr}`);
  assert.deepEqual(JSON.parse(result.stdout.trim()), { found: ["urn:example:exit"], event: "created" });
});

// Runs under scripts/with-postgres (which sets LMOS_TEST_POSTGRES_URL to a throwaway server):
//   scripts/with-postgres bash -c 'cd node && node --test test/discovery.test.mjs'
test("two directories served from Node share one PostgreSQL database and its events", async (t) => {
  const url = process.env.LMOS_TEST_POSTGRES_URL;
  if (!url) {
    // scripts/test always provides the server: under CI a missing one is a failure, not a skip.
    assert.notEqual(process.env.CI, "true", "LMOS_TEST_POSTGRES_URL is not set under CI");
    return t.skip("LMOS_TEST_POSTGRES_URL is not set (run under scripts/with-postgres)");
  }
  const first = await DirectoryServer.start({ db: url });
  t.after(() => first.close());
  const second = await DirectoryServer.start({ db: url });
  t.after(() => second.close());
  const id = `urn:example:pg-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  // From the start of the history: the event is replayed or live, and crossed instances through
  // the database either way.
  const events = second.client().watch({ kind: "created", lastEventId: "0" });
  t.after(() => events.close());
  await first.client().register(weather(id));
  let seen = null;
  for await (const event of events) {
    if (event.thingId === id) {
      seen = event;
      break;
    }
  }
  assert.ok(seen, "no event reached the second directory");
  assert.equal((await second.client().get(seen.thingId)).title, "Weather");
  await second.client().delete(seen.thingId);
  await assert.rejects(first.client().get(seen.thingId), DirectoryNotFound);
});
