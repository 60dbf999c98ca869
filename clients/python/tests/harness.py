"""A real faceid-server for the tests, and what the tests need around it.

:class:`Server` starts the debug binary the way ``scripts/test-server.sh`` does: a throw-away data folder, a
``config.json`` in it (loopback port, a certificate made with ``openssl`` for 127.0.0.1/localhost, the rate limits
raised unless a test lowers one), ``FACEID_CRYPTO_MASTER_KEY`` (32 random bytes, base64) and the desktop app secret in
the environment, then polls ``/readyz``.

:class:`Company` sets a company up through the public API (``POST /register``, ``POST /api-keys``, ``POST /devices``,
``POST /api/employees/import``) and reads the server's own employee table back, so every test can compare a kiosk's
local table with it.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from faceid_kiosk import KioskSync
from faceid_kiosk.codec import format_time_ms, parse_time_ms

REPO = Path(__file__).resolve().parents[3]
SERVER_BINARY = Path(os.environ.get("FACEID_SERVER_BINARY", str(REPO / ".build" / "debug" / "faceid-server")))

#: Every limit raised (tests send bursts), as scripts/test-server.sh's test_server_rate_limits.
RAISED_LIMITS: Dict[str, int] = {
    "registerPerHour": 100000,
    "companyPerMinute": 100000,
    "credentialPerMinute": 100000,
    "loginFailuresPerAddress": 100000,
    "loginFailuresPerEmail": 100000,
    "faceRegistrationsPerMinute": 100000,
    "fullSyncsPerHour": 100000,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One faceid-server process on a loopback port, over HTTPS with its own self-signed certificate."""

    def __init__(self, name: str, limits: Optional[Dict[str, int]] = None, keep_log_dir: Optional[Path] = None):
        self.name = name
        self.limits = dict(RAISED_LIMITS, **(limits or {}))
        self.keep_log_dir = keep_log_dir
        self.data = Path(tempfile.mkdtemp(prefix=f"faceid-kiosk-{name}."))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca_cert = str(self.data / "tls" / "cert.pem")
        self.app_secret = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        self.process: Optional[subprocess.Popen] = None
        self._log_file: Any = None

    def start(self, timeout: float = 90.0) -> "Server":
        (self.data / "tls").mkdir(parents=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.data / "tls" / "key.pem"), "-out", self.ca_cert],
            check=True, capture_output=True,
        )
        config = {
            "http": {"host": "127.0.0.1", "port": self.port},
            "tls": {"certificatePath": self.ca_cert, "keyPath": str(self.data / "tls" / "key.pem")},
            "auth": {"bcryptCost": 4},
            "models": {"directory": str(REPO / "models")},
            "log": {"level": "warning"},
            "rateLimit": self.limits,
        }
        (self.data / "config.json").write_text(json.dumps(config, indent=2))
        env = dict(os.environ)
        env["FACEID_CRYPTO_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
        env["FACEID_KIOSK_APP_SECRET"] = self.app_secret
        self._log_file = open(self.data / "server.log", "wb")
        self.process = subprocess.Popen(
            [str(SERVER_BINARY), "--data-directory", str(self.data), "--config-file", str(self.data / "config.json")],
            stdout=self._log_file, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"faceid-server ({self.name}) exited during startup:\n{self.log_tail()}")
            try:
                answer = requests.get(self.url + "/readyz", verify=self.ca_cert, timeout=2)
                if answer.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"faceid-server ({self.name}) not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.data / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
        if self.keep_log_dir is not None and (self.data / "server.log").exists():
            self.keep_log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.data / "server.log", self.keep_log_dir / f"{self.name}-server.log")
        shutil.rmtree(self.data, ignore_errors=True)


# MARK: encodings


#: Every encoding a test made, as the 6-decimal text of each number — what the log check looks for.
ENCODING_VALUES: Set[str] = set()


def random_encoding(rng: Optional[random.Random] = None) -> List[float]:
    """128 numbers like a dlib descriptor's (|x| < 0.5, 6 decimals), remembered for the log check."""
    rng = rng or random.Random()
    values = [round(max(-0.45, min(0.45, rng.gauss(0.0, 0.1))), 6) for _ in range(128)]
    ENCODING_VALUES.update(f"{v:.6f}" for v in values)
    return values


def near(encoding: Sequence[float], spread: float = 0.01, rng: Optional[random.Random] = None) -> List[float]:
    """The same face seen again: each number moved a little (distance ≈ spread × √128)."""
    rng = rng or random.Random()
    values = [round(v + rng.gauss(0.0, spread), 6) for v in encoding]
    ENCODING_VALUES.update(f"{v:.6f}" for v in values)
    return values


_SEQUENCE = re.compile(r"-?\d+\.\d{4,}(?:\s*,\s*-?\d+\.\d{4,}){2,}")
_NUMBER = re.compile(r"(?<![\w:.])-?\d\.\d{4,}")


def encoding_leaks(text: str) -> List[str]:
    """What in ``text`` looks like an encoding: a run of three or more numbers with 4+ decimals, or any single number
    that equals (at 6 decimals) a number of an encoding the tests made."""
    found = [m.group(0)[:60] for m in _SEQUENCE.finditer(text)]
    for token in _NUMBER.findall(text):
        if f"{float(token):.6f}" in ENCODING_VALUES:
            found.append(token)
    return found


# MARK: the network seen by one kiosk


@dataclass
class CannedAnswer:
    """What :meth:`SwitchableAdapter.canned` answers instead of the server."""

    method: str
    path: str
    status: Optional[int]
    body: Any
    headers: Dict[str, str]
    times: Optional[int]


class SwitchableAdapter(HTTPAdapter):
    """A transport that can be "offline" (every request raises ``ConnectionError`` before leaving the kiosk) or can
    lose answers (the request reaches the server, the answer is dropped), that can answer chosen requests itself
    (:meth:`canned`: a proxy's redirect, a 503, one route offline), and that records each request."""

    def __init__(self) -> None:
        super().__init__()
        self.offline = False
        self.lose_answers = False
        self.answers: List[CannedAnswer] = []
        self.log: List[Tuple[float, str, str, Optional[int], Dict[str, str]]] = []

    def canned(self, method: str, path: str, status: Optional[int], body: Any = None,
               headers: Optional[Dict[str, str]] = None, times: Optional[int] = 1) -> None:
        """The next ``times`` (``None``: every) ``method`` requests whose path starts with ``path`` get ``status`` with
        ``body`` (JSON) and ``headers`` without reaching the server; ``status=None`` fails them as offline."""
        self.answers.append(CannedAnswer(method, path, status, body, dict(headers or {}), times))

    def _canned_for(self, method: str, path: str) -> Optional[CannedAnswer]:
        for answer in self.answers:
            if answer.method == method and path.startswith(answer.path) and answer.times != 0:
                if answer.times is not None:
                    answer.times -= 1
                return answer
        return None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        path = (request.path_url or "").split("?")[0]
        canned = self._canned_for(request.method or "", path)
        if self.offline or (canned is not None and canned.status is None):
            self.log.append((time.monotonic(), request.method or "", path, None, {}))
            raise requests.ConnectionError("simulated: the kiosk is offline")
        if canned is not None:
            response = canned_response(request, canned.status or 200, canned.body, canned.headers)
            self.log.append((time.monotonic(), request.method or "", path, response.status_code,
                             dict(response.headers)))
            return response
        response = super().send(request, **kwargs)
        self.log.append((time.monotonic(), request.method or "", path, response.status_code, dict(response.headers)))
        if self.lose_answers:
            response.close()
            raise requests.ConnectionError("simulated: the answer was lost")
        return response

    def requests_to(self, method: str, path: str) -> List[Tuple[float, Optional[int], Dict[str, str]]]:
        return [(t, status, headers) for t, m, p, status, headers in self.log if m == method and p.rstrip("/") == path]


def canned_response(request: requests.PreparedRequest, status: int, body: Any = None,
                    headers: Optional[Dict[str, str]] = None) -> requests.Response:
    """A :class:`requests.Response` made here, as if the server (or a proxy) had answered ``request``."""
    response = requests.Response()
    response.status_code = status
    response.reason = {200: "OK", 204: "No Content", 302: "Found", 404: "Not Found", 405: "Method Not Allowed",
                       503: "Service Unavailable"}.get(status, "Canned")
    response.headers = CaseInsensitiveDict(headers or {})
    content = b"" if body is None else json.dumps(body).encode("utf-8")
    if body is not None:
        response.headers.setdefault("Content-Type", "application/json")
    response._content = content  # type: ignore[attr-defined]
    response._content_consumed = True  # type: ignore[attr-defined]
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    return response


def session_with(adapter: SwitchableAdapter) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# MARK: a company


@dataclass
class ServerEmployee:
    id: int
    name: str
    timekeeper_id: str
    encoding: Optional[List[float]]
    registered_at_ms: Optional[int]


class Company:
    """A company on a server, set up through the API: an owner session, an ``admin`` key, a ``kiosk`` key, devices."""

    def __init__(self, server: Server, label: str = "Acme") -> None:
        self.server = server
        self.http = requests.Session()
        self.http.trust_env = False
        email = f"hr-{uuid.uuid4().hex[:12]}@example.test"
        answer = self._ok(self._post("/register", {"company_name": f"{label} {uuid.uuid4().hex[:6]}", "email": email,
                                                    "password": "a long passphrase"}, auth=None), 201)
        self.owner_token = answer["token"]
        self.company_id = answer["company"]["id"]
        self.admin_key = self.api_key("HR integration", ["admin"])
        self.kiosk_key = self.api_key("Kiosks", ["kiosk"])
        self.auditor_device = self.new_device("Auditor (tests)")

    # plumbing
    def _auth(self, token: Optional[str]) -> Dict[str, str]:
        return {} if token is None else {"Authorization": f"Token {token}"}

    def _post(self, path: str, body: Any, auth: Optional[str] = "owner", headers: Optional[Dict[str, str]] = None
              ) -> requests.Response:
        token = self.owner_token if auth == "owner" else auth
        return self.http.post(self.server.url + path, json=body, headers={**self._auth(token), **(headers or {})},
                              verify=self.server.ca_cert, timeout=60)

    def _get(self, path: str, params: Optional[Dict[str, Any]] = None, token: Optional[str] = None,
             headers: Optional[Dict[str, str]] = None) -> requests.Response:
        return self.http.get(self.server.url + path, params=params,
                             headers={**self._auth(token or self.owner_token), **(headers or {})},
                             verify=self.server.ca_cert, timeout=60)

    @staticmethod
    def _ok(response: requests.Response, status: int = 200) -> Any:
        assert response.status_code == status, (
            f"{response.request.method} {response.url}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    # setup
    def api_key(self, name: str, scopes: List[str]) -> str:
        return self._ok(self._post("/api-keys", {"name": name, "scopes": scopes}), 201)["key"]

    def new_device(self, name: str = "Kiosk") -> int:
        return int(self._ok(self._post("/devices", {"name": name, "location": "tests"}), 201)["device"]["id"])

    def create_employees(self, count: int, prefix: str = "TK") -> List[int]:
        """Import ``count`` employees in one request (all or nothing) and return their ids, in order."""
        rows = [{"name": f"Employee {i:05d}, {prefix}", "timekeeper_id": f"{prefix}-{i:05d}"} for i in range(count)]
        answer = self._ok(self._post("/api/employees/import", rows))
        assert answer["created"] == count, answer
        by_tk = {e["timekeeper_id"]: e["id"] for e in self.hr_employees()}
        return [by_tk[row["timekeeper_id"]] for row in rows]

    def hr_employees(self) -> List[Dict[str, Any]]:
        """``GET /api/employees`` — every active employee (HR view: no encodings)."""
        employees: List[Dict[str, Any]] = []
        cursor: Optional[str] = None
        while True:
            params: Dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = self._ok(self._get("/api/employees/", params))
            employees.extend(page["employees"])
            cursor = page.get("next_cursor")
            if not cursor:
                return employees

    def hr_employee(self, employee_id: int) -> Dict[str, Any]:
        return self._ok(self._get(f"/api/employees/{employee_id}"))["employee"]

    def hr_delete(self, employee_id: int) -> None:
        response = self.http.delete(f"{self.server.url}/api/employees/{employee_id}",
                                    headers=self._auth(self.owner_token), verify=self.server.ca_cert, timeout=30)
        assert response.status_code == 204, response.text

    def import_faces(self, faces: Iterable[Tuple[int, Sequence[float]]]) -> None:
        """``POST /faces/import`` with the admin key (precomputed encodings, all in one request)."""
        body = [{"person_id": pid, "encoding": list(enc)} for pid, enc in faces]
        self._ok(self._post("/faces/import", body, auth=self.admin_key), 201)

    def kiosk_headers(self, device_id: int) -> Dict[str, str]:
        return {"Authorization": f"Token {self.kiosk_key}", "X-App-Secret": self.server.app_secret,
                "X-Timekeeper-Desktop": "true", "X-Device-Id": str(device_id)}

    def upload(self, device_id: int, employee_id: int, encoding: Sequence[float], registered_at_ms: int
               ) -> requests.Response:
        """Another kiosk's upload, sent straight (not through KioskSync)."""
        body = {"face_encoding": json.dumps(list(encoding)), "registered_at": format_time_ms(registered_at_ms)}
        return self.http.post(f"{self.server.url}/api/employees/{employee_id}/face", json=body,
                              headers=self.kiosk_headers(device_id), verify=self.server.ca_cert, timeout=30)

    def server_table(self) -> Dict[int, ServerEmployee]:
        """The server's employee table with faces (``GET /api/employees/timekeeper?include_faces=true``, the whole
        table in one answer), read as the auditor device."""
        response = self._get("/api/employees/timekeeper/", {"include_faces": "true"},
                             headers=self.kiosk_headers(self.auditor_device), token=self.kiosk_key)
        rows = self._ok(response)
        table: Dict[int, ServerEmployee] = {}
        for row in rows:
            text = row.get("face_encoding")
            at = row.get("face_registered_at")
            table[row["id"]] = ServerEmployee(
                id=row["id"], name=row["name"], timekeeper_id=row["timekeeper_id"],
                encoding=None if text is None else [float(v) for v in json.loads(text)],
                registered_at_ms=None if at is None else parse_time_ms(at),
            )
        return table

    def propagation(self, employee_id: int) -> Dict[str, Any]:
        return self._ok(self._get(f"/api/employees/{employee_id}/face/propagation"))


# MARK: assertions


def assert_matches_server(kiosk: KioskSync, company: Company, table: Optional[Dict[int, ServerEmployee]] = None
                          ) -> Dict[int, ServerEmployee]:
    """The kiosk's table is the server's: the same employees, names, timekeeper ids, faces (every number) and
    registration times, and nothing left in its outbox."""
    server = table if table is not None else company.server_table()
    local = {e.id: e for e in kiosk.employees()}
    assert kiosk.pending() == [], f"outbox not empty: {kiosk.pending()}"
    assert sorted(local) == sorted(server), (
        f"ids differ: only local {sorted(set(local) - set(server))[:10]}, "
        f"only server {sorted(set(server) - set(local))[:10]}")
    for employee_id, expected in server.items():
        mine = local[employee_id]
        assert (mine.name, mine.timekeeper_id) == (expected.name, expected.timekeeper_id), employee_id
        assert mine.registered_at_ms == expected.registered_at_ms, (
            f"employee {employee_id}: registered_at {mine.registered_at} vs server {expected.registered_at_ms}")
        assert mine.encoding == expected.encoding, f"employee {employee_id}: the face differs from the server's"
        assert mine.pending is None
    return server


def wait_until_due(kiosk: KioskSync, limit: float = 5.0) -> None:
    """Sleep until every outbox item may be sent (the tests' retry policy keeps backoffs short)."""
    items = kiosk.pending()
    if not items:
        return
    now_ms = int(time.time() * 1000)
    wait = max(0.0, (max(i.next_attempt_ms for i in items) - now_ms) / 1000)
    assert wait <= limit, f"an outbox item is not due for {wait:.1f} s"
    time.sleep(wait + 0.01)
