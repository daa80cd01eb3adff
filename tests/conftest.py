"""Shared fixtures: the demo photos (model pack) and the development data (optional).

The development copy of CelebA and LFW is found in one place, :data:`DEV_DATA`:
``$FACEINSPECTOR_TEST_DATA``, else ``../shared/data`` beside the repository (a test-only
default; the product itself knows no data location). Tests that need it call
:func:`shared_data` (or use the ``dev_data`` / ``celeba_dev`` / ``lfw_dev`` fixtures) and skip
with the reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA_ENV = "FACEINSPECTOR_TEST_DATA"
#: the development data: $FACEINSPECTOR_TEST_DATA, else ../shared/data beside the repository
DEV_DATA = Path(os.environ.get(TEST_DATA_ENV, "").strip()
                or ROOT.parent / "shared" / "data").expanduser()
SHARED_DATA = DEV_DATA  # the older name
#: where each data set of the development copy is (its own layout: img_align_89x109/, ...)
CELEBA_DEV = DEV_DATA / "celeba"
LFW_DEV = DEV_DATA / "lfw"


def has_dev_data(*parts: str) -> bool:
    """True when ``DEV_DATA/parts`` exists (for ``skipif`` marks)."""
    return DEV_DATA.joinpath(*parts).exists()


def dev_data_reason(*parts: str) -> str:
    return (f"{DEV_DATA.joinpath(*parts)} is not here (the development data are optional; set "
            f"${TEST_DATA_ENV} to their folder)")


def shared_data(*parts: str) -> Path:
    """A path under the development data (:data:`DEV_DATA`), or skip the test with the
    reason."""
    p = DEV_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(dev_data_reason(*parts))
    return p


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """The development data folder (holding celeba/ and lfw/), or skip."""
    return shared_data()


@pytest.fixture(scope="session")
def celeba_dev() -> Path:
    """The development copy of CelebA (img_align_89x109/ + list_attr_celeba.txt), or skip."""
    return shared_data("celeba", "img_align_89x109", "000001.jpg").parents[1]


@pytest.fixture(scope="session")
def lfw_dev() -> Path:
    """The development copy of LFW (lfw-deepfunneled/, pairs.txt, gender lists), or skip."""
    return shared_data("lfw", "pairs.txt").parent


@pytest.fixture
def no_data_env(monkeypatch):
    """No data-set location in the environment (the product's own lookup finds nothing)."""
    for name in ("FACEINSPECTOR_DATA", "FACEINSPECTOR_CELEBA", "FACEINSPECTOR_LFW"):
        monkeypatch.delenv(name, raising=False)


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
