#!/usr/bin/env bash
# Regenerate the stored reference results under tests/reference/ (lavaan, psych, semTools).
#
# Needs R with lavaan 0.6-14, jsonlite and digest (Debian/Ubuntu: r-cran-lavaan,
# r-cran-jsonlite, r-cran-digest) and Python with numpy/pandas (for the fig1 mask).
# CI never runs this; the JSON files are committed. After running, review
# `git diff tests/reference/lavaan` and run `python -m pytest tests/test_lavaan_reference.py`.
#
# Usage: scripts/refresh_references.sh [GROUP ...]   (default: hs pd mg fig1)
#   hs pd mg fig1      the estimation cases in tests/reference/lavaan/
#   partable start scaled dropped   lavaan's parTable/start values; badly scaled data; dropped rows
#   rules constraints  lavaan's conventions (issue 14); nonlinear and inequality constraints
#   datasets effects improper invariance moments power reliability specs
#   ordinal nested diagnostics efa esem dyadic   round two (issues 15-19)
#   lavaan-check       lavaan's own regression harness (tests/reference/lavaan-check/)
#                      the other folders (each folder's Python input maker, if any, then its R scripts)
#   all                every group
# The HS/PD CSVs are read from $ASYMTRUST_REF_DATA (default /work/shared/reference)
# or, if absent there, from datasets/ (byte-identical copies; the sha256 is recorded).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REF="$ROOT/tests/reference/lavaan"
PYTHON="${PYTHON:-python}"

command -v Rscript >/dev/null || { echo "refresh_references: Rscript not found on PATH" >&2; exit 2; }
have="$(Rscript -e 'cat(as.character(packageVersion("lavaan")))')"
if [[ "$have" != "0.6.14" ]]; then
  echo "refresh_references: lavaan $have installed, the references are for 0.6.14" >&2
  [[ "${ALLOW_OTHER_LAVAAN:-0}" == 1 ]] || exit 2
fi

cases=("$@")
[[ ${#cases[@]} -eq 0 ]] && cases=(hs pd mg fig1)
[[ "${cases[0]}" == all ]] && cases=(hs pd mg fig1 partable start scaled dropped rules constraints datasets effects improper
  invariance moments power reliability specs lavaan-check ordinal nested diagnostics efa esem dyadic)

run_r() {  # a script naming its output by a path from the repository root runs there, others in their folder
  if grep -q "tests/reference" "$1"; then (cd "$ROOT" && Rscript "$1"); else (cd "$(dirname "$1")" && Rscript "$(basename "$1")"); fi
}

run_folder() {  # $1 = folder under tests/reference; Python input makers first, then the R scripts
  local dir="$ROOT/tests/reference/$1" f
  for f in "$dir"/make_*.py; do [[ -f "$f" ]] && "$PYTHON" "$f"; done
  for f in "$dir"/*.R; do
    [[ "$(basename "$f")" == _* ]] && continue  # shared helpers are sourced, not run
    run_r "$f"
  done
}

for c in "${cases[@]}"; do
  case "$c" in
    hs|pd|mg)
      Rscript "$REF/${c}_cases.R" ;;
    fig1)
      if [[ ! -f "$ROOT/datasets/bcf_synthetic.csv" || ! -f "$ROOT/specs/fig1.lav" ]]; then
        echo "refresh_references: datasets/bcf_synthetic.csv or specs/fig1.lav missing; fig1 skipped" >&2
        continue
      fi
      "$PYTHON" "$REF/fig1_mask.py"
      Rscript "$REF/fig1_cases.R" ;;
    partable)
      Rscript "$REF/partable/make_partables.R" ;;
    start)
      Rscript "$REF/start/start_cases.R" ;;
    scaled|dropped|rules|constraints)
      run_r "$REF/$c/${c}_cases.R" ;;
    lavaan-check)
      Rscript "$ROOT/tests/reference/lavaan-check/run_lavaan_check.R" ;;
    datasets|effects|improper|invariance|moments|power|reliability|specs|ordinal|nested|diagnostics|efa|esem|dyadic)
      run_folder "$c" ;;
    *)
      echo "refresh_references: unknown group '$c' (see the usage at the top of this script)" >&2; exit 2 ;;
  esac
done
