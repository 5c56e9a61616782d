"""``tokensmith users block|unblock USER_ID`` and ``tokensmith users exchange-list`` (``--tenant``): the
users seen through the session exchange (spec A), added to the people CLI's ``users`` group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from tokensmith.cli.common import JSON_OPT, TENANT_OPT, emit, run_with_runtime

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

ACTOR = "cli"


def _line(v: dict[str, Any]) -> str:
    return (f"{v['userId']}\t{v['firstName']} {v['lastName']}\t{v['organisation']}\t"
            f"{'blocked' if v['blocked'] else 'allowed'}\tlast seen {v['lastSeenAt']}")


def _set_blocked(tenant: str, user_id: str, blocked: bool, notes: str | None, as_json: bool) -> None:
    from tokensmith.exchange.users import set_blocked
    from tokensmith.tenants.provisioning import tenant_id_for

    async def work(rt: Runtime) -> dict[str, Any]:
        return await set_blocked(rt, await tenant_id_for(rt, tenant), user_id, blocked, notes=notes, actor=ACTOR)

    emit(run_with_runtime(work), as_json,
         lambda v: f"exchange user {v['userId']} {'blocked' if v['blocked'] else 'unblocked'}")


def register(users_app: typer.Typer) -> None:
    @users_app.command("block")
    def block(user_id: str = typer.Argument(..., help="The user's id in the API key holder's system."),
              tenant: str = TENANT_OPT,
              notes: str | None = typer.Option(None, help="Why (kept with the user)."),
              as_json: bool = JSON_OPT) -> None:
        """Block an exchange user: the session exchange answers 403 for them within a second (a user not
        seen yet can be blocked in advance)."""
        _set_blocked(tenant, user_id, True, notes, as_json)

    @users_app.command("unblock")
    def unblock(user_id: str = typer.Argument(..., help="The user's id in the API key holder's system."),
                tenant: str = TENANT_OPT,
                as_json: bool = JSON_OPT) -> None:
        """Allow a blocked exchange user again."""
        _set_blocked(tenant, user_id, False, None, as_json)

    @users_app.command("exchange-list")
    def exchange_list(tenant: str = TENANT_OPT,
                      blocked: bool | None = typer.Option(None, "--blocked/--not-blocked", help="Filter."),
                      limit: int = typer.Option(100, min=1, max=10_000), as_json: bool = JSON_OPT) -> None:
        """List the users seen through the session exchange (most recently seen first)."""
        from tokensmith.exchange.users import list_exchange_users
        from tokensmith.tenants.provisioning import tenant_id_for

        async def work(rt: Runtime) -> list[dict[str, Any]]:
            return await list_exchange_users(rt, await tenant_id_for(rt, tenant), blocked=blocked, limit=limit)

        emit(run_with_runtime(work), as_json, lambda rows: "\n".join(_line(r) for r in rows) or "(none)")
