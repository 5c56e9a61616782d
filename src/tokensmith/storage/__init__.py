"""Persistence: SQLAlchemy 2 (async) tables, the database handle and repositories.

The same code runs on SQLite (embedded default) and PostgreSQL; migrations are Alembic scripts shipped
inside the package (``tokensmith db upgrade``)."""
