"""The installed package finds its bundled specs, codebook and datasets.

CI installs asymtrust with a plain (non-editable) ``pip install ".[test]"``; the
specs/ and datasets/ folders are then package data under ``asymtrust/_data``. These
tests run a fresh interpreter outside the source tree, so they exercise whichever
copy pip installed (in CI: the wheel).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_installed_package_finds_its_data(tmp_path):
    code = (
        "import json, asymtrust\n"
        "from asymtrust import _paths\n"
        "out = {'file': asymtrust.__file__, 'specs': asymtrust.list_specs(),\n"
        "       'specs_dir': str(_paths.specs_dir()), 'datasets_dir': str(_paths.datasets_dir()),\n"
        "       'n_items': int((asymtrust.load_codebook()['kind'] == 'item').sum()),\n"
        "       'rows': len(asymtrust.load_dataset('bcf_synthetic')),\n"
        "       'fig1_items': len(asymtrust.load_spec('fig1').items())}\n"
        "print(json.dumps(out))\n"
    )
    proc = _run(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"fig1", "fig1_cfa", "fig1_direct", "fig1_dyadic", "fig1_moderated", "fig1_single_trust",
            "hp2018"} <= set(out["specs"])
    assert out["n_items"] == 32 and out["rows"] == 600 and out["fig1_items"] == 32
    installed = Path(out["file"]).resolve().parent
    if ROOT not in installed.parents and installed != ROOT / "asymtrust":
        # a real (non-editable) install: the data must come from the package itself
        assert Path(out["specs_dir"]).resolve() == installed / "_data" / "specs"
        assert Path(out["datasets_dir"]).resolve() == installed / "_data" / "datasets"


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("asymtrust")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "asymtrust"]
    proc = subprocess.run(cmd + ["specs"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("fig1", "fig1_cfa", "fig1_direct", "fig1_single_trust", "fig1_moderated", "hp2018"):
        assert name in proc.stdout
    proc = subprocess.run(cmd + ["validate", "bcf_synthetic", "--spec", "fig1", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


def test_import_stays_light():
    """``import asymtrust`` (and so every CLI start) does not load the heavy modules
    that only some commands need: scipy.stats (~1 s), scipy.optimize, matplotlib,
    statsmodels, pingouin, semopy, dask."""
    heavy = ["scipy.stats", "scipy.optimize", "matplotlib", "statsmodels", "pingouin", "semopy", "dask"]
    code = ("import sys, asymtrust; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at `import asymtrust`: {out.stdout.strip()}"
