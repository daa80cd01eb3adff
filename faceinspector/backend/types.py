"""Frozen result types that cross from the backend into the GUI and the CLI.

Only numpy arrays, plain Python values and these dataclasses cross the boundary.
Coordinates are in pixels of the original photo (after EXIF orientation), x to the right and
y down, with pixel centres at integer coordinates (the OpenCV convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Order of the five MTCNN landmarks. "left" and "right" are as seen in the image
#: (the image-left eye is the subject's right eye).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face.

    Attributes
    ----------
    box : (x1, y1, x2, y2) in photo pixels.
    score : detector confidence in [0, 1].
    landmarks : float32 array (5, 2) of (x, y) in photo pixels, order :data:`LANDMARK_NAMES`.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass(frozen=True, eq=False)
class Photo:
    """A loaded photo: RGB uint8 pixels (H, W, 3) and where it came from."""

    pixels: np.ndarray
    source: str
    original_size: tuple[int, int]  # (width, height) as stored, before EXIF rotation
    note: str = ""  # something the user should know, e.g. "only the first of 3 pages is used"

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True, eq=False)
class Detection:
    """All faces found in one photo, and how long it took."""

    faces: tuple[Face, ...]
    detect_scale: float  # factor the photo was resized by for detection (1.0 = full size)
    seconds: float


@dataclass(frozen=True, eq=False)
class Crop:
    """A face as one template (and so one model) sees it.

    Attributes
    ----------
    pixels : RGB uint8 (h, w, 3).
    template : name of the alignment template.
    matrix : float64 (2, 3) affine map from photo pixels to crop pixels.
    landmarks : float32 (5, 2) the face's landmarks mapped into the crop.
    targets : float32 (5, 2) where the template wants them (empty (0, 2) for ``raw``).
    """

    pixels: np.ndarray
    template: str
    matrix: np.ndarray
    landmarks: np.ndarray
    targets: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))


@dataclass(frozen=True, eq=False)
class Prediction:
    """One model's answer on one crop.

    probs : (C,) class probabilities (empty for embedders); labels : the C class names.
    value : a regressed number (expected age) or None; embedding : (D,) or None.
    """

    model_id: str
    labels: tuple[str, ...]
    probs: np.ndarray
    crop: Crop | None = None
    value: float | None = None
    embedding: np.ndarray | None = None

    @property
    def top(self) -> int:
        return int(np.argmax(self.probs)) if self.probs.size else -1

    @property
    def top_label(self) -> str:
        return self.labels[self.top] if self.probs.size else ""

    @classmethod
    def from_output(cls, out, i: int, crop: Crop | None = None) -> "Prediction":
        probs = out.probs[i] if out.probs is not None else np.zeros(0, np.float32)
        value = float(out.values[i]) if out.values is not None else None
        emb = out.embeddings[i] if out.embeddings is not None else None
        return cls(out.model_id, tuple(out.labels), probs, crop, value, emb)


@dataclass(frozen=True, eq=False)
class FaceRef:
    """One face of one photo, as every pane, task, list and export refers to it.

    Identity is the photo's path and the face's index in its detection (:attr:`key`); ``face``
    carries the box and landmarks so a task need not detect again, and ``photo`` the pixels
    when the caller still holds them (otherwise a task reads the file again).

    Attributes
    ----------
    path : the photo file.
    index : the face's position in the photo's detections (0-based).
    face : the detected face.
    photo : the loaded photo, or None.
    count : faces detected in the photo (0: unknown).
    """

    path: Path
    index: int
    face: Face
    photo: Photo | None = None
    count: int = 0

    @property
    def key(self) -> tuple:
        """A hashable identity: (path, index, rounded box) -- the box tells a re-detection
        with other settings apart."""
        return (str(self.path), int(self.index),
                tuple(round(float(v), 1) for v in self.face.box))

    @property
    def label(self) -> str:
        """``<file stem> #<face number>`` for lists and plots."""
        return f"{Path(self.path).stem} #{self.index + 1}"

    def with_photo(self, photo: Photo | None) -> "FaceRef":
        """The same face with (or without) the photo's pixels attached."""
        from dataclasses import replace

        return replace(self, photo=photo)

    def without_photo(self) -> "FaceRef":
        return self.with_photo(None)
