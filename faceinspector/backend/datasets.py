"""Where the face data sets are and what their files look like: the one place that knows.

CelebA and LFW are found under a *data root* (``root`` argument, else ``$FACEINSPECTOR_DATA``,
else the development copy beside the project), each in its own folder:

* ``celeba/``: ``img_align_89x109/`` (aligned images) and ``list_attr_celeba.txt``;
* ``lfw/``: ``lfw-deepfunneled/<Name>/<Name>_NNNN.jpg``, ``pairs.txt``, ``male_names.txt`` and
  ``female_names.txt``.

A missing data set raises :class:`DataError` naming the layout that was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

#: CelebA's aligned images (the development copy: 89x109, the first 10,000 images)
CELEBA_IMAGES = "img_align_89x109"
CELEBA_ATTRIBUTES = "list_attr_celeba.txt"
LFW_IMAGES = "lfw-deepfunneled"
LFW_GENDER_FILES = ("female_names.txt", "male_names.txt")


class DataError(FileNotFoundError):
    """A data set is not where it should be; the message says what was expected where."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, else ``$FACEINSPECTOR_DATA``, else the development copy beside the project."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("FACEINSPECTOR_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    from .._paths import SHARED_DATA

    return SHARED_DATA


def celeba_dir(root: str | os.PathLike | None = None) -> Path:
    """The CelebA folder (holding the aligned images and the attribute list)."""
    d = data_root(root) / "celeba"
    if not (d / CELEBA_IMAGES).is_dir() or not (d / CELEBA_ATTRIBUTES).is_file():
        raise DataError(f"CelebA not found: expected {d / CELEBA_IMAGES} and "
                        f"{d / CELEBA_ATTRIBUTES}")
    return d


def celeba_images(root: str | os.PathLike | None = None) -> Path:
    """The folder of CelebA's aligned images (``$FACEINSPECTOR_CELEBA`` overrides it)."""
    env = os.environ.get("FACEINSPECTOR_CELEBA", "").strip()
    if env and root is None:
        return Path(env).expanduser()
    return data_root(root) / "celeba" / CELEBA_IMAGES


def lfw_dir(root: str | os.PathLike | None = None, need_gender: bool = True) -> Path:
    """The LFW folder (deep-funneled images, and with ``need_gender`` the gender lists)."""
    d = data_root(root) / "lfw"
    missing = not (d / LFW_IMAGES).is_dir() or (
        need_gender and not all((d / f).is_file() for f in LFW_GENDER_FILES))
    if missing:
        want = f"{d / LFW_IMAGES}" + (" and the gender lists " + " / ".join(LFW_GENDER_FILES)
                                      if need_gender else "")
        raise DataError(f"LFW not found: expected {want}")
    return d


__all__ = ["CELEBA_ATTRIBUTES", "CELEBA_IMAGES", "DataError", "LFW_GENDER_FILES", "LFW_IMAGES",
           "celeba_dir", "celeba_images", "data_root", "lfw_dir"]
