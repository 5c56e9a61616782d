"""The audit log (filters, keyset pages, chain status, CSV export of the same filter, bad filters shown
next to their field) and the signing keys (rotation, revocation only after its confirmation page)."""

from __future__ import annotations

import csv
import io
import re

from tests.console.helpers import client_as, post
from tests.support import LiveServer
from tokensmith.signing_keys import list_keys


def _record(server: LiveServer, n: int, type_: str = "apikey.created") -> None:
    async def write(rt):  # type: ignore[no-untyped-def]
        for i in range(n):
            rt.audit.record(type_, tenant_id=server.tenant_id, actor=f"user:u{i % 3}", subject=f"s{i}")
        await rt.audit.flush()

    server.call(write)


def test_filters_pages_and_the_chain_status(server: LiveServer) -> None:
    _record(server, 120)
    _record(server, 5, "apikey.revoked")
    with client_as(server, "ada@example.com", "admin") as http:
        server.app.state.console_chain.result = None  # as after a start: not verified yet
        at_once = http.get("/console/audit", params={"type": "apikey.created"}).text
        assert "being verified" in at_once and "intact" not in at_once  # the page did not wait for it
        server.call(lambda rt: server.app.state.console_chain.refresher.wait())
        first = http.get("/console/audit", params={"type": "apikey.created"}).text
        assert 'class="badge ok">intact' in first
        seqs = [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", first)]
        assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
        more = re.search(r'href="(/console/audit\?[^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
        second = http.get(more).text
        seqs2 = [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", second)]
        assert len(seqs2) == 50 and max(seqs2) < min(seqs)
        assert "<code>apikey.revoked</code>" not in second
        by_actor = http.get("/console/audit", params={"actor": "user:u1", "type": "apikey.created"}).text
        assert len(re.findall(r"<tr><td>\d+</td>", by_actor)) == 40
        assert "No event matches" in http.get("/console/audit", params={"from": "2001-01-01", "to": "2001-01-02"}).text
        bad = http.get("/console/audit", params={"from": "yesterday"})
        assert bad.status_code == 400 and 'id="e-from"' in bad.text
        reversed_range = http.get("/console/audit", params={"from": "2030-01-02", "to": "2030-01-01"})
        assert reversed_range.status_code == 400 and "since must be before until" in reversed_range.text


def test_csv_export_has_every_matching_event(server: LiveServer) -> None:
    _record(server, 620)
    with client_as(server, "ada@example.com", "admin") as http:
        resp = http.get("/console/audit.csv", params={"type": "apikey.created"})
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
        assert "attachment" in resp.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(resp.text)))
        assert rows[0][:3] == ["seq", "at", "type"] and len(rows) == 621
        assert {r[2] for r in rows[1:]} == {"apikey.created"}
        assert http.get("/console/audit.csv", params={"from": "bad"}).status_code == 400


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(server: LiveServer) -> None:
    async def write(rt):  # type: ignore[no-untyped-def]
        rt.audit.record("exchange.refused", tenant_id=server.tenant_id, actor="apikey:1", subject="=HYPERLINK(1)")
        await rt.audit.flush()

    server.call(write)
    with client_as(server, "ada@example.com", "admin") as http:
        rows = list(csv.reader(io.StringIO(http.get("/console/audit.csv", params={"type": "exchange.refused"}).text)))
    assert rows[1][4] == "'=HYPERLINK(1)"


def test_rotate_and_revoke_a_signing_key_after_confirmation(server: LiveServer) -> None:
    with client_as(server, "own@example.com", "owner") as http:
        before = {k["status"]: k["kid"] for k in server.call(list_keys) if k["status"] in ("active", "next")}
        assert post(http, "/console/signing-keys/rotate").status_code == 303
        after = server.call(list_keys)
        assert next(k for k in after if k["kid"] == before["active"])["status"] == "retired"
        assert next(k for k in after if k["kid"] == before["next"])["status"] == "active"
        active = before["next"]
        confirm = http.get(f"/console/signing-keys/{active}/revoke")
        assert confirm.status_code == 200 and "cannot be undone" in confirm.text
        assert post(http, f"/console/signing-keys/{active}/revoke", {}).status_code == 400
        assert next(k for k in server.call(list_keys) if k["kid"] == active)["status"] == "active"
        done = post(http, f"/console/signing-keys/{active}/revoke", {"confirm": "yes"})
        assert done.status_code == 303
        assert next(k for k in server.call(list_keys) if k["kid"] == active)["status"] == "revoked"
        assert "The key is revoked" in http.get(done.headers["location"]).text
        assert post(http, "/console/signing-keys/nope/revoke", {"confirm": "yes"}).status_code == 404
