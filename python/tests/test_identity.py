"""Identity from Python: keys, DIDs, signed documents (checked against the Rust CLI both ways),
tampering, a did:web agent served by a Python servient, the consume signature policy,
credentials and DID-auth tokens. Real keys, real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

import lmos


def weather_td() -> dict[str, Any]:
    return {
        "@context": [
            "https://www.w3.org/2022/wot/td/v1.1",
            {"lmos": "https://eclipse.dev/lmos/protocol/v1"},
        ],
        "@type": "lmos:Agent",
        "id": "urn:example:signed-weather",
        "title": "Signed Weather",
        "description": "Weather, signed",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {
            "temperature": {
                "type": "number",
                "readOnly": True,
                "forms": [{"href": "http://127.0.0.1:9/weather/properties/temperature"}],
            }
        },
    }


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=60)


# ----- keys -------------------------------------------------------------------------------------


def test_keys_round_trip_and_never_show_the_secret(tmp_path: Path) -> None:
    key = lmos.Ed25519KeyPair.generate()
    secret = key.secret_multibase()
    jwk = json.loads(key.private_jwk())
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
    for shown in (repr(key), str(key), f"{key}"):
        assert secret not in shown and jwk["d"] not in shown
        assert "redacted" in shown
        assert key.public_key.multibase in shown

    path = tmp_path / "agent.jwk"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = lmos.Ed25519KeyPair.load(path)
    assert loaded.public_key == key.public_key
    assert lmos.Ed25519KeyPair.from_jwk(jwk).public_key == key.public_key
    assert lmos.Ed25519KeyPair.from_jwk(key.private_jwk()).did == key.did
    assert lmos.Ed25519KeyPair.from_multibase(secret).public_key == key.public_key
    assert lmos.PublicKey.from_jwk(key.public_key.jwk) == key.public_key
    assert lmos.PublicKey.from_multibase(key.public_key.multibase) == key.public_key
    assert len(key.public_key.raw) == 32

    # Deterministic from a seed (RFC 8032 test 1).
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    fixed = lmos.Ed25519KeyPair.from_seed(seed)
    assert fixed.public_key.raw.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    signature = fixed.sign(b"")
    assert signature.hex().startswith("e5564300c360ac72")
    fixed.public_key.verify(b"", signature)
    with pytest.raises(lmos.SignatureInvalid):
        fixed.public_key.verify(b"x", signature)

    named = key.with_key_id("did:web:example.com#key-1")
    assert named.key_id == "did:web:example.com#key-1"
    assert named.did == "did:web:example.com"
    assert key.key_id.startswith("did:key:z6Mk")  # the original is unchanged


def test_bad_keys_give_clear_errors_without_echoing_input(tmp_path: Path) -> None:
    with pytest.raises(lmos.InvalidKey) as rsa:
        lmos.Ed25519KeyPair.from_jwk({"kty": "RSA", "n": "abc", "e": "AQAB"})
    assert rsa.value.code == "identity_invalid_key"
    secretish = "z3u2NotARealKeyButLooksSecret"
    with pytest.raises(lmos.InvalidKey) as bad:
        lmos.Ed25519KeyPair.from_multibase(secretish)
    assert secretish not in str(bad.value)
    other = lmos.Ed25519KeyPair.generate()
    mismatched = json.loads(lmos.Ed25519KeyPair.generate().private_jwk())
    mismatched["x"] = other.public_key.jwk["x"]
    with pytest.raises(lmos.InvalidKey, match="not the public key"):
        lmos.Ed25519KeyPair.from_jwk(mismatched)
    with pytest.raises(lmos.KeyFileError) as missing:
        lmos.Ed25519KeyPair.load(tmp_path / "nothing.jwk")
    assert missing.value.path.endswith("nothing.jwk")
    with pytest.raises(ValueError, match="32 bytes"):
        lmos.Ed25519KeyPair.from_seed(b"short")
    with pytest.raises(ValueError, match="JSON"):
        lmos.Ed25519KeyPair.from_jwk("{not json")


# ----- DIDs -------------------------------------------------------------------------------------


async def test_did_key_create_and_resolve() -> None:
    key = lmos.generate_key()
    assert key.did.startswith("did:key:z6Mk")
    assert key.did == key.public_key.did_key
    document = lmos.resolve_did_key(key.did)
    assert document["id"] == key.did
    assert await lmos.resolve_did(key.did) == document
    assert lmos.PublicKey.from_did_key(key.did) == key.public_key
    method = document["verificationMethod"][0]
    assert method["publicKeyMultibase"] == key.public_key.multibase

    with pytest.raises(lmos.UnsupportedDidMethod):
        await lmos.resolve_did("did:example:123")
    with pytest.raises(lmos.IdentityError) as bad:
        lmos.resolve_did_key("did:key:zNotAKey")
    assert bad.value.code.startswith("identity_")
    assert lmos.did_web_for_url("http://127.0.0.1:8080/agents/x/") == (
        "did:web:127.0.0.1%3A8080:agents:x"
    )
    assert lmos.did_web_document_url("did:web:example.com") == (
        "https://example.com/.well-known/did.json"
    )
    assert lmos.did_web_document_url(
        "did:web:127.0.0.1%3A8080", allow_http_loopback=True
    ).startswith("http://127.0.0.1:8080/")
    with pytest.raises(lmos.InvalidDid):
        lmos.did_web_document_url("did:web:")


# ----- signatures -------------------------------------------------------------------------------


async def test_sign_verify_and_detect_tampering() -> None:
    key = lmos.generate_key()
    td = weather_td()
    signed = lmos.sign_document(td, key)
    assert "proof" not in td, "the input is not changed"
    proof = signed["proof"]
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["verificationMethod"] == key.key_id
    [verified] = await lmos.verify_document(signed)
    assert verified.signer == key.did
    assert verified.purpose == "assertionMethod"

    # Member order does not matter (JCS).
    reordered = dict(reversed(list(signed.items())))
    await lmos.verify_document(reordered)

    for tamper in (
        lambda d: d.__setitem__("title", "Evil Weather"),
        lambda d: d["properties"]["temperature"]["forms"][0].__setitem__("href", "http://evil/"),
        lambda d: d.__setitem__("extra", 1),
        lambda d: d.pop("description"),
        lambda d: d["proof"].__setitem__("created", "2020-01-01T00:00:00Z"),
    ):
        changed = copy.deepcopy(signed)
        tamper(changed)
        with pytest.raises(lmos.IdentityError) as refused:
            await lmos.verify_document(changed)
        assert refused.value.code in ("identity_signature_invalid", "identity_invalid_proof")

    with pytest.raises(lmos.ProofMissing):
        await lmos.verify_document(td)
    broken = copy.deepcopy(signed)
    broken["proof"]["proofValue"] = "zzz"
    with pytest.raises(lmos.IdentityError):
        await lmos.verify_document(broken)

    # A second signer makes a proof set; both verify.
    other = lmos.generate_key()
    both = lmos.sign_document(signed, other)
    assert len(both["proof"]) == 2
    assert {p.signer for p in await lmos.verify_document(both)} == {key.did, other.did}

    with pytest.raises(ValueError, match="proof purpose"):
        lmos.sign_document(td, key, proof_purpose="sightseeing")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lmos.sign_document(["not", "an", "object"], key)  # type: ignore[arg-type]


def test_signed_in_python_verifies_with_the_cli_and_back(lmos_cli: Path, tmp_path: Path) -> None:
    key = lmos.generate_key()
    key_file = tmp_path / "key.jwk"
    key.save(key_file)

    signed_file = tmp_path / "signed-by-python.json"
    signed_file.write_text(json.dumps(lmos.sign_document(weather_td(), key)))
    verified = run_cli(lmos_cli, "verify", str(signed_file))
    assert verified.returncode == 0, verified.stderr
    assert key.did in verified.stdout + verified.stderr

    tampered = json.loads(signed_file.read_text())
    tampered["title"] = "Evil Weather"
    tampered_file = tmp_path / "tampered.json"
    tampered_file.write_text(json.dumps(tampered))
    refused = run_cli(lmos_cli, "verify", str(tampered_file))
    assert refused.returncode != 0

    # The CLI signs with the key Python saved; Python verifies.
    unsigned_file = tmp_path / "unsigned.json"
    unsigned_file.write_text(json.dumps(weather_td()))
    signed = run_cli(lmos_cli, "sign", str(unsigned_file), "--key", str(key_file))
    assert signed.returncode == 0, signed.stderr
    document = json.loads(signed.stdout)
    assert document["proof"]["verificationMethod"] == key.key_id
    [proof] = asyncio.run(lmos.verify_document(document))
    assert proof.signer == key.did
    document["description"] = "changed"
    with pytest.raises(lmos.SignatureInvalid):
        asyncio.run(lmos.verify_document(document))

    # A key made by the CLI loads in Python.
    cli_key_file = tmp_path / "cli.jwk"
    made = run_cli(lmos_cli, "did", "new", "--out", str(cli_key_file))
    assert made.returncode == 0, made.stderr
    cli_key = lmos.Ed25519KeyPair.load(cli_key_file)
    assert cli_key.did in made.stdout


# ----- did:web, signed TDs, the consume policy --------------------------------------------------


async def test_a_did_web_agent_served_by_python(lmos_cli: Path) -> None:
    async with lmos.Servient(http_port=0) as servient:
        agent = servient.expose(
            lmos.agent("Signed Weather")
            .description("Weather, signed by its did:web")
            .property("temperature", {"type": "number"}, read_only=True)
        )
        agent.set_property("temperature", 21.5)
        assert servient.base_url is not None and agent.td_url is not None
        did = lmos.did_web_for_url(servient.base_url)
        key = lmos.generate_key().with_key_id(f"{did}#key-1")
        servient.serve_did_document(lmos.did_document(did, key.public_key, agent.td_url))

        # Unsigned so far: the default policy accepts it, "require" refuses it.
        plain = await lmos.consume(agent.td_url)
        assert plain.verified_proofs == []
        with pytest.raises(lmos.InvalidThingDescription, match="identity_proof_missing"):
            await lmos.consume(agent.td_url, signature_policy="require")

        servient.set_description_signer(key)
        resolver = lmos.DidResolver(allow_http_loopback=True)
        document = await lmos.resolve_did(did, resolver)
        assert document["id"] == did
        assert lmos.thing_description_urls(document) == [agent.td_url]
        with pytest.raises(lmos.IdentityError):
            await lmos.resolve_did(did)  # plain http needs the loopback option

        thing = await lmos.consume(agent.td_url, signature_policy="require", did_resolver=resolver)
        [proof] = thing.verified_proofs
        assert proof.signer == did
        assert proof.verification_method == f"{did}#key-1"
        assert await thing.read_property("temperature") == 21.5
        # Without the loopback option the signer cannot be resolved: refused.
        with pytest.raises(lmos.InvalidThingDescription):
            await lmos.consume(agent.td_url, signature_policy="require")

        # The same TD, given as a dict: verified through the did:web document.
        signed_td = thing.td
        again = await lmos.consume(signed_td, signature_policy="require", did_resolver=resolver)
        assert again.verified_proofs[0].signer == did
        forged = copy.deepcopy(signed_td)
        forged["title"] = "Forged Weather"
        with pytest.raises(lmos.InvalidThingDescription, match="identity_signature_invalid"):
            await lmos.consume(forged, did_resolver=resolver)  # the default policy checks too

        cli = run_cli(lmos_cli, "verify", "--allow-http-loopback", agent.td_url)
        assert cli.returncode == 0, cli.stderr
        resolved = run_cli(lmos_cli, "did", "resolve", "--allow-http-loopback", did)
        assert resolved.returncode == 0, resolved.stderr
        assert json.loads(resolved.stdout)["id"] == did


async def test_servient_signs_with_a_did_key_from_the_start() -> None:
    key = lmos.generate_key()
    async with lmos.Servient(http_port=0, sign_descriptions=key) as servient:
        agent = servient.expose(lmos.tool("Signed Tool").description("Signs its TD"))
        assert agent.td_url is not None
        thing = await lmos.consume(agent.td_url, signature_policy="require")
        assert [p.signer for p in thing.verified_proofs] == [key.did]
        # The servient's own copy is unsigned; the served one is signed.
        assert "proof" not in agent.td
        assert "proof" in thing.td
        # did:key signers verify synchronously from a dict.
        local = lmos.ConsumedThing(thing.td, signature_policy="require")
        assert local.verified_proofs[0].signer == key.did


def test_the_consume_policy_on_dicts() -> None:
    unsigned = weather_td()
    assert lmos.ConsumedThing(unsigned).verified_proofs == []
    with pytest.raises(lmos.InvalidThingDescription, match="identity_proof_missing"):
        lmos.ConsumedThing(unsigned, signature_policy="require")
    key = lmos.generate_key()
    signed = lmos.sign_document(unsigned, key)
    assert lmos.ConsumedThing(signed, signature_policy="require").verified_proofs[0].signer == (
        key.did
    )
    tampered = copy.deepcopy(signed)
    tampered["title"] = "Other"
    with pytest.raises(lmos.InvalidThingDescription, match="identity_signature_invalid"):
        lmos.ConsumedThing(tampered)
    assert lmos.ConsumedThing(tampered, signature_policy="ignore").title == "Other"
    with pytest.raises(ValueError, match="signature policy"):
        lmos.ConsumedThing(unsigned, signature_policy="sometimes")  # type: ignore[arg-type]


# ----- credentials and DID-auth -----------------------------------------------------------------


async def test_credentials_issue_verify_require() -> None:
    issuer = lmos.generate_key()
    member = lmos.generate_key()
    credential = lmos.issue_credential(
        issuer,
        subject=member.did,
        types=["AgentGroupMembership"],
        claims={"group": "weather-agents"},
    )
    assert credential["issuer"] == issuer.did
    assert credential["credentialSubject"] == {"group": "weather-agents", "id": member.did}
    verified = await lmos.verify_credential(credential)
    assert verified.issuer == issuer.did
    assert "AgentGroupMembership" in verified.types
    assert verified.subjects == [member.did]
    assert verified.credential == credential

    lmos.check_credentials([("AgentGroupMembership", issuer.did)], member.did, [verified])
    lmos.check_credentials(
        [{"type": "AgentGroupMembership", "issuer": issuer.did}], member.did, [verified]
    )
    with pytest.raises(lmos.CredentialRequired) as missing:
        lmos.check_credentials([("AgentGroupMembership", issuer.did)], issuer.did, [verified])
    assert missing.value.credential_type == "AgentGroupMembership"
    assert missing.value.issuer == issuer.did
    with pytest.raises(lmos.CredentialRequired):
        lmos.check_credentials([("Admin", issuer.did)], member.did, [verified])

    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["id"] = issuer.did
    with pytest.raises(lmos.SignatureInvalid):
        await lmos.verify_credential(tampered)
    expired = lmos.issue_credential(
        issuer,
        subject=member.did,
        types=["AgentGroupMembership"],
        valid_from="2020-01-01T00:00:00Z",
        valid_until="2021-01-01T00:00:00Z",
    )
    with pytest.raises(lmos.CredentialNotValid):
        await lmos.verify_credential(expired)
    with pytest.raises(lmos.InvalidCredential):
        lmos.issue_credential(issuer, subject="not-a-did")
    with pytest.raises(lmos.InvalidCredential):
        lmos.issue_credential(issuer, subject=member.did, valid_until="tomorrow")

    declared = {"lmos:requiredCredentials": [{"type": "AgentGroupMembership", "issuer": "did:x"}]}
    assert lmos.required_credentials(declared) == [
        {"type": "AgentGroupMembership", "issuer": "did:x"}
    ]
    assert lmos.required_credentials({}) == []
    with pytest.raises(lmos.InvalidCredential):
        lmos.required_credentials({"lmos:requiredCredentials": 3})


async def test_did_auth_tokens() -> None:
    group = lmos.generate_key()
    caller = lmos.generate_key()
    membership = lmos.issue_credential(group, subject=caller.did, types=["AgentGroupMembership"])
    audience = "urn:example:signed-weather"
    token = lmos.mint_did_auth(caller, audience, credentials=[membership])
    assert token.count(".") == 2

    verifier = lmos.DidAuthVerifier()
    who = await verifier.verify(f"Bearer {token}", audience)
    assert who.did == caller.did
    assert who.key_id == caller.key_id
    assert who.holds("AgentGroupMembership", group.did)
    assert not who.holds("AgentGroupMembership", caller.did)
    who.require([("AgentGroupMembership", group.did)])
    with pytest.raises(lmos.CredentialRequired):
        who.require([{"type": "Admin", "issuer": group.did}])
    assert [c.issuer for c in who.credentials] == [group.did]
    assert verifier.remembered == 1

    with pytest.raises(lmos.TokenReplayed) as replayed:
        await verifier.verify(token, audience)
    assert token not in str(replayed.value)
    other = lmos.mint_did_auth(caller, audience)
    with pytest.raises(lmos.WrongAudience) as wrong:
        await verifier.verify(other, "urn:example:someone-else")
    assert wrong.value.expected == "urn:example:someone-else"
    # A token refused for its audience is not used up.
    assert (await verifier.verify(other, audience)).did == caller.did
    with pytest.raises(lmos.InvalidToken) as garbage:
        await verifier.verify("eyJub3QiOiJhIHRva2VuIn0.e30.c2ln", audience)
    assert "c2ln" not in str(garbage.value)
    forged = token.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]
    with pytest.raises(lmos.IdentityError) as bad_signature:
        await lmos.DidAuthVerifier().verify(forged, audience)
    assert bad_signature.value.code == "identity_signature_invalid"

    scheme = lmos.did_auth_security_scheme()
    assert scheme["scheme"] == "bearer" and scheme["lmos:didAuth"] is True
