"""Configuration tests start from an environment without any ``TOKENSMITH_*`` variable."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TOKENSMITH_"):
            monkeypatch.delenv(name)
