// Conversational agents from JavaScript: `chatAction()`, `onChat`, `chat(url, question)` and
// `ConsumedThing.chat`, over real HTTP on 127.0.0.1; the Rust weather agent answers `chat` too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import readline from "node:readline";

import {
  agent,
  tool,
  chat,
  consume,
  agentRequest,
  agentResult,
  firstText,
  agentRequestSchema,
  agentResultSchema,
  checkPayload,
  Servient,
  InvalidInput,
  InvalidOutput,
  InvalidPayload,
  NotFound,
  RemoteError,
  TransportError,
} from "lmos";

const here = path.dirname(fileURLToPath(import.meta.url));
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(here, "..", "..", "target");
const rustAgent = path.join(targetDir, "debug", "examples", "weather_agent");

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// The AgentRequest example of the LMOS Kotlin SDK page.
const KOTLIN_REQUEST = {
  conversationContext: { conversationId: "1" },
  systemContext: [{ key: "channelId", value: "web" }],
  userContext: { userId: "1234", profile: [{ key: "name", value: "Max Mustermann" }] },
  messages: [{ role: "user", content: "What is the weather in London?", format: "text" }],
};

const weatherAnswer = (question) => `Sunny in reply to ${JSON.stringify(question)}`;

// Serves a chat agent answering from the last user message; `requests` keeps what it got.
async function weatherChat(t) {
  const servient = new Servient({ httpPort: 0 });
  t.after(() => servient.close());
  const exposed = servient.expose(agent("Weather Chat").chatAction());
  const requests = [];
  exposed.onChat(async (request) => {
    requests.push(request);
    const question = request.messages.filter((m) => m.role === "user").at(-1)?.content;
    if (question === undefined) throw new InvalidInput("no user message");
    return weatherAnswer(question);
  });
  await servient.start();
  return { servient, exposed, url: exposed.tdUrl, requests };
}

test("chat(url, question) returns the handler's answer", async (t) => {
  const { url, requests } = await weatherChat(t);
  assert.equal(await chat(url, "What is the weather in London?"), weatherAnswer("What is the weather in London?"));
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0].messages, [{ role: "user", content: "What is the weather in London?", format: "text" }]);
  assert.match(requests[0].conversationContext.conversationId, UUID_V4);
});

test("whole requests reach the agent unchanged and results come back whole", async (t) => {
  const { url, requests } = await weatherChat(t);
  const thing = await consume(url);
  const request = { ...KOTLIN_REQUEST, conversationContext: { conversationId: "1", turnId: "7", tenant: "de" }, future: { nested: [1, 2.5, null] } };
  const result = await thing.chat(request);
  assert.deepEqual(requests, [request]);
  assert.deepEqual(result, {
    status: "success",
    messages: [{ role: "agent", content: weatherAnswer("What is the weather in London?"), format: "text" }],
  });
  assert.deepEqual(result, agentResult(weatherAnswer("What is the weather in London?")));
  assert.equal((await thing.chat("Rain?")).messages[0].content, weatherAnswer("Rain?"));
  assert.equal(await thing.ask("Snow?"), weatherAnswer("Snow?"));
});

test("handlers may return whole results with members of their own", async (t) => {
  const servient = new Servient({ httpPort: 0 });
  t.after(() => servient.close());
  const exposed = servient.expose(agent("Rich").chatAction({ description: "Answers richly." }));
  const contexts = [];
  exposed.onChat(async (_request, context) => {
    contexts.push(context);
    return {
      status: "success",
      responseTime: 1.25,
      messages: [{ role: "assistant", content: "Done", format: "markdown" }],
      toolCalls: [{ name: "lookup", arguments: "{}" }],
    };
  });
  await servient.start();
  assert.equal(exposed.td.actions.chat.description, "Answers richly.");
  const thing = await consume(exposed.tdUrl);
  const result = await thing.chat(agentRequest("hi"));
  assert.deepEqual(result.toolCalls, [{ name: "lookup", arguments: "{}" }]);
  assert.equal(result.responseTime, 1.25);
  assert.equal(firstText(result), "Done");
  assert.equal(await chat(exposed.tdUrl, "hi"), "Done");
  assert.match(contexts[0].traceparent, /^00-/);
});

test("a request without messages is InvalidInput", async (t) => {
  const { url, requests } = await weatherChat(t);
  const noMessages = { conversationContext: { conversationId: "1" } };
  const thing = await consume(url);
  // Read before sending: not an AgentRequest.
  await assert.rejects(thing.chat(noMessages), (error) => error instanceof InvalidInput && error.code === "invalid_input" && /messages/.test(error.message));
  // Checked against the TD's input schema before sending.
  await assert.rejects(thing.invokeAction("chat", noMessages), (error) => error instanceof InvalidInput && /messages/.test(error.message));
  // Sent anyway: the server refuses it.
  const unchecked = await consume(url, { validateInputs: false });
  await assert.rejects(unchecked.invokeAction("chat", noMessages), (error) => error instanceof RemoteError && error.status === 400);
  assert.deepEqual(requests, [], "the handler never ran");
  // The handler's own refusal reaches the caller too.
  await assert.rejects(
    thing.chat({ messages: [{ role: "system", content: "be brief" }] }),
    (error) => error instanceof RemoteError && error.status === 400 && /no user message/.test(error.message),
  );
});

test("unusable replies are the handler's fault", async (t) => {
  const reports = [];
  const servient = new Servient({ httpPort: 0, onInternalError: (report) => reports.push(report) });
  t.after(() => servient.close());
  const exposed = servient.expose(agent("Broken").chatAction());
  exposed.onChat(async () => 42);
  await servient.start();
  await assert.rejects(chat(exposed.tdUrl, "hi"), (error) => error instanceof RemoteError && error.status === 500);
  // The hook runs on the event loop after the answer.
  for (let i = 0; i < 200 && reports.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.equal(reports.length, 1);
  assert.match(reports[0].message, /reply is unusable/);
});

test("a result without an agent message is InvalidOutput", async (t) => {
  const servient = new Servient({ httpPort: 0 });
  t.after(() => servient.close());
  const exposed = servient.expose(agent("Echo only").chatAction());
  exposed.onChat(async (request) => ({ status: "success", messages: request.messages }));
  await servient.start();
  await assert.rejects(chat(exposed.tdUrl, "anyone?"), (error) => error instanceof InvalidOutput && error.code === "invalid_output" && /no answer/.test(error.message));
});

test("things without a chat action say so", async (t) => {
  const servient = new Servient({ httpPort: 0 });
  t.after(() => servient.close());
  const exposed = servient.expose(tool("Mute").action("ping"));
  assert.throws(() => exposed.onChat(async () => "x"), NotFound);
  await servient.start();
  await assert.rejects(chat(exposed.tdUrl, "hello?"), NotFound);
  await assert.rejects(chat("http://127.0.0.1:1/nothing", "hello?", { timeoutMs: 5000 }), TransportError);
  assert.throws(() => exposed.onChat("not a function"), TypeError);
});

test("shapes and schemas", () => {
  const request = agentRequest("Hi?");
  assert.deepEqual(request.messages, [{ role: "user", content: "Hi?", format: "text" }]);
  assert.match(request.conversationContext.conversationId, UUID_V4);
  assert.notEqual(agentRequest("Hi?").conversationContext.conversationId, request.conversationContext.conversationId);
  assert.deepEqual(agentResult("Yes."), { status: "success", messages: [{ role: "agent", content: "Yes.", format: "text" }] });
  assert.equal(firstText({ messages: [{ role: "user", content: "q" }] }), null);
  assert.throws(() => firstText({ status: "success" }), InvalidOutput);
  checkPayload(agentRequestSchema(), KOTLIN_REQUEST);
  checkPayload(agentResultSchema(), agentResult("ok"));
  assert.throws(() => checkPayload(agentRequestSchema(), { userContext: {} }), InvalidPayload);
  const td = agent("A").chatAction().build();
  assert.deepEqual(td.actions.chat.input, agentRequestSchema());
  assert.deepEqual(td.actions.chat.output, agentResultSchema());
  assert.equal(td.actions.chat.synchronous, true);
});

test("the Rust weather agent answers chat()", async (t) => {
  if (!existsSync(rustAgent)) {
    if (process.env.LMOS_REQUIRE_RUST === "1") assert.fail(`missing ${rustAgent}: cargo build -p lmos --example weather_agent`);
    t.skip("cargo build -p lmos --example weather_agent");
    return;
  }
  const child = spawn(rustAgent, ["--http-port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => child.kill());
  const lines = readline.createInterface({ input: child.stdout });
  const [url] = await new Promise((resolve, reject) => {
    lines.once("line", (line) => resolve([line.trim()]));
    child.once("error", reject);
  });
  const answer = await chat(url, "What is the weather in London?");
  assert.match(answer, /What is the weather in London\?/);
  const thing = await consume(url);
  assert.deepEqual(thing.td.actions.chat.input, agentRequestSchema());
  assert.deepEqual(thing.td.actions.chat.output, agentResultSchema());
});
