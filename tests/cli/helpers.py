"""Running ``tokensmith`` commands on a SQLite file of the test's own: the CLI's Typer app in this process
(click's test runner: arguments, environment, stdin, stdout and stderr, exit code), or with
``subprocess=True`` the installed entry point in a process of its own, for what only a real process shows.
A command run in process pays no interpreter start-up (1.5-2.5 s each, the bulk of the CLI tests' time);
what it prints, exits with and writes is the same."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKENSMITH = str(Path(sys.executable).parent / "tokensmith")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class _CurrentStderr:
    """``sys.stderr`` as it is when a line is written (the test runner swaps it for each command)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextlib.contextmanager
def _as_a_process_would(workdir: Path) -> Iterator[None]:
    """The command's working directory, and its warnings on stderr as bare lines (what Python's last-resort
    handler prints in a process where nothing configured logging)."""
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    previous = os.getcwd()
    os.chdir(workdir)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        os.chdir(previous)


class Cli:
    def __init__(self, workdir: Path, *, subprocess: bool = False) -> None:
        self.workdir = workdir
        self.db_path = workdir / "t.db"
        self.in_subprocess = subprocess
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSMITH_")}
        self.env.update(TOKENSMITH_ENV="development", TOKENSMITH_DATABASE_URL=f"sqlite+aiosqlite:///{self.db_path}")

    def __call__(self, *args: str, env: dict[str, str] | None = None, ok: bool = True,
                 stdin: str | None = None) -> Result:
        if self.in_subprocess:
            proc = subprocess.run([TOKENSMITH, *args], cwd=self.workdir, env={**self.env, **(env or {})},
                                  capture_output=True, text=True, timeout=60, input=stdin)
            result = Result(proc.returncode, proc.stdout, proc.stderr)
        else:
            result = self._in_process(list(args), {**self.env, **(env or {})}, stdin)
        if ok:
            assert result.code == 0, f"tokensmith {' '.join(args)} exited {result.code}: {result.stderr}"
        return result


    def _in_process(self, args: list[str], env: dict[str, str], stdin: str | None) -> Result:
        from typer.testing import CliRunner

        from tokensmith.cli.main import app

        # the command sees exactly the TOKENSMITH_ variables a process started with ``env`` would
        environment: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TOKENSMITH_")}
        environment.update({k: v for k, v in env.items() if k.startswith("TOKENSMITH_")})
        with _as_a_process_would(self.workdir):
            outcome = CliRunner().invoke(app, args, env=environment, input=stdin)
        stderr = outcome.stderr
        if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
            # an exception that escaped the command: a process would have printed its traceback
            stderr += "Traceback (most recent call last):\n" + "".join(traceback.format_exception(outcome.exception))
        return Result(outcome.exit_code, outcome.stdout, stderr)


def assert_clean_failure(result: Result, *fragments: str) -> None:
    """A refused command: non-zero exit, one clear message on stderr, no traceback, nothing on stdout."""
    assert result.code != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "╭" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def seed(cli: Cli, client_names: tuple[str, ...] = ()) -> None:
    """Set up the command's database in process (faster than one subprocess per step): ``init`` and a few
    clients. The commands then run with the same master key."""
    import asyncio

    from tests.support import TEST_MASTER_KEY, make_settings
    from tokensmith.bootstrap import initialise
    from tokensmith.clients import create_client
    from tokensmith.runtime import Runtime

    async def work() -> None:
        rt = Runtime(make_settings(cli.env["TOKENSMITH_DATABASE_URL"]))
        try:
            tenant_id = (await initialise(rt))["tenant_id"]
            for name in client_names:
                await create_client(rt, tenant_id=tenant_id, name=name, actor="cli")
            await rt.audit.flush()
        finally:
            await rt.stop()

    asyncio.run(work())
    cli.env["TOKENSMITH_MASTER_KEY"] = TEST_MASTER_KEY
