"""faceid-kiosk: the timekeeper kiosk's face sync client for faceid-server.

    from faceid_kiosk import KioskSync

    kiosk = KioskSync("https://faceid.example.com", token, app_secret, device_id, "kiosk.sqlite")
    kiosk.sync(progress=lambda done, total: print(f"Syncing face data... {done}/{total} employees"))
    kiosk.register_face(17, encoding)          # stored locally, uploaded now or later
    kiosk.match(probe)                         # → Match(employee_id=17, distance=0.31, …) or None
    kiosk.clear_face(17)

The contract is docs/face-sync-api.md in the faceid repository.
"""

__version__ = "0.1.0"

from .client import (  # noqa: E402
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    Conflict,
    CursorExpired,
    FaceIDError,
    NotFound,
    Offline,
    PermissionDenied,
    RateLimited,
    ServerError,
    TLSError,
)
from .codec import EncodingError  # noqa: E402
from .match import DEFAULT_TOLERANCE, Match, compare_faces, face_distance  # noqa: E402
from .store import LocalEmployee, OutboxItem  # noqa: E402
from .sync import FlushResult, KioskSync, OutboxResult, RetryPolicy, SyncResult  # noqa: E402

__all__ = [
    "__version__",
    "KioskSync",
    "RetryPolicy",
    "SyncResult",
    "OutboxResult",
    "FlushResult",
    "LocalEmployee",
    "OutboxItem",
    "Match",
    "DEFAULT_TOLERANCE",
    "compare_faces",
    "face_distance",
    "EncodingError",
    "FaceIDError",
    "BadRequest",
    "ConfigurationError",
    "AuthenticationError",
    "PermissionDenied",
    "NotFound",
    "Conflict",
    "CursorExpired",
    "RateLimited",
    "ServerError",
    "Offline",
    "TLSError",
]
