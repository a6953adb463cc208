"""Argument checks shared by every module.

Each returns the argument converted, or raises ``ValueError`` whose message
starts with the argument's name, then what was expected and what came:
``"L: expected a positive integer, got 2.5"``.
"""

import numpy as np


def numeric_array(name, value, min_ndim=0, what="an array of numbers", *,
                  keep_float32=False, allow_complex=False):
    """``value`` as a float64 (or complex128) ndarray with at least ``min_ndim`` axes.

    keep_float32: leave float32 input in float32 (as torch does) instead of float64.
    allow_complex: accept complex input; otherwise complex raises.
    No copy is made when the input already has the target dtype.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name}: expected {what}, got {type(value).__name__} ({exc})") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: expected {what}, got dtype {arr.dtype}")
    if np.iscomplexobj(arr) and not allow_complex:
        raise ValueError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim < min_ndim:
        raise ValueError(f"{name}: expected {what}, got shape {arr.shape}")
    if keep_float32 and arr.dtype == np.float32:
        return arr
    return arr.astype(np.result_type(arr.dtype, np.float64), copy=False)


def integer(name, value, minimum=1):
    """``value`` as an int >= ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        wanted = {1: "a positive integer", 0: "a non-negative integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name}: expected {wanted}, got {value!r}")
    return int(value)


def positive(name, value, scalar=True, allow_zero=False):
    """``value`` as float64 > 0 (>= 0 with ``allow_zero``) and finite everywhere.

    scalar: a single number, returned as a Python float; otherwise an array of them.
    """
    bound = "non-negative" if allow_zero else "positive"
    what = f"a {bound} real number" if scalar else f"{bound} real numbers"
    if isinstance(value, bool) or np.asarray(value).dtype == bool:
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    arr = numeric_array(name, value, what=what)
    if scalar and arr.ndim != 0:
        raise ValueError(f"{name}: expected {what}, got shape {arr.shape}")
    ok = arr >= 0 if allow_zero else arr > 0
    if not np.all(np.isfinite(arr)) or not np.all(ok):
        shown = float(arr) if arr.ndim == 0 else f"values in [{arr.min()}, {arr.max()}]"
        raise ValueError(f"{name}: expected {what}, got {shown}")
    return float(arr) if scalar else arr
