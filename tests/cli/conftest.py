"""The ``cli`` fixture: the real ``tokensmith`` command on a fresh SQLite file (development mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)
