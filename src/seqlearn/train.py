"""A small training loop with a progress bar, shared by the training chapters.

    for step in range(steps):
        loss = loss_fn(model, make_batch(step))
        loss.backward(); clip ‖∇‖ to max_grad_norm; optimizer.step(); scheduler.step()
        every eval_every steps: history["eval"].append(eval_fn(model))

No framework: one function that a chapter can read in full. The progress
bar is tqdm's (a widget in Jupyter, followed by a line of text with the
outcome, which viewers without the widget's state can show; text elsewhere); its output changes
from run to run, so notebook cells that train start with
``# NBVAL_IGNORE_OUTPUT`` and print their results in the next cell.
"""

import random

import numpy as np
import torch
from tqdm.auto import tqdm

from seqlearn._checks import MAX_ELEMENTS, MAX_STEPS, flag, function, integer, number

SEED_MAX = 2**32 - 1
"""The largest seed NumPy's global generator takes."""


def seed_everything(seed):
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    seed : int in [0, 2**32 - 1]
    """
    seed = integer("seed", seed, 0)
    if seed > SEED_MAX:
        raise ValueError(f"seed: expected an integer in [0, 2**32 - 1] (NumPy's range), "
                         f"got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _module(name, value):
    if not isinstance(value, torch.nn.Module):
        raise ValueError(f"{name}: expected a torch.nn.Module, got {type(value).__name__}")
    return value


def _optimizer_arg(optimizer, model):
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer: expected a torch.optim.Optimizer, got "
                         f"{type(optimizer).__name__}")
    own = {id(p) for p in model.parameters()}
    foreign = sum(id(p) not in own for g in optimizer.param_groups for p in g["params"])
    if foreign:
        raise ValueError(f"optimizer: expected an optimizer over the model's parameters, got "
                         f"one with {foreign} parameter(s) that are not the model's")
    return optimizer


def _scheduler_arg(scheduler):
    if scheduler is None:
        return None
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) or not callable(
            getattr(scheduler, "step", None)):
        raise ValueError(f"scheduler: expected None or a learning-rate scheduler stepped "
                         f"without arguments (torch.optim.lr_scheduler), got "
                         f"{type(scheduler).__name__}")
    return scheduler


def _loss_value(loss):
    """The loss returned by loss_fn, refused unless a scalar tensor with a gradient."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = (f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor)
               else type(loss).__name__)
        raise ValueError(f"loss_fn: expected a function returning a scalar tensor, got {got}")
    if not loss.requires_grad:
        raise ValueError("loss_fn: expected a loss computed from the model's parameters (a "
                         "tensor that requires grad), got one without grad")
    return loss


def _eval_value(value):
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise ValueError(f"eval_fn: expected a function returning a number, got "
                         f"{type(value).__name__}")
    return float(value)


def fit(model, loss_fn, make_batch, optimizer, steps, *, eval_fn=None, eval_every=None,
        max_grad_norm=None, scheduler=None, progress=True, desc="training"):
    """Train ``model`` for ``steps`` optimizer steps; return the history.

    model: a torch.nn.Module.
    loss_fn(model, batch) -> scalar tensor (that requires grad).
    make_batch(step) -> batch (anything ``loss_fn`` accepts); seed it for repeatable runs.
    optimizer: a torch optimizer over the model's parameters.
    steps: int in [1, ``MAX_STEPS``].
    eval_fn(model) -> a number, run under ``torch.no_grad()`` in eval mode every
        ``eval_every`` steps (int >= 1) and after the last step.
    max_grad_norm: clip the gradient's global 2-norm to this finite number > 0 (None: no
        clipping).
    scheduler: a torch learning-rate scheduler, stepped after every optimizer step.
    progress: bool, show the bar;  desc: str, its label.

    Returns {"loss": [float per step], "eval_step": [int], "eval": [float]}.
    A NaN or inf loss is recorded as it comes (the run goes on).
    """
    steps = integer("steps", steps, maximum=MAX_STEPS)
    _module("model", model)
    function("loss_fn", loss_fn)
    function("make_batch", make_batch)
    _optimizer_arg(optimizer, model)
    if eval_fn is not None:
        function("eval_fn", eval_fn)
    if eval_fn is not None and eval_every is None:
        eval_every = steps
    if eval_every is not None:
        eval_every = integer("eval_every", eval_every)
    if max_grad_norm is not None:
        max_grad_norm = number("max_grad_norm", max_grad_norm, 0, strict=True)
    _scheduler_arg(scheduler)
    progress = flag("progress", progress)
    if not isinstance(desc, str):
        raise ValueError(f"desc: expected a string, got {type(desc).__name__}")
    history = {"loss": [], "eval_step": [], "eval": []}
    # At most one redraw a second: in Jupyter every redraw is a widget message, and a
    # flood of them (thousands of steps) overflows the kernel's output queue.
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=True, mininterval=1.0)
    for step in bar:
        model.train()
        loss = _loss_value(loss_fn(model, make_batch(step)))
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
                history["eval"].append(_eval_value(eval_fn(model)))
            history["eval_step"].append(step + 1)
            postfix["eval"] = f"{history['eval'][-1]:.3f}"
        bar.set_postfix(postfix, refresh=False)  # shown at the next (throttled) redraw
    if progress and hasattr(bar, "container"):
        # A Jupyter widget: a viewer without the widget's state (GitHub, Colab before the
        # cell runs) shows it stuck at 0 %, so the outcome is also written as text.
        bar.close()
        last = f", last loss {history['loss'][-1]:.3f}" if steps else ""
        print(f"{desc or 'training'}: {steps} steps in {bar.format_dict['elapsed']:.0f} s{last}")
    return history


def _int_tensor(name, value, what):
    if not isinstance(value, torch.Tensor) or value.is_floating_point() or value.is_complex() \
            or value.dtype == torch.bool:
        got = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{name}: expected an integer tensor {what}, got {got}")
    return value


def _logits(model, rows, shape, what):
    """model(rows), refused unless a tensor of finite logits whose leading axes are ``shape``;
    an error of torch's inside the model is reported as one about x."""
    try:
        out = model(rows)
    except (RuntimeError, IndexError) as exc:
        raise ValueError(f"x: expected inputs the model takes, got an error from model(x): "
                         f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(out, torch.Tensor) or out.ndim != len(shape) + 1 \
            or tuple(out.shape[:-1]) != shape:
        got = (f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor)
               else type(out).__name__)
        raise ValueError(f"model: expected logits {what} for a batch of {len(rows)} rows, "
                         f"got {got}")
    if not bool(torch.isfinite(out).all()):
        raise ValueError("x: expected inputs with finite logits, got NaN or inf in model(x)")
    return out


def _labels(y, n_classes, ignore=None):
    """y refused unless every label (other than ``ignore``) is in [0, n_classes)."""
    due = y if ignore is None else y[y != ignore]
    if due.numel() and (int(due.min()) < 0 or int(due.max()) >= n_classes):
        raise ValueError(f"y: expected labels in [0, {n_classes}) (the model's classes), got "
                         f"labels from {int(due.min())} to {int(due.max())}")


def accuracy(model, x, y, batch_size=256):
    """The fraction of rows of ``x`` whose predicted class, ``model(x).argmax(-1)``, is ``y``.

    model: a torch.nn.Module mapping a batch (B, ...) to logits (B, n_classes); run in eval
        mode under ``torch.no_grad()``, then put back in the mode it was in.
    x: tensor (N, ...), N >= 1, inputs the model takes (with finite logits);
    y: int tensor (N,), labels in [0, n_classes); batch_size: int >= 1, rows per forward
    pass. Returns a float in [0, 1].
    """
    _module("model", model)
    batch_size = integer("batch_size", batch_size, maximum=MAX_ELEMENTS)
    if not isinstance(x, torch.Tensor) or x.ndim == 0:
        got = "a 0-d tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x: expected a tensor (N, ...), got {got}")
    _int_tensor("y", y, "of labels (N,)")
    if y.ndim != 1 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"y: expected {len(x)} labels, one per row of x (at least one), "
                         f"got shape {tuple(y.shape)}")
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                out = _logits(model, x[i:i + batch_size], (len(x[i:i + batch_size]),),
                              "(B, n_classes)")
                if i == 0:
                    _labels(y, out.shape[-1])
                correct += int((out.argmax(-1) == y[i:i + batch_size]).sum())
    finally:
        model.train(was_training)
    return correct / len(y)


def token_accuracy(model, x, y, batch_size=256, ignore=-100):
    """The fraction of targets ``y != ignore`` that ``model(x).argmax(-1)`` gets right.

    model: a torch.nn.Module mapping token ids (B, L) to logits (B, L, vocab) (a language
        model); run in eval mode under ``torch.no_grad()``, then put back in the mode it
        was in.
    x: int tensor (N, L); y: int tensor (N, L), targets in [0, vocab), or ``ignore`` (an
        int) where no answer is due (``seqlearn.tasks.IGNORE``); batch_size: int >= 1,
        rows per forward pass.
    Returns a float in [0, 1].
    """
    _module("model", model)
    batch_size = integer("batch_size", batch_size, maximum=MAX_ELEMENTS)
    _int_tensor("x", x, "of token ids (N, L)")
    if x.ndim != 2 or x.numel() == 0:
        raise ValueError(f"x: expected a non-empty tensor of token ids (N, L), got shape "
                         f"{tuple(x.shape)}")
    _int_tensor("y", y, "of targets (N, L)")
    if isinstance(ignore, (bool, np.bool_)) or not isinstance(ignore, (int, np.integer)) \
            or not np.iinfo(np.int64).min <= ignore <= np.iinfo(np.int64).max:
        raise ValueError(f"ignore: expected an integer that fits in int64 (the targets' "
                         f"dtype), got {ignore!r}")
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"y: expected the shape of x, {tuple(x.shape)}, got {tuple(y.shape)}")
    due = int((y != ignore).sum())
    if due == 0:
        raise ValueError(f"y: expected at least one target other than ignore = {ignore}")
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                rows = x[i:i + batch_size]
                out = _logits(model, rows, tuple(rows.shape), "(B, L, vocab)")
                if i == 0:
                    _labels(y, out.shape[-1], ignore)
                pred = out.argmax(-1)
                target = y[i:i + batch_size]
                correct += int(((pred == target) & (target != ignore)).sum())
    finally:
        model.train(was_training)
    return correct / due
