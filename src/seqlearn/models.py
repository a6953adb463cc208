"""One backbone for every model of the book, so that a comparison changes only the mixer.

    h = embed(x) (+ P)                 tokens: nn.Embedding; features: nn.Linear;
                                       P = ``sinusoidal_positions`` for the order-blind mixers
    prenorm (default), n_layers x      h = h + mixer(norm(h));   [h = h + MLP(norm'(h))]
                       then            h = norm_f(h)
    postnorm (S4's classifier)         h = norm(h + mixer(h));   [h = norm'(h + MLP(h))]
    readout                            "last": h[:, -1]  "mean": h.mean(1)  "all": h (batch, L, d)
    head                               Linear(d_model, n_classes), or tied to the embedding
                                       (a language model: n_classes=None, logits h E^T)

The mixer is any token mixer of the book (``MIXERS``), each built with its own field's
standard initialisation, cited where it is made:

    mixer              chapter  layer                          initialisation
    "rnn"              1        ``rnn.RecurrentMixer``          identity W_hh, ReLU (IRNN)
    "lstm"             1        ``rnn.RecurrentMixer``          chrono (max_len given), else b_f = 1
    "gru"              1        ``rnn.RecurrentMixer``          chrono on z (max_len given)
    "transformer"      2        ``attention.CausalSelfAttention``  GPT-2: N(0, 0.02), residual
                                + MLP (4 d_model)               outputs N(0, 0.02 / sqrt(2 n_layers))
    "linear_attention" 2        ``attention.CausalLinearAttention`` + MLP, as "transformer"
    "s4"               6        ``s4.S4Layer``                  HiPPO-LegS DPLR, dt in [1e-3, 1e-1]
    "s4d"              6        ``s4.S4DLayer``                 S4D-Lin, dt in [1e-3, 1e-1]
    "hope"             8        ``hankel.HOPELayer``            h ~ N(0, 1/n), dt in [1e-3, 1e-1]
    "mamba"            7        ``mamba.MambaBlock``            S4D-Real A, dt in [1e-3, 1e-1]
    "mamba2"           9        ``ssd.Mamba2Block``             A ~ U(1, 16), dt in [1e-3, 1e-1]
    "h3"               9        ``h3.H3Layer``                  S4D inside, dt in [1e-3, 1e-1]
    "s5"               9        ``s5.S5Layer``                  S4D-Lin modes, dt in [1e-3, 1e-1]

and the ablations the chapters need (``ABLATIONS``): "attention" (softmax attention without
the MLP and with PyTorch's init, chapter 7's mixer) and "mamba_lti" (the Mamba block with
Delta, B, C independent of the input, ``MambaBlock(selective=False)``). With n_layers = 0
and readout "mean" the model is memory-free: a bag of tokens, the baseline a task that
gives its answer away in the token counts is measured against.

Every step size range is the one its paper gives (1e-3 to 1e-1), the same for every task:
nothing here is tuned to a task. ``match_width`` finds the d_model at which a mixer's model
has a given number of parameters, so that models are compared at equal size.

``TransformerLM``, ``MambaLM`` and ``SequenceClassifier`` are thin names for
``SequenceModel`` with the arguments chapters 2 and 6 to 9 use.

Glossary (code name -> symbol): x the input ids (batch, L) or features (batch, L, input_dim);
h the residual stream (batch, L, d_model); E the embedding (vocab_size, d_model); P the
positions (L, d_model); L the length; d_model the width.
"""

import math

import torch
from torch import nn

from seqlearn._checks import (MAX_ELEMENTS, MAX_STEPS, affordable, flag, integer, option, token_ids,
                              torch_tensor)
from seqlearn.attention import (CausalLinearAttention, CausalSelfAttention, feed_forward,
                                sinusoidal_positions)
from seqlearn.h3 import H3Layer
from seqlearn.hankel import HOPELayer
from seqlearn.mamba import MambaBlock, RMSNorm
from seqlearn.rnn import RecurrentMixer
from seqlearn.s4 import S4DLayer, S4Layer
from seqlearn.s5 import S5Layer
from seqlearn.ssd import Mamba2Block

MIXERS = ("rnn", "lstm", "gru", "transformer", "linear_attention", "s4", "s4d", "hope",
          "mamba", "mamba2", "h3", "s5")
ABLATIONS = ("attention", "mamba_lti")
ORDER_BLIND = ("transformer", "linear_attention", "attention")
"""Mixers that see a set, not a sequence, without positions: P is added to their input."""
WITH_MLP = ("transformer", "linear_attention")
"""Mixers whose field puts an MLP after each mixer (the Transformer block); mlp=None
follows this, True or False sets it for any mixer."""
READOUTS = ("last", "mean", "all")
NORMS = ("rms", "layer")
MAX_LAYERS = 1_000
GPT2_STD = 0.02


def make_mixer(mixer, d_model, n_layers=1, max_len=None, **kwargs):
    """One token mixer (batch, L, d_model) -> (batch, L, d_model) with its standard init.

    mixer : a name in MIXERS + ABLATIONS;  d_model : int >= 1;  n_layers : the depth of the
    model it goes in (GPT-2 scales the residual outputs by 1 / sqrt(2 n_layers));
    max_len : the longest dependency in steps (the LSTM's and GRU's chrono init), or None;
    kwargs : the layer's own arguments (d_state, dt_min, dt_max, n_heads, init, ...).
    """
    option("mixer", mixer, MIXERS + ABLATIONS)
    integer("n_layers", n_layers, maximum=MAX_LAYERS)
    if max_len is not None:
        max_len = integer("max_len", max_len, 2, maximum=MAX_STEPS)
    if mixer in ("rnn", "lstm", "gru"):
        return RecurrentMixer(mixer, d_model, max_len=max_len, **kwargs)
    if mixer in ("transformer", "attention"):
        return CausalSelfAttention(d_model, **kwargs)
    if mixer == "linear_attention":
        return CausalLinearAttention(d_model, **kwargs)
    if mixer == "mamba_lti":
        return MambaBlock(d_model, selective=False, **kwargs)
    make = {"s4": S4Layer, "s4d": S4DLayer, "hope": HOPELayer, "mamba": MambaBlock,
            "mamba2": Mamba2Block, "h3": H3Layer, "s5": S5Layer}[mixer]
    return make(d_model, **kwargs)


def gpt2_init_(module, n_layers, residual=()):
    """GPT-2's initialisation (Radford et al. 2019; as in nanoGPT), in place: every Linear
    weight of ``module`` ~ N(0, 0.02^2), biases 0, and the Linear layers in ``residual``
    (those that write into the residual stream: attention's W_o, the MLP's W_2)
    ~ N(0, (0.02 / sqrt(2 n_layers))^2), so that the stream's variance does not grow with
    depth."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    n_layers = integer("n_layers", n_layers, maximum=MAX_LAYERS)
    if not isinstance(residual, (list, tuple)) or not all(isinstance(m, nn.Linear)
                                                          for m in residual):
        raise ValueError("residual: expected the nn.Linear layers that write into the "
                         "residual stream")
    scaled = {id(m) for m in residual}
    for m in module.modules():
        if isinstance(m, nn.Linear):
            std = GPT2_STD / math.sqrt(2 * n_layers) if id(m) in scaled else GPT2_STD
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(model):
    """The number of real numbers the model learns (a complex parameter counts twice)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


class SequenceModel(nn.Module):
    """The backbone of the module docstring with one mixer; x -> logits.

    mixer : a name in ``MIXERS`` or ``ABLATIONS``;  d_model : int >= 1 (even for the
        order-blind mixers, whose positions are sinusoidal);  n_layers : int in [0, 1000]
    vocab_size : token ids in [0, vocab_size) (nn.Embedding), or input_dim : features
        (batch, L, input_dim) (nn.Linear); exactly one of the two
    n_classes : int >= 1, a Linear head; None: a language model, logits h E^T (batch, L,
        vocab_size), the head tied to the embedding (needs vocab_size; readout "all")
    readout : "last", "mean" or "all" (None: "last" for a classifier, "all" for an LM)
    prenorm : True (norm before the mixer, a final norm: GPT-2 and Mamba) or False (norm
        after the residual sum, no final norm: the S4 paper's classifier)
    norm : "rms" (``mamba.RMSNorm``) or "layer" (nn.LayerNorm)
    mlp : None (the mixer's field: an MLP for "transformer" and "linear_attention"), True
        or False: an MLP sublayer (d_ff = 4 d_model) after each mixer
    max_len : the longest dependency in steps, for the recurrent mixers' chrono init
    positions : None (sinusoidal positions P for the order-blind mixers "transformer",
        "linear_attention", "attention", none for the others), True or False (chapter 2
        leaves them out to show what attention does without them)
    mixer_kwargs : the mixer's own arguments (d_state, dt_min, dt_max, n_heads, init, ...)

    forward(x, kernels=None) -> (batch, n_classes) or (batch, L, n_classes) ("all") or
    (batch, L, vocab_size) (an LM). kernels: one K (d_model, L) per layer in place of the
    layers' own (the LTI mixers "s4", "s4d", "hope"; chapter 8).
    """

    def __init__(self, mixer, d_model, n_layers, *, vocab_size=None, input_dim=None,
                 n_classes=None, readout=None, prenorm=True, norm="rms", mlp=None,
                 max_len=None, positions=None, **mixer_kwargs):
        super().__init__()
        self.mixer = option("mixer", mixer, MIXERS + ABLATIONS)
        self.d_model = d_model = integer("d_model", d_model, maximum=10**6)
        self.n_layers = n_layers = integer("n_layers", n_layers, minimum=0, maximum=MAX_LAYERS)
        if (vocab_size is None) == (input_dim is None):
            raise ValueError(f"vocab_size: expected exactly one of vocab_size (token ids) and "
                             f"input_dim (features), got vocab_size={vocab_size!r}, "
                             f"input_dim={input_dim!r}")
        self.tokens = vocab_size is not None
        V = integer("vocab_size" if self.tokens else "input_dim",
                    vocab_size if self.tokens else input_dim)
        self.vocab_size, self.input_dim = (V, None) if self.tokens else (None, V)
        if n_classes is None and not self.tokens:
            raise ValueError("n_classes: expected a number of classes for a model of features "
                             "(input_dim; the tied LM head needs token ids), got None")
        self.n_classes = None if n_classes is None else integer("n_classes", n_classes)
        self.readout = option("readout", ("all" if n_classes is None else "last")
                              if readout is None else readout, READOUTS)
        if n_classes is None and self.readout != "all":
            raise ValueError(f"readout: expected 'all' for a language model (n_classes=None), "
                             f"got {self.readout!r}")
        self.prenorm = flag("prenorm", prenorm)
        option("norm", norm, NORMS)
        self.mlp = mixer in WITH_MLP if mlp is None else flag("mlp", mlp)
        self.positions = mixer in ORDER_BLIND if positions is None else flag("positions",
                                                                              positions)
        if self.positions and d_model % 2:
            raise ValueError(f"d_model: expected an even number for mixer={mixer!r} "
                             f"(sinusoidal positions), got {d_model}")
        affordable("vocab_size" if self.tokens else "input_dim", V * d_model,
                   what="embedding numbers")
        affordable("n_classes", (self.n_classes or 0) * d_model)

        make_norm = (lambda: RMSNorm(d_model)) if norm == "rms" else (lambda: nn.LayerNorm(d_model))

        def make():
            return make_mixer(mixer, d_model, max(n_layers, 1), max_len, **mixer_kwargs)

        if n_layers == 0:                 # the mixer's arguments checked all the same
            with torch.random.fork_rng():
                make()
        self.embed = nn.Embedding(V, d_model) if self.tokens else nn.Linear(V, d_model)
        self.layers = nn.ModuleList(make() for _ in range(n_layers))
        self.norms = nn.ModuleList(make_norm() for _ in range(n_layers))
        if self.mlp:
            self.mlps = nn.ModuleList(feed_forward(d_model) for _ in range(n_layers))
            self.mlp_norms = nn.ModuleList(make_norm() for _ in range(n_layers))
        if mixer in WITH_MLP:
            blocks = nn.ModuleList([self.layers] + ([self.mlps] if self.mlp else []))
            gpt2_init_(blocks, max(n_layers, 1), [layer.W_o for layer in self.layers]
                       + ([mlp[2] for mlp in self.mlps] if self.mlp else []))
        self.norm_f = make_norm() if self.prenorm else None
        self.head = None if self.n_classes is None else nn.Linear(d_model, self.n_classes)

    def _check(self, x):
        weight = self.embed.weight
        if self.tokens:
            token_ids("x", x, 2, "(batch, L)", self.vocab_size)
        else:
            V = self.input_dim
            torch_tensor("x", x, ndim=3, dtype=weight.dtype, axes=f"(batch, L, {V})")
            if x.shape[2] != V:
                raise ValueError(f"x: expected a tensor (batch, L, {V}), got shape "
                                 f"{tuple(x.shape)}")
        if x.device != weight.device:
            raise ValueError(f"x: expected a tensor on {weight.device} (the model's), got one "
                             f"on {x.device}")
        affordable("x", x.shape[0] * x.shape[1] * self.d_model * max(self.n_layers, 1),
                   limit=MAX_ELEMENTS, what="activations (batch L d_model n_layers)")

    def embed_input(self, x):
        """h_0 = embed(x) (+ P for the order-blind mixers), (batch, L, d_model)."""
        self._check(x)
        h = self.embed(x)
        if self.positions:
            h = h + torch.as_tensor(sinusoidal_positions(x.shape[1], self.d_model),
                                    dtype=h.dtype, device=h.device)
        return h

    def _layer(self, i, h, kernel=None):
        mix = self.layers[i] if kernel is None else (lambda u: self.layers[i](u, kernel))
        if self.prenorm:
            h = h + mix(self.norms[i](h))
            return h + self.mlps[i](self.mlp_norms[i](h)) if self.mlp else h
        h = self.norms[i](h + mix(h))
        return self.mlp_norms[i](h + self.mlps[i](h)) if self.mlp else h

    def features(self, x, kernels=None):
        """The last residual stream h (batch, L, d_model), after the final norm (prenorm)."""
        if kernels is not None:
            if self.mixer not in ("s4", "s4d", "hope"):
                raise ValueError(f"kernels: expected None for mixer={self.mixer!r} (only the "
                                 f"LTI layers s4, s4d, hope have a kernel), got "
                                 f"{type(kernels).__name__}")
            if not isinstance(kernels, (list, tuple)) or len(kernels) != self.n_layers:
                raise ValueError(f"kernels: expected a list of {self.n_layers} tensors (H, L), "
                                 f"one per layer, got {type(kernels).__name__}"
                                 + (f" of length {len(kernels)}"
                                    if isinstance(kernels, (list, tuple)) else ""))
        h = self.embed_input(x)                   # checks x
        for i in range(self.n_layers):
            h = self._layer(i, h, None if kernels is None else kernels[i])
        return self.norm_f(h) if self.prenorm else h

    def forward(self, x, kernels=None):
        """x (batch, L) ids or (batch, L, input_dim) -> logits; see the class docstring."""
        h = self.features(x, kernels)
        h = h[:, -1] if self.readout == "last" else h.mean(1) if self.readout == "mean" else h
        return h @ self.embed.weight.T if self.head is None else self.head(h)

    # ----------------------------------------------------------- recurrent inference
    def _stepper(self):
        if self.positions or not all(hasattr(layer, "step") for layer in self.layers):
            raise ValueError(f"mixer: {self.mixer!r} has no constant-size state in this model"
                             + (" (its KV cache grows with every token, chapter 2); use forward"
                                if self.positions else "; use forward"))
        if self.mlp or not self.prenorm:
            raise ValueError("mixer: step runs the prenorm backbone without MLP only; use "
                             "forward")

    def initial_state(self, batch):
        """One state per layer (constant size, whatever the length generated)."""
        self._stepper()
        return [layer.initial_state(batch) for layer in self.layers]

    def step(self, x_t, state):
        """x_t (batch,) ids -> (logits (batch, n_out), new state); equals ``forward`` token by
        token (readout "all")."""
        self._stepper()
        token_ids("x_t", x_t, 1, "(batch,)", self.vocab_size)
        if not isinstance(state, (list, tuple)) or len(state) != self.n_layers:
            raise ValueError(f"state: expected a list of {self.n_layers} layer states, as "
                             f"from initial_state(batch), got {type(state).__name__}")
        h, new = self.embed(x_t), []
        for layer, norm, s in zip(self.layers, self.norms, state):
            out, s = layer.step(norm(h), s)
            h = h + out
            new.append(s)
        h = self.norm_f(h)
        return (h @ self.embed.weight.T if self.head is None else self.head(h)), new

    def attention_weights(self, x):
        """Every layer's softmax attention weights for x: a list of n_layers tensors
        (batch, n_heads, L, L), the A that ``forward(x)`` uses (row i: query i over keys
        j <= i); mixers "transformer" and "attention" (chapter 2's pictures)."""
        if self.mixer not in ("transformer", "attention"):
            raise ValueError(f"mixer: attention weights exist for mixers 'transformer' and "
                             f"'attention', got {self.mixer!r}")
        h, out = self.embed_input(x), []
        for i in range(self.n_layers):
            u = self.norms[i](h) if self.prenorm else h
            out.append(self.layers[i].weights(u))
            h = self._layer(i, h)
        return out

    def step_sizes(self, x):
        """Each Mamba layer's Delta for x: a list of n_layers tensors (batch, d_inner, L),
        computed on the same inputs as ``forward`` (mixers "mamba" and "mamba_lti")."""
        if self.mixer not in ("mamba", "mamba_lti") or not self.prenorm or self.mlp:
            raise ValueError(f"mixer: step sizes exist for mixer='mamba' only, got {self.mixer!r}")
        h, out = self.embed_input(x), []
        for layer, norm in zip(self.layers, self.norms):
            out.append(layer.step_sizes(norm(h)))
            h = h + layer(norm(h))
        return out


def match_width(mixer, n_params, *, multiple=2, largest=2048, **kwargs):
    """The d_model (a multiple of ``multiple``) at which SequenceModel(mixer, d_model,
    **kwargs) has the number of parameters nearest ``n_params``; by bisection (the count
    grows with d_model), building models under a forked RNG (the caller's draws unchanged).

    returns (d_model, its parameter count)
    """
    n_params = integer("n_params", n_params)
    multiple = integer("multiple", multiple, maximum=1024)
    largest = integer("largest", largest, minimum=multiple, maximum=10**5)

    def count(k):
        with torch.random.fork_rng():
            return count_parameters(SequenceModel(mixer, k * multiple, **kwargs))

    lo, hi = 1, largest // multiple
    if count(hi) < n_params:
        raise ValueError(f"n_params: expected at most {count(hi)} parameters (mixer "
                         f"{mixer!r} at d_model = {hi * multiple}), got {n_params}")
    while lo < hi:                        # the smallest k with count(k) >= n_params
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < n_params else (lo, mid)
    best = min({max(lo - 1, 1), lo}, key=lambda k: abs(count(k) - n_params))
    return best * multiple, count(best)


class TransformerLM(SequenceModel):
    """Chapter 2's small causal Transformer, ids (batch, L) -> logits (batch, L, vocab):
    ``SequenceModel`` with mixer "transformer" as GPT-2 builds it (prenorm LayerNorm,
    attention then an MLP of width 4 d_model in each block, a final LayerNorm, GPT-2's
    init), a Linear head per position;

        h = embed(ids) + P     (P = sinusoidal_positions(L, d_model); none if positions=False)
        n_layers x  h = h + Attn(LN(h));  h = h + MLP(LN(h))      (attention.TransformerBlock)
        logits = LN(h) W_head^T + b_head

    vocab, d_model (even), n_layers, n_heads : int >= 1;  positions : bool (False: the
    tokens without their order, chapter 2's experiment)
    """

    def __init__(self, vocab, d_model, n_layers=2, n_heads=2, positions=True):
        vocab = integer("vocab", vocab)
        affordable("vocab", vocab * integer("d_model", d_model, maximum=10**6),
                   what="embedding numbers (vocab d_model)")
        super().__init__("transformer", d_model, n_layers, vocab_size=vocab, n_classes=vocab,
                         readout="all", norm="layer", positions=flag("positions", positions),
                         n_heads=n_heads)
        self.vocab = vocab


class MambaLM(SequenceModel):
    """A small language model, ids (batch, L) -> logits (batch, L, vocab): ``SequenceModel``
    (prenorm, RMSNorm, the head tied to the embedding) with mixer "mamba" (default) or any
    other; d_state and the block's arguments go to the mixer (``backend`` to Mamba blocks).
    Chapters 7 and 9 use it. The attention mixers add sinusoidal positions.
    """

    def __init__(self, vocab, d_model, n_layers, d_state=16, mixer="mamba", backend="auto",
                 **block_kwargs):
        vocab = integer("vocab", vocab)
        affordable("vocab", vocab * integer("d_model", d_model, maximum=10**6),
                   what="embedding numbers (vocab d_model)")
        if mixer in ("mamba", "mamba_lti"):
            block_kwargs["backend"] = backend
        if mixer not in ("transformer", "attention", "linear_attention", "rnn", "lstm", "gru"):
            block_kwargs["d_state"] = d_state
        super().__init__(mixer, d_model, n_layers, vocab_size=vocab, **block_kwargs)
        self.vocab = self.vocab_size


class SequenceClassifier(SequenceModel):
    """Chapters 6 and 8's classifier: ``SequenceModel`` as the S4 paper's classifier
    (postnorm LayerNorm, no final norm), x -> logits (batch, n_classes).

    vocab_or_input_dim : the vocabulary (tokens=True, ids) or the feature size (tokens=False)
    layer : "s4d", "s4" or "hope" (the LTI layers, whose arguments these are);  readout : "last" or "mean" (with
        n_layers = 0 "mean" is the memory-free bag of tokens)
    dropout, d_state, dt_min, dt_max : the SSM layer's arguments
    """

    def __init__(self, vocab_or_input_dim, d_model, n_layers, n_classes, layer="s4d",
                 dropout=0.0, tokens=True, d_state=64, readout="last", dt_min=1e-3,
                 dt_max=1e-1):
        tokens = flag("tokens", tokens)
        option("readout", readout, ("last", "mean"))
        V = integer("vocab_or_input_dim", vocab_or_input_dim)
        option("layer", layer, ("s4d", "s4", "hope"))
        affordable("vocab_or_input_dim", V * integer("d_model", d_model, maximum=10**6),
                   what="embedding numbers")
        super().__init__(layer, d_model, n_layers, vocab_size=V if tokens else None,
                         input_dim=None if tokens else V, n_classes=n_classes, readout=readout,
                         prenorm=False, norm="layer", dropout=dropout, d_state=d_state,
                         dt_min=dt_min, dt_max=dt_max)
        self.vocab_or_input_dim = V
