"""The tables. One module so that the schema can be read in one place; Alembic migrations mirror it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column
from sqlalchemy.types import TypeDecorator

from tokensmith.storage.compact import HexDigest, Micros, PackedIP, PackedText
from tokensmith.storage.shapes import data_of

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    if TYPE_CHECKING:
        # Every model here is mapped to a Table (SQLAlchemy types ``__table__`` as any FromClause), and the
        # hot paths use those tables with Core (``_U = User.__table__``; ``update(_U)``, ``_U.insert()``).
        __table__: ClassVar[Table]


def _now() -> datetime:
    return datetime.now(UTC)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_rate_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    #: Set while the tenant is disabled: none of its credentials work (see tokensmith.tenants).
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Role(Base):
    """A named set of permissions (scope strings). Built-in roles are created per tenant by ``init``."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(100))
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"))
    project_permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | disabled
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    recovery_codes: Mapped[list[str]] = mapped_column(JSON, default=list)  # keyed hashes
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)
    #: SMART ``fhirUser``: ``Practitioner/<id>`` or ``Patient/<id>`` of the tenant's directory
    fhir_user: Mapped[str | None] = mapped_column(String(200), nullable=True)


class OAuthClient(Base):
    """An OAuth client / app. ``tokens_valid_after_ms`` invalidates every token issued before it
    (disable, secret rotation without grace) without storing tokens."""

    __tablename__ = "oauth_clients"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="oauth")  # oauth | smart
    is_confidential: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40), default="client_secret_basic")
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    role_id: Mapped[str | None] = mapped_column(ForeignKey("roles.id"), nullable=True)
    access_token_ttl: Mapped[int] = mapped_column(Integer, default=3600)
    access_token_format: Mapped[str] = mapped_column(String(10), default="jwt")  # jwt | opaque
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | disabled
    tokens_valid_after_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)


class Session(Base):
    """One sign-in or one exchange; every token issued under it carries its id as ``sid``."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # login | exchange | user_token | browser | oauth
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    client_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(400), nullable=True)
    #: the session this one lives and dies with (an ``online_access`` code-flow session: its browser session)
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


class Token(Base):
    """Stored tokens (opaque access tokens, refresh tokens, personal user tokens) — only keyed hashes."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # access | refresh | user_token
    tenant_id: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SigningKey(Base):
    """Asymmetric signing keys. Status: next (published, not signing) → active (signing, exactly one)
    → retired (published until ``publish_until``) ; revoked (never published, tokens fail)."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), index=True)
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Revocation(Base):
    """The revocation feed: the jti deny list plus coarser revocations (session, client, signing key,
    user, API key). Every process polls it (``created_at`` window) and keeps the live entries in memory;
    Redis pub/sub is the fast path when configured. ``not_before_ms``: tokens issued before are dead."""

    __tablename__ = "revocations"
    __table_args__ = (Index("ix_revocations_created_at", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # jti | sid | client | kid | user | apikey | changed
    value: Mapped[str] = mapped_column(String(200))
    not_before_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class AuditName(Base):
    """The audit log's name dictionary (revision 0007): event types, tenant ids and actors -- a few
    thousand distinct values repeated in millions of rows -- stored once, referenced by a small integer.
    Names are kept in their packed form (:func:`~tokensmith.storage.compact.pack_text`). Codes 1 and 2 are
    the high-volume types (``exchange.issued``, ``token.issued``), fixed so that a partial index can
    leave them out. Entries are never changed or deleted (archived events keep their names in the file)."""

    __tablename__ = "audit_names"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(PackedText, unique=True)


def _audit_name(code: Any) -> Any:
    """The name behind a dictionary code, as a column the ORM loads (read-only convenience; the hot
    paths read codes and map them in memory). Selected on its own it needs
    ``.select_from(AuditEvent)``, or the subquery is not correlated to the row."""
    return select(AuditName.name).where(AuditName.id == code).correlate_except(AuditName).scalar_subquery()


#: PostgreSQL's subject index key: 20 bits of the subject's hash above the 43 bits of ``seq`` (one bigint:
#: 20 bytes an entry where ``(subject, seq)`` took ~36); the listing rechecks the subject itself.
SUBJECT_KEY_SQL = "(((hashtext(encode(subject, 'hex')) & 1048575)::bigint << 43) | seq)"


class AuditEvent(Base):
    """Append-only, hash-chained: ``hash = HMAC(audit_key, hash of the previous row || the event)`` (chain
    formats 1 and 2: :mod:`tokensmith.audit.chain`);
    ``seq`` is a gap-free sequence assigned under a lock (see docs/architecture.md). Stored compactly
    (:mod:`tokensmith.storage.compact`, revisions 0003 and 0007): type, tenant and actor as codes of
    :class:`AuditName`, identifiers packed, times as integer microseconds; the previous hash is the
    previous row's, never stored twice. The indexes serve the listing's keyset pages (per tenant, actor,
    subject, time, and type for all but the two high-volume types) and nothing else: ``id`` has no index
    (duplicates are looked up by tenant and time, see :mod:`tokensmith.audit.store`)."""

    __tablename__ = "audit_events"
    # Revision 0008. PostgreSQL: the listing's indexes are bucketed (btree deduplication keeps one entry per
    # tenant, actor or time bucket and a posting list of row pointers: ~7 bytes an event instead of ~35),
    # and the subject index is one bigint (subject hash, seq). SQLite: every index entry ends with the
    # rowid (= seq) anyway, so ``seq`` is not listed a second time. See tokensmith.audit.listing.
    __table_args__ = (
        Index("ix_audit_events_tenant_seq", "tenant_code", text("(seq >> 8)")).ddl_if(dialect="postgresql"),
        Index("ix_audit_events_actor_seq", "actor_code", text("(seq >> 8)")).ddl_if(dialect="postgresql"),
        Index("ix_audit_events_tenant_at_seq", "tenant_code", text("(at >> 16)")).ddl_if(dialect="postgresql"),
        Index("ix_audit_events_subject_seq", text(SUBJECT_KEY_SQL)).ddl_if(dialect="postgresql"),
        Index("ix_audit_events_tenant_seq", "tenant_code").ddl_if(dialect="sqlite"),
        Index("ix_audit_events_actor_seq", "actor_code").ddl_if(dialect="sqlite"),
        Index("ix_audit_events_tenant_at_seq", "tenant_code", "at").ddl_if(dialect="sqlite"),
        Index("ix_audit_events_subject_seq", "subject").ddl_if(dialect="sqlite"),
        Index("ix_audit_events_rare_type_seq", "type_code", "seq", sqlite_where=text("type_code > 2"),
              postgresql_where=text("type_code > 2")),
    )
    # SQLite: exactly INTEGER, so that seq is the rowid (no separate primary-key index)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(Micros)
    type_code: Mapped[int] = mapped_column(Integer)
    tenant_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shape_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    subject: Mapped[str | None] = mapped_column(PackedText, nullable=True)
    ip: Mapped[str | None] = mapped_column(PackedIP, nullable=True)
    request_id: Mapped[str | None] = mapped_column(PackedText, nullable=True)
    id: Mapped[str] = mapped_column(PackedText)
    #: ``data`` as stored: the values of its shape (``shape_code``), or its canonical JSON (no shape)
    packed_data: Mapped[bytes] = mapped_column("data", LargeBinary)
    hash: Mapped[str] = mapped_column(HexDigest)
    type: Mapped[str] = column_property(_audit_name(type_code))
    tenant_id: Mapped[str | None] = column_property(_audit_name(tenant_code))
    actor: Mapped[str | None] = column_property(_audit_name(actor_code))
    shape: Mapped[str | None] = column_property(_audit_name(shape_code))

    @property
    def data(self) -> dict[str, Any]:
        return data_of(self.packed_data, self.shape)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # "user:<id>" | "client:<id>" | "cli"
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    rate_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_ttl: Mapped[int] = mapped_column(Integer, default=3600)
    allowed_organisations: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    allow_browser: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)


class ExchangeUser(Base):
    """Users seen through the session token exchange, per tenant, so they can be listed and blocked."""

    __tablename__ = "exchange_users"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    organisation: Mapped[str] = mapped_column(String(300))
    provider_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    provider_type: Mapped[str | None] = mapped_column(String(60), nullable=True)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)


class Consent(Base):
    """What a user allowed a client at the authorization endpoint (one row per user and client): the
    scopes granted, so the consent page is not shown again for a request within them. Revoked by the user
    (``DELETE /users/me/consents/{clientId}``) by deleting the row."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
# ---- SMART on FHIR (tokensmith.smart) ------------------------------------------------------------------

class SmartPatient(Base):
    """The patient directory of the launch context (SMART): a FHIR-style id and a name, per tenant."""

    __tablename__ = "smart_patients"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    given: Mapped[list[str]] = mapped_column(JSON, default=list)
    family: Mapped[str | None] = mapped_column(String(200), nullable=True)
    birth_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    #: lower-cased "given… family", what the patient picker searches
    search_text: Mapped[str] = mapped_column(String(1200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)


class SmartPractitioner(Base):
    """The practitioner directory (SMART ``fhirUser`` of clinicians), per tenant."""

    __tablename__ = "smart_practitioners"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    given: Mapped[list[str]] = mapped_column(JSON, default=list)
    family: Mapped[str | None] = mapped_column(String(200), nullable=True)
    birth_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    search_text: Mapped[str] = mapped_column(String(1200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)


class SmartLaunch(Base):
    """An EHR launch value (``POST /smart/launch``): only its keyed hash, single-use, short-lived."""

    __tablename__ = "smart_launches"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    value_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    encounter_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ClientAssertionJti(Base):
    """``jti`` values of client assertions already accepted (``private_key_jwt``), kept until the
    assertion's ``exp``: the primary key refuses a replay on every instance."""

    __tablename__ = "client_assertion_jtis"
    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
