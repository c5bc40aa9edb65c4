// The node-wot side of bench/node/run: getWeather (same input/output schema and answer as the
// weather agent) exposed by node-wot 0.9.2 on 127.0.0.1. Prints the action's URL first.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "..", "tests", "interop", "node-wot", "package.json"));
const { Servient, Helpers } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");

Helpers.setStaticAddress("127.0.0.1");
const server = new HttpServer({ port: 0, address: "127.0.0.1" });
const servient = new Servient();
servient.addServer(server);
const WoT = await servient.start();
const thing = await WoT.produce({
  title: "WeatherAgent",
  actions: {
    getWeather: {
      input: {
        type: "object",
        properties: { question: { type: "string" }, interactionMode: { type: "string", enum: ["text", "voice"] } },
        required: ["question", "interactionMode"],
      },
      output: { type: "string" },
    },
  },
});
thing.setActionHandler("getWeather", async (input) => {
  const { question, interactionMode } = await input.value();
  return `Weather for "${question}": sunny, 21 °C, light wind (answered in ${interactionMode} mode).`;
});
await thing.expose();
console.log(`http://127.0.0.1:${server.getPort()}/weatheragent/actions/getWeather`);
