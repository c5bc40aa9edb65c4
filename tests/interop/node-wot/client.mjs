// node-wot 0.9.2 as a client of the lmos WeatherAgent.
//
//   node client.mjs <TD URL>
//
// Prints one JSON line per step ({"step": ..., "ok": true, ...}) and exits 1 at the first step
// that fails (with {"step": ..., "ok": false, "error": ...}).

import core from "@node-wot/core";
import bindingHttp from "@node-wot/binding-http";

const { Servient } = core;
const { HttpClientFactory } = bindingHttp;

const url = process.argv[2];
if (!url) {
  console.error("usage: node client.mjs <TD URL>");
  process.exit(2);
}

function report(step, extra = {}) {
  console.log(JSON.stringify({ step, ok: true, ...extra }));
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Repeats `poke` until `seen()` is true; bounded so a broken server fails instead of hanging.
async function pokeUntil(seen, poke, what) {
  for (let i = 0; i < 250 && !seen(); i++) {
    await poke(i);
    await sleep(40);
  }
  check(seen(), `no ${what} arrived`);
}

function formIndex(forms, op, subprotocol) {
  const index = forms.findIndex((f) => {
    const ops = Array.isArray(f.op) ? f.op : [f.op];
    return ops.includes(op) && f.subprotocol === subprotocol;
  });
  check(index >= 0, `no ${op} form with subprotocol ${subprotocol}`);
  return index;
}

let step = "start";
const servient = new Servient();
servient.addClientFactory(new HttpClientFactory());
try {
  const WoT = await servient.start();

  step = "consume";
  const td = await WoT.requestThingDescription(url);
  const thing = await WoT.consume(td);
  report(step, { title: td.title });

  step = "readproperty";
  const config = await (await thing.readProperty("modelConfiguration")).value();
  check(config.modelName === "gpt-4o", `unexpected modelConfiguration ${JSON.stringify(config)}`);
  report(step, { value: config });

  step = "writeproperty";
  const written = { modelName: "node-wot-model", temperature: 0.3, maxTokens: 300 };
  await thing.writeProperty("modelConfiguration", written);
  const readBack = await (await thing.readProperty("modelConfiguration")).value();
  check(JSON.stringify(readBack) === JSON.stringify(written), `read back ${JSON.stringify(readBack)}`);
  report(step);

  const propertyForms = td.properties.modelConfiguration.forms;
  for (const subprotocol of ["longpoll", "sse"]) {
    step = `observeproperty-${subprotocol}`;
    const seen = [];
    const subscription = await thing.observeProperty(
      "modelConfiguration",
      async (data) => seen.push(await data.value()),
      (error) => console.error(`${step}: ${error}`),
      { formIndex: formIndex(propertyForms, "observeproperty", subprotocol) },
    );
    await pokeUntil(
      () => seen.length > 0,
      (i) => thing.writeProperty("modelConfiguration", { modelName: `m${i}`, temperature: 0.5, maxTokens: i + 1 }),
      "property change",
    );
    await subscription.stop();
    check(seen[0].modelName.startsWith("m"), `observed ${JSON.stringify(seen[0])}`);
    report(step, { value: seen[0] });
  }

  step = "invokeaction";
  const answer = await (
    await thing.invokeAction("getWeather", { question: "Is it sunny in Bonn?", interactionMode: "text" })
  ).value();
  check(typeof answer === "string" && answer.includes("Is it sunny in Bonn?"), `answer ${answer}`);
  report(step, { value: answer });

  step = "invokeaction-chat";
  const result = await (
    await thing.invokeAction("chat", { messages: [{ role: "user", content: "Weather in Paris?", format: "text" }] })
  ).value();
  check(result.status === "success" && result.messages[0].content.includes("Weather in Paris?"), JSON.stringify(result));
  report(step);

  const eventForms = td.events.userFeedbackReceived.forms;
  for (const subprotocol of ["longpoll", "sse"]) {
    step = `subscribeevent-${subprotocol}`;
    const seen = [];
    const subscription = await thing.subscribeEvent(
      "userFeedbackReceived",
      async (data) => seen.push(await data.value()),
      (error) => console.error(`${step}: ${error}`),
      { formIndex: formIndex(eventForms, "subscribeevent", subprotocol) },
    );
    await pokeUntil(
      () => seen.length > 0,
      () => thing.invokeAction("rate", { rating: 5, comment: subprotocol }),
      "event",
    );
    await subscription.stop();
    check(seen[0].rating === 5 && seen[0].comment === subprotocol, `event ${JSON.stringify(seen[0])}`);
    report(step, { value: seen[0] });
  }

  step = "invalid-input";
  let refused = false;
  try {
    await thing.invokeAction("rate", { rating: 9 });
  } catch (error) {
    refused = true;
  }
  check(refused, "rating 9 was accepted");
  report(step);

  await servient.shutdown();
  process.exit(0);
} catch (error) {
  console.log(JSON.stringify({ step, ok: false, error: String(error?.stack ?? error) }));
  process.exit(1);
}
