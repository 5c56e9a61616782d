"""``tokensmith apps create|list|disable``, ``tokensmith patients import FILE``, ``tokensmith practitioners
import FILE`` and ``tokensmith users update --fhir-user``. ``apps create --json`` prints exactly the body of
``POST /smart/apps`` (the secret of a confidential symmetric app appears only there)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tokensmith.cli.common import JSON_OPT, TENANT_OPT, emit, fail, read_jwks_option, run_with_runtime
from tokensmith.errors import MessageError, ValidationFailed

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

apps_app = typer.Typer(help="SMART apps and backend services.", no_args_is_help=True)
patients_app = typer.Typer(help="The SMART patient directory.", no_args_is_help=True)
practitioners_app = typer.Typer(help="The SMART practitioner directory.", no_args_is_help=True)
ACTOR = "cli"


def _readable(problems: ValidationFailed, where: str = "") -> MessageError:
    text = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in problems.errors)
    return MessageError(f"{where}{text}")


def _line(v: dict[str, Any]) -> str:
    return (f"{v['id']}\t{v['clientId']}\t{v['name']}\t{v['profile']}\t{'active' if v['active'] else 'disabled'}"
            f"\t{' '.join(v['scopes'])}")


@apps_app.command("create")
def apps_create(
    name: str = typer.Option(..., help="Display name."),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="A redirect URI (repeat)."),
    scope: list[str] = typer.Option([], "--scope", help="A SMART scope (repeat, or space-separated)."),
    public: bool = typer.Option(False, "--public", help="A public app (PKCE, no secret)."),
    jwks: Path | None = typer.Option(None, "--jwks", help="A file with the app's public JWK Set."),
    jwks_uri: str | None = typer.Option(None, "--jwks-uri", help="Where the app publishes its JWK Set."),
    auth_method: str | None = typer.Option(None, "--auth-method",
                                           help="Confidential symmetric: client_secret_basic or client_secret_post."),
    tenant: str = TENANT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Register a SMART app (with --jwks/--jwks-uri and no --redirect-uri: a backend service)."""
    from tokensmith.smart.apps import AppSpec, register_app
    from tokensmith.tenants.provisioning import tenant_id_for

    key_set = read_jwks_option(None if jwks is None else str(jwks))
    spec = AppSpec(name=name, redirect_uris=redirect_uri, scopes=[s for item in scope for s in item.split()],
                   is_confidential=not public, jwks=key_set, jwks_uri=jwks_uri, auth_method=auth_method)

    async def work(rt: Runtime) -> dict[str, Any]:
        try:
            return await register_app(rt, tenant_id=await tenant_id_for(rt, tenant), spec=spec, actor=ACTOR)
        except ValidationFailed as exc:
            raise _readable(exc) from None

    emit(run_with_runtime(work), as_json, lambda v: _line(v) + (
        f"\nclientSecret: {v['clientSecret']}  (shown once)" if "clientSecret" in v else ""))


@apps_app.command("list")
def apps_list(tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant (slug)."),
              as_json: bool = JSON_OPT) -> None:
    """List SMART apps (never their secrets)."""
    from tokensmith.smart.apps import list_apps
    from tokensmith.tenants.provisioning import tenant_id_for

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        return await list_apps(rt, await tenant_id_for(rt, tenant) if tenant else None)

    emit(run_with_runtime(work), as_json, lambda rows: "\n".join(_line(r) for r in rows) or "(no SMART apps)")


@apps_app.command("disable")
def apps_disable(app: str = typer.Argument(..., help="App id or clientId."), tenant: str = TENANT_OPT,
                 as_json: bool = JSON_OPT) -> None:
    """Disable an app: every token it holds stops working at once."""
    from tokensmith.smart.apps import update_app
    from tokensmith.tenants.provisioning import tenant_id_for

    async def work(rt: Runtime) -> dict[str, Any]:
        return await update_app(rt, await tenant_id_for(rt, tenant), app, {"active": False}, actor=ACTOR)

    emit(run_with_runtime(work), as_json, lambda v: f"app {v['clientId']} disabled")


# ---- directory import ------------------------------------------------------------------------------------

def read_people(path: Path) -> list[dict[str, Any]]:
    """Entries of an import file (:mod:`tokensmith.smart.people_file`: JSON, or CSV by the ``.csv`` name)."""
    from tokensmith.smart.people_file import PeopleFileError, parse_people

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}", 2)
    entries: list[dict[str, Any]] = []
    try:
        entries = parse_people(text, is_csv=path.suffix.lower() == ".csv")
    except PeopleFileError as exc:
        fail(f"{path}: {exc}", 2)
    return entries


def _import(kind: str, path: Path, tenant: str, as_json: bool) -> None:
    from tokensmith.smart.directory import import_people
    from tokensmith.tenants.provisioning import tenant_id_for

    entries = read_people(path)

    async def work(rt: Runtime) -> dict[str, Any]:
        try:
            return await import_people(rt, kind, await tenant_id_for(rt, tenant), entries, actor=ACTOR)
        except ValidationFailed as exc:
            raise _readable(exc, f"{path}: ") from None

    emit(run_with_runtime(work), as_json, lambda v: f"{v['created']} created, {v['updated']} updated")


@patients_app.command("import")
def patients_import(file: Path = typer.Argument(..., help="A .json or .csv file."), tenant: str = TENANT_OPT,
                    as_json: bool = JSON_OPT) -> None:
    """Add or update patients from JSON or CSV (all or nothing)."""
    _import("Patient", file, tenant, as_json)


@practitioners_app.command("import")
def practitioners_import(file: Path = typer.Argument(..., help="A .json or .csv file."), tenant: str = TENANT_OPT,
                         as_json: bool = JSON_OPT) -> None:
    """Add or update practitioners from JSON or CSV (all or nothing)."""
    _import("Practitioner", file, tenant, as_json)


def register_users_update(users_app: typer.Typer) -> None:
    @users_app.command("update")
    def users_update(user: str = typer.Argument(..., help="User id or e-mail."),
                     fhir_user: str = typer.Option(..., "--fhir-user",
                                                   help="Practitioner/<id> or Patient/<id>; '' unlinks."),
                     tenant: str = TENANT_OPT, as_json: bool = JSON_OPT) -> None:
        """Link a user to the SMART directory (their fhirUser)."""
        from tokensmith.people.users import find_user, update_user
        from tokensmith.tenants.provisioning import tenant_id_for

        async def work(rt: Runtime) -> dict[str, Any]:
            found = await find_user(rt, user, await tenant_id_for(rt, tenant))
            try:
                return (await update_user(rt, found.id, fhir_user=fhir_user, actor=ACTOR)).view()
            except ValidationFailed as exc:
                raise _readable(exc) from None

        emit(run_with_runtime(work), as_json, lambda v: f"user {v['email']} fhirUser {v['fhirUser'] or '(none)'}")
