"""The framework-free view of a token/introspection/revocation request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from tokensmith.errors import InvalidRequest
from tokensmith.inputs import CONTROL_MESSAGE, NUL_MESSAGE, has_control

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class OAuthRequest:
    form: dict[str, str]
    headers: Mapping[str, str]  # lower-case names
    client_ip: str | None = None
    request_id: str | None = None
    #: the endpoint's path (audit records say where a credential was used)
    path: str | None = None

    def get(self, name: str) -> str | None:
        value = self.form.get(name)
        return value if value else None


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """RFC 6749 §3.2 / Appendix B: form-encoded UTF-8, each parameter at most once."""
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != FORM_CONTENT_TYPE:
        raise InvalidRequest("the request must be application/x-www-form-urlencoded")
    if len(body) > 64 * 1024:
        raise InvalidRequest("the request body is too large")
    if b"%00" in body or b"\x00" in body:  # the only two ways a form value or name can hold U+0000
        raise InvalidRequest("the request " + NUL_MESSAGE)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          errors="strict", max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the request body is not valid form-encoded UTF-8") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"parameter {name!r} is included more than once")
        form[name] = value
    return form


def check_identifier(value: str, name: str) -> str:
    """An identifier (``client_id``) under the input rule of :mod:`tokensmith.inputs`."""
    if has_control(value):
        raise InvalidRequest(f"{name} {CONTROL_MESSAGE}")
    return value
