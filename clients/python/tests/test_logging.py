"""No log line ever holds an encoding, not even one of its numbers. (Every test is checked by the autouse fixture in
conftest.py; this one runs every path that logs, at DEBUG, and checks the check.)"""

from __future__ import annotations

import json
import logging
import random

import pytest
from harness import encoding_leaks, random_encoding, wait_until_due

from faceid_kiosk import AuthenticationError, NotFound


def test_the_leak_check_finds_encodings():
    values = random_encoding(random.Random(70))
    assert encoding_leaks(f"uploading {json.dumps(values)}")
    assert encoding_leaks(f"value {values[17]:.6f} seen")                 # a single number of an encoding
    assert encoding_leaks("[-0.106441, 0.087149, 0.031141]")               # three long decimals in a row
    assert not encoding_leaks("stored registered_at 2026-12-01T12:09:44.000000Z in 0.013s")


def test_no_encoding_in_any_log_line(company, make_kiosk, caplog):
    caplog.set_level(logging.DEBUG)
    rng = random.Random(71)
    e = company.create_employees(6)
    a, b = make_kiosk(company), make_kiosk(company)
    faces = {employee_id: random_encoding(rng) for employee_id in e}
    a.sync(progress=lambda done, total: logging.getLogger("faceid_kiosk").debug("progress %d/%s", done, total))
    b.sync()
    for employee_id in e[:3]:
        a.register_face(employee_id, faces[employee_id])              # sent
    a.net.offline = True
    a.register_face(e[3], faces[e[3]])                                # queued (offline)
    a.clear_face(e[0])                                                # queued
    b.register_face(e[4], faces[e[4]])
    a.net.offline = False
    wait_until_due(a)
    a.sync()                                                          # sends, pulls
    b.register_face(e[5], random_encoding(rng), registered_at=1_800_000_000)  # clamped by the server
    a.net.offline = True
    a.register_face(e[5], faces[e[5]], registered_at=1_700_000_000)   # older: will be superseded
    a.net.offline = False
    wait_until_due(a)
    a.flush_outbox()                                                  # 409 stale_registration
    assert a.match(faces[e[1]]).employee_id == e[1]
    with pytest.raises(NotFound):
        a.register_face(99_999_999, faces[e[1]])
    bad = make_kiosk(company, app_secret="wrong")
    with pytest.raises(AuthenticationError):
        bad.register_face(e[2], faces[e[2]])
    a.sync()

    ours = [r for r in caplog.records if r.name == "faceid_kiosk"]
    assert len(ours) > 20, "the scenario should have logged"
    formatter = logging.Formatter("%(message)s")
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "face uploaded" in text and "newer registration" in text  # the paths ran
    assert encoding_leaks(text) == []
    for values in faces.values():
        for v in values:
            assert f"{v:.6f}" not in text
            assert len(repr(v)) < 7 or repr(v) not in text
