"""Shared CLI plumbing: settings, a runtime for one command, JSON output, error reporting."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from sqlalchemy.engine import make_url

from tokensmith.config import load_settings
from tokensmith.errors import ConfigurationError, ServiceError
from tokensmith.runtime import Runtime
from tokensmith.storage.db import is_outage

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


def run_with_runtime(work: Callable[[Runtime], Awaitable[T]], *, migrate: bool = True) -> T:
    """Build a runtime, make sure the schema is current, run ``work``, flush the audit log, close.

    Errors an operator can act on end the command with a one-line message on stderr (never a
    traceback): configuration (exit 2), a refused operation (exit 1), an unreachable database (exit 3).
    """
    settings_holder: list[Any] = []

    async def _main() -> T:
        from tokensmith.storage.migrate import upgrade

        settings = load_settings()
        settings_holder.append(settings)
        rt = Runtime(settings)
        try:
            if migrate:
                await upgrade(rt.db)
            await rt.start(background=False)
            result = await work(rt)
            await rt.audit.flush()
            return result
        finally:
            await rt.stop()

    try:
        return asyncio.run(_main())
    except ConfigurationError as exc:
        fail(str(exc), 2)
    except ServiceError as exc:
        fail(exc.description or exc.code)
    except Exception as exc:
        if not is_outage(exc):
            raise
        where = safe_url(settings_holder[0].database_url) if settings_holder else "the database"
        fail(f"cannot reach {where}: {type(exc).__name__}: {exc}".splitlines()[0][:300], EXIT_UNAVAILABLE)
    raise AssertionError("unreachable")


def safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.rsplit("@", 1)[-1]
