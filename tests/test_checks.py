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
