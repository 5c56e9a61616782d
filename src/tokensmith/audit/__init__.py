"""The audit log: append-only, hash-chained, written in batches off the request path."""

from tokensmith.audit.chain import ChainProblem, ChainWalker
from tokensmith.audit.log import AuditLog

__all__ = ["AuditLog", "ChainProblem", "ChainWalker"]
