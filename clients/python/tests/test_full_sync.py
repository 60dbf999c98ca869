"""Full syncs: the 410 fallback, the guard against looping into the full-sync limit, and 3,000 employees with
progress callbacks (timed: the figures for the README)."""

from __future__ import annotations

import random
import statistics
import time

import pytest
from harness import Company, assert_matches_server, random_encoding, wait_until_due

from faceid_kiosk import CursorExpired
from faceid_kiosk.codec import now_ms
from faceid_kiosk.store import CURSOR, FULL_SYNC_AT, FULL_SYNC_CURSOR

#: A cursor of the form handed out before the server's one change feed (decodes to ``d.1.11``): the contract says it
#: answers 410 ``cursor_expired`` — what every kiosk meets once after that upgrade.
PRE_UPGRADE_CURSOR = "ZC4xLjEx"


@pytest.mark.parametrize("expired", ["pre-upgrade", "another company's"])
def test_cursor_expired_falls_back_to_a_full_sync(company, make_kiosk, server, expired):
    rng = random.Random(30)
    e = company.create_employees(6)
    kiosk = make_kiosk(company)
    other = make_kiosk(company)
    kiosk.sync()
    if expired == "pre-upgrade":
        bad = PRE_UPGRADE_CURSOR
    else:
        stranger = Company(server, "Other Co")
        stranger.create_employees(1)
        outsider = make_kiosk(stranger)
        outsider.sync()
        bad = outsider.cursor
    kiosk.store.set_meta(CURSOR, bad)

    # Meanwhile: HR deletes an employee, another kiosk registers a face, and this kiosk (offline) registers one.
    company.hr_delete(e[1])
    from_other = random_encoding(rng)
    other.register_face(e[2], from_other)
    kiosk.net.offline = True
    mine = random_encoding(rng)
    kiosk.register_face(e[3], mine)
    kiosk.net.offline = False
    wait_until_due(kiosk)

    seen = len(kiosk.net.requests_to("GET", "/api/employees/timekeeper/changes"))
    result = kiosk.sync()
    assert result.mode == "full"
    feed = kiosk.net.requests_to("GET", "/api/employees/timekeeper/changes")[seen:]
    assert [status for _, status, _ in feed][:2] == [410, 200]  # the saved cursor, then the snapshot
    assert result.outbox.count("sent") == 1  # the pending registration survived the table swap
    table = assert_matches_server(kiosk, company)
    assert e[1] not in table and kiosk.employee(e[1]) is None
    assert table[e[2]].encoding == from_other and table[e[3]].encoding == mine
    assert kiosk.cursor not in (None, bad)
    assert kiosk.sync().mode == "delta"


def test_410_right_after_a_full_sync_keeps_the_table(company, make_kiosk):
    """Should the cursor of a full sync made minutes ago be refused, the kiosk keeps its table and raises instead of
    starting another full sync (the contract's advice, not to loop into the full-sync limit)."""
    company.create_employees(4)
    kiosk = make_kiosk(company)
    kiosk.sync()
    kiosk.store.set_meta(CURSOR, PRE_UPGRADE_CURSOR)
    kiosk.store.set_meta(FULL_SYNC_CURSOR, PRE_UPGRADE_CURSOR)
    kiosk.store.set_meta(FULL_SYNC_AT, str(now_ms() - 60_000))
    with pytest.raises(CursorExpired) as raised:
        kiosk.sync()
    assert 780 <= raised.value.retry_after <= 840
    assert len(kiosk.employees()) == 4
    snapshots = [1 for _, m, p, s, _ in kiosk.net.log if m == "GET" and "changes" in p and s == 200]
    assert len(snapshots) == 1  # only the first full sync's page
    kiosk.store.set_meta(FULL_SYNC_AT, str(now_ms() - 16 * 60_000))  # 16 minutes later it does run one
    assert kiosk.sync().mode == "full"


@pytest.mark.slow
def test_3000_employees_first_sync_with_progress_then_10_change_deltas(company, make_kiosk, record_figure):
    rng = random.Random(31)
    started = time.monotonic()
    ids = company.create_employees(3000)
    company.import_faces((employee_id, random_encoding(rng)) for employee_id in ids)
    setup = time.monotonic() - started
    table = company.server_table()
    assert len(table) == 3000 and all(row.encoding is not None for row in table.values())

    full_times = []
    kiosk = None
    for run in range(3):
        kiosk = make_kiosk(company, db=f"bulk-{run}.sqlite")
        calls = []
        t0 = time.monotonic()
        result = kiosk.sync(progress=lambda done, total, calls=calls: calls.append((done, total)))
        full_times.append(time.monotonic() - t0)
        assert result.mode == "full" and (result.employees, result.faces) == (3000, 3000)
        assert calls[0] == (500, 3000), calls[:2]
        assert calls[-1] == (3000, 3000)
        assert [done for done, _ in calls] == sorted(done for done, _ in calls)
        assert all(total == 3000 for _, total in calls) and len(calls) >= 6
        # The total came from the snapshot's X-Total-Count: no count request on the table (a second full sync).
        assert kiosk.net.requests_to("GET", "/api/employees/timekeeper") == []
    assert kiosk is not None
    assert_matches_server(kiosk, company, table)

    uploader = company.new_device("HR desk kiosk")
    delta_times = []
    for _ in range(3):
        changed = rng.sample(ids, 10)
        for employee_id in changed:
            answer = company.upload(uploader, employee_id, random_encoding(rng), now_ms())
            assert answer.status_code == 200, answer.text
        t0 = time.monotonic()
        result = kiosk.sync()
        delta_times.append(time.monotonic() - t0)
        assert (result.mode, result.upserts, result.deletes) == ("delta", 10, 0)
    assert_matches_server(kiosk, company)

    record_figure("setup: import 3,000 employees and their faces (s)", round(setup, 2))
    record_figure("first sync of 3,000 employees with faces (s)", _runs(full_times))
    record_figure("delta sync of 10 changes (s)", _runs(delta_times))


def _runs(values):
    return {"median": round(statistics.median(values), 3), "runs": [round(v, 3) for v in values]}
