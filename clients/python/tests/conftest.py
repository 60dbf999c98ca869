"""Fixtures: a real faceid-server over HTTPS (session-scoped, started here), a fresh company per test, kiosks with a
switchable network, and a check after every test that no log line holds an encoding."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
from harness import SERVER_BINARY, Company, Server, SwitchableAdapter, encoding_leaks, session_with

from faceid_kiosk import KioskSync, RetryPolicy

#: Short backoffs so that tests do not wait: the outbox's next attempt is at most 0.2 s away after a failure.
FAST_RETRY = RetryPolicy(base=0.05, cap=0.2, attempts=3, max_wait=5.0)

LOG_DIR = Path(__file__).resolve().parent.parent / ".pytest-server-logs"


def _require_server() -> None:
    # `make test` sets FACEID_KIOSK_REQUIRE_SERVER=1: there a missing server or openssl is a failure, never a silent skip.
    missing = pytest.fail if os.environ.get("FACEID_KIOSK_REQUIRE_SERVER") == "1" else pytest.skip
    if not SERVER_BINARY.exists():
        missing(f"faceid-server debug binary not found at {SERVER_BINARY} (build it with `make` / "
                f"scripts/swift-build.sh; the tests do not build it)")
    if shutil.which("openssl") is None:
        missing("openssl is needed to make the test server's certificate")


def _start(name: str, limits: Optional[dict] = None) -> Server:
    _require_server()
    return Server(name, limits, keep_log_dir=LOG_DIR).start()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One faceid-server for the session, every rate limit raised."""
    instance = _start("kiosk-tests")
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def limited_server() -> Iterator[Server]:
    """A second server with low limits: 2 face uploads per company per minute, 3 full syncs per kiosk per hour."""
    instance = _start("kiosk-tests-limited", {"faceRegistrationsPerMinute": 2, "fullSyncsPerHour": 3})
    yield instance
    instance.stop()


@pytest.fixture
def company(server: Server) -> Company:
    """A new company (owner, admin key, kiosk key, auditor device) on the shared server: tests do not see each other."""
    return Company(server)


KioskFactory = Callable[..., KioskSync]


@pytest.fixture
def make_kiosk(tmp_path: Path) -> Iterator[KioskFactory]:
    """``make_kiosk(company, device_id=None, db="name.sqlite", **options)`` → a KioskSync whose network the test
    controls through ``kiosk.net`` (a :class:`SwitchableAdapter`: ``offline``, ``lose_answers``, the request log)."""
    made: List[KioskSync] = []

    def factory(company: Company, device_id: Optional[int] = None, db: Optional[str] = None, **options: Any
                ) -> KioskSync:
        device = device_id if device_id is not None else company.new_device(f"Kiosk {len(made) + 1}")
        adapter = SwitchableAdapter()
        options.setdefault("retry", FAST_RETRY)
        kiosk = KioskSync(company.server.url, options.pop("token", company.kiosk_key),
                          options.pop("app_secret", company.server.app_secret), device,
                          str(tmp_path / (db or f"kiosk-{device}.sqlite")),
                          options.pop("ca_cert", company.server.ca_cert), session=session_with(adapter), **options)
        kiosk.net = adapter  # type: ignore[attr-defined]
        made.append(kiosk)
        return kiosk

    yield factory
    for kiosk in made:
        try:
            kiosk.close()
        except Exception:  # closed by the test already
            pass


@pytest.fixture(autouse=True)
def no_encoding_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with every logger at DEBUG; afterwards no captured line (message or traceback) may contain an
    encoding: no run of 3+ long decimals, no number of an encoding the test made."""
    caplog.set_level(logging.DEBUG)
    yield
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    leaks = []
    for record in caplog.records:
        text = formatter.format(record)
        found = encoding_leaks(text)
        if found:
            leaks.append(f"{record.name}: {found[:3]} in {text[:200]!r}")
    assert not leaks, "log lines contain encoding numbers:\n" + "\n".join(leaks[:10])


#: Timings the tests measured (printed at the end of the run, and written to .pytest-server-logs/figures.json).
FIGURES: Dict[str, Any] = {}


@pytest.fixture
def record_figure(record_property: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    def record(name: str, value: Any) -> None:
        FIGURES[name] = value
        record_property(name, value)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("figures measured by the tests")
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / "figures.json").write_text(json.dumps(FIGURES, indent=2) + "\n")
