// Serving and consuming from JavaScript: every capability over real HTTP on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";

import {
  agent,
  consume,
  currentContext,
  ConsumedThing,
  Servient,
  LmosError,
  RemoteError,
  NotFound,
  NoForm,
  InvalidInput,
  InvalidThingDescription,
  ConfigurationError,
  BindError,
  TransportError,
  ActionCancelled,
  ActionFinished,
} from "lmos";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Waits until `condition()` holds; bounded so a broken implementation fails instead of hanging.
async function eventually(condition, what) {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await sleep(25);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const internalErrors = [];
const seen = { cancelled: 0, lateCancelled: 0, returned: 0, writes: [], traces: [] };
let servient;
let exposed;
let url;

function lampTd() {
  return agent("Lamp")
    .property("brightness", { type: "integer", minimum: 0, maximum: 100 }, { observable: true })
    .property("status", { type: "string" }, { readOnly: true })
    .property("colour", { type: "string" })
    .property("secret", { type: "string" }, { writeOnly: true })
    .action("echo", { input: { type: "string" }, output: { type: "string" } })
    .action("fail", {})
    .action("refuse", { input: { type: "string" } })
    .action("badOutput", { output: { type: "integer" } })
    .action("count", { input: { type: "integer" }, output: { type: "integer" } })
    .action("endless", {})
    .action("job", { synchronous: false, input: { type: "integer" }, output: { type: "string" } })
    .action("trace", { output: { type: "object" } })
    .action("syncThrow", {})
    .action("notJson", {})
    .action("iterable", { output: { type: "string" } })
    .action("notIterator", {})
    .action("late", { synchronous: false, output: { type: "string" } })
    .action("double", { input: { type: "integer" }, output: { type: "integer" } })
    .action("context", { output: { type: "object" } })
    .action("nothing", {})
    .event("blink", { data: { type: "integer" } });
}

before(async () => {
  servient = new Servient({ httpPort: 0, onInternalError: (e) => internalErrors.push(e), cancelGraceMs: 2000 });
  exposed = servient.expose(lampTd());
  exposed.setProperty("brightness", 10).setProperty("colour", "red");
  exposed.onPropertyRead("status", async (ctx) => `on (${typeof ctx.traceparent})`);
  exposed.onPropertyWrite("secret", async (value) => {
    seen.writes.push(value);
  });
  exposed.onAction("echo", async (input) => `echo: ${input}`);
  exposed.onAction("fail", async () => {
    throw new Error("internal detail that must not leak");
  });
  exposed.onAction("refuse", async (input) => {
    throw new InvalidInput(`cannot take ${input}`);
  });
  exposed.onAction("badOutput", async () => "not an integer");
  exposed.onAction("count", async function* (n) {
    for (let i = 1; i <= n; i++) yield i;
    return n * 10;
  });
  exposed.onAction("endless", async function* () {
    try {
      for (let i = 0; ; i++) {
        yield i;
        await sleep(20);
      }
    } finally {
      seen.returned++;
    }
  });
  exposed.onAction("job", async function* (steps, { signal, actionId }) {
    for (let i = 0; i < steps; i++) {
      if (signal.aborted) {
        seen.cancelled++;
        throw new ActionCancelled();
      }
      yield { step: i, actionId };
      await sleep(30);
    }
    return `done ${steps}`;
  });
  exposed.onAction("trace", async (_input, ctx) => {
    seen.traces.push(ctx.traceparent);
    return { traceparent: ctx.traceparent, current: currentContext()?.traceparent ?? null };
  });
  exposed.onAction("syncThrow", () => {
    throw new TypeError("thrown before any await");
  });
  exposed.onAction("notJson", async () => 10n);
  exposed.onActionStream("iterable", () => ({
    async *[Symbol.asyncIterator]() {
      yield "a";
      return "from an iterable";
    },
  }));
  exposed.onActionStream("notIterator", async () => "plain value");
  // Reads its signal for the first time only after the caller may have cancelled.
  exposed.onAction("late", async function* (_input, ctx) {
    yield "started";
    await sleep(300);
    if (ctx.signal.aborted) {
      seen.lateCancelled++;
      throw ctx.signal.reason;
    }
    return "not cancelled";
  });
  // Reports what a handler can and cannot do with its context.
  exposed.onAction("context", async (_input, ctx) => {
    const refused = (change) => {
      try {
        change();
        return false;
      } catch (error) {
        return error instanceof TypeError;
      }
    };
    return {
      json: JSON.parse(JSON.stringify(ctx)),
      printed: inspect(ctx),
      traceparentRefused: refused(() => {
        ctx.traceparent = "00-forged";
      }),
      uriVariablesRefused: refused(() => {
        ctx.uriVariables.forged = 1;
      }),
      traceparentAfter: ctx.traceparent,
      signalAborted: ctx.signal.aborted,
    };
  });
  exposed.onAction("nothing", async () => undefined);
  exposed.onAction("double", (n) => (n % 2 ? n * 2 : sleep(n % 5).then(() => n * 2)));
  await servient.start();
  url = exposed.tdUrl;
});

after(async () => {
  await servient.close();
});

test("the servient reports its address and serves the TD with absolute forms", async () => {
  const { http } = servient.addresses;
  assert.equal(http.host, "127.0.0.1");
  assert.ok(http.port > 0);
  assert.equal(url, `http://127.0.0.1:${http.port}/lamp`);
  assert.equal(servient.baseUrl, `http://127.0.0.1:${http.port}/`);
  assert.equal(exposed.slug, "lamp");
  assert.ok(exposed.td.properties.brightness.forms[0].href.startsWith("http://127.0.0.1"));
  assert.deepEqual(exposed.propertyNames, ["brightness", "status", "colour", "secret"]);
  assert.equal(servient.things.length, 1);
});

test("properties: stored values, handlers, read all, write multiple", async () => {
  const lamp = await consume(url);
  assert.equal(lamp.td.title, "Lamp");
  assert.equal(await lamp.readProperty("brightness"), 10);
  await lamp.writeProperty("brightness", 55);
  assert.equal(await lamp.readProperty("brightness"), 55);
  assert.equal(exposed.propertyValue("brightness"), 55);
  assert.equal(await lamp.readProperty("status"), "on (string)");
  await lamp.writeProperty("secret", "s3cr3t");
  assert.deepEqual(seen.writes, ["s3cr3t"]);
  const all = await lamp.readAllProperties();
  assert.deepEqual(all, { brightness: 55, status: "on (string)", colour: "red" });
  await lamp.writeMultipleProperties({ brightness: 1, colour: "blue" });
  assert.equal(exposed.propertyValue("colour"), "blue");
  assert.equal(exposed.propertyValue("brightness"), 1);
});

test("bad property values are refused with the violations", async () => {
  const lamp = await consume(url);
  await assert.rejects(lamp.writeProperty("brightness", 500), (error) => {
    assert.ok(error instanceof InvalidInput);
    assert.equal(error.code, "invalid_input");
    assert.equal(error.violations[0].rule, "maximum");
    return true;
  });
  // The same value sent without the client-side check: the server answers 400.
  const unchecked = await consume(url, { validateInputs: false });
  await assert.rejects(unchecked.writeProperty("brightness", 500), (error) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.status, 400);
    assert.equal(typeof error.problem, "object");
    return true;
  });
  assert.throws(() => exposed.setProperty("brightness", "loud"), InvalidInput);
  assert.throws(() => exposed.emitEvent("blink", "x"), InvalidInput);
  assert.throws(() => exposed.setProperty("nope", 1), NotFound);
});

test("unknown affordances and disallowed operations", async () => {
  const lamp = await consume(url);
  await assert.rejects(lamp.readProperty("nope"), (error) => {
    assert.ok(error instanceof NotFound);
    assert.equal(error.kind, "property");
    assert.equal(error.target, "nope");
    return true;
  });
  await assert.rejects(lamp.writeProperty("status", "off"), (error) => error instanceof LmosError && error.code === "no_form");
  await assert.rejects(lamp.invokeAction("nope"), NotFound);
});

for (const subprotocol of ["sse", "longpoll"]) {
  test(`observeProperty over ${subprotocol}; return() stops observing`, async () => {
    const lamp = await consume(url, { subprotocols: [subprotocol] });
    const values = await lamp.observeProperty("brightness");
    const got = [];
    const reader = (async () => {
      for await (const value of values) {
        got.push(value);
        if (got.includes(77)) break;
      }
    })();
    // Keep changing the value until the observer has seen one (long-poll may connect late).
    await eventually(() => {
      exposed.setProperty("brightness", 77);
      return got.includes(77);
    }, "an observed value");
    await reader;
    assert.deepEqual(await values.next(), { done: true, value: undefined });
  });

  test(`subscribeEvent over ${subprotocol}`, async () => {
    const lamp = await consume(url, { subprotocols: [subprotocol] });
    const events = await lamp.subscribeEvent("blink");
    const got = [];
    const reader = (async () => {
      for await (const data of events) {
        got.push(data);
        if (got.length >= 1) break;
      }
    })();
    await eventually(() => {
      exposed.emitEvent("blink", 3);
      return got.length >= 1;
    }, "an event");
    await reader;
    assert.equal(got[0], 3);
  });
}

test("close() ends a pending next()", async () => {
  const lamp = await consume(url);
  const values = await lamp.observeProperty("brightness");
  const pending = values.next();
  await values.close();
  assert.deepEqual(await pending, { done: true, value: undefined });
});

test("actions: output, thrown errors, refused input, bad output; the server keeps serving", async () => {
  const lamp = await consume(url);
  assert.equal(await lamp.invokeAction("echo", "hi"), "echo: hi");
  await assert.rejects(lamp.invokeAction("fail"), (error) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.status, 500);
    assert.ok(!JSON.stringify(error.problem).includes("internal detail"));
    return true;
  });
  // The hook runs on the event loop after the answer went out.
  await eventually(
    () => internalErrors.some((e) => e.affordance === "actions/fail" && e.message.includes("internal detail")),
    "the internal error hook",
  );
  await assert.rejects(lamp.invokeAction("refuse", "x"), (error) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.status, 400);
    assert.ok(JSON.stringify(error.problem).includes("cannot take x"));
    return true;
  });
  await assert.rejects(lamp.invokeAction("badOutput"), (error) => error instanceof RemoteError && error.status === 500);
  await eventually(
    () => internalErrors.some((e) => e.affordance === "actions/badOutput" && e.code === "invalid_output"),
    "the internal error hook",
  );
  await assert.rejects(lamp.invokeAction("echo", 5), InvalidInput);
  // Still serving after all of that.
  assert.equal(await lamp.invokeAction("echo", "again"), "echo: again");
});

test("handlers that throw synchronously, return non-JSON or no iterator fail cleanly", async () => {
  const lamp = await consume(url);
  for (const name of ["syncThrow", "notJson", "notIterator"]) {
    await assert.rejects(lamp.invokeAction(name), (error) => error instanceof RemoteError && error.status === 500, name);
  }
  await eventually(() => internalErrors.some((e) => e.affordance === "actions/notJson" && /BigInt/.test(e.message)), "the notJson report");
  assert.equal(await lamp.invokeAction("iterable"), "from an iterable");
  assert.equal(await lamp.invokeAction("echo", "still here"), "echo: still here");
  await assert.rejects(lamp.invokeAction("echo", 1n), TypeError);
});

test("a streamed action yields progress values, then the output", async () => {
  const lamp = await consume(url);
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

test("leaving a streamed action early returns the handler's generator", async () => {
  const lamp = await consume(url);
  const before = seen.returned;
  for await (const update of await lamp.invokeActionStream("endless")) {
    if (update.value >= 2) break;
  }
  await eventually(() => seen.returned > before, "the generator's finally block");
});

test("asynchronous actions: handle, query, output, updates", async () => {
  const lamp = await consume(url, { pollIntervalMs: 20 });
  const handle = await lamp.startAction("job", 3);
  assert.equal(handle.isAsync, true);
  assert.equal(handle.action, "job");
  assert.match(handle.statusUrl, /\/lamp\/actions\/job\//);
  const status = await handle.query();
  assert.ok(["pending", "running", "completed"].includes(status.status));
  assert.equal(await handle.output(), "done 3");
  assert.equal((await handle.query()).status, "completed");
  await assert.rejects(handle.cancel(), ActionFinished);

  const second = await lamp.startAction("job", 4);
  const updates = [];
  for await (const update of second.updates()) updates.push(update);
  assert.deepEqual(updates.at(-1), { type: "output", value: "done 4" });
  assert.ok(updates.slice(0, -1).every((u) => u.type === "progress" && typeof u.value.actionId === "string"));
  // invokeAction on an asynchronous action polls until the output.
  assert.equal(await lamp.invokeAction("job", 1), "done 1");
});

test("cancelling an asynchronous action aborts the handler's signal", async () => {
  const lamp = await consume(url);
  const before = seen.cancelled;
  const handle = await lamp.startAction("job", 1000);
  await sleep(80);
  await handle.cancel();
  assert.equal((await handle.query()).status, "cancelled");
  await eventually(() => seen.cancelled > before, "the handler to see the cancellation");
  await assert.rejects(handle.output(), ActionCancelled);
});

test("a signal first read after the cancellation is already aborted", async () => {
  const lamp = await consume(url);
  const before = seen.lateCancelled;
  const handle = await lamp.startAction("late");
  await sleep(80);
  await handle.cancel();
  await eventually(() => seen.lateCancelled > before, "the handler to see the cancellation");
  await assert.rejects(handle.output(), ActionCancelled);
});

test("concurrent calls each get their own result, from plain and async handlers", async () => {
  const lamp = await consume(url);
  const inputs = Array.from({ length: 300 }, (_, i) => i);
  const results = await Promise.all(inputs.map((n) => lamp.invokeAction("double", n)));
  assert.deepEqual(results, inputs.map((n) => n * 2));
});

test("the handler sees the caller's trace context; calls from a handler continue it", async () => {
  const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const response = await fetch(exposed.td.actions.trace.forms[0].href, {
    method: "POST",
    headers: { traceparent: parent },
  });
  assert.equal(response.status, 200);
  const body = await response.json();
  // The handler runs in its server span: the caller's trace, the span's own id.
  const traceId = (tp) => tp.split("-")[1];
  assert.equal(traceId(body.traceparent), traceId(parent));
  assert.notEqual(body.traceparent, parent);
  assert.equal(body.current, body.traceparent);

  // A second thing whose handler calls the lamp: the lamp's handler sees the same trace id.
  const relay = servient.expose(agent("Relay").action("relay", { output: { type: "object" } }));
  relay.onAction("relay", async (_input, ctx) => {
    const lamp = await consume(url);
    const inner = await lamp.invokeAction("trace");
    return { outer: ctx.traceparent, inner: inner.traceparent };
  });
  const traced = await fetch(relay.td.actions.relay.forms[0].href, { method: "POST", headers: { traceparent: parent } });
  const { outer, inner } = await traced.json();
  assert.equal(traceId(outer), traceId(parent));
  assert.equal(traceId(inner), traceId(parent));
  assert.notEqual(inner, outer);
  assert.ok(servient.destroy("relay"));
});

test("a handler's context is read-only, serialises and prints its members", async () => {
  const lamp = await consume(url);
  const seenByHandler = await lamp.invokeAction("context");
  const { traceparent, tracestate, actionId, principal, uriVariables } = seenByHandler.json;
  assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  assert.deepEqual({ tracestate, actionId, principal, uriVariables }, { tracestate: null, actionId: null, principal: null, uriVariables: {} });
  assert.ok(seenByHandler.printed.includes(traceparent), seenByHandler.printed);
  assert.equal(seenByHandler.traceparentRefused, true);
  assert.equal(seenByHandler.uriVariablesRefused, true);
  assert.equal(seenByHandler.traceparentAfter, traceparent);
  assert.equal(seenByHandler.signalAborted, false);
  // A handler that returns nothing answers null.
  assert.equal(await lamp.invokeAction("nothing"), null);
});

test("form choice follows the caller's preferences", async () => {
  const cbor = await consume(url, { contentTypes: ["application/cbor"] });
  assert.equal(await cbor.invokeAction("echo", "cbor"), "echo: cbor");
  // Preferences rank forms; an unmet preference falls back to what the TD offers.
  const coapFirst = await consume(url, { protocols: ["coap", "http"] });
  assert.equal(await coapFirst.readProperty("colour"), exposed.propertyValue("colour"));
  // A TD whose only form is in a scheme the client cannot speak has no usable form.
  const td = exposed.td;
  td.properties.colour.forms = [{ href: "coap://127.0.0.1/lamp/colour" }];
  await assert.rejects(ConsumedThing.fromTd(td).readProperty("colour"), (error) => {
    assert.ok(error instanceof NoForm);
    assert.equal(error.operation, "readproperty");
    assert.equal(error.affordance, "colour");
    return true;
  });
  await assert.rejects(consume(url, { subprotocols: ["websocket"] }), TypeError);
  await assert.rejects(consume(url, { nonsense: true }), TypeError);
});

test("consuming from a TD object, and its errors", async () => {
  const lamp = ConsumedThing.fromTd(exposed.td);
  assert.equal(await lamp.invokeAction("echo", "td"), "echo: td");
  const broken = { ...exposed.td, security: undefined };
  assert.throws(() => ConsumedThing.fromTd(broken), InvalidThingDescription);
  await assert.rejects(consume("http://127.0.0.1:1/nothing"), TransportError);
});

test("servient configuration errors", async () => {
  assert.throws(() => servient.expose(lampTd()), ConfigurationError);
  assert.throws(() => new Servient({ publicBaseUrl: "not a url" }), ConfigurationError);
  assert.throws(() => new Servient({ httpPort: 0, colour: "red" }), TypeError);
  const clash = new Servient({ httpPort: servient.addresses.http.port });
  await assert.rejects(clash.start(), BindError);
  await clash.close();
});

test("a public base URL shapes the hrefs", () => {
  const proxied = new Servient({ httpPort: 0, publicBaseUrl: "https://agents.example/lmos" });
  const echo = proxied.expose(agent("Echo").action("echo", {}));
  assert.equal(echo.tdUrl, "https://agents.example/lmos/echo");
  assert.equal(echo.td.actions.echo.forms[0].href, "https://agents.example/lmos/echo/actions/echo");
});
