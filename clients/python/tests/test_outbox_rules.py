"""What the outbox keeps, sends and drops, against a live server: a wrong path or a proxy's redirect keeps the item, a
403 on one item does not hold up the others, a clear is checked against the feed before it is sent, and registrations
go out even when the pull fails."""

from __future__ import annotations

import random
import time

import pytest
from harness import Company, assert_matches_server, random_encoding, wait_until_due

from faceid_kiosk import ConfigurationError, PermissionDenied, ServerError

FEED = "/api/employees/timekeeper/changes"


def test_route_not_found_or_a_redirect_keeps_the_item(company, make_kiosk):
    """A 404 route_not_found (the kiosk's base URL has a wrong path) or a proxy's redirect is a configuration error:
    nothing is dropped or marked done — a clear "completed" so would never reach the server."""
    rng = random.Random(90)
    e = company.create_employees(2)
    kiosk = make_kiosk(company)
    kiosk.sync()
    face = random_encoding(rng)
    assert kiosk.register_face(e[0], face).status == "sent"

    right = kiosk.api.base_url
    kiosk.api.base_url = right + "/faceid"  # a wrong path in the kiosk's settings
    with pytest.raises(ConfigurationError) as raised:
        kiosk.clear_face(e[0])
    assert (raised.value.status, raised.value.code) == (404, "route_not_found")
    other = random_encoding(rng)
    with pytest.raises(ConfigurationError):
        kiosk.register_face(e[1], other)
    kiosk.api.base_url = right
    assert [(i.employee_id, i.op) for i in kiosk.pending()] == [(e[0], "clear"), (e[1], "register")]
    assert company.server_table()[e[0]].encoding == face  # not deleted

    # A proxy in front of the server redirects the delete to its login page.
    kiosk.net.canned("DELETE", f"/api/employees/{e[0]}/face", 302,
                     headers={"Location": "https://proxy.example.test/login"})
    with pytest.raises(ConfigurationError, match="redirect"):
        kiosk.flush_outbox()
    assert [status for _, status, _ in kiosk.net.requests_to("DELETE", f"/api/employees/{e[0]}/face")] == [302]
    assert [(i.employee_id, i.op) for i in kiosk.pending()] == [(e[0], "clear"), (e[1], "register")]
    assert company.server_table()[e[0]].encoding == face

    # Fixed: the next sync sends both.
    result = kiosk.sync()
    assert result.outbox.count("sent") == 2 and result.outbox.pending == 0
    table = assert_matches_server(kiosk, company)
    assert table[e[0]].encoding is None and table[e[1]].encoding == other


def test_403_on_one_item_does_not_hold_up_the_others(company, make_kiosk, server):
    rng = random.Random(91)
    stranger = Company(server, "Other Co")
    theirs = stranger.create_employees(1)[0]
    e = company.create_employees(2)
    kiosk = make_kiosk(company)
    kiosk.sync()
    kiosk.net.offline = True
    assert kiosk.register_face(theirs, random_encoding(rng)).status == "queued"  # first in the outbox: refused (403)
    time.sleep(0.01)
    mine = random_encoding(rng)
    assert kiosk.register_face(e[0], mine).status == "queued"
    kiosk.net.offline = False
    wait_until_due(kiosk)

    with pytest.raises(PermissionDenied):  # raised at the end of the pass, after the other item went out
        kiosk.sync()
    assert company.server_table()[e[0]].encoding == mine
    [kept] = kiosk.pending()
    assert kept.employee_id == theirs and kept.attempts == 2 and kept.last_error.startswith("PermissionDenied")
    assert stranger.server_table()[theirs].encoding is None
    assert kiosk.employee(e[0]).pending is None


# That flush_outbox() pulls before it sends an older clear: tests/test_conflicts.py,
# test_newer_registration_wins_over_an_older_clear[flush_outbox].


def test_flush_outbox_keeps_clears_when_it_cannot_pull(company, make_kiosk):
    rng = random.Random(93)
    e = company.create_employees(2)
    kiosk = make_kiosk(company)
    old = random_encoding(rng)
    kiosk.register_face(e[0], old)
    kiosk.sync()
    kiosk.net.offline = True
    kiosk.clear_face(e[0])
    face = random_encoding(rng)
    kiosk.register_face(e[1], face)
    kiosk.net.offline = False
    wait_until_due(kiosk)

    kiosk.net.canned("GET", FEED, None, times=None)  # the feed cannot be reached; the rest can
    flushed = kiosk.flush_outbox()
    assert [(r.employee_id, r.status) for r in flushed.results] == [(e[1], "sent")]
    assert [(i.employee_id, i.op) for i in kiosk.pending()] == [(e[0], "clear")]
    assert company.server_table()[e[0]].encoding == old  # not deleted unchecked

    kiosk.net.answers.clear()
    flushed = kiosk.flush_outbox()  # the pull shows nothing newer: the clear goes out
    assert [(r.employee_id, r.status) for r in flushed.results] == [(e[0], "sent")]
    kiosk.sync()
    table = assert_matches_server(kiosk, company)
    assert table[e[0]].encoding is None and table[e[1]].encoding == face


def test_sync_sends_registrations_when_the_pull_fails(company, make_kiosk):
    rng = random.Random(94)
    e = company.create_employees(2)
    kiosk = make_kiosk(company)
    kiosk.sync()
    kiosk.net.offline = True
    face = random_encoding(rng)
    kiosk.register_face(e[0], face)
    kiosk.net.offline = False
    wait_until_due(kiosk)

    kiosk.net.canned("GET", FEED, 503, {"success": False, "code": "internal_error", "error": "Unavailable"},
                     times=None)
    with pytest.raises(ServerError):
        kiosk.sync()
    assert company.server_table()[e[0]].encoding == face
    assert kiosk.pending() == []
    kiosk.net.answers.clear()
    assert kiosk.sync().mode == "delta"
    assert_matches_server(kiosk, company)


def test_credentials_with_a_line_break_are_stripped_or_refused(company, make_kiosk):
    e = company.create_employees(1)
    kiosk = make_kiosk(company, token=company.kiosk_key + "\n", app_secret=" " + company.server.app_secret + "\r\n")
    assert kiosk.sync().mode == "full"
    assert [row.id for row in kiosk.employees()] == e

    # A value that cannot be sent as a header is a configuration error, not "offline" (which would retry forever).
    kiosk.api._headers["X-App-Secret"] = company.server.app_secret + "\u20ac"  # not even Latin-1
    with pytest.raises(ConfigurationError) as raised:
        kiosk.sync()
    assert raised.value.__cause__ is None and company.server.app_secret not in str(raised.value)
    kiosk.api._headers["X-App-Secret"] = company.server.app_secret + "\nX-Injected: yes"
    with pytest.raises(ConfigurationError):
        kiosk.sync()
