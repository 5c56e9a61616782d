"""The immutable snapshot of an OAuth client that the hot path uses (no ORM object leaves a session)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokensmith.scopes import covered_by_any
from tokensmith.storage.models import OAuthClient, Role

GRANT_CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True)
class ClientRecord:
    """An immutable snapshot of a client: what the token endpoint needs, without the ORM."""

    id: str
    tenant_id: str
    client_id: str
    name: str
    kind: str
    is_confidential: bool
    secret_hash: str | None = field(repr=False)
    previous_secret_hash: str | None = field(repr=False)
    previous_secret_expires_at: float | None
    auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    allowed_scopes: tuple[str, ...]
    role: str | None
    access_token_ttl: int
    access_token_format: str
    status: str
    tokens_valid_after_ms: int
    jwks: dict[str, Any] | None
    jwks_uri: str | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def public_view(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "tenant_id": self.tenant_id,
            "kind": self.kind,
            "is_confidential": self.is_confidential,
            "token_endpoint_auth_method": self.auth_method,
            "grant_types": list(self.grant_types),
            "redirect_uris": list(self.redirect_uris),
            "scopes": list(self.allowed_scopes),
            "role": self.role,
            "access_token_ttl": self.access_token_ttl,
            "access_token_format": self.access_token_format,
            "status": self.status,
        }


def snapshot(row: OAuthClient, role: Role | None) -> ClientRecord:
    # The role is the most the client may get; its own scopes, when it has some, narrow that (and a role
    # narrowed later cuts them down with it).
    if role is None:
        allowed = tuple(row.scopes or ())
    elif row.scopes:
        allowed = tuple(s for s in row.scopes if covered_by_any(role.permissions, s))
    else:
        allowed = tuple(role.permissions)
    prev_exp = row.previous_secret_expires_at.timestamp() if row.previous_secret_expires_at else None
    return ClientRecord(
        id=row.id, tenant_id=row.tenant_id, client_id=row.client_id, name=row.name, kind=row.kind,
        is_confidential=row.is_confidential, secret_hash=row.secret_hash,
        previous_secret_hash=row.previous_secret_hash, previous_secret_expires_at=prev_exp,
        auth_method=row.token_endpoint_auth_method, grant_types=tuple(row.grant_types or ()),
        redirect_uris=tuple(row.redirect_uris or ()), allowed_scopes=allowed,
        role=role.name if role is not None else None, access_token_ttl=row.access_token_ttl,
        access_token_format=row.access_token_format, status=row.status,
        tokens_valid_after_ms=row.tokens_valid_after_ms, jwks=row.jwks, jwks_uri=row.jwks_uri,
    )
