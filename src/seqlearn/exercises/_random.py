"""Random test systems shared by the chapter modules."""

import numpy as np


def stable(rng, N):
    """A random stable A (N, N): eigenvalues shifted to real parts <= -0.1."""
    A = rng.standard_normal((N, N))
    return A - (np.linalg.eigvals(A).real.max() + 0.1 + rng.uniform(0, 1)) * np.eye(N)
