"""Identity: Ed25519 keys, DIDs (``did:key``, ``did:web``) and DID documents, signed documents
(Data Integrity, ``eddsa-jcs-2022``), verifiable credentials and DID-auth tokens.

Keys are :class:`lmos.Ed25519KeyPair` objects; their ``repr``/``str`` show the public key only,
and the private key leaves them only through :meth:`~lmos.Ed25519KeyPair.save`,
:meth:`~lmos.Ed25519KeyPair.private_jwk` and :meth:`~lmos.Ed25519KeyPair.secret_multibase`.
Documents, DID documents and credentials are plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lmos import _native
from lmos._native import DidResolver, Ed25519KeyPair, PublicKey, VerifiedCredential

ProofPurpose = Literal[
    "assertionMethod", "authentication", "capabilityInvocation", "capabilityDelegation"
]
"""What a proof is for: the verification relationship its key must have."""

Requirement = dict[str, str] | tuple[str, str]
"""A credential requirement: ``{"type": ..., "issuer": ...}`` or ``(type, issuer)``."""


@dataclass(frozen=True)
class VerifiedProof:
    """A proof that verified: the ``verification_method`` that signed, the ``signer`` (its DID),
    the proof's ``purpose`` and its ``created`` date-time."""

    verification_method: str
    signer: str
    purpose: str
    created: str | None

    @classmethod
    def _from(cls, value: dict[str, Any]) -> VerifiedProof:
        return cls(
            verification_method=value["verification_method"],
            signer=value["signer"],
            purpose=value["purpose"],
            created=value.get("created"),
        )


def generate_key() -> Ed25519KeyPair:
    """A new Ed25519 key pair from the system's random source (same as
    :meth:`lmos.Ed25519KeyPair.generate`)."""
    return Ed25519KeyPair.generate()


def resolve_did_key(did: str) -> dict[str, Any]:
    """The DID document of a ``did:key`` DID (derived from the DID, no network)."""
    return _native.resolve_did_key(did)


async def resolve_did(did: str, resolver: DidResolver | None = None) -> dict[str, Any]:
    """Resolves a ``did:key`` or ``did:web`` DID (or the DID of a DID URL) to its document.
    ``did:web`` is fetched over HTTPS; plain http only for loopback hosts with a resolver made
    with ``allow_http_loopback=True``."""
    return await (resolver or DidResolver()).resolve(did)


def did_web_for_url(url: str) -> str:
    """The ``did:web`` DID whose document is served at ``url``'s host and path:
    ``http://127.0.0.1:8080/`` → ``did:web:127.0.0.1%3A8080``."""
    return _native.did_web_for_url(url)


def did_web_document_url(did: str, *, allow_http_loopback: bool = False) -> str:
    """Where the document of a ``did:web`` DID is (``https://host/.well-known/did.json``)."""
    return _native.did_web_document_url(did, allow_http_loopback=allow_http_loopback)


def did_document(
    did: str, key: PublicKey | Ed25519KeyPair, td_url: str | None = None
) -> dict[str, Any]:
    """An agent's DID document: ``key`` as ``{did}#key-1`` (authentication, assertions,
    capabilities) and, with ``td_url``, a ``WotThing`` service pointing at its TD."""
    return _native.did_document_for_agent(did, key, td_url)


def thing_description_urls(document: dict[str, Any]) -> list[str]:
    """The URLs of the ``WotThing`` services of a DID document (where its thing's TD is);
    raises :class:`lmos.InvalidDidDocument` when the document is malformed."""
    _, urls = _native.parse_did_document(document)
    return urls


def sign_document(
    document: dict[str, Any],
    key: Ed25519KeyPair,
    *,
    verification_method: str | None = None,
    proof_purpose: ProofPurpose = "assertionMethod",
    created: str | None = None,
    expires: str | None = None,
    id: str | None = None,
    domain: str | None = None,
    challenge: str | None = None,
) -> dict[str, Any]:
    """``document`` (any JSON object: a TD, a credential, a DID document) with one more
    ``eddsa-jcs-2022`` Data Integrity proof by ``key`` (signing as its ``key_id`` unless
    ``verification_method`` says otherwise). The input is not changed."""
    return _native.sign_document(
        document,
        key,
        verification_method=verification_method,
        proof_purpose=proof_purpose,
        created=created,
        expires=expires,
        id=id,
        domain=domain,
        challenge=challenge,
    )


async def verify_document(
    document: dict[str, Any], resolver: DidResolver | None = None
) -> list[VerifiedProof]:
    """Verifies every proof on ``document``, resolving each signer's DID; succeeds only when
    there is at least one and all verify. Raises :class:`lmos.ProofMissing`,
    :class:`lmos.SignatureInvalid`, :class:`lmos.InvalidProof`, ... otherwise."""
    proofs = await _native.verify_document(document, resolver)
    return [VerifiedProof._from(p) for p in proofs]


def issue_credential(
    issuer: Ed25519KeyPair,
    *,
    subject: str,
    types: Sequence[str] = (),
    claims: dict[str, Any] | None = None,
    valid_from: str | None = None,
    valid_until: str | None = None,
    id: str | None = None,
    contexts: Sequence[Any] = (),
) -> dict[str, Any]:
    """A VC 2.0 verifiable credential about ``subject`` (a DID) with the extra ``types`` and
    ``claims``, issued (``issuer`` = the key's DID) and signed by ``issuer``."""
    return _native.issue_credential(
        issuer,
        subject=subject,
        types=list(types),
        claims=claims,
        valid_from=valid_from,
        valid_until=valid_until,
        id=id,
        contexts=list(contexts),
    )


async def verify_credential(
    credential: dict[str, Any],
    resolver: DidResolver | None = None,
    *,
    now: int | None = None,
) -> VerifiedCredential:
    """Verifies a credential: its shape, every proof (by a key of the issuer's DID) and its
    validity period at ``now`` (Unix seconds; default now). Raises
    :class:`lmos.InvalidCredential`, :class:`lmos.CredentialNotValid`, ..."""
    return await _native.verify_credential(credential, resolver, now=now)


def check_credentials(
    requirements: Iterable[Requirement],
    holder: str,
    credentials: Iterable[VerifiedCredential],
) -> None:
    """Raises :class:`lmos.CredentialRequired` (naming the first unmet requirement) unless one
    of ``credentials`` (verified) meets each requirement for ``holder`` (a DID)."""
    _native.check_credentials(list(requirements), holder, list(credentials))


def required_credentials(members: dict[str, Any]) -> list[dict[str, str]]:
    """The requirements a TD or one of its affordances declares in
    ``lmos:requiredCredentials`` (``[]`` when none)."""
    return _native.required_credentials(members)


def mint_did_auth(
    key: Ed25519KeyPair,
    audience: str,
    *,
    lifetime: float = 120.0,
    credentials: Sequence[dict[str, Any]] = (),
) -> str:
    """A DID-auth token (a JWT signed by ``key``) for the thing ``audience`` (its TD ``id``,
    else its TD URL), valid ``lifetime`` seconds (capped at 600), carrying ``credentials`` about
    the caller. Send it as ``Authorization: Bearer <token>``. The token is a secret for its
    lifetime."""
    return _native.mint_did_auth(key, audience, lifetime=lifetime, credentials=list(credentials))


def did_auth_security_scheme() -> dict[str, Any]:
    """The security scheme a TD declares for DID-auth (a ``bearer`` JWT scheme with
    ``"lmos:didAuth": true``)."""
    return _native.did_auth_security_scheme()
