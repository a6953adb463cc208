"""The convolutional view's cost: FFT causal convolution against the direct sum
(np.convolve), one channel, float64, a kernel as long as the sequence.

    python benchmarks/conv.py [--lengths 1024 4096 16384] [--repeat 3]

    y_k = sum_{j=0}^{k} K[j] u_{k-j},   k = 0 .. L-1
    direct: O(L^2) multiply-adds (np.convolve, then the first L outputs)
    fft:    O(L log L), zero-padded to n >= 2L so the circular convolution does not wrap

For each L it prints the best-of-``repeat`` time of seqlearn.ssm.causal_conv with
method="fft" and method="direct", the speed-up direct / fft, and the largest difference
between the two outputs relative to max |y| (a check that both compute the same thing).
"""

import argparse
import os
import sys
import time
from pathlib import Path


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384],
                        help="sequence (and kernel) lengths (1024 4096 16384)")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs, best kept (3)")
    args = parser.parse_args()
    if min(args.lengths) < 1 or args.repeat < 1:
        parser.error("need lengths >= 1 and --repeat >= 1")
    return args


def best_time(fn, repeat):
    """The smallest wall-clock time of ``repeat`` calls, in seconds (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    args = parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # no pip install
    import numpy as np
    from seqlearn.ssm import causal_conv

    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, best of {args.repeat}, float64, "
          f"one channel, kernel length = L")
    print(f"{'L':>7}  {'fft (ms)':>10}  {'direct (ms)':>12}  {'speed-up':>9}  {'rel. diff':>9}")
    rng = np.random.default_rng(0)
    for L in args.lengths:
        u = rng.standard_normal(L)
        K = rng.standard_normal(L) * 0.999 ** np.arange(L)  # a decaying SSM-like kernel
        t_fft = best_time(lambda: causal_conv(u, K, method="fft"), args.repeat)
        t_direct = best_time(lambda: causal_conv(u, K, method="direct"), args.repeat)
        y_fft, y_direct = causal_conv(u, K, method="fft"), causal_conv(u, K, method="direct")
        diff = np.abs(y_fft - y_direct).max() / np.abs(y_direct).max()
        print(f"{L:>7}  {1e3 * t_fft:>10.3f}  {1e3 * t_direct:>12.3f}  "
              f"{t_direct / t_fft:>8.1f}x  {diff:>9.1e}")


if __name__ == "__main__":
    main()
