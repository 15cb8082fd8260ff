"""What this machine can give a computation: usable cores and available memory.

One place for both, so that every limit (workers, replicates, simulated rows, figure
size) is judged the same way and refused with a typed error *before* allocating.
"""
from __future__ import annotations

import os

from .exceptions import ResourceLimitError

#: share of the currently available memory one request may plan to use
MEMORY_SHARE = 0.5


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes of memory available now (``MemAvailable`` of ``/proc/meminfo``, capped by a
    cgroup limit when there is one), or None when it cannot be read."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        return None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
            if text.isdigit() and avail is not None:
                avail = min(avail, int(text))
        except OSError:
            continue
    return avail


def check_memory(needed: float, what: str) -> None:
    """Refuse a request whose estimated memory exceeds :data:`MEMORY_SHARE` of what
    is available.

    Parameters
    ----------
    needed : float
        Estimated bytes.
    what : str
        The request as the user wrote it (``"--n 100000000"``), named in the message.

    Raises
    ------
    ResourceLimitError
    """
    avail = available_memory()
    if avail is None:
        return
    if needed > MEMORY_SHARE * avail:
        raise ResourceLimitError(f"{what} needs about {needed / 2**30:.1f} GiB of memory, more than half of the "
                                 f"{avail / 2**30:.1f} GiB available; ask for less")
