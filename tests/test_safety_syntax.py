"""Model files as lavaan reads them, and specs that cannot reach outside their folder (issue 12).

* A ``.lav`` (or ``.toml``) file saved "UTF-8 with BOM" is read; the byte-order mark is dropped.
* Names and labels in letters of any script are read as lavaan (R) reads them: lavaan 0.6-14 checks a
  left-hand side with ``make.names()`` and reads a right-hand side with R's parser, and in a UTF-8
  locale both take letters and digits of any script. They flow through ``fit()`` to the estimates.
* Comments (``#`` and ``!``) in any script, CRLF line ends and lavaan's small tilde (U+02DC) are read.
* A ``.toml`` spec names its ``syntax_file`` inside its own folder (or below): absolute paths, ``..``
  escapes and symlinks out are refused with a SpecError naming the key and the path, before anything
  is read, so no line of a file that is not the model file reaches a message.
* An error never quotes a long line in full.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import asymtrust
from asymtrust import cli
from asymtrust.exceptions import SpecError, SyntaxModelError
from asymtrust.library.partable import build_partable
from asymtrust.library.specs import load_spec, parse_structure
from asymtrust.library import syntax as syntax_module
from asymtrust.library.syntax import parse_syntax

BOM = "\ufeff"
HS_ASCII = "visual =~ x1 + a*x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\nd := 2*a\n"
#: the same model with a German, a Portuguese and a Japanese latent name and an accented label
HS_UNICODE = "Vertrauen =~ x1 + á*x2 + x3\nconfiança =~ x4 + x5 + x6\n信頼 =~ x7 + x8 + x9\nd := 2*á\n"
RENAME = {"visual": "Vertrauen", "textual": "confiança", "speed": "信頼", "a": "á", "2*a": "2*á"}
SECRET = "root:x:0:0:do-not-echo-this-line:/root:/bin/bash"


@pytest.fixture(scope="module")
def hs():
    return asymtrust.load_dataset("hs1939")


def _statements(syntax):
    m = parse_syntax(syntax)
    return [(s.op, s.lhs, tuple((t.name, t.modifier(1).label) for t in s.terms)) for s in m.statements]


# --------------------------------------------------------------------------- 1. byte-order mark
def test_bom_string_parses_like_the_plain_syntax():
    plain = "F =~ x1 + x2 + x3\n"
    assert _statements(BOM + plain) == _statements(plain)
    assert parse_structure(BOM + plain) == parse_structure(plain)
    pt_bom, pt = build_partable(BOM + plain).table, build_partable(plain).table
    assert list(pt_bom["lhs"]) == list(pt["lhs"]) and list(pt_bom["rhs"]) == list(pt["rhs"])


def test_bom_lav_file_loads_without_the_bom(tmp_path):
    lav = tmp_path / "model.lav"
    lav.write_bytes(("# Modell\r\n" + HS_ASCII).encode("utf-8-sig"))
    spec = load_spec(lav)
    assert not spec.syntax.startswith(BOM)
    assert spec.description == "Modell"
    assert spec.latents() == ["visual", "textual", "speed"]


def test_bom_toml_spec_and_its_lav_load(tmp_path):
    (tmp_path / "m.lav").write_bytes(HS_UNICODE.encode("utf-8-sig"))
    (tmp_path / "m.toml").write_bytes(
        'name = "m"\ntitle = "Vertrauen"\nkind = "measurement"\nsyntax_file = "m.lav"\n'
        '[constructs."信頼"]\nlabel = "信頼 (trust)"\nrole = "trust"\n'.encode("utf-8-sig"))
    spec = load_spec(tmp_path / "m.toml")
    assert spec.latents() == ["Vertrauen", "confiança", "信頼"]
    assert spec.labels["信頼"] == "信頼 (trust)" and spec.roles["信頼"] == "trust"
    assert spec.constructs["Vertrauen"] == ["x1", "x2", "x3"]


def test_cli_fits_a_bom_crlf_model_with_non_ascii_names(tmp_path, hs, capsys):
    data = tmp_path / "hs.csv"
    hs.to_csv(data, index=False)
    lav = tmp_path / "vertrauen.lav"
    lav.write_bytes(("# Modell für Vertrauen ✓\r\n" + HS_UNICODE.replace("\n", "  ! Kommentar é\r\n"))
                    .encode("utf-8-sig"))
    code = cli.main(["fit", str(data), "--spec", str(lav)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Vertrauen =~ x2 (á)" in out and "信頼 =~ x9" in out and "d := 2*á" in out


# --------------------------------------------------------------------------- 2. names of any script
@pytest.mark.parametrize("name", ["confiança", "信頼", "Доверие", "ثقة", "विश्वास", "Vertrauen_2", "Ünal.f",
                                  "a\u0301", "._x"])
def test_lavaan_names_of_any_script_are_read(name):
    assert syntax_module.is_identifier(name)
    syntax = f"{name} =~ x1 + x2 + x3\n{name} ~ z\n"
    assert _statements(syntax)[0] == ("=~", (name,), (("x1", ""), ("x2", ""), ("x3", "")))
    constructs, regressions, _ = parse_structure(syntax)
    assert constructs == {name: ["x1", "x2", "x3"]} and regressions == [(name, "z")]


@pytest.mark.parametrize("label", ["á", "coeficiente_ç", "λ1", "係数"])
def test_non_ascii_labels_are_read_bare_quoted_and_in_expressions(label):
    syntax = f"F =~ x1 + {label}*x2 + label(\"{label}\")*x3 + b*x4\nd := {label}*b\n{label} == b\n"
    st = _statements(syntax)[0]
    assert st[2][1] == ("x2", label) and st[2][2] == ("x3", label)
    m = parse_syntax(syntax)
    assert m.definitions[0].expr == f"{label}*b" and m.constraints[0].lhs == (label,)
    pt = build_partable(syntax)
    assert label in set(pt.table["label"]) and pt.defined[0][:2] == ("d", f"{label}*b")


def test_small_tilde_reads_as_tilde():
    # lavaan replaces U+02DC (typed by some keyboard layouts) by '~'
    assert _statements("F =\u02dc x1 + x2 + x3\nF \u02dc z\n") == _statements("F =~ x1 + x2 + x3\nF ~ z\n")


def test_comments_in_any_script_and_crlf_are_read():
    plain = "F =~ x1 + x2 + x3\nG =~ x4 + x5 + x6\n"
    decorated = ("# Vertrauen – Modell für Fähigkeit ✓\r\n"
                 "F =~ x1 + x2 + x3 # Kommentar ü\r\n"
                 "! 信頼のモデル\r\n"
                 "G =~ x4 +\r\n   x5 + x6 ! ещё комментарий\r\n")
    assert _statements(decorated) == _statements(plain)
    assert parse_structure(decorated)[0] == parse_structure(plain)[0]


def test_non_ascii_fit_equals_the_ascii_fit(hs):
    ascii_fit = asymtrust.fit(HS_ASCII, hs)
    uni_fit = asymtrust.fit(HS_UNICODE, hs)
    a, u = ascii_fit.estimates, uni_fit.estimates
    assert list(u["lhs"]) == [RENAME.get(x, x) for x in a["lhs"]]
    assert list(u["rhs"]) == [RENAME.get(x, x) for x in a["rhs"]]
    assert list(u["label"]) == [RENAME.get(x, x) for x in a["label"]]
    for col in ("est", "se", "std_all"):
        np.testing.assert_allclose(u[col].to_numpy(float), a[col].to_numpy(float), rtol=1e-10, atol=1e-12,
                                   equal_nan=True)
    row = u[(u["lhs"] == "Vertrauen") & (u["op"] == "=~") & (u["rhs"] == "x2")].iloc[0]
    assert row["label"] == "á"
    d = u[(u["op"] == ":=")].iloc[0]
    assert d["lhs"] == "d" and d["rhs"] == "2*á"
    assert d["est"] == pytest.approx(2 * row["est"], rel=1e-12)
    assert uni_fit.fit_indices["chisq"] == pytest.approx(ascii_fit.fit_indices["chisq"], rel=1e-10)
    assert uni_fit.converged and not uni_fit.warnings


# --------------------------------------------------------------------------- still refused, and said why
@pytest.mark.parametrize("syntax, fragment", [
    ("F =~ x1 + \u0663*x2 + x3\n", "cannot read modifier '\u0663'"),  # numbers are ASCII, as in R
    ("F =~ x1 + x2 + x3\n" + BOM + "G =~ x4 + x5\n", "invisible character U+FEFF"),  # a BOM inside the text
    ("F =~ x1 + x\u200b2 + x3\n", "invisible character U+200B ZERO WIDTH SPACE"),
    ("1F =~ x1 + x2 + x3\n", "'1F' is not a valid variable name"),
    ("F€ =~ x1 + x2 + x3\n", "'F€' is not a valid variable name"),
])
def test_what_lavaan_does_not_read_as_a_name_is_refused(syntax, fragment):
    with pytest.raises(SyntaxModelError) as info:
        parse_syntax(syntax)
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- 3. spec paths confined
def _spec(folder: Path, syntax_file: str, name: str = "s.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    escaped = syntax_file.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(f'name = "s"\ntitle = "S"\nkind = "measurement"\nsyntax_file = "{escaped}"\n',
                    encoding="utf-8")
    return path


@pytest.fixture
def layout(tmp_path):
    """``lib/`` holds the spec; ``outside/`` a model and a secret that the spec must not reach."""
    lib, outside = tmp_path / "lib", tmp_path / "outside"
    (lib / "sub").mkdir(parents=True)
    outside.mkdir()
    (lib / "m.lav").write_text("F =~ x1 + x2 + x3\n", encoding="utf-8")
    (lib / "sub" / "n.lav").write_text("G =~ x4 + x5 + x6\n", encoding="utf-8")
    (outside / "x.lav").write_text(SECRET + "\n", encoding="utf-8")
    (outside / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    (lib / "notes.txt").write_text(SECRET + "\n", encoding="utf-8")
    return lib, outside


def _refused(spec: Path, *fragments: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    msg = str(info.value)
    assert "do-not-echo" not in msg and "root:x" not in msg, msg
    assert "\n" not in msg and len(msg) < 400
    assert str(spec) in msg and "syntax_file" in msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


@pytest.mark.parametrize("value", ["/etc/passwd", "/etc/hostname.lav", "~/x.lav", "C:\\models\\m.lav", "\\m.lav"])
def test_absolute_syntax_file_is_refused(layout, value):
    lib, _ = layout
    _refused(_spec(lib, value), repr(value), "must be a path relative to the spec's folder")


def test_absolute_path_to_a_real_model_outside_is_refused(layout):
    lib, outside = layout
    value = str(outside / "x.lav")
    _refused(_spec(lib, value), "not an absolute path")


@pytest.mark.parametrize("value", ["../outside/x.lav", "../outside/secret.txt", "sub/../../outside/x.lav",
                                   "../../../../../../../../etc/passwd"])
def test_dotdot_escape_is_refused(layout, value):
    lib, _ = layout
    _refused(_spec(lib, value), repr(value), "leads out of the spec's folder")


def test_symlink_out_of_the_folder_is_refused(layout):
    lib, outside = layout
    (lib / "link.lav").symlink_to(outside / "x.lav")
    (lib / "dirlink").symlink_to(outside, target_is_directory=True)
    _refused(_spec(lib, "link.lav"), "'link.lav'", "symlink")
    _refused(_spec(lib, "dirlink/x.lav"), "'dirlink/x.lav'", "symlink")


def test_a_spec_in_a_symlinked_folder_still_reads_its_own_model(layout, tmp_path):
    lib, _ = layout
    spec = _spec(lib, "m.lav")
    alias = tmp_path / "alias"
    alias.symlink_to(lib, target_is_directory=True)
    assert load_spec(alias / spec.name).latents() == ["F"]


def test_a_non_model_file_inside_the_folder_is_refused_unread(layout):
    lib, _ = layout
    _refused(_spec(lib, "notes.txt"), "'notes.txt'", "must name a .lav file")
    (lib / "notes.lav").symlink_to(lib / "notes.txt")  # inside, but not a model file either
    _refused(_spec(lib, "notes.lav"), "'notes.lav'", "not a .lav file")


def test_a_folder_or_a_fifo_is_refused(layout):
    lib, _ = layout
    (lib / "d.lav").mkdir()
    _refused(_spec(lib, "d.lav"), "is not a regular file")
    if hasattr(os, "mkfifo"):
        os.mkfifo(lib / "p.lav")
        _refused(_spec(lib, "p.lav"), "is not a regular file")  # and does not hang reading it


def test_missing_and_unreadable_names(layout):
    lib, _ = layout
    _refused(_spec(lib, "nope.lav"), "'nope.lav' does not exist in the spec's folder")
    msg = _refused(_spec(lib, "x" * 300 + ".lav"), "cannot be read")
    assert "x" * 100 not in msg  # the value is shortened


def test_models_in_the_folder_or_below_load(layout):
    lib, _ = layout
    assert load_spec(_spec(lib, "m.lav")).latents() == ["F"]
    assert load_spec(_spec(lib, "sub/n.lav")).latents() == ["G"]
    assert load_spec(_spec(lib, "sub/../m.lav")).latents() == ["F"]
    (lib / "sub" / "inside.lav").symlink_to(lib / "m.lav")
    assert load_spec(_spec(lib, "sub/inside.lav")).latents() == ["F"]


def test_bundled_specs_still_load():
    for name in asymtrust.list_specs():
        assert load_spec(name).source is not None


# --------------------------------------------------------------------------- long lines never quoted in full
def test_a_long_line_of_the_model_file_is_shortened(tmp_path):
    line = "this line has no operator " + "y" * 500
    lav = tmp_path / "long.lav"
    lav.write_text("F =~ x1 + x2 + x3\n" + line + "\n", encoding="utf-8")
    with pytest.raises(SyntaxModelError) as info:
        load_spec(lav)
    msg = str(info.value)
    assert "line 2" in msg and "this line has no operator" in msg
    assert "y" * 100 not in msg and len(msg) < 200


@pytest.mark.parametrize("syntax", [
    "F =~ x1 + x2 + x3\n" + "G" * 300 + " =~ F\n" + "G" * 300 + " ~ " + "G" * 300 + "\n",
    "F =~ x1 + " + "a" * 300 + "*" + "b" * 300 + "*x2 + x3\n",
    "F =~ x1 + a*x2 + x3\nd := a*" + "q" * 300 + "\n",
])
def test_long_names_are_shortened_in_messages(syntax):
    with pytest.raises(SpecError) as info:
        build_partable(syntax)
    assert len(str(info.value)) < 300, str(info.value)
