"""What a NaN at the last step does to the earlier outputs of every causal form
(reliability review turn 3, finding 7).

Two behaviours, both documented where the form is defined:

- recurrent forms (a scan, a step loop, an RNN) are causal for NaN too: an output
  before step t never reads step t, so it stays finite;
- forms that mix the steps in one product with a causal mask (attention, SSD's quadratic
  form and its chunks) or by an FFT convolution (S4, S4D, HOPE, H3) make every output NaN:
  the mask or the zero-padded FFT multiplies the NaN by 0, and 0 * NaN = NaN (IEEE 754).
  Zeroing the NaN first would hide a real NaN; these forms say so instead.

The test runs each form with NaN at the last step only and checks the documented
behaviour, and that a spreading form's docstring (its class's for a layer) says so.
"""

import inspect

import numpy as np
import pytest
import torch

from seqlearn import attention, h3, hankel, mamba, recurrence, rnn, s4, s5, ssd, ssm

SPREADS = "makes every output NaN"   # the phrase the spreading forms document
L, D = 12, 8


def _x(batch=2):
    x = torch.randn(batch, L, D, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[:, -1, 0] = float("nan")
    return x


def _layer(module):
    torch.manual_seed(0)
    return module.double().eval()


def _mha():
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((D, D)) / np.sqrt(D) for _ in range(4)]
    x = _x().numpy()
    return attention.multi_head_attention(x, *W, 2, causal=True)


def _ssd(backend):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(1, L, 2, 4, dtype=torch.float64, generator=g)
    X[:, -1] = float("nan")
    dt = torch.rand(1, L, 2, dtype=torch.float64, generator=g)
    A = -torch.rand(2, dtype=torch.float64, generator=g)
    B = torch.randn(1, L, 1, 3, dtype=torch.float64, generator=g)
    C = torch.randn(1, L, 1, 3, dtype=torch.float64, generator=g)
    if backend == "numpy":
        X, dt, A, B, C = (t.numpy() for t in (X, dt, A, B, C))
    return ssd.ssd_scan(X, dt, A, B, C, chunk_size=4, backend=backend)


def _selective_scan():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((1, 3, L))
    u[..., -1] = np.nan
    delta = rng.uniform(0.1, 1, (1, 3, L))
    A = -rng.uniform(0.5, 1, (3, 4))
    B, C = rng.standard_normal((2, 1, 4, L))
    return mamba.selective_scan(u, delta, A, B, C, backend="numpy")


def _ssm_scan():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(L)
    u[-1] = np.nan
    return ssm.scan(0.5 * np.eye(3), np.ones(3), np.ones(3), 0.0, u)


def _ema():
    x = np.arange(1.0, L + 1)
    x[-1] = np.nan
    return recurrence.ema(x, 0.9)


# form -> (the callable whose docstring documents it, a run with NaN at the last step,
#          True if the NaN spreads to every output)
FORMS = {
    "attention.multi_head_attention": (attention.multi_head_attention, _mha, True),
    "attention.CausalSelfAttention": (attention.CausalSelfAttention,
                                      lambda: _layer(attention.CausalSelfAttention(D))(_x()),
                                      True),
    "attention.TransformerBlock": (attention.TransformerBlock,
                                   lambda: _layer(attention.TransformerBlock(D))(_x()), True),
    "s4.S4DLayer": (s4.S4DLayer, lambda: _layer(s4.S4DLayer(D))(_x()), True),
    "s4.S4DLayer.ssm_forward": (s4.S4DLayer, lambda: _layer(s4.S4DLayer(D)).ssm_forward(_x()),
                                True),
    "s4.S4Layer": (s4.S4Layer, lambda: _layer(s4.S4Layer(D, d_state=8))(_x()), True),
    "hankel.HOPELayer": (hankel.HOPELayer, lambda: _layer(hankel.HOPELayer(D))(_x()), True),
    "h3.H3Layer": (h3.H3Layer, lambda: _layer(h3.H3Layer(D))(_x()), True),
    "ssd.ssd_scan quadratic": (ssd.ssd_scan, lambda: _ssd("quadratic"), True),
    "ssd.ssd_scan torch": (ssd.ssd_scan, lambda: _ssd("torch"), True),
    "ssd.Mamba2Block": (ssd.Mamba2Block,
                        lambda: _layer(ssd.Mamba2Block(D, head_dim=4, chunk_size=4))(_x()),
                        True),
    "ssd.ssd_scan numpy": (ssd.ssd_scan, lambda: _ssd("numpy"), False),
    "mamba.MambaBlock": (mamba.MambaBlock, lambda: _layer(mamba.MambaBlock(D))(_x()), False),
    "mamba.selective_scan": (mamba.selective_scan, _selective_scan, False),
    "s5.S5Layer": (s5.S5Layer, lambda: _layer(s5.S5Layer(D))(_x()), False),
    "rnn.TorchRNN": (rnn.TorchRNN, lambda: _layer(rnn.TorchRNN(D, 5))(_x())[0], False),
    "ssm.scan": (ssm.scan, _ssm_scan, False),
    "recurrence.ema": (recurrence.ema, _ema, False),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_nan_at_the_last_step_does_what_the_form_documents(name):
    owner, run, spreads = FORMS[name]
    y = run()
    y = y.detach().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    # time is axis 1 of (batch, L, ...) outputs, the last axis of the NumPy scans'
    axis = {"mamba.selective_scan": -1, "recurrence.ema": -1, "ssm.scan": -1}.get(name, 1)
    y = np.moveaxis(y, axis, 0)
    earlier, last = y[:-1], y[-1]
    assert np.isnan(last).any(), "the NaN step itself should be NaN"
    if spreads:   # the very first output of the affected channel or head is NaN
        assert np.isnan(earlier[0]).any(), "documented to spread, but earlier outputs are finite"
    else:
        assert np.isfinite(earlier).all(), "a recurrent form let the NaN reach the past"
    if spreads:
        doc = " ".join((inspect.getdoc(owner) or "").split())
        assert SPREADS in doc, f"{name}: the docstring should say {SPREADS!r} and why"
