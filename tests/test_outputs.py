"""The output policy (issue 12): no command deletes or overwrites a file it did not
create, whatever the flags; outputs are whole or absent, under races and signals.

Each defect of the second audit has a test here that fails on the code before the fix:

* ``report --force`` deleted a folder holding any ``report.html`` with the user's files;
* ``power --out`` overwrote without ``--force`` (and had no ``--force``);
* ``power --out /dev/stdout`` / ``codebook --out /dev/stdout --force`` replaced the link;
* two concurrent ``report --out same`` both "succeeded"; a folder created at ``--out``
  while a report was written was deleted;
* SIGTERM/SIGHUP left hidden ``.OUT.*.tmp`` outputs;
* a closed stdout gave a traceback; non-UTF-8 file names crashed ``report``;
* ``simulate --n 100000000`` and ``figure --dpi 100000`` ran out of memory.

The property-based test draws random output-folder contents and checks that no file
asymtrust did not write is ever deleted or changed.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asymtrust import cli, outputs
from asymtrust.exceptions import OutputError, ResourceLimitError

SPEC = Path(__file__).resolve().parent / "bad_inputs" / "cfa2.lav"
BASE = Path(__file__).resolve().parent / "bad_inputs" / "files" / "base.csv"


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> SHA-256), folders as 'dir'."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = "dir" if p.is_dir() and not p.is_symlink() else (
            "link:" + os.readlink(p) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str, fragment: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("asymtrust: error: "), err
    assert fragment in lines[0], err
    assert "Traceback" not in err


def small_report(tmp_path: Path, out: Path, *extra) -> list[str]:
    return ["report", str(BASE), "--spec", str(SPEC), "--out", str(out), "--bootstrap", "0", "--quiet", *extra]


# ----------------------------------------------------------------------------- report --force
def test_force_never_deletes_a_folder_just_because_it_holds_report_html(capsys, tmp_path):
    """The audit's reproduction: site/ holds report.html and index.html."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "report.html").write_text("x\n")
    (site / "index.html").write_text("y\n")
    before = tree(tmp_path)
    code, _, err = run(capsys, *small_report(tmp_path, site, "--force"))
    assert code == 2
    one_error(err, "holds files asymtrust did not write (index.html, report.html)")
    assert tree(tmp_path) == before


def test_force_replaces_exactly_an_earlier_report_and_refuses_foreign_or_edited_files(capsys, tmp_path):
    out = tmp_path / "rep"
    code, _, err = run(capsys, *small_report(tmp_path, out))
    assert code == 0, err
    manifest = (out / outputs.MANIFEST).read_text()
    assert '"report.html"' in manifest and '"figures/reliability.png"' in manifest
    first = tree(out)
    # a foreign file: refused, nothing deleted
    (out / "notes.txt").write_text("mine\n")
    before = tree(tmp_path)
    code, _, err = run(capsys, *small_report(tmp_path, out, "--force"))
    assert code == 2
    one_error(err, "holds files asymtrust did not write (notes.txt)")
    assert tree(tmp_path) == before
    (out / "notes.txt").unlink()
    # an edited report file: refused
    (out / "report.md").write_text("my edits\n")
    before = tree(tmp_path)
    code, _, err = run(capsys, *small_report(tmp_path, out, "--force"))
    assert code == 2
    one_error(err, "report.md changed since asymtrust wrote it")
    assert tree(tmp_path) == before
    (out / "report.md").unlink()
    # a report with a missing file is still ours: replaced
    code, _, err = run(capsys, *small_report(tmp_path, out, "--force"))
    assert code == 0, err
    assert set(tree(out)) == set(first)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_model_file_inside_the_output_folder_is_never_removed(capsys, tmp_path):
    out = tmp_path / "rep"
    code, _, err = run(capsys, *small_report(tmp_path, out))
    assert code == 0, err
    spec = out / "model.lav"
    spec.write_text(SPEC.read_text())
    before = tree(tmp_path)
    code, _, err = run(capsys, "report", str(BASE), "--spec", str(spec), "--out", str(out), "--bootstrap", "0",
                       "--quiet", "--force")
    assert code == 2
    one_error(err, "contains an input of this command")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("where", ["cwd", "home", "root", "parent_of_cwd"])
def test_report_never_targets_home_root_or_working_folder(capsys, tmp_path, monkeypatch, where):
    home = tmp_path / "home"
    work = home / "work"
    work.mkdir(parents=True)
    (home / "thesis.docx").write_text("years of work\n")
    (work / "data.csv").write_text("a\n1\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    target = {"cwd": ".", "home": "~", "root": "/", "parent_of_cwd": ".."}[where]
    before = tree(home)
    code, _, err = run(capsys, *small_report(tmp_path, Path(target), "--force"))
    assert code == 2
    assert "asymtrust never writes a report over it" in err or "holds files asymtrust did not write" in err, err
    assert tree(home) == before


def test_report_refuses_a_symlink_out(capsys, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "keep.txt").write_text("k\n")
    link = tmp_path / "link"
    link.symlink_to(real)
    before = tree(tmp_path)
    code, _, err = run(capsys, *small_report(tmp_path, link, "--force"))
    assert code == 2
    one_error(err, "is a symbolic link")
    assert tree(tmp_path) == before


# ----------------------------------------------------------------------------- single files
def test_power_out_needs_force_and_only_replaces_its_own_file(capsys, tmp_path):
    thesis = tmp_path / "thesis.png"
    thesis.write_bytes(b"\x89PNG my thesis figure")
    before = tree(tmp_path)
    code, _, err = run(capsys, "power", "--spec", "fig1", "--n", "100", "--reps", "3",
                       "--seed", "1", "--quiet", "--out", thesis)
    assert code == 2
    one_error(err, "already exists; use --force")
    code, _, err = run(capsys, "power", "--spec", "fig1", "--n", "100", "--reps", "3", "--seed", "1", "--quiet",
                       "--out", thesis, "--force")
    assert code == 2
    one_error(err, "was not written by asymtrust")
    assert tree(tmp_path) == before
    mine = tmp_path / "curve.png"
    for extra in ([], ["--force"]):
        code, _, err = run(capsys, "power", "--spec", "fig1", "--n", "100", "--reps", "3", "--seed", "1",
                           "--quiet", "--out", mine, *extra)
        assert code == 0, err
    assert mine.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("argv, fragment", [
    (["power", "--spec", "fig1", "--n", "100", "--reps", "3", "--quiet", "--out", "/dev/stdout"], "/dev/stdout"),
    (["codebook", "--out", "/dev/stdout", "--force"], "is a symbolic link"),
    (["codebook", "--out", "/dev/null", "--force"], "is not a regular file"),
    (["simulate", "--spec", "fig1", "--n", "20", "--out", "/dev/null", "--force"], "/dev/null"),
])
def test_devices_and_links_are_never_replaced(capsys, argv, fragment):
    before = {p: os.lstat(p) for p in ("/dev/stdout", "/dev/null") if os.path.lexists(p)}
    code, _, err = run(capsys, *argv)
    assert code == 2
    one_error(err, fragment)
    for p, st in before.items():
        now = os.lstat(p)
        assert (now.st_mode, now.st_ino) == (st.st_mode, st.st_ino)


def test_output_may_not_be_an_input(capsys, tmp_path):
    spec = tmp_path / "model.lav"
    spec.write_text(SPEC.read_text())
    cb = tmp_path / "cb.csv"
    code, _, err = run(capsys, "codebook", "--format", "csv", "--out", cb)
    assert code == 0, err
    before = tree(tmp_path)
    code, _, err = run(capsys, "codebook", "--codebook", cb, "--format", "csv", "--out", cb, "--force")
    assert code == 2
    one_error(err, "is an input of this command")
    assert tree(tmp_path) == before


def test_symlinked_file_output_is_refused(capsys, tmp_path):
    target = tmp_path / "elsewhere.csv"
    target.write_text("precious\n")
    link = tmp_path / "sim.csv"
    link.symlink_to(target)
    before = tree(tmp_path)
    code, _, err = run(capsys, "simulate", "--spec", "fig1", "--n", "20", "--out", link, "--force")
    assert code == 2
    one_error(err, "is a symbolic link")
    assert tree(tmp_path) == before


def test_api_figures_follow_the_policy(tmp_path):
    from asymtrust.reporting import figures as F

    own = tmp_path / "fig1.png"
    own.write_bytes(b"not asymtrust's")
    with pytest.raises(OutputError, match="already exists"):
        F.figure_fig1("fig1", out=own)
    assert own.read_bytes() == b"not asymtrust's"
    paths = F.save_figure(F.figure_fig1("fig1"), tmp_path, "mine")
    F.save_figure(F.figure_fig1("fig1"), tmp_path, "mine", force=True)
    with pytest.raises(OutputError, match="was not written by asymtrust"):
        F.save_figure(F.figure_fig1("fig1"), tmp_path, "fig1", formats=("png",), force=True)
    assert set(paths) == {"png", "svg"}


# ----------------------------------------------------------------------------- races
def test_two_writers_of_one_file_exactly_one_wins(tmp_path):
    dest = tmp_path / "out.csv"
    a = outputs.plan_file(dest)
    b = outputs.plan_file(dest)
    a.write("first\n")
    with pytest.raises(OutputError, match="appeared while asymtrust was working"):
        b.write("second\n")
    assert dest.read_text() == "first\n"
    # two forced replacements planned on the same file: the second sees it changed
    c = outputs.plan_file(dest, force=True)
    d = outputs.plan_file(dest, force=True)
    c.write("third\n")
    with pytest.raises(OutputError, match="changed while asymtrust was working"):
        d.write("fourth\n")
    assert dest.read_text() == "third\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_folder_created_at_out_while_writing_is_left_alone(tmp_path):
    dest = tmp_path / "report"
    t = outputs.plan_folder(dest)
    dest.mkdir()
    (dest / "someone_elses.txt").write_text("keep\n")
    with pytest.raises(OutputError, match="appeared while asymtrust was working"):
        t.write(lambda tmp: (tmp / "report.html").write_text("<html/>"))
    assert tree(dest) == {"someone_elses.txt": hashlib.sha256(b"keep\n").hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_an_empty_folder_created_at_out_is_not_replaced_either(tmp_path):
    dest = tmp_path / "report"
    t = outputs.plan_folder(dest)
    dest.mkdir()
    with pytest.raises(OutputError, match="appeared while asymtrust was working"):
        t.write(lambda tmp: (tmp / "report.html").write_text("<html/>"))
    assert list(dest.iterdir()) == []


def test_forced_replacement_rechecks_for_foreign_files_before_removing(tmp_path):
    dest = tmp_path / "report"
    outputs.plan_folder(dest).write(lambda tmp: (tmp / "report.html").write_text("<html>1</html>"))
    t = outputs.plan_folder(dest, force=True)
    (dest / "notes.txt").write_text("written while the report was computed\n")
    with pytest.raises(OutputError, match="notes.txt"):
        t.write(lambda tmp: (tmp / "report.html").write_text("<html>2</html>"))
    assert (dest / "notes.txt").read_text() == "written while the report was computed\n"
    assert (dest / "report.html").read_text() == "<html>1</html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def _spawn(argv, cwd, **env):
    return subprocess.Popen([sys.executable, "-m", "asymtrust", *map(str, argv)], cwd=cwd,
                            env=dict(os.environ, MPLBACKEND="Agg", **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_concurrent_reports_to_one_folder_exactly_one_wins(tmp_path):
    """Two real processes race for --out; the write delay makes them overlap."""
    out = tmp_path / "same"
    procs = [_spawn(small_report(tmp_path, out), tmp_path, ASYMTRUST_TEST_WRITE_DELAY="1.5") for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2], results
    loser = next(e for c, e in results if c == 2)
    assert "appeared while asymtrust was working" in loser and "Traceback" not in loser
    assert (out / "report.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same"]  # no temporary left behind


# ----------------------------------------------------------------------------- signals
def _wait_for_temporary(folder: Path, proc, timeout: float = 120) -> Path:
    t0 = time.time()
    while time.time() - t0 < timeout:
        found = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"finished before writing: {proc.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("no temporary output appeared")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize("what", ["simulate", "report"])
def test_signal_mid_write_leaves_nothing(tmp_path, sig, what):
    if what == "simulate":
        argv = ["simulate", "--spec", "fig1", "--n", "2000", "--seed", "1", "--out", tmp_path / "x.csv"]
    else:
        argv = small_report(tmp_path, tmp_path / "OUT")
    proc = _spawn(argv, tmp_path, ASYMTRUST_TEST_WRITE_DELAY="30")
    _wait_for_temporary(tmp_path, proc)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    err = proc.stderr.read()
    assert code == 128 + sig or (sig == signal.SIGINT and code == 130), (code, err)
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [], sorted(p.name for p in tmp_path.iterdir())


# ----------------------------------------------------------------------------- odd environments
def test_closed_stdout_is_an_error_not_a_traceback(tmp_path):
    proc = subprocess.run(f"'{sys.executable}' -m asymtrust specs >&-", shell=True, capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "standard output is closed" in proc.stderr


def test_non_utf8_file_names_in_report(tmp_path):
    data = os.fsencode(tmp_path) + b"/d\xe9.csv"
    out = os.fsencode(tmp_path) + b"/r\xe9p"
    with open(data, "wb") as fh:
        fh.write(BASE.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "asymtrust", "report", data, "--spec", str(SPEC), "--out", out,
                           "--bootstrap", "0", "--quiet"], capture_output=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    html = (Path(os.fsdecode(out)) / "report.html").read_text(encoding="utf-8")
    assert "d\ufffd.csv" in html


def test_memory_is_estimated_before_allocating(capsys, tmp_path):
    code, _, err = run(capsys, "simulate", "--spec", "fig1", "--n", "100000000", "--out", tmp_path / "big.csv")
    assert code == 2
    one_error(err, "n = 100000000: the simulated data (100,000,000 rows) would need about")
    code, _, err = run(capsys, "figure", "fig1", "--out", tmp_path / "f.png", "--dpi", "100000")
    assert code == 2
    one_error(err, "use --dpi")
    assert list(tmp_path.iterdir()) == []
    from asymtrust.reporting import figures as F

    with pytest.raises(ResourceLimitError, match="dpi 100000"):
        F.figure_bytes(F.figure_fig1("fig1"), "png", dpi=100000)


def test_python_warnings_become_asymtrust_warning_lines(capsys, monkeypatch):
    import warnings

    def noisy(args):
        warnings.warn("something the user should know", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "cmd_specs", noisy)
    parser_build = cli.build_parser

    def build():
        p = parser_build()
        p._subparsers._group_actions[0].choices["specs"].set_defaults(func=noisy)
        return p

    monkeypatch.setattr(cli, "build_parser", build)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run(capsys, "specs")
    assert code == 0
    assert err.strip() == "asymtrust: warning: something the user should know"


# ----------------------------------------------------------------------------- property-based
names = st.sampled_from(["report.html", "report.md", "estimates.csv", "notes.txt", "index.html",
                         asymtrust_manifest := outputs.MANIFEST, "figures/path.png", "figures/mine.png",
                         "tables/t1.tex", "thesis.docx", "sub/deep/file.txt"])
contents = st.binary(min_size=0, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(earlier=st.booleans(), extra=st.dictionaries(names, contents, max_size=4),
       edit=st.sampled_from([None, "report.html", "figures/path.png"]), force=st.booleans())
def test_no_file_asymtrust_did_not_write_is_ever_deleted_or_changed(tmp_path_factory, earlier, extra, edit, force):
    root = tmp_path_factory.mktemp("prop")
    dest = root / "out"

    def build(tmp: Path) -> None:
        (tmp / "figures").mkdir()
        (tmp / "report.html").write_text("<html>new</html>")
        (tmp / "figures" / "path.png").write_bytes(b"png-new")

    ours: set[str] = set()
    if earlier:  # an earlier report asymtrust wrote
        outputs.plan_folder(dest).write(build)
        ours = {"report.html", "figures/path.png", outputs.MANIFEST}
        if edit:
            (dest / edit).write_bytes(b"edited by the user")
            ours.discard(edit)
    for rel, data in extra.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        ours.discard(rel)
    (root / "sibling.txt").write_text("next to the output\n")
    before = tree(root)
    foreign = {k: v for k, v in before.items() if v != "dir" and k.startswith("out/")
               and k.removeprefix("out/") not in ours}
    try:
        outputs.plan_folder(dest, force=force).write(build)
        wrote = True
    except OutputError:
        wrote = False
    after = tree(root)
    assert after["sibling.txt"] == before["sibling.txt"]
    for k, v in foreign.items():
        assert after.get(k) == v, f"{k} was deleted or changed"
    if not wrote:
        assert after == before
    assert not [k for k in after if k.split("/")[-1].startswith(".") and k.endswith(".tmp")]
    if wrote and not earlier and not extra:
        assert (dest / "report.html").read_text() == "<html>new</html>"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(existing=st.sampled_from([None, "user", "ours", "ours_edited"]), force=st.booleans())
def test_single_files_are_replaced_only_when_asymtrust_wrote_them(tmp_path_factory, existing, force):
    root = tmp_path_factory.mktemp("propfile")
    dest = root / "x.csv"
    if existing == "user":
        dest.write_text("user\n")
    elif existing in ("ours", "ours_edited"):
        outputs.write_file(dest, "ours\n")
        if existing == "ours_edited":
            dest.write_text("ours, edited\n")
    before = tree(root)
    try:
        outputs.write_file(dest, "new\n", force=force)
        wrote = True
    except OutputError:
        wrote = False
    assert wrote == (existing is None or (existing == "ours" and force))
    if not wrote:
        assert tree(root) == before
    assert sorted(p.name for p in root.iterdir()) == (["x.csv"] if (wrote or existing) else [])


# ----------------------------------------------------------------------------- problems reach every output
HEYWOOD_CSV = Path(__file__).resolve().parent.parent / "datasets" / "heywood_demo.csv"
HEYWOOD_LAV = Path(__file__).resolve().parent.parent / "datasets" / "heywood_demo.lav"


def test_a_figure_of_an_improper_fit_says_so(capsys, tmp_path):
    code, _, err = run(capsys, "figure", "path", HEYWOOD_CSV, "--spec", HEYWOOD_LAV, "--out", tmp_path / "p.png")
    assert code == 0, err
    assert "asymtrust: warning: Heywood case: negative variance estimate for cap1" in err


def test_report_json_carries_rows_and_notes(tmp_path):
    import json

    import asymtrust

    data = asymtrust.load_dataset("hs1939")
    data.loc[[0, 5], "x1"] = float("nan")
    spec = tmp_path / "hs.lav"
    spec.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n")
    out = asymtrust.report(data, spec=str(spec), out=tmp_path / "rep", bootstrap=0, seed=1, quiet=True)
    doc = json.loads((out / "fit_indices.json").read_text())
    assert doc["rows"] == {"n_read": 301, "n_used": 299, "dropped": {"incomplete (listwise)": 2}}
    assert any("2 incomplete rows" in n for n in doc["notes"])
