"""The backend must never import Qt (DESIGN.md rule 1)."""

import subprocess
import sys


def test_backend_imports_without_qt():
    code = (
        "import sys, faceinspector.backend as b, faceinspector.backend.facade, "
        "faceinspector.backend.detect, faceinspector.backend.align, faceinspector.backend.images, "
        "faceinspector.backend.assets, faceinspector.cli\n"
        "import pkgutil, importlib, faceinspector.backend.models as m\n"
        "for info in pkgutil.iter_modules(m.__path__):\n"
        "    importlib.import_module('faceinspector.backend.models.' + info.name)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', "
        "'shiboken6'))\n"
        "print(','.join(bad) or 'clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "clean"
