// Identity from Node.js: Ed25519 keys, did:key / did:web, eddsa-jcs-2022 signatures checked
// against the Rust CLI both ways, signed TDs served by a Node servient, the consume signature
// policy, verifiable credentials and DID-auth tokens. Real keys, real sockets on 127.0.0.1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { inspect } from "node:util";
import { fileURLToPath } from "node:url";
import path from "node:path";

import {
  agent,
  consume,
  ConsumedThing,
  Servient,
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
  IdentityError,
  InvalidThingDescription,
} from "lmos";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, "target");
const lmosCli = path.join(targetDir, "debug", "lmos");
const requireRust = process.env.LMOS_REQUIRE_RUST === "1";

function needsCli(t) {
  if (existsSync(lmosCli)) return true;
  if (requireRust) assert.fail(`no ${lmosCli} (cargo build -p lmos-cli)`);
  t.skip(`no ${lmosCli}`);
  return false;
}

function runCli(args) {
  return new Promise((resolve) => {
    execFile(lmosCli, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? error.code : 0, stdout, stderr });
    });
  });
}

function tempDir(t) {
  const dir = mkdtempSync(path.join(tmpdir(), "lmos-node-identity-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const isCode = (code) => (error) => {
  assert.ok(error instanceof IdentityError, `${error?.name}: ${error?.message}`);
  assert.equal(error.code, code, error.message);
  return true;
};

const weatherTd = () =>
  agent("Weather").id("urn:example:signed-weather").description("Tells the weather").action("forecast", { output: { type: "string" } }).build();

test("keys: generated, saved and loaded as JWK and multibase; the private key never shows", (t) => {
  const key = Ed25519KeyPair.generate();
  assert.match(key.did, /^did:key:z6Mk/);
  assert.equal(key.keyId, `${key.did}#${key.did.slice("did:key:".length)}`);
  assert.equal(key.publicKeyMultibase, key.did.slice("did:key:".length));
  const jwk = key.toPrivateJwk();
  assert.equal(jwk.kty, "OKP");
  assert.equal(jwk.crv, "Ed25519");
  const secret = key.toSecretMultibase();
  assert.match(secret, /^z3u2/);

  for (const shown of [inspect(key), inspect({ nested: [key] }, { depth: 5, showHidden: true }), JSON.stringify(key), String(key), `${key}`]) {
    assert.ok(!shown.includes(jwk.d), `private JWK in ${shown}`);
    assert.ok(!shown.includes(secret), `secret multibase in ${shown}`);
    assert.ok(shown.includes(key.publicKeyMultibase) || shown.includes(key.did), shown);
  }
  assert.deepEqual(Object.keys(key), []);
  assert.deepEqual(JSON.parse(JSON.stringify(key)), {
    type: "Ed25519KeyPair",
    keyId: key.keyId,
    publicKeyMultibase: key.publicKeyMultibase,
  });
  assert.deepEqual(key.publicJwk, { kty: "OKP", crv: "Ed25519", x: jwk.x });

  const dir = tempDir(t);
  const file = path.join(dir, "agent.jwk");
  key.save(file);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(Ed25519KeyPair.load(file).did, key.did);
  assert.equal(Ed25519KeyPair.fromJwk(jwk).did, key.did);
  assert.equal(Ed25519KeyPair.fromJwk(JSON.stringify(jwk)).did, key.did);
  assert.equal(Ed25519KeyPair.fromMultibase(secret).did, key.did);
  writeFileSync(path.join(dir, "key.multibase"), `${secret}\n`);
  assert.equal(Ed25519KeyPair.load(path.join(dir, "key.multibase")).did, key.did);

  const named = key.withKeyId("did:web:example.com#key-1");
  assert.equal(named.keyId, "did:web:example.com#key-1");
  assert.equal(named.did, "did:web:example.com");
  assert.equal(key.keyId.startsWith("did:key:"), true, "withKeyId makes a new key");

  const signature = key.sign("hello");
  assert.equal(signature.length, 64);
  verifySignature(key.publicKeyMultibase, "hello", signature);
  verifySignature(key.did, Buffer.from("hello"), signature);
  verifySignature(key.publicJwk, "hello", signature);
  assert.throws(() => verifySignature(key, "hellO", signature), isCode("identity_signature_invalid"));

  // Bad keys: clear errors that do not repeat the key text.
  const broken = { ...jwk, d: jwk.d.slice(0, -2) + (jwk.d.endsWith("AA") ? "BB" : "AA") };
  assert.throws(() => Ed25519KeyPair.fromJwk(broken), (error) => {
    isCode("identity_invalid_key")(error);
    assert.ok(!error.message.includes(broken.d));
    return true;
  });
  assert.throws(() => Ed25519KeyPair.fromMultibase("z3u2notakey"), isCode("identity_invalid_key"));
  assert.throws(() => Ed25519KeyPair.load(path.join(dir, "missing.jwk")), isCode("identity_key_file"));
  assert.throws(() => Ed25519KeyPair.fromJwk("[1]"), TypeError);
  assert.throws(() => new Ed25519KeyPair({}), TypeError);
});

test("did:key: a key's DID resolves to its document, offline and through resolveDid", async () => {
  const key = Ed25519KeyPair.generate();
  const document = didKeyDocument(key.did);
  assert.equal(document.id, key.did);
  assert.equal(document.verificationMethod[0].publicKeyMultibase, key.publicKeyMultibase);
  assert.deepEqual(document.assertionMethod, [key.keyId]);
  assert.deepEqual(await resolveDid(key.did), document);
  assert.deepEqual(parseDidDocument(document), document);

  assert.throws(() => didKeyDocument("did:key:zNotBase58!"), isCode("identity_invalid_did"));
  await assert.rejects(resolveDid("did:example:123"), isCode("identity_unsupported_did_method"));
  assert.throws(() => parseDidDocument({ id: "did:key:x", verificationMethod: "no" }), isCode("identity_invalid_did_document"));
  await assert.rejects(resolveDid(key.did, { allowHttpLoopbak: true }), /unknown resolver option allowHttpLoopbak/);
});

test("a document signed in Node verifies in the Rust CLI, and tampering is detected", async (t) => {
  if (!needsCli(t)) return;
  const dir = tempDir(t);
  const key = Ed25519KeyPair.generate();
  const signed = signDocument(weatherTd(), key);
  assert.equal(signed.proof.type, "DataIntegrityProof");
  assert.equal(signed.proof.cryptosuite, "eddsa-jcs-2022");
  assert.equal(signed.proof.verificationMethod, key.keyId);
  assert.equal(signed.proof.proofPurpose, "assertionMethod");

  const good = path.join(dir, "signed.td.json");
  writeFileSync(good, JSON.stringify(signed, null, 2));
  const verified = await runCli(["verify", good]);
  assert.equal(verified.status, 0, verified.stderr + verified.stdout);
  assert.ok((verified.stdout + verified.stderr).includes(key.did));

  const tampered = structuredClone(signed);
  tampered.description = "Tells lies";
  const bad = path.join(dir, "tampered.td.json");
  writeFileSync(bad, JSON.stringify(tampered));
  const refused = await runCli(["verify", bad]);
  assert.notEqual(refused.status, 0, refused.stdout);
  await assert.rejects(verifyDocument(tampered), isCode("identity_signature_invalid"));

  // A proof set: two keys sign; both must verify.
  const second = Ed25519KeyPair.generate();
  const twice = signDocument(signed, second, { created: "2026-01-01T00:00:00Z" });
  assert.equal(twice.proof.length, 2);
  const proofs = await verifyDocument(twice);
  assert.deepEqual(proofs.map((p) => p.signer), [key.did, second.did]);
  assert.equal(proofs[1].created, "2026-01-01T00:00:00Z");
  const both = path.join(dir, "twice.json");
  writeFileSync(both, JSON.stringify(twice));
  assert.equal((await runCli(["verify", both])).status, 0);
});

test("a document signed by the Rust CLI verifies in Node, and tampering is detected", async (t) => {
  if (!needsCli(t)) return;
  const dir = tempDir(t);
  const keyFile = path.join(dir, "cli.jwk");
  const made = await runCli(["did", "new", "--out", keyFile]);
  assert.equal(made.status, 0, made.stderr);
  const did = made.stdout.trim().split("\n")[0].trim();
  assert.match(did, /^did:key:z6Mk/);
  assert.equal(Ed25519KeyPair.load(keyFile).did, did);

  const document = path.join(dir, "td.json");
  writeFileSync(document, JSON.stringify(weatherTd()));
  const signedRun = await runCli(["sign", document, "--key", keyFile]);
  assert.equal(signedRun.status, 0, signedRun.stderr);
  const signed = JSON.parse(signedRun.stdout);
  const proofs = await verifyDocument(signed);
  assert.equal(proofs.length, 1);
  assert.equal(proofs[0].signer, did);
  assert.equal(proofs[0].purpose, "assertionMethod");
  // Node's JSON text of the same document verifies too (JCS makes formatting irrelevant).
  await verifyDocument(JSON.stringify(JSON.parse(signedRun.stdout), null, 4));

  const tampered = structuredClone(signed);
  tampered.actions.forecast.output.type = "number";
  await assert.rejects(verifyDocument(tampered), isCode("identity_signature_invalid"));
  const forged = structuredClone(signed);
  forged.proof.proofValue = forged.proof.proofValue.slice(0, -3) + "abc";
  await assert.rejects(verifyDocument(forged), (error) => error instanceof IdentityError && !error.message.includes(forged.proof.proofValue));
  await assert.rejects(verifyDocument(weatherTd()), isCode("identity_proof_missing"));
  assert.throws(() => signDocument([1, 2], Ed25519KeyPair.generate()), TypeError);
  assert.throws(() => signDocument({ a: 1 }, "not a key"), TypeError);
  assert.throws(() => signDocument({ a: 1 }, Ed25519KeyPair.generate(), { proofPurpose: "bragging" }), /unknown proof purpose/);
  assert.throws(() => signDocument({ a: 1 }, Ed25519KeyPair.generate(), { when: "now" }), /unknown proof option when/);
});

test("a did:web agent served by a Node servient: its DID resolves, its signed TD is required and verified", async (t) => {
  const servient = new Servient({ httpPort: 0, host: "127.0.0.1" });
  t.after(() => servient.close());
  const exposed = servient.expose(weatherTd());
  exposed.onAction("forecast", async () => "sunny");
  await servient.start();
  const did = didWebForUrl(servient.baseUrl);
  assert.equal(did, `did:web:127.0.0.1%3A${servient.addresses.http.port}`);
  assert.equal(didWebDocumentUrl(did, { allowHttpLoopback: true }), `${servient.baseUrl}.well-known/did.json`);
  const key = Ed25519KeyPair.generate().withKeyId(`${did}#key-1`);
  const document = didDocumentForAgent(did, key, exposed.tdUrl);
  assert.deepEqual(document.service, [{ id: `${did}#td`, type: "WotThing", serviceEndpoint: exposed.tdUrl }]);
  servient.serveDidDocument(document);
  servient.setDescriptionSigner(key);

  const loopback = { allowHttpLoopback: true };
  assert.deepEqual(await resolveDid(did, loopback), document);
  // Without the option a did:web is fetched over https only, which this servient does not speak.
  await assert.rejects(resolveDid(did), isCode("identity_resolution_failed"));

  const thing = await consume(exposed.tdUrl, { signaturePolicy: "require", didResolver: loopback });
  assert.deepEqual(
    thing.verifiedProofs.map((p) => [p.signer, p.verificationMethod, p.purpose]),
    [[did, `${did}#key-1`, "assertionMethod"]],
  );
  assert.equal(await thing.invokeAction("forecast"), "sunny");
  // The TD as served carries the proof; the TD object consumed again is checked again.
  const served = thing.td;
  assert.equal(served.proof.verificationMethod, `${did}#key-1`);
  const again = await consume(served, { signaturePolicy: "require", didResolver: loopback });
  assert.equal(again.verifiedProofs[0].signer, did);
  // ConsumedThing.fromTd does not touch the network: a did:web signer needs consume().
  assert.throws(() => ConsumedThing.fromTd(served, { signaturePolicy: "require", didResolver: loopback }), InvalidThingDescription);
  // Tampered after signing: refused even under the default policy.
  const tampered = structuredClone(served);
  tampered.title = "Weather (evil)";
  await assert.rejects(consume(tampered, { didResolver: loopback }), (error) => {
    assert.ok(error instanceof InvalidThingDescription);
    assert.match(error.message, /identity_signature_invalid/);
    return true;
  });

  if (needsCli(t)) {
    const cli = await runCli(["verify", exposed.tdUrl, "--allow-http-loopback"]);
    assert.equal(cli.status, 0, cli.stderr + cli.stdout);
    const resolved = await runCli(["did", "resolve", did, "--allow-http-loopback"]);
    assert.equal(resolved.status, 0, resolved.stderr);
    assert.deepEqual(JSON.parse(resolved.stdout), document);
  }
});

test("the consume policy refuses an unsigned TD when signatures are required", async (t) => {
  const servient = new Servient({ httpPort: 0 });
  t.after(() => servient.close());
  const exposed = servient.expose(weatherTd());
  await servient.start();

  await assert.rejects(consume(exposed.tdUrl, { signaturePolicy: "require" }), (error) => {
    assert.ok(error instanceof InvalidThingDescription);
    assert.match(error.message, /identity_proof_missing/);
    return true;
  });
  assert.throws(() => ConsumedThing.fromTd(exposed.td, { signaturePolicy: "require" }), InvalidThingDescription);
  // The default accepts a TD without a proof; "ignore" does not look at a broken one.
  assert.deepEqual((await consume(exposed.tdUrl)).verifiedProofs, []);
  const broken = { ...exposed.td, proof: { type: "DataIntegrityProof", cryptosuite: "eddsa-jcs-2022" } };
  await assert.rejects(consume(broken), InvalidThingDescription);
  assert.deepEqual((await consume(broken, { signaturePolicy: "ignore" })).verifiedProofs, []);
  await assert.rejects(consume(exposed.tdUrl, { signaturePolicy: "sometimes" }), /unknown signature policy/);
});

test("the servient's signDescriptions option signs every TD as served (did:key)", async (t) => {
  const key = Ed25519KeyPair.generate();
  const servient = new Servient({ httpPort: 0, signDescriptions: key });
  t.after(() => servient.close());
  const exposed = servient.expose(weatherTd());
  await servient.start();
  const thing = await consume(exposed.tdUrl, { signaturePolicy: "require" });
  assert.equal(thing.verifiedProofs[0].signer, key.did);
  // The proof covers the hrefs as served.
  assert.ok(thing.td.actions.forecast.forms[0].href.startsWith(servient.baseUrl));
  await verifyDocument(thing.td);
  servient.setDescriptionSigner(null);
  await assert.rejects(consume(exposed.tdUrl, { signaturePolicy: "require" }), /identity_proof_missing/);
  assert.throws(() => servient.setDescriptionSigner("key"), TypeError);
  assert.throws(() => new Servient({ signDescriptions: {} }), TypeError);
});

test("verifiable credentials: issue, verify, check requirements; tampering and expiry are refused", async () => {
  const issuer = Ed25519KeyPair.generate();
  const member = Ed25519KeyPair.generate();
  const credential = issueCredential(issuer, {
    type: "AgentGroupMembership",
    subject: member.did,
    claims: { group: "travel" },
    validUntil: "2999-01-01T00:00:00Z",
  });
  assert.deepEqual(credential.type, ["VerifiableCredential", "AgentGroupMembership"]);
  assert.equal(credential.issuer, issuer.did);
  assert.equal(credential.credentialSubject.group, "travel");

  const verified = await verifyCredential(credential);
  assert.equal(verified.issuer, issuer.did);
  assert.deepEqual(verified.subjects, [member.did]);
  assert.ok(verified.types.includes("AgentGroupMembership"));
  assert.equal(verified.validUntil, "2999-01-01T00:00:00Z");

  const requirement = { type: "AgentGroupMembership", issuer: issuer.did };
  checkCredentials([requirement], member.did, [verified]);
  assert.throws(() => checkCredentials(requirement, issuer.did, [verified]), (error) => {
    isCode("identity_credential_required")(error);
    assert.equal(error.credentialType, "AgentGroupMembership");
    assert.equal(error.issuer, issuer.did);
    return true;
  });
  assert.throws(() => checkCredentials([{ type: "Admin", issuer: issuer.did }], member.did, [verified]), isCode("identity_credential_required"));
  assert.deepEqual(requiredCredentials({ "lmos:requiredCredentials": requirement }), [requirement]);
  assert.deepEqual(requiredCredentials({ title: "open" }), []);

  const tampered = structuredClone(credential);
  tampered.credentialSubject.group = "admins";
  await assert.rejects(verifyCredential(tampered), isCode("identity_signature_invalid"));
  await assert.rejects(verifyCredential(credential, { now: new Date("3000-01-01T00:00:00Z") }), isCode("identity_credential_not_valid"));
  assert.throws(() => issueCredential(issuer, { subject: "not a did" }), isCode("identity_invalid_credential"));
  assert.throws(() => issueCredential(issuer, { subject: member.did, validUntil: "tomorrow" }), isCode("identity_invalid_credential"));
});

test("DID-auth: a token minted in Node is verified once, for its audience, with its credentials", async () => {
  const owner = Ed25519KeyPair.generate();
  const caller = Ed25519KeyPair.generate();
  const membership = issueCredential(owner, { type: "AgentGroupMembership", subject: caller.did });
  const td = { ...weatherTd(), securityDefinitions: { did_auth: didAuthSecurityScheme() }, security: "did_auth" };
  td.actions.forecast.forms = [{ href: "http://127.0.0.1:1/weather/actions/forecast" }];
  assert.equal(didAuthSecurityScheme().scheme, "bearer");
  assert.equal(didAuthSecurityScheme()["lmos:didAuth"], true);
  const audience = didAuthAudience(td, "http://127.0.0.1:1/weather");
  assert.equal(audience, "urn:example:signed-weather");

  const token = mintDidAuth(caller, audience, { lifetimeSeconds: 60, credentials: [membership] });
  assert.equal(token.split(".").length, 3);
  const verifier = new DidAuthVerifier();
  const verified = await verifier.verify(`Bearer ${token}`, audience);
  assert.equal(verified.did, caller.did);
  assert.equal(verified.keyId, caller.keyId);
  assert.ok(verified.expiresAt > Date.now() / 1000);
  assert.equal(verified.credentials[0].issuer, owner.did);
  checkCredentials([{ type: "AgentGroupMembership", issuer: owner.did }], verified.did, verified.credentials);

  await assert.rejects(verifier.verify(token, audience), (error) => {
    isCode("identity_token_replayed")(error);
    assert.ok(!error.message.includes(token));
    return true;
  });
  const other = mintDidAuth(caller, "urn:example:someone-else");
  await assert.rejects(verifier.verify(other, audience), isCode("identity_wrong_audience"));
  const [header, , signature] = token.split(".");
  const forgedClaims = Buffer.from(JSON.stringify({ iss: owner.did, aud: audience })).toString("base64url");
  await assert.rejects(verifier.verify(`${header}.${forgedClaims}.${signature}`, audience), IdentityError);
  await assert.rejects(verifier.verify("not.a.token", audience), isCode("identity_invalid_token"));
  assert.throws(() => mintDidAuth(caller, audience, { lifetimeSeconds: 0 }), TypeError);
  assert.throws(() => new DidAuthVerifier({ maxLifetime: 5 }), /unknown verifier option maxLifetime/);
});
