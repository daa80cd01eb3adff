"""Photos in, faces out, at the machine's pace: decode ahead in a reader thread, detect in batches.

Every pass over a collection (the Photos pane and ``faceinspector detect``, ``eval``, the
probe on folders, the mismatch finder and the classifier evaluation through
:func:`faceinspector.backend.stream.iter_detected`) goes through :func:`detect_stream`:

* a **reader thread** walks the input (file reading and JPEG decoding, a cache look-up per
  file) a few photos ahead, so decoding overlaps the networks (:func:`prefetch`; bounded by a
  number of photos and of pixels, so memory stays a few photos whatever the collection);
* the photos that are ready go through MTCNN **together**
  (:meth:`~faceinspector.backend.facade.Backend.detect_many`: photos of one size share the
  P-Net calls, all share the R-/O-Net calls), at most ``max_batch`` at a time. A batch never
  waits for photos that are not decoded yet: the first photo of a folder is detected alone
  and shown at once (the Photos pane streams), later batches fill up as the reader gets ahead;
* **detector lanes** run the batches while the caller works on the previous results
  (chips, embeddings, thumbnails), so the networks of both overlap. With ONNX Runtime on the
  CPU there is one lane per core (:func:`~faceinspector.backend.engines.lanes_now`), each
  detecting its own batch with one-thread sessions: the cascade's numpy steps (pyramid,
  crops, non-maximum suppression) then run on every core too, not between the networks'
  parallel parts on one (LFW end to end: 1.4x the throughput of one lane with two-thread
  networks, ``benchmarks/embed_speed.py``). The first batch (the first photo, shown at once)
  gets every core;
* results come out **in input order**, one :class:`Found` per input, each with the faces a
  single-photo :meth:`~faceinspector.backend.facade.Backend.detect` gives.

Nothing here imports torch or Qt.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tasks import CancelToken, is_cancelled
from .types import Face, Photo

#: photos per detection batch (equal-size photos share every network call)
MAX_BATCH = 32
#: :func:`detect_stream` gives freed heap memory back to the system every this many photos
TRIM_EVERY = 256
#: photos the reader may decode ahead, and their pixels at most (the first photo always passes)
PREFETCH_PHOTOS = 48
PREFETCH_PIXELS = 48_000_000

_DONE = object()
#: every reader and lane thread still alive, stopped and joined at exit (a daemon thread left
#: inside C code -- a JPEG decode, an ONNX Runtime call -- when the interpreter finalises
#: aborts it)
_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class prefetch:
    """Iterate ``items`` in a daemon reader thread, ``depth`` items (and ``budget`` of
    ``cost(item)``) ahead of the consumer; yields them in order. An exception of the reader is
    raised in the consumer. :meth:`close` (or ``cancel``) stops the reader at its next item;
    :meth:`ready` says whether the next item is already waiting."""

    def __init__(self, items: Iterable, *, depth: int = PREFETCH_PHOTOS,
                 budget: float = float("inf"), cost: Callable[[Any], float] | None = None,
                 cancel: CancelToken | None = None) -> None:
        self._items, self._depth, self._budget, self._cost = items, depth, budget, cost
        self._cancel = cancel
        self._q: queue.Queue = queue.Queue()
        self._room = threading.Condition()
        self._count, self._held = 0, 0.0
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._read, name="faceinspector-reader",
                                        daemon=True)
        _LIVE.add(self)
        self._thread.start()

    def _read(self) -> None:
        items = self._items
        try:
            for item in items:
                c = self._cost(item) if self._cost is not None else 0.0
                with self._room:
                    while (self._count and (self._count >= self._depth
                                            or self._held + c > self._budget)
                           and not self._stop.is_set()):
                        self._room.wait(0.1)
                    if self._stop.is_set():
                        return
                    self._count += 1
                    self._held += c
                self._q.put((item, c))
                if self._stop.is_set() or is_cancelled(self._cancel):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._q.put((_Failure(exc), 0.0))
        finally:
            self._q.put((_DONE, 0.0))
            close = getattr(items, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - best effort
                    pass

    def __iter__(self) -> "prefetch":
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        while True:
            try:
                item, c = self._q.get(timeout=0.1)
                break
            except queue.Empty:
                if is_cancelled(self._cancel):
                    self.close()
                    raise StopIteration from None
        if item is _DONE:
            self._done = True
            raise StopIteration
        with self._room:
            self._count -= 1
            self._held -= c
            self._room.notify()
        if isinstance(item, _Failure):
            self.close()
            raise item.exc
        return item

    def ready(self) -> bool:
        """True when the next item is decoded and waiting (or the input has ended)."""
        return self._q.qsize() > 0

    def close(self, wait: float = 0.0) -> None:
        """Stop the reader at its next item; wait up to ``wait`` seconds for it to end."""
        self._done = True
        self._stop.set()
        with self._room:
            self._room.notify_all()
        if wait > 0:
            self.join(wait)

    def join(self, timeout: float) -> None:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


@atexit.register
def _stop_readers(budget: float = 5.0) -> None:
    live = list(_LIVE)
    for p in live:
        p.close()
    deadline = time.monotonic() + budget
    for p in live:
        p.join(max(0.0, deadline - time.monotonic()))


def ready_batches(items: Iterator, max_batch: int = MAX_BATCH,
                  ready: Callable[[], bool] | None = None,
                  first_alone: bool = True) -> Iterator[list]:
    """Group ``items`` into lists of at most ``max_batch``: the first item of a batch is
    waited for, the others are taken only while ``ready()`` says more are waiting. With
    ``first_alone`` the very first item is a batch of its own (it is shown at once)."""
    buffer: list = []
    for item in items:
        buffer.append(item)
        if (len(buffer) >= max_batch or ready is None or not ready() or first_alone):
            yield buffer
            buffer = []
            first_alone = False
    if buffer:
        yield buffer


@dataclass(frozen=True, eq=False)
class Found:
    """One input of :func:`detect_stream`: its photo and faces, or why it could not be read.

    ``faces`` is None only with ``error``; ``cached`` says the faces came from ``lookup``;
    ``extra`` is what ``prepare`` returned (thumbnails, a file key, ...); ``seconds`` the
    detection time of this photo (its share of the batch; 0 when cached).
    """

    path: Path
    photo: Photo | None = None
    faces: tuple[Face, ...] | None = None
    error: str = ""
    cached: bool = False
    extra: Any = None
    seconds: float = 0.0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def detect_stream(backend, pairs: Iterable, *,
                  lookup: Callable[[Path, Photo], tuple | None] | None = None,
                  save: Callable[[Path, Photo, tuple], None] | None = None,
                  prepare: Callable[[Path, Photo], Any] | None = None,
                  max_batch: int = MAX_BATCH, cancel: CancelToken | None = None,
                  prefetch_photos: int = PREFETCH_PHOTOS,
                  prefetch_pixels: int = PREFETCH_PIXELS) -> Iterator[Found]:
    """Detect faces in a stream of photos, in batches, decoding ahead; yields a :class:`Found`
    per input, in order.

    ``pairs``: ``(path, Photo | Exception)`` items, produced lazily (e.g.
    :func:`faceinspector.backend.images.iter_photos`): iterating it -- the reading and decoding
    -- happens in the reader thread. ``lookup(path, photo)`` (reader thread) returns cached
    faces or None; ``save(path, photo, faces)`` (detector thread) stores what was detected;
    ``prepare(path, photo)`` (reader thread) computes per-photo extras. Batches are detected in
    a detector thread while the caller works on the previous one's results. ``max_batch=1``
    detects one photo at a time (still decoding ahead). Closing the generator stops both
    threads (waiting at most for the batch being detected).
    """

    def produce() -> Iterator[Found]:
        for path, item in pairs:
            path = Path(path)
            if isinstance(item, BaseException):
                yield Found(path, error=_one_line(item))
                continue
            try:
                faces = lookup(path, item) if lookup is not None else None
                extra = prepare(path, item) if prepare is not None else None
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the rest
                yield Found(path, error=f"{path.name}: {_one_line(exc)}")
                continue
            yield Found(path, item, None if faces is None else tuple(faces), cached=faces
                        is not None, extra=extra)

    def pixels(found: Found) -> float:
        return 0.0 if found.photo is None else float(found.photo.width * found.photo.height)

    halt = threading.Event()
    lanes = _lanes_for(backend)

    def detected() -> Iterator[Found]:  # runs in the detector thread
        waiting = prefetch(produce(), depth=prefetch_photos, budget=prefetch_pixels,
                           cost=pixels, cancel=cancel)
        batches = ready_batches(waiting, max_batch, waiting.ready)
        try:
            if lanes > 1:
                yield from _lane_batches(backend, batches, save, lanes, cancel, halt)
            else:
                for batch in batches:
                    yield from _detect_batch(backend, batch, save, None)
                    if is_cancelled(cancel) or halt.is_set():
                        return
        finally:
            waiting.close(wait=2.0)

    # the caller works on a batch's results while the next batch is detected
    out = prefetch(detected(), depth=2 * max_batch * max(1, lanes),
                   budget=prefetch_pixels // 2, cost=pixels, cancel=cancel)
    try:
        for n, found in enumerate(out, 1):
            yield found
            if n % TRIM_EVERY == 0:
                trim_heap()
    finally:
        halt.set()
        out.close(wait=5.0)  # the batches being detected, at most


def _libc_trim():
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        fn = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        fn = None
    return fn


_TRIM: list = []


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). A data-set pass allocates megabyte temporaries (pyramid levels, crops, model
    batches) between small long-lived blocks, from several threads; glibc serves them from its
    heaps once its mmap threshold has risen, and the small blocks keep the freed pages from
    being returned, so the resident size grew with the number of photos (6,000 LFW images:
    0.94 -> 1.76 GB). Trimming every :data:`TRIM_EVERY` photos keeps it flat (~0.93 GB) and
    costs ~0.5 ms a call."""
    if not _TRIM:
        _TRIM.append(_libc_trim())
    if _TRIM[0] is not None:
        _TRIM[0](0)


def _lanes_for(backend) -> int:
    """Detector lanes for ``backend``: one per core with ONNX Runtime on the CPU (sessions
    run from several threads at once), else one (torch keeps one thread count per process;
    CUDA gains nothing from CPU lanes)."""
    detector = getattr(backend, "detector", None)
    if getattr(detector, "engine", "") != "onnx":
        return 1
    from . import engines

    return engines.lanes_now()


def _detect_batch(backend, batch: list, save, threads: int | None) -> list[Found]:
    """One batch through MTCNN together: a :class:`Found` per photo, in order (photos
    without pixels or with cached faces pass as they are)."""
    todo = [f for f in batch if f.photo is not None and f.faces is None]
    dets = {}
    if todo:
        t0 = time.perf_counter()
        try:
            results = backend.detect_many([f.photo for f in todo], threads=threads)
        except Exception as exc:  # noqa: BLE001 - each photo gets the reason
            results = [exc] * len(todo)
        secs = (time.perf_counter() - t0) / len(todo)
        for f, det in zip(todo, results):
            dets[id(f)] = (det, secs)
    out = []
    for f in batch:
        if id(f) not in dets:
            out.append(f)
            continue
        det, secs = dets[id(f)]
        if isinstance(det, BaseException):
            out.append(Found(f.path, error=f"{f.path.name}: detection failed: "
                             f"{_one_line(det)}", extra=f.extra))
            continue
        faces = tuple(det.faces)
        if save is not None:
            try:
                save(f.path, f.photo, faces)
            except Exception:  # noqa: BLE001 - a cache that cannot store is no error
                pass
        out.append(Found(f.path, f.photo, faces, extra=f.extra, seconds=secs))
    return out


class _LaneWorkers:
    """Daemon threads that take batches from one iterator (in turn, under a lock) and detect
    them with one-thread sessions; results are collected by sequence number. At most
    ``lanes + 1`` batches are taken and not yet handed on, so the lanes never run far ahead
    of the consumer. Joined at exit like the readers (a daemon thread left inside an ONNX
    Runtime call when the interpreter finalises aborts it)."""

    def __init__(self, backend, batches: Iterator[list], save, lanes: int,
                 halt: threading.Event) -> None:
        self._backend, self._batches, self._save, self._halt = backend, batches, save, halt
        self._take = threading.Lock()
        self._done = threading.Condition()
        self._slots = threading.Semaphore(lanes + 1)
        self.results: dict[int, Any] = {}
        self.total: int | None = None  # batches in all, once the input has ended
        self._next = 0
        self._threads = [threading.Thread(target=self._work, name=f"faceinspector-detector-{k}",
                                          daemon=True) for k in range(lanes)]
        _LIVE.add(self)
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        while not self._halt.is_set():
            if not self._slots.acquire(timeout=0.1):
                continue
            with self._take:
                if self.total is not None or self._halt.is_set():
                    self._slots.release()
                    return
                seq = self._next
                try:
                    batch = next(self._batches)
                except StopIteration:
                    batch = None
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                    batch = _Failure(exc)
                if batch is None or isinstance(batch, _Failure):
                    with self._done:
                        if isinstance(batch, _Failure):
                            self.results[seq] = batch
                            seq += 1
                        self.total = seq
                        self._done.notify_all()
                    self._slots.release()
                    return
                self._next = seq + 1
            # the very first batch (the first photo, shown at once) gets every core
            out: Any = _detect_batch(self._backend, batch, self._save, None if seq == 0 else 1)
            with self._done:
                self.results[seq] = out
                self._done.notify_all()

    def get(self, seq: int, cancel: CancelToken | None):
        """Batch ``seq``'s results (a list of :class:`Found`), or None when the input ended
        before it or the stream was stopped."""
        with self._done:
            while seq not in self.results:
                if (self.total is not None and seq >= self.total) or self._halt.is_set() \
                        or is_cancelled(cancel):
                    return None
                self._done.wait(0.1)
            out = self.results.pop(seq)
        self._slots.release()
        if isinstance(out, _Failure):
            raise out.exc
        return out

    def close(self, wait: float = 0.0) -> None:
        self._halt.set()
        if wait > 0:
            self.join(wait)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))


def _lane_batches(backend, batches: Iterator[list], save, lanes: int,
                  cancel: CancelToken | None, halt: threading.Event) -> Iterator[Found]:
    """:class:`_LaneWorkers` over ``batches``; a :class:`Found` per photo, in input order."""
    workers = _LaneWorkers(backend, batches, save, lanes, halt)
    try:
        seq = 0
        while True:
            out = workers.get(seq, cancel)
            if out is None:
                return
            yield from out
            seq += 1
            if is_cancelled(cancel) or halt.is_set():
                return
    finally:
        workers.close(wait=5.0)  # stops the lanes; waits for the batches being detected


__all__ = ["MAX_BATCH", "PREFETCH_PHOTOS", "PREFETCH_PIXELS", "TRIM_EVERY", "Found",
           "detect_stream", "prefetch", "ready_batches", "trim_heap"]
