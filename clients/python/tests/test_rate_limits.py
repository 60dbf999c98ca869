"""429 with Retry-After, on a second server whose limits are low: 2 face uploads per company per minute and 3 full
syncs per kiosk per hour."""

from __future__ import annotations

import random
import time

import pytest
from harness import Company, random_encoding

from faceid_kiosk import RateLimited
from faceid_kiosk.codec import now_ms, parse_time_ms


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
    company = Company(limited_server)
    company.create_employees(3)
    # Pages of 2: the snapshot takes two pages; its X-Total-Count gives the progress total, so a full sync costs the kiosk
    # one of its 3 full syncs an hour and nothing more.
    first = make_kiosk(company, db="first.sqlite", page_size=2)
    assert first.sync().mode == "full"          # 1 of 3
    device = int(first.device_id)

    second = make_kiosk(company, device_id=device, db="second.sqlite", page_size=2)
    calls = []
    assert second.sync(progress=lambda done, total: calls.append((done, total))).mode == "full"   # 2 of 3
    assert calls == [(2, 3), (3, 3)]
    assert second.net.requests_to("GET", "/api/employees/timekeeper") == []
    assert make_kiosk(company, device_id=device, db="third.sqlite", page_size=2).sync().mode == "full"   # 3 of 3

    fourth = make_kiosk(company, device_id=device, db="fourth.sqlite", page_size=2)
    with pytest.raises(RateLimited) as raised:
        fourth.sync()
    assert raised.value.status == 429 and raised.value.retry_after > 60
    assert len(fourth.net.log) == 1             # no retries against an hour-long Retry-After
    assert fourth.cursor is None and fourth.employees() == []
    assert first.sync().mode == "delta"         # deltas are not full syncs
    assert [e.id for e in first.employees()] == sorted(row["id"] for row in company.hr_employees())
    assert [e.id for e in second.employees()] == [e.id for e in first.employees()]
