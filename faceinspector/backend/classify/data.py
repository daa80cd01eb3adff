"""The labelled set a classifier is evaluated on, and the training set's class sizes.

:func:`labelled_set` accepts the layouts people have (the readers are
:mod:`~faceinspector.backend.collection`'s): class sub-folders (torchvision's ``ImageFolder``), a
CSV ``path,label[,group columns...]``, a folder with LFW's ``male_names.txt`` /
``female_names.txt``, and CelebA's ``list_attr_celeba.txt`` (or a CelebA folder) with any
attribute. Every image carries its label, its group columns, and its *identity* (an
``identity`` / ``person`` / ``id`` / ``subject`` column, else the name of the folder it is in:
one sub-folder per person in LFW and in most face-recognition sets), which verification by
group pairs images by.

``--limit N`` takes a seeded random sample; with ``balanced`` it takes ``N // C`` images of each
of the C classes (the first ``N % C`` classes one more), drawn class by class in label order
with one generator -- the rule ``faceinspector experiment mismatch --limit N`` draws LFW's men
and women by (that experiment also counts the one image on both of LFW's gender lists,
``Tatiana_Shchegoleva_0001``, as a woman, so its draw is a different one; here, as in the
mismatch tool, the last list read wins: a man).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..collection import Labels, _read_rows, celeba_attribute, read_labels
from ..datasets import DataError

#: group columns that name a person (verification pairs images by it)
IDENTITY_COLUMNS = ("identity", "person", "id", "subject", "name")


@dataclass(frozen=True, eq=False)
class LabelledSet:
    """Images with their label, group columns and identity, in a fixed order."""

    source: str
    paths: tuple[Path, ...]
    labels: tuple[str, ...]
    groups: dict = field(default_factory=dict)  # column -> tuple of values, one per image
    identities: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # labelled files that do not exist

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.labels)))


def _celeba_labels(src: Path, attribute: str | None, images=None) -> Labels:
    """CelebA's attribute list (or a CelebA folder), its images found in any layout."""
    from ..datasets import celeba

    if src.is_dir():
        data = celeba(src)
        return celeba_attribute(data.attributes, attribute or "Male", images or data.images)
    if images is None:
        try:
            first = next(line.split()[0] for line in
                         src.read_text(encoding="utf-8-sig").splitlines()[2:3])
        except (OSError, StopIteration, IndexError):
            first = ""
        if first and not (src.parent / first).is_file():
            try:
                images = celeba(src.parent).images
            except DataError:
                images = None
    return celeba_attribute(src, attribute or "Male", images)


def read_any_labels(source, attribute: str | None = None, images=None) -> Labels:
    """:func:`~faceinspector.backend.collection.read_labels`, plus a CelebA folder or list whose
    images are elsewhere (``images``: their folder, default: found by the CelebA layouts)."""
    src = Path(source).expanduser()
    is_list = src.is_file() and src.name.startswith("list_attr_celeba")
    is_folder = src.is_dir() and attribute is not None and not any(
        (src / f).is_file() for f in ("male_names.txt", "female_names.txt"))
    if is_list or is_folder:
        try:
            return _celeba_labels(src, attribute, images)
        except DataError:
            if is_list:
                raise
    return read_labels(src, attribute)


def _identity(path: Path, groups: dict) -> str:
    for k, v in groups.items():
        if k.lower() in IDENTITY_COLUMNS and v:
            return v
    return path.parent.name


def _sample(order: list[str], labels: dict, limit: int, balanced: bool, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    if not balanced:
        pick = rng.permutation(len(order))[:limit]
        return [order[i] for i in sorted(pick)]
    by_class: dict[str, list[str]] = {}
    for k in order:
        by_class.setdefault(labels[k], []).append(k)
    classes = sorted(by_class)
    out = []
    for j, c in enumerate(classes):
        want = limit // len(classes) + (1 if j < limit % len(classes) else 0)
        items = by_class[c]
        out += [items[i] for i in sorted(rng.permutation(len(items))[:want])]
    return out


def labelled_set(source, attribute: str | None = None, images=None, limit: int | None = None,
                 balanced: bool = False, seed: int = 0, labels: Labels | None = None
                 ) -> LabelledSet:
    """The labelled images of ``source`` (see the module docstring), sorted by file name.

    Raises :class:`~faceinspector.backend.datasets.DataError` when nothing usable is found.
    """
    lab = labels if labels is not None else read_any_labels(source, attribute, images)
    keys = sorted(lab.by_path, key=lambda k: (Path(k).name, k))
    present = [k for k in keys if Path(k).is_file()]
    missing = tuple(k for k in keys if not Path(k).is_file())
    if not present:
        raise DataError(f"{source}: none of the {len(keys)} labelled images exists"
                        + (f" (e.g. {missing[0]})" if missing else ""))
    if limit and limit < len(present):
        present = sorted(_sample(present, lab.by_path, int(limit), balanced, seed),
                         key=lambda k: (Path(k).name, k))
    paths = tuple(Path(k) for k in present)
    cols = list(lab.group_columns)
    groups = {c: tuple(lab.groups.get(k, {}).get(c, "") for k in present) for c in cols}
    idents = tuple(_identity(p, lab.groups.get(k, {})) for p, k in zip(paths, present))
    return LabelledSet(lab.source, paths, tuple(lab.by_path[k] for k in present), groups,
                       idents, missing)


def class_counts(source, attribute: str | None = None) -> dict[str, int]:
    """Images per class of a training set: a CSV ``class,count`` (a header naming ``count``),
    or any labels source :func:`read_any_labels` reads (its images are counted per label;
    files need not exist)."""
    src = Path(source).expanduser()
    if src.is_file() and src.suffix.lower() in (".csv", ".tsv", ".txt") \
            and not src.name.startswith("list_attr_celeba"):
        rows = _read_rows(src)
        head = [c.lower() for c in rows[0]] if rows else []
        if "count" in head:
            ci = head.index("count")
            li = next((i for i, h in enumerate(head) if h in ("class", "label")), 1 - ci)
            out = {}
            for i, row in enumerate(rows[1:]):
                try:
                    out[row[li]] = int(float(row[ci]))
                except (ValueError, IndexError):
                    raise DataError(f"{src}, line {i + 2}: expected a class and a count") \
                        from None
            return out
    lab = read_any_labels(src, attribute)
    return dict(Counter(lab.by_path.values()))


__all__ = ["IDENTITY_COLUMNS", "LabelledSet", "class_counts", "labelled_set", "read_any_labels"]
