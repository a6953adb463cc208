"""The selective scan's argument checks, shared by every backend (``seqlearn.mamba``'s
NumPy and torch forms, ``mamba_triton``, ``mamba_numba``) and the blocks built on it
(``mamba.MambaBlock``, ``ssd.Mamba2Block``): one definition of each, in a module that
imports no other chapter, so the backends need not import each other.

Shapes (the reference Mamba layout): u, delta, z (batch, d, L); A (d, n); B, C
(batch, n, L); D, delta_bias (d,); a step's state (batch, d, n).
"""

import numpy as np
import torch

from seqlearn._checks import dense_tensor, finite, numeric_array


def _shape_str(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _block_state(state, conv_shape, ssm_shape, dtype):
    """A block's ``step`` state, checked: (conv_state conv_shape, ssm_state ssm_shape), both
    torch tensors of ``dtype`` (as from the block's ``initial_state``). Returns the pair."""
    shapes = (tuple(conv_shape), tuple(ssm_shape))
    if (not isinstance(state, (tuple, list)) or len(state) != 2
            or any(not isinstance(s, torch.Tensor) or tuple(s.shape) != shape
                   or s.dtype != dtype for s, shape in zip(state, shapes))):
        raise ValueError(f"state: expected (conv_state {_shape_str(shapes[0])}, ssm_state "
                         f"{_shape_str(shapes[1])}) as from initial_state({shapes[0][0]}), "
                         f"got {type(state).__name__}")
    return state


def _expect(name, x, shape, names):
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {names} = {_shape_str(shape)}, "
                         f"got {_shape_str(x.shape)}")


def _check_parameters(A, D, delta_bias):
    """The parameters A, D and delta_bias finite (NaN or inf in the data, u, delta, B, C,
    z, propagate to the outputs; in a parameter they are refused), and A <= 0 (Re A > 0
    makes exp(Delta A) > 1 and the scan explode)."""
    for name, value in (("A", A), ("D", D), ("delta_bias", delta_bias)):
        if value is not None:
            finite(name, value, "finite entries (a parameter: no NaN or inf)")
    top = float(A.detach().max()) if isinstance(A, torch.Tensor) else float(A.max())
    if top > 0:
        raise ValueError(f"A: expected real entries <= 0 (a stable system; Mamba uses "
                         f"A = -exp(A_log)), got a largest entry {top}")


_SHAPES = dict(u="(batch, d, L)", delta="(batch, d, L)", A="(d, n)", B="(batch, n, L)",
               C="(batch, n, L)", state="(batch, d, n)", u_t="(batch, d)", delta_t="(batch, d)",
               B_t="(batch, n)", C_t="(batch, n)")


def _require(args):
    """Refuse None for the arguments that have no default (the ones in ``_SHAPES``)."""
    for name, value in args.items():
        if value is None and name in _SHAPES:
            raise ValueError(f"{name}: expected an array {_SHAPES[name]}, got None")


def _to_numpy_args(args):
    """Every argument as a float64 array (array-likes and tensors without grad), or None."""
    _require(args)
    return {name: None if value is None else numeric_array(name, value)
            for name, value in args.items()}


def _check_torch_args(args, first="u"):
    """Every argument a dense torch tensor of the dtype (float32/float64) and device of
    ``first``, with data (sparse and meta tensors are refused by name: the kernels index
    memory directly)."""
    _require(args)
    ref = args[first]
    if not isinstance(ref, torch.Tensor) or ref.dtype not in (torch.float32, torch.float64):
        got = ref.dtype if isinstance(ref, torch.Tensor) else type(ref).__name__
        raise ValueError(f"{first}: expected a torch tensor of dtype torch.float32 or "
                         f"torch.float64 for a torch backend, got {got}")
    for name, value in args.items():
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{name}: expected a torch tensor (like {first}), "
                             f"got {type(value).__name__}")
        dense_tensor(name, value)
        if name == first:
            continue
        if value.dtype != ref.dtype:
            raise ValueError(f"{name}: expected dtype {ref.dtype} (the dtype of {first}), "
                             f"got {value.dtype}")
        if value.device != ref.device:
            raise ValueError(f"{name}: expected device {ref.device} (the device of {first}), "
                             f"got {value.device}")


def _check_shapes(u, delta, A, B, C, D, z, delta_bias):
    if u.ndim != 3:
        raise ValueError(f"u: expected 3 axes (batch, d, L), got shape {_shape_str(u.shape)}")
    batch, d, L = u.shape
    if batch < 1 or d < 1 or L < 1:
        raise ValueError(f"u: expected a non-empty (batch, d, L), got {_shape_str(u.shape)}")
    if A.ndim != 2 or A.shape[0] != d or A.shape[1] < 1:
        raise ValueError(f"A: expected shape (d, n) = ({d}, n), got {_shape_str(A.shape)}")
    n = A.shape[1]
    _expect("delta", delta, (batch, d, L), "(batch, d, L)")
    _expect("B", B, (batch, n, L), "(batch, n, L)")
    _expect("C", C, (batch, n, L), "(batch, n, L)")
    if D is not None:
        _expect("D", D, (d,), "(d,)")
    if delta_bias is not None:
        _expect("delta_bias", delta_bias, (d,), "(d,)")
    if z is not None:
        _expect("z", z, (batch, d, L), "(batch, d, L)")
    _check_parameters(A, D, delta_bias)


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)
