"""Selective copying at a full-size configuration (chapter 7 trains a reduced one).

The default: vocabulary 30, training sequences of length 64 with 3-5 markers, 10,000
training samples, a Mamba of ~1M parameters, 30 epochs; test on 5,000 sequences of length
128 with 5-10 markers.

    python experiments/selective_copying.py                     # Mamba, the full configuration
    python experiments/selective_copying.py --mixer s4d         # the LTI baseline, same backbone
    python experiments/selective_copying.py --epochs 3          # a shorter run

Prints the answer-token accuracy after every epoch (held-out sequences of the training
length) and at the end on the longer test set; writes the numbers as JSON (--out).
Runs on a GPU when one is available (--device), else on the CPU (slow: hours for 30 epochs).
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F

from seqlearn import models, tasks, train


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mixer", choices=["mamba", "s4d"], default="mamba")
    p.add_argument("--d-model", type=int, default=192)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--d-state", type=int, default=16)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--test-length", type=int, default=128)
    p.add_argument("--test-samples", type=int, default=5000)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    train.seed_everything(args.seed)
    dev = torch.device(args.device)
    data = {
        "train": tasks.selective_copying(args.samples, args.length, (3, 5), 30, rng=1),
        "val": tasks.selective_copying(1000, args.length, (3, 5), 30, rng=2),
        "test": tasks.selective_copying(args.test_samples, args.test_length, (5, 10), 30,
                                        rng=3)}
    data = {k: tuple(torch.tensor(v, device=dev) for v in xy) for k, xy in data.items()}
    model = models.MambaLM(30, args.d_model, args.layers, d_state=args.d_state,
                          mixer=args.mixer).to(dev)
    n_params = sum(q.numel() for q in model.parameters())
    print(f"{args.mixer}: {n_params:,} parameters on {dev}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    x, y = data["train"]
    steps_per_epoch = -(-len(x) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    history = []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = torch.randperm(len(x), generator=gen).to(dev)
        model.train()
        for i in range(0, len(x), args.batch):
            idx = order[i:i + args.batch]
            loss = F.cross_entropy(model(x[idx]).transpose(1, 2), y[idx],
                                   ignore_index=tasks.IGNORE)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        acc = train.token_accuracy(model, *data["val"])
        history.append(acc)
        print(f"epoch {epoch + 1:3d}  loss {loss.item():.3f}  val accuracy {acc:.4f}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    test = train.token_accuracy(model, *data["test"], batch_size=100)
    print(f"test (length {args.test_length}, 5-10 markers): accuracy {test:.4f}")
    result = dict(vars(args), parameters=n_params, val_history=history, test_accuracy=test,
                  seconds=time.perf_counter() - start)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
