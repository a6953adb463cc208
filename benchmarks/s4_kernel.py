"""The SSM kernel K[k] = C Ab^k Bb, k < L, three ways, one channel, float64/complex128:

    python benchmarks/s4_kernel.py [--states 16 64 256] [--lengths 256 1024 4096]

    naive   discretize(A, B, dt, "bilinear") + ssm_kernel: L dense mat-vecs, O(N^2 L)
    dplr    dplr_kernel (S4: Cauchy kernel + Woodbury at the roots of unity, inverse FFT),
            O(N L) Cauchy sums + O(N^3 log L) for C tilde (dense power)
    s4d     s4d_kernel (S4D: diagonal A, Vandermonde product), O(N L)

A is HiPPO-LegS through ``nplr`` (naive and dplr compute the same kernel); s4d uses the
S4D-Lin diagonal of the same size. Best of ``--repeat`` wall-clock times; a combination
whose first run takes more than 5 s is skipped for later sizes of that method.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path


def best(fn, repeat):
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = [first]
    for _ in range(repeat - 1 if first < 1 else 0):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import numpy as np
    import torch
    from seqlearn.discretize import discretize
    from seqlearn.hippo import hippo_matrix
    from seqlearn.s4 import dplr_kernel, nplr, s4d_kernel, s4d_lin_init
    from seqlearn.ssm import ssm_kernel

    warnings.simplefilter("ignore")
    print(f"numpy {np.__version__}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, best of {args.repeat}, dt = 0.01")
    print(f"{'N':>4} {'L':>5}  {'naive ms':>9} {'dplr ms':>9} {'s4d ms':>9}  "
          f"{'naive/dplr':>10} {'naive/s4d':>9}  {'dplr rel.err':>12}")
    dt, slow = 0.01, set()
    for N in args.states:
        Lam, P, B, V = nplr("legs", N)
        Vh = V.conj().T
        C = np.random.default_rng(0).standard_normal(N)
        A, _ = hippo_matrix("legs", N)
        Ad = s4d_lin_init(N // 2)
        for L in args.lengths:
            fns = {"naive": lambda: ssm_kernel(*discretize(A, B, dt, "bilinear"), C, L),
                   "dplr": lambda: dplr_kernel(Lam, Vh @ P, Vh @ P, Vh @ B, C @ V, dt, L),
                   "s4d": lambda: s4d_kernel(Ad, 1.0, C[:N // 2], dt, L, conj_pairs=True)}
            t = {}
            for name, fn in fns.items():
                if name in slow:
                    t[name] = None
                    continue
                t[name], first = best(fn, args.repeat)
                if first > 5:
                    slow.add(name)
            err = "-"
            if t["naive"] is not None and t["dplr"] is not None:
                K0, K = fns["naive"](), fns["dplr"]()
                err = f"{np.abs(K - K0).max() / np.abs(K0).max():.1e}"
            ms = lambda x: f"{1e3 * x:9.2f}" if x is not None else f"{'skip':>9}"  # noqa
            ratio = lambda a, b: (f"{t[a] / t[b]:.2f}" if t[a] and t[b] else "-")  # noqa
            print(f"{N:>4} {L:>5}  {ms(t['naive'])} {ms(t['dplr'])} {ms(t['s4d'])}  "
                  f"{ratio('naive', 'dplr'):>10} {ratio('naive', 's4d'):>9}  {err:>12}")


if __name__ == "__main__":
    main()
