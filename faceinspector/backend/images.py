"""Safe photo loading: any file Pillow can read -> RGB uint8 ndarray, with clear errors.

Qt-free and torch-free (numpy + Pillow only). Every failure of the public loaders is an
:class:`ImageError` whose one-line message names the file and the reason, fit for a status bar.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterable, Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .types import Photo

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "ImageError", "downscale", "iter_image_paths",
           "iter_photos", "load_photo", "to_rgb_uint8"]

log = logging.getLogger(__name__)

#: Decompression-bomb limit: photos with more pixels than this are refused before decoding.
MAX_PIXELS = 60_000_000
#: Lower-case suffixes :func:`iter_image_paths` picks up in folders.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".ppm", ".pgm", ".heic", ".heif"})

_HEIF_SUFFIXES = (".heic", ".heif")
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs")
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_heif_lock = threading.Lock()
_heif_ok: bool | None = None  # None: not tried yet


class ImageError(ValueError):
    """A photo could not be loaded; the message is one user-facing line naming the file."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _px(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.0f} Mpx"
    return f"{n / 1e6:.1f} Mpx" if n >= 1_000_000 else f"{n:,} px"


def _heif_available() -> bool:
    """Register pillow-heif's opener once, lazily; False when the package is missing."""
    global _heif_ok
    with _heif_lock:
        if _heif_ok is None:
            try:
                import pillow_heif  # type: ignore[import-not-found]

                pillow_heif.register_heif_opener()
                _heif_ok = True
            except Exception:  # missing, or its native library fails to load
                _heif_ok = False
        return _heif_ok


def to_rgb_uint8(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any common mode to a C-contiguous RGB uint8 (H, W, 3) array.

    Alpha (and palette/tRNS transparency) is composited on white. 16-bit grayscale is scaled
    with ``>> 8``; mode ``I`` is treated as 16-bit when its values fit, else min-max scaled;
    mode ``F`` is taken as 0..1 or 0..255 when it fits, else min-max scaled.

    Raises
    ------
    ValueError
        If Pillow cannot convert the mode to RGB.
    """
    mode = img.mode
    if mode in _INT_MODES or mode == "F":
        arr = np.asarray(img)
        if mode == "F":
            arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
            if lo >= 0 and hi <= 1.0:
                arr = arr * 255.0
            elif lo < 0 or hi > 255.0:
                arr = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
            gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        else:
            arr = arr.astype(np.int64)
            lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
            if lo < 0 or hi > 0xFFFF:  # 32-bit data: stretch its range
                arr = (arr - lo) * 255 // max(hi - lo, 1)
            else:
                arr = arr >> 8
            gray = arr.astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB")
    else:
        rgb = img if mode == "RGB" else img.convert("RGB")
    return np.ascontiguousarray(np.array(rgb, dtype=np.uint8))


def _frames_note(img: Image.Image, name: str) -> str:
    """The note for a multi-page (multi-frame) file: only the first is used ("" if one)."""
    n = getattr(img, "n_frames", 1) or 1
    if n <= 1:
        return ""
    kind = "pages" if (img.format or "").upper() in ("TIFF", "MPO") else "frames"
    return f"{name} has {n} {kind}; only the first is used"


def _decode(fp, name: str, head: bytes, suffix: str,
            max_pixels: int) -> tuple[np.ndarray, tuple, str]:
    """Open, size-check, fully decode, EXIF-rotate and convert one image (fp at offset 0);
    returns (pixels, stored size, note)."""
    brand = head[8:12] if head[4:8] == b"ftyp" else b""
    looks_heif = brand in _HEIF_BRANDS or (
        suffix in _HEIF_SUFFIXES and not head.startswith(_SIGNATURES))
    if looks_heif and not _heif_available():
        raise ImageError(f"{name} is a HEIC/HEIF photo; HEIC support needs the optional package "
                         "pillow-heif (pip install pillow-heif)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(fp)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            m = re.search(r"\((\d+) pixels\)", str(exc))
            limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
            size = _px(int(m.group(1))) if m else "size unknown"
            raise ImageError(f"{name} is too large ({size}; limit {_px(limit)})") from None
        except Exception as exc:  # unidentified, or a plugin choking on the header
            why = "" if isinstance(exc, UnidentifiedImageError) else f" ({_one_line(exc)})"
            if head.startswith(_SIGNATURES):  # looks like an image whose header is damaged
                why = why or " (bad header)"
                raise ImageError(f"{name} is truncated or corrupt{why}") from None
            raise ImageError(f"{name} is not an image Pillow can read{why}") from None
        w, h = img.size
        if w * h > max_pixels:
            size, limit = _px(w * h), _px(max_pixels)
            raise ImageError(f"{name} is too large ({w}×{h} = {size}; limit {limit})")
        if w <= 0 or h <= 0:
            raise ImageError(f"{name} is truncated or corrupt (size {w}×{h})")
        try:
            note = _frames_note(img, name)
        except Exception:  # counting frames of a damaged file: no note, the decode decides
            note = ""
        try:
            img.load()  # force the full decode now, so truncation shows up here
        except MemoryError:
            raise ImageError(f"{name} is too large to decode in memory ({w}×{h})") from None
        except Exception as exc:
            raise ImageError(f"{name} is truncated or corrupt ({_one_line(exc)})") from None
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as exc:  # a broken EXIF block should not cost the user the photo
        log.warning("%s: ignoring unreadable EXIF orientation (%s)", name, _one_line(exc))
    try:
        return to_rgb_uint8(img), (w, h), note
    except Exception as exc:
        raise ImageError(f"{name} has an unsupported pixel mode {img.mode} "
                         f"({_one_line(exc)})") from None


def load_photo(src: str | os.PathLike | bytes, *, max_pixels: int = MAX_PIXELS) -> Photo:
    """Load a photo from a path or raw bytes as RGB uint8 (H, W, 3), EXIF orientation applied.

    Animated images give their first frame. ``Photo.original_size`` is (width, height) as
    stored, before EXIF rotation.

    Raises
    ------
    ImageError
        For empty, unreadable, non-image, truncated, corrupt or oversized input, or HEIC
        without pillow-heif. The message is one line and names the file.
    """
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise ImageError("<bytes> is empty")
        pixels, size, note = _decode(BytesIO(data), "<bytes>", data[:16], "", max_pixels)
        return Photo(pixels=pixels, source="<bytes>", original_size=size, note=note)
    if not isinstance(src, (str, os.PathLike)):
        raise TypeError(f"load_photo expects a path or bytes, not {type(src).__name__}")
    path = os.fspath(src)
    name = os.path.basename(path.rstrip("/\\")) or path
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError(f"{name} cannot be read: it is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{name} cannot be read: not a regular file")
        if st.st_size == 0:
            raise ImageError(f"{name} is empty (0 bytes)")
        with open(path, "rb") as fp:
            head = fp.read(16)
            fp.seek(0)
            pixels, size, note = _decode(fp, name, head, Path(path).suffix.lower(), max_pixels)
    except ImageError:
        raise
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise ImageError(f"{name} cannot be read: {_one_line(exc)}") from None
    except FileNotFoundError:
        raise ImageError(f"{name} cannot be read: no such file") from None
    except PermissionError:
        raise ImageError(f"{name} cannot be read: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{name} cannot be read: {exc.strerror or _one_line(exc)}") from None
    if note:
        log.info("%s", note)
    return Photo(pixels=pixels, source=str(path), original_size=size, note=note)


def _walk(folder: Path, recursive: bool) -> Iterator[tuple[Path, ImageError | None]]:
    """Yield (image path, None) in sorted depth-first order, or (folder, error) if unreadable."""
    seen: set[tuple[int, int]] = set()

    def listing(d: Path) -> Iterator[os.DirEntry] | ImageError:
        try:
            st = os.stat(d)
            if (st.st_dev, st.st_ino) in seen:  # symlink loop
                return iter(())
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(d) as it:
                return iter(sorted(it, key=lambda e: e.name))
        except OSError as exc:
            return ImageError(f"{d.name or d} cannot be read: {exc.strerror or _one_line(exc)}")

    first = listing(folder)
    if isinstance(first, ImageError):
        yield folder, first
        return
    stack = [first]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError as exc:  # a symlink loop: say so when it is named like an image
            if os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                why = exc.strerror or _one_line(exc)
                yield Path(entry.path), ImageError(f"{entry.name} cannot be read: {why}")
            continue
        if is_dir:
            if recursive:
                sub = listing(Path(entry.path))
                if isinstance(sub, ImageError):
                    yield Path(entry.path), sub
                else:
                    stack.append(sub)
        elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
            yield Path(entry.path), None


def iter_image_paths(folder: str | os.PathLike, recursive: bool = True) -> Iterator[Path]:
    """Lazily yield image files under ``folder`` (suffix in :data:`IMAGE_SUFFIXES`).

    Each directory is listed only when reached and sorted by name; hidden files and folders
    (dot-names) are skipped. Unreadable sub-folders are logged and skipped; an unreadable
    ``folder`` raises :class:`ImageError` on the first ``next()``.
    """
    top = Path(folder)
    for path, err in _walk(top, recursive):
        if err is None:
            yield path
        elif path == top:
            raise err
        else:
            log.warning("skipping %s", err)


def iter_photos(
    paths_or_folders: Iterable[str | os.PathLike] | str | os.PathLike,
    *,
    recursive: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> Iterator[tuple[Path, Photo | ImageError]]:
    """Lazily load files and folders' images, one photo in memory at a time.

    Yields ``(path, Photo)`` or ``(path, ImageError)``, so one bad file never stops the rest.
    Files named explicitly are tried whatever their suffix.
    """
    if isinstance(paths_or_folders, (str, os.PathLike)):
        paths_or_folders = [paths_or_folders]
    for item in paths_or_folders:
        path = Path(item)
        if path.is_dir():
            for found, err in _walk(path, recursive):
                yield found, (err if err is not None else _try_load(found, max_pixels))
        else:
            yield path, _try_load(path, max_pixels)


def _try_load(path: Path, max_pixels: int) -> Photo | ImageError:
    try:
        return load_photo(path, max_pixels=max_pixels)
    except ImageError as exc:
        return exc


def downscale(pixels: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``pixels`` so its longer side is at most ``max_side`` (LANCZOS, reducing_gap).

    Returns
    -------
    (array, scale)
        The resized uint8 copy and the factor applied (new/old of the longer side, <= 1.0);
        the input itself and 1.0 when it is already small enough.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W[, C]) array, got {pixels.dtype} {pixels.shape}")
    h, w = pixels.shape[:2]
    if max(h, w) <= max_side:
        return pixels, 1.0
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = Image.fromarray(np.ascontiguousarray(pixels))
    out = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.array(out, dtype=np.uint8), scale
