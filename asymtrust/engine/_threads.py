"""BLAS threading policy.

SEM fits multiply small matrices (tens of rows), where multi-threaded BLAS only adds
synchronisation cost: on a 2-core machine an oversubscribed OpenBLAS makes a fit 2-15
times slower. Every fit therefore runs with BLAS pinned to one thread (threadpoolctl);
parallelism comes from running replicates in separate processes
(:mod:`asymtrust.engine.resample`).
"""
from __future__ import annotations

import contextlib

_controller = None


def single_thread_blas():
    """Context manager limiting BLAS to one thread (cheap: the controller is cached)."""
    global _controller
    try:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        return _controller.limit(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl unavailable or unsupported BLAS
        return contextlib.nullcontext()
