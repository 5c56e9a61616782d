"""Every configuration default of tokensmith, documented once.

Values come from ``TOKENSMITH_*`` environment variables, then from an optional TOML file
(``TOKENSMITH_CONFIG_FILE``, table ``[tokensmith]`` or top level), then from the defaults below.
``docs/configuration.md`` is generated from this module (``python -m tokensmith.config``).

Outside development mode the settings refuse to load with a missing or placeholder master key and
with a plain-HTTP issuer: a token service that silently runs on a guessable key is worse than one
that does not start.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tokensmith.errors import ConfigurationError

PLACEHOLDER_MASTER_KEYS = frozenset(
    {"", "change-me", "changeme", "change_me", "placeholder", "secret", "master-key", "xxx", "todo", "test"}
)
MIN_MASTER_KEY_LENGTH = 32
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "placeholder", "replace-me", "your-", "example")
MIN_DISTINCT_CHARACTERS = 10
DEV_MASTER_KEY_FILE = "tokensmith.master-key"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file named by ``TOKENSMITH_CONFIG_FILE``."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        path = os.environ.get("TOKENSMITH_CONFIG_FILE")
        if path:
            try:
                with open(path, "rb") as fh:
                    raw = tomllib.load(fh)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigurationError(f"cannot read configuration file {path}: {exc}") from exc
            self._data = raw.get("tokensmith", raw)
            unknown = sorted(set(self._data) - set(settings_cls.model_fields))
            if unknown:  # a typo must not silently fall back to a default
                raise ConfigurationError(f"unknown setting(s) in {path}: {', '.join(unknown)}")

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """The service configuration. Field descriptions are the configuration reference."""

    model_config = SettingsConfigDict(env_prefix="TOKENSMITH_", extra="ignore", validate_default=True)

    env: Literal["development", "production"] = Field(
        "production",
        description="`development` allows plain HTTP, a generated master key (kept in "
        "`tokensmith.master-key` next to the database) and relaxed checks. Never use it in production.",
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./tokensmith.db", repr=False,
        description="SQLAlchemy async URL. Default: a SQLite file in the working directory. "
        "PostgreSQL: `postgresql+asyncpg://user:pass@host/db`.",
    )
    redis_url: str | None = Field(
        None, repr=False,
        description="Redis URL for shared rate limits, revocation fan-out and caches across instances. "
        "Unset: everything stays in process (fine for one instance).",
    )
    redis_namespace: str = Field(
        "tokensmith", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of every Redis key and pub/sub channel tokensmith uses. Deployments that share "
        "one Redis server must each have their own, or they would share rate limits, caches and revocations.",
    )
    issuer: str = Field(
        "http://127.0.0.1:8000",
        description="Public base URL of the service; the `iss` of every token and the base of discovery URLs.",
    )
    master_key: SecretStr | None = Field(
        None, repr=False,
        description="Secret from which the keys for hashing secrets, encrypting signing keys and chaining "
        "the audit log are derived (HKDF). At least 32 characters. Required outside development. Never "
        "shown: `repr`, dumps and messages print `**********`.",
    )
    default_audience: str | None = Field(
        None, description="`aud` of access tokens when the request names no resource. Default: the issuer."
    )
    host: str = Field("127.0.0.1", description="Address `tokensmith serve` binds to.")
    port: int = Field(8000, description="Port `tokensmith serve` listens on.")
    workers: int = Field(1, ge=1, description="Worker processes for `tokensmith serve`.")
    worker_healthcheck_timeout: int = Field(
        30, ge=1, le=3600, description="Seconds a worker of `serve --workers N` may take to start or to answer the "
        "supervisor's health ping before it is restarted (a busy or slow machine needs more than uvicorn's 5).")
    signing_alg: Literal["ES256", "RS256", "EdDSA"] = Field(
        "ES256", description="Algorithm of newly generated signing keys."
    )
    client_token_ttl: int = Field(
        3600, gt=0, description="Default access-token lifetime (s) of new OAuth clients."
    )
    max_token_ttl: int = Field(
        90 * 24 * 3600,
        gt=0,
        description="Upper bound (s) of an OAuth client's access-token lifetime, checked when the client is "
        "created. (A retired signing key stays published as long as the longest lifetime in use: every "
        "client's and API key's, and every lifetime configured here.)",
    )
    jwt_leeway: int = Field(30, ge=0, description="Clock skew (s) tolerated when validating `exp`/`nbf`/`iat`.")
    revocation_poll_interval: float = Field(
        0.5,
        gt=0,
        description="How often (s) each process reads the revocation feed from the database. Keeps "
        "revocations effective across instances within one second even without Redis.",
    )
    client_cache_ttl: float = Field(
        30.0, gt=0, description="Seconds a client record is cached in process (changes invalidate at once)."
    )
    audit_flush_interval: float = Field(
        0.2, gt=0, description="Seconds between audit-log batch writes (events are never written per request)."
    )
    audit_batch_size: int = Field(500, gt=0, description="Most audit events written in one batch.")
    audit_spool: bool = Field(
        True, description="Append every audit event to a local crash spool before the response that caused it "
        "leaves, and replay it at start-up (events survive `kill -9`; docs/security.md). One `write()` per "
        "event, no `fsync`.")
    audit_spool_dir: str | None = Field(
        None, description="Directory of the crash spool (one sub-directory per database). Unset: `audit-spool` "
        "next to the SQLite file, or in the working directory for other databases — give PostgreSQL "
        "deployments a local, persistent directory of their own.")
    writer_stall_after: float = Field(
        60.0, gt=0, description="A background writer (audit log, API-key usage, exchange users) that has had "
        "writes pending for longer than this many seconds without writing them is stalled: `/readyz` fails "
        "naming it and `tokensmith_writer_stalled{writer=...}` is 1.")
    audit_checkpoint_interval: float = Field(
        300.0, ge=0, description="Seconds between signed checkpoints of the audit chain head (an "
        "`audit.checkpoint` event holding a JWS signed with the active signing key). "
        "`tokensmith audit verify --since-checkpoint` checks only what came after the newest one. 0: only on "
        "demand (`tokensmith audit checkpoint`).")
    audit_verify_workers: int = Field(
        0, ge=0, description="Processes `tokensmith audit verify` checks a long chain with (parts of at least "
        "200,000 events each; the findings are the same as with one). 0: one per CPU core. The service's own "
        "background verification always uses one.")
    audit_retention_days: float = Field(
        0.0, ge=0, description="Audit events older than this many days are archived (up to the newest "
        "checkpoint before that age) to `audit_archive_dir` and deleted from the database. 0: the database "
        "keeps every event.")
    audit_archive_rate: float = Field(
        20_000.0, ge=0, description="Events per second the retention job (and `tokensmith audit archive` unless "
        "`--rate` says otherwise) archives, and then prunes, at most: it sleeps between bounded batches so that "
        "the token endpoints keep their share of the cores and of the database. 0: as fast as it goes.")
    audit_archive_nice: int = Field(
        10, ge=0, le=19, description="Scheduling priority (`nice`) of the archiver's CPU work: its thread in the "
        "service (Linux), the whole `tokensmith audit archive` process. 0: as the service.")
    audit_archive_dir: str | None = Field(
        None, description="Where the retention job writes its archive files (gzip JSON lines, "
        "`audit-<first seq>-<last seq>.jsonl.gz`). Default: `audit-archive` next to the SQLite file, or in "
        "the working directory.")
    client_auth_failures_per_minute: int = Field(
        10,
        gt=0,
        description="Failed client authentications allowed per client id (and per IP) per minute before "
        "the token endpoint answers 429.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses/CIDRs of reverse proxies whose `X-Forwarded-For` is believed.",
    )
    max_request_body: int = Field(
        1024 * 1024, gt=0, description="Largest request body (bytes) accepted by any endpoint; larger ones get "
        "`413` before they are read (form endpoints also refuse bodies over 64 KiB).")
    db_retry_after: int = Field(5, gt=0, description="`Retry-After` (s) sent with 503 when the database is down.")
    log_level: str = Field("INFO", description="Log level of the JSON logs.")
    access_log: bool = Field(
        True, description="Write a JSON access-log line per request (method, path, status, duration, request id). "
        "The lines are at `info` level: a `log_level` of `WARNING` or above leaves them out too."
    )
    db_pool_size: int = Field(10, gt=0, description="Connection pool size per process (PostgreSQL).")
    # ---- people: sign-in, sessions, user tokens (docs/security.md) ----
    login_access_token_ttl: int = Field(
        900, gt=0, description="Lifetime (s) of the JWT access tokens of `/auth/login` and `/auth/refresh` "
        "(`expiresIn`).")
    session_idle_timeout: int = Field(
        15 * 24 * 3600, gt=0, description="A sign-in session ends when its refresh token has not been used "
        "for this long (s).")
    session_absolute_timeout: int = Field(
        30 * 24 * 3600, gt=0, description="A sign-in session ends this long (s) after the sign-in, however "
        "often it is refreshed.")
    refresh_reuse_grace: float = Field(
        2.0, ge=0, description="An already-used refresh token presented within this many seconds of the "
        "latest token issued from it is refused with 409 without ending the session (two concurrent "
        "refreshes of one client). Keep it below `db_retry_after`, so that a client retrying as a 503 told "
        "it to is judged by `refresh_retry_window` instead. 0: no such grace.")
    refresh_retry_window: float = Field(
        60.0, ge=0, description="An already-used refresh token presented again within this many seconds of "
        "its use, while its successor has never been used, is a retry after a lost reply (a 503, a timeout): "
        "the unused successor is invalidated and a new pair issued. Later, or once the successor was used, "
        "the reuse revokes the whole session. 0: every reuse outside the grace period revokes.")
    login_max_failures: int = Field(
        5, gt=0, description="Failed sign-in attempts (wrong password or wrong second-factor code) after "
        "which an account is locked.")
    login_failure_window: int = Field(
        900, gt=0, description="Failures count towards the lockout while each follows the previous one "
        "within this many seconds; a longer pause starts the count again.")
    login_lockout_seconds: int = Field(
        900, gt=0, description="How long (s) a locked account refuses every sign-in (429 with `retry_after`).")
    login_ip_failures_per_minute: int = Field(
        30, gt=0, description="Failed sign-in attempts allowed per client IP per minute, across all accounts.")
    password_min_length: int = Field(12, ge=8, description="Minimum length of new passwords.")
    mfa_token_ttl: int = Field(
        300, gt=0, description="Lifetime (s) of the `mfaToken` of a sign-in waiting for its TOTP code.")
    totp_issuer: str = Field("tokensmith", description="Issuer name shown by authenticator apps.")
    # ---- browser sign-in and the authorization-code flow (docs/architecture.md, docs/smart.md) ----
    browser_session_idle_timeout: int = Field(
        3600, gt=0, le=30 * 24 * 3600, description="A browser sign-in session (`/signin`, the authorization "
        "endpoint, the console) ends when it has not been used for this long (s).")
    browser_session_absolute_timeout: int = Field(
        12 * 3600, gt=0, le=90 * 24 * 3600, description="A browser sign-in session ends this long (s) after "
        "the sign-in, however often it is used.")
    code_flow_access_token_ttl: int = Field(
        900, gt=0, le=24 * 3600, description="Lifetime (s) of the access tokens of the authorization-code and "
        "refresh-token grants (`expires_in`).")
    authorization_code_ttl: int = Field(
        60, gt=0, le=600, description="Lifetime (s) of an authorization code (single-use).")
    user_token_access_ttl: int = Field(
        600, gt=0, description="Lifetime (s) of the opaque access tokens of `POST /api/user/oauth2/token`.")
    # ---- API keys and the session token exchange (docs/api-keys.md, docs/session-token-exchange.md) ----
    api_key_cache_ttl: float = Field(
        30.0, gt=0, description="Seconds an API key record is cached in process. Changes (revoke, rotate, "
        "deactivate, edit) invalidate it at once through the revocation feed; the TTL is only a backstop.")
    api_key_redis_cache_ttl: int = Field(
        60, gt=0, description="Seconds an API key record is cached in Redis (when configured) for the other "
        "instances; guarded by a per-key generation counter so a stale copy is never used.")
    api_key_default_rate_limit: int = Field(
        6000, ge=0, description="Requests per minute allowed per API key whose `rateLimit` is null and whose "
        "tenant sets no default. 0: no limit.")
    api_key_usage_flush_interval: float = Field(
        5.0, gt=0, description="Seconds between batched writes of API keys' `lastUsedAt` (never written per "
        "request).")
    api_key_max_grace_period: int = Field(
        30 * 24 * 3600, ge=0, description="Longest grace period (s) an API key rotation may keep the old secret.")
    exchange_token_ttl: int = Field(
        3600, gt=0, description="Default lifetime (s) of session tokens issued by `POST /api/v1/token/` "
        "(per key: `tokenTtl`).")
    exchange_max_token_ttl: int = Field(
        24 * 3600, gt=0, description="Upper bound (s) of a key's session-token lifetime (`tokenTtl`).")
    exchange_audience: str | None = Field(
        None, description="`aud` of session tokens. Default: the default audience (the issuer).")
    exchange_refuse_browser_requests: bool = Field(
        True, description="Refuse API-key requests that carry browser markers (`Origin`, `Sec-Fetch-Mode`) "
        "unless the key has `allowBrowser`; each is audited as a possible key leak.")
    exchange_user_flush_interval: float = Field(
        2.0, gt=0, description="Seconds between batched upserts of the users seen by the session exchange.")
    exchange_user_touch_interval: float = Field(
        60.0, ge=0, description="A user seen again with the same details is written at most once per this "
        "many seconds (`lastSeenAt` precision).")

    # ---- SMART on FHIR (docs/smart.md) ----
    fhir_base_url: str | None = Field(
        None, description="The FHIR base URL: the `aud` SMART apps send (the only `aud` the authorization "
        "endpoint accepts) and where `/fhir/.well-known/smart-configuration` is served. Default: `<issuer>/fhir`.")
    smart_app_token_ttl: int = Field(
        900, gt=0, le=86400, description="Lifetime (s) of the access tokens of SMART apps registered with "
        "`POST /smart/apps` (code-flow apps).")
    smart_backend_token_ttl: int = Field(
        300, gt=0, le=300, description="Lifetime (s) of the access tokens of SMART backend services "
        "(at most 300, as SMART Backend Services recommends).")
    smart_launch_ttl: int = Field(
        300, gt=0, le=3600, description="Lifetime (s) of an EHR launch value minted by `POST /smart/launch`.")
    client_assertion_max_lifetime: int = Field(
        300, gt=0, le=3600, description="How far ahead (s) a `private_key_jwt` client assertion's `exp` may "
        "be; later ones are refused.")
    client_jwks_fetch_timeout: float = Field(
        5.0, gt=0, le=60, description="Timeout (s) of fetching a client's `jwks_uri`.")
    client_jwks_max_bytes: int = Field(
        65536, gt=0, le=1048576, description="Largest JWK Set (bytes) fetched from a client's `jwks_uri`.")
    client_jwks_cache_ttl: float = Field(
        300.0, gt=0, description="Seconds a fetched client JWK Set is cached in process.")
    client_jwks_refresh_interval: float = Field(
        30.0, ge=0, description="An unknown `kid` (or an expired cache) refetches a client's `jwks_uri` at most "
        "once per this many seconds, whether the fetch succeeds or not.")
    client_jwks_stale_ttl: float = Field(
        3600.0, ge=0, description="When refetching a client's `jwks_uri` fails (network error, non-200, bad "
        "JSON), its last good JWK Set stays in use this many seconds past `client_jwks_cache_ttl` (logged).")
    client_jwks_allow_internal: bool = Field(
        False, description="Let clients' `jwks_uri` hosts resolve to private, loopback or link-local addresses "
        "(closed networks, tests). Development allows them anyway.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value

    @field_validator("issuer")
    @classmethod
    def _strip_issuer(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "development":
            return self
        if _weak_master_key(self._master_key_value().strip()):
            raise ConfigurationError(
                "TOKENSMITH_MASTER_KEY is missing, shorter than 32 characters or a placeholder; "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'` "
                "(or set TOKENSMITH_ENV=development for a local trial)"
            )
        if not self.issuer.startswith("https://"):
            raise ConfigurationError("TOKENSMITH_ISSUER must be an https:// URL outside development mode")
        return self

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def fhir_base(self) -> str:
        """The FHIR base URL (``TOKENSMITH_FHIR_BASE_URL``, else ``<issuer>/fhir``)."""
        return (self.fhir_base_url or f"{self.issuer}/fhir").rstrip("/")

    @property
    def audience(self) -> str:
        return self.default_audience or self.issuer

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        tail = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        return Path(tail) if tail and tail != ":memory:" else None

    def audit_spool_path(self) -> Path | None:
        """The crash spool's directory for this database (None: the spool is off)."""
        if not self.audit_spool:
            return None
        from tokensmith.audit.spool import spool_directory

        if self.audit_spool_dir:
            base = Path(self.audit_spool_dir)
        else:
            db_path = self.sqlite_path()
            base = (db_path.parent if db_path else Path.cwd()) / "audit-spool"
        return spool_directory(base, self.database_url)

    def _master_key_value(self) -> str:
        return self.master_key.get_secret_value() if self.master_key is not None else ""

    def resolved_master_key(self) -> str:
        """The master key; in development a generated one, persisted next to the database. The one place
        the secret is read out of its ``SecretStr``."""
        if self._master_key_value():
            return self._master_key_value()
        if not self.is_development:  # pragma: no cover - the validator already refused this
            raise ConfigurationError("TOKENSMITH_MASTER_KEY is required")
        db_path = self.sqlite_path()
        folder = db_path.parent if db_path else Path.cwd()
        key_file = folder / DEV_MASTER_KEY_FILE
        if key_file.exists():
            return key_file.read_text().strip()
        folder.mkdir(parents=True, exist_ok=True)
        generated = secrets.token_urlsafe(48)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generated)
        return generated


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and TOML file); overrides win. Raises ConfigurationError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "_".join(str(part) for part in err.get("loc", ())) or "configuration"
            got = "" if "master_key" in name else f" (got {err.get('input')!r:.60})"
            problems.append(f"TOKENSMITH_{name.upper()}: {err.get('msg', 'invalid')}{got}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


def _weak_master_key(key: str) -> bool:
    """Missing, short, a known placeholder, or obviously not random (``xxxx…``, ``change-me-…``)."""
    lowered = key.lower()
    return (
        len(key) < MIN_MASTER_KEY_LENGTH
        or lowered in PLACEHOLDER_MASTER_KEYS
        or any(word in lowered for word in PLACEHOLDER_WORDS)
        or len(set(key)) < MIN_DISTINCT_CHARACTERS
    )


def _doc_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, list | tuple):
        return "`[" + ", ".join(json.dumps(v) for v in value) + "]`"
    return f"`{value}`"


def _doc_type(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " \\| ".join(f"`{v}`" for v in get_args(annotation))
    names = []
    for arg in get_args(annotation) or (annotation,):
        if arg is type(None):
            continue
        if arg is SecretStr:
            names.append("str (secret)")
            continue
        origin = get_origin(arg)
        names.append(f"list of {get_args(arg)[0].__name__}" if origin is list else getattr(arg, "__name__", str(arg)))
    return " or ".join(names)


def render_reference() -> str:
    """The Markdown configuration reference (docs/configuration.md)."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `src/tokensmith/config.py` by `python -m tokensmith.config > docs/configuration.md`;",
        "do not edit by hand (a test checks that this file is current).",
        "",
        "Every setting is read from the environment variable `TOKENSMITH_<NAME>` (upper case), or from the",
        "TOML file named by `TOKENSMITH_CONFIG_FILE` (keys in lower case, top level or in a `[tokensmith]`",
        "table). Environment variables win over the file. An unknown key in the file is an error, so that a",
        "typo never silently falls back to a default. Lists are JSON in the environment",
        "(`TOKENSMITH_TRUSTED_PROXIES='[\"10.0.0.0/8\"]'`) and arrays in TOML.",
        "",
        "Outside development (`TOKENSMITH_ENV=production`, the default) the service and every CLI command",
        f"refuse to start (exit status 2) when `TOKENSMITH_MASTER_KEY` is missing, shorter than "
        f"{MIN_MASTER_KEY_LENGTH}",
        "characters, a known placeholder (`change-me`, …) or obviously not random, and when `TOKENSMITH_ISSUER`",
        "is not an `https://` URL.",
        "",
        "| variable | type | default | description |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]  # pydantic types default_factory as maybe taking the data
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `TOKENSMITH_{name.upper()}` | {_doc_type(field.annotation)} | {_doc_default(default)} "
                     f"| {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render_reference(), end="")
