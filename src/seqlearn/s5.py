"""S5 (chapter 9): one MIMO diagonal SSM run by a parallel scan (Smith et al. 2023).

S4 and S4D run H independent single-input single-output (SISO) SSMs, one per channel, each
as a convolution kernel. S5 runs ONE multi-input multi-output (MIMO) SSM with a diagonal
state of size P for all H channels together, as a recurrence, by a parallel scan:

    Lambda_bar = exp(dt Lambda),  B_bar = (Lambda_bar - 1) / Lambda * B    (ZOH, diagonal)
    x_k = Lambda_bar * x_{k-1} + B_bar u_k          x_k : (P,) complex,  u_k : (H,)
    y_k = 2 Re(C x_k) + D * u_k                      C : (H, P) complex, D : (H,)

(conjugate symmetry: the P modes stand for 2P, so the output is real). dt is one
learnable step per state, log-uniform in [dt_min, dt_max] at init. The recurrence is linear
with a diagonal transition, so its pairs (Lambda_bar, B_bar u_k) combine associatively and
``seqlearn.mamba.associative_scan`` computes all x_k in O(log L) levels; no kernel is
formed, and the same scan would take a time-varying dt (the step towards Mamba).
We initialise Lambda with S4D-Lin (``seqlearn.s4.s4d_lin_init``); the paper uses the
eigenvalues of the normal part of HiPPO-LegS (block-diagonal).

Glossary (code name -> symbol in Smith et al. 2023):
    Lambda (log_Lambda_re, Lambda_im) -> Lambda, the diagonal state matrix (P,)
    B, C, D          -> B_tilde (P, H), C_tilde (H, P), D (H,)
    log_dt           -> log Delta (P,);  d_model, d_state -> H, P
"""

import math

import numpy as np
import torch
from torch import nn

from seqlearn._checks import affordable, integer, layer_input
from seqlearn.mamba import associative_scan
from seqlearn.s4 import _dt_range, _log_dt, s4d_lin_init


class S5Layer(nn.Module):
    """The S5 SSM, u (batch, L, d_model) -> y (batch, L, d_model); see the module docstring.

    d_model : H >= 1;  d_state : P >= 1 complex modes (2P real states);
    dt_min <= dt_max : the range of the initial steps (> 0). Float32 parameters; the state
    is complex64 (complex128 after ``.double()``).
    """

    def __init__(self, d_model, d_state=16, dt_min=1e-3, dt_max=1e-1):
        super().__init__()
        self.d_model = integer("d_model", d_model)
        self.d_state = integer("d_state", d_state)
        _dt_range(dt_min, dt_max)
        H, P = self.d_model, self.d_state
        affordable("d_model", 4 * H * P + H + 3 * P, what="parameters")
        Lam = s4d_lin_init(P)
        self.log_Lambda_re = nn.Parameter(torch.tensor(np.log(-Lam.real), dtype=torch.float32))
        self.Lambda_im = nn.Parameter(torch.tensor(Lam.imag, dtype=torch.float32))
        self.B = nn.Parameter(torch.randn(P, H, 2) * math.sqrt(0.5 / H))
        self.C = nn.Parameter(torch.randn(H, P, 2) * math.sqrt(0.5 / P))
        self.D = nn.Parameter(torch.randn(H))
        self.log_dt = nn.Parameter(_log_dt(P, dt_min, dt_max))

    def discrete(self):
        """(Lambda_bar (P,), B_bar (P, H)), complex: the ZOH of the diagonal system,
        Lambda_bar = exp(dt Lambda), B_bar = (Lambda_bar - 1) / Lambda * B (chapter 5)."""
        Lam = torch.complex(-torch.exp(self.log_Lambda_re), self.Lambda_im)
        dtL = torch.exp(self.log_dt) * Lam
        return torch.exp(dtL), (torch.expm1(dtL) / Lam)[:, None] * torch.view_as_complex(self.B)

    def forward(self, u):
        """u (batch, L, H) -> y (batch, L, H), y_k = 2 Re(C x_k) + D u_k, all x_k by one
        parallel scan over time; NaN or inf in u pass through."""
        layer_input("u", u, "(batch, L, d_model)", self.d_model, self.D)
        batch, L, H = u.shape
        affordable("u", batch * L * self.d_state)
        Lb, Bb = self.discrete()
        Bu = (u.to(Bb.dtype) @ Bb.T).transpose(0, 1)                  # (L, batch, P)
        _, x = associative_scan(Lb.expand_as(Bu), Bu)                 # time first
        y = 2 * (x @ torch.view_as_complex(self.C).T).real            # (L, batch, H)
        return y.transpose(0, 1) + self.D * u

    def initial_state(self, batch):
        """Zeros (batch, P), complex."""
        batch = integer("batch", batch)
        affordable("batch", batch * self.d_state)
        dtype = torch.complex128 if self.D.dtype == torch.float64 else torch.complex64
        return torch.zeros(batch, self.d_state, dtype=dtype, device=self.D.device)

    def step(self, u_t, state):
        """One step of the recurrence: u_t (batch, H) -> (y_t (batch, H), x (batch, P)); NaN or
        inf in u_t pass through."""
        layer_input("u_t", u_t, "(batch, d_model)", self.d_model, self.D)
        dtype = torch.complex128 if self.D.dtype == torch.float64 else torch.complex64
        shape = (u_t.shape[0], self.d_state)
        if (not isinstance(state, torch.Tensor) or tuple(state.shape) != shape
                or state.dtype != dtype):
            raise ValueError(f"state: expected a {dtype} tensor of shape {shape} as from "
                             f"initial_state({shape[0]}), got {type(state).__name__}")
        Lb, Bb = self.discrete()
        x = Lb * state + u_t.to(dtype) @ Bb.T
        return 2 * (x @ torch.view_as_complex(self.C).T).real + self.D * u_t, x
