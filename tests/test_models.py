"""seqlearn.models: one backbone for every mixer, each with its field's initialisation.

Each initialisation is checked against its definition (the paper's formula), the
backbone against the equations of its docstring written out by hand, causality of every
mixer by perturbing the future, and the package against import circles.
"""

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlearn import attention, models, rnn
from seqlearn.models import (ABLATIONS, MIXERS, SequenceClassifier, SequenceModel,
                             count_parameters, match_width)

SRC = Path(models.__file__).parent


def _model(mixer, **kwargs):
    torch.manual_seed(0)
    kw = dict(vocab_size=7, n_classes=3, max_len=16, d_state=4)
    if mixer in ("rnn", "lstm", "gru", "transformer", "linear_attention", "attention"):
        kw.pop("d_state")
    kw.update(kwargs)
    return SequenceModel(mixer, 16, 2, **kw)


@pytest.mark.parametrize("mixer", MIXERS + ABLATIONS)
def test_every_mixer_builds_and_runs(mixer):
    model = _model(mixer)
    x = torch.randint(0, 7, (2, 9))
    assert model(x).shape == (2, 3)
    assert count_parameters(model) > 16 * 7      # more than the embedding
    lm = _model(mixer, n_classes=None)
    assert lm(x).shape == (2, 9, 7)
    assert torch.isfinite(lm(x)).all()


def test_parameter_counts_are_printed_and_the_list_is_complete(capsys):
    assert set(MIXERS) == {"rnn", "lstm", "gru", "transformer", "linear_attention", "s4",
                           "s4d", "hope", "mamba", "mamba2", "h3", "s5"}
    for mixer in MIXERS:
        print(f"{mixer:18s}{count_parameters(_model(mixer)):8,d}")
    assert len(capsys.readouterr().out.splitlines()) == len(MIXERS)


@pytest.mark.parametrize("mixer", MIXERS + ABLATIONS)
def test_every_mixer_is_causal(mixer):
    """Changing the input at position t leaves every output before t unchanged (float64:
    the FFT convolutions' rounding leaks ~1e-16 relative into the past, far below 1e-12)."""
    model = _model(mixer, n_classes=None).double()
    torch.manual_seed(1)
    x = torch.randint(0, 7, (1, 12))
    y = x.clone()
    y[0, 8:] = (x[0, 8:] + 1) % 7
    a, b = model(x), model(y)
    scale = a.abs().max()
    # Only the FFT convolutions (s4, s4d, hope, h3; n = 32) mix the future into the past, by
    # rounding: <~ log2(32) u * (kernel and layer gains ~10) ~ 5e-15 relative; the other mixers
    # are exactly causal (measured: 0, and <= 3.6e-16 for the FFT ones). 1e-9 was 2e5x that
    # bound; 1e-12 leaves 200x
    assert (a[0, :8] - b[0, :8]).abs().max() <= 1e-12 * scale
    assert (a[0, 8:] - b[0, 8:]).abs().max() > 1e-6 * scale     # the change is seen: >= 0.38


def _ks_uniform_bound(n, alpha=1e-6):  # statistical: alpha, the chance a correct init fails
    """Dvoretzky-Kiefer-Wolfowitz: P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2) = alpha."""
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def test_chrono_bias_is_log_uniform_on_1_to_t_max_minus_1():
    """Tallec & Ollivier (2018): b_f = log U(1, T - 1), so exp(b_f) is U(1, T - 1); the
    empirical CDF of 4,000 draws is within the DKW bound of the uniform one."""
    T, n = 50, 4000
    b = rnn.chrono_bias(n, T, torch.Generator().manual_seed(0)).double().numpy()
    assert b.min() >= 0 and b.max() <= math.log(T - 1)
    u = np.sort((np.exp(b) - 1) / (T - 2))
    ecdf_gap = np.max(np.abs(np.arange(1, n + 1) / n - u))
    assert ecdf_gap <= _ks_uniform_bound(n)


def test_lstm_chrono_init_sets_forget_and_input_biases():
    torch.manual_seed(0)
    d, T = 8, 100
    m = rnn.RecurrentMixer("lstm", d, max_len=T)
    assert m.init == "chrono"
    b_ih, b_hh = m.cell.bias_ih_l0.detach(), m.cell.bias_hh_l0.detach()
    b_f, b_i = b_ih[d:2 * d], b_ih[:d]                       # PyTorch's gate order i, f, g, o
    assert torch.all(b_hh[:2 * d] == 0)
    assert torch.all((b_f >= 0) & (b_f <= math.log(T - 1)))
    assert torch.equal(b_i, -b_f)
    # without a length the LSTM takes a forget bias of 1 (Jozefowicz et al. 2015)
    m1 = rnn.RecurrentMixer("lstm", d)
    assert m1.init == "forget_bias_1"
    assert torch.all(m1.cell.bias_ih_l0[d:2 * d] == 1) and torch.all(m1.cell.bias_hh_l0[d:2 * d] == 0)


def test_gru_chrono_init_is_on_the_update_gate():
    torch.manual_seed(0)
    d, T = 8, 100
    m = rnn.RecurrentMixer("gru", d, max_len=T)
    b_z = m.cell.bias_ih_l0.detach()[d:2 * d]                # gate order r, z, n
    assert torch.all((b_z >= 0) & (b_z <= math.log(T - 1))) and b_z.std() > 0
    assert torch.all(m.cell.bias_hh_l0.detach()[d:2 * d] == 0)


def test_identity_and_orthogonal_rnn_inits():
    torch.manual_seed(0)
    m = rnn.RecurrentMixer("rnn", 6)
    assert m.init == "identity" and m.cell.nonlinearity == "relu"
    assert torch.equal(m.cell.weight_hh_l0.detach(), torch.eye(6))
    assert torch.all(m.cell.bias_ih_l0 == 0) and torch.all(m.cell.bias_hh_l0 == 0)
    # IRNN: with zero input, h stays where it is (W = I, ReLU of a nonnegative h)
    o = rnn.RecurrentMixer("rnn", 6, init="orthogonal")
    W = o.cell.weight_hh_l0.detach().double()
    assert o.cell.nonlinearity == "tanh"
    # W is float32 Householder QR's Q (6 x 6): |W W^T - I| <= 2 gamma_36 (u32) ~ 4.3e-6 (Higham
    # Thm 19.4); the old atol 1e-6 was below that bound (measured 3.4e-7); 5e-5 leaves 12x
    assert torch.allclose(W @ W.T, torch.eye(6, dtype=torch.float64), atol=5e-5)


def test_chrono_needs_a_length_and_bad_inits_are_named():
    with pytest.raises(ValueError, match="^max_len:"):
        rnn.RecurrentMixer("lstm", 4, init="chrono")
    with pytest.raises(ValueError, match="^init:"):
        rnn.RecurrentMixer("rnn", 4, init="chrono")


def test_gpt2_init_has_the_papers_standard_deviations():
    """Radford et al. (2019): weights N(0, 0.02^2), the residual projections N(0, (0.02 /
    sqrt(2 n_layers))^2). The sample std of n draws is within 6 sigma (sigma ~ std / sqrt(2n))."""
    torch.manual_seed(0)
    n_layers = 4
    model = SequenceModel("transformer", 64, n_layers, vocab_size=5, n_classes=2)
    for i in range(n_layers):
        for weight, std in ((model.layers[i].W_qkv.weight, 0.02),
                            (model.mlps[i][0].weight, 0.02),
                            (model.layers[i].W_o.weight, 0.02 / math.sqrt(2 * n_layers)),
                            (model.mlps[i][2].weight, 0.02 / math.sqrt(2 * n_layers))):
            n = weight.numel()
            assert abs(float(weight.detach().std()) - std) <= 6 * std / math.sqrt(2 * n)
        assert torch.all(model.mlps[i][0].bias == 0)


def test_prenorm_backbone_is_its_equations():
    """h = E[x] + P; h = h + mixer(norm(h)); h = h + MLP(norm'(h)); logits = head(norm_f(h)[:, -1])."""
    model = _model("transformer").double()
    x = torch.randint(0, 7, (2, 5))
    h = model.embed(x) + torch.as_tensor(attention.sinusoidal_positions(5, 16))
    for i in range(2):
        h = h + model.layers[i](model.norms[i](h))
        h = h + model.mlps[i](model.mlp_norms[i](h))
    expected = model.head(model.norm_f(h)[:, -1])
    # float64, the same modules on the same tensors in the same order: identical (measured 0);
    # a kernel summing in another order would differ by ~2 layers * 16-term dots ~ 1e-14
    assert torch.allclose(model(x), expected, rtol=0, atol=1e-12)


def test_postnorm_classifier_is_its_equations():
    """SequenceClassifier: h = LayerNorm(h + layer(h)) per layer, no final norm, the readout."""
    torch.manual_seed(0)
    model = SequenceClassifier(7, 8, 2, 3, d_state=4, readout="mean").double()
    x = torch.randint(0, 7, (2, 5))
    h = model.embed(x)
    for layer, norm in zip(model.layers, model.norms):
        h = norm(h + layer(h))
    assert isinstance(model.norms[0], torch.nn.LayerNorm) and model.norm_f is None
    # as above: the same ops (measured 0); another summation order would be ~1e-14
    assert torch.allclose(model(x), model.head(h.mean(1)), rtol=0, atol=1e-12)


def test_memory_free_baseline_ignores_order():
    """n_layers = 0 and readout "mean": a bag of tokens, the same for any permutation."""
    torch.manual_seed(0)
    model = SequenceModel("s4d", 8, 0, vocab_size=7, n_classes=3, readout="mean").double()
    x = torch.randint(0, 7, (3, 10))
    # a mean of 10 embeddings in another order, then an 8-term head: <= (10 + 8) u * 3 ~ 6e-15;
    # atol 1e-12 leaves 150x. rtol=0: torch.allclose's default 1e-5 was 1e9x that bound
    assert torch.allclose(model(x), model(x[:, torch.randperm(10)]), rtol=0, atol=1e-12)


def test_causal_linear_attention_is_chapter_2s_linear_attention():
    """The chunked torch layer equals ``attention.linear_attention_parallel`` per head
    (float64: both sum the same terms in another order, so ~1e-15 relative)."""
    torch.manual_seed(0)
    layer = attention.CausalLinearAttention(8, n_heads=2, chunk=3).double()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    q, k, v = (t.reshape(2, 7, 2, 4).transpose(1, 2).detach().numpy()
               for t in layer.W_qkv(x).chunk(3, dim=-1))
    y = attention.linear_attention_parallel(q, k, v, causal=True)          # (2, 2, 7, 4)
    expected = layer.W_o(torch.from_numpy(y).transpose(1, 2).reshape(2, 7, 8))
    # positive weights phi(q).phi(k) over <= 7 positions x 4 features, in two orders: the
    # normalised sums err by <= 2 gamma_28 ~ 6e-15 relative (|v| <~ 2), W_o adds 8 terms; 1e-12
    # leaves ~100x
    assert torch.allclose(layer(x), expected, rtol=1e-12, atol=1e-12)


def test_mamba_lti_block_does_not_select():
    """MambaBlock(selective=False): Delta, B and C are the same at every position and for
    every input; the selective block's are not."""
    torch.manual_seed(0)
    from seqlearn.mamba import MambaBlock
    lti, sel = MambaBlock(8, d_state=4, selective=False), MambaBlock(8, d_state=4)
    u = torch.randn(2, 6, 16)
    for block, constant in ((lti, True), (sel, False)):
        delta, B, C = block.ssm_inputs(u)
        # default rtol 1e-5, atol 1e-8 (float32): the LTI block broadcasts one value (difference
        # 0), the selective one's differ by O(1) (up to 1.8): either way far from the threshold
        same = all(torch.allclose(t, t[:1, :1].expand_as(t)) for t in (delta, B, C))
        assert same == constant


def test_match_width_matches_within_ten_percent_and_keeps_the_rng():
    kwargs = dict(n_layers=2, vocab_size=10, n_classes=4, max_len=64)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for mixer in ("lstm", "s4d", "mamba", "transformer"):
        d, n = match_width(mixer, 20_000, multiple=2, **kwargs)
        assert abs(n - 20_000) <= 0.1 * 20_000, (mixer, d, n)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------ import circles
def _module_names():
    """'seqlearn.x' -> its file, for every module and package of the package."""
    names = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports(path, modules):
    """The seqlearn modules a file imports, at the top or inside functions alike
    ("from p import m" imports the module p.m where there is one, else p)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("seqlearn")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "seqlearn":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else node.module)
    return found


def _graph():
    modules = _module_names()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycle(graph):
    """One import circle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_circle():
    graph = _graph()
    assert "seqlearn.models" in graph and "seqlearn.mamba" in graph["seqlearn.models"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_circle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("positions", [True, False])
def test_transformer_lm_is_causal_and_positions_break_the_symmetry(positions):
    torch.manual_seed(4)
    model = models.TransformerLM(7, 8, n_layers=2, n_heads=2, positions=positions).double()
    ids = torch.randint(0, 7, (2, 9))
    logits = model(ids)
    assert logits.shape == (2, 9, 7)
    ids2 = ids.clone()
    ids2[:, 6:] = (ids2[:, 6:] + 1) % 7
    # no look-ahead: the masked weights are exactly 0, so the past is computed by the same
    # ops (measured 0); 1e-12 would cover another summation order (~1e-14). rtol=0: the
    # float64 default 1e-7 was 1e7x that
    torch.testing.assert_close(model(ids2)[:, :6], logits[:, :6], rtol=0, atol=1e-12)
    A = model.attention_weights(ids)
    assert len(A) == 2 and A[0].shape == (2, 2, 9, 9)
    # softmax rows sum to 1 within <= (9 + 4) u ~ 1.4e-15; 1e-12 leaves 700x (was default 1e-7)
    torch.testing.assert_close(A[0].sum(-1), torch.ones(2, 2, 9, dtype=torch.float64), rtol=0,
                               atol=1e-12)
    assert float(A[1].detach().triu(1).abs().max()) == 0
    # one layer: the last query sees the set of earlier tokens, so swapping two of them
    # leaves its output unchanged, unless positions are added
    one = models.TransformerLM(7, 8, n_layers=1, positions=positions).double()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    swapped = torch.tensor([[1, 4, 3, 2, 5, 6]])
    # without positions the last query sums the same 6 terms in another order: <= gamma_6 |v|
    # then W_o and the MLP (8-term dots): <~ 1e-14, 100x below 1e-12; with positions the outputs
    # differ by 1e-4, 1e8x above it
    same = torch.allclose(one(swapped)[:, -1], one(ids)[:, -1], rtol=1e-12, atol=1e-12)
    assert same == (not positions)


def test_transformer_block_is_one_layer_of_the_backbone():
    """attention.TransformerBlock, the block chapter 2 draws, is what SequenceModel runs."""
    torch.manual_seed(5)
    model = models.TransformerLM(7, 8, n_layers=1, n_heads=2).double()
    block = attention.TransformerBlock(8, n_heads=2).double()
    with torch.no_grad():
        for mine, theirs in ((block.norm1, model.norms[0]), (block.attn, model.layers[0]),
                             (block.norm2, model.mlp_norms[0]), (block.mlp, model.mlps[0])):
            for p, q in zip(mine.parameters(), theirs.parameters(), strict=True):
                p.copy_(q)
    ids = torch.randint(0, 7, (2, 9))
    h = model.embed_input(ids)
    expected = model.head(model.norm_f(block(h)))
    # the same modules and weights, the same ops: identical (measured 0); another summation
    # order would be ~L d u ~ 1e-14
    torch.testing.assert_close(model(ids), expected, rtol=1e-12, atol=1e-12)


def test_positions_default_to_the_order_blind_mixers_and_can_be_set():
    assert models.SequenceModel("transformer", 8, 1, vocab_size=5).positions
    assert not models.SequenceModel("transformer", 8, 1, vocab_size=5, positions=False).positions
    assert not models.SequenceModel("lstm", 8, 1, vocab_size=5).positions
    with pytest.raises(ValueError, match="positions"):
        models.SequenceModel("transformer", 8, 1, vocab_size=5, positions="yes")
    with pytest.raises(ValueError, match="mixer"):
        models.SequenceModel("lstm", 8, 1, vocab_size=5).attention_weights(
            torch.tensor([[1, 2]]))
