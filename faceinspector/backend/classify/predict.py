"""One streamed pass over a labelled set: every model under every crop, and what slices need.

Per image (one photo in memory at a time; faces from the persistent face store, the loop is
:func:`~faceinspector.backend.stream.iter_detected`): the central face (or, when none is found,
the data set's mean landmarks so that every image gets a prediction, as
``experiment mismatch`` does); each model's input under each *option* -- the image as given
(:data:`~faceinspector.backend.stream.AS_GIVEN`), the raw box crop (template ``raw``), the
model's own template (``own``), any other template or template file -- predicted in batches;
the attribute models' outputs on their own chips (age, gender, expression, ...); and the face's
size (box side in pixels), yaw proxy (:func:`~faceinspector.backend.attributes.face_geometry`)
and skin tone (ITA, :mod:`.skin`). Memory: a few numbers per image and option.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import align
from ..attributes import face_geometry
from ..facestore import FaceStore, default_store
from ..photos import MeanLandmarks, central_face
from ..stream import AS_GIVEN, Batcher, iter_detected, option_pixels
from ..tasks import CancelToken, Progress, check
from .data import LabelledSet
from .skin import face_ita

#: the option meaning each model's own template
OWN = "own"
#: spellings of the image-as-given option on a command line
AS_GIVEN_NAMES = ("as given", "as-given", "as_given", "given", "whole", "whole-image")


def normalise_option(option) -> object:
    """A command-line or GUI option -> :data:`AS_GIVEN`, :data:`OWN` or a template (name,
    template file path, or :class:`~faceinspector.backend.align.Template`)."""
    if isinstance(option, str):
        low = option.strip().lower()
        if low in AS_GIVEN_NAMES:
            return AS_GIVEN
        if low == OWN:
            return OWN
        return option.strip()
    return option


def option_name(option) -> str:
    if isinstance(option, str):
        if option in (AS_GIVEN, OWN) or not align.is_template_file(option):
            return option
        return align.get_template(option).name
    return option.name


@dataclass(frozen=True)
class ModelPlan:
    """One model as evaluated: its classes, task and the options it is cut with."""

    model_id: str
    task: str
    labels: tuple[str, ...]
    own: str  # the name of its own template
    options: tuple[str, ...]  # option names, in order (``own`` resolved to its template)
    embedder: bool = False


def plan_model(backend, model_id: str, options) -> tuple[ModelPlan, dict]:
    """(the plan, {option name: chip or None for as given}) of ``model_id`` under ``options``.
    Raises ``KeyError`` / ``ValueError`` on an unknown model or template."""
    model = backend.model(model_id)
    spec = model.spec
    own = option_name(spec.template)
    chips: dict = {}
    for opt in options:
        opt = normalise_option(opt)
        if opt == AS_GIVEN:
            chips.setdefault(AS_GIVEN, None)
            continue
        tpl = spec.template if opt == OWN else opt
        name = option_name(tpl)
        if name not in chips:
            chips[name] = align.resolve_chip(spec, tpl)
    embedder = model.task == "embedding"
    return ModelPlan(model_id, model.task, tuple(model.labels), own, tuple(chips),
                     embedder), chips


def _attribute_extract(out) -> np.ndarray:
    """Column 0: the regressed value (age) or NaN; then the class probabilities (if any)."""
    n = len(out.probs) if out.probs is not None else len(out.values)
    value = out.values if out.values is not None else np.full(n, np.nan)
    probs = out.probs if out.probs is not None else np.zeros((n, 0))
    return np.concatenate([np.asarray(value, np.float32).reshape(n, 1),
                           np.asarray(probs, np.float32)], 1)


@dataclass(frozen=True)
class AttributeModel:
    """A model whose answers slice the data (age bucket, gender, expression)."""

    model_id: str
    task: str
    labels: tuple[str, ...]
    has_value: bool  # column 0 of its output is a regressed value (age)
    has_classes: bool  # its class probabilities make a slice too


@dataclass(eq=False)
class Predictions:
    """The pass over a labelled set: one row per readable image.

    outputs : (model id, option name) -> float32 (N, C) probabilities, or (N, D) embeddings.
    attributes : attribute model id -> float32 (N, 1 + C): value (age) then probabilities.
    """

    source: str
    paths: list[Path] = field(default_factory=list)
    truth: list[str] = field(default_factory=list)
    groups: dict = field(default_factory=dict)  # column -> list of values
    identities: list[str] = field(default_factory=list)
    found: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    face_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    face_size: np.ndarray = field(default_factory=lambda: np.zeros(0))
    yaw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ita: np.ndarray = field(default_factory=lambda: np.zeros(0))
    models: dict = field(default_factory=dict)  # model id -> ModelPlan
    outputs: dict = field(default_factory=dict)
    attribute_models: dict = field(default_factory=dict)  # id -> AttributeModel
    attributes: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)  # (path, reason)
    cached: int = 0
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.paths)


def predict_set(backend, data: LabelledSet, models, options=(OWN,), attribute_models=(),
                skin: bool = True, store: FaceStore | None = None,
                cancel: CancelToken | None = None):
    """Task: the pass (module docstring) over ``data`` for ``models`` (ids) under ``options``
    (:func:`normalise_option`); yields :class:`Progress` per image (stage ``predict``) and
    returns :class:`Predictions`."""
    t0 = time.perf_counter()
    store = default_store() if store is None else store
    n = len(data)
    out = Predictions(str(data.source))
    plans, chips, batchers = {}, {}, {}
    for m in models:
        plans[m], chips[m] = plan_model(backend, m, options)
        batchers[m] = Batcher(backend, m, n)
    attr_chips, attr_batch = {}, {}
    for a in attribute_models:
        model = backend.model(a)
        attr_chips[a] = align.resolve_chip(model.spec)
        attr_batch[a] = Batcher(backend, a, n, extract=_attribute_extract)
        out.attribute_models[a] = AttributeModel(
            a, model.task, tuple(model.labels), model.task in ("age", "age+gender"),
            model.task not in ("age", "embedding"))
    out.models = plans
    sizes = {m: backend.model(m).spec.size for m in models}
    means = MeanLandmarks()
    cols = {c: [] for c in data.groups}
    found, which, side, yaw, ita = [], [], [], [], []
    yield Progress(0, n, "Predicting", "predict")
    for i, item in enumerate(iter_detected(backend, data.paths, store)):
        check(cancel)
        if item.error:
            out.errors.append((str(item.path), item.error))
            yield Progress(i + 1, n, item.path.name, "predict")
            continue
        photo, faces = item.photo, item.faces
        out.cached += int(item.cached)
        face = central_face(faces, photo.width, photo.height)
        row = len(out.paths)
        out.paths.append(item.path)
        out.truth.append(data.labels[i])
        out.identities.append(data.identities[i] if data.identities else "")
        for c in cols:
            cols[c].append(data.groups[c][i])
        found.append(face is not None)
        which.append(next((k for k, f in enumerate(faces) if f is face), -1))
        if face is not None:
            x1, y1, x2, y2 = face.box
            side.append(float(np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))))
            yaw.append(face_geometry(face, photo.width, photo.height)["yaw"])
            ita.append(face_ita(photo.pixels, face) if skin else np.nan)
        else:
            side.append(np.nan), yaw.append(np.nan), ita.append(np.nan)
        use = means.face_or_fallback(face, photo.width, photo.height)
        for m, opts in chips.items():
            for name, chip in opts.items():
                batchers[m].add(name, row, option_pixels(photo, use, chip, sizes[m]))
        if face is not None:
            for a, chip in attr_chips.items():
                attr_batch[a].add("out", row, chip.crop(photo.pixels, face).pixels)
        yield Progress(i + 1, n, item.path.name, "predict")
    k = len(out.paths)
    for m, b in batchers.items():
        b.flush()
        for name in chips[m]:
            arr = b.out.get(name)
            if arr is not None:
                out.outputs[(m, name)] = arr[:k]
    for a, b in attr_batch.items():
        b.flush()
        arr = b.out.get("out")
        width = 1 + len(out.attribute_models[a].labels)
        out.attributes[a] = arr[:k] if arr is not None else np.full((k, width), np.nan,
                                                                     np.float32)
    out.groups = cols
    out.found = np.array(found, bool)
    out.face_index = np.array(which, np.int64)
    out.face_size, out.yaw, out.ita = (np.array(v, np.float64) for v in (side, yaw, ita))
    out.seconds = time.perf_counter() - t0
    return out


__all__ = ["AS_GIVEN", "AS_GIVEN_NAMES", "AttributeModel", "ModelPlan", "OWN", "Predictions",
           "normalise_option", "option_name", "plan_model", "predict_set"]
