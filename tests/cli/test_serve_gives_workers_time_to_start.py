"""``serve --workers N``: uvicorn's supervisor restarts a worker that does not answer its health ping in
``timeout_worker_healthcheck`` seconds (5 by default), which a worker starting on a busy two-core machine
can miss. The setting ``worker_healthcheck_timeout`` (30 s by default) is what the supervisor gets."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from tests.support import TEST_MASTER_KEY
from tokensmith.cli.main import app


def _served_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.chdir(tmp_path)
    base = {"TOKENSMITH_ENV": "development", "TOKENSMITH_MASTER_KEY": TEST_MASTER_KEY,
            "TOKENSMITH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/t.db"}
    for name, value in {**base, **env}.items():
        monkeypatch.setenv(name, value)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    environment = dict(os.environ)
    loggers = _logging_state()
    try:  # serve installs stop handlers, sets variables for its workers and configures logging (on the
        # runner's stream, closed when it returns): the test process gets its own back
        result = CliRunner().invoke(app, ["serve", "--port", "8999", "--workers", "2"])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        os.environ.clear()
        os.environ.update(environment)
        _restore_logging(loggers)
    assert result.exit_code == 0, result.output
    return seen


_LoggerState = tuple[list[logging.Handler], int, bool, bool]


def _logging_state() -> dict[str, _LoggerState]:
    loggers = {name: logger for name, logger in logging.root.manager.loggerDict.items()
               if isinstance(logger, logging.Logger)}
    loggers[""] = logging.root
    return {name: (logger.handlers[:], logger.level, logger.propagate, logger.disabled)
            for name, logger in loggers.items()}


def _restore_logging(state: dict[str, _LoggerState]) -> None:
    for name, (handlers, level, propagate, disabled) in state.items():
        logger = logging.getLogger(name) if name else logging.root
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled
    for name, logger in logging.root.manager.loggerDict.items():
        if name not in state and isinstance(logger, logging.Logger):
            logger.handlers.clear()  # made by the configuration: nothing of it is left to write


def test_workers_get_thirty_seconds_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _served_with(monkeypatch, tmp_path)["timeout_worker_healthcheck"] == 30


def test_the_setting_reaches_the_supervisor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    served = _served_with(monkeypatch, tmp_path, TOKENSMITH_WORKER_HEALTHCHECK_TIMEOUT="90")
    assert served["timeout_worker_healthcheck"] == 90 and served["workers"] == 2
