"""The error scale of the selective scan, shared by the scan tests (test_mamba*.py).

A rounding error of the scan is relative to the size of the terms it sums, not to the
size of the result: a draw whose outputs cancel has a tiny max|y| and the same absolute
error. ``magnitude`` runs the scan on the absolute values, so a tolerance relative to it
(``err``) comes from the recurrence's bound whatever the draw.
"""

import numpy as np
import torch

from seqlearn.mamba import scan_numpy


def _numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return value


def magnitude(args, softplus=None):
    """(max y, max h) of the scan run on |u|, |B|, |C|, |D u| and |silu(z)| (Delta, A as
    given). ``args``: the scan's arguments (NumPy arrays or tensors); ``softplus``:
    whether Delta goes through a softplus (default ``args["delta_softplus"]``)."""
    a = {k: _numpy(v) for k, v in args.items()}
    softplus = a.get("delta_softplus") if softplus is None else softplus
    delta = a["delta"]
    if a.get("delta_bias") is not None:
        delta = delta + a["delta_bias"][:, None]
    if softplus:
        delta = np.logaddexp(0.0, delta)
    y, h = scan_numpy(np.abs(a["u"]), delta, a["A"], np.abs(a["B"]), np.abs(a["C"]))
    if a.get("D") is not None:
        y = y + np.abs(a["D"][:, None] * a["u"])
    if a.get("z") is not None:
        y = y * np.abs(a["z"] / (1 + np.exp(-a["z"])))
    return y.max(), h.max()


def err(a, b, scale):
    """max |a - b| / scale, e.g. scale from ``magnitude``."""
    a, b = (_numpy(x) if isinstance(x, torch.Tensor) else np.asarray(x) for x in (a, b))
    return np.abs(a - b).max() / scale
