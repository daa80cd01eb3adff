"""Today's path, kept for the speed benchmarks (issue 16): the MTCNN detector as it was before
batched detection and ONNX Runtime -- torch tensors, one photo at a time, facenet-pytorch's
package for the nets and torchvision's NMS. ``benchmarks/embed_speed.py`` and
``benchmarks/detect.py`` time it against the new path in the same run. Not used by the app.

Original description:

MTCNN face detection: boxes, scores and five landmarks in original-photo coordinates.

The networks are facenet-pytorch's P-, R- and O-Net (weights from the verified ``facenet-pytorch``
pack, loaded with ``weights_only=True``). The cascade follows facenet-pytorch's ``detect_face``
with one change that makes it fast on large photos: stages 1 and 2 (the image pyramid and the
box refinement) run on a copy of the photo downscaled so that its longer side is at most
``max_side`` pixels, and stage 3 (O-Net, which places the final box and the landmarks) runs on
crops of the full-resolution photo. The faces found are the same as a full-resolution run, with
boxes and landmarks as precise, at a fraction of the cost (see ``benchmarks/detect.py``).

Memory: every area resize is read from one float64 summed-area table (24 bytes per pixel). A
photo larger than :data:`TABLE_MAX_PIXELS` is first area-downscaled to that many pixels and
the table built from the copy, so detecting in a 60 Mpx photo costs well under 1 GB above the
photo itself (``benchmarks/detect_memory.py``); photos up to that size use the table of the
full photo, with the exact arithmetic of stock facenet-pytorch.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import torch
from torch.nn.functional import interpolate

from faceinspector.backend import assets
from faceinspector.backend.types import Detection, Face

#: photos with more pixels than this are area-downscaled to it before the summed-area table is
#: built (24 bytes per pixel of the table: 288 MB at 12 Mpx); smaller photos are exact
TABLE_MAX_PIXELS = 12_000_000


def _load_nets(device: torch.device):
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    nets = []
    for cls, name in ((PNet, "pnet.pt"), (RNet, "rnet.pt"), (ONet, "onet.pt")):
        net = cls(pretrained=False)
        state = torch.load(assets.path("facenet-pytorch", name), map_location="cpu",
                           weights_only=True)
        net.load_state_dict(state)
        nets.append(net.to(device).eval())
    return nets


def _resample(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return interpolate(img, size=size, mode="area")


class _Image:
    """The photo as a summed-area table, so every area resize the cascade needs is a gather.

    ``torch.nn.functional.interpolate(mode="area")`` (what facenet-pytorch uses for the pyramid
    and for every candidate box) is adaptive average pooling: output cell ``a`` of ``b`` averages
    input rows ``floor(a*c/b)`` to ``ceil((a+1)*c/b)``. With a float64 summed-area table those
    averages cost four look-ups each, for all boxes at once, on CPU or CUDA — the same numbers as
    the per-box loop of resizes, computed in one vectorised step.

    All coordinates are the photo's. A photo of more than ``max_pixels`` pixels is represented
    by the table of an area-downscaled copy (``cv2.INTER_AREA``); its windows are then read at
    fractional positions (bilinear in the table: the exact integral of the copy seen as
    piecewise constant), so no full-resolution float copy of the photo is ever made.
    """

    def __init__(self, pixels: np.ndarray, device: torch.device,
                 max_pixels: int | None = TABLE_MAX_PIXELS):
        self.device = device
        self.h, self.w = pixels.shape[:2]
        src = pixels
        if max_pixels and self.h * self.w > max_pixels:
            import cv2

            k = math.sqrt(max_pixels / (self.h * self.w))
            size = (max(1, int(self.w * k)), max(1, int(self.h * k)))
            src = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=cv2.INTER_AREA)
        elif not pixels.flags.writeable:  # torch wants a writable array to share
            src = np.array(pixels, copy=True)
        self.exact = src is pixels or src.shape == pixels.shape
        self.th, self.tw = src.shape[:2]
        self.fy, self.fx = self.th / self.h, self.tw / self.w
        # built in place: 24 bytes per table pixel and no temporaries (cumsum of integers in
        # float64 is exact, so the numbers are those of any summation order)
        s = torch.zeros((self.th + 1, self.tw + 1, 3), dtype=torch.float64, device=device)
        s[1:, 1:] = torch.from_numpy(np.ascontiguousarray(src))
        del src
        s.cumsum_(0)
        s.cumsum_(1)
        self.sat = s

    def _at(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The table at fractional photo positions ``y`` (..., 1) and ``x`` (..., 1, k):
        bilinear between its four neighbours (exact for a piecewise-constant image)."""
        y = (y.to(torch.float64) * self.fy).clamp(0, self.th)
        x = (x.to(torch.float64) * self.fx).clamp(0, self.tw)
        y0 = y.floor().long().clamp(max=self.th - 1)
        x0 = x.floor().long().clamp(max=self.tw - 1)
        dy = (y - y0).unsqueeze(-1)
        dx = (x - x0).unsqueeze(-1)
        s = self.sat
        top = s[y0, x0] * (1 - dx) + s[y0, x0 + 1] * dx
        bottom = s[y0 + 1, x0] * (1 - dx) + s[y0 + 1, x0 + 1] * dx
        return top * (1 - dy) + bottom * dy

    def _windows(self, start: torch.Tensor, length: torch.Tensor, out: int):
        a = torch.arange(out, device=self.device)
        lo = start[:, None] + torch.div(a[None] * length[:, None], out, rounding_mode="floor")
        hi = start[:, None] - torch.div(-(a[None] + 1) * length[:, None], out,
                                        rounding_mode="floor")
        return lo, hi

    def pool(self, y0, y1, x0, x1, oh: int, ow: int) -> torch.Tensor:
        """Adaptive-average-pool the regions [y0, y1) x [x0, x1) to (N, 3, oh, ow), normalised."""
        r0, r1 = self._windows(y0, y1 - y0, oh)
        c0, c1 = self._windows(x0, x1 - x0, ow)
        s = self.sat
        r0, r1 = r0[:, :, None], r1[:, :, None]
        c0, c1 = c0[:, None, :], c1[:, None, :]
        if self.exact:
            total = s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]
            area = ((r1 - r0) * (c1 - c0)).unsqueeze(-1).to(torch.float64)
        else:  # the same windows in the downscaled table, at fractional positions
            total = (self._at(r1, c1) - self._at(r0, c1) - self._at(r1, c0)
                     + self._at(r0, c0))
            area = ((r1 - r0) * (c1 - c0)).unsqueeze(-1).to(torch.float64) * (self.fy * self.fx)
        out = (total / area).to(torch.float32).permute(0, 3, 1, 2)
        return (out - 127.5) * 0.0078125

    def resized(self, h: int, w: int) -> torch.Tensor:
        """The whole photo area-resized to (1, 3, h, w), normalised for the MTCNN nets."""
        z = torch.zeros(1, dtype=torch.long, device=self.device)
        return self.pool(z, z + self.h, z, z + self.w, h, w)

    def crops(self, boxes: torch.Tensor, size: int) -> torch.Tensor:
        """facenet-pytorch's per-box crops (1-based, clipped), area-resized to size x size."""
        from facenet_pytorch.models.utils.detect_face import pad

        y, ey, x, ex = pad(boxes, self.w, self.h)
        keep = (ey > y - 1) & (ex > x - 1)
        if not keep.any():
            return torch.zeros((0, 3, size, size), device=self.device)
        t = [torch.as_tensor(v[keep], dtype=torch.long, device=self.device) for v in (y, ey, x, ex)]
        return self.pool(t[0] - 1, t[1], t[2] - 1, t[3], size, size)


class MTCNNDetector:
    """MTCNN that scales large photos down for the cheap stages.

    Parameters
    ----------
    device : "auto" (default), "cpu", "cuda", ...
    max_side : longest side, in pixels, of the copy used for stages 1–2 (0 = full size).
    min_face : smallest face, in pixels of that copy, the pyramid looks for (MTCNN's minsize).
    thresholds : P/R/O-Net score thresholds (facenet-pytorch's defaults).
    table_max_pixels : photos larger than this are downscaled to it before the summed-area
        table is built (bounds the memory; see :data:`TABLE_MAX_PIXELS`; 0 = never).
    """

    def __init__(self, device=None, max_side: int = 1024, min_face: int = 20,
                 thresholds=(0.6, 0.7, 0.7), factor: float = 0.709,
                 table_max_pixels: int = TABLE_MAX_PIXELS):
        self.device = torch.device(device or "cpu")
        self.table_max_pixels = int(table_max_pixels)
        self.max_side = int(max_side)
        self.min_face = int(min_face)
        self.thresholds = tuple(thresholds)
        self.factor = factor
        self.pnet, self.rnet, self.onet = _load_nets(self.device)
        self._lock = threading.Lock()

    def detect(self, pixels: np.ndarray) -> Detection:
        """Detect faces in an RGB uint8 (H, W, 3) photo."""
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise ValueError("detect() expects an RGB uint8 array of shape (H, W, 3)")
        t0 = time.perf_counter()
        with self._lock, torch.inference_mode():
            boxes, points, scale = self._detect(pixels)
        faces = tuple(
            Face(box=tuple(float(v) for v in b[:4]), score=float(b[4]),
                 landmarks=np.asarray(p, np.float32))
            for b, p in zip(boxes, points)
        )
        faces = tuple(sorted(faces, key=lambda f: (f.box[0], f.box[1])))
        return Detection(faces=faces, detect_scale=scale, seconds=time.perf_counter() - t0)

    # ------------------------------------------------------------------------------ cascade

    def _detect(self, pixels: np.ndarray):
        from facenet_pytorch.models.utils.detect_face import (
            batched_nms, batched_nms_numpy, bbreg, generateBoundingBox, rerec)

        full = _Image(pixels, self.device, self.table_max_pixels)
        h, w = full.h, full.w
        limit = 1.0
        if self.max_side and max(h, w) > self.max_side:
            limit = self.max_side / max(h, w)
        empty = (np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32), limit)

        # Stage 1: P-Net over the same image pyramid as facenet-pytorch, minus the levels larger
        # than max_side (they only find faces too small to classify, and cost most of the time).
        m = 12.0 / self.min_face
        minl = min(h, w) * m
        scales = []
        s = m
        while minl >= 12:
            if s <= limit + 1e-9:
                scales.append(s)
            s *= self.factor
            minl *= self.factor
        boxes, inds = [], []
        for sc in scales:
            im = full.resized(int(h * sc + 1), int(w * sc + 1))
            reg, probs = self.pnet(im)
            b, i = generateBoundingBox(reg, probs[:, 1], sc, self.thresholds[0])
            pick = batched_nms(b[:, :4], b[:, 4], i, 0.5)
            boxes.append(b[pick])
            inds.append(i[pick])
        if not boxes:
            return empty
        boxes, inds = torch.cat(boxes), torch.cat(inds)
        pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        boxes, inds = boxes[pick], inds[pick]
        if len(boxes) == 0:
            return empty
        regw = boxes[:, 2] - boxes[:, 0]
        regh = boxes[:, 3] - boxes[:, 1]
        boxes = torch.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                             boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh,
                             boxes[:, 4]]).permute(1, 0)
        boxes = rerec(boxes)

        # Stage 2: R-Net on crops of the full-resolution photo (cost grows with boxes, not pixels).
        out0, out1 = self.rnet(full.crops(boxes, 24))
        score = out1[:, 1]
        ok = score > self.thresholds[1]
        boxes = torch.cat((boxes[ok, :4], score[ok].unsqueeze(1)), dim=1)
        mv, inds = out0[ok], inds[ok]
        if len(boxes) == 0:
            return empty
        pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        boxes, mv = bbreg(boxes[pick], mv[pick]), None
        boxes = rerec(boxes)

        # Stage 3: O-Net on crops of the full-resolution photo.
        out0, out1, out2 = self.onet(full.crops(boxes, 48))
        score = out2[:, 1]
        ok = score > self.thresholds[2]
        points = out1[ok]
        boxes = torch.cat((boxes[ok, :4], score[ok].unsqueeze(1)), dim=1)
        mv = out0[ok]
        if len(boxes) == 0:
            return empty
        wi = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        hi = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        px = wi * points[:, :5] + boxes[:, 0:1] - 1
        py = hi * points[:, 5:10] + boxes[:, 1:2] - 1
        points = torch.stack((px, py), dim=2)
        boxes = bbreg(boxes, mv)
        zeros = torch.zeros(len(boxes), dtype=torch.long, device=boxes.device)
        pick = batched_nms_numpy(boxes[:, :4], boxes[:, 4], zeros, 0.7, "Min")
        return boxes[pick].cpu().numpy(), points[pick].cpu().numpy(), limit
