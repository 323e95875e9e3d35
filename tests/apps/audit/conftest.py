from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path) -> Path:
    """A fresh sink folder per test: checkpoint files outlive the test's rolled-back database."""
    folder = tmp_path / "checkpoints"
    settings.REVIEWSVC_CHECKPOINT_DIR = str(folder)
    settings.REVIEWSVC_CHECKPOINT_STORAGES = []
    return folder
