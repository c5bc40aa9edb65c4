// Thing Description builders, validation and payload checks from JavaScript.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  agent,
  tool,
  thing,
  ThingBuilder,
  validate,
  parseTd,
  checkPayload,
  InvalidThingDescription,
  InvalidPayload,
  LmosError,
  ConfigurationError,
} from "lmos";

test("agent builder makes an lmos:Agent with vendor metadata and affordances", () => {
  const td = agent("Weather")
    .id("urn:uuid:0e9f1a3c-5f41-4a6f-9f0c-5a1a2b3c4d5e")
    .description("weather")
    .vendor("ACME", "https://acme.example")
    .property("unit", { type: "string", enum: ["C", "F"] }, { observable: true, readOnly: true })
    .action("ask", { input: { type: "string" }, output: { type: "string" }, synchronous: true })
    .event("alert", { data: { type: "string" } })
    .link({ href: "https://acme.example/doc", rel: "service-doc" })
    .member("lmos:extra", { a: 1 })
    .build();
  assert.equal(td.title, "Weather");
  assert.ok([td["@type"]].flat().includes("lmos:Agent"));
  assert.equal(td.properties.unit.observable, true);
  assert.equal(td.properties.unit.readOnly, true);
  assert.deepEqual(td.properties.unit.enum, ["C", "F"]);
  assert.equal(td.actions.ask.synchronous, true);
  assert.deepEqual(td.actions.ask.input, { type: "string" });
  assert.deepEqual(td.events.alert.data, { type: "string" });
  assert.equal(td.links[0].rel, "service-doc");
  assert.deepEqual(td["lmos:extra"], { a: 1 });
  assert.ok(JSON.stringify(td).includes("ACME"));
});

test("tool and plain thing builders", () => {
  assert.ok([tool("Geocoder").build()["@type"]].flat().includes("lmos:Tool"));
  const plain = thing("Lamp").build();
  assert.equal(plain.title, "Lamp");
  assert.ok(!JSON.stringify(plain["@type"] ?? "").includes("lmos:"));
  assert.ok(ThingBuilder.agent("X").build()["@type"]);
});

test("a builder cannot be used after build()", () => {
  const builder = agent("Once");
  builder.build();
  assert.throws(() => builder.build(), TypeError);
  assert.throws(() => builder.description("again"), /already used/);
});

test("builder refuses members that are not TD shapes", () => {
  assert.throws(() => agent("X").action("a", { input: 5 }), TypeError);
  assert.throws(() => agent("X").link({ rel: "no-href" }), TypeError);
  assert.throws(() => agent(42), TypeError);
});

function servedTd() {
  return {
    "@context": "https://www.w3.org/2022/wot/td/v1.1",
    title: "Lamp",
    securityDefinitions: { nosec_sc: { scheme: "nosec" } },
    security: ["nosec_sc"],
    properties: {
      on: { type: "boolean", forms: [{ href: "http://127.0.0.1:1/lamp/properties/on" }] },
    },
  };
}

test("validate reports on objects and on JSON text with positions", () => {
  const good = validate(servedTd());
  assert.equal(good.valid, true);
  assert.equal(good.kind, "ThingDescription");

  const bad = servedTd();
  delete bad.security;
  const report = validate(bad);
  assert.equal(report.valid, false);
  assert.ok(report.problems.some((p) => p.severity === "error"));

  const text = JSON.stringify({ ...servedTd(), title: 5 }, null, 2);
  const fromText = validate(text);
  assert.equal(fromText.valid, false);
  const problem = fromText.problems.find((p) => p.pointer === "/title");
  assert.ok(problem, JSON.stringify(fromText));
  assert.equal(typeof problem.line, "number");

  const notJson = validate("{ not json");
  assert.equal(notJson.valid, false);
  assert.equal(notJson.problems[0].line, 1);
});

test("parseTd returns the TD or throws InvalidThingDescription with the report", () => {
  assert.equal(parseTd(servedTd()).title, "Lamp");
  const bad = servedTd();
  bad.properties.on.forms = [];
  try {
    parseTd(bad);
    assert.fail("parseTd accepted a property without forms");
  } catch (error) {
    assert.ok(error instanceof InvalidThingDescription);
    assert.ok(error instanceof LmosError);
    assert.equal(error.code, "invalid_td");
    assert.equal(error.report.valid, false);
    assert.ok(error.report.problems.length > 0);
  }
});

test("checkPayload lists every violation", () => {
  const schema = {
    type: "object",
    properties: { rating: { type: "integer", minimum: 1, maximum: 5 }, comment: { type: "string" } },
    required: ["rating"],
  };
  checkPayload(schema, { rating: 3 });
  try {
    checkPayload(schema, { rating: 9, comment: 4 });
    assert.fail("accepted a bad payload");
  } catch (error) {
    assert.ok(error instanceof InvalidPayload);
    assert.equal(error.code, "invalid_payload");
    const paths = error.violations.map((v) => v.path).sort();
    assert.deepEqual(paths, ["/comment", "/rating"]);
  }
  assert.throws(() => checkPayload({ type: "string", pattern: "(" }, "x"), ConfigurationError);
  assert.throws(() => checkPayload({ type: "integer" }, 10n), TypeError);
});
