"""Data sets by their real names (issue 14): the layouts users have, found from an argument or
the environment (never a development path), with messages that say what was expected and what
was found; full-size CelebA images give the chips of the 89×109 copy.

The layout tests build tiny copies in ``tmp_path`` and need no data; the chip tests use the
development copy (``tests/conftest.py``) and skip without it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceinspector.backend import datasets, evaluate, triplets
from faceinspector.backend.datasets import DataError

PACKAGE = Path(datasets.__file__).resolve().parents[1]
ATTR_NAMES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips "
              "Big_Nose Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby "
              "Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male "
              "Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin "
              "Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
              "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
              "Wearing_Necktie Young").split()
MALE = ATTR_NAMES.index("Male")


# ------------------------------------------------------------------------ no dev paths


def test_the_product_never_names_the_development_data():
    """No default, help text or message in faceinspector/ (nor in the shipped resources/ that
    become faceinspector.resources) mentions ../shared, the development set-up's data folder;
    data come from an argument, the environment or Preferences. The VAE's training record
    (``*.safetensors.json``, mirrored in the weights' header) keeps where it was trained."""
    hits = []
    shipped = PACKAGE.parent / "resources"
    for p in sorted([*PACKAGE.rglob("*"), *shipped.rglob("*")]):
        if p.name.endswith(".safetensors.json"):
            continue
        if p.is_file() and p.suffix in {".py", ".json", ".md", ".txt", ".toml", ".cfg"}:
            text = p.read_text(encoding="utf-8", errors="replace")
            for needle in ("../shared", "shared/data", "shared\" / \"data"):
                if needle in text:
                    hits.append(f"{p.relative_to(PACKAGE.parent)}: {needle}")
    assert not hits, hits


def test_without_a_location_the_message_says_how_to_give_one(no_data_env):
    for find, flag, env in ((datasets.celeba, "--celeba", "FACEINSPECTOR_CELEBA"),
                            (datasets.lfw, "--lfw", "FACEINSPECTOR_LFW")):
        with pytest.raises(DataError) as e:
            find()
        msg = str(e.value)
        assert flag in msg and env in msg and "FACEINSPECTOR_DATA" in msg
        assert "Preferences" in msg and "shared" not in msg
    assert datasets.data_root() is None and datasets.configured("celeba") is None


# ----------------------------------------------------------------------------- CelebA


def _jpeg(path: Path, size=(178, 218), value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value // 2, 255 - value)).save(path, quality=95)


def _attr_file(path: Path, names, males=(), csv: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in names:
        v = ["-1"] * len(ATTR_NAMES)
        v[MALE] = "1" if n in males else "-1"
        rows.append((n, v))
    if csv:
        text = "image_id," + ",".join(ATTR_NAMES) + "\n"
        text += "".join(f"{n},{','.join(v)}\n" for n, v in rows)
    else:
        text = f"{len(rows)}\n{' '.join(ATTR_NAMES)}\n"
        text += "".join(f"{n} {' '.join(f'{x:>2}' for x in v)}\n" for n, v in rows)
    path.write_text(text)


def _celeba(root: Path, images: str = "img_align_celeba", meta: str = ".", n: int = 3,
            size=(178, 218), csv: bool = False, nested: bool = False) -> Path:
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    img_dir = root / images / (Path(images).name if nested else "")
    for i, name in enumerate(names):
        _jpeg(img_dir / name, size, 40 * i)
    ext = "csv" if csv else "txt"
    _attr_file(root / meta / f"list_attr_celeba.{ext}", names, males={names[0]}, csv=csv)
    part = root / meta.replace("Anno", "Eval") / f"list_eval_partition.{ext}"
    part.parent.mkdir(parents=True, exist_ok=True)
    sep = "," if csv else " "
    part.write_text(("image_id,partition\n" if csv else "")
                    + "".join(f"{n}{sep}0\n" for n in names))
    return root


def test_celeba_as_distributed(tmp_path):
    root = _celeba(tmp_path / "CelebA")
    for given in (root, root / "img_align_celeba"):  # the folder, or its image folder
        c = datasets.celeba(given)
        assert c.images == root / "img_align_celeba" and c.root == root
        assert c.attributes == root / "list_attr_celeba.txt"
        assert c.partition == root / "list_eval_partition.txt"
        assert "as distributed" in c.layout and "178×218" in c.layout
    c = datasets.celeba(root)
    assert datasets.read_celeba_attribute(c, "Male") == {"000001.jpg": 1, "000002.jpg": 0,
                                                         "000003.jpg": 0}
    assert datasets.read_celeba_partition(c) == dict.fromkeys(
        ("000001.jpg", "000002.jpg", "000003.jpg"), 0)


def test_celeba_download_folders_and_kaggle_csv(tmp_path):
    """The official download's Img/, Anno/, Eval/ folders; Kaggle's nested folder + CSVs."""
    root = _celeba(tmp_path / "download", images="Img/img_align_celeba", meta="Anno")
    c = datasets.celeba(root)
    assert c.images == root / "Img" / "img_align_celeba"
    assert c.attributes == root / "Anno" / "list_attr_celeba.txt"
    assert c.partition == root / "Eval" / "list_eval_partition.txt"
    kaggle = _celeba(tmp_path / "kaggle", csv=True, nested=True)
    c = datasets.celeba(kaggle)
    assert c.images == kaggle / "img_align_celeba" / "img_align_celeba"
    assert datasets.read_celeba_attribute(c, "Male")["000001.jpg"] == 1
    assert datasets.read_celeba_partition(c)["000003.jpg"] == 0


def test_celeba_torchvision_root(tmp_path):
    root = tmp_path / "torchvision-root"
    _celeba(root / "celeba")
    for given in (root, root / "celeba"):
        c = datasets.celeba(given)
        assert c.images == root / "celeba" / "img_align_celeba"
        assert c.attributes == root / "celeba" / "list_attr_celeba.txt"
    assert "torchvision" in datasets.celeba(root).layout


def test_celeba_development_copy_layout(tmp_path):
    root = _celeba(tmp_path / "data" / "celeba", images="img_align_89x109", size=(89, 109))
    (root / "list_eval_partition.txt").unlink()
    c = datasets.celeba(tmp_path / "data")  # a data root holding celeba/
    assert c.images == root / "img_align_89x109" and c.partition is None
    assert "development copy" in c.layout
    assert datasets.read_celeba_partition(c) == {}


def test_celeba_from_the_environment(tmp_path, no_data_env, monkeypatch):
    root = _celeba(tmp_path / "CelebA")
    monkeypatch.setenv("FACEINSPECTOR_CELEBA", str(root))
    assert datasets.celeba().root == root
    monkeypatch.delenv("FACEINSPECTOR_CELEBA")
    _celeba(tmp_path / "all" / "celeba")
    monkeypatch.setenv("FACEINSPECTOR_DATA", str(tmp_path / "all"))
    assert datasets.celeba().root == tmp_path / "all" / "celeba"


def test_celeba_missing_or_malformed_says_what_was_expected_and_found(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "other" / "photos").mkdir(parents=True)
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(DataError) as e:
        datasets.celeba(tmp_path / "other")
    msg = str(e.value)
    assert "img_align_celeba/" in msg and "list_eval_partition.txt" in msg
    assert "torchvision" in msg and "img_align_89x109/" in msg
    assert "found:" in msg and "notes.txt" in msg and "photos/" in msg
    with pytest.raises(DataError, match="is empty"):
        datasets.celeba(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        datasets.celeba(tmp_path / "nowhere")
    # images without their attribute list
    root = _celeba(tmp_path / "noattr")
    (root / "list_attr_celeba.txt").unlink()
    with pytest.raises(DataError, match=r"list_attr_celeba.txt is missing.*beside"):
        datasets.celeba(root)
    assert datasets.celeba(root, attributes=False).attributes is None  # the VAE needs none
    # an attribute list in the wrong format
    root = _celeba(tmp_path / "badattr")
    (root / "list_attr_celeba.txt").write_text("name gender\n000001.jpg m\n")
    with pytest.raises(DataError, match=r"not CelebA's attribute list.*40 attribute names.*found"):
        datasets.read_celeba_attribute(datasets.celeba(root), "Male")
    (root / "list_eval_partition.txt").write_text("nonsense\n")
    with pytest.raises(DataError, match="partition list"):
        datasets.read_celeba_partition(datasets.celeba(root))


def test_full_size_images_are_read_at_the_development_resolution(tmp_path):
    """178×218 (as distributed) -> 89×109 by 2×2 box averages; other sizes are left alone."""
    rng = np.random.default_rng(0)
    full = rng.integers(0, 256, (218, 178, 3), np.uint8)
    Image.fromarray(full).save(tmp_path / "full.png")
    got = datasets.read_celeba_image(tmp_path / "full.png")
    box = full.reshape(109, 2, 89, 2, 3).astype(np.float64).mean((1, 3))
    assert got.shape == (109, 89, 3) and np.abs(got - box).max() <= 0.5 + 1e-9
    Image.fromarray(full[:109, :89]).save(tmp_path / "dev.png")
    assert np.array_equal(datasets.read_celeba_image(tmp_path / "dev.png"), full[:109, :89])
    Image.fromarray(full[:200]).save(tmp_path / "odd.png")
    assert datasets.read_celeba_image(tmp_path / "odd.png").shape == (200, 178, 3)


def _full_size_copy(dev: Path, dst: Path, first: int, last: int, smooth: bool = False) -> Path:
    """A distributed-layout copy of dev images first..last at 178×218, with the real attribute
    rows: each pixel a 2×2 block, lossless (or ``smooth``: Lanczos-upscaled JPEGs, as close to
    a real full-size image as the 89×109 copy allows)."""
    names = [f"{i:06d}.jpg" for i in range(first, last + 1)]
    (dst / "img_align_celeba").mkdir(parents=True)
    for n in names:
        with Image.open(dev / "img_align_89x109" / n) as im:
            big = im.convert("RGB").resize((178, 218),
                                           Image.LANCZOS if smooth else Image.NEAREST)
        if smooth:
            big.save(dst / "img_align_celeba" / n, quality=95)
        else:
            big.save(dst / "img_align_celeba" / n, format="PNG")  # lossless, CelebA's name
    lines = (dev / "list_attr_celeba.txt").read_text().splitlines()
    keep = [ln for ln in lines[2:] if ln.split()[0] in set(names)]
    (dst / "list_attr_celeba.txt").write_text("\n".join([str(len(keep)), lines[1], *keep]) + "\n")
    (dst / "list_eval_partition.txt").write_text("".join(f"{n} 0\n" for n in names))
    return dst


def test_full_size_celeba_gives_the_chips_of_the_development_copy(celeba_dev, tmp_path):
    """The studies and the VAE cut the same chips from the 178×218 distributed layout as from
    the 89×109 copy the shipped models were trained on."""
    from faceinspector.backend import tasks, vae
    from faceinspector.backend.models.demo import CNN_SPEC, HEAD_SPEC
    from faceinspector.studies import celeba as st

    full = _full_size_copy(celeba_dev, tmp_path / "CelebA", 9001, 9012)
    assert "as distributed" in datasets.celeba(full).layout
    for spec in (CNN_SPEC, HEAD_SPEC):
        a, ya, na = tasks.run(st.load_celeba("test", spec, limit=12, root=full))
        b, yb, nb = tasks.run(st.load_celeba("test", spec, limit=12, root=celeba_dev))
        assert na == nb and np.array_equal(ya, yb)
        assert np.array_equal(a, b), np.abs(a.astype(int) - b).max()
    va = vae.celeba_chips(9001, 9012, root=full, cache=False).chips
    vb = vae.celeba_chips(9001, 9012, root=celeba_dev, cache=False).chips
    assert np.array_equal(va, vb)
    # smooth full-size JPEGs: chips within a couple of grey levels of the development copy's
    smooth = _full_size_copy(celeba_dev, tmp_path / "smooth", 9001, 9012, smooth=True)
    a = tasks.run(st.load_celeba("test", CNN_SPEC, limit=12, root=smooth))[0]
    b = tasks.run(st.load_celeba("test", CNN_SPEC, limit=12, root=celeba_dev))[0]
    assert np.abs(a.astype(float) - b).mean() < 2.0


def test_studies_and_vae_read_celeba_from_the_layout_given(tmp_path):
    from faceinspector.backend import tasks, vae
    from faceinspector.backend.models.demo import CNN_SPEC
    from faceinspector.studies import celeba as st

    root = tmp_path / "tv"
    _celeba(root / "celeba", n=2)
    assert st.read_attribute(root) == {"000001.jpg": 1, "000002.jpg": 0}
    chips, y, names = tasks.run(st.load_celeba("train", CNN_SPEC, limit=2, root=root))
    assert chips.shape == (2, 78, 64, 3) and list(y) == [1, 0]
    assert vae.celeba_chips(1, 2, root=root, cache=False).chips.shape == (2, 64, 64, 3)
    with pytest.raises(DataError, match="CelebA image missing: .*000003.jpg"):
        tasks.run(st.load_celeba("train", CNN_SPEC, limit=3, root=root))


# -------------------------------------------------------------------------------- LFW


def _lfw(root: Path, images: str = "lfw", people=("Ann_Lee", "Bob_Roe", "Cid_Fox"),
         per: int = 3, folds: int = 2, with_lists: bool = True) -> Path:
    for p in people:
        for i in range(1, per + 1):
            _jpeg(root / images / p / f"{p}_{i:04d}.jpg", (250, 250), 30 * i)
    if with_lists:
        a, b, c = people[:3]
        fold = [f"{a}\t1\t2", f"{b}\t2\t3", f"{a}\t1\t{b}\t1", f"{b}\t3\t{c}\t2"]
        (root / "pairs.txt").write_text(f"{folds}\t2\n" + "\n".join(fold * folds) + "\n")
        (root / "people.txt").write_text(
            f"2\n2\n{a}\t{per}\n{b}\t{per}\n1\n{c}\t{per}\n")
        (root / "male_names.txt").write_text(f"{b}_0001.jpg\n{c}_0001.jpg\n")
        (root / "female_names.txt").write_text(f"{a}_0001.jpg\n")
    return root


@pytest.mark.parametrize("images", ["lfw", "lfw-deepfunneled", "lfw-funneled", "lfw_funneled"])
def test_lfw_as_distributed(tmp_path, images):
    root = _lfw(tmp_path / "LFW", images)
    for given in (root, root / images):  # the folder, or its image folder
        f = datasets.lfw(given, pairs=True, gender=True)
        assert f.root == root and f.images == root / images
        assert f.pairs == root / "pairs.txt" and f.people == root / "people.txt"
        assert f.gender == (root / "female_names.txt", root / "male_names.txt")
        assert f.image("Ann_Lee_0002.jpg") == root / images / "Ann_Lee" / "Ann_Lee_0002.jpg"
    assert f"({images}/)" in datasets.lfw(root).layout


def test_lfw_data_root_and_environment(tmp_path, no_data_env, monkeypatch):
    """The development layout: a data root holding lfw/ holding lfw-deepfunneled/."""
    root = _lfw(tmp_path / "data" / "lfw", "lfw-deepfunneled")
    assert datasets.lfw(tmp_path / "data").images == root / "lfw-deepfunneled"
    monkeypatch.setenv("FACEINSPECTOR_DATA", str(tmp_path / "data"))
    assert datasets.lfw().root == root
    other = _lfw(tmp_path / "other")
    monkeypatch.setenv("FACEINSPECTOR_LFW", str(other))
    assert datasets.lfw().root == other


def test_lfw_missing_or_incomplete_says_what_was_expected_and_found(tmp_path):
    (tmp_path / "x" / "Some_Folder").mkdir(parents=True)
    with pytest.raises(DataError) as e:
        datasets.lfw(tmp_path / "x")
    msg = str(e.value)
    assert "lfw/ or lfw-deepfunneled/" in msg and "pairs.txt" in msg and "people.txt" in msg
    assert "found:" in msg and "Some_Folder/" in msg
    bare = _lfw(tmp_path / "bare", with_lists=False)
    assert datasets.lfw(bare).pairs is None
    with pytest.raises(DataError, match=r"pairs.txt is missing: it is expected beside lfw/"):
        datasets.lfw(bare, pairs=True)
    with pytest.raises(DataError, match=r"gender lists .* are missing"):
        datasets.lfw(bare, gender=True)
    with pytest.raises(DataError, match=r"expected beside it in one of lfw-deepfunneled/"):
        datasets.lfw_images_for_pairs(tmp_path / "x" / "pairs.txt")


def test_pairs_with_any_number_of_folds(tmp_path):
    root = _lfw(tmp_path / "LFW", folds=3)
    pairs = triplets.read_pairs(root / "pairs.txt")
    assert len(pairs) == 12 and sorted({p.fold for p in pairs}) == [0, 1, 2]
    dev = tmp_path / "pairsDevTest.txt"  # one fold: a single number as the header
    dev.write_text("1\nAnn_Lee\t1\t2\nAnn_Lee\t1\tBob_Roe\t1\n")
    assert [(p.same, p.fold) for p in triplets.read_pairs(dev)] == [(True, 0), (False, 0)]
    dev.write_text("pairs for you\n")
    with pytest.raises(ValueError, match="first line must be .*LFW's pairs.txt.*'pairs for you'"):
        triplets.read_pairs(dev)
    dev.write_text("2\t2\nAnn_Lee\t1\t2\n")
    with pytest.raises(ValueError, match="expected 8 pairs, found 1"):
        triplets.read_pairs(dev)


def test_people_txt(tmp_path):
    root = _lfw(tmp_path / "LFW")
    folds = datasets.read_people(root / "people.txt")
    assert folds == [{"Ann_Lee": 3, "Bob_Roe": 3}, {"Cid_Fox": 3}]
    dev = tmp_path / "peopleDevTrain.txt"
    dev.write_text("2\nAnn_Lee\t3\nBob_Roe\t1\n")
    assert datasets.read_people(dev) == [{"Ann_Lee": 3, "Bob_Roe": 1}]
    dev.write_text("2\n2\nAnn_Lee\t3\n")
    with pytest.raises(DataError, match="people.txt format"):
        datasets.read_people(dev)


def test_evaluate_finds_lfw_in_any_layout(tmp_path):
    """A pairs file finds its images in lfw/ as well as lfw-deepfunneled/; an LFW folder means
    its pairs.txt; people.txt can fix the folds of a folder of people."""
    for images in ("lfw", "lfw-deepfunneled"):
        root = _lfw(tmp_path / images, images)
        kind, img, names, pairs, info = evaluate.labelled_pairs(root / "pairs.txt")
        assert kind == "pairs" and img == root / images and len(pairs) == 8
        assert all((img / n).is_file() for n in names)
        kind, img, _, pairs2, _ = evaluate.labelled_pairs(root)  # the LFW folder itself
        assert kind == "pairs" and img == root / images and pairs2 == pairs
    root = tmp_path / "lfw"
    kind, img, _, pairs, _ = evaluate.labelled_pairs(root / "lfw", people=root / "people.txt")
    assert kind == "folder" and {p.fold for p in pairs} == {0, 1}
    by_fold = {f: {n.split("/")[0] for p in pairs if p.fold == f for n in (p.a, p.b)}
               for f in (0, 1)}
    assert by_fold == {0: {"Ann_Lee", "Bob_Roe"}, 1: {"Cid_Fox"}}


def test_mismatch_reads_lfw_from_the_layout_given(tmp_path):
    from faceinspector.studies.mismatch import lfw_items

    root = _lfw(tmp_path / "LFW", "lfw")
    items = lfw_items(root)
    assert [(p.relative_to(root).as_posix(), y) for p, y in items] == [
        ("lfw/Ann_Lee/Ann_Lee_0001.jpg", 0), ("lfw/Bob_Roe/Bob_Roe_0001.jpg", 1),
        ("lfw/Cid_Fox/Cid_Fox_0001.jpg", 1)]


def test_summary_lines(tmp_path):
    root = _celeba(tmp_path / "CelebA")
    line = datasets.summary("celeba", root)
    assert "as distributed" in line and "list_attr_celeba.txt ✓" in line
    assert "list_eval_partition.txt ✓" in line
    lfw = _lfw(tmp_path / "LFW", with_lists=False)
    assert re.search(r"pairs.txt ✗, people.txt ✗, gender lists ✗", datasets.summary("lfw", lfw))


# ----------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("argv, expect", [
    (["eval", "lfw"], "No LFW folder was given: pass it"),
    (["eval", "lfw", "{tmp}"], "LFW not found in {tmp}"),
    (["train", "demo", "--model", "celeba-cnn-naive", "--celeba", "{tmp}"],
     "CelebA not found in {tmp}"),
    (["train", "vae", "--data", "celeba", "--celeba", "{tmp}", "--out", "{tmp}/v.safetensors"],
     "CelebA not found in {tmp}"),
    (["experiment", "mismatch", "--data", "{tmp}", "--out", "{tmp}/out"],
     "CelebA not found in {tmp}"),
])
def test_cli_says_which_layout_it_expected(argv, expect, tmp_path, capsys, no_data_env):
    from faceinspector.cli import main

    (tmp_path / "something.txt").write_text("x")
    rc = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert rc != 0 and expect.format(tmp=tmp_path) in err, err
    assert "Traceback" not in err and "shared" not in err
    if "not found" in expect:
        assert "found: " in err and "something.txt" in err


def test_cli_help_names_no_development_path(capsys):
    from faceinspector.cli import build_parser

    for argv in (["eval", "lfw", "-h"], ["eval", "folder", "-h"], ["train", "vae", "-h"],
                 ["train", "demo", "-h"], ["experiment", "mismatch", "-h"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
        out = capsys.readouterr().out
        assert "shared" not in out and ("FACEINSPECTOR_" in out or "LFW" in out), argv
