// A node-wot 0.9.2 server for lmos's ConsumedThing to call.
//
//   node server.mjs
//
// Serves the thing "Node Counter" on 127.0.0.1 (ephemeral port), prints the URL of its TD as the
// first line on stdout, and serves until killed.

import core from "@node-wot/core";
import bindingHttp from "@node-wot/binding-http";

const { Servient, Helpers } = core;
const { HttpServer } = bindingHttp;

// Forms on the loopback address only (node-wot lists every interface otherwise).
Helpers.setStaticAddress("127.0.0.1");

const server = new HttpServer({ port: 0, address: "127.0.0.1" });
const servient = new Servient();
servient.addServer(server);
const WoT = await servient.start();

let count = 0;
const thing = await WoT.produce({
  title: "Node Counter",
  description: "A counter served by node-wot",
  properties: {
    count: { type: "integer", minimum: 0, observable: true },
    label: { type: "string" },
  },
  actions: {
    increment: {
      input: { type: "object", properties: { by: { type: "integer", minimum: 1 } }, required: ["by"] },
      output: { type: "integer" },
    },
  },
  events: {
    changed: { data: { type: "integer" } },
  },
});

let label = "initial";
thing.setPropertyReadHandler("count", async () => count);
thing.setPropertyWriteHandler("count", async (value) => {
  count = await value.value();
  thing.emitPropertyChange("count");
});
thing.setPropertyReadHandler("label", async () => label);
thing.setPropertyWriteHandler("label", async (value) => {
  label = await value.value();
});
thing.setActionHandler("increment", async (input) => {
  const { by } = await input.value();
  count += by;
  thing.emitPropertyChange("count");
  thing.emitEvent("changed", count);
  return count;
});
await thing.expose();

console.log(`http://127.0.0.1:${server.getPort()}/node-counter`);
