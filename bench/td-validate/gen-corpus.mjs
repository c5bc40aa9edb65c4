// Generates a deterministic set of realistic LMOS agent/tool Thing Descriptions.
//
// Usage:
//   node gen-corpus.mjs --count 1000 --seed 1 --out ../corpus/tds.json    (one JSON array)
//   node gen-corpus.mjs --count 40 --seed 7 --split DIR                   (one file per TD)
//
// Every TD is meant to be valid: against the W3C TD 1.1 JSON Schema and against the extra rules
// lmos checks (security names defined, op values fitting the affordance kind, relative hrefs only
// with a base, LMOS namespace in @context when LMOS terms are used). The run script checks that
// both validators accept every TD before it reports a figure.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function parseArgs(argv) {
  const args = { count: 1000, seed: 1, out: null, split: null };
  for (let i = 0; i < argv.length; i += 1) {
    const key = argv[i];
    const value = argv[i + 1];
    if (key === "--count") args.count = Number.parseInt(value, 10);
    else if (key === "--seed") args.seed = Number.parseInt(value, 10);
    else if (key === "--out") args.out = value;
    else if (key === "--split") args.split = value;
    else throw new Error(`unknown argument ${key}`);
    i += 1;
  }
  if (!Number.isInteger(args.count) || args.count < 1) throw new Error("--count must be >= 1");
  if (!args.out && !args.split) throw new Error("give --out FILE or --split DIR");
  return args;
}

// mulberry32: small, fast, deterministic.
function rng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
    chance: (p) => next() < p,
  };
}

const VENDORS = [
  ["Deutsche Telekom AG", "https://telekom.de"],
  ["Acme Robotics", "https://acme.example.com"],
  ["Globex Analytics", "https://globex.example.org"],
  ["Initech Labs", "https://initech.example.net"],
  ["Umbrella Health", "https://umbrella.example.com"],
];
const DOMAINS = ["weather", "billing", "support", "travel", "calendar", "search", "inventory",
  "translation", "summarize", "routing", "contracts", "payments", "shipping", "hr", "crm"];
const VERBS = ["get", "list", "create", "update", "cancel", "search", "summarize", "translate",
  "classify", "route", "book", "check", "estimate", "explain", "escalate"];
const NOUNS = ["Forecast", "Invoice", "Ticket", "Booking", "Event", "Document", "Order", "Customer",
  "Contract", "Payment", "Shipment", "Employee", "Report", "Answer", "Intent"];
const WORDS = ["the", "current", "customer", "request", "answer", "using", "latest", "model",
  "context", "with", "for", "a", "of", "status", "given", "returns", "structured", "data",
  "conversation", "tool", "agent", "when", "available", "otherwise", "fallback"];
const LANGS = ["en", "de", "fr", "es", "it", "nl", "pt-BR", "en-GB"];

function sentence(r, min, max) {
  const n = r.int(min, max);
  const words = [];
  for (let i = 0; i < n; i += 1) words.push(r.pick(WORDS));
  const text = words.join(" ");
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function uuid(r) {
  const hex = () => r.int(0, 15).toString(16);
  const part = (n) => Array.from({ length: n }, hex).join("");
  return `${part(8)}-${part(4)}-4${part(3)}-${r.pick(["8", "9", "a", "b"])}${part(3)}-${part(12)}`;
}

function timestamp(r) {
  const pad = (n) => String(n).padStart(2, "0");
  return `20${r.int(23, 26)}-${pad(r.int(1, 12))}-${pad(r.int(1, 28))}T${pad(r.int(0, 23))}:` +
    `${pad(r.int(0, 59))}:${pad(r.int(0, 59))}Z`;
}

// A data schema of at most `depth` nested levels.
function dataSchema(r, depth) {
  const kind = depth > 0 ? r.pick(["object", "object", "array", "string", "number", "integer",
    "boolean"]) : r.pick(["string", "string", "number", "integer", "boolean"]);
  const schema = { type: kind };
  if (r.chance(0.5)) schema.description = sentence(r, 3, 10);
  switch (kind) {
    case "object": {
      const properties = {};
      const names = [];
      const n = r.int(1, 6);
      for (let i = 0; i < n; i += 1) {
        const name = `${r.pick(WORDS)}${r.pick(NOUNS)}${i}`;
        properties[name] = dataSchema(r, depth - 1);
        names.push(name);
      }
      schema.properties = properties;
      if (r.chance(0.7)) schema.required = names.slice(0, r.int(1, names.length));
      break;
    }
    case "array":
      schema.items = dataSchema(r, depth - 1);
      if (r.chance(0.5)) schema.minItems = r.int(0, 2);
      if (r.chance(0.5)) schema.maxItems = r.int(3, 100);
      break;
    case "string":
      if (r.chance(0.3)) schema.enum = Array.from({ length: r.int(2, 5) }, (_, i) => `${r.pick(WORDS)}-${i}`);
      else if (r.chance(0.3)) schema.format = r.pick(["date-time", "uri", "email", "uuid"]);
      else if (r.chance(0.2)) schema.pattern = "^[A-Z]{2}[0-9]{4,8}$";
      if (r.chance(0.3)) schema.maxLength = r.int(16, 4096);
      break;
    case "number":
      schema.minimum = 0;
      schema.maximum = r.pick([1, 100, 1000.5]);
      if (r.chance(0.3)) schema.unit = r.pick(["celsius", "percent", "EUR", "seconds"]);
      break;
    case "integer":
      if (r.chance(0.6)) schema.minimum = r.int(0, 10);
      if (r.chance(0.6)) schema.maximum = r.int(100, 10000);
      break;
    default:
      if (r.chance(0.3)) schema.default = r.chance(0.5);
  }
  return schema;
}

function securityDefinitions(r, host) {
  const defs = {};
  const all = [
    ["nosec_sc", { scheme: "nosec" }],
    ["basic_sc", { scheme: "basic", in: "header" }],
    ["bearer_sc", {
      scheme: "bearer", in: "header", format: "jwt", alg: r.pick(["ES256", "RS256"]),
      authorization: `https://auth.${host}/token`,
    }],
    ["apikey_sc", { scheme: "apikey", in: r.pick(["header", "query"]), name: "X-API-Key" }],
    ["oauth2_sc", {
      scheme: "oauth2", flow: r.pick(["client", "code"]),
      authorization: `https://auth.${host}/authorize`, token: `https://auth.${host}/token`,
      scopes: ["agents.read", "agents.invoke"],
    }],
    ["digest_sc", { scheme: "digest", in: "header", qop: "auth" }],
    ["psk_sc", { scheme: "psk", identity: "lmos-client" }],
  ];
  const n = r.int(2, 5);
  const start = r.int(0, all.length - 1);
  for (let i = 0; i < n; i += 1) {
    const [name, scheme] = all[(start + i) % all.length];
    defs[name] = { ...scheme };
    if (r.chance(0.3)) defs[name].description = sentence(r, 3, 8);
  }
  const names = Object.keys(defs);
  if (names.length >= 2 && r.chance(0.4)) {
    defs.combo_sc = { scheme: "combo", oneOf: names.slice(0, 2) };
  }
  return defs;
}

function form(r, op, href, security) {
  const f = { href };
  if (op !== null) f.op = op;
  if (r.chance(0.7)) f.contentType = "application/json";
  if (security && r.chance(0.2)) f.security = security;
  return f;
}

function thing(r, index) {
  const isAgent = r.chance(0.5);
  const domain = r.pick(DOMAINS);
  const [vendorName, vendorUrl] = r.pick(VENDORS);
  const host = `${domain}${index}.example.com`;
  const id = `urn:uuid:${uuid(r)}`;
  const useBase = r.chance(0.7);
  const base = `https://${host}/things/${domain}/`;
  const href = (path) => (useBase ? path : `${base}${path}`);
  const context = ["https://www.w3.org/2022/wot/td/v1.1", { lmos: "https://eclipse.dev/lmos/protocol/v1" }];
  if (r.chance(0.5)) context[1].htv = "http://www.w3.org/2011/http#";
  const usesHtv = Object.hasOwn(context[1], "htv");

  const td = {
    "@context": context,
    "@type": isAgent ? "lmos:Agent" : "lmos:Tool",
    id,
    title: `${domain.charAt(0).toUpperCase()}${domain.slice(1)}${isAgent ? "Agent" : "Tool"}${index}`,
    description: sentence(r, 6, 20),
  };
  if (r.chance(0.3)) {
    td.titles = {};
    td.descriptions = {};
    for (const lang of [r.pick(LANGS), r.pick(LANGS)]) {
      td.titles[lang] = `${td.title} (${lang})`;
      td.descriptions[lang] = sentence(r, 4, 10);
    }
  }
  td.version = { instance: `${r.int(0, 3)}.${r.int(0, 20)}.${r.int(0, 9)}` };
  td.created = timestamp(r);
  if (r.chance(0.6)) td.modified = timestamp(r);
  if (r.chance(0.4)) td.support = `mailto:support@${host}`;
  if (useBase) td.base = base;
  td["lmos:metadata"] = {
    "lmos:vendor": { "lmos:name": vendorName, "lmos:url": vendorUrl },
  };
  if (r.chance(0.5)) td["lmos:metadata"]["lmos:capabilities"] = [r.pick(VERBS), r.pick(VERBS)];
  const nLinks = r.int(0, 3);
  if (nLinks > 0) {
    td.links = [];
    for (let i = 0; i < nLinks; i += 1) {
      const link = { href: `https://${host}/docs/${i}`, rel: r.pick(["service-doc", "alternate", "describedby"]) };
      if (r.chance(0.5)) link.type = r.pick(["application/pdf", "text/html"]);
      if (r.chance(0.5)) link.hreflang = r.pick(LANGS);
      td.links.push(link);
    }
  }
  const defs = securityDefinitions(r, host);
  td.securityDefinitions = defs;
  const names = Object.keys(defs);
  td.security = r.chance(0.5) ? r.pick(names) : [r.pick(names)];

  const affordances = r.int(2, 20);
  const methodFor = { readproperty: "GET", writeproperty: "PUT", invokeaction: "POST" };
  for (let i = 0; i < affordances; i += 1) {
    const kind = r.next();
    const name = `${r.pick(VERBS)}${r.pick(NOUNS)}${i}`;
    if (kind < 0.55) {
      td.actions ??= {};
      const action = { description: sentence(r, 4, 14) };
      if (r.chance(0.8)) action.input = dataSchema(r, r.int(1, 3));
      if (r.chance(0.7)) action.output = dataSchema(r, r.int(0, 3));
      if (r.chance(0.5)) action.safe = r.chance(0.5);
      if (r.chance(0.5)) action.idempotent = r.chance(0.5);
      if (r.chance(0.5)) action.synchronous = r.chance(0.7);
      const f = form(r, r.chance(0.6) ? "invokeaction" : null, href(`actions/${name}`), r.pick(names));
      if (usesHtv) f["htv:methodName"] = methodFor.invokeaction;
      action.forms = [f];
      if (r.chance(0.3)) action.forms.push(form(r, "queryaction", href(`actions/${name}/status`), null));
      td.actions[name] = action;
    } else if (kind < 0.85) {
      td.properties ??= {};
      const property = dataSchema(r, r.int(0, 2));
      const readOnly = r.chance(0.6);
      if (readOnly) property.readOnly = true;
      if (r.chance(0.3)) property.observable = true;
      const ops = readOnly ? ["readproperty"] : ["readproperty", "writeproperty"];
      if (property.observable) ops.push("observeproperty", "unobserveproperty");
      const f = form(r, ops.length === 1 && r.chance(0.5) ? "readproperty" : ops, href(`properties/${name}`), null);
      if (usesHtv && ops.length === 1) f["htv:methodName"] = methodFor.readproperty;
      property.forms = [f];
      td.properties[name] = property;
    } else {
      td.events ??= {};
      const event = { description: sentence(r, 4, 12), data: dataSchema(r, r.int(0, 2)) };
      const f = form(r, ["subscribeevent", "unsubscribeevent"], href(`events/${name}`), null);
      f.subprotocol = r.pick(["sse", "longpoll"]);
      event.forms = [f];
      td.events[name] = event;
    }
  }
  if (r.chance(0.3) && td.properties) {
    td.forms = [{ op: ["readallproperties", "readmultipleproperties"], href: href("properties") }];
  }
  return td;
}

const args = parseArgs(process.argv.slice(2));
const r = rng(args.seed);
const tds = Array.from({ length: args.count }, (_, i) => thing(r, i));
if (args.out) {
  writeFileSync(args.out, JSON.stringify(tds));
}
if (args.split) {
  mkdirSync(args.split, { recursive: true });
  tds.forEach((td, i) => {
    writeFileSync(join(args.split, `generated-${String(i).padStart(4, "0")}.json`), `${JSON.stringify(td, null, 2)}\n`);
  });
}
