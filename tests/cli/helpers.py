"""Running the real ``tokensmith`` entry point as a subprocess on a SQLite file of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


class Cli:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.db_path = workdir / "t.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSMITH_")}
        self.env.update(TOKENSMITH_ENV="development", TOKENSMITH_DATABASE_URL=f"sqlite+aiosqlite:///{self.db_path}")

    def __call__(self, *args: str, env: dict[str, str] | None = None, ok: bool = True,
                 stdin: str | None = None) -> Result:
        proc = subprocess.run([TOKENSMITH, *args], cwd=self.workdir, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=60, input=stdin)
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if ok:
            assert result.code == 0, f"tokensmith {' '.join(args)} exited {result.code}: {result.stderr}"
        return result


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
