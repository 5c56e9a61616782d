"""The CLI's help is what a newcomer reads first: flags look like flags (``--json``, not ``--json <bool>``)
and the tenant is the ``--tenant`` option on every command that takes one (never a positional argument)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tokensmith.cli.main import app

ROOT = typer.main.get_command(app)


def _commands(group: Any = ROOT, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf command (typer ships its own copy of click: the tree is walked by its attributes)."""
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))
    else:
        yield path, group


COMMANDS = sorted(_commands(), key=lambda item: item[0])


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_flags_have_no_value_placeholder(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    for line in result.output.splitlines():
        if line.strip().startswith("--json"):
            assert line.split()[:1] == ["--json"] and line.split()[1] == "Print", line


def test_the_tenant_is_always_an_option() -> None:
    with_tenant = [(path, command) for path, command in COMMANDS
                   if any(p.name == "tenant" for p in command.params)]
    assert len(with_tenant) > 10
    for path, command in with_tenant:
        param = next(p for p in command.params if p.name == "tenant")
        assert param.param_type_name == "option" and param.opts == ["--tenant"], " ".join(path)
