"""``faceid-kiosk sync|status|register|clear`` as support staff run it: settings from the environment, files of
numbers in three forms."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import List

from harness import Company, assert_matches_server, encoding_leaks, random_encoding

from faceid_kiosk import KioskSync

CONSOLE_SCRIPT = Path(sys.executable).parent / "faceid-kiosk"


def _run(args: List[str], env: dict, module: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "faceid_kiosk"] if module else [str(CONSOLE_SCRIPT)]
    done = subprocess.run(command + args, env=env, capture_output=True, text=True, timeout=120)
    assert not encoding_leaks(done.stdout + done.stderr), "the command line printed an encoding"
    return done


def test_command_line(company: Company, tmp_path: Path):
    assert CONSOLE_SCRIPT.exists(), "the console_scripts entry point is not installed"
    rng = random.Random(60)
    e = company.create_employees(5)
    device = company.new_device("Support laptop")
    db = tmp_path / "cli.sqlite"
    env = dict(os.environ, FACEID_URL=company.server.url, FACEID_TOKEN=company.kiosk_key,
               FACEID_APP_SECRET=company.server.app_secret, FACEID_DEVICE_ID=str(device),
               FACEID_KIOSK_DB=str(db), FACEID_CA_CERT=company.server.ca_cert)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(name, None)

    done = _run(["sync"], env)
    assert done.returncode == 0, done.stderr
    assert "Syncing face data... 5/5 employees" in done.stderr
    assert "full sync" in done.stdout and "5 employees" in done.stdout

    faces = [random_encoding(rng) for _ in range(3)]
    (tmp_path / "comma.txt").write_text(", ".join(repr(v) for v in faces[0]) + "\n")
    (tmp_path / "spaces.txt").write_text("\n".join(" ".join(repr(v) for v in faces[1][i:i + 8])
                                                   for i in range(0, 128, 8)))
    (tmp_path / "list.json").write_text(json.dumps(faces[2]))
    for employee_id, name in zip(e, ("comma.txt", "spaces.txt", "list.json")):
        done = _run(["register", str(employee_id), str(tmp_path / name), "-vv"], env, module=name == "list.json")
        assert done.returncode == 0, done.stderr
        assert f"employee {employee_id}: face sent" in done.stdout

    (tmp_path / "short.txt").write_text("0.1, 0.2, 0.3")
    done = _run(["register", str(e[3]), str(tmp_path / "short.txt")], env)
    assert done.returncode == 1 and "expected 128 numbers, got 3" in done.stderr

    done = _run(["clear", str(e[1])], env)
    assert done.returncode == 0, done.stderr

    # Options on the command line win over the environment; a wrong app secret is a configuration error (2).
    done = _run(["register", str(e[4]), str(tmp_path / "list.json"), "--app-secret", "wrong"], env)
    assert done.returncode == 2 and "invalid_app_secret" in done.stderr

    done = _run(["status", "--json"], env)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["employees"] == 5 and status["faces"] == 3  # e0, e2 and the queued (refused) e4
    assert [(i["employee_id"], i["op"]) for i in status["outbox"]] == [(e[4], "register")]
    done = _run(["status"], env)
    assert "pending:        1" in done.stdout and f"employee {e[4]}: register" in done.stdout

    done = _run(["sync", "-q"], env)  # the pending upload (now with the right secret from the environment)
    assert done.returncode == 0, done.stderr
    assert re.search(r"(?<![\w.])1 sent\b", done.stdout), done.stdout

    # A key pasted with its line break works; one with a control character inside is refused before any request.
    done = _run(["sync", "-q", "--token", company.kiosk_key + "\n"], env)
    assert done.returncode == 0, done.stderr
    done = _run(["sync", "-q", "--token", company.kiosk_key[:8] + "\x01" + company.kiosk_key[8:]], env)
    assert done.returncode == 2 and "token contains a control character" in done.stderr
    assert company.kiosk_key[8:] not in done.stderr and "Traceback" not in done.stderr

    table = company.server_table()
    assert table[e[0]].encoding == faces[0]
    assert table[e[1]].encoding is None
    assert table[e[2]].encoding == faces[2]
    assert table[e[4]].encoding == faces[2]
    with KioskSync(company.server.url, company.kiosk_key, company.server.app_secret, device, str(db),
                   company.server.ca_cert) as kiosk:
        assert_matches_server(kiosk, company, table)


def test_command_line_offline_and_missing_settings(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEID_")}
    done = _run(["sync", "--db", str(tmp_path / "x.sqlite")], env)
    assert done.returncode == 2 and "missing --url" in done.stderr
    from harness import free_port

    settings = ["--url", f"https://127.0.0.1:{free_port()}", "--token", "t", "--app-secret", "s", "--device-id", "1",
                "--db", str(tmp_path / "x.sqlite")]
    done = _run(["sync"] + settings, env)
    assert done.returncode == 3 and "offline" in done.stderr

    # Input it cannot use: a message and exit 1, never a traceback.
    (tmp_path / "huge.json").write_text("[" + ", ".join(["1" + "0" * 400] + ["0.1"] * 127) + "]")
    done = _run(["register", "5", str(tmp_path / "huge.json")] + settings, env)
    assert done.returncode == 1 and "out of range" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "broken.sqlite").write_bytes(b"this is not a database" * 100)
    done = _run(["status", "--db", str(tmp_path / "broken.sqlite")], env)
    assert done.returncode == 1 and "cannot read the local store" in done.stderr and "Traceback" not in done.stderr
