"""The commands ``tokensmith serve`` prints work when pasted into another shell — another working directory,
none of the server's environment: they act on the server's database (no second database appears), the
client they create gets a token from the server, and once an admin exists the banner stops suggesting one.
Every log line (uvicorn's start-up lines included) has the one JSON format of the access log."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import orjson

from tests.ops.helpers import ServeProcess
from tests.support import make_settings
from tokensmith.cli.banner import serve_banner


def _banner(server: ServeProcess) -> list[str]:
    return [line for line in server.logs().splitlines() if not line.startswith("{")]


def _commands(banner: list[str]) -> list[str]:
    return [line.strip() for line in banner if line.startswith("    ") and not line.strip().startswith("#")]


def _paste(commands: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A new shell: its own working directory, no TOKENSMITH_* variable, nothing of the server's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENSMITH_", "PROMETHEUS_"))}
    script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_pasted_banner_commands_use_the_servers_database(tmp_path: Path) -> None:
    served, elsewhere = tmp_path / "served", tmp_path / "elsewhere"
    served.mkdir()
    elsewhere.mkdir()
    server = ServeProcess(served)
    for name in ("TOKENSMITH_DATABASE_URL", "TOKENSMITH_MASTER_KEY"):
        server.env.pop(name)  # the defaults: ./tokensmith.db and a generated development key next to it
    with server:
        banner = _banner(server)
        commands = _commands(banner)
        assert any("init --admin-email" in c for c in commands)  # no admin yet
        client_and_token = [c for c in commands if "init --admin-email" not in c]
        done = _paste(client_and_token, elsewhere)
        assert done.returncode == 0, done.stderr
        token = json.loads(done.stdout)
        assert token["token_type"] == "Bearer" and token["access_token"]
        assert list(elsewhere.iterdir()) == []  # no second database, no second master key
        admin = _paste([c for c in commands if c.startswith("export") or "init --admin-email" in c], elsewhere)
        assert admin.returncode == 0, admin.stderr
        assert server.stop() == 0
    _check_log_format(server)

    again = ServeProcess(served, env={})
    for name in ("TOKENSMITH_DATABASE_URL", "TOKENSMITH_MASTER_KEY"):
        again.env.pop(name)
    again.log_path = served / "serve-again.log"
    with again:
        commands = _commands(_banner(again))
        assert again.stop() == 0
    assert commands and not any("init --admin-email" in c for c in commands)


def _check_log_format(server: ServeProcess) -> None:
    lines = [line for line in server.logs().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    for line, entry in zip(lines, entries, strict=True):
        assert line == orjson.dumps(entry).decode()  # one serialisation: compact, the same field order
        assert list(entry)[:4] == ["ts", "level", "logger", "msg"]
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn", "tokensmith.access"} <= loggers and "uvicorn.error" not in loggers
    assert any(e["msg"].startswith("Uvicorn running on") for e in entries)


def test_the_banner_never_shows_secrets_and_names_what_it_leaves_out(tmp_path: Path) -> None:
    settings = make_settings("postgresql+asyncpg://ops:s3cret-pw@db.internal/tokens",
                             redis_url="redis://:r3dis-pw@cache.internal:6379/0")
    environ = {"TOKENSMITH_MASTER_KEY": "the-master-key-0123456789-abcdefghijklmnop", "TOKENSMITH_PORT": "8001",
               "TOKENSMITH_REDIS_URL": "redis://:r3dis-pw@cache.internal:6379/0", "TOKENSMITH_LOG_LEVEL": "DEBUG",
               "TOKENSMITH_CONFIG_FILE": "conf/tokensmith.toml", "TOKENSMITH_ADMIN_PASSWORD": "hunter2-admin-pw"}
    text = serve_banner(settings, host="0.0.0.0", port=8001, workers=2, tenant="default", admin_exists=None,
                        environ=environ, cwd=tmp_path)
    for secret in ("s3cret-pw", "r3dis-pw", "the-master-key", "hunter2-admin-pw"):
        assert secret not in text
    export = next(line for line in text.splitlines() if line.startswith("    export "))
    assert f"TOKENSMITH_CONFIG_FILE={tmp_path}/conf/tokensmith.toml" in export
    assert "TOKENSMITH_LOG_LEVEL=DEBUG" in export and "TOKENSMITH_PORT" not in export
    assert "postgresql+asyncpg://ops:***@db.internal/tokens" in export
    note = next(line for line in text.splitlines() if line.strip().startswith("#"))
    assert "TOKENSMITH_MASTER_KEY" in note and "TOKENSMITH_DATABASE_URL" in note and "TOKENSMITH_REDIS_URL" in note
    assert "http://127.0.0.1:8001/oauth/token" in text  # a wildcard bind is reached on loopback
    assert "(if there is none yet)" in text  # the database was unreachable: unknown
