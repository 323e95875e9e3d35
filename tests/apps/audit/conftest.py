from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def checkpoint_dir(settings) -> Path:
    """The test's own sink folder (tests/conftest.py gives every test a fresh one)."""
    return Path(settings.REVIEWSVC_CHECKPOINT_DIR)
