"""The worker pattern on real threads: results, errors, cancel, latest-wins, shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from faceinspector.gui.workers import Progress, WorkerPool, WorkerSlot


@pytest.fixture
def pool(qapp):
    p = WorkerPool()
    yield p
    p.shutdown()
    assert p.threads_running() == []


def test_function_result_and_error(qtbot, pool):
    slot = WorkerSlot(pool, "compute")
    results, errors = [], []
    slot.result.connect(results.append)
    slot.error.connect(errors.append)
    main = threading.get_ident()
    slot.submit(lambda x: (x * 2, threading.get_ident() != main), 21)
    qtbot.waitUntil(lambda: not slot.busy, timeout=5000)
    assert results == [(42, True)]  # ran on another thread, delivered here

    def boom():
        raise ValueError("bad\nthing")

    slot.submit(boom)
    qtbot.waitUntil(lambda: not slot.busy, timeout=5000)
    assert errors == ["ValueError: bad thing"]  # one line, no traceback


def test_generator_progress_and_cancel_between_steps(qtbot, pool):
    slot = WorkerSlot(pool, "detect")
    steps, results, progress = [], [], []
    slot.result.connect(results.append)
    slot.progress.connect(progress.append)

    def long_job(n):
        for i in range(n):
            time.sleep(0.02)
            steps.append(i)
            yield Progress(i + 1, n)
            yield i

    slot.submit(long_job, 500)
    qtbot.waitUntil(lambda: len(results) >= 3, timeout=5000)
    slot.cancel()
    assert not slot.busy  # the pane is idle at once
    qtbot.waitUntil(lambda: pool.active == 0, timeout=5000)
    assert len(steps) < 50  # the worker stopped early, between steps
    assert progress[0] == Progress(1, 500)
    n = len(results)
    qtbot.wait(100)
    assert len(results) == n  # nothing arrives after cancel


def test_latest_request_wins_and_stale_results_are_dropped(qtbot, pool):
    slot = WorkerSlot(pool, "compute")
    drawn = []
    slot.result.connect(drawn.append)
    gate = threading.Event()

    def slow(tag):
        gate.wait(5)
        return tag

    slot.submit(slow, "A")
    qtbot.wait(50)  # A is running on the lane
    gen_b = slot.submit(lambda: "B")
    assert slot.generation == gen_b
    gate.set()
    qtbot.waitUntil(lambda: not slot.busy and pool.active == 0, timeout=5000)
    assert drawn == ["B"]

    # A result already queued to the GUI thread when the next request comes is dropped too.
    slot.submit(lambda: "C")
    time.sleep(0.3)  # C finished on its lane; its result waits in our event queue
    slot.submit(lambda: "D")
    qtbot.waitUntil(lambda: not slot.busy and pool.active == 0, timeout=5000)
    assert drawn == ["B", "D"]
    assert pool.dropped + slot.dropped >= 1


def test_queued_requests_coalesce(qtbot, pool):
    slot = WorkerSlot(pool, "compute")
    ran, drawn = [], []
    slot.result.connect(drawn.append)

    def job(i):
        ran.append(i)
        time.sleep(0.05)
        return i

    for i in range(20):  # a slider drag
        slot.submit(job, i)
    qtbot.waitUntil(lambda: pool.active == 0, timeout=5000)
    assert drawn == [19]
    assert len(ran) <= 2  # superseded requests waiting in the lane were skipped


def test_shutdown_while_running(qtbot, qapp):
    pool = WorkerPool()
    slot = WorkerSlot(pool, "detect")

    def forever():
        while True:
            time.sleep(0.01)
            yield 1

    slot.submit(forever)
    qtbot.wait(50)
    assert pool.shutdown(timeout_ms=5000)
    assert pool.threads_running() == []
    assert slot.submit(lambda: 1) == slot.generation  # refused quietly after shutdown
