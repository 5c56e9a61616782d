"""Shared CLI plumbing: settings, a runtime for one command, JSON output, error reporting."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from sqlalchemy.engine import make_url

from tokensmith.config import Settings, load_settings
from tokensmith.errors import ConfigurationError, ServiceError
from tokensmith.runtime import Runtime
from tokensmith.storage.db import is_outage

#: The ``--json`` option every command has (one JSON document on stdout, for scripts).
JSON_OPT = typer.Option(False, "--json", help="Print one JSON document on stdout.")
#: The ``--tenant`` option of every command that acts within one tenant (the tenant is never positional).
TENANT_OPT = typer.Option("default", "--tenant", help="Tenant slug.")

T = TypeVar("T")
#: Exit status when the database cannot be reached (retrying later may help).
EXIT_UNAVAILABLE = 3


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    """``--json``: exactly one JSON document on stdout. Otherwise a human-readable rendering."""
    if as_json:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
    elif human is not None:
        typer.echo(human(data))
    else:
        typer.echo(json.dumps(data, indent=2, default=str))


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


async def run_once(work: Callable[[Runtime], Awaitable[T]], *, migrate: bool = True, start: bool = True,
                   settings: Settings | None = None) -> T:
    """Build a runtime, make sure the schema is current, run ``work``, flush the audit log, close.
    Errors propagate as they are. ``initialise`` runs with neither ``migrate`` nor ``start``: it migrates
    itself, under the lock that keeps instances starting together from racing."""
    from tokensmith.storage.migrate import upgrade

    rt = Runtime(settings or load_settings())
    try:
        if migrate:
            await upgrade(rt.db)
        if start:
            await rt.start(background=False, flushers=True)  # what the command queues is written as it runs
        result = await work(rt)
        await rt.audit.flush()
        return result
    finally:
        await rt.stop()


def run_with_runtime(work: Callable[[Runtime], Awaitable[T]], *, migrate: bool = True, start: bool = True) -> T:
    """:func:`run_once` for a command. Errors an operator can act on end the command with a one-line
    message on stderr (never a traceback): configuration (exit 2), a refused operation (exit 1), an
    unreachable database (exit 3)."""
    try:
        settings = load_settings()
        return asyncio.run(run_once(work, migrate=migrate, start=start, settings=settings))
    except ConfigurationError as exc:
        fail(str(exc), 2)
    except ServiceError as exc:
        fail(exc.description or exc.code)
    except Exception as exc:
        if not is_outage(exc):
            raise
        fail(f"cannot reach {safe_url(settings.database_url)}: {outage_summary(exc)}", EXIT_UNAVAILABLE)
    raise AssertionError("unreachable")


def outage_summary(exc: BaseException) -> str:
    """One line on why the database cannot be reached. A statement's error is named by kind only (its text
    would carry SQL and values); a connection error's text (address, errno) is kept."""
    from tokensmith.storage.db import describe_db_error

    if getattr(exc, "statement", None) is not None:
        return describe_db_error(exc)
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.rsplit("@", 1)[-1]


def read_jwks_option(value: str | None) -> dict[str, Any] | None:
    """A ``--jwks`` option's JWK Set: read from the file it names, or standard input for ``-``. Its keys
    are checked where the client is created (public RSA/EC signature keys only)."""
    if value is None:
        return None
    try:
        text = sys.stdin.read() if value == "-" else Path(value).read_text()
        loaded = json.loads(text)
    except (OSError, ValueError) as exc:
        fail(f"--jwks: cannot read a JSON document from {value}: {exc}", 2)
    if not isinstance(loaded, dict):
        fail('--jwks: the document must be a JWK Set {"keys": [...]}', 2)
    jwks: dict[str, Any] = loaded
    return jwks
