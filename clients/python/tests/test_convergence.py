"""Two kiosks, one of them offline, registering and clearing faces interleaved; a kiosk restarted with a full outbox;
an answer lost on the way back."""

from __future__ import annotations

import random
import time

from harness import assert_matches_server, random_encoding, wait_until_due


def _tick() -> None:
    """Keep the operations' millisecond timestamps apart (the conflict rule compares them)."""
    time.sleep(0.005)


def test_two_kiosks_interleaved_one_offline_converge(company, make_kiosk):
    rng = random.Random(10)
    e = company.create_employees(8)
    a = make_kiosk(company)
    b = make_kiosk(company)
    before = {e[4]: random_encoding(rng), e[5]: random_encoding(rng)}
    for employee_id, encoding in before.items():
        assert b.register_face(employee_id, encoding).status == "sent"
    a.sync()
    b.sync()
    assert a.employee(e[4]).encoding == before[e[4]]

    a.net.offline = True
    enc = {name: random_encoding(rng) for name in ("a1", "b2", "b1", "a3", "a6", "a4")}
    # t1 … t9, interleaved; every kiosk step changes its local table at once.
    assert a.register_face(e[1], enc["a1"]).status == "queued"  # t1 A: e1 (older than B's, loses)
    _tick()
    assert b.register_face(e[2], enc["b2"]).status == "sent"  # t2 B: e2
    _tick()
    assert a.clear_face(e[4]).status == "queued"  # t3 A: clears e4's face (newest: wins)
    _tick()
    assert a.register_face(e[3], enc["a4"]).status == "queued"  # t4 A: e3 … (replaced at t7)
    _tick()
    assert b.register_face(e[1], enc["b1"]).status == "sent"  # t5 B: e1, newer than A's (wins)
    _tick()
    assert b.clear_face(e[5]).status == "sent"  # t6 B: clears e5
    _tick()
    assert a.register_face(e[3], enc["a3"]).status == "queued"  # t7 A: e3, replaces A's own t4
    _tick()
    assert a.register_face(e[5], enc["a6"]).status == "queued"  # t8 A: e5, newer than B's clear: wins
    _tick()
    assert a.register_face(e[6], random_encoding(rng)).status == "queued"  # t9 A: e6 … whom HR then deletes
    company.hr_delete(e[6])
    b.sync()

    # Offline, A still shows its own changes and can recognise with them.
    assert a.employee(e[4]).encoding is None
    assert a.employee(e[3]).encoding == enc["a3"]
    assert [i.employee_id for i in a.pending()] == [e[1], e[4], e[3], e[5], e[6]]
    assert a.match(enc["a1"]).employee_id == e[1]
    try:
        a.sync()
    except Exception as error:  # noqa: BLE001 - the offline kiosk's sync fails with Offline
        assert type(error).__name__ == "Offline"
    else:
        raise AssertionError("an offline sync must raise Offline")

    a.net.offline = False
    wait_until_due(a)
    result = a.sync()
    assert result.outbox.pending == 0
    b.sync()

    table = assert_matches_server(a, company)
    assert_matches_server(b, company, table)
    assert table[e[1]].encoding == enc["b1"]    # B's newer registration won; A's older one was dropped
    assert table[e[2]].encoding == enc["b2"]
    assert table[e[3]].encoding == enc["a3"]    # A's last registration of e3
    assert table[e[4]].encoding is None         # A's clear (after B's registration) reached the server
    assert table[e[5]].encoding == enc["a6"]    # A's registration after B's clear
    assert e[6] not in table                    # deleted by HR: A's queued upload was dropped
    assert table[e[0]].encoding is None and table[e[7]].encoding is None


def test_restart_with_pending_outbox_finishes_it(company, make_kiosk):
    rng = random.Random(11)
    e = company.create_employees(5)
    kiosk = make_kiosk(company, db="restart.sqlite")
    kiosk.sync()
    old = random_encoding(rng)
    assert kiosk.register_face(e[2], old).status == "sent"
    device = int(kiosk.device_id)

    kiosk.net.offline = True
    faces = {e[0]: random_encoding(rng), e[1]: random_encoding(rng)}
    for employee_id, encoding in faces.items():
        assert kiosk.register_face(employee_id, encoding).status == "queued"
    assert kiosk.clear_face(e[2]).status == "queued"
    queued = {item.employee_id: item for item in kiosk.pending()}
    assert sorted(queued) == sorted([e[0], e[1], e[2]])
    assert all(item.attempts == 1 and item.last_error.startswith("Offline") for item in queued.values())
    kiosk.close()  # the kiosk app is closed (or the PC restarts) with three items pending

    restarted = make_kiosk(company, device_id=device, db="restart.sqlite")
    assert sorted(i.employee_id for i in restarted.pending()) == sorted(queued)
    assert {i.employee_id: i.idempotency_key for i in restarted.pending()} == {
        k: v.idempotency_key for k, v in queued.items()}
    wait_until_due(restarted)
    result = restarted.sync()
    assert result.mode == "delta"
    assert result.outbox.count("sent") == 3 and result.outbox.pending == 0

    table = assert_matches_server(restarted, company)
    for employee_id, encoding in faces.items():
        assert table[employee_id].encoding == encoding
        assert table[employee_id].registered_at_ms == queued[employee_id].at_ms  # the capture time, not the upload's
        assert company.hr_employee(employee_id)["has_face_registration"] is True
    assert table[e[2]].encoding is None
    assert company.hr_employee(e[2])["has_face_registration"] is False


def test_lost_answer_is_retried_with_the_same_idempotency_key(company, make_kiosk):
    """The upload reached the server but its answer was lost: the retry carries the same Idempotency-Key, the server
    replays its answer, and the face is stored once."""
    rng = random.Random(12)
    e = company.create_employees(2)
    kiosk = make_kiosk(company)
    kiosk.sync()
    kiosk.net.lose_answers = True
    face = random_encoding(rng)
    assert kiosk.register_face(e[0], face).status == "queued"
    kiosk.net.lose_answers = False
    assert company.hr_employee(e[0])["face_count"] == 1  # it did arrive

    wait_until_due(kiosk)
    flushed = kiosk.flush_outbox()
    assert flushed.count("sent") == 1
    posts = kiosk.net.requests_to("POST", f"/api/employees/{e[0]}/face")
    assert [status for _, status, _ in posts] == [200, 200]
    assert posts[1][2].get("Idempotent-Replayed") == "true"
    kiosk.sync()
    assert_matches_server(kiosk, company)
    assert company.hr_employee(e[0])["face_count"] == 1
