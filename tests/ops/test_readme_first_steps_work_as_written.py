"""The README's "First steps", run as written in a new shell next to a service started the way
``./scripts/serve`` starts it: the variables are set before they are used and the token request succeeds.
(Only the port differs: the test's server listens on a free one, not on 8000.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.ops.helpers import ServeProcess

ROOT = Path(__file__).resolve().parents[2]


def _first_steps() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## First steps", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_uses_the_database_scripts_serve_creates() -> None:
    serve_script = (ROOT / "scripts" / "serve").read_text()
    default = re.search(r"TOKENSMITH_DATABASE_URL:-([^}]+)}", serve_script)
    assert default is not None
    assert f"TOKENSMITH_DATABASE_URL={default.group(1)}" in _first_steps()


def test_the_first_steps_get_a_token(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / ".data").mkdir()
    server = ServeProcess(tmp_path, env={"TOKENSMITH_DATABASE_URL":
                                         f"sqlite+aiosqlite:///{tmp_path}/.data/tokensmith.db"})
    for name in ("TOKENSMITH_MASTER_KEY", "TOKENSMITH_ISSUER"):  # as ./scripts/serve: neither is set
        server.env.pop(name)
    steps = _first_steps().replace("http://127.0.0.1:8000", server.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENSMITH_", "PROMETHEUS_"))}
    with server:
        done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + steps], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180)
        assert server.stop() == 0
    assert done.returncode == 0, done.stderr
    initialised, response = done.stdout.splitlines()[0], done.stdout.splitlines()[-1]
    assert "admin admin@example.com created" in initialised
    token = json.loads(response)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 2592000
    assert token["scope"] == "Patient.read Observation.read"
