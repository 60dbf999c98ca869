"""``faceid-kiosk``: the kiosk sync from the command line, for support staff.

    faceid-kiosk [connection options] sync
    faceid-kiosk [--db PATH] status [--json]
    faceid-kiosk [connection options] register EMPLOYEE_ID FILE [--registered-at TIME]
    faceid-kiosk [connection options] clear EMPLOYEE_ID

Connection options default to the environment: ``FACEID_URL``, ``FACEID_TOKEN``, ``FACEID_APP_SECRET``,
``FACEID_DEVICE_ID``, ``FACEID_KIOSK_DB``, ``FACEID_CA_CERT``.

Exit status: 0 done (for ``register``/``clear`` also "queued, will retry later"), 1 refused or failed (also an answer
or a local store it cannot read: a message, no traceback), 2 usage or configuration (missing or malformed option, 401,
403, a wrong URL or path, untrusted certificate), 3 offline (``sync`` only; the outbox keeps its items).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from typing import Any, Dict, List, Optional, Sequence, TextIO

from . import __version__
from .client import AuthenticationError, ConfigurationError, FaceIDError, Offline, PermissionDenied
from .codec import EncodingError, parse_encoding_text
from .store import LocalStore
from .sync import KioskSync, OutboxResult

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_OFFLINE = 0, 1, 2, 3

_ENV = {
    "url": "FACEID_URL",
    "token": "FACEID_TOKEN",
    "app_secret": "FACEID_APP_SECRET",
    "device_id": "FACEID_DEVICE_ID",
    "db": "FACEID_KIOSK_DB",
    "ca_cert": "FACEID_CA_CERT",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceid-kiosk",
        description="Timekeeper kiosk face sync with faceid-server: download the employee table, upload and clear "
        "faces, show the local state.",
        epilog="Each connection option falls back to its environment variable: "
        + ", ".join(f"--{k.replace('_', '-')} ${v}" for k, v in _ENV.items()),
    )
    parser.add_argument("--version", action="version", version=f"faceid-kiosk {__version__}")
    _connection_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, suppress=True)
    sync = commands.add_parser("sync", parents=[common],
                               help="download changes (a full sync the first time) and send pending uploads")
    sync.add_argument("--quiet", "-q", action="store_true", help="no progress line")

    status = commands.add_parser("status", parents=[common],
                                 help="local counts, cursor, last sync and pending uploads (offline)")
    status.add_argument("--json", action="store_true", help="print JSON")

    register = commands.add_parser("register", parents=[common],
                                   help="register an employee's face from a file of 128 numbers")
    register.add_argument("employee_id", type=int)
    register.add_argument("file", help="128 numbers separated by commas or whitespace, or a JSON list; - for stdin")
    register.add_argument("--registered-at", dest="registered_at",
                          help="capture time, RFC 3339 (default: now) — decides conflicts")

    clear = commands.add_parser("clear", parents=[common], help="delete an employee's face data (Clear Face Data)")
    clear.add_argument("employee_id", type=int)
    return parser


def _connection_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The connection options, accepted before and after the command (``faceid-kiosk sync --url …``)."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--url", default=default, help="server base URL, e.g. https://faceid.example.com ($FACEID_URL)")
    parser.add_argument("--token", default=default, help="API key with the kiosk scope ($FACEID_TOKEN)")
    parser.add_argument("--app-secret", dest="app_secret", default=default,
                        help="desktop app secret ($FACEID_APP_SECRET)")
    parser.add_argument("--device-id", dest="device_id", default=default,
                        help="this kiosk's device id ($FACEID_DEVICE_ID)")
    parser.add_argument("--db", default=default,
                        help="local SQLite store ($FACEID_KIOSK_DB, default ./faceid-kiosk.sqlite)")
    parser.add_argument("--ca-cert", dest="ca_cert", default=default,
                        help="PEM file to trust for the server ($FACEID_CA_CERT)")
    parser.add_argument("--timeout", type=float, default=argparse.SUPPRESS if suppress else 60.0,
                        help="read timeout in seconds (default 60)")
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if suppress else 0,
                        help="log progress (-v) or details (-vv)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    for key, variable in _ENV.items():
        if getattr(args, key, None) in (None, ""):
            setattr(args, key, os.environ.get(variable) or None)
    args.db = args.db or "faceid-kiosk.sqlite"
    out, err = sys.stdout, sys.stderr
    if args.command == "status":
        try:
            return _status(args, out)
        except (sqlite3.Error, RuntimeError, ValueError, OSError) as error:
            print(f"faceid-kiosk: cannot read the local store {args.db}: {type(error).__name__}: {error}", file=err)
            return EXIT_FAILED
    missing = [f"--{k.replace('_', '-')} (${_ENV[k]})" for k in ("url", "token", "app_secret", "device_id")
               if not getattr(args, k)]
    if missing:
        print("faceid-kiosk: missing " + ", ".join(missing), file=err)
        return EXIT_CONFIG
    try:
        kiosk = KioskSync(args.url, args.token, args.app_secret, args.device_id, args.db, args.ca_cert,
                          timeout=(10.0, args.timeout))
    except ValueError as error:
        print(f"faceid-kiosk: {error}", file=err)
        return EXIT_CONFIG
    except (sqlite3.Error, RuntimeError, OSError) as error:
        print(f"faceid-kiosk: cannot open the local store {args.db}: {type(error).__name__}: {error}", file=err)
        return EXIT_FAILED
    try:
        if args.command == "sync":
            return _sync(kiosk, args, out, err)
        if args.command == "register":
            return _register(kiosk, args, out, err)
        return _report(kiosk.clear_face(args.employee_id), out)
    except (AuthenticationError, PermissionDenied, ConfigurationError) as error:
        print(f"faceid-kiosk: {error} — check the URL, token, device id, app secret and CA certificate", file=err)
        return EXIT_CONFIG
    except Offline as error:
        print(f"faceid-kiosk: offline: {error}; pending uploads stay queued", file=err)
        return EXIT_OFFLINE
    except FaceIDError as error:
        print(f"faceid-kiosk: {error}", file=err)
        return EXIT_FAILED
    except (ValueError, KeyError, OverflowError, sqlite3.Error) as error:
        # Not expected (the library turns malformed answers into ServerError and bad encodings into EncodingError);
        # still a message and exit 1, not a traceback.
        print(f"faceid-kiosk: failed: {type(error).__name__}: {error}", file=err)
        return EXIT_FAILED
    finally:
        kiosk.close()


def _sync(kiosk: KioskSync, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    interactive = err.isatty()

    def progress(done: int, total: Optional[int]) -> None:
        if args.quiet:
            return
        line = f"Syncing face data... {done}/{total} employees" if total is not None else f"Syncing... {done}"
        if interactive:
            err.write("\r" + line)
        else:
            err.write(line + "\n")
        err.flush()

    result = kiosk.sync(progress=progress)
    if interactive and not args.quiet:
        err.write("\n")
    box = result.outbox
    out.write(
        f"{result.mode} sync: {result.upserts} updated, {result.deletes} removed in {result.seconds:.2f} s; "
        f"{result.employees} employees, {result.faces} with a face; outbox: {box.count('sent')} sent, "
        f"{box.count('superseded')} superseded by newer server data, {box.count('rejected')} refused, "
        f"{box.pending} pending\n"
    )
    return EXIT_OK


def _register(kiosk: KioskSync, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
        encoding = parse_encoding_text(text)
    except (OSError, EncodingError) as error:
        print(f"faceid-kiosk: cannot read an encoding from {args.file}: {error}", file=err)
        return EXIT_FAILED
    try:
        result = kiosk.register_face(args.employee_id, encoding, args.registered_at)
    except (ValueError, TypeError) as error:  # a bad --registered-at or employee id (nothing was stored)
        print(f"faceid-kiosk: {error}", file=err)
        return EXIT_FAILED
    return _report(result, out)


def _report(result: OutboxResult, out: TextIO) -> int:
    what = "face" if result.op == "register" else "face data deletion"
    if result.status == "sent":
        out.write(f"employee {result.employee_id}: {what} sent"
                  + (f" (registered_at {result.registered_at})" if result.registered_at else "") + "\n")
    elif result.status == "queued":
        out.write(f"employee {result.employee_id}: {what} saved locally; will retry later (next attempt "
                  f"{result.retry_at}; {result.error})\n")
    elif result.status == "superseded":
        out.write(f"employee {result.employee_id}: the server holds a newer registration or deletion "
                  f"({result.registered_at}); the kiosk now uses the server's state\n")
    else:
        out.write(f"employee {result.employee_id}: refused: {result.error}\n")
        return EXIT_FAILED
    return EXIT_OK


def _status(args: argparse.Namespace, out: TextIO) -> int:
    if not os.path.exists(args.db):
        print(f"faceid-kiosk: no local store at {args.db}", file=sys.stderr)
        return EXIT_FAILED
    store = LocalStore(args.db)
    try:
        summary: Dict[str, Any] = store.summary()
    finally:
        store.close()
    if args.json:
        out.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    lines: List[str] = [
        f"store:          {summary['db_path']}",
        f"employees:      {summary['employees']} ({summary['faces']} with a face)",
        f"cursor:         {'saved' if summary['cursor'] else 'none (next sync is a full sync)'}",
        f"acknowledged:   {'yes' if summary['cursor'] and summary['cursor'] == summary['acked_cursor'] else 'no'}",
        f"last sync:      {summary['last_sync_at'] or 'never'} ({summary['last_sync_mode'] or '-'})",
        f"last full sync: {summary['last_full_sync_at'] or 'never'}",
        f"pending:        {len(summary['outbox'])}",
    ]
    for item in summary["outbox"]:
        lines.append(f"  employee {item['employee_id']}: {item['op']} at {item['at']}, {item['attempts']} attempts"
                     + (f", next {item['next_attempt_at']}" if item["next_attempt_at"] else "")
                     + (f", last error: {item['last_error']}" if item["last_error"] else ""))
    out.write("\n".join(lines) + "\n")
    return EXIT_OK


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("faceid_kiosk")
    logger.addHandler(handler)
    logger.setLevel(level)
