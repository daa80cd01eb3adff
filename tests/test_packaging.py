"""Installs like real software (issue 14): the shipped files are package data, found through
importlib.resources in every install mode; the wheel carries them; nothing in the package finds
files relative to the source tree; every dependency has a tested upper bound.

The installed wheel itself is exercised by ``.ci/smoke`` (CI runs it after ``make test``): a
fresh virtual environment outside the source tree, the CLI commands and the window.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "faceinspector"


def shipped_files() -> list[str]:
    """Every file of the top-level resources/ folder (the product's shipped files)."""
    return sorted(p.relative_to(ROOT / "resources").as_posix()
                  for p in (ROOT / "resources").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def test_resources_are_package_data_found_through_importlib_resources():
    from faceinspector import _paths
    from faceinspector.backend import assets
    from faceinspector.backend.models import demo
    from faceinspector.backend.vae import checkpoint

    root = files("faceinspector.resources")
    assert Path(str(root)) == _paths.RESOURCES
    for name in shipped_files():
        assert root.joinpath(name).is_file(), name
    assert assets.MANIFEST_PATH == _paths.resource("models.json")
    assert demo.CHECKPOINT_DIR == _paths.resource("demo-models")
    assert checkpoint.default_checkpoint_path() == _paths.resource(
        "vae", "vae_celeba64.safetensors")
    assert "demo-photos" in assets.manifest()["models"]


def test_no_code_finds_files_relative_to_the_source_tree():
    """No module climbs out of the package from ``__file__`` (the source tree is not there once
    installed), and none names the repository's resources/ folder by a path."""
    climbs = re.compile(r"__file__.*(parents\[\d|parent\.parent)|ROOT\s*/\s*[\"']resources")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in sorted(PACKAGE.rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if climbs.search(line)]
    assert not hits, hits
    text = (PACKAGE / "_paths.py").read_text(encoding="utf-8")
    assert "importlib.resources" in text and "__file__" not in text


def test_the_wheel_carries_every_shipped_file(tmp_path):
    """``pip wheel .`` of (a copy of) this tree: the resources and every module are in it."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache", "docs", "benchmarks",
                                    "tests")
    shutil.copytree(ROOT, src, ignore=ignore)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-q", str(src), "-w", str(tmp_path / "dist")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (whl,) = (tmp_path / "dist").glob("faceinspector-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    missing = [f for f in shipped_files() if f"faceinspector/resources/{f}" not in names]
    assert not missing, missing
    modules = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    assert not modules - names, sorted(modules - names)[:10]
    assert not [n for n in names if n.startswith(("resources/", "tests/", "benchmarks/"))]
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "faceinspector = faceinspector.__main__:main" in zipfile.ZipFile(whl).read(
        entry).decode()


def test_every_dependency_has_a_tested_upper_bound():
    """Each direct dependency has an upper bound (or an exact pin), and the installed release
    that make test runs with is inside it."""
    from importlib.metadata import version

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    for text in reqs:
        req = Requirement(text)
        assert any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier), text
        try:
            installed = version(req.name)
        except Exception:  # noqa: BLE001 - not installed here: nothing to check it against
            pytest.fail(f"{req.name} is not installed, so its bound is untested")
        assert req.specifier.contains(installed, prereleases=True), (text, installed)


def test_ci_builds_installs_and_smoke_tests_the_wheel():
    """.ci/run runs make test, then .ci/smoke: the wheel in a fresh venv, outside the tree."""
    run = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
           if ln.strip() and not ln.startswith("#")]
    assert run.index("make test") < run.index(".ci/smoke")
    smoke = (ROOT / ".ci" / "smoke").read_text()
    for step in ("pip wheel --no-deps", "-m venv", 'pip install "$whl"', 'cd "$work"',
                 "--version", "models list", "models fetch", " detect ", " probe ",
                 "train vae", "eval lfw", "train demo", "experiment mismatch",
                 "FACEINSPECTOR_QUIT_AFTER_PAINT=1", "smoke_gui.py"):
        assert step in smoke, step
    assert (ROOT / ".ci" / "smoke").stat().st_mode & 0o111


def test_readme_says_how_to_install_both_ways():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ("make run", "make test", "pipx install .", "pip wheel --no-deps . -w dist/",
                   "pip install dist/faceinspector-", "faceinspector models fetch",
                   "FACEINSPECTOR_CELEBA", "FACEINSPECTOR_LFW", "FACEINSPECTOR_TEST_DATA"):
        assert needle in text, needle
