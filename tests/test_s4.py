"""S4 / S4D kernels and layers against independent references: dense HiPPO matrices,
the naive kernel (discretize + ssm_kernel), brute-force loops, torch.autograd.gradcheck."""

import numpy as np
import pytest
import torch

from seqlearn.discretize import discretize, discretize_diag
from seqlearn.hippo import hippo_matrix
from seqlearn.models import SequenceClassifier
from seqlearn.s4 import (S4DLayer, S4Layer, cauchy, dplr_kernel, nplr,
                         s4d_inv_init, s4d_kernel, s4d_kernel_torch, s4d_lin_init)
from seqlearn.ssm import scan, ssm_kernel


def rel(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max()


@pytest.mark.parametrize("kind", ["legs", "legt"])
@pytest.mark.parametrize("N", [1, 2, 5, 16, 64])
def test_nplr_reconstructs_hippo(kind, N):
    Lam, P, B, V = nplr(kind, N)
    A, B0 = hippo_matrix(kind, N)
    P2 = np.atleast_2d(P)
    assert P2.shape == ((1, N) if kind == "legs" else (2, N))
    # eigh is backward stable: |V Lam V* - S| <= c N u |S|_2 <= c N^2 u max|A|, 4.5e-13 at N = 64
    assert rel(V @ np.diag(Lam) @ V.conj().T - P2.T @ P2.conj(), A) < 1e-10   # 200x
    # V unitary to c N u = 1.4e-14 at N = 64; Re Lambda = trace(S) / N, whose N diagonal entries
    # -(n + 1) + (sqrt(n + 1/2))^2 (legt: -(2n + 1) + r_n^2) err by <= 2u (2n + 1): <= 2 N u.
    # 1e-12 leaves 70x (rtol=0: the default rtol 1e-5 allowed 5e-6 on the -0.5 and the 1s)
    assert np.allclose(V.conj().T @ V, np.eye(N), rtol=0, atol=1e-12)
    assert np.allclose(Lam.real, -0.5 if kind == "legs" else 0.0, rtol=0, atol=1e-12)
    assert np.array_equal(B, B0)


def test_cauchy_matches_a_loop():
    rng = np.random.default_rng(0)
    v, lam = rng.standard_normal(7) + 1j * rng.standard_normal(7), rng.standard_normal(7)
    om = rng.standard_normal(5) + 1j
    ref = [sum(v[n] / (om[j] - lam[n]) for n in range(7)) for j in range(5)]
    # complex divisions (<= 5u each side) and a sum of 7: <= ~17 u * sum|terms| / max|k|
    # (= 2.1 here) ~ 4e-15; 1e-13 leaves 25x
    assert rel(cauchy(v, om, lam), ref) < 1e-13


def naive(Lam, P, Q, B, C, dt, L):
    P2, Q2 = np.atleast_2d(P), np.atleast_2d(Q)
    A = np.diag(Lam) - P2.T @ Q2.conj()
    Ab, Bb = discretize(A, B, dt, "bilinear")
    return ssm_kernel(Ab, Bb, C, L)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("N,L", [(1, 7), (4, 64), (16, 256), (9, 33)])
def test_dplr_kernel_random_systems(seed, N, L):
    rng = np.random.default_rng(seed)
    cplx = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)  # noqa: E731
    Lam = -rng.uniform(0.1, 2, N) + 1j * rng.standard_normal(N) * 5
    r = 1 + seed % 2
    P = cplx(r, N) / np.sqrt(N)  # Q = P: A + A^* < 0, stable; else a small Q
    Q = P if seed < 2 else 0.1 * cplx(r, N) / np.sqrt(N)
    B, C, dt = cplx(N), cplx(N), rng.uniform(0.01, 0.5)
    # both backward stable: <= L N u cond(I - dt A/2) |C||Bb| / max|K| (<= 1.8, 4.2 here)
    # = 3.4e-12, times up to L / pi from 2 / (1 + z) near z = -1: 3e-10; 1e-8 leaves 30x
    assert rel(dplr_kernel(Lam, P, Q, B, C, dt, L), naive(Lam, P, Q, B, C, dt, L)) < 1e-8


@pytest.mark.parametrize("kind", ["legs", "legt"])
@pytest.mark.parametrize("N,L,dt", [(4, 16, 0.1), (16, 256, 0.05), (8, 100, 1.0)])
def test_dplr_kernel_hippo_via_nplr(kind, N, L, dt):
    Lam, P, B, V = nplr(kind, N)
    Vh = V.conj().T
    C = np.random.default_rng(N).standard_normal(N)
    A, _ = hippo_matrix(kind, N)
    Ab, Bb = discretize(A, B, dt, "bilinear")
    K0 = ssm_kernel(Ab, Bb, C, L)  # the real HiPPO system, no NPLR involved
    Pt = (Vh @ np.atleast_2d(P).T).T
    K = dplr_kernel(Lam, Pt, Pt, Vh @ B, C @ V, dt, L)
    # as above, plus the NPLR conjugation (V to N u, A moved by N u |A|, |A|_2 <= 164):
    # L N u cond(I - dt A/2) (<= 17) |C||Bb|/max|K| (<= 2.1) |A| dt <= 9.4e-11; 1e-8 leaves 100x
    assert rel(K, K0) < 1e-8 and np.abs(K.imag).max() < 1e-8 * np.abs(K0).max()


def test_bad_arguments():
    with pytest.raises(ValueError, match="^kind:"):
        nplr("fout", 5)
    with pytest.raises(ValueError, match="^N:"):
        nplr("legs", 0)
    with pytest.raises(ValueError, match="^L:"):
        dplr_kernel([-1.0], [0.1], [0.1], [1.0], [1.0], 0.1, 0)
    with pytest.raises(ValueError, match="^P:"):
        dplr_kernel([-1.0], [0.1, 0.2], [0.1], [1.0], [1.0], 0.1, 4)
    with pytest.raises(ValueError, match="^dt:"):
        dplr_kernel([-1.0], [0.1], [0.1], [1.0], [1.0], -0.1, 4)
    with pytest.raises(ValueError, match="^L:"):
        s4d_kernel([-1.0], [1.0], [1.0], 0.1, 0)
    with pytest.raises(ValueError, match="^d_model:"):
        S4DLayer(0)
    with pytest.raises(ValueError, match="^init:"):
        S4DLayer(2, init="legs")
    with pytest.raises(ValueError, match="^u:"):
        S4DLayer(2, d_state=4).ssm_forward(torch.zeros(1, 5, 3))


def test_s4d_inits():
    # -1/2 + i pi n: the same float64 products (pi n exact for n <= 2), at most 1 ulp apart;
    # rtol 1e-14 leaves 45x (the default rtol 1e-5 would pass pi rounded to float32)
    assert np.allclose(s4d_lin_init(3), [-0.5, -0.5 + 1j * np.pi, -0.5 + 2j * np.pi],
                       rtol=1e-14, atol=0)
    assert np.all(s4d_inv_init(5).real == -0.5)


@pytest.mark.parametrize("d_state", [8, 16, 32, 64, 128])
def test_s4d_inv_approximates_the_legs_eigenvalues(d_state):
    """S4D-Inv exists to mimic the imaginary parts of the LegS eigenvalues (S4D paper,
    sec. 4): compare with the eigenvalues of the LegS matrix of the same state size,
    computed by ``nplr`` (an eigendecomposition, not the formula)."""
    Lam = nplr("legs", d_state)[0]
    legs = np.sort(Lam.imag[Lam.imag > 0])[::-1]  # one of each conjugate pair
    inv = s4d_inv_init(d_state // 2).imag
    assert inv.shape == legs.shape
    assert np.all(inv > 0)
    # approximation errors of the formula, not rounding (eigh errs by N u |A| ~ 1e-13 relative,
    # the same on every CPU): inv[0] is 10% low at d_state 8, 1.5% at 64 (1283 vs 1303)
    assert inv[0] == pytest.approx(legs[0], rel=0.15)
    assert np.max(np.abs(np.log(inv / legs))) < 0.35   # 0.25 up to d_state 64, 0.31 at 128


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
@pytest.mark.parametrize("cplx", [False, True])
def test_s4d_kernel_is_the_diagonal_ssm_kernel(method, cplx):
    rng = np.random.default_rng(1)
    N, L, dt = 6, 50, 0.1
    A = -rng.uniform(0.1, 1, N) + (1j * rng.standard_normal(N) * 3 if cplx else 0)
    B, C = rng.standard_normal(N), rng.standard_normal(N) + (1j if cplx else 0)
    Ab, Bb = discretize_diag(A, B, dt, method)
    K0 = ssm_kernel(np.diag(Ab), Bb, C, L)
    # exp(k log Ab) errs by (k |log Ab| + 3) u (k |log Ab| <= 10), L products by k u, sums of N = 6
    # (12 for the pairs): <= ~30 u sum|terms| / max|K| (<= 14.4) ~ 5e-14; 1e-10 leaves 2000x
    assert rel(s4d_kernel(A, B, C, dt, L, method), K0) < 1e-10
    if cplx:  # 2 Re: the real system holding each mode and its conjugate
        A2, B2, C2 = (np.concatenate([x, np.conj(x)]) for x in (A, B.astype(complex), C))
        Ab2, Bb2 = discretize_diag(A2, B2, dt, method)
        K2 = ssm_kernel(np.diag(Ab2), Bb2, C2, L)
        assert rel(s4d_kernel(A, B, C, dt, L, method, conj_pairs=True), K2.real) < 1e-10


def test_s4d_kernel_torch_matches_numpy():
    rng = np.random.default_rng(2)
    H, N2, L = 3, 4, 40
    log_dt, lre, aim = rng.uniform(-4, -1, H), rng.standard_normal((H, N2)), \
        rng.standard_normal((H, N2)) * 5
    C = rng.standard_normal((H, N2, 2))
    A = -np.exp(lre) + 1j * aim
    K0 = s4d_kernel(A, 1.0, C[..., 0] + 1j * C[..., 1], np.exp(log_dt)[:, None], L,
                    conj_pairs=True)
    K = s4d_kernel_torch(*(torch.tensor(x) for x in (log_dt, lre, aim, C)), L)
    # exp(k dt A) in torch vs exp(k log Ab) in NumPy: the exponents (k dt |A| <= 86) err by
    # k dt |A| u each, sums of N2 = 4: <= ~180 u * sum|terms| / max|K| (3.7) ~ 7e-14; 1e-10: 1400x
    assert rel(K.numpy(), K0) < 1e-10


@pytest.mark.parametrize("cls", [S4DLayer, S4Layer])
def test_layer_step_equals_convolution(cls):
    torch.manual_seed(0)
    layer = cls(3, d_state=8, dt_min=0.01, dt_max=0.5).double()
    u = torch.randn(2, 30, 3, dtype=torch.float64)
    y_conv = layer.ssm_forward(u)
    x, ys = layer.initial_state(2), []
    for k in range(u.shape[1]):
        y_k, x = layer.ssm_step(u[:, k], x)
        ys.append(y_k)
    # float64, L = 30: recurrence vs FFT convolution (n = 60) of the kernel; S4's Cauchy kernel
    # errs by L N u cond(I - dt A/2) (<= 7.4) |C||Bb|/max|K| times <= L/pi near z = -1: ~4e-12
    # of max|y| (sum|K||u| / max|y| <= 2.9); 1e-10 relative leaves 25x
    tol = 1e-10 * y_conv.abs().max().item()
    assert torch.allclose(torch.stack(ys, 1), y_conv, rtol=0, atol=tol)
    full, x, outs = layer(u), layer.initial_state(2), []
    for k in range(u.shape[1]):
        o, x = layer.step(u[:, k], x)
        outs.append(o)
    # the same through GELU (|gelu'| <= 1.13) and Linear (sum|W| <= 1.05): 4e-12 * 6.9 * 1.2 =
    # 3.3e-11; 1e-10 leaves 3x (rtol=0: the default rtol 1e-5 allowed 2.6e-5 here)
    assert torch.allclose(torch.stack(outs, 1), full, rtol=0, atol=1e-10)


def test_s4d_linear_part_is_scan():
    torch.manual_seed(1)
    layer = S4DLayer(2, d_state=4).double()
    u = torch.randn(1, 20, 2, dtype=torch.float64)
    y = layer.ssm_forward(u).detach().numpy()[0]
    A = torch.complex(-torch.exp(layer.log_A_re), layer.A_im).detach().numpy()
    C = torch.view_as_complex(layer.C).detach().numpy()
    dt = torch.exp(layer.log_dt).detach().numpy()
    for h in range(2):  # the real system of the modes and their conjugates, by a loop
        A2, C2 = np.concatenate([A[h], A[h].conj()]), np.concatenate([C[h], C[h].conj()])
        Ab, Bb = discretize_diag(A2, np.ones(4), dt[h], "zoh")
        ref = scan(np.diag(Ab), Bb, C2, layer.D[h].item(), u[0, :, h].numpy())
        # float64, L = 20: FFT convolution (n = 40) of exp(k dt A) vs a loop, sums of 4 modes:
        # <= ~100 u * sum|terms| / max|y| (~3) ~ 3e-14; 1e-10 leaves 3000x
        assert rel(y[:, h], ref.real) < 1e-10


def test_s4_layer_kernel_is_naive():
    torch.manual_seed(2)
    layer = S4Layer(2, d_state=6).double()
    Lam, P, B, C, dt = (x.detach().numpy() for x in layer._params())
    K = layer.kernel(50).detach().numpy()
    for h in range(2):
        # as test_dplr_kernel_random_systems: L N u cond(I - dt A/2) (<= 2) |C||Bb|/max|K| times
        # L / pi from the node near z = -1: ~4e-12; 1e-8 leaves 2500x
        assert rel(K[h], naive(Lam[h], P[h], P[h], B[h], C[h], dt[h], 50).real) < 1e-8


def test_gradcheck_s4d_kernel_and_linear_part():
    rng = np.random.default_rng(3)
    H, N2, L = 2, 3, 12
    args = [torch.tensor(x, requires_grad=True) for x in
            (rng.uniform(-3, -1, H), rng.standard_normal((H, N2)) * 0.3,
             rng.standard_normal((H, N2)), rng.standard_normal((H, N2, 2)))]
    # gradcheck's defaults (eps 1e-6, atol 1e-5, rtol 1e-3): central differences err by
    # eps^2 |f'''| / 6 + u |f| / eps ~ 2e-10 |f| (|f| <= 3); atol 1e-5 leaves 1e4x, kept as
    # torch's default so that entries near 0 (where only atol applies) are not flaky
    assert torch.autograd.gradcheck(lambda *a: s4d_kernel_torch(*a, L), args)
    layer = S4DLayer(H, d_state=2 * N2).double()
    names = ["log_dt", "log_A_re", "A_im", "C", "D"]
    params = [getattr(layer, n).detach().clone().requires_grad_() for n in names]
    u = torch.randn(2, L, H, dtype=torch.float64, requires_grad=True)

    def linear_part(u, *p):  # ssm_forward with the parameters as inputs
        return _call(layer, names, p, "ssm_forward", u)

    assert torch.autograd.gradcheck(linear_part, [u] + params)   # default tolerances, as above


def _call(module, names, values, method, *args):
    """module.method(*args) with the parameters ``names`` replaced by ``values``."""
    saved = {n: getattr(module, n) for n in names}
    try:
        for n, v in zip(names, values):
            delattr(module, n)
            setattr(module, n, v)
        return getattr(module, method)(*args)
    finally:
        for n, v in saved.items():
            delattr(module, n)
            module.register_parameter(n, v)


def test_gradcheck_dplr_torch_kernel():
    torch.manual_seed(4)
    layer = S4Layer(1, d_state=3).double()
    names = ["log_dt", "log_Lambda_re", "Lambda_im", "P", "B", "C"]
    ps = [getattr(layer, n).detach().clone().requires_grad_() for n in names]
    # defaults (eps 1e-6, atol 1e-5, rtol 1e-3): finite differences err ~ u |f| / eps ~ 1e-10
    assert torch.autograd.gradcheck(lambda *p: _call(layer, names, p, "kernel", 8), ps)


@pytest.mark.parametrize("kind", ["s4d", "s4"])
def test_classifier_shapes_and_training_step(kind):
    torch.manual_seed(0)
    model = SequenceClassifier(5, 8, 2, 3, layer=kind, d_state=4)
    x = torch.randint(0, 5, (4, 16))
    logits = model(x)
    assert logits.shape == (4, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    assert all(p.grad is not None for p in model.parameters())
    feats = SequenceClassifier(2, 8, 1, 2, tokens=False, d_state=4)(torch.randn(3, 10, 2))
    assert feats.shape == (3, 2)


def test_classifier_readouts():
    """"mean" with no layers is a bag of tokens: blind to order. "last" with no layers sees
    only the last token. With S4D layers, "last" depends on the first token (memory)."""
    torch.manual_seed(0)
    x = torch.randint(0, 6, (4, 12))
    shuffled = x[:, torch.randperm(12)]
    new_start = torch.cat([(x[:, :1] + 1) % 6, x[:, 1:]], 1)
    # float64: the mean of 12 embeddings (|e| <= 2.4) in two orders errs by <= 2 * 11 u |e|,
    # then the head (sum|W| <= 1.5, 8 terms): ~1.2e-14; 1e-12 leaves 80x. (In float32 the same
    # bound, 6.4e-6, was within 2x of the default tolerance 1e-5.)
    bag = SequenceClassifier(6, 8, 0, 3, readout="mean").double()
    torch.testing.assert_close(bag(shuffled), bag(x), rtol=0, atol=1e-12)
    last_token = SequenceClassifier(6, 8, 0, 3, readout="last")
    # the same operations on identical numbers (the last token's row): bitwise equal, any CPU
    torch.testing.assert_close(last_token(new_start), last_token(x))
    model = SequenceClassifier(6, 8, 2, 3, d_state=4, readout="last")
    # an effect, not rounding: float32 rounding of 12 steps moves the logits (<= 0.62) by
    # ~1e-6, so 1e-4 is 100x above it; the first token moves them by 0.014 here
    assert (model(new_start) - model(x)).abs().max() > 1e-4
    with pytest.raises(ValueError, match="^readout: expected one of"):
        SequenceClassifier(6, 8, 1, 3, readout="max")


def test_s4d_kernel_when_a_mode_discretises_to_zero():
    """Bilinear with dt * lambda = -2 gives Ab = 0 exactly: the powers are 1, 0, 0, ...
    (computed as exp(k log Ab), this case needs its own care). Brute force: Ab ** k."""
    A, B, C, dt = np.array([-2.0, -0.5 + 3j]), np.ones(2), np.array([1.0, 2.0]), 1.0
    Ab, Bb = discretize_diag(A, B, dt, "bilinear")
    assert Ab[0] == 0
    brute = np.array([(C * Bb * Ab ** k).sum() for k in range(6)])
    # exp(k log Ab) vs Ab ** k (k <= 5, |log Ab| = 2): <= (k |log Ab| + 4) u + k u per term, plus
    # the sum: <= 25 u * sum|C Bb| (2.0) = 5.5e-15, which the old atol 1e-14 left only 2x
    # over; 100x that. (Without the special case the Ab = 0 mode gives NaN.)
    u = np.finfo(float).eps / 2
    atol = 100 * 25 * u * np.abs(C * Bb).sum()
    np.testing.assert_allclose(s4d_kernel(A, B, C, dt, 6, method="bilinear"), brute,
                               rtol=0, atol=atol)


def test_float32_s4d_kernel_keeps_its_accuracy_at_long_lengths():
    """Weak damping (Re A = -1e-6) and dt = 0.1: the taps do not decay, and k dt A reaches
    ~1e6 radians at L = 1e5. Formed in float32 the exponents were off by k dt |A| eps
    (relative error 1.8e-3 at L = 1e4, 1e-2 at 1e5); the reference is the complex128
    NumPy kernel of the same (float32-representable) parameters."""
    torch.manual_seed(0)
    layer = S4DLayer(2, d_state=16)
    with torch.no_grad():
        layer.log_dt.fill_(np.log(0.1))
        layer.log_A_re.fill_(np.log(1e-6))
    for L in (10**4, 10**5):
        with torch.no_grad():
            K = layer.kernel(L)
        assert K.dtype == torch.float32
        p = {n: getattr(layer, n).detach().double().numpy()
             for n in ("log_dt", "log_A_re", "A_im", "C")}
        A = -np.exp(p["log_A_re"]) + 1j * p["A_im"]
        K0 = s4d_kernel(A, 1.0, p["C"][..., 0] + 1j * p["C"][..., 1],
                        np.exp(p["log_dt"])[:, None], L, conj_pairs=True)
        # float32: C Bb (~4 u32), exp rounded to complex64 (u32), product (3 u32), sum of 8
        # modes (7 u32): <= 15 u32 * sum|terms| / max|K| (1.55) = 1.4e-6; 1e-5 leaves 7x
        assert rel(K.numpy(), K0) < 1e-5


def test_float32_s4d_kernel_gradient_matches_float64():
    """The float64 exponents keep autograd's float32 gradient equal to the float64 one."""
    rng = np.random.default_rng(6)
    H, N2, L = 3, 8, 2000
    params = [x.astype(np.float32).astype(np.float64) for x in  # the same numbers for both
              (rng.uniform(-3, -1, H), np.log(rng.uniform(1e-4, 0.5, (H, N2))),
               rng.standard_normal((H, N2)) * 20, rng.standard_normal((H, N2, 2)))]
    weights = rng.standard_normal((H, L))
    grads = {}
    for dtype in (torch.float32, torch.float64):
        args = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in params]
        (s4d_kernel_torch(*args, L) * torch.tensor(weights, dtype=dtype)).sum().backward()
        grads[dtype] = [a.grad.double().numpy() for a in args]
    # float32 gradients are sums over L = 2000 steps of terms with ~8 u32 error each (the
    # exponents' path is summed in float64); worst case 8 u32 sum|terms| / max|g| reaches 1e-4
    # for log_dt (cancellation 218), but these are independent roundings of random data
    # (Higham & Mary 2019): 6 sqrt(8) u32 sqrt(sum terms^2) / max|g| (<= 7.4) = 7.5e-6: 13x
    for g32, g64 in zip(grads[torch.float32], grads[torch.float64]):
        assert rel(g32, g64) < 1e-4


_LAYER = S4DLayer(3, d_state=4)
_S4 = S4Layer(3, d_state=4)
_CLS = SequenceClassifier(5, 8, 1, 3, d_state=4)


@pytest.mark.parametrize("call, argument", [
    # inputs of the other float dtype, empty, of the wrong size (finding 10)
    (lambda: _LAYER(torch.zeros(1, 5, 3, dtype=torch.float64)), "u"),
    (lambda: _S4(torch.zeros(1, 5, 3, dtype=torch.float64)), "u"),
    (lambda: _LAYER(torch.zeros(1, 0, 3)), "u"),
    (lambda: _S4(torch.zeros(1, 0, 3)), "u"),
    (lambda: _LAYER(np.zeros((1, 5, 3), dtype=np.float32)), "u"),
    (lambda: _LAYER.ssm_forward(torch.zeros(1, 5, 3, dtype=torch.int64)), "u"),
    (lambda: _LAYER.step(torch.zeros(3), _LAYER.initial_state(1)), "u_t"),
    (lambda: _S4.step(torch.zeros(3), _S4.initial_state(1)), "u_t"),
    (lambda: _LAYER.step(torch.zeros(1, 3, dtype=torch.float64), _LAYER.initial_state(1)), "u_t"),
    (lambda: _LAYER.step(torch.zeros(2, 3), _LAYER.initial_state(1)), "state"),
    (lambda: _S4.ssm_step(torch.zeros(1, 3), None), "state"),
    (lambda: _LAYER.ssm_step(torch.zeros(1, 3), torch.zeros(1, 3, 2)), "state"),
    (lambda: _LAYER.kernel(2.5), "L"),
    (lambda: _S4.kernel(2.5), "L"),
    (lambda: _S4.kernel(0), "L"),
    (lambda: _LAYER.kernel(10**12), "L"),
    (lambda: _LAYER.initial_state(None), "batch"),
    # SequenceClassifier: ids in range and of an integer dtype; its own argument name
    (lambda: _CLS(torch.tensor([[0, 5]])), "x"),
    (lambda: _CLS(torch.tensor([[0, -1]])), "x"),
    (lambda: _CLS(torch.zeros(2, 4)), "x"),
    (lambda: _CLS(torch.zeros(2, 4, 5)), "x"),
    (lambda: _CLS(torch.zeros(2, 0, dtype=torch.long)), "x"),
    (lambda: _CLS([[0, 1]]), "x"),
    (lambda: SequenceClassifier(2, 8, 1, 3, tokens=False, d_state=4)(
        torch.zeros(2, 4, 3)), "x"),
    (lambda: SequenceClassifier(2, 8, 1, 3, tokens=False, d_state=4)(
        torch.zeros(2, 4, 2, dtype=torch.float64)), "x"),
    # constructors: sizes bounded, flags bools, the layers' arguments checked up front
    (lambda: SequenceClassifier(10, 4, 10**12, 3), "n_layers"),
    (lambda: SequenceClassifier(10**12, 4, 1, 3), "vocab_or_input_dim"),
    (lambda: SequenceClassifier(10, 4, 1, 3, tokens="no"), "tokens"),
    (lambda: SequenceClassifier(10, 4, 0, 3, dropout=1.5), "dropout"),
    (lambda: SequenceClassifier(10, 4, 0, 3, dt_min=-1.0), "dt_min"),
    (lambda: SequenceClassifier(10, 4, 1, 3, layer="lstm"), "layer"),
    (lambda: SequenceClassifier(10, 4, 1, 3, d_state=None), "d_state"),
    (lambda: S4DLayer(10**5), "d_model"),
    (lambda: S4DLayer(2, d_state=1), "d_state"),
    (lambda: S4DLayer(2, dt_min=0.1, dt_max=0.01), "dt_max"),
    (lambda: S4DLayer(2, dropout=True), "dropout"),
    (lambda: S4Layer(2, d_state=10**6), "d_state"),
    # the kernels and the Cauchy sum
    (lambda: s4d_kernel_torch(torch.zeros(2), torch.zeros(2, 3, dtype=torch.float64),
                              torch.zeros(2, 3), torch.zeros(2, 3, 2), 4), "log_A_re"),
    (lambda: s4d_kernel_torch(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 4),
                              torch.zeros(2, 3, 2), 4), "A_im"),
    (lambda: s4d_kernel_torch(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3),
                              torch.zeros(2, 3), 4), "C"),
    (lambda: s4d_kernel_torch(torch.tensor([np.nan, 0.0]), torch.zeros(2, 3),
                              torch.zeros(2, 3), torch.zeros(2, 3, 2), 4), "log_dt"),
    (lambda: s4d_kernel_torch(np.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3),
                              torch.zeros(2, 3, 2), 4), "log_dt"),
    (lambda: s4d_kernel_torch(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3),
                              torch.zeros(2, 3, 2), 2.5), "L"),
    (lambda: s4d_kernel([-1.0], [1.0], [1.0], 0.1, 4, conj_pairs="yes"), "conj_pairs"),
    (lambda: s4d_kernel([-1.0], [1.0], [np.nan], 0.1, 4), "C"),
    (lambda: s4d_kernel([np.inf], [1.0], [1.0], 0.1, 4), "A_diag"),
    (lambda: s4d_kernel([-1.0], [1.0], [1.0], 0.1, 10**12), "L"),
    (lambda: s4d_kernel([-1.0, -2.0], [1.0], np.ones(3), 0.1, 4), "C"),
    (lambda: s4d_kernel(torch.tensor([-1.0], requires_grad=True), [1.0], [1.0], 0.1, 4),
     "A_diag"),
    (lambda: dplr_kernel([np.nan], [0.1], [0.1], [1.0], [1.0], 0.1, 4), "Lambda"),
    (lambda: dplr_kernel([], [], [], [], [], 0.1, 4), "Lambda"),
    (lambda: dplr_kernel([-1.0], np.zeros((0, 1)), np.zeros((0, 1)), [1.0], [1.0], 0.1, 4),
     "P"),
    (lambda: dplr_kernel([-1.0], [0.1], [0.1], [1.0], [1.0], 0.1, 10**12), "L"),
    (lambda: dplr_kernel([2.0], [0.0], [0.0], [1.0], [1.0], 1.0, 4), "dt"),
    (lambda: cauchy(None, np.ones(3), np.ones(3)), "v"),
    (lambda: cauchy(np.ones(3), np.ones(2), np.ones(2)), "Lambda"),
    (lambda: cauchy(np.ones((2, 3)), np.ones((4, 5)), np.ones(3)), "omega"),
    (lambda: cauchy(torch.ones(3), np.ones(3), torch.ones(3)), "omega"),
    (lambda: cauchy(np.ones(3), np.float64(1.0), np.ones(3)), "omega"),
    (lambda: nplr("legs", 10**6), "N"),
    (lambda: nplr("legs", 5000), "N"),              # an eigenproblem of minutes
    (lambda: S4Layer(1, d_state=5000), "d_state"),
    (lambda: cauchy(np.ones(10**4), np.ones(2 * 10**4), np.ones(10**4)), "omega"),  # 12 GB
    (lambda: nplr(None, 4), "kind"),
    (lambda: s4d_lin_init(10**12), "N"),
    (lambda: s4d_inv_init(0), "N"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}: "):
        call()


def test_cauchy_takes_array_likes_and_tensors_alike():
    rng = np.random.default_rng(7)
    v, om, lam = rng.standard_normal(4) + 1j, rng.standard_normal(3) + 2j, -rng.uniform(1, 2, 4)
    ref = cauchy(v, om, lam)
    # lists become the same float64 arrays: the same operations, bitwise equal (bound 0)
    np.testing.assert_allclose(cauchy(list(v), list(om), list(lam)), ref, rtol=1e-15)
    got = cauchy(*(torch.tensor(x) for x in (v, om, lam)))
    # torch's complex division vs NumPy's (<= 5u each) and a sum of 4 (3u): <= 13 u *
    # sum|terms| / |k| (<= 1.06) = 1.5e-15, above the old rtol 1e-15; 2e-14 leaves 13x
    np.testing.assert_allclose(got.numpy(), ref, rtol=2e-14)


def test_fit_kernel_trains_every_ssm_parameter_and_records_its_error():
    """Adam's first step is exactly lr g / (|g| + eps) per element (m-hat = g, v-hat = g^2):
    checked on every SSM parameter against the gradient of the relative error computed
    here; the recorded error is the relative error of the layer it returns; freq0 is
    S4D-Lin's Delta pi j (alpha = 1)."""
    from seqlearn import tasks
    from seqlearn.s4 import fit_kernel
    torch.manual_seed(0)
    layer = S4DLayer(1, d_state=8, dt_min=0.02, dt_max=0.02).double()
    before = {n: p.detach().clone() for n, p in layer.named_parameters()}
    target = torch.tensor(tasks.two_tone_kernel(64))
    error = ((layer.kernel(64)[0] - target) ** 2).sum() / (target ** 2).sum()
    names = ("log_dt", "log_A_re", "A_im", "C")
    grads = dict(zip(names, torch.autograd.grad(error, [getattr(layer, n) for n in names])))
    out = fit_kernel(layer, target, 1, 1e-3)
    for name in names:
        moved = getattr(layer, name).detach() - before[name]
        g = grads[name]
        # p_new - p is exact (Sterbenz), but p_new = p - step is rounded: <= u |p| absolute
        # (|p| <= 9.4: 1e-15, the old atol), plus <= ~10 u relative from Adam's own roundings
        # (bias corrections, sqrt, eps, the step): atol 20 u max|p|, rtol 1e-13 (was 1e-9)
        u = torch.finfo(torch.float64).eps / 2
        atol = 20 * u * before[name].abs().max().item()
        torch.testing.assert_close(moved, -1e-3 * g / (g.abs() + 1e-8), rtol=1e-13, atol=atol)
    assert torch.equal(layer.D.detach(), before["D"])          # D is not part of the kernel
    # A_im = pi j and log_dt = log 0.02 are stored in float32: relative errors <= u32 (6e-8)
    # in A_im and u32 |log 0.02| = 2.3e-7 in dt: <= 3e-7, the same on every CPU; 1e-6: 3x
    np.testing.assert_allclose(out["freq0"], 0.02 * np.pi * np.arange(4), rtol=1e-6)
    out = fit_kernel(layer, target, 30, 1e-2, every=10)
    assert out["step"] == [10, 20, 30]
    K = layer.kernel(64)[0].detach()
    # the same float64 expression of the same parameters (bitwise equal in practice); at worst
    # two sums of 64 positive terms in another order: <= 2 * 64 u = 1.4e-14; 1e-12 leaves 70x
    assert out["error"][-1] == pytest.approx(float(((K - target) ** 2).sum()
                                                   / (target ** 2).sum()), rel=1e-12)
    assert out["top_freq"][-1] == pytest.approx(np.abs(out["freq"]).max(), rel=1e-12)
    with pytest.raises(ValueError, match="^target:"):
        fit_kernel(layer, target.float(), 3, 1e-2)
    with pytest.raises(ValueError, match="^layer:"):
        fit_kernel(torch.nn.Linear(2, 2), target, 3, 1e-2)


def test_steps_to_fit_is_the_first_step_below_the_threshold():
    from seqlearn.s4 import steps_to_fit
    fit = {"step": [50, 100, 150, 200], "error": [0.9, 0.04, 0.2, 0.01]}
    assert steps_to_fit(fit, 0.05) == 100          # the first, not the last, crossing
    assert steps_to_fit(fit, 0.01) is None         # strictly below
    with pytest.raises(ValueError, match="^fit:"):
        steps_to_fit({"step": [1, 2], "error": [0.1]}, 0.05)
    with pytest.raises(ValueError, match="^threshold:"):
        steps_to_fit(fit, 0)


@pytest.mark.parametrize("L", [6, 7])
@pytest.mark.parametrize("dt", [1e-2, 1.0, 1e4, 1e8, 1e12])
def test_dplr_kernel_is_accurate_at_any_step_even_or_odd_length(dt, L):
    """Even L puts a node at z = -1 (g = inf); its exact limit keeps the kernel accurate
    at any dt (before: 1.8e-4 relative at dt = 1e12, L = 6). Against dense powers of Ab:
    both are backward stable, so they agree to about L N eps cond(I - dt A / 2) relative to
    max |K|; 1e-9 leaves a factor 1e4 for the condition number of this N = 8 system."""
    Lam, P, B, _ = nplr("legs", 8)
    C = np.random.default_rng(0).standard_normal(8) + 0j
    K = dplr_kernel(Lam, P, P, B, C, dt, L)
    A = np.diag(Lam) - np.outer(P, P.conj())
    eye = np.eye(8)
    Ab = np.linalg.solve(eye - dt / 2 * A, eye + dt / 2 * A)
    Bb = np.linalg.solve(eye - dt / 2 * A, dt * B)
    dense = np.array([C @ np.linalg.matrix_power(Ab, k) @ Bb for k in range(L)])
    # L N u cond(I - dt A/2) (<= 67.5) |C||Bb| / max|K| (<= 8.4) = 3.5e-12 (docstring); 300x
    assert np.max(np.abs(K - dense)) <= 1e-9 * np.max(np.abs(dense))


def test_s4d_legs_outputs_converge_to_s4_legs_but_its_kernels_do_not():
    """Chapter 6's S4D-LegS claim: the diagonal restriction (Lambda, V^* B / 2) gives outputs
    on a smooth input that approach S4-LegS's as N grows, while the kernels stay apart;
    with B unhalved the outputs are twice as large. Measured: output difference 6.4e-2
    (N = 16), 6.3e-4 (N = 64); kernels 0.73, 0.72 of the peak."""
    dt, L = 2e-3, 2000
    t = np.arange(L) * dt
    u = np.exp(-((t - 1) / 0.3) ** 2)
    out = {}
    for N in (16, 64):
        Lam, P, B, V = nplr("legs", N)
        Vh, C = V.conj().T, np.eye(N)[0]
        K = dplr_kernel(Lam, Vh @ P, Vh @ P, Vh @ B, C @ V, dt, L).real
        y = np.convolve(u, K)[:L]
        for scale in (1.0, 0.5):
            Kd = s4d_kernel(Lam, scale * (Vh @ B), C @ V, dt, L, method="bilinear").real
            out[N, scale] = rel(Kd, K), rel(np.convolve(u, Kd)[:L], y)
    # outputs: the convergence the chapter shows, with a margin of 3x on each measured value
    assert out[16, 0.5][1] > 10 * out[64, 0.5][1] and out[64, 0.5][1] < 2e-3
    assert min(out[16, 0.5][0], out[64, 0.5][0]) > 0.5          # kernels: measured 0.72
    # unhalved B: outputs about twice S4's, relative difference 1 (measured 1.0004, 1.0000)
    assert all(abs(out[N, 1.0][1] - 1) < 0.01 for N in (16, 64))
