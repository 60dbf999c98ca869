"""``KioskSync``: a timekeeper kiosk's side of the face sync contract (docs/face-sync-api.md, "Client algorithm").

- :meth:`KioskSync.sync` pulls what changed since the saved cursor (a full sync through the feed's snapshot when there
  is no cursor or the server answers 410), applies each page in one local transaction, acknowledges the position, and
  then sends the outbox (its registrations also when the pull failed).
- :meth:`KioskSync.register_face` / :meth:`KioskSync.clear_face` change the local table at once, queue the upload or
  delete in the SQLite outbox, and try to send it; what cannot be sent now is retried later (exponential backoff with
  full jitter, at least ``Retry-After`` on 429), also after a restart.
- :meth:`KioskSync.match` compares a probe with the local faces (Euclidean distance, tolerance 0.6).

Conflicts follow the server's rule, the last registration wins: a pending registration older than the face the server
holds is dropped (409 ``stale_registration``, or earlier when the feed already shows the newer face) and the kiosk keeps
the server's face; a pending clear older than a face registered elsewhere is dropped too — the server's ``DELETE``
carries no time, so a clear that waited in the outbox is only sent right after a pull has shown no newer face.

Logs (logger ``faceid_kiosk``) carry counts, employee ids, times and error codes — never an encoding.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

import requests

from . import store as meta_keys
from .client import (
    DEFAULT_TIMEOUT,
    ApiClient,
    AuthenticationError,
    BadRequest,
    ChangesPage,
    ConfigurationError,
    Conflict,
    CursorExpired,
    FaceIDError,
    NotFound,
    Offline,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from .codec import TimeLike, encoding_to_text, format_time_ms, now_ms, to_time_ms, validate_encoding
from .match import DEFAULT_TOLERANCE, FaceIndex, Match
from .store import LocalEmployee, LocalStore, OutboxItem, parse_stored_encoding

log = logging.getLogger("faceid_kiosk")
log.addHandler(logging.NullHandler())

#: ``progress(done, total)``: employees (full sync) or changes (delta) applied so far, and the total when known.
ProgressCallback = Callable[[int, Optional[int]], None]

#: After a full sync, a 410 on the cursor it produced is not answered with another full sync for this long
#: (the contract's advice: keep the table and wait, rather than loop into the full-sync limit).
FULL_SYNC_GUARD_MS = 15 * 60 * 1000

#: Errors that need the kiosk's configuration fixed (key, device id, app secret, URL, CA): raised at once, never
#: worked around. (:class:`TLSError` is a :class:`ConfigurationError`.)
CONFIGURATION_ERRORS = (AuthenticationError, PermissionDenied, ConfigurationError)

#: What a malformed change of the feed raises while it is applied (wrapped into :class:`ServerError`).
_MALFORMED = (KeyError, ValueError, TypeError, AttributeError, OverflowError)

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: the n-th retry waits ``random(0, min(cap, base × 2^n))`` seconds, and at
    least ``Retry-After`` on 429.

    ``attempts`` and ``max_wait`` bound the retries a single :meth:`KioskSync.sync` makes of one feed request before it
    gives up and raises (a longer ``Retry-After`` is raised as :class:`RateLimited` at once). The outbox has no attempt
    limit: its items wait in SQLite for their next attempt time.
    """

    base: float = 1.0
    cap: float = 300.0
    attempts: int = 4
    max_wait: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap, self.base * (2 ** min(attempt, 30))))


@dataclass
class OutboxResult:
    """What became of one local registration or clear.

    ``status``: ``sent`` (the server applied it), ``queued`` (not sent yet — will retry later, not before
    ``retry_at``), ``superseded`` (the server holds a newer registration or deletion: the kiosk keeps the server's
    state), ``rejected`` (refused for good — 400, 404 ``not_found`` — and dropped)."""

    employee_id: int
    op: str
    status: str
    registered_at: Optional[str] = None
    retry_at: Optional[str] = None
    error: Optional[str] = None
    offline: bool = False

    @property
    def pending(self) -> bool:
        return self.status == "queued"


@dataclass
class FlushResult:
    """One pass (or several, with a timeout) over the outbox."""

    results: List[OutboxResult] = field(default_factory=list)
    pending: int = 0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


@dataclass
class SyncResult:
    """What :meth:`KioskSync.sync` did."""

    mode: str
    changes: int
    upserts: int
    deletes: int
    employees: int
    faces: int
    cursor: Optional[str]
    acknowledged: bool
    outbox: FlushResult
    seconds: float


class KioskSync:
    """One kiosk: its credentials, its device id and its local SQLite store.

    :param base_url: the server, e.g. ``https://faceid.example.com``.
    :param token: an API key with the ``kiosk`` scope (or an owner/admin/staff session token).
    :param app_secret: the desktop app secret (``X-App-Secret``).
    :param device_id: this kiosk's device id (``POST /devices``).
    :param db_path: the SQLite file (created when missing).
    :param ca_cert: a PEM file to trust for the server's certificate; ``None`` trusts the system's CAs.

    Keyword-only: ``timeout`` (seconds, or ``(connect, read)``), ``session`` (a :class:`requests.Session` to use),
    ``page_size`` (feed page, 1…1000), ``retry`` (:class:`RetryPolicy`), ``count_total`` (when the feed's snapshot
    carries no ``X-Total-Count`` — a server older than this client — ask the table for it during a full sync for the
    progress total; the server counts that request as a full sync too).

    Safe to share between threads (one sync at a time; register/clear/match may run meanwhile). Several processes may
    use the same ``db_path`` at once (the kiosk app and the ``faceid-kiosk`` command line): their writes are serialised
    by SQLite, and each full sync stages its pages in its own connection's table, so each one that finishes installs a
    complete table with its own cursor. An outbox item two processes send at the same moment carries the same
    ``Idempotency-Key`` both times.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        app_secret: str,
        device_id: Union[int, str],
        db_path: str,
        ca_cert: Optional[str] = None,
        *,
        timeout: Union[float, Tuple[float, float]] = DEFAULT_TIMEOUT,
        session: Optional[requests.Session] = None,
        page_size: int = 500,
        retry: Optional[RetryPolicy] = None,
        count_total: bool = True,
        clock: Callable[[], int] = now_ms,
        sleep: Callable[[float], None] = time.sleep,
        rng: Optional[random.Random] = None,
    ) -> None:
        if not 1 <= int(page_size) <= 1000:
            raise ValueError("page_size must be 1…1000")
        self.api = ApiClient(base_url, token, app_secret, device_id, ca_cert, timeout=timeout, session=session)
        self.store = LocalStore(db_path)
        self.page_size = int(page_size)
        self.retry = retry or RetryPolicy()
        self.count_total = count_total
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sync_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index: Optional[Tuple[Tuple[int, int], FaceIndex]] = None
        self._needs_pull = False
        previous = self.store.get_meta(meta_keys.DEVICE_ID)
        if previous != self.api.device_id:
            if previous is not None:
                log.warning("this store was last used by device %s; it now acknowledges as device %s",
                            previous, self.api.device_id)
                self.store.set_meta(meta_keys.ACKED_CURSOR, None)
            self.store.set_meta(meta_keys.DEVICE_ID, self.api.device_id)

    # MARK: lifecycle

    def close(self) -> None:
        self.api.close()
        self.store.close()

    def __enter__(self) -> "KioskSync":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def device_id(self) -> str:
        return self.api.device_id

    @property
    def cursor(self) -> Optional[str]:
        """The saved feed position (``None`` until the first full sync)."""
        return self.store.cursor

    # MARK: the five calls

    def sync(self, progress: Optional[ProgressCallback] = None) -> SyncResult:
        """Bring the local table up to date and send the outbox.

        A delta from the saved cursor (each page applied in one local transaction with its cursor); a full sync when
        there is no cursor or the server answers 410 ``cursor_expired``; then ``POST /api/devices/{id}/ack``; then the
        outbox's due items; then, if any of them reached the server, one more delta so the table holds the server's
        own record of them.

        When the pull fails with :class:`Offline`, :class:`ServerError`, :class:`RateLimited` or
        :class:`CursorExpired`, the outbox's due registrations are still sent (the server's conflict rule protects
        them; pending clears wait for a pull), then the pull's error is raised.

        Raises :class:`Offline` (no connection, after retries), :class:`AuthenticationError` /
        :class:`PermissionDenied` / :class:`ConfigurationError` (configuration), :class:`RateLimited` (a full sync
        refused for longer than the retry policy waits), :class:`CursorExpired` (the cursor of a full sync made under
        15 minutes ago was refused again), :class:`ServerError` (5xx, or an answer it cannot read). The local table is
        consistent whatever is raised: it stays at the last applied delta page (a full sync that broke off leaves the
        old table, and the next one starts over).
        """
        with self._sync_lock:
            started = time.monotonic()
            try:
                mode, stats = self._pull(progress)
            except CONFIGURATION_ERRORS:
                raise
            except FaceIDError as error:
                self._flush_registrations_after(error)
                raise
            acknowledged = self._acknowledge()
            flushed = self._flush(timeout=0.0)
            if self._needs_pull or flushed.count("sent") or flushed.count("superseded"):
                try:
                    _, again = self._delta(self.store.cursor or "", None)
                    stats = _add(stats, again)
                    acknowledged = self._acknowledge() or acknowledged
                except CONFIGURATION_ERRORS:
                    raise
                except FaceIDError as error:
                    log.info("follow-up delta after the outbox failed (%s); the next sync brings it",
                             type(error).__name__)
            summary = self.store.summary()
            self.store.set_meta(meta_keys.LAST_SYNC_AT, str(self._clock()))
            self.store.set_meta(meta_keys.LAST_SYNC_MODE, mode)
            result = SyncResult(
                mode=mode,
                changes=stats[0] + stats[1],
                upserts=stats[0],
                deletes=stats[1],
                employees=summary["employees"],
                faces=summary["faces"],
                cursor=self.store.cursor,
                acknowledged=acknowledged,
                outbox=flushed,
                seconds=time.monotonic() - started,
            )
            log.info(
                "sync (%s) done in %.2fs: %d upserts, %d deletes; %d employees, %d faces locally; outbox: %d sent, "
                "%d superseded, %d rejected, %d pending",
                mode, result.seconds, result.upserts, result.deletes, result.employees, result.faces,
                flushed.count("sent"), flushed.count("superseded"), flushed.count("rejected"), flushed.pending,
            )
            return result

    def register_face(
        self, employee_id: int, encoding: Sequence[float], registered_at: Optional[TimeLike] = None
    ) -> OutboxResult:
        """Register ``encoding`` (128 numbers) as the employee's face: stored locally at once (the kiosk recognises
        them from now on), queued in the outbox, and sent now if the server can be reached.

        ``registered_at`` is when the face was captured (default: now, from the kiosk clock); it decides conflicts.
        Returns ``status="sent"``, ``"queued"`` ("will retry later": offline, 5xx, 408, 425, 429 — or an earlier 429's
        ``Retry-After`` has not passed yet) or ``"superseded"`` (the server already holds a newer registration or
        deletion; the kiosk now shows the server's state).

        Raises :class:`~faceid_kiosk.codec.EncodingError` (a ``ValueError``) for a malformed encoding before anything
        is stored; :class:`NotFound` (no such employee) or :class:`BadRequest` after dropping the upload;
        :class:`AuthenticationError` / :class:`PermissionDenied` / :class:`ConfigurationError` (:class:`TLSError`
        among them) with the upload kept queued.
        """
        employee_id = _employee_id(employee_id)
        text = encoding_to_text(validate_encoding(encoding))
        at_ms = self._clock() if registered_at is None else to_time_ms(registered_at)
        item = self.store.queue(employee_id, "register", at_ms, text, self._clock())
        log.info("employee %d: face registered locally (registered_at %s), queued for upload",
                 employee_id, format_time_ms(at_ms))
        return self._send_now(item)

    def clear_face(self, employee_id: int) -> OutboxResult:
        """Delete the employee's face data ("Clear Face Data"): removed locally at once, the delete queued in the
        outbox and sent now if possible. A server without a face for them (404 ``not_found``) counts as done (and an
        employee this kiosk never received leaves no row behind); the errors are those of :meth:`register_face`."""
        employee_id = _employee_id(employee_id)
        now = self._clock()
        item = self.store.queue(employee_id, "clear", now, None, now)
        log.info("employee %d: face data cleared locally, queued for deletion on the server", employee_id)
        return self._send_now(item)

    def match(self, encoding: Sequence[float], tolerance: float = DEFAULT_TOLERANCE) -> Optional[Match]:
        """The employee whose local face is nearest to ``encoding``, if within ``tolerance`` (Euclidean distance, as
        ``face_recognition.compare_faces``); ``None`` otherwise. Works offline."""
        index = self._face_index()
        best = index.best(encoding, tolerance)
        if best is None:
            log.debug("match: no face within %.2f among %d", tolerance, len(index))
            return None
        employee_id, distance = best
        row = self.store.employee(employee_id)
        log.debug("match: employee %d at distance %.3f", employee_id, distance)
        return Match(employee_id=employee_id, distance=distance,
                     name=row.name if row else None, timekeeper_id=row.timekeeper_id if row else None)

    # MARK: more

    def flush_outbox(self, timeout: float = 0.0) -> FlushResult:
        """Send the outbox's due items. With ``timeout > 0``, keep going — sleeping until the next item is due, as the
        backoff and ``Retry-After`` allow — until the outbox is empty or ``timeout`` seconds have passed.

        Before sending a pending clear it pulls a delta (the server's ``DELETE`` carries no time: a clear older than a
        face registered elsewhere is dropped, not sent). When that pull fails (offline, 5xx, 429, 410), the clears stay
        queued and the registrations are still sent. A 403 on one item defers that item and the others are still sent;
        the first :class:`PermissionDenied` is raised at the end of the pass."""
        with self._sync_lock:
            return self._flush(timeout, check_clears=True)

    def employees(self) -> List[LocalEmployee]:
        """The local table as the kiosk shows it."""
        return self.store.employees()

    def employee(self, employee_id: int) -> Optional[LocalEmployee]:
        return self.store.employee(employee_id)

    def pending(self) -> List[OutboxItem]:
        """The outbox, oldest first."""
        return self.store.outbox()

    def status(self) -> Dict[str, Any]:
        """Local counts, cursors, last syncs and the outbox (no encodings; no request is sent)."""
        summary = self.store.summary()
        summary["device_id"] = self.device_id
        summary["base_url"] = self.api.base_url
        return summary

    # MARK: pulling

    def _pull(self, progress: Optional[ProgressCallback]) -> Tuple[str, Tuple[int, int]]:
        cursor = self.store.cursor
        if cursor is None:
            log.info("no saved cursor: full sync")
            return "full", self._full_sync(progress)
        try:
            return "delta", self._delta(cursor, progress)[1]
        except CursorExpired as error:
            full_cursor = self.store.get_meta(meta_keys.FULL_SYNC_CURSOR)
            full_at = int(self.store.get_meta(meta_keys.FULL_SYNC_AT) or 0)
            remaining = full_at + FULL_SYNC_GUARD_MS - self._clock()
            if cursor == full_cursor and remaining > 0:
                log.error("the cursor of the full sync at %s was refused (410); keeping the table, no new full sync "
                          "for %d s", format_time_ms(full_at), remaining // 1000)
                error.retry_after = remaining / 1000
                raise
            log.warning("saved cursor refused (410 %s): full sync", error.code or "cursor_expired")
            return "full", self._full_sync(progress)

    def _delta(self, cursor: str, progress: Optional[ProgressCallback]) -> Tuple[str, Tuple[int, int]]:
        upserts = deletes = 0
        pages = 0
        while True:
            page = self._call(lambda c=cursor: self.api.changes(c, self.page_size))  # type: ignore[misc]
            _check_progress(page, cursor)
            stats = _read_feed(lambda: self.store.apply_delta_page(page.changes, page.next_cursor))
            cursor = page.next_cursor
            pages += 1
            upserts += stats.upserts
            deletes += stats.deletes
            self._log_dropped(stats.outbox_dropped)
            if progress is not None:
                done = upserts + deletes
                progress(done, None if page.has_more else done)
            if not page.has_more:
                break
        self._needs_pull = False
        log.debug("delta: %d pages, %d upserts, %d deletes", pages, upserts, deletes)
        return cursor, (upserts, deletes)

    def _full_sync(self, progress: Optional[ProgressCallback]) -> Tuple[int, int]:
        """The feed's snapshot (pages by id, cannot miss an employee) into the staging table, then swapped in."""
        self.store.begin_full_sync()
        cursor: Optional[str] = None
        total: Optional[int] = None
        upserts = deletes = pages = 0
        while True:
            page = self._call(lambda c=cursor: self.api.changes(c, self.page_size))  # type: ignore[misc]
            _check_progress(page, cursor)
            if pages == 0:
                total = page.total  # the snapshot's X-Total-Count
                if total is None and page.has_more and self.count_total:
                    # An older server: ask the table (one page needs no count, nor its full-sync slot).
                    total = self._employee_count()
            stats = _read_feed(lambda: self.store.stage_page(page.changes))
            cursor = page.next_cursor
            pages += 1
            upserts += stats.upserts
            deletes += stats.deletes
            if progress is not None:
                if not page.has_more:
                    total = upserts if total is None else total
                progress(upserts, None if total is None else max(total, upserts))
            log.debug("full sync: page %d, %d employees so far", pages, upserts)
            if not page.has_more:
                break
        dropped = self.store.finish_full_sync(cursor, self._clock())
        self._log_dropped(dropped)
        self._needs_pull = False
        log.info("full sync: %d employees in %d pages", upserts, pages)
        return upserts, deletes

    def _employee_count(self) -> Optional[int]:
        try:
            return self.api.employee_count()
        except CONFIGURATION_ERRORS:
            raise
        except FaceIDError as error:
            log.info("no employee total for the progress (%s)", type(error).__name__)
            return None

    def _acknowledge(self) -> bool:
        cursor = self.store.cursor
        if not cursor or cursor == self.store.get_meta(meta_keys.ACKED_CURSOR):
            return False
        try:
            self._call(lambda: self.api.acknowledge(cursor))
        except CONFIGURATION_ERRORS:
            raise
        except FaceIDError as error:
            log.warning("acknowledgement not sent (%s); the next sync sends it", type(error).__name__)
            return False
        self.store.set_meta(meta_keys.ACKED_CURSOR, cursor)
        log.debug("acknowledged the feed position for device %s", self.device_id)
        return True

    def _call(self, request: Callable[[], Any]) -> Any:
        """Send ``request``; retry network errors, 5xx and 429 per the retry policy (at least ``Retry-After``)."""
        attempt = 0
        while True:
            try:
                return request()
            except FaceIDError as error:
                if not error.retryable or attempt + 1 >= self.retry.attempts:
                    raise
                wait = self.retry.delay(attempt, self._rng)
                if error.retry_after is not None:
                    wait = max(wait, error.retry_after)
                if wait > self.retry.max_wait:
                    raise
                log.info("%s; retrying in %.1f s (attempt %d of %d)", type(error).__name__, wait, attempt + 2,
                         self.retry.attempts)
                self._sleep(wait)
                attempt += 1

    # MARK: the outbox

    def _flush(
        self, timeout: float, *, check_clears: bool = False, ops: Optional[Tuple[str, ...]] = None
    ) -> FlushResult:
        """Passes over the due items (only ``ops`` when given) until none is left or ``timeout`` has passed.
        ``check_clears``: pull before a pass that would send a clear (:meth:`sync` has just pulled; others have not)."""
        deadline = time.monotonic() + max(0.0, timeout)
        result = FlushResult()
        while True:
            self._flush_pass(result, check_clears, ops)
            pending = self.store.outbox()
            result.pending = len(pending)
            waiting = [item for item in pending if ops is None or item.op in ops]
            if not waiting or timeout <= 0:
                return result
            due_ms = max(min(item.next_attempt_ms for item in waiting), self.store.rate_limited_until())
            wait = max(0.0, (due_ms - self._clock()) / 1000)
            if time.monotonic() + wait > deadline:
                return result
            log.debug("outbox: %d pending, next attempt in %.1f s", len(pending), wait)
            self._sleep(wait)

    def _due(self, ops: Optional[Tuple[str, ...]]) -> List[OutboxItem]:
        now = self._clock()
        return [item for item in self.store.outbox()
                if item.next_attempt_ms <= now and (ops is None or item.op in ops)]

    def _flush_pass(self, result: FlushResult, check_clears: bool, ops: Optional[Tuple[str, ...]]) -> None:
        """One pass over the due items. Stops at the first ``Offline`` (the network is down: leave the rest for later)
        and at a 429 (every item then waits for its ``Retry-After``). A 403 defers only its own item: the pass goes on,
        and the first :class:`PermissionDenied` is raised at its end."""
        if self.store.rate_limited_until() > self._clock():
            return  # an earlier 429's Retry-After (this process's or another's) has not passed
        due = self._due(ops)
        skip_clears = False
        if check_clears and any(item.op == "clear" for item in due):
            skip_clears = not self._pull_before_clears()
            due = self._due(ops)  # the pull may have dropped clears (and registrations) the server made pointless
        denied: Optional[PermissionDenied] = None
        for item in due:
            if skip_clears and item.op == "clear":
                continue
            try:
                outcome = self._send(item)
            except PermissionDenied as error:
                denied = denied or error
                kept = self.store.outbox_item(item.employee_id)
                result.results.append(OutboxResult(
                    item.employee_id, item.op, "queued", error=f"PermissionDenied: {error}",
                    retry_at=format_time_ms(kept.next_attempt_ms) if kept is not None else None))
                continue
            result.results.append(outcome)
            if outcome.offline or self.store.rate_limited_until() > self._clock():
                break
        if denied is not None:
            raise denied

    def _pull_before_clears(self) -> bool:
        """A delta before sending clears (a full sync if there is no cursor). False when it failed for a reason other
        than the configuration: the clears then stay queued."""
        try:
            self._pull(None)
        except CONFIGURATION_ERRORS:
            raise
        except FaceIDError as error:
            log.info("outbox: could not check the pending clears against the server (%s); they stay queued",
                     type(error).__name__)
            return False
        self._acknowledge()
        return True

    def _flush_registrations_after(self, pull_error: FaceIDError) -> None:
        """:meth:`sync`'s pull failed (not for the configuration): still send the due registrations — the server's
        conflict rule refuses a stale one — but not the clears, which need a pull first. A failure here is logged (and
        left on the items); the pull's error is the one raised."""
        try:
            flushed = self._flush(0.0, ops=("register",))
        except FaceIDError as error:
            log.warning("sync: the pull failed (%s) and sending the registrations failed too (%s)",
                        type(pull_error).__name__, type(error).__name__)
            return
        if flushed.results:
            log.info("sync: the pull failed (%s); registrations sent anyway: %d sent, %d superseded, %d pending",
                     type(pull_error).__name__, flushed.count("sent"), flushed.count("superseded"), flushed.pending)

    def _send_now(self, item: OutboxItem) -> OutboxResult:
        """The first attempt of a new item, right after the operator's action: refusals are raised."""
        until = self.store.rate_limited_until()
        if until > self._clock():
            retry_at = format_time_ms(max(until, item.next_attempt_ms))
            log.info("employee %d: %s queued; the server asked to wait until %s (Retry-After)", item.employee_id,
                     item.op, retry_at)
            return OutboxResult(item.employee_id, item.op, "queued", retry_at=retry_at,
                                error="RateLimited: waiting for the server's Retry-After")
        outcome = self._send(item, raise_refusals=True)
        # Superseded: fetch the server's newer state now, unless a sync is running (it will, or the next one will).
        if outcome.status == "superseded" and self._sync_lock.acquire(blocking=False):
            try:
                self._pull(None)
                self._acknowledge()
            except FaceIDError as error:
                log.info("could not fetch the server's newer state now (%s); the next sync brings it",
                         type(error).__name__)
            finally:
                self._sync_lock.release()
        return outcome

    def _send(self, item: OutboxItem, raise_refusals: bool = False) -> OutboxResult:
        employee_id, op = item.employee_id, item.op
        try:
            if op == "register":
                answer = self.api.upload_face(employee_id, item.encoding_text or "", format_time_ms(item.at_ms),
                                              item.idempotency_key)
                self.store.complete(item, item.encoding_text, answer.registered_at)
                log.info("employee %d: face uploaded (stored registered_at %s%s)", employee_id, answer.registered_at,
                         ", replayed" if answer.replayed else "")
                return OutboxResult(employee_id, op, "sent", registered_at=answer.registered_at)
            try:
                self.api.delete_face(employee_id, item.idempotency_key)
                log.info("employee %d: face data deleted on the server", employee_id)
            except NotFound:  # 404 not_found: no face to delete, or no such employee (only then a placeholder row)
                log.info("employee %d: the server had no face data to delete", employee_id)
            self.store.complete(item, None, None, forget_placeholder=True)
            return OutboxResult(employee_id, op, "sent")
        except Conflict as error:
            if error.code == "stale_registration":
                self.store.drop(item)
                self._needs_pull = True
                log.info("employee %d: the server holds a newer %s (%s); the local registration of %s is dropped",
                         employee_id, "deletion" if error.deleted_at else "registration", error.registered_at,
                         format_time_ms(item.at_ms))
                return OutboxResult(employee_id, op, "superseded", registered_at=error.registered_at,
                                    error=error.code)
            if error.code == "idempotent_request_applied":
                self.store.drop(item)
                self._needs_pull = True
                log.info("employee %d: the server had applied this %s already", employee_id, op)
                return OutboxResult(employee_id, op, "sent")
            if error.retryable:
                return self._defer(item, error)
            return self._refuse(item, error, raise_refusals)
        except (BadRequest, NotFound) as error:
            return self._refuse(item, error, raise_refusals)
        except PermissionDenied as error:
            # This item only (e.g. another company's employee): keep it with backoff; the caller sends the others.
            self._defer(item, error)
            log.error("employee %d: %s refused (403 %s); kept, retried later", employee_id, op, error.code or "")
            raise
        except (AuthenticationError, ConfigurationError) as error:
            # The kiosk's key, device id, app secret, URL or CA needs fixing — every item would fail the same way: keep
            # the item and stop sending (the error is raised). No backoff: once the configuration works again, the
            # next sync sends it at once.
            self._defer(item, error, backoff=False)
            log.error("employee %d: %s not sent: %s — fix the kiosk's configuration", employee_id, op,
                      type(error).__name__)
            raise
        except RateLimited as error:
            # 429: nothing goes out before Retry-After — this item and every other one (the caller stops its pass).
            next_ms = self._next_attempt_ms(item, error)
            outcome = self._defer(item, error, next_ms=next_ms)
            self.store.hold_outbox(next_ms)
            log.info("outbox: rate limited (429); nothing is sent before %s", format_time_ms(next_ms))
            return outcome
        except FaceIDError as error:
            if error.retryable:
                return self._defer(item, error)
            return self._refuse(item, error, raise_refusals)

    def _next_attempt_ms(self, item: OutboxItem, error: FaceIDError, backoff: bool = True) -> int:
        wait = self.retry.delay(item.attempts, self._rng) if backoff else 0.0
        if error.retry_after is not None:
            wait = max(wait, error.retry_after)
        return self._clock() + int(wait * 1000) + (1 if error.retry_after else 0)

    def _defer(self, item: OutboxItem, error: FaceIDError, backoff: bool = True,
               next_ms: Optional[int] = None) -> OutboxResult:
        if next_ms is None:
            next_ms = self._next_attempt_ms(item, error, backoff)
        wait = max(0.0, (next_ms - self._clock()) / 1000)
        self.store.defer(item, next_ms, f"{type(error).__name__}: {error}")
        log.info("employee %d: %s not sent (%s%s); will retry in %.1f s (attempt %d)", item.employee_id, item.op,
                 type(error).__name__, f" {error.status}" if error.status else "", wait, item.attempts + 1)
        return OutboxResult(item.employee_id, item.op, "queued", retry_at=format_time_ms(next_ms),
                            error=f"{type(error).__name__}: {error}", offline=isinstance(error, Offline))

    def _refuse(self, item: OutboxItem, error: FaceIDError, raise_refusals: bool) -> OutboxResult:
        self.store.drop(item, forget_placeholder=isinstance(error, NotFound))
        log.warning("employee %d: %s refused by the server (%s %s); dropped", item.employee_id, item.op,
                    error.status, error.code)
        if raise_refusals:
            raise error
        return OutboxResult(item.employee_id, item.op, "rejected", error=f"{type(error).__name__}: {error}")

    def _log_dropped(self, dropped: Sequence[Tuple[int, str]]) -> None:
        for employee_id, reason in dropped:
            log.info("employee %d: pending local change dropped (%s)", employee_id, reason)

    # MARK: matching

    def _face_index(self) -> FaceIndex:
        version = self.store.version()
        with self._index_lock:
            if self._index is not None and self._index[0] == version:
                return self._index[1]
            ids: List[int] = []
            encodings: List[List[float]] = []
            for employee_id, text in self.store.face_rows():
                values = parse_stored_encoding(employee_id, text)
                if values is not None:
                    ids.append(employee_id)
                    encodings.append(values)
            index = FaceIndex(ids, encodings)
            self._index = (version, index)
            log.debug("match: %d faces loaded", len(index))
            return index


def _employee_id(value: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) <= 0:
        raise ValueError("employee_id must be a positive integer")
    return int(value)


def _add(a: Tuple[int, int], b: Tuple[int, int]) -> Tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def _check_progress(page: ChangesPage, cursor: Optional[str]) -> None:
    """A page that says ``has_more`` but hands back the cursor just used, with no change, would be asked for again
    forever: a server fault, raised as :class:`ServerError` (retried by the next sync)."""
    if page.has_more and page.next_cursor == cursor and not page.changes:
        raise ServerError("The changes feed did not advance (has_more with the same cursor and no changes)",
                          status=200)


def _read_feed(apply: Callable[[], T]) -> T:
    """Apply a page; a malformed change (a missing or mistyped field, an unreadable time) is a :class:`ServerError` —
    the page's transaction is rolled back, nothing of it is kept."""
    try:
        return apply()
    except _MALFORMED as error:
        log.warning("the changes feed sent a malformed change (%s); page not applied", type(error).__name__)
        raise ServerError(f"The changes feed sent a malformed change ({type(error).__name__})", status=200) from None
