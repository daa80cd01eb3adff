"""The progress bar the Mismatch, Evaluate and Verification panes share."""

from __future__ import annotations

import time

from faceinspector.backend.tasks import Progress
from faceinspector.gui.task_progress import TaskProgress


def test_task_progress_counts_rate_and_time_left(qtbot):
    bar = TaskProgress(rate_stages={"predict"})
    qtbot.addWidget(bar)
    assert bar.isHidden()
    bar.set_busy(True)
    assert bar.isVisible() and bar.maximum() == 0  # indeterminate until the first step
    bar._t0 = time.perf_counter() - 2.0  # the task started 2 s ago
    bar.show_progress(Progress(10, 30, "", "predict"))
    assert (bar.value(), bar.maximum()) == (10, 30)
    text = bar.format()
    assert text.startswith("predict: 10/30 · 5/s") and text.endswith(" s left")
    assert 3.0 <= float(text.split(" · ")[2].split()[0]) <= 4.5  # 20 left at ~5/s
    bar.show_progress(Progress(1, 2, "", "report"))  # another stage: counted, no rate
    assert bar.format() == "report: 1/2"
    bar.set_busy(False)
    assert bar.isHidden()


def test_task_progress_own_head_and_rate_format(qtbot):
    bar = TaskProgress(head=lambda p: f"embedded {p.done}/{p.total} images", rate_format="{:.1f}")
    qtbot.addWidget(bar)
    bar.start()
    bar._t0 -= 4.0
    bar.show_progress(Progress(10, 10, "", "embed"))
    assert bar.format().startswith("embedded 10/10 images · 2.")  # ~2.5/s, one decimal
    assert "left" not in bar.format()  # nothing left
