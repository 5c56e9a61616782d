"""Fast JSON responses (orjson) and the no-store headers of RFC 6749 §5.1."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  no_store: bool = False) -> JSONResponse:
    all_headers = dict(NO_STORE) if no_store else {}
    if headers:
        all_headers.update(headers)
    return JSONResponse(body, status_code=status, headers=all_headers)
