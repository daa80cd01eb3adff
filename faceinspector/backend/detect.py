"""MTCNN face detection: boxes, scores and five landmarks in original-photo coordinates.

The networks are facenet-pytorch's P-, R- and O-Net (weights from the verified ``facenet-pytorch``
pack). The cascade follows facenet-pytorch's ``detect_face`` step for step, in numpy, with these
changes (issue 16 and before):

* stage 1 skips pyramid levels larger than ``max_side`` (faces smaller than about
  20 * longest side / ``max_side`` px are not searched for); stages 2 and 3 crop the
  full-resolution photo, so boxes and landmarks are as precise as a full run;
* every area resize (pyramid levels, the candidate boxes of stages 2 and 3) is read from one
  float64 summed-area table per photo, vectorised over all boxes: the same arithmetic as
  ``interpolate(mode="area")`` (adaptive average pooling), so the same numbers;
* **photos go through the cascade together** (:meth:`MTCNNDetector.detect_many`): small
  pyramid levels of photos of equal size (a data set's usual case) share P-Net calls, large
  ones go in horizontal strips (:func:`_pnet_pieces`, the same numbers), and every piece,
  crop batch and table plane is a job on parallel one-thread lanes. Non-maximum suppression
  stays per photo, so a photo gets the same faces alone or in a batch;
* the networks run on the fastest engine for the device
  (:func:`faceinspector.backend.engines.choose`): ONNX Runtime on CPU (their ONNX exports are
  made once from the torch modules, rewritten so that ONNX Runtime keeps its blocked
  convolution layout (:data:`EXPORTS`: PReLUs as ReLUs and depthwise convolutions, R-Net's
  first layer padded to 32 channels; the same numbers), checked equal within 1e-4, and cached
  next to the pack), torch on CUDA. With the ONNX exports cached, detection imports neither
  torch nor torchvision (the app shows its first faces before torch has loaded).

The boxes are those of stock facenet-pytorch (IoU 1.000 on the demo photos and 200 LFW images,
``tests/backend/test_detect_batch.py``; ``benchmarks/detect.py``).

Memory: the summed-area table is uint32 (12 bytes per pixel; exact, see ``_Table``), built in
place. A photo larger than :data:`TABLE_MAX_PIXELS` is first area-downscaled to that many
pixels and a float64 table built from the copy, so detecting in a 60 Mpx photo costs well under
1 GB above the photo itself (``benchmarks/detect_memory.py``); photos up to that size use the
table of the full photo, with the exact arithmetic of stock facenet-pytorch. A batch holds at
most :data:`BATCH_MAX_PIXELS` pixels of photos.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

from . import assets, engines, onnx_export
from .cascade import (TABLE_MAX_PIXELS, _bbreg, _EMPTY5, _generate, _rerec,  # noqa: F401
                      _resized_many, _Table, nms, nms_min)
from .types import Detection, Face
#: :meth:`MTCNNDetector.detect_many` splits a batch so that the photos of one part hold at most
#: this many pixels (their tables: 24 bytes per pixel)
BATCH_MAX_PIXELS = 8_000_000
#: rows per R-Net / O-Net call (keeps the activations cache-sized; chunks run in parallel lanes,
#: see :func:`faceinspector.backend.engines.run_chunks`)
CROP_CHUNK = {"rnet": 64, "onet": 16}
#: P-Net calls take about this many pixels of pyramid level: several small levels of photos
#: of one size, or one horizontal strip of a large level (:func:`_pnet_pieces`), so that the
#: first layer's output (16 floats per pixel) stays in the core's cache; one image of LFW's
#: largest level takes 1.3 ms on one core, eight at once 1.6 ms each, a 720 x 1024 level
#: 86 ms whole and 58 ms in strips
PNET_CHUNK_PIXELS = 48_000

PACK = "facenet-pytorch"
NET_FILES = {"pnet": "pnet.pt", "rnet": "rnet.pt", "onet": "onet.pt"}


def _cuda_impossible() -> bool:
    """True when this machine certainly has no CUDA GPU (Linux without NVIDIA device nodes,
    or CUDA hidden): "auto" then means CPU without importing torch."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return True
    if os.name != "posix" or not Path("/dev").is_dir():
        return False
    return not any(Path("/dev").glob("nvidia[0-9]*"))


def device_name(device=None) -> str:
    """``pick_device`` as a string ("cpu", "cuda", "cuda:1"), without importing torch when
    the answer is plainly the CPU."""
    if device is None or str(device) == "auto":
        if _cuda_impossible():
            return "cpu"
    elif str(device) == "cpu":
        return "cpu"
    return str(pick_device(device))


def pick_device(device=None):
    """``None`` or "auto" -> CUDA when available, else CPU; "cpu", "cuda" or "cuda:N" as given.

    Returns a ``torch.device``. Raises ``ValueError`` (one line for the user) for an unknown
    device or a CUDA device that this machine does not have.
    """
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {str(device)!r}; use auto, cpu, cuda or cuda:N") \
            from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {str(device)!r} is not supported; use auto, cpu, cuda or "
                         "cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was asked for, but no CUDA GPU is "
                             "available here; use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    return dev


# ------------------------------------------------------------------------------ the networks


def weight_files() -> dict[str, Path]:
    """The verified P/R/O-Net weight files (raises AssetError naming the fix)."""
    return {k: assets.path(PACK, f) for k, f in NET_FILES.items()}


def _pad_and_relu(data: bytes) -> bytes:
    """R-Net's export: its first layer padded from 28 to 32 channels, then its PReLUs
    rewritten (both for ONNX Runtime's blocked layout; the same outputs bit for bit)."""
    return onnx_export.prelu_as_relu(onnx_export.pad_first_conv(data))


#: the exports' names and the rewrites that make them (the plain exports, from before the
#: rewrites, were named after the net alone). P-Net is not padded: 10 -> 16 channels gains 1 %
#: and changes its sums' rounding.
EXPORTS = {"pnet": ("pnet-nchwc", onnx_export.prelu_as_relu),
           "rnet": ("rnet-nchwc32", _pad_and_relu),
           "onet": ("onet-nchwc", onnx_export.prelu_as_relu)}


def onnx_files(export: bool = True) -> dict[str, Path] | None:
    """``{"pnet": path, "rnet": path, "onet": path}``: the nets' ONNX exports in the model
    cache (``<pack>/onnx/<export name>-<sha256 of the weights>.onnx``, :data:`EXPORTS`).
    Missing ones are exported (needs torch; checked against the torch modules) when
    ``export``, else None is returned."""
    files = weight_files()
    out = {}
    for name, src in files.items():
        export_name, rewrite = EXPORTS[name]
        path = onnx_export.export_path(PACK, export_name, [src])
        if not path.is_file():
            if not export:
                return None

            def build(name=name, src=src):
                from .mtcnn_nets import export_examples, load_net

                examples, dynamic = export_examples(name)
                return load_net(name, src), examples, dynamic

            path = onnx_export.cached_export(PACK, export_name, [src], build,
                                             tolerance=1e-4, rewrite=rewrite)
        out[name] = path
    return out


class _OrtNets:
    """The three nets through ONNX Runtime: numpy in, list of numpy arrays out."""

    engine = "onnx"

    def __init__(self) -> None:
        files = onnx_files()
        self.nets = {k: engines.OrtNet(p, k, chunk=CROP_CHUNK.get(k)) for k, p in files.items()}

    def __call__(self, name: str, x: np.ndarray, threads: int | None,
                 chunk: int | None = None) -> list[np.ndarray]:
        return self.nets[name].run(x, threads=threads, chunk=chunk)

    def jobs(self, fn, n: int, threads: int | None) -> list:
        """``[fn(0, t), ..., fn(n - 1, t)]``: in :func:`~.engines.lanes_now` parallel lanes
        with one-thread sessions (``t`` = 1), or one after another with ``threads``."""
        if threads is not None or n <= 1:
            t = threads if threads is not None else engines.threads_now()
            return [fn(i, t) for i in range(n)]
        return engines.run_chunks(lambda i: fn(i, 1), n, engines.lanes_now())

    def piece(self, name: str, x: np.ndarray, threads: int) -> list[np.ndarray]:
        """One call of net ``name`` with ``threads`` intra-op threads."""
        engines.flush_denormals()  # this thread runs a one-thread session's work itself
        net = self.nets[name]
        session = net.session(threads)
        return session.run(None, {net.input_name: x})


class _TorchNets:
    """The three torch modules on ``device``: numpy in, list of numpy arrays out."""

    engine = "torch"

    def __init__(self, device: str) -> None:
        from .mtcnn_nets import load_net

        files = weight_files()
        self.device = device
        self.nets = {k: load_net(k, files[k]).to(device) for k in files}

    def jobs(self, fn, n: int, threads: int | None) -> list:
        return [fn(i, threads) for i in range(n)]  # one at a time: torch threads are global

    def piece(self, name: str, x: np.ndarray, threads: int | None) -> list[np.ndarray]:
        return self(name, x, threads, len(x) or 1)

    def __call__(self, name: str, x: np.ndarray, threads: int | None,
                 chunk: int | None = None) -> list[np.ndarray]:
        import torch

        if self.device == "cpu":
            engines.apply_torch_threads(threads or engines.threads_now())
        net = self.nets[name]
        chunk = chunk or CROP_CHUNK.get(name) or len(x) or 1
        outs = []
        with torch.inference_mode():
            for i in range(0, max(len(x), 1), chunk):
                t = torch.from_numpy(np.ascontiguousarray(x[i:i + chunk])).to(self.device)
                outs.append([o.float().cpu().numpy() for o in net(t)])
        return [np.concatenate(p) for p in zip(*outs)]


def _pnet_pieces(n: int, h: int, w: int, max_pixels: int) -> list[tuple]:
    """How P-Net takes ``n`` images of ``h`` x ``w``: ``[(first image, end image, first input
    row, end input row, first output row), ...]``. Small levels: several whole images per
    piece (at most ``max_pixels`` pixels); large ones: each image in horizontal strips of
    about ``max_pixels``. P-Net's output row ``r`` sees input rows ``2r .. 2r + 11`` (3x3
    conv, 2x2/2 pool, two 3x3 convs), so a strip of output rows [a, b) needs input rows
    [2a, 2b + 10) -- the last strip runs to the image's end, where the pooling's ceil mode
    applies as in one call -- and every output cell is computed from the same inputs with the
    same operations as in one call (the same numbers, ``tests/backend/test_detect_batch.py``).
    """
    out_h = (h - 1) // 2 - 4  # conv 3x3 (h - 2), pool 2x2/2 ceil, two 3x3 convs
    if h * w <= max_pixels or out_h < 8:
        per = max(1, max_pixels // max(1, h * w))
        return [(i, min(n, i + per), 0, h, 0) for i in range(0, n, per)]
    rows = max(4, (max_pixels // w - 10) // 2)  # output rows per strip
    pieces = []
    for i in range(n):
        for a in range(0, out_h, rows):
            b = min(out_h, a + rows)
            pieces.append((i, i + 1, 2 * a, h if b == out_h else 2 * b + 10, a))
    return pieces


def _pnet_join(pieces: list[tuple], outs: list) -> list[np.ndarray]:
    """P-Net's outputs of :func:`_pnet_pieces`' pieces put together as one call's."""
    if all(lo == 0 for _, _, lo, _, _ in pieces) and len(pieces) == len({p[0] for p in pieces}):
        return [np.concatenate(o) for o in zip(*outs)]  # whole images
    result = []
    for k in range(len(outs[0])):
        n = pieces[-1][1]
        out_h = max(a + o[k].shape[2] for (_, _, _, _, a), o in zip(pieces, outs))
        first = outs[0][k]
        arr = np.empty((n, first.shape[1], out_h, first.shape[3]), first.dtype)
        for (i, j, _, _, a), o in zip(pieces, outs):
            arr[i:j, :, a:a + o[k].shape[2]] = o[k]
        result.append(arr)
    return result


def _crop_net(run, name: str, tables, boxes: list[np.ndarray], size: int,
              threads: int | None) -> list[list[np.ndarray] | None]:
    """Every photo's boxes cut from its table at ``size`` x ``size`` and through net ``name``,
    in jobs of :data:`CROP_CHUNK` boxes of one photo (each cuts its crops and runs the net on
    them while they are in the cache; the jobs run in parallel lanes). Returns the net's
    outputs per photo (None for a photo without crops); ``boxes[i]`` keeps only the boxes
    that gave a crop (in place)."""
    chunk = CROP_CHUNK[name]
    jobs = []
    for i, table in enumerate(tables):
        boxes[i] = boxes[i][table.inside(boxes[i])]
        jobs += [(i, a, min(a + chunk, len(boxes[i]))) for a in range(0, len(boxes[i]), chunk)]

    def job(k: int, t: int | None) -> list[np.ndarray]:
        i, a, b = jobs[k]
        return run.piece(name, tables[i].cut(boxes[i][a:b], size), t)

    outs = run.jobs(job, len(jobs), threads)
    per: list[list] = [[] for _ in tables]
    for (i, _, _), out in zip(jobs, outs):
        per[i].append(out)
    return [[np.concatenate(o) for o in zip(*p)] if p else None for p in per]


class MTCNNDetector:
    """MTCNN that batches photos and scales large ones down for the cheap stage.

    Parameters
    ----------
    device : "auto" (default), "cpu", "cuda", ...
    max_side : longest side, in pixels, of the largest pyramid level (0 = full size).
    min_face : smallest face, in pixels of that copy, the pyramid looks for (MTCNN's minsize).
    thresholds : P/R/O-Net score thresholds (facenet-pytorch's defaults).
    table_max_pixels : photos larger than this are downscaled to it before the summed-area
        table is built (bounds the memory; see :data:`TABLE_MAX_PIXELS`; 0 = never).
    engine : "auto" (ONNX Runtime on CPU, torch on CUDA), "torch" or "onnx"
        (``$FACEINSPECTOR_ENGINE``); an ONNX export that does not match its torch module falls
        back to torch (:attr:`engine_note` says why).
    """

    def __init__(self, device=None, max_side: int = 1024, min_face: int = 20,
                 thresholds=(0.6, 0.7, 0.7), factor: float = 0.709,
                 table_max_pixels: int = TABLE_MAX_PIXELS, engine: str | None = None):
        self.device = device_name(device)
        self.table_max_pixels = int(table_max_pixels)
        self.max_side = int(max_side)
        self.min_face = int(min_face)
        self.thresholds = tuple(thresholds)
        self.factor = factor
        self.requested_engine = engines.engine_setting(engine)
        self.engine_note = ""
        self._nets = self._load(self.device)
        self._lock = threading.Lock()

    def _load(self, device: str):
        engine = engines.choose("mtcnn", device, self.requested_engine)
        if engine == "onnx":
            try:
                return _OrtNets()
            except assets.AssetError:
                raise
            except Exception as exc:  # noqa: BLE001 - the torch modules still work
                self.engine_note = " ".join(str(exc).split()) or type(exc).__name__
        return _TorchNets(device)

    @property
    def engine(self) -> str:
        return self._nets.engine

    def to(self, device) -> "MTCNNDetector":
        self.device = device_name(device)
        self._nets = self._load(self.device)
        return self

    def detect(self, pixels: np.ndarray) -> Detection:
        """Detect faces in an RGB uint8 (H, W, 3) photo."""
        return self.detect_many([pixels])[0]

    def detect_many(self, photos, threads: int | None = None) -> list[Detection]:
        """Detect faces in several RGB uint8 photos at once; one :class:`Detection` per photo,
        each the same as :meth:`detect` would give it alone. ``threads``: intra-op threads
        (default: :func:`~faceinspector.backend.engines.threads_now` for one call, parallel
        one-thread lanes for calls split in chunks)."""
        photos = list(photos)
        for px in photos:
            if px.ndim != 3 or px.shape[2] != 3 or px.dtype != np.uint8:
                raise ValueError("detect() expects an RGB uint8 array of shape (H, W, 3)")
        out: list[Detection] = []
        for part in _split(photos, BATCH_MAX_PIXELS):
            t0 = time.perf_counter()
            if self.engine == "torch":
                with self._lock:  # torch's thread count is global to the process
                    results = self._cascade(part, threads)
            else:  # ONNX Runtime sessions may run from several threads at once
                results = self._cascade(part, threads)
            secs = (time.perf_counter() - t0) / max(1, len(part))
            for boxes, points, scale in results:
                faces = tuple(
                    Face(box=tuple(float(v) for v in b[:4]), score=float(b[4]),
                         landmarks=np.asarray(p, np.float32))
                    for b, p in zip(boxes, points))
                faces = tuple(sorted(faces, key=lambda f: (f.box[0], f.box[1])))
                out.append(Detection(faces=faces, detect_scale=scale, seconds=secs))
        return out

    # ------------------------------------------------------------------------------ cascade

    def _scales(self, h: int, w: int) -> tuple[list[float], float]:
        limit = 1.0
        if self.max_side and max(h, w) > self.max_side:
            limit = self.max_side / max(h, w)
        m = 12.0 / self.min_face
        minl = min(h, w) * m
        scales = []
        s = m
        while minl >= 12:
            if s <= limit + 1e-9:
                scales.append(s)
            s *= self.factor
            minl *= self.factor
        return scales, limit

    def _cascade(self, photos: list[np.ndarray], threads: int | None):
        run = self._nets
        thr = self.thresholds
        n = len(photos)
        limits = [1.0] * n
        groups: dict[tuple[int, int], list[int]] = {}
        for i, px in enumerate(photos):
            groups.setdefault(px.shape[:2], []).append(i)
        # photos of one size (exact tables) share one stacked table: a pyramid level of all of
        # them is one gather
        tables: list[_Table | None] = [None] * n
        stacks: dict[tuple[int, int], np.ndarray] = {}
        for (h, w), members in groups.items():
            if len(members) > 1 and (not self.table_max_pixels
                                     or h * w <= self.table_max_pixels):
                stack = stacks[h, w] = np.empty((len(members), 3, h + 1, w + 1), np.uint32)
                for k, i in enumerate(members):
                    tables[i] = _Table(photos[i], self.table_max_pixels, out=stack[k],
                                       defer=True)
            else:
                for i in members:
                    tables[i] = _Table(photos[i], self.table_max_pixels, defer=True)
        planes = [(t, k) for t in tables for k in t.pending]  # built in parallel lanes
        run.jobs(lambda j, _t: planes[j][0].fill(planes[j][1]), len(planes), threads)
        for t in tables:
            t.done()

        # Stage 1: P-Net over facenet-pytorch's image pyramid (minus the levels larger than
        # max_side). Each job makes one piece of a level (several small photos of one size, or
        # a horizontal strip of a large one: _pnet_pieces) from the tables and runs P-Net on
        # it while it is in the cache; the jobs run in parallel lanes.
        levels = []  # (size, members, scale, oh, ow, first job, pieces)
        jobs = []
        for (h, w), members in groups.items():
            scales, limit = self._scales(h, w)
            for i in members:
                limits[i] = limit
            for sc in scales:
                oh, ow = int(h * sc + 1), int(w * sc + 1)
                pieces = _pnet_pieces(len(members), oh, ow, PNET_CHUNK_PIXELS)
                levels.append(((h, w), members, sc, oh, ow, len(jobs), pieces))
                jobs += [((h, w), members, oh, ow, p) for p in pieces]
        inexact: dict[tuple, np.ndarray] = {}
        inexact_lock = threading.Lock()

        def level_part(size, members, oh, ow, piece) -> np.ndarray:
            i0, i1, lo, hi, _ = piece
            if size in stacks:
                return _resized_many(stacks[size][i0:i1], *size, oh, ow, rows=(lo, hi))
            parts = []
            for i in members[i0:i1]:
                t = tables[i]
                if t.exact:
                    parts.append(_resized_many(t.sat[None], t.h, t.w, oh, ow, rows=(lo, hi))[0])
                    continue
                with inexact_lock:  # a photo above TABLE_MAX_PIXELS: its level made once
                    if (i, oh, ow) not in inexact:
                        inexact[i, oh, ow] = t.resized(oh, ow)
                parts.append(inexact[i, oh, ow][:, lo:hi])
            return np.ascontiguousarray(np.stack(parts))

        def job(k: int, t: int | None) -> list[np.ndarray]:
            size, members, oh, ow, piece = jobs[k]
            return run.piece("pnet", level_part(size, members, oh, ow, piece), t)

        outs = run.jobs(job, len(jobs), threads)
        found: list[list[np.ndarray]] = [[] for _ in range(n)]
        for _, members, sc, _, _, first, pieces in levels:
            reg, probs = _pnet_join(pieces, outs[first:first + len(pieces)])
            for k, i in enumerate(members):
                b = _generate(reg[k], probs[k, 1], sc, thr[0])
                found[i].append(b[nms(b[:, :4], b[:, 4], 0.5)])
        boxes = []
        for i in range(n):
            b = np.concatenate(found[i]) if found[i] else np.zeros((0, 9), np.float32)
            b = b[nms(b[:, :4], b[:, 4], 0.7)]
            regw = b[:, 2] - b[:, 0]
            regh = b[:, 3] - b[:, 1]
            b = np.stack([b[:, 0] + b[:, 5] * regw, b[:, 1] + b[:, 6] * regh,
                          b[:, 2] + b[:, 7] * regw, b[:, 3] + b[:, 8] * regh, b[:, 4]], axis=1)
            boxes.append(_rerec(b.astype(np.float32, copy=False)))

        # Stage 2: R-Net on crops of the full-resolution photos.
        outs = _crop_net(run, "rnet", tables, boxes, 24, threads)
        for i in range(n):
            if outs[i] is None:
                continue
            r, p = outs[i]
            score = p[:, 1]
            ok = score > thr[1]
            b = np.concatenate([boxes[i][ok, :4], score[ok, None]], axis=1)
            mv = r[ok]
            pick = nms(b[:, :4], b[:, 4], 0.7)
            boxes[i] = _rerec(_bbreg(b[pick], mv[pick]))

        # Stage 3: O-Net on crops of the full-resolution photos.
        outs = _crop_net(run, "onet", tables, boxes, 48, threads)
        tables.clear()  # the tables are not needed any more
        stacks.clear()
        results = [(_EMPTY5, np.zeros((0, 5, 2), np.float32), limits[i]) for i in range(n)]
        for i in range(n):
            if outs[i] is None:
                continue
            reg, marks, probs = outs[i]
            score = probs[:, 1]
            ok = score > thr[2]
            pts = marks[ok]
            b = np.concatenate([boxes[i][ok, :4], score[ok, None]], axis=1)
            mv = reg[ok]
            if not len(b):
                continue
            wi = (b[:, 2] - b[:, 0] + 1)[:, None]
            hi = (b[:, 3] - b[:, 1] + 1)[:, None]
            px = wi * pts[:, :5] + b[:, 0:1] - 1
            py = hi * pts[:, 5:10] + b[:, 1:2] - 1
            pts = np.stack((px, py), axis=2)
            b = _bbreg(b, mv)
            pick = nms_min(b[:, :4], b[:, 4], 0.7)
            results[i] = (b[pick], pts[pick], limits[i])
        return results


def _split(photos: list[np.ndarray], max_pixels: int) -> list[list[np.ndarray]]:
    """Consecutive parts of ``photos`` holding at most ``max_pixels`` pixels each (a photo
    larger than that is a part of its own)."""
    parts: list[list[np.ndarray]] = []
    size = 0
    for px in photos:
        p = px.shape[0] * px.shape[1]
        if not parts or size + p > max_pixels:
            parts.append([])
            size = 0
        parts[-1].append(px)
        size += p
    return parts


def box_iou(a, b) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_faces(a, b, min_iou: float = 0.5) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching of two box lists by IoU: [(i, j, iou), ...]."""
    pairs = sorted(((box_iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b)),
                   reverse=True)
    used_a, used_b, out = set(), set(), []
    for iou, i, j in pairs:
        if iou < min_iou or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j, iou))
    return sorted(out)


__all__ = ["BATCH_MAX_PIXELS", "EXPORTS", "TABLE_MAX_PIXELS", "MTCNNDetector", "box_iou",
           "device_name", "match_faces", "nms", "nms_min", "onnx_files", "pick_device",
           "weight_files"]
