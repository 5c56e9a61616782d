"""The SMART app pages' form handling and their "try it" snippets, apart from the routes: a registration
form becomes the :class:`~tokensmith.smart.apps.AppSpec` the API builds from its JSON body (the service
then checks it exactly as for ``POST /smart/apps``), and the snippets name the real endpoints of this
deployment (the issuer's ``/smart/authorize`` and ``/smart/token``, the FHIR base as ``aud``).

Only what a form cannot say the way JSON does is checked here: which of the four kinds was chosen, and
that a pasted JWK Set is JSON at all."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tokensmith.console.common import lines
from tokensmith.errors import ValidationFailed
from tokensmith.smart import apps as service
from tokensmith.smart.client_auth_jwt import ASSERTION_TYPE
from tokensmith.smart.discovery import AUTHORIZE_PATH, SMART_TOKEN_PATH

#: the registration kinds of the form, in the order shown: value, label, what it is for
KINDS: tuple[tuple[str, str, str], ...] = (
    (service.PUBLIC, "Public app", "runs in a browser or on a device; signs people in with PKCE, no secret"),
    (service.SYMMETRIC, "Confidential app with a client secret",
     "a web server app; the secret is shown once"),
    (service.ASYMMETRIC, "Confidential app with a key set (private_key_jwt)",
     "a web server app that signs its token requests; give a JWK Set or a JWKS URL"),
    (service.BACKEND, "Backend service (client_credentials, system/ scopes)",
     "no user: a server that signs its token requests; give a JWK Set or a JWKS URL, no redirect URIs"),
)
KIND_NAMES = frozenset(k for k, _, _ in KINDS)
#: the service's field names (its ``loc``) to the form's
FIELDS = {"name": "name", "redirectUris": "redirect_uris", "scopes": "scopes", "jwks": "jwks",
          "jwksUri": "jwks_uri", "isConfidential": "kind", "tokenEndpointAuthMethod": "auth_method",
          **{f: f for f in ("kind", "auth_method", "redirect_uris", "jwks_uri")}}
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
MAX_JWKS_TEXT = 32 * 1024


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"loc": [field], "msg": message, "type": "value_error"}])


def parse_jwks_text(text: str) -> dict[str, Any] | None:
    """The pasted JWK Set as a JSON object (checked key by key by the service), or None when empty."""
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_JWKS_TEXT:
        raise invalid("jwks", f"a JWK Set of at most {MAX_JWKS_TEXT // 1024} KiB")
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        raise invalid("jwks", f"not JSON: {str(exc)[:120]}") from None
    except RecursionError:  # "[[[[…" nested past the parser's depth
        raise invalid("jwks", "not a JWK Set: nested too deeply") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("keys"), list):
        raise invalid("jwks", 'a JWK Set is a JSON object {"keys": [...]}')
    jwks: dict[str, Any] = loaded
    return jwks


def keys_of(fields: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    """The JWK Set or the JWKS URL of a form (one of them, not both)."""
    jwks = parse_jwks_text(fields.get("jwks", ""))
    url = fields.get("jwks_uri", "").strip() or None
    if jwks is not None and url is not None:
        raise invalid("jwks_uri", "give a JWK Set or a JWKS URL, not both")
    if url is not None and len(url) > 2000:
        raise invalid("jwks_uri", "at most 2000 characters")
    return jwks, url


def redirect_uris_of(text: str) -> list[str]:
    """One URI a line (each checked by the service); at most 2000 characters each, as in the API."""
    uris = lines(text, service.MAX_REDIRECT_URIS + 1)
    if any(len(uri) > 2000 for uri in uris):
        raise invalid("redirect_uris", "a redirect URI has at most 2000 characters")
    return uris


def spec_of(fields: dict[str, str]) -> service.AppSpec:
    """The registration the form describes; the kind decides which fields count (a public app's pasted
    keys are ignored rather than silently making it another kind)."""
    kind = fields.get("kind", "")
    if kind not in KIND_NAMES:
        raise invalid("kind", "choose one of the four kinds")
    name = fields.get("name", "").strip()
    if not name or len(name) > 200:
        raise invalid("name", "enter a name of 1 to 200 characters")
    uris = redirect_uris_of(fields.get("redirect_uris", ""))
    scopes = lines(fields.get("scopes", ""), service.MAX_SCOPES + 1)
    jwks: dict[str, Any] | None = None
    url: str | None = None
    method: str | None = None
    if kind in (service.ASYMMETRIC, service.BACKEND):
        jwks, url = keys_of(fields)
        if jwks is None and url is None:
            raise invalid("jwks", "paste the app's public JWK Set or give its JWKS URL")
        if kind == service.ASYMMETRIC and not uris:
            raise invalid("redirect_uris", "an app that signs people in needs at least one redirect URI")
        if kind == service.BACKEND and uris:
            raise invalid("redirect_uris", "a backend service signs nobody in: leave the redirect URIs empty")
    elif kind == service.SYMMETRIC:
        method = fields.get("auth_method") or "client_secret_basic"
        if method not in AUTH_METHODS:
            raise invalid("auth_method", "client_secret_basic or client_secret_post")
    return service.AppSpec(name=name, redirect_uris=uris, scopes=scopes, is_confidential=kind != service.PUBLIC,
                           jwks=jwks, jwks_uri=url, auth_method=method)


@dataclass(frozen=True)
class Endpoints:
    """The URLs an app is configured with, from the deployment's settings."""

    authorize: str
    token: str
    fhir_base: str
    smart_configuration: str
    jwks: str

    @classmethod
    def of(cls, issuer: str, fhir_base: str) -> Endpoints:
        base = issuer.rstrip("/")
        return cls(authorize=base + AUTHORIZE_PATH, token=base + SMART_TOKEN_PATH, fhir_base=fhir_base,
                   smart_configuration=fhir_base + "/.well-known/smart-configuration",
                   jwks=base + "/.well-known/jwks.json")


def _q(value: str) -> str:
    return shlex.quote(value)


def _curl(url: str, args: list[str]) -> str:
    return " \\\n  ".join([f"curl {_q(url)}", *args])


def backend_snippet(app: dict[str, Any], urls: Endpoints, max_lifetime: int) -> str:
    scope = " ".join(app["scopes"]) or "system/*.rs"
    return "\n".join([
        "# ASSERTION: a JWT signed RS384 or ES384 with the private key of one of the registered kids,",
        f"#   claims iss = sub = {app['clientId']}, aud = {urls.token},",
        f"#   exp at most {max_lifetime} s ahead, and a new jti every time (a jti is accepted once).",
        _curl(urls.token, ["-d grant_type=client_credentials", f"-d {_q('scope=' + scope)}",
                           f"-d client_assertion_type={ASSERTION_TYPE}", '-d "client_assertion=$ASSERTION"']),
    ])


def authorize_url(app: dict[str, Any], urls: Endpoints) -> str:
    """Step one of the code flow, opened in a browser (PKCE: the challenge is BASE64URL(SHA-256(verifier)))."""
    redirect = app["redirectUris"][0] if app["redirectUris"] else "REDIRECT_URI"
    query = urlencode({"response_type": "code", "client_id": app["clientId"], "redirect_uri": redirect,
                       "scope": " ".join(app["scopes"]), "state": "STATE",
                       "aud": urls.fhir_base, "code_challenge": "CODE_CHALLENGE", "code_challenge_method": "S256"})
    return f"{urls.authorize}?{query}"


def code_snippet(app: dict[str, Any], urls: Endpoints, secret: str | None) -> str:
    """Step two: the code exchange after the browser came back to the redirect URI with ``code``."""
    redirect = app["redirectUris"][0] if app["redirectUris"] else "REDIRECT_URI"
    profile, method = app["profile"], app["tokenEndpointAuthMethod"]
    shown_secret = secret or "CLIENT_SECRET"
    args: list[str] = []
    if profile == service.SYMMETRIC and method == "client_secret_basic":
        args.append(f"-u {_q(app['clientId'] + ':' + shown_secret)}")
    args += ["-d grant_type=authorization_code", '-d "code=$CODE"', f"-d {_q('redirect_uri=' + redirect)}",
             '-d "code_verifier=$CODE_VERIFIER"']
    if profile == service.SYMMETRIC and method == "client_secret_post":
        args += [f"-d client_id={_q(app['clientId'])}", f"-d {_q('client_secret=' + shown_secret)}"]
    elif profile == service.ASYMMETRIC:
        args += [f"-d client_assertion_type={ASSERTION_TYPE}", '-d "client_assertion=$ASSERTION"']
    elif profile == service.PUBLIC:
        args.append(f"-d client_id={_q(app['clientId'])}")
    return _curl(urls.token, args)
