"""``tokensmith.guard``: the resource-server guard for the platform's APIs (docs/guard.md).

Importing it needs no database or server configuration: it talks to the service over HTTP (discovery,
JWKS, introspection, the revocation feed) and, when given one, Redis.
"""

from tokensmith.guard.asgi import GuardMiddleware, check, install_error_handler, requires
from tokensmith.guard.core import Guard
from tokensmith.guard.principal import CredentialKind, Principal
from tokensmith.guard.settings import GuardSettings

__all__ = ["CredentialKind", "Guard", "GuardMiddleware", "GuardSettings", "Principal", "check",
           "install_error_handler", "requires"]
