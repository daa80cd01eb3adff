"""``faceinspector eval folder`` and ``eval lfw --folds`` through the real CLI, in a fresh
process, on tiny LFW subsets (skipped without the development data), and the folder-pair and report
helpers of backend/evaluate.py they use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from faceinspector.backend import evaluate
from faceinspector.cli import cmd_eval
from faceinspector.backend.triplets import Pair

from ..conftest import shared_data


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, FACEINSPECTOR_DEVICE="cpu")
    return subprocess.run([sys.executable, "-m", "faceinspector", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def accuracy(stdout: str) -> float:
    return float(re.search(r"accuracy:\s+([\d.]+) %", stdout).group(1))


@pytest.fixture
def people(tmp_path):
    """4 people x 3 images copied from LFW, plus one person with a single image."""
    root = shared_data("lfw", "lfw-deepfunneled")
    dirs = [d for d in sorted(root.iterdir()) if len(list(d.glob("*.jpg"))) >= 3]
    folder = tmp_path / "people"
    for d in dirs[:4]:
        (folder / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[:3]:
            shutil.copy(f, folder / d.name / f.name)
    lone = next(d for d in sorted(root.iterdir()) if len(list(d.glob("*.jpg"))) == 1)
    (folder / lone.name).mkdir()
    shutil.copy(next(lone.glob("*.jpg")), folder / lone.name)
    return folder


def test_folder_pairs_are_balanced_and_person_disjoint(people):
    images, pairs = evaluate.folder_pairs(people, folds=2)
    assert len(images) == 12  # the lone image makes no pair
    same = [p for p in pairs if p.same]
    assert len(same) == 4 * 3 and len(pairs) == 2 * len(same)
    for p in pairs:  # both images of a pair come from the fold's people
        assert (p.a.split("/")[0] == p.b.split("/")[0]) == p.same
    folds = {}
    for p in pairs:
        for name in (p.a, p.b):
            folds.setdefault(name.split("/")[0], set()).add(p.fold)
    assert all(len(f) == 1 for f in folds.values())
    _, every = evaluate.folder_pairs(people, mode="all", folds=1)
    assert len(every) == 12 * 11 // 2 and sum(p.same for p in every) == 12
    _, capped = evaluate.folder_pairs(people, mode="all", folds=1, max_pairs=20)
    assert len(capped) == 20


def test_cli_pair_modes_match_the_backend():
    assert cmd_eval.PAIR_MODES == evaluate.PAIR_MODES


def test_pairs_report_and_folder_check():
    images = ["A/1.jpg", "A/2.jpg", "B/1.jpg", "B/2.jpg"]
    emb = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [np.nan, np.nan]], np.float32)
    pairs = [Pair("A/1.jpg", "A/2.jpg", True, 0), Pair("A/1.jpg", "B/1.jpg", False, 0),
             Pair("B/1.jpg", "B/2.jpg", True, 1), Pair("A/2.jpg", "B/1.jpg", False, 1)]
    assert evaluate.pair_images(pairs) == images
    report = evaluate.pairs_report(emb, images, pairs, "l2")
    assert report.n_pairs == 3 and report.excluded == 1 and np.isfinite(report.threshold)
    assert evaluate.check_folder_pairs(pairs, "here") == 2
    with pytest.raises(ValueError, match="here: no usable pairs"):
        evaluate.check_folder_pairs(pairs[:1], "here")
    with pytest.raises(ValueError, match="is not a folder"):
        evaluate.folder_pairs("/nonexistent/folder")


def test_eval_folder(people):
    out = run_cli("eval", "folder", str(people), "--folds", "2")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "(4 people with >= 2 images, 12 images)" in text
    assert "24 (12 same, 12 different; balanced), 2 folds by person" in text
    assert "faces found: 12/12 images" in text
    assert accuracy(text) >= 75
    assert "TAR @ FAR=0.001" in text and "AUC:" in text


def test_eval_folder_says_why_it_cannot(tmp_path):
    lone = tmp_path / "one" / "Somebody"
    lone.mkdir(parents=True)
    out = run_cli("eval", "folder", str(tmp_path / "one"))
    assert out.returncode == 2
    assert "no usable pairs" in out.stderr and "Traceback" not in out.stderr


def test_eval_lfw_folds(tmp_path):
    lfw = shared_data("lfw")
    lines = (lfw / "pairs.txt").read_text().splitlines()
    n = int(lines[0].split()[1])
    body = [ln for f in range(2) for part in (0, n) for ln in
            lines[1 + f * 2 * n + part: 1 + f * 2 * n + part + 3]]
    tiny = tmp_path / "pairs.txt"
    tiny.write_text("2\t3\n" + "\n".join(body) + "\n")
    out = run_cli("eval", "lfw", str(tiny), "--root", str(lfw / "lfw-deepfunneled"),
                  "--folds", "1")
    assert out.returncode == 0, out.stderr
    assert "(6 pairs, 1 folds" in out.stdout
    assert accuracy(out.stdout) >= 80
