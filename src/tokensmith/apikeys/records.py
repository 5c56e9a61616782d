"""The immutable snapshot of an API key that the hot path works with (no ORM object, no database), and
its JSON views for the management API (spec E)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tokensmith.clock import iso_z
from tokensmith.storage.models import ApiKey


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def fold_organisation(name: str) -> str:
    """Organisations are compared without regard to case or surrounding/repeated white space."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    tenant_id: str
    client_id: str
    name: str
    secret_hash: str = field(repr=False)
    previous_secret_hash: str | None = field(repr=False)
    previous_secret_expires_at: float | None
    scopes: tuple[str, ...]
    expires_at: float | None
    active: bool
    revoked_at: float | None
    rate_limit: int | None  # the key's own setting; None: the tenant default
    effective_rate_limit: int | None  # what applies (key, else tenant default, else setting); None: no limit
    token_ttl: int
    allowed_organisations: tuple[str, ...] | None
    allow_browser: bool
    created_at: float
    created_by: str | None
    last_used_at: float | None
    folded_organisations: frozenset[str] | None = None

    def unusable_reason(self, now: float) -> str | None:
        """Why the key cannot be used at ``now`` (for logs and audit), or None when it can."""
        if self.revoked_at is not None:
            return "revoked"
        if not self.active:
            return "inactive"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return None

    def allows_organisation(self, organisation: str) -> bool:
        if self.folded_organisations is None:
            return True
        return fold_organisation(organisation) in self.folded_organisations

    def previous_secret_valid(self, now: float) -> bool:
        return (self.previous_secret_hash is not None and self.previous_secret_expires_at is not None
                and now < self.previous_secret_expires_at)

    # ---- the Redis copy ----
    def to_cache(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("folded_organisations")
        return data

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> ApiKeyRecord:
        data = dict(data)
        data["scopes"] = tuple(data["scopes"])
        orgs = data.get("allowed_organisations")
        data["allowed_organisations"] = tuple(orgs) if orgs is not None else None
        return build(**data)


def build(**fields: Any) -> ApiKeyRecord:
    orgs = fields.get("allowed_organisations")
    fields["folded_organisations"] = frozenset(fold_organisation(o) for o in orgs) if orgs is not None else None
    return ApiKeyRecord(**fields)


def effective_rate_limit(own: int | None, tenant_default: int | None, setting_default: int) -> int | None:
    """``rateLimit`` null means the tenant default; a tenant without one falls back to the setting
    (``TOKENSMITH_API_KEY_DEFAULT_RATE_LIMIT``; 0 there means no limit)."""
    if own is not None:
        return own
    if tenant_default is not None:
        return tenant_default if tenant_default > 0 else None
    return setting_default if setting_default > 0 else None


def from_row(row: ApiKey, tenant_default: int | None, setting_default: int) -> ApiKeyRecord:
    return build(
        id=row.id, tenant_id=row.tenant_id, client_id=row.client_id, name=row.name, secret_hash=row.secret_hash,
        previous_secret_hash=row.previous_secret_hash,
        previous_secret_expires_at=_ts(row.previous_secret_expires_at),
        scopes=tuple(row.scopes or ()), expires_at=_ts(row.expires_at), active=bool(row.active),
        revoked_at=_ts(row.revoked_at), rate_limit=row.rate_limit,
        effective_rate_limit=effective_rate_limit(row.rate_limit, tenant_default, setting_default),
        token_ttl=row.token_ttl, allowed_organisations=tuple(row.allowed_organisations)
        if row.allowed_organisations is not None else None,
        allow_browser=bool(row.allow_browser), created_at=_ts(row.created_at) or 0.0, created_by=row.created_by,
        last_used_at=_ts(row.last_used_at),
    )


def created_view(record: ApiKeyRecord, secret: str) -> dict[str, Any]:
    """The exact ``201`` body of ``POST /api-keys`` (and of ``tokensmith apikeys create --json``)."""
    return {
        "id": record.id,
        "name": record.name,
        "clientId": record.client_id,
        "secret": secret,
        "scopes": list(record.scopes),
        "expiresAt": iso_z(record.expires_at),
        "active": record.active,
        "rateLimit": record.rate_limit,
        "createdAt": iso_z(record.created_at),
    }


def view(record: ApiKeyRecord, last_used_at: float | None = None) -> dict[str, Any]:
    """``GET /api-keys/{id}``: the same fields without the secret, plus what the key's owner manages."""
    used = max(filter(None, (record.last_used_at, last_used_at)), default=None)
    return {
        "id": record.id,
        "name": record.name,
        "clientId": record.client_id,
        "scopes": list(record.scopes),
        "expiresAt": iso_z(record.expires_at),
        "active": record.active,
        "rateLimit": record.rate_limit,
        "createdAt": iso_z(record.created_at),
        "lastUsedAt": iso_z(used),
        "revokedAt": iso_z(record.revoked_at),
        "tokenTtl": record.token_ttl,
        "allowedOrganisations": list(record.allowed_organisations)
        if record.allowed_organisations is not None else None,
        "allowBrowser": record.allow_browser,
        "previousSecretExpiresAt": iso_z(record.previous_secret_expires_at),
    }
