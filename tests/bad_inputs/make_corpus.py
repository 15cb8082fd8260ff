#!/usr/bin/env python
"""Regenerate the input files of the bad-input corpus (``tests/bad_inputs/files/``).

Every file is derived, deterministically, from the first rows of the bundled
SYNTHETIC data set ``datasets/bcf_synthetic.csv`` (columns ``resp_id``, ``sector``
and the six items of the small two-factor model ``cfa2.lav``), then broken in one
way per file. The manifest ``cases.toml`` says, for each case, what is expected.

Run from the repository root::

    python tests/bad_inputs/make_corpus.py

The files are committed; the tests never run this script (they only read the files),
but a test checks that the committed files equal what this script writes.
"""
from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
ROOT = HERE.parent.parent
SOURCE = ROOT / "datasets" / "bcf_synthetic.csv"

#: columns of the base file (the two-factor model of cfa2.lav, plus respondent fields)
COLUMNS = ["resp_id", "sector", "cap1", "cap2", "cap3", "pow1", "pow2", "pow3"]
#: respondents kept in the base file
N_BASE = 60


def base_rows(n: int = N_BASE) -> list[list[str]]:
    """Header plus the first ``n`` rows of bcf_synthetic, restricted to :data:`COLUMNS`."""
    with open(SOURCE, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    idx = [header.index(c) for c in COLUMNS]
    return [COLUMNS] + [[r[i] for i in idx] for r in rows[1 : n + 1]]


def to_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def with_column(rows: list[list[str]], col: str, values: Callable[[int, str], str]) -> list[list[str]]:
    """Copy of ``rows`` where ``col`` of data row ``i`` becomes ``values(i, old)``."""
    j = rows[0].index(col)
    out = [list(rows[0])]
    for i, r in enumerate(rows[1:]):
        r = list(r)
        r[j] = values(i, r[j])
        out.append(r)
    return out


LABELS = {
    "1": "Strongly disagree", "2": "Disagree", "3": "Somewhat disagree", "4": "Neither agree nor disagree",
    "5": "Somewhat agree", "6": "Agree", "7": "Strongly agree",
}


def build() -> dict[str, bytes]:
    """Every corpus file name -> its bytes."""
    rows = base_rows()
    text = to_text(rows)
    files: dict[str, bytes] = {}

    # --- files that read correctly (positive controls) ------------------------------
    files["base.csv"] = text.encode()
    files["semicolon.csv"] = to_text(rows, ";").encode()
    files["tab_in_csv.csv"] = to_text(rows, "\t").encode()
    files["utf8_bom.csv"] = codecs.BOM_UTF8 + text.encode()
    files["utf16_bom.csv"] = text.encode("utf-16")  # Python writes a BOM
    files["crlf.csv"] = text.replace("\n", "\r\n").encode()
    files["text_labels.csv"] = to_text(with_column(rows, "cap2", lambda i, v: LABELS[v])).encode()
    files["missing_code_99.csv"] = to_text(with_column(rows, "pow1", lambda i, v: "-99" if i % 7 == 3 else v)).encode()
    files["nan_strings.csv"] = to_text(
        with_column(rows, "cap3", lambda i, v: ("NaN", "NA", "nan", "")[i % 4] if i % 5 == 0 else v)
    ).encode()

    # --- unreadable files --------------------------------------------------------------
    files["empty.csv"] = b""
    files["blank_lines.csv"] = b"\n  \n\n"
    files["header_only.csv"] = (",".join(COLUMNS) + "\n").encode()
    files["binary.csv"] = bytes((i * 37 + 11) % 256 for i in range(2048))
    files["png_as.csv"] = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    files["zip_as.csv"] = b"PK\x03\x04" + b"\x14\x00\x06\x00" + bytes(200)
    files["utf16_no_bom.csv"] = text.encode("utf-16-le")  # unmistakable: every second byte is NUL
    files["utf16be_no_bom.csv"] = text.encode("utf-16-be")
    files["utf16_no_bom_euro.csv"] = to_text(
        with_column(rows, "sector", lambda i, v: "\u20ac" if i == 2 else v)
    ).encode("utf-16-le")  # one character outside Latin-1 breaks the pattern: ambiguous, refused
    files["latin1.csv"] = to_text(with_column(rows, "sector", lambda i, v: "caf\u00e9" if i == 4 else v)).encode(
        "latin-1"
    )
    files["control_chars.csv"] = text.replace("\n", "\x01\n", 30).encode()
    lines = text.split("\n")
    body = lines[1:12]
    body[2] += ",9,9"  # data line 3 (file line 4) has two fields too many
    files["ragged.csv"] = ("\n".join([lines[0], *body]) + "\n").encode()
    files["space_delimited.csv"] = to_text(rows, " ").encode()
    files["fake.xlsx"] = text.encode()
    files["fake.sav"] = text.encode()
    files["data.json"] = b'{"cap1": [1, 2, 3]}\n'
    files["legacy.xls"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)

    # --- readable, but wrong for the model ----------------------------------------------
    dup = [list(r) for r in rows]
    dup[0][dup[0].index("pow2")] = "cap2"
    files["duplicate_header.csv"] = to_text(dup).encode()
    dup_ws = [list(r) for r in rows]
    dup_ws[0][dup_ws[0].index("pow3")] = " pow1 "
    files["duplicate_header_space.csv"] = to_text(dup_ws).encode()
    files["out_of_range.csv"] = to_text(
        with_column(rows, "cap3", lambda i, v: ("8", "0", "12")[i % 3] if i in (2, 9, 17, 30) else v)
    ).encode()
    files["undeclared_minus99.csv"] = files["missing_code_99.csv"]
    files["inf_strings.csv"] = to_text(
        with_column(rows, "pow2", lambda i, v: ("inf", "-inf")[i % 2] if i in (5, 6) else v)
    ).encode()
    files["all_missing.csv"] = to_text(with_column(rows, "pow3", lambda i, v: "")).encode()
    files["all_nan_strings.csv"] = to_text(with_column(rows, "pow3", lambda i, v: "NaN")).encode()
    files["constant_item.csv"] = to_text(with_column(rows, "cap1", lambda i, v: "4")).encode()
    cap1 = [r[rows[0].index("cap1")] for r in rows[1:]]
    files["collinear.csv"] = to_text(with_column(rows, "cap2", lambda i, v: str(8 - int(cap1[i])))).encode()
    files["too_few_rows.csv"] = to_text(rows[:9]).encode()  # 8 respondents, 13 free parameters
    files["fewer_rows_than_items.csv"] = to_text(rows[:6]).encode()  # 5 respondents, 6 items: singular
    files["one_sector.csv"] = to_text(with_column(rows, "sector", lambda i, v: "nhs")).encode()
    files["tiny_group.csv"] = to_text(
        with_column(rows, "sector", lambda i, v: "voluntary" if i in (0, 1, 2) else ("nhs" if i % 2 else "council"))
    ).encode()
    files["missing_item.csv"] = to_text([r[:-1] for r in rows]).encode()  # no pow3
    files["bool_item.csv"] = to_text(
        with_column(rows, "cap1", lambda i, v: "True" if int(v) > 4 else "False")
    ).encode()
    files["decimal_codes.csv"] = to_text(with_column(rows, "pow2", lambda i, v: "4.5" if i == 0 else v)).encode()
    files["big.csv"] = files["base.csv"]  # refused under a small ASYMTRUST_MAX_FILE_BYTES

    # --- model files ------------------------------------------------------------------------
    files["garbage.lav"] = bytes((i * 91 + 7) % 256 for i in range(300))
    files["typo.lav"] = b"Cap =~ cap1 + cap2 + cap3\nPow =~ pow1 + pow2 + pwo3\nPow ~ Cap\n"
    files["bad.toml"] = b"name = 'x'\ntitle = [unclosed\n"
    files.update(io_files(rows))  # issue 12: reading (cases_io.toml)
    # issue 12: a value whose moments overflow (cases_engine.toml)
    files["huge_value.csv"] = to_text(with_column(rows, "cap2", lambda i, v: "1e200" if i == 3 else v)).encode()
    return files


def write(dest: Path = FILES) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in sorted(build().items()):
        path = dest / name
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written


# ----------------------------------------------------------------------------- issue 12: reading
def xlsx_bytes(sheets: list[tuple[str, list[list[object]]]]) -> bytes:
    """A minimal, byte-for-byte reproducible XLSX workbook (no styles, inline strings, zip
    entries stored uncompressed with a fixed date), written without openpyxl so that the
    corpus does not change with its version or the clock.

    A cell is a number, a text, ``("=", "C2+D2")``: a formula stored *without* a
    computed value, as written by programs that do not calculate, or
    ``("=", "C2+D2", 9)``: a formula with its computed value, as Excel saves it.
    """
    import zipfile
    from xml.sax.saxutils import escape

    def col_name(j: int) -> str:
        out = ""
        j += 1
        while j:
            j, r = divmod(j - 1, 26)
            out = chr(65 + r) + out
        return out

    def cell(ref: str, v: object) -> str:
        if isinstance(v, tuple):
            cached = f"<v>{v[2]}</v>" if len(v) > 2 else ""
            return f'<c r="{ref}"><f>{escape(str(v[1]))}</f>{cached}</c>'
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f'<c r="{ref}"><v>{v}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(v))}</t></is></c>'

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="{ct}.worksheet+xml"/>'
                      for i in range(len(sheets)))
            + "</Types>"
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{main}" xmlns:r="{rel}">'
            "<sheets>"
            + "".join(f'<sheet name="{escape(name)}" sheetId="{i + 1}" r:id="rId{i + 1}"/>'
                      for i, (name, _) in enumerate(sheets))
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{pkg}">'
            + "".join(f'<Relationship Id="rId{i + 1}" Type="{rel}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
                      for i in range(len(sheets)))
            + "</Relationships>"
        ),
    }
    for i, (_, rows) in enumerate(sheets):
        body = "".join(
            f'<row r="{r + 1}">' + "".join(cell(f"{col_name(j)}{r + 1}", v) for j, v in enumerate(row) if v != "")
            + "</row>"
            for r, row in enumerate(rows)
        )
        parts[f"xl/worksheets/sheet{i + 1}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{main}">'
            f"<sheetData>{body}</sheetData></worksheet>"
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, text.encode("utf-8"))
    return buf.getvalue()


def io_files(rows: list[list[str]]) -> dict[str, bytes]:
    """Files of the reading cases (issue 12, ``cases_io.toml``)."""
    files: dict[str, bytes] = {}
    numeric = [rows[0]] + [[int(v) if v.lstrip("-").isdigit() else v for v in r] for r in rows[1:]]

    # a long free-text answer (2,000 characters, refused under ASYMTRUST_MAX_FIELD_CHARS=1000)
    long_rows = [rows[0] + ["comment"]] + [r + ["x" * 2000 if i == 3 else "fine"] for i, r in enumerate(rows[1:])]
    files["long_field.csv"] = to_text(long_rows).encode()

    # Stata's missing values as a CSV export writes them: ".", ".a", ".b"
    files["stata_missing.csv"] = to_text(
        with_column(rows, "pow1", lambda i, v: (".a", ".b", ".")[i % 3] if i % 10 == 4 else v)
    ).encode()

    # a text answer with an unquoted comma on data line 12 (one field too many), not the first
    lines = to_text([rows[0] + ["comment"]] + [r + ["fine"] for r in rows[1:]]).split("\n")
    lines[12] = lines[12][: -len("fine")] + "good, but slow"
    files["unquoted_comma.csv"] = "\n".join(lines).encode()

    # a workbook whose first sheet is a read-me; the answers are on the sheet named "2024"
    readme = [["This workbook holds the staff survey of 2023 and 2024 (SYNTHETIC data)."],
              ["The answers are on the sheets named after the year; codes run from 1 to 7."]]
    files["readme_first.xlsx"] = xlsx_bytes([("ReadMe", readme), ("2023", numeric[:21]), ("2024", numeric)])

    # formulas without computed values: cap3 = ROUND((cap1 + cap2) / 2, 0), never calculated
    j1, j2, j3 = (rows[0].index(c) for c in ("cap1", "cap2", "cap3"))
    formula_rows = [list(numeric[0])]
    for r, row in enumerate(numeric[1:], start=2):
        row = list(row)
        row[j3] = ("=", f"ROUND(({chr(65 + j1)}{r}+{chr(65 + j2)}{r})/2,0)")
        formula_rows.append(row)
    files["formula_no_values.xlsx"] = xlsx_bytes([("answers", formula_rows)])
    return files


if __name__ == "__main__":  # pragma: no cover
    paths = write()
    print(f"wrote {len(paths)} files to {FILES}", file=sys.stderr)
