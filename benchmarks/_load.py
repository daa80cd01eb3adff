"""The standard background load of the speed benchmarks (issue 16): one core kept busy by a plain
Python loop in another process, for as long as the ``with`` block lasts.

    from _load import busy_core, conditions
    for label in conditions(args.load):      # "quiet", then "one busy core"
        ...

A user's laptop is never idle; timings are printed quiet and under this load, and the compared
paths are interleaved within each so both see the same machine.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

LOOP = "while True:\n    pass\n"


@contextlib.contextmanager
def busy_core(cores: int = 1) -> Iterator[None]:
    """``cores`` processes spinning a Python loop (each keeps one core busy) during the block."""
    procs = [subprocess.Popen([sys.executable, "-c", LOOP]) for _ in range(cores)]
    try:
        time.sleep(0.3)  # let them start and the scheduler notice
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def conditions(mode: str) -> Iterator[str]:
    """``mode``: "both" (quiet, then one busy core), "quiet" or "busy"; yields the label of
    each condition while it holds."""
    if mode in ("both", "quiet"):
        yield "quiet"
    if mode in ("both", "busy"):
        with busy_core():
            yield "one busy core"


def add_load_arg(ap) -> None:
    ap.add_argument("--load", choices=["both", "quiet", "busy"], default="both",
                    help="run quiet, under one busy core (a Python loop in another process), "
                    "or both (default)")


def machine_line() -> str:
    la = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return f"{cpus} CPU cores; load average {la}"
