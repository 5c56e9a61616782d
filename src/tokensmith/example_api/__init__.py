"""The example FHIR-style API protected by :mod:`tokensmith.guard` (``tokensmith example-api``)."""
