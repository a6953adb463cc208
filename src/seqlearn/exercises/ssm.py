"""Chapter 5's exercise on the SSM convolution kernel K[k] = C Ab^k Bb."""

import numpy as np

from seqlearn import discretize, ssm
from seqlearn.exercises._checker import Exercise, _register
from seqlearn.exercises._random import stable


def _kernel_K_cases(rng):
    Ab, Bb = discretize.discretize(stable(rng, 3), rng.standard_normal(3), 0.2, "zoh")
    return [(np.array([[0.5]]), np.array([1.0]), np.array([1.0]), 5),
            (Ab, Bb, rng.standard_normal(3), 12),
            (np.array([[0.9, 0.1], [0.0, 0.8]]), np.array([1.0, 1.0]), np.array([1.0, -1.0]), 1)]


def _kernel_K_hidden(rng):
    cases = []
    for _ in range(2):
        N = int(rng.integers(2, 7))
        Ab, Bb = discretize.discretize(stable(rng, N), rng.standard_normal(N),
                                       float(rng.uniform(0.05, 0.5)), "zoh")
        cases.append((Ab, Bb, rng.standard_normal(N), int(rng.integers(2, 30))))
    return cases


_register(Exercise(
    name="ssm.kernel",
    signature="kernel(Ab, Bb, C, L) -> K of shape (L,), K[k] = C Ab^k Bb",
    reference=ssm.ssm_kernel,
    arg_names=("Ab", "Bb", "C", "L"),
    cases=_kernel_K_cases,
    hidden=_kernel_K_hidden,
    mistakes={
        "the powers start at Ab^1; K[0] = C Bb (the newest input, not yet multiplied by Ab).":
            lambda Ab, Bb, C, L: ssm.ssm_kernel(Ab, np.asarray(Ab) @ Bb, C, L),
        "Ab is transposed: K[k] = C Ab^k Bb applies Ab to the column Bb (Ab @ x), "
        "not x @ Ab.":
            lambda Ab, Bb, C, L: ssm.ssm_kernel(np.asarray(Ab).T, Bb, C, L),
    },
))
