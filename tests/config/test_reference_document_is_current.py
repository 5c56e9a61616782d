"""``docs/configuration.md`` is generated from ``tokensmith.config`` and must match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tokensmith.config import Settings, render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_reference_equals_the_generated_one() -> None:
    generated = subprocess.run([sys.executable, "-m", "tokensmith.config"], capture_output=True, text=True,
                               check=True, timeout=60).stdout
    assert generated == render_reference()
    assert DOC.read_text() == generated, (
        "docs/configuration.md is stale: run `python -m tokensmith.config > docs/configuration.md`")


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    for name, field in Settings.model_fields.items():
        assert f"`TOKENSMITH_{name.upper()}`" in text
        assert field.description, f"setting {name} has no description"
