"""Shared CLI plumbing: settings, a runtime for one command, JSON output, error reporting."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from tokensmith.config import load_settings
from tokensmith.errors import ConfigurationError, ServiceError
from tokensmith.runtime import Runtime

T = TypeVar("T")


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
    """Build a runtime, make sure the schema is current, run ``work``, flush the audit log, close."""

    async def _main() -> T:
        from tokensmith.storage.migrate import upgrade

        rt = Runtime(load_settings())
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
    raise AssertionError("unreachable")
