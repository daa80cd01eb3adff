"""The backend work the panes run in workers: plain functions and generators, no widgets.

Everything here runs on a lane thread (:mod:`faceinspector.gui.workers`) and returns numpy
arrays and frozen dataclasses only (no QImage/QPixmap: the GUI thread converts). Importing this
module is cheap (no torch); the functions that need torch receive the backend object, which the
worker created.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..backend import images
from ..backend.types import Crop, Face, Photo, Prediction
from .convert import pack_rgb32
from .workers import CancelToken, Progress

DISPLAY_MAX_SIDE = 2048  # the large view shows at most this many pixels per side


# ------------------------------------------------------------------------------ results


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


@dataclass(frozen=True, eq=False)
class PhotoItem:
    """One photo of the list: its faces and thumbnail, or the one-line reason it failed."""

    path: Path
    faces: tuple[Face, ...] = ()
    thumb: np.ndarray | None = None  # small RGB uint8
    size: tuple[int, int] = (0, 0)  # (width, height) after EXIF rotation
    error: str = ""
    photo: Photo | None = None  # full pixels; the GUI keeps only a few of these
    display: np.ndarray | None = None  # large-view pixels (<= DISPLAY_MAX_SIDE), pack_rgb32
    seconds: float = 0.0

    @property
    def display_scale(self) -> float:
        if self.display is None or not self.size[0]:
            return 1.0
        return self.display.shape[1] / self.size[0]


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


@dataclass
class _LRU:
    size: int
    data: OrderedDict = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


#: (sha1 of the file, detector settings) -> faces: the same photo dropped twice is not re-run.
DETECTIONS = _LRU(1024)


# --------------------------------------------------------------------------------- jobs


def make_backend(device: str = "auto", detect_max_side: int = 1024,
                 check_demo: bool = False) -> BackendInfo:
    """Import torch and build the facade (compute lane), then :func:`describe_backend`.
    Torch gets :func:`~faceinspector.backend.facade.gui_threads` CPU threads (one core is left
    for the window)."""
    t0 = time.perf_counter()
    from ..backend.facade import Backend, gui_threads

    backend = Backend(device=device, detect_max_side=detect_max_side, threads=gui_threads())
    return describe_backend(backend, check_demo, t0)


def describe_backend(backend, check_demo: bool = False, t0: float | None = None,
                     warm: bool = True) -> BackendInfo:
    """Load the detector's and the models' weights, list templates and models, find the demo
    photos.

    Loading everything here, while the app starts, keeps one-off costs out of later work:
    importing a C extension (onnx, onnxruntime) or unpickling weights holds the GIL for
    hundreds of milliseconds, which would freeze the GUI thread in the middle of a photo load.
    """
    t0 = time.perf_counter() if t0 is None else t0
    from ..backend import align, assets

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
    descriptions = {t: align.get_template(t).description for t in templates}
    cards = tuple(backend.model_cards())
    if warm and not problems:
        _warm_up(backend, cards, templates)
    return BackendInfo(backend, backend.device_name, templates, descriptions,
                       cards, tuple(dict.fromkeys(problems)),
                       time.perf_counter() - t0, demo)


def _warm_up(backend, cards, templates) -> None:
    """One detection, one crop per template and one prediction per model on a synthetic face,
    so first-call costs (imports, weight loading, kernel set-up) are paid at start-up."""
    img = np.full((192, 192, 3), 128, np.uint8)
    face = Face((48.0, 40.0, 144.0, 160.0), 1.0,
                np.array([[75, 85], [117, 85], [96, 110], [79, 132], [113, 132]], np.float32))
    photo = Photo(img, "<warm-up>", (192, 192))
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


def count_images(paths, limit: int = 20_000, cancel: CancelToken | None = None) -> int:
    """Photos that :func:`load_and_detect` will visit, listing folders only (no decoding);
    0 ("unknown") beyond ``limit`` or when cancelled."""
    n = 0
    for item in paths:
        p = Path(item)
        if not p.is_dir():
            n += 1
            continue
        try:
            for _ in images.iter_image_paths(p):
                n += 1
                if n > limit or (cancel is not None and n % 500 == 0 and cancel.cancelled):
                    return 0
        except images.ImageError:  # an unreadable folder becomes one error entry
            n += 1
    return n


def thumbnail(pixels: np.ndarray, side: int) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(pixels))
    img.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8).copy()


def _file_key(path: Path, backend) -> tuple | None:
    try:
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return None
    return digest, getattr(backend, "detect_max_side", 0), str(getattr(backend, "device", ""))


def detect_item(backend, path: Path, photo: Photo, thumb_side: int,
                use_cache: bool = True) -> PhotoItem:
    """Detection (cached by file content), thumbnail and display copy of one loaded photo."""
    t0 = time.perf_counter()
    key = _file_key(path, backend) if use_cache else None
    faces = DETECTIONS.get(key) if key else None
    if faces is None:
        faces = tuple(backend.detect(photo).faces)
        if key:
            DETECTIONS.put(key, faces)
    display = pack_rgb32(images.downscale(photo.pixels, DISPLAY_MAX_SIDE)[0])
    return PhotoItem(path, faces, thumbnail(photo.pixels, thumb_side),
                     (photo.width, photo.height), photo=photo, display=display,
                     seconds=time.perf_counter() - t0)


def load_and_detect(backend, paths, thumb_side: int = 112, use_cache: bool = True,
                    cancel: CancelToken | None = None):
    """Generator (detect lane): yields a :class:`PhotoItem` per file as it is done, and
    :class:`Progress`. Files are read lazily, one photo in memory at a time; a bad file
    becomes an item with its one-line error and the rest go on."""
    paths = [Path(p) for p in paths]
    total = count_images(paths, cancel=cancel)
    yield Progress(0, total, "Detecting faces")
    done = 0
    for path, item in backend.iter_photos(paths):
        if cancel is not None and cancel.cancelled:
            return
        if isinstance(item, Exception):
            yield PhotoItem(path, error=" ".join(str(item).split()))
        else:
            try:
                yield detect_item(backend, path, item, thumb_side, use_cache)
            except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the folder
                yield PhotoItem(path, error=f"{path.name}: detection failed: {exc}")
        done += 1
        yield Progress(done, max(total, done), path.name)


def load_for_view(path: Path) -> tuple[Photo, np.ndarray]:
    """Re-read a photo for the large view (io lane, no torch)."""
    photo = images.load_photo(path)
    return photo, pack_rgb32(images.downscale(photo.pixels, DISPLAY_MAX_SIDE)[0])


def _spec_crop(backend, photo, face, spec, template: str | None) -> Crop:
    """The crop a model with ``spec`` sees, under its own template or ``template``
    (mirrors :meth:`Backend.model_crop` without loading the model's weights)."""
    if template is None or template == spec.template:
        return backend.crop(photo, face, spec.template, size=spec.size, padding=spec.padding)
    return backend.crop(photo, face, template, size=spec.size)


def crop_pair(backend, photo: Photo, face: Face, template: str | None,
              spec=None, model_id: str | None = None) -> CropPair:
    """Raw box crop and aligned crop (compute lane).

    ``template=None`` means the model's own template; ``spec`` (a ChipSpec) gives the size the
    model sees, else the template's own size is used.
    """
    if spec is not None:
        aligned = _spec_crop(backend, photo, face, spec, template)
        raw = _spec_crop(backend, photo, face, spec, "raw")
    else:
        aligned = backend.crop(photo, face, template or "dlib-chip")
        h, w = aligned.pixels.shape[:2]
        raw = backend.crop(photo, face, "raw", size=(w, h))
    return CropPair(raw, aligned, aligned.template, model_id)


def predict_models(backend, photo: Photo, face: Face, model_ids, template: str | None = None,
                   cancel: CancelToken | None = None):
    """Generator (compute lane): one :class:`ModelResult` per model, raw vs aligned."""
    ids = list(model_ids)
    yield Progress(0, len(ids), "Predicting")
    for i, mid in enumerate(ids):
        if cancel is not None and cancel.cancelled:
            return
        try:
            raw = backend.predict(photo, face, mid, template="raw")
            aligned = backend.predict(photo, face, mid, template=template)
            yield ModelResult(mid, raw, aligned, template=aligned.crop.template)
        except Exception as exc:  # noqa: BLE001 - shown on that model's card
            yield ModelResult(mid, error=" ".join(str(exc).split()) or type(exc).__name__)
        yield Progress(i + 1, len(ids), mid)


def user_models_available() -> bool:
    """Whether the colleague's ``backend/models/user.py`` exists (checked without importing)."""
    from .. import backend

    return (Path(backend.__file__).parent / "models" / "user.py").exists()


def add_user_model(backend, path: str) -> tuple:
    """Load a TorchScript/ONNX file (+ JSON sidecar) and register it; returns the new cards."""
    try:
        from ..backend.models.user import load_user_model
    except ImportError as exc:
        raise RuntimeError(f"Adding your own model is not available in this build ({exc}).")
    backend.add_model(load_user_model(path))
    return tuple(backend.model_cards())



# ------------------------------------------------- embeddings (Triplets, Verification, Gallery)


@dataclass(frozen=True, eq=False)
class FaceKey:
    """One face of a loaded photo as the Triplets and Gallery panes refer to it.

    ``photo`` is given when the GUI still holds the pixels (the selected face); otherwise the
    job reads the file again.
    """

    path: Path
    index: int
    face: Face
    photo: Photo | None = None

    @property
    def key(self) -> tuple:
        return str(self.path), self.index, tuple(round(float(v), 1) for v in self.face.box)

    @property
    def label(self) -> str:
        return f"{self.path.stem} #{self.index + 1}"


@dataclass(frozen=True, eq=False)
class FaceEmbedding:
    """One face through one embedder: the aligned and the raw box crop and their embeddings."""

    key: tuple
    label: str
    model_id: str
    template: str | None
    aligned: Crop
    raw: Crop
    emb_aligned: np.ndarray
    emb_raw: np.ndarray
    thumb: np.ndarray | None = None  # the aligned chip at THUMB_CHIP px, made in the worker

    def embedding(self, crop: str = "aligned") -> np.ndarray:
        return self.emb_aligned if crop == "aligned" else self.emb_raw


#: (FaceKey.key, model id, template) -> FaceEmbedding: faces are embedded once per embedder.
EMBEDDINGS = _LRU(512)
EMBED_BATCH = 16  # faces per model call (two chips each: aligned and raw)
THUMB_CHIP = 36  # px of the face list's icons (resized here, not on the GUI thread)


def _thumb(pixels: np.ndarray, side: int = THUMB_CHIP) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.resize(pixels, (side, side), interpolation=cv2.INTER_AREA))


def embed_faces(backend, refs, model_id: str, template: str | None = None,
                cancel: CancelToken | None = None):
    """Generator (compute lane): :class:`Progress` per photo, then one tuple with a
    :class:`FaceEmbedding` per ref (None where its photo cannot be read), in the refs' order.

    Each photo is read once; the aligned crop (the embedder's own template, or ``template``)
    and the raw box crop, both at the embedder's input size, go through the model in batches.
    """
    refs = list(refs)
    out: list[FaceEmbedding | None] = [None] * len(refs)
    todo: dict[Path, list] = {}
    for i, ref in enumerate(refs):
        hit = EMBEDDINGS.get((ref.key, model_id, template))
        if hit is not None:
            out[i] = hit
        else:
            todo.setdefault(Path(ref.path), []).append((i, ref))
    yield Progress(0, len(todo), "Embedding faces")
    pending: list[tuple] = []

    def flush() -> None:
        if not pending:
            return
        chips = np.stack([c.pixels for _, _, a, r in pending for c in (a, r)])
        emb = np.asarray(backend.run_model(model_id, chips).embeddings, np.float32)
        for k, (i, ref, aligned, raw) in enumerate(pending):
            fe = FaceEmbedding(ref.key, ref.label, model_id, template, aligned, raw,
                               emb[2 * k], emb[2 * k + 1], _thumb(aligned.pixels))
            EMBEDDINGS.put((ref.key, model_id, template), fe)
            out[i] = fe
        pending.clear()

    for n, (path, items) in enumerate(todo.items()):
        if cancel is not None and cancel.cancelled:
            return
        photo = items[0][1].photo
        if photo is None:
            try:
                photo = images.load_photo(path)
            except images.ImageError:
                yield Progress(n + 1, len(todo), path.name)
                continue
        for i, ref in items:
            pending.append((i, ref, backend.model_crop(photo, ref.face, model_id, template),
                            backend.model_crop(photo, ref.face, model_id, "raw")))
            if len(pending) >= EMBED_BATCH:
                flush()
        yield Progress(n + 1, len(todo), path.name)
    flush()
    yield tuple(out)


def drain(gen):
    """The last non-progress item of a job generator (for jobs built on other jobs)."""
    result = None
    for item in gen:
        if not isinstance(item, Progress):
            result = item
    return result


@dataclass(frozen=True, eq=False)
class PhotoFaces:
    """Every face of one photo embedded, and a display copy of the photo (Gallery pane)."""

    path: Path
    display: np.ndarray  # RGB uint8, at most ``display_side`` per side
    scale: float  # display pixels per photo pixel
    faces: tuple[Face, ...]
    embeddings: tuple  # FaceEmbedding per face


def embed_photo(backend, path: Path, photo: Photo, faces, model_id: str,
                display_side: int = 900) -> PhotoFaces:
    """Embed all ``faces`` of ``photo`` and make a small copy to draw names on (compute lane)."""
    refs = [FaceKey(Path(path), i, f, photo) for i, f in enumerate(faces)]
    embs = drain(embed_faces(backend, refs, model_id)) if refs else ()
    display, scale = images.downscale(photo.pixels, display_side)
    return PhotoFaces(Path(path), display, scale, tuple(faces), tuple(embs))


def load_gallery(path, expect_model: str | None):
    """Read a gallery file (io lane); raises GalleryError with a user-facing message."""
    from ..backend.gallery import Gallery

    return Gallery.load(path, expect_model=expect_model)


@dataclass(frozen=True, eq=False)
class Verification:
    """A labelled set embedded and verified (Verification pane)."""

    source: Path  # the pairs file or the folder
    kind: str  # "pairs" or "folder"
    root: Path  # where the images are
    model_id: str
    metric: str
    images: tuple[str, ...]  # relative paths
    pairs: tuple  # backend.triplets.Pair
    embeddings: np.ndarray
    detected: np.ndarray
    errors: dict
    report: object  # backend.triplets.VerificationReport
    seconds: float

    def with_metric(self, metric: str) -> "Verification":
        """The same embeddings under another distance (cheap: no model runs)."""
        import dataclasses

        from ..backend.evaluate import pairs_report

        return dataclasses.replace(
            self, metric=metric,
            report=pairs_report(self.embeddings, self.images, self.pairs, metric))


def verify_labelled(backend, source, model_id: str = "dlib-resnet", metric: str = "l2",
                    root=None, min_images: int = 2, max_pairs: int = 50_000,
                    cancel: CancelToken | None = None):
    """Generator (compute lane): embed a labelled set and verify its pairs.

    ``source`` is an LFW-format pairs file (images under ``root``, default the
    ``lfw-deepfunneled`` folder beside it) or a folder with one sub-folder per person (balanced
    pairs, 10 folds by person: ``faceinspector eval folder``). Same pipeline as the CLI:
    MTCNN -> central face -> the embedder's chip -> batched embedder -> distances -> LFW protocol.
    Yields :class:`Progress` per image, then a :class:`Verification`.
    """
    from ..backend import evaluate, triplets

    t0 = time.perf_counter()
    source = Path(source)
    if source.is_dir():
        kind, root = "folder", source
        names, pairs = evaluate.folder_pairs(source, min_images=min_images, max_pairs=max_pairs)
        evaluate.check_folder_pairs(pairs, source.name, min_images)
    else:
        kind = "pairs"
        pairs = triplets.read_pairs(source)
        root = evaluate.pairs_file_root(source, root)
        if not root.is_dir():
            raise ValueError(f"the images of {source.name} are expected in {root}, which is "
                             "not a folder")
        names = evaluate.pair_images(pairs)
    yield Progress(0, len(names), "Embedding")
    result = None
    for msg in evaluate.verify_images(backend, root, names, pairs, model_id, metric):
        if cancel is not None and cancel.cancelled:
            return
        if msg[0] == "progress":
            yield Progress(msg[1], msg[2], "Embedding")
        else:
            result = msg[1]
    report, emb, detected, errors = result
    yield Verification(source, kind, root, model_id, metric, tuple(names), tuple(pairs), emb,
                       detected, errors, report, time.perf_counter() - t0)


def pair_preview(backend, root: Path, a: str, b: str, model_id: str, side: int = 220):
    """The two images of a pair (at most ``side`` px) and the chips the embedder saw, found
    the way :func:`verify_labelled` found them (compute lane; the hardest pairs' viewer)."""
    from ..backend.evaluate import central_face, fallback_face

    out = []
    for name in (a, b):
        photo = images.load_photo(Path(root) / name)
        face = central_face(backend.detect(photo).faces, photo.width, photo.height)
        face = face or fallback_face(photo.width, photo.height, None)
        chip = backend.model_crop(photo, face, model_id).pixels
        out.append((images.downscale(photo.pixels, side)[0], chip))
    return tuple(out)


# ------------------------------------------------------------------------------- probe
#
# The probe pane's sliders are in pixels of a *reference* model's crop (the first model it
# shows); every other model is moved by the same fraction of its own crop: ``unit`` is that
# model's crop width over the reference's (1.0 for the reference itself).


@dataclass(frozen=True, eq=False)
class ProbeView:
    """Live probe result: the selected models' probabilities on the untransformed crop and on
    the transformed one, and the first model's two crops (what the pane shows)."""

    transform: tuple[float, float, float, float]  # dx, dy (reference px), angle, scale
    model_ids: tuple[str, ...]
    labels: dict  # model id -> class names
    base: dict  # model id -> (C,) probabilities, untransformed (empty: not asked for)
    probs: dict  # model id -> (C,) probabilities, transformed
    errors: dict  # model id -> one line
    crop_model: str = ""
    original: np.ndarray | None = None  # uint8 (h, w, 3)
    moved: np.ndarray | None = None
    landmarks: np.ndarray | None = None  # (5, 2) in the untransformed crop
    moved_landmarks: np.ndarray | None = None
    targets: np.ndarray | None = None  # where the template wants the landmarks
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class ProbeSweep:
    """One model's four one-parameter sweeps around the untransformed crop."""

    model_id: str
    labels: tuple[str, ...]
    sweeps: dict  # name -> (values in reference units (K,), probabilities (K, C))
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class ProbeHeat:
    """Rows ``rows[0]:rows[1]`` (dy) of a dx × dy grid of one model's probabilities (offsets in
    reference px); the pane puts the pieces together."""

    model_id: str
    labels: tuple[str, ...]
    offsets: np.ndarray  # (K,)
    grid: np.ndarray  # (rows, K, C), [dy, dx]
    rows: tuple[int, int] = (0, 0)
    seconds: float = 0.0


def _probe_chip(backend, model_id: str, template: str | None):
    """(template name, size, padding) of the crop ``model_id`` sees (as probe.model_crops)."""
    spec = backend.model(model_id).spec
    t = spec.template if template is None else template
    return t, spec.size, (spec.padding if t == spec.template else None)


def _as_uint8(crops) -> np.ndarray:
    """(N, 3, h, w) float 0..255 tensor -> (N, h, w, 3) uint8 array."""
    return crops.round().clamp(0, 255).to("cpu").byte().permute(0, 2, 3, 1).numpy().copy()


def probe_live(backend, photo: Photo, face: Face, model_ids, units: dict, transform,
               template: str | None = None, border: str = "reflect", with_base: bool = True,
               cancel: CancelToken | None = None) -> ProbeView:
    """Every model on the transformed crop, and with ``with_base`` on the untransformed one
    too (one batch per model; the pane asks for the untransformed part once per face, model,
    template and border). ``transform`` is (dx, dy, angle, scale), dx/dy in reference px."""
    from ..backend import align, probe

    t0 = time.perf_counter()
    dx, dy, angle, scale = (float(v) for v in transform)
    labels, base, probs, errors, shown = {}, {}, {}, {}, {}
    k = 1 if with_base else 0  # index of the transformed crop in the batch
    for mid in model_ids:
        if cancel is not None:
            cancel.check()
        u = float(units.get(mid, 1.0))
        try:
            crops = probe.model_crops(backend, photo, face, mid, [0.0, dx * u][-1 - k:],
                                      [0.0, dy * u][-1 - k:], [0.0, angle][-1 - k:],
                                      [1.0, scale][-1 - k:], template, border)
            out = backend.run_model(mid, crops)
            if out.probs is None or not out.probs.size:
                raise ValueError(f"{mid} gives no class probabilities")
            labels[mid], probs[mid] = tuple(out.labels), out.probs[k]
            if with_base:
                base[mid] = out.probs[0]
        except Exception as exc:  # noqa: BLE001 - shown next to that model
            errors[mid] = " ".join(str(exc).split()) or type(exc).__name__
            continue
        if not shown:
            t, size, padding = _probe_chip(backend, mid, template)
            m = np.vstack([align.crop_matrix(face, t, size, padding), [0.0, 0.0, 1.0]])
            moved = align.transform_matrix(size, dx * u, dy * u, angle, scale) @ m
            pix = _as_uint8(crops)
            shown = dict(crop_model=mid, moved=pix[k],
                         moved_landmarks=align.map_points(moved[:2], face.landmarks)
                         .astype(np.float32),
                         targets=align.get_template(t).targets(size, padding).astype(np.float32))
            if with_base:
                shown.update(original=pix[0], landmarks=align.map_points(
                    m[:2], face.landmarks).astype(np.float32))
    return ProbeView((dx, dy, angle, scale), tuple(model_ids), labels, base, probs, errors,
                     seconds=time.perf_counter() - t0, **shown)


def probe_sweep(backend, photo: Photo, face: Face, model_id: str, unit: float, values: dict,
                template: str | None = None, border: str = "reflect") -> ProbeSweep:
    """dx, dy, angle and scale swept one at a time (one batch); ``values`` in reference units."""
    from ..backend import probe

    t0 = time.perf_counter()
    scaled = {k: (np.asarray(v, float) * unit if k in ("dx", "dy") else np.asarray(v, float))
              for k, v in values.items()}
    out = probe.one_d_sweeps(backend, photo, face, model_id, template=template, border=border,
                             values=scaled)
    sweeps = {k: (np.asarray(values[k], float), probs) for k, (_v, probs) in out.items()}
    return ProbeSweep(model_id, tuple(backend.model(model_id).labels), sweeps,
                      time.perf_counter() - t0)


def probe_heat(backend, photo: Photo, face: Face, model_id: str, unit: float, radius: float,
               n: int = 21, rows: tuple[int, int] | None = None, template: str | None = None,
               border: str = "reflect") -> ProbeHeat:
    """An ``n`` × ``n`` shift grid over ±``radius`` reference px (only the dy rows ``rows``,
    so a big model's grid can be computed in pieces), one batched warp + forward."""
    from ..backend import probe

    t0 = time.perf_counter()
    a, b = (0, n) if rows is None else rows
    offs = np.linspace(-radius, radius, n)  # what probe.shift_grid does, exactly n steps
    dy, dx = np.meshgrid(offs[a:b] * unit, offs * unit, indexing="ij")
    probs = probe.sweep_probs(backend, photo, face, model_id, dx.ravel(), dy.ravel(),
                              template=template, border=border)
    return ProbeHeat(model_id, tuple(backend.model(model_id).labels), offs,
                     probs.reshape(b - a, n, -1), (a, b), time.perf_counter() - t0)


def probe_metrics(backend, photo: Photo, face: Face, model_id: str, max_shift: int,
                  template: str | None = None, border: str = "reflect"):
    """Invariance metrics of one model on one face (a frozen ``probe.Metrics``)."""
    from ..backend import probe

    return probe.face_metrics(backend, photo, face, model_id, max_shift=max(1, int(max_shift)),
                              template=template, border=border)


def preload_plotting() -> bool:
    """Import matplotlib and its Qt canvas module and draw once off-screen (io lane), so the
    GUI thread does not stall ~1.5 s on the first plot. Creates no widget."""
    from matplotlib.backends import backend_qtagg  # noqa: F401 - imports only
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .. import plots  # noqa: F401

    fig = Figure(figsize=(2, 1.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="warm-up")
    ax.set_title("warm-up")
    ax.legend()
    FigureCanvasAgg(fig).draw()
    return True


# ------------------------------------------------------------------------------- morph
#
# The Morph pane's VAE work. The pane only ever holds a checkpoint *path*; models are loaded
# here, on the compute lane, and cached per (file, modification time, device), so a checkpoint
# that training rewrites is loaded afresh.

#: (checkpoint path, mtime_ns, device) -> loaded VAE (eval mode)
VAE_MODELS = _LRU(3)


def load_vae(path, device: str = "cpu"):
    """The VAE in ``path`` on ``device``, loaded once (compute lane; imports torch)."""
    from ..backend import vae

    p = Path(path)
    key = (str(p.resolve()), p.stat().st_mtime_ns, str(device))
    model = VAE_MODELS.get(key)
    if model is None:
        model = vae.load_checkpoint(p, device)
        VAE_MODELS.put(key, model)
    return model


@dataclass(frozen=True, eq=False)
class VaeInfo:
    """What the Morph pane shows about a checkpoint, and how to traverse its latents."""

    path: Path
    architecture: str  # "vae" or "dbvae"
    latent_dim: int
    order: np.ndarray  # latent dimensions, most active first (vae.dims_by_activity)
    mean: np.ndarray  # (D,) per-dimension mean of mu ...
    std: np.ndarray  # (D,) ... and spread: traversal ranges are mean ± k·std
    stats_from: str  # "training faces" or "prior samples"
    description: str  # one line: data, steps, loss
    command: str = ""
    device: str = ""


def vae_info(path, device: str = "cpu") -> VaeInfo:
    """Load a checkpoint and rank its latent dimensions by activity (compute lane).

    The ranking is :func:`vae.dims_by_activity` over the training faces' mu when the checkpoint
    stores their per-dimension mean/std (``dims_by_activity`` of ``mean ± std`` orders by
    ``std``), else over the mu of 256 faces decoded from prior samples and encoded again
    (dimensions the decoder ignores come back near 0: no activity).
    """
    from ..backend import vae

    model = load_vae(path, device)
    meta = model.meta or {}
    d = model.latent_dim
    mean, std = meta.get("latent_mean"), meta.get("latent_std")
    if mean is not None and std is not None and len(mean) == len(std) == d:
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        order = vae.dims_by_activity(np.stack([mean - std, mean + std]))
        stats_from = "training faces"
    else:
        z = np.random.default_rng(0).standard_normal((256, d)).astype(np.float32)
        mu = vae.encode(model, vae.decode(model, z))[0]
        mean, std = mu.mean(0), mu.std(0)
        order = vae.dims_by_activity(mu)
        stats_from = "prior samples"
    data = meta.get("data", {})
    prog = meta.get("progress", {})
    losses = meta.get("last_losses", {})
    parts = [meta.get("architecture", "vae").upper().replace("DBVAE", "DB-VAE"),
             f"latent {d}"]
    if data.get("count"):
        parts.append(f"{data['count']} faces ({data.get('source', '?')})")
    if prog.get("step"):
        parts.append(f"{prog.get('epoch', 0)} epochs, {prog['step']} steps")
    if "l1" in losses:
        parts.append(f"L1 {losses['l1']:.3f}")
    return VaeInfo(Path(path), meta.get("architecture", "vae"), d, np.asarray(order), mean,
                   np.maximum(std, 1e-6), stats_from, " · ".join(parts),
                   meta.get("command", ""), str(device))


@dataclass(frozen=True, eq=False)
class VaeFace:
    """One face for the Morph pane: its 64x64 VAE chip and the VAE's reconstruction."""

    key: tuple
    label: str
    chip: np.ndarray  # uint8 (64, 64, 3)
    recon: np.ndarray  # uint8 (64, 64, 3)
    checkpoint: Path


def vae_face(backend, path, device: str, label: str, key: tuple, photo=None, face=None,
             chip: np.ndarray | None = None) -> VaeFace:
    """Cut the face's VAE chip (``vae.chip_for_face``) unless ``chip`` is given, and
    reconstruct it with the checkpoint (compute lane)."""
    from ..backend import vae

    if chip is None:
        chip = vae.chip_for_face(backend, photo, face)
    chip = np.ascontiguousarray(chip, np.uint8)
    recon = vae.reconstruct(load_vae(path, device), chip)[0]
    return VaeFace(key, label, chip, recon, Path(path))


@dataclass(frozen=True, eq=False)
class VaeStrip:
    """Decoded frames: a morph A -> B or a traversal of one latent dimension."""

    kind: str  # "morph" or "traverse"
    frames: np.ndarray  # uint8 (N, 64, 64, 3)
    values: np.ndarray  # (N,): t in [0, 1] (morph) or the dimension's value (traverse)
    title: str
    checkpoint: Path
    seconds: float = 0.0
    dim: int = -1  # the traversed latent dimension


def vae_morph(path, device: str, chip_a: np.ndarray, chip_b: np.ndarray, steps: int,
              mode: str = "linear", title: str = "") -> VaeStrip:
    """Encode both chips, interpolate (linear or slerp), decode (compute lane).
    The first and last frames are the two reconstructions."""
    from ..backend import vae

    t0 = time.perf_counter()
    frames = vae.morph(load_vae(path, device), chip_a, chip_b, int(steps), mode)
    ts = np.linspace(0.0, 1.0, len(frames)) if len(frames) > 1 else np.zeros(1)
    return VaeStrip("morph", frames, ts, title, Path(path), time.perf_counter() - t0)


def vae_traverse(path, device: str, chip: np.ndarray, dim: int, values,
                 title: str = "") -> VaeStrip:
    """The chip's mu with dimension ``dim`` set to each of ``values``, decoded (compute lane)."""
    from ..backend import vae

    t0 = time.perf_counter()
    values = np.asarray(values, np.float32)
    frames = vae.traverse(load_vae(path, device), chip, int(dim), values)
    return VaeStrip("traverse", frames, values, title, Path(path), time.perf_counter() - t0,
                    int(dim))


def save_frames(frames: np.ndarray, path, kind: str, scale: int = 1,
                duration_ms: int = 120) -> Path:
    """Write frames as a PNG strip (``kind="png"``) or a looping GIF (``"gif"``) (io lane)."""
    from ..backend import vae

    if kind == "png":
        return vae.save_strip_png(frames, path, scale=scale)
    if kind == "gif":
        return vae.save_gif(frames, path, duration_ms=duration_ms, scale=scale)
    raise ValueError(f"unknown export kind {kind!r}")


@dataclass(frozen=True, eq=False)
class Resampling:
    """A DB-VAE's resampling weights as the Training tab shows them (made on the training lane).

    Ratios are weights as a multiple of the uniform weight ``1/N``. ``top``: the faces with the
    largest weights, largest first; ``bottom``: those with the smallest, in the same
    (descending) order, so the last one has the smallest weight of all. Only these few faces
    travel to the GUI, as their 64×64 chips."""

    epoch: int
    n: int  # training faces
    top: np.ndarray  # int64 (kt,) indices into the training faces
    top_ratio: np.ndarray  # float64 (kt,)
    top_faces: np.ndarray | None  # uint8 (kt, 64, 64, 3); None when the run sent no chips
    bottom: np.ndarray
    bottom_ratio: np.ndarray
    bottom_faces: np.ndarray | None
    top_names: tuple[str, ...] = ()
    bottom_names: tuple[str, ...] = ()
    max_ratio: float = 1.0
    median_ratio: float = 1.0
    ess: float = 0.0  # effective sample size (sum w)^2 / sum w^2

    @property
    def ess_fraction(self) -> float:
        """The effective sample size as a fraction of N (1: uniform weights)."""
        return self.ess / self.n if self.n else 0.0


def summarize_weights(weights, chips=None, names=(), epoch: int = 0, top: int = 12,
                      bottom: int = 6) -> Resampling:
    """The few most up- and down-weighted faces of a DB-VAE epoch, with their chips, and the
    summary numbers (max and median ratio to uniform, effective sample size).

    With fewer than ``top + bottom`` faces, at most a third of them are shown as
    down-weighted and the rest as up-weighted (no face appears twice). Ties keep the data
    order."""
    w = np.asarray(weights, np.float64).reshape(-1)
    n = len(w)
    total = float(w.sum())
    if n == 0 or not np.isfinite(total) or total <= 0:
        raise ValueError("weights must be a non-empty array of non-negative numbers, not all 0")
    ratio = w * (n / total)
    kb = min(bottom, n // 3) if n < top + bottom else bottom
    kt = min(top, n - kb)
    order = np.argsort(-ratio, kind="stable")
    hi, lo = order[:kt], order[n - kb:]

    def pick(idx):
        faces = None if chips is None else np.ascontiguousarray(np.asarray(chips)[idx],
                                                                np.uint8)
        return (idx.astype(np.int64), ratio[idx], faces,
                tuple(str(names[i]) for i in idx) if len(names) == n else ())

    t, b = pick(hi), pick(lo)
    return Resampling(int(epoch), n, t[0], t[1], t[2], b[0], b[1], b[2], t[3], b[3],
                      max_ratio=float(ratio.max()), median_ratio=float(np.median(ratio)),
                      ess=total * total / float(np.dot(w, w)))


@dataclass(frozen=True, eq=False)
class TrainUpdate:
    """A training run's progress as the Morph pane's Training tab shows it.

    ``steps`` and ``losses`` hold the points since the previous update (the job sends at most
    a few updates a second, however fast the steps are)."""

    phase: str  # "data", "train", "weights", "checkpoint", "done"
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    losses: dict = field(default_factory=dict)  # name -> (len(steps),) float
    step: int = 0
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    images_per_s: float = 0.0
    device: str = ""
    elapsed_s: float = 0.0
    done: int = 0  # data phase: files read ...
    total: int = 0  # ... of
    samples: tuple | None = None  # (originals, reconstructions), uint8 (k, 64, 64, 3) each
    weights: np.ndarray | None = None  # DB-VAE: sampling probability per training face
    resampling: Resampling | None = None  # DB-VAE: the faces the weights favour, summary
    checkpoint: str = ""
    cancelled: bool = False
    seconds: float = 0.0


class _StopFlag:
    """``is_set()`` for :func:`vae.train`: the Stop button's event or the job's cancel token."""

    def __init__(self, stop: threading.Event | None, cancel: CancelToken | None) -> None:
        self.stop, self.cancel = stop, cancel

    def is_set(self) -> bool:
        return bool((self.stop is not None and self.stop.is_set())
                    or (self.cancel is not None and self.cancel.cancelled))


LOSS_KEYS = ("loss", "l1", "kl", "cls", "acc")


def train_vae(config: dict, resume=None, stop: threading.Event | None = None, backend=None,
              interval_s: float = 0.25, samples: np.ndarray | None = None,
              cancel: CancelToken | None = None):
    """Generator (the Morph pane's training lane): run :func:`vae.train` and yield
    :class:`TrainUpdate` values, at most one "train" update per ``interval_s``.

    ``config``: :class:`vae.TrainConfig` fields. ``stop`` (the Stop button) ends the run
    gracefully: the backend saves a checkpoint (to resume later) and the last update is
    ``phase == "done"`` with ``cancelled=True``. Cancelling the job itself (the app closing)
    stops at the next step without saving. The trained model stays here; the GUI gets the
    checkpoint path. ``samples``: faces to show reconstructed by the final model when the run
    yields none of its own (a resumed run stopped before its first sample step).
    """
    from ..backend import vae

    cfg = vae.TrainConfig(**config)
    steps: list[int] = []
    points: dict[str, list[float]] = {k: [] for k in LOSS_KEYS}
    last_emit = 0.0
    latest: dict = {}
    originals = samples  # the sample faces, reconstructed once more by the final model

    def flush(msg: dict, phase: str = "train", **extra) -> TrainUpdate:
        nonlocal last_emit
        last_emit = time.perf_counter()
        out = TrainUpdate(
            phase, np.asarray(steps, np.int64),
            {k: np.asarray(v, np.float64) for k, v in points.items() if v},
            **{k: msg[k] for k in ("step", "epoch", "epochs", "batch", "batches", "device")
               if k in msg},
            images_per_s=float(msg.get("images_per_s", 0.0)),
            elapsed_s=float(msg.get("elapsed_s", 0.0)), **extra)
        steps.clear()
        for v in points.values():
            v.clear()
        return out

    for msg in vae.train(cfg, resume=resume, cancel=_StopFlag(stop, cancel), backend=backend):
        phase = msg.get("phase")
        if phase == "data":
            yield TrainUpdate("data", done=int(msg.get("done", 0)),
                              total=int(msg.get("total", 0)))
        elif phase == "train":
            latest = msg
            steps.append(int(msg["step"]))
            for k in LOSS_KEYS:
                if k in msg:
                    points[k].append(float(msg[k]))
            samples = msg.get("samples")
            if samples is not None:
                originals = np.asarray(samples["original"])
                yield flush(msg, samples=(np.asarray(samples["original"]),
                                          np.asarray(samples["reconstruction"])))
            elif time.perf_counter() - last_emit >= interval_s:
                yield flush(msg)
        elif phase == "weights":
            w = np.asarray(msg["weights"], np.float64)
            epoch = int(msg.get("epoch", 0))
            yield TrainUpdate("weights", epoch=epoch, weights=w,
                              resampling=summarize_weights(w, msg.get("chips"),
                                                           msg.get("names") or (), epoch))
        elif phase == "checkpoint":
            if steps:
                yield flush(latest)
            yield TrainUpdate("checkpoint", step=int(msg.get("step", 0)),
                              checkpoint=str(msg.get("path", "")))
        elif phase == "done":
            if steps:
                yield flush(latest)
            final = None
            if originals is not None and msg.get("model") is not None:
                final = (originals, vae.reconstruct(msg["model"], originals))
            yield TrainUpdate("done", samples=final, step=int(msg.get("step", 0)),
                              epoch=int(msg.get("epoch", 0)),
                              images_per_s=float(msg.get("images_per_s", 0.0)),
                              checkpoint=str(msg.get("checkpoint") or ""),
                              cancelled=bool(msg.get("cancelled")),
                              seconds=float(msg.get("seconds", 0.0)))
