"""Typed exceptions for the server's refusals, and what each leaves in the outbox."""

from __future__ import annotations

import random
import subprocess

import pytest
from harness import Company, assert_matches_server, random_encoding

from faceid_kiosk import (
    AuthenticationError,
    EncodingError,
    NotFound,
    Offline,
    PermissionDenied,
    TLSError,
)


def test_wrong_token_is_an_authentication_error(company, make_kiosk):
    kiosk = make_kiosk(company, token="fid_00000000_not-a-real-key")
    with pytest.raises(AuthenticationError) as raised:
        kiosk.sync()
    assert (raised.value.status, raised.value.code) == (401, "invalid_token")
    assert kiosk.cursor is None


def test_wrong_app_secret_keeps_the_upload_queued(company, make_kiosk):
    e = company.create_employees(2)
    kiosk = make_kiosk(company, app_secret="not the desktop app secret")
    with pytest.raises(AuthenticationError) as raised:
        kiosk.sync()
    assert raised.value.code == "invalid_app_secret"
    face = random_encoding(random.Random(40))
    with pytest.raises(AuthenticationError):
        kiosk.register_face(e[0], face)
    # The registration is not lost: it is shown locally and stays queued until the configuration is fixed.
    assert kiosk.employee(e[0]).encoding == face
    assert [(i.employee_id, i.op) for i in kiosk.pending()] == [(e[0], "register")]
    assert company.server_table()[e[0]].encoding is None

    device = int(kiosk.device_id)
    kiosk.close()  # the operator fixes the app secret and restarts the kiosk app
    fixed = make_kiosk(company, device_id=device, db=f"kiosk-{device}.sqlite")
    fixed.sync()
    assert fixed.pending() == []
    assert company.server_table()[e[0]].encoding == face


def test_unknown_device_is_an_authentication_error(company, make_kiosk):
    kiosk = make_kiosk(company, device_id=987654)
    with pytest.raises(AuthenticationError) as raised:
        kiosk.sync()
    assert raised.value.code == "unknown_device"


def test_key_without_the_kiosk_scope_is_permission_denied(company, make_kiosk):
    kiosk = make_kiosk(company, token=company.api_key("enroll only", ["enroll"]))
    with pytest.raises(PermissionDenied) as raised:
        kiosk.sync()
    assert raised.value.status == 403


def test_another_companys_employee_is_permission_denied(company, make_kiosk, server):
    other = Company(server, "Other Co")
    theirs = other.create_employees(1)[0]
    company.create_employees(1)
    kiosk = make_kiosk(company)
    kiosk.sync()
    with pytest.raises(PermissionDenied):
        kiosk.register_face(theirs, random_encoding(random.Random(41)))
    assert other.server_table()[theirs].encoding is None  # nothing reached the other company


def test_unknown_employee_is_not_found_and_dropped(company, make_kiosk):
    company.create_employees(1)
    kiosk = make_kiosk(company)
    kiosk.sync()
    with pytest.raises(NotFound) as raised:
        kiosk.register_face(99_999_999, random_encoding(random.Random(42)))
    assert raised.value.code == "not_found"
    assert kiosk.pending() == [] and kiosk.employee(99_999_999) is None
    assert_matches_server(kiosk, company)


def test_clear_of_an_unknown_employee_leaves_no_placeholder(company, make_kiosk):
    company.create_employees(1)
    kiosk = make_kiosk(company)
    kiosk.sync()
    assert kiosk.clear_face(99_999_999).status == "sent"  # 404 not_found: nothing to delete counts as done
    assert [status for _, status, _ in kiosk.net.requests_to("DELETE", "/api/employees/99999999/face")] == [404]
    assert kiosk.employee(99_999_999) is None and kiosk.pending() == []
    assert_matches_server(kiosk, company)


def test_malformed_encoding_is_refused_before_anything_is_stored(company, make_kiosk):
    e = company.create_employees(1)
    kiosk = make_kiosk(company)
    with pytest.raises(EncodingError):
        kiosk.register_face(e[0], [0.1] * 127)
    with pytest.raises(EncodingError):
        kiosk.register_face(e[0], [float("nan")] + [0.1] * 127)
    assert kiosk.pending() == [] and kiosk.employees() == []
    assert kiosk.net.log == []
    assert company.server_table()[e[0]].encoding is None


def test_untrusted_certificate_is_a_tls_error_not_offline(company, make_kiosk, tmp_path):
    other_ca = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "1", "-subj", "/CN=localhost", "-keyout", str(tmp_path / "other.key"),
                    "-out", str(other_ca)], check=True, capture_output=True)
    kiosk = make_kiosk(company, ca_cert=str(other_ca))
    with pytest.raises(TLSError):
        kiosk.sync()


def test_closed_port_is_offline(company, tmp_path):
    from harness import free_port

    from faceid_kiosk import KioskSync, RetryPolicy

    kiosk = KioskSync(f"https://127.0.0.1:{free_port()}", company.kiosk_key, company.server.app_secret,
                      company.auditor_device, str(tmp_path / "closed.sqlite"), company.server.ca_cert,
                      retry=RetryPolicy(base=0.01, cap=0.05, attempts=2))
    with pytest.raises(Offline):
        kiosk.sync()
    result = kiosk.register_face(1, random_encoding(random.Random(43)))
    assert result.status == "queued" and result.offline
    kiosk.close()
