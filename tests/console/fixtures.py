"""A tenant populated with one of everything the console shows, so that every route has real ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.people.helpers import make_user
from tests.support import LiveServer


@dataclass
class Populated:
    key_id: str
    client_id: str
    user_id: str
    kid: str
    token_id: str
    session_id: str
    app_id: str
    patient_id: str

    def ids(self) -> dict[str, str]:
        """Path parameters of every console route; ``kind``: a directory; ``my_session_id``: a session of
        the signed-in user's own, which a test that signs in replaces with theirs."""
        return {"key_id": self.key_id, "client_id": self.client_id, "user_id": self.user_id, "kid": self.kid,
                "token_id": self.token_id, "session_id": self.session_id, "app_id": self.app_id,
                "kind": "patients", "my_session_id": self.session_id}


def populate(server: LiveServer) -> Populated:
    from tokensmith.apikeys.management import create_api_key
    from tokensmith.people.sessions import list_sessions
    from tokensmith.people.user_tokens import create_user_token
    from tokensmith.signing_keys import list_keys
    from tokensmith.smart.apps import AppSpec, register_app
    from tokensmith.smart.directory import create_person

    tenant = server.tenant_id
    assert tenant is not None
    key, _ = server.call(lambda rt: create_api_key(rt, tenant_id=tenant, name="k", scopes=["Patient.read"]))
    client, _ = server.create_client(name="c", scopes=["Patient.read"])
    other = make_user(server, "other@example.com", role="member")
    token, _ = server.call(lambda rt: create_user_token(rt, user_id=other.id, tenant_id=tenant, name="t"))
    keys: list[dict[str, Any]] = server.call(list_keys)
    sessions = server.call(lambda rt: list_sessions(rt, tenant, user_id=other.id))
    spec = AppSpec(name="a", redirect_uris=["https://app.example/cb"], scopes=["patient/*.rs"], is_confidential=True)
    app = server.call(lambda rt: register_app(rt, tenant_id=tenant, spec=spec))
    patient = server.call(lambda rt: create_person(rt, "Patient", tenant_id=tenant, given=["Al"], family="Bo"))
    return Populated(key_id=key.id, client_id=client.client_id, user_id=other.id,
                     kid=next(k["kid"] for k in keys if k["status"] == "next"), token_id=token.id,
                     session_id=sessions[0].id, app_id=app["clientId"], patient_id=patient.id)


def console_routes(server: LiveServer) -> list[tuple[str, str]]:
    """(method, path template) of every console route (from the routers the app includes)."""
    from tokensmith.console.routes import MODULES

    found = []
    for route in (r for module in MODULES for r in module.router.routes):
        path = getattr(route, "path", "")
        if path.startswith("/console"):
            for method in sorted(getattr(route, "methods", ()) or ()):
                if method in ("GET", "POST"):
                    found.append((method, path))
    return sorted(set(found))


def my_session_id(server: LiveServer, email: str) -> str:
    """The browser session of the user signed in as ``email`` (the newest of theirs)."""
    from tokensmith.people.sessions import list_sessions
    from tokensmith.people.users import find_user

    found = server.call(lambda rt: find_user(rt, email, server.tenant_id))
    mine = server.call(lambda rt: list_sessions(rt, server.tenant_id, user_id=found.id))
    return str(max(mine, key=lambda s: s.created_at).id)
