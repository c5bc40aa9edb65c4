// The reference LMOS agent: the WeatherAgent of the LMOS agent description, served over HTTP and
// WebSocket (on the HTTP port, or on its own with --ws-port).
// The same agent as core/examples/weather_agent.rs, written with the Node.js package.
//
//   node node/examples/weather_agent.mjs --http-port 0 [--ws-port 0]
//
// The first line on stdout is the URL of the agent's Thing Description; the agent serves until
// interrupted (Ctrl-C or SIGTERM).

import { parseArgs } from "node:util";

import { agent, InvalidInput, ActionCancelled, Servient } from "lmos";

const { values: options } = parseArgs({
  options: {
    "http-port": { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
    "public-base-url": { type: "string" },
    "ws-port": { type: "string" },
    "forecast-step-ms": { type: "string", default: "200" },
    // Another TD id, to run several WeatherAgents side by side (e.g. under one directory).
    id: { type: "string" },
  },
});

const string = (description) => ({ type: "string", description });

const keyValues = (description) => ({
  type: "array",
  description,
  items: {
    type: "object",
    properties: { key: { type: "string" }, value: { type: "string" } },
    required: ["key", "value"],
  },
});

const messages = (description) => ({
  type: "array",
  description,
  items: {
    type: "object",
    properties: {
      role: string("Who wrote the message: user, assistant, agent or system."),
      content: string("The text of the message."),
      format: string("Format of the content, e.g. text."),
    },
    required: ["role", "content"],
  },
});

const feedback = {
  type: "object",
  properties: {
    rating: {
      type: "integer",
      minimum: 1,
      maximum: 5,
      description: "User rating, where 1 is the lowest and 5 is the highest.",
    },
    comment: string("Optional user comment providing additional feedback."),
  },
  required: ["rating"],
};

/** The WeatherAgent's Thing Description (forms are filled in by the servient). */
function weatherAgent() {
  return agent("WeatherAgent")
    .id("urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77")
    .description("An agent that answers questions about the weather.")
    .vendor("Deutsche Telekom AG", "https://telekom.de")
    .link({
      href: "https://weatherai.example.com/manual.pdf",
      rel: "service-doc",
      type: "application/pdf",
      hreflang: "en",
    })
    .property(
      "modelConfiguration",
      {
        type: "object",
        description:
          "Current configuration of the underlying LLM, including version, temperature, and maximum tokens.",
        properties: {
          modelName: string("Name of the model in use, e.g., gpt-4o."),
          temperature: {
            type: "number",
            description: "Temperature setting for controlling response randomness.",
            minimum: 0,
            maximum: 1,
          },
          maxTokens: {
            type: "integer",
            description: "Maximum number of tokens the model is allowed to generate.",
          },
        },
      },
      { observable: true },
    )
    .action("getWeather", {
      description: "Fetches weather information based on user input.",
      safe: true,
      idempotent: false,
      synchronous: true,
      input: {
        type: "object",
        properties: {
          question: { type: "string" },
          interactionMode: { type: "string", enum: ["text", "voice"] },
        },
        required: ["question", "interactionMode"],
      },
      output: string("Natural language output providing weather information."),
    })
    .action("rate", {
      description: "Rates the service; emits userFeedbackReceived.",
      synchronous: true,
      input: feedback,
    })
    .action("forecast", {
      description: "Forecasts the weather for the next days, reporting progress per day.",
      synchronous: false,
      input: {
        type: "object",
        properties: { city: { type: "string" }, days: { type: "integer", minimum: 1, maximum: 7 } },
        required: ["city", "days"],
      },
      output: {
        type: "array",
        items: {
          type: "object",
          properties: {
            day: { type: "integer" },
            city: { type: "string" },
            summary: { type: "string" },
            temperatureC: { type: "number" },
          },
          required: ["day", "city", "summary", "temperatureC"],
        },
      },
    })
    .action("chat", {
      description: "Ask the agent a question (AgentRequest in, AgentResult out).",
      synchronous: true,
      input: {
        type: "object",
        properties: {
          conversationContext: {
            type: "object",
            properties: { conversationId: { type: "string" }, turnId: { type: "string" } },
          },
          systemContext: keyValues("Context of the calling system."),
          userContext: {
            type: "object",
            properties: { userId: { type: "string" }, profile: keyValues("Facts about the user.") },
          },
          messages: messages("The conversation so far."),
        },
        required: ["messages"],
      },
      output: {
        type: "object",
        properties: { status: string("success or failure"), messages: messages("The agent's answer.") },
        required: ["messages"],
      },
    })
    .event("userFeedbackReceived", {
      description: "Emitted when a user provides feedback on the service, with a rating from 1 to 5.",
      data: feedback,
    });
}

const weatherAnswer = (question, mode) =>
  `Weather for "${question}": sunny, 21 °C, light wind (answered in ${mode} mode).`;

const SUMMARIES = ["sunny", "cloudy", "rain", "windy"];

/** Waits `ms`, or throws ActionCancelled as soon as `signal` is aborted. */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ActionCancelled("the forecast was cancelled"));
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ActionCancelled("the forecast was cancelled"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Registers the handlers of the WeatherAgent. */
function serve(exposed, stepMs) {
  exposed.setProperty("modelConfiguration", { modelName: "gpt-4o", temperature: 0.7, maxTokens: 1000 });

  exposed.onAction("getWeather", async ({ question, interactionMode }) =>
    weatherAnswer(question, interactionMode ?? "text"),
  );

  exposed.onAction("rate", async (input) => {
    exposed.emitEvent("userFeedbackReceived", input);
    return null;
  });

  exposed.onAction("forecast", async function* ({ city, days }, { signal }) {
    const entries = [];
    for (let day = 1; day <= days; day++) {
      await pause(stepMs, signal);
      entries.push({ day, city, summary: SUMMARIES[day % 4], temperatureC: 15 + day });
      yield { day, of: days };
    }
    return entries;
  });

  exposed.onAction("chat", async ({ messages }) => {
    const question = [...messages].reverse().find((m) => m.role === "user")?.content;
    if (typeof question !== "string") throw new InvalidInput("no user message");
    return {
      status: "success",
      messages: [{ role: "agent", content: weatherAnswer(question, "text"), format: "text" }],
    };
  });
}

const servient = new Servient({
  httpPort: Number(options["http-port"]),
  host: options.host,
  publicBaseUrl: options["public-base-url"],
  wsPort: options["ws-port"] === undefined ? undefined : Number(options["ws-port"]),
});
// Closing the servient lets the process exit by itself.
const stop = () => servient.close();
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
try {
  const description = weatherAgent().build();
  if (options.id !== undefined) description.id = options.id;
  const exposed = servient.expose(description);
  serve(exposed, Number(options["forecast-step-ms"]));
  await servient.start();
  console.log(exposed.tdUrl);
} catch (error) {
  console.error(`weather_agent: ${error.message}`);
  await servient.close();
  process.exit(1);
}
