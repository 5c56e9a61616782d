"""tokensmith: a self-hosted token service for API platforms."""

__version__ = "0.1.0"
