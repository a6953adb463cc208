import os
from pathlib import Path

import torch

# Triton reads TRITON_INTERPRET when it is first imported, and some torch modules import
# it (torch.nn.attention, used by test_attention.py): set it before any test module loads.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root():
    """The repository root (notebooks, _config.yml, _toc.yml live there)."""
    return ROOT


@pytest.fixture
def course_functions_allowed(monkeypatch):
    """The checker without its refusal of the course's own functions, for tests that
    feed it the known mistakes (which are written with those functions)."""
    from seqlearn.exercises import _checker
    monkeypatch.setattr(_checker, "_refused", lambda exercise: {})
