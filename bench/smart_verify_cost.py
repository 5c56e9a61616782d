"""CPU cost of checking one client assertion in Python, per algorithm: PyJWT's full ``jwt.decode``, the
signature check alone (PyJWT's algorithm object over cryptography), and the unverified parse that the
backend path used to repeat. It tells what the ``smart_backend`` scenario of ``bench/run.py`` can reach on
this machine (docs/benchmarks.md, "SMART backend services, fourth session").

    flock /work/wt/bench.lock .venv/bin/python bench/smart_verify_cost.py
"""

from __future__ import annotations

import resource
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _per_call_us(fn: Callable[[], Any], n: int) -> float:
    started = _cpu()
    for _ in range(n):
        fn()
    return (_cpu() - started) / n * 1e6


def _row(alg: str, key: Any, n: int) -> str:
    public = key.public_key()
    token = jwt.encode({"iss": "c", "sub": "c", "aud": "x", "exp": 2_000_000_000, "jti": uuid.uuid4().hex},
                       key, algorithm=alg, headers={"kid": "k"})
    options: Any = {"verify_signature": True, "verify_exp": False, "verify_aud": False}
    algorithm = jwt.algorithms.get_default_algorithms()[alg]
    signing_input, _, signature = token.rpartition(".")
    raw = jwt.utils.base64url_decode(signature)
    full = _per_call_us(lambda: jwt.decode(token, public, algorithms=[alg], options=options), n)
    bare = _per_call_us(lambda: algorithm.verify(signing_input.encode(), public, raw), n)
    parse = _per_call_us(lambda: (jwt.decode(token, options={"verify_signature": False}),
                                  jwt.get_unverified_header(token)), n)
    return f"| {alg} | {full:.1f} | {bare:.1f} | {parse:.1f} |"


def main() -> None:
    keys: list[tuple[str, Any, int]] = [("ES256", ec.generate_private_key(ec.SECP256R1()), 2000),
                                        ("ES384", ec.generate_private_key(ec.SECP384R1()), 2000),
                                        ("RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048), 5000)]
    print("| alg | jwt.decode (verify) us | signature only us | unverified parse x2 us |")
    print("|---|---|---|---|")
    for alg, key, n in keys:
        print(_row(alg, key, n))

if __name__ == "__main__":
    main()
