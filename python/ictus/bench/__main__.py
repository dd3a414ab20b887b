"""Entry point of `python -m ictus.bench` (see cli.py, or run it with --help)."""
from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
