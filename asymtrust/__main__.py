"""``python -m asymtrust``: the command-line interface (see :mod:`asymtrust.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":  # pragma: no branch
    sys.exit(main())
