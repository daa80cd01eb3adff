"""Issue 15 #4: detection memory is bounded on very large photos; normal photos unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from faceinspector.backend.detect import MTCNNDetector, match_faces

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_a_24_megapixel_photo_costs_less_than_600_mb():
    """~100 bytes per pixel before (2.4 GB here); the table of a downscaled copy now."""
    code = textwrap.dedent("""
        import json
        import numpy as np
        from faceinspector.backend.detect import MTCNNDetector

        def kb(key):
            return next(int(l.split()[1]) for l in open("/proc/self/status")
                        if l.startswith(key + ":"))

        det = MTCNNDetector("cpu")
        det.detect(np.zeros((120, 160, 3), np.uint8))
        h, w = 4000, 6000
        px = np.empty((h, w, 3), np.uint8)
        px[...] = (np.linspace(0, 120, h, dtype=np.float32)[:, None]
                   + np.linspace(0, 120, w, dtype=np.float32)[None]).astype(np.uint8)[..., None]
        open("/proc/self/clear_refs", "w").write("5")  # peak := now
        base = kb("VmRSS")
        faces = det.detect(px).faces
        print(json.dumps({"peak_mb": (kb("VmHWM") - base) / 1024, "faces": len(faces)}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["peak_mb"] < 600, r


def test_the_downscaled_table_finds_the_same_faces(demo_photos):
    exact = MTCNNDetector("cpu")
    for photo in demo_photos[:2]:
        px = photo.pixels
        small = MTCNNDetector("cpu", table_max_pixels=px.shape[0] * px.shape[1] // 4)
        a, b = exact.detect(px).faces, small.detect(px).faces
        m = match_faces([f.box for f in a], [f.box for f in b])
        assert len(a) == len(b) == len(m)
        assert min(x[2] for x in m) > 0.95
        assert max(float(np.abs(a[i].landmarks - b[j].landmarks).max()) for i, j, _ in m) < 4
