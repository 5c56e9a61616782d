"""Sign-in for people (spec §D): ``POST /auth/login``, ``/auth/login/totp``, ``/auth/refresh``,
``/auth/logout``, and the user's own TOTP set-up under ``/auth/totp/``.

Bodies and errors are the ones the spec fixes: ``{"accessToken", "refreshToken", "expiresIn": "900s"}``;
errors ``{"error": "<message>"}`` (429 adds ``retry_after`` and ``Retry-After``); invalid bodies a 400
list of ``{"loc", "msg", "type"}``. The hot ones are dispatched on the fast path.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.http import fastpath
from tokensmith.http.auth import Principal, authenticate
from tokensmith.http.deps import runtime
from tokensmith.http.endpoints.people_common import context, json_body, json_schema_body, user_id_of
from tokensmith.http.responses import json_response
from tokensmith.inputs import NoControl, NoNul
from tokensmith.people import login as signin
from tokensmith.people import totp

router = APIRouter(tags=["sign-in"])


class LoginBody(BaseModel):
    email: Annotated[str, Field(max_length=320), NoControl]
    password: Annotated[str, Field(max_length=1024), NoNul]


class TotpLoginBody(BaseModel):
    mfaToken: Annotated[str, Field(max_length=512), NoNul]
    code: Annotated[str, Field(max_length=64), NoNul]


class RefreshBody(BaseModel):
    refreshToken: Annotated[str, Field(max_length=512), NoNul]


class CodeBody(BaseModel):
    code: Annotated[str, Field(max_length=64), NoNul]


_TOKENS = {"description": '`{"accessToken", "refreshToken", "expiresIn": "900s"}`'}
_ERR: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid body: a list of `{loc, msg, type}`"},
    401: {"description": '`{"error": "Invalid email or password"}` (same body for unknown e-mail addresses)'},
    403: {"description": '`{"error": "This account is disabled"}` (only after a correct password)'},
    429: {"description": '`{"error": "Too many sign-in attempts", "retry_after": N}` + `Retry-After`'},
}


def setup(app: FastAPI) -> None:
    fastpath.register(app, "POST", "/auth/login", _login)
    fastpath.register(app, "POST", "/auth/refresh", _refresh)
    fastpath.register(app, "POST", "/auth/logout", _logout)


async def _login(request: Request) -> Response:
    body = await json_body(request, LoginBody)
    result = await signin.password_login(runtime(request), body.email, body.password, context(request))
    return json_response(result.body(), no_store=True)


async def _refresh(request: Request) -> Response:
    body = await json_body(request, RefreshBody)
    pair = await signin.refresh(runtime(request), body.refreshToken, context(request))
    return json_response(pair.body(), no_store=True)


async def _logout(request: Request) -> Response:
    body = await json_body(request, RefreshBody)
    await signin.logout(runtime(request), body.refreshToken, context(request))
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.post("/auth/login", summary="Sign in with e-mail and password", openapi_extra=json_schema_body(LoginBody),
             responses={200: {"description": _TOKENS["description"] + ', or `{"mfaRequired": true, "mfaToken", '
                              '"expiresIn"}` when the account has TOTP on'}, **_ERR})
async def login(request: Request) -> Response:
    return await _login(request)


@router.post("/auth/login/totp", summary="Second sign-in step: the TOTP (or recovery) code",
             openapi_extra=json_schema_body(TotpLoginBody),
             responses={200: _TOKENS, 401: {"description": '`{"error": "Invalid authentication code"}` or '
                                            '`{"error": "Invalid or expired MFA token"}`'}, 429: _ERR[429]})
async def login_totp(request: Request) -> Response:
    body = await json_body(request, TotpLoginBody)
    pair = await signin.totp_login(runtime(request), body.mfaToken, body.code, context(request))
    return json_response(pair.body(), no_store=True)


@router.post("/auth/refresh", summary="Rotate a refresh token", openapi_extra=json_schema_body(RefreshBody),
             responses={200: {"description": _TOKENS["description"] + "; also for a retry after a lost reply "
                              "(within `refresh_retry_window`, while the successor was never used)"},
                        401: {"description": '`{"error": "Invalid refresh token"}`; a reused token (its '
                              "successor used, or after the retry window) also revokes its whole session"},
                        409: {"description": "the token was used by a concurrent refresh moments ago (within "
                              "`refresh_reuse_grace`); the session lives on"}})
async def refresh(request: Request) -> Response:
    return await _refresh(request)


@router.post("/auth/logout", summary="End the session of a refresh token", status_code=204,
             openapi_extra=json_schema_body(RefreshBody))
async def logout(request: Request) -> Response:
    return await _logout(request)


# ---- the user's own second factor ----

@router.post("/auth/totp/setup", summary="Start TOTP set-up: a new secret and its otpauth:// URI")
async def totp_setup(request: Request, principal: Principal = Depends(authenticate)) -> Response:
    return json_response(await totp.begin_setup(runtime(request), user_id_of(principal)), no_store=True)


@router.post("/auth/totp/enable", summary="Turn TOTP on with a first code; returns recovery codes (once)",
             openapi_extra=json_schema_body(CodeBody))
async def totp_enable(request: Request, principal: Principal = Depends(authenticate)) -> Response:
    body = await json_body(request, CodeBody)
    codes = await totp.enable(runtime(request), user_id_of(principal), body.code, actor=principal.actor)
    return json_response({"recoveryCodes": codes}, no_store=True)


@router.post("/auth/totp/disable", summary="Turn TOTP off (needs a current code or a recovery code)",
             status_code=204, openapi_extra=json_schema_body(CodeBody))
async def totp_disable(request: Request, principal: Principal = Depends(authenticate)) -> Response:
    body = await json_body(request, CodeBody)
    await totp.disable(runtime(request), user_id_of(principal), body.code, actor=principal.actor)
    return Response(status_code=204)


@router.post("/auth/totp/recovery-codes", summary="Replace the recovery codes (needs a current code)",
             openapi_extra=json_schema_body(CodeBody))
async def totp_recovery_codes(request: Request, principal: Principal = Depends(authenticate)) -> Response:
    body = await json_body(request, CodeBody)
    codes = await totp.regenerate_recovery_codes(runtime(request), user_id_of(principal), body.code,
                                                 actor=principal.actor)
    return json_response({"recoveryCodes": codes}, no_store=True)
