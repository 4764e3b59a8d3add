"""Shared fixtures: the real-data folder (skip when absent) and a scratch cache/results root."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ALCORE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own decode/feature cache, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "alcore-cache"
    monkeypatch.setenv("ALCORE_CACHE", str(cache))
