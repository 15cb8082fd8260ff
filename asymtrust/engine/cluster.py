"""Clustered data (issue 16): cluster identifiers, cluster-robust first-order information
and the two-level saturated moments.

* :func:`cluster_codes` reads a cluster column (lavaan's ``cluster=``) into integer codes,
  refusing a missing column, missing values and a single cluster;
* :func:`check_cluster_options` refuses the options lavaan does not combine with
  ``cluster=`` for a single-level model (and those asymtrust has not built), by name;
* :func:`attach_clusters` gives every :class:`~asymtrust.engine.samplestats.GroupSample`
  the cluster code of each of its rows, in the order its case-wise scores are stacked
  (the rows; under FIML the missing-data patterns, as ``missing_patterns`` orders them);
* :func:`cluster_sum` is lavaan's cluster-robust meat (``lav_mvnorm_information_firstorder``
  and ``lav_mvnorm_missing_information_firstorder`` with ``cluster.idx``): the case-wise
  scores summed within each cluster, times sqrt(nC / (nC - 1)), nC the number of
  clusters of the group; B = (1/N) sum_c s_c s_c';

The two-level saturated model (lavaan's H1 of clustered data, behind the ICCs) and
two-level ML are in :mod:`asymtrust.engine.estimators.twolevel`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import DataError, OptionError
from .samplestats import GroupSample



# ----------------------------------------------------------------------------- cluster column
def cluster_codes(data: pd.DataFrame, cluster: str) -> np.ndarray:
    """Integer codes (0..nC-1, in order of first appearance) of ``data[cluster]``.

    Raises :class:`DataError` for a missing column, missing (or empty-text) values and a
    column with a single cluster."""
    if not isinstance(cluster, str) or cluster not in data.columns:
        raise DataError(f"cluster column {cluster!r} is not in the data")
    col = data[cluster]
    miss = col.isna().to_numpy()
    if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
        miss = miss | col.astype(str).str.strip().eq("").to_numpy()
    if miss.any():
        rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(miss)[:5])
        raise DataError(f"cluster column {cluster!r} has {int(miss.sum())} missing value(s) (data row(s) {rows}"
                        f"{', ...' if miss.sum() > 5 else ''}); every respondent needs a cluster")
    codes, uniques = pd.factorize(col, sort=False)
    if len(uniques) < 2:
        raise DataError(f"cluster column {cluster!r} has a single cluster ({uniques[0]!r}); "
                        "clustered data need at least two clusters")
    return np.asarray(codes, dtype=np.int64)


def check_cluster_options(family, *, se: str, moments: bool = False) -> None:
    """Refuse, by name, what lavaan does not combine with ``cluster=`` in a single-level
    model and what asymtrust does not compute (yet)."""
    if moments:
        raise OptionError("cluster= needs the raw rows: it cannot be combined with sample_cov=")
    if getattr(family, "estimator", None) != "ML" or getattr(family, "likelihood", "normal") != "normal":
        raise OptionError(f"cluster= with estimator={family.estimator!r}: cluster-robust inference is available "
                          "for estimator='MLR' (with missing='listwise' or 'fiml')")
    if not family.robust:  # plain ML is swapped for MLCluster before (estimators/clustered.py)
        raise OptionError(f"cluster= with estimator={family.estimator!r} and missing={family.missing!r} is not "
                          "supported yet (lavaan's h1 information of incomplete data); use estimator='MLR'")
    if se in ("standard", "bootstrap"):
        raise OptionError(f"cluster= with se={se!r}: lavaan allows only se='robust' (robust.cluster) or 'none' "
                          "with clustered data")


# ----------------------------------------------------------------------------- codes on the samples
def _pattern_order(X: np.ndarray) -> np.ndarray:
    """Positions of the rows of ``X`` in the order :func:`~asymtrust.engine.samplestats.missing_patterns`
    stacks them (pattern by pattern, rows with nothing observed left out)."""
    keys, inverse = np.unique(~np.isnan(X), axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    return np.concatenate([np.flatnonzero(inverse == k) for k, key in enumerate(keys) if key.any()]
                          or [np.empty(0, int)])


def attach_clusters(samples: list[GroupSample], blocks: list[np.ndarray], codes: list[np.ndarray]) -> None:
    """Set ``cluster`` on each sample: the code of each row, in the order of its scores.
    Refuses a group whose rows all sit in one cluster."""
    for g, (s, X, c) in enumerate(zip(samples, blocks, codes)):
        if len(np.unique(c)) < 2:
            raise DataError(f"group {g + 1} has its rows in a single cluster; cluster-robust inference needs at "
                            "least two clusters per group")
        if s.missing:
            keep = ~np.all(np.isnan(X), axis=1)
            c = c[keep][_pattern_order(X[keep])]
        s.cluster = np.asarray(c, dtype=np.int64)


def cluster_sum(scores: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """Case-wise scores summed within clusters, times sqrt(nC / (nC - 1)) (lavaan's
    small-sample correction); unchanged without codes."""
    if codes is None:
        return scores
    if np.all(codes[1:] >= codes[:-1]):  # rows already in cluster order (the usual file): no reordering copy
        sorted_codes = codes
    else:
        order = np.argsort(codes, kind="stable")
        sorted_codes, scores = codes[order], scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    nC = len(starts)
    return np.add.reduceat(scores, starts, axis=0) * np.sqrt(nC / (nC - 1.0))
