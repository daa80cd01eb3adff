"""The package's layering, as import-linter contracts in pyproject.toml (``lint-imports``):
GUI and CLI above the studies, the figures and the backend; no Qt and no plotting in the
backend; the GUI reaches the backend only through its public modules."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    out = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 4 kept, 0 broken." in out.stdout, out.stdout


def test_every_backend_module_is_public_or_private_and_the_readme_says_which():
    """Each backend module is either one the GUI may import (listed in the README) or one the
    import-linter contract forbids it; a new module must be put on one side."""
    import pkgutil
    import re

    import faceinspector.backend as b

    import pytest

    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in cfg["tool"]["importlinter"]["contracts"]
                    if c["name"].startswith("The GUI reaches the backend"))
    private = {m.rsplit(".", 1)[1] for m in contract["forbidden_modules"]}
    modules = {m.name for m in pkgutil.iter_modules(b.__path__)}
    readme = (ROOT / "README.md").read_text()
    sentence = re.search(r"The GUI may import these backend modules and no others:(.*?)—",
                         readme, re.S).group(1)
    public = set(re.findall(r"`([a-z_]+)`", sentence))
    assert modules == public | private, (modules - public - private, (public | private) - modules)
    assert not public & private
