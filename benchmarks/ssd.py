"""Chunked SSD (chapter 9) against chapter 7's selective scan, on the CPU, from one run.

    .venv/bin/python benchmarks/ssd.py            # batch 8, L 2048, heads*head_dim 512, N 16
    .venv/bin/python benchmarks/ssd.py --quick    # small sizes: a correctness run in seconds

Equal state size: SSD with heads * head_dim = d channels and d_state = N keeps
(d, N) numbers per batch row, as the selective scan with d channels and N states does.
SSD: ``ssd_scan(backend="torch")`` (chunk 64, one group, 8 heads of 64); Mamba-1:
``selective_scan(backend="numba")``, chapter 7's compiled loop and the fastest CPU path
(benchmarks/scan.py), "torch_recurrence", the fastest torch backend, and "torch" (the
chunked associative scan). Mamba-1 gets its inputs time-major ((batch, L, d) in memory, as
its block makes them).
Prints times (median of repeats) and ratios; no assertion on time.
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from seqlearn import mamba, mamba_numba, ssd  # noqa: E402


def _time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    if args.quick:
        batch, L, heads, P, N, repeats = 2, 128, 2, 8, 4, 1
    else:
        batch, L, heads, P, N, repeats = 8, 2048, 8, 64, 16, 3
    d = heads * P
    g = torch.Generator().manual_seed(0)
    X = torch.randn(batch, L, heads, P, generator=g)
    dt = torch.rand(batch, L, heads, generator=g) * 0.1 + 0.01
    A = -torch.rand(heads, generator=g) - 0.5
    B = torch.randn(batch, L, 1, N, generator=g)
    C = torch.randn(batch, L, 1, N, generator=g)
    # the same numbers in Mamba-1's layout: every channel of a head shares its dt and A
    # (batch, d, L) views of time-major tensors (leaves, so that .grad lands on them)
    u_tm = X.flatten(2).contiguous()                                    # (batch, L, d)
    delta_tm = dt.repeat_interleave(P, dim=2).contiguous()
    A1 = A.repeat_interleave(P)[:, None].expand(d, N).contiguous()
    B_tm, C_tm = B[:, :, 0].contiguous(), C[:, :, 0].contiguous()       # (batch, L, N)
    leaves = [X, dt, A, B, C, u_tm, delta_tm, A1, B_tm, C_tm]

    runs = {"ssd torch (chunked)": lambda: ssd.ssd_scan(X, dt, A, B, C, chunk_size=64)}
    backends = ("numba", "torch_recurrence", "torch")
    if not mamba_numba.AVAILABLE:
        backends = backends[1:]
    for backend in backends:
        runs[f"selective_scan {backend}"] = (
            lambda b=backend: mamba.selective_scan(*(t.transpose(1, 2) for t in (
                u_tm, delta_tm)), A1, *(t.transpose(1, 2) for t in (B_tm, C_tm)), backend=b))
    y_ssd = runs["ssd torch (chunked)"]().flatten(2).transpose(1, 2)
    y_m1 = runs[f"selective_scan {backends[0]}"]()
    err = float((y_ssd - y_m1).abs().max() / y_m1.abs().max())
    print(f"batch {batch}, L {L}, heads*head_dim {d} ({heads} x {P}), d_state {N}, "
          f"threads {torch.get_num_threads()}")
    print(f"same outputs: max |SSD - selective scan| / max |y| = {err:.1e}")
    results = {}
    for name, fn in runs.items():
        def fwd_bwd(fn=fn):
            for t in leaves:
                t.requires_grad_(True)
                t.grad = None
            out = fn()
            out.square().sum().backward()
            for t in leaves:
                t.requires_grad_(False)
        with torch.no_grad():
            f = _time(fn, repeats)
        results[name] = (f, _time(fwd_bwd, repeats))
        print(f"{name:34s} forward {f * 1e3:9.1f} ms   forward+backward "
              f"{results[name][1] * 1e3:9.1f} ms")
    s = results["ssd torch (chunked)"]
    for name in (f"selective_scan {b}" for b in backends):
        r = results[name]
        print(f"speed-up of SSD over {name}: forward {r[0] / s[0]:.1f}x, "
              f"forward+backward {r[1] / s[1]:.1f}x")
    return err


if __name__ == "__main__":
    main()
