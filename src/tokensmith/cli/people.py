"""``tokensmith users|roles|sessions|usertokens``: people of a tenant, their roles, sign-in sessions and
personal user tokens. Every create/list command takes ``--json`` (one JSON document on stdout).

Other features may add commands to these Typer apps (e.g. ``users block`` for exchange users)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from tokensmith.cli.common import JSON_OPT, TENANT_OPT, emit, run_with_runtime

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

users_app = typer.Typer(help="Users (people who sign in) and exchange users.", no_args_is_help=True)
roles_app = typer.Typer(help="Roles: named permission sets.", no_args_is_help=True)
sessions_app = typer.Typer(help="Sign-in and user-token sessions.", no_args_is_help=True)
usertokens_app = typer.Typer(help="Personal user tokens (long-lived, revocable).", no_args_is_help=True)

ACTOR = "cli"


async def _tenant(rt: Runtime, slug: str) -> str:
    from tokensmith.tenants.provisioning import tenant_id_for

    return await tenant_id_for(rt, slug)


async def _tenant_and_user(rt: Runtime, slug: str, user: str | None) -> tuple[str, str | None]:
    """The tenant id and, when a user (id or e-mail) is named, that user's id — the list filters."""
    from tokensmith.people.users import find_user

    tid = await _tenant(rt, slug)
    return tid, (await find_user(rt, user, tid)).id if user else None


def _user_line(v: dict[str, Any]) -> str:
    return f"{v['id']}\t{v['email']}\t{v['role']}\t{v['status']}" + ("\ttotp" if v["totpEnabled"] else "")


# ---- users ---------------------------------------------------------------------------------------------

@users_app.command("create")
def users_create(
    email: str = typer.Option(..., help="E-mail address (the sign-in name)."),
    password: str | None = typer.Option(None, envvar="TOKENSMITH_USER_PASSWORD",
                                        help="Password (or TOKENSMITH_USER_PASSWORD). Without one the user "
                                        "cannot sign in until `users set-password`."),
    role: str = typer.Option("member", help="Role name (owner, admin, developer, member or a custom role)."),
    project_permission: list[str] = typer.Option([], "--project-permission",
                                                 help="'<project>:<permission>', repeatable."),
    name: str | None = typer.Option(None, help="Display name."),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Create a user; prints the same body as `POST /users`."""
    from tokensmith.people.users import create_user

    async def work(rt: Runtime) -> dict[str, Any]:
        record = await create_user(rt, tenant_id=await _tenant(rt, tenant), email=email, password=password,
                                   role=role, project_permissions=project_permission, name=name, actor=ACTOR)
        return record.view()

    emit(run_with_runtime(work), as_json, lambda v: f"user {v['email']} created ({v['id']}, role {v['role']})")


@users_app.command("list")
def users_list(tenant: str = TENANT_OPT, as_json: bool = JSON_OPT) -> None:
    """List the users of a tenant."""
    from tokensmith.people.users import list_users

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        return [r.view() for r in await list_users(rt, await _tenant(rt, tenant))]

    emit(run_with_runtime(work), as_json, lambda rows: "\n".join(_user_line(r) for r in rows) or "(no users)")


def _update(user: str, tenant: str, as_json: bool, message: str, **changes: Any) -> None:
    from tokensmith.people.users import find_user, update_user

    async def work(rt: Runtime) -> dict[str, Any]:
        found = await find_user(rt, user, await _tenant(rt, tenant))
        return (await update_user(rt, found.id, actor=ACTOR, **changes)).view()

    emit(run_with_runtime(work), as_json, lambda v: message.format(**v))


@users_app.command("disable")
def users_disable(user: str = typer.Argument(..., help="User id or e-mail."), tenant: str = TENANT_OPT,
                  as_json: bool = JSON_OPT) -> None:
    """Disable a user: sign-ins end at once, user tokens stop working."""
    _update(user, tenant, as_json, "user {email} disabled", status="disabled")


@users_app.command("enable")
def users_enable(user: str = typer.Argument(..., help="User id or e-mail."), tenant: str = TENANT_OPT,
                 as_json: bool = JSON_OPT) -> None:
    """Enable a disabled user."""
    _update(user, tenant, as_json, "user {email} enabled", status="active")


@users_app.command("set-role")
def users_set_role(user: str = typer.Argument(..., help="User id or e-mail."),
                   role: str = typer.Argument(..., help="Role name."), tenant: str = TENANT_OPT,
                   as_json: bool = JSON_OPT) -> None:
    """Give a user another role (their current access tokens are cut off; sessions refresh into the new one)."""
    _update(user, tenant, as_json, "user {email} now has role {role}", role=role)


@users_app.command("set-password")
def users_set_password(
    user: str = typer.Argument(..., help="User id or e-mail."),
    password: str = typer.Option(..., envvar="TOKENSMITH_USER_PASSWORD", prompt=True, hide_input=True,
                                 confirmation_prompt=True, help="New password (prompted when omitted)."),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Set a user's password (ends the user's sign-in sessions)."""
    _update(user, tenant, as_json, "password of {email} changed", password=password)


@users_app.command("reset-totp")
def users_reset_totp(user: str = typer.Argument(..., help="User id or e-mail."), tenant: str = TENANT_OPT,
                     as_json: bool = JSON_OPT) -> None:
    """Switch a user's TOTP second factor off (lost device); they can set it up again."""
    _update(user, tenant, as_json, "two-factor authentication of {email} switched off", disable_totp=True)


@users_app.command("unlock")
def users_unlock(user: str = typer.Argument(..., help="User id or e-mail."), tenant: str = TENANT_OPT,
                 as_json: bool = JSON_OPT) -> None:
    """Lift a sign-in lockout before it expires."""
    from tokensmith.people.users import find_user

    async def work(rt: Runtime) -> dict[str, Any]:
        found = await find_user(rt, user, await _tenant(rt, tenant))
        await rt.login_throttle.succeeded(found.id, login=False)
        rt.audit.record("user.unlocked", tenant_id=found.tenant_id, actor=ACTOR, subject=found.id)
        return found.view()

    emit(run_with_runtime(work), as_json, lambda v: f"user {v['email']} unlocked")


# ---- roles ---------------------------------------------------------------------------------------------

@roles_app.command("create")
def roles_create(
    name: str = typer.Argument(..., help="Role name (lower case)."),
    permission: list[str] = typer.Option([], "--permission", "-p", help="A permission (scope string), repeatable."),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Create a custom role; prints the same body as `POST /roles`."""
    from tokensmith.people.roles import create_role

    async def work(rt: Runtime) -> dict[str, Any]:
        return (await create_role(rt, tenant_id=await _tenant(rt, tenant), name=name, permissions=permission,
                                  actor=ACTOR)).view()

    emit(run_with_runtime(work), as_json, lambda v: f"role {v['name']} created: {' '.join(v['permissions'])}")


@roles_app.command("list")
def roles_list(tenant: str = TENANT_OPT, as_json: bool = JSON_OPT) -> None:
    """List the roles of a tenant with their permissions."""
    from tokensmith.people.roles import list_roles

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        return [r.view() for r in await list_roles(rt, await _tenant(rt, tenant))]

    emit(run_with_runtime(work), as_json, lambda rows: "\n".join(
        f"{r['name']}\t{'built-in' if r['builtin'] else 'custom'}\t{' '.join(r['permissions'])}" for r in rows))


# ---- sessions ------------------------------------------------------------------------------------------

@sessions_app.command("list")
def sessions_list(
    user: str | None = typer.Option(None, help="Only this user's sessions (id or e-mail)."),
    include_ended: bool = typer.Option(False, "--include-ended", help="Also revoked and expired sessions."),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """List sessions (newest first)."""
    from tokensmith.people.sessions import list_sessions

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        tid, uid = await _tenant_and_user(rt, tenant, user)
        return [r.view() for r in await list_sessions(rt, tid, user_id=uid, include_ended=include_ended)]

    emit(run_with_runtime(work), as_json, lambda rows: "\n".join(
        f"{r['id']}\t{r['kind']}\t{r['userId'] or ''}\t{r['createdAt']}\t{r['revokedAt'] or 'live'}"
        for r in rows) or "(no sessions)")


@sessions_app.command("revoke")
def sessions_revoke(session_id: str, as_json: bool = JSON_OPT) -> None:
    """Revoke a session: every token issued under it stops working within a second."""
    from tokensmith.errors import NotFound
    from tokensmith.people.sessions import get_session, revoke_session

    async def work(rt: Runtime) -> dict[str, Any]:
        if await get_session(rt, session_id) is None:
            raise NotFound(f"session {session_id} not found")
        changed = await revoke_session(rt, session_id, reason="revoked by operator", actor=ACTOR)
        return {"id": session_id, "revoked": True, "alreadyRevoked": not changed}

    emit(run_with_runtime(work), as_json, lambda v: f"session {session_id} revoked")


@sessions_app.command("purge")
def sessions_purge(
    older_than_days: int = typer.Option(7, "--older-than-days", min=0,
                                        help="Keep what ended less than this many days ago."),
    as_json: bool = JSON_OPT,
) -> None:
    """Delete ended sign-in sessions, their refresh tokens and expired MFA step tokens (run it daily)."""
    from tokensmith.people.sessions import purge_ended

    emit(run_with_runtime(lambda rt: purge_ended(rt, older_than_days=older_than_days)), as_json,
         lambda v: f"purged {v['sessions']} sessions, {v['refreshTokens']} refresh tokens, "
                   f"{v['mfaTokens']} MFA tokens")


# ---- user tokens ---------------------------------------------------------------------------------------

@usertokens_app.command("create")
def usertokens_create(
    user: str = typer.Option(..., help="Owner (user id or e-mail)."),
    name: str | None = typer.Option(None, help="A name to recognise the token by."),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Create a personal user token for a user; prints `{"token", ...}` (the token is shown once)."""
    from tokensmith.people.user_tokens import create_user_token
    from tokensmith.people.users import find_user

    async def work(rt: Runtime) -> dict[str, Any]:
        found = await find_user(rt, user, await _tenant(rt, tenant))
        record, token = await create_user_token(rt, user_id=found.id, tenant_id=found.tenant_id, name=name,
                                                actor=ACTOR)
        return {"token": token, **record.view()}

    emit(run_with_runtime(work), as_json, lambda v: f"user token {v['id']}:\n{v['token']}  (shown once)")


@usertokens_app.command("list")
def usertokens_list(
    user: str | None = typer.Option(None, help="Only this user's tokens (id or e-mail)."),
    include_revoked: bool = typer.Option(False, "--include-revoked"),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """List user tokens (never the tokens themselves)."""
    from tokensmith.people.user_tokens import list_user_tokens

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        tid, uid = await _tenant_and_user(rt, tenant, user)
        return [r.view() for r in await list_user_tokens(rt, tid, user_id=uid, include_revoked=include_revoked)]

    emit(run_with_runtime(work), as_json, lambda rows: "\n".join(
        f"{r['id']}\t{r['userId']}\t{r['name'] or ''}\t{r['lastUsedAt'] or 'never used'}"
        + ("" if r["active"] else "\trevoked") for r in rows) or "(no user tokens)")


@usertokens_app.command("revoke")
def usertokens_revoke(token_id: str, as_json: bool = JSON_OPT) -> None:
    """Revoke a user token and every access token it minted."""
    from tokensmith.people.user_tokens import revoke_user_token

    async def work(rt: Runtime) -> dict[str, Any]:
        return (await revoke_user_token(rt, token_id, actor=ACTOR)).view() | {"active": False}

    emit(run_with_runtime(work), as_json, lambda v: f"user token {token_id} revoked")
