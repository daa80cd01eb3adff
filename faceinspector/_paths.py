"""Where FaceInspector's shipped files are, in every install mode.

The repository's top-level ``resources/`` folder (the model manifest, the demo classifiers, the
shipped VAE) is installed as the package ``faceinspector.resources`` (``setup.py`` maps it, the
files are listed as package data in ``pyproject.toml``). It is found through
``importlib.resources``, so the same code works from a wheel, a pipx / ``uv tool`` install and
an editable install; nothing here knows where a source tree is.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "faceinspector.resources"


def _resources_dir() -> Path:
    root = files(PACKAGE)
    if not isinstance(root, Path):  # e.g. imported from a zip file: the models need real files
        raise RuntimeError(f"FaceInspector's resources ({root}) are not a folder on disk; "
                           "install it as a wheel (pip / pipx), not zipped")
    return root


#: the folder of shipped files (``faceinspector/resources`` once installed)
RESOURCES = _resources_dir()


def resource(*parts: str) -> Path:
    """Path of a shipped file, e.g. ``resource("vae", "vae_celeba64.safetensors")``."""
    return RESOURCES.joinpath(*parts)


__all__ = ["PACKAGE", "RESOURCES", "resource"]
