"""Which engine runs a network, on how many threads, and the ONNX copies of the torch ports.

Three things every network in the backend shares (issue 16):

**The engine.** On CPU a network runs through ONNX Runtime when that is faster than its torch
port, on CUDA through torch. :func:`choose` decides per model from :data:`CPU_TABLE` (measured
by ``benchmarks/engines.py``: torch vs ONNX Runtime on the same inputs, same thread count);
``engine="torch"`` / ``"onnx"`` (the CLI's ``--engine``, ``$FACEINSPECTOR_ENGINE``) forces one.
The dlib networks are ONNX graphs already; the other ports (MTCNN's three nets, the dlib ResNet,
the face-api heads) are exported once from the torch port with :func:`cached_export`, checked
equal to it within float tolerance, and kept in the model cache next to their pack, under a
name that carries the sha256 of the weights they came from.

**The threads.** :func:`threads_now` decides the intra-op threads from the cores this process
may use (``os.sched_getaffinity``) minus the ones other processes keep busy right now (the
per-CPU busy time in ``/proc/stat`` minus this process's own CPU time, over the last ~0.3 s):
two threads per op on two cores are 1.7x faster on a quiet machine, but collapse (10x slower)
when one of the cores is busy with someone else, because every op waits for its slowest
thread. ONNX Runtime sessions never spin-wait (``session.intra_op.allow_spinning = 0``) and
torch's OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE``, set in the package).

**The sessions.** :class:`OrtNet` keeps one ONNX Runtime session per thread count it was asked
for (a session's thread pool is fixed when it is made), so the policy can change its mind from
one batch to the next.

**Subnormal floats.** Some networks' activations pass through subnormal float32 values (below
1.2e-38), which x86 CPUs handle in microcode, tens of times slower: dlib's age network ran 3.5x
slower on chips scaled to 0..1 than on the same chips in 0..255 (195 vs 52 ms for 65 chips).
:func:`flush_denormals` turns on flush-to-zero / denormals-are-zero on the calling thread (the
one that runs a one-thread session's work), and ONNX Runtime's own pool threads get
``session.set_denormal_as_zero``; both only drop values smaller than any the outputs can show
(the outputs are tested equal to the references as before).

Nothing here imports torch at module level; ONNX Runtime is imported when a session is made.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")

#: the engine each network runs on a CPU under ``engine="auto"``. Measured with
#: ``benchmarks/engines.py`` on the 2-core AMD EPYC (AVX2, no AVX-512; 2026-12-06, other jobs on
#: the machine, load average ~2.4), ONNX Runtime 1.30 vs torch 2.14 on the same inputs, best of
#: 3, ms per batch with 1 / 2 intra-op threads (ONNX Runtime: one call; its chunks on
#: one-thread lanes were as fast or faster):
#:
#: =================== ================ =============== ===============
#: network             batch            torch           onnx
#: =================== ================ =============== ===============
#: MTCNN P-Net         32 x 150x150     118.9 / 53.0    75.6 / 38.7
#: MTCNN R-Net         256 x 24x24      46.2 / 22.5     23.1 / 12.2
#: MTCNN O-Net         64 x 48x48       66.8 / 33.7     30.4 / 16.2
#: dlib-gender         441 x 32x32      214.4 / 110.2   131.7 / 66.2
#: dlib-age            64 x 64x64       1251.9 / 630.0  559.9 / 286.5
#: dlib-resnet         32 x 150x150     116.5 / 63.9    112.7 / 57.2
#: faceapi-agegender   32 x 112x112     267.3 / 146.0   70.1 / 41.7
#: faceapi-expression  32 x 112x112     135.1 / 68.0    41.2 / 27.1
#: =================== ================ =============== ===============
#:
#: Models not listed (user models, the demo classifiers, FaceNet) run on torch.
CPU_TABLE: dict[str, str] = {
    "mtcnn": "onnx",
    "dlib-gender": "onnx",
    "dlib-age": "onnx",
    "dlib-resnet": "onnx",
    "faceapi-agegender": "onnx",
    "faceapi-expression": "onnx",
}


def engine_setting(engine: str | None = None) -> str:
    """``engine`` if given, else ``$FACEINSPECTOR_ENGINE``, else "auto" (checked)."""
    value = engine if engine not in (None, "") else \
        os.environ.get("FACEINSPECTOR_ENGINE", "").strip() or "auto"
    value = str(value).lower()
    if value not in ENGINES:
        raise ValueError(f"unknown engine {value!r}; use {', '.join(ENGINES)}")
    return value


def choose(name: str, device: str = "cpu", engine: str | None = None) -> str:
    """"torch" or "onnx" for network ``name`` on ``device`` ("cpu", "cuda", "cuda:1", ...).

    Forced engines win (an ONNX model on a CUDA device runs on the CPU through ONNX Runtime,
    unless ``onnxruntime-gpu`` provides CUDA); "auto" is torch on CUDA and :data:`CPU_TABLE`
    on CPU.
    """
    engine = engine_setting(engine)
    if engine != "auto":
        return engine
    if str(device).startswith("cuda"):
        return "torch"
    return CPU_TABLE.get(name, "torch")


# ------------------------------------------------------------------------------ the threads


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (``sched_getaffinity``; else all of them)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _proc_busy(cpus: Sequence[int]) -> tuple[float, float] | None:
    """(busy jiffies of ``cpus`` summed, this process's jiffies), or None without /proc."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            lines = fh.read().splitlines()
        with open("/proc/self/stat", encoding="ascii") as fh:
            own = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    want = {f"cpu{c}" for c in cpus}
    busy = 0.0
    for line in lines:
        parts = line.split()
        if parts and parts[0] in want:
            v = [float(x) for x in parts[1:]]
            # user nice system idle iowait irq softirq steal ...; idle and iowait are not busy
            busy += sum(v[:8]) - v[3] - v[4]
    # utime, stime are fields 14 and 15 (1-based) of /proc/self/stat; own[0] is field 3
    return busy, float(own[11]) + float(own[12])


class CoreMonitor:
    """How many of this process's CPUs other processes keep busy (a moving estimate).

    Each :meth:`others_busy` compares the CPUs' busy time and this process's own CPU time with
    the previous sample (at least ``window`` seconds old; the first call samples twice,
    ``first_wait`` apart). Thread-safe.
    """

    def __init__(self, window: float = 0.3, first_wait: float = 0.05) -> None:
        self.window, self.first_wait = window, first_wait
        self.cpus = allowed_cpus()
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None  # (time, busy, own)
        self._value = 0.0

    def others_busy(self) -> float:
        """Cores' worth of CPU time other processes used lately (0 on a quiet machine)."""
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self.window:
                return self._value
            sample = _proc_busy(self.cpus)
            if sample is None:  # not Linux: the load average, minus nothing we can tell
                try:
                    self._value = max(0.0, os.getloadavg()[0] - 1.0)
                except (AttributeError, OSError):
                    self._value = 0.0
                return self._value
            if self._last is None:
                self._last = (now, *sample)
                time.sleep(self.first_wait)
                now, sample = time.monotonic(), _proc_busy(self.cpus) or sample
            t0, busy0, own0 = self._last
            hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
            dt = max(now - t0, 1e-3)
            others = ((sample[0] - busy0) - (sample[1] - own0)) / hz / dt
            self._value = min(max(others, 0.0), float(len(self.cpus)))
            self._last = (now, *sample)
            return self._value


_MONITOR: CoreMonitor | None = None
_MONITOR_LOCK = threading.Lock()


def monitor() -> CoreMonitor:
    global _MONITOR
    with _MONITOR_LOCK:
        if _MONITOR is None:
            _MONITOR = CoreMonitor()
        return _MONITOR


def env_threads() -> int | None:
    """``$FACEINSPECTOR_THREADS`` when it is a whole number >= 1."""
    env = os.environ.get("FACEINSPECTOR_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else None


#: the most intra-op threads any network gets (None: no cap); the app sets it to cores - 1
_CAP: list[int | None] = [None]


def set_thread_cap(cap: int | None) -> None:
    """Never use more than ``cap`` intra-op threads (the app keeps a core for its window)."""
    _CAP[0] = None if cap is None else max(1, int(cap))


def thread_cap() -> int | None:
    return _CAP[0]


def threads_now(cap: int | None = None) -> int:
    """Intra-op threads for the next batch: the allowed cores minus those busy with other
    processes (a core counts as busy when more than half of it was used lately), at least 1,
    at most ``cap`` / :func:`set_thread_cap`. ``$FACEINSPECTOR_THREADS`` wins."""
    fixed = env_threads()
    if fixed is not None:
        return fixed
    cpus = len(allowed_cpus())
    free = cpus - int(monitor().others_busy() + 0.5)
    limit = min(c for c in (cap, _CAP[0], cpus) if c is not None)
    return max(1, min(free, limit))


def apply_torch_threads(n: int) -> int:
    """``torch.set_num_threads(n)`` when it differs (torch must be imported already)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# ------------------------------------------------------------------------- ONNX Runtime

_FTZ = threading.local()


def flush_denormals() -> bool:
    """Flush subnormal floats to zero on this thread (x86 FTZ and DAZ), once per thread.

    Done through torch (:func:`torch.set_flush_denormal`, which sets this thread's MXCSR) when
    torch is loaded; before that (the detector at start-up runs without torch), and while
    another thread is still importing it (the GUI warms the models while photos are being
    detected), nothing happens and False is returned: a later call does it. Never raises.
    Threads started afterwards inherit the setting (POSIX).
    """
    if getattr(_FTZ, "on", False):
        return True
    import sys

    torch = sys.modules.get("torch")
    if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
        return False
    flush = getattr(torch, "set_flush_denormal", None)
    if flush is None:  # a module of that name that is not (yet) torch
        return False
    try:
        _FTZ.on = bool(flush(True))
    except Exception:  # noqa: BLE001 - an optimisation: the answers are the same without it
        return False
    return _FTZ.on



def session_options(threads: int):
    """ONNX Runtime session options: ``threads`` intra-op threads, one inter-op thread, no
    spin-waiting (idle threads sleep instead of burning a shared core), all graph
    optimisations."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.add_session_config_entry("session.set_denormal_as_zero", "1")  # its pool threads
    so.log_severity_level = 3
    return so


class _Helpers:
    """A few daemon threads that help a caller through a list of independent chunks.

    :func:`run_chunks` hands chunk indices out one at a time (under a lock) to the caller and up
    to ``lanes - 1`` helpers; each runs a whole chunk with a one-thread session, so no thread
    ever waits for another mid-operation: a lane whose core is shared just takes fewer chunks
    (on two cores with one busy, ~1.5 cores of work instead of the 1 a single thread gets or the
    fraction two intra-op threads get). The caller works too, so nested or concurrent use
    cannot deadlock: with every helper busy the caller does all chunks itself. Helper threads
    are daemons (closing the app never waits for them) created by the first caller, whose
    priority (nice) they inherit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: list = []
        self._cv = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self.busy = 0

    def _ensure(self, n: int) -> None:
        while len(self._threads) < n:
            t = threading.Thread(target=self._loop, name=f"faceinspector-lane{len(self._threads)}",
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._tasks:
                    self._cv.wait()
                job = self._tasks.pop(0)
                self.busy += 1
            try:
                job()
            finally:
                with self._cv:
                    self.busy -= 1
                    self._cv.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no helper runs a chunk (at exit: a daemon thread left inside ONNX
        Runtime when the interpreter finalises aborts the process)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            self._tasks.clear()
            while self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def offer(self, job: Callable[[], None], helpers: int) -> None:
        with self._cv:
            self._ensure(helpers)
            self._tasks.extend([job] * helpers)
            self._cv.notify(helpers)


_HELPERS = _Helpers()
atexit.register(_HELPERS.wait_idle, 5.0)


def run_chunks(fn: Callable[[int], object], n: int, lanes: int) -> list:
    """``[fn(0), ..., fn(n - 1)]``, with up to ``lanes`` threads taking chunks as they free up
    (see :class:`_Helpers`); exceptions are re-raised in the caller."""
    if lanes <= 1 or n <= 1:
        return [fn(i) for i in range(n)]
    results: list = [None] * n
    errors: list[BaseException] = []
    state = {"next": 0, "done": 0}
    lock = threading.Lock()
    finished = threading.Event()

    def work() -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= n or errors:
                    return
                state["next"] = i + 1
            try:
                flush_denormals()
                results[i] = fn(i)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                with lock:
                    errors.append(exc)
            with lock:
                state["done"] += 1
                if state["done"] >= n or errors:
                    finished.set()

    _HELPERS.offer(work, min(lanes, n) - 1)
    try:
        work()
    except BaseException as exc:  # Ctrl-C in the caller: the helpers take no more chunks
        with lock:
            errors.append(exc)
        raise
    # the chunks helpers took may still be running
    while not finished.wait(0.05):
        with lock:
            if state["next"] >= n and state["done"] >= state["next"]:
                break
    if errors:
        raise errors[0]
    return results


def lanes_now(cap: int | None = None) -> int:
    """Parallel one-thread lanes for chunked work: every allowed core (lanes do not collapse
    when a core is shared, see :class:`_Helpers`), at most ``cap`` / :func:`set_thread_cap`;
    ``$FACEINSPECTOR_THREADS`` wins."""
    fixed = env_threads()
    if fixed is not None:
        return fixed
    limit = [c for c in (cap, _CAP[0]) if c is not None]
    return max(1, min([len(allowed_cpus())] + limit))


class OrtNet:
    """One ONNX graph run through ONNX Runtime, with a session per thread count.

    ``run(x)`` takes a float32 array (the graph's one input, batch first) and returns the list
    of its outputs. With ``chunk`` rows per call and more than one chunk, the chunks go to
    :func:`lanes_now` one-thread lanes (:func:`run_chunks`); a single call gets
    :func:`threads_now` intra-op threads. ``threads`` forces the intra-op threads of one call
    (and no lanes).
    """

    def __init__(self, model: str | os.PathLike | bytes, name: str = "",
                 providers: Sequence[str] | None = None, chunk: int | None = None) -> None:
        self.model = model if isinstance(model, bytes) else str(model)
        self.name = name or (Path(self.model).stem if isinstance(self.model, str) else "onnx")
        self.providers = list(providers or ["CPUExecutionProvider"])
        self.chunk = chunk
        self._sessions: dict[int, object] = {}
        self._lock = threading.Lock()
        self.input_name = ""

    def session(self, threads: int):
        with self._lock:
            s = self._sessions.get(threads)
            if s is None:
                import onnxruntime as ort

                s = ort.InferenceSession(self.model, session_options(threads),
                                         providers=self.providers)
                self.input_name = s.get_inputs()[0].name
                self._sessions[threads] = s
            return s

    def run(self, x: np.ndarray, threads: int | None = None,
            chunk: int | None = None) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        flush_denormals()  # this thread runs a one-thread session's work itself
        chunk = chunk or self.chunk
        n = -(-len(x) // chunk) if chunk and len(x) else 1
        if n <= 1 or threads is not None:
            s = self.session(threads_now() if threads is None else max(1, int(threads)))
            if n <= 1:
                return s.run(None, {self.input_name: x})
            parts = [s.run(None, {self.input_name: x[i * chunk:(i + 1) * chunk]})
                     for i in range(n)]
        else:
            s = self.session(1)
            parts = run_chunks(
                lambda i: s.run(None, {self.input_name: x[i * chunk:(i + 1) * chunk]}), n,
                lanes_now())
        return [np.concatenate(p) for p in zip(*parts)]

    __call__ = run


__all__ = ["CPU_TABLE", "ENGINES", "CoreMonitor", "OrtNet", "allowed_cpus", "flush_denormals",
           "apply_torch_threads", "choose", "engine_setting", "env_threads", "lanes_now",
           "monitor", "run_chunks", "session_options", "set_thread_cap", "thread_cap",
           "threads_now"]
