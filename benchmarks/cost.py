"""How time and memory grow with the sequence length L: tanh RNN, causal softmax attention,
causal linear attention (NumPy, one sequence, width d).

    python benchmarks/cost.py [--max-L 4096] [--min-L 64] [--d 64] [--repeat 3] [--tail 3]

L doubles from --min-L to --max-L. For each model it prints the best-of-``repeat`` time
and the peak NumPy memory (tracemalloc), then the exponent p of cost ~ c * L^p fitted
on log-log axes, over all lengths and over the ``tail`` largest (where the leading
term dominates), and the ratios between the models measured in this same run.
Expected: p ~ 1 for the RNN and linear attention, p ~ 2 for softmax attention.

BLAS runs on --threads threads (1 by default, set before NumPy is imported): the RNN loop
and the cumsum of linear attention use one core anyway, and on small virtual machines
waking BLAS worker threads can cost ~10 ms per matrix product, which swamps the timings
at small L (softmax attention at L = 256 measured 20 ms instead of 0.7 ms).
"""

import argparse
import os
import sys
import time
from pathlib import Path

NAMES = ["rnn", "softmax attention", "linear attention"]
SHORT = {"rnn": "rnn", "softmax attention": "softmax", "linear attention": "linear"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-L", type=int, default=4096, help="largest length (4096)")
    parser.add_argument("--min-L", type=int, default=64, help="smallest length (64)")
    parser.add_argument("--d", type=int, default=64, help="model width (64)")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs, best kept (3)")
    parser.add_argument("--tail", type=int, default=3, help="points in the tail fit (3)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1)")
    args = parser.parse_args()
    if args.min_L < 1 or args.max_L < 2 * args.min_L:
        parser.error("need 1 <= --min-L and --max-L >= 2 * --min-L (two lengths at least)")
    return args


def main():
    args = parse_args()
    for var in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"]:
        os.environ[var] = str(args.threads)  # read once, when NumPy loads its BLAS
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # no pip install
    import numpy as np
    from seqlearn.cost import compare_costs, loglog_slope

    lengths = []
    L = args.min_L
    while L <= args.max_L:
        lengths.append(L)
        L *= 2
    tail = min(args.tail, len(lengths))
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, {args.threads} BLAS thread(s), "
          f"d = {args.d}, best of {args.repeat}, float64, one sequence")
    start = time.perf_counter()
    curves = compare_costs(lengths, d=args.d, repeat=args.repeat)
    elapsed = time.perf_counter() - start

    head = "".join(f"{SHORT[n] + ' ms':>12}" for n in NAMES)
    head += "".join(f"{SHORT[n] + ' MB':>12}" for n in NAMES)
    print(f"\n{'L':>6}{head}")
    for i, L in enumerate(lengths):
        row = "".join(f"{1e3 * curves[n]['seconds'][i]:12.3f}" for n in NAMES)
        row += "".join(f"{curves[n]['bytes'][i] / 1e6:12.3f}" for n in NAMES)
        print(f"{L:>6}{row}")

    print(f"\nfitted exponent p in cost ~ c * L^p (all {len(lengths)} lengths | "
          f"largest {tail}; expected: rnn 1, softmax 2, linear 1)")
    for n in NAMES:
        c = curves[n]
        print(f"  {n:18} time {loglog_slope(c['L'], c['seconds']):5.2f} | "
              f"{loglog_slope(c['L'], c['seconds'], tail=tail):5.2f}    "
              f"memory {loglog_slope(c['L'], c['bytes']):5.2f} | "
              f"{loglog_slope(c['L'], c['bytes'], tail=tail):5.2f}")

    print("\nlocal exponents, log2(cost(2L) / cost(L)), per doubling:")
    for n in NAMES:
        for key in ["seconds", "bytes"]:
            steps = np.log2(curves[n][key][1:] / curves[n][key][:-1])
            print(f"  {n:18} {'time' if key == 'seconds' else 'mem ':5}"
                  + " ".join(f"{s:5.2f}" for s in steps))

    rnn, soft, lin = (curves[n] for n in NAMES)
    print(f"\nratios in this run{'':6}{'time':>30}{'memory':>30}")
    print(f"{'L':>6}" + "".join(f"{h:>15}" for h in ["softmax/rnn", "softmax/linear"] * 2))
    for i, L in enumerate(lengths):
        cells = [soft["seconds"][i] / rnn["seconds"][i], soft["seconds"][i] / lin["seconds"][i],
                 soft["bytes"][i] / rnn["bytes"][i], soft["bytes"][i] / lin["bytes"][i]]
        print(f"{L:>6}" + "".join(f"{c:15.2f}" for c in cells))
    print(f"\nmeasured in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
