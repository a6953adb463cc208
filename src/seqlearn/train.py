"""A small training loop with a progress bar, shared by the training chapters.

    for step in range(steps):
        loss = loss_fn(model, make_batch(step))
        loss.backward(); clip ‖∇‖ to max_grad_norm; optimizer.step(); scheduler.step()
        every eval_every steps: history["eval"].append(eval_fn(model))

No framework: one function that a chapter can read in full. The progress
bar is tqdm's (a widget in Jupyter, text elsewhere); its output changes
from run to run, so notebook cells that train start with
``# NBVAL_IGNORE_OUTPUT`` and print their results in the next cell.
"""

import random

import numpy as np
import torch
from tqdm.auto import tqdm

from seqlearn._checks import integer


def seed_everything(seed):
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    seed = integer("seed", seed, 0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit(model, loss_fn, make_batch, optimizer, steps, *, eval_fn=None, eval_every=None,
        max_grad_norm=None, scheduler=None, progress=True, desc="training"):
    """Train ``model`` for ``steps`` optimizer steps; return the history.

    model: a torch.nn.Module.
    loss_fn(model, batch) -> scalar tensor.
    make_batch(step) -> batch (anything ``loss_fn`` accepts); seed it for repeatable runs.
    optimizer: a torch optimizer over the model's parameters.
    steps: int >= 1.
    eval_fn(model) -> float, run under ``torch.no_grad()`` in eval mode every
        ``eval_every`` steps and after the last step.
    max_grad_norm: clip the gradient's global 2-norm to this (None: no clipping).
    scheduler: a torch learning-rate scheduler, stepped after every optimizer step.

    Returns {"loss": [float per step], "eval_step": [int], "eval": [float]}.
    """
    steps = integer("steps", steps)
    if eval_fn is not None and eval_every is None:
        eval_every = steps
    if eval_every is not None:
        eval_every = integer("eval_every", eval_every)
    history = {"loss": [], "eval_step": [], "eval": []}
    # At most one redraw a second: in Jupyter every redraw is a widget message, and a
    # flood of them (thousands of steps) overflows the kernel's output queue.
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=True, mininterval=1.0)
    for step in bar:
        model.train()
        loss = loss_fn(model, make_batch(step))
        optimizer.zero_grad()
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        history["loss"].append(float(loss.detach()))
        postfix = {"loss": f"{history['loss'][-1]:.3f}"}
        if eval_fn is not None and ((step + 1) % eval_every == 0 or step + 1 == steps):
            model.eval()
            with torch.no_grad():
                history["eval"].append(float(eval_fn(model)))
            history["eval_step"].append(step + 1)
            postfix["eval"] = f"{history['eval'][-1]:.3f}"
        bar.set_postfix(postfix, refresh=False)  # shown at the next (throttled) redraw
    return history


def accuracy(model, x, y, batch_size=256):
    """The fraction of rows of ``x`` whose predicted class, ``model(x).argmax(-1)``, is ``y``.

    model: maps a batch (B, ...) to logits (B, n_classes); run in eval mode
        under ``torch.no_grad()``, then put back in the mode it was in.
    x: tensor (N, ...); y: int tensor (N,); batch_size: int >= 1, rows per forward pass.
    Returns a float in [0, 1].
    """
    batch_size = integer("batch_size", batch_size)
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"y: expected {len(x)} labels, one per row of x (at least one), "
                         f"got {len(y)}")
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
    model.train(was_training)
    return correct / len(y)


def token_accuracy(model, x, y, batch_size=256, ignore=-100):
    """The fraction of targets ``y != ignore`` that ``model(x).argmax(-1)`` gets right.

    model: maps token ids (B, L) to logits (B, L, vocab) (a language model); run in eval
        mode under ``torch.no_grad()``, then put back in the mode it was in.
    x: int tensor (N, L); y: int tensor (N, L), ``ignore`` where no answer is due
        (``seqlearn.tasks.IGNORE``); batch_size: int >= 1, rows per forward pass.
    Returns a float in [0, 1].
    """
    batch_size = integer("batch_size", batch_size)
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"y: expected the shape of x, {tuple(x.shape)}, got {tuple(y.shape)}")
    due = int((y != ignore).sum())
    if due == 0:
        raise ValueError(f"y: expected at least one target other than ignore = {ignore}")
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            pred = model(x[i:i + batch_size]).argmax(-1)
            target = y[i:i + batch_size]
            correct += int(((pred == target) & (target != ignore)).sum())
    model.train(was_training)
    return correct / due
