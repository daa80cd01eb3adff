"""Writing files safely: the one atomic-write helper, and a check that a destination can be
written before minutes of work are spent on it.

Galleries, checkpoints, demo-model sidecars, exported images, CSV reports and cached chips are
all written through :func:`atomic_open` (or :func:`atomic_write`): the data go to a temporary
file in the destination's folder (so the final ``os.replace`` is a rename on one file system),
are flushed and ``fsync``-ed, and then replace the destination in one step. On any failure --
a full disk, a permission error, ``os.replace`` refused, Ctrl-C -- the temporary file is
removed and the destination is left as it was; the error is re-raised as a
:class:`WriteError` whose one-line message names the file.

Nothing here imports Qt or torch.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["WriteError", "atomic_open", "atomic_write", "check_writable", "temp_path"]


class WriteError(OSError):
    """A file could not be written; the message is one line naming it and the reason."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is a file (so no folder can be made
    there), else None."""
    for parent in path.absolute().parents:
        try:
            if parent.exists():
                return None if parent.is_dir() else parent
        except OSError:
            return None
    return None


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.NAME.PID.RANDOM.tmp`` (hidden, unique)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", *, encoding: str | None = None,
                newline: str | None = None, make_parents: bool = True) -> Iterator[IO]:
    """``with atomic_open(path, "w") as fh: ...``: ``fh`` is a temporary file beside ``path``
    that replaces ``path`` when the block ends without an exception.

    ``mode`` is ``"wb"`` or ``"w"`` (text: ``encoding`` defaults to UTF-8). The folder is
    created when ``make_parents``. Raises :class:`WriteError` (the temporary file removed, the
    destination untouched) when anything fails; any other exception raised inside the block is
    re-raised as it is, after the clean-up.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only ('w' or 'wb'), not {mode!r}")
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a folder")
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise WriteError(f"cannot write {path}: {blocker} is a file, not a folder")
    tmp = temp_path(path)
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {_reason(exc)}") from exc
    try:
        if mode == "w":
            fh = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        else:
            fh = os.fdopen(fd, "wb")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(f"cannot write {path}: {_reason(exc)}") from exc
        raise
    _fsync_dir(path.parent)


def atomic_write(path, data: bytes | str, *, encoding: str = "utf-8",
                 make_parents: bool = True) -> Path:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` atomically; returns the
    path. Raises :class:`WriteError` (nothing left behind) when it cannot."""
    if isinstance(data, str):
        data = data.encode(encoding)
    with atomic_open(path, "wb", make_parents=make_parents) as fh:
        fh.write(data)
    return Path(path)


def check_writable(path, what: str = "output") -> Path:
    """Raise :class:`WriteError` unless a file can be created at ``path`` (call it before long
    work that ends by writing there). The folder is created if missing; a test file is
    written and removed. Returns ``path`` as a :class:`Path`."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"cannot write the {what} {path}: it is a folder")
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise WriteError(f"cannot write the {what} {path}: {blocker} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot write the {what} {path}: {_reason(exc)} "
                         f"({path.parent} cannot be created)") from exc
    probe = temp_path(path)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(probe)
        raise WriteError(f"cannot write the {what} {path}: {_reason(exc)}") from exc
    return path
