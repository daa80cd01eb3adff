"""Shared fixtures: the demo photos (model pack) and ../shared/data (optional)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is not here (../shared/data is optional)")
    return p


@pytest.fixture(scope="session")
def demo_paths():
    from faceinspector.backend import assets

    try:
        return assets.demo_photos()
    except assets.AssetError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def demo_photos(demo_paths):
    from faceinspector.backend.images import load_photo

    return [load_photo(p) for p in demo_paths]


@pytest.fixture(scope="session")
def backend():
    from faceinspector.backend import Backend

    return Backend(device="cpu")


@pytest.fixture(scope="session")
def demo_detections(backend, demo_photos):
    return [backend.detect(p) for p in demo_photos]


@pytest.fixture
def rng():
    return np.random.default_rng(0)
