"""The shared argument checks: conversions, and messages that name the argument."""

import numpy as np
import pytest

from seqlearn._checks import integer, numeric_array


@pytest.mark.parametrize("minimum, words", [(1, "a positive integer"), (0, "a non-negative integer"),
                                            (2, "an integer >= 2")])
def test_integer_messages(minimum, words):
    with pytest.raises(ValueError, match=f"^n: expected {words}, got -1$"):
        integer("n", -1, minimum)


@pytest.mark.parametrize("bad", [True, 2.0, "3", None])
def test_integer_refuses_non_integers(bad):
    with pytest.raises(ValueError, match="^n: expected"):
        integer("n", bad)


def test_integer_accepts_numpy_integers():
    assert integer("n", np.int32(4)) == 4 and type(integer("n", np.int64(4))) is int


def test_numeric_array_conversions():
    x64 = np.ones(3)
    assert numeric_array("x", x64) is x64  # no copy
    assert numeric_array("x", [1, 2]).dtype == np.float64
    assert numeric_array("x", np.ones(2, np.float32)).dtype == np.float64
    assert numeric_array("x", np.ones(2, np.float32), keep_float32=True).dtype == np.float32
    assert numeric_array("x", [1j], allow_complex=True).dtype == np.complex128


@pytest.mark.parametrize("value, kwargs, message", [
    ([1j], {}, "x: expected real numbers, got dtype complex128"),
    (["a"], {}, "x: expected an array of numbers, got dtype <U1"),
    ([[1, 2], [3]], {}, "x: expected an array of numbers, got list"),
    (np.ones(3), {"min_ndim": 2, "what": "shape (L, d)"}, r"x: expected shape \(L, d\), got shape \(3,\)"),
])
def test_numeric_array_messages(value, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        numeric_array("x", value, **kwargs)


# ---------------------------------------------------------------- the contract's helpers (issue 13)
import torch  # noqa: E402

from seqlearn._checks import (affordable, finite, flag, function, number, option,  # noqa: E402
                              positive, torch_tensor, warn_once)


@pytest.mark.parametrize("bad", ["no", 1, 0, None, np.array([True])])
def test_flag_refuses_what_is_not_a_bool(bad):
    with pytest.raises(ValueError, match="^causal: expected True or False"):
        flag("causal", bad)
    assert flag("causal", np.bool_(True)) is True


def test_numeric_array_takes_tensors_without_grad_and_refuses_those_with():
    assert numeric_array("x", torch.ones(2)).dtype == np.float64
    with pytest.raises(ValueError, match=r"^x: .*requires grad.*detach"):
        numeric_array("x", torch.ones(2, requires_grad=True))
    with pytest.raises(ValueError, match="^x: expected an array of numbers, got None"):
        numeric_array("x", None)


@pytest.mark.parametrize("bad", [True, np.bool_(False), [1, [2, 3]], "1", None, [True]])
def test_positive_names_the_argument_for_every_bad_value(bad):
    with pytest.raises(ValueError, match="^dt: expected"):
        positive("dt", bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "1", None, np.ones(2)])
def test_number_refuses_non_numbers(bad):
    with pytest.raises(ValueError, match="^rho: expected a finite real number"):
        number("rho", bad)
    assert number("rho", np.float32(0.5)) == 0.5


def test_the_other_helpers_name_the_argument():
    with pytest.raises(ValueError, match="^method: expected one of 'zoh', 'bilinear', got 'ZOH'"):
        option("method", "ZOH", ("zoh", "bilinear"))
    with pytest.raises(ValueError, match="^A: expected finite entries"):
        finite("A", np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="^f: expected a function, got int 42"):
        function("f", 42)
    with pytest.raises(ValueError, match="^L: this asks for 1,000,000,000,000 numbers"):
        affordable("L", 10**12)
    with pytest.raises(ValueError, match="^n: expected an integer <= 10"):
        integer("n", 11, maximum=10)
    with pytest.raises(ValueError, match=r"^x: expected dtype torch.float32 or torch.float64"):
        torch_tensor("x", torch.ones(2, dtype=torch.int64))


def test_warn_once_warns_once():
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            warn_once("unstable: test_warn_once_warns_once")
    assert len(caught) == 1


def test_number_takes_zero_dimensional_arrays_and_tensors_alike():
    assert number("t", np.array(2.5)) == number("t", torch.tensor(2.5)) == 2.5
    for bad in (np.ones(2), torch.ones(2), np.array(True), 1 + 2j):
        with pytest.raises(ValueError, match="^t: expected a finite real number"):
            number("t", bad)


def test_finite_takes_arrays_and_tensors():
    assert finite("A", torch.ones(2, requires_grad=True)).shape == (2,)
    for bad in (torch.tensor([1.0, float("inf")]), [1.0, float("nan")]):
        with pytest.raises(ValueError, match="^A: expected finite entries"):
            finite("A", bad)


def test_token_ids_and_not_bool_name_the_argument():
    from seqlearn._checks import not_bool, token_ids
    assert token_ids("ids", torch.tensor([[0, 3]]), 2, "(batch, L)", 4).shape == (1, 2)
    for bad, message in [(torch.tensor([[0, 4]]), r"token ids in \[0, 4\), got ids from 0 to 4"),
                         (torch.tensor([[0.0, 1.0]]), "a non-empty int64 tensor"),
                         (torch.zeros(1, 0, dtype=torch.int64), "a non-empty int64 tensor"),
                         ([[0, 1]], "a non-empty int64 tensor")]:
        with pytest.raises(ValueError, match=f"^ids: expected {message}"):
            token_ids("ids", bad, 2, "(batch, L)", 4)
    with pytest.raises(ValueError, match="^D: expected a number"):
        not_bool("D", np.array([True]), "a number")


def test_reversed_views_are_accepted_and_give_the_numbers_of_a_copy():
    """Reliability review, turn 3, finding 11: a view with a negative stride (np.flip,
    [::-1]) was refused with torch's message by the functions that hand arrays to torch."""
    from seqlearn import s4, ssd
    dA = -np.arange(1.0, 6.0)
    np.testing.assert_array_equal(ssd.semiseparable_mask(dA[::-1]),
                                  ssd.semiseparable_mask(dA[::-1].copy()))
    rng = np.random.default_rng(0)
    Lam, P, B, C = (-0.5 + 1j * np.arange(4.0), rng.standard_normal(4),
                    rng.standard_normal(4), rng.standard_normal(4))
    flipped = [x[::-1] for x in (Lam, P, P, B, C)]
    np.testing.assert_array_equal(s4.dplr_kernel(*flipped, 0.1, 6),
                                  s4.dplr_kernel(*[x.copy() for x in flipped], 0.1, 6))


def test_sparse_and_meta_tensors_are_refused_by_name_across_the_package():
    """Reliability review, turn 3, finding 10: sparse tensors gave wrong results in the
    one-step forms (S4D/S4 ssm_step, ssd_step) and torch's own errors elsewhere; meta
    tensors likewise. One check (``_checks.dense_tensor``) behind every tensor input."""
    import torch
    from seqlearn import s4, ssd
    from seqlearn.mamba import selective_scan
    torch.manual_seed(0)
    layer = s4.S4DLayer(3, d_state=4)
    u_t, state = torch.randn(2, 3), layer.initial_state(2)
    calls = {
        "u_t": [lambda bad: layer.ssm_step(bad(u_t), state)],
        "state": [lambda bad: layer.ssm_step(u_t, bad(state))],
        "x_t": [lambda bad: ssd.ssd_step(torch.zeros(1, 2, 3, 4), bad(torch.randn(1, 2, 3)),
                                         torch.rand(1, 2), -torch.ones(2),
                                         torch.randn(1, 1, 4), torch.randn(1, 1, 4))],
        "u": [lambda bad: selective_scan(bad(torch.randn(1, 2, 3)), np.ones((1, 2, 3)),
                                         -np.ones((2, 2)), np.ones((1, 2, 3)),
                                         np.ones((1, 2, 3)))],        # a NumPy backend
    }
    for name, fns in calls.items():
        for bad in (lambda t: t.to_sparse(), lambda t: t.to("meta")):
            for fn in fns:
                with pytest.raises(ValueError, match=f"^{name}: expected a dense tensor"):
                    fn(bad)


def test_an_inference_mode_tensor_is_refused_by_name_where_autograd_would_fail():
    """A tensor made under torch.inference_mode() fed to a layer that records gradients:
    torch's own error came from deep inside (reliability review turn 3, finding 10);
    now the layer names its input. Inside inference_mode it still works."""
    import torch
    from seqlearn import mamba, s4
    with torch.inference_mode():
        x = torch.randn(2, 8, 4)
    for layer in (s4.S4DLayer(4), mamba.MambaBlock(4)):
        with pytest.raises(ValueError, match="inference_mode"):
            layer(x)
        with torch.inference_mode():
            assert layer(x).shape == (2, 8, 4)
