"""The backend must never import Qt (DESIGN.md rule 1), and the GUI-facing task modules must not
pull torch in at import time (the window is shown before torch loads).

Every backend module is discovered with ``pkgutil.walk_packages`` and imported in a fresh
process; a new module is covered without editing this file.
"""

import subprocess
import sys

QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6")


def run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def test_every_backend_module_imports_without_qt():
    lines = run(
        "import importlib, pkgutil, sys\n"
        "import faceinspector.backend as b\n"
        "names = [m.name for m in pkgutil.walk_packages(b.__path__, b.__name__ + '.')]\n"
        "for n in names:\n"
        "    importlib.import_module(n)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {QT!r})\n"
        "print(len(names))\n"
        "print(','.join(bad) or 'clean')\n")
    assert int(lines[-2]) >= 25  # the walk found the package's modules (28 when written)
    assert lines[-1] == "clean"


def test_task_modules_import_without_torch():
    """What the panes import at start-up: the task modules, their result types and the
    protocol. Torch is loaded later, on a worker lane."""
    lines = run(
        "import sys\n"
        "import faceinspector.backend.tasks, faceinspector.backend.types\n"
        "import faceinspector.backend.photos, faceinspector.backend.crops\n"
        "import faceinspector.backend.embeddings, faceinspector.backend.evaluate\n"
        "import faceinspector.backend.probe, faceinspector.backend.gallery\n"
        "import faceinspector.backend.triplets, faceinspector.backend.datasets\n"
        "import faceinspector.backend.saliency\n"
        "print('torch' in sys.modules)\n")
    assert lines[-1] == "False"
