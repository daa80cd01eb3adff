"""What every command shares: one way to report errors, run a backend task with progress, and
stop it with Ctrl-C.

:func:`run_task` is the CLI's one event printer: it drains a task generator
(:mod:`faceinspector.backend.tasks`) and shows its :class:`~faceinspector.backend.tasks.Progress`
as a ``tqdm`` bar per stage on a terminal, or as a line every few seconds when the output is a
file or a pipe (CI logs stay readable). Progress of the ``note`` stage is a message worth
keeping (an epoch's result, a file written) and is always printed as a line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path

from ..backend import tasks

#: exit code for an expected failure (a one-line ``error:`` message on stderr)
FAIL = 2


def human(n: float) -> str:
    """A byte count for people: ``512 B``, ``1.5 MB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def fail(message) -> int:
    """Print ``message`` (a string or an exception, see :func:`describe`) as one ``error:``
    line on stderr; return the exit code 2."""
    text = describe(message) if isinstance(message, BaseException) else message
    text = " ".join(str(text).split()) or type(message).__name__
    print(f"error: {text}", file=sys.stderr)
    return FAIL


def describe(exc: BaseException) -> str:
    """One line for the user about ``exc``.

    Our own errors (and ``ValueError``/``KeyError``, raised with messages written for users)
    are their message; an ``OSError`` says which file and why (``cannot read pairs.txt: no
    such file or directory``); anything else is ``Type: message``.
    """
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        names = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        return f"{names}: {exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror}"
    text = " ".join(str(exc).split())
    ours = type(exc).__module__.startswith("faceinspector")
    if ours or isinstance(exc, (ValueError, OSError)) or type(exc).__name__ == "AssetError":
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def quiet_broken_pipe() -> None:
    """The reader of stdout went away (``| head``): send the rest of our output nowhere, so
    Python's flush at exit does not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


# ------------------------------------------------------------------ argument types (argparse)


def _whole(text: str, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """``type=`` for counts that must be >= 1."""
    return _whole(text, 1, "1 or more")


def nonneg_int(text: str) -> int:
    """``type=`` for counts where 0 has a meaning (all, off) and negatives none."""
    return _whole(text, 0, "0 or more")


def positive_float(text: str) -> float:
    """``type=`` for finite numbers > 0 (a learning rate, a duration)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def nonneg_float(text: str) -> float:
    """``type=`` for finite numbers >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0 <= value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def device_arg(text: str) -> str:
    """``type=`` for ``--device``: the spelling is checked here (without importing torch);
    whether this machine has that GPU is checked when the device is used."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use auto, cpu, cuda or "
                                         "cuda:N")
    return text


def out_dir_arg(text: str) -> str:
    """``type=`` for an output folder: it may not exist yet, but must not be a file."""
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return text


def out_file_arg(text: str) -> str:
    """``type=`` for an output file: not a folder, and not inside a file."""
    p = Path(text)
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
    parent = next((q for q in p.absolute().parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{parent} is a file, not a folder")
    return text


@contextlib.contextmanager
def ctrl_c_cancels():
    """Within the block, the first Ctrl-C sets the yielded :class:`~tasks.CancelToken` (the
    task stops after its current step) and a second one aborts (``KeyboardInterrupt``)."""
    cancel = tasks.CancelToken()

    def on_sigint(signum, frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl-C again to abort)...", file=sys.stderr)
        cancel.cancel()

    try:
        old = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (a test, a notebook): no handler
        yield cancel
        return
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, old)


def _postfix(info, text: str = "", done: int | None = None) -> str:
    """The scalar numbers of a Progress' ``info`` as ``name value`` pairs, less what the line
    says already: a key named (or, for a plural, its singular named) as a word in ``text``
    ("epoch 2/15" shows ``epoch`` and ``epochs``), and a whole number equal to ``done``."""
    if not info:
        return ""
    words = set(text.split())
    parts = []
    for k, v in info.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if k in words or k.removesuffix("s") in words or (isinstance(v, int) and v == done):
            continue
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


class ProgressPrinter:
    """Shows a task's progress on ``stream``: a tqdm bar per stage on a terminal, otherwise
    one line per ``every`` seconds (and at each stage's start and end)."""

    def __init__(self, stream=None, every: float = 10.0, bar: bool | None = None):
        self.stream = stream or sys.stderr
        self.every = every
        self.bar_on = self.stream.isatty() if bar is None else bar
        self._bar = None
        self._stage = None
        self._last = 0.0
        self._t0 = time.perf_counter()

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=sys.stdout)
        else:
            print(text, flush=True)

    def __call__(self, p: tasks.Progress) -> None:
        if p.stage == tasks.NOTE:
            self.note(p.text)
            return
        stage = p.stage or "progress"
        if self.bar_on:
            self._show_bar(stage, p)
            return
        now = time.perf_counter()
        finished = p.total > 0 and p.done >= p.total
        if stage != self._stage or finished or now - self._last >= self.every:
            self._stage, self._last = stage, now
            count = f"{p.done}/{p.total}" if p.total else f"{p.done}"
            extra = _postfix(p.info, p.text, p.done)
            text = f"  {stage}: {count}" + (f"  {p.text}" if p.text else "") \
                + (f"  {extra}" if extra else "") + f"  ({now - self._t0:.0f} s)"
            print(text, file=self.stream, flush=True)

    def _show_bar(self, stage: str, p: tasks.Progress) -> None:
        from tqdm import tqdm

        if self._bar is None or stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=p.total or None, desc=stage, file=self.stream,
                             dynamic_ncols=True, leave=True)
        if p.total and self._bar.total != p.total:
            self._bar.total = p.total
        self._bar.n = p.done
        post = _postfix(p.info, p.text, p.done)
        if post:
            self._bar.set_postfix_str(post, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_task(task, *, every: float = 10.0, on_item=None,
             printer: ProgressPrinter | None = None):
    """Drain a backend task with the one progress display; return its result.

    Stopping is the task's own business: give it the token of :func:`ctrl_c_cancels`; it
    raises :class:`tasks.Cancelled` or returns a result that says it stopped early.
    """
    printer = printer or ProgressPrinter(every=every)
    try:
        return tasks.run(task, on_progress=printer, on_item=on_item)
    finally:
        printer.close()


def set_threads(threads: int | None) -> None:
    """``--threads``: torch's CPU threads for this process and the most any network gets
    (0 or None: leave the choice to torch and to the thread policy,
    :func:`faceinspector.backend.engines.threads_now`)."""
    if threads:
        import torch

        from ..backend import engines

        torch.set_num_threads(threads)
        engines.set_thread_cap(threads)


def add_device_args(p, device: str = "auto", threads: int | None = 2) -> None:
    """``--device`` and ``--threads`` for a command that runs torch (defaults as given)."""
    p.add_argument("--device", default=device, type=device_arg,
                   help=f"auto, cpu, cuda, cuda:N (default {device})")
    p.add_argument("--threads", type=nonneg_int, default=threads,
                   help="torch CPU threads (0 = torch's)" if threads is not None
                   else "torch CPU threads (default: torch's choice)")
