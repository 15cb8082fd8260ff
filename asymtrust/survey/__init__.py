"""Survey data in: reading files, checking them against a model, bundled and simulated data.

- :mod:`.read` — CSV/TSV/XLSX/SAV/DTA survey exports (``read_survey``);
- :mod:`.moments` — streaming sample moments of files too large to hold (``read_moments``);
- :mod:`.validation` — ``validate()`` a data set against a model, ``recode_reverse()``;
- :mod:`.datasets` — the bundled datasets and their registry;
- :mod:`.simulate` — Likert answers from a spec's population values.

Imports the model library (a model says which columns and how many parameters) and the
ground modules; never the engine, the analyses, the reports or the CLI.
"""

#: the help of ``--sheet``, the same on every command that reads data (kept here, in a
#: module without imports, so that ``asymtrust --help`` stays fast)
SHEET_HELP = "worksheet of an .xlsx file: its name, or its position counting from 0 (default: the first)"
