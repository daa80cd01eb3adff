"""The model zoo: one module per model family, each a :class:`~.base.FaceModel` with a chip spec.

Models load lazily (importing this package loads no weights). :func:`cards` lists what exists
and whether it can be loaded; :func:`load` builds one on a device.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .base import ChipSpec, FaceModel, ModelOutput

#: model id -> (module, class name)
REGISTRY: dict[str, tuple[str, str]] = {
    "dlib-gender": ("dlib_age_gender", "DlibGender"),
    "dlib-age": ("dlib_age_gender", "DlibAge"),
    "faceapi-agegender": ("faceapi_heads", "FaceApiAgeGender"),
    "faceapi-expression": ("faceapi_heads", "FaceApiExpression"),
    "dlib-resnet": ("dlib_resnet", "DlibResNet"),
    "facenet-512": ("facenet", "FaceNet512"),
    # demo gender classifiers trained on CelebA by `faceinspector train demo` (issue 8);
    # checkpoints in resources/demo-models (safetensors + JSON sidecar)
    "celeba-cnn-naive": ("demo", "CelebaCnnNaive"),
    "celeba-cnn-randomcrop": ("demo", "CelebaCnnRandomCrop"),
    "celeba-embedding-head": ("demo", "CelebaEmbeddingHead"),
}


@dataclass(frozen=True)
class ModelCard:
    """What the GUI shows about a model before (or without) loading it."""

    id: str
    title: str
    task: str
    labels: tuple[str, ...]
    spec: ChipSpec | None
    available: bool
    reason: str = ""


def model_class(model_id: str) -> type[FaceModel]:
    if model_id not in REGISTRY:
        raise KeyError(f"Unknown model {model_id!r}; known: {', '.join(REGISTRY)}")
    module, name = REGISTRY[model_id]
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def card(model_id: str) -> ModelCard:
    from .. import assets

    try:
        cls = model_class(model_id)
    except (ImportError, AttributeError) as exc:
        return ModelCard(model_id, model_id, "?", (), None, False, f"not built: {exc}")
    reason = ""
    try:
        if model_id in assets.manifest()["models"]:
            assets.model_files(model_id)
    except assets.AssetError as exc:
        reason = str(exc)
    reason = reason or cls.unavailable_reason()
    return ModelCard(model_id, cls.title, cls.task, tuple(cls.labels), getattr(cls, "spec", None),
                     not reason, reason)


def cards() -> list[ModelCard]:
    return [card(m) for m in REGISTRY]


def load(model_id: str, device="cpu", engine: str | None = None) -> FaceModel:
    """Build ``model_id`` on ``device``, its network on the engine
    :func:`faceinspector.backend.engines.choose` picks (``engine``: "auto", "torch", "onnx";
    None: ``$FACEINSPECTOR_ENGINE`` or "auto")."""
    model = model_class(model_id)(device=device)
    model.set_engine(engine)
    return model


__all__ = ["ChipSpec", "FaceModel", "ModelCard", "ModelOutput", "REGISTRY", "card", "cards",
           "load", "model_class"]
