"""What the project says about itself names only what exists: the layout tree of ``docs/architecture.md``
(every entry exists, every package and top-level module is listed), ``pyproject.toml``'s package data
(every pattern matches files) and its description (no feature that is not built)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tokensmith"
NOT_BUILT = ("SMART", "FHIR", "console", "guard", "SDK", "OpenID Connect", "authorization code")


def _layout() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layout", 1)[1]
    match = re.search(r"```\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def _entries() -> set[str]:
    """The names at the start of each tree line (``config.py``, ``clock.py ids.py``, ``crypto/``)."""
    names: set[str] = set()
    for line in _layout().splitlines()[1:]:
        if not line.startswith("  ") or line.startswith("   "):
            continue  # a continuation of the description above
        head = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        names.update(head.split())
    return names


def test_every_entry_of_the_layout_exists() -> None:
    for name in _entries():
        assert (PACKAGE / name.rstrip("/")).exists(), f"docs/architecture.md names {name}, which does not exist"


def test_every_package_and_module_is_in_the_layout() -> None:
    listed = {name.rstrip("/") for name in _entries()}
    present = {p.name for p in PACKAGE.iterdir()
               if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.name != "__init__.py")}
    assert present - listed == set(), "missing from the layout of docs/architecture.md"


def test_package_data_patterns_match_files() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in config["tool"]["setuptools"]["package-data"]["tokensmith"]:
        assert list(PACKAGE.glob(pattern)), f"package-data pattern {pattern!r} matches nothing"


def test_the_description_advertises_only_what_is_built() -> None:
    description = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["description"]
    for feature in NOT_BUILT:
        assert feature.lower() not in description.lower(), feature
