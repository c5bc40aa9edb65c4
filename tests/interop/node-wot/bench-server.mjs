// The node-wot side of bench/http/run: one trivial action, ping -> "pong", on 127.0.0.1.
// Prints the action's URL as the first line on stdout.

import core from "@node-wot/core";
import bindingHttp from "@node-wot/binding-http";

const { Servient, Helpers } = core;
const { HttpServer } = bindingHttp;

Helpers.setStaticAddress("127.0.0.1");
const server = new HttpServer({ port: 0, address: "127.0.0.1" });
const servient = new Servient();
servient.addServer(server);
const WoT = await servient.start();
const thing = await WoT.produce({
  title: "Bench",
  actions: { ping: { output: { type: "string" } } },
});
thing.setActionHandler("ping", async () => "pong");
await thing.expose();
console.log(`http://127.0.0.1:${server.getPort()}/bench/actions/ping`);
