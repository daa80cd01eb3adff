"""Locations inside the source tree (the project installs in editable mode)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
SHARED_DATA = ROOT.parent / "shared" / "data"
