"""What the checker says about errors every exercise can meet: a name NumPy removed, an
error raised inside a library call, a complex answer, and chapter 0's loopholes."""

import numpy as np

from seqlearn.exercises import check
from seqlearn.recurrence import ema


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, capsys.readouterr().out


def test_a_name_numpy_removed_gets_its_replacement(capsys):
    def my_project(f, t, N):
        return np.trapz(f, t)            # removed in NumPy 2.4

    ok, out = run(capsys, "basis.project", my_project)
    assert not ok
    assert "use np.trapezoid" in out
    assert "at line" in out and "my_project" in out     # the student's own line


def test_an_error_inside_numpy_points_at_the_students_line(capsys):
    def my_lstm(x_t, h, c, W_ih, W_hh, b_ih, b_hh):
        z = x_t @ W_ih.T + h @ W_hh.T + b_ih + b_hh
        i, f, g, o = np.split(z, 5)      # 4 H entries do not split into 5
        return h, c

    ok, out = run(capsys, "rnn.lstm_step", my_lstm)
    assert not ok
    assert "np.split(z, 5)" in out.replace("\n", " ")
    assert "raised inside numpy, in its split" in out.replace("\n", " ").replace("  ", " ")
    assert "_shape_base" not in out      # not NumPy's own file and line


def test_a_complex_answer_to_a_real_exercise_fails(capsys):
    def my_ema(x, alpha):                # via the FFT: right values, complex dtype
        x = np.asarray(x, dtype=float)
        L = x.shape[-1]
        K = (1 - alpha) * alpha ** np.arange(L)
        return np.fft.ifft(np.fft.fft(x, 2 * L) * np.fft.fft(K, 2 * L))[..., :L]

    ok, out = run(capsys, "intro.ema", my_ema)
    assert not ok
    assert "complex" in out and "np.real" in out


def test_a_kernel_truncated_at_a_fixed_length_fails(capsys):
    def truncated(n):
        def my_ema(x, alpha):
            x = np.asarray(x, dtype=float)
            K = (1 - alpha) * alpha ** np.arange(n)
            L = x.shape[-1]
            return np.apply_along_axis(lambda r: np.convolve(r, K)[:L], -1, x)
        return my_ema

    for n in (40, 80, 200):
        ok, _ = run(capsys, "intro.ema", truncated(n))
        assert not ok, f"a kernel of {n} taps passed"
    ok, _ = run(capsys, "intro.ema", truncated(10_000))   # no truncation within the cases
    assert ok


def test_an_ema_one_step_late_is_named(capsys):
    def my_ema(x, alpha):
        x = np.asarray(x, dtype=float)
        h, state = np.zeros_like(x), np.zeros(x.shape[:-1])
        for t in range(x.shape[-1]):
            h[..., t] = state            # stored before the update
            state = alpha * state + (1 - alpha) * x[..., t]
        return h

    ok, out = run(capsys, "intro.ema", my_ema)
    assert not ok and "one step late" in out


def test_the_reference_itself_is_refused(capsys):
    ok, out = run(capsys, "intro.ema", ema)
    assert not ok and "course's own function" in out


def test_a_wrapper_around_the_reference_is_refused(capsys):
    import seqlearn.recurrence

    def my_ema(x, alpha):                # imported inside: still the course's own ema
        return seqlearn.recurrence.ema(x, alpha)

    ok, out = run(capsys, "intro.ema", my_ema)
    assert not ok and "calls the course's own seqlearn.recurrence.ema" in out


def test_the_primitive_behind_the_reference_is_refused(capsys):
    from seqlearn.recurrence import linear_recurrence

    def my_ema(x, alpha):                # the EMA is this one call: not written
        return linear_recurrence(alpha, (1 - alpha) * np.asarray(x, dtype=float))

    ok, out = run(capsys, "intro.ema", my_ema)
    assert not ok and "calls the course's own seqlearn.recurrence.linear_recurrence" in " ".join(
        out.split())


def test_using_other_course_functions_is_allowed(capsys):
    from seqlearn import basis

    def my_project(f, t, N):             # chapter 3's Legendre basis as a building block
        phi = basis.legendre(N, t, (t[0], t[-1]))
        return np.trapezoid(phi * f, t, axis=-1)

    ok, out = run(capsys, "basis.project", my_project)
    assert ok, out


def test_the_parts_of_a_result_are_named(capsys):
    from seqlearn.attention import elu_feature_map

    def my_step(state, q, k, v):          # y_t right, S_t wrong
        S, z = state
        S, z = S + np.outer(elu_feature_map(k), v), z + elu_feature_map(k)
        y = elu_feature_map(q) @ S / (elu_feature_map(q) @ z)
        return y, (1.01 * S, z)

    ok, out = run(capsys, "attention.linear_step", my_step)
    assert not ok and "S_t differs" in out and "result[1]" not in out


def test_a_slip_that_gives_nan_is_recognised(capsys):
    def my_attention(Q, K, V, mask):      # no max subtraction: NaN for large scores
        scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        with np.errstate(over="ignore", invalid="ignore"):
            w = np.exp(scores)
            return w / w.sum(axis=-1, keepdims=True) @ V

    ok, out = run(capsys, "attention.sdpa", my_attention)
    assert not ok and "contains nan" in out and "subtract each row's maximum" in " ".join(out.split())
