"""Chunked SSD (chapter 9) against chapter 7's selective scan, on the CPU, from one run.

    .venv/bin/python benchmarks/ssd.py            # batch 8, L 2048, heads*head_dim 512, N 16
    .venv/bin/python benchmarks/ssd.py --quick    # small sizes: a correctness run in seconds

Equal state size: SSD with heads * head_dim = d channels and d_state = N keeps
(d, N) numbers per batch row, as the selective scan with d channels and N states does.
SSD: ``ssd_scan(backend="torch")`` (chunk 64, one group, 8 heads of 64); Mamba-1:
``selective_scan(backend="torch_recurrence")``, the fastest torch backend of chapter 7 on a
CPU (benchmarks/scan.py); also "torch" (the chunked associative scan) for reference.
Prints times (median of repeats) and ratios; no assertion on time.
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from seqlearn import mamba, ssd  # noqa: E402


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
    u = X.flatten(2).transpose(1, 2).contiguous()                       # (batch, d, L)
    delta = dt.repeat_interleave(P, dim=2).transpose(1, 2).contiguous()
    A1 = A.repeat_interleave(P)[:, None].expand(d, N).contiguous()
    B1, C1 = B[:, :, 0].transpose(1, 2).contiguous(), C[:, :, 0].transpose(1, 2).contiguous()
    leaves = [X, dt, A, B, C, u, delta, A1, B1, C1]

    runs = {"ssd torch (chunked)": lambda: ssd.ssd_scan(X, dt, A, B, C, chunk_size=64)}
    for backend in ("torch_recurrence", "torch"):
        runs[f"selective_scan {backend}"] = (
            lambda b=backend: mamba.selective_scan(u, delta, A1, B1, C1, backend=b))
    y_ssd = runs["ssd torch (chunked)"]().flatten(2).transpose(1, 2)
    y_m1 = runs["selective_scan torch_recurrence"]()
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
            fn().square().sum().backward()
            for t in leaves:
                t.requires_grad_(False)
        with torch.no_grad():
            f = _time(fn, repeats)
        results[name] = (f, _time(fwd_bwd, repeats))
        print(f"{name:34s} forward {f * 1e3:9.1f} ms   forward+backward "
              f"{results[name][1] * 1e3:9.1f} ms")
    s = results["ssd torch (chunked)"]
    for name in ("selective_scan torch_recurrence", "selective_scan torch"):
        r = results[name]
        print(f"speed-up of SSD over {name}: forward {r[0] / s[0]:.1f}x, "
              f"forward+backward {r[1] / s[1]:.1f}x")
    return err


if __name__ == "__main__":
    main()
