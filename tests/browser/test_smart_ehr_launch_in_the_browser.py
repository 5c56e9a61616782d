"""The SMART EHR launch in Chromium: the EHR mints a launch (``POST /smart/launch``, patient and
encounter) → the browser opens ``/smart/authorize`` with ``launch=`` and the FHIR base as ``aud`` → sign
in → the consent page (no picker: the patient comes from the launch) → Allow → the app receives the code
→ token with PKCE carrying the launch's patient and encounter and the clinician's fhirUser. A launch
value used once is refused when the browser brings it again. The consent page is saved as
``docs/screenshots/smart-consent.png``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser.helpers import AppServer, shot, sign_in
from tests.codeflow.helpers import Flow, query_of
from tests.people.helpers import jwt_claims
from tests.smart.helpers import ehr_launch
from tests.support import LiveServer, make_settings

SCOPE = "openid fhirUser launch patient/Patient.rs"


@pytest.fixture
def web(sqlite_url: str) -> Iterator[LiveServer]:
    with LiveServer(make_settings(sqlite_url)) as live:
        yield live


def _open(page: Any, web: LiveServer, flow: Flow, launch: str) -> None:
    page.goto(f"{web.url}/smart/authorize?{urlencode(flow.params(launch=launch, aud=web.settings.fhir_base))}")


def test_an_ehr_launch_gives_the_launch_patient_and_encounter(web: LiveServer, page: Any,
                                                             app_site: AppServer) -> None:
    with web.client() as http:
        client_id, launch, practitioner = ehr_launch(web, http, patient_id="alice-1",
                                                     redirect_uri=app_site.redirect_uri)
        flow = Flow(web, http, client_id, scope=SCOPE, redirect_uri=app_site.redirect_uri)
        _open(page, web, flow, launch)
        sign_in(page, "clinician@example.com")
        page.wait_for_selector("#allow")
        assert "Chart viewer" in page.inner_text("h1")
        assert page.locator("input[name=patient]").count() == 0  # the launch chose the patient
        shot(page, "smart-consent")
        page.click("#allow")
        page.wait_for_selector("text=Example App")
        assert page.url == app_site.seen[-1]
        got = query_of(app_site.seen[-1])
        assert got["state"] == flow.state and got["iss"] == web.settings.issuer
        resp = flow.exchange(got["code"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["patient"], body["encounter"], body["need_patient_banner"]) == ("alice-1", "enc-1", True)
    assert body["fhirUser"] == f"Practitioner/{practitioner}"
    assert set(body["scope"].split()) == set(SCOPE.split())
    assert jwt_claims(body["id_token"])["fhirUser"] == f"Practitioner/{practitioner}"
    claims = jwt_claims(body["access_token"])
    assert (claims["patient"], claims["encounter"], claims["aud"]) == ("alice-1", "enc-1", web.settings.fhir_base)


def test_a_launch_value_brought_back_by_the_browser_is_refused(web: LiveServer, page: Any,
                                                               app_site: AppServer) -> None:
    with web.client() as http:
        client_id, launch, _ = ehr_launch(web, http, redirect_uri=app_site.redirect_uri)
        flow = Flow(web, http, client_id, scope=SCOPE, redirect_uri=app_site.redirect_uri)
        _open(page, web, flow, launch)
        sign_in(page, "clinician@example.com")
        page.click("#allow")
        page.wait_for_selector("text=Example App")
        assert "code" in query_of(app_site.seen[-1])
        # signed in, consent remembered: the answer is a redirect to the app at once
        _open(page, web, Flow(web, http, client_id, scope=SCOPE, redirect_uri=app_site.redirect_uri), launch)
        page.wait_for_selector("text=Example App")
    assert len(app_site.seen) == 2
    got = query_of(app_site.seen[-1])
    assert got["error"] == "invalid_request" and "code" not in got and got["iss"] == web.settings.issuer
