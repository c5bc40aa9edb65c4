// Compiled (never run) by types.test.mjs with `tsc --noEmit --strict`: the whole API as a
// TypeScript user writes it, from an ES module.
import lmos, {
  agent,
  tool,
  thing,
  ThingBuilder,
  validate,
  parseTd,
  checkPayload,
  Servient,
  ExposedThing,
  ConsumedThing,
  ActionHandle,
  Stream,
  consume,
  currentContext,
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
  version,
  type ThingDescription,
  type ValidationReport,
  type InteractionContext,
  type ActionUpdate,
  type ActionStatus,
  type BoundAddresses,
  type ConsumeOptions,
  type ServientOptions,
  type InternalError,
  type SecurityOptions,
  type TlsOptions,
  type Credentials,
} from "lmos";

const td: ThingDescription = agent("Weather")
  .id("urn:uuid:1")
  .description("d")
  .vendor("ACME", "https://acme.example")
  .type("lmos:Agent")
  .base("http://example.com/")
  .version("1.0")
  .member("lmos:extra", { a: [1, "b", null] })
  .property("unit", { type: "string", enum: ["C", "F"] }, { observable: true, readOnly: false })
  .action("getWeather", { input: { type: "object", properties: { q: { type: "string" } } }, output: { type: "string" }, synchronous: true })
  .event("alert", { data: { type: "string" } })
  .link({ href: "https://acme.example/doc", rel: "service-doc", hreflang: "en" })
  .security("nosec_sc", { scheme: "nosec" })
  .build();
const other: ThingBuilder = ThingBuilder.tool("Geo");
tool("T").build();
thing("L").form({ href: "x" });
const report: ValidationReport = validate(td);
const valid: boolean = report.valid && report.problems.every((p) => typeof p.pointer === "string");
const parsed: ThingDescription = parseTd(JSON.stringify(td));
checkPayload({ type: "integer", minimum: 1 }, 3);
const v: string = version + lmos.version;

async function serve(): Promise<void> {
  const options: ServientOptions = {
    httpPort: 0,
    host: "127.0.0.1",
    cancelGraceMs: 100,
    onInternalError: (error: InternalError) => void error.message,
  };
  const servient = new Servient(options);
  const exposed: ExposedThing = servient.expose(td);
  servient.expose(other);
  exposed
    .setProperty("unit", "C")
    .emitEvent("alert", "storm")
    .onPropertyRead("unit", async (ctx: InteractionContext) => ctx.traceparent ?? "C")
    .onPropertyWrite("unit", async (value: string, ctx) => {
      void value.toUpperCase();
      void ctx.signal.aborted;
    })
    .onAction("getWeather", async (input: { q: string }, ctx) => {
      if (ctx.signal.aborted) throw new ActionCancelled();
      if (!input.q) throw new InvalidInput("empty question");
      return `sunny: ${input.q} ${currentContext()?.actionId ?? ""}`;
    })
    .onAction("forecast", async function* (input: { days: number }, { signal }) {
      for (let day = 1; day <= input.days && !signal.aborted; day++) yield { day };
      return ["sunny"];
    })
    .onActionStream("forecast", async function* () {
      yield 1;
      return 2;
    });
  const stored: unknown = exposed.propertyValue("unit");
  const addresses: BoundAddresses = await servient.start();
  const port: number | undefined = addresses.http?.port;
  const wsPort: number | undefined = addresses.ws?.port;
  void wsPort;
  const ws = new Servient({
    httpPort: 0,
    wsPort: 0,
    websocket: true,
    wsMaxMessageBytes: 1 << 20,
    wsQueueCapacity: 16,
    wsMaxInFlight: 4,
    wsPingIntervalMs: 1000,
    wsPingTimeoutMs: 1000,
  });
  void ws;
  const security: SecurityOptions = {
    basic: { alice: "pw" },
    bearer: { hmacSecret: "s", audience: ["a", "b"], leewayMs: 1000 },
    oauth2: { jwksUrl: "https://issuer.example/jwks.json", issuer: "https://issuer.example" },
    apiKeys: ["k"],
  };
  const tls: TlsOptions = { certFile: "server.pem", keyFile: "server.key" };
  const secured = new Servient({ httpPort: 0, security, tls });
  void secured;
  const url: string | null = exposed.tdUrl;
  void [stored, port, exposed.slug, exposed.title, exposed.td.title, exposed.propertyNames.length, servient.baseUrl, servient.things];
  servient.destroy("geo");
  await servient.close();
  await servient.shutdown();
  await using disposable = new Servient({ httpPort: 0 });
  void disposable;
  void url;
}

async function call(url: string): Promise<void> {
  const options: ConsumeOptions = { protocols: ["http"], contentTypes: ["application/cbor"], subprotocols: ["sse", "longpoll"], timeoutMs: 0 };
  const weather: ConsumedThing = await consume(url, options);
  const fromTd: ConsumedThing = ConsumedThing.fromTd(weather.td);
  const overWs: ConsumedThing = await consume(url, { protocols: ["ws"], dialect: "kotlin-wot" });
  void overWs;
  const credentials: Credentials = { basic: { username: "alice", password: "pw" }, apiKey: "k" };
  const secure: ConsumedThing = await consume(url, {
    credentials: { "urn:dev:weather": { bearer: "t" }, "https://a.example": credentials },
    extraCaPem: "-----BEGIN CERTIFICATE-----",
    onlyProtocols: true,
  });
  void secure;
  await ConsumedThing.fromUrl(url);
  const unit = await weather.readProperty<string>("unit");
  await weather.writeProperty("unit", unit);
  const all: { [name: string]: unknown } = await fromTd.readAllProperties();
  await weather.writeMultipleProperties({ unit: "F", ...all });
  const answer = await weather.invokeAction<string>("getWeather", { q: "rain?" });
  const updates: Stream<ActionUpdate<{ day: number }, string[]>> = await weather.invokeActionStream("forecast", { days: 2 });
  for await (const update of updates) {
    if (update.type === "progress") void update.value.day;
    else void update.value.length;
  }
  const handle: ActionHandle = await weather.startAction("forecast", { days: 1 });
  const status: ActionStatus = await handle.query();
  void [handle.action, handle.isAsync, handle.statusUrl, status.status, answer];
  await handle.cancel();
  void (await handle.output());
  for await (const update of handle.updates()) void update.type;
  const values = await weather.observeProperty<string>("unit");
  for await (const value of values) {
    void value.length;
    break;
  }
  await values.close();
  const events = await weather.subscribeEvent<string>("alert");
  const first: IteratorResult<string, undefined> = await events.next();
  void first;
  await events.return();
}

function handle(error: unknown): string {
  if (error instanceof InvalidThingDescription) return String(error.report?.valid);
  if (error instanceof InvalidPayload) return String(error.violations?.map((v) => v.path));
  if (error instanceof Unauthorized || error instanceof Forbidden) return `refused ${error.status}`;
  if (error instanceof RemoteError) return `${error.status} ${error.title} ${error.detail} ${JSON.stringify(error.problem)}`;
  if (error instanceof NotFound) return `${error.kind} ${error.target}`;
  if (error instanceof NotAllowed) return `${error.affordance} ${error.operation}`;
  if (error instanceof NoForm) return `${error.operation} ${error.affordance}`;
  if (error instanceof ActionFailed) return `${error.title} ${JSON.stringify(error.problem)}`;
  if (error instanceof BindError) return String(error.address);
  const simple = [InvalidInput, InvalidOutput, ConfigurationError, BadRequest, HandlerFailed, TransportError, CodecError, ActionCancelled, ActionFinished, TraceError, Closed];
  if (simple.some((Class) => error instanceof Class)) return "known";
  if (error instanceof LmosError) return error.code;
  return "other";
}

void [serve, call, handle, valid, parsed, v, new LmosError("x", { code: "c" }).code];
