"""Issue 16: batched MTCNN through ONNX Runtime finds the same faces as stock facenet-pytorch,
one photo or many at a time, and runs without torch once its ONNX exports are cached."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceinspector.backend import batching, detect, images, onnx_export
from faceinspector.backend.detect import MTCNNDetector, match_faces

ROOT = Path(__file__).resolve().parents[2]


def _stock_faces(stock, pixels):
    from PIL import Image

    boxes, probs, points = stock.detect(Image.fromarray(pixels), landmarks=True)
    if boxes is None:
        return [], []
    return list(boxes), list(points)


def _same_as_stock(ours, stock_dets):
    """(matched, total ours, total stock, min IoU, max landmark difference in px)."""
    n_a = n_b = matched = 0
    ious, lm = [], 0.0
    for det, (boxes, points) in zip(ours, stock_dets):
        m = match_faces([f.box for f in det.faces], boxes)
        n_a += len(det.faces)
        n_b += len(boxes)
        matched += len(m)
        ious += [x[2] for x in m]
        lm = max([lm] + [float(np.abs(det.faces[i].landmarks - points[j]).max())
                         for i, j, _ in m])
    return matched, n_a, n_b, min(ious), lm


@pytest.fixture(scope="module")
def stock():
    pytest.importorskip("facenet_pytorch")
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device="cpu")


@pytest.fixture(scope="module")
def onnx_detector():
    det = MTCNNDetector("cpu", engine="onnx")
    assert det.engine == "onnx", det.engine_note
    return det


def test_demo_photos_batched_equal_stock_and_single(onnx_detector, stock, demo_photos):
    pixels = [p.pixels for p in demo_photos]
    batched = onnx_detector.detect_many(pixels)
    single = [onnx_detector.detect(px) for px in pixels]
    matched, n_a, n_b, iou, lm = _same_as_stock(batched, [_stock_faces(stock, px)
                                                          for px in pixels])
    assert (matched, n_a, n_b) == (23, 23, 23)
    assert iou > 0.9995, iou  # "IoU 1.000"
    assert lm < 0.01, lm
    for a, b in zip(batched, single):  # a photo gets the same faces alone or in a batch
        assert [f.box for f in a.faces] == [f.box for f in b.faces]
        assert all(np.array_equal(x.landmarks, y.landmarks) for x, y in zip(a.faces, b.faces))


def test_200_lfw_images_batched_equal_stock(onnx_detector, stock, lfw_dev):
    files = sorted((lfw_dev / "lfw-deepfunneled").glob("*/*.jpg"))[::30][:200]
    pixels = [images.load_photo(f).pixels for f in files]
    ours = []
    for i in range(0, len(pixels), 32):  # batches of equal-size photos, as a data set runs
        ours += onnx_detector.detect_many(pixels[i:i + 32])
    matched, n_a, n_b, iou, lm = _same_as_stock(ours, [_stock_faces(stock, px)
                                                       for px in pixels])
    assert matched == n_a == n_b and n_a >= 200
    assert iou > 0.9995, iou
    assert lm < 0.01, lm


def test_torch_engine_finds_the_same_faces(onnx_detector, demo_photos):
    torch_det = MTCNNDetector("cpu", engine="torch")
    assert torch_det.engine == "torch"
    for photo in demo_photos[:2]:
        a, b = onnx_detector.detect(photo.pixels), torch_det.detect(photo.pixels)
        m = match_faces([f.box for f in a.faces], [f.box for f in b.faces])
        assert len(m) == len(a.faces) == len(b.faces)
        assert min(x[2] for x in m) > 0.9995


def test_exports_are_named_by_the_weights_and_checked():
    files = detect.onnx_files()
    weights = detect.weight_files()
    for name, path in files.items():
        digest = onnx_export.sha256_files([weights[name]])
        export_name, rewrite = detect.EXPORTS[name]
        assert path.name == f"{export_name}-{digest[:16]}.onnx"
        record = json.loads(path.with_name(path.name + ".json").read_text())
        assert record["sources_sha256"] == digest and record["rewrite"] == rewrite.__name__
        assert record["max_rel_abs_diff"] <= 1e-4
    assert detect.onnx_files(export=False) == files


def _ort_ops(data: bytes, tmp_path, tag: str) -> list[str]:
    """The operators of ``data`` after ONNX Runtime's graph optimisations (one thread)."""
    import onnx
    import onnxruntime as ort

    from faceinspector.backend import engines

    so = engines.session_options(1)
    so.optimized_model_filepath = str(tmp_path / f"{tag}.onnx")
    ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]


def test_prelu_rewrite_is_bit_exact_and_keeps_the_blocked_layout(tmp_path):
    """The nets' per-channel PReLUs written as ReLUs and 1x1 depthwise convolutions (and
    R-Net's first layer padded to 32 channels): the same outputs bit for bit, and ONNX Runtime
    no longer converts each layer's output out of its blocked layout and back (what made the
    plain exports slow)."""
    pytest.importorskip("torch")
    from faceinspector.backend import engines
    from faceinspector.backend.mtcnn_nets import export_examples, load_net

    rng = np.random.default_rng(1)
    for name, src in detect.weight_files().items():
        examples, dynamic = export_examples(name)
        plain = onnx_export.export_bytes(load_net(name, src), examples[0], dynamic,
                                         3 if name == "onet" else 2)
        rewritten = detect.EXPORTS[name][1](plain)
        a, b = engines.OrtNet(plain, name), engines.OrtNet(rewritten, name)
        side = {"pnet": 97, "rnet": 24, "onet": 48}[name]
        for x in [*examples, rng.normal(0, 1.5, (7, 3, side, side)).astype(np.float32)]:
            for u, v in zip(a.run(x, threads=1), b.run(x, threads=1)):
                assert np.array_equal(u, v), name
        before = _ort_ops(plain, tmp_path, f"{name}-plain")
        after = _ort_ops(rewritten, tmp_path, f"{name}-nchwc")
        reorders = [ops.count("ReorderOutput") + ops.count("ReorderInput")
                    for ops in (before, after)]
        assert "PRelu" in before and reorders[1] < reorders[0], (name, before, after)


def test_pnet_in_strips_equals_one_call():
    """Large pyramid levels go through P-Net in horizontal strips (cache-sized), small ones
    several images per call: the outputs are those of one call, bit for bit, including odd
    sizes where the pooling's ceil mode meets the last strip."""
    nets = detect._OrtNets()
    rng = np.random.default_rng(0)
    for n, h, w in [(1, 720, 1024), (2, 301, 333), (1, 97, 1200), (3, 151, 151), (1, 13, 12)]:
        x = rng.uniform(-1, 1, (n, 3, h, w)).astype(np.float32)
        whole = nets.nets["pnet"].run(x, threads=1)
        for max_pixels in (48_000, 2_000):
            pieces = detect._pnet_pieces(n, h, w, max_pixels)
            assert len(pieces) > 1 or h * w * n <= max_pixels or h < 20
            got = detect._pnet_join(pieces, [
                nets.piece("pnet", np.ascontiguousarray(x[i:j, :, lo:hi]), 1)
                for i, j, lo, hi, _ in pieces])
            for a, b in zip(whole, got):
                assert a.shape == b.shape and np.array_equal(a, b), (n, h, w, max_pixels)


def test_nms_is_torchvisions_including_ties():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 600))
        xy = rng.integers(0, 80, (n, 2)).astype(np.float32)
        wh = (rng.integers(1, 40, (n, 2)) + rng.random((n, 2)) * (trial % 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        scores = (rng.choice(np.array([0.9, 1.0, 0.95], np.float32), n) if trial % 3 == 0
                  else rng.random(n).astype(np.float32))
        for thr in (0.5, 0.7):
            ref = tv.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()
            assert np.array_equal(detect.nms(boxes, scores, thr), ref)


def test_detection_needs_no_torch():
    """With the exports cached (the test above made them), a backend detects without torch or
    torchvision: the app shows its first faces before torch has loaded (issue 18)."""
    detect.onnx_files()
    code = ("import sys, numpy as np\n"
            "from faceinspector.backend import Backend, assets, images\n"
            "b = Backend('cpu')\n"
            "det = b.detect_many([images.load_photo(assets.demo_photos()[0])])[0]\n"
            "print(len(det.faces), 'torch' in sys.modules, 'torchvision' in sys.modules,"
            " b.detector.engine)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["3", "False", "False", "onnx"]


class _Recorder:
    """A backend stand-in that records the batches detect_stream hands it."""

    def __init__(self, detector):
        self.detector, self.batches, self.threads = detector, [], []

    def detect_many(self, photos, threads=None):
        self.batches.append(len(photos))
        self.threads.append(threads)
        return self.detector.detect_many([p.pixels for p in photos], threads=threads)


def test_detect_stream_keeps_order_reports_errors_and_batches(onnx_detector, demo_paths,
                                                              tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    paths = [demo_paths[0], bad, *demo_paths[1:]]
    rec = _Recorder(onnx_detector)
    found = list(batching.detect_stream(rec, images.iter_photos(paths)))
    assert [f.path for f in found] == [Path(p) for p in paths]
    assert found[1].photo is None and found[1].faces is None and "broken.jpg" in found[1].error
    assert [len(f.faces) for f in found if f.photo is not None] == [3, 3, 3, 5, 5, 4]
    assert rec.batches[0] == 1  # the first photo is detected alone, at once
    assert sum(rec.batches) == 6
    # with several cores, the first batch gets them all, later ones run in one-thread lanes
    from faceinspector.backend import engines

    if engines.lanes_now() > 1:
        assert rec.threads[0] is None and set(rec.threads[1:]) == {1}


def test_detect_stream_lanes_keep_order_and_stop_when_closed(onnx_detector, lfw_dev):
    """Many small batches through parallel lanes come out in input order with the faces of
    one-at-a-time detection; closing the stream early stops the lanes."""
    import threading

    paths = sorted((lfw_dev / "lfw-deepfunneled").glob("*/*.jpg"))[::50][:40]
    rec = _Recorder(onnx_detector)
    found = list(batching.detect_stream(rec, images.iter_photos(paths), max_batch=3))
    assert [f.path for f in found] == [Path(p) for p in paths]
    for f in found[:8]:
        alone = onnx_detector.detect(f.photo.pixels).faces
        assert [g.box for g in f.faces] == [g.box for g in alone]
    stream = batching.detect_stream(rec, images.iter_photos(paths), max_batch=2)
    assert next(stream).path == Path(paths[0])
    lanes = [t for t in threading.enumerate() if t.name.startswith("faceinspector-detector-")]
    from faceinspector.backend import engines

    assert len(lanes) == (engines.lanes_now() if engines.lanes_now() > 1 else 0)
    stream.close()
    for t in lanes:
        t.join(10)
    assert not any(t.is_alive() for t in lanes)


def test_detect_stream_uses_the_cache_and_saves(onnx_detector, demo_paths):
    rec = _Recorder(onnx_detector)
    saved = {}
    cached = {Path(demo_paths[0]): ()}
    found = list(batching.detect_stream(
        rec, images.iter_photos(demo_paths[:3]), lookup=lambda p, _ph: cached.get(p),
        save=lambda p, _ph, faces: saved.setdefault(p, faces)))
    assert found[0].cached and found[0].faces == ()
    assert sum(rec.batches) == 2 and set(saved) == {Path(p) for p in demo_paths[1:3]}


def test_trim_heap_finds_glibcs_malloc_trim():
    """A data-set pass gives freed heap pages back every TRIM_EVERY photos (the resident size
    grew with the number of photos without it); on glibc that is malloc_trim, elsewhere
    nothing -- and never an error."""
    import platform

    batching.trim_heap()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert batching._TRIM[0] is not None and batching._TRIM[0](0) in (0, 1)


def test_prefetch_raises_the_readers_error_and_stops_on_close():
    def items():
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for x in batching.prefetch(items()):
            got.append(x)
    assert got == [1, 2]
    pulled = []

    def endless():
        i = 0
        while True:
            pulled.append(i)
            yield i
            i += 1

    it = batching.prefetch(endless(), depth=4)
    assert next(it) == 0
    it.close()
    import time

    time.sleep(0.3)
    n = len(pulled)
    time.sleep(0.3)
    assert len(pulled) == n <= 8  # bounded read-ahead, and the reader stopped


def test_cuda_engine_is_torch_and_finds_the_same_faces(demo_photos):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here (CI and the dev machine are CPU-only)")
    gpu = MTCNNDetector("cuda")
    assert gpu.engine == "torch"
    cpu = MTCNNDetector("cpu")
    for photo in demo_photos[:2]:
        a, b = gpu.detect(photo.pixels), cpu.detect(photo.pixels)
        m = match_faces([f.box for f in a.faces], [f.box for f in b.faces])
        assert len(m) == len(a.faces) == len(b.faces)
        assert min(x[2] for x in m) > 0.999
