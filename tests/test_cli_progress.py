"""The command line's one progress printer (cli/common.py) on a stream that is not a terminal."""

from __future__ import annotations

import io

from faceinspector.backend import tasks
from faceinspector.cli.common import ProgressPrinter


def test_progress_lines_do_not_repeat_what_they_say():
    out = io.StringIO()
    printer = ProgressPrinter(stream=out, every=0.0, bar=False)
    info = {"loss": 0.125, "step": 52, "epoch": 0, "epochs": 15, "batch": 52, "batches": 140,
            "lr": 0.001, "device": "cpu", "flag": True}
    printer(tasks.Progress(52, 2100, "epoch 1/15", "train", info))
    line = out.getvalue().strip()
    assert line.startswith("train: 52/2100  epoch 1/15  loss 0.125")
    assert "batches 140" in line and "lr 0.001" in line
    # said already: the 0-based epoch and the epoch count (the text says "epoch 1/15"), the
    # step (it is the 52 of 52/2100); not numbers: left out
    for gone in ("epoch 0", "epochs 15", "step 52", "device", "flag"):
        assert gone not in line, gone
