"""The OpenAPI document's security schemes, and ``/docs`` served without a CDN.

Three ways of calling the API are declared (``components.securitySchemes``), so that Swagger UI's
*Authorize* works and generated clients know what to send:

* ``bearerAuth`` — an access token (a signed-in user's from ``/auth/login``, or an OAuth client's from
  ``client_credentials``): every management endpoint. Declared by the dependency that checks it
  (:func:`tokensmith.http.auth.authenticate` / ``require`` depend on :func:`bearer_scheme`), so an
  endpoint cannot check a token without the document saying so.
* ``clientBasic`` — HTTP Basic with an OAuth client's ``client_id``/``client_secret``
  (``client_secret_basic``; an API key's ``clientId``/secret for the token exchange): the token,
  introspection and revocation endpoints, which also take the credentials in the form
  (``client_secret_post``) — hence their empty, optional alternative.
* ``apiKey`` — the ``X-API-Key`` header, ``<clientId>:<secret>`` of an API key: the session exchange, the
  RFC 8693 token exchange and introspection by a resource server holding a key.

Swagger UI's script, stylesheet and icon come from the ``swagger-ui-bundle-v2`` package (a pinned
dependency) and are served by the service itself: the page works offline and loads nothing from elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.security import HTTPBearer
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from tokensmith.errors import NotFound

BEARER = "bearerAuth"
CLIENT_BASIC = "clientBasic"
API_KEY = "apiKey"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    BEARER: {"type": "http", "scheme": "bearer",
             "description": "An access token: a signed-in user's (`/auth/login`) or an OAuth client's "
                            "(`client_credentials`)."},
    CLIENT_BASIC: {"type": "http", "scheme": "basic",
                   "description": "An OAuth client's `client_id` and `client_secret` (client_secret_basic); for "
                                  "the token exchange, an API key's `clientId` and secret."},
    API_KEY: {"type": "apiKey", "in": "header", "name": "X-API-Key",
              "description": "`<clientId>:<secret>` of an API key. Servers only: never from a browser."},
}

def requirement(*schemes: str, optional: bool = False) -> list[dict[str, list[str]]]:
    """An operation's ``security``: any one of ``schemes`` (or none, when ``optional``: the credentials may
    come in the request body instead)."""
    required = [{name: list[str]()} for name in schemes]
    return required + ([{}] if optional else [])


#: Token, introspection: an OAuth client (Basic or form) or an API key.
CLIENT_OR_API_KEY = requirement(CLIENT_BASIC, API_KEY, optional=True)
#: Revocation: the OAuth client the token was issued to (Basic or form).
CLIENT = requirement(CLIENT_BASIC, optional=True)
#: The session exchange: an API key only.
API_KEY_ONLY = requirement(API_KEY)


def bearer_scheme() -> HTTPBearer:
    """The dependency that declares ``bearerAuth`` on the operations using it (FastAPI adds the scheme
    and the operation's requirement); it checks nothing itself (``auto_error=False``)."""
    return HTTPBearer(auto_error=False, scheme_name=BEARER, description=SECURITY_SCHEMES[BEARER]["description"])


def add_security(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare every scheme (the Bearer one is also declared by FastAPI from :func:`bearer_scheme`)."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes.update(SECURITY_SCHEMES)
    return schema


# ---- /docs without a CDN ----
ASSETS_PATH = "/docs/assets"
_ASSETS = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css",
           "favicon-32x32.png": "image/png"}


def swagger_ui_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def install(app: FastAPI, *, title: str) -> None:
    """The OpenAPI document with its security, and ``/docs`` with locally served assets."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_security(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
    folder = swagger_ui_dir()

    async def docs(request: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{title} — API", swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css", swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise NotFound("no such documentation asset")
        return FileResponse(folder / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})

    app.add_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.add_route(ASSETS_PATH + "/{name}", asset, methods=["GET"], include_in_schema=False)
