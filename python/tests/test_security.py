"""TD security from Python: a Python servient exposing things that declare basic, bearer (HS256
JWTs minted here with a real secret), apikey and combo security, called over real loopback
sockets by HTTP and WebSocket with right, wrong, missing and expired credentials; TLS serving
with a certificate made here (``openssl``) and consumed with ``extra_ca_pem``; the Rust ``lmos``
client calling a protected Python thing; and configuration mistakes that must never quote a
secret."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lmos

PASSWORD = "pw-" + secrets.token_hex(8)
HMAC_SECRET = "hs-" + secrets.token_hex(16)
API_KEY = "key-" + secrets.token_hex(8)
AUDIENCE = "urn:test:bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any], secret: str = HMAC_SECRET) -> str:
    """An HS256 JWT (RFC 7519) signed with ``secret``."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64url(signature.digest())}"


def token(**overrides: Any) -> str:
    claims: dict[str, Any] = {"sub": "agent-1", "aud": AUDIENCE, "exp": int(time.time()) + 600}
    claims.update(overrides)
    return jwt(claims)


GOOD_TOKEN = token()
EXPIRED_TOKEN = token(exp=int(time.time()) - 3600)
WRONG_AUDIENCE_TOKEN = token(aud="urn:test:other")
FORGED_TOKEN = jwt({"sub": "agent-1", "aud": AUDIENCE, "exp": int(time.time()) + 600}, "forged")

SCHEMES: dict[str, dict[str, Any]] = {
    "basic_sc": {"scheme": "basic", "in": "header"},
    "bearer_sc": {"scheme": "bearer", "format": "jwt", "alg": "HS256", "in": "header"},
    "apikey_sc": {"scheme": "apikey", "in": "header", "name": "X-API-Key"},
    # The TD default: the key travels in the query (`api_key`).
    "query_sc": {"scheme": "apikey"},
    "both_sc": {"scheme": "combo", "allOf": ["bearer_sc", "apikey_sc"]},
    "either_sc": {"scheme": "combo", "oneOf": ["basic_sc", "apikey_sc"]},
}

SECURITY: dict[str, Any] = {
    "basic": {"alice": PASSWORD},
    "bearer": {"hmac_secret": HMAC_SECRET, "audience": AUDIENCE},
    "api_keys": [API_KEY],
}

EVERY_SECRET = [PASSWORD, HMAC_SECRET, API_KEY, GOOD_TOKEN, EXPIRED_TOKEN, FORGED_TOKEN]


def protected_td(slug: str, security: str) -> dict[str, Any]:
    td = (
        lmos.thing(slug)
        .id(f"urn:test:{slug}")
        .property("secret", {"type": "string"}, read_only=True)
        .action("echo", input={"type": "string"}, output={"type": "string"})
        .build()
    )
    td["securityDefinitions"] = dict(SCHEMES)
    td["security"] = [security]
    return td


async def serve(**options: Any) -> tuple[lmos.Servient, dict[str, str]]:
    """A started servient (HTTP and WebSocket on one port) with one thing per scheme; the TD URLs
    by scheme."""
    servient = lmos.Servient(http_port=0, security=SECURITY, **options)
    urls: dict[str, str] = {}
    for slug, scheme in [
        ("basic", "basic_sc"),
        ("bearer", "bearer_sc"),
        ("apikey", "apikey_sc"),
        ("query", "query_sc"),
        ("both", "both_sc"),
        ("either", "either_sc"),
    ]:
        exposed = servient.expose(protected_td(slug, scheme))
        exposed.set_property("secret", f"the {slug} secret")

        async def echo(text: str) -> str:
            return text

        exposed.on_action("echo", echo)
    await servient.start()
    for exposed in servient.things():
        urls[exposed.slug] = exposed.td_url or ""
    return servient, urls


def assert_no_secret(error: BaseException) -> None:
    text = f"{error} {error!r} {getattr(error, 'detail', '')} {getattr(error, 'problem', '')}"
    for secret in EVERY_SECRET:
        assert secret not in text, text


TRANSPORTS = {
    "http": {"protocols": ["http"], "only_protocols": True},
    "ws": {"protocols": ["ws"], "only_protocols": True},
}


async def call(
    url: str, transport: str, credentials: dict[str, Any] | None, extra_ca_pem: str | None = None
) -> str:
    """Reads ``secret`` and invokes ``echo`` on the thing at ``url``; the property value."""
    thing = await lmos.consume(
        url, credentials=credentials, extra_ca_pem=extra_ca_pem, **TRANSPORTS[transport]
    )
    value = await thing.read_property("secret")
    assert await thing.invoke_action("echo", "hello") == "hello"
    return str(value)


def by_id(slug: str, credentials: dict[str, Any]) -> dict[str, Any]:
    return {f"urn:test:{slug}": credentials}


RIGHT: dict[str, dict[str, Any]] = {
    "basic": {"basic": {"username": "alice", "password": PASSWORD}},
    "bearer": {"bearer": GOOD_TOKEN},
    "apikey": {"api_key": API_KEY},
    "query": {"api_key": API_KEY},
    "both": {"bearer": GOOD_TOKEN, "api_key": API_KEY},
    "either": {"api_key": API_KEY},
}

WRONG: dict[str, list[dict[str, Any]]] = {
    "basic": [
        {"basic": {"username": "alice", "password": "not-" + PASSWORD}},
        {"basic": {"username": "mallory", "password": PASSWORD}},
        {"bearer": GOOD_TOKEN},
    ],
    "bearer": [
        {"bearer": EXPIRED_TOKEN},
        {"bearer": FORGED_TOKEN},
        {"bearer": WRONG_AUDIENCE_TOKEN},
        {"bearer": "not.a.jwt"},
        {"api_key": API_KEY},
    ],
    "apikey": [{"api_key": "not-" + API_KEY}, {"bearer": GOOD_TOKEN}],
    "query": [
        {"api_key": "not-" + API_KEY},
        {"basic": {"username": "alice", "password": PASSWORD}},
    ],
    "both": [
        {"bearer": GOOD_TOKEN},
        {"api_key": API_KEY},
        {"bearer": EXPIRED_TOKEN, "api_key": API_KEY},
        {"bearer": GOOD_TOKEN, "api_key": "not-" + API_KEY},
    ],
    "either": [
        {"basic": {"username": "alice", "password": "wrong"}},
        {"api_key": "wrong"},
        {"bearer": GOOD_TOKEN},
    ],
}


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_right_credentials_get_through_and_no_wrong_or_missing_one_does(
    transport: str,
) -> None:
    servient, urls = await serve()
    async with servient:
        for slug, right in RIGHT.items():
            assert await call(urls[slug], transport, by_id(slug, right)) == f"the {slug} secret"
            # The TD itself stays public, so a consumer can learn what to present.
            public = await lmos.consume(urls[slug])
            assert public.td["security"]
            with pytest.raises(lmos.Unauthorized) as missing:
                await call(urls[slug], transport, None)
            assert missing.value.status == 401
            assert isinstance(missing.value, lmos.RemoteError)
            for wrong in WRONG[slug]:
                with pytest.raises(lmos.Unauthorized) as refused:
                    await call(urls[slug], transport, by_id(slug, wrong))
                assert refused.value.status == 401, (slug, wrong)
                assert refused.value.code == "remote_error"
                assert_no_secret(refused.value)
        # The oneOf combo also takes its other alternative.
        basic = RIGHT["basic"]
        assert await call(urls["either"], transport, by_id("either", basic)) == "the either secret"


async def test_credentials_found_by_origin_and_sent_only_where_declared() -> None:
    servient, urls = await serve()
    async with servient:
        host, port = servient.http_address or ("", 0)
        origin = f"http://{host}:{port}"
        everything = {
            origin: {
                "basic": {"username": "alice", "password": PASSWORD},
                "bearer": GOOD_TOKEN,
                "api_key": API_KEY,
            }
        }
        for slug in RIGHT:
            for transport in TRANSPORTS:
                assert await call(urls[slug], transport, everything) == f"the {slug} secret"
        # An entry for another origin is not used.
        elsewhere = {"http://127.0.0.1:1": everything[origin]}
        with pytest.raises(lmos.Unauthorized):
            await call(urls["apikey"], "http", elsewhere)


async def test_transport_errors_do_not_carry_a_key_sent_in_the_query() -> None:
    # A servient no one has connected to over WebSocket yet, stopped: new connections are
    # refused, and the URL in the error (whose query carries the key) is cut.
    servient, urls = await serve()
    async with servient:
        td = (await lmos.consume(urls["query"])).td
    for transport in TRANSPORTS:
        thing = lmos.ConsumedThing(
            td, credentials=by_id("query", RIGHT["query"]), **TRANSPORTS[transport]
        )
        with pytest.raises(lmos.TransportError) as failed:
            await thing.read_property("secret")
        assert failed.value.code == "transport", failed.value.code
        assert API_KEY not in f"{failed.value} {failed.value!r}", str(failed.value)


async def test_a_token_without_the_scope_a_form_needs_is_forbidden() -> None:
    td = protected_td("scoped", "oauth2_sc")
    td["securityDefinitions"]["oauth2_sc"] = {
        "scheme": "oauth2",
        "flow": "client",
        "token": "https://issuer.example/token",
        "scopes": ["admin", "read"],
    }
    td["actions"]["echo"]["forms"] = [{"href": "echo", "op": ["invokeaction"], "scopes": ["admin"]}]
    security = {"oauth2": {"hmac_secret": HMAC_SECRET, "audience": AUDIENCE}}
    async with lmos.Servient(http_port=0, security=security) as servient:
        exposed = servient.expose(td)
        exposed.set_property("secret", "s")

        async def echo(text: str) -> str:
            return text

        exposed.on_action("echo", echo)
        url = exposed.td_url or ""
        for transport in TRANSPORTS:
            reader = token(scope="read")
            thing = await lmos.consume(
                url, credentials=by_id("scoped", {"bearer": reader}), **TRANSPORTS[transport]
            )
            assert await thing.read_property("secret") == "s"
            with pytest.raises(lmos.Forbidden) as refused:
                await thing.invoke_action("echo", "hi")
            assert refused.value.status == 403
            assert isinstance(refused.value, lmos.RemoteError)
            assert_no_secret(refused.value)
            admin = token(scope="read admin")
            thing = await lmos.consume(
                url, credentials=by_id("scoped", {"bearer": admin}), **TRANSPORTS[transport]
            )
            assert await thing.invoke_action("echo", "hi") == "hi"


async def test_a_declared_scheme_without_configuration_is_refused_at_expose() -> None:
    servient = lmos.Servient(http_port=0, security={"basic": {"alice": PASSWORD}})
    with pytest.raises(lmos.ConfigurationError) as refused:
        servient.expose(protected_td("bearer", "bearer_sc"))
    assert "bearer" in str(refused.value)
    assert PASSWORD not in str(refused.value)
    # Without any security= the servient refuses every protected thing.
    with pytest.raises(lmos.ConfigurationError):
        lmos.Servient(http_port=0).expose(protected_td("basic", "basic_sc"))


def test_bad_security_settings_are_configuration_errors_without_the_secret() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"api_keys": "top-secret-key-1"}, "apiKeys"),
        ({"bearer": {"hmac_secret": "top-secret-key-2", "jwks_url": "https://x.example/"}}, "one"),
        ({"bearer": {"hmac_secret": 1234567}}, "hmacSecret"),
        ({"basic": "alice:top-secret-key-3"}, "basic"),
        ({"bearr": {"hmac_secret": "top-secret-key-4"}}, "bearr"),
        ({"bearer": {"hmac_secret": "top-secret-key-5", "algorithms": ["HS999"]}}, "HS999"),
    ]
    for security, named in cases:
        with pytest.raises(lmos.ConfigurationError) as refused:
            lmos.Servient(http_port=0, security=security)
        message = str(refused.value)
        assert named in message, message
        assert "top-secret" not in message and "1234567" not in message, message
        assert refused.value.code == "security_invalid_options", refused.value.code


def test_bad_credentials_and_tls_settings_are_configuration_errors() -> None:
    td = protected_td("basic", "basic_sc")
    for credentials in [
        {"urn:test:basic": {"basic": "alice:very-secret-1"}},
        {"urn:test:basic": {"basic": {"username": "alice"}}},
        {"urn:test:basic": {"bearer": ["very-secret-2"]}},
        {"urn:test:basic": {"api_kee": "very-secret-3"}},
    ]:
        with pytest.raises(lmos.ConfigurationError) as refused:
            lmos.ConsumedThing(td, credentials=credentials)
        assert "very-secret" not in str(refused.value), str(refused.value)
        assert "credentials" in str(refused.value), str(refused.value)
    with pytest.raises(lmos.ConfigurationError) as refused:
        lmos.Servient(http_port=0, tls={"cert_file": "/nonexistent/cert.pem"})
    assert "certFile and keyFile" in str(refused.value)
    with pytest.raises(lmos.ConfigurationError) as refused:
        lmos.Servient(
            http_port=0,
            tls={"cert_pem": "not a certificate", "key_pem": "very-secret-key-pem"},
        )
    assert "very-secret" not in str(refused.value), str(refused.value)
    with pytest.raises(lmos.ConfigurationError) as refused:
        lmos.Servient(http_port=0, tls={"cert_file": "/nonexistent/c.pem", "key_file": "/n/k.pem"})
    assert "/nonexistent/c.pem" in str(refused.value)


# ----- TLS ---------------------------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A CA and a server certificate for 127.0.0.1 signed by it (EC P-256), made with the
    ``openssl`` command."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=lmos test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=directory)  # fmt: skip
    (directory / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
            cwd=directory)  # fmt: skip
    yield {name: directory / f"{name}" for name in ["ca.pem", "server.pem", "server.key"]}


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_tls_serving_and_consuming_with_an_extra_ca(
    certificate: dict[str, Path], transport: str
) -> None:
    tls = {"cert_file": str(certificate["server.pem"]), "key_file": str(certificate["server.key"])}
    servient, urls = await serve(tls=tls)
    async with servient:
        url = urls["bearer"]
        assert url.startswith("https://127.0.0.1:"), url
        ca = certificate["ca.pem"].read_text()
        thing = await lmos.consume(
            url, extra_ca_pem=ca, credentials=by_id("bearer", RIGHT["bearer"])
        )
        hrefs = [f["href"] for f in thing.td["properties"]["secret"]["forms"]]
        assert any(h.startswith("https://") for h in hrefs), hrefs
        assert any(h.startswith("wss://") for h in hrefs), hrefs
        for slug in ["bearer", "both"]:
            value = await call(urls[slug], transport, by_id(slug, RIGHT[slug]), ca)
            assert value == f"the {slug} secret"
        # The test CA is not among the platform's roots: certificates are always verified.
        with pytest.raises(lmos.TransportError):
            await lmos.consume(url)
        with pytest.raises(lmos.Unauthorized):
            secured = await lmos.consume(url, extra_ca_pem=ca, **TRANSPORTS[transport])
            await secured.read_property("secret")


async def test_tls_from_pem_text(certificate: dict[str, Path]) -> None:
    tls = {
        "cert_pem": certificate["server.pem"].read_text(),
        "key_pem": certificate["server.key"].read_text(),
    }
    servient, urls = await serve(tls=tls)
    async with servient:
        ca = certificate["ca.pem"].read_text()
        for transport in TRANSPORTS:
            value = await call(urls["apikey"], transport, by_id("apikey", RIGHT["apikey"]), ca)
            assert value == "the apikey secret"


# ----- the Rust client ---------------------------------------------------------------------------


async def run_cli(cli: Path, *args: str) -> tuple[int, str, str]:
    """Runs the ``lmos`` CLI without blocking the event loop the servient's handlers run on."""
    process = await asyncio.create_subprocess_exec(
        str(cli), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_rust_client_calls_a_protected_python_thing_over_tls(
    lmos_cli: Path, certificate: dict[str, Path]
) -> None:
    tls = {"cert_file": str(certificate["server.pem"]), "key_file": str(certificate["server.key"])}
    servient, urls = await serve(tls=tls)
    async with servient:
        ca = str(certificate["ca.pem"])
        url = urls["bearer"]
        code, out, err = await run_cli(lmos_cli, "read", url, "secret", "--cacert", ca,
                                       "--token", GOOD_TOKEN)  # fmt: skip
        assert code == 0, err
        assert json.loads(out) == "the bearer secret"
        code, out, err = await run_cli(lmos_cli, "call", urls["both"], "echo", '"hi"',
                                       "--cacert", ca, "--credential", f"bearer={GOOD_TOKEN}",
                                       "--credential", f"apikey={API_KEY}")  # fmt: skip
        assert code == 0, err
        assert json.loads(out.splitlines()[-1]) in ("hi", {"output": "hi"})
        code, out, err = await run_cli(lmos_cli, "read", url, "secret", "--cacert", ca,
                                       "--token", EXPIRED_TOKEN)  # fmt: skip
        assert code != 0 and "401" in err, err
        assert EXPIRED_TOKEN not in err and EXPIRED_TOKEN not in out
        code, out, err = await run_cli(lmos_cli, "read", url, "secret", "--token", GOOD_TOKEN)
        assert code != 0, out
        assert GOOD_TOKEN not in err


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_the_handler_learns_who_the_caller_is(transport: str) -> None:
    servient = lmos.Servient(http_port=0, security=SECURITY)
    urls = {}
    for slug, scheme in [("basic", "basic_sc"), ("bearer", "bearer_sc")]:
        td = (
            lmos.thing(slug)
            .id(f"urn:test:{slug}")
            .action("whoami", output={"type": "object"})
            .build()
        )
        td["securityDefinitions"] = dict(SCHEMES)
        td["security"] = [scheme]
        exposed = servient.expose(td)

        async def whoami(_input: Any, context: lmos.InteractionContext) -> Any:
            return context.principal

        exposed.on_action("whoami", whoami)
    open_thing = servient.expose(lmos.thing("open").action("whoami", output={}).build())

    async def anonymous(_input: Any, context: lmos.InteractionContext) -> Any:
        return {"principal": context.principal}

    open_thing.on_action("whoami", anonymous)
    await servient.start()
    async with servient:
        for exposed in servient.things():
            urls[exposed.slug] = exposed.td_url or ""
        basic = await lmos.consume(
            urls["basic"], credentials=by_id("basic", RIGHT["basic"]), **TRANSPORTS[transport]
        )
        seen = await basic.invoke_action("whoami")
        assert seen["scheme"] == "basic_sc"
        assert seen["subject"] == "alice"
        assert seen["did"] is None
        bearer = await lmos.consume(
            urls["bearer"], credentials=by_id("bearer", RIGHT["bearer"]), **TRANSPORTS[transport]
        )
        seen = await bearer.invoke_action("whoami")
        assert seen["scheme"] == "bearer_sc"
        assert seen["subject"] == "agent-1"
        assert PASSWORD not in json.dumps(seen) and GOOD_TOKEN not in json.dumps(seen)
        anonymous_caller = await lmos.consume(urls["open"], **TRANSPORTS[transport])
        assert await anonymous_caller.invoke_action("whoami") == {"principal": None}


DID_THING = "urn:test:did-secured"


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_did_auth_from_python(transport: str) -> None:
    """DID-authenticated calls: the servient verifies a token signed by the caller's DID key
    (``did:key`` here), the consumer mints a fresh one from its key, the handler sees the DID;
    missing, foreign-audience and replayed tokens are refused."""
    servient = lmos.Servient(http_port=0, security={"did_auth": {}})
    td = lmos.tool("didsecured").id(DID_THING).action("whoami", output={"type": "object"}).build()
    td["securityDefinitions"] = {"did_sc": lmos.did_auth_security_scheme()}
    td["security"] = ["did_sc"]
    exposed = servient.expose(td)

    async def whoami(_input: Any, context: lmos.InteractionContext) -> Any:
        return context.principal

    exposed.on_action("whoami", whoami)
    await servient.start()
    async with servient:
        url = exposed.td_url or ""
        caller = lmos.Ed25519KeyPair.generate()
        credentials = {DID_THING: {"did_auth": {"key": json.loads(caller.private_jwk())}}}
        thing = await lmos.consume(url, credentials=credentials, **TRANSPORTS[transport])
        for _ in range(2):  # a fresh token per request (HTTP) or per connection (WebSocket)
            seen = await thing.invoke_action("whoami")
            assert seen["did"] == caller.did, seen
        with pytest.raises(lmos.Unauthorized):
            bare = await lmos.consume(url, **TRANSPORTS[transport])
            await bare.invoke_action("whoami")
        foreign = lmos.mint_did_auth(caller, "urn:test:another-thing")
        with pytest.raises(lmos.Unauthorized) as refused:
            wrong = await lmos.consume(
                url, credentials={DID_THING: {"bearer": foreign}}, **TRANSPORTS[transport]
            )
            await wrong.invoke_action("whoami")
        assert foreign not in str(refused.value)
        if transport == "http":
            # One token, sent twice: the second use is a replay.
            once = lmos.mint_did_auth(caller, DID_THING)
            replayer = await lmos.consume(
                url, credentials={DID_THING: {"bearer": once}}, **TRANSPORTS[transport]
            )
            assert (await replayer.invoke_action("whoami"))["did"] == caller.did
            with pytest.raises(lmos.Unauthorized):
                await replayer.invoke_action("whoami")
