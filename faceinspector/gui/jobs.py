"""Start-up and display packing: the only jobs the GUI keeps for itself.

The task bodies live in the Qt-free backend (:mod:`faceinspector.backend.photos`, ``crops``,
``embeddings``, ``evaluate``, ``probe``, ``vae``); panes submit those directly through
:mod:`faceinspector.gui.workers`. What stays here is GUI-specific: bringing the backend up and
packing photo pixels for Qt off the GUI thread (:func:`~faceinspector.gui.convert.pack_rgb32`).

Start-up comes in two steps (issue 18: the first face on screen within a few seconds):

1. :func:`make_backend` builds the facade and the face detector only. On CPU the detector runs
   MTCNN's ONNX exports through ONNX Runtime, without importing torch, so the first photo is
   detected and drawn while torch has not even loaded;
2. :func:`warm_models` (after the first face is shown) imports torch, lists the models and
   warms each one up, reporting its progress, so later predictions pay no one-off costs.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backend import photos
from ..backend.tasks import CancelToken, Progress
from ..backend.types import Face, Photo
from .convert import pack_rgb32


@dataclass(frozen=True, eq=False)
class BackendInfo:
    """What the app learns when the backend comes up (on the compute lane)."""

    backend: object
    device_name: str
    templates: tuple[str, ...]
    descriptions: dict[str, str]
    cards: tuple  # ModelCard
    problems: tuple[str, ...] = ()  # missing model packs etc., one line each
    seconds: float = 0.0
    demo_paths: tuple[Path, ...] = ()
    #: the models are not listed yet: :func:`warm_models` lists and warms them
    models_pending: bool = False


def make_backend(device: str = "auto", detect_max_side: int = 1024,
                 check_demo: bool = False) -> BackendInfo:
    """Build the facade and load the face detector only (compute lane); the models come
    later (:func:`warm_models`, ``models_pending``), unless something is missing -- then
    everything is described at once, so every problem is shown together. Every network gets
    at most :func:`~faceinspector.backend.facade.gui_threads` CPU threads (one core is left
    for the window)."""
    t0 = time.perf_counter()
    from ..backend.facade import Backend, gui_threads

    backend = Backend(device=device, detect_max_side=detect_max_side, threads=gui_threads())
    info = describe_backend(backend, check_demo, t0, warm=False, models=False)
    if info.problems:
        return describe_backend(backend, check_demo, t0, warm=False)
    return info


def warm_models(backend, cancel: CancelToken | None = None):
    """Task (compute lane, after the first face is shown): import torch, list the models and
    warm each available one up on a synthetic face; yields :class:`Progress` per model and
    returns the model cards."""
    yield Progress(0, 0, "Loading torch…", "models")
    cards = tuple(backend.model_cards())
    ok = [c for c in cards if c.available]
    photo, face = _synthetic_face()
    for i, card in enumerate(ok):
        if cancel is not None and cancel.cancelled:
            break
        yield Progress(i, len(ok), f"Loading {card.id}…", "models")
        try:
            backend.predict(photo, face, card.id)
        except Exception:  # noqa: BLE001 - its card will show the error on use
            pass
    yield Progress(len(ok), len(ok), "Models ready", "models")
    return cards


def describe_backend(backend, check_demo: bool = False, t0: float | None = None,
                     warm: bool = True, models: bool = True) -> BackendInfo:
    """Load the detector's and the models' weights, list templates and models, find the demo
    photos.

    Loading everything here, while the app starts, keeps one-off costs out of later work:
    importing a C extension (onnx, onnxruntime) or unpickling weights holds the GIL for
    hundreds of milliseconds, which would freeze the GUI thread in the middle of a photo load.
    """
    t0 = time.perf_counter() if t0 is None else t0
    from ..backend import assets

    problems = []
    try:
        backend.detector  # noqa: B018 - loads MTCNN's weights now, not on the first photo
    except assets.AssetError as exc:
        problems.append(str(exc))
    demo: tuple[Path, ...] = ()
    if check_demo:
        try:
            demo = tuple(assets.demo_photos())
        except assets.AssetError as exc:
            problems.append(str(exc))
    templates = tuple(backend.templates())
    cards = tuple(backend.model_cards()) if models else ()
    if warm and models and not problems:
        _warm_up(backend, cards, templates)
    return BackendInfo(backend, backend.device_name, templates,
                       backend.template_descriptions(), cards,
                       tuple(dict.fromkeys(problems)), time.perf_counter() - t0, demo,
                       models_pending=not models)


def _synthetic_face() -> tuple[Photo, Face]:
    img = np.full((192, 192, 3), 128, np.uint8)
    face = Face((48.0, 40.0, 144.0, 160.0), 1.0,
                np.array([[75, 85], [117, 85], [96, 110], [79, 132], [113, 132]], np.float32))
    return Photo(img, "<warm-up>", (192, 192)), face


def _warm_up(backend, cards, templates) -> None:
    """One detection, one crop per template and one prediction per model on a synthetic face,
    so first-call costs (imports, weight loading, kernel set-up) are paid at start-up."""
    photo, face = _synthetic_face()
    try:
        backend.detect(photo)
        for t in templates:
            backend.crop(photo, face, t)
    except Exception:  # noqa: BLE001 - real calls will report it
        pass
    for card in cards:
        if card.available:
            try:
                backend.predict(photo, face, card.id)
            except Exception:  # noqa: BLE001 - its card will show the error on use
                pass


# ------------------------------------------------------------------------ display packing


def _packed(item: photos.PhotoItem) -> photos.PhotoItem:
    if item.display is None:
        return item
    return dataclasses.replace(item, display=pack_rgb32(item.display))


def load_and_detect(backend, paths, thumb_side: int = 112, use_cache: bool = True,
                    cancel: CancelToken | None = None):
    """:func:`faceinspector.backend.photos.load_and_detect`, with each photo's display copy
    packed for Qt (:func:`~faceinspector.gui.convert.pack_rgb32`) on the worker."""
    task = photos.load_and_detect(backend, paths, thumb_side, use_cache, cancel=cancel)
    try:
        for item in task:
            yield _packed(item) if isinstance(item, photos.PhotoItem) else item
    finally:
        task.close()


def load_for_view(path: Path) -> tuple[Photo, np.ndarray]:
    """Re-read a photo for the large view (io lane, no torch), its display copy packed."""
    photo, display = photos.load_for_view(path)
    return photo, pack_rgb32(display)
