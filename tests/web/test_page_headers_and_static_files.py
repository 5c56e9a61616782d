"""Every HTML response carries the security headers (CSP without inline code, no framing, no referrer,
no sniffing, no caching), errors on pages are the error page, and the stylesheet is served with caching
headers."""

from __future__ import annotations

import httpx

from tests.browser.helpers import assert_no_inline_code
from tests.support import LiveServer


def _assert_secure_html(resp: httpx.Response) -> None:
    assert resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'") and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "unsafe" not in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"] == "no-store"
    assert_no_inline_code(resp.text)


def test_sign_in_and_error_pages_carry_the_security_headers(server: LiveServer) -> None:
    with server.client() as http:
        form = http.get("/signin")
        refused = http.post("/signin", data={"email": "x"}, headers={"sec-fetch-site": "same-origin"})
        not_form = http.post("/signin", content=b"{}", headers={"content-type": "application/json"})
    _assert_secure_html(form)
    _assert_secure_html(refused)
    assert refused.status_code == 403
    _assert_secure_html(not_form)
    assert not_form.status_code == 400


def test_the_stylesheet_is_served_with_caching_headers_and_a_versioned_url(server: LiveServer) -> None:
    with server.client() as http:
        page = http.get("/signin").text
        href = page.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
        assert href.startswith("/static/tokensmith.css?v=")
        css = http.get(href)
        again = http.get(href, headers={"if-none-match": css.headers["etag"]})
        missing = http.get("/static/nothing.css")
        traversal = http.get("/static/..%2Fpages.py")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=86400"
    assert css.headers["x-content-type-options"] == "nosniff"
    assert again.status_code == 304
    assert missing.status_code == 404 and traversal.status_code == 404


def test_pages_are_not_in_the_openapi_document(server: LiveServer) -> None:
    with server.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    assert "/signin" not in paths and "/signout" not in paths
