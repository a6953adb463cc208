from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root():
    """The repository root (notebooks, _config.yml, _toc.yml live there)."""
    return ROOT
