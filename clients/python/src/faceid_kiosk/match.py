"""The kiosk's own comparison of a probe encoding with the stored ones.

The same rule as ``face_recognition``: :func:`face_distance` is the Euclidean distance between 128-number encodings
(``numpy.linalg.norm(known - probe, axis=1)``), and a known face matches when its distance is at most the tolerance
(``compare_faces(known, probe, tolerance=0.6)``). Among the matches the nearest one wins.

NumPy is used when it can be imported; otherwise the same arithmetic runs in pure Python (about 3,000 faces in a few
milliseconds with NumPy, some tens of milliseconds without).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

from .codec import validate_encoding

try:  # NumPy is optional.
    import numpy as _np
except ImportError:  # pragma: no cover - exercised when NumPy is absent
    _np = None  # type: ignore[assignment]

#: face_recognition's default tolerance.
DEFAULT_TOLERANCE = 0.6


def numpy_available() -> bool:
    return _np is not None


@dataclass(frozen=True)
class Match:
    """The best employee for a probe: their id, name and timekeeper id, and the distance (≤ the tolerance)."""

    employee_id: int
    distance: float
    name: Optional[str] = None
    timekeeper_id: Optional[str] = None


class FaceIndex:
    """Known encodings with their employee ids, ready to compare probes against (built once per table version)."""

    def __init__(
        self, ids: Sequence[int], encodings: Sequence[Sequence[float]], *, use_numpy: Optional[bool] = None
    ) -> None:
        if len(ids) != len(encodings):
            raise ValueError("ids and encodings differ in length")
        self.ids: List[int] = [int(i) for i in ids]
        self.use_numpy = numpy_available() if use_numpy is None else bool(use_numpy and numpy_available())
        self._matrix: Any
        if self.use_numpy:
            assert _np is not None
            if self.ids:
                self._matrix = _np.asarray(encodings, dtype=_np.float64).reshape(len(self.ids), -1)
            else:
                self._matrix = _np.zeros((0, 128), dtype=_np.float64)
        else:
            self._matrix = [[float(v) for v in row] for row in encodings]

    def __len__(self) -> int:
        return len(self.ids)

    def distances(self, probe: Sequence[float]) -> List[float]:
        """The Euclidean distance of ``probe`` to every known encoding, in ``ids`` order."""
        values = validate_encoding(probe)
        if not self.ids:
            return []
        if self.use_numpy:
            assert _np is not None
            return [float(d) for d in _np.linalg.norm(self._matrix - _np.asarray(values, dtype=_np.float64), axis=1)]
        return [_euclidean(row, values) for row in self._matrix]

    def best(self, probe: Sequence[float], tolerance: float = DEFAULT_TOLERANCE) -> Optional[Tuple[int, float]]:
        """``(employee id, distance)`` of the nearest known encoding within ``tolerance``, or ``None``."""
        if tolerance < 0 or not math.isfinite(tolerance):
            raise ValueError("tolerance must be a finite number ≥ 0")
        distances = self.distances(probe)
        if not distances:
            return None
        index = min(range(len(distances)), key=distances.__getitem__)
        if distances[index] <= tolerance:
            return self.ids[index], distances[index]
        return None


def face_distance(known: Sequence[Sequence[float]], probe: Sequence[float]) -> List[float]:
    """``face_recognition.face_distance``: the Euclidean distance of ``probe`` to each of ``known``."""
    return FaceIndex(list(range(len(known))), known).distances(probe)


def compare_faces(
    known: Sequence[Sequence[float]], probe: Sequence[float], tolerance: float = DEFAULT_TOLERANCE
) -> List[bool]:
    """``face_recognition.compare_faces``: for each of ``known``, whether it is within ``tolerance`` of ``probe``."""
    return [d <= tolerance for d in face_distance(known, probe)]


def _euclidean(a: Sequence[float], b: Sequence[float]) -> float:
    return math.sqrt(sum((x - y) * (x - y) for x, y in zip(a, b)))
