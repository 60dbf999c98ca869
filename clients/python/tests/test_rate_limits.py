"""429 with Retry-After, on a second server whose limits are low: 2 face uploads per company per minute and 3 full
syncs per kiosk per hour."""

from __future__ import annotations

import random
import time

import pytest
from harness import Company, random_encoding

from faceid_kiosk import RateLimited
from faceid_kiosk.codec import now_ms, parse_time_ms
from faceid_kiosk.store import CURSOR

#: A cursor the server answers 410 for (see test_full_sync.py): the kiosk then needs a full sync.
EXPIRED_CURSOR = "ZC4xLjEx"


@pytest.mark.slow
def test_upload_429_is_retried_no_sooner_than_retry_after(limited_server, make_kiosk):
    rng = random.Random(50)
    company = Company(limited_server)
    e = company.create_employees(3)
    kiosk = make_kiosk(company)
    kiosk.sync()
    filler = company.new_device("Kiosk 2")
    for employee_id in e[:2]:  # the company's allowance for this minute
        answer = company.upload(filler, employee_id, random_encoding(rng), now_ms())
        assert answer.status_code == 200, answer.text

    face = random_encoding(rng)
    result = kiosk.register_face(e[2], face)
    assert result.status == "queued"                   # "will retry later"
    path = f"/api/employees/{e[2]}/face"
    [(_, status, headers)] = kiosk.net.requests_to("POST", path)
    assert status == 429
    retry_after = float(headers["Retry-After"])
    assert retry_after >= 1
    [item] = kiosk.pending()
    assert item.next_attempt_ms >= now_ms() + (retry_after - 1) * 1000  # not due before Retry-After

    # A sync now pulls (deltas are not limited) but does not send the upload early, although the retry policy's
    # own backoff (at most 0.2 s in these tests) has long passed.
    time.sleep(0.5)
    synced = kiosk.sync()
    assert synced.outbox.results == [] and synced.outbox.pending == 1
    assert len(kiosk.net.requests_to("POST", path)) == 1
    assert kiosk.employee(e[2]).encoding == face      # shown locally meanwhile

    flushed = kiosk.flush_outbox(timeout=retry_after + 60)
    assert flushed.count("sent") == 1 and flushed.pending == 0
    posts = kiosk.net.requests_to("POST", path)
    assert posts[-1][1] == 200
    for (t0, s0, h0), (t1, _, _) in zip(posts, posts[1:]):
        assert s0 == 429
        assert t1 - t0 >= float(h0["Retry-After"]) - 0.05, "retried before Retry-After"
    stored = company.hr_employee(e[2])
    assert stored["has_face_registration"] is True
    assert parse_time_ms(stored["face_registered_at"]) == item.at_ms
    assert kiosk.employee(e[2]).pending is None and kiosk.employee(e[2]).encoding == face


def test_full_sync_429_raises_rate_limited_and_keeps_the_store(limited_server, make_kiosk):
    """The kiosk (one device, three stores) uses its 3 full syncs of the hour; its fourth full sync — its cursor has
    expired — is refused with 429: RateLimited is raised at once and the store keeps its complete old table."""
    company = Company(limited_server)
    company.create_employees(3)
    # Pages of 2: the snapshot takes two pages; each carries X-Total-Count for the progress total, so a full sync costs
    # the kiosk exactly one of its 3 full syncs an hour (no count request on the table).
    first = make_kiosk(company, db="first.sqlite", page_size=2)
    assert first.sync().mode == "full"          # full sync 1 of 3
    device = int(first.device_id)

    second = make_kiosk(company, device_id=device, db="second.sqlite", page_size=2)
    calls = []
    assert second.sync(progress=lambda done, total: calls.append((done, total))).mode == "full"   # 2 of 3
    assert calls == [(2, 3), (3, 3)]
    assert second.net.requests_to("GET", "/api/employees/timekeeper") == []
    third = make_kiosk(company, device_id=device, db="third.sqlite", page_size=2)
    assert third.sync().mode == "full"          # 3 of 3: no slot left this hour
    kept = [(e.id, e.name, e.timekeeper_id) for e in third.employees()]
    assert len(kept) == 3

    # The third store's cursor expires (410): its next sync needs a fourth full sync, which the server refuses.
    third.store.set_meta(CURSOR, EXPIRED_CURSOR)
    seen = len(third.net.log)
    with pytest.raises(RateLimited) as raised:
        third.sync()
    assert raised.value.status == 429 and raised.value.retry_after > 60
    assert [status for _, _, _, status, _ in third.net.log[seen:]] == [410, 429]  # no retries against an hour
    assert third.cursor == EXPIRED_CURSOR
    assert [(e.id, e.name, e.timekeeper_id) for e in third.employees()] == kept   # the old table, whole
    assert first.sync().mode == "delta"         # deltas are not full syncs
    assert [e.id for e in first.employees()] == sorted(row["id"] for row in company.hr_employees())
    assert [e.id for e in second.employees()] == [e.id for e in first.employees()]
