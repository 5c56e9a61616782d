"""Alembic migrations shipped with the package; run with ``tokensmith db upgrade``."""
