"""HTTP access to faceid-server's kiosk routes (docs/face-sync-api.md) and the typed errors they raise.

:class:`ApiClient` sends one request per call — it never retries by itself; :mod:`faceid_kiosk.sync` decides what to
retry and when. Every request carries the kiosk headers of the contract: ``Authorization: Token <key>``,
``X-App-Secret``, ``X-Timekeeper-Desktop: true`` and ``X-Device-Id``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote

import requests

from . import __version__
from .codec import parse_time_ms

log = logging.getLogger("faceid_kiosk")

#: (connect, read) seconds. A page of 500 employees with encodings is ~1.5 MB.
DEFAULT_TIMEOUT: Tuple[float, float] = (5.0, 60.0)

#: The longest ``Retry-After`` taken as given (one day); a longer one, or a date further away, is cut to this.
MAX_RETRY_AFTER = 86_400.0


# MARK: errors


class FaceIDError(Exception):
    """Any failure talking to the server. ``status`` is the HTTP status (``None`` without an answer), ``code`` the
    server's stable error code (``invalid_app_secret``, ``stale_registration``, …), ``detail`` its detail text."""

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        detail: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.body: Mapping[str, Any] = body or {}

    def __str__(self) -> str:
        parts = [self.message]
        if self.detail:
            parts.append(f"({self.detail})")
        if self.status is not None:
            parts.append(f"[HTTP {self.status}{' ' + self.code if self.code else ''}]")
        return " ".join(parts)

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again later may succeed (network, 5xx, 429)."""
        return False


class BadRequest(FaceIDError):
    """400 (and 413, 415, 422): the request itself is wrong. Never retried; an outbox item refused so is dropped."""


class ConfigurationError(FaceIDError):
    """The kiosk's configuration, not its data, is wrong, so every request would fail the same way. Not retried; an
    outbox item that meets it is kept (it goes out once the configuration is fixed). Raised for:

    - an answer outside 2xx that the contract does not give on these routes: a redirect (3xx — e.g. a proxy sending
      the kiosk to a login page, or ``http`` → ``https``; the client never follows one), 404 other than
      ``not_found`` (``route_not_found``: ``base_url`` has a wrong path), 405, and any other 4xx status the client
      does not know;
    - a request that cannot be sent: a malformed URL, or a token, app secret or device id that is not valid in an HTTP
      header (a line break or a non-ASCII character in it);
    - an untrusted server certificate (:class:`TLSError`).
    """


class AuthenticationError(FaceIDError):
    """401: the API key or token, the device id, or the desktop app secret is wrong or missing
    (``code``: ``missing_credentials``, ``invalid_token``, ``unknown_device``, ``invalid_app_secret``)."""


class PermissionDenied(FaceIDError):
    """403: the key lacks the ``kiosk`` scope, the employee belongs to another company, or an acknowledgement names
    another device. An outbox item refused so is kept and retried with backoff; the other items are still sent."""


class NotFound(FaceIDError):
    """404 ``not_found``: no such employee (deleted, or not an employee), or no face data to delete. (A 404 with any
    other code — ``route_not_found`` — is a :class:`ConfigurationError`.)"""


class Conflict(FaceIDError):
    """409. ``stale_registration``: a newer face registration, or a newer deletion of the face data, is already on the
    server — ``registered_at`` is its time and ``deleted_at`` is set when a deletion caused it.
    ``idempotency_in_progress`` (retry after ``retry_after``) and ``idempotent_request_applied`` (done) come from the
    ``Idempotency-Key`` machinery."""

    @property
    def registered_at(self) -> Optional[str]:
        value = self.body.get("registered_at")
        return value if isinstance(value, str) else None

    @property
    def deleted_at(self) -> Optional[str]:
        value = self.body.get("deleted_at")
        return value if isinstance(value, str) else None

    @property
    def retryable(self) -> bool:
        return self.code == "idempotency_in_progress"


class CursorExpired(FaceIDError):
    """410 ``cursor_expired``: the saved cursor is unknown, expired or another company's — run a full sync."""


class RateLimited(FaceIDError):
    """429: wait ``retry_after`` seconds (from ``Retry-After``) before sending again."""

    @property
    def retryable(self) -> bool:
        return True


class ServerError(FaceIDError):
    """5xx, 408 and 425 (the server, or a proxy, failed or timed out), or an answer the client cannot read (a
    malformed body or change): retry with backoff."""

    @property
    def retryable(self) -> bool:
        return True


class Offline(FaceIDError):
    """No answer: connection refused or reset, DNS failure, timeout. Retry with backoff."""

    @property
    def retryable(self) -> bool:
        return True


class TLSError(ConfigurationError):
    """The server's certificate was not trusted (wrong ``ca_cert``, or a host name mismatch). A configuration error,
    not a network one: it is not retried."""


_BY_STATUS = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    408: ServerError,  # Request Timeout (a proxy's, usually): send again
    409: Conflict,
    410: CursorExpired,
    413: BadRequest,
    415: BadRequest,
    422: BadRequest,
    425: ServerError,  # Too Early: send again
    429: RateLimited,
}


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` as seconds: delta-seconds, or an HTTP date (then the time until it), within 0 … 86,400 (one
    day); ``None`` when absent or unreadable (not a number nor a date, or not finite)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - time.time() if when is not None else math.nan
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def error_from_response(response: requests.Response) -> FaceIDError:
    """The typed error for an answer outside 2xx, from the server's ``{"success": false, "code", "error",
    "detail"}``: see the classes above for which status gives which error."""
    body: Dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    status = response.status_code
    code = body.get("code")
    code = code if isinstance(code, str) else None
    detail = body.get("detail")
    detail = detail if isinstance(detail, str) else None
    message = str(body.get("error") or response.reason or f"HTTP {status}")
    if status == 404:
        # Only the contract's own 404 means "no such employee"; a 404 of an unknown path (route_not_found, or a
        # proxy's page without a code) means the kiosk talks to the wrong place.
        cls = NotFound if code == "not_found" else ConfigurationError
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        # 1xx/3xx (the client never follows a redirect), 405, and every other 4xx the contract does not use here.
        cls = ConfigurationError
    if cls is ConfigurationError:
        if 300 <= status < 400:
            message = f"The server answered a redirect ({message})"
            location = response.headers.get("Location")
            if location and not detail:
                detail = f"to {location[:200]}"
        message += " — check the base URL and any proxy in front of the server"
    return cls(
        message,
        status=status,
        code=code,
        detail=detail,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        body=body,
    )


# MARK: answers


@dataclass
class ChangesPage:
    """One answer of ``GET /api/employees/timekeeper/changes`` (``changes`` is left out of ``repr``: it holds
    encodings)."""

    changes: List[Dict[str, Any]] = field(repr=False)
    next_cursor: str
    has_more: bool
    #: ``X-Total-Count`` of a snapshot page (active employees when it was read); None on a delta page or from a server
    #: that does not send it.
    total: Optional[int] = None


@dataclass
class UploadAnswer:
    """``POST /api/employees/{id}/face`` → 200: the registration time the server stored (keep it)."""

    employee_id: int
    registered_at: str
    replayed: bool = False


# MARK: client


class ApiClient:
    """One kiosk's credentials and a :class:`requests.Session` (connection reuse, gzip).

    ``ca_cert`` is the PEM file to trust for the server's certificate (a development server's self-signed
    ``data/tls/cert.pem``); ``None`` trusts the system's CAs. It is passed on every request, so ``REQUESTS_CA_BUNDLE``
    and ``CURL_CA_BUNDLE`` in the environment cannot override it (``Session.verify`` alone would lose to them).

    ``token``, ``app_secret`` and ``device_id`` travel as HTTP headers: whitespace around them (a line break pasted
    with a key) is stripped, and any other control or non-ASCII character is refused with a :class:`ValueError`
    that names the setting and the position, never the value.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        app_secret: str,
        device_id: Union[int, str],
        ca_cert: Optional[str] = None,
        *,
        timeout: Union[float, Tuple[float, float]] = DEFAULT_TIMEOUT,
        session: Optional[requests.Session] = None,
    ) -> None:
        if not base_url.lower().startswith("https://"):
            # Face encodings are biometric data: the kiosk talks HTTPS only (behind a TLS-terminating proxy too).
            raise ValueError("base_url must start with https://")
        self.base_url = base_url.rstrip("/")
        self.device_id = _header_value("device_id", device_id)
        token = _header_value("token", token)
        app_secret = _header_value("app_secret", app_secret)
        self.timeout = timeout
        self.verify: Union[bool, str] = ca_cert if ca_cert else True
        self.session = session if session is not None else requests.Session()
        self._headers = {
            "Authorization": f"Token {token}",
            "X-App-Secret": app_secret,
            "X-Timekeeper-Desktop": "true",
            "X-Device-Id": self.device_id,
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "User-Agent": f"faceid-kiosk-python/{__version__}",
        }

    def close(self) -> None:
        self.session.close()

    # MARK: routes

    def upload_face(
        self, employee_id: int, encoding_text: str, registered_at: str, idempotency_key: Optional[str] = None
    ) -> UploadAnswer:
        """``POST /api/employees/{id}/face`` with the encoding as a JSON string (the desktop app's form)."""
        body = {"face_encoding": encoding_text, "registered_at": registered_at}
        response = self._request(
            "POST", f"/api/employees/{int(employee_id)}/face", json_body=body, idempotency_key=idempotency_key
        )
        data = self._json(response)
        stored = data.get("registered_at") or registered_at
        try:
            answered_id = int(data.get("employee_id", employee_id))
            if not isinstance(stored, str):
                raise TypeError("registered_at is not text")
            parse_time_ms(stored)
        except (TypeError, ValueError, OverflowError):
            raise ServerError("The face upload answered an unexpected body", status=response.status_code) from None
        return UploadAnswer(
            employee_id=answered_id,
            registered_at=stored,
            replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true",
        )

    def delete_face(self, employee_id: int, idempotency_key: Optional[str] = None) -> None:
        """``DELETE /api/employees/{id}/face`` (404 when there is no face to delete)."""
        self._request("DELETE", f"/api/employees/{int(employee_id)}/face", idempotency_key=idempotency_key)

    def changes(self, cursor: Optional[str] = None, limit: int = 500) -> ChangesPage:
        """``GET /api/employees/timekeeper/changes``: a delta with a cursor, a snapshot page without one."""
        params: Dict[str, Any] = {"limit": int(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        response = self._request("GET", "/api/employees/timekeeper/changes", params=params)
        data = self._json(response)
        changes = data.get("changes")
        next_cursor = data.get("next_cursor")
        if not isinstance(changes, list) or not isinstance(next_cursor, str):
            raise ServerError("The changes feed answered an unexpected body", status=200)
        total_text = response.headers.get("X-Total-Count", "").strip()
        total = int(total_text) if total_text.isascii() and total_text.isdigit() else None
        return ChangesPage(changes=changes, next_cursor=next_cursor, has_more=bool(data.get("has_more")), total=total)

    def employee_count(self) -> int:
        """``X-Total-Count`` of ``GET /api/employees/timekeeper/?page=1&page_size=1`` (one employee, no faces).

        Note: the server counts this as a full sync (page 1 of the table) against ``fullSyncsPerHour``.
        """
        response = self._request(
            "GET", "/api/employees/timekeeper/", params={"include_faces": "false", "page": 1, "page_size": 1}
        )
        try:
            return int(response.headers["X-Total-Count"])
        except (KeyError, ValueError):
            raise ServerError("The employee table answered without X-Total-Count",
                              status=response.status_code) from None

    def acknowledge(self, cursor: str) -> Dict[str, Any]:
        """``POST /api/devices/{own device id}/ack`` with ``{"cursor": …}``."""
        path = f"/api/devices/{quote(self.device_id, safe='')}/ack"
        return self._json(self._request("POST", path, json_body={"cursor": cursor}))

    # MARK: plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        json_body: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
    ) -> requests.Response:
        headers = dict(self._headers)
        data: Optional[bytes] = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(json_body).encode("utf-8")
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                data=data,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as error:
            log.error("%s %s: TLS failure (%s)", method, path, type(error).__name__)
            raise TLSError(f"TLS failure talking to {self.base_url}: the certificate is not trusted") from error
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema, UnicodeError) as error:
            # Not the network: the URL or a header value cannot be sent at all. The original exception is not chained:
            # its text may quote the header value (the token or app secret).
            log.error("%s %s: the request cannot be sent (%s)", method, path, type(error).__name__)
            raise ConfigurationError(
                f"The request to {self.base_url} cannot be sent ({type(error).__name__}): check the URL, and the "
                "token, app secret and device id for line breaks or non-ASCII characters") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            log.debug("%s %s: no answer (%s) after %.2fs", method, path, type(error).__name__,
                      time.monotonic() - started)
            raise Offline(f"No answer from {self.base_url} ({type(error).__name__})") from error
        except requests.exceptions.RequestException as error:
            log.debug("%s %s: request failed (%s)", method, path, type(error).__name__)
            raise Offline(f"Request to {self.base_url} failed ({type(error).__name__})") from error
        elapsed = time.monotonic() - started
        if not 200 <= response.status_code < 300:
            failure = error_from_response(response)
            log.debug("%s %s → %d %s in %.3fs", method, path, response.status_code, failure.code or "", elapsed)
            raise failure
        log.debug("%s %s → %d in %.3fs", method, path, response.status_code, elapsed)
        return response

    @staticmethod
    def _json(response: requests.Response) -> Dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise ServerError("The server answered a body that is not JSON", status=response.status_code) from None
        if not isinstance(data, dict):
            raise ServerError("The server answered an unexpected JSON body", status=response.status_code)
        return data


def _header_value(name: str, value: Union[int, str]) -> str:
    """``value`` as an HTTP header value: surrounding whitespace stripped; empty, or holding a control or non-ASCII
    character, is a :class:`ValueError` (which names the setting and the position, never the value)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{name} must be text")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{name} is required")
    for position, char in enumerate(text, start=1):
        if not " " <= char <= "~":
            kind = "a control character" if ord(char) < 0x20 or ord(char) == 0x7F else "a non-ASCII character"
            raise ValueError(f"{name} contains {kind} at position {position}: it cannot be sent as an HTTP header "
                             "(check for a pasted line break or a typographic quote)")
    return text
