"""Argument checks shared by every module, and the contract of the public API.

The contract (kept by ``tests/test_fuzz_api.py``, which walks every public
callable of every module and feeds it mutated inputs):

1. A public function, class or method either returns a correct result or
   raises ``ValueError`` (or ``TypeError``) whose message starts with the name
   of the argument at fault, then what was expected and what came:
   ``"L: expected a positive integer, got 2.5"``. Never an exception from
   NumPy, torch or Triton internals, never a silent wrong answer, never a hang.
2. Flags are ``bool`` (or ``np.bool_``): ``causal="no"`` is refused, not
   read as True (``flag``).
3. NumPy-side functions take array-likes consistently: ndarrays, lists,
   NumPy scalars, and torch tensors that do not require grad
   (``numeric_array``). A tensor that requires grad is refused with a message
   saying to ``.detach()`` it, because a NumPy function cannot return its
   gradient.
4. Torch-side modules take tensors of their parameters' dtype (float32 or
   float64) and refuse others by name (``torch_tensor``).
5. NaN or inf in *data* (an input sequence) passes through to the output where
   the docstring says so; NaN or inf in a *parameter* (a matrix, a step size,
   a coefficient) is refused (``finite``). An unstable or ill-posed choice
   warns once (``warn_once``).
6. A size that cannot finish on a laptop (more than ``MAX_ELEMENTS`` numbers
   in one array, ``MAX_STEPS`` steps of a Python loop) is refused up front with
   a message (``affordable``), rather than allocating for minutes or failing
   with ``MemoryError``.
7. Low-level kernels that skip the checks for speed are private (a leading
   underscore) or say "unchecked" in their docstring and are reached through a
   checked entry point.

Each check returns the argument converted, or raises ``ValueError``.
"""

import warnings

import numpy as np


def numeric_array(name, value, min_ndim=0, what="an array of numbers", *,
                  keep_float32=False, allow_complex=False):
    """``value`` as a float64 (or complex128) ndarray with at least ``min_ndim`` axes.

    keep_float32: leave float32 input in float32 (as torch does) instead of float64.
    allow_complex: accept complex input; otherwise complex raises.
    No copy is made when the input already has the target dtype, unless it is a view
    with a negative stride (then a copy, which torch.from_numpy accepts).
    """
    if value is None:
        raise ValueError(f"{name}: expected {what}, got None")
    value = _from_torch(name, value)
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
    if any(stride < 0 for stride in arr.strides):   # a reversed view (np.flip, [::-1]):
        arr = arr.copy()                             # torch.from_numpy refuses it
    if keep_float32 and arr.dtype == np.float32:
        return arr
    return arr.astype(np.result_type(arr.dtype, np.float64), copy=False)


def integer(name, value, minimum=1, maximum=None):
    """``value`` as an int >= ``minimum`` (and <= ``maximum``; bools are refused)."""
    if maximum is not None and isinstance(value, (int, np.integer)) and not isinstance(
            value, (bool, np.bool_)) and value > maximum:
        raise ValueError(f"{name}: expected an integer <= {maximum:,} (larger cannot finish on "
                         f"a laptop), got {value!r}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
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
    try:
        raw = np.asarray(_from_torch(name, value))
    except Exception:   # ragged lists and the like: numeric_array says what is wrong
        raw = None
    if isinstance(value, (bool, np.bool_)) or (raw is not None and raw.dtype == bool):
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    arr = numeric_array(name, value, what=what)
    if scalar and arr.ndim != 0:
        raise ValueError(f"{name}: expected {what}, got shape {arr.shape}")
    ok = arr >= 0 if allow_zero else arr > 0
    if not np.all(np.isfinite(arr)) or not np.all(ok):
        shown = float(arr) if arr.ndim == 0 else f"values in [{arr.min()}, {arr.max()}]"
        raise ValueError(f"{name}: expected {what}, got {shown}")
    return float(arr) if scalar else arr


MAX_ELEMENTS = 2 * 10**8
"""The most numbers one array may hold (1.6 GB in float64): more is refused up front."""

MAX_STEPS = 10**7
"""The most steps a Python-level loop may be asked for: more is refused up front."""

MAX_EIG_SIZE = 3_000
"""The largest n of a dense n x n eigenvalue problem (its time grows as n^3). Measured on
2 cores: s4.nplr("legs", 2000) 3.2 s (so about 11 s at 3,000), rnn.esn_reservoir(3000)
4.7 s; s4.nplr("legs", 5000) ran past 45 s."""

MAX_GAUSS_NODES = 6_000
"""The most Gauss-Legendre nodes one rule may have: NumPy's ``leggauss(n)`` solves an
n x n eigenvalue problem. Measured on 2 cores: 4,000 nodes 2.6 s, 8,000 nodes 24 s."""

MAX_WORK = 5 * 10**9
"""The most multiply-adds a loop of dense steps may be asked for (``hippo.online_coefficients``:
L steps of N^2 each). Measured on 2 cores: the ZOH LegS update costs about 5e-9 s per N^2,
so this is about 25 s."""


def dense_tensor(name, value):
    """``value`` unless it is a sparse or meta torch tensor, refused by name: the course's
    functions read a tensor's entries directly, and torch's sparse and meta tensors give
    them wrong results or torch's own errors."""
    import torch

    if value.layout != torch.strided or value.is_meta:
        kind = "a meta tensor" if value.is_meta else f"layout {value.layout}"
        raise ValueError(f"{name}: expected a dense tensor with data (torch.strided), "
                         f"got {kind}")
    return value


def _from_torch(name, value):
    """A torch tensor as a NumPy array (refused if it requires grad, is sparse or has no
    data); anything else as is."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        dense_tensor(name, value)
        if getattr(value, "requires_grad", False):
            raise ValueError(f"{name}: expected an array, got a torch tensor that requires "
                             "grad (a NumPy function cannot return its gradient: pass "
                             "x.detach())")
        return value.detach().cpu().numpy()
    return value


def flag(name, value):
    """``value`` as a bool; anything else (``"no"``, 1, None) is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def option(name, value, choices):
    """``value`` if it is one of ``choices`` (strings, compared exactly), else refused."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {listed}, got {value!r}")
    return value


def number(name, value, minimum=None, maximum=None, *, strict=False, what=None):
    """``value`` (a number, a NumPy scalar, a 0-d array or tensor) as a finite Python float
    in [minimum, maximum] (open at ``minimum`` with ``strict``); bools, None, strings,
    complex numbers, longer arrays and NaN are refused."""
    if what is None:
        parts = []
        if minimum is not None:
            parts.append(f"{'>' if strict else '>='} {minimum:g}")
        if maximum is not None:
            parts.append(f"<= {maximum:g}")
        what = "a finite real number" + (" " + " and ".join(parts) if parts else "")
    scalar = _from_torch(name, value)
    if isinstance(scalar, np.ndarray) and scalar.ndim == 0:   # a 0-d array or tensor
        scalar = scalar[()]
    ok = isinstance(scalar, (int, float, np.integer, np.floating)) and not isinstance(
        scalar, (bool, np.bool_))
    if ok:
        value = scalar
        x = float(value)
        ok = np.isfinite(x) and (minimum is None or (x > minimum if strict else x >= minimum)) \
            and (maximum is None or x <= maximum)
    if not ok:
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return x


def finite(name, arr, what="finite entries (no NaN or inf)"):
    """``arr`` (an array or a torch tensor) unchanged if every entry is finite, else
    refused (for parameters)."""
    values = arr.detach().cpu().numpy() if type(arr).__module__.startswith("torch") \
        else np.asarray(arr)
    ok = np.isfinite(values)
    if not np.all(ok):
        raise ValueError(f"{name}: expected {what}, got {values[~ok].flat[0]}")
    return arr


def not_bool(name, value, what):
    """``value`` unchanged unless it is a bool (Python, NumPy, or an array or tensor of
    them) where a number is due."""
    if isinstance(value, (bool, np.bool_)) or str(getattr(value, "dtype", "")) in (
            "bool", "torch.bool"):
        raise ValueError(f"{name}: expected {what}, got {value!r:.60}")
    return value


def token_ids(name, ids, ndim, axes, vocab=None):
    """``ids`` if it is a non-empty int64/int32 tensor with ``ndim`` axes (named ``axes``)
    and, given ``vocab``, every id in [0, vocab); else refused."""
    import torch

    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32) \
            or ids.ndim != ndim or ids.numel() == 0:
        got = (f"{ids.dtype} of shape {tuple(ids.shape)}" if isinstance(ids, torch.Tensor)
               else type(ids).__name__)
        raise ValueError(f"{name}: expected a non-empty int64 tensor of token ids {axes}, "
                         f"got {got}")
    if vocab is not None:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab:
            raise ValueError(f"{name}: expected token ids in [0, {vocab}), got ids from {lo} "
                             f"to {hi}")
    return ids


def function(name, value, what="a function"):
    """``value`` if it is callable, else refused."""
    if not callable(value):
        raise ValueError(f"{name}: expected {what}, got {type(value).__name__} {value!r:.60}")
    return value


def affordable(name, count, limit=MAX_ELEMENTS, what="numbers"):
    """Refuse a request for more than ``limit`` ``what`` (it could not finish on a laptop)."""
    if count > limit:
        raise ValueError(f"{name}: this asks for {count:,} {what}, more than the {limit:,} "
                         "that can finish on a laptop; use a smaller size")
    return count


def torch_tensor(name, value, ndim=None, dtype=None, axes=None, nonempty=True):
    """``value`` if it is a floating torch tensor with ``ndim`` axes (named ``axes`` in the
    message) and ``dtype`` (by default float32 or float64), else refused."""
    import torch

    wanted = axes or (f"{ndim} axes" if ndim is not None else "a tensor")
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name}: expected a torch tensor {wanted}, got {type(value).__name__}")
    dense_tensor(name, value)
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name}: expected a tensor {wanted}, got shape {tuple(value.shape)}")
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty tensor {wanted}, got shape "
                         f"{tuple(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {dtype}, got {value.dtype}")
    if dtype is None and value.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name}: expected dtype torch.float32 or torch.float64, got "
                         f"{value.dtype}")
    return value


_warned = set()


def warn_once(message, category=RuntimeWarning, key=None, stacklevel=3):
    """``warnings.warn(message)`` the first time ``key`` (default: the message) is seen."""
    key = message if key is None else key
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, category, stacklevel=stacklevel)


def layer_input(name, x, axes, width, like):
    """``x`` if it is a tensor with ``axes`` (e.g. "(batch, L, H)"), the last of size
    ``width``, none empty, of the dtype and device of the parameter ``like``; else refused.
    The input check of every torch layer's forward and step."""
    ndim = axes.count(",") + 1
    torch_tensor(name, x, ndim=ndim, dtype=like.dtype, axes=f"{axes} with width {width}")
    if x.shape[-1] != width:
        raise ValueError(f"{name}: expected a tensor {axes} with width {width}, got shape "
                         f"{tuple(x.shape)}")
    if x.device != like.device:
        raise ValueError(f"{name}: expected a tensor on {like.device} (the layer's), got one "
                         f"on {x.device}")
    import torch

    if x.is_inference() and torch.is_grad_enabled() and like.requires_grad:
        raise ValueError(f"{name}: got a tensor made under torch.inference_mode(), which "
                         "autograd cannot record; call the layer inside "
                         "torch.inference_mode() (or torch.no_grad()), or pass x.clone()")
    return x
