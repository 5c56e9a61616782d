"""What ``tokensmith serve`` prints when it starts: where it listens, and the commands to go on with.

The commands are for pasting into *another* shell, which has neither this process's working directory nor
its environment: the program is named by its absolute path and the settings that decide which database
(and which keys) the CLI works on are spelled out as one ``export`` line, with relative paths made
absolute. Without that, a pasted ``tokensmith clients create`` silently creates a second database in the
other shell's working directory. Secrets are never printed: a master key or a password in a URL is named,
not shown.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url

from tokensmith.config import Settings

#: Settings only ``serve`` reads (the CLI commands do not need them).
SERVE_ONLY = frozenset({"TOKENSMITH_HOST", "TOKENSMITH_PORT", "TOKENSMITH_WORKERS"})
#: Never printed.
SECRETS = frozenset({"TOKENSMITH_MASTER_KEY", "TOKENSMITH_ADMIN_PASSWORD"})
#: Settings whose value is a URL that may carry a password.
URLS = frozenset({"TOKENSMITH_DATABASE_URL", "TOKENSMITH_REDIS_URL"})


def program() -> str:
    """The absolute command that runs this tokensmith (the console script next to this interpreter)."""
    script = Path(sys.executable).parent / "tokensmith"
    if script.exists():
        return shlex.quote(str(script.absolute()))
    return f"{shlex.quote(sys.executable)} -m tokensmith.cli.main"


def absolute_database_url(settings: Settings, cwd: Path) -> str:
    path = settings.sqlite_path()
    if path is None or path.is_absolute():
        return settings.database_url
    scheme = settings.database_url.split(":///", 1)[0]
    return f"{scheme}:///{(cwd / path).resolve()}"


def _without_password(url: str) -> tuple[str, bool]:
    try:
        parsed = make_url(url)
    except Exception:
        return url, False
    if parsed.password is None:
        return url, False
    return parsed.render_as_string(hide_password=True), True


def cli_environment(settings: Settings, environ: Mapping[str, str], cwd: Path) -> tuple[dict[str, str], list[str]]:
    """The variables another shell needs for the CLI to act on this service's data, and what could not be
    shown (secrets the operator must add)."""
    values = {"TOKENSMITH_ENV": settings.env, "TOKENSMITH_DATABASE_URL": absolute_database_url(settings, cwd),
              "TOKENSMITH_ISSUER": settings.issuer}
    for name in sorted(environ):
        if name.startswith("TOKENSMITH_") and name not in values and name not in SERVE_ONLY | SECRETS:
            values[name] = environ[name]
    if "TOKENSMITH_CONFIG_FILE" in values:
        values["TOKENSMITH_CONFIG_FILE"] = str((cwd / values["TOKENSMITH_CONFIG_FILE"]).resolve())
    hidden = []
    for name in sorted(URLS & values.keys()):
        values[name], had_password = _without_password(values[name])
        if had_password:
            hidden.append(f"the password in {name} (shown as ***)")
    if environ.get("TOKENSMITH_MASTER_KEY"):
        hidden.append("TOKENSMITH_MASTER_KEY")
    return values, hidden


def local_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a bind address, not a bind
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve_banner(settings: Settings, *, host: str, port: int, workers: int, tenant: str, admin_exists: bool | None,
                 environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """``admin_exists``: None when unknown (the database was not reachable at start-up)."""
    environ = os.environ if environ is None else environ
    values, hidden = cli_environment(settings, environ, cwd or Path.cwd())
    exe, base = program(), local_url(host, port)
    safe_db = values["TOKENSMITH_DATABASE_URL"]
    lines = [
        f"tokensmith listening on {base} (issuer {settings.issuer}, database {safe_db}, tenant '{tenant}', "
        f"{workers} worker(s))",
        "The CLI on this service's database — paste into another shell:",
        "    export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items()),
    ]
    if hidden:
        lines.append(f"    # also set, as this service has it (not shown): {', '.join(hidden)}")
    lines += [
        "A first OAuth client (sets CLIENT_ID and CLIENT_SECRET) and a token:",
        f"    eval \"$({exe} clients create --name my-service --scope api.read --export)\"",
        f"    curl -u \"$CLIENT_ID:$CLIENT_SECRET\" -d grant_type=client_credentials {base}/oauth/token",
    ]
    if not admin_exists:
        lines += [
            "The first admin" + (" (if there is none yet):" if admin_exists is None else ":"),
            f"    {exe} init --admin-email you@example.com --admin-password 'a long passphrase'",
        ]
    lines.append(f"API documentation: {base}/docs")
    return "\n".join(lines)
