"""seqlearn.tasks.first_token_classification: shapes, determinism, the label is the
first token and nothing else, balanced classes, argument checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlearn.tasks import first_token_classification


def test_shapes_dtypes_and_token_ranges():
    x, y = first_token_classification(50, 1024, n_classes=4, n_noise=8, rng=0)
    assert x.shape == (50, 1024) and y.shape == (50,)
    assert x.dtype == np.int64 and y.dtype == np.int64
    assert np.array_equal(x[:, 0], y)
    assert y.min() >= 0 and y.max() < 4
    assert x[:, 1:].min() >= 4 and x[:, 1:].max() < 12  # noise never equals a class token
    assert set(np.unique(x[:, 1:])) == set(range(4, 12))  # every noise token occurs


def test_deterministic_given_seed_or_generator():
    a = first_token_classification(20, 64, rng=5)
    b = first_token_classification(20, 64, rng=5)
    c = first_token_classification(20, 64, rng=np.random.default_rng(5))
    d = first_token_classification(20, 64, rng=6)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert all(np.array_equal(u, v) for u, v in zip(a, c))
    assert not np.array_equal(a[0], d[0])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(2, 6), st.integers(1, 5), st.integers(1, 300),
       st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_label_depends_on_the_first_token_only(n, n_classes, n_noise, len_a, len_b, seed):
    # Same seed, two lengths: the tails differ entirely, the first tokens and labels do not.
    xa, ya = first_token_classification(n, len_a, n_classes, n_noise, rng=seed)
    xb, yb = first_token_classification(n, len_b, n_classes, n_noise, rng=seed)
    assert np.array_equal(ya, yb) and np.array_equal(xa[:, 0], xb[:, 0])
    # Samples that share their first token share their label, whatever follows it.
    for token in np.unique(xa[:, 0]):
        assert np.all(ya[xa[:, 0] == token] == token)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 200), st.integers(2, 10), st.integers(0, 2**32 - 1))
def test_labels_are_balanced(n, n_classes, seed):
    _, y = first_token_classification(n, 3, n_classes, rng=seed)
    counts = np.bincount(y, minlength=n_classes)
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n


def test_noise_is_independent_of_the_label():
    # The distractor histogram is (nearly) the same for every class.
    x, y = first_token_classification(400, 512, n_classes=4, n_noise=8, rng=1)
    freqs = np.array([np.bincount(x[y == c, 1:].ravel() - 4, minlength=8) for c in range(4)])
    freqs = freqs / freqs.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(freqs, 1 / 8, atol=0.01)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_samples=0, length=8), "n_samples"),
    (dict(n_samples=2.5, length=8), "n_samples"),
    (dict(n_samples=4, length=0), "length"),
    (dict(n_samples=4, length=True), "length"),
    (dict(n_samples=4, length=8, n_classes=1), "n_classes"),
    (dict(n_samples=4, length=8, n_noise=0), "n_noise"),
    (dict(n_samples=4, length=8, rng=-1), "rng"),
    (dict(n_samples=4, length=8, rng="seed"), "rng"),
    (dict(n_samples=4, length=8, rng=None), "rng"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        first_token_classification(**kwargs)
