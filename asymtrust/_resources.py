"""What this machine can give a computation: usable cores and available memory.

One place for both, so that every limit (workers, bootstrap and power replicates,
simulated rows, figure size) is judged the same way and refused with a typed error
*before* anything is allocated.
"""
from __future__ import annotations

import os
import re
from typing import Any

from .exceptions import OptionError, ResourceLimitError

#: share of the available memory one request may plan to use
MEMORY_FRACTION = 0.5

_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def usable_cores() -> int:
    """CPU cores this process may run on: ``len(os.sched_getaffinity(0))`` where the
    platform has it (it honours ``taskset`` and container CPU sets), else ``os.cpu_count()``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_bytes(raw: str) -> int:
    """``"512M"`` -> 536870912 (units K, M, G, T, powers of 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", raw.upper())
    if not m or float(m.group(1)) <= 0:
        raise OptionError(f"ASYMTRUST_MAX_MEMORY must be a positive size such as 512M or 2G, not {raw!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def env_positive_int(name: str, default: int, unit: str) -> int:
    """A positive whole number from the environment variable ``name`` (``default`` when
    unset); ``unit`` names what it counts in the error message.

    Raises
    ------
    OptionError
        The variable is set to anything but a positive integer.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise OptionError(f"{name} must be a positive integer number of {unit}, got {raw!r}")
    return value


def fmt_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} TiB"  # pragma: no cover


def available_memory() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes; else free physical pages
    (``os.sysconf``); None when neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    parts = line.split()
                    return int(parts[1]) * (1024 if len(parts) < 3 or parts[2].lower() == "kb" else 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return int(pages) * int(size) if pages > 0 and size > 0 else None


def memory_budget() -> tuple[int | None, str]:
    """The memory one request may take, and where that figure comes from.

    :data:`MEMORY_FRACTION` (half) of the available memory, or ``ASYMTRUST_MAX_MEMORY``
    (bytes, or with a suffix: ``512M``, ``2G``) when that is smaller. ``(None, "")``
    when neither is known: no check is made.
    """
    avail = available_memory()
    budget, why = (None, "")
    if avail is not None:
        budget, why = int(avail * MEMORY_FRACTION), f"half of the {fmt_bytes(avail)} of memory available"
    raw = os.environ.get("ASYMTRUST_MAX_MEMORY", "").strip()
    if raw:
        cap = parse_bytes(raw)
        if budget is None or cap < budget:
            budget, why = cap, f"ASYMTRUST_MAX_MEMORY = {raw}"
    return budget, why


def check_memory(estimate: float, *, option: str, value: Any, what: str = "the stored replicates") -> None:
    """Refuse a request whose estimated memory exceeds :func:`memory_budget`, before any work.

    Parameters
    ----------
    estimate : float
        Estimated peak bytes.
    option, value : str, any
        The option as the user set it (``"n"``, ``100000000``), named in the message.
    what : str
        What would take the memory (``"the simulated data"``).

    Raises
    ------
    ResourceLimitError
        Naming ``option = value``, the estimate and the budget.
    """
    budget, why = memory_budget()
    if budget is not None and estimate > budget:
        raise ResourceLimitError(f"{option} = {value}: {what} would need about {fmt_bytes(estimate)} of memory, "
                                 f"more than the {fmt_bytes(budget)} allowed ({why}); lower {option}")
