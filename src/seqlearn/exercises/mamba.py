"""Chapter 7's exercises: Mamba's selective scan (a step, the discretization, the combine
of the parallel scan, the whole scan, a scan in chunks to debug, the scan's backward pass).
One sequence (no batch axis): u, delta (d, L); A (d, n); B, C (n, L); the chunked scan
takes pairs a, b (L, ...)."""

import numpy as np
import torch

from seqlearn import mamba, recurrence
from seqlearn.exercises._checker import Exercise, _register


def _selective_inputs(rng, d, n, L):
    return (rng.standard_normal((d, L)), rng.uniform(0.05, 1.0, (d, L)),
            -rng.uniform(0.5, 4.0, (d, n)), rng.standard_normal((n, L)),
            rng.standard_normal((n, L)))


def _step_cases(rng):
    cases = [(np.zeros((1, 1)), np.ones(1), np.full(1, 0.5), -np.ones((1, 1)), np.ones(1),
              np.ones(1))]
    for d, n in ((2, 3), (4, 1), (3, 5)):
        u, delta, A, B, C = _selective_inputs(rng, d, n, 1)
        cases.append((rng.standard_normal((d, n)), u[:, 0], delta[:, 0], A, B[:, 0], C[:, 0]))
    return cases


def _step_hidden(rng):
    cases = []
    for _ in range(2):
        d, n = (int(k) for k in rng.integers(1, 6, 2))
        u, delta, A, B, C = _selective_inputs(rng, d, n, 1)
        cases.append((rng.standard_normal((d, n)), u[:, 0], delta[:, 0], A, B[:, 0], C[:, 0]))
    return cases


def _step_reference(h, u_t, delta_t, A, B_t, C_t):
    y, h = mamba.selective_scan_step(h[None], u_t[None], delta_t[None], A, B_t[None],
                                     C_t[None])
    return y[0], h[0]


def _step_old_state(h, u_t, delta_t, A, B_t, C_t):
    y, h_new = _step_reference(h, u_t, delta_t, A, B_t, C_t)
    return (C_t * h).sum(-1), h_new


def _step_no_dt_in_B(h, u_t, delta_t, A, B_t, C_t):
    return _step_reference(h, u_t / delta_t, delta_t, A, B_t, C_t)


def _step_zoh(h, u_t, delta_t, A, B_t, C_t):
    h = np.exp(delta_t[:, None] * A) * h + np.expm1(delta_t[:, None] * A) / A * B_t * u_t[:, None]
    return (C_t * h).sum(-1), h


_register(Exercise(
    name="mamba.step",
    signature="step(h, u_t, delta_t, A, B_t, C_t) -> (y_t (d,), h (d, n)): "
              "h = exp(delta A) h + delta B_t u_t, y_t = C_t . h",
    reference=_step_reference,
    arg_names=("h", "u_t", "delta_t", "A", "B_t", "C_t"),
    cases=_step_cases,
    hidden=_step_hidden,
    mistakes={
        "y_t was read from the old state: update h first, then y_t = C_t . h (the new h).":
            _step_old_state,
        "Bb_t u_t lacks delta: the input enters as delta_t B_t u_t.": _step_no_dt_in_B,
        "the results are in the other order: return (y_t, h), as in the signature.":
            lambda *args: _step_reference(*args)[::-1],
        "Bb_t is the exact zero-order hold (exp(delta A) - 1) / A B_t; Mamba uses the Euler "
        "rule delta_t B_t (ZOH only for A).": _step_zoh,
    },
))


def _discretize_cases(rng):
    cases = [(np.zeros((1, 1)), -np.ones((1, 1)), np.ones((1, 1)), np.zeros(1))]
    for d, n, L in ((2, 3, 4), (3, 1, 6), (4, 5, 3)):
        _, delta, A, B, _ = _selective_inputs(rng, d, n, L)
        cases.append((rng.standard_normal((d, L)), A, B, rng.standard_normal(d)))
    return cases


def _discretize_hidden(rng):
    cases = []
    for _ in range(2):
        d, n, L = (int(k) for k in rng.integers(1, 7, 3))
        _, delta, A, B, _ = _selective_inputs(rng, d, n, L)
        cases.append((rng.standard_normal((d, L)), A, B, rng.standard_normal(d)))
    return cases


def _discretize_reference(delta, A, B, delta_bias):
    """Ab, Bb (d, L, n) read off the package's step: Ab from h = 1, u = 0; Bb from h = 0, u = 1."""
    d, L = delta.shape
    n = A.shape[1]
    Ab, Bb = np.empty((d, L, n)), np.empty((d, L, n))
    for t in range(L):
        step = lambda h, u: mamba.selective_scan_step(  # noqa: E731
            h, u, delta[None, :, t], A, B[None, :, t], np.zeros((1, n)),
            delta_bias=delta_bias, delta_softplus=True)[1][0]
        Ab[:, t] = step(np.ones((1, d, n)), np.zeros((1, d)))
        Bb[:, t] = step(np.zeros((1, d, n)), np.ones((1, d)))
    return Ab, Bb


def _discretize_raw(Delta, A, B):
    """(exp(Delta A), Delta B) for a given Delta (d, L): for the known slips."""
    return np.exp(Delta[..., None] * A[:, None, :]), Delta[..., None] * B.T[None]


_register(Exercise(
    name="mamba.discretize",
    signature="discretize(delta, A, B, delta_bias) -> (Ab, Bb), each (d, L, n): "
              "Delta = softplus(delta + delta_bias), Ab = exp(Delta A), Bb = Delta B",
    reference=_discretize_reference,
    arg_names=("delta", "A", "B", "delta_bias"),
    cases=_discretize_cases,
    hidden=_discretize_hidden,
    mistakes={
        "softplus is missing: Delta = softplus(delta + delta_bias) keeps the step positive.":
            lambda delta, A, B, b: _discretize_raw(delta + b[:, None], A, B),
        "the bias was added after the softplus: Delta = softplus(delta + delta_bias).":
            lambda delta, A, B, b: _discretize_raw(mamba.softplus_numpy(delta) + b[:, None],
                                                   A, B),
        "Bb is the exact zero-order hold (exp(Delta A) - 1) / A B; Mamba's kernel uses the "
        "simpler Euler rule Bb = Delta B (ZOH only for A).":
            lambda delta, A, B, b: (
                _discretize_reference(delta, A, B, b)[0],
                np.expm1(mamba.softplus_numpy(delta + b[:, None])[..., None] * A[:, None, :])
                / A[:, None, :] * B.T[None]),
    },
))


def _combine_cases(rng):
    return [((0.5, 1.0), (0.5, 2.0)),
            ((rng.uniform(0, 1, 4), rng.standard_normal(4)),
             (rng.uniform(0, 1, 4), rng.standard_normal(4))),
            ((rng.uniform(0, 1, (2, 3)), rng.standard_normal((2, 3))),
             (rng.uniform(0, 1, (2, 3)), rng.standard_normal((2, 3))))]


def _combine_hidden(rng):
    shape = tuple(int(k) for k in rng.integers(1, 6, 2))
    return [((float(rng.uniform(0, 1)), float(rng.standard_normal())),
             (float(rng.uniform(0, 1)), float(rng.standard_normal()))),
            ((rng.uniform(0, 1, shape), rng.standard_normal(shape)),
             (rng.uniform(0, 1, shape), rng.standard_normal(shape)))]


_register(Exercise(
    name="mamba.combine",
    signature="combine(left, right) -> (a, b): left = (a1, b1) applied first, then "
              "right = (a2, b2), to h -> a h + b",
    reference=lambda left, right: tuple(np.asarray(v, float) for v in mamba.combine(left, right)),
    arg_names=("left", "right"),
    cases=_combine_cases,
    hidden=_combine_hidden,
    mistakes={
        "the steps are applied in the wrong order: left (a1, b1) comes first, so "
        "h -> a2 (a1 h + b1) + b2 = (a1 a2) h + (a2 b1 + b2).":
            lambda left, right: mamba.combine(right, left),
        "b2 must not be scaled: a2 (a1 h + b1) + b2 gives b = a2 b1 + b2.":
            lambda left, right: (left[0] * right[0], right[0] * (left[1] + right[1])),
    },
))


def _scan_cases(rng):
    cases = [(np.array([[1.0, 0, 0, 0]]), np.full((1, 4), 0.5), -np.ones((1, 1)),
              np.ones((1, 4)), np.ones((1, 4)))]
    cases += [_selective_inputs(rng, d, n, L) for d, n, L in ((2, 3, 5), (3, 2, 16), (1, 4, 9))]
    return cases


def _scan_hidden(rng):
    return [_selective_inputs(rng, *(int(k) for k in rng.integers(1, 7, 2)),
                              int(rng.integers(2, 20))) for _ in range(2)]


def _scan_reference(u, delta, A, B, C):
    return mamba.selective_scan(u[None], delta[None], A, B[None], C[None])[0]


def _shifted(u, delta, A, B, C):
    """y_t = C_t . h_{t-1}: the output read before the update."""
    d, L = u.shape
    h, y = np.zeros((d, A.shape[1])), np.zeros((d, L))
    for t in range(L):
        y[:, t] = (C[:, t] * h).sum(-1)
        h = np.exp(delta[:, t, None] * A) * h + delta[:, t, None] * B[:, t] * u[:, t, None]
    return y


def _scan_zoh(u, delta, A, B, C):
    """B-bar by the exact zero-order hold instead of Mamba's delta B."""
    d, L = u.shape
    h, y = np.zeros((d, A.shape[1])), np.zeros((d, L))
    for t in range(L):
        dA = delta[:, t, None] * A
        h = np.exp(dA) * h + np.expm1(dA) / A * B[:, t] * u[:, t, None]
        y[:, t] = (C[:, t] * h).sum(-1)
    return y


_register(Exercise(
    name="mamba.scan",
    signature="scan(u, delta, A, B, C) -> y (d, L): h_t = exp(delta_t A) h_{t-1} + "
              "delta_t B_t u_t, y_t = C_t . h_t",
    reference=_scan_reference,
    arg_names=("u", "delta", "A", "B", "C"),
    cases=_scan_cases,
    hidden=_scan_hidden,
    mistakes={
        "y_t was read before the update (C_t . h_{t-1}); the input u_t is already in h_t.":
            _shifted,
        "Bb_t u_t lacks delta: the input enters as delta_t B_t u_t.":
            lambda u, delta, A, B, C: _scan_reference(u / delta, delta, A, B, C),
        "Bb_t is the exact zero-order hold (exp(delta A) - 1) / A B_t; Mamba uses the Euler "
        "rule delta_t B_t (ZOH only for A).": _scan_zoh,
    },
    also_refused=(mamba.scan_numpy, mamba.scan_torch_sequential, mamba.scan_torch_parallel,
                  mamba.scan_torch_recurrence),
))


# ---------------------------------------------------------------- a scan in chunks (debug)
def _chunked_cases(rng):
    cases = [(np.array([0.5, 0.5, 0.5, 0.5]), np.array([1.0, 0, 0, 0]), 2)]
    for L, shape, chunk in ((7, (), 3), (8, (3,), 4), (9, (2, 2), 1), (5, (2,), 8)):
        cases.append((rng.uniform(0.2, 1.0, (L, *shape)), rng.standard_normal((L, *shape)),
                      chunk))
    return cases


def _chunked_hidden(rng):
    cases = []
    for _ in range(2):
        L, chunk = int(rng.integers(5, 20)), int(rng.integers(2, 6))
        shape = tuple(int(k) for k in rng.integers(1, 4, int(rng.integers(0, 3))))
        cases.append((rng.uniform(0.2, 1.0, (L, *shape)), rng.standard_normal((L, *shape)),
                      chunk))
    return cases


def _chunked_reference(a, b, chunk):
    """All states h_t = a_t h_{t-1} + b_t along axis 0 (h_{-1} = 0), and the states
    h_{s-1} at the chunk starts s = 0, chunk, 2 chunk, ... (0 for the first)."""
    h = np.moveaxis(recurrence.linear_recurrence(np.moveaxis(a, 0, -1),
                                                 np.moveaxis(b, 0, -1)), -1, 0)
    starts = np.concatenate([np.zeros((1, *np.shape(b)[1:])), h[chunk - 1:-1:chunk]])
    return h, starts


def _chunked(a, b, chunk, carry_first=True, carry=True):
    """The chunked scan with the carried pair combined before (right) or after (the bug)
    the chunk's prefix, or not carried at all."""
    def comb(left, right):
        return left[0] * right[0], right[0] * left[1] + right[1]
    L, shape = len(b), np.shape(b)[1:]
    h, starts = np.zeros(np.shape(b)), []
    before = (np.ones(shape), np.zeros(shape))
    for s in range(0, L, chunk):
        starts.append(before[1])
        pre = (np.ones(shape), np.zeros(shape))
        for t in range(s, min(s + chunk, L)):
            pre = comb(pre, (a[t], b[t]))
            whole = comb(before, pre) if carry_first else comb(pre, before)
            h[t] = whole[1] if carry else pre[1]
        before = comb(before, pre) if carry_first else comb(pre, before)
    return h, np.array(starts)


_register(Exercise(
    name="mamba.chunked_scan",
    signature="chunked_scan(a, b, chunk) -> (h (L, ...), starts (ceil(L / chunk), ...)): "
              "h_t = a_t h_{t-1} + b_t, h_{-1} = 0, chunk by chunk, and the state h_{s-1} "
              "carried into each chunk s",
    reference=_chunked_reference,
    arg_names=("a", "b", "chunk"),
    cases=_chunked_cases,
    hidden=_chunked_hidden,
    mistakes={
        "the pair carried in from the chunks before sits on the wrong side of the chunk's "
        "prefix: the combine is not commutative; which steps happen first?":
            lambda a, b, chunk: _chunked(a, b, chunk, carry_first=False),
        "nothing is carried into a chunk: each chunk starts again from h = 0; h_t = "
        "P_t h_{s-1} + H_t needs the state h_{s-1} from the chunks before.":
            lambda a, b, chunk: _chunked(a, b, chunk, carry=False),
    },
    outputs=("h", "starts"),
    also_refused=(mamba.associative_scan, mamba.scan_numpy),
))


# ---------------------------------------------------------------- the scan's backward pass
def _backward_cases(rng):
    cases = [(np.array([[1.0, 0, 0]]), np.full((1, 3), 0.5), -np.ones((1, 1)),
              np.ones((1, 3)), np.ones((1, 3)), np.array([[0.0, 0, 1]]))]
    for d, n, L in ((2, 3, 5), (3, 2, 8), (1, 4, 6)):
        cases.append((*_selective_inputs(rng, d, n, L), rng.standard_normal((d, L))))
    return cases


def _backward_hidden(rng):
    cases = []
    for _ in range(2):
        d, n = (int(k) for k in rng.integers(1, 6, 2))
        L = int(rng.integers(2, 16))
        cases.append((*_selective_inputs(rng, d, n, L), rng.standard_normal((d, L))))
    return cases


def _backward_reference(u, delta, A, B, C, dy):
    """(dL/d delta, dL/dB) for L = sum(dy * y), by autograd through the package's loop."""
    t = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (delta, B)]
    y = mamba.selective_scan(torch.tensor(u)[None], t[0][None], torch.tensor(A), t[1][None],
                             torch.tensor(C)[None], backend="torch_sequential")[0]
    (y * torch.tensor(dy)).sum().backward()
    return t[0].grad.numpy(), t[1].grad.numpy()


def _backward_by_hand(u, delta, A, B, C, dy, carry=True, through_decay=True):
    """The reverse recurrence g_t = dy_t C_t + a_{t+1} g_{t+1}, with two known slips."""
    d, L = u.shape
    a = np.exp(delta.T[:, :, None] * A)                         # (L, d, n)
    h, hs = np.zeros(A.shape), []
    for t in range(L):
        h = a[t] * h + (delta[:, t] * u[:, t])[:, None] * B[:, t]
        hs.append(h)
    g_next, d_delta, dB = np.zeros(A.shape), np.zeros((d, L)), np.zeros(B.shape)
    for t in range(L - 1, -1, -1):
        g = dy[:, t, None] * C[:, t] + (a[t + 1] * g_next if carry and t + 1 < L else 0)
        h_prev = hs[t - 1] if t else np.zeros(A.shape)
        d_delta[:, t] = (g * B[:, t]).sum(1) * u[:, t]
        if through_decay:
            d_delta[:, t] += (g * A * a[t] * h_prev).sum(1)
        dB[:, t] = (g * (delta[:, t] * u[:, t])[:, None]).sum(0)
        g_next = g
    return d_delta, dB


_register(Exercise(
    name="mamba.scan_backward",
    signature="scan_backward(u, delta, A, B, C, dy) -> (d_delta (d, L), d_B (n, L)): the "
              "gradients of sum(dy * y) for y = scan(u, delta, A, B, C)",
    reference=_backward_reference,
    arg_names=("u", "delta", "A", "B", "C", "dy"),
    cases=_backward_cases,
    hidden=_backward_hidden,
    # float64 on both sides, at most 16 steps: rounding ~ L * 1e-16 relative, far below
    rtol=1e-8, atol=1e-12,  # the smallest error a real slip makes (a whole term)
    mistakes={
        "g_t lacks the carried term: h_t also feeds h_{t+1}, so g_t = dy_t C_t + "
        "exp(delta_{t+1} A) g_{t+1}, computed from the last step backwards.":
            lambda *args: _backward_by_hand(*args, carry=False),
        "d_delta lacks the path through exp(delta_t A): delta_t also scales the decay, "
        "adding sum_n g_t A exp(delta_t A) h_{t-1}.":
            lambda *args: _backward_by_hand(*args, through_decay=False),
        "the results are in the other order: return (d_delta, d_B).":
            lambda *args: _backward_reference(*args)[::-1],
    },
    outputs=("d_delta", "d_B"),
    also_refused=(mamba.selective_scan, mamba.scan_torch_sequential,
                  mamba.scan_torch_parallel, mamba.scan_torch_recurrence,
                  mamba.ScanRecurrence.backward),
))
