"""KioskSync and its store without a server: a fake ApiClient serves the feed and takes the uploads, so that the rules
that are hard to provoke on a live server — two processes' full syncs interleaved page by page, a 429 in the middle of
the outbox, a feed that does not advance, a failed COMMIT — are checked exactly."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
import requests
from harness import canned_response, random_encoding

from faceid_kiosk import (
    BadRequest,
    ConfigurationError,
    KioskSync,
    NotFound,
    Offline,
    PermissionDenied,
    RateLimited,
    RetryPolicy,
    ServerError,
)
from faceid_kiosk.client import ApiClient, ChangesPage, UploadAnswer, parse_retry_after
from faceid_kiosk.codec import EncodingError, encoding_to_text, format_time_ms, now_ms, validate_encoding
from faceid_kiosk.store import RATE_LIMITED_UNTIL, LocalStore

NO_WAIT = RetryPolicy(base=0.01, cap=0.05, attempts=3, max_wait=5.0)
T0 = 1_796_126_984_000  # 2026-12-01T12:09:44Z


def _row(employee_id: int, face: Optional[str] = None, at_ms: Optional[int] = None) -> Dict[str, Any]:
    return {"id": employee_id, "name": f"Employee {employee_id}", "timekeeper_id": f"TK-{employee_id}",
            "face_encoding": face, "face_registered_at": None if at_ms is None else format_time_ms(at_ms)}


class FakeApi:
    """Stands in for :class:`ApiClient`: the feed's snapshot of ``table`` (cursors ``s:<offset>``), then the deltas in
    ``feed`` (cursors ``d:<position>``); uploads and deletes are recorded and answered 200 unless ``errors`` names an
    exception for ``("POST" | "DELETE", employee id)``. ``before_page(cursor)`` runs before each feed answer."""

    def __init__(self, rows: List[Dict[str, Any]], device_id: str = "7") -> None:
        self.device_id = device_id
        self.base_url = "https://fake.invalid"
        self.table = {row["id"]: row for row in rows}
        self.feed: List[Dict[str, Any]] = []
        self.requests: List[tuple] = []
        self.errors: Dict[tuple, Exception] = {}
        self.changes_error: Optional[Exception] = None
        self.before_page: Optional[Callable[[Optional[str]], None]] = None

    def changes(self, cursor: Optional[str] = None, limit: int = 500) -> ChangesPage:
        self.requests.append(("GET", cursor))
        if self.before_page is not None:
            self.before_page(cursor)
        if self.changes_error is not None:
            raise self.changes_error
        if cursor is None or cursor.startswith("s:"):
            offset = 0 if cursor is None else int(cursor[2:])
            ids = sorted(self.table)[offset:offset + limit]
            more = offset + limit < len(self.table)
            return ChangesPage([{"op": "upsert", "employee": dict(self.table[i])} for i in ids],
                               f"s:{offset + limit}" if more else f"d:{len(self.feed)}", more, total=len(self.table))
        position = int(cursor[2:])
        page = self.feed[position:position + limit]
        end = position + len(page)
        return ChangesPage(page, f"d:{end}", end < len(self.feed))

    def acknowledge(self, cursor: str) -> Dict[str, Any]:
        self.requests.append(("ACK", cursor))
        return {}

    def upload_face(self, employee_id: int, text: str, registered_at: str, key: Optional[str] = None) -> UploadAnswer:
        self.requests.append(("POST", employee_id))
        if ("POST", employee_id) in self.errors:
            raise self.errors[("POST", employee_id)]
        self.table[employee_id] = dict(self.table[employee_id], face_encoding=text, face_registered_at=registered_at)
        self.feed.append({"op": "upsert", "employee": dict(self.table[employee_id])})
        return UploadAnswer(employee_id, registered_at)

    def delete_face(self, employee_id: int, key: Optional[str] = None) -> None:
        self.requests.append(("DELETE", employee_id))
        if ("DELETE", employee_id) in self.errors:
            raise self.errors[("DELETE", employee_id)]
        self.table[employee_id] = dict(self.table[employee_id], face_encoding=None, face_registered_at=None)
        self.feed.append({"op": "upsert", "employee": dict(self.table[employee_id])})

    def sent(self, method: str) -> List[Any]:
        return [target for m, target in self.requests if m == method]

    def close(self) -> None:
        pass


def _kiosk(tmp_path: Path, api: FakeApi, db: str = "kiosk.sqlite", **options: Any) -> KioskSync:
    options.setdefault("retry", NO_WAIT)
    options.setdefault("sleep", lambda seconds: None)
    kiosk = KioskSync("https://fake.invalid", "token", "secret", api.device_id, str(tmp_path / db), **options)
    kiosk.api = api  # type: ignore[assignment]
    return kiosk


def _face(seed: int) -> str:
    return encoding_to_text(random_encoding(random.Random(seed)))


# MARK: 1. two processes, one file


def test_two_kiosks_on_one_file_full_syncs_interleaved_page_by_page(tmp_path):
    """The app and the support command line run a full sync of the same file at the same time, page for page in turn.
    Each stages into its own connection: both install the complete table (a shared staging table lost pages: one's
    start emptied the other's pages, one's end emptied the other's)."""
    rows = [_row(i, _face(i), T0 + i) for i in range(1, 8)]  # 7 employees: 4 pages of 2
    turn = threading.Condition()
    state = {"turn": "a", "done": set(), "b_started": False}
    threads: Dict[str, threading.Thread] = {}
    results: Dict[str, Any] = {}

    def take_turn(me: str, other: str, first: bool) -> None:
        with turn:
            if not first:
                state["turn"] = other  # my previous page is staged: the other kiosk's turn
                turn.notify_all()
            assert turn.wait_for(lambda: state["turn"] == me or other in state["done"], timeout=20), "deadlock"

    def hook(me: str, other: str, api: FakeApi) -> Callable[[Optional[str]], None]:
        def before_page(cursor: Optional[str]) -> None:
            if me == "a" and cursor is not None and not state["b_started"]:
                state["b_started"] = True  # B starts its full sync after A staged its first page
                threads["b"].start()
            take_turn(me, other, first=cursor is None)
        return before_page

    kiosks = {}
    for me, other in (("a", "b"), ("b", "a")):
        api = FakeApi(rows)
        api.before_page = hook(me, other, api)
        kiosks[me] = _kiosk(tmp_path, api, db="shared.sqlite", page_size=2)

    def run(me: str, other: str) -> None:
        try:
            results[me] = kiosks[me].sync()
        except BaseException as error:  # noqa: BLE001 - reported below
            results[me] = error
        finally:
            with turn:
                state["done"].add(me)
                state["turn"] = other
                turn.notify_all()

    threads["a"] = threading.Thread(target=run, args=("a", "b"))
    threads["b"] = threading.Thread(target=run, args=("b", "a"))
    threads["a"].start()
    threads["a"].join(30)
    threads["b"].join(30)
    assert not threads["a"].is_alive() and not threads["b"].is_alive()
    feed_calls = {me: [c for m, c in k.api.requests if m == "GET"] for me, k in kiosks.items()}  # type: ignore
    assert feed_calls["a"] == feed_calls["b"] == [None, "s:2", "s:4", "s:6"]
    for me in ("a", "b"):
        assert not isinstance(results[me], BaseException), results[me]
        assert results[me].mode == "full" and results[me].employees == 7, (me, results[me])
    for kiosk in kiosks.values():
        assert [(e.id, e.has_face) for e in kiosk.employees()] == [(i, True) for i in range(1, 8)]
        assert kiosk.cursor == "d:0"
        kiosk.close()
    reopened = LocalStore(str(tmp_path / "shared.sqlite"))
    assert len(reopened.employees()) == 7
    assert reopened._db.execute("SELECT name FROM sqlite_master WHERE name = 'staging'").fetchall() == []
    reopened.close()


def test_schema_1_file_loses_its_shared_staging_table(tmp_path):
    path = str(tmp_path / "old.sqlite")
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE staging (id INTEGER PRIMARY KEY, name TEXT, timekeeper_id TEXT, encoding TEXT, "
                     "registered_at_ms INTEGER); INSERT INTO staging (id) VALUES (5); PRAGMA user_version=1;")
    db.close()
    store = LocalStore(path)
    assert store._db.execute("SELECT name FROM main.sqlite_master WHERE name = 'staging'").fetchall() == []
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == 2
    store.begin_full_sync()
    store.stage_page([{"op": "upsert", "employee": _row(1)}])
    store.finish_full_sync("d:0", T0)
    assert [e.id for e in store.employees()] == [1]
    store.close()


# MARK: 5, 6. pulls that fail


def _synced(tmp_path: Path, rows: List[Dict[str, Any]]) -> KioskSync:
    kiosk = _kiosk(tmp_path, FakeApi(rows))
    assert kiosk.sync().mode == "full"
    return kiosk


@pytest.mark.parametrize("failure", [Offline("no answer"), ServerError("boom", status=503),
                                     RateLimited("slow down", status=429, retry_after=600)])
def test_sync_whose_pull_fails_still_sends_registrations_then_raises(tmp_path, failure):
    kiosk = _synced(tmp_path, [_row(1), _row(2, _face(2), T0)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    kiosk.store.queue(1, "register", T0 + 5, _face(1), now_ms())
    kiosk.store.queue(2, "clear", T0 + 5, None, now_ms())
    api.changes_error = failure
    with pytest.raises(type(failure)):
        kiosk.sync()
    assert api.sent("POST") == [1]  # (offline here means the feed's answer was lost; the upload still got through)
    assert api.sent("DELETE") == []  # a clear waits for a pull
    assert [(i.employee_id, i.op) for i in kiosk.pending()] == [(2, "clear")]
    kiosk.close()


def test_sync_whose_pull_is_refused_for_the_configuration_sends_nothing(tmp_path):
    kiosk = _synced(tmp_path, [_row(1)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    kiosk.store.queue(1, "register", T0 + 5, _face(1), now_ms())
    api.changes_error = ConfigurationError("No such endpoint", status=404, code="route_not_found")
    with pytest.raises(ConfigurationError):
        kiosk.sync()
    assert api.sent("POST") == [] and len(kiosk.pending()) == 1
    kiosk.close()


def test_flush_outbox_pulls_before_a_clear_and_drops_it_for_a_newer_face(tmp_path):
    kiosk = _synced(tmp_path, [_row(1, _face(1), T0), _row(2)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    cleared_at = now_ms()
    kiosk.store.queue(1, "clear", cleared_at, None, cleared_at)
    # Registered on another kiosk after the clear: the feed shows it.
    api.table[1] = _row(1, _face(11), cleared_at + 1000)
    api.feed.append({"op": "upsert", "employee": dict(api.table[1])})
    flushed = kiosk.flush_outbox()
    assert flushed.results == [] and kiosk.pending() == []
    assert api.sent("DELETE") == []
    assert kiosk.employee(1).registered_at_ms == cleared_at + 1000 and kiosk.employee(1).has_face
    kiosk.close()


def test_flush_outbox_offline_pull_keeps_clears_and_sends_registrations(tmp_path):
    kiosk = _synced(tmp_path, [_row(1, _face(1), T0), _row(2)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    kiosk.store.queue(1, "clear", now_ms(), None, now_ms())
    kiosk.store.queue(2, "register", now_ms(), _face(2), now_ms())
    api.changes_error = Offline("the feed's route is down")
    flushed = kiosk.flush_outbox()
    assert [(r.employee_id, r.status) for r in flushed.results] == [(2, "sent")]
    assert api.sent("DELETE") == [] and [(i.employee_id, i.op) for i in kiosk.pending()] == [(1, "clear")]
    api.changes_error = None
    flushed = kiosk.flush_outbox()  # the pull works again: nothing newer, so the clear goes out
    assert [(r.employee_id, r.status) for r in flushed.results] == [(1, "sent")] and api.sent("DELETE") == [1]
    kiosk.close()


# MARK: 4. a 403 on one item


def test_permission_denied_on_one_item_defers_it_and_sends_the_others(tmp_path):
    kiosk = _synced(tmp_path, [_row(1), _row(2), _row(3)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    for employee_id in (1, 2, 3):
        kiosk.store.queue(employee_id, "register", T0 + employee_id, _face(employee_id), now_ms() + employee_id)
    api.errors[("POST", 1)] = PermissionDenied("This employee belongs to another company", status=403,
                                               code="forbidden")
    before = now_ms()
    with pytest.raises(PermissionDenied):
        kiosk.flush_outbox()
    assert api.sent("POST") == [1, 2, 3]  # the first item's 403 did not stop the pass
    [kept] = kiosk.pending()
    assert kept.employee_id == 1 and kept.attempts == 1 and kept.last_error.startswith("PermissionDenied")
    assert kept.next_attempt_ms >= before
    kiosk.close()


# MARK: 8. 429 in the outbox


def test_429_stops_the_pass_and_holds_every_item_until_retry_after(tmp_path):
    kiosk = _synced(tmp_path, [_row(1), _row(2), _row(3), _row(4)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    for employee_id in (1, 2, 3):
        kiosk.store.queue(employee_id, "register", T0 + employee_id, _face(employee_id), now_ms() + employee_id)
    api.errors[("POST", 1)] = RateLimited("Too many requests", status=429, code="rate_limited", retry_after=120)
    before = now_ms()
    flushed = kiosk.flush_outbox()
    assert api.sent("POST") == [1]  # the pass stopped at the 429
    assert [r.status for r in flushed.results] == ["queued"] and flushed.pending == 3
    until = int(kiosk.store.get_meta(RATE_LIMITED_UNTIL))
    assert until >= before + 120_000
    assert all(item.next_attempt_ms >= until for item in kiosk.pending())
    # A new registration during the window is stored and queued, not sent, and not due before the window ends.
    result = kiosk.register_face(4, random_encoding(random.Random(4)))
    assert result.status == "queued" and api.sent("POST") == [1]
    assert kiosk.store.outbox_item(4).next_attempt_ms >= until
    # Replacing a deferred item does not make it due earlier either.
    kiosk.store.queue(2, "clear", now_ms(), None, now_ms())
    assert kiosk.store.outbox_item(2).next_attempt_ms >= until
    assert kiosk.flush_outbox().results == [] and api.sent("POST") == [1]
    # Once the window has passed everything goes out.
    del api.errors[("POST", 1)]
    kiosk.store.set_meta(RATE_LIMITED_UNTIL, str(now_ms() - 1))
    kiosk.store._db.execute("UPDATE outbox SET next_attempt_ms = 0")
    flushed = kiosk.flush_outbox()
    assert sorted(r.employee_id for r in flushed.results if r.status == "sent") == [1, 2, 3, 4]
    kiosk.close()


@pytest.mark.parametrize("value, seconds", [("5", 5.0), (" 2.5 ", 2.5), ("-3", 0.0), ("1e9", 86_400.0),
                                            ("inf", None), ("nan", None), ("-inf", None), ("soon", None),
                                            ("", None), (None, None),
                                            ("Fri, 01 Jan 2100 00:00:00 GMT", 86_400.0),
                                            ("Thu, 01 Jan 2004 00:00:00 GMT", 0.0)])
def test_retry_after_is_clamped_to_a_day(value, seconds):
    assert parse_retry_after(value) == seconds


# MARK: 7, 10, 13, 14. the store and the pages


def test_complete_does_not_overwrite_a_newer_row(tmp_path):
    store = LocalStore(str(tmp_path / "s.sqlite"))
    older, newer = _face(70), _face(71)
    store.apply_delta_page([{"op": "upsert", "employee": _row(1)}, {"op": "upsert", "employee": _row(2)}], "d:1")
    upload = store.queue(1, "register", T0, older, T0)
    clear = store.queue(2, "clear", T0, None, T0)
    # Meanwhile — between the upload's answer and complete() — a sync of another process applied newer registrations
    # from the feed (and dropped the items they made pointless).
    store.apply_delta_page([{"op": "upsert", "employee": _row(1, newer, T0 + 60_000)},
                            {"op": "upsert", "employee": _row(2, newer, T0 + 60_000)}], "d:2")
    assert store.outbox() == []
    store.complete(upload, older, format_time_ms(T0))
    store.complete(clear, None, None)
    for employee_id in (1, 2):
        row = store.server_row(employee_id)
        assert row["encoding"] == newer, f"employee {employee_id}: the newer face was overwritten"
        assert row["registered_at_ms"] == T0 + 60_000
    # Not newer (equal, or older): the server's answer is written.
    again = store.queue(1, "register", T0 + 60_000, older, T0)
    store.complete(again, older, format_time_ms(T0 + 60_000))
    assert store.server_row(1)["encoding"] == older, "an upload as new as the row was not written"
    later = store.queue(2, "clear", T0 + 120_000, None, T0)
    store.complete(later, None, None)
    assert store.server_row(2)["encoding"] is None and store.server_row(2)["registered_at_ms"] is None
    store.close()


class _FailingCommit:
    """The store's connection, except that the next COMMIT fails (a full disk, an I/O error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.fail = True

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.fail:
            self.fail = False
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_a_failed_commit_is_rolled_back(tmp_path):
    store = LocalStore(str(tmp_path / "s.sqlite"))
    real = store._db
    store._db = _FailingCommit(real)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError):
        store.set_meta("probe", "1")
    assert not real.in_transaction
    assert store.get_meta("probe") is None
    store.set_meta("probe", "2")  # the connection is usable: not "cannot start a transaction within a transaction"
    assert store.get_meta("probe") == "2"
    store._db = real
    store.close()


def test_clear_of_an_employee_the_kiosk_never_received_leaves_no_row(tmp_path):
    kiosk = _synced(tmp_path, [_row(1)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    api.errors[("DELETE", 99)] = NotFound("Employee not found or no face data to delete", status=404,
                                          code="not_found")
    api.errors[("DELETE", 1)] = api.errors[("DELETE", 99)]
    assert kiosk.clear_face(99).status == "sent"
    assert kiosk.employee(99) is None and kiosk.pending() == []
    assert kiosk.clear_face(1).status == "sent"  # a known employee without a face keeps its row
    assert kiosk.employee(1) is not None
    kiosk.close()


def test_changes_page_repr_holds_no_encoding():
    face = _face(90)
    page = ChangesPage([{"op": "upsert", "employee": _row(1, face, T0)}], "d:1", False, total=1)
    assert face[1:20] not in repr(page) and "d:1" in repr(page)


# MARK: 11, 12. answers the client cannot use


@pytest.mark.parametrize("change", [
    {"op": "upsert", "employee": {"name": "no id"}},
    {"op": "upsert", "employee": dict(_row(3), id="three")},
    {"op": "upsert", "employee": dict(_row(3), face_registered_at="yesterday")},
    {"op": "upsert", "employee": dict(_row(3), name=["not", "text"])},
    {"op": "delete"},
    "not an object",
])
def test_a_malformed_change_is_a_server_error_and_changes_nothing(tmp_path, change):
    kiosk = _synced(tmp_path, [_row(1), _row(2)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    cursor = kiosk.cursor
    api.feed += [{"op": "delete", "employee_id": 1}, change]
    with pytest.raises(ServerError, match="malformed"):
        kiosk.sync()
    assert kiosk.cursor == cursor and [e.id for e in kiosk.employees()] == [1, 2]
    kiosk.close()


def test_a_feed_that_does_not_advance_is_a_server_error(tmp_path):
    kiosk = _synced(tmp_path, [_row(1)])
    api: FakeApi = kiosk.api  # type: ignore[assignment]
    stuck = kiosk.cursor
    calls = [0]

    def counted() -> None:
        calls[0] += 1
        assert calls[0] < 50, "the client keeps asking for the same page"

    def delta(cursor=None, limit=500):
        counted()
        return ChangesPage([], stuck, True)

    api.changes = delta  # type: ignore[assignment]
    with pytest.raises(ServerError, match="did not advance"):
        kiosk.sync()
    kiosk.store.set_meta("cursor", None)  # a full sync's snapshot that does not advance either
    calls[0] = 0

    def snapshot(cursor=None, limit=500):
        counted()
        if cursor is None:
            return ChangesPage([{"op": "upsert", "employee": _row(1)}], "s:1", True, total=1)
        return ChangesPage([], "s:1", True, total=1)

    api.changes = snapshot  # type: ignore[assignment]
    with pytest.raises(ServerError, match="did not advance"):
        kiosk.sync()
    assert [e.id for e in kiosk.employees()] == [1]
    kiosk.close()


def test_overflowing_numbers_are_encoding_errors():
    with pytest.raises(EncodingError, match="out of range"):
        validate_encoding([10 ** 400] + [0.1] * 127)


# MARK: 2, 3. statuses and headers, through a canned transport


class _Canned(requests.adapters.HTTPAdapter):
    def __init__(self, status: int, body: Any = None, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__()
        self.answer = (status, body, headers)
        self.sent: List[requests.PreparedRequest] = []

    def send(self, request, **kwargs):  # type: ignore[override]
        self.sent.append(request)
        return canned_response(request, *self.answer)


def _client(status: int, body: Any = None, headers: Optional[Dict[str, str]] = None, **options: Any) -> ApiClient:
    session = requests.Session()
    session.mount("https://", _Canned(status, body, headers))
    return ApiClient("https://faceid.example.test", options.pop("token", "fid_token"),
                     options.pop("app_secret", "secret"), 3, session=session)


@pytest.mark.parametrize("status, body, headers, expected", [
    (302, None, {"Location": "https://proxy.example.test/login"}, ConfigurationError),
    (301, None, {"Location": "https://faceid.example.test/"}, ConfigurationError),
    (404, {"success": False, "code": "route_not_found", "error": "No such endpoint"}, None, ConfigurationError),
    (404, None, None, ConfigurationError),  # a proxy's page, no code
    (405, {"success": False, "code": "method_not_allowed", "error": "Method not allowed"}, None, ConfigurationError),
    (418, None, None, ConfigurationError),
    (404, {"success": False, "code": "not_found", "error": "Employee not found"}, None, NotFound),
    (400, {"success": False, "code": "invalid_face_encoding", "error": "Invalid"}, None, BadRequest),
    (408, None, None, ServerError),
    (425, None, None, ServerError),
    (502, None, None, ServerError),
])
def test_answers_outside_2xx_are_typed(status, body, headers, expected):
    client = _client(status, body, headers)
    with pytest.raises(expected) as raised:
        client.delete_face(5, "key")
    assert type(raised.value) is expected and raised.value.status == status
    assert raised.value.retryable is (expected is ServerError)


def test_a_redirect_does_not_complete_a_clear(tmp_path):
    kiosk = _synced(tmp_path, [_row(1, _face(1), T0)])
    kiosk.api = _client(302, None, {"Location": "https://proxy.example.test/login"})  # type: ignore[assignment]
    with pytest.raises(ConfigurationError, match="redirect"):
        kiosk.clear_face(1)
    [item] = kiosk.pending()
    assert (item.employee_id, item.op, item.attempts) == (1, "clear", 1)
    assert kiosk.store.server_row(1)["encoding"] is not None  # the server's face is still what the kiosk knows
    kiosk.close()


def test_a_2xx_answer_is_success():
    client = _client(204)
    client.delete_face(5, "key")


def test_header_values_are_stripped_and_control_characters_refused():
    client = _client(204, token="fid_token\n", app_secret="  secret\r\n")
    client.delete_face(5)
    sent = client.session.get_adapter("https://x").sent[0]  # type: ignore[attr-defined]
    assert sent.headers["Authorization"] == "Token fid_token" and sent.headers["X-App-Secret"] == "secret"
    for field, value, kind in [("token", "fid_\x00token", "control"), ("app_secret", "sec\nret", "control"),
                               ("token", "fid_tökén", "non-ASCII"), ("app_secret", "", "required")]:
        with pytest.raises(ValueError, match=kind) as raised:
            _client(204, **{field: value})
        assert field in str(raised.value) and (not value or value.strip() not in str(raised.value))
    with pytest.raises(ValueError, match="device_id"):
        ApiClient("https://faceid.example.test", "t", "s", "1\n2")


def test_an_unsendable_header_is_a_configuration_error_not_offline():
    client = _client(204)
    client._headers["X-App-Secret"] = "secret\nX-Injected: 1"
    with pytest.raises(ConfigurationError) as raised:
        client.delete_face(5)
    assert raised.value.__cause__ is None and "Injected" not in str(raised.value)
    assert not raised.value.retryable


def test_a_malformed_upload_answer_is_a_server_error():
    client = _client(200, {"employee_id": "five", "registered_at": "2026-12-01T12:09:44Z"})
    with pytest.raises(ServerError):
        client.upload_face(5, "[]", "2026-12-01T12:09:44Z")
    client = _client(200, {"employee_id": 5, "registered_at": "not a time"})
    with pytest.raises(ServerError):
        client.upload_face(5, "[]", "2026-12-01T12:09:44Z")
