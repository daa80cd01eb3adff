"""FaceInspector: see why a face model gets a photo wrong."""

import os

# Idle OpenMP threads busy-wait by default; on a small, shared CPU that starves the GUI thread
# and every other worker (a 2-crop forward measured 400 ms instead of 12-15 ms). Set before
# torch is imported anywhere in the package; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
