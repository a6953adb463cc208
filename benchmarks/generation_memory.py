"""Generation memory per sequence: Mamba's constant state against attention's KV cache.

    python benchmarks/generation_memory.py [--d-model 768] [--n-layers 24] [--d-state 16]
        [--expand 2] [--d-conv 4] [--heads 12] [--tokens 64 256 ... 65536]
        [--time-d-model 192] [--time-layers 4] [--positions 16 256 1024 4096] [--window 32]

Memory, for one sequence (batch 1), float32, a model of the given size:
    mamba      sum of the nbytes of MambaLM.initial_state(1): per layer the conv window
               (d_inner, d_conv) and the SSM state h (d_inner, d_state), d_inner = expand
               d_model; the same after any number of tokens (the tokens are in h)
    attention  the KV cache after t tokens: 2 n_layers t d_model numbers (keys and values,
               heads * d_head = d_model), checked against seqlearn.attention.KVCache.n_bytes
               filled by ``append`` for the smallest t
The ratio is KV bytes / Mamba bytes; the break-even t is where they are equal.

Time per token at a few positions t (a smaller model, --time-d-model / --time-layers, so
that reaching t = 4096 one token at a time takes seconds): the median over --window
tokens of MambaLM.step after stepping to position t (torch, one thread), and of
n_layers x (KVCache.append + KVCache.attend) for a cache holding t tokens (NumPy float32,
the attention core only, without the projections). Mamba's stays flat, attention's grows
with t (attend reads the whole cache; append copies it, np.concatenate).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--d-model", type=int, default=768)
    parser.add_argument("--n-layers", type=int, default=24)
    parser.add_argument("--d-state", type=int, default=16)
    parser.add_argument("--expand", type=int, default=2)
    parser.add_argument("--d-conv", type=int, default=4)
    parser.add_argument("--heads", type=int, default=12, help="attention heads (12)")
    parser.add_argument("--tokens", type=int, nargs="+",
                        default=[64, 256, 1024, 4096, 16384, 65536])
    parser.add_argument("--time-d-model", type=int, default=192)
    parser.add_argument("--time-layers", type=int, default=4)
    parser.add_argument("--positions", type=int, nargs="+", default=[16, 256, 1024, 4096])
    parser.add_argument("--window", type=int, default=32, help="tokens timed per position")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads (1)")
    args = parser.parse_args()
    sizes = [args.vocab, args.d_model, args.n_layers, args.d_state, args.expand, args.d_conv,
             args.heads, args.time_d_model, args.time_layers, args.window, args.threads]
    if min(sizes + args.tokens + args.positions) < 1:
        parser.error("every size must be >= 1")
    for d in (args.d_model, args.time_d_model):
        if d % args.heads:
            parser.error(f"--heads {args.heads} must divide the model width {d}")
    return args


def mib(x):
    return f"{x / 2**20:,.2f}"


def main():
    args = parse_args()
    for var in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"]:
        os.environ[var] = str(args.threads)  # read once, when NumPy loads its BLAS
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # no pip install
    import numpy as np
    import torch
    from seqlearn.attention import KVCache, kv_cache_numbers
    from seqlearn.models import MambaLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    itemsize = 4  # float32
    D, nl, H = args.d_model, args.n_layers, args.heads
    print(f"numpy {np.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{args.threads} thread(s), float32, batch 1")

    # ------------------------------------------------------------ memory
    model = MambaLM(args.vocab, D, nl, d_state=args.d_state, expand=args.expand,
                    d_conv=args.d_conv)
    state = model.initial_state(1)
    mamba_bytes = sum(t.nbytes for layer in state for t in layer)
    d_inner = args.expand * D
    assert mamba_bytes == nl * d_inner * (args.d_conv + args.d_state) * itemsize
    s4d = MambaLM(args.vocab, D, nl, d_state=args.d_state, mixer="s4d")
    s4d_bytes = sum(t.nbytes for t in s4d.initial_state(1))
    n_params = sum(p.numel() for p in model.parameters())
    del model, s4d
    kv_per_token = kv_cache_numbers(1, D, nl) * itemsize

    t0 = min(args.tokens)
    rng = np.random.default_rng(0)
    cache = KVCache()
    for _ in range(t0):
        cache.append(rng.standard_normal((1, H, D // H), dtype=np.float32),
                     rng.standard_normal((1, H, D // H), dtype=np.float32))
    measured = nl * cache.n_bytes
    assert measured == kv_per_token * t0, (measured, kv_per_token * t0)

    print(f"\nmodel: d_model {D}, n_layers {nl}, Mamba d_state {args.d_state}, expand "
          f"{args.expand}, d_conv {args.d_conv} ({n_params / 1e6:.1f} M parameters); "
          f"attention {H} heads of {D // H}")
    print(f"Mamba state: {nl} x d_inner {d_inner} x (d_conv {args.d_conv} + d_state "
          f"{args.d_state}) x {itemsize} B = {mamba_bytes:,} B = {mib(mamba_bytes)} MiB, "
          f"whatever t")
    print(f"(S4D mixer, same backbone: {nl} x {D} x {args.d_state // 2} complex64 = "
          f"{s4d_bytes:,} B)")
    print(f"KV cache: 2 x {nl} x t x {D} x {itemsize} B = {kv_per_token:,} B per token "
          f"(KVCache.n_bytes x {nl} layers after {t0} appends: {measured:,} B, as the "
          f"formula); break-even at t = {mamba_bytes / kv_per_token:.1f}")
    print(f"\n{'t':>7} {'Mamba MiB':>11} {'KV cache MiB':>14} {'KV / Mamba':>11}")
    for t in args.tokens:
        kv = kv_per_token * t
        print(f"{t:>7} {mib(mamba_bytes):>11} {mib(kv):>14} {kv / mamba_bytes:>10.1f}x")

    # ------------------------------------------------------------ time per token
    Dt, nlt = args.time_d_model, args.time_layers
    positions = sorted(set(args.positions))
    small = MambaLM(args.vocab, Dt, nlt, d_state=args.d_state, expand=args.expand,
                    d_conv=args.d_conv).eval()
    ids = torch.randint(0, args.vocab, (positions[-1] + args.window,))
    state = small.initial_state(1)
    size0 = sum(t.nbytes for layer in state for t in layer)
    mamba_ms, pos = {}, 0
    start_all = time.perf_counter()
    with torch.no_grad():
        for p in positions:
            while pos < p:
                _, state = small.step(ids[pos:pos + 1], state)
                pos += 1
            times = []
            for _ in range(args.window):
                start = time.perf_counter()
                _, state = small.step(ids[pos:pos + 1], state)
                times.append(time.perf_counter() - start)
                pos += 1
            mamba_ms[p] = 1e3 * statistics.median(times)
    assert sum(t.nbytes for layer in state for t in layer) == size0
    mamba_wall = time.perf_counter() - start_all

    hd = Dt // H
    attn_ms = {}
    for p in positions:
        caches = []
        for _ in range(nlt):
            c = KVCache()
            c.K = rng.standard_normal((1, H, p, hd), dtype=np.float32)
            c.V = rng.standard_normal((1, H, p, hd), dtype=np.float32)
            caches.append(c)
        times = []
        for _ in range(args.window):
            k, v, q = (rng.standard_normal((1, H, hd), dtype=np.float32) for _ in range(3))
            start = time.perf_counter()
            for c in caches:
                c.append(k, v)
                c.attend(q)
            times.append(time.perf_counter() - start)
        attn_ms[p] = 1e3 * statistics.median(times)

    print(f"\ntime per token, d_model {Dt}, {nlt} layers, median of {args.window} tokens at "
          f"each position (Mamba: {pos} steps in {mamba_wall:.1f} s, state size constant)")
    print(f"{'t':>7} {'MambaLM.step ms':>16} {'KV append+attend ms':>20} "
          f"{'KV cache MiB':>13}")
    for p in positions:
        kv = kv_cache_numbers(p, Dt, nlt) * itemsize
        print(f"{p:>7} {mamba_ms[p]:>16.3f} {attn_ms[p]:>20.3f} {mib(kv):>13}")
    first, last = positions[0], positions[-1]
    print(f"from t = {first} to t = {last}: MambaLM.step x {mamba_ms[last] / mamba_ms[first]:.2f},"
          f" attention x {attn_ms[last] / attn_ms[first]:.2f}")


if __name__ == "__main__":
    main()
