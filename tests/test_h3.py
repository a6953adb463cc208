"""seqlearn.h3: the H3 layer against a brute-force loop of its equations; step = forward."""

import numpy as np
import pytest
import torch

from seqlearn import h3, s4


def test_forward_matches_the_equations():
    torch.manual_seed(0)
    layer = h3.H3Layer(3, d_state=4, shift_size=3).double()
    u = torch.randn(2, 9, 3, dtype=torch.float64)
    with torch.no_grad():
        q, k, v = layer.in_proj(u).chunk(3, dim=-1)
        c = layer.shift_kernel.numpy()
        k = k.numpy()
        k_bar = np.zeros_like(k)
        for t in range(9):                       # the shift SSM: a length-3 FIR filter
            for j in range(min(3, t + 1)):
                k_bar[:, t] += c[:, j] * k[:, t - j]
        # the diagonal SSM: the S4D kernel of chapter 6, as a direct causal sum
        K = layer.diag.kernel(9).numpy()
        w = k_bar * v.numpy()
        ssm = np.stack([sum(K[:, j] * w[:, t - j] for j in range(t + 1)) for t in range(9)], 1)
        ssm = ssm + layer.diag.D.numpy() * w
        expected = layer.out_proj(q * torch.from_numpy(ssm))
        # float64: two FFT convolutions (n = 18: ~3 log2(n) u in 2-norm, <= 4x that per entry) vs
        # direct sums, then q * and out_proj: ~75 u * (sum of |terms| <= 2) ~ 2e-14; 1e-10: 6000x
        torch.testing.assert_close(layer(u), expected, rtol=0, atol=1e-10)


def test_step_equals_forward():
    torch.manual_seed(1)
    layer = h3.H3Layer(4, d_state=4, shift_size=2).double()
    u = torch.randn(2, 8, 4, dtype=torch.float64)
    state, outs = layer.initial_state(2), []
    for t in range(8):
        out, state = layer.step(u[:, t], state)
        outs.append(out)
    # float64 steps (shift sum of 2, S4D recurrence of 8 steps, |Ab| <= 1) vs FFT convolutions
    # (n = 16): ~100 u * (sum of |terms| <= 1.9) ~ 2e-14; 1e-12 leaves 50x
    torch.testing.assert_close(torch.stack(outs, 1), layer(u), rtol=0, atol=1e-12)


def test_lm_h3_mixer_and_errors():
    from seqlearn.models import MambaLM
    lm = MambaLM(10, 4, 1, d_state=4, mixer="h3")
    assert lm(torch.tensor([[1, 2, 3]])).shape == (1, 3, 10)
    with pytest.raises(ValueError, match="^u:"):
        h3.H3Layer(4)(torch.ones(2, 3, 5))
    with pytest.raises(ValueError, match="^shift_size:"):
        h3.H3Layer(4, shift_size=0)
    assert isinstance(h3.H3Layer(4).diag, s4.S4DLayer)
