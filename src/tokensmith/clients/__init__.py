"""OAuth clients: the immutable snapshot the hot path uses (:mod:`~tokensmith.clients.records`), its cached
lookup (:mod:`~tokensmith.clients.directory`) and the management operations behind the CLI, the console and
SMART app registration (:mod:`~tokensmith.clients.management`). Not to be confused with
:mod:`tokensmith.client`, the client SDK, which imports nothing of the server."""

from tokensmith.clients.directory import ClientDirectory
from tokensmith.clients.management import (
    auth_methods,
    create_client,
    list_clients,
    rotate_client_secret,
    set_client_status,
    set_redirect_uris,
)
from tokensmith.clients.records import GRANT_CLIENT_CREDENTIALS, ClientRecord, snapshot

__all__ = [
    "GRANT_CLIENT_CREDENTIALS",
    "ClientDirectory",
    "ClientRecord",
    "auth_methods",
    "create_client",
    "list_clients",
    "rotate_client_secret",
    "set_client_status",
    "set_redirect_uris",
    "snapshot",
]
