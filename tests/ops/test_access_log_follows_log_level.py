"""Access-log lines are ``info`` lines: written at INFO (the default), left out at WARNING like every
other info line — and ``access_log = false`` turns them off at any level."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.ops.helpers import ServeProcess


def _access_lines(tmp_path: Path, env: dict[str, str]) -> list[dict[str, object]]:
    server = ServeProcess(tmp_path, env=env)
    server.cli("init")
    with server, httpx.Client(base_url=server.url, timeout=10) as http:
        for _ in range(3):
            assert http.get("/healthz").status_code == 200
        assert server.stop() == 0
    return [line for line in server.json_lines() if line.get("logger") == "tokensmith.access"]


def test_access_lines_are_written_at_info(tmp_path: Path) -> None:
    lines = _access_lines(tmp_path, {"TOKENSMITH_LOG_LEVEL": "INFO"})
    assert sum(1 for line in lines if line["path"] == "/healthz") == 3


@pytest.mark.parametrize("env", [{"TOKENSMITH_LOG_LEVEL": "WARNING"},
                                 {"TOKENSMITH_LOG_LEVEL": "INFO", "TOKENSMITH_ACCESS_LOG": "false"}])
def test_access_lines_are_left_out_above_info_or_when_disabled(tmp_path: Path, env: dict[str, str]) -> None:
    assert _access_lines(tmp_path, env) == []
