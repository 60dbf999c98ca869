"""``python -m faceid_kiosk`` — the same command line as ``faceid-kiosk``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
