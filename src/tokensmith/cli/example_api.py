"""``tokensmith example-api``: the example FHIR-style API behind the guard (docs/guard.md)."""

from __future__ import annotations

import os

import typer

from tokensmith.cli.common import fail


def register(app: typer.Typer) -> None:
    app.command("example-api")(example_api)


def example_api(
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    port: int = typer.Option(8001, min=1, max=65535, help="Port."),
    client_id: str | None = typer.Option(None, envvar="TOKENSMITH_GUARD_CLIENT_ID",
                                         help="The resource server's client (introspection, revocation feed)."),
    client_secret: str | None = typer.Option(None, envvar="TOKENSMITH_GUARD_CLIENT_SECRET",
                                             help="Its secret.", show_default=False),
    database: str = typer.Option("example-fhir.db", help="The API's own SQLite file."),
) -> None:
    """Serve a small FHIR API (Patient, Observation) protected by the guard; the issuer is TOKENSMITH_ISSUER."""
    import uvicorn

    from tokensmith.example_api.app import create_example_app
    from tokensmith.example_api.store import FhirStore
    from tokensmith.guard import Guard, GuardSettings

    if not os.environ.get("TOKENSMITH_ISSUER"):
        fail("set TOKENSMITH_ISSUER to the token service's URL", 2)
    try:
        settings = GuardSettings.from_env(client_id=client_id, client_secret=client_secret)
    except ValueError as exc:
        fail(str(exc), 2)
    app = create_example_app(Guard(settings), FhirStore(database))
    uvicorn.run(app, host=host, port=port, access_log=False, proxy_headers=False, server_header=False)
