// Type declarations of the `lmos` package (CommonJS `require` and ES `import` alike).

/** Any value JSON can carry: payloads and Thing Descriptions are plain objects. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** A JSON-Schema data schema as used in Thing Descriptions (`type`, `properties`, ...). */
export interface DataSchema {
  type?: "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";
  title?: string;
  description?: string;
  properties?: { [name: string]: DataSchema };
  required?: string[];
  items?: DataSchema | DataSchema[];
  enum?: JsonValue[];
  const?: JsonValue;
  default?: JsonValue;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  oneOf?: DataSchema[];
  readOnly?: boolean;
  writeOnly?: boolean;
  unit?: string;
  [member: string]: unknown;
}

/** A Thing Description (W3C WoT TD 1.1) as a plain object. */
export interface ThingDescription {
  "@context": JsonValue;
  "@type"?: string | string[];
  id?: string;
  title: string;
  description?: string;
  base?: string;
  properties?: { [name: string]: JsonObject };
  actions?: { [name: string]: JsonObject };
  events?: { [name: string]: JsonObject };
  forms?: JsonObject[];
  links?: JsonObject[];
  security: string | string[];
  securityDefinitions: { [name: string]: JsonObject };
  [member: string]: unknown;
}

/** One problem of a validation report. */
export interface Problem {
  /** JSON pointer to the offending part ("" for the whole document). */
  pointer: string;
  message: string;
  /** Code of the rule that was broken. */
  rule: string;
  severity: "error" | "warning";
  line: number | null;
  column: number | null;
}

/** The result of `validate()`. */
export interface ValidationReport {
  valid: boolean;
  kind: "ThingDescription" | "ThingModel" | null;
  problems: Problem[];
}

/** One way a payload breaks its schema. */
export interface PayloadViolation {
  /** JSON pointer into the payload ("" for the whole value). */
  path: string;
  /** The schema keyword that was broken. */
  rule: string;
  message: string;
}

/** Version of the native addon. */
export declare const version: string;

/** Validates a TD (object, or JSON text whose problems then carry line and column). */
export declare function validate(td: unknown): ValidationReport;
/** Parses and validates a TD; throws `InvalidThingDescription` with the report. */
export declare function parseTd(td: unknown): ThingDescription;
/** Checks a value against a data schema; throws `InvalidPayload` listing every violation. */
export declare function checkPayload(schema: DataSchema, value: unknown): void;

/** Options of `ThingBuilder.property`. */
export interface PropertyOptions {
  observable?: boolean;
  readOnly?: boolean;
  writeOnly?: boolean;
  title?: string;
  description?: string;
}

/** An action affordance's members (TD spelling). */
export interface ActionOptions {
  title?: string;
  description?: string;
  input?: DataSchema;
  output?: DataSchema;
  /** `false`: the action answers 201 with a status resource (query, cancel). */
  synchronous?: boolean;
  safe?: boolean;
  idempotent?: boolean;
  [member: string]: unknown;
}

/** An event affordance's members (TD spelling). */
export interface EventOptions {
  title?: string;
  description?: string;
  data?: DataSchema;
  [member: string]: unknown;
}

/** A link of a TD. */
export interface Link {
  href: string;
  rel?: string;
  type?: string;
  hreflang?: string | string[];
  [member: string]: unknown;
}

/** Builds an `lmos:Agent`, `lmos:Tool` or plain thing description. */
export declare class ThingBuilder {
  static agent(title: string): ThingBuilder;
  static tool(title: string): ThingBuilder;
  static thing(title: string): ThingBuilder;
  id(id: string): this;
  description(text: string): this;
  base(url: string): this;
  version(instance: string): this;
  /** Vendor metadata (`lmos:metadata`). */
  vendor(name: string, url?: string | null): this;
  /** Adds a semantic type (`@type`). */
  type(semanticType: string): this;
  /** Adds a top-level member from an extension vocabulary. */
  member(name: string, value: JsonValue): this;
  property(name: string, schema: DataSchema, options?: PropertyOptions): this;
  action(name: string, affordance?: ActionOptions): this;
  event(name: string, affordance?: EventOptions): this;
  form(form: JsonObject): this;
  link(link: Link): this;
  security(name: string, scheme: JsonObject): this;
  /** Adds the conversational `chat` action: synchronous, an AgentRequest in, an AgentResult out. */
  chatAction(options?: { description?: string }): this;
  /** The finished TD (forms are added by the servient that exposes it). */
  build(): ThingDescription;
}

/** `ThingBuilder.agent(title)`. */
export declare function agent(title: string): ThingBuilder;
/** `ThingBuilder.tool(title)`. */
export declare function tool(title: string): ThingBuilder;
/** `ThingBuilder.thing(title)`. */
export declare function thing(title: string): ThingBuilder;

/** A credential the caller presented (verified, about the caller, valid when admitted). */
export interface PresentedCredential {
  readonly type: string[];
  readonly issuer: string;
  readonly subjects: string[];
  readonly id: string | null;
  readonly validUntil: string | null;
}

/** Who passed a thing's security check. */
export interface Principal {
  /** The security definition that admitted the caller. */
  readonly scheme: string | null;
  /** The Basic user name, the token's `sub`, or the caller's DID. */
  readonly subject: string | null;
  /** The caller's DID, for DID-auth. */
  readonly did: string | null;
  readonly scopes: string[];
  readonly credentials: PresentedCredential[];
}

/** What a handler learns about the interaction that called it. */
export interface InteractionContext {
  /**
   * The W3C trace context the handler runs in: its server span, in the caller's trace (or a new
   * one); calls made from the handler are children of it.
   */
  readonly traceparent: string | null;
  readonly tracestate: string | null;
  /** The action instance id, for asynchronous actions. */
  readonly actionId: string | null;
  /** Who the caller proved to be (null for open things and in-process calls). */
  readonly principal: Principal | null;
  /** The `uriVariables` the caller sent, checked against the affordance's schemas. */
  readonly uriVariables: { readonly [name: string]: unknown };
  /** Aborted when the caller cancels the action or goes away. */
  readonly signal: AbortSignal;
}

/** The context of the handler the calling code runs in, if any. */
export declare function currentContext(): InteractionContext | null;

export type PropertyReadHandler = (context: InteractionContext) => unknown | Promise<unknown>;
export type PropertyWriteHandler<T = any> = (value: T, context: InteractionContext) => void | Promise<void>;
export type ActionHandler<I = any, O = unknown> = (input: I, context: InteractionContext) => O | Promise<O>;
export type ActionStreamHandler<I = any, P = unknown, O = unknown> = (
  input: I,
  context: InteractionContext,
) => AsyncIterator<P, O, undefined> | AsyncIterable<P>;

/** A thing this process serves. */
export declare class ExposedThing {
  private constructor();
  readonly slug: string;
  readonly title: string;
  /** The TD as served (absolute hrefs once the servient has started). */
  readonly td: ThingDescription;
  /** The URL of the TD, once the servient has started (or has a public base URL). */
  readonly tdUrl: string | null;
  readonly propertyNames: string[];
  /** Stores a property value (checked against its schema) and notifies observers. */
  setProperty(name: string, value: unknown): this;
  /** The stored value of a property. */
  propertyValue(name: string): any;
  /** Emits an event (data checked against its schema) to every subscriber. */
  emitEvent(name: string, data?: unknown): this;
  onPropertyRead(name: string, handler: PropertyReadHandler): this;
  onPropertyWrite(name: string, handler: PropertyWriteHandler): this;
  /** An async function returns the output; an async generator function yields progress and returns the output. */
  onAction(name: string, handler: ActionHandler | ActionStreamHandler): this;
  onActionStream(name: string, handler: ActionStreamHandler): this;
  /** Answers the `chat` action: the handler gets the AgentRequest and returns an AgentResult or a string. */
  onChat(handler: ChatHandler): this;
  /**
   * Registers the TD as served in a directory with a time-to-live in seconds (default 60), keeps
   * it registered, and deletes it when the servient closes. The servient must have started.
   */
  register(directory: DirectoryClient | DirectoryServer | string, ttl?: number): Promise<DirectoryRegistration>;
}

/** What `onInternalError` receives: errors callers only see as "internal error". */
export interface InternalError {
  thing: string;
  affordance: string;
  code: string;
  message: string;
}

/** Options of a `Servient`. */
export interface ServientOptions {
  /** HTTP port (default 8080; 0 picks a free one). */
  httpPort?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** The URL under which clients reach the server root, if not the bound address. */
  publicBaseUrl?: string;
  /** Largest accepted request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  longPollTimeoutMs?: number;
  /** How long a finished asynchronous action stays queryable. */
  actionRetentionMs?: number;
  /** How long a cancelled handler may run on to clean up. */
  cancelGraceMs?: number;
  /** Serve WebSocket on its own port (0 picks a free one); default: on the HTTP port. */
  wsPort?: number;
  /** Serve the `lmosprotocol` WebSocket endpoint and add its forms (default true). */
  websocket?: boolean;
  /** Largest WebSocket message in bytes (default 1 MiB); larger closes with 1009. */
  wsMaxMessageBytes?: number;
  /** Messages waiting to be written per WebSocket connection (default 256). */
  wsQueueCapacity?: number;
  /** Requests handled at once per WebSocket connection (default 64). */
  wsMaxInFlight?: number;
  /** How often an idle WebSocket peer is pinged (default 30000 ms). */
  wsPingIntervalMs?: number;
  /** How long after a ping without any frame the connection is dropped (default 30000 ms). */
  wsPingTimeoutMs?: number;
  /** Receives failed handlers' errors (default: printed on standard error). */
  onInternalError?: (error: InternalError) => void | Promise<void>;
  /** Signs every TD as served (`eddsa-jcs-2022`, the key's `keyId` as verification method). */
  signDescriptions?: Ed25519KeyPair;
  /**
   * What the servient accepts for the security the exposed things' TDs declare (enforced on
   * every HTTP route and WebSocket message; the TD stays public). A thing declaring a scheme
   * with no member here is refused by expose() (ConfigurationError).
   */
  security?: SecurityOptions;
  /** Serve `https`/`wss` with this certificate. */
  tls?: TlsOptions;
}

/** What a servient's verifier accepts, one member per scheme. */
export interface SecurityOptions {
  /** `basic`: user name → password. */
  basic?: { [username: string]: string };
  /** `bearer`: how tokens are checked. */
  bearer?: TokenOptions;
  /** `oauth2` (as a resource server): how access tokens are checked. */
  oauth2?: TokenOptions;
  /** `apikey`: the keys accepted. */
  apiKeys?: string[];
}

/**
 * How `bearer`/`oauth2` tokens are checked: exactly one of `hmacSecret`, `keys`, `publicKeysPem`,
 * `jwksUrl`, `introspection`; `exp` is always required.
 */
export interface TokenOptions {
  /** HS256 JWTs signed with this secret (UTF-8). */
  hmacSecret?: string;
  /** JWTs signed with one of these JWKs (RSA, EC P-256, OKP Ed25519, oct). */
  keys?: JsonObject[];
  /** JWTs signed with one of these public keys (PEM). */
  publicKeysPem?: string[];
  /** JWTs signed with a key of the JWKS document at this URL (fetched, cached). */
  jwksUrl?: string;
  /** Opaque tokens checked at an RFC 7662 introspection endpoint. */
  introspection?: { url: string; clientId: string; clientSecret: string };
  /** Accepted `aud` values (any of them). */
  audience?: string | string[];
  /** Accepted `iss` values (any of them). */
  issuer?: string | string[];
  /** Accepted algorithms (default HS256, RS256, ES256, EdDSA). */
  algorithms?: string[];
  /** Clock skew allowed on `exp`/`nbf` (default 30000 ms). */
  leewayMs?: number;
  /** An extra CA (PEM) trusted for the JWKS and introspection calls. */
  extraCaPem?: string;
}

/** A TLS certificate chain (leaf first) and its key: files or PEM text. */
export type TlsOptions = { certFile: string; keyFile: string } | { certPem: string; keyPem: string };

/** What a consumer presents to one thing (by id) or origin. */
export interface Credentials {
  basic?: { username: string; password: string };
  /** A `bearer` (or OAuth2 access) token. */
  bearer?: string;
  apiKey?: string;
  /** OAuth2 client credentials; the token comes from the TD's `token` endpoint or `tokenUrl`. */
  oauth2?: {
    clientId: string;
    clientSecret: string;
    scopes?: string[];
    tokenUrl?: string;
    refreshMarginMs?: number;
    extraCaPem?: string;
  };
}

/** Addresses a started servient listens on. */
export interface BoundAddresses {
  http: { host: string; port: number } | null;
  /** Where WebSocket is served (the HTTP address unless `wsPort`); null when off. */
  ws: { host: string; port: number } | null;
}

/** Hosts exposed things on one HTTP port. */
export declare class Servient {
  constructor(options?: ServientOptions);
  /** Hosts a thing; its forms are replaced by this servient's. */
  expose(td: ThingDescription | ThingBuilder): ExposedThing;
  /** Stops hosting the thing at `slug`; whether there was one. */
  destroy(slug: string): boolean;
  readonly things: ExposedThing[];
  /** Binds the HTTP port and serves. */
  start(): Promise<BoundAddresses>;
  readonly addresses: BoundAddresses;
  readonly baseUrl: string | null;
  /** Stops serving; the process can then exit. */
  close(): Promise<void>;
  /** Same as `close()`. */
  shutdown(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** Signs every TD served from now on with `key`; `null` stops signing. */
  setDescriptionSigner(key: Ed25519KeyPair | null): this;
  /** Serves a DID document at `/.well-known/did.json`. */
  serveDidDocument(document: DidDocument): this;
}

/** An update of a streamed action: progress values, then the output. */
export type ActionUpdate<P = any, O = any> = { type: "progress"; value: P } | { type: "output"; value: O };

/** The status resource of an asynchronous action (`queryaction`). */
export interface ActionStatus {
  id?: string;
  status: "pending" | "running" | "completed" | "failed" | "cancelled";
  progress?: any;
  output?: any;
  error?: JsonObject;
  href?: string;
  timeRequested?: string;
  timeEnded?: string;
}

/** An async iterator of values from the Rust core; `return()`/`close()` cancels it. */
export declare class Stream<T> implements AsyncIterableIterator<T> {
  private constructor();
  next(): Promise<IteratorResult<T, undefined>>;
  return(value?: any): Promise<IteratorResult<T, any>>;
  close(): Promise<void>;
  [Symbol.asyncIterator](): Stream<T>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The handle of an invoked action. */
export declare class ActionHandle {
  private constructor();
  readonly action: string;
  readonly isAsync: boolean;
  readonly statusUrl: string | null;
  query(): Promise<ActionStatus>;
  cancel(): Promise<void>;
  output(): Promise<any>;
  updates(): Stream<ActionUpdate>;
}

/** How a `ConsumedThing` picks forms and checks payloads. */
export interface ConsumeOptions {
  /** URI schemes in order of preference (`http` also matches `https`, `ws` also `wss`). */
  protocols?: string[];
  /** The `lmosprotocol` dialect spoken over WebSocket forms (default "spec"). */
  dialect?: "spec" | "kotlin-wot";
  /** Content types in order of preference (default: application/json first). */
  contentTypes?: string[];
  /** Streaming subprotocols in order of preference (default: sse, then longpoll). */
  subprotocols?: Array<"sse" | "longpoll">;
  /** Check values the thing returns against the TD (default true). */
  validateOutputs?: boolean;
  /** Check inputs against the TD before sending (default true). */
  validateInputs?: boolean;
  /** Bound on each non-streaming request in ms (default 30000; 0 = none). */
  timeoutMs?: number;
  /** Pause between polls of an action status (default 200 ms). */
  pollIntervalMs?: number;
  maxResponseBytes?: number;
  /** What to do with the TD's proof: `verifyIfPresent` (default), `require` or `ignore`. */
  signaturePolicy?: SignaturePolicy;
  /** How the DIDs of TD signers are resolved. */
  didResolver?: ResolverOptions;
  /** Refuse forms whose scheme is not in `protocols` instead of falling back (default false). */
  onlyProtocols?: boolean;
  /**
   * Credentials by thing id or origin (`"https://host:port"`, which also covers `wss://` on the
   * same host and port); only what the chosen form's security declares is sent.
   */
  credentials?: { [thingIdOrOrigin: string]: Credentials };
  /** Extra CA certificates (PEM) trusted besides the platform's roots for `https`/`wss`. */
  extraCaPem?: string;
}

/** A thing this process calls. */
/** Per-call options of an interaction (as node-wot's `InteractionOptions`). */
export interface InteractionOptions {
  /**
   * Values of the affordance's `uriVariables`: checked against their schemas and expanded into
   * the form's URI template (`{?a,b}`, `{name}`).
   */
  uriVariables?: { [name: string]: unknown };
}

export declare class ConsumedThing {
  private constructor();
  static fromUrl(url: string, options?: ConsumeOptions): Promise<ConsumedThing>;
  static fromTd(td: ThingDescription | string, options?: ConsumeOptions): ConsumedThing;
  readonly td: ThingDescription;
  /** The TD's proofs that verified (empty without a proof, or with policy `ignore`). */
  readonly verifiedProofs: VerifiedProof[];
  readProperty<T = any>(name: string, options?: InteractionOptions): Promise<T>;
  writeProperty(name: string, value: unknown, options?: InteractionOptions): Promise<void>;
  readAllProperties(): Promise<{ [name: string]: any }>;
  writeMultipleProperties(values: { [name: string]: unknown }): Promise<void>;
  invokeAction<O = any>(name: string, input?: unknown, options?: InteractionOptions): Promise<O>;
  invokeActionStream<P = any, O = any>(
    name: string,
    input?: unknown,
    options?: InteractionOptions,
  ): Promise<Stream<ActionUpdate<P, O>>>;
  startAction(name: string, input?: unknown, options?: InteractionOptions): Promise<ActionHandle>;
  observeProperty<T = any>(name: string, options?: InteractionOptions): Promise<Stream<T>>;
  subscribeEvent<T = any>(name: string, options?: InteractionOptions): Promise<Stream<T>>;
  /** Invokes the `chat` action with an AgentRequest (a string is a question in a new conversation). */
  chat(request: AgentRequest | string): Promise<AgentResult>;
  /** Asks a question in a new conversation; the text of the agent's first message. */
  ask(question: string): Promise<string>;
}

/** Consumes a thing from the URL of its TD, or from a TD object. */
export declare function consume(target: string | ThingDescription, options?: ConsumeOptions): Promise<ConsumedThing>;

/** A `{key, value}` entry of a system context or user profile. */
export interface ContextEntry {
  key: string;
  value: string;
  [member: string]: unknown;
}

/** One message of a conversation (the data model of the LMOS Kotlin SDK). */
export interface ChatMessage {
  /** `user`, `assistant`, `agent` or `system`. */
  role: string;
  content: string;
  /** Format of the content, e.g. `text`. */
  format?: string;
  turnId?: string;
  binaryData?: Array<{ mimeType: string; dataAsBase64: string; [member: string]: unknown }>;
  [member: string]: unknown;
}

/** A value replaced by a placeholder. */
export interface AnonymizationEntity {
  type: string;
  value: string;
  replacement: string;
  [member: string]: unknown;
}

/** The input of a `chat` action. Unknown members are kept. */
export interface AgentRequest {
  conversationContext?: {
    conversationId?: string;
    turnId?: string;
    anonymizationEntities?: AnonymizationEntity[];
    [member: string]: unknown;
  };
  systemContext?: ContextEntry[];
  userContext?: { userId?: string; userToken?: string; profile?: ContextEntry[]; [member: string]: unknown };
  messages: ChatMessage[];
  [member: string]: unknown;
}

/** The output of a `chat` action. Unknown members are kept. */
export interface AgentResult {
  /** `success` or `failure`. */
  status?: string;
  responseTime?: number;
  messages: ChatMessage[];
  anonymizationEntities?: AnonymizationEntity[];
  [member: string]: unknown;
}

/** Answers a `chat` action: an AgentResult, or a string (the text of a successful result). */
export type ChatHandler = (
  request: AgentRequest,
  context: InteractionContext,
) => AgentResult | string | Promise<AgentResult | string>;

/** Asks the agent whose TD is at `url` a question in a new conversation; the text of its answer. */
export declare function chat(url: string, question: string, options?: ConsumeOptions): Promise<string>;
/** An AgentRequest that opens a new conversation with one user message. */
export declare function agentRequest(question: string): AgentRequest;
/** An AgentResult with status `success` and one text message from the agent. */
export declare function agentResult(answer: string): AgentResult;
/** The text of the first message the agent wrote (role not `user`/`system`), or null. */
export declare function firstText(result: AgentResult): string | null;
/** The JSON Schema of an AgentRequest. */
export declare function agentRequestSchema(): DataSchema;
/**
 * Exports the span of every interaction to the OTLP/HTTP traces URL `url` as `serviceName`
 * (otherwise `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_SERVICE_NAME` are read on first use).
 */
export declare function exportTraces(url: string, serviceName: string): void;
/** Resolves to true once the spans that ended so far are exported (false after `timeoutMs`). */
export declare function flushTraces(timeoutMs?: number): Promise<boolean>;
/** The JSON Schema of an AgentResult. */
export declare function agentResultSchema(): DataSchema;

// ----- discovery -----------------------------------------------------------------------------

/** Options of a directory served from this process. */
export interface DirectoryServerOptions {
  /** The store: `sqlite:PATH` (or a plain path) or `postgres://user@host:port/db`. */
  db: string;
  /** Port (0 or absent: a free one). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** The URL clients reach the directory at. */
  publicBaseUrl?: string;
  /** Longest time-to-live granted, in seconds. */
  maxTtl?: number;
  /** Page size of a listing without `limit` (default 100). */
  defaultPage?: number;
  /** Largest page (default 1000). */
  maxPage?: number;
  maxBodyBytes?: number;
}

/** A Thing Description Directory (WoT Discovery API) served from this process. */
export declare class DirectoryServer {
  private constructor();
  static start(options: DirectoryServerOptions): Promise<DirectoryServer>;
  /** `http://host:port/`. */
  readonly baseUrl: string;
  readonly address: { host: string; port: number };
  /** A client of this directory. */
  client(): DirectoryClient;
  /** Stops listening and ends open event streams; the process can then exit. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a directory server. */
export declare function serveDirectory(options: DirectoryServerOptions): Promise<DirectoryServer>;

/** A TD as a directory returns it, with its registration information. */
export interface RegisteredThing extends ThingDescription {
  registration?: { created?: string; modified?: string; expires?: string; ttl?: number; retrieved?: string; [member: string]: unknown };
}

/** Search criteria; every given one must match. */
export interface DirectoryQuery {
  /** `@type` values (all must be present); `agent`/`tool` name `lmos:Agent`/`lmos:Tool`. */
  type?: string | string[];
  /** Vendor name, case-insensitive. */
  vendor?: string;
  /** Free text; results ranked best first. */
  text?: string;
  offset?: number;
  limit?: number;
}

/** A change event kind. */
export type DirectoryEventKind = "created" | "updated" | "deleted";

/** A change seen by `DirectoryClient.watch`. */
export interface DirectoryEvent {
  /** Event id (pass as `lastEventId` to resume after it). */
  id: string | null;
  kind: DirectoryEventKind;
  thingId: string;
  /** `{id}`, or with `diff` the TD (created) or the merge patch (updated). */
  data: JsonObject;
}

/** How `watch` subscribes. */
export interface WatchOptions {
  /** Only this kind (`thing_created` style names are accepted too). */
  kind?: DirectoryEventKind | "thing_created" | "thing_updated" | "thing_deleted";
  /** The full TD / the merge patch in `data`. */
  diff?: boolean;
  /** Start after this event id, replaying what was missed ("0": the whole history kept). */
  lastEventId?: string;
  /** Pause before reconnecting (default 500 ms). */
  retryMs?: number;
  /** Give up after this many failed reconnections in a row (default never). */
  maxRetries?: number;
}

/** A client of one Thing Description Directory. */
export declare class DirectoryClient {
  constructor(baseUrl: string);
  readonly baseUrl: string;
  /** The directory's own TD. */
  describe(): Promise<ThingDescription>;
  /** Registers a TD (time-to-live in seconds); resolves to its id (a fresh `urn:uuid:` without one). */
  register(td: ThingDescription | ThingBuilder, options?: { ttl?: number }): Promise<string>;
  /** Replaces a registered TD (it must have an `id`). */
  update(td: ThingDescription | ThingBuilder, options?: { ttl?: number }): Promise<void>;
  /** Applies a JSON merge patch. */
  patch(id: string, patch: JsonObject): Promise<void>;
  delete(id: string): Promise<void>;
  get(id: string): Promise<RegisteredThing>;
  list(): Promise<RegisteredThing[]>;
  search(query?: DirectoryQuery): Promise<RegisteredThing[]>;
  findType(type: string): Promise<RegisteredThing[]>;
  findVendor(vendor: string): Promise<RegisteredThing[]>;
  findText(text: string): Promise<RegisteredThing[]>;
  /** The values an RFC 9535 JSONPath expression selects from the array of all TDs. */
  searchJsonPath(query: string): Promise<JsonValue[]>;
  /** Change events, for `for await`; reconnects and resumes; `close()` ends it. */
  watch(options?: WatchOptions): Stream<DirectoryEvent>;
}

/** A directory entry an exposed thing keeps alive. */
export declare class DirectoryRegistration {
  private constructor();
  readonly id: string;
  readonly directoryUrl: string;
  readonly active: boolean;
  /** Stops refreshing and deletes the entry. */
  deregister(): Promise<void>;
}

// ----- DID-based introduction and mDNS --------------------------------------------------------

/** A thing a DID led to. */
export interface DiscoveredThing {
  /** Its Thing Description (from a directory: with `registration`). */
  td: ThingDescription;
  /** Where the TD was read: the `WotThing` endpoint, or the directory's `things/{id}`. */
  url: string;
  /** The id of the DID service that led here. */
  service: string;
  /** The base URL of the directory that listed it; null for a `WotThing` service. */
  directory: string | null;
}

/**
 * Every thing `did` leads to through its `WotThing` and `WotDirectory` services. Rejects with an
 * IdentityError when the DID cannot be resolved, a DiscoveryError (`discovery_did_*`) otherwise.
 */
export declare function discoverDid(did: string, options?: ResolverOptions): Promise<DiscoveredThing[]>;

/** What an mDNS advertisement announces. */
export type ServiceKind = "thing" | "directory";

/** A service found by mDNS, with its TD fetched (`td` null and `error` set when that failed). */
export interface FoundService {
  instance: string;
  kind: ServiceKind;
  url: string;
  td: ThingDescription | null;
  error: string | null;
}

/** DNS-SD over multicast DNS: advertises things and directories, browses for them. */
export declare class Mdns {
  /** `port`: the UDP port (default 5353; another port makes a private group). */
  constructor(options?: { port?: number });
  advertise(kind: ServiceKind, instance: string, host: string, port: number, tdPath: string): void;
  /** Advertises every thing of a started servient; how many. */
  advertiseServient(servient: Servient): number;
  advertiseDirectory(instance: string, directory: DirectoryServer): void;
  /** What is found within `seconds`. */
  browseFor(seconds: number, kind?: ServiceKind): Promise<FoundService[]>;
  /** The services as they are found; does not end by itself. */
  browse(kind?: ServiceKind): Stream<FoundService>;
  /** Withdraws every advertisement and stops the daemon. */
  shutdown(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// ----- identity ------------------------------------------------------------------------------

/** An Ed25519 key pair; inspect/JSON/toString show only its public side. */
export declare class Ed25519KeyPair {
  private constructor();
  static generate(): Ed25519KeyPair;
  static fromJwk(jwk: JsonObject | string): Ed25519KeyPair;
  static fromMultibase(text: string): Ed25519KeyPair;
  /** Reads a private JWK or multibase key file. */
  static load(path: string): Ed25519KeyPair;
  /** Writes a private JWK (mode 0600). */
  save(path: string): void;
  withKeyId(keyId: string): Ed25519KeyPair;
  readonly keyId: string;
  readonly did: string;
  readonly publicKeyMultibase: string;
  readonly publicJwk: { kty: "OKP"; crv: "Ed25519"; x: string; [member: string]: unknown };
  /** Secret. */
  toPrivateJwk(): { kty: "OKP"; crv: "Ed25519"; x: string; d: string; kid?: string };
  /** Secret. */
  toSecretMultibase(): string;
  sign(message: string | Uint8Array): Buffer;
  toJSON(): { type: "Ed25519KeyPair"; keyId: string; publicKeyMultibase: string };
  toString(): string;
}

/** A public key: multibase, `did:key`, a JWK, or a key pair. */
export type PublicKeyInput = string | JsonObject | Ed25519KeyPair;

/** Throws IdentityError `identity_signature_invalid` when the signature does not verify. */
export declare function verifySignature(publicKey: PublicKeyInput, message: string | Uint8Array, signature: Uint8Array): void;

/** How DIDs are resolved. */
export interface ResolverOptions {
  /** Plain http for `did:web` on loopback hosts only (default false). */
  allowHttpLoopback?: boolean;
  timeoutMs?: number;
  maxDocumentBytes?: number;
  /** Documents answered without the network. */
  pinned?: DidDocument[];
}

/** A DID document. */
export interface DidDocument {
  "@context"?: JsonValue;
  id: string;
  controller?: string | string[];
  verificationMethod?: JsonObject[];
  authentication?: Array<string | JsonObject>;
  assertionMethod?: Array<string | JsonObject>;
  capabilityInvocation?: Array<string | JsonObject>;
  capabilityDelegation?: Array<string | JsonObject>;
  service?: Array<{ id: string; type: string | string[]; serviceEndpoint: JsonValue; [member: string]: unknown }>;
  [member: string]: unknown;
}

export declare function resolveDid(did: string, options?: ResolverOptions): Promise<DidDocument>;
export declare function didKeyDocument(did: string): DidDocument;
export declare function didWebForUrl(url: string): string;
export declare function didWebDocumentUrl(did: string, options?: { allowHttpLoopback?: boolean }): string;
/** An agent's DID document: the key as `{did}#key-1`, a `WotThing` service with `tdUrl`. */
export declare function didDocumentForAgent(did: string, publicKey: PublicKeyInput, tdUrl?: string | null): DidDocument;
export declare function parseDidDocument(document: DidDocument | string): DidDocument;

export type ProofPurpose = "assertionMethod" | "authentication" | "capabilityInvocation" | "capabilityDelegation";
export type SignaturePolicy = "require" | "verifyIfPresent" | "ignore";

export interface ProofOptions {
  verificationMethod?: string;
  proofPurpose?: ProofPurpose;
  created?: string;
  expires?: string;
  id?: string;
  domain?: string;
  challenge?: string;
}

/** A proof that verified. */
export interface VerifiedProof {
  verificationMethod: string;
  signer: string;
  purpose: ProofPurpose;
  created: string | null;
}

/** Signs a JSON object with an `eddsa-jcs-2022` Data Integrity proof; returns the signed copy. */
export declare function signDocument<T extends object>(document: T | ThingBuilder, key: Ed25519KeyPair, options?: ProofOptions): T & { proof: JsonValue };
/** Verifies every proof (at least one); rejects with IdentityError otherwise. */
export declare function verifyDocument(document: object | string, options?: ResolverOptions): Promise<VerifiedProof[]>;

export interface CredentialOptions {
  /** Types besides `VerifiableCredential`. */
  type?: string | string[];
  /** The subject's DID. */
  subject: string;
  claims?: JsonObject;
  validFrom?: string;
  validUntil?: string;
  id?: string;
  contexts?: JsonValue[];
}

/** A verifiable credential (VC 2.0). */
export interface VerifiableCredential {
  "@context": JsonValue;
  id?: string;
  type: string[];
  issuer: string;
  validFrom?: string;
  validUntil?: string;
  credentialSubject: JsonObject;
  proof: JsonValue;
  [member: string]: unknown;
}

/** A credential that verified. */
export interface VerifiedCredential {
  id: string | null;
  types: string[];
  issuer: string;
  subjects: string[];
  validFrom: string | null;
  validUntil: string | null;
  credential: VerifiableCredential;
}

/** A credential a caller must hold. */
export interface CredentialRequirement {
  type: string;
  issuer: string;
}

export declare function issueCredential(issuer: Ed25519KeyPair, options: CredentialOptions): VerifiableCredential;
export declare function verifyCredential(
  credential: VerifiableCredential | JsonObject | string,
  options?: ResolverOptions & { now?: Date | number },
): Promise<VerifiedCredential>;
/** Throws IdentityError `identity_credential_required` for the first unmet requirement. */
export declare function checkCredentials(
  requirements: CredentialRequirement | CredentialRequirement[],
  holder: string,
  credentials: VerifiedCredential[],
): void;
export declare function requiredCredentials(members: JsonObject | ThingDescription): CredentialRequirement[];

/** Mints a DID-auth token (JWT, EdDSA) for `audience`. */
export declare function mintDidAuth(
  key: Ed25519KeyPair,
  audience: string,
  options?: { lifetimeSeconds?: number; credentials?: VerifiableCredential[] },
): string;
export declare function didAuthSecurityScheme(): JsonObject;
export declare function didAuthAudience(td: ThingDescription | ThingBuilder, tdUrl?: string | null): string | null;

/** The caller a DID-auth token proved. */
export interface VerifiedCaller {
  did: string;
  keyId: string;
  jti: string;
  /** Unix seconds. */
  expiresAt: number;
  credentials: VerifiedCredential[];
}

export interface DidAuthVerifierOptions {
  resolver?: ResolverOptions;
  maxLifetimeSeconds?: number;
  leewaySeconds?: number;
  replayCapacity?: number;
}

/** Verifies DID-auth tokens; each token is accepted once. */
export declare class DidAuthVerifier {
  constructor(options?: DidAuthVerifierOptions);
  verify(token: string, audience: string): Promise<VerifiedCaller>;
}

/** Options every lmos error takes. */
export interface LmosErrorOptions {
  code?: string;
  cause?: unknown;
  [field: string]: unknown;
}

/** Base class of every error lmos throws. */
export declare class LmosError extends Error {
  constructor(message?: string, options?: LmosErrorOptions);
  /** Stable machine-readable code (`not_found`, `remote_error`, ...). */
  code: string;
}
export declare class InvalidThingDescription extends LmosError {
  report: ValidationReport | null;
}
export declare class InvalidPayload extends LmosError {
  violations: PayloadViolation[] | null;
}
/** Throw from a handler to refuse an input with a message the caller sees (HTTP 400). */
export declare class InvalidInput extends InvalidPayload {}
export declare class InvalidOutput extends InvalidPayload {}
export declare class ConfigurationError extends LmosError {}
export declare class BindError extends LmosError {
  address: string | null;
}
export declare class NotFound extends LmosError {
  /** `thing`, `property`, `action`, `event` or `action instance`. */
  kind: string | null;
  target: string | null;
}
export declare class NotAllowed extends LmosError {
  affordance: string | null;
  operation: string | null;
}
export declare class BadRequest extends LmosError {}
export declare class HandlerFailed extends LmosError {}
export declare class NoForm extends LmosError {
  operation: string | null;
  affordance: string | null;
}
export declare class RemoteError extends LmosError {
  /** HTTP status code. */
  status: number | null;
  title: string | null;
  detail: string | null;
  /** The problem document (application/problem+json), if the thing sent one. */
  problem: JsonObject | null;
}
/** HTTP 401 (or a refused WebSocket handshake): credentials missing, wrong or expired. */
export declare class Unauthorized extends RemoteError {}
/** HTTP 403: valid credentials without the scope the operation needs. */
export declare class Forbidden extends RemoteError {}
export declare class TransportError extends LmosError {}
export declare class CodecError extends LmosError {}
export declare class ActionFailed extends LmosError {
  title: string | null;
  problem: JsonObject | null;
}
/** Throw from a handler that stops because the action was cancelled. */
export declare class ActionCancelled extends LmosError {}
export declare class ActionFinished extends LmosError {}
export declare class TraceError extends LmosError {}
export declare class Closed extends LmosError {}
/** A directory operation failed (`directory_*` codes). */
export declare class DirectoryError extends LmosError {
  status: number | null;
  detail: string | null;
}
export declare class DirectoryNotFound extends DirectoryError {
  id: string | null;
}
/** `discovery_not_registrable`. */
export declare class DiscoveryError extends LmosError {}
/** Keys, DIDs, proofs, tokens, credentials (`identity_*` codes). */
export declare class IdentityError extends LmosError {
  did?: string;
  credentialType?: string;
  issuer?: string;
}

declare const lmos: {
  version: typeof version;
  validate: typeof validate;
  parseTd: typeof parseTd;
  checkPayload: typeof checkPayload;
  ThingBuilder: typeof ThingBuilder;
  agent: typeof agent;
  tool: typeof tool;
  thing: typeof thing;
  Servient: typeof Servient;
  ExposedThing: typeof ExposedThing;
  currentContext: typeof currentContext;
  consume: typeof consume;
  exportTraces: typeof exportTraces;
  flushTraces: typeof flushTraces;
  ConsumedThing: typeof ConsumedThing;
  ActionHandle: typeof ActionHandle;
  Stream: typeof Stream;
  chat: typeof chat;
  agentRequest: typeof agentRequest;
  agentResult: typeof agentResult;
  firstText: typeof firstText;
  agentRequestSchema: typeof agentRequestSchema;
  agentResultSchema: typeof agentResultSchema;
  DirectoryServer: typeof DirectoryServer;
  serveDirectory: typeof serveDirectory;
  DirectoryClient: typeof DirectoryClient;
  DirectoryRegistration: typeof DirectoryRegistration;
  discoverDid: typeof discoverDid;
  Mdns: typeof Mdns;
  Ed25519KeyPair: typeof Ed25519KeyPair;
  verifySignature: typeof verifySignature;
  resolveDid: typeof resolveDid;
  didKeyDocument: typeof didKeyDocument;
  didWebForUrl: typeof didWebForUrl;
  didWebDocumentUrl: typeof didWebDocumentUrl;
  didDocumentForAgent: typeof didDocumentForAgent;
  parseDidDocument: typeof parseDidDocument;
  signDocument: typeof signDocument;
  verifyDocument: typeof verifyDocument;
  issueCredential: typeof issueCredential;
  verifyCredential: typeof verifyCredential;
  checkCredentials: typeof checkCredentials;
  requiredCredentials: typeof requiredCredentials;
  mintDidAuth: typeof mintDidAuth;
  didAuthSecurityScheme: typeof didAuthSecurityScheme;
  didAuthAudience: typeof didAuthAudience;
  DidAuthVerifier: typeof DidAuthVerifier;
  LmosError: typeof LmosError;
  InvalidThingDescription: typeof InvalidThingDescription;
  InvalidPayload: typeof InvalidPayload;
  InvalidInput: typeof InvalidInput;
  InvalidOutput: typeof InvalidOutput;
  ConfigurationError: typeof ConfigurationError;
  BindError: typeof BindError;
  NotFound: typeof NotFound;
  NotAllowed: typeof NotAllowed;
  BadRequest: typeof BadRequest;
  HandlerFailed: typeof HandlerFailed;
  NoForm: typeof NoForm;
  RemoteError: typeof RemoteError;
  Unauthorized: typeof Unauthorized;
  Forbidden: typeof Forbidden;
  TransportError: typeof TransportError;
  CodecError: typeof CodecError;
  ActionFailed: typeof ActionFailed;
  ActionCancelled: typeof ActionCancelled;
  ActionFinished: typeof ActionFinished;
  TraceError: typeof TraceError;
  Closed: typeof Closed;
  DirectoryError: typeof DirectoryError;
  DirectoryNotFound: typeof DirectoryNotFound;
  DiscoveryError: typeof DiscoveryError;
  IdentityError: typeof IdentityError;
};
export default lmos;

// Only the declarations above marked `export` are exported.
export {};
