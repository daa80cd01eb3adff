"""Alignment templates as data: where a template wants the five landmarks, at what size.

The built-in templates (:data:`TEMPLATES`: the raw box, dlib's chip, ArcFace's 112 px, CelebA's
aligned image) and template *files* (JSON, e.g. what the mismatch finder learns from a data
set): :func:`get_template` accepts a name or a ``*.json`` path wherever a template is asked for.
See :mod:`.align` for the coordinate conventions.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _wh(size) -> tuple[int, int]:
    if np.isscalar(size):
        return int(size), int(size)
    w, h = size
    return int(w), int(h)


@dataclass(frozen=True, eq=False)
class Template:
    """Where a template wants a face: five normalised points, an output size and padding.

    Attributes
    ----------
    name : registry key.
    size : default output ``(width, height)`` in pixels.
    points : ``(5, 2)`` targets normalised to ``[0, 1]`` of the unpadded template
        (MTCNN order), or ``None`` for the ``raw`` box crop.
    padding : dlib-style chip padding (fraction of the unpadded template on each side).
    margin : ``raw`` only: the square box side is ``max(w, h) * (1 + margin)``.
    description : one line for the GUI.
    """

    name: str
    size: tuple[int, int]
    points: np.ndarray | None
    padding: float = 0.0
    margin: float = 0.2
    description: str = ""

    def __post_init__(self):
        if self.points is not None:
            pts = np.array(self.points, np.float64).reshape(5, 2)
            pts.flags.writeable = False
            object.__setattr__(self, "points", pts)
        object.__setattr__(self, "size", _wh(self.size))

    @property
    def is_raw(self) -> bool:
        return self.points is None

    def with_(self, size=None, padding=None, margin=None) -> Template:
        """Copy with ``size`` (int or ``(w, h)``), ``padding`` or ``margin`` overridden."""
        changes = {}
        if size is not None:
            changes["size"] = _wh(size)
        if padding is not None:
            changes["padding"] = float(padding)
        if margin is not None:
            changes["margin"] = float(margin)
        return dataclasses.replace(self, **changes)

    def targets(self, size=None, padding=None) -> np.ndarray:
        """Target points in output pixels (pixel-centre convention), float64 ``(5, 2)``.

        ``pixel = ((u + padding) / (1 + 2 * padding)) * size - 0.5`` per axis; ``(0, 2)`` for
        ``raw``.
        """
        if self.points is None:
            return np.zeros((0, 2))
        w, h = _wh(self.size if size is None else size)
        p = self.padding if padding is None else float(padding)
        return (self.points + p) / (1.0 + 2.0 * p) * np.array([w, h], float) - 0.5


def normalised_points(xy, w, h) -> np.ndarray:
    """Pixel positions (pixel centres at integer coordinates) in a ``w`` x ``h`` image ->
    template points normalised to the image's edges (see the module's conventions)."""
    return (np.asarray(xy, float) + 0.5) / np.array([w, h], float)


_pts = normalised_points


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("raw", (160, 160), None, margin=0.2,
                 description="Square box crop around the detection (facenet-pytorch style), "
                             "not rotated, landmarks unused."),
        Template("dlib-chip", (150, 150),
                 np.array([[0.2355, 0.2167], [0.7759, 0.2172], [0.5046, 0.5365],
                           [0.2646, 0.8087], [0.7418, 0.8099]]), padding=0.25,
                 description="dlib get_face_chip_details, expressed in MTCNN's five points."),
        Template("arcface-112", (112, 112),
                 _pts([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                       [41.5493, 92.3655], [70.7299, 92.2041]], 112, 112),
                 description="InsightFace/ArcFace 112x112 reference points."),
        Template("celeba", (178, 218),
                 _pts([[70.1, 112.3], [109.2, 112.2], [89.0, 136.2],
                       [72.0, 153.9], [107.0, 153.8]], 178, 218),
                 description="Where CelebA's aligned 178x218 images put MTCNN's points."),
    )
}


#: the format tag of a template file
TEMPLATE_FORMAT = "faceinspector-template/1"
_FILE_TEMPLATES: dict[str, tuple[int, Template]] = {}  # resolved path -> (mtime_ns, template)


class TemplateError(ValueError):
    """A template file cannot be used; the message names the file and the field."""


def template_from_dict(data: dict, where: str = "template") -> Template:
    """A :class:`Template` from the JSON of a template file (see :func:`save_template`)."""
    if not isinstance(data, dict) or data.get("format") != TEMPLATE_FORMAT:
        raise TemplateError(f"{where}: not a FaceInspector template ({TEMPLATE_FORMAT})")
    try:
        w, h = (int(v) for v in data["size"])
        pts = np.asarray(data["points_px"], np.float64)
        name = str(data.get("name") or "learned")
    except (KeyError, TypeError, ValueError) as exc:
        raise TemplateError(f"{where}: needs 'size' [w, h] and 'points_px' (5 x [x, y]) "
                            f"({exc})") from exc
    if w < 8 or h < 8 or w > 4096 or h > 4096:
        raise TemplateError(f"{where}: size {w}x{h} is out of range (8..4096 px)")
    if pts.shape != (5, 2) or not np.all(np.isfinite(pts)):
        raise TemplateError(f"{where}: 'points_px' must be five finite [x, y] points")
    if name in TEMPLATES and TEMPLATES[name].description != data.get("description", ""):
        name = f"{name} (file)"  # never shadow a built-in template
    return Template(name, (w, h), _pts(pts, w, h), description=str(data.get("description", "")))


def template_to_dict(t: Template, **extra) -> dict:
    """The JSON of a template file: size, the five points in pixels (pixel centres at integer
    coordinates) and anything in ``extra`` (spread, number of faces, source)."""
    if t.points is None:
        raise TemplateError("the raw box template has no points to save")
    w, h = t.size
    return {"format": TEMPLATE_FORMAT, "name": t.name, "description": t.description,
            "size": [w, h], "points_px": np.round(t.points * [w, h] - 0.5, 3).tolist(),
            **extra}


def save_template(t: Template, path, **extra) -> Path:
    """Write ``t`` as a template file (JSON, atomically) and return its path."""
    from .files import atomic_write

    path = Path(path)
    atomic_write(path, json.dumps(template_to_dict(t, **extra), indent=1))
    return path


def load_template(path) -> Template:
    """The template in a file (cached by path and modification time)."""
    p = Path(path).expanduser()
    try:
        key, mtime = str(p.resolve()), p.stat().st_mtime_ns
    except OSError as exc:
        raise TemplateError(f"template file {p} cannot be read ({exc.strerror or exc})") from exc
    hit = _FILE_TEMPLATES.get(key)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TemplateError(f"template file {p.name} is not readable JSON ({exc})") from exc
    t = template_from_dict(data, p.name)
    _FILE_TEMPLATES[key] = (mtime, t)
    return t


def is_template_file(name) -> bool:
    return isinstance(name, str) and name.lower().endswith(".json")


def get_template(name) -> Template:
    """Template by name, or from a template file (a path ending in ``.json``); a
    :class:`Template` passes through. ``KeyError`` lists the known names."""
    if isinstance(name, Template):
        return name
    if is_template_file(name) or (hasattr(name, "suffix") and str(name).endswith(".json")):
        return load_template(name)
    try:
        return TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown template {name!r}; known: {', '.join(sorted(TEMPLATES))} "
                       "(or a template file, *.json)") from None


__all__ = ["TEMPLATES", "TEMPLATE_FORMAT", "Template", "TemplateError", "get_template",
           "is_template_file", "load_template", "normalised_points", "save_template",
           "template_from_dict", "template_to_dict"]
