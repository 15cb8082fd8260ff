"""Write the population-model inputs read by specs_lavaan.R.

Run from the repository root::

    python tests/reference/specs/make_inputs.py
    Rscript tests/reference/specs/specs_lavaan.R

Each ``population__<spec>__<group>.lav`` is ``asymtrust.survey.simulate.population_syntax(spec, group)``
(group ``base`` = no sector overrides). tests/test_simulate.py checks that these files are
still what population_syntax() produces, so the R reference cannot go stale silently.
"""
from pathlib import Path

from asymtrust.survey.simulate import population_syntax

HERE = Path(__file__).resolve().parent

#: (spec, group) pairs cross-checked against lavaan
CASES = [
    ("fig1", None), ("fig1", "nhs"), ("fig1", "council"), ("fig1", "voluntary"),
    ("fig1_cfa", "voluntary"), ("fig1_direct", None), ("fig1_moderated", None),
    ("fig1_moderated", "council"), ("fig1_single_trust", "council"), ("hp2018", "voluntary"),
    ("fig1_dyadic", None),
]


def case_file(spec: str, group: str | None) -> Path:
    return HERE / f"population__{spec}__{group or 'base'}.lav"


if __name__ == "__main__":
    for spec, group in CASES:
        case_file(spec, group).write_text(population_syntax(spec, group), encoding="utf-8")
        print("wrote", case_file(spec, group).name)
