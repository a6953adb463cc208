"""The selective scan (Mamba's S6), backend by backend, shape by shape, against the bound
of the machine, from one run.

    python benchmarks/scan.py [--quick] [--threads 1 2] [--repeat 5]
                              [--shapes 2,64,16,2048 32,64,16,256 ...] [--lm-lengths 64 256 1024]

Backends (``seqlearn.mamba.selective_scan``; every one computes the same y):
    numpy             the reference: a Python loop over t, float64 (forward only)
    torch_sequential  the same loop in PyTorch, one small autograd node per step
    torch (chunk c)   the chunked Blelloch scan; c = 64 and the default 256
    torch_recurrence  Ab_t, Bb_t u_t for all t at once, the recurrence as a loop, one
                      autograd node with a hand-written reverse-time backward
    numba             the loop compiled by Numba (``seqlearn.mamba_numba``): MambaBlock's
                      training path on a CPU
    triton            the fused kernels (``seqlearn.mamba_triton``), v2 "tiled" and
                      v1 "sequential": timed only on a CUDA GPU

Every input is float32 with D, z, delta_bias and softplus on, as in the Mamba block
(Delta ~ 0.01-0.1), and lies in memory time-major, (batch, L, d) and (batch, L, n), the
layout in which the block's Linear layers produce it; the backends get (batch, d, L)
views of it. A time is the median of ``--repeat`` calls (time.perf_counter) after one
warm-up call; "fwd" runs under torch.no_grad(), "fwd+bwd" is the forward plus the
backward of y.sum() w.r.t. every input.

The bound. A scan must at least (per batch b, channel d, state n, step L):
  - compute exp(Delta A) once per (b, d, n, L) in the forward and once more in the
    backward (which recomputes the states), plus softplus (an exp and a log) and silu
    (an exp) per (b, d, L): exps = b d n L + 3 b d L forward, 2 b d n L + 7 b d L with the
    backward (counting a log as an exp);
  - do the other arithmetic: 6 flops per (b, d, n, L) forward (Delta A; a h + Delta u B;
    the sum of C h), 27 with the backward;
  - move its inputs and outputs once: 4 (4 b d L + 2 b n L) bytes forward, and
    4 (7 b d L + 4 b n L) more for the backward; the (b, d, n, L) states need never
    leave the cache.
The machine's rates are measured in the same run on one thread: exps per second (the
faster of torch.exp and the compiled polynomial exp of ``mamba_numba`` over a small array
in cache), flops per second (a 512 x 512 float32 matrix product, torch.mm), and the copy
bandwidth (torch.add of two 64 MB tensors into a third) on each thread count. Exps and
flops share the floating-point units, memory traffic can overlap them, so

    bound = max(exps / exp rate + flops / flop rate, bytes / bandwidth) / threads

(compute assumed to scale perfectly with threads), and "x bound" is time / bound.
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

DEFAULT_SHAPES = ["2,64,16,2048", "32,64,16,256",          # the two shapes of issue 16
                  "32,64,8,64", "32,64,8,256",              # chapter 7's training batch
                  "1,16,16,4096", "8,256,16,1024"]          # narrow and long, wide and long
QUICK_SHAPES = ["2,64,16,2048", "32,64,16,256", "1,16,16,4096"]
GPU_SHAPE = "8,1024,16,4096"


def shape(text):
    try:
        b, d, n, L = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected batch,d,n,L (four ints), got {text!r}")
    if min(b, d, n, L) < 1:
        raise argparse.ArgumentTypeError(f"every size must be >= 1, got {text!r}")
    return b, d, n, L


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="three shapes, three repeats, one thread count (a few minutes)")
    parser.add_argument("--shapes", type=shape, nargs="+", default=None,
                        help=f"batch,d,n,L each (default {' '.join(DEFAULT_SHAPES)})")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch CPU thread counts to run every table with (1 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs, median kept (5)")
    parser.add_argument("--lm-lengths", type=int, nargs="*", default=[64, 256, 1024],
                        help="L of the MambaLM training-step comparison (64 256 1024; none: "
                             "skip)")
    parser.add_argument("--gpu-shape", type=shape, default=shape(GPU_SHAPE),
                        help=f"the Triton bandwidth shape on a GPU ({GPU_SHAPE})")
    args = parser.parse_args()
    if args.shapes is None:
        args.shapes = [shape(s) for s in (QUICK_SHAPES if args.quick else DEFAULT_SHAPES)]
    if args.quick:
        args.repeat = min(args.repeat, 3)
        args.threads = args.threads[:1]
        args.lm_lengths = args.lm_lengths[:1]
    if min(args.threads) < 1 or args.repeat < 1 or min(args.lm_lengths, default=1) < 1:
        parser.error("--threads, --repeat and --lm-lengths must be >= 1")
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


def scan_bytes(b, d, n, L, backward):
    """Bytes a fused float32 scan must move (see the module docstring)."""
    fwd = 4 * (4 * b * d * L + 2 * b * n * L)
    return fwd + (4 * (7 * b * d * L + 4 * b * n * L) if backward else 0)


def scan_counts(b, d, n, L, backward):
    """(exps, flops, bytes) a scan cannot avoid (see the module docstring)."""
    elems, chans = b * d * n * L, b * d * L
    exps = 2 * elems + 7 * chans if backward else elems + 3 * chans
    return exps, (27 if backward else 6) * elems, scan_bytes(b, d, n, L, backward)


def bound_seconds(counts, rates, threads, bandwidth):
    exps, flops, nbytes = counts
    return max(exps / rates["exp"] + flops / rates["flop"], nbytes / bandwidth) / threads


COMPILE_CODE = """
import time, torch
t0 = time.perf_counter()
from seqlearn import mamba
x = {k: torch.randn(2, 64, 32) for k in ("u", "delta", "z")}
x.update(A=-torch.ones(64, 8), B=torch.randn(2, 8, 32), C=torch.randn(2, 8, 32))
x = {k: v.requires_grad_() for k, v in x.items()}
t1 = time.perf_counter()
y = mamba.selective_scan(**x, delta_softplus=True, backend="numba")
t2 = time.perf_counter()
y.sum().backward()
t3 = time.perf_counter()
print(f"{t2 - t1:.2f} {t3 - t2:.2f} {t1 - t0:.2f}")
"""


def compile_times(cache_dir):
    """Seconds of the first float32 forward and backward call in a new Python process
    (and of the imports), with Numba's cache in cache_dir."""
    import subprocess
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", COMPILE_CODE], env=env, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[1] / "src")
    return [float(v) for v in out.stdout.split()] if out.returncode == 0 else None


def main():
    args = parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # no pip install
    import numpy as np
    import torch
    try:  # first: without a GPU it sets TRITON_INTERPRET before anything imports triton
        from seqlearn import mamba_triton
    except Exception as exc:  # triton missing
        mamba_triton = exc
    from seqlearn import mamba_numba
    from seqlearn.mamba import selective_scan
    from seqlearn.models import MambaLM

    warnings.simplefilter("ignore")

    def inputs(b, d, n, L, seed=0):
        """float64 NumPy inputs as in a Mamba block (Delta = softplus(delta + bias) ~ 0.01-0.1)."""
        rng = np.random.default_rng(seed)
        return dict(u=rng.standard_normal((b, d, L)),
                    delta=rng.standard_normal((b, d, L)) * 0.5,
                    A=-np.tile(np.arange(1.0, n + 1), (d, 1)),
                    B=rng.standard_normal((b, n, L)), C=rng.standard_normal((b, n, L)),
                    D=np.ones(d), z=rng.standard_normal((b, d, L)),
                    delta_bias=np.log(np.expm1(rng.uniform(0.01, 0.1, d))))

    def to_torch(x, device="cpu", grad=False):
        """float32 tensors, time-major in memory ((batch, L, .) as a Linear layer gives
        them), as (batch, ., L) views; with grad, the views of leaf tensors."""
        out = {}
        for k, v in x.items():
            t = torch.tensor(v, dtype=torch.float32, device=device)
            if t.ndim == 3:
                t = t.transpose(1, 2).contiguous().requires_grad_(grad).transpose(1, 2)
            else:
                t.requires_grad_(grad)
            out[k] = t
        return out

    def leaves(x):
        return [v._base if v._base is not None else v for v in x.values()]

    def forward(x, backend, **kw):
        def fn():
            with torch.no_grad():
                return selective_scan(**x, delta_softplus=True, backend=backend, **kw)
        return fn

    def forward_backward(x, backend, **kw):
        def fn():
            for v in leaves(x):
                v.grad = None
            selective_scan(**x, delta_softplus=True, backend=backend, **kw).sum().backward()
        return fn

    def rel_err(y, ref):
        y = y.detach().cpu().double().numpy()
        return np.abs(y - ref).max() / np.abs(ref).max()

    def bandwidth(device="cpu", sync=None):
        """Bytes per second of c = a + b on 64 MB float32 tensors (read 2, write 1)."""
        a, b = (torch.rand(2 ** 24, device=device) for _ in range(2))
        c = torch.empty_like(a)
        t = median_time(lambda: torch.add(a, b, out=c), 9, sync)
        return 3 * 4 * 2 ** 24 / t

    def machine_rates():
        """One thread: exps/s (torch.exp and the compiled polynomial exp, in cache) and
        flops/s (torch.mm, 512 x 512, float32)."""
        torch.set_num_threads(1)
        x = -5 * torch.rand(2 ** 14)
        y = torch.empty_like(x)
        rates = {"torch.exp": 2 ** 14 * 50 / median_time(
            lambda: [torch.exp(x, out=y) for _ in range(50)], 9)}
        if mamba_numba.AVAILABLE:
            from numba import njit

            @njit(fastmath={"contract"})
            def exps(x, y, reps):
                for _ in range(reps):
                    for i in range(x.shape[0]):
                        y[i] += mamba_numba._exp(x[i])
            xn = (-5 * np.random.default_rng(0).random(64)).astype(np.float32)
            yn = np.zeros_like(xn)
            rates["compiled exp"] = 64 * 20000 / median_time(lambda: exps(xn, yn, 20000), 9)
        a, b = torch.rand(512, 512), torch.rand(512, 512)
        c = torch.empty(512, 512)
        rates["flop"] = 2 * 512 ** 3 / median_time(lambda: torch.mm(a, b, out=c), 9)
        rates["exp"] = max(v for k, v in rates.items() if "exp" in k)
        return rates

    rep = args.repeat
    print(f"numpy {np.__version__}, torch {torch.__version__}, numba "
          f"{getattr(mamba_numba.numba, '__version__', 'missing')}, {os.cpu_count()} CPUs, "
          f"median of {rep}, torch in float32")
    rates = machine_rates()
    print("one thread: " + ", ".join(
        f"{k} {v / 1e9:.2f} G{'FLOP' if k == 'flop' else 'exp'}/s" for k, v in rates.items()
        if k != "exp") + f" (the bound uses exp {rates['exp'] / 1e9:.2f} G/s)")
    backends = [("torch_sequential", "torch_sequential", {}),
                ("torch (chunk 64)", "torch", dict(chunk_size=64)),
                ("torch (chunk 256)", "torch", dict(chunk_size=256)),
                ("torch_recurrence", "torch_recurrence", {})]
    if mamba_numba.AVAILABLE:
        backends.append(("numba", "numba", {}))
    summary, numpy_times = [], {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        bw = bandwidth()
        print(f"\n==== {threads} thread(s): copy bandwidth {bw / 1e9:.1f} GB/s")
        for b, d, n, L in args.shapes:
            x_np = inputs(b, d, n, L)
            y_ref = selective_scan(**x_np, delta_softplus=True, backend="numpy")
            if (b, d, n, L) not in numpy_times:  # timed once: NumPy uses no torch thread,
                numpy_times[b, d, n, L] = median_time(  # and spinning idle ones slow it
                    lambda: selective_scan(**x_np, delta_softplus=True, backend="numpy"), rep)
            t_np = numpy_times[b, d, n, L]
            cf, cb = scan_counts(b, d, n, L, False), scan_counts(b, d, n, L, True)
            bf = bound_seconds(cf, rates, threads, bw)
            bb = bound_seconds(cb, rates, threads, bw)
            print(f"\nbatch {b}, d {d}, n {n}, L {L}: fwd {cf[0] / 1e6:.2f} M exps, "
                  f"{cf[1] / 1e6:.1f} M flops, {cf[2] / 1e6:.2f} MB -> bound {1e3 * bf:.3f} "
                  f"ms; fwd+bwd {cb[0] / 1e6:.2f} M exps, {cb[1] / 1e6:.1f} M flops, "
                  f"{cb[2] / 1e6:.2f} MB -> bound {1e3 * bb:.3f} ms")
            print(f"{'backend':<20} {'fwd ms':>9} {'x bound':>8} {'rel. err':>9} "
                  f"{'fwd+bwd ms':>11} {'x bound':>8}")
            print(f"{'numpy (float64)':<20} {1e3 * t_np:>9.2f} {t_np / bf:>8.1f} {'-':>9} "
                  f"{'-':>11} {'-':>8}")
            times = {}
            for label, backend, kw in backends:
                x = to_torch(x_np)
                fn = forward(x, backend, **kw)
                tf = median_time(fn, rep)
                err = rel_err(fn(), y_ref)
                tb = median_time(forward_backward(to_torch(x_np, grad=True), backend, **kw),
                                 rep)
                times[label] = (tf, tb)
                print(f"{label:<20} {1e3 * tf:>9.2f} {tf / bf:>8.1f} {err:>9.1e} "
                      f"{1e3 * tb:>11.2f} {tb / bb:>8.1f}")
            summary.append((threads, (b, d, n, L), bf, bb, times))

    print("\nThe training paths against the bound (x bound) and each other")
    print(f"{'threads':>7} {'batch, d, n, L':<18} {'numba fwd':>10} {'fwd+bwd':>8} "
          f"{'recurrence fwd':>15} {'fwd+bwd':>8} {'numba speed-up fwd+bwd':>23}")
    for threads, shp, bf, bb, times in summary:
        rec = times["torch_recurrence"]
        num = times.get("numba", (float("nan"),) * 2)
        print(f"{threads:>7} {', '.join(map(str, shp)):<18} {num[0] / bf:>10.2f} "
              f"{num[1] / bb:>8.2f} {rec[0] / bf:>15.1f} {rec[1] / bb:>8.1f} "
              f"{rec[1] / num[1]:>22.1f}x")

    # ------------------------------------------------------------ first call: compiling
    if mamba_numba.AVAILABLE:
        import tempfile
        with tempfile.TemporaryDirectory() as cache:
            first, again = compile_times(cache), compile_times(cache)
        if first and again:
            print(f"\nnumba, first call in a new process (float32, forward / backward): "
                  f"compiling {first[0]:.1f} s / {first[1]:.1f} s; with the kernels in "
                  f"Numba's cache (every later process) {again[0]:.2f} s / {again[1]:.2f} s")

    # ------------------------------------------------------------ a MambaLM training step
    if args.lm_lengths and mamba_numba.AVAILABLE:
        print("\nMambaLM training step (chapter 7's size: vocab 16, d_model 32, 2 layers, "
              "d_state 8, batch 32; AdamW, cross-entropy): before = backend "
              "'torch_recurrence', after = 'numba' (the default on a CPU)")
        print(f"{'threads':>7} {'L':>5} {'before ms':>10} {'after ms':>9} {'speed-up':>9}")
        for threads in args.threads:
            torch.set_num_threads(threads)
            for L in args.lm_lengths:
                ids = torch.randint(0, 16, (32, L + 1), generator=torch.Generator()
                                    .manual_seed(0))
                row = []
                for backend in ("torch_recurrence", "numba"):
                    torch.manual_seed(0)
                    model = MambaLM(16, 32, 2, d_state=8, backend=backend)
                    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

                    def train_step():
                        logits = model(ids[:, :-1])
                        loss = torch.nn.functional.cross_entropy(
                            logits.reshape(-1, 16), ids[:, 1:].reshape(-1))
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                    row.append(median_time(train_step, rep))
                print(f"{threads:>7} {L:>5} {1e3 * row[0]:>10.1f} {1e3 * row[1]:>9.1f} "
                      f"{row[0] / row[1]:>8.2f}x")

    # ------------------------------------------------------------ Triton
    print()
    if not torch.cuda.is_available():
        print("no GPU (torch.cuda.is_available() is False): Triton GPU timing skipped")
        tiny = inputs(1, 4, 4, 64)
        ref = selective_scan(**tiny, delta_softplus=True)
        try:
            if isinstance(mamba_triton, Exception):
                raise mamba_triton
            for kernel in mamba_triton.KERNELS:
                args_t = to_torch(tiny)
                start = time.perf_counter()
                with torch.no_grad():
                    y, _ = mamba_triton.selective_scan_triton(**args_t, delta_softplus=True,
                                                              kernel=kernel)
                t = time.perf_counter() - start
                print(f"triton {kernel} kernel under the interpreter (CPU, batch 1, d 4, "
                      f"n 4, L 64, one call, not a GPU timing): {1e3 * t:.0f} ms, "
                      f"rel. err {rel_err(y, ref):.1e}")
        except Exception as exc:  # triton missing, or its module not ready
            print(f"triton interpreter: not run ({type(exc).__name__}: {exc})")
        return
    sync = torch.cuda.synchronize
    bw = bandwidth("cuda", sync)
    b, d, n, L = args.gpu_shape
    print(f"GPU: {torch.cuda.get_device_name()}, copy bandwidth {bw / 1e9:.0f} GB/s; "
          f"float32, batch {b}, d {d}, n {n}, L {L}")
    x_np = inputs(b, d, n, L)
    ref = selective_scan(**x_np, delta_softplus=True) if b * d * L <= 2 ** 22 else None
    rows = [("triton tiled (v2)", "triton", dict(kernel="tiled")),
            ("triton sequential (v1)", "triton", dict(kernel="sequential")),
            ("torch (chunk 256)", "torch", dict(chunk_size=256)),
            ("torch_recurrence", "torch_recurrence", {})]
    print(f"{'backend':<24} {'fwd ms':>9} {'GB/s':>7} {'% bw':>6} {'fwd+bwd ms':>11} "
          f"{'GB/s':>7} {'% bw':>6} {'rel. err':>9}")
    gpu_times = {}
    for label, backend, kw in rows:
        try:
            if backend == "triton":
                call = lambda x, **k: mamba_triton.selective_scan_triton(  # noqa: E731
                    **x, delta_softplus=True, **k)[0]
            else:
                call = lambda x, **k: selective_scan(  # noqa: E731
                    **x, delta_softplus=True, backend=backend, **k)
            x = to_torch(x_np, "cuda")

            def fwd():
                with torch.no_grad():
                    return call(x, **kw)
            tf = median_time(fwd, rep, sync)
            err = f"{rel_err(fwd(), ref):.1e}" if ref is not None else "-"
            xg = to_torch(x_np, "cuda", grad=True)

            def fwd_bwd():
                for v in xg.values():
                    v.grad = None
                call(xg, **kw).sum().backward()
            tb = median_time(fwd_bwd, rep, sync)
            gpu_times[label] = (tf, tb)
            bf, bb = scan_bytes(b, d, n, L, False), scan_bytes(b, d, n, L, True)
            print(f"{label:<24} {1e3 * tf:>9.3f} {bf / tf / 1e9:>7.0f} "
                  f"{100 * bf / tf / bw:>6.1f} {1e3 * tb:>11.3f} {bb / tb / 1e9:>7.0f} "
                  f"{100 * bb / tb / bw:>6.1f} {err:>9}")
        except Exception as exc:
            print(f"{label:<24} failed ({type(exc).__name__}: {str(exc)[:200]})")
    v2, par = gpu_times.get("triton tiled (v2)"), gpu_times.get("torch (chunk 256)")
    if v2 and par:
        print(f"triton v2 against the PyTorch parallel scan on this GPU: "
              f"{par[0] / v2[0]:.1f}x forward, {par[1] / v2[1]:.1f}x forward + backward")


if __name__ == "__main__":
    main()
