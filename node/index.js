// lmos: publish, discover and call AI agents and tools through the LMOS Protocol, from Node.js.
//
// The protocol lives in the Rust core (loaded as the native addon lmos.node); this file only
// converts values (JSON text across the boundary), maps errors to Error subclasses with a
// `code`, and bridges async: handlers are async functions called from Rust, streams are async
// iterators pulled from Rust.
"use strict";

const path = require("node:path");
const { AsyncLocalStorage } = require("node:async_hooks");

function loadNative() {
  const file = path.join(__dirname, "lmos.node");
  try {
    return require(file);
  } catch (error) {
    const hint =
      error && error.code === "MODULE_NOT_FOUND"
        ? "the native addon was not built (did npm skip the install script? see `npm approve-scripts`); " +
          `build it with: node ${path.join(__dirname, "scripts", "build-native.js")}`
        : error.message;
    throw new Error(`lmos: cannot load the native addon ${file}: ${hint}`, { cause: error });
  }
}

const native = loadNative();

// ----- errors ------------------------------------------------------------------------------

/** Base class of every error lmos throws; `code` is a stable machine-readable code. */
class LmosError extends Error {
  constructor(message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? new.target.code;
  }
}
LmosError.code = "lmos_error";

function errorClass(name, code, parent = LmosError, fields = []) {
  const Class = {
    [name]: class extends parent {
      constructor(message, options = {}) {
        super(message, options);
        for (const field of fields) this[field] = options[field] ?? null;
      }
    },
  }[name];
  Class.code = code;
  return Class;
}

/** A Thing Description is not valid; `report` holds every problem. */
const InvalidThingDescription = errorClass("InvalidThingDescription", "invalid_td", LmosError, ["report"]);
/** A value does not match its data schema; `violations` lists every broken rule. */
const InvalidPayload = errorClass("InvalidPayload", "invalid_payload", LmosError, ["violations"]);
/**
 * An input (property value, action input) breaks its schema. Throw it from a handler to refuse
 * an input with a message the caller sees (HTTP 400).
 */
const InvalidInput = errorClass("InvalidInput", "invalid_input", InvalidPayload);
/** A value a thing returned breaks the schema its TD promises. */
const InvalidOutput = errorClass("InvalidOutput", "invalid_output", InvalidPayload);
/** Unusable configuration: a bad public base URL, a duplicate thing, an uncompilable schema. */
const ConfigurationError = errorClass("ConfigurationError", "invalid_config");
/** A server port could not be bound. */
const BindError = errorClass("BindError", "bind_failed", LmosError, ["address"]);
/** No thing, property, action, event or action instance with that name. */
const NotFound = errorClass("NotFound", "not_found", LmosError, ["kind", "target"]);
/** The affordance does not allow the operation (e.g. writing a read-only property). */
const NotAllowed = errorClass("NotAllowed", "not_allowed", LmosError, ["affordance", "operation"]);
/** A request that cannot be read, or an input a handler refused. */
const BadRequest = errorClass("BadRequest", "bad_request");
/** A handler failed. */
const HandlerFailed = errorClass("HandlerFailed", "handler_failed");
/** The TD has no form for the operation that the consume options allow. */
const NoForm = errorClass("NoForm", "no_form", LmosError, ["operation", "affordance"]);
/** The thing answered with an error status; `status`, `title`, `detail`, `problem` tell more. */
const RemoteError = errorClass("RemoteError", "remote_error", LmosError, ["status", "title", "detail", "problem"]);
/**
 * The thing refused the credentials (HTTP 401, or a refused WebSocket handshake): none were
 * sent, or they are wrong or expired. A RemoteError with `status` 401; the message never
 * contains the credential.
 */
const Unauthorized = errorClass("Unauthorized", "remote_error", RemoteError, ["status", "title", "detail", "problem"]);
/** The credentials were accepted but lack the scope the operation needs (HTTP 403). */
const Forbidden = errorClass("Forbidden", "remote_error", RemoteError, ["status", "title", "detail", "problem"]);
/** The thing could not be reached, the connection broke or the request timed out. */
const TransportError = errorClass("TransportError", "transport");
/** A payload could not be encoded or decoded. */
const CodecError = errorClass("CodecError", "codec");
/** An asynchronous action ended in failure; `problem` holds the problem document. */
const ActionFailed = errorClass("ActionFailed", "action_failed", LmosError, ["title", "problem"]);
/** The action was cancelled. Throw it from a handler that stops because of a cancellation. */
const ActionCancelled = errorClass("ActionCancelled", "action_cancelled");
/** The action had already finished when it was cancelled. */
const ActionFinished = errorClass("ActionFinished", "action_finished");
/** A W3C trace context could not be read or made. */
const TraceError = errorClass("TraceError", "trace");
/** The servient or the stream was shut down. */
const Closed = errorClass("Closed", "closed");
/**
 * A directory operation failed; `code` says how (`directory_invalid_td`, `directory_bad_request`,
 * `directory_store`, `directory_transport`, `directory_status` with `status` and `detail`,
 * `directory_config`).
 */
const DirectoryError = errorClass("DirectoryError", "directory_error", LmosError, ["status", "detail"]);
/** The directory has no (unexpired) TD with this `id`. */
const DirectoryNotFound = errorClass("DirectoryNotFound", "directory_not_found", DirectoryError, ["id"]);
/** An exposed thing cannot be registered (yet): `discovery_not_registrable`. */
const DiscoveryError = errorClass("DiscoveryError", "discovery_error");
/**
 * Keys, DIDs, proofs, tokens or credentials: `code` is one of the core's `identity_*` codes
 * (`identity_signature_invalid`, `identity_proof_missing`, `identity_token_replayed`, ...).
 * Messages never carry a private key, a token or a signature.
 */
const IdentityError = errorClass("IdentityError", "identity_error");

const ERROR_CLASSES = {
  invalid_td: InvalidThingDescription,
  invalid_payload: InvalidPayload,
  invalid_input: InvalidInput,
  invalid_output: InvalidOutput,
  invalid_config: ConfigurationError,
  duplicate_thing: ConfigurationError,
  invalid_schema: ConfigurationError,
  bind_failed: BindError,
  not_found: NotFound,
  not_allowed: NotAllowed,
  bad_request: BadRequest,
  handler_failed: HandlerFailed,
  no_form: NoForm,
  remote_error: RemoteError,
  // A 404 or 400 answer: still a RemoteError (with `status`); `code` tells them apart.
  remote_not_found: RemoteError,
  remote_bad_request: RemoteError,
  transport: TransportError,
  timeout: TransportError,
  codec: CodecError,
  action_failed: ActionFailed,
  action_cancelled: ActionCancelled,
  action_finished: ActionFinished,
  trace: TraceError,
  closed: Closed,
  directory_not_found: DirectoryNotFound,
};

// Whole families of codes share one class.
const ERROR_FAMILIES = [
  ["directory_", DirectoryError],
  ["discovery_", DiscoveryError],
  ["identity_", IdentityError],
  // Unusable security or TLS settings (`security_invalid_options`, `security_tls`, ...).
  ["security_", ConfigurationError],
];

// A refusal keeps its RemoteError code and gets the class its status names.
const REMOTE_STATUS_CLASSES = { 401: Unauthorized, 403: Forbidden };

function classFor(code) {
  if (ERROR_CLASSES[code]) return ERROR_CLASSES[code];
  for (const [prefix, Class] of ERROR_FAMILIES) if (typeof code === "string" && code.startsWith(prefix)) return Class;
  return LmosError;
}

// The native addon encodes its errors as {"lmos": code, "message", "details"} in the message.
function convertError(error) {
  if (!(error instanceof Error) || error instanceof LmosError) return error;
  const text = error.message;
  if (typeof text !== "string" || !text.startsWith('{"lmos":')) return error;
  let encoded;
  try {
    encoded = JSON.parse(text);
  } catch {
    return error;
  }
  const { lmos: code, message, details = {} } = encoded;
  if (code === "type_error") return new TypeError(message);
  let Class = classFor(code);
  if (Class === RemoteError && REMOTE_STATUS_CLASSES[details.status]) Class = REMOTE_STATUS_CLASSES[details.status];
  const converted = new Class(message, { ...details, code });
  for (const [key, value] of Object.entries(details)) {
    if (value !== undefined) converted[key] = value;
  }
  return converted;
}

function sync(f) {
  try {
    return f();
  } catch (error) {
    throw convertError(error);
  }
}

async function later(promise) {
  try {
    return await promise;
  } catch (error) {
    throw convertError(error);
  }
}

// JSON text for the native side; `undefined` travels as null.
function toJson(value, what) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (error) {
    throw new TypeError(`${what} cannot be sent as JSON: ${error.message}`);
  }
  if (text === undefined) throw new TypeError(`${what} cannot be sent as JSON`);
  return text;
}

const fromJson = (text) => (text == null ? text : JSON.parse(text));

function checkName(name, what) {
  if (typeof name !== "string") throw new TypeError(`${what} must be a string`);
  return name;
}

// ----- Thing Descriptions --------------------------------------------------------------------

/**
 * Validates a Thing Description (an object, or JSON text: problems then carry line and column).
 * Returns the report `{valid, kind, problems}`; never throws for an invalid document.
 */
function validate(td) {
  if (typeof td === "string") return JSON.parse(sync(() => native.validate(td, true)));
  if (Buffer.isBuffer(td) || td instanceof Uint8Array) {
    return JSON.parse(sync(() => native.validate(Buffer.from(td).toString("utf8"), true)));
  }
  return JSON.parse(sync(() => native.validate(toJson(td, "the document"), false)));
}

/** Parses and validates a TD; returns it as a plain object or throws InvalidThingDescription. */
function parseTd(td) {
  const text = typeof td === "string" ? td : toJson(td, "the document");
  return JSON.parse(sync(() => native.parseTd(text)));
}

/** Checks `value` against a data schema; throws InvalidPayload listing every violation. */
function checkPayload(schema, value) {
  sync(() => native.checkPayload(toJson(schema, "the schema"), toJson(value, "the value")));
}

const PROPERTY_FLAGS = { readOnly: "readOnly", writeOnly: "writeOnly" };

/** Builds an agent, tool or thing description step by step; `build()` gives the TD object. */
class ThingBuilder {
  constructor(kind, title) {
    checkName(title, "the title");
    this._native = sync(() => new native.NativeThingBuilder(kind, title));
  }

  static agent(title) {
    return new ThingBuilder("agent", title);
  }

  static tool(title) {
    return new ThingBuilder("tool", title);
  }

  static thing(title) {
    return new ThingBuilder("thing", title);
  }

  _do(f) {
    sync(() => f(this._native));
    return this;
  }

  id(id) {
    return this._do((b) => b.id(checkName(id, "the id")));
  }

  description(text) {
    return this._do((b) => b.description(checkName(text, "the description")));
  }

  base(url) {
    return this._do((b) => b.base(checkName(url, "the base")));
  }

  version(instance) {
    return this._do((b) => b.version(checkName(instance, "the version")));
  }

  vendor(name, url) {
    return this._do((b) => b.vendor(checkName(name, "the vendor name"), url ?? null));
  }

  type(semanticType) {
    return this._do((b) => b.addType(checkName(semanticType, "the type")));
  }

  member(name, value) {
    return this._do((b) => b.member(checkName(name, "the member name"), toJson(value, "the member")));
  }

  property(name, schema, options = {}) {
    const affordance = { ...schema };
    for (const [option, member] of Object.entries(PROPERTY_FLAGS)) {
      if (options[option] !== undefined) affordance[member] = options[option];
    }
    for (const member of ["observable", "title", "description"]) {
      if (options[member] !== undefined) affordance[member] = options[member];
    }
    return this._do((b) => b.property(checkName(name, "the property name"), toJson(affordance, "the property")));
  }

  action(name, affordance = {}) {
    return this._do((b) => b.action(checkName(name, "the action name"), toJson(affordance, "the action")));
  }

  event(name, affordance = {}) {
    return this._do((b) => b.event(checkName(name, "the event name"), toJson(affordance, "the event")));
  }

  form(form) {
    return this._do((b) => b.form(toJson(form, "the form")));
  }

  link(link) {
    return this._do((b) => b.link(toJson(link, "the link")));
  }

  security(name, scheme) {
    return this._do((b) => b.security(checkName(name, "the security name"), toJson(scheme, "the scheme")));
  }

  /**
   * Adds the conversational `chat` action of the LMOS Kotlin SDK: synchronous, an AgentRequest
   * in, an AgentResult out. `options.description` replaces the default description.
   */
  chatAction(options = {}) {
    const affordance = JSON.parse(native.chatAffordance());
    if (options.description !== undefined) affordance.description = checkName(options.description, "the description");
    return this.action(CHAT_ACTION, affordance);
  }

  build() {
    return JSON.parse(sync(() => this._native.build()));
  }
}

const agent = (title) => ThingBuilder.agent(title);
const tool = (title) => ThingBuilder.tool(title);
const thing = (title) => ThingBuilder.thing(title);

// ----- handlers ---------------------------------------------------------------------------------

// The context of the handler running now, so calls it makes continue its trace.
const handlerContext = new AsyncLocalStorage();

/** The InteractionContext of the handler this code runs in, if any. */
function currentContext() {
  return handlerContext.getStore() ?? null;
}

function traceArg() {
  const context = handlerContext.getStore();
  if (!context || !context.traceparent) return null;
  return JSON.stringify({ traceparent: context.traceparent, tracestate: context.tracestate ?? null });
}

/** The per-call options' `uriVariables` as JSON text for the native side (null: none). */
function uriVariablesArg(options) {
  if (options === undefined || options === null) return null;
  if (typeof options !== "object") throw new TypeError("interaction options must be an object");
  for (const key of Object.keys(options)) {
    if (key !== "uriVariables") throw new TypeError(`unknown interaction option ${key}`);
  }
  const variables = options.uriVariables;
  if (variables === undefined || variables === null) return null;
  if (typeof variables !== "object" || Array.isArray(variables)) {
    throw new TypeError("uriVariables must be an object");
  }
  return toJson(variables, "uriVariables");
}

// The cancellation state of one handler call. Its AbortController is made only when the handler
// reads `context.signal` (most never do): creating one per request is a measurable cost.
class CallState {
  constructor() {
    this.aborted = false;
    this.reason = undefined;
    this.controller = null;
  }

  get signal() {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason) {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    if (this.controller !== null) this.controller.abort(reason);
  }
}

const NO_URI_VARIABLES = Object.freeze({});
const NO_CONTEXT = Object.freeze({});

// What a handler learns about its call. Read-only without freezing each instance: the members
// are getters over the request the native side sent (freezing, or a literal with an accessor,
// per request was a measurable share of a call's cost).
class HandlerContext {
  #raw;
  #state;
  #uriVariables;

  // `raw`: the request's `context` (absent when every member is null or empty).
  constructor(raw = NO_CONTEXT, state) {
    this.#raw = raw;
    this.#state = state;
    this.#uriVariables = raw.uriVariables ? Object.freeze(raw.uriVariables) : NO_URI_VARIABLES;
    if (raw.principal) Object.freeze(raw.principal);
  }

  get traceparent() {
    return this.#raw.traceparent ?? null;
  }

  get tracestate() {
    return this.#raw.tracestate ?? null;
  }

  get actionId() {
    return this.#raw.actionId ?? null;
  }

  get principal() {
    return this.#raw.principal ?? null;
  }

  get uriVariables() {
    return this.#uriVariables;
  }

  get signal() {
    return this.#state.signal;
  }

  toJSON() {
    const { traceparent, tracestate, actionId, principal, uriVariables } = this;
    return { traceparent, tracestate, actionId, principal, uriVariables };
  }

  [Symbol.for("nodejs.util.inspect.custom")](depth, options, inspect) {
    return `InteractionContext ${inspect(this.toJSON(), options)}`;
  }
}

// A handler's throw, as the reply the native side turns into a HandlerError.
function failure(error, state) {
  if (error instanceof InvalidInput || error instanceof BadRequest) {
    return { kind: "invalid_input", message: String(error.message) };
  }
  if (error instanceof ActionCancelled || (state && state.aborted)) {
    return { kind: "cancelled", message: "cancelled" };
  }
  const message = error instanceof Error ? error.stack || error.message : String(error);
  return { kind: "failed", message };
}

// Replies to the native side are tagged JSON text: "v" + the value (a result, or one progress
// update of a stream), "d" + the output that ends a stream, "e" + {kind, message} for a failure.
function reply(failure) {
  return "e" + JSON.stringify(failure);
}

function valueReply(value, tag = "v") {
  try {
    const text = JSON.stringify(value);
    return tag + (text === undefined ? "null" : text);
  } catch (error) {
    return reply({ kind: "failed", message: `the handler's result is not JSON: ${error.message}` });
  }
}

const isThenable = (value) =>
  value !== null && (typeof value === "object" || typeof value === "function") && typeof value.then === "function";

// Replies to hand back to the native side, collected over one turn of the event loop and
// delivered in one call (one wake-up of the server's thread for all of them).
let settling = null;

function flushReplies() {
  const { ids, texts } = settling;
  settling = null;
  native.settleHandlerReplies(ids, texts);
}

// Answers the request whose reply id is `id` (the native side waits for it).
function settle(id, text) {
  if (settling === null) {
    settling = { ids: [], texts: [] };
    queueMicrotask(flushReplies);
  }
  settling.ids.push(id);
  settling.texts.push(text);
}

// One callback per registration: takes a batch of requests (JSON text of an array), runs each
// `invoke`, aborts on `abort`. Each reply goes back through `settle`, as soon as it is known.
// Answers a request whose `op` this version does not know (when it expects an answer).
function refuseUnknown(request) {
  if (request.reply !== undefined) {
    settle(request.reply, reply({ kind: "failed", message: `unknown request ${request.op}` }));
  }
}

function singleBridge(run) {
  const running = new Map();
  const invoke = (request) => {
    const state = new CallState();
    const context = new HandlerContext(request.context, state);
    const done = (text) => {
      running.delete(request.id);
      settle(request.reply, text);
    };
    const failed = (error) => done(reply(failure(error, state)));
    running.set(request.id, state);
    let result;
    try {
      result = handlerContext.run(context, run, request, context);
    } catch (error) {
      failed(error);
      return;
    }
    if (isThenable(result)) {
      Promise.resolve(result).then((value) => done(valueReply(value)), failed);
    } else {
      done(valueReply(result));
    }
  };
  return (batch) => {
    for (const request of JSON.parse(batch)) {
      if (request.op === "abort") {
        running.get(request.id)?.abort(new ActionCancelled("the action was cancelled"));
      } else if (request.op === "invoke") {
        invoke(request);
      } else {
        refuseUnknown(request);
      }
    }
  };
}

function isAsyncIterator(value) {
  return value != null && typeof value.next === "function" && typeof value[Symbol.asyncIterator] === "function";
}

// One callback per registration of a progress-reporting action: `start` calls the async
// generator function, `next` pulls one update, `abort` signals cancellation, `return` stops it.
function streamBridge(handler) {
  const running = new Map();
  const start = (request) => {
    const state = new CallState();
    const context = new HandlerContext(request.context, state);
    try {
      let iterator = handlerContext.run(context, () => handler(request.input, context));
      if (!isAsyncIterator(iterator) && iterator != null && typeof iterator[Symbol.asyncIterator] === "function") {
        iterator = iterator[Symbol.asyncIterator]();
      }
      if (iterator == null || typeof iterator.next !== "function") {
        throw new TypeError("a streaming action handler must return an async iterator (use an async generator function)");
      }
      running.set(request.id, { iterator, state, context });
      return "vnull";
    } catch (error) {
      return reply(failure(error, state));
    }
  };
  const next = async (request) => {
    const entry = running.get(request.id);
    if (!entry) return reply({ kind: "failed", message: "no such running action" });
    try {
      const step = await handlerContext.run(entry.context, () => entry.iterator.next());
      if (step.done) running.delete(request.id);
      return valueReply(step.value, step.done ? "d" : "v");
    } catch (error) {
      running.delete(request.id);
      return reply(failure(error, entry.state));
    }
  };
  const stop = async (request) => {
    const entry = running.get(request.id);
    if (!entry) return;
    running.delete(request.id);
    entry.state.abort(new ActionCancelled("the caller went away"));
    try {
      if (typeof entry.iterator.return === "function") await entry.iterator.return(undefined);
    } catch {
      // The generator's own clean-up failed; nobody is waiting for its result any more.
    }
  };
  return (batch) => {
    for (const request of JSON.parse(batch)) {
      switch (request.op) {
        case "start":
          settle(request.reply, start(request));
          break;
        case "next":
          next(request).then((text) => settle(request.reply, text));
          break;
        case "abort":
          running.get(request.id)?.state.abort(new ActionCancelled("the action was cancelled"));
          break;
        case "return":
          stop(request);
          break;
        default:
          refuseUnknown(request);
      }
    }
  };
}

function checkHandler(handler) {
  if (typeof handler !== "function") throw new TypeError("a handler must be a function");
  return handler;
}

const isAsyncGeneratorFunction = (f) =>
  typeof f === "function" && Object.prototype.toString.call(f) === "[object AsyncGeneratorFunction]";

// ----- serving --------------------------------------------------------------------------------

/** A thing this process serves: handlers, stored property values, events. */
class ExposedThing {
  constructor(nativeThing) {
    this._native = nativeThing;
  }

  /** The URL path segment of the thing (its TD is served at `/{slug}`). */
  get slug() {
    return this._native.slug;
  }

  get title() {
    return this._native.title;
  }

  /** The TD as served (absolute hrefs once the servient has started). */
  get td() {
    return JSON.parse(this._native.td());
  }

  /** The URL of the TD, once the servient has started (or has a public base URL). */
  get tdUrl() {
    return this._native.tdUrl();
  }

  get propertyNames() {
    return this._native.propertyNames();
  }

  /** Stores a property value (checked against its schema) and notifies observers. */
  setProperty(name, value) {
    sync(() => this._native.setProperty(checkName(name, "the property name"), toJson(value, "the value")));
    return this;
  }

  /** The stored value of a property (no read handler is called). */
  propertyValue(name) {
    return JSON.parse(sync(() => this._native.propertyValue(checkName(name, "the property name"))));
  }

  /** Emits an event (data checked against its schema) to every subscriber. */
  emitEvent(name, data) {
    sync(() => this._native.emitEvent(checkName(name, "the event name"), toJson(data, "the event data")));
    return this;
  }

  /** `handler(context)` produces the property's value when it is read. */
  onPropertyRead(name, handler) {
    checkHandler(handler);
    const bridge = singleBridge((_request, context) => handler(context));
    sync(() => this._native.onPropertyRead(checkName(name, "the property name"), bridge));
    return this;
  }

  /** `handler(value, context)` accepts a written value (already checked against the schema). */
  onPropertyWrite(name, handler) {
    checkHandler(handler);
    const bridge = singleBridge((request, context) => handler(request.value, context));
    sync(() => this._native.onPropertyWrite(checkName(name, "the property name"), bridge));
    return this;
  }

  /**
   * `handler(input, context)` runs the action. An async function returns the output; an async
   * generator function yields progress values and returns the output.
   */
  onAction(name, handler) {
    checkHandler(handler);
    if (isAsyncGeneratorFunction(handler)) return this.onActionStream(name, handler);
    const bridge = singleBridge((request, context) => handler(request.input, context));
    sync(() => this._native.onAction(checkName(name, "the action name"), bridge));
    return this;
  }

  /**
   * `handler(request, context)` answers the conversational `chat` action (see
   * `ThingBuilder.chatAction()`): it gets the AgentRequest as sent and returns an AgentResult or a
   * string (the text of a successful result).
   */
  onChat(handler) {
    checkHandler(handler);
    const bridge = singleBridge((request, context) => handler(request.input, context));
    sync(() => this._native.onChat(bridge));
    return this;
  }

  /** `handler(input, context)` returns an async iterator: progress values, then the output. */
  onActionStream(name, handler) {
    checkHandler(handler);
    sync(() => this._native.onActionStream(checkName(name, "the action name"), streamBridge(handler)));
    return this;
  }

  /**
   * Registers this thing's TD (as served) in `directory` (a DirectoryClient, a DirectoryServer or
   * its URL) with a time-to-live of `ttl` seconds (default 60), refreshes it before it expires,
   * registers it again if the directory lost it, and deletes it when the servient closes. The
   * servient must have started.
   */
  async register(directory, ttl = 60) {
    if (typeof ttl !== "number") throw new TypeError("the time-to-live must be a number of seconds");
    return new DirectoryRegistration(await later(this._native.register(directoryUrl(directory), ttl)));
  }
}

const SERVIENT_OPTIONS = [
  "httpPort",
  "host",
  "publicBaseUrl",
  "maxBodyBytes",
  "longPollTimeoutMs",
  "actionRetentionMs",
  "cancelGraceMs",
  "wsPort",
  "websocket",
  "wsMaxMessageBytes",
  "wsQueueCapacity",
  "wsMaxInFlight",
  "wsPingIntervalMs",
  "wsPingTimeoutMs",
  "security",
  "tls",
];

/** `{host, port}` from `host:port` (IPv6 hosts in brackets), or null. */
function hostPort(bound) {
  if (bound == null) return null;
  const colon = bound.lastIndexOf(":");
  const host = bound.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(bound.slice(colon + 1)) };
}

/** Hosts exposed things on one HTTP port (port 0 picks a free one), and WebSocket on it or on
 * `wsPort`. */
class Servient {
  constructor(options = {}) {
    const settings = {};
    for (const key of Object.keys(options)) {
      if (key === "onInternalError" || key === "signDescriptions") continue;
      if (!SERVIENT_OPTIONS.includes(key)) throw new TypeError(`unknown servient option ${key}`);
      if (options[key] !== undefined) settings[key] = options[key];
    }
    let hook = null;
    if (options.onInternalError !== undefined) {
      const report = checkHandler(options.onInternalError);
      hook = async (text) => {
        try {
          await report(JSON.parse(text));
        } catch {
          // A failing error hook must not take the server down.
        }
        return "null";
      };
    }
    this._native = sync(() => new native.NativeServient(JSON.stringify(settings), hook));
    this._keepAlive = null;
    if (options.signDescriptions !== undefined) this.setDescriptionSigner(options.signDescriptions);
  }

  /**
   * Signs every TD served from now on with `key` (an Ed25519KeyPair; its key id is the proof's
   * verification method), as served so the proof covers the hrefs; `null` stops signing. For a
   * `did:web` agent whose DID names its bound address, call this after start().
   */
  setDescriptionSigner(key) {
    if (key !== null && !(key instanceof Ed25519KeyPair)) {
      throw new TypeError("setDescriptionSigner() takes an Ed25519KeyPair or null");
    }
    this._native.setDescriptionSigner(key === null ? null : key._native);
    return this;
  }

  /** Serves a DID document at `/.well-known/did.json` (replacing an earlier one). */
  serveDidDocument(document) {
    sync(() => this._native.serveDidDocument(toJson(document, "the DID document")));
    return this;
  }

  /** Hosts a thing (a TD object or a ThingBuilder); returns its ExposedThing. */
  expose(td) {
    const description = td instanceof ThingBuilder ? td.build() : td;
    if (description === null || typeof description !== "object") {
      throw new TypeError("expose() takes a Thing Description object or a ThingBuilder");
    }
    return new ExposedThing(sync(() => this._native.expose(toJson(description, "the Thing Description"))));
  }

  /** Stops hosting the thing at `slug`; whether there was one. */
  destroy(slug) {
    return this._native.destroy(checkName(slug, "the slug"));
  }

  get things() {
    return this._native.things().map((t) => new ExposedThing(t));
  }

  /** Binds the HTTP port and serves; resolves to the bound addresses. */
  async start() {
    await later(this._native.start());
    // The Rust server does not hold the event loop; this timer keeps the process alive while
    // serving, and close() clears it so the process can exit.
    if (this._keepAlive === null) this._keepAlive = setInterval(() => {}, 1 << 30);
    return this.addresses;
  }

  /** `{http: {host, port}, ws: {host, port}}` once started; `null` for what is not bound. */
  get addresses() {
    return { http: hostPort(this._native.httpAddress()), ws: hostPort(this._native.wsAddress()) };
  }

  /** The base URL form hrefs are made from, once known. */
  get baseUrl() {
    return this._native.baseUrl();
  }

  /** Stops serving: no new connections, open streams are closed. */
  async close() {
    if (this._keepAlive !== null) {
      clearInterval(this._keepAlive);
      this._keepAlive = null;
    }
    await later(this._native.shutdown());
  }

  /** Same as close(). */
  shutdown() {
    return this.close();
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}

// ----- consuming ------------------------------------------------------------------------------

/** An async iterator over values from Rust; `return()` (or `close()`) cancels the stream. */
class Stream {
  constructor(nativeStream) {
    this._native = nativeStream;
    this._done = false;
  }

  async next() {
    if (this._done) return { done: true, value: undefined };
    let text;
    try {
      text = await this._native.next();
    } catch (error) {
      this._done = true;
      throw convertError(error);
    }
    if (text == null) {
      this._done = true;
      return { done: true, value: undefined };
    }
    return { done: false, value: JSON.parse(text) };
  }

  async return(value) {
    this._done = true;
    await later(this._native.close());
    return { done: true, value };
  }

  /** Cancels the stream (unobserve, unsubscribe, stop following the action). */
  async close() {
    await this.return(undefined);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}

/** The handle of an invoked action: its output, or the status resource of an asynchronous one. */
class ActionHandle {
  constructor(nativeHandle) {
    this._native = nativeHandle;
  }

  get action() {
    return this._native.action;
  }

  /** Whether the action runs asynchronously (the thing answered with a status resource). */
  get isAsync() {
    return this._native.isAsync;
  }

  get statusUrl() {
    return this._native.statusUrl;
  }

  /** `queryaction`: the current status `{status, progress?, output?, error?, ...}`. */
  async query() {
    return fromJson(await later(this._native.query(traceArg())));
  }

  /** `cancelaction`. */
  async cancel() {
    await later(this._native.cancel(traceArg()));
  }

  /** Waits for the output. */
  async output() {
    return fromJson(await later(this._native.output(traceArg())));
  }

  /** The updates from now on: `{type: "progress", value}` items, then `{type: "output", value}`. */
  updates() {
    return new Stream(sync(() => this._native.updates(traceArg())));
  }
}

const CONSUME_OPTIONS = [
  "protocols",
  "contentTypes",
  "subprotocols",
  "dialect",
  "validateOutputs",
  "validateInputs",
  "timeoutMs",
  "pollIntervalMs",
  "maxResponseBytes",
  "signaturePolicy",
  "didResolver",
  "onlyProtocols",
  "credentials",
  "extraCaPem",
];

function consumeOptions(options = {}) {
  const settings = {};
  for (const key of Object.keys(options)) {
    if (!CONSUME_OPTIONS.includes(key)) throw new TypeError(`unknown consume option ${key}`);
    if (options[key] !== undefined) settings[key] = options[key];
  }
  if (settings.didResolver !== undefined) settings.didResolver = resolverSettings(settings.didResolver);
  return JSON.stringify(settings);
}

/** A thing this process calls, following the forms of its TD. */
class ConsumedThing {
  constructor(nativeThing) {
    this._native = nativeThing;
  }

  /** Fetches the TD at `url` (validated) and consumes it. */
  static async fromUrl(url, options) {
    const settings = consumeOptions(options);
    return new ConsumedThing(await later(native.consumeUrl(checkName(url, "the URL"), settings, traceArg())));
  }

  /** Consumes a TD object (validated). */
  static fromTd(td, options) {
    const settings = consumeOptions(options);
    const text = typeof td === "string" ? td : toJson(td, "the Thing Description");
    return new ConsumedThing(sync(() => native.consumeTd(text, settings)));
  }

  /** The TD. */
  get td() {
    return JSON.parse(this._native.td());
  }

  /** The TD's proofs that verified: `[{verificationMethod, signer, purpose, created}]`. */
  get verifiedProofs() {
    return JSON.parse(this._native.verifiedProofs());
  }

  async readProperty(name, options) {
    const variables = uriVariablesArg(options);
    return fromJson(await later(this._native.readProperty(checkName(name, "the property name"), traceArg(), variables)));
  }

  async writeProperty(name, value, options) {
    const text = toJson(value, "the value");
    const variables = uriVariablesArg(options);
    await later(this._native.writeProperty(checkName(name, "the property name"), text, traceArg(), variables));
  }

  async readAllProperties() {
    return fromJson(await later(this._native.readAllProperties(traceArg())));
  }

  async writeMultipleProperties(values) {
    if (values === null || typeof values !== "object" || Array.isArray(values)) {
      throw new TypeError("writeMultipleProperties() takes an object of property values");
    }
    await later(this._native.writeMultipleProperties(toJson(values, "the values"), traceArg()));
  }

  /** Invokes an action and waits for its output (polling an asynchronous action's status). */
  async invokeAction(name, input, options) {
    const text = toJson(input, "the input");
    const variables = uriVariablesArg(options);
    return fromJson(await later(this._native.invokeAction(checkName(name, "the action name"), text, traceArg(), variables)));
  }

  /** Invokes an action; resolves to an async iterator of progress updates ending with the output. */
  async invokeActionStream(name, input, options) {
    const text = toJson(input, "the input");
    const variables = uriVariablesArg(options);
    return new Stream(await later(this._native.invokeActionStream(checkName(name, "the action name"), text, traceArg(), variables)));
  }

  /** Invokes an action and resolves to its handle (query, cancel, output, updates). */
  async startAction(name, input, options) {
    const text = toJson(input, "the input");
    const variables = uriVariablesArg(options);
    return new ActionHandle(await later(this._native.startAction(checkName(name, "the action name"), text, traceArg(), variables)));
  }

  /** Resolves once observing: an async iterator of the property's new values. */
  async observeProperty(name, options) {
    const variables = uriVariablesArg(options);
    return new Stream(await later(this._native.observeProperty(checkName(name, "the property name"), traceArg(), variables)));
  }

  /** Resolves once subscribed: an async iterator of the event's data. */
  async subscribeEvent(name, options) {
    const variables = uriVariablesArg(options);
    return new Stream(await later(this._native.subscribeEvent(checkName(name, "the event name"), traceArg(), variables)));
  }

  /**
   * Invokes the conversational `chat` action with an AgentRequest (a string is a question in a
   * new conversation); resolves to the AgentResult.
   */
  async chat(request) {
    const text = toJson(request, "the AgentRequest");
    return JSON.parse(await later(this._native.chat(text, traceArg())));
  }

  /** Asks a question in a new conversation; resolves to the text of the agent's first message. */
  async ask(question) {
    return later(this._native.ask(checkName(question, "the question"), traceArg()));
  }
}

/**
 * Consumes a thing from the URL of its TD, or from a TD object. The signature policy is applied
 * either way; a TD signed by a `did:web` DID is checked by resolving it over the network.
 */
async function consume(target, options) {
  if (typeof target === "string") return ConsumedThing.fromUrl(target, options);
  const settings = consumeOptions(options);
  return new ConsumedThing(await later(native.consumeTdVerified(toJson(target, "the Thing Description"), settings)));
}

// ----- conversational agents --------------------------------------------------------------------

const CHAT_ACTION = "chat";

/**
 * Consumes the agent whose TD is at `url`, asks `question` in a new conversation and resolves to
 * the text of the agent's first message (InvalidOutput when it wrote none).
 */
async function chat(url, question, options) {
  const settings = consumeOptions(options);
  return later(native.chat(checkName(url, "the URL"), checkName(question, "the question"), settings, traceArg()));
}

/** An AgentRequest that opens a new conversation (fresh conversationId) with one user message. */
function agentRequest(question) {
  return JSON.parse(native.agentRequest(checkName(question, "the question")));
}

/** An AgentResult with status "success" and one text message from the agent. */
function agentResult(answer) {
  return JSON.parse(native.agentResult(checkName(answer, "the answer")));
}

/** The text of the first message the agent wrote in an AgentResult (role not user/system), or null. */
function firstText(result) {
  return sync(() => native.firstText(toJson(result, "the AgentResult"))) ?? null;
}

// ----- tracing -------------------------------------------------------------------------------

/**
 * Exports the span of every interaction (both sides) to the OTLP/HTTP traces URL `url`, e.g.
 * `http://127.0.0.1:4318/v1/traces`, as `serviceName`. Without it, the OpenTelemetry variables
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`) are read on first use.
 */
function exportTraces(url, serviceName) {
  sync(() => native.exportTraces(checkName(url, "the URL"), checkName(serviceName, "the service name")));
}

/** Resolves to true once the spans that ended so far are exported (false after `timeoutMs`). */
async function flushTraces(timeoutMs = 5000) {
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new TypeError("timeoutMs must be a non-negative integer");
  return native.flushTraces(timeoutMs);
}

/** The JSON Schema of an AgentRequest (the input of a `chat` action). */
function agentRequestSchema() {
  return JSON.parse(native.agentRequestSchema());
}

/** The JSON Schema of an AgentResult (the output of a `chat` action). */
function agentResultSchema() {
  return JSON.parse(native.agentResultSchema());
}

// ----- discovery ------------------------------------------------------------------------------

function directoryUrl(directory) {
  if (typeof directory === "string") return directory;
  if (directory instanceof DirectoryClient || directory instanceof DirectoryServer) return directory.baseUrl;
  throw new TypeError("a directory is a DirectoryClient, a DirectoryServer or its URL");
}

const DIRECTORY_OPTIONS = ["db", "port", "host", "publicBaseUrl", "maxTtl", "defaultPage", "maxPage", "maxBodyBytes"];

/**
 * A Thing Description Directory (W3C WoT Discovery API) served from this process, over an SQLite
 * file (`db: "sqlite:PATH"` or a plain path) or PostgreSQL (`db: "postgres://..."`).
 */
class DirectoryServer {
  constructor(nativeServer) {
    this._native = nativeServer;
    // The Rust server does not hold the event loop; this timer keeps the process alive while
    // serving, and close() clears it so the process can exit.
    this._keepAlive = setInterval(() => {}, 1 << 30);
  }

  /** Opens the store and listens (`port` 0 or absent: a free port on 127.0.0.1). */
  static async start(options) {
    if (options === null || typeof options !== "object") throw new TypeError("DirectoryServer.start() takes options with a db");
    const settings = {};
    for (const key of Object.keys(options)) {
      if (!DIRECTORY_OPTIONS.includes(key)) throw new TypeError(`unknown directory option ${key}`);
      if (options[key] !== undefined) settings[key] = options[key];
    }
    if (typeof settings.db !== "string") throw new TypeError("the db option (sqlite:PATH or postgres://...) is required");
    return new DirectoryServer(await later(native.startDirectory(JSON.stringify(settings))));
  }

  /** `http://host:port/` (or the public base URL). */
  get baseUrl() {
    return this._native.baseUrl;
  }

  /** `{host, port}` it listens on. */
  get address() {
    return hostPort(this._native.address);
  }

  /** A client of this directory. */
  client() {
    return new DirectoryClient(this.baseUrl);
  }

  /** Stops listening and ends open event streams. */
  async close() {
    if (this._keepAlive !== null) {
      clearInterval(this._keepAlive);
      this._keepAlive = null;
    }
    await later(this._native.close());
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}

/** Starts a directory server (see DirectoryServer.start). */
function serveDirectory(options) {
  return DirectoryServer.start(options);
}

function checkTtl(ttl) {
  if (ttl === undefined || ttl === null) return null;
  if (typeof ttl !== "number") throw new TypeError("the time-to-live must be a number of seconds");
  return ttl;
}

function tdOf(td) {
  const description = td instanceof ThingBuilder ? td.build() : td;
  if (description === null || typeof description !== "object" || Array.isArray(description)) {
    throw new TypeError("a Thing Description is an object (or a ThingBuilder)");
  }
  return toJson(description, "the Thing Description");
}

/** A client of one Thing Description Directory. */
class DirectoryClient {
  constructor(baseUrl) {
    this._native = sync(() => new native.NativeDirectoryClient(checkName(baseUrl, "the directory URL")));
  }

  get baseUrl() {
    return this._native.baseUrl;
  }

  /** The directory's own Thing Description. */
  async describe() {
    return JSON.parse(await later(this._native.describe()));
  }

  /** Registers a TD (PUT under its `id`, else POST); `ttl` in seconds; resolves to the id. */
  async register(td, options = {}) {
    return later(this._native.register(tdOf(td), checkTtl(options.ttl)));
  }

  /** Replaces a registered TD (it must have an `id`). */
  async update(td, options = {}) {
    await later(this._native.update(tdOf(td), checkTtl(options.ttl)));
  }

  /** Applies a JSON merge patch to the TD `id`. */
  async patch(id, patch) {
    await later(this._native.patch(checkName(id, "the id"), toJson(patch, "the merge patch")));
  }

  /** Deletes the TD `id` (DirectoryNotFound when there is none). */
  async delete(id) {
    await later(this._native.delete(checkName(id, "the id")));
  }

  /** The TD `id` with its `registration` information (DirectoryNotFound when there is none). */
  async get(id) {
    return JSON.parse(await later(this._native.get(checkName(id, "the id"))));
  }

  /** Every registered TD (following the listing's pages). */
  async list() {
    return JSON.parse(await later(this._native.list()));
  }

  /**
   * TDs matching every given criterion: `type` (a string or a list; `agent`/`tool` name
   * `lmos:Agent`/`lmos:Tool`), `vendor`, `text` (ranked best first), `offset`, `limit`.
   */
  async search(query = {}) {
    if (query === null || typeof query !== "object") throw new TypeError("search() takes a query object");
    const settings = { ...query };
    if (typeof settings.type === "string") settings.type = [settings.type];
    return JSON.parse(await later(this._native.search(toJson(settings, "the query"))));
  }

  /** TDs with the `@type` `type`. */
  async findType(type) {
    return JSON.parse(await later(this._native.findType(checkName(type, "the type"))));
  }

  /** TDs of this vendor (case-insensitive). */
  async findVendor(vendor) {
    return JSON.parse(await later(this._native.findVendor(checkName(vendor, "the vendor"))));
  }

  /** TDs matching the words of `text`, best first ("an agent that can tell the weather"). */
  async findText(text) {
    return JSON.parse(await later(this._native.findText(checkName(text, "the text"))));
  }

  /** The values an RFC 9535 JSONPath expression selects from the array of all TDs. */
  async searchJsonPath(query) {
    return JSON.parse(await later(this._native.searchJsonpath(checkName(query, "the JSONPath query"))));
  }

  /**
   * The directory's change events as an async iterator of `{id, kind, thingId, data}` (`kind`:
   * created, updated, deleted). Options: `kind` (only that kind), `diff` (the TD / merge patch
   * in `data`), `lastEventId` (resume after it), `retryMs`, `maxRetries`. It reconnects after a
   * dropped connection without losing events; `close()` (or leaving `for await`) ends it.
   */
  watch(options = {}) {
    return new Stream(sync(() => this._native.watch(toJson(options, "the watch options"))));
  }
}

/** The directory entry an ExposedThing keeps alive (see ExposedThing.register). */
class DirectoryRegistration {
  constructor(nativeRegistration) {
    this._native = nativeRegistration;
  }

  /** The id the TD is registered under. */
  get id() {
    return this._native.id;
  }

  get directoryUrl() {
    return this._native.directoryUrl;
  }

  /** Whether the entry is still kept alive. */
  get active() {
    return this._native.active;
  }

  /** Stops refreshing and deletes the entry (an entry already gone is not an error). */
  async deregister() {
    await later(this._native.deregister());
  }
}

// ----- DID-based introduction and mDNS ----------------------------------------------------------

/**
 * Every thing `did` leads to: the TDs its `WotThing` services point at, then every thing the
 * directories of its `WotDirectory` services list (a TD whose `id` was already found is left
 * out); resolves to `[{td, url, service, directory}]`. `options` are resolver options
 * (`allowHttpLoopback`, `timeoutMs`, `maxDocumentBytes`, `pinned`). A DID that cannot be
 * resolved rejects with an IdentityError; no such service, a bad or unreachable endpoint, or an
 * endpoint that is not a directory with a DiscoveryError (`code` `discovery_did_*`, `service`).
 */
async function discoverDid(did, options) {
  return JSON.parse(await later(native.discoverDid(checkName(did, "the DID"), resolverJson(options))));
}

const SERVICE_KINDS = ["thing", "directory"];

function checkServiceKind(kind) {
  if (kind === undefined || kind === null) return null;
  if (!SERVICE_KINDS.includes(kind)) throw new TypeError(`the service kind is "thing" or "directory", not ${JSON.stringify(kind)}`);
  return kind;
}

function checkPort(port, what) {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`${what} must be an integer from 0 to 65535`);
  return port;
}

/**
 * DNS-SD over multicast DNS (WoT Discovery): advertises things as `_wot._tcp` services and
 * directories as `_directory._sub._wot._tcp` (TXT `td`, `type`, `scheme`) and browses for them,
 * fetching each TD. `port` is the UDP port (5353 is mDNS; another port makes a private group).
 * A service bound to 127.0.0.1 is only visible where the loopback interface does multicast: bind
 * to an interface address (or 0.0.0.0) to be found on the network.
 */
class Mdns {
  constructor(options = {}) {
    if (options === null || typeof options !== "object") throw new TypeError("Mdns options are an object");
    for (const key of Object.keys(options)) if (key !== "port") throw new TypeError(`unknown mDNS option ${key}`);
    const port = checkPort(options.port ?? 5353, "the mDNS port");
    this._native = sync(() => new native.NativeMdns(port));
  }

  /** Advertises `instance` (`kind` "thing" or "directory") at `host:port` with its TD at `tdPath`. */
  advertise(kind, instance, host, port, tdPath) {
    if (checkServiceKind(kind) === null) throw new TypeError('the service kind is "thing" or "directory"');
    sync(() =>
      this._native.advertise(kind, checkName(instance, "the instance name"), checkName(host, "the host"), checkPort(port, "the port"), checkName(tdPath, "the TD path")),
    );
  }

  /** Advertises every thing a started servient hosts (instance: its title; TD path `/{slug}`); returns how many. */
  advertiseServient(servient) {
    if (!(servient instanceof Servient)) throw new TypeError("advertiseServient() takes a Servient");
    return sync(() => this._native.advertiseServient(servient._native));
  }

  /** Advertises a running DirectoryServer (its TD is at `/`). */
  advertiseDirectory(instance, directory) {
    if (!(directory instanceof DirectoryServer)) throw new TypeError("advertiseDirectory() takes a DirectoryServer");
    const { host, port } = directory.address;
    this.advertise("directory", instance, host, port, "/");
  }

  /** What is found within `seconds`: `[{instance, kind, url, td, error}]` (`td` null with `error` when its fetch failed). */
  async browseFor(seconds, kind) {
    if (typeof seconds !== "number" || !(seconds >= 0)) throw new TypeError("the browse time is a non-negative number of seconds");
    return JSON.parse(await later(this._native.browseFor(seconds, checkServiceKind(kind))));
  }

  /** The services as they are found: an async iterator that does not end by itself (`return()`/`close()` it). */
  browse(kind) {
    const checked = checkServiceKind(kind);
    return new Stream(sync(() => this._native.browse(checked)));
  }

  /** Withdraws every advertisement (goodbye packets) and stops the daemon. */
  async shutdown() {
    await later(this._native.shutdown());
  }

  async [Symbol.asyncDispose]() {
    await this.shutdown();
  }
}

// ----- identity -------------------------------------------------------------------------------

const inspectSymbol = Symbol.for("nodejs.util.inspect.custom");

/**
 * An Ed25519 key pair. The private key stays in Rust: util.inspect, JSON.stringify and
 * toString show only the public side; toPrivateJwk(), toSecretMultibase() and save() export it.
 */
class Ed25519KeyPair {
  constructor(nativeKey) {
    if (nativeKey === undefined || nativeKey === null || typeof nativeKey.keyId !== "string") {
      throw new TypeError("use Ed25519KeyPair.generate(), .fromJwk(), .fromMultibase() or .load()");
    }
    Object.defineProperty(this, "_native", { value: nativeKey, enumerable: false });
  }

  /** A fresh key from the OS random source. */
  static generate() {
    return new Ed25519KeyPair(sync(() => native.NativeKeyPair.generate()));
  }

  /** A key from a private JWK (an object or JSON text). */
  static fromJwk(jwk) {
    const text = typeof jwk === "string" ? jwk : toJson(jwk, "the JWK");
    if (!text.trim().startsWith("{")) throw new TypeError("a JWK is a JSON object");
    return new Ed25519KeyPair(sync(() => native.NativeKeyPair.fromText(text)));
  }

  /** A key from a multibase private key (`z3u2…`). */
  static fromMultibase(text) {
    return new Ed25519KeyPair(sync(() => native.NativeKeyPair.fromText(checkName(text, "the multibase key").trim())));
  }

  /** Reads a key file (a private JWK or a multibase private key). */
  static load(path) {
    return new Ed25519KeyPair(sync(() => native.NativeKeyPair.load(checkName(path, "the path"))));
  }

  /** Writes the key as a private JWK (file mode 0600). */
  save(path) {
    sync(() => this._native.save(checkName(path, "the path")));
  }

  /** The same key, signing as the verification method `keyId` (e.g. `did:web:...#key-1`). */
  withKeyId(keyId) {
    return new Ed25519KeyPair(this._native.withKeyId(checkName(keyId, "the key id")));
  }

  /** The verification method the key signs as (the did:key method by default). */
  get keyId() {
    return this._native.keyId;
  }

  /** The DID of the key id (`did:key:z6Mk…` by default). */
  get did() {
    return this._native.did;
  }

  /** The public key, multibase (`z6Mk…`). */
  get publicKeyMultibase() {
    return this._native.publicKeyMultibase;
  }

  /** The public key as a JWK. */
  get publicJwk() {
    return JSON.parse(this._native.publicJwk());
  }

  /** The private key as a JWK (with `d`). Secret: keep it out of logs. */
  toPrivateJwk() {
    return JSON.parse(this._native.toPrivateJwk());
  }

  /** The private key, multibase (`z3u2…`). Secret: keep it out of logs. */
  toSecretMultibase() {
    return this._native.toSecretMultibase();
  }

  /** The 64-byte Ed25519 signature of `message` (a string is signed as UTF-8). */
  sign(message) {
    return this._native.sign(bytesOf(message));
  }

  toJSON() {
    return { type: "Ed25519KeyPair", keyId: this.keyId, publicKeyMultibase: this.publicKeyMultibase };
  }

  toString() {
    return `Ed25519KeyPair(${this.keyId})`;
  }

  [inspectSymbol]() {
    return `Ed25519KeyPair { keyId: '${this.keyId}', publicKeyMultibase: '${this.publicKeyMultibase}', privateKey: <redacted> }`;
  }
}

function bytesOf(value) {
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError("bytes are a string, a Buffer or a Uint8Array");
}

function checkKey(key) {
  if (!(key instanceof Ed25519KeyPair)) throw new TypeError("the key must be an Ed25519KeyPair");
  return key._native;
}

function publicKeyText(key) {
  if (key instanceof Ed25519KeyPair) return key.publicKeyMultibase;
  if (typeof key === "string") return key;
  if (key !== null && typeof key === "object") return toJson(key, "the public JWK");
  throw new TypeError("a public key is a multibase string, a did:key, a JWK object or an Ed25519KeyPair");
}

/** Checks an Ed25519 signature; throws IdentityError (`identity_signature_invalid`) if it fails. */
function verifySignature(publicKey, message, signature) {
  sync(() => native.verifySignature(publicKeyText(publicKey), bytesOf(message), bytesOf(signature)));
}

const RESOLVER_OPTIONS = ["allowHttpLoopback", "timeoutMs", "maxDocumentBytes", "pinned"];

function resolverSettings(options = {}) {
  if (options === null || typeof options !== "object") throw new TypeError("resolver options are an object");
  const settings = {};
  for (const key of Object.keys(options)) {
    if (!RESOLVER_OPTIONS.includes(key)) throw new TypeError(`unknown resolver option ${key}`);
    if (options[key] !== undefined) settings[key] = options[key];
  }
  return settings;
}

const resolverJson = (options) => JSON.stringify(resolverSettings(options ?? {}));

/**
 * Resolves a DID to its DID document: `did:key` offline, `did:web` over HTTPS (plain http for
 * loopback hosts only with `allowHttpLoopback: true`), or a document in `pinned`.
 */
async function resolveDid(did, options) {
  return JSON.parse(await later(native.resolveDid(checkName(did, "the DID"), resolverJson(options))));
}

/** The DID document of a `did:key` (no network). */
function didKeyDocument(did) {
  return JSON.parse(sync(() => native.resolveDidKey(checkName(did, "the DID"))));
}

/** The `did:web` DID of a URL (`http://127.0.0.1:8080/` → `did:web:127.0.0.1%3A8080`). */
function didWebForUrl(url) {
  return sync(() => native.didWebForUrl(checkName(url, "the URL")));
}

/** The URL a `did:web` DID's document is fetched from. */
function didWebDocumentUrl(did, options = {}) {
  return sync(() => native.didWebDocumentUrl(checkName(did, "the DID"), options.allowHttpLoopback === true));
}

/**
 * An agent's DID document: `publicKey` (an Ed25519KeyPair, multibase, did:key or JWK) as
 * `{did}#key-1` in every relationship and, with `tdUrl`, a `WotThing` service `{did}#td`.
 */
function didDocumentForAgent(did, publicKey, tdUrl) {
  const url = tdUrl === undefined || tdUrl === null ? null : checkName(tdUrl, "the TD URL");
  return JSON.parse(sync(() => native.didDocumentForAgent(checkName(did, "the DID"), publicKeyText(publicKey), url)));
}

/** Reads a DID document (IdentityError when malformed) and returns its normal form. */
function parseDidDocument(document) {
  const text = typeof document === "string" ? document : toJson(document, "the DID document");
  return JSON.parse(sync(() => native.parseDidDocument(text)));
}

const PROOF_OPTIONS = ["verificationMethod", "proofPurpose", "created", "expires", "id", "domain", "challenge"];

function documentText(document, what) {
  if (typeof document === "string") return document;
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new TypeError(`${what} is a JSON object`);
  }
  return toJson(document, what);
}

/**
 * Signs a JSON object (a TD, a credential, any document) with an `eddsa-jcs-2022` Data Integrity
 * proof by `key`; returns the signed copy (a second signature makes `proof` a proof set).
 */
function signDocument(document, key, options = {}) {
  const settings = {};
  for (const name of Object.keys(options)) {
    if (!PROOF_OPTIONS.includes(name)) throw new TypeError(`unknown proof option ${name}`);
    if (options[name] !== undefined) settings[name] = options[name];
  }
  const text = documentText(document instanceof ThingBuilder ? document.build() : document, "the document");
  return JSON.parse(sync(() => native.signDocument(text, checkKey(key), JSON.stringify(settings))));
}

/**
 * Verifies every proof on a document (there must be at least one); resolves to the proofs
 * `[{verificationMethod, signer, purpose, created}]`, or rejects with IdentityError
 * (`identity_proof_missing`, `identity_signature_invalid`, ...).
 */
async function verifyDocument(document, options) {
  return JSON.parse(await later(native.verifySignedDocument(documentText(document, "the document"), resolverJson(options))));
}

/**
 * Issues a verifiable credential (VC 2.0) signed by `issuer`: `{type, subject, claims,
 * validFrom, validUntil, id, contexts}` (`subject` is a DID).
 */
function issueCredential(issuer, options) {
  if (options === null || typeof options !== "object") throw new TypeError("issueCredential() takes options with a subject");
  const settings = { ...options };
  if (typeof settings.type === "string") settings.type = [settings.type];
  return JSON.parse(sync(() => native.issueVerifiableCredential(checkKey(issuer), toJson(settings, "the credential options"))));
}

/**
 * Verifies a credential: shape, proofs by the issuer, validity period at `options.now` (a Date or
 * Unix seconds; default now). Resolves to `{id, types, issuer, subjects, validFrom, validUntil,
 * credential}`.
 */
async function verifyCredential(credential, options = {}) {
  const { now, ...resolver } = options;
  let seconds = null;
  if (now instanceof Date) seconds = Math.floor(now.getTime() / 1000);
  else if (typeof now === "number") seconds = Math.floor(now);
  else if (now !== undefined) throw new TypeError("now is a Date or Unix seconds");
  return JSON.parse(
    await later(native.verifyVerifiableCredential(documentText(credential, "the credential"), resolverJson(resolver), seconds)),
  );
}

/**
 * Throws IdentityError `identity_credential_required` unless `holder` (a DID) has, among
 * `credentials` (results of verifyCredential, or a verified caller's), one meeting each
 * requirement `{type, issuer}`.
 */
function checkCredentials(requirements, holder, credentials) {
  const list = Array.isArray(requirements) ? requirements : [requirements];
  sync(() =>
    native.checkCredentialRequirements(toJson(list, "the requirements"), checkName(holder, "the holder"), toJson(credentials ?? [], "the credentials")),
  );
}

/** The requirements a TD or an affordance declares in `lmos:requiredCredentials`. */
function requiredCredentials(members) {
  return JSON.parse(sync(() => native.declaredCredentialRequirements(toJson(members, "the members"))));
}

/**
 * Mints a DID-auth token (a JWT signed by `key`) for `audience`: `lifetimeSeconds` (default
 * 120, capped at 600) and `credentials` (verifiable credentials about the caller) in options.
 */
function mintDidAuth(key, audience, options = {}) {
  const lifetime = options.lifetimeSeconds ?? null;
  if (lifetime !== null && typeof lifetime !== "number") throw new TypeError("lifetimeSeconds is a number");
  return sync(() =>
    native.mintDidAuthToken(checkKey(key), checkName(audience, "the audience"), lifetime, toJson(options.credentials ?? [], "the credentials")),
  );
}

/** The TD security scheme that marks a bearer scheme as DID-auth. */
function didAuthSecurityScheme() {
  return JSON.parse(native.didAuthSecurityScheme());
}

/** The audience of a DID-auth token for a thing: its `id`, else the TD URL. */
function didAuthAudience(td, tdUrl) {
  return sync(() => native.didAuthAudience(tdOf(td), tdUrl ?? null)) ?? null;
}

const VERIFIER_OPTIONS = ["resolver", "maxLifetimeSeconds", "leewaySeconds", "replayCapacity"];

/** Verifies DID-auth tokens; remembers their ids, so a token is accepted once. */
class DidAuthVerifier {
  constructor(options = {}) {
    const settings = {};
    for (const key of Object.keys(options)) {
      if (!VERIFIER_OPTIONS.includes(key)) throw new TypeError(`unknown verifier option ${key}`);
      if (options[key] !== undefined) settings[key] = options[key];
    }
    if (settings.resolver !== undefined) settings.resolver = resolverSettings(settings.resolver);
    this._native = sync(() => new native.NativeDidAuthVerifier(JSON.stringify(settings)));
  }

  /**
   * Verifies `token` (a `Bearer ` prefix is dropped) for `audience`; resolves to the caller
   * `{did, keyId, jti, expiresAt, credentials}` or rejects with IdentityError.
   */
  async verify(token, audience) {
    return JSON.parse(await later(this._native.verify(checkName(token, "the token"), checkName(audience, "the audience"))));
  }
}

module.exports = {
  exportTraces,
  flushTraces,
  version: native.version(),
  // TD
  validate,
  parseTd,
  checkPayload,
  ThingBuilder,
  agent,
  tool,
  thing,
  // serving
  Servient,
  ExposedThing,
  currentContext,
  // consuming
  consume,
  ConsumedThing,
  ActionHandle,
  Stream,
  // conversational agents
  chat,
  agentRequest,
  agentResult,
  firstText,
  agentRequestSchema,
  agentResultSchema,
  // discovery
  DirectoryServer,
  serveDirectory,
  DirectoryClient,
  DirectoryRegistration,
  discoverDid,
  Mdns,
  // identity
  Ed25519KeyPair,
  verifySignature,
  resolveDid,
  didKeyDocument,
  didWebForUrl,
  didWebDocumentUrl,
  didDocumentForAgent,
  parseDidDocument,
  signDocument,
  verifyDocument,
  issueCredential,
  verifyCredential,
  checkCredentials,
  requiredCredentials,
  mintDidAuth,
  didAuthSecurityScheme,
  didAuthAudience,
  DidAuthVerifier,
  // errors
  LmosError,
  InvalidThingDescription,
  InvalidPayload,
  InvalidInput,
  InvalidOutput,
  ConfigurationError,
  BindError,
  NotFound,
  NotAllowed,
  BadRequest,
  HandlerFailed,
  NoForm,
  RemoteError,
  Unauthorized,
  Forbidden,
  TransportError,
  CodecError,
  ActionFailed,
  ActionCancelled,
  ActionFinished,
  TraceError,
  Closed,
  DirectoryError,
  DirectoryNotFound,
  DiscoveryError,
  IdentityError,
};

// `import lmos from "lmos"` and `require("lmos").default` give the same object.
module.exports.default = module.exports;
