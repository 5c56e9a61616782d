"""Helpers of the SMART tests: an admin's Bearer token, key pairs as JWKs, client assertions (RFC 7523)
signed with joserfc (a second JOSE library, not the one the service verifies with)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.codeflow.helpers import REDIRECT
from tests.people.helpers import admin_headers as user_admin_headers
from tests.people.helpers import make_user, user_row
from tests.support import LiveServer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ADMIN_SCOPES = ["App.*", "Directory.*", "Launch.*", "User.*", "*.read"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(server: LiveServer, http: httpx.Client, scopes: list[str] | None = None) -> dict[str, str]:
    record, secret = server.create_client(scopes=scopes if scopes is not None else ADMIN_SCOPES, name="admin")
    resp = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(record.client_id, secret))
    assert resp.status_code == 200, resp.text
    return bearer(resp.json()["access_token"])


class KeyPair:
    """A client's key pair: ``public`` is what it registers, ``sign`` makes assertions."""

    def __init__(self, alg: str = "ES384", kid: str | None = None) -> None:
        self.alg = alg
        self.kid = kid or uuid.uuid4().hex
        if alg.startswith("ES"):
            self.key: Any = ECKey.generate_key("P-384" if alg == "ES384" else "P-256", parameters={"kid": self.kid})
        else:
            self.key = RSAKey.generate_key(2048, parameters={"kid": self.kid})

    @property
    def public(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def private(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=True))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public]}

    def assertion(self, client_id: str, aud: str, *, exp_in: float = 240, jti: str | None = None,
                  alg: str | None = None, kid: str | None = None, now: float | None = None,
                  **claims: Any) -> str:
        now = time.time() if now is None else now
        body: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": aud, "exp": int(now + exp_in),
                                "iat": int(now), "jti": uuid.uuid4().hex if jti is None else jti, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jose_jwt.encode({"alg": alg or self.alg, "kid": kid or self.kid, "typ": "JWT"}, body, self.key,
                               algorithms=[alg or self.alg])


    def with_header(self, assertion: str, **header: Any) -> str:
        """``assertion`` with extra protected-header parameters, signed again by this key (joserfc and PyJWT
        refuse to write a ``crit`` they do not understand, so this signs with PyJWT's algorithm object)."""
        import base64
        import json

        import jwt

        def b64(data: bytes) -> bytes:
            return base64.urlsafe_b64encode(data).rstrip(b"=")

        payload = assertion.split(".")[1].encode()
        merged = {"alg": self.alg, "kid": self.kid, "typ": "JWT", **header}
        signing_input = b64(json.dumps(merged).encode()) + b"." + payload
        signature = jwt.get_algorithm_by_name(self.alg).sign(signing_input, self.key.private_key)
        return (signing_input + b"." + b64(signature)).decode()


def hs256_assertion(client_id: str, aud: str, secret: str, kid: str) -> str:
    now = int(time.time())
    key = OctKey.import_key(secret.encode())
    return jose_jwt.encode({"alg": "HS256", "kid": kid}, {"iss": client_id, "sub": client_id, "aud": aud,
                                                         "exp": now + 60, "jti": uuid.uuid4().hex}, key,
                           algorithms=["HS256"])


def none_assertion(client_id: str, aud: str, kid: str) -> str:
    import base64
    import json

    def seg(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return f"{seg({'alg': 'none', 'kid': kid})}." \
           f"{seg({'iss': client_id, 'sub': client_id, 'aud': aud, 'exp': now + 60, 'jti': uuid.uuid4().hex})}."


def backend_token(http: httpx.Client, client: str, assertion: str, /, **form: str) -> httpx.Response:
    """``client_credentials`` with an assertion (``client``: whose it is, for the reader; the form names no
    client unless ``client_id`` is given)."""
    return http.post("/oauth/token", data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                                           "client_assertion": assertion, **form})


def ehr_launch(live: LiveServer, http: httpx.Client, *, patient_id: str | None = None,
               scopes: tuple[str, ...] = ("openid", "fhirUser", "launch", "patient/*.rs"),
               redirect_uri: str = REDIRECT) -> tuple[str, str, str]:
    """A public SMART app, a patient, a practitioner linked to the clinician (``clinician@example.com``, made
    here) who signs in, and an EHR launch for the app: (client id, launch value, practitioner id)."""
    admin = admin_headers(live, http)
    app = http.post("/smart/apps", json={"name": "Chart viewer", "redirectUris": [redirect_uri],
                                         "scopes": list(scopes),
                                         "isConfidential": False}, headers=admin)
    assert app.status_code == 201, app.text
    client_id = app.json()["clientId"]
    person: dict[str, Any] = {"name": {"given": ["Alice"], "family": "Smith"}}
    if patient_id is not None:
        person["id"] = patient_id
    patient = http.post("/smart/patients", json=person, headers=admin)
    assert patient.status_code == 201, patient.text
    doctor = http.post("/smart/practitioners", json={"name": {"given": ["Gregory"], "family": "House"}},
                       headers=admin)
    assert doctor.status_code == 201, doctor.text
    make_user(live, "clinician@example.com", role="developer")
    linked = http.patch(f"/users/{user_row(live, 'clinician@example.com').id}",
                        json={"fhirUser": f"Practitioner/{doctor.json()['id']}"},
                        headers=user_admin_headers(live, http))
    assert linked.status_code == 200, linked.text
    launch = http.post("/smart/launch", json={"patient": patient.json()["id"], "encounter": "enc-1",
                                              "clientId": client_id}, headers=admin)
    assert launch.status_code == 201, launch.text
    return client_id, launch.json()["launch"], doctor.json()["id"]
