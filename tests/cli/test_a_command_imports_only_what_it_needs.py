"""A ``tokensmith`` command starts without importing what only some deployments use (redis without
``TOKENSMITH_REDIS_URL``, httpx until a client's JWKS is fetched) or making the argon2id timing dummy, which
only a sign-in with an unknown e-mail needs: each cost every CLI command (and the test suite's hundreds of
them) tenths of a second."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
import tokensmith.cli.main
from tokensmith.people import passwords
loaded = {name: name in sys.modules for name in ("redis", "httpx", "rich")}
made_at_import = passwords.dummy_hash.cache_info().currsize
refused = passwords.verify_password(None, "whatever")
print(json.dumps({"loaded": loaded, "made_at_import": made_at_import, "refused": not refused,
                  "made_after_use": passwords.dummy_hash.cache_info().currsize}))
"""


def test_the_cli_imports_neither_redis_nor_httpx_and_makes_no_hash() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(out.stdout)
    assert found["loaded"] == {"redis": False, "httpx": False, "rich": False}
    assert found["made_at_import"] == 0
    # the unknown-account path still verifies against the dummy: refused, and the hash made then
    assert found["refused"] is True and found["made_after_use"] == 1
