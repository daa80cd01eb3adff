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
* **photos go through the cascade together** (:meth:`MTCNNDetector.detect_many`): photos of
  equal size share each P-Net call (a data set's usual case), and the R-Net and O-Net calls
  take the candidates of every photo of the batch at once. Non-maximum suppression stays per
  photo, so a photo gets the same faces alone or in a batch;
* the networks run on the fastest engine for the device
  (:func:`faceinspector.backend.engines.choose`): ONNX Runtime on CPU (their ONNX exports are
  made once from the torch modules, checked equal within 1e-4, and cached next to the pack),
  torch on CUDA. With the ONNX exports cached, detection imports neither torch nor torchvision
  (the app shows its first faces before torch has loaded).

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

import math
import os
import threading
import time
from pathlib import Path

import numpy as np

from . import assets, engines
from .types import Detection, Face

#: photos with more pixels than this are area-downscaled to it before the summed-area table is
#: built (24 bytes per pixel of the table: 288 MB at 12 Mpx); smaller photos are exact
TABLE_MAX_PIXELS = 12_000_000
#: :meth:`MTCNNDetector.detect_many` splits a batch so that the photos of one part hold at most
#: this many pixels (their tables: 24 bytes per pixel)
BATCH_MAX_PIXELS = 8_000_000
#: rows per R-Net / O-Net call (keeps the activations cache-sized; chunks run in parallel lanes,
#: see :func:`faceinspector.backend.engines.run_chunks`)
CROP_CHUNK = {"rnet": 64, "onet": 16}
#: P-Net calls take this many pixels of pyramid level (whole photos of one size)
PNET_CHUNK_PIXELS = 200_000

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


def onnx_files(export: bool = True) -> dict[str, Path] | None:
    """``{"pnet": path, "rnet": path, "onet": path}``: the nets' ONNX exports in the model
    cache (``<pack>/onnx/<net>-<sha256 of the weights>.onnx``). Missing ones are exported
    (needs torch; checked against the torch modules) when ``export``, else None is returned."""
    files = weight_files()
    out = {}
    for name, src in files.items():
        digest = engines.sha256_files([src])
        path = engines.export_dir(PACK) / f"{name}-{digest[:16]}.onnx"
        if not path.is_file():
            if not export:
                return None

            def build(name=name, src=src):
                from .mtcnn_nets import export_examples, load_net

                examples, dynamic = export_examples(name)
                return load_net(name, src), examples, dynamic

            path = engines.cached_export(PACK, name, [src], build, tolerance=1e-4)
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


class _TorchNets:
    """The three torch modules on ``device``: numpy in, list of numpy arrays out."""

    engine = "torch"

    def __init__(self, device: str) -> None:
        from .mtcnn_nets import load_net

        files = weight_files()
        self.device = device
        self.nets = {k: load_net(k, files[k]).to(device) for k in files}

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


# ------------------------------------------------------------------ the summed-area table


def _cumsum_inplace(s: np.ndarray, block: int = 256) -> None:
    """Turn planar (C, H, W) ``s`` into its summed-area table in place (cumulative sums along
    rows and columns), in blocks of rows so that no temporary is larger than ``block`` rows.
    Integer tables wrap around (see :class:`_Table`)."""
    n = s.shape[1]
    for plane in s:
        for a in range(0, n, block):
            part = plane[a:a + block]
            np.cumsum(part, axis=1, dtype=s.dtype, out=part)
            if a:
                part[0] += plane[a - 1]
            np.cumsum(part, axis=0, dtype=s.dtype, out=part)


#: window sums below this are exact in float32, so dividing in float32 rounds like float64
_F32_EXACT = 1 << 24


class _Table:
    """One photo as a summed-area table, so every area resize the cascade needs is a gather.

    ``interpolate(mode="area")`` (what facenet-pytorch uses for the pyramid and for every
    candidate box) is adaptive average pooling: output cell ``a`` of ``b`` averages input rows
    ``floor(a*c/b)`` to ``ceil((a+1)*c/b)``. A summed-area table gives each window's sum with
    four look-ups, for all boxes at once.

    The table is planar (3, H + 1, W + 1) ``uint32`` that wraps around: sums of windows are
    exact whenever the window's true sum is below 2**32 (any window of a photo up to
    :data:`TABLE_MAX_PIXELS`), so the averages are the exact ones -- the same float32 numbers
    as the float64 arithmetic of ``interpolate`` (a float32 division of exact integers rounds
    like the float64 division rounded to float32) -- at 12 bytes per pixel.

    A photo of more than ``max_pixels`` pixels is represented by a float64 table of an
    area-downscaled copy (``cv2.INTER_AREA``); its windows are then read at fractional
    positions (bilinear in the table: the exact integral of the copy seen as piecewise
    constant), so no full-resolution float copy of the photo is ever made.
    """

    def __init__(self, pixels: np.ndarray, max_pixels: int | None = TABLE_MAX_PIXELS,
                 out: np.ndarray | None = None):
        """``out``: a uint32 (3, H + 1, W + 1) array to build an exact table in (a slot of
        the stacked tables of photos of one size, see :func:`_resized_many`)."""
        self.h, self.w = pixels.shape[:2]
        src = pixels
        if max_pixels and self.h * self.w > max_pixels:
            import cv2

            k = math.sqrt(max_pixels / (self.h * self.w))
            size = (max(1, int(self.w * k)), max(1, int(self.h * k)))
            src = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=cv2.INTER_AREA)
        self.exact = src is pixels or src.shape == pixels.shape
        self.th, self.tw = src.shape[:2]
        self.fy, self.fx = self.th / self.h, self.tw / self.w
        if self.exact and self.h * self.w * 255 < 2**31:  # OpenCV's int32 sums cannot wrap
            import cv2

            if out is None:
                out = np.empty((3, self.th + 1, self.tw + 1), np.uint32)
            dst = out.view(np.int32)
            for k, plane in enumerate(cv2.split(np.ascontiguousarray(src))):
                res = cv2.integral(plane, dst[k], sdepth=cv2.CV_32S)
                if not np.shares_memory(res, dst[k]):  # OpenCV made its own array
                    dst[k] = res
            self.sat = out
            return
        if self.exact and out is not None:
            s = out
            s[:, 0], s[:, :, 0] = 0, 0
        else:
            s = np.zeros((3, self.th + 1, self.tw + 1), np.uint32 if self.exact else np.float64)
        s[:, 1:, 1:] = src.transpose(2, 0, 1)
        del src
        _cumsum_inplace(s)
        self.sat = s

    def _at(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The (float64) table at fractional photo positions ``y`` and ``x`` (broadcast):
        bilinear between its four neighbours (exact for a piecewise-constant image);
        (3, ...)."""
        y = np.clip(y.astype(np.float64) * self.fy, 0, self.th)
        x = np.clip(x.astype(np.float64) * self.fx, 0, self.tw)
        y0 = np.minimum(np.floor(y).astype(np.int64), self.th - 1)
        x0 = np.minimum(np.floor(x).astype(np.int64), self.tw - 1)
        dy, dx = y - y0, x - x0
        s = self.sat
        top = s[:, y0, x0] * (1 - dx) + s[:, y0, x0 + 1] * dx
        bottom = s[:, y0 + 1, x0] * (1 - dx) + s[:, y0 + 1, x0 + 1] * dx
        return top * (1 - dy) + bottom * dy

    @staticmethod
    def _windows(start: np.ndarray, length: np.ndarray, out: int):
        a = np.arange(out, dtype=np.int64)
        lo = start[:, None] + (a[None] * length[:, None]) // out
        hi = start[:, None] - (-(a[None] + 1) * length[:, None]) // out
        return lo, hi

    @staticmethod
    def _average(total: np.ndarray, area: np.ndarray) -> np.ndarray:
        """``total / area`` as float32, normalised for the MTCNN nets (x - 127.5) / 128."""
        if total.dtype == np.uint32 and (not total.size or int(total.max()) < _F32_EXACT):
            out = total.astype(np.float32)
            out /= area.astype(np.float32)
        else:
            out = (total.astype(np.float64) / area).astype(np.float32)
        out -= np.float32(127.5)
        out *= np.float32(0.0078125)
        return out

    def pool(self, y0, y1, x0, x1, oh: int, ow: int) -> np.ndarray:
        """Adaptive-average-pool regions [y0, y1) x [x0, x1) (int arrays (N,)) to
        (N, 3, oh, ow) float32, normalised for the MTCNN nets."""
        r0, r1 = self._windows(y0, y1 - y0, oh)
        c0, c1 = self._windows(x0, x1 - x0, ow)
        r0, r1 = r0[:, :, None], r1[:, :, None]
        c0, c1 = c0[:, None, :], c1[:, None, :]
        area = ((r1 - r0) * (c1 - c0)).astype(np.float64)
        if self.exact:  # flat indices into the planar table: one `take` per corner
            flat = self.sat.reshape(3, -1)
            w1 = self.sat.shape[2]
            r0, r1 = r0 * w1, r1 * w1
            total = ((np.take(flat, r1 + c1, axis=1) - np.take(flat, r0 + c1, axis=1))
                     - (np.take(flat, r1 + c0, axis=1) - np.take(flat, r0 + c0, axis=1)))
        else:  # the same windows in the downscaled table, at fractional positions
            total = (self._at(r1, c1) - self._at(r0, c1) - self._at(r1, c0)
                     + self._at(r0, c0))
            area = area * (self.fy * self.fx)
        return np.ascontiguousarray(self._average(total, area).transpose(1, 0, 2, 3))

    def resized(self, h: int, w: int) -> np.ndarray:
        """The whole photo area-resized to (3, h, w), normalised for the MTCNN nets."""
        if not self.exact:
            z = np.zeros(1, np.int64)
            return self.pool(z, z + self.h, z, z + self.w, h, w)[0]
        return _resized_many(self.sat[None], self.h, self.w, h, w)[0]

    def crops(self, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """facenet-pytorch's per-box crops (1-based, clipped), area-resized to size x size:
        ``(crops (K, 3, size, size), kept (N,) bool)`` -- boxes entirely outside the photo
        give no crop."""
        y, ey, x, ex = _pad(boxes, self.w, self.h)
        keep = (ey > y - 1) & (ex > x - 1)
        if not keep.any():
            return np.zeros((0, 3, size, size), np.float32), keep
        return self.pool(y[keep] - 1, ey[keep], x[keep] - 1, ex[keep], size, size), keep


def _resized_many(sat: np.ndarray, h: int, w: int, oh: int, ow: int) -> np.ndarray:
    """Photos of one size (H, W), from their stacked exact tables (B, 3, H + 1, W + 1),
    area-resized to (B, 3, oh, ow) and normalised: rows first (each row window's sums, then
    each column window of those: the four look-ups of the table, exact integers)."""
    r0, r1 = _Table._windows(np.zeros(1, np.int64), np.array([h]), oh)
    c0, c1 = _Table._windows(np.zeros(1, np.int64), np.array([w]), ow)
    r0, r1, c0, c1 = r0[0], r1[0], c0[0], c1[0]
    area = (r1 - r0)[:, None] * (c1 - c0)[None, :]
    step = max(1, 1_000_000 // (3 * oh * (w + 1)))  # photos per gather: a cache-sized middle
    out = np.empty((len(sat), 3, oh, ow), np.float32)
    for k in range(0, len(sat), step):
        part = sat[k:k + step]
        rows = np.take(part, r1, axis=2) - np.take(part, r0, axis=2)  # (b, 3, oh, W + 1)
        total = np.take(rows, c1, axis=3) - np.take(rows, c0, axis=3)  # (b, 3, oh, ow)
        out[k:k + step] = _Table._average(total, area)
    return out


# ------------------------------------------------------------ the cascade's box arithmetic
# Each step is facenet-pytorch's (models/utils/detect_face.py), in float32 as there.


def _pad(boxes: np.ndarray, w: int, h: int):
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x, y, ex, ey = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np.maximum(y, 1), np.minimum(ey, h), np.maximum(x, 1), np.minimum(ex, w)


def _generate(reg: np.ndarray, prob: np.ndarray, scale: float, thresh: float) -> np.ndarray:
    """P-Net cells above ``thresh`` -> (K, 9) [x1, y1, x2, y2, score, reg x4] (one photo)."""
    ys, xs = np.nonzero(prob >= thresh)
    bb = np.stack([xs, ys], 1).astype(np.float32)
    q1 = np.floor((2 * bb + 1) / scale)
    q2 = np.floor((2 * bb + 12) / scale)
    return np.concatenate([q1, q2, prob[ys, xs][:, None], reg[:, ys, xs].T],
                          axis=1).astype(np.float32, copy=False)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """torchvision's ``nms``: greedy in descending score (ties: first come first), a box is
    dropped when its IoU with a kept one is above ``threshold``; float32 arithmetic."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    idx = np.argsort(-scores, kind="stable")
    keep = []
    zero = np.float32(0)
    while idx.size:
        i = idx[0]
        keep.append(i)
        rest = idx[1:]
        w = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        idx = rest[~(inter / (areas[i] + areas[rest] - inter) > threshold)]
    return np.asarray(keep, np.int64)


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """facenet-pytorch's ``nms_numpy(..., "Min")`` (stage 3): +1 areas, overlap over the
    smaller box, its own (ascending, unstable) sort order."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2 = (boxes[:, k].copy() for k in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    keep = []
    while order.size:
        i = order[-1]
        keep.append(i)
        idx = order[:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[idx]) - np.maximum(x1[i], x1[idx]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[idx]) - np.maximum(y1[i], y1[idx]) + 1)
        o = (w * h) / np.minimum(area[i], area[idx])
        order = order[np.where(o <= threshold)]
    return np.asarray(keep, np.int64)


def _rerec(b: np.ndarray) -> np.ndarray:
    """Square boxes around their centres (in place, float32)."""
    h = b[:, 3] - b[:, 1]
    w = b[:, 2] - b[:, 0]
    side = np.maximum(w, h)
    b[:, 0] = b[:, 0] + w * 0.5 - side * 0.5
    b[:, 1] = b[:, 1] + h * 0.5 - side * 0.5
    b[:, 2] = b[:, 0] + side
    b[:, 3] = b[:, 1] + side
    return b


def _bbreg(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply the nets' box offsets (in place, float32)."""
    w = b[:, 2] - b[:, 0] + 1
    h = b[:, 3] - b[:, 1] + 1
    x1 = b[:, 0] + reg[:, 0] * w
    y1 = b[:, 1] + reg[:, 1] * h
    x2 = b[:, 2] + reg[:, 2] * w
    y2 = b[:, 3] + reg[:, 3] * h
    b[:, 0], b[:, 1], b[:, 2], b[:, 3] = x1, y1, x2, y2
    return b


_EMPTY5 = np.zeros((0, 5), np.float32)


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
                    tables[i] = _Table(photos[i], self.table_max_pixels, out=stack[k])
            else:
                for i in members:
                    tables[i] = _Table(photos[i], self.table_max_pixels)

        # Stage 1: P-Net over facenet-pytorch's image pyramid (minus the levels larger than
        # max_side), one call per level for all photos of one size.
        found: list[list[np.ndarray]] = [[] for _ in range(n)]
        for (h, w), members in groups.items():
            scales, limit = self._scales(h, w)
            for i in members:
                limits[i] = limit
            for sc in scales:
                oh, ow = int(h * sc + 1), int(w * sc + 1)
                if (h, w) in stacks:
                    level = _resized_many(stacks[h, w], h, w, oh, ow)
                else:
                    level = np.stack([tables[i].resized(oh, ow) for i in members])
                reg, probs = run("pnet", level, threads, max(1, PNET_CHUNK_PIXELS // (oh * ow)))
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

        # Stage 2: R-Net on crops of the full-resolution photos, all photos in one call.
        crops, counts = [], []
        for i in range(n):
            c, keep = tables[i].crops(boxes[i], 24)
            boxes[i] = boxes[i][keep]
            crops.append(c)
            counts.append(len(c))
        if sum(counts):
            reg, probs = run("rnet", np.concatenate(crops), threads)
            offsets = np.cumsum([0] + counts)
            for i in range(n):
                r, p = reg[offsets[i]:offsets[i + 1]], probs[offsets[i]:offsets[i + 1]]
                score = p[:, 1]
                ok = score > thr[1]
                b = np.concatenate([boxes[i][ok, :4], score[ok, None]], axis=1)
                mv = r[ok]
                pick = nms(b[:, :4], b[:, 4], 0.7)
                boxes[i] = _rerec(_bbreg(b[pick], mv[pick]))

        # Stage 3: O-Net on crops of the full-resolution photos, all photos in one call.
        crops, counts = [], []
        for i in range(n):
            c, keep = tables[i].crops(boxes[i], 48)
            boxes[i] = boxes[i][keep]
            crops.append(c)
            counts.append(len(c))
        del tables, stacks
        results = [(_EMPTY5, np.zeros((0, 5, 2), np.float32), limits[i]) for i in range(n)]
        if not sum(counts):
            return results
        reg, marks, probs = run("onet", np.concatenate(crops), threads)
        offsets = np.cumsum([0] + counts)
        for i in range(n):
            sl = slice(offsets[i], offsets[i + 1])
            score = probs[sl, 1]
            ok = score > thr[2]
            pts = marks[sl][ok]
            b = np.concatenate([boxes[i][ok, :4], score[ok, None]], axis=1)
            mv = reg[sl][ok]
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


__all__ = ["BATCH_MAX_PIXELS", "TABLE_MAX_PIXELS", "MTCNNDetector", "box_iou", "device_name",
           "match_faces", "nms", "nms_min", "onnx_files", "pick_device", "weight_files"]
