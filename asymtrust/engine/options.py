"""lavaan options ``fit()`` does not have (yet): a typed refusal instead of Python's ``TypeError``.

lavaan's ``sem()`` takes many options (``lavOptions()``). ``fit()`` takes the ones asymtrust
implements as keyword parameters; every other keyword lands here
(:func:`check_lavaan_options`):

* an option whose value is lavaan's ``sem()`` default changes nothing and is accepted
  (``int_ov_free=True``, ``orthogonal=False``, ``ordered=None`` ...);
* ``int_ov_free``, ``int_lv_free`` and ``auto_cov_y``: lavaan's ``sem()`` silently
  overrides them with its defaults (only ``lavaan()`` honours them); ``fit()`` is ``sem()``,
  so another value is refused rather than ignored (the parameter table honours them:
  :func:`asymtrust.library.partable.build_partable`);
* an option that a planned issue brings is refused with an :class:`OptionError` naming the
  option and that issue (``sampling_weights``, ``level_label``: the nested-data issue; ``cluster=``
  itself is a parameter of ``fit()``);
* any other lavaan option is refused as not supported; a name lavaan does not know either
  is refused as unknown.

Option names may be given with lavaan's dots or with underscores (``int.ov.free`` or
``int_ov_free``).
"""
from __future__ import annotations

import numpy as np

from ..exceptions import OptionError

_NONE = (None, False, (), [], "")

#: option -> the values that are lavaan's sem() default (accepted as no-ops)
SEM_DEFAULTS: dict[str, tuple] = {
    "int_ov_free": (True,), "int_lv_free": (False,), "auto_fix_first": (True,),
    "auto_fix_single": (True,), "auto_var": (True,), "auto_cov_lv_x": (True,), "auto_cov_y": (True,),
    "auto_th": (True,), "auto_delta": (True,), "auto_efa": (True,),
    "orthogonal_y": (False,), "orthogonal_x": (False,), "orthogonal_efa": (False,),
    "std_ov": (False,), "conditional_x": (False,), "fixed_x": (True,),
    "ordered": _NONE, "cluster": _NONE, "sampling_weights": _NONE, "rotation": ("geomin",),
    "rotation_se": ("bordered",), "rotation_args": _NONE,
    "likelihood": ("default", "normal"), "test": ("default",), "parameterization": ("default", "delta"),
    "mimic": ("default", "lavaan"), "level_label": _NONE, "ceq_simple": (False,),
    "effect_coding": (False, ""), "sample_cov_rescale": ("default",), "zero_add": ("default",),
    "std_lv": (False,), "group_w_free": (False,), "representation": ("LISREL",),
    "do_fit": (True,), "check_start": (True,), "check_post": (True,), "check_vcov": (True,),
    "check_lv_names": (True,), "check_gradient": (True,), "bounds": ("none", False),
    "warn": (True, False), "verbose": (True, False), "debug": (False,),  # display only
}

_ORDINAL = "the ordinal-data issue (issue 15: polychoric correlations, thresholds, WLSMV)"
_NESTED = "the nested-data issue (issue 16: sampling weights and level labels are not built yet)"
_ESTIMATORS = "issue 14 (estimators for continuous data: GLS, WLS, ULS and likelihood='wishart')"

#: options lavaan's sem() sets itself, whatever the user gives (R/lav_fit_sem.R's sem())
SEM_OVERRIDES = {"int_ov_free", "int_lv_free", "auto_fix_first", "auto_fix_single", "auto_var",
                 "auto_cov_lv_x", "auto_cov_y"}

#: option -> the issue that brings it
COMING: dict[str, str] = {
    "auto_th": _ORDINAL, "auto_delta": _ORDINAL,  # ordered= and parameterization= are fit()'s own
    "zero_add": _ORDINAL, "zero_keep_margins": _ORDINAL, "zero_cell_warn": _ORDINAL,
    "cluster": _NESTED, "level_label": _NESTED, "sampling_weights": _NESTED,
    "sampling_weights_normalization": _NESTED,
    "likelihood": _ESTIMATORS, "test": _ESTIMATORS,
}

#: the other options of lavaan 0.6-14 (lavOptions()), not supported
LAVAAN_OTHER = {
    "int_ov_free", "int_lv_free", "auto_fix_first", "auto_fix_single", "auto_var", "auto_cov_lv_x",
    "auto_cov_y", "orthogonal_y", "orthogonal_x", "std_ov", "conditional_x",
    "mimic", "ceq_simple", "effect_coding", "group_w_free", "representation", "do_fit", "check_start",
    "check_post", "check_vcov", "check_lv_names", "check_gradient", "bounds", "debug", "warn", "verbose",
    "sample_cov_rescale", "sample_nobs", "sample_th", "ridge", "ridge_constant", "wls_v", "nacov",
    "ov_order", "add_attributes", "h1", "baseline", "implied", "loglik", "optim_method", "optim_force_converged",
    "optim_gradient", "optim_init_nelder_mead", "optim_dx_tol", "control", "constraints", "slotOptions",
    "slotParTable", "slotSampleStats", "slotData", "slotModel", "slotCache", "sloth1", "x_scores",
    "scaled_test", "ug2_old_approach", "bootstrap_parallel", "iseed", "group_label", "group_partial",
    "gamma_n_minus_one", "gamma_unbiased", "observed_information", "h1_information", "h1_information_meat",
    "information_meat", "omega_information", "omega_h1_information", "omega_h1_information_meat",
    "start", "model_type", "std_lv", "missing", "fixed_x", "em_iter_max", "em_fx_tol", "em_dx_tol",
    "em_zerovar_offset", "em_h1_iter_max", "em_h1_tol", "em_h1_warn", "estimator_args", "correlation",
    "marker_int_zero", "ov_names_x", "sample_cov_robust", "sample_icov", "cat_wls_w", "fixed_x",
    "orthogonal_efa", "se", "information", "bootstrap", "meanstructure", "auto_efa", "rotation_se",
}

#: lavaan options that are keywords of fit() (given with lavaan's dots, they land here)
FIT_KEYWORDS = {"rotation", "rotation_args"}


def _name(key: str) -> str:
    return str(key).replace(".", "_")


def _is_default(key: str, value) -> bool:
    for d in SEM_DEFAULTS.get(key, ()):
        try:
            if isinstance(d, bool) or isinstance(value, bool):
                if value is d:
                    return True
            elif d == value or (d in ((), [], "") and isinstance(value, (list, tuple, str)) and len(value) == 0):
                return True
        except (TypeError, ValueError):  # e.g. an array compared with a tuple
            continue
    return False


def check_lavaan_options(options: dict) -> list[str]:
    """Refuse (typed, one line) every option in ``options`` that is not a no-op.

    ``options`` holds the keywords ``fit()`` has no parameter for. An option whose value is
    lavaan's ``sem()`` default is accepted; an option lavaan's ``sem()`` itself overrides
    (``int.ov.free``, ``auto.cov.y`` ...: :data:`SEM_OVERRIDES`) is overridden the same way,
    and the returned warnings say so (the fit reports them); any other raises
    :class:`OptionError` naming the option and whether an issue brings it or it is not
    supported.
    """
    overridden = []
    for key, value in options.items():
        k = _name(key)
        if _is_default(k, value):
            continue
        shown = f"{key}={value!r}"
        if k in FIT_KEYWORDS:
            raise OptionError(f"option {key!r} is a keyword of fit(): give it as {k}=... (efa() sets only)")
        if k in COMING:
            raise OptionError(f"option {shown} is not supported yet: it is coming with {COMING[k]}")
        if k in SEM_OVERRIDES:
            if not isinstance(value, (bool, np.bool_)):
                raise OptionError(f"option {shown} must be True or False")
            overridden.append(f"option {shown} was overridden with {SEM_DEFAULTS[k][0]}, as lavaan's sem() "
                              "overrides it (only lavaan() honours it); write the rows you want in the model syntax")
            continue
        if k in LAVAAN_OTHER or k in SEM_DEFAULTS:
            raise OptionError(f"option {shown} is a lavaan option asymtrust does not support "
                              "(only lavaan's sem() default is accepted for it)")
        raise OptionError(f"unknown option {key!r}: neither asymtrust nor lavaan has it")
    return overridden
