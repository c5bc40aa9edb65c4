"""lmos: publish, discover and call AI agents and tools through the LMOS Protocol.

Thing Descriptions and payloads are plain ``dict``/``list`` values. Every network call is a
coroutine on the caller's running event loop; streams are ``async for`` iterators. Every error
lmos raises is an :class:`LmosError`; a value JSON cannot carry raises ``TypeError``.

Publish::

    async with lmos.Servient(http_port=0) as servient:
        agent = servient.expose(lmos.agent("Echo").action("echo", input={"type": "string"}))

        @agent.action("echo")
        async def echo(text):
            return text

        print(agent.td_url)
        await servient.serve_forever()

Call::

    echo = await lmos.consume("http://127.0.0.1:8080/echo")
    print(await echo.invoke_action("echo", "hello"))

Talk to a conversational agent (the ``chat`` action of the LMOS Kotlin SDK)::

    print(await lmos.chat("http://127.0.0.1:8080/weather", "What is the weather in London?"))

Find agents in a directory, and sign what you publish::

    directory = lmos.DirectoryClient("http://127.0.0.1:8081/")
    found = await directory.find_text("an agent that can tell the weather")

    key = lmos.Ed25519KeyPair.generate()
    signed = lmos.sign_document(td, key)
    proofs = await lmos.verify_document(signed)
"""

from lmos._chat import (
    agent_request,
    agent_request_schema,
    agent_result,
    agent_result_schema,
    chat,
    first_text,
)
from lmos._consume import ActionHandle, ConsumedThing, SignaturePolicy, Stream, consume
from lmos._discovery import (
    DirectoryClient,
    DirectoryEvent,
    DirectoryRegistration,
    DirectoryServer,
    DirectoryWatch,
    EventKind,
    serve_directory,
)
from lmos._identity import (
    ProofPurpose,
    Requirement,
    VerifiedProof,
    check_credentials,
    did_auth_security_scheme,
    did_document,
    did_web_document_url,
    did_web_for_url,
    generate_key,
    issue_credential,
    mint_did_auth,
    required_credentials,
    resolve_did,
    resolve_did_key,
    sign_document,
    thing_description_urls,
    verify_credential,
    verify_document,
)
from lmos._native import (
    ActionCancelled,
    ActionFailed,
    ActionFinished,
    BadRequest,
    BindError,
    Closed,
    CodecError,
    ConfigurationError,
    CredentialNotValid,
    CredentialRequired,
    DidAuthVerifier,
    DidResolutionError,
    DidResolver,
    DirectoryBadRequest,
    DirectoryConfigError,
    DirectoryError,
    DirectoryInvalidTd,
    DirectoryNotFound,
    DirectoryStatusError,
    DirectoryStoreError,
    DirectoryUnreachable,
    Ed25519KeyPair,
    Forbidden,
    HandlerFailed,
    IdentityError,
    InteractionContext,
    InvalidCredential,
    InvalidDid,
    InvalidDidDocument,
    InvalidInput,
    InvalidKey,
    InvalidOutput,
    InvalidPayload,
    InvalidProof,
    InvalidThingDescription,
    InvalidToken,
    KeyFileError,
    LmosError,
    NoForm,
    NotAllowed,
    NotFound,
    NotRegistrable,
    ProofMissing,
    PublicKey,
    RemoteError,
    SignatureInvalid,
    ThingBuilder,
    TokenExpired,
    TokenNotValid,
    TokenReplayed,
    TraceError,
    TransportError,
    Unauthorized,
    UnsupportedDidMethod,
    VerificationMethodError,
    VerifiedCaller,
    VerifiedCredential,
    WrongAudience,
    __version__,
    agent,
    check_payload,
    parse_td,
    thing,
    tool,
    validate,
)
from lmos._serve import ExposedThing, Servient, current_context
from lmos._trace import export_traces, flush_traces
from lmos._types import JSON, Output, Progress, Update

__all__ = [
    "JSON",
    "ActionCancelled",
    "ActionFailed",
    "ActionFinished",
    "ActionHandle",
    "BadRequest",
    "BindError",
    "Closed",
    "CodecError",
    "ConfigurationError",
    "ConsumedThing",
    "CredentialNotValid",
    "CredentialRequired",
    "DidAuthVerifier",
    "DidResolutionError",
    "DidResolver",
    "DirectoryBadRequest",
    "DirectoryClient",
    "DirectoryConfigError",
    "DirectoryError",
    "DirectoryEvent",
    "DirectoryInvalidTd",
    "DirectoryNotFound",
    "DirectoryRegistration",
    "DirectoryServer",
    "DirectoryStatusError",
    "DirectoryStoreError",
    "DirectoryUnreachable",
    "DirectoryWatch",
    "Ed25519KeyPair",
    "EventKind",
    "ExposedThing",
    "Forbidden",
    "HandlerFailed",
    "IdentityError",
    "InteractionContext",
    "InvalidCredential",
    "InvalidDid",
    "InvalidDidDocument",
    "InvalidInput",
    "InvalidKey",
    "InvalidOutput",
    "InvalidPayload",
    "InvalidProof",
    "InvalidThingDescription",
    "InvalidToken",
    "KeyFileError",
    "LmosError",
    "NoForm",
    "NotAllowed",
    "NotFound",
    "NotRegistrable",
    "Output",
    "Progress",
    "ProofMissing",
    "ProofPurpose",
    "PublicKey",
    "RemoteError",
    "Requirement",
    "Servient",
    "SignatureInvalid",
    "SignaturePolicy",
    "Stream",
    "ThingBuilder",
    "TokenExpired",
    "TokenNotValid",
    "TokenReplayed",
    "TraceError",
    "TransportError",
    "Unauthorized",
    "UnsupportedDidMethod",
    "Update",
    "VerificationMethodError",
    "VerifiedCaller",
    "VerifiedCredential",
    "VerifiedProof",
    "WrongAudience",
    "__version__",
    "agent",
    "agent_request",
    "agent_request_schema",
    "agent_result",
    "agent_result_schema",
    "chat",
    "check_credentials",
    "check_payload",
    "consume",
    "current_context",
    "did_auth_security_scheme",
    "did_document",
    "did_web_document_url",
    "did_web_for_url",
    "export_traces",
    "first_text",
    "flush_traces",
    "generate_key",
    "issue_credential",
    "mint_did_auth",
    "parse_td",
    "required_credentials",
    "resolve_did",
    "resolve_did_key",
    "serve_directory",
    "sign_document",
    "thing",
    "thing_description_urls",
    "tool",
    "validate",
    "verify_credential",
    "verify_document",
]
