"""``tokensmith`` — init, serve, db, clients, keys, audit. Every create/list command takes ``--json``."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import signal
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

import typer

from tokensmith.cli import apikeys as apikeys_cli
from tokensmith.cli import audit as audit_cli
from tokensmith.cli import example_api as example_api_cli
from tokensmith.cli import tenants as tenants_cli
from tokensmith.cli import users_exchange
from tokensmith.cli.banner import serve_banner
from tokensmith.cli.common import (
    JSON_OPT,
    emit,
    fail,
    outage_summary,
    read_jwks_option,
    run_once,
    run_with_runtime,
    safe_url,
)
from tokensmith.cli.people import roles_app, sessions_app, users_app, usertokens_app
from tokensmith.cli.tokens import tokens_app
from tokensmith.config import Settings, load_settings
from tokensmith.errors import ConfigurationError, ServiceError
from tokensmith.smart import cli as smart_cli
from tokensmith.storage.db import is_outage

if TYPE_CHECKING:
    from tokensmith.clients import ClientRecord
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.cli")
# No local variables in tracebacks: they would print secrets (client secrets, the master key). Plain
# (click) help: typer's rich help panel gives every flag a value placeholder (`--json <bool>`).
app = typer.Typer(help="tokensmith — a self-hosted token service.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False, rich_markup_mode=None)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth clients.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(roles_app, name="roles")
app.add_typer(sessions_app, name="sessions")
app.add_typer(usertokens_app, name="usertokens")
app.add_typer(tokens_app, name="tokens")
app.add_typer(apikeys_cli.app, name="apikeys")
app.add_typer(tenants_cli.app, name="tenants")
users_exchange.register(users_app)  # users block|unblock|exchange-list
example_api_cli.register(app)  # example-api (the guard's example FHIR API)
app.add_typer(smart_cli.apps_app, name="apps")  # SMART on FHIR (tokensmith.smart.cli)
app.add_typer(smart_cli.patients_app, name="patients")
app.add_typer(smart_cli.practitioners_app, name="practitioners")
smart_cli.register_users_update(users_app)  # users update --fhir-user



@app.command()
def init(
    admin_email: str | None = typer.Option(None, help="E-mail of the first admin (owner)."),
    admin_password: str | None = typer.Option(None, help="Password of the first admin.",
                                              envvar="TOKENSMITH_ADMIN_PASSWORD"),
    as_json: bool = JSON_OPT,
) -> None:
    """Create the database, the first signing keys, the default tenant and the first admin. Idempotent."""
    from tokensmith.bootstrap import initialise

    result = run_with_runtime(lambda rt: initialise(rt, admin_email=admin_email, admin_password=admin_password),
                              migrate=False, start=False)
    emit(result, as_json, lambda r: (
        f"database ready; tenant '{r['tenant']}'"
        + ("; signing keys created" if r["signing_key_created"] else "")
        + (f"; admin {r['admin_email']} created" if r["admin_created"] else "")))


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default from TOKENSMITH_HOST)."),
    port: int | None = typer.Option(None, help="Port (default from TOKENSMITH_PORT)."),
    workers: int | None = typer.Option(None, help="Worker processes (default from TOKENSMITH_WORKERS)."),
) -> None:
    """Run the HTTP service (migrates the database and creates signing keys on first start)."""
    import uvicorn

    from tokensmith.bootstrap import initialise
    from tokensmith.observability.logging import configure_logging, logging_config

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        fail(str(exc), 2)
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    os.environ["TOKENSMITH_WORKERS"] = str(workers)  # the workers size their password-hashing pools by it
    if settings.is_development and not settings.model_fields_set & {"issuer"}:
        # A local trial on another port: tokens should name the address actually served.
        os.environ["TOKENSMITH_ISSUER"] = f"http://{host}:{port}"
        settings = load_settings()
    configure_logging(settings.log_level)
    admin_exists: bool | None = None
    try:
        ready = asyncio.run(run_once(initialise, migrate=False, start=False, settings=settings))
        tenant, admin_exists = ready["tenant"], ready["admin_exists"]
    except ServiceError as exc:
        fail(exc.description or exc.code)
    except Exception as exc:
        if not is_outage(exc):
            raise
        # Serve anyway: /healthz answers, everything else is 503 until the database is back; then the
        # set-up finishes in the background and the workers load their keys by themselves.
        log.error("database %s unreachable at start-up (%s); serving 503 until it is back",
                  safe_url(settings.database_url), outage_summary(exc))
        tenant = "(pending)"
        threading.Thread(target=_initialise_when_reachable, args=(settings,), daemon=True,
                         name="tokensmith-init").start()
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # every worker writes its metrics there; /metrics in any worker adds them all up
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tokensmith-metrics-")
    typer.echo(serve_banner(settings, host=host, port=port, workers=workers, tenant=tenant,
                            admin_exists=admin_exists), err=True)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler it found:
    # make that one end the process with status 0 (a requested stop is a success, not a crash).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_on_signal)
    try:
        uvicorn.run("tokensmith.http.app:create_app", factory=True, host=host, port=port, workers=workers,
                    loop="uvloop", http="httptools", access_log=False,
                    log_config=logging_config(settings.log_level), proxy_headers=False,
                    server_header=False, timeout_worker_healthcheck=settings.worker_healthcheck_timeout)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _initialise_when_reachable(settings: Settings, interval: float = 2.0) -> None:
    from tokensmith.bootstrap import initialise

    while True:
        time.sleep(interval)
        try:
            asyncio.run(run_once(initialise, migrate=False, start=False, settings=settings))
        except Exception as exc:
            if is_outage(exc):
                continue
            log.error("set-up after the database came back failed: %s", outage_summary(exc))
            return
        log.info("database reachable: schema and signing keys are in place")
        return


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head"), as_json: bool = JSON_OPT) -> None:
    """Apply the schema migrations."""
    from tokensmith.storage.migrate import current_revision, upgrade

    async def work(rt: Runtime) -> str | None:
        await upgrade(rt.db, revision)
        return await current_revision(rt.db)

    rev = run_with_runtime(work, migrate=False, start=False)
    emit({"revision": rev}, as_json, lambda r: f"database at revision {r['revision']}")


def _client_view(record: ClientRecord, secret: str | None = None) -> dict[str, Any]:
    view = record.public_view()
    if secret is not None:
        view = {"client_id": record.client_id, "client_secret": secret, **view}
    return view


@clients_app.command("create")
def clients_create(
    name: str = typer.Option(..., help="Display name."),
    scope: str = typer.Option("", help="Space-separated scopes the client may get (its allowance)."),
    role: str | None = typer.Option(None, help="A role whose permissions are the client's allowance."),
    lifetime: int | None = typer.Option(None, "--lifetime", help="Access-token lifetime in seconds."),
    token_format: str = typer.Option("jwt", "--token-format", help="jwt or opaque."),
    tenant: str = typer.Option("default", help="Tenant slug."),
    client_id: str | None = typer.Option(None, help="Choose the client id (default: random)."),
    auth_method: str | None = typer.Option(None, "--auth-method",
                                           help="How the client authenticates (RFC 7591 token_endpoint_auth_method): "
                                                "client_secret_basic (HTTP Basic, the default), client_secret_post "
                                                "(form body), or private_key_jwt (the default with --jwks or "
                                                "--jwks-uri)."),
    jwks: str | None = typer.Option(None, "--jwks", help="A file (or - for standard input) with the client's public "
                                    "JWK Set, for private_key_jwt (RS384/ES384 assertions); no secret is made."),
    jwks_uri: str | None = typer.Option(None, "--jwks-uri", help="An https URL where the client publishes its JWK "
                                        "Set, for private_key_jwt (fetched, cached, never from internal addresses)."),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="A redirect URI of the authorization-code "
                                           "flow (repeatable; matched exactly). Default grants then: "
                                           "authorization_code and refresh_token."),
    public: bool = typer.Option(False, "--public", help="A public client (no secret; PKCE protects the code "
                                "flow; token_endpoint_auth_method none)."),
    grant: list[str] = typer.Option([], "--grant", help="A grant type the client may use (repeatable). Default: "
                                    "client_credentials, or the code-flow grants with --redirect-uri."),
    as_json: bool = JSON_OPT,
    as_export: bool = typer.Option(False, "--export", help="Print `export CLIENT_ID=… CLIENT_SECRET=…` for a "
                                   "shell: eval \"$(tokensmith clients create … --export)\"."),
) -> None:
    """Create a client: confidential for client_credentials by default; with --redirect-uri for the
    authorization-code flow (with --public, without a secret). Prints the secret once."""
    if as_json and as_export:
        fail("--json and --export exclude each other", 2)
    if jwks is not None and jwks_uri is not None:
        fail("--jwks and --jwks-uri exclude each other", 2)
    if public and (jwks is not None or jwks_uri is not None):
        fail("a --public client has no keys: drop --jwks/--jwks-uri", 2)
    key_set = read_jwks_option(jwks)
    method = auth_method or ("private_key_jwt" if key_set is not None or jwks_uri else "client_secret_basic")
    from tokensmith.clients import create_client
    from tokensmith.tenants.provisioning import tenant_id_for

    async def work(rt: Runtime) -> dict[str, Any]:
        tid = await tenant_id_for(rt, tenant)
        grants = list(grant) or (["authorization_code", "refresh_token"] if redirect_uri else None)
        record, secret = await create_client(rt, tenant_id=tid, name=name, scopes=scope.split(), role=role,
                                             access_token_ttl=lifetime, access_token_format=token_format,
                                             client_id=client_id, auth_method=method, actor="cli",
                                             is_confidential=not public, redirect_uris=list(redirect_uri),
                                             grant_types=grants, jwks=key_set, jwks_uri=jwks_uri)
        return _client_view(record, secret)

    view = run_with_runtime(work)
    if as_export:
        secret_part = f" CLIENT_SECRET={shlex.quote(view['client_secret'])}" if "client_secret" in view else ""
        typer.echo(f"export CLIENT_ID={shlex.quote(view['client_id'])}{secret_part}")
        return
    emit(view, as_json, lambda v: f"client_id:     {v['client_id']}" + (
        f"\nclient_secret: {v['client_secret']}  (shown once)" if "client_secret" in v else
        "  (private_key_jwt)" if method == "private_key_jwt" else "  (public client)"))


@clients_app.command("list")
def clients_list(tenant: str | None = typer.Option(None, help="Only this tenant (slug)."),
                 as_json: bool = JSON_OPT) -> None:
    """List clients (never their secrets)."""
    from tokensmith.clients import list_clients
    from tokensmith.tenants.provisioning import tenant_id_for

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        tid = await tenant_id_for(rt, tenant) if tenant else None
        return [_client_view(c) for c in await list_clients(rt, tid)]

    emit(run_with_runtime(work), as_json, lambda rows: "\n".join(
        f"{r['client_id']}\t{r['name']}\t{r['status']}\t{r['access_token_format']}\t{r['access_token_ttl']}s"
        for r in rows) or "(no clients)")


@clients_app.command("disable")
def clients_disable(client_id: str, as_json: bool = JSON_OPT) -> None:
    """Disable a client: its tokens stop working at once."""
    from tokensmith.clients import set_client_status

    run_with_runtime(lambda rt: set_client_status(rt, client_id, False, actor="cli"))
    emit({"client_id": client_id, "status": "disabled"}, as_json, lambda v: f"client {client_id} disabled")


@clients_app.command("enable")
def clients_enable(client_id: str, as_json: bool = JSON_OPT) -> None:
    """Enable a disabled client (tokens issued before it was disabled stay dead)."""
    from tokensmith.clients import set_client_status

    run_with_runtime(lambda rt: set_client_status(rt, client_id, True, actor="cli"))
    emit({"client_id": client_id, "status": "active"}, as_json, lambda v: f"client {client_id} enabled")


@clients_app.command("rotate-secret")
def clients_rotate_secret(
    client_id: str,
    grace: int = typer.Option(0, help="Seconds the old secret (and its tokens) stay valid."),
    as_json: bool = JSON_OPT,
) -> None:
    """Issue a new client secret; prints it once."""
    from tokensmith.clients import rotate_client_secret

    secret = run_with_runtime(lambda rt: rotate_client_secret(rt, client_id, grace_seconds=grace, actor="cli"))
    emit({"client_id": client_id, "client_secret": secret, "grace_seconds": grace}, as_json,
         lambda v: f"client_secret: {v['client_secret']}  (shown once)")


@keys_app.command("rotate")
def keys_rotate(alg: str | None = typer.Option(None, help="ES256, RS256 or EdDSA."), as_json: bool = JSON_OPT) -> None:
    """Promote the pre-published next key, retire the active one, publish a new next key."""
    from tokensmith.signing_keys import rotate_keys

    emit(run_with_runtime(lambda rt: rotate_keys(rt, alg, actor="cli")), as_json,
         lambda r: f"active {r['active']}; next {r['next']}; retired {r['retired']}")


@keys_app.command("list")
def keys_list(as_json: bool = JSON_OPT) -> None:
    """List signing keys and their status."""
    from tokensmith.signing_keys import list_keys

    emit(run_with_runtime(list_keys), as_json, lambda rows: "\n".join(
        f"{r['kid']}\t{r['alg']}\t{r['status']}\t{r['publish_until'] or ''}" for r in rows))


@keys_app.command("revoke")
def keys_revoke(kid: str, as_json: bool = JSON_OPT) -> None:
    """Revoke a signing key: every token it signed fails at once."""
    from tokensmith.signing_keys import revoke_key

    run_with_runtime(lambda rt: revoke_key(rt, kid, actor="cli"))
    emit({"kid": kid, "status": "revoked"}, as_json, lambda v: f"signing key {kid} revoked")


def run() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
