// TD security from JavaScript: a Node servient exposing things that declare basic, bearer (HS256
// JWTs minted here with node:crypto and a real secret), apikey and combo security, called over
// real loopback sockets by HTTP and WebSocket with right, wrong, missing and expired credentials;
// TLS serving with a certificate made here (`openssl`) and consumed with `extraCaPem`; a Python
// client calling the protected Node thing; configuration mistakes that must never quote a secret.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";

import {
  thing,
  tool,
  consume,
  ConsumedThing,
  Servient,
  RemoteError,
  Unauthorized,
  Forbidden,
  ConfigurationError,
  TransportError,
  LmosError,
  Ed25519KeyPair,
  mintDidAuth,
  didAuthSecurityScheme,
} from "lmos";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, "target");

const PASSWORD = `pw-${randomBytes(8).toString("hex")}`;
const HMAC_SECRET = `hs-${randomBytes(16).toString("hex")}`;
const API_KEY = `key-${randomBytes(8).toString("hex")}`;
const AUDIENCE = "urn:test:bearer";

const b64url = (data) => Buffer.from(data).toString("base64url");

/** An HS256 JWT (RFC 7519) signed with `secret`. */
function jwt(claims, secret = HMAC_SECRET) {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

const now = () => Math.floor(Date.now() / 1000);
const token = (overrides = {}) => jwt({ sub: "agent-1", aud: AUDIENCE, exp: now() + 600, ...overrides });

const GOOD_TOKEN = token();
const EXPIRED_TOKEN = token({ exp: now() - 3600 });
const WRONG_AUDIENCE_TOKEN = token({ aud: "urn:test:other" });
const FORGED_TOKEN = jwt({ sub: "agent-1", aud: AUDIENCE, exp: now() + 600 }, "forged");
const EVERY_SECRET = [PASSWORD, HMAC_SECRET, API_KEY, GOOD_TOKEN, EXPIRED_TOKEN, FORGED_TOKEN];

const SCHEMES = {
  basic_sc: { scheme: "basic", in: "header" },
  bearer_sc: { scheme: "bearer", format: "jwt", alg: "HS256", in: "header" },
  apikey_sc: { scheme: "apikey", in: "header", name: "X-API-Key" },
  // The TD default: the key travels in the query (`api_key`).
  query_sc: { scheme: "apikey" },
  both_sc: { scheme: "combo", allOf: ["bearer_sc", "apikey_sc"] },
  either_sc: { scheme: "combo", oneOf: ["basic_sc", "apikey_sc"] },
};
const THINGS = {
  basic: "basic_sc",
  bearer: "bearer_sc",
  apikey: "apikey_sc",
  query: "query_sc",
  both: "both_sc",
  either: "either_sc",
};
const SECURITY = {
  basic: { alice: PASSWORD },
  bearer: { hmacSecret: HMAC_SECRET, audience: AUDIENCE },
  apiKeys: [API_KEY],
};

function protectedTd(slug, security) {
  const td = thing(slug)
    .id(`urn:test:${slug}`)
    .property("secret", { type: "string" }, { readOnly: true })
    .action("echo", { input: { type: "string" }, output: { type: "string" } })
    .build();
  td.securityDefinitions = { ...SCHEMES };
  td.security = [security];
  return td;
}

/** A started servient with one thing per scheme; the TD URLs by slug. */
async function serve(options = {}) {
  const servient = new Servient({ httpPort: 0, security: SECURITY, ...options });
  const urls = {};
  for (const [slug, scheme] of Object.entries(THINGS)) {
    const exposed = servient.expose(protectedTd(slug, scheme));
    exposed.setProperty("secret", `the ${slug} secret`);
    exposed.onAction("echo", async (text) => text);
  }
  await servient.start();
  for (const exposed of servient.things) urls[exposed.slug] = exposed.tdUrl;
  return { servient, urls };
}

function assertNoSecret(error) {
  const text = `${error.message} ${error.stack} ${JSON.stringify(error)} ${error.detail ?? ""}`;
  for (const secret of EVERY_SECRET) assert.ok(!text.includes(secret), text);
}

const TRANSPORTS = {
  http: { protocols: ["http"], onlyProtocols: true },
  ws: { protocols: ["ws"], onlyProtocols: true },
};

/** Reads `secret` and invokes `echo` on the thing at `url`; resolves to the property value. */
async function call(url, transport, credentials, extra = {}) {
  const consumed = await consume(url, { ...TRANSPORTS[transport], credentials, ...extra });
  const value = await consumed.readProperty("secret");
  assert.equal(await consumed.invokeAction("echo", "hello"), "hello");
  return value;
}

const byId = (slug, credentials) => ({ [`urn:test:${slug}`]: credentials });

const RIGHT = {
  basic: { basic: { username: "alice", password: PASSWORD } },
  bearer: { bearer: GOOD_TOKEN },
  apikey: { apiKey: API_KEY },
  query: { apiKey: API_KEY },
  both: { bearer: GOOD_TOKEN, apiKey: API_KEY },
  either: { apiKey: API_KEY },
};
const WRONG = {
  basic: [
    { basic: { username: "alice", password: `not-${PASSWORD}` } },
    { basic: { username: "mallory", password: PASSWORD } },
    { bearer: GOOD_TOKEN },
  ],
  bearer: [
    { bearer: EXPIRED_TOKEN },
    { bearer: FORGED_TOKEN },
    { bearer: WRONG_AUDIENCE_TOKEN },
    { bearer: "not.a.jwt" },
    { apiKey: API_KEY },
  ],
  apikey: [{ apiKey: `not-${API_KEY}` }, { bearer: GOOD_TOKEN }],
  query: [{ apiKey: `not-${API_KEY}` }, { basic: { username: "alice", password: PASSWORD } }],
  both: [
    { bearer: GOOD_TOKEN },
    { apiKey: API_KEY },
    { bearer: EXPIRED_TOKEN, apiKey: API_KEY },
    { bearer: GOOD_TOKEN, apiKey: `not-${API_KEY}` },
  ],
  either: [{ basic: { username: "alice", password: "wrong" } }, { apiKey: "wrong" }, { bearer: GOOD_TOKEN }],
};

let plain;
before(async () => {
  plain = await serve();
});
after(async () => {
  await plain?.servient.close();
});

for (const transport of Object.keys(TRANSPORTS)) {
  test(`right credentials get through and no wrong or missing one does (${transport})`, async () => {
    const { urls } = plain;
    for (const [slug, right] of Object.entries(RIGHT)) {
      assert.equal(await call(urls[slug], transport, byId(slug, right)), `the ${slug} secret`);
      // The TD stays public, so a consumer can learn what to present.
      assert.deepEqual((await consume(urls[slug])).td.security, [THINGS[slug]]);
      await assert.rejects(call(urls[slug], transport, undefined), (error) => {
        assert.ok(error instanceof Unauthorized, `${slug}: ${error}`);
        assert.ok(error instanceof RemoteError && error instanceof LmosError && error instanceof Error);
        assert.equal(error.status, 401);
        assert.equal(error.code, "remote_error");
        return true;
      });
      for (const wrong of WRONG[slug]) {
        await assert.rejects(call(urls[slug], transport, byId(slug, wrong)), (error) => {
          assert.ok(error instanceof Unauthorized, `${slug} ${JSON.stringify(Object.keys(wrong))}: ${error}`);
          assert.equal(error.status, 401);
          assertNoSecret(error);
          return true;
        });
      }
    }
    // The oneOf combo also takes its other alternative.
    assert.equal(await call(urls.either, transport, byId("either", RIGHT.basic)), "the either secret");
  });
}

test("credentials are found by origin, and another origin's are not used", async () => {
  const { servient, urls } = plain;
  const { host, port } = servient.addresses.http;
  const everything = { basic: { username: "alice", password: PASSWORD }, bearer: GOOD_TOKEN, apiKey: API_KEY };
  for (const slug of Object.keys(RIGHT)) {
    for (const transport of Object.keys(TRANSPORTS)) {
      assert.equal(await call(urls[slug], transport, { [`http://${host}:${port}`]: everything }), `the ${slug} secret`);
    }
  }
  await assert.rejects(call(urls.apikey, "http", { "http://127.0.0.1:1": everything }), Unauthorized);
});

test("transport errors do not carry a key sent in the query", async () => {
  // A servient no one has connected to over WebSocket yet, stopped: new connections are
  // refused, and the URL in the error (whose query carries the key) is cut.
  const { servient, urls } = await serve();
  let td;
  try {
    td = (await consume(urls.query)).td;
  } finally {
    await servient.close();
  }
  for (const transport of Object.keys(TRANSPORTS)) {
    const consumed = ConsumedThing.fromTd(td, { ...TRANSPORTS[transport], credentials: byId("query", RIGHT.query) });
    await assert.rejects(consumed.readProperty("secret"), (error) => {
      assert.ok(error instanceof TransportError, String(error));
      assert.equal(error.code, "transport");
      assert.ok(!`${error.message} ${error.stack}`.includes(API_KEY), error.message);
      return true;
    });
  }
});

test("a token without the scope a form needs is Forbidden", async (t) => {
  const td = protectedTd("scoped", "oauth2_sc");
  td.securityDefinitions.oauth2_sc = {
    scheme: "oauth2",
    flow: "client",
    token: "https://issuer.example/token",
    scopes: ["admin", "read"],
  };
  td.actions.echo.forms = [{ href: "echo", op: ["invokeaction"], scopes: ["admin"] }];
  const servient = new Servient({ httpPort: 0, security: { oauth2: { hmacSecret: HMAC_SECRET, audience: AUDIENCE } } });
  t.after(() => servient.close());
  const exposed = servient.expose(td);
  exposed.setProperty("secret", "s");
  exposed.onAction("echo", async (text) => text);
  await servient.start();
  for (const transport of Object.keys(TRANSPORTS)) {
    const reader = await consume(exposed.tdUrl, {
      ...TRANSPORTS[transport],
      credentials: byId("scoped", { bearer: token({ scope: "read" }) }),
    });
    assert.equal(await reader.readProperty("secret"), "s");
    await assert.rejects(reader.invokeAction("echo", "hi"), (error) => {
      assert.ok(error instanceof Forbidden, String(error));
      assert.ok(error instanceof RemoteError);
      assert.equal(error.status, 403);
      assertNoSecret(error);
      return true;
    });
    const admin = await consume(exposed.tdUrl, {
      ...TRANSPORTS[transport],
      credentials: byId("scoped", { bearer: token({ scope: "read admin" }) }),
    });
    assert.equal(await admin.invokeAction("echo", "hi"), "hi");
  }
});

test("a declared scheme the servient has no configuration for is refused at expose", async () => {
  const servient = new Servient({ httpPort: 0, security: { basic: { alice: PASSWORD } } });
  assert.throws(
    () => servient.expose(protectedTd("bearer", "bearer_sc")),
    (error) => error instanceof ConfigurationError && /bearer/.test(error.message) && !error.message.includes(PASSWORD),
  );
  assert.throws(() => new Servient({ httpPort: 0 }).expose(protectedTd("basic", "basic_sc")), ConfigurationError);
});

test("bad security settings are ConfigurationErrors that never quote the secret", () => {
  const cases = [
    [{ apiKeys: "top-secret-key-1" }, /apiKeys/],
    [{ bearer: { hmacSecret: "top-secret-key-2", jwksUrl: "https://x.example/" } }, /exactly one/],
    [{ bearer: { hmacSecret: 1234567 } }, /hmacSecret/],
    [{ basic: "alice:top-secret-key-3" }, /basic/],
    [{ bearr: { hmacSecret: "top-secret-key-4" } }, /bearr/],
    [{ bearer: { hmacSecret: "top-secret-key-5", algorithms: ["HS999"] } }, /HS999/],
  ];
  for (const [security, named] of cases) {
    assert.throws(
      () => new Servient({ httpPort: 0, security }),
      (error) => {
        assert.ok(error instanceof ConfigurationError, String(error));
        assert.match(error.message, named);
        assert.ok(!error.message.includes("top-secret") && !error.message.includes("1234567"), error.message);
        assert.equal(error.code, "security_invalid_options");
        return true;
      },
    );
  }
  // A secret in a member of the wrong type elsewhere is not echoed either.
  assert.throws(
    () => new Servient({ httpPort: "top-secret-port", security: SECURITY }),
    (error) => error instanceof TypeError && !error.message.includes("top-secret"),
  );
});

test("bad credentials and TLS settings are refused without the secret", () => {
  const td = protectedTd("basic", "basic_sc");
  for (const credentials of [
    { "urn:test:basic": { basic: "alice:very-secret-1" } },
    { "urn:test:basic": { basic: { username: "alice" } } },
    { "urn:test:basic": { bearer: ["very-secret-2"] } },
    { "urn:test:basic": { apiKee: "very-secret-3" } },
  ]) {
    assert.throws(
      () => ConsumedThing.fromTd(td, { credentials }),
      (error) => error instanceof TypeError && /credentials/.test(error.message) && !error.message.includes("very-secret"),
    );
  }
  assert.throws(
    () => new Servient({ httpPort: 0, tls: { certFile: "/nonexistent/cert.pem" } }),
    (error) => error instanceof ConfigurationError && /certFile and keyFile/.test(error.message),
  );
  assert.throws(
    () => new Servient({ httpPort: 0, tls: { certPem: "not a certificate", keyPem: "very-secret-key-pem" } }),
    (error) => error instanceof ConfigurationError && !error.message.includes("very-secret"),
  );
  assert.throws(
    () => new Servient({ httpPort: 0, tls: { certFile: "/nonexistent/c.pem", keyFile: "/n/k.pem" } }),
    (error) => error instanceof ConfigurationError && error.message.includes("/nonexistent/c.pem"),
  );
});

// ----- TLS ----------------------------------------------------------------------------------

let certs = null;
function certificate(t) {
  if (certs) return certs;
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    t.skip("no openssl command to make a test certificate");
    return null;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "lmos-tls-"));
  const openssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=lmos test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  openssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(
    path.join(dir, "ext.cnf"),
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
    "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf");
  certs = {
    dir,
    caFile: path.join(dir, "ca.pem"),
    ca: readFileSync(path.join(dir, "ca.pem"), "utf8"),
    certFile: path.join(dir, "server.pem"),
    keyFile: path.join(dir, "server.key"),
  };
  return certs;
}
after(() => {
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

test("TLS serving (files and PEM text) and consuming with extraCaPem, over HTTP and WebSocket", async (t) => {
  const c = certificate(t);
  if (!c) return;
  for (const tls of [
    { certFile: c.certFile, keyFile: c.keyFile },
    { certPem: readFileSync(c.certFile, "utf8"), keyPem: readFileSync(c.keyFile, "utf8") },
  ]) {
    const { servient, urls } = await serve({ tls });
    try {
      assert.match(urls.bearer, /^https:\/\/127\.0\.0\.1:\d+\//);
      const td = (await consume(urls.bearer, { extraCaPem: c.ca })).td;
      const hrefs = td.properties.secret.forms.map((form) => form.href);
      assert.ok(hrefs.some((href) => href.startsWith("https://")), hrefs.join());
      assert.ok(hrefs.some((href) => href.startsWith("wss://")), hrefs.join());
      for (const transport of Object.keys(TRANSPORTS)) {
        for (const slug of ["bearer", "both"]) {
          const value = await call(urls[slug], transport, byId(slug, RIGHT[slug]), { extraCaPem: c.ca });
          assert.equal(value, `the ${slug} secret`);
        }
        await assert.rejects(call(urls.bearer, transport, byId("bearer", { bearer: EXPIRED_TOKEN }), { extraCaPem: c.ca }), Unauthorized);
      }
      // The test CA is not among the platform's roots: certificates are always verified.
      await assert.rejects(consume(urls.bearer), TransportError);
    } finally {
      await servient.close();
    }
  }
});

// ----- a Python client ----------------------------------------------------------------------

const pythonVenv = process.env.LMOS_PYTHON_VENV ?? path.join(targetDir, "python-venv");
const python = path.join(pythonVenv, "bin", "python");
const requirePython = process.env.LMOS_REQUIRE_PYTHON === "1";

// A short-lived client that exits through interpreter finalization (it used to abort there now
// and then: see future_into_py in bindings/python/src/bridge.rs).
const pythonClient = `
import asyncio, json, sys
import lmos

async def main(url, ca, good, expired, key):
    out = {}
    creds = {"urn:test:both": {"bearer": good, "api_key": key}}
    for transport in ["http", "ws"]:
        thing = await lmos.consume(url, extra_ca_pem=ca, credentials=creds, protocols=[transport], only_protocols=True)
        out[transport] = [await thing.read_property("secret"), await thing.invoke_action("echo", "py")]
        refused = await lmos.consume(url, extra_ca_pem=ca, protocols=[transport], only_protocols=True,
                                     credentials={"urn:test:both": {"bearer": expired, "api_key": key}})
        try:
            await refused.read_property("secret")
            out[transport + "_refused"] = None
        except lmos.Unauthorized as error:
            out[transport + "_refused"] = [type(error).__name__, error.status, expired in str(error)]
    print(json.dumps(out))

asyncio.run(main(*sys.argv[1:]))
`;

test("a Python client calls the protected Node thing over TLS", async (t) => {
  if (!existsSync(python)) {
    if (requirePython) assert.fail(`no ${python} (scripts/test python builds it)`);
    t.skip(`no ${python} (run scripts/test python first)`);
    return;
  }
  const c = certificate(t);
  if (!c) return;
  const { servient, urls } = await serve({ tls: { certFile: c.certFile, keyFile: c.keyFile } });
  t.after(() => servient.close());
  const result = await new Promise((resolve) => {
    execFile(
      python,
      ["-c", pythonClient, urls.both, c.ca, GOOD_TOKEN, EXPIRED_TOKEN, API_KEY],
      { timeout: 60_000 },
      (error, stdout, stderr) => resolve({ error, stdout, stderr }),
    );
  });
  assert.equal(result.error, null, `exit ${result.error?.code} ${result.error?.signal}: ${result.stderr} stdout: ${result.stdout}`);
  const out = JSON.parse(result.stdout.trim().split("\n").pop());
  for (const transport of ["http", "ws"]) {
    assert.deepEqual(out[transport], ["the both secret", "py"]);
    assert.deepEqual(out[`${transport}_refused`], ["Unauthorized", 401, false]);
  }
});

for (const transport of Object.keys(TRANSPORTS)) {
  test(`the handler learns who the caller is (${transport})`, async () => {
    const servient = new Servient({ httpPort: 0, security: SECURITY });
    for (const [slug, scheme] of [["basic", "basic_sc"], ["bearer", "bearer_sc"]]) {
      const td = thing(slug).id(`urn:test:${slug}`).action("whoami", { output: { type: "object" } }).build();
      td.securityDefinitions = { ...SCHEMES };
      td.security = [scheme];
      servient.expose(td).onAction("whoami", async (_input, context) => context.principal);
    }
    servient
      .expose(thing("open").action("whoami", { output: {} }).build())
      .onAction("whoami", async (_input, context) => ({ principal: context.principal }));
    await servient.start();
    try {
      const urls = Object.fromEntries(servient.things.map((t) => [t.slug, t.tdUrl]));
      const basic = await consume(urls.basic, { ...TRANSPORTS[transport], credentials: byId("basic", RIGHT.basic) });
      const seenBasic = await basic.invokeAction("whoami");
      assert.equal(seenBasic.scheme, "basic_sc");
      assert.equal(seenBasic.subject, "alice");
      assert.equal(seenBasic.did, null);
      const bearer = await consume(urls.bearer, { ...TRANSPORTS[transport], credentials: byId("bearer", RIGHT.bearer) });
      const seenBearer = await bearer.invokeAction("whoami");
      assert.equal(seenBearer.scheme, "bearer_sc");
      assert.equal(seenBearer.subject, "agent-1");
      assert.ok(!JSON.stringify(seenBearer).includes(GOOD_TOKEN));
      const open = await consume(urls.open, TRANSPORTS[transport]);
      assert.deepEqual(await open.invokeAction("whoami"), { principal: null });
    } finally {
      await servient.close();
    }
  });
}

const DID_THING = "urn:test:did-secured";

for (const transport of Object.keys(TRANSPORTS)) {
  test(`DID-auth from JavaScript: fresh tokens from the key; foreign audience and replay refused (${transport})`, async () => {
    const servient = new Servient({ httpPort: 0, security: { didAuth: {} } });
    const td = tool("didsecured").id(DID_THING).action("whoami", { output: { type: "object" } }).build();
    td.securityDefinitions = { did_sc: didAuthSecurityScheme() };
    td.security = ["did_sc"];
    const exposed = servient.expose(td);
    exposed.onAction("whoami", async (_input, context) => context.principal);
    await servient.start();
    try {
      const caller = Ed25519KeyPair.generate();
      const credentials = { [DID_THING]: { didAuth: { key: caller.toPrivateJwk() } } };
      const consumed = await consume(exposed.tdUrl, { ...TRANSPORTS[transport], credentials });
      for (let i = 0; i < 2; i++) {
        const seen = await consumed.invokeAction("whoami");
        assert.equal(seen.did, caller.did);
      }
      const bare = await consume(exposed.tdUrl, TRANSPORTS[transport]);
      await assert.rejects(bare.invokeAction("whoami"), Unauthorized);
      const foreign = mintDidAuth(caller, "urn:test:another-thing");
      const wrong = await consume(exposed.tdUrl, { ...TRANSPORTS[transport], credentials: { [DID_THING]: { bearer: foreign } } });
      await assert.rejects(wrong.invokeAction("whoami"), (error) => {
        assert.ok(error instanceof Unauthorized);
        assert.ok(!error.message.includes(foreign));
        return true;
      });
      if (transport === "http") {
        const once = mintDidAuth(caller, DID_THING);
        const replayer = await consume(exposed.tdUrl, { ...TRANSPORTS[transport], credentials: { [DID_THING]: { bearer: once } } });
        assert.equal((await replayer.invokeAction("whoami")).did, caller.did);
        await assert.rejects(replayer.invokeAction("whoami"), Unauthorized);
      }
    } finally {
      await servient.close();
    }
  });
}
