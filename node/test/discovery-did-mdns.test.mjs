// DID-based introduction and DNS-SD/mDNS from Node.js, against real servers: a did:web document
// served over loopback HTTP by a Node servient points at its own TD and at a directory served
// from Node; an mDNS advertiser and a browser on a private UDP port over the interface the host
// routes multicast through (as core/tests/discovery_mdns.rs does).
import { test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import {
  agent,
  consume,
  didDocumentForAgent,
  didKeyDocument,
  didWebForUrl,
  discoverDid,
  DirectoryServer,
  DiscoveryError,
  Ed25519KeyPair,
  IdentityError,
  Mdns,
  Servient,
} from "lmos";

const loopback = { allowHttpLoopback: true };

function tempDb(t) {
  const dir = mkdtempSync(path.join(tmpdir(), "lmos-node-did-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "directory.db");
}

async function startedAgent(t, title, id, host = "127.0.0.1") {
  const servient = new Servient({ httpPort: 0, host });
  t.after(() => servient.close());
  const exposed = servient.expose(
    agent(title)
      .id(id)
      .description(`${title}: tells the weather`)
      .action("ask", { input: { type: "string" }, output: { type: "string" } }),
  );
  exposed.onAction("ask", async (question) => `${title} heard ${question}`);
  await servient.start();
  return { servient, exposed };
}

test("a did:web document leads to its agent and to the agents of its directory", async (t) => {
  const directory = await DirectoryServer.start({ db: `sqlite:${tempDb(t)}`, port: 0 });
  t.after(() => directory.close());
  const other = await startedAgent(t, "Forecaster", "urn:example:forecaster");
  await other.exposed.register(directory, 60);
  const { servient, exposed } = await startedAgent(t, "Weather", "urn:example:weather");
  const did = didWebForUrl(servient.baseUrl);
  const document = didDocumentForAgent(did, Ed25519KeyPair.generate(), exposed.tdUrl);
  document.service.push({ id: "#directory", type: "WotDirectory", serviceEndpoint: `${directory.baseUrl}.well-known/wot` });
  servient.serveDidDocument(document);

  const found = await discoverDid(did, loopback);
  assert.deepEqual(
    found.map((f) => f.td.id),
    ["urn:example:weather", "urn:example:forecaster"],
  );
  const [mine, listed] = found;
  assert.equal(mine.url, exposed.tdUrl);
  assert.equal(mine.service, `${did}#td`);
  assert.equal(mine.directory, null);
  assert.equal(listed.service, `${did}#directory`);
  assert.equal(listed.directory, directory.baseUrl);
  assert.equal(listed.url, `${directory.baseUrl}things/urn%3Aexample%3Aforecaster`);
  assert.equal(listed.td.registration.ttl, 60);
  // What the DID led to is enough to call both agents.
  for (const thing of found) {
    const consumed = await consume(thing.td);
    assert.equal(await consumed.invokeAction("ask", "hello"), `${thing.td.title} heard hello`);
  }
  // Closing the servient deletes its entry (while the directory is still up).
  await other.servient.close();
  await assert.rejects(directory.client().get("urn:example:forecaster"), (error) => error.code === "directory_not_found");
});

test("DID introduction errors carry codes and name the service", async (t) => {
  const { servient, exposed } = await startedAgent(t, "Plain", "urn:example:plain");
  const did = didWebForUrl(servient.baseUrl);
  const key = Ed25519KeyPair.generate();

  await assert.rejects(discoverDid("weather", loopback), (error) => error instanceof IdentityError && error.code === "identity_invalid_did");
  await assert.rejects(discoverDid(42), TypeError);
  servient.serveDidDocument(didDocumentForAgent(did, key, exposed.tdUrl));
  // Plain http needs the loopback option.
  await assert.rejects(discoverDid(did), (error) => error instanceof IdentityError && error.code === "identity_resolution_failed");

  // A did:key document has no services of its own; pinned with one, it introduces its thing.
  await assert.rejects(discoverDid(key.did), (error) => error instanceof DiscoveryError && error.code === "discovery_did_no_service");
  const pinned = didKeyDocument(key.did);
  pinned.service = [{ id: `${key.did}#td`, type: "WotThing", serviceEndpoint: exposed.tdUrl }];
  const found = await discoverDid(key.did, { pinned: [pinned] });
  assert.deepEqual(
    found.map((f) => f.td.id),
    ["urn:example:plain"],
  );

  // A thing is not a directory.
  const document = didDocumentForAgent(did, key);
  document.service = [{ id: "#dir", type: "WotDirectory", serviceEndpoint: exposed.tdUrl }];
  servient.serveDidDocument(document);
  await assert.rejects(discoverDid(did, loopback), (error) => {
    assert.ok(error instanceof DiscoveryError);
    assert.equal(error.code, "discovery_did_not_directory");
    assert.equal(error.service, `${did}#dir`);
    assert.equal(error.url, exposed.tdUrl);
    return true;
  });
  // An endpoint that is not an http(s) URL.
  document.service = [{ id: "#td", type: "WotThing", serviceEndpoint: "mailto:someone@example.com" }];
  servient.serveDidDocument(document);
  await assert.rejects(discoverDid(did, loopback), (error) => error.code === "discovery_did_endpoint" && /not an http or https URL/.test(error.message));
});

// The local address multicast leaves from (the interface of the route to 224.0.0.251).
function multicastAddress() {
  return new Promise((resolve, reject) => {
    const probe = dgram.createSocket("udp4");
    probe.once("error", reject);
    probe.connect(5353, "224.0.0.251", () => {
      const { address } = probe.address();
      probe.close();
      if (address === "0.0.0.0" || address.startsWith("127.")) reject(new Error(`no multicast-capable interface: ${address}`));
      else resolve(address);
    });
  });
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const probe = dgram.createSocket("udp4");
    probe.once("error", reject);
    probe.bind(0, "0.0.0.0", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

test("mDNS advertises a servient's things and a directory; a browser finds them with their TDs", async (t) => {
  const ip = await multicastAddress();
  const port = await freeUdpPort();
  const { servient } = await startedAgent(t, "Weather Agent", "urn:example:mdns-weather", ip);
  const directory = await DirectoryServer.start({ db: `sqlite:${tempDb(t)}`, host: ip, port: 0 });
  t.after(() => directory.close());
  const advertiser = new Mdns({ port });
  t.after(() => advertiser.shutdown());
  const browser = new Mdns({ port });
  t.after(() => browser.shutdown());

  assert.equal(advertiser.advertiseServient(servient), 1);
  advertiser.advertiseDirectory("LMOS Directory", directory);

  const found = {};
  const services = browser.browse();
  for await (const service of services) {
    found[service.kind] = service;
    if (Object.keys(found).length === 2) break;
  }
  const thing = found.thing;
  assert.equal(thing.instance, "Weather Agent");
  assert.equal(thing.url, `http://${ip}:${servient.addresses.http.port}/weather-agent`);
  assert.equal(thing.error, null);
  assert.equal(thing.td.id, "urn:example:mdns-weather");
  assert.equal(thing.td["@type"], "lmos:Agent");
  assert.equal(found.directory.url, directory.baseUrl);
  assert.equal(found.directory.td["@type"], "ThingDirectory");

  // Browsing the directory subtype finds only directories.
  const only = await browser.browseFor(3, "directory");
  assert.ok(only.length > 0);
  assert.deepEqual([...new Set(only.map((s) => s.kind))], ["directory"]);
});

test("mDNS bad inputs get clear errors", async (t) => {
  const mdns = new Mdns({ port: await freeUdpPort() });
  t.after(() => mdns.shutdown());
  assert.throws(() => new Mdns({ port: 70000 }), /from 0 to 65535/);
  assert.throws(() => new Mdns({ ttl: 3 }), /unknown mDNS option ttl/);
  assert.throws(() => mdns.advertise("printer", "x", "127.0.0.1", 80, "/"), /"thing" or "directory"/);
  assert.throws(() => mdns.advertise("thing", "x", "localhost", 80, "/"), /not an IP address/);
  assert.throws(() => mdns.browse("printer"), /"thing" or "directory"/);
  await assert.rejects(mdns.browseFor(-1), TypeError);
  assert.throws(() => mdns.advertiseServient({}), /takes a Servient/);
  // A servient that has not started has no address to advertise.
  const idle = new Servient({ httpPort: 0 });
  idle.expose(agent("Idle"));
  assert.throws(
    () => mdns.advertiseServient(idle),
    (error) => error instanceof DiscoveryError && error.code === "discovery_not_registrable",
  );
});
