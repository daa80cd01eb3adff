"""Issue 16: the engine switch (ONNX Runtime vs torch, per model), the thread policy and the
lanes that chunked work runs on."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from faceinspector.backend import engines

#: per model: (chip side, tolerance of probabilities / embeddings, of values such as an age)
MODELS = {"dlib-gender": (32, 1e-4, 0), "dlib-age": (64, 1e-4, 1e-3),
          "dlib-resnet": (150, 1e-4, 0), "faceapi-agegender": (112, 1e-4, 1e-3),
          "faceapi-expression": (112, 1e-4, 0)}


def test_choose_and_forcing(monkeypatch):
    monkeypatch.delenv("FACEINSPECTOR_ENGINE", raising=False)
    assert engines.choose("dlib-gender", "cpu") == "onnx"
    assert engines.choose("celeba-cnn-naive", "cpu") == "torch"  # not in the table
    assert engines.choose("mtcnn", "cuda:0") == "torch"
    assert engines.choose("mtcnn", "cpu", "torch") == "torch"
    monkeypatch.setenv("FACEINSPECTOR_ENGINE", "torch")
    assert engines.choose("dlib-gender", "cpu") == "torch"
    with pytest.raises(ValueError, match="unknown engine 'tensorrt'"):
        engines.engine_setting("tensorrt")


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_onnx_engine_equals_the_torch_port(model_id):
    from faceinspector.backend import models as zoo

    side, tol, tol_values = MODELS[model_id]
    try:
        port = zoo.load(model_id, "cpu", engine="torch")
        fast = zoo.load(model_id, "cpu", engine="onnx")
    except Exception as exc:  # noqa: BLE001 - a missing pack
        pytest.skip(str(exc))
    assert (port.engine, fast.engine) == ("torch", "onnx"), fast.engine_note
    chips = np.random.default_rng(0).integers(0, 256, (37, side, side, 3), dtype=np.uint8)
    a, b = port.predict(chips), fast.predict(chips)
    for field in ("probs", "embeddings"):
        x, y = getattr(a, field), getattr(b, field)
        if x is not None:
            assert x.shape == y.shape and np.abs(x - y).max() <= tol
    if a.values is not None:
        assert np.abs(a.values - b.values).max() <= tol_values


def test_backend_engine_switch(monkeypatch):
    from faceinspector.backend import Backend

    monkeypatch.delenv("FACEINSPECTOR_ENGINE", raising=False)
    b = Backend("cpu", engine="torch")
    assert b.detector.engine == "torch" and b.model("dlib-gender").engine == "torch"
    monkeypatch.setenv("FACEINSPECTOR_ENGINE", "onnx")
    b = Backend("cpu")
    assert b.engines_in_use() == {"mtcnn": "onnx"}
    b.model("dlib-gender")
    assert b.engines_in_use()["dlib-gender"] == "onnx"


def test_the_cli_has_one_engine_switch(monkeypatch):
    from faceinspector import cli

    monkeypatch.delenv("FACEINSPECTOR_ENGINE", raising=False)
    args = cli.build_parser().parse_args(["eval", "lfw", "--engine", "torch"])
    assert args.engine_choice == "torch"
    args = cli.build_parser().parse_args(["detect", "x.jpg", "--engine", "onnx"])
    assert args.engine_choice == "onnx"


def test_threads_follow_the_environment_and_the_cap(monkeypatch):
    monkeypatch.setenv("FACEINSPECTOR_THREADS", "3")
    assert engines.threads_now() == 3 and engines.lanes_now() == 3
    monkeypatch.delenv("FACEINSPECTOR_THREADS")
    old = engines.thread_cap()
    try:
        engines.set_thread_cap(1)
        assert engines.threads_now() == 1 and engines.lanes_now() == 1
    finally:
        engines.set_thread_cap(old)
    assert 1 <= engines.threads_now() <= len(engines.allowed_cpus())


@pytest.mark.skipif(len(engines.allowed_cpus()) < 2, reason="needs two cores")
def test_a_busy_core_takes_a_thread_away(monkeypatch):
    monkeypatch.delenv("FACEINSPECTOR_THREADS", raising=False)
    busy = subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"])
    try:
        time.sleep(0.5)
        mon = engines.CoreMonitor(first_wait=0.5)
        assert mon.others_busy() >= 0.6  # the loop's core (other processes may add more)
        monkeypatch.setattr(engines, "_MONITOR", mon)
        assert engines.threads_now() <= len(engines.allowed_cpus()) - 1
    finally:
        busy.kill()
        busy.wait()


def test_sessions_never_spin():
    so = engines.session_options(2)
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert so.intra_op_num_threads == 2 and so.inter_op_num_threads == 1


def test_subnormals_are_flushed_per_thread_and_change_no_answer(monkeypatch):
    """dlib's age network passes through subnormal floats (3.5x slower without the flush);
    flushing them is per thread, and the model's answers stay the same."""
    torch = pytest.importorskip("torch")
    from faceinspector.backend import models as zoo

    assert engines.session_options(1).get_session_config_entry(
        "session.set_denormal_as_zero") == "1"
    try:
        age = zoo.load("dlib-age", "cpu", engine="onnx")
    except Exception as exc:  # noqa: BLE001 - a missing pack
        pytest.skip(str(exc))
    chips = np.random.default_rng(1).integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    out = {}

    def in_thread(flush: bool):
        torch.set_flush_denormal(False)  # a new thread starts with its creator's setting
        tiny = np.array([1e-39], np.float32)
        if flush:
            assert engines.flush_denormals() is True
        out[flush] = (float((tiny * np.float32(1.0))[0]), age.predict(chips))

    real = engines.flush_denormals
    for flush in (False, True):
        # without the flush: predict and OrtNet.run must not turn it on either
        monkeypatch.setattr(engines, "flush_denormals", real if flush else (lambda: False))
        t = threading.Thread(target=in_thread, args=(flush,))
        t.start()
        t.join()
    assert out[False][0] > 0 and out[True][0] == 0.0  # subnormal kept / flushed to zero
    assert np.abs(out[False][1].probs - out[True][1].probs).max() <= 1e-6
    assert np.abs(out[False][1].values - out[True][1].values).max() <= 1e-4


def test_flushing_subnormals_while_torch_is_still_importing_is_skipped(monkeypatch):
    """The GUI imports torch on one thread while another detects photos: the flush must wait
    for a torch that is whole, not fail the detection (it did, on a half-imported torch)."""
    import importlib.machinery
    import sys
    import types

    half = types.ModuleType("torch")  # what sys.modules holds mid-import: no functions yet
    half.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    half.__spec__._initializing = True
    monkeypatch.setitem(sys.modules, "torch", half)
    got = []
    t = threading.Thread(target=lambda: got.append(engines.flush_denormals()))
    t.start()
    t.join()
    assert got == [False]
    half.__spec__._initializing = False  # imported, but not torch's API: still no error
    t = threading.Thread(target=lambda: got.append(engines.flush_denormals()))
    t.start()
    t.join()
    assert got == [False, False]


def test_run_chunks_order_errors_and_nesting():
    assert engines.run_chunks(lambda i: i * i, 9, 3) == [i * i for i in range(9)]

    def boom(i):
        if i == 4:
            raise KeyError("chunk 4")
        return i

    with pytest.raises(KeyError, match="chunk 4"):
        engines.run_chunks(boom, 8, 2)
    # a chunk that itself runs chunks (a model inside a lane) never deadlocks
    nested = engines.run_chunks(lambda i: sum(engines.run_chunks(lambda j: j, 4, 2)), 6, 2)
    assert nested == [6] * 6
    # helpers really run in parallel threads
    seen = set()
    engines.run_chunks(lambda i: (seen.add(threading.get_ident()), time.sleep(0.05)), 8, 2)
    assert len(seen) >= 1


def test_cuda_runs_torch_and_agrees_with_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here (CI and the dev machine are CPU-only)")
    from faceinspector.backend import Backend

    gpu, cpu = Backend("cuda"), Backend("cpu")
    chips = np.random.default_rng(0).integers(0, 256, (8, 150, 150, 3), dtype=np.uint8)
    a = gpu.run_model("dlib-resnet", chips).embeddings
    b = cpu.run_model("dlib-resnet", chips).embeddings
    assert gpu.model("dlib-resnet").engine == "torch" and gpu.detector.engine == "torch"
    assert np.abs(a - b).max() < 1e-3
