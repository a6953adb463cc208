"""H3 (chapter 9): Hungry Hungry Hippos (Fu et al. 2023), the bridge from S4 to Mamba.

Two SSMs and two multiplicative interactions, per channel h of the width H:

    q, k, v = W_q u, W_k u, W_v u                 three projections, (batch, L, H) each
    k_bar   = SSM_shift(k)                        a shift SSM: A the shift matrix, so its
                                                  kernel is a length-N FIR filter,
                                                  k_bar_t = sum_{j<N} c_j k_{t-j}
    y       = q * SSM_diag(k_bar * v)             a diagonal (S4D) SSM, then the gate q
    out     = W_o y

The shift SSM remembers the last few tokens (it can mark "the previous token was key k"),
k_bar * v stores a value where its key matched, the diagonal SSM carries it over long
distances and the gate q reads it out where the query asks: associative recall with an LTI
pair of SSMs, the input dependence coming only from the products. We keep the paper's
head dimension 1 (H heads of size 1); the paper also uses larger heads (outer products).

The diagonal SSM is chapter 6's S4D (``seqlearn.s4.S4DLayer.ssm_forward``: K * u + D u);
the shift SSM's convolution is chapter 6's FFT convolution.

Glossary (code name -> symbol in Fu et al. 2023):
    q, k, v        -> Q, K, V (the attention analogy: query, key, value)
    shift_kernel   -> the shift SSM's C (B = e_1 fixed), a length-N filter per channel
    diag           -> SSM_diag, an S4D layer (its A diagonal, its own N)
    d_model, d_state, shift_size -> H, N (diag), N (shift)
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from seqlearn._checks import affordable, integer, layer_input
from seqlearn.s4 import S4DLayer, _fft_conv


class H3Layer(nn.Module):
    """The H3 layer, u (batch, L, d_model) -> (batch, L, d_model); see the module docstring.

    d_model : H >= 1;  d_state : the diagonal SSM's state size (even, >= 2);
    shift_size : N >= 1, the length of the shift SSM's filter (its state size);
    dt_min, dt_max : the S4D step range.

    NaN: a NaN or inf at one step makes every output NaN in its channel, earlier steps
    too: the FFT convolution multiplies it by the zero padding, and 0 * NaN = NaN (IEEE
    754). The step-by-step ``step`` keeps a NaN causal.
    """

    def __init__(self, d_model, d_state=16, shift_size=4, dt_min=1e-3, dt_max=1e-1):
        super().__init__()
        self.d_model = integer("d_model", d_model)
        self.shift_size = integer("shift_size", shift_size, maximum=10**5)
        affordable("d_model", self.d_model * (4 * self.d_model + self.shift_size),
                   what="parameters")
        self.diag = S4DLayer(self.d_model, d_state=d_state, dt_min=dt_min, dt_max=dt_max)
        self.in_proj = nn.Linear(self.d_model, 3 * self.d_model)
        self.out_proj = nn.Linear(self.d_model, self.d_model)
        self.shift_kernel = nn.Parameter(torch.randn(self.d_model, self.shift_size)
                                         / math.sqrt(self.shift_size))

    def forward(self, u):
        """u (batch, L, H) -> W_o (q * SSM_diag(SSM_shift(k) * v)), (batch, L, H); NaN or inf in
        u pass through."""
        layer_input("u", u, "(batch, L, d_model)", self.d_model, self.shift_kernel)
        L = u.shape[1]
        q, k, v = self.in_proj(u).chunk(3, dim=-1)
        K = self.shift_kernel[:, :L]
        if K.shape[1] < L:
            K = F.pad(K, (0, L - K.shape[1]))
        k_bar = _fft_conv(k, K)
        return self.out_proj(q * self.diag.ssm_forward(k_bar * v))

    def initial_state(self, batch):
        """(the last shift_size keys (batch, H, shift_size), the S4D state), zeros."""
        batch = integer("batch", batch)
        affordable("batch", batch * self.d_model * self.shift_size, what="state numbers")
        return (self.shift_kernel.new_zeros(batch, self.d_model, self.shift_size),
                self.diag.initial_state(batch))

    def step(self, u_t, state):
        """One token: u_t (batch, H) -> (out (batch, H), new state), equal to ``forward``
        token by token; NaN or inf in u_t pass through."""
        layer_input("u_t", u_t, "(batch, d_model)", self.d_model, self.shift_kernel)
        shape = (u_t.shape[0], self.d_model, self.shift_size)
        if (not isinstance(state, (tuple, list)) or len(state) != 2
                or not isinstance(state[0], torch.Tensor) or tuple(state[0].shape) != shape
                or state[0].dtype != u_t.dtype):
            raise ValueError(f"state: expected (keys {shape}, S4D state) as from "
                             f"initial_state({u_t.shape[0]}), got {type(state).__name__}")
        keys, s = state
        q, k, v = self.in_proj(u_t).chunk(3, dim=-1)
        keys = torch.cat([k[..., None], keys[..., :-1]], dim=-1)        # newest first
        k_bar = (keys * self.shift_kernel).sum(-1)
        y, s = self.diag.ssm_step(k_bar * v, s)
        return self.out_proj(q * y), (keys, s)
