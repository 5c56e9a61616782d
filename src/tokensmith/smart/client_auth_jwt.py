"""``private_key_jwt`` (OpenID Connect Core §9, RFC 7523 §2.2 and §3; SMART Backend Services
§"Authenticating to the token endpoint") as a method of the core's client-authentication registry,
available to every OAuth client registered with it (SMART apps and plain clients alike).

The request carries ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and
a ``client_assertion`` JWT. Checked in this order: the client exists, is active and registered this
method; the header's ``alg`` is RS384/ES384 (or RS256/ES256) — never ``HS*`` or ``none`` — and its
``kid`` names a key of the client's JWK Set (inline, or fetched from its ``jwks_uri``) that allows that
algorithm; the signature; then the claims with the runtime's clock: ``iss`` = ``sub`` = client_id, ``aud``
= this server's token endpoint (or an alias of it), ``exp`` present, not passed and at most
``client_assertion_max_lifetime`` ahead, ``jti`` present; and last, the ``jti`` is used for the first
time on any instance. Every refusal is ``invalid_client`` on the wire, with the reason in the log only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from tokensmith.clients import ClientRecord
from tokensmith.errors import InvalidClient, InvalidRequest
from tokensmith.jose.signing import verify_compact
from tokensmith.oauth.client_auth import CLIENT, Presented, refuse_failed, refuse_if_throttled
from tokensmith.oauth.request import OAuthRequest, check_identifier
from tokensmith.smart.assertion_jtis import AssertionJtis
from tokensmith.smart.jwks import ASSERTION_ALGORITHMS, ClientKey, JwksError, JwksFetcher, parse_jwks

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: the token endpoint's paths; an assertion's ``aud`` must be one of them under the issuer
TOKEN_ENDPOINT_PATHS = ("/oauth/token", "/smart/token", "/identity-server/connect/token")
MAX_ASSERTION_LENGTH = 16 * 1024



@dataclass(frozen=True, slots=True)
class _Assertion:
    """A client assertion parsed once (by PyJWT, unverified) for the header and the claimed caller; its
    signature is checked in ``_refusal`` (PyJWT's algorithm, against the client's key, over the parsed
    bytes) before anything in it is trusted; the claims are checked with the runtime's clock (RFC 8725 §3.1)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    token: str
    signature: bytes


def split_assertion(assertion: str) -> _Assertion | None:
    """The unverified header and claims of a compact JWS, else None."""
    try:
        parsed = jwt.api_jwt.decode_complete(assertion, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError):
        return None
    header, claims, signature = parsed.get("header"), parsed.get("payload"), parsed.get("signature")
    if not isinstance(header, dict) or not isinstance(claims, dict) or not isinstance(signature, bytes):
        return None
    return _Assertion(header, claims, assertion, signature)


class PrivateKeyJwt:
    name = "private_key_jwt"
    caller_kind = CLIENT
    public = False

    def __init__(self, rt: Runtime, fetcher: JwksFetcher, jtis: AssertionJtis) -> None:
        self._rt = rt
        self._fetcher = fetcher
        self._jtis = jtis
        self._audiences = frozenset(rt.settings.issuer + p for p in TOKEN_ENDPOINT_PATHS)
        #: inline sets parsed once per client record (the record's own set object, held so it stays the same)
        self._inline: dict[str, tuple[dict[str, Any], dict[str, ClientKey]]] = {}
        self.authenticate = self._authenticate

    def presented(self, req: OAuthRequest, *, exclusive: bool) -> Presented | None:
        assertion, kind = req.get("client_assertion"), req.get("client_assertion_type")
        if assertion is None and kind is None:
            return None
        if kind != ASSERTION_TYPE:
            raise InvalidRequest(f"client_assertion_type must be {ASSERTION_TYPE}")
        if assertion is None:
            raise InvalidRequest("client_assertion is required with client_assertion_type")
        if len(assertion) > MAX_ASSERTION_LENGTH:
            raise InvalidRequest("client_assertion is too long")
        parsed = split_assertion(assertion)  # who claims to be calling; proven in authenticate()
        if parsed is None:
            raise InvalidClient("the client assertion is not a JWT", basic=False)
        sub = parsed.claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidClient("the client assertion names no client (sub)", basic=False)
        form_id = req.get("client_id")
        if form_id is not None and form_id != sub:
            raise InvalidRequest("client_id does not match the client assertion's sub")
        return Presented(self, check_identifier(sub, "the client assertion's sub"), assertion, parsed=parsed)

    async def _authenticate(self, presented: Presented, req: OAuthRequest) -> ClientRecord:
        rt = self._rt
        client_id = presented.client_id
        await refuse_if_throttled(rt, client_id, req)
        client = await rt.clients.get(client_id) if len(client_id) <= 100 else None
        parsed = presented.parsed if isinstance(presented.parsed, _Assertion) else None
        reason = await self._refusal(client, parsed)
        if reason is not None:
            await refuse_failed(rt, client, client_id, req, reason, method=self.name, basic=False)
        assert client is not None
        return client

    async def _refusal(self, client: ClientRecord | None, assertion: _Assertion | None) -> str | None:
        """Why the assertion is refused (for logs only), or None."""
        if client is None:
            return "unknown client"
        if not client.active:
            return "client disabled"
        if client.auth_method != self.name:
            return f"client registered for {client.auth_method}, used {self.name}"
        if assertion is None:
            return "malformed assertion"
        alg, kid = assertion.header.get("alg"), assertion.header.get("kid")
        if alg not in ASSERTION_ALGORITHMS:
            return f"assertion algorithm {str(alg)[:20]!r} not allowed"
        if not isinstance(kid, str):
            return "assertion header has no kid"
        try:
            key = await self._key(client, kid)
        except JwksError as exc:
            return f"client JWK Set unusable: {exc}"
        if key is None:
            return "assertion signed by an unregistered key"
        if alg not in key.algorithms:
            return f"key {kid[:40]!r} does not allow {alg}"
        if "crit" in assertion.header:  # no JWS extension is understood here (RFC 7515 §4.1.11)
            return "assertion header has a crit parameter"
        if not verify_compact(assertion.token, assertion.signature, key.key, alg):
            return "assertion signature invalid"
        claims = assertion.claims
        reason = self._claims_refusal(client, claims)
        if reason is None and self._rt.tenants.is_disabled(client.tenant_id):
            reason = "tenant disabled"
        if reason is None and not await self._jtis.first_use(client.client_id, claims["jti"], float(claims["exp"])):
            reason = "assertion jti replayed"
        return reason

    def _claims_refusal(self, client: ClientRecord, claims: dict[str, Any]) -> str | None:
        settings = self._rt.settings
        now, leeway = self._rt.clock.now(), settings.jwt_leeway
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            return "assertion iss and sub must be the client_id"
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in self._audiences for a in auds):
            return "assertion aud is not this token endpoint"
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return "assertion has no exp"
        if now >= exp + leeway:
            return "assertion expired"
        if exp - now > settings.client_assertion_max_lifetime + leeway:
            return "assertion exp too far ahead"
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if isinstance(value, int | float) and now + leeway < value:
                return f"assertion {name} in the future"
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= 200:
            return "assertion has no usable jti"
        return None

    async def _key(self, client: ClientRecord, kid: str) -> ClientKey | None:
        if client.jwks is not None:
            cached = self._inline.get(client.client_id)
            if cached is None or cached[0] is not client.jwks:
                cached = (client.jwks, parse_jwks(client.jwks))
                self._inline[client.client_id] = cached
            return cached[1].get(kid)
        if client.jwks_uri is not None:
            return await self._fetcher.key(client.jwks_uri, kid)
        return None
