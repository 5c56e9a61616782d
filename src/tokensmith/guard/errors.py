"""The guard's refusals, in the service's one error model (:mod:`tokensmith.errors`), and how they go on the
wire (RFC 6750 §3): the guard runs inside someone else's application, so it renders them itself."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from tokensmith.errors import InsufficientScope, ServiceError


class MissingCredential(ServiceError):
    """RFC 6750 §3.1: a request with no credential at all gets the challenge without an error code."""

    status = 401
    code = "unauthorized"

    def __init__(self) -> None:
        super().__init__("a Bearer access token or an API key is required",
                         headers={"WWW-Authenticate": 'Bearer realm="tokensmith"'})


def insufficient_scope(missing: list[str]) -> InsufficientScope:
    needed = " ".join(missing)
    return InsufficientScope(
        f"this operation requires the scope {needed}",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
        extra={"scope": needed})


def error_response(error: ServiceError) -> Response:
    headers = dict(error.headers)
    headers["Cache-Control"] = "no-store"
    return Response(orjson.dumps(error.body()), status_code=error.status, headers=headers,
                    media_type="application/json")
