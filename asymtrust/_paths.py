"""Locate the bundled data (model specs, datasets, codebook).

In an installed wheel the repository's top-level ``specs/`` and ``datasets/``
folders are shipped as ``asymtrust/_data/specs`` and ``asymtrust/_data/datasets``
(see ``pyproject.toml``). In a source checkout (editable install or running from
the repository) they are read from the repository root.
"""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} not found next to the asymtrust package")


def specs_dir() -> Path:
    """Folder holding the bundled model specifications (``*.lav`` + ``*.toml``)."""
    return _find("specs")


def datasets_dir() -> Path:
    """Folder holding the bundled datasets, their registry and the codebook."""
    return _find("datasets")
