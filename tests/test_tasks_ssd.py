"""tasks.mqar: multi-query associative recall, checked by re-deriving each answer."""

import numpy as np
import pytest

from seqlearn import tasks


def test_every_query_answers_its_pair():
    x, y = tasks.mqar(50, length=40, n_pairs=5, n_keys=8, n_values=6, rng=0)
    assert x.shape == y.shape == (50, 40)
    for row_x, row_y in zip(x, y):
        pairs = dict(zip(row_x[0:10:2], row_x[1:10:2]))
        assert len(pairs) == 5 and all(1 <= k <= 8 for k in pairs)
        assert all(9 <= v <= 14 for v in pairs.values())
        queries = np.flatnonzero(row_y != tasks.IGNORE)
        assert len(queries) == 5 and queries.min() >= 10
        assert sorted(row_x[queries]) == sorted(pairs)
        assert all(row_y[t] == pairs[row_x[t]] for t in queries)
        rest = np.setdiff1d(np.arange(10, 40), queries)
        assert (row_x[rest] == 0).all()


def test_seeded_and_errors():
    a, b = tasks.mqar(3, rng=1), tasks.mqar(3, rng=1)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    with pytest.raises(ValueError, match="^n_pairs:"):
        tasks.mqar(3, n_pairs=20, n_keys=16)
    with pytest.raises(ValueError, match="^length:"):
        tasks.mqar(3, length=5, n_pairs=2)
