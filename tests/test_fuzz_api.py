"""The public API's contract (``seqlearn/_checks.py``), kept by fuzzing every public callable.

Every public function, class and method of every module is *discovered*
(``public_targets``), not listed: a new function fails ``test_every_target_has_an_example``
until it gets one valid example call in ``EXAMPLES`` below. From that example the
fuzzer derives mutated calls, one argument at a time (``mutations``): None, a
string, NaN and inf entries, an empty axis, one axis more or fewer, other
dtypes, lists and tensors in place of arrays, NumPy scalars in place of numbers,
bad sizes (0, -1, 2.5, True, 10**12), unknown and upper-case options, non-bool
flags, non-callables. Each outcome is one of

    clear        ValueError/TypeError whose message starts with the name of an argument
    correct      an equivalent input (a list for an array, np.int64 for an int, a tensor
                 without grad for an array) gave the example's result
    variant      an input the function may legitimately take (another shape, dtype,
                 a negative number) gave a finite result
    passthrough  NaN/inf in the input came out as NaN/inf, and the docstring says so

and anything else fails: an exception from NumPy/torch/Triton internals, a
message that names no argument, a result for an invalid input, a wrong result
for an equivalent one, a NaN from finite input, a hang. A hypothesis test then
mutates two arguments at once.

``python tests/test_fuzz_api.py`` prints the counts (the issue's note quotes them).
"""

import collections
import importlib
import inspect
import json
import os
import pkgutil
import re
import signal
import sys
import warnings

os.environ.setdefault("TRITON_INTERPRET", "1")

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import seqlearn
from seqlearn import (attention, basis, charlm, cost, discretize, experiment, hippo, mamba,
                      mamba_triton, models, recurrence, rnn, s4, ssm, tasks, train)

# Book tooling, not the course's API: it reads and writes the repository's own files and is
# tested against them (test_notebooks.py, test_plain_markdown.py, test_colab_copies.py).
# ``exercises.check`` answers every input with a verdict instead of raising: its contract
# is tested in test_exercises.py.
EXEMPT_MODULES = {
    "notebooks": "book tooling (tests/test_notebooks.py, test_colab_copies.py)",
    "plain_markdown": "book tooling (tests/test_plain_markdown.py)",
    "exercises": "check() never raises; its contract is tested in tests/test_exercises.py",
    "grading": "instructor tooling over nbgrader and the repository's notebooks "
               "(tests/test_grading.py)",
    "arena": "chapter 10's grid runner: every call trains models and writes result files; "
             "its functions' bad inputs are tested in tests/test_arena.py",
}

TIME_LIMIT_S = 20
"""A mutated call that takes longer is a hang."""


def _unchecked(obj):
    """Low-level kernels documented as unchecked (contract item 7) are not fuzzed: their
    docstring has a line starting "Unchecked", or (a Triton kernel, whose docstring is the
    kernel's source of truth printed in the book) their module's "Unchecked" paragraph
    names them."""
    doc = inspect.getdoc(obj) or ""
    if re.search(r"^Unchecked\b", doc, re.M):
        return True
    if _is_triton_kernel(obj):
        module_doc = sys.modules[obj.fn.__module__].__doc__ or ""
        paragraph = module_doc[module_doc.find("Unchecked"):].split("\n\n")[0]
        return "Unchecked" in module_doc and obj.fn.__name__ in paragraph
    return False


def _is_triton_kernel(obj):
    return hasattr(obj, "fn") and hasattr(obj, "arg_names") and inspect.isfunction(obj.fn)


def public_targets():
    """name -> (callable, owner class or None) for every public callable of every module."""
    found = {}
    for info in pkgutil.iter_modules(seqlearn.__path__):
        if info.name.startswith("_") or info.name in EXEMPT_MODULES:
            continue
        module = importlib.import_module(f"seqlearn.{info.name}")
        for name, obj in vars(module).items():
            if _is_triton_kernel(obj) and obj.fn.__module__ == module.__name__ \
                    and not name.startswith("_"):
                found[f"{info.name}.{name}"] = (obj, None)
                continue
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(obj):
                found[f"{info.name}.{name}"] = (obj, None)
                # its public methods, its own and those of the package's private bases
                for base in obj.__mro__:
                    if not base.__module__.startswith("seqlearn."):
                        continue
                    for meth, fn in vars(base).items():
                        key = f"{info.name}.{name}.{meth}"
                        if not meth.startswith("_") and inspect.isfunction(fn) \
                                and key not in found:
                            found[key] = (fn, obj)
            elif callable(obj):
                found[f"{info.name}.{name}"] = (obj, None)
    return found


# --------------------------------------------------------------------------- examples
# One valid call per target: a function returning (args, kwargs). Small sizes: the
# fuzzer makes ~40 calls from each.

def _r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _t(*shape, seed=0, dtype=torch.float64):
    return torch.from_numpy(_r(*shape, seed=seed)).to(dtype)


def _stable(n, seed=0):
    """A stable (n, n) matrix: eigenvalues with negative real part."""
    return -np.eye(n) + 0.3 * _r(n, n, seed=seed)


def _rnn_params(kind, D=3, H=4):
    return rnn.init_params(kind, D, H, np.random.default_rng(0))


def _scan_args(b=1, d=2, n=3, L=5, torch_=False, dtype=torch.float64):
    u, delta, B, C = _r(b, d, L), np.abs(_r(b, d, L, seed=1)) * 0.5, _r(b, n, L, seed=2), \
        _r(b, n, L, seed=3)
    A = -np.exp(_r(d, n, seed=4))
    arrays = (u, delta, A, B, C)
    if torch_:
        arrays = tuple(torch.from_numpy(a).to(dtype) for a in arrays)
    return arrays


def _step_args(torch_=True):
    b, d, n = 2, 3, 4
    arrays = (_r(b, d, n), _r(b, d), np.abs(_r(b, d, seed=1)), -np.exp(_r(d, n, seed=2)),
              _r(b, n, seed=3), _r(b, n, seed=4))
    if torch_:
        arrays = tuple(torch.from_numpy(a) for a in arrays)
    return arrays


def _classifier():
    torch.manual_seed(0)
    return models.SequenceClassifier(10, 4, 1, 3, d_state=4)


def _char_rnn():
    torch.manual_seed(0)
    return charlm.CharRNN(10, hidden_size=8)


def _mamba_block():
    torch.manual_seed(0)
    return mamba.MambaBlock(4, d_state=4, d_conv=2, expand=2).double()


def _lm():
    torch.manual_seed(0)
    return models.MambaLM(10, 4, 1, d_state=4)


def _layer(cls):
    torch.manual_seed(0)
    return cls(3, d_state=4)


class _OneHot(torch.nn.Module):
    """A 'language model' whose logits are the one-hot ids (vocab 5)."""

    def forward(self, x):
        return torch.nn.functional.one_hot(x, 5).double()


def _fit_kwargs():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1).double()
    x, y = _t(8, 3), _t(8, 1, seed=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = lambda m, batch: torch.nn.functional.mse_loss(m(batch[0]), batch[1])  # noqa: E731
    return (model, loss, lambda step: (x, y), opt, 3), {"progress": False, "max_grad_norm": 1.0}


def _ft_make(n, rng):
    return tasks.first_token_classification(n, 5, 2, 3, rng=rng)


def _ft_task():
    return experiment.Task("t", _ft_make, 5, 2, 5, n_val=8, n_test=8)


_FT_SPECS = {"a": {"mixer": "lstm", "d_model": 4, "n_layers": 1}}
_FT_RUNS = [dict(model="a", lr=1e-2, seed=0, val_acc=0.5, test_acc=0.5, params=10,
                 seconds_per_step=0.1)]


def _ft_file():
    """A results file of the protocol, written once per session (for experiment.load)."""
    import tempfile
    path = os.path.join(tempfile.gettempdir(), "seqlearn_fuzz_results.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps({"config": {}, "config_hash": "0", "versions": {}}) + "\n")
        f.write(json.dumps(_FT_RUNS[0]) + "\n")
    return path


def _triton_args():
    u, delta, A, B, C = _scan_args(1, 2, 2, 5, torch_=True, dtype=torch.float32)
    return (u, delta, A, B, C), {}


EXAMPLES = {
    # attention
    "attention.softmax": lambda: ((_r(2, 5),), {"axis": -1}),
    "attention.causal_mask": lambda: ((4,), {"L_k": 5}),
    "attention.scaled_dot_product_attention": lambda: (
        (_r(3, 4), _r(5, 4, seed=1), _r(5, 2, seed=2)), {"causal": False, "return_weights": False}),
    "attention.split_heads": lambda: ((_r(5, 6), 2), {}),
    "attention.merge_heads": lambda: ((_r(2, 5, 3),), {}),
    "attention.multi_head_attention": lambda: (
        (_r(1, 5, 4), _r(4, 4, seed=1), _r(4, 4, seed=2), _r(4, 4, seed=3), _r(4, 4, seed=4),
         2), {"causal": True, "return_weights": False}),
    "attention.KVCache": lambda: ((), {}),
    "attention.KVCache.append": lambda: ((_r(4), _r(3, seed=1)), {}),
    "attention.KVCache.attend": lambda: ((_r(4),), {}),
    "attention.kv_cache_numbers": lambda: ((10, 8), {"n_layers": 2}),
    "attention.kv_cache_decode": lambda: (
        (_r(1, 5, 4), _r(4, 4, seed=1), _r(4, 4, seed=2), _r(4, 4, seed=3), _r(4, 4, seed=4), 2), {}),
    "attention.elu_feature_map": lambda: ((_r(3, 4),), {}),
    "attention.linear_attention_parallel": lambda: (
        (_r(5, 4), _r(5, 4, seed=1), _r(5, 2, seed=2)), {"causal": True}),
    "attention.linear_attention_recurrent": lambda: (
        (_r(5, 4), _r(5, 4, seed=1), _r(5, 2, seed=2)), {}),
    "attention.linear_attention_step": lambda: (
        (None, _r(4), _r(4, seed=1), _r(2, seed=2)), {}),
    "attention.sinusoidal_positions": lambda: ((6, 4), {}),
    "attention.CausalSelfAttention": lambda: ((4,), {"n_heads": 2}),
    "attention.CausalSelfAttention.forward": lambda: ((_t(2, 5, 4, dtype=torch.float32),), {}),
    # basis
    "basis.legendre": lambda: ((4, np.linspace(0, 1, 7)), {"window": (0.0, 1.0)}),
    "basis.fourier": lambda: ((5, np.linspace(0, 1, 7)), {"window": (0.0, 1.0)}),
    "basis.laguerre": lambda: ((4, np.linspace(-3, 0, 7)), {"now": 0.0}),
    "basis.evaluate": lambda: (("legendre", 4, np.linspace(0, 1, 7), (0.0, 1.0)), {}),
    "basis.weight": lambda: (("legendre", np.linspace(0, 1, 7), (0.0, 1.0)), {}),
    "basis.project": lambda: ((np.sin, np.linspace(0, 1, 50), "legendre", 4), {}),
    "basis.reconstruct": lambda: ((_r(4), np.linspace(0, 1, 7), "legendre"), {}),
    # charlm
    "charlm.CharRNN": lambda: ((10,), {"hidden_size": 8, "cell": "gru"}),
    "charlm.CharRNN.forward": lambda: ((torch.tensor([[1, 2, 3]]),), {}),
    "charlm.random_windows": lambda: (
        (torch.arange(20) % 10, 4, 2, torch.Generator().manual_seed(0)), {}),
    "charlm.next_char_loss": lambda: (
        (_char_rnn(), (torch.tensor([[1, 2, 3]]), torch.tensor([[2, 3, 4]]))), {}),
    "charlm.sample": lambda: ((_char_rnn(), [1, 2], 3), {"temperature": 0.0}),
    # cost (timings vary: compared by structure only)
    "cost.time_call": lambda: ((np.add, 1.0, 2.0), {"repeat": 1}),
    "cost.peak_memory_bytes": lambda: ((np.ones, 10), {}),
    "cost.cost_curve": lambda: ((lambda L: (np.ones(L),), np.cumsum, [4, 8]), {"repeat": 1}),
    "cost.loglog_slope": lambda: (([1, 2, 4, 8], [1.0, 4.0, 16.0, 64.0]), {}),
    "cost.rnn_inputs": lambda: ((5,), {"d": 3, "seed": 0}),
    "cost.rnn_states": lambda: (cost.rnn_inputs(5, d=3), {}),
    "cost.attention_inputs": lambda: ((5,), {"d": 3, "seed": 0}),
    "cost.causal_softmax_attention": lambda: (cost.attention_inputs(5, d=3), {}),
    "cost.causal_linear_attention": lambda: (cost.attention_inputs(5, d=3), {}),
    "cost.compare_costs": lambda: (([4, 8],), {"d": 3, "repeat": 1}),
    # discretize
    "discretize.method_alpha": lambda: (("gbt",), {"alpha": 0.5}),
    "discretize.discretize": lambda: ((_stable(3), _r(3, 1), 0.1, "bilinear"), {}),
    "discretize.discretize_diag": lambda: (
        (-np.arange(1.0, 4.0) + 1j * np.arange(3), np.ones(3), 0.1, "zoh"), {}),
    # hippo
    "hippo.hippo_matrix": lambda: (("legs", 4), {"theta": 1.0}),
    "hippo.online_coefficients": lambda: (("legt", np.sin(np.linspace(0, 3, 20)), 0.05, 4), {}),
    "hippo.reconstruct": lambda: (("legt", _r(20, 4) * 0.1, 10.0, np.linspace(0, 1, 5)), {}),
    "hippo.offline_coefficients": lambda: (("legt", np.sin, 1.0, 4), {}),
    # mamba
    "mamba.selective_scan": lambda: (_scan_args(), {"backend": "numpy",
                                                    "delta_softplus": False,
                                                    "return_last_state": False}),
    "mamba.softplus_numpy": lambda: ((_r(3, 4),), {}),
    "mamba.silu_numpy": lambda: ((_r(3, 4),), {}),
    "mamba.scan_numpy": lambda: (_scan_args(), {}),
    "mamba.scan_torch_sequential": lambda: (_scan_args(torch_=True), {}),
    "mamba.combine": lambda: (((_t(3), _t(3, seed=1)), (_t(3, seed=2), _t(3, seed=3))), {}),
    "mamba.associative_scan": lambda: ((torch.rand(2, 5, dtype=torch.float64), _t(2, 5)), {}),
    "mamba.scan_torch_parallel": lambda: (_scan_args(torch_=True), {"chunk_size": 2}),
    "mamba.scan_torch_recurrence": lambda: (_scan_args(torch_=True), {}),
    "mamba.selective_scan_step": lambda: (_step_args(), {"delta_softplus": False}),
    "mamba.inverse_softplus": lambda: ((torch.linspace(0.1, 3.0, 4, dtype=torch.float64),), {}),
    "mamba.RMSNorm": lambda: ((4,), {"eps": 1e-5}),
    "mamba.RMSNorm.forward": lambda: ((_t(2, 4, dtype=torch.float32),), {}),
    "mamba.MambaBlock": lambda: ((4,), {"d_state": 4, "d_conv": 2, "expand": 2}),
    "mamba.MambaBlock.ssm_inputs": lambda: ((_t(2, 5, 8, dtype=torch.float32),), {}),
    "mamba.MambaBlock.step_sizes": lambda: ((_t(2, 5, 4, dtype=torch.float32),), {}),
    "mamba.MambaBlock.forward": lambda: ((_t(2, 5, 4, dtype=torch.float32),), {}),
    "mamba.MambaBlock.initial_state": lambda: ((2,), {}),
    "mamba.MambaBlock.step": lambda: (
        (_t(2, 4, dtype=torch.float32), _mamba_block().float().initial_state(2)), {}),
    "models.MambaLM": lambda: ((10, 4, 1), {"d_state": 4}),
    "models.MambaLM.forward": lambda: ((torch.tensor([[1, 2, 3]]),), {}),
    "models.MambaLM.step_sizes": lambda: ((torch.tensor([[1, 2, 3]]),), {}),
    "models.MambaLM.initial_state": lambda: ((2,), {}),
    "models.MambaLM.step": lambda: ((torch.tensor([1, 2]), _lm().initial_state(2)), {}),
    # mamba_triton
    "mamba_numba.exp_f32": lambda: ((np.linspace(-3.0, 0.0, 5),), {}),
    "mamba_triton.selective_scan_triton": _triton_args,
    "mamba_triton.aot_compile": None,       # needs TRITON_INTERPRET=0: tests/test_mamba_triton.py
    "mamba_triton.resource_usage": None,    # reads a compiled cubin: tests/test_mamba_triton.py
    # recurrence
    "recurrence.linear_recurrence": lambda: ((0.5, _r(2, 6)), {}),
    "recurrence.ema": lambda: ((_r(2, 6), 0.7), {}),
    "recurrence.ema_kernel": lambda: ((0.7, 5), {}),
    # rnn
    "rnn.rnn_step": lambda: ((_r(2, 3), _r(2, 4, seed=1), *_rnn_params("rnn").values()), {}),
    "rnn.lstm_gates": lambda: ((_r(2, 3), _r(2, 4, seed=1), *_rnn_params("lstm").values()),
                               {}),
    "rnn.lstm_step": lambda: ((_r(2, 3), _r(2, 4, seed=1), _r(2, 4, seed=2),
                               *_rnn_params("lstm").values()), {}),
    "rnn.gru_step": lambda: ((_r(2, 3), _r(2, 4, seed=1), *_rnn_params("gru").values()), {}),
    "rnn.rnn_forward": lambda: ((_r(2, 5, 3), _r(2, 4, seed=1), _rnn_params("rnn")), {}),
    "rnn.lstm_forward": lambda: ((_r(2, 5, 3), _r(2, 4, seed=1), _r(2, 4, seed=2),
                                  _rnn_params("lstm")), {}),
    "rnn.gru_forward": lambda: ((_r(2, 5, 3), _r(2, 4, seed=1), _rnn_params("gru")), {}),
    "rnn.init_params": lambda: (("gru", 3, 4, np.random.default_rng(0)), {}),
    "rnn.TorchRNN": lambda: ((3, 4), {}),
    "rnn.TorchRNN.step": lambda: ((_t(2, 3, dtype=torch.float32),
                                   _t(2, 4, seed=1, dtype=torch.float32)), {}),
    "rnn.TorchRNN.forward": lambda: ((_t(2, 5, 3, dtype=torch.float32),), {}),
    "rnn.TorchGRU.forward": lambda: ((_t(2, 5, 3, dtype=torch.float32),), {}),
    "rnn.TorchLSTM": lambda: ((3, 4), {}),
    "rnn.TorchLSTM.step": lambda: ((_t(2, 3, dtype=torch.float32),
                                    _t(2, 4, seed=1, dtype=torch.float32),
                                    _t(2, 4, seed=2, dtype=torch.float32)), {}),
    "rnn.TorchLSTM.forward": lambda: ((_t(2, 5, 3, dtype=torch.float32),), {}),
    "rnn.TorchGRU": lambda: ((3, 4), {}),
    "rnn.TorchGRU.step": lambda: ((_t(2, 3, dtype=torch.float32),
                                   _t(2, 4, seed=1, dtype=torch.float32)), {}),
    "rnn.load_into": lambda: ((rnn.TorchGRU(3, 4), _rnn_params("gru")), {}),
    "rnn.to_torch_nn": lambda: ((rnn.TorchGRU(3, 4),), {}),
    "rnn.linear_rnn_bptt": lambda: ((0.5 * np.eye(3), _r(3, 2), _r(5, 2, seed=1), _r(3, seed=2),
                                     _r(3, seed=3)), {}),
    "rnn.grad_norm_vs_length": lambda: ((0.9 * np.eye(3), [1, 5, 10]), {}),
    "rnn.orthogonal": lambda: ((4, np.random.default_rng(0)), {}),
    "rnn.spectral_radius": lambda: ((_r(4, 4),), {}),
    "rnn.esn_reservoir": lambda: ((20, 0.9, 0.3, np.random.default_rng(0)), {}),
    "rnn.esn_states": lambda: ((_r(30, 1), _r(20, 2, seed=1),
                                rnn.esn_reservoir(20, 0.9, 0.3, np.random.default_rng(0)), 1.0),
                               {}),
    "rnn.ridge_readout": lambda: ((_r(5, 30), _r(2, 30, seed=1), 1e-3), {}),
    "rnn.fit_esn": lambda: ((np.sin(np.arange(120) * 0.2), np.cos(np.arange(120) * 0.2)),
                            {"n_reservoir": 20, "washout": 10,
                             "rng": np.random.default_rng(0)}),
    "rnn.esn_predict": lambda: ((rnn.fit_esn(np.sin(np.arange(120) * 0.2),
                                             np.cos(np.arange(120) * 0.2), n_reservoir=20,
                                             washout=10, rng=np.random.default_rng(0)),
                                 np.sin(np.arange(30) * 0.2)), {}),
    # s4
    "s4.nplr": lambda: (("legs", 4), {}),
    "s4.cauchy": lambda: ((_r(3) + 1j, 1j * np.arange(4.0), -1 + 1j * _r(3, seed=1)), {}),
    "s4.dplr_kernel": lambda: ((*s4.nplr("legs", 4)[:2], s4.nplr("legs", 4)[1], _r(4) + 0j,
                                _r(4, seed=1) + 0j, 0.1, 6), {}),
    "s4.s4d_lin_init": lambda: ((4,), {}),
    "s4.s4d_inv_init": lambda: ((4,), {}),
    "s4.s4d_kernel": lambda: ((s4.s4d_lin_init(4), np.ones(4), _r(4) + 0j, 0.1, 6), {}),
    "s4.s4d_kernel_torch": lambda: ((torch.log(torch.full((2,), 0.1, dtype=torch.float64)),
                                     torch.log(torch.full((2, 3), 0.5, dtype=torch.float64)),
                                     _t(2, 3), _t(2, 3, 2, seed=1), 6),
                                    {}),
    "s4.S4DLayer": lambda: ((3,), {"d_state": 4}),
    "s4.S4DLayer.kernel": lambda: ((6,), {}),
    "s4.S4DLayer.initial_state": lambda: ((2,), {}),
    "s4.S4DLayer.ssm_step": lambda: ((_t(2, 3, dtype=torch.float32),
                                      _layer(s4.S4DLayer).initial_state(2)), {}),
    "s4.S4DLayer.step": lambda: ((_t(2, 3, dtype=torch.float32),
                                  _layer(s4.S4DLayer).initial_state(2)), {}),
    "s4.S4DLayer.forward": lambda: ((_t(2, 6, 3, dtype=torch.float32),), {}),
    "s4.S4DLayer.ssm_forward": lambda: ((_t(2, 6, 3, dtype=torch.float32),), {}),
    "s4.S4Layer": lambda: ((3,), {"d_state": 4}),
    "s4.S4Layer.kernel": lambda: ((6,), {}),
    "s4.S4Layer.initial_state": lambda: ((2,), {}),
    "s4.S4Layer.ssm_step": lambda: ((_t(2, 3, dtype=torch.float32),
                                     _layer(s4.S4Layer).initial_state(2)), {}),
    "s4.S4Layer.step": lambda: ((_t(2, 3, dtype=torch.float32),
                                 _layer(s4.S4Layer).initial_state(2)), {}),
    "s4.S4Layer.forward": lambda: ((_t(2, 6, 3, dtype=torch.float32),), {}),
    "s4.S4Layer.ssm_forward": lambda: ((_t(2, 6, 3, dtype=torch.float32),), {}),
    "models.SequenceClassifier": lambda: ((10, 4, 1, 3), {"d_state": 4}),
    "models.SequenceClassifier.forward": lambda: ((torch.tensor([[1, 2, 3], [4, 5, 6]]),), {}),
    # the comparison protocol (issue "Fair by construction")
    "experiment.Task": lambda: (("t", _ft_make, 5, 2, 5), {}),
    "experiment.configuration": lambda: ((_ft_task(), _FT_SPECS, 2, [1e-2], [0], 4), {}),
    "experiment.versions": lambda: ((), {}),
    "experiment.first_token_task": lambda: ((5,), {"n_classes": 2, "n_noise": 3}),
    "mamba.written_and_kept": lambda: ((torch.rand(2, 3, 5, dtype=torch.float64),
                                        -torch.rand(3, 4, dtype=torch.float64),
                                        torch.tensor([0, 4])), {}),
    "experiment.selective_copying_task": lambda: ((16,), {"n_tokens": 2, "vocab": 6,
                                                          "test_lengths": (32,)}),
    "experiment.induction_heads_task": lambda: ((8,), {"vocab": 5, "test_lengths": (16,)}),
    "experiment.mqar_task": lambda: ((12,), {"n_pairs": 2, "n_keys": 4, "n_values": 4,
                                             "test_lengths": (24,)}),
    "experiment.build": lambda: ((_FT_SPECS["a"], _ft_task()), {}),
    "experiment.run_one": lambda: ((_FT_SPECS["a"], _ft_task(), 1e-2, 0, 2, 4), {}),
    "experiment.compare": lambda: ((_FT_SPECS, _ft_task(), 2, [1e-2], [0]),
                                   {"batch_size": 4, "progress": False}),
    "experiment.load": lambda: ((_ft_file(),), {}),
    "experiment.stored": lambda: (("first_token_T5",), {}),
    "experiment.copying_task": lambda: ((), {"m": 3, "vocab": 6}),
    "experiment.padded_patterns_task": lambda: ((4,), {"n_classes": 2, "pattern_length": 3}),
    "experiment.digest": lambda: (({"a": 1},), {}),
    "experiment.start_file": lambda: ((_ft_file(), {}, "0"), {}),
    "experiment.summary": lambda: ((_FT_RUNS,), {}),
    "experiment.score": lambda: ((torch.nn.Linear(3, 2), _t(4, 3, dtype=torch.float32),
                                  torch.tensor([0, 1, 1, 0])), {}),
    "experiment.format_table": lambda: ((experiment.summary(_FT_RUNS),), {}),
    # the thin names inherit SequenceModel's methods, fuzzed there
    "models.SequenceClassifier.features": None, "models.SequenceClassifier.embed_input": None,
    "models.SequenceClassifier.initial_state": None, "models.SequenceClassifier.step": None,
    "models.SequenceClassifier.step_sizes": None, "models.MambaLM.features": None,
    "models.MambaLM.embed_input": None, "models.MambaLM.attention_weights": None,
    "models.SequenceClassifier.attention_weights": None,
    "models.TransformerLM.features": None, "models.TransformerLM.embed_input": None,
    "models.TransformerLM.initial_state": None, "models.TransformerLM.step": None,
    "models.TransformerLM.step_sizes": None,
    # the backbone (issue "Fair by construction")
    "models.SequenceModel": lambda: (("lstm", 4, 1), {"vocab_size": 10, "n_classes": 3,
                                                       "max_len": 16}),
    "models.SequenceModel.forward": lambda: ((torch.tensor([[1, 2, 3], [4, 5, 6]]),), {}),
    "models.SequenceModel.features": lambda: ((torch.tensor([[1, 2, 3], [4, 5, 6]]),), {}),
    "models.SequenceModel.embed_input": lambda: ((torch.tensor([[1, 2, 3]]),), {}),
    "models.SequenceModel.initial_state": None,   # the LSTM example has no step: via MambaLM
    "models.SequenceModel.step": None,
    "models.SequenceModel.step_sizes": None,
    "models.SequenceModel.attention_weights": None,   # the LSTM example has none: via TransformerLM
    "models.make_mixer": lambda: (("s4d", 4), {"d_state": 4}),
    "models.gpt2_init_": lambda: ((torch.nn.Linear(3, 2), 2), {}),
    "attention.feed_forward": lambda: ((4,), {"d_ff": 8}),
    "models.count_parameters": lambda: ((torch.nn.Linear(3, 2),), {}),
    "models.match_width": lambda: (("gru", 500), {"n_layers": 1, "vocab_size": 5,
                                                  "n_classes": 2, "largest": 64}),
    "rnn.RecurrentMixer": lambda: (("lstm", 4), {"max_len": 10}),
    "rnn.RecurrentMixer.forward": lambda: ((torch.randn(2, 3, 4),), {}),
    "rnn.chrono_bias": lambda: ((4, 10), {}),
    "attention.CausalLinearAttention": lambda: ((4,), {"n_heads": 2, "chunk": 2}),
    "attention.CausalLinearAttention.forward": lambda: ((torch.randn(2, 5, 4),), {}),
    # ssm
    "ssm.scan": lambda: ((0.5 * np.eye(2), np.ones(2), np.ones(2), 0.5, _r(6)),
                         {"return_state": False}),
    "ssm.ssm_kernel": lambda: ((0.5 * np.eye(2), np.ones(2), np.ones(2), 6), {}),
    "ssm.causal_conv": lambda: ((_r(8), _r(4, seed=1)), {"method": "fft"}),
    "ssm.transfer_function": lambda: ((_stable(2), np.ones(2), np.ones(2), 0.5,
                                       1j * np.linspace(0, 3, 4)), {}),
    "ssm.discrete_transfer_function": lambda: ((0.5 * np.eye(2), np.ones(2), np.ones(2), 0.5,
                                                np.exp(1j * np.linspace(0, 3, 4))), {}),
    "ssm.frequency_response": lambda: ((0.5 * np.eye(2), np.ones(2), np.ones(2), 0.5,
                                        np.linspace(0, 3, 4)), {}),
    "ssm.step_response": lambda: ((0.5 * np.eye(2), np.ones(2), np.ones(2), 0.5, 6), {}),
    # tasks
    "tasks.mackey_glass": lambda: ((20,), {"discard": 10, "rng": np.random.default_rng(0)}),
    "tasks.lorenz": lambda: ((20,), {"dt": 0.01}),
    "tasks.char_corpus": lambda: (("hello",), {}),
    "tasks.char_vocab": lambda: (("hello world",), {}),
    "tasks.encode": lambda: (("hello", tasks.char_vocab("hello world")[1]), {}),
    "tasks.decode": lambda: (([1, 2, 3], tasks.char_vocab("hello world")[0]), {}),
    "tasks.first_token_classification": lambda: ((4, 6), {"rng": 0}),
    "tasks.selective_copying": lambda: ((4,), {"length": 16, "n_markers": (2, 3), "vocab": 10,
                                               "rng": 0}),
    "tasks.order_free_copy_accuracy": lambda: ((8, 28), {}),
    "tasks.two_tone_kernel": lambda: ((16,), {}),
    "tasks.induction_heads": lambda: ((4,), {"length": 16, "vocab": 8, "rng": 0}),
    # train
    "train.seed_everything": lambda: ((0,), {}),
    "train.fit": _fit_kwargs,
    "train.accuracy": lambda: ((torch.nn.Linear(3, 2).double(), _t(8, 3),
                                torch.arange(8) % 2), {"batch_size": 4}),
    "train.token_accuracy": lambda: ((_OneHot(),
                                      torch.tensor([[1, 2, 3]]), torch.tensor([[1, 2, 4]])),
                                     {"batch_size": 4}),
    # --- chapter 0 examples (intro, diagrams of chapter 0) ---
    "diagrams.timeline": lambda: ((), {}),
    "diagrams.recurrence_and_convolution": lambda: ((), {}),
    # --- chapter 1 examples (rnn, charlm, diagrams of chapter 1) ---
    "rnn.esn_generate": lambda: ((rnn.fit_esn(np.sin(np.arange(120) * 0.2)[:-1],
                                              np.sin(np.arange(120) * 0.2)[1:],
                                              n_reservoir=20, washout=10),
                                  np.sin(np.arange(120) * 0.2)), {"n_steps": 5}),
    "charlm.stream_windows": lambda: ((torch.arange(41) % 10, 2, 5), {}),
    "charlm.CarriedState": lambda: ((), {}),
    "charlm.perplexity": lambda: ((_char_rnn(), torch.tensor([1, 2, 3, 4])), {}),
    "charlm.tbptt_batches": lambda: ((torch.arange(41) % 10, 2, 5), {}),
    "charlm.window_loss": lambda: ((_char_rnn(), torch.tensor([1, 2, 3, 4])), {"seq_len": 2}),
    "diagrams.unrolled_rnn": lambda: ((), {}),
    "diagrams.lstm_cell": lambda: ((), {}),
    "diagrams.gru_cell": lambda: ((), {}),
    # --- chapter 2 examples (attention, diagrams of chapter 2) ---
    "attention.additive_attention": lambda: (
        (_r(3, 2), _r(4, 5, seed=1), _r(6, 2, seed=2), _r(6, 5, seed=3), _r(6, seed=4)),
        {"return_weights": False}),
    "attention.online_softmax_attention": lambda: (
        (_r(5, 4), _r(7, 4, seed=1), _r(7, 2, seed=2)), {"block_size": 3, "causal": True}),
    "attention.position_rotation": lambda: ((3, 6), {}),
    "attention.CausalSelfAttention.weights": lambda: ((_t(2, 5, 4, dtype=torch.float32),), {}),
    "attention.TransformerBlock": lambda: ((4,), {"n_heads": 2, "d_ff": 8}),
    "attention.TransformerBlock.forward": lambda: ((_t(2, 5, 4, dtype=torch.float32),), {}),
    "models.TransformerLM": lambda: ((5, 4), {"n_layers": 1, "n_heads": 2}),
    "models.TransformerLM.forward": lambda: ((torch.tensor([[1, 2, 3, 0]]),), {}),
    "models.TransformerLM.attention_weights": lambda: ((torch.tensor([[1, 2, 3, 0]]),), {}),
    "diagrams.transformer_block": lambda: ((), {}),
    "diagrams.attention_lookup": lambda: ((), {}),
    # --- chapter 3 examples (basis, diagrams of chapter 3) ---
    "basis.approximation_error": lambda: ((np.sin, (0.0, 1.0), "legendre", 4), {}),
    "basis.measure": lambda: (("legt", np.linspace(-1, 2, 7), 1.5), {"theta": 1.0}),
    "basis.measure_basis": lambda: (("legs", 3, np.linspace(0, 2, 7), 2.0), {"theta": 1.0}),
    "diagrams.projection_pipeline": lambda: ((), {}),
    # --- chapter 8 examples (hankel, s4 additions, diagrams of chapter 8) ---
    "hankel.hankel_matrix": lambda: ((_r(7), 3), {}),
    "hankel.gramians": lambda: ((_dstable(3), _r(3, seed=1), _r(3, seed=2)), {}),
    "hankel.hankel_singular_values": lambda: ((_dstable(3), _r(3, seed=1), _r(3, seed=2)), {}),
    "hankel.balanced_truncation": lambda: ((_dstable(3), _r(3, seed=1), _r(3, seed=2), 2), {}),
    "hankel.hinf_norm": lambda: ((_dstable(3), _r(3, seed=1), _r(3, seed=2)),
                                 {"D": 0.5, "n_points": 64}),
    "hankel.epsilon_rank": lambda: ((np.array([3.0, 1.0, 0.01]), 0.1), {}),
    "hankel.hope_kernel": lambda: ((_r(3) + 1j * _r(3, seed=1), 0.5, 6), {}),
    "hankel.hope_system": lambda: ((_r(3) + 1j * _r(3, seed=1), 0.5), {}),
    "hankel.HOPELayer": lambda: ((3,), {"d_state": 4}),
    "hankel.HOPELayer.kernel": lambda: ((6,), {}),
    "hankel.HOPELayer.initial_state": lambda: ((2,), {}),
    "hankel.HOPELayer.ssm_step": lambda: ((_t(2, 3, dtype=torch.float32),
                                           _ch8("hankel.HOPELayer").initial_state(2)), {}),
    "hankel.HOPELayer.step": lambda: ((_t(2, 3, dtype=torch.float32),
                                       _ch8("hankel.HOPELayer").initial_state(2)), {}),
    "hankel.HOPELayer.forward": lambda: ((_t(2, 6, 3, dtype=torch.float32),), {}),
    "hankel.HOPELayer.ssm_forward": lambda: ((_t(2, 6, 3, dtype=torch.float32),), {}),
    "hankel.s4d_channel_system": lambda: ((_layer(s4.S4DLayer), 1), {}),
    "hankel.s4d_system": lambda: ((s4.s4d_lin_init(3), 0.1), {"C": np.ones(3) + 1j}),
    "hankel.reduced_kernels": lambda: ((_layer(s4.S4DLayer), 2, 6), {}),
    "s4.nyquist_margin": lambda: ((np.pi * np.arange(4.0), 0.1), {}),
    "s4.fit_kernel": lambda: ((s4.S4DLayer(1, d_state=4).double(),
                               torch.tensor(tasks.two_tone_kernel(8))), {"steps": 2, "lr": 1e-2}),
    "s4.steps_to_fit": lambda: (({"step": [1, 2], "error": [0.5, 0.01]}, 0.05), {}),
    "s4.sobolev_filter": lambda: ((np.array([1.0, 2j]), np.array([0.0, 3.0]), 0.5), {}),
    "tasks.noise_padded_patterns": lambda: ((4, 3), {"n_classes": 3, "pattern_length": 4,
                                                     "rng": 0}),
    # --- chapter 9 examples (ssd, h3, s5, mamba additions, diagrams of chapter 9) ---
    "ssd.semiseparable_mask": lambda: ((-np.abs(_r(5)),), {}),
    "ssd.ssd_scan": lambda: ((_r(1, 5, 2, 2), np.abs(_r(1, 5, 2)), -np.abs(_r(2)),
                              _r(1, 5, 1, 3), _r(1, 5, 1, 3)), {"backend": "numpy"}),
    "ssd.ssd_step": lambda: ((_r(1, 2, 2, 3), _r(1, 2, 2), np.abs(_r(1, 2)), -np.abs(_r(2)),
                              _r(1, 1, 3), _r(1, 1, 3)), {}),
    "ssd.linear_attention": lambda: ((_r(1, 4, 2), _r(1, 4, 2, seed=1), _r(1, 4, 3, seed=2)),
                                     {"decay": 0.1}),
    "ssd.Mamba2Block": lambda: ((4,), {"d_state": 4, "head_dim": 4, "chunk_size": 2}),
    "ssd.Mamba2Block.forward": lambda: ((_t(2, 5, 4, dtype=torch.float32),), {}),
    "ssd.Mamba2Block.initial_state": lambda: ((2,), {}),
    "ssd.Mamba2Block.step": lambda: ((_t(2, 4, dtype=torch.float32),
                                      _ch9("ssd.Mamba2Block").initial_state(2)), {}),
    "h3.H3Layer": lambda: ((4,), {"d_state": 4, "shift_size": 2}),
    "h3.H3Layer.forward": lambda: ((_t(2, 5, 4, dtype=torch.float32),), {}),
    "h3.H3Layer.initial_state": lambda: ((2,), {}),
    "h3.H3Layer.step": lambda: ((_t(2, 4, dtype=torch.float32),
                                 _ch9("h3.H3Layer").initial_state(2)), {}),
    "s5.S5Layer": lambda: ((4,), {"d_state": 3}),
    "s5.S5Layer.discrete": lambda: ((), {}),
    "s5.S5Layer.forward": lambda: ((_t(2, 5, 4, dtype=torch.float32),), {}),
    "s5.S5Layer.initial_state": lambda: ((2,), {}),
    "s5.S5Layer.step": lambda: ((_t(2, 4, dtype=torch.float32),
                                 _ch9("s5.S5Layer").initial_state(2)), {}),
    "tasks.mqar": lambda: ((3,), {"length": 12, "n_pairs": 2, "n_keys": 4, "n_values": 4}),
    "diagrams.semiseparable_blocks": lambda: ((), {"L": 8, "chunk": 3}),
    "tasks.listops": lambda: ((3,), {"length": 24, "max_depth": 3, "max_args": 3}),
    "tasks.listops_value": lambda: (("MED", [1, 2, 3, 4]), {}),
    "tasks.listops_text": lambda: ((np.array([0, 11, 2, 3, 15]),), {}),
    "tasks.listops_evaluate": lambda: ((np.array([0, 11, 2, 3, 15]),), {}),
    "tasks.digit_canvas": lambda: ((2,), {"size": 8, "scale": 1, "n_strokes": 1}),
    "tasks.pathfinder": lambda: ((2,), {"size": 8, "path_length": (3, 5)}),
    "experiment.peak_memory_mb": lambda: ((), {}),
    "attention.MultiHeadAttention": lambda: ((4,), {"n_heads": 2}),
    "attention.MultiHeadAttention.forward": lambda: (
        (_t(2, 3, 4, dtype=torch.float32),),
        {"memory": _t(2, 5, 4, seed=1, dtype=torch.float32),
         "mask": None}),   # the fuzzer cannot mutate bool tensors; masks: test_attention.py
    "attention.MultiHeadAttention.weights": lambda: (
        (_t(2, 3, 4, dtype=torch.float32),),
        {"memory": _t(2, 5, 4, seed=1, dtype=torch.float32), "mask": None}),
    "attention.EncoderDecoder": lambda: ((13, 8), {"n_heads": 2, "n_enc": 1, "n_dec": 1}),
    "attention.EncoderDecoder.forward": lambda: (
        (torch.tensor([[0, 3, 4], [5, 6, 7]]), torch.tensor([[1, 4, 3], [1, 7, 6]])), {}),
    "attention.EncoderDecoder.encode": lambda: ((torch.tensor([[0, 3, 4], [5, 6, 7]]),), {}),
    "attention.EncoderDecoder.cross_weights": lambda: (
        (torch.tensor([[0, 3, 4], [5, 6, 7]]), torch.tensor([[1, 4, 3], [1, 7, 6]])), {}),
    "attention.EncoderDecoder.greedy": lambda: (
        (torch.tensor([[0, 3, 4], [5, 6, 7]]), 3), {"bos": 1}),
    "tasks.digit_reversal": lambda: ((4,), {"lengths": (2, 4), "n_digits": 5}),
}

# Arguments whose every value of the right type is valid (a seed, free text, a label):
# only None, strings where numbers go and the like are judged for them.
FREE = {
    "rng", "generator", "text", "name", "desc", "prefix_ids",
}
# Pure arithmetic on sizes (nothing is allocated): a huge size is a valid question.
SIZE_FREE = {"attention.kv_cache_numbers"}
# Arguments for which 10**12 is a valid value (a seed; a token vocabulary of a data set).
HUGE_OK = {("cost.rnn_inputs", "seed"), ("cost.attention_inputs", "seed"),
           ("tasks.induction_heads", "vocab"), ("tasks.selective_copying", "vocab"),
           ("tasks.first_token_classification", "n_classes"),    # ids, nothing allocated
           ("tasks.first_token_classification", "n_noise"),
           ("train.token_accuracy", "ignore"),                  # the id of no answer
           ("mamba.selective_scan", "chunk_size")}              # one chunk longer than L
HUGE_OK |= {("attention.online_softmax_attention", "block_size"),  # chapter 2: one block
            ("attention.position_rotation", "k")}                   # any offset is valid
# None documented as a value ("h0 : None for zeros") where the signature cannot say so.
NONE_OK = {("rnn.rnn_forward", "h0"), ("rnn.gru_forward", "h0"), ("rnn.lstm_forward", "h0"),
           ("rnn.lstm_forward", "c0"), ("ssm.scan", "D"), ("ssm.step_response", "D"),
           ("ssm.transfer_function", "D"), ("ssm.discrete_transfer_function", "D"),
           ("ssm.frequency_response", "D")}
# Single mutations that are valid inputs, with the reason.
VALID = {
    ("charlm.random_windows", "ids", "id out of range"),  # no vocabulary: any id >= 0 encodes
    ("tasks.mackey_glass", "tau", "fractional 2.5"),      # a real delay, a multiple of h
    ("tasks.mackey_glass", "n", "fractional 2.5"),        # a real exponent
}
# Arguments passed on untouched to the caller's own function (cost.time_call's *args).
OPAQUE = {"args"}
# A file name: any string is one, and a mutated name would write a file where the tests run
# (experiment.compare, experiment.load; their refusals are tested in test_experiment.py).
OPAQUE |= {"path"}
# Targets whose results vary between calls (timings, memory): compared by structure only.
NONDETERMINISTIC = {"cost.time_call", "cost.peak_memory_bytes", "cost.cost_curve",
                    "cost.compare_costs", "charlm.CharRNN", "attention.CausalSelfAttention",
                    "mamba.MambaBlock", "models.MambaLM", "rnn.TorchRNN", "rnn.TorchLSTM",
                    "rnn.TorchGRU", "s4.S4DLayer", "s4.S4Layer", "models.SequenceClassifier",
                    "mamba.RMSNorm", "rnn.to_torch_nn", "charlm.sample"}
NONDETERMINISTIC |= {"attention.TransformerBlock", "models.TransformerLM"}  # chapter 2
NONDETERMINISTIC |= {"attention.feed_forward"}  # random init
NONDETERMINISTIC |= {"attention.MultiHeadAttention", "attention.EncoderDecoder"}  # random init
NONDETERMINISTIC |= {"s4.fit_kernel"}  # chapter 8: trains a layer drawn at random
NONDETERMINISTIC |= {"experiment.run_one", "experiment.compare", "experiment.build",
                     "experiment.versions"}  # timings, random init
NONDETERMINISTIC |= {"models.SequenceModel", "models.make_mixer", "rnn.RecurrentMixer",
                     "rnn.chrono_bias", "attention.CausalLinearAttention"}  # random init
VALID |= {("charlm.stream_windows", "ids", "id out of range")}  # chapter 1: any id >= 0
VALID |= {("charlm.tbptt_batches", "ids", "id out of range")}  # chapter 1: any id >= 0
# a NaN logit is scored as a wrong answer and flagged (diverged = True): documented
VALID |= {("experiment.score", "x", "NaN entry")}
NONE_OK |= {("models.match_width", "n_classes")}  # None: a language model
# --- chapter 8 sets (NONDETERMINISTIC, HUGE_OK, NONE_OK, VALID additions) ---
NONDETERMINISTIC |= {"hankel.HOPELayer"}  # chapter 8: random init (as s4.S4DLayer)
HUGE_OK |= {("tasks.noise_padded_patterns", "template_seed")}  # chapter 8: any seed >= 0
# --- chapter 9 sets (NONDETERMINISTIC, HUGE_OK, NONE_OK, VALID additions) ---
NONDETERMINISTIC |= {"ssd.Mamba2Block", "h3.H3Layer", "s5.S5Layer"}  # chapter 9: random init
HUGE_OK |= {("ssd.ssd_scan", "chunk_size"),          # one chunk longer than L
            ("tasks.mqar", "n_keys")}                # ids, nothing allocated beyond n_keys


def _dstable(n, seed=0):
    """A stable discrete (n, n) matrix: eigenvalues inside the unit circle (chapter 8)."""
    return 0.5 * np.eye(n) + 0.1 * _r(n, n, seed=seed)


def _ch8(name):
    """A small chapter-8 layer (seeded), for the examples of its methods."""
    module, cls = name.split(".")
    torch.manual_seed(0)
    return getattr(importlib.import_module(f"seqlearn.{module}"), cls)(3, d_state=4)


def _ch9(name):
    """A small chapter-9 layer (seeded), for the examples of its methods."""
    module, cls = name.split(".")
    torch.manual_seed(0)
    return getattr(importlib.import_module(f"seqlearn.{module}"), cls)(
        4, **{"ssd": dict(d_state=4, head_dim=4, chunk_size=2), "h3": dict(d_state=4,
              shift_size=2), "s5": dict(d_state=3)}[module])


# --------------------------------------------------------------------------- mutations
INVALID, EQUIVALENT, VARIANT, NONFINITE = "invalid", "equivalent", "variant", "nonfinite"


def _is_tensor(x):
    return isinstance(x, torch.Tensor)


def _with_entry(x, value):
    """x with its first entry set to ``value`` (a copy)."""
    if _is_tensor(x):
        y = x.detach().clone()
        if y.is_complex():
            value = complex(value, 0)
        y.view(-1)[0] = value
        return y
    y = np.array(x, dtype=np.result_type(np.asarray(x).dtype, np.float64), copy=True)
    y.flat[0] = value
    return y


def mutations(name, value):
    """(label, kind, mutated value) for one argument's example value."""
    out = []
    free = name in FREE
    if name in OPAQUE:
        return []
    if value is None:
        return [("string", INVALID, "abc")] if not free else []
    if isinstance(value, (bool, np.bool_)):
        return [("flag 'no'", INVALID, "no"), ("flag 1", INVALID, 1), ("flag None", INVALID, None),
                ("np.bool_", EQUIVALENT, np.bool_(value))]
    out.append(("None", INVALID, None))
    if isinstance(value, str):
        if free:
            return out
        out += [("unknown option", INVALID, "bogus"), ("list option", INVALID, [value])]
        if value.upper() != value:
            out.append(("upper-case option", INVALID, value.upper()))
        return out
    if isinstance(value, (int, np.integer)):
        kinds = VARIANT if free else INVALID
        out += [("np.int64", EQUIVALENT, np.int64(value)), ("int 0", VARIANT, 0),
                ("int -1", VARIANT, -1), ("fractional 2.5", kinds, 2.5), ("bool True", INVALID, True),
                ("string '3'", INVALID, "3")]
        if not free:
            out.append(("10**12", INVALID, 10**12))
        return out
    if isinstance(value, float):
        out += [("np.float64", EQUIVALENT, np.float64(value)), ("NaN", NONFINITE, float("nan")),
                ("inf", NONFINITE, float("inf")), ("negative", VARIANT, -abs(value) - 1.0),
                ("zero", VARIANT, 0.0), ("bool True", INVALID, True), ("string", INVALID, "0.1"),
                ("float32 scalar", VARIANT, np.float32(value))]
        return out
    if callable(value) and not isinstance(value, (np.ndarray, torch.Tensor, torch.nn.Module)):
        return out + [("not callable", INVALID, 42)]
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        out += [("string", INVALID, "abc"), ("list", EQUIVALENT, value.tolist()),
                ("tensor", EQUIVALENT, torch.from_numpy(value.copy())),
                ("NaN entry", NONFINITE, _with_entry(value, np.nan)),
                ("inf entry", NONFINITE, _with_entry(value, np.inf)),
                ("float32", VARIANT, value.astype(np.float32 if value.dtype.kind == "f"
                                                  else np.complex64)),
                ("tensor requiring grad", VARIANT,
                 torch.from_numpy(value.copy()).requires_grad_(value.dtype.kind == "f"))]
        readonly = value.copy()
        readonly.setflags(write=False)
        out += [("read-only", EQUIVALENT, readonly),
                ("float16", VARIANT, value.real.astype(np.float16))]
        if value.ndim >= 2:
            out.append(("non-contiguous", EQUIVALENT, np.asfortranarray(value)))
        if value.ndim >= 1:
            out += [("empty", VARIANT, value[..., :0]), ("one axis fewer", VARIANT, value[0]),
                    ("ragged list", INVALID, [[1.0, 2.0], [3.0]])]
        out.append(("one axis more", VARIANT, value[None]))
        if value.dtype.kind == "f":
            out.append(("complex", VARIANT, value + 1j))
        return out
    if _is_tensor(value):
        other = torch.float32 if value.dtype == torch.float64 else torch.float64
        out += [("string", INVALID, "abc"), ("numpy", VARIANT, value.detach().numpy().copy())]
        if value.is_floating_point() or value.is_complex():
            out += [("NaN entry", NONFINITE, _with_entry(value, float("nan"))),
                    ("inf entry", NONFINITE, _with_entry(value, float("inf")))]
        if value.is_floating_point():
            out += [("other float dtype", VARIANT, value.to(other)),
                    ("int dtype", VARIANT, value.round().to(torch.int64))]
        elif value.is_complex():
            other = torch.complex64 if value.dtype == torch.complex128 else torch.complex128
            out.append(("other complex dtype", VARIANT, value.to(other)))
        else:
            out += [("float dtype", VARIANT, value.to(torch.float32)),
                    ("id out of range", INVALID, value + 1000), ("negative id", INVALID, value - 1000)]
        if value.ndim >= 2:
            out.append(("non-contiguous", EQUIVALENT, value.transpose(-1, -2).contiguous()
                        .transpose(-1, -2)))
        if value.is_floating_point():
            out += [("requiring grad", EQUIVALENT, value.detach().clone().requires_grad_()),
                    ("float16", VARIANT, value.to(torch.float16))]
        if value.ndim >= 1:
            out += [("empty", VARIANT, value[..., :0]), ("one axis fewer", VARIANT, value[0])]
        out.append(("one axis more", VARIANT, value[None]))
        return out
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        out += [("empty sequence", VARIANT, type(value)()), ("strings", INVALID, ["a"] * len(value)),
                ("array", EQUIVALENT, np.asarray(value)), ("NaN entry", NONFINITE,
                                                           [float("nan")] + list(value[1:]))]
        return out
    return out


# --------------------------------------------------------------------------- outcomes
class _Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _finite(x, seen=None):
    """True when every number in ``x`` (arrays, tensors, nested containers) is finite."""
    if _is_tensor(x):
        return bool(torch.isfinite(x.detach()).all()) if x.is_floating_point() or x.is_complex() \
            else True
    if isinstance(x, np.ndarray):
        return bool(np.isfinite(x).all()) if x.dtype.kind in "fc" else True
    if isinstance(x, (float, complex, np.floating, np.complexfloating)):
        return bool(np.isfinite(x))
    if isinstance(x, (list, tuple)):
        return all(_finite(v) for v in x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    return True


def _same(a, b):
    """a and b hold the same numbers in the same structure: to 1e-12 relative, or 1e-5 when
    either is float32 (another memory layout may take another BLAS path, another rounding)."""
    if _is_tensor(a) or _is_tensor(b) or isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a = a.detach().numpy() if _is_tensor(a) else np.asarray(a)
        b = b.detach().numpy() if _is_tensor(b) else np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind not in "fciub" or b.dtype.kind not in "fciub":
            return bool(np.array_equal(a, b))
        # an equivalent input changes at most the layout, so the BLAS kernel or a sum's order:
        # the examples' sums of <~ 100 O(1) terms then differ by <~ 100 eps |terms| = 2e-14 in
        # float64 (1e-12 is 50x), <~ 40 eps32 = 5e-6 in float32 sums of <~ 40 terms (1e-5 is
        # 2x). Not a bound per target: measured <= 3e-4 (float64) and 1.3% (float32) of these
        tol = 1e-5 if np.float32 in (a.dtype, b.dtype) or np.complex64 in (a.dtype, b.dtype) \
            else 1e-12
        return bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (int, float, complex, np.number)) and isinstance(b, (int, float, complex,
                                                                           np.number)):
        # a scalar result of float64 arithmetic: as for float64 arrays above (<~ 2e-14; 50x)
        return bool(np.isclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True))
    return type(a) is type(b)


def _structure(x):
    if _is_tensor(x) or isinstance(x, np.ndarray):
        return ("array", tuple(x.shape))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(_structure(v) for v in x))
    if isinstance(x, dict):
        return ("dict", tuple(sorted((k, _structure(v)) for k, v in x.items())))
    if isinstance(x, torch.nn.Module):
        return ("module", tuple((k, tuple(v.shape)) for k, v in x.state_dict().items()))
    return (type(x).__name__,)


def _documents_nan(fn, owner):
    """The callable's docstring, its class's or its module's says what NaN does."""
    module = sys.modules[(owner or fn).__module__]
    return any("NaN" in (inspect.getdoc(x) or "") for x in (fn, owner, module) if x is not None)


def _argument_names(fn, owner, target_name=None):
    """The names a clear message may start with: the parameters, and where the function
    forwards **kwargs, the keyword arguments of its example (they are its arguments too)."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return set()
    names = {p for p in params if p != "self"}
    if any(p.kind == p.VAR_KEYWORD for p in params.values()) and EXAMPLES.get(target_name):
        names |= set(_example(target_name)[1])
    return names


_NAMED = re.compile(r"^([A-Za-z_]\w*)(?:\[[^\]]*\]|\.\w+)*\s*:")


def outcome(target, fn, owner, call, kind, canonical, label=""):
    """(verdict, detail) of one mutated call; verdicts in GOOD are the contract kept."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except _Hang:
        return "hang", f"no answer after {TIME_LIMIT_S} s"
    except (ValueError, TypeError) as exc:
        message = str(exc)
        match = _NAMED.match(message)
        if match and match.group(1) in _argument_names(fn, owner, target):
            return "clear", message
        return "unnamed error", f"{type(exc).__name__}: {message[:200]}"
    except Exception as exc:  # noqa: BLE001 - classifying every exception is the point
        return "obscure", f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if kind == INVALID:
        return "silent", "accepted an invalid input"
    if kind == NONFINITE:
        if result is None or (_finite(result) and label != "NaN"):
            return "variant", ""       # a procedure, or an inf that the formula absorbs
        if _finite(result):
            return "silent", "NaN in, a finite result out"
        if not _documents_nan(fn, owner):
            return "undocumented passthrough", "NaN/inf out, the docstring says nothing of NaN"
        return "passthrough", ""
    if not _finite(result) and _finite(canonical):
        return "silent", "a NaN/inf result from finite input"
    if kind == EQUIVALENT:
        same = (_structure(result) == _structure(canonical) if target in NONDETERMINISTIC
                else _same(result, canonical))
        return ("correct", "") if same else ("wrong", "an equivalent input gave another result")
    return "variant", ""


GOOD = {"clear", "correct", "variant", "passthrough"}


def _example(name):
    """The example call of ``name``, drawn under one torch seed (the same every time)."""
    torch.manual_seed(0)
    return EXAMPLES[name]()


def _resolve(target):
    """(callable to run with (args, kwargs), fn, owner) for a target name."""
    fn, owner = TARGETS[target]
    if owner is None:
        return (lambda args, kwargs: fn(*args, **kwargs)), fn, None
    cls_name = target.rsplit(".", 1)[0]

    def run(args, kwargs):
        cargs, ckwargs = _example(cls_name)
        torch.manual_seed(0)
        instance = owner(*cargs, **ckwargs)
        if target == "attention.KVCache.attend":
            instance.append(_r(4), _r(3, seed=1))
        return fn(instance, *args, **kwargs)
    return run, fn, owner


def _param_names(fn, owner, n_args):
    """The names of the first ``n_args`` positional parameters (a *args one repeats)."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    names = []
    for p in inspect.signature(target).parameters.values():
        if p.name == "self" or p.kind == p.KEYWORD_ONLY:
            continue
        if p.kind == p.VAR_POSITIONAL:
            return (names + [p.name] * n_args)[:n_args]
        names.append(p.name)
    return names[:n_args]


def single_mutations(target):
    """Every (argument, label, kind, args, kwargs) of one-argument mutations of ``target``."""
    run, fn, owner = _resolve(target)
    args, kwargs = _example(target)
    names = _param_names(fn, owner, len(args))
    target_fn = fn.__init__ if inspect.isclass(fn) else fn
    params = inspect.signature(target_fn).parameters
    none_ok = {p for p, v in params.items() if v.default is None}   # None is the default
    calls = []
    given = [(i, n, v) for i, (n, v) in enumerate(zip(names, args))] + \
        [(n, n, v) for n, v in kwargs.items()]
    # the parameters the example leaves at their defaults are mutated from the default
    defaults = [(n, n, p.default) for n, p in params.items()
                if n not in names and n not in kwargs and n != "self"
                and p.default is not inspect.Parameter.empty]
    for where, name, value in given + defaults:
        for label, kind, mutated in mutations(name, value):
            if label == "None" and (name in none_ok or (target, name) in NONE_OK):
                continue
            if (target, name, label) in VALID:
                kind = VARIANT
            if label == "10**12" and (target in SIZE_FREE or (target, name) in HUGE_OK):
                kind = VARIANT
            calls.append((name, label, kind, where, mutated))
    return calls


def fuzz(target):
    """(name, label, verdict, detail) for every single mutation of ``target``."""
    run, fn, owner = _resolve(target)
    torch.manual_seed(0)
    canonical = run(*_example(target))
    rows = []
    for name, label, kind, where, mutated in single_mutations(target):
        args, kwargs = _example(target)
        args = list(args)
        if isinstance(where, int):
            args[where] = mutated
        else:
            kwargs[where] = mutated
        torch.manual_seed(0)
        verdict, detail = outcome(target, fn, owner, lambda: run(args, kwargs), kind, canonical,
                                  "NaN" if label.startswith("NaN") else label)
        rows.append((name, label, verdict, detail))
    return rows


TARGETS = public_targets()
FUZZED = sorted(t for t, (fn, _) in TARGETS.items()
                if EXAMPLES.get(t) is not None and not _unchecked(fn))


# --------------------------------------------------------------------------- the tests
def test_every_target_has_an_example():
    missing = sorted(t for t, (fn, _) in TARGETS.items()
                     if t not in EXAMPLES and not _unchecked(fn))
    stale = sorted(set(EXAMPLES) - set(TARGETS))
    assert not missing, f"public callables without an example call in EXAMPLES: {missing}"
    assert not stale, f"EXAMPLES for names that are no longer public: {stale}"


def test_unchecked_kernels_are_few_and_said_so():
    """Contract item 7: only low-level kernels skip the checks, and their docstring says so."""
    unchecked = sorted(t for t, (fn, _) in TARGETS.items() if _unchecked(fn))
    for t in unchecked:
        obj = TARGETS[t][0]
        doc = inspect.getdoc(obj.fn if _is_triton_kernel(obj) else obj) or ""
        assert _is_triton_kernel(obj) or "kernel" in doc.lower(), t
    assert len(unchecked) <= 12, unchecked


@pytest.mark.parametrize("target", FUZZED)
def test_example_is_valid(target):
    run, _, _ = _resolve(target)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run(*_example(target))
    assert _finite(result)


@pytest.mark.parametrize("target", FUZZED)
def test_contract(target):
    bad = [f"{name} <- {label}: {verdict}: {detail}"
           for name, label, verdict, detail in fuzz(target) if verdict not in GOOD]
    assert not bad, f"{target}:\n  " + "\n  ".join(bad)


def _unguarded(x, causal=False):
    """A function as the review found many: no checks at all."""
    if causal:
        x = np.tril(x)
    return np.asarray(x).sum(axis=1)


def _guarded(x, causal=False):
    """Checked. NaN in x propagates."""
    from seqlearn._checks import flag, numeric_array
    x = numeric_array("x", x, 2, "shape (L, d)")
    return np.tril(x).sum(axis=1) if flag("causal", causal) else x.sum(axis=1)


def _sleeper(n):
    import time
    while True:
        time.sleep(0.05)


@pytest.mark.parametrize("value, kind", [
    (None, INVALID),            # numpy: 'axis 1 is out of bounds'
    ("abc", INVALID),
    (np.ones(3), VARIANT),      # one axis fewer
])
def test_the_fuzzer_catches_an_unguarded_function(value, kind):
    """The verdicts can fail: an unchecked function breaks the contract in the ways the
    review counted, and a checked one keeps it."""
    got, _ = outcome("demo", _unguarded, None, lambda: _unguarded(value), kind, None)
    assert got in {"obscure", "unnamed error"}
    assert outcome("demo", _guarded, None, lambda: _guarded(value), kind, None)[0] == "clear"


def test_the_fuzzer_catches_flags_nan_and_hangs(monkeypatch):
    x = np.ones((3, 2))
    assert outcome("demo", _unguarded, None, lambda: _unguarded(x, causal="no"), INVALID,
                   None)[0] == "silent"
    assert outcome("demo", _guarded, None, lambda: _guarded(x, causal="no"), INVALID,
                   None)[0] == "clear"
    nan = _with_entry(x, np.nan)
    monkeypatch.setattr(_unguarded, "__module__", "math")   # a module that says nothing of NaN
    assert outcome("demo", _unguarded, None, lambda: _unguarded(nan), NONFINITE, None,
                   "NaN")[0] == "undocumented passthrough"
    assert outcome("demo", _guarded, None, lambda: _guarded(nan), NONFINITE, None,
                   "NaN")[0] == "passthrough"
    assert outcome("demo", _guarded, None, lambda: 1.0, NONFINITE, None, "NaN")[0] == "silent"
    assert outcome("demo", _guarded, None, lambda: _guarded(x), EQUIVALENT,
                   _guarded(x) + 1)[0] == "wrong"
    monkeypatch.setattr(sys.modules[__name__], "TIME_LIMIT_S", 1)
    assert outcome("demo", _sleeper, None, lambda: _sleeper(1), VARIANT, None)[0] == "hang"
    unnamed = lambda: (_ for _ in ()).throw(ValueError("expected an array"))  # noqa: E731
    assert outcome("demo", _guarded, None, unnamed, INVALID, None)[0] == "unnamed error"


def _combined(data):
    target = data.draw(st.sampled_from(FUZZED), label="target")
    calls = single_mutations(target)
    if len({c[3] for c in calls}) < 2:
        return target, []
    picks = data.draw(st.lists(st.sampled_from(range(len(calls))), min_size=2, max_size=2,
                               unique_by=lambda i: calls[i][3]), label="mutations")
    return target, [calls[i] for i in picks]


@settings(max_examples=3000, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_two_mutations_at_once(data):
    target, picked = _combined(data)
    if len(picked) < 2:
        return
    run, fn, owner = _resolve(target)
    args, kwargs = _example(target)
    args = list(args)
    for _, _, _, where, mutated in picked:
        if isinstance(where, int):
            args[where] = mutated
        else:
            kwargs[where] = mutated
    kinds = {k for _, _, k, _, _ in picked}
    kind = INVALID if INVALID in kinds else NONFINITE if NONFINITE in kinds else VARIANT
    torch.manual_seed(0)
    verdict, detail = outcome(target, fn, owner, lambda: run(args, kwargs), kind, None)
    labels = ", ".join(f"{n} <- {lab}" for n, lab, _, _, _ in picked)
    assert verdict in GOOD | {"wrong"}, f"{target} ({labels}): {verdict}: {detail}"


def main():
    counts = collections.Counter()
    bad = []
    import time
    only = sys.argv[1:]
    for target in FUZZED:
        if only and not any(target.startswith(o) for o in only):
            continue
        start = time.perf_counter()
        rows = fuzz(target)
        print(f"{time.perf_counter() - start:7.1f} s  {target}", file=sys.stderr, flush=True)
        for name, label, verdict, detail in rows:
            counts[verdict] += 1
            if verdict not in GOOD:
                bad.append(f"{target}: {name} <- {label}: {verdict}: {detail}")
    total = sum(counts.values())
    print(f"{len(TARGETS)} public callables discovered, {len(FUZZED)} fuzzed, "
          f"{sum(_unchecked(fn) for fn, _ in TARGETS.values())} documented unchecked")
    print(f"{total} mutated calls:")
    for verdict, n in counts.most_common():
        print(f"  {verdict:26s} {n}")
    print("\n".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
