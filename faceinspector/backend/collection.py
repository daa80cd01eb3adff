"""Collections of images and their labels, in the layouts users have.

A *collection* is a folder (searched recursively) or a CSV/text file listing image paths (a
``path`` column, or the first column; relative paths are relative to the file's folder).

*Labels* come from

* a CSV ``path,label[,group columns...]`` (a header naming ``path`` and ``label`` columns, or
  the first two columns without a header);
* LFW's gender lists: a folder holding ``male_names.txt`` and ``female_names.txt`` (or either
  file), one image file name per line;
* class sub-folders (torchvision's ``ImageFolder``): ``root/<class>/<image>``;
* CelebA's attribute list (``list_attr_celeba.txt``) and one attribute name: ``1`` -> the
  attribute, ``-1`` -> ``not <attribute>`` (for ``Male``: ``male`` / ``female``).

Labels are matched to images by resolved path, then by the path relative to the label file's
folder, then by file name when that is unique. A malformed file raises :class:`DataError`
naming the file and the line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from . import images
from .datasets import DataError

LIST_SUFFIXES = (".csv", ".txt", ".tsv")


def _read_rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as text ({exc})") from exc
    sample = text[:4096]
    delim = "\t" if "\t" in sample and "," not in sample else ","
    return [[c.strip() for c in row] for row in csv.reader(text.splitlines(), delimiter=delim)
            if row and any(c.strip() for c in row)]


def list_images(source, limit: int | None = None) -> list[Path]:
    """The image files of a collection (a folder, recursively and sorted, or a list file), the
    first ``limit`` of them."""
    src = Path(source).expanduser()
    if src.is_dir():
        out = []
        for p in images.iter_image_paths(src):
            out.append(Path(p))
            if limit and len(out) >= limit:
                break
        if not out:
            raise DataError(f"{src}: no images found (looked for "
                            f"{', '.join(sorted(images.IMAGE_SUFFIXES))} files, recursively)")
        return out
    if src.is_file() and src.suffix.lower() in LIST_SUFFIXES:
        rows = _read_rows(src)
        col = 0
        if rows and "path" in [c.lower() for c in rows[0]]:
            col = [c.lower() for c in rows[0]].index("path")
            rows = rows[1:]
        out = []
        for i, row in enumerate(rows):
            if col >= len(row) or not row[col]:
                raise DataError(f"{src}, line {i + 1}: no image path in column {col + 1}")
            p = Path(row[col]).expanduser()
            out.append(p if p.is_absolute() else src.parent / p)
            if limit and len(out) >= limit:
                break
        if not out:
            raise DataError(f"{src}: lists no images")
        return out
    if src.is_file():
        return [src]
    raise DataError(f"{src} does not exist (expected a folder of images or a CSV listing them)")


@dataclass
class Labels:
    """Labels (and optional group columns) of images, matched by path or file name."""

    source: str
    by_path: dict[str, str] = field(default_factory=dict)
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> {column: value}
    by_name: dict[str, str | None] = field(default_factory=dict)  # name -> path key (None: two)
    group_columns: tuple[str, ...] = ()

    def add(self, path: Path, label: str, groups: dict | None = None) -> None:
        key = str(Path(path).expanduser().resolve())
        self.by_path[key] = label
        if groups:
            self.groups[key] = dict(groups)
        name = Path(path).name
        self.by_name[name] = key if self.by_name.get(name, key) == key else None

    def _key(self, path) -> str | None:
        key = str(Path(path).expanduser().resolve())
        if key in self.by_path:
            return key
        return self.by_name.get(Path(path).name)

    def label(self, path) -> str | None:
        key = self._key(path)
        return None if key is None else self.by_path[key]

    def group(self, path) -> dict[str, str]:
        key = self._key(path)
        return {} if key is None else self.groups.get(key, {})

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.by_path.values())))

    def __len__(self) -> int:
        return len(self.by_path)


def _csv_labels(path: Path) -> Labels:
    rows = _read_rows(path)
    if not rows:
        raise DataError(f"{path}: empty label file (expected path,label rows)")
    head = [c.lower() for c in rows[0]]
    if "path" in head and "label" in head:
        pc, lc = head.index("path"), head.index("label")
        extra = [(i, rows[0][i]) for i in range(len(head)) if i not in (pc, lc)]
        rows = rows[1:]
    else:
        pc, lc, extra = 0, 1, []
    out = Labels(str(path), group_columns=tuple(name for _, name in extra))
    for i, row in enumerate(rows):
        if len(row) <= max(pc, lc) or not row[pc] or not row[lc]:
            raise DataError(f"{path}, line {i + 2 if extra or 'path' in head else i + 1}: "
                            "expected a path and a label")
        p = Path(row[pc]).expanduser()
        out.add(p if p.is_absolute() else path.parent / p, row[lc],
                {name: row[j] for j, name in extra if j < len(row)})
    return out


def _lfw_gender(folder: Path) -> Labels:
    """LFW's gender lists; the images are found in any LFW layout
    (:func:`~faceinspector.backend.datasets.lfw`), else beside the lists."""
    from .datasets import lfw

    out = Labels(str(folder))
    found = False
    try:
        root = lfw(folder).images
    except DataError:
        root = folder
    for fname, label in (("female_names.txt", "female"), ("male_names.txt", "male")):
        f = folder / fname
        if not f.is_file():
            continue
        found = True
        for line in f.read_text(encoding="utf-8-sig").splitlines():
            name = line.strip()
            if name:
                out.add(root / name.rsplit("_", 1)[0] / name, label)
    if not found:
        raise DataError(f"{folder}: expected LFW's male_names.txt / female_names.txt")
    return out


def _image_folder(root: Path) -> Labels:
    out = Labels(str(root))
    for sub in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        for p in images.iter_image_paths(sub):
            out.add(Path(p), sub.name)
    if not out:
        raise DataError(f"{root}: no class sub-folders with images (expected root/<class>/*.jpg)")
    return out


def celeba_attribute(path, attribute: str = "Male", images_dir=None) -> Labels:
    """Labels from CelebA's ``list_attr_celeba.txt`` for one attribute (``Male`` gives
    ``male``/``female``); images are looked up in ``images_dir`` (default: beside the file)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if len(lines) < 3:
        raise DataError(f"{path}: expected a count line, a line of attribute names, then rows")
    names = lines[1].split()
    if attribute not in names:
        raise DataError(f"{path}: no attribute {attribute!r}; it has {', '.join(names)}")
    col = names.index(attribute)
    folder = Path(images_dir) if images_dir else path.parent
    yes, no = (("male", "female") if attribute == "Male"
               else (attribute.lower(), f"not {attribute.lower()}"))
    out = Labels(f"{path}:{attribute}")
    for i, line in enumerate(lines[2:]):
        parts = line.split()
        if len(parts) != len(names) + 1 or parts[1 + col] not in ("1", "-1"):
            raise DataError(f"{path}, line {i + 3}: expected a file name and {len(names)} "
                            "values of 1 or -1")
        out.add(folder / parts[0], yes if parts[1 + col] == "1" else no)
    return out


def read_labels(source, attribute: str | None = None) -> Labels:
    """Labels from a CSV, an LFW folder with gender lists, class sub-folders, or CelebA's
    attribute list (with ``attribute``; default ``Male``)."""
    src = Path(source).expanduser()
    if src.is_file() and src.name.startswith("list_attr_celeba"):
        return celeba_attribute(src, attribute or "Male")
    if src.is_file():
        return _csv_labels(src)
    if src.is_dir():
        if any((src / f).is_file() for f in ("male_names.txt", "female_names.txt")):
            return _lfw_gender(src)
        return _image_folder(src)
    raise DataError(f"{src} does not exist (expected a labels CSV path,label, an LFW folder "
                    "with male_names.txt / female_names.txt, or class sub-folders)")


__all__ = ["LIST_SUFFIXES", "Labels", "celeba_attribute", "list_images", "read_labels"]
