"""Offline units: the comparison (NumPy and pure Python agree with face_recognition's rule), encoding files, times."""

from __future__ import annotations

import math
import random

import pytest

from faceid_kiosk import compare_faces, face_distance
from faceid_kiosk.codec import (
    EncodingError,
    encoding_from_text,
    encoding_to_text,
    format_time_ms,
    parse_encoding_text,
    parse_time_ms,
    to_time_ms,
)
from faceid_kiosk.match import FaceIndex, numpy_available
from faceid_kiosk.store import LocalStore


def _enc(rng):
    return [rng.uniform(-0.3, 0.3) for _ in range(128)]


@pytest.mark.parametrize("use_numpy", [False, True])
def test_face_index_matches_brute_force(use_numpy):
    if use_numpy and not numpy_available():
        pytest.skip("NumPy not installed")
    rng = random.Random(80)
    known = [_enc(rng) for _ in range(50)]
    index = FaceIndex(list(range(100, 150)), known, use_numpy=use_numpy)
    assert index.use_numpy is use_numpy
    probe = [v + rng.gauss(0, 0.01) for v in known[7]]
    expected = [math.sqrt(sum((a - b) ** 2 for a, b in zip(k, probe))) for k in known]
    assert index.distances(probe) == pytest.approx(expected, rel=1e-12)
    employee_id, distance = index.best(probe)
    assert employee_id == 107 and distance == pytest.approx(expected[7])
    # The tolerance is inclusive, as compare_faces' "<=".
    assert index.best(probe, tolerance=distance) == (107, pytest.approx(distance))
    assert index.best(probe, tolerance=distance * 0.999) is None
    assert index.best(_enc(rng), tolerance=0.6) is None
    assert FaceIndex([], []).best(probe) is None


def test_compare_faces_like_face_recognition():
    rng = random.Random(81)
    a = _enc(rng)
    b = [v + 0.05 for v in a]                 # distance 0.05 × √128 ≈ 0.566
    c = [v + 0.06 for v in a]                 # ≈ 0.679
    assert face_distance([b, c], a) == pytest.approx([0.05 * math.sqrt(128), 0.06 * math.sqrt(128)])
    assert compare_faces([b, c], a) == [True, False]
    assert compare_faces([b, c], a, tolerance=0.7) == [True, True]


def test_encoding_files_in_three_forms():
    values = [round(i / 1000 - 0.064, 6) for i in range(128)]
    assert parse_encoding_text(", ".join(map(repr, values))) == values
    assert parse_encoding_text("\n".join(map(repr, values)) + "\n") == values
    assert parse_encoding_text("[" + " ".join(map(repr, values)) + "]") == values
    assert parse_encoding_text(encoding_to_text(values)) == values
    assert parse_encoding_text('"' + encoding_to_text(values) + '"') == values   # the app's JSON string
    assert encoding_from_text(encoding_to_text(values)) == values
    for bad, message in [("", "empty"), ("0.1 0.2", "got 2"), ("x " * 128, "not a number"),
                         (" ".join(["nan"] * 128), "not finite"), (" ".join(["1e6"] * 128), "out of range")]:
        with pytest.raises(EncodingError, match=message):
            parse_encoding_text(bad)


def test_times():
    assert parse_time_ms("2026-12-01T12:09:44.000000Z") == 1796126984000
    assert parse_time_ms("2026-12-01T20:09:44.5+08:00") == 1796126984500
    assert format_time_ms(1796126984000) == "2026-12-01T12:09:44.000Z"
    assert to_time_ms(1796126984) == 1796126984000
    assert to_time_ms("2026-12-01T12:09:44Z") == 1796126984000
    with pytest.raises(ValueError):
        to_time_ms("01/12/2026 10:40")
    with pytest.raises(ValueError):
        to_time_ms(0)


def test_store_overlay_and_page_transactions(tmp_path):
    """The outbox lies over the server's rows; a page whose application fails leaves nothing behind."""
    store = LocalStore(str(tmp_path / "s.sqlite"))
    face = encoding_to_text([0.01] * 128)
    store.apply_delta_page([{"op": "upsert", "employee": {"id": 1, "name": "A", "timekeeper_id": "T1",
                                                          "face_encoding": face,
                                                          "face_registered_at": "2026-12-01T12:00:00Z"}}], "c1")
    mine = encoding_to_text([0.02] * 128)
    store.queue(1, "register", parse_time_ms("2026-12-01T12:05:00Z"), mine, 0)
    assert store.employee(1).encoding == [0.02] * 128 and store.employee(1).pending == "register"
    # An older server face does not displace the pending one; a newer one drops it.
    stats = store.apply_delta_page([{"op": "upsert", "employee": {"id": 1, "name": "A", "timekeeper_id": "T1",
                                                                  "face_encoding": face,
                                                                  "face_registered_at": "2026-12-01T12:01:00Z"}}], "c2")
    assert stats.outbox_dropped == [] and store.employee(1).pending == "register"
    stats = store.apply_delta_page([{"op": "upsert", "employee": {"id": 1, "name": "A", "timekeeper_id": "T1",
                                                                  "face_encoding": face,
                                                                  "face_registered_at": "2026-12-01T12:06:00Z"}}], "c3")
    assert stats.outbox_dropped == [(1, "server_newer")] and store.employee(1).encoding == [0.01] * 128
    with pytest.raises(KeyError):
        store.apply_delta_page([{"op": "delete", "employee_id": 1}, {"op": "upsert", "employee": {}}], "c4")
    assert store.cursor == "c3" and store.employee(1) is not None
    store.close()
