"""Where the face data sets are and what their files look like: the one place that knows.

Nothing is assumed about where the data live. A data set comes from an argument (``--celeba``,
``--lfw``, ``--data`` on the command line; the folders of the app's Preferences), else from the
environment:

* ``$FACEINSPECTOR_CELEBA``: the CelebA folder (any layout below);
* ``$FACEINSPECTOR_LFW``: the LFW folder (any layout below);
* ``$FACEINSPECTOR_DATA``: a folder holding ``celeba/`` and ``lfw/``.

Layouts accepted (the folder given may be any of the folders named here):

CelebA
    * as distributed: ``img_align_celeba/000001.jpg ...`` (178×218) with
      ``list_attr_celeba.txt`` and ``list_eval_partition.txt`` beside it, or in the ``Img/``,
      ``Anno/`` and ``Eval/`` sub-folders of the download (the ``.csv`` versions of the lists
      are read too);
    * torchvision's: ``<root>/celeba/img_align_celeba/``, ``<root>/celeba/list_attr_celeba.txt``,
      ... (give ``<root>`` or ``<root>/celeba``);
    * the smaller copy used for development: ``img_align_89x109/`` (the first 10,000 aligned
      images downscaled by 2) with ``list_attr_celeba.txt``.

    :func:`read_celeba_image` reads an image at the 89×109 resolution the shipped models and
    the VAE were trained on: a full-size 178×218 image is averaged down by 2 (2×2 boxes), so
    every chip cut from it is the chip the development copy gives.

LFW
    a folder holding ``lfw-deepfunneled/``, ``lfw/``, ``lfw-funneled/`` or ``lfw_funneled/``
    (one sub-folder per person: ``Name/Name_0001.jpg``), with ``pairs.txt`` (any number of
    folds; ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` style single-fold files too),
    ``people.txt`` and, for the gender experiment, ``male_names.txt`` / ``female_names.txt``
    beside it; or the image folder itself, with those files beside it.

A missing or malformed data set raises :class:`DataError` naming the layouts that were expected
and what was found. Resolving a folder stats a handful of paths (no walk); still, the GUI does it
on a worker lane.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

ENV_DATA = "FACEINSPECTOR_DATA"
ENV_CELEBA = "FACEINSPECTOR_CELEBA"
ENV_LFW = "FACEINSPECTOR_LFW"

#: folders of aligned CelebA images, in the order they are looked for
CELEBA_IMAGE_DIRS = ("img_align_celeba", "img_align_89x109")
#: the development copy's image folder (kept for older callers)
CELEBA_IMAGES = "img_align_89x109"
CELEBA_ATTRIBUTES = "list_attr_celeba.txt"
CELEBA_PARTITION = "list_eval_partition.txt"
#: the resolution of the development copy, which the shipped models were trained on (w, h)
CELEBA_DEV_SIZE = (89, 109)
#: where the lists of the official download sit relative to its root
_CELEBA_META_DIRS = (".", "Anno", "Eval")

#: folders of LFW images, in the order they are looked for
LFW_IMAGE_DIRS = ("lfw-deepfunneled", "lfw-funneled", "lfw_funneled", "lfw")
#: the deep-funneled image folder (kept for older callers)
LFW_IMAGES = "lfw-deepfunneled"
LFW_PAIRS = "pairs.txt"
LFW_PEOPLE = "people.txt"
LFW_GENDER_FILES = ("female_names.txt", "male_names.txt")

CELEBA_LAYOUTS = (
    "CelebA as distributed: img_align_celeba/ (000001.jpg …, 178×218) with "
    "list_attr_celeba.txt and list_eval_partition.txt beside it (or in Img/, Anno/, Eval/)",
    "torchvision's root: celeba/img_align_celeba/, celeba/list_attr_celeba.txt, …",
    "the 89×109 development copy: img_align_89x109/ with list_attr_celeba.txt",
)
LFW_LAYOUTS = (
    "LFW as distributed: lfw/ or lfw-deepfunneled/ (one sub-folder per person, "
    "Name/Name_0001.jpg) with pairs.txt and people.txt beside it",
    "the same with male_names.txt / female_names.txt for the gender experiment",
    "a folder holding lfw/ that holds the above",
)


class DataError(FileNotFoundError):
    """A data set is missing or malformed; the message says which layout was expected and what
    was found."""


# ----------------------------------------------------------------------------- helpers


def _listing(folder: Path, limit: int = 10) -> str:
    """What is in ``folder``, briefly (for error messages)."""
    if not folder.exists():
        return f"{folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    try:
        with os.scandir(folder) as it:
            entries = list(itertools.islice(it, 200))
    except OSError as exc:
        return f"{folder} cannot be read ({exc.strerror or exc})"
    if not entries:
        return f"{folder} is empty"
    names = sorted(e.name + ("/" if e.is_dir() else "") for e in entries)
    more = len(names) - limit
    shown = ", ".join(names[:limit]) + (f", … ({more}{'+' if len(entries) == 200 else ''} more)"
                                        if more > 0 else "")
    return f"{folder} holds {shown}"


def _expected(what: str, layouts: tuple[str, ...]) -> str:
    return f"{what}; expected one of these layouts:\n" + "\n".join(f"  - {s}" for s in layouts)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def data_root(root: str | os.PathLike | None = None) -> Path | None:
    """``root``, else ``$FACEINSPECTOR_DATA`` (a folder holding ``celeba/`` and ``lfw/``), else
    None: there is no default location."""
    if root is not None and str(root).strip():
        return Path(root).expanduser()
    return _env_path(ENV_DATA)


def configured(name: str) -> Path | None:
    """The folder the environment names for ``"celeba"`` or ``"lfw"`` (``$FACEINSPECTOR_CELEBA``
    / ``$FACEINSPECTOR_LFW``, else ``$FACEINSPECTOR_DATA``), or None. Cheap: no file access."""
    env = {"celeba": ENV_CELEBA, "lfw": ENV_LFW}[name]
    return _env_path(env) or _env_path(ENV_DATA)


def _not_configured(name: str, env: str, flag: str) -> DataError:
    return DataError(
        f"No {name} folder was given: pass it ({flag} DIR), set ${env} (or ${ENV_DATA} to a "
        f"folder holding {name.lower()}/), or choose it in the app (File ▸ Preferences).")


# ------------------------------------------------------------------------------ CelebA


@dataclass(frozen=True)
class CelebA:
    """A CelebA copy found on disk.

    root : the CelebA folder; images : the folder of aligned JPEGs (``000001.jpg`` …);
    attributes / partition : ``list_attr_celeba`` / ``list_eval_partition`` (``.txt`` or
    ``.csv``) when present; layout : which layout it is, in words.
    """

    root: Path
    images: Path
    attributes: Path | None
    partition: Path | None
    layout: str

    def image(self, name: str) -> Path:
        return self.images / name


def _first_file(folders, names) -> Path | None:
    for d in folders:
        for n in names:
            p = d / n
            if p.is_file():
                return p
    return None


def _celeba_at_images(images: Path, meta_roots: list[Path], root: Path, via: str) -> CelebA:
    folders = [r / sub for r in meta_roots for sub in _CELEBA_META_DIRS]
    stem_a, stem_p = CELEBA_ATTRIBUTES[:-4], CELEBA_PARTITION[:-4]
    attributes = _first_file(folders, (f"{stem_a}.txt", f"{stem_a}.csv"))
    partition = _first_file(folders, (f"{stem_p}.txt", f"{stem_p}.csv"))
    if images.name == "img_align_89x109":
        layout = "the 89×109 development copy (img_align_89x109/)"
    elif via == "torchvision":
        layout = "torchvision's layout (celeba/img_align_celeba/, 178×218)"
    else:
        layout = "CelebA as distributed (img_align_celeba/, 178×218)"
    return CelebA(root, images, attributes, partition, layout)


def _image_folder(p: Path) -> Path:
    """``p``, or ``p/p`` when a zip was extracted into a folder of its own name (Kaggle's)."""
    nested = p / p.name
    return nested if nested.is_dir() and not (p / "000001.jpg").is_file() else p


def _find_celeba(d: Path, depth: int = 0) -> CelebA | None:
    if not d.is_dir():
        return None
    if d.name in CELEBA_IMAGE_DIRS or (d / "000001.jpg").is_file():  # the image folder itself
        return _celeba_at_images(_image_folder(d), [d.parent, d], d.parent, "images")
    for base in (d, d / "Img"):
        for name in CELEBA_IMAGE_DIRS:
            if (base / name).is_dir():
                return _celeba_at_images(_image_folder(base / name), [d], d,
                                         "torchvision" if depth else "root")
    if depth == 0 and (d / "celeba").is_dir():  # torchvision's root, or a data root
        return _find_celeba(d / "celeba", 1)
    return None


def celeba(path: str | os.PathLike | None = None, *, attributes: bool = True) -> CelebA:
    """Find CelebA at ``path`` (any accepted layout; see the module docstring), else where the
    environment says. ``attributes``: also require ``list_attr_celeba``.

    Raises :class:`DataError` naming the layouts expected and what was found.
    """
    d = Path(path).expanduser() if path is not None and str(path).strip() else None
    d = d or configured("celeba")
    if d is None:
        raise _not_configured("CelebA", ENV_CELEBA, "--celeba")
    found = _find_celeba(d)
    if found is None:
        found_at = [_listing(d)] + ([_listing(d / "celeba")] if (d / "celeba").is_dir() else [])
        raise DataError(_expected(f"CelebA not found in {d}", CELEBA_LAYOUTS)
                        + "\nfound: " + "; ".join(found_at))
    if attributes and found.attributes is None:
        raise DataError(
            f"CelebA's attribute list {CELEBA_ATTRIBUTES} is missing: it is expected beside "
            f"{found.images.name}/ in {found.root} (or in its Anno/ folder); "
            f"found: {_listing(found.root)}")
    return found


def read_celeba_attribute(data: CelebA, attribute: str) -> dict[str, int]:
    """{file name: 1 if ``attribute`` is +1 else 0} from ``list_attr_celeba.txt`` (the official
    format: a count, the attribute names, then ``file ±1 …``) or its ``.csv`` version."""
    if data.attributes is None:
        raise DataError(f"CelebA in {data.root} has no {CELEBA_ATTRIBUTES}")
    path = data.attributes
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    csv = path.suffix == ".csv"
    if csv:
        header = [s.strip() for s in lines[0].split(",")][1:] if lines else []
        rows = (ln.split(",") for ln in lines[1:])
    else:
        header = lines[1].split() if len(lines) > 2 else []
        rows = (ln.split() for ln in lines[2:])
    if attribute not in header:
        got = " ".join(header[:6]) or (lines[0][:60] if lines else "an empty file")
        raise DataError(
            f"{path} is not CelebA's attribute list: expected "
            + ("a header 'image_id,5_o_Clock_Shadow,…'" if csv else
               "a count on line 1, then the 40 attribute names (5_o_Clock_Shadow … Young) on "
               "line 2, then 'file ±1 …'")
            + f" including {attribute!r}; found {got!r}")
    col = header.index(attribute)
    out = {}
    for parts in rows:
        if len(parts) == len(header) + 1:
            out[parts[0].strip()] = int(parts[1 + col].strip() == "1")
    if not out:
        raise DataError(f"{path}: no rows of {len(header) + 1} fields ('file ±1 …') were found")
    return out


def read_celeba_partition(data: CelebA) -> dict[str, int]:
    """{file name: 0 train, 1 val, 2 test} from ``list_eval_partition`` (empty when the copy
    has none, as the development copy)."""
    if data.partition is None:
        return {}
    out = {}
    sep = "," if data.partition.suffix == ".csv" else None
    for ln in data.partition.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = [s.strip() for s in ln.split(sep)]
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    if not out:
        raise DataError(f"{data.partition} is not CelebA's partition list: expected lines "
                        "'000001.jpg 0' (0 train, 1 val, 2 test)")
    return out


def read_celeba_image(path: str | os.PathLike):
    """An aligned CelebA image as uint8 RGB ``(h, w, 3)`` at the development resolution.

    A full-size image (an integer multiple of 89×109, 178×218 as distributed) is averaged down
    by that factor in k×k boxes, so the chips cut from it are the chips of the 89×109 copy the
    shipped models were trained on. Other sizes are returned as they are (chips scale the
    ``celeba`` template to the image size).
    """
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        k = w // CELEBA_DEV_SIZE[0]
        if k >= 2 and (w, h) == (k * CELEBA_DEV_SIZE[0], k * CELEBA_DEV_SIZE[1]):
            im = im.reduce(k)
        return np.asarray(im)


# --------------------------------------------------------------------------------- LFW


@dataclass(frozen=True)
class LFW:
    """An LFW copy found on disk.

    root : the folder holding the lists; images : the folder of person sub-folders; pairs,
    people : ``pairs.txt`` / ``people.txt`` when present; gender : (female, male) name lists when
    both are present; layout : which layout it is, in words.
    """

    root: Path
    images: Path
    pairs: Path | None
    people: Path | None
    gender: tuple[Path, Path] | None
    layout: str

    def image(self, name: str) -> Path:
        """``Name_0001.jpg`` -> ``images/Name/Name_0001.jpg``."""
        return self.images / name.rsplit("_", 1)[0] / name


def is_people_folder(folder: Path, probe: int = 64) -> bool:
    """True when ``folder`` looks like LFW's image folder: some of its first ``probe`` entries
    are ``Name/`` folders holding ``Name_0001.jpg`` (reads at most ``probe`` entries)."""
    try:
        with os.scandir(folder) as it:
            for e in itertools.islice(it, probe):
                if e.is_dir() and (Path(e.path) / f"{e.name}_0001.jpg").is_file():
                    return True
    except OSError:
        return False
    return False


def _lfw_at(images: Path, root: Path, layout: str) -> LFW:
    def beside(name: str) -> Path | None:
        for d in (root, images):
            if (d / name).is_file():
                return d / name
        return None

    female, male = (beside(n) for n in LFW_GENDER_FILES)
    return LFW(root, images, beside(LFW_PAIRS), beside(LFW_PEOPLE),
               (female, male) if female and male else None, layout)


def _find_lfw(d: Path, depth: int = 0) -> LFW | None:
    if not d.is_dir():
        return None
    for name in LFW_IMAGE_DIRS:
        c = d / name
        if c.is_dir() and is_people_folder(c):
            return _lfw_at(c, d, f"LFW as distributed ({name}/)")
    if is_people_folder(d):  # the image folder itself, lists beside it
        return _lfw_at(d, d.parent, f"LFW's image folder ({d.name}/)")
    if depth == 0 and (d / "lfw").is_dir():  # a data root holding lfw/
        return _find_lfw(d / "lfw", 1)
    return None


def lfw(path: str | os.PathLike | None = None, *, pairs: bool = False,
        gender: bool = False) -> LFW:
    """Find LFW at ``path`` (any accepted layout; see the module docstring), else where the
    environment says. ``pairs`` / ``gender``: also require ``pairs.txt`` / the gender lists.

    Raises :class:`DataError` naming the layouts expected and what was found.
    """
    d = Path(path).expanduser() if path is not None and str(path).strip() else None
    d = d or configured("lfw")
    if d is None:
        raise _not_configured("LFW", ENV_LFW, "--lfw")
    found = _find_lfw(d)
    if found is None:
        found_at = [_listing(d)] + ([_listing(d / "lfw")] if (d / "lfw").is_dir() else [])
        raise DataError(_expected(f"LFW not found in {d}", LFW_LAYOUTS)
                        + "\nfound: " + "; ".join(found_at))
    if pairs and found.pairs is None:
        raise DataError(f"LFW's {LFW_PAIRS} is missing: it is expected beside "
                        f"{found.images.name}/ in {found.root}; found: {_listing(found.root)}")
    if gender and found.gender is None:
        raise DataError(
            f"LFW's gender lists {' and '.join(LFW_GENDER_FILES)} (from the LFW web site) are "
            f"missing: they are expected beside {found.images.name}/ in {found.root}; "
            f"found: {_listing(found.root)}")
    return found


def lfw_images_for_pairs(pairs_file: str | os.PathLike) -> Path:
    """The image folder of an LFW-format pairs file: one of ``lfw-deepfunneled/``, ``lfw/``, …
    beside it, or the folder holding it when that is the image folder."""
    pairs_file = Path(pairs_file)
    d = pairs_file.parent
    for name in LFW_IMAGE_DIRS:
        if (d / name).is_dir() and is_people_folder(d / name):
            return d / name
    if is_people_folder(d):
        return d
    for name in LFW_IMAGE_DIRS:  # named like LFW's, holding other names: the user's own set
        if (d / name).is_dir():
            return d / name
    raise DataError(
        f"the images of {pairs_file.name} are expected beside it in one of "
        f"{', '.join(n + '/' for n in LFW_IMAGE_DIRS)} (one sub-folder per person, "
        f"Name/Name_0001.jpg), or give the image folder (--root); found: {_listing(d)}")


def read_people(path: str | os.PathLike) -> list[dict[str, int]]:
    """LFW's ``people.txt`` as folds of {name: number of images}.

    The format: the number of folds, then per fold the number of people and one ``Name count``
    line each (``peopleDevTrain.txt`` style files: a count, then the lines, as one fold).
    """
    path = Path(path)
    lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    bad = DataError(f"{path} is not in LFW's people.txt format: expected the number of folds, "
                    "then for each fold the number of people and one 'Name count' line each")
    if not lines or len(lines[0]) != 1 or not lines[0][0].isdigit():
        raise bad
    rows, i = [], 1
    first = int(lines[0][0])
    single = len(lines) > 1 and len(lines[1]) == 2  # peopleDevTrain.txt: count, then lines
    for _ in range(1 if single else first):
        n = first if single else (int(lines[i][0]) if i < len(lines) and len(lines[i]) == 1
                                  and lines[i][0].isdigit() else -1)
        i += 0 if single else 1
        part = lines[i:i + n]
        if n < 0 or len(part) != n or any(len(p) != 2 or not p[1].isdigit() for p in part):
            raise bad
        rows.append({p[0]: int(p[1]) for p in part})
        i += n
    return rows


def summary(name: str, path: str | os.PathLike | None = None) -> str:
    """One line on what is at ``path`` (else where the environment says) for ``"celeba"`` or
    ``"lfw"``: the layout found and which of its lists are there. Raises :class:`DataError`."""
    def mark(p) -> str:
        return "✓" if p else "✗"

    if name == "celeba":
        c = celeba(path, attributes=False)
        return (f"{c.layout} in {c.root}; {CELEBA_ATTRIBUTES} {mark(c.attributes)}, "
                f"{CELEBA_PARTITION} {mark(c.partition)}")
    if name == "lfw":
        f = lfw(path)
        return (f"{f.layout} in {f.root}; {LFW_PAIRS} {mark(f.pairs)}, {LFW_PEOPLE} "
                f"{mark(f.people)}, gender lists {mark(f.gender)}")
    raise KeyError(f"unknown data set {name!r}; known: celeba, lfw")


# ------------------------------------------------------------------ the older, shorter API


def celeba_dir(root: str | os.PathLike | None = None) -> Path:
    """The CelebA folder holding the attribute list (:func:`celeba` ``.root``)."""
    return celeba(root).root


def celeba_images(root: str | os.PathLike | None = None) -> Path:
    """The folder of CelebA's aligned images (:func:`celeba` ``.images``)."""
    return celeba(root, attributes=False).images


def lfw_dir(root: str | os.PathLike | None = None, need_gender: bool = True) -> Path:
    """The LFW folder holding the lists (:func:`lfw` ``.root``); its images are in
    ``lfw(root).images``."""
    return lfw(root, gender=need_gender).root


__all__ = ["CELEBA_ATTRIBUTES", "CELEBA_DEV_SIZE", "CELEBA_IMAGES", "CELEBA_IMAGE_DIRS",
           "CELEBA_LAYOUTS", "CELEBA_PARTITION", "ENV_CELEBA", "ENV_DATA", "ENV_LFW", "LFW",
           "LFW_GENDER_FILES", "LFW_IMAGES", "LFW_IMAGE_DIRS", "LFW_LAYOUTS", "LFW_PAIRS",
           "LFW_PEOPLE", "CelebA", "DataError", "celeba", "celeba_dir", "celeba_images",
           "configured", "data_root", "lfw_dir",
           "is_people_folder", "lfw", "lfw_images_for_pairs", "read_celeba_attribute",
           "read_celeba_image", "read_celeba_partition", "read_people", "summary"]
