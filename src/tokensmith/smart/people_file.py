"""The directory's import file, as ``tokensmith patients import FILE`` and the console's import page read
it: JSON (a list of ``POST /smart/patients`` bodies, or FHIR resources whose ``name`` is a list of
HumanNames, the first one counting) or CSV with the columns ``id,given,family,birthDate`` (given names
separated by spaces). The entries are then checked and stored by
:func:`tokensmith.smart.directory.import_people`, all or nothing."""

from __future__ import annotations

import csv
import io
import json
from typing import Any


class PeopleFileError(ValueError):
    """A file that is not an import file at all; the message says why (without the file's contents)."""


def parse_people(text: str, *, is_csv: bool) -> list[dict[str, Any]]:
    """The entries of an import file's text (``is_csv``: by the file's ``.csv`` name)."""
    text = text.removeprefix("\ufeff")
    if is_csv:
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:
            raise PeopleFileError(f"not a CSV file: {exc}") from None
        return [{"id": r.get("id") or None, "birthDate": r.get("birthDate") or None,
                 "name": {"given": (r.get("given") or "").split(), "family": r.get("family") or None}}
                for r in rows]
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        raise PeopleFileError(f"neither CSV (by a .csv name) nor JSON: {exc}") from None
    except RecursionError:  # "[[[[…" nested past the parser's depth
        raise PeopleFileError("not an import file: JSON nested too deeply") from None
    if not isinstance(loaded, list) or not all(isinstance(e, dict) for e in loaded):
        raise PeopleFileError("a JSON import is a list of objects")
    for entry in loaded:
        if isinstance(entry.get("name"), list):  # a FHIR resource: its first HumanName
            entry["name"] = entry["name"][0] if entry["name"] else {}
    return list(loaded)
