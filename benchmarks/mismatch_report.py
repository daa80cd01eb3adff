"""The full data-mismatch run of issue 8, and how long each stage takes.

    .venv/bin/python benchmarks/mismatch_report.py                 # all LFW images with a gender
    .venv/bin/python benchmarks/mismatch_report.py --limit 1000    # the README's balanced subset

Runs ``faceinspector experiment mismatch`` (default here: ``--limit 0``, i.e. all 6,913 LFW
images that have a gender label, and ``--out mismatch-full``; any other option is passed on), then
prints the README table and the time per stage. The test suite runs the same command on a tiny
subset (tests/backend/test_experiment.py). MTCNN's LFW landmarks are cached in the user cache
dir, so a second run skips detection.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faceinspector.cli import main  # noqa: E402


def run(argv: list[str]) -> int:
    args = list(argv)
    if "--limit" not in args:
        args += ["--limit", "0"]
    if "--out" not in args:
        args += ["--out", "mismatch-full"]
    t0 = time.perf_counter()
    rc = main(["experiment", "mismatch", *args])
    print(f"\nbenchmarks/mismatch_report.py: {time.perf_counter() - t0:.0f} s wall, exit {rc}")
    return rc


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
