"""``tokensmith tenants create|list|show|update|disable|enable|delete`` — the platform operator's tenant
lifecycle (see :mod:`tokensmith.tenants.service`). ``create --json`` prints the tenant with its first admin;
a generated password appears only there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from tokensmith.cli.common import JSON_OPT, emit, run_with_runtime

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

app = typer.Typer(help="Tenants (platform operators).", no_args_is_help=True)
ACTOR = "cli"


def _line(v: dict[str, Any]) -> str:
    return (f"{v['id']}\t{v['slug']}\t{v['name']}\t{v['status']}\t"
            f"rate limit {v['defaultRateLimit'] or 'default'}")


@app.command("create")
def create(
    slug: str = typer.Argument(..., help="Lower-case letters, digits and '-'."),
    name: str = typer.Option(..., help="Display name."),
    admin_email: str = typer.Option(..., "--admin-email", help="E-mail of the tenant's first admin (owner)."),
    admin_password: str | None = typer.Option(None, "--admin-password", envvar="TOKENSMITH_TENANT_ADMIN_PASSWORD",
                                              help="Omit to generate one (printed once)."),
    rate_limit: int | None = typer.Option(None, "--rate-limit", help="Default requests per minute of its keys."),
    as_json: bool = JSON_OPT,
) -> None:
    """Create a tenant with its built-in roles and its first admin."""
    from tokensmith.tenants.service import create_tenant

    async def work(rt: Runtime) -> dict[str, Any]:
        record, admin, generated = await create_tenant(
            rt, slug=slug, name=name, admin_email=admin_email, admin_password=admin_password,
            default_rate_limit=rate_limit, actor=ACTOR)
        return {**record.view(), "admin": {**admin, **({"password": generated} if generated else {})}}

    emit(run_with_runtime(work), as_json, lambda v: _line(v) + f"\nadmin: {v['admin']['email']}" + (
        f"\npassword: {v['admin']['password']}  (shown once)" if "password" in v["admin"] else ""))


@app.command("list")
def list_(as_json: bool = JSON_OPT) -> None:
    """List every tenant."""
    from tokensmith.tenants.service import list_tenants

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        return [r.view() for r in await list_tenants(rt)]

    emit(run_with_runtime(work), as_json, lambda rows: "\n".join(_line(r) for r in rows) or "(no tenants)")


@app.command("show")
def show(ref: str = typer.Argument(..., metavar="TENANT", help="Id or slug."), as_json: bool = JSON_OPT) -> None:
    """One tenant, with what it holds."""
    from tokensmith.tenants.service import get_tenant, tenant_contents

    async def work(rt: Runtime) -> dict[str, Any]:
        record = await get_tenant(rt, ref)
        return {**record.view(), "contents": await tenant_contents(rt, record.id)}

    emit(run_with_runtime(work), as_json)


@app.command("update")
def update(
    ref: str = typer.Argument(..., metavar="TENANT", help="Id or slug."),
    name: str | None = typer.Option(None, help="New display name."),
    rate_limit: int | None = typer.Option(None, "--rate-limit", help="New default requests per minute."),
    clear_rate_limit: bool = typer.Option(False, "--clear-rate-limit", help="Back to the deployment default."),
    as_json: bool = JSON_OPT,
) -> None:
    """Rename a tenant or change its default rate limit."""
    from tokensmith.tenants.service import update_tenant

    async def work(rt: Runtime) -> dict[str, Any]:
        return (await update_tenant(rt, ref, name=name, default_rate_limit=rate_limit,
                                    clear_rate_limit=clear_rate_limit, actor=ACTOR)).view()

    emit(run_with_runtime(work), as_json, _line)


def _status(tenant: str, active: bool, as_json: bool) -> None:
    from tokensmith.tenants.service import set_tenant_status

    async def work(rt: Runtime) -> dict[str, Any]:
        return (await set_tenant_status(rt, tenant, active, actor=ACTOR)).view()

    emit(run_with_runtime(work), as_json, _line)


@app.command("disable")
def disable(ref: str = typer.Argument(..., metavar="TENANT", help="Id or slug."), as_json: bool = JSON_OPT) -> None:
    """Disable: every key, client, user and token of the tenant stops working everywhere within a second."""
    _status(ref, False, as_json)


@app.command("enable")
def enable(ref: str = typer.Argument(..., metavar="TENANT", help="Id or slug."), as_json: bool = JSON_OPT) -> None:
    """Enable again: its credentials work again; tokens issued before stay dead."""
    _status(ref, True, as_json)


@app.command("delete")
def delete(ref: str = typer.Argument(..., metavar="TENANT", help="Id or slug."), as_json: bool = JSON_OPT) -> None:
    """Delete a disabled tenant without unrevoked API keys or active clients (audit events are kept)."""
    from tokensmith.tenants.service import delete_tenant

    async def work(rt: Runtime) -> dict[str, Any]:
        return {**(await delete_tenant(rt, ref, actor=ACTOR)).view(), "deleted": True}

    emit(run_with_runtime(work), as_json, lambda v: f"tenant {v['slug']} deleted")
