"""The desktop specification's three use cases, against a live server."""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta, timezone

from harness import assert_matches_server, near, random_encoding

from faceid_kiosk.codec import parse_time_ms, to_time_ms


def test_new_kiosk_downloads_everything(company, make_kiosk):
    """A kiosk installed today receives every employee and every face, and acknowledges what it applied."""
    rng = random.Random(1)
    ids = company.create_employees(25)
    other = make_kiosk(company)
    faces = {employee_id: random_encoding(rng) for employee_id in ids[:15]}
    for employee_id, encoding in faces.items():
        assert other.register_face(employee_id, encoding).status == "sent"
    company.hr_delete(ids[-1])  # a resigned employee is not downloaded

    kiosk = make_kiosk(company)
    calls = []
    result = kiosk.sync(progress=lambda done, total: calls.append((done, total)))

    assert result.mode == "full"
    assert (result.employees, result.faces) == (24, 15)
    assert calls and calls[-1] == (24, 24)
    table = assert_matches_server(kiosk, company)
    assert ids[-1] not in table and len(table) == 24
    for employee_id, encoding in faces.items():
        assert kiosk.employee(employee_id).encoding == encoding
    # The acknowledgement reached the server: the propagation report lists this kiosk as applied.
    report = company.propagation(ids[0])
    assert int(kiosk.device_id) in report["applied"], report
    # A second sync is a delta with nothing to do.
    again = kiosk.sync()
    assert (again.mode, again.changes) == ("delta", 0)


def test_reinstalled_kiosk_restores_from_the_server(company, make_kiosk, tmp_path):
    """The kiosk's database is deleted (reinstall): the same device syncs again and has every face back, its own
    registrations included."""
    rng = random.Random(2)
    ids = company.create_employees(12)
    kiosk = make_kiosk(company, db="kiosk.sqlite")
    kiosk.sync()
    mine = {employee_id: random_encoding(rng) for employee_id in ids[:6]}
    for employee_id, encoding in mine.items():
        assert kiosk.register_face(employee_id, encoding).status == "sent"
    kiosk.clear_face(ids[0])
    kiosk.sync()
    device = int(kiosk.device_id)
    kiosk.close()

    for suffix in ("", "-wal", "-shm"):
        path = tmp_path / f"kiosk.sqlite{suffix}"
        if path.exists():
            os.remove(path)

    reinstalled = make_kiosk(company, device_id=device, db="kiosk.sqlite")
    assert reinstalled.cursor is None and reinstalled.employees() == []
    result = reinstalled.sync()
    assert result.mode == "full"
    assert_matches_server(reinstalled, company)
    assert reinstalled.employee(ids[0]).encoding is None
    for employee_id in ids[1:6]:
        assert reinstalled.employee(employee_id).encoding == mine[employee_id]


def test_registered_on_kiosk_a_at_nine_recognised_on_kiosk_b_at_one(company, make_kiosk):
    """Registered on kiosk A at 9:00, recognised on kiosk B at 13:00 (via match)."""
    rng = random.Random(3)
    ids = company.create_employees(8)
    kiosk_a = make_kiosk(company)
    kiosk_b = make_kiosk(company)
    kiosk_a.sync()
    kiosk_b.sync()
    others = {employee_id: random_encoding(rng) for employee_id in ids[1:]}
    for employee_id, encoding in others.items():
        kiosk_a.register_face(employee_id, encoding)

    now = datetime.now(timezone.utc)
    nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine > now:
        nine -= timedelta(days=1)
    face = random_encoding(rng)
    result = kiosk_a.register_face(ids[0], face, registered_at=nine)
    assert result.status == "sent"
    assert parse_time_ms(result.registered_at) == to_time_ms(nine)

    # 13:00: kiosk B syncs (every few minutes, or at start) and the employee clocks in there.
    kiosk_b.sync()
    seen = kiosk_b.match(near(face, 0.01, rng))
    assert seen is not None
    assert seen.employee_id == ids[0]
    assert seen.distance < 0.3
    assert seen.timekeeper_id == company.hr_employee(ids[0])["timekeeper_id"]
    assert kiosk_b.employee(ids[0]).registered_at_ms == to_time_ms(nine)
    # A stranger is not recognised.
    assert kiosk_b.match(random_encoding(rng)) is None
    assert_matches_server(kiosk_b, company)
