// Compiled (never run) by types.test.mjs with `tsc --noEmit --strict`: discovery and identity as
// a TypeScript user writes them.
import {
  agent,
  consume,
  Servient,
  DirectoryServer,
  DirectoryClient,
  DirectoryNotFound,
  DirectoryError,
  IdentityError,
  Ed25519KeyPair,
  resolveDid,
  didWebForUrl,
  didDocumentForAgent,
  signDocument,
  verifyDocument,
  issueCredential,
  verifyCredential,
  checkCredentials,
  mintDidAuth,
  DidAuthVerifier,
  type DirectoryEvent,
  type DirectoryRegistration,
  type RegisteredThing,
  type DidDocument,
  type VerifiedProof,
  type VerifiedCredential,
  type VerifiedCaller,
  type SignaturePolicy,
} from "lmos";

export async function discovery(): Promise<string[]> {
  const server: DirectoryServer = await DirectoryServer.start({ db: "sqlite:/tmp/x.db", port: 0 });
  const client: DirectoryClient = server.client();
  const id: string = await client.register(agent("A").action("a", {}), { ttl: 10 });
  const found: RegisteredThing[] = await client.findText("a");
  const ttl: number | undefined = found[0]?.registration?.ttl;
  await client.search({ type: ["lmos:Agent"], vendor: "v", text: "t", offset: 0, limit: 5 });
  for await (const event of client.watch({ kind: "created", diff: true, lastEventId: "0" })) {
    const e: DirectoryEvent = event;
    if (e.kind === "deleted") break;
  }
  const servient = new Servient({ httpPort: 0, signDescriptions: Ed25519KeyPair.generate() });
  const exposed = servient.expose(agent("B"));
  await servient.start();
  const registration: DirectoryRegistration = await exposed.register(client, 30);
  const active: boolean = registration.active;
  await registration.deregister();
  try {
    await client.get(id);
  } catch (error) {
    if (error instanceof DirectoryNotFound) console.log(error.id);
    if (error instanceof DirectoryError) console.log(error.status, error.code);
  }
  await servient.close();
  await server.close();
  return [id, String(ttl), String(active)];
}

export async function identity(): Promise<VerifiedCaller> {
  const key = Ed25519KeyPair.generate().withKeyId("did:web:example.com#key-1");
  const secret: string = key.toSecretMultibase();
  const again: Ed25519KeyPair = Ed25519KeyPair.fromMultibase(secret);
  const document: DidDocument = didDocumentForAgent(didWebForUrl("https://example.com/"), again, "https://example.com/td");
  const resolved: DidDocument = await resolveDid(key.did, { allowHttpLoopback: true, pinned: [document] });
  const signed = signDocument({ title: "T", n: 1 }, key, { proofPurpose: "assertionMethod" });
  const n: number = signed.n;
  const proofs: VerifiedProof[] = await verifyDocument(signed, { pinned: [resolved] });
  const policy: SignaturePolicy = "require";
  const thing = await consume("http://127.0.0.1:1/t", { signaturePolicy: policy, didResolver: { allowHttpLoopback: true } });
  const signers: string[] = thing.verifiedProofs.map((p) => p.signer);
  const vc = issueCredential(key, { type: "Member", subject: key.did, claims: { n } });
  const verified: VerifiedCredential = await verifyCredential(vc, { now: new Date() });
  checkCredentials({ type: "Member", issuer: key.did }, key.did, [verified]);
  const token: string = mintDidAuth(key, "urn:x", { lifetimeSeconds: 60, credentials: [vc] });
  try {
    return await new DidAuthVerifier({ resolver: { allowHttpLoopback: true }, leewaySeconds: 5 }).verify(token, "urn:x");
  } catch (error) {
    if (error instanceof IdentityError) console.log(error.code, proofs.length, signers);
    throw error;
  }
}
