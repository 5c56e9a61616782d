"""``st`` (the Schemathesis CLI), run as ``python -m tests.fuzz.st_runner``, with one guard: CPython
3.11.7's compiler can fail ``ast.parse`` of a large file with ``SystemError: AST constructor recursion
depth mismatch`` (the bug that makes pyproject disable hypothesis's pytest plugin). Hypothesis parses
source files only to describe a lambda in a strategy's repr; when that fails, the description is a
placeholder instead of a crash of the run. The same bug hit anyio's lazy importer, which ``compile``s its
own source to an AST when first imported -- by schemathesis deep inside a worker thread's stack, where
the failure ended one operation with a "Runtime Error": it is imported here first, on a shallow stack.
Fixed in CPython 3.11.8; harmless on later versions."""

from __future__ import annotations

import sys
from typing import Any

import anyio  # noqa: F401  (first import on a shallow stack: see above)
from hypothesis.internal import lambda_sources

_describe = lambda_sources.lambda_description


def _described(f: Any) -> str:
    try:
        return str(_describe(f))
    except SystemError:
        return "lambda: <source unavailable>"


lambda_sources.lambda_description = _described

if __name__ == "__main__":
    from schemathesis.cli import schemathesis

    sys.argv[0] = "st"
    sys.exit(schemathesis())
