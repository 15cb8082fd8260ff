"""Every error asymtrust raises on purpose.

All of them derive from :class:`AsymtrustError`. Each message is one line that
names what is wrong and where (column, line, parameter, row count). The CLI
prints ``str(exc)`` and exits with status 2.
"""
from __future__ import annotations


class AsymtrustError(Exception):
    """Base class of all asymtrust errors."""

    def __init__(self, message: str):
        # keep messages to one line whatever the caller passed
        super().__init__(" ".join(str(message).split()))


# --- model specifications and syntax -------------------------------------------------
class SpecError(AsymtrustError):
    """A model specification (name, file or metadata) is unknown or malformed."""


class SyntaxModelError(SpecError):
    """lavaan model syntax cannot be parsed. Message names the line."""


class UnknownVariableError(SpecError):
    """The syntax names a variable that is neither latent nor a data column."""


class DuplicateDefinitionError(SpecError):
    """A parameter or `:=` name is defined twice."""


class IdentificationError(SpecError):
    """The model has negative df, or a parameter that is not identified."""


class LabelError(SpecError):
    """A label is used with conflicting meanings, or a `:=`/constraint references an unknown label."""


# --- data ---------------------------------------------------------------------------
class DataError(AsymtrustError):
    """Survey data cannot be read or used."""


class SurveyReadError(DataError):
    """A survey file cannot be read (empty, binary, unknown format, bad encoding)."""


class ValidationError(DataError):
    """Survey data fail validation (missing items, bad codes, constant items, ...)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [message])


class InsufficientDataError(DataError):
    """Too few (complete) cases for the number of free parameters, or a group too small."""


class GroupError(DataError):
    """A grouping column is missing, has a single level, or a group is too small."""


# --- estimation ---------------------------------------------------------------------
class EstimationError(AsymtrustError):
    """The model could not be estimated at all (as opposed to a non-converged fit, which is a warning)."""


# --- options and output -------------------------------------------------------------
class OptionError(AsymtrustError):
    """An option value is invalid (e.g. bootstrap count <= 0, unknown estimator)."""


class OutputError(AsymtrustError):
    """An output location is not writable, or exists and ``force`` was not given."""


class ResourceLimitError(AsymtrustError):
    """A user-controlled size (replicates, file size) exceeds the configured limit."""
