"""The selective scan (Mamba's S6), backend by backend: the NumPy loop against PyTorch.

    python benchmarks/scan.py [--quick] [--batch 2] [--d 64] [--n 16] [--length 2048]
                              [--chunks 16 64 256 1024] [--lengths 256 ... 8192]
                              [--widths 1 16 128 1024] [--repeat 5] [--threads 1]

    numpy             seqlearn.mamba.scan_numpy: a Python loop over t, float64 (the reference)
    torch_sequential  the same loop in PyTorch (float32), one small kernel per step
    torch (chunk c)   the chunked Blelloch scan: ~ L / c Python-level chunks, log2(c) levels
    triton            the fused GPU kernel (only timed when a CUDA GPU is present)

Every input is (batch, d, L) / (batch, n, L) with options D, z, delta_bias, softplus on, as in
the Mamba block. Times are the median of ``--repeat`` calls (time.perf_counter) after one
warm-up call; forward timings run under torch.no_grad(), "fwd+bwd" is forward plus
backward of y.sum() w.r.t. every input. Speed-ups are numpy time / backend time, all
measured in this one run. "rel. err" is max |y - y_numpy| / max |y_numpy| (a check that
the timed code computes the same thing).
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sweeps and fewer repeats (about 10 s)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--d", type=int, default=64, help="channels (d_inner)")
    parser.add_argument("--n", type=int, default=16, help="state size (d_state)")
    parser.add_argument("--length", type=int, default=2048, help="L of the main table")
    parser.add_argument("--chunks", type=int, nargs="+", default=[16, 64, 256, 1024],
                        help="chunk sizes of the parallel scan in the main table")
    parser.add_argument("--lengths", type=int, nargs="+",
                        default=[256, 512, 1024, 2048, 4096, 8192], help="the L sweep")
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 16, 128, 1024],
                        help="the batch * d sweep (batch 1, d = width) at L = --length")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs, median kept (5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1; 0 keeps torch's default). One thread "
                             "gives stable timings on a shared machine, where idle "
                             "OpenMP workers spinning can cost seconds")
    args = parser.parse_args()
    if args.quick:
        args.length = min(args.length, 1024)
        args.chunks = [64, 256]
        args.lengths = [256, 1024, 4096]
        args.widths = [1, 128, 1024]
        args.repeat = min(args.repeat, 3)
    if args.threads < 0:
        parser.error("--threads must be >= 0")
    if min([args.batch, args.d, args.n, args.length, args.repeat] + args.chunks + args.lengths
           + args.widths) < 1:
        parser.error("every size and --repeat must be >= 1")
    return args


def median_time(fn, repeat, sync=None):
    """Median wall-clock seconds of ``repeat`` calls after one warm-up call."""
    fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    args = parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # no pip install
    import numpy as np
    import torch
    from seqlearn.mamba import selective_scan

    def inputs(batch, d, n, L, seed=0):
        """float64 NumPy inputs as in a Mamba block (Delta = softplus(delta + bias) ~ 0.01-0.1)."""
        rng = np.random.default_rng(seed)
        return dict(u=rng.standard_normal((batch, d, L)),
                    delta=rng.standard_normal((batch, d, L)) * 0.5,
                    A=-np.tile(np.arange(1.0, n + 1), (d, 1)),
                    B=rng.standard_normal((batch, n, L)), C=rng.standard_normal((batch, n, L)),
                    D=np.ones(d), z=rng.standard_normal((batch, d, L)),
                    delta_bias=np.log(np.expm1(rng.uniform(0.01, 0.1, d))))

    def to_torch(x, device="cpu", grad=False):
        return {k: torch.tensor(v, dtype=torch.float32, device=device, requires_grad=grad)
                for k, v in x.items()}

    def forward(x, backend, chunk=256):
        def fn():
            with torch.no_grad():
                return selective_scan(**x, delta_softplus=True, backend=backend,
                                      chunk_size=chunk)
        return fn

    def forward_backward(x, backend, chunk=256):
        def fn():
            for v in x.values():
                v.grad = None
            selective_scan(**x, delta_softplus=True, backend=backend,
                           chunk_size=chunk).sum().backward()
        return fn

    def rel_err(y, ref):
        y = y.detach().cpu().double().numpy()
        return np.abs(y - ref).max() / np.abs(ref).max()

    warnings.simplefilter("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b, d, n, L, rep = args.batch, args.d, args.n, args.length, args.repeat
    print(f"numpy {np.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads, median of {rep}, torch in float32")

    # ------------------------------------------------------------ main table
    x_np = inputs(b, d, n, L)
    y_ref = selective_scan(**x_np, delta_softplus=True, backend="numpy")
    t_np = median_time(lambda: selective_scan(**x_np, delta_softplus=True, backend="numpy"), rep)
    print(f"\nCPU, batch {b}, d {d}, n {n}, L {L} (D, z, delta_bias, softplus on)")
    print(f"{'backend':<24} {'pass':<8} {'ms':>9} {'vs numpy':>9} {'rel. err':>9}")
    print(f"{'numpy loop (float64)':<24} {'fwd':<8} {1e3 * t_np:>9.2f} {'1.00x':>9} {'-':>9}")
    x = to_torch(x_np)
    rows = [("torch_sequential", "torch_sequential", None)]
    rows += [(f"torch (chunk {c})", "torch", c) for c in args.chunks]
    rows += [("torch_recurrence", "torch_recurrence", None)]
    for label, backend, chunk in rows:
        fn = forward(x, backend, chunk or 256)
        t = median_time(fn, rep)
        print(f"{label:<24} {'fwd':<8} {1e3 * t:>9.2f} {t_np / t:>8.2f}x "
              f"{rel_err(fn(), y_ref):>9.1e}")
    for label, backend, chunk in rows:
        xg = to_torch(x_np, grad=True)
        t = median_time(forward_backward(xg, backend, chunk or 256), rep)
        print(f"{label:<24} {'fwd+bwd':<8} {1e3 * t:>9.2f} {t_np / t:>8.2f}x {'-':>9}")

    # ------------------------------------------------------------ sweep over L
    chunk = 256
    print(f"\nsweep over L: batch {b}, d {d}, n {n}, forward, torch chunk {chunk}")
    print(f"{'L':>6} {'numpy ms':>10} {'seq ms':>9} {'par ms':>9} {'numpy/seq':>10} "
          f"{'numpy/par':>10} {'seq/par':>8}")
    def sweep_row(label, xs):
        xt = to_torch(xs)
        tn = median_time(lambda: selective_scan(**xs, delta_softplus=True), rep)
        ts = median_time(forward(xt, "torch_sequential"), rep)
        tp = median_time(forward(xt, "torch", chunk), rep)
        print(f"{label:>6} {1e3 * tn:>10.2f} {1e3 * ts:>9.2f} {1e3 * tp:>9.2f} "
              f"{tn / ts:>9.2f}x {tn / tp:>9.2f}x {ts / tp:>7.2f}x")

    for Ls in args.lengths:
        sweep_row(Ls, inputs(b, d, n, Ls, seed=Ls))

    # ------------------------------------------------------------ sweep over batch * d
    print(f"\nsweep over batch * d (batch 1, d = width): n {n}, L {L}, forward, "
          f"torch chunk {chunk}")
    print(f"{'width':>6} {'numpy ms':>10} {'seq ms':>9} {'par ms':>9} {'numpy/seq':>10} "
          f"{'numpy/par':>10} {'seq/par':>8}")
    for w in args.widths:
        sweep_row(w, inputs(1, w, n, L, seed=w))

    # ------------------------------------------------------------ GPU
    print()
    if not torch.cuda.is_available():
        print("no GPU (torch.cuda.is_available() is False): Triton GPU timing skipped")
        tiny = inputs(1, 4, 4, 64)
        try:
            fn = forward(to_torch(tiny), "triton")
            start = time.perf_counter()
            y = fn()
            t = time.perf_counter() - start
            ref = selective_scan(**tiny, delta_softplus=True)
            print(f"triton interpreter (CPU, batch 1, d 4, n 4, L 64, one call, not a GPU "
                  f"timing): {1e3 * t:.1f} ms, rel. err {rel_err(y, ref):.1e}")
        except Exception as exc:  # triton missing, or its module not ready
            print(f"triton interpreter: not run ({type(exc).__name__}: {exc})")
        return
    sync = torch.cuda.synchronize
    print(f"GPU: {torch.cuda.get_device_name()}, float32, batch {b}, d {d}, n {n}")
    backends = [("torch_sequential", "torch_sequential", 256), ("torch (chunk 256)", "torch", 256),
                ("triton", "triton", 256)]
    print(f"{'L':>6} " + " ".join(f"{label + ' ms':>22}" for label, _, _ in backends)
          + f" {'seq/triton':>11} {'par/triton':>11} {'triton err':>11}")
    for Ls in args.lengths:
        xs = inputs(b, d, n, Ls, seed=Ls)
        xt = to_torch(xs, device="cuda")
        ref = selective_scan(**xs, delta_softplus=True)
        times, err = [], "-"
        for label, backend, c in backends:
            try:
                fn = forward(xt, backend, c)
                times.append(median_time(fn, rep, sync))
                if backend == "triton":
                    err = f"{rel_err(fn(), ref):.1e}"
            except Exception as exc:
                times.append(None)
                err = type(exc).__name__
        cell = lambda t: f"{1e3 * t:>22.3f}" if t else f"{'failed':>22}"  # noqa: E731
        ratio = lambda a, b: f"{a / b:>10.1f}x" if a and b else f"{'-':>11}"  # noqa: E731
        print(f"{Ls:>6} " + " ".join(cell(t) for t in times)
              + f" {ratio(times[0], times[2])} {ratio(times[1], times[2])} {err:>11}")
    print(f"\nGPU fwd+bwd, L {L}")
    for label, backend, c in backends:
        try:
            xg = to_torch(inputs(b, d, n, L), device="cuda", grad=True)
            t = median_time(forward_backward(xg, backend, c), rep, sync)
            print(f"{label:<24} {1e3 * t:>9.3f} ms")
        except Exception as exc:
            print(f"{label:<24} failed ({type(exc).__name__}: {exc})")


if __name__ == "__main__":
    main()
