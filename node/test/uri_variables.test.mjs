// `uriVariables` from JavaScript: values given per call fill the form's URI template (checked
// against the affordance's schemas by the client and again by the server), and a JavaScript
// handler reads them from its context.
import { test } from "node:test";
import assert from "node:assert/strict";

import { tool, consume, Servient, InvalidInput, RemoteError } from "lmos";

function weatherTd() {
  const td = tool("Weather")
    .action("forecast", { output: { type: "object" } })
    .property("temperature", { type: "object" }, { readOnly: true })
    .build();
  td.actions.forecast.uriVariables = {
    city: { type: "string" },
    days: { type: "integer", minimum: 1, maximum: 7 },
  };
  td.properties.temperature.uriVariables = { unit: { type: "string", enum: ["celsius", "fahrenheit"] } };
  return td;
}

test("uriVariables reach the handler, and bad ones are refused by client and server", async () => {
  const servient = new Servient({ httpPort: 0 });
  const exposed = servient.expose(weatherTd());
  exposed.onAction("forecast", async (_input, context) => ({ variables: context.uriVariables }));
  exposed.onPropertyRead("temperature", async (context) => ({ variables: context.uriVariables }));
  await servient.start();
  try {
    const thing = await consume(exposed.tdUrl);
    assert.ok(thing.td.actions.forecast.forms[0].href.endsWith("{?city,days}"));
    assert.deepEqual(await thing.invokeAction("forecast", undefined, { uriVariables: { city: "Köln am Rhein", days: 3 } }), {
      variables: { city: "Köln am Rhein", days: 3 },
    });
    assert.deepEqual(await thing.invokeAction("forecast"), { variables: {} });
    assert.deepEqual(await thing.readProperty("temperature", { uriVariables: { unit: "fahrenheit" } }), {
      variables: { unit: "fahrenheit" },
    });
    // Checked locally first: out of range, wrong type, undeclared.
    for (const bad of [{ days: 9 }, { days: "three" }, { country: "DE" }]) {
      await assert.rejects(thing.invokeAction("forecast", undefined, { uriVariables: bad }), InvalidInput);
    }
    await assert.rejects(thing.invokeAction("forecast", undefined, { uriVariables: ["days"] }), TypeError);
    await assert.rejects(thing.invokeAction("forecast", undefined, { urlVariables: {} }), TypeError);
    // With local checks off, the server refuses them with a 400 naming the variable.
    const unchecked = await consume(exposed.tdUrl, { validateInputs: false });
    await assert.rejects(unchecked.invokeAction("forecast", undefined, { uriVariables: { days: 9 } }), (error) => {
      assert.ok(error instanceof RemoteError);
      assert.equal(error.status, 400);
      assert.match(JSON.stringify(error.problem), /days/);
      return true;
    });
    assert.deepEqual(await unchecked.invokeAction("forecast", undefined, { uriVariables: { days: 2 } }), {
      variables: { days: 2 },
    });
  } finally {
    await servient.close();
  }
});
