"""MTCNN's building blocks (:mod:`.detect` runs the cascade): the summed-area table every area
resize reads from, and the cascade's box arithmetic (candidate generation, non-maximum
suppression, box regression), in numpy, following facenet-pytorch's ``detect_face`` step for
step. See :mod:`.detect` for why (same boxes as stock, bounded memory)."""

from __future__ import annotations

import math

import numpy as np

#: photos with more pixels than this are area-downscaled to it before the summed-area table is
#: built; smaller photos are exact
TABLE_MAX_PIXELS = 12_000_000


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
                 out: np.ndarray | None = None, defer: bool = False):
        """``out``: a uint32 (3, H + 1, W + 1) array to build an exact table in (a slot of
        the stacked tables of photos of one size, see :func:`_resized_many`). ``defer``: an
        exact table's planes are left to :meth:`fill` (one plane per call, so that planes and
        photos can be built in parallel; :attr:`pending` lists them)."""
        self.pending: list[int] = []
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
            self.sat, self._src = out, np.ascontiguousarray(src)
            self.pending = [0, 1, 2]
            if not defer:
                for k in range(3):
                    self.fill(k)
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

    def fill(self, k: int) -> None:
        """Build plane ``k`` of a deferred exact table (OpenCV's integral, int32 sums)."""
        import cv2

        dst = self.sat.view(np.int32)[k]
        res = cv2.integral(cv2.extractChannel(self._src, k), dst, sdepth=cv2.CV_32S)
        if not np.shares_memory(res, dst):  # OpenCV made its own array
            dst[...] = res

    def done(self) -> None:
        """Every plane is built: let go of the photo."""
        self.pending, self._src = [], None

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

    def inside(self, boxes: np.ndarray) -> np.ndarray:
        """(N,) bool: the boxes that give a crop (not entirely outside the photo)."""
        y, ey, x, ex = _pad(boxes, self.w, self.h)
        return (ey > y - 1) & (ex > x - 1)

    def cut(self, boxes: np.ndarray, size: int) -> np.ndarray:
        """facenet-pytorch's per-box crops (1-based, clipped) of boxes :meth:`inside` the
        photo, area-resized to (K, 3, size, size), normalised for the nets."""
        y, ey, x, ex = _pad(boxes, self.w, self.h)
        return self.pool(y - 1, ey, x - 1, ex, size, size)


def _resized_many(sat: np.ndarray, h: int, w: int, oh: int, ow: int,
                  rows: tuple[int, int] | None = None) -> np.ndarray:
    """Photos of one size (H, W), from their stacked exact tables (B, 3, H + 1, W + 1),
    area-resized to (B, 3, oh, ow) and normalised: rows first (each row window's sums, then
    each column window of those: the four look-ups of the table, exact integers).
    ``rows=(lo, hi)``: only output rows lo..hi - 1 (a strip of the level)."""
    r0, r1 = _Table._windows(np.zeros(1, np.int64), np.array([h]), oh)
    c0, c1 = _Table._windows(np.zeros(1, np.int64), np.array([w]), ow)
    r0, r1, c0, c1 = r0[0], r1[0], c0[0], c1[0]
    if rows is not None:
        r0, r1 = r0[rows[0]:rows[1]], r1[rows[0]:rows[1]]
        oh = len(r0)
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


#: up to this many boxes, :func:`nms` computes every pair's overlap at once (a matrix of
#: n * n floats) and runs the greedy pass over it; more boxes take the loop of torchvision
NMS_MATRIX_MAX = 1024


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """torchvision's ``nms``: greedy in descending score (ties: first come first), a box is
    dropped when its IoU with a kept one is above ``threshold``; float32 arithmetic.

    Up to :data:`NMS_MATRIX_MAX` boxes the IoU of every pair is computed at once, with the
    same float32 operations as the loop (so the same comparisons), and the greedy pass only
    reads rows of that matrix: ~5x faster on the cascade's small sets."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    idx = np.argsort(-scores, kind="stable")
    zero = np.float32(0)
    if len(idx) <= NMS_MATRIX_MAX:
        x1, y1, x2, y2, areas = x1[idx], y1[idx], x2[idx], y2[idx], areas[idx]
        w = np.maximum(zero, np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None]))
        h = np.maximum(zero, np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None]))
        inter = w * h
        over = inter / (areas[:, None] + areas[None] - inter) > threshold
        gone = np.zeros(len(idx), bool)
        keep = []
        for k in range(len(idx)):
            if not gone[k]:
                keep.append(k)
                gone |= over[k]
        return idx[keep].astype(np.int64, copy=False)
    keep = []
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


__all__ = ["TABLE_MAX_PIXELS", "nms", "nms_min"]
