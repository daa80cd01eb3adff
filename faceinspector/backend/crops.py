"""One face as the models see it: raw vs aligned crop pairs, and every model's prediction.

Every crop here goes through :func:`~faceinspector.backend.align.resolve_chip`, the one rule for
which template, size and padding a model sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from .align import resolve_chip
from .tasks import CancelToken, Progress, check
from .types import Crop, Face, Photo, Prediction


@dataclass(frozen=True, eq=False)
class CropPair:
    """The raw box crop and the aligned crop of one face, at the size the model sees."""

    raw: Crop
    aligned: Crop
    template: str
    model_id: str | None = None


@dataclass(frozen=True, eq=False)
class ModelResult:
    """One model on one face: prediction on the raw crop and on the aligned crop."""

    model_id: str
    raw: Prediction | None = None
    aligned: Prediction | None = None
    error: str = ""
    template: str = ""


def crop_pair(backend, photo: Photo, face: Face, template=None, spec=None,
              model_id: str | None = None) -> CropPair:
    """Raw box crop and aligned crop of ``face``.

    ``spec`` (a model's chip spec) gives the size the model sees and its own template
    (``template=None``); without it, ``template`` (default ``dlib-chip``) at its own size, and
    the raw crop at the same size.
    """
    pixels = photo.pixels if isinstance(photo, Photo) else photo
    if spec is not None:
        aligned = resolve_chip(spec, template).crop(pixels, face)
        raw = resolve_chip(spec, "raw").crop(pixels, face)
    else:
        aligned = resolve_chip(None, template or "dlib-chip").crop(pixels, face)
        h, w = aligned.pixels.shape[:2]
        raw = backend.crop(photo, face, "raw", size=(w, h))
    return CropPair(raw, aligned, aligned.template, model_id)


def predict_models(backend, photo: Photo, face: Face, model_ids, template=None,
                   cancel: CancelToken | None = None):
    """Task: yields one :class:`ModelResult` per model (raw vs aligned) as a partial result,
    with :class:`Progress`; a model that fails gets a result with its one-line error."""
    ids = list(model_ids)
    yield Progress(0, len(ids), "Predicting", "predict")
    for i, mid in enumerate(ids):
        check(cancel)
        try:
            raw = backend.predict(photo, face, mid, template="raw")
            aligned = backend.predict(photo, face, mid, template=template)
            yield ModelResult(mid, raw, aligned, template=aligned.crop.template)
        except Exception as exc:  # noqa: BLE001 - shown on that model's card
            yield ModelResult(mid, error=" ".join(str(exc).split()) or type(exc).__name__)
        yield Progress(i + 1, len(ids), mid, "predict")


__all__ = ["CropPair", "ModelResult", "crop_pair", "predict_models"]
