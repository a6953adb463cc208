"""seqlearn.s5: the MIMO SSM's parallel scan against a loop and chapter 5's ZOH."""

import numpy as np
import pytest
import torch

from seqlearn import discretize, s5


def test_discretisation_is_chapter5_zoh():
    torch.manual_seed(0)
    layer = s5.S5Layer(3, d_state=4).double()
    Lb, Bb = layer.discrete()
    with torch.no_grad():
        Lam = (-torch.exp(layer.log_Lambda_re) + 1j * layer.Lambda_im).numpy()
        dt = torch.exp(layer.log_dt).numpy()
        B = torch.view_as_complex(layer.B).numpy()
    Ab, Bb_ref = discretize.discretize_diag(Lam[:, None], B, dt[:, None], "zoh")
    # complex128 exp / expm1 of |dt Lambda| <= 0.3 in torch vs NumPy, a few roundings each:
    # <= 10 u |Lb| ~ 1e-15 (|Lb| <= 1, |Bb| <= 0.03); 1e-12 leaves 1000x
    np.testing.assert_allclose(Lb.detach().numpy(), Ab[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(Bb.detach().numpy(), Bb_ref, rtol=0, atol=1e-12)


def test_parallel_scan_equals_the_recurrence():
    torch.manual_seed(1)
    layer = s5.S5Layer(3, d_state=5).double()
    u = torch.randn(2, 13, 3, dtype=torch.float64)
    Lb, Bb = (t.detach().numpy() for t in layer.discrete())
    C = torch.view_as_complex(layer.C).detach().numpy()
    D = layer.D.detach().numpy()
    for b in range(2):   # the recurrence, one step at a time
        ours = layer(u)[b].detach().numpy()
        x = np.zeros(5, complex)
        loop = []
        for t in range(13):
            x = Lb * x + Bb @ u[b, t].numpy()
            loop.append(2 * (C @ x).real + D * u[b, t].numpy())
        # complex128, L = 13: scan tree (<= 8 combines + 12 products per term) vs loop (13 steps),
        # ~150 u per term, times 2 sum|C||x| <= 1.6: ~3e-14; 1e-12 leaves 35x (was 1e-10)
        np.testing.assert_allclose(ours, np.array(loop), rtol=0, atol=1e-12)


def test_step_equals_forward_and_errors():
    torch.manual_seed(2)
    layer = s5.S5Layer(4, d_state=3).double()
    u = torch.randn(2, 7, 4, dtype=torch.float64)
    state, outs = layer.initial_state(2), []
    for t in range(7):
        out, state = layer.step(u[:, t], state)
        outs.append(out)
    # complex128 step loop vs parallel scan, L = 7, P = 3, H = 4: <= ~60 u * (|y| terms ~ 2)
    # ~ 1.4e-14; 1e-12 leaves 70x
    torch.testing.assert_close(torch.stack(outs, 1), layer(u), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="^u:"):
        layer(torch.ones(2, 7, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="^dt_max:"):
        s5.S5Layer(4, dt_min=0.1, dt_max=0.01)
