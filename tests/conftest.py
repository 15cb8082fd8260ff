"""Shared pytest configuration and fixtures for the asymtrust test-suite."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # never open windows in tests

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO_ROOT / "tests" / "reference"
DATASETS_DIR = REPO_ROOT / "datasets"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``tests/reference`` (R scripts and the JSON they wrote)."""
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def load_reference() -> Callable[[str], dict]:
    """Load ``tests/reference/<relpath>`` as JSON."""

    def _load(relpath: str) -> dict:
        return json.loads((REFERENCE_DIR / relpath).read_text(encoding="utf-8"))

    return _load


@pytest.fixture
def tmp_copy(tmp_path: Path) -> Callable[[str | Path], Path]:
    """Copy a file (absolute, or relative to the repository root) into ``tmp_path``.

    Tests that must not touch repository files work on the copy.
    """

    def _copy(src: str | Path, name: str | None = None) -> Path:
        src = Path(src)
        if not src.is_absolute():
            src = REPO_ROOT / src
        dest = tmp_path / (name or src.name)
        shutil.copyfile(src, dest)
        return dest

    return _copy


@pytest.fixture(scope="session")
def hs1939() -> pd.DataFrame:
    """HolzingerSwineford1939 as bundled (301 x 15)."""
    from asymtrust.survey.datasets import load_dataset

    return load_dataset("hs1939")


@pytest.fixture(scope="session")
def poldem() -> pd.DataFrame:
    """PoliticalDemocracy as bundled (75 x 11)."""
    from asymtrust.survey.datasets import load_dataset

    return load_dataset("poldem")


@pytest.fixture
def sha256() -> Callable[[str | Path], str]:
    """Function returning the sha256 of a file's bytes (to prove inputs are unchanged)."""
    return sha256_file


@pytest.fixture(autouse=True)
def _isolated_output_register(tmp_path_factory, monkeypatch):
    """Each test gets its own register of files asymtrust wrote (asymtrust.outputs),
    never the user's ~/.local/state/asymtrust."""
    monkeypatch.setenv("ASYMTRUST_STATE_DIR", str(tmp_path_factory.mktemp("asymtrust-state")))
