"""The selective scan (Mamba's S6), backend by backend, shape by shape, from one run.

    python benchmarks/scan.py [--quick] [--threads 1 2] [--repeat 5]
                              [--shapes 2,64,16,2048 32,64,16,256 ...] [--lm-lengths 64 256]

Backends (``seqlearn.mamba.selective_scan``; every one computes the same y):
    numpy             the reference: a Python loop over t, float64 (forward only)
    torch_sequential  the same loop in PyTorch, one small autograd node per step
    torch (chunk c)   the chunked Blelloch scan; c = 64 and the default 256
    torch_recurrence  MambaBlock's default: Ab_t, Bb_t u_t for all t at once, the
                      recurrence as a loop, one autograd node with a hand-written
                      reverse-time backward (``mamba.ScanRecurrence``)
    triton            the fused kernels (``seqlearn.mamba_triton``), v2 "tiled" and
                      v1 "sequential": timed only on a CUDA GPU

Every input is (batch, d, L) / (batch, n, L), float32, with D, z, delta_bias and softplus
on, as in the Mamba block (Delta ~ 0.01-0.1). A time is the median of ``--repeat`` calls
(time.perf_counter) after one warm-up call; "fwd" runs under torch.no_grad(), "fwd+bwd" is
the forward plus the backward of y.sum() w.r.t. every input. Ratios are between times of
this one run: "x numpy" = numpy fwd / fwd, "x seq" = torch_sequential fwd+bwd / fwd+bwd
(the NumPy loop is timed once per shape, in the first thread count's pass).

The memory model: a fused scan must read u, delta, z and B, C and write y, 4 (4 b d L +
2 b n L) bytes in float32 (forward), and for the backward read them and dy and write du,
ddelta, dz, dB, dC, 4 (7 b d L + 4 b n L) more; the (b, d, n, L) states need never leave
the chip. At the copy bandwidth measured below in the same run (torch.add of two 64 MB
tensors into a third: 192 MB of traffic) that traffic takes "bound ms"; "% bw" is bound
/ time, the fraction of the machine's bandwidth a backend reaches. Operations: about
7 b d n L for the forward (one exp among them) and 29 b d n L for forward + backward.
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
                        help="three shapes, three repeats, one thread count (about a minute)")
    parser.add_argument("--shapes", type=shape, nargs="+", default=None,
                        help=f"batch,d,n,L each (default {' '.join(DEFAULT_SHAPES)})")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch CPU thread counts to run every table with (1 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs, median kept (5)")
    parser.add_argument("--lm-lengths", type=int, nargs="*", default=[64, 256],
                        help="L of the MambaLM training-step comparison (64 256; none: skip)")
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


def scan_ops(b, d, n, L, backward):
    return (29 if backward else 7) * b * d * n * L


def main():
    args = parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # no pip install
    import numpy as np
    import torch
    try:  # first: without a GPU it sets TRITON_INTERPRET before anything imports triton
        from seqlearn import mamba_triton
    except Exception as exc:  # triton missing
        mamba_triton = exc
    from seqlearn.mamba import MambaLM, selective_scan

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
        return {k: torch.tensor(v, dtype=torch.float32, device=device, requires_grad=grad)
                for k, v in x.items()}

    def forward(x, backend, **kw):
        def fn():
            with torch.no_grad():
                return selective_scan(**x, delta_softplus=True, backend=backend, **kw)
        return fn

    def forward_backward(x, backend, **kw):
        def fn():
            for v in x.values():
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

    rep = args.repeat
    print(f"numpy {np.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"median of {rep}, torch in float32")
    backends = [("torch_sequential", "torch_sequential", {}),
                ("torch (chunk 64)", "torch", dict(chunk_size=64)),
                ("torch (chunk 256)", "torch", dict(chunk_size=256)),
                ("torch_recurrence", "torch_recurrence", {})]
    summary, numpy_times = [], {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        bw = bandwidth()
        print(f"\n==== {threads} torch thread(s): copy bandwidth {bw / 1e9:.1f} GB/s")
        for b, d, n, L in args.shapes:
            x_np = inputs(b, d, n, L)
            y_ref = selective_scan(**x_np, delta_softplus=True, backend="numpy")
            if (b, d, n, L) not in numpy_times:  # timed once: NumPy uses no torch thread,
                numpy_times[b, d, n, L] = median_time(  # and spinning idle ones slow it
                    lambda: selective_scan(**x_np, delta_softplus=True, backend="numpy"), rep)
            t_np = numpy_times[b, d, n, L]
            bf, bb = scan_bytes(b, d, n, L, False), scan_bytes(b, d, n, L, True)
            print(f"\nbatch {b}, d {d}, n {n}, L {L}: fused traffic {bf / 1e6:.1f} MB fwd, "
                  f"{bb / 1e6:.1f} MB fwd+bwd = {1e3 * bf / bw:.2f} / {1e3 * bb / bw:.2f} ms "
                  f"at {bw / 1e9:.1f} GB/s (bound ms)")
            print(f"{'backend':<20} {'fwd ms':>9} {'x numpy':>8} {'% bw':>6} {'rel. err':>9}"
                  f" {'fwd+bwd ms':>11} {'x seq':>7} {'% bw':>6} {'GOP/s':>6}")
            print(f"{'numpy (float64)':<20} {1e3 * t_np:>9.2f} {'1.00':>8} "
                  f"{100 * bf / bw / t_np:>6.1f} {'-':>9} {'-':>11} {'-':>7} {'-':>6} {'-':>6}")
            times = {}
            for label, backend, kw in backends:
                x = to_torch(x_np)
                fn = forward(x, backend, **kw)
                tf = median_time(fn, rep)
                err = rel_err(fn(), y_ref)
                tb = median_time(forward_backward(to_torch(x_np, grad=True), backend, **kw),
                                 rep)
                times[label] = (tf, tb)
                seq = times["torch_sequential"][1]
                print(f"{label:<20} {1e3 * tf:>9.2f} {t_np / tf:>8.2f} "
                      f"{100 * bf / bw / tf:>6.1f} {err:>9.1e} {1e3 * tb:>11.2f} "
                      f"{seq / tb:>7.2f} {100 * bb / bw / tb:>6.2f} "
                      f"{scan_ops(b, d, n, L, True) / tb / 1e9:>6.2f}")
            rec = times["torch_recurrence"][1]
            best_label, (_, best) = min(((k, v) for k, v in times.items()
                                         if k != "torch_recurrence"), key=lambda kv: kv[1][1])
            summary.append((threads, (b, d, n, L), rec, best_label, best))

    print("\nfwd+bwd, the training path (torch_recurrence) against the best other backend")
    print(f"{'threads':>7} {'batch, d, n, L':<18} {'recurrence ms':>14} "
          f"{'best other':<18} {'ms':>9} {'speed-up':>9}")
    for threads, shp, rec, label, best in summary:
        print(f"{threads:>7} {', '.join(map(str, shp)):<18} {1e3 * rec:>14.2f} "
              f"{label:<18} {1e3 * best:>9.2f} {best / rec:>8.2f}x")

    # ------------------------------------------------------------ a MambaLM training step
    if args.lm_lengths:
        print("\nMambaLM training step (chapter 7's size: vocab 16, d_model 32, 2 layers, "
              "d_state 8, batch 32; AdamW, cross-entropy): before = backend 'torch' "
              "(chunk 256, the default until issue 16), after = 'torch_recurrence'")
        print(f"{'threads':>7} {'L':>5} {'before ms':>10} {'after ms':>9} {'speed-up':>9}")
        for threads in args.threads:
            torch.set_num_threads(threads)
            for L in args.lm_lengths:
                ids = torch.randint(0, 16, (32, L + 1), generator=torch.Generator()
                                    .manual_seed(0))
                row = []
                for backend in ("torch", "torch_recurrence"):
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
